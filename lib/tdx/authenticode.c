#include "authenticode.h"

#include "util/bytes.h"
#include "util/err.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define COFF_SIZE    20u
#define SECTION_SIZE 40u
#define DIR_SECURITY 4u /* the certificate table's data directory index */
#define PE32_MAGIC   0x10bu
#define PE32P_MAGIC  0x20bu

struct span {
	size_t off, len;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

static int hash(EVP_MD_CTX *md, const uint8_t *img, size_t off, size_t len)
{
	ENSURE(EVP_DigestUpdate(md, img + off, len) == 1, ERR_CRYPTO, "PE: SHA-384 failed");
	return 0;
}

/* Where the parts of the digest lie, all checked against the file. */
struct pe_layout {
	size_t checksum;  /* offset of the optional header's CheckSum */
	size_t cert_dir;  /* offset of the certificate table's directory entry, 0 if none */
	size_t headers;   /* SizeOfHeaders */
	size_t cert_size; /* the certificate table's size (0: unsigned) */
	size_t nsec;
	struct span sec[PE_MAX_SECTIONS];
};

static int pe_layout(const uint8_t *img, size_t len, struct pe_layout *l)
{
	uint32_t lfanew, headers, ndirs, cert_off = 0, cert_size = 0;
	uint16_t nsec, optsize, magic;
	size_t opt, dirs, sectab;
	memset(l, 0, sizeof(*l));
	ENSURE(len >= 0x40 && img[0] == 'M' && img[1] == 'Z', ERR_INVAL,
	       "PE: not a PE/COFF image (no MZ header)");
	lfanew = le32(img + 0x3c);
	ENSURE((uint64_t)lfanew + 4 + COFF_SIZE + 2 <= len, ERR_INVAL,
	       "PE: PE header offset 0x%x past the end of the %zu-byte file", lfanew, len);
	ENSURE(memcmp(img + lfanew, "PE\0\0", 4) == 0, ERR_INVAL,
	       "PE: no PE signature at offset 0x%x", lfanew);
	nsec = le16(img + lfanew + 4 + 2);
	optsize = le16(img + lfanew + 4 + 16);
	opt = (size_t)lfanew + 4 + COFF_SIZE;
	ENSURE(nsec <= PE_MAX_SECTIONS, ERR_INVAL, "PE: %u sections (at most %u)", nsec,
	       PE_MAX_SECTIONS);
	ENSURE(opt + optsize <= len, ERR_INVAL, "PE: optional header (%u bytes) past the end",
	       optsize);
	/* The fields at fixed offsets: the magic, SizeOfHeaders (60),
	 * CheckSum (64), NumberOfRvaAndSizes just before the data directories
	 * (at 96 in PE32, 112 in PE32+). */
	ENSURE(optsize >= 2, ERR_INVAL, "PE: no optional header");
	magic = le16(img + opt);
	ENSURE(magic == PE32_MAGIC || magic == PE32P_MAGIC, ERR_INVAL,
	       "PE: optional header magic 0x%x (0x10b PE32, 0x20b PE32+)", magic);
	dirs = magic == PE32_MAGIC ? 96 : 112;
	ENSURE(optsize >= dirs, ERR_INVAL,
	       "PE: a %u-byte optional header is shorter than a %s header's %zu bytes", optsize,
	       magic == PE32_MAGIC ? "PE32" : "PE32+", dirs);
	headers = le32(img + opt + 60);
	ndirs = le32(img + opt + dirs - 4);
	ENSURE((uint64_t)ndirs * 8 <= optsize - dirs, ERR_INVAL,
	       "PE: %u data directories do not fit the %u-byte optional header", ndirs, optsize);
	l->checksum = opt + 64;
	if (ndirs > DIR_SECURITY) {
		l->cert_dir = opt + dirs + DIR_SECURITY * 8;
		cert_off = le32(img + l->cert_dir);
		cert_size = le32(img + l->cert_dir + 4);
	}
	sectab = opt + optsize;
	ENSURE(sectab + (size_t)nsec * SECTION_SIZE <= headers && headers <= len, ERR_INVAL,
	       "PE: SizeOfHeaders 0x%x does not cover the section table (ends at 0x%zx) or "
	       "exceeds the %zu-byte file",
	       headers, sectab + (size_t)nsec * SECTION_SIZE, len);
	l->headers = headers;
	for (uint16_t i = 0; i < nsec; i++) {
		const uint8_t *s = img + sectab + (size_t)i * SECTION_SIZE;
		uint32_t size = le32(s + 16), ptr = le32(s + 20);
		if (size == 0)
			continue;
		ENSURE((uint64_t)ptr + size <= len, ERR_INVAL,
		       "PE: section %u (%.8s) raw data 0x%x+0x%x past the end of the %zu-byte file",
		       i, (const char *)s, ptr, size, len);
		l->sec[l->nsec++] = (struct span){ptr, size};
	}
	qsort(l->sec, l->nsec, sizeof(l->sec[0]), cmp_span);
	for (size_t i = 1; i < l->nsec; i++)
		ENSURE(l->sec[i - 1].off + l->sec[i - 1].len <= l->sec[i].off, ERR_INVAL,
		       "PE: sections at file offsets 0x%zx (0x%zx bytes) and 0x%zx overlap",
		       l->sec[i - 1].off, l->sec[i - 1].len, l->sec[i].off);
	if (cert_off || cert_size) {
		ENSURE((uint64_t)cert_off + cert_size == len, ERR_INVAL,
		       "PE: the certificate table (0x%x+0x%x) does not end the %zu-byte file",
		       cert_off, cert_size, len);
		l->cert_size = cert_size;
	}
	return 0;
}

int pe_authenticode_sha384(const uint8_t *img, size_t len, uint8_t out[48])
{
	struct pe_layout *l = NULL;
	EVP_MD_CTX *md = NULL;
	size_t sum;
	unsigned int n = 0;
	int rc = 0;

	ENSURE(len <= PE_MAX_SIZE, ERR_TOOBIG, "PE: image over %u bytes", PE_MAX_SIZE);
	l = malloc(sizeof(*l));
	md = EVP_MD_CTX_new();
	ENSURE_GOTO(l && md, ERR_NOMEM, "out of memory");
	GUARD_GOTO(pe_layout(img, len, l));
	ENSURE_GOTO(EVP_DigestInit_ex(md, EVP_sha384(), NULL) == 1, ERR_CRYPTO,
	            "PE: SHA-384 unavailable");
	GUARD_GOTO(hash(md, img, 0, l->checksum));
	if (l->cert_dir) {
		GUARD_GOTO(hash(md, img, l->checksum + 4, l->cert_dir - (l->checksum + 4)));
		GUARD_GOTO(hash(md, img, l->cert_dir + 8, l->headers - (l->cert_dir + 8)));
	} else {
		GUARD_GOTO(hash(md, img, l->checksum + 4, l->headers - (l->checksum + 4)));
	}
	sum = l->headers;
	for (size_t i = 0; i < l->nsec; i++) {
		GUARD_GOTO(hash(md, img, l->sec[i].off, l->sec[i].len));
		sum += l->sec[i].len; /* no overflow: disjoint spans of one file */
	}
	/* What follows the sections, up to the certificate table.  As UEFI
	 * firmware counts it (EDK II's image measurement): from the number of
	 * bytes hashed so far, not from the end of the last section. */
	if (len > sum) {
		ENSURE_GOTO(len - sum >= l->cert_size, ERR_INVAL,
		            "PE: the certificate table (0x%zx bytes) overlaps the sections",
		            l->cert_size);
		GUARD_GOTO(hash(md, img, sum, len - sum - l->cert_size));
	}
	ENSURE_GOTO(EVP_DigestFinal_ex(md, out, &n) == 1 && n == 48, ERR_CRYPTO,
	            "PE: SHA-384 failed");
out:
	EVP_MD_CTX_free(md);
	free(l);
	return rc;
}
