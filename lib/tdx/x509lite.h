/* x509lite.h — the X.509 certificates and CRLs of Intel's PCK PKI, read
 * straight from DER.
 *
 * Why not d2i_X509: in OpenSSL 3.0 decoding one certificate costs about
 * 250 us (provider-based key decoding, extension caching), more than two
 * signature checks, and a cold DCAP verification decodes four.  Intel's PKI
 * is narrow — ECDSA P-256 with SHA-256 everywhere, v3 certificates, v2 CRLs
 * — so a strict reader of exactly that shape is small.  Anything outside it
 * is refused.  OpenSSL still does all the cryptography.
 *
 * Every pointer in the parsed structures points into the caller's DER
 * buffer, which must outlive them.
 */
#ifndef TDEXEC_TDX_X509LITE_H
#define TDEXEC_TDX_X509LITE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "util/err.h"

struct der_span {
	const uint8_t *p;
	size_t len;
};

struct x509_lite {
	struct der_span tbs;     /* the signed bytes (TLV of tbsCertificate) */
	struct der_span serial;  /* INTEGER content bytes */
	struct der_span issuer;  /* TLV of the issuer Name */
	struct der_span subject; /* TLV of the subject Name */
	time_t not_before, not_after;
	uint8_t pub[64];         /* P-256 x||y */
	uint8_t sig[64];         /* raw r||s of the signature */
	int is_ca;               /* basicConstraints cA */
	int key_usage;           /* KeyUsage bits (bit 0 = digitalSignature), -1 if absent */
	struct der_span sgx_ext; /* content of the Intel SGX extension, if any */
};

struct crl_lite {
	struct der_span tbs;
	struct der_span issuer;
	time_t this_update, next_update;
	struct der_span revoked; /* content of revokedCertificates (may be empty) */
	uint8_t sig[64];
};

/* KeyUsage bits (RFC 5280 numbering). */
#define X509L_KU_DIGITAL_SIGNATURE (1 << 0)
#define X509L_KU_KEY_CERT_SIGN     (1 << 5)
#define X509L_KU_CRL_SIGN          (1 << 6)

/* Parse a DER certificate; errors name `what` and the field. */
MUST_CHECK int x509_lite_parse(const uint8_t *der, size_t len, const char *what,
                               struct x509_lite *out);
/* Parse a DER CRL. */
MUST_CHECK int crl_lite_parse(const uint8_t *der, size_t len, const char *what,
                              struct crl_lite *out);
/* 1 if the CRL lists this serial (INTEGER content bytes), else 0. */
MUST_CHECK int crl_lite_revoked(const struct crl_lite *crl, const struct der_span *serial);

#endif
