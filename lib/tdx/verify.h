/* verify.h — Intel DCAP verification of TDX quotes.
 *
 * tdx_verify() checks, with a precise reason on any failure:
 *  1. the PCK chain (leaf -> PCK Platform/Processor CA -> root) to the
 *     verifier's trust anchor, compared by key; validity at the chosen time;
 *     the PCK CRL and root CA CRL (signature, validity, revocation);
 *  2. TCB info and QE identity: issuer chain to the same anchor, signature
 *     over the exact bytes, issue/next-update dates;
 *  3. the QE report: signed by the PCK key, REPORTDATA = SHA-256(attestation
 *     key || QE auth data) || zeros, QE identity (MRSIGNER, ISVPRODID, masked
 *     MISCSELECT and ATTRIBUTES) and the QE's TCB status;
 *  4. the quote signature over header || body by the attestation key;
 *  5. the TCB status by Intel's TDX rules (SGX components and PCESVN from the
 *     PCK certificate, TEE_TCB_SVN, TDX module identity), merged with the QE
 *     and module statuses, with advisory IDs.
 *
 * A verifier is thread-safe.  It caches what quotes share — verified and
 * parsed collateral (keyed by its hash), verified PCK chains, and for each
 * chain the last 16 QE reports verified with their attestation keys parsed
 * (keyed by the exact report, signature, key and QE auth data) — so a
 * steady-state verification costs one P-256 check, the quote's.  Time-
 * dependent checks and the QE identity are checked on every call.
 */
#ifndef TDEXEC_TDX_VERIFY_H
#define TDEXEC_TDX_VERIFY_H

#include "tdx/collateral.h"
#include "tdx/pck.h"
#include "tdx/quote.h"
#include "tdx/tcbinfo.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct tdx_verifier;

/* A verifier anchored at the embedded Intel SGX Root CA. */
MUST_CHECK int tdx_verifier_new(struct tdx_verifier **out);
/* A verifier anchored at another root (DER or PEM), e.g. the simulated
 * TD's root_ca.pem; its verdicts say `simulated`. */
MUST_CHECK int tdx_verifier_new_root(const uint8_t *cert, size_t len, int simulated,
                                     struct tdx_verifier **out);
void tdx_verifier_free(struct tdx_verifier *v);
/* The verifier's trust anchor: its certificate (DER, owned by v, as long
 * as v lives), its length in *len, and in *simulated whether it was given
 * as a simulated root.  What a service reports as the root it trusts. */
const uint8_t *tdx_verifier_anchor(const struct tdx_verifier *v, size_t *len, int *simulated);
/* Turn caching off (every call verifies everything) or on (default). */
void tdx_verifier_set_cache(struct tdx_verifier *v, int enabled);

/* QE report signatures the verifier checked, and QE reports it found
 * already verified in its cache, since it was made: what the cache saves,
 * for tests and metrics. */
struct tdx_verifier_stats {
	uint64_t qe_verified, qe_cached;
};
void tdx_verifier_stats(const struct tdx_verifier *v, struct tdx_verifier_stats *out);

struct tdx_verdict {
	int simulated;                    /* the anchor is a simulated root */
	enum tdx_tcb_status status;       /* final, after merging */
	enum tdx_tcb_status platform;     /* the matched TCB level's status */
	enum tdx_tcb_status module;       /* TDX module identity's status */
	enum tdx_tcb_status qe;           /* QE identity's status */
	int has_module_identity;          /* module status came from tdxModuleIdentities */
	struct tdx_advisories advisories; /* union of the three */
	time_t tcb_date;                  /* of the matched platform level */
	time_t collateral_expiry;         /* earliest end of any validity window */
	struct tdx_pck_ext pck;           /* from the PCK certificate */
	enum tdx_pck_ca ca;
	int tcb_eval_number;
	/* Which collateral the verdict rests on, so that a record of it says
	 * (receipts): the FMSPC is pck.fmspc; CRLs by the SHA-256 of their DER
	 * (the parser keeps no CRL number). */
	time_t tcb_info_issue_date, qe_identity_issue_date;
	int qe_eval_number;
	uint8_t pck_crl_sha256[32], root_ca_crl_sha256[32];
	char reason[512]; /* why verification failed; "" on success */
};

/* Verify `len` bytes of quote at time `at` with collateral `c`.  Returns 0
 * when the quote is authentic and its TCB level is supported and not
 * revoked (the status may still be OutOfDate etc.: policy decides);
 * otherwise ERR_VERIFY (or a parse error) with the reason in err_msg() and
 * out->reason.  `out` is always filled as far as verification got. */
MUST_CHECK int tdx_verify(struct tdx_verifier *v, const uint8_t *quote, size_t len,
                          const struct tdx_collateral *c, time_t at, struct tdx_verdict *out);
/* The same for a quote already parsed from `raw` (the exact bytes given to
 * tdx_quote_parse), for callers that need the parsed quote too. */
MUST_CHECK int tdx_verify_parsed(struct tdx_verifier *v, const uint8_t *raw,
                                 const struct tdx_quote *q, const struct tdx_collateral *c,
                                 time_t at, struct tdx_verdict *out);

/* The quote's PCK chain (leaf, CA, root) is signed link by link up to the
 * trust anchor: checked before a service fetches collateral for a platform
 * it does not hold, so that only a genuine platform's quote costs a fetch.
 * Revocation and validity are left to the full verification. */
int tdx_verify_pck_chain(const struct tdx_verifier *v, const struct tdx_quote *q);

/* Verify a collateral set alone (issuer chains to the anchor, signatures,
 * CRLs) and that it is valid at `at`; *expiry (may be NULL) gets the end of
 * its earliest validity window.  Successful sets stay in the cache, so the
 * quotes that follow do not verify them again. */
MUST_CHECK int tdx_verify_collateral(struct tdx_verifier *v, const struct tdx_collateral *c,
                                     time_t at, time_t *expiry);

#endif
