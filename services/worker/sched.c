/* sched.c — the worker as the scheduler's client: registration by a quote
 * bound to the worker's address, task status reports, heartbeats. */
#include "wk.h"

#include "crypto/k1.h"
#include "eth/addr.h"
#include "poco/market.h"
#include "proto/proto.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"

#include <openssl/crypto.h>

/* A JSON call to the scheduler or the SMS (replies up to 1 MiB). */
int wk_call(const char *url, const char *auth, const json_t *body, long timeout, long *status,
            json_t **out)
{
	return http_json(url, auth, body, 1 << 20, timeout, status, out);
}

int wk_register(struct worker *w)
{
	uint8_t nonce[32], rd[64], h[32], sig[65], *quote = NULL;
	size_t qlen;
	char url[512], auth[133], nhex[65];
	json_t *r = NULL, *body;
	long st;
	int rc;

	snprintf(url, sizeof(url), "%s/workers/challenge", w->sched);
	body = json_object();
	rc = wk_call(url, NULL, body, 10, &st, &r);
	json_decref(body);
	GUARD(rc);
	rc = json_get_hex(r, "nonce", nonce, 32, 0);
	json_decref(r);
	GUARD(rc);
	proto_worker_report_data(nonce, w->addr, rd);
	GUARD(tdx_provider_quote(&w->cfg->provider, rd, &quote, &qlen));
	metric_inc(w->m_quotes, 0, 0);
	proto_worker_register_hash(w->chain->chain_id, w->sched, nonce, w->addr, h);
	rc = eip191_sign32(w->cfg->key, h, sig);
	char *b64 = base64_encode(quote, qlen);
	free(quote);
	ENSURE(b64 && rc == 0, ERR_NOMEM, "register: cannot build the request");
	hex_encode_0x(auth, sig, 65);
	hex_encode(nhex, nonce, 32);
	body = json_pack("{s:s,s:s,s:s}", "address", w->address, "nonce", nhex, "quote", b64);
	free(b64);
	snprintf(url, sizeof(url), "%s/workers/register", w->sched);
	char *txt = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	ENSURE(txt, ERR_NOMEM, "out of memory");
	struct http_call call = {auth, "application/json", txt, strlen(txt), NULL, NULL};
	struct http_response resp;
	rc = http_call(url, &call, 1 << 16, 30, &resp);
	free(txt);
	if (rc < 0)
		return err_wrap(rc, "register with %s", w->sched);
	if (resp.status == 200)
		rc = json_parse((const char *)resp.body.buf, resp.body.len, url, &r);
	else if (json_parse((const char *)resp.body.buf, resp.body.len, url, &r) == 0 &&
	         jstr(r, "reason"))
		/* a refusal names the check that failed (the scheduler's log
		 * has the details) */
		rc = err_set(ERR_VERIFY,
		             "the scheduler at %s refused the registration (HTTP %ld): %s",
		             w->sched, resp.status, jstr(r, "reason"));
	else
		rc = err_set(ERR_IO, "register with %s: HTTP %ld %.*s", w->sched, resp.status,
		             (int)(resp.body.len > 200 ? 200 : resp.body.len),
		             resp.body.buf ? (char *)resp.body.buf : "");
	if (resp.body.buf) /* the token */
		OPENSSL_cleanse(resp.body.buf, resp.body.len);
	http_response_free(&resp);
	if (rc < 0) {
		json_decref(r);
		return rc;
	}
	snprintf(w->token, sizeof(w->token), "%s", jstr(r, "token") ? jstr(r, "token") : "");
	log_info("worker.register", "worker=%s tcb=%s simulated=%d", w->address,
	         jstr(r, "tcbStatus") ? jstr(r, "tcbStatus") : "?",
	         json_is_true(json_object_get(r, "simulated")));
	json_decref(r);
	ENSURE(strlen(w->token) == 64, ERR_INVAL, "register: no token in the reply");
	return 0;
}

void wk_bearer(const struct worker *w, char out[80])
{
	snprintf(out, 80, "Bearer %s", w->token);
}

/* A task's status to the scheduler; a replicate that revealed a callback
 * task's result also gives its callback-data (the scheduler's finalize
 * needs it). */
static void report(struct worker *w, const char *taskid, const char *status, const char *detail,
                   const char *tx, const struct task *cb, const char *logs, long long app_ms)
{
	char url[512], auth[80], text[1024];
	json_t *b, *r = NULL;

	/* a detail may quote a registry's or a node's words: only printable
	 * ASCII, so the JSON is always valid (json_pack refuses bad UTF-8) */
	detail = str_printable(text, sizeof(text), detail ? detail : status, SIZE_MAX);
	b = json_pack("{s:s,s:s,s:s}", "status", status, "detail", detail, "tx", tx ? tx : "");
	if (!b) {
		/* never an empty request in its place: the report would vanish */
		log_warn("worker.report", "task=%s status=%s error=\"out of memory\"", taskid,
		         status);
		return;
	}
	if (cb && cb->callback_len)
		json_object_set_new(b, "callbackData",
		                    eth_json_hex(cb->callback, cb->callback_len));
	if (logs)
		json_object_set_new(b, "logs", json_string(logs));
	if (app_ms >= 0)
		json_object_set_new(b, "appMs", json_integer(app_ms));
	long st;
	snprintf(url, sizeof(url), "%s/workers/tasks/%s/status", w->sched, taskid);
	wk_bearer(w, auth);
	if (wk_call(url, auth, b, 10, &st, &r) < 0)
		log_warn("worker.report", "task=%s status=%s error=\"%s\"", taskid, status,
		         err_msg());
	json_decref(r);
	json_decref(b);
}

void wk_report_cb(struct worker *w, const char *taskid, const char *status, const char *detail,
                  const char *tx, const struct task *cb)
{
	report(w, taskid, status, detail, tx, cb, NULL, -1);
}

void wk_report(struct worker *w, const char *taskid, const char *status, const char *detail,
               const char *tx)
{
	report(w, taskid, status, detail, tx, NULL, NULL, -1);
}

void wk_report_task(struct worker *w, const struct task *t, const char *status, const char *detail)
{
	report(w, t->taskid, status, detail, NULL, NULL, t->dev_log, t->app_ms);
}

/* Heartbeats while a task runs, so the scheduler does not take it back. */
void *wk_pinger_main(void *arg)
{
	struct worker *w = arg;
	struct timespec ts;
	char url[512], auth[80];
	int stop = 0;

	snprintf(url, sizeof(url), "%s/workers/ping", w->sched);
	while (!stop) {
		json_t *r = NULL, *b = json_object();
		long st;
		wk_bearer(w, auth);
		if (wk_call(url, auth, b, 5, &st, &r) < 0)
			log_warn("worker.ping", "error=\"%s\"", err_msg());
		json_decref(b);
		json_decref(r);
		pthread_mutex_lock(&w->mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (!w->pinger_stop)
			pthread_cond_timedwait(&w->cv, &w->mu, &ts);
		stop = w->pinger_stop;
		pthread_mutex_unlock(&w->mu);
	}
	return NULL;
}
