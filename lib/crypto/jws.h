/* jws.h — JSON Web Signatures (RFC 7515) in compact form, ES256 only
 * (ECDSA P-256 with SHA-256, the signature as raw r||s, RFC 7518 3.4), the
 * JWKs of P-256 public keys (RFC 7517, 7518 6.2) and their thumbprints
 * (RFC 7638): what attestation-result tokens need, and no more, so that no
 * "alg" a token names can choose how it is checked. */
#ifndef TDEXEC_CRYPTO_JWS_H
#define TDEXEC_CRYPTO_JWS_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

/* The largest token, header and payload accepted (decoded or not). */
#define JWS_MAX (64u << 10)
/* A thumbprint in base64url: 43 characters for SHA-256. */
#define JWS_KID_LEN 43

/* base64url without padding (RFC 7515 section 2): the encoded length of n
 * bytes; encode into out (b64url_len(n) + 1 bytes, NUL-ended). */
size_t b64url_len(size_t n);
void b64url_encode(char *out, const uint8_t *in, size_t n);
/* Strict decode of `len` characters: the URL-safe alphabet only, no padding,
 * no whitespace, no length of 1 mod 4, and the unused low bits of the last
 * character zero (so one byte string has one encoding).  A new buffer in
 * *out (free()), NUL-ended for convenience.  ERR_INVAL naming `what`. */
MUST_CHECK int b64url_decode(const char *in, size_t len, const char *what, uint8_t **out,
                             size_t *outlen);

/* RFC 7638 thumbprint of a P-256 public key (raw x||y): base64url of
 * SHA-256 of {"crv":"P-256","kty":"EC","x":...,"y":...}. */
void jwk_thumbprint_p256(const uint8_t xy[64], char kid[JWS_KID_LEN + 1]);
/* The public JWK {"alg":"ES256","crv":"P-256","kid":thumbprint,"kty":"EC",
 * "use":"sig","x","y"} (new reference, NULL out of memory). */
json_t *jwk_p256_json(const uint8_t xy[64]);
/* x||y of a JWK: "kty" EC, "crv" P-256, x and y of 32 bytes each, the point
 * on the curve, "alg" (if any) ES256, "use" (if any) sig.  ERR_INVAL says
 * which member is wrong. */
MUST_CHECK int jwk_p256_parse(const json_t *jwk, uint8_t xy[64]);

/* A P-256 private key prepared for signing many tokens: the header, the
 * same for each, encoded once. */
struct jws_signer;
/* typ: the header's "typ" (NULL: none).  The key is copied. */
MUST_CHECK int jws_signer_new(EVP_PKEY *key, const char *typ, struct jws_signer **out);
void jws_signer_free(struct jws_signer *s);
const char *jws_signer_kid(const struct jws_signer *s);
void jws_signer_xy(const struct jws_signer *s, uint8_t xy[64]);
/* header.payload.signature of `payload` (JSON text, len bytes): a new
 * string in *token (free()).  The signature's s is in its low form
 * (s <= n/2).  Thread-safe. */
MUST_CHECK int jws_sign(const struct jws_signer *s, const char *payload, size_t len, char **token);

/* Check a compact token against a JWK Set ({"keys": [...]}): three parts;
 * a header that is a JSON object with "alg" exactly "ES256", no "crit",
 * and a "kid" naming one key of the set; a signature of 64 bytes, its s at
 * most n/2 (the other of the two valid forms refused), that verifies.  Only then is the payload decoded: a JSON object.  0 with new
 * references in *header and *payload (either may be NULL: not wanted);
 * ERR_INVAL for a malformed token or set, ERR_NOTFOUND for a kid the set
 * does not hold, ERR_VERIFY for a signature that does not verify. */
MUST_CHECK int jws_verify(const char *token, size_t len, const json_t *jwks, json_t **header,
                          json_t **payload);

#endif
