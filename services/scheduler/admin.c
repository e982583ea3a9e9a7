/* admin.c — the pool seen by its operator: GET /workers, the GET /tasks
 * listing and GET /stats, each for the pool owner only (docs/pool.md).
 *
 * Two ways in: the admin token, 32 random bytes drawn at every start and
 * written (hex, 0600) to a file only the operator reads; or a request the
 * workerpool owner's key signed (proto.h, PROTO_POOL_ADMIN_TAG) at a time
 * within PROTO_ADMIN_SKEW seconds of ours, taken once.  Every read goes
 * through the read connection: an operator polling the pool takes no lock
 * the workers' paths need. */
#include "internal.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/addr.h"
#include "net/http.h"
#include "net/server.h"
#include "proto/proto.h"
#include "store/db.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define LIST_DEFAULT 100
#define LIST_MAX     1000
#define STATS_WINDOW 3600 /* seconds the charts of GET /stats cover */

/* The scheduler's task states, for the listing's status filter. */
static const char *const statuses[] = {
    "RECEIVED",    "INITIALIZED", "RUNNING", "COMPUTED", "CONTRIBUTING",
    "CONTRIBUTED", "COMPLETED",   "FAILED",  "REORGED",
};
#define NSTATUSES (sizeof(statuses) / sizeof(*statuses))
#define ALLOWED                                                                                    \
	"RECEIVED, INITIALIZED, RUNNING, COMPUTED, CONTRIBUTING, CONTRIBUTED, COMPLETED, "         \
	"FAILED, REORGED"

int sched_admin_open(struct sched *s)
{
	uint8_t tok[32];
	char path[4096];
	const char *slash;
	int rc;

	GUARD(k1_address(s->cfg.owner_key, s->owner));
	/* a signature is valid for 2 * PROTO_ADMIN_SKEW seconds: the replay
	 * set remembers a use at least that long */
	GUARD(http_nonces_new(2 * PROTO_ADMIN_SKEW, CHALLENGE_USES, &s->admin_seen));
	if (s->cfg.admin_token_file)
		rc = path_fmt(path, sizeof(path), "%s", s->cfg.admin_token_file);
	else if ((slash = strrchr(s->cfg.db_path, '/')))
		rc = path_fmt(path, sizeof(path), "%.*s/admin.token", (int)(slash - s->cfg.db_path),
		              s->cfg.db_path);
	else
		rc = path_fmt(path, sizeof(path), "admin.token");
	GUARD(rc);
	ENSURE(RAND_bytes(tok, 32) == 1, ERR_CRYPTO,
	       "scheduler: no randomness for the admin token");
	hex_encode(s->admin_token, tok, 32);
	OPENSSL_cleanse(tok, sizeof(tok));
	s->admin_token[64] = '\n';
	rc = file_write(path, s->admin_token, 65, 0600);
	s->admin_token[64] = '\0';
	if (rc < 0)
		return err_wrap(rc, "scheduler: admin token");
	log_info("sched.admin", "token_file=\"%s\"", path);
	return 0;
}

void sched_admin_close(struct sched *s)
{
	OPENSSL_cleanse(s->admin_token, sizeof(s->admin_token));
	http_nonces_free(s->admin_seen);
}

static void unauthorized(struct http_resp *resp, const struct http_req *req, const char *why)
{
	log_warn("sched.admin", "path=\"%s\" refused=\"%s\"", req->path, why);
	http_resp_json(resp, 401, json_pack("{s:s,s:s}", "error", "unauthorized", "reason", why));
}

/* "PoolOwner <unix time> 0x<signature>" (proto_pool_admin_hash). */
static int owner_signed(struct sched *s, const struct http_req *req, const char *a,
                        const char **why)
{
	uint8_t h[32], sig[65], who[20], id[32];
	char *end;
	unsigned long long at;
	long long now = sched_now(), d;
	int rc;

	errno = 0;
	at = strtoull(a, &end, 10);
	if (end == a || errno || *end != ' ' || strlen(end + 1) != 132 || end[1] != '0' ||
	    (end[2] != 'x' && end[2] != 'X') ||
	    hex_decode_exact(sig, 65, end + 1 + 2, "signature") < 0) {
		*why =
		    "malformed PoolOwner authorization: want 'PoolOwner <unix time> 0x<signature>'";
		return ERR_VERIFY;
	}
	d = (long long)at - now;
	if (at > (unsigned long long)now + PROTO_ADMIN_SKEW || d < -PROTO_ADMIN_SKEW) {
		*why = "signature time is more than 300 s away from the scheduler's clock";
		return ERR_VERIFY;
	}
	proto_pool_admin_hash(s->chain->chain_id, s->pool, req->method, req->path, at, h);
	eip191_hash32(h, h);
	if (k1_recover(h, sig, who) < 0 || CRYPTO_memcmp(who, s->owner, 20) != 0) {
		*why = "the signature is not the workerpool owner's for this request";
		return ERR_VERIFY;
	}
	/* keyed on r||s: v is accepted as 27/28 or 0/1, and one signature
	 * written either way is one use (high s is refused by k1_recover, so
	 * no other r||s signs the same request) */
	keccak256(sig, 64, id);
	rc = http_nonce_use(s->admin_seen, id);
	if (rc == ERR_BUSY)
		*why = "too many signed requests: try again later";
	else if (rc < 0)
		*why = "signature already used (sign each request afresh)";
	return rc;
}

/* 0 when the request is the pool owner's; else answered 401 (503 when
 * the replay set is full). */
static int admin_auth(struct sched *s, const struct http_req *req, struct http_resp *resp)
{
	const char *a = http_req_header(req, "Authorization"), *why = NULL;
	int rc;

	if (!a) {
		unauthorized(resp, req,
		             "admin endpoint: send 'Authorization: Bearer <admin token>' or "
		             "'Authorization: PoolOwner <unix time> <signature>'");
		return ERR_VERIFY;
	}
	if (strncasecmp(a, "Bearer ", 7) == 0) {
		/* the length is no secret; the bytes are compared in constant time */
		if (strlen(a + 7) == 64 && CRYPTO_memcmp(a + 7, s->admin_token, 64) == 0)
			return 0;
		unauthorized(resp, req, "wrong admin token");
		return ERR_VERIFY;
	}
	if (strncmp(a, "PoolOwner ", 10) == 0) {
		rc = owner_signed(s, req, a + 10, &why);
		if (rc == ERR_BUSY) {
			http_resp_json(resp, 503, json_pack("{s:s}", "error", why));
			return rc;
		}
		if (rc < 0) {
			unauthorized(resp, req, why);
			return rc;
		}
		return 0;
	}
	unauthorized(resp, req, "unknown authorization scheme (Bearer or PoolOwner)");
	return ERR_VERIFY;
}

static void db_error(struct http_resp *resp, sqlite3 *db)
{
	log_warn("sched.admin", "db_error=\"%s\"", sqlite3_errmsg(db));
	http_resp_json(resp, 500, json_pack("{s:s}", "error", "database"));
}

static json_t *col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? json_string((const char *)t) : json_null();
}

/* GET /workers */
void sched_h_workers(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	long long now = sched_now(), window = s->cfg.worker_timeout_s;
	sqlite3_stmt *st;
	json_t *list;

	if (admin_auth(s, req, resp) < 0)
		return;
	if (db_prepare(s->rdb,
	               "SELECT w.address, w.registered, w.last_seen, w.tcb_status, w.simulated,"
	               " w.mrtd, w.quote_sha256,"
	               " (SELECT group_concat(taskid, ' ') FROM tasks t WHERE t.worker = w.address"
	               "  AND t.status IN " HELD "),"
	               " (SELECT count(*) FROM tasks t WHERE t.worker = w.address"
	               "  AND t.status = 'COMPLETED'),"
	               " (SELECT count(*) FROM tasks t WHERE t.worker = w.address"
	               "  AND t.status = 'FAILED'), " EARNINGS_COLS
	               " FROM workers w LEFT JOIN earnings e ON e.address = w.address"
	               " ORDER BY w.registered, w.address",
	               &st) < 0) {
		db_error(resp, s->rdb);
		return;
	}
	list = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		long long seen = sqlite3_column_int64(st, 2);
		json_t *cur = json_array();
		const char *held = (const char *)sqlite3_column_text(st, 7);
		for (const char *p = held; p && *p;) {
			size_t n = strcspn(p, " ");
			json_array_append_new(cur, json_stringn(p, n));
			p += n + (p[n] == ' ');
		}
		json_array_append_new(
		    list, json_pack("{s:o,s:I,s:I,s:I,s:b,s:o,s:b,s:o,s:o,s:o,s:I,s:I,s:o}",
		                    "address", col_str(st, 0), "registeredAt",
		                    (json_int_t)sqlite3_column_int64(st, 1), "lastSeen",
		                    (json_int_t)seen, "lastSeenAgo", (json_int_t)(now - seen),
		                    "alive", now - seen <= window, "tcbStatus", col_str(st, 3),
		                    "simulated", sqlite3_column_int(st, 4), "mrtd", col_str(st, 5),
		                    "quoteSha256", col_str(st, 6), "currentTasks", cur, "completed",
		                    (json_int_t)sqlite3_column_int64(st, 8), "failed",
		                    (json_int_t)sqlite3_column_int64(st, 9), "earnings",
		                    sched_earnings_json(st, 10)));
	}
	sqlite3_finalize(st);
	http_resp_json(resp, 200,
	               json_pack("{s:I,s:I,s:o}", "now", (json_int_t)now, "aliveWindow",
	                         (json_int_t)window, "workers", list));
}

/* A query parameter that must be a whole number in [min, max]; 1 when
 * given, 0 when absent, -1 when malformed. */
static int query_ll(const struct http_req *req, const char *name, long long min, long long max,
                    long long *out)
{
	const char *v = http_req_query(req, name);
	char *end;
	if (!v)
		return 0;
	errno = 0;
	*out = strtoll(v, &end, 10);
	return end != v && !*end && !errno && *out >= min && *out <= max ? 1 : -1;
}

/* status=a,b,c (any case) into ",A,B,C," for the SQL's instr(); -1 with
 * the unknown one in bad. */
static int status_filter(const char *q, char *out, size_t cap, char *bad, size_t bad_cap)
{
	size_t used = 0;
	out[used++] = ',';
	while (*q) {
		size_t n = strcspn(q, ","), k;
		for (k = 0; k < NSTATUSES; k++)
			if (strlen(statuses[k]) == n && strncasecmp(statuses[k], q, n) == 0)
				break;
		if (k == NSTATUSES) {
			snprintf(bad, bad_cap, "%.*s", (int)(n > 40 ? 40 : n), q);
			return -1;
		}
		if (used + n + 2 > cap)
			return -1;
		memcpy(out + used, statuses[k], n);
		used += n;
		out[used++] = ',';
		q += n;
		if (*q == ',' && !*++q) /* "A," names an empty one */
			return -1;
	}
	out[used] = '\0';
	return used > 1 ? 0 : -1;
}

/* A task's status changes, oldest first. */
static json_t *timeline(sqlite3_stmt *ev, const char *taskid)
{
	json_t *a = json_array();
	sqlite3_reset(ev);
	sqlite3_bind_text(ev, 1, taskid, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(ev) == SQLITE_ROW) {
		json_t *e = json_pack("{s:o,s:I}", "status", col_str(ev, 0), "atMs",
		                      (json_int_t)sqlite3_column_int64(ev, 1));
		if (sqlite3_column_type(ev, 2) != SQLITE_NULL)
			json_object_set_new(e, "worker", col_str(ev, 2));
		if (sqlite3_column_type(ev, 3) != SQLITE_NULL)
			json_object_set_new(e, "detail", col_str(ev, 3));
		json_array_append_new(a, e);
	}
	return a;
}

/* GET /tasks?status=&deal=&since=&limit=&before=: the pool's tasks, newest
 * first (by arrival), each with its timeline and, when FAILED, its reason. */
void sched_h_task_list(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	const char *sq = http_req_query(req, "status"), *deal = http_req_query(req, "deal");
	char filter[256], bad[48] = "", msg[256];
	long long since = 0, limit = LIST_DEFAULT, before = 0, last = 0;
	int has_since, has_before, n = 0;
	sqlite3_stmt *st = NULL, *ev = NULL;
	json_t *list;

	if (admin_auth(s, req, resp) < 0)
		return;
	if (sq && status_filter(sq, filter, sizeof(filter), bad, sizeof(bad)) < 0) {
		snprintf(msg, sizeof(msg),
		         "unknown status '%s': one or more of " ALLOWED ", comma-separated", bad);
		http_resp_json(resp, 400, json_pack("{s:s}", "error", msg));
		return;
	}
	if (deal && (strlen(deal) != 66 || strncmp(deal, "0x", 2) != 0 ||
	             strspn(deal + 2, "0123456789abcdefABCDEF") != 64)) {
		http_resp_json(
		    resp, 400,
		    json_pack("{s:s}", "error", "deal: a deal id, 0x and 64 hex digits"));
		return;
	}
	if ((has_since = query_ll(req, "since", 0, 1LL << 40, &since)) < 0 ||
	    query_ll(req, "limit", 1, LIST_MAX, &limit) < 0 ||
	    (has_before = query_ll(req, "before", 1, 1LL << 62, &before)) < 0) {
		http_resp_json(resp, 400,
		               json_pack("{s:s}", "error",
		                         "since (unix seconds), limit (1 to 1000) and before (a "
		                         "cursor from 'next') are whole numbers"));
		return;
	}
	if (db_prepare(s->rdb,
	               "SELECT rowid, taskid, dealid, idx, status, worker, detail, tx, claim_tx,"
	               " updated, assigned, app_ms FROM tasks"
	               " WHERE (?1 IS NULL OR instr(?1, ',' || status || ',') > 0)"
	               " AND (?2 IS NULL OR dealid = lower(?2)) AND (?3 IS NULL OR updated >= ?3)"
	               " AND (?4 IS NULL OR rowid < ?4) ORDER BY rowid DESC LIMIT ?5",
	               &st) < 0 ||
	    db_prepare(s->rdb,
	               "SELECT status, at_ms, worker, detail FROM task_events WHERE taskid = ?1"
	               " ORDER BY at_ms, rowid",
	               &ev) < 0) {
		sqlite3_finalize(st);
		db_error(resp, s->rdb);
		return;
	}
	if (sq)
		sqlite3_bind_text(st, 1, filter, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, deal, -1, SQLITE_TRANSIENT);
	if (has_since)
		sqlite3_bind_int64(st, 3, since);
	if (has_before)
		sqlite3_bind_int64(st, 4, before);
	sqlite3_bind_int64(st, 5, limit);
	list = json_array();
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *status = (const char *)sqlite3_column_text(st, 4);
		json_t *t = json_pack(
		    "{s:o,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:I}", "taskId", col_str(st, 1), "dealId",
		    col_str(st, 2), "taskIndex", (json_int_t)sqlite3_column_int64(st, 3), "status",
		    col_str(st, 4), "worker", col_str(st, 5), "detail", col_str(st, 6), "tx",
		    col_str(st, 7), "claimTx", col_str(st, 8), "updated",
		    (json_int_t)sqlite3_column_int64(st, 9));
		if (sqlite3_column_type(st, 10) != SQLITE_NULL)
			json_object_set_new(t, "assignedAt",
			                    json_integer(sqlite3_column_int64(st, 10)));
		if (sqlite3_column_type(st, 11) != SQLITE_NULL)
			json_object_set_new(t, "appMs", json_integer(sqlite3_column_int64(st, 11)));
		if (status && strcmp(status, "FAILED") == 0)
			json_object_set_new(t, "reason", col_str(st, 6));
		json_object_set_new(t, "timeline",
		                    timeline(ev, (const char *)sqlite3_column_text(st, 1)));
		json_array_append_new(list, t);
		last = sqlite3_column_int64(st, 0);
		n++;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(ev);
	http_resp_json(resp, 200,
	               json_pack("{s:o,s:o}", "tasks", list, "next",
	                         n == limit ? json_integer(last) : json_null()));
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array (n > 0). */
static long long pct(const long long *v, size_t n, unsigned p)
{
	size_t r = (n * p + 99) / 100;
	return v[r ? r - 1 : 0];
}

static json_t *summary(long long *v, size_t n)
{
	if (!n)
		return json_pack("{s:i,s:n,s:n}", "samples", 0, "medianMs", "p90Ms");
	qsort(v, n, sizeof(*v), cmp_ll);
	return json_pack("{s:I,s:I,s:I}", "samples", (json_int_t)n, "medianMs",
	                 (json_int_t)pct(v, n, 50), "p90Ms", (json_int_t)pct(v, n, 90));
}

/* GET /stats */
void sched_h_stats(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	long long now = sched_now(), start = (now / 60 - 59) * 60;
	json_t *by = json_object(), *done = json_array(), *failed = json_array(), *workers = NULL,
	       *earned = NULL;
	long long *total = NULL, *over = NULL;
	size_t nt = 0, no = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	int rc;

	if (admin_auth(s, req, resp) < 0)
		goto out;
	for (size_t i = 0; i < NSTATUSES; i++)
		json_object_set_new(by, statuses[i], json_integer(0));
	for (int i = 0; i < 60; i++) {
		json_array_append_new(done, json_integer(0));
		json_array_append_new(failed, json_integer(0));
	}
	rc = db_prepare(s->rdb, "SELECT status, count(*) FROM tasks GROUP BY status", &st);
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(by, (const char *)sqlite3_column_text(st, 0),
		                    json_integer(sqlite3_column_int64(st, 1)));
	sqlite3_finalize(st);
	st = NULL;
	if (rc == 0)
		rc = db_prepare(
		    s->rdb, "SELECT count(*), coalesce(sum(last_seen >= ?1), 0) FROM workers", &st);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, now - s->cfg.worker_timeout_s);
		if (sqlite3_step(st) == SQLITE_ROW)
			workers = json_pack("{s:I,s:I}", "registered",
			                    (json_int_t)sqlite3_column_int64(st, 0), "alive",
			                    (json_int_t)sqlite3_column_int64(st, 1));
		sqlite3_finalize(st);
		st = NULL;
	}
	/* tasks that ended, per minute: a task's first COMPLETED or FAILED */
	if (rc == 0)
		rc = db_prepare(s->rdb,
		                "SELECT (at_ms / 1000 - ?1) / 60, status, count(DISTINCT taskid)"
		                " FROM task_events WHERE status IN ('COMPLETED', 'FAILED')"
		                " AND at_ms >= ?1 * 1000 GROUP BY 1, 2",
		                &st);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, start);
		while (sqlite3_step(st) == SQLITE_ROW) {
			long long b = sqlite3_column_int64(st, 0);
			const char *what = (const char *)sqlite3_column_text(st, 1);
			if (b < 0 || b >= 60 || !what)
				continue;
			json_array_set_new(strcmp(what, "COMPLETED") == 0 ? done : failed,
			                   (size_t)b, json_integer(sqlite3_column_int64(st, 2)));
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	/* assignment (its last RUNNING) to COMPLETED, of the tasks completed
	 * in the window; less the app's own time where the worker gave it */
	if (rc == 0)
		rc = db_prepare(s->rdb,
		                "SELECT c.at_ms - (SELECT max(r.at_ms) FROM task_events r"
		                "  WHERE r.taskid = c.taskid AND r.status = 'RUNNING'"
		                "  AND r.at_ms <= c.at_ms), t.app_ms"
		                " FROM task_events c JOIN tasks t USING(taskid)"
		                " WHERE c.status = 'COMPLETED' AND c.at_ms >= ?1 * 1000",
		                &st);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, now - STATS_WINDOW);
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (sqlite3_column_type(st, 0) == SQLITE_NULL)
				continue;
			if (nt == cap) {
				size_t c2 = cap ? 2 * cap : 64;
				long long *a = realloc(total, c2 * sizeof(*a)),
				          *b = a ? realloc(over, c2 * sizeof(*b)) : NULL;
				if (a)
					total = a;
				if (!a || !b)
					break;
				over = b;
				cap = c2;
			}
			total[nt++] = sqlite3_column_int64(st, 0);
			if (sqlite3_column_type(st, 1) != SQLITE_NULL)
				over[no++] =
				    sqlite3_column_int64(st, 0) - sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	/* the pool owner's earnings (earnings.c), read from the chain by the
	 * follower: none before its first round */
	if (rc == 0)
		rc = db_prepare(s->rdb,
		                "SELECT " EARNINGS_COLS " FROM earnings e WHERE address = ?1", &st);
	if (rc == 0) {
		char o[43];
		eth_addr_str(s->owner, o);
		for (char *p = o; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
		sqlite3_bind_text(st, 1, o, -1, SQLITE_TRANSIENT);
		earned = sqlite3_step(st) == SQLITE_ROW ? sched_earnings_json(st, 0) : json_null();
		sqlite3_finalize(st);
		st = NULL;
	}
	if (rc < 0 || !workers) {
		db_error(resp, s->rdb);
		goto out;
	}
	json_t *o = summary(over, no), *t = summary(total, nt);
	json_object_set_new(
	    o, "definition",
	    json_string("per task completed in the last hour: from its assignment to a worker "
	                "(RUNNING) to COMPLETED as read from the chain, less the app's own run "
	                "time that the worker reported (tasks whose worker gave none are left "
	                "out)"));
	json_object_set_new(t, "definition",
	                    json_string("per task completed in the last hour: from its "
	                                "assignment to COMPLETED, the app's run time included"));
	char pool[43], owner[43];
	eth_addr_str(s->pool, pool);
	eth_addr_str(s->owner, owner);
	for (char *p = pool; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
	for (char *p = owner; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
	http_resp_json(resp, 200,
	               json_pack("{s:I,s:{s:s,s:s,s:I},s:O,s:O,s:O,s:{s:I,s:i,s:O,s:O},s:o,s:o}",
	                         "now", (json_int_t)now, "pool", "workerpool", pool, "owner", owner,
	                         "chainId", (json_int_t)s->chain->chain_id, "ownerEarnings", earned,
	                         "tasks", by, "workers", workers, "tasksPerMinute", "start",
	                         (json_int_t)start, "bucketSeconds", 60, "completed", done,
	                         "failed", failed, "overhead", o, "assignedToCompleted", t));
out:
	json_decref(by);
	json_decref(done);
	json_decref(failed);
	json_decref(workers);
	json_decref(earned);
	free(total);
	free(over);
}
