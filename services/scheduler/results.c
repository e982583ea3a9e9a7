/* results.c — the result API and its store: uploads signed by the task's
 * enclave (or a replicate's worker) kept content-addressed, downloads
 * signed by the beneficiary, and the collection of unreferenced files. */
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
int sched_results_gc(struct sched *s)
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
int sched_drop_task_files(struct sched *s, const char *taskid, int results_too, int now)
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
	return proto_expiry_check(*out, (uint64_t)sched_now(), PROTO_EXPIRY_MAX_AHEAD);
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
	if (sched_task_field(s, id, "SELECT status FROM tasks WHERE taskid = lower(?1)", status,
	                     sizeof(status)) < 0) {
		*why = "no such task";
		return 404;
	}
	sched_task_field(s, id, "SELECT enclave FROM tasks WHERE taskid = lower(?1)", enclave,
	                 sizeof(enclave));
	sched_task_field(s, id, "SELECT worker FROM tasks WHERE taskid = lower(?1)", worker,
	                 sizeof(worker));
	for (size_t i = 0; i < sizeof(held) / sizeof(*held); i++)
		is_held |= strcmp(status, held[i]) == 0;
	if (strcmp(enclave, ZERO_ADDRESS) != 0) {
		if (!enclave[0] || strcmp(signer, enclave) != 0) {
			*why = "not signed by the task's enclave challenge";
			return 403;
		}
		if (sched_task_field(s, id, "SELECT sha256 FROM results WHERE taskid = lower(?1)",
		                     have, sizeof(have)) == 0) {
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
		if (sched_task_field(s, id, sql, rstatus, sizeof(rstatus)) < 0) {
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
		if (sched_task_field(s, id, sql, have, sizeof(have)) == 0) {
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

void sched_h_result_put(void *ctx, const struct http_req *req, struct http_resp *resp)
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
	if (hex_decode_exact(msg, 32, id + 2, "taskid") < 0) {
		sched_refuse(resp, 400, "sched.result", err_msg());
		return;
	}
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
		snprintf(now, sizeof(now), "%lld", sched_now());
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

void sched_h_result_get(void *ctx, const struct http_req *req, struct http_resp *resp)
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
	if (hex_decode_exact(tid, 32, id + 2, "taskid") < 0) {
		sched_refuse(resp, 400, "sched.result", err_msg());
		return;
	}
	if (download_expiry(req, &expiry) < 0) {
		sched_refuse(resp, 403, "sched.result", err_msg());
		return;
	}
	rc = sched_read_field(s, id,
	                      "SELECT d.beneficiary FROM tasks t JOIN deals d USING(dealid)"
	                      " WHERE t.taskid = lower(?1)",
	                      beneficiary, sizeof(beneficiary));
	if (rc == 0)
		rc = sched_read_field(s, id, "SELECT sha256 FROM results WHERE taskid = lower(?1)",
		                      sum, sizeof(sum));
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

void sched_h_task_logs(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	const char *id = req->params[0];
	uint8_t tid[32], who[20], h[32];
	uint64_t expiry = 0;
	char signer[43], requester[43], *logs;
	sqlite3_stmt *st;

	if (!valid_task_id(id) || hex_decode_exact(tid, 32, id + 2, "taskid") < 0) {
		sched_refuse(resp, 400, "sched.logs", "bad task id");
		return;
	}
	if (download_expiry(req, &expiry) < 0) {
		sched_refuse(resp, 403, "sched.logs", err_msg());
		return;
	}
	if (sched_read_field(s, id,
	                     "SELECT d.requester FROM tasks t JOIN deals d USING(dealid)"
	                     " WHERE t.taskid = lower(?1)",
	                     requester, sizeof(requester)) < 0 ||
	    eth_addr_parse(requester, who) < 0) {
		http_resp_json(resp, 404, json_pack("{s:s}", "error", "no such task"));
		return;
	}
	/* the requester's, as iExec's task logs: who asked for them */
	proto_task_logs_hash(s->chain->chain_id, tid, who, expiry, h);
	if (auth_signer32(req, h, signer) < 0) {
		sched_refuse(resp, 403, "sched.logs", err_msg());
		return;
	}
	for (char *p = requester; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
	if (strcmp(signer, requester) != 0) {
		sched_refuse(resp, 403, "sched.logs", "not signed by the requester");
		return;
	}
	if (db_prepare(s->rdb, "SELECT logs FROM tasks WHERE taskid = lower(?1)", &st) < 0) {
		sched_refuse(resp, 500, "sched.logs", err_msg());
		return;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	logs = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)
	           ? strdup((const char *)sqlite3_column_text(st, 0))
	           : NULL;
	sqlite3_finalize(st);
	if (!logs) {
		http_resp_json(resp, 404,
		               json_pack("{s:s}", "error",
		                         "no logs: the request did not ask for them"
		                         " (iexec_developer_logger) or the app has not run"));
		return;
	}
	http_resp_json(resp, 200, json_pack("{s:s,s:s}", "taskId", id, "stderr", logs));
	free(logs);
}

/* A task's attestation receipts come from the SMS its deal's sessions were
 * released by; they are public there too, so this only saves a client the
 * SMS's address (and its RA-TLS check, done here when configured).  The
 * SMS bounds the answer; the cap and the timeout keep a slow or swollen
 * SMS from holding this thread or its memory. */
#define ATTESTATION_MAX PROTO_RECEIPTS_MAX

void sched_h_task_attestation(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	const char *id = req->params[0];
	char dealid[67], url[512];
	struct http_response r;

	if (!valid_task_id(id)) {
		sched_refuse(resp, 400, "sched.attestation", "bad task id");
		return;
	}
	if (sched_read_field(s, id, "SELECT dealid FROM tasks WHERE taskid = lower(?1)", dealid,
	                     sizeof(dealid)) < 0) {
		http_resp_json(resp, 404, json_pack("{s:s}", "error", "no such task"));
		return;
	}
	snprintf(url, sizeof(url), "%s/tasks/%s/attestation", s->sms_url, id);
	struct http_call call = {NULL, NULL, NULL, 0, s->sms_peer.check ? &s->sms_peer : NULL,
	                         NULL};
	if (http_call(url, &call, ATTESTATION_MAX, 10, &r) < 0) {
		sched_refuse(resp, 502, "sched.attestation", err_msg());
		return;
	}
	if (r.status != 200 && r.status != 404) {
		log_warn("sched.attestation", "task=%s sms_status=%ld", id, r.status);
		http_response_free(&r);
		http_resp_json(resp, 502, json_pack("{s:s}", "error", "the SMS did not answer"));
		return;
	}
	resp->status = (int)r.status;
	resp->content_type = "application/json";
	resp->body = (char *)r.body.buf;
	resp->len = r.body.len;
	r.body.buf = NULL;
	http_response_free(&r);
}
