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

/* Offsets where the CCEL's events end (the header included), found by a
 * walk independent of the parser; stops at the 0xFF padding. */
static size_t ccel_boundaries(const uint8_t *p, size_t len, size_t *out, size_t max)
{
	uint32_t nalgs, hsize, sizes[8] = {0};
	uint16_t ids[8] = {0};
	size_t off, n = 0;

	memcpy(&hsize, p + 28, 4);
	memcpy(&nalgs, p + 32 + 24, 4);
	assert_true(nalgs >= 1 && nalgs <= 8);
	for (uint32_t i = 0; i < nalgs; i++) {
		memcpy(&ids[i], p + 32 + 28 + 4 * i, 2);
		uint16_t sz;
		memcpy(&sz, p + 32 + 30 + 4 * i, 2);
		sizes[i] = sz;
	}
	off = 32 + hsize;
	out[n++] = off;
	while (off + 12 <= len && n < max && p[off] != 0xff) {
		uint32_t count, esize;
		memcpy(&count, p + off + 8, 4);
		off += 12;
		for (uint32_t i = 0; i < count; i++) {
			uint16_t id;
			uint32_t k = 0;
			memcpy(&id, p + off, 2);
			while (k < nalgs && ids[k] != id)
				k++;
			assert_true(k < nalgs);
			off += 2 + sizes[k];
		}
		memcpy(&esize, p + off, 4);
		off += 4 + esize;
		out[n++] = off;
	}
	return n;
}

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
	/* A prefix replays only when it ends exactly between two events. */
	{
		size_t b[64], nb = ccel_boundaries(log, len, b, 64), k = 0;
		assert_true(nb > 10);
		for (size_t n = 0; n <= b[nb - 1]; n++) {
			int at_boundary = k < nb && b[k] == n;
			tdx_replay_init(&r);
			int rc = tdx_replay_ccel(&r, log, n);
			if (at_boundary ? rc != 0 : rc == 0)
				fail_msg("prefix of %zu bytes: rc %d (%s)", n, rc, err_msg());
			k += at_boundary ? 1u : 0u;
		}
		assert_int_equal(k, nb);
	}
	tdx_quote_free(q);
	free(buf);
	free(log);
}

/* Changes to the real CCEL and the verdict: NULL = replays to the same
 * RTMRs, else a fragment of the reason.  `at` < 0 counts from the end of the
 * last event. */
enum ccel_edit { PAD_ZERO, TRUNC_AT_END, PUT_BYTE, FIRST_EVENT_MR0, FIRST_EVENT_MR5 };
static const struct {
	enum ccel_edit edit;
	long at;
	uint8_t byte;
	const char *want;
} ccel_cases[] = {
    {PAD_ZERO, 0, 0, NULL},     /* zeros instead of 0xFF after the last event */
    {TRUNC_AT_END, 0, 0, NULL}, /* no padding at all */
    {PUT_BYTE, 0, 0x01, "event log"},
    {PUT_BYTE, 4, 0x00, "are not padding"},
    {PUT_BYTE, 5000, 0x00, "are not padding"},
    {PUT_BYTE, 262143 - 18101, 0xfe, "are not padding"},
    {FIRST_EVENT_MR0, 0, 0, "has MR index 0 (MRTD)"},
    {FIRST_EVENT_MR5, 0, 0, "MR index 5"},
};

static void ccel_replay_is_strict(void **state)
{
	size_t len;
	uint8_t *orig = td_read("tdx/google-go-tdx-guest/ccel/ccel_data.dat", &len);
	size_t b[64], nb = ccel_boundaries(orig, len, b, 64), end = b[nb - 1];
	struct tdx_rtmr_replay want, r;
	(void)state;

	tdx_replay_init(&want);
	assert_int_equal(tdx_replay_ccel(&want, orig, len), 0);
	for (size_t i = 0; i < sizeof(ccel_cases) / sizeof(ccel_cases[0]); i++) {
		uint8_t *log = malloc(len);
		size_t n = len;
		assert_non_null(log);
		memcpy(log, orig, len);
		switch (ccel_cases[i].edit) {
		case PAD_ZERO: memset(log + end, 0, len - end); break;
		case TRUNC_AT_END: n = end; break;
		case PUT_BYTE: log[end + (size_t)ccel_cases[i].at] = ccel_cases[i].byte; break;
		case FIRST_EVENT_MR0: memset(log + b[0], 0, 4); break;
		case FIRST_EVENT_MR5: log[b[0]] = 5; break;
		}
		if (ccel_cases[i].edit == PAD_ZERO && len - end < 8)
			fail_msg("no padding in the sample");
		tdx_replay_init(&r);
		int rc = tdx_replay_ccel(&r, log, n);
		if (!ccel_cases[i].want) {
			if (rc != 0)
				fail_msg("case %zu: %s", i, err_msg());
			assert_memory_equal(r.rtmr, want.rtmr, sizeof(want.rtmr));
			assert_int_equal(r.events, want.events);
		} else if (rc != ERR_INVAL || !strstr(err_msg(), ccel_cases[i].want)) {
			fail_msg("case %zu: rc %d '%s', want '%s'", i, rc, err_msg(),
			         ccel_cases[i].want);
		}
		free(log);
	}
	free(orig);
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
	    cmocka_unit_test(ccel_replay_is_strict),
	    cmocka_unit_test(runtime_log_replays_what_the_sim_measured),
	    cmocka_unit_test(runtime_log_refuses_bad_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
