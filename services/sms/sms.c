#include "internal.h"

#include "crypto/aead.h"
#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "crypto/p256.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/rpc.h"
#include "net/server.h"
#include "poco/market.h"
#include "poco/network.h"
#include "proto/proto.h"
#include "store.h"
#include "tdx/ratls.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define DOMAIN "IEXEC_SMS_DOMAIN"

/* ---------- authorization ---------- */

void sms_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

void sms_secret_challenge(const uint8_t addr[20], const char *name, const uint8_t *value,
                          size_t len, uint8_t out[32])
{
	uint8_t buf[32 + 20 + 32 + 32], *p = buf;
	keccak256(DOMAIN, strlen(DOMAIN), p);
	p += 32;
	memcpy(p, addr, 20);
	p += 20;
	if (name) {
		keccak256(name, strlen(name), p);
		p += 32;
	}
	keccak256(value, len, p);
	p += 32;
	keccak256(buf, (size_t)(p - buf), out);
}

/* The Authorization header is an EIP-191 signature of the challenge by
 * `signer`.  sig_id, when not NULL, gets the signature's identity: the
 * SHA-256 of r || s || v with v as 27|28 (k1_recover refuses a high s, and
 * takes v as 0|1 too: one signature, one identity). */
static int signed_by(const struct http_req *r, const uint8_t hash[32], const uint8_t signer[20],
                     uint8_t sig_id[32])
{
	const char *auth = http_req_header(r, "Authorization");
	uint8_t sig[65], h[32], who[20];
	if (!auth || hex_decode_exact(sig, 65, auth, "Authorization") < 0)
		return 0;
	eip191_hash32(hash, h);
	if (k1_recover(h, sig, who) != 0 || memcmp(who, signer, 20) != 0)
		return 0;
	if (sig[64] < 27)
		sig[64] = (uint8_t)(sig[64] + 27);
	return !sig_id || sha256(sig, sizeof(sig), sig_id) == 0;
}

json_t *sms_contract_view(struct sms *s, const uint8_t contract[20], const char *fn,
                          const char *type)
{
	uint8_t sel[4], *ret;
	size_t len;
	char types[64];
	json_t *v = NULL;
	int rc;

	if (!s->chain) {
		err_set(ERR_UNSUPPORTED, "no chain configured");
		return NULL;
	}
	abi_selector(fn, sel);
	if (eth_call(s->chain->rpc, NULL, contract, sel, 4, &ret, &len) < 0)
		return NULL;
	snprintf(types, sizeof(types), "(%s)", type);
	rc = abi_decode_str(types, ret, len, &v);
	free(ret);
	if (rc < 0)
		return NULL;
	json_incref(json_array_get(v, 0));
	json_t *out = json_array_get(v, 0);
	json_decref(v);
	return out;
}

/* owner() of a registry entry (dataset or app) on chain. */
static int onchain_owner(struct sms *s, const uint8_t asset[20], uint8_t owner[20])
{
	json_t *v = sms_contract_view(s, asset, "owner()", "address");
	int rc;
	if (!v)
		return -1;
	rc = eth_addr_parse(json_string_value(v), owner);
	json_decref(v);
	return rc;
}

/* ---------- handlers ---------- */

void sms_status(struct http_resp *resp, int code, const char *error)
{
	if (error)
		http_resp_json(resp, code, json_pack("{s:s}", "error", error));
	else
		resp->status = code;
}

/* The common path of every secret endpoint.  `name` is "" for web3.
 * iExec's challenge signs (address, name, value) and nothing else, so each
 * signature authorizes one write: the store refuses one it consumed before,
 * under any kind, except an update to the value the secret holds (an
 * identical re-push, answered as before without a write). */
static void secret_op(struct sms *s, const struct http_req *r, struct http_resp *resp,
                      const char *kind, const char *owner_text, const uint8_t signer[20],
                      const char *name, int named)
{
	char owner[43], used_kind[16];
	uint8_t h[32], addr[20], sig_id[32];
	enum sms_put_verdict verdict;
	int e;

	snprintf(owner, sizeof(owner), "%s", owner_text);
	sms_lower(owner);
	if (strcmp(r->method, "HEAD") == 0) {
		e = sms_store_exists(&s->store, kind, owner, name);
		sms_status(resp, e < 0 ? 500 : e ? 204 : 404, NULL);
		return;
	}
	if (r->body_len > SMS_SECRET_MAX) {
		sms_status(resp, 413, "secret over 4096 bytes");
		return;
	}
	if (eth_addr_parse(owner_text, addr) < 0) {
		sms_status(resp, 400, "bad address");
		return;
	}
	sms_secret_challenge(addr, named ? name : NULL, r->body, r->body_len, h);
	if (!signed_by(r, h, signer, sig_id)) {
		log_info("sms.refused", "kind=%s owner=%s name=\"%s\" reason=signature", kind,
		         owner, name);
		sms_status(resp, 401, "bad or missing signature");
		return;
	}
	if (sms_store_put_signed(&s->store, kind, owner, name, r->body, r->body_len,
	                         strcmp(r->method, "PUT") == 0, sig_id, &verdict, used_kind) < 0) {
		log_error("sms.store", "kind=%s owner=%s error=\"%s\"", kind, owner, err_msg());
		sms_status(resp, 500, "store unavailable");
		return;
	}
	switch (verdict) {
	case SMS_PUT_WRITTEN:
	case SMS_PUT_UNCHANGED:
		log_info("sms.secret", "op=%s kind=%s owner=%s name=\"%s\" bytes=%zu%s", r->method,
		         kind, owner, name, r->body_len,
		         verdict == SMS_PUT_UNCHANGED ? " unchanged=1" : "");
		sms_status(resp, 204, NULL);
		break;
	case SMS_PUT_EXISTS: sms_status(resp, 409, "secret already set"); break;
	case SMS_PUT_ABSENT: sms_status(resp, 404, "no such secret"); break;
	case SMS_PUT_REPLAYED:
		log_info("sms.refused",
		         "op=%s kind=%s owner=%s name=\"%s\" reason=replay consumed_as=%s",
		         r->method, kind, owner, name, used_kind);
		sms_status(resp, 403, "signature already used: each authorizes one write");
		break;
	}
}

static void h_framework(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	(void)ctx;
	(void)r;
	http_resp_text(resp, 200, "TDX");
}

static void h_properties(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	(void)ctx;
	if (strcmp(r->params[0], "TDX") != 0 || strcmp(r->params[1], "v1") != 0) {
		sms_status(resp, 404, "unsupported TEE framework or version");
		return;
	}
	http_resp_json(resp, 200,
	               json_pack("{s:s,s:s,s:s}", "framework", "TDX", "version", "v1",
	                         "attestation", "Intel DCAP (TDX quote v4/v5)"));
}

static void h_web3(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	struct sms *s = ctx;
	const char *addr = http_req_query(r, "secretAddress");
	uint8_t a[20], owner[20] = {0};
	if (!addr || eth_addr_parse(addr, a) < 0) {
		sms_status(resp, 400, "secretAddress must be an address");
		return;
	}
	if (strcmp(r->method, "HEAD") != 0 && onchain_owner(s, a, owner) < 0) {
		log_warn("sms.refused", "kind=web3 address=%s reason=\"%s\"", addr, err_msg());
		sms_status(resp, 401, "cannot establish the dataset's owner");
		return;
	}
	secret_op(s, r, resp, "web3", addr, owner, "", 0);
}

static void h_web2(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	const char *owner = http_req_query(r, "ownerAddress"),
	           *name = http_req_query(r, "secretName");
	uint8_t a[20];
	if (!owner || !name || !*name || strlen(name) > 256 || eth_addr_parse(owner, a) < 0) {
		sms_status(resp, 400, "ownerAddress and secretName are required");
		return;
	}
	secret_op(ctx, r, resp, "web2", owner, a, name, 1);
}

static void h_app(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	struct sms *s = ctx;
	uint8_t a[20], owner[20] = {0};
	if (eth_addr_parse(r->params[0], a) < 0) {
		sms_status(resp, 400, "bad app address");
		return;
	}
	if (strcmp(r->method, "HEAD") != 0 && onchain_owner(s, a, owner) < 0) {
		log_warn("sms.refused", "kind=app app=%s reason=\"%s\"", r->params[0], err_msg());
		sms_status(resp, 401, "cannot establish the app's owner");
		return;
	}
	/* The app developer secret is the app's secret number 1. */
	secret_op(s, r, resp, "app", r->params[0], owner, "1", 1);
}

static int valid_key(const char *k)
{
	size_t n = strlen(k);
	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '-' && k[i] != '_')
			return 0;
	return 1;
}

static void h_requester(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	uint8_t a[20];
	if (eth_addr_parse(r->params[0], a) < 0 || !valid_key(r->params[1])) {
		sms_status(resp, 400, "bad requester address or key (^[A-Za-z0-9-_]{1,64}$)");
		return;
	}
	secret_op(ctx, r, resp, "requester", r->params[0], a, r->params[1], 1);
}

/* ---------- enclave challenges ---------- */

uint64_t sms_jnum(const json_t *v)
{
	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	return json_is_string(v) ? strtoull(json_string_value(v), NULL, 0) : 0;
}

/* The last byte of a hex tag (bytes32 or bytes3). */
static unsigned tag_low(const json_t *v)
{
	const char *t = json_string_value(v);
	size_t n = t ? strlen(t) : 0;
	return n >= 4 ? (unsigned)strtoul(t + n - 2, NULL, 16) : 0;
}

/* Tag bits: 0x1 TEE, 0x8 TDX. */
#define TAG_TDX 0x09u

struct task_view {
	uint8_t dealid[32];
	uint64_t idx;
	uint8_t pool_owner[20];
	unsigned tag;
	uint64_t final_deadline;
};

/* The task on chain.  Boost deals have no task object: there the caller
 * names the deal and index, which must hash to the task id.  ERR_NOTFOUND
 * when the task does not exist or is not active. */
static int task_lookup(struct sms *s, const struct http_req *r, const uint8_t taskid[32],
                       struct task_view *tv)
{
	const char *deal_q = http_req_query(r, "dealId"), *idx_q = http_req_query(r, "taskIndex");
	uint8_t dealid[32], h[32];
	json_t *v = NULL;
	int rc = 0;

	ENSURE(s->chain, ERR_UNSUPPORTED, "no chain configured");
	if (deal_q || idx_q) {
		char *end;
		unsigned long long idx;
		ENSURE(deal_q && idx_q && hex_decode_exact(dealid, 32, deal_q, "dealId") == 0,
		       ERR_INVAL, "dealId and taskIndex go together");
		errno = 0;
		idx = strtoull(idx_q, &end, 10);
		ENSURE(*idx_q && !*end && !errno, ERR_INVAL, "bad taskIndex");
		poco_task_id(dealid, idx, h);
		ENSURE(memcmp(h, taskid, 32) == 0, ERR_INVAL,
		       "task id is not keccak(dealId, taskIndex)");
		GUARD(poco_view(s->chain, "viewDealBoost", dealid, &v));
		uint64_t first = sms_jnum(json_object_get(v, "botFirst"));
		uint64_t size = sms_jnum(json_object_get(v, "botSize"));
		const char *owner = json_string_value(json_object_get(v, "workerpoolOwner"));
		ENSURE_GOTO(size && idx >= first && idx < first + size && owner, ERR_NOTFOUND,
		            "no such Boost task");
		GUARD_GOTO(eth_addr_parse(owner, tv->pool_owner));
		tv->tag = tag_low(json_object_get(v, "shortTag"));
		memcpy(tv->dealid, dealid, 32);
		tv->idx = idx;
		tv->final_deadline = sms_jnum(json_object_get(v, "deadline"));
	} else {
		GUARD(poco_view(s->chain, "viewTask", taskid, &v));
		/* PoCo task status: 0 UNSET, 1 ACTIVE, 2 REVEALING, 3 COMPLETED, 4 FAILED */
		ENSURE_GOTO(sms_jnum(json_object_get(v, "status")) == 1, ERR_NOTFOUND,
		            "task is not active");
		tv->final_deadline = sms_jnum(json_object_get(v, "finalDeadline"));
		tv->idx = sms_jnum(json_object_get(v, "idx"));
		GUARD_GOTO(hex_decode_exact(
		    dealid, 32, json_string_value(json_object_get(v, "dealid")), "dealid"));
		memcpy(tv->dealid, dealid, 32);
		json_decref(v);
		v = NULL;
		GUARD(poco_view(s->chain, "viewDeal", dealid, &v));
		GUARD_GOTO(eth_addr_parse(
		    json_string_value(json_object_get(json_object_get(v, "workerpool"), "owner")),
		    tv->pool_owner));
		tv->tag = tag_low(json_object_get(v, "tag"));
	}
	ENSURE_GOTO(tv->final_deadline > (uint64_t)time(NULL), ERR_NOTFOUND,
	            "task is past its final deadline");
out:
	json_decref(v);
	return rc;
}

/* Challenges are stored as kind "challenge", owner = task id, name = final
 * deadline, so that expired ones are found without decrypting.  Purged at
 * most once a minute: the purge is a write, not to be paid per request. */
static void purge_challenges(struct sms *s)
{
	long now = (long)time(NULL), last = __atomic_load_n(&s->purged, __ATOMIC_RELAXED);
	if (now - last < 60 || !__atomic_compare_exchange_n(&s->purged, &last, now, 0,
	                                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	int n = sms_store_purge_challenges(&s->store, now);
	if (n > 0)
		log_info("sms.challenge", "purged=%d", n);
}

/* Look the task up for a handler: on refusal, answer and return -1. */
static int task_or_refuse(struct sms *s, const struct http_req *r, const char *op,
                          const char *taskid_hex, uint8_t taskid[32], struct task_view *tv,
                          struct http_resp *resp)
{
	int rc;
	if (!taskid_hex || hex_decode_exact(taskid, 32, taskid_hex, "taskId") < 0) {
		sms_status(resp, 400, "taskId must be 32 bytes of hex");
		return -1;
	}
	rc = task_lookup(s, r, taskid, tv);
	if (rc < 0) {
		log_info("sms.refused", "op=%s task=%s reason=\"%s\"", op, taskid_hex, err_msg());
		if (rc == ERR_INVAL)
			sms_status(resp, 400, err_msg());
		else if (rc == ERR_NOTFOUND)
			sms_status(resp, 404, "no such active task");
		else
			sms_status(resp, 503, "the chain cannot be read");
		return -1;
	}
	if ((tv->tag & TAG_TDX) != TAG_TDX) {
		log_info("sms.refused", "op=%s task=%s reason=\"tag 0x%02x is not TDX\"", op,
		         taskid_hex, tv->tag);
		sms_status(resp, 403, "the task is not a TDX task");
		return -1;
	}
	return 0;
}

int sms_challenge_key(struct sms *s, const uint8_t taskid[32], uint64_t deadline_s, int create,
                      uint8_t priv[32])
{
	char owner[67] = "0x", deadline[24];
	uint8_t *key = NULL;
	size_t klen = 0;
	int rc;

	hex_encode(owner + 2, taskid, 32);
	snprintf(deadline, sizeof(deadline), "%llu", (unsigned long long)deadline_s);
	rc = sms_store_get(&s->store, "challenge", owner, deadline, &key, &klen);
	if (rc == ERR_NOTFOUND && create) {
		GUARD(k1_keygen(priv));
		rc = sms_store_put(&s->store, "challenge", owner, deadline, priv, 32, 0);
		if (rc == 0) {
			log_info("sms.challenge", "task=%s created=1", owner);
			return 0;
		}
		/* a concurrent request may have made it first */
		rc = sms_store_get(&s->store, "challenge", owner, deadline, &key, &klen);
	}
	if (rc == 0 && klen != 32)
		rc = err_set(ERR_VERIFY, "challenge record is damaged");
	if (rc == 0)
		memcpy(priv, key, 32);
	if (key) {
		OPENSSL_cleanse(key, klen);
		free(key);
	}
	return rc;
}

/* POST /tee/challenges/{taskId}: the task's enclave challenge address,
 * created on first call; authorized by the workerpool owner's EIP-191
 * signature of keccak(taskId). */
static void h_challenge(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	struct sms *s = ctx;
	struct task_view tv;
	uint8_t taskid[32], h[32], priv[32], addr[20];
	char out[43];

	if (task_or_refuse(s, r, "challenge", r->params[0], taskid, &tv, resp) < 0)
		return;
	keccak256(taskid, 32, h);
	if (!signed_by(r, h, tv.pool_owner, NULL)) {
		log_info("sms.refused", "op=challenge task=%s reason=signature", r->params[0]);
		sms_status(resp, 401, "not signed by the workerpool owner");
		return;
	}
	purge_challenges(s);
	if (sms_challenge_key(s, taskid, tv.final_deadline, 1, priv) < 0 ||
	    sms_challenge_address(priv, addr) < 0) {
		log_error("sms.challenge", "task=%s error=\"%s\"", r->params[0], err_msg());
		sms_status(resp, 500, "challenge unavailable");
	} else {
		eth_addr_str(addr, out);
		http_resp_text(resp, 200, out);
	}
	OPENSSL_cleanse(priv, sizeof(priv));
}

/* A signature given as "0x…" or as {"value": "0x…"}. */
static int json_sig(const json_t *v, uint8_t sig[65])
{
	if (json_is_object(v))
		v = json_object_get(v, "value");
	return json_is_string(v) ? hex_decode_exact(sig, 65, json_string_value(v), "signature")
	                         : err_set(ERR_INVAL, "signature missing");
}

/* A session's optional {"lostWorker", "signature"}: the workerpool owner's
 * signature of lib/proto's task reassignment from lostWorker to this
 * worker.  0 with the lost worker in lost (lower case), or "" when absent;
 * ERR_VERIFY with the reason otherwise.  Whether the task's session may be
 * released once more is decided at release, against its history. */
static int reassignment(struct sms *s, const json_t *v, const uint8_t taskid[32],
                        const uint8_t worker[20], const struct task_view *tv, char lost[43])
{
	uint8_t from[20], h[32], e[32], sig[65], who[20];

	lost[0] = '\0';
	if (!v)
		return 0;
	ENSURE(json_is_object(v) &&
	           eth_addr_parse(json_string_value(json_object_get(v, "lostWorker")), from) == 0 &&
	           json_sig(json_object_get(v, "signature"), sig) == 0,
	       ERR_VERIFY, "reassignment needs lostWorker and signature");
	ENSURE(memcmp(from, worker, 20) != 0, ERR_VERIFY,
	       "a task cannot be reassigned to the worker declared lost");
	proto_task_reassign_hash(s->chain->chain_id, taskid, from, worker, h);
	eip191_hash32(h, e);
	ENSURE(k1_recover(e, sig, who) == 0 && memcmp(who, tv->pool_owner, 20) == 0, ERR_VERIFY,
	       "reassignment not signed by the workerpool owner");
	eth_addr_str(from, lost);
	sms_lower(lost);
	return 0;
}

/* POST /tee/sessions: body = WorkerpoolAuthorization {workerWallet,
 * chainTaskId, enclaveChallenge, signature}, the workerpool owner's EIP-191
 * signature of keccak(worker ‖ taskId ‖ enclaveChallenge); Authorization =
 * the worker's signature of the same hash; and, for a task taken over from
 * a lost worker, "reassignment" (see reassignment()).  Answers the session
 * id and the URL of its attested provisioning. */
static void h_session(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	struct sms *s = ctx;
	struct task_view tv;
	json_t *body = json_loadb((const char *)r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL);
	const char *task_hex = json_string_value(json_object_get(body, "chainTaskId"));
	uint8_t taskid[32], worker[20], enclave[20], buf[72], h[32], e[32], sig[65], who[20];
	uint8_t priv[32], mine[20], id[16];
	char id_hex[33], url[512], lost[43] = "";
	int rc = 0;

	if (!body) {
		sms_status(resp, 400, "body must be WorkerpoolAuthorization JSON");
		return;
	}
	if (!__atomic_load_n(&s->public_url_ready, __ATOMIC_ACQUIRE)) {
		sms_status(resp, 503, "starting");
		goto out;
	}
	if (eth_addr_parse(json_string_value(json_object_get(body, "workerWallet")), worker) < 0 ||
	    eth_addr_parse(json_string_value(json_object_get(body, "enclaveChallenge")), enclave) <
	        0 ||
	    json_sig(json_object_get(body, "signature"), sig) < 0) {
		sms_status(resp, 400, "workerWallet, enclaveChallenge and signature are required");
		goto out;
	}
	if (task_or_refuse(s, r, "session", task_hex, taskid, &tv, resp) < 0)
		goto out;
	memcpy(buf, worker, 20);
	memcpy(buf + 20, taskid, 32);
	memcpy(buf + 52, enclave, 20);
	keccak256(buf, sizeof(buf), h);
	eip191_hash32(h, e);
	if (k1_recover(e, sig, who) < 0 || memcmp(who, tv.pool_owner, 20) != 0) {
		log_info("sms.refused",
		         "op=session task=%s reason=\"authorization not signed by the "
		         "workerpool owner\"",
		         task_hex);
		sms_status(resp, 401, "authorization not signed by the workerpool owner");
		goto out;
	}
	if (!signed_by(r, h, worker, NULL)) {
		log_info("sms.refused", "op=session task=%s reason=\"not signed by the worker\"",
		         task_hex);
		sms_status(resp, 401, "not signed by the worker");
		goto out;
	}
	if (sms_challenge_key(s, taskid, tv.final_deadline, 0, priv) < 0 ||
	    k1_address(priv, mine) < 0 || memcmp(mine, enclave, 20) != 0) {
		OPENSSL_cleanse(priv, sizeof(priv));
		log_info("sms.refused",
		         "op=session task=%s reason=\"not this task's enclave "
		         "challenge\"",
		         task_hex);
		sms_status(resp, 403, "not this task's enclave challenge");
		goto out;
	}
	OPENSSL_cleanse(priv, sizeof(priv));
	if (reassignment(s, json_object_get(body, "reassignment"), taskid, worker, &tv, lost) < 0) {
		log_info("sms.refused", "op=session task=%s reason=\"%s\"", task_hex, err_msg());
		sms_status(resp, 401, err_msg());
		goto out;
	}
	if (RAND_bytes(id, sizeof(id)) == 1)
		hex_encode(id_hex, id, sizeof(id));
	else
		id_hex[0] = '\0';
	if (id_hex[0])
		rc = sms_store_session_add(&s->store, id_hex, task_hex,
		                           json_string_value(json_object_get(body, "workerWallet")),
		                           tv.dealid, tv.idx, tv.final_deadline,
		                           lost[0] ? lost : NULL);
	if (id_hex[0] && (rc == ERR_BUSY || rc == ERR_VERIFY)) {
		log_info("sms.refused", "op=session task=%s reason=\"%s\"", task_hex, err_msg());
		sms_status(resp, rc == ERR_BUSY ? 429 : 403, err_msg());
		goto out;
	}
	if (!id_hex[0] || rc < 0) {
		log_error("sms.session", "task=%s error=\"%s\"", task_hex, err_msg());
		sms_status(resp, 500, "session unavailable");
		goto out;
	}
	snprintf(url, sizeof(url), "%s/tdx/sessions/%s", s->public_url, id_hex);
	log_info("sms.session", "task=%s session=%s worker=%s", task_hex, id_hex,
	         json_string_value(json_object_get(body, "workerWallet")));
	http_resp_json(resp, 200,
	               json_pack("{s:s,s:s}", "sessionId", id_hex, "secretProvisioningUrl", url));
out:
	json_decref(body);
}

/* GET /tasks/{taskId}/attestation: the receipts of the task's releases
 * (store.h), oldest first, to anyone: a receipt holds nothing secret (the
 * quote, what it was checked with, the session's public key), so that a
 * requester, or anyone after them, can check which TD ran the task (tdexec
 * task verify).  A task has at most SMS_MAX_RELEASES of them, each bounded
 * by the attestation's body cap, so the answer is too. */
static void h_attestation(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	struct sms *s = ctx;
	uint8_t taskid[32];
	char task_hex[67] = "0x";
	json_t *arr;
	int rc;

	if (hex_decode_exact(taskid, 32, r->params[0], "taskId") < 0) {
		sms_status(resp, 400, err_msg());
		return;
	}
	hex_encode(task_hex + 2, taskid, 32);
	rc = sms_store_receipts(&s->store, task_hex, SMS_MAX_RELEASES, &arr);
	if (rc == ERR_NOTFOUND) {
		sms_status(resp, 404, "no attested release for this task");
		return;
	}
	if (rc < 0) {
		log_error("sms.attestation", "task=%s error=\"%s\"", task_hex, err_msg());
		sms_status(resp, 500, "receipts unavailable");
		return;
	}
	http_resp_json(resp, 200, json_pack("{s:s,s:o}", "task", task_hex, "receipts", arr));
}

/* Body caps: the server's default (4 KiB) unless a route declares more. */
#define SECRET_BODY (8u << 10) /* a secret (4,096 bytes, refused by its handler past that) */
/* a quote with its certificates, and the runtime event log, which grows by
 * a line (~170 bytes) per task the TD ran: room for some 12,000 tasks */
#define ATTEST_BODY PROTO_ATTEST_BODY_MAX
_Static_assert(SMS_MAX_RELEASES <= PROTO_MAX_RELEASES, "receipts answer bound");

static const struct http_route routes[] = {
    {"GET", "/tee/framework", h_framework, "tee_framework", 0},
    {"GET", "/tee/properties/*/*", h_properties, "tee_properties", 0},
    {"HEAD", "/secrets/web3", h_web3, "web3_head", 0},
    {"POST", "/secrets/web3", h_web3, "web3_post", SECRET_BODY},
    {"HEAD", "/secrets/web2", h_web2, "web2_head", 0},
    {"POST", "/secrets/web2", h_web2, "web2_post", SECRET_BODY},
    {"PUT", "/secrets/web2", h_web2, "web2_put", SECRET_BODY},
    {"HEAD", "/apps/*/secrets", h_app, "app_head", 0},
    {"POST", "/apps/*/secrets", h_app, "app_post", SECRET_BODY},
    {"HEAD", "/requesters/*/secrets/*", h_requester, "requester_head", 0},
    {"POST", "/requesters/*/secrets/*", h_requester, "requester_post", SECRET_BODY},
    {"POST", "/tee/challenges/*", h_challenge, "tee_challenge", 0},
    {"POST", "/tee/sessions", h_session, "tee_session", 16u << 10},
    {"POST", "/tdx/sessions/*/challenge", sms_h_nonce, "tdx_nonce", 0},
    {"POST", "/tdx/sessions/*/attest", sms_h_attest, "tdx_attest", ATTEST_BODY},
    {"GET", "/tasks/*/attestation", h_attestation, "task_attestation", 0},
    {"GET", "/.well-known/jwks.json", sms_h_jwks, "jwks", 0},
    {"GET", "/ear/jwks", sms_h_jwks, "ear_jwks", 0},
    {NULL, NULL, NULL, NULL, 0},
};

/* ---------- configuration document ---------- */

/* Settings refused whatever else is given. */
static int config_check(const struct sms_config *cfg)
{
	/* A real TD's own quote vouches for this SMS: it must not admit workers
	 * by a root anyone can make (the simulated TD is for tests, and then
	 * the SMS is simulated too). */
	ENSURE(!(cfg->ra_tls && !tdx_provider_simulated(&cfg->provider) && cfg->trust_sim_root),
	       ERR_INVAL,
	       "sms: --trust-sim-root cannot go with the %s quote provider: an SMS in a real TD "
	       "admits workers by Intel's root only (the simulated root is for --provider sim, "
	       "or qgs with --sim-dir)",
	       tdx_provider_name(cfg->provider.kind));
	return 0;
}

/* The scheme, host and port of a URL: the chain node named without the
 * path, query or user info that may carry an API key. */
static json_t *url_origin(const char *url)
{
	const char *host = strstr(url, "://"), *end, *at;
	if (!host)
		return json_string("?");
	host += 3;
	end = host + strcspn(host, "/?#");
	for (at = host; at < end; at++)
		if (*at == '@')
			host = at + 1;
	return json_sprintf("%.*s%.*s", (int)(strstr(url, "://") + 3 - url), url, (int)(end - host),
	                    host);
}

static int chain_json(const json_t *file, uint64_t chain_id, json_t **out)
{
	static const char *const names[] = {"hub", "app_registry", "dataset_registry",
	                                    "workerpool_registry"};
	const char *rpc = json_string_value(json_object_get(file, "rpc"));
	json_t *c;
	uint8_t a[20];
	char hex[43];

	*out = NULL;
	ENSURE(rpc, ERR_INVAL, "chain: no \"rpc\"");
	c = json_pack("{s:I,s:o}", "chain_id", (json_int_t)chain_id, "rpc", url_origin(rpc));
	ENSURE(c, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (eth_addr_parse(json_string_value(json_object_get(file, names[i])), a) < 0) {
			json_decref(c);
			return err_set(ERR_INVAL, "chain: \"%s\" is not an address", names[i]);
		}
		hex_encode_0x(hex, a, 20);
		if (json_object_set_new(c, names[i], json_string(hex)) < 0) {
			json_decref(c);
			return err_set(ERR_NOMEM, "out of memory");
		}
	}
	*out = c;
	return 0;
}

static int collateral_json(const char *source, json_t **out)
{
	struct stat st;
	const char *kind;
	if (strncasecmp(source, "https://", 8) == 0 || strncasecmp(source, "http://", 7) == 0)
		kind = "pcs";
	else if (stat(source, &st) == 0)
		kind = S_ISDIR(st.st_mode) ? "dir" : "file";
	else
		return err_set(ERR_NOTFOUND,
		               "collateral %s: not found (whether it is a file or a "
		               "directory is part of the configuration)",
		               source);
	*out = json_pack("{s:s,s:s}", "kind", kind, "source", source);
	ENSURE(*out, ERR_NOMEM, "out of memory");
	return 0;
}

int sms_config_document(const struct sms_config *cfg, const struct tdx_gate *gate,
                        const json_t *chain_file, uint64_t chain_id, char **doc, size_t *len)
{
	json_t *d = json_pack("{s:s,s:s,s:n,s:n}", "format", PROTO_SMS_CONFIG_FORMAT, "master_key",
	                      cfg->master_key_command ? "command" : "file", "attestation", "chain");
	json_t *a = NULL, *t = NULL, *c = NULL, *pol = NULL;
	int rc = 0;

	*doc = NULL;
	ENSURE(d, ERR_NOMEM, "out of memory");
	if (gate) {
		GUARD_GOTO(tdx_ratls_anchor_json(gate->verifier, &t));
		GUARD_GOTO(collateral_json(cfg->collateral, &c));
		pol = tdx_policy_to_json(gate->policy);
		ENSURE_GOTO(pol, ERR_NOMEM, "out of memory");
		ENSURE_GOTO(
		    !json_object_get(pol, "event_logs"), ERR_INVAL,
		    "sms: the policy names event_logs, files read at each check that the "
		    "RA-TLS configuration cannot bind; pin the RTMRs under \"measurements\" "
		    "instead");
		a = json_pack("{s:O,s:O,s:O}", "trust", t, "collateral", c, "policy", pol);
		ENSURE_GOTO(a && json_object_set_new(d, "attestation", a) == 0, ERR_NOMEM,
		            "out of memory");
	}
	if (chain_file) {
		json_t *ch;
		GUARD_GOTO(chain_json(chain_file, chain_id, &ch));
		ENSURE_GOTO(json_object_set_new(d, "chain", ch) == 0, ERR_NOMEM, "out of memory");
	}
	GUARD_GOTO(tdx_ratls_canonical(d, doc, len));
out:
	json_decref(t);
	json_decref(c);
	json_decref(pol);
	json_decref(d);
	return rc;
}

int sms_config_offline(const struct sms_config *cfg, char **doc, size_t *len)
{
	struct tdx_gate g;
	json_t *chain = NULL;
	json_int_t id = 0;
	uint8_t *root = NULL;
	size_t rlen;
	int rc = 0;

	memset(&g, 0, sizeof(g));
	*doc = NULL;
	GUARD(config_check(cfg));
	/* The same anchor and policy as tdx_gate_open; the collateral is not
	 * loaded: only its source is part of the document. */
	if (cfg->collateral) {
		if (cfg->trust_sim_root) {
			GUARD_GOTO(file_read(cfg->trust_sim_root, 1 << 20, &root, &rlen));
			GUARD_GOTO(tdx_verifier_new_root(root, rlen, 1, &g.verifier));
		} else {
			GUARD_GOTO(tdx_verifier_new(&g.verifier));
		}
		GUARD_GOTO(cfg->policy ? tdx_policy_load(cfg->policy, &g.policy)
		                       : tdx_policy_default(&g.policy));
	} else {
		ENSURE_GOTO(!cfg->trust_sim_root && !cfg->policy, ERR_INVAL,
		            "sms: attestation settings need --collateral");
	}
	if (cfg->chain_path || cfg->chain_network) {
		/* the chain as poco_chain_open makes it, but for the node's answers */
		if (cfg->chain_path)
			GUARD_GOTO(json_load_path(cfg->chain_path, 1 << 20, &chain));
		else
			GUARD_GOTO(poco_network_resolve(NULL, cfg->chain_network, &chain));
		if (cfg->chain_rpc)
			ENSURE_GOTO(
			    json_object_set_new(chain, "rpc", json_string(cfg->chain_rpc)) == 0,
			    ERR_NOMEM, "out of memory");
		ENSURE_GOTO(json_is_integer(json_object_get(chain, "chain_id")) &&
		                (id = json_integer_value(json_object_get(chain, "chain_id"))) >= 0,
		            ERR_INVAL,
		            "%s: no \"chain_id\": the chain's id is part of the configuration (the "
		            "SMS asks its node; offline, the file must say it)",
		            cfg->chain_path ? cfg->chain_path : cfg->chain_network);
	}
	GUARD_GOTO(
	    sms_config_document(cfg, cfg->collateral ? &g : NULL, chain, (uint64_t)id, doc, len));
out:
	free(root);
	json_decref(chain);
	tdx_gate_close(&g);
	return rc;
}

int sms_start(const struct sms_config *cfg, struct sms **out)
{
	struct http_server_opts o = {
	    .address = cfg->address,
	    .port = cfg->port,
	    .threads = cfg->threads,
	    .max_body = 4u << 10,
	    .max_conns = cfg->max_conns,
	    .max_conns_per_ip = cfg->max_conns_per_ip,
	    .status = sms_attest_status,
	    .metrics = sms_attest_metrics,
	};
	struct sms *s = calloc(1, sizeof(*s));
	uint8_t *cert = NULL, *key = NULL, doc_hash[32];
	char *doc = NULL, hash_hex[65];
	size_t len, doc_len = 0;
	int rc = 0;

	*out = NULL;
	ENSURE(s, ERR_NOMEM, "out of memory");
	ENSURE_GOTO(cfg->db_path && (cfg->master_key_path || cfg->master_key_command), ERR_INVAL,
	            "sms: a database and a master key (file or command) are required");
	GUARD_GOTO(config_check(cfg));
	GUARD_GOTO(sms_store_open2(&s->store, cfg->db_path, cfg->master_key_path,
	                           cfg->master_key_command));
	if (cfg->chain_path || cfg->chain_network)
		GUARD_GOTO(poco_chain_open(cfg->chain_path, cfg->chain_network, cfg->chain_rpc,
		                           &s->chain));
	GUARD_GOTO(sms_attest_init(s, cfg));
	GUARD_GOTO(sms_ear_init(s));
	if (cfg->ra_tls) {
		ENSURE_GOTO(!cfg->tls_cert && !cfg->tls_key, ERR_INVAL,
		            "sms: RA-TLS makes its own certificate: drop --tls-cert and --tls-key");
		GUARD_GOTO(sms_config_document(cfg, s->attest_on ? &s->gate : NULL,
		                               s->chain ? s->chain->file : NULL,
		                               s->chain ? s->chain->chain_id : 0, &doc, &doc_len));
		GUARD_GOTO(sha256(doc, doc_len, doc_hash));
		GUARD_GOTO(tdx_ratls_make_ear(&cfg->provider, "tdexec sms", 365, doc, doc_len,
		                              sms_ear_jwk(s), (char **)&cert, (char **)&key));
		o.tls_cert = (const char *)cert;
		o.tls_key = (const char *)key;
		hex_encode(hash_hex, doc_hash, 32);
		log_info("sms.ra_tls", "provider=%s config_hash=%s simulated=%d",
		         tdx_provider_name(cfg->provider.kind), hash_hex,
		         tdx_provider_simulated(&cfg->provider));
	} else if (cfg->tls_cert || cfg->tls_key) {
		ENSURE_GOTO(cfg->tls_cert && cfg->tls_key, ERR_INVAL,
		            "sms: TLS needs both --tls-cert and --tls-key");
		GUARD_GOTO(file_read(cfg->tls_cert, 1 << 20, &cert, &len));
		GUARD_GOTO(file_read(cfg->tls_key, 1 << 20, &key, &len));
		o.tls_cert = (const char *)cert;
		o.tls_key = (const char *)key;
	}
	GUARD_GOTO(http_server_start(&o, routes, s, &s->http));
	if (cfg->public_url)
		snprintf(s->public_url, sizeof(s->public_url), "%s", cfg->public_url);
	else
		snprintf(s->public_url, sizeof(s->public_url), "%s://%s:%d",
		         o.tls_cert ? "https" : "http", cfg->address ? cfg->address : "127.0.0.1",
		         http_server_port(s->http));
	__atomic_store_n(&s->public_url_ready, 1, __ATOMIC_RELEASE);
	if (cfg->port_file) {
		char p[16];
		snprintf(p, sizeof(p), "%d\n", http_server_port(s->http));
		GUARD_GOTO(file_write(cfg->port_file, p, strlen(p), 0644));
	}
	*out = s;
	s = NULL;
out:
	if (key) {
		OPENSSL_cleanse(key, strlen((char *)key));
		free(key);
	}
	free(cert);
	free(doc);
	sms_stop(s);
	return rc;
}

int sms_port(const struct sms *s)
{
	return http_server_port(s->http);
}

void sms_stop(struct sms *s)
{
	if (!s)
		return;
	/* the releases queued are committed and answered while their
	 * requests can still be; any later one is answered 503 */
	sms_store_release_drain(&s->store);
	http_server_stop(s->http);
	sms_ear_free(s);
	sms_attest_free(s);
	sms_store_close(&s->store);
	poco_chain_free(s->chain);
	free(s);
}
