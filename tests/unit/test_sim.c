/* The simulated TD: its quotes parse, and every signature and binding in
 * them checks with OpenSSL directly (no tdexec crypto code involved), as do
 * the simulated collateral's signatures and CRLs. */
#include "testutil.h"

#include "tdx/pck.h"
#include "tdx/quote.h"
#include "tdx/sim.h"
#include "util/err.h"
#include "util/file.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1751000000 /* fixed start of validity */

static char *dir;

static int setup(void **state)
{
	struct tdx_sim_opts o = {T0, 30, 0};
	(void)state;
	dir = td_tmpdir();
	if (tdx_sim_init(dir, &o) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	td_rmtree(dir);
	free(dir);
	return 0;
}

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static X509 *load_cert(const char *name)
{
	char p[512];
	FILE *f;
	X509 *x;
	path_of(p, sizeof(p), name);
	f = fopen(p, "r");
	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

/* OpenSSL-only ECDSA P-256 check of a raw r||s signature. */
static int ossl_verify(EVP_PKEY *pub, const uint8_t *msg, size_t len, const uint8_t sig[64])
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	unsigned char *der = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int n, ok;
	ECDSA_SIG_set0(s, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
	n = i2d_ECDSA_SIG(s, &der);
	ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
	     EVP_DigestVerify(ctx, der, (size_t)n, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(s);
	return ok;
}

static EVP_PKEY *ossl_pub_xy(const uint8_t xy[64])
{
	uint8_t pt[65] = {0x04};
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	OSSL_PARAM p[3];
	memcpy(pt + 1, xy, 64);
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, 65);
	p[2] = OSSL_PARAM_construct_end();
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, p), 1);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static void get_quote(const uint8_t rd[64], uint8_t **buf, size_t *len, struct tdx_quote **q)
{
	struct tdx_sim *s;
	if (tdx_sim_load(dir, NULL, &s) < 0)
		fail_msg("%s", err_msg());
	assert_int_equal(tdx_sim_quote(s, rd, buf, len), 0);
	tdx_sim_free(s);
	if (tdx_quote_parse(*buf, *len, q) < 0)
		fail_msg("%s", err_msg());
}

static void sim_quote_signatures_and_binding_check(void **state)
{
	uint8_t rd[64], *buf, h[32], in[64 + 256];
	struct tdx_quote *q;
	EVP_PKEY *att;
	X509 *pck = load_cert("pck.pem");
	size_t len;
	(void)state;

	for (int i = 0; i < 64; i++)
		rd[i] = (uint8_t)(0xa0 + i);
	get_quote(rd, &buf, &len, &q);
	assert_int_equal(q->header.version, 4);
	assert_int_equal(q->trailing_len, 0);
	assert_memory_equal(q->body.report_data, rd, 64);
	assert_int_equal(q->signed_len, 48 + 584);

	/* Quote signature: attestation key over header || body. */
	att = ossl_pub_xy(q->att_key);
	assert_true(ossl_verify(att, buf, 632, q->signature));
	buf[200] ^= 1; /* any body change breaks it */
	assert_false(ossl_verify(att, buf, 632, q->signature));
	buf[200] ^= 1;

	/* QE report: signed by the PCK key, REPORTDATA binds the attestation
	 * key and QE auth data. */
	assert_true(
	    ossl_verify(X509_get0_pubkey(pck), buf + q->qe_report_off, 384, q->qe_report_sig));
	memcpy(in, q->att_key, 64);
	memcpy(in + 64, q->qe_auth_data, q->qe_auth_len);
	SHA256(in, 64 + q->qe_auth_len, h);
	assert_memory_equal(q->qe_report.report_data, h, 32);
	for (int i = 32; i < 64; i++)
		assert_int_equal(q->qe_report.report_data[i], 0);
	assert_int_equal(q->qe_report.isvprodid, 2);
	/* Production-looking attributes: no DEBUG, SEPT_VE_DISABLE set. */
	assert_int_equal(tdx_quote_td_attributes(q) & TDX_ATTR_DEBUG, 0);
	assert_true(tdx_quote_td_attributes(q) & TDX_ATTR_SEPT_VE_DISABLE);

	EVP_PKEY_free(att);
	X509_free(pck);
	tdx_quote_free(q);
	free(buf);
}

static int chain_verifies(STACK_OF(X509) * chain, X509 *root, time_t at)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int ok;
	X509_STORE_add_cert(st, root);
	sk_X509_push(untrusted, sk_X509_value(chain, 1));
	X509_STORE_CTX_init(ctx, st, sk_X509_value(chain, 0), untrusted);
	X509_STORE_CTX_set_time(ctx, 0, at);
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	sk_X509_free(untrusted);
	return ok;
}

static void sim_chain_leads_to_sim_root_only(void **state)
{
	uint8_t rd[64] = {0}, *buf, *intel;
	const unsigned char *p;
	STACK_OF(X509) * chain;
	struct tdx_pck_ext e;
	struct tdx_quote *q;
	X509 *root = load_cert("root_ca.pem"), *intel_root;
	size_t len, ilen;
	(void)state;

	get_quote(rd, &buf, &len, &q);
	assert_int_equal(tdx_pck_chain_parse(q->pck_chain, q->pck_chain_len, &chain), 0);
	assert_int_equal(sk_X509_num(chain), 3);
	assert_true(chain_verifies(chain, root, T0 + 60));
	/* The real Intel SGX Root CA does not anchor it. */
	intel = td_read("tdx/phala-dcap-qvl/TrustedRootCA.der", &ilen);
	p = intel;
	intel_root = d2i_X509(NULL, &p, (long)ilen);
	assert_non_null(intel_root);
	assert_false(chain_verifies(chain, intel_root, T0 + 60));
	/* The leaf carries the SGX extension with the simulated FMSPC "SIM". */
	assert_int_equal(tdx_pck_ext_from_cert(sk_X509_value(chain, 0), &e), 0);
	assert_memory_equal(e.fmspc, "SIM\0\0\0", 6);
	assert_int_equal(e.pcesvn, 13);
	assert_int_equal(tdx_pck_ca_type(sk_X509_value(chain, 0)), TDX_PCK_CA_PLATFORM);

	X509_free(intel_root);
	free(intel);
	X509_free(root);
	sk_X509_pop_free(chain, X509_free);
	tdx_quote_free(q);
	free(buf);
}

/* The exact bytes between `{"KEY":` and `,"signature":"`. */
static void signed_part(const char *body, const char *key, const char **start, size_t *len,
                        uint8_t sig[64])
{
	char prefix[64];
	const char *end;
	snprintf(prefix, sizeof(prefix), "{\"%s\":", key);
	assert_int_equal(strncmp(body, prefix, strlen(prefix)), 0);
	*start = body + strlen(prefix);
	end = strstr(body, ",\"signature\":\"");
	assert_non_null(end);
	*len = (size_t)(end - *start);
	for (int i = 0; i < 64; i++) {
		unsigned v;
		assert_int_equal(sscanf(end + 14 + 2 * i, "%2x", &v), 1);
		sig[i] = (uint8_t)v;
	}
}

static void sim_collateral_is_signed_like_pcs(void **state)
{
	static const char *const files[] = {"tcb_info.json", "qe_identity.json"};
	static const char *const keys[] = {"tcbInfo", "enclaveIdentity"};
	static const char *const qvl[] = {"tcb_info", "qe_identity"};
	X509 *tcb = load_cert("tcb_signing.pem"), *ca = load_cert("pck_platform_ca.pem");
	X509 *root = load_cert("root_ca.pem");
	char rel[600];
	json_t *all;
	(void)state;

	snprintf(rel, sizeof(rel), "%s/collateral/collateral.json", dir);
	all = json_load_file(rel, 0, NULL);
	assert_non_null(all);
	for (int i = 0; i < 2; i++) {
		uint8_t *body, sig[64];
		const char *start;
		size_t len, slen;
		snprintf(rel, sizeof(rel), "%s/collateral/%s", dir, files[i]);
		assert_int_equal(file_read(rel, 1 << 20, &body, &len), 0);
		signed_part((char *)body, keys[i], &start, &slen, sig);
		assert_true(ossl_verify(X509_get0_pubkey(tcb), (const uint8_t *)start, slen, sig));
		/* dcap-qvl's format carries the same signed text. */
		assert_int_equal(strlen(json_string_value(json_object_get(all, qvl[i]))), slen);
		assert_memory_equal(json_string_value(json_object_get(all, qvl[i])), start, slen);
		((char *)start)[5] ^= 1; /* one changed byte breaks the signature */
		assert_false(ossl_verify(X509_get0_pubkey(tcb), (const uint8_t *)start, slen, sig));
		free(body);
	}
	/* CRLs: signed by their issuers, valid for 30 days from T0. */
	{
		static const char *const crls[] = {"pck_crl.der", "root_ca_crl.der"};
		X509 *issuers[] = {ca, root};
		for (int i = 0; i < 2; i++) {
			const unsigned char *p;
			uint8_t *der;
			size_t len;
			X509_CRL *crl;
			int day, sec;
			snprintf(rel, sizeof(rel), "%s/collateral/%s", dir, crls[i]);
			assert_int_equal(file_read(rel, 1 << 20, &der, &len), 0);
			p = der;
			crl = d2i_X509_CRL(NULL, &p, (long)len);
			assert_non_null(crl);
			assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(issuers[i])), 1);
			assert_int_equal(ASN1_TIME_diff(&day, &sec, X509_CRL_get0_lastUpdate(crl),
			                                X509_CRL_get0_nextUpdate(crl)),
			                 1);
			assert_int_equal(day, 30);
			X509_CRL_free(crl);
			free(der);
		}
	}
	json_decref(all);
	X509_free(tcb);
	X509_free(ca);
	X509_free(root);
}

static void rtmr_extension_is_measured_and_logged(void **state)
{
	uint8_t digest[48], before[48], cat[96], want[48], rd[64] = {0}, *buf, *log;
	struct tdx_quote *q;
	char p[512];
	size_t len, llen;
	(void)state;

	get_quote(rd, &buf, &len, &q);
	memcpy(before, q->body.rtmr[3], 48);
	tdx_quote_free(q);
	free(buf);
	memset(digest, 0x5c, sizeof(digest));
	assert_int_equal(tdx_sim_extend(dir, 3, digest, "app image sha256:abc"), 0);
	memcpy(cat, before, 48);
	memcpy(cat + 48, digest, 48);
	SHA384(cat, sizeof(cat), want);
	get_quote(rd, &buf, &len, &q);
	assert_memory_equal(q->body.rtmr[3], want, 48);
	tdx_quote_free(q);
	free(buf);

	path_of(p, sizeof(p), "event_log.jsonl");
	assert_int_equal(file_read(p, 1 << 20, &log, &llen), 0);
	assert_non_null(strstr((char *)log, "\"rtmr\":3"));
	assert_non_null(strstr((char *)log, "app image sha256:abc"));
	assert_int_equal(log[llen - 1], '\n');
	free(log);
	assert_int_equal(tdx_sim_extend(dir, 4, digest, NULL), ERR_INVAL);
}

static void init_never_overwrites_without_force(void **state)
{
	struct tdx_sim_opts o = {T0, 30, 0};
	uint8_t *before, *after;
	size_t blen, alen;
	char p[512];
	(void)state;
	path_of(p, sizeof(p), "root_ca.key");
	assert_int_equal(file_read(p, 1 << 20, &before, &blen), 0);
	assert_int_equal(tdx_sim_init(dir, &o), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "--force"));
	assert_int_equal(file_read(p, 1 << 20, &after, &alen), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	free(before);
	free(after);
}

static void bad_sim_dirs_and_measurements_are_refused(void **state)
{
	struct tdx_sim *s;
	char p[512];
	(void)state;
	assert_int_equal(tdx_sim_load("/nonexistent-tdexec", NULL, &s), ERR_NOTFOUND);
	assert_non_null(strstr(err_msg(), "no simulated TD"));
	path_of(p, sizeof(p), "bad.json");
	assert_int_equal(file_write(p, "{\"MRTD\":\"00\"}", 13, 0644), 0);
	assert_int_equal(tdx_sim_load(dir, p, &s), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "MRTD: expected 96 hex digits"));
	assert_int_equal(file_write(p, "{", 1, 0644), 0);
	assert_int_equal(tdx_sim_load(dir, p, &s), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "invalid JSON"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sim_quote_signatures_and_binding_check),
	    cmocka_unit_test(sim_chain_leads_to_sim_root_only),
	    cmocka_unit_test(sim_collateral_is_signed_like_pcs),
	    cmocka_unit_test(rtmr_extension_is_measured_and_logged),
	    cmocka_unit_test(init_never_overwrites_without_force),
	    cmocka_unit_test(bad_sim_dirs_and_measurements_are_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
