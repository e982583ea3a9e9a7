/* metrics.c — the worker's /metrics, on a listener of its own that is off
 * unless --metrics-listen names an address: the worker is a client of the
 * scheduler and the SMS and serves nothing else.  The listener has no route
 * but the server's built-in /healthz and /metrics. */
#include "wk.h"

#include "eth/txm.h"
#include "net/http.h"
#include "net/server.h"
#include "util/bytes.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* An app: a second to a day (the categories' longest). */
static const double app_buckets[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400};

static const struct http_route no_routes[] = {{NULL, NULL, NULL, NULL, 0}};

static void worker_metrics(void *ctx, struct wbuf *w)
{
	struct worker *wk = ctx;
	/* the caller's buffer, which it checks after its own appends: out of
	 * memory, the lines that do not fit are left out here */
	IGNORE_STATUS(metrics_render(wk->reg, w));
	IGNORE_STATUS(eth_txm_metrics(wk->txm, w));
	IGNORE_STATUS(http_counters_render(w));
}

/* ADDR:PORT, an IPv4 address (the server listens on no other kind). */
static int parse_listen(const char *spec, char addr[16], int *port)
{
	const char *colon = strrchr(spec, ':');
	char *end;
	long p;

	ENSURE(colon && colon > spec && (size_t)(colon - spec) < 16, ERR_INVAL,
	       "--metrics-listen %s: not ADDR:PORT (e.g. 127.0.0.1:9464)", spec);
	memcpy(addr, spec, (size_t)(colon - spec));
	addr[colon - spec] = '\0';
	p = strtol(colon + 1, &end, 10);
	ENSURE(colon[1] && !*end && p >= 0 && p <= 65535, ERR_INVAL,
	       "--metrics-listen %s: the port is not a number from 0 to 65535", spec);
	*port = (int)p;
	return 0;
}

int wk_metrics_start(struct worker *w)
{
	const struct metric_def defs[] = {
	    {.name = "tdexec_worker_tasks_run_total",
	     .help = "Tasks taken from the scheduler",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_worker_tasks_completed_total",
	     .help = "Tasks completed (their result on chain)",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_worker_tasks_failed_total",
	     .help = "Tasks failed (reported FAILED to the scheduler)",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_worker_app_run_seconds",
	     .help = "Wall time of the app in its sandbox",
	     .kind = METRIC_HISTOGRAM,
	     .buckets = app_buckets,
	     .nbuckets = sizeof(app_buckets) / sizeof(app_buckets[0])},
	    {.name = "tdexec_worker_image_pulls_total",
	     .help = "App images pulled from a registry (--pull)",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_worker_image_pull_bytes_total",
	     .help = "Bytes of blobs the image pulls added to the image layout",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_worker_quotes_total",
	     .help = "TD quotes generated (registrations and task sessions)",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_worker_images_evicted_total",
	     .help = "Images removed from the image store to keep it within --max-store",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_worker_image_store_bytes",
	     .help = "Disk bytes of the image store after the last task (with --max-store)",
	     .kind = METRIC_GAUGE},
	};
	struct metric **out[] = {&w->m_run,         &w->m_completed, &w->m_failed,
	                         &w->m_app_seconds, &w->m_pulls,     &w->m_pull_bytes,
	                         &w->m_quotes,      &w->m_evicted,   &w->m_store_bytes};
	struct http_server_opts o = {.threads = 1, .max_conns = 16, .metrics = worker_metrics};
	char addr[16];

	GUARD(metrics_new(&w->reg));
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		GUARD(metrics_add(w->reg, &defs[i], out[i]));
	if (!w->cfg->metrics_listen)
		return 0;
	GUARD(parse_listen(w->cfg->metrics_listen, addr, &o.port));
	o.address = addr;
	GUARD(http_server_start(&o, no_routes, w, &w->metrics_http));
	log_info("worker.metrics", "listen=%s:%d", addr, http_server_port(w->metrics_http));
	return 0;
}

void wk_metrics_stop(struct worker *w)
{
	http_server_stop(w->metrics_http);
	w->metrics_http = NULL;
}

void wk_metrics_free(struct worker *w)
{
	metrics_free(w->reg);
	w->reg = NULL;
}

uint64_t wk_dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t n = 0;
	char p[4096];
	struct stat sb;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' &&
		    (size_t)snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) < sizeof(p) &&
		    lstat(p, &sb) == 0 && S_ISREG(sb.st_mode))
			n += (uint64_t)sb.st_size;
	closedir(d);
	return n;
}
