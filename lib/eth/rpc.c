#include "rpc.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/tx.h"
#include "eth/txm.h"
#include "net/http.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RPC_MAX_BODY (64u * 1024u * 1024u)
#define LOG_RANGE    5000 /* blocks per eth_getLogs request */

struct eth_rpc {
	char *url;
	long id;
	const char *const *errors;
	size_t n_errors;
	int progress;
	uint64_t chain_id;   /* cached after the first query */
	uint64_t max_fee;    /* maxFeePerGas cap, wei (0: none) */
	struct eth_txm *txm; /* eth_rpc_manage's: sends for txm_from */
	uint8_t txm_from[20];
};

int eth_rpc_new(const char *url, struct eth_rpc **out)
{
	struct eth_rpc *r = calloc(1, sizeof(*r));
	ENSURE(r, ERR_NOMEM, "out of memory");
	r->url = strdup(url);
	if (!r->url) {
		free(r);
		return err_set(ERR_NOMEM, "out of memory");
	}
	*out = r;
	return 0;
}

void eth_rpc_free(struct eth_rpc *r)
{
	if (!r)
		return;
	eth_txm_free(r->txm);
	free(r->url);
	free(r);
}

void eth_rpc_set_errors(struct eth_rpc *r, const char *const *sigs, size_t n)
{
	r->errors = sigs;
	r->n_errors = n;
}

void eth_rpc_set_progress(struct eth_rpc *r, int on)
{
	r->progress = on;
}

void eth_rpc_set_max_fee(struct eth_rpc *r, uint64_t wei)
{
	r->max_fee = wei;
}

struct eth_txm *eth_rpc_txm(struct eth_rpc *r)
{
	return r ? r->txm : NULL;
}

int eth_rpc_manage(struct eth_rpc *r, const uint8_t key[32], const struct eth_txm_config *cfg)
{
	ENSURE(!r->txm, ERR_INVAL, "eth_rpc_manage: a manager is set already");
	GUARD(k1_address(key, r->txm_from));
	GUARD(eth_txm_new(r->url, key, cfg, &r->txm));
	eth_txm_set_errors(r->txm, r->errors, r->n_errors);
	return 0;
}

/* Solidity's panic codes (the language's documentation, "Panic via assert
 * and Error via require"). */
static const char *panic_meaning(const char *code)
{
	static const struct {
		unsigned v;
		const char *what;
	} codes[] = {
	    {0x00, "generic compiler panic"},
	    {0x01, "assertion failed"},
	    {0x11, "arithmetic overflow or underflow"},
	    {0x12, "division or modulo by zero"},
	    {0x21, "conversion to an enum out of range"},
	    {0x22, "storage byte array incorrectly encoded"},
	    {0x31, "pop() on an empty array"},
	    {0x32, "array index out of bounds"},
	    {0x41, "too much memory allocated"},
	    {0x51, "call to a zero-initialized function"},
	};
	char *end;
	unsigned long long v = strtoull(code, &end, 10);
	for (size_t i = 0; *end == '\0' && i < sizeof(codes) / sizeof(*codes); i++)
		if (codes[i].v == v)
			return codes[i].what;
	return "unknown panic code";
}

void eth_revert_reason(const uint8_t *d, size_t n, const char *const *errors, size_t n_errors,
                       char *buf, size_t cap)
{
	uint8_t sel[4];
	json_t *v = NULL;

	if (n == 0) {
		snprintf(buf, cap, "reverted without a reason");
		return;
	}
	if (n < 4) {
		snprintf(buf, cap, "reverted with %zu bytes of data, not an error", n);
		return;
	}
	if (memcmp(d, "\x08\xc3\x79\xa0", 4) == 0 &&
	    abi_decode_str("(string)", d + 4, n - 4, &v) == 0) {
		const char *m = json_string_value(json_array_get(v, 0));
		int k = snprintf(buf, cap, "reverted: ");
		if (k >= 0 && (size_t)k < cap)
			str_printable(buf + k, cap - (size_t)k, m, strlen(m));
	} else if (memcmp(d, "\x4e\x48\x7b\x71", 4) == 0 &&
	           abi_decode_str("(uint256)", d + 4, n - 4, &v) == 0) {
		const char *code = json_string_value(json_array_get(v, 0));
		unsigned long long c = strtoull(code, NULL, 10);
		if (strlen(code) < 10)
			snprintf(buf, cap, "panicked: 0x%02llx (%s)", c, panic_meaning(code));
		else
			snprintf(buf, cap, "panicked: %s (%s)", code, panic_meaning(code));
	} else {
		snprintf(buf, cap, "reverted with custom error 0x%02x%02x%02x%02x", d[0], d[1],
		         d[2], d[3]);
		for (size_t i = 0; i < n_errors; i++) {
			const char *paren = strchr(errors[i], '(');
			char *args = NULL;
			abi_selector(errors[i], sel);
			if (!paren || memcmp(sel, d, 4) != 0)
				continue;
			if (abi_decode_str(paren, d + 4, n - 4, &v) == 0)
				args = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			int k = snprintf(buf, cap, "reverted: %.*s", (int)(paren - errors[i]),
			                 errors[i]);
			if (k >= 0 && (size_t)k < cap)
				str_printable(buf + k, cap - (size_t)k, args ? args : "()",
				              args ? strlen(args) : 2);
			free(args);
			break;
		}
	}
	json_decref(v);
}

/* Revert data as the node gave it (hex) -> readable reason into buf. */
static void revert_reason(const struct eth_rpc *r, const char *hex, char *buf, size_t cap)
{
	uint8_t *d = NULL;
	size_t n = 0;

	if (!hex || hex_decode_alloc(hex, strlen(hex), &d, &n) < 0) {
		snprintf(buf, cap, "reverted");
		free(d);
		return;
	}
	eth_revert_reason(d, n, r->errors, r->n_errors, buf, cap);
	free(d);
}

int eth_rpc_call(struct eth_rpc *r, const char *method, json_t *params, json_t **result)
{
	struct http_response resp;
	json_t *req, *j = NULL, *err;
	char *body;
	int rc;

	*result = NULL;
	req = json_pack("{s:s,s:I,s:s,s:o}", "jsonrpc", "2.0", "id",
	                (json_int_t)__atomic_add_fetch(&r->id, 1, __ATOMIC_RELAXED), "method",
	                method, "params", params ? params : json_array());
	ENSURE(req, ERR_NOMEM, "out of memory");
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	ENSURE(body, ERR_NOMEM, "out of memory");
	rc = http_post(r->url, "application/json", body, strlen(body), RPC_MAX_BODY, 60, &resp);
	free(body);
	if (rc < 0)
		return err_wrap(rc, "%s", method);
	if (resp.status != 200) {
		long st = resp.status;
		http_response_free(&resp);
		return err_set(ERR_IO, "%s: %s answered HTTP %ld", method, r->url, st);
	}
	rc = json_parse((const char *)resp.body.buf, resp.body.len, method, &j);
	http_response_free(&resp);
	GUARD(rc);
	err = json_object_get(j, "error");
	if (err) {
		const char *msg = json_string_value(json_object_get(err, "message"));
		json_t *data = json_object_get(err, "data");
		char reason[512] = "";
		if (json_is_string(data))
			revert_reason(r, json_string_value(data), reason, sizeof(reason));
		/* Nodes often put the decoded Error(string) in the message already. */
		if (msg && strncmp(reason, "reverted: ", 10) == 0 && strstr(msg, reason + 10))
			reason[0] = '\0';
		/* "execution reverted" + "reverted without a reason": one "reverted" */
		size_t ml = msg ? strlen(msg) : 0;
		if (ml >= 8 && strcmp(msg + ml - 8, "reverted") == 0 &&
		    strncmp(reason, "reverted", 8) == 0)
			rc = err_set(ERR_VERIFY, "%s: %s%s", method, msg, reason + 8);
		else
			rc = err_set(ERR_VERIFY, "%s: %s%s%s", method, msg ? msg : "error",
			             reason[0] ? ": " : "", reason);
		json_decref(j);
		return rc;
	}
	*result = json_incref(json_object_get(j, "result"));
	json_decref(j);
	ENSURE(*result, ERR_INVAL, "%s: no result", method);
	return 0;
}

int eth_hex_u64(const json_t *v, uint64_t *out)
{
	const char *s = json_string_value(v);
	char *end;
	ENSURE(s && s[0] == '0' && s[1] == 'x' && s[2], ERR_INVAL, "expected a hex quantity");
	*out = strtoull(s + 2, &end, 16);
	ENSURE(*end == '\0' && strlen(s) <= 18, ERR_INVAL, "bad hex quantity \"%.30s\"", s);
	return 0;
}

static int quantity(struct eth_rpc *r, const char *method, json_t *params, uint64_t *out)
{
	json_t *v;
	int rc;
	GUARD(eth_rpc_call(r, method, params, &v));
	rc = eth_hex_u64(v, out);
	json_decref(v);
	return rc < 0 ? err_wrap(rc, "%s", method) : 0;
}

int eth_chain_id(struct eth_rpc *r, uint64_t *out)
{
	uint64_t id = __atomic_load_n(&r->chain_id, __ATOMIC_RELAXED);

	if (!id) {
		GUARD(quantity(r, "eth_chainId", NULL, &id));
		__atomic_store_n(&r->chain_id, id, __ATOMIC_RELAXED);
	}
	*out = id;
	return 0;
}

int eth_block_number(struct eth_rpc *r, uint64_t *out)
{
	return quantity(r, "eth_blockNumber", NULL, out);
}

int eth_block_time(struct eth_rpc *r, uint64_t *out)
{
	json_t *b;
	int rc;
	GUARD(eth_rpc_call(r, "eth_getBlockByNumber", json_pack("[s,b]", "latest", 0), &b));
	rc = eth_hex_u64(json_object_get(b, "timestamp"), out);
	json_decref(b);
	return rc < 0 ? err_wrap(rc, "eth_getBlockByNumber: timestamp") : 0;
}

int eth_nonce(struct eth_rpc *r, const uint8_t addr[20], uint64_t *out)
{
	return quantity(r, "eth_getTransactionCount",
	                json_pack("[o,s]", eth_json_addr(addr), "pending"), out);
}

int eth_balance(struct eth_rpc *r, const uint8_t addr[20], uint8_t out[32])
{
	json_t *v;
	int rc;
	GUARD(eth_rpc_call(r, "eth_getBalance", json_pack("[o,s]", eth_json_addr(addr), "latest"),
	                   &v));
	rc = json_is_string(v) ? u256_parse(json_string_value(v), out)
	                       : err_set(ERR_INVAL, "eth_getBalance: bad result");
	json_decref(v);
	return rc;
}

int eth_code_size(struct eth_rpc *r, const uint8_t addr[20], size_t *out)
{
	json_t *v;
	GUARD(
	    eth_rpc_call(r, "eth_getCode", json_pack("[o,s]", eth_json_addr(addr), "latest"), &v));
	*out =
	    json_is_string(v) && json_string_length(v) >= 2 ? (json_string_length(v) - 2) / 2 : 0;
	json_decref(v);
	return 0;
}

static json_t *call_object(const uint8_t *from, const uint8_t *to, const uint8_t *data, size_t len)
{
	json_t *o = json_object();
	if (from)
		json_object_set_new(o, "from", eth_json_addr(from));
	if (to)
		json_object_set_new(o, "to", eth_json_addr(to));
	json_object_set_new(o, "data", eth_json_hex(data, len));
	return o;
}

int eth_call(struct eth_rpc *r, const uint8_t *from, const uint8_t to[20], const uint8_t *data,
             size_t len, uint8_t **ret, size_t *ret_len)
{
	return eth_call_at(r, from, to, data, len, ETH_LATEST, ret, ret_len);
}

int eth_call_at(struct eth_rpc *r, const uint8_t *from, const uint8_t to[20], const uint8_t *data,
                size_t len, uint64_t block, uint8_t **ret, size_t *ret_len)
{
	char tag[24] = "latest";
	json_t *v;
	int rc;
	if (block != ETH_LATEST)
		snprintf(tag, sizeof(tag), "0x%llx", (unsigned long long)block);
	GUARD(eth_rpc_call(r, "eth_call", json_pack("[o,s]", call_object(from, to, data, len), tag),
	                   &v));
	rc = json_is_string(v)
	         ? hex_decode_alloc(json_string_value(v), json_string_length(v), ret, ret_len)
	         : err_set(ERR_INVAL, "eth_call: bad result");
	json_decref(v);
	return rc;
}

int eth_get_logs(struct eth_rpc *r, const uint8_t addr[20], const uint8_t *topic0,
                 uint64_t from_block, uint64_t to_block, json_t **logs)
{
	json_t *all = json_array();
	ENSURE(all, ERR_NOMEM, "out of memory");
	for (uint64_t b = from_block; b <= to_block; b += LOG_RANGE) {
		uint64_t e = b + LOG_RANGE - 1 < to_block ? b + LOG_RANGE - 1 : to_block;
		char fb[24], tb[24];
		json_t *f = json_object(), *v;
		int rc;
		snprintf(fb, sizeof(fb), "0x%llx", (unsigned long long)b);
		snprintf(tb, sizeof(tb), "0x%llx", (unsigned long long)e);
		json_object_set_new(f, "fromBlock", json_string(fb));
		json_object_set_new(f, "toBlock", json_string(tb));
		if (addr)
			json_object_set_new(f, "address", eth_json_addr(addr));
		if (topic0)
			json_object_set_new(f, "topics",
			                    json_pack("[o]", eth_json_hex(topic0, 32)));
		rc = eth_rpc_call(r, "eth_getLogs", json_pack("[o]", f), &v);
		if (rc < 0) {
			json_decref(all);
			return rc;
		}
		json_array_extend(all, v);
		json_decref(v);
		if (e == to_block)
			break;
	}
	*logs = all;
	return 0;
}

void eth_receipt_free(struct eth_receipt *rc)
{
	json_decref(rc->logs);
	rc->logs = NULL;
}

int eth_receipt_get(struct eth_rpc *r, const uint8_t hash[32], struct eth_receipt *out)
{
	json_t *v = NULL;
	uint64_t st = 0;
	json_t *ca;
	int rc;

	memset(out, 0, sizeof(*out));
	GUARD(eth_rpc_call(r, "eth_getTransactionReceipt", json_pack("[o]", eth_json_hex(hash, 32)),
	                   &v));
	if (json_is_null(v)) {
		json_decref(v);
		return 0;
	}
	memcpy(out->tx_hash, hash, 32);
	ca = json_object_get(v, "contractAddress");
	rc = eth_hex_u64(json_object_get(v, "status"), &st);
	if (rc == 0)
		rc = eth_hex_u64(json_object_get(v, "blockNumber"), &out->block);
	if (rc == 0)
		rc = eth_hex_u64(json_object_get(v, "gasUsed"), &out->gas_used);
	if (rc == 0 && json_is_string(ca))
		rc = eth_addr_parse(json_string_value(ca), out->contract);
	out->status = (int)st;
	out->logs = json_incref(json_object_get(v, "logs"));
	json_decref(v);
	if (rc < 0) {
		eth_receipt_free(out);
		return err_wrap(rc, "receipt");
	}
	return 1;
}

static int get_receipt(struct eth_rpc *r, const uint8_t hash[32], long timeout_s,
                       struct eth_receipt *out)
{
	time_t end = time(NULL) + timeout_s;
	int step = 0, rc;

	while ((rc = eth_receipt_get(r, hash, out)) == 0) {
		ENSURE(time(NULL) < end, ERR_IO, "transaction not mined within %ld s", timeout_s);
		if (r->progress && step++ % 10 == 0)
			fprintf(stderr, "  waiting for the transaction to be mined...\n");
		usleep(step < 10 ? 50000 : 250000);
	}
	return rc < 0 ? rc : 0;
}

int eth_send_tx(struct eth_rpc *r, const uint8_t priv[32], const struct eth_send *s, long timeout_s,
                struct eth_receipt *out)
{
	struct eth_tx tx;
	uint8_t from[20], *raw = NULL, hash[32];
	size_t len;
	json_t *v = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	memset(&tx, 0, sizeof(tx));
	GUARD(k1_address(priv, from));
	if (r->txm && memcmp(from, r->txm_from, 20) == 0)
		return eth_txm_send(r->txm, s, timeout_s, out);
	tx.type = 2;
	GUARD(eth_chain_id(r, &tx.chain_id));
	GUARD(eth_nonce(r, from, &tx.nonce));
	{
		struct eth_fees f;
		GUARD(eth_fees_next(r, r->max_fee, &f));
		u256_from_u64(f.max_fee, tx.max_fee);
		u256_from_u64(f.priority, tx.max_priority);
	}
	if (s->to) {
		tx.has_to = 1;
		memcpy(tx.to, s->to, 20);
	}
	memcpy(tx.value, s->value, 32);
	tx.data = s->data;
	tx.data_len = s->data_len;
	tx.gas = s->gas;
	if (!tx.gas) {
		json_t *o = call_object(from, s->to, s->data, s->data_len);
		uint64_t g;
		json_object_set_new(o, "value", eth_json_hex(s->value, 32));
		GUARD(quantity(r, "eth_estimateGas", json_pack("[o]", o), &g));
		tx.gas = g + g / 5;
	}
	GUARD(eth_tx_sign(&tx, priv, &raw, &len, hash));
	rc =
	    eth_rpc_call(r, "eth_sendRawTransaction", json_pack("[o]", eth_json_hex(raw, len)), &v);
	free(raw);
	json_decref(v);
	GUARD(rc);
	memcpy(out->tx_hash, hash, 32);
	GUARD(get_receipt(r, hash, timeout_s, out));
	if (out->status != 1) {
		/* Replay as a call to learn the reason. */
		uint8_t *ret;
		size_t rl;
		char h[67];
		h[0] = '0';
		h[1] = 'x';
		hex_encode(h + 2, hash, 32);
		rc = eth_call(r, from, s->to, s->data, s->data_len, &ret, &rl);
		if (rc == 0) {
			free(ret);
			return err_set(ERR_VERIFY, "transaction %s reverted", h);
		}
		return err_wrap(ERR_VERIFY, "transaction %s", h);
	}
	return 0;
}
