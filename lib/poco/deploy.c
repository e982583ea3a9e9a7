#include "deploy.h"

#include "crypto/k1.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "poco/artifact.h"
#include "util/codec.h"
#include "util/err.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TX_TIMEOUT 120

struct ctx {
	struct eth_rpc *rpc;
	const uint8_t *key;
	const char *dir;
	void (*progress)(const char *line);
	struct poco_deployment *out;
	uint8_t (*sels)[4]; /* selectors the diamond already routes */
	size_t nsels;
};

static void say(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct ctx *c, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	if (!c->progress)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->progress(line);
}

static void account(struct ctx *c, const struct eth_receipt *rc)
{
	if (!c->out->block || rc->block < c->out->block)
		c->out->block = rc->block;
	c->out->gas_used += rc->gas_used;
	c->out->txs++;
}

int poco_send(struct eth_rpc *rpc, const uint8_t key[32], const uint8_t to[20],
              const char *signature, json_t *args, struct eth_receipt *rc)
{
	return poco_send_value(rpc, key, to, signature, args, NULL, rc);
}

int poco_send_value(struct eth_rpc *rpc, const uint8_t key[32], const uint8_t to[20],
                    const char *signature, json_t *args, const uint8_t *value,
                    struct eth_receipt *rc)
{
	struct eth_send s;
	struct wbuf w;
	int r;

	wbuf_init(&w);
	r = abi_encode_call(signature, args ? args : json_array(), &w);
	json_decref(args);
	if (r < 0) {
		wbuf_free(&w);
		return err_wrap(r, "%s", signature);
	}
	memset(&s, 0, sizeof(s));
	s.to = to;
	s.data = w.buf;
	s.data_len = w.len;
	if (value)
		memcpy(s.value, value, 32);
	r = eth_send_tx(rpc, key, &s, TX_TIMEOUT, rc);
	wbuf_free(&w);
	if (r < 0)
		return err_wrap(r, "%s", signature);
	return 0;
}

static int call(struct ctx *c, const uint8_t to[20], const char *sig, json_t *args)
{
	struct eth_receipt rc;
	GUARD(poco_send(c->rpc, c->key, to, sig, args, &rc));
	account(c, &rc);
	eth_receipt_free(&rc);
	return 0;
}

static int path_of(struct ctx *c, char *out, size_t cap, const char *rel)
{
	int n = snprintf(out, cap, "%s/%s", c->dir, rel);
	ENSURE(n > 0 && (size_t)n < cap, ERR_INVAL, "path too long");
	return 0;
}

/* Deploy an artifact (already linked) with ABI-encoded constructor args. */
static int deploy(struct ctx *c, struct poco_artifact *a, const char *ctor_types,
                  const json_t *ctor_args, uint8_t addr[20])
{
	struct eth_receipt rc;
	struct eth_send s;
	struct wbuf w;
	uint8_t *code;
	size_t len;
	int r;

	GUARD(poco_artifact_code(a, &code, &len));
	wbuf_init(&w);
	r = wbuf_put(&w, code, len);
	free(code);
	if (r == 0 && ctor_types) {
		struct abi_type *t;
		r = abi_type_parse(ctor_types, &t);
		if (r == 0) {
			r = abi_encode(t, ctor_args, &w);
			abi_type_free(t);
		}
	}
	if (r == 0) {
		memset(&s, 0, sizeof(s));
		s.data = w.buf;
		s.data_len = w.len;
		r = eth_send_tx(c->rpc, c->key, &s, TX_TIMEOUT, &rc);
	}
	wbuf_free(&w);
	if (r < 0)
		return err_wrap(r, "deploying %s", a->name);
	memcpy(addr, rc.contract, 20);
	account(c, &rc);
	eth_receipt_free(&rc);
	{
		char text[43];
		eth_addr_str(addr, text);
		say(c, "deployed %-32s %s", a->name, text);
	}
	return 0;
}

static int load(struct ctx *c, const char *rel, struct poco_artifact *a)
{
	char p[PATH_MAX];
	GUARD(path_of(c, p, sizeof(p), rel));
	return poco_artifact_load(p, a);
}

/* The selectors of `abi` not routed yet, as a JSON array of bytes4, and
 * remembered as routed. */
static int new_selectors(struct ctx *c, const json_t *abi, json_t **out)
{
	uint8_t(*s)[4];
	size_t n;
	json_t *a = json_array();

	ENSURE(a, ERR_NOMEM, "out of memory");
	GUARD(poco_abi_selectors(abi, &s, &n));
	for (size_t i = 0; i < n; i++) {
		size_t k;
		char hex[11] = "0x";
		for (k = 0; k < c->nsels; k++)
			if (memcmp(c->sels[k], s[i], 4) == 0)
				break;
		if (k < c->nsels)
			continue;
		{
			uint8_t(*ns)[4] = realloc(c->sels, (c->nsels + 1) * 4);
			if (!ns) {
				free(s);
				json_decref(a);
				return err_set(ERR_NOMEM, "out of memory");
			}
			c->sels = ns;
		}
		memcpy(c->sels[c->nsels++], s[i], 4);
		hex_encode(hex + 2, s[i], 4);
		json_array_append_new(a, json_string(hex));
	}
	free(s);
	*out = a;
	return 0;
}

static int diamond(struct ctx *c, const uint8_t owner[20])
{
	static const char *const parts[] = {"DiamondCutFacet", "DiamondLoupeFacet",
	                                    "OwnershipFacet"};
	struct poco_artifact a;
	uint8_t init[20], addr[20], sel[4];
	json_t *cuts = json_array(), *args;
	char rel[128], initcall[11] = "0x";
	int rc = 0;

	GUARD(load(c, "deployments/arbitrum/DiamondInit.json", &a));
	rc = deploy(c, &a, NULL, NULL, init);
	poco_artifact_free(&a);
	GUARD(rc);
	for (size_t i = 0; i < 3; i++) {
		json_t *sels;
		snprintf(rel, sizeof(rel), "deployments/arbitrum/%s.json", parts[i]);
		GUARD(load(c, rel, &a));
		rc = deploy(c, &a, NULL, NULL, addr);
		if (rc == 0)
			rc = new_selectors(c, a.abi, &sels);
		poco_artifact_free(&a);
		GUARD(rc);
		json_array_append_new(cuts, json_pack("[o,i,o]", eth_json_addr(addr), 0, sels));
	}
	abi_selector("init()", sel);
	hex_encode(initcall + 2, sel, 4);
	args = json_pack("[o,[o,o,s]]", cuts, eth_json_addr(owner), eth_json_addr(init), initcall);
	GUARD(load(c, "artifacts/contracts/Diamond.sol/Diamond.json", &a));
	rc = deploy(c, &a, "((address,uint8,bytes4[])[],(address,address,bytes))", args,
	            c->out->hub);
	poco_artifact_free(&a);
	json_decref(args);
	return rc;
}

static int facets(struct ctx *c, enum poco_flavour flavour, int boost)
{
	const char *const names[] = {
	    "IexecAccessorsABILegacyFacet",
	    "IexecCategoryManagerFacet",
	    "IexecERC20Facet",
	    flavour == POCO_TOKEN ? "IexecEscrowTokenFacet" : "IexecEscrowNativeFacet",
	    "IexecConfigurationFacet",
	    "IexecOrderManagementFacet",
	    "IexecPoco1Facet",
	    "IexecPoco2Facet",
	    "IexecRelayFacet",
	    "IexecConfigurationExtraFacet",
	    "IexecPocoAccessorsFacet",
	    "IexecPocoBoostFacet",
	    "IexecPocoBoostAccessorsFacet",
	};
	struct poco_artifact a;
	char rel[256];
	int rc;

	GUARD(load(c, "artifacts/contracts/libs/IexecLibOrders_v5.sol/IexecLibOrders_v5.json", &a));
	rc = deploy(c, &a, NULL, NULL, c->out->lib_orders);
	poco_artifact_free(&a);
	GUARD(rc);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint8_t addr[20];
		json_t *sels = NULL;
		if (!boost && strncmp(names[i], "IexecPocoBoost", 14) == 0) {
			say(c, "left out %s (no Boost, as on Arbitrum)", names[i]);
			continue;
		}
		snprintf(rel, sizeof(rel), "artifacts/contracts/facets/%s.sol/%s.json", names[i],
		         names[i]);
		GUARD(load(c, rel, &a));
		rc = a.links && json_object_size(a.links)
		         ? poco_artifact_link(&a, "IexecLibOrders_v5", c->out->lib_orders)
		         : 0;
		if (rc == 0)
			rc = deploy(c, &a, NULL, NULL, addr);
		if (rc == 0)
			rc = new_selectors(c, a.abi, &sels);
		poco_artifact_free(&a);
		GUARD(rc);
		say(c, "diamondCut %-30s %zu selectors", names[i], json_array_size(sels));
		GUARD(call(c, c->out->hub, "diamondCut((address,uint8,bytes4[])[],address,bytes)",
		           json_pack("[[[o,i,o]],s,s]", eth_json_addr(addr), 0, sels,
		                     "0x0000000000000000000000000000000000000000", "0x")));
	}
	return 0;
}

static int registries(struct ctx *c, uint64_t chain_id)
{
	static const char *const kinds[] = {"app", "dataset", "workerpool"};
	static const char *const files[] = {
	    "artifacts/contracts/registries/apps/AppRegistry.sol/AppRegistry.json",
	    "artifacts/contracts/registries/datasets/DatasetRegistry.sol/DatasetRegistry.json",
	    "artifacts/contracts/registries/workerpools/WorkerpoolRegistry.sol/WorkerpoolRegistry.json",
	};
	uint8_t *addrs[] = {c->out->app_registry, c->out->dataset_registry,
	                    c->out->workerpool_registry};
	struct poco_artifact a;
	char uri[128];
	int rc;

	for (int i = 0; i < 3; i++) {
		GUARD(load(c, files[i], &a));
		rc = deploy(c, &a, NULL, NULL, addrs[i]);
		poco_artifact_free(&a);
		GUARD(rc);
		GUARD(call(c, addrs[i], "initialize(address)",
		           json_pack("[s]", "0x0000000000000000000000000000000000000000")));
		snprintf(uri, sizeof(uri), "https://nfts-metadata.iex.ec/%s/%llu/", kinds[i],
		         (unsigned long long)chain_id);
		GUARD(call(c, addrs[i], "setBaseURI(string)", json_pack("[s]", uri)));
	}
	return 0;
}

static int configure(struct ctx *c)
{
	static const struct {
		const char *name;
		int seconds;
	} cats[] = {{"XS", 300}, {"S", 1200}, {"M", 3600}, {"L", 10800}, {"XL", 36000}};

	GUARD(call(c, c->out->hub,
	           "configure(address,string,string,uint8,address,address,address,address)",
	           json_pack("[o,s,s,i,o,o,o,s]", eth_json_addr(c->out->token), "Staked RLC",
	                     "SRLC", 9, eth_json_addr(c->out->app_registry),
	                     eth_json_addr(c->out->dataset_registry),
	                     eth_json_addr(c->out->workerpool_registry),
	                     "0x0000000000000000000000000000000000000000")));
	say(c, "configured the hub (Staked RLC, SRLC, 9 decimals)");
	for (size_t i = 0; i < 5; i++) {
		char desc[128];
		snprintf(desc, sizeof(desc), "{\"description\":\"%s category, %d s per task\"}",
		         cats[i].name, cats[i].seconds);
		GUARD(call(c, c->out->hub, "createCategory(string,string,uint256)",
		           json_pack("[s,s,i]", cats[i].name, desc, cats[i].seconds)));
	}
	say(c, "created categories XS, S, M, L, XL");
	return 0;
}

int poco_deploy(struct eth_rpc *rpc, const uint8_t deployer[32], const char *poco_dir,
                enum poco_flavour flavour, int boost, void (*progress)(const char *line),
                struct poco_deployment *out)
{
	struct ctx c = {rpc, deployer, poco_dir, progress, out, NULL, 0};
	uint8_t owner[20];
	uint64_t chain_id;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->flavour = flavour;
	out->boost = !!boost;
	GUARD(k1_address(deployer, owner));
	GUARD(eth_chain_id(rpc, &chain_id));
	if (flavour == POCO_TOKEN) {
		struct poco_artifact a;
		GUARD(load(&c, "deployments/arbitrum/RLC.json", &a));
		rc = deploy(&c, &a, NULL, NULL, out->token);
		poco_artifact_free(&a);
		GUARD(rc);
	}
	GUARD_GOTO(diamond(&c, owner));
	GUARD_GOTO(facets(&c, flavour, boost));
	GUARD_GOTO(registries(&c, chain_id));
	GUARD_GOTO(configure(&c));
	out->selectors = (unsigned)c.nsels;
	say(&c, "PoCo deployed: %u transactions, %llu gas, %u selectors", out->txs,
	    (unsigned long long)out->gas_used, out->selectors);
out:
	free(c.sels);
	return rc;
}
