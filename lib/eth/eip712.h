/* eip712.h — EIP-712 typed structured data hashing.
 *
 * Input is the usual typed-data JSON (as eth_signTypedData_v4 and ethers
 * take it): {"types": {Name: [{"name","type"}...], ...}, "primaryType",
 * "domain", "message"}.  When "EIP712Domain" is absent from types it is
 * derived from the domain's members (name, version, chainId,
 * verifyingContract, salt — in that order).  Values follow abi.h.
 */
#ifndef TDEXEC_ETH_EIP712_H
#define TDEXEC_ETH_EIP712_H

#include <jansson.h>
#include <stdint.h>
#include "util/err.h"

/* keccak256(0x19 0x01 || domainSeparator || hashStruct(message)). */
MUST_CHECK int eip712_digest(const json_t *typed, uint8_t out[32]);
/* hashStruct of `value` as struct `type` under `types`. */
MUST_CHECK int eip712_hash_struct(const json_t *types, const char *type, const json_t *value,
                                  uint8_t out[32]);
/* encodeType string of `type` (new string, free()). */
char *eip712_encode_type(const json_t *types, const char *type);

#endif
