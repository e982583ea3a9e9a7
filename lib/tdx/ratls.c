/* ratls.c — RA-TLS certificates, see ratls.h. */
#include "tdx/ratls.h"

#include "crypto/jws.h"
#include "crypto/p256.h"
#include "net/http.h"
#include "proto/proto.h"
#include "tdx/intel_root.h"
#include "util/codec.h"
#include "util/err.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define CANONICAL (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII)

int tdx_ratls_canonical(const json_t *doc, char **out, size_t *len)
{
	*out = NULL;
	ENSURE(json_is_object(doc), ERR_INVAL, "ratls: the configuration must be a JSON object");
	*out = json_dumps(doc, CANONICAL);
	ENSURE(*out, ERR_NOMEM, "out of memory");
	*len = strlen(*out);
	if (*len > TDX_RATLS_CONFIG_MAX) {
		free(*out);
		*out = NULL;
		return err_set(ERR_INVAL, "ratls: the configuration is over %u bytes",
		               TDX_RATLS_CONFIG_MAX);
	}
	return 0;
}

int tdx_ratls_config_parse(const uint8_t *bytes, size_t len, json_t **doc)
{
	json_error_t je;
	char *again = NULL;
	size_t n = 0;
	int rc = 0;

	*doc = NULL;
	ENSURE(len > 0 && len <= TDX_RATLS_CONFIG_MAX, ERR_INVAL,
	       "ratls: the configuration is empty or over %u bytes", TDX_RATLS_CONFIG_MAX);
	*doc = json_loadb((const char *)bytes, len, JSON_REJECT_DUPLICATES, &je);
	ENSURE_GOTO(*doc, ERR_INVAL, "ratls: the configuration is not JSON: %s", je.text);
	GUARD_GOTO(tdx_ratls_canonical(*doc, &again, &n));
	/* One document, one byte string: what the client reads is what it
	 * hashed, and no two readers can see different members. */
	ENSURE_GOTO(n == len && memcmp(again, bytes, len) == 0, ERR_INVAL,
	            "ratls: the configuration is not in canonical form");
out:
	free(again);
	if (rc < 0) {
		json_decref(*doc);
		*doc = NULL;
	}
	return rc;
}

int tdx_ratls_anchor_json(const struct tdx_verifier *v, json_t **out)
{
	const uint8_t *der, *p;
	uint8_t h[32];
	size_t len;
	int sim, rc = 0;
	X509 *x = NULL;
	BIO *b = NULL;
	char *subject = NULL, hex[65];

	*out = NULL;
	der = tdx_verifier_anchor(v, &len, &sim);
	p = der;
	x = d2i_X509(NULL, &p, (long)len);
	b = BIO_new(BIO_s_mem());
	ENSURE_GOTO(x && b &&
	                X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0 &&
	                BIO_write(b, "", 1) == 1 && BIO_get_mem_data(b, &subject) > 0,
	            ERR_INVAL, "ratls: the trust anchor does not parse");
	GUARD_GOTO(sha256(der, len, h));
	hex_encode(hex, h, 32);
	*out = json_pack("{s:s,s:s,s:s}", "kind", sim ? "simulated" : "intel", "sha256", hex,
	                 "subject", subject);
	ENSURE_GOTO(*out, ERR_NOMEM, "out of memory");
out:
	BIO_free(b);
	X509_free(x);
	return rc;
}

int tdx_ratls_pin_parse(const char *hex, const char *what, uint8_t out[32])
{
	return hex_decode_exact(out, 32, hex, what);
}

/* The key's SubjectPublicKeyInfo DER (OPENSSL_free()). */
static int spki_der(EVP_PKEY *k, uint8_t **der, size_t *len)
{
	int n;
	*der = NULL;
	n = i2d_PUBKEY(k, der);
	ENSURE(n > 0, ERR_CRYPTO, "ratls: cannot encode the public key");
	*len = (size_t)n;
	return 0;
}

static char *pem_text(int (*write)(BIO *, void *), void *obj)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;
	if (b && write(b, obj) == 1 && (n = BIO_get_mem_data(b, &data)) > 0) {
		out = malloc((size_t)n + 1);
		if (out) {
			memcpy(out, data, (size_t)n);
			out[n] = '\0';
		}
		OPENSSL_cleanse(data, (size_t)n);
	}
	BIO_free(b);
	return out;
}

static int write_cert(BIO *b, void *x)
{
	return PEM_write_bio_X509(b, x);
}

static int write_key(BIO *b, void *k)
{
	return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

/* `content` as a non-critical extension `oid` whose value is one DER
 * OCTET STRING holding it (the quote, the configuration document). */
static int add_ext(X509 *x, const char *oid_txt, const uint8_t *content, size_t len)
{
	ASN1_OCTET_STRING *inner = ASN1_OCTET_STRING_new(), *outer = ASN1_OCTET_STRING_new();
	ASN1_OBJECT *oid = OBJ_txt2obj(oid_txt, 1);
	X509_EXTENSION *ext = NULL;
	uint8_t *der = NULL;
	int n = -1, rc = 0;

	if (inner && outer && oid && len <= INT_MAX &&
	    ASN1_OCTET_STRING_set(inner, content, (int)len) == 1)
		n = i2d_ASN1_OCTET_STRING(inner, &der);
	if (n > 0 && ASN1_OCTET_STRING_set(outer, der, n) == 1)
		ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, outer);
	if (!ext || X509_add_ext(x, ext, -1) != 1)
		rc = err_set(ERR_CRYPTO, "ratls: cannot add extension %s", oid_txt);
	X509_EXTENSION_free(ext);
	OPENSSL_free(der);
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(inner);
	ASN1_OCTET_STRING_free(outer);
	return rc;
}

int tdx_ratls_make(const struct tdx_provider *p, const char *subject, long days, const char *config,
                   size_t config_len, char **cert_pem, char **key_pem)
{
	return tdx_ratls_make_ear(p, subject, days, config, config_len, NULL, cert_pem, key_pem);
}

int tdx_ratls_make_ear(const struct tdx_provider *p, const char *subject, long days,
                       const char *config, size_t config_len, const char *ear_jwk, char **cert_pem,
                       char **key_pem)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	uint8_t *spki = NULL, rd[64], *quote = NULL, serial[16], ch[32];
	size_t spki_len = 0, qlen = 0;
	BIGNUM *bn = NULL;
	json_t *doc = NULL;
	int rc = 0;

	*cert_pem = *key_pem = NULL;
	ENSURE_GOTO(k && x, ERR_CRYPTO, "ratls: cannot make a key");
	/* never a certificate that its clients would refuse */
	GUARD_GOTO(tdx_ratls_config_parse((const uint8_t *)config, config_len, &doc));
	GUARD_GOTO(sha256(config, config_len, ch));
	GUARD_GOTO(spki_der(k, &spki, &spki_len));
	GUARD_GOTO(proto_ratls_report_data(spki, spki_len, ch, rd));
	GUARD_GOTO(tdx_provider_quote(p, rd, &quote, &qlen));
	ENSURE_GOTO(RAND_bytes(serial, sizeof(serial)) == 1, ERR_CRYPTO, "ratls: no randomness");
	serial[0] &= 0x7f; /* a positive serial number */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	name = X509_get_subject_name(x);
	ENSURE_GOTO(bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
	                X509_set_version(x, X509_VERSION_3) == 1 &&
	                X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
	                X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L) &&
	                X509_set_pubkey(x, k) == 1 &&
	                X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	                                           (const unsigned char *)subject, -1, -1,
	                                           0) == 1 &&
	                X509_set_issuer_name(x, name) == 1,
	            ERR_CRYPTO, "ratls: cannot fill the certificate");
	GUARD_GOTO(add_ext(x, TDX_RATLS_OID, quote, qlen));
	GUARD_GOTO(add_ext(x, TDX_RATLS_CONFIG_OID, (const uint8_t *)config, config_len));
	if (ear_jwk)
		GUARD_GOTO(
		    add_ext(x, TDX_RATLS_EAR_OID, (const uint8_t *)ear_jwk, strlen(ear_jwk)));
	ENSURE_GOTO(X509_sign(x, k, EVP_sha256()) > 0, ERR_CRYPTO, "ratls: cannot sign");
	*cert_pem = pem_text(write_cert, x);
	*key_pem = pem_text(write_key, k);
	if (!*cert_pem || !*key_pem) {
		free(*cert_pem);
		free(*key_pem);
		*cert_pem = *key_pem = NULL;
		rc = err_set(ERR_NOMEM, "ratls: cannot encode the certificate");
	}
out:
	json_decref(doc);
	BN_free(bn);
	free(quote);
	OPENSSL_free(spki);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

/* The content of extension `oid_txt` of x, which must be there once,
 * non-critical, its value one DER OCTET STRING of 1 to `cap` bytes: a new
 * buffer in *out (free()).  `what` and `whats` name it in errors. */
static int ext_content(X509 *x, const char *oid_txt, const char *what, const char *whats,
                       size_t cap, uint8_t **out, size_t *len)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(oid_txt, 1);
	ASN1_OCTET_STRING *inner = NULL;
	X509_EXTENSION *ext;
	const uint8_t *d, *p;
	int rc = 0, at, n;

	*out = NULL;
	ENSURE_GOTO(oid, ERR_NOMEM, "out of memory");
	at = X509_get_ext_by_OBJ(x, oid, -1);
	ENSURE_GOTO(at >= 0, ERR_NOTFOUND, "ratls: the certificate carries no %s (%s)", what,
	            oid_txt);
	ENSURE_GOTO(X509_get_ext_by_OBJ(x, oid, at) < 0, ERR_INVAL,
	            "ratls: the certificate carries two %s", whats);
	ext = X509_get_ext(x, at);
	ENSURE_GOTO(!X509_EXTENSION_get_critical(ext), ERR_INVAL,
	            "ratls: the %s extension is marked critical", what);
	const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ext);
	d = ASN1_STRING_get0_data(val);
	n = ASN1_STRING_length(val);
	p = d;
	inner = d2i_ASN1_OCTET_STRING(NULL, &p, n);
	ENSURE_GOTO(inner && p == d + n && ASN1_STRING_length(inner) > 0, ERR_INVAL,
	            "ratls: the %s extension is not one OCTET STRING", what);
	*len = (size_t)ASN1_STRING_length(inner);
	ENSURE_GOTO(*len <= cap, ERR_INVAL, "ratls: the %s is over %zu bytes", what, cap);
	*out = malloc(*len);
	ENSURE_GOTO(*out, ERR_NOMEM, "out of memory");
	memcpy(*out, ASN1_STRING_get0_data(inner), *len);
out:
	ASN1_OCTET_STRING_free(inner);
	ASN1_OBJECT_free(oid);
	return rc;
}

/* The certificate (DER, wholly) and its quote extension's content. */
static int cert_parts(const uint8_t *der, size_t len, X509 **out, uint8_t **quote, size_t *qlen)
{
	const uint8_t *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	int rc = 0;

	*out = NULL;
	*quote = NULL;
	ENSURE_GOTO(x && p == der + len, ERR_INVAL, "ratls: the certificate does not parse");
	GUARD_GOTO(ext_content(x, TDX_RATLS_OID, "TD quote", "TD quotes", 1u << 20, quote, qlen));
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return rc;
}

int tdx_ratls_quote(const uint8_t *der, size_t len, uint8_t **quote, size_t *qlen)
{
	X509 *x;
	GUARD(cert_parts(der, len, &x, quote, qlen));
	X509_free(x);
	return 0;
}

int tdx_ratls_ear_key(const uint8_t *der, size_t len, json_t **jwk, char kid[44])
{
	const uint8_t *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	uint8_t *content = NULL, xy[64];
	size_t clen = 0;
	const char *named;
	int rc = 0;

	*jwk = NULL;
	ENSURE_GOTO(x && p == der + len, ERR_INVAL, "ratls: the certificate does not parse");
	GUARD_GOTO(ext_content(x, TDX_RATLS_EAR_OID, "EAR key", "EAR keys", 4096, &content, &clen));
	/* the quote vouches for the certificate's key; that key's signature
	 * over the certificate vouches for the extension */
	ENSURE_GOTO(X509_verify(x, X509_get0_pubkey(x)) == 1, ERR_VERIFY,
	            "ratls: the certificate's signature does not verify under its own key");
	GUARD_GOTO(tdx_ratls_config_parse(content, clen, jwk));
	GUARD_GOTO(jwk_p256_parse(*jwk, xy));
	jwk_thumbprint_p256(xy, kid);
	named = json_string_value(json_object_get(*jwk, "kid"));
	ENSURE_GOTO(!named || strcmp(named, kid) == 0, ERR_INVAL,
	            "ratls: the EAR key's kid is not its RFC 7638 thumbprint");
out:
	if (rc < 0) {
		json_decref(*jwk);
		*jwk = NULL;
	}
	free(content);
	X509_free(x);
	return rc;
}

/* A server that admits TDs by a root other than Intel's is admitted only by
 * a client anchored at that very root: the same code started with
 * --trust-sim-root pointing at its operator's own root would release
 * secrets to TDs that operator simulates. */
static int trust_check(const struct tdx_ratls_expect *e, const json_t *doc)
{
	const json_t *a = json_object_get(doc, "attestation"), *t;
	const char *kind, *hex, *subject;
	const uint8_t *der;
	uint8_t h[32], want[32];
	size_t len;
	int sim;
	char mine[65];

	if (!a || json_is_null(a))
		return 0; /* a server that admits no TD */
	t = json_object_get(a, "trust");
	kind = json_string_value(json_object_get(t, "kind"));
	hex = json_string_value(json_object_get(t, "sha256"));
	ENSURE(json_is_object(a) && kind && hex && hex_decode_exact(want, 32, hex, "sha256") == 0,
	       ERR_INVAL, "ratls: the configuration's \"attestation\" names no trust anchor");
	subject = json_string_value(json_object_get(t, "subject"));
	subject = subject ? subject : "?";
	if (strcmp(kind, "intel") == 0) {
		GUARD(sha256(tdx_intel_root_ca_der, tdx_intel_root_ca_der_len, h));
		ENSURE(memcmp(h, want, 32) == 0, ERR_VERIFY,
		       "ratls: the server's configuration names another certificate (sha256 %s) as "
		       "Intel's root",
		       hex);
		return 0;
	}
	ENSURE(strcmp(kind, "simulated") == 0, ERR_INVAL,
	       "ratls: the configuration's trust anchor is of unknown kind \"%s\"", kind);
	der = tdx_verifier_anchor(e->gate->verifier, &len, &sim);
	GUARD(sha256(der, len, h));
	hex_encode(mine, h, 32);
	ENSURE(
	    sim, ERR_VERIFY,
	    "ratls: the server trusts a simulated root CA (sha256 %s, %s) and this client trusts "
	    "Intel's root only",
	    hex, subject);
	ENSURE(memcmp(h, want, 32) == 0, ERR_VERIFY,
	       "ratls: the server trusts a simulated root CA (sha256 %s, %s) that is not this "
	       "client's (sha256 %s)",
	       hex, subject, mine);
	return 0;
}

/* The server's pool policy pins MRTD and refuses debug TDs: otherwise it
 * would release secrets to a TD running any code, whatever its own quote
 * shows. */
static int policy_check(const json_t *doc)
{
	const json_t *a = json_object_get(doc, "attestation"), *p, *mrtd;

	if (!a || json_is_null(a))
		return 0; /* a server that admits no TD */
	p = json_object_get(a, "policy");
	mrtd = json_object_get(json_object_get(p, "measurements"), "MRTD");
	ENSURE(json_is_array(mrtd) && json_array_size(mrtd) > 0, ERR_VERIFY,
	       "ratls: the server's policy pins no MRTD, so it admits TDs running any code "
	       "(pin its configuration hash to accept it)");
	ENSURE(json_is_false(json_object_get(p, "allow_debug")), ERR_VERIFY,
	       "ratls: the server's policy admits debug TDs (pin its configuration hash to "
	       "accept it)");
	return 0;
}

int tdx_ratls_check(const struct tdx_ratls_expect *e, const uint8_t *der, size_t len,
                    struct tdx_verdict *v, uint8_t config_hash[32], json_t **config)
{
	struct tdx_quote *q = NULL;
	uint8_t *quote = NULL, *spki = NULL, *conf = NULL, rd[64], ch[32];
	size_t qlen = 0, spki_len = 0, clen = 0;
	X509 *x = NULL;
	json_t *doc = NULL;
	char got[65], pin[65];
	int rc;

	memset(v, 0, sizeof(*v));
	if (config)
		*config = NULL;
	GUARD_GOTO(cert_parts(der, len, &x, &quote, &qlen));
	GUARD_GOTO(ext_content(x, TDX_RATLS_CONFIG_OID, "configuration", "configurations",
	                       TDX_RATLS_CONFIG_MAX, &conf, &clen));
	GUARD_GOTO(sha256(conf, clen, ch));
	GUARD_GOTO(spki_der(X509_get0_pubkey(x), &spki, &spki_len));
	GUARD_GOTO(proto_ratls_report_data(spki, spki_len, ch, rd));
	GUARD_GOTO(tdx_gate_check(e->gate, quote, qlen, &q, v));
	ENSURE_GOTO(CRYPTO_memcmp(rd, q->body.report_data, 64) == 0, ERR_VERIFY,
	            "ratls: the quote's REPORTDATA does not bind the certificate's key and "
	            "configuration");
	/* From here the document is the one the quoted TD made. */
	hex_encode(got, ch, 32);
	if (e->config_hash) {
		hex_encode(pin, e->config_hash, 32);
		ENSURE_GOTO(memcmp(ch, e->config_hash, 32) == 0, ERR_VERIFY,
		            "ratls: the server's configuration hash is %s, not the pinned %s", got,
		            pin);
	}
	GUARD_GOTO(tdx_ratls_config_parse(conf, clen, &doc));
	if (e->format) {
		const char *f = json_string_value(json_object_get(doc, "format"));
		ENSURE_GOTO(f && strcmp(f, e->format) == 0, ERR_VERIFY,
		            "ratls: the server's configuration is \"%s\", not \"%s\"", f ? f : "?",
		            e->format);
	}
	GUARD_GOTO(trust_check(e, doc));
	/* unless pinned (the client vetted this very document), the server's
	 * policy must admit known code only */
	if (!e->config_hash)
		GUARD_GOTO(policy_check(doc));
	if (config_hash)
		memcpy(config_hash, ch, 32);
	if (config) {
		*config = doc;
		doc = NULL;
	}
out:
	json_decref(doc);
	tdx_quote_free(q);
	OPENSSL_free(spki);
	free(conf);
	free(quote);
	X509_free(x);
	return rc;
}

int tdx_ratls_peer_check(void *expect, const uint8_t *der, size_t len)
{
	struct tdx_verdict v;
	return tdx_ratls_check(expect, der, len, &v, NULL, NULL);
}

uint64_t tdx_ratls_peer_epoch(void *expect)
{
	const struct tdx_ratls_expect *e = expect;
	return tdx_gate_epoch(e->gate);
}

void tdx_ratls_peer_init(struct http_peer *p, struct tdx_ratls_expect *expect)
{
	http_peer_init(p, tdx_ratls_peer_check, expect, tdx_ratls_peer_epoch);
}
