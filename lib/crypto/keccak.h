/* keccak.h — Keccak-256 as Ethereum uses it (the original Keccak padding,
 * 0x01, not SHA3-256's 0x06).  OpenSSL 3.0 has no Keccak-256, so this is the
 * one hash written here; it is checked against the published test vectors. */
#ifndef TDEXEC_CRYPTO_KECCAK_H
#define TDEXEC_CRYPTO_KECCAK_H

#include <stddef.h>
#include <stdint.h>

struct keccak256 {
	uint64_t st[25];
	size_t pos; /* bytes absorbed into the current block */
};

void keccak256_init(struct keccak256 *k);
void keccak256_update(struct keccak256 *k, const void *p, size_t n);
void keccak256_final(struct keccak256 *k, uint8_t out[32]);
/* One shot. */
void keccak256(const void *p, size_t n, uint8_t out[32]);

#endif
