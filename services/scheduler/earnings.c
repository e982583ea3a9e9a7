/* earnings.c — what the pool owner and each registered worker hold in the
 * hub's escrow and what it paid them, from the chain.
 *
 * The follower reads every log of the hub anyway (follow.c); in the same
 * transaction that moves its cursor, the escrow's events to a tracked
 * address (Reward, Seize, Lock, Unlock: PoCo's IexecEscrow; none of their
 * fields is indexed, so the address is read from the data) are added to
 * that address's sums, kept as exact decimal text.  An account starts being
 * tracked at the block after the follower's cursor when it is first seen
 * (the owner at the first round, a worker at the first round after its
 * registration): its sinceBlock.  The events of the last REORG_DEPTH blocks
 * are kept one by one too, so a reorganisation takes back exactly what the
 * removed blocks added (sched_earnings_undo).
 *
 * The account itself (viewAccount: stake, locked) cannot be summed from
 * events that started late, so it is read at the block the follower reached
 * — only for the accounts an event touched (any change to an escrow
 * balance emits Transfer or one of the four), at most once per new block
 * and at most EARN_READS per round: an HTTP request never calls the chain,
 * it reads the table. */
#include "internal.h"

#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/rpc.h"
#include "poco/market.h"
#include "store/db.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EARN_READS 64 /* viewAccount calls per follower round, at most */

enum { EV_REWARD, EV_SEIZE, EV_LOCK, EV_UNLOCK, EV_TRANSFER, EV_N };
static const char *const ev_sigs[EV_N] = {
    "Reward(address,uint256,bytes32)", "Seize(address,uint256,bytes32)",    "Lock(address,uint256)",
    "Unlock(address,uint256)",         "Transfer(address,address,uint256)",
};
/* the column each event adds to */
static const char *const ev_cols[EV_TRANSFER] = {"rewards", "seized", "locks", "unlocks"};

void sched_earnings_init(struct sched *s)
{
	for (int i = 0; i < EV_N; i++)
		keccak256(ev_sigs[i], strlen(ev_sigs[i]), s->escrow_topics[i]);
}

/* a += b (add) or a -= b (!add, a >= b checked by the caller), uint256
 * big-endian; 1 on a carry or borrow out */
static int u256_addsub(uint8_t a[32], const uint8_t b[32], int add)
{
	int carry = 0;
	for (int i = 31; i >= 0; i--) {
		int v = add ? a[i] + b[i] + carry : a[i] - b[i] - carry;
		carry = add ? v >> 8 : v < 0;
		a[i] = (uint8_t)(v & 0xff);
	}
	return carry;
}

static int u256_cmp(const uint8_t a[32], const uint8_t b[32])
{
	return memcmp(a, b, 32);
}

static void lower(char *p)
{
	for (; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
}

int sched_earnings_track(struct sched *s, uint64_t next_block)
{
	char owner[43], since[24];
	eth_addr_str(s->owner, owner);
	lower(owner);
	snprintf(since, sizeof(since), "%llu", (unsigned long long)next_block);
	const char *a[] = {owner, since};
	return sched_exec(s,
	                  "INSERT OR IGNORE INTO earnings(address, since_block)"
	                  " SELECT ?1, ?2 UNION ALL SELECT address, ?2 FROM workers",
	                  a, 2);
}

/* Add (or take back) amount to the sum `col` of a tracked address; 0 and
 * *tracked = 0 when the address is not tracked. */
static int sum_apply(struct sched *s, const char *addr, const char *col, const uint8_t amount[32],
                     int add, int *tracked)
{
	sqlite3_stmt *st;
	uint8_t v[32];
	char sql[128], dec[80];
	int rc;

	*tracked = 0;
	snprintf(sql, sizeof(sql), "SELECT %s FROM earnings WHERE address = ?1", col);
	GUARD(db_prepare(s->db, sql, &st));
	sqlite3_bind_text(st, 1, addr, -1, SQLITE_TRANSIENT);
	rc = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*tracked = 1;
		rc = u256_parse((const char *)sqlite3_column_text(st, 0), v);
	}
	sqlite3_finalize(st);
	if (rc < 0 || !*tracked)
		return rc;
	if (!add && u256_cmp(v, amount) < 0)
		return err_set(ERR_INVAL, "earnings of %s: taking back more %s than counted", addr,
		               col);
	ENSURE(!u256_addsub(v, amount, add), ERR_INVAL, "earnings of %s: %s overflows 256 bits",
	       addr, col);
	u256_str(v, dec, sizeof(dec));
	snprintf(sql, sizeof(sql), "UPDATE earnings SET %s = ?2, dirty = 1 WHERE address = ?1",
	         col);
	const char *a[] = {addr, dec};
	return sched_exec(s, sql, a, 2);
}

static int topic0_is(const json_t *log, const uint8_t want[32])
{
	uint8_t t[32];
	const char *h = json_string_value(json_array_get(json_object_get(log, "topics"), 0));
	return h && strlen(h) == 66 && hex_decode_exact(t, 32, h + 2, "topic") == 0 &&
	       memcmp(t, want, 32) == 0;
}

/* The address in a 32-byte word (topic or data), "0x" + 40 lower-case hex. */
static void word_addr(const uint8_t w[32], char out[43])
{
	hex_encode_0x(out, w + 12, 20);
	lower(out);
}

int sched_earnings_event(struct sched *s, const json_t *log, uint64_t block)
{
	const char *d = json_string_value(json_object_get(log, "data"));
	uint8_t data[64];
	char who[43], blk[24], dec[80];
	int k, tracked;

	for (k = 0; k < EV_N; k++)
		if (topic0_is(log, s->escrow_topics[k]))
			break;
	if (k == EV_N)
		return 0;
	if (k == EV_TRANSFER) {
		/* Transfer(from indexed, to indexed, value): both balances changed */
		json_t *topics = json_object_get(log, "topics");
		for (size_t i = 1; i <= 2; i++) {
			const char *t = json_string_value(json_array_get(topics, i));
			uint8_t w[32];
			if (!t || strlen(t) != 66 || hex_decode_exact(w, 32, t + 2, "topic") < 0)
				return err_set(ERR_INVAL, "Transfer log of block %llu: bad topics",
				               (unsigned long long)block);
			word_addr(w, who);
			const char *a[] = {who};
			GUARD(sched_exec(s, "UPDATE earnings SET dirty = 1 WHERE address = ?1", a,
			                 1));
		}
		return 0;
	}
	/* (address, uint256[, bytes32]): the first two words are read */
	char hex[129];
	ENSURE(d && strncmp(d, "0x", 2) == 0 &&
	           strlen(d + 2) == (k == EV_REWARD || k == EV_SEIZE ? 192u : 128u),
	       ERR_INVAL, "%s log of block %llu: data of %zu hex digits", ev_sigs[k],
	       (unsigned long long)block, d ? strlen(d) : 0);
	memcpy(hex, d + 2, 128);
	hex[128] = '\0';
	GUARD(hex_decode_exact(data, 64, hex, "log"));
	word_addr(data, who);
	GUARD(sum_apply(s, who, ev_cols[k], data + 32, 1, &tracked));
	if (!tracked)
		return 0;
	/* kept while a reorganisation may take it back */
	snprintf(blk, sizeof(blk), "%llu", (unsigned long long)block);
	u256_str(data + 32, dec, sizeof(dec));
	const char *a[] = {blk, who, ev_cols[k], dec};
	return sched_exec(s, "INSERT INTO escrow_recent VALUES (?1, ?2, ?3, ?4)", a, 4);
}

int sched_earnings_undo(struct sched *s, uint64_t fork)
{
	sqlite3_stmt *st;
	char f[24];
	int rc, tracked, n = 0;

	snprintf(f, sizeof(f), "%llu", (unsigned long long)fork);
	GUARD(db_prepare(s->db, "SELECT address, kind, amount FROM escrow_recent WHERE block > ?1",
	                 &st));
	sqlite3_bind_int64(st, 1, (sqlite3_int64)fork);
	/* the updates below touch earnings only, not the rows read */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint8_t v[32];
		const char *col = (const char *)sqlite3_column_text(st, 1);
		int k;
		for (k = 0; k < EV_TRANSFER && col; k++)
			if (strcmp(col, ev_cols[k]) == 0)
				break;
		rc = k < EV_TRANSFER
		         ? u256_parse((const char *)sqlite3_column_text(st, 2), v)
		         : err_set(ERR_INVAL, "escrow_recent: kind '%s'", col ? col : "");
		if (rc == 0)
			rc = sum_apply(s, (const char *)sqlite3_column_text(st, 0), ev_cols[k], v,
			               0, &tracked);
		if (rc < 0)
			break;
		n++;
	}
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	const char *a[] = {f};
	GUARD(sched_exec(s, "DELETE FROM escrow_recent WHERE block > ?1", a, 1));
	if (n)
		log_info("sched.earnings", "reorg fork=%s events_undone=%d", f, n);
	/* and every account is read again at the new head */
	return sched_exec(s, "UPDATE earnings SET dirty = 1", NULL, 0);
}

int sched_earnings_forget(struct sched *s, uint64_t below)
{
	char b[24];
	snprintf(b, sizeof(b), "%llu", (unsigned long long)below);
	const char *a[] = {b};
	return sched_exec(s, "DELETE FROM escrow_recent WHERE block < ?1", a, 1);
}

static json_t *as_dec(json_t *v)
{
	char b[32];
	if (json_is_string(v))
		return json_incref(v);
	if (!json_is_integer(v))
		return NULL;
	snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(v));
	return json_string(b);
}

int sched_earnings_refresh(struct sched *s)
{
	sqlite3_stmt *st;
	char addrs[EARN_READS][43], blk[24];
	uint64_t block = 0;
	int n = 0, done = 0, rc = 0;
	struct timespec t0, t1;

	/* the follower is the only writer of earnings: what is read here
	 * stays dirty until it is written below */
	pthread_mutex_lock(&s->mu);
	rc = db_prepare(s->db,
	                "SELECT address, (SELECT value FROM meta WHERE key = 'cursor')"
	                " FROM earnings WHERE dirty ORDER BY address LIMIT ?1",
	                &st);
	if (rc == 0) {
		sqlite3_bind_int(st, 1, EARN_READS);
		while (n < EARN_READS && sqlite3_step(st) == SQLITE_ROW) {
			snprintf(addrs[n++], 43, "%s", sqlite3_column_text(st, 0));
			block = (uint64_t)sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->mu);
	GUARD(rc);
	if (!n)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(blk, sizeof(blk), "%llu", (unsigned long long)block);
	for (int i = 0; i < n && rc == 0; i++) {
		uint8_t a[20];
		json_t *acct = NULL, *stake = NULL, *locked = NULL;
		rc = eth_addr_parse(addrs[i], a);
		if (rc == 0)
			rc = poco_account_at(s->chain, a, block, &acct); /* no lock held */
		if (rc == 0) {
			stake = as_dec(json_object_get(acct, "stake"));
			locked = as_dec(json_object_get(acct, "locked"));
			if (!stake || !locked)
				rc = err_set(ERR_IO, "viewAccount(%s): no stake or locked",
				             addrs[i]);
		}
		if (rc == 0) {
			const char *args[] = {addrs[i], json_string_value(stake),
			                      json_string_value(locked), blk};
			pthread_mutex_lock(&s->mu);
			rc = sched_exec(
			    s,
			    "UPDATE earnings SET stake = ?2, locked = ?3, account_block = ?4,"
			    " dirty = 0 WHERE address = ?1",
			    args, 4);
			pthread_mutex_unlock(&s->mu);
			done += rc == 0;
		}
		json_decref(stake);
		json_decref(locked);
		json_decref(acct);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("sched.earnings", "block=%s accounts_read=%d ms=%.1f", blk, done,
	         (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	return rc;
}

/* rewards - seized, with its sign */
static void net_of(const char *rewards, const char *seized, char *out, size_t cap)
{
	uint8_t r[32], z[32];
	char dec[80];
	if (u256_parse(rewards, r) < 0 || u256_parse(seized, z) < 0) {
		snprintf(out, cap, "?");
		return;
	}
	if (u256_cmp(r, z) >= 0) {
		u256_addsub(r, z, 0);
		u256_str(r, dec, sizeof(dec));
		snprintf(out, cap, "%s", dec);
	} else {
		u256_addsub(z, r, 0);
		u256_str(z, dec, sizeof(dec));
		snprintf(out, cap, "-%s", dec);
	}
}

json_t *sched_earnings_json(sqlite3_stmt *st, int col)
{
	char net[82];
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	const char *r = (const char *)sqlite3_column_text(st, col + 1),
	           *z = (const char *)sqlite3_column_text(st, col + 2),
	           *lk = (const char *)sqlite3_column_text(st, col + 3),
	           *ul = (const char *)sqlite3_column_text(st, col + 4);
	if (!r || !z || !lk || !ul)
		return json_null();
	net_of(r, z, net, sizeof(net));
	json_t *o = json_pack("{s:s,s:I,s:I,s:s,s:s,s:s,s:s,s:s}", "unit", "nRLC", "sinceBlock",
	                      (json_int_t)sqlite3_column_int64(st, col), "toBlock",
	                      (json_int_t)sqlite3_column_int64(st, col + 8), "rewards", r, "seized",
	                      z, "net", net, "locks", lk, "unlocks", ul);
	if (!o)
		return json_null();
	/* the account as read at accountBlock (null until first read) */
	int read = sqlite3_column_type(st, col + 5) != SQLITE_NULL &&
	           sqlite3_column_type(st, col + 6) != SQLITE_NULL &&
	           sqlite3_column_type(st, col + 7) != SQLITE_NULL;
	json_object_set_new(o, "stake",
	                    read ? json_string((const char *)sqlite3_column_text(st, col + 5))
	                         : json_null());
	json_object_set_new(o, "locked",
	                    read ? json_string((const char *)sqlite3_column_text(st, col + 6))
	                         : json_null());
	json_object_set_new(o, "accountBlock",
	                    read ? json_integer(sqlite3_column_int64(st, col + 7)) : json_null());
	return o;
}
