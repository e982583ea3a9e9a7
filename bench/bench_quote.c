/* bench_quote — quote parsing and simulated quote generation, each measured
 * beside the OpenSSL operation that bounds it, in the same run on one core.
 *
 *   parse           tdx_quote_parse of a real 5,006-byte quote
 *   parse+pck       the same plus PEM chain and SGX extension decoding
 *   sim quote       a signed simulated quote (one P-256 signature: the QE
 *                   report is signed once per attestation key, as a QE does)
 *   floor (sign)    OpenSSL P-256 ECDSA signatures per second
 *   P-256 verify    OpenSSL verifications per second (the cost unit of DCAP
 *                   verification)
 *
 * the admission of a quote, as the SMS pays it per release:
 *
 *   gate, N TDs     tdx_gate_check (parse, platform, DCAP verification with
 *                   warm caches, policy) of quotes from N simulated TDs of
 *                   one platform in turn, each with its own QE report (as
 *                   each signs one at load), for N = 1, 2, 8: the floor is
 *                   one P-256 verification, the quote's
 *
 * and quote generation per provider, as a worker pays it:
 *
 *   sim             --provider sim: the simulated TD loaded, a quote made
 *   qgs exchange    a TDREPORT of the loaded simulated TD and its quote from
 *                   the fake QGS: the transport and the QE's work
 *   qgs (fake)      --provider qgs --sim-dir: the simulated TD's TDREPORT,
 *                   the quote from the suite's fake QGS on a unix socket (a
 *                   thread of this process: its report check and signature
 *                   are in the figure, on the other core)
 *
 * Real TDX for comparison (not measured here): configfs-tsm ~1 s a quote,
 * the host's QGS over vsock a few ms (docs/providers.md).
 *
 * Usage: bench_quote TEST_DATA_TDX_DIR [SECONDS_PER_CASE]
 */
#include "crypto/p256.h"
#include "fake_qgs.h"
#include "tdx/gate.h"
#include "tdx/pck.h"
#include "tdx/provider.h"
#include "tdx/qgs.h"
#include "tdx/quote.h"
#include "tdx/sim.h"
#include "benchutil.h"
#include "util/err.h"
#include "util/file.h"

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct input {
	uint8_t *buf;
	size_t len;
};

static int op_parse(void *p)
{
	struct input *in = p;
	struct tdx_quote *q;
	GUARD(tdx_quote_parse(in->buf, in->len, &q));
	tdx_quote_free(q);
	return 0;
}

static int op_parse_pck(void *p)
{
	struct input *in = p;
	STACK_OF(X509) * chain;
	struct tdx_pck_ext e;
	struct tdx_quote *q;
	int rc;
	GUARD(tdx_quote_parse(in->buf, in->len, &q));
	rc = tdx_pck_chain_parse(q->pck_chain, q->pck_chain_len, &chain);
	if (rc == 0) {
		rc = tdx_pck_ext_from_cert(sk_X509_value(chain, 0), &e);
		sk_X509_pop_free(chain, X509_free);
	}
	tdx_quote_free(q);
	return rc;
}

static int op_sim_quote(void *p)
{
	uint8_t rd[64] = {1}, *q;
	size_t len;
	GUARD(tdx_sim_quote(p, rd, &q, &len));
	free(q);
	return 0;
}

static int op_provider(void *p)
{
	uint8_t rd[64] = {2}, *q;
	size_t len;
	GUARD(tdx_provider_quote(p, rd, &q, &len));
	free(q);
	return 0;
}

struct qgs_arg {
	struct tdx_sim *sim;
	struct tdx_qgs_opts o;
};

/* The exchange alone: a TDREPORT of the loaded TD, the quote from the QGS. */
static int op_qgs(void *p)
{
	struct qgs_arg *a = p;
	uint8_t rd[64] = {3}, report[TDX_REPORT_SIZE], *q;
	size_t len;
	GUARD(tdx_sim_report(a->sim, rd, report));
	GUARD(tdx_qgs_quote(&a->o, report, &q, &len));
	free(q);
	return 0;
}

static void *qgs_thread(void *p)
{
	fake_qgs_run(p);
	return NULL;
}

#define GATE_TDS 8

struct gate_arg {
	struct tdx_gate g;
	uint8_t *q[GATE_TDS];
	size_t len[GATE_TDS];
	int n, next;
};

/* One quote of the next TD in turn. */
static int op_gate(void *p)
{
	struct gate_arg *a = p;
	struct tdx_quote *q;
	struct tdx_verdict v;
	int i = a->next;
	a->next = (a->next + 1) % a->n;
	GUARD(tdx_gate_check(&a->g, a->q[i], a->len[i], &q, &v));
	tdx_quote_free(q);
	return 0;
}

/* µs of this thread's CPU per call of fn over about `secs` seconds: a
 * figure that a machine shared with other work does not inflate. */
static double cpu_us(double secs, int (*fn)(void *), void *arg)
{
	struct timespec a, b;
	double t0 = bench_now();
	long n = 0;

	for (int i = 0; i < 3; i++)
		bench_must(fn(arg));
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	while (bench_now() - t0 < secs || n < 50) {
		bench_must(fn(arg));
		n++;
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	return ((double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3) /
	       (double)n;
}

struct keyarg {
	EVP_PKEY *key;
	struct p256_pub *pub;
	uint8_t sig[64];
};

static int op_sign(void *p)
{
	struct keyarg *k = p;
	static const uint8_t msg[632];
	return p256_sign(k->key, msg, sizeof(msg), k->sig);
}

static int op_verify(void *p)
{
	struct keyarg *k = p;
	static const uint8_t msg[632];
	return p256_verify(k->key, msg, sizeof(msg), k->sig, "bench");
}

static int op_pub_verify(void *p)
{
	struct keyarg *k = p;
	static const uint8_t msg[632];
	return p256_pub_verify(k->pub, msg, sizeof(msg), k->sig, "bench");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

int main(int argc, char **argv)
{
	char path[4096], tmpl[] = "/tmp/tdexec-bench-XXXXXX", *dir, sock[4200], qgs[4300];
	char root[4200], coll[4200];
	double secs = argc > 2 ? atof(argv[2]) : 1.0;
	struct tdx_sim_opts o = {0, 0, 0};
	struct keyarg k;
	struct tdx_sim *sim;
	struct input in;
	double parse, parse_pck, simq, sign, verify, prov_sim, prov_qgs, qgsq, gate[3], pub_us;
	static const int gate_n[3] = {1, 2, GATE_TDS};
	struct gate_arg ga;
	struct qgs_arg qa;
	struct tdx_provider prov;
	struct fake_qgs f;
	pthread_t th;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_quote TEST_DATA_TDX_DIR [SECONDS]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/phala-dcap-qvl/tdx_quote", argv[1]);
	if (file_read(path, 1 << 20, &in.buf, &in.len) < 0) {
		fprintf(stderr, "bench: %s\n", err_msg());
		return 1;
	}
	dir = mkdtemp(tmpl);
	if (!dir || tdx_sim_init(dir, &o) < 0 || tdx_sim_load(dir, NULL, &sim) < 0 ||
	    p256_keygen(&k.key) < 0) {
		fprintf(stderr, "bench: %s\n", err_msg());
		return 1;
	}
	op_sign(&k);
	{
		uint8_t xy[64];
		bench_must(p256_pub_xy(k.key, xy));
		bench_must(p256_pub_new_xy(xy, &k.pub));
	}
	memset(&f, 0, sizeof(f));
	f.sim = sim;
	snprintf(sock, sizeof(sock), "%s/qgs.sock", dir);
	snprintf(qgs, sizeof(qgs), "unix:%s", sock);
	bench_must(fake_qgs_listen(&f, sock));
	if (pthread_create(&th, NULL, qgs_thread, &f) != 0) {
		fprintf(stderr, "bench: cannot start the fake QGS\n");
		return 1;
	}
	memset(&qa, 0, sizeof(qa));
	qa.sim = sim;
	bench_must(tdx_qgs_addr_parse(qgs, &qa.o.addr));
	memset(&prov, 0, sizeof(prov));
	prov.sim_dir = dir;
	prov.qgs = qgs;

	memset(&ga, 0, sizeof(ga));
	snprintf(root, sizeof(root), "%s/root_ca.pem", dir);
	snprintf(coll, sizeof(coll), "%s/collateral", dir);
	bench_must(tdx_gate_open(&ga.g, coll, root, NULL, "bench"));
	for (int i = 0; i < GATE_TDS; i++) {
		struct tdx_sim *td;
		uint8_t rd[64] = {4};
		bench_must(tdx_sim_load(dir, NULL, &td));
		bench_must(tdx_sim_quote(td, rd, &ga.q[i], &ga.len[i]));
		tdx_sim_free(td);
	}
	for (int i = 0; i < 3; i++) {
		ga.n = gate_n[i];
		gate[i] = cpu_us(secs, op_gate, &ga);
	}
	pub_us = cpu_us(secs, op_pub_verify, &k);
	tdx_gate_close(&ga.g);
	for (int i = 0; i < GATE_TDS; i++)
		free(ga.q[i]);

	parse = bench_rate(secs, op_parse, &in);
	parse_pck = bench_rate(secs, op_parse_pck, &in);
	simq = bench_rate(secs, op_sim_quote, sim);
	sign = bench_rate(secs, op_sign, &k);
	verify = bench_rate(secs, op_verify, &k);
	qgsq = bench_rate(secs, op_qgs, &qa);
	prov.kind = TDX_PROVIDER_SIM;
	prov_sim = bench_rate(secs, op_provider, &prov);
	prov.kind = TDX_PROVIDER_QGS;
	prov_qgs = bench_rate(secs, op_provider, &prov);
	__atomic_store_n(&f.stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);

	printf("bench quote (one core, %.1f s per case, %s)\n", secs,
	       OpenSSL_version(OPENSSL_VERSION));
	printf("  %-32s %12.0f /s   (%.2f us each)\n", "quote parse (5,006 B)", parse, 1e6 / parse);
	printf("  %-32s %12.0f /s   (%.2f us each)\n", "quote parse + PCK chain/ext", parse_pck,
	       1e6 / parse_pck);
	printf("  %-32s %12.0f /s\n", "sim quote (1 P-256 signature)", simq);
	printf("  %-32s %12.0f /s   (peer: OpenSSL P-256 sign)\n", "floor for sim quote", sign);
	printf("  %-32s %12.0f /s   (%.3f ms each)\n", "qgs exchange (fake QGS, unix)", qgsq,
	       1e3 / qgsq);
	printf("  %-32s %12.0f /s\n", "OpenSSL P-256 verify", verify);
	printf("quote admission (tdx_gate_check, warm caches), simulated TDs of one platform in "
	       "turn; CPU time\n");
	for (int i = 0; i < 3; i++) {
		char name[40];
		snprintf(name, sizeof(name), "gate, %d TD%s", gate_n[i], gate_n[i] > 1 ? "s" : "");
		printf("  %-32s %12.1f us   (%.2f P-256 verifications)\n", name, gate[i],
		       gate[i] / pub_us);
	}
	printf("  %-32s %12.1f us\n", "P-256 verify (p256_pub_verify)", pub_us);
	printf("quote generation per provider, the simulated TD loaded for each quote as the\n"
	       "provider does (what a worker pays per quote)\n");
	printf("  %-32s %12.0f /s   (%.3f ms each)\n", "--provider sim", prov_sim, 1e3 / prov_sim);
	printf("  %-32s %12.0f /s   (%.3f ms each)\n", "--provider qgs (fake QGS, unix)", prov_qgs,
	       1e3 / prov_qgs);
	printf("  %-32s %12s      (~1,000 ms each: the kernel polls the host)\n",
	       "--provider tsm on real TDX", "~1");
	printf("ratios\n");
	printf("  sim quote / floor                %12.2f\n", simq / sign);
	printf("  parse / P-256 verify             %12.1f   (parsing is %.1f%% of one verify)\n",
	       parse / verify, 100.0 * verify / parse);
	printf("  parse+pck / P-256 verify         %12.2f\n", parse_pck / verify);
	printf("  qgs exchange / sim quote         %12.2f   (the report, its check, the socket)\n",
	       qgsq / simq);
	printf("  --provider qgs / --provider sim  %12.2f\n", prov_qgs / prov_sim);

	close(f.fd);
	tdx_sim_free(sim);
	EVP_PKEY_free(k.key);
	p256_pub_free(k.pub);
	free(in.buf);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}
