/* internal.h — the scheduler's state, shared by scheduler.c (chain, tasks,
 * workers, results) and market.c (the orderbook). */
#ifndef TDEXEC_SCHEDULER_INTERNAL_H
#define TDEXEC_SCHEDULER_INTERNAL_H

#include "net/server.h"
#include "poco/market.h"
#include "scheduler.h"
#include "store/db.h"
#include "net/http.h"
#include "tdx/gate.h"
#include "tdx/ratls.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Challenges are stateless (net/server.h): a key per process start, a
 * replay set of used ones for the window. */
#define CHALLENGE_WINDOW 60   /* seconds a challenge stays valid */
#define CHALLENGE_USES   8192 /* uses remembered per window (503 past it) */

struct sched {
	struct sched_config cfg;
	char public_url[256], sms_url[256], results_dir[1024];
	uint8_t pool[20], pool_topic[32];
	sqlite3 *db;
	pthread_mutex_t mu; /* db, stop */
	pthread_cond_t cv;  /* new INITIALIZED tasks, or stop */
	struct poco_chain *chain;
	struct tdx_gate gate;
	struct tdx_gate sms_gate; /* RA-TLS: the SMS's TD (sms_peer.check set) */
	struct tdx_ratls_expect sms_expect; /* sms_peer's context */
	struct http_peer sms_peer;
	struct http_server *http;
	pthread_t follower;
	int follower_on, stop;
	struct http_nonces *worker_nonces; /* POST /workers/challenge */
	struct http_nonces *market_nonces; /* GET /challenge (market.c) */
};

/* Run one statement with text arguments (s->mu held). */
int sched_exec(struct sched *s, const char *sql, const char *const *args, int nargs);
/* A refusal: logged with its reason, a generic message to the caller for 403. */
void sched_refuse(struct http_resp *resp, int status, const char *ev, const char *why);

/* The orderbook (market.c). */
#define SCHED_MARKET_MIGRATION                                                                     \
	"CREATE TABLE orders(hash TEXT PRIMARY KEY, kind TEXT NOT NULL, asset TEXT NOT NULL,"      \
	" tag TEXT NOT NULL, price INTEGER NOT NULL, volume INTEGER NOT NULL, body TEXT NOT NULL," \
	" published INTEGER NOT NULL, closed INTEGER NOT NULL DEFAULT 0);"                         \
	"CREATE INDEX orders_open ON orders(kind, asset, closed, price);"
/* Each order's signer, for the quota of open orders per signer; rows stored
 * before the book capped orders and larger than any order now are removed. */
#define SCHED_MARKET_MIGRATION_SIGNER                                                              \
	"ALTER TABLE orders ADD COLUMN signer TEXT;"                                               \
	"UPDATE orders SET signer = asset WHERE kind = 'request';"                                 \
	"DELETE FROM orders WHERE length(body) > 65536;"                                           \
	"CREATE INDEX orders_signer ON orders(signer, kind, closed);"
void sched_h_order_post(void *ctx, const struct http_req *req, struct http_resp *resp);
void sched_h_order_list(void *ctx, const struct http_req *req, struct http_resp *resp);
/* The iExec market API over the same book (the iExec SDK's iexecGatewayURL). */
void sched_h_api_challenge(void *ctx, const struct http_req *req, struct http_resp *resp);
void sched_h_api_publish(void *ctx, const struct http_req *req, struct http_resp *resp);
void sched_h_api_list(void *ctx, const struct http_req *req, struct http_resp *resp);
/* Keep one open workerpool order of ours on the book (when configured). */
int sched_market_stock(struct sched *s);

#endif
