/* market.c — the pool's orderbook: signed orders published by app
 * developers, dataset owners, the pool and requesters, each checked against
 * its signer (the asset's owner on chain) before it is listed, and listed
 * with what remains of its volume on chain (viewConsumed), so consumed and
 * cancelled orders drop off by themselves. */
#include "internal.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/addr.h"
#include "eth/eip712.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

static const char *const kinds[] = {"app", "dataset", "workerpool", "request"};
static const char *const asset_field[] = {"app", "dataset", "workerpool", "requester"};
static const char *const price_field[] = {"appprice", "datasetprice", "workerpoolprice",
                                          "workerpoolmaxprice"};

/* The order is signed by whom it must be: the asset's owner, or the
 * requester for a request order. */
static int check_signer(struct sched *s, enum poco_order_kind kind, const json_t *o,
                        uint8_t asset[20])
{
	uint8_t signer[20], owner[20];
	const char *a = json_string_value(json_object_get(o, asset_field[kind]));
	json_t *info = NULL;
	int rc;

	ENSURE(a && eth_addr_parse(a, asset) == 0, ERR_INVAL, "order: %s must be an address",
	       asset_field[kind]);
	GUARD(poco_order_signer(s->chain, kind, o, signer));
	if (kind == POCO_REQUEST) {
		memcpy(owner, asset, 20);
	} else {
		GUARD(poco_asset_show(s->chain, kind, asset, &info));
		const char *ow = json_string_value(json_object_get(info, "owner"));
		rc = ow ? eth_addr_parse(ow, owner) : err_set(ERR_NOTFOUND, "order: unknown %s", a);
		json_decref(info);
		GUARD(rc);
	}
	ENSURE(memcmp(signer, owner, 20) == 0, ERR_VERIFY, "order: not signed by the %s's owner",
	       asset_field[kind]);
	return 0;
}

static int publish(struct sched *s, enum poco_order_kind kind, json_t *o, char hash_hex[67])
{
	uint8_t asset[20], h[32];
	char addr[43], price[24], volume[24], now[24], *body;
	const char *tag = json_string_value(json_object_get(o, "tag"));
	int rc;

	ENSURE(json_get_ll(o, "volume", -1) > 0 && json_get_ll(o, price_field[kind], -1) >= 0 &&
	           tag,
	       ERR_INVAL, "order: volume, %s and tag are required", price_field[kind]);
	GUARD(check_signer(s, kind, o, asset));
	GUARD(poco_order_hash(s->chain, kind, o, h));
	hex_encode_0x(hash_hex, h, 32);
	eth_addr_str(asset, addr);
	snprintf(price, sizeof(price), "%lld", json_get_ll(o, price_field[kind], -1));
	snprintf(volume, sizeof(volume), "%lld", json_get_ll(o, "volume", -1));
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	ENSURE(body, ERR_NOMEM, "out of memory");
	const char *a[] = {hash_hex, kinds[kind], addr, tag, price, volume, body, now};
	pthread_mutex_lock(&s->mu);
	rc = sched_exec(s,
	                "INSERT OR IGNORE INTO orders(hash, kind, asset, tag, price, volume, body,"
	                " published) VALUES (?1, ?2, lower(?3), lower(?4), ?5, ?6, ?7, ?8)",
	                a, 8);
	pthread_mutex_unlock(&s->mu);
	free(body);
	if (rc == 0)
		log_info("market.publish", "kind=%s hash=%s asset=%s price=%s volume=%s",
		         kinds[kind], hash_hex, addr, price, volume);
	return rc;
}

void sched_h_order_post(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	enum poco_order_kind kind;
	json_t *o = NULL;
	char hash[67];

	if (poco_order_kind_parse(req->params[0], &kind) < 0) {
		sched_refuse(resp, 404, "market.publish", "no such order kind");
		return;
	}
	if (json_parse((const char *)req->body, req->body_len, "order", &o) < 0 ||
	    !json_is_object(o)) {
		sched_refuse(resp, 400, "market.publish", err_msg());
		json_decref(o);
		return;
	}
	if (publish(s, kind, o, hash) < 0)
		sched_refuse(resp, err_msg() && strstr(err_msg(), "signed") ? 403 : 400,
		             "market.publish", err_msg());
	else
		http_resp_json(resp, 200, json_pack("{s:s}", "orderHash", hash));
	json_decref(o);
}

/* What remains of an order's volume on chain. */
static long long remaining(struct sched *s, const char *hash, long long volume)
{
	uint8_t h[32];
	json_t *v = NULL;
	long long used;
	if (hex_decode_exact(h, 32, hash, "order hash") < 0 ||
	    poco_view(s->chain, "viewConsumed", h, &v) < 0)
		return -1;
	used = json_get_ll(v, "consumed", -1);
	json_decref(v);
	return used < 0 ? -1 : volume - used;
}

struct row {
	char hash[67], *body;
	long long volume;
};

/* Open orders of a kind matching the filters, cheapest first (at most 50). */
static int list(struct sched *s, const char *kind, const char *asset, const char *tag, json_t **out)
{
	struct row rows[50];
	sqlite3_stmt *st;
	int n = 0, rc;

	pthread_mutex_lock(&s->mu);
	rc = db_prepare(s->db,
	                "SELECT hash, body, volume FROM orders WHERE kind = ?1 AND closed = 0"
	                " AND (?2 IS NULL OR asset = lower(?2)) AND (?3 IS NULL OR tag = lower(?3))"
	                " ORDER BY price, published LIMIT 50",
	                &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, asset, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, tag, -1, SQLITE_TRANSIENT);
		while (n < 50 && sqlite3_step(st) == SQLITE_ROW) {
			snprintf(rows[n].hash, sizeof(rows[n].hash), "%s",
			         sqlite3_column_text(st, 0));
			rows[n].body = strdup((const char *)sqlite3_column_text(st, 1));
			rows[n].volume = sqlite3_column_int64(st, 2);
			n++;
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->mu);
	GUARD(rc);
	*out = json_array();
	for (int i = 0; i < n; i++) {
		long long left = remaining(s, rows[i].hash + 2, rows[i].volume);
		json_t *o = rows[i].body ? json_loads(rows[i].body, 0, NULL) : NULL;
		if (left == 0) {
			const char *a[] = {rows[i].hash};
			pthread_mutex_lock(&s->mu);
			sched_exec(s, "UPDATE orders SET closed = 1 WHERE hash = ?1", a, 1);
			pthread_mutex_unlock(&s->mu);
		} else if (left > 0 && o) {
			json_array_append_new(*out,
			                      json_pack("{s:s,s:O,s:I}", "orderHash", rows[i].hash,
			                                "order", o, "remaining", (json_int_t)left));
		}
		json_decref(o);
		free(rows[i].body);
	}
	return 0;
}

void sched_h_order_list(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	enum poco_order_kind kind;
	const char *asset, *tag = http_req_query(req, "tag");
	char tagbuf[67];
	json_t *out = NULL;

	if (poco_order_kind_parse(req->params[0], &kind) < 0) {
		sched_refuse(resp, 404, "market.list", "no such order kind");
		return;
	}
	asset = http_req_query(req, asset_field[kind]);
	if (tag && strcasecmp(tag, "tdx") == 0)
		tag = POCO_TAG_TDX;
	if (tag) {
		snprintf(tagbuf, sizeof(tagbuf), "%s", tag);
		tag = tagbuf;
	}
	if (list(s, req->params[0], asset, tag, &out) < 0) {
		sched_refuse(resp, 500, "market.list", err_msg());
		return;
	}
	http_resp_json(
	    resp, 200,
	    json_pack("{s:o,s:I}", "orders", out, "count", (json_int_t)json_array_size(out)));
}

int sched_market_stock(struct sched *s)
{
	json_t *open = NULL, *o;
	char pool[43], hash[67];
	int rc;

	if (s->cfg.order_volume <= 0)
		return 0;
	eth_addr_str(s->pool, pool);
	GUARD(list(s, "workerpool", pool, NULL, &open));
	size_t n = json_array_size(open);
	json_decref(open);
	if (n > 0)
		return 0;
	o = poco_order_new(POCO_WORKERPOOL);
	ENSURE(o, ERR_NOMEM, "out of memory");
	json_object_set_new(o, "workerpool", json_string(pool));
	json_object_set_new(o, "workerpoolprice",
	                    json_string(s->cfg.order_price ? s->cfg.order_price : "0"));
	char vol[24];
	snprintf(vol, sizeof(vol), "%ld", s->cfg.order_volume);
	json_object_set_new(o, "volume", json_string(vol));
	json_object_set_new(o, "tag", json_string(POCO_TAG_TDX));
	json_object_set_new(o, "category",
	                    json_string(s->cfg.order_category ? s->cfg.order_category : "0"));
	rc = poco_order_sign(s->chain, POCO_WORKERPOOL, o, s->cfg.owner_key);
	if (rc == 0)
		rc = publish(s, POCO_WORKERPOOL, o, hash);
	json_decref(o);
	return rc;
}

/* ---------- the iExec market API (what the iExec SDK calls) ----------
 *
 * GET  /challenge?chainId=&address=   EIP-712 typed data to sign
 * POST /{app,dataset,workerpool,request}orders?chainId=   {order}
 *      Authorization: <challenge hash>_<signature>_<address>
 * GET  /{app,...}orders?chainId=&app=&dataset=&workerpool=&requester=&minTag=&maxTag=
 *      &pageIndex=&pageSize=
 */

/* The SDK sends back only the EIP-712 digest of the challenge it signed, not
 * the challenge, so a challenge is one the scheduler can make again: the
 * first 16 bytes of HMAC(key, purpose || chainId || address || second ||
 * slot) in hex, for one of SLOTS slots per second.  A publication is checked
 * by remaking the digests of the window (newest first) and finding its own;
 * nothing is kept per challenge.  A used digest goes to the replay set, and
 * a new challenge takes a slot of the second not used yet, so an address may
 * publish several times a second. */
#define MARKET_PURPOSE "tdexec-market-challenge"
#define SLOTS          4

static const char *const api_kinds[] = {"apporders", "datasetorders", "workerpoolorders",
                                        "requestorders"};

static int api_kind(const char *path, enum poco_order_kind *k)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(path + 1, api_kinds[i]) == 0) {
			*k = (enum poco_order_kind)i;
			return 0;
		}
	return err_set(ERR_NOTFOUND, "no such order book");
}

static int chain_ok(struct sched *s, const struct http_req *req)
{
	const char *c = http_req_query(req, "chainId");
	return c && strtoull(c, NULL, 10) == s->chain->chain_id;
}

static void api_error(struct http_resp *resp, int status, const char *msg)
{
	http_resp_json(resp, status, json_pack("{s:b,s:s}", "ok", 0, "error", msg));
}

/* The challenge text of (address, second, slot), 32 hex digits. */
static void challenge_text(struct sched *s, const uint8_t who[20], uint64_t t, unsigned slot,
                           char hex[33])
{
	uint8_t buf[sizeof(MARKET_PURPOSE) + 8 + 20 + 8 + 1], mac[32];
	size_t n = sizeof(MARKET_PURPOSE);
	memcpy(buf, MARKET_PURPOSE, n); /* with its NUL */
	for (int i = 7; i >= 0; i--)
		buf[n++] = (uint8_t)(s->chain->chain_id >> (8 * i));
	memcpy(buf + n, who, 20);
	n += 20;
	for (int i = 7; i >= 0; i--)
		buf[n++] = (uint8_t)(t >> (8 * i));
	buf[n++] = (uint8_t)slot;
	http_nonce_mac(s->market_nonces, buf, n, mac);
	hex_encode(hex, mac, 16);
}

/* The EIP-712 digest of the typed data sched_h_api_challenge serves, in
 * three hashes (the domain separator is the caller's), so remaking a
 * window's worth stays cheap. */
static void challenge_digest(const uint8_t domain[32], const char *text, uint8_t out[32])
{
	uint8_t b[66];
	keccak256("Challenge(string challenge)", 27, b);
	keccak256(text, strlen(text), b + 32);
	keccak256(b, 64, b + 34);
	b[0] = 0x19;
	b[1] = 0x01;
	memcpy(b + 2, domain, 32);
	keccak256(b, 66, out);
}

static void domain_separator(struct sched *s, uint8_t out[32])
{
	static const char ty[] = "EIP712Domain(string name,string version,uint256 chainId)";
	uint8_t b[128];
	keccak256(ty, sizeof(ty) - 1, b);
	keccak256("iExec Gateway", 13, b + 32);
	keccak256("1", 1, b + 64);
	memset(b + 96, 0, 32);
	for (int i = 0; i < 8; i++)
		b[127 - i] = (uint8_t)(s->chain->chain_id >> (8 * i));
	keccak256(b, 128, out);
}

void sched_h_api_challenge(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	const char *a = http_req_query(req, "address");
	uint8_t who[20], h[32], dom[32], check[32], r;
	char hex[33];
	json_t *typed;
	unsigned slot = SLOTS;
	uint64_t now = (uint64_t)time(NULL);

	if (!chain_ok(s, req) || !a || eth_addr_parse(a, who) < 0) {
		api_error(resp, 400, "chainId and address are required");
		return;
	}
	/* a slot of this second not used yet, from a random start */
	domain_separator(s, dom);
	if (RAND_bytes(&r, 1) != 1) {
		api_error(resp, 500, "cannot make a challenge");
		return;
	}
	for (unsigned i = 0; i < SLOTS && slot == SLOTS; i++) {
		unsigned k = (r + i) % SLOTS;
		challenge_text(s, who, now, k, hex);
		challenge_digest(dom, hex, h);
		if (!http_nonce_used(s->market_nonces, h))
			slot = k;
	}
	if (slot == SLOTS) {
		api_error(resp, 503, "every challenge of this second is used: retry");
		return;
	}
	typed =
	    json_pack("{s:{s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}],s:[{s:s,s:s}]},s:{s:s,s:s,s:I},"
	              "s:s,s:{s:s}}",
	              "types", "EIP712Domain", "name", "name", "type", "string", "name", "version",
	              "type", "string", "name", "chainId", "type", "uint256", "Challenge", "name",
	              "challenge", "type", "string", "domain", "name", "iExec Gateway", "version",
	              "1", "chainId", (json_int_t)s->chain->chain_id, "primaryType", "Challenge",
	              "message", "challenge", hex);
	/* the short digest must be the one the SDK computes from what it gets */
	if (!typed || eip712_digest(typed, check) < 0 || memcmp(check, h, 32) != 0) {
		json_decref(typed);
		api_error(resp, 500, "cannot make a challenge");
		return;
	}
	http_resp_json(resp, 200, json_pack("{s:b,s:o}", "ok", 1, "data", typed));
}

/* "<hash>_<signature>_<address>": a challenge of ours for that address,
 * made within the window, signed (EIP-712) by that address, not used yet.
 * The caller records the use (h) once the publication is accepted, so only
 * orders that pass their own checks fill the replay set. */
static int api_auth(struct sched *s, const struct http_req *req, uint8_t h[32])
{
	const char *a = http_req_header(req, "Authorization");
	uint8_t sig[65], who[20], signer[20], dom[32], d[32];
	char buf[256], hex[33];
	int found = 0;
	uint64_t now = (uint64_t)time(NULL);

	ENSURE(a && strlen(a) < sizeof(buf), ERR_VERIFY, "no authorization");
	snprintf(buf, sizeof(buf), "%s", a);
	char *s1 = strchr(buf, '_'), *s2 = s1 ? strchr(s1 + 1, '_') : NULL;
	ENSURE(s1 && s2, ERR_VERIFY, "authorization: hash_signature_address expected");
	*s1 = *s2 = '\0';
	GUARD(hex_decode_exact(h, 32, buf, "challenge hash"));
	GUARD(hex_decode_exact(sig, 65, s1 + 1, "signature"));
	GUARD(eth_addr_parse(s2 + 1, who));
	GUARD(k1_recover(h, sig, signer));
	ENSURE(memcmp(signer, who, 20) == 0, ERR_VERIFY, "authorization: not signed by %s", s2 + 1);
	domain_separator(s, dom);
	for (uint64_t back = 0; back <= CHALLENGE_WINDOW && !found; back++)
		for (unsigned k = 0; k < SLOTS && !found; k++) {
			challenge_text(s, who, now - back, k, hex);
			challenge_digest(dom, hex, d);
			found = CRYPTO_memcmp(d, h, 32) == 0;
		}
	ENSURE(found, ERR_VERIFY, "authorization: not a challenge of ours, or expired");
	ENSURE(!http_nonce_used(s->market_nonces, h), ERR_VERIFY, "authorization: used challenge");
	return 0;
}

void sched_h_api_publish(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	enum poco_order_kind kind = POCO_APP;
	json_t *b = NULL, *o;
	char hash[67];
	uint8_t h[32];
	int rc;

	if (api_kind(req->path, &kind) < 0 || !chain_ok(s, req)) {
		api_error(resp, 404, "no such order book on this chain");
		return;
	}
	if (api_auth(s, req, h) < 0) {
		log_warn("market.publish", "refused=\"%s\"", err_msg());
		api_error(resp, 401, "unauthorized");
		return;
	}
	if (json_parse((const char *)req->body, req->body_len, "order", &b) < 0 ||
	    !json_is_object(o = json_object_get(b, "order"))) {
		api_error(resp, 400, "body must be {order}");
		json_decref(b);
		return;
	}
	if (publish(s, kind, o, hash) < 0) {
		log_warn("market.publish", "refused=\"%s\"", err_msg());
		api_error(resp, strstr(err_msg(), "signed") ? 403 : 400, err_msg());
	} else if ((rc = http_nonce_use(s->market_nonces, h)) < 0) {
		/* a replay raced the first use (the order is the same, published once) */
		log_warn("market.publish", "refused=\"%s\"", err_msg());
		api_error(resp, rc == ERR_BUSY ? 503 : 401, rc == ERR_BUSY ? "busy" : "unauthorized");
	} else {
		http_resp_json(resp, 200,
		               json_pack("{s:b,s:{s:s,s:O,s:I,s:s}}", "ok", 1, "published",
		                         "orderHash", hash, "order", o, "chainId",
		                         (json_int_t)s->chain->chain_id, "status", "open"));
	}
	json_decref(b);
}

/* The last byte of a tag, where iExec's bits live (TEE 0x1, TDX 0x8 ...). */
static unsigned tag_bits(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	return n >= 2 ? (unsigned)strtoul(t + n - 2, NULL, 16) : 0;
}

void sched_h_api_list(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct sched *s = ctx;
	enum poco_order_kind kind = POCO_APP;
	const char *min = http_req_query(req, "minTag"), *max = http_req_query(req, "maxTag");
	const char *pi = http_req_query(req, "pageIndex"), *ps = http_req_query(req, "pageSize");
	long page = pi ? strtol(pi, NULL, 10) : 0, size = ps ? strtol(ps, NULL, 10) : 20;
	json_t *all = NULL, *out, *e;
	size_t i, n = 0, count = 0;

	if (api_kind(req->path, &kind) < 0 || !chain_ok(s, req)) {
		api_error(resp, 404, "no such order book on this chain");
		return;
	}
	if (page < 0 || size < 1 || size > 1000) {
		api_error(resp, 400, "bad pageIndex or pageSize");
		return;
	}
	if (list(s, kinds[kind], http_req_query(req, asset_field[kind]), NULL, &all) < 0) {
		api_error(resp, 500, err_msg());
		return;
	}
	out = json_array();
	json_array_foreach (all, i, e) {
		json_t *o = json_object_get(e, "order");
		unsigned t = tag_bits(json_string_value(json_object_get(o, "tag")));
		/* other filters: an order restricted to someone else is not listed */
		int keep = (!min || (t & tag_bits(min)) == tag_bits(min)) &&
		           (!max || (t & ~tag_bits(max)) == 0);
		for (int k = 0; k < 4 && keep; k++) {
			const char *q = k == (int)kind ? NULL : http_req_query(req, asset_field[k]);
			const char *v = json_string_value(json_object_get(o, asset_field[k]));
			if (q && v && strcasecmp(q, v) != 0)
				keep = 0;
		}
		if (!keep)
			continue;
		if (count++ < (size_t)(page * size) || n >= (size_t)size)
			continue;
		json_array_append_new(out,
		                      json_pack("{s:O,s:O,s:I,s:O,s:s}", "order", o, "orderHash",
		                                json_object_get(e, "orderHash"), "chainId",
		                                (json_int_t)s->chain->chain_id, "remaining",
		                                json_object_get(e, "remaining"), "status", "open"));
		n++;
	}
	json_decref(all);
	json_t *r = json_pack("{s:b,s:o,s:I}", "ok", 1, "orders", out, "count", (json_int_t)count);
	if (count > (size_t)((page + 1) * size))
		json_object_set_new(r, "nextPage", json_integer(page + 1));
	http_resp_json(resp, 200, r);
}
