/* scheduler.c — the pool operator, see scheduler.h.
 *
 * One SQLite connection behind one mutex holds the deals, tasks, workers and
 * results; the chain follower thread and the HTTP threads share it.  The
 * chain is the source of truth: a deal enters with its SchedulerNoticeBoost
 * event, a task leaves COMPLETED with its ResultPushedBoost event (what a
 * worker reports is only a hint), or FAILED once claimed after its
 * deadline.  The block cursor moves in the same transaction as what was
 * read, so a restart resumes exactly. */
#include "internal.h"

#include "../worker/result.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/txm.h"
#include "net/http.h"
#include "net/server.h"
#include "poco/deploy.h"
#include "poco/market.h"
#include "poco/network.h"
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

#define NONCES       256
#define RESULT_MAX   (64u << 20)
#define ZERO_ADDRESS "0x0000000000000000000000000000000000000000"
/* 1 when the deal's tag asks for a TEE (bit 0 of its last byte) */
#define TEE_SQL "(substr(d.tag, -1) IN ('1', '3', '5', '7', '9', 'b', 'd', 'f'))"
/* The states of a task a worker holds. */
#define HELD "('RUNNING', 'COMPUTED', 'CONTRIBUTING', 'CONTRIBUTED')"

static const char *const migrations[] = {
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
    SCHED_MARKET_MIGRATION,
    /* a replicate's callback-data, for finalizing a callback task */
    "ALTER TABLE replicates ADD COLUMN callback TEXT;",
    /* a replicated task's uploads, one per replicate; the one served (a
     * row of results) is chosen among the revealed ones at finalization */
    "CREATE TABLE uploads(taskid TEXT NOT NULL, worker TEXT NOT NULL, sha256 TEXT NOT NULL,"
    " size INTEGER NOT NULL, uploaded INTEGER NOT NULL, PRIMARY KEY(taskid, worker));"
    "CREATE INDEX uploads_sha256 ON uploads(sha256);"
    "CREATE INDEX results_sha256 ON results(sha256);",
    SCHED_MARKET_MIGRATION_SIGNER,
    NULL,
};

/* ---------- small SQL helpers (called with s->mu held) ---------- */

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
static int task_field(struct sched *s, const char *taskid, const char *sql, char *out, size_t cap)
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

static long long now_s(void)
{
	return (long long)time(NULL);
}

static int meta_cursor(struct sched *s, uint64_t *out)
{
	sqlite3_stmt *st;
	GUARD(db_prepare(s->db, "SELECT value FROM meta WHERE key = 'cursor'", &st));
	*out = s->chain->deployment_block;
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = strtoull((const char *)sqlite3_column_text(st, 0), NULL, 10);
	sqlite3_finalize(st);
	return 0;
}

/* ---------- the result store's files ---------- */

/* A content-addressed file name: 64 lowercase hex digits. */
static int is_sum_name(const char *n)
{
	return strlen(n) == 64 && strspn(n, "0123456789abcdef") == 64;
}

/* Remove the file of sha256 `sum` when no row references it (s->mu held). */
static int unlink_unreferenced(struct sched *s, const char *sum)
{
	sqlite3_stmt *st;
	char path[1200];
	int used;

	GUARD(db_prepare(s->db,
	                 "SELECT 1 FROM results WHERE sha256 = ?1"
	                 " UNION ALL SELECT 1 FROM uploads WHERE sha256 = ?1 LIMIT 1",
	                 &st));
	sqlite3_bind_text(st, 1, sum, -1, SQLITE_TRANSIENT);
	used = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (used)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", s->results_dir, sum);
	if (unlink(path) == 0) {
		log_info("sched.gc", "removed=%s", sum);
		return 1;
	}
	return 0;
}

/* Files of the store that no row references go (s->mu held); so do
 * uploads left half-written by a crash (staging files over an hour old). */
static int results_gc(struct sched *s)
{
	DIR *d = opendir(s->results_dir);
	struct dirent *e;
	char path[1024 + 256 + 8];
	struct stat sb;
	int n = 0;

	ENSURE(d, ERR_IO, "%s: %s", s->results_dir, strerror(errno));
	while ((e = readdir(d))) {
		if (is_sum_name(e->d_name)) {
			n += unlink_unreferenced(s, e->d_name) > 0;
		} else if (strncmp(e->d_name, ".upload-", 8) == 0) {
			snprintf(path, sizeof(path), "%s/%s", s->results_dir, e->d_name);
			if (lstat(path, &sb) == 0 && sb.st_mtime < time(NULL) - 3600 &&
			    unlink(path) == 0)
				n++;
		}
	}
	closedir(d);
	if (n)
		log_info("sched.gc", "files=%d", n);
	return 0;
}

/* A task's row changed for good (COMPLETED, or claimed): its uploads are
 * no longer candidates, nor is its served result when `results_too` (a
 * claimed task).  Their files go now when `now`, else at the next
 * collection (inside a transaction that may roll back).  s->mu held. */
static int drop_task_files(struct sched *s, const char *taskid, int results_too, int now)
{
	char sums[64][65];
	sqlite3_stmt *st;
	int n = 0;
	const char *a[] = {taskid};

	GUARD(db_prepare(s->db,
	                 results_too ? "SELECT sha256 FROM uploads WHERE taskid = lower(?1)"
	                               " UNION SELECT sha256 FROM results WHERE taskid = lower(?1)"
	                             : "SELECT sha256 FROM uploads WHERE taskid = lower(?1)",
	                 &st));
	sqlite3_bind_text(st, 1, taskid, -1, SQLITE_TRANSIENT);
	while (n < 64 && sqlite3_step(st) == SQLITE_ROW)
		snprintf(sums[n++], 65, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	GUARD(sched_exec(s, "DELETE FROM uploads WHERE taskid = lower(?1)", a, 1));
	if (results_too)
		GUARD(sched_exec(s, "DELETE FROM results WHERE taskid = lower(?1)", a, 1));
	for (int i = 0; now && i < n; i++)
		GUARD(unlink_unreferenced(s, sums[i]));
	return 0;
}

/* ---------- the chain follower ---------- */

static int topic_is(const json_t *log, size_t i, const uint8_t want[32])
{
	uint8_t t[32];
	json_t *topics = json_object_get(log, "topics");
	const char *h = json_string_value(json_array_get(topics, i));
	return h && strlen(h) == 66 && hex_decode_exact(t, 32, h + 2, "topic") == 0 &&
	       memcmp(t, want, 32) == 0;
}

static int log_data(const json_t *log, const char *types, json_t **out)
{
	const char *d = json_string_value(json_object_get(log, "data"));
	uint8_t *buf;
	size_t len;
	int rc;
	ENSURE(d && strncmp(d, "0x", 2) == 0, ERR_INVAL, "log without data");
	GUARD(hex_decode_alloc(d + 2, strlen(d + 2), &buf, &len));
	rc = abi_decode_str(types, buf, len, out);
	free(buf);
	return rc;
}

/* A deal of ours and its tasks, RECEIVED.  f: app, dataset, category, tag,
 * params, beneficiary, requester (text). */
static int store_deal(struct sched *s, const char *dealid, const char *const f[7], long long bf,
                      long long bs, long long deadline, uint64_t block, int boost, long long trust)
{
	uint8_t did[32], tid[32];
	char blk[24], first[24], size[24], dl[24], idx[24], now[24], task[67], b[2], tr[24];
	int rc;

	GUARD(hex_decode_exact(did, 32, dealid + 2, "dealid"));
	for (size_t i = 0; i < 7; i++)
		ENSURE(f[i], ERR_INVAL, "deal %s: field %zu missing", dealid, i);
	snprintf(blk, sizeof(blk), "%llu", (unsigned long long)block);
	snprintf(first, sizeof(first), "%lld", bf);
	snprintf(size, sizeof(size), "%lld", bs);
	snprintf(dl, sizeof(dl), "%lld", deadline);
	snprintf(now, sizeof(now), "%lld", now_s());
	snprintf(b, sizeof(b), "%d", boost ? 1 : 0);
	snprintf(tr, sizeof(tr), "%lld", trust < 1 ? 1 : trust);
	const char *args[] = {dealid, f[0],  f[1], f[2], f[3], f[4], f[5],
	                      f[6],   first, size, dl,   blk,  b,    tr};
	rc = sched_exec(
	    s,
	    "INSERT OR IGNORE INTO deals VALUES (lower(?1), lower(?2), lower(?3), ?4, ?5, ?6,"
	    " lower(?7), lower(?8), ?9, ?10, ?11, ?12, ?13, ?14)",
	    args, 14);
	for (long long i = bf; rc == 0 && i < bf + bs; i++) {
		poco_task_id(did, (uint64_t)i, tid);
		hex_encode_0x(task, tid, 32);
		snprintf(idx, sizeof(idx), "%lld", i);
		const char *ta[] = {task, dealid, idx, now};
		rc = sched_exec(s,
		                "INSERT OR IGNORE INTO tasks(taskid, dealid, idx, status, updated)"
		                " VALUES (?1, lower(?2), ?3, 'RECEIVED', ?4)",
		                ta, 4);
	}
	if (rc == 0)
		log_info("sched.deal", "deal=%s tasks=%lld first=%lld app=%s boost=%d", dealid, bs,
		         bf, f[0], boost);
	return rc;
}

/* SchedulerNoticeBoost: the event carries most of the deal. */
static int add_deal(struct sched *s, const json_t *ev, uint64_t block)
{
	const char *dealid = json_string_value(json_array_get(ev, 0));
	uint8_t did[32];
	json_t *deal = NULL;
	int rc;

	ENSURE(dealid, ERR_INVAL, "SchedulerNoticeBoost without a deal id");
	GUARD(hex_decode_exact(did, 32, dealid + 2, "dealid"));
	GUARD(poco_view(s->chain, "viewDealBoost", did, &deal));
	const char *f[7] = {json_string_value(json_array_get(ev, 1)),
	                    json_string_value(json_array_get(ev, 2)),
	                    json_string_value(json_array_get(ev, 3)),
	                    json_string_value(json_array_get(ev, 4)),
	                    json_string_value(json_array_get(ev, 5)),
	                    json_string_value(json_array_get(ev, 6)),
	                    json_string_value(json_object_get(deal, "requester"))};
	rc = store_deal(s, dealid, f, json_get_ll(deal, "botFirst", 0),
	                json_get_ll(deal, "botSize", 0), json_get_ll(deal, "deadline", 0), block, 1,
	                1);
	json_decref(deal);
	return rc;
}

/* SchedulerNotice (a classic deal): viewDeal; its final deadline is
 * startTime + 10 x the category's reference time, as PoCo sets it. */
static int add_classic_deal(struct sched *s, const json_t *ev, uint64_t block)
{
	const char *dealid = json_string_value(json_array_get(ev, 0));
	uint8_t did[32], catid[32] = {0};
	json_t *deal = NULL, *cat = NULL;
	long long c;
	int rc;

	ENSURE(dealid, ERR_INVAL, "SchedulerNotice without a deal id");
	GUARD(hex_decode_exact(did, 32, dealid + 2, "dealid"));
	GUARD(poco_view(s->chain, "viewDeal", did, &deal));
	c = json_get_ll(deal, "category", 0);
	for (int b = 0; b < 8; b++)
		catid[31 - b] = (uint8_t)((unsigned long long)c >> (8 * b));
	rc = poco_view(s->chain, "viewCategory", catid, &cat);
	const char *f[7] = {
	    json_string_value(json_object_get(json_object_get(deal, "app"), "pointer")),
	    json_string_value(json_object_get(json_object_get(deal, "dataset"), "pointer")),
	    json_string_value(json_object_get(deal, "category")),
	    json_string_value(json_object_get(deal, "tag")),
	    json_string_value(json_object_get(deal, "params")),
	    json_string_value(json_object_get(deal, "beneficiary")),
	    json_string_value(json_object_get(deal, "requester"))};
	if (rc == 0)
		rc = store_deal(s, dealid, f, json_get_ll(deal, "botFirst", 0),
		                json_get_ll(deal, "botSize", 0),
		                json_get_ll(deal, "startTime", 0) +
		                    10 * json_get_ll(cat, "workClockTimeRef", 0),
		                block, 0, json_get_ll(deal, "trust", 0));
	json_decref(deal);
	json_decref(cat);
	return rc;
}

/* TaskFinalize(taskid indexed, results): a classic task is COMPLETED. */
static int task_finalized(struct sched *s, const json_t *log, const char *tx)
{
	const char *taskid = json_string_value(json_array_get(json_object_get(log, "topics"), 1));
	char now[24];
	ENSURE(taskid, ERR_INVAL, "TaskFinalize without a task id");
	snprintf(now, sizeof(now), "%lld", now_s());
	const char *a[] = {taskid, tx ? tx : "", now};
	GUARD(sched_exec(s,
	                 "UPDATE tasks SET status = 'COMPLETED', tx = ?2, updated = ?3"
	                 " WHERE taskid = lower(?1) AND status != 'COMPLETED'",
	                 a, 3));
	if (sqlite3_changes(s->db) > 0)
		log_info("sched.task", "task=%s status=COMPLETED tx=%s", taskid, tx ? tx : "");
	/* the replicates' other uploads: collected once this commits */
	return drop_task_files(s, taskid, 0, 0);
}

/* ResultPushedBoost(dealId, index, results): the task is COMPLETED. */
static int task_pushed(struct sched *s, const json_t *ev, const char *tx)
{
	const char *dealid = json_string_value(json_array_get(ev, 0));
	const char *idx = json_string_value(json_array_get(ev, 1));
	const char *results = json_string_value(json_array_get(ev, 2));
	char now[24];
	ENSURE(dealid && idx && results, ERR_INVAL, "ResultPushedBoost: fields missing");
	snprintf(now, sizeof(now), "%lld", now_s());
	const char *a[] = {dealid, idx, results, tx ? tx : "", now};
	GUARD(
	    sched_exec(s,
	               "UPDATE tasks SET status = 'COMPLETED', results = ?3, tx = ?4, updated = ?5"
	               " WHERE dealid = lower(?1) AND idx = ?2 AND status != 'COMPLETED'",
	               a, 5));
	if (sqlite3_changes(s->db) > 0)
		log_info("sched.task", "deal=%s index=%s status=COMPLETED tx=%s", dealid, idx,
		         tx ? tx : "");
	return 0;
}

static void event_topic(const char *sig, uint8_t out[32])
{
	keccak256(sig, strlen(sig), out);
}

/* Read new blocks: deals for our pool and pushed results. */
static int follow_logs(struct sched *s)
{
	uint8_t notice[32], pushed[32], classic[32], finalized[32];
	uint64_t head, from, to;
	json_t *logs = NULL, *ev;
	size_t i;
	char cur[24];
	int rc = 0;

	GUARD(eth_block_number(s->chain->rpc, &head));
	pthread_mutex_lock(&s->mu);
	rc = meta_cursor(s, &from);
	pthread_mutex_unlock(&s->mu);
	GUARD(rc);
	if (head < (uint64_t)s->cfg.confirmations || head - (uint64_t)s->cfg.confirmations <= from)
		return 0;
	to = head - (uint64_t)s->cfg.confirmations;
	if (to - from > 5000)
		to = from + 5000;
	event_topic("SchedulerNoticeBoost(address,bytes32,address,address,uint256,bytes32,string,"
	            "address)",
	            notice);
	event_topic("ResultPushedBoost(bytes32,uint256,bytes)", pushed);
	event_topic("SchedulerNotice(address,bytes32)", classic);
	event_topic("TaskFinalize(bytes32,bytes)", finalized);
	GUARD(eth_get_logs(s->chain->rpc, s->chain->hub, NULL, from + 1, to, &logs));
	pthread_mutex_lock(&s->mu);
	db_exec(s->db, "BEGIN IMMEDIATE");
	json_array_foreach (logs, i, ev) {
		json_t *d = NULL;
		uint64_t block = 0;
		eth_hex_u64(json_object_get(ev, "blockNumber"), &block);
		if (s->boost && topic_is(ev, 0, notice) && topic_is(ev, 1, s->pool_topic)) {
			rc = log_data(
			    ev, "(bytes32,address,address,uint256,bytes32,string,address)", &d);
			if (rc == 0)
				rc = add_deal(s, d, block);
		} else if (topic_is(ev, 0, classic) && topic_is(ev, 1, s->pool_topic)) {
			rc = log_data(ev, "(bytes32)", &d);
			if (rc == 0)
				rc = add_classic_deal(s, d, block);
		} else if (topic_is(ev, 0, finalized)) {
			rc = task_finalized(
			    s, ev, json_string_value(json_object_get(ev, "transactionHash")));
		} else if (s->boost && topic_is(ev, 0, pushed)) {
			rc = log_data(ev, "(bytes32,uint256,bytes)", &d);
			if (rc == 0)
				rc = task_pushed(
				    s, d,
				    json_string_value(json_object_get(ev, "transactionHash")));
		}
		json_decref(d);
		if (rc < 0)
			break;
	}
	if (rc == 0) {
		snprintf(cur, sizeof(cur), "%llu", (unsigned long long)to);
		const char *a[] = {cur};
		rc = sched_exec(s, "INSERT OR REPLACE INTO meta VALUES ('cursor', ?1)", a, 1);
	}
	db_exec(s->db, rc == 0 ? "COMMIT" : "ROLLBACK");
	pthread_mutex_unlock(&s->mu);
	json_decref(logs);
	return rc;
}

/* The task's enclave challenge from the SMS (the pool owner asks). */
static int enclave_challenge(struct sched *s, const char *taskid, const char *dealid, long long idx,
                             char enclave[43])
{
	uint8_t tid[32], sig[65];
	char url[4096], auth[133];
	struct http_response r;
	int rc;

	GUARD(hex_decode_exact(tid, 32, taskid + 2, "taskid"));
	GUARD(eip191_sign_keccak(s->cfg.owner_key, tid, 32, sig));
	hex_encode_0x(auth, sig, 65);
	if (dealid) /* Boost: the SMS checks the task against its deal */
		snprintf(url, sizeof(url), "%s/tee/challenges/%s?dealId=%s&taskIndex=%lld",
		         s->sms_url, taskid, dealid, idx);
	else
		snprintf(url, sizeof(url), "%s/tee/challenges/%s", s->sms_url, taskid);
	struct http_call call = {
	    auth, "application/json", "", 0, s->sms_peer.check ? &s->sms_peer : NULL, NULL};
	GUARD(http_call(url, &call, 4096, 10, &r));
	rc = r.status == 200 && r.body.len == 42
	         ? 0
	         : err_set(ERR_IO, "sms: challenge for %s: HTTP %ld", taskid, r.status);
	if (rc == 0) {
		memcpy(enclave, r.body.buf, 42);
		enclave[42] = '\0';
	}
	http_response_free(&r);
	return rc;
}

struct pending {
	char taskid[67], dealid[67];
	long long idx;
	int boost, tee;
};

/* A classic task exists on chain once the scheduler initializes it (the
 * transaction is skipped when an earlier run already sent it). */
static int initialize_classic(struct sched *s, const struct pending *p)
{
	uint8_t did[32], tid[32];
	json_t *task = NULL;
	struct eth_receipt r;
	char idx[24];
	long long st;

	GUARD(hex_decode_exact(tid, 32, p->taskid + 2, "taskid"));
	GUARD(poco_view(s->chain, "viewTask", tid, &task));
	st = json_get_ll(task, "status", 0);
	json_decref(task);
	if (st != 0)
		return 0;
	GUARD(hex_decode_exact(did, 32, p->dealid + 2, "dealid"));
	snprintf(idx, sizeof(idx), "%lld", p->idx);
	GUARD(poco_send(s->chain->rpc, s->cfg.owner_key, s->chain->hub,
	                "initialize(bytes32,uint256)",
	                json_pack("[o,s]", eth_json_hex(did, 32), idx), &r));
	log_info("sched.task", "task=%s status=INITIALIZING gas=%llu", p->taskid,
	         (unsigned long long)r.gas_used);
	eth_receipt_free(&r);
	return 0;
}

/* RECEIVED -> INITIALIZED: each task gets its enclave challenge. */
static int initialize_tasks(struct sched *s)
{
	struct pending p[16];
	sqlite3_stmt *st;
	int n = 0, rc;
	char enclave[43], now[24];

	pthread_mutex_lock(&s->mu);
	/* TEE tasks (tag bit 0), and standard tasks of classic deals. */
	rc = db_prepare(s->db,
	                "SELECT t.taskid, t.dealid, t.idx, d.boost, " TEE_SQL " FROM tasks t"
	                " JOIN deals d USING(dealid) WHERE t.status = 'RECEIVED' AND"
	                " (" TEE_SQL " OR d.boost = 0) ORDER BY t.updated LIMIT 16",
	                &st);
	while (rc == 0 && n < 16 && sqlite3_step(st) == SQLITE_ROW) {
		snprintf(p[n].taskid, 67, "%s", sqlite3_column_text(st, 0));
		snprintf(p[n].dealid, 67, "%s", sqlite3_column_text(st, 1));
		p[n].idx = sqlite3_column_int64(st, 2);
		p[n].boost = sqlite3_column_int(st, 3);
		p[n].tee = sqlite3_column_int(st, 4);
		n++;
	}
	if (rc == 0)
		sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	GUARD(rc);
	for (int i = 0; i < n; i++) {
		if (!p[i].boost && initialize_classic(s, &p[i]) < 0) {
			log_warn("sched.task", "task=%s status=RECEIVED initialize=\"%s\"",
			         p[i].taskid, err_msg());
			continue;
		}
		if (!p[i].tee) /* a standard task: no enclave */
			snprintf(enclave, sizeof(enclave), "%s", ZERO_ADDRESS);
		else if (enclave_challenge(s, p[i].taskid, p[i].boost ? p[i].dealid : NULL,
		                           p[i].idx, enclave) < 0) {
			log_warn("sched.task", "task=%s status=RECEIVED error=\"%s\"", p[i].taskid,
			         err_msg());
			return 0; /* the SMS may be restarting: next round */
		}
		snprintf(now, sizeof(now), "%lld", now_s());
		const char *a[] = {p[i].taskid, enclave, now};
		pthread_mutex_lock(&s->mu);
		rc = sched_exec(
		    s,
		    "UPDATE tasks SET status = 'INITIALIZED', enclave = lower(?2), updated = ?3"
		    " WHERE taskid = ?1 AND status = 'RECEIVED'",
		    a, 3);
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		GUARD(rc);
		log_info("sched.task", "task=%s status=INITIALIZED enclave=%s", p[i].taskid,
		         enclave);
	}
	return 0;
}

/* Up to 8 task ids from a query (s->mu taken here). */
static int task_ids(struct sched *s, const char *sql, char ids[8][67], int *n)
{
	sqlite3_stmt *st;
	int rc;
	*n = 0;
	pthread_mutex_lock(&s->mu);
	rc = db_prepare(s->db, sql, &st);
	while (rc == 0 && *n < 8 && sqlite3_step(st) == SQLITE_ROW)
		snprintf(ids[(*n)++], 67, "%s", sqlite3_column_text(st, 0));
	if (rc == 0)
		sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Does the upload `sha` (a file of the store) carry the digest `want`, as
 * a requester will recompute it?  A revealed worker may have uploaded
 * anything before it revealed: what is served must be what was agreed. */
static int upload_matches(struct sched *s, const char *sha, int callback, const uint8_t want[32])
{
	static const struct result_limits lim = RESULT_DEFAULT_LIMITS;
	char path[PATH_MAX];
	uint8_t got[32];

	GUARD(path_fmt(path, sizeof(path), "%s/%s", s->results_dir, sha));
	if (result_archive_read(path, NULL, &lim, callback, got) < 0)
		return 0;
	return CRYPTO_memcmp(got, want, 32) == 0;
}

/* The result served for a replicated task: the upload of a worker whose
 * contribution the chain holds as revealed (PROVEN), whose archive holds
 * the consensus digest `want` (keccak256 of callback-data for a callback
 * deal); the first such upload, and it stays.  1 when there is one. */
static int choose_result(struct sched *s, const char *taskid, const uint8_t tid[32],
                         const uint8_t want[32], int callback)
{
	char workers[16][43], shas[16][65];
	sqlite3_stmt *st;
	int n = 0, rc;

	pthread_mutex_lock(&s->mu);
	rc = task_field(s, taskid, "SELECT taskid FROM results WHERE taskid = ?1", workers[0],
	                sizeof(workers[0]));
	if (rc == 0) {
		pthread_mutex_unlock(&s->mu);
		return 1; /* chosen in an earlier round */
	}
	rc = db_prepare(s->db,
	                "SELECT u.worker, u.sha256 FROM uploads u JOIN replicates r"
	                " USING(taskid, worker) WHERE u.taskid = ?1 AND r.status = 'COMPLETED'"
	                " ORDER BY u.uploaded LIMIT 16",
	                &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, taskid, -1, SQLITE_TRANSIENT);
		while (n < 16 && sqlite3_step(st) == SQLITE_ROW) {
			snprintf(workers[n], 43, "%s", sqlite3_column_text(st, 0));
			snprintf(shas[n++], 65, "%s", sqlite3_column_text(st, 1));
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->mu);
	GUARD(rc);
	for (int i = 0; i < n; i++) {
		uint8_t w[20];
		json_t *c = NULL;
		GUARD(eth_addr_parse(workers[i], w));
		GUARD(poco_view_contribution(s->chain, tid, w, &c));
		long long status = json_get_ll(c, "status", 0);
		json_decref(c);
		if (status != POCO_CONTRIBUTION_PROVEN)
			continue;
		if (!upload_matches(s, shas[i], callback, want)) {
			log_warn("sched.result",
			         "task=%s worker=%s refused=\"its upload does not "
			         "hold the consensus digest\"",
			         taskid, workers[i]);
			continue;
		}
		const char *a[] = {taskid, workers[i]};
		pthread_mutex_lock(&s->mu);
		rc =
		    sched_exec(s,
		               "INSERT OR IGNORE INTO results SELECT taskid, sha256, size, uploaded"
		               " FROM uploads WHERE taskid = ?1 AND worker = ?2",
		               a, 2);
		pthread_mutex_unlock(&s->mu);
		GUARD(rc);
		log_info("sched.result", "task=%s served=%s reason=revealed", taskid, workers[i]);
		return 1;
	}
	return 0;
}

/* Replicated standard tasks: once the chain has a consensus and every
 * winner revealed, the scheduler finalizes with a winner's result. */
static int finalize_tasks(struct sched *s)
{
	char ids[8][67], loc[1024], *results = NULL;
	int n = 0, rc;

	GUARD(task_ids(s,
	               "SELECT DISTINCT t.taskid FROM tasks t JOIN replicates r USING(taskid)"
	               " JOIN uploads u USING(taskid, worker)"
	               " WHERE t.status IN ('INITIALIZED', 'RUNNING')"
	               " AND r.status = 'COMPLETED' LIMIT 8",
	               ids, &n));
	for (int i = 0; i < n; i++) {
		uint8_t tid[32];
		json_t *task = NULL, *rj;
		struct eth_receipt r;
		GUARD(hex_decode_exact(tid, 32, ids[i] + 2, "taskid"));
		GUARD(poco_view(s->chain, "viewTask", tid, &task));
		int ready =
		    json_get_ll(task, "status", 0) == 2 &&
		    json_get_ll(task, "revealCounter", 0) > 0 &&
		    json_get_ll(task, "revealCounter", 0) == json_get_ll(task, "winnerCounter", 0);
		/* the revealed digest, and whether it is a callback's */
		uint8_t want[32], did[32], cbaddr[20] = {0};
		static const uint8_t zero20[20];
		json_t *deal = NULL;
		if (ready)
			ready = json_get_hex(task, "resultDigest", want, 32, 0) == 0 &&
			        json_get_hex(task, "dealid", did, 32, 0) == 0 &&
			        poco_view(s->chain, "viewDeal", did, &deal) == 0 &&
			        eth_addr_parse(json_string_value(json_object_get(deal, "callback")),
			                       cbaddr) == 0;
		json_decref(deal);
		json_decref(task);
		if (!ready)
			continue;
		rc = choose_result(s, ids[i], tid, want, memcmp(cbaddr, zero20, 20) != 0);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			log_warn("sched.finalize",
			         "task=%s waiting=\"no upload from a revealed "
			         "worker yet\"",
			         ids[i]);
			continue;
		}
		snprintf(loc, sizeof(loc), "%s/results/%s", s->public_url, ids[i]);
		rj = json_pack("{s:s,s:s}", "storage", "tdexec", "location", loc);
		results = json_dumps(rj, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(rj);
		json_t *arg =
		    results ? eth_json_hex((const uint8_t *)results, strlen(results)) : NULL;
		free(results);
		ENSURE(arg, ERR_NOMEM, "out of memory");
		/* a callback task: a winner's callback-data (PoCo checks its hash) */
		char cb[2 + 2 * 16384 + 1] = "0x";
		pthread_mutex_lock(&s->mu);
		rc = task_field(s, ids[i],
		                "SELECT callback FROM replicates WHERE taskid = ?1 AND status ="
		                " 'COMPLETED' AND callback IS NOT NULL LIMIT 1",
		                cb, sizeof(cb));
		pthread_mutex_unlock(&s->mu);
		if (rc < 0 || !cb[0])
			snprintf(cb, sizeof(cb), "0x");
		rc = poco_send(s->chain->rpc, s->cfg.owner_key, s->chain->hub,
		               "finalize(bytes32,bytes,bytes)",
		               json_pack("[o,o,s]", eth_json_hex(tid, 32), arg, cb), &r);
		if (rc < 0) {
			log_warn("sched.finalize", "task=%s error=\"%s\"", ids[i], err_msg());
			continue;
		}
		log_info("sched.task", "task=%s finalize gas=%llu", ids[i],
		         (unsigned long long)r.gas_used);
		eth_receipt_free(&r);
	}
	return 0;
}

/* The chain's time: deadlines are in it, not in ours. */
static int chain_now(struct sched *s, uint64_t *ts)
{
	json_t *blk = NULL;
	int rc;
	GUARD(eth_rpc_call(s->chain->rpc, "eth_getBlockByNumber", json_pack("[s,b]", "latest", 0),
	                   &blk));
	rc = eth_hex_u64(json_object_get(blk, "timestamp"), ts);
	json_decref(blk);
	return rc;
}

/* Replicated standard tasks whose contributions reached no consensus: once
 * every replicate has contributed (or failed) and the chain's task is still
 * ACTIVE, the task goes back to the queue for one more worker, until its
 * contribution deadline.  PoCo weighs each further contribution in; a
 * consensus then lets the agreeing workers reveal and the task finalize. */
static int reopen_tasks(struct sched *s)
{
	char ids[8][67], now[24];
	uint64_t chain_ts;
	int n = 0, rc;

	GUARD(task_ids(s,
	               "SELECT t.taskid FROM tasks t WHERE t.status = 'RUNNING'"
	               " AND EXISTS (SELECT 1 FROM replicates r WHERE r.taskid = t.taskid)"
	               " AND NOT EXISTS (SELECT 1 FROM replicates r WHERE r.taskid = t.taskid"
	               " AND r.status IN ('RUNNING', 'COMPUTED')) LIMIT 8",
	               ids, &n));
	if (n == 0)
		return 0;
	GUARD(chain_now(s, &chain_ts));
	snprintf(now, sizeof(now), "%lld", now_s());
	for (int i = 0; i < n; i++) {
		uint8_t tid[32];
		json_t *task = NULL;
		long long contributors;
		GUARD(hex_decode_exact(tid, 32, ids[i] + 2, "taskid"));
		GUARD(poco_view(s->chain, "viewTask", tid, &task));
		int open = json_get_ll(task, "status", 0) == 1 &&
		           (uint64_t)json_get_ll(task, "contributionDeadline", 0) > chain_ts;
		contributors = (long long)json_array_size(json_object_get(task, "contributors"));
		json_decref(task);
		if (!open)
			continue;
		const char *a[] = {ids[i], now};
		pthread_mutex_lock(&s->mu);
		rc = sched_exec(
		    s,
		    "UPDATE tasks SET status = 'INITIALIZED', worker = NULL, updated = ?2,"
		    " detail = 'no consensus yet: one more replicate'"
		    " WHERE taskid = ?1 AND status = 'RUNNING'",
		    a, 2);
		if (rc == 0 && sqlite3_changes(s->db) > 0) {
			log_info("sched.task",
			         "task=%s reopened=1 contributions=%lld "
			         "reason=\"no consensus\"",
			         ids[i], contributors);
			pthread_cond_broadcast(&s->cv);
		}
		pthread_mutex_unlock(&s->mu);
		GUARD(rc);
	}
	return 0;
}

/* Tasks of a silent worker go back to the queue; tasks past their deadline
 * are claimed so the requester is refunded. */
static int watch_deadlines(struct sched *s)
{
	struct pending p[8];
	sqlite3_stmt *st;
	char lost[24], now[24], chain_ts[24];
	uint64_t ts = 0;
	int n = 0, rc;

	GUARD(chain_now(s, &ts));
	snprintf(chain_ts, sizeof(chain_ts), "%llu", (unsigned long long)ts);
	snprintf(now, sizeof(now), "%lld", now_s());
	snprintf(lost, sizeof(lost), "%lld", now_s() - s->cfg.worker_timeout_s);
	pthread_mutex_lock(&s->mu);
	{
		const char *a[] = {lost, now};
		rc = sched_exec(
		    s,
		    "UPDATE tasks SET status = 'INITIALIZED', worker = NULL, updated = ?2,"
		    " detail = 'worker lost' WHERE status = 'RUNNING' AND worker IN"
		    " (SELECT address FROM workers WHERE last_seen < ?1)",
		    a, 2);
		if (rc == 0 && sqlite3_changes(s->db) > 0) {
			log_warn("sched.task", "reassigned=%d reason=\"worker lost\"",
			         sqlite3_changes(s->db));
			pthread_cond_broadcast(&s->cv);
		}
	}
	if (rc == 0)
		rc = db_prepare(
		    s->db,
		    "SELECT t.taskid, t.dealid, t.idx, d.boost FROM tasks t JOIN deals d "
		    "USING(dealid)"
		    " WHERE t.status != 'COMPLETED' AND t.claim_tx IS NULL AND d.deadline < ?1 "
		    "LIMIT 8",
		    &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, chain_ts, -1, SQLITE_TRANSIENT);
		while (n < 8 && sqlite3_step(st) == SQLITE_ROW) {
			snprintf(p[n].taskid, 67, "%s", sqlite3_column_text(st, 0));
			snprintf(p[n].dealid, 67, "%s", sqlite3_column_text(st, 1));
			p[n].idx = sqlite3_column_int64(st, 2);
			p[n].boost = sqlite3_column_int(st, 3);
			n++;
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->mu);
	GUARD(rc);
	for (int i = 0; i < n; i++) {
		struct eth_receipt r;
		uint8_t did[32], tid[32];
		char tx[67], idx[24];
		GUARD(hex_decode_exact(did, 32, p[i].dealid + 2, "dealid"));
		GUARD(hex_decode_exact(tid, 32, p[i].taskid + 2, "taskid"));
		snprintf(idx, sizeof(idx), "%lld", p[i].idx);
		if ((p[i].boost ? poco_send(s->chain->rpc, s->cfg.owner_key, s->chain->hub,
		                            "claimBoost(bytes32,uint256)",
		                            json_pack("[o,s]", eth_json_hex(did, 32), idx), &r)
		                : poco_send(s->chain->rpc, s->cfg.owner_key, s->chain->hub,
		                            "claim(bytes32)",
		                            json_pack("[o]", eth_json_hex(tid, 32)), &r)) < 0) {
			int reverted = strstr(err_msg(), "revert") != NULL;
			log_warn("sched.claim", "task=%s error=\"%s\"", p[i].taskid, err_msg());
			if (!reverted)
				continue; /* the node may be back next round */
			/* claimed by someone else, or completed meanwhile: stop trying */
			const char *a[] = {p[i].taskid, "none", now};
			pthread_mutex_lock(&s->mu);
			rc = sched_exec(
			    s, "UPDATE tasks SET claim_tx = ?2, updated = ?3 WHERE taskid = ?1", a,
			    3);
			pthread_mutex_unlock(&s->mu);
			continue;
		}
		hex_encode_0x(tx, r.tx_hash, 32);
		eth_receipt_free(&r);
		const char *a[] = {p[i].taskid, tx, now};
		pthread_mutex_lock(&s->mu);
		rc = sched_exec(
		    s,
		    "UPDATE tasks SET status = 'FAILED', detail = 'claimed after the deadline',"
		    " claim_tx = ?2, updated = ?3 WHERE taskid = ?1",
		    a, 3);
		/* refunded: whatever was uploaded for it is no result */
		if (rc == 0)
			rc = drop_task_files(s, p[i].taskid, 1, 1);
		pthread_mutex_unlock(&s->mu);
		log_warn("sched.task", "task=%s status=FAILED claimed=%s", p[i].taskid, tx);
	}
	return rc;
}

static void *follower_main(void *arg)
{
	struct sched *s = arg;
	struct timespec ts;
	unsigned long round = 0;

	for (;;) {
		if (follow_logs(s) < 0 || initialize_tasks(s) < 0 || finalize_tasks(s) < 0 ||
		    reopen_tasks(s) < 0 || watch_deadlines(s) < 0)
			log_warn("sched.follow", "error=\"%s\"", err_msg());
		if (round % 10 == 0 && sched_market_stock(s) < 0)
			log_warn("market.stock", "error=\"%s\"", err_msg());
		if (++round % 120 == 0) {
			pthread_mutex_lock(&s->mu);
			if (results_gc(s) < 0)
				log_warn("sched.gc", "error=\"%s\"", err_msg());
			pthread_mutex_unlock(&s->mu);
		}
		pthread_mutex_lock(&s->mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)s->cfg.poll_ms * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		if (!s->stop)
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		int stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			return NULL;
	}
}

/* ---------- HTTP: workers ---------- */

void sched_refuse(struct http_resp *resp, int status, const char *ev, const char *why)
{
	log_warn(ev, "refused=\"%s\"", why);
	http_resp_json(resp, status,
	               json_pack("{s:s}", "error", status == 403 ? "forbidden" : why));
}

#define WORKER_NONCE "tdexec-worker-register"

/* POST /workers/challenge: a nonce made without keeping anything, so no
 * number of callers can use up what a worker needs to register. */
static void h_challenge(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	uint8_t nonce[32];
	char hex[65];
	(void)req;

	if (http_nonce_make(s->worker_nonces, WORKER_NONCE, nonce) < 0) {
		http_resp_json(resp, 500, json_pack("{s:s}", "error", "no randomness"));
		return;
	}
	hex_encode(hex, nonce, 32);
	http_resp_json(resp, 200,
	               json_pack("{s:s,s:i}", "nonce", hex, "expiresIn",
	                         (int)http_nonces_window(s->worker_nonces)));
}

static void token_hash(const char *token, char out[65])
{
	uint8_t h[32];
	SHA256((const unsigned char *)token, strlen(token), h);
	hex_encode(out, h, 32);
}

static int admit(struct sched *s, const struct http_req *req, uint8_t worker[20],
                 struct tdx_verdict *v, char qsha[65])
{
	json_t *b = NULL;
	uint8_t nonce[32], h[32], sig[65], who[20], rd[64], *quote = NULL;
	size_t qlen = 0;
	struct tdx_quote *q = NULL;
	const char *auth = http_req_header(req, "Authorization");
	int rc;

	GUARD(json_parse((const char *)req->body, req->body_len, "register", &b));
	const char *addr = json_string_value(json_object_get(b, "address"));
	rc = addr ? eth_addr_parse(addr, worker) : err_set(ERR_INVAL, "register: address missing");
	if (rc == 0)
		rc = json_get_hex(b, "nonce", nonce, 32, 0);
	if (rc == 0) /* ours and fresh, before any costly check */
		rc = http_nonce_check(s->worker_nonces, WORKER_NONCE, nonce);
	if (rc == 0 && http_nonce_used(s->worker_nonces, nonce))
		rc = err_set(ERR_VERIFY, "nonce already used");
	const char *qb = json_string_value(json_object_get(b, "quote"));
	if (rc == 0)
		rc = qb ? base64_decode(qb, strlen(qb), &quote, &qlen)
		        : err_set(ERR_INVAL, "register: quote missing");
	if (rc == 0)
		rc = auth && strlen(auth) == 132 ? hex_decode_exact(sig, 65, auth + 2, "signature")
		                                 : err_set(ERR_VERIFY, "register: no signature");
	if (rc == 0) {
		proto_worker_register_hash(s->chain->chain_id, s->public_url, nonce, worker, h);
		eip191_hash32(h, h);
		rc = k1_recover(h, sig, who);
	}
	if (rc == 0 && memcmp(who, worker, 20) != 0)
		rc = err_set(ERR_VERIFY,
		             "the signature is not the worker's registration with %s on chain %llu",
		             s->public_url, (unsigned long long)s->chain->chain_id);
	if (rc == 0)
		rc = tdx_gate_check(&s->gate, quote, qlen, &q, v);
	if (rc == 0) {
		proto_worker_report_data(nonce, worker, rd);
		if (CRYPTO_memcmp(rd, q->body.report_data, 64) != 0)
			rc = err_set(ERR_VERIFY, "REPORTDATA does not bind this nonce and worker");
	}
	/* single use, recorded only once everything else held: only an admitted
	 * worker fills the replay set */
	if (rc == 0)
		rc = http_nonce_use(s->worker_nonces, nonce);
	if (rc == 0) {
		SHA256(quote, qlen, h);
		hex_encode(qsha, h, 32);
	}
	tdx_quote_free(q);
	free(quote);
	json_decref(b);
	return rc;
}

static void h_register(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	uint8_t worker[20], tok[32];
	struct tdx_verdict v;
	char addr[43], qsha[65], token[65], th[65], now[24], sim[2];
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = admit(s, req, worker, &v, qsha)) < 0) {
		sched_refuse(resp, rc == ERR_BUSY ? 503 : 403, "sched.register", err_msg());
		return;
	}
	eth_addr_str(worker, addr);
	if (RAND_bytes(tok, 32) != 1) {
		sched_refuse(resp, 500, "sched.register", "no randomness");
		return;
	}
	hex_encode(token, tok, 32);
	token_hash(token, th);
	snprintf(now, sizeof(now), "%lld", now_s());
	snprintf(sim, sizeof(sim), "%d", v.simulated);
	const char *a[] = {addr, th, now, qsha, tdx_tcb_status_name(v.status), sim};
	pthread_mutex_lock(&s->mu);
	rc = sched_exec(
	    s, "INSERT OR REPLACE INTO workers VALUES (lower(?1), ?2, ?3, ?3, ?4, ?5, ?6)", a, 6);
	pthread_mutex_unlock(&s->mu);
	if (rc < 0) {
		sched_refuse(resp, 500, "sched.register", err_msg());
		return;
	}
	log_info("sched.register", "worker=%s tcb=%s simulated=%d quote_sha256=%s", addr,
	         tdx_tcb_status_name(v.status), v.simulated, qsha);
	http_resp_json(resp, 200,
	               json_pack("{s:s,s:s,s:b}", "token", token, "tcbStatus",
	                         tdx_tcb_status_name(v.status), "simulated", v.simulated));
	OPENSSL_cleanse(token, sizeof(token));
}

/* The registered worker behind a Bearer token (updates last_seen). */
static int bearer(struct sched *s, const struct http_req *req, char worker[43])
{
	const char *a = http_req_header(req, "Authorization");
	sqlite3_stmt *st;
	char th[65], now[24];
	int rc;

	ENSURE(a && strncasecmp(a, "Bearer ", 7) == 0 && strlen(a + 7) == 64, ERR_VERIFY,
	       "no worker token");
	token_hash(a + 7, th);
	GUARD(db_prepare(s->db, "SELECT address FROM workers WHERE token = ?1", &st));
	sqlite3_bind_text(st, 1, th, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_ROW ? 0 : err_set(ERR_VERIFY, "unknown worker token");
	if (rc == 0)
		snprintf(worker, 43, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc == 0) {
		snprintf(now, sizeof(now), "%lld", now_s());
		const char *x[] = {worker, now};
		rc = sched_exec(s, "UPDATE workers SET last_seen = ?2 WHERE address = ?1", x, 2);
	}
	return rc;
}

/* Take the oldest INITIALIZED task for `worker` (s->mu held); 1 if one. */
static int take_task(struct sched *s, const char *worker, json_t **out)
{
	sqlite3_stmt *st;
	uint8_t w[20], tid[32], enc[20], p[72], sig[65];
	char auth[133], now[24], res[300];
	int rc, found = 0;

	GUARD(
	    db_prepare(s->db,
	               "SELECT t.taskid, t.dealid, t.idx, t.enclave, d.app, d.dataset, d.category,"
	               " d.tag, d.params, d.beneficiary, d.deadline, d.requester, d.boost, " TEE_SQL
	               ", d.trust, (SELECT count(*) FROM replicates r WHERE r.taskid = t.taskid)"
	               " FROM tasks t JOIN deals d USING(dealid) WHERE t.status = 'INITIALIZED'"
	               " AND NOT EXISTS (SELECT 1 FROM replicates r WHERE r.taskid = t.taskid"
	               " AND r.worker = ?1) ORDER BY t.updated, t.idx LIMIT 1",
	               &st));
	sqlite3_bind_text(st, 1, worker, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		int tee = sqlite3_column_int(st, 13);
		long long trust = sqlite3_column_int64(st, 14), held = sqlite3_column_int64(st, 15);
		const char *taskid = (const char *)sqlite3_column_text(st, 0);
		rc = eth_addr_parse(worker, w);
		if (rc == 0)
			rc = hex_decode_exact(tid, 32, taskid + 2, "taskid");
		if (rc == 0)
			rc = eth_addr_parse((const char *)sqlite3_column_text(st, 3), enc);
		if (rc == 0) {
			memcpy(p, w, 20);
			memcpy(p + 20, tid, 32);
			memcpy(p + 52, enc, 20);
			rc = eip191_sign_keccak(s->cfg.owner_key, p, sizeof(p), sig);
		}
		if (rc == 0) {
			hex_encode_0x(auth, sig, 65);
			snprintf(res, sizeof(res), "%s/results", s->public_url);
			*out = json_pack(
			    "{s:s,s:s,s:I,s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:b}",
			    "taskId", taskid, "dealId", sqlite3_column_text(st, 1), "taskIndex",
			    (json_int_t)sqlite3_column_int64(st, 2), "enclaveChallenge",
			    sqlite3_column_text(st, 3), "app", sqlite3_column_text(st, 4),
			    "dataset", sqlite3_column_text(st, 5), "category",
			    (json_int_t)sqlite3_column_int64(st, 6), "tag",
			    sqlite3_column_text(st, 7), "params", sqlite3_column_text(st, 8),
			    "beneficiary", sqlite3_column_text(st, 9), "deadline",
			    (json_int_t)sqlite3_column_int64(st, 10), "requester",
			    sqlite3_column_text(st, 11), "workerpoolAuthorization", auth, "smsUrl",
			    s->sms_url, "resultsUrl", res, "boost", sqlite3_column_int(st, 12));
			if (*out) {
				json_object_set_new(*out, "tee", json_boolean(tee));
				json_object_set_new(*out, "trust", json_integer(trust));
			}
			snprintf(now, sizeof(now), "%lld", now_s());
			const char *a[] = {taskid, worker, now};
			/* a worker that waited in a long poll was there all along */
			rc = *out ? sched_exec(
			                s, "UPDATE workers SET last_seen = ?3 WHERE address = ?2",
			                a, 3)
			          : err_set(ERR_NOMEM, "out of memory");
			/* a standard task goes to `trust` workers, each a replicate */
			if (rc == 0 && !tee)
				rc = sched_exec(
				    s,
				    "INSERT INTO replicates(taskid, worker, status, updated)"
				    " VALUES (?1, ?2, 'RUNNING', ?3)",
				    a, 3);
			if (rc == 0 && (tee || held + 1 >= trust))
				rc = sched_exec(s,
				                "UPDATE tasks SET status = 'RUNNING', worker = ?2,"
				                " assigned = ?3, updated = ?3 WHERE taskid = ?1",
				                a, 3);
			found = rc == 0;
			if (rc == 0)
				log_info("sched.task", "task=%s status=RUNNING worker=%s", taskid,
				         worker);
		}
	} else {
		rc = 0;
	}
	sqlite3_finalize(st);
	GUARD(rc);
	return found;
}

static void h_next(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	const char *w = http_req_query(req, "wait");
	long wait_s = w ? strtol(w, NULL, 10) : 0;
	struct timespec until;
	json_t *task = NULL;
	char worker[43];
	int rc;

	if (wait_s < 0 || wait_s > 60)
		wait_s = 60;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_s;
	pthread_mutex_lock(&s->mu);
	rc = bearer(s, req, worker);
	while (rc == 0 && (rc = take_task(s, worker, &task)) == 0 && !s->stop &&
	       pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&s->mu);
	if (rc < 0) {
		sched_refuse(resp, 403, "sched.next", err_msg());
		return;
	}
	if (!task) {
		http_resp_text(resp, 204, "");
		return;
	}
	http_resp_json(resp, 200, task);
}

static int is_status(const char *st)
{
	static const char *const ok[] = {"RUNNING", "COMPUTED", "CONTRIBUTING", "COMPLETED",
	                                 "FAILED"};
	for (size_t i = 0; st && i < sizeof(ok) / sizeof(*ok); i++)
		if (strcmp(st, ok[i]) == 0)
			return 1;
	return 0;
}

static void h_status(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	json_t *b = NULL;
	char worker[43], now[24], done_by[43];
	int replicate = 0;
	const char *st, *detail, *tx, *cb;
	int rc;

	if (json_parse((const char *)req->body, req->body_len, "status", &b) < 0) {
		sched_refuse(resp, 400, "sched.status", err_msg());
		return;
	}
	st = json_string_value(json_object_get(b, "status"));
	detail = json_string_value(json_object_get(b, "detail"));
	tx = json_string_value(json_object_get(b, "tx"));
	cb = json_string_value(json_object_get(b, "callbackData"));
	if (cb && (strncmp(cb, "0x", 2) != 0 || strlen(cb) > 2 + 2 * 16384 || strlen(cb) % 2 ||
	           strspn(cb + 2, "0123456789abcdefABCDEF") != strlen(cb) - 2)) {
		json_decref(b);
		sched_refuse(resp, 400, "sched.status",
		             "callbackData must be 0x hex, 16 KiB at most");
		return;
	}
	if (!is_status(st)) {
		json_decref(b);
		{
			sched_refuse(resp, 400, "sched.status", "unknown status");
			return;
		}
	}
	snprintf(now, sizeof(now), "%lld", now_s());
	pthread_mutex_lock(&s->mu);
	rc = bearer(s, req, worker);
	if (rc == 0) {
		/* a replicate of a standard task: its own status only */
		const char *r[] = {req->params[0], worker, st, now, cb};
		rc = sched_exec(s,
		                "UPDATE replicates SET status = ?3, updated = ?4,"
		                " callback = coalesce(?5, callback)"
		                " WHERE taskid = lower(?1) AND worker = ?2",
		                r, 5);
		replicate = rc == 0 && sqlite3_changes(s->db) > 0;
	}
	if (rc == 0 && !replicate) {
		/* COMPLETED is the chain's word: a worker's report is kept as
		 * detail until the ResultPushedBoost event is read. */
		const char *a[] = {req->params[0],
		                   worker,
		                   strcmp(st, "COMPLETED") == 0 ? "CONTRIBUTED" : st,
		                   detail ? detail : st,
		                   tx ? tx : "",
		                   now};
		rc = sched_exec(
		    s,
		    "UPDATE tasks SET status = ?3, detail = ?4, tx = coalesce(nullif(?5, ''), tx),"
		    " updated = ?6 WHERE taskid = lower(?1) AND worker = ?2"
		    " AND status IN " HELD,
		    a, 6);
		/* The chain may have said COMPLETED first. */
		if (rc == 0 && sqlite3_changes(s->db) == 0 &&
		    (task_field(s, req->params[0],
		                "SELECT worker FROM tasks WHERE taskid = lower(?1) AND status = "
		                "'COMPLETED'",
		                done_by, sizeof(done_by)) < 0 ||
		     strcmp(done_by, worker) != 0))
			rc = err_set(ERR_NOTFOUND, "no such running task for this worker");
	}
	pthread_mutex_unlock(&s->mu);
	if (rc == 0)
		log_info("sched.task", "task=%s worker=%s report=%s detail=\"%s\"", req->params[0],
		         worker, st, detail ? detail : "");
	if (rc < 0)
		sched_refuse(resp, rc == ERR_NOTFOUND ? 404 : 403, "sched.status", err_msg());
	else
		http_resp_json(resp, 200, json_pack("{s:s}", "status", st));
	json_decref(b);
}

/* ---------- HTTP: tasks and results ---------- */

static json_t *task_row(sqlite3_stmt *st)
{
	json_t *o = json_object();
	static const char *const cols[] = {"taskId",           "dealId",  "taskIndex", "status",
	                                   "enclaveChallenge", "worker",  "detail",    "tx",
	                                   "results",          "updated", "claimTx"};
	for (int i = 0; i < 11; i++) {
		if (sqlite3_column_type(st, i) == SQLITE_NULL)
			continue;
		if (sqlite3_column_type(st, i) == SQLITE_INTEGER)
			json_object_set_new(o, cols[i], json_integer(sqlite3_column_int64(st, i)));
		else
			json_object_set_new(o, cols[i],
			                    json_string((const char *)sqlite3_column_text(st, i)));
	}
	return o;
}

static void h_tasks(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	const char *deal = http_req_query(req, "deal");
	sqlite3_stmt *st;
	json_t *out = NULL;

	pthread_mutex_lock(&s->mu);
	if (db_prepare(
	        s->db,
	        "SELECT taskid, dealid, idx, status, enclave, worker, detail, tx, results, updated,"
	        " claim_tx"
	        " FROM tasks WHERE (?1 IS NULL AND ?2 IS NULL) OR taskid = lower(?1)"
	        " OR dealid = lower(?2) ORDER BY dealid, idx LIMIT 1000",
	        &st) == 0) {
		sqlite3_bind_text(st, 1, req->params[0], -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, deal, -1, SQLITE_TRANSIENT);
		out = json_array();
		while (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(out, task_row(st));
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->mu);
	if (!out) {
		http_resp_json(resp, 500, json_pack("{s:s}", "error", "database"));
		return;
	}
	if (req->params[0]) {
		json_t *one = json_incref(json_array_get(out, 0));
		json_decref(out);
		if (!one) {
			http_resp_json(resp, 404, json_pack("{s:s}", "error", "no such task"));
			return;
		}
		{
			http_resp_json(resp, 200, one);
			return;
		}
	}
	http_resp_json(resp, 200, out);
}

/* The signer of a 32-byte digest (EIP-191) from an Authorization header. */
static int auth_signer32(const struct http_req *req, const uint8_t digest[32], char out[43])
{
	const char *a = http_req_header(req, "Authorization");
	uint8_t h[32], sig[65], who[20];
	ENSURE(a && strlen(a) == 132 && strncmp(a, "0x", 2) == 0, ERR_VERIFY, "no signature");
	GUARD(hex_decode_exact(sig, 65, a + 2, "signature"));
	eip191_hash32(digest, h);
	GUARD(k1_recover(h, sig, who));
	eth_addr_str(who, out);
	for (char *p = out; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
	return 0;
}

/* The signer of keccak(msg) (EIP-191) from an Authorization header. */
static int auth_signer(const struct http_req *req, const uint8_t *msg, size_t len, char out[43])
{
	uint8_t h[32];
	keccak256(msg, len, h);
	return auth_signer32(req, h, out);
}

/* The ?expires= of a download authorization: unix seconds, decimal. */
static int download_expiry(const struct http_req *req, uint64_t *out)
{
	const char *e = http_req_query(req, "expires");
	size_t n = e ? strlen(e) : 0;
	ENSURE(n > 0 && n <= 19, ERR_VERIFY, "no expiry (?expires=UNIX_SECONDS)");
	*out = 0;
	for (size_t i = 0; i < n; i++) {
		ENSURE(e[i] >= '0' && e[i] <= '9', ERR_VERIFY, "bad expiry");
		*out = *out * 10 + (uint64_t)(e[i] - '0');
	}
	return proto_expiry_check(*out, (uint64_t)now_s(), PROTO_EXPIRY_MAX_AHEAD);
}

static int valid_task_id(const char *id)
{
	uint8_t t[32];
	return id && strlen(id) == 66 && strncmp(id, "0x", 2) == 0 &&
	       hex_decode_exact(t, 32, id + 2, "taskid") == 0;
}

/* The result store's rules for an upload of sha256 `sum` signed by
 * `signer` (s->mu held; docs/pool.md):
 *   a TEE task: signed by its enclave challenge, held by a worker
 *     (RUNNING .. CONTRIBUTED), and the first upload stands;
 *   a replicated standard task: signed by one of its replicates' workers
 *     that has not reported FAILED, one upload per replicate, while the task
 *     is open; the result served is chosen at finalization.
 * Returns 0 (store it), 200 (this very upload is stored already: a retry),
 * or the HTTP status of the refusal with *why. */
static int upload_rule(struct sched *s, const char *id, const char *signer, const char *sum,
                       int *replicate, const char **why)
{
	char enclave[43] = "", status[24] = "", worker[43] = "", rstatus[24] = "", have[65] = "";
	const char *held[] = {"RUNNING", "COMPUTED", "CONTRIBUTING", "CONTRIBUTED"};
	int is_held = 0;

	*replicate = 0;
	if (task_field(s, id, "SELECT status FROM tasks WHERE taskid = lower(?1)", status,
	               sizeof(status)) < 0) {
		*why = "no such task";
		return 404;
	}
	task_field(s, id, "SELECT enclave FROM tasks WHERE taskid = lower(?1)", enclave,
	           sizeof(enclave));
	task_field(s, id, "SELECT worker FROM tasks WHERE taskid = lower(?1)", worker,
	           sizeof(worker));
	for (size_t i = 0; i < sizeof(held) / sizeof(*held); i++)
		is_held |= strcmp(status, held[i]) == 0;
	if (strcmp(enclave, ZERO_ADDRESS) != 0) {
		if (!enclave[0] || strcmp(signer, enclave) != 0) {
			*why = "not signed by the task's enclave challenge";
			return 403;
		}
		if (task_field(s, id, "SELECT sha256 FROM results WHERE taskid = lower(?1)", have,
		               sizeof(have)) == 0) {
			*why = "a result is already stored for this task: the first upload stands";
			return strcmp(have, sum) == 0 ? 200 : 409;
		}
		if (!is_held || !worker[0]) {
			*why = "the task is not held by a worker";
			return 403;
		}
		return 0;
	}
	*replicate = 1;
	{
		char sql[200];
		snprintf(sql, sizeof(sql),
		         "SELECT status FROM replicates WHERE taskid = lower(?1) AND worker = '%s'",
		         signer);
		if (task_field(s, id, sql, rstatus, sizeof(rstatus)) < 0) {
			*why = "not signed by a worker holding the task";
			return 403;
		}
		if (strcmp(rstatus, "FAILED") == 0) {
			*why = "this replicate reported FAILED: its result is not stored";
			return 403;
		}
		snprintf(sql, sizeof(sql),
		         "SELECT sha256 FROM uploads WHERE taskid = lower(?1) AND worker = '%s'",
		         signer);
		if (task_field(s, id, sql, have, sizeof(have)) == 0) {
			*why = "this replicate's result is already stored: the first upload stands";
			return strcmp(have, sum) == 0 ? 200 : 409;
		}
	}
	if (strcmp(status, "COMPLETED") == 0 || strcmp(status, "FAILED") == 0) {
		*why = "the task is over: its result is final";
		return 409;
	}
	return 0;
}

static void upload_refused(struct http_resp *resp, int status, const char *id, const char *signer,
                           const char *why)
{
	log_warn("sched.result", "task=%s signer=%s status=%d refused=\"%s\"", id, signer, status,
	         why);
	http_resp_json(resp, status, json_pack("{s:s}", "error", why));
}

static void h_result_put(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	const char *id = req->params[0], *why = "";
	uint8_t msg[64], sum[32], rnd[8];
	char signer[43], hex[65], path[1200], staged[1200], size[24], now[24], rh[17];
	int rc, st, replicate;

	if (!valid_task_id(id)) {
		sched_refuse(resp, 400, "sched.result", "bad task id");
		return;
	}
	hex_decode_exact(msg, 32, id + 2, "taskid");
	SHA256(req->body, req->body_len, sum);
	memcpy(msg + 32, sum, 32);
	if (auth_signer(req, msg, 64, signer) < 0) {
		sched_refuse(resp, 403, "sched.result", err_msg());
		return;
	}
	hex_encode(hex, sum, 32);
	snprintf(path, sizeof(path), "%s/%s", s->results_dir, hex);
	/* a first look, before writing anything */
	pthread_mutex_lock(&s->mu);
	st = upload_rule(s, id, signer, hex, &replicate, &why);
	pthread_mutex_unlock(&s->mu);
	if (st != 0 && st != 200) {
		upload_refused(resp, st, id, signer, why);
		return;
	}
	if (st == 0) {
		/* staged under a name the collector leaves alone, then put in
		 * place and recorded at once, the rules checked again */
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			sched_refuse(resp, 500, "sched.result", "no randomness");
			return;
		}
		hex_encode(rh, rnd, sizeof(rnd));
		snprintf(staged, sizeof(staged), "%s/.upload-%s", s->results_dir, rh);
		if (file_write(staged, req->body, req->body_len, 0600) < 0) {
			sched_refuse(resp, 500, "sched.result", err_msg());
			return;
		}
		snprintf(size, sizeof(size), "%zu", req->body_len);
		snprintf(now, sizeof(now), "%lld", now_s());
		pthread_mutex_lock(&s->mu);
		st = upload_rule(s, id, signer, hex, &replicate, &why);
		rc = 0;
		if (st == 0) {
			const char *a[] = {id, hex, size, now, signer};
			rc = rename(staged, path) == 0
			         ? 0
			         : err_set(ERR_IO, "%s: %s", path, strerror(errno));
			if (rc == 0)
				rc = sched_exec(s,
				                replicate
				                    ? "INSERT INTO uploads VALUES (lower(?1), ?5,"
				                      " ?2, ?3, ?4)"
				                    : "INSERT INTO results VALUES (lower(?1), ?2,"
				                      " ?3, ?4)",
				                a, replicate ? 5 : 4);
			if (rc < 0)
				unlink_unreferenced(s, hex);
		}
		pthread_mutex_unlock(&s->mu);
		unlink(staged); /* still there when refused or failed */
		if (rc < 0) {
			sched_refuse(resp, 500, "sched.result", err_msg());
			return;
		}
		if (st != 0 && st != 200) {
			upload_refused(resp, st, id, signer, why);
			return;
		}
	}
	log_info("sched.result", "task=%s sha256=%s bytes=%zu signer=%s%s", id, hex, req->body_len,
	         signer,
	         st == 200   ? " retry=1"
	         : replicate ? " replicate=1"
	                     : "");
	snprintf(path, sizeof(path), "%s/results/%s", s->public_url, id);
	http_resp_json(resp, 200, json_pack("{s:s,s:s}", "sha256", hex, "location", path));
}

static void h_result_get(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	const char *id = req->params[0];
	uint8_t tid[32], ben[20], h[32], *buf;
	uint64_t expiry = 0;
	size_t len;
	char signer[43], beneficiary[43], sum[65], path[1200];
	int rc;

	if (!valid_task_id(id)) {
		sched_refuse(resp, 400, "sched.result", "bad task id");
		return;
	}
	hex_decode_exact(tid, 32, id + 2, "taskid");
	if (download_expiry(req, &expiry) < 0) {
		sched_refuse(resp, 403, "sched.result", err_msg());
		return;
	}
	pthread_mutex_lock(&s->mu);
	rc = task_field(s, id,
	                "SELECT d.beneficiary FROM tasks t JOIN deals d USING(dealid)"
	                " WHERE t.taskid = lower(?1)",
	                beneficiary, sizeof(beneficiary));
	if (rc == 0)
		rc = task_field(s, id, "SELECT sha256 FROM results WHERE taskid = lower(?1)", sum,
		                sizeof(sum));
	pthread_mutex_unlock(&s->mu);
	if (rc < 0) {
		http_resp_json(resp, 404, json_pack("{s:s}", "error", "no such result"));
		return;
	}
	/* the authorization names the beneficiary: its digest is made with the
	 * deal's, and the signer must be that very address */
	if (eth_addr_parse(beneficiary, ben) < 0) {
		sched_refuse(resp, 500, "sched.result", err_msg());
		return;
	}
	proto_result_download_hash(s->chain->chain_id, tid, ben, expiry, h);
	if (auth_signer32(req, h, signer) < 0) {
		sched_refuse(resp, 403, "sched.result", err_msg());
		return;
	}
	if (strcmp(signer, beneficiary) != 0) {
		sched_refuse(resp, 403, "sched.result", "not signed by the beneficiary");
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", s->results_dir, sum);
	if (file_read(path, RESULT_MAX, &buf, &len) < 0) {
		sched_refuse(resp, 500, "sched.result", err_msg());
		return;
	}
	resp->status = 200;
	resp->content_type = "application/zip";
	resp->body = (char *)buf;
	resp->len = len;
}

/* POST /workers/ping: a worker busy with a task is still there. */
static void h_ping(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	char worker[43];
	int rc;
	pthread_mutex_lock(&s->mu);
	rc = bearer(s, req, worker);
	pthread_mutex_unlock(&s->mu);
	if (rc < 0)
		sched_refuse(resp, 403, "sched.ping", err_msg());
	else
		http_resp_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

/* Body caps: the server's default (4 KiB) unless a route declares more; only
 * the result upload, signed by the task's enclave or worker key, is large. */
#define JSON_BODY  (64u << 10) /* a registration (a quote in base64), a status */
#define ORDER_BODY (16u << 10)

static const struct http_route routes[] = {
    {"POST", "/workers/ping", h_ping, "worker_ping", 0},
    {"POST", "/workers/challenge", h_challenge, "worker_challenge", 0},
    {"POST", "/workers/register", h_register, "worker_register", JSON_BODY},
    {"GET", "/workers/next", h_next, "worker_next", 0},
    {"POST", "/workers/tasks/*/status", h_status, "worker_status", JSON_BODY},
    {"GET", "/tasks", h_tasks, "tasks", 0},
    {"GET", "/tasks/*", h_tasks, "task", 0},
    {"POST", "/results/*", h_result_put, "result_upload", RESULT_MAX},
    {"GET", "/results/*", h_result_get, "result_download", 0},
    {"POST", "/orders/*", sched_h_order_post, "order_publish", ORDER_BODY},
    {"GET", "/orders/*", sched_h_order_list, "order_list", 0},
    {"GET", "/challenge", sched_h_api_challenge, "market_challenge", 0},
    {"POST", "/apporders", sched_h_api_publish, "market_publish", ORDER_BODY},
    {"POST", "/datasetorders", sched_h_api_publish, "market_publish", ORDER_BODY},
    {"POST", "/workerpoolorders", sched_h_api_publish, "market_publish", ORDER_BODY},
    {"POST", "/requestorders", sched_h_api_publish, "market_publish", ORDER_BODY},
    {"GET", "/apporders", sched_h_api_list, "market_list", 0},
    {"GET", "/datasetorders", sched_h_api_list, "market_list", 0},
    {"GET", "/workerpoolorders", sched_h_api_list, "market_list", 0},
    {"GET", "/requestorders", sched_h_api_list, "market_list", 0},
    {NULL, NULL, NULL, NULL, 0},
};

/* ---------- lifecycle ---------- */

/* GET /status and /metrics: the collateral the gates hold. */
static json_t *sched_status(void *ctx)
{
	struct sched *s = ctx;
	return json_pack("{s:o,s:o}", "collateral", tdx_gate_status(&s->gate), "sms_collateral",
	                 tdx_gate_status(&s->sms_gate));
}

static void sched_metrics(void *ctx, struct wbuf *w)
{
	tdx_gate_metrics(&((struct sched *)ctx)->gate, w);
}

int sched_start(const struct sched_config *cfg, struct sched **out)
{
	struct sched *s = calloc(1, sizeof(*s));
	struct http_server_opts ho = {0};
	uint8_t owner[20];
	json_t *pool = NULL;
	int rc;

	ENSURE(s, ERR_NOMEM, "out of memory");
	s->cfg = *cfg;
	if (!s->cfg.poll_ms)
		s->cfg.poll_ms = 500;
	if (!s->cfg.worker_timeout_s)
		s->cfg.worker_timeout_s = 30;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	rc = (cfg->chain_path || cfg->chain_network) && cfg->workerpool && cfg->sms_url &&
	             cfg->db_path && cfg->results_dir && cfg->collateral
	         ? 0
	         : err_set(ERR_INVAL, "scheduler: chain, workerpool, sms, db, results and "
	                              "collateral are required");
	if (rc == 0)
		rc = eth_addr_parse(cfg->workerpool, s->pool);
	if (rc == 0) {
		memcpy(s->pool_topic + 12, s->pool, 20);
		rc = http_base_url(s->sms_url, sizeof(s->sms_url), cfg->sms_url);
	}
	if (rc == 0) {
		snprintf(s->results_dir, sizeof(s->results_dir), "%s", cfg->results_dir);
		rc = dir_create(cfg->results_dir, 0700);
	}
	if (rc == 0)
		rc =
		    poco_chain_open(cfg->chain_path, cfg->chain_network, cfg->chain_rpc, &s->chain);
	/* Without Boost (iExec's Arbitrum deployments), TEE deals are classic:
	 * SchedulerNotice, initialize, contributeAndFinalize. */
	if (rc == 0) {
		char why[256];
		rc = poco_boost_detect(s->chain, &s->boost, why, sizeof(why));
		if (rc == 0)
			log_info("sched.chain", "chain_id=%llu mode=%s reason=\"%s\"",
			         (unsigned long long)s->chain->chain_id,
			         s->boost ? "boost" : "classic", why);
	}
	/* its transactions (initialize, finalize, claims) through a manager:
	 * a dropped one re-sent, a stuck one replaced under the fee cap */
	if (rc == 0) {
		struct eth_txm_config tc = {.max_fee = cfg->max_fee};
		rc = eth_rpc_manage(s->chain->rpc, cfg->owner_key, &tc);
	}
	/* The key must be the pool owner's, or nothing it signs will pass. */
	if (rc == 0)
		rc = poco_asset_show(s->chain, POCO_WORKERPOOL, s->pool, &pool);
	if (rc == 0)
		rc = k1_address(cfg->owner_key, owner);
	if (rc == 0) {
		uint8_t o[20];
		const char *os = json_string_value(json_object_get(pool, "owner"));
		if (!os || eth_addr_parse(os, o) < 0 || memcmp(o, owner, 20) != 0)
			rc = err_set(ERR_INVAL,
			             "scheduler: the key is not the owner of workerpool %s",
			             cfg->workerpool);
	}
	json_decref(pool);
	if (rc == 0)
		rc = tdx_gate_open(&s->gate, cfg->collateral, cfg->trust_sim_root, cfg->policy,
		                   "sched.attest");
	if (rc == 0 && cfg->sms_policy) {
		rc = tdx_gate_open(&s->sms_gate, cfg->collateral, cfg->trust_sim_root,
		                   cfg->sms_policy, "sched.sms");
		s->sms_peer.check = tdx_ratls_peer_check;
		s->sms_peer.ctx = &s->sms_gate;
	}
	if (rc == 0)
		rc = http_nonces_new(CHALLENGE_WINDOW, CHALLENGE_USES, &s->worker_nonces);
	if (rc == 0)
		rc = http_nonces_new(CHALLENGE_WINDOW, CHALLENGE_USES, &s->market_nonces);
	if (rc == 0)
		rc = db_open(cfg->db_path, migrations, &s->db);
	if (rc == 0)
		rc = results_gc(s); /* what an earlier run left unreferenced */
	if (rc == 0) {
		ho.address = cfg->address;
		ho.port = cfg->port;
		ho.threads = cfg->threads > 0 ? cfg->threads : 4;
		ho.max_body = 4u << 10;
		ho.max_conns = cfg->max_conns;
		ho.max_conns_per_ip = cfg->max_conns_per_ip;
		ho.body_budget = 2 * (size_t)RESULT_MAX; /* two full uploads at once */
		ho.status = sched_status;
		ho.metrics = sched_metrics;
		rc = http_server_start(&ho, routes, s, &s->http);
	}
	if (rc == 0) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "http://%s:%d",
		         cfg->address ? cfg->address : "127.0.0.1", http_server_port(s->http));
		rc = http_base_url(s->public_url, sizeof(s->public_url),
		                   cfg->public_url ? cfg->public_url : tmp);
		if (rc == 0 && cfg->port_file) {
			snprintf(tmp, sizeof(tmp), "%d\n", http_server_port(s->http));
			rc = file_write(cfg->port_file, tmp, strlen(tmp), 0644);
		}
	}
	if (rc == 0) {
		rc = pthread_create(&s->follower, NULL, follower_main, s) == 0
		         ? 0
		         : err_set(ERR_IO, "scheduler: cannot start the chain follower");
		s->follower_on = rc == 0;
	}
	if (rc < 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", err_msg());
		sched_stop(s);
		return err_set(rc, "%s", msg);
	}
	*out = s;
	return 0;
}

int sched_port(const struct sched *s)
{
	return http_server_port(s->http);
}

void sched_stop(struct sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->follower_on)
		pthread_join(s->follower, NULL);
	if (s->http)
		http_server_stop(s->http);
	db_close(s->db);
	http_nonces_free(s->worker_nonces);
	http_nonces_free(s->market_nonces);
	tdx_gate_close(&s->gate);
	tdx_gate_close(&s->sms_gate);
	poco_chain_free(s->chain);
	OPENSSL_cleanse(s->cfg.owner_key, 32);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
