/* Ethereum primitives: published test vectors, and refusals of hostile or
 * non-canonical input (the ethers differential test covers agreement). */
#include "testutil.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/rlp.h"
#include "eth/rpc.h"
#include "util/codec.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

static void hexeq(const uint8_t *p, size_t n, const char *want)
{
	char got[256];
	hex_encode(got, p, n);
	assert_string_equal(got, want);
}

/* Keccak team / Ethereum vectors. */
static void keccak_matches_published_vectors(void **state)
{
	uint8_t h[32], *m;
	struct keccak256 k;
	(void)state;
	keccak256("", 0, h);
	hexeq(h, 32, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
	keccak256("abc", 3, h);
	hexeq(h, 32, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
	keccak256("The quick brown fox jumps over the lazy dog", 43, h);
	hexeq(h, 32, "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15");
	/* Absorbing in pieces across block boundaries gives the same digest. */
	m = malloc(1000);
	for (int i = 0; i < 1000; i++)
		m[i] = (uint8_t)i;
	keccak256(m, 1000, h);
	keccak256_init(&k);
	for (size_t off = 0, step = 1; off < 1000; off += step, step = step * 3 % 137 + 1)
		keccak256_update(&k, m + off, off + step > 1000 ? 1000 - off : step);
	{
		uint8_t h2[32];
		keccak256_final(&k, h2);
		assert_memory_equal(h, h2, 32);
	}
	free(m);
}

static void addresses_and_signatures(void **state)
{
	/* The private key 1 and its well-known address. */
	uint8_t priv[32] = {[31] = 1}, addr[20], sig[65], digest[32], back[20];
	char s[43];
	(void)state;
	assert_int_equal(k1_address(priv, addr), 0);
	eth_addr_str(addr, s);
	assert_string_equal(s, "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
	assert_int_equal(eth_addr_parse("0x7e5f4552091a69125d5dfcb7b8c2659029395bdf", back), 0);
	assert_memory_equal(back, addr, 20);
	assert_int_equal(eth_addr_parse("0x7E5F4552091A69125d5DfCb7b8C2659029395BDf", back),
	                 ERR_INVAL); /* one letter's case changed */
	assert_non_null(strstr(err_msg(), "EIP-55"));
	assert_int_equal(eth_addr_parse("0x7e5f", back), ERR_INVAL);

	memset(priv, 0, 32);
	assert_int_equal(k1_check_priv(priv), ERR_INVAL); /* zero is not a key */
	priv[31] = 7;
	memset(digest, 0xab, 32);
	assert_int_equal(k1_sign(priv, digest, sig), 0);
	assert_true(sig[64] == 27 || sig[64] == 28);
	assert_int_equal(k1_recover(digest, sig, back), 0);
	assert_int_equal(k1_address(priv, addr), 0);
	assert_memory_equal(back, addr, 20);
	/* s -> n - s (the malleable twin) is refused (EIP-2). */
	{
		static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
		                              0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
		                              0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
		uint8_t tw[65];
		int borrow = 0;
		memcpy(tw, sig, 65);
		for (int i = 31; i >= 0; i--) {
			int d = n[i] - sig[32 + i] - borrow;
			borrow = d < 0;
			tw[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
		}
		tw[64] = (uint8_t)(sig[64] == 27 ? 28 : 27);
		assert_int_equal(k1_recover(digest, tw, back), ERR_VERIFY);
	}
	sig[64] = 29;
	assert_int_equal(k1_recover(digest, sig, back), ERR_VERIFY);
}

static void rlp_is_canonical(void **state)
{
	struct wbuf w, items;
	struct rd r, p;
	int list;
	(void)state;
	wbuf_init(&w);
	wbuf_init(&items);
	/* Yellow paper examples: "dog", ["cat","dog"], 0, 15, 1024. */
	assert_int_equal(rlp_bytes(&w, (const uint8_t *)"dog", 3), 0);
	hexeq(w.buf, w.len, "83646f67");
	w.len = 0;
	assert_int_equal(rlp_bytes(&items, (const uint8_t *)"cat", 3), 0);
	assert_int_equal(rlp_bytes(&items, (const uint8_t *)"dog", 3), 0);
	assert_int_equal(rlp_list(&w, &items), 0);
	hexeq(w.buf, w.len, "c88363617483646f67");
	w.len = 0;
	assert_int_equal(rlp_u64(&w, 0), 0);
	assert_int_equal(rlp_u64(&w, 15), 0);
	assert_int_equal(rlp_u64(&w, 1024), 0);
	hexeq(w.buf, w.len, "800f820400");
	/* The decoder refuses non-canonical forms. */
	rd_init(&r, (const uint8_t *)"\x81\x05", 2, "rlp");
	assert_int_equal(rlp_next(&r, &list, &p), ERR_INVAL); /* single byte < 0x80 wrapped */
	rd_init(&r, (const uint8_t *)"\xb8\x05hello", 7, "rlp");
	assert_int_equal(rlp_next(&r, &list, &p), ERR_INVAL); /* long form for 5 bytes */
	rd_init(&r, (const uint8_t *)"\x85hell", 5, "rlp");
	assert_int_equal(rlp_next(&r, &list, &p), ERR_INVAL); /* truncated */
	rd_init(&r, w.buf, w.len, "rlp");
	assert_int_equal(rlp_next(&r, &list, &p), 0);
	assert_false(list);
	wbuf_free(&w);
	wbuf_free(&items);
}

static void abi_decoder_refuses_hostile_offsets(void **state)
{
	uint8_t d[96] = {0};
	json_t *v;
	(void)state;
	/* (bytes) whose offset points past the data. */
	d[31] = 0xff;
	assert_true(abi_decode_str("(bytes)", d, 64, &v) < 0);
	/* an offset with high bits set */
	d[0] = 1;
	d[31] = 0x20;
	assert_true(abi_decode_str("(bytes)", d, 96, &v) < 0);
	/* an array claiming 2^32 elements */
	memset(d, 0, sizeof(d));
	d[31] = 0x20;
	d[59] = 1;
	assert_true(abi_decode_str("(uint256[])", d, 64, &v) < 0);
	/* a value out of range for its type */
	memset(d, 0, sizeof(d));
	d[30] = 1; /* 256 in a uint8 */
	assert_true(abi_decode_str("(uint8)", d, 32, &v) < 0);
	d[30] = 0;
	d[31] = 2; /* bool 2 */
	assert_true(abi_decode_str("(bool)", d, 32, &v) < 0);
	/* types that do not parse */
	assert_true(abi_decode_str("(uint7)", d, 32, &v) < 0);
	assert_true(abi_decode_str("(bytes33)", d, 32, &v) < 0);
	assert_true(abi_decode_str("((((((((((((((((((uint8))))))))))))))))))", d, 32, &v) < 0);
}

/* Revert data as nodes return it.  The vectors are ethers v6's
 * Interface.encodeErrorResult (the same node_modules as tests/diff):
 * Error("Create2: Failed on deploy"), Panic(0x11), NotOwner(0xaa, 7) of a
 * custom error NotOwner(address,uint256), and Error("a\nb\a"). */
static void revert_data_is_decoded(void **state)
{
	static const char *const errors[] = {"Unrelated()", "NotOwner(address,uint256)"};
	static const struct {
		const char *hex, *want;
		int known; /* decoded with `errors` */
	} cases[] = {
	    {"08c379a0000000000000000000000000000000000000000000000000000000000000002000000000"
	     "00000000000000000000000000000000000000000000000000000019437265617465323a2046"
	     "61696c6564206f6e206465706c6f7900000000000000",
	     "reverted: Create2: Failed on deploy", 0},
	    {"4e487b710000000000000000000000000000000000000000000000000000000000000011",
	     "panicked: 0x11 (arithmetic overflow or underflow)", 0},
	    {"4e487b710000000000000000000000000000000000000000000000000000000000000001",
	     "panicked: 0x01 (assertion failed)", 0},
	    {"4e487b7100000000000000000000000000000000000000000000000000000000000000ff",
	     "panicked: 0xff (unknown panic code)", 0},
	    {"6f7f64bf00000000000000000000000000000000000000000000000000000000000000aa00000000"
	     "00000000000000000000000000000000000000000000000000000007",
	     "reverted with custom error 0x6f7f64bf", 0},
	    {"6f7f64bf00000000000000000000000000000000000000000000000000000000000000aa00000000"
	     "00000000000000000000000000000000000000000000000000000007",
	     "reverted: NotOwner[\"0x00000000000000000000000000000000000000AA\",\"7\"]", 1},
	    /* a contract's words are escaped: they end no line */
	    {"08c379a0000000000000000000000000000000000000000000000000000000000000002000000000"
	     "00000000000000000000000000000000000000000000000000000004610a6207000000000000"
	     "00000000000000000000000000000000000000000000000000",
	     "reverted: a\\x0ab\\x07", 0},
	    {"", "reverted without a reason", 0},
	    {"08c379", "reverted with 3 bytes of data, not an error", 0},
	    /* an Error(string) that does not decode is shown by its selector */
	    {"08c379a000", "reverted with custom error 0x08c379a0", 0},
	};
	char buf[256];
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		uint8_t *d = NULL;
		size_t n = 0;
		if (*cases[i].hex)
			assert_int_equal(
			    hex_decode_alloc(cases[i].hex, strlen(cases[i].hex), &d, &n), 0);
		eth_revert_reason(d, n, cases[i].known ? errors : NULL, cases[i].known ? 2 : 0, buf,
		                  sizeof(buf));
		assert_string_equal(buf, cases[i].want);
		free(d);
	}
	/* a long reason is cut, ending "...", within the buffer */
	{
		uint8_t d[4 + 64 + 320];
		memset(d, 0, sizeof(d));
		memcpy(d, "\x08\xc3\x79\xa0", 4);
		d[4 + 31] = 0x20;
		d[4 + 63] = 0xff;
		d[4 + 62] = 0x00;
		memset(d + 68, 'x', 0xff);
		eth_revert_reason(d, sizeof(d), NULL, 0, buf, 64);
		assert_int_equal(strlen(buf), 63);
		assert_string_equal(buf + 60, "...");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(keccak_matches_published_vectors),
	    cmocka_unit_test(addresses_and_signatures),
	    cmocka_unit_test(rlp_is_canonical),
	    cmocka_unit_test(abi_decoder_refuses_hostile_offsets),
	    cmocka_unit_test(revert_data_is_decoded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
