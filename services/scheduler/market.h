/* market.h — the pool's orderbook (market.c): signed orders in the
 * scheduler's database, checked against their signers on chain, and listed
 * with what remains of their volume; served as tdexec's /orders and as
 * iExec's market API (the iExec SDK's iexecGatewayURL).  The book has its
 * own state: its own database connection and lock, its own challenges; it
 * borrows the chain handle and the owner key from the scheduler. */
#ifndef TDEXEC_SCHEDULER_MARKET_H
#define TDEXEC_SCHEDULER_MARKET_H

#include "net/server.h"
#include "poco/deploy.h"

#include <sqlite3.h>
#include <stdint.h>

/* The orders table, a migration of the scheduler's schema. */
#define MARKET_MIGRATION                                                                           \
	"CREATE TABLE orders(hash TEXT PRIMARY KEY, kind TEXT NOT NULL, asset TEXT NOT NULL,"      \
	" tag TEXT NOT NULL, price INTEGER NOT NULL, volume INTEGER NOT NULL, body TEXT NOT NULL," \
	" published INTEGER NOT NULL, closed INTEGER NOT NULL DEFAULT 0);"                         \
	"CREATE INDEX orders_open ON orders(kind, asset, closed, price);"
/* Each order's signer, for the quota of open orders per signer; rows stored
 * before the book capped orders and larger than any order now are removed. */
#define MARKET_MIGRATION_SIGNER                                                                    \
	"ALTER TABLE orders ADD COLUMN signer TEXT;"                                               \
	"UPDATE orders SET signer = asset WHERE kind = 'request';"                                 \
	"DELETE FROM orders WHERE length(body) > 65536;"                                           \
	"CREATE INDEX orders_signer ON orders(signer, kind, closed);"

struct market_config {
	struct poco_chain *chain; /* borrowed: outlives the market */
	uint8_t pool[20];         /* the workerpool */
	const uint8_t *owner_key; /* borrowed, 32 bytes: signs the pool's own order */
	/* the pool's own workerpool order, kept on the book (volume 0 = none) */
	const char *order_price; /* nRLC per task; default "0" */
	long order_volume;
	const char *order_category; /* default "0" */
	long max_orders_per_signer; /* open orders a signer may have per kind; 0 = 100 */
};

struct market;

/* A market over db (a connection to a migrated scheduler database, owned by
 * the market from then on, closed by market_free even on error). */
int market_new(const struct market_config *c, sqlite3 *db, struct market **out);
void market_free(struct market *m);
/* Keep one open workerpool order of ours on the book (when configured). */
int market_stock(struct market *m);

/* Handlers; ctx is the struct market. */
void market_h_order_post(void *ctx, const struct http_req *req, struct http_resp *resp);
void market_h_order_list(void *ctx, const struct http_req *req, struct http_resp *resp);
void market_h_api_challenge(void *ctx, const struct http_req *req, struct http_resp *resp);
void market_h_api_publish(void *ctx, const struct http_req *req, struct http_resp *resp);
void market_h_api_list(void *ctx, const struct http_req *req, struct http_resp *resp);

#endif
