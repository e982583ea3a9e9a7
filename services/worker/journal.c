/* journal.c — the worker's task journal (SQLite): what it took and how it
 * ended, so a restarted worker abandons a half-run task cleanly. */
#include "wk.h"

#include "util/log.h"

static const char *const journal_schema[] = {
    "CREATE TABLE tasks(taskid TEXT PRIMARY KEY, dealid TEXT NOT NULL, started INTEGER NOT NULL,"
    " status TEXT NOT NULL, detail TEXT, tx TEXT);",
    NULL,
};

void wk_journal(struct worker *w, const char *taskid, const char *dealid, const char *status,
                const char *detail, const char *tx)
{
	sqlite3_stmt *st;
	if (!w->db ||
	    db_prepare(w->db,
	               "INSERT INTO tasks VALUES (?1, ?2, strftime('%s','now'), ?3, ?4, ?5)"
	               " ON CONFLICT(taskid) DO UPDATE SET status = ?3, detail = ?4,"
	               " tx = ?5",
	               &st) < 0)
		return;
	sqlite3_bind_text(st, 1, taskid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, dealid ? dealid : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, status, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, detail, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, tx, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warn("worker.journal", "task=%s error=\"%s\"", taskid, sqlite3_errmsg(w->db));
	sqlite3_finalize(st);
}

/* A task left RUNNING by an earlier run of this worker (killed, crashed,
 * power lost) is abandoned cleanly: its session was released to that run's
 * ephemeral key and cannot be released again, so the task is reported
 * FAILED at once (the scheduler claims it after its deadline). */
void wk_journal_recover(struct worker *w)
{
	char ids[64][67];
	sqlite3_stmt *st;
	int n = 0;
	if (db_prepare(w->db, "SELECT taskid FROM tasks WHERE status = 'RUNNING' LIMIT 64", &st) <
	    0)
		return;
	while (n < 64 && sqlite3_step(st) == SQLITE_ROW)
		snprintf(ids[n++], 67, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	for (int i = 0; i < n; i++) {
		const char *why = "worker restarted mid-task: the session is released once";
		log_warn("worker.task", "task=%s status=FAILED reason=\"%s\"", ids[i], why);
		wk_report(w, ids[i], "FAILED", why, NULL);
		wk_journal(w, ids[i], NULL, "FAILED", why, NULL);
	}
}

int wk_journal_open(struct worker *w, const char *path)
{
	return db_open(path, journal_schema, &w->db);
}
