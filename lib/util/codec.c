#include "codec.h"

#include "err.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static const char hexdig[] = "0123456789abcdef";

void hex_encode(char *out, const uint8_t *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 15];
	}
	out[2 * n] = '\0';
}

char *hex_dup(const uint8_t *in, size_t n)
{
	char *s;
	if (n > (SIZE_MAX - 1) / 2)
		return NULL;
	s = malloc(2 * n + 1);
	if (s)
		hex_encode(s, in, n);
	return s;
}

/* One byte of outside text as it is shown: its escape into esc, its length. */
static size_t printable_byte(unsigned char c, char esc[4])
{
	/* bytes past ASCII too: 0x80-0x9f are C1 controls to some terminals,
	 * and a stray or cut UTF-8 sequence makes a JSON string invalid */
	if (c < 0x20 || c >= 0x7f) {
		esc[0] = '\\';
		esc[1] = 'x';
		esc[2] = hexdig[c >> 4];
		esc[3] = hexdig[c & 15];
		return 4;
	}
	if (c == '\\') {
		esc[0] = esc[1] = '\\';
		return 2;
	}
	esc[0] = (char)c;
	return 1;
}

char *str_printable(char *out, size_t cap, const char *in, size_t n)
{
	size_t o = 0, all = 0, room;
	char esc[4];

	if (cap == 0)
		return out;
	for (size_t i = 0; i < n && in[i]; i++)
		all += printable_byte((unsigned char)in[i], esc);
	/* all of it, or what fits before "..." (never half an escape) */
	room = all < cap ? cap - 1 : cap >= 4 ? cap - 4 : 0;
	for (size_t i = 0; i < n && in[i]; i++) {
		size_t k = printable_byte((unsigned char)in[i], esc);
		if (o + k > room)
			break;
		memcpy(out + o, esc, k);
		o += k;
	}
	if (all >= cap && cap >= 4) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

static int nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int hex_decode_exact(uint8_t *out, size_t n, const char *hex, const char *what)
{
	size_t len;

	ENSURE(hex, ERR_INVAL, "%s: missing hex value", what);
	if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
		hex += 2;
	len = strlen(hex);
	ENSURE(len == 2 * n, ERR_INVAL, "%s: expected %zu hex digits (%zu bytes), got %zu", what,
	       2 * n, n, len);
	for (size_t i = 0; i < n; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
		ENSURE(hi >= 0 && lo >= 0, ERR_INVAL, "%s: invalid hex digit at position %zu", what,
		       hi < 0 ? 2 * i : 2 * i + 1);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int is_hex_text(const uint8_t *buf, size_t len)
{
	size_t digits = 0;
	for (size_t i = 0; i < len; i++) {
		if (nibble(buf[i]) >= 0)
			digits++;
		else if (!is_space(buf[i]))
			return 0;
	}
	return digits > 0;
}

int hex_decode_alloc(const char *hex, size_t hexlen, uint8_t **out, size_t *outlen)
{
	uint8_t *b;
	size_t n = 0;
	int hi = -1;

	if (hexlen >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) {
		hex += 2;
		hexlen -= 2;
	}
	b = malloc(hexlen / 2 + 1);
	ENSURE(b, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < hexlen; i++) {
		int v = nibble(hex[i]);
		if (v < 0) {
			if (is_space(hex[i]))
				continue;
			free(b);
			return err_set(ERR_INVAL, "invalid hex digit at position %zu", i);
		}
		if (hi < 0) {
			hi = v;
		} else {
			b[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0) {
		free(b);
		return err_set(ERR_INVAL, "odd number of hex digits");
	}
	*out = b;
	*outlen = n;
	return 0;
}

char *base64_encode(const uint8_t *in, size_t n)
{
	char *s;
	size_t olen;

	if (n > (size_t)INT32_MAX / 2)
		return NULL;
	olen = 4 * ((n + 2) / 3) + 1;
	s = malloc(olen);
	if (s)
		EVP_EncodeBlock((unsigned char *)s, in, (int)n);
	return s;
}

int base64_decode(const char *in, size_t inlen, uint8_t **out, size_t *outlen)
{
	uint8_t *b;
	int n;
	size_t pad = 0;

	ENSURE(inlen % 4 == 0, ERR_INVAL, "base64: length %zu is not a multiple of 4", inlen);
	ENSURE(inlen <= (size_t)INT32_MAX, ERR_TOOBIG, "base64: input too large");
	for (size_t i = 0; i < inlen; i++) {
		char c = in[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		         (c >= '0' && c <= '9') || c == '+' || c == '/' ||
		         (c == '=' && i + 2 >= inlen);
		ENSURE(ok, ERR_INVAL, "base64: invalid character at position %zu", i);
	}
	if (inlen && in[inlen - 1] == '=')
		pad++;
	if (inlen > 1 && in[inlen - 2] == '=') {
		ENSURE(in[inlen - 1] == '=', ERR_INVAL, "base64: misplaced padding");
		pad++;
	}
	b = malloc(inlen / 4 * 3 + 1);
	ENSURE(b, ERR_NOMEM, "out of memory");
	/* EVP_DecodeBlock counts padding as zero bytes; strip them after. */
	n = EVP_DecodeBlock(b, (const unsigned char *)in, (int)inlen);
	if (n < 0) {
		free(b);
		return err_set(ERR_INVAL, "base64: invalid encoding");
	}
	*out = b;
	*outlen = (size_t)n - pad;
	return 0;
}

void hex_encode_0x(char *out, const uint8_t *in, size_t n)
{
	out[0] = '0';
	out[1] = 'x';
	hex_encode(out + 2, in, n);
}
