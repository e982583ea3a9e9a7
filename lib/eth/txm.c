#include "txm.h"

#include "crypto/k1.h"
#include "eth/addr.h"
#include "eth/tx.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GWEI            1000000000ull
#define DEFAULT_MAX_FEE (100 * GWEI)
#define FEE_BLOCKS      "0x5" /* eth_feeHistory's window */
#define SUBMIT_TRIES    3     /* sends of a new transaction across nonce resyncs */

/* One nonce in flight: the transaction, and each version of it sent. */
struct entry {
	struct entry *next;
	uint64_t nonce;
	int adopted; /* from a journal: its body is unknown, it can only be re-sent */
	int has_to;
	uint8_t to[20], value[32];
	uint8_t *data;
	size_t data_len;
	uint64_t gas, max_fee, priority; /* of the newest version */
	uint8_t hashes[ETH_TXM_MAX_VERSIONS][32];
	size_t n_hashes;
	uint8_t *raw; /* the newest version's signed bytes */
	size_t raw_len;
	int accepted;        /* the node took the newest version */
	int refused;         /* the node refused it for its fees: sign again */
	uint64_t sent_block; /* the chain's height when it did */
	int fee_capped;      /* said once: the cap stops a bump */
	struct eth_txm_cb cb;
	struct waiter *w;
};

/* eth_txm_send's caller, waiting on m->cv_done. */
struct waiter {
	int done, rc;
	char error[512];
	struct eth_receipt receipt;
};

struct eth_txm {
	struct eth_txm_config cfg;
	uint8_t key[32], from[20];
	/* send_mu: the next nonce, and sending (send_rpc, and the poller's
	 * sends); taken before mu when both are held */
	pthread_mutex_t send_mu;
	struct eth_rpc *send_rpc;
	uint64_t next_nonce;
	int nonce_known;
	/* mu: the table and the flags below */
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	struct entry *head;
	size_t n;
	int stop, reachable;
	uint64_t block;       /* the height at the last poll */
	struct eth_fees fees; /* asked at fees_block (send_mu) */
	uint64_t fees_block;
	pthread_t thread;
	struct eth_rpc *poll_rpc;   /* the poller's own */
	struct eth_txm_stats stats; /* atomics */
};

/* ---------- fees ---------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int eth_fees_next(struct eth_rpc *r, uint64_t cap, struct eth_fees *out)
{
	json_t *h = NULL, *base, *reward;
	uint64_t tips[16], tip = 0;
	size_t n = 0, nb;
	int rc;

	memset(out, 0, sizeof(*out));
	GUARD(eth_rpc_call(r, "eth_feeHistory", json_pack("[s,s,[i]]", FEE_BLOCKS, "latest", 50),
	                   &h));
	base = json_object_get(h, "baseFeePerGas");
	reward = json_object_get(h, "reward");
	nb = json_array_size(base);
	/* baseFeePerGas holds one more entry than blocks asked: the next one */
	rc = nb ? eth_hex_u64(json_array_get(base, nb - 1), &out->base)
	        : err_set(ERR_INVAL, "eth_feeHistory: no base fee");
	for (size_t i = 0; rc == 0 && i < json_array_size(reward) && n < 16; i++) {
		json_t *p = json_array_get(json_array_get(reward, i), 0);
		if (p && eth_hex_u64(p, &tips[n]) == 0)
			n++;
	}
	json_decref(h);
	if (rc < 0)
		return err_wrap(rc, "eth_feeHistory");
	if (n) {
		qsort(tips, n, sizeof(*tips), cmp_u64);
		tip = tips[n / 2];
	}
	/* empty blocks say nothing of the market: ask the node */
	if (tip == 0) {
		json_t *v = NULL;
		if (eth_rpc_call(r, "eth_maxPriorityFeePerGas", NULL, &v) < 0 ||
		    eth_hex_u64(v, &tip) < 0)
			tip = GWEI;
		json_decref(v);
	}
	out->priority = tip;
	out->max_fee = out->base > (UINT64_MAX - tip) / 2 ? UINT64_MAX : 2 * out->base + tip;
	if (cap) {
		ENSURE(out->base < cap, ERR_BUSY,
		       "the next block's base fee (%llu wei) is at or above the fee cap (%llu wei)",
		       (unsigned long long)out->base, (unsigned long long)cap);
		if (out->max_fee > cap)
			out->max_fee = cap;
		if (out->priority > cap - out->base)
			out->priority = cap - out->base;
	}
	return 0;
}

/* ---------- sending ---------- */

enum sent_as { SENT, KNOWN, NONCE_LOW, REPLACE_LOW, FEE_LOW, UNREACHABLE, REFUSED };

/* What the node's answer to eth_sendRawTransaction means (the messages of
 * geth, Anvil, Nethermind and Erigon). */
static enum sent_as classify(int rc)
{
	char m[256];
	size_t i;

	if (rc == 0)
		return SENT;
	if (rc == ERR_IO)
		return UNREACHABLE; /* no answer: it may or may not have arrived */
	for (i = 0; i + 1 < sizeof(m) && err_msg()[i]; i++)
		m[i] = (char)tolower((unsigned char)err_msg()[i]);
	m[i] = 0;
	if (strstr(m, "already known") || strstr(m, "already imported") ||
	    strstr(m, "known transaction") || strstr(m, "alreadyknown"))
		return KNOWN;
	if (strstr(m, "nonce too low") || strstr(m, "oldnonce") || strstr(m, "nonce has already"))
		return NONCE_LOW;
	if (strstr(m, "replacement") && strstr(m, "underpriced"))
		return REPLACE_LOW;
	if (strstr(m, "underpriced") || strstr(m, "base fee") || strstr(m, "fee cap") ||
	    strstr(m, "feetoolow"))
		return FEE_LOW;
	/* a pool with no room for it now: refused like a low fee, asked again */
	if (strstr(m, "pool is full") || strstr(m, "txpool") || strstr(m, "too many"))
		return FEE_LOW;
	return REFUSED;
}

static enum sent_as broadcast(struct eth_rpc *r, const uint8_t *raw, size_t len)
{
	json_t *v = NULL;
	int rc =
	    eth_rpc_call(r, "eth_sendRawTransaction", json_pack("[o]", eth_json_hex(raw, len)), &v);
	json_decref(v);
	return classify(rc);
}

/* Sign e's body with `nonce` and fees: *raw (free()) and its hash. */
static int sign(const struct eth_txm *m, struct eth_rpc *r, const struct entry *e, uint64_t nonce,
                uint64_t max_fee, uint64_t priority, uint8_t **raw, size_t *len, uint8_t hash[32])
{
	struct eth_tx tx;

	memset(&tx, 0, sizeof(tx));
	tx.type = 2;
	GUARD(eth_chain_id(r, &tx.chain_id));
	tx.nonce = nonce;
	tx.gas = e->gas;
	u256_from_u64(max_fee, tx.max_fee);
	u256_from_u64(priority, tx.max_priority);
	tx.has_to = e->has_to;
	memcpy(tx.to, e->to, 20);
	memcpy(tx.value, e->value, 32);
	tx.data = e->data;
	tx.data_len = e->data_len;
	return eth_tx_sign(&tx, m->key, raw, len, hash);
}

/* Make (raw, hash) e's newest version. */
static void add_version(struct entry *e, uint8_t *raw, size_t len, const uint8_t hash[32],
                        uint64_t max_fee, uint64_t priority)
{
	free(e->raw);
	e->raw = raw;
	e->raw_len = len;
	if (e->n_hashes < ETH_TXM_MAX_VERSIONS)
		e->n_hashes++;
	memcpy(e->hashes[e->n_hashes - 1], hash, 32);
	e->max_fee = max_fee;
	e->priority = priority;
}

static void notify_sent(const struct entry *e)
{
	struct eth_txm_sent s = {e->nonce, (const uint8_t(*)[32])e->hashes, e->n_hashes, e->raw,
	                         e->raw_len};
	if (e->cb.sent && e->n_hashes)
		e->cb.sent(e->cb.arg, &s);
}

static void hash_str(const uint8_t h[32], char out[67])
{
	hex_encode_0x(out, h, 32);
}

/* The next nonce from the node's pending count, past every nonce of ours
 * still in the table (send_mu held). */
static int resync(struct eth_txm *m, struct eth_rpc *r)
{
	uint64_t n;
	GUARD(eth_nonce(r, m->from, &n));
	pthread_mutex_lock(&m->mu);
	for (struct entry *e = m->head; e; e = e->next)
		if (e->nonce + 1 > n)
			n = e->nonce + 1;
	pthread_mutex_unlock(&m->mu);
	if (m->nonce_known && n != m->next_nonce)
		log_warn("eth.nonce", "from=%llu to=%llu reason=\"resync\"",
		         (unsigned long long)m->next_nonce, (unsigned long long)n);
	m->next_nonce = n;
	m->nonce_known = 1;
	return 0;
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->data);
	free(e->raw);
	free(e);
}

static int submit(struct eth_txm *m, const struct eth_send *tx, const struct eth_txm_cb *cb,
                  struct waiter *w, uint8_t hash[32])
{
	struct entry *e = calloc(1, sizeof(*e));
	struct eth_fees f;
	uint8_t h[32], *raw = NULL;
	size_t len = 0;
	enum sent_as as = REFUSED;
	int rc = 0;
	char hs[67];

	ENSURE(e, ERR_NOMEM, "out of memory");
	e->has_to = tx->to != NULL;
	if (tx->to)
		memcpy(e->to, tx->to, 20);
	memcpy(e->value, tx->value, 32);
	e->data_len = tx->data_len;
	e->data = malloc(tx->data_len ? tx->data_len : 1);
	if (!e->data) {
		free(e);
		return err_set(ERR_NOMEM, "out of memory");
	}
	if (tx->data_len)
		memcpy(e->data, tx->data, tx->data_len);
	e->gas = tx->gas;
	if (cb)
		e->cb = *cb;
	pthread_mutex_lock(&m->send_mu);
	if (!e->gas) {
		json_t *o = json_object(), *v = NULL;
		uint64_t g = 0;
		json_object_set_new(o, "from", eth_json_addr(m->from));
		if (tx->to)
			json_object_set_new(o, "to", eth_json_addr(tx->to));
		json_object_set_new(o, "data", eth_json_hex(tx->data, tx->data_len));
		json_object_set_new(o, "value", eth_json_hex(tx->value, 32));
		rc = eth_rpc_call(m->send_rpc, "eth_estimateGas", json_pack("[o]", o), &v);
		if (rc == 0)
			rc = eth_hex_u64(v, &g);
		json_decref(v);
		GUARD_GOTO(rc);
		e->gas = g + g / 5;
	}
	/* past the cap: signed at the cap, and sent when the base fee falls.
	 * Asked once a block: a pipelined worker sends several per block. */
	pthread_mutex_lock(&m->mu);
	uint64_t block = m->block;
	pthread_mutex_unlock(&m->mu);
	if (block && block == m->fees_block) {
		f = m->fees;
		rc = 0;
	} else {
		rc = eth_fees_next(m->send_rpc, m->cfg.max_fee, &f);
		if (rc == 0) {
			m->fees = f;
			m->fees_block = block;
		}
	}
	if (rc == ERR_BUSY) {
		log_warn("eth.fee", "wait=1 reason=\"%s\"", err_msg());
		f.max_fee = m->cfg.max_fee;
		f.priority = f.priority < f.max_fee ? f.priority : f.max_fee;
		rc = 0;
	}
	GUARD_GOTO(rc);
	for (int i = 0; i < SUBMIT_TRIES; i++) {
		if (!m->nonce_known)
			GUARD_GOTO(resync(m, m->send_rpc));
		e->nonce = m->next_nonce;
		GUARD_GOTO(sign(m, m->send_rpc, e, e->nonce, f.max_fee, f.priority, &raw, &len, h));
		e->n_hashes = 0;
		add_version(e, raw, len, h, f.max_fee, f.priority);
		/* signed, it may go out from here on: the owner records it
		 * first (a journal), and before the poller can end it */
		notify_sent(e);
		as = broadcast(m->send_rpc, e->raw, e->raw_len);
		if (as != NONCE_LOW && as != REPLACE_LOW)
			break;
		/* the node has this nonce already: another sender, or a restart */
		m->nonce_known = 0;
	}
	if (as == REFUSED || as == NONCE_LOW || as == REPLACE_LOW) {
		__atomic_fetch_add(&m->stats.failed, 1, __ATOMIC_RELAXED);
		rc = ERR_VERIFY;    /* the node's reason is the message */
		m->nonce_known = 0; /* the nonce was not used: count again */
		goto out;
	}
	/* sent, or kept for the poller: the endpoint did not answer, or the
	 * fees are too low for now */
	memcpy(hash, h, 32);
	e->accepted = as == SENT || as == KNOWN;
	e->refused = as == FEE_LOW;
	m->next_nonce++;
	__atomic_fetch_add(&m->stats.sent, 1, __ATOMIC_RELAXED);
	hash_str(h, hs);
	log_info("eth.tx", "hash=%s nonce=%llu max_fee=%llu priority=%llu gas=%llu sent=%s", hs,
	         (unsigned long long)e->nonce, (unsigned long long)f.max_fee,
	         (unsigned long long)f.priority, (unsigned long long)e->gas,
	         e->accepted     ? "yes"
	         : as == FEE_LOW ? "later:fee"
	                         : "later:unreachable");
	pthread_mutex_lock(&m->mu);
	e->w = w;
	e->next = m->head;
	m->head = e;
	m->n++;
	pthread_cond_signal(&m->cv_work);
	pthread_mutex_unlock(&m->mu);
	e = NULL;
out:
	pthread_mutex_unlock(&m->send_mu);
	entry_free(e);
	return rc;
}

int eth_txm_submit(struct eth_txm *m, const struct eth_send *tx, const struct eth_txm_cb *cb,
                   uint8_t hash[32])
{
	return submit(m, tx, cb, NULL, hash);
}

int eth_txm_adopt(struct eth_txm *m, uint64_t nonce, const uint8_t (*hashes)[32], size_t n,
                  const uint8_t *raw, size_t raw_len, const struct eth_txm_cb *cb)
{
	struct entry *e;

	ENSURE(n > 0 && n <= ETH_TXM_MAX_VERSIONS && raw_len > 0, ERR_INVAL, "adopt: %zu versions",
	       n);
	e = calloc(1, sizeof(*e));
	ENSURE(e, ERR_NOMEM, "out of memory");
	e->raw = malloc(raw_len);
	if (!e->raw) {
		free(e);
		return err_set(ERR_NOMEM, "out of memory");
	}
	memcpy(e->raw, raw, raw_len);
	e->raw_len = raw_len;
	memcpy(e->hashes, hashes, n * 32);
	e->n_hashes = n;
	e->nonce = nonce;
	e->adopted = 1;
	if (cb)
		e->cb = *cb;
	pthread_mutex_lock(&m->send_mu);
	if (m->nonce_known && m->next_nonce <= nonce)
		m->next_nonce = nonce + 1;
	pthread_mutex_lock(&m->mu);
	e->next = m->head;
	m->head = e;
	m->n++;
	pthread_cond_signal(&m->cv_work);
	pthread_mutex_unlock(&m->mu);
	pthread_mutex_unlock(&m->send_mu);
	return 0;
}

/* ---------- the poller ---------- */

/* Take e out of the table and tell its owner (called on the poller). */
static void finish(struct eth_txm *m, struct entry *e, int rc, const char *error,
                   const struct eth_receipt *rcpt)
{
	struct eth_txm_result res = {rc, error, rcpt, e->nonce};

	pthread_mutex_lock(&m->mu);
	for (struct entry **p = &m->head; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			m->n--;
			break;
		}
	if (e->w) {
		e->w->done = 1;
		e->w->rc = rc;
		snprintf(e->w->error, sizeof(e->w->error), "%s", error ? error : "");
		if (rcpt) {
			/* a copy of its own: jansson's reference count is read
			 * without atomics, so a value is never shared between
			 * threads (ThreadSanitizer) */
			e->w->receipt = *rcpt;
			e->w->receipt.logs = rcpt->logs ? json_deep_copy(rcpt->logs) : NULL;
		}
	}
	pthread_cond_broadcast(&m->cv_done);
	pthread_mutex_unlock(&m->mu);
	if (e->cb.done)
		e->cb.done(e->cb.arg, &res);
	entry_free(e);
}

/* A receipt for any version: 1 (and e is finished), 0, or an error. */
static int check_mined(struct eth_txm *m, struct entry *e)
{
	struct eth_receipt r;
	char why[512] = "", hs[67];

	for (size_t i = e->n_hashes; i-- > 0;) {
		int rc = eth_receipt_get(m->poll_rpc, e->hashes[i], &r);
		if (rc <= 0) {
			if (rc < 0)
				return rc;
			continue;
		}
		hash_str(r.tx_hash, hs);
		if (r.status != 1) {
			/* replayed as a call for its reason */
			uint8_t *ret = NULL;
			size_t rl;
			if (!e->adopted && eth_call(m->poll_rpc, m->from, e->has_to ? e->to : NULL,
			                            e->data, e->data_len, &ret, &rl) < 0)
				snprintf(why, sizeof(why), "transaction %s: %s", hs, err_msg());
			else
				snprintf(why, sizeof(why), "transaction %s reverted", hs);
			free(ret);
		}
		__atomic_fetch_add(&m->stats.gas_used, r.gas_used, __ATOMIC_RELAXED);
		__atomic_fetch_add(r.status == 1 ? &m->stats.mined : &m->stats.failed, 1,
		                   __ATOMIC_RELAXED);
		log_info("eth.receipt",
		         "hash=%s nonce=%llu block=%llu status=%d gas=%llu versions=%zu", hs,
		         (unsigned long long)e->nonce, (unsigned long long)r.block, r.status,
		         (unsigned long long)r.gas_used, e->n_hashes);
		finish(m, e, 0, why[0] ? why : NULL, &r);
		eth_receipt_free(&r);
		return 1;
	}
	return 0;
}

/* Is e's nonce used, with no receipt of ours?  Then another transaction
 * took it: e is finished with an error. */
static int check_taken(struct eth_txm *m, struct entry *e)
{
	json_t *v = NULL;
	uint64_t latest = 0;
	char why[160];
	int rc;

	GUARD(eth_rpc_call(m->poll_rpc, "eth_getTransactionCount",
	                   json_pack("[o,s]", eth_json_addr(m->from), "latest"), &v));
	rc = eth_hex_u64(v, &latest);
	json_decref(v);
	GUARD(rc);
	if (latest <= e->nonce)
		return 0;
	/* mined between the two questions? */
	if ((rc = check_mined(m, e)) != 0)
		return rc;
	snprintf(why, sizeof(why), "nonce %llu was used by another transaction",
	         (unsigned long long)e->nonce);
	log_warn("eth.tx", "nonce=%llu error=\"%s\"", (unsigned long long)e->nonce, why);
	__atomic_fetch_add(&m->stats.failed, 1, __ATOMIC_RELAXED);
	finish(m, e, ERR_VERIFY, why, NULL);
	return 1;
}

/* Does the node still hold e's newest version (pending or mined)? */
static int known(struct eth_txm *m, const struct entry *e)
{
	json_t *v = NULL;
	int rc = eth_rpc_call(m->poll_rpc, "eth_getTransactionByHash",
	                      json_pack("[o]", eth_json_hex(e->hashes[e->n_hashes - 1], 32)), &v);
	if (rc == 0)
		rc = !json_is_null(v);
	json_decref(v);
	return rc;
}

/* Send e again: the same bytes for a dropped or unanswered version, new
 * ones when it was refused for its fees (then with the fees asked now). */
static int resend(struct eth_txm *m, struct entry *e, uint64_t block)
{
	enum sent_as as;
	char hs[67];

	if (e->refused) {
		/* refused for its fees, so never in a pool: sign again if the
		 * fees moved (bytes that may have arrived are only re-sent) */
		struct eth_fees f;
		int rc = eth_fees_next(m->poll_rpc, m->cfg.max_fee, &f);
		if (rc == ERR_BUSY)
			return 0; /* still above the cap: wait */
		GUARD(rc);
		if (f.max_fee != e->max_fee || f.priority != e->priority) {
			uint8_t *raw, h[32];
			size_t len;
			GUARD(sign(m, m->poll_rpc, e, e->nonce, f.max_fee, f.priority, &raw, &len,
			           h));
			/* the refused version cannot be mined: replace it, and
			 * let the owner record the new one before it goes */
			e->n_hashes = 0;
			add_version(e, raw, len, h, f.max_fee, f.priority);
			notify_sent(e);
		}
	}
	pthread_mutex_lock(&m->send_mu);
	as = broadcast(m->poll_rpc, e->raw, e->raw_len);
	pthread_mutex_unlock(&m->send_mu);
	if (as == UNREACHABLE)
		return ERR_IO;
	if (as == NONCE_LOW)
		return check_taken(m, e);
	if (as != SENT && as != KNOWN)
		return 0; /* fees still too low, or refused: asked again next tick */
	e->refused = 0;
	hash_str(e->hashes[e->n_hashes - 1], hs);
	log_info("eth.tx.resend", "hash=%s nonce=%llu reason=%s node=%s", hs,
	         (unsigned long long)e->nonce,
	         e->accepted  ? "dropped"
	         : e->adopted ? "resumed"
	                      : "not-taken",
	         as == KNOWN ? "had-it" : "took-it");
	e->accepted = 1;
	e->sent_block = block;
	notify_sent(e);
	return 0;
}

/* Not mined after stuck_blocks: the same nonce with both fees up by at
 * least 10 % (what nodes require to replace) and to what the chain asks. */
static int bump(struct eth_txm *m, struct entry *e, uint64_t block)
{
	struct entry old;
	struct eth_fees f;
	uint64_t fee, prio;
	uint8_t *raw, h[32];
	size_t len;
	enum sent_as as;
	char hs[67];
	int rc;

	e->sent_block = block; /* the next try is stuck_blocks from now */
	if (e->adopted || e->n_hashes >= ETH_TXM_MAX_VERSIONS)
		return 0;
	rc = eth_fees_next(m->poll_rpc, 0, &f);
	GUARD(rc);
	fee = e->max_fee + e->max_fee / 10 + 1;
	prio = e->priority + e->priority / 10 + 1;
	if (f.max_fee > fee)
		fee = f.max_fee;
	if (f.priority > prio)
		prio = f.priority;
	if (m->cfg.max_fee && fee > m->cfg.max_fee) {
		if (!e->fee_capped)
			log_warn("eth.fee",
			         "nonce=%llu wait=1 base=%llu cap=%llu "
			         "reason=\"a bump would pass the fee cap\"",
			         (unsigned long long)e->nonce, (unsigned long long)f.base,
			         (unsigned long long)m->cfg.max_fee);
		e->fee_capped = 1;
		return 0;
	}
	if (prio > fee)
		prio = fee;
	GUARD(sign(m, m->poll_rpc, e, e->nonce, fee, prio, &raw, &len, h));
	/* recorded before it goes out, as in submit */
	old = *e;
	e->raw = NULL;
	add_version(e, raw, len, h, fee, prio);
	notify_sent(e);
	pthread_mutex_lock(&m->send_mu);
	as = broadcast(m->poll_rpc, raw, len);
	pthread_mutex_unlock(&m->send_mu);
	if (as != SENT && as != KNOWN && as != UNREACHABLE) {
		/* refused (or the nonce is gone): the old version stands */
		free(e->raw);
		e->raw = old.raw;
		e->n_hashes = old.n_hashes;
		e->max_fee = old.max_fee;
		e->priority = old.priority;
		notify_sent(e);
		return as == NONCE_LOW ? check_taken(m, e) : 0;
	}
	/* unanswered: it may have arrived, so it is one of ours from now on */
	free(old.raw);
	e->accepted = as != UNREACHABLE;
	hash_str(h, hs);
	log_info("eth.tx.replace", "hash=%s nonce=%llu max_fee=%llu priority=%llu base=%llu", hs,
	         (unsigned long long)e->nonce, (unsigned long long)fee, (unsigned long long)prio,
	         (unsigned long long)f.base);
	return as == UNREACHABLE ? ERR_IO : 0;
}

/* One look at every pending transaction; ERR_IO when the node is away. */
static int poll_once(struct eth_txm *m)
{
	struct entry **all = NULL;
	uint64_t block;
	size_t n = 0;
	int rc = 0;

	GUARD(eth_block_number(m->poll_rpc, &block));
	pthread_mutex_lock(&m->mu);
	m->reachable = 1;
	m->block = block;
	if (m->n) {
		all = calloc(m->n, sizeof(*all));
		for (struct entry *e = m->head; all && e; e = e->next)
			all[n++] = e;
	}
	pthread_mutex_unlock(&m->mu);
	/* entries leave the table only here, on this thread: the pointers
	 * stay valid, and their fields are this thread's once listed */
	for (size_t i = n; i-- > 0 && rc == 0;) { /* oldest first */
		struct entry *e = all[i];
		if (!e->sent_block) { /* sent since the last look */
			e->sent_block = block;
			if (e->accepted)
				continue;
		}
		rc = check_mined(m, e);
		if (rc != 0) {
			rc = rc > 0 ? 0 : rc;
			continue;
		}
		if (!e->accepted)
			rc = resend(m, e, block);
		else if (block >= e->sent_block + m->cfg.stuck_blocks)
			rc = bump(m, e, block);
		else if (block > e->sent_block && (rc = known(m, e)) == 0)
			rc = resend(m, e, block);
		rc = rc > 0 ? 0 : rc;
	}
	free(all);
	return rc;
}

static void *poller_main(void *arg)
{
	struct eth_txm *m = arg;
	struct timespec ts;
	time_t down_since = 0;

	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		int busy = m->n > 0, rc;
		unsigned ms = busy ? m->cfg.poll_ms : 1000;
		pthread_mutex_unlock(&m->mu);
		/* idle, it still asks the height once a second: eth_txm_reachable */
		rc = poll_once(m);
		pthread_mutex_lock(&m->mu);
		/* an endpoint away is said once, and its return */
		if (rc == ERR_IO && m->reachable) {
			m->reachable = 0;
			log_warn("eth.poll", "reachable=0 error=\"%s\"", err_msg());
			down_since = time(NULL);
		} else if (rc < 0 && rc != ERR_IO) {
			log_warn("eth.poll", "error=\"%s\"", err_msg());
		}
		if (m->reachable && down_since) {
			log_info("eth.poll", "reachable=1 after_s=%lld",
			         (long long)(time(NULL) - down_since));
			down_since = 0;
		}
		if (m->stop)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(ms % 1000) * 1000000L;
		ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		/* a submit wakes it at once */
		if (busy || m->n == 0)
			pthread_cond_timedwait(&m->cv_work, &m->mu, &ts);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* ---------- life ---------- */

int eth_txm_new(const char *url, const uint8_t key[32], const struct eth_txm_config *cfg,
                struct eth_txm **out)
{
	struct eth_txm *m = calloc(1, sizeof(*m));
	int rc;

	ENSURE(m, ERR_NOMEM, "out of memory");
	if (cfg)
		m->cfg = *cfg;
	if (!m->cfg.max_fee)
		m->cfg.max_fee = DEFAULT_MAX_FEE;
	if (!m->cfg.stuck_blocks)
		m->cfg.stuck_blocks = 3;
	if (!m->cfg.poll_ms)
		m->cfg.poll_ms = 200;
	memcpy(m->key, key, 32);
	m->reachable = 1;
	rc = k1_address(key, m->from);
	if (rc == 0)
		rc = eth_rpc_new(url, &m->send_rpc);
	if (rc == 0)
		rc = eth_rpc_new(url, &m->poll_rpc);
	if (rc < 0) {
		eth_rpc_free(m->send_rpc);
		OPENSSL_cleanse(m->key, 32);
		free(m);
		return rc;
	}
	pthread_mutex_init(&m->send_mu, NULL);
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv_work, NULL);
	pthread_cond_init(&m->cv_done, NULL);
	if (pthread_create(&m->thread, NULL, poller_main, m) != 0) {
		m->thread = 0;
		eth_txm_free(m);
		return err_set(ERR_NOMEM, "txm: cannot start its thread");
	}
	*out = m;
	return 0;
}

void eth_txm_free(struct eth_txm *m)
{
	if (!m)
		return;
	if (m->thread) {
		pthread_mutex_lock(&m->mu);
		m->stop = 1;
		pthread_cond_broadcast(&m->cv_work);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thread, NULL);
	}
	while (m->head)
		finish(m, m->head, ERR_BUSY, "stopped before the transaction was mined", NULL);
	eth_rpc_free(m->send_rpc);
	eth_rpc_free(m->poll_rpc);
	pthread_cond_destroy(&m->cv_work);
	pthread_cond_destroy(&m->cv_done);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->send_mu);
	OPENSSL_cleanse(m->key, 32);
	free(m);
}

void eth_txm_set_errors(struct eth_txm *m, const char *const *sigs, size_t n)
{
	/* set before any transaction: neither rpc is in use yet */
	eth_rpc_set_errors(m->send_rpc, sigs, n);
	eth_rpc_set_errors(m->poll_rpc, sigs, n);
}

static void deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int eth_txm_send(struct eth_txm *m, const struct eth_send *tx, long timeout_s,
                 struct eth_receipt *out)
{
	struct waiter w;
	struct timespec ts;
	uint8_t hash[32];
	char hs[67];
	int rc = 0;

	memset(&w, 0, sizeof(w));
	memset(out, 0, sizeof(*out));
	GUARD(submit(m, tx, NULL, &w, hash));
	hash_str(hash, hs);
	deadline(&ts, timeout_s * 1000);
	pthread_mutex_lock(&m->mu);
	while (!w.done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&m->cv_done, &m->mu, &ts);
	if (!w.done) /* it stays in the table, unowned */
		for (struct entry *e = m->head; e; e = e->next)
			if (e->w == &w)
				e->w = NULL;
	pthread_mutex_unlock(&m->mu);
	if (!w.done)
		return err_set(ERR_IO, "transaction %s not mined within %ld s", hs, timeout_s);
	if (w.rc < 0)
		return err_set(w.rc, "transaction %s: %s", hs, w.error);
	if (w.receipt.status != 1) {
		eth_receipt_free(&w.receipt);
		return err_set(ERR_VERIFY, "%s", w.error[0] ? w.error : "transaction reverted");
	}
	*out = w.receipt;
	return 0;
}

size_t eth_txm_pending(struct eth_txm *m)
{
	size_t n;
	pthread_mutex_lock(&m->mu);
	n = m->n;
	pthread_mutex_unlock(&m->mu);
	return n;
}

int eth_txm_wait_below(struct eth_txm *m, size_t n, long timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&m->mu);
	while (m->n >= n && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&m->cv_done, &m->mu, &ts);
	rc = m->n < n ? 0 : ERR_BUSY;
	pthread_mutex_unlock(&m->mu);
	return rc;
}

int eth_txm_reachable(struct eth_txm *m)
{
	int r;
	pthread_mutex_lock(&m->mu);
	r = m->reachable;
	pthread_mutex_unlock(&m->mu);
	return r;
}

void eth_txm_stats(struct eth_txm *m, struct eth_txm_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!m)
		return;
	out->sent = __atomic_load_n(&m->stats.sent, __ATOMIC_RELAXED);
	out->mined = __atomic_load_n(&m->stats.mined, __ATOMIC_RELAXED);
	out->failed = __atomic_load_n(&m->stats.failed, __ATOMIC_RELAXED);
	out->gas_used = __atomic_load_n(&m->stats.gas_used, __ATOMIC_RELAXED);
}

int eth_txm_metrics(struct eth_txm *m, struct wbuf *w)
{
	struct eth_txm_stats st;
	const struct {
		const char *name, *help;
	} c[] = {
	    {"tdexec_eth_transactions_sent_total", "Transactions sent (one per nonce)"},
	    {"tdexec_eth_transactions_mined_total", "Transactions mined with status 1"},
	    {"tdexec_eth_transactions_failed_total",
	     "Transactions reverted, refused by the node, or whose nonce another took"},
	    {"tdexec_eth_gas_used_total", "Gas used by the transactions' receipts"},
	};
	uint64_t v[4];

	eth_txm_stats(m, &st);
	v[0] = st.sent;
	v[1] = st.mined;
	v[2] = st.failed;
	v[3] = st.gas_used;
	for (size_t i = 0; i < 4; i++) {
		GUARD(metrics_header(w, c[i].name, c[i].help, METRIC_COUNTER));
		GUARD(wbuf_printf(w, "%s %llu\n", c[i].name, (unsigned long long)v[i]));
	}
	return 0;
}
