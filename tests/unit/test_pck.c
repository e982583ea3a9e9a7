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
static STACK_OF(X509) *quote_chain(const char *rel)
{
	STACK_OF(X509) *chain;
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
		{"tdx/google-go-tdx-guest/tdx_prod_quote_SPR_E4.dat", {3, 3, 2, 2, 2, 1, 0, 2}, 11,
		 "50806f000000"},
		{"tdx/phala-dcap-qvl/tdx_quote_outdated", {3, 3, 2, 2, 4, 1, 0, 3}, 13,
		 "90c06f000000"},
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
		(void)tdx_pck_ext_parse(t, len, &e);
	}
	free(t);
	sk_X509_pop_free(chain, X509_free);
}

static void bad_pem_chains_are_refused(void **state)
{
	STACK_OF(X509) *chain;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(real_pck_extensions_decode),
		cmocka_unit_test(encoder_round_trips),
		cmocka_unit_test(truncated_and_corrupted_extensions_fail),
		cmocka_unit_test(bad_pem_chains_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
