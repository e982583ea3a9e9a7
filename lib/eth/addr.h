/* addr.h — Ethereum addresses and 256-bit numbers as text. */
#ifndef TDEXEC_ETH_ADDR_H
#define TDEXEC_ETH_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

/* EIP-55 mixed-case checksummed "0x..." into out[43]. */
void eth_addr_str(const uint8_t addr[20], char out[43]);
/* Parse "0x" + 40 hex digits.  All-lower or all-upper digits are accepted
 * as is; mixed case must be a valid EIP-55 checksum (a typo is caught). */
MUST_CHECK int eth_addr_parse(const char *s, uint8_t addr[20]);

/* A uint256 (32 bytes big-endian) from decimal or "0x" hex text;
 * ERR_INVAL on garbage or overflow. */
MUST_CHECK int u256_parse(const char *s, uint8_t out[32]);
/* Decimal text of a uint256 (out holds at least 79 bytes). */
void u256_str(const uint8_t v[32], char *out, size_t cap);
void u256_from_u64(uint64_t v, uint8_t out[32]);

/* JSON strings for the ABI/RPC layer: a checksummed address, "0x" + hex. */
struct json_t;
struct json_t *eth_json_addr(const uint8_t addr[20]);
struct json_t *eth_json_hex(const uint8_t *p, size_t n);

#endif
