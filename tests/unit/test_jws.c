/* ES256 JWS and P-256 JWKs: base64url against RFC 4648's vectors and its
 * non-canonical forms, the ES256 example of RFC 7515 appendix A.3, and the
 * refusals of jws_verify (algorithm, key, signature form, tampering). */
#include "testutil.h"

#include "crypto/jws.h"
#include "crypto/p256.h"
#include "util/err.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <stdlib.h>
#include <string.h>

static void b64url_roundtrip(const char *plain, const char *want)
{
	char out[64];
	uint8_t *back;
	size_t n;

	assert_int_equal(b64url_len(strlen(plain)), strlen(want));
	b64url_encode(out, (const uint8_t *)plain, strlen(plain));
	assert_string_equal(out, want);
	assert_int_equal(b64url_decode(want, strlen(want), "t", &back, &n), 0);
	assert_int_equal(n, strlen(plain));
	assert_memory_equal(back, plain, n);
	free(back);
}

/* RFC 4648 section 10, in the URL-safe alphabet without padding. */
static void b64url_matches_rfc4648(void **state)
{
	static const uint8_t hi[] = {0xfb, 0xff, 0xfe};
	char out[8];
	(void)state;
	b64url_roundtrip("", "");
	b64url_roundtrip("f", "Zg");
	b64url_roundtrip("fo", "Zm8");
	b64url_roundtrip("foo", "Zm9v");
	b64url_roundtrip("foob", "Zm9vYg");
	b64url_roundtrip("fooba", "Zm9vYmE");
	b64url_roundtrip("foobar", "Zm9vYmFy");
	b64url_encode(out, hi, 3); /* "+//+" in standard base64 */
	assert_string_equal(out, "-__-");
}

static int dec(const char *s)
{
	uint8_t *b = NULL;
	size_t n;
	int rc = b64url_decode(s, strlen(s), "t", &b, &n);
	free(b);
	return rc;
}

/* One byte string, one encoding: padding, the standard alphabet,
 * whitespace, impossible lengths and non-zero trailing bits are refused. */
static void b64url_refuses_other_forms(void **state)
{
	(void)state;
	assert_int_equal(dec("Zg=="), ERR_INVAL);
	assert_int_equal(dec("Zm9v+w"), ERR_INVAL);
	assert_int_equal(dec("Zm9v/w"), ERR_INVAL);
	assert_int_equal(dec("Zm 9v"), ERR_INVAL);
	assert_int_equal(dec("Zm9vY"), ERR_INVAL); /* 1 mod 4 */
	assert_int_equal(dec("Zh"), ERR_INVAL);    /* "Zg" with a low bit set */
	assert_int_equal(dec("Zm9"), ERR_INVAL);   /* "Zm8" with a low bit set */
	assert_int_equal(dec("Zm8"), 0);
}

/* RFC 7515 appendix A.3: the ES256 example, whose signature is raw r||s. */
static void verifies_rfc7515_es256_example(void **state)
{
	static const char input[] =
	    "eyJhbGciOiJFUzI1NiJ9."
	    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ij"
	    "p0cnVlfQ";
	static const char sig_b64[] =
	    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
	json_t *jwk = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x",
	                        "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y",
	                        "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
	uint8_t xy[64], *sig;
	size_t n;
	struct p256_pub *k;
	(void)state;

	assert_int_equal(jwk_p256_parse(jwk, xy), 0);
	assert_int_equal(b64url_decode(sig_b64, strlen(sig_b64), "sig", &sig, &n), 0);
	assert_int_equal(n, 64);
	assert_int_equal(p256_pub_new_xy(xy, &k), 0);
	assert_int_equal(p256_pub_verify(k, (const uint8_t *)input, strlen(input), sig, "A.3"), 0);
	sig[10] ^= 1;
	assert_int_equal(p256_pub_verify(k, (const uint8_t *)input, strlen(input), sig, "A.3"),
	                 ERR_VERIFY);
	p256_pub_free(k);
	free(sig);
	/* a private key where a public one is expected, a point off the curve */
	json_object_set_new(jwk, "d", json_string("jpsQnnGQmL-YBIffH1136cLV6wMi6EyV4Pl3j0LeRSM"));
	assert_int_equal(jwk_p256_parse(jwk, xy), ERR_INVAL);
	json_object_del(jwk, "d");
	json_object_set_new(jwk, "y", json_string("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1"));
	assert_int_equal(jwk_p256_parse(jwk, xy), ERR_INVAL);
	json_decref(jwk);
}

static json_t *jwks_of(const struct jws_signer *s)
{
	uint8_t xy[64];
	jws_signer_xy(s, xy);
	return json_pack("{s:[o]}", "keys", jwk_p256_json(xy));
}

static struct jws_signer *signer(void)
{
	EVP_PKEY *k;
	struct jws_signer *s;
	assert_int_equal(p256_keygen(&k), 0);
	assert_int_equal(jws_signer_new(k, "eat+jwt", &s), 0);
	EVP_PKEY_free(k);
	return s;
}

/* A token with a replaced part, the header given as JSON text. */
static char *with_header(const char *token, const char *header)
{
	char *out = malloc(strlen(token) + 256), b[256];
	b64url_encode(b, (const uint8_t *)header, strlen(header));
	strcpy(out, b);
	strcat(out, strchr(token, '.'));
	return out;
}

static void sign_verify_and_refusals(void **state)
{
	struct jws_signer *s = signer(), *other = signer();
	json_t *jwks = jwks_of(s), *wrong = jwks_of(other), *h, *p, *kk;
	const char *payload = "{\"iat\":1,\"x\":\"y\"}";
	char *t, *t2, hdr[160];
	size_t n;
	(void)state;

	assert_int_equal(strlen(jws_signer_kid(s)), JWS_KID_LEN);
	assert_int_equal(jws_sign(s, payload, strlen(payload), &t), 0);
	assert_int_equal(jws_verify(t, strlen(t), jwks, &h, &p), 0);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(h, "typ")), "eat+jwt");
	assert_string_equal(json_string_value(json_object_get(h, "kid")), jws_signer_kid(s));
	assert_int_equal(json_integer_value(json_object_get(p, "iat")), 1);
	json_decref(h);
	json_decref(p);

	/* the other key under the same kid: the signature does not verify */
	kk = json_array_get(json_object_get(wrong, "keys"), 0);
	json_object_set_new(kk, "kid", json_string(jws_signer_kid(s)));
	assert_int_equal(jws_verify(t, strlen(t), wrong, NULL, NULL), ERR_VERIFY);
	/* a kid the set does not hold */
	json_object_set_new(kk, "kid", json_string("nope"));
	assert_int_equal(jws_verify(t, strlen(t), wrong, NULL, NULL), ERR_NOTFOUND);

	/* a payload changed by one character */
	t2 = strdup(t);
	n = (size_t)(strchr(t2, '.') - t2) + 3;
	t2[n] = t2[n] == 'A' ? 'B' : 'A';
	assert_int_equal(jws_verify(t2, strlen(t2), jwks, NULL, NULL), ERR_VERIFY);
	free(t2);

	/* algorithms other than ES256, critical extensions, no kid */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"none\",\"kid\":\"%s\"}", jws_signer_kid(s));
	t2 = with_header(t, hdr);
	assert_int_equal(jws_verify(t2, strlen(t2), jwks, NULL, NULL), ERR_INVAL);
	free(t2);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"kid\":\"%s\"}", jws_signer_kid(s));
	t2 = with_header(t, hdr);
	assert_int_equal(jws_verify(t2, strlen(t2), jwks, NULL, NULL), ERR_INVAL);
	free(t2);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"crit\":[\"b64\"],\"kid\":\"%s\"}",
	         jws_signer_kid(s));
	t2 = with_header(t, hdr);
	assert_int_equal(jws_verify(t2, strlen(t2), jwks, NULL, NULL), ERR_INVAL);
	free(t2);
	t2 = with_header(t, "{\"alg\":\"ES256\"}");
	assert_int_equal(jws_verify(t2, strlen(t2), jwks, NULL, NULL), ERR_INVAL);
	free(t2);

	/* the signature in DER rather than r||s; a fourth part; two parts */
	{
		uint8_t *raw, *der;
		size_t rl, dl;
		char *sig = strrchr(t, '.') + 1, enc[160];
		assert_int_equal(b64url_decode(sig, strlen(sig), "s", &raw, &rl), 0);
		assert_int_equal(p256_sig_raw_to_der(raw, &der, &dl), 0);
		b64url_encode(enc, der, dl);
		t2 = malloc(strlen(t) + sizeof(enc));
		memcpy(t2, t, (size_t)(sig - t));
		strcpy(t2 + (sig - t), enc);
		assert_int_equal(jws_verify(t2, strlen(t2), jwks, NULL, NULL), ERR_INVAL);
		free(t2);
		free(raw);
		OPENSSL_free(der);
	}
	t2 = malloc(strlen(t) + 8);
	strcpy(t2, t);
	strcat(t2, ".e30");
	assert_int_equal(jws_verify(t2, strlen(t2), jwks, NULL, NULL), ERR_INVAL);
	*strrchr(t2, '.') = '\0';
	*strrchr(t2, '.') = '\0';
	assert_int_equal(jws_verify(t2, strlen(t2), jwks, NULL, NULL), ERR_INVAL);
	free(t2);

	free(t);
	json_decref(jwks);
	json_decref(wrong);
	jws_signer_free(s);
	jws_signer_free(other);
}

/* About one signature in 128 has r or s below 2^248: its raw form keeps the
 * leading zero byte (32 bytes each, RFC 7518 3.4), where a DER INTEGER or a
 * careless bn2bin would be shorter. */
static void short_r_or_s_keep_leading_zeros(void **state)
{
	struct jws_signer *s = signer();
	json_t *jwks = jwks_of(s);
	int found = 0;
	(void)state;

	for (int i = 0; i < 20000 && !found; i++) {
		char payload[32], *t, *sig;
		uint8_t *raw;
		size_t n;
		snprintf(payload, sizeof(payload), "{\"i\":%d}", i);
		assert_int_equal(jws_sign(s, payload, strlen(payload), &t), 0);
		sig = strrchr(t, '.') + 1;
		assert_int_equal(strlen(sig), 86);
		assert_int_equal(b64url_decode(sig, strlen(sig), "s", &raw, &n), 0);
		assert_int_equal(n, 64);
		if (raw[0] == 0 || raw[32] == 0) {
			found = 1;
			assert_int_equal(jws_verify(t, strlen(t), jwks, NULL, NULL), 0);
		}
		free(raw);
		free(t);
	}
	assert_true(found);
	json_decref(jwks);
	jws_signer_free(s);
}

/* An ECDSA signature (r, s) also verifies as (r, n - s): tokens are signed
 * with s <= n/2 and the other form is refused, so that a token has exactly
 * one valid text. */
static void high_s_refused_and_signing_is_low_s(void **state)
{
	struct jws_signer *s = signer();
	json_t *jwks = jwks_of(s);
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	BIGNUM *half = BN_new(), *sv = BN_new(), *hi = BN_new();
	uint8_t xy[64];
	struct p256_pub *k;
	(void)state;

	assert_non_null(g);
	assert_non_null(half);
	assert_non_null(sv);
	assert_non_null(hi);
	assert_int_equal(BN_rshift1(half, EC_GROUP_get0_order(g)), 1);
	jws_signer_xy(s, xy);
	assert_int_equal(p256_pub_new_xy(xy, &k), 0);
	/* half of the raw signatures have a high s: 200 tokens all low */
	for (int i = 0; i < 200; i++) {
		char payload[32], *t, *sig, *t2;
		uint8_t *raw;
		size_t n, at;
		snprintf(payload, sizeof(payload), "{\"i\":%d}", i);
		assert_int_equal(jws_sign(s, payload, strlen(payload), &t), 0);
		sig = strrchr(t, '.') + 1;
		assert_int_equal(b64url_decode(sig, strlen(sig), "s", &raw, &n), 0);
		assert_int_equal(n, 64);
		assert_non_null(BN_bin2bn(raw + 32, 32, sv));
		assert_true(BN_cmp(sv, half) <= 0);
		/* (r, n - s): a valid ECDSA signature, refused in a token */
		assert_int_equal(BN_sub(hi, EC_GROUP_get0_order(g), sv), 1);
		assert_int_equal(BN_bn2binpad(hi, raw + 32, 32), 32);
		at = (size_t)(sig - t);
		assert_int_equal(p256_pub_verify(k, (const uint8_t *)t, at - 1, raw, "high s"), 0);
		t2 = malloc(at + 87);
		assert_non_null(t2);
		memcpy(t2, t, at);
		b64url_encode(t2 + at, raw, 64);
		assert_int_equal(jws_verify(t, strlen(t), jwks, NULL, NULL), 0);
		assert_int_equal(jws_verify(t2, strlen(t2), jwks, NULL, NULL), ERR_VERIFY);
		assert_non_null(strstr(err_msg(), "above n/2"));
		free(t2);
		free(raw);
		free(t);
	}
	p256_pub_free(k);
	BN_free(half);
	BN_free(sv);
	BN_free(hi);
	EC_GROUP_free(g);
	json_decref(jwks);
	jws_signer_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(b64url_matches_rfc4648),
	    cmocka_unit_test(b64url_refuses_other_forms),
	    cmocka_unit_test(verifies_rfc7515_es256_example),
	    cmocka_unit_test(sign_verify_and_refusals),
	    cmocka_unit_test(short_r_or_s_keep_leading_zeros),
	    cmocka_unit_test(high_s_refused_and_signing_is_low_s),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
