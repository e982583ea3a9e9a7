/* db.h — SQLite, the one place that touches SQL: open in WAL mode with
 * foreign keys and a busy timeout, and apply schema migrations in order
 * (PRAGMA user_version counts those applied). */
#ifndef TDEXEC_STORE_DB_H
#define TDEXEC_STORE_DB_H

#include <sqlite3.h>

/* migrations: NULL-terminated array of SQL scripts; script i brings the
 * schema from version i to i+1, in one transaction. */
int db_open(const char *path, const char *const *migrations, sqlite3 **out);
void db_close(sqlite3 *db);
/* Run SQL without results; errors name the statement. */
int db_exec(sqlite3 *db, const char *sql);
/* Prepare a statement; ERR_IO with SQLite's message on failure. */
int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st);

#endif
