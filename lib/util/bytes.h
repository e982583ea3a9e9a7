/* bytes.h — bounds-checked reader and growable writer for binary formats.
 *
 * Every parser of untrusted bytes reads through a `struct rd`: a view of an
 * input with a read offset.  Each read checks the remaining length first and
 * fails with an error naming the field and its byte offset, so parsers never
 * do pointer arithmetic on raw input.  A `struct wbuf` owns a heap buffer
 * that grows as values are appended; writers fail only on allocation.
 */
#ifndef TDEXEC_UTIL_BYTES_H
#define TDEXEC_UTIL_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

struct rd {
	const uint8_t *buf;
	size_t len;
	size_t off;
	const char *what; /* prefix of error messages, e.g. "quote" */
};

void rd_init(struct rd *r, const void *buf, size_t len, const char *what);
size_t rd_left(const struct rd *r);

/* Each read names `field` in its error: "<what>: truncated <field> at
 * offset N (need K bytes, M left)".  Return 0 or ERR_INVAL. */
MUST_CHECK int rd_u8(struct rd *r, uint8_t *out, const char *field);
MUST_CHECK int rd_u16le(struct rd *r, uint16_t *out, const char *field);
MUST_CHECK int rd_u32le(struct rd *r, uint32_t *out, const char *field);
MUST_CHECK int rd_u64le(struct rd *r, uint64_t *out, const char *field);
/* Copy n bytes into out. */
MUST_CHECK int rd_copy(struct rd *r, void *out, size_t n, const char *field);
/* Borrow n bytes of the input (no copy): *out points into r->buf. */
MUST_CHECK int rd_view(struct rd *r, const uint8_t **out, size_t n, const char *field);
/* Restrict: make `sub` a reader of the next n bytes and skip them in r. */
MUST_CHECK int rd_sub(struct rd *r, struct rd *sub, size_t n, const char *field);

struct wbuf {
	uint8_t *buf;
	size_t len;
	size_t cap;
};

void wbuf_init(struct wbuf *w);
/* Frees the buffer after wiping it (it may hold key material). */
void wbuf_free(struct wbuf *w);
/* Hand the buffer to the caller (free() it); the wbuf is reset. */
uint8_t *wbuf_take(struct wbuf *w, size_t *len);
MUST_CHECK int wbuf_reserve(struct wbuf *w, size_t extra);
MUST_CHECK int wbuf_put(struct wbuf *w, const void *p, size_t n);
MUST_CHECK int wbuf_u8(struct wbuf *w, uint8_t v);
MUST_CHECK int wbuf_u16le(struct wbuf *w, uint16_t v);
MUST_CHECK int wbuf_u32le(struct wbuf *w, uint32_t v);
MUST_CHECK int wbuf_u64le(struct wbuf *w, uint64_t v);
MUST_CHECK int wbuf_zero(struct wbuf *w, size_t n);
MUST_CHECK int wbuf_printf(struct wbuf *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Little-endian loads from a buffer already known to be long enough. */
static inline uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Checked size arithmetic: return 0 and set *out, or ERR_INVAL on overflow. */
MUST_CHECK int size_add(size_t a, size_t b, size_t *out);

#endif
