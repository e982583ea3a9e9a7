#include "keccak.h"

#include <string.h>

#define RATE 136 /* 1088 bits: Keccak-256 */

static const uint64_t rc[24] = {
	0x0000000000000001ull, 0x0000000000008082ull, 0x800000000000808aull,
	0x8000000080008000ull, 0x000000000000808bull, 0x0000000080000001ull,
	0x8000000080008081ull, 0x8000000000008009ull, 0x000000000000008aull,
	0x0000000000000088ull, 0x0000000080008009ull, 0x000000008000000aull,
	0x000000008000808bull, 0x800000000000008bull, 0x8000000000008089ull,
	0x8000000000008003ull, 0x8000000000008002ull, 0x8000000000000080ull,
	0x000000000000800aull, 0x800000008000000aull, 0x8000000080008081ull,
	0x8000000000008080ull, 0x0000000080000001ull, 0x8000000080008008ull,
};

/* Rotation offsets and the pi lane order, as in the Keccak reference. */
static const unsigned rot[24] = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
				 27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
static const unsigned pi[24] = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
				15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

static inline uint64_t rol(uint64_t x, unsigned n)
{
	return x << n | x >> (64 - n);
}

static void keccak_f(uint64_t s[25])
{
	uint64_t c[5], t;
	for (int round = 0; round < 24; round++) {
		/* theta */
		for (int x = 0; x < 5; x++)
			c[x] = s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20];
		for (int x = 0; x < 5; x++) {
			t = c[(x + 4) % 5] ^ rol(c[(x + 1) % 5], 1);
			for (int y = 0; y < 25; y += 5)
				s[y + x] ^= t;
		}
		/* rho and pi */
		t = s[1];
		for (int i = 0; i < 24; i++) {
			uint64_t u = s[pi[i]];
			s[pi[i]] = rol(t, rot[i]);
			t = u;
		}
		/* chi */
		for (int y = 0; y < 25; y += 5) {
			for (int x = 0; x < 5; x++)
				c[x] = s[y + x];
			for (int x = 0; x < 5; x++)
				s[y + x] = c[x] ^ (~c[(x + 1) % 5] & c[(x + 2) % 5]);
		}
		/* iota */
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
