/* p256.h — ECDSA P-256 / SHA-256 as Intel DCAP uses it: public keys as raw
 * x||y (64 bytes), signatures as raw r||s (64 bytes).  Thin wrappers over
 * OpenSSL 3 EVP. */
#ifndef TDEXEC_CRYPTO_P256_H
#define TDEXEC_CRYPTO_P256_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "util/err.h"

MUST_CHECK int p256_keygen(EVP_PKEY **out);
/* Raw x||y of a P-256 key. */
MUST_CHECK int p256_pub_xy(EVP_PKEY *key, uint8_t out[64]);
/* EVP_PKEY for raw x||y (rejects points not on the curve). */
MUST_CHECK int p256_pub_from_xy(const uint8_t xy[64], EVP_PKEY **out);

/* Sign SHA-256(msg) and write raw r||s. */
MUST_CHECK int p256_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[64]);
/* 0 when sig (raw r||s) is a valid signature of SHA-256(msg), else
 * ERR_VERIFY (message set to "<what>: signature does not verify"). */
MUST_CHECK int p256_verify(EVP_PKEY *pub, const uint8_t *msg, size_t len, const uint8_t sig[64],
                           const char *what);

/* A public key prepared for fast repeated verification.  OpenSSL 3's EVP
 * layer costs about as much as the curve arithmetic per call (provider
 * lookups, context setup); DCAP verification is dominated by these checks,
 * so they go through the EC_KEY / ECDSA_do_verify path instead. */
struct p256_pub;
/* From raw x||y; ERR_CRYPTO if the point is not on the curve. */
MUST_CHECK int p256_pub_new_xy(const uint8_t xy[64], struct p256_pub **out);
/* From a certificate's subject public key; ERR_CRYPTO if not P-256. */
MUST_CHECK int p256_pub_new_x509(X509 *cert, struct p256_pub **out);
void p256_pub_free(struct p256_pub *k);
/* Verify raw r||s over SHA-256(msg).  0 or ERR_VERIFY ("<what>: signature
 * does not verify"). */
MUST_CHECK int p256_pub_verify(const struct p256_pub *k, const uint8_t *msg, size_t len,
                               const uint8_t sig[64], const char *what);

/* DER ECDSA-Sig-Value <-> raw r||s. */
MUST_CHECK int p256_sig_der_to_raw(const uint8_t *der, size_t len, uint8_t raw[64]);
MUST_CHECK int p256_sig_raw_to_der(const uint8_t raw[64], uint8_t **der, size_t *len);

/* PKCS#8 PEM private keys. */
MUST_CHECK int p256_key_save(const char *path, EVP_PKEY *key);
MUST_CHECK int p256_key_load(const char *path, EVP_PKEY **out);

/* SHA-256 over several parts: sha256_parts(out, 2, p1, n1, p2, n2). */
MUST_CHECK int sha256_parts(uint8_t out[32], int nparts, ...);

/* One-shot digests. */
MUST_CHECK int sha256(const void *p, size_t n, uint8_t out[32]);
MUST_CHECK int sha384(const void *p, size_t n, uint8_t out[48]);

#endif
