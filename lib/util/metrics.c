#include "metrics.h"

#include "util/bytes.h"
#include "util/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct metric {
	struct metric *next;
	struct metric_def d;
	size_t nlabels, nvalues[METRIC_MAX_LABELS];
	size_t stride; /* words per series: 1, or buckets + 1 (+Inf) + the sum */
	/* counters: the count; gauges: a double's bits; histograms: the
	 * count of each bucket (not cumulative: an observation is one
	 * increment), then the sum as a double's bits */
	uint64_t *v;
};

struct metrics {
	struct metric *head, *tail;
};

int metrics_new(struct metrics **out)
{
	*out = calloc(1, sizeof(**out));
	ENSURE(*out, ERR_NOMEM, "out of memory");
	return 0;
}

void metrics_free(struct metrics *r)
{
	if (!r)
		return;
	for (struct metric *m = r->head, *n; m; m = n) {
		n = m->next;
		free(m->v);
		free(m);
	}
	free(r);
}

static int name_char(char c, int first)
{
	return c == '_' || c == ':' || (unsigned)((c | 32) - 'a') < 26u ||
	       (!first && (unsigned)(c - '0') < 10u);
}

static int valid_name(const char *s)
{
	if (!s || !*s)
		return 0;
	for (const char *p = s; *p; p++)
		if (!name_char(*p, p == s))
			return 0;
	return 1;
}

int metrics_add(struct metrics *r, const struct metric_def *def, struct metric **out)
{
	struct metric *m;
	size_t n = 1;

	*out = NULL;
	ENSURE(valid_name(def->name) && def->help, ERR_INVAL, "metrics: bad name '%s'",
	       def->name ? def->name : "");
	for (struct metric *o = r->head; o; o = o->next)
		ENSURE(strcmp(o->d.name, def->name) != 0, ERR_INVAL, "metrics: %s added twice",
		       def->name);
	m = calloc(1, sizeof(*m));
	ENSURE(m, ERR_NOMEM, "out of memory");
	m->d = *def;
	for (size_t l = 0; l < METRIC_MAX_LABELS && def->labels[l]; l++) {
		size_t k = 0;
		if (!valid_name(def->labels[l]) || strcmp(def->labels[l], "le") == 0 ||
		    !def->values[l] || !def->values[l][0]) {
			free(m);
			return err_set(ERR_INVAL, "metrics: %s: label '%s' without values",
			               def->name, def->labels[l]);
		}
		for (; def->values[l][k]; k++)
			for (size_t o = 0; o < k; o++)
				if (strcmp(def->values[l][o], def->values[l][k]) == 0) {
					free(m);
					return err_set(ERR_INVAL, "metrics: %s: %s=\"%s\" twice",
					               def->name, def->labels[l],
					               def->values[l][k]);
				}
		m->nvalues[l] = k;
		m->nlabels = l + 1;
		n *= k;
	}
	m->stride = 1;
	if (def->kind == METRIC_HISTOGRAM) {
		int ok = def->buckets && def->nbuckets && def->nbuckets <= METRIC_MAX_BUCKETS;
		for (size_t b = 1; ok && b < def->nbuckets; b++)
			ok = def->buckets[b] > def->buckets[b - 1];
		if (!ok) {
			free(m);
			return err_set(ERR_INVAL, "metrics: %s: bad buckets", def->name);
		}
		m->stride = def->nbuckets + 2;
	}
	m->v = calloc(n * m->stride, sizeof(uint64_t));
	if (!m->v) {
		free(m);
		return err_set(ERR_NOMEM, "out of memory");
	}
	if (r->tail)
		r->tail->next = m;
	else
		r->head = m;
	r->tail = m;
	*out = m;
	return 0;
}

/* The first word of series (i, j), or NULL when out of range. */
static uint64_t *series(const struct metric *m, size_t i, size_t j)
{
	size_t idx;
	if (!m)
		return NULL;
	if (m->nlabels == 0)
		idx = 0;
	else if (i >= m->nvalues[0])
		return NULL;
	else if (m->nlabels == 1)
		idx = i;
	else if (j >= m->nvalues[1])
		return NULL;
	else
		idx = i * m->nvalues[1] + j;
	return m->v + idx * m->stride;
}

static double bits_double(uint64_t b)
{
	double d;
	memcpy(&d, &b, sizeof(d));
	return d;
}

static uint64_t double_bits(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof(b));
	return b;
}

/* A double kept as its bits, moved by compare-and-swap: no lock. */
static void atomic_fadd(uint64_t *p, double delta)
{
	uint64_t old = __atomic_load_n(p, __ATOMIC_RELAXED), nv;
	do
		nv = double_bits(bits_double(old) + delta);
	while (!__atomic_compare_exchange_n(p, &old, nv, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

void metric_add(struct metric *m, size_t i, size_t j, uint64_t n)
{
	uint64_t *p = series(m, i, j);
	if (p && m->d.kind == METRIC_COUNTER)
		__atomic_fetch_add(p, n, __ATOMIC_RELAXED);
}

void metric_inc(struct metric *m, size_t i, size_t j)
{
	metric_add(m, i, j, 1);
}

void metric_set(struct metric *m, size_t i, size_t j, double v)
{
	uint64_t *p = series(m, i, j);
	if (!p)
		return;
	if (m->d.kind == METRIC_GAUGE)
		__atomic_store_n(p, double_bits(v), __ATOMIC_RELAXED);
	else if (m->d.kind == METRIC_COUNTER && v >= 0 && v < 18446744073709551616.0)
		__atomic_store_n(p, (uint64_t)v, __ATOMIC_RELAXED);
}

void metric_gauge_add(struct metric *m, size_t i, size_t j, double delta)
{
	uint64_t *p = series(m, i, j);
	if (p && m->d.kind == METRIC_GAUGE)
		atomic_fadd(p, delta);
}

void metric_observe(struct metric *m, size_t i, size_t j, double v)
{
	uint64_t *p = series(m, i, j);
	size_t b = 0;
	if (!p || m->d.kind != METRIC_HISTOGRAM || isnan(v))
		return;
	while (b < m->d.nbuckets && v > m->d.buckets[b])
		b++;
	__atomic_fetch_add(&p[b], 1, __ATOMIC_RELAXED);
	atomic_fadd(&p[m->d.nbuckets + 1], v);
}

size_t metric_label_index(const struct metric *m, const char *value, size_t dflt)
{
	if (m && m->nlabels && value)
		for (size_t i = 0; i < m->nvalues[0]; i++)
			if (strcmp(m->d.values[0][i], value) == 0)
				return i;
	return dflt;
}

static uint64_t hist_count(const struct metric *m, const uint64_t *p)
{
	uint64_t n = 0;
	for (size_t b = 0; b <= m->d.nbuckets; b++)
		n += __atomic_load_n(&p[b], __ATOMIC_RELAXED);
	return n;
}

double metric_value(const struct metric *m, size_t i, size_t j)
{
	const uint64_t *p = series(m, i, j);
	if (!p)
		return 0;
	switch (m->d.kind) {
	case METRIC_COUNTER: return (double)__atomic_load_n(p, __ATOMIC_RELAXED);
	case METRIC_GAUGE: return bits_double(__atomic_load_n(p, __ATOMIC_RELAXED));
	default: return (double)hist_count(m, p);
	}
}

/* A value as Prometheus reads it: the shortest of %.15g and %.17g that
 * gives the double back, and NaN, +Inf, -Inf by name. */
static void fmt_double(char out[32], double d)
{
	if (isnan(d)) {
		strcpy(out, "NaN");
	} else if (isinf(d)) {
		strcpy(out, d > 0 ? "+Inf" : "-Inf");
	} else {
		snprintf(out, 32, "%.15g", d);
		if (strtod(out, NULL) != d)
			snprintf(out, 32, "%.17g", d);
	}
}

/* A label value, escaped: backslash, double quote and newline. */
static int put_escaped(struct wbuf *w, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			GUARD(wbuf_put(w, "\\\\", 2));
		else if (*s == '\n')
			GUARD(wbuf_put(w, "\\n", 2));
		else if (*s == '"' && quote)
			GUARD(wbuf_put(w, "\\\"", 2));
		else
			GUARD(wbuf_u8(w, (uint8_t)*s));
	}
	return 0;
}

static const char *kind_name(enum metric_kind k)
{
	return k == METRIC_COUNTER ? "counter" : k == METRIC_GAUGE ? "gauge" : "histogram";
}

int metrics_header(struct wbuf *w, const char *name, const char *help, enum metric_kind kind)
{
	GUARD(wbuf_printf(w, "# HELP %s ", name));
	GUARD(put_escaped(w, help, 0));
	return wbuf_printf(w, "\n# TYPE %s %s\n", name, kind_name(kind));
}

/* name{a="x",b="y"[,le="..."]} value */
static int sample(struct wbuf *w, const struct metric *m, const char *suffix, size_t i, size_t j,
                  const char *le, const char *value)
{
	int any = 0;
	GUARD(wbuf_printf(w, "%s%s", m->d.name, suffix));
	for (size_t l = 0; l < m->nlabels; l++) {
		GUARD(wbuf_printf(w, "%s%s=\"", any++ ? "," : "{", m->d.labels[l]));
		GUARD(put_escaped(w, m->d.values[l][l == 0 ? i : j], 1));
		GUARD(wbuf_u8(w, '"'));
	}
	if (le)
		GUARD(wbuf_printf(w, "%sle=\"%s\"", any++ ? "," : "{", le));
	return wbuf_printf(w, "%s %s\n", any ? "}" : "", value);
}

static int render_series(struct wbuf *w, const struct metric *m, size_t i, size_t j)
{
	const uint64_t *p = series(m, i, j);
	char v[32], le[32];
	uint64_t cum = 0;

	if (m->d.kind == METRIC_COUNTER) {
		uint64_t n = __atomic_load_n(p, __ATOMIC_RELAXED);
		if (m->d.sparse && n == 0)
			return 0;
		snprintf(v, sizeof(v), "%llu", (unsigned long long)n);
		return sample(w, m, "", i, j, NULL, v);
	}
	if (m->d.kind == METRIC_GAUGE) {
		fmt_double(v, bits_double(__atomic_load_n(p, __ATOMIC_RELAXED)));
		return sample(w, m, "", i, j, NULL, v);
	}
	/* read the buckets once: the cumulative counts, +Inf and _count
	 * are all made from the same reads */
	uint64_t c[METRIC_MAX_BUCKETS + 1];
	for (size_t b = 0; b <= m->d.nbuckets; b++)
		c[b] = __atomic_load_n(&p[b], __ATOMIC_RELAXED);
	for (size_t b = 0; b <= m->d.nbuckets; b++)
		cum += c[b];
	if (m->d.sparse && cum == 0)
		return 0;
	cum = 0;
	for (size_t b = 0; b <= m->d.nbuckets; b++) {
		cum += c[b];
		if (b < m->d.nbuckets)
			fmt_double(le, m->d.buckets[b]);
		else
			strcpy(le, "+Inf");
		snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
		GUARD(sample(w, m, "_bucket", i, j, le, v));
	}
	fmt_double(v, bits_double(__atomic_load_n(&p[m->d.nbuckets + 1], __ATOMIC_RELAXED)));
	GUARD(sample(w, m, "_sum", i, j, NULL, v));
	snprintf(v, sizeof(v), "%llu", (unsigned long long)cum);
	return sample(w, m, "_count", i, j, NULL, v);
}

int metrics_render(struct metrics *r, struct wbuf *w)
{
	for (const struct metric *m = r ? r->head : NULL; m; m = m->next) {
		size_t ni = m->nlabels ? m->nvalues[0] : 1, nj = m->nlabels > 1 ? m->nvalues[1] : 1;
		GUARD(metrics_header(w, m->d.name, m->d.help, m->d.kind));
		for (size_t i = 0; i < ni; i++)
			for (size_t j = 0; j < nj; j++)
				GUARD(render_series(w, m, i, j));
	}
	return 0;
}

double metrics_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}
