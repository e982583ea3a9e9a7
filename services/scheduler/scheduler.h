/* scheduler.h — the pool operator (iExec's core): follows the chain for the
 * deals of its workerpool, gets each task's enclave challenge from the SMS,
 * admits workers whose TD quote passes the pool's policy, hands them tasks
 * with a WorkerpoolAuthorization, claims tasks past their deadline so the
 * requester is refunded, and stores results for their beneficiary.
 *
 * HTTP API (docs/pool.md):
 *   POST /workers/challenge            a single-use nonce for registration
 *   POST /workers/register             {address, nonce, quote}; Authorization:
 *                                      the worker's EIP-191 signature over
 *                                      keccak(nonce) -> {token}
 *   GET  /workers/next?wait=S          Bearer token: the next assignment (204: none)
 *   POST /workers/tasks/{id}/status    Bearer token: {status, detail?, tx?}
 *   GET  /tasks/{id}, /tasks?deal=D    task states (iExec's status names)
 *   GET  /workers, /stats, /tasks?status=&deal=&since=&limit=&before=
 *                                      the operator's view (admin.c): the admin
 *                                      token or the pool owner's signature
 *   POST /results/{id}                 a result archive; Authorization: the
 *                                      task's enclave challenge signature over
 *                                      keccak(taskid || sha256(archive))
 *   GET  /results/{id}                 Authorization: the beneficiary's
 *                                      signature over keccak(taskid)
 *   POST /orders/{kind}                a signed order (app, dataset, workerpool,
 *                                      request), checked against its owner
 *   GET  /orders/{kind}?app=&dataset=&workerpool=&tag=
 *                                      open orders, cheapest first, with
 *                                      what remains of their volume on chain
 *   GET  /, /ui/{name}                 the dashboard's static files (web.c)
 */
#ifndef TDEXEC_SCHEDULER_H
#define TDEXEC_SCHEDULER_H

#include <stdint.h>

struct sched_config {
	const char *address; /* listen; default 127.0.0.1 */
	int port;            /* 0 = any */
	int threads;
	unsigned max_conns;        /* HTTP connections in all; 0 = 1024 (below the fd limit) */
	unsigned max_conns_per_ip; /* from one client address; 0 = 64 */
	const char *port_file;
	const char *public_url; /* how workers and requesters reach us; default http://ADDR:PORT */
	const char *db_path;
	const char *results_dir; /* result archives, content-addressed */
	const char *chain_path;
	const char *chain_network, *chain_rpc; /* instead of chain_path (poco/network.h) */
	const char *workerpool;                /* 0x address */
	uint8_t owner_key[32];                 /* the workerpool owner's key */
	const char *sms_url;
	/* the pool's TD admission: collateral (required), sim root, policy */
	const char *collateral;
	const char *trust_sim_root;
	const char *policy;
	/* RA-TLS: the SMS admitted by its own TD quote against this policy
	 * (same collateral and root; NULL = the usual CA verification) */
	const char *sms_policy;
	const uint8_t *sms_config_hash; /* its configuration pinned (32 bytes), or NULL */
	int poll_ms;                    /* chain polling period; default 500 */
	int confirmations;              /* blocks behind the head; default 0 (Anvil) */
	int worker_timeout_s;           /* a worker silent this long is lost; default 30 */
	/* the pool's own workerpool order, kept on the book (volume 0 = none) */
	const char *order_price; /* nRLC per task */
	long order_volume;
	const char *order_category; /* default "0" */
	long max_orders_per_signer; /* open orders a signer may have per kind; 0 = 100 */
	long max_unfunded_orders;   /* see market.h; 0 = 1000 */
	uint64_t max_fee;           /* maxFeePerGas cap of its transactions, wei; 0 = 100 gwei */
	/* where the admin token is written at start (0600); NULL = admin.token
	 * next to the database */
	const char *admin_token_file;
	/* the task_events (timelines) of a task finished this many days ago
	 * are deleted; 0 = kept forever (the CLI's default is 30) */
	int events_retention_days;
};

struct sched;

int sched_start(const struct sched_config *cfg, struct sched **out);
int sched_port(const struct sched *s);
void sched_stop(struct sched *s);

#endif
