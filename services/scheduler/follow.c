/* follow.c — the chain follower: reads the blocks past the cursor for the
 * deals of our pool and the results pushed for their tasks, and runs the
 * task lifecycle (tasks.c) and the market's stock on each round.  The block
 * cursor moves in the same transaction as what was read, so a restart
 * resumes exactly.  The hash of the block the cursor points at (and of its
 * parent) is recorded with it; a round first checks that block is still
 * the chain's, and on a reorganisation rewinds to the last recorded block
 * that is (find_fork, undo_reorg). */
#include "internal.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "net/http.h"
#include "net/server.h"
#include "poco/deploy.h"
#include "poco/market.h"
#include "proto/proto.h"
#include "store/db.h"
#include "tdx/gate.h"
#include "tdx/ratls.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How far back a reorganisation is followed: past it the follower stops
 * rather than guess which of what it stored is still on chain. */
#define REORG_DEPTH 64

static int meta_cursor(struct sched *s, uint64_t *out)
{
	sqlite3_stmt *st;
	GUARD(db_prepare(s->db, "SELECT value FROM meta WHERE key = 'cursor'", &st));
	*out = s->chain->deployment_block;
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = strtoull((const char *)sqlite3_column_text(st, 0), NULL, 10);
	sqlite3_finalize(st);
	return 0;
}

static int topic_is(const json_t *log, size_t i, const uint8_t want[32])
{
	uint8_t t[32];
	json_t *topics = json_object_get(log, "topics");
	const char *h = json_string_value(json_array_get(topics, i));
	return h && strlen(h) == 66 && hex_decode_exact(t, 32, h + 2, "topic") == 0 &&
	       memcmp(t, want, 32) == 0;
}

static int log_data(const json_t *log, const char *types, json_t **out)
{
	const char *d = json_string_value(json_object_get(log, "data"));
	uint8_t *buf;
	size_t len;
	int rc;
	ENSURE(d && strncmp(d, "0x", 2) == 0, ERR_INVAL, "log without data");
	GUARD(hex_decode_alloc(d + 2, strlen(d + 2), &buf, &len));
	rc = abi_decode_str(types, buf, len, out);
	free(buf);
	return rc;
}

/* A deal of ours and its tasks, RECEIVED.  f: app, dataset, category, tag,
 * params, beneficiary, requester (text). */
static int store_deal(struct sched *s, const char *dealid, const char *const f[7], long long bf,
                      long long bs, long long deadline, uint64_t block, int boost, long long trust)
{
	uint8_t did[32], tid[32];
	char blk[24], first[24], size[24], dl[24], idx[24], now[24], task[67], b[2], tr[24];
	int rc;

	GUARD(hex_decode_exact(did, 32, dealid + 2, "dealid"));
	for (size_t i = 0; i < 7; i++)
		ENSURE(f[i], ERR_INVAL, "deal %s: field %zu missing", dealid, i);
	snprintf(blk, sizeof(blk), "%llu", (unsigned long long)block);
	snprintf(first, sizeof(first), "%lld", bf);
	snprintf(size, sizeof(size), "%lld", bs);
	snprintf(dl, sizeof(dl), "%lld", deadline);
	snprintf(now, sizeof(now), "%lld", sched_now());
	snprintf(b, sizeof(b), "%d", boost ? 1 : 0);
	snprintf(tr, sizeof(tr), "%lld", trust < 1 ? 1 : trust);
	const char *args[] = {dealid, f[0],  f[1], f[2], f[3], f[4], f[5],
	                      f[6],   first, size, dl,   blk,  b,    tr};
	/* A deal back after a reorganisation (its transaction mined again): the
	 * tasks a worker had keep what they had; the untouched ones were
	 * dropped and come back RECEIVED below. */
	const char *back[] = {dealid, blk, now};
	GUARD(sched_exec(s, "UPDATE deals SET block = ?2 WHERE dealid = lower(?1)", back, 2));
	GUARD(
	    sched_exec(s,
	               "UPDATE tasks SET status = reorged_from, reorged_from = NULL, detail = NULL,"
	               " updated = ?3 WHERE dealid = lower(?1) AND status = 'REORGED'",
	               back, 3));
	if (sqlite3_changes(s->db) > 0)
		log_info("sched.reorg", "deal=%s back block=%s tasks=%d", dealid, blk,
		         sqlite3_changes(s->db));
	rc = sched_exec(
	    s,
	    "INSERT OR IGNORE INTO deals VALUES (lower(?1), lower(?2), lower(?3), ?4, ?5, ?6,"
	    " lower(?7), lower(?8), ?9, ?10, ?11, ?12, ?13, ?14)",
	    args, 14);
	for (long long i = bf; rc == 0 && i < bf + bs; i++) {
		poco_task_id(did, (uint64_t)i, tid);
		hex_encode_0x(task, tid, 32);
		snprintf(idx, sizeof(idx), "%lld", i);
		const char *ta[] = {task, dealid, idx, now};
		rc = sched_exec(s,
		                "INSERT OR IGNORE INTO tasks(taskid, dealid, idx, status, updated)"
		                " VALUES (?1, lower(?2), ?3, 'RECEIVED', ?4)",
		                ta, 4);
	}
	if (rc == 0)
		log_info("sched.deal", "deal=%s tasks=%lld first=%lld app=%s boost=%d", dealid, bs,
		         bf, f[0], boost);
	return rc;
}

/* The chain's views a deal event needs, read before the database is
 * locked (no lock is held across a network call): appended to the event's
 * decoded fields ev.  SchedulerNoticeBoost: viewDealBoost (the event
 * carries the rest of the deal); SchedulerNotice (a classic deal):
 * viewDeal, and viewCategory for its final deadline. */
static int deal_views(struct sched *s, json_t *ev, int boost)
{
	const char *dealid = json_string_value(json_array_get(ev, 0));
	uint8_t did[32], catid[32] = {0};
	json_t *deal = NULL, *cat = NULL;
	long long c;

	ENSURE(dealid, ERR_INVAL, "%s without a deal id",
	       boost ? "SchedulerNoticeBoost" : "SchedulerNotice");
	GUARD(hex_decode_exact(did, 32, dealid + 2, "dealid"));
	GUARD(poco_view(s->chain, boost ? "viewDealBoost" : "viewDeal", did, &deal));
	json_array_append_new(ev, deal);
	if (boost)
		return 0;
	c = json_get_ll(deal, "category", 0);
	for (int b = 0; b < 8; b++)
		catid[31 - b] = (uint8_t)((unsigned long long)c >> (8 * b));
	GUARD(poco_view(s->chain, "viewCategory", catid, &cat));
	json_array_append_new(ev, cat);
	return 0;
}

/* SchedulerNoticeBoost, its deal view appended (deal_views). */
static int add_deal(struct sched *s, const json_t *ev, uint64_t block)
{
	const char *dealid = json_string_value(json_array_get(ev, 0));
	json_t *deal = json_array_get(ev, 7);
	const char *f[7] = {json_string_value(json_array_get(ev, 1)),
	                    json_string_value(json_array_get(ev, 2)),
	                    json_string_value(json_array_get(ev, 3)),
	                    json_string_value(json_array_get(ev, 4)),
	                    json_string_value(json_array_get(ev, 5)),
	                    json_string_value(json_array_get(ev, 6)),
	                    json_string_value(json_object_get(deal, "requester"))};
	return store_deal(s, dealid, f, json_get_ll(deal, "botFirst", 0),
	                  json_get_ll(deal, "botSize", 0), json_get_ll(deal, "deadline", 0), block,
	                  1, 1);
}

/* SchedulerNotice, its deal and category views appended: the final
 * deadline is startTime + 10 x the category's reference time, as PoCo
 * sets it. */
static int add_classic_deal(struct sched *s, const json_t *ev, uint64_t block)
{
	const char *dealid = json_string_value(json_array_get(ev, 0));
	json_t *deal = json_array_get(ev, 1), *cat = json_array_get(ev, 2);
	const char *f[7] = {
	    json_string_value(json_object_get(json_object_get(deal, "app"), "pointer")),
	    json_string_value(json_object_get(json_object_get(deal, "dataset"), "pointer")),
	    json_string_value(json_object_get(deal, "category")),
	    json_string_value(json_object_get(deal, "tag")),
	    json_string_value(json_object_get(deal, "params")),
	    json_string_value(json_object_get(deal, "beneficiary")),
	    json_string_value(json_object_get(deal, "requester"))};
	return store_deal(
	    s, dealid, f, json_get_ll(deal, "botFirst", 0), json_get_ll(deal, "botSize", 0),
	    json_get_ll(deal, "startTime", 0) + 10 * json_get_ll(cat, "workClockTimeRef", 0), block,
	    0, json_get_ll(deal, "trust", 0));
}

/* TaskFinalize(taskid indexed, results): a classic task is COMPLETED. */
static int task_finalized(struct sched *s, const json_t *log, const char *tx)
{
	const char *taskid = json_string_value(json_array_get(json_object_get(log, "topics"), 1));
	char now[24];
	ENSURE(taskid, ERR_INVAL, "TaskFinalize without a task id");
	snprintf(now, sizeof(now), "%lld", sched_now());
	const char *a[] = {taskid, tx ? tx : "", now};
	GUARD(sched_exec(s,
	                 "UPDATE tasks SET status = 'COMPLETED', tx = ?2, updated = ?3"
	                 " WHERE taskid = lower(?1) AND status != 'COMPLETED'",
	                 a, 3));
	if (sqlite3_changes(s->db) > 0)
		log_info("sched.task", "task=%s status=COMPLETED tx=%s", taskid, tx ? tx : "");
	/* the replicates' other uploads: collected once this commits */
	return sched_drop_task_files(s, taskid, 0, 0);
}

/* ResultPushedBoost(dealId, index, results): the task is COMPLETED. */
static int task_pushed(struct sched *s, const json_t *ev, const char *tx)
{
	const char *dealid = json_string_value(json_array_get(ev, 0));
	const char *idx = json_string_value(json_array_get(ev, 1));
	const char *results = json_string_value(json_array_get(ev, 2));
	char now[24];
	ENSURE(dealid && idx && results, ERR_INVAL, "ResultPushedBoost: fields missing");
	snprintf(now, sizeof(now), "%lld", sched_now());
	const char *a[] = {dealid, idx, results, tx ? tx : "", now};
	GUARD(
	    sched_exec(s,
	               "UPDATE tasks SET status = 'COMPLETED', results = ?3, tx = ?4, updated = ?5"
	               " WHERE dealid = lower(?1) AND idx = ?2 AND status != 'COMPLETED'",
	               a, 5));
	if (sqlite3_changes(s->db) > 0)
		log_info("sched.task", "deal=%s index=%s status=COMPLETED tx=%s", dealid, idx,
		         tx ? tx : "");
	return 0;
}

static void event_topic(const char *sig, uint8_t out[32])
{
	keccak256(sig, strlen(sig), out);
}

/* The chain's hash of block n ("0x" and 64 lower-case hex digits) and its
 * parent's; "" for both when the chain has no such block (any more). */
static int block_hash(struct sched *s, uint64_t n, char hash[67], char parent[67])
{
	json_t *b = NULL;
	const char *h, *ph;
	char num[24];
	int rc = 0;

	hash[0] = parent[0] = '\0';
	snprintf(num, sizeof(num), "0x%llx", (unsigned long long)n);
	GUARD(eth_rpc_call(s->chain->rpc, "eth_getBlockByNumber", json_pack("[s,b]", num, 0), &b));
	if (json_is_object(b)) {
		h = json_string_value(json_object_get(b, "hash"));
		ph = json_string_value(json_object_get(b, "parentHash"));
		rc = h && ph && strlen(h) == 66 && strlen(ph) == 66
		         ? 0
		         : err_set(ERR_IO, "eth_getBlockByNumber %llu: block without a hash",
		                   (unsigned long long)n);
		for (size_t i = 0; rc == 0 && i < 67; i++) {
			hash[i] = (char)tolower((unsigned char)h[i]);
			parent[i] = (char)tolower((unsigned char)ph[i]);
		}
	}
	json_decref(b);
	return rc;
}

/* The hash recorded for block n; "" when none is. */
static int recorded_hash(struct sched *s, uint64_t n, char out[67])
{
	sqlite3_stmt *st;
	out[0] = '\0';
	pthread_mutex_lock(&s->mu);
	int rc = db_prepare(s->db, "SELECT hash FROM blocks WHERE number = ?1", &st);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			snprintf(out, 67, "%s", sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Is the block the cursor points at still the chain's?  *fork: the cursor
 * when it is (or when nothing was recorded for it: a database from before
 * hashes were kept), else the highest recorded block at most REORG_DEPTH
 * below it that still is.  ERR_VERIFY when none is: the follower stops. */
static int find_fork(struct sched *s, uint64_t cursor, uint64_t *fork)
{
	char want[67], got[67], parent[67];
	uint64_t floor = s->chain->deployment_block;

	*fork = cursor;
	if (cursor > floor + REORG_DEPTH)
		floor = cursor - REORG_DEPTH;
	for (uint64_t n = cursor; n > floor; n--) {
		GUARD(recorded_hash(s, n, want));
		if (!want[0]) {
			if (n == cursor)
				return 0;
			continue;
		}
		GUARD(block_hash(s, n, got, parent));
		if (strcmp(want, got) == 0) {
			*fork = n;
			return 0;
		}
	}
	if (floor == s->chain->deployment_block) {
		*fork = floor;
		return 0;
	}
	return err_set(ERR_VERIFY,
	               "chain reorganisation deeper than %d blocks below block %llu: no block "
	               "recorded there is still on the chain; not following (what was read "
	               "from the removed blocks cannot be told apart safely)",
	               REORG_DEPTH, (unsigned long long)cursor);
}

/* A reorganisation removed the blocks after fork: what was read from them
 * is undone and they are read again.  Tasks of a deal from those blocks
 * that no worker touched are dropped (if the deal comes back, so do they);
 * the others become REORGED, never handed out again unless the deal comes
 * back (store_deal), so none runs twice.  Completions read from the
 * removed blocks are not undone (see docs/pool.md). */
static int undo_reorg(struct sched *s, uint64_t cursor, uint64_t fork)
{
	char f[24], now[24];
	int dropped = 0, held = 0, deals = 0, rc;

	snprintf(f, sizeof(f), "%llu", (unsigned long long)fork);
	snprintf(now, sizeof(now), "%lld", sched_now());
	const char *a[] = {f, now};
	pthread_mutex_lock(&s->mu);
	rc = db_exec(s->db, "BEGIN IMMEDIATE");
	if (rc == 0)
		rc = sched_exec(
		    s,
		    "DELETE FROM tasks WHERE dealid IN (SELECT dealid FROM deals WHERE block > ?1)"
		    " AND status IN ('RECEIVED', 'INITIALIZED') AND worker IS NULL AND held_by = ''"
		    " AND claim_tx IS NULL AND NOT EXISTS (SELECT 1 FROM replicates r"
		    " WHERE r.taskid = tasks.taskid)",
		    a, 1);
	if (rc == 0) {
		dropped = sqlite3_changes(s->db);
		rc = sched_exec(s,
		                "UPDATE tasks SET reorged_from = status, status = 'REORGED',"
		                " updated = ?2, detail = 'its deal was removed by a chain"
		                " reorganisation' WHERE dealid IN (SELECT dealid FROM deals"
		                " WHERE block > ?1) AND status != 'REORGED'",
		                a, 2);
	}
	if (rc == 0) {
		held = sqlite3_changes(s->db);
		rc = sched_exec(s,
		                "DELETE FROM deals WHERE block > ?1 AND NOT EXISTS (SELECT 1 FROM"
		                " tasks t WHERE t.dealid = deals.dealid)",
		                a, 1);
	}
	if (rc == 0) {
		deals = sqlite3_changes(s->db);
		rc = sched_exec(s, "DELETE FROM blocks WHERE number > ?1", a, 1);
	}
	if (rc == 0)
		rc = sched_earnings_undo(s, fork);
	if (rc == 0)
		rc = sched_exec(s, "INSERT OR REPLACE INTO meta VALUES ('cursor', ?1)", a, 1);
	if (rc == 0)
		rc = db_exec(s->db, "COMMIT");
	if (rc < 0)
		db_rollback(s->db);
	pthread_mutex_unlock(&s->mu);
	GUARD(rc);
	log_warn("sched.reorg",
	         "block=%llu fork=%llu rescan=%llu deals_dropped=%d tasks_dropped=%d "
	         "tasks_reorged=%d",
	         (unsigned long long)cursor, (unsigned long long)fork,
	         (unsigned long long)(fork + 1), deals, dropped, held);
	return 0;
}

/* Read new blocks: deals for our pool and pushed results. */
static int follow_logs(struct sched *s)
{
	uint8_t notice[32], pushed[32], classic[32], finalized[32];
	uint64_t head, from, to;
	json_t *logs = NULL, *decoded = NULL, *ev;
	size_t i;
	char cur[24], hash[67], parent[67], again[67], again_parent[67], prev[24];
	uint64_t fork;
	int rc = 0;

	GUARD(eth_block_number(s->chain->rpc, &head));
	pthread_mutex_lock(&s->mu);
	rc = meta_cursor(s, &from);
	pthread_mutex_unlock(&s->mu);
	GUARD(rc);
	sched_metrics_chain(s, head, from);
	GUARD(find_fork(s, from, &fork));
	if (fork != from) {
		GUARD(undo_reorg(s, from, fork));
		from = fork;
	}
	s->caught_up = 1;
	if (head < (uint64_t)s->cfg.confirmations || head - (uint64_t)s->cfg.confirmations <= from)
		return 0;
	to = head - (uint64_t)s->cfg.confirmations;
	if (to - from > 5000)
		to = from + 5000;
	/* the node may keep the state of recent blocks only (earnings.c reads
	 * accounts at the cursor) */
	s->caught_up = to == head - (uint64_t)s->cfg.confirmations;
	event_topic("SchedulerNoticeBoost(address,bytes32,address,address,uint256,bytes32,string,"
	            "address)",
	            notice);
	event_topic("ResultPushedBoost(bytes32,uint256,bytes)", pushed);
	event_topic("SchedulerNotice(address,bytes32)", classic);
	event_topic("TaskFinalize(bytes32,bytes)", finalized);
	/* The hash of the last block read, the same before and after the read:
	 * else the chain changed under it, and the next round starts again. */
	GUARD(block_hash(s, to, hash, parent));
	GUARD(eth_get_logs(s->chain->rpc, s->chain->hub, NULL, from + 1, to, &logs));
	rc = block_hash(s, to, again, again_parent);
	if (rc == 0 && (!hash[0] || strcmp(hash, again) != 0))
		rc = err_set(ERR_BUSY, "block %llu changed while it was read",
		             (unsigned long long)to);
	if (rc < 0) {
		json_decref(logs);
		return rc;
	}
	/* Decoded, with the views deals need, before the lock is taken. */
	decoded = json_array();
	json_array_foreach (logs, i, ev) {
		json_t *d = NULL;
		if (s->boost && topic_is(ev, 0, notice) && topic_is(ev, 1, s->pool_topic)) {
			rc = log_data(
			    ev, "(bytes32,address,address,uint256,bytes32,string,address)", &d);
			if (rc == 0)
				rc = deal_views(s, d, 1);
		} else if (topic_is(ev, 0, classic) && topic_is(ev, 1, s->pool_topic)) {
			rc = log_data(ev, "(bytes32)", &d);
			if (rc == 0)
				rc = deal_views(s, d, 0);
		} else if (s->boost && topic_is(ev, 0, pushed)) {
			rc = log_data(ev, "(bytes32,uint256,bytes)", &d);
		}
		json_array_append_new(decoded, d ? d : json_null());
		if (rc < 0)
			goto out;
	}
	pthread_mutex_lock(&s->mu);
	rc = db_exec(s->db, "BEGIN IMMEDIATE");
	if (rc == 0)
		rc = sched_earnings_track(s, from + 1);
	json_array_foreach (logs, i, ev) {
		json_t *d = json_array_get(decoded, i);
		uint64_t block = 0;
		if (rc < 0)
			break;
		rc = eth_hex_u64(json_object_get(ev, "blockNumber"), &block);
		if (rc < 0)
			break;
		if (s->boost && topic_is(ev, 0, notice) && topic_is(ev, 1, s->pool_topic))
			rc = add_deal(s, d, block);
		else if (topic_is(ev, 0, classic) && topic_is(ev, 1, s->pool_topic))
			rc = add_classic_deal(s, d, block);
		else if (topic_is(ev, 0, finalized))
			rc = task_finalized(
			    s, ev, json_string_value(json_object_get(ev, "transactionHash")));
		else if (s->boost && topic_is(ev, 0, pushed))
			rc = task_pushed(s, d,
			                 json_string_value(json_object_get(ev, "transactionHash")));
		if (rc == 0)
			rc = sched_earnings_event(s, ev, block);
		if (rc < 0)
			break;
	}
	if (rc == 0) {
		snprintf(cur, sizeof(cur), "%llu", (unsigned long long)to);
		const char *a[] = {cur};
		rc = sched_exec(s, "INSERT OR REPLACE INTO meta VALUES ('cursor', ?1)", a, 1);
	}
	if (rc == 0) {
		snprintf(prev, sizeof(prev), "%llu", (unsigned long long)to - 1);
		const char *a[] = {cur, hash, prev, parent};
		rc = sched_exec(s, "INSERT OR REPLACE INTO blocks VALUES (?1, ?2), (?3, ?4)", a, 4);
	}
	if (rc == 0) {
		snprintf(prev, sizeof(prev), "%lld", (long long)to - REORG_DEPTH);
		const char *a[] = {prev};
		rc = sched_exec(s, "DELETE FROM blocks WHERE number < ?1", a, 1);
	}
	if (rc == 0)
		rc = sched_earnings_forget(s, to > REORG_DEPTH ? to - REORG_DEPTH : 0);
	if (rc == 0)
		rc = db_exec(s->db, "COMMIT");
	if (rc < 0)
		db_rollback(s->db);
	pthread_mutex_unlock(&s->mu);
	if (rc == 0)
		sched_metrics_chain(s, head, to);
out:
	json_decref(decoded);
	json_decref(logs);
	return rc;
}

void *sched_follower_main(void *arg)
{
	struct sched *s = arg;
	struct timespec ts;
	unsigned long round = 0;

	for (;;) {
		int rc = follow_logs(s);
		if (rc == ERR_VERIFY) {
			/* a reorganisation past REORG_DEPTH: chain work stops, the API
			 * keeps serving what is stored */
			log_error("sched.reorg", "error=\"%s\" following=stopped", err_msg());
			return NULL;
		}
		if (rc < 0 || sched_initialize_tasks(s) < 0 || sched_finalize_tasks(s) < 0 ||
		    sched_reopen_tasks(s) < 0 || sched_watch_deadlines(s) < 0)
			log_warn("sched.follow", "error=\"%s\"", err_msg());
		if (rc == 0 && s->caught_up && sched_earnings_refresh(s) < 0)
			log_warn("sched.earnings", "error=\"%s\"", err_msg());
		if (sched_prune_events(s) < 0)
			log_warn("sched.retention", "error=\"%s\"", err_msg());
		if (round % 10 == 0 && market_stock(s->market) < 0)
			log_warn("market.stock", "error=\"%s\"", err_msg());
		if (++round % 120 == 0) {
			pthread_mutex_lock(&s->mu);
			if (sched_results_gc(s) < 0)
				log_warn("sched.gc", "error=\"%s\"", err_msg());
			pthread_mutex_unlock(&s->mu);
		}
		pthread_mutex_lock(&s->mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)s->cfg.poll_ms * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		if (!s->stop)
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		int stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			return NULL;
	}
}
