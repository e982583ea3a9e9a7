#include "x509lite.h"

#include "crypto/p256.h"
#include "util/bytes.h"
#include "util/err.h"

#include <stdio.h>
#include <string.h>

enum {
	TAG_BOOLEAN = 0x01,
	TAG_INTEGER = 0x02,
	TAG_BIT_STRING = 0x03,
	TAG_OCTET_STRING = 0x04,
	TAG_OID = 0x06,
	TAG_UTC_TIME = 0x17,
	TAG_GENERALIZED_TIME = 0x18,
	TAG_SEQUENCE = 0x30,
	TAG_CTX0 = 0xa0, /* [0] constructed */
	TAG_CTX3 = 0xa3,
};

/* OID contents (without tag and length). */
static const uint8_t oid_ecdsa_sha256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t oid_ec_public_key[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const uint8_t oid_prime256v1[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_basic_constraints[] = {0x55, 0x1d, 0x13};
static const uint8_t oid_key_usage[] = {0x55, 0x1d, 0x0f};
static const uint8_t oid_sgx[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};

/* One DER TLV: single-byte tag, definite minimal length.  `content` reads
 * the value; `whole` (optional) spans tag..end. */
static int tlv(struct rd *r, uint8_t want, struct rd *content, struct der_span *whole,
               const char *field)
{
	size_t start = r->off, len = 0;
	uint8_t tag, b;

	GUARD(rd_u8(r, &tag, field));
	ENSURE(tag == want, ERR_INVAL, "%s: %s has tag 0x%02x at offset %zu, expected 0x%02x",
	       r->what, field, tag, start, want);
	GUARD(rd_u8(r, &b, field));
	if (b < 0x80) {
		len = b;
	} else {
		int n = b & 0x7f;
		ENSURE(n >= 1 && n <= 3, ERR_INVAL, "%s: %s: bad length at offset %zu", r->what,
		       field, start);
		for (int i = 0; i < n; i++) {
			GUARD(rd_u8(r, &b, field));
			ENSURE(i > 0 || b != 0, ERR_INVAL, "%s: %s: non-minimal length", r->what,
			       field);
			len = len << 8 | b;
		}
		ENSURE(len >= 0x80, ERR_INVAL, "%s: %s: non-minimal length", r->what, field);
	}
	GUARD(rd_sub(r, content, len, field));
	if (whole) {
		whole->p = r->buf + start;
		whole->len = r->off - start;
	}
	return 0;
}

static int peek_tag(const struct rd *r)
{
	return rd_left(r) ? r->buf[r->off] : -1;
}

static struct der_span rest(const struct rd *r)
{
	struct der_span s = {r->buf + r->off, rd_left(r)};
	return s;
}

static int span_eq(struct der_span s, const uint8_t *p, size_t n)
{
	return s.len == n && memcmp(s.p, p, n) == 0;
}

static int expect_oid(struct rd *r, const uint8_t *oid, size_t n, const char *field)
{
	struct rd c;
	GUARD(tlv(r, TAG_OID, &c, NULL, field));
	ENSURE(span_eq(rest(&c), oid, n), ERR_UNSUPPORTED, "%s: %s: unsupported algorithm", r->what,
	       field);
	return 0;
}

/* AlgorithmIdentifier ecdsa-with-SHA256 (parameters absent). */
static int sigalg(struct rd *r, struct der_span *whole, const char *field)
{
	struct rd c;
	GUARD(tlv(r, TAG_SEQUENCE, &c, whole, field));
	GUARD(expect_oid(&c, oid_ecdsa_sha256, sizeof(oid_ecdsa_sha256), field));
	ENSURE(rd_left(&c) == 0, ERR_INVAL, "%s: %s: unexpected parameters", r->what, field);
	return 0;
}

static int digits(const uint8_t *p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

static int der_time(struct rd *r, time_t *out, const char *field)
{
	struct rd c;
	struct tm tm;
	const uint8_t *p;
	int y, mo, d, h, mi, s, tag = peek_tag(r), ylen;

	ENSURE(tag == TAG_UTC_TIME || tag == TAG_GENERALIZED_TIME, ERR_INVAL,
	       "%s: %s is not a time", r->what, field);
	GUARD(tlv(r, (uint8_t)tag, &c, NULL, field));
	ylen = tag == TAG_UTC_TIME ? 2 : 4;
	ENSURE(rd_left(&c) == (size_t)ylen + 11, ERR_INVAL, "%s: %s: bad time length", r->what,
	       field);
	p = c.buf + c.off;
	ENSURE(p[ylen + 10] == 'Z' && digits(p, ylen, &y) == 0 && digits(p + ylen, 2, &mo) == 0 &&
	           digits(p + ylen + 2, 2, &d) == 0 && digits(p + ylen + 4, 2, &h) == 0 &&
	           digits(p + ylen + 6, 2, &mi) == 0 && digits(p + ylen + 8, 2, &s) == 0 &&
	           mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && s <= 60,
	       ERR_INVAL, "%s: %s: malformed time", r->what, field);
	if (ylen == 2)
		y += y < 50 ? 2000 : 1900; /* RFC 5280 4.1.2.5.1 */
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	*out = timegm(&tm);
	return 0;
}

/* A DER INTEGER of a P-256 signature: positive, minimal (a leading 0x00
 * only before a byte >= 0x80), at most 32 significant bytes; left-padded. */
static int sig_int(struct rd *seq, uint8_t out[32], const char *field)
{
	struct rd c;
	size_t n;
	const uint8_t *p;

	GUARD(tlv(seq, TAG_INTEGER, &c, NULL, field));
	n = rd_left(&c);
	ENSURE(n >= 1, ERR_INVAL, "%s: %s: empty INTEGER", seq->what, field);
	GUARD(rd_view(&c, &p, n, field));
	ENSURE(!(p[0] & 0x80), ERR_INVAL, "%s: %s: negative INTEGER", seq->what, field);
	if (p[0] == 0) {
		ENSURE(n >= 2 && (p[1] & 0x80), ERR_INVAL, "%s: %s: non-minimal INTEGER", seq->what,
		       field);
		p++;
		n--;
	}
	ENSURE(n <= 32, ERR_INVAL, "%s: %s: INTEGER over 256 bits", seq->what, field);
	memset(out, 0, 32 - n);
	memcpy(out + 32 - n, p, n);
	return 0;
}

/* BIT STRING holding a DER ECDSA-Sig-Value -> raw r||s.  Canonical DER
 * only: the SEQUENCE fills the BIT STRING exactly and holds two minimal
 * INTEGERs and nothing else (as `openssl verify` requires). */
static int signature(struct rd *r, uint8_t sig[64], const char *field)
{
	struct rd c, seq;
	uint8_t unused;
	GUARD(tlv(r, TAG_BIT_STRING, &c, NULL, field));
	GUARD(rd_u8(&c, &unused, field));
	ENSURE(unused == 0, ERR_INVAL, "%s: %s: unused bits", r->what, field);
	GUARD(tlv(&c, TAG_SEQUENCE, &seq, NULL, "ECDSA-Sig-Value"));
	ENSURE(rd_left(&c) == 0, ERR_INVAL, "%s: %s: trailing bytes after the ECDSA signature",
	       r->what, field);
	GUARD(sig_int(&seq, sig, "ECDSA-Sig-Value.r"));
	GUARD(sig_int(&seq, sig + 32, "ECDSA-Sig-Value.s"));
	ENSURE(rd_left(&seq) == 0, ERR_INVAL, "%s: %s: trailing bytes in the ECDSA signature",
	       r->what, field);
	return 0;
}

static int spki(struct rd *r, uint8_t pub[64])
{
	struct rd c, alg, bits;
	uint8_t unused, form;

	GUARD(tlv(r, TAG_SEQUENCE, &c, NULL, "subjectPublicKeyInfo"));
	GUARD(tlv(&c, TAG_SEQUENCE, &alg, NULL, "subjectPublicKeyInfo.algorithm"));
	GUARD(expect_oid(&alg, oid_ec_public_key, sizeof(oid_ec_public_key), "public key type"));
	GUARD(expect_oid(&alg, oid_prime256v1, sizeof(oid_prime256v1), "public key curve"));
	GUARD(tlv(&c, TAG_BIT_STRING, &bits, NULL, "subjectPublicKey"));
	GUARD(rd_u8(&bits, &unused, "subjectPublicKey"));
	GUARD(rd_u8(&bits, &form, "subjectPublicKey"));
	ENSURE(unused == 0 && form == 0x04 && rd_left(&bits) == 64, ERR_UNSUPPORTED,
	       "%s: public key is not an uncompressed P-256 point", r->what);
	GUARD(rd_copy(&bits, pub, 64, "subjectPublicKey"));
	ENSURE(rd_left(&alg) == 0 && rd_left(&c) == 0, ERR_INVAL,
	       "%s: trailing bytes in subjectPublicKeyInfo", r->what);
	return 0;
}

static int basic_constraints(struct rd *v, int *is_ca)
{
	struct rd seq, b;
	GUARD(tlv(v, TAG_SEQUENCE, &seq, NULL, "basicConstraints"));
	*is_ca = 0;
	if (peek_tag(&seq) == TAG_BOOLEAN) {
		GUARD(tlv(&seq, TAG_BOOLEAN, &b, NULL, "basicConstraints.cA"));
		ENSURE(rd_left(&b) == 1, ERR_INVAL, "%s: bad BOOLEAN", v->what);
		*is_ca = b.buf[b.off] == 0xff;
	}
	if (peek_tag(&seq) == TAG_INTEGER)
		GUARD(tlv(&seq, TAG_INTEGER, &b, NULL, "basicConstraints.pathLen"));
	ENSURE(rd_left(&seq) == 0, ERR_INVAL, "%s: trailing bytes in basicConstraints", v->what);
	return 0;
}

static int key_usage(struct rd *v, int *ku)
{
	struct rd bits;
	uint8_t unused, b0 = 0, b1 = 0;
	GUARD(tlv(v, TAG_BIT_STRING, &bits, NULL, "keyUsage"));
	GUARD(rd_u8(&bits, &unused, "keyUsage"));
	ENSURE(unused < 8 && rd_left(&bits) >= 1 && rd_left(&bits) <= 2, ERR_INVAL,
	       "%s: bad keyUsage", v->what);
	GUARD(rd_u8(&bits, &b0, "keyUsage"));
	if (rd_left(&bits))
		GUARD(rd_u8(&bits, &b1, "keyUsage"));
	/* BIT STRING bit 0 is the most significant bit of the first byte. */
	*ku = 0;
	for (int i = 0; i < 8; i++)
		if (b0 & (0x80 >> i))
			*ku |= 1 << i;
	if (b1 & 0x80)
		*ku |= 1 << 8;
	return 0;
}

/* OID content in DER: at least one arc, each arc minimal (no leading 0x80)
 * and complete, so that two OIDs are equal exactly when their bytes are. */
static int oid_valid(struct der_span o)
{
	if (o.len == 0 || (o.p[o.len - 1] & 0x80))
		return 0;
	for (size_t i = 0; i < o.len; i++)
		if (o.p[i] == 0x80 && (i == 0 || !(o.p[i - 1] & 0x80)))
			return 0;
	return 1;
}

/* Dotted text of a valid OID, for error messages. */
static const char *oid_text(struct der_span o, char *buf, size_t cap)
{
	unsigned long long arc = 0;
	size_t n = 0;
	int first = 1;

	buf[0] = '\0';
	for (size_t i = 0; i < o.len && n < cap; i++) {
		int w;
		if (arc > (~0ULL >> 7))
			return "(OID with an arc over 64 bits)";
		arc = arc << 7 | (o.p[i] & 0x7f);
		if (o.p[i] & 0x80)
			continue;
		if (first) {
			unsigned long long top = arc < 80 ? arc / 40 : 2;
			w = snprintf(buf + n, cap - n, "%llu.%llu", top, arc - 40 * top);
			first = 0;
		} else {
			w = snprintf(buf + n, cap - n, ".%llu", arc);
		}
		if (w < 0)
			return "(OID)";
		n += (size_t)w;
		arc = 0;
	}
	return buf;
}

/* Intel's certificates carry six extensions at most; the cap bounds the
 * search for a repeated one. */
#define MAX_EXTENSIONS 32

static int extensions(struct rd *r, struct x509_lite *x)
{
	struct rd outer, list;
	struct der_span ids[MAX_EXTENSIONS];
	size_t n = 0;

	GUARD(tlv(r, TAG_CTX3, &outer, NULL, "extensions"));
	GUARD(tlv(&outer, TAG_SEQUENCE, &list, NULL, "extensions"));
	while (rd_left(&list)) {
		struct rd ext, oid, val, crit;
		int critical = 0;
		char text[96];
		GUARD(tlv(&list, TAG_SEQUENCE, &ext, NULL, "extension"));
		GUARD(tlv(&ext, TAG_OID, &oid, NULL, "extension.id"));
		ENSURE(oid_valid(rest(&oid)), ERR_INVAL, "%s: malformed extension OID", r->what);
		ENSURE(n < MAX_EXTENSIONS, ERR_UNSUPPORTED, "%s: more than %d extensions", r->what,
		       MAX_EXTENSIONS);
		/* RFC 5280 4.2: at most one instance of an extension.  Refused
		 * rather than read, so that no reader takes the first and
		 * another the last. */
		for (size_t i = 0; i < n; i++)
			ENSURE(!span_eq(ids[i], rest(&oid).p, rest(&oid).len), ERR_INVAL,
			       "%s: duplicate extension %s", r->what,
			       oid_text(rest(&oid), text, sizeof(text)));
		ids[n++] = rest(&oid);
		if (peek_tag(&ext) == TAG_BOOLEAN) {
			GUARD(tlv(&ext, TAG_BOOLEAN, &crit, NULL, "extension.critical"));
			ENSURE(rd_left(&crit) == 1, ERR_INVAL, "%s: bad BOOLEAN", r->what);
			critical = crit.buf[crit.off] == 0xff;
		}
		GUARD(tlv(&ext, TAG_OCTET_STRING, &val, NULL, "extension.value"));
		ENSURE(rd_left(&ext) == 0, ERR_INVAL, "%s: trailing bytes in an extension",
		       r->what);
		if (span_eq(rest(&oid), oid_basic_constraints, sizeof(oid_basic_constraints))) {
			GUARD(basic_constraints(&val, &x->is_ca));
		} else if (span_eq(rest(&oid), oid_key_usage, sizeof(oid_key_usage))) {
			GUARD(key_usage(&val, &x->key_usage));
		} else if (span_eq(rest(&oid), oid_sgx, sizeof(oid_sgx))) {
			x->sgx_ext = rest(&val);
		} else {
			/* RFC 5280: a critical extension we do not know means refuse. */
			ENSURE(!critical, ERR_UNSUPPORTED, "%s: unknown critical extension",
			       r->what);
		}
	}
	ENSURE(rd_left(&outer) == 0, ERR_INVAL, "%s: trailing bytes after extensions", r->what);
	return 0;
}

int x509_lite_parse(const uint8_t *der, size_t len, const char *what, struct x509_lite *x)
{
	struct rd r, cert, tbs, c;
	struct der_span alg_in, alg_out;

	memset(x, 0, sizeof(*x));
	x->key_usage = -1;
	rd_init(&r, der, len, what);
	GUARD(tlv(&r, TAG_SEQUENCE, &cert, NULL, "Certificate"));
	ENSURE(rd_left(&r) == 0, ERR_INVAL, "%s: trailing bytes after the certificate", what);
	GUARD(tlv(&cert, TAG_SEQUENCE, &tbs, &x->tbs, "tbsCertificate"));
	/* version [0] EXPLICIT INTEGER: v3 (2) only. */
	GUARD(tlv(&tbs, TAG_CTX0, &c, NULL, "version"));
	{
		struct rd v;
		GUARD(tlv(&c, TAG_INTEGER, &v, NULL, "version"));
		ENSURE(rd_left(&v) == 1 && v.buf[v.off] == 2, ERR_UNSUPPORTED,
		       "%s: not an X.509 v3 certificate", what);
	}
	GUARD(tlv(&tbs, TAG_INTEGER, &c, NULL, "serialNumber"));
	x->serial = rest(&c);
	ENSURE(x->serial.len >= 1 && x->serial.len <= 21, ERR_INVAL, "%s: bad serial number", what);
	GUARD(sigalg(&tbs, &alg_in, "signature"));
	GUARD(tlv(&tbs, TAG_SEQUENCE, &c, &x->issuer, "issuer"));
	GUARD(tlv(&tbs, TAG_SEQUENCE, &c, NULL, "validity"));
	GUARD(der_time(&c, &x->not_before, "notBefore"));
	GUARD(der_time(&c, &x->not_after, "notAfter"));
	ENSURE(rd_left(&c) == 0, ERR_INVAL, "%s: trailing bytes in validity", what);
	GUARD(tlv(&tbs, TAG_SEQUENCE, &c, &x->subject, "subject"));
	GUARD(spki(&tbs, x->pub));
	/* Optional issuer/subject unique IDs are not used by Intel: refuse. */
	if (rd_left(&tbs))
		GUARD(extensions(&tbs, x));
	ENSURE(rd_left(&tbs) == 0, ERR_INVAL, "%s: trailing bytes in tbsCertificate", what);
	GUARD(sigalg(&cert, &alg_out, "signatureAlgorithm"));
	ENSURE(alg_in.len == alg_out.len && memcmp(alg_in.p, alg_out.p, alg_in.len) == 0, ERR_INVAL,
	       "%s: signature algorithms differ", what);
	GUARD(signature(&cert, x->sig, "signatureValue"));
	ENSURE(rd_left(&cert) == 0, ERR_INVAL, "%s: trailing bytes in Certificate", what);
	return 0;
}

int crl_lite_parse(const uint8_t *der, size_t len, const char *what, struct crl_lite *crl)
{
	struct rd r, list, tbs, c;
	struct der_span alg_in, alg_out;

	memset(crl, 0, sizeof(*crl));
	rd_init(&r, der, len, what);
	GUARD(tlv(&r, TAG_SEQUENCE, &list, NULL, "CertificateList"));
	ENSURE(rd_left(&r) == 0, ERR_INVAL, "%s: trailing bytes after the CRL", what);
	GUARD(tlv(&list, TAG_SEQUENCE, &tbs, &crl->tbs, "tbsCertList"));
	if (peek_tag(&tbs) == TAG_INTEGER) {
		GUARD(tlv(&tbs, TAG_INTEGER, &c, NULL, "version"));
		ENSURE(rd_left(&c) == 1 && c.buf[c.off] == 1, ERR_UNSUPPORTED, "%s: not a v2 CRL",
		       what);
	}
	GUARD(sigalg(&tbs, &alg_in, "signature"));
	GUARD(tlv(&tbs, TAG_SEQUENCE, &c, &crl->issuer, "issuer"));
	GUARD(der_time(&tbs, &crl->this_update, "thisUpdate"));
	ENSURE(peek_tag(&tbs) == TAG_UTC_TIME || peek_tag(&tbs) == TAG_GENERALIZED_TIME, ERR_INVAL,
	       "%s: no nextUpdate", what);
	GUARD(der_time(&tbs, &crl->next_update, "nextUpdate"));
	if (peek_tag(&tbs) == TAG_SEQUENCE) {
		GUARD(tlv(&tbs, TAG_SEQUENCE, &c, NULL, "revokedCertificates"));
		crl->revoked = rest(&c);
		/* Validate every entry now so lookups cannot meet bad data. */
		while (rd_left(&c)) {
			struct rd e, sn;
			time_t t;
			GUARD(tlv(&c, TAG_SEQUENCE, &e, NULL, "revokedCertificate"));
			GUARD(tlv(&e, TAG_INTEGER, &sn, NULL, "userCertificate"));
			GUARD(der_time(&e, &t, "revocationDate"));
			if (rd_left(&e)) {
				struct rd ex;
				GUARD(tlv(&e, TAG_SEQUENCE, &ex, NULL, "crlEntryExtensions"));
			}
			ENSURE(rd_left(&e) == 0, ERR_INVAL, "%s: trailing bytes in an entry", what);
		}
	}
	if (rd_left(&tbs))
		GUARD(tlv(&tbs, TAG_CTX0, &c, NULL, "crlExtensions"));
	ENSURE(rd_left(&tbs) == 0, ERR_INVAL, "%s: trailing bytes in tbsCertList", what);
	GUARD(sigalg(&list, &alg_out, "signatureAlgorithm"));
	ENSURE(alg_in.len == alg_out.len && memcmp(alg_in.p, alg_out.p, alg_in.len) == 0, ERR_INVAL,
	       "%s: signature algorithms differ", what);
	GUARD(signature(&list, crl->sig, "signatureValue"));
	ENSURE(rd_left(&list) == 0, ERR_INVAL, "%s: trailing bytes in CertificateList", what);
	return 0;
}

int crl_lite_revoked(const struct crl_lite *crl, const struct der_span *serial)
{
	struct rd c, e, sn;
	rd_init(&c, crl->revoked.p, crl->revoked.len, "CRL");
	/* Entries were validated by crl_lite_parse. */
	while (rd_left(&c)) {
		if (tlv(&c, TAG_SEQUENCE, &e, NULL, "entry") < 0 ||
		    tlv(&e, TAG_INTEGER, &sn, NULL, "serial") < 0)
			return 1; /* cannot happen; fail closed */
		if (span_eq(rest(&sn), serial->p, serial->len))
			return 1;
	}
	return 0;
}
