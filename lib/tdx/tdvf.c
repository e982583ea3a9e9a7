#include "tdvf.h"

#include "util/bytes.h"
#include "util/err.h"

#include <openssl/evp.h>
#include <string.h>

#define PAGE      4096u
#define CHUNK     256u  /* TDH.MR.EXTEND's granularity */
#define FOOTER_AT 0x20u /* the GUID table ends 0x20 bytes before the end */
#define DESC_SIZE 16u
#define SEC_SIZE  32u

/* GUIDs as they are stored (the first three fields little-endian). */
static const uint8_t guid_table_footer[16] = {0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
                                              0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d};
static const uint8_t guid_tdx_metadata[16] = {0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47,
                                              0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2};

const char *tdvf_type_name(uint32_t type)
{
	static const char *const names[] = {"BFV",     "CFV",     "TD_HOB",      "TempMem",
	                                    "PermMem", "Payload", "PayloadParam"};
	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

/* The footer GUID table is read backwards: each entry is its data, a u16
 * length (data + 18) and its GUID; the table's own entry (the footer GUID
 * and the whole table's length) comes last.  Returns the TDX metadata
 * offset-from-end entry's value. */
static int find_metadata(const uint8_t *img, size_t len, uint32_t *from_end)
{
	size_t end, start, p;
	uint16_t table_len;

	ENSURE(len >= FOOTER_AT + 18, ERR_NOTFOUND,
	       "TDVF: a %zu-byte image has no OVMF footer GUID table", len);
	end = len - FOOTER_AT;
	ENSURE(memcmp(img + end - 16, guid_table_footer, 16) == 0, ERR_NOTFOUND,
	       "TDVF: no OVMF footer GUID table at 0x%zx (not an OVMF/TDVF image)", end - 16);
	table_len = le16(img + end - 18);
	ENSURE(table_len >= 18 && table_len <= end, ERR_INVAL,
	       "TDVF: footer GUID table length %u out of range", table_len);
	start = end - table_len;
	p = end - 18; /* the entries end where the table's own entry begins */
	while (p > start) {
		uint16_t n;
		ENSURE(p - start >= 18, ERR_INVAL, "TDVF: truncated GUID table entry at 0x%zx", p);
		n = le16(img + p - 18);
		ENSURE(n >= 18 && n <= p - start, ERR_INVAL,
		       "TDVF: GUID table entry at 0x%zx has length %u (18..%zu)", p, n, p - start);
		if (memcmp(img + p - 16, guid_tdx_metadata, 16) == 0) {
			ENSURE(n == 18 + 4, ERR_INVAL,
			       "TDVF: the TDX metadata entry has length %u, not 22", n);
			*from_end = le32(img + p - 22);
			return 0;
		}
		p -= n;
	}
	return err_set(ERR_NOTFOUND, "TDVF: the image carries no TDX metadata (no GUID "
	                             "e47a6535-984a-4798-865e-4685a7bf8ec2 in its footer table)");
}

static int check_section(const struct tdvf *t, size_t i, uint64_t *pages)
{
	const struct tdvf_section *s = &t->sec[i];
	uint64_t need;

	ENSURE(s->gpa % PAGE == 0 && s->mem_size % PAGE == 0, ERR_INVAL,
	       "TDVF section %zu (%s): address 0x%llx or size 0x%llx not 4 KiB aligned", i,
	       tdvf_type_name(s->type), (unsigned long long)s->gpa,
	       (unsigned long long)s->mem_size);
	ENSURE(s->mem_size > 0, ERR_INVAL, "TDVF section %zu (%s): empty", i,
	       tdvf_type_name(s->type));
	ENSURE(s->gpa <= UINT64_MAX - s->mem_size, ERR_INVAL,
	       "TDVF section %zu: address range wraps", i);
	ENSURE(s->type <= TDVF_PAYLOAD_PARAM, ERR_INVAL, "TDVF section %zu: unknown type %u", i,
	       s->type);
	ENSURE(!(s->attributes & ~(TDVF_ATTR_MR_EXTEND | TDVF_ATTR_PAGE_AUG)), ERR_INVAL,
	       "TDVF section %zu (%s): attributes 0x%08x carry bits the TDVF metadata does not "
	       "define (0x1 MR.EXTEND, 0x2 PAGE.AUG)",
	       i, tdvf_type_name(s->type), s->attributes);
	ENSURE(s->raw_size <= s->mem_size, ERR_INVAL,
	       "TDVF section %zu (%s): raw data 0x%x larger than its memory 0x%llx", i,
	       tdvf_type_name(s->type), s->raw_size, (unsigned long long)s->mem_size);
	/* A VMM copies a section with raw data page by page from the image
	 * (QEMU maps the section's memory straight onto the image), so all of
	 * its memory size must lie in the image. */
	need = s->raw_size ? s->mem_size : 0;
	ENSURE(need <= t->len && s->data_offset <= t->len - need, ERR_INVAL,
	       "TDVF section %zu (%s): data 0x%x+0x%llx past the end of the %zu-byte image", i,
	       tdvf_type_name(s->type), s->data_offset, (unsigned long long)need, t->len);
	/* Every section counts, PAGE.AUG ones too: they are not added at
	 * build time, but a size left unbounded would still be walked page by
	 * page (and a cap on the sum alone could be overflowed). */
	ENSURE(s->mem_size / PAGE <= TDVF_MAX_PAGES - *pages, ERR_TOOBIG,
	       "TDVF: the metadata adds over %u pages (section %zu)", TDVF_MAX_PAGES, i);
	*pages += s->mem_size / PAGE;
	return 0;
}

int tdvf_parse(const uint8_t *img, size_t len, struct tdvf *out)
{
	uint32_t from_end = 0, sig_len, count;
	uint64_t pages = 0;
	struct rd r;

	memset(out, 0, sizeof(*out));
	ENSURE(len <= TDVF_MAX_SIZE, ERR_TOOBIG, "TDVF: image over %u bytes", TDVF_MAX_SIZE);
	GUARD(find_metadata(img, len, &from_end));
	ENSURE(from_end >= DESC_SIZE && from_end <= len, ERR_INVAL,
	       "TDVF: metadata offset 0x%x (from the end) outside the %zu-byte image", from_end,
	       len);
	out->img = img;
	out->len = len;
	out->meta_offset = len - from_end;
	rd_init(&r, img + out->meta_offset, from_end, "TDVF metadata");
	{
		const uint8_t *sig;
		GUARD(rd_view(&r, &sig, 4, "signature"));
		ENSURE(memcmp(sig, "TDVF", 4) == 0, ERR_INVAL,
		       "TDVF: no \"TDVF\" descriptor at offset 0x%zx", out->meta_offset);
	}
	GUARD(rd_u32le(&r, &sig_len, "length"));
	GUARD(rd_u32le(&r, &out->version, "version"));
	GUARD(rd_u32le(&r, &count, "number of sections"));
	ENSURE(out->version == 1, ERR_UNSUPPORTED, "TDVF: metadata version %u (1 is known)",
	       out->version);
	ENSURE(count >= 1 && count <= TDVF_MAX_SECTIONS, ERR_INVAL, "TDVF: %u sections (1..%u)",
	       count, TDVF_MAX_SECTIONS);
	ENSURE(sig_len == DESC_SIZE + SEC_SIZE * count, ERR_INVAL,
	       "TDVF: descriptor length %u for %u sections (expected %u)", sig_len, count,
	       DESC_SIZE + SEC_SIZE * count);
	for (uint32_t i = 0; i < count; i++) {
		struct tdvf_section *s = &out->sec[i];
		GUARD(rd_u32le(&r, &s->data_offset, "section data offset"));
		GUARD(rd_u32le(&r, &s->raw_size, "section raw data size"));
		GUARD(rd_u64le(&r, &s->gpa, "section memory address"));
		GUARD(rd_u64le(&r, &s->mem_size, "section memory size"));
		GUARD(rd_u32le(&r, &s->type, "section type"));
		GUARD(rd_u32le(&r, &s->attributes, "section attributes"));
		out->n = i + 1;
		GUARD(check_section(out, i, &pages));
	}
	return 0;
}

const uint8_t *tdvf_cfv(const struct tdvf *t, size_t *len, uint64_t *gpa)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->sec[i].type != TDVF_CFV || !t->sec[i].raw_size)
			continue;
		*len = t->sec[i].raw_size;
		*gpa = t->sec[i].gpa;
		return t->img + t->sec[i].data_offset;
	}
	return NULL;
}

static int add_op(EVP_MD_CTX *md, const char *op, uint64_t gpa)
{
	uint8_t buf[128] = {0};
	memcpy(buf, op, strlen(op));
	for (int i = 0; i < 8; i++)
		buf[16 + i] = (uint8_t)(gpa >> (8 * i));
	ENSURE(EVP_DigestUpdate(md, buf, sizeof(buf)) == 1, ERR_CRYPTO, "TDVF: SHA-384 failed");
	return 0;
}

static int page_add(EVP_MD_CTX *md, const struct tdvf_section *s, uint64_t page)
{
	if (s->attributes & TDVF_ATTR_PAGE_AUG)
		return 0;
	return add_op(md, "MEM.PAGE.ADD", s->gpa + page * PAGE);
}

static int page_extend(EVP_MD_CTX *md, const struct tdvf *t, const struct tdvf_section *s,
                       uint64_t page)
{
	if (!(s->attributes & TDVF_ATTR_MR_EXTEND))
		return 0;
	for (uint64_t c = 0; c < PAGE / CHUNK; c++) {
		uint64_t off = page * PAGE + c * CHUNK;
		GUARD(add_op(md, "MR.EXTEND", s->gpa + off));
		/* In range: checked by tdvf_parse (data_offset + mem_size <= len). */
		ENSURE(EVP_DigestUpdate(md, t->img + s->data_offset + off, CHUNK) == 1, ERR_CRYPTO,
		       "TDVF: SHA-384 failed");
	}
	return 0;
}

int tdvf_mrtd(const struct tdvf *t, enum tdvf_order order, uint8_t mrtd[48])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;
	int rc = 0;

	ENSURE_GOTO(md && EVP_DigestInit_ex(md, EVP_sha384(), NULL) == 1, ERR_CRYPTO,
	            "TDVF: SHA-384 unavailable");
	for (size_t i = 0; i < t->n; i++) {
		const struct tdvf_section *s = &t->sec[i];
		uint64_t pages = s->mem_size / PAGE;
		ENSURE_GOTO(!(s->attributes & TDVF_ATTR_MR_EXTEND) || s->raw_size, ERR_UNSUPPORTED,
		            "TDVF section %zu (%s) is measured (MR.EXTEND) but its contents come "
		            "from the VMM, not the image: MRTD depends on the VM's configuration",
		            i, tdvf_type_name(s->type));
		ENSURE_GOTO(!(s->attributes & TDVF_ATTR_MR_EXTEND) ||
		                !(s->attributes & TDVF_ATTR_PAGE_AUG),
		            ERR_INVAL, "TDVF section %zu: both MR.EXTEND and PAGE.AUG", i);
		if (s->attributes & TDVF_ATTR_PAGE_AUG)
			continue; /* accepted by the TD later: in no measurement */
		if (order == TDVF_ORDER_TWO_PASS) {
			for (uint64_t p = 0; p < pages; p++)
				GUARD_GOTO(page_add(md, s, p));
			for (uint64_t p = 0; p < pages; p++)
				GUARD_GOTO(page_extend(md, t, s, p));
		} else {
			for (uint64_t p = 0; p < pages; p++) {
				GUARD_GOTO(page_add(md, s, p));
				GUARD_GOTO(page_extend(md, t, s, p));
			}
		}
	}
	ENSURE_GOTO(EVP_DigestFinal_ex(md, mrtd, &n) == 1 && n == 48, ERR_CRYPTO,
	            "TDVF: SHA-384 failed");
out:
	EVP_MD_CTX_free(md);
	return rc;
}
