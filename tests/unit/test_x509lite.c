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
	static const char *const quotes[] = {"tdx/phala-dcap-qvl/tdx_quote",
	                                     "tdx/phala-dcap-qvl/tdx_quote_outdated",
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
			                                                 OSSL_PKEY_PARAM_PUB_KEY,
			                                                 pt, sizeof(pt), &ptlen),
			                 1);
			assert_int_equal(ptlen, 65);
			assert_memory_equal(x.pub, pt + 1, 64);
			assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(o), x.not_before),
			                 0);
			assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(o), x.not_after),
			                 0);
			assert_int_equal(x.is_ca, X509_check_ca(o) != 0);
			bn = BN_bin2bn(x.serial.p, (int)x.serial.len, NULL);
			assert_int_equal(
			    BN_cmp(bn, ASN1_INTEGER_to_BN(X509_get0_serialNumber(o), bn)), 0);
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
			IGNORE_STATUS(x509_lite_parse(t, d[k].len, "cert", &x));
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
		const ASN1_INTEGER *sn = X509_REVOKED_get0_serialNumber(
		    sk_X509_REVOKED_value(X509_CRL_get_REVOKED(o), i));
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

/* ---- canonical DER signatures ---- */

/* Append tag, DER length and n bytes of content at p to out[*len]. */
static void put_tlv(uint8_t *out, size_t *len, uint8_t tag, const uint8_t *p, size_t n)
{
	out[(*len)++] = tag;
	if (n < 0x80) {
		out[(*len)++] = (uint8_t)n;
	} else if (n < 0x100) {
		out[(*len)++] = 0x81;
		out[(*len)++] = (uint8_t)n;
	} else {
		out[(*len)++] = 0x82;
		out[(*len)++] = (uint8_t)(n >> 8);
		out[(*len)++] = (uint8_t)n;
	}
	memmove(out + *len, p, n);
	*len += n;
}

/* Content span of the TLV at p[*off] (minimal lengths up to 2 bytes). */
static size_t take_tlv(const uint8_t *p, size_t *off, size_t *clen)
{
	size_t o = *off + 1, n = p[o++];
	if (n == 0x81)
		n = p[o++];
	else if (n == 0x82) {
		n = (size_t)p[o] << 8 | p[o + 1];
		o += 2;
	}
	*clen = n;
	*off = o + n;
	return o;
}

enum sig_edit {
	SIG_AS_IS,
	SIG_BYTE_AFTER,
	SIG_THIRD_INT,
	SIG_R_LEADING_ZERO,
	SIG_R_NEGATIVE,
	SIG_R_EMPTY
};
static const struct {
	enum sig_edit edit;
	const char *want; /* NULL: parses */
} sig_cases[] = {
    {SIG_AS_IS, NULL},
    {SIG_BYTE_AFTER, "trailing bytes after the ECDSA signature"},
    {SIG_THIRD_INT, "trailing bytes in the ECDSA signature"},
    {SIG_R_LEADING_ZERO, "ECDSA-Sig-Value.r: non-minimal INTEGER"},
    {SIG_R_NEGATIVE, "ECDSA-Sig-Value.r: negative INTEGER"},
    {SIG_R_EMPTY, "ECDSA-Sig-Value.r: empty INTEGER"},
};

/* Intel's PCK Platform CA certificate (from a real quote), re-encoded with
 * nothing but its signature's encoding changed. */
static void signatures_must_be_canonical_der(void **state)
{
	struct tdx_blob d[8];
	size_t n = quote_ders("tdx/phala-dcap-qvl/tdx_quote", d);
	struct x509_lite x, orig;
	(void)state;
	assert_true(n >= 2);
	assert_int_equal(x509_lite_parse(d[1].p, d[1].len, "cert", &orig), 0);
	for (size_t i = 0; i < sizeof(sig_cases) / sizeof(sig_cases[0]); i++) {
		const uint8_t *c = d[1].p;
		size_t off = 0, cl, tbs_at, tbs_end, bs, bsl, sq, sql, ro, rl, so, sl;
		uint8_t ints[80], sigv[96], bits[100], body[2048], cert[2100];
		size_t il = 0, vl = 0, bl = 0, yl = 0, xl = 0, zero = 0;

		take_tlv(c, &off, &cl); /* Certificate */
		off = (size_t)(c[1] == 0x82 ? 4 : c[1] == 0x81 ? 3 : 2);
		tbs_at = off;
		take_tlv(c, &off, &cl); /* tbsCertificate */
		take_tlv(c, &off, &cl); /* signatureAlgorithm */
		tbs_end = off;
		bs = take_tlv(c, &off, &bsl);
		assert_int_equal(off, d[1].len);
		sq = bs + 1;
		sq = take_tlv(c, &sq, &sql);
		ro = sq;
		ro = take_tlv(c, &ro, &rl);
		so = ro + rl;
		so = take_tlv(c, &so, &sl);

		switch (sig_cases[i].edit) {
		case SIG_R_LEADING_ZERO:
			if (c[ro] == 0) { /* already padded: pad once more */
				ints[il++] = 0x02;
				ints[il++] = (uint8_t)(rl + 1);
				ints[il++] = 0;
				memcpy(ints + il, c + ro, rl);
				il += rl;
			} else {
				uint8_t t[40] = {0};
				memcpy(t + 1, c + ro, rl);
				put_tlv(ints, &il, 0x02, t, rl + 1);
			}
			break;
		case SIG_R_NEGATIVE: {
			uint8_t t[2] = {0xff, 0x01};
			put_tlv(ints, &il, 0x02, t, 2);
			break;
		}
		case SIG_R_EMPTY: put_tlv(ints, &il, 0x02, ints, 0); break;
		default: put_tlv(ints, &il, 0x02, c + ro, rl); break;
		}
		put_tlv(ints, &il, 0x02, c + so, sl);
		if (sig_cases[i].edit == SIG_THIRD_INT)
			put_tlv(ints, &il, 0x02, (const uint8_t *)&zero, 1);
		put_tlv(sigv, &vl, 0x30, ints, il);
		if (sig_cases[i].edit == SIG_BYTE_AFTER)
			sigv[vl++] = 0x00;
		bits[bl++] = 0x00; /* unused bits */
		memcpy(bits + bl, sigv, vl);
		bl += vl;
		memcpy(body, c + tbs_at, tbs_end - tbs_at);
		yl = tbs_end - tbs_at;
		put_tlv(body, &yl, 0x03, bits, bl);
		put_tlv(cert, &xl, 0x30, body, yl);
		if (sig_cases[i].edit == SIG_AS_IS) {
			assert_int_equal(xl, d[1].len);
			assert_memory_equal(cert, d[1].p, xl);
		}

		int rc = x509_lite_parse(cert, xl, "cert", &x);
		if (!sig_cases[i].want) {
			assert_int_equal(rc, 0);
			assert_memory_equal(x.sig, orig.sig, 64);
		} else if (rc != ERR_INVAL || !strstr(err_msg(), sig_cases[i].want)) {
			fail_msg("case %zu: rc %d '%s', want '%s'", i, rc, err_msg(),
			         sig_cases[i].want);
		}
		(void)bsl;
		(void)sql;
	}
	for (size_t k = 0; k < n; k++)
		free(d[k].p);
}

/* ---- repeated extensions (RFC 5280 4.2) ---- */

/* DER of `cert` with its extension `dup` added once more at the end and
 * `extra` distinct unknown ones (OpenSSL re-encodes the tbsCertificate; the
 * signature no longer verifies: the reader is tested below its check). */
static size_t reencode(const struct tdx_blob *cert, int dup, int extra, uint8_t **der, char *oid,
                       size_t oidcap)
{
	const unsigned char *p = cert->p;
	X509 *o = d2i_X509(NULL, &p, (long)cert->len);
	unsigned char *out = NULL;
	int n;
	assert_non_null(o);
	if (dup >= 0) {
		X509_EXTENSION *e = X509_get_ext(o, dup);
		assert_true(OBJ_obj2txt(oid, (int)oidcap, X509_EXTENSION_get_object(e), 1) > 0);
		assert_int_equal(X509_add_ext(o, e, -1), 1);
	}
	for (int i = 0; i < extra; i++) {
		char name[32];
		ASN1_OBJECT *obj;
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
		X509_EXTENSION *e;
		snprintf(name, sizeof(name), "1.2.3.4.%d", i + 1);
		obj = OBJ_txt2obj(name, 1);
		ASN1_OCTET_STRING_set(os, (const unsigned char *)"\x05\x00", 2);
		e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
		assert_int_equal(X509_add_ext(o, e, -1), 1);
		X509_EXTENSION_free(e);
		ASN1_OBJECT_free(obj);
		ASN1_OCTET_STRING_free(os);
	}
	assert_true(i2d_re_X509_tbs(o, NULL) > 0); /* drop the cached encoding */
	n = i2d_X509(o, &out);
	assert_true(n > 0);
	X509_free(o);
	*der = out;
	return (size_t)n;
}

/* Every extension of every certificate of two real PCK chains, repeated:
 * refused with its OID named (the reader used to keep the last instance). */
static void repeated_extensions_are_refused(void **state)
{
	static const char *const quotes[] = {"tdx/phala-dcap-qvl/tdx_quote",
	                                     "tdx/google-go-tdx-guest/tdx_prod_quote_SPR_E4.dat"};
	(void)state;
	for (size_t q = 0; q < sizeof(quotes) / sizeof(quotes[0]); q++) {
		struct tdx_blob d[8];
		size_t n = quote_ders(quotes[q], d);
		for (size_t k = 0; k < n; k++) {
			const unsigned char *p = d[k].p;
			X509 *o = d2i_X509(NULL, &p, (long)d[k].len);
			int next = X509_get_ext_count(o);
			struct x509_lite x;
			uint8_t *der;
			size_t len;
			char oid[96], want[160];
			X509_free(o);
			assert_true(next >= 4);
			for (int i = 0; i < next; i++) {
				len = reencode(&d[k], i, 0, &der, oid, sizeof(oid));
				snprintf(want, sizeof(want), "duplicate extension %s", oid);
				if (x509_lite_parse(der, len, "cert", &x) != ERR_INVAL ||
				    !strstr(err_msg(), want))
					fail_msg("%s cert %zu extension %s repeated: '%s'",
					         quotes[q], k, oid, err_msg());
				OPENSSL_free(der);
			}
			/* Re-encoded with distinct extensions up to 32: read. */
			len = reencode(&d[k], -1, 32 - next, &der, oid, sizeof(oid));
			assert_int_equal(x509_lite_parse(der, len, "cert", &x), 0);
			assert_int_equal(x.sgx_ext.len != 0, k == 0);
			OPENSSL_free(der);
			len = reencode(&d[k], -1, 33 - next, &der, oid, sizeof(oid));
			assert_int_equal(x509_lite_parse(der, len, "cert", &x), ERR_UNSUPPORTED);
			assert_non_null(strstr(err_msg(), "more than 32 extensions"));
			OPENSSL_free(der);
			free(d[k].p);
		}
	}
}

/* An OID arc with a leading 0x80 byte is not DER, and would let one
 * extension pass for two. */
static void non_minimal_extension_oids_are_refused(void **state)
{
	static const uint8_t good[] = {0x06, 0x04, 0x2a, 0x03, 0x04, 0x05}; /* 1.2.3.4.5 */
	static const uint8_t bad[] = {0x06, 0x04, 0x2a, 0x80, 0x03, 0x05};  /* 1.2.3.5, padded */
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	struct x509_lite x;
	uint8_t *der, *at = NULL;
	size_t n;
	(void)state;
	n = make_cert(ec, 2, "x", 0, &der);
	for (size_t i = 0; i + sizeof(good) <= n && !at; i++)
		if (memcmp(der + i, good, sizeof(good)) == 0)
			at = der + i;
	assert_non_null(at);
	memcpy(at, bad, sizeof(bad));
	assert_int_equal(x509_lite_parse(der, n, "cert", &x), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "malformed extension OID"));
	OPENSSL_free(der);
	EVP_PKEY_free(ec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(real_certificates_match_openssl),
	    cmocka_unit_test(truncations_and_corruptions_are_refused),
	    cmocka_unit_test(real_crls_parse_and_list_their_serials),
	    cmocka_unit_test(shapes_outside_intels_pki_are_refused),
	    cmocka_unit_test(signatures_must_be_canonical_der),
	    cmocka_unit_test(repeated_extensions_are_refused),
	    cmocka_unit_test(non_minimal_extension_oids_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
