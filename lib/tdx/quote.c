#include "quote.h"

#include "util/bytes.h"
#include "util/err.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The TD body in wire order: one table drives parse, serialize and the
 * named-field accessors, so they cannot disagree. */
struct body_field {
	const char *name;
	const char *claim;
	size_t off;
	size_t len;
	int td15_only;
};

#define BF(n, c, m)                                                                                \
	{                                                                                          \
		n, c, offsetof(struct tdx_td_body, m), sizeof(((struct tdx_td_body *)0)->m), 0     \
	}
static const struct body_field body_fields[] = {
    BF("TEE_TCB_SVN", "tdx_tee_tcb_svn", tee_tcb_svn),
    BF("MRSEAM", "tdx_mrseam", mrseam),
    BF("MRSIGNERSEAM", "tdx_mrsignerseam", mrsignerseam),
    BF("SEAMATTRIBUTES", "tdx_seam_attributes", seam_attributes),
    BF("TDATTRIBUTES", "tdx_td_attributes", td_attributes),
    BF("XFAM", "tdx_xfam", xfam),
    BF("MRTD", "tdx_mrtd", mrtd),
    BF("MRCONFIGID", "tdx_mrconfigid", mrconfigid),
    BF("MROWNER", "tdx_mrowner", mrowner),
    BF("MROWNERCONFIG", "tdx_mrownerconfig", mrownerconfig),
    {"RTMR0", "tdx_rtmr0", offsetof(struct tdx_td_body, rtmr[0]), 48, 0},
    {"RTMR1", "tdx_rtmr1", offsetof(struct tdx_td_body, rtmr[1]), 48, 0},
    {"RTMR2", "tdx_rtmr2", offsetof(struct tdx_td_body, rtmr[2]), 48, 0},
    {"RTMR3", "tdx_rtmr3", offsetof(struct tdx_td_body, rtmr[3]), 48, 0},
    BF("REPORTDATA", "tdx_report_data", report_data),
    {"TEE_TCB_SVN2", "tdx_tee_tcb_svn2", offsetof(struct tdx_td_body, tee_tcb_svn2), 16, 1},
    {"MRSERVICETD", "tdx_mrservicetd", offsetof(struct tdx_td_body, mrservicetd), 48, 1},
};
#undef BF
#define N_BODY_FIELDS (sizeof(body_fields) / sizeof(body_fields[0]))

static size_t body_size(uint16_t body_type)
{
	return body_type == TDX_BODY_TD15 ? TDX_TD15_SIZE : TDX_TD10_SIZE;
}

static int parse_header(struct rd *r, struct tdx_header *h)
{
	GUARD(rd_u16le(r, &h->version, "header.version"));
	GUARD(rd_u16le(r, &h->att_key_type, "header.attestation_key_type"));
	GUARD(rd_u32le(r, &h->tee_type, "header.tee_type"));
	ENSURE(h->tee_type != TDX_TEE_TYPE_SGX, ERR_UNSUPPORTED,
	       "quote: SGX quote, not a TDX quote (tee_type 0x00 at offset 4)");
	ENSURE(h->tee_type == TDX_TEE_TYPE_TDX, ERR_INVAL,
	       "quote: unknown tee_type 0x%08x at offset 4 (TDX is 0x81)", h->tee_type);
	ENSURE(h->version == 4 || h->version == 5, ERR_UNSUPPORTED,
	       "quote: version %u at offset 0 unsupported (TDX quotes are version 4 or 5)",
	       h->version);
	ENSURE(h->att_key_type == TDX_ATT_KEY_ECDSA_P256, ERR_UNSUPPORTED,
	       "quote: attestation key type %u at offset 2 unsupported (2 = ECDSA-256-with-P-256)",
	       h->att_key_type);
	GUARD(rd_u16le(r, &h->reserved1, "header.reserved1"));
	GUARD(rd_u16le(r, &h->reserved2, "header.reserved2"));
	GUARD(rd_copy(r, h->qe_vendor_id, 16, "header.qe_vendor_id"));
	GUARD(rd_copy(r, h->user_data, 20, "header.user_data"));
	return 0;
}

static int parse_body(struct rd *r, uint16_t body_type, struct tdx_td_body *b)
{
	char field[48];
	for (size_t i = 0; i < N_BODY_FIELDS; i++) {
		const struct body_field *f = &body_fields[i];
		if (f->td15_only && body_type != TDX_BODY_TD15)
			continue;
		snprintf(field, sizeof(field), "body.%s", f->name);
		GUARD(rd_copy(r, (uint8_t *)b + f->off, f->len, field));
	}
	return 0;
}

size_t tdx_td_body_write(const struct tdx_td_body *b, uint16_t body_type, uint8_t *out)
{
	size_t n = 0;
	for (size_t i = 0; i < N_BODY_FIELDS; i++) {
		const struct body_field *f = &body_fields[i];
		if (f->td15_only && body_type != TDX_BODY_TD15)
			continue;
		memcpy(out + n, (const uint8_t *)b + f->off, f->len);
		n += f->len;
	}
	return n;
}

static int parse_qe_report(struct rd *r, struct sgx_report_body *q)
{
	GUARD(rd_copy(r, q->cpusvn, 16, "qe_report.cpusvn"));
	GUARD(rd_u32le(r, &q->miscselect, "qe_report.miscselect"));
	GUARD(rd_copy(r, q->reserved1, 28, "qe_report.reserved1"));
	GUARD(rd_copy(r, q->attributes, 16, "qe_report.attributes"));
	GUARD(rd_copy(r, q->mrenclave, 32, "qe_report.mrenclave"));
	GUARD(rd_copy(r, q->reserved2, 32, "qe_report.reserved2"));
	GUARD(rd_copy(r, q->mrsigner, 32, "qe_report.mrsigner"));
	GUARD(rd_copy(r, q->reserved3, 96, "qe_report.reserved3"));
	GUARD(rd_u16le(r, &q->isvprodid, "qe_report.isvprodid"));
	GUARD(rd_u16le(r, &q->isvsvn, "qe_report.isvsvn"));
	GUARD(rd_copy(r, q->reserved4, 60, "qe_report.reserved4"));
	GUARD(rd_copy(r, q->report_data, 64, "qe_report.report_data"));
	return 0;
}

void sgx_report_body_write(const struct sgx_report_body *r, uint8_t out[TDX_QE_REPORT_SIZE])
{
	uint8_t *p = out;
#define PUT(src, n)                                                                                \
	do {                                                                                       \
		memcpy(p, (src), (n));                                                             \
		p += (n);                                                                          \
	} while (0)
	uint8_t misc[4] = {(uint8_t)r->miscselect, (uint8_t)(r->miscselect >> 8),
	                   (uint8_t)(r->miscselect >> 16), (uint8_t)(r->miscselect >> 24)};
	uint8_t prod[2] = {(uint8_t)r->isvprodid, (uint8_t)(r->isvprodid >> 8)};
	uint8_t svn[2] = {(uint8_t)r->isvsvn, (uint8_t)(r->isvsvn >> 8)};
	PUT(r->cpusvn, 16);
	PUT(misc, 4);
	PUT(r->reserved1, 28);
	PUT(r->attributes, 16);
	PUT(r->mrenclave, 32);
	PUT(r->reserved2, 32);
	PUT(r->mrsigner, 32);
	PUT(r->reserved3, 96);
	PUT(prod, 2);
	PUT(svn, 2);
	PUT(r->reserved4, 60);
	PUT(r->report_data, 64);
#undef PUT
}

/* Heap copy of n bytes (n may be 0: returns a valid 1-byte block). */
static int dup_bytes(const uint8_t *p, size_t n, uint8_t **out)
{
	uint8_t *b = malloc(n ? n : 1);
	ENSURE(b, ERR_NOMEM, "quote: out of memory");
	if (n)
		memcpy(b, p, n);
	*out = b;
	return 0;
}

/* Certification data type 6: QE report, its signature, QE auth data and the
 * nested type-5 PCK certificate chain. */
static int parse_qe_cert_data(struct rd *r, struct tdx_quote *q)
{
	uint16_t auth_len;
	uint32_t chain_len;
	const uint8_t *p;
	size_t off;

	q->qe_report_off = r->off;
	GUARD(parse_qe_report(r, &q->qe_report));
	GUARD(rd_copy(r, q->qe_report_sig, 64, "qe_report_signature"));
	GUARD(rd_u16le(r, &auth_len, "qe_auth_data.size"));
	GUARD(rd_view(r, &p, auth_len, "qe_auth_data"));
	GUARD(dup_bytes(p, auth_len, &q->qe_auth_data));
	q->qe_auth_len = auth_len;

	off = r->off;
	GUARD(rd_u16le(r, &q->pck_cert_type, "pck_cert_data.type"));
	ENSURE(q->pck_cert_type == TDX_CERT_PCK_CHAIN, ERR_UNSUPPORTED,
	       "quote: certification data type %u at offset %zu unsupported inside QE report "
	       "certification data (expected 5 = PCK certificate chain)",
	       q->pck_cert_type, off);
	off = r->off;
	GUARD(rd_u32le(r, &chain_len, "pck_cert_data.size"));
	ENSURE(chain_len > 0, ERR_INVAL, "quote: empty PCK certificate chain (size at offset %zu)",
	       off);
	GUARD(rd_view(r, &p, chain_len, "pck_cert_data"));
	GUARD(dup_bytes(p, chain_len, &q->pck_chain));
	q->pck_chain_len = chain_len;
	return 0;
}

static int parse_sig_data(struct rd *r, struct tdx_quote *q)
{
	uint32_t cert_len;
	struct rd cert;
	size_t off;

	GUARD(rd_copy(r, q->signature, 64, "signature"));
	GUARD(rd_copy(r, q->att_key, 64, "attestation_key"));
	off = r->off;
	GUARD(rd_u16le(r, &q->cert_type, "cert_data.type"));
	ENSURE(q->cert_type == TDX_CERT_QE_REPORT, ERR_UNSUPPORTED,
	       "quote: certification data type %u at offset %zu unsupported (expected 6 = QE "
	       "report certification data)",
	       q->cert_type, off);
	GUARD(rd_u32le(r, &cert_len, "cert_data.size"));
	GUARD(rd_sub(r, &cert, cert_len, "cert_data"));
	GUARD(parse_qe_cert_data(&cert, q));
	ENSURE(rd_left(&cert) == 0, ERR_INVAL,
	       "quote: cert_data.size says %u bytes but its content ends at offset %zu, %zu bytes "
	       "early",
	       cert_len, cert.off, rd_left(&cert));
	return 0;
}

static int parse_into(struct rd *r, struct tdx_quote *q)
{
	uint32_t sig_len, body_len;
	struct rd sig;
	size_t off;

	GUARD(parse_header(r, &q->header));
	q->body_type = TDX_BODY_TD10;
	if (q->header.version == 5) {
		off = r->off;
		GUARD(rd_u16le(r, &q->body_type, "body.type"));
		ENSURE(q->body_type != TDX_BODY_SGX, ERR_UNSUPPORTED,
		       "quote: SGX quote, not a TDX quote (body type 1 at offset %zu)", off);
		ENSURE(q->body_type == TDX_BODY_TD10 || q->body_type == TDX_BODY_TD15,
		       ERR_UNSUPPORTED,
		       "quote: body type %u at offset %zu unsupported (2 = TD report 1.0, 3 = TD "
		       "report 1.5)",
		       q->body_type, off);
		off = r->off;
		GUARD(rd_u32le(r, &body_len, "body.size"));
		ENSURE(body_len == body_size(q->body_type), ERR_INVAL,
		       "quote: body.size %u at offset %zu does not match body type %u (%zu bytes)",
		       body_len, off, q->body_type, body_size(q->body_type));
	}
	GUARD(parse_body(r, q->body_type, &q->body));
	q->signed_len = r->off;

	off = r->off;
	GUARD(rd_u32le(r, &sig_len, "signature_data.size"));
	GUARD(rd_sub(r, &sig, sig_len, "signature_data"));
	GUARD(parse_sig_data(&sig, q));
	ENSURE(rd_left(&sig) == 0, ERR_INVAL,
	       "quote: signature_data.size %u at offset %zu leaves %zu unparsed bytes", sig_len,
	       off, rd_left(&sig));

	q->trailing_len = rd_left(r);
	if (q->trailing_len) {
		const uint8_t *p;
		GUARD(rd_view(r, &p, q->trailing_len, "trailing"));
		GUARD(dup_bytes(p, q->trailing_len, &q->trailing));
	}
	return 0;
}

int tdx_quote_parse(const uint8_t *buf, size_t len, struct tdx_quote **out)
{
	struct tdx_quote *q;
	struct rd r;
	int rc;

	*out = NULL;
	ENSURE(len <= TDX_QUOTE_MAX_SIZE, ERR_TOOBIG, "quote: %zu bytes exceeds the %u-byte limit",
	       len, TDX_QUOTE_MAX_SIZE);
	q = calloc(1, sizeof(*q));
	ENSURE(q, ERR_NOMEM, "quote: out of memory");
	rd_init(&r, buf, len, "quote");
	rc = parse_into(&r, q);
	if (rc < 0) {
		tdx_quote_free(q);
		return rc;
	}
	*out = q;
	return 0;
}

void tdx_quote_free(struct tdx_quote *q)
{
	if (!q)
		return;
	free(q->qe_auth_data);
	free(q->pck_chain);
	free(q->trailing);
	OPENSSL_cleanse(q, sizeof(*q));
	free(q);
}

size_t tdx_quote_chain_tail(const struct tdx_quote *q, const uint8_t *raw, size_t len)
{
	size_t n = q->pck_chain_len;
	return q->trailing_len == 0 && n <= len && memcmp(raw + (len - n), q->pck_chain, n) == 0
	           ? n
	           : 0;
}

static int write_signed(struct wbuf *w, const struct tdx_quote *q)
{
	const struct tdx_header *h = &q->header;
	uint8_t body[TDX_TD15_SIZE];
	size_t blen = tdx_td_body_write(&q->body, q->body_type, body);

	GUARD(wbuf_u16le(w, h->version));
	GUARD(wbuf_u16le(w, h->att_key_type));
	GUARD(wbuf_u32le(w, h->tee_type));
	GUARD(wbuf_u16le(w, h->reserved1));
	GUARD(wbuf_u16le(w, h->reserved2));
	GUARD(wbuf_put(w, h->qe_vendor_id, 16));
	GUARD(wbuf_put(w, h->user_data, 20));
	if (h->version == 5) {
		GUARD(wbuf_u16le(w, q->body_type));
		GUARD(wbuf_u32le(w, (uint32_t)blen));
	}
	return wbuf_put(w, body, blen);
}

int tdx_quote_signed_bytes(const struct tdx_quote *q, uint8_t **out, size_t *len)
{
	struct wbuf w;
	int rc;
	wbuf_init(&w);
	rc = write_signed(&w, q);
	if (rc < 0) {
		wbuf_free(&w);
		return rc;
	}
	*out = wbuf_take(&w, len);
	return 0;
}

static int write_quote(struct wbuf *w, const struct tdx_quote *q, int with_trailing)
{
	uint8_t qe[TDX_QE_REPORT_SIZE];
	size_t cert_len, sig_len;

	ENSURE(q->qe_auth_len <= UINT16_MAX, ERR_INVAL, "quote: QE auth data too large");
	ENSURE(q->pck_chain_len <= TDX_QUOTE_MAX_SIZE, ERR_INVAL, "quote: PCK chain too large");
	cert_len = TDX_QE_REPORT_SIZE + 64 + 2 + q->qe_auth_len + 2 + 4 + q->pck_chain_len;
	sig_len = 64 + 64 + 2 + 4 + cert_len;

	GUARD(write_signed(w, q));
	GUARD(wbuf_u32le(w, (uint32_t)sig_len));
	GUARD(wbuf_put(w, q->signature, 64));
	GUARD(wbuf_put(w, q->att_key, 64));
	GUARD(wbuf_u16le(w, q->cert_type));
	GUARD(wbuf_u32le(w, (uint32_t)cert_len));
	sgx_report_body_write(&q->qe_report, qe);
	GUARD(wbuf_put(w, qe, sizeof(qe)));
	GUARD(wbuf_put(w, q->qe_report_sig, 64));
	GUARD(wbuf_u16le(w, (uint16_t)q->qe_auth_len));
	GUARD(wbuf_put(w, q->qe_auth_data, q->qe_auth_len));
	GUARD(wbuf_u16le(w, q->pck_cert_type));
	GUARD(wbuf_u32le(w, (uint32_t)q->pck_chain_len));
	GUARD(wbuf_put(w, q->pck_chain, q->pck_chain_len));
	if (with_trailing && q->trailing_len)
		GUARD(wbuf_put(w, q->trailing, q->trailing_len));
	return 0;
}

int tdx_quote_serialize(const struct tdx_quote *q, int with_trailing, uint8_t **out, size_t *len)
{
	struct wbuf w;
	int rc;

	wbuf_init(&w);
	rc = write_quote(&w, q, with_trailing);
	if (rc < 0) {
		wbuf_free(&w);
		return rc;
	}
	*out = wbuf_take(&w, len);
	return 0;
}

int tdx_body_field_at(const struct tdx_td_body *b, uint16_t body_type, size_t idx,
                      struct tdx_field *f)
{
	for (size_t i = 0; i < N_BODY_FIELDS; i++) {
		const struct body_field *bf = &body_fields[i];
		if (bf->td15_only && body_type != TDX_BODY_TD15)
			continue;
		if (idx-- == 0) {
			f->name = bf->name;
			f->claim = bf->claim;
			f->ptr = (const uint8_t *)b + bf->off;
			f->len = bf->len;
			return 1;
		}
	}
	return 0;
}

int tdx_quote_field_at(const struct tdx_quote *q, size_t idx, struct tdx_field *f)
{
	return tdx_body_field_at(&q->body, q->body_type, idx, f);
}

int tdx_quote_field(const struct tdx_quote *q, const char *name, struct tdx_field *f)
{
	for (size_t i = 0; tdx_quote_field_at(q, i, f); i++)
		if (strcasecmp(f->name, name) == 0)
			return 0;
	return err_set(ERR_NOTFOUND, "quote: no field named '%s'%s", name,
	               q->body_type != TDX_BODY_TD15 ? " in a TD report 1.0 body" : "");
}

/* Append "|name" (or "name" first) to buf without overrunning it. */
static void append_flag(char *buf, size_t cap, const char *name)
{
	size_t n = strlen(buf);
	if (n < cap)
		snprintf(buf + n, cap - n, "%s%s", n ? "|" : "", name);
}

void tdx_td_attributes_str(uint64_t attrs, char *buf, size_t cap)
{
	static const struct {
		uint64_t bit;
		const char *name;
	} known[] = {
	    {TDX_ATTR_DEBUG, "DEBUG"},
	    {TDX_ATTR_SEPT_VE_DISABLE, "SEPT_VE_DISABLE"},
	    {TDX_ATTR_MIGRATABLE, "MIGRATABLE"},
	    {TDX_ATTR_PKS, "PKS"},
	    {TDX_ATTR_KL, "KL"},
	    {TDX_ATTR_PERFMON, "PERFMON"},
	};
	uint64_t rest = attrs;
	char bit[8];

	if (cap == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!(attrs & known[i].bit))
			continue;
		append_flag(buf, cap, known[i].name);
		rest &= ~known[i].bit;
	}
	for (int b = 0; b < 64; b++) {
		if (!(rest & (1ull << b)))
			continue;
		snprintf(bit, sizeof(bit), "BIT%d", b);
		append_flag(buf, cap, bit);
	}
	if (buf[0] == '\0')
		snprintf(buf, cap, "none");
}
