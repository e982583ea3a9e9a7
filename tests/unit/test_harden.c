/* Process hardening: children get a scrubbed environment, secrets leave
 * the environment block, databases are 0600 whatever the umask, and a
 * hardened process is undumpable with no core limit. */
#include "testutil.h"

#include "store/db.h"
#include "util/err.h"
#include "util/file.h"
#include "util/harden.h"
#include "util/proc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* Set by CTest in the environment the test starts with. */
#define ENV_SECRET "TDEXEC_TEST_SECRET"

/* /proc/self/environ as one buffer, NULs turned into newlines. */
static char *self_environ(void)
{
	uint8_t *buf;
	size_t len;
	assert_int_equal(file_read("/proc/self/environ", 1 << 20, &buf, &len), 0);
	for (size_t i = 0; i < len; i++)
		if (!buf[i])
			buf[i] = '\n';
	return (char *)buf;
}

static mode_t mode_of(const char *path)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 0777;
}

static void children_get_a_minimal_environment(void **state)
{
	char *dir = td_tmpdir(), log[512];
	char *argv[] = {"/usr/bin/env", NULL};
	uint8_t *out;
	size_t len;
	(void)state;
	snprintf(log, sizeof(log), "%s/env.txt", dir);
	assert_int_equal(setenv("TDEXEC_WALLET_PASSWORD", "pw-not-for-children", 1), 0);
	assert_int_equal(setenv("AWS_SECRET_ACCESS_KEY", "aws-not-for-children", 1), 0);
	assert_int_equal(setenv("LD_PRELOAD", "", 1), 0);
	assert_int_equal(setenv("HOME", "/home/worker", 1), 0);
	assert_int_equal(setenv("REGISTRY_AUTH_FILE", "/etc/tdexec/auth.json", 1), 0);
	assert_int_equal(proc_run(argv, NULL, log), 0);
	assert_int_equal(file_read(log, 1 << 16, &out, &len), 0);
	assert_null(strstr((char *)out, "not-for-children"));
	assert_null(strstr((char *)out, "LD_PRELOAD"));
	assert_null(strstr((char *)out, ENV_SECRET));
	assert_non_null(strstr((char *)out, PROC_PATH "\n"));
	assert_non_null(strstr((char *)out, "\nLANG=C\n"));
	assert_non_null(strstr((char *)out, "\nHOME=/home/worker\n"));
	assert_non_null(strstr((char *)out, "\nREGISTRY_AUTH_FILE=/etc/tdexec/auth.json\n"));
	assert_int_equal(mode_of(log), 0600);
	free(out);
	unsetenv("TDEXEC_WALLET_PASSWORD");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("LD_PRELOAD");
	unsetenv("REGISTRY_AUTH_FILE");
	td_rmtree(dir);
	free(dir);
}

static void a_taken_secret_leaves_proc_environ(void **state)
{
	char *v, *before, *after;
	(void)state;
	/* The block the process started with: what /proc/PID/environ shows. */
	if (!getenv(ENV_SECRET))
		skip();
	before = self_environ();
	assert_non_null(strstr(before, ENV_SECRET "=hunter2"));
	assert_int_equal(harden_env_take(ENV_SECRET, &v), 0);
	assert_string_equal(v, "hunter2-from-the-environment");
	assert_null(getenv(ENV_SECRET));
	after = self_environ();
	assert_null(strstr(after, "hunter2"));
	free(v);
	free(before);
	free(after);
	/* Unset: NULL, no error. */
	assert_int_equal(harden_env_take(ENV_SECRET, &v), 0);
	assert_null(v);
	harden_env_drop(ENV_SECRET);
}

static void a_dropped_variable_is_gone(void **state)
{
	char *v;
	(void)state;
	assert_int_equal(setenv("TDEXEC_TEST_DROP", "x", 1), 0);
	harden_env_drop("TDEXEC_TEST_DROP");
	assert_null(getenv("TDEXEC_TEST_DROP"));
	assert_int_equal(harden_env_take("TDEXEC_TEST_DROP", &v), 0);
	assert_null(v);
}

static void databases_are_0600_whatever_the_umask(void **state)
{
	static const char *const v1[] = {"CREATE TABLE t(a TEXT);", NULL};
	char *dir = td_tmpdir(), path[512], side[600];
	mode_t old = umask(0);
	sqlite3 *db;
	int fd;
	(void)state;
	/* A new database, its -wal and -shm. */
	snprintf(path, sizeof(path), "%s/new.db", dir);
	assert_int_equal(db_open(path, v1, &db), 0);
	assert_int_equal(db_exec(db, "INSERT INTO t(a) VALUES('x');"), 0);
	assert_int_equal(mode_of(path), 0600);
	snprintf(side, sizeof(side), "%s-wal", path);
	assert_int_equal(mode_of(side), 0600);
	snprintf(side, sizeof(side), "%s-shm", path);
	assert_int_equal(mode_of(side), 0600);
	db_close(db);
	/* An existing one readable by all, with a -wal as open. */
	snprintf(path, sizeof(path), "%s/old.db", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	snprintf(side, sizeof(side), "%s-wal", path);
	fd = open(side, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(db_open(path, v1, &db), 0);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(mode_of(side), 0600);
	db_close(db);
	umask(old);
	td_rmtree(dir);
	free(dir);
}

/* Last: it changes the process for good. */
static void a_hardened_service_is_undumpable(void **state)
{
	struct rlimit rl;
	mode_t m;
	(void)state;
	assert_int_equal(harden_service(), 0);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
	assert_int_equal(rl.rlim_max, 0);
	m = umask(077);
	assert_int_equal(m, 077);
	/* Its own /proc entries stay readable to itself. */
	free(self_environ());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(children_get_a_minimal_environment),
	    cmocka_unit_test(a_taken_secret_leaves_proc_environ),
	    cmocka_unit_test(a_dropped_variable_is_gone),
	    cmocka_unit_test(databases_are_0600_whatever_the_umask),
	    cmocka_unit_test(a_hardened_service_is_undumpable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
