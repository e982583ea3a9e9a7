#include "addr.h"

#include "crypto/keccak.h"
#include "util/codec.h"
#include "util/err.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eth_addr_str(const uint8_t addr[20], char out[43])
{
	char hex[41];
	uint8_t h[32];

	hex_encode(hex, addr, 20);
	keccak256(hex, 40, h);
	out[0] = '0';
	out[1] = 'x';
	for (int i = 0; i < 40; i++) {
		int nib = (h[i / 2] >> (i % 2 ? 0 : 4)) & 0xf;
		char c = hex[i];
		out[2 + i] = (c >= 'a' && nib >= 8) ? (char)(c - 32) : c;
	}
	out[42] = '\0';
}

int eth_addr_parse(const char *s, uint8_t addr[20])
{
	int lower = 0, upper = 0;
	char canon[43];

	ENSURE(s && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && strlen(s) == 42, ERR_INVAL,
	       "address: expected 0x followed by 40 hex digits");
	for (int i = 2; i < 42; i++) {
		lower |= s[i] >= 'a' && s[i] <= 'f';
		upper |= s[i] >= 'A' && s[i] <= 'F';
	}
	GUARD(hex_decode_exact(addr, 20, s, "address"));
	if (lower && upper) {
		eth_addr_str(addr, canon);
		ENSURE(strcmp(canon + 2, s + 2) == 0, ERR_INVAL,
		       "address %s: bad EIP-55 checksum (did you mean %s?)", s, canon);
	}
	return 0;
}

int u256_parse(const char *s, uint8_t out[32])
{
	BIGNUM *bn = NULL;
	int n;

	ENSURE(s && *s, ERR_INVAL, "number: empty");
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		ENSURE(s[2], ERR_INVAL, "number: empty hex");
		n = BN_hex2bn(&bn, s + 2);
		n += 2;
	} else {
		n = BN_dec2bn(&bn, s);
	}
	if (n <= 0 || (size_t)n != strlen(s) || BN_is_negative(bn) || BN_num_bytes(bn) > 32) {
		BN_free(bn);
		return err_set(ERR_INVAL, "number \"%.80s\": not an unsigned 256-bit integer", s);
	}
	BN_bn2binpad(bn, out, 32);
	BN_free(bn);
	return 0;
}

void u256_str(const uint8_t v[32], char *out, size_t cap)
{
	BIGNUM *bn = BN_bin2bn(v, 32, NULL);
	char *d = bn ? BN_bn2dec(bn) : NULL;
	snprintf(out, cap, "%s", d ? d : "?");
	OPENSSL_free(d);
	BN_free(bn);
}

void u256_from_u64(uint64_t v, uint8_t out[32])
{
	memset(out, 0, 32);
	for (int i = 0; i < 8; i++)
		out[31 - i] = (uint8_t)(v >> (8 * i));
}

json_t *eth_json_addr(const uint8_t addr[20])
{
	char s[43];
	eth_addr_str(addr, s);
	return json_string(s);
}

json_t *eth_json_hex(const uint8_t *p, size_t n)
{
	char *h = malloc(2 * n + 3);
	json_t *j;
	if (!h)
		return NULL;
	h[0] = '0';
	h[1] = 'x';
	hex_encode(h + 2, p, n);
	j = json_string(h);
	free(h);
	return j;
}
