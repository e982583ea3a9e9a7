/* pck.h — PCK certificates: the PEM chain in a quote and the Intel SGX
 * extension (OID 1.2.840.113741.1.13.1) carrying PPID, TCB components,
 * PCESVN, CPUSVN, PCE-ID, FMSPC and SGX type.
 */
#ifndef TDEXEC_TDX_PCK_H
#define TDEXEC_TDX_PCK_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define TDX_SGX_EXT_OID         "1.2.840.113741.1.13.1"
#define TDX_PCK_CHAIN_MAX_CERTS 8

enum tdx_pck_ca { TDX_PCK_CA_UNKNOWN = 0, TDX_PCK_CA_PLATFORM, TDX_PCK_CA_PROCESSOR };

struct tdx_pck_ext {
	uint8_t ppid[16];
	uint8_t comp_svn[16]; /* SGX TCB components 01..16 */
	uint16_t pcesvn;
	uint8_t cpusvn[16];
	uint8_t pceid[2];
	uint8_t fmspc[6];
	int sgx_type; /* 0 standard, 1 scalable, 2 scalable with integrity */
	int has_platform_instance_id;
	uint8_t platform_instance_id[16];
	/* Configuration (Platform CA certificates only); -1 when absent. */
	int dynamic_platform, cached_keys, smt_enabled;
};

/* Parse a PEM chain (leaf first) into a new stack; at most
 * TDX_PCK_CHAIN_MAX_CERTS certificates, trailing NULs or whitespace
 * tolerated.  Free with OSSL_STACK_OF_X509_free() / sk_X509_pop_free(). */
MUST_CHECK int tdx_pck_chain_parse(const uint8_t *pem, size_t len, STACK_OF(X509) * *out);

/* Decode the DER content of the SGX extension. */
MUST_CHECK int tdx_pck_ext_parse(const uint8_t *der, size_t len, struct tdx_pck_ext *out);
/* Find and decode the SGX extension of a certificate. */
MUST_CHECK int tdx_pck_ext_from_cert(X509 *cert, struct tdx_pck_ext *out);
/* DER-encode an extension (the simulated PKI uses it); free() *der. */
MUST_CHECK int tdx_pck_ext_encode(const struct tdx_pck_ext *ext, uint8_t **der, size_t *len);

/* Which Intel CA issued a PCK leaf, from the issuer's common name. */
enum tdx_pck_ca tdx_pck_ca_type(X509 *leaf);
const char *tdx_pck_ca_name(enum tdx_pck_ca ca); /* "platform", "processor" */

/* Split PEM text into the DER of each CERTIFICATE block, without parsing
 * them (parsing X.509 is costly in OpenSSL 3; callers parse only what they
 * must).  ders[i].p are allocated (free()); at most `max` blocks. */
struct tdx_blob;
MUST_CHECK int tdx_pem_certs_der(const uint8_t *pem, size_t len, struct tdx_blob *ders, size_t max,
                                 size_t *n);

#endif
