/* test_result.c — the app's output as the worker reads it (result_collect)
 * and a result archive as a requester or the scheduler reads it
 * (result_archive_read): the same digest, links and special files refused,
 * hostile archives refused, bombs stopped by what is read. */
#include "../../services/worker/result.h"
#include "../../services/worker/worker.h"
#include "crypto/keccak.h"
#include "testutil.h"
#include "util/err.h"
#include "util/file.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct result_limits lim = RESULT_DEFAULT_LIMITS;

static void put(const char *dir, const char *rel, const char *text)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(file_write(p, text, strlen(text), 0644), 0);
}

/* A zip of (name, type, content) entries written with libarchive. */
struct zent {
	const char *name;
	mode_t type;
	const char *body; /* file content, or link target */
	size_t zeros;     /* for files: this many zero bytes instead of body */
};

static void make_zip(const char *path, const struct zent *e, size_t n)
{
	struct archive *a = archive_write_new();
	static char zero[1 << 16];
	assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		size_t len = e[i].zeros ? e[i].zeros : e[i].body ? strlen(e[i].body) : 0;
		archive_entry_set_pathname(ae, e[i].name);
		archive_entry_set_filetype(ae, e[i].type);
		archive_entry_set_perm(ae, 0644);
		if (e[i].type == AE_IFLNK)
			archive_entry_set_symlink(ae, e[i].body);
		else if (e[i].type == AE_IFREG)
			archive_entry_set_size(ae, (la_int64_t)len);
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		if (e[i].type == AE_IFREG && e[i].zeros)
			for (size_t left = len; left;) {
				size_t k = left < sizeof(zero) ? left : sizeof(zero);
				assert_int_equal(archive_write_data(a, zero, k), (la_ssize_t)k);
				left -= k;
			}
		else if (e[i].type == AE_IFREG && len)
			assert_int_equal(archive_write_data(a, e[i].body, len), (la_ssize_t)len);
		archive_entry_free(ae);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void expect_err(int rc, int code, const char *part)
{
	assert_int_equal(rc, code);
	if (!strstr(err_msg(), part))
		fail_msg("error '%s' lacks '%s'", err_msg(), part);
}

/* The digest of a directory and of the archive the worker makes of it are
 * the same, for the whole output and for a file or a folder inside it;
 * what is unpacked from the archive digests the same again. */
static void collect_and_archive_agree(void **state)
{
	char *d = td_tmpdir(), out[1024], zip[2200], un[2200];
	uint8_t a[32], b[32], c[32];
	static const char *const dops[] = {"", "sub", "b.txt"};
	(void)state;

	snprintf(out, sizeof(out), "%s/out", d);
	snprintf(un, sizeof(un), "%s/unpacked", d);
	assert_int_equal(dir_create(out, 0755), 0);
	assert_int_equal(dir_create(un, 0755), 0);
	put(out, "computed.json", "{\"deterministic-output-path\":\"/iexec_out\"}");
	put(out, "b.txt", "bee");
	put(out, "a.txt", "ay");
	snprintf(zip, sizeof(zip), "%s/sub", out);
	assert_int_equal(dir_create(zip, 0755), 0);
	put(out, "sub/x", "ex");
	for (size_t i = 0; i < 3; i++) {
		char cj[128];
		snprintf(zip, sizeof(zip), "%s/r%zu.zip", d, i);
		snprintf(cj, sizeof(cj), "{\"deterministic-output-path\":\"/iexec_out/%s\"}",
		         dops[i]);
		unlink(strcat(strcpy(un, out), "/computed.json"));
		put(out, "computed.json", cj);
		int rc = result_collect(out, dops[i], &lim, zip, a);
		if (i == 0) { /* a folder inside the folder digested: refused */
			expect_err(rc, ERR_INVAL, "/iexec_out/sub is a directory");
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(result_archive_read(zip, NULL, &lim, 0, b), 0);
		assert_memory_equal(a, b, 32);
		snprintf(un, sizeof(un), "%s/u%zu", d, i);
		assert_int_equal(dir_create(un, 0700), 0);
		assert_int_equal(result_archive_read(zip, un, &lim, 0, c), 0);
		assert_memory_equal(a, c, 32);
		/* as a requester recomputes it from what was unpacked */
		char dp[2400];
		snprintf(dp, sizeof(dp), "%s/%s", un, dops[i]);
		assert_int_equal(worker_result_digest(dp, c), 0);
		assert_memory_equal(a, c, 32);
	}
	/* a file's digest is its SHA-256 */
	assert_int_equal(file_sha256(strcat(strcpy(un, out), "/b.txt"), 0, b), 0);
	assert_int_equal(result_collect(out, "b.txt", &lim, NULL, a), 0);
	assert_memory_equal(a, b, 32);
	td_rmtree(d);
	free(d);
}

/* Links, FIFOs and a missing output path in /iexec_out fail with names. */
static void collect_refuses_links_and_fifos(void **state)
{
	char *d = td_tmpdir(), p[1024];
	uint8_t h[32];
	(void)state;

	put(d, "ok.txt", "fine");
	snprintf(p, sizeof(p), "%s/leak", d);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	expect_err(result_collect(d, "", &lim, NULL, h), ERR_INVAL,
	           "/iexec_out/leak is a symbolic link");
	unlink(p);
	assert_int_equal(mkfifo(p, 0644), 0);
	expect_err(result_collect(d, "", &lim, NULL, h), ERR_INVAL, "/iexec_out/leak is a FIFO");
	uint8_t *buf;
	size_t len;
	expect_err(result_read_file(d, "leak", 100, &buf, &len), ERR_INVAL, "leak is a FIFO");
	unlink(p);
	expect_err(result_collect(d, "nope", &lim, NULL, h), ERR_NOTFOUND, "does not exist");
	char rel[64];
	expect_err(result_dop_relative("/iexec_out/../w1", rel, sizeof(rel)), ERR_INVAL, "'..'");
	expect_err(result_dop_relative("/iexec_outside", rel, sizeof(rel)), ERR_INVAL,
	           "must be /iexec_out");
	assert_int_equal(result_dop_relative("/iexec_out//a/./", rel, sizeof(rel)), ERR_INVAL);
	assert_int_equal(result_dop_relative("/iexec_out//a/b/", rel, sizeof(rel)), 0);
	assert_string_equal(rel, "a/b");
	td_rmtree(d);
	free(d);
}

/* Hostile archives: each refused for its own reason, nothing written. */
static void archive_refusals(void **state)
{
	char *d = td_tmpdir(), zip[2200], un[1100];
	uint8_t h[32];
	static const char cj[] = "{\"deterministic-output-path\":\"/iexec_out\"}";
	const struct {
		struct zent e[3];
		size_t n;
		int code;
		const char *why;
	} cases[] = {
	    {{{"computed.json", AE_IFREG, cj, 0}, {"../escape", AE_IFREG, "x", 0}},
	     2,
	     ERR_VERIFY,
	     "would leave its directory"},
	    {{{"computed.json", AE_IFREG, cj, 0}, {"/etc/x", AE_IFREG, "x", 0}},
	     2,
	     ERR_VERIFY,
	     "not a relative name"},
	    {{{"computed.json", AE_IFREG, cj, 0}, {"link", AE_IFLNK, "/etc/passwd", 0}},
	     2,
	     ERR_VERIFY,
	     "not a regular file or directory"},
	    {{{"computed.json", AE_IFREG, cj, 0},
	      {"a", AE_IFREG, "x", 0},
	      {"a/b", AE_IFREG, "y", 0}},
	     3,
	     ERR_VERIFY,
	     "both a file and a directory"},
	    {{{"computed.json", AE_IFREG, cj, 0}, {"a", AE_IFREG, "x", 0}, {"a", AE_IFREG, "y", 0}},
	     3,
	     ERR_VERIFY,
	     "there twice"},
	    {{{"r.txt", AE_IFREG, "x", 0}}, 1, ERR_VERIFY, "no computed.json"},
	    /* a bomb: 96 MiB of zeros in a few hundred KiB, read against 8 MiB */
	    {{{"computed.json", AE_IFREG, cj, 0}, {"bomb", AE_IFREG, NULL, 96u << 20}},
	     2,
	     ERR_TOOBIG,
	     "over 8388608 bytes unpacked"},
	};
	const struct result_limits small = {8u << 20, 100, 0};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct stat st;
		snprintf(zip, sizeof(zip), "%s/c%zu.zip", d, i);
		snprintf(un, sizeof(un), "%s/u%zu", d, i);
		make_zip(zip, cases[i].e, cases[i].n);
		assert_int_equal(dir_create(un, 0700), 0);
		expect_err(result_archive_read(zip, NULL, &small, 0, h), cases[i].code,
		           cases[i].why);
		result_archive_read(zip, un, &small, 0, h);
		/* whatever was unpacked stayed inside, and no bomb landed */
		snprintf(zip, sizeof(zip), "%s/escape", d);
		assert_int_equal(lstat(zip, &st), -1);
		snprintf(zip, sizeof(zip), "%s/bomb", un);
		assert_true(lstat(zip, &st) != 0 || st.st_size <= (off_t)(8u << 20) + (1 << 16));
	}
	/* the callback digest comes from computed.json */
	struct zent cb[] = {
	    {"computed.json", AE_IFREG,
	     "{\"deterministic-output-path\":\"/iexec_out\",\"callback-data\":\"0x0102\"}", 0}};
	uint8_t want[32], two[2] = {1, 2};
	keccak256(two, 2, want);
	snprintf(zip, sizeof(zip), "%s/cb.zip", d);
	make_zip(zip, cb, 1);
	assert_int_equal(result_archive_read(zip, NULL, &lim, 1, h), 0);
	assert_memory_equal(h, want, 32);
	td_rmtree(d);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(collect_and_archive_agree),
	    cmocka_unit_test(collect_refuses_links_and_fifos),
	    cmocka_unit_test(archive_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
