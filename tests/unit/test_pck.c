/* PCK certificates: the Intel SGX extension from real PCK leaves, the
 * encoder's round trip, and refusal of malformed DER and PEM. */
#include "testutil.h"

#include "tdx/pck.h"
#include "tdx/quote.h"
#include "util/codec.h"
#include "util/err.h"

#include <openssl/objects.h>
#include <stdlib.h>
#include <string.h>

/* The leaf of a real quote's chain and its raw SGX extension bytes. */
static STACK_OF(X509) * quote_chain(const char *rel)
{
	STACK_OF(X509) * chain;
	struct tdx_quote *q;
	size_t len;
	uint8_t *buf = td_read(rel, &len);
	assert_int_equal(tdx_quote_parse(buf, len, &q), 0);
	assert_int_equal(tdx_pck_chain_parse(q->pck_chain, q->pck_chain_len, &chain), 0);
	tdx_quote_free(q);
	free(buf);
	return chain;
}

static const ASN1_OCTET_STRING *sgx_ext(X509 *x)
{
	ASN1_OBJECT *o = OBJ_txt2obj(TDX_SGX_EXT_OID, 1);
	int idx = X509_get_ext_by_OBJ(x, o, -1);
	ASN1_OBJECT_free(o);
	assert_true(idx >= 0);
	return X509_EXTENSION_get_data(X509_get_ext(x, idx));
}

static void real_pck_extensions_decode(void **state)
{
	static const struct {
		const char *file;
		uint8_t comps[8];
		unsigned pcesvn;
		const char *fmspc;
	} want[] = {
	    {"tdx/google-go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
	     {3, 3, 2, 2, 2, 1, 0, 2},
	     11,
	     "50806f000000"},
	    {"tdx/phala-dcap-qvl/tdx_quote_outdated", {3, 3, 2, 2, 4, 1, 0, 3}, 13, "90c06f000000"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		STACK_OF(X509) *chain = quote_chain(want[i].file);
		struct tdx_pck_ext e;
		char hex[16];
		assert_int_equal(tdx_pck_ext_from_cert(sk_X509_value(chain, 0), &e), 0);
		assert_memory_equal(e.comp_svn, want[i].comps, 8);
		assert_int_equal(e.pcesvn, want[i].pcesvn);
		hex_encode(hex, e.fmspc, 6);
		assert_string_equal(hex, want[i].fmspc);
		assert_int_equal(e.pceid[0], 0);
		assert_int_equal(e.pceid[1], 0);
		/* Platform CA leaves carry the instance id and configuration. */
		assert_true(e.has_platform_instance_id);
		assert_true(e.dynamic_platform == 0 || e.dynamic_platform == 1);
		/* The intermediate has no SGX TCB: decoding it must fail. */
		assert_true(tdx_pck_ext_from_cert(sk_X509_value(chain, 2), &e) < 0);
		sk_X509_pop_free(chain, X509_free);
	}
}

static void encoder_round_trips(void **state)
{
	struct tdx_pck_ext in, out;
	uint8_t *der;
	size_t len;
	(void)state;
	memset(&in, 0, sizeof(in));
	for (int i = 0; i < 16; i++) {
		in.ppid[i] = (uint8_t)(i + 1);
		in.comp_svn[i] = (uint8_t)(255 - i);
		in.cpusvn[i] = (uint8_t)(i * 3);
		in.platform_instance_id[i] = (uint8_t)(i ^ 0x5a);
	}
	in.pcesvn = 65535;
	in.pceid[1] = 1;
	memcpy(in.fmspc, "\x53\x49\x4d\x00\x00\x01", 6);
	in.sgx_type = 2;
	in.has_platform_instance_id = 1;
	assert_int_equal(tdx_pck_ext_encode(&in, &der, &len), 0);
	assert_int_equal(tdx_pck_ext_parse(der, len, &out), 0);
	assert_memory_equal(out.ppid, in.ppid, 16);
	assert_memory_equal(out.comp_svn, in.comp_svn, 16);
	assert_memory_equal(out.cpusvn, in.cpusvn, 16);
	assert_memory_equal(out.fmspc, in.fmspc, 6);
	assert_memory_equal(out.platform_instance_id, in.platform_instance_id, 16);
	assert_int_equal(out.pcesvn, 65535);
	assert_int_equal(out.sgx_type, 2);
	assert_int_equal(out.dynamic_platform, -1); /* absent */
	free(der);
}

static void truncated_and_corrupted_extensions_fail(void **state)
{
	STACK_OF(X509) *chain = quote_chain("tdx/phala-dcap-qvl/tdx_quote");
	const ASN1_OCTET_STRING *os = sgx_ext(sk_X509_value(chain, 0));
	size_t len = (size_t)os->length;
	struct tdx_pck_ext e;
	uint8_t *t;
	(void)state;

	assert_int_equal(tdx_pck_ext_parse(os->data, len, &e), 0);
	for (size_t n = 0; n < len; n++) {
		t = malloc(n ? n : 1);
		memcpy(t, os->data, n);
		if (tdx_pck_ext_parse(t, n, &e) == 0)
			fail_msg("extension truncated to %zu of %zu bytes decoded", n, len);
		free(t);
	}
	/* Every single-byte change either fails or decodes to different
	 * values; none may crash (ASan) or leave stale state. */
	t = malloc(len);
	for (size_t i = 0; i < len; i++) {
		memcpy(t, os->data, len);
		t[i] ^= 0xff;
		IGNORE_STATUS(tdx_pck_ext_parse(t, len, &e)); /* fails or not, never crashes */
	}
	free(t);
	sk_X509_pop_free(chain, X509_free);
}

static void bad_pem_chains_are_refused(void **state)
{
	STACK_OF(X509) * chain;
	struct tdx_quote *q;
	uint8_t *buf, *many;
	size_t len, n = 0;
	(void)state;

	assert_int_equal(tdx_pck_chain_parse((const uint8_t *)"hello", 5, &chain), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "no PEM certificate"));
	assert_int_equal(tdx_pck_chain_parse((const uint8_t *)"\0\0", 2, &chain), ERR_INVAL);
	buf = td_read("tdx/phala-dcap-qvl/tdx_quote", &len);
	assert_int_equal(tdx_quote_parse(buf, len, &q), 0);
	/* Damage the base64 of the first certificate. */
	uint8_t saved = q->pck_chain[100];
	q->pck_chain[100] = '!';
	assert_int_equal(tdx_pck_chain_parse(q->pck_chain, q->pck_chain_len, &chain), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "malformed PEM"));
	q->pck_chain[100] = saved;
	assert_int_equal(tdx_pck_chain_parse(q->pck_chain, q->pck_chain_len, &chain), 0);
	sk_X509_pop_free(chain, X509_free);
	/* Nine copies of a 3-certificate chain is over the cap. */
	len = strnlen((const char *)q->pck_chain, q->pck_chain_len);
	many = malloc(len * 3);
	for (int i = 0; i < 3; i++) {
		memcpy(many + n, q->pck_chain, len);
		n += len;
	}
	assert_int_equal(tdx_pck_chain_parse(many, n, &chain), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "more than 8"));
	free(many);
	tdx_quote_free(q);
	free(buf);
}

/* ---- repeated extensions and entries ---- */

/* Every extension of a real PCK leaf, repeated: refused with its OID named
 * (OpenSSL's lookup used to take the first instance).  The certificate is
 * re-encoded and read again; its signature no longer verifies, and none is
 * checked here. */
static void repeated_certificate_extensions_are_refused(void **state)
{
	STACK_OF(X509) *chain = quote_chain("tdx/phala-dcap-qvl/tdx_quote");
	X509 *leaf = sk_X509_value(chain, 0);
	struct tdx_pck_ext e;
	(void)state;
	assert_int_equal(tdx_pck_ext_from_cert(leaf, &e), 0);
	for (int i = 0; i < X509_get_ext_count(leaf); i++) {
		X509 *x = X509_dup(leaf), *y;
		unsigned char *der = NULL;
		const unsigned char *p;
		char oid[96], want[160];
		int n;
		X509_EXTENSION *ext = X509_get_ext(x, i);
		assert_true(OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(ext), 1) > 0);
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		assert_true(i2d_re_X509_tbs(x, NULL) > 0);
		n = i2d_X509(x, &der);
		p = der;
		y = d2i_X509(NULL, &p, n);
		assert_non_null(y);
		snprintf(want, sizeof(want), "PCK certificate: duplicate extension %s", oid);
		if (tdx_pck_ext_from_cert(y, &e) != ERR_INVAL || strcmp(err_msg(), want) != 0)
			fail_msg("extension %s repeated: '%s'", oid, err_msg());
		OPENSSL_free(der);
		X509_free(x);
		X509_free(y);
	}
	sk_X509_pop_free(chain, X509_free);
}

/* Append tag, DER length and n bytes of content at p to out[*len]. */
static void put_tlv(uint8_t *out, size_t *len, uint8_t tag, const uint8_t *p, size_t n)
{
	out[(*len)++] = tag;
	if (n >= 0x100) {
		out[(*len)++] = 0x82;
		out[(*len)++] = (uint8_t)(n >> 8);
	} else if (n >= 0x80) {
		out[(*len)++] = 0x81;
	}
	out[(*len)++] = (uint8_t)n;
	memmove(out + *len, p, n);
	*len += n;
}

/* Content offset of the TLV at p[*off]; *off moves past it. */
static size_t take_tlv(const uint8_t *p, size_t *off, size_t *clen)
{
	size_t o = *off + 1, n = p[o++];
	if (n == 0x81) {
		n = p[o++];
	} else if (n == 0x82) {
		n = (size_t)p[o] << 8 | p[o + 1];
		o += 2;
	}
	*clen = n;
	*off = o + n;
	return o;
}

/* Write the TLV at p to out with, inside it along path[0..depth), the child
 * path[depth - 1] followed by `add` (by a copy of itself when add is NULL). */
static size_t der_insert(const uint8_t *p, const int *path, size_t depth, const uint8_t *add,
                         size_t addlen, uint8_t *out)
{
	uint8_t body[4096];
	size_t off = 0, clen, bl = 0, len = 0, c = take_tlv(p, &off, &clen), o = c;
	for (int k = 0; o < c + clen; k++) {
		size_t start = o, cl;
		take_tlv(p, &o, &cl);
		if (k == path[0] && depth > 1) {
			bl += der_insert(p + start, path + 1, depth - 1, add, addlen, body + bl);
			continue;
		}
		memcpy(body + bl, p + start, o - start);
		bl += o - start;
		if (k == path[0]) {
			memcpy(body + bl, add ? add : p + start, add ? addlen : o - start);
			bl += add ? addlen : o - start;
		}
	}
	put_tlv(out, &len, p[0], body, bl);
	return len;
}

/* {OID 1.2.840.113741.1.13.1.<arc>, BOOLEAN TRUE} */
#define SGX_PAIR(arc)                                                                              \
	0x30, 0x0f, 0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, arc, 0x01,   \
	    0x01, 0xff
/* {OID 1.2.840.113741.1.13.1.7.<arc>, BOOLEAN FALSE} */
#define CONFIG_PAIR(arc)                                                                           \
	0x30, 0x10, 0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x07, arc,   \
	    0x01, 0x01, 0x00
/* {OID 1.2.3.4, BOOLEAN TRUE} */
#define OTHER_PAIR 0x30, 0x08, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x01, 0x01, 0xff

static const uint8_t sgx8[] = {SGX_PAIR(0x08)}, sgx8x2[] = {SGX_PAIR(0x08), SGX_PAIR(0x08)},
                     other[] = {OTHER_PAIR}, otherx2[] = {OTHER_PAIR, OTHER_PAIR},
                     cfg9[] = {CONFIG_PAIR(0x09)},
                     cfg9x2[] = {CONFIG_PAIR(0x09), CONFIG_PAIR(0x09)};

/* Edits of a real leaf's SGX extension (elements 1..7 in order: PPID, TCB,
 * PCE-ID, FMSPC, SGX Type, PlatformInstanceID, Configuration). */
static const struct {
	const char *name;
	int path[3];
	size_t depth;
	const uint8_t *add; /* NULL: repeat the element */
	size_t addlen;
	const char *want; /* NULL: decodes */
} sgx_cases[] = {
    {"FMSPC twice", {3}, 1, NULL, 0, "duplicate OID 1.2.840.113741.1.13.1.4"},
    {"TCB twice", {1}, 1, NULL, 0, "duplicate OID 1.2.840.113741.1.13.1.2"},
    {"a TCB SVN twice", {1, 1, 0}, 3, NULL, 0, "duplicate OID 1.2.840.113741.1.13.1.2.1 in TCB"},
    {"an unknown arc", {6}, 1, sgx8, sizeof(sgx8), NULL},
    {"an unknown arc twice",
     {6},
     1,
     sgx8x2,
     sizeof(sgx8x2),
     "duplicate OID 1.2.840.113741.1.13.1.8"},
    {"an OID outside the arc", {0}, 1, other, sizeof(other), NULL},
    {"an OID outside the arc twice", {0}, 1, otherx2, sizeof(otherx2), "duplicate OID 1.2.3.4"},
    {"a Configuration entry twice",
     {6, 1, 0},
     3,
     NULL,
     0,
     "duplicate OID 1.2.840.113741.1.13.1.7.1 in Configuration"},
    {"an unknown Configuration entry", {6, 1, 0}, 3, cfg9, sizeof(cfg9), NULL},
    {"an unknown Configuration entry twice",
     {6, 1, 0},
     3,
     cfg9x2,
     sizeof(cfg9x2),
     "duplicate OID 1.2.840.113741.1.13.1.7.9 in Configuration"},
};

static void repeated_sgx_entries_are_refused(void **state)
{
	STACK_OF(X509) *chain = quote_chain("tdx/phala-dcap-qvl/tdx_quote");
	const ASN1_OCTET_STRING *os = sgx_ext(sk_X509_value(chain, 0));
	struct tdx_pck_ext orig, e;
	(void)state;
	assert_int_equal(tdx_pck_ext_parse(os->data, (size_t)os->length, &orig), 0);
	assert_true(orig.has_platform_instance_id && orig.dynamic_platform >= 0);
	for (size_t i = 0; i < sizeof(sgx_cases) / sizeof(sgx_cases[0]); i++) {
		uint8_t der[4096];
		size_t len = der_insert(os->data, sgx_cases[i].path, sgx_cases[i].depth,
		                        sgx_cases[i].add, sgx_cases[i].addlen, der);
		int rc = tdx_pck_ext_parse(der, len, &e);
		assert_true(len > (size_t)os->length);
		if (!sgx_cases[i].want) {
			if (rc != 0)
				fail_msg("%s: '%s'", sgx_cases[i].name, err_msg());
			assert_memory_equal(e.fmspc, orig.fmspc, 6);
			assert_memory_equal(e.comp_svn, orig.comp_svn, 16);
			assert_int_equal(e.dynamic_platform, orig.dynamic_platform);
		} else if (rc != ERR_INVAL || !strstr(err_msg(), sgx_cases[i].want)) {
			fail_msg("%s: rc %d '%s', want '%s'", sgx_cases[i].name, rc, err_msg(),
			         sgx_cases[i].want);
		}
	}
	sk_X509_pop_free(chain, X509_free);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(real_pck_extensions_decode),
	    cmocka_unit_test(encoder_round_trips),
	    cmocka_unit_test(truncated_and_corrupted_extensions_fail),
	    cmocka_unit_test(bad_pem_chains_are_refused),
	    cmocka_unit_test(repeated_certificate_extensions_are_refused),
	    cmocka_unit_test(repeated_sgx_entries_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
