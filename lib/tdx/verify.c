#include "verify.h"

#include "crypto/p256.h"
#include "tdx/intel_root.h"
#include "tdx/x509lite.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/timefmt.h"

#include <openssl/err.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_WINDOWS 12
/* Verified collateral sets kept: every platform a gate holds (collstore.h
 * holds up to 64), so a mixed pool's quotes do not evict each other's. */
#define COLL_CACHE  64
#define CHAIN_CACHE 64
/* QE reports remembered per PCK chain.  Each TD a QE serves may show its
 * own report bytes (a simulated TD signs one at load, a real QE re-signs
 * when its attestation key changes), so a platform running a few TDs needs
 * a few of them, or every quote pays the QE report's P-256 verification. */
#define QE_CACHE 16
/* QE auth data kept in an entry; longer (DCAP's is 32 bytes) is verified
 * every time rather than cached. */
#define QE_AUTH_MAX 256

static const uint8_t intel_qe_vendor_id[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                               0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

/* A validity interval that must contain the verification time. */
struct window {
	const char *what;
	time_t from, until;
};

/* Collateral verified against the anchor and parsed; immutable once built.
 * The CRL and CA structures point into the entry's own copies of the DER. */
struct coll_entry {
	uint8_t hash[32];
	int refs; /* atomic: taken under the verifier's lock, dropped without it */
	struct tdx_tcb_info *tcb;
	struct tdx_qe_identity *qe;
	uint8_t *root_crl_der, *pck_crl_der, *pck_ca_der;
	struct crl_lite root_crl, pck_crl;
	struct x509_lite pck_ca; /* issuer of the PCK CRL, verified against the anchor */
	struct p256_pub *pck_ca_pub;
	uint8_t pck_ca_sha[32];
	uint8_t pck_crl_sha[32], root_crl_sha[32]; /* what a verdict names */
	struct window w[MAX_WINDOWS];
	size_t nw;
};

/* A QE report whose signature by a chain's PCK key verified and whose
 * REPORTDATA binds the attestation key and QE auth data: the exact bytes
 * it vouches for, compared in full on lookup, and the attestation key
 * parsed for the quote signatures.  Immutable once made; the QE identity
 * (which the collateral may change) is still checked on every quote. */
struct qe_entry {
	int refs;      /* atomic: released without the lock */
	uint64_t used; /* LRU stamp, under the verifier's lock */
	uint8_t report[TDX_QE_REPORT_SIZE], sig[64], att_key[64];
	uint8_t auth[QE_AUTH_MAX];
	size_t auth_len;
	struct p256_pub *att;
};

/* A PCK chain verified under one collateral entry. */
struct chain_entry {
	/* The key: the chain's exact PEM bytes, as quoted, and the hash of the
	 * collateral it was verified with (compared, not hashed, per quote). */
	uint8_t *pem;
	size_t pem_len;
	uint8_t coll[32];
	int refs; /* atomic */
	struct p256_pub *leaf;
	struct tdx_pck_ext ext;
	enum tdx_pck_ca ca;
	struct window w[3];
	size_t nw;
	struct qe_entry *qe[QE_CACHE]; /* under the verifier's lock */
	uint64_t qe_clock;
};

struct tdx_verifier {
	uint8_t *root_der;
	size_t root_der_len;
	struct x509_lite root;
	struct p256_pub *root_pub;
	int simulated;
	int cache;
	pthread_mutex_t mu;
	struct coll_entry *colls[COLL_CACHE];
	size_t coll_next;
	struct chain_entry *chains[CHAIN_CACHE];
	size_t chain_next;
	uint64_t qe_verified, qe_cached; /* atomic counters */
};

/* ---------- small helpers ---------- */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_setv(ERR_VERIFY, fmt, ap);
	va_end(ap);
	return ERR_VERIFY;
}

static void add_window(struct window *w, size_t *n, size_t cap, const char *what, time_t from,
                       time_t until)
{
	if (*n < cap) {
		w[*n].what = what;
		w[*n].from = from;
		w[*n].until = until;
		(*n)++;
	}
}

static void add_cert_window(struct window *w, size_t *n, size_t cap, const char *what,
                            const struct x509_lite *x)
{
	add_window(w, n, cap, what, x->not_before, x->not_after);
}

static int check_windows(const struct window *w, size_t n, time_t at, time_t *expiry)
{
	char t[32];
	for (size_t i = 0; i < n; i++) {
		if (at < w[i].from) {
			time_format(w[i].from, t);
			return fail("%s is not valid yet (valid from %s)", w[i].what, t);
		}
		if (at > w[i].until) {
			time_format(w[i].until, t);
			return fail("%s expired at %s", w[i].what, t);
		}
		if (expiry && (*expiry == 0 || w[i].until < *expiry))
			*expiry = w[i].until;
	}
	return 0;
}

static void free_ders(struct tdx_blob *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(d[i].p);
}

static int span_eq(struct der_span a, struct der_span b)
{
	return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

static int parse_cert(const struct tdx_blob *der, const char *what, struct x509_lite *x)
{
	/* The parser's message already names `what`. */
	return x509_lite_parse(der->p, der->len, what, x) < 0 ? ERR_VERIFY : 0;
}

/* Is this certificate the anchor?  Byte for byte, or else a certificate
 * with the anchor's key that the anchor's key signed (a re-issued root). */
static int is_anchor(const struct tdx_verifier *v, const struct tdx_blob *der)
{
	struct x509_lite x;
	if (der->len == v->root_der_len && memcmp(der->p, v->root_der, der->len) == 0)
		return 1;
	return x509_lite_parse(der->p, der->len, "root", &x) == 0 &&
	       memcmp(x.pub, v->root.pub, 64) == 0 &&
	       p256_pub_verify(v->root_pub, x.tbs.p, x.tbs.len, x.sig, "root") == 0;
}

/* child was issued and signed by parent (whose key is `pub`). */
static int check_issued(const struct x509_lite *child, const struct x509_lite *parent,
                        const struct p256_pub *pub, const char *what, const char *by)
{
	ENSURE(span_eq(child->issuer, parent->subject), ERR_VERIFY,
	       "%s: issuer name is not the subject of the %s", what, by);
	ENSURE(parent->is_ca, ERR_VERIFY, "%s: the %s is not a CA", what, by);
	ENSURE(parent->key_usage < 0 || (parent->key_usage & X509L_KU_KEY_CERT_SIGN), ERR_VERIFY,
	       "%s: the %s may not sign certificates (keyUsage)", what, by);
	if (p256_pub_verify(pub, child->tbs.p, child->tbs.len, child->sig, what) < 0)
		return fail("%s: signature by the %s does not verify", what, by);
	return 0;
}

static int check_not_revoked(const struct crl_lite *crl, const struct x509_lite *x,
                             const char *what, const char *crlname)
{
	char serial[41];
	if (!crl_lite_revoked(crl, &x->serial))
		return 0;
	hex_encode(serial, x->serial.p, x->serial.len < 20 ? x->serial.len : 20);
	return fail("%s (serial %s) is revoked by the %s", what, serial, crlname);
}

/* Copy a CRL into the entry, check its issuer, signature and window. */
static int load_crl(const struct tdx_blob *b, const struct x509_lite *issuer,
                    const struct p256_pub *pub, const char *what, uint8_t **der,
                    struct crl_lite *crl, struct coll_entry *e)
{
	*der = malloc(b->len ? b->len : 1);
	ENSURE(*der, ERR_NOMEM, "out of memory");
	memcpy(*der, b->p, b->len);
	if (crl_lite_parse(*der, b->len, what, crl) < 0)
		return ERR_VERIFY;
	ENSURE(span_eq(crl->issuer, issuer->subject), ERR_VERIFY,
	       "%s: not issued by the expected CA (collateral for another root?)", what);
	ENSURE(issuer->key_usage < 0 || (issuer->key_usage & X509L_KU_CRL_SIGN), ERR_VERIFY,
	       "%s: its issuer may not sign CRLs (keyUsage)", what);
	if (p256_pub_verify(pub, crl->tbs.p, crl->tbs.len, crl->sig, what) < 0)
		return fail("%s: signature does not verify", what);
	add_window(e->w, &e->nw, MAX_WINDOWS, what, crl->this_update, crl->next_update);
	return 0;
}

/* A collateral issuer chain [signer, root]: the signer verified by the
 * anchor and not revoked by the root CRL.  Returns the signer's DER (free())
 * and its parsed form pointing into it. */
static int load_signer(const struct tdx_verifier *v, struct coll_entry *e,
                       const struct tdx_blob *pem, const char *what, struct tdx_blob *der,
                       struct x509_lite *x)
{
	struct tdx_blob d[4];
	size_t n;
	int rc = 0;

	der->p = NULL;
	if (tdx_pem_certs_der(pem->p, pem->len, d, 4, &n) < 0)
		return err_wrap(ERR_VERIFY, "%s", what);
	ENSURE_GOTO(n == 2, ERR_VERIFY, "%s: expected 2 certificates (signer, root), got %zu", what,
	            n);
	ENSURE_GOTO(is_anchor(v, &d[1]), ERR_VERIFY, "%s: root is not the trusted %s root CA", what,
	            v->simulated ? "simulated" : "Intel SGX");
	GUARD_GOTO(parse_cert(&d[0], what, x));
	GUARD_GOTO(check_issued(x, &v->root, v->root_pub, what, "root CA"));
	GUARD_GOTO(check_not_revoked(&e->root_crl, x, what, "root CA CRL"));
	add_cert_window(e->w, &e->nw, MAX_WINDOWS, what, x);
	*der = d[0];
	d[0].p = NULL;
out:
	free_ders(d, n);
	return rc;
}

static int verify_signed_json(const struct x509_lite *signer, const struct tdx_blob *text,
                              const uint8_t sig[64], const char *what)
{
	struct p256_pub *k;
	int rc;
	GUARD(p256_pub_new_xy(signer->pub, &k));
	rc = p256_pub_verify(k, text->p, text->len, sig, what);
	p256_pub_free(k);
	return rc;
}

static void coll_free(struct coll_entry *e)
{
	if (!e)
		return;
	tdx_tcb_info_free(e->tcb);
	tdx_qe_identity_free(e->qe);
	free(e->root_crl_der);
	free(e->pck_crl_der);
	free(e->pck_ca_der);
	p256_pub_free(e->pck_ca_pub);
	free(e);
}

static int coll_build(const struct tdx_verifier *v, const struct tdx_collateral *c,
                      const uint8_t hash[32], struct coll_entry **out)
{
	struct coll_entry *e = calloc(1, sizeof(*e));
	struct tdx_blob tcb_der = {NULL, 0}, qe_der = {NULL, 0}, ca_der = {NULL, 0};
	struct x509_lite tcb_signer, qe_signer;
	int rc = 0;

	*out = NULL;
	ENSURE(e, ERR_NOMEM, "out of memory");
	memcpy(e->hash, hash, 32);
	add_cert_window(e->w, &e->nw, MAX_WINDOWS, "root CA certificate", &v->root);
	GUARD_GOTO(load_crl(&c->root_ca_crl, &v->root, v->root_pub, "root CA CRL", &e->root_crl_der,
	                    &e->root_crl, e));
	SHA256(c->root_ca_crl.p, c->root_ca_crl.len, e->root_crl_sha);

	/* TCB info: chain, signature over the exact text, then parse. */
	GUARD_GOTO(load_signer(v, e, &c->tcb_info_issuer_chain, "TCB info signing certificate",
	                       &tcb_der, &tcb_signer));
	GUARD_GOTO(verify_signed_json(&tcb_signer, &c->tcb_info, c->tcb_info_sig, "TCB info"));
	if (tdx_tcb_info_parse((const char *)c->tcb_info.p, c->tcb_info.len, &e->tcb) < 0) {
		rc = ERR_VERIFY;
		goto out;
	}
	add_window(e->w, &e->nw, MAX_WINDOWS, "TCB info", e->tcb->issue_date, e->tcb->next_update);

	/* QE identity: usually the same chain as TCB info. */
	if (c->qe_identity_issuer_chain.len == c->tcb_info_issuer_chain.len &&
	    memcmp(c->qe_identity_issuer_chain.p, c->tcb_info_issuer_chain.p,
	           c->tcb_info_issuer_chain.len) == 0) {
		qe_signer = tcb_signer;
	} else {
		GUARD_GOTO(load_signer(v, e, &c->qe_identity_issuer_chain,
		                       "QE identity signing certificate", &qe_der, &qe_signer));
	}
	GUARD_GOTO(
	    verify_signed_json(&qe_signer, &c->qe_identity, c->qe_identity_sig, "QE identity"));
	if (tdx_qe_identity_parse((const char *)c->qe_identity.p, c->qe_identity.len, &e->qe) < 0) {
		rc = ERR_VERIFY;
		goto out;
	}
	add_window(e->w, &e->nw, MAX_WINDOWS, "QE identity", e->qe->issue_date, e->qe->next_update);

	/* PCK CRL and its issuer, the PCK Platform or Processor CA. */
	GUARD_GOTO(load_signer(v, e, &c->pck_crl_issuer_chain, "PCK CA certificate (CRL issuer)",
	                       &ca_der, &e->pck_ca));
	e->pck_ca_der = ca_der.p; /* e->pck_ca points into it */
	ca_der.p = NULL;
	SHA256(e->pck_ca_der, ca_der.len, e->pck_ca_sha);
	GUARD_GOTO(p256_pub_new_xy(e->pck_ca.pub, &e->pck_ca_pub));
	GUARD_GOTO(load_crl(&c->pck_crl, &e->pck_ca, e->pck_ca_pub, "PCK CRL", &e->pck_crl_der,
	                    &e->pck_crl, e));
	SHA256(c->pck_crl.p, c->pck_crl.len, e->pck_crl_sha);
	*out = e;
	e = NULL;
out:
	if (rc < 0 && rc != ERR_VERIFY)
		rc = err_wrap(ERR_VERIFY, "collateral");
	free(tcb_der.p);
	free(qe_der.p);
	free(ca_der.p);
	coll_free(e);
	return rc;
}

static void qe_release(struct qe_entry *q)
{
	if (q && __atomic_sub_fetch(&q->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		p256_pub_free(q->att);
		free(q);
	}
}

static void chain_free(struct chain_entry *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < QE_CACHE; i++)
		qe_release(c->qe[i]);
	p256_pub_free(c->leaf);
	free(c->pem);
	free(c);
}

static enum tdx_pck_ca ca_from_issuer(struct der_span issuer)
{
	if (memmem(issuer.p, issuer.len, "Platform CA", 11))
		return TDX_PCK_CA_PLATFORM;
	if (memmem(issuer.p, issuer.len, "Processor CA", 12))
		return TDX_PCK_CA_PROCESSOR;
	return TDX_PCK_CA_UNKNOWN;
}

static int chain_build(const struct tdx_verifier *v, const struct coll_entry *e,
                       const struct tdx_quote *q, struct chain_entry **out)
{
	struct chain_entry *c = calloc(1, sizeof(*c));
	struct tdx_blob d[TDX_PCK_CHAIN_MAX_CERTS];
	struct x509_lite leaf, qca;
	const struct x509_lite *ca = &e->pck_ca;
	const struct p256_pub *ca_pub = e->pck_ca_pub;
	uint8_t sha[32];
	size_t n = 0;
	int rc = 0;

	*out = NULL;
	ENSURE(c, ERR_NOMEM, "out of memory");
	memcpy(c->coll, e->hash, 32);
	c->pem = malloc(q->pck_chain_len ? q->pck_chain_len : 1);
	ENSURE_GOTO(c->pem, ERR_NOMEM, "out of memory");
	memcpy(c->pem, q->pck_chain, q->pck_chain_len);
	c->pem_len = q->pck_chain_len;
	if (tdx_pem_certs_der(q->pck_chain, q->pck_chain_len, d, TDX_PCK_CHAIN_MAX_CERTS, &n) < 0) {
		rc = err_wrap(ERR_VERIFY, "PCK certificate chain");
		goto out;
	}
	ENSURE_GOTO(n == 2 || n == 3, ERR_VERIFY,
	            "PCK certificate chain: expected leaf, CA and root, got %zu certificates", n);
	ENSURE_GOTO(n == 2 || is_anchor(v, &d[2]), ERR_VERIFY,
	            "PCK certificate chain: root is not the trusted %s root CA",
	            v->simulated ? "simulated" : "Intel SGX");
	/* The intermediate: the collateral's verified PCK CA, or a certificate
	 * with the same key (the PCK CRL must come from the leaf's issuer). */
	SHA256(d[1].p, d[1].len, sha);
	if (memcmp(sha, e->pck_ca_sha, 32) != 0) {
		GUARD_GOTO(parse_cert(&d[1], "PCK CA certificate", &qca));
		GUARD_GOTO(
		    check_issued(&qca, &v->root, v->root_pub, "PCK CA certificate", "root CA"));
		GUARD_GOTO(
		    check_not_revoked(&e->root_crl, &qca, "PCK CA certificate", "root CA CRL"));
		ENSURE_GOTO(
		    memcmp(qca.pub, e->pck_ca.pub, 64) == 0 &&
		        span_eq(qca.subject, e->pck_ca.subject),
		    ERR_VERIFY,
		    "PCK certificate chain: its CA is not the issuer of the collateral's PCK "
		    "CRL (platform vs processor CA?)");
		add_cert_window(c->w, &c->nw, 3, "PCK CA certificate", &qca);
	}
	GUARD_GOTO(parse_cert(&d[0], "PCK certificate", &leaf));
	GUARD_GOTO(check_issued(&leaf, ca, ca_pub, "PCK certificate", "PCK CA"));
	GUARD_GOTO(check_not_revoked(&e->pck_crl, &leaf, "PCK certificate", "PCK CRL"));
	add_cert_window(c->w, &c->nw, 3, "PCK certificate", &leaf);
	ENSURE_GOTO(leaf.sgx_ext.len, ERR_VERIFY, "PCK certificate: no Intel SGX extension");
	if (tdx_pck_ext_parse(leaf.sgx_ext.p, leaf.sgx_ext.len, &c->ext) < 0) {
		rc = err_wrap(ERR_VERIFY, "PCK certificate");
		goto out;
	}
	c->ca = ca_from_issuer(leaf.issuer);
	if (memcmp(c->ext.fmspc, e->tcb->fmspc, 6) != 0) {
		char a[13], b[13];
		hex_encode(a, c->ext.fmspc, 6);
		hex_encode(b, e->tcb->fmspc, 6);
		rc = fail("FMSPC of the PCK certificate (%s) is not the TCB info's (%s)", a, b);
		goto out;
	}
	ENSURE_GOTO(memcmp(c->ext.pceid, e->tcb->pceid, 2) == 0, ERR_VERIFY,
	            "PCE-ID of the PCK certificate is not the TCB info's");
	GUARD_GOTO(p256_pub_new_xy(leaf.pub, &c->leaf));
	*out = c;
	c = NULL;
out:
	free_ders(d, n);
	chain_free(c);
	return rc;
}

/* ---------- caches ---------- */

/* References are taken under v->mu, while the cache still holds the entry,
 * and dropped without it: the last one frees. */
static int caching(const struct tdx_verifier *v)
{
	return __atomic_load_n(&v->cache, __ATOMIC_RELAXED);
}

static void ref_take(int *refs)
{
	__atomic_add_fetch(refs, 1, __ATOMIC_RELAXED);
}

static void coll_release(struct coll_entry *e)
{
	if (e && __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) == 0)
		coll_free(e);
}

static void chain_release(struct chain_entry *c)
{
	if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		chain_free(c);
}

static int coll_get(struct tdx_verifier *v, const struct tdx_collateral *c, struct coll_entry **out)
{
	struct coll_entry *e = NULL, *evict = NULL;
	uint8_t hash[32];

	GUARD(tdx_collateral_hash(c, hash));
	pthread_mutex_lock(&v->mu);
	for (size_t i = 0; caching(v) && i < COLL_CACHE; i++)
		if (v->colls[i] && memcmp(v->colls[i]->hash, hash, 32) == 0) {
			e = v->colls[i];
			ref_take(&e->refs);
			break;
		}
	pthread_mutex_unlock(&v->mu);
	if (e) {
		*out = e;
		return 0;
	}
	GUARD(coll_build(v, c, hash, &e));
	e->refs = 1;
	if (caching(v)) {
		pthread_mutex_lock(&v->mu);
		evict = v->colls[v->coll_next];
		v->colls[v->coll_next] = e;
		v->coll_next = (v->coll_next + 1) % COLL_CACHE;
		ref_take(&e->refs);
		pthread_mutex_unlock(&v->mu);
		coll_release(evict);
	}
	*out = e;
	return 0;
}

static int chain_get(struct tdx_verifier *v, const struct coll_entry *e, const struct tdx_quote *q,
                     struct chain_entry **out)
{
	struct chain_entry *c = NULL, *evict = NULL;
	pthread_mutex_lock(&v->mu);
	for (size_t i = 0; caching(v) && i < CHAIN_CACHE; i++)
		if (v->chains[i] && v->chains[i]->pem_len == q->pck_chain_len &&
		    memcmp(v->chains[i]->coll, e->hash, 32) == 0 &&
		    memcmp(v->chains[i]->pem, q->pck_chain, q->pck_chain_len) == 0) {
			c = v->chains[i];
			ref_take(&c->refs);
			break;
		}
	pthread_mutex_unlock(&v->mu);
	if (c) {
		*out = c;
		return 0;
	}
	GUARD(chain_build(v, e, q, &c));
	c->refs = 1;
	if (caching(v)) {
		pthread_mutex_lock(&v->mu);
		evict = v->chains[v->chain_next];
		v->chains[v->chain_next] = c;
		v->chain_next = (v->chain_next + 1) % CHAIN_CACHE;
		ref_take(&c->refs);
		pthread_mutex_unlock(&v->mu);
		chain_release(evict);
	}
	*out = c;
	return 0;
}

/* Is `e` the entry for exactly these QE report, signature, attestation key
 * and auth data?  The signature first: it differs between reports. */
static int qe_same(const struct qe_entry *e, const struct tdx_quote *q, const uint8_t *qe_raw)
{
	return memcmp(e->sig, q->qe_report_sig, 64) == 0 &&
	       memcmp(e->report, qe_raw, TDX_QE_REPORT_SIZE) == 0 &&
	       memcmp(e->att_key, q->att_key, 64) == 0 && e->auth_len == q->qe_auth_len &&
	       memcmp(e->auth, q->qe_auth_data, q->qe_auth_len) == 0;
}

/* The chain's entry for this QE report, referenced, or NULL. */
static struct qe_entry *qe_find(struct tdx_verifier *v, struct chain_entry *ch,
                                const struct tdx_quote *q, const uint8_t *qe_raw)
{
	struct qe_entry *e = NULL;

	if (!caching(v) || q->qe_auth_len > QE_AUTH_MAX)
		return NULL;
	pthread_mutex_lock(&v->mu);
	for (size_t i = 0; i < QE_CACHE && !e; i++)
		if (ch->qe[i] && qe_same(ch->qe[i], q, qe_raw)) {
			e = ch->qe[i];
			e->used = ++ch->qe_clock;
			ref_take(&e->refs);
		}
	pthread_mutex_unlock(&v->mu);
	return e;
}

/* Verify the QE report (signature by the PCK key, then its binding of the
 * attestation key) and parse that key: a new entry with one reference,
 * which the chain also keeps (in its least recently used slot) when
 * caching. */
static int qe_verify(struct tdx_verifier *v, struct chain_entry *ch, const struct tdx_quote *q,
                     const uint8_t *qe_raw, struct qe_entry **out)
{
	struct qe_entry *e = NULL, *evict = NULL;
	uint8_t want[32];
	size_t slot = 0;
	int rc = 0;

	*out = NULL;
	__atomic_add_fetch(&v->qe_verified, 1, __ATOMIC_RELAXED);
	GUARD(p256_pub_verify(ch->leaf, qe_raw, TDX_QE_REPORT_SIZE, q->qe_report_sig, "QE report"));
	GUARD(sha256_parts(want, 2, q->att_key, (size_t)64, q->qe_auth_data, q->qe_auth_len));
	ENSURE(memcmp(q->qe_report.report_data, want, 32) == 0, ERR_VERIFY,
	       "QE report: REPORTDATA does not bind the attestation key (hash mismatch)");
	for (int i = 32; i < 64; i++)
		ENSURE(q->qe_report.report_data[i] == 0, ERR_VERIFY,
		       "QE report: REPORTDATA upper 32 bytes are not zero");
	e = calloc(1, sizeof(*e));
	ENSURE(e, ERR_NOMEM, "out of memory");
	e->refs = 1;
	if (p256_pub_new_xy(q->att_key, &e->att) < 0) {
		rc = fail("quote: attestation key is not a valid P-256 point");
		goto out;
	}
	memcpy(e->report, qe_raw, TDX_QE_REPORT_SIZE);
	memcpy(e->sig, q->qe_report_sig, 64);
	memcpy(e->att_key, q->att_key, 64);
	if (caching(v) && q->qe_auth_len <= QE_AUTH_MAX) {
		memcpy(e->auth, q->qe_auth_data, q->qe_auth_len);
		e->auth_len = q->qe_auth_len;
		pthread_mutex_lock(&v->mu);
		for (size_t i = 0; i < QE_CACHE; i++) {
			if (!ch->qe[i]) {
				slot = i;
				break;
			}
			if (ch->qe[i]->used < ch->qe[slot]->used)
				slot = i;
		}
		evict = ch->qe[slot];
		ch->qe[slot] = e;
		e->used = ++ch->qe_clock;
		ref_take(&e->refs);
		pthread_mutex_unlock(&v->mu);
		qe_release(evict);
	}
	*out = e;
	e = NULL;
out:
	qe_release(e);
	return rc;
}

void tdx_verifier_stats(const struct tdx_verifier *v, struct tdx_verifier_stats *out)
{
	out->qe_verified = __atomic_load_n(&v->qe_verified, __ATOMIC_RELAXED);
	out->qe_cached = __atomic_load_n(&v->qe_cached, __ATOMIC_RELAXED);
}

/* ---------- verifier ---------- */

int tdx_verifier_new_root(const uint8_t *cert, size_t len, int simulated, struct tdx_verifier **out)
{
	struct tdx_verifier *v = calloc(1, sizeof(*v));
	struct tdx_blob d[2];
	size_t n = 0;
	int rc = 0;

	*out = NULL;
	ENSURE(v, ERR_NOMEM, "out of memory");
	if (len > 10 && memmem(cert, len, "-----BEGIN", 10)) {
		GUARD_GOTO(tdx_pem_certs_der(cert, len, d, 2, &n));
		v->root_der = d[0].p;
		v->root_der_len = d[0].len;
		d[0].p = NULL;
	} else {
		v->root_der = malloc(len ? len : 1);
		ENSURE_GOTO(v->root_der, ERR_NOMEM, "out of memory");
		memcpy(v->root_der, cert, len);
		v->root_der_len = len;
	}
	if (x509_lite_parse(v->root_der, v->root_der_len, "trust anchor", &v->root) < 0) {
		rc = err_wrap(ERR_INVAL, "not a P-256 X.509 certificate");
		goto out;
	}
	GUARD_GOTO(p256_pub_new_xy(v->root.pub, &v->root_pub));
	v->simulated = simulated;
	v->cache = 1;
	pthread_mutex_init(&v->mu, NULL);
	*out = v;
	v = NULL;
out:
	free_ders(d, n);
	if (v) {
		p256_pub_free(v->root_pub);
		free(v->root_der);
		free(v);
	}
	return rc;
}

int tdx_verifier_new(struct tdx_verifier **out)
{
	return tdx_verifier_new_root(tdx_intel_root_ca_der, tdx_intel_root_ca_der_len, 0, out);
}

const uint8_t *tdx_verifier_anchor(const struct tdx_verifier *v, size_t *len, int *simulated)
{
	*len = v->root_der_len;
	*simulated = v->simulated;
	return v->root_der;
}

/* The entries are taken out under the lock, then released: a lookup on
 * another thread either took its reference first or finds none. */
static void cache_clear(struct tdx_verifier *v)
{
	struct coll_entry *colls[COLL_CACHE];
	struct chain_entry *chains[CHAIN_CACHE];

	pthread_mutex_lock(&v->mu);
	memcpy(colls, v->colls, sizeof(colls));
	memcpy(chains, v->chains, sizeof(chains));
	memset(v->colls, 0, sizeof(v->colls));
	memset(v->chains, 0, sizeof(v->chains));
	pthread_mutex_unlock(&v->mu);
	for (size_t i = 0; i < COLL_CACHE; i++)
		coll_release(colls[i]);
	for (size_t i = 0; i < CHAIN_CACHE; i++)
		chain_release(chains[i]);
}

void tdx_verifier_set_cache(struct tdx_verifier *v, int enabled)
{
	__atomic_store_n(&v->cache, enabled, __ATOMIC_RELAXED);
	if (!enabled)
		cache_clear(v);
}

void tdx_verifier_free(struct tdx_verifier *v)
{
	if (!v)
		return;
	cache_clear(v);
	pthread_mutex_destroy(&v->mu);
	p256_pub_free(v->root_pub);
	free(v->root_der);
	free(v);
}

/* ---------- TCB status (Intel's rules) ---------- */

static int svn_ge(const uint8_t *have, const uint8_t *need, int from)
{
	for (int i = from; i < 16; i++)
		if (have[i] < need[i])
			return 0;
	return 1;
}

/* Merge a component's status (QE or TDX module) into the level's. */
static enum tdx_tcb_status converge(enum tdx_tcb_status level, enum tdx_tcb_status other)
{
	if (other == TDX_TCB_OUT_OF_DATE) {
		if (level == TDX_TCB_UP_TO_DATE || level == TDX_TCB_SW_HARDENING_NEEDED)
			return TDX_TCB_OUT_OF_DATE;
		if (level == TDX_TCB_CONFIGURATION_NEEDED ||
		    level == TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
			return TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
	}
	if (other == TDX_TCB_REVOKED)
		return TDX_TCB_REVOKED;
	if (other == TDX_TCB_NOT_SUPPORTED)
		return TDX_TCB_NOT_SUPPORTED;
	return level;
}

static const struct tdx_isv_level *isv_match(const struct tdx_isv_level *l, size_t n, unsigned svn)
{
	for (size_t i = 0; i < n; i++)
		if (svn >= l[i].isvsvn)
			return &l[i];
	return NULL;
}

static int check_qe(const struct tdx_qe_identity *id, const struct sgx_report_body *r,
                    struct tdx_verdict *out)
{
	const struct tdx_isv_level *l;
	uint8_t misc[4] = {(uint8_t)r->miscselect, (uint8_t)(r->miscselect >> 8),
	                   (uint8_t)(r->miscselect >> 16), (uint8_t)(r->miscselect >> 24)};

	ENSURE(memcmp(r->mrsigner, id->mrsigner, 32) == 0, ERR_VERIFY,
	       "QE report: MRSIGNER is not the QE identity's");
	ENSURE(r->isvprodid == id->isvprodid, ERR_VERIFY,
	       "QE report: ISVPRODID %u is not the QE identity's %u", r->isvprodid, id->isvprodid);
	for (int i = 0; i < 4; i++)
		ENSURE((misc[i] & id->miscselect_mask[i]) ==
		           (id->miscselect[i] & id->miscselect_mask[i]),
		       ERR_VERIFY, "QE report: MISCSELECT does not match the QE identity");
	for (int i = 0; i < 16; i++)
		ENSURE((r->attributes[i] & id->attributes_mask[i]) ==
		           (id->attributes[i] & id->attributes_mask[i]),
		       ERR_VERIFY, "QE report: ATTRIBUTES do not match the QE identity");
	l = isv_match(id->levels, id->n_levels, r->isvsvn);
	if (!l) {
		out->qe = TDX_TCB_NOT_SUPPORTED;
		return 0;
	}
	out->qe = l->status;
	tdx_advisories_merge(&out->advisories, &l->adv);
	return 0;
}

static int check_module(const struct tdx_tcb_info *t, const struct tdx_td_body *b,
                        struct tdx_verdict *out)
{
	const struct tdx_module_identity *m = NULL;
	const struct tdx_isv_level *l;
	char id[16];

	out->module = TDX_TCB_UP_TO_DATE;
	if (b->tee_tcb_svn[1] == 0) {
		/* Module major version 0: only tdxModule's signer and attributes. */
		if (!t->has_module)
			return 0;
		ENSURE(memcmp(b->mrsignerseam, t->module_mrsigner, 48) == 0, ERR_VERIFY,
		       "TDX module: MRSIGNERSEAM is not the TCB info's tdxModule signer");
		for (int i = 0; i < 8; i++)
			ENSURE((b->seam_attributes[i] & t->module_attributes_mask[i]) ==
			           t->module_attributes[i],
			       ERR_VERIFY, "TDX module: SEAMATTRIBUTES do not match tdxModule");
		return 0;
	}
	snprintf(id, sizeof(id), "TDX_%02X", b->tee_tcb_svn[1]);
	for (size_t i = 0; i < t->n_ids; i++)
		if (strcasecmp(t->ids[i].id, id) == 0)
			m = &t->ids[i];
	ENSURE(m, ERR_VERIFY, "TDX module: no identity %s in the TCB info (module version %u)", id,
	       b->tee_tcb_svn[1]);
	ENSURE(memcmp(b->mrsignerseam, m->mrsigner, 48) == 0, ERR_VERIFY,
	       "TDX module: MRSIGNERSEAM is not %s's signer", id);
	for (int i = 0; i < 8; i++)
		ENSURE((b->seam_attributes[i] & m->attributes_mask[i]) == m->attributes[i],
		       ERR_VERIFY, "TDX module: SEAMATTRIBUTES do not match %s", id);
	out->has_module_identity = 1;
	l = isv_match(m->levels, m->n_levels, b->tee_tcb_svn[0]);
	if (!l) {
		out->module = TDX_TCB_NOT_SUPPORTED;
		return fail("TCB level not supported: TDX module SVN %u is below every level of %s",
		            b->tee_tcb_svn[0], id);
	}
	out->module = l->status;
	tdx_advisories_merge(&out->advisories, &l->adv);
	return 0;
}

static int check_tcb(const struct tdx_tcb_info *t, const struct tdx_pck_ext *pck,
                     const struct tdx_td_body *b, struct tdx_verdict *out)
{
	const struct tdx_tcb_level *sgx = NULL, *tdx = NULL;
	int from = b->tee_tcb_svn[1] > 0 ? 2 : 0; /* module SVNs go by identity */
	enum tdx_tcb_status st;

	out->platform = TDX_TCB_NOT_SUPPORTED;
	for (size_t i = 0; i < t->n_levels && !tdx; i++) {
		const struct tdx_tcb_level *l = &t->levels[i];
		if (!svn_ge(pck->comp_svn, l->sgx, 0) || pck->pcesvn < l->pcesvn)
			continue;
		if (!sgx)
			sgx = l;
		if (svn_ge(b->tee_tcb_svn, l->tdx, from))
			tdx = l;
	}
	if (!sgx)
		return fail("TCB level not supported: no level matches the PCK certificate's SGX "
		            "components and PCESVN %u",
		            pck->pcesvn);
	if (!tdx)
		return fail("TCB level not supported: no level matches TEE_TCB_SVN");
	out->platform = tdx->status;
	out->tcb_date = tdx->date;
	tdx_advisories_merge(&out->advisories, &tdx->adv);
	GUARD(check_module(t, b, out));
	st = converge(tdx->status, out->module);
	if (st != TDX_TCB_REVOKED)
		st = converge(st, out->qe);
	out->status = st;
	if (st == TDX_TCB_REVOKED)
		return fail("TCB status Revoked");
	if (st == TDX_TCB_NOT_SUPPORTED)
		return fail("TCB level not supported: the QE's ISVSVN is below every QE identity "
		            "level");
	return 0;
}

/* ---------- the verification ---------- */

static int quote_root_is_anchor(const struct tdx_verifier *v, const struct tdx_quote *q)
{
	struct tdx_blob d[TDX_PCK_CHAIN_MAX_CERTS];
	size_t n = 0;
	int yes;
	if (tdx_pem_certs_der(q->pck_chain, q->pck_chain_len, d, TDX_PCK_CHAIN_MAX_CERTS, &n) < 0)
		return 1; /* not this reason: keep the original one */
	yes = n < 3 || is_anchor(v, &d[n - 1]);
	free_ders(d, n);
	return yes;
}

static int verify_quote(struct tdx_verifier *v, const uint8_t *raw, const struct tdx_quote *q,
                        const struct tdx_collateral *c, time_t at, struct tdx_verdict *out)
{
	struct coll_entry *e = NULL;
	struct chain_entry *ch = NULL;
	struct qe_entry *qe = NULL;
	const uint8_t *qe_raw = raw + q->qe_report_off;
	int rc = 0;

	ENSURE(memcmp(q->header.qe_vendor_id, intel_qe_vendor_id, 16) == 0, ERR_VERIFY,
	       "quote: QE vendor id is not Intel's");
	rc = coll_get(v, c, &e);
	if (rc < 0) {
		/* A quote from another PKI (a simulated TD, say) fails on its
		 * collateral first; name the more fundamental reason. */
		if (!quote_root_is_anchor(v, q))
			rc = fail("PCK certificate chain: root is not the trusted %s root CA%s",
			          v->simulated ? "simulated" : "Intel SGX",
			          v->simulated ? "" : " (a simulated quote? see --trust-sim-root)");
		goto out;
	}
	GUARD_GOTO(check_windows(e->w, e->nw, at, &out->collateral_expiry));
	out->tcb_eval_number = e->tcb->eval_number;
	out->tcb_info_issue_date = e->tcb->issue_date;
	out->qe_identity_issue_date = e->qe->issue_date;
	out->qe_eval_number = e->qe->eval_number;
	memcpy(out->pck_crl_sha256, e->pck_crl_sha, 32);
	memcpy(out->root_ca_crl_sha256, e->root_crl_sha, 32);
	GUARD_GOTO(chain_get(v, e, q, &ch));
	GUARD_GOTO(check_windows(ch->w, ch->nw, at, &out->collateral_expiry));
	out->pck = ch->ext;
	out->ca = ch->ca;

	/* QE report: signature by the PCK key, then its binding of the
	 * attestation key, unless the chain holds these exact bytes verified. */
	qe = qe_find(v, ch, q, qe_raw);
	if (qe)
		__atomic_add_fetch(&v->qe_cached, 1, __ATOMIC_RELAXED);
	else
		GUARD_GOTO(qe_verify(v, ch, q, qe_raw, &qe));
	GUARD_GOTO(check_qe(e->qe, &q->qe_report, out));

	/* The quote itself. */
	GUARD_GOTO(p256_pub_verify(qe->att, raw, q->signed_len, q->signature, "quote"));

	GUARD_GOTO(check_tcb(e->tcb, &ch->ext, &q->body, out));
out:
	qe_release(qe);
	chain_release(ch);
	coll_release(e);
	return rc;
}

static void verdict_init(const struct tdx_verifier *v, struct tdx_verdict *out)
{
	memset(out, 0, sizeof(*out));
	out->simulated = v->simulated;
	out->status = out->platform = out->module = out->qe = TDX_TCB_NOT_SUPPORTED;
}

int tdx_verify_parsed(struct tdx_verifier *v, const uint8_t *raw, const struct tdx_quote *q,
                      const struct tdx_collateral *c, time_t at, struct tdx_verdict *out)
{
	int rc;

	verdict_init(v, out);
	if (q->qe_auth_len > 65536)
		rc = err_set(ERR_INVAL, "quote: QE auth data too large");
	else
		rc = verify_quote(v, raw, q, c, at, out);
	if (rc < 0)
		snprintf(out->reason, sizeof(out->reason), "%s", err_msg());
	return rc;
}

int tdx_verify_pck_chain(const struct tdx_verifier *v, const struct tdx_quote *q)
{
	struct tdx_blob d[TDX_PCK_CHAIN_MAX_CERTS];
	struct x509_lite leaf, ca;
	struct p256_pub *ca_pub = NULL;
	size_t n = 0;
	int rc = 0;

	if (tdx_pem_certs_der(q->pck_chain, q->pck_chain_len, d, TDX_PCK_CHAIN_MAX_CERTS, &n) < 0)
		return err_wrap(ERR_VERIFY, "PCK certificate chain");
	ENSURE_GOTO(n == 3, ERR_VERIFY,
	            "PCK certificate chain: expected leaf, CA and root, got %zu certificates", n);
	ENSURE_GOTO(is_anchor(v, &d[2]), ERR_VERIFY,
	            "PCK certificate chain: root is not the trusted %s root CA",
	            v->simulated ? "simulated" : "Intel SGX");
	GUARD_GOTO(parse_cert(&d[1], "PCK CA certificate", &ca));
	GUARD_GOTO(check_issued(&ca, &v->root, v->root_pub, "PCK CA certificate", "root CA"));
	GUARD_GOTO(parse_cert(&d[0], "PCK certificate", &leaf));
	GUARD_GOTO(p256_pub_new_xy(ca.pub, &ca_pub));
	GUARD_GOTO(check_issued(&leaf, &ca, ca_pub, "PCK certificate", "PCK CA"));
out:
	p256_pub_free(ca_pub);
	free_ders(d, n);
	return rc;
}

int tdx_verify_collateral(struct tdx_verifier *v, const struct tdx_collateral *c, time_t at,
                          time_t *expiry)
{
	struct coll_entry *e = NULL;
	time_t until = 0;
	int rc;

	rc = coll_get(v, c, &e);
	if (rc == 0)
		rc = check_windows(e->w, e->nw, at, &until);
	coll_release(e);
	if (rc == 0 && expiry)
		*expiry = until;
	return rc;
}

int tdx_verify(struct tdx_verifier *v, const uint8_t *quote, size_t len,
               const struct tdx_collateral *c, time_t at, struct tdx_verdict *out)
{
	struct tdx_quote *q;
	int rc = tdx_quote_parse(quote, len, &q);

	if (rc < 0) {
		verdict_init(v, out);
		snprintf(out->reason, sizeof(out->reason), "%s", err_msg());
		return rc;
	}
	rc = tdx_verify_parsed(v, quote, q, c, at, out);
	tdx_quote_free(q);
	return rc;
}
