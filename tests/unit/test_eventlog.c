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

	tdx_replay_init(&r);
	assert_int_equal(tdx_replay_jsonl(&r, "{\"rtmr\":5,\"digest\":\"00\"}", 24), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "event log line 1"));
	assert_int_equal(tdx_replay_jsonl(&r, "\n{\"digest\":1}\n", 14), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "line 2"));
	td_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(real_ccel_replays_to_the_quotes_rtmrs),
		cmocka_unit_test(runtime_log_replays_what_the_sim_measured),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
