#include "pck.h"

#include "tdx/collateral.h"
#include "util/codec.h"
#include "util/err.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many "-----BEGIN CERTIFICATE-----" lines the text holds. */
static int pem_blocks(const uint8_t *pem, size_t len)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	const uint8_t *p = pem, *end = pem + len;
	int n = 0;

	while ((p = memmem(p, (size_t)(end - p), begin, sizeof(begin) - 1))) {
		n++;
		p += sizeof(begin) - 1;
	}
	return n;
}

int tdx_pck_chain_parse(const uint8_t *pem, size_t len, STACK_OF(X509) * *out)
{
	STACK_OF(X509) *sk = NULL;
	BIO *bio = NULL;
	int rc = 0;

	*out = NULL;
	/* Some quote generators NUL-terminate the PEM text. */
	while (len && (pem[len - 1] == '\0' || pem[len - 1] == '\n' || pem[len - 1] == '\r' ||
	               pem[len - 1] == ' '))
		len--;
	ENSURE(len > 0 && len <= 64 * 1024, ERR_INVAL, "PCK chain: empty or over 64 KiB");
	sk = sk_X509_new_null();
	bio = BIO_new_mem_buf(pem, (int)len);
	ENSURE_GOTO(sk && bio, ERR_NOMEM, "PCK chain: out of memory");
	for (;;) {
		X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (!x)
			break;
		if (sk_X509_num(sk) >= TDX_PCK_CHAIN_MAX_CERTS || !sk_X509_push(sk, x)) {
			X509_free(x);
			ENSURE_GOTO(0, ERR_INVAL, "PCK chain: more than %d certificates",
			            TDX_PCK_CHAIN_MAX_CERTS);
		}
	}
	/* The loop ends on EOF (PEM_R_NO_START_LINE) or on a broken block. */
	{
		unsigned long e = ERR_peek_last_error();
		int eof = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
		if (e && !eof) {
			rc = err_set_openssl(ERR_INVAL, "PCK chain: malformed PEM certificate");
			goto out;
		}
		ERR_clear_error();
	}
	ENSURE_GOTO(sk_X509_num(sk) > 0, ERR_INVAL, "PCK chain: no PEM certificate found");
	/* Every block read: OpenSSL's PEM reader, when an allocation fails,
	 * may end as it does at the end of the input (tests/unit/
	 * test_alloc_fail.c saw a chain cut short and accepted). */
	ENSURE_GOTO(sk_X509_num(sk) == pem_blocks(pem, len), ERR_INVAL,
	            "PCK chain: %d of %d PEM certificates read", sk_X509_num(sk),
	            pem_blocks(pem, len));
	*out = sk;
	sk = NULL;
out:
	sk_X509_pop_free(sk, X509_free);
	BIO_free(bio);
	return rc;
}

/* Decode a SEQUENCE-typed value into its elements. */
static int open_seq(const ASN1_TYPE *v, const char *name, STACK_OF(ASN1_TYPE) * *out)
{
	const unsigned char *p;

	ENSURE(v->type == V_ASN1_SEQUENCE, ERR_INVAL, "%s is not a SEQUENCE", name);
	p = v->value.sequence->data;
	*out = d2i_ASN1_SEQUENCE_ANY(NULL, &p, v->value.sequence->length);
	if (!*out)
		return err_set_openssl(ERR_INVAL, name);
	return 0;
}

/* Each element of the extension is SEQUENCE { OID, value }. */
static int split_pair(const ASN1_TYPE *t, char *oid, size_t oidcap, STACK_OF(ASN1_TYPE) * *pair,
                      const char *where)
{
	STACK_OF(ASN1_TYPE) * sk;
	ASN1_TYPE *o;
	int n = 0;

	GUARD(open_seq(t, "SGX extension: element", &sk));
	o = sk_ASN1_TYPE_num(sk) == 2 ? sk_ASN1_TYPE_value(sk, 0) : NULL;
	if (o && o->type == V_ASN1_OBJECT)
		n = OBJ_obj2txt(oid, (int)oidcap, o->value.object, 1);
	/* A longer OID would be cut, and two cut ones could look equal. */
	if (n <= 0 || (size_t)n >= oidcap) {
		sk_ASN1_TYPE_pop_free(sk, ASN1_TYPE_free);
		return err_set(ERR_INVAL, "SGX extension: %s: element is not {OID, value}", where);
	}
	*pair = sk;
	return 0;
}

static int get_octets(const ASN1_TYPE *v, uint8_t *out, size_t n, const char *name)
{
	ENSURE(v->type == V_ASN1_OCTET_STRING, ERR_INVAL,
	       "SGX extension: %s is not an OCTET STRING", name);
	ENSURE((size_t)v->value.octet_string->length == n, ERR_INVAL,
	       "SGX extension: %s has %d bytes, expected %zu", name, v->value.octet_string->length,
	       n);
	memcpy(out, v->value.octet_string->data, n);
	return 0;
}

static int get_int(const ASN1_TYPE *v, int type, int64_t max, int64_t *out, const char *name)
{
	int64_t x;
	int ok;

	ENSURE(v->type == type, ERR_INVAL, "SGX extension: %s has the wrong ASN.1 type", name);
	ok = type == V_ASN1_ENUMERATED ? ASN1_ENUMERATED_get_int64(&x, v->value.enumerated)
	                               : ASN1_INTEGER_get_int64(&x, v->value.integer);
	ENSURE(ok && x >= 0 && x <= max, ERR_INVAL, "SGX extension: %s out of range (0..%lld)",
	       name, (long long)max);
	*out = x;
	return 0;
}

/* Sub-OID number after `prefix.`, or -1 when oid is not directly under it. */
static int sub_arc(const char *oid, const char *prefix)
{
	size_t n = strlen(prefix);
	char *end;
	long v;

	if (strncmp(oid, prefix, n) != 0 || oid[n] != '.')
		return -1;
	v = strtol(oid + n + 1, &end, 10);
	return *end == '\0' && v > 0 && v < 1000 ? (int)v : -1;
}

/* The OIDs met so far at one level of the extension; a repeated one is
 * refused, as a repeated extension is (the first and the last instance
 * could differ, and readers differ in which they take). */
struct oid_set {
	char (*oid)[80];
	int n;
};

static int oid_set_init(struct oid_set *s, const STACK_OF(ASN1_TYPE) * sk)
{
	int n = sk_ASN1_TYPE_num(sk);
	s->n = 0;
	s->oid = calloc(n > 0 ? (size_t)n : 1, sizeof(*s->oid));
	ENSURE(s->oid, ERR_NOMEM, "out of memory");
	return 0;
}

static int oid_set_add(struct oid_set *s, const char *oid, const char *where)
{
	for (int i = 0; i < s->n; i++)
		ENSURE(strcmp(s->oid[i], oid) != 0, ERR_INVAL, "SGX extension: duplicate OID %s%s",
		       oid, where);
	snprintf(s->oid[s->n++], sizeof(s->oid[0]), "%s", oid);
	return 0;
}

static int parse_tcb(const ASN1_TYPE *v, struct tdx_pck_ext *out)
{
	STACK_OF(ASN1_TYPE) *sk = NULL, *pair = NULL;
	uint32_t seen = 0;
	char oid[80];
	int rc = 0;

	GUARD(open_seq(v, "SGX extension: TCB", &sk));
	for (int i = 0; i < sk_ASN1_TYPE_num(sk); i++) {
		const ASN1_TYPE *val;
		int64_t x;
		int arc;

		GUARD_GOTO(split_pair(sk_ASN1_TYPE_value(sk, i), oid, sizeof(oid), &pair, "TCB"));
		val = sk_ASN1_TYPE_value(pair, 1);
		arc = sub_arc(oid, TDX_SGX_EXT_OID ".2");
		ENSURE_GOTO(arc >= 1 && arc <= 18, ERR_INVAL,
		            "SGX extension: unexpected OID %s in TCB", oid);
		ENSURE_GOTO(!(seen & (1u << arc)), ERR_INVAL,
		            "SGX extension: duplicate OID %s in TCB", oid);
		seen |= 1u << arc;
		if (arc <= 16) {
			GUARD_GOTO(get_int(val, V_ASN1_INTEGER, 255, &x, "TCB component SVN"));
			out->comp_svn[arc - 1] = (uint8_t)x;
		} else if (arc == 17) {
			GUARD_GOTO(get_int(val, V_ASN1_INTEGER, 65535, &x, "PCESVN"));
			out->pcesvn = (uint16_t)x;
		} else {
			GUARD_GOTO(get_octets(val, out->cpusvn, 16, "CPUSVN"));
		}
		sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
		pair = NULL;
	}
	ENSURE_GOTO(seen == 0x7fffeu, ERR_INVAL,
	            "SGX extension: TCB lacks some of its 18 entries (16 SVNs, PCESVN, CPUSVN)");
out:
	sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
	sk_ASN1_TYPE_pop_free(sk, ASN1_TYPE_free);
	return rc;
}

static int parse_config(const ASN1_TYPE *v, struct tdx_pck_ext *out)
{
	STACK_OF(ASN1_TYPE) *sk = NULL, *pair = NULL;
	struct oid_set seen = {NULL, 0};
	char oid[80];
	int rc = 0;

	GUARD(open_seq(v, "SGX extension: Configuration", &sk));
	GUARD_GOTO(oid_set_init(&seen, sk));
	for (int i = 0; i < sk_ASN1_TYPE_num(sk); i++) {
		const ASN1_TYPE *val;
		int arc;

		GUARD_GOTO(split_pair(sk_ASN1_TYPE_value(sk, i), oid, sizeof(oid), &pair,
		                      "Configuration"));
		GUARD_GOTO(oid_set_add(&seen, oid, " in Configuration"));
		val = sk_ASN1_TYPE_value(pair, 1);
		arc = sub_arc(oid, TDX_SGX_EXT_OID ".7");
		ENSURE_GOTO(val->type == V_ASN1_BOOLEAN, ERR_INVAL,
		            "SGX extension: Configuration entry %s is not a BOOLEAN", oid);
		if (arc == 1)
			out->dynamic_platform = val->value.boolean != 0;
		else if (arc == 2)
			out->cached_keys = val->value.boolean != 0;
		else if (arc == 3)
			out->smt_enabled = val->value.boolean != 0;
		sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
		pair = NULL;
	}
out:
	free(seen.oid);
	sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
	sk_ASN1_TYPE_pop_free(sk, ASN1_TYPE_free);
	return rc;
}

int tdx_pck_ext_parse(const uint8_t *der, size_t len, struct tdx_pck_ext *out)
{
	STACK_OF(ASN1_TYPE) *sk = NULL, *pair = NULL;
	const unsigned char *p = der;
	struct oid_set oids = {NULL, 0};
	uint32_t seen = 0;
	char oid[80];
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->dynamic_platform = out->cached_keys = out->smt_enabled = -1;
	ENSURE(len > 0 && len <= 4096, ERR_INVAL, "SGX extension: bad length %zu", len);
	sk = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)len);
	if (!sk)
		return err_set_openssl(ERR_INVAL, "SGX extension: not a DER SEQUENCE");
	ENSURE_GOTO(p == der + len, ERR_INVAL, "SGX extension: trailing bytes after the SEQUENCE");
	GUARD_GOTO(oid_set_init(&oids, sk));
	for (int i = 0; i < sk_ASN1_TYPE_num(sk); i++) {
		const ASN1_TYPE *val;
		int64_t x;
		int arc;

		GUARD_GOTO(split_pair(sk_ASN1_TYPE_value(sk, i), oid, sizeof(oid), &pair, "top"));
		/* Known or not: a later Intel addition read twice is as ambiguous. */
		GUARD_GOTO(oid_set_add(&oids, oid, ""));
		val = sk_ASN1_TYPE_value(pair, 1);
		arc = sub_arc(oid, TDX_SGX_EXT_OID);
		if (arc >= 1 && arc <= 7)
			seen |= 1u << arc;
		switch (arc) {
		case 1: GUARD_GOTO(get_octets(val, out->ppid, 16, "PPID")); break;
		case 2: GUARD_GOTO(parse_tcb(val, out)); break;
		case 3: GUARD_GOTO(get_octets(val, out->pceid, 2, "PCE-ID")); break;
		case 4: GUARD_GOTO(get_octets(val, out->fmspc, 6, "FMSPC")); break;
		case 5:
			GUARD_GOTO(get_int(val, V_ASN1_ENUMERATED, 2, &x, "SGX Type"));
			out->sgx_type = (int)x;
			break;
		case 6:
			GUARD_GOTO(
			    get_octets(val, out->platform_instance_id, 16, "PlatformInstanceID"));
			out->has_platform_instance_id = 1;
			break;
		case 7: GUARD_GOTO(parse_config(val, out)); break;
		default: break; /* later Intel additions are ignored, as Intel's QVL does */
		}
		sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
		pair = NULL;
	}
	ENSURE_GOTO((seen & 0x3eu) == 0x3eu, ERR_INVAL,
	            "SGX extension: missing one of PPID, TCB, PCE-ID, FMSPC, SGX Type");
out:
	free(oids.oid);
	sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
	sk_ASN1_TYPE_pop_free(sk, ASN1_TYPE_free);
	return rc;
}

/* As lib/tdx/x509lite.c: at most 32 extensions, none repeated (RFC 5280
 * 4.2), so that both certificate readers see the same extensions. */
#define MAX_EXTENSIONS 32

static int extensions_unique(const X509 *cert)
{
	int n = X509_get_ext_count(cert);

	ENSURE(n <= MAX_EXTENSIONS, ERR_UNSUPPORTED, "PCK certificate: more than %d extensions",
	       MAX_EXTENSIONS);
	for (int i = 0; i < n; i++) {
		const ASN1_OBJECT *a = X509_EXTENSION_get_object(X509_get_ext(cert, i));
		for (int j = 0; j < i; j++) {
			const ASN1_OBJECT *b = X509_EXTENSION_get_object(X509_get_ext(cert, j));
			char text[96];
			if (OBJ_cmp(a, b) != 0)
				continue;
			if (OBJ_obj2txt(text, sizeof(text), a, 1) <= 0)
				snprintf(text, sizeof(text), "(OID)");
			return err_set(ERR_INVAL, "PCK certificate: duplicate extension %s", text);
		}
	}
	return 0;
}

int tdx_pck_ext_from_cert(X509 *cert, struct tdx_pck_ext *out)
{
	ASN1_OBJECT *obj;
	const ASN1_OCTET_STRING *os;
	X509_EXTENSION *ext;
	int idx;

	GUARD(extensions_unique(cert));
	obj = OBJ_txt2obj(TDX_SGX_EXT_OID, 1);
	ENSURE(obj, ERR_NOMEM, "out of memory");
	idx = X509_get_ext_by_OBJ(cert, obj, -1);
	ASN1_OBJECT_free(obj);
	ENSURE(idx >= 0, ERR_INVAL, "PCK certificate: no Intel SGX extension (OID %s)",
	       TDX_SGX_EXT_OID);
	ext = X509_get_ext(cert, idx);
	os = X509_EXTENSION_get_data(ext);
	return tdx_pck_ext_parse(os->data, (size_t)os->length, out);
}

/* ---- encoding (for the simulated PKI) ---- */

/* Append SEQUENCE { OID(prefix.arc), value } to sk; takes ownership of v. */
static int push_pair(STACK_OF(ASN1_TYPE) * sk, const char *prefix, int arc, ASN1_TYPE *v)
{
	STACK_OF(ASN1_TYPE) *pair = sk_ASN1_TYPE_new_null();
	ASN1_TYPE *o = ASN1_TYPE_new(), *seq = ASN1_TYPE_new();
	ASN1_STRING *s = ASN1_STRING_new();
	unsigned char *der = NULL;
	char oid[80];
	int n, rc = 0;

	ENSURE_GOTO(pair && o && seq && s && v, ERR_NOMEM, "out of memory");
	snprintf(oid, sizeof(oid), "%s.%d", prefix, arc);
	ASN1_TYPE_set(o, V_ASN1_OBJECT, OBJ_txt2obj(oid, 1));
	ENSURE_GOTO(o->value.object, ERR_NOMEM, "out of memory");
	ENSURE_GOTO(sk_ASN1_TYPE_push(pair, o), ERR_NOMEM, "out of memory");
	o = NULL;
	ENSURE_GOTO(sk_ASN1_TYPE_push(pair, v), ERR_NOMEM, "out of memory");
	v = NULL;
	n = i2d_ASN1_SEQUENCE_ANY(pair, &der);
	ENSURE_GOTO(n > 0 && ASN1_STRING_set(s, der, n), ERR_NOMEM, "out of memory");
	ASN1_TYPE_set(seq, V_ASN1_SEQUENCE, s);
	s = NULL;
	ENSURE_GOTO(sk_ASN1_TYPE_push(sk, seq), ERR_NOMEM, "out of memory");
	seq = NULL;
out:
	OPENSSL_free(der);
	ASN1_STRING_free(s);
	ASN1_TYPE_free(seq);
	ASN1_TYPE_free(o);
	ASN1_TYPE_free(v);
	sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
	return rc;
}

static ASN1_TYPE *mk_octets(const uint8_t *p, size_t n)
{
	ASN1_TYPE *t = ASN1_TYPE_new();
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	if (!t || !os || !ASN1_OCTET_STRING_set(os, p, (int)n)) {
		ASN1_TYPE_free(t);
		ASN1_OCTET_STRING_free(os);
		return NULL;
	}
	ASN1_TYPE_set(t, V_ASN1_OCTET_STRING, os);
	return t;
}

static ASN1_TYPE *mk_int(int type, long v)
{
	ASN1_TYPE *t = ASN1_TYPE_new();
	ASN1_INTEGER *i = type == V_ASN1_ENUMERATED ? ASN1_ENUMERATED_new() : ASN1_INTEGER_new();
	int ok =
	    i && (type == V_ASN1_ENUMERATED ? ASN1_ENUMERATED_set(i, v) : ASN1_INTEGER_set(i, v));
	if (!t || !ok) {
		ASN1_TYPE_free(t);
		ASN1_INTEGER_free(i);
		return NULL;
	}
	ASN1_TYPE_set(t, type, i);
	return t;
}

/* Wrap a stack as a SEQUENCE-typed ASN1_TYPE (consumes nothing). */
static ASN1_TYPE *mk_seq(STACK_OF(ASN1_TYPE) * sk)
{
	ASN1_TYPE *t = ASN1_TYPE_new();
	ASN1_STRING *s = ASN1_STRING_new();
	unsigned char *der = NULL;
	int n = i2d_ASN1_SEQUENCE_ANY(sk, &der);
	if (!t || !s || n <= 0 || !ASN1_STRING_set(s, der, n)) {
		ASN1_TYPE_free(t);
		ASN1_STRING_free(s);
		OPENSSL_free(der);
		return NULL;
	}
	OPENSSL_free(der);
	ASN1_TYPE_set(t, V_ASN1_SEQUENCE, s);
	return t;
}

int tdx_pck_ext_encode(const struct tdx_pck_ext *e, uint8_t **der, size_t *len)
{
	STACK_OF(ASN1_TYPE) *top = sk_ASN1_TYPE_new_null(), *tcb = sk_ASN1_TYPE_new_null();
	const char *tcbp = TDX_SGX_EXT_OID ".2";
	unsigned char *out = NULL;
	int n, rc = 0;

	ENSURE_GOTO(top && tcb, ERR_NOMEM, "out of memory");
	for (int i = 0; i < 16; i++)
		GUARD_GOTO(push_pair(tcb, tcbp, i + 1, mk_int(V_ASN1_INTEGER, e->comp_svn[i])));
	GUARD_GOTO(push_pair(tcb, tcbp, 17, mk_int(V_ASN1_INTEGER, e->pcesvn)));
	GUARD_GOTO(push_pair(tcb, tcbp, 18, mk_octets(e->cpusvn, 16)));

	GUARD_GOTO(push_pair(top, TDX_SGX_EXT_OID, 1, mk_octets(e->ppid, 16)));
	GUARD_GOTO(push_pair(top, TDX_SGX_EXT_OID, 2, mk_seq(tcb)));
	GUARD_GOTO(push_pair(top, TDX_SGX_EXT_OID, 3, mk_octets(e->pceid, 2)));
	GUARD_GOTO(push_pair(top, TDX_SGX_EXT_OID, 4, mk_octets(e->fmspc, 6)));
	GUARD_GOTO(push_pair(top, TDX_SGX_EXT_OID, 5, mk_int(V_ASN1_ENUMERATED, e->sgx_type)));
	if (e->has_platform_instance_id)
		GUARD_GOTO(
		    push_pair(top, TDX_SGX_EXT_OID, 6, mk_octets(e->platform_instance_id, 16)));
	n = i2d_ASN1_SEQUENCE_ANY(top, &out);
	ENSURE_GOTO(n > 0, ERR_NOMEM, "SGX extension: encoding failed");
	*der = malloc((size_t)n);
	ENSURE_GOTO(*der, ERR_NOMEM, "out of memory");
	memcpy(*der, out, (size_t)n);
	*len = (size_t)n;
out:
	OPENSSL_free(out);
	sk_ASN1_TYPE_pop_free(tcb, ASN1_TYPE_free);
	sk_ASN1_TYPE_pop_free(top, ASN1_TYPE_free);
	return rc;
}

enum tdx_pck_ca tdx_pck_ca_type(X509 *leaf)
{
	char cn[128];
	X509_NAME *iss = X509_get_issuer_name(leaf);
	if (X509_NAME_get_text_by_NID(iss, NID_commonName, cn, sizeof(cn)) <= 0)
		return TDX_PCK_CA_UNKNOWN;
	if (strstr(cn, "Platform CA"))
		return TDX_PCK_CA_PLATFORM;
	if (strstr(cn, "Processor CA"))
		return TDX_PCK_CA_PROCESSOR;
	return TDX_PCK_CA_UNKNOWN;
}

const char *tdx_pck_ca_name(enum tdx_pck_ca ca)
{
	switch (ca) {
	case TDX_PCK_CA_PLATFORM: return "platform";
	case TDX_PCK_CA_PROCESSOR: return "processor";
	default: return "unknown";
	}
}

int tdx_pem_certs_der(const uint8_t *pem, size_t len, struct tdx_blob *ders, size_t max, size_t *n)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	static const char end[] = "-----END CERTIFICATE-----";
	const char *s = (const char *)pem, *lim = s + len;
	char *b64 = NULL;
	int rc = 0;

	*n = 0;
	for (;;) {
		const char *b = memmem(s, (size_t)(lim - s), begin, sizeof(begin) - 1), *e;
		size_t k = 0;
		if (!b)
			break;
		b += sizeof(begin) - 1;
		e = memmem(b, (size_t)(lim - b), end, sizeof(end) - 1);
		ENSURE_GOTO(e, ERR_INVAL, "PEM: certificate %zu has no END line", *n + 1);
		ENSURE_GOTO(*n < max, ERR_INVAL, "PEM: more than %zu certificates", max);
		b64 = malloc((size_t)(e - b) + 1);
		ENSURE_GOTO(b64, ERR_NOMEM, "out of memory");
		for (const char *c = b; c < e; c++)
			if (*c != '\n' && *c != '\r' && *c != ' ' && *c != '\t')
				b64[k++] = *c;
		rc = base64_decode(b64, k, &ders[*n].p, &ders[*n].len);
		free(b64);
		b64 = NULL;
		if (rc < 0) {
			rc = err_wrap(rc, "PEM: certificate %zu", *n + 1);
			goto out;
		}
		(*n)++;
		s = e + sizeof(end) - 1;
	}
	ENSURE_GOTO(*n > 0, ERR_INVAL, "PEM: no certificate found");
	return 0;
out:
	for (size_t i = 0; i < *n; i++)
		free(ders[i].p);
	*n = 0;
	return rc;
}
