/* deploy.h — deploy the real iExec PoCo (the @iexec/poco package) on an EVM
 * chain, in the order of PoCo's own deploy script: RLC (token flavour), the
 * Diamond with DiamondCut/Loupe/Ownership facets and DiamondInit, the
 * IexecLibOrders_v5 library, every PoCo facet (linked to the library) cut in
 * with all its selectors, the App/Dataset/Workerpool registries, configure()
 * and the five default categories.  Without Boost, the two Boost facets
 * are left out, as iExec's Arbitrum deployments of 6.1.0 do. */
#ifndef TDEXEC_POCO_DEPLOY_H
#define TDEXEC_POCO_DEPLOY_H

#include "eth/rpc.h"
#include "util/err.h"

#include <stdint.h>

enum poco_flavour { POCO_TOKEN = 0, POCO_NATIVE };

struct poco_deployment {
	enum poco_flavour flavour;
	uint8_t hub[20];
	uint8_t token[20]; /* zero in the native flavour */
	uint8_t app_registry[20], dataset_registry[20], workerpool_registry[20];
	uint8_t lib_orders[20];
	uint64_t block;    /* of the first deployment transaction */
	uint64_t gas_used; /* summed over the deployment */
	unsigned txs;
	unsigned selectors; /* functions the diamond routes */
	int boost;          /* the Boost facets were cut in */
};

/* `poco_dir` holds the package (artifacts/, deployments/).  `boost` 0
 * leaves out IexecPocoBoostFacet and IexecPocoBoostAccessorsFacet.
 * `progress` (may be NULL) gets one line per step. */
MUST_CHECK int poco_deploy(struct eth_rpc *rpc, const uint8_t deployer[32], const char *poco_dir,
                           enum poco_flavour flavour, int boost, void (*progress)(const char *line),
                           struct poco_deployment *out);

/* Send `signature` with JSON `args` (stolen) to `to` as the key's owner,
 * with `value` wei (NULL = none), and wait for the receipt. */
MUST_CHECK int poco_send_value(struct eth_rpc *rpc, const uint8_t key[32], const uint8_t to[20],
                               const char *signature, json_t *args, const uint8_t *value,
                               struct eth_receipt *rc);
MUST_CHECK int poco_send(struct eth_rpc *rpc, const uint8_t key[32], const uint8_t to[20],
                         const char *signature, json_t *args, struct eth_receipt *rc);

#endif
