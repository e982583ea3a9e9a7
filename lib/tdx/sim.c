#include "sim.h"

#include "crypto/p256.h"
#include "tdx/pck.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Fixed parameters of the simulated platform.  FMSPC spells "SIM". */
static const uint8_t sim_fmspc[6] = {0x53, 0x49, 0x4d, 0x00, 0x00, 0x00};
static const uint8_t sim_pceid[2] = {0x00, 0x00};
static const uint8_t sim_comp_svn[16] = {3, 3, 2, 2, 4, 1, 0, 5};
static const uint16_t sim_pcesvn = 13;
static const uint8_t sim_tee_tcb_svn[16] = {5, 1, 2}; /* module SVN 5, major 1 */
static const uint16_t sim_qe_isvsvn = 4;
static const uint16_t sim_qe_prodid = 2; /* TD_QE */
/* Intel's QE vendor id; a verifier checks it like any other field. */
static const uint8_t intel_qe_vendor[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                            0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

#define SIM_ORG "tdexec simulated TD"

/* TDREPORT_STRUCT (TDX module ABI): REPORTMACSTRUCT (256 bytes: REPORTTYPE,
 * reserved, CPUSVN, TEE_TCB_INFO_HASH, TEE_INFO_HASH, REPORTDATA at 128,
 * reserved, MAC at 224), TEE_TCB_INFO (239) and 17 reserved, TDINFO (512). */
#define SIM_REPORT_MACED             224 /* the MAC covers bytes 0..223 */
#define SIM_REPORT_TEE_TCB_INFO      256
#define SIM_REPORT_TEE_TCB_INFO_SIZE 239
#define SIM_REPORT_TDINFO            512
#define SIM_REPORT_TDINFO_SIZE       512

struct tdx_sim {
	EVP_PKEY *pck_key;
	EVP_PKEY *att_key;
	uint8_t att_pub[64];
	uint8_t *chain; /* PEM: leaf, platform CA, root */
	size_t chain_len;
	struct tdx_td_body body;
	/* The QE report certifying the attestation key, signed by the PCK
	 * key: made once, as a real QE does, and carried by every quote. */
	struct sgx_report_body qe_report;
	uint8_t qe_report_sig[64];
	/* Stands in for the CPU's report MAC key: TDREPORTs made by
	 * tdx_sim_report() are MACed with it, and the simulated QE
	 * (tdx_sim_quote_report()) checks the MAC, as EVERIFYREPORT2 does. */
	uint8_t report_key[32];
};

static const uint8_t qe_auth[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static int path_join(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	ENSURE(n > 0 && (size_t)n < cap, ERR_INVAL, "%s: path too long", dir);
	return 0;
}

/* Deterministic 48-byte default measurement from a label. */
static int label_digest(const char *label, uint8_t out[48])
{
	return sha384(label, strlen(label), out);
}

/* ---------- certificates and CRLs ---------- */

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = e && X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (!ok)
		return err_set_openssl(ERR_CRYPTO, "cannot add certificate extension");
	return 0;
}

static int set_name(X509_NAME *n, const char *cn)
{
	ENSURE(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
	                                  0) &&
	           X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)SIM_ORG,
	                                      -1, -1, 0) &&
	           X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"US", -1,
	                                      -1, 0),
	       ERR_NOMEM, "out of memory");
	return 0;
}

static int rand_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int ok = bn && BN_rand(bn, 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
	         BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	ENSURE(ok, ERR_CRYPTO, "cannot make a serial number");
	return 0;
}

struct cert_spec {
	const char *cn;
	X509 *issuer;         /* NULL: self-signed */
	EVP_PKEY *issuer_key; /* NULL: self-signed */
	EVP_PKEY *key;
	time_t not_before, not_after;
	const char *basic, *usage;
	const uint8_t *sgx_ext; /* DER of the SGX extension, or NULL */
	size_t sgx_ext_len;
};

static int mk_cert(const struct cert_spec *s, X509 **out)
{
	X509 *x = X509_new();
	ASN1_OCTET_STRING *os = NULL;
	ASN1_OBJECT *obj = NULL;
	X509V3_CTX ctx;
	int rc = 0;

	ENSURE_GOTO(x, ERR_NOMEM, "out of memory");
	ENSURE_GOTO(X509_set_version(x, 2), ERR_CRYPTO, "X509_set_version");
	GUARD_GOTO(rand_serial(x));
	GUARD_GOTO(set_name(X509_get_subject_name(x), s->cn));
	ENSURE_GOTO(X509_set_issuer_name(x, s->issuer ? X509_get_subject_name(s->issuer)
	                                              : X509_get_subject_name(x)),
	            ERR_NOMEM, "out of memory");
	ENSURE_GOTO(ASN1_TIME_set(X509_getm_notBefore(x), s->not_before) &&
	                ASN1_TIME_set(X509_getm_notAfter(x), s->not_after),
	            ERR_CRYPTO, "cannot set validity");
	ENSURE_GOTO(X509_set_pubkey(x, s->key), ERR_CRYPTO, "X509_set_pubkey");
	X509V3_set_ctx(&ctx, s->issuer ? s->issuer : x, x, NULL, NULL, 0);
	GUARD_GOTO(add_ext(x, &ctx, NID_basic_constraints, s->basic));
	GUARD_GOTO(add_ext(x, &ctx, NID_key_usage, s->usage));
	GUARD_GOTO(add_ext(x, &ctx, NID_subject_key_identifier, "hash"));
	GUARD_GOTO(add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"));
	if (s->sgx_ext) {
		os = ASN1_OCTET_STRING_new();
		obj = OBJ_txt2obj(TDX_SGX_EXT_OID, 1);
		ENSURE_GOTO(os && obj && ASN1_OCTET_STRING_set(os, s->sgx_ext, (int)s->sgx_ext_len),
		            ERR_NOMEM, "out of memory");
		X509_EXTENSION *e = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
		int ok = e && X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
		ENSURE_GOTO(ok, ERR_CRYPTO, "cannot add the SGX extension");
	}
	if (!X509_sign(x, s->issuer_key ? s->issuer_key : s->key, EVP_sha256())) {
		rc = err_set_openssl(ERR_CRYPTO, "certificate signing failed");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	X509_free(x);
	return rc;
}

static int mk_crl(X509 *issuer, EVP_PKEY *key, time_t now, time_t next, uint8_t **der, size_t *len)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t1 = ASN1_TIME_set(NULL, now), *t2 = ASN1_TIME_set(NULL, next);
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	unsigned char *out = NULL;
	int n, rc = 0;

	ENSURE_GOTO(crl && t1 && t2 && num && ASN1_INTEGER_set(num, 1), ERR_NOMEM, "out of memory");
	if (!X509_CRL_set_version(crl, 1) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) ||
	    !X509_CRL_set1_lastUpdate(crl, t1) || !X509_CRL_set1_nextUpdate(crl, t2) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) || !X509_CRL_sort(crl) ||
	    !X509_CRL_sign(crl, key, EVP_sha256())) {
		rc = err_set_openssl(ERR_CRYPTO, "CRL signing failed");
		goto out;
	}
	n = i2d_X509_CRL(crl, &out);
	ENSURE_GOTO(n > 0, ERR_CRYPTO, "CRL encoding failed");
	*der = malloc((size_t)n);
	ENSURE_GOTO(*der, ERR_NOMEM, "out of memory");
	memcpy(*der, out, (size_t)n);
	*len = (size_t)n;
out:
	OPENSSL_free(out);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t1);
	ASN1_TIME_free(t2);
	X509_CRL_free(crl);
	return rc;
}

/* Append the PEM of each certificate to w. */
static int pem_append(struct wbuf *w, X509 *const *certs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		BIO *b = BIO_new(BIO_s_mem());
		char *p;
		long len;
		int rc;
		ENSURE(b && PEM_write_bio_X509(b, certs[i]), ERR_CRYPTO,
		       "cannot encode certificate");
		len = BIO_get_mem_data(b, &p);
		rc = wbuf_put(w, p, (size_t)len);
		BIO_free(b);
		GUARD(rc);
	}
	return 0;
}

static int write_pem(const char *dir, const char *name, X509 *const *certs, size_t n)
{
	char path[PATH_MAX];
	struct wbuf w;
	int rc;

	GUARD(path_join(path, sizeof(path), dir, name));
	wbuf_init(&w);
	rc = pem_append(&w, certs, n);
	if (rc == 0)
		rc = file_write(path, w.buf, w.len, 0644);
	wbuf_free(&w);
	return rc;
}

static int write_key(const char *dir, const char *name, EVP_PKEY *key)
{
	char path[PATH_MAX];
	GUARD(path_join(path, sizeof(path), dir, name));
	return p256_key_save(path, key);
}

static int write_bytes(const char *dir, const char *name, const void *p, size_t n)
{
	char path[PATH_MAX];
	GUARD(path_join(path, sizeof(path), dir, name));
	return file_write(path, p, n, 0644);
}

/* ---------- collateral JSON ---------- */

static char *hex_upper(const uint8_t *p, size_t n)
{
	char *s = hex_dup(p, n);
	for (char *c = s; c && *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	return s;
}

static int set_str(json_t *o, const char *k, const char *v)
{
	ENSURE(v && json_object_set_new(o, k, json_string(v)) == 0, ERR_NOMEM, "out of memory");
	return 0;
}

static int set_hexu(json_t *o, const char *k, const uint8_t *p, size_t n)
{
	char *s = hex_upper(p, n);
	int rc = set_str(o, k, s);
	free(s);
	return rc;
}

static json_t *svn_array(const uint8_t svn[16])
{
	json_t *a = json_array();
	for (int i = 0; a && i < 16; i++)
		json_array_append_new(a, json_pack("{s:i}", "svn", svn[i]));
	return a;
}

static json_t *level(json_t *tcb, const char *date, const char *status, const char *advisory)
{
	json_t *l = json_pack("{s:o,s:s,s:s}", "tcb", tcb, "tcbDate", date, "tcbStatus", status);
	if (l && advisory)
		json_object_set_new(l, "advisoryIDs", json_pack("[s]", advisory));
	return l;
}

static json_t *platform_level(const uint8_t sgx[16], int pcesvn, const uint8_t tdx[16],
                              const char *date, const char *status, const char *advisory)
{
	json_t *tcb = json_pack("{s:o,s:i,s:o}", "sgxtcbcomponents", svn_array(sgx), "pcesvn",
	                        pcesvn, "tdxtcbcomponents", svn_array(tdx));
	return tcb ? level(tcb, date, status, advisory) : NULL;
}

static json_t *isv_level(int isvsvn, const char *date, const char *status, const char *advisory)
{
	json_t *tcb = json_pack("{s:i}", "isvsvn", isvsvn);
	return tcb ? level(tcb, date, status, advisory) : NULL;
}

static int build_tcb_info(const char *issue, const char *next, json_t **out)
{
	static const uint8_t zero48[48];
	static const uint8_t zero8[8];
	static const uint8_t ones8[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t old_sgx[16], old_tdx[16];
	json_t *t = json_object(), *mod = json_object(), *ids = json_array(), *id = json_object();
	json_t *levels = json_array(), *idlevels = json_array();
	int rc = 0;

	ENSURE_GOTO(t && mod && ids && id && levels && idlevels, ERR_NOMEM, "out of memory");
	memcpy(old_sgx, sim_comp_svn, 16);
	memcpy(old_tdx, sim_tee_tcb_svn, 16);
	old_sgx[0]--;
	old_tdx[2]--;
	GUARD_GOTO(set_str(t, "id", "TDX"));
	json_object_set_new(t, "version", json_integer(3));
	GUARD_GOTO(set_str(t, "issueDate", issue));
	GUARD_GOTO(set_str(t, "nextUpdate", next));
	GUARD_GOTO(set_hexu(t, "fmspc", sim_fmspc, 6));
	GUARD_GOTO(set_hexu(t, "pceId", sim_pceid, 2));
	json_object_set_new(t, "tcbType", json_integer(0));
	json_object_set_new(t, "tcbEvaluationDataNumber", json_integer(17));

	GUARD_GOTO(set_hexu(mod, "mrsigner", zero48, 48));
	GUARD_GOTO(set_hexu(mod, "attributes", zero8, 8));
	GUARD_GOTO(set_hexu(mod, "attributesMask", ones8, 8));
	json_object_set(t, "tdxModule", mod);

	GUARD_GOTO(set_str(id, "id", "TDX_01"));
	GUARD_GOTO(set_hexu(id, "mrsigner", zero48, 48));
	GUARD_GOTO(set_hexu(id, "attributes", zero8, 8));
	GUARD_GOTO(set_hexu(id, "attributesMask", ones8, 8));
	json_array_append_new(idlevels, isv_level(sim_tee_tcb_svn[0], issue, "UpToDate", NULL));
	json_array_append_new(
	    idlevels, isv_level(sim_tee_tcb_svn[0] - 2, issue, "OutOfDate", "INTEL-SA-00000"));
	json_object_set(id, "tcbLevels", idlevels);
	json_array_append(ids, id);
	json_object_set(t, "tdxModuleIdentities", ids);

	json_array_append_new(levels, platform_level(sim_comp_svn, sim_pcesvn, sim_tee_tcb_svn,
	                                             issue, "UpToDate", NULL));
	json_array_append_new(levels, platform_level(old_sgx, sim_pcesvn, old_tdx, issue,
	                                             "OutOfDate", "INTEL-SA-00000"));
	json_object_set(t, "tcbLevels", levels);
	ENSURE_GOTO(json_array_size(levels) == 2 && json_array_size(idlevels) == 2, ERR_NOMEM,
	            "out of memory");
	*out = t;
	t = NULL;
out:
	json_decref(t);
	json_decref(mod);
	json_decref(ids);
	json_decref(id);
	json_decref(levels);
	json_decref(idlevels);
	return rc;
}

static int sim_qe_identity_values(uint8_t mrsigner[32])
{
	return sha256("tdexec simulated TD_QE signer", 29, mrsigner);
}

static int build_qe_identity(const char *issue, const char *next, json_t **out)
{
	uint8_t mrsigner[32];
	json_t *q = json_object(), *levels = json_array();
	int rc = 0;

	ENSURE_GOTO(q && levels, ERR_NOMEM, "out of memory");
	GUARD_GOTO(sim_qe_identity_values(mrsigner));
	GUARD_GOTO(set_str(q, "id", "TD_QE"));
	json_object_set_new(q, "version", json_integer(2));
	GUARD_GOTO(set_str(q, "issueDate", issue));
	GUARD_GOTO(set_str(q, "nextUpdate", next));
	json_object_set_new(q, "tcbEvaluationDataNumber", json_integer(17));
	GUARD_GOTO(set_str(q, "miscselect", "00000000"));
	GUARD_GOTO(set_str(q, "miscselectMask", "FFFFFFFF"));
	GUARD_GOTO(set_str(q, "attributes", "11000000000000000000000000000000"));
	GUARD_GOTO(set_str(q, "attributesMask", "FBFFFFFFFFFFFFFF0000000000000000"));
	GUARD_GOTO(set_hexu(q, "mrsigner", mrsigner, 32));
	json_object_set_new(q, "isvprodid", json_integer(sim_qe_prodid));
	json_array_append_new(levels, isv_level(sim_qe_isvsvn, issue, "UpToDate", NULL));
	json_array_append_new(levels,
	                      isv_level(sim_qe_isvsvn - 2, issue, "OutOfDate", "INTEL-SA-00000"));
	ENSURE_GOTO(json_array_size(levels) == 2, ERR_NOMEM, "out of memory");
	json_object_set(q, "tcbLevels", levels);
	*out = q;
	q = NULL;
out:
	json_decref(q);
	json_decref(levels);
	return rc;
}

/* Compact-serialize `obj`, sign those exact bytes, and produce both the raw
 * text and the hex signature.  PCS bodies are assembled around the raw text
 * so the signed bytes reach verifiers untouched. */
static int sign_json(const json_t *obj, EVP_PKEY *key, char **text, char sig_hex[129])
{
	uint8_t sig[64];
	char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	int rc;

	ENSURE(s, ERR_NOMEM, "out of memory");
	rc = p256_sign(key, (const uint8_t *)s, strlen(s), sig);
	if (rc < 0) {
		free(s);
		return rc;
	}
	hex_encode(sig_hex, sig, 64);
	*text = s;
	return 0;
}

static int write_pcs_body(const char *dir, const char *name, const char *key, const char *text,
                          const char *sig_hex)
{
	struct wbuf w;
	int rc;
	wbuf_init(&w);
	rc = wbuf_printf(&w, "{\"%s\":%s,\"signature\":\"%s\"}", key, text, sig_hex);
	if (rc == 0)
		rc = write_bytes(dir, name, w.buf, w.len);
	wbuf_free(&w);
	return rc;
}

/* ---------- init ---------- */

struct pki {
	EVP_PKEY *root_key, *ca_key, *pck_key, *tcb_key, *att_key;
	X509 *root, *ca, *pck, *tcb;
};

static void pki_free(struct pki *p)
{
	EVP_PKEY_free(p->root_key);
	EVP_PKEY_free(p->ca_key);
	EVP_PKEY_free(p->pck_key);
	EVP_PKEY_free(p->tcb_key);
	EVP_PKEY_free(p->att_key);
	X509_free(p->root);
	X509_free(p->ca);
	X509_free(p->pck);
	X509_free(p->tcb);
}

static int make_pki(struct pki *p, time_t now)
{
	struct tdx_pck_ext ext;
	uint8_t *der = NULL;
	size_t der_len;
	time_t nb = now - 3600, na = now + 10L * 365 * 86400;
	int rc = 0;

	GUARD_GOTO(p256_keygen(&p->root_key));
	GUARD_GOTO(p256_keygen(&p->ca_key));
	GUARD_GOTO(p256_keygen(&p->pck_key));
	GUARD_GOTO(p256_keygen(&p->tcb_key));
	GUARD_GOTO(p256_keygen(&p->att_key));

	struct cert_spec root = {"tdexec Simulated SGX Root CA",
	                         NULL,
	                         NULL,
	                         p->root_key,
	                         nb,
	                         na,
	                         "critical,CA:TRUE,pathlen:1",
	                         "critical,keyCertSign,cRLSign",
	                         NULL,
	                         0};
	GUARD_GOTO(mk_cert(&root, &p->root));
	struct cert_spec ca = {"tdexec Simulated SGX PCK Platform CA",
	                       p->root,
	                       p->root_key,
	                       p->ca_key,
	                       nb,
	                       na,
	                       "critical,CA:TRUE,pathlen:0",
	                       "critical,keyCertSign,cRLSign",
	                       NULL,
	                       0};
	GUARD_GOTO(mk_cert(&ca, &p->ca));
	struct cert_spec tcb = {"tdexec Simulated SGX TCB Signing",
	                        p->root,
	                        p->root_key,
	                        p->tcb_key,
	                        nb,
	                        na,
	                        "critical,CA:FALSE",
	                        "critical,digitalSignature,nonRepudiation",
	                        NULL,
	                        0};
	GUARD_GOTO(mk_cert(&tcb, &p->tcb));

	memset(&ext, 0, sizeof(ext));
	ENSURE_GOTO(RAND_bytes(ext.ppid, sizeof(ext.ppid)) == 1, ERR_CRYPTO, "RAND_bytes failed");
	memcpy(ext.comp_svn, sim_comp_svn, 16);
	ext.pcesvn = sim_pcesvn;
	memcpy(ext.cpusvn, sim_comp_svn, 16);
	memcpy(ext.pceid, sim_pceid, 2);
	memcpy(ext.fmspc, sim_fmspc, 6);
	ext.sgx_type = 1;
	ext.has_platform_instance_id = 1;
	ENSURE_GOTO(RAND_bytes(ext.platform_instance_id, 16) == 1, ERR_CRYPTO, "RAND_bytes failed");
	GUARD_GOTO(tdx_pck_ext_encode(&ext, &der, &der_len));
	struct cert_spec pck = {"tdexec Simulated SGX PCK Certificate",
	                        p->ca,
	                        p->ca_key,
	                        p->pck_key,
	                        nb,
	                        na,
	                        "critical,CA:FALSE",
	                        "critical,digitalSignature,nonRepudiation",
	                        der,
	                        der_len};
	GUARD_GOTO(mk_cert(&pck, &p->pck));
out:
	free(der);
	return rc;
}

static int default_measurements(struct tdx_td_body *b)
{
	memset(b, 0, sizeof(*b));
	memcpy(b->tee_tcb_svn, sim_tee_tcb_svn, 16);
	GUARD(label_digest("tdexec simulated TDX module", b->mrseam));
	GUARD(label_digest("tdexec simulated TD firmware (MRTD)", b->mrtd));
	GUARD(label_digest("tdexec simulated TD firmware config (RTMR0)", b->rtmr[0]));
	GUARD(label_digest("tdexec simulated TD kernel (RTMR1)", b->rtmr[1]));
	GUARD(label_digest("tdexec simulated TD kernel command line (RTMR2)", b->rtmr[2]));
	/* SEPT_VE_DISABLE set, DEBUG clear: what a production TD looks like. */
	b->td_attributes[3] = 0x10;
	/* XFAM 0x00000000000642e7 (x87, SSE, AVX, AVX-512, PK, AMX ...). */
	b->xfam[0] = 0xe7;
	b->xfam[1] = 0x42;
	b->xfam[2] = 0x06;
	return 0;
}

static int write_collateral(const char *cdir, const struct pki *p, time_t now, int days)
{
	char issue[32], next[32], tcb_sig[129], qe_sig[129];
	char *tcb_text = NULL, *qe_text = NULL, *h;
	uint8_t *pck_crl = NULL, *root_crl = NULL;
	size_t pck_crl_len, root_crl_len;
	json_t *tcb = NULL, *qe = NULL, *all = NULL;
	struct wbuf pck_chain, tcb_chain;
	X509 *ca_chain[2] = {p->ca, p->root}, *tcb_certs[2] = {p->tcb, p->root};
	char path[PATH_MAX];
	int rc = 0;

	wbuf_init(&pck_chain);
	wbuf_init(&tcb_chain);
	time_format(now, issue);
	time_format(now + (time_t)days * 86400, next);

	GUARD_GOTO(build_tcb_info(issue, next, &tcb));
	GUARD_GOTO(build_qe_identity(issue, next, &qe));
	GUARD_GOTO(sign_json(tcb, p->tcb_key, &tcb_text, tcb_sig));
	GUARD_GOTO(sign_json(qe, p->tcb_key, &qe_text, qe_sig));
	GUARD_GOTO(
	    mk_crl(p->ca, p->ca_key, now, now + (time_t)days * 86400, &pck_crl, &pck_crl_len));
	GUARD_GOTO(mk_crl(p->root, p->root_key, now, now + (time_t)days * 86400, &root_crl,
	                  &root_crl_len));
	GUARD_GOTO(pem_append(&pck_chain, ca_chain, 2));
	GUARD_GOTO(pem_append(&tcb_chain, tcb_certs, 2));
	GUARD_GOTO(wbuf_u8(&pck_chain, 0));
	GUARD_GOTO(wbuf_u8(&tcb_chain, 0));

	GUARD_GOTO(write_pcs_body(cdir, "tcb_info.json", "tcbInfo", tcb_text, tcb_sig));
	GUARD_GOTO(write_pcs_body(cdir, "qe_identity.json", "enclaveIdentity", qe_text, qe_sig));
	GUARD_GOTO(write_bytes(cdir, "pck_crl.der", pck_crl, pck_crl_len));
	GUARD_GOTO(write_bytes(cdir, "root_ca_crl.der", root_crl, root_crl_len));
	GUARD_GOTO(write_bytes(cdir, "pck_crl_issuer_chain.pem", pck_chain.buf, pck_chain.len - 1));
	GUARD_GOTO(
	    write_bytes(cdir, "tcb_info_issuer_chain.pem", tcb_chain.buf, tcb_chain.len - 1));
	GUARD_GOTO(
	    write_bytes(cdir, "qe_identity_issuer_chain.pem", tcb_chain.buf, tcb_chain.len - 1));

	/* The same collateral in dcap-qvl's JSON format. */
	all = json_object();
	ENSURE_GOTO(all, ERR_NOMEM, "out of memory");
	GUARD_GOTO(set_str(all, "pck_crl_issuer_chain", (char *)pck_chain.buf));
	h = hex_dup(root_crl, root_crl_len);
	rc = set_str(all, "root_ca_crl", h);
	free(h);
	GUARD_GOTO(rc);
	h = hex_dup(pck_crl, pck_crl_len);
	rc = set_str(all, "pck_crl", h);
	free(h);
	GUARD_GOTO(rc);
	GUARD_GOTO(set_str(all, "tcb_info_issuer_chain", (char *)tcb_chain.buf));
	GUARD_GOTO(set_str(all, "tcb_info", tcb_text));
	GUARD_GOTO(set_str(all, "tcb_info_signature", tcb_sig));
	GUARD_GOTO(set_str(all, "qe_identity_issuer_chain", (char *)tcb_chain.buf));
	GUARD_GOTO(set_str(all, "qe_identity", qe_text));
	GUARD_GOTO(set_str(all, "qe_identity_signature", qe_sig));
	GUARD_GOTO(path_join(path, sizeof(path), cdir, "collateral.json"));
	GUARD_GOTO(json_write_path(path, all, 0644));
out:
	free(tcb_text);
	free(qe_text);
	free(pck_crl);
	free(root_crl);
	json_decref(tcb);
	json_decref(qe);
	json_decref(all);
	wbuf_free(&pck_chain);
	wbuf_free(&tcb_chain);
	return rc;
}

int tdx_sim_init(const char *dir, const struct tdx_sim_opts *opts)
{
	struct tdx_sim_opts def = {0, 0, 0};
	char path[PATH_MAX], cdir[PATH_MAX];
	struct tdx_td_body body;
	struct pki p;
	time_t now;
	int days, rc = 0;

	if (!opts)
		opts = &def;
	now = opts->now ? opts->now : time(NULL);
	days = opts->collateral_days > 0 ? opts->collateral_days : 30;
	memset(&p, 0, sizeof(p));

	GUARD(path_join(path, sizeof(path), dir, "root_ca.key"));
	ENSURE(opts->force || access(path, F_OK) != 0, ERR_INVAL,
	       "%s already holds a simulated TD (use --force to replace it)", dir);
	GUARD(dir_create(dir, 0700));
	GUARD(path_join(cdir, sizeof(cdir), dir, "collateral"));
	GUARD(dir_create(cdir, 0755));

	GUARD_GOTO(make_pki(&p, now));
	GUARD_GOTO(write_key(dir, "root_ca.key", p.root_key));
	GUARD_GOTO(write_key(dir, "pck_platform_ca.key", p.ca_key));
	GUARD_GOTO(write_key(dir, "pck.key", p.pck_key));
	GUARD_GOTO(write_key(dir, "tcb_signing.key", p.tcb_key));
	GUARD_GOTO(write_key(dir, "attestation.key", p.att_key));
	GUARD_GOTO(write_pem(dir, "root_ca.pem", &p.root, 1));
	GUARD_GOTO(write_pem(dir, "pck_platform_ca.pem", &p.ca, 1));
	GUARD_GOTO(write_pem(dir, "pck.pem", &p.pck, 1));
	GUARD_GOTO(write_pem(dir, "tcb_signing.pem", &p.tcb, 1));
	GUARD_GOTO(write_collateral(cdir, &p, now, days));

	default_measurements(&body);
	GUARD_GOTO(path_join(path, sizeof(path), dir, "td.json"));
	GUARD_GOTO(tdx_sim_measurements_save(path, &body));
	GUARD_GOTO(write_bytes(dir, "event_log.jsonl", "", 0));
out:
	pki_free(&p);
	return rc;
}

static int load_cert(const char *dir, const char *name, X509 **out)
{
	char path[PATH_MAX];
	FILE *f;

	GUARD(path_join(path, sizeof(path), dir, name));
	f = fopen(path, "r");
	ENSURE(f, ERR_IO, "%s: %s", path, strerror(errno));
	*out = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ENSURE(*out, ERR_INVAL, "%s: not a PEM certificate", path);
	return 0;
}

int tdx_sim_collateral(const char *dir, const struct tdx_sim_opts *opts)
{
	char path[PATH_MAX], cdir[PATH_MAX];
	struct pki p;
	time_t now;
	int days, rc = 0;

	now = opts && opts->now ? opts->now : time(NULL);
	days = opts && opts->collateral_days > 0 ? opts->collateral_days : 30;
	memset(&p, 0, sizeof(p));
	GUARD_GOTO(load_cert(dir, "root_ca.pem", &p.root));
	GUARD_GOTO(load_cert(dir, "pck_platform_ca.pem", &p.ca));
	GUARD_GOTO(load_cert(dir, "tcb_signing.pem", &p.tcb));
	GUARD_GOTO(path_join(path, sizeof(path), dir, "root_ca.key"));
	GUARD_GOTO(p256_key_load(path, &p.root_key));
	GUARD_GOTO(path_join(path, sizeof(path), dir, "pck_platform_ca.key"));
	GUARD_GOTO(p256_key_load(path, &p.ca_key));
	GUARD_GOTO(path_join(path, sizeof(path), dir, "tcb_signing.key"));
	GUARD_GOTO(p256_key_load(path, &p.tcb_key));
	GUARD_GOTO(path_join(cdir, sizeof(cdir), dir, "collateral"));
	GUARD_GOTO(dir_create(cdir, 0755));
	GUARD_GOTO(write_collateral(cdir, &p, now, days));
out:
	pki_free(&p);
	return rc;
}

/* ---------- measurements ---------- */

int tdx_sim_measurements_load(const char *path, struct tdx_td_body *b)
{
	struct tdx_field f;
	json_t *j;
	int rc = 0;

	GUARD(json_load_path(path, 64 * 1024, &j));
	memset(b, 0, sizeof(*b));
	ENSURE_GOTO(json_is_object(j), ERR_INVAL, "%s: expected a JSON object", path);
	for (size_t i = 0; tdx_body_field_at(b, TDX_BODY_TD10, i, &f); i++) {
		if (strcmp(f.name, "REPORTDATA") == 0)
			continue;
		rc = json_get_hex(j, f.name, (uint8_t *)f.ptr, f.len, 1);
		if (rc < 0) {
			rc = err_wrap(rc, "%s", path);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

int tdx_sim_measurements_save(const char *path, const struct tdx_td_body *b)
{
	struct tdx_field f;
	json_t *j = json_object();
	int rc = 0;

	ENSURE(j, ERR_NOMEM, "out of memory");
	for (size_t i = 0; tdx_body_field_at(b, TDX_BODY_TD10, i, &f); i++) {
		if (strcmp(f.name, "REPORTDATA") == 0)
			continue;
		GUARD_GOTO(json_set_hex(j, f.name, f.ptr, f.len));
	}
	rc = json_write_path(path, j, 0644);
out:
	json_decref(j);
	return rc;
}

/* ---------- quotes ---------- */

/* The QE report binds the attestation key: REPORTDATA =
 * SHA-256(attestation key || QE auth data) || 32 zero bytes. */
static int sim_qe_report(struct tdx_sim *s)
{
	uint8_t qe_bytes[TDX_QE_REPORT_SIZE], hash_in[64 + sizeof(qe_auth)];
	struct sgx_report_body *r = &s->qe_report;

	memset(r, 0, sizeof(*r));
	memcpy(r->cpusvn, sim_comp_svn, 16);
	r->attributes[0] = 0x11;
	GUARD(label_digest("tdexec simulated TD_QE", hash_in)); /* 48 bytes, 32 used */
	memcpy(r->mrenclave, hash_in, 32);
	GUARD(sim_qe_identity_values(r->mrsigner));
	r->isvprodid = sim_qe_prodid;
	r->isvsvn = sim_qe_isvsvn;
	memcpy(hash_in, s->att_pub, 64);
	memcpy(hash_in + 64, qe_auth, sizeof(qe_auth));
	GUARD(sha256(hash_in, sizeof(hash_in), r->report_data));
	sgx_report_body_write(r, qe_bytes);
	return p256_sign(s->pck_key, qe_bytes, sizeof(qe_bytes), s->qe_report_sig);
}

/* The report MAC key: SHA-256 over a label and the attestation key's
 * private encoding, so that every copy of one simulated TD (same keys)
 * checks the reports of the others, and no other TD's. */
static int report_key(struct tdx_sim *s)
{
	static const char label[] = "tdexec simulated TDREPORT MAC key";
	unsigned char *der = NULL;
	int n = i2d_PrivateKey(s->att_key, &der), rc;
	ENSURE(n > 0, ERR_CRYPTO, "cannot encode the attestation key");
	rc = sha256_parts(s->report_key, 2, label, sizeof(label) - 1, der, (size_t)n);
	OPENSSL_clear_free(der, (size_t)n);
	return rc;
}

int tdx_sim_load(const char *dir, const char *measurements, struct tdx_sim **out)
{
	static const char *const chain_files[] = {"pck.pem", "pck_platform_ca.pem", "root_ca.pem"};
	struct tdx_sim *s = calloc(1, sizeof(*s));
	char path[PATH_MAX];
	struct wbuf w;
	int rc = 0;

	*out = NULL;
	wbuf_init(&w);
	ENSURE(s, ERR_NOMEM, "out of memory");
	GUARD_GOTO(path_join(path, sizeof(path), dir, "root_ca.key"));
	ENSURE_GOTO(access(path, F_OK) == 0, ERR_NOTFOUND,
	            "%s: no simulated TD here (run 'tdexec sim init %s' first)", dir, dir);
	GUARD_GOTO(path_join(path, sizeof(path), dir, "pck.key"));
	GUARD_GOTO(p256_key_load(path, &s->pck_key));
	GUARD_GOTO(path_join(path, sizeof(path), dir, "attestation.key"));
	GUARD_GOTO(p256_key_load(path, &s->att_key));
	GUARD_GOTO(p256_pub_xy(s->att_key, s->att_pub));
	GUARD_GOTO(report_key(s));
	for (size_t i = 0; i < 3; i++) {
		uint8_t *buf;
		size_t len;
		GUARD_GOTO(path_join(path, sizeof(path), dir, chain_files[i]));
		GUARD_GOTO(file_read(path, 64 * 1024, &buf, &len));
		rc = wbuf_put(&w, buf, len);
		free(buf);
		GUARD_GOTO(rc);
	}
	/* Intel's QE NUL-terminates the PEM chain; do the same. */
	GUARD_GOTO(wbuf_u8(&w, 0));
	s->chain = wbuf_take(&w, &s->chain_len);
	if (!measurements) {
		GUARD_GOTO(path_join(path, sizeof(path), dir, "td.json"));
		measurements = path;
	}
	GUARD_GOTO(tdx_sim_measurements_load(measurements, &s->body));
	GUARD_GOTO(sim_qe_report(s));
	*out = s;
	s = NULL;
out:
	if (rc < 0 && rc != ERR_NOTFOUND)
		err_wrap(rc, "simulated TD %s", dir);
	wbuf_free(&w);
	tdx_sim_free(s);
	return rc;
}

void tdx_sim_free(struct tdx_sim *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->pck_key);
	EVP_PKEY_free(s->att_key);
	free(s->chain);
	OPENSSL_cleanse(s->report_key, sizeof(s->report_key));
	free(s);
}

/* A signed v4 quote over a TD body, as the QE makes it. */
static int sign_body(struct tdx_sim *s, const struct tdx_td_body *body, uint8_t **quote,
                     size_t *len)
{
	uint8_t *signed_bytes = NULL;
	size_t signed_len;
	struct tdx_quote q;
	int rc = 0;

	memset(&q, 0, sizeof(q));
	q.header.version = 4;
	q.header.att_key_type = TDX_ATT_KEY_ECDSA_P256;
	q.header.tee_type = TDX_TEE_TYPE_TDX;
	memcpy(q.header.qe_vendor_id, intel_qe_vendor, 16);
	q.body_type = TDX_BODY_TD10;
	q.body = *body;

	GUARD_GOTO(tdx_quote_signed_bytes(&q, &signed_bytes, &signed_len));
	GUARD_GOTO(p256_sign(s->att_key, signed_bytes, signed_len, q.signature));
	memcpy(q.att_key, s->att_pub, 64);

	q.cert_type = TDX_CERT_QE_REPORT;
	q.qe_report = s->qe_report;
	memcpy(q.qe_report_sig, s->qe_report_sig, 64);
	q.qe_auth_data = (uint8_t *)qe_auth;
	q.qe_auth_len = sizeof(qe_auth);
	q.pck_cert_type = TDX_CERT_PCK_CHAIN;
	q.pck_chain = s->chain;
	q.pck_chain_len = s->chain_len;
	rc = tdx_quote_serialize(&q, 0, quote, len);
out:
	free(signed_bytes);
	return rc;
}

int tdx_sim_quote(struct tdx_sim *s, const uint8_t report_data[64], uint8_t **quote, size_t *len)
{
	struct tdx_td_body b = s->body;
	memcpy(b.report_data, report_data, 64);
	return sign_body(s, &b, quote, len);
}

/* ---------- TDREPORT ---------- */

static int report_mac(const struct tdx_sim *s, const uint8_t *report, uint8_t mac[32])
{
	unsigned int n = 32;
	ENSURE(HMAC(EVP_sha256(), s->report_key, sizeof(s->report_key), report, SIM_REPORT_MACED,
	            mac, &n) &&
	           n == 32,
	       ERR_CRYPTO, "TDREPORT MAC failed");
	return 0;
}

int tdx_sim_report(struct tdx_sim *s, const uint8_t report_data[64],
                   uint8_t report[TDX_SIM_REPORT_SIZE])
{
	const struct tdx_td_body *b = &s->body;
	uint8_t *tcb = report + SIM_REPORT_TEE_TCB_INFO, *td = report + SIM_REPORT_TDINFO;

	memset(report, 0, TDX_SIM_REPORT_SIZE);
	/* REPORTMACSTRUCT: REPORTTYPE {type 0x81 TDX, subtype 0, version 0
	 * (TDX 1.0: no TEE_TCB_SVN2, no SERVTD_HASH)}, CPUSVN */
	report[0] = 0x81;
	memcpy(report + 16, sim_comp_svn, 16);
	memcpy(report + 128, report_data, 64);
	/* TEE_TCB_INFO: VALID (the bits of the fields filled), TEE_TCB_SVN,
	 * MRSEAM, MRSIGNERSEAM, ATTRIBUTES */
	tcb[0] = 0xff;
	tcb[1] = 0x01;
	memcpy(tcb + 8, b->tee_tcb_svn, 16);
	memcpy(tcb + 24, b->mrseam, 48);
	memcpy(tcb + 72, b->mrsignerseam, 48);
	memcpy(tcb + 120, b->seam_attributes, 8);
	/* TDINFO */
	memcpy(td, b->td_attributes, 8);
	memcpy(td + 8, b->xfam, 8);
	memcpy(td + 16, b->mrtd, 48);
	memcpy(td + 64, b->mrconfigid, 48);
	memcpy(td + 112, b->mrowner, 48);
	memcpy(td + 160, b->mrownerconfig, 48);
	memcpy(td + 208, b->rtmr, sizeof(b->rtmr));
	/* The hashes bind TEE_TCB_INFO and TDINFO to the MACed part. */
	GUARD(sha384(tcb, SIM_REPORT_TEE_TCB_INFO_SIZE, report + 32));
	GUARD(sha384(td, SIM_REPORT_TDINFO_SIZE, report + 80));
	return report_mac(s, report, report + SIM_REPORT_MACED);
}

int tdx_sim_quote_report(struct tdx_sim *s, const uint8_t report[TDX_SIM_REPORT_SIZE],
                         uint8_t **quote, size_t *len)
{
	const uint8_t *tcb = report + SIM_REPORT_TEE_TCB_INFO, *td = report + SIM_REPORT_TDINFO;
	uint8_t mac[32], h[48];
	struct tdx_td_body b;

	ENSURE(report[0] == 0x81, ERR_UNSUPPORTED, "TDREPORT: type 0x%02x, not TDX (0x81)",
	       report[0]);
	ENSURE(report[2] == 0, ERR_UNSUPPORTED,
	       "TDREPORT: version %u: only TDX 1.0 reports (version 0) are simulated", report[2]);
	GUARD(report_mac(s, report, mac));
	ENSURE(CRYPTO_memcmp(mac, report + SIM_REPORT_MACED, 32) == 0, ERR_VERIFY,
	       "TDREPORT: MAC does not verify: not a report of this simulated TD, or altered");
	GUARD(sha384(tcb, SIM_REPORT_TEE_TCB_INFO_SIZE, h));
	ENSURE(memcmp(h, report + 32, 48) == 0, ERR_VERIFY,
	       "TDREPORT: TEE_TCB_INFO does not match TEE_TCB_INFO_HASH");
	GUARD(sha384(td, SIM_REPORT_TDINFO_SIZE, h));
	ENSURE(memcmp(h, report + 80, 48) == 0, ERR_VERIFY,
	       "TDREPORT: TDINFO does not match TEE_INFO_HASH");

	memset(&b, 0, sizeof(b));
	memcpy(b.tee_tcb_svn, tcb + 8, 16);
	memcpy(b.mrseam, tcb + 24, 48);
	memcpy(b.mrsignerseam, tcb + 72, 48);
	memcpy(b.seam_attributes, tcb + 120, 8);
	memcpy(b.td_attributes, td, 8);
	memcpy(b.xfam, td + 8, 8);
	memcpy(b.mrtd, td + 16, 48);
	memcpy(b.mrconfigid, td + 64, 48);
	memcpy(b.mrowner, td + 112, 48);
	memcpy(b.mrownerconfig, td + 160, 48);
	memcpy(b.rtmr, td + 208, sizeof(b.rtmr));
	memcpy(b.report_data, report + 128, 64);
	return sign_body(s, &b, quote, len);
}

/* ---------- RTMR extension ---------- */

int tdx_sim_extend(const char *dir, int idx, const uint8_t digest[48], const char *event)
{
	char path[PATH_MAX], lpath[PATH_MAX], dhex[97], vhex[97];
	struct tdx_td_body b;
	uint8_t cat[96];
	json_t *line = NULL;
	char *text = NULL;
	int lock = -1, fd = -1, rc = 0;

	ENSURE(idx >= 0 && idx <= 3, ERR_INVAL, "RTMR index %d out of range (0..3)", idx);
	ENSURE(!event || strlen(event) <= 4096, ERR_TOOBIG, "event text over 4096 bytes");
	GUARD(path_join(lpath, sizeof(lpath), dir, ".lock"));
	lock = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ENSURE(lock >= 0, ERR_IO, "%s: %s", lpath, strerror(errno));
	ENSURE_GOTO(flock(lock, LOCK_EX) == 0, ERR_IO, "%s: %s", lpath, strerror(errno));

	GUARD_GOTO(path_join(path, sizeof(path), dir, "td.json"));
	GUARD_GOTO(tdx_sim_measurements_load(path, &b));
	memcpy(cat, b.rtmr[idx], 48);
	memcpy(cat + 48, digest, 48);
	GUARD_GOTO(sha384(cat, sizeof(cat), b.rtmr[idx]));

	/* Log first, then the new value: a crash between leaves a log that
	 * replays to a value the TD never reported, which a verifier sees. */
	hex_encode(dhex, digest, 48);
	hex_encode(vhex, b.rtmr[idx], 48);
	line = json_pack("{s:i,s:s,s:s,s:s}", "rtmr", idx, "digest", dhex, "event",
	                 event ? event : "", "value", vhex);
	ENSURE_GOTO(line, ERR_NOMEM, "out of memory");
	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
	ENSURE_GOTO(text, ERR_NOMEM, "out of memory");
	GUARD_GOTO(path_join(lpath, sizeof(lpath), dir, "event_log.jsonl"));
	fd = open(lpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	ENSURE_GOTO(fd >= 0, ERR_IO, "%s: %s", lpath, strerror(errno));
	{
		size_t n = strlen(text);
		text[n] = '\n'; /* replaces the NUL; length tracked in n */
		ENSURE_GOTO(write(fd, text, n + 1) == (ssize_t)(n + 1) && fsync(fd) == 0, ERR_IO,
		            "%s: %s", lpath, strerror(errno));
	}
	GUARD_GOTO(tdx_sim_measurements_save(path, &b));
out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(line);
	close(lock);
	return rc;
}
