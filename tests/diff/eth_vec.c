/* eth_vec — computes Ethereum primitives for the differential test against
 * ethers (tests/diff/ethers_diff.js).  Reads one JSON request per line on
 * stdin, writes one JSON result per line: {"ok":...} or {"error":"..."}. */
#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/eip712.h"
#include "eth/keystore.h"
#include "eth/rlp.h"
#include "eth/tx.h"
#include "util/codec.h"
#include "util/err.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_hex(const json_t *o, const char *k, uint8_t **p, size_t *n)
{
	const char *s = json_string_value(json_object_get(o, k));
	ENSURE(s, ERR_INVAL, "missing %s", k);
	return hex_decode_alloc(s, strlen(s), p, n);
}

static int get_fixed(const json_t *o, const char *k, uint8_t *out, size_t n)
{
	return hex_decode_exact(out, n, json_string_value(json_object_get(o, k)), k);
}

static int rlp_tree(const json_t *v, struct wbuf *w)
{
	if (json_is_array(v)) {
		struct wbuf items;
		size_t i;
		json_t *e;
		int rc = 0;
		wbuf_init(&items);
		json_array_foreach (v, i, e)
			if (rc == 0)
				rc = rlp_tree(e, &items);
		if (rc == 0)
			rc = rlp_list(w, &items);
		wbuf_free(&items);
		return rc;
	}
	{
		uint8_t *b;
		size_t n;
		int rc;
		const char *s = json_string_value(v);
		ENSURE(s, ERR_INVAL, "rlp: strings or arrays");
		GUARD(hex_decode_alloc(s, strlen(s), &b, &n));
		rc = rlp_bytes(w, b, n);
		free(b);
		return rc;
	}
}

static int u256_field(const json_t *o, const char *k, uint8_t out[32])
{
	const char *s = json_string_value(json_object_get(o, k));
	if (!s) {
		memset(out, 0, 32);
		return 0;
	}
	return u256_parse(s, out);
}

static int handle(const json_t *req, json_t *res)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	uint8_t h[32], priv[32], sig[65], addr[20], *b = NULL;
	char a[43];
	size_t n;
	struct wbuf w;
	int rc = 0;

	ENSURE(op, ERR_INVAL, "missing op");
	wbuf_init(&w);
	if (strcmp(op, "keccak") == 0) {
		GUARD(get_hex(req, "data", &b, &n));
		keccak256(b, n, h);
		json_object_set_new(res, "hash", eth_json_hex(h, 32));
	} else if (strcmp(op, "address") == 0) {
		GUARD(get_fixed(req, "priv", priv, 32));
		GUARD(k1_address(priv, addr));
		eth_addr_str(addr, a);
		json_object_set_new(res, "address", json_string(a));
	} else if (strcmp(op, "sign") == 0 || strcmp(op, "personal_sign") == 0) {
		GUARD(get_fixed(req, "priv", priv, 32));
		GUARD(get_fixed(req, "digest", h, 32));
		GUARD(op[0] == 's' ? k1_sign(priv, h, sig) : eip191_sign32(priv, h, sig));
		json_object_set_new(res, "sig", eth_json_hex(sig, 65));
	} else if (strcmp(op, "recover") == 0) {
		GUARD(get_fixed(req, "digest", h, 32));
		GUARD(get_fixed(req, "sig", sig, 65));
		GUARD(k1_recover(h, sig, addr));
		eth_addr_str(addr, a);
		json_object_set_new(res, "address", json_string(a));
	} else if (strcmp(op, "checksum") == 0) {
		GUARD(eth_addr_parse(json_string_value(json_object_get(req, "address")), addr));
		eth_addr_str(addr, a);
		json_object_set_new(res, "address", json_string(a));
	} else if (strcmp(op, "rlp") == 0) {
		GUARD_GOTO(rlp_tree(json_object_get(req, "items"), &w));
		json_object_set_new(res, "rlp", eth_json_hex(w.buf, w.len));
	} else if (strcmp(op, "abi") == 0) {
		struct abi_type *t;
		json_t *dec = NULL;
		GUARD(abi_type_parse(json_string_value(json_object_get(req, "types")), &t));
		rc = abi_encode(t, json_object_get(req, "values"), &w);
		if (rc == 0)
			rc = abi_decode(t, w.buf, w.len, &dec);
		abi_type_free(t);
		GUARD_GOTO(rc);
		json_object_set_new(res, "data", eth_json_hex(w.buf, w.len));
		json_object_set_new(res, "decoded", dec);
	} else if (strcmp(op, "call") == 0) {
		GUARD_GOTO(abi_encode_call(json_string_value(json_object_get(req, "sig")),
		                           json_object_get(req, "args"), &w));
		json_object_set_new(res, "data", eth_json_hex(w.buf, w.len));
	} else if (strcmp(op, "eip712") == 0) {
		GUARD(eip712_digest(json_object_get(req, "typed"), h));
		json_object_set_new(res, "digest", eth_json_hex(h, 32));
	} else if (strcmp(op, "keystore_encrypt") == 0) {
		char *ks;
		GUARD(get_fixed(req, "priv", priv, 32));
		GUARD(keystore_encrypt(priv, json_string_value(json_object_get(req, "password")),
		                       (uint64_t)json_integer_value(json_object_get(req, "n")),
		                       &ks));
		json_object_set_new(res, "keystore", json_string(ks));
		free(ks);
	} else if (strcmp(op, "keystore_decrypt") == 0) {
		const char *ks = json_string_value(json_object_get(req, "keystore"));
		ENSURE(ks, ERR_INVAL, "missing keystore");
		GUARD(keystore_decrypt(ks, strlen(ks),
		                       json_string_value(json_object_get(req, "password")), priv));
		json_object_set_new(res, "priv", eth_json_hex(priv, 32));
	} else if (strcmp(op, "tx") == 0) {
		const json_t *t = json_object_get(req, "tx");
		struct eth_tx tx;
		uint8_t *raw, *data = NULL;
		size_t len, dlen = 0;
		memset(&tx, 0, sizeof(tx));
		GUARD(get_fixed(req, "priv", priv, 32));
		tx.type = (int)json_integer_value(json_object_get(t, "type"));
		tx.chain_id = (uint64_t)json_integer_value(json_object_get(t, "chainId"));
		tx.nonce = (uint64_t)json_integer_value(json_object_get(t, "nonce"));
		tx.gas = (uint64_t)json_integer_value(json_object_get(t, "gasLimit"));
		GUARD(u256_field(t, "maxFeePerGas", tx.max_fee));
		GUARD(u256_field(t, "maxPriorityFeePerGas", tx.max_priority));
		GUARD(u256_field(t, "value", tx.value));
		if (json_string_value(json_object_get(t, "to"))) {
			GUARD(eth_addr_parse(json_string_value(json_object_get(t, "to")), tx.to));
			tx.has_to = 1;
		}
		GUARD(get_hex(t, "data", &data, &dlen));
		tx.data = data;
		tx.data_len = dlen;
		rc = eth_tx_sign(&tx, priv, &raw, &len, h);
		free(data);
		GUARD(rc);
		json_object_set_new(res, "raw", eth_json_hex(raw, len));
		json_object_set_new(res, "hash", eth_json_hex(h, 32));
		free(raw);
	} else {
		rc = err_set(ERR_INVAL, "unknown op %s", op);
	}
out:
	free(b);
	wbuf_free(&w);
	return rc;
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		json_error_t e;
		json_t *req = json_loadb(line, (size_t)n, 0, &e), *res = json_object();
		char *out;
		if (!req || handle(req, res) < 0) {
			json_decref(res);
			res = json_pack("{s:s}", "error", req ? err_msg() : e.text);
		}
		out = json_dumps(res, JSON_COMPACT);
		puts(out);
		fflush(stdout);
		free(out);
		json_decref(res);
		json_decref(req);
	}
	free(line);
	return 0;
}
