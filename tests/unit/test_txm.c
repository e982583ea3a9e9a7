/* The transaction manager (lib/eth/txm.c) against a scripted JSON-RPC node
 * on loopback: fees from eth_feeHistory and the cap, nonces counted locally
 * and resynced on "nonce too low", receipts delivered by the poller. */
#include "testutil.h"

#include "eth/rpc.h"
#include "eth/txm.h"
#include "net/server.h"
#include "util/err.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define GWEI 1000000000ull

/* The node's script, under mu. */
static struct {
	pthread_mutex_t mu;
	const char *base_hex; /* the next block's base fee */
	const char *tips[5];  /* 50th-percentile tips of the last 5 blocks */
	uint64_t pending;     /* eth_getTransactionCount(pending) */
	int nonce_low;        /* answer this many sends "nonce too low" */
	int sends;
	char hashes[8][67]; /* sent, in order; their receipts are given */
	int n_hashes;
	int mined; /* receipts given for the first `mined` hashes */
} node = {PTHREAD_MUTEX_INITIALIZER, NULL, {NULL}, 0, 0, 0, {{0}}, 0, 0};

static struct http_server *srv;
static char url[64];
static const uint8_t key[32] = {1, 2, 3};

static json_t *rpc_result(const char *method, json_t *params, json_t **error)
{
	if (strcmp(method, "eth_chainId") == 0)
		return json_string("0x7a69");
	if (strcmp(method, "eth_blockNumber") == 0)
		return json_string("0x10");
	if (strcmp(method, "eth_maxPriorityFeePerGas") == 0)
		return json_string("0x77359400"); /* 2 gwei */
	if (strcmp(method, "eth_estimateGas") == 0)
		return json_string("0x5208");
	if (strcmp(method, "eth_getTransactionCount") == 0) {
		char q[24];
		snprintf(q, sizeof(q), "0x%llx", (unsigned long long)node.pending);
		return json_string(q);
	}
	if (strcmp(method, "eth_feeHistory") == 0) {
		json_t *base = json_array(), *reward = json_array();
		for (int i = 0; i < 5; i++) {
			json_array_append_new(base, json_string("0x1"));
			json_array_append_new(reward, json_pack("[s]", node.tips[i]));
		}
		json_array_append_new(base, json_string(node.base_hex));
		return json_pack("{s:s,s:o,s:o}", "oldestBlock", "0xb", "baseFeePerGas", base,
		                 "reward", reward);
	}
	if (strcmp(method, "eth_sendRawTransaction") == 0) {
		node.sends++;
		if (node.nonce_low > 0) {
			node.nonce_low--;
			*error = json_pack("{s:i,s:s}", "code", -32000, "message", "nonce too low");
			return NULL;
		}
		return json_string("0x00");
	}
	if (strcmp(method, "eth_getTransactionReceipt") == 0) {
		const char *h = json_string_value(json_array_get(params, 0));
		for (int i = 0; h && i < node.mined && i < node.n_hashes; i++)
			if (strcmp(node.hashes[i], h) == 0)
				return json_pack("{s:s,s:s,s:s,s:s,s:[]}", "transactionHash", h,
				                 "status", "0x1", "blockNumber", "0x11", "gasUsed",
				                 "0x5208", "logs");
		return json_null();
	}
	if (strcmp(method, "eth_getTransactionByHash") == 0)
		return json_object(); /* known */
	*error = json_pack("{s:i,s:s}", "code", -32601, "message", "method not found");
	return NULL;
}

static void h_rpc(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	json_t *j = json_loads((const char *)req->body, 0, NULL), *res, *error = NULL;
	const char *method = json_string_value(json_object_get(j, "method"));
	(void)ctx;
	pthread_mutex_lock(&node.mu);
	res = rpc_result(method ? method : "", json_object_get(j, "params"), &error);
	pthread_mutex_unlock(&node.mu);
	if (error)
		http_resp_json(resp, 200,
		               json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id",
		                         json_object_get(j, "id"), "error", error));
	else
		http_resp_json(resp, 200,
		               json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id",
		                         json_object_get(j, "id"), "result", res));
	json_decref(j);
}

static int setup(void **state)
{
	static const struct http_route routes[] = {{"POST", "/", h_rpc, "rpc", 0}, {0}};
	struct http_server_opts o = {.address = "127.0.0.1", .threads = 2, .max_body = 1 << 20};
	(void)state;
	if (http_server_start(&o, routes, NULL, &srv) < 0)
		return -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", http_server_port(srv));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	http_server_stop(srv);
	return 0;
}

static void script_fees(const char *base, const char *t0, const char *t1, const char *t2,
                        const char *t3, const char *t4)
{
	pthread_mutex_lock(&node.mu);
	node.base_hex = base;
	node.tips[0] = t0;
	node.tips[1] = t1;
	node.tips[2] = t2;
	node.tips[3] = t3;
	node.tips[4] = t4;
	pthread_mutex_unlock(&node.mu);
}

/* max = 2 x next base + the median tip; the cap clips both; a base fee at
 * the cap is ERR_BUSY; blocks that tipped nothing defer to the node. */
static void fees_from_history(void **state)
{
	struct eth_rpc *r;
	struct eth_fees f;
	(void)state;
	assert_int_equal(eth_rpc_new(url, &r), 0);
	/* base 10 gwei; tips 1, 5, 3, 2, 4 gwei: median 3 */
	script_fees("0x2540be400", "0x3b9aca00", "0x12a05f200", "0xb2d05e00", "0x77359400",
	            "0xee6b2800");
	assert_int_equal(eth_fees_next(r, 0, &f), 0);
	assert_true(f.base == 10 * GWEI);
	assert_true(f.priority == 3 * GWEI);
	assert_true(f.max_fee == 23 * GWEI);
	assert_int_equal(eth_fees_next(r, 15 * GWEI, &f), 0);
	assert_true(f.max_fee == 15 * GWEI);
	assert_true(f.priority == 3 * GWEI);
	assert_int_equal(eth_fees_next(r, 11 * GWEI, &f), 0);
	assert_true(f.max_fee == 11 * GWEI && f.priority == 1 * GWEI);
	assert_int_equal(eth_fees_next(r, 10 * GWEI, &f), ERR_BUSY);
	assert_non_null(strstr(err_msg(), "above the fee cap"));
	script_fees("0x64", "0x0", "0x0", "0x0", "0x0", "0x0");
	assert_int_equal(eth_fees_next(r, 0, &f), 0);
	assert_true(f.base == 100 && f.priority == 2 * GWEI && f.max_fee == 2 * GWEI + 200);
	eth_rpc_free(r);
}

struct seen {
	pthread_mutex_t mu;
	int done, rc, status;
	uint64_t nonces[8];
	int n_sent;
};

static void on_sent(void *arg, const struct eth_txm_sent *s)
{
	struct seen *x = arg;
	char h[67];
	pthread_mutex_lock(&x->mu);
	if (x->n_sent < 8)
		x->nonces[x->n_sent++] = s->nonce;
	pthread_mutex_unlock(&x->mu);
	snprintf(h, 3, "0x");
	for (int i = 0; i < 32; i++)
		snprintf(h + 2 + 2 * i, 3, "%02x", s->hashes[s->n_hashes - 1][i]);
	pthread_mutex_lock(&node.mu);
	if (node.n_hashes < 8)
		snprintf(node.hashes[node.n_hashes++], 67, "%s", h);
	pthread_mutex_unlock(&node.mu);
}

static void on_done(void *arg, const struct eth_txm_result *r)
{
	struct seen *x = arg;
	pthread_mutex_lock(&x->mu);
	x->done++;
	x->rc = r->rc;
	x->status = r->receipt ? r->receipt->status : -1;
	pthread_mutex_unlock(&x->mu);
}

/* Nonces go up locally (the node's pending count stays behind); "nonce too
 * low" makes the manager count again from the node and sign anew; the
 * poller delivers each receipt once. */
static void nonces_and_receipts(void **state)
{
	struct eth_txm *m;
	struct eth_txm_config cfg = {.poll_ms = 20};
	struct seen x = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, {0}, 0};
	struct eth_txm_cb cb = {on_sent, on_done, &x};
	struct eth_send s;
	uint8_t to[20] = {0xaa}, hash[32];
	(void)state;

	script_fees("0x3b9aca00", "0x1", "0x1", "0x1", "0x1", "0x1");
	pthread_mutex_lock(&node.mu);
	node.pending = 7;
	node.n_hashes = node.mined = 0;
	pthread_mutex_unlock(&node.mu);
	memset(&s, 0, sizeof(s));
	s.to = to;
	s.data = (const uint8_t *)"\x01\x02";
	s.data_len = 2;
	assert_int_equal(eth_txm_new(url, key, &cfg, &m), 0);
	assert_int_equal(eth_txm_submit(m, &s, &cb, hash), 0);
	assert_int_equal(eth_txm_submit(m, &s, &cb, hash), 0);
	/* another sender took 9 and 10: the node says so once */
	pthread_mutex_lock(&node.mu);
	node.pending = 11;
	node.nonce_low = 1;
	pthread_mutex_unlock(&node.mu);
	assert_int_equal(eth_txm_submit(m, &s, &cb, hash), 0);
	pthread_mutex_lock(&x.mu);
	assert_int_equal(x.n_sent, 4); /* 7, 8, 9 refused, then 11 */
	assert_true(x.nonces[0] == 7 && x.nonces[1] == 8 && x.nonces[2] == 9 && x.nonces[3] == 11);
	pthread_mutex_unlock(&x.mu);
	assert_int_equal(eth_txm_pending(m), 3);
	/* the first two are mined (the refused version never is) */
	pthread_mutex_lock(&node.mu);
	node.mined = 2;
	pthread_mutex_unlock(&node.mu);
	assert_int_equal(eth_txm_wait_below(m, 2, 5000), 0);
	/* the callback runs just after the table lets go of it */
	for (int i = 0, d = 0; i < 500 && d < 2; i++) {
		pthread_mutex_lock(&x.mu);
		d = x.done;
		pthread_mutex_unlock(&x.mu);
		if (d < 2)
			usleep(10000);
	}
	pthread_mutex_lock(&x.mu);
	assert_int_equal(x.done, 2);
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.status, 1);
	pthread_mutex_unlock(&x.mu);
	assert_int_equal(eth_txm_reachable(m), 1);
	/* stopping with one in flight tells its owner so */
	eth_txm_free(m);
	assert_int_equal(x.done, 3);
	assert_int_equal(x.rc, ERR_BUSY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(fees_from_history),
	    cmocka_unit_test(nonces_and_receipts),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
