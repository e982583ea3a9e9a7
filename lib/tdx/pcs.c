#include "pcs.h"

#include "net/http.h"
#include "tdx/collstore.h"
#include "tdx/quote.h"
#include "tdx/tcbinfo.h"
#include "tdx/x509lite.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timefmt.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PCS_BODY_MAX       (4u * 1024u * 1024u)
#define INTEL_PCS_HOST     "api.trustedservices.intel.com"
#define INTEL_ROOT_CRL_URL "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"

int tdx_pcs_default_cache(char *out, size_t cap)
{
	const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;
	if (x && *x)
		n = snprintf(out, cap, "%s/tdexec/pcs", x);
	else if (home && *home)
		n = snprintf(out, cap, "%s/.cache/tdexec/pcs", home);
	else
		return err_set(ERR_NOTFOUND, "no cache directory: set HOME or XDG_CACHE_HOME");
	ENSURE(n > 0 && (size_t)n < cap, ERR_INVAL, "cache path too long");
	return 0;
}

int tdx_collateral_next_update(const struct tdx_collateral *c, time_t *out)
{
	struct tdx_tcb_info *t = NULL;
	struct tdx_qe_identity *q = NULL;
	struct crl_lite a, b;
	int rc = 0;

	GUARD_GOTO(tdx_tcb_info_parse((const char *)c->tcb_info.p, c->tcb_info.len, &t));
	GUARD_GOTO(tdx_qe_identity_parse((const char *)c->qe_identity.p, c->qe_identity.len, &q));
	GUARD_GOTO(crl_lite_parse(c->pck_crl.p, c->pck_crl.len, "PCK CRL", &a));
	GUARD_GOTO(crl_lite_parse(c->root_ca_crl.p, c->root_ca_crl.len, "root CA CRL", &b));
	*out = t->next_update;
	if (q->next_update < *out)
		*out = q->next_update;
	if (a.next_update < *out)
		*out = a.next_update;
	if (b.next_update < *out)
		*out = b.next_update;
out:
	tdx_tcb_info_free(t);
	tdx_qe_identity_free(q);
	return rc;
}

int tdx_pcs_quote_target(const uint8_t *quote, size_t len, uint8_t fmspc[6], enum tdx_pck_ca *ca)
{
	struct tdx_quote *q;
	int rc;

	GUARD(tdx_quote_parse(quote, len, &q));
	rc = tdx_quote_pck_target(q, fmspc, ca);
	tdx_quote_free(q);
	return rc;
}

/* GET url; the body (and one header, URL-decoded) on HTTP 200. */
static int fetch(const struct tdx_pcs *p, const char *url, const char *header,
                 struct http_response *r, char **hval)
{
	GUARD(http_get(url, PCS_BODY_MAX, p->timeout_s ? p->timeout_s : 30, r));
	if (r->status != 200) {
		long st = r->status;
		http_response_free(r);
		return err_set(ERR_IO, "PCS: %s: HTTP %ld", url, st);
	}
	if (header) {
		*hval = http_header(r, header, 1);
		if (!*hval) {
			http_response_free(r);
			return err_set(ERR_IO, "PCS: %s: no %s header", url, header);
		}
	}
	return 0;
}

static int set_blob(struct tdx_blob *b, const void *p, size_t n)
{
	b->p = malloc(n + 1);
	ENSURE(b->p, ERR_NOMEM, "out of memory");
	memcpy(b->p, p, n);
	b->p[n] = 0;
	b->len = n;
	return 0;
}

/* A CRL body as DER: DER as is, hex text decoded, PEM unwrapped. */
static int crl_der(const struct wbuf *body, struct tdx_blob *out)
{
	const char *s = (const char *)body->buf;
	if (body->len && body->buf[0] == 0x30)
		return set_blob(out, body->buf, body->len);
	if (is_hex_text(body->buf, body->len))
		return hex_decode_alloc(s, body->len, &out->p, &out->len);
	if (body->len > 10 && memmem(s, body->len, "-----BEGIN X509 CRL-----", 24)) {
		const char *b =
		    (const char *)memmem(s, body->len, "-----BEGIN X509 CRL-----", 24) + 24;
		const char *e = memmem(b, body->len - (size_t)(b - s), "-----END", 8);
		char *b64;
		size_t k = 0;
		int rc;
		ENSURE(e, ERR_INVAL, "PCS: malformed PEM CRL");
		b64 = malloc((size_t)(e - b) + 1);
		ENSURE(b64, ERR_NOMEM, "out of memory");
		for (const char *c = b; c < e; c++)
			if (*c != '\n' && *c != '\r')
				b64[k++] = *c;
		rc = base64_decode(b64, k, &out->p, &out->len);
		free(b64);
		return rc;
	}
	return err_set(ERR_INVAL, "PCS: CRL is neither DER, hex nor PEM");
}

static int fetch_all(const struct tdx_pcs *p, const uint8_t fmspc[6], enum tdx_pck_ca ca,
                     struct tdx_collateral **out)
{
	struct tdx_collateral *c = calloc(1, sizeof(*c));
	struct http_response r;
	char url[1024], f[13], *chain = NULL;
	const char *base = p->base_url, *obj;
	size_t olen;
	int rc = 0;

	*out = NULL;
	ENSURE(c, ERR_NOMEM, "out of memory");
	hex_encode(f, fmspc, 6);
	for (char *x = f; *x; x++)
		if (*x >= 'a')
			*x = (char)(*x - 32);

	snprintf(url, sizeof(url), "%s/tdx/certification/v4/tcb?fmspc=%s", base, f);
	GUARD_GOTO(fetch(p, url, "TCB-Info-Issuer-Chain", &r, &chain));
	rc = tdx_pcs_body_split((const char *)r.body.buf, r.body.len, "tcbInfo", &obj, &olen,
	                        c->tcb_info_sig);
	if (rc == 0)
		rc = set_blob(&c->tcb_info, obj, olen);
	if (rc == 0)
		rc = set_blob(&c->tcb_info_issuer_chain, chain, strlen(chain));
	free(chain);
	chain = NULL;
	http_response_free(&r);
	GUARD_GOTO(rc);

	snprintf(url, sizeof(url), "%s/tdx/certification/v4/qe/identity", base);
	GUARD_GOTO(fetch(p, url, "SGX-Enclave-Identity-Issuer-Chain", &r, &chain));
	rc = tdx_pcs_body_split((const char *)r.body.buf, r.body.len, "enclaveIdentity", &obj,
	                        &olen, c->qe_identity_sig);
	if (rc == 0)
		rc = set_blob(&c->qe_identity, obj, olen);
	if (rc == 0)
		rc = set_blob(&c->qe_identity_issuer_chain, chain, strlen(chain));
	free(chain);
	chain = NULL;
	http_response_free(&r);
	GUARD_GOTO(rc);

	snprintf(url, sizeof(url), "%s/sgx/certification/v4/pckcrl?ca=%s&encoding=der", base,
	         tdx_pck_ca_name(ca));
	GUARD_GOTO(fetch(p, url, "SGX-PCK-CRL-Issuer-Chain", &r, &chain));
	rc = crl_der(&r.body, &c->pck_crl);
	if (rc == 0)
		rc = set_blob(&c->pck_crl_issuer_chain, chain, strlen(chain));
	free(chain);
	chain = NULL;
	http_response_free(&r);
	GUARD_GOTO(rc);

	if (p->root_crl_url)
		snprintf(url, sizeof(url), "%s", p->root_crl_url);
	else if (strstr(base, INTEL_PCS_HOST))
		snprintf(url, sizeof(url), "%s", INTEL_ROOT_CRL_URL);
	else
		snprintf(url, sizeof(url), "%s/sgx/certification/v4/rootcacrl", base);
	GUARD_GOTO(fetch(p, url, NULL, &r, NULL));
	rc = crl_der(&r.body, &c->root_ca_crl);
	http_response_free(&r);
	GUARD_GOTO(rc);
	*out = c;
	c = NULL;
out:
	tdx_collateral_free(c);
	return rc;
}

static int cache_path(const struct tdx_pcs *p, const uint8_t fmspc[6], enum tdx_pck_ca ca,
                      char *out, size_t cap)
{
	char f[13];
	int n;
	hex_encode(f, fmspc, 6);
	n = snprintf(out, cap, "%s/tdx-%s-%s.json", p->cache_dir, f, tdx_pck_ca_name(ca));
	ENSURE(n > 0 && (size_t)n < cap, ERR_INVAL, "cache path too long");
	return 0;
}

/* When a cache entry may say it was fetched: 2000-01-01 .. 2200-01-01.
 * Outside, its refresh time would be meaningless (or overflow). */
#define FETCHED_MIN 946684800LL
#define FETCHED_MAX 7258118400LL

/* A cached entry and when it was fetched; 1 when absent. */
static int cache_load(const char *path, struct tdx_collateral **c, time_t *fetched)
{
	long long at;
	json_t *j;
	char *text;
	int rc;

	if (access(path, F_OK) != 0)
		return 1;
	GUARD(json_load_path(path, 32u * 1024u * 1024u, &j));
	rc = json_get_int_range(j, "tdexec_fetched_at", FETCHED_MIN, FETCHED_MAX, &at);
	if (rc < 0) {
		json_decref(j);
		return err_wrap(ERR_INVAL, "%s", path);
	}
	*fetched = (time_t)at;
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	ENSURE(text, ERR_NOMEM, "out of memory");
	rc = tdx_collateral_from_json(text, strlen(text), c);
	free(text);
	return rc;
}

static int cache_store(const char *dir, const char *path, const struct tdx_collateral *c,
                       time_t fetched)
{
	json_t *j;
	char *text;
	int rc;

	GUARD(dir_create(dir, 0755));
	GUARD(tdx_collateral_to_json(c, &text));
	rc = json_parse(text, strlen(text), "collateral", &j);
	free(text);
	GUARD(rc);
	json_object_set_new(j, "tdexec_fetched_at", json_integer((json_int_t)fetched));
	rc = json_write_path(path, j, 0644);
	json_decref(j);
	return rc;
}

int tdx_pcs_collateral(const struct tdx_pcs *p, const uint8_t fmspc[6], enum tdx_pck_ca ca,
                       time_t now, struct tdx_collateral **out, int *cached)
{
	struct tdx_collateral *c = NULL, *fresh = NULL;
	char path[PATH_MAX], t[32];
	time_t fetched = 0, next = 0;
	int rc, have = 0;

	*out = NULL;
	*cached = 0;
	if (p->cache_dir) {
		GUARD(cache_path(p, fmspc, ca, path, sizeof(path)));
		rc = cache_load(path, &c, &fetched);
		if (rc < 0)
			log_warn("pcs.cache", "path=\"%s\" error=\"%s\" (refetching)", path,
			         err_msg());
		have = rc == 0 && tdx_collateral_next_update(c, &next) == 0;
		if (have) {
			time_t ahead = (next - fetched) / 10;
			if (ahead < 3600)
				ahead = 3600;
			if (now < next - ahead) {
				*out = c;
				*cached = 1;
				return 0;
			}
		}
	}
	rc = p->base_url ? fetch_all(p, fmspc, ca, &fresh)
	                 : err_set(ERR_NOTFOUND, "no PCS URL and no valid cached collateral");
	if (rc == 0) {
		if (p->cache_dir && cache_store(p->cache_dir, path, fresh, now) < 0)
			log_warn("pcs.cache", "path=\"%s\" error=\"%s\"", path, err_msg());
		tdx_collateral_free(c);
		*out = fresh;
		return 0;
	}
	if (have && now < next) {
		time_format(next, t);
		log_warn("pcs.stale", "error=\"%s\" using cached collateral valid until %s",
		         err_msg(), t);
		*out = c;
		*cached = 1;
		return 0;
	}
	tdx_collateral_free(c);
	return rc;
}
