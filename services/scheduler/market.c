/* market.c — the pool's orderbook: signed orders published by app
 * developers, dataset owners, the pool and requesters, each checked against
 * its signer (the asset's owner on chain) before it is listed, and listed
 * with what remains of its volume on chain (viewConsumed), so consumed and
 * cancelled orders drop off by themselves. */
#include "internal.h"

#include "eth/addr.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const asset_field[] = {"app", "dataset", "workerpool", "requester"};
static const char *const price_field[] = {"appprice", "datasetprice", "workerpoolprice",
                                          "workerpoolmaxprice"};

static long long jll(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	if (json_is_integer(v))
		return (long long)json_integer_value(v);
	return json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : -1;
}

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
	static const char *const kinds[] = {"app", "dataset", "workerpool", "request"};
	uint8_t asset[20], h[32];
	char addr[43], price[24], volume[24], now[24], *body;
	const char *tag = json_string_value(json_object_get(o, "tag"));
	int rc;

	ENSURE(jll(o, "volume") > 0 && jll(o, price_field[kind]) >= 0 && tag, ERR_INVAL,
	       "order: volume, %s and tag are required", price_field[kind]);
	GUARD(check_signer(s, kind, o, asset));
	GUARD(poco_order_hash(s->chain, kind, o, h));
	sched_hex0x(hash_hex, h, 32);
	eth_addr_str(asset, addr);
	snprintf(price, sizeof(price), "%lld", jll(o, price_field[kind]));
	snprintf(volume, sizeof(volume), "%lld", jll(o, "volume"));
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
	used = jll(v, "consumed");
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
