/* wk.h — inside the worker: the state one worker and one task carry, and
 * the stages of a task's life, one file each:
 *   sched.c    the scheduler's client: registration, reports, heartbeats
 *   session.c  the task's session from the SMS, by attestation
 *   pre.c      pre-compute: input files, the dataset
 *   app.c      the app in the OCI runtime
 *   post.c     post-compute: result, digest, upload, completion on chain
 *   journal.c  the task journal
 *   worker.c   the loop that takes tasks and runs them through the stages
 * Not a public interface: services/worker/ only. */
#ifndef TDEXEC_WORKER_WK_H
#define TDEXEC_WORKER_WK_H

#include "worker.h"

#include "eth/txm.h"
#include "net/http.h"
#include "store/db.h"
#include "tdx/gate.h"
#include "tdx/ratls.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define INPUT_MAX    (256u << 20)
#define DATASET_MAX  (1u << 30)
#define RESULT_MAX   (64u << 20)
#define CALLBACK_MAX 16384 /* bytes of callback-data */
#define ZERO_ADDR    "0x0000000000000000000000000000000000000000"
#define DEV_LOG_MAX  4096 /* bytes of the app's stderr for iexec_developer_logger */

struct worker {
	const struct worker_config *cfg;
	sqlite3 *db; /* the task journal: what this worker took and how it ended */
	pthread_t pinger;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pinger_stop;
	struct poco_chain *chain;
	/* the wallet's transactions: pushes confirm while the next task runs */
	struct eth_txm *txm;
	uint8_t addr[20];
	char address[43], token[65], sched[256];
	char work[PATH_MAX];   /* the work directory, absolute */
	char layout[PATH_MAX]; /* the OCI image layout (an archive is unpacked here) */
	uint32_t uid_base;     /* the sandbox's host ids start here */
	int broken;            /* a workspace could not be unmounted: take no more tasks */
	/* what the chain never changes, kept from the last task: the app's
	 * registry entry, the deal's callback contract */
	uint8_t last_app[20], last_deal[32], last_callback[20];
	json_t *last_app_json;
	int last_deal_known;
	struct tdx_gate sms_gate;           /* RA-TLS: the SMS's TD admitted by this */
	struct tdx_ratls_expect sms_expect; /* sms_peer's context */
	struct http_peer sms_peer;
	/* metrics.c: counted always, served with --metrics-listen */
	struct metrics *reg;
	struct metric *m_run, *m_completed, *m_failed, *m_app_seconds, *m_pulls, *m_pull_bytes,
	    *m_quotes, *m_evicted, *m_store_bytes;
	struct http_server *metrics_http;
};

/* Everything one task needs, filled as it goes. */
struct task {
	json_t *a; /* the assignment */
	const char *taskid, *dealid;
	uint8_t tid[32], did[32], digest[32], enclave_key[32];
	char dir[PATH_MAX], in[PATH_MAX], out[PATH_MAX];
	int mounted;         /* the workspace (dir) is mounted */
	int tee;             /* a TEE task (else a standard, replicated one) */
	json_t *session_env; /* from the SMS: every service's environment */
	json_t *app_secrets; /* from the SMS: the app service's environment */
	json_t *image_cfg;
	char image[512];
	json_t *app_env; /* "K=V" strings for the app */
	char result_location[512];
	uint8_t *callback; /* computed.json's callback-data, for the deal's callback */
	size_t callback_len;
	char *dev_log;    /* the app's stderr tail, when the deal asked (iexec_developer_logger) */
	long long app_ms; /* the app's run time in ms, as measured here; -1 before it ran */
};

static inline const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* sched.c */
int wk_call(const char *url, const char *auth, const json_t *body, long timeout, long *status,
            json_t **out);
int wk_register(struct worker *w);
void wk_bearer(const struct worker *w, char out[80]);
/* A task's status to the scheduler; a replicate that revealed a callback
 * task's result also gives its callback-data (`cb`, may be NULL). */
void wk_report_cb(struct worker *w, const char *taskid, const char *status, const char *detail,
                  const char *tx, const struct task *cb);
void wk_report(struct worker *w, const char *taskid, const char *status, const char *detail,
               const char *tx);
/* The report after the app ran (COMPUTED or FAILED), with the app's stderr
 * tail when the deal asked for it (t->dev_log) and the app's run time
 * (t->app_ms, for the pool's overhead in the scheduler's /stats). */
void wk_report_task(struct worker *w, const struct task *t, const char *status, const char *detail);
/* Heartbeats while a task runs (a thread's body; stops on w->pinger_stop). */
void *wk_pinger_main(void *arg);

/* session.c: the session's environment into t->session_env and
 * t->app_secrets, the enclave challenge key into t->enclave_key. */
int wk_session_get(struct worker *w, struct task *t);

/* pre.c */
void wk_env_add(json_t *env, const char *k, const char *v);
int wk_pre_compute(struct worker *w, struct task *t, json_t *params);

/* app.c: run the app; *exit_code its status, `why` the reason it failed
 * (empty when it exited 0): the runtime's failure, a limit, or the app's
 * status.  t->dev_log: its stderr tail when params ask for it. */
int wk_app_run(struct worker *w, struct task *t, json_t *params, int *exit_code, char *why,
               size_t why_cap);

/* post.c */
int wk_post_compute(struct worker *w, struct task *t, uint8_t digest[32], char zip[PATH_MAX]);
int wk_encrypt_result(struct task *t, char zip[PATH_MAX]);
int wk_upload(struct worker *w, struct task *t, const char *zip);
/* Sign and send the TEE task's completion (pushResultBoost or
 * contributeAndFinalize) and return: its receipt is awaited by w->txm,
 * which reports the task COMPLETED or FAILED and journals it.  tx: the
 * transaction's hash.  `digest_hex` is what the task reports. */
int wk_push_result(struct worker *w, struct task *t, const uint8_t digest_in[32],
                   const char *digest_hex, char tx[67]);
/* A push journaled before a restart, followed again (journal.c). */
int wk_push_resume(struct worker *w, const char *taskid, const char *dealid, const char *digest,
                   uint64_t nonce, const uint8_t (*hashes)[32], size_t n, const uint8_t *raw,
                   size_t raw_len);
/* Send a transaction of the worker's wallet and wait for its receipt. */
int wk_send(struct worker *w, const char *signature, json_t *args, struct eth_receipt *rc);
int wk_contribute_reveal(struct worker *w, struct task *t, const uint8_t digest_in[32],
                         char tx[67]);

/* workspace.c: the task's tmpfs workspace (t->dir, t->in, t->out),
 * unmounted by close; sweep removes what a dead worker left; check
 * refuses a work directory on a disk the operator did not vouch for. */
int wk_workspace_open(struct worker *w, struct task *t);
void wk_workspace_close(struct worker *w, struct task *t);
/* After the app: 1 MiB more in /iexec_out for what the worker writes. */
int wk_workspace_output_grow(struct worker *w, struct task *t);
int wk_workspace_sweep(struct worker *w);
int wk_workdir_check(struct worker *w);
/* `dir` root's, searchable by the sandbox's root group alone (0710). */
int wk_sandbox_dir(struct worker *w, const char *dir);
/* A mount namespace of the worker's own (before any thread starts). */
int wk_workspace_isolate(void);

/* journal.c */
int wk_journal_open(struct worker *w, const char *path);
void wk_journal(struct worker *w, const char *taskid, const char *dealid, const char *status,
                const char *detail, const char *tx);
/* The push's current versions, before they are sent (status PUSHING). */
void wk_journal_push(struct worker *w, const char *taskid, const char *digest,
                     const struct eth_txm_sent *s);
void wk_journal_recover(struct worker *w);
/* A task handed again that the journal already holds: its outcome
 * reported again instead of a second run; 1 if it was there. */
int wk_journal_replay(struct worker *w, const char *taskid);
/* A completed standard task's callback-data, kept for wk_journal_replay. */
void wk_journal_callback(struct worker *w, const char *taskid, const uint8_t *cb, size_t len);

/* metrics.c: the worker's families; the listener when the configuration
 * asks for one (stopped before the transaction manager is freed). */
/* imgstore.c: the image store within --max-store (a no-op without it).  A
 * task used the unpacked tree `tree`; after it, the least recently used
 * images but `keep` go until the store is back within the limit. */
void wk_store_used(struct worker *w, const char *tree);
int wk_store_prune(struct worker *w, const uint8_t keep[32]);

int wk_metrics_start(struct worker *w);
void wk_metrics_stop(struct worker *w);
/* The registry itself, once nothing counts in it any more (the
 * transaction manager's poller does, until eth_txm_free). */
void wk_metrics_free(struct worker *w);
/* The bytes of the files under dir (an image layout's blobs), 0 when it
 * cannot be read. */
uint64_t wk_dir_bytes(const char *dir);

#endif
