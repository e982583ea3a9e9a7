/* sms.h — the Secret Management Service.
 *
 * This part stores secrets (iExec-compatible paths and signatures) encrypted
 * at rest with AES-256-GCM under a master key, each record's AAD binding its
 * kind, owner and name.  Values are never returned by any endpoint. */
#ifndef TDEXEC_SMS_H
#define TDEXEC_SMS_H

#include "tdx/gate.h"
#include "tdx/provider.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SMS_SECRET_MAX 4096

struct sms_config {
	const char *address; /* default 127.0.0.1 */
	int port;            /* 0 = any */
	int threads;
	unsigned max_conns;        /* HTTP connections in all; 0 = 1024 (below the fd limit) */
	unsigned max_conns_per_ip; /* from one client address; 0 = 64 */
	const char *db_path;
	const char *master_key_path;           /* created (0600) when absent */
	const char *master_key_command;        /* instead: a command printing it (KMS) */
	const char *chain_path;                /* for on-chain owners; NULL = web2/requester only */
	const char *chain_network, *chain_rpc; /* instead of chain_path (poco/network.h) */
	const char *port_file;                 /* written with the bound port, if set */
	const char *public_url; /* base of secretProvisioningUrl; default http://ADDR:PORT */
	const char *tls_cert;   /* PEM certificate chain: serve HTTPS (with tls_key) */
	const char *tls_key;    /* PEM private key */
	/* RA-TLS: serve HTTPS with a fresh key whose certificate carries this
	 * TD's quote (tdx/ratls.h); instead of tls_cert and tls_key */
	int ra_tls;
	struct tdx_provider provider; /* where that quote comes from */
	/* attested provisioning (all three, or none: then attest answers 503) */
	const char *collateral;     /* DCAP collateral: dcap-qvl JSON or a PCS directory */
	const char *trust_sim_root; /* trust this simulated root CA instead of Intel's */
	const char *policy;         /* the pool's TD policy (JSON; default: tdx_policy_default) */
};

/* The hash a secret's owner signs (EIP-191): keccak(keccak("IEXEC_SMS_DOMAIN")
 * || address || keccak(name) || keccak(value)); without the name term when
 * name is NULL (web3). */
void sms_secret_challenge(const uint8_t addr[20], const char *name, const uint8_t *value,
                          size_t len, uint8_t out[32]);

/* The SMS's configuration document (tdx/ratls.h), the one its RA-TLS
 * certificate carries and a client pins the SHA-256 of: what decides whom
 * the SMS releases secrets to.  Canonical bytes in *doc (free()):
 *   {"format": PROTO_SMS_CONFIG_FORMAT,
 *    "attestation": null (no session is released) or
 *      {"trust": the root workers' quotes chain to (tdx_ratls_anchor_json),
 *       "collateral": {"kind": "file"|"dir"|"pcs", "source": path or URL},
 *       "policy": the pool's policy in effect (tdx_policy_to_json)},
 *    "chain": null or {"chain_id", "hub", "app_registry", "dataset_registry",
 *                      "workerpool_registry", "rpc": the node's origin},
 *    "master_key": "file"|"command"}
 * gate: the attestation gate in use (NULL: none); chain_file, chain_id: the
 * chain file's JSON and the chain's id (NULL: no chain).  ERR_INVAL for a
 * policy naming event logs (files read at each check, which no hash taken
 * at start can bind). */
int sms_config_document(const struct sms_config *cfg, const struct tdx_gate *gate,
                        const json_t *chain_file, uint64_t chain_id, char **doc, size_t *len);

/* The same document from cfg alone, without starting anything or reaching
 * the chain's node (its id from the chain file's "chain_id"): what an
 * auditor computes from the SMS's settings to pin.  The policy, the root and
 * the chain file (or the network's, from the @iexec/poco package) are read;
 * the collateral is only looked at. */
int sms_config_offline(const struct sms_config *cfg, char **doc, size_t *len);

/* The key attestation-result tokens are signed with (ear.c), offline: a new
 * one replaces the current one, which is kept as the previous key
 * (published in the JWK Set, no longer signing); the one previous before is
 * dropped.  A running SMS keeps its key until it restarts.  The kids ("" when
 * there was no key). */
struct sms_store;
int sms_ear_rotate(struct sms_store *st, char old_kid[44], char new_kid[44]);

struct sms;

int sms_start(const struct sms_config *cfg, struct sms **out);
int sms_port(const struct sms *s);
void sms_stop(struct sms *s);
/* Attested releases committed so far, and in how many group commits. */
void sms_release_stats(struct sms *s, unsigned long *groups, unsigned long *releases);

#endif
