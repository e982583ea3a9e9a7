/* follow.c — the chain follower: reads the blocks past the cursor for the
 * deals of our pool and the results pushed for their tasks, and runs the
 * task lifecycle (tasks.c) and the market's stock on each round.  The block
 * cursor moves in the same transaction as what was read, so a restart
 * resumes exactly. */
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

/* Read new blocks: deals for our pool and pushed results. */
static int follow_logs(struct sched *s)
{
	uint8_t notice[32], pushed[32], classic[32], finalized[32];
	uint64_t head, from, to;
	json_t *logs = NULL, *decoded = NULL, *ev;
	size_t i;
	char cur[24];
	int rc = 0;

	GUARD(eth_block_number(s->chain->rpc, &head));
	pthread_mutex_lock(&s->mu);
	rc = meta_cursor(s, &from);
	pthread_mutex_unlock(&s->mu);
	GUARD(rc);
	if (head < (uint64_t)s->cfg.confirmations || head - (uint64_t)s->cfg.confirmations <= from)
		return 0;
	to = head - (uint64_t)s->cfg.confirmations;
	if (to - from > 5000)
		to = from + 5000;
	event_topic("SchedulerNoticeBoost(address,bytes32,address,address,uint256,bytes32,string,"
	            "address)",
	            notice);
	event_topic("ResultPushedBoost(bytes32,uint256,bytes)", pushed);
	event_topic("SchedulerNotice(address,bytes32)", classic);
	event_topic("TaskFinalize(bytes32,bytes)", finalized);
	GUARD(eth_get_logs(s->chain->rpc, s->chain->hub, NULL, from + 1, to, &logs));
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
		if (rc < 0)
			break;
	}
	if (rc == 0) {
		snprintf(cur, sizeof(cur), "%llu", (unsigned long long)to);
		const char *a[] = {cur};
		rc = sched_exec(s, "INSERT OR REPLACE INTO meta VALUES ('cursor', ?1)", a, 1);
	}
	if (rc == 0)
		rc = db_exec(s->db, "COMMIT");
	if (rc < 0)
		db_rollback(s->db);
	pthread_mutex_unlock(&s->mu);
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
		if (follow_logs(s) < 0 || sched_initialize_tasks(s) < 0 ||
		    sched_finalize_tasks(s) < 0 || sched_reopen_tasks(s) < 0 ||
		    sched_watch_deadlines(s) < 0)
			log_warn("sched.follow", "error=\"%s\"", err_msg());
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
