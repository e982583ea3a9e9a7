/* session.c — a task's session from the SMS: the worker authorized by the
 * pool asks for it, RTMR3 measures the app and task, a fresh quote binds the
 * SMS nonce, the task, the app digest and an ephemeral key; the session
 * comes back sealed to that key. */
#include "wk.h"

#include "crypto/aead.h"
#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/addr.h"
#include "proto/proto.h"
#include "tdx/provider.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"

/* How the SMS is admitted: by its RA-TLS quote when the worker has an SMS
 * policy, else by the usual CA verification (NULL). */
static const struct http_peer *sms_peer(const struct worker *w)
{
	return w->sms_peer.check ? &w->sms_peer : NULL;
}

/* A JSON call to the SMS. */
static int sms_call(struct worker *w, const char *url, const char *auth, const json_t *body,
                    long timeout, long *status, json_t **out)
{
	return http_json_peer(sms_peer(w), url, auth, body, 1 << 20, timeout, status, out);
}

/* One attestation: a nonce, an ephemeral X25519 key, a quote binding both
 * to the task and app; the session opened with the key. */
static int attest(struct worker *w, struct task *t, const char *base, const char *evlog,
                  json_t **sess)
{
	uint8_t nonce[32], epriv[32], epk[32], rd[64], *quote = NULL, *sealed = NULL, *plain = NULL;
	size_t qlen = 0, slen = 0, plen = 0;
	char url[1024], dhex[65], pkhex[65], *wire = NULL;
	json_t *r = NULL, *body;
	long st;
	int rc;

	snprintf(url, sizeof(url), "%s/challenge", base);
	body = json_object();
	rc = sms_call(w, url, NULL, body, 10, &st, &r);
	json_decref(body);
	body = NULL;
	GUARD_GOTO(rc);
	GUARD_GOTO(json_get_hex(r, "nonce", nonce, 32, 0));
	json_decref(r);
	r = NULL;
	GUARD_GOTO(x25519_keygen(epriv, epk));
	proto_session_report_data(nonce, t->tid, t->digest, epk, rd);
	GUARD_GOTO(tdx_provider_quote(&w->cfg->provider, rd, &quote, &qlen));
	metric_inc(w->m_quotes, 0, 0);
	hex_encode(dhex, t->digest, 32);
	hex_encode(pkhex, epk, 32);
	/* the quote as the raw body (no base64 or JSON string for the SMS to
	 * scan), the event log after it: it grows by a line per task */
	size_t elen = evlog ? strlen(evlog) : 0;
	ENSURE_GOTO((wire = malloc(qlen + elen + 1)), ERR_NOMEM, "out of memory");
	memcpy(wire, quote, qlen);
	if (elen)
		memcpy(wire + qlen, evlog, elen);
	snprintf(url, sizeof(url), "%s/attest?publicKey=%s&appDigest=%s&eventLogBytes=%zu", base,
	         pkhex, dhex, elen);
	if (!elen) /* no log: the quote alone */
		*strrchr(url, '&') = 0;
	struct http_call c = {NULL, "application/octet-stream", wire, qlen + elen, sms_peer(w),
	                      NULL};
	GUARD_GOTO(http_call_json(url, &c, 1 << 20, 30, &st, &r));
	const char *sb = jstr(r, "session");
	if (!sb) {
		rc = err_set(ERR_INVAL, "sms: no session in the reply");
		goto out;
	}
	GUARD_GOTO(base64_decode(sb, strlen(sb), &sealed, &slen));
	GUARD_GOTO(seal_open(epriv, PROTO_SESSION_LABEL, sealed, slen, &plain, &plen));
	GUARD_GOTO(json_parse((const char *)plain, plen, "session", sess));
out:
	OPENSSL_cleanse(epriv, sizeof(epriv));
	if (plain) {
		OPENSSL_cleanse(plain, plen);
		free(plain);
	}
	free(sealed);
	free(quote);
	free(wire);
	json_decref(body);
	json_decref(r);
	return rc;
}

/* An SMS that restarts (a crash, an upgrade) is waited for: 1, 2, 4, 8 and
 * 8 s between the attempts, 23 s in all, before the task fails.  An answer
 * is final (an HTTP 4xx, or an SMS whose own attestation is refused), but
 * for one more attestation: an SMS restarted between the nonce and the
 * quote has forgotten the nonce. */
#define SMS_ATTEMPTS 6

static int unreachable(int rc)
{
	return rc == ERR_IO && !strstr(err_msg(), ": HTTP 4");
}

static void sms_backoff(const struct task *t, int attempt)
{
	unsigned secs = attempt >= 4 ? 8u : 1u << (attempt - 1);
	log_warn("worker.session", "task=%s attempt=%d retry_in=%us error=\"%s\"", t->taskid,
	         attempt, secs, err_msg());
	sleep(secs);
}

int wk_session_get(struct worker *w, struct task *t)
{
	uint8_t h[32], sig[65], enc[20], p[72];
	char url[1024], auth[133], base[512], dhex[65], *evlog = NULL;
	json_t *r = NULL, *body = NULL, *sess = NULL;
	long st;
	int rc;

	/* 1. a session for this task, as the authorized worker */
	GUARD(eth_addr_parse(jstr(t->a, "enclaveChallenge"), enc));
	memcpy(p, w->addr, 20);
	memcpy(p + 20, t->tid, 32);
	memcpy(p + 52, enc, 20);
	keccak256(p, 72, h);
	GUARD(eip191_sign32(w->cfg->key, h, sig));
	hex_encode_0x(auth, sig, 65);
	body = json_pack("{s:s,s:s,s:s,s:s}", "workerWallet", w->address, "chainTaskId", t->taskid,
	                 "enclaveChallenge", jstr(t->a, "enclaveChallenge"), "signature",
	                 jstr(t->a, "workerpoolAuthorization"));
	/* a task taken over from a lost worker: the pool owner's reassignment,
	 * without which the SMS would not release the session again */
	if (json_is_object(json_object_get(t->a, "reassignment")))
		json_object_set(body, "reassignment", json_object_get(t->a, "reassignment"));
	if (json_is_true(json_object_get(t->a, "boost")))
		snprintf(url, sizeof(url), "%s/tee/sessions?dealId=%s&taskIndex=%lld",
		         jstr(t->a, "smsUrl"), t->dealid + 2,
		         (long long)json_integer_value(json_object_get(t->a, "taskIndex")));
	else
		snprintf(url, sizeof(url), "%s/tee/sessions", jstr(t->a, "smsUrl"));
	for (int attempt = 0; attempt < SMS_ATTEMPTS; attempt++) {
		if (attempt)
			sms_backoff(t, attempt);
		if ((rc = sms_call(w, url, auth, body, 30, &st, &r)) == 0 || !unreachable(rc))
			break;
	}
	json_decref(body);
	body = NULL;
	GUARD_GOTO(rc);
	snprintf(base, sizeof(base), "%s",
	         jstr(r, "secretProvisioningUrl") ? jstr(r, "secretProvisioningUrl") : "");
	json_decref(r);
	r = NULL;
	/* 2. RTMR3 measures what this TD is about to run, for whom: in the
	 * simulated TD, or the TD's own register through the kernel; the
	 * runtime log that records it goes with the quote */
	{
		uint8_t m[64], d48[48];
		char ev[200];
		size_t elen;
		memcpy(m, t->digest, 32);
		memcpy(m + 32, t->tid, 32);
		SHA384(m, 64, d48);
		hex_encode(dhex, t->digest, 32);
		snprintf(ev, sizeof(ev), "tdexec app sha256:%.64s task %s", dhex, t->taskid);
		GUARD_GOTO(tdx_provider_extend(&w->cfg->provider, 3, d48, ev));
		GUARD_GOTO(tdx_provider_runtime_log(&w->cfg->provider, &evlog, &elen));
	}
	/* 3. attest; an SMS restarted meanwhile forgets its nonces: the
	 * attempt is made again with a fresh nonce, key and quote. */
	for (int attempt = 0, answered = 0; attempt < SMS_ATTEMPTS; attempt++) {
		if (attempt)
			sms_backoff(t, attempt);
		if ((rc = attest(w, t, base, evlog, &sess)) == 0 ||
		    (!unreachable(rc) && (rc == ERR_VERIFY || answered++)))
			break;
	}
	GUARD_GOTO(rc);
	/* pre-compute, app and post-compute: this worker runs the first and
	 * the last itself, so it keeps them all; the app gets its own only */
	size_t i;
	json_t *svc;
	t->session_env = json_object();
	json_array_foreach (json_object_get(sess, "services"), i, svc) {
		json_t *env = json_object_get(svc, "environment");
		if (!json_is_object(env))
			continue;
		json_object_update(t->session_env, env);
		if (strcmp(jstr(svc, "name") ? jstr(svc, "name") : "", "app") == 0)
			t->app_secrets = json_incref(env);
	}
	if (!t->app_secrets) {
		rc = err_set(ERR_INVAL, "session: no app service");
		goto out;
	}
	{
		const char *k = jstr(t->session_env, "SIGN_TEE_CHALLENGE_PRIVATE_KEY");
		uint8_t a2[20];
		rc = k && strlen(k) == 66
		         ? hex_decode_exact(t->enclave_key, 32, k + 2, "challenge key")
		         : err_set(ERR_INVAL, "session: no enclave challenge key");
		if (rc == 0)
			rc = k1_address(t->enclave_key, a2);
		if (rc == 0 && memcmp(a2, enc, 20) != 0)
			rc = err_set(ERR_VERIFY, "session: the challenge key is not the task's");
	}
	log_info("worker.session", "task=%s released=1", t->taskid);
out:
	free(evlog);
	json_decref(sess);
	json_decref(body);
	json_decref(r);
	return rc;
}
