#include "testutil.h"

#include "util/err.h"
#include "util/file.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint8_t *td_read(const char *rel, size_t *len)
{
	char path[4096];
	uint8_t *buf = NULL;
	snprintf(path, sizeof(path), "%s/%s", TEST_DATA, rel);
	if (file_read(path, 1 << 24, &buf, len) < 0)
		fail_msg("%s", err_msg());
	return buf;
}

char *td_tmpdir(void)
{
	char tmpl[] = "/tmp/tdexec-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

void td_rmtree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
