/* DCAP verification: every real quote gets the verdict its provenance
 * gives (tests/data/tdx/verify.tsv), and every kind of tampering is refused
 * with the right reason (using the simulated TD, whose keys the test holds,
 * to craft valid-but-wrong inputs). */
#include "testutil.h"

#include "crypto/p256.h"
#include "tdx/collateral.h"
#include "tdx/intel_root.h"
#include "tdx/pcs.h"
#include "tdx/policy.h"
#include "tdx/quote.h"
#include "tdx/sim.h"
#include "tdx/tcbinfo.h"
#include "tdx/verify.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1751000000

static char *simdir;

static int setup(void **state)
{
	struct tdx_sim_opts o = {T0, 30, 0};
	(void)state;
	simdir = td_tmpdir();
	if (tdx_sim_init(simdir, &o) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	td_rmtree(simdir);
	free(simdir);
	return 0;
}

static struct tdx_collateral *load_coll(const char *path)
{
	struct tdx_collateral *c;
	if (tdx_collateral_load(path, &c) < 0)
		fail_msg("%s", err_msg());
	return c;
}

static void intel_root_is_the_published_one(void **state)
{
	uint8_t h[32];
	char hex[65];
	X509 *x;
	const unsigned char *p = tdx_intel_root_ca_der;
	unsigned char *spki = NULL;
	int n;
	(void)state;
	SHA256(tdx_intel_root_ca_der, tdx_intel_root_ca_der_len, h);
	hex_encode(hex, h, 32);
	assert_string_equal(hex,
	                    "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
	x = d2i_X509(NULL, &p, (long)tdx_intel_root_ca_der_len);
	assert_non_null(x);
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
	SHA256(spki, (size_t)n, h);
	hex_encode(hex, h, 32);
	assert_string_equal(hex,
	                    "a0af031289f5d5d4132f9186068a7fc13628633ba235777472e29b6b6c67a49e");
	OPENSSL_free(spki);
	X509_free(x);
}

static void real_quotes_get_their_documented_verdicts(void **state)
{
	char line[1024], q[256], c[256], want[256], path[600];
	struct tdx_verifier *v;
	FILE *f;
	int n = 0;
	(void)state;

	snprintf(path, sizeof(path), "%s/tdx/verify.tsv", TEST_DATA);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(tdx_verifier_new(&v), 0);
	while (fgets(line, sizeof(line), f)) {
		struct tdx_collateral *coll;
		struct tdx_verdict d;
		uint8_t *buf;
		size_t len;
		long long at;
		int rc;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		assert_int_equal(sscanf(line, "%255s %255s %lld %255[^\n]", q, c, &at, want), 4);
		snprintf(path, sizeof(path), "tdx/%s", q);
		buf = td_read(path, &len);
		snprintf(path, sizeof(path), "%s/tdx/%s", TEST_DATA, c);
		coll = load_coll(path);
		/* Twice: the second call runs from the caches. */
		for (int pass = 0; pass < 2; pass++) {
			rc = tdx_verify(v, buf, len, coll, (time_t)at, &d);
			if (strncmp(want, "ok:", 3) == 0) {
				if (rc != 0)
					fail_msg("%s @%lld: %s", q, at, d.reason);
				assert_string_equal(tdx_tcb_status_name(d.status), want + 3);
				assert_false(d.simulated);
			} else {
				assert_true(rc < 0);
				if (!strstr(d.reason, want + 5))
					fail_msg("%s @%lld: reason '%s' lacks '%s'", q, at,
					         d.reason, want + 5);
			}
		}
		tdx_collateral_free(coll);
		free(buf);
		n++;
	}
	fclose(f);
	tdx_verifier_free(v);
	assert_true(n >= 15);
}

/* ---- the simulated TD: quotes and collateral the test can re-sign ---- */

static void sim_quote(const char *measurements, uint8_t **q, size_t *len)
{
	struct tdx_sim *s;
	uint8_t rd[64] = {7};
	if (tdx_sim_load(simdir, measurements, &s) < 0)
		fail_msg("%s", err_msg());
	assert_int_equal(tdx_sim_quote(s, rd, q, len), 0);
	tdx_sim_free(s);
}

static struct tdx_verifier *sim_verifier(void)
{
	struct tdx_verifier *v;
	char p[512];
	uint8_t *root;
	size_t n;
	snprintf(p, sizeof(p), "%s/root_ca.pem", simdir);
	assert_int_equal(file_read(p, 1 << 16, &root, &n), 0);
	assert_int_equal(tdx_verifier_new_root(root, n, 1, &v), 0);
	free(root);
	return v;
}

static struct tdx_collateral *sim_coll(void)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/collateral", simdir);
	return load_coll(p);
}

/* Verify and expect failure with `want` in the reason (NULL: success). */
static void expect(struct tdx_verifier *v, const uint8_t *q, size_t len,
                   const struct tdx_collateral *c, time_t at, const char *want)
{
	struct tdx_verdict d;
	int rc = tdx_verify(v, q, len, c, at, &d);
	if (!want) {
		if (rc != 0)
			fail_msg("expected success, got: %s", d.reason);
		return;
	}
	if (rc == 0)
		fail_msg("expected failure '%s', got success", want);
	if (!strstr(d.reason, want))
		fail_msg("reason '%s' lacks '%s'", d.reason, want);
}

static void sim_quotes_verify_only_with_the_sim_root(void **state)
{
	struct tdx_verifier *intel, *sim = sim_verifier();
	struct tdx_collateral *c = sim_coll();
	struct tdx_verdict d;
	uint8_t *q;
	size_t len;
	(void)state;

	sim_quote(NULL, &q, &len);
	assert_int_equal(tdx_verify(sim, q, len, c, T0 + 60, &d), 0);
	assert_true(d.simulated);
	assert_int_equal(d.status, TDX_TCB_UP_TO_DATE);
	assert_true(d.has_module_identity);
	assert_memory_equal(d.pck.fmspc, "SIM\0\0\0", 6);
	assert_int_equal(tdx_verifier_new(&intel), 0);
	expect(intel, q, len, c, T0 + 60,
	       "root is not the trusted Intel SGX root CA (a simulated quote?");
	tdx_verifier_free(intel);
	tdx_collateral_free(c);
	tdx_verifier_free(sim);
	free(q);
}

static void tampered_quotes_are_refused_with_the_reason(void **state)
{
	struct tdx_verifier *v = sim_verifier();
	struct tdx_collateral *c = sim_coll();
	struct tdx_quote *pq;
	uint8_t *q;
	size_t len, sig, qe;
	(void)state;

	sim_quote(NULL, &q, &len);
	assert_int_equal(tdx_quote_parse(q, len, &pq), 0);
	sig = pq->signed_len + 4;
	qe = pq->qe_report_off;
	tdx_quote_free(pq);
	expect(v, q, len, c, T0 + 60, NULL);

	static const struct {
		const char *what;
		long off; /* < 0: relative to the signature data */
		const char *want;
	} cases[] = {
	    {"header user data", 40, "quote: signature does not verify"},
	    {"TEE_TCB_SVN", 48, "quote: signature does not verify"},
	    {"MRTD", 184, "quote: signature does not verify"},
	    {"RTMR3", 520, "quote: signature does not verify"},
	    {"REPORTDATA", 600, "quote: signature does not verify"},
	    {"QE vendor id", 12, "QE vendor id is not Intel's"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		q[cases[i].off] ^= 0x01;
		expect(v, q, len, c, T0 + 60, cases[i].want);
		q[cases[i].off] ^= 0x01;
	}
	/* Signature data: quote signature, attestation key, QE report, its
	 * signature, QE auth data. */
	q[sig + 10] ^= 0x01;
	expect(v, q, len, c, T0 + 60, "quote: signature does not verify");
	q[sig + 10] ^= 0x01;
	q[sig + 64 + 5] ^= 0x01;
	expect(v, q, len, c, T0 + 60, "QE report: REPORTDATA does not bind the attestation key");
	q[sig + 64 + 5] ^= 0x01;
	q[qe + 258] ^= 0x01; /* ISVSVN */
	expect(v, q, len, c, T0 + 60, "QE report: signature does not verify");
	q[qe + 258] ^= 0x01;
	q[qe + 384 + 3] ^= 0x01;
	expect(v, q, len, c, T0 + 60, "QE report: signature does not verify");
	q[qe + 384 + 3] ^= 0x01;
	q[qe + 384 + 64 + 2 + 1] ^= 0x01; /* QE auth data */
	expect(v, q, len, c, T0 + 60, "REPORTDATA does not bind the attestation key");
	q[qe + 384 + 64 + 2 + 1] ^= 0x01;
	expect(v, q, len, c, T0 + 60, NULL);
	/* Time outside the windows. */
	expect(v, q, len, c, T0 - 1, "is not valid yet");
	expect(v, q, len, c, T0 + 31 * 86400, "expired");
	tdx_collateral_free(c);
	tdx_verifier_free(v);
	free(q);
}

static void tampered_collateral_is_refused(void **state)
{
	struct tdx_verifier *v = sim_verifier();
	struct tdx_collateral *c = sim_coll();
	uint8_t *q;
	size_t len;
	(void)state;

	sim_quote(NULL, &q, &len);
	c->tcb_info.p[20] ^= 0x01;
	expect(v, q, len, c, T0 + 60, "TCB info: signature does not verify");
	c->tcb_info.p[20] ^= 0x01;
	c->qe_identity.p[30] ^= 0x01;
	expect(v, q, len, c, T0 + 60, "QE identity: signature does not verify");
	c->qe_identity.p[30] ^= 0x01;
	c->tcb_info_sig[7] ^= 0x01;
	expect(v, q, len, c, T0 + 60, "TCB info: signature does not verify");
	c->tcb_info_sig[7] ^= 0x01;
	c->pck_crl.p[c->pck_crl.len - 5] ^= 0x01;
	expect(v, q, len, c, T0 + 60, "PCK CRL");
	c->pck_crl.p[c->pck_crl.len - 5] ^= 0x01;
	c->root_ca_crl.p[c->root_ca_crl.len - 5] ^= 0x01;
	expect(v, q, len, c, T0 + 60, "root CA CRL");
	c->root_ca_crl.p[c->root_ca_crl.len - 5] ^= 0x01;
	expect(v, q, len, c, T0 + 60, NULL);
	tdx_collateral_free(c);
	tdx_verifier_free(v);
	free(q);
}

/* ---- the QE report cache ---- */

/* n simulated TDs of one platform: each signs its own QE report at load,
 * so their quotes carry n different QE report signatures. */
static void sim_quotes(int n, uint8_t **q, size_t *len)
{
	for (int i = 0; i < n; i++)
		sim_quote(NULL, &q[i], &len[i]);
}

static size_t sig_data_off(const uint8_t *q, size_t len)
{
	struct tdx_quote *pq;
	size_t off;
	assert_int_equal(tdx_quote_parse(q, len, &pq), 0);
	off = pq->signed_len + 4;
	tdx_quote_free(pq);
	return off;
}

static void qe_counts(struct tdx_verifier *v, uint64_t verified, uint64_t cached)
{
	struct tdx_verifier_stats st;
	tdx_verifier_stats(v, &st);
	if (st.qe_verified != verified || st.qe_cached != cached)
		fail_msg("QE reports verified %llu, found cached %llu; expected %llu and %llu",
		         (unsigned long long)st.qe_verified, (unsigned long long)st.qe_cached,
		         (unsigned long long)verified, (unsigned long long)cached);
}

static void each_tds_qe_report_is_verified_once(void **state)
{
	enum { N = 4, MANY = 17 }; /* MANY: one more than a chain keeps */
	struct tdx_verifier *v = sim_verifier();
	struct tdx_collateral *c = sim_coll();
	uint8_t *q[MANY];
	size_t len[MANY], off;
	(void)state;

	sim_quotes(MANY, q, len);
	off = sig_data_off(q[0], len[0]) + 128 + 384; /* the QE report signature */
	for (int i = 1; i < N; i++)
		assert_memory_not_equal(q[0] + off, q[i] + off, 64);
	/* alternating TDs: each QE report verified the first time only */
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < N; i++)
			expect(v, q[i], len[i], c, T0 + 60, NULL);
	qe_counts(v, N, 2 * N);
	/* more TDs than a chain keeps, in a cycle: the least recently used is
	 * evicted each time, and nothing is trusted without verification */
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < MANY; i++)
			expect(v, q[i], len[i], c, T0 + 60, NULL);
	qe_counts(v, N + (MANY - N) + MANY, 2 * N + N);
	/* without the cache, every quote verifies its QE report */
	tdx_verifier_set_cache(v, 0);
	expect(v, q[0], len[0], c, T0 + 60, NULL);
	expect(v, q[0], len[0], c, T0 + 60, NULL);
	qe_counts(v, 2 * MANY + 2, 2 * N + N);
	for (int i = 0; i < MANY; i++)
		free(q[i]);
	tdx_collateral_free(c);
	tdx_verifier_free(v);
}

static void a_cached_qe_report_vouches_for_nothing_else(void **state)
{
	struct tdx_verifier *v = sim_verifier();
	struct tdx_collateral *c = sim_coll();
	uint8_t *q[2], *forged, xy[64];
	size_t len[2], sig, qe;
	EVP_PKEY *other;
	struct tdx_quote *pq;
	(void)state;

	sim_quotes(2, q, len);
	assert_int_equal(tdx_quote_parse(q[0], len[0], &pq), 0);
	sig = pq->signed_len + 4;
	qe = pq->qe_report_off;
	tdx_quote_free(pq);
	expect(v, q[0], len[0], c, T0 + 60, NULL);
	expect(v, q[1], len[1], c, T0 + 60, NULL);
	qe_counts(v, 2, 0);
	/* each part the QE report vouches for, changed beside its cached
	 * original and a cached sibling */
	q[0][qe + 100] ^= 0x01; /* the QE report */
	expect(v, q[0], len[0], c, T0 + 60, "QE report: signature does not verify");
	q[0][qe + 100] ^= 0x01;
	q[0][qe + 384 + 9] ^= 0x01; /* its signature */
	expect(v, q[0], len[0], c, T0 + 60, "QE report: signature does not verify");
	q[0][qe + 384 + 9] ^= 0x01;
	q[0][sig + 64 + 17] ^= 0x01; /* the attestation key */
	expect(v, q[0], len[0], c, T0 + 60, "REPORTDATA does not bind the attestation key");
	q[0][sig + 64 + 17] ^= 0x01;
	q[0][qe + 384 + 64 + 2 + 5] ^= 0x01; /* the QE auth data */
	expect(v, q[0], len[0], c, T0 + 60, "REPORTDATA does not bind the attestation key");
	q[0][qe + 384 + 64 + 2 + 5] ^= 0x01;
	qe_counts(v, 6, 0);

	/* a quote signed by another key: with the cached report's key, its
	 * signature does not verify; with its own key, the report does not
	 * bind it */
	assert_int_equal(p256_keygen(&other), 0);
	forged = malloc(len[0]);
	assert_non_null(forged);
	memcpy(forged, q[0], len[0]);
	forged[600] ^= 0x01; /* REPORTDATA */
	assert_int_equal(p256_sign(other, forged, sig - 4, forged + sig), 0);
	expect(v, forged, len[0], c, T0 + 60, "quote: signature does not verify");
	qe_counts(v, 6, 1);
	assert_int_equal(p256_pub_xy(other, xy), 0);
	memcpy(forged + sig + 64, xy, 64);
	expect(v, forged, len[0], c, T0 + 60, "REPORTDATA does not bind the attestation key");
	qe_counts(v, 7, 1);
	/* the genuine quotes still pass from the cache */
	expect(v, q[0], len[0], c, T0 + 60, NULL);
	expect(v, q[1], len[1], c, T0 + 60, NULL);
	qe_counts(v, 7, 3);
	EVP_PKEY_free(other);
	free(forged);
	free(q[0]);
	free(q[1]);
	tdx_collateral_free(c);
	tdx_verifier_free(v);
}

/* A sealed set (as a collateral store holds them) keeps the identity of
 * its bytes, and the verifier takes a re-issued set as a new one. */
static void a_sealed_set_is_known_by_its_bytes(void **state)
{
	struct tdx_sim_opts o = {T0, 30, 0};
	struct tdx_verifier *v;
	struct tdx_collateral *a, *b;
	struct tdx_verdict d;
	uint8_t h[32], hs[32], *q;
	char *saved = simdir, p[512];
	size_t len;
	(void)state;

	simdir = td_tmpdir(); /* re-issued below: not the other tests' TD */
	assert_int_equal(tdx_sim_init(simdir, &o), 0);
	v = sim_verifier();
	sim_quote(NULL, &q, &len);
	a = sim_coll();
	assert_int_equal(tdx_collateral_hash(a, h), 0);
	tdx_collateral_seal(a);
	assert_int_equal(tdx_collateral_hash(a, hs), 0);
	assert_memory_equal(h, hs, 32);
	assert_int_equal(tdx_verify(v, q, len, a, T0 + 60, &d), 0);
	assert_int_equal(d.tcb_info_issue_date, T0);

	o.now = T0 + 86400;
	assert_int_equal(tdx_sim_collateral(simdir, &o), 0);
	snprintf(p, sizeof(p), "%s/collateral", simdir);
	b = load_coll(p);
	tdx_collateral_seal(b);
	assert_int_equal(tdx_collateral_hash(b, hs), 0);
	assert_memory_not_equal(h, hs, 32);
	assert_int_equal(tdx_verify(v, q, len, b, T0 + 86400 + 60, &d), 0);
	assert_int_equal(d.tcb_info_issue_date, T0 + 86400);
	/* and the set held before still answers as itself */
	assert_int_equal(tdx_verify(v, q, len, a, T0 + 60, &d), 0);
	assert_int_equal(d.tcb_info_issue_date, T0);
	tdx_collateral_free(a);
	tdx_collateral_free(b);
	tdx_verifier_free(v);
	free(q);
	td_rmtree(simdir);
	free(simdir);
	simdir = saved;
}

/* A PCK CRL, signed by the simulated PCK CA, that lists `serial`. */
static void revoke_leaf(struct tdx_collateral *c, X509 *leaf)
{
	char p[512];
	FILE *f;
	EVP_PKEY *key;
	X509 *ca;
	X509_CRL *crl = X509_CRL_new();
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_TIME *t1 = ASN1_TIME_set(NULL, T0), *t2 = ASN1_TIME_set(NULL, T0 + 86400);
	unsigned char *der = NULL;
	int n;

	snprintf(p, sizeof(p), "%s/pck_platform_ca.key", simdir);
	f = fopen(p, "r");
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(p, sizeof(p), "%s/pck_platform_ca.pem", simdir);
	f = fopen(p, "r");
	ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
	X509_CRL_set1_lastUpdate(crl, t1);
	X509_CRL_set1_nextUpdate(crl, t2);
	X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(leaf));
	X509_REVOKED_set_revocationDate(r, t1);
	X509_CRL_add0_revoked(crl, r);
	X509_CRL_sort(crl);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	n = i2d_X509_CRL(crl, &der);
	free(c->pck_crl.p);
	c->pck_crl.p = malloc((size_t)n);
	memcpy(c->pck_crl.p, der, (size_t)n);
	c->pck_crl.len = (size_t)n;
	OPENSSL_free(der);
	ASN1_TIME_free(t1);
	ASN1_TIME_free(t2);
	X509_CRL_free(crl);
	X509_free(ca);
	EVP_PKEY_free(key);
}

static void a_revoked_pck_certificate_is_refused(void **state)
{
	struct tdx_verifier *v = sim_verifier();
	struct tdx_collateral *c = sim_coll();
	char p[512];
	uint8_t *q;
	size_t len;
	FILE *f;
	X509 *leaf;
	(void)state;

	snprintf(p, sizeof(p), "%s/pck.pem", simdir);
	f = fopen(p, "r");
	leaf = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	sim_quote(NULL, &q, &len);
	/* verified first: its chain and QE report are in the cache, which a
	 * new CRL must not let through */
	expect(v, q, len, c, T0 + 60, NULL);
	revoke_leaf(c, leaf);
	expect(v, q, len, c, T0 + 60, "PCK certificate (serial ");
	expect(v, q, len, c, T0 + 60, "is revoked by the PCK CRL");
	X509_free(leaf);
	tdx_collateral_free(c);
	tdx_verifier_free(v);
	free(q);
}

static void policy_refuses_debug_and_unexpected_measurements(void **state)
{
	struct tdx_verifier *v = sim_verifier();
	struct tdx_collateral *c = sim_coll();
	struct tdx_policy *pol;
	struct tdx_quote *pq;
	struct tdx_verdict d;
	struct tdx_td_body b;
	char p[512], pol_text[1024], mrtd[97];
	json_t *m = json_array();
	uint8_t *q;
	size_t len;
	(void)state;

	/* A debug TD: still a valid quote, refused by the default policy. */
	snprintf(p, sizeof(p), "%s/td.json", simdir);
	assert_int_equal(tdx_sim_measurements_load(p, &b), 0);
	b.td_attributes[0] |= 0x01;
	snprintf(p, sizeof(p), "%s/debug.json", simdir);
	assert_int_equal(tdx_sim_measurements_save(p, &b), 0);
	sim_quote(p, &q, &len);
	assert_int_equal(tdx_verify(v, q, len, c, T0 + 60, &d), 0);
	assert_int_equal(tdx_quote_parse(q, len, &pq), 0);
	assert_int_equal(tdx_policy_default(&pol), 0);
	assert_int_equal(tdx_policy_check(pol, pq, &d, m), ERR_VERIFY);
	assert_non_null(strstr(json_string_value(json_array_get(m, 0)), "DEBUG"));
	tdx_policy_free(pol);

	/* Every mismatch is named, not only the first. */
	hex_encode(mrtd, pq->body.mrtd, 48);
	mrtd[0] = mrtd[0] == '0' ? '1' : '0';
	snprintf(pol_text, sizeof(pol_text),
	         "{\"allow_debug\": true, \"tcb_status\": [\"OutOfDate\"],"
	         " \"measurements\": {\"MRTD\": [\"%s\"]}, \"min_qe_isvsvn\": 5}",
	         mrtd);
	assert_int_equal(tdx_policy_from_json(pol_text, strlen(pol_text), NULL, &pol), 0);
	assert_true(tdx_policy_pins(pol, "MRTD"));
	assert_false(tdx_policy_pins(pol, "RTMR0"));
	json_array_clear(m);
	assert_int_equal(tdx_policy_check(pol, pq, &d, m), ERR_VERIFY);
	assert_int_equal(json_array_size(m), 3);
	assert_non_null(
	    strstr(json_string_value(json_array_get(m, 0)), "UpToDate is not accepted"));
	assert_non_null(strstr(json_string_value(json_array_get(m, 1)), "MRTD"));
	assert_non_null(strstr(json_string_value(json_array_get(m, 2)), "QE ISVSVN 4"));
	tdx_policy_free(pol);

	/* Bad policies are refused with the member named. */
	{
		static const char *const bad[][2] = {
		    {"{\"mrtd\": 1}", "unknown member \"mrtd\""},
		    {"{\"measurements\": {\"MRTD\": \"00\"}}", "MRTD: expected 96 hex digits"},
		    {"{\"measurements\": {\"RTMR9\": \"00\"}}", "unknown field \"RTMR9\""},
		    {"{\"tcb_status\": [\"Fine\"]}", "unknown TCB status"},
		    {"{\"allow_debug\": 1}", "\"allow_debug\" must be true or false"},
		    {"[]", "expected a JSON object"},
		    {"{", "invalid JSON"},
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_equal(
			    tdx_policy_from_json(bad[i][0], strlen(bad[i][0]), NULL, &pol),
			    ERR_INVAL);
			if (!strstr(err_msg(), bad[i][1]))
				fail_msg("policy %s: '%s' lacks '%s'", bad[i][0], err_msg(),
				         bad[i][1]);
		}
	}

	json_decref(m);
	tdx_quote_free(pq);
	tdx_collateral_free(c);
	tdx_verifier_free(v);
	free(q);
}

/* A policy file that names no TCB status accepts UpToDate only, and no
 * advisory it does not list; without a file the verdict is only reported. */
static void a_policy_without_statuses_accepts_up_to_date_only(void **state)
{
	struct tdx_verifier *v = sim_verifier();
	struct tdx_collateral *c = sim_coll();
	struct tdx_policy *pol;
	struct tdx_quote *pq;
	struct tdx_verdict d;
	struct tdx_td_body b;
	char p[512];
	json_t *m = json_array();
	uint8_t *q;
	size_t len;
	static const struct {
		const char *policy;
		size_t mismatches;
	} cases[] = {
	    {"{}", 2},
	    {"{\"measurements\": {}}", 2},
	    {"{\"tcb_status\": [\"UpToDate\", \"OutOfDate\"]}", 1},
	    {"{\"advisory_ids\": [\"INTEL-SA-00000\"]}", 1},
	    {"{\"tcb_status\": [\"OutOfDate\"], \"advisory_ids\": [\"INTEL-SA-00000\"]}", 0},
	};
	(void)state;

	/* The TDX module one step below the simulated platform's UpToDate
	 * level: OutOfDate with advisory INTEL-SA-00000 (tdexec sim init). */
	snprintf(p, sizeof(p), "%s/td.json", simdir);
	assert_int_equal(tdx_sim_measurements_load(p, &b), 0);
	b.tee_tcb_svn[2]--;
	snprintf(p, sizeof(p), "%s/outdated.json", simdir);
	assert_int_equal(tdx_sim_measurements_save(p, &b), 0);
	sim_quote(p, &q, &len);
	assert_int_equal(tdx_verify(v, q, len, c, T0 + 60, &d), 0);
	assert_int_equal(d.status, TDX_TCB_OUT_OF_DATE);
	assert_int_equal(d.advisories.n, 1);
	assert_string_equal(d.advisories.id[0], "INTEL-SA-00000");
	assert_int_equal(tdx_quote_parse(q, len, &pq), 0);

	assert_int_equal(tdx_policy_default(&pol), 0);
	assert_int_equal(tdx_policy_check(pol, pq, &d, m), 0);
	tdx_policy_free(pol);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    tdx_policy_from_json(cases[i].policy, strlen(cases[i].policy), NULL, &pol), 0);
		json_array_clear(m);
		assert_int_equal(tdx_policy_check(pol, pq, &d, m),
		                 cases[i].mismatches ? ERR_VERIFY : 0);
		if (json_array_size(m) != cases[i].mismatches)
			fail_msg("policy %s: %zu mismatches, want %zu", cases[i].policy,
			         json_array_size(m), cases[i].mismatches);
		tdx_policy_free(pol);
	}
	assert_int_equal(tdx_policy_from_json("{}", 2, NULL, &pol), 0);
	json_array_clear(m);
	assert_int_equal(tdx_policy_check(pol, pq, &d, m), ERR_VERIFY);
	assert_non_null(strstr(json_string_value(json_array_get(m, 0)),
	                       "TCB status OutOfDate is not accepted"));
	assert_non_null(strstr(json_string_value(json_array_get(m, 1)),
	                       "advisory INTEL-SA-00000 is not accepted"));
	/* SWHardeningNeeded with an advisory (the verdict of a platform that
	 * needs software mitigations): refused as well. */
	d.status = TDX_TCB_SW_HARDENING_NEEDED;
	snprintf(d.advisories.id[0], TDX_ADVISORY_LEN, "INTEL-SA-00615");
	json_array_clear(m);
	assert_int_equal(tdx_policy_check(pol, pq, &d, m), ERR_VERIFY);
	assert_int_equal(json_array_size(m), 2);
	assert_non_null(strstr(json_string_value(json_array_get(m, 0)),
	                       "TCB status SWHardeningNeeded is not accepted"));
	/* The policy pins no measurement: what a service must refuse. */
	assert_false(tdx_policy_pins(pol, "MRTD"));
	tdx_policy_free(pol);

	json_decref(m);
	tdx_quote_free(pq);
	tdx_collateral_free(c);
	tdx_verifier_free(v);
	free(q);
}

/* More TDs than a chain keeps QE reports for: threads evict each other's. */
#define THREAD_TDS 20

struct worker {
	struct tdx_verifier *v;
	const struct tdx_collateral *c;
	uint8_t **q;
	size_t *len;
	int first, ok;
};

static void *verify_many(void *arg)
{
	struct worker *w = arg;
	struct tdx_verdict d;
	for (int i = 0; i < 40; i++) {
		int k = (w->first + i) % THREAD_TDS;
		w->ok += tdx_verify(w->v, w->q[k], w->len[k], w->c, T0 + 60, &d) == 0;
	}
	return NULL;
}

/* The cache switched off and on while others verify: entries cleared
 * under the others' lookups (run under ASan and TSan). */
static void *toggle_cache(void *arg)
{
	for (int i = 0; i < 200; i++)
		tdx_verifier_set_cache(arg, i % 2);
	tdx_verifier_set_cache(arg, 1);
	return NULL;
}

static void one_verifier_serves_many_threads(void **state)
{
	struct tdx_verifier *v = sim_verifier();
	struct tdx_collateral *c = sim_coll();
	struct worker w[4];
	pthread_t t[4], toggler;
	uint8_t *q[THREAD_TDS];
	size_t len[THREAD_TDS];
	(void)state;

	sim_quotes(THREAD_TDS, q, len);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){v, c, q, len, 5 * i, 0};
		assert_int_equal(pthread_create(&t[i], NULL, verify_many, &w[i]), 0);
	}
	assert_int_equal(pthread_create(&toggler, NULL, toggle_cache, v), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].ok, 40);
	}
	pthread_join(toggler, NULL);
	/* With the cache off the answers are the same. */
	tdx_verifier_set_cache(v, 0);
	expect(v, q[0], len[0], c, T0 + 60, NULL);
	q[0][200] ^= 1;
	expect(v, q[0], len[0], c, T0 + 60, "quote: signature does not verify");
	for (int i = 0; i < THREAD_TDS; i++)
		free(q[i]);
	tdx_collateral_free(c);
	tdx_verifier_free(v);
}

/* ---- JSON integers narrowed to smaller types ---- */

/* text with its first `from` replaced by `to` (malloc'd). */
static char *subst(const char *text, size_t len, const char *from, const char *to, size_t *out)
{
	const char *at = strstr(text, from);
	size_t a, f = strlen(from), t = strlen(to);
	char *r;
	assert_non_null(at);
	a = (size_t)(at - text);
	r = malloc(len - f + t + 1);
	memcpy(r, text, a);
	memcpy(r + a, to, t);
	memcpy(r + a + t, at + f, len - a - f);
	*out = len - f + t;
	r[*out] = '\0';
	return r;
}

/* Edits of a real TCB info (phala-dcap-qvl/tdx_quote_collateral.json);
 * "x" takes the value the edit displaces. */
static const struct {
	const char *from, *to, *want; /* want NULL: parses */
} tcb_int_cases[] = {
    {"\"tcbEvaluationDataNumber\":17", "\"tcbEvaluationDataNumber\":17", NULL},
    {"\"tcbEvaluationDataNumber\":17", "\"tcbEvaluationDataNumber\":1073741824", NULL},
    {"\"tcbEvaluationDataNumber\":17", "\"tcbEvaluationDataNumber\":17.0",
     "\"tcbEvaluationDataNumber\" is not an integer (0..1073741824)"},
    {"\"tcbEvaluationDataNumber\":17", "\"tcbEvaluationDataNumber\":\"17\"",
     "\"tcbEvaluationDataNumber\" is not an integer"},
    {"\"tcbEvaluationDataNumber\":17", "\"tcbEvaluationDataNumber\":-1",
     "\"tcbEvaluationDataNumber\": -1 out of range (0..1073741824)"},
    {"\"tcbEvaluationDataNumber\":17", "\"tcbEvaluationDataNumber\":1073741825",
     "\"tcbEvaluationDataNumber\": 1073741825 out of range"},
    {"\"tcbEvaluationDataNumber\":17", "\"tcbEvaluationDataNumber\":4294967313",
     "\"tcbEvaluationDataNumber\": 4294967313 out of range"},
    {"\"version\":3", "\"version\":1003", "\"version\": 1003 out of range (0..1000)"},
    {"\"tcbType\":0,", "", "\"tcbType\" missing"},
    {"\"tcbType\":0", "\"tcbType\":true", "\"tcbType\" is not an integer"},
    {"\"pcesvn\":", "\"pcesvn\":65536,\"x\":",
     "\"tcbLevels\"[0]: \"pcesvn\": 65536 out of range (0..65535)"},
    {"\"svn\":", "\"svn\":256,\"x\":", "\"svn\": 256 out of range (0..255)"},
    {"\"svn\":", "\"svn\":2.0,\"x\":", "\"svn\" is not an integer (0..255)"},
    {"\"isvsvn\":", "\"isvsvn\":-1,\"x\":", "\"isvsvn\": -1 out of range (0..65535)"},
};

static void tcb_info_integers_are_range_checked(void **state)
{
	char path[512];
	struct tdx_collateral *c;
	(void)state;
	snprintf(path, sizeof(path), "%s/tdx/phala-dcap-qvl/tdx_quote_collateral.json", TEST_DATA);
	c = load_coll(path);
	for (size_t i = 0; i < sizeof(tcb_int_cases) / sizeof(tcb_int_cases[0]); i++) {
		struct tdx_tcb_info *t = NULL;
		size_t len;
		char *text = subst((const char *)c->tcb_info.p, c->tcb_info.len,
		                   tcb_int_cases[i].from, tcb_int_cases[i].to, &len);
		int rc = tdx_tcb_info_parse(text, len, &t);
		if (!tcb_int_cases[i].want) {
			if (rc != 0)
				fail_msg("case %zu: '%s'", i, err_msg());
		} else if (rc != ERR_INVAL || !strstr(err_msg(), tcb_int_cases[i].want)) {
			fail_msg("case %zu: rc %d '%s', want '%s'", i, rc, err_msg(),
			         tcb_int_cases[i].want);
		}
		tdx_tcb_info_free(t);
		free(text);
	}
	tdx_collateral_free(c);
}

static const struct {
	const char *value, *want; /* want NULL: loads */
} policy_int_cases[] = {
    {"0", NULL},
    {"65535", NULL},
    {"65536", "\"min_qe_isvsvn\": 65536 out of range (0..65535)"},
    {"-1", "\"min_qe_isvsvn\": -1 out of range (0..65535)"},
    {"4294967300", "\"min_qe_isvsvn\": 4294967300 out of range"},
    {"4.0", "\"min_qe_isvsvn\" is not an integer (0..65535)"},
    {"\"4\"", "\"min_qe_isvsvn\" is not an integer"},
    {"null", "\"min_qe_isvsvn\" is not an integer"},
};

static void policy_integers_are_range_checked(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(policy_int_cases) / sizeof(policy_int_cases[0]); i++) {
		struct tdx_policy *p = NULL;
		char text[128];
		int n = snprintf(text, sizeof(text), "{\"min_qe_isvsvn\": %s}",
		                 policy_int_cases[i].value);
		int rc = tdx_policy_from_json(text, (size_t)n, ".", &p);
		if (!policy_int_cases[i].want) {
			if (rc != 0)
				fail_msg("%s: '%s'", policy_int_cases[i].value, err_msg());
		} else if (rc != ERR_INVAL || !strstr(err_msg(), policy_int_cases[i].want)) {
			fail_msg("%s: rc %d '%s', want '%s'", policy_int_cases[i].value, rc,
			         err_msg(), policy_int_cases[i].want);
		}
		tdx_policy_free(p);
	}
}

/* A PCS cache entry (the simulated collateral, valid T0..T0+30 days) whose
 * "tdexec_fetched_at" is this JSON text; NULL: absent. */
static const struct {
	const char *fetched_at;
	int fresh;   /* answered from the cache at T0 + 1 day as fresh (else, with
		      * no PCS to refresh it, as stale but valid, or not at all) */
	int refused; /* refused, with a warning naming the file, and not served */
} fetched_cases[] = {
    {"1751000000", 1, 0},                                  /* T0 */
    {"946684800", 0, 0},                                   /* 2000-01-01: read; due for a refresh */
    {"7258118400", 1, 0},                                  /* 2200-01-01 */
    {"946684799", 0, 1},                                   /* before 2000 */
    {"-1", 0, 1},          {"-9223372036854775808", 0, 1}, /* next - fetched used to overflow */
    {"7258118401", 0, 1}, /* after 2200: was served until the last hour */
    {"99999999999", 0, 1}, {"1751000000.0", 0, 1},         {"\"1751000000\"", 0, 1}, {NULL, 0, 1},
};

static void pcs_cache_fetch_times_are_range_checked(void **state)
{
	static const uint8_t fmspc[6] = {0x53, 0x49, 0x4d, 0x00, 0x00, 0x00};
	char *dir = td_tmpdir(), coll[512], entry[600];
	struct tdx_pcs pcs = {NULL, dir, NULL, 0};
	size_t len;
	uint8_t *orig;
	(void)state;
	snprintf(coll, sizeof(coll), "%s/collateral/collateral.json", simdir);
	snprintf(entry, sizeof(entry), "%s/tdx-53494d000000-platform.json", dir);
	assert_int_equal(file_read(coll, 4u << 20, &orig, &len), 0);
	for (size_t i = 0; i < sizeof(fetched_cases) / sizeof(fetched_cases[0]); i++) {
		struct tdx_collateral *c = NULL;
		char logbuf[8192] = "", *text;
		int cached = 0, rc, saved, fd;
		ssize_t got;
		FILE *f = fopen(entry, "w"), *cap = tmpfile();
		/* The document with the member added before its closing brace. */
		assert_non_null(f);
		assert_non_null(cap);
		text = (char *)orig;
		while (len && text[len - 1] != '}')
			len--;
		fwrite(text, 1, len - 1, f);
		if (fetched_cases[i].fetched_at)
			fprintf(f, ",\"tdexec_fetched_at\":%s", fetched_cases[i].fetched_at);
		fputs("}\n", f);
		fclose(f);
		/* The refusal is a warning on stderr: capture it. */
		fflush(stderr);
		saved = dup(2);
		dup2(fileno(cap), 2);
		rc = tdx_pcs_collateral(&pcs, fmspc, TDX_PCK_CA_PLATFORM, T0 + 86400, &c, &cached);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		fd = fileno(cap);
		lseek(fd, 0, SEEK_SET);
		got = read(fd, logbuf, sizeof(logbuf) - 1);
		logbuf[got > 0 ? got : 0] = '\0';
		fclose(cap);
		if ((rc == 0 && cached && !strstr(logbuf, "pcs.stale")) != fetched_cases[i].fresh)
			fail_msg("%s: rc %d cached %d, want fresh %d ('%s')",
			         fetched_cases[i].fetched_at, rc, cached, fetched_cases[i].fresh,
			         logbuf);
		if ((strstr(logbuf, entry) && strstr(logbuf, "tdexec_fetched_at") && rc < 0) !=
		    fetched_cases[i].refused)
			fail_msg("%s: log '%s', want refused %d", fetched_cases[i].fetched_at,
			         logbuf, fetched_cases[i].refused);
		tdx_collateral_free(c);
	}
	free(orig);
	td_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(intel_root_is_the_published_one),
	    cmocka_unit_test(real_quotes_get_their_documented_verdicts),
	    cmocka_unit_test(sim_quotes_verify_only_with_the_sim_root),
	    cmocka_unit_test(tampered_quotes_are_refused_with_the_reason),
	    cmocka_unit_test(tampered_collateral_is_refused),
	    cmocka_unit_test(each_tds_qe_report_is_verified_once),
	    cmocka_unit_test(a_cached_qe_report_vouches_for_nothing_else),
	    cmocka_unit_test(a_sealed_set_is_known_by_its_bytes),
	    cmocka_unit_test(a_revoked_pck_certificate_is_refused),
	    cmocka_unit_test(policy_refuses_debug_and_unexpected_measurements),
	    cmocka_unit_test(a_policy_without_statuses_accepts_up_to_date_only),
	    cmocka_unit_test(one_verifier_serves_many_threads),
	    cmocka_unit_test(tcb_info_integers_are_range_checked),
	    cmocka_unit_test(policy_integers_are_range_checked),
	    cmocka_unit_test(pcs_cache_fetch_times_are_range_checked),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
