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
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
int sched_task_field(struct sched *s, const char *taskid, const char *sql, char *out, size_t cap)
{
	sqlite3_stmt *st;
	int rc;
	GUARD(db_prepare(s->db, sql, &st));
	sqlite3_bind_text(st, 1, taskid, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)
	         ? 0
	         : err_set(ERR_NOTFOUND, "no such task");
	if (rc == 0)
		snprintf(out, cap, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc;
}

long long sched_now(void)
{
	return (long long)time(NULL);
}
