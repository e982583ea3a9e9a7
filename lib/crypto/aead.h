/* aead.h — AES-256-GCM, X25519, HKDF-SHA256 (OpenSSL 3), and sealing a
 * message to an X25519 public key:
 *
 *   sealed = ephemeral public key (32) || nonce (12) || ciphertext || tag (16)
 *   key    = HKDF-SHA256(ikm = X25519(ephemeral, recipient), salt = "",
 *                        info = label || ephemeral public || recipient public)
 *
 * The label separates uses (a task session, a stored secret...). */
#ifndef TDEXEC_CRYPTO_AEAD_H
#define TDEXEC_CRYPTO_AEAD_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define AEAD_KEY      32
#define AEAD_NONCE    12
#define AEAD_TAG      16
#define SEAL_OVERHEAD (32 + AEAD_NONCE + AEAD_TAG)

/* out = ciphertext || tag (len + 16 bytes).  aad may be NULL. */
MUST_CHECK int aes256gcm_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
                              size_t aad_len, const uint8_t *in, size_t len, uint8_t *out);
/* in = ciphertext || tag; out gets len - 16 bytes.  ERR_VERIFY on a bad tag. */
MUST_CHECK int aes256gcm_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
                              size_t aad_len, const uint8_t *in, size_t len, uint8_t *out);

MUST_CHECK int x25519_keygen(uint8_t priv[32], uint8_t pub[32]);
MUST_CHECK int x25519_public(const uint8_t priv[32], uint8_t pub[32]);
/* ERR_CRYPTO for a low-order peer key (all-zero shared secret). */
MUST_CHECK int x25519_shared(const uint8_t priv[32], const uint8_t peer[32], uint8_t out[32]);

MUST_CHECK int hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                           const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len);

/* Seal `len` bytes to `recipient` (X25519 public key); *out is new (free()),
 * *out_len = len + SEAL_OVERHEAD. */
MUST_CHECK int seal_to(const uint8_t recipient[32], const char *label, const uint8_t *in,
                       size_t len, uint8_t **out, size_t *out_len);
/* Open with the recipient's private key; ERR_VERIFY if tampered or not
 * for this key or label. */
MUST_CHECK int seal_open(const uint8_t priv[32], const char *label, const uint8_t *in, size_t len,
                         uint8_t **out, size_t *out_len);

/* iExec's file encryption (datasets, results): a random IV (16) followed by
 * AES-256-CBC with PKCS#7 padding.  *out is new (free()). */
MUST_CHECK int aes256cbc_seal(const uint8_t key[32], const uint8_t *in, size_t len, uint8_t **out,
                              size_t *out_len);
/* ERR_VERIFY when the padding does not check (wrong key or damaged data). */
MUST_CHECK int aes256cbc_open(const uint8_t key[32], const uint8_t *in, size_t len, uint8_t **out,
                              size_t *out_len);
/* The key of an iExec encrypted result: RSA PKCS#1 v1.5 with the
 * beneficiary's public key (PEM "BEGIN PUBLIC KEY", or that PEM in base64,
 * as iExec's SMS may hold it).  *out is new (free()). */
MUST_CHECK int rsa_wrap_key(const char *public_pem, const uint8_t key[32], uint8_t **out,
                            size_t *out_len);
/* The other way, with the beneficiary's PEM private key. */
MUST_CHECK int rsa_unwrap_key(const char *private_pem, const uint8_t *in, size_t len,
                              uint8_t key[32]);
#endif
