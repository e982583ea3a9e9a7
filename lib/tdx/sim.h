/* sim.h — the simulated TD: a TDX quote provider for machines without TDX.
 *
 * `tdx_sim_init(DIR)` creates a simulated Intel-style PKI and the collateral
 * a verifier needs, in the formats Intel's PCS serves:
 *
 *   root_ca.pem/.key            simulated SGX root CA (the trust anchor that a
 *                               verifier must be given explicitly)
 *   pck_platform_ca.pem/.key    PCK Platform CA
 *   pck.pem/.key                PCK leaf with the Intel SGX extension
 *   tcb_signing.pem/.key        TCB signing certificate
 *   attestation.key             the simulated QE's attestation key
 *   td.json                     TD measurements put in quotes (MRTD, RTMRs, ...)
 *   event_log.jsonl             RTMR extensions made with tdx_sim_extend()
 *   collateral/                 tcb_info.json, qe_identity.json (PCS bodies),
 *                               pck_crl.der, root_ca_crl.der, *_issuer_chain.pem,
 *                               collateral.json (dcap-qvl's format)
 *
 * Quotes are byte-exact v4 quotes with real P-256 signatures; only the trust
 * anchor differs from a real TD.  Nothing in a default configuration trusts
 * the simulated root.
 */
#ifndef TDEXEC_TDX_SIM_H
#define TDEXEC_TDX_SIM_H

#include "tdx/quote.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct tdx_sim_opts {
	time_t now;          /* start of validity; 0 = time(NULL) */
	int collateral_days; /* TCB info / QE identity / CRL validity; 0 = 30 */
	int force;           /* overwrite an existing simulated TD */
};

MUST_CHECK int tdx_sim_init(const char *dir, const struct tdx_sim_opts *opts);
/* Issue DIR/collateral/ again, for an existing simulated TD, valid from
 * opts->now for opts->collateral_days (force is ignored): what Intel's PCS
 * does every day, so that collateral refresh can be tried. */
MUST_CHECK int tdx_sim_collateral(const char *dir, const struct tdx_sim_opts *opts);

struct tdx_sim;
/* Load keys and certificates from DIR.  `measurements` overrides
 * DIR/td.json when not NULL. */
MUST_CHECK int tdx_sim_load(const char *dir, const char *measurements, struct tdx_sim **out);
void tdx_sim_free(struct tdx_sim *s);

/* A signed v4 quote over the TD's measurements and report_data. */
MUST_CHECK int tdx_sim_quote(struct tdx_sim *s, const uint8_t report_data[64], uint8_t **quote,
                             size_t *len);

#define TDX_SIM_REPORT_SIZE 1024

/* The simulated TD's TDREPORT (TDREPORT_STRUCT of the TDX module ABI, TDX
 * 1.0 layout) for report_data: what TDX_CMD_GET_REPORT0 gives in a real
 * TD.  Its MAC is an HMAC-SHA-256 under a key derived from the simulated
 * TD's attestation key, standing in for the CPU's report key. */
MUST_CHECK int tdx_sim_report(struct tdx_sim *s, const uint8_t report_data[64],
                              uint8_t report[TDX_SIM_REPORT_SIZE]);

/* The simulated QE: a signed quote over a TDREPORT, its TD body taken
 * from the report (TEE_TCB_INFO, TDINFO, REPORTDATA).  The report's MAC
 * and its two hashes are checked first: ERR_VERIFY for a report altered
 * or made by another simulated TD, ERR_UNSUPPORTED for a non-TDX or TDX
 * 1.5 report. */
MUST_CHECK int tdx_sim_quote_report(struct tdx_sim *s, const uint8_t report[TDX_SIM_REPORT_SIZE],
                                    uint8_t **quote, size_t *len);

/* RTMR[idx] = SHA-384(RTMR[idx] || digest), persisted in td.json, and the
 * event appended to DIR/event_log.jsonl.  Serialised by a lock on DIR. */
MUST_CHECK int tdx_sim_extend(const char *dir, int idx, const uint8_t digest[48],
                              const char *event);

/* Measurements file (td.json) <-> TD body fields. */
MUST_CHECK int tdx_sim_measurements_load(const char *path, struct tdx_td_body *b);
MUST_CHECK int tdx_sim_measurements_save(const char *path, const struct tdx_td_body *b);

#endif
