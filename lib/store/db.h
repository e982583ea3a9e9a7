/* db.h — SQLite, the one place that touches SQL: open in WAL mode with
 * foreign keys and a busy timeout, and apply schema migrations in order
 * (PRAGMA user_version counts those applied). */
#ifndef TDEXEC_STORE_DB_H
#define TDEXEC_STORE_DB_H

#include <sqlite3.h>
#include "util/err.h"

/* migrations: NULL-terminated array of SQL scripts; script i brings the
 * schema from version i to i+1, in one transaction.  The database file is
 * created 0600 whatever the umask, and SQLite gives its -wal and -shm the
 * same mode; an existing file, -wal, -shm or -journal that others can
 * read is made 0600 (logged as db.mode), or the open fails with ERR_IO. */
MUST_CHECK int db_open(const char *path, const char *const *migrations, sqlite3 **out);
void db_close(sqlite3 *db);
/* Run SQL without results; errors name the statement. */
MUST_CHECK int db_exec(sqlite3 *db, const char *sql);
/* ROLLBACK an open transaction on a failure path, keeping the thread's
 * error message (the failure being reported); a ROLLBACK that fails is
 * logged, and SQLite rolls the transaction back when the connection closes. */
void db_rollback(sqlite3 *db);
/* Prepare a statement; ERR_IO with SQLite's message on failure. */
MUST_CHECK int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st);

/* A connection's prepared statements, kept for reuse: SQL is parsed once.
 * The connection's user serializes their use, as for the connection. */
#define DB_STMTS 24
struct db_stmts {
	const char *sql[DB_STMTS];
	sqlite3_stmt *st[DB_STMTS];
};
/* The statement for `sql` (a string literal: found by address), prepared
 * on first use; hand it back with db_stmt_done(), never finalize it. */
MUST_CHECK int db_stmt(sqlite3 *db, struct db_stmts *c, const char *sql, sqlite3_stmt **st);
void db_stmt_done(sqlite3_stmt *st);
void db_stmts_free(struct db_stmts *c);

#endif
