/* worker.c — the TDX worker, see worker.h.
 *
 * One task at a time, in the steps of DESIGN.md §4:
 *   session   POST /tee/sessions (the pool's WorkerpoolAuthorization), RTMR3
 *             extended with the app digest and task id, a fresh quote whose
 *             REPORTDATA binds the SMS nonce, the task, the app digest and
 *             an ephemeral X25519 key; the session comes back sealed to it.
 *   pre       input files (named by the SHA-256 of their URL), the dataset
 *             (checksum, then iExec's AES-256-CBC format with its key).
 *   app       the image whose manifest digest is the app's checksum, in runc.
 *   post      computed.json, iExec's result digest, a zip of /iexec_out, the
 *             upload signed by the enclave challenge key, pushResultBoost.
 * Secrets live in memory only and are wiped after the task. */
#include "worker.h"

#include "../scheduler/scheduler.h"
#include "../sms/sms.h"
#include "crypto/aead.h"
#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/addr.h"
#include "net/http.h"
#include "oci.h"
#include "poco/deploy.h"
#include "poco/market.h"
#include "store/db.h"
#include "tdx/ratls.h"
#include "tdx/sim.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"
#include "util/proc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define INPUT_MAX   (256u << 20)
#define DATASET_MAX (1u << 30)
#define RESULT_MAX  (64u << 20)
#define CALLBACK_MAX 16384 /* bytes of callback-data */
#define ZERO_ADDR   "0x0000000000000000000000000000000000000000"

struct worker {
	const struct worker_config *cfg;
	sqlite3 *db; /* the task journal: what this worker took and how it ended */
	pthread_t pinger;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pinger_stop;
	struct poco_chain *chain;
	uint8_t addr[20];
	char address[43], token[65], sched[256];
	char layout[PATH_MAX]; /* the OCI image layout (an archive is unpacked here) */
	struct tdx_gate sms_gate; /* RA-TLS: the SMS's TD admitted by this */
	struct http_peer sms_peer;
};

/* Everything one task needs, filled as it goes. */
struct task {
	json_t *a; /* the assignment */
	const char *taskid, *dealid;
	uint8_t tid[32], did[32], digest[32], enclave_key[32];
	char dir[PATH_MAX], in[PATH_MAX], out[PATH_MAX];
	int tee;             /* a TEE task (else a standard, replicated one) */
	json_t *session_env; /* from the SMS: every service's environment */
	json_t *app_secrets; /* from the SMS: the app service's environment */
	json_t *image_cfg;
	char image[512];
	json_t *app_env; /* "K=V" strings for the app */
	char result_location[512];
	uint8_t *callback; /* computed.json's callback-data, for the deal's callback */
	size_t callback_len;
};

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* A JSON call to the scheduler or the SMS (replies up to 1 MiB). */
static int call(const char *url, const char *auth, const json_t *body, long timeout, long *status,
                json_t **out)
{
	return http_json(url, auth, body, 1 << 20, timeout, status, out);
}

/* How the SMS is admitted: by its RA-TLS quote when the worker has an SMS
 * policy, else by the usual CA verification (NULL). */
static const struct http_peer *sms_peer(const struct worker *w)
{
	return w->sms_peer.check ? &w->sms_peer : NULL;
}

/* A JSON call to the SMS. */
static int sms_call(struct worker *w, const char *url, const char *auth, const json_t *body,
                    long timeout, long *status, json_t **out)
{
	return http_json_peer(sms_peer(w), url, auth, body, 1 << 20, timeout, status, out);
}

/* ---------- registration and the scheduler API ---------- */

static int worker_register(struct worker *w)
{
	uint8_t nonce[32], rd[64], h[32], sig[65], *quote = NULL;
	size_t qlen;
	char url[512], auth[133], nhex[65];
	json_t *r = NULL, *body;
	long st;
	int rc;

	snprintf(url, sizeof(url), "%s/workers/challenge", w->sched);
	body = json_object();
	rc = call(url, NULL, body, 10, &st, &r);
	json_decref(body);
	GUARD(rc);
	rc = json_get_hex(r, "nonce", nonce, 32, 0);
	json_decref(r);
	GUARD(rc);
	sched_worker_report_data(nonce, w->addr, rd);
	GUARD(tdx_provider_quote(&w->cfg->provider, rd, &quote, &qlen));
	keccak256(nonce, 32, h);
	rc = eip191_sign32(w->cfg->key, h, sig);
	char *b64 = base64_encode(quote, qlen);
	free(quote);
	ENSURE(b64 && rc == 0, ERR_NOMEM, "register: cannot build the request");
	hex_encode_0x(auth, sig, 65);
	hex_encode(nhex, nonce, 32);
	body = json_pack("{s:s,s:s,s:s}", "address", w->address, "nonce", nhex, "quote", b64);
	free(b64);
	snprintf(url, sizeof(url), "%s/workers/register", w->sched);
	rc = call(url, auth, body, 30, &st, &r);
	json_decref(body);
	if (rc < 0)
		return err_wrap(rc, "register with %s", w->sched);
	snprintf(w->token, sizeof(w->token), "%s", jstr(r, "token") ? jstr(r, "token") : "");
	log_info("worker.register", "worker=%s tcb=%s simulated=%d", w->address,
	         jstr(r, "tcbStatus") ? jstr(r, "tcbStatus") : "?",
	         json_is_true(json_object_get(r, "simulated")));
	json_decref(r);
	ENSURE(strlen(w->token) == 64, ERR_INVAL, "register: no token in the reply");
	return 0;
}

static void bearer(const struct worker *w, char out[80])
{
	snprintf(out, 80, "Bearer %s", w->token);
}

/* A task's status to the scheduler; a replicate that revealed a callback
 * task's result also gives its callback-data (the scheduler's finalize
 * needs it). */
static void report_cb(struct worker *w, const char *taskid, const char *status,
                      const char *detail, const char *tx, const struct task *cb)
{
	char url[512], auth[80];
	json_t *b = json_pack("{s:s,s:s,s:s}", "status", status, "detail", detail ? detail : status,
	                      "tx", tx ? tx : ""),
	       *r = NULL;
	if (cb && cb->callback_len)
		json_object_set_new(b, "callbackData", eth_json_hex(cb->callback, cb->callback_len));
	long st;
	snprintf(url, sizeof(url), "%s/workers/tasks/%s/status", w->sched, taskid);
	bearer(w, auth);
	if (call(url, auth, b, 10, &st, &r) < 0)
		log_warn("worker.report", "task=%s status=%s error=\"%s\"", taskid, status,
		         err_msg());
	json_decref(r);
	json_decref(b);
}

static void report(struct worker *w, const char *taskid, const char *status, const char *detail,
                   const char *tx)
{
	report_cb(w, taskid, status, detail, tx, NULL);
}

/* ---------- the session ---------- */

/* One attestation: a nonce, an ephemeral X25519 key, a quote binding both
 * to the task and app; the session opened with the key. */
static int attest(struct worker *w, struct task *t, const char *base, const char *evlog,
                  json_t **sess)
{
	uint8_t nonce[32], epriv[32], epk[32], rd[64], *quote = NULL, *sealed = NULL, *plain = NULL;
	size_t qlen = 0, slen = 0, plen = 0;
	char url[1024], dhex[65], pkhex[65], *b64 = NULL;
	json_t *r = NULL, *body;
	long st;
	int rc;

	snprintf(url, sizeof(url), "%s/challenge", base);
	body = json_object();
	rc = sms_call(w, url, NULL, body, 10, &st, &r);
	json_decref(body);
	body = NULL;
	GUARD_GOTO(rc);
	GUARD_GOTO(json_get_hex(r, "nonce", nonce, 32, 0));
	json_decref(r);
	r = NULL;
	GUARD_GOTO(x25519_keygen(epriv, epk));
	sms_report_data(nonce, t->tid, t->digest, epk, rd);
	GUARD_GOTO(tdx_provider_quote(&w->cfg->provider, rd, &quote, &qlen));
	hex_encode(dhex, t->digest, 32);
	hex_encode(pkhex, epk, 32);
	/* the quote as the raw body: no base64 or JSON string for the SMS to scan */
	if (evlog) {
		char *e = base64_encode((const uint8_t *)evlog, strlen(evlog));
		size_t n = e ? strlen(e) + 16 : 0;
		b64 = e ? malloc(n) : NULL;
		if (b64)
			snprintf(b64, n, "X-Event-Log: %s", e);
		free(e);
		ENSURE_GOTO(b64, ERR_NOMEM, "out of memory");
	}
	snprintf(url, sizeof(url), "%s/attest?publicKey=%s&appDigest=%s", base, pkhex, dhex);
	struct http_call c = {NULL, "application/octet-stream", quote, qlen, sms_peer(w), b64};
	GUARD_GOTO(http_call_json(url, &c, 1 << 20, 30, &st, &r));
	const char *sb = jstr(r, "session");
	if (!sb) {
		rc = err_set(ERR_INVAL, "sms: no session in the reply");
		goto out;
	}
	GUARD_GOTO(base64_decode(sb, strlen(sb), &sealed, &slen));
	GUARD_GOTO(seal_open(epriv, SMS_SESSION_LABEL, sealed, slen, &plain, &plen));
	GUARD_GOTO(json_parse((const char *)plain, plen, "session", sess));
out:
	OPENSSL_cleanse(epriv, sizeof(epriv));
	if (plain) {
		OPENSSL_cleanse(plain, plen);
		free(plain);
	}
	free(sealed);
	free(quote);
	free(b64);
	json_decref(body);
	json_decref(r);
	return rc;
}

static int get_session(struct worker *w, struct task *t)
{
	uint8_t h[32], sig[65], enc[20], p[72];
	char url[1024], auth[133], base[512], dhex[65], *evlog = NULL;
	json_t *r = NULL, *body = NULL, *sess = NULL;
	long st;
	int rc;

	/* 1. a session for this task, as the authorized worker */
	GUARD(eth_addr_parse(jstr(t->a, "enclaveChallenge"), enc));
	memcpy(p, w->addr, 20);
	memcpy(p + 20, t->tid, 32);
	memcpy(p + 52, enc, 20);
	keccak256(p, 72, h);
	GUARD(eip191_sign32(w->cfg->key, h, sig));
	hex_encode_0x(auth, sig, 65);
	body = json_pack("{s:s,s:s,s:s,s:s}", "workerWallet", w->address, "chainTaskId", t->taskid,
	                 "enclaveChallenge", jstr(t->a, "enclaveChallenge"), "signature",
	                 jstr(t->a, "workerpoolAuthorization"));
	if (json_is_true(json_object_get(t->a, "boost")))
		snprintf(url, sizeof(url), "%s/tee/sessions?dealId=%s&taskIndex=%lld",
		         jstr(t->a, "smsUrl"), t->dealid + 2,
		         (long long)json_integer_value(json_object_get(t->a, "taskIndex")));
	else
		snprintf(url, sizeof(url), "%s/tee/sessions", jstr(t->a, "smsUrl"));
	rc = sms_call(w, url, auth, body, 30, &st, &r);
	json_decref(body);
	body = NULL;
	GUARD_GOTO(rc);
	snprintf(base, sizeof(base), "%s",
	         jstr(r, "secretProvisioningUrl") ? jstr(r, "secretProvisioningUrl") : "");
	json_decref(r);
	r = NULL;
	/* 2. RTMR3 measures what this TD is about to run, for whom */
	if (w->cfg->provider.kind == TDX_PROVIDER_SIM) {
		uint8_t m[64], d48[48];
		char ev[200], path[PATH_MAX];
		uint8_t *buf;
		size_t blen;
		memcpy(m, t->digest, 32);
		memcpy(m + 32, t->tid, 32);
		SHA384(m, 64, d48);
		hex_encode(dhex, t->digest, 32);
		snprintf(ev, sizeof(ev), "tdexec app sha256:%.64s task %s", dhex, t->taskid);
		GUARD_GOTO(tdx_sim_extend(w->cfg->provider.sim_dir, 3, d48, ev));
		snprintf(path, sizeof(path), "%s/event_log.jsonl", w->cfg->provider.sim_dir);
		GUARD_GOTO(file_read(path, 1 << 20, &buf, &blen));
		evlog = (char *)buf;
	}
	/* 3. attest; an SMS restarted meanwhile forgets its nonces: the
	 * attempt is made again with a fresh nonce, key and quote. */
	for (int attempt = 0; attempt < 3; attempt++) {
		if (attempt) {
			log_warn("worker.session", "task=%s attempt=%d error=\"%s\"", t->taskid,
			         attempt, err_msg());
			sleep((unsigned)attempt);
		}
		if ((rc = attest(w, t, base, evlog, &sess)) == 0)
			break;
	}
	GUARD_GOTO(rc);
	/* pre-compute, app and post-compute: this worker runs the first and
	 * the last itself, so it keeps them all; the app gets its own only */
	size_t i;
	json_t *svc;
	t->session_env = json_object();
	json_array_foreach (json_object_get(sess, "services"), i, svc) {
		json_t *env = json_object_get(svc, "environment");
		if (!json_is_object(env))
			continue;
		json_object_update(t->session_env, env);
		if (strcmp(jstr(svc, "name") ? jstr(svc, "name") : "", "app") == 0)
			t->app_secrets = json_incref(env);
	}
	if (!t->app_secrets) {
		rc = err_set(ERR_INVAL, "session: no app service");
		goto out;
	}
	{
		const char *k = jstr(t->session_env, "SIGN_TEE_CHALLENGE_PRIVATE_KEY");
		uint8_t a2[20];
		rc = k && strlen(k) == 66
		         ? hex_decode_exact(t->enclave_key, 32, k + 2, "challenge key")
		         : err_set(ERR_INVAL, "session: no enclave challenge key");
		if (rc == 0)
			rc = k1_address(t->enclave_key, a2);
		if (rc == 0 && memcmp(a2, enc, 20) != 0)
			rc = err_set(ERR_VERIFY, "session: the challenge key is not the task's");
	}
	log_info("worker.session", "task=%s released=1", t->taskid);
out:
	free(evlog);
	json_decref(sess);
	json_decref(body);
	json_decref(r);
	return rc;
}

/* ---------- pre-compute ---------- */

static void sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t h[32];
	SHA256(p, n, h);
	hex_encode(out, h, 32);
}

static void env_add(json_t *env, const char *k, const char *v)
{
	char *kv = malloc(strlen(k) + strlen(v) + 2);
	if (!kv)
		return;
	sprintf(kv, "%s=%s", k, v);
	json_array_append_new(env, json_string(kv));
	OPENSSL_cleanse(kv, strlen(kv));
	free(kv);
}

/* A task's input file or dataset: URLs that the requester or the chain
 * names, fetched outside the app's sandbox, so public addresses only unless
 * the operator serves inputs privately on purpose. */
static int fetch(const struct worker *w, const char *url, size_t cap, struct http_response *r)
{
	int rc =
	    http_fetch(url, w->cfg->allow_private_inputs ? NULL : &http_dest_public, cap, 120, r);
	if (rc == ERR_VERIFY) {
		char why[512];
		snprintf(why, sizeof(why), "%s", err_msg());
		return err_set(rc, "%s; the worker needs --allow-private-inputs to fetch it", why);
	}
	GUARD(rc);
	if (r->status != 200) {
		http_response_free(r);
		return err_set(ERR_IO, "%s: HTTP %ld", url, r->status);
	}
	return 0;
}

/* iExec's dataset format: IV (16) || AES-256-CBC ciphertext (PKCS#7),
 * the key given base64-encoded. */
static int dataset_decrypt(const uint8_t *in, size_t len, const char *key_b64, uint8_t **out,
                           size_t *out_len)
{
	uint8_t *key = NULL;
	size_t klen = 0;
	int rc;

	*out = NULL;
	GUARD(base64_decode(key_b64, strlen(key_b64), &key, &klen));
	rc = klen == 32 ? aes256cbc_open(key, in, len, out, out_len)
	                : err_set(ERR_INVAL, "dataset: the key is not 256 bits");
	OPENSSL_cleanse(key, klen);
	free(key);
	if (rc == ERR_VERIFY)
		rc = err_set(ERR_VERIFY, "dataset: cannot decrypt with the key from the SMS");
	return rc;
}

static int pre_compute(struct worker *w, struct task *t, json_t *params)
{
	json_t *files = json_object_get(params, "iexec_input_files"), *f;
	struct http_response r;
	char path[PATH_MAX + 80], name[65], k[48], v[24];
	size_t i;
	const char *dataset = jstr(t->a, "dataset");

	json_array_foreach (files, i, f) {
		const char *url = json_string_value(f);
		ENSURE(url, ERR_INVAL, "iexec_input_files: entry %zu is not a URL", i);
		GUARD(fetch(w, url, INPUT_MAX, &r));
		sha256_hex(url, strlen(url), name);
		snprintf(path, sizeof(path), "%s/%s", t->in, name);
		size_t got = r.body.len;
		int rc = file_write(path, r.body.buf, r.body.len, 0644);
		http_response_free(&r);
		GUARD(rc);
		snprintf(k, sizeof(k), "IEXEC_INPUT_FILE_URL_%zu", i + 1);
		env_add(t->app_env, k, url);
		snprintf(k, sizeof(k), "IEXEC_INPUT_FILE_NAME_%zu", i + 1);
		env_add(t->app_env, k, name);
		log_info("worker.pre", "task=%s input=%zu bytes=%zu", t->taskid, i + 1, got);
	}
	snprintf(v, sizeof(v), "%zu", json_array_size(files));
	env_add(t->app_env, "IEXEC_INPUT_FILES_NUMBER", v);
	env_add(t->app_env, "IEXEC_INPUT_FILES_FOLDER", "/iexec_in");
	if (dataset && strcasecmp(dataset, ZERO_ADDR) != 0) {
		uint8_t a[20], sum[32], want[32], *plain = NULL;
		size_t plen = 0;
		json_t *ds = NULL;
		const char *key = jstr(t->session_env, "IEXEC_DATASET_KEY");
		int rc;
		GUARD(eth_addr_parse(dataset, a));
		GUARD(poco_asset_show(w->chain, POCO_DATASET, a, &ds));
		const char *url = jstr(ds, "multiaddr"), *cs = jstr(ds, "checksum");
		rc = url && cs && strlen(cs) == 66
		         ? hex_decode_exact(want, 32, cs + 2, "checksum")
		         : err_set(ERR_INVAL, "dataset %s: no URL or checksum", dataset);
		if (rc == 0)
			rc = fetch(w, url, DATASET_MAX, &r);
		if (rc == 0) {
			SHA256(r.body.buf, r.body.len, sum);
			if (CRYPTO_memcmp(sum, want, 32) != 0)
				rc = err_set(ERR_VERIFY, "dataset %s: checksum mismatch", dataset);
			else if (!key)
				rc = err_set(ERR_NOTFOUND, "dataset %s: the SMS holds no key",
				             dataset);
			else
				rc = dataset_decrypt(r.body.buf, r.body.len, key, &plain, &plen);
			http_response_free(&r);
		}
		if (rc == 0) {
			snprintf(path, sizeof(path), "%s/%s", t->in, dataset);
			rc = file_write(path, plain, plen, 0644);
			OPENSSL_cleanse(plain, plen);
			free(plain);
			log_info("worker.pre", "task=%s dataset=%s bytes=%zu", t->taskid, dataset,
			         plen);
		}
		json_decref(ds);
		GUARD(rc);
		env_add(t->app_env, "IEXEC_DATASET_ADDRESS", dataset);
		env_add(t->app_env, "IEXEC_DATASET_FILENAME", dataset);
	}
	return 0;
}

/* ---------- the app ---------- */

/* Split iexec_args like a shell would for words: quotes and backslashes. */
static int split_args(const char *s, json_t *out)
{
	struct wbuf word;
	int in_word = 0;
	char q = 0;

	wbuf_init(&word);
	for (; *s; s++) {
		char c = *s;
		if (q) {
			if (c == q)
				q = 0;
			else if (c == '\\' && q == '"' && (s[1] == '"' || s[1] == '\\'))
				wbuf_u8(&word, (uint8_t) * ++s);
			else
				wbuf_u8(&word, (uint8_t)c);
		} else if (c == '\'' || c == '"') {
			q = c;
			in_word = 1;
		} else if (c == '\\' && s[1]) {
			wbuf_u8(&word, (uint8_t) * ++s);
			in_word = 1;
		} else if (c == ' ' || c == '\t' || c == '\n') {
			if (in_word) {
				json_array_append_new(out,
				                      json_stringn((char *)word.buf, word.len));
				word.len = 0;
				in_word = 0;
			}
		} else {
			wbuf_u8(&word, (uint8_t)c);
			in_word = 1;
		}
	}
	if (in_word)
		json_array_append_new(out,
		                      json_stringn(word.buf ? (char *)word.buf : "", word.len));
	wbuf_free(&word);
	ENSURE(!q, ERR_INVAL, "iexec_args: unbalanced quote");
	return 0;
}

static int run_app(struct worker *w, struct task *t, json_t *params, int *exit_code, char *why,
                   size_t why_cap)
{
	json_t *args = json_array(), *e, *cat = NULL;
	char bundle[PATH_MAX + 16], root[PATH_MAX + 16], log[PATH_MAX + 16], id[40];
	uint8_t catid[32] = {0};
	long long c = json_integer_value(json_object_get(t->a, "category"));
	long timeout = w->cfg->max_time_s;
	int timed_out, oom, rc = 0;
	size_t i;

	/* Entrypoint, then the deal's args in place of the image's Cmd. */
	json_array_foreach (json_object_get(t->image_cfg, "Entrypoint"), i, e)
		json_array_append(args, e);
	if (jstr(params, "iexec_args") && *jstr(params, "iexec_args"))
		rc = split_args(jstr(params, "iexec_args"), args);
	else
		json_array_foreach (json_object_get(t->image_cfg, "Cmd"), i, e)
			json_array_append(args, e);
	if (rc == 0 && json_array_size(args) == 0)
		rc = err_set(ERR_INVAL, "the image has no Entrypoint or Cmd and the deal no args");
	json_array_foreach (json_object_get(t->image_cfg, "Env"), i, e)
		json_array_append(t->app_env, e);
	/* Wall time: the category's reference (iExec's maxExecutionTime). */
	for (int b = 0; b < 8; b++)
		catid[31 - b] = (uint8_t)((unsigned long long)c >> (8 * b));
	if (poco_view(w->chain, "viewCategory", catid, &cat) == 0) {
		const char *ref = jstr(cat, "workClockTimeRef");
		/* the worker's own cap wins when it is smaller */
		if (ref && atol(ref) > 0 && atol(ref) < timeout)
			timeout = atol(ref);
		json_decref(cat);
	}
	snprintf(bundle, sizeof(bundle), "%s/bundle", t->dir);
	snprintf(root, sizeof(root), "%s/runc", w->cfg->work_dir);
	snprintf(log, sizeof(log), "%s/app.log", t->dir);
	snprintf(id, sizeof(id), "tdexec-%.24s", t->taskid + 2);
	if (rc == 0)
		rc = dir_create(bundle, 0700);
	if (rc == 0) {
		char rootfs[PATH_MAX + 16];
		snprintf(rootfs, sizeof(rootfs), "%s/rootfs", t->image);
		struct oci_run r = {w->cfg->runtime,
		                    root,
		                    id,
		                    bundle,
		                    rootfs,
		                    t->in,
		                    t->out,
		                    log,
		                    args,
		                    t->app_env,
		                    jstr(t->image_cfg, "WorkingDir"),
		                    w->cfg->memory ? w->cfg->memory : 8ull << 30,
		                    timeout,
		                    w->cfg->allow_network};
		log_info("worker.app", "task=%s image=sha256:%.12s... timeout=%lds", t->taskid,
		         t->image + strlen(t->image) - 64, timeout);
		struct timespec a0, a1;
		clock_gettime(CLOCK_MONOTONIC, &a0);
		rc = oci_run(&r, exit_code, &timed_out, &oom);
		clock_gettime(CLOCK_MONOTONIC, &a1);
		log_info("worker.app", "task=%s exit=%d app_seconds=%.3f", t->taskid, *exit_code,
		         (double)(a1.tv_sec - a0.tv_sec) + (double)(a1.tv_nsec - a0.tv_nsec) / 1e9);
		if (rc == 0 && timed_out)
			snprintf(why, why_cap, "app killed: over its %lds wall time", timeout);
		else if (rc == 0 && oom)
			snprintf(why, why_cap, "app killed: over its memory limit");
		else if (rc == 0 && *exit_code != 0)
			snprintf(why, why_cap, "app exited with status %d", *exit_code);
	}
	json_decref(args);
	return rc;
}

/* ---------- post-compute ---------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}


int worker_result_digest(const char *path, uint8_t out[32])
{
	struct stat sb;
	DIR *d;
	struct dirent *e;
	char **names = NULL, p[PATH_MAX + 256];
	size_t n = 0;
	struct wbuf cat;
	int rc = 0;

	ENSURE(stat(path, &sb) == 0, ERR_NOTFOUND, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return file_sha256(path, RESULT_MAX, out);
	ENSURE(d = opendir(path), ERR_IO, "%s: %s", path, strerror(errno));
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			char **nn = realloc(names, (n + 1) * sizeof(*names));
			if (!nn || !(nn[n] = strdup(e->d_name))) {
				names = nn ? nn : names;
				rc = err_set(ERR_NOMEM, "out of memory");
				break;
			}
			names = nn;
			n++;
		}
	closedir(d);
	if (rc == 0 && n == 0)
		rc = err_set(ERR_INVAL, "%s: the output is empty", path);
	qsort(names, n, sizeof(*names), cmp_str);
	wbuf_init(&cat);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint8_t h[32];
		snprintf(p, sizeof(p), "%s/%s", path, names[i]);
		rc = file_sha256(p, RESULT_MAX, h);
		if (rc == 0)
			rc = wbuf_put(&cat, h, 32);
	}
	if (rc == 0)
		keccak256(cat.buf, cat.len, out);
	wbuf_free(&cat);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* iExec's encrypted result: DIR/encrypted-iexec_out.zip holding
 * iexec_out.zip.aes (IV + AES-256-CBC) and aes-key.rsa (the AES key under
 * the beneficiary's RSA key, PKCS#1 v1.5).  `zip` is replaced by it. */
static int encrypt_result(struct task *t, char zip[PATH_MAX])
{
	const char *pub = jstr(t->session_env, "RESULT_ENCRYPTION_PUBLIC_KEY");
	uint8_t key[32], *plain = NULL, *ct = NULL, *wrapped = NULL;
	size_t plen = 0, clen = 0, wlen = 0;
	char dir[PATH_MAX + 32], aes[PATH_MAX + 64], rsa[PATH_MAX + 64], out[PATH_MAX + 64];
	int rc;

	ENSURE(pub, ERR_NOTFOUND,
	       "result encryption asked, but the beneficiary has no "
	       "iexec-result-encryption-public-key in the SMS");
	GUARD(path_fmt(dir, sizeof(dir), "%s/encrypted-iexec_out", t->dir));
	GUARD(path_fmt(aes, sizeof(aes), "%s/iexec_out.zip.aes", dir));
	GUARD(path_fmt(rsa, sizeof(rsa), "%s/aes-key.rsa", dir));
	GUARD(path_fmt(out, sizeof(out), "%s.zip", dir));
	GUARD(dir_create(dir, 0700));
	GUARD(file_read(zip, RESULT_MAX, &plain, &plen));
	rc = RAND_bytes(key, 32) == 1 ? 0 : err_set(ERR_CRYPTO, "no randomness");
	if (rc == 0)
		rc = aes256cbc_seal(key, plain, plen, &ct, &clen);
	if (rc == 0)
		rc = rsa_wrap_key(pub, key, &wrapped, &wlen);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc == 0)
		rc = file_write(aes, ct, clen, 0600);
	if (rc == 0)
		rc = file_write(rsa, wrapped, wlen, 0600);
	free(plain);
	free(ct);
	free(wrapped);
	GUARD(rc);
	unlink(out);
	char *argv[] = {"zip", "-q", "-j", "-X", out, aes, rsa, NULL};
	GUARD(proc_check(argv, NULL));
	return path_fmt(zip, PATH_MAX, "%s", out);
}

/* computed.json (the app's, or one naming /iexec_out), the digest, the zip. */
static int post_compute(struct worker *w, struct task *t, uint8_t digest[32], char zip[PATH_MAX])
{
	char path[PATH_MAX + 32], host[PATH_MAX + 256];
	json_t *computed = NULL;
	struct stat sb;
	const char *dop;
	int rc;
	(void)w;

	snprintf(path, sizeof(path), "%s/computed.json", t->out);
	if (stat(path, &sb) != 0) {
		computed = json_pack("{s:s}", "deterministic-output-path", "/iexec_out");
		GUARD(json_write_path(path, computed, 0644));
	} else {
		GUARD(json_load_path(path, 1 << 16, &computed));
	}
	dop = jstr(computed, "deterministic-output-path");
	if (!dop || strncmp(dop, "/iexec_out", 10) != 0 || strstr(dop, "..")) {
		json_decref(computed);
		return err_set(ERR_INVAL,
		               "computed.json: deterministic-output-path must be under /iexec_out");
	}
	snprintf(host, sizeof(host), "%s%s", t->out, dop + 10);
	rc = worker_result_digest(host, digest);
	/* iExec's callback-data: ABI-encoded bytes for the deal's callback
	 * contract (an oracle's answer), 0x hex */
	const char *cb = jstr(computed, "callback-data");
	if (rc == 0 && cb) {
		size_t skip = strncmp(cb, "0x", 2) == 0 ? 2 : 0;
		if (strlen(cb + skip) > 2 * CALLBACK_MAX ||
		    hex_decode_alloc(cb + skip, strlen(cb + skip), &t->callback, &t->callback_len) < 0)
			rc = err_set(ERR_INVAL, "computed.json: callback-data must be hex, at most "
			                        "%d bytes",
			             CALLBACK_MAX);
	}
	json_decref(computed);
	GUARD(rc);
	GUARD(path_fmt(zip, PATH_MAX, "%s/iexec_out.zip", t->dir));
	unlink(zip);
	char *argv[] = {"zip", "-q", "-r", "-X", zip, ".", NULL};
	return proc_check(argv, t->out);
}

static int upload(struct worker *w, struct task *t, const char *zip)
{
	uint8_t *buf, m[64], sig[65];
	size_t len;
	char url[512], auth[133];
	struct http_response r;
	json_t *j = NULL;
	int rc;
	(void)w;

	GUARD(file_read(zip, RESULT_MAX, &buf, &len));
	memcpy(m, t->tid, 32);
	SHA256(buf, len, m + 32);
	/* the enclave challenge key signs; the worker's own for a standard task */
	rc = eip191_sign_keccak(t->tee ? t->enclave_key : w->cfg->key, m, 64, sig);
	hex_encode_0x(auth, sig, 65);
	snprintf(url, sizeof(url), "%s/%s", jstr(t->a, "resultsUrl"), t->taskid);
	if (rc == 0)
		rc = http_post_auth(url, auth, "application/zip", buf, len, 4096, 120, &r);
	free(buf);
	GUARD(rc);
	if (r.status == 200)
		rc = json_parse((const char *)r.body.buf, r.body.len, "upload", &j);
	else
		rc = err_set(ERR_IO, "result upload: HTTP %ld", r.status);
	http_response_free(&r);
	GUARD(rc);
	snprintf(t->result_location, sizeof(t->result_location), "%s",
	         jstr(j, "location") ? jstr(j, "location") : url);
	json_decref(j);
	return 0;
}

/* The deal's callback contract (all zero when none): it gets the task's
 * callback-data from PoCo, and the data's hash is then the result digest. */
static int deal_callback(struct worker *w, const struct task *t, int boost, uint8_t out[20])
{
	json_t *d = NULL;
	int rc;
	GUARD(poco_view(w->chain, boost ? "viewDealBoost" : "viewDeal", t->did, &d));
	rc = eth_addr_parse(jstr(d, "callback"), out);
	json_decref(d);
	return rc;
}

/* The digest PoCo checks: keccak256(callback-data) when the deal names a
 * callback contract (the app must have written some), else the result's.
 * Data for a deal without a callback is dropped: it goes nowhere. */
static int callback_digest(struct worker *w, struct task *t, int boost, const uint8_t in[32],
                           uint8_t out[32])
{
	static const uint8_t zero[20];
	uint8_t target[20];

	GUARD(deal_callback(w, t, boost, target));
	memcpy(out, in, 32);
	if (memcmp(target, zero, 20) == 0) {
		free(t->callback);
		t->callback = NULL;
		t->callback_len = 0;
		return 0;
	}
	ENSURE(t->callback_len > 0, ERR_INVAL,
	       "the deal names a callback contract but the app wrote no callback-data");
	keccak256(t->callback, t->callback_len, out);
	return 0;
}

static int push_result(struct worker *w, struct task *t, const uint8_t digest_in[32],
                       char tx[67])
{
	uint8_t p[84], h[32], esig[65], enc[20], asig[65], digest[32];
	char dg[67], *results;
	json_t *rj, *cbarg;
	struct eth_receipt rc_;
	int rc, boost = json_is_true(json_object_get(t->a, "boost")), has_cb;

	GUARD(callback_digest(w, t, boost, digest_in, digest));
	has_cb = t->callback_len > 0;
	hex_encode_0x(dg, digest, 32);
	rj = json_pack("{s:s,s:s,s:s}", "storage", "tdexec", "location", t->result_location,
	               "resultDigest", dg);
	results = json_dumps(rj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(rj);
	ENSURE(results, ERR_NOMEM, "out of memory");
	if (boost) { /* keccak(worker || taskid || keccak(callback ? data : results)) */
		memcpy(p, w->addr, 20);
		memcpy(p + 20, t->tid, 32);
		if (has_cb)
			keccak256(t->callback, t->callback_len, h);
		else
			keccak256(results, strlen(results), h);
		memcpy(p + 52, h, 32);
		rc = eip191_sign_keccak(t->enclave_key, p, 84, esig);
	} else { /* keccak(resultHash || resultSeal), PoCo's contribution */
		uint8_t rh[64];
		poco_result_hash_seal(t->tid, w->addr, digest, rh, rh + 32);
		rc = eip191_sign_keccak(t->enclave_key, rh, 64, esig);
	}
	if (rc == 0)
		rc = eth_addr_parse(jstr(t->a, "enclaveChallenge"), enc);
	if (rc == 0)
		rc = hex_decode_exact(asig, 65, jstr(t->a, "workerpoolAuthorization") + 2,
		                      "authorization");
	json_t *arg = eth_json_hex((const uint8_t *)results, strlen(results));
	free(results);
	cbarg = has_cb ? eth_json_hex(t->callback, t->callback_len) : json_string("0x");
	if (rc == 0 && (!arg || !cbarg))
		rc = err_set(ERR_NOMEM, "out of memory");
	if (rc == 0)
		rc = boost ? poco_send(
		                 w->chain->rpc, w->cfg->key, w->chain->hub,
		                 "pushResultBoost(bytes32,uint256,bytes,bytes,bytes,address,bytes)",
		                 json_pack("[o,I,O,O,o,o,o]", eth_json_hex(t->did, 32),
		                           json_integer_value(json_object_get(t->a, "taskIndex")),
		                           arg, cbarg, eth_json_hex(asig, 65), eth_json_addr(enc),
		                           eth_json_hex(esig, 65)),
		                 &rc_)
		           : poco_send(
		                 w->chain->rpc, w->cfg->key, w->chain->hub,
		                 "contributeAndFinalize(bytes32,bytes32,bytes,bytes,address,bytes,"
		                 "bytes)",
		                 json_pack("[o,o,O,O,o,o,o]", eth_json_hex(t->tid, 32),
		                           eth_json_hex(digest, 32), arg, cbarg, eth_json_addr(enc),
		                           eth_json_hex(esig, 65), eth_json_hex(asig, 65)),
		                 &rc_);
	json_decref(arg);
	json_decref(cbarg);
	GUARD(rc);
	hex_encode_0x(tx, rc_.tx_hash, 32);
	log_info("worker.push", "task=%s tx=%s gas=%llu call=%s callback_bytes=%zu", t->taskid, tx,
	         (unsigned long long)rc_.gas_used,
	         boost ? "pushResultBoost" : "contributeAndFinalize", has_cb ? t->callback_len : 0);
	eth_receipt_free(&rc_);
	return 0;
}

/* A standard task: contribute (resultHash, resultSeal), wait for the
 * chain's consensus, reveal when ours is the consensus value. */
static int contribute_reveal(struct worker *w, struct task *t, const uint8_t digest_in[32],
                             char tx[67])
{
	uint8_t rh[32], rs[32], asig[65], digest[32];
	static const uint8_t zero[20];
	struct eth_receipt r;
	json_t *task = NULL;
	char cv[67];
	int rc;

	/* a callback task: the consensus is on keccak(callback-data) */
	GUARD(callback_digest(w, t, 0, digest_in, digest));
	poco_result_hash_seal(t->tid, w->addr, digest, rh, rs);
	GUARD(
	    hex_decode_exact(asig, 65, jstr(t->a, "workerpoolAuthorization") + 2, "authorization"));
	GUARD(poco_send(w->chain->rpc, w->cfg->key, w->chain->hub,
	                "contribute(bytes32,bytes32,bytes32,address,bytes,bytes)",
	                json_pack("[o,o,o,o,s,o]", eth_json_hex(t->tid, 32), eth_json_hex(rh, 32),
	                          eth_json_hex(rs, 32), eth_json_addr(zero), "0x",
	                          eth_json_hex(asig, 65)),
	                &r));
	log_info("worker.contribute", "task=%s gas=%llu", t->taskid,
	         (unsigned long long)r.gas_used);
	eth_receipt_free(&r);
	report(w, t->taskid, "CONTRIBUTING", "contributed, waiting for consensus", NULL);
	hex_encode_0x(cv, rh, 32);
	for (int i = 0; i < 600; i++) { /* 2 minutes */
		long long st;
		GUARD(poco_view(w->chain, "viewTask", t->tid, &task));
		st = atoll(jstr(task, "status") ? jstr(task, "status") : "0");
		rc = st == 2 && jstr(task, "consensusValue") &&
		             strcasecmp(jstr(task, "consensusValue"), cv) == 0
		         ? 1
		     : st >= 2 ? -1
		               : 0;
		json_decref(task);
		if (rc < 0)
			return err_set(ERR_VERIFY, "our result is not the consensus");
		if (rc > 0) {
			GUARD(poco_send(
			    w->chain->rpc, w->cfg->key, w->chain->hub, "reveal(bytes32,bytes32)",
			    json_pack("[o,o]", eth_json_hex(t->tid, 32), eth_json_hex(digest, 32)),
			    &r));
			hex_encode_0x(tx, r.tx_hash, 32);
			log_info("worker.reveal", "task=%s tx=%s gas=%llu", t->taskid, tx,
			         (unsigned long long)r.gas_used);
			eth_receipt_free(&r);
			return 0;
		}
		usleep(200000);
	}
	return err_set(ERR_IO, "no consensus within 2 minutes");
}

/* ---------- the journal ---------- */

static const char *const journal_schema[] = {
    "CREATE TABLE tasks(taskid TEXT PRIMARY KEY, dealid TEXT NOT NULL, started INTEGER NOT NULL,"
    " status TEXT NOT NULL, detail TEXT, tx TEXT);",
    NULL,
};

static void journal(struct worker *w, const char *taskid, const char *dealid, const char *status,
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
static void journal_recover(struct worker *w)
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
		report(w, ids[i], "FAILED", why, NULL);
		journal(w, ids[i], NULL, "FAILED", why, NULL);
	}
}

/* With --pull: copy NAME@sha256:DIGEST (the app's multiaddr, pinned to the
 * on-chain digest) from its registry into the worker's layout with skopeo. */
static int pull_image(struct worker *w, const char *ref, const char *digest_hex)
{
	char src[400];
	const char *at = strchr(ref, '@');
	size_t name_len = at ? (size_t)(at - ref) : strlen(ref);

	ENSURE(name_len > 0 && name_len < 256, ERR_INVAL, "app image '%s': no name to pull", ref);
	for (size_t i = 0; i < name_len; i++)
		ENSURE(isalnum((unsigned char)ref[i]) || strchr("./:_-", ref[i]), ERR_INVAL,
		       "app image '%.*s': not a registry reference", (int)name_len, ref);
	snprintf(src, sizeof(src), "docker://%.*s@sha256:%s", (int)name_len, ref, digest_hex);
	char oci[PATH_MAX + 8];
	GUARD(path_fmt(oci, sizeof(oci), "oci:%s", w->layout));
	char *argv[] = {"skopeo", "copy", "--quiet", src, oci, NULL};
	log_info("worker.pull", "image=\"%s\"", src);
	int st = proc_run(argv, NULL, NULL);
	if (st < 0)
		return err_set(ERR_NOTFOUND, "cannot pull %s: skopeo is not installed", src);
	ENSURE(st == 0, ERR_IO, "cannot pull %s: skopeo exited with status %d", src, st);
	return 0;
}

/* ---------- one task ---------- */

static int prepare(struct worker *w, struct task *t)
{
	uint8_t a[20];
	json_t *app = NULL;
	char hex[65], dst[PATH_MAX];
	int rc;

	t->taskid = jstr(t->a, "taskId");
	t->dealid = jstr(t->a, "dealId");
	ENSURE(t->taskid && t->dealid && strlen(t->taskid) == 66 && strlen(t->dealid) == 66 &&
	           jstr(t->a, "workerpoolAuthorization") &&
	           strlen(jstr(t->a, "workerpoolAuthorization")) == 132 &&
	           jstr(t->a, "resultsUrl") && jstr(t->a, "smsUrl"),
	       ERR_INVAL, "assignment: fields missing");
	GUARD(hex_decode_exact(t->tid, 32, t->taskid + 2, "taskId"));
	GUARD(hex_decode_exact(t->did, 32, t->dealid + 2, "dealId"));
	/* The image is the app's checksum, and nothing else. */
	GUARD(eth_addr_parse(jstr(t->a, "app") ? jstr(t->a, "app") : "", a));
	GUARD(poco_asset_show(w->chain, POCO_APP, a, &app));
	const char *cs = jstr(app, "checksum");
	char ref[256];
	snprintf(ref, sizeof(ref), "%s", jstr(app, "multiaddr") ? jstr(app, "multiaddr") : "");
	rc = cs && strlen(cs) == 66 ? hex_decode_exact(t->digest, 32, cs + 2, "checksum")
	                            : err_set(ERR_INVAL, "app without a checksum");
	json_decref(app);
	GUARD(rc);
	hex_encode(hex, t->digest, 32);
	snprintf(dst, sizeof(dst), "%s/images/%s", w->cfg->work_dir, hex);
	GUARD(path_fmt(t->image, sizeof(t->image), "%s", dst));
	rc = oci_unpack(w->layout, t->digest, dst, &t->image_cfg);
	if (rc == ERR_NOTFOUND && w->cfg->pull) {
		/* fetched by the digest the chain names; oci_unpack checks it again */
		GUARD(pull_image(w, ref, hex));
		rc = oci_unpack(w->layout, t->digest, dst, &t->image_cfg);
	}
	GUARD(rc);
	snprintf(t->dir, sizeof(t->dir), "%s/tasks/%.66s", w->cfg->work_dir, t->taskid);
	GUARD(path_fmt(t->in, sizeof(t->in), "%s/iexec_in", t->dir));
	GUARD(path_fmt(t->out, sizeof(t->out), "%s/iexec_out", t->dir));
	{
		char *argv[] = {"rm", "-rf", t->dir, NULL};
		GUARD(proc_check(argv, NULL)); /* what an earlier attempt left */
	}
	GUARD(dir_create(t->dir, 0700));
	GUARD(dir_create(t->in, 0755));
	GUARD(dir_create(t->out, 0777));
	chmod(t->out, 0777); /* the app may run as any user of its image */
	return 0;
}

static void task_free(struct task *t)
{
	OPENSSL_cleanse(t->enclave_key, sizeof(t->enclave_key));
	json_decref(t->session_env);
	json_decref(t->app_secrets);
	free(t->callback);
	json_decref(t->image_cfg);
	json_decref(t->app_env);
}

static void run_task(struct worker *w, json_t *a)
{
	struct task t;
	json_t *params = NULL;
	char why[256] = "", zip[PATH_MAX], tx[67] = "", dg[67];
	uint8_t digest[32];
	int exit_code = -1, rc;
	struct timespec t0, t1;

	memset(&t, 0, sizeof(t));
	t.a = a;
	t.app_env = json_array();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (jstr(a, "taskId"))
		journal(w, jstr(a, "taskId"), jstr(a, "dealId"), "RUNNING", "taken", NULL);
	rc = prepare(w, &t);
	if (rc == 0) {
		const char *ps = jstr(a, "params");
		if (ps && *ps)
			rc = json_parse(ps, strlen(ps), "deal params", &params);
		else
			params = json_object();
	}
	t.tee = !json_is_false(json_object_get(a, "tee"));
	if (rc == 0 && t.tee)
		rc = get_session(w, &t);
	else if (rc == 0)
		t.session_env = json_object(); /* a standard task: no secrets */
	if (rc == 0) {
		json_t *e;
		const char *k;
		char v[24];
		env_add(t.app_env, "IEXEC_TASK_ID", t.taskid);
		env_add(t.app_env, "IEXEC_IN", "/iexec_in");
		env_add(t.app_env, "IEXEC_OUT", "/iexec_out");
		snprintf(v, sizeof(v), "%lld",
		         (long long)json_integer_value(json_object_get(a, "taskIndex")));
		env_add(t.app_env, "IEXEC_BOT_TASK_INDEX", v);
		/* The app sees its own service's secrets, never the dataset
		 * key (pre-compute's) or the enclave and result keys
		 * (post-compute's); a name of the worker's own is not overridden. */
		json_object_foreach (t.app_secrets, k, e)
			if ((strncmp(k, "IEXEC_REQUESTER_SECRET_", 23) == 0 ||
			     strcmp(k, "IEXEC_APP_DEVELOPER_SECRET") == 0) &&
			    json_is_string(e))
				env_add(t.app_env, k, json_string_value(e));
		report(w, t.taskid, "RUNNING", "pre-compute", NULL);
		rc = pre_compute(w, &t, params);
	}
	if (rc == 0) {
		report(w, t.taskid, "RUNNING", "app", NULL);
		rc = run_app(w, &t, params, &exit_code, why, sizeof(why));
	}
	if (rc == 0 && !why[0]) {
		report(w, t.taskid, "COMPUTED", "post-compute", NULL);
		rc = post_compute(w, &t, digest, zip);
		if (rc == 0 && json_is_true(json_object_get(params, "iexec_result_encryption")))
			rc = encrypt_result(&t, zip);
		if (rc == 0)
			rc = upload(w, &t, zip);
		if (rc == 0 && !t.tee) {
			rc = contribute_reveal(w, &t, digest, tx);
		} else if (rc == 0) {
			report(w, t.taskid, "CONTRIBUTING", "pushResultBoost", NULL);
			rc = push_result(w, &t, digest, tx);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc < 0)
		snprintf(why, sizeof(why), "%s", err_msg());
	if (why[0]) {
		log_warn("worker.task", "task=%s status=FAILED reason=\"%s\"",
		         t.taskid ? t.taskid : "?", why);
		if (t.taskid) {
			report(w, t.taskid, "FAILED", why, NULL);
			journal(w, t.taskid, t.dealid, "FAILED", why, NULL);
		}
	} else {
		hex_encode_0x(dg, digest, 32);
		log_info("worker.task", "task=%s status=COMPLETED digest=%s tx=%s seconds=%.2f",
		         t.taskid, dg, tx,
		         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		report_cb(w, t.taskid, "COMPLETED", dg, tx, t.tee ? NULL : &t);
		journal(w, t.taskid, t.dealid, "COMPLETED", dg, tx);
	}
	json_decref(params);
	task_free(&t);
}

/* --images is an OCI image layout, or an OCI archive (a tar of one, as
 * `skopeo copy ... oci-archive:F` writes), unpacked once into the work dir. */
static int images_layout(struct worker *w)
{
	struct stat sb;
	ENSURE(stat(w->cfg->images, &sb) == 0, ERR_NOTFOUND, "%s: %s", w->cfg->images,
	       strerror(errno));
	if (S_ISDIR(sb.st_mode))
		return path_fmt(w->layout, sizeof(w->layout), "%s", w->cfg->images);
	GUARD(path_fmt(w->layout, sizeof(w->layout), "%s/layout", w->cfg->work_dir));
	char *rm[] = {"rm", "-rf", w->layout, NULL};
	char *tar[] = {"tar",     "-x", "--no-same-owner", "-f", (char *)w->cfg->images, "-C",
	               w->layout, NULL};
	GUARD(proc_check(rm, NULL));
	GUARD(dir_create(w->layout, 0700));
	if (proc_check(tar, NULL) < 0)
		return err_set(ERR_INVAL, "%s: not an OCI archive (tar of an image layout)",
		               w->cfg->images);
	log_info("worker.images", "archive=\"%s\" layout=\"%s\"", w->cfg->images, w->layout);
	return 0;
}

/* Heartbeats while a task runs, so the scheduler does not take it back. */
static void *pinger_main(void *arg)
{
	struct worker *w = arg;
	struct timespec ts;
	char url[512], auth[80];
	int stop = 0;

	snprintf(url, sizeof(url), "%s/workers/ping", w->sched);
	while (!stop) {
		json_t *r = NULL, *b = json_object();
		long st;
		bearer(w, auth);
		if (call(url, auth, b, 5, &st, &r) < 0)
			log_warn("worker.ping", "error=\"%s\"", err_msg());
		json_decref(b);
		json_decref(r);
		pthread_mutex_lock(&w->mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (!w->pinger_stop)
			pthread_cond_timedwait(&w->cv, &w->mu, &ts);
		stop = w->pinger_stop;
		pthread_mutex_unlock(&w->mu);
	}
	return NULL;
}

int worker_run(const struct worker_config *cfg, volatile sig_atomic_t *stop)
{
	struct worker w;
	char url[512], auth[80], dir[PATH_MAX + 16];
	long done = 0, st;
	int rc;

	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	ENSURE(cfg->scheduler_url && cfg->chain_path && cfg->work_dir && cfg->images, ERR_INVAL,
	       "worker: scheduler, chain, work dir and images are required");
	GUARD(http_base_url(w.sched, sizeof(w.sched), cfg->scheduler_url));
	GUARD(k1_address(cfg->key, w.addr));
	eth_addr_str(w.addr, w.address);
	GUARD(dir_create(cfg->work_dir, 0700));
	snprintf(dir, sizeof(dir), "%s/images", cfg->work_dir);
	GUARD(dir_create(dir, 0700));
	GUARD(images_layout(&w));
	if (cfg->sms_policy) {
		ENSURE(cfg->collateral, ERR_INVAL, "worker: --sms-policy needs --collateral");
		GUARD(tdx_gate_open(&w.sms_gate, cfg->collateral, cfg->trust_sim_root,
		                    cfg->sms_policy, "worker.sms"));
		w.sms_peer.check = tdx_ratls_peer_check;
		w.sms_peer.ctx = &w.sms_gate;
	}
	GUARD(poco_chain_load(cfg->chain_path, &w.chain));
	snprintf(dir, sizeof(dir), "%s/runc", cfg->work_dir);
	oci_cleanup(cfg->runtime, dir);
	GUARD(path_fmt(dir, sizeof(dir), "%s/worker.db", cfg->work_dir));
	GUARD(db_open(dir, journal_schema, &w.db));
	rc = worker_register(&w);
	if (rc == 0)
		journal_recover(&w);
	while (rc == 0 && !*stop && (!cfg->max_tasks || done < cfg->max_tasks)) {
		json_t *a = NULL;
		snprintf(url, sizeof(url), "%s/workers/next?wait=5", w.sched);
		bearer(&w, auth);
		if (call(url, auth, NULL, 30, &st, &a) < 0) {
			log_warn("worker.next", "error=\"%s\"", err_msg());
			/* A scheduler that forgot us (a new database): register again. */
			if (strstr(err_msg(), "HTTP 403"))
				rc = worker_register(&w);
			sleep(1);
			continue;
		}
		if (a) {
			int ping = pthread_create(&w.pinger, NULL, pinger_main, &w) == 0;
			run_task(&w, a);
			if (ping) {
				pthread_mutex_lock(&w.mu);
				w.pinger_stop = 1;
				pthread_cond_signal(&w.cv);
				pthread_mutex_unlock(&w.mu);
				pthread_join(w.pinger, NULL);
				w.pinger_stop = 0;
			}
			json_decref(a);
			done++;
		}
	}
	poco_chain_free(w.chain);
	tdx_gate_close(&w.sms_gate);
	db_close(w.db);
	OPENSSL_cleanse(w.token, sizeof(w.token));
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	return rc;
}
