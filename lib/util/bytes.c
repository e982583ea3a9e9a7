#include "bytes.h"

#include "err.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rd_init(struct rd *r, const void *buf, size_t len, const char *what)
{
	r->buf = buf;
	r->len = len;
	r->off = 0;
	r->what = what ? what : "input";
}

size_t rd_left(const struct rd *r)
{
	return r->len - r->off;
}

static int need(const struct rd *r, size_t n, const char *field)
{
	ENSURE(n <= rd_left(r), ERR_INVAL,
	       "%s: truncated %s at offset %zu (need %zu bytes, %zu left)", r->what, field, r->off,
	       n, rd_left(r));
	return 0;
}

int rd_view(struct rd *r, const uint8_t **out, size_t n, const char *field)
{
	GUARD(need(r, n, field));
	*out = r->buf + r->off;
	r->off += n;
	return 0;
}

int rd_copy(struct rd *r, void *out, size_t n, const char *field)
{
	const uint8_t *p;
	GUARD(rd_view(r, &p, n, field));
	if (n)
		memcpy(out, p, n);
	return 0;
}

int rd_u8(struct rd *r, uint8_t *out, const char *field)
{
	return rd_copy(r, out, 1, field);
}

int rd_u16le(struct rd *r, uint16_t *out, const char *field)
{
	const uint8_t *p;
	GUARD(rd_view(r, &p, 2, field));
	*out = le16(p);
	return 0;
}

int rd_u32le(struct rd *r, uint32_t *out, const char *field)
{
	const uint8_t *p;
	GUARD(rd_view(r, &p, 4, field));
	*out = le32(p);
	return 0;
}

int rd_u64le(struct rd *r, uint64_t *out, const char *field)
{
	const uint8_t *p;
	GUARD(rd_view(r, &p, 8, field));
	*out = le64(p);
	return 0;
}

int rd_sub(struct rd *r, struct rd *sub, size_t n, const char *field)
{
	GUARD(need(r, n, field));
	/* The sub-reader keeps absolute offsets so its errors point into the
	 * whole input. */
	sub->buf = r->buf;
	sub->off = r->off;
	sub->len = r->off + n;
	sub->what = r->what;
	r->off += n;
	return 0;
}

void wbuf_init(struct wbuf *w)
{
	w->buf = NULL;
	w->len = 0;
	w->cap = 0;
}

void wbuf_free(struct wbuf *w)
{
	if (w->buf) {
		OPENSSL_cleanse(w->buf, w->cap);
		free(w->buf);
	}
	wbuf_init(w);
}

uint8_t *wbuf_take(struct wbuf *w, size_t *len)
{
	uint8_t *p = w->buf;
	if (len)
		*len = w->len;
	wbuf_init(w);
	return p;
}

int size_add(size_t a, size_t b, size_t *out)
{
	ENSURE(a <= SIZE_MAX - b, ERR_INVAL, "size overflow");
	*out = a + b;
	return 0;
}

int wbuf_reserve(struct wbuf *w, size_t extra)
{
	size_t want = 0, ncap;
	uint8_t *nb;

	GUARD(size_add(w->len, extra, &want));
	if (want <= w->cap)
		return 0;
	ncap = w->cap ? w->cap : 256;
	while (ncap < want) {
		ENSURE(ncap <= SIZE_MAX / 2, ERR_NOMEM, "buffer too large");
		ncap *= 2;
	}
	/* Not realloc: the old block may hold secrets and must be wiped. */
	nb = malloc(ncap);
	ENSURE(nb, ERR_NOMEM, "out of memory (%zu bytes)", ncap);
	if (w->len)
		memcpy(nb, w->buf, w->len);
	if (w->buf) {
		OPENSSL_cleanse(w->buf, w->cap);
		free(w->buf);
	}
	w->buf = nb;
	w->cap = ncap;
	return 0;
}

int wbuf_put(struct wbuf *w, const void *p, size_t n)
{
	GUARD(wbuf_reserve(w, n));
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

int wbuf_zero(struct wbuf *w, size_t n)
{
	GUARD(wbuf_reserve(w, n));
	memset(w->buf + w->len, 0, n);
	w->len += n;
	return 0;
}

int wbuf_u8(struct wbuf *w, uint8_t v)
{
	return wbuf_put(w, &v, 1);
}

int wbuf_u16le(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	return wbuf_put(w, b, 2);
}

int wbuf_u32le(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	return wbuf_put(w, b, 4);
}

int wbuf_u64le(struct wbuf *w, uint64_t v)
{
	GUARD(wbuf_u32le(w, (uint32_t)v));
	return wbuf_u32le(w, (uint32_t)(v >> 32));
}

int wbuf_printf(struct wbuf *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ENSURE(n >= 0, ERR_INVAL, "format error");
	/* +1 for vsnprintf's terminator, which is not counted in len. */
	GUARD(wbuf_reserve(w, (size_t)n + 1));
	va_start(ap, fmt);
	vsnprintf((char *)w->buf + w->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	w->len += (size_t)n;
	return 0;
}
