/* market.c — the pool's orderbook: signed orders published by app
 * developers, dataset owners, the pool and requesters, each checked against
 * its signer (the asset's owner on chain) before it is listed, and listed
 * with what remains of its volume on chain (viewConsumed), so consumed and
 * cancelled orders drop off by themselves. */
#include "market.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/addr.h"
#include "eth/eip712.h"
#include "poco/market.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "store/db.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

/* Market challenges, as the worker registration's (net/server.h). */
#define CHALLENGE_WINDOW 60
#define CHALLENGE_USES   8192

struct market {
	struct market_config cfg;
	sqlite3 *db;
	pthread_mutex_t mu;         /* db */
	struct http_nonces *nonces; /* GET /challenge */
};

/* Run one statement with text arguments (m->mu held). */
static int exec(struct market *m, const char *sql, const char *const *args, int nargs)
{
	sqlite3_stmt *st;
	int rc;
	GUARD(db_prepare(m->db, sql, &st));
	for (int i = 0; i < nargs; i++)
		sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	ENSURE(rc == SQLITE_DONE, ERR_IO, "market db: %s", sqlite3_errmsg(m->db));
	return 0;
}

/* A refusal: logged with its reason, a generic message to the caller for 403. */
static void refuse(struct http_resp *resp, int status, const char *ev, const char *why)
{
	log_warn(ev, "refused=\"%s\"", why);
	http_resp_json(resp, status,
	               json_pack("{s:s}", "error", status == 403 ? "forbidden" : why));
}

static const char *const kinds[] = {"app", "dataset", "workerpool", "request"};
static const char *const asset_field[] = {"app", "dataset", "workerpool", "requester"};
static const char *const price_field[] = {"appprice", "datasetprice", "workerpoolprice",
                                          "workerpoolmaxprice"};

/* iExec documents no limit on a request order's params (PoCo stores the
 * string as it is signed); this one keeps an order well inside the 16 KiB
 * body of a publication. */
#define PARAMS_MAX (8u << 10)
/* An order as stored is far below this (a row above it predates the caps
 * and is never read); a listing stops at 50 orders or once the orders read
 * pass LIST_BYTES. */
#define ORDER_STORED_MAX (64u << 10)
#define LIST_BYTES       (1u << 20)
/* Open orders per signer and kind, unless --max-orders-per-signer says. */
#define ORDERS_PER_SIGNER 100
#define UNFUNDED_ORDERS   1000

/* One signed field of an order, checked by the type its zero value in a new
 * order shows (poco_order_new: an address is 0x and 40 digits, a bytes32 0x
 * and 64, the params string "", a number decimal digits), and written anew
 * into o: addresses checksummed, hex lower case, numbers in decimal. */
static int canon_field(const char *name, const char *zero, const json_t *v, json_t *o)
{
	uint8_t b[65];
	char hex[133];
	const char *str = json_string_value(v);
	size_t zn = strlen(zero);

	ENSURE(v, ERR_INVAL, "order: missing \"%s\"", name);
	if (strcmp(name, "sign") == 0) {
		ENSURE(str && hex_decode_exact(b, 65, str, "sign") == 0, ERR_INVAL,
		       "order: sign must be a 65-byte signature in hex");
		hex_encode_0x(hex, b, 65);
		return json_object_set_new(o, name, json_string(hex)) ? ERR_NOMEM : 0;
	}
	if (zn == 0) { /* params */
		ENSURE(str && strlen(str) == json_string_length(v), ERR_INVAL,
		       "order: %s must be a string", name);
		ENSURE(json_string_length(v) <= PARAMS_MAX, ERR_TOOBIG,
		       "order: %s is %zu bytes, more than the %u allowed", name,
		       json_string_length(v), PARAMS_MAX);
		return json_object_set_new(o, name, json_string(str)) ? ERR_NOMEM : 0;
	}
	if (zn == 42 && zero[0] == '0' && zero[1] == 'x') {
		ENSURE(str && strlen(str) == 42 && eth_addr_parse(str, b) == 0, ERR_INVAL,
		       "order: %s must be an address", name);
		eth_addr_str(b, hex);
		return json_object_set_new(o, name, json_string(hex)) ? ERR_NOMEM : 0;
	}
	if (zn == 66 && zero[0] == '0' && zero[1] == 'x') {
		ENSURE(str && hex_decode_exact(b, 32, str, name) == 0, ERR_INVAL,
		       "order: %s must be 32 bytes in hex", name);
		hex_encode_0x(hex, b, 32);
		return json_object_set_new(o, name, json_string(hex)) ? ERR_NOMEM : 0;
	}
	/* a uint256: a decimal (or 0x hex) string, or a JSON integer */
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(hex, sizeof(hex), "%lld", (long long)json_integer_value(v));
	} else {
		ENSURE(str && strlen(str) <= 80 && u256_parse(str, b) == 0, ERR_INVAL,
		       "order: %s must be an unsigned 256-bit integer", name);
		u256_str(b, hex, sizeof(hex));
	}
	return json_object_set_new(o, name, json_string(hex)) ? ERR_NOMEM : 0;
}

/* The order as stored and served: exactly the fields its EIP-712 type signs
 * (those of a new order) and its sign, each checked and written anew; any
 * other field the client sent is dropped.  A new object in *out. */
static int order_canon(enum poco_order_kind kind, const json_t *in, json_t **out)
{
	json_t *tpl = poco_order_new(kind), *o = json_object(), *v;
	const char *k;
	int rc = 0;

	*out = NULL;
	ENSURE_GOTO(tpl && o, ERR_NOMEM, "out of memory");
	ENSURE_GOTO(json_is_object(in), ERR_INVAL, "order: must be a JSON object");
	json_object_foreach (tpl, k, v)
		GUARD_GOTO(canon_field(k, json_string_value(v), json_object_get(in, k), o));
	*out = o;
	o = NULL;
out:
	json_decref(tpl);
	json_decref(o);
	return rc;
}

/* The order is signed by whom it must be: the asset's owner, or the
 * requester for a request order. */
static int check_signer(struct market *m, enum poco_order_kind kind, const json_t *o,
                        uint8_t asset[20], uint8_t signer[20])
{
	uint8_t owner[20];
	const char *a = json_string_value(json_object_get(o, asset_field[kind]));
	json_t *info = NULL;
	int rc;

	ENSURE(a && eth_addr_parse(a, asset) == 0, ERR_INVAL, "order: %s must be an address",
	       asset_field[kind]);
	GUARD(poco_order_signer(m->cfg.chain, kind, o, signer));
	if (kind == POCO_REQUEST) {
		memcpy(owner, asset, 20);
	} else {
		GUARD(poco_asset_show(m->cfg.chain, kind, asset, &info));
		const char *ow = json_string_value(json_object_get(info, "owner"));
		rc = ow ? eth_addr_parse(ow, owner) : err_set(ERR_NOTFOUND, "order: unknown %s", a);
		json_decref(info);
		GUARD(rc);
	}
	ENSURE(memcmp(signer, owner, 20) == 0, ERR_VERIFY, "order: not signed by the %s's owner",
	       asset_field[kind]);
	return 0;
}

static long long remaining(struct market *m, const char *hash, long long volume);

/* Open orders of a signer and kind on the book (m->mu held), -1 on error. */
static long long open_orders(struct market *m, const char *signer, const char *kind)
{
	sqlite3_stmt *st;
	long long n = -1;

	if (db_prepare(
	        m->db,
	        "SELECT count(*) FROM orders WHERE signer = lower(?1) AND kind = ?2 AND closed = 0",
	        &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, signer, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Close a signer's open orders of a kind whose volume is used up on chain
 * (consumed, or cancelled: PoCo marks a closed order fully consumed); at
 * most `max` views, so a signer at its quota costs the chain that much. */
static void close_spent(struct market *m, const char *signer, const char *kind, long max)
{
	struct spent {
		char hash[67];
		long long volume;
	} *rows = calloc((size_t)max, sizeof(*rows));
	sqlite3_stmt *st;
	long n = 0;

	if (!rows)
		return;
	pthread_mutex_lock(&m->mu);
	if (db_prepare(m->db,
	               "SELECT hash, volume FROM orders WHERE signer = lower(?1) AND kind = ?2"
	               " AND closed = 0 ORDER BY published LIMIT ?3",
	               &st) == 0) {
		sqlite3_bind_text(st, 1, signer, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, max);
		while (n < max && sqlite3_step(st) == SQLITE_ROW) {
			snprintf(rows[n].hash, sizeof(rows[n].hash), "%s",
			         sqlite3_column_text(st, 0));
			rows[n].volume = sqlite3_column_int64(st, 1);
			n++;
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&m->mu);
	for (long i = 0; i < n; i++) {
		if (remaining(m, rows[i].hash + 2, rows[i].volume) != 0)
			continue;
		const char *a[] = {rows[i].hash};
		pthread_mutex_lock(&m->mu);
		exec(m, "UPDATE orders SET closed = 1 WHERE hash = ?1", a, 1);
		pthread_mutex_unlock(&m->mu);
	}
	free(rows);
}

/* 1 when an order of this hash is on the book, 0 when not (m->mu held). */
static int has_order(struct market *m, const char *hash)
{
	sqlite3_stmt *st;
	int known;
	GUARD(db_prepare(m->db, "SELECT 1 FROM orders WHERE hash = ?1", &st));
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	known = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return known;
}

/* Open unfunded request orders (m->mu held), closing those older than
 * MARKET_UNFUNDED_TTL first; -1 on error. */
static long long open_unfunded(struct market *m)
{
	char old[24];
	sqlite3_stmt *st;
	long long n = -1;

	snprintf(old, sizeof(old), "%lld", (long long)time(NULL) - MARKET_UNFUNDED_TTL);
	const char *a[] = {old};
	if (exec(m,
	         "UPDATE orders SET closed = 1 WHERE unfunded = 1 AND closed = 0"
	         " AND published < CAST(?1 AS INTEGER)",
	         a, 1) < 0 ||
	    db_prepare(m->db, "SELECT count(*) FROM orders WHERE unfunded = 1 AND closed = 0",
	               &st) < 0)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Store the order (a[9]: "1" when unfunded) unless its signer already has
 * `quota` open orders of its kind (1), or it is unfunded and `unfunded`
 * such orders are open already (2).  m->mu held. */
static int store(struct market *m, const char *const a[10], long quota, long unfunded)
{
	long long n = open_orders(m, a[8], a[1]);
	int known;

	ENSURE(n >= 0, ERR_IO, "market: cannot count open orders");
	GUARD(known = has_order(m, a[0]));
	if (known)
		return 0; /* published before: the same order, counted once */
	if (n >= quota)
		return 1;
	if (strcmp(a[9], "1") == 0) {
		long long u = open_unfunded(m);
		ENSURE(u >= 0, ERR_IO, "market: cannot count unfunded orders");
		if (u >= unfunded)
			return 2;
	}
	return exec(m,
	            "INSERT OR IGNORE INTO orders(hash, kind, asset, tag, price, volume, body,"
	            " published, signer, unfunded) VALUES (?1, ?2, lower(?3), lower(?4), ?5, ?6,"
	            " ?7, ?8, lower(?9), ?10)",
	            a, 10);
}

/* 1 when an order of this hash is on the book (0 on a database error: the
 * caller then does the checks a new order gets). */
static int on_book(struct market *m, const char *hash)
{
	int known;
	pthread_mutex_lock(&m->mu);
	known = has_order(m, hash);
	pthread_mutex_unlock(&m->mu);
	return known > 0;
}

/* Whether a request order is funded: its requester's stake on chain covers
 * one task at the order's prices (and is not zero). */
static int funded(struct market *m, const json_t *o, const uint8_t requester[20], int *yes)
{
	json_t *acct = NULL;
	unsigned long long stake, cost = 0;
	const char *v;
	char *end;

	for (int i = 0; i < 3; i++) {
		static const char *const f[] = {"appmaxprice", "datasetmaxprice",
		                                "workerpoolmaxprice"};
		long long p = json_get_ll(o, f[i], 0);
		/* saturating: prices are uint256, read capped at 2^63 - 1 */
		unsigned long long u = p > 0 ? (unsigned long long)p : 0;
		cost = cost > ULLONG_MAX - u ? ULLONG_MAX : cost + u;
	}
	GUARD(poco_account(m->cfg.chain, requester, &acct));
	v = json_string_value(json_object_get(acct, "stake"));
	errno = 0;
	stake = v ? strtoull(v, &end, 10) : 0;
	/* a stake past 2^64 nRLC covers anything */
	*yes = v && *v && (errno == ERANGE || (*end == '\0' && stake > 0 && stake >= cost));
	json_decref(acct);
	return 0;
}

/* Publish an order: only its signed fields are kept (order_canon), the
 * signer must be the asset's owner, and a signer holds at most
 * --max-orders-per-signer open orders of a kind.  The order as stored in
 * *stored (a new object, may be NULL); on error, the HTTP status in *status. */
static int publish(struct market *m, enum poco_order_kind kind, const json_t *in, json_t **stored,
                   char hash_hex[67], int *status)
{
	uint8_t asset[20], signer[20], h[32];
	char addr[43], who[43], price[24], volume[24], now[24], *body = NULL;
	long quota =
	    m->cfg.max_orders_per_signer > 0 ? m->cfg.max_orders_per_signer : ORDERS_PER_SIGNER;
	long unfunded =
	    m->cfg.max_unfunded_orders > 0 ? m->cfg.max_unfunded_orders : UNFUNDED_ORDERS;
	int paid = 1;
	json_t *o = NULL;
	const char *tag;
	int rc;

	*status = 400;
	if (stored)
		*stored = NULL;
	GUARD_GOTO(order_canon(kind, in, &o));
	tag = json_string_value(json_object_get(o, "tag"));
	ENSURE_GOTO(json_get_ll(o, "volume", -1) > 0, ERR_INVAL, "order: volume must be positive");
	rc = check_signer(m, kind, o, asset, signer);
	if (rc < 0 && err_msg() && strstr(err_msg(), "signed"))
		*status = 403;
	GUARD_GOTO(rc);
	GUARD_GOTO(poco_order_hash(m->cfg.chain, kind, o, h));
	hex_encode_0x(hash_hex, h, 32);
	/* the chain is asked about a new order only: a replayed one costs none */
	if (kind == POCO_REQUEST && !on_book(m, hash_hex))
		GUARD_GOTO(funded(m, o, signer, &paid));
	eth_addr_str(asset, addr);
	eth_addr_str(signer, who);
	snprintf(price, sizeof(price), "%lld", json_get_ll(o, price_field[kind], -1));
	snprintf(volume, sizeof(volume), "%lld", json_get_ll(o, "volume", -1));
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	ENSURE_GOTO(body, ERR_NOMEM, "out of memory");
	const char *a[] = {hash_hex, kinds[kind], addr, tag, price,
	                   volume,   body,        now,  who, paid ? "0" : "1"};
	for (int pass = 0; pass < 2; pass++) {
		pthread_mutex_lock(&m->mu);
		rc = store(m, a, quota, unfunded);
		pthread_mutex_unlock(&m->mu);
		if (rc != 1 || pass == 1)
			break;
		/* at the quota: some of its orders may be spent since last listed */
		close_spent(m, who, kinds[kind], quota);
	}
	if (rc == 2) {
		*status = 429;
		rc = err_set(ERR_BUSY,
		             "order: the book holds %ld open request orders from requesters whose"
		             " stake does not cover one task; deposit first (tdexec account"
		             " deposit) or retry within the hour",
		             unfunded);
	} else if (rc == 1) {
		*status = 429;
		rc =
		    err_set(ERR_BUSY,
		            "order: %s has %ld open %s orders, the most a signer may have; one must"
		            " be consumed or cancelled first",
		            who, quota, kinds[kind]);
	}
	GUARD_GOTO(rc);
	log_info("market.publish",
	         "kind=%s hash=%s asset=%s signer=%s price=%s volume=%s unfunded=%d", kinds[kind],
	         hash_hex, addr, who, price, volume, !paid);
	if (stored) {
		*stored = o;
		o = NULL;
	}
out:
	if (rc < 0 && *status == 400 && (rc == ERR_NOMEM || rc == ERR_IO))
		*status = 500;
	free(body);
	json_decref(o);
	return rc;
}

void market_h_order_post(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct market *m = ctx;
	enum poco_order_kind kind;
	json_t *o = NULL;
	char hash[67];
	int status;

	if (poco_order_kind_parse(req->params[0], &kind) < 0) {
		refuse(resp, 404, "market.publish", "no such order kind");
		return;
	}
	if (json_parse((const char *)req->body, req->body_len, "order", &o) < 0 ||
	    !json_is_object(o)) {
		refuse(resp, 400, "market.publish", err_msg());
		json_decref(o);
		return;
	}
	if (publish(m, kind, o, NULL, hash, &status) < 0)
		refuse(resp, status, "market.publish", err_msg());
	else
		http_resp_json(resp, 200, json_pack("{s:s}", "orderHash", hash));
	json_decref(o);
}

/* What remains of an order's volume on chain. */
static long long remaining(struct market *m, const char *hash, long long volume)
{
	uint8_t h[32];
	json_t *v = NULL;
	long long used;
	if (hex_decode_exact(h, 32, hash, "order hash") < 0 ||
	    poco_view(m->cfg.chain, "viewConsumed", h, &v) < 0)
		return -1;
	used = json_get_ll(v, "consumed", -1);
	json_decref(v);
	return used < 0 ? -1 : volume - used;
}

struct row {
	char hash[67], *body;
	long long volume;
};

/* Open orders of a kind matching the filters, cheapest first: at most 50,
 * and no more once the orders read pass LIST_BYTES.  Each is served as
 * order_canon makes it (a row stored before the book kept only signed
 * fields loses the others; one that is not a valid order is skipped). */
static int list(struct market *m, const char *kind, const char *asset, const char *tag,
                json_t **out)
{
	struct row rows[50];
	sqlite3_stmt *st;
	enum poco_order_kind k;
	size_t bytes = 0;
	int n = 0, rc;

	pthread_mutex_lock(&m->mu);
	rc = db_prepare(m->db,
	                "SELECT hash, body, volume FROM orders WHERE kind = ?1 AND closed = 0"
	                " AND (?2 IS NULL OR asset = lower(?2)) AND (?3 IS NULL OR tag = lower(?3))"
	                " AND length(body) <= ?4 ORDER BY price, published LIMIT 50",
	                &st);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, asset, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, tag, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, ORDER_STORED_MAX);
		while (n < 50 && bytes < LIST_BYTES && sqlite3_step(st) == SQLITE_ROW) {
			snprintf(rows[n].hash, sizeof(rows[n].hash), "%s",
			         sqlite3_column_text(st, 0));
			rows[n].body = strdup((const char *)sqlite3_column_text(st, 1));
			rows[n].volume = sqlite3_column_int64(st, 2);
			bytes += (size_t)sqlite3_column_bytes(st, 1);
			n++;
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&m->mu);
	if (rc == 0)
		rc = poco_order_kind_parse(kind, &k);
	if (rc < 0)
		for (int i = 0; i < n; i++)
			free(rows[i].body);
	GUARD(rc);
	*out = json_array();
	for (int i = 0; i < n; i++) {
		long long left = remaining(m, rows[i].hash + 2, rows[i].volume);
		json_t *raw = rows[i].body ? json_loads(rows[i].body, 0, NULL) : NULL, *o = NULL;
		if (order_canon(k, raw, &o) < 0)
			log_warn("market.list", "hash=%s skipped=\"%s\"", rows[i].hash, err_msg());
		json_decref(raw);
		if (left == 0) {
			const char *a[] = {rows[i].hash};
			pthread_mutex_lock(&m->mu);
			exec(m, "UPDATE orders SET closed = 1 WHERE hash = ?1", a, 1);
			pthread_mutex_unlock(&m->mu);
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

void market_h_order_list(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct market *m = ctx;
	enum poco_order_kind kind;
	const char *asset, *tag = http_req_query(req, "tag");
	char tagbuf[67];
	json_t *out = NULL;

	if (poco_order_kind_parse(req->params[0], &kind) < 0) {
		refuse(resp, 404, "market.list", "no such order kind");
		return;
	}
	asset = http_req_query(req, asset_field[kind]);
	if (tag && strcasecmp(tag, "tdx") == 0)
		tag = POCO_TAG_TDX;
	if (tag) {
		snprintf(tagbuf, sizeof(tagbuf), "%s", tag);
		tag = tagbuf;
	}
	if (list(m, req->params[0], asset, tag, &out) < 0) {
		refuse(resp, 500, "market.list", err_msg());
		return;
	}
	http_resp_json(
	    resp, 200,
	    json_pack("{s:o,s:I}", "orders", out, "count", (json_int_t)json_array_size(out)));
}

int market_stock(struct market *m)
{
	json_t *open = NULL, *o;
	char pool[43], hash[67];
	int rc, status;

	if (m->cfg.order_volume <= 0)
		return 0;
	eth_addr_str(m->cfg.pool, pool);
	GUARD(list(m, "workerpool", pool, NULL, &open));
	size_t n = json_array_size(open);
	json_decref(open);
	if (n > 0)
		return 0;
	o = poco_order_new(POCO_WORKERPOOL);
	ENSURE(o, ERR_NOMEM, "out of memory");
	json_object_set_new(o, "workerpool", json_string(pool));
	json_object_set_new(o, "workerpoolprice",
	                    json_string(m->cfg.order_price ? m->cfg.order_price : "0"));
	char vol[24];
	snprintf(vol, sizeof(vol), "%ld", m->cfg.order_volume);
	json_object_set_new(o, "volume", json_string(vol));
	json_object_set_new(o, "tag", json_string(POCO_TAG_TDX));
	json_object_set_new(o, "category",
	                    json_string(m->cfg.order_category ? m->cfg.order_category : "0"));
	rc = poco_order_sign(m->cfg.chain, POCO_WORKERPOOL, o, m->cfg.owner_key);
	if (rc == 0)
		rc = publish(m, POCO_WORKERPOOL, o, NULL, hash, &status);
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

static int chain_ok(struct market *m, const struct http_req *req)
{
	const char *c = http_req_query(req, "chainId");
	return c && strtoull(c, NULL, 10) == m->cfg.chain->chain_id;
}

static void api_error(struct http_resp *resp, int status, const char *msg)
{
	http_resp_json(resp, status, json_pack("{s:b,s:s}", "ok", 0, "error", msg));
}

/* The challenge text of (address, second, slot), 32 hex digits. */
static void challenge_text(struct market *m, const uint8_t who[20], uint64_t t, unsigned slot,
                           char hex[33])
{
	uint8_t buf[sizeof(MARKET_PURPOSE) + 8 + 20 + 8 + 1], mac[32];
	size_t n = sizeof(MARKET_PURPOSE);
	memcpy(buf, MARKET_PURPOSE, n); /* with its NUL */
	for (int i = 7; i >= 0; i--)
		buf[n++] = (uint8_t)(m->cfg.chain->chain_id >> (8 * i));
	memcpy(buf + n, who, 20);
	n += 20;
	for (int i = 7; i >= 0; i--)
		buf[n++] = (uint8_t)(t >> (8 * i));
	buf[n++] = (uint8_t)slot;
	http_nonce_mac(m->nonces, buf, n, mac);
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

static void domain_separator(struct market *m, uint8_t out[32])
{
	static const char ty[] = "EIP712Domain(string name,string version,uint256 chainId)";
	uint8_t b[128];
	keccak256(ty, sizeof(ty) - 1, b);
	keccak256("iExec Gateway", 13, b + 32);
	keccak256("1", 1, b + 64);
	memset(b + 96, 0, 32);
	for (int i = 0; i < 8; i++)
		b[127 - i] = (uint8_t)(m->cfg.chain->chain_id >> (8 * i));
	keccak256(b, 128, out);
}

void market_h_api_challenge(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct market *m = ctx;
	const char *a = http_req_query(req, "address");
	uint8_t who[20], h[32], dom[32], check[32], r;
	char hex[33];
	json_t *typed;
	unsigned slot = SLOTS;
	uint64_t now = (uint64_t)time(NULL);

	if (!chain_ok(m, req) || !a || eth_addr_parse(a, who) < 0) {
		api_error(resp, 400, "chainId and address are required");
		return;
	}
	/* a slot of this second not used yet, from a random start */
	domain_separator(m, dom);
	if (RAND_bytes(&r, 1) != 1) {
		api_error(resp, 500, "cannot make a challenge");
		return;
	}
	for (unsigned i = 0; i < SLOTS && slot == SLOTS; i++) {
		unsigned k = (r + i) % SLOTS;
		challenge_text(m, who, now, k, hex);
		challenge_digest(dom, hex, h);
		if (!http_nonce_used(m->nonces, h))
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
	              "1", "chainId", (json_int_t)m->cfg.chain->chain_id, "primaryType",
	              "Challenge", "message", "challenge", hex);
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
static int api_auth(struct market *m, const struct http_req *req, uint8_t h[32])
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
	domain_separator(m, dom);
	for (uint64_t back = 0; back <= CHALLENGE_WINDOW && !found; back++)
		for (unsigned k = 0; k < SLOTS && !found; k++) {
			challenge_text(m, who, now - back, k, hex);
			challenge_digest(dom, hex, d);
			found = CRYPTO_memcmp(d, h, 32) == 0;
		}
	ENSURE(found, ERR_VERIFY, "authorization: not a challenge of ours, or expired");
	ENSURE(!http_nonce_used(m->nonces, h), ERR_VERIFY, "authorization: used challenge");
	return 0;
}

void market_h_api_publish(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct market *m = ctx;
	enum poco_order_kind kind = POCO_APP;
	json_t *b = NULL, *o, *stored = NULL;
	char hash[67];
	uint8_t h[32];
	int rc, status;

	if (api_kind(req->path, &kind) < 0 || !chain_ok(m, req)) {
		api_error(resp, 404, "no such order book on this chain");
		return;
	}
	if (api_auth(m, req, h) < 0) {
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
	/* the SDK sends {"order": {...}}; other members, and unsigned fields of
	 * the order, are dropped */
	if (publish(m, kind, o, &stored, hash, &status) < 0) {
		log_warn("market.publish", "refused=\"%s\"", err_msg());
		api_error(resp, status, err_msg());
	} else if ((rc = http_nonce_use(m->nonces, h)) < 0) {
		/* a replay raced the first use (the order is the same, published once) */
		log_warn("market.publish", "refused=\"%s\"", err_msg());
		api_error(resp, rc == ERR_BUSY ? 503 : 401,
		          rc == ERR_BUSY ? "busy" : "unauthorized");
	} else {
		http_resp_json(resp, 200,
		               json_pack("{s:b,s:{s:s,s:O,s:I,s:s}}", "ok", 1, "published",
		                         "orderHash", hash, "order", stored, "chainId",
		                         (json_int_t)m->cfg.chain->chain_id, "status", "open"));
	}
	json_decref(stored);
	json_decref(b);
}

/* The last byte of a tag, where iExec's bits live (TEE 0x1, TDX 0x8 ...). */
static unsigned tag_bits(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	return n >= 2 ? (unsigned)strtoul(t + n - 2, NULL, 16) : 0;
}

void market_h_api_list(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	struct market *m = ctx;
	enum poco_order_kind kind = POCO_APP;
	const char *min = http_req_query(req, "minTag"), *max = http_req_query(req, "maxTag");
	const char *pi = http_req_query(req, "pageIndex"), *ps = http_req_query(req, "pageSize");
	long page = pi ? strtol(pi, NULL, 10) : 0, size = ps ? strtol(ps, NULL, 10) : 20;
	json_t *all = NULL, *out, *e;
	size_t i, n = 0, count = 0;

	if (api_kind(req->path, &kind) < 0 || !chain_ok(m, req)) {
		api_error(resp, 404, "no such order book on this chain");
		return;
	}
	if (page < 0 || size < 1 || size > 1000) {
		api_error(resp, 400, "bad pageIndex or pageSize");
		return;
	}
	if (list(m, kinds[kind], http_req_query(req, asset_field[kind]), NULL, &all) < 0) {
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
		                                (json_int_t)m->cfg.chain->chain_id, "remaining",
		                                json_object_get(e, "remaining"), "status", "open"));
		n++;
	}
	json_decref(all);
	json_t *r = json_pack("{s:b,s:o,s:I}", "ok", 1, "orders", out, "count", (json_int_t)count);
	if (count > (size_t)((page + 1) * size))
		json_object_set_new(r, "nextPage", json_integer(page + 1));
	http_resp_json(resp, 200, r);
}

int market_new(const struct market_config *c, sqlite3 *db, struct market **out)
{
	struct market *m = calloc(1, sizeof(*m));
	*out = NULL;
	if (!m) {
		db_close(db);
		return err_set(ERR_NOMEM, "out of memory");
	}
	m->cfg = *c;
	m->db = db;
	pthread_mutex_init(&m->mu, NULL);
	if (http_nonces_new(CHALLENGE_WINDOW, CHALLENGE_USES, &m->nonces) < 0) {
		market_free(m);
		return err_wrap(ERR_CRYPTO, "market");
	}
	*out = m;
	return 0;
}

void market_free(struct market *m)
{
	if (!m)
		return;
	db_close(m->db);
	http_nonces_free(m->nonces);
	pthread_mutex_destroy(&m->mu);
	free(m);
}
