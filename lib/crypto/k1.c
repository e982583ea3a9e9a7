#include "k1.h"

#include "crypto/keccak.h"
#include "util/err.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <string.h>

static secp256k1_context *ctx;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_init(void)
{
	uint8_t seed[32];
	ctx = secp256k1_context_create(SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY);
	/* Randomize against side channels, as libsecp256k1 recommends. */
	if (ctx && RAND_bytes(seed, sizeof(seed)) == 1 && !secp256k1_context_randomize(ctx, seed)) {
		secp256k1_context_destroy(ctx);
		ctx = NULL;
	}
	OPENSSL_cleanse(seed, sizeof(seed));
}

static secp256k1_context *k1(void)
{
	pthread_once(&ctx_once, ctx_init);
	return ctx;
}

int k1_check_priv(const uint8_t priv[32])
{
	ENSURE(k1(), ERR_CRYPTO, "secp256k1: no context");
	ENSURE(secp256k1_ec_seckey_verify(k1(), priv) == 1, ERR_INVAL,
	       "not a valid secp256k1 private key");
	return 0;
}

int k1_keygen(uint8_t priv[32])
{
	for (int i = 0; i < 16; i++) {
		ENSURE(RAND_bytes(priv, 32) == 1, ERR_CRYPTO, "RAND_bytes failed");
		if (k1_check_priv(priv) == 0)
			return 0;
	}
	return err_set(ERR_CRYPTO, "secp256k1 key generation failed");
}

int k1_pubkey(const uint8_t priv[32], uint8_t pub[64])
{
	secp256k1_pubkey pk;
	uint8_t out[65];
	size_t n = sizeof(out);

	GUARD(k1_check_priv(priv));
	ENSURE(secp256k1_ec_pubkey_create(k1(), &pk, priv) == 1, ERR_CRYPTO,
	       "secp256k1: cannot derive the public key");
	secp256k1_ec_pubkey_serialize(k1(), out, &n, &pk, SECP256K1_EC_UNCOMPRESSED);
	memcpy(pub, out + 1, 64);
	return 0;
}

void k1_pub_address(const uint8_t pub[64], uint8_t addr[20])
{
	uint8_t h[32];
	keccak256(pub, 64, h);
	memcpy(addr, h + 12, 20);
}

int k1_address(const uint8_t priv[32], uint8_t addr[20])
{
	uint8_t pub[64];
	GUARD(k1_pubkey(priv, pub));
	k1_pub_address(pub, addr);
	return 0;
}

int k1_sign_recid(const uint8_t priv[32], const uint8_t digest[32], uint8_t rs[64], int *recid)
{
	secp256k1_ecdsa_recoverable_signature s;

	GUARD(k1_check_priv(priv));
	ENSURE(secp256k1_ecdsa_sign_recoverable(k1(), &s, digest, priv, NULL, NULL) == 1,
	       ERR_CRYPTO, "secp256k1: signing failed");
	secp256k1_ecdsa_recoverable_signature_serialize_compact(k1(), rs, recid, &s);
	return 0;
}

int k1_sign(const uint8_t priv[32], const uint8_t digest[32], uint8_t sig[65])
{
	int recid;
	GUARD(k1_sign_recid(priv, digest, sig, &recid));
	sig[64] = (uint8_t)(27 + recid);
	return 0;
}

int k1_recover(const uint8_t digest[32], const uint8_t sig[65], uint8_t addr[20])
{
	secp256k1_ecdsa_recoverable_signature rs;
	secp256k1_ecdsa_signature plain;
	secp256k1_pubkey pk;
	uint8_t out[65];
	size_t n = sizeof(out);
	int v = sig[64];

	ENSURE(k1(), ERR_CRYPTO, "secp256k1: no context");
	if (v >= 27)
		v -= 27;
	ENSURE(v == 0 || v == 1, ERR_VERIFY, "signature: v must be 0, 1, 27 or 28");
	ENSURE(secp256k1_ecdsa_recoverable_signature_parse_compact(k1(), &rs, sig, v) == 1,
	       ERR_VERIFY, "signature: r or s out of range");
	/* EIP-2: s in the lower half of the order (malleability). */
	secp256k1_ecdsa_recoverable_signature_convert(k1(), &plain, &rs);
	ENSURE(secp256k1_ecdsa_signature_normalize(k1(), NULL, &plain) == 0, ERR_VERIFY,
	       "signature: s is not in the lower half of the curve order");
	ENSURE(secp256k1_ecdsa_recover(k1(), &pk, &rs, digest) == 1, ERR_VERIFY,
	       "signature: cannot recover a public key");
	secp256k1_ec_pubkey_serialize(k1(), out, &n, &pk, SECP256K1_EC_UNCOMPRESSED);
	k1_pub_address(out + 1, addr);
	return 0;
}

void eip191_hash32(const uint8_t hash[32], uint8_t out[32])
{
	static const char prefix[] = "\x19"
	                             "Ethereum Signed Message:\n32";
	struct keccak256 k;
	keccak256_init(&k);
	keccak256_update(&k, prefix, sizeof(prefix) - 1);
	keccak256_update(&k, hash, 32);
	keccak256_final(&k, out);
}

int eip191_sign32(const uint8_t priv[32], const uint8_t hash[32], uint8_t sig[65])
{
	uint8_t h[32];
	eip191_hash32(hash, h);
	return k1_sign(priv, h, sig);
}

int eip191_sign_keccak(const uint8_t priv[32], const void *data, size_t len, uint8_t sig[65])
{
	uint8_t h[32];
	keccak256(data, len, h);
	return eip191_sign32(priv, h, sig);
}
