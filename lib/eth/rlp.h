/* rlp.h — Recursive Length Prefix encoding (Ethereum yellow paper, App. B). */
#ifndef TDEXEC_ETH_RLP_H
#define TDEXEC_ETH_RLP_H

#include "util/bytes.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

/* Append the encoding of a byte string. */
MUST_CHECK int rlp_bytes(struct wbuf *w, const uint8_t *p, size_t n);
/* Append an unsigned integer given big-endian (leading zeros stripped). */
MUST_CHECK int rlp_uint_be(struct wbuf *w, const uint8_t *be, size_t n);
MUST_CHECK int rlp_u64(struct wbuf *w, uint64_t v);
/* Append a list whose items are already encoded in `items`. */
MUST_CHECK int rlp_list(struct wbuf *w, const struct wbuf *items);

/* Decode one item at the reader: *is_list says which; `payload` views its
 * content.  Canonical encodings only (shortest forms). */
MUST_CHECK int rlp_next(struct rd *r, int *is_list, struct rd *payload);

#endif
