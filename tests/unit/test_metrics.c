/* lib/util/metrics: families declared up front, each series rendered once in
 * the Prometheus text format 0.0.4, histograms cumulative, label values
 * escaped, observations from many threads all counted. */
#include "testutil.h"

#include "util/bytes.h"
#include "util/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const routes[] = {"get_thing", "we\"ird\\na\nme", NULL};
static const char *const codes[] = {"200", "404", NULL};
static const double buckets[] = {0.1, 1, 10};

static char *render(struct metrics *r)
{
	struct wbuf w;
	wbuf_init(&w);
	assert_int_equal(metrics_render(r, &w), 0);
	assert_int_equal(wbuf_u8(&w, 0), 0);
	return (char *)wbuf_take(&w, NULL);
}

static void families_render_in_the_text_format(void **state)
{
	struct metrics *r;
	struct metric *req, *g, *h, *plain;
	const struct metric_def dreq = {.name = "tdexec_x_requests_total",
	                                .help = "Requests, by route\nand code \\ here",
	                                .kind = METRIC_COUNTER,
	                                .labels = {"route", "code"},
	                                .values = {routes, codes},
	                                .sparse = 1};
	const struct metric_def dg = {.name = "tdexec_x_seconds_left",
	                              .help = "A gauge",
	                              .kind = METRIC_GAUGE,
	                              .labels = {"route"},
	                              .values = {routes}};
	const struct metric_def dh = {.name = "tdexec_x_duration_seconds",
	                              .help = "A histogram",
	                              .kind = METRIC_HISTOGRAM,
	                              .buckets = buckets,
	                              .nbuckets = 3};
	const struct metric_def dp = {
	    .name = "tdexec_x_plain_total", .help = "No labels", .kind = METRIC_COUNTER};
	char *t;
	(void)state;

	assert_int_equal(metrics_new(&r), 0);
	assert_int_equal(metrics_add(r, &dreq, &req), 0);
	assert_int_equal(metrics_add(r, &dg, &g), 0);
	assert_int_equal(metrics_add(r, &dh, &h), 0);
	assert_int_equal(metrics_add(r, &dp, &plain), 0);
	metric_inc(req, 0, 0);
	metric_add(req, 0, 0, 2);
	metric_inc(req, 1, 1);
	metric_inc(req, 2, 0); /* out of range: ignored */
	metric_inc(req, 0, 2);
	metric_set(g, 0, 0, 2592000);
	metric_set(g, 1, 0, -1.5);
	metric_gauge_add(g, 1, 0, 0.25);
	metric_observe(h, 0, 0, 0.05);
	metric_observe(h, 0, 0, 0.1); /* le is inclusive */
	metric_observe(h, 0, 0, 5);
	metric_observe(h, 0, 0, 100);
	metric_inc(g, 0, 0); /* not a counter: ignored */
	assert_true(metric_value(req, 0, 0) == 3);
	assert_true(metric_value(h, 0, 0) == 4);
	assert_int_equal(metric_label_index(req, "get_thing", 9), 0);
	assert_int_equal(metric_label_index(req, "nope", 9), 9);
	t = render(r);
	const char *want =
	    "# HELP tdexec_x_requests_total Requests, by route\\nand code \\\\ here\n"
	    "# TYPE tdexec_x_requests_total counter\n"
	    "tdexec_x_requests_total{route=\"get_thing\",code=\"200\"} 3\n"
	    "tdexec_x_requests_total{route=\"we\\\"ird\\\\na\\nme\",code=\"404\"} 1\n"
	    "# HELP tdexec_x_seconds_left A gauge\n"
	    "# TYPE tdexec_x_seconds_left gauge\n"
	    "tdexec_x_seconds_left{route=\"get_thing\"} 2592000\n"
	    "tdexec_x_seconds_left{route=\"we\\\"ird\\\\na\\nme\"} -1.25\n"
	    "# HELP tdexec_x_duration_seconds A histogram\n"
	    "# TYPE tdexec_x_duration_seconds histogram\n"
	    "tdexec_x_duration_seconds_bucket{le=\"0.1\"} 2\n"
	    "tdexec_x_duration_seconds_bucket{le=\"1\"} 2\n"
	    "tdexec_x_duration_seconds_bucket{le=\"10\"} 3\n"
	    "tdexec_x_duration_seconds_bucket{le=\"+Inf\"} 4\n"
	    "tdexec_x_duration_seconds_sum 105.15\n"
	    "tdexec_x_duration_seconds_count 4\n"
	    "# HELP tdexec_x_plain_total No labels\n"
	    "# TYPE tdexec_x_plain_total counter\n"
	    "tdexec_x_plain_total 0\n";
	assert_string_equal(t, want);
	free(t);
	metrics_free(r);
	metrics_free(NULL);
}

static void bad_families_are_refused(void **state)
{
	struct metrics *r;
	struct metric *m;
	static const char *const none[] = {NULL};
	static const char *const twice[] = {"market_publish", "x", "market_publish", NULL};
	static const double down[] = {1, 0.5};
	const struct metric_def ok = {
	    .name = "tdexec_ok_total", .help = "", .kind = METRIC_COUNTER};
	const struct metric_def bad_name = {.name = "9lives", .help = "", .kind = METRIC_COUNTER};
	const struct metric_def dash = {.name = "tdexec-x", .help = "", .kind = METRIC_COUNTER};
	const struct metric_def no_values = {.name = "tdexec_nv",
	                                     .help = "",
	                                     .kind = METRIC_GAUGE,
	                                     .labels = {"route"},
	                                     .values = {none}};
	const struct metric_def le = {.name = "tdexec_le",
	                              .help = "",
	                              .kind = METRIC_GAUGE,
	                              .labels = {"le"},
	                              .values = {routes}};
	const struct metric_def dup = {.name = "tdexec_dup_total",
	                               .help = "",
	                               .kind = METRIC_COUNTER,
	                               .labels = {"route"},
	                               .values = {twice}};
	const struct metric_def unsorted = {.name = "tdexec_h",
	                                    .help = "",
	                                    .kind = METRIC_HISTOGRAM,
	                                    .buckets = down,
	                                    .nbuckets = 2};
	(void)state;

	assert_int_equal(metrics_new(&r), 0);
	assert_int_equal(metrics_add(r, &ok, &m), 0);
	assert_int_equal(metrics_add(r, &ok, &m), ERR_INVAL); /* twice: a duplicate family */
	assert_null(m);
	assert_int_equal(metrics_add(r, &bad_name, &m), ERR_INVAL);
	assert_int_equal(metrics_add(r, &dash, &m), ERR_INVAL);
	assert_int_equal(metrics_add(r, &no_values, &m), ERR_INVAL);
	assert_int_equal(metrics_add(r, &le, &m), ERR_INVAL);
	assert_int_equal(metrics_add(r, &unsorted, &m), ERR_INVAL);
	assert_int_equal(metrics_add(r, &dup, &m), ERR_INVAL);
	metrics_free(r);
}

/* Eight threads, 100,000 observations each: none lost, no lock. */
static struct metric *hot_c, *hot_h;

static void *hammer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100000; i++) {
		metric_inc(hot_c, 1, 0);
		metric_observe(hot_h, 0, 0, (i % 4) * 0.5);
	}
	return NULL;
}

static void concurrent_observations_are_all_counted(void **state)
{
	struct metrics *r;
	pthread_t th[8];
	const struct metric_def dc = {.name = "tdexec_hot_total",
	                              .help = "h",
	                              .kind = METRIC_COUNTER,
	                              .labels = {"route"},
	                              .values = {routes}};
	const struct metric_def dh = {.name = "tdexec_hot_seconds",
	                              .help = "h",
	                              .kind = METRIC_HISTOGRAM,
	                              .buckets = buckets,
	                              .nbuckets = 3};
	char *t;
	(void)state;

	assert_int_equal(metrics_new(&r), 0);
	assert_int_equal(metrics_add(r, &dc, &hot_c), 0);
	assert_int_equal(metrics_add(r, &dh, &hot_h), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	t = render(r);
	assert_non_null(strstr(t, "tdexec_hot_total{route=\"get_thing\"} 0\n"));
	assert_non_null(strstr(t, "\"} 800000\n"));
	/* 0, 0.5, 1, 1.5 in turn: a quarter at or under 0.1, three
	 * quarters at or under 1; the sum is exact in binary */
	assert_non_null(strstr(t, "tdexec_hot_seconds_bucket{le=\"0.1\"} 200000\n"));
	assert_non_null(strstr(t, "tdexec_hot_seconds_bucket{le=\"1\"} 600000\n"));
	assert_non_null(strstr(t, "tdexec_hot_seconds_bucket{le=\"+Inf\"} 800000\n"));
	assert_non_null(strstr(t, "tdexec_hot_seconds_sum 600000\n"));
	assert_non_null(strstr(t, "tdexec_hot_seconds_count 800000\n"));
	free(t);
	metrics_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(families_render_in_the_text_format),
	    cmocka_unit_test(bad_families_are_refused),
	    cmocka_unit_test(concurrent_observations_are_all_counted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
