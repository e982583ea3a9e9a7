/* journal.c — the worker's task journal (SQLite): what it took and how it
 * ended, so a restarted worker abandons a half-run task cleanly, and
 * follows a pushed one to its end.
 *
 * A task's rows go RUNNING -> PUSHING -> COMPLETED | FAILED.  PUSHING holds
 * the completion transaction as signed, written before each version of it
 * is sent (nonce, every hash it may be mined under, the newest bytes): a
 * worker that dies with pushes in flight re-sends exactly those bytes when
 * it starts again, so a result is neither lost nor sent twice. */
#include "wk.h"

#include "util/codec.h"
#include "util/err.h"
#include "util/log.h"

static const char *const journal_schema[] = {
    "CREATE TABLE tasks(taskid TEXT PRIMARY KEY, dealid TEXT NOT NULL, started INTEGER NOT NULL,"
    " status TEXT NOT NULL, detail TEXT, tx TEXT);",
    "ALTER TABLE tasks ADD COLUMN nonce INTEGER;"
    "ALTER TABLE tasks ADD COLUMN hashes TEXT;"
    "ALTER TABLE tasks ADD COLUMN raw TEXT;",
    /* a standard task's callback-data, for its COMPLETED to be reported
     * again whole (wk_journal_replay) */
    "ALTER TABLE tasks ADD COLUMN callback BLOB;",
    NULL,
};

void wk_journal(struct worker *w, const char *taskid, const char *dealid, const char *status,
                const char *detail, const char *tx)
{
	sqlite3_stmt *st;
	char text[1024];
	if (!w->db)
		return;
	/* shown again by the status page and the CLI: printable ASCII only */
	if (detail)
		detail = str_printable(text, sizeof(text), detail, SIZE_MAX);
	if (db_prepare(w->db,
	               "INSERT INTO tasks(taskid, dealid, started, status, detail, tx)"
	               " VALUES (?1, ?2, strftime('%s','now'), ?3, ?4, ?5)"
	               " ON CONFLICT(taskid) DO UPDATE SET status = ?3, detail = ?4,"
	               " tx = ?5, raw = NULL",
	               &st) < 0) {
		log_warn("worker.journal", "task=%s error=\"%s\"", taskid, err_msg());
		return;
	}
	sqlite3_bind_text(st, 1, taskid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, dealid ? dealid : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, status, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, detail, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, tx, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warn("worker.journal", "task=%s error=\"%s\"", taskid, sqlite3_errmsg(w->db));
	sqlite3_finalize(st);
}

void wk_journal_push(struct worker *w, const char *taskid, const char *digest,
                     const struct eth_txm_sent *s)
{
	sqlite3_stmt *st;
	char *hashes = malloc(s->n_hashes * 67 + 1), *raw = malloc(s->raw_len * 2 + 3), tx[67];
	if (!hashes || !raw ||
	    db_prepare(w->db,
	               "UPDATE tasks SET status = 'PUSHING', detail = ?2, tx = ?3, nonce = ?4,"
	               " hashes = ?5, raw = ?6 WHERE taskid = ?1",
	               &st) < 0) {
		log_warn("worker.journal", "task=%s error=\"cannot record the push\"", taskid);
		free(hashes);
		free(raw);
		return;
	}
	hashes[0] = 0;
	for (size_t i = 0; i < s->n_hashes; i++) {
		hex_encode_0x(tx, s->hashes[i], 32);
		strcat(hashes, i ? "," : "");
		strcat(hashes, tx);
	}
	hex_encode_0x(raw, s->raw, s->raw_len);
	sqlite3_bind_text(st, 1, taskid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, tx, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)s->nonce);
	sqlite3_bind_text(st, 5, hashes, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, raw, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warn("worker.journal", "task=%s error=\"%s\"", taskid, sqlite3_errmsg(w->db));
	sqlite3_finalize(st);
	free(hashes);
	free(raw);
}

/* A PUSHING row back into the transaction manager: its bytes re-sent if
 * the node lost them, its end reported as a push's. */
static int resume_push(struct worker *w, sqlite3_stmt *st)
{
	const char *taskid = (const char *)sqlite3_column_text(st, 0),
	           *dealid = (const char *)sqlite3_column_text(st, 1),
	           *digest = (const char *)sqlite3_column_text(st, 2),
	           *hashes = (const char *)sqlite3_column_text(st, 4),
	           *raw = (const char *)sqlite3_column_text(st, 5);
	uint8_t h[ETH_TXM_MAX_VERSIONS][32], *bytes = NULL;
	size_t n = 0, len = 0;
	int rc;

	ENSURE(taskid && dealid && digest && hashes && raw, ERR_INVAL, "a push without its bytes");
	for (const char *p = hashes; *p && n < ETH_TXM_MAX_VERSIONS; n++) {
		ENSURE(strlen(p) >= 66 && strncmp(p, "0x", 2) == 0, ERR_INVAL, "bad hash list");
		GUARD(hex_decode_exact(h[n], 32, p + 2, "hash"));
		p += 66;
		if (*p == ',')
			p++;
	}
	ENSURE(strncmp(raw, "0x", 2) == 0, ERR_INVAL, "bad raw transaction");
	GUARD(hex_decode_alloc(raw + 2, strlen(raw) - 2, &bytes, &len));
	rc = wk_push_resume(w, taskid, dealid, digest, (uint64_t)sqlite3_column_int64(st, 3),
	                    (const uint8_t(*)[32])h, n, bytes, len);
	free(bytes);
	return rc;
}

/* A task left RUNNING by an earlier run of this worker (killed, crashed,
 * power lost) is abandoned cleanly: its session was released to that run's
 * ephemeral key and cannot be released again, so the task is reported
 * FAILED at once (the scheduler claims it after its deadline).  One left
 * PUSHING had its result computed and its transaction signed: that is
 * followed to its receipt. */
void wk_journal_recover(struct worker *w)
{
	char ids[64][67];
	sqlite3_stmt *st;
	int n = 0;
	if (db_prepare(w->db,
	               "SELECT taskid, dealid, detail, nonce, hashes, raw FROM tasks"
	               " WHERE status = 'PUSHING' ORDER BY nonce",
	               &st) == 0) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *id = (const char *)sqlite3_column_text(st, 0);
			if (resume_push(w, st) < 0) {
				char why[300];
				snprintf(why, sizeof(why), "worker restarted mid-push: %s",
				         err_msg());
				log_warn("worker.task", "task=%s status=FAILED reason=\"%s\"", id,
				         why);
				snprintf(ids[0], 67, "%s", id);
				wk_report(w, ids[0], "FAILED", why, NULL);
				wk_journal(w, ids[0], NULL, "FAILED", why, NULL);
			}
		}
		sqlite3_finalize(st);
	}
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

void wk_journal_callback(struct worker *w, const char *taskid, const uint8_t *cb, size_t len)
{
	sqlite3_stmt *st;
	if (!w->db || !cb || !len ||
	    db_prepare(w->db, "UPDATE tasks SET callback = ?2 WHERE taskid = ?1", &st) < 0)
		return;
	sqlite3_bind_text(st, 1, taskid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 2, cb, (int)len, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warn("worker.journal", "task=%s error=\"%s\"", taskid, sqlite3_errmsg(w->db));
	sqlite3_finalize(st);
}

/* A task the scheduler hands again (its answer was lost, or every report
 * about it was: the scheduler's redelivery) that this worker already took is
 * not run twice: its session was released once, its result may be on
 * chain.  What the journal says of it is reported again instead; a push
 * still in flight reports itself when mined.  1 if the task was there. */
int wk_journal_replay(struct worker *w, const char *taskid)
{
	sqlite3_stmt *st;
	char status[16] = "", detail[1024] = "", tx[67] = "";
	struct task cb = {0};
	if (!w->db ||
	    db_prepare(w->db, "SELECT status, detail, tx, callback FROM tasks WHERE taskid = ?1",
	               &st) < 0)
		return 0;
	sqlite3_bind_text(st, 1, taskid, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(status, sizeof(status), "%s", (const char *)sqlite3_column_text(st, 0));
		if (sqlite3_column_text(st, 1))
			snprintf(detail, sizeof(detail), "%s", sqlite3_column_text(st, 1));
		if (sqlite3_column_text(st, 2))
			snprintf(tx, sizeof(tx), "%s", sqlite3_column_text(st, 2));
		int n = sqlite3_column_bytes(st, 3);
		if (n > 0 && n <= CALLBACK_MAX && (cb.callback = malloc((size_t)n))) {
			memcpy(cb.callback, sqlite3_column_blob(st, 3), (size_t)n);
			cb.callback_len = (size_t)n;
		}
	}
	sqlite3_finalize(st);
	if (!status[0])
		return 0;
	log_warn("worker.task", "task=%s handed_again=1 journal=%s", taskid, status);
	if (strcmp(status, "COMPLETED") == 0)
		wk_report_cb(w, taskid, "COMPLETED", detail, tx[0] ? tx : NULL, &cb);
	else if (strcmp(status, "PUSHING") == 0)
		wk_report(w, taskid, "CONTRIBUTING", "result pushed, waiting for its receipt",
		          tx[0] ? tx : NULL);
	else
		wk_report(w, taskid, "FAILED",
		          strcmp(status, "FAILED") == 0 ? detail : "taken twice: not run again",
		          NULL);
	free(cb.callback);
	return 1;
}

int wk_journal_open(struct worker *w, const char *path)
{
	return db_open(path, journal_schema, &w->db);
}
