/* tasks.c — the task lifecycle: RECEIVED tasks get their enclave challenge
 * (and a classic task its initialize), replicated tasks are finalized or
 * reopened, tasks of a lost worker are requeued and tasks past their deadline
 * claimed; and GET /tasks. */
#include "internal.h"

#include "../worker/result.h"

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

/* Classic tasks initialized, and claimed, per transaction: PoCo's
 * initializeArray and claimArray loop over initialize and claim, so a batch
 * costs per task a little less than one by one (measured on Anvil: 1.40M
 * gas for 8 tasks, 5.42M for 32, 168k for each one more; a lone initialize
 * 222k to 242k) and takes one block instead of one block per task.  32
 * tasks stay far below a block's gas limit (30M and more on Ethereum and
 * Arbitrum) and bound what a batch that reverts wastes. */
#define TASK_BATCH 32

/* A task's status on chain (0 UNSET, 1 ACTIVE, 2 REVEALING, 3 COMPLETED,
 * 4 FAILED) and its final deadline. */
static int chain_task(struct sched *s, const char *taskid, long long *status, uint64_t *deadline)
{
	uint8_t tid[32];
	json_t *task = NULL;

	GUARD(hex_decode_exact(tid, 32, taskid + 2, "taskid"));
	GUARD(poco_view(s->chain, "viewTask", tid, &task));
	*status = json_get_ll(task, "status", 0);
	if (deadline)
		*deadline = (uint64_t)json_get_ll(task, "finalDeadline", 0);
	json_decref(task);
	return 0;
}

/* `call` ("initializeArray" or "claimArray") for the tasks p[todo[0..m-1]]:
 * bytes32[] deal ids and uint256[] indexes, or bytes32[] task ids.  Its
 * outcome logged, and its transaction's hash in tx once mined. */
static int send_array(struct sched *s, const char *call, const struct pending *p, const int *todo,
                      int m, char tx[67])
{
	int init = strcmp(call, "initializeArray") == 0;
	const char *ev = init ? "sched.task" : "sched.claim";
	json_t *ids = json_array(), *idx = json_array();
	struct eth_receipt r;
	uint8_t id[32];
	char n[24];
	int rc = ids && idx ? 0 : err_set(ERR_NOMEM, "out of memory");

	for (int k = 0; rc == 0 && k < m; k++) {
		const struct pending *t = &p[todo[k]];
		rc = hex_decode_exact(id, 32, (init ? t->dealid : t->taskid) + 2, "id");
		if (rc == 0 && json_array_append_new(ids, eth_json_hex(id, 32)) < 0)
			rc = err_set(ERR_NOMEM, "out of memory");
		snprintf(n, sizeof(n), "%lld", t->idx);
		if (rc == 0 && init && json_array_append_new(idx, json_string(n)) < 0)
			rc = err_set(ERR_NOMEM, "out of memory");
	}
	if (rc < 0) {
		json_decref(ids);
		json_decref(idx);
	} else if (init) {
		rc = poco_send(s->chain->rpc, s->cfg.owner_key, s->chain->hub,
		               "initializeArray(bytes32[],uint256[])", json_pack("[o,o]", ids, idx),
		               &r);
	} else {
		json_decref(idx);
		rc = poco_send(s->chain->rpc, s->cfg.owner_key, s->chain->hub,
		               "claimArray(bytes32[])", json_pack("[o]", ids), &r);
	}
	if (rc < 0) {
		log_warn(ev, "call=%s tasks=%d error=\"%s\"", call, m, err_msg());
		return rc;
	}
	hex_encode_0x(tx, r.tx_hash, 32);
	log_info(ev, "call=%s tasks=%d gas=%llu tx=%s", call, m, (unsigned long long)r.gas_used,
	         tx);
	eth_receipt_free(&r);
	return 0;
}

/* A classic task exists on chain once it is initialized.  ready[i] becomes
 * 1 for each task of p the chain holds: initialized here, or earlier (by an
 * earlier run, or by anyone: PoCo lets anyone initialize, and a batch
 * holding one initialized task reverts whole, so those are left out first).
 * The others go in one initializeArray; should it still revert (a task
 * initialized meanwhile), one by one, so that no task blocks the others. */
static void initialize_classic(struct sched *s, const struct pending *p, int n, int *ready)
{
	struct eth_receipt r;
	int todo[TASK_BATCH], m = 0;
	long long st;
	char tx[67];

	for (int i = 0; i < n; i++) {
		ready[i] = p[i].boost;
		if (p[i].boost)
			continue;
		if (chain_task(s, p[i].taskid, &st, NULL) < 0)
			log_warn("sched.task", "task=%s status=RECEIVED initialize=\"%s\"",
			         p[i].taskid, err_msg());
		else if (st != 0)
			ready[i] = 1;
		else
			todo[m++] = i;
	}
	if (m > 1) {
		if (send_array(s, "initializeArray", p, todo, m, tx) == 0) {
			for (int k = 0; k < m; k++) {
				ready[todo[k]] = 1;
				log_info("sched.task", "task=%s status=INITIALIZING tx=%s",
				         p[todo[k]].taskid, tx);
			}
			return;
		}
		if (!strstr(err_msg(), "revert"))
			return; /* the node may be back next round */
	}
	for (int k = 0; k < m; k++) {
		const struct pending *t = &p[todo[k]];
		uint8_t did[32];
		char idx[24];
		/* after a reverted batch: maybe initialized meanwhile */
		if (m > 1 && chain_task(s, t->taskid, &st, NULL) == 0 && st != 0) {
			ready[todo[k]] = 1;
			continue;
		}
		snprintf(idx, sizeof(idx), "%lld", t->idx);
		if (hex_decode_exact(did, 32, t->dealid + 2, "dealid") < 0 ||
		    poco_send(s->chain->rpc, s->cfg.owner_key, s->chain->hub,
		              "initialize(bytes32,uint256)",
		              json_pack("[o,s]", eth_json_hex(did, 32), idx), &r) < 0) {
			log_warn("sched.task", "task=%s status=RECEIVED initialize=\"%s\"",
			         t->taskid, err_msg());
			continue;
		}
		hex_encode_0x(tx, r.tx_hash, 32);
		log_info("sched.task", "task=%s status=INITIALIZING gas=%llu tx=%s", t->taskid,
		         (unsigned long long)r.gas_used, tx);
		eth_receipt_free(&r);
		ready[todo[k]] = 1;
	}
}

/* RECEIVED -> INITIALIZED: classic tasks are initialized on chain, and
 * each task gets its enclave challenge. */
int sched_initialize_tasks(struct sched *s)
{
	struct pending p[TASK_BATCH];
	int ready[TASK_BATCH];
	sqlite3_stmt *st;
	int n = 0, rc;
	char enclave[43], now[24];

	pthread_mutex_lock(&s->mu);
	/* TEE tasks (tag bit 0), and standard tasks of classic deals. */
	rc = db_prepare(s->db,
	                "SELECT t.taskid, t.dealid, t.idx, d.boost, " TEE_SQL " FROM tasks t"
	                " JOIN deals d USING(dealid) WHERE t.status = 'RECEIVED' AND"
	                " (" TEE_SQL " OR d.boost = 0) ORDER BY t.updated LIMIT ?1",
	                &st);
	if (rc == 0)
		sqlite3_bind_int(st, 1, TASK_BATCH);
	while (rc == 0 && n < TASK_BATCH && sqlite3_step(st) == SQLITE_ROW) {
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
	initialize_classic(s, p, n, ready);
	for (int i = 0; i < n; i++) {
		if (!ready[i])
			continue; /* not on chain yet: next round */
		/* a standard task has no enclave */
		if (!p[i].tee)
			snprintf(enclave, sizeof(enclave), "%s", ZERO_ADDRESS);
		else if (enclave_challenge(s, p[i].taskid, p[i].boost ? p[i].dealid : NULL,
		                           p[i].idx, enclave) < 0) {
			log_warn("sched.task", "task=%s status=RECEIVED error=\"%s\"", p[i].taskid,
			         err_msg());
			return 0; /* the SMS may be restarting: next round */
		}
		snprintf(now, sizeof(now), "%lld", sched_now());
		const char *a[] = {p[i].taskid, enclave, now};
		pthread_mutex_lock(&s->mu);
		rc = sched_exec(
		    s,
		    "UPDATE tasks SET status = 'INITIALIZED', enclave = lower(?2), updated = ?3"
		    " WHERE taskid = ?1 AND status = 'RECEIVED'",
		    a, 3);
		sched_tasks_ready(s);
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
	rc = sched_task_field(s, taskid, "SELECT taskid FROM results WHERE taskid = ?1", workers[0],
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
int sched_finalize_tasks(struct sched *s)
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
		rc = sched_task_field(
		    s, ids[i],
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
int sched_reopen_tasks(struct sched *s)
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
	snprintf(now, sizeof(now), "%lld", sched_now());
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
			sched_tasks_ready(s);
		}
		pthread_mutex_unlock(&s->mu);
		GUARD(rc);
	}
	return 0;
}

/* A claim sent: the task FAILED, refunded (s->mu taken here). */
static int claimed(struct sched *s, const char *taskid, const char *tx, const char *now)
{
	const char *a[] = {taskid, tx, now};
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = sched_exec(
	    s,
	    /* a worker's reason for the failure stays in front */
	    "UPDATE tasks SET detail = CASE WHEN status = 'FAILED' AND detail IS NOT NULL"
	    " THEN detail || '; claimed after the deadline'"
	    " ELSE 'claimed after the deadline' END, status = 'FAILED',"
	    " claim_tx = ?2, updated = ?3 WHERE taskid = ?1",
	    a, 3);
	/* refunded: whatever was uploaded for it is no result */
	if (rc == 0)
		rc = sched_drop_task_files(s, taskid, 1, 1);
	pthread_mutex_unlock(&s->mu);
	log_warn("sched.task", "task=%s status=FAILED claimed=%s", taskid, tx);
	return rc;
}

/* Classic tasks the chain lets claim now (ACTIVE or REVEALING, past their
 * final deadline) go in one claimArray: a batch holding one task that
 * cannot be claimed reverts whole, so any other task (and the batch, should
 * it fail) is left to claim or claimBoost, one by one.  done[i] = 1 for
 * each task claimed here. */
static int claim_classic(struct sched *s, const struct pending *p, int n, uint64_t chain_ts,
                         const char *now, int *done)
{
	int todo[TASK_BATCH], m = 0, rc = 0;
	long long st;
	uint64_t deadline;
	char tx[67];

	for (int i = 0; i < n; i++) {
		done[i] = 0;
		if (!p[i].boost && chain_task(s, p[i].taskid, &st, &deadline) == 0 &&
		    (st == 1 || st == 2) && deadline <= chain_ts)
			todo[m++] = i;
	}
	/* a failed batch: one by one, as for any other task */
	if (m < 2 || send_array(s, "claimArray", p, todo, m, tx) < 0)
		return 0;
	for (int k = 0; k < m; k++) {
		done[todo[k]] = 1;
		if (rc == 0)
			rc = claimed(s, p[todo[k]].taskid, tx, now);
	}
	return rc;
}

/* Tasks of a silent worker go back to the queue; tasks past their deadline
 * are claimed so the requester is refunded. */
int sched_watch_deadlines(struct sched *s)
{
	struct pending p[TASK_BATCH];
	int done[TASK_BATCH];
	sqlite3_stmt *st;
	char lost[24], now[24], chain_ts[24];
	uint64_t ts = 0;
	int n = 0, rc;

	GUARD(chain_now(s, &ts));
	snprintf(chain_ts, sizeof(chain_ts), "%llu", (unsigned long long)ts);
	snprintf(now, sizeof(now), "%lld", sched_now());
	snprintf(lost, sizeof(lost), "%lld", sched_now() - s->cfg.worker_timeout_s);
	pthread_mutex_lock(&s->mu);
	{
		const char *a[] = {lost, now};
		rc = sched_exec(
		    s,
		    "UPDATE tasks SET status = 'INITIALIZED', lost_worker = worker, worker = NULL,"
		    " updated = ?2, detail = 'worker lost' WHERE status = 'RUNNING' AND worker IN"
		    " (SELECT address FROM workers WHERE last_seen < ?1)",
		    a, 2);
		if (rc == 0 && sqlite3_changes(s->db) > 0) {
			log_warn("sched.task", "reassigned=%d reason=\"worker lost\"",
			         sqlite3_changes(s->db));
			sched_tasks_ready(s);
		}
	}
	if (rc == 0)
		rc = db_prepare(
		    s->db,
		    "SELECT t.taskid, t.dealid, t.idx, d.boost FROM tasks t JOIN deals d "
		    "USING(dealid)"
		    " WHERE t.status NOT IN ('COMPLETED', 'REORGED') AND t.claim_tx IS NULL"
		    " AND d.deadline < ?1 LIMIT ?2",
		    &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, chain_ts, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, TASK_BATCH);
		while (n < TASK_BATCH && sqlite3_step(st) == SQLITE_ROW) {
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
	GUARD(claim_classic(s, p, n, ts, now, done));
	for (int i = 0; i < n; i++) {
		struct eth_receipt r;
		uint8_t did[32], tid[32];
		char tx[67], idx[24];
		if (done[i])
			continue;
		GUARD(hex_decode_exact(did, 32, p[i].dealid + 2, "dealid"));
		GUARD(hex_decode_exact(tid, 32, p[i].taskid + 2, "taskid"));
		snprintf(idx, sizeof(idx), "%lld", p[i].idx);
		/* Boost tasks: PoCo has no array form of claimBoost */
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
		rc = claimed(s, p[i].taskid, tx, now);
	}
	return rc;
}

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
	/* a failed task's detail is why it failed */
	const char *status = json_string_value(json_object_get(o, "status"));
	if (status && !strcmp(status, "FAILED") && json_object_get(o, "detail"))
		json_object_set(o, "reason", json_object_get(o, "detail"));
	return o;
}

void sched_h_tasks(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	const char *deal = http_req_query(req, "deal");
	sqlite3_stmt *st;
	json_t *out = NULL;

	/* A deal's tasks stay open to whoever knows the deal (requesters
	 * follow theirs); any other listing is the operator's (admin.c). */
	if (!req->params[0] &&
	    (!deal || http_req_query(req, "status") || http_req_query(req, "since") ||
	     http_req_query(req, "limit") || http_req_query(req, "before"))) {
		sched_h_task_list(ctx, req, resp);
		return;
	}

	if (db_prepare(
	        s->rdb,
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
