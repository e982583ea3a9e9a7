/* collateral.h — Intel PCS collateral for TDX quote verification, as raw
 * bytes exactly as served (signatures cover the exact JSON text, so nothing
 * is re-serialized).
 *
 * Sources:
 *   - a JSON file in dcap-qvl's format: pck_crl_issuer_chain, root_ca_crl
 *     (hex DER), pck_crl (hex DER), tcb_info_issuer_chain, tcb_info (raw
 *     JSON text), tcb_info_signature (hex r||s), qe_identity_issuer_chain,
 *     qe_identity, qe_identity_signature;
 *   - a directory of PCS responses: tcb_info.json ({"tcbInfo":...,
 *     "signature":"..."}), qe_identity.json ({"enclaveIdentity":...}),
 *     pck_crl.der, root_ca_crl.der and the three *_issuer_chain.pem files
 *     (or a collateral.json in dcap-qvl's format), as `tdexec sim init` and
 *     `tdexec collateral fetch` write them.
 */
#ifndef TDEXEC_TDX_COLLATERAL_H
#define TDEXEC_TDX_COLLATERAL_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define TDX_COLLATERAL_FIELD_MAX (2u * 1024u * 1024u) /* cap per field */

struct tdx_blob {
	uint8_t *p;
	size_t len;
};

struct tdx_collateral {
	struct tdx_blob pck_crl_issuer_chain; /* PEM */
	struct tdx_blob root_ca_crl;          /* DER */
	struct tdx_blob pck_crl;              /* DER */
	struct tdx_blob tcb_info_issuer_chain;
	struct tdx_blob tcb_info; /* the exact signed JSON text of "tcbInfo" */
	uint8_t tcb_info_sig[64];
	struct tdx_blob qe_identity_issuer_chain;
	struct tdx_blob qe_identity; /* the exact signed text of "enclaveIdentity" */
	uint8_t qe_identity_sig[64];
	/* tdx_collateral_seal's: the hash of the fields, which no longer change */
	uint8_t sealed_hash[32];
	int sealed;
};

/* Load from a dcap-qvl JSON file or a PCS directory (see above). */
MUST_CHECK int tdx_collateral_load(const char *path, struct tdx_collateral **out);
/* Parse a dcap-qvl JSON document held in memory. */
MUST_CHECK int tdx_collateral_from_json(const char *text, size_t len, struct tdx_collateral **out);
void tdx_collateral_free(struct tdx_collateral *c);

/* SHA-256 over every field: the collateral's identity for caches. */
MUST_CHECK int tdx_collateral_hash(const struct tdx_collateral *c, uint8_t out[32]);
/* Hash the set once and keep the hash, which tdx_collateral_hash then
 * answers: for a set that no longer changes, such as one a collateral
 * store holds, whose identity a verifier asks for on every quote.  No
 * field may change after.  Should hashing fail, the set stays unsealed. */
void tdx_collateral_seal(struct tdx_collateral *c);

/* Serialize as a dcap-qvl JSON document (free()). */
MUST_CHECK int tdx_collateral_to_json(const struct tdx_collateral *c, char **out);

/* Split a PCS response body {"KEY":{...},"signature":"HEX"} into the exact
 * bytes of the KEY object (a view into body) and the 64-byte signature. */
MUST_CHECK int tdx_pcs_body_split(const char *body, size_t len, const char *key, const char **obj,
                                  size_t *obj_len, uint8_t sig[64]);

#endif
