/* quote_show.h — a parsed quote as JSON (Intel's field names) and text. */
#ifndef TDEXEC_TDX_QUOTE_SHOW_H
#define TDEXEC_TDX_QUOTE_SHOW_H

#include "tdx/quote.h"
#include "tdx/verify.h"

#include <jansson.h>
#include <stdio.h>

/* Every field of the quote, plus what the PCK certificate's SGX extension
 * says (FMSPC, PCE-ID, TCB components, PCESVN, CA).  Returns a new object,
 * or NULL with the error set.  When the PCK chain cannot be decoded, the
 * object still describes the rest and "pck" holds {"error": "..."}; the
 * return status in *pck_rc is then negative. */
json_t *tdx_quote_to_json(const struct tdx_quote *q, int *pck_rc);

/* The verification result with Intel Trust Authority's claim names
 * (attester_tcb_status, tdx_mrtd, tdx_rtmr0, ...).  `q` may be NULL when the
 * quote did not parse; `mismatches` (array of strings) may be NULL.
 * policy_ok and policy_mismatches are there only when `verified`: no
 * policy is evaluated on a quote that did not verify. */
json_t *tdx_verdict_to_json(const struct tdx_quote *q, const struct tdx_verdict *v, int verified,
                            const json_t *mismatches, time_t at);

#endif
