/* db.c — the scheduler's database: its schema migrations and the small
 * SQL helpers the other parts share (each called with s->mu held). */
#include "internal.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "net/http.h"
#include "net/server.h"
#include "poco/deploy.h"
#include "poco/market.h"
#include "proto/proto.h"
#include "store/db.h"
#include "tdx/gate.h"
#include "tdx/ratls.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *const sched_migrations[] = {
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE deals(dealid TEXT PRIMARY KEY, app TEXT NOT NULL, dataset TEXT NOT NULL,"
    " category INTEGER NOT NULL, tag TEXT NOT NULL, params TEXT NOT NULL,"
    " beneficiary TEXT NOT NULL, requester TEXT NOT NULL, bot_first INTEGER NOT NULL,"
    " bot_size INTEGER NOT NULL, deadline INTEGER NOT NULL, block INTEGER NOT NULL,"
    " boost INTEGER NOT NULL, trust INTEGER NOT NULL);"
    "CREATE TABLE tasks(taskid TEXT PRIMARY KEY, dealid TEXT NOT NULL REFERENCES deals,"
    " idx INTEGER NOT NULL, status TEXT NOT NULL, enclave TEXT, worker TEXT,"
    " assigned INTEGER, updated INTEGER NOT NULL, detail TEXT, tx TEXT, results TEXT,"
    " claim_tx TEXT);"
    "CREATE INDEX tasks_status ON tasks(status, updated);"
    "CREATE TABLE workers(address TEXT PRIMARY KEY, token TEXT NOT NULL,"
    " registered INTEGER NOT NULL, last_seen INTEGER NOT NULL, quote_sha256 TEXT NOT NULL,"
    " tcb_status TEXT NOT NULL, simulated INTEGER NOT NULL);"
    "CREATE TABLE results(taskid TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL,"
    " uploaded INTEGER NOT NULL);"
    /* replicated standard tasks: one row per worker holding the task */
    "CREATE TABLE replicates(taskid TEXT NOT NULL, worker TEXT NOT NULL, status TEXT NOT NULL,"
    " updated INTEGER NOT NULL, PRIMARY KEY(taskid, worker));",
    MARKET_MIGRATION,
    /* a replicate's callback-data, for finalizing a callback task */
    "ALTER TABLE replicates ADD COLUMN callback TEXT;",
    /* a replicated task's uploads, one per replicate; the one served (a
     * row of results) is chosen among the revealed ones at finalization */
    "CREATE TABLE uploads(taskid TEXT NOT NULL, worker TEXT NOT NULL, sha256 TEXT NOT NULL,"
    " size INTEGER NOT NULL, uploaded INTEGER NOT NULL, PRIMARY KEY(taskid, worker));"
    "CREATE INDEX uploads_sha256 ON uploads(sha256);"
    "CREATE INDEX results_sha256 ON results(sha256);",
    MARKET_MIGRATION_SIGNER,
    /* a TEE task's workers so far (space-separated), and the one declared
     * lost last, whose successor gets the pool owner's reassignment */
    "ALTER TABLE tasks ADD COLUMN held_by TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE tasks ADD COLUMN lost_worker TEXT;",
    MARKET_MIGRATION_UNFUNDED,
    /* the hashes of the last blocks the follower read up to (follow.c), to
     * notice a reorganisation; a task of a deal it removed keeps the status
     * it had, for when the deal comes back */
    "CREATE TABLE blocks(number INTEGER PRIMARY KEY, hash TEXT NOT NULL);"
    "ALTER TABLE tasks ADD COLUMN reorged_from TEXT;",
    /* the app's stderr tail, when its deal asked (iexec_developer_logger),
     * served to the requester alone */
    "ALTER TABLE tasks ADD COLUMN logs TEXT;",
    /* what the operator sees (admin.c): the MRTD a worker registered with;
     * the app's own run time a worker reports with COMPUTED, to tell the
     * pool's overhead from the app's time; and each task's status changes,
     * in milliseconds, written by triggers in the transaction of the change
     * itself, so no code path can change a status without its event */
    "ALTER TABLE workers ADD COLUMN mrtd TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE tasks ADD COLUMN app_ms INTEGER;"
    "CREATE TABLE task_events(taskid TEXT NOT NULL, status TEXT NOT NULL,"
    " at_ms INTEGER NOT NULL, worker TEXT, detail TEXT);"
    "CREATE INDEX task_events_task ON task_events(taskid, at_ms);"
    "CREATE INDEX task_events_status ON task_events(status, at_ms);"
    "CREATE INDEX tasks_worker ON tasks(worker, status);"
    "CREATE TRIGGER task_events_insert AFTER INSERT ON tasks BEGIN"
    " INSERT INTO task_events VALUES (NEW.taskid, NEW.status, " NOW_MS ", NEW.worker,"
    " NEW.detail); END;"
    "CREATE TRIGGER task_events_update AFTER UPDATE OF status ON tasks"
    " WHEN NEW.status IS NOT OLD.status BEGIN"
    " INSERT INTO task_events VALUES (NEW.taskid, NEW.status, " NOW_MS ", NEW.worker,"
    " NEW.detail); END;"
    /* a task the chain took back (a reorganisation) takes its timeline along */
    "CREATE TRIGGER task_events_delete AFTER DELETE ON tasks BEGIN"
    " DELETE FROM task_events WHERE taskid = OLD.taskid; END;"
    /* the tasks already there start their timeline now */
    "INSERT INTO task_events SELECT taskid, status, updated * 1000, worker, detail FROM tasks;",
    /* earnings.c: what the escrow paid the pool owner and each worker since
     * since_block (sums of its events, decimal nRLC), their account as read
     * at account_block (dirty: an event changed it since); the events of
     * the last blocks one by one, for a reorganisation to take back */
    "CREATE TABLE earnings(address TEXT PRIMARY KEY, since_block INTEGER NOT NULL,"
    " rewards TEXT NOT NULL DEFAULT '0', seized TEXT NOT NULL DEFAULT '0',"
    " locks TEXT NOT NULL DEFAULT '0', unlocks TEXT NOT NULL DEFAULT '0',"
    " stake TEXT, locked TEXT, account_block INTEGER, dirty INTEGER NOT NULL DEFAULT 1);"
    "CREATE TABLE escrow_recent(block INTEGER NOT NULL, address TEXT NOT NULL,"
    " kind TEXT NOT NULL, amount TEXT NOT NULL);"
    "CREATE INDEX escrow_recent_block ON escrow_recent(block);"
    /* retention.c walks finished tasks in the order they last changed */
    "CREATE INDEX tasks_updated ON tasks(updated);",
    /* a task (TEE) or replicate (standard) handed to a worker that no
     * report of that worker has acknowledged yet: when the answer that
     * carried it was lost (the scheduler killed between its commit and
     * the answer, a broken connection), the worker's next poll gets it
     * again (workers.c).  Rows from before count as acknowledged. */
    "ALTER TABLE tasks ADD COLUMN acked INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE replicates ADD COLUMN acked INTEGER NOT NULL DEFAULT 1;"
    "CREATE INDEX replicates_unacked ON replicates(worker)"
    " WHERE acked = 0 AND status = 'RUNNING';",
    NULL,
};

int sched_exec(struct sched *s, const char *sql, const char *const *args, int nargs)
{
	sqlite3_stmt *st;
	int rc;
	GUARD(db_prepare(s->db, sql, &st));
	for (int i = 0; i < nargs; i++)
		sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	ENSURE(rc == SQLITE_DONE, ERR_IO, "scheduler db: %s", sqlite3_errmsg(s->db));
	return 0;
}

/* A column of the task's row (s->mu held); "" when absent. */
static int field_of(sqlite3 *db, const char *taskid, const char *sql, char *out, size_t cap)
{
	sqlite3_stmt *st;
	int rc;
	GUARD(db_prepare(db, sql, &st));
	sqlite3_bind_text(st, 1, taskid, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)
	         ? 0
	         : err_set(ERR_NOTFOUND, "no such task");
	if (rc == 0)
		snprintf(out, cap, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc;
}

int sched_task_field(struct sched *s, const char *taskid, const char *sql, char *out, size_t cap)
{
	return field_of(s->db, taskid, sql, out, cap);
}

int sched_read_field(struct sched *s, const char *taskid, const char *sql, char *out, size_t cap)
{
	return field_of(s->rdb, taskid, sql, out, cap);
}

long long sched_now(void)
{
	return (long long)time(NULL);
}

/* One active scheduler per database: an exclusive flock on DB.lock, held by
 * the process until it exits (the kernel drops it when the process dies, so
 * a standby may start on the same database once the first is gone).  A
 * file of its own: SQLite's POSIX locks on the database are released when
 * any descriptor of that file is closed, a flock on another file is not.
 * The holder writes its pid there, for the message a second one gets. */
int sched_db_lock(const char *db_path, int *fd_out)
{
	char path[4096], pid[24] = "";
	ssize_t n;
	int fd;

	*fd_out = -1;
	ENSURE(snprintf(path, sizeof(path), "%s.lock", db_path) < (int)sizeof(path), ERR_TOOBIG,
	       "scheduler: database path too long");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	ENSURE(fd >= 0, ERR_IO, "scheduler: %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		if (e == EWOULDBLOCK)
			return err_set(
			    ERR_BUSY,
			    "scheduler: database %s is in use by another scheduler%s%s%s "
			    "(one active scheduler per pool: stop it first)",
			    db_path, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
		return err_set(ERR_IO, "scheduler: cannot lock %s: %s", path, strerror(e));
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("sched.lock", "path=\"%s\" pid_write=\"%s\"", path, strerror(errno));
	*fd_out = fd;
	return 0;
}

/* A meta value, "" when absent (s->mu held or not started yet). */
static int meta_get(struct sched *s, const char *key, char *out, size_t cap)
{
	sqlite3_stmt *st;
	GUARD(db_prepare(s->db, "SELECT value FROM meta WHERE key = ?1", &st));
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	out[0] = '\0';
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, cap, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return 0;
}

/* The database belongs to one pool on one chain: recorded by the first
 * scheduler that opens it, checked by every later one.  A database of
 * another pool (or another chain's deployment at the same address) would
 * send its tasks to the wrong place, so it is refused with what it holds. */
int sched_db_owner(struct sched *s)
{
	char pool[43], chain[24], have_pool[64], have_chain[32];
	int rc;

	eth_addr_str(s->pool, pool);
	for (char *p = pool; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
	snprintf(chain, sizeof(chain), "%llu", (unsigned long long)s->chain->chain_id);
	GUARD(db_exec(s->db, "BEGIN IMMEDIATE"));
	rc = meta_get(s, "workerpool", have_pool, sizeof(have_pool));
	if (rc == 0)
		rc = meta_get(s, "chain_id", have_chain, sizeof(have_chain));
	if (rc == 0 && (have_pool[0] || have_chain[0]) &&
	    (strcmp(have_pool, pool) != 0 || strcmp(have_chain, chain) != 0))
		rc = err_set(ERR_INVAL,
		             "scheduler: database %s belongs to workerpool %s on chain %s, not to "
		             "workerpool %s on chain %s",
		             s->cfg.db_path, have_pool[0] ? have_pool : "(none)",
		             have_chain[0] ? have_chain : "(none)", pool, chain);
	if (rc == 0 && !have_pool[0]) {
		const char *a[] = {pool, chain};
		rc = sched_exec(s, "INSERT INTO meta VALUES ('workerpool', ?1), ('chain_id', ?2)",
		                a, 2);
		if (rc == 0)
			log_info("sched.db", "workerpool=%s chain_id=%s recorded=1", pool, chain);
	}
	if (db_exec(s->db, rc == 0 ? "COMMIT" : "ROLLBACK") < 0 && rc == 0)
		rc = err_wrap(ERR_IO, "scheduler");
	return rc;
}
