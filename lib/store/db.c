#include "db.h"

#include "util/err.h"

#include <stdio.h>
#include <string.h>

static int fail(sqlite3 *db, const char *what)
{
	return err_set(ERR_IO, "database: %s: %s", what, db ? sqlite3_errmsg(db) : "cannot open");
}

int db_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = err_set(ERR_IO, "database: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return rc;
	}
	return 0;
}

int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return fail(db, "prepare");
	return 0;
}

static int user_version(sqlite3 *db, int *v)
{
	sqlite3_stmt *st;
	GUARD(db_prepare(db, "PRAGMA user_version", &st));
	*v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return 0;
}

int db_open(const char *path, const char *const *migrations, sqlite3 **out)
{
	sqlite3 *db = NULL;
	int v, n = 0, rc = 0;

	*out = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					       SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		rc = fail(db, path);
		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, 5000);
	/* WAL: readers never block the writer; synchronous=FULL: an
	 * acknowledged write survives a crash or power loss. */
	GUARD_GOTO(db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
			       "PRAGMA foreign_keys=ON;"));
	GUARD_GOTO(user_version(db, &v));
	while (migrations && migrations[n])
		n++;
	ENSURE_GOTO(v <= n, ERR_UNSUPPORTED,
		    "database %s: schema version %d is newer than this program's %d", path, v, n);
	for (int i = v; i < n; i++) {
		char bump[64];
		snprintf(bump, sizeof(bump), "PRAGMA user_version=%d;", i + 1);
		GUARD_GOTO(db_exec(db, "BEGIN IMMEDIATE;"));
		rc = db_exec(db, migrations[i]);
		if (rc == 0)
			rc = db_exec(db, bump);
		if (rc == 0)
			rc = db_exec(db, "COMMIT;");
		if (rc < 0) {
			db_exec(db, "ROLLBACK;");
			err_wrap(rc, "migration %d", i + 1);
			goto out;
		}
	}
	*out = db;
	db = NULL;
out:
	sqlite3_close(db);
	return rc;
}

void db_close(sqlite3 *db)
{
	sqlite3_close(db);
}

int db_stmt(sqlite3 *db, struct db_stmts *c, const char *sql, sqlite3_stmt **st)
{
	size_t i;
	for (i = 0; i < DB_STMTS && c->sql[i]; i++)
		if (c->sql[i] == sql) {
			*st = c->st[i];
			return 0;
		}
	ENSURE(i < DB_STMTS, ERR_UNSUPPORTED, "database: more than %d cached statements",
	       DB_STMTS);
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL) !=
	    SQLITE_OK)
		return err_set(ERR_IO, "database: %s (%.60s)", sqlite3_errmsg(db), sql);
	c->sql[i] = sql;
	*st = c->st[i];
	return 0;
}

void db_stmt_done(sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

void db_stmts_free(struct db_stmts *c)
{
	for (size_t i = 0; i < DB_STMTS; i++)
		sqlite3_finalize(c->st[i]);
	memset(c, 0, sizeof(*c));
}
