/* metrics.c — the scheduler's /metrics: workers and tasks counted from the
 * database when scraped (the rows are the truth, and a count kept beside
 * them would drift after a restart), attestations counted as they are
 * decided, the chain follower's distance to the node's head, and the
 * transactions of the pool owner's wallet. */
#include "internal.h"

#include "eth/rpc.h"
#include "eth/txm.h"
#include "net/http.h"
#include "util/bytes.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"

#include <stdio.h>
#include <string.h>

/* Every status a task row takes (tasks.c, workers.c, follow.c). */
static const char *const task_statuses[] = {"RECEIVED",     "INITIALIZED", "RUNNING",   "COMPUTED",
                                            "CONTRIBUTING", "CONTRIBUTED", "COMPLETED", "FAILED",
                                            "REORGED",      NULL};
static const char *const refusal_names[] = {
    "bad_request", "nonce",       "signature", "quote_malformed", "collateral", "quote_invalid",
    "policy",      "report_data", "busy",      "internal",        NULL};

int sched_metrics_init(struct sched *s)
{
	const struct metric_def defs[] = {
	    {.name = "tdexec_workers_registered",
	     .help = "Workers registered with the pool",
	     .kind = METRIC_GAUGE},
	    {.name = "tdexec_workers_alive",
	     .help = "Registered workers heard from within the worker timeout",
	     .kind = METRIC_GAUGE},
	    {.name = "tdexec_tasks",
	     .help = "Tasks of the pool's deals, by status",
	     .kind = METRIC_GAUGE,
	     .labels = {"status"},
	     .values = {task_statuses}},
	    {.name = "tdexec_attestations_accepted_total",
	     .help = "Workers' TD quotes accepted at registration",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_attestations_refused_total",
	     .help = "Workers' registrations refused, by reason",
	     .kind = METRIC_COUNTER,
	     .labels = {"reason"},
	     .values = {refusal_names}},
	    {.name = "tdexec_chain_head_block",
	     .help = "The node's latest block, as the follower last read it",
	     .kind = METRIC_GAUGE},
	    {.name = "tdexec_chain_head_lag_blocks",
	     .help = "Blocks between the node's head and the last block the follower has read",
	     .kind = METRIC_GAUGE},
	};
	struct metric **out[] = {&s->m_workers, &s->m_alive, &s->m_tasks, &s->m_accepted,
	                         &s->m_refused, &s->m_head,  &s->m_lag};
	GUARD(metrics_new(&s->reg));
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		GUARD(metrics_add(s->reg, &defs[i], out[i]));
	return 0;
}

void sched_metrics_refused(struct sched *s, const char *reason)
{
	size_t other = sizeof(refusal_names) / sizeof(refusal_names[0]) - 2; /* internal */
	metric_inc(s->m_refused, metric_label_index(s->m_refused, reason, other), 0);
}

void sched_metrics_chain(struct sched *s, uint64_t head, uint64_t followed)
{
	metric_set(s->m_head, 0, 0, (double)head);
	metric_set(s->m_lag, 0, 0, head > followed ? (double)(head - followed) : 0);
}

/* The database's counts (read connection, no lock of ours); on an error
 * the gauges keep their last values and the error is logged. */
static int collect(struct sched *s)
{
	sqlite3_stmt *st = NULL;
	int rc;

	for (size_t i = 0; task_statuses[i]; i++)
		metric_set(s->m_tasks, i, 0, 0);
	rc = db_prepare(s->rdb, "SELECT status, count(*) FROM tasks GROUP BY status", &st);
	while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *status = (const char *)sqlite3_column_text(st, 0);
		size_t i = metric_label_index(s->m_tasks, status, SIZE_MAX);
		metric_set(s->m_tasks, i, 0, (double)sqlite3_column_int64(st, 1));
		rc = 0;
	}
	if (st)
		sqlite3_finalize(st);
	st = NULL;
	if (rc == SQLITE_DONE)
		rc = db_prepare(
		    s->rdb, "SELECT count(*), coalesce(sum(last_seen >= ?1), 0) FROM workers", &st);
	else if (rc > 0)
		rc = err_set(ERR_IO, "metrics: %s", sqlite3_errmsg(s->rdb));
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, sched_now() - s->cfg.worker_timeout_s);
		if (sqlite3_step(st) == SQLITE_ROW) {
			metric_set(s->m_workers, 0, 0, (double)sqlite3_column_int64(st, 0));
			metric_set(s->m_alive, 0, 0, (double)sqlite3_column_int64(st, 1));
		} else {
			rc = err_set(ERR_IO, "metrics: %s", sqlite3_errmsg(s->rdb));
		}
	}
	if (st)
		sqlite3_finalize(st);
	return rc;
}

void sched_metrics(void *ctx, struct wbuf *w)
{
	struct sched *s = ctx;

	if (collect(s) < 0)
		log_warn("sched.metrics", "error=\"%s\"", err_msg());
	/* the caller's buffer, which it checks after its own appends: out of
	 * memory, the lines that do not fit are left out here */
	IGNORE_STATUS(metrics_render(s->reg, w));
	IGNORE_STATUS(eth_txm_metrics(eth_rpc_txm(s->chain->rpc), w));
	IGNORE_STATUS(http_counters_render(w));
	tdx_gate_metrics(&s->gate, w);
}
