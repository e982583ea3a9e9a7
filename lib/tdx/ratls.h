/* ratls.h — RA-TLS: a TLS certificate whose key is vouched for by the
 * serving TD's own quote, so a client admits the server by its measurements
 * instead of by a CA.
 *
 * Format (as dstack's RA-TLS certificates): the TD quote is a DER OCTET
 * STRING in extension 1.3.6.1.4.1.62397.1.1, and its REPORTDATA is
 * SHA-512("ratls-cert:" || the certificate's SubjectPublicKeyInfo DER).
 * The certificate is self-signed: the trust comes from the quote. */
#ifndef TDEXEC_TDX_RATLS_H
#define TDEXEC_TDX_RATLS_H

#include "tdx/gate.h"
#include "tdx/provider.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

#define TDX_RATLS_OID "1.3.6.1.4.1.62397.1.1"
#define TDX_RATLS_TAG "ratls-cert:"

/* REPORTDATA binding a public key (SubjectPublicKeyInfo DER). */
MUST_CHECK int tdx_ratls_report_data(const uint8_t *spki, size_t len, uint8_t out[64]);

/* A fresh P-256 key and a self-signed certificate for it (CN `subject`,
 * valid `days` days) carrying a quote from `p`: PEM texts, new strings
 * (free(); wipe the key first). */
MUST_CHECK int tdx_ratls_make(const struct tdx_provider *p, const char *subject, long days,
			      char **cert_pem, char **key_pem);

/* Admit a peer's certificate (DER): it carries a quote, the quote passes
 * the gate (DCAP and policy), and its REPORTDATA binds this certificate's
 * key.  0 with the verdict in *v; otherwise the reason in err_msg(). */
MUST_CHECK int tdx_ratls_check(struct tdx_gate *g, const uint8_t *der, size_t len,
			       struct tdx_verdict *v);

/* tdx_ratls_check() as a net/http.h peer check, ctx = the struct tdx_gate. */
MUST_CHECK int tdx_ratls_peer_check(void *gate, const uint8_t *der, size_t len);

/* The quote in a certificate (DER) as a new buffer (free()); ERR_NOTFOUND
 * when it has none. */
MUST_CHECK int tdx_ratls_quote(const uint8_t *der, size_t len, uint8_t **quote, size_t *qlen);

#endif
