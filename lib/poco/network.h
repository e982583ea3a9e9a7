/* network.h — iExec's own PoCo deployments, as the @iexec/poco package lists
 * them (deployments/<network>/), and which way of matching TEE deals a hub
 * offers.
 *
 * A network gives what a chain file gives (hub, token, registries, chain
 * id, flavour) for a node the user names: `--network arbitrum --rpc URL`
 * stands for `--chain FILE`. */
#ifndef TDEXEC_POCO_NETWORK_H
#define TDEXEC_POCO_NETWORK_H

#include "poco/market.h"
#include "util/err.h"

#include <jansson.h>
#include <stddef.h>

/* The names --network takes, comma-separated ("arbitrum, ..."). */
const char *poco_network_names(void);

/* The installed @iexec/poco package: $TDEXEC_POCO_DIR, else
 * BIN/../node_modules/@iexec/poco beside the running binary, else
 * ./node_modules/@iexec/poco.  ERR_NOTFOUND saying where it looked. */
MUST_CHECK int poco_package_dir(char *out, size_t cap);

/* Network `name` read from the package in `poco_dir` (NULL: as
 * poco_package_dir finds it): a new object shaped as a chain file
 * ("network", "chain_id", "flavour", "hub", "token" in the token flavour,
 * "app_registry", "dataset_registry", "workerpool_registry") plus "source",
 * the file or fact each address came from.  No "rpc": the caller sets it.
 * ERR_NOTFOUND for a name not listed above or a file the package lacks,
 * ERR_INVAL for a file that holds no valid address. */
MUST_CHECK int poco_network_resolve(const char *poco_dir, const char *name, json_t **out);

/* The chain of a chain file (`tdexec chain up` writes one) or of network
 * `network`; exactly one of the two.  `rpc` is the node's URL: required
 * with a network, it replaces the file's "rpc" with a file.  The node's
 * chain id must be the file's or the network's.  A network's chain has no
 * deployment block: deployment_block is the node's head at this call (a
 * scheduler follows deals from there on, see docs/networks.md). */
MUST_CHECK int poco_chain_open(const char *file, const char *network, const char *rpc,
                               struct poco_chain **out);

/* Does the hub route matchOrdersBoost (PoCo Boost)?  Asked with the diamond
 * loupe, facetAddress(matchOrdersBoost's selector): *boost = 1 when a facet
 * answers it, 0 when none does or the hub has no loupe (a revert).  `why`
 * (cap bytes) says how it was decided, for the logs.  ERR_NOTFOUND when no
 * contract is at the hub; the node's errors (ERR_IO) otherwise. */
MUST_CHECK int poco_boost_detect(struct poco_chain *c, int *boost, char *why, size_t cap);

#endif
