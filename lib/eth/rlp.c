#include "rlp.h"

#include "util/err.h"

static int header(struct wbuf *w, uint8_t short_base, uint8_t long_base, size_t n)
{
	uint8_t len[8];
	int k = 0;
	if (n < 56)
		return wbuf_u8(w, (uint8_t)(short_base + n));
	for (size_t v = n; v; v >>= 8)
		len[k++] = (uint8_t)v;
	GUARD(wbuf_u8(w, (uint8_t)(long_base + k)));
	while (k)
		GUARD(wbuf_u8(w, len[--k]));
	return 0;
}

int rlp_bytes(struct wbuf *w, const uint8_t *p, size_t n)
{
	if (n == 1 && p[0] < 0x80)
		return wbuf_u8(w, p[0]);
	GUARD(header(w, 0x80, 0xb7, n));
	return wbuf_put(w, p, n);
}

int rlp_uint_be(struct wbuf *w, const uint8_t *be, size_t n)
{
	while (n && be[0] == 0) {
		be++;
		n--;
	}
	return rlp_bytes(w, be, n);
}

int rlp_u64(struct wbuf *w, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * (7 - i)));
	return rlp_uint_be(w, b, 8);
}

int rlp_list(struct wbuf *w, const struct wbuf *items)
{
	GUARD(header(w, 0xc0, 0xf7, items->len));
	return wbuf_put(w, items->buf, items->len);
}

int rlp_next(struct rd *r, int *is_list, struct rd *payload)
{
	uint8_t b;
	size_t start = r->off, len = 0;

	GUARD(rd_u8(r, &b, "rlp item"));
	*is_list = b >= 0xc0;
	if (b < 0x80) {
		r->off = start; /* the byte is its own payload */
		return rd_sub(r, payload, 1, "rlp byte");
	}
	if (b < 0xb8 || (b >= 0xc0 && b < 0xf8)) {
		len = (size_t)(b - (b < 0xc0 ? 0x80 : 0xc0));
	} else {
		int k = b - (b < 0xc0 ? 0xb7 : 0xf7);
		ENSURE(k <= 4, ERR_INVAL, "rlp: length of %d bytes at offset %zu", k, start);
		for (int i = 0; i < k; i++) {
			uint8_t c;
			GUARD(rd_u8(r, &c, "rlp length"));
			ENSURE(i > 0 || c != 0, ERR_INVAL,
			       "rlp: non-canonical length at offset %zu", start);
			len = len << 8 | c;
		}
		ENSURE(len >= 56, ERR_INVAL, "rlp: non-canonical long form at offset %zu", start);
	}
	GUARD(rd_sub(r, payload, len, "rlp payload"));
	ENSURE(*is_list || len != 1 || payload->buf[payload->off] >= 0x80, ERR_INVAL,
	       "rlp: non-canonical single byte at offset %zu", start);
	return 0;
}
