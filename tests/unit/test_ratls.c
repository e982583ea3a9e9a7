/* RA-TLS: certificates made by a simulated TD are admitted through the gate
 * only when their quote verifies, meets the policy and binds the
 * certificate's own key and configuration document; a configuration that
 * trusts a root the client does not, or that differs from the pinned one, is
 * refused, as is a certificate whose configuration extension was altered,
 * removed, duplicated or marked critical; over real TLS on loopback, the
 * client refuses a server before sending anything when its certificate does
 * not pass; a kept connection is checked again once the gate's collateral
 * (a CRL that now revokes the server) or the gate itself changed. */
#include "testutil.h"

#include "crypto/jws.h"
#include "crypto/p256.h"
#include "net/http.h"
#include "net/server.h"
#include "proto/proto.h"
#include "tdx/policy.h"
#include "tdx/ratls.h"
#include "tdx/sim.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 96 copies of the character c: one measurement in hex */
#define H48(c)                                                                                     \
	c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
	    c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c  \
	        c c c c c c c c

/* The pool's simulated TD (its root is the one clients trust) and an
 * attacker's, whose root is another. */
static char *dir, *evil, col[512], root[512], evil_root[512];
static struct tdx_provider prov;
static char *cert_pem, *key_pem;
/* the honest server's configuration: it admits TDs by the pool's root */
static char *honest_doc;
static size_t honest_len;

/* A configuration trusting the root in `path` (NULL: Intel's) as an SMS
 * writes it, with `policy` (JSON; NULL: one pinning MRTD), in canonical
 * form (free()). */
static char *doc_with_policy(const char *path, const char *policy, size_t *len)
{
	struct tdx_verifier *v;
	json_t *t, *d;
	uint8_t *pem;
	size_t n;
	char *out = NULL;
	if (path) {
		assert_int_equal(file_read(path, 1 << 20, &pem, &n), 0);
		assert_int_equal(tdx_verifier_new_root(pem, n, 1, &v), 0);
		free(pem);
	} else {
		assert_int_equal(tdx_verifier_new(&v), 0);
	}
	assert_int_equal(tdx_ratls_anchor_json(v, &t), 0);
	d = json_pack(
	    "{s:s,s:{s:o,s:o}}", "format", PROTO_SMS_CONFIG_FORMAT, "attestation", "trust", t,
	    "policy",
	    json_loads(policy ? policy
	                      : "{\"allow_debug\": false, \"measurements\": {\"MRTD\": [\"" H48(
	                            "a") "\"]}}",
	               0, NULL));
	assert_non_null(d);
	assert_int_equal(tdx_ratls_canonical(d, &out, len), 0);
	json_decref(d);
	tdx_verifier_free(v);
	return out;
}

static char *doc_trusting(const char *path, size_t *len)
{
	return doc_with_policy(path, NULL, len);
}

static int setup(void **state)
{
	struct tdx_sim_opts o = {0, 0, 0};
	(void)state;
	dir = td_tmpdir();
	evil = td_tmpdir();
	if (tdx_sim_init(dir, &o) < 0 || tdx_sim_init(evil, &o) < 0)
		return -1;
	snprintf(col, sizeof(col), "%s/collateral/collateral.json", dir);
	snprintf(root, sizeof(root), "%s/root_ca.pem", dir);
	snprintf(evil_root, sizeof(evil_root), "%s/root_ca.pem", evil);
	prov.kind = TDX_PROVIDER_SIM;
	prov.sim_dir = dir;
	honest_doc = doc_trusting(root, &honest_len);
	return tdx_ratls_make(&prov, "test", 1, honest_doc, honest_len, &cert_pem, &key_pem);
}

static int teardown(void **state)
{
	(void)state;
	free(cert_pem);
	free(key_pem);
	free(honest_doc);
	td_rmtree(dir);
	td_rmtree(evil);
	free(dir);
	free(evil);
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

/* Check x (DER) through a gate anchored at `anchor` (NULL: Intel's root),
 * pinning `pin` (NULL: none) and requiring `format` (NULL: any). */
static int check_full(X509 *x, const char *anchor, const char *policy, const uint8_t *pin,
                      const char *format, struct tdx_verdict *v, uint8_t hash[32], json_t **doc)
{
	struct tdx_gate g;
	struct tdx_ratls_expect e = {&g, pin, format};
	uint8_t *der = NULL;
	int n = i2d_X509(x, &der), rc;
	assert_true(n > 0);
	assert_int_equal(tdx_gate_open(&g, col, anchor, policy, "test"), 0);
	rc = tdx_ratls_check(&e, der, (size_t)n, v, hash, doc);
	tdx_gate_close(&g);
	OPENSSL_free(der);
	return rc;
}

/* Check x (DER) through a gate; sim = trust the pool's simulated root. */
static int check_x(X509 *x, int sim, const char *policy, struct tdx_verdict *v)
{
	return check_full(x, sim ? root : NULL, policy, NULL, NULL, v, NULL, NULL);
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

/* Add extension `oid` with value `content` (DER) as is; critical if asked. */
static void add_raw_ext(X509 *x, const char *oid_txt, const uint8_t *content, int len, int crit)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(oid_txt, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *e;
	ASN1_OCTET_STRING_set(os, content, len);
	e = X509_EXTENSION_create_by_OBJ(NULL, oid, crit, os);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(oid);
}

/* Remove extension `oid` (it must be there). */
static void del_ext(X509 *x, const char *oid_txt)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(oid_txt, 1);
	int at = X509_get_ext_by_OBJ(x, oid, -1);
	assert_true(at >= 0);
	X509_EXTENSION_free(X509_delete_ext(x, at));
	ASN1_OBJECT_free(oid);
}

/* Replace the quote extension's content by `content` (DER). */
static void set_quote_ext(X509 *x, const uint8_t *content, int len)
{
	del_ext(x, TDX_RATLS_OID);
	add_raw_ext(x, TDX_RATLS_OID, content, len, 0);
}

/* `bytes` wrapped in one DER OCTET STRING (OPENSSL_free()). */
static int octets(const void *bytes, size_t n, uint8_t **out)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	int len;
	*out = NULL;
	ASN1_OCTET_STRING_set(os, bytes, (int)n);
	len = i2d_ASN1_OCTET_STRING(os, out);
	ASN1_OCTET_STRING_free(os);
	assert_true(len > 0);
	return len;
}

/* A certificate for the honest TD's key carrying a quote that binds `doc`
 * as it is (which tdx_ratls_make would refuse to do when not canonical):
 * what a client must judge by the document itself. */
static X509 *cert_binding(const char *doc, size_t len)
{
	X509 *x = pem_cert(cert_pem);
	EVP_PKEY *k = pem_key(key_pem);
	uint8_t *spki = NULL, h[32], rd[64], *quote, *w;
	size_t qlen;
	int n = i2d_PUBKEY(k, &spki), wl;
	assert_true(n > 0);
	assert_int_equal(sha256(doc, len, h), 0);
	assert_int_equal(proto_ratls_report_data(spki, (size_t)n, h, rd), 0);
	assert_int_equal(tdx_provider_quote(&prov, rd, &quote, &qlen), 0);
	wl = octets(quote, qlen, &w);
	set_quote_ext(x, w, wl);
	OPENSSL_free(w);
	del_ext(x, TDX_RATLS_CONFIG_OID);
	wl = octets(doc, len, &w);
	add_raw_ext(x, TDX_RATLS_CONFIG_OID, w, wl, 0);
	OPENSSL_free(w);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	free(quote);
	OPENSSL_free(spki);
	EVP_PKEY_free(k);
	return x;
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
		struct tdx_ratls_expect e = {&g, NULL, NULL};
		uint8_t junk[64] = {0x30, 0x82, 0xff, 0xff};
		assert_int_equal(tdx_gate_open(&g, col, root, NULL, "test"), 0);
		assert_int_equal(tdx_ratls_check(&e, junk, sizeof(junk), &v, NULL, NULL),
		                 ERR_INVAL);
		assert_int_equal(tdx_ratls_check(&e, der, (size_t)n - 1, &v, NULL, NULL),
		                 ERR_INVAL);
		tdx_gate_close(&g);
	}
	OPENSSL_free(wrapped);
	ASN1_OCTET_STRING_free(os);
	free(q);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	X509_free(x);
}

/* A server whose own policy admits TDs of any code, or debug TDs, is
 * refused by default, whatever its quote and root; a client that pinned
 * that very configuration accepts it. */
static void refuses_a_server_admitting_any_code(void **state)
{
	static const char *const bad[] = {
	    "{\"allow_debug\": false, \"measurements\": {}}",
	    "{\"allow_debug\": false, \"measurements\": {\"MRTD\": []}}",
	    "{\"allow_debug\": true, \"measurements\": {\"MRTD\": [\"" H48("a") "\"]}}",
	    "{\"measurements\": {\"MRTD\": [\"" H48("a") "\"]}}",
	};
	static const char *const why[] = {"pins no MRTD", "pins no MRTD", "debug TDs", "debug TDs"};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct tdx_verdict v;
		char *cert = NULL, *key = NULL, *doc;
		size_t len;
		uint8_t h[32];
		doc = doc_with_policy(root, bad[i], &len);
		assert_non_null(doc);
		assert_int_equal(tdx_ratls_make(&prov, "test", 1, doc, len, &cert, &key), 0);
		X509 *x = pem_cert(cert);
		assert_int_equal(check_full(x, root, NULL, NULL, NULL, &v, NULL, NULL), ERR_VERIFY);
		if (!strstr(err_msg(), why[i]))
			fail_msg("policy %zu: %s", i, err_msg());
		assert_int_equal(sha256(doc, len, h), 0);
		assert_int_equal(check_full(x, root, NULL, h, NULL, &v, NULL, NULL), 0);
		X509_free(x);
		free(cert);
		free(key);
		free(doc);
	}
}

/* The honest server: admitted, with the document it carries and its hash;
 * the same certificate pinned to that hash passes, pinned to another it
 * does not; a client asking for another format refuses it. */
static void configuration_is_bound_read_and_pinned(void **state)
{
	struct tdx_verdict v;
	uint8_t h[32], want[32], other[32];
	json_t *doc = NULL;
	X509 *x = pem_cert(cert_pem);
	(void)state;
	assert_int_equal(sha256(honest_doc, honest_len, want), 0);
	assert_int_equal(check_full(x, root, NULL, NULL, PROTO_SMS_CONFIG_FORMAT, &v, h, &doc), 0);
	assert_memory_equal(h, want, 32);
	assert_string_equal(json_string_value(json_object_get(doc, "format")),
	                    PROTO_SMS_CONFIG_FORMAT);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(json_object_get(doc, "attestation"), "trust"), "kind")),
	    "simulated");
	json_decref(doc);
	assert_int_equal(check_full(x, root, NULL, want, NULL, &v, NULL, NULL), 0);
	memcpy(other, want, 32);
	other[31] ^= 1;
	assert_int_equal(check_full(x, root, NULL, other, NULL, &v, NULL, NULL), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "not the pinned"));
	assert_int_equal(check_full(x, root, NULL, NULL, "tdexec/other/v1", &v, NULL, NULL),
	                 ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "not \"tdexec/other/v1\""));
	X509_free(x);
}

/* The attack: the pool's TD (same measurements, its quote verifies under
 * the pool's root) serving with a configuration that trusts the attacker's
 * own simulated root.  The quote and the key binding are fine; the client
 * refuses because the configuration names a root it does not trust, and a
 * client pinning the honest configuration because the hash differs. */
static void refuses_a_server_trusting_another_root(void **state)
{
	struct tdx_verdict v;
	size_t n;
	char *bad = doc_trusting(evil_root, &n), *intel;
	uint8_t want[32];
	X509 *x = cert_binding(bad, n);
	(void)state;
	assert_int_equal(check_x(x, 1, NULL, &v), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "trusts a simulated root CA"));
	assert_non_null(strstr(err_msg(), "not this client's"));
	assert_int_equal(sha256(honest_doc, honest_len, want), 0);
	assert_int_equal(check_full(x, root, NULL, want, NULL, &v, NULL, NULL), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "not the pinned"));
	X509_free(x);
	free(bad);
	/* a server that trusts Intel's root only is stricter than this client:
	 * admitted (its quote is still judged by the client's own root) */
	intel = doc_trusting(NULL, &n);
	x = cert_binding(intel, n);
	assert_int_equal(check_x(x, 1, NULL, &v), 0);
	X509_free(x);
	/* one naming another certificate as Intel's root is not */
	{
		char *d = strstr(intel, "\"sha256\":\"") + 10;
		*d = *d == '0' ? '1' : '0';
	}
	x = cert_binding(intel, n);
	assert_int_equal(check_x(x, 1, NULL, &v), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "as Intel's root"));
	X509_free(x);
	free(intel);
	/* nor a trust anchor of a kind the client does not know */
	static const char odd[] =
	    "{\"attestation\":{\"trust\":{\"kind\":\"other\",\"sha256\":"
	    "\"0000000000000000000000000000000000000000000000000000000000000000\"}}}";
	x = cert_binding(odd, sizeof(odd) - 1);
	assert_int_equal(check_x(x, 1, NULL, &v), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "unknown kind"));
	X509_free(x);
}

/* The configuration extension altered (another document, the quote kept),
 * removed, given twice or marked critical; the quote extension twice. */
static void refuses_altered_removed_duplicated_configuration(void **state)
{
	struct tdx_verdict v;
	X509 *x = pem_cert(cert_pem);
	EVP_PKEY *k = pem_key(key_pem);
	size_t n;
	char *bad = doc_trusting(evil_root, &n);
	uint8_t *w;
	int wl;
	(void)state;
	/* altered: the document says another root, the quote still binds the
	 * honest one */
	del_ext(x, TDX_RATLS_CONFIG_OID);
	wl = octets(bad, n, &w);
	add_raw_ext(x, TDX_RATLS_CONFIG_OID, w, wl, 0);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(check_x(x, 1, NULL, &v), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "does not bind"));
	OPENSSL_free(w);
	/* removed: a certificate of the old layout, or stripped */
	del_ext(x, TDX_RATLS_CONFIG_OID);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(check_x(x, 1, NULL, &v), ERR_NOTFOUND);
	assert_non_null(strstr(err_msg(), "no configuration"));
	/* duplicated: the honest one, then another (a reader taking the first
	 * and one taking the last would differ) */
	wl = octets(honest_doc, honest_len, &w);
	add_raw_ext(x, TDX_RATLS_CONFIG_OID, w, wl, 0);
	OPENSSL_free(w);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(check_x(x, 1, NULL, &v), 0);
	wl = octets(bad, n, &w);
	add_raw_ext(x, TDX_RATLS_CONFIG_OID, w, wl, 0);
	OPENSSL_free(w);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(check_x(x, 1, NULL, &v), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "two configurations"));
	X509_free(x);
	/* critical */
	x = pem_cert(cert_pem);
	del_ext(x, TDX_RATLS_CONFIG_OID);
	wl = octets(honest_doc, honest_len, &w);
	add_raw_ext(x, TDX_RATLS_CONFIG_OID, w, wl, 1);
	OPENSSL_free(w);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(check_x(x, 1, NULL, &v), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "critical"));
	X509_free(x);
	/* the quote twice */
	x = pem_cert(cert_pem);
	{
		uint8_t *der = NULL, *q;
		size_t ql;
		int dl = i2d_X509(x, &der);
		assert_int_equal(tdx_ratls_quote(der, (size_t)dl, &q, &ql), 0);
		wl = octets(q, ql, &w);
		add_raw_ext(x, TDX_RATLS_OID, w, wl, 0);
		OPENSSL_free(w);
		OPENSSL_free(der);
		free(q);
	}
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(check_x(x, 1, NULL, &v), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "two TD quotes"));
	X509_free(x);
	EVP_PKEY_free(k);
	free(bad);
}

/* Documents bound by a genuine quote but not canonical: spaces, keys out of
 * order, a duplicate key (one reader would see the attacker's root, another
 * the pool's), not an object.  And tdx_ratls_make will not make them. */
static void refuses_a_configuration_not_canonical(void **state)
{
	static const char *const docs[] = {
	    "{\"a\": 1}", "{\"b\":1,\"a\":2}", "{\"a\":1,\"a\":2}", "[1]", "{\"a\":\"\u00e9\"}",
	};
	static const char *const why[] = {"canonical", "canonical", "not JSON", "object",
	                                  "canonical"};
	struct tdx_verdict v;
	char *c, *k;
	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		X509 *x = cert_binding(docs[i], strlen(docs[i]));
		assert_int_equal(check_x(x, 1, NULL, &v), ERR_INVAL);
		if (!strstr(err_msg(), why[i]))
			fail_msg("%s: %s", docs[i], err_msg());
		X509_free(x);
		assert_int_not_equal(
		    tdx_ratls_make(&prov, "t", 1, docs[i], strlen(docs[i]), &c, &k), 0);
	}
	/* the smallest canonical document passes */
	X509 *x = cert_binding("{}", 2);
	assert_int_equal(check_x(x, 1, NULL, &v), 0);
	X509_free(x);
}

static char *policy_canon(const char *text)
{
	struct tdx_policy *p;
	json_t *j;
	char *out;
	size_t n;
	assert_int_equal(tdx_policy_from_json(text, strlen(text), NULL, &p), 0);
	j = tdx_policy_to_json(p);
	assert_non_null(j);
	assert_int_equal(tdx_ratls_canonical(j, &out, &n), 0);
	json_decref(j);
	tdx_policy_free(p);
	return out;
}

/* The policy an SMS publishes is the policy in effect: two files that mean
 * the same (order, case, 0x, repeats, defaults written out or not) give the
 * same bytes, which read back as the same policy; another MRTD does not. */
static void the_policy_in_effect_has_one_form(void **state)
{
	static const char a[] =
	    "{\"measurements\": {\"MRTD\": \"0x" H48("A") "\", \"RTMR0\": [\"" H48(
	        "b") "\", \"" H48("a") "\", \"" H48("B") "\"]}, \"advisory_ids\": [\"INTEL-SA-2\", "
	                                                 "\"INTEL-SA-1\"], \"tcb_status\": "
	                                                 "[\"SWHardeningNeeded\", \"UpToDate\"]}";
	static const char b[] =
	    "{\"tcb_status\": [\"UpToDate\", \"SWHardeningNeeded\"], \"allow_debug\": "
	    "false, \"advisory_ids\": [\"INTEL-SA-1\", \"INTEL-SA-2\", \"INTEL-SA-1\"], "
	    "\"measurements\": {\"RTMR0\": [\"" H48("a") "\", \"" H48("b") "\"], \"MRTD\": \"" H48(
	        "a") "\"}}";
	static const char want[] =
	    "{\"advisory_ids\":[\"INTEL-SA-1\",\"INTEL-SA-2\"],\"allow_debug\":false,"
	    "\"measurements\":{\"MRTD\":[\"" H48("a") "\"],\"RTMR0\":[\"" H48("a") "\",\"" H48(
	        "b") "\"]},\"require_sept_ve_disable\":true,\"tcb_status\":[\"UpToDate\","
	             "\"SWHardeningNeeded\"]}";
	char *ca = policy_canon(a), *cb = policy_canon(b), *again, *other, *dflt;
	struct tdx_policy *p;
	json_t *j;
	size_t n;
	(void)state;
	assert_string_equal(ca, want);
	assert_string_equal(cb, want);
	again = policy_canon(ca);
	assert_string_equal(again, want);
	other = policy_canon("{\"measurements\": {\"MRTD\": \"" H48("c") "\"}}");
	assert_string_not_equal(other, want);
	assert_non_null(strstr(other, "\"advisory_ids\":[]"));
	assert_non_null(strstr(other, "\"tcb_status\":[\"UpToDate\"]"));
	/* the default policy (no file) accepts any advisory, and says so */
	assert_int_equal(tdx_policy_default(&p), 0);
	j = tdx_policy_to_json(p);
	assert_int_equal(tdx_ratls_canonical(j, &dflt, &n), 0);
	assert_non_null(strstr(dflt, "\"advisory_ids\":\"any\""));
	json_decref(j);
	tdx_policy_free(p);
	free(dflt);
	free(other);
	free(again);
	free(ca);
	free(cb);
#undef H48
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
	struct tdx_ratls_expect *e = ((void **)ctx)[0];
	int *calls = ((void **)ctx)[1];
	(*calls)++;
	return tdx_ratls_peer_check(e, der, len);
}

/* counting_check's epoch: the RA-TLS peer's, of its expect. */
static uint64_t counting_epoch(void *ctx)
{
	return tdx_ratls_peer_epoch(((void **)ctx)[0]);
}

/* A loopback server of the RA-TLS certificate made at set-up. */
static struct http_server_opts tls_server_opts(void)
{
	return (struct http_server_opts){.address = "127.0.0.1",
	                                 .threads = 2,
	                                 .max_body = 1024,
	                                 .tls_cert = cert_pem,
	                                 .tls_key = key_pem};
}

/* Over TLS: an RA-TLS server is admitted; a server with a plain
 * self-signed certificate, or a policy it does not meet, is refused at the
 * handshake; plain http is refused before connecting. */
static void client_admits_by_quote_over_tls(void **state)
{
	struct http_server_opts o = tls_server_opts();
	struct http_server *s;
	struct http_response r;
	struct tdx_gate g;
	struct tdx_ratls_expect e = {&g, NULL, PROTO_SMS_CONFIG_FORMAT};
	int calls = 0;
	void *ctx[2] = {&e, &calls};
	struct http_peer peer = {counting_check, ctx, 0, NULL};
	struct http_call call = {NULL, NULL, NULL, 0, &peer, NULL};
	char url[128], pem_path[600];
	(void)state;

	assert_int_equal(tdx_gate_open(&g, col, root, NULL, "test"), 0);
	assert_int_equal(http_server_start(&o, routes, NULL, &s), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/hello", http_server_port(s));
	if (http_call(url, &call, 1024, 5, &r) != 0)
		fail_msg("%s", err_msg());
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

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Attested connections are kept for the peer that checked them: calls
 * with that peer reuse the connection without another check; calls with
 * another peer (even one of the same check and context), or with none,
 * never ride it; a peer without an id checks every call; a connection the
 * server closed is replaced by one checked again (no session resumed). */
static void attested_connections_kept_per_peer(void **state)
{
	struct http_server_opts o = tls_server_opts();
	struct http_server *s;
	struct http_response r;
	struct tdx_gate g;
	struct tdx_ratls_expect e = {&g, NULL, PROTO_SMS_CONFIG_FORMAT};
	int calls = 0;
	void *ctx[2] = {&e, &calls};
	struct http_peer kept, other, once = {counting_check, ctx, 0, NULL};
	struct http_call call = {NULL, NULL, NULL, 0, &kept, NULL};
	struct http_counters c0, c1;
	char url[128];
	double t0, t_kept, t_once;
	enum { N = 20 };
	(void)state;

	http_peer_init(&kept, counting_check, ctx, NULL);
	http_peer_init(&other, counting_check, ctx, NULL);
	assert_int_not_equal(kept.id, other.id);
	assert_int_equal(tdx_gate_open(&g, col, root, NULL, "test"), 0);
	assert_int_equal(http_server_start(&o, routes, NULL, &s), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/hello", http_server_port(s));
	http_counters(&c0);
	t0 = now_s();
	for (int i = 0; i < N; i++) {
		if (http_call(url, &call, 1024, 10, &r) != 0)
			fail_msg("call %d: %s", i, err_msg());
		assert_int_equal(r.status, 200);
		http_response_free(&r);
	}
	t_kept = now_s() - t0;
	http_counters(&c1);
	assert_int_equal(calls, 1);
	assert_int_equal(c1.requests - c0.requests, N);
	assert_int_equal(c1.connects - c0.connects, 1);
	assert_int_equal(c1.peer_checks - c0.peer_checks, 1);
	/* another peer: a connection and a check of its own */
	call.peer = &other;
	assert_int_equal(http_call(url, &call, 1024, 10, &r), 0);
	http_response_free(&r);
	assert_int_equal(calls, 2);
	/* no peer: CA verification, on a connection of its own, refused */
	assert_int_equal(http_get(url, 1024, 2, &r), ERR_IO);
	assert_int_equal(calls, 2);
	/* the first peer's connection is still there */
	call.peer = &kept;
	assert_int_equal(http_call(url, &call, 1024, 10, &r), 0);
	http_response_free(&r);
	assert_int_equal(calls, 2);
	/* a peer without an id: a handshake and a check every call */
	call.peer = &once;
	t0 = now_s();
	for (int i = 0; i < N; i++) {
		if (http_call(url, &call, 1024, 10, &r) != 0)
			fail_msg("call %d: %s", i, err_msg());
		http_response_free(&r);
	}
	t_once = now_s() - t0;
	assert_int_equal(calls, 2 + N);
	print_message("%d sequential RA-TLS calls: %.1f ms with the connection kept, "
	              "%.1f ms with a handshake each\n",
	              N, t_kept * 1e3, t_once * 1e3);
	/* the server restarts on the same port, closing the kept connection:
	 * the next call opens a new one, checked again, without an error */
	o.port = http_server_port(s);
	http_server_stop(s);
	assert_int_equal(http_server_start(&o, routes, NULL, &s), 0);
	call.peer = &kept;
	if (http_call(url, &call, 1024, 10, &r) != 0)
		fail_msg("after the server closed: %s", err_msg());
	http_response_free(&r);
	assert_int_equal(calls, 3 + N);
	http_server_stop(s);
	tdx_gate_close(&g);
}

/* A PCK CRL as the simulated PCK Platform CA issues it at `at`, listing
 * the simulated TD's PCK certificate when `revoke` (DER, OPENSSL_free()). */
static int sim_pck_crl(time_t at, int revoke, uint8_t **der)
{
	char p[600];
	FILE *f;
	EVP_PKEY *key;
	X509 *ca, *leaf;
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t1 = ASN1_TIME_set(NULL, at), *t2 = ASN1_TIME_set(NULL, at + 30 * 86400);
	int n;

	snprintf(p, sizeof(p), "%s/pck_platform_ca.key", dir);
	assert_non_null(f = fopen(p, "r"));
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(p, sizeof(p), "%s/pck_platform_ca.pem", dir);
	assert_non_null(f = fopen(p, "r"));
	ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(p, sizeof(p), "%s/pck.pem", dir);
	assert_non_null(f = fopen(p, "r"));
	leaf = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(key);
	assert_non_null(ca);
	assert_non_null(leaf);
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
	X509_CRL_set1_lastUpdate(crl, t1);
	X509_CRL_set1_nextUpdate(crl, t2);
	if (revoke) {
		X509_REVOKED *r = X509_REVOKED_new();
		X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(leaf));
		X509_REVOKED_set_revocationDate(r, t1);
		X509_CRL_add0_revoked(crl, r);
		X509_CRL_sort(crl);
	}
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	*der = NULL;
	n = i2d_X509_CRL(crl, der);
	assert_true(n > 0);
	ASN1_TIME_free(t1);
	ASN1_TIME_free(t2);
	X509_CRL_free(crl);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(key);
	return n;
}

/* Publish the simulated TD's collateral in the collateral directory `cd`
 * as one platform (dcap-qvl's format), its PCK CRL replaced by `crl` when
 * given: what a cron job running `tdexec collateral fetch` does. */
static void publish(const char *cd, const uint8_t *crl, int crl_len)
{
	struct tdx_collateral *c;
	char p[600], *text;

	snprintf(p, sizeof(p), "%s/collateral", dir);
	assert_int_equal(tdx_collateral_load(p, &c), 0);
	if (crl) {
		free(c->pck_crl.p);
		assert_non_null(c->pck_crl.p = malloc((size_t)crl_len));
		memcpy(c->pck_crl.p, crl, (size_t)crl_len);
		c->pck_crl.len = (size_t)crl_len;
	}
	assert_int_equal(tdx_collateral_to_json(c, &text), 0);
	snprintf(p, sizeof(p), "%s/platform.json", cd);
	assert_int_equal(file_write(p, text, strlen(text), 0644), 0);
	free(text);
	tdx_collateral_free(c);
}

/* One call with `peer`, which must answer 200. */
static void call_ok(const char *url, const struct http_peer *peer)
{
	struct http_call call = {NULL, NULL, NULL, 0, peer, NULL};
	struct http_response r;
	if (http_call(url, &call, 1024, 10, &r) != 0)
		fail_msg("%s", err_msg());
	assert_int_equal(r.status, 200);
	http_response_free(&r);
}

/* The kept-connection cases' set-up: a TLS server, a gate over the
 * collateral `cd` (and a policy file, or NULL), and a RA-TLS peer whose
 * checks are counted in `calls`. */
struct kept_case {
	struct http_server_opts o;
	struct http_server *s;
	struct tdx_gate g;
	struct tdx_ratls_expect e;
	int calls;
	void *ctx[2];
	struct http_peer peer;
	struct http_call call;
	char url[128];
};

static void kept_start(struct kept_case *k, const char *cd, const char *policy)
{
	memset(k, 0, sizeof(*k));
	k->o = tls_server_opts();
	k->e = (struct tdx_ratls_expect){&k->g, NULL, PROTO_SMS_CONFIG_FORMAT};
	k->ctx[0] = &k->e;
	k->ctx[1] = &k->calls;
	http_peer_init(&k->peer, counting_check, k->ctx, counting_epoch);
	k->call = (struct http_call){NULL, NULL, NULL, 0, &k->peer, NULL};
	assert_int_equal(tdx_gate_open(&k->g, cd, root, policy, "test"), 0);
	assert_int_equal(http_server_start(&k->o, routes, NULL, &k->s), 0);
	snprintf(k->url, sizeof(k->url), "https://127.0.0.1:%d/hello", http_server_port(k->s));
}

static void kept_stop(struct kept_case *k)
{
	http_server_stop(k->s);
	tdx_gate_close(&k->g);
}

/* A kept attested connection is reused while what admitted it does not
 * change (a refresh that reads the same collateral again included); once
 * the gate swapped in new collateral, the next call opens a connection
 * and checks the peer again before sending anything, and the new one is
 * kept in turn. */
static void kept_connection_checked_again_after_new_collateral(void **state)
{
	struct tdx_sim_opts again = {0, 30, 0};
	struct kept_case k;
	struct http_counters c0, c1;
	char *cd = td_tmpdir();
	uint64_t epoch;
	(void)state;

	publish(cd, NULL, 0);
	kept_start(&k, cd, NULL);
	http_counters(&c0);
	for (int i = 0; i < 5; i++)
		call_ok(k.url, &k.peer);
	epoch = tdx_gate_epoch(&k.g);
	/* the same collateral read again: nothing changed */
	assert_int_equal(tdx_collstore_refresh(k.g.collateral, time(NULL), 1), 0);
	assert_true(tdx_gate_epoch(&k.g) == epoch);
	call_ok(k.url, &k.peer);
	http_counters(&c1);
	assert_int_equal(k.calls, 1);
	assert_int_equal(c1.requests - c0.requests, 6);
	assert_int_equal(c1.connects - c0.connects, 1);
	assert_int_equal(c1.peer_checks - c0.peer_checks, 1);

	/* the PCS issued new collateral (TCB info, QE identity, CRLs) */
	again.now = time(NULL);
	assert_int_equal(tdx_sim_collateral(dir, &again), 0);
	publish(cd, NULL, 0);
	assert_int_equal(tdx_collstore_refresh(k.g.collateral, time(NULL), 1), 0);
	assert_true(tdx_gate_epoch(&k.g) != epoch);
	call_ok(k.url, &k.peer);
	http_counters(&c1);
	assert_int_equal(k.calls, 2);
	assert_int_equal(c1.connects - c0.connects, 2);
	assert_int_equal(c1.peer_checks - c0.peer_checks, 2);
	/* and that connection is kept */
	for (int i = 0; i < 3; i++)
		call_ok(k.url, &k.peer);
	http_counters(&c1);
	assert_int_equal(k.calls, 2);
	assert_int_equal(c1.connects - c0.connects, 2);
	kept_stop(&k);
	td_rmtree(cd);
	free(cd);
}

/* Another gate of the process (a scheduler's, admitting workers) swapping
 * in new collateral leaves a connection kept under this gate alone: no
 * handshake, no check.  Its own new collateral then checks the server
 * again, once. */
static void kept_connection_kept_when_another_gate_changes(void **state)
{
	struct tdx_sim_opts again = {0, 30, 0};
	struct kept_case k;
	struct tdx_gate other;
	struct http_counters c0, c1;
	char *cd = td_tmpdir(), *od = td_tmpdir();
	uint64_t mine, theirs;
	(void)state;

	publish(cd, NULL, 0);
	publish(od, NULL, 0);
	kept_start(&k, cd, NULL);
	assert_int_equal(tdx_gate_open(&other, od, root, NULL, "test-other"), 0);
	call_ok(k.url, &k.peer);
	http_counters(&c0);
	mine = tdx_gate_epoch(&k.g);
	theirs = tdx_gate_epoch(&other);
	assert_true(mine != theirs);

	/* new collateral, in the other gate's directory only */
	again.now = time(NULL);
	assert_int_equal(tdx_sim_collateral(dir, &again), 0);
	publish(od, NULL, 0);
	assert_int_equal(tdx_collstore_refresh(other.collateral, time(NULL), 1), 0);
	assert_true(tdx_gate_epoch(&other) != theirs);
	assert_true(tdx_gate_epoch(&k.g) == mine);
	for (int i = 0; i < 3; i++)
		call_ok(k.url, &k.peer);
	http_counters(&c1);
	assert_int_equal(k.calls, 1);
	assert_int_equal(c1.connects - c0.connects, 0);
	assert_int_equal(c1.requests - c0.requests, 3);

	/* the same collateral reaches this gate: checked again, once */
	publish(cd, NULL, 0);
	assert_int_equal(tdx_collstore_refresh(k.g.collateral, time(NULL), 1), 0);
	assert_true(tdx_gate_epoch(&k.g) != mine);
	call_ok(k.url, &k.peer);
	call_ok(k.url, &k.peer);
	http_counters(&c1);
	assert_int_equal(k.calls, 2);
	assert_int_equal(c1.connects - c0.connects, 1);
	tdx_gate_close(&other);
	kept_stop(&k);
	td_rmtree(cd);
	td_rmtree(od);
	free(cd);
	free(od);
}

/* A CRL that revokes the server's PCK certificate, swapped in while an
 * admitted connection to it is kept: the next call is refused at a new
 * handshake, naming the revocation, and sends nothing on the old
 * connection.  A later CRL without it admits the server again. */
static void kept_connection_refused_once_its_pck_is_revoked(void **state)
{
	struct kept_case k;
	struct http_response r;
	struct http_counters c0, c1;
	char *cd = td_tmpdir();
	uint8_t *crl;
	int n;
	(void)state;

	publish(cd, NULL, 0);
	kept_start(&k, cd, NULL);
	call_ok(k.url, &k.peer);
	call_ok(k.url, &k.peer);
	assert_int_equal(k.calls, 1);

	n = sim_pck_crl(time(NULL), 1, &crl);
	publish(cd, crl, n);
	OPENSSL_free(crl);
	assert_int_equal(tdx_collstore_refresh(k.g.collateral, time(NULL), 1), 0);
	http_counters(&c0);
	assert_int_equal(http_call(k.url, &k.call, 1024, 10, &r), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "attestation is refused"));
	assert_non_null(strstr(err_msg(), "is revoked by the PCK CRL"));
	http_response_free(&r);
	http_counters(&c1);
	assert_int_equal(k.calls, 2);
	assert_int_equal(c1.connects - c0.connects, 1);
	assert_int_equal(c1.requests - c0.requests, 1); /* not retried */
	/* still revoked on the next call: a refused connection is not kept */
	assert_int_equal(http_call(k.url, &k.call, 1024, 10, &r), ERR_VERIFY);
	http_response_free(&r);
	assert_int_equal(k.calls, 3);

	/* the other way: a CRL that no longer lists it admits it again */
	n = sim_pck_crl(time(NULL), 0, &crl);
	publish(cd, crl, n);
	OPENSSL_free(crl);
	assert_int_equal(tdx_collstore_refresh(k.g.collateral, time(NULL), 1), 0);
	call_ok(k.url, &k.peer);
	call_ok(k.url, &k.peer);
	assert_int_equal(k.calls, 4);
	kept_stop(&k);
	td_rmtree(cd);
	free(cd);
}

/* The gate a kept connection was admitted by closed and opened again with
 * a policy the server does not meet (the same peer, the same context): the
 * next call checks the server again and is refused. */
static void kept_connection_checked_again_under_a_new_gate(void **state)
{
	struct kept_case k;
	struct http_response r;
	char pol[600];
	const char *other = "{\"measurements\": {\"MRTD\": \"" /* 48 bytes of 0x22 */
	                    "222222222222222222222222222222222222222222222222"
	                    "222222222222222222222222222222222222222222222222\"}}\n";
	(void)state;

	snprintf(pol, sizeof(pol), "%s/other-mrtd.json", dir);
	assert_int_equal(file_write(pol, other, strlen(other), 0644), 0);
	kept_start(&k, col, NULL);
	call_ok(k.url, &k.peer);
	call_ok(k.url, &k.peer);
	assert_int_equal(k.calls, 1);
	tdx_gate_close(&k.g);
	assert_int_equal(tdx_gate_open(&k.g, col, root, pol, "test"), 0);
	assert_int_equal(http_call(k.url, &k.call, 1024, 10, &r), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "attestation is refused"));
	http_response_free(&r);
	assert_int_equal(k.calls, 2);
	kept_stop(&k);
}

/* The EAR key of an SMS's certificate (TDX_RATLS_EAR_OID): the certificate
 * is still admitted as before; the key is read only under the certificate's
 * own signature, so an extension swapped for another key is refused. */
static char *ear_jwk_text(char kid[44])
{
	EVP_PKEY *k;
	uint8_t xy[64];
	json_t *j;
	char *t;
	assert_int_equal(p256_keygen(&k), 0);
	assert_int_equal(p256_pub_xy(k, xy), 0);
	EVP_PKEY_free(k);
	jwk_thumbprint_p256(xy, kid);
	j = jwk_p256_json(xy);
	t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(j);
	return t;
}

static int ear_of(X509 *x, char kid[44])
{
	uint8_t *der = NULL;
	int n = i2d_X509(x, &der), rc;
	json_t *jwk = NULL;
	assert_true(n > 0);
	rc = tdx_ratls_ear_key(der, (size_t)n, &jwk, kid);
	json_decref(jwk);
	OPENSSL_free(der);
	return rc;
}

static void ear_key_bound_by_the_certificate_signature(void **state)
{
	char want[44], got[44], other_kid[44], *jwk = ear_jwk_text(want),
	                                       *other = ear_jwk_text(other_kid);
	char *cert = NULL, *key = NULL;
	struct tdx_verdict v;
	uint8_t *oct;
	int n;
	X509 *x;
	(void)state;

	assert_int_equal(
	    tdx_ratls_make_ear(&prov, "test", 1, honest_doc, honest_len, jwk, &cert, &key), 0);
	x = pem_cert(cert);
	assert_int_equal(check_x(x, 1, NULL, &v), 0);
	assert_int_equal(ear_of(x, got), 0);
	assert_string_equal(got, want);
	/* another key's JWK in its place, the certificate not signed again */
	del_ext(x, TDX_RATLS_EAR_OID);
	n = octets(other, strlen(other), &oct);
	add_raw_ext(x, TDX_RATLS_EAR_OID, oct, n, 0);
	OPENSSL_free(oct);
	assert_true(i2d_re_X509_tbs(x, NULL) > 0); /* the encoding carries the swap */
	assert_int_equal(ear_of(x, got), ERR_VERIFY);
	X509_free(x);
	/* a certificate without one */
	x = pem_cert(cert_pem);
	assert_int_equal(ear_of(x, got), ERR_NOTFOUND);
	X509_free(x);
	OPENSSL_cleanse(key, strlen(key));
	free(key);
	free(cert);
	free(jwk);
	free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(admitted_with_the_sim_root_only),
	    cmocka_unit_test(policy_decides),
	    cmocka_unit_test(refuses_a_quote_for_another_key),
	    cmocka_unit_test(refuses_mutated_missing_and_malformed_quotes),
	    cmocka_unit_test(configuration_is_bound_read_and_pinned),
	    cmocka_unit_test(refuses_a_server_trusting_another_root),
	    cmocka_unit_test(refuses_altered_removed_duplicated_configuration),
	    cmocka_unit_test(refuses_a_configuration_not_canonical),
	    cmocka_unit_test(the_policy_in_effect_has_one_form),
	    cmocka_unit_test(refuses_a_server_admitting_any_code),
	    cmocka_unit_test(client_admits_by_quote_over_tls),
	    cmocka_unit_test(attested_connections_kept_per_peer),
	    cmocka_unit_test(kept_connection_checked_again_after_new_collateral),
	    cmocka_unit_test(kept_connection_kept_when_another_gate_changes),
	    cmocka_unit_test(kept_connection_refused_once_its_pck_is_revoked),
	    cmocka_unit_test(kept_connection_checked_again_under_a_new_gate),
	    cmocka_unit_test(ear_key_bound_by_the_certificate_signature),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
