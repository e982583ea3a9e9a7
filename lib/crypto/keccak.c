#include "keccak.h"

#include <string.h>

#define RATE 136 /* 1088 bits: Keccak-256 */

static const uint64_t rc[24] = {
    0x0000000000000001ull, 0x0000000000008082ull, 0x800000000000808aull, 0x8000000080008000ull,
    0x000000000000808bull, 0x0000000080000001ull, 0x8000000080008081ull, 0x8000000000008009ull,
    0x000000000000008aull, 0x0000000000000088ull, 0x0000000080008009ull, 0x000000008000000aull,
    0x000000008000808bull, 0x800000000000008bull, 0x8000000000008089ull, 0x8000000000008003ull,
    0x8000000000008002ull, 0x8000000000000080ull, 0x000000000000800aull, 0x800000008000000aull,
    0x8000000080008081ull, 0x8000000000008080ull, 0x0000000080000001ull, 0x8000000080008008ull,
};

static inline uint64_t rol(uint64_t x, unsigned n)
{
	return x << n | x >> (64 - n);
}

/* Keccak-f[1600], one round per iteration with theta, rho, pi and chi
 * unrolled over the 25 lanes (lane index x + 5y; rho offsets and the pi
 * permutation (x, y) -> (y, 2x + 3y) are the reference's). */
static void keccak_f(uint64_t s[25])
{
	for (int round = 0; round < 24; round++) {
		uint64_t c0 = s[0] ^ s[5] ^ s[10] ^ s[15] ^ s[20];
		uint64_t c1 = s[1] ^ s[6] ^ s[11] ^ s[16] ^ s[21];
		uint64_t c2 = s[2] ^ s[7] ^ s[12] ^ s[17] ^ s[22];
		uint64_t c3 = s[3] ^ s[8] ^ s[13] ^ s[18] ^ s[23];
		uint64_t c4 = s[4] ^ s[9] ^ s[14] ^ s[19] ^ s[24];
		uint64_t d0 = c4 ^ rol(c1, 1);
		uint64_t d1 = c0 ^ rol(c2, 1);
		uint64_t d2 = c1 ^ rol(c3, 1);
		uint64_t d3 = c2 ^ rol(c4, 1);
		uint64_t d4 = c3 ^ rol(c0, 1);
		uint64_t b[25];
		b[0] = (s[0] ^ d0);
		b[10] = rol((s[1] ^ d1), 1);
		b[20] = rol((s[2] ^ d2), 62);
		b[5] = rol((s[3] ^ d3), 28);
		b[15] = rol((s[4] ^ d4), 27);
		b[16] = rol((s[5] ^ d0), 36);
		b[1] = rol((s[6] ^ d1), 44);
		b[11] = rol((s[7] ^ d2), 6);
		b[21] = rol((s[8] ^ d3), 55);
		b[6] = rol((s[9] ^ d4), 20);
		b[7] = rol((s[10] ^ d0), 3);
		b[17] = rol((s[11] ^ d1), 10);
		b[2] = rol((s[12] ^ d2), 43);
		b[12] = rol((s[13] ^ d3), 25);
		b[22] = rol((s[14] ^ d4), 39);
		b[23] = rol((s[15] ^ d0), 41);
		b[8] = rol((s[16] ^ d1), 45);
		b[18] = rol((s[17] ^ d2), 15);
		b[3] = rol((s[18] ^ d3), 21);
		b[13] = rol((s[19] ^ d4), 8);
		b[14] = rol((s[20] ^ d0), 18);
		b[24] = rol((s[21] ^ d1), 2);
		b[9] = rol((s[22] ^ d2), 61);
		b[19] = rol((s[23] ^ d3), 56);
		b[4] = rol((s[24] ^ d4), 14);
		s[0] = b[0] ^ (~b[1] & b[2]);
		s[1] = b[1] ^ (~b[2] & b[3]);
		s[2] = b[2] ^ (~b[3] & b[4]);
		s[3] = b[3] ^ (~b[4] & b[0]);
		s[4] = b[4] ^ (~b[0] & b[1]);
		s[5] = b[5] ^ (~b[6] & b[7]);
		s[6] = b[6] ^ (~b[7] & b[8]);
		s[7] = b[7] ^ (~b[8] & b[9]);
		s[8] = b[8] ^ (~b[9] & b[5]);
		s[9] = b[9] ^ (~b[5] & b[6]);
		s[10] = b[10] ^ (~b[11] & b[12]);
		s[11] = b[11] ^ (~b[12] & b[13]);
		s[12] = b[12] ^ (~b[13] & b[14]);
		s[13] = b[13] ^ (~b[14] & b[10]);
		s[14] = b[14] ^ (~b[10] & b[11]);
		s[15] = b[15] ^ (~b[16] & b[17]);
		s[16] = b[16] ^ (~b[17] & b[18]);
		s[17] = b[17] ^ (~b[18] & b[19]);
		s[18] = b[18] ^ (~b[19] & b[15]);
		s[19] = b[19] ^ (~b[15] & b[16]);
		s[20] = b[20] ^ (~b[21] & b[22]);
		s[21] = b[21] ^ (~b[22] & b[23]);
		s[22] = b[22] ^ (~b[23] & b[24]);
		s[23] = b[23] ^ (~b[24] & b[20]);
		s[24] = b[24] ^ (~b[20] & b[21]);
		s[0] ^= rc[round];
	}
}

void keccak256_init(struct keccak256 *k)
{
	memset(k, 0, sizeof(*k));
}

/* XOR one byte into the state at byte position i (little-endian lanes). */
static inline void absorb_byte(uint64_t *st, size_t i, uint8_t b)
{
	st[i / 8] ^= (uint64_t)b << (8 * (i % 8));
}

void keccak256_update(struct keccak256 *k, const void *data, size_t n)
{
	const uint8_t *p = data;
	/* Whole lanes at a time when aligned to a lane boundary. */
	while (n) {
		if (k->pos % 8 == 0 && n >= 8 && k->pos + 8 <= RATE) {
			uint64_t lane = 0;
			for (int i = 7; i >= 0; i--)
				lane = lane << 8 | p[i];
			k->st[k->pos / 8] ^= lane;
			k->pos += 8;
			p += 8;
			n -= 8;
		} else {
			absorb_byte(k->st, k->pos++, *p++);
			n--;
		}
		if (k->pos == RATE) {
			keccak_f(k->st);
			k->pos = 0;
		}
	}
}

void keccak256_final(struct keccak256 *k, uint8_t out[32])
{
	absorb_byte(k->st, k->pos, 0x01);
	absorb_byte(k->st, RATE - 1, 0x80);
	keccak_f(k->st);
	for (int i = 0; i < 32; i++)
		out[i] = (uint8_t)(k->st[i / 8] >> (8 * (i % 8)));
	memset(k, 0, sizeof(*k));
}

void keccak256(const void *p, size_t n, uint8_t out[32])
{
	struct keccak256 k;
	keccak256_init(&k);
	keccak256_update(&k, p, n);
	keccak256_final(&k, out);
}
