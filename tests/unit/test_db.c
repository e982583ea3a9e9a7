/* lib/store: a second connection in the same process leaves the first
 * one's locks in place.  POSIX locks belong to the process and go with the
 * close of any descriptor of the file, so opening the database (or its
 * -shm) outside SQLite and closing it again would let another process
 * write while the first connection holds its write lock. */
#include "testutil.h"

#include "store/db.h"
#include "util/err.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const schema[] = {"CREATE TABLE t(v INTEGER);", NULL};

/* In a child process: 0 when it could start a write transaction at once. */
static int other_process_writes(const char *path)
{
	pid_t pid = fork();
	int st;
	if (pid == 0) {
		sqlite3 *db;
		int rc = sqlite3_open(path, &db) == SQLITE_OK &&
		                 sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
		             ? 0
		             : 1;
		sqlite3_close(db);
		_exit(rc);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
}

static void second_connection_keeps_the_first_ones_locks(void **state)
{
	char *dir = td_tmpdir(), path[512];
	sqlite3 *a, *b;
	(void)state;

	snprintf(path, sizeof(path), "%s/d.db", dir);
	assert_int_equal(db_open(path, schema, &a), 0);
	/* a writer without a competitor: the other process may write */
	assert_int_equal(other_process_writes(path), 0);
	assert_int_equal(db_exec(a, "BEGIN IMMEDIATE; INSERT INTO t VALUES (1);"), 0);
	assert_int_equal(other_process_writes(path), 1);
	assert_int_equal(db_open(path, schema, &b), 0);
	/* still locked after the second connection opened */
	assert_int_equal(other_process_writes(path), 1);
	assert_int_equal(db_exec(a, "COMMIT;"), 0);
	assert_int_equal(other_process_writes(path), 0);
	db_close(b);
	db_close(a);
	td_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(second_connection_keeps_the_first_ones_locks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
