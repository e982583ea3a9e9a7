/* configfs-tsm provider logic against a fake configfs tree that models the
 * kernel's semantics: mkdir creates the attributes, writing inblob bumps
 * generation, reading outblob yields a quote over the inblob. */
#include "testutil.h"

#include "tdx/tsm.h"
#include "util/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fake {
	int present;       /* the report directory exists */
	char provider[32]; /* "" = no provider attribute (old kernels) */
	char entry[256];   /* the one live entry, "" if none */
	unsigned long gen; /* generation counter */
	uint8_t inblob[64];
	int writes;        /* inblob writes seen */
	int races;         /* extra generation bumps to inject on outblob reads */
	int outblob_errno; /* error to return on outblob reads */
	int mkdirs, rmdirs;
};

static const char *attr_of(struct fake *f, const char *path)
{
	size_t n = strlen(f->entry);
	if (!f->entry[0] || strncmp(path, f->entry, n) != 0 || path[n] != '/')
		return NULL;
	return path + n + 1;
}

static int f_exists(void *ctx, const char *path)
{
	struct fake *f = ctx;
	(void)path;
	return f->present ? 0 : -ENOENT;
}

static int f_mkdir(void *ctx, const char *path)
{
	struct fake *f = ctx;
	if (f->entry[0])
		return -EBUSY; /* the test expects one entry at a time */
	snprintf(f->entry, sizeof(f->entry), "%s", path);
	f->mkdirs++;
	return 0;
}

static int f_rmdir(void *ctx, const char *path)
{
	struct fake *f = ctx;
	if (strcmp(path, f->entry) != 0)
		return -ENOENT;
	f->entry[0] = '\0';
	f->rmdirs++;
	return 0;
}

static int f_read(void *ctx, const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	struct fake *f = ctx;
	const char *a = attr_of(f, path);
	char text[64];
	if (!a)
		return -ENOENT;
	if (strcmp(a, "generation") == 0) {
		snprintf(text, sizeof(text), "%lu\n", f->gen);
	} else if (strcmp(a, "provider") == 0) {
		if (!f->provider[0])
			return -ENOENT;
		snprintf(text, sizeof(text), "%s\n", f->provider);
	} else if (strcmp(a, "outblob") == 0) {
		if (f->outblob_errno)
			return -f->outblob_errno;
		if (f->races > 0) {
			f->races--;
			f->gen++; /* another process wrote inblob meanwhile */
		}
		/* "QUOTE" + the inblob stands in for a real quote. */
		assert_true(cap >= 69);
		memcpy(buf, "QUOTE", 5);
		memcpy(buf + 5, f->inblob, 64);
		*len = 69;
		return 0;
	} else {
		return -ENOENT;
	}
	*len = strlen(text) < cap ? strlen(text) : cap;
	memcpy(buf, text, *len);
	return 0;
}

static int f_write(void *ctx, const char *path, const uint8_t *buf, size_t len)
{
	struct fake *f = ctx;
	const char *a = attr_of(f, path);
	if (!a || strcmp(a, "inblob") != 0 || len != 64)
		return -EINVAL;
	memcpy(f->inblob, buf, 64);
	f->gen++;
	f->writes++;
	return 0;
}

static struct tdx_tsm_ops ops_for(struct fake *f)
{
	struct tdx_tsm_ops o = {f_exists, f_mkdir, f_rmdir, f_read, f_write, f};
	return o;
}

static const uint8_t rd[64] = {1, 2, 3, 4, 5, 6, 7, 8, [63] = 0xee};

static void absent_interface_says_no_tdx_guest(void **state)
{
	struct fake f = {0};
	struct tdx_tsm_ops o = ops_for(&f);
	uint8_t *q;
	size_t n;
	(void)state;
	assert_int_equal(tdx_tsm_quote("/fake/tsm/report", &o, rd, &q, &n), ERR_NOTFOUND);
	assert_non_null(strstr(err_msg(), "no TDX guest support: configfs-tsm report interface "
	                                  "not found"));
	assert_int_equal(f.mkdirs, 0);
	/* The real path on this (non-TDX) machine answers the same. */
	assert_int_equal(tdx_tsm_quote("/nonexistent/tsm/report", NULL, rd, &q, &n), ERR_NOTFOUND);
}

static void quote_carries_inblob_and_entry_is_removed(void **state)
{
	struct fake f = {.present = 1, .provider = "tdx_guest", .gen = 7};
	struct tdx_tsm_ops o = ops_for(&f);
	uint8_t *q;
	size_t n;
	(void)state;
	assert_int_equal(tdx_tsm_quote("/fake", &o, rd, &q, &n), 0);
	assert_int_equal(n, 69);
	assert_memory_equal(q, "QUOTE", 5);
	assert_memory_equal(q + 5, rd, 64);
	assert_int_equal(f.writes, 1);
	assert_int_equal(f.mkdirs, 1);
	assert_int_equal(f.rmdirs, 1);
	assert_string_equal(f.entry, "");
	free(q);
	/* Kernels without a provider attribute work too. */
	f.provider[0] = '\0';
	assert_int_equal(tdx_tsm_quote("/fake", &o, rd, &q, &n), 0);
	free(q);
}

static void a_concurrent_writer_is_detected_and_retried(void **state)
{
	struct fake f = {.present = 1, .provider = "tdx_guest", .races = 1};
	struct tdx_tsm_ops o = ops_for(&f);
	uint8_t *q;
	size_t n;
	(void)state;
	assert_int_equal(tdx_tsm_quote("/fake", &o, rd, &q, &n), 0);
	assert_int_equal(f.writes, 2); /* the first quote was thrown away */
	assert_int_equal(f.rmdirs, 1);
	free(q);

	f.races = 100; /* a writer that never stops */
	f.writes = 0;
	assert_int_equal(tdx_tsm_quote("/fake", &o, rd, &q, &n), ERR_BUSY);
	assert_non_null(strstr(err_msg(), "another writer"));
	assert_int_equal(f.writes, 3);
	assert_string_equal(f.entry, "");
}

static void wrong_provider_and_io_errors_clean_up(void **state)
{
	struct fake f = {.present = 1, .provider = "sev_guest"};
	struct tdx_tsm_ops o = ops_for(&f);
	uint8_t *q;
	size_t n;
	(void)state;
	assert_int_equal(tdx_tsm_quote("/fake", &o, rd, &q, &n), ERR_UNSUPPORTED);
	assert_non_null(strstr(err_msg(), "'sev_guest', not tdx_guest"));
	assert_string_equal(f.entry, "");
	assert_int_equal(f.writes, 0);

	snprintf(f.provider, sizeof(f.provider), "tdx_guest");
	f.outblob_errno = EIO;
	assert_int_equal(tdx_tsm_quote("/fake", &o, rd, &q, &n), ERR_IO);
	assert_non_null(strstr(err_msg(), "outblob"));
	assert_string_equal(f.entry, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(absent_interface_says_no_tdx_guest),
	    cmocka_unit_test(quote_carries_inblob_and_entry_is_removed),
	    cmocka_unit_test(a_concurrent_writer_is_detected_and_retried),
	    cmocka_unit_test(wrong_provider_and_io_errors_clean_up),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
