#include "tx.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/rlp.h"
#include "util/bytes.h"
#include "util/err.h"

#include <string.h>

/* The fields every form shares, in each form's order. */
static int fields(const struct eth_tx *tx, struct wbuf *w)
{
	if (tx->type == 2) {
		GUARD(rlp_u64(w, tx->chain_id));
		GUARD(rlp_u64(w, tx->nonce));
		GUARD(rlp_uint_be(w, tx->max_priority, 32));
		GUARD(rlp_uint_be(w, tx->max_fee, 32));
	} else {
		GUARD(rlp_u64(w, tx->nonce));
		GUARD(rlp_uint_be(w, tx->max_fee, 32));
	}
	GUARD(rlp_u64(w, tx->gas));
	GUARD(rlp_bytes(w, tx->to, tx->has_to ? 20 : 0));
	GUARD(rlp_uint_be(w, tx->value, 32));
	GUARD(rlp_bytes(w, tx->data, tx->data_len));
	if (tx->type == 2)
		GUARD(wbuf_u8(w, 0xc0)); /* empty access list */
	return 0;
}

static int envelope(const struct eth_tx *tx, const struct wbuf *items, struct wbuf *out)
{
	if (tx->type == 2)
		GUARD(wbuf_u8(out, 0x02));
	return rlp_list(out, items);
}

int eth_tx_sign(const struct eth_tx *tx, const uint8_t priv[32], uint8_t **raw, size_t *len,
                uint8_t hash[32])
{
	struct wbuf items, unsigned_tx, out;
	uint8_t h[32], rs[64];
	int recid, rc = 0;

	ENSURE(tx->type == 0 || tx->type == 2, ERR_UNSUPPORTED, "transaction type %d", tx->type);
	wbuf_init(&items);
	wbuf_init(&unsigned_tx);
	wbuf_init(&out);
	/* The signing payload. */
	GUARD_GOTO(fields(tx, &items));
	if (tx->type == 0) {
		GUARD_GOTO(rlp_u64(&items, tx->chain_id));
		GUARD_GOTO(rlp_bytes(&items, NULL, 0));
		GUARD_GOTO(rlp_bytes(&items, NULL, 0));
	}
	GUARD_GOTO(envelope(tx, &items, &unsigned_tx));
	keccak256(unsigned_tx.buf, unsigned_tx.len, h);
	GUARD_GOTO(k1_sign_recid(priv, h, rs, &recid));

	/* The signed transaction. */
	items.len = 0;
	GUARD_GOTO(fields(tx, &items));
	if (tx->type == 2)
		GUARD_GOTO(rlp_u64(&items, (uint64_t)recid));
	else
		GUARD_GOTO(rlp_u64(&items, tx->chain_id * 2 + 35 + (uint64_t)recid));
	GUARD_GOTO(rlp_uint_be(&items, rs, 32));
	GUARD_GOTO(rlp_uint_be(&items, rs + 32, 32));
	GUARD_GOTO(envelope(tx, &items, &out));
	keccak256(out.buf, out.len, hash);
	*raw = wbuf_take(&out, len);
out:
	wbuf_free(&items);
	wbuf_free(&unsigned_tx);
	wbuf_free(&out);
	return rc;
}
