/* abi.h — Solidity ABI encoding and decoding.
 *
 * Types are written as in Solidity signatures: "uint256", "int64",
 * "address", "bool", "bytes32", "bytes", "string", "T[]", "T[N]" and tuples
 * "(T1,T2,...)".  Values are JSON (jansson):
 *   integers   a decimal or "0x" hex string, or a JSON integer
 *   address    "0x" + 40 hex digits (EIP-55 checked when mixed case)
 *   bool       true / false
 *   bytesN     "0x" + 2N hex digits;  bytes: "0x" + any even hex
 *   string     a JSON string
 *   arrays and tuples  JSON arrays
 * Decoding returns the same forms (integers as decimal strings, addresses
 * checksummed, bytes as lower-case hex).
 */
#ifndef TDEXEC_ETH_ABI_H
#define TDEXEC_ETH_ABI_H

#include "util/bytes.h"
#include "util/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum abi_kind {
	ABI_UINT,
	ABI_INT,
	ABI_ADDRESS,
	ABI_BOOL,
	ABI_FBYTES,
	ABI_BYTES,
	ABI_STRING,
	ABI_ARRAY,
	ABI_FARRAY,
	ABI_TUPLE
};

struct abi_type {
	enum abi_kind kind;
	unsigned size;            /* bits for (u)int, bytes for bytesN, length for T[N] */
	struct abi_type *elem;    /* arrays */
	struct abi_type **fields; /* tuples */
	size_t nfields;
};

MUST_CHECK int abi_type_parse(const char *s, struct abi_type **out);
void abi_type_free(struct abi_type *t);
/* The canonical type string ("uint" -> "uint256") into a new string. */
char *abi_type_str(const struct abi_type *t);

/* Encode one value of type t (a tuple for argument lists). */
MUST_CHECK int abi_encode(const struct abi_type *t, const json_t *v, struct wbuf *out);
/* Decode `len` bytes as one value of type t. */
MUST_CHECK int abi_decode(const struct abi_type *t, const uint8_t *p, size_t len, json_t **out);

/* keccak256(signature)[0..4). */
void abi_selector(const char *signature, uint8_t out[4]);
/* selector || abi_encode(args) for "name(T1,...)"; args a JSON array. */
MUST_CHECK int abi_encode_call(const char *signature, const json_t *args, struct wbuf *out);
/* Decode the return data of a call whose outputs are the tuple `types`. */
MUST_CHECK int abi_decode_str(const char *types, const uint8_t *p, size_t len, json_t **out);

#endif
