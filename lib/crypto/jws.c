/* jws.c — ES256 compact JWS, P-256 JWKs and thumbprints, see jws.h.
 *
 * Signing goes through the EC_KEY / ECDSA_do_sign path (deprecated in
 * OpenSSL 3, still supported), as p256.c's verification does: the EVP
 * layer's per-call provider lookups and context setup cost as much as the
 * curve arithmetic, and the SMS signs a token per release. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto/jws.h"

#include "crypto/p256.h"
#include "util/err.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

void b64url_encode(char *out, const uint8_t *in, size_t n)
{
	size_t i = 0, o = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url_alphabet[v >> 18];
		out[o++] = b64url_alphabet[(v >> 12) & 63];
		out[o++] = b64url_alphabet[(v >> 6) & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (n - i == 1) {
		out[o++] = b64url_alphabet[in[i] >> 2];
		out[o++] = b64url_alphabet[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
		out[o++] = b64url_alphabet[v >> 10];
		out[o++] = b64url_alphabet[(v >> 4) & 63];
		out[o++] = b64url_alphabet[(v & 15) << 2];
	}
	out[o] = '\0';
}

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int b64url_decode(const char *in, size_t len, const char *what, uint8_t **out, size_t *outlen)
{
	size_t n, o = 0;
	uint32_t acc = 0;
	int bits = 0;
	uint8_t *b;

	*out = NULL;
	*outlen = 0;
	ENSURE(len <= JWS_MAX * 2, ERR_INVAL, "%s: over %u bytes", what, JWS_MAX * 2);
	ENSURE(len % 4 != 1, ERR_INVAL, "%s: not base64url (a length of 1 mod 4)", what);
	n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
	b = malloc(n + 1);
	ENSURE(b, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value(in[i]);
		if (v < 0) {
			free(b);
			return err_set(ERR_INVAL, "%s: not base64url (character %zu)", what, i);
		}
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			b[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* the bits left over must be zero: "QQ" and "QR" would both be "A" */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
		free(b);
		return err_set(ERR_INVAL, "%s: not canonical base64url (trailing bits)", what);
	}
	b[o] = 0;
	*out = b;
	*outlen = o;
	return 0;
}

/* ---------- JWKs ---------- */

void jwk_thumbprint_p256(const uint8_t xy[64], char kid[JWS_KID_LEN + 1])
{
	/* RFC 7638 3.2: the required members only, sorted, no whitespace */
	char x[44], y[44], doc[128];
	uint8_t h[32];
	int n;

	b64url_encode(x, xy, 32);
	b64url_encode(y, xy + 32, 32);
	n = snprintf(doc, sizeof(doc),
	             "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
	SHA256((const uint8_t *)doc, (size_t)n, h);
	b64url_encode(kid, h, 32);
}

json_t *jwk_p256_json(const uint8_t xy[64])
{
	char x[44], y[44], kid[JWS_KID_LEN + 1];
	b64url_encode(x, xy, 32);
	b64url_encode(y, xy + 32, 32);
	jwk_thumbprint_p256(xy, kid);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "alg", "ES256", "crv", "P-256", "kid",
	                 kid, "kty", "EC", "use", "sig", "x", x, "y", y);
}

/* A coordinate: base64url of exactly 32 bytes. */
static int jwk_coord(const json_t *jwk, const char *name, uint8_t out[32])
{
	const char *s = json_string_value(json_object_get(jwk, name));
	uint8_t *b;
	size_t n;

	ENSURE(s, ERR_INVAL, "jwk: no \"%s\"", name);
	GUARD(b64url_decode(s, strlen(s), name, &b, &n));
	if (n != 32) {
		free(b);
		return err_set(ERR_INVAL, "jwk: \"%s\" is %zu bytes, not 32", name, n);
	}
	memcpy(out, b, 32);
	free(b);
	return 0;
}

int jwk_p256_parse(const json_t *jwk, uint8_t xy[64])
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	const json_t *alg = json_object_get(jwk, "alg"), *use = json_object_get(jwk, "use");
	struct p256_pub *k;

	ENSURE(json_is_object(jwk), ERR_INVAL, "jwk: not an object");
	ENSURE(kty && strcmp(kty, "EC") == 0, ERR_INVAL, "jwk: \"kty\" is not \"EC\"");
	ENSURE(crv && strcmp(crv, "P-256") == 0, ERR_INVAL, "jwk: \"crv\" is not \"P-256\"");
	ENSURE(!alg || (json_is_string(alg) && strcmp(json_string_value(alg), "ES256") == 0),
	       ERR_INVAL, "jwk: \"alg\" is not \"ES256\"");
	ENSURE(!use || (json_is_string(use) && strcmp(json_string_value(use), "sig") == 0),
	       ERR_INVAL, "jwk: \"use\" is not \"sig\"");
	ENSURE(!json_object_get(jwk, "d"), ERR_INVAL,
	       "jwk: a private key (\"d\") where a public key was expected");
	GUARD(jwk_coord(jwk, "x", xy));
	GUARD(jwk_coord(jwk, "y", xy + 32));
	if (p256_pub_new_xy(xy, &k) < 0)
		return err_set(ERR_INVAL, "jwk: the point is not on P-256");
	p256_pub_free(k);
	return 0;
}

/* ---------- signing ---------- */

struct jws_signer {
	EC_KEY *key;
	uint8_t xy[64];
	char kid[JWS_KID_LEN + 1];
	char *header; /* base64url of the header, then "." */
	size_t header_len;
};

int jws_signer_new(EVP_PKEY *key, const char *typ, struct jws_signer **out)
{
	struct jws_signer *s = calloc(1, sizeof(*s));
	json_t *h = NULL;
	char *text = NULL;
	int rc = 0;

	*out = NULL;
	ENSURE(s, ERR_NOMEM, "out of memory");
	s->key = EVP_PKEY_get1_EC_KEY(key);
	ENSURE_GOTO(
	    s->key && EC_GROUP_get_curve_name(EC_KEY_get0_group(s->key)) == NID_X9_62_prime256v1 &&
	        EC_KEY_get0_private_key(s->key),
	    ERR_CRYPTO, "jws: not a P-256 private key");
	GUARD_GOTO(p256_pub_xy(key, s->xy));
	jwk_thumbprint_p256(s->xy, s->kid);
	h = typ ? json_pack("{s:s,s:s,s:s}", "alg", "ES256", "kid", s->kid, "typ", typ)
	        : json_pack("{s:s,s:s}", "alg", "ES256", "kid", s->kid);
	text = h ? json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	ENSURE_GOTO(text, ERR_NOMEM, "out of memory");
	s->header_len = b64url_len(strlen(text)) + 1;
	s->header = malloc(s->header_len + 1);
	ENSURE_GOTO(s->header, ERR_NOMEM, "out of memory");
	b64url_encode(s->header, (const uint8_t *)text, strlen(text));
	s->header[s->header_len - 1] = '.';
	s->header[s->header_len] = '\0';
	*out = s;
	s = NULL;
out:
	free(text);
	json_decref(h);
	jws_signer_free(s);
	return rc;
}

void jws_signer_free(struct jws_signer *s)
{
	if (!s)
		return;
	EC_KEY_free(s->key);
	free(s->header);
	free(s);
}

const char *jws_signer_kid(const struct jws_signer *s)
{
	return s->kid;
}

void jws_signer_xy(const struct jws_signer *s, uint8_t xy[64])
{
	memcpy(xy, s->xy, 64);
}

/* floor(n / 2) for P-256's group order n, big-endian: a signature (r, s) is
 * also valid as (r, n - s), so only the half s <= n/2 is produced and
 * accepted, and a token has one signature (a token's text can then serve
 * as its identity, as in a list of tokens already seen). */
static const uint8_t p256_half_n[32] = {
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
};

int jws_sign(const struct jws_signer *s, const char *payload, size_t len, char **token)
{
	size_t plen = b64url_len(len), at;
	uint8_t h[32], raw[64];
	ECDSA_SIG *sig = NULL;
	const BIGNUM *r, *ss;
	BIGNUM *low = NULL;
	char *t;
	int rc = 0;

	*token = NULL;
	ENSURE(len <= JWS_MAX, ERR_INVAL, "jws: payload over %u bytes", JWS_MAX);
	t = malloc(s->header_len + plen + 1 + b64url_len(64) + 1);
	ENSURE(t, ERR_NOMEM, "out of memory");
	memcpy(t, s->header, s->header_len);
	b64url_encode(t + s->header_len, (const uint8_t *)payload, len);
	at = s->header_len + plen;
	GUARD_GOTO(sha256(t, at, h));
	sig = ECDSA_do_sign(h, sizeof(h), s->key);
	ENSURE_GOTO(sig, ERR_CRYPTO, "jws: ECDSA signing failed");
	ECDSA_SIG_get0(sig, &r, &ss);
	/* JWS wants r and s as 32 bytes each, big-endian, zero-padded (RFC 7518
	 * 3.4): a component below 2^248 keeps its leading zero bytes */
	ENSURE_GOTO(BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(ss, raw + 32, 32) == 32,
	            ERR_CRYPTO, "jws: signature component too large");
	if (memcmp(raw + 32, p256_half_n, 32) > 0) {
		low = BN_new();
		ENSURE_GOTO(
		    low && BN_sub(low, EC_GROUP_get0_order(EC_KEY_get0_group(s->key)), ss) == 1 &&
		        BN_bn2binpad(low, raw + 32, 32) == 32,
		    ERR_CRYPTO, "jws: normalising the signature failed");
	}
	t[at++] = '.';
	b64url_encode(t + at, raw, 64);
	*token = t;
	t = NULL;
out:
	BN_free(low);
	ECDSA_SIG_free(sig);
	free(t);
	return rc;
}

/* ---------- verification ---------- */

/* The key of the set named kid, as x||y. */
static int jwks_find(const json_t *jwks, const char *kid, uint8_t xy[64])
{
	const json_t *keys = json_object_get(jwks, "keys"), *k;
	size_t i;

	ENSURE(json_is_array(keys), ERR_INVAL, "jwks: no \"keys\" array");
	json_array_foreach (keys, i, k) {
		const char *id = json_string_value(json_object_get(k, "kid"));
		if (id && strcmp(id, kid) == 0)
			return jwk_p256_parse(k, xy);
	}
	return err_set(ERR_NOTFOUND, "jws: the key set holds no key \"%s\"", kid);
}

/* A part of the token as a JSON object. */
static int part_json(const char *p, size_t n, const char *what, json_t **out)
{
	json_error_t je;
	uint8_t *b;
	size_t len;

	*out = NULL;
	GUARD(b64url_decode(p, n, what, &b, &len));
	*out = json_loadb((const char *)b, len, JSON_REJECT_DUPLICATES, &je);
	free(b);
	ENSURE(*out, ERR_INVAL, "jws: the %s is not JSON: %s", what, je.text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return err_set(ERR_INVAL, "jws: the %s is not a JSON object", what);
	}
	return 0;
}

int jws_verify(const char *token, size_t len, const json_t *jwks, json_t **header, json_t **payload)
{
	const char *d1, *d2, *alg, *kid;
	json_t *h = NULL, *p = NULL;
	struct p256_pub *k = NULL;
	uint8_t xy[64], *sig = NULL;
	size_t slen;
	int rc = 0;

	if (header)
		*header = NULL;
	if (payload)
		*payload = NULL;
	ENSURE(len > 0 && len <= JWS_MAX, ERR_INVAL, "jws: the token is empty or over %u bytes",
	       JWS_MAX);
	ENSURE(memchr(token, '\0', len) == NULL, ERR_INVAL, "jws: a NUL byte in the token");
	d1 = memchr(token, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
	ENSURE(d1 && d2 && !memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)), ERR_INVAL,
	       "jws: not a compact JWS (three parts separated by dots)");
	GUARD_GOTO(part_json(token, (size_t)(d1 - token), "header", &h));
	alg = json_string_value(json_object_get(h, "alg"));
	/* the algorithm is ours to choose, not the token's: "none", HS256
	 * with the public key as a secret, and the rest are refused */
	ENSURE_GOTO(alg && strcmp(alg, "ES256") == 0, ERR_INVAL,
	            "jws: the header's \"alg\" is not ES256");
	ENSURE_GOTO(!json_object_get(h, "crit"), ERR_INVAL,
	            "jws: the header has critical extensions (\"crit\") this verifier does not "
	            "understand");
	kid = json_string_value(json_object_get(h, "kid"));
	ENSURE_GOTO(kid, ERR_INVAL, "jws: the header names no key (\"kid\")");
	GUARD_GOTO(jwks_find(jwks, kid, xy));
	GUARD_GOTO(b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), "signature", &sig, &slen));
	ENSURE_GOTO(slen == 64, ERR_INVAL,
	            "jws: the signature is %zu bytes, not ES256's 64 (raw r||s; DER is refused)",
	            slen);
	ENSURE_GOTO(memcmp(sig + 32, p256_half_n, 32) <= 0, ERR_VERIFY,
	            "jws: the signature's s is above n/2 (only the low-s form of an ES256 "
	            "signature is accepted)");
	GUARD_GOTO(p256_pub_new_xy(xy, &k));
	GUARD_GOTO(p256_pub_verify(k, (const uint8_t *)token, (size_t)(d2 - token), sig,
	                           "jws: the token"));
	/* signed by the key: only now is the payload read */
	GUARD_GOTO(part_json(d1 + 1, (size_t)(d2 - d1 - 1), "payload", &p));
	if (header) {
		*header = h;
		h = NULL;
	}
	if (payload) {
		*payload = p;
		p = NULL;
	}
out:
	p256_pub_free(k);
	free(sig);
	json_decref(h);
	json_decref(p);
	return rc;
}
