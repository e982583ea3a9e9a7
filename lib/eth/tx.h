/* tx.h — Ethereum transactions: EIP-1559 (type 2) and legacy (EIP-155). */
#ifndef TDEXEC_ETH_TX_H
#define TDEXEC_ETH_TX_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

struct eth_tx {
	int type; /* 2 = EIP-1559, 0 = legacy with EIP-155 replay protection */
	uint64_t chain_id;
	uint64_t nonce;
	uint64_t gas;
	uint8_t max_fee[32];      /* type 2: maxFeePerGas; legacy: gasPrice */
	uint8_t max_priority[32]; /* type 2 only */
	int has_to;               /* 0: contract creation */
	uint8_t to[20];
	uint8_t value[32];
	const uint8_t *data;
	size_t data_len;
};

/* Sign: the raw transaction bytes (free()) and its hash. */
MUST_CHECK int eth_tx_sign(const struct eth_tx *tx, const uint8_t priv[32], uint8_t **raw,
                           size_t *len, uint8_t hash[32]);

#endif
