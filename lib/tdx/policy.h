/* policy.h — what a relying party accepts beyond "the quote is authentic".
 *
 * A JSON policy file (every member optional):
 *   {
 *     "tcb_status": ["UpToDate", "SWHardeningNeeded"],  accepted final statuses
 *     "advisory_ids": ["INTEL-SA-00615"],   every advisory must be listed here
 *     "allow_debug": false,                 a DEBUG TD is refused unless true
 *     "require_sept_ve_disable": true,
 *     "measurements": {                     expected value or allowed set
 *       "MRTD": "<hex>", "RTMR0": ["<hex>", "<hex>"], "XFAM": "<hex>", ...
 *     },                                    (MRTD, RTMR0-3, MRCONFIGID, MROWNER,
 *                                            MROWNERCONFIG, MRSEAM, XFAM, TDATTRIBUTES)
 *     "min_tee_tcb_svn": "<32 hex>",        component-wise minimum
 *     "min_qe_isvsvn": 4,
 *     "report_data": "<128 hex>",
 *     "event_logs": ["ccel.bin", "runtime.jsonl"]  replayed; every RTMR they
 *                                           touch must equal the quote's
 *     "require_rtmr3_log": true             RTMR3 must be explained by an
 *                                           event log (see tdx_policy_check_logs)
 *   }
 * Relative event log paths are relative to the policy file.  A policy
 * that names no "tcb_status" accepts UpToDate only, and one without
 * "advisory_ids" accepts no advisory.  Without a policy file, the default
 * (tdx_policy_default) accepts every status that verification lets through
 * and any advisory: it reports the verdict, it admits nothing.  Both refuse
 * DEBUG and require SEPT_VE_DISABLE unless the file says otherwise.
 */
#ifndef TDEXEC_TDX_POLICY_H
#define TDEXEC_TDX_POLICY_H

#include "tdx/quote.h"
#include "tdx/verify.h"
#include "util/err.h"

#include <jansson.h>

struct tdx_policy;

MUST_CHECK int tdx_policy_load(const char *path, struct tdx_policy **out);
MUST_CHECK int tdx_policy_from_json(const char *text, size_t len, const char *base_dir,
                                    struct tdx_policy **out);
/* The default policy without a file, described above. */
MUST_CHECK int tdx_policy_default(struct tdx_policy **out);
void tdx_policy_free(struct tdx_policy *p);

/* 1 when the policy pins the measured field `field` ("MRTD", "RTMR0", ...)
 * to a value or a set, 0 when any value passes. */
MUST_CHECK int tdx_policy_pins(const struct tdx_policy *p, const char *field);

/* The policy in effect as JSON (new reference; NULL on ENOMEM), in the
 * file's vocabulary with every default spelled out: the TCB statuses
 * accepted (Intel's order), "advisory_ids" sorted or "any" (the default
 * policy), allow_debug, require_sept_ve_disable, each measurement's allowed
 * values as sorted lower-case hex, the optional minimums and report_data,
 * and event logs as the paths read.  Two files that mean the same give the
 * same JSON: what a service publishes as the policy it applies (the SMS's
 * RA-TLS configuration, services/sms). */
json_t *tdx_policy_to_json(const struct tdx_policy *p);

/* The policy document `pol` as a file holds it: indented JSON, keys in
 * their order, ending in a newline; checked to load as the verifiers load a
 * policy (relative paths from "."), so what is written is never refused.
 * *text is the caller's to free. */
MUST_CHECK int tdx_policy_text(const json_t *pol, char **text);

/* Check a verified quote.  Every mismatch is appended to `mismatches` (a
 * JSON array of strings).  Returns 0 when all hold, ERR_VERIFY with the
 * first mismatch as the message otherwise, or another error (e.g. an event
 * log that cannot be read). */
MUST_CHECK int tdx_policy_check(const struct tdx_policy *p, const struct tdx_quote *q,
                                const struct tdx_verdict *v, json_t *mismatches);

/* tdx_policy_check with the event logs that came with the quote: the
 * policy's own "event_logs", then the files `logs` (n paths, each a CCEL or
 * tdexec's JSON-lines runtime log, detected; the CCEL first), then
 * `runtime` (a JSON-lines log as text, NULL when none) are replayed in that
 * order into the same registers; every RTMR they touch must equal the
 * quote's.  With "require_rtmr3_log", RTMR3 must be among them: a TD whose
 * RTMR3 no log explains is refused.  tdx_policy_check alone does not ask
 * for RTMR3's log (a quote checked without its logs, e.g. at worker
 * registration). */
MUST_CHECK int tdx_policy_check_logs(const struct tdx_policy *p, const struct tdx_quote *q,
                                     const struct tdx_verdict *v, const char *const *logs, size_t n,
                                     const char *runtime, size_t runtime_len, json_t *mismatches);

/* The app developer's own TD policy, from the app's on-chain mrenclave
 * (iExec's enclave configuration {"framework": "TDX", "policy": {...}}),
 * checked against a verified quote as tdx_policy_check does.  No
 * mrenclave (NULL or "") or no policy: 0.  A policy from the chain may not
 * name files on this machine ("event_logs").  ERR_VERIFY with the reason:
 * not a TDX configuration, a policy that does not load, or one that does
 * not hold (then *violated = 1, else 0). */
MUST_CHECK int tdx_policy_check_app(const char *mrenclave, const struct tdx_quote *q,
                                    const struct tdx_verdict *v, int *violated);

/* Only the runtime log's part, for a service that checked the rest
 * already (the SMS: the quote passed its gate, the log came with it): the
 * JSON-lines `runtime` (NULL = none sent) must extend RTMR3 and every RTMR
 * it touches must equal the quote's; without a log, 0 unless the policy
 * has "require_rtmr3_log".  ERR_VERIFY with the reason otherwise. */
MUST_CHECK int tdx_policy_check_runtime_log(const struct tdx_policy *p, const struct tdx_quote *q,
                                            const char *runtime, size_t runtime_len);

#endif
