#include "db.h"

#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

void db_rollback(sqlite3 *db)
{
	char *msg = NULL;

	if (sqlite3_get_autocommit(db))
		return; /* no transaction: BEGIN itself failed */
	if (sqlite3_exec(db, "ROLLBACK;", NULL, NULL, &msg) != SQLITE_OK)
		log_warn("db.rollback", "error=\"%s\"", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
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

/* chmod 0600 `path` when others can reach it (absent: nothing to do). */
static int make_private(const char *path, int create)
{
	struct stat sb;
	int fd, rc = 0;

	/* Already private: nothing is opened.  Closing any descriptor of a
	 * file drops every POSIX lock the process holds on it, SQLite's
	 * included, so a second connection's open would otherwise unlock the
	 * first one's database for other processes. */
	if ((create ? stat(path, &sb) : lstat(path, &sb)) == 0 && S_ISREG(sb.st_mode) &&
	    (sb.st_mode & 0777) == 0600)
		return 0;
	/* the side files are SQLite's own: a link there is not followed */
	fd = open(path,
	          O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (create ? O_CREAT : O_NOFOLLOW),
	          0600);
	if (fd < 0 && errno == ENOENT && !create)
		return 0;
	ENSURE(fd >= 0, ERR_IO, "database %s: %s", path, strerror(errno));
	ENSURE_GOTO(fstat(fd, &sb) == 0, ERR_IO, "database %s: %s", path, strerror(errno));
	ENSURE_GOTO(S_ISREG(sb.st_mode), ERR_INVAL, "database %s: not a regular file", path);
	if ((sb.st_mode & 0777) != 0600) {
		ENSURE_GOTO(fchmod(fd, 0600) == 0, ERR_IO,
		            "database %s has mode %03o and cannot be made 0600: %s", path,
		            sb.st_mode & 0777, strerror(errno));
		/* A file just created got 0600 less the umask: no news. */
		if (sb.st_mode & 077)
			log_warn("db.mode", "path=\"%s\" was=%03o now=600", path,
			         sb.st_mode & 0777);
	}
out:
	close(fd);
	return rc;
}

/* The database, its -wal and -shm (SQLite gives those the database's
 * mode), 0600 whatever the umask; too open ones left by an earlier run are
 * corrected.  ":memory:" and "" (a temporary database) have no file. */
static int private_files(const char *path)
{
	static const char *const sfx[] = {"-wal", "-shm", "-journal"};
	char p[4096];

	if (!path[0] || strcmp(path, ":memory:") == 0)
		return 0;
	GUARD(make_private(path, 1));
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		int n = snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		ENSURE(n > 0 && (size_t)n < sizeof(p), ERR_TOOBIG, "database %s: path too long",
		       path);
		GUARD(make_private(p, 0));
	}
	return 0;
}

int db_open(const char *path, const char *const *migrations, sqlite3 **out)
{
	sqlite3 *db = NULL;
	int v, n = 0, rc = 0;

	*out = NULL;
	GUARD(private_files(path));
	if (sqlite3_open_v2(path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
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
			db_rollback(db);
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
	ENSURE(i < DB_STMTS, ERR_UNSUPPORTED, "database: more than %d cached statements", DB_STMTS);
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
