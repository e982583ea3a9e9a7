/* gate.h — what a relying service needs to admit a TD: collateral for the
 * platforms it admits, kept fresh in the background (collstore.h), a
 * verifier anchored at Intel's root (or, only when asked, a simulated root)
 * and the pool's policy, used from any thread.  The SMS (task sessions) and
 * the scheduler (worker registration) both use it. */
#ifndef TDEXEC_TDX_GATE_H
#define TDEXEC_TDX_GATE_H

#include "tdx/collateral.h"
#include "tdx/collstore.h"
#include "tdx/policy.h"
#include "tdx/quote.h"
#include "tdx/verify.h"
#include "util/err.h"

struct tdx_gate_state;

struct tdx_gate {
	struct tdx_verifier *verifier;
	struct tdx_collstore *collateral;
	struct tdx_policy *policy;
	/* tdx_gate_open's: the platform that each recent PCK chain names, by
	 * the chain's SHA-256, and the gate's epoch (NULL: every quote's
	 * chain is parsed, and the epoch is 0) */
	struct tdx_gate_state *state;
};

/* Open the collateral source (a dcap-qvl JSON file, a PCS directory, a
 * directory of platforms or a PCS URL: see collstore.h) with its refresh
 * thread, the trust anchor (sim_root NULL = the Intel SGX Root CA) and the
 * policy (NULL = the default policy).  `who` names the service in logs.  On
 * error the gate is left closed. */
MUST_CHECK int tdx_gate_open(struct tdx_gate *g, const char *collateral, const char *sim_root,
                             const char *policy, const char *who);
void tdx_gate_close(struct tdx_gate *g);

/* A service admits TDs by the policy file `path` only when it pins their
 * MRTD: otherwise a TD running any code on a good platform would pass.  0
 * when it does; ERR_INVAL naming the file and the opt-out flag `opt_out`
 * otherwise, or the error of loading the policy. */
MUST_CHECK int tdx_gate_policy_pinned(const char *path, const char *opt_out);

/* Parse `raw`, verify it (DCAP, now, with the collateral of the platform
 * its PCK certificate names) and apply the policy.  0 with the parsed quote
 * in *q (tdx_quote_free()) and the verdict in *v; otherwise the reason in
 * err_msg() and *q NULL. */
MUST_CHECK int tdx_gate_check(struct tdx_gate *g, const uint8_t *raw, size_t len,
                              struct tdx_quote **q, struct tdx_verdict *v);
/* The same at time `at`. */
MUST_CHECK int tdx_gate_check_at(struct tdx_gate *g, const uint8_t *raw, size_t len, time_t at,
                                 struct tdx_quote **q, struct tdx_verdict *v);

/* The generation of what `g` admits by: it moves whenever the gate opens
 * (once it can check) or closes (a closed gate reads 0) and whenever the
 * collateral it serves changes (a refresh that swapped in new TCB info, QE
 * identity or CRLs, a platform fetched), and only then: another gate's
 * collateral leaves it alone.  A gate's anchor and policy are fixed while
 * it is open.  Epochs are drawn from one process-wide sequence and only
 * ever raised, so that a gate closed and opened again (at the same
 * address) never shows an epoch it showed before.  A verdict reached after
 * reading epoch E rests on inputs at least as new as E's; once the epoch
 * is no longer E, checking again may answer otherwise (a CRL that now
 * revokes the PCK): what keeps an admitted peer (net/http.h) compares it.
 * One atomic load. */
uint64_t tdx_gate_epoch(const struct tdx_gate *g);

/* Which step of this thread's last tdx_gate_check refused the quote, for
 * a service's counts of refusals by reason: "quote_malformed" (it does not
 * parse), "collateral" (none held or fetched for its platform),
 * "quote_invalid" (signatures, certificates, TCB level), "policy"; NULL
 * when it passed. */
const char *tdx_gate_refusal(void);

/* The collateral's state, for a service's /status ({"collateral": ...})
 * and /metrics; see tdx_collstore_status and tdx_collstore_metrics.  A
 * closed gate gives JSON null and no lines. */
json_t *tdx_gate_status(struct tdx_gate *g);
void tdx_gate_metrics(struct tdx_gate *g, struct wbuf *w);

#endif
