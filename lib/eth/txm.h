/* txm.h — one wallet's transactions in flight: nonces tracked locally,
 * EIP-1559 fees under a cap, receipts awaited by one thread.
 *
 * The manager signs and sends at once (the caller learns the hash), then
 * its thread polls the pending table every poll_ms:
 *   - a receipt for any version of a transaction ends it (done callback);
 *   - a transaction the node no longer knows (dropped from its pool, or
 *     never received while the endpoint was down) is sent again, the same
 *     signed bytes: a retry never makes a second transaction;
 *   - one not mined after stuck_blocks blocks is replaced (same nonce) with
 *     both fees raised by at least 10 % and to what the chain now asks,
 *     never above max_fee: past the cap it waits for the base fee to fall;
 *   - a nonce error ("nonce too low", "replacement transaction
 *     underpriced") resyncs the next nonce from the node's pending count.
 * All functions are thread-safe.  Callbacks run on the manager's thread (or
 * the submitting one, for the first `sent`); they must not call back into
 * the manager but for eth_txm_pending and eth_txm_reachable.
 */
#ifndef TDEXEC_ETH_TXM_H
#define TDEXEC_ETH_TXM_H

#include "eth/rpc.h"

#include <stddef.h>
#include <stdint.h>

#define ETH_TXM_MAX_VERSIONS 16 /* replacements kept per nonce */

struct eth_txm;

struct eth_txm_config {
	uint64_t max_fee;      /* maxFeePerGas cap, wei (0: 100 gwei) */
	unsigned stuck_blocks; /* replace after this many blocks unmined (0: 3) */
	unsigned poll_ms;      /* pending table poll period (0: 200) */
};

/* EIP-1559 fees for the next block: its base fee (eth_feeHistory's last
 * entry), a priority fee (the median of recent blocks' 50th percentile
 * tips, or the node's eth_maxPriorityFeePerGas when they tipped nothing),
 * max_fee = 2 x base + priority, both clipped to `cap` (0 = none).
 * ERR_BUSY when the next base fee alone is at or above the cap. */
struct eth_fees {
	uint64_t base, max_fee, priority;
};
int eth_fees_next(struct eth_rpc *r, uint64_t cap, struct eth_fees *out);

/* What became of a transaction.  rc 0: mined, `receipt` (status 1, or 0
 * reverted with `error` the replayed reason); rc < 0: it will not be mined
 * (its nonce went to another transaction, or the manager stopped first:
 * ERR_BUSY), `error` says why.  Valid during the callback only. */
struct eth_txm_result {
	int rc;
	const char *error;
	const struct eth_receipt *receipt;
	uint64_t nonce;
};

/* Each version signed, just before it is sent (the first, each
 * replacement, and again when a replacement was refused): every hash this
 * nonce may be mined under (newest last) and the newest signed bytes, for
 * a journal to re-send after a crash. */
struct eth_txm_sent {
	uint64_t nonce;
	const uint8_t (*hashes)[32];
	size_t n_hashes;
	const uint8_t *raw;
	size_t raw_len;
};

struct eth_txm_cb {
	void (*sent)(void *arg, const struct eth_txm_sent *s);
	void (*done)(void *arg, const struct eth_txm_result *r);
	void *arg;
};

/* A manager for the wallet of `key` on the node at `url` (its own
 * connections); the key is copied and wiped on free. */
int eth_txm_new(const char *url, const uint8_t key[32], const struct eth_txm_config *cfg,
                struct eth_txm **out);
/* Stop the thread; transactions still pending get done(rc = ERR_BUSY). */
void eth_txm_free(struct eth_txm *m);
/* Custom error signatures for revert reasons (see eth_rpc_set_errors). */
void eth_txm_set_errors(struct eth_txm *m, const char *const *sigs, size_t n);

/* Sign and send `tx` (gas estimated +20 % when 0; tx->data copied) with
 * the next nonce; `cb` (may be NULL) hears of it until done.  hash: the
 * first version's.  An error here (estimation reverted, the node refused
 * it for a reason other than fees or nonce) means nothing was sent.  An
 * endpoint that cannot be reached is not an error: the transaction is
 * kept and sent when it answers again. */
int eth_txm_submit(struct eth_txm *m, const struct eth_send *tx, const struct eth_txm_cb *cb,
                   uint8_t hash[32]);
/* Submit and wait up to timeout_s for the receipt (eth_send_tx's
 * contract: a reverted transaction is ERR_VERIFY with its reason). */
int eth_txm_send(struct eth_txm *m, const struct eth_send *tx, long timeout_s,
                 struct eth_receipt *out);
/* Track a transaction signed earlier (a journal's, after a restart): its
 * versions' hashes and the newest signed bytes, re-sent if the node does
 * not know it. */
int eth_txm_adopt(struct eth_txm *m, uint64_t nonce, const uint8_t (*hashes)[32], size_t n,
                  const uint8_t *raw, size_t raw_len, const struct eth_txm_cb *cb);

/* Transactions not yet done. */
size_t eth_txm_pending(struct eth_txm *m);
/* Wait until fewer than `n` are pending, up to timeout_ms; 0 when so,
 * ERR_BUSY on timeout. */
int eth_txm_wait_below(struct eth_txm *m, size_t n, long timeout_ms);
/* 1 while the last poll reached the node (0 after a transport error). */
int eth_txm_reachable(struct eth_txm *m);

/* What the manager did since it started, for a service's /metrics: new
 * transactions sent (one per nonce, however many versions), mined with
 * status 1, failed (reverted, refused by the node, or their nonce taken by
 * another), and the gas of every receipt (reverted ones pay too).  All
 * zero for m NULL. */
struct eth_txm_stats {
	uint64_t sent, mined, failed, gas_used;
};
void eth_txm_stats(struct eth_txm *m, struct eth_txm_stats *out);
/* The same as Prometheus counters (tdexec_eth_transactions_sent_total,
 * _mined_total, _failed_total, tdexec_eth_gas_used_total). */
struct wbuf;
MUST_CHECK int eth_txm_metrics(struct eth_txm *m, struct wbuf *w);

#endif
