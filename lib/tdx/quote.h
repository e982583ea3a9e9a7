/* quote.h — the Intel TDX quote format (DCAP Quote v4 and v5).
 *
 * Layout (all integers little-endian):
 *   header (48)         version, attestation key type, TEE type, 2x2 reserved,
 *                       QE vendor id (16), user data (20)
 *   v5 only:            body type (u16), body size (u32)
 *   body                TD report 1.0 (584 bytes) or TD report 1.5 (648)
 *   sig data len (u32), sig data:
 *     quote signature (64, r||s), attestation key (64, x||y),
 *     certification data: type (u16) = 6, size (u32),
 *       QE report (384), QE report signature (64),
 *       QE auth data size (u16), QE auth data,
 *       certification data: type (u16) = 5, size (u32), PCK chain (PEM)
 *   trailing bytes      tolerated (some providers pad), kept and reported
 *
 * tdx_quote_parse() copies every field into a struct tdx_quote, so the
 * input may be freed afterwards; tdx_quote_serialize() writes the same bytes
 * back, byte for byte.
 */
#ifndef TDEXEC_TDX_QUOTE_H
#define TDEXEC_TDX_QUOTE_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define TDX_QUOTE_MAX_SIZE (256u * 1024u) /* cap on any quote we accept */
#define TDX_HEADER_SIZE    48
#define TDX_TD10_SIZE      584
#define TDX_TD15_SIZE      648
#define TDX_QE_REPORT_SIZE 384

enum {
	TDX_TEE_TYPE_SGX = 0x00000000,
	TDX_TEE_TYPE_TDX = 0x00000081,
	TDX_ATT_KEY_ECDSA_P256 = 2,
	TDX_BODY_SGX = 1, /* v5 body types */
	TDX_BODY_TD10 = 2,
	TDX_BODY_TD15 = 3,
	TDX_CERT_PCK_CHAIN = 5, /* certification data types */
	TDX_CERT_QE_REPORT = 6,
};

/* TDATTRIBUTES bits (Intel TDX module ABI). */
#define TDX_ATTR_DEBUG           (1ull << 0)
#define TDX_ATTR_SEPT_VE_DISABLE (1ull << 28)
#define TDX_ATTR_MIGRATABLE      (1ull << 29)
#define TDX_ATTR_PKS             (1ull << 30)
#define TDX_ATTR_KL              (1ull << 31)
#define TDX_ATTR_PERFMON         (1ull << 63)

struct tdx_header {
	uint16_t version;
	uint16_t att_key_type;
	uint32_t tee_type;
	uint16_t reserved1; /* QE SVN / PCE SVN in SGX v3 quotes; reserved in TDX */
	uint16_t reserved2;
	uint8_t qe_vendor_id[16];
	uint8_t user_data[20];
};

/* The TD report body as quoted (TDREPORT's TDINFO + TEE_TCB_SVN etc.). */
struct tdx_td_body {
	uint8_t tee_tcb_svn[16];
	uint8_t mrseam[48];
	uint8_t mrsignerseam[48];
	uint8_t seam_attributes[8];
	uint8_t td_attributes[8];
	uint8_t xfam[8];
	uint8_t mrtd[48];
	uint8_t mrconfigid[48];
	uint8_t mrowner[48];
	uint8_t mrownerconfig[48];
	uint8_t rtmr[4][48];
	uint8_t report_data[64];
	/* TD report 1.5 only (body type 3); zero otherwise. */
	uint8_t tee_tcb_svn2[16];
	uint8_t mrservicetd[48];
};

/* SGX enclave report body: here the Quoting Enclave's report. */
struct sgx_report_body {
	uint8_t cpusvn[16];
	uint32_t miscselect;
	uint8_t reserved1[28];
	uint8_t attributes[16];
	uint8_t mrenclave[32];
	uint8_t reserved2[32];
	uint8_t mrsigner[32];
	uint8_t reserved3[96];
	uint16_t isvprodid;
	uint16_t isvsvn;
	uint8_t reserved4[60];
	uint8_t report_data[64];
};

struct tdx_quote {
	struct tdx_header header;
	uint16_t body_type; /* TDX_BODY_TD10 or _TD15; v4 quotes are TD10 */
	struct tdx_td_body body;
	uint8_t signature[64]; /* ECDSA r||s over header..body */
	uint8_t att_key[64];   /* P-256 public key x||y */
	uint16_t cert_type;    /* TDX_CERT_QE_REPORT */
	struct sgx_report_body qe_report;
	uint8_t qe_report_sig[64]; /* by the PCK key over the QE report */
	uint8_t *qe_auth_data;     /* owned */
	size_t qe_auth_len;
	uint16_t pck_cert_type; /* TDX_CERT_PCK_CHAIN */
	uint8_t *pck_chain;     /* owned; PEM leaf, intermediate, root, as sent */
	size_t pck_chain_len;
	uint8_t *trailing; /* owned; bytes after the signature data */
	size_t trailing_len;
	/* Derived on parse: the byte ranges the signatures cover. */
	size_t signed_len;    /* header..end of body: the quote signature's message */
	size_t qe_report_off; /* offset of the QE report in the input */
};

/* Parse `len` bytes.  On success *out is a new quote (tdx_quote_free()).
 * Errors (ERR_INVAL / ERR_UNSUPPORTED / ERR_TOOBIG) name the field and byte
 * offset; an SGX quote gets "SGX quote, not a TDX quote". */
MUST_CHECK int tdx_quote_parse(const uint8_t *buf, size_t len, struct tdx_quote **out);
void tdx_quote_free(struct tdx_quote *q);
/* The length of q's PCK certificate chain when it is the last bytes of
 * `raw` (the `len` bytes q was parsed from), else 0: where a quote can be
 * split into what is its own and what its platform's quotes share. */
size_t tdx_quote_chain_tail(const struct tdx_quote *q, const uint8_t *raw, size_t len);

/* Serialize to a new buffer (free()); `with_trailing` appends the trailing
 * bytes kept from parsing, so parse→serialize is byte-exact. */
MUST_CHECK int tdx_quote_serialize(const struct tdx_quote *q, int with_trailing, uint8_t **out,
                                   size_t *len);

/* The exact bytes of header..body (what the quote signature covers). */
MUST_CHECK int tdx_quote_signed_bytes(const struct tdx_quote *q, uint8_t **out, size_t *len);

/* Serialize a QE report body (384 bytes) into out; the QE report
 * signature covers these bytes. */
void sgx_report_body_write(const struct sgx_report_body *r, uint8_t out[TDX_QE_REPORT_SIZE]);
/* Serialize a TD body (584 or 648 bytes as body_type says) into out. */
size_t tdx_td_body_write(const struct tdx_td_body *b, uint16_t body_type, uint8_t *out);

static inline uint64_t tdx_quote_td_attributes(const struct tdx_quote *q)
{
	const uint8_t *p = q->body.td_attributes;
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Named fields, Intel's spelling ("MRTD", "RTMR0", "REPORTDATA", ...), for
 * display, JSON and policy matching.  Iterate with index 0.. until it
 * returns 0. */
struct tdx_field {
	const char *name;   /* Intel's name, e.g. "MRTD" */
	const char *claim;  /* Intel Trust Authority claim, e.g. "tdx_mrtd" */
	const uint8_t *ptr; /* into the quote struct */
	size_t len;
};
MUST_CHECK int tdx_quote_field_at(const struct tdx_quote *q, size_t idx, struct tdx_field *f);
/* The same over a bare TD body (f->ptr points into b). */
MUST_CHECK int tdx_body_field_at(const struct tdx_td_body *b, uint16_t body_type, size_t idx,
                                 struct tdx_field *f);
/* Find a field by Intel name (case-insensitive); 0 or ERR_NOTFOUND. */
MUST_CHECK int tdx_quote_field(const struct tdx_quote *q, const char *name, struct tdx_field *f);

/* Describe TDATTRIBUTES bits as "DEBUG|SEPT_VE_DISABLE|..." into buf. */
void tdx_td_attributes_str(uint64_t attrs, char *buf, size_t cap);

#endif
