/* ear.c — attestation-result tokens: for each session released, the SMS
 * signs what it found of the TD (IETF draft-ietf-rats-ear, EAT Attestation
 * Results, as a JWT signed ES256), so that anyone holding the SMS's public
 * key can check later which TD ran a task and how it was appraised.
 *
 * The signing key is a P-256 key made at the first start and kept in the
 * store like the secrets (sealed under the master key: a master-key rekey
 * carries it along).  It is published as a JWK Set (GET
 * /.well-known/jwks.json) and, with RA-TLS, in the SMS's certificate.
 * sms_ear_rotate makes a new one, offline; the one it replaces stays in the
 * set, so that the tokens it signed still verify.
 *
 * The token's payload is written with snprintf, not jansson: every value
 * is hex, a number, or one of a few fixed words (advisory ids are checked
 * to be such words), and the SMS makes one per release. */
#include "internal.h"

#include "crypto/jws.h"
#include "crypto/p256.h"
#include "tdx/quote.h"
#include "tdx/verify.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timefmt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EAR_KIND     "ear"
#define EAR_OWNER    "sms"
#define EAR_CURRENT  "signing-key"
#define EAR_PREVIOUS "previous-signing-key"

struct sms_ear {
	struct jws_signer *signer;
	char *jwks; /* the JWK Set, served as is */
	char *jwk;  /* the current key's JWK, canonical (RA-TLS) */
};

/* The stored key `name` (PKCS#8 DER), or ERR_NOTFOUND. */
static int key_get(struct sms_store *st, const char *name, EVP_PKEY **out)
{
	uint8_t *v = NULL;
	const uint8_t *p;
	size_t n;

	*out = NULL;
	GUARD(sms_store_get(st, EAR_KIND, EAR_OWNER, name, &v, &n));
	p = v;
	*out = d2i_AutoPrivateKey(NULL, &p, (long)n);
	OPENSSL_cleanse(v, n);
	free(v);
	ENSURE(*out, ERR_INVAL, "sms: the stored EAR key \"%s\" does not parse", name);
	return 0;
}

static int key_put(struct sms_store *st, const char *name, EVP_PKEY *k, int update)
{
	uint8_t *der = NULL;
	int n = i2d_PrivateKey(k, &der), rc;

	ENSURE(n > 0, ERR_CRYPTO, "sms: cannot encode the EAR key");
	rc = sms_store_put(st, EAR_KIND, EAR_OWNER, name, der, (size_t)n, update);
	OPENSSL_cleanse(der, (size_t)n);
	OPENSSL_free(der);
	return rc;
}

/* The current key, made and stored when there is none. */
static int key_current(struct sms_store *st, EVP_PKEY **out)
{
	int rc = key_get(st, EAR_CURRENT, out);
	if (rc != ERR_NOTFOUND)
		return rc;
	GUARD(p256_keygen(out));
	rc = key_put(st, EAR_CURRENT, *out, 0);
	if (rc < 0) {
		EVP_PKEY_free(*out);
		*out = NULL;
	}
	return rc;
}

/* A key's public JWK; NULL out of memory. */
static json_t *jwk_of(EVP_PKEY *k)
{
	uint8_t xy[64];
	return p256_pub_xy(k, xy) == 0 ? jwk_p256_json(xy) : NULL;
}

int sms_ear_rotate(struct sms_store *st, char old_kid[JWS_KID_LEN + 1],
                   char new_kid[JWS_KID_LEN + 1])
{
	EVP_PKEY *cur = NULL, *fresh = NULL;
	uint8_t xy[64];
	int rc = 0;

	old_kid[0] = new_kid[0] = '\0';
	rc = key_get(st, EAR_CURRENT, &cur);
	if (rc == 0) {
		GUARD_GOTO(p256_pub_xy(cur, xy));
		jwk_thumbprint_p256(xy, old_kid);
		/* two writes: interrupted between them, previous and current are
		 * the same key, which a second rotation mends */
		rc = key_put(st, EAR_PREVIOUS, cur, 0);
		if (rc == ERR_BUSY)
			rc = key_put(st, EAR_PREVIOUS, cur, 1);
		GUARD_GOTO(rc);
	} else if (rc != ERR_NOTFOUND) {
		goto out;
	}
	GUARD_GOTO(p256_keygen(&fresh));
	GUARD_GOTO(key_put(st, EAR_CURRENT, fresh, cur ? 1 : 0));
	GUARD_GOTO(p256_pub_xy(fresh, xy));
	jwk_thumbprint_p256(xy, new_kid);
	rc = 0;
out:
	EVP_PKEY_free(cur);
	EVP_PKEY_free(fresh);
	return rc;
}

int sms_ear_init(struct sms *s)
{
	struct sms_ear *e = calloc(1, sizeof(*e));
	EVP_PKEY *cur = NULL, *prev = NULL;
	json_t *keys = json_array(), *set = NULL, *jwk = NULL;
	int rc = 0;

	ENSURE(e && keys, ERR_NOMEM, "out of memory");
	s->ear = e;
	GUARD_GOTO(key_current(&s->store, &cur));
	GUARD_GOTO(jws_signer_new(cur, SMS_EAR_TYP, &e->signer));
	jwk = jwk_of(cur);
	ENSURE_GOTO(jwk && json_array_append(keys, jwk) == 0, ERR_NOMEM, "out of memory");
	rc = key_get(&s->store, EAR_PREVIOUS, &prev);
	if (rc == 0)
		ENSURE_GOTO(json_array_append_new(keys, jwk_of(prev)) == 0, ERR_NOMEM,
		            "out of memory");
	else if (rc != ERR_NOTFOUND)
		goto out;
	rc = 0;
	set = json_pack("{s:O}", "keys", keys);
	e->jwks = set ? json_dumps(set, JSON_COMPACT) : NULL;
	e->jwk = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	ENSURE_GOTO(e->jwks && e->jwk, ERR_NOMEM, "out of memory");
	log_info("sms.ear", "kid=%s previous=%s", jws_signer_kid(e->signer), prev ? "yes" : "no");
out:
	json_decref(set);
	json_decref(jwk);
	json_decref(keys);
	EVP_PKEY_free(cur);
	EVP_PKEY_free(prev);
	return rc;
}

void sms_ear_free(struct sms *s)
{
	if (!s->ear)
		return;
	jws_signer_free(s->ear->signer);
	free(s->ear->jwks);
	free(s->ear->jwk);
	free(s->ear);
	s->ear = NULL;
}

const char *sms_ear_jwk(const struct sms *s)
{
	return s->ear ? s->ear->jwk : NULL;
}

/* GET /.well-known/jwks.json (and /ear/jwks): the keys tokens are signed
 * with, the current first. */
void sms_h_jwks(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	struct sms *s = ctx;
	(void)r;
	if (!s->ear || !s->ear->jwks) {
		sms_status(resp, 503, "no EAR key");
		return;
	}
	http_resp_text(resp, 200, s->ear->jwks);
	resp->content_type = "application/jwk-set+json";
	resp->headers[0] = "Cache-Control";
	resp->headers[1] = "max-age=300";
	resp->headers[2] = NULL;
}

/* AR4SI's tiers (draft-ietf-rats-ar4si): a claim's value from 2 to 31
 * affirms, 32 to 95 warns, 96 and above contraindicates; the appraisal's
 * status is the worst of its claims. */
static const char *tier(int v)
{
	return v >= 96 ? "contraindicated" : v >= 32 ? "warning" : v >= 2 ? "affirming" : "none";
}

/* The trustworthiness vector of a released TD. */
struct vector {
	int instance, configuration, executables, hardware, runtime;
};

static void appraise(const struct sms_ear_in *in, struct vector *t)
{
	enum tdx_tcb_status st = in->v->status;
	int debug = (tdx_quote_td_attributes(in->q) & TDX_ATTR_DEBUG) != 0;

	/* the quote chains to Intel's root: a genuine TDX platform (2); out
	 * of date or needing software hardening: known vulnerabilities (32,
	 * "unsafe hardware") */
	t->instance = 2;
	t->hardware = st == TDX_TCB_UP_TO_DATE || st == TDX_TCB_CONFIGURATION_NEEDED ? 2 : 32;
	/* the pool's and the app's policies passed (2, "approved
	 * configuration"), unless Intel says the platform's configuration
	 * needs changing (32, "unsafe configuration") */
	t->configuration = st == TDX_TCB_CONFIGURATION_NEEDED ||
	                           st == TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED ||
	                           st == TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED
	                       ? 32
	                       : 2;
	/* MRTD and RTMRs met the policy, the app's digest is its on-chain
	 * checksum; with the runtime log replayed to RTMR3, what ran after
	 * boot is known too (2), otherwise only the boot chain (3) */
	t->executables = in->runtime_log ? 2 : 3;
	/* TDX encrypts the TD's memory (2, "encrypted memory"); a debug TD's
	 * memory can be read by the host (96, "visible memory") */
	t->runtime = debug ? 96 : 2;
	/* A simulated TD's quote chains to a root anyone can make: nothing in
	 * it says which machine ran the task, nor that its memory was
	 * protected.  Its token must never read as affirming: hardware and
	 * instance are "unrecognized" (97) and memory "visible" (96), which
	 * makes the status contraindicated; tdexec_simulated says why. */
	if (in->v->simulated) {
		t->instance = 97;
		t->hardware = 97;
		t->runtime = 96;
	}
}

static int worst(const struct vector *t)
{
	int m = t->instance;
	m = t->configuration > m ? t->configuration : m;
	m = t->executables > m ? t->executables : m;
	m = t->hardware > m ? t->hardware : m;
	return t->runtime > m ? t->runtime : m;
}

/* A word safe to print between JSON quotes as is. */
static int plain_word(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

/* snprintf that appends at *at, and notes when the buffer is too small. */
struct out {
	char *buf;
	size_t cap, at;
	int full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->at, o->cap - o->at, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->at)
		o->full = 1;
	else
		o->at += (size_t)n;
}

/* ,"name":"hex of p" appended as is: sixteen of them per token, each a
 * vsnprintf otherwise. */
static void put_hex(struct out *o, const char *name, const uint8_t *p, size_t n)
{
	size_t nl = strlen(name), need = nl + 2 * n + 6; /* ,"" ":" "" around */
	char *w = o->buf + o->at;

	if (o->full || need >= o->cap - o->at) {
		o->full = 1;
		return;
	}
	*w++ = ',';
	*w++ = '"';
	memcpy(w, name, nl);
	w += nl;
	memcpy(w, "\":\"", 3);
	w += 3;
	hex_encode(w, p, n);
	w += 2 * n;
	*w++ = '"';
	*w = '\0';
	o->at += need;
}

#define EAR_PAYLOAD_MAX 8192

int sms_ear_make(struct sms *s, const struct sms_ear_in *in, char **jwt)
{
	const struct tdx_td_body *b = &in->q->body;
	char buf[EAR_PAYLOAD_MAX], date[32];
	struct out o = {.buf = buf, .cap = sizeof(buf)};
	struct vector t;
	const char *policy = in->policy_sha256 ? in->policy_sha256 : s->policy_sha256;

	*jwt = NULL;
	ENSURE(s->ear && s->ear->signer, ERR_INVAL, "sms: no EAR key");
	ENSURE(plain_word(in->taskid) && plain_word(in->worker) && plain_word(policy), ERR_INVAL,
	       "sms: the task, worker or policy hash is not a plain word");
	appraise(in, &t);
	put(&o,
	    "{\"eat_profile\":\"" SMS_EAR_PROFILE "\",\"iat\":%lld,"
	    "\"ear.verifier-id\":{\"developer\":\"tdexec\",\"build\":\"tdexec " TDEXEC_VERSION
	    "\"},"
	    "\"submods\":{\"" SMS_EAR_SUBMOD "\":{\"ear.status\":\"%s\","
	    "\"ear.trustworthiness-vector\":{\"instance-identity\":%d,\"configuration\":%d,"
	    "\"executables\":%d,\"hardware\":%d,\"runtime-opaque\":%d},"
	    "\"ear.appraisal-policy-id\":\"sha256:%s\"",
	    (long long)in->iat, tier(worst(&t)), t.instance, t.configuration, t.executables,
	    t.hardware, t.runtime, policy);
	/* the TD's claims under Intel Trust Authority's names */
	put(&o, ",\"attester_type\":\"TDX\",\"attester_tcb_status\":\"%s\"",
	    tdx_tcb_status_name(in->v->status));
	if (in->v->tcb_date > 0) {
		time_format(in->v->tcb_date, date);
		put(&o, ",\"attester_tcb_date\":\"%s\"", date);
	}
	put(&o, ",\"attester_advisory_ids\":[");
	for (size_t i = 0, n = 0; i < in->v->advisories.n; i++)
		if (plain_word(in->v->advisories.id[i]))
			put(&o, "%s\"%s\"", n++ ? "," : "", in->v->advisories.id[i]);
	put(&o, "]");
	put_hex(&o, "tdx_mrtd", b->mrtd, 48);
	for (int i = 0; i < 4; i++) {
		static const char *const rtmr[4] = {"tdx_rtmr0", "tdx_rtmr1", "tdx_rtmr2",
		                                    "tdx_rtmr3"};
		put_hex(&o, rtmr[i], b->rtmr[i], 48);
	}
	put_hex(&o, "tdx_mrseam", b->mrseam, 48);
	put_hex(&o, "tdx_mrsignerseam", b->mrsignerseam, 48);
	put_hex(&o, "tdx_mrconfigid", b->mrconfigid, 48);
	put_hex(&o, "tdx_mrowner", b->mrowner, 48);
	put_hex(&o, "tdx_mrownerconfig", b->mrownerconfig, 48);
	put_hex(&o, "tdx_seam_attributes", b->seam_attributes, 8);
	put_hex(&o, "tdx_td_attributes", b->td_attributes, 8);
	put_hex(&o, "tdx_xfam", b->xfam, 8);
	put_hex(&o, "tdx_tee_tcb_svn", b->tee_tcb_svn, 16);
	put_hex(&o, "tdx_report_data", b->report_data, 64);
	put(&o, ",\"tdx_is_debuggable\":%s",
	    tdx_quote_td_attributes(in->q) & TDX_ATTR_DEBUG ? "true" : "false");
	/* the task it ran */
	put(&o, ",\"iexec_task_id\":\"%s\",\"iexec_worker\":\"%s\",\"iexec_app_digest\":\"sha256:",
	    in->taskid, in->worker);
	{
		char hex[65];
		hex_encode(hex, in->app_digest, 32);
		put(&o, "%s\"", hex);
	}
	if (in->quote_sha256)
		put(&o, ",\"tdexec_quote_sha256\":\"%s\"", in->quote_sha256);
	if (in->app_policy_sha256 && *in->app_policy_sha256)
		put(&o, ",\"tdexec_app_policy_sha256\":\"%s\"", in->app_policy_sha256);
	put(&o, ",\"tdexec_simulated\":%s}}}", in->v->simulated ? "true" : "false");
	ENSURE(!o.full, ERR_INVAL, "sms: the EAR payload is over %d bytes", EAR_PAYLOAD_MAX);
	return jws_sign(s->ear->signer, buf, o.at, jwt);
}
