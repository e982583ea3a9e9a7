/* scheduler.c — the pool operator, see scheduler.h: its configuration, routes,
 * start and stop.
 *
 * The database (db.c) has a connection for writes behind s->mu, which the
 * chain follower thread (follow.c, tasks.c) and the HTTP threads
 * (workers.c, results.c) share and never hold across a network call; reads
 * that decide nothing go through a connection of their own, which WAL never
 * blocks; the market (market.c) has its own.  A long poll for a task holds
 * no thread: it is deferred and answered by the waker (workers.c).  The
 * chain is the source of truth: a deal enters with its SchedulerNoticeBoost
 * event, a task leaves COMPLETED with its ResultPushedBoost event (what a
 * worker reports is only a hint), or FAILED once claimed after its
 * deadline. */
#include "internal.h"
#include "web.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/txm.h"
#include "net/http.h"
#include "net/server.h"
#include "poco/deploy.h"
#include "poco/market.h"
#include "poco/network.h"
#include "proto/proto.h"
#include "store/db.h"
#include "tdx/gate.h"
#include "tdx/ratls.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"

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

/* Body caps: the server's default (4 KiB) unless a route declares more; only
 * the result upload, signed by the task's enclave or worker key, is large. */
#define JSON_BODY  (64u << 10) /* a registration (a quote in base64), a status */
#define ORDER_BODY (16u << 10)

/* The orderbook's routes: its handlers take the market, not the scheduler. */
#define MARKET_ROUTE(name)                                                                         \
	static void sched_##name(void *ctx, const struct http_req *req, struct http_resp *resp)    \
	{                                                                                          \
		market_##name(((struct sched *)ctx)->market, req, resp);                           \
	}
MARKET_ROUTE(h_order_post)
MARKET_ROUTE(h_order_list)
MARKET_ROUTE(h_api_challenge)
MARKET_ROUTE(h_api_publish)
MARKET_ROUTE(h_api_list)

static const struct http_route routes[] = {
    {"POST", "/workers/ping", sched_h_ping, "worker_ping", 0},
    {"POST", "/workers/challenge", sched_h_challenge, "worker_challenge", 0},
    {"POST", "/workers/register", sched_h_register, "worker_register", JSON_BODY},
    {"GET", "/workers/next", sched_h_next, "worker_next", 0},
    {"POST", "/workers/tasks/*/status", sched_h_status, "worker_status", JSON_BODY},
    {"GET", "/tasks", sched_h_tasks, "tasks", 0},
    {"GET", "/tasks/*/logs", sched_h_task_logs, "task_logs", 0},
    {"GET", "/tasks/*/attestation", sched_h_task_attestation, "task_attestation", 0},
    {"GET", "/workers", sched_h_workers, "admin_workers", 0},
    {"GET", "/stats", sched_h_stats, "admin_stats", 0},
    {"GET", "/tasks/*", sched_h_tasks, "task", 0},
    {"POST", "/results/*", sched_h_result_put, "result_upload", RESULT_MAX},
    {"GET", "/results/*", sched_h_result_get, "result_download", 0},
    {"POST", "/orders/*", sched_h_order_post, "order_publish", ORDER_BODY},
    {"GET", "/orders/*", sched_h_order_list, "order_list", 0},
    {"GET", "/challenge", sched_h_api_challenge, "market_challenge", 0},
    {"POST", "/apporders", sched_h_api_publish, "market_publish", ORDER_BODY},
    {"POST", "/datasetorders", sched_h_api_publish, "market_publish", ORDER_BODY},
    {"POST", "/workerpoolorders", sched_h_api_publish, "market_publish", ORDER_BODY},
    {"POST", "/requestorders", sched_h_api_publish, "market_publish", ORDER_BODY},
    {"GET", "/apporders", sched_h_api_list, "market_list", 0},
    {"GET", "/datasetorders", sched_h_api_list, "market_list", 0},
    {"GET", "/workerpoolorders", sched_h_api_list, "market_list", 0},
    {"GET", "/requestorders", sched_h_api_list, "market_list", 0},
    /* the dashboard (web.c): static files, the data from the admin endpoints */
    {"GET", "/", sched_h_web, "dashboard", 0},
    {"GET", "/ui/*", sched_h_web, "dashboard_file", 0},
    {NULL, NULL, NULL, NULL, 0},
};

/* GET /status: the collateral the gates hold (/metrics: metrics.c). */
static json_t *sched_status(void *ctx)
{
	struct sched *s = ctx;
	return json_pack("{s:o,s:o}", "collateral", tdx_gate_status(&s->gate), "sms_collateral",
	                 tdx_gate_status(&s->sms_gate));
}

int sched_start(const struct sched_config *cfg, struct sched **out)
{
	struct sched *s = calloc(1, sizeof(*s));
	struct http_server_opts ho = {0};
	uint8_t owner[20];
	json_t *pool = NULL;
	int rc;

	ENSURE(s, ERR_NOMEM, "out of memory");
	s->cfg = *cfg;
	s->lock_fd = -1;
	if (!s->cfg.poll_ms)
		s->cfg.poll_ms = 500;
	if (!s->cfg.worker_timeout_s)
		s->cfg.worker_timeout_s = 30;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	sched_earnings_init(s);
	rc = sched_metrics_init(s);
	if (rc == 0)
		rc = (cfg->chain_path || cfg->chain_network) && cfg->workerpool && cfg->sms_url &&
		             cfg->db_path && cfg->results_dir && cfg->collateral
		         ? 0
		         : err_set(ERR_INVAL, "scheduler: chain, workerpool, sms, db, results and "
		                              "collateral are required");
	if (rc == 0)
		rc = eth_addr_parse(cfg->workerpool, s->pool);
	if (rc == 0) {
		memcpy(s->pool_topic + 12, s->pool, 20);
		rc = http_base_url(s->sms_url, sizeof(s->sms_url), cfg->sms_url);
	}
	if (rc == 0) {
		snprintf(s->results_dir, sizeof(s->results_dir), "%s", cfg->results_dir);
		rc = dir_create(cfg->results_dir, 0700);
	}
	if (rc == 0)
		rc =
		    poco_chain_open(cfg->chain_path, cfg->chain_network, cfg->chain_rpc, &s->chain);
	/* Without Boost (iExec's Arbitrum deployments), TEE deals are classic:
	 * SchedulerNotice, initialize, contributeAndFinalize. */
	if (rc == 0) {
		char why[256];
		rc = poco_boost_detect(s->chain, &s->boost, why, sizeof(why));
		if (rc == 0)
			log_info("sched.chain", "chain_id=%llu mode=%s reason=\"%s\"",
			         (unsigned long long)s->chain->chain_id,
			         s->boost ? "boost" : "classic", why);
	}
	/* its transactions (initialize, finalize, claims) through a manager:
	 * a dropped one re-sent, a stuck one replaced under the fee cap */
	if (rc == 0) {
		struct eth_txm_config tc = {.max_fee = cfg->max_fee};
		rc = eth_rpc_manage(s->chain->rpc, cfg->owner_key, &tc);
	}
	/* The key must be the pool owner's, or nothing it signs will pass. */
	if (rc == 0)
		rc = poco_asset_show(s->chain, POCO_WORKERPOOL, s->pool, &pool);
	if (rc == 0)
		rc = k1_address(cfg->owner_key, owner);
	if (rc == 0) {
		uint8_t o[20];
		const char *os = json_string_value(json_object_get(pool, "owner"));
		if (!os || eth_addr_parse(os, o) < 0 || memcmp(o, owner, 20) != 0)
			rc = err_set(ERR_INVAL,
			             "scheduler: the key is not the owner of workerpool %s",
			             cfg->workerpool);
	}
	json_decref(pool);
	if (rc == 0)
		rc = tdx_gate_open(&s->gate, cfg->collateral, cfg->trust_sim_root, cfg->policy,
		                   "sched.attest");
	if (rc == 0 && cfg->sms_policy) {
		rc = tdx_gate_open(&s->sms_gate, cfg->collateral, cfg->trust_sim_root,
		                   cfg->sms_policy, "sched.sms");
		s->sms_expect.gate = &s->sms_gate;
		s->sms_expect.config_hash = cfg->sms_config_hash;
		s->sms_expect.format = PROTO_SMS_CONFIG_FORMAT;
		/* one peer for the scheduler's life: its SMS connections are
		 * kept, and checked again once the gate's collateral changed */
		tdx_ratls_peer_init(&s->sms_peer, &s->sms_expect);
	}
	if (rc == 0)
		rc = http_nonces_new(CHALLENGE_WINDOW, CHALLENGE_USES, &s->worker_nonces);
	if (rc == 0)
		rc = sched_db_lock(cfg->db_path, &s->lock_fd);
	if (rc == 0)
		rc = db_open(cfg->db_path, sched_migrations, &s->db);
	if (rc == 0)
		rc = sched_db_owner(s);
	if (rc == 0)
		rc = db_open(cfg->db_path, sched_migrations, &s->rdb);
	if (rc == 0) {
		struct market_config mc = {s->chain,
		                           {0},
		                           s->cfg.owner_key,
		                           cfg->order_price,
		                           cfg->order_volume,
		                           cfg->order_category,
		                           cfg->max_orders_per_signer,
		                           cfg->max_unfunded_orders};
		sqlite3 *mdb = NULL;
		memcpy(mc.pool, s->pool, 20);
		rc = db_open(cfg->db_path, sched_migrations, &mdb);
		if (rc == 0)
			rc = market_new(&mc, mdb, &s->market);
	}
	if (rc == 0)
		rc = sched_results_gc(s); /* what an earlier run left unreferenced */
	if (rc == 0)
		rc = sched_admin_open(s);
	if (rc == 0) {
		ho.address = cfg->address;
		ho.port = cfg->port;
		ho.threads = cfg->threads > 0 ? cfg->threads : 4;
		ho.max_body = 4u << 10;
		ho.max_conns = cfg->max_conns;
		ho.max_conns_per_ip = cfg->max_conns_per_ip;
		ho.body_budget = 2 * (size_t)RESULT_MAX; /* two full uploads at once */
		ho.status = sched_status;
		ho.metrics = sched_metrics;
		rc = sched_waker_start(s);
		if (rc == 0)
			rc = http_server_start(&ho, routes, s, &s->http);
	}
	if (rc == 0) {
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "http://%s:%d",
		         cfg->address ? cfg->address : "127.0.0.1", http_server_port(s->http));
		rc = http_base_url(s->public_url, sizeof(s->public_url),
		                   cfg->public_url ? cfg->public_url : tmp);
		if (rc == 0 && cfg->port_file) {
			snprintf(tmp, sizeof(tmp), "%d\n", http_server_port(s->http));
			rc = file_write(cfg->port_file, tmp, strlen(tmp), 0644);
		}
	}
	if (rc == 0) {
		rc = pthread_create(&s->follower, NULL, sched_follower_main, s) == 0
		         ? 0
		         : err_set(ERR_IO, "scheduler: cannot start the chain follower");
		s->follower_on = rc == 0;
	}
	if (rc < 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", err_msg());
		sched_stop(s);
		return err_set(rc, "%s", msg);
	}
	*out = s;
	return 0;
}

int sched_port(const struct sched *s)
{
	return http_server_port(s->http);
}

void sched_stop(struct sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->follower_on)
		pthread_join(s->follower, NULL);
	sched_waker_stop(s); /* answers the polls still waiting */
	if (s->http)
		http_server_stop(s->http);
	db_close(s->rdb);
	db_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* last: the database is closed */
	http_nonces_free(s->worker_nonces);
	sched_admin_close(s);
	market_free(s->market);
	tdx_gate_close(&s->gate);
	tdx_gate_close(&s->sms_gate);
	poco_chain_free(s->chain);
	metrics_free(s->reg);
	OPENSSL_cleanse(s->cfg.owner_key, 32);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	if (s->wait_init) {
		pthread_cond_destroy(&s->wait_cv);
		pthread_mutex_destroy(&s->wait_mu);
	}
	free(s);
}
