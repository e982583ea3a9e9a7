/* harden.c — see harden.h. */
#include "util/harden.h"

#include "util/err.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

int harden_no_dump(void)
{
	struct rlimit none = {0, 0};

	ENSURE(setrlimit(RLIMIT_CORE, &none) == 0, ERR_IO, "cannot turn core dumps off: %s",
	       strerror(errno));
	ENSURE(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, ERR_IO,
	       "cannot make the process undumpable: %s", strerror(errno));
	return 0;
}

int harden_service(void)
{
	GUARD(harden_no_dump());
	umask(077);
	return 0;
}

int harden_env_take(const char *name, char **out)
{
	char *v = getenv(name);
	size_t n;

	*out = NULL;
	if (!v)
		return 0;
	n = strlen(v);
	*out = strdup(v);
	/* Wipe and remove even when the copy failed: the secret leaves the
	 * environment either way. */
	OPENSSL_cleanse(v, n);
	unsetenv(name);
	ENSURE(*out, ERR_NOMEM, "out of memory");
	return 0;
}

void harden_env_drop(const char *name)
{
	char *v = getenv(name);

	if (v) {
		OPENSSL_cleanse(v, strlen(v));
		unsetenv(name);
	}
}
