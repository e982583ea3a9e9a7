/* result_check.c — a downloaded result against the chain.
 *
 * The result store is the pool's, and the archive comes from a worker: the
 * beneficiary trusts neither.  What the chain holds is the result digest
 * the worker's TD signed (or the replicates agreed on), so the client
 * recomputes it from the archive exactly as the worker does and compares:
 *   Boost        the `resultDigest` of the `results` JSON in the task's
 *                ResultPushedBoost event (the transaction the pool names,
 *                read from the chain itself);
 *   classic      viewTask's resultDigest (contributeAndFinalize, or the
 *                replicates' consensus once revealed);
 *   callback     keccak256(callback-data of computed.json) instead of the
 *                files' digest, when the deal names a callback contract.
 * The archive's central directory is checked first (no absolute names, no
 * "..", no links), then the archive is read as a stream and the digest
 * computed from what is read, within caps on what is actually read: a
 * decompression bomb stops at the cap and nothing is written to disk. */
#include "cli.h"

#include "../services/worker/result.h"
#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/rpc.h"
#include "net/http.h"
#include "poco/market.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/zip.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARCHIVE_MAX  (64u << 20) /* as the result store */
#define ENTRIES_MAX  10000
#define UNPACKED_MAX (1ull << 30)

static int is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* The callback contract a deal names (zero when none). */
static int has_callback(const json_t *deal, int *out)
{
	uint8_t cb[20];
	GUARD(eth_addr_parse(json_string_value(json_object_get(deal, "callback")), cb));
	*out = !is_zero(cb, 20);
	return 0;
}

/* Boost: the results JSON of the task's ResultPushedBoost event in tx. */
static int boost_digest(struct poco_chain *c, const char *tx, const char *dealid, long long idx,
                        uint8_t digest[32])
{
	uint8_t topic[32], addr[20], *data = NULL;
	size_t len = 0, i;
	json_t *rcpt = NULL, *lg, *ev = NULL, *res = NULL;
	const char *sig = "ResultPushedBoost(bytes32,uint256,bytes)";
	int rc = ERR_NOTFOUND;

	ENSURE(tx && strlen(tx) == 66, ERR_NOTFOUND, "the pool names no transaction for the task");
	keccak256(sig, strlen(sig), topic);
	GUARD(eth_rpc_call(c->rpc, "eth_getTransactionReceipt", json_pack("[s]", tx), &rcpt));
	ENSURE_GOTO(json_is_object(rcpt), ERR_NOTFOUND, "transaction %s: no receipt on chain", tx);
	const char *status = json_string_value(json_object_get(rcpt, "status"));
	ENSURE_GOTO(status && strcmp(status, "0x1") == 0, ERR_VERIFY,
	            "transaction %s failed on chain", tx);
	rc = err_set(ERR_NOTFOUND, "transaction %s holds no ResultPushedBoost for the task", tx);
	json_array_foreach (json_object_get(rcpt, "logs"), i, lg) {
		const char *a = json_string_value(json_object_get(lg, "address"));
		const char *t0 =
		    json_string_value(json_array_get(json_object_get(lg, "topics"), 0));
		const char *d = json_string_value(json_object_get(lg, "data"));
		uint8_t t[32];
		if (!a || !t0 || !d || strncmp(d, "0x", 2) != 0 || eth_addr_parse(a, addr) < 0 ||
		    memcmp(addr, c->hub, 20) != 0 || hex_decode_exact(t, 32, t0, "topic") < 0 ||
		    memcmp(t, topic, 32) != 0)
			continue;
		free(data);
		data = NULL;
		if (hex_decode_alloc(d + 2, strlen(d + 2), &data, &len) < 0 ||
		    abi_decode_str("(bytes32,uint256,bytes)", data, len, &ev) < 0)
			continue;
		const char *did = json_string_value(json_array_get(ev, 0));
		const char *ix = json_string_value(json_array_get(ev, 1));
		const char *results = json_string_value(json_array_get(ev, 2));
		if (did && ix && results && strcasecmp(did, dealid) == 0 &&
		    strtoll(ix, NULL, 10) == idx && strncmp(results, "0x", 2) == 0) {
			uint8_t *rb = NULL;
			size_t rl = 0;
			rc = hex_decode_alloc(results + 2, strlen(results + 2), &rb, &rl);
			if (rc == 0)
				rc = json_parse((const char *)rb, rl, "the task's results on chain",
				                &res);
			free(rb);
			if (rc == 0)
				rc = json_get_hex(res, "resultDigest", digest, 32, 0);
			break;
		}
		json_decref(ev);
		ev = NULL;
	}
out:
	free(data);
	json_decref(ev);
	json_decref(res);
	json_decref(rcpt);
	return rc;
}

/* The digest on chain for task tid of deal `dealid` (0x hex) at index idx,
 * and whether it is keccak256 of callback-data; tx: the Boost push's
 * transaction (NULL for a classic deal). */
static int chain_digest_at(struct poco_chain *c, const char *dealid, long long idx, const char *tx,
                           const uint8_t tid[32], uint8_t digest[32], int *callback)
{
	char task[67];
	uint8_t did[32], want[32];
	json_t *deal = NULL, *view = NULL;
	int rc;

	hex_encode_0x(task, tid, 32);
	rc = dealid && strlen(dealid) == 66 && idx >= 0
	         ? hex_decode_exact(did, 32, dealid, "dealId")
	         : err_set(ERR_NOTFOUND, "the pool does not know task %s", task);
	if (rc == 0) {
		poco_task_id(did, (uint64_t)idx, want);
		if (CRYPTO_memcmp(want, tid, 32) != 0)
			rc = err_set(ERR_VERIFY, "the pool names deal %s index %lld, not task %s",
			             dealid, idx, task);
	}
	/* classic first: a hub without Boost (Arbitrum's) reverts viewDealBoost */
	if (rc == 0)
		rc = poco_view(c, "viewDeal", did, &deal);
	if (rc == 0 &&
	    eth_addr_parse(
	        json_string_value(json_object_get(json_object_get(deal, "app"), "pointer")),
	        want) == 0 &&
	    !is_zero(want, 20)) {
		rc = has_callback(deal, callback);
		if (rc == 0)
			rc = poco_view(c, "viewTask", tid, &view);
		if (rc == 0 && json_get_ll(view, "status", 0) != 3)
			rc = err_set(ERR_VERIFY, "task %s is not COMPLETED on chain", task);
		if (rc == 0)
			rc = json_get_hex(view, "resultDigest", digest, 32, 0);
	} else if (rc == 0) {
		/* PoCo Boost */
		json_decref(deal);
		deal = NULL;
		rc = poco_view(c, "viewDealBoost", did, &deal);
		if (rc == 0 &&
		    (eth_addr_parse(json_string_value(json_object_get(deal, "requester")), want) <
		         0 ||
		     is_zero(want, 20)))
			rc = err_set(ERR_NOTFOUND, "no deal %s on chain", dealid);
		if (rc == 0)
			rc = has_callback(deal, callback);
		if (rc == 0)
			rc = boost_digest(c, tx, dealid, idx, digest);
	}
	json_decref(deal);
	json_decref(view);
	return rc;
}

/* The same, the pool saying which deal and transaction to look at; the
 * task id and the chain check what it says. */
static int chain_digest(struct poco_chain *c, const char *sched, const uint8_t tid[32],
                        uint8_t digest[32], int *callback)
{
	char url[1024], task[67];
	json_t *t = NULL;
	long st;
	int rc;

	hex_encode_0x(task, tid, 32);
	snprintf(url, sizeof(url), "%s/tasks/%s", sched, task);
	GUARD(http_json(url, NULL, NULL, 1 << 20, 30, &st, &t));
	rc = chain_digest_at(c, json_string_value(json_object_get(t, "dealId")),
	                     json_get_ll(t, "taskIndex", -1),
	                     json_string_value(json_object_get(t, "tx")), tid, digest, callback);
	json_decref(t);
	return rc;
}

/* ---------- the archive ---------- */

/* Entries a result archive may hold: relative names inside, files and
 * directories only, a bounded total.  *encrypted when it is iExec's
 * encrypted result (iexec_out.zip.aes and aes-key.rsa). */
static int check_entries(const char *zip, int *encrypted)
{
	uint8_t *buf = NULL;
	size_t len = 0, n = 0, aes = 0, rsa = 0;
	struct zip_entry *e = NULL;
	uint64_t total = 0;
	int rc;

	GUARD(file_read(zip, ARCHIVE_MAX, &buf, &len));
	rc = zip_list(buf, len, ENTRIES_MAX, &e, &n);
	free(buf);
	GUARD(rc);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint32_t type = e[i].mode & S_IFMT;
		if (!zip_name_safe(e[i].name))
			rc = err_set(ERR_VERIFY,
			             "%s: entry '%s' would extract outside its directory", zip,
			             e[i].name);
		else if (type && type != S_IFREG && type != S_IFDIR)
			rc = err_set(ERR_VERIFY, "%s: entry '%s' is %s, not a file", zip, e[i].name,
			             type == S_IFLNK ? "a symbolic link" : "a special file");
		else if ((total += e[i].size) > UNPACKED_MAX)
			rc = err_set(ERR_TOOBIG, "%s: over %llu bytes unpacked", zip,
			             (unsigned long long)UNPACKED_MAX);
		aes += strcmp(e[i].name, "iexec_out.zip.aes") == 0;
		rsa += strcmp(e[i].name, "aes-key.rsa") == 0;
	}
	*encrypted = n == 2 && aes == 1 && rsa == 1;
	free(e);
	return rc;
}

/* The archive's digest against the chain's: sched names the deal and
 * transaction, or (sched NULL) dealid, idx and tx do. */
static int result_check(struct poco_chain *c, const char *sched, const char *dealid, long long idx,
                        const char *tx, const uint8_t tid[32], const char *zip, int *encrypted)
{
	static const struct result_limits lim = {UNPACKED_MAX, ENTRIES_MAX, 0};
	char task[67], want_hex[67], got_hex[67];
	uint8_t want[32], got[32];
	int callback = 0, rc;

	*encrypted = 0;
	hex_encode_0x(task, tid, 32);
	GUARD(check_entries(zip, encrypted));
	if (*encrypted)
		return 0;
	if (sched)
		GUARD(chain_digest(c, sched, tid, want, &callback));
	else
		GUARD(chain_digest_at(c, dealid, idx, tx, tid, want, &callback));
	/* read as a stream, bounded by what is read: nothing is unpacked */
	rc = result_archive_read(zip, NULL, &lim, callback, got);
	if (rc < 0)
		return err_wrap(rc, "result %s", task);
	hex_encode_0x(want_hex, want, 32);
	hex_encode_0x(got_hex, got, 32);
	ENSURE(CRYPTO_memcmp(want, got, 32) == 0, ERR_VERIFY,
	       "result %s does not match the on-chain digest %s (the archive's %s is %s)", task,
	       want_hex, callback ? "callback-data hash" : "digest", got_hex);
	return 0;
}

int cli_result_check(struct poco_chain *c, const char *sched, const uint8_t tid[32],
                     const char *zip, int *encrypted)
{
	return result_check(c, sched, NULL, -1, NULL, tid, zip, encrypted);
}

int cli_result_check_at(struct poco_chain *c, const char *dealid, long long idx, const char *tx,
                        const uint8_t tid[32], const char *zip, int *encrypted)
{
	return result_check(c, NULL, dealid, idx, tx, tid, zip, encrypted);
}
