#include "tsm.h"

#include "tdx/quote.h"
#include "tdx/sysfs.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TSM_TRIES 3

const struct tdx_tsm_ops tdx_tsm_sysfs_ops = {tdx_sysfs_exists, tdx_sysfs_mkdir, tdx_sysfs_rmdir,
                                              tdx_sysfs_read,   tdx_sysfs_write, NULL};

static int attr_path(char *out, size_t cap, const char *entry, const char *attr)
{
	int n = snprintf(out, cap, "%s/%s", entry, attr);
	ENSURE(n > 0 && (size_t)n < cap, ERR_INVAL, "configfs-tsm: path too long");
	return 0;
}

static int read_generation(const struct tdx_tsm_ops *ops, const char *entry, unsigned long *gen)
{
	char path[PATH_MAX], text[32], *end;
	size_t n;
	int e;

	GUARD(attr_path(path, sizeof(path), entry, "generation"));
	e = ops->read(ops->ctx, path, (uint8_t *)text, sizeof(text) - 1, &n);
	ENSURE(e == 0, ERR_IO, "configfs-tsm: %s: %s", path, strerror(-e));
	text[n] = '\0';
	errno = 0;
	*gen = strtoul(text, &end, 10);
	ENSURE(errno == 0 && end != text && (*end == '\n' || *end == '\0'), ERR_IO,
	       "configfs-tsm: %s: not a number", path);
	return 0;
}

static int check_provider(const struct tdx_tsm_ops *ops, const char *entry)
{
	char path[PATH_MAX], text[64];
	size_t n;
	int e;

	GUARD(attr_path(path, sizeof(path), entry, "provider"));
	e = ops->read(ops->ctx, path, (uint8_t *)text, sizeof(text) - 1, &n);
	if (e == -ENOENT)
		return 0; /* kernels before 6.7 have no provider attribute */
	ENSURE(e == 0, ERR_IO, "configfs-tsm: %s: %s", path, strerror(-e));
	text[n] = '\0';
	text[strcspn(text, "\n")] = '\0';
	ENSURE(strcmp(text, "tdx_guest") == 0, ERR_UNSUPPORTED,
	       "configfs-tsm: provider is '%s', not tdx_guest: this is not a TDX guest", text);
	return 0;
}

/* One attempt in an existing entry; ERR_BUSY when a writer raced us. */
static int attempt(const struct tdx_tsm_ops *ops, const char *entry, const uint8_t rd[64],
                   uint8_t *buf, size_t cap, size_t *len)
{
	char path[PATH_MAX];
	unsigned long g0, g1;
	int e;

	GUARD(read_generation(ops, entry, &g0));
	GUARD(attr_path(path, sizeof(path), entry, "inblob"));
	e = ops->write(ops->ctx, path, rd, 64);
	ENSURE(e == 0, ERR_IO, "configfs-tsm: %s: %s", path, strerror(-e));
	GUARD(attr_path(path, sizeof(path), entry, "outblob"));
	e = ops->read(ops->ctx, path, buf, cap, len);
	ENSURE(e == 0, ERR_IO, "configfs-tsm: %s: %s", path, strerror(-e));
	GUARD(read_generation(ops, entry, &g1));
	ENSURE(g1 == g0 + 1, ERR_BUSY,
	       "configfs-tsm: generation moved from %lu to %lu: another writer used the entry", g0,
	       g1);
	ENSURE(*len > 0, ERR_IO, "configfs-tsm: empty outblob");
	ENSURE(*len < cap, ERR_TOOBIG, "configfs-tsm: outblob over %zu bytes", cap - 1);
	return 0;
}

int tdx_tsm_quote(const char *root, const struct tdx_tsm_ops *ops, const uint8_t report_data[64],
                  uint8_t **quote, size_t *len)
{
	static unsigned counter;
	char entry[PATH_MAX];
	uint8_t *buf = NULL;
	size_t n = 0;
	int rc = 0, e, made = 0;

	if (!root)
		root = TDX_TSM_ROOT;
	if (!ops)
		ops = &tdx_tsm_sysfs_ops;
	ENSURE(ops->exists(ops->ctx, root) == 0, ERR_NOTFOUND,
	       "no TDX guest support: configfs-tsm report interface not found (%s)", root);
	for (int i = 0; i < 16 && !made; i++) {
		int k = snprintf(entry, sizeof(entry), "%s/tdexec-%ld-%u", root, (long)getpid(),
		                 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
		ENSURE(k > 0 && (size_t)k < sizeof(entry), ERR_INVAL,
		       "configfs-tsm: path too long");
		e = ops->mkdir(ops->ctx, entry);
		if (e == 0)
			made = 1;
		else if (e != -EEXIST)
			return err_set(ERR_IO, "configfs-tsm: mkdir %s: %s", entry, strerror(-e));
	}
	ENSURE(made, ERR_IO, "configfs-tsm: could not create a report entry under %s", root);

	buf = malloc(TDX_QUOTE_MAX_SIZE + 1);
	ENSURE_GOTO(buf, ERR_NOMEM, "out of memory");
	GUARD_GOTO(check_provider(ops, entry));
	for (int t = 0; t < TSM_TRIES; t++) {
		rc = attempt(ops, entry, report_data, buf, TDX_QUOTE_MAX_SIZE + 1, &n);
		if (rc != ERR_BUSY)
			break;
		log_warn("tsm.race", "entry=%s try=%d", entry, t + 1);
	}
	GUARD_GOTO(rc);
	*quote = buf;
	*len = n;
	buf = NULL;
out:
	e = ops->rmdir(ops->ctx, entry);
	if (e != 0)
		log_warn("tsm.rmdir", "entry=%s error=\"%s\"", entry, strerror(-e));
	free(buf);
	return rc;
}
