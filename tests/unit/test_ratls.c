/* RA-TLS: certificates made by a simulated TD are admitted through the gate
 * only when their quote verifies, meets the policy and binds the
 * certificate's own key; over real TLS on loopback, the client refuses a
 * server before sending anything when its certificate does not pass. */
#include "testutil.h"

#include "net/http.h"
#include "net/server.h"
#include "tdx/ratls.h"
#include "tdx/sim.h"
#include "util/err.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir, col[512], root[512];
static struct tdx_provider prov;
static char *cert_pem, *key_pem;

static int setup(void **state)
{
	struct tdx_sim_opts o = {0, 0, 0};
	(void)state;
	dir = td_tmpdir();
	if (tdx_sim_init(dir, &o) < 0)
		return -1;
	snprintf(col, sizeof(col), "%s/collateral/collateral.json", dir);
	snprintf(root, sizeof(root), "%s/root_ca.pem", dir);
	prov.kind = TDX_PROVIDER_SIM;
	prov.sim_dir = dir;
	return tdx_ratls_make(&prov, "test", 1, &cert_pem, &key_pem);
}

static int teardown(void **state)
{
	(void)state;
	free(cert_pem);
	free(key_pem);
	td_rmtree(dir);
	free(dir);
	return 0;
}

static X509 *pem_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *pem_key(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(k);
	return k;
}

/* Check x (DER) through a gate; sim = trust the simulated root. */
static int check_x(X509 *x, int sim, const char *policy, struct tdx_verdict *v)
{
	struct tdx_gate g;
	uint8_t *der = NULL;
	int n = i2d_X509(x, &der), rc;
	assert_true(n > 0);
	assert_int_equal(tdx_gate_open(&g, col, sim ? root : NULL, policy, "test"), 0);
	rc = tdx_ratls_check(&g, der, (size_t)n, v);
	tdx_gate_close(&g);
	OPENSSL_free(der);
	return rc;
}

static void admitted_with_the_sim_root_only(void **state)
{
	struct tdx_verdict v;
	X509 *x = pem_cert(cert_pem);
	(void)state;
	assert_int_equal(check_x(x, 1, NULL, &v), 0);
	assert_int_equal(v.simulated, 1);
	/* production default: the Intel root only */
	assert_int_equal(check_x(x, 0, NULL, &v), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "Intel SGX root"));
	X509_free(x);
}

static void policy_decides(void **state)
{
	struct tdx_verdict v;
	char pol[600];
	FILE *f;
	X509 *x = pem_cert(cert_pem);
	(void)state;
	snprintf(pol, sizeof(pol), "%s/other.json", dir);
	f = fopen(pol, "w");
	assert_non_null(f);
	fprintf(f, "{\"measurements\": {\"MRTD\": \"%096d\"}}\n", 7);
	fclose(f);
	assert_int_not_equal(check_x(x, 1, pol, &v), 0);
	assert_non_null(strstr(err_msg(), "MRTD"));
	X509_free(x);
}

/* The same quote on a certificate for another key: refused. */
static void refuses_a_quote_for_another_key(void **state)
{
	struct tdx_verdict v;
	X509 *x = pem_cert(cert_pem);
	EVP_PKEY *other = EVP_EC_gen("P-256");
	(void)state;
	assert_int_equal(X509_set_pubkey(x, other), 1);
	assert_true(X509_sign(x, other, EVP_sha256()) > 0);
	assert_int_equal(check_x(x, 1, NULL, &v), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "does not bind"));
	EVP_PKEY_free(other);
	X509_free(x);
}

/* Replace the quote extension's content by `content` (DER). */
static void set_quote_ext(X509 *x, const uint8_t *content, int len)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(TDX_RATLS_OID, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *e;
	int at = X509_get_ext_by_OBJ(x, oid, -1);
	assert_true(at >= 0);
	X509_EXTENSION_free(X509_delete_ext(x, at));
	ASN1_OCTET_STRING_set(os, content, len);
	e = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(oid);
}

static void refuses_mutated_missing_and_malformed_quotes(void **state)
{
	struct tdx_verdict v;
	X509 *x = pem_cert(cert_pem);
	EVP_PKEY *k = pem_key(key_pem);
	uint8_t *der = NULL, *q, *wrapped = NULL;
	size_t qlen;
	int n = i2d_X509(x, &der), wlen;
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	(void)state;

	/* a flipped bit in the TD report: the quote signature breaks */
	assert_int_equal(tdx_ratls_quote(der, (size_t)n, &q, &qlen), 0);
	q[100] ^= 1;
	ASN1_OCTET_STRING_set(os, q, (int)qlen);
	wlen = i2d_ASN1_OCTET_STRING(os, &wrapped);
	set_quote_ext(x, wrapped, wlen);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(check_x(x, 1, NULL, &v), ERR_VERIFY);
	/* the quote's bytes not wrapped in an OCTET STRING */
	set_quote_ext(x, q, (int)qlen);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(check_x(x, 1, NULL, &v), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "OCTET STRING"));
	/* no quote at all */
	ASN1_OBJECT *oid = OBJ_txt2obj(TDX_RATLS_OID, 1);
	X509_EXTENSION_free(X509_delete_ext(x, X509_get_ext_by_OBJ(x, oid, -1)));
	ASN1_OBJECT_free(oid);
	assert_int_equal(check_x(x, 1, NULL, &v), ERR_NOTFOUND);
	/* not a certificate */
	{
		struct tdx_gate g;
		uint8_t junk[64] = {0x30, 0x82, 0xff, 0xff};
		assert_int_equal(tdx_gate_open(&g, col, root, NULL, "test"), 0);
		assert_int_equal(tdx_ratls_check(&g, junk, sizeof(junk), &v), ERR_INVAL);
		assert_int_equal(tdx_ratls_check(&g, der, (size_t)n - 1, &v), ERR_INVAL);
		tdx_gate_close(&g);
	}
	OPENSSL_free(wrapped);
	ASN1_OCTET_STRING_free(os);
	free(q);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	X509_free(x);
}

static void hello(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	(void)ctx;
	(void)r;
	http_resp_text(resp, 200, "hello");
}

static const struct http_route routes[] = {
	{"GET", "/hello", hello, "hello", 0},
	{NULL, NULL, NULL, NULL, 0},
};

static int counting_check(void *ctx, const uint8_t *der, size_t len)
{
	struct tdx_gate *g = ((void **)ctx)[0];
	int *calls = ((void **)ctx)[1];
	(*calls)++;
	return tdx_ratls_peer_check(g, der, len);
}

/* Over TLS: an RA-TLS server is admitted; a server with a plain
 * self-signed certificate, or a policy it does not meet, is refused at the
 * handshake; plain http is refused before connecting. */
static void client_admits_by_quote_over_tls(void **state)
{
	struct http_server_opts o = {
		.address = "127.0.0.1", .threads = 2, .max_body = 1024, .tls_cert = cert_pem, .tls_key = key_pem};
	struct http_server *s;
	struct http_response r;
	struct tdx_gate g;
	int calls = 0;
	void *ctx[2] = {&g, &calls};
	struct http_peer peer = {counting_check, ctx};
	struct http_call call = {NULL, NULL, NULL, 0, &peer, NULL};
	char url[128], pem_path[600];
	(void)state;

	assert_int_equal(tdx_gate_open(&g, col, root, NULL, "test"), 0);
	assert_int_equal(http_server_start(&o, routes, NULL, &s), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/hello", http_server_port(s));
	assert_int_equal(http_call(url, &call, 1024, 5, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(calls, 1);
	http_response_free(&r);
	/* no peer check: the self-signed certificate fails CA verification */
	assert_int_equal(http_get(url, 1024, 2, &r), ERR_IO);
	http_response_free(&r);
	/* http with a peer check: refused without a connection */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", http_server_port(s));
	assert_int_equal(http_call(url, &call, 1024, 5, &r), ERR_INVAL);
	assert_int_equal(calls, 1);
	http_server_stop(s);
	tdx_gate_close(&g);

	/* the gate with a policy the server does not meet: refused, not retried */
	snprintf(pem_path, sizeof(pem_path), "%s/debug.json", dir);
	FILE *f = fopen(pem_path, "w");
	assert_non_null(f);
	fputs("{\"measurements\": {\"MRTD\": \"" /* 48 bytes of 0x11 */
	      "111111111111111111111111111111111111111111111111"
	      "111111111111111111111111111111111111111111111111\"}}\n",
	      f);
	fclose(f);
	assert_int_equal(tdx_gate_open(&g, col, root, pem_path, "test"), 0);
	assert_int_equal(http_server_start(&o, routes, NULL, &s), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/hello", http_server_port(s));
	calls = 0;
	assert_int_equal(http_call(url, &call, 1024, 5, &r), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "attestation is refused"));
	assert_int_equal(calls, 1);
	http_response_free(&r);
	http_server_stop(s);
	tdx_gate_close(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(admitted_with_the_sim_root_only),
		cmocka_unit_test(policy_decides),
		cmocka_unit_test(refuses_a_quote_for_another_key),
		cmocka_unit_test(refuses_mutated_missing_and_malformed_quotes),
		cmocka_unit_test(client_admits_by_quote_over_tls),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
