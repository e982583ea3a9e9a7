/* ratls.c — RA-TLS certificates, see ratls.h. */
#include "tdx/ratls.h"

#include "util/err.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

int tdx_ratls_report_data(const uint8_t *spki, size_t len, uint8_t out[64])
{
	int ok;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;
	ok = c && EVP_DigestInit_ex(c, EVP_sha512(), NULL) == 1 &&
	     EVP_DigestUpdate(c, TDX_RATLS_TAG, sizeof(TDX_RATLS_TAG) - 1) == 1 &&
	     EVP_DigestUpdate(c, spki, len) == 1 && EVP_DigestFinal_ex(c, out, &n) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : err_set(ERR_CRYPTO, "ratls: SHA-512 failed");
}

/* The key's SubjectPublicKeyInfo DER (OPENSSL_free()). */
static int spki_der(EVP_PKEY *k, uint8_t **der, size_t *len)
{
	int n;
	*der = NULL;
	n = i2d_PUBKEY(k, der);
	ENSURE(n > 0, ERR_CRYPTO, "ratls: cannot encode the public key");
	*len = (size_t)n;
	return 0;
}

static char *pem_text(int (*write)(BIO *, void *), void *obj)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;
	if (b && write(b, obj) == 1 && (n = BIO_get_mem_data(b, &data)) > 0) {
		out = malloc((size_t)n + 1);
		if (out) {
			memcpy(out, data, (size_t)n);
			out[n] = '\0';
		}
		OPENSSL_cleanse(data, (size_t)n);
	}
	BIO_free(b);
	return out;
}

static int write_cert(BIO *b, void *x)
{
	return PEM_write_bio_X509(b, x);
}

static int write_key(BIO *b, void *k)
{
	return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

/* The quote as extension TDX_RATLS_OID: a DER OCTET STRING. */
static int add_quote_ext(X509 *x, const uint8_t *quote, size_t qlen)
{
	ASN1_OCTET_STRING *inner = ASN1_OCTET_STRING_new(), *outer = ASN1_OCTET_STRING_new();
	ASN1_OBJECT *oid = OBJ_txt2obj(TDX_RATLS_OID, 1);
	X509_EXTENSION *ext = NULL;
	uint8_t *der = NULL;
	int n = -1, rc = 0;

	if (inner && outer && oid && ASN1_OCTET_STRING_set(inner, quote, (int)qlen) == 1)
		n = i2d_ASN1_OCTET_STRING(inner, &der);
	if (n > 0 && ASN1_OCTET_STRING_set(outer, der, n) == 1)
		ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, outer);
	if (!ext || X509_add_ext(x, ext, -1) != 1)
		rc = err_set(ERR_CRYPTO, "ratls: cannot add the quote extension");
	X509_EXTENSION_free(ext);
	OPENSSL_free(der);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(inner);
	ASN1_OCTET_STRING_free(outer);
	return rc;
}

int tdx_ratls_make(const struct tdx_provider *p, const char *subject, long days, char **cert_pem,
		   char **key_pem)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	uint8_t *spki = NULL, rd[64], *quote = NULL, serial[16];
	size_t spki_len = 0, qlen = 0;
	BIGNUM *bn = NULL;
	int rc = 0;

	*cert_pem = *key_pem = NULL;
	ENSURE_GOTO(k && x, ERR_CRYPTO, "ratls: cannot make a key");
	GUARD_GOTO(spki_der(k, &spki, &spki_len));
	GUARD_GOTO(tdx_ratls_report_data(spki, spki_len, rd));
	GUARD_GOTO(tdx_provider_quote(p, rd, &quote, &qlen));
	ENSURE_GOTO(RAND_bytes(serial, sizeof(serial)) == 1, ERR_CRYPTO, "ratls: no randomness");
	serial[0] &= 0x7f; /* a positive serial number */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	name = X509_get_subject_name(x);
	ENSURE_GOTO(bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
			    X509_set_version(x, X509_VERSION_3) == 1 &&
			    X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
			    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L) &&
			    X509_set_pubkey(x, k) == 1 &&
			    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
						       (const unsigned char *)subject, -1, -1,
						       0) == 1 &&
			    X509_set_issuer_name(x, name) == 1,
		    ERR_CRYPTO, "ratls: cannot fill the certificate");
	GUARD_GOTO(add_quote_ext(x, quote, qlen));
	ENSURE_GOTO(X509_sign(x, k, EVP_sha256()) > 0, ERR_CRYPTO, "ratls: cannot sign");
	*cert_pem = pem_text(write_cert, x);
	*key_pem = pem_text(write_key, k);
	if (!*cert_pem || !*key_pem) {
		free(*cert_pem);
		free(*key_pem);
		*cert_pem = *key_pem = NULL;
		rc = err_set(ERR_NOMEM, "ratls: cannot encode the certificate");
	}
out:
	BN_free(bn);
	free(quote);
	OPENSSL_free(spki);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

/* The certificate (DER, wholly) and its quote extension's content. */
static int cert_parts(const uint8_t *der, size_t len, X509 **out, uint8_t **quote, size_t *qlen)
{
	const uint8_t *p = der, *d;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	ASN1_OBJECT *oid = OBJ_txt2obj(TDX_RATLS_OID, 1);
	ASN1_OCTET_STRING *inner = NULL;
	int rc = 0, at, n;

	*out = NULL;
	*quote = NULL;
	ENSURE_GOTO(x && oid && p == der + len, ERR_INVAL, "ratls: the certificate does not parse");
	at = X509_get_ext_by_OBJ(x, oid, -1);
	ENSURE_GOTO(at >= 0, ERR_NOTFOUND, "ratls: the certificate carries no TD quote (%s)",
		    TDX_RATLS_OID);
	ENSURE_GOTO(X509_get_ext_by_OBJ(x, oid, at) < 0, ERR_INVAL,
		    "ratls: the certificate carries two TD quotes");
	const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(X509_get_ext(x, at));
	d = ASN1_STRING_get0_data(val);
	n = ASN1_STRING_length(val);
	p = d;
	inner = d2i_ASN1_OCTET_STRING(NULL, &p, n);
	ENSURE_GOTO(inner && p == d + n && ASN1_STRING_length(inner) > 0, ERR_INVAL,
		    "ratls: the quote extension is not one OCTET STRING");
	*qlen = (size_t)ASN1_STRING_length(inner);
	*quote = malloc(*qlen);
	ENSURE_GOTO(*quote, ERR_NOMEM, "out of memory");
	memcpy(*quote, ASN1_STRING_get0_data(inner), *qlen);
	*out = x;
	x = NULL;
out:
	ASN1_OCTET_STRING_free(inner);
	ASN1_OBJECT_free(oid);
	X509_free(x);
	return rc;
}

int tdx_ratls_quote(const uint8_t *der, size_t len, uint8_t **quote, size_t *qlen)
{
	X509 *x;
	GUARD(cert_parts(der, len, &x, quote, qlen));
	X509_free(x);
	return 0;
}

int tdx_ratls_check(struct tdx_gate *g, const uint8_t *der, size_t len, struct tdx_verdict *v)
{
	struct tdx_quote *q = NULL;
	uint8_t *quote = NULL, *spki = NULL, rd[64];
	size_t qlen = 0, spki_len = 0;
	X509 *x = NULL;
	int rc;

	memset(v, 0, sizeof(*v));
	GUARD_GOTO(cert_parts(der, len, &x, &quote, &qlen));
	GUARD_GOTO(spki_der(X509_get0_pubkey(x), &spki, &spki_len));
	GUARD_GOTO(tdx_ratls_report_data(spki, spki_len, rd));
	GUARD_GOTO(tdx_gate_check(g, quote, qlen, &q, v));
	ENSURE_GOTO(CRYPTO_memcmp(rd, q->body.report_data, 64) == 0, ERR_VERIFY,
		    "ratls: the quote's REPORTDATA does not bind the certificate's key");
out:
	tdx_quote_free(q);
	OPENSSL_free(spki);
	free(quote);
	X509_free(x);
	return rc;
}

int tdx_ratls_peer_check(void *gate, const uint8_t *der, size_t len)
{
	struct tdx_verdict v;
	return tdx_ratls_check(gate, der, len, &v);
}
