/* k1.h — secp256k1 for Ethereum (libsecp256k1): keys, addresses,
 * recoverable ECDSA signatures (65 bytes r||s||v, v = 27 + recovery id as
 * Ethereum's personal_sign and iExec expect), recovery, EIP-191. */
#ifndef TDEXEC_CRYPTO_K1_H
#define TDEXEC_CRYPTO_K1_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

/* A fresh private key from the OS RNG (valid scalar). */
MUST_CHECK int k1_keygen(uint8_t priv[32]);
/* 0 when priv is a valid secp256k1 scalar, ERR_INVAL otherwise. */
MUST_CHECK int k1_check_priv(const uint8_t priv[32]);
/* Uncompressed public key without the 0x04 prefix (x||y). */
MUST_CHECK int k1_pubkey(const uint8_t priv[32], uint8_t pub[64]);
/* Ethereum address = last 20 bytes of keccak256(x||y). */
void k1_pub_address(const uint8_t pub[64], uint8_t addr[20]);
MUST_CHECK int k1_address(const uint8_t priv[32], uint8_t addr[20]);

/* Sign a 32-byte digest (RFC 6979 nonces, low-s): r||s||v with v = 27|28. */
MUST_CHECK int k1_sign(const uint8_t priv[32], const uint8_t digest[32], uint8_t sig[65]);
/* The same with v = recovery id (0|1), as typed transactions carry it. */
MUST_CHECK int k1_sign_recid(const uint8_t priv[32], const uint8_t digest[32], uint8_t rs[64],
                             int *recid);
/* Recover the signer's address from a 65-byte signature (v = 0,1,27,28).
 * ERR_VERIFY when the signature is invalid; high-s is refused (EIP-2). */
MUST_CHECK int k1_recover(const uint8_t digest[32], const uint8_t sig[65], uint8_t addr[20]);

/* EIP-191 personal message hash of a 32-byte hash:
 * keccak256("\x19Ethereum Signed Message:\n32" || hash). */
void eip191_hash32(const uint8_t hash[32], uint8_t out[32]);
/* personal_sign over a 32-byte hash (what iExec signs). */
MUST_CHECK int eip191_sign32(const uint8_t priv[32], const uint8_t hash[32], uint8_t sig[65]);
/* personal_sign over keccak256(data): PoCo's signatures over packed
 * fields (authorizations, enclave signatures). */
MUST_CHECK int eip191_sign_keccak(const uint8_t priv[32], const void *data, size_t len,
                                  uint8_t sig[65]);

#endif
