/* market.h — the iExec marketplace on a PoCo deployment: registries,
 * escrow, signed orders (EIP-712), deals, tasks and their completion.
 *
 * Orders are JSON objects with iExec's field names (as the iExec SDK writes
 * them): {"app": "0x..", "appprice": "0", "volume": "1", "tag": "0x..09",
 * ..., "salt": "0x..", "sign": "0x.."}; amounts are nRLC decimal strings.
 */
#ifndef TDEXEC_POCO_MARKET_H
#define TDEXEC_POCO_MARKET_H

#include "eth/rpc.h"
#include "poco/deploy.h"
#include "util/err.h"

#include <jansson.h>
#include <stdint.h>

/* Tags: bit 0 TEE, bit 3 TDX (iExec's TeeUtils): the TDX tag is 0x..09. */
#define POCO_TAG_TDX  "0x0000000000000000000000000000000000000000000000000000000000000009"
#define POCO_TAG_NONE "0x0000000000000000000000000000000000000000000000000000000000000000"

enum poco_order_kind { POCO_APP = 0, POCO_DATASET, POCO_WORKERPOOL, POCO_REQUEST };

struct poco_chain {
	struct eth_rpc *rpc;
	json_t *file;
	uint64_t chain_id;
	enum poco_flavour flavour;
	uint8_t hub[20], token[20], app_registry[20], dataset_registry[20], workerpool_registry[20];
	uint64_t deployment_block;
};

MUST_CHECK int poco_chain_load(const char *path, struct poco_chain **out);
/* The same from a chain file's object (`file` is stolen, freed on error);
 * `origin` names it in errors ("FILE", "network arbitrum"). */
MUST_CHECK int poco_chain_from_json(json_t *file, const char *origin, struct poco_chain **out);
void poco_chain_free(struct poco_chain *c);
/* The idx-th local account key of a chain file written by `chain up`. */
MUST_CHECK int poco_chain_account(const struct poco_chain *c, size_t idx, uint8_t priv[32]);

/* Registries: the new asset's address.  checksum is the image digest.
 * POCO_EXISTS (> 0, no transaction sent) when the registry holds an asset
 * of these very parameters already (its address, predicted as CREATE2's,
 * in addr). */
#define POCO_EXISTS 1
MUST_CHECK int poco_app_create(struct poco_chain *c, const uint8_t key[32], const char *name,
                               const char *multiaddr, const uint8_t checksum[32],
                               const char *mrenclave, uint8_t addr[20]);
MUST_CHECK int poco_dataset_create(struct poco_chain *c, const uint8_t key[32], const char *name,
                                   const char *multiaddr, const uint8_t checksum[32],
                                   uint8_t addr[20]);
MUST_CHECK int poco_workerpool_create(struct poco_chain *c, const uint8_t key[32],
                                      const char *description, uint8_t addr[20]);

/* Escrow (nRLC): deposit via RLC.approveAndCall (token) or payable deposit
 * (native, amounts in wei = nRLC * 1e9). */
MUST_CHECK int poco_deposit(struct poco_chain *c, const uint8_t key[32], const char *amount);
MUST_CHECK int poco_withdraw(struct poco_chain *c, const uint8_t key[32], const char *amount);
/* Escrow balance and locked amount, decimal strings in out (a new object). */
MUST_CHECK int poco_account(struct poco_chain *c, const uint8_t addr[20], json_t **out);
/* The same in the state after block `block` (ETH_LATEST: the head). */
MUST_CHECK int poco_account_at(struct poco_chain *c, const uint8_t addr[20], uint64_t block,
                               json_t **out);

/* A new order of `kind` with defaults (volume 1, prices 0, zero restrictions,
 * random salt); callers set fields. */
json_t *poco_order_new(enum poco_order_kind kind);
/* The EIP-712 digest of an order under this hub's domain. */
MUST_CHECK int poco_order_hash(const struct poco_chain *c, enum poco_order_kind kind,
                               const json_t *order, uint8_t out[32]);
/* Sign in place ("sign" = 65-byte signature). */
MUST_CHECK int poco_order_sign(const struct poco_chain *c, enum poco_order_kind kind, json_t *order,
                               const uint8_t key[32]);

/* Recover the order's signer (ERR_VERIFY without a valid signature). */
MUST_CHECK int poco_order_signer(const struct poco_chain *c, enum poco_order_kind kind,
                                 const json_t *order, uint8_t signer[20]);
/* Cancel (close) an order on chain: manageXOrder with an EIP-712 signed
 * XOrderOperation{order, operation = CLOSE}. */
MUST_CHECK int poco_order_cancel(struct poco_chain *c, enum poco_order_kind kind,
                                 const json_t *order, const uint8_t key[32]);
/* "app", "dataset", "workerpool", "request" -> kind; ERR_INVAL otherwise. */
MUST_CHECK int poco_order_kind_parse(const char *s, enum poco_order_kind *out);
/* What a registry entry says about itself (name, owner, multiaddr, ...). */
MUST_CHECK int poco_asset_show(struct poco_chain *c, enum poco_order_kind kind,
                               const uint8_t addr[20], json_t **out);

/* matchOrders (or matchOrdersBoost); dataset may be NULL.  The deal id. */
MUST_CHECK int poco_match(struct poco_chain *c, const uint8_t key[32], const json_t *app,
                          const json_t *dataset, const json_t *workerpool, const json_t *request,
                          int boost, uint8_t dealid[32], struct eth_receipt *rc);

/* Views, decoded with the field names of PoCo's structs. */
MUST_CHECK int poco_view(struct poco_chain *c, const char *fn, const uint8_t id[32], json_t **out);

/* A worker's contribution to a task: {"status", "resultHash", "resultSeal",
 * "enclaveChallenge", "weight"}; status is PoCo's ContributionStatusEnum
 * (POCO_CONTRIBUTION_PROVEN once the worker revealed). */
#define POCO_CONTRIBUTION_PROVEN 2
MUST_CHECK int poco_view_contribution(struct poco_chain *c, const uint8_t taskid[32],
                                      const uint8_t worker[20], json_t **out);

/* A contribution: resultHash = keccak256(taskid || digest) and
 * resultSeal = keccak256(worker || taskid || digest). */
void poco_result_hash_seal(const uint8_t taskid[32], const uint8_t worker[20],
                           const uint8_t digest[32], uint8_t hash[32], uint8_t seal[32]);

/* The Boost deal holding task `taskid` and the task's index: PoCo Boost
 * keeps no task record until the task is pushed or claimed, so the deals
 * are found by their SchedulerNoticeBoost events and the task by
 * keccak256(dealid || idx) for idx < POCO_BOOST_MAX_INDEX, then checked
 * against the deal's range.  ERR_NOTFOUND when no Boost deal holds it. */
#define POCO_BOOST_MAX_INDEX 1024
MUST_CHECK int poco_boost_task_find(struct poco_chain *c, const uint8_t taskid[32],
                                    uint8_t dealid[32], uint64_t *idx);

/* taskid = keccak256(dealid || idx). */
void poco_task_id(const uint8_t dealid[32], uint64_t idx, uint8_t taskid[32]);

#endif
