#include "network.h"

#include "eth/abi.h"
#include "eth/addr.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A deployment file holds its ABI and bytecode too: a few hundred KiB. */
#define DEPLOYMENT_MAX (8u << 20)

/* Bellecour predates the Diamond: the package lists only the delegates
 * behind its ERC-1538 proxy, not the proxy nor the registries.  Those are
 * the addresses iExec's ENS names on bellecour resolve to (core.v5,
 * apps.v5, datasets.v5, workerpools.v5 .iexec.eth); the chain id is still
 * read from the package. */
static const struct network {
	const char *name, *dir; /* deployments/<dir> */
	enum poco_flavour flavour;
	const char *fixed[4]; /* hub, app, dataset, workerpool registries; NULL: from the package */
} networks[] = {
    {"arbitrum", "arbitrum", POCO_TOKEN, {NULL, NULL, NULL, NULL}},
    {"arbitrum-sepolia", "arbitrumSepolia", POCO_TOKEN, {NULL, NULL, NULL, NULL}},
    {"bellecour",
     "bellecour",
     POCO_NATIVE,
     {"0x3eca1B216A7DF1C7689aEb259fFB83ADFB894E7f", "0xB1C52075b276f87b1834919167312221d50c9D16",
      "0x799DAa22654128d0C64d5b79eac9283008158730", "0xC76A18c78B7e530A165c5683CB1aB134E21938B4"}},
};

static const char *const keys[4] = {"hub", "app_registry", "dataset_registry",
                                    "workerpool_registry"};
static const char *const files[4] = {"Diamond", "AppRegistry", "DatasetRegistry",
                                     "WorkerpoolRegistry"};
static const char *const ens[4] = {"core.v5.iexec.eth", "apps.v5.iexec.eth",
                                   "datasets.v5.iexec.eth", "workerpools.v5.iexec.eth"};

const char *poco_network_names(void)
{
	return "arbitrum, arbitrum-sepolia, bellecour";
}

int poco_package_dir(char *out, size_t cap)
{
	static const char rel[] = "node_modules/@iexec/poco";
	const char *e = getenv("TDEXEC_POCO_DIR");
	char exe[PATH_MAX];
	ssize_t n;
	int k;

	if (e && *e) {
		k = snprintf(out, cap, "%s", e);
		ENSURE(k > 0 && (size_t)k < cap, ERR_INVAL, "TDEXEC_POCO_DIR: path too long");
		return access(out, F_OK) == 0
		           ? 0
		           : err_set(ERR_NOTFOUND, "TDEXEC_POCO_DIR=%s: not found", e);
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		k = snprintf(out, cap, "%s/../%s", dirname(exe), rel);
		if (k > 0 && (size_t)k < cap && access(out, F_OK) == 0)
			return 0;
	}
	k = snprintf(out, cap, "%s", rel);
	if (k > 0 && (size_t)k < cap && access(out, F_OK) == 0)
		return 0;
	return err_set(ERR_NOTFOUND,
	               "the @iexec/poco package is not beside tdexec nor in ./%s (run "
	               "scripts/install-deps, or set TDEXEC_POCO_DIR)",
	               rel);
}

/* The "address" of deployments/<dir>/<file>.json. */
static int deployed_at(const char *pkg, const char *dir, const char *file, uint8_t addr[20],
                       char *path, size_t cap)
{
	json_t *j;
	int rc, k = snprintf(path, cap, "%s/deployments/%s/%s.json", pkg, dir, file);

	ENSURE(k > 0 && (size_t)k < cap, ERR_INVAL, "path too long");
	ENSURE(access(path, F_OK) == 0, ERR_NOTFOUND, "%s: not in the package", path);
	GUARD(json_load_path(path, DEPLOYMENT_MAX, &j));
	rc = eth_addr_parse(json_string_value(json_object_get(j, "address")), addr);
	json_decref(j);
	return rc < 0 ? err_wrap(rc, "%s: \"address\"", path) : 0;
}

/* deployments/<dir>/.chainId: decimal digits and a newline at most. */
static int chain_id_of(const char *pkg, const char *dir, uint64_t *out)
{
	char path[PATH_MAX], text[24];
	uint8_t *buf;
	size_t len, i = 0;
	int k = snprintf(path, sizeof(path), "%s/deployments/%s/.chainId", pkg, dir);

	ENSURE(k > 0 && (size_t)k < sizeof(path), ERR_INVAL, "path too long");
	GUARD(file_read(path, 32, &buf, &len));
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	if (len > 0 && len < sizeof(text)) {
		memcpy(text, buf, len);
		text[len] = '\0';
		i = strspn(text, "0123456789");
	}
	free(buf);
	ENSURE(len > 0 && len < 20 && i == len, ERR_INVAL, "%s: not a chain id", path);
	*out = strtoull(text, NULL, 10);
	ENSURE(*out > 0, ERR_INVAL, "%s: not a chain id", path);
	return 0;
}

int poco_network_resolve(const char *poco_dir, const char *name, json_t **out)
{
	const struct network *n = NULL;
	char pkg[PATH_MAX], path[PATH_MAX];
	uint8_t addr[20];
	uint64_t id;
	json_t *o = NULL, *src;
	int rc = 0;

	*out = NULL;
	for (size_t i = 0; name && i < sizeof(networks) / sizeof(networks[0]); i++)
		if (strcmp(name, networks[i].name) == 0)
			n = &networks[i];
	ENSURE(n, ERR_NOTFOUND, "network '%s': not one of %s", name ? name : "",
	       poco_network_names());
	if (poco_dir) {
		int k = snprintf(pkg, sizeof(pkg), "%s", poco_dir);
		ENSURE(k > 0 && (size_t)k < sizeof(pkg), ERR_INVAL, "path too long");
	} else {
		GUARD(poco_package_dir(pkg, sizeof(pkg)));
	}
	rc = chain_id_of(pkg, n->dir, &id);
	if (rc < 0)
		return err_wrap(rc, "network %s", n->name);
	o = json_pack("{s:s,s:I,s:s}", "network", n->name, "chain_id", (json_int_t)id, "flavour",
	              n->flavour == POCO_TOKEN ? "token" : "native");
	src = json_object();
	ENSURE_GOTO(o && src, ERR_NOMEM, "out of memory");
	for (int i = 0; i < 4; i++) {
		if (n->fixed[i]) {
			GUARD_GOTO(eth_addr_parse(n->fixed[i], addr));
			json_object_set_new(src, keys[i], json_string(ens[i]));
		} else {
			GUARD_GOTO(deployed_at(pkg, n->dir, files[i], addr, path, sizeof(path)));
			json_object_set_new(src, keys[i], json_string(path));
		}
		json_object_set_new(o, keys[i], eth_json_addr(addr));
	}
	if (n->flavour == POCO_TOKEN) {
		GUARD_GOTO(deployed_at(pkg, n->dir, "RLC", addr, path, sizeof(path)));
		json_object_set_new(o, "token", eth_json_addr(addr));
		json_object_set_new(src, "token", json_string(path));
	}
	json_object_set(o, "source", src);
	*out = o;
	o = NULL;
out:
	json_decref(src);
	json_decref(o);
	if (rc < 0)
		err_wrap(rc, "network %s", n->name);
	return rc;
}

int poco_chain_open(const char *file, const char *network, const char *rpc, struct poco_chain **out)
{
	json_t *j;
	char origin[64];
	int rc;

	*out = NULL;
	ENSURE(!file != !network, ERR_INVAL, "a chain is a chain file or a network, not %s",
	       file ? "both" : "neither");
	if (file && !rpc)
		return poco_chain_load(file, out);
	if (file) {
		rc = json_load_path(file, 1 << 20, &j);
		if (rc < 0)
			return err_wrap(rc, "chain");
		snprintf(origin, sizeof(origin), "%.60s", file);
	} else {
		ENSURE(rpc, ERR_INVAL, "network %s: the node's URL (--rpc) is required", network);
		GUARD(poco_network_resolve(NULL, network, &j));
		snprintf(origin, sizeof(origin), "network %.40s", network);
	}
	ENSURE(json_is_object(j) && json_object_set_new(j, "rpc", json_string(rpc)) == 0, ERR_INVAL,
	       "%s: not a JSON object", origin);
	GUARD(poco_chain_from_json(j, origin, out));
	if (network) {
		rc = eth_block_number((*out)->rpc, &(*out)->deployment_block);
		if (rc < 0) {
			poco_chain_free(*out);
			*out = NULL;
			return err_wrap(rc, "%s", origin);
		}
	}
	return 0;
}

/* matchOrdersBoost's argument list: the four orders as in market.c. */
#define BOOST_SIG                                                                                  \
	"matchOrdersBoost((address,uint256,uint256,bytes32,address,address,address,bytes32,bytes)" \
	","                                                                                        \
	"(address,uint256,uint256,bytes32,address,address,address,bytes32,bytes),"                 \
	"(address,uint256,uint256,bytes32,uint256,uint256,address,address,address,bytes32,bytes)," \
	"(address,uint256,address,uint256,address,uint256,address,uint256,bytes32,uint256,"        \
	"uint256,"                                                                                 \
	"address,address,string,bytes32,bytes))"

int poco_boost_detect(struct poco_chain *c, int *boost, char *why, size_t cap)
{
	uint8_t sel[4], data[36], *ret = NULL, facet[20], zero[20] = {0};
	char hub[43], text[43];
	size_t code = 0, len = 0;
	int rc;

	*boost = 0;
	eth_addr_str(c->hub, hub);
	GUARD(eth_code_size(c->rpc, c->hub, &code));
	ENSURE(code > 0, ERR_NOTFOUND, "no contract at the hub %s on chain %llu", hub,
	       (unsigned long long)c->chain_id);
	abi_selector(BOOST_SIG, sel);
	abi_selector("facetAddress(bytes4)", data);
	memset(data + 4, 0, 32);
	memcpy(data + 4, sel, 4); /* a bytes4 is left-aligned in its word */
	rc = eth_call(c->rpc, NULL, c->hub, data, sizeof(data), &ret, &len);
	if (rc == ERR_VERIFY) { /* the node answered: the call reverted */
		snprintf(why, cap,
		         "the hub %s has no diamond loupe (facetAddress reverted): no PoCo Boost",
		         hub);
		return 0;
	}
	GUARD(rc);
	rc = len == 32 && memcmp(ret, zero, 12) == 0 ? 0 : ERR_INVAL;
	if (rc == 0)
		memcpy(facet, ret + 12, 20);
	free(ret);
	ENSURE(rc == 0, ERR_INVAL, "hub %s: facetAddress answered %zu bytes, not an address", hub,
	       len);
	*boost = memcmp(facet, zero, 20) != 0;
	eth_addr_str(facet, text);
	if (*boost)
		snprintf(why, cap,
		         "the hub %s routes matchOrdersBoost (0x%02x%02x%02x%02x) to facet %s", hub,
		         sel[0], sel[1], sel[2], sel[3], text);
	else
		snprintf(
		    why, cap,
		    "the hub %s routes no matchOrdersBoost (0x%02x%02x%02x%02x): no Boost facet",
		    hub, sel[0], sel[1], sel[2], sel[3]);
	return 0;
}
