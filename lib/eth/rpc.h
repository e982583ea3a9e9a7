/* rpc.h — Ethereum JSON-RPC over HTTP (libcurl).
 *
 * Transport errors are retried (http.c); JSON-RPC errors are not.  A
 * reverted call or transaction gets its reason decoded: Error(string),
 * Panic(uint256), or a custom error from the signatures given with
 * eth_rpc_set_errors() (e.g. PoCo's).
 */
#ifndef TDEXEC_ETH_RPC_H
#define TDEXEC_ETH_RPC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

/* A client may be shared by threads once set up: calls are independent
 * requests (request ids and the cached chain id are atomic); the setters
 * below are for before it is shared. */
struct eth_rpc;

MUST_CHECK int eth_rpc_new(const char *url, struct eth_rpc **out);
void eth_rpc_free(struct eth_rpc *r);
/* Custom error signatures ("NotOwner()", "BadSignature(address)") used to
 * decode revert data; the array is borrowed. */
void eth_rpc_set_errors(struct eth_rpc *r, const char *const *sigs, size_t n);
/* Revert data (`d`, n bytes) as one readable line into buf (cap bytes):
 * "reverted: MESSAGE" for Error(string), "panicked: 0x11 (arithmetic
 * overflow or underflow)" for Panic(uint256), "reverted: Name[args]" for a
 * custom error among `errors` (signatures, as eth_rpc_set_errors), else
 * "reverted with custom error 0xSELECTOR"; "reverted without a reason" when
 * there is no data.  What the contract says is escaped (str_printable). */
void eth_revert_reason(const uint8_t *d, size_t n, const char *const *errors, size_t n_errors,
                       char *buf, size_t cap);
/* Print one progress line per wait step on stderr (default off). */
void eth_rpc_set_progress(struct eth_rpc *r, int on);
/* Cap maxFeePerGas (wei) of what eth_send_tx sends (default: none); past
 * it the send fails with ERR_BUSY. */
void eth_rpc_set_max_fee(struct eth_rpc *r, uint64_t wei);
/* From now on eth_send_tx sends the transactions of `key` through a
 * transaction manager (txm.h: nonces tracked, dropped ones re-sent, stuck
 * ones replaced, fees under cfg->max_fee) that the rpc owns and frees. */
struct eth_txm_config;
struct eth_txm;
int eth_rpc_manage(struct eth_rpc *r, const uint8_t key[32], const struct eth_txm_config *cfg);
/* The manager eth_rpc_manage set, or NULL. */
struct eth_txm *eth_rpc_txm(struct eth_rpc *r);

/* Call `method` with `params` (a JSON array; stolen).  *result is a new
 * reference.  Errors carry the node's message and decoded revert reason. */
MUST_CHECK int eth_rpc_call(struct eth_rpc *r, const char *method, json_t *params, json_t **result);

MUST_CHECK int eth_chain_id(struct eth_rpc *r, uint64_t *out);
MUST_CHECK int eth_block_number(struct eth_rpc *r, uint64_t *out);
/* The head block's timestamp: the chain's time (Unix seconds), which
 * deadlines are measured against (a test chain's runs ahead of the clock). */
MUST_CHECK int eth_block_time(struct eth_rpc *r, uint64_t *out);
MUST_CHECK int eth_nonce(struct eth_rpc *r, const uint8_t addr[20], uint64_t *out); /* pending */
MUST_CHECK int eth_balance(struct eth_rpc *r, const uint8_t addr[20], uint8_t out[32]);
MUST_CHECK int eth_code_size(struct eth_rpc *r, const uint8_t addr[20], size_t *out);
/* eth_call at "latest"; the return data (free()). */
MUST_CHECK int eth_call(struct eth_rpc *r, const uint8_t *from, const uint8_t to[20],
                        const uint8_t *data, size_t len, uint8_t **ret, size_t *ret_len);
/* The same in the state after block `block` (ETH_LATEST = "latest"). */
#define ETH_LATEST UINT64_MAX
MUST_CHECK int eth_call_at(struct eth_rpc *r, const uint8_t *from, const uint8_t to[20],
                           const uint8_t *data, size_t len, uint64_t block, uint8_t **ret,
                           size_t *ret_len);
/* eth_getLogs over [from_block, to_block] for an address and topic0 (NULL =
 * any); a JSON array of log objects.  Large ranges are split. */
MUST_CHECK int eth_get_logs(struct eth_rpc *r, const uint8_t addr[20], const uint8_t *topic0,
                            uint64_t from_block, uint64_t to_block, json_t **logs);

/* A transaction to send: to NULL = contract creation. */
struct eth_send {
	const uint8_t *to;
	const uint8_t *data;
	size_t data_len;
	uint8_t value[32];
	uint64_t gas; /* 0 = estimate (+20%) */
};

struct eth_receipt {
	uint8_t tx_hash[32];
	int status; /* 1 success, 0 reverted */
	uint64_t block;
	uint64_t gas_used;
	uint8_t contract[20]; /* for creations */
	json_t *logs;         /* owned */
};
void eth_receipt_free(struct eth_receipt *rc);

/* The receipt of `hash`: 1 (filled), 0 when not mined yet, or an error. */
int eth_receipt_get(struct eth_rpc *r, const uint8_t hash[32], struct eth_receipt *out);

/* Sign (EIP-1559, fees from eth_fees_next in txm.h), send, and wait up to
 * timeout_s for the receipt.  A reverted transaction is ERR_VERIFY with the
 * reason (replayed through eth_call to get it). */
MUST_CHECK int eth_send_tx(struct eth_rpc *r, const uint8_t priv[32], const struct eth_send *tx,
                           long timeout_s, struct eth_receipt *out);

/* Parse "0x..." quantities and data. */
MUST_CHECK int eth_hex_u64(const json_t *v, uint64_t *out);

#endif
