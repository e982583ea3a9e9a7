/* SHA256_CTX (deprecated in OpenSSL 3, still supported) for HMAC: see
 * hkdf_sha256 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "aead.h"

#include "util/err.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* AES-256-GCM fetched from the provider once: EVP_aes_256_gcm() is a legacy
 * handle that every EVP_CipherInit_ex looks up again (a locked method-store
 * search), a measurable part of sealing a release's session. */
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *gcm_cipher;

static void gcm_fetch(void)
{
	gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static int gcm(int enc, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
               size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *c = NULL;
	int n = 0, f = 0, ok;

	ENSURE(len <= INT32_MAX && aad_len <= INT32_MAX, ERR_TOOBIG, "AES-GCM: input too large");
	pthread_once(&gcm_once, gcm_fetch);
	ENSURE(gcm_cipher, ERR_CRYPTO, "AES-GCM: the cipher is not available");
	c = EVP_CIPHER_CTX_new();
	ok = c && EVP_CipherInit_ex2(c, gcm_cipher, key, nonce, enc, NULL) == 1 &&
	     (aad_len == 0 || EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) == 1) &&
	     (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, AEAD_TAG, tag) == 1;
	if (ok)
		ok = EVP_CipherFinal_ex(c, out + (len ? n : 0), &f) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, AEAD_TAG, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	ERR_clear_error();
	if (!ok)
		return enc ? err_set(ERR_CRYPTO, "AES-GCM: encryption failed")
		           : err_set(ERR_VERIFY, "AES-GCM: authentication failed");
	return 0;
}

int aes256gcm_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
                   size_t aad_len, const uint8_t *in, size_t len, uint8_t *out)
{
	return gcm(1, key, nonce, aad, aad_len, in, len, out, out + len);
}

int aes256gcm_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
                   size_t aad_len, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t tag[AEAD_TAG];
	ENSURE(len >= AEAD_TAG, ERR_VERIFY, "AES-GCM: ciphertext shorter than its tag");
	memcpy(tag, in + len - AEAD_TAG, AEAD_TAG);
	return gcm(0, key, nonce, aad, aad_len, in, len - AEAD_TAG, out, tag);
}

/* X25519 by libsodium, not by OpenSSL's EVP: every EVP call imports the
 * raw key into a provider object (a method fetch, an allocation, and for a
 * private key its public half computed again), which cost a release's seal
 * more than the two scalar multiplications it needs.  libsodium's are
 * constant-time and checked against RFC 7748 and OpenSSL (test_aead). */
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok;

static void sodium_start(void)
{
	sodium_ok = sodium_init() >= 0;
}

static int sodium_ready(void)
{
	pthread_once(&sodium_once, sodium_start);
	ENSURE(sodium_ok, ERR_CRYPTO, "X25519: libsodium did not initialise");
	return 0;
}

int x25519_public(const uint8_t priv[32], uint8_t pub[32])
{
	GUARD(sodium_ready());
	ENSURE(crypto_scalarmult_curve25519_base(pub, priv) == 0, ERR_CRYPTO,
	       "X25519: bad private key");
	return 0;
}

int x25519_keygen(uint8_t priv[32], uint8_t pub[32])
{
	ENSURE(RAND_priv_bytes(priv, 32) == 1, ERR_CRYPTO, "X25519: key generation failed");
	return x25519_public(priv, pub);
}

/* ERR_CRYPTO on a low-order peer key: libsodium refuses the all-zero
 * secret it gives. */
int x25519_shared(const uint8_t priv[32], const uint8_t peer[32], uint8_t out[32])
{
	GUARD(sodium_ready());
	ENSURE(crypto_scalarmult_curve25519(out, priv, peer) == 0, ERR_CRYPTO,
	       "X25519: key agreement failed (low-order peer key?)");
	return 0;
}

/* HMAC-SHA256 (RFC 2104) keyed once: the inner and outer hash states after
 * their padded key block, copied for each message. */
struct hmac256 {
	SHA256_CTX in, out;
};

static void hmac256_key(struct hmac256 *h, const uint8_t *key, size_t len)
{
	uint8_t k[64] = {0}, pad[64];

	if (len > sizeof(k)) {
		SHA256_Init(&h->in);
		SHA256_Update(&h->in, key, len);
		SHA256_Final(k, &h->in);
	} else if (len) {
		memcpy(k, key, len);
	}
	for (size_t i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	SHA256_Init(&h->in);
	SHA256_Update(&h->in, pad, 64);
	for (size_t i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	SHA256_Init(&h->out);
	SHA256_Update(&h->out, pad, 64);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
}

/* HMAC of the concatenation of up to three parts (NULL or empty: none) */
static void hmac256(const struct hmac256 *h, const uint8_t *a, size_t alen, const uint8_t *b,
                    size_t blen, const uint8_t *c, size_t clen, uint8_t mac[32])
{
	SHA256_CTX x = h->in;
	uint8_t inner[32];

	SHA256_Update(&x, a, alen);
	SHA256_Update(&x, b, blen);
	SHA256_Update(&x, c, clen);
	SHA256_Final(inner, &x);
	x = h->out;
	SHA256_Update(&x, inner, sizeof(inner));
	SHA256_Final(mac, &x);
	OPENSSL_cleanse(inner, sizeof(inner));
	OPENSSL_cleanse(&x, sizeof(x));
}

/* RFC 5869 on OpenSSL's SHA-256 (its assembly uses the CPU's SHA
 * extensions), the HMAC states keyed once: OpenSSL's own HKDF is an
 * EVP_PKEY_CTX made (a provider fetch) per call, and libsodium's HMAC runs
 * a portable SHA-256; either was several times the cost of this. */
int hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
	static const uint8_t nosalt[32];
	struct hmac256 h;
	uint8_t prk[32], t[32];
	size_t done = 0;

	ENSURE(out_len <= 255 * 32, ERR_INVAL, "HKDF-SHA256: output too long");
	/* extract: no salt is HashLen zeros */
	hmac256_key(&h, salt_len ? salt : nosalt, salt_len ? salt_len : 32);
	hmac256(&h, ikm, ikm_len, NULL, 0, NULL, 0, prk);
	hmac256_key(&h, prk, sizeof(prk));
	for (uint8_t i = 1; done < out_len; i++) {
		size_t n = out_len - done < 32 ? out_len - done : 32;
		/* T(i) = HMAC(PRK, T(i-1) || info || i), T(0) empty */
		hmac256(&h, t, i > 1 ? sizeof(t) : 0, info, info_len, &i, 1, t);
		memcpy(out + done, t, n);
		done += n;
	}
	OPENSSL_cleanse(&h, sizeof(h));
	OPENSSL_cleanse(prk, sizeof(prk));
	OPENSSL_cleanse(t, sizeof(t));
	return 0;
}

/* key for (label, ephemeral public, recipient public) from the shared secret */
static int seal_key(const uint8_t shared[32], const char *label, const uint8_t epk[32],
                    const uint8_t rpk[32], uint8_t key[32])
{
	uint8_t info[256];
	size_t l = strlen(label);
	ENSURE(l <= sizeof(info) - 64, ERR_INVAL, "seal: label too long");
	memcpy(info, label, l);
	memcpy(info + l, epk, 32);
	memcpy(info + l + 32, rpk, 32);
	return hkdf_sha256(shared, 32, NULL, 0, info, l + 64, key, 32);
}

int seal_to(const uint8_t recipient[32], const char *label, const uint8_t *in, size_t len,
            uint8_t **out, size_t *out_len)
{
	uint8_t eph[32 + AEAD_NONCE], shared[32], key[32], *o;
	int rc = 0;

	ENSURE(len <= (1u << 30), ERR_TOOBIG, "seal: message too large");
	o = malloc(len + SEAL_OVERHEAD);
	ENSURE(o, ERR_NOMEM, "out of memory");
	/* the ephemeral key and the nonce from one draw of the private
	 * generator: each draw locks it and checks for a fork (a getpid) */
	ENSURE_GOTO(RAND_priv_bytes(eph, sizeof(eph)) == 1, ERR_CRYPTO,
	            "seal: no randomness for the ephemeral key");
	memcpy(o + 32, eph + 32, AEAD_NONCE);
	GUARD_GOTO(x25519_public(eph, o));
	GUARD_GOTO(x25519_shared(eph, recipient, shared));
	GUARD_GOTO(seal_key(shared, label, o, recipient, key));
	GUARD_GOTO(aes256gcm_seal(key, o + 32, o, 32, in, len, o + 32 + AEAD_NONCE));
	*out = o;
	*out_len = len + SEAL_OVERHEAD;
	o = NULL;
out:
	OPENSSL_cleanse(eph, sizeof(eph));
	OPENSSL_cleanse(shared, sizeof(shared));
	OPENSSL_cleanse(key, sizeof(key));
	free(o);
	return rc;
}

int seal_open(const uint8_t priv[32], const char *label, const uint8_t *in, size_t len,
              uint8_t **out, size_t *out_len)
{
	uint8_t pub[32], shared[32], key[32], *o = NULL;
	int rc = 0;

	ENSURE(len >= SEAL_OVERHEAD, ERR_VERIFY, "seal: message too short");
	GUARD(x25519_public(priv, pub));
	GUARD_GOTO(x25519_shared(priv, in, shared));
	GUARD_GOTO(seal_key(shared, label, in, pub, key));
	o = malloc(len - SEAL_OVERHEAD + 1);
	ENSURE_GOTO(o, ERR_NOMEM, "out of memory");
	GUARD_GOTO(
	    aes256gcm_open(key, in + 32, in, 32, in + 32 + AEAD_NONCE, len - 32 - AEAD_NONCE, o));
	*out = o;
	*out_len = len - SEAL_OVERHEAD;
	o = NULL;
out:
	OPENSSL_cleanse(shared, sizeof(shared));
	OPENSSL_cleanse(key, sizeof(key));
	free(o);
	return rc;
}

int aes256cbc_seal(const uint8_t key[32], const uint8_t *in, size_t len, uint8_t **out,
                   size_t *out_len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n1 = 0, n2 = 0, rc = 0;

	*out = NULL;
	ENSURE(len <= INT32_MAX - 32, ERR_TOOBIG, "aes-cbc: input too large");
	if (!c || !(*out = malloc(len + 32)))
		rc = err_set(ERR_NOMEM, "out of memory");
	else if (RAND_bytes(*out, 16) != 1)
		rc = err_set(ERR_CRYPTO, "no randomness");
	else if (EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, key, *out) != 1 ||
	         EVP_EncryptUpdate(c, *out + 16, &n1, in, (int)len) != 1 ||
	         EVP_EncryptFinal_ex(c, *out + 16 + n1, &n2) != 1)
		rc = err_set(ERR_CRYPTO, "aes-cbc: encryption failed");
	EVP_CIPHER_CTX_free(c);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		return rc;
	}
	*out_len = 16 + (size_t)n1 + (size_t)n2;
	return 0;
}

int aes256cbc_open(const uint8_t key[32], const uint8_t *in, size_t len, uint8_t **out,
                   size_t *out_len)
{
	EVP_CIPHER_CTX *c = NULL;
	int n1 = 0, n2 = 0, rc = 0;

	*out = NULL;
	ENSURE(len >= 32 && (len - 16) % 16 == 0 && len <= INT32_MAX, ERR_INVAL,
	       "aes-cbc: %zu bytes is not IV + whole blocks", len);
	if (!(c = EVP_CIPHER_CTX_new()) || !(*out = malloc(len)))
		rc = err_set(ERR_NOMEM, "out of memory");
	else if (EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, key, in) != 1 ||
	         EVP_DecryptUpdate(c, *out, &n1, in + 16, (int)(len - 16)) != 1 ||
	         EVP_DecryptFinal_ex(c, *out + n1, &n2) != 1)
		rc = err_set(ERR_VERIFY, "aes-cbc: wrong key or damaged data");
	EVP_CIPHER_CTX_free(c);
	if (rc < 0) {
		if (*out)
			OPENSSL_cleanse(*out, len);
		free(*out);
		*out = NULL;
		return rc;
	}
	*out_len = (size_t)n1 + (size_t)n2;
	return 0;
}

static EVP_PKEY *pem_key(const char *pem, int private_key)
{
	EVP_PKEY *k = NULL;
	uint8_t *dec = NULL;
	size_t dlen = 0;
	BIO *b;

	/* iExec's SMS may hold the PEM itself base64-encoded. */
	if (!strstr(pem, "-----BEGIN")) {
		int n;
		size_t len = strlen(pem);
		dec = malloc(len + 1);
		if (!dec)
			return NULL;
		n = EVP_DecodeBlock(dec, (const unsigned char *)pem, (int)len);
		if (n <= 0) {
			free(dec);
			return NULL;
		}
		dlen = (size_t)n;
		while (dlen && dec[dlen - 1] == 0)
			dlen--;
	}
	b = dec ? BIO_new_mem_buf(dec, (int)dlen) : BIO_new_mem_buf(pem, -1);
	if (b)
		k = private_key ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)
		                : PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	free(dec);
	return k;
}

int rsa_wrap_key(const char *public_pem, const uint8_t key[32], uint8_t **out, size_t *out_len)
{
	EVP_PKEY *k = pem_key(public_pem, 0);
	EVP_PKEY_CTX *c = NULL;
	size_t n = 0;
	int rc = 0;

	*out = NULL;
	ENSURE(k, ERR_INVAL, "result key: not an RSA public key (PEM)");
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA || !(c = EVP_PKEY_CTX_new(k, NULL)) ||
	    EVP_PKEY_encrypt_init(c) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_encrypt(c, NULL, &n, key, 32) != 1 || !(*out = malloc(n)) ||
	    EVP_PKEY_encrypt(c, *out, &n, key, 32) != 1)
		rc = err_set(ERR_CRYPTO, "result key: RSA encryption failed");
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(k);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		return rc;
	}
	*out_len = n;
	return 0;
}

int rsa_unwrap_key(const char *private_pem, const uint8_t *in, size_t len, uint8_t key[32])
{
	EVP_PKEY *k = pem_key(private_pem, 1);
	EVP_PKEY_CTX *c = NULL;
	uint8_t buf[1024];
	size_t n = sizeof(buf);
	int rc = 0;

	ENSURE(k, ERR_INVAL, "result key: not a PEM private key");
	if (!(c = EVP_PKEY_CTX_new(k, NULL)) || EVP_PKEY_decrypt_init(c) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) != 1 ||
	    EVP_PKEY_decrypt(c, buf, &n, in, len) != 1 || n != 32)
		rc = err_set(ERR_VERIFY, "result key: cannot decrypt the AES key with this key");
	else
		memcpy(key, buf, 32);
	OPENSSL_cleanse(buf, sizeof(buf));
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(k);
	return rc;
}
