/* x509lite: Intel's real certificates and CRLs parse to the values OpenSSL
 * sees; truncations and corruptions are refused without crashing; shapes
 * outside Intel's PKI are refused. */
#include "testutil.h"

#include "tdx/collateral.h"
#include "tdx/pck.h"
#include "tdx/quote.h"
#include "tdx/x509lite.h"
#include "util/err.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* DER of every certificate in a real quote's chain. */
static size_t quote_ders(const char *rel, struct tdx_blob *d)
{
	struct tdx_quote *q;
	size_t len, n;
	uint8_t *buf = td_read(rel, &len);
	assert_int_equal(tdx_quote_parse(buf, len, &q), 0);
	assert_int_equal(tdx_pem_certs_der(q->pck_chain, q->pck_chain_len, d, 8, &n), 0);
	tdx_quote_free(q);
	free(buf);
	return n;
}

static void real_certificates_match_openssl(void **state)
{
	static const char *const quotes[] = {
		"tdx/phala-dcap-qvl/tdx_quote", "tdx/phala-dcap-qvl/tdx_quote_outdated",
		"tdx/google-go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
		"tdx/google-go-tdx-guest/quote_v5_sample.dat",
		"tdx/google-go-tdx-guest/ccel/cos-113-tdx-quote.dat"};
	(void)state;
	for (size_t i = 0; i < sizeof(quotes) / sizeof(quotes[0]); i++) {
		struct tdx_blob d[8];
		size_t n = quote_ders(quotes[i], d);
		assert_int_equal(n, 3);
		for (size_t k = 0; k < n; k++) {
			struct x509_lite x;
			const unsigned char *p = d[k].p;
			X509 *o = d2i_X509(NULL, &p, (long)d[k].len);
			uint8_t pt[65];
			BIGNUM *bn;
			assert_non_null(o);
			if (x509_lite_parse(d[k].p, d[k].len, "cert", &x) < 0)
				fail_msg("%s cert %zu: %s", quotes[i], k, err_msg());
			/* Same key, validity, CA flag, serial as OpenSSL decodes. */
			size_t ptlen = 0;
			assert_int_equal(EVP_PKEY_get_octet_string_param(X509_get0_pubkey(o),
									 OSSL_PKEY_PARAM_PUB_KEY, pt,
									 sizeof(pt), &ptlen),
					 1);
			assert_int_equal(ptlen, 65);
			assert_memory_equal(x.pub, pt + 1, 64);
			assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(o), x.not_before), 0);
			assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(o), x.not_after), 0);
			assert_int_equal(x.is_ca, X509_check_ca(o) != 0);
			bn = BN_bin2bn(x.serial.p, (int)x.serial.len, NULL);
			assert_int_equal(BN_cmp(bn, ASN1_INTEGER_to_BN(X509_get0_serialNumber(o),
									 bn)),
					 0);
			BN_free(bn);
			/* Only the leaf carries the SGX extension. */
			assert_int_equal(x.sgx_ext.len != 0, k == 0);
			X509_free(o);
			free(d[k].p);
		}
	}
}

static void truncations_and_corruptions_are_refused(void **state)
{
	struct tdx_blob d[8];
	size_t n = quote_ders("tdx/phala-dcap-qvl/tdx_quote", d);
	struct x509_lite x;
	(void)state;
	for (size_t k = 0; k < n; k++) {
		for (size_t len = 0; len < d[k].len; len++) {
			uint8_t *t = malloc(len ? len : 1);
			memcpy(t, d[k].p, len);
			if (x509_lite_parse(t, len, "cert", &x) == 0)
				fail_msg("cert %zu truncated to %zu bytes parsed", k, len);
			free(t);
		}
		for (size_t i = 0; i < d[k].len; i++) {
			uint8_t *t = malloc(d[k].len);
			memcpy(t, d[k].p, d[k].len);
			t[i] ^= 0x80; /* any outcome but a crash; ASan checks reads */
			(void)x509_lite_parse(t, d[k].len, "cert", &x);
			free(t);
		}
		free(d[k].p);
	}
}

static void real_crls_parse_and_list_their_serials(void **state)
{
	struct tdx_collateral *c;
	struct crl_lite crl;
	const unsigned char *p;
	X509_CRL *o;
	char path[512];
	(void)state;
	snprintf(path, sizeof(path), "%s/tdx/phala-dcap-qvl/tdx_quote_collateral.json", TEST_DATA);
	assert_int_equal(tdx_collateral_load(path, &c), 0);
	if (crl_lite_parse(c->pck_crl.p, c->pck_crl.len, "PCK CRL", &crl) < 0)
		fail_msg("%s", err_msg());
	p = c->pck_crl.p;
	o = d2i_X509_CRL(NULL, &p, (long)c->pck_crl.len);
	assert_non_null(o);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(o)), 44);
	/* Every serial OpenSSL lists is revoked for x509lite too. */
	for (int i = 0; i < sk_X509_REVOKED_num(X509_CRL_get_REVOKED(o)); i++) {
		const ASN1_INTEGER *sn =
			X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(X509_CRL_get_REVOKED(o), i));
		unsigned char *der = NULL;
		int len = i2d_ASN1_INTEGER((ASN1_INTEGER *)sn, &der);
		struct der_span s = {der + 2, (size_t)len - 2}; /* skip tag, short length */
		assert_true(der[1] < 0x80);
		assert_int_equal(crl_lite_revoked(&crl, &s), 1);
		der[len - 1] ^= 1;
		assert_int_equal(crl_lite_revoked(&crl, &s), 0);
		OPENSSL_free(der);
	}
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(o), crl.next_update), 0);
	X509_CRL_free(o);
	for (size_t len = 0; len < c->pck_crl.len; len++)
		assert_true(crl_lite_parse(c->pck_crl.p, len, "PCK CRL", &crl) < 0);
	tdx_collateral_free(c);
}

/* A certificate OpenSSL makes with the given key and extensions. */
static size_t make_cert(EVP_PKEY *key, long version, const char *ext_nid_value, int critical,
			uint8_t **der)
{
	X509 *x = X509_new();
	unsigned char *out = NULL;
	int n;
	X509_set_version(x, version);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"t", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	if (ext_nid_value) {
		ASN1_OBJECT *o = OBJ_txt2obj("1.2.3.4.5", 1);
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
		ASN1_OCTET_STRING_set(os, (const unsigned char *)"\x05\x00", 2);
		X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ(NULL, o, critical, os);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
		ASN1_OBJECT_free(o);
		ASN1_OCTET_STRING_free(os);
	}
	X509_sign(x, key, EVP_sha256());
	n = i2d_X509(x, &out);
	*der = out;
	X509_free(x);
	return (size_t)n;
}

static void shapes_outside_intels_pki_are_refused(void **state)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256"), *p384 = EVP_EC_gen("P-384");
	struct x509_lite x;
	uint8_t *der;
	size_t n;
	(void)state;

	n = make_cert(ec, 2, NULL, 0, &der);
	assert_int_equal(x509_lite_parse(der, n, "cert", &x), 0);
	OPENSSL_free(der);
	n = make_cert(ec, 2, "x", 0, &der); /* unknown, not critical: fine */
	assert_int_equal(x509_lite_parse(der, n, "cert", &x), 0);
	OPENSSL_free(der);
	n = make_cert(ec, 2, "x", 1, &der);
	assert_int_equal(x509_lite_parse(der, n, "cert", &x), ERR_UNSUPPORTED);
	assert_non_null(strstr(err_msg(), "unknown critical extension"));
	OPENSSL_free(der);
	n = make_cert(ec, 0, NULL, 0, &der); /* v1 */
	assert_true(x509_lite_parse(der, n, "cert", &x) < 0);
	OPENSSL_free(der);
	n = make_cert(p384, 2, NULL, 0, &der);
	assert_int_equal(x509_lite_parse(der, n, "cert", &x), ERR_UNSUPPORTED);
	OPENSSL_free(der);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(p384);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(real_certificates_match_openssl),
		cmocka_unit_test(truncations_and_corruptions_are_refused),
		cmocka_unit_test(real_crls_parse_and_list_their_serials),
		cmocka_unit_test(shapes_outside_intels_pki_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
