#include "abi.h"

#include "crypto/keccak.h"
#include "eth/addr.h"
#include "util/codec.h"
#include "util/err.h"

#include <openssl/bn.h>
#include <stdlib.h>
#include <string.h>

#define ABI_MAX_DEPTH 16
#define ABI_MAX_ITEMS (1u << 20)

/* ---------- types ---------- */

void abi_type_free(struct abi_type *t)
{
	if (!t)
		return;
	abi_type_free(t->elem);
	for (size_t i = 0; i < t->nfields; i++)
		abi_type_free(t->fields[i]);
	free(t->fields);
	free(t);
}

static int parse_type(const char **s, int depth, struct abi_type **out);

static int parse_base(const char **s, int depth, struct abi_type *t)
{
	const char *p = *s;
	unsigned n = 0;
	int has_n = 0;

	if (*p == '(') {
		t->kind = ABI_TUPLE;
		p++;
		if (*p == ')') {
			*s = p + 1;
			return 0;
		}
		for (;;) {
			struct abi_type *f, **nf;
			GUARD(parse_type(&p, depth + 1, &f));
			nf = realloc(t->fields, (t->nfields + 1) * sizeof(*nf));
			if (!nf) {
				abi_type_free(f);
				return err_set(ERR_NOMEM, "out of memory");
			}
			t->fields = nf;
			t->fields[t->nfields++] = f;
			if (*p == ',') {
				p++;
				continue;
			}
			ENSURE(*p == ')', ERR_INVAL, "abi type: expected ',' or ')' at \"%.20s\"",
			       p);
			*s = p + 1;
			return 0;
		}
	}
#define WORD(w) (strncmp(p, w, strlen(w)) == 0 && (p += strlen(w)))
	if (WORD("uint"))
		t->kind = ABI_UINT;
	else if (WORD("int"))
		t->kind = ABI_INT;
	else if (WORD("address"))
		t->kind = ABI_ADDRESS;
	else if (WORD("bool"))
		t->kind = ABI_BOOL;
	else if (WORD("bytes"))
		t->kind = ABI_BYTES;
	else if (WORD("string"))
		t->kind = ABI_STRING;
	else
		return err_set(ERR_INVAL, "abi type: unknown type at \"%.20s\"", p);
#undef WORD
	while (*p >= '0' && *p <= '9' && n < 1000) {
		n = n * 10 + (unsigned)(*p++ - '0');
		has_n = 1;
	}
	switch (t->kind) {
	case ABI_UINT:
	case ABI_INT:
		t->size = has_n ? n : 256;
		ENSURE(t->size >= 8 && t->size <= 256 && t->size % 8 == 0, ERR_INVAL,
		       "abi type: bad integer size %u", t->size);
		break;
	case ABI_BYTES:
		if (has_n) {
			ENSURE(n >= 1 && n <= 32, ERR_INVAL, "abi type: bad bytes%u", n);
			t->kind = ABI_FBYTES;
			t->size = n;
		}
		break;
	default: ENSURE(!has_n, ERR_INVAL, "abi type: unexpected size");
	}
	*s = p;
	return 0;
}

static int parse_type(const char **s, int depth, struct abi_type **out)
{
	struct abi_type *t;
	int rc;

	ENSURE(depth < ABI_MAX_DEPTH, ERR_INVAL, "abi type: nested too deeply");
	t = calloc(1, sizeof(*t));
	ENSURE(t, ERR_NOMEM, "out of memory");
	rc = parse_base(s, depth, t);
	while (rc == 0 && **s == '[') {
		struct abi_type *a = calloc(1, sizeof(*a));
		const char *p = *s + 1;
		unsigned n = 0;
		if (!a) {
			rc = err_set(ERR_NOMEM, "out of memory");
			break;
		}
		a->elem = t;
		t = a;
		if (*p == ']') {
			a->kind = ABI_ARRAY;
		} else {
			while (*p >= '0' && *p <= '9' && n <= 100000)
				n = n * 10 + (unsigned)(*p++ - '0');
			if (*p != ']' || n == 0 || n > 100000) {
				rc = err_set(ERR_INVAL, "abi type: bad array size");
				break;
			}
			a->kind = ABI_FARRAY;
			a->size = n;
		}
		*s = p + 1;
	}
	if (rc < 0) {
		abi_type_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int abi_type_parse(const char *s, struct abi_type **out)
{
	const char *p = s;
	int rc = parse_type(&p, 0, out);
	if (rc == 0 && *p) {
		abi_type_free(*out);
		*out = NULL;
		return err_set(ERR_INVAL, "abi type: trailing text \"%.20s\" in \"%s\"", p, s);
	}
	return rc;
}

static int type_str(const struct abi_type *t, struct wbuf *w)
{
	switch (t->kind) {
	case ABI_UINT: return wbuf_printf(w, "uint%u", t->size);
	case ABI_INT: return wbuf_printf(w, "int%u", t->size);
	case ABI_ADDRESS: return wbuf_printf(w, "address");
	case ABI_BOOL: return wbuf_printf(w, "bool");
	case ABI_FBYTES: return wbuf_printf(w, "bytes%u", t->size);
	case ABI_BYTES: return wbuf_printf(w, "bytes");
	case ABI_STRING: return wbuf_printf(w, "string");
	case ABI_ARRAY: GUARD(type_str(t->elem, w)); return wbuf_printf(w, "[]");
	case ABI_FARRAY: GUARD(type_str(t->elem, w)); return wbuf_printf(w, "[%u]", t->size);
	case ABI_TUPLE:
		GUARD(wbuf_printf(w, "("));
		for (size_t i = 0; i < t->nfields; i++) {
			if (i)
				GUARD(wbuf_printf(w, ","));
			GUARD(type_str(t->fields[i], w));
		}
		return wbuf_printf(w, ")");
	}
	return 0;
}

char *abi_type_str(const struct abi_type *t)
{
	struct wbuf w;
	wbuf_init(&w);
	if (type_str(t, &w) < 0 || wbuf_u8(&w, 0) < 0) {
		wbuf_free(&w);
		return NULL;
	}
	return (char *)wbuf_take(&w, NULL);
}

static int is_dynamic(const struct abi_type *t)
{
	switch (t->kind) {
	case ABI_BYTES:
	case ABI_STRING:
	case ABI_ARRAY: return 1;
	case ABI_FARRAY: return is_dynamic(t->elem);
	case ABI_TUPLE:
		for (size_t i = 0; i < t->nfields; i++)
			if (is_dynamic(t->fields[i]))
				return 1;
		return 0;
	default: return 0;
	}
}

/* Size of a static type's encoding. */
static size_t static_size(const struct abi_type *t)
{
	size_t n = 0;
	if (t->kind == ABI_FARRAY)
		return t->size * static_size(t->elem);
	if (t->kind == ABI_TUPLE) {
		for (size_t i = 0; i < t->nfields; i++)
			n += static_size(t->fields[i]);
		return n;
	}
	return 32;
}

/* ---------- encoding ---------- */

static int word_int(const struct abi_type *t, const json_t *v, uint8_t w[32])
{
	char buf[32];
	const char *s;
	BIGNUM *bn = NULL, *lim = NULL;
	int ok, n;

	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		s = buf;
	} else {
		ENSURE(json_is_string(v), ERR_INVAL, "abi: %s%u value must be a number string",
		       t->kind == ABI_INT ? "int" : "uint", t->size);
		s = json_string_value(v);
	}
	if (s[0] == '-' && s[1] == '0' && (s[2] == 'x' || s[2] == 'X')) {
		n = BN_hex2bn(&bn, s + 3);
		if (n > 0) {
			BN_set_negative(bn, 1);
			n += 3;
		}
	} else if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		n = BN_hex2bn(&bn, s + 2);
		n = n > 0 ? n + 2 : 0;
	} else {
		n = BN_dec2bn(&bn, s);
	}
	lim = BN_new();
	ok = n > 0 && (size_t)n == strlen(s) && lim;
	if (ok && t->kind == ABI_UINT) {
		ok = !BN_is_negative(bn) && BN_num_bits(bn) <= (int)t->size;
	} else if (ok) {
		/* -2^(bits-1) <= v < 2^(bits-1) */
		BN_one(lim);
		BN_lshift(lim, lim, (int)t->size - 1);
		if (BN_is_negative(bn)) {
			BN_set_negative(bn, 0);
			ok = BN_cmp(bn, lim) <= 0;
			if (ok) { /* two's complement in 256 bits: 2^256 - |v| */
				BIGNUM *m = BN_new();
				ok = m && BN_one(m) && BN_lshift(m, m, 256) && BN_sub(bn, m, bn);
				BN_free(m);
			}
		} else {
			ok = BN_cmp(bn, lim) < 0;
		}
	}
	if (ok)
		ok = BN_bn2binpad(bn, w, 32) == 32;
	BN_free(bn);
	BN_free(lim);
	ENSURE(ok, ERR_INVAL, "abi: \"%.80s\" does not fit %s%u", s,
	       t->kind == ABI_INT ? "int" : "uint", t->size);
	return 0;
}

static int hex_value(const json_t *v, uint8_t **out, size_t *n, const char *what)
{
	const char *s;
	ENSURE(json_is_string(v), ERR_INVAL, "abi: %s value must be a hex string", what);
	s = json_string_value(v);
	ENSURE(s[0] == '0' && (s[1] == 'x' || s[1] == 'X'), ERR_INVAL,
	       "abi: %s value must start with 0x", what);
	return hex_decode_alloc(s, strlen(s), out, n);
}

static int pad_put(struct wbuf *w, const uint8_t *p, size_t n)
{
	GUARD(wbuf_put(w, p, n));
	return wbuf_zero(w, (32 - n % 32) % 32);
}

static int encode_value(const struct abi_type *t, const json_t *v, struct wbuf *w, int depth);

/* Heads and tails of a sequence of values (tuple fields or array items). */
static int encode_seq(const struct abi_type *const *types, const struct abi_type *elem, size_t n,
                      const json_t *vals, struct wbuf *w, int depth)
{
	struct wbuf tail;
	size_t head = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		const struct abi_type *ti = types ? types[i] : elem;
		head += is_dynamic(ti) ? 32 : static_size(ti);
	}
	wbuf_init(&tail);
	for (size_t i = 0; i < n; i++) {
		const struct abi_type *ti = types ? types[i] : elem;
		const json_t *vi = json_array_get(vals, i);
		if (is_dynamic(ti)) {
			uint8_t off[32];
			u256_from_u64(head + tail.len, off);
			GUARD_GOTO(wbuf_put(w, off, 32));
			GUARD_GOTO(encode_value(ti, vi, &tail, depth + 1));
		} else {
			GUARD_GOTO(encode_value(ti, vi, w, depth + 1));
		}
	}
	rc = wbuf_put(w, tail.buf, tail.len);
out:
	wbuf_free(&tail);
	return rc;
}

static int encode_value(const struct abi_type *t, const json_t *v, struct wbuf *w, int depth)
{
	uint8_t word[32] = {0}, *b = NULL;
	size_t n;
	int rc;

	ENSURE(v, ERR_INVAL, "abi: missing value for a %s", "field");
	ENSURE(depth < ABI_MAX_DEPTH, ERR_INVAL, "abi: nested too deeply");
	switch (t->kind) {
	case ABI_UINT:
	case ABI_INT: GUARD(word_int(t, v, word)); return wbuf_put(w, word, 32);
	case ABI_ADDRESS:
		ENSURE(json_is_string(v), ERR_INVAL, "abi: address value must be a string");
		GUARD(eth_addr_parse(json_string_value(v), word + 12));
		return wbuf_put(w, word, 32);
	case ABI_BOOL:
		ENSURE(json_is_boolean(v), ERR_INVAL, "abi: bool value must be true or false");
		word[31] = json_is_true(v);
		return wbuf_put(w, word, 32);
	case ABI_FBYTES:
		GUARD(hex_value(v, &b, &n, "bytesN"));
		rc = n == t->size
		         ? 0
		         : err_set(ERR_INVAL, "abi: bytes%u value has %zu bytes", t->size, n);
		if (rc == 0)
			rc = pad_put(w, b, n);
		free(b);
		return rc;
	case ABI_BYTES:
	case ABI_STRING:
		if (t->kind == ABI_STRING) {
			ENSURE(json_is_string(v), ERR_INVAL, "abi: string value must be a string");
			n = json_string_length(v);
			u256_from_u64(n, word);
			GUARD(wbuf_put(w, word, 32));
			return pad_put(w, (const uint8_t *)json_string_value(v), n);
		}
		GUARD(hex_value(v, &b, &n, "bytes"));
		u256_from_u64(n, word);
		rc = wbuf_put(w, word, 32);
		if (rc == 0)
			rc = pad_put(w, b, n);
		free(b);
		return rc;
	case ABI_ARRAY:
		ENSURE(json_is_array(v), ERR_INVAL, "abi: array value must be a JSON array");
		u256_from_u64(json_array_size(v), word);
		GUARD(wbuf_put(w, word, 32));
		return encode_seq(NULL, t->elem, json_array_size(v), v, w, depth);
	case ABI_FARRAY:
		ENSURE(json_is_array(v) && json_array_size(v) == t->size, ERR_INVAL,
		       "abi: T[%u] value must be a JSON array of %u items", t->size, t->size);
		return encode_seq(NULL, t->elem, t->size, v, w, depth);
	case ABI_TUPLE:
		ENSURE(json_is_array(v) && json_array_size(v) == t->nfields, ERR_INVAL,
		       "abi: tuple value must be a JSON array of %zu items", t->nfields);
		return encode_seq((const struct abi_type *const *)t->fields, NULL, t->nfields, v, w,
		                  depth);
	}
	return err_set(ERR_INVAL, "abi: bad type");
}

int abi_encode(const struct abi_type *t, const json_t *v, struct wbuf *out)
{
	return encode_value(t, v, out, 0);
}

void abi_selector(const char *signature, uint8_t out[4])
{
	uint8_t h[32];
	keccak256(signature, strlen(signature), h);
	memcpy(out, h, 4);
}

int abi_encode_call(const char *signature, const json_t *args, struct wbuf *out)
{
	const char *paren = strchr(signature, '(');
	struct abi_type *t;
	uint8_t sel[4];
	int rc;

	ENSURE(paren, ERR_INVAL, "abi: \"%s\" is not a function signature", signature);
	GUARD(abi_type_parse(paren, &t));
	abi_selector(signature, sel);
	rc = wbuf_put(out, sel, 4);
	if (rc == 0)
		rc = abi_encode(t, args, out);
	abi_type_free(t);
	return rc;
}

/* ---------- decoding ---------- */

/* A word as a small non-negative integer (offsets, lengths). */
static int word_size(const uint8_t *w, size_t max, size_t *out, const char *what)
{
	for (int i = 0; i < 24; i++)
		ENSURE(w[i] == 0, ERR_INVAL, "abi: %s too large", what);
	*out = 0;
	for (int i = 24; i < 32; i++)
		*out = *out << 8 | w[i];
	ENSURE(*out <= max, ERR_INVAL, "abi: %s %zu out of range", what, *out);
	return 0;
}

static int decode_value(const struct abi_type *t, const uint8_t *base, size_t len, size_t off,
                        json_t **out, int depth);

static int decode_seq(const struct abi_type *const *types, const struct abi_type *elem, size_t n,
                      const uint8_t *base, size_t len, size_t off, json_t **out, int depth)
{
	json_t *a = json_array();
	size_t head = off;
	int rc = 0;

	ENSURE(a, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct abi_type *ti = types ? types[i] : elem;
		json_t *v = NULL;
		if (is_dynamic(ti)) {
			size_t rel;
			ENSURE_GOTO(head + 32 <= len, ERR_INVAL, "abi: truncated offset at %zu",
			            head);
			GUARD_GOTO(word_size(base + head, len, &rel, "offset"));
			ENSURE_GOTO(off + rel <= len, ERR_INVAL, "abi: offset %zu past the data",
			            rel);
			GUARD_GOTO(decode_value(ti, base, len, off + rel, &v, depth + 1));
			head += 32;
		} else {
			GUARD_GOTO(decode_value(ti, base, len, head, &v, depth + 1));
			head += static_size(ti);
		}
		json_array_append_new(a, v);
	}
	*out = a;
	a = NULL;
out:
	json_decref(a);
	return rc;
}

static json_t *int_json(const struct abi_type *t, const uint8_t w[32])
{
	BIGNUM *bn = BN_bin2bn(w, 32, NULL);
	char *d;
	json_t *j;
	if (!bn)
		return NULL;
	if (t->kind == ABI_INT && (w[0] & 0x80)) {
		BIGNUM *m = BN_new();
		if (m && BN_one(m) && BN_lshift(m, m, 256) && BN_sub(bn, m, bn))
			BN_set_negative(bn, 1);
		BN_free(m);
	}
	d = BN_bn2dec(bn);
	j = d ? json_string(d) : NULL;
	OPENSSL_free(d);
	BN_free(bn);
	return j;
}

static int check_int_range(const struct abi_type *t, const uint8_t w[32])
{
	/* The unused high bits must be zero (uint) or sign extension (int). */
	unsigned used = t->size / 8;
	uint8_t fill = t->kind == ABI_INT && (w[32 - used] & 0x80) ? 0xff : 0x00;
	for (unsigned i = 0; i < 32 - used; i++)
		ENSURE(w[i] == fill, ERR_INVAL, "abi: value out of range for %s%u",
		       t->kind == ABI_INT ? "int" : "uint", t->size);
	return 0;
}

static int decode_value(const struct abi_type *t, const uint8_t *base, size_t len, size_t off,
                        json_t **out, int depth)
{
	const uint8_t *w = base + off;
	char addr[43], *hex;
	size_t n;

	*out = NULL;
	ENSURE(depth < ABI_MAX_DEPTH, ERR_INVAL, "abi: nested too deeply");
	if (t->kind != ABI_TUPLE && t->kind != ABI_FARRAY)
		ENSURE(off <= len && len - off >= 32, ERR_INVAL, "abi: truncated at offset %zu",
		       off);
	switch (t->kind) {
	case ABI_UINT:
	case ABI_INT:
		GUARD(check_int_range(t, w));
		*out = int_json(t, w);
		break;
	case ABI_ADDRESS:
		for (int i = 0; i < 12; i++)
			ENSURE(w[i] == 0, ERR_INVAL, "abi: address with high bytes set");
		eth_addr_str(w + 12, addr);
		*out = json_string(addr);
		break;
	case ABI_BOOL:
		for (int i = 0; i < 31; i++)
			ENSURE(w[i] == 0, ERR_INVAL, "abi: bool out of range");
		ENSURE(w[31] <= 1, ERR_INVAL, "abi: bool out of range");
		*out = json_boolean(w[31]);
		break;
	case ABI_FBYTES:
		hex = malloc(2 * t->size + 3);
		ENSURE(hex, ERR_NOMEM, "out of memory");
		hex[0] = '0';
		hex[1] = 'x';
		hex_encode(hex + 2, w, t->size);
		*out = json_string(hex);
		free(hex);
		break;
	case ABI_BYTES:
	case ABI_STRING:
		GUARD(word_size(w, len, &n, "length"));
		ENSURE(n <= len - off - 32, ERR_INVAL, "abi: %zu-byte value past the data", n);
		if (t->kind == ABI_STRING) {
			*out = json_stringn((const char *)w + 32, n);
			ENSURE(*out, ERR_INVAL, "abi: string is not UTF-8");
		} else {
			hex = malloc(2 * n + 3);
			ENSURE(hex, ERR_NOMEM, "out of memory");
			hex[0] = '0';
			hex[1] = 'x';
			hex_encode(hex + 2, w + 32, n);
			*out = json_string(hex);
			free(hex);
		}
		break;
	case ABI_ARRAY:
		GUARD(word_size(w, ABI_MAX_ITEMS, &n, "array length"));
		/* Each item takes at least one word: bound n by the data left. */
		ENSURE(n <= (len - off - 32) / 32, ERR_INVAL,
		       "abi: array of %zu items past the data", n);
		return decode_seq(NULL, t->elem, n, base + off + 32, len - off - 32, 0, out, depth);
	case ABI_FARRAY:
		return decode_seq(NULL, t->elem, t->size, base + off, len - off, 0, out, depth);
	case ABI_TUPLE:
		ENSURE(off <= len, ERR_INVAL, "abi: truncated tuple");
		return decode_seq((const struct abi_type *const *)t->fields, NULL, t->nfields,
		                  base + off, len - off, 0, out, depth);
	}
	ENSURE(*out, ERR_NOMEM, "out of memory");
	return 0;
}

int abi_decode(const struct abi_type *t, const uint8_t *p, size_t len, json_t **out)
{
	return decode_value(t, p, len, 0, out, 0);
}

int abi_decode_str(const char *types, const uint8_t *p, size_t len, json_t **out)
{
	struct abi_type *t;
	int rc;
	GUARD(abi_type_parse(types, &t));
	rc = abi_decode(t, p, len, out);
	abi_type_free(t);
	return rc;
}
