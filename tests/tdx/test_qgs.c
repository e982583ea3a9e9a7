/* The QGS provider: Intel's framing byte for byte, strict response parsing
 * (every size against what was read and against the caps), QGS error codes
 * in words, timeouts, and the whole path — TDREPORT of the simulated TD,
 * quote from a fake QGS on a unix socket — against a QGS that misbehaves
 * in each way a broken or hostile one could. */
#include "testutil.h"

#include "fake_qgs.h"

#include "crypto/p256.h"
#include "tdx/provider.h"
#include "tdx/qgs.h"
#include "tdx/quote.h"
#include "tdx/sim.h"
#include "util/err.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T0 1751000000

static char *dir, *other, sock[256];
static struct tdx_sim *sim;

static int setup(void **state)
{
	struct tdx_sim_opts o = {T0, 30, 0};
	(void)state;
	dir = td_tmpdir();
	other = td_tmpdir();
	snprintf(sock, sizeof(sock), "%s/qgs.sock", dir);
	if (tdx_sim_init(dir, &o) < 0 || tdx_sim_init(other, &o) < 0 ||
	    tdx_sim_load(dir, NULL, &sim) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tdx_sim_free(sim);
	td_rmtree(dir);
	td_rmtree(other);
	free(dir);
	free(other);
	return 0;
}

static uint32_t rd32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---------- framing ---------- */

static void request_bytes_are_intels_framing(void **state)
{
	uint8_t report[TDX_REPORT_SIZE], req[4 + TDX_QGS_REQ_SIZE];
	const uint8_t *got;
	uint32_t code;
	(void)state;
	for (size_t i = 0; i < sizeof(report); i++)
		report[i] = (uint8_t)i;
	tdx_qgs_request_write(report, req);
	/* big-endian transport length, then the little-endian message */
	assert_memory_equal(req, "\x00\x00\x04\x18", 4);     /* 1048 */
	assert_memory_equal(req + 4, "\x01\x00\x00\x00", 4); /* major 1, minor 0 */
	assert_int_equal(rd32le(req + 8), 0);                /* GET_QUOTE_REQ */
	assert_int_equal(rd32le(req + 12), 1048);            /* size */
	assert_int_equal(rd32le(req + 16), 0);               /* error_code */
	assert_int_equal(rd32le(req + 20), 1024);            /* report_size */
	assert_int_equal(rd32le(req + 24), 0);               /* id_list_size */
	assert_memory_equal(req + 28, report, sizeof(report));
	assert_int_equal(tdx_qgs_request_parse(req + 4, TDX_QGS_REQ_SIZE, &got, &code), 0);
	assert_ptr_equal(got, req + 28);
	assert_int_equal(code, 0);
}

static void bad_requests_get_the_qgs_error_codes(void **state)
{
	static const struct {
		size_t off;
		uint32_t val;
		uint32_t code;
	} cases[] = {
	    {0, 2, TDX_QGS_ERR_INVALID_VERSION},      /* major 2 (minor stays 0) */
	    {4, 1, TDX_QGS_ERR_INVALID_TYPE},         /* a response type */
	    {8, 1047, TDX_QGS_ERR_INVALID_SIZE},      /* size off by one */
	    {12, 0x12001, TDX_QGS_ERR_INVALID_CODE},  /* error_code in a request */
	    {16, 512, TDX_QGS_ERR_INVALID_PARAMETER}, /* report_size */
	    {20, 16, TDX_QGS_ERR_INVALID_PARAMETER},  /* id_list_size */
	};
	uint8_t report[TDX_REPORT_SIZE] = {0}, req[4 + TDX_QGS_REQ_SIZE];
	const uint8_t *got;
	uint32_t code;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tdx_qgs_request_write(report, req);
		if (cases[i].off == 0)
			req[4] = (uint8_t)cases[i].val;
		else
			wr32le(req + 4 + cases[i].off, cases[i].val);
		assert_true(tdx_qgs_request_parse(req + 4, TDX_QGS_REQ_SIZE, &got, &code) < 0);
		assert_int_equal(code, cases[i].code);
	}
	/* shorter than the header and sizes */
	assert_true(tdx_qgs_request_parse(req + 4, 20, &got, &code) < 0);
	assert_int_equal(code, TDX_QGS_ERR_INVALID_PARAMETER);
}

/* A response with an id: header, sizes, id, quote. */
static size_t mk_resp(uint8_t *out, uint32_t type, uint32_t err, uint32_t id_size,
                      uint32_t quote_size, size_t body)
{
	size_t n = 24 + body;
	memset(out, 0xab, n);
	out[0] = 1;
	out[1] = 0;
	out[2] = 0;
	out[3] = 0;
	wr32le(out + 4, type);
	wr32le(out + 8, (uint32_t)n);
	wr32le(out + 12, err);
	wr32le(out + 16, id_size);
	wr32le(out + 20, quote_size);
	return n;
}

static void responses_are_parsed_strictly(void **state)
{
	static uint8_t m[24 + 4096];
	const uint8_t *q;
	size_t n, qlen;
	(void)state;

	/* a selected id (a UUID) and a quote */
	n = mk_resp(m, 1, 0, 16, 100, 116);
	assert_int_equal(tdx_qgs_response_parse(m, n, &q, &qlen), 0);
	assert_ptr_equal(q, m + 24 + 16);
	assert_int_equal(qlen, 100);

	/* the QGS's error in words */
	n = mk_resp(m, 1, TDX_QGS_ERR_UNEXPECTED, 0, 0, 0);
	assert_int_equal(tdx_qgs_response_parse(m, n, &q, &qlen), ERR_IO);
	assert_non_null(strstr(err_msg(), "QGS error 0x12001: unexpected error"));
	n = mk_resp(m, 1, TDX_QGS_ERR_INVALID_SIZE, 0, 0, 0);
	assert_int_equal(tdx_qgs_response_parse(m, n, &q, &qlen), ERR_IO);
	assert_non_null(strstr(err_msg(), "invalid message size"));
	n = mk_resp(m, 1, 0x99, 0, 0, 0);
	assert_int_equal(tdx_qgs_response_parse(m, n, &q, &qlen), ERR_IO);
	assert_non_null(strstr(err_msg(), "0x99: unknown error code"));

	/* sizes that do not add up to what was read */
	n = mk_resp(m, 1, 0, 0, 101, 100);
	assert_int_equal(tdx_qgs_response_parse(m, n, &q, &qlen), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "quote_size 101, but 100 bytes follow"));
	n = mk_resp(m, 1, 0, 0, 99, 100);
	assert_int_equal(tdx_qgs_response_parse(m, n, &q, &qlen), ERR_INVAL);
	/* sizes whose sum overflows 32 bits: caught by the caps */
	n = mk_resp(m, 1, 0, 0xffffffffu, 101, 100);
	assert_int_equal(tdx_qgs_response_parse(m, n, &q, &qlen), ERR_TOOBIG);
	n = mk_resp(m, 1, 0, 0, 0xfffffff0u, 100);
	assert_int_equal(tdx_qgs_response_parse(m, n, &q, &qlen), ERR_TOOBIG);
	/* the header's size against the bytes read */
	n = mk_resp(m, 1, 0, 0, 100, 100);
	assert_int_equal(tdx_qgs_response_parse(m, n - 1, &q, &qlen), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "header says 124 bytes, message has 123"));
	/* no quote, a wrong type, a wrong version, truncated */
	n = mk_resp(m, 1, 0, 0, 0, 0);
	assert_int_equal(tdx_qgs_response_parse(m, n, &q, &qlen), ERR_INVAL);
	n = mk_resp(m, 0, 0, 0, 100, 100);
	assert_int_equal(tdx_qgs_response_parse(m, n, &q, &qlen), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "message type 0, not GET_QUOTE_RESP"));
	n = mk_resp(m, 1, 0, 0, 100, 100);
	m[0] = 2;
	assert_int_equal(tdx_qgs_response_parse(m, n, &q, &qlen), ERR_UNSUPPORTED);
	assert_true(tdx_qgs_response_parse(m, 10, &q, &qlen) < 0);
}

static void addresses(void **state)
{
	static const char *const bad[] = {"vsock:",
	                                  "vsock:2",
	                                  "vsock:x:1",
	                                  "vsock:2:",
	                                  "vsock:2:-1",
	                                  "vsock:4294967295:1",
	                                  "vsock:2:99999999999",
	                                  "tcp:1:2",
	                                  "unix:",
	                                  "2:4050"};
	struct tdx_qgs_addr a;
	char s[160];
	(void)state;
	assert_int_equal(tdx_qgs_addr_parse(NULL, &a), 0);
	tdx_qgs_addr_str(&a, s, sizeof(s));
	assert_string_equal(s, "vsock:2:4050");
	assert_int_equal(tdx_qgs_addr_parse("vsock", &a), 0);
	assert_true(a.vsock && a.cid == 2 && a.port == 4050);
	assert_int_equal(tdx_qgs_addr_parse("vsock:3:5000", &a), 0);
	assert_true(a.vsock && a.cid == 3 && a.port == 5000);
	assert_int_equal(tdx_qgs_addr_parse("unix:/run/qgs.sock", &a), 0);
	tdx_qgs_addr_str(&a, s, sizeof(s));
	assert_string_equal(s, "unix:/run/qgs.sock");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(tdx_qgs_addr_parse(bad[i], &a), ERR_INVAL);
		assert_non_null(strstr(err_msg(), "QGS address"));
	}
	memset(s, 'a', sizeof(s));
	memcpy(s, "unix:", 5);
	s[sizeof(s) - 1] = '\0';
	assert_int_equal(tdx_qgs_addr_parse(s, &a), ERR_INVAL);
}

/* ---------- the simulated TDREPORT and QE ---------- */

static void sim_report_layout_and_quote(void **state)
{
	uint8_t rd[64], report[TDX_SIM_REPORT_SIZE], *qb, *direct;
	struct tdx_quote *q, *qd;
	struct tdx_sim *o;
	size_t qlen, dlen;
	(void)state;
	for (int i = 0; i < 64; i++)
		rd[i] = (uint8_t)(0xc0 + i);
	assert_int_equal(tdx_sim_report(sim, rd, report), 0);
	assert_int_equal(report[0], 0x81);         /* REPORTTYPE.TYPE: TDX */
	assert_memory_equal(report + 128, rd, 64); /* REPORTMACSTRUCT.REPORTDATA */
	assert_int_equal(tdx_sim_quote_report(sim, report, &qb, &qlen), 0);
	assert_int_equal(tdx_quote_parse(qb, qlen, &q), 0);
	assert_int_equal(tdx_sim_quote(sim, rd, &direct, &dlen), 0);
	assert_int_equal(tdx_quote_parse(direct, dlen, &qd), 0);
	/* the same TD body as a direct quote: every field went through the report */
	assert_memory_equal(&q->body, &qd->body, sizeof(q->body));
	assert_memory_equal(q->body.mrtd, report + 512 + 16, 48); /* TDINFO.MRTD */
	assert_memory_equal(q->body.rtmr[3], report + 512 + 208 + 144, 48);
	{
		EVP_PKEY *pub;
		uint8_t *sb;
		size_t sl;
		assert_int_equal(p256_pub_from_xy(q->att_key, &pub), 0);
		assert_int_equal(tdx_quote_signed_bytes(q, &sb, &sl), 0);
		assert_int_equal(p256_verify(pub, sb, sl, q->signature, "quote"), 0);
		free(sb);
		EVP_PKEY_free(pub);
	}
	tdx_quote_free(q);
	tdx_quote_free(qd);
	free(qb);
	free(direct);

	/* an RTMR changed after the report was made: the TDINFO hash says so */
	report[512 + 208] ^= 1;
	assert_int_equal(tdx_sim_quote_report(sim, report, &qb, &qlen), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "TEE_INFO_HASH"));
	report[512 + 208] ^= 1;
	/* REPORTDATA changed: the MAC says so */
	report[128] ^= 1;
	assert_int_equal(tdx_sim_quote_report(sim, report, &qb, &qlen), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "MAC"));
	report[128] ^= 1;
	/* another simulated TD's QE does not take this TD's report */
	assert_int_equal(tdx_sim_load(other, NULL, &o), 0);
	assert_int_equal(tdx_sim_quote_report(o, report, &qb, &qlen), ERR_VERIFY);
	tdx_sim_free(o);
	report[0] = 0;
	assert_int_equal(tdx_sim_quote_report(sim, report, &qb, &qlen), ERR_UNSUPPORTED);
}

/* ---------- against the fake QGS ---------- */

struct server {
	struct fake_qgs f;
	pthread_t th;
};

static void *run(void *p)
{
	fake_qgs_run(&((struct server *)p)->f);
	return NULL;
}

static void start(struct server *s, enum fake_qgs_mode mode, uint32_t code)
{
	memset(s, 0, sizeof(*s));
	s->f.sim = sim;
	s->f.mode = mode;
	s->f.error_code = code;
	assert_int_equal(fake_qgs_listen(&s->f, sock), 0);
	assert_int_equal(pthread_create(&s->th, NULL, run, s), 0);
}

static void stop(struct server *s)
{
	__atomic_store_n(&s->f.stop, 1, __ATOMIC_RELAXED);
	pthread_join(s->th, NULL);
	close(s->f.fd);
	unlink(sock);
}

static struct tdx_qgs_opts unix_opts(int timeout_ms)
{
	struct tdx_qgs_opts o;
	char a[300];
	memset(&o, 0, sizeof(o));
	snprintf(a, sizeof(a), "unix:%s", sock);
	assert_int_equal(tdx_qgs_addr_parse(a, &o.addr), 0);
	o.timeout_ms = timeout_ms;
	return o;
}

static int quote_from(const struct tdx_qgs_opts *o, uint8_t **q, size_t *len)
{
	uint8_t rd[64] = {0x51}, report[TDX_REPORT_SIZE];
	assert_int_equal(tdx_sim_report(sim, rd, report), 0);
	return tdx_qgs_quote(o, report, q, len);
}

static void quote_through_the_fake_qgs(void **state)
{
	struct tdx_qgs_opts o = unix_opts(0);
	struct tdx_quote *q;
	struct server s;
	uint8_t *qb;
	size_t len;
	(void)state;
	start(&s, FQ_OK, 0);
	for (int i = 0; i < 3; i++) { /* one connection per quote */
		assert_int_equal(quote_from(&o, &qb, &len), 0);
		assert_int_equal(tdx_quote_parse(qb, len, &q), 0);
		assert_int_equal(q->body.report_data[0], 0x51);
		tdx_quote_free(q);
		free(qb);
	}
	assert_int_equal(tdx_qgs_probe(&o), 0);
	stop(&s);
	assert_int_equal(__atomic_load_n(&s.f.served, __ATOMIC_RELAXED), 3);
}

static void misbehaving_qgs(void **state)
{
	static const struct {
		enum fake_qgs_mode mode;
		uint32_t code;
		int rc;
		const char *msg;
	} cases[] = {
	    {FQ_ERROR, TDX_QGS_ERR_UNEXPECTED, ERR_IO, "QGS error 0x12001: unexpected error"},
	    {FQ_ERROR, TDX_QGS_ERR_OUT_OF_MEMORY, ERR_IO, "QGS error 0x12002: out of memory"},
	    {FQ_TRUNCATE, 0, ERR_IO, "connection closed after"},
	    {FQ_OVERSIZE, 0, ERR_TOOBIG, "response of 2147483648 bytes announced"},
	    {FQ_BAD_SIZES, 0, ERR_INVAL, "bytes follow"},
	    {FQ_WRONG_TYPE, 0, ERR_INVAL, "not GET_QUOTE_RESP"},
	    {FQ_WRONG_VERSION, 0, ERR_UNSUPPORTED, "version 2.0"},
	};
	struct tdx_qgs_opts o = unix_opts(0);
	uint8_t *qb = NULL;
	size_t len;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct server s;
		start(&s, cases[i].mode, cases[i].code);
		assert_int_equal(quote_from(&o, &qb, &len), cases[i].rc);
		if (!strstr(err_msg(), cases[i].msg) || !strstr(err_msg(), sock))
			fail_msg("case %zu: '%s' lacks '%s' or the address", i, err_msg(),
			         cases[i].msg);
		stop(&s);
	}
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void a_silent_qgs_times_out(void **state)
{
	struct tdx_qgs_opts o = unix_opts(400);
	struct timespec t0;
	struct server s;
	uint8_t *qb = NULL;
	size_t len;
	long ms;
	(void)state;
	start(&s, FQ_SILENT, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(quote_from(&o, &qb, &len), ERR_IO);
	ms = ms_since(&t0);
	assert_non_null(strstr(err_msg(), "no answer"));
	/* the deadline, not much before and not much after (a loaded machine) */
	assert_true(ms >= 390);
	assert_true(ms < 5000);
	stop(&s);
}

static void nothing_listening(void **state)
{
	struct tdx_qgs_opts o = unix_opts(0);
	uint8_t *qb;
	size_t len;
	(void)state;
	unlink(sock);
	assert_int_equal(quote_from(&o, &qb, &len), ERR_NOTFOUND);
	assert_non_null(strstr(err_msg(), "no QGS at unix:"));
	assert_int_equal(tdx_qgs_probe(&o), ERR_NOTFOUND);
}

static void no_tdx_guest_device(void **state)
{
	uint8_t rd[64] = {0}, report[TDX_REPORT_SIZE];
	char path[300];
	(void)state;
	snprintf(path, sizeof(path), "%s/no-such-device", dir);
	assert_int_equal(tdx_report_get0(path, rd, report), ERR_NOTFOUND);
	assert_non_null(strstr(err_msg(), "no TDX guest device"));
	/* a device that knows no TDX ioctl */
	assert_int_equal(tdx_report_get0("/dev/null", rd, report), ERR_UNSUPPORTED);
	assert_non_null(strstr(err_msg(), "not a TDX guest device"));
}

/* ---------- the provider ---------- */

static int fake_report_calls;

static int fake_report(void *ctx, const uint8_t rd[64], uint8_t report[TDX_REPORT_SIZE])
{
	fake_report_calls++;
	return tdx_sim_report(ctx, rd, report);
}

static void providers_qgs_and_auto(void **state)
{
	struct tdx_report_ops ops = {fake_report, NULL};
	struct tdx_provider p;
	enum tdx_provider_kind k;
	uint8_t rd[64] = {7}, *qb;
	struct tdx_quote *q;
	struct server s;
	char a[300];
	size_t len;
	(void)state;
	ops.ctx = sim;
	assert_int_equal(tdx_provider_parse("qgs", &k), 0);
	assert_int_equal(k, TDX_PROVIDER_QGS);
	assert_int_equal(tdx_provider_parse("auto", &k), 0);
	assert_int_equal(tdx_provider_parse("sgx", &k), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "tsm, sim, qgs, auto"));
	snprintf(a, sizeof(a), "unix:%s", sock);

	/* qgs: the TDREPORT from the ops, the quote from the QGS */
	memset(&p, 0, sizeof(p));
	p.kind = TDX_PROVIDER_QGS;
	p.qgs = a;
	p.report_ops = &ops;
	assert_false(tdx_provider_simulated(&p));
	start(&s, FQ_OK, 0);
	assert_int_equal(tdx_provider_quote(&p, rd, &qb, &len), 0);
	assert_int_equal(fake_report_calls, 1);
	assert_int_equal(__atomic_load_n(&s.f.served, __ATOMIC_RELAXED), 1);
	free(qb);
	/* qgs with --sim-dir: the simulated TD's report, labelled simulated */
	p.report_ops = NULL;
	p.sim_dir = dir;
	assert_true(tdx_provider_simulated(&p));
	assert_int_equal(tdx_provider_quote(&p, rd, &qb, &len), 0);
	assert_int_equal(__atomic_load_n(&s.f.served, __ATOMIC_RELAXED), 2);
	assert_int_equal(tdx_quote_parse(qb, len, &q), 0);
	assert_int_equal(q->body.report_data[0], 7);
	tdx_quote_free(q);
	free(qb);
	/* auto: the QGS while it answers ... */
	p.kind = TDX_PROVIDER_AUTO;
	assert_int_equal(tdx_provider_quote(&p, rd, &qb, &len), 0);
	assert_int_equal(__atomic_load_n(&s.f.served, __ATOMIC_RELAXED), 3);
	free(qb);
	stop(&s);
	/* ... the TD's other path (here: the simulated TD) once it is gone */
	assert_int_equal(tdx_provider_quote(&p, rd, &qb, &len), 0);
	assert_int_equal(__atomic_load_n(&s.f.served, __ATOMIC_RELAXED), 3);
	free(qb);
	/* qgs without a QGS fails, naming the address */
	p.kind = TDX_PROVIDER_QGS;
	assert_int_equal(tdx_provider_quote(&p, rd, &qb, &len), ERR_NOTFOUND);
	assert_non_null(strstr(err_msg(), sock));
	/* configuration checks */
	p.qgs = "tcp:1";
	assert_int_equal(tdx_provider_check(&p), ERR_INVAL);
	p.kind = TDX_PROVIDER_SIM;
	p.sim_dir = NULL;
	assert_int_equal(tdx_provider_check(&p), ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(request_bytes_are_intels_framing),
	    cmocka_unit_test(bad_requests_get_the_qgs_error_codes),
	    cmocka_unit_test(responses_are_parsed_strictly),
	    cmocka_unit_test(addresses),
	    cmocka_unit_test(sim_report_layout_and_quote),
	    cmocka_unit_test(quote_through_the_fake_qgs),
	    cmocka_unit_test(misbehaving_qgs),
	    cmocka_unit_test(a_silent_qgs_times_out),
	    cmocka_unit_test(nothing_listening),
	    cmocka_unit_test(no_tdx_guest_device),
	    cmocka_unit_test(providers_qgs_and_auto),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
