/* AES-256-GCM, X25519 and HKDF against their published vectors, and the
 * seal-to-key construction's refusals. */
#include "testutil.h"

#include "crypto/aead.h"
#include "util/codec.h"
#include "util/err.h"

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
	    cmocka_unit_test(hkdf_matches_rfc5869),
	    cmocka_unit_test(sealed_messages_open_only_for_their_key_and_label),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
