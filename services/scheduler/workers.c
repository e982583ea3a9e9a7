/* workers.c — the worker API: challenge, registration by an admitted TD
 * quote, the long poll for the next task, status reports and pings. */
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
#include "util/metrics.h"

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

void sched_refuse(struct http_resp *resp, int status, const char *ev, const char *why)
{
	log_warn(ev, "refused=\"%s\"", why);
	http_resp_json(resp, status,
	               json_pack("{s:s}", "error", status == 403 ? "forbidden" : why));
}

#define WORKER_NONCE "tdexec-worker-register"

/* POST /workers/challenge: a nonce made without keeping anything, so no
 * number of callers can use up what a worker needs to register. */
void sched_h_challenge(void *ctx, const struct http_req *req, struct http_resp *resp)
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

/* What a refused worker is told: which check failed, in words that give
 * away nothing of the pool's policy values or of this machine (the log
 * keeps the whole message).  `gate`: the quote's own check failed (else
 * the request's: nonce, signature, REPORTDATA, which the worker made). */
static void public_reason(const char *msg, int gate, char *out, size_t cap)
{
	if (!gate)
		snprintf(out, cap, "%.300s", msg);
	else if (strstr(msg, "root is not the trusted Intel SGX root CA"))
		snprintf(out, cap,
		         "simulated TD not trusted: the quote's PCK certificate chain does not "
		         "end at the Intel SGX root CA (a simulated TD is admitted only by a "
		         "scheduler started with --trust-sim-root)");
	else if (strncmp(msg, "policy: ", 8) == 0)
		snprintf(out, cap, "not in the pool's policy: %.300s", msg + 8);
	else
		snprintf(out, cap, "quote does not verify: %.300s", msg);
}

static int admit(struct sched *s, const struct http_req *req, uint8_t worker[20],
                 struct tdx_verdict *v, char qsha[65], char mrtd[97], char *why, size_t why_cap,
                 const char **reason)
{
	json_t *b = NULL;
	uint8_t nonce[32], h[32], sig[65], who[20], rd[64], *quote = NULL;
	size_t qlen = 0;
	struct tdx_quote *q = NULL;
	const char *auth = http_req_header(req, "Authorization");
	int rc;

	*reason = "bad_request";
	GUARD(json_parse((const char *)req->body, req->body_len, "register", &b));
	const char *addr = json_string_value(json_object_get(b, "address"));
	rc = addr ? eth_addr_parse(addr, worker) : err_set(ERR_INVAL, "register: address missing");
	if (rc == 0)
		rc = json_get_hex(b, "nonce", nonce, 32, 0);
	if (rc == 0) { /* ours and fresh, before any costly check */
		*reason = "nonce";
		rc = http_nonce_check(s->worker_nonces, WORKER_NONCE, nonce);
	}
	if (rc == 0 && http_nonce_used(s->worker_nonces, nonce))
		rc = err_set(ERR_VERIFY, "nonce already used");
	const char *qb = json_string_value(json_object_get(b, "quote"));
	if (rc == 0) {
		*reason = "bad_request";
		rc = qb ? base64_decode(qb, strlen(qb), &quote, &qlen)
		        : err_set(ERR_INVAL, "register: quote missing");
	}
	if (rc == 0) {
		*reason = "signature";
		rc = auth && strlen(auth) == 132 ? hex_decode_exact(sig, 65, auth + 2, "signature")
		                                 : err_set(ERR_VERIFY, "register: no signature");
	}
	if (rc == 0) {
		proto_worker_register_hash(s->chain->chain_id, s->public_url, nonce, worker, h);
		eip191_hash32(h, h);
		rc = k1_recover(h, sig, who);
	}
	if (rc == 0 && memcmp(who, worker, 20) != 0)
		rc = err_set(ERR_VERIFY,
		             "the signature is not the worker's registration with %s on chain %llu",
		             s->public_url, (unsigned long long)s->chain->chain_id);
	if (rc < 0)
		public_reason(err_msg(), 0, why, why_cap);
	if (rc == 0 && (rc = tdx_gate_check(&s->gate, quote, qlen, &q, v)) < 0) {
		*reason = tdx_gate_refusal() ? tdx_gate_refusal() : "quote_invalid";
		public_reason(err_msg(), 1, why, why_cap);
	}
	if (rc == 0)
		hex_encode(mrtd, q->body.mrtd, 48);
	if (rc == 0) {
		*reason = "report_data";
		proto_worker_report_data(nonce, worker, rd);
		if (CRYPTO_memcmp(rd, q->body.report_data, 64) != 0)
			rc = err_set(ERR_VERIFY, "REPORTDATA does not bind this nonce and worker");
	}
	/* single use, recorded only once everything else held: only an admitted
	 * worker fills the replay set */
	if (rc < 0 && q)
		public_reason(err_msg(), 0, why, why_cap);
	if (rc == 0 && (rc = http_nonce_use(s->worker_nonces, nonce)) < 0)
		*reason = rc == ERR_BUSY ? "busy" : "nonce";
	if (rc == 0) {
		SHA256(quote, qlen, h);
		hex_encode(qsha, h, 32);
	}
	tdx_quote_free(q);
	free(quote);
	json_decref(b);
	return rc;
}

void sched_h_register(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	uint8_t worker[20], tok[32];
	struct tdx_verdict v;
	char addr[43], qsha[65], token[65], th[65], now[24], sim[2], mrtd[97] = "", why[512] = "";
	const char *reason = "internal";
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = admit(s, req, worker, &v, qsha, mrtd, why, sizeof(why), &reason)) < 0) {
		sched_metrics_refused(s, reason);
		if (rc == ERR_BUSY) {
			sched_refuse(resp, 503, "sched.register", err_msg());
			return;
		}
		/* the worker is told which check failed (public_reason) */
		log_warn("sched.register", "refused=\"%s\"", err_msg());
		http_resp_json(resp, 403,
		               json_pack("{s:s,s:s}", "error", "registration refused", "reason",
		                         why[0] ? why : err_msg()));
		return;
	}
	eth_addr_str(worker, addr);
	if (RAND_bytes(tok, 32) != 1) {
		sched_metrics_refused(s, "internal");
		sched_refuse(resp, 500, "sched.register", "no randomness");
		return;
	}
	hex_encode(token, tok, 32);
	token_hash(token, th);
	snprintf(now, sizeof(now), "%lld", sched_now());
	snprintf(sim, sizeof(sim), "%d", v.simulated);
	const char *a[] = {addr, th, now, qsha, tdx_tcb_status_name(v.status), sim, mrtd};
	pthread_mutex_lock(&s->mu);
	rc = sched_exec(s,
	                "INSERT OR REPLACE INTO workers(address, token, registered, last_seen,"
	                " quote_sha256, tcb_status, simulated, mrtd)"
	                " VALUES (lower(?1), ?2, ?3, ?3, ?4, ?5, ?6, ?7)",
	                a, 7);
	pthread_mutex_unlock(&s->mu);
	if (rc < 0) {
		sched_metrics_refused(s, "internal");
		sched_refuse(resp, 500, "sched.register", err_msg());
		return;
	}
	metric_inc(s->m_accepted, 0, 0);
	log_info("sched.register", "worker=%s tcb=%s simulated=%d quote_sha256=%s", addr,
	         tdx_tcb_status_name(v.status), v.simulated, qsha);
	http_resp_json(resp, 200,
	               json_pack("{s:s,s:s,s:b}", "token", token, "tcbStatus",
	                         tdx_tcb_status_name(v.status), "simulated", v.simulated));
	OPENSSL_cleanse(token, sizeof(token));
}

/* The registered worker behind a Bearer token (updates last_seen; takes
 * s->mu for that, so not to be called with it held). */
static int bearer(struct sched *s, const struct http_req *req, char worker[43])
{
	const char *a = http_req_header(req, "Authorization");
	sqlite3_stmt *st;
	char th[65], now[24];
	int rc;

	ENSURE(a && strncasecmp(a, "Bearer ", 7) == 0 && strlen(a + 7) == 64, ERR_VERIFY,
	       "no worker token");
	token_hash(a + 7, th);
	GUARD(db_prepare(s->rdb, "SELECT address FROM workers WHERE token = ?1", &st));
	sqlite3_bind_text(st, 1, th, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_ROW ? 0 : err_set(ERR_VERIFY, "unknown worker token");
	if (rc == 0)
		snprintf(worker, 43, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc == 0) {
		/* Written when older than a quarter of the worker timeout (a
		 * second at least): a write is a sync, and a thousand polls
		 * renewed at once would queue a thousand of them; an
		 * unchanged row writes nothing. */
		long long t = sched_now(), slack = s->cfg.worker_timeout_s / 4;
		char stale[24];
		snprintf(now, sizeof(now), "%lld", t);
		snprintf(stale, sizeof(stale), "%lld", t - (slack > 1 ? slack : 1));
		const char *x[] = {worker, now, stale};
		pthread_mutex_lock(&s->mu);
		rc = sched_exec(
		    s, "UPDATE workers SET last_seen = ?2 WHERE address = ?1 AND last_seen <= ?3",
		    x, 3);
		pthread_mutex_unlock(&s->mu);
	}
	return rc;
}

/* Take the oldest INITIALIZED task for `worker` (s->mu held, inside a
 * transaction); 1 if one. */
/* A TEE task taken over from a lost worker: the pool owner's word for the
 * SMS, which releases the task's session again only with it (proto.h). */
static int reassignment(struct sched *s, const uint8_t tid[32], const char *lost,
                        const uint8_t next[20], json_t *task)
{
	uint8_t from[20], h[32], sig[65];
	char hex[133];

	GUARD(eth_addr_parse(lost, from));
	proto_task_reassign_hash(s->chain->chain_id, tid, from, next, h);
	GUARD(eip191_sign32(s->cfg.owner_key, h, sig));
	hex_encode_0x(hex, sig, 65);
	json_object_set_new(task, "reassignment",
	                    json_pack("{s:s,s:s}", "lostWorker", lost, "signature", hex));
	log_info("sched.task", "task=%s reassigned_from=%s",
	         json_string_value(json_object_get(task, "taskId")), lost);
	return 0;
}

/* A task as handed to a worker: offer() reads these columns. */
#define OFFER_SQL                                                                                  \
	"SELECT t.taskid, t.dealid, t.idx, t.enclave, d.app, d.dataset, d.category, d.tag,"        \
	" d.params, d.beneficiary, d.deadline, d.requester, d.boost, " TEE_SQL ", d.trust,"        \
	" (SELECT count(*) FROM replicates r WHERE r.taskid = t.taskid), t.lost_worker"            \
	" FROM tasks t JOIN deals d USING(dealid) WHERE "

/* The answer handing the task of `st`'s row (OFFER_SQL) to `worker`: the
 * deal, the pool owner's authorization, and a TEE task taken over from a
 * lost worker its reassignment.  0 with *out set, or an error. */
static int offer(struct sched *s, sqlite3_stmt *st, const char *worker, json_t **out)
{
	uint8_t w[20], tid[32], enc[20], p[72], sig[65];
	char auth[133], res[300];
	int tee = sqlite3_column_int(st, 13);
	const char *taskid = (const char *)sqlite3_column_text(st, 0);

	*out = NULL;
	GUARD(eth_addr_parse(worker, w));
	GUARD(hex_decode_exact(tid, 32, taskid + 2, "taskid"));
	GUARD(eth_addr_parse((const char *)sqlite3_column_text(st, 3), enc));
	memcpy(p, w, 20);
	memcpy(p + 20, tid, 32);
	memcpy(p + 52, enc, 20);
	GUARD(eip191_sign_keccak(s->cfg.owner_key, p, sizeof(p), sig));
	hex_encode_0x(auth, sig, 65);
	snprintf(res, sizeof(res), "%s/results", s->public_url);
	*out = json_pack(
	    "{s:s,s:s,s:I,s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:b}", "taskId", taskid,
	    "dealId", sqlite3_column_text(st, 1), "taskIndex",
	    (json_int_t)sqlite3_column_int64(st, 2), "enclaveChallenge", sqlite3_column_text(st, 3),
	    "app", sqlite3_column_text(st, 4), "dataset", sqlite3_column_text(st, 5), "category",
	    (json_int_t)sqlite3_column_int64(st, 6), "tag", sqlite3_column_text(st, 7), "params",
	    sqlite3_column_text(st, 8), "beneficiary", sqlite3_column_text(st, 9), "deadline",
	    (json_int_t)sqlite3_column_int64(st, 10), "requester", sqlite3_column_text(st, 11),
	    "workerpoolAuthorization", auth, "smsUrl", s->sms_url, "resultsUrl", res, "boost",
	    sqlite3_column_int(st, 12));
	ENSURE(*out, ERR_NOMEM, "out of memory");
	json_object_set_new(*out, "tee", json_boolean(tee));
	json_object_set_new(*out, "trust", json_integer(sqlite3_column_int64(st, 14)));
	if (tee && sqlite3_column_text(st, 16)) {
		int rc = reassignment(s, tid, (const char *)sqlite3_column_text(st, 16), w, *out);
		if (rc < 0) {
			json_decref(*out);
			*out = NULL;
			return rc;
		}
	}
	return 0;
}

static int take_task_tx(struct sched *s, const char *worker, json_t **out)
{
	sqlite3_stmt *st;
	char now[24];
	int rc, found = 0;

	GUARD(db_prepare(s->db,
	                 OFFER_SQL
	                 "t.status = 'INITIALIZED' AND NOT EXISTS (SELECT 1 FROM"
	                 " replicates r WHERE r.taskid = t.taskid AND r.worker = ?1)"
	                 " AND instr(t.held_by, ?1) = 0 ORDER BY t.updated, t.idx LIMIT 1",
	                 &st));
	sqlite3_bind_text(st, 1, worker, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		int tee = sqlite3_column_int(st, 13);
		long long trust = sqlite3_column_int64(st, 14), held = sqlite3_column_int64(st, 15);
		const char *taskid = (const char *)sqlite3_column_text(st, 0);
		rc = offer(s, st, worker, out);
		if (rc == 0) {
			snprintf(now, sizeof(now), "%lld", sched_now());
			const char *a[] = {taskid, worker, now};
			/* a worker that waited in a long poll was there all along */
			rc = sched_exec(s, "UPDATE workers SET last_seen = ?3 WHERE address = ?2",
			                a, 3);
			/* a TEE task goes to a worker once: the SMS releases its
			 * session to a worker once */
			if (rc == 0 && tee)
				rc = sched_exec(s,
				                "UPDATE tasks SET held_by = held_by || ?2 || ' ',"
				                " acked = 0 WHERE taskid = ?1",
				                a, 2);
			/* a standard task goes to `trust` workers, each a replicate */
			if (rc == 0 && !tee)
				rc = sched_exec(
				    s,
				    "INSERT INTO replicates(taskid, worker, status, updated, acked)"
				    " VALUES (?1, ?2, 'RUNNING', ?3, 0)",
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

/* take_task_tx in one transaction: the task, its replicate and last_seen
 * reach the disk together, in one sync instead of three. */
static int take_task(struct sched *s, const char *worker, json_t **out)
{
	int rc;
	*out = NULL;
	GUARD(db_exec(s->db, "BEGIN IMMEDIATE"));
	rc = take_task_tx(s, worker, out);
	if (db_exec(s->db, rc > 0 ? "COMMIT" : "ROLLBACK") < 0 && rc > 0)
		rc = ERR_IO;
	if (rc <= 0) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* A task handed to `worker` that no report of it has acknowledged.  A
 * worker runs one task at a time and polls only between tasks, so its poll
 * says it runs none: the answer that carried this one was lost (the
 * scheduler killed between its commit and the answer, a connection
 * broken), and the poll gets it again rather than the task waiting for
 * its deadline.  Read on the read connection: nothing is written (the
 * task is already the worker's).  1 with *out set, 0 if none. */
static int redeliver(struct sched *s, const char *worker, json_t **out)
{
	sqlite3_stmt *st;
	int rc = 0;

	*out = NULL;
	GUARD(db_prepare(s->rdb,
	                 OFFER_SQL "t.status IN ('INITIALIZED', 'RUNNING') AND t.taskid IN"
	                           " (SELECT taskid FROM tasks WHERE worker = ?1"
	                           " AND acked = 0 AND status = 'RUNNING' UNION ALL SELECT taskid"
	                           " FROM replicates WHERE worker = ?1 AND acked = 0 AND"
	                           " status = 'RUNNING') ORDER BY t.updated LIMIT 1",
	                 &st));
	sqlite3_bind_text(st, 1, worker, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		rc = offer(s, st, worker, out);
		if (rc == 0) {
			log_warn("sched.task",
			         "task=%s worker=%s redelivered=1 reason=\"not acknowledged\"",
			         sqlite3_column_text(st, 0), worker);
			rc = 1;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/* GET /workers/next?wait=S: a task now, or a long poll of up to S seconds
 * (60 at most).  A waiting poll holds no thread and no lock: the request is
 * deferred (net/server.h) and queued as a waiter, and the waker thread
 * answers it with the next task that becomes INITIALIZED, or 204 at its
 * deadline. */
struct waiter {
	struct waiter *prev, *next;
	struct http_deferred *d;
	char worker[43];
	struct timespec deadline; /* CLOCK_MONOTONIC */
};

static void answer(struct http_deferred *d, int status, json_t *task)
{
	struct http_resp r = {.status = 500, .content_type = "application/json"};
	if (task)
		http_resp_json(&r, status, task);
	else
		http_resp_text(&r, status, "");
	http_deferred_answer(d, &r);
}

/* (s->wait_mu held) */
static void waiter_unlink(struct sched *s, struct waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		s->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		s->waiters_tail = w->prev;
	w->prev = w->next = NULL;
	s->nwaiters--;
}

/* 1 when some task is INITIALIZED (read connection: no lock; an error
 * says 1, and take_task tells). */
static int any_ready(struct sched *s)
{
	sqlite3_stmt *st;
	int r;
	if (db_prepare(s->rdb, "SELECT 1 FROM tasks WHERE status = 'INITIALIZED' LIMIT 1", &st) < 0)
		return 1;
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	return r != SQLITE_DONE;
}

void sched_tasks_ready(struct sched *s)
{
	pthread_mutex_lock(&s->wait_mu);
	s->task_gen++;
	s->dirty = 1;
	pthread_cond_signal(&s->wait_cv);
	pthread_mutex_unlock(&s->wait_mu);
}

void sched_h_next(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	const char *q = http_req_query(req, "wait");
	long wait_s = q ? strtol(q, NULL, 10) : 0;
	json_t *task = NULL;
	struct waiter *w;
	unsigned long gen;
	char worker[43];
	int rc, stopped;

	if (wait_s < 0 || wait_s > 60)
		wait_s = 60;
	pthread_mutex_lock(&s->wait_mu);
	gen = s->task_gen;
	pthread_mutex_unlock(&s->wait_mu);
	if (bearer(s, req, worker) < 0) {
		sched_refuse(resp, 403, "sched.next", err_msg());
		return;
	}
	rc = redeliver(s, worker, &task);
	if (rc == 0 && any_ready(s)) { /* an idle pool's polls take no lock */
		pthread_mutex_lock(&s->mu);
		rc = take_task(s, worker, &task);
		pthread_mutex_unlock(&s->mu);
	}
	/* not a 403, which tells a worker it was forgotten (it registers
	 * again): the store failed, the worker polls again later */
	if (rc < 0) {
		sched_refuse(resp, 503, "sched.next", err_msg());
		return;
	}
	if (task) {
		http_resp_json(resp, 200, task);
		return;
	}
	http_resp_text(resp, 204, "");
	if (wait_s == 0 || !(w = calloc(1, sizeof(*w))))
		return;
	if (!(w->d = http_req_defer(req))) {
		free(w);
		return;
	}
	snprintf(w->worker, sizeof(w->worker), "%s", worker);
	clock_gettime(CLOCK_MONOTONIC, &w->deadline);
	w->deadline.tv_sec += wait_s;
	pthread_mutex_lock(&s->wait_mu);
	stopped = s->wait_stop;
	if (!stopped) {
		w->prev = s->waiters_tail;
		if (s->waiters_tail)
			s->waiters_tail->next = w;
		else
			s->waiters = w;
		s->waiters_tail = w;
		s->nwaiters++;
		/* a task came between take_task and now: look again */
		if (gen != s->task_gen) {
			s->dirty = 1;
			pthread_cond_signal(&s->wait_cv);
		}
	}
	pthread_mutex_unlock(&s->wait_mu);
	if (stopped) {
		answer(w->d, 204, NULL);
		free(w);
	}
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Hand INITIALIZED tasks to waiters, oldest poll first, until none is left
 * (s->mu taken per waiter, s->wait_mu only to walk the queue: only this
 * thread removes waiters, h_next only appends). */
static void offer_tasks(struct sched *s)
{
	struct waiter *w, *next;
	sqlite3_stmt *st;
	json_t *task;
	int rc, more;

	pthread_mutex_lock(&s->wait_mu);
	w = s->waiters;
	pthread_mutex_unlock(&s->wait_mu);
	while (w) {
		task = NULL;
		more = 0;
		pthread_mutex_lock(&s->mu);
		rc = take_task(s, w->worker, &task);
		/* none for this worker: one of another worker may remain (a
		 * replicated task is not given twice to the same worker) */
		if (rc == 0 &&
		    db_prepare(s->db, "SELECT 1 FROM tasks WHERE status = 'INITIALIZED' LIMIT 1",
		               &st) == 0) {
			more = sqlite3_step(st) == SQLITE_ROW;
			sqlite3_finalize(st);
		}
		pthread_mutex_unlock(&s->mu);
		if (rc < 0)
			log_warn("sched.next", "worker=%s error=\"%s\"", w->worker, err_msg());
		pthread_mutex_lock(&s->wait_mu);
		next = w->next;
		if (task)
			waiter_unlink(s, w);
		pthread_mutex_unlock(&s->wait_mu);
		if (task) {
			answer(w->d, 200, task);
			free(w);
		} else if (!more) {
			break;
		}
		w = next;
	}
}

/* The waker: answers long polls with tasks as they become ready, and with
 * 204 at their deadline; on stop, every waiting poll gets its 204. */
static void *waker_main(void *arg)
{
	struct sched *s = arg;
	struct timespec now, until;
	struct waiter *w, *expired;
	int scan;

	pthread_mutex_lock(&s->wait_mu);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		expired = NULL;
		until = now;
		until.tv_sec += 1;
		for (w = s->waiters; w;) {
			struct waiter *n = w->next;
			if (s->wait_stop || !ts_before(&now, &w->deadline)) {
				waiter_unlink(s, w);
				w->next = expired;
				expired = w;
			} else if (ts_before(&w->deadline, &until)) {
				until = w->deadline;
			}
			w = n;
		}
		scan = s->dirty && !s->wait_stop;
		s->dirty = 0;
		if (!expired && !scan) {
			if (s->wait_stop)
				break;
			pthread_cond_timedwait(&s->wait_cv, &s->wait_mu, &until);
			continue;
		}
		pthread_mutex_unlock(&s->wait_mu);
		while ((w = expired)) {
			expired = w->next;
			answer(w->d, 204, NULL);
			free(w);
		}
		if (scan)
			offer_tasks(s);
		pthread_mutex_lock(&s->wait_mu);
	}
	pthread_mutex_unlock(&s->wait_mu);
	return NULL;
}

int sched_waker_start(struct sched *s)
{
	pthread_condattr_t ca;
	pthread_mutex_init(&s->wait_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wait_cv, &ca);
	pthread_condattr_destroy(&ca);
	s->wait_init = 1;
	ENSURE(pthread_create(&s->waker, NULL, waker_main, s) == 0, ERR_IO,
	       "scheduler: cannot start the long-poll thread");
	s->waker_on = 1;
	return 0;
}

void sched_waker_stop(struct sched *s)
{
	if (!s->wait_init)
		return;
	pthread_mutex_lock(&s->wait_mu);
	s->wait_stop = 1;
	pthread_cond_signal(&s->wait_cv);
	pthread_mutex_unlock(&s->wait_mu);
	if (s->waker_on)
		pthread_join(s->waker, NULL);
	s->waker_on = 0;
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

void sched_h_status(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	json_t *b = NULL;
	char worker[43], now[24], done_by[43];
	int replicate = 0;
	const char *st, *detail, *tx, *cb, *logs;
	int rc;

	if (json_parse((const char *)req->body, req->body_len, "status", &b) < 0) {
		sched_refuse(resp, 400, "sched.status", err_msg());
		return;
	}
	st = json_string_value(json_object_get(b, "status"));
	detail = json_string_value(json_object_get(b, "detail"));
	tx = json_string_value(json_object_get(b, "tx"));
	cb = json_string_value(json_object_get(b, "callbackData"));
	logs = json_string_value(json_object_get(b, "logs"));
	if (logs && strlen(logs) > SCHED_LOGS_MAX) {
		json_decref(b);
		sched_refuse(resp, 400, "sched.status", "logs: 4 KiB at most");
		return;
	}
	/* the app's own run time, which the worker measured (GET /stats) */
	json_t *am = json_object_get(b, "appMs");
	char app_ms[24] = "";
	if (json_is_integer(am) && json_integer_value(am) >= 0 &&
	    json_integer_value(am) <= 366LL * 86400 * 1000)
		snprintf(app_ms, sizeof(app_ms), "%lld", (long long)json_integer_value(am));
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
	snprintf(now, sizeof(now), "%lld", sched_now());
	rc = bearer(s, req, worker);
	pthread_mutex_lock(&s->mu);
	if (rc == 0) {
		/* a replicate of a standard task: its own status only */
		const char *r[] = {req->params[0], worker, st, now, cb};
		rc = sched_exec(s,
		                "UPDATE replicates SET status = ?3, updated = ?4, acked = 1,"
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
		                   now,
		                   logs,
		                   app_ms[0] ? app_ms : NULL};
		/* the app's stderr tail is kept only when the deal asked for it:
		 * logs can hold what the app should have kept secret */
		rc = sched_exec(
		    s,
		    "UPDATE tasks SET status = ?3, detail = ?4, tx = coalesce(nullif(?5, ''), tx),"
		    " updated = ?6, acked = 1, logs = CASE WHEN ?7 IS NOT NULL AND (SELECT CASE WHEN"
		    " json_valid(params) THEN json_extract(params, '$.iexec_developer_logger')"
		    " END FROM deals d WHERE d.dealid = tasks.dealid) IS 1 THEN ?7 ELSE logs END,"
		    " app_ms = coalesce(?8, app_ms)"
		    " WHERE taskid = lower(?1) AND worker = ?2 AND status IN " HELD,
		    a, 8);
		/* The chain may have said COMPLETED first. */
		if (rc == 0 && sqlite3_changes(s->db) == 0 &&
		    (sched_task_field(
		         s, req->params[0],
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

/* POST /workers/ping: a worker busy with a task is still there. */
void sched_h_ping(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	char worker[43];
	int rc = bearer(s, req, worker);
	if (rc < 0)
		sched_refuse(resp, 403, "sched.ping", err_msg());
	else
		http_resp_json(resp, 200, json_pack("{s:b}", "ok", 1));
}
