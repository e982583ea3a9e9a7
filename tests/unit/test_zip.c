/* The zip central directory reader on archives made by Info-ZIP's zip (as
 * the worker makes results), truncated and altered ones, and entry names as
 * a table. */
#include "testutil.h"

#include "util/err.h"
#include "util/file.h"
#include "util/zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
	const char *name;
	int safe;
} names[] = {
    {"result.txt", 1}, {"computed.json", 1}, {"sub/", 1},    {"sub/f", 1}, {"a/b/c.txt", 1},
    {"..x", 1},        {"x..", 1},           {".hidden", 1}, {"", 0},      {"/etc/passwd", 0},
    {"../x", 0},       {"a/../../x", 0},     {"a/..", 0},    {"..", 0},    {"./x", 0},
    {"a//b", 0},       {"a\\..\\x", 0},      {"C:\\x", 0},   {"/", 0},     {"a/./b", 0},
};

static void names_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (zip_name_safe(names[i].name) != names[i].safe)
			fail_msg("'%s': safe=%d, want %d", names[i].name, !names[i].safe,
			         names[i].safe);
}

/* An archive made by zip(1) in a scratch directory: its bytes. */
static uint8_t *make_zip(const char *dir, const char *cmd, size_t *len)
{
	char line[1024], path[512];
	uint8_t *buf = NULL;
	snprintf(line, sizeof(line),
	         "cd %s && mkdir -p out/sub && echo Lyon > out/result.txt && echo x > out/sub/f"
	         " && ln -sf /etc/passwd out/link && cd out && rm -f ../a.zip && %s",
	         dir, cmd);
	assert_int_equal(system(line), 0);
	snprintf(path, sizeof(path), "%s/a.zip", dir);
	assert_int_equal(file_read(path, 1 << 20, &buf, len), 0);
	return buf;
}

static void lists_real_archives(void **state)
{
	char *dir = td_tmpdir();
	struct zip_entry *e = NULL;
	size_t len, n;
	uint8_t *z;
	(void)state;

	z = make_zip(dir, "zip -q -r -X ../a.zip result.txt sub", &len);
	assert_int_equal(zip_list(z, len, 100, &e, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(e[0].name, "result.txt");
	assert_true(S_ISREG(e[0].mode));
	assert_int_equal(e[0].size, 5);
	assert_string_equal(e[1].name, "sub/");
	assert_true(S_ISDIR(e[1].mode));
	assert_string_equal(e[2].name, "sub/f");
	free(e);
	/* too many entries */
	assert_int_equal(zip_list(z, len, 2, &e, &n), ERR_TOOBIG);
	/* every truncation is refused, never read past */
	for (size_t cut = 0; cut < len; cut++)
		assert_true(zip_list(z, cut, 100, &e, &n) < 0);
	/* an end record pointing outside the archive */
	z[len - 6] = 0xff;
	assert_int_equal(zip_list(z, len, 100, &e, &n), ERR_INVAL);
	free(z);

	/* a symbolic link, stored as one (zip -y) */
	z = make_zip(dir, "zip -q -y -X ../a.zip link", &len);
	assert_int_equal(zip_list(z, len, 100, &e, &n), 0);
	assert_int_equal(n, 1);
	assert_true(S_ISLNK(e[0].mode));
	free(e);
	free(z);
	td_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(names_table),
	    cmocka_unit_test(lists_real_archives),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
