/* internal.h — the scheduler's state, shared by its parts: scheduler.c
 * (start, stop, routes), db.c (schema, SQL helpers), follow.c (the chain
 * follower), tasks.c (the task lifecycle), workers.c (the worker API),
 * results.c (the result API and store) and market.c (the orderbook). */
#ifndef TDEXEC_SCHEDULER_INTERNAL_H
#define TDEXEC_SCHEDULER_INTERNAL_H

#include "market.h"
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
	sqlite3 *db;        /* writes, and reads that decide a write (mu) */
	sqlite3 *rdb;       /* reads: their own connection, which WAL never blocks;
	                     * no lock of ours (SQLite serializes its calls) */
	int lock_fd;        /* DB.lock, flocked: one scheduler per database */
	pthread_mutex_t mu; /* db, stop */
	pthread_cond_t cv;  /* stop (the follower's sleep) */
	/* long polls of GET /workers/next (workers.c), under wait_mu: the
	 * waiting ones in poll order, and whether tasks may wait for them */
	pthread_mutex_t wait_mu;
	pthread_cond_t wait_cv;
	struct waiter *waiters, *waiters_tail;
	unsigned long nwaiters, task_gen;
	int dirty, wait_stop, wait_init, waker_on;
	pthread_t waker;
	struct poco_chain *chain;
	int boost; /* the hub has PoCo Boost (else every deal is classic) */
	struct tdx_gate gate;
	struct tdx_gate sms_gate;           /* RA-TLS: the SMS's TD (sms_peer.check set) */
	struct tdx_ratls_expect sms_expect; /* sms_peer's context */
	struct http_peer sms_peer;
	struct http_server *http;
	pthread_t follower;
	int follower_on, stop;
	struct http_nonces *worker_nonces; /* POST /workers/challenge */
	struct market *market;             /* the orderbook, with its own connection */
	/* the admin endpoints (admin.c) */
	uint8_t owner[20];              /* the workerpool owner, whose signature admits */
	char admin_token[65];           /* hex; in the token file, 0600 */
	struct http_nonces *admin_seen; /* signed admin requests already taken */
	/* /metrics (metrics.c): moved by the handlers and the follower */
	struct metrics *reg;
	struct metric *m_workers, *m_alive, *m_tasks, *m_accepted, *m_refused, *m_head, *m_lag;
};

/* The states of a task a worker holds. */
#define HELD "('RUNNING', 'COMPUTED', 'CONTRIBUTING', 'CONTRIBUTED')"

#define RESULT_MAX     (64u << 20)
#define SCHED_LOGS_MAX 4096 /* bytes of an app's stderr tail (iexec_developer_logger) */
#define ZERO_ADDRESS   "0x0000000000000000000000000000000000000000"
/* 1 when the deal's tag asks for a TEE (bit 0 of its last byte) */
#define TEE_SQL "(substr(d.tag, -1) IN ('1', '3', '5', '7', '9', 'b', 'd', 'f'))"

/* SQLite's clock in unix milliseconds (task_events.at_ms) */
#define NOW_MS "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"

/* db.c: the schema's migrations, in order (store/db.h). */
extern const char *const sched_migrations[];
/* Run one statement with text arguments (s->mu held). */
int sched_exec(struct sched *s, const char *sql, const char *const *args, int nargs);
/* A column of the task's row (s->mu held); ERR_NOTFOUND when absent. */
int sched_task_field(struct sched *s, const char *taskid, const char *sql, char *out, size_t cap);
/* The same from the read connection, with no lock of ours held. */
int sched_read_field(struct sched *s, const char *taskid, const char *sql, char *out, size_t cap);
long long sched_now(void);
/* Take the exclusive lock of the database at db_path (DB.lock, an fd kept
 * open for the life of the process): ERR_BUSY, naming the holder's pid,
 * when another scheduler holds it. */
int sched_db_lock(const char *db_path, int *fd_out);
/* Record the pool and chain id in a new database, or refuse (ERR_INVAL,
 * saying whose it is) a database of another pool or chain. */
int sched_db_owner(struct sched *s);

/* follow.c: the follower thread's main (arg: the struct sched). */
void *sched_follower_main(void *arg);

/* tasks.c: one round of each step of the lifecycle (s->mu not held). */
int sched_initialize_tasks(struct sched *s);
int sched_finalize_tasks(struct sched *s);
int sched_reopen_tasks(struct sched *s);
int sched_watch_deadlines(struct sched *s);
void sched_h_tasks(void *ctx, const struct http_req *req, struct http_resp *resp);

/* workers.c */
/* A refusal: logged with its reason, a generic message to the caller for 403. */
void sched_refuse(struct http_resp *resp, int status, const char *ev, const char *why);
void sched_h_challenge(void *ctx, const struct http_req *req, struct http_resp *resp);
void sched_h_register(void *ctx, const struct http_req *req, struct http_resp *resp);
/* Start the thread that answers long polls; stop it (every waiting poll
 * answered 204) before the HTTP server stops. */
int sched_waker_start(struct sched *s);
void sched_waker_stop(struct sched *s);
/* Tasks became INITIALIZED: offer them to the waiting polls (any lock). */
void sched_tasks_ready(struct sched *s);
void sched_h_next(void *ctx, const struct http_req *req, struct http_resp *resp);
void sched_h_status(void *ctx, const struct http_req *req, struct http_resp *resp);
void sched_h_ping(void *ctx, const struct http_req *req, struct http_resp *resp);

/* metrics.c: the scheduler's families (sched_metrics_init at start, freed
 * by sched_stop); /metrics renders them, the database's counts read at
 * scrape time, with the transactions' and the collateral's. */
int sched_metrics_init(struct sched *s);
void sched_metrics(void *ctx, struct wbuf *w);
/* A worker's registration refused: reason is one of the gate's
 * (tdx_gate_refusal) or "bad_request", "nonce", "signature",
 * "report_data", "busy", "internal". */
void sched_metrics_refused(struct sched *s, const char *reason);
/* The follower read the node's head and has followed up to `followed`. */
void sched_metrics_chain(struct sched *s, uint64_t head, uint64_t followed);

/* results.c */
/* Remove the store's files no row references, and stale staging files (s->mu held). */
int sched_results_gc(struct sched *s);
/* A task's row changed for good: drop its uploads (and its served result
 * when results_too); their files go now when `now` (s->mu held). */
int sched_drop_task_files(struct sched *s, const char *taskid, int results_too, int now);
void sched_h_result_put(void *ctx, const struct http_req *req, struct http_resp *resp);
void sched_h_result_get(void *ctx, const struct http_req *req, struct http_resp *resp);
/* GET /tasks/{id}/logs: the app's stderr tail, to the deal's requester. */
void sched_h_task_logs(void *ctx, const struct http_req *req, struct http_resp *resp);
/* GET /tasks/{id}/attestation: the SMS's answer, passed through */
void sched_h_task_attestation(void *ctx, const struct http_req *req, struct http_resp *resp);

/* admin.c: the operator's endpoints.  open: the owner's address, the
 * replay set and a fresh admin token in its file (0600). */
int sched_admin_open(struct sched *s);
void sched_admin_close(struct sched *s);
void sched_h_workers(void *ctx, const struct http_req *req, struct http_resp *resp);
void sched_h_task_list(void *ctx, const struct http_req *req, struct http_resp *resp);
void sched_h_stats(void *ctx, const struct http_req *req, struct http_resp *resp);

#endif
