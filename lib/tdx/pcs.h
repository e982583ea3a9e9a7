/* pcs.h — collateral from an Intel PCS or a PCCS, with an on-disk cache.
 *
 * Endpoints (PCS API v4, the same on a PCCS):
 *   BASE/tdx/certification/v4/tcb?fmspc=F        TCB info, TCB-Info-Issuer-Chain
 *   BASE/tdx/certification/v4/qe/identity        QE identity,
 *                                                SGX-Enclave-Identity-Issuer-Chain
 *   BASE/sgx/certification/v4/pckcrl?ca=C&encoding=der
 *                                                PCK CRL, SGX-PCK-CRL-Issuer-Chain
 *   root CA CRL: Intel's certificates site for Intel's PCS, else
 *                BASE/sgx/certification/v4/rootcacrl (DER, hex or PEM)
 *
 * The cache holds one dcap-qvl-format file per FMSPC and CA type
 * (CACHE/tdx-<fmspc>-<ca>.json).  A cached entry is used until it nears its
 * earliest nextUpdate (the last tenth of its life, at least an hour ahead),
 * then refreshed; if the refresh fails while the entry is still valid, it
 * is used with a warning.
 */
#ifndef TDEXEC_TDX_PCS_H
#define TDEXEC_TDX_PCS_H

#include "tdx/collateral.h"
#include "tdx/pck.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct tdx_pcs {
	const char *base_url;     /* e.g. https://api.trustedservices.intel.com */
	const char *cache_dir;    /* NULL: no cache */
	const char *root_crl_url; /* NULL: derived from base_url */
	long timeout_s;           /* per request; 0 = 30 */
};

/* The default cache directory ($XDG_CACHE_HOME or ~/.cache)/tdexec/pcs. */
MUST_CHECK int tdx_pcs_default_cache(char *out, size_t cap);

/* Collateral for (fmspc, ca) as of `now`; *cached says where it came from. */
MUST_CHECK int tdx_pcs_collateral(const struct tdx_pcs *p, const uint8_t fmspc[6],
                                  enum tdx_pck_ca ca, time_t now, struct tdx_collateral **out,
                                  int *cached);

/* The FMSPC and CA type a quote needs, read from its PCK certificate. */
MUST_CHECK int tdx_pcs_quote_target(const uint8_t *quote, size_t len, uint8_t fmspc[6],
                                    enum tdx_pck_ca *ca);

/* The earliest nextUpdate in a collateral set (for cache scheduling). */
MUST_CHECK int tdx_collateral_next_update(const struct tdx_collateral *c, time_t *out);

#endif
