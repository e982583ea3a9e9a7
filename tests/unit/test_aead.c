/* AES-256-GCM, X25519 and HKDF against their published vectors (X25519 also
 * against OpenSSL's), and the seal-to-key construction's refusals. */
#include "testutil.h"

#include "crypto/aead.h"
#include "util/codec.h"
#include "util/err.h"

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdlib.h>
#include <string.h>

static void unhex(const char *h, uint8_t *out, size_t n)
{
	assert_int_equal(hex_decode_exact(out, n, h, "vector"), 0);
}

/* McGrew & Viega GCM test cases 13 and 14 (256-bit zero key and IV). */
static void gcm_matches_published_vectors(void **state)
{
	uint8_t key[32] = {0}, iv[12] = {0}, pt[16] = {0}, out[32], want[32], back[16];
	(void)state;
	assert_int_equal(aes256gcm_seal(key, iv, NULL, 0, pt, 0, out), 0);
	unhex("530f8afbc74536b9a963b4f1c4cb738b", want, 16);
	assert_memory_equal(out, want, 16);
	assert_int_equal(aes256gcm_seal(key, iv, NULL, 0, pt, 16, out), 0);
	unhex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919", want, 32);
	assert_memory_equal(out, want, 32);
	assert_int_equal(aes256gcm_open(key, iv, NULL, 0, out, 32, back), 0);
	assert_memory_equal(back, pt, 16);
	out[3] ^= 1;
	assert_int_equal(aes256gcm_open(key, iv, NULL, 0, out, 32, back), ERR_VERIFY);
	out[3] ^= 1;
	assert_int_equal(aes256gcm_open(key, iv, (const uint8_t *)"aad", 3, out, 32, back),
	                 ERR_VERIFY); /* the AAD is bound */
}

/* RFC 7748 section 6.1. */
static void x25519_matches_rfc7748(void **state)
{
	uint8_t a[32], b[32], apub[32], bpub[32], s1[32], s2[32], want[32];
	(void)state;
	unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a, 32);
	unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", b, 32);
	assert_int_equal(x25519_public(a, apub), 0);
	unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", want, 32);
	assert_memory_equal(apub, want, 32);
	assert_int_equal(x25519_public(b, bpub), 0);
	assert_int_equal(x25519_shared(a, bpub, s1), 0);
	assert_int_equal(x25519_shared(b, apub, s2), 0);
	unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", want, 32);
	assert_memory_equal(s1, want, 32);
	assert_memory_equal(s2, want, 32);
	memset(bpub, 0, 32); /* a low-order point gives an all-zero secret */
	assert_int_equal(x25519_shared(a, bpub, s1), ERR_CRYPTO);
}

/* RFC 7748 section 5.2: the first vector, and the iterated one (1 and
 * 1,000 iterations from k = u = 9). */
static void x25519_matches_rfc7748_iterated(void **state)
{
	uint8_t k[32], u[32], out[32], want[32];
	(void)state;
	unhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4", k, 32);
	unhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c", u, 32);
	assert_int_equal(x25519_shared(k, u, out), 0);
	unhex("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552", want, 32);
	assert_memory_equal(out, want, 32);
	memset(k, 0, 32);
	k[0] = 9;
	memcpy(u, k, 32);
	for (int i = 1; i <= 1000; i++) {
		assert_int_equal(x25519_shared(k, u, out), 0);
		memcpy(u, k, 32);
		memcpy(k, out, 32);
		if (i == 1) {
			unhex("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
			      want, 32);
			assert_memory_equal(k, want, 32);
		}
	}
	unhex("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51", want, 32);
	assert_memory_equal(k, want, 32);
}

/* The same keys and secrets as OpenSSL's X25519 (the implementation
 * before): random keys, both directions. */
static void x25519_agrees_with_openssl(void **state)
{
	(void)state;
	for (int i = 0; i < 100; i++) {
		uint8_t a[32], apub[32], bpub[32], s1[32], s2[32], pub[32];
		size_t n = 32;
		EVP_PKEY *b = EVP_PKEY_Q_keygen(NULL, NULL, "X25519"), *pa;
		EVP_PKEY_CTX *c;
		assert_non_null(b);
		assert_int_equal(EVP_PKEY_get_raw_public_key(b, bpub, &n), 1);
		assert_int_equal(x25519_keygen(a, apub), 0);
		pa = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, a, 32);
		n = 32;
		assert_int_equal(EVP_PKEY_get_raw_public_key(pa, pub, &n), 1);
		assert_memory_equal(pub, apub, 32);
		assert_int_equal(x25519_shared(a, bpub, s1), 0);
		c = EVP_PKEY_CTX_new(b, NULL);
		EVP_PKEY_free(pa);
		pa = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, apub, 32);
		n = 32;
		assert_int_equal(EVP_PKEY_derive_init(c), 1);
		assert_int_equal(EVP_PKEY_derive_set_peer(c, pa), 1);
		assert_int_equal(EVP_PKEY_derive(c, s2, &n), 1);
		assert_memory_equal(s1, s2, 32);
		EVP_PKEY_CTX_free(c);
		EVP_PKEY_free(pa);
		EVP_PKEY_free(b);
	}
}

/* RFC 5869 test case 3: no salt, no info. */
static void hkdf_without_salt_matches_rfc5869(void **state)
{
	uint8_t ikm[22], okm[42], want[42];
	(void)state;
	memset(ikm, 0x0b, sizeof(ikm));
	assert_int_equal(hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, okm, 42), 0);
	unhex(
	    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
	    want, 42);
	assert_memory_equal(okm, want, 42);
}

/* RFC 5869 test case 1. */
static void hkdf_matches_rfc5869(void **state)
{
	uint8_t ikm[22], salt[13], info[10], okm[42], want[42];
	(void)state;
	memset(ikm, 0x0b, sizeof(ikm));
	for (int i = 0; i < 13; i++)
		salt[i] = (uint8_t)i;
	for (int i = 0; i < 10; i++)
		info[i] = (uint8_t)(0xf0 + i);
	assert_int_equal(hkdf_sha256(ikm, 22, salt, 13, info, 10, okm, 42), 0);
	unhex(
	    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
	    want, 42);
	assert_memory_equal(okm, want, 42);
}

/* RFC 5869 test case 2: inputs longer than SHA-256's block (the salt, an
 * HMAC key, is then hashed first) and an output of three blocks. */
static void hkdf_long_inputs_match_rfc5869(void **state)
{
	uint8_t ikm[80], salt[80], info[80], okm[82], want[82];
	(void)state;
	for (int i = 0; i < 80; i++) {
		ikm[i] = (uint8_t)i;
		salt[i] = (uint8_t)(0x60 + i);
		info[i] = (uint8_t)(0xb0 + i);
	}
	assert_int_equal(hkdf_sha256(ikm, 80, salt, 80, info, 80, okm, 82), 0);
	unhex("b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
	      "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
	      "cc30c58179ec3e87c14c01d5c1f3434f1d87",
	      want, 82);
	assert_memory_equal(okm, want, 82);
}

/* The same keys as OpenSSL's HKDF for every salt length around the block
 * size (an HMAC key of up to 64 bytes is padded, a longer one hashed) and
 * outputs of 1 to 3 blocks. */
static void hkdf_agrees_with_openssl(void **state)
{
	uint8_t ikm[40], salt[130], info[70], okm[96], want[96];
	(void)state;
	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (uint8_t)(i * 7 + 1);
	memset(ikm, 0x42, sizeof(ikm));
	memset(info, 0x17, sizeof(info));
	for (size_t sl = 0; sl <= sizeof(salt); sl++) {
		size_t n = 1 + sl % sizeof(okm), il = sl % sizeof(info);
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
		assert_non_null(c);
		assert_int_equal(EVP_PKEY_derive_init(c), 1);
		assert_int_equal(EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()), 1);
		if (sl)
			assert_int_equal(EVP_PKEY_CTX_set1_hkdf_salt(c, salt, (int)sl), 1);
		assert_int_equal(EVP_PKEY_CTX_set1_hkdf_key(c, ikm, (int)sizeof(ikm)), 1);
		if (il)
			assert_int_equal(EVP_PKEY_CTX_add1_hkdf_info(c, info, (int)il), 1);
		assert_int_equal(EVP_PKEY_derive(c, want, &n), 1);
		EVP_PKEY_CTX_free(c);
		assert_int_equal(hkdf_sha256(ikm, sizeof(ikm), salt, sl, info, il, okm, n), 0);
		assert_memory_equal(okm, want, n);
	}
}

static void sealed_messages_open_only_for_their_key_and_label(void **state)
{
	uint8_t priv[32], pub[32], other[32], opub[32], *sealed, *plain;
	size_t n, pn;
	const char *msg = "the task session: keys and secrets";
	(void)state;
	assert_int_equal(x25519_keygen(priv, pub), 0);
	assert_int_equal(x25519_keygen(other, opub), 0);
	assert_int_equal(
	    seal_to(pub, "tdexec session v1", (const uint8_t *)msg, strlen(msg), &sealed, &n), 0);
	assert_int_equal(n, strlen(msg) + SEAL_OVERHEAD);
	assert_int_equal(seal_open(priv, "tdexec session v1", sealed, n, &plain, &pn), 0);
	assert_int_equal(pn, strlen(msg));
	assert_memory_equal(plain, msg, pn);
	free(plain);
	assert_int_equal(seal_open(other, "tdexec session v1", sealed, n, &plain, &pn), ERR_VERIFY);
	assert_int_equal(seal_open(priv, "another use", sealed, n, &plain, &pn), ERR_VERIFY);
	for (size_t i = 0; i < n; i += 7) {
		sealed[i] ^= 0x20;
		assert_true(seal_open(priv, "tdexec session v1", sealed, n, &plain, &pn) < 0);
		sealed[i] ^= 0x20;
	}
	assert_true(seal_open(priv, "tdexec session v1", sealed, SEAL_OVERHEAD - 1, &plain, &pn) <
	            0);
	free(sealed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(gcm_matches_published_vectors),
	    cmocka_unit_test(x25519_matches_rfc7748),
	    cmocka_unit_test(x25519_matches_rfc7748_iterated),
	    cmocka_unit_test(x25519_agrees_with_openssl),
	    cmocka_unit_test(hkdf_matches_rfc5869),
	    cmocka_unit_test(hkdf_without_salt_matches_rfc5869),
	    cmocka_unit_test(hkdf_long_inputs_match_rfc5869),
	    cmocka_unit_test(hkdf_agrees_with_openssl),
	    cmocka_unit_test(sealed_messages_open_only_for_their_key_and_label),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
