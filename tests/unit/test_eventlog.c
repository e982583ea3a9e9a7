/* RTMR replay: the real CCEL from Google's COS 113 TD replays to the RTMRs
 * in that TD's quote; the JSON-lines runtime log replays to what the
 * simulated TD measured; broken logs are refused. */
#include "testutil.h"

#include "tdx/eventlog.h"
#include "tdx/quote.h"
#include "tdx/sim.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void real_ccel_replays_to_the_quotes_rtmrs(void **state)
{
	struct tdx_rtmr_replay r;
	struct tdx_quote *q;
	size_t len, qlen;
	uint8_t *log = td_read("tdx/google-go-tdx-guest/ccel/ccel_data.dat", &len);
	uint8_t *buf = td_read("tdx/google-go-tdx-guest/ccel/cos-113-tdx-quote.dat", &qlen);
	(void)state;

	assert_int_equal(tdx_quote_parse(buf, qlen, &q), 0);
	tdx_replay_init(&r);
	assert_int_equal(tdx_replay_ccel(&r, log, len), 0);
	assert_int_equal(r.touched, 0x7); /* firmware measures RTMR0..2 */
	assert_true(r.events > 10);
	for (int i = 0; i < 3; i++)
		assert_memory_equal(r.rtmr[i], q->body.rtmr[i], 48);
	/* One changed digest byte changes the replay. */
	log[0x50] ^= 1;
	tdx_replay_init(&r);
	assert_int_equal(tdx_replay_ccel(&r, log, len), 0);
	assert_memory_not_equal(r.rtmr[0], q->body.rtmr[0], 48);
	/* Truncations inside the events are refused. */
	for (size_t n = 0; n < 2000; n += 7) {
		tdx_replay_init(&r);
		(void)tdx_replay_ccel(&r, log, n);
	}
	tdx_replay_init(&r);
	assert_true(tdx_replay_ccel(&r, log, 100) < 0);
	tdx_quote_free(q);
	free(buf);
	free(log);
}

static void runtime_log_replays_what_the_sim_measured(void **state)
{
	struct tdx_sim_opts o = {0, 0, 0};
	struct tdx_rtmr_replay r;
	struct tdx_td_body b;
	uint8_t d1[48], d2[48];
	char *dir = td_tmpdir(), p[512];
	(void)state;

	assert_int_equal(tdx_sim_init(dir, &o), 0);
	memset(d1, 0x11, 48);
	memset(d2, 0x22, 48);
	assert_int_equal(tdx_sim_extend(dir, 3, d1, "first"), 0);
	assert_int_equal(tdx_sim_extend(dir, 3, d2, "second"), 0);
	snprintf(p, sizeof(p), "%s/event_log.jsonl", dir);
	tdx_replay_init(&r);
	assert_int_equal(tdx_replay_file(&r, p), 0);
	assert_int_equal(r.touched, 0x8);
	assert_int_equal(r.events, 2);
	snprintf(p, sizeof(p), "%s/td.json", dir);
	assert_int_equal(tdx_sim_measurements_load(p, &b), 0);
	assert_memory_equal(r.rtmr[3], b.rtmr[3], 48);

	td_rmtree(dir);
	free(dir);
}

#define D96                                                                                        \
	"000000000000000000000000000000000000000000000000"                                         \
	"000000000000000000000000000000000000000000000000"

/* Runtime log lines that must be refused, each with a valid digest unless
 * the digest is the point, and the exact reason. */
static const struct {
	const char *text, *want;
} bad_jsonl[] = {
    {"{\"rtmr\":4,\"digest\":\"" D96 "\"}", "event log line 1: \"rtmr\": 4 out of range (0..3)"},
    {"{\"rtmr\":5,\"digest\":\"" D96 "\"}", "event log line 1: \"rtmr\": 5 out of range (0..3)"},
    /* (int)4294967299 is 3: once replayed into RTMR3. */
    {"{\"rtmr\":4294967299,\"digest\":\"" D96 "\"}",
     "event log line 1: \"rtmr\": 4294967299 out of range (0..3)"},
    {"{\"rtmr\":-1,\"digest\":\"" D96 "\"}", "event log line 1: \"rtmr\": -1 out of range (0..3)"},
    {"{\"rtmr\":1.0,\"digest\":\"" D96 "\"}",
     "event log line 1: \"rtmr\" is not an integer (0..3)"},
    {"{\"rtmr\":\"3\",\"digest\":\"" D96 "\"}",
     "event log line 1: \"rtmr\" is not an integer (0..3)"},
    {"\n{\"digest\":\"" D96 "\"}\n", "event log line 2: missing \"rtmr\""},
    {"{\"rtmr\":3,\"digest\":\"" D96 "\"}\n{\"rtmr\":3,\"digest\":\"00\"}",
     "event log line 2: digest"},
};

static void runtime_log_refuses_bad_lines(void **state)
{
	struct tdx_rtmr_replay r;
	(void)state;
	for (size_t i = 0; i < sizeof(bad_jsonl) / sizeof(bad_jsonl[0]); i++) {
		tdx_replay_init(&r);
		int rc = tdx_replay_jsonl(&r, bad_jsonl[i].text, strlen(bad_jsonl[i].text));
		if (rc != ERR_INVAL ||
		    strncmp(err_msg(), bad_jsonl[i].want, strlen(bad_jsonl[i].want)))
			fail_msg("case %zu: rc %d, '%s', want '%s'", i, rc, err_msg(),
			         bad_jsonl[i].want);
		assert_int_equal(r.touched & ~0x8u, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(real_ccel_replays_to_the_quotes_rtmrs),
	    cmocka_unit_test(runtime_log_replays_what_the_sim_measured),
	    cmocka_unit_test(runtime_log_refuses_bad_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
