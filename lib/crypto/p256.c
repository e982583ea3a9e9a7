/* The EC_KEY API is deprecated in OpenSSL 3 but still supported; see the
 * note on struct p256_pub in p256.h for why it is used here. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "p256.h"

#include "util/err.h"
#include "util/file.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

int p256_keygen(EVP_PKEY **out)
{
	*out = EVP_EC_gen("P-256");
	if (!*out)
		return err_set_openssl(ERR_CRYPTO, "P-256 key generation failed");
	return 0;
}

int p256_pub_xy(EVP_PKEY *key, uint8_t out[64])
{
	uint8_t pt[65];
	size_t n = 0;

	if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &n) ||
	    n != 65 || pt[0] != 0x04) {
		/* Keys from PEM may be held compressed; ask for the uncompressed form. */
		if (!EVP_PKEY_set_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
		                                    "uncompressed") ||
		    !EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt),
		                                     &n) ||
		    n != 65 || pt[0] != 0x04)
			return err_set_openssl(ERR_CRYPTO, "not a P-256 public key");
	}
	memcpy(out, pt + 1, 64);
	return 0;
}

int p256_pub_from_xy(const uint8_t xy[64], EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM params[3];
	uint8_t pt[65];
	int rc = 0;

	*out = NULL;
	pt[0] = 0x04;
	memcpy(pt + 1, xy, 64);
	params[0] =
	    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt));
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		rc = err_set_openssl(ERR_CRYPTO, "invalid P-256 public key (not on the curve)");
		*out = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int p256_sig_der_to_raw(const uint8_t *der, size_t len, uint8_t raw[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *s;
	int ok;

	ENSURE(sig, ERR_CRYPTO, "malformed DER ECDSA signature");
	ECDSA_SIG_get0(sig, &r, &s);
	ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
	ECDSA_SIG_free(sig);
	ENSURE(ok, ERR_CRYPTO, "ECDSA signature component too large");
	return 0;
}

int p256_sig_raw_to_der(const uint8_t raw[64], uint8_t **der, size_t *len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
	unsigned char *out = NULL;
	int n;

	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		ECDSA_SIG_free(sig);
		BN_free(r);
		BN_free(s);
		return err_set(ERR_NOMEM, "out of memory");
	}
	n = i2d_ECDSA_SIG(sig, &out);
	ECDSA_SIG_free(sig);
	ENSURE(n > 0, ERR_CRYPTO, "ECDSA signature encoding failed");
	*der = out; /* OPENSSL_free() */
	*len = (size_t)n;
	return 0;
}

int p256_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[64])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t der[80];
	size_t dlen = sizeof(der);
	int rc = 0;

	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) <= 0 ||
	    EVP_DigestSign(ctx, der, &dlen, msg, len) <= 0)
		rc = err_set_openssl(ERR_CRYPTO, "ECDSA signing failed");
	EVP_MD_CTX_free(ctx);
	if (rc == 0)
		rc = p256_sig_der_to_raw(der, dlen, sig);
	return rc;
}

int p256_verify(EVP_PKEY *pub, const uint8_t *msg, size_t len, const uint8_t sig[64],
                const char *what)
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t *der = NULL;
	size_t dlen;
	int rc, v;

	GUARD(p256_sig_raw_to_der(sig, &der, &dlen));
	ctx = EVP_MD_CTX_new();
	ENSURE_GOTO(ctx, ERR_NOMEM, "out of memory");
	ENSURE_GOTO(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) > 0, ERR_CRYPTO,
	            "%s: cannot initialise verification", what);
	v = EVP_DigestVerify(ctx, der, dlen, msg, len);
	ERR_clear_error();
	ENSURE_GOTO(v == 1, ERR_VERIFY, "%s: signature does not verify", what);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return rc;
}

int p256_key_save(const char *path, EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int rc;

	ENSURE(b, ERR_NOMEM, "out of memory");
	if (!PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(b);
		return err_set_openssl(ERR_CRYPTO, "cannot encode private key");
	}
	n = BIO_get_mem_data(b, &data);
	rc = file_write(path, data, (size_t)n, 0600);
	BIO_free(b); /* a memory BIO wipes nothing: keep keys in it briefly */
	return rc;
}

int p256_key_load(const char *path, EVP_PKEY **out)
{
	uint8_t *buf;
	size_t len;
	BIO *b;

	GUARD(file_read(path, 64 * 1024, &buf, &len));
	b = BIO_new_mem_buf(buf, (int)len);
	*out = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (!*out)
		return err_set_openssl(ERR_CRYPTO, "cannot read private key");
	return 0;
}

/* The SHA256_* functions, not EVP_Digest or SHA256(): in OpenSSL 3 both
 * fetch the algorithm from the provider store per call, under its lock,
 * which threads hashing per request then contend for. */
int sha256(const void *p, size_t n, uint8_t out[32])
{
	SHA256_CTX c;
	ENSURE(SHA256_Init(&c) && SHA256_Update(&c, p, n) && SHA256_Final(out, &c), ERR_CRYPTO,
	       "SHA-256 failed");
	return 0;
}

int sha384(const void *p, size_t n, uint8_t out[48])
{
	ENSURE(EVP_Digest(p, n, out, NULL, EVP_sha384(), NULL), ERR_CRYPTO, "SHA-384 failed");
	return 0;
}

struct p256_pub {
	EC_KEY *key;
};

static EC_GROUP *group;
static pthread_once_t group_once = PTHREAD_ONCE_INIT;

static void group_init(void)
{
	group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
}

/* One shared P-256 group: EC_GROUPs are read-only once built. */
static const EC_GROUP *p256_group(void)
{
	pthread_once(&group_once, group_init);
	return group;
}

int p256_pub_new_xy(const uint8_t xy[64], struct p256_pub **out)
{
	uint8_t pt[65];
	const unsigned char *p = pt;
	struct p256_pub *k;

	*out = NULL;
	ENSURE(p256_group(), ERR_CRYPTO, "P-256 unavailable");
	k = calloc(1, sizeof(*k));
	ENSURE(k, ERR_NOMEM, "out of memory");
	k->key = EC_KEY_new();
	pt[0] = 0x04;
	memcpy(pt + 1, xy, 64);
	/* o2i decodes the point and checks it lies on the curve. */
	if (!k->key || !EC_KEY_set_group(k->key, p256_group()) ||
	    !o2i_ECPublicKey(&k->key, &p, sizeof(pt))) {
		p256_pub_free(k);
		return err_set_openssl(ERR_CRYPTO, "invalid P-256 public key (not on the curve)");
	}
	*out = k;
	return 0;
}

int p256_pub_new_x509(X509 *cert, struct p256_pub **out)
{
	EVP_PKEY *pk = X509_get0_pubkey(cert);
	const EC_KEY *ek = pk ? EVP_PKEY_get0_EC_KEY(pk) : NULL;
	struct p256_pub *k;

	*out = NULL;
	ENSURE(ek && EC_GROUP_get_curve_name(EC_KEY_get0_group(ek)) == NID_X9_62_prime256v1,
	       ERR_CRYPTO, "certificate key is not a P-256 key");
	k = calloc(1, sizeof(*k));
	ENSURE(k, ERR_NOMEM, "out of memory");
	k->key = EC_KEY_dup(ek);
	if (!k->key) {
		free(k);
		return err_set(ERR_NOMEM, "out of memory");
	}
	*out = k;
	return 0;
}

void p256_pub_free(struct p256_pub *k)
{
	if (!k)
		return;
	EC_KEY_free(k->key);
	free(k);
}

int p256_pub_verify(const struct p256_pub *k, const uint8_t *msg, size_t len, const uint8_t sig[64],
                    const char *what)
{
	uint8_t h[32];
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *sv = BN_bin2bn(sig + 32, 32, NULL);
	int v;

	if (!s || !r || !sv || !ECDSA_SIG_set0(s, r, sv)) {
		ECDSA_SIG_free(s);
		BN_free(r);
		BN_free(sv);
		return err_set(ERR_NOMEM, "out of memory");
	}
	if (sha256(msg, len, h) < 0) {
		ECDSA_SIG_free(s);
		return ERR_CRYPTO;
	}
	v = ECDSA_do_verify(h, sizeof(h), s, k->key);
	ECDSA_SIG_free(s);
	ERR_clear_error();
	ENSURE(v == 1, ERR_VERIFY, "%s: signature does not verify", what);
	return 0;
}

int sha256_parts(uint8_t out[32], int nparts, ...)
{
	SHA256_CTX c;
	va_list ap;

	SHA256_Init(&c);
	va_start(ap, nparts);
	for (int i = 0; i < nparts; i++) {
		const void *p = va_arg(ap, const void *);
		size_t n = va_arg(ap, size_t);
		SHA256_Update(&c, p, n);
	}
	va_end(ap);
	SHA256_Final(out, &c);
	OPENSSL_cleanse(&c, sizeof(c));
	return 0;
}
