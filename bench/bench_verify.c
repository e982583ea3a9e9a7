/* bench_verify — DCAP verification of a real TDX quote on one core.
 *
 *   cached  one verifier, warm caches (the steady state of a service)
 *   cold    caches off: every call verifies the PCK chain, both CRLs, the
 *           collateral chains and signatures, and parses the TCB info and
 *           QE identity
 *   floor   OpenSSL P-256 verifications per second / 2 (a verification
 *           needs at least the QE report and quote signatures)
 *
 * Usage: bench_verify QUOTE COLLATERAL UNIX_TIME [SECONDS] [PEER=RATE ...]
 * Peers measured in the same run (bench/peers.js) are given as js=46.5 etc.
 */
#include "crypto/p256.h"
#include "tdx/verify.h"
#include "benchutil.h"
#include "util/err.h"
#include "util/file.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ctx {
	struct tdx_verifier *v;
	struct tdx_collateral *c;
	uint8_t *q;
	size_t len;
	time_t at;
	struct p256_pub *pub;
	EVP_PKEY *pkey;
	uint8_t sig[64];
	uint8_t msg[632];
};

static int op_verify(void *p)
{
	struct ctx *c = p;
	struct tdx_verdict d;
	return tdx_verify(c->v, c->q, c->len, c->c, c->at, &d);
}

static int op_p256(void *p)
{
	struct ctx *c = p;
	return p256_pub_verify(c->pub, c->msg, sizeof(c->msg), c->sig, "bench");
}

static int op_p256_evp(void *p)
{
	struct ctx *c = p;
	return p256_verify(c->pkey, c->msg, sizeof(c->msg), c->sig, "bench");
}

int main(int argc, char **argv)
{
	struct ctx c;
	double secs, cached, cold, raw, evp, floor_;
	uint8_t xy[64];
	double best_peer = 0;
	const char *best_name = NULL;

	if (argc < 4) {
		fprintf(
		    stderr,
		    "usage: bench_verify QUOTE COLLATERAL UNIX_TIME [SECONDS] [PEER=RATE ...]\n");
		return 2;
	}
	memset(&c, 0, sizeof(c));
	secs = argc > 4 ? atof(argv[4]) : 2.0;
	c.at = (time_t)atoll(argv[3]);
	if (file_read(argv[1], 1 << 20, &c.q, &c.len) < 0 ||
	    tdx_collateral_load(argv[2], &c.c) < 0 || tdx_verifier_new(&c.v) < 0 ||
	    p256_keygen(&c.pkey) < 0 || p256_sign(c.pkey, c.msg, sizeof(c.msg), c.sig) < 0 ||
	    p256_pub_xy(c.pkey, xy) < 0 || p256_pub_new_xy(xy, &c.pub) < 0) {
		fprintf(stderr, "bench: %s\n", err_msg());
		return 1;
	}
	if (op_verify(&c) < 0) {
		fprintf(stderr, "bench: the quote does not verify: %s\n", err_msg());
		return 1;
	}
	cached = bench_rate(secs, op_verify, &c);
	tdx_verifier_set_cache(c.v, 0);
	cold = bench_rate(secs, op_verify, &c);
	raw = bench_rate(secs, op_p256, &c);
	evp = bench_rate(secs, op_p256_evp, &c);
	/* The floor uses OpenSSL's fastest P-256 verification measured here. */
	floor_ = (raw > evp ? raw : evp) / 2;

	printf("bench quote_verify (one core, %.1f s per case, %s)\n", secs,
	       OpenSSL_version(OPENSSL_VERSION));
	printf("  %-40s %10.0f /s  (%.0f us)\n", "tdexec verify, cached collateral", cached,
	       1e6 / cached);
	printf("  %-40s %10.0f /s  (%.0f us)\n", "tdexec verify, cold (no cache)", cold,
	       1e6 / cold);
	printf("  %-40s %10.0f /s\n", "OpenSSL P-256 verify (ECDSA_do_verify)", raw);
	printf("  %-40s %10.0f /s\n", "OpenSSL P-256 verify (EVP_DigestVerify)", evp);
	printf("  %-40s %10.0f /s\n", "floor = best P-256 verify / 2", floor_);
	for (int i = 5; i < argc; i++) {
		char name[32];
		double r;
		if (sscanf(argv[i], "%31[^=]=%lf", name, &r) != 2 || r <= 0)
			continue;
		printf("  %-40s %10.1f /s\n", name, r);
		if (r > best_peer) {
			best_peer = r;
			best_name = argv[i];
		}
	}
	printf("ratios\n");
	printf("  cached / floor                 %8.2f   (target >= 0.70)\n", cached / floor_);
	if (best_name) {
		printf("  cached / fastest peer          %8.1f x\n", cached / best_peer);
		printf("  cold / fastest peer            %8.1f x  (target >= 8; peer %s)\n",
		       cold / best_peer, best_name);
	}
	tdx_verifier_free(c.v);
	tdx_collateral_free(c.c);
	p256_pub_free(c.pub);
	EVP_PKEY_free(c.pkey);
	free(c.q);
	return 0;
}
