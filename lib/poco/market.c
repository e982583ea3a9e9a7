#include "market.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/eip712.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/json.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TX_TIMEOUT 120
#define ZERO_ADDR  "0x0000000000000000000000000000000000000000"

/* ---------- chain file ---------- */

static int get_addr(const json_t *o, const char *k, uint8_t out[20])
{
	const char *s = json_string_value(json_object_get(o, k));
	ENSURE(s, ERR_INVAL, "chain file: missing \"%s\"", k);
	return eth_addr_parse(s, out);
}

int poco_chain_load(const char *path, struct poco_chain **out)
{
	json_t *file;
	int rc = json_load_path(path, 1 << 20, &file);
	if (rc < 0) {
		*out = NULL;
		return err_wrap(rc, "chain");
	}
	return poco_chain_from_json(file, path, out);
}

int poco_chain_from_json(json_t *file, const char *origin, struct poco_chain **out)
{
	struct poco_chain *c = calloc(1, sizeof(*c));
	const char *flavour;
	int rc = 0;

	*out = NULL;
	if (!c) {
		json_decref(file);
		return err_set(ERR_NOMEM, "out of memory");
	}
	c->file = file;
	ENSURE_GOTO(json_is_object(c->file), ERR_INVAL, "%s: not a JSON object", origin);
	ENSURE_GOTO(json_is_string(json_object_get(c->file, "rpc")), ERR_INVAL,
	            "%s: missing \"rpc\"", origin);
	GUARD_GOTO(get_addr(c->file, "hub", c->hub));
	flavour = json_string_value(json_object_get(c->file, "flavour"));
	c->flavour = flavour && strcmp(flavour, "native") == 0 ? POCO_NATIVE : POCO_TOKEN;
	if (c->flavour == POCO_TOKEN)
		GUARD_GOTO(get_addr(c->file, "token", c->token));
	GUARD_GOTO(get_addr(c->file, "app_registry", c->app_registry));
	GUARD_GOTO(get_addr(c->file, "dataset_registry", c->dataset_registry));
	GUARD_GOTO(get_addr(c->file, "workerpool_registry", c->workerpool_registry));
	c->deployment_block =
	    (uint64_t)json_integer_value(json_object_get(c->file, "deployment_block"));
	GUARD_GOTO(eth_rpc_new(json_string_value(json_object_get(c->file, "rpc")), &c->rpc));
	GUARD_GOTO(eth_chain_id(c->rpc, &c->chain_id));
	ENSURE_GOTO(!json_object_get(c->file, "chain_id") ||
	                (uint64_t)json_integer_value(json_object_get(c->file, "chain_id")) ==
	                    c->chain_id,
	            ERR_INVAL, "%s: the node is on chain %llu, not %lld", origin,
	            (unsigned long long)c->chain_id,
	            (long long)json_integer_value(json_object_get(c->file, "chain_id")));
	*out = c;
	c = NULL;
out:
	poco_chain_free(c);
	if (rc < 0)
		err_wrap(rc, "chain");
	return rc;
}

void poco_chain_free(struct poco_chain *c)
{
	if (!c)
		return;
	eth_rpc_free(c->rpc);
	json_decref(c->file);
	free(c);
}

int poco_chain_account(const struct poco_chain *c, size_t idx, uint8_t priv[32])
{
	json_t *a = json_array_get(json_object_get(c->file, "accounts"), idx);
	const char *k = json_string_value(json_object_get(a, "private_key"));
	ENSURE(k || !json_object_get(c->file, "network"), ERR_NOTFOUND,
	       "network %s: no local account %zu (local accounts are a chain's from 'tdexec "
	       "chain up'): sign with --wallet or --plain-key",
	       json_string_value(json_object_get(c->file, "network")), idx);
	ENSURE(k, ERR_NOTFOUND, "chain file: no local account %zu", idx);
	return hex_decode_exact(priv, 32, k, "private key");
}

static int send(struct poco_chain *c, const uint8_t key[32], const uint8_t to[20], const char *sig,
                json_t *args, const uint8_t value[32], struct eth_receipt *rc)
{
	return poco_send_value(c->rpc, key, to, sig, args, value, rc);
}

static int send_simple(struct poco_chain *c, const uint8_t key[32], const uint8_t to[20],
                       const char *sig, json_t *args)
{
	struct eth_receipt rc;
	GUARD(send(c, key, to, sig, args, NULL, &rc));
	eth_receipt_free(&rc);
	return 0;
}

/* eth_call of `sig` with args at `block`; the decoded outputs of type `outs`. */
static int view_at(struct poco_chain *c, const uint8_t to[20], const char *sig, json_t *args,
                   const char *outs, uint64_t block, json_t **out)
{
	struct wbuf w;
	uint8_t *ret;
	size_t len;
	int r;

	wbuf_init(&w);
	r = abi_encode_call(sig, args, &w);
	json_decref(args);
	if (r == 0)
		r = eth_call_at(c->rpc, NULL, to, w.buf, w.len, block, &ret, &len);
	wbuf_free(&w);
	GUARD(r);
	r = abi_decode_str(outs, ret, len, out);
	free(ret);
	return r < 0 ? err_wrap(r, "%s", sig) : 0;
}

static int view(struct poco_chain *c, const uint8_t to[20], const char *sig, json_t *args,
                const char *outs, json_t **out)
{
	return view_at(c, to, sig, args, outs, ETH_LATEST, out);
}

/* ---------- registries ---------- */

static int create_asset(struct poco_chain *c, const uint8_t key[32], const uint8_t registry[20],
                        const char *predict, const char *create, json_t *args, uint8_t addr[20])
{
	json_t *v;
	int r;
	GUARD(view(c, registry, predict, json_incref(args), "(address)", &v));
	r = eth_addr_parse(json_string_value(json_array_get(v, 0)), addr);
	json_decref(v);
	/* The address is CREATE2's, from the same parameters: an asset there
	 * is this one, registered before (creating it again would revert). */
	if (r == 0)
		r = view(c, registry, "isRegistered(address)",
		         json_pack("[o]", eth_json_addr(addr)), "(bool)", &v);
	if (r == 0) {
		int exists = json_is_true(json_array_get(v, 0));
		json_decref(v);
		if (exists) {
			json_decref(args);
			return POCO_EXISTS;
		}
	}
	if (r < 0) {
		json_decref(args);
		return r;
	}
	return send_simple(c, key, registry, create, args);
}

int poco_app_create(struct poco_chain *c, const uint8_t key[32], const char *name,
                    const char *multiaddr, const uint8_t checksum[32], const char *mrenclave,
                    uint8_t addr[20])
{
	uint8_t owner[20];
	char *ma = hex_dup((const uint8_t *)multiaddr, strlen(multiaddr));
	char *mre = hex_dup((const uint8_t *)mrenclave, strlen(mrenclave));
	json_t *args;
	int rc;

	GUARD(k1_address(key, owner));
	args = json_pack("[o,s,s,s+,o,s+]", eth_json_addr(owner), name, "DOCKER", "0x", ma,
	                 eth_json_hex(checksum, 32), "0x", mre);
	free(ma);
	free(mre);
	ENSURE(args, ERR_NOMEM, "out of memory");
	rc = create_asset(c, key, c->app_registry,
	                  "predictApp(address,string,string,bytes,bytes32,bytes)",
	                  "createApp(address,string,string,bytes,bytes32,bytes)", args, addr);
	return rc;
}

int poco_dataset_create(struct poco_chain *c, const uint8_t key[32], const char *name,
                        const char *multiaddr, const uint8_t checksum[32], uint8_t addr[20])
{
	uint8_t owner[20];
	char *ma = hex_dup((const uint8_t *)multiaddr, strlen(multiaddr));
	json_t *args;

	GUARD(k1_address(key, owner));
	args = json_pack("[o,s,s+,o]", eth_json_addr(owner), name, "0x", ma,
	                 eth_json_hex(checksum, 32));
	free(ma);
	ENSURE(args, ERR_NOMEM, "out of memory");
	return create_asset(c, key, c->dataset_registry,
	                    "predictDataset(address,string,bytes,bytes32)",
	                    "createDataset(address,string,bytes,bytes32)", args, addr);
}

int poco_workerpool_create(struct poco_chain *c, const uint8_t key[32], const char *description,
                           uint8_t addr[20])
{
	uint8_t owner[20];
	GUARD(k1_address(key, owner));
	return create_asset(c, key, c->workerpool_registry, "predictWorkerpool(address,string)",
	                    "createWorkerpool(address,string)",
	                    json_pack("[o,s]", eth_json_addr(owner), description), addr);
}

/* ---------- escrow ---------- */

int poco_deposit(struct poco_chain *c, const uint8_t key[32], const char *amount)
{
	uint8_t v[32];
	GUARD(u256_parse(amount, v));
	if (c->flavour == POCO_TOKEN)
		return send_simple(c, key, c->token, "approveAndCall(address,uint256,bytes)",
		                   json_pack("[o,s,s]", eth_json_addr(c->hub), amount, "0x"));
	{
		/* native: 1 nRLC = 1 gwei of the chain's coin */
		struct eth_receipt rc;
		char wei[100];
		snprintf(wei, sizeof(wei), "%s000000000", amount);
		GUARD(u256_parse(wei, v));
		GUARD(send(c, key, c->hub, "deposit()", json_array(), v, &rc));
		eth_receipt_free(&rc);
		return 0;
	}
}

int poco_withdraw(struct poco_chain *c, const uint8_t key[32], const char *amount)
{
	return send_simple(c, key, c->hub, "withdraw(uint256)", json_pack("[s]", amount));
}

int poco_account(struct poco_chain *c, const uint8_t addr[20], json_t **out)
{
	return poco_account_at(c, addr, ETH_LATEST, out);
}

int poco_account_at(struct poco_chain *c, const uint8_t addr[20], uint64_t block, json_t **out)
{
	json_t *v;
	GUARD(view_at(c, c->hub, "viewAccount(address)", json_pack("[o]", eth_json_addr(addr)),
	              "((uint256,uint256))", block, &v));
	*out = json_pack("{s:O,s:O}", "stake", json_array_get(json_array_get(v, 0), 0), "locked",
	                 json_array_get(json_array_get(v, 0), 1));
	json_decref(v);
	ENSURE(*out, ERR_NOMEM, "out of memory");
	return 0;
}

/* ---------- orders ---------- */

static const char *const order_names[] = {"AppOrder", "DatasetOrder", "WorkerpoolOrder",
                                          "RequestOrder"};
static const char *const order_fields[4][16][2] = {
    {{"app", "address"},
     {"appprice", "uint256"},
     {"volume", "uint256"},
     {"tag", "bytes32"},
     {"datasetrestrict", "address"},
     {"workerpoolrestrict", "address"},
     {"requesterrestrict", "address"},
     {"salt", "bytes32"}},
    {{"dataset", "address"},
     {"datasetprice", "uint256"},
     {"volume", "uint256"},
     {"tag", "bytes32"},
     {"apprestrict", "address"},
     {"workerpoolrestrict", "address"},
     {"requesterrestrict", "address"},
     {"salt", "bytes32"}},
    {{"workerpool", "address"},
     {"workerpoolprice", "uint256"},
     {"volume", "uint256"},
     {"tag", "bytes32"},
     {"category", "uint256"},
     {"trust", "uint256"},
     {"apprestrict", "address"},
     {"datasetrestrict", "address"},
     {"requesterrestrict", "address"},
     {"salt", "bytes32"}},
    {{"app", "address"},
     {"appmaxprice", "uint256"},
     {"dataset", "address"},
     {"datasetmaxprice", "uint256"},
     {"workerpool", "address"},
     {"workerpoolmaxprice", "uint256"},
     {"requester", "address"},
     {"volume", "uint256"},
     {"tag", "bytes32"},
     {"category", "uint256"},
     {"trust", "uint256"},
     {"beneficiary", "address"},
     {"callback", "address"},
     {"params", "string"},
     {"salt", "bytes32"}},
};

json_t *poco_order_new(enum poco_order_kind kind)
{
	json_t *o = json_object();
	uint8_t salt[32];

	RAND_bytes(salt, sizeof(salt));
	for (int i = 0; i < 16 && order_fields[kind][i][0]; i++) {
		const char *f = order_fields[kind][i][0], *t = order_fields[kind][i][1];
		json_t *v = strcmp(t, "address") == 0   ? json_string(ZERO_ADDR)
		            : strcmp(t, "bytes32") == 0 ? json_string(POCO_TAG_NONE)
		            : strcmp(t, "string") == 0  ? json_string("")
		                                        : json_string("0");
		json_object_set_new(o, f, v);
	}
	json_object_set_new(o, "volume", json_string("1"));
	if (kind == POCO_WORKERPOOL || kind == POCO_REQUEST)
		json_object_set_new(o, "trust", json_string("1"));
	json_object_set_new(o, "salt", eth_json_hex(salt, 32));
	json_object_set_new(o, "sign", json_string("0x"));
	return o;
}

static json_t *typed_data(const struct poco_chain *c, enum poco_order_kind kind,
                          const json_t *order)
{
	json_t *fields = json_array(), *msg = json_object();
	for (int i = 0; i < 16 && order_fields[kind][i][0]; i++) {
		const char *f = order_fields[kind][i][0];
		json_array_append_new(
		    fields, json_pack("{s:s,s:s}", "name", f, "type", order_fields[kind][i][1]));
		if (json_object_get(order, f))
			json_object_set(msg, f, json_object_get(order, f));
	}
	return json_pack("{s:{s:o},s:s,s:{s:s,s:s,s:I,s:o},s:o}", "types", order_names[kind],
	                 fields, "primaryType", order_names[kind], "domain", "name", "iExecODB",
	                 "version", "5.0.0", "chainId", (json_int_t)c->chain_id,
	                 "verifyingContract", eth_json_addr(c->hub), "message", msg);
}

int poco_order_hash(const struct poco_chain *c, enum poco_order_kind kind, const json_t *order,
                    uint8_t out[32])
{
	json_t *t = typed_data(c, kind, order);
	int rc;
	ENSURE(t, ERR_NOMEM, "out of memory");
	rc = eip712_digest(t, out);
	json_decref(t);
	return rc < 0 ? err_wrap(rc, "%s", order_names[kind]) : 0;
}

int poco_order_sign(const struct poco_chain *c, enum poco_order_kind kind, json_t *order,
                    const uint8_t key[32])
{
	uint8_t h[32], sig[65];
	char hex[133] = "0x";
	GUARD(poco_order_hash(c, kind, order, h));
	GUARD(k1_sign(key, h, sig));
	hex_encode(hex + 2, sig, 65);
	json_object_set_new(order, "sign", json_string(hex));
	return 0;
}

/* An order as the ABI tuple: its fields in order, then sign. */
static json_t *order_tuple(enum poco_order_kind kind, const json_t *order)
{
	json_t *t = json_array();
	for (int i = 0; i < 16 && order_fields[kind][i][0]; i++) {
		json_t *v = json_object_get(order, order_fields[kind][i][0]);
		json_array_append(t, v ? v : json_null());
	}
	json_array_append(t, json_object_get(order, "sign") ? json_object_get(order, "sign")
	                                                    : json_string("0x"));
	return t;
}

#define ORDER_TUPLES                                                                               \
	"((address,uint256,uint256,bytes32,address,address,address,bytes32,bytes),"                \
	"(address,uint256,uint256,bytes32,address,address,address,bytes32,bytes),"                 \
	"(address,uint256,uint256,bytes32,uint256,uint256,address,address,address,bytes32,bytes)," \
	"(address,uint256,address,uint256,address,uint256,address,uint256,bytes32,uint256,"        \
	"uint256,"                                                                                 \
	"address,address,string,bytes32,bytes))"

int poco_match(struct poco_chain *c, const uint8_t key[32], const json_t *app,
               const json_t *dataset, const json_t *workerpool, const json_t *request, int boost,
               uint8_t dealid[32], struct eth_receipt *rc)
{
	json_t *empty = NULL, *args, *log;
	uint8_t topic[32];
	size_t i;
	int r;

	if (!dataset) {
		empty = poco_order_new(POCO_DATASET);
		json_object_set_new(empty, "volume", json_string("0"));
		json_object_set_new(empty, "salt", json_string(POCO_TAG_NONE));
		dataset = empty;
	}
	args =
	    json_pack("[o,o,o,o]", order_tuple(POCO_APP, app), order_tuple(POCO_DATASET, dataset),
	              order_tuple(POCO_WORKERPOOL, workerpool), order_tuple(POCO_REQUEST, request));
	json_decref(empty);
	r = send(c, key, c->hub,
	         boost ? "matchOrdersBoost" ORDER_TUPLES : "matchOrders" ORDER_TUPLES, args, NULL,
	         rc);
	GUARD(r);
	/* OrdersMatched(bytes32 dealid, bytes32, bytes32, bytes32, bytes32, uint256) */
	{
		static const char ev[] =
		    "OrdersMatched(bytes32,bytes32,bytes32,bytes32,bytes32,uint256)";
		keccak256(ev, sizeof(ev) - 1, topic);
	}
	json_array_foreach (rc->logs, i, log) {
		const char *t0 =
		    json_string_value(json_array_get(json_object_get(log, "topics"), 0));
		const char *data = json_string_value(json_object_get(log, "data"));
		uint8_t t[32];
		char first[67] = "0x";
		if (!t0 || hex_decode_exact(t, 32, t0, "topic") < 0 || memcmp(t, topic, 32) != 0 ||
		    !data || strlen(data) < 66)
			continue;
		memcpy(first + 2, data + 2, 64); /* the first word is the deal id */
		return hex_decode_exact(dealid, 32, first, "deal id");
	}
	return err_set(ERR_INVAL, "match: no OrdersMatched event in the receipt");
}

void poco_task_id(const uint8_t dealid[32], uint64_t idx, uint8_t taskid[32])
{
	uint8_t buf[64];
	memcpy(buf, dealid, 32);
	u256_from_u64(idx, buf + 32);
	keccak256(buf, sizeof(buf), taskid);
}

/* Output types and field names of the views. */
static const struct {
	const char *fn, *sig, *outs, *names;
} views[] = {
    {"viewDeal", "viewDeal(bytes32)",
     "(((address,address,uint256),(address,address,uint256),(address,address,uint256),"
     "uint256,uint256,bytes32,address,address,address,string,uint256,uint256,uint256,uint256,"
     "uint256,address))",
     "[{\"app\":[\"pointer\",\"owner\",\"price\"]},{\"dataset\":[\"pointer\",\"owner\","
     "\"price\"]},{\"workerpool\":[\"pointer\",\"owner\",\"price\"]},\"trust\",\"category\","
     "\"tag\",\"requester\",\"beneficiary\",\"callback\",\"params\",\"startTime\","
     "\"botFirst\",\"botSize\",\"workerStake\",\"schedulerRewardRatio\",\"sponsor\"]"},
    {"viewTask", "viewTask(bytes32)",
     "((uint8,bytes32,uint256,uint256,uint256,uint256,uint256,bytes32,uint256,uint256,address[],"
     "bytes32,bytes,uint256,bytes))",
     "[\"status\",\"dealid\",\"idx\",\"timeref\",\"contributionDeadline\",\"revealDeadline\","
     "\"finalDeadline\",\"consensusValue\",\"revealCounter\",\"winnerCounter\",\"contributors\","
     "\"resultDigest\",\"results\",\"resultsTimestamp\",\"resultsCallback\"]"},
    {"viewDealBoost", "viewDealBoost(bytes32)",
     "((address,uint96,address,uint96,address,uint96,address,uint96,address,uint40,uint16,"
     "uint16,bytes3,address))",
     "[\"appOwner\",\"appPrice\",\"datasetOwner\",\"datasetPrice\",\"workerpoolOwner\","
     "\"workerpoolPrice\",\"requester\",\"workerReward\",\"callback\",\"deadline\","
     "\"botFirst\",\"botSize\",\"shortTag\",\"sponsor\"]"},
    /* id = the category number as a 32-byte big-endian integer */
    {"viewConsumed", "viewConsumed(bytes32)", "(uint256)", "[\"consumed\"]"},
    {"viewCategory", "viewCategory(uint256)", "((string,string,uint256))",
     "[\"name\",\"description\",\"workClockTimeRef\"]"},
};

/* Zip names onto a decoded tuple: names is an array of strings or
 * {name: [sub-names]} objects. */
static json_t *named(const json_t *names, const json_t *vals)
{
	json_t *o = json_object(), *n;
	size_t i;
	json_array_foreach (names, i, n) {
		json_t *v = json_array_get(vals, i);
		if (json_is_string(n)) {
			json_object_set(o, json_string_value(n), v);
		} else {
			const char *k = json_object_iter_key(json_object_iter((json_t *)n));
			json_object_set_new(o, k, named(json_object_get(n, k), v));
		}
	}
	return o;
}

int poco_view(struct poco_chain *c, const char *fn, const uint8_t id[32], json_t **out)
{
	for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++) {
		json_t *v, *names;
		if (strcmp(views[i].fn, fn) != 0)
			continue;
		GUARD(view(c, c->hub, views[i].sig, json_pack("[o]", eth_json_hex(id, 32)),
		           views[i].outs, &v));
		names = json_loads(views[i].names, 0, NULL);
		/* a struct comes as a one-tuple; plain values as the list */
		json_t *t = json_array_get(v, 0);
		*out = named(names, json_is_array(t) ? t : v);
		json_decref(names);
		json_decref(v);
		return 0;
	}
	return err_set(ERR_INVAL, "unknown view %s", fn);
}

int poco_view_contribution(struct poco_chain *c, const uint8_t taskid[32], const uint8_t worker[20],
                           json_t **out)
{
	json_t *v, *t;
	GUARD(view(c, c->hub, "viewContribution(bytes32,address)",
	           json_pack("[o,o]", eth_json_hex(taskid, 32), eth_json_addr(worker)),
	           "((uint8,bytes32,bytes32,address,uint256))", &v));
	t = json_array_get(json_array_get(v, 0), 0) ? json_array_get(v, 0) : v;
	*out = json_pack("{s:O,s:O,s:O,s:O,s:O}", "status", json_array_get(t, 0), "resultHash",
	                 json_array_get(t, 1), "resultSeal", json_array_get(t, 2),
	                 "enclaveChallenge", json_array_get(t, 3), "weight", json_array_get(t, 4));
	json_decref(v);
	ENSURE(*out, ERR_INVAL, "viewContribution: unexpected reply");
	return 0;
}

int poco_order_kind_parse(const char *s, enum poco_order_kind *out)
{
	static const char *const names[] = {"app", "dataset", "workerpool", "request"};
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum poco_order_kind)i;
			return 0;
		}
	return err_set(ERR_INVAL, "order kind \"%s\": app, dataset, workerpool or request", s);
}

int poco_order_signer(const struct poco_chain *c, enum poco_order_kind kind, const json_t *order,
                      uint8_t signer[20])
{
	uint8_t h[32], sig[65];
	const char *s = json_string_value(json_object_get(order, "sign"));
	ENSURE(s && strlen(s) == 132, ERR_VERIFY, "order is not signed");
	GUARD(hex_decode_exact(sig, 65, s, "sign"));
	GUARD(poco_order_hash(c, kind, order, h));
	return k1_recover(h, sig, signer);
}

int poco_order_cancel(struct poco_chain *c, enum poco_order_kind kind, const json_t *order,
                      const uint8_t key[32])
{
	static const char *const tuple[] = {
	    "(address,uint256,uint256,bytes32,address,address,address,bytes32,bytes)",
	    "(address,uint256,uint256,bytes32,address,address,address,bytes32,bytes)",
	    "(address,uint256,uint256,bytes32,uint256,uint256,address,address,address,bytes32,"
	    "bytes)",
	    ("(address,uint256,address,uint256,address,uint256,address,uint256,bytes32,uint256,"
	     "uint256,address,address,string,bytes32,bytes)")};
	static const char *const fn[] = {"manageAppOrder", "manageDatasetOrder",
	                                 "manageWorkerpoolOrder", "manageRequestOrder"};
	json_t *typed, *types, *fields, *op_fields, *msg;
	uint8_t h[32], sig[65];
	char op_name[64], call[512], sig_hex[133] = "0x";
	struct eth_receipt rc;
	int r;

	/* The operation struct references the order struct. */
	typed = typed_data(c, kind, order);
	ENSURE(typed, ERR_NOMEM, "out of memory");
	types = json_object_get(typed, "types");
	fields = json_object_get(types, order_names[kind]);
	snprintf(op_name, sizeof(op_name), "%sOperation", order_names[kind]);
	op_fields = json_pack("[{s:s,s:s},{s:s,s:s}]", "name", "order", "type", order_names[kind],
	                      "name", "operation", "type", "uint256");
	json_object_set_new(types, op_name, op_fields);
	msg = json_pack("{s:O,s:s}", "order", json_object_get(typed, "message"), "operation", "1");
	json_object_set_new(typed, "message", msg);
	json_object_set_new(typed, "primaryType", json_string(op_name));
	(void)fields;
	r = eip712_digest(typed, h);
	json_decref(typed);
	GUARD(r);
	GUARD(k1_sign(key, h, sig));
	hex_encode(sig_hex + 2, sig, 65);
	snprintf(call, sizeof(call), "%s((%s,uint8,bytes))", fn[kind], tuple[kind]);
	GUARD(send(c, key, c->hub, call,
	           json_pack("[[o,i,s]]", order_tuple(kind, order), 1, sig_hex), NULL, &rc));
	eth_receipt_free(&rc);
	return 0;
}

int poco_asset_show(struct poco_chain *c, enum poco_order_kind kind, const uint8_t addr[20],
                    json_t **out)
{
	static const char *const fns[3][6][2] = {
	    {{"m_appName()", "name"},
	     {"m_appType()", "type"},
	     {"m_appMultiaddr()", "multiaddr"},
	     {"m_appChecksum()", "checksum"},
	     {"m_appMREnclave()", "mrenclave"},
	     {"owner()", "owner"}},
	    {{"m_datasetName()", "name"},
	     {"m_datasetMultiaddr()", "multiaddr"},
	     {"m_datasetChecksum()", "checksum"},
	     {"owner()", "owner"}},
	    {{"m_workerpoolDescription()", "description"},
	     {"m_workerStakeRatioPolicy()", "workerStakeRatio"},
	     {"m_schedulerRewardRatioPolicy()", "schedulerRewardRatio"},
	     {"owner()", "owner"}},
	};
	static const char *const outs[3][6] = {
	    {"(string)", "(string)", "(bytes)", "(bytes32)", "(bytes)", "(address)"},
	    {"(string)", "(bytes)", "(bytes32)", "(address)"},
	    {"(string)", "(uint256)", "(uint256)", "(address)"},
	};
	json_t *o;
	size_t code = 0;

	ENSURE(kind <= POCO_WORKERPOOL, ERR_INVAL, "not a registry kind");
	GUARD(eth_code_size(c->rpc, addr, &code));
	ENSURE(code > 0, ERR_NOTFOUND, "no contract at that address");
	o = json_object();
	json_object_set_new(o, "address", eth_json_addr(addr));
	for (int i = 0; i < 6 && fns[kind][i][0]; i++) {
		json_t *v;
		int r = view(c, addr, fns[kind][i][0], json_array(), outs[kind][i], &v);
		if (r < 0) {
			json_decref(o);
			return r;
		}
		json_object_set(o, fns[kind][i][1], json_array_get(v, 0));
		json_decref(v);
	}
	/* multiaddr and mrenclave are bytes holding text */
	for (int i = 0; i < 2; i++) {
		const char *k = i ? "mrenclave" : "multiaddr";
		const char *h = json_string_value(json_object_get(o, k));
		uint8_t *b;
		size_t n;
		if (h && hex_decode_alloc(h, strlen(h), &b, &n) == 0) {
			json_t *t = json_stringn((const char *)b, n);
			if (t)
				json_object_set_new(o, k, t);
			free(b);
		}
	}
	*out = o;
	return 0;
}

void poco_result_hash_seal(const uint8_t taskid[32], const uint8_t worker[20],
                           const uint8_t digest[32], uint8_t hash[32], uint8_t seal[32])
{
	uint8_t p[84];
	memcpy(p, taskid, 32);
	memcpy(p + 32, digest, 32);
	keccak256(p, 64, hash);
	memcpy(p, worker, 20);
	memcpy(p + 20, taskid, 32);
	memcpy(p + 52, digest, 32);
	keccak256(p, 84, seal);
}

int poco_boost_task_find(struct poco_chain *c, const uint8_t taskid[32], uint8_t dealid[32],
                         uint64_t *idx)
{
	static const char sig[] = "SchedulerNoticeBoost(address,bytes32,address,address,uint256,"
	                          "bytes32,string,address)";
	uint8_t topic[32], t[32];
	json_t *logs = NULL, *deal = NULL;
	uint64_t head;
	size_t i;
	int rc = 0, found = 0;

	keccak256(sig, sizeof(sig) - 1, topic);
	GUARD(eth_block_number(c->rpc, &head));
	GUARD(eth_get_logs(c->rpc, c->hub, topic, c->deployment_block, head, &logs));
	/* the newest deals first: a task looked up is most often a recent one */
	for (i = json_array_size(logs); i-- > 0 && !found;) {
		const char *hex =
		    json_string_value(json_object_get(json_array_get(logs, i), "data"));
		char head64[65];
		/* dealId is the event's first field not indexed: data[0..32) */
		if (!hex || strlen(hex) < 66)
			continue;
		snprintf(head64, sizeof(head64), "%.64s", hex + 2);
		if (hex_decode_exact(dealid, 32, head64, "dealId") < 0)
			continue;
		for (uint64_t k = 0; k < POCO_BOOST_MAX_INDEX; k++) {
			poco_task_id(dealid, k, t);
			if (memcmp(t, taskid, 32) != 0)
				continue;
			GUARD_GOTO(poco_view(c, "viewDealBoost", dealid, &deal));
			uint64_t first = strtoull(
			    json_string_value(json_object_get(deal, "botFirst")), NULL, 10);
			uint64_t size =
			    strtoull(json_string_value(json_object_get(deal, "botSize")), NULL, 10);
			json_decref(deal);
			deal = NULL;
			if (k >= first && k - first < size) {
				*idx = k;
				found = 1;
			}
			break;
		}
	}
	if (!found)
		rc = err_set(ERR_NOTFOUND, "no Boost deal holds this task");
out:
	json_decref(deal);
	json_decref(logs);
	return rc;
}
