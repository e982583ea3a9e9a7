/* codec.h — hex and base64 encoding. */
#ifndef TDEXEC_UTIL_CODEC_H
#define TDEXEC_UTIL_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

/* Lower-case hex of n bytes into out, which holds 2*n+1 chars (NUL-ended). */
void hex_encode(char *out, const uint8_t *in, size_t n);
/* The same with a "0x" prefix: out holds 2 + 2n + 1 bytes. */
void hex_encode_0x(char *out, const uint8_t *in, size_t n);
/* Newly allocated lower-case hex string (free()), or NULL on ENOMEM. */
char *hex_dup(const uint8_t *in, size_t n);

/* Decode exactly `n` bytes of hex (optional "0x" prefix, either case) from
 * a NUL-terminated string.  Returns 0 or ERR_INVAL naming `what`. */
MUST_CHECK int hex_decode_exact(uint8_t *out, size_t n, const char *hex, const char *what);

/* Decode hex of any even length, ignoring ASCII whitespace; the result is
 * heap-allocated (free()).  Returns 0 or ERR_INVAL / ERR_NOMEM. */
MUST_CHECK int hex_decode_alloc(const char *hex, size_t hexlen, uint8_t **out, size_t *outlen);

/* True if buf is non-empty and holds only hex digits and whitespace. */
MUST_CHECK int is_hex_text(const uint8_t *buf, size_t len);

/* Up to n bytes of `in` (stopping at a NUL) as one printable line into out
 * (cap bytes, NUL-ended): control bytes, 0x7f and every byte past ASCII
 * become \xNN, a backslash \\, so the result is printable ASCII (valid
 * UTF-8, safe on a terminal); what does not fit is cut between two escapes
 * and ends with "...".
 * For words that come from outside (a node's revert reason, a runtime's
 * message) shown to a user.  Returns out. */
char *str_printable(char *out, size_t cap, const char *in, size_t n);

/* Standard base64 with padding (RFC 4648).  Allocated, NUL-ended. */
char *base64_encode(const uint8_t *in, size_t n);
/* Strict decode: padding required, no whitespace.  Allocated result. */
MUST_CHECK int base64_decode(const char *in, size_t inlen, uint8_t **out, size_t *outlen);

#endif
