/* metrics.h — Prometheus metrics: counters, gauges and histograms, rendered
 * in the text exposition format 0.0.4.
 *
 * A family's labels and every value each label may take are declared when it
 * is added (route names, status codes, a fixed list of reasons), never taken
 * from requests, so the number of series is known at start and a client
 * cannot grow it.  The storage of every series is allocated then too: an
 * observation is one or two relaxed atomic operations on that storage, with
 * no lock and no allocation, from any thread.  Values are read at render
 * time without stopping writers, so a scrape may see one observation counted
 * in a histogram's buckets and not yet in its sum; the buckets and _count
 * always agree (_count is the sum of the buckets).
 *
 * Each series is rendered once, after its family's # HELP and # TYPE.  A
 * family declared sparse leaves out the series that never moved (a counter
 * at 0, a histogram without observations), for label sets of which most
 * never occur (a route and every status code). */
#ifndef TDEXEC_UTIL_METRICS_H
#define TDEXEC_UTIL_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRIC_MAX_LABELS  2
#define METRIC_MAX_BUCKETS 24

struct metric_def {
	const char *name; /* snake_case, tdexec_ prefix, _total for counters */
	const char *help;
	enum metric_kind kind;
	/* up to METRIC_MAX_LABELS label names (NULL ends), each with its
	 * values, a NULL-terminated list that must outlive the registry */
	const char *labels[METRIC_MAX_LABELS];
	const char *const *values[METRIC_MAX_LABELS];
	/* histograms: upper bounds, strictly ascending, +Inf implied */
	const double *buckets;
	size_t nbuckets;
	int sparse; /* leave out series that never moved */
};

struct metrics;
struct metric;

MUST_CHECK int metrics_new(struct metrics **out);
/* Frees the registry and every family in it; accepts NULL. */
void metrics_free(struct metrics *r);
/* Add a family (def is copied; its strings are not and must outlive r).
 * ERR_INVAL for a name already in r, a name or label that is not
 * [a-zA-Z_:][a-zA-Z0-9_:]*, a label without values or with a value twice
 * (two series would be one), bad buckets. */
MUST_CHECK int metrics_add(struct metrics *r, const struct metric_def *def, struct metric **out);

/* The series of label value indices i (first label) and j (second); an
 * index past its label's values, or on a family with fewer labels, is
 * ignored (use 0).  None of these allocates or locks. */
void metric_inc(struct metric *m, size_t i, size_t j);
void metric_add(struct metric *m, size_t i, size_t j, uint64_t n);
/* Gauges: set or move the value.  On a counter, metric_set copies a count
 * kept elsewhere (never decreasing there) at scrape time. */
void metric_set(struct metric *m, size_t i, size_t j, double v);
void metric_gauge_add(struct metric *m, size_t i, size_t j, double delta);
/* Histograms: one observation. */
void metric_observe(struct metric *m, size_t i, size_t j, double v);

/* The index of `value` among the first label's values, or `dflt` when it is
 * not there. */
size_t metric_label_index(const struct metric *m, const char *value, size_t dflt);
/* A series' current value (counters and gauges; a histogram's count). */
double metric_value(const struct metric *m, size_t i, size_t j);

struct wbuf;
/* Append every family of r, in the order added.  ERR_NOMEM. */
MUST_CHECK int metrics_render(struct metrics *r, struct wbuf *w);
/* Append a family's # HELP and # TYPE lines, for lines a module writes
 * itself (families whose label values are only known at scrape time, such
 * as the platforms of held collateral). */
MUST_CHECK int metrics_header(struct wbuf *w, const char *name, const char *help,
                              enum metric_kind kind);

/* Seconds elapsed since a CLOCK_MONOTONIC start, for latency histograms. */
struct timespec;
double metrics_since(const struct timespec *t0);

#endif
