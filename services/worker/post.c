/* post.c — post-compute: computed.json, iExec's result digest, the result
 * archive (encrypted for the beneficiary when asked), its upload, and the
 * task's completion on chain. */
#include "wk.h"

#include "result.h"

#include "crypto/aead.h"
#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "poco/market.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/proc.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/rand.h>
#include <sys/stat.h>

/* iExec's encrypted result: DIR/encrypted-iexec_out.zip holding
 * iexec_out.zip.aes (IV + AES-256-CBC) and aes-key.rsa (the AES key under
 * the beneficiary's RSA key, PKCS#1 v1.5).  `zip` is replaced by it. */
int wk_encrypt_result(struct task *t, char zip[PATH_MAX])
{
	const char *pub = jstr(t->session_env, "RESULT_ENCRYPTION_PUBLIC_KEY");
	uint8_t key[32], *plain = NULL, *ct = NULL, *wrapped = NULL;
	size_t plen = 0, clen = 0, wlen = 0;
	char out[PATH_MAX + 64];
	int rc;

	ENSURE(pub, ERR_NOTFOUND,
	       "result encryption asked, but the beneficiary has no "
	       "iexec-result-encryption-public-key in the SMS");
	GUARD(path_fmt(out, sizeof(out), "%s/encrypted-iexec_out.zip", t->dir));
	GUARD(file_read(zip, RESULT_MAX, &plain, &plen));
	rc = RAND_bytes(key, 32) == 1 ? 0 : err_set(ERR_CRYPTO, "no randomness");
	if (rc == 0)
		rc = aes256cbc_seal(key, plain, plen, &ct, &clen);
	if (rc == 0)
		rc = rsa_wrap_key(pub, key, &wrapped, &wlen);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(plain, plen);
	free(plain);
	if (rc == 0) {
		static const char *const names[] = {"iexec_out.zip.aes", "aes-key.rsa"};
		const uint8_t *bufs[] = {ct, wrapped};
		size_t lens[] = {clen, wlen};
		unlink(out);
		rc = result_zip_buffers(out, 2, names, bufs, lens);
	}
	free(ct);
	free(wrapped);
	GUARD(rc);
	/* the plain archive goes at once: only the sealed one leaves */
	unlink(zip);
	return path_fmt(zip, PATH_MAX, "%s", out);
}

/* computed.json (the app's, or one naming /iexec_out), the digest, the zip. */
int wk_post_compute(struct worker *w, struct task *t, uint8_t digest[32], char zip[PATH_MAX])
{
	static const char dflt[] = "{\"deterministic-output-path\":\"/iexec_out\"}";
	struct result_limits lim = RESULT_DEFAULT_LIMITS;
	char rel[PATH_MAX];
	json_t *computed = NULL;
	uint8_t *raw = NULL;
	size_t rawlen;
	int rc;

	/* the app is gone; what it left is read as untrusted input */
	GUARD(wk_workspace_output_grow(w, t));
	rc = result_read_file(t->out, "computed.json", 1 << 16, &raw, &rawlen);
	if (rc == ERR_NOTFOUND)
		rc = result_write_file(t->out, "computed.json", dflt, sizeof(dflt) - 1);
	else if (rc == 0)
		rc = json_parse((const char *)raw, rawlen, "computed.json", &computed);
	free(raw);
	GUARD_GOTO(rc);
	if (!computed)
		GUARD_GOTO(json_parse(dflt, sizeof(dflt) - 1, "computed.json", &computed));
	GUARD_GOTO(
	    result_dop_relative(jstr(computed, "deterministic-output-path"), rel, sizeof(rel)));
	if (w->cfg->max_output)
		lim.max_bytes = w->cfg->max_output;
	GUARD_GOTO(path_fmt(zip, PATH_MAX, "%s/iexec_out.zip", t->dir));
	unlink(zip);
	GUARD_GOTO(result_collect(t->out, rel, &lim, zip, digest));
	/* iExec's callback-data: ABI-encoded bytes for the deal's callback
	 * contract (an oracle's answer), 0x hex */
	const char *cb = jstr(computed, "callback-data");
	if (cb) {
		size_t skip = strncmp(cb, "0x", 2) == 0 ? 2 : 0;
		if (strlen(cb + skip) > 2 * CALLBACK_MAX ||
		    hex_decode_alloc(cb + skip, strlen(cb + skip), &t->callback, &t->callback_len) <
		        0)
			rc = err_set(ERR_INVAL,
			             "computed.json: callback-data must be hex, at most "
			             "%d bytes",
			             CALLBACK_MAX);
	}
out:
	json_decref(computed);
	return rc;
}

int wk_upload(struct worker *w, struct task *t, const char *zip)
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
	/* a deal's callback never changes: asked once for a bag's tasks */
	if (w->last_deal_known && memcmp(w->last_deal, t->did, 32) == 0) {
		memcpy(out, w->last_callback, 20);
		return 0;
	}
	GUARD(poco_view(w->chain, boost ? "viewDealBoost" : "viewDeal", t->did, &d));
	rc = eth_addr_parse(jstr(d, "callback"), out);
	json_decref(d);
	if (rc == 0) {
		memcpy(w->last_deal, t->did, 32);
		memcpy(w->last_callback, out, 20);
		w->last_deal_known = 1;
	}
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

int wk_send(struct worker *w, const char *signature, json_t *args, struct eth_receipt *rc)
{
	struct eth_send s;
	struct wbuf b;
	int r;

	wbuf_init(&b);
	r = abi_encode_call(signature, args ? args : json_array(), &b);
	json_decref(args);
	if (r == 0) {
		memset(&s, 0, sizeof(s));
		s.to = w->chain->hub;
		s.data = b.buf;
		s.data_len = b.len;
		r = eth_txm_send(w->txm, &s, 120, rc);
	}
	wbuf_free(&b);
	return r < 0 ? err_wrap(r, "%s", signature) : 0;
}

/* A push in flight: what its end is reported with. */
struct push {
	struct worker *w;
	char taskid[67], dealid[67], digest[67], call[24];
	struct timespec t0;
};

static void push_sent(void *arg, const struct eth_txm_sent *s)
{
	struct push *p = arg;
	wk_journal_push(p->w, p->taskid, p->digest, s);
}

static void push_done(void *arg, const struct eth_txm_result *r)
{
	struct push *p = arg;
	struct timespec t1;
	char tx[67] = "", why[600] = "";

	if (r->rc == ERR_BUSY) {
		/* the worker stops first: the journal keeps it PUSHING */
		log_info("worker.push", "task=%s pending=1 reason=\"%s\"", p->taskid, r->error);
		free(p);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r->receipt)
		hex_encode_0x(tx, r->receipt->tx_hash, 32);
	if (r->rc < 0 || !r->receipt)
		snprintf(why, sizeof(why), "%s: %s", p->call, r->error ? r->error : "not mined");
	else if (r->receipt->status != 1)
		snprintf(why, sizeof(why), "%s: %s", p->call,
		         r->error ? r->error : "transaction reverted");
	metric_inc(why[0] ? p->w->m_failed : p->w->m_completed, 0, 0);
	if (why[0]) {
		log_warn("worker.task", "task=%s status=FAILED reason=\"%s\"", p->taskid, why);
		wk_report(p->w, p->taskid, "FAILED", why, tx[0] ? tx : NULL);
		wk_journal(p->w, p->taskid, p->dealid, "FAILED", why, tx[0] ? tx : NULL);
	} else {
		log_info("worker.push", "task=%s tx=%s gas=%llu call=%s nonce=%llu block=%llu",
		         p->taskid, tx, (unsigned long long)r->receipt->gas_used, p->call,
		         (unsigned long long)r->nonce, (unsigned long long)r->receipt->block);
		log_info("worker.task", "task=%s status=COMPLETED digest=%s tx=%s seconds=%.2f",
		         p->taskid, p->digest, tx,
		         (double)(t1.tv_sec - p->t0.tv_sec) +
		             (double)(t1.tv_nsec - p->t0.tv_nsec) / 1e9);
		wk_report(p->w, p->taskid, "COMPLETED", p->digest, tx);
		wk_journal(p->w, p->taskid, p->dealid, "COMPLETED", p->digest, tx);
	}
	free(p);
}

int wk_push_resume(struct worker *w, const char *taskid, const char *dealid, const char *digest,
                   uint64_t nonce, const uint8_t (*hashes)[32], size_t n, const uint8_t *raw,
                   size_t raw_len)
{
	struct push *p = calloc(1, sizeof(*p));
	struct eth_txm_cb cb = {push_sent, push_done, p};
	int rc;

	ENSURE(p, ERR_NOMEM, "out of memory");
	p->w = w;
	snprintf(p->taskid, sizeof(p->taskid), "%s", taskid);
	snprintf(p->dealid, sizeof(p->dealid), "%s", dealid);
	snprintf(p->digest, sizeof(p->digest), "%s", digest);
	snprintf(p->call, sizeof(p->call), "push");
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	log_info("worker.push", "task=%s nonce=%llu versions=%zu resumed=1", taskid,
	         (unsigned long long)nonce, n);
	rc = eth_txm_adopt(w->txm, nonce, hashes, n, raw, raw_len, &cb);
	if (rc < 0)
		free(p);
	return rc;
}

int wk_push_result(struct worker *w, struct task *t, const uint8_t digest_in[32],
                   const char *digest_hex, char tx[67])
{
	uint8_t p[84], h[32], esig[65], enc[20], asig[65], digest[32], hash[32];
	char dg[67], *results;
	json_t *rj, *cbarg, *args = NULL;
	struct wbuf call;
	struct push *ctx = NULL;
	const char *sig;
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
	if (boost) {
		sig = "pushResultBoost(bytes32,uint256,bytes,bytes,bytes,address,bytes)";
		if (rc == 0)
			args = json_pack("[o,I,O,O,o,o,o]", eth_json_hex(t->did, 32),
			                 json_integer_value(json_object_get(t->a, "taskIndex")),
			                 arg, cbarg, eth_json_hex(asig, 65), eth_json_addr(enc),
			                 eth_json_hex(esig, 65));
	} else {
		sig = "contributeAndFinalize(bytes32,bytes32,bytes,bytes,address,bytes,bytes)";
		if (rc == 0)
			args = json_pack("[o,o,O,O,o,o,o]", eth_json_hex(t->tid, 32),
			                 eth_json_hex(digest, 32), arg, cbarg, eth_json_addr(enc),
			                 eth_json_hex(esig, 65), eth_json_hex(asig, 65));
	}
	json_decref(arg);
	json_decref(cbarg);
	wbuf_init(&call);
	if (rc == 0 && !args)
		rc = err_set(ERR_NOMEM, "out of memory");
	if (rc == 0)
		rc = abi_encode_call(sig, args, &call);
	json_decref(args);
	if (rc == 0 && !(ctx = calloc(1, sizeof(*ctx))))
		rc = err_set(ERR_NOMEM, "out of memory");
	if (rc == 0) {
		struct eth_send s;
		struct eth_txm_cb cb = {push_sent, push_done, ctx};
		ctx->w = w;
		snprintf(ctx->taskid, sizeof(ctx->taskid), "%s", t->taskid);
		snprintf(ctx->dealid, sizeof(ctx->dealid), "%s", t->dealid);
		snprintf(ctx->digest, sizeof(ctx->digest), "%s", digest_hex);
		snprintf(ctx->call, sizeof(ctx->call), "%s",
		         boost ? "pushResultBoost" : "contributeAndFinalize");
		clock_gettime(CLOCK_MONOTONIC, &ctx->t0);
		memset(&s, 0, sizeof(s));
		s.to = w->chain->hub;
		s.data = call.buf;
		s.data_len = call.len;
		/* from here ctx is the manager's: done frees it */
		rc = eth_txm_submit(w->txm, &s, &cb, hash);
		if (rc < 0)
			free(ctx);
	}
	wbuf_free(&call);
	GUARD(rc);
	hex_encode_0x(tx, hash, 32);
	log_info("worker.push", "task=%s tx=%s sent=1 call=%s callback_bytes=%zu", t->taskid, tx,
	         boost ? "pushResultBoost" : "contributeAndFinalize", has_cb ? t->callback_len : 0);
	return 0;
}

/* A standard task: contribute (resultHash, resultSeal), wait for the
 * chain's consensus, reveal when ours is the consensus value. */
int wk_contribute_reveal(struct worker *w, struct task *t, const uint8_t digest_in[32], char tx[67])
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
	GUARD(wk_send(w, "contribute(bytes32,bytes32,bytes32,address,bytes,bytes)",
	              json_pack("[o,o,o,o,s,o]", eth_json_hex(t->tid, 32), eth_json_hex(rh, 32),
	                        eth_json_hex(rs, 32), eth_json_addr(zero), "0x",
	                        eth_json_hex(asig, 65)),
	              &r));
	log_info("worker.contribute", "task=%s gas=%llu", t->taskid,
	         (unsigned long long)r.gas_used);
	eth_receipt_free(&r);
	wk_report(w, t->taskid, "CONTRIBUTING", "contributed, waiting for consensus", NULL);
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
			GUARD(wk_send(
			    w, "reveal(bytes32,bytes32)",
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
