/* bench_sched — a scheduler under idle workers: N lightweight workers
 * (simulated TDs, keys made ahead) register and long-poll GET /workers/next
 * from one thread (curl multi), while a prober times the other API calls
 * one after the other: /healthz, the registration challenge, a whole
 * registration (its quote made before the clock starts), GET /tasks, the
 * orderbook, and a signed result upload (64 KiB; refused 404, the task
 * being unknown, after its signature is checked and its body read).
 * Polls answered with a task are counted (dispatch latency is read from the
 * scheduler's log by bench/sched.sh); a worker handed one stops polling, as
 * a worker running it would.
 *
 * Usage: bench_sched SCHED_URL CHAIN_JSON SIM_DIR WORKERS SECONDS [MAX_P99_MS]
 * With MAX_P99_MS, exits 1 when a call failed or a kind's p99 is above it
 * (the sched_longpoll test).  Loopback only: SCHED_URL must be
 * http://127.0.0.1:PORT, the scheduler's public URL. */
#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/addr.h"
#include "proto/proto.h"
#include "tdx/sim.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "benchutil.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WORKERS 5000
#define POLL_WAIT   20 /* seconds a poll waits */
#define UPLOAD      (64u << 10)

struct worker {
	uint8_t key[32], addr[20];
	char address[43], auth[80];
	struct wbuf got;
	CURL *poll;
	struct curl_slist *hdr;
};

static char base[128];
static uint64_t chain_id;
static struct tdx_sim *sim;
static struct worker *workers;
static int nworkers;
/* set by the main thread, read by the pollers */
static atomic_int stop_polls;
static unsigned long polls_204, polls_task, polls_err;

static void die(const char *what)
{
	fprintf(stderr, "bench_sched: %s: %s\n", what, err_msg() ? err_msg() : "failed");
	exit(2);
}

static size_t collect(char *p, size_t a, size_t b, void *u)
{
	/* a short count makes curl fail the transfer */
	return wbuf_put(u, p, a * b) < 0 ? 0 : a * b;
}

/* One request on handle c: the status, the body in out (NUL-terminated). */
static long call(CURL *c, const char *method, const char *path, const char *auth, const void *body,
                 size_t len, struct wbuf *out)
{
	struct curl_slist *h = curl_slist_append(NULL, "Expect:");
	char url[512], hdr[200];
	long code = 0;

	out->len = 0;
	snprintf(url, sizeof(url), "%s%s", base, path);
	if (auth) {
		snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
		h = curl_slist_append(h, hdr);
	}
	if (body)
		h = curl_slist_append(h, "Content-Type: application/octet-stream");
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	if (wbuf_u8(out, 0) < 0)
		code = 0;
	return code;
}

static void make_key(struct worker *w)
{
	do
		if (RAND_bytes(w->key, 32) != 1)
			die("randomness");
	while (k1_address(w->key, w->addr) < 0);
	eth_addr_str(w->addr, w->address);
}

/* A fresh registration nonce. */
static int challenge(CURL *c, struct wbuf *out, uint8_t nonce[32])
{
	json_t *j;
	const char *n;
	int ok;
	if (call(c, "POST", "/workers/challenge", NULL, "{}", 2, out) != 200)
		return -1;
	j = json_loads((const char *)out->buf, 0, NULL);
	n = json_string_value(json_object_get(j, "nonce"));
	ok = n && strlen(n) == 64 && hex_decode_exact(nonce, 32, n, "nonce") == 0;
	json_decref(j);
	return ok ? 0 : -1;
}

/* The body and signature of w's registration for nonce (the quote made
 * here: not part of what is timed). */
static int prepare(struct worker *w, const uint8_t nonce[32], char **body, char auth[133])
{
	uint8_t rd[64], h[32], sig[65], *quote = NULL;
	size_t qlen;
	char nhex[65], *b64;
	json_t *j;

	proto_worker_report_data(nonce, w->addr, rd);
	if (tdx_sim_quote(sim, rd, &quote, &qlen) < 0)
		return -1;
	proto_worker_register_hash(chain_id, base, nonce, w->addr, h);
	if (eip191_sign32(w->key, h, sig) < 0) {
		free(quote);
		return -1;
	}
	hex_encode_0x(auth, sig, 65);
	hex_encode(nhex, nonce, 32);
	b64 = base64_encode(quote, qlen);
	free(quote);
	j = json_pack("{s:s,s:s,s:s}", "address", w->address, "nonce", nhex, "quote", b64);
	free(b64);
	*body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return *body ? 0 : -1;
}

static long submit(CURL *c, struct wbuf *out, const char *body, const char *auth, struct worker *w)
{
	long st = call(c, "POST", "/workers/register", auth, body, strlen(body), out);
	if (st == 200 && w) {
		json_t *j = json_loads((const char *)out->buf, 0, NULL);
		const char *t = json_string_value(json_object_get(j, "token"));
		snprintf(w->auth, sizeof(w->auth), "Bearer %s", t ? t : "");
		json_decref(j);
	}
	return st;
}

static void poll_arm(CURLM *m, struct worker *w)
{
	char url[256];
	snprintf(url, sizeof(url), "%s/workers/next?wait=%d", base, POLL_WAIT);
	w->got.len = 0;
	curl_easy_setopt(w->poll, CURLOPT_URL, url);
	curl_easy_setopt(w->poll, CURLOPT_HTTPHEADER, w->hdr);
	curl_easy_setopt(w->poll, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(w->poll, CURLOPT_WRITEDATA, &w->got);
	curl_easy_setopt(w->poll, CURLOPT_PRIVATE, w);
	curl_easy_setopt(w->poll, CURLOPT_TIMEOUT, (long)POLL_WAIT + 30);
	curl_easy_setopt(w->poll, CURLOPT_NOSIGNAL, 1L);
	curl_multi_add_handle(m, w->poll);
}

/* Every worker's long poll in flight, re-armed as each is answered. */
static void *poller(void *arg)
{
	CURLM *m = curl_multi_init();
	(void)arg;
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		w->poll = curl_easy_init();
		char hdr[128];
		snprintf(hdr, sizeof(hdr), "Authorization: %s", w->auth);
		w->hdr = curl_slist_append(NULL, hdr);
		poll_arm(m, w);
	}
	while (!stop_polls) {
		int running, left;
		CURLMsg *msg;
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct worker *w;
			long code = 0;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&w);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
			if (msg->data.result == CURLE_OK && code == 204)
				polls_204++;
			else if (msg->data.result == CURLE_OK && code == 200)
				__atomic_fetch_add(&polls_task, 1, __ATOMIC_RELAXED);
			else if (__atomic_fetch_add(&polls_err, 1, __ATOMIC_RELAXED) < 3)
				fprintf(stderr, "bench_sched: poll: %s, HTTP %ld: %.200s\n",
				        curl_easy_strerror(msg->data.result), code,
				        w->got.buf ? (const char *)w->got.buf : "");
			curl_multi_remove_handle(m, w->poll);
			/* a worker handed a task runs it, and polls no more:
			 * polling on without a report would be asking for the
			 * same task again (its hand-out not acknowledged) */
			if (!stop_polls && !(msg->data.result == CURLE_OK && code == 200))
				poll_arm(m, w);
		}
		curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (int i = 0; i < nworkers; i++) {
		curl_multi_remove_handle(m, workers[i].poll);
		curl_easy_cleanup(workers[i].poll);
		curl_slist_free_all(workers[i].hdr);
	}
	curl_multi_cleanup(m);
	return NULL;
}

/* The scheduler's deferred requests (its /metrics), -1 if it has none. */
static long deferred(CURL *c, struct wbuf *out)
{
	const char *p;
	if (call(c, "GET", "/metrics", NULL, NULL, 0, out) != 200)
		return -1;
	/* the sample's line, not its # HELP */
	p = strstr((const char *)out->buf, "\ntdexec_http_deferred ");
	return p ? strtol(p + 22, NULL, 10) : -1;
}

enum { K_HEALTH, K_CHALLENGE, K_REGISTER, K_TASKS, K_MARKET, K_UPLOAD, NKINDS };
static const char *const kind_name[NKINDS] = {"healthz", "worker_challenge", "worker_register",
                                              "tasks",   "order_list",       "result_upload"};

int main(int argc, char **argv)
{
	static double lat[NKINDS][20000];
	int n[NKINDS] = {0}, errors = 0, fails[NKINDS] = {0};
	double secs, max_ms = 0, t0, t1;
	struct wbuf out, raw;
	pthread_t th;
	json_t *cj;
	CURL *c;
	uint8_t *upload;

	if (argc < 6 || argc > 7) {
		fprintf(stderr, "usage: bench_sched SCHED_URL CHAIN_JSON SIM_DIR WORKERS SECONDS "
		                "[MAX_P99_MS]\n");
		return 2;
	}
	snprintf(base, sizeof(base), "%s", argv[1]);
	nworkers = atoi(argv[4]);
	secs = atof(argv[5]);
	if (argc == 7)
		max_ms = atof(argv[6]);
	if (strncmp(base, "http://127.0.0.1:", 17) != 0 || nworkers < 1 || nworkers > MAX_WORKERS ||
	    secs <= 0 || secs > 600) {
		fprintf(stderr, "bench_sched: loopback URL, 1..%d workers, 0..600 s\n",
		        MAX_WORKERS);
		return 2;
	}
	wbuf_init(&raw);
	if (file_read(argv[2], 1 << 20, &raw.buf, &raw.len) < 0)
		die(argv[2]);
	cj = json_loadb((const char *)raw.buf, raw.len, 0, NULL);
	chain_id = (uint64_t)json_integer_value(json_object_get(cj, "chain_id"));
	json_decref(cj);
	wbuf_free(&raw);
	if (tdx_sim_load(argv[3], NULL, &sim) < 0)
		die(argv[3]);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = curl_easy_init();
	wbuf_init(&out);

	/* Set-up, not timed: the workers' keys, registrations, polls. */
	workers = calloc((size_t)nworkers, sizeof(*workers));
	if (!workers)
		die("memory");
	t0 = bench_now();
	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		uint8_t nonce[32];
		char *body = NULL, auth[133];
		wbuf_init(&w->got);
		make_key(w);
		if (challenge(c, &out, nonce) < 0 || prepare(w, nonce, &body, auth) < 0 ||
		    submit(c, &out, body, auth, w) != 200) {
			fprintf(stderr, "bench_sched: worker %d: registration refused: %s\n", i,
			        (const char *)out.buf);
			return 1;
		}
		free(body);
	}
	t1 = bench_now();
	pthread_create(&th, NULL, poller, NULL);
	/* until every poll waits at the scheduler (a few seconds at most) */
	for (double w0 = bench_now(); bench_now() - w0 < 5 && deferred(c, &out) < nworkers;)
		usleep(50000);
	printf("scheduler: %d idle workers long-polling (registered in %.1f s, %ld polls "
	       "deferred)\n",
	       nworkers, t1 - t0, deferred(c, &out));
	fflush(stdout);

	upload = malloc(UPLOAD);
	if (!upload || RAND_bytes(upload, UPLOAD) != 1)
		die("upload");
	struct worker extra;
	memset(&extra, 0, sizeof(extra));
	make_key(&extra);
	t0 = bench_now();
	for (unsigned long k = 0; bench_now() - t0 < secs && k < 6 * 20000; k++) {
		int kind = (int)(k % NKINDS);
		uint8_t nonce[32], tid[32], msg[64], h[32], sig[65];
		char path[160], auth[133], *body = NULL;
		long st = 0, want = 200;
		double a = 0, b = 0;

		switch (kind) {
		case K_HEALTH:
			a = bench_now();
			st = call(c, "GET", "/healthz", NULL, NULL, 0, &out);
			b = bench_now();
			break;
		case K_CHALLENGE:
			a = bench_now();
			st = challenge(c, &out, nonce) == 0 ? 200 : -1;
			b = bench_now();
			break;
		case K_REGISTER:
			if (challenge(c, &out, nonce) < 0 ||
			    prepare(&extra, nonce, &body, auth) < 0)
				die("registration set-up");
			a = bench_now();
			st = submit(c, &out, body, auth, NULL);
			b = bench_now();
			free(body);
			break;
		case K_TASKS:
			a = bench_now();
			st = call(c, "GET", "/tasks?deal=0x00", NULL, NULL, 0, &out);
			b = bench_now();
			break;
		case K_MARKET:
			a = bench_now();
			st = call(c, "GET", "/orders/workerpool", NULL, NULL, 0, &out);
			b = bench_now();
			break;
		case K_UPLOAD:
			/* signed as an enclave would: keccak(taskid || sha256(archive)) */
			RAND_bytes(tid, 32);
			memcpy(msg, tid, 32);
			SHA256(upload, UPLOAD, msg + 32);
			keccak256(msg, 64, h);
			bench_must(eip191_sign32(extra.key, h, sig));
			hex_encode_0x(auth, sig, 65);
			strcpy(path, "/results/");
			hex_encode_0x(path + 9, tid, 32);
			want = 404;
			a = bench_now();
			st = call(c, "POST", path, auth, upload, UPLOAD, &out);
			b = bench_now();
			break;
		}
		if (st != want) {
			if (fails[kind]++ < 3)
				fprintf(stderr, "bench_sched: %s: HTTP %ld, want %ld: %.200s\n",
				        kind_name[kind], st, want, (const char *)out.buf);
			errors++;
		}
		lat[kind][n[kind]++] = b - a;
	}
	stop_polls = 1;
	pthread_join(th, NULL);

	int over = 0;
	printf("%-18s %7s %9s %9s %9s\n", "call", "n", "p50 ms", "p99 ms", "max ms");
	for (int k = 0; k < NKINDS; k++) {
		double p50 = bench_quantile(lat[k], n[k], 0.5) * 1e3,
		       p99 = bench_quantile(lat[k], n[k], 0.99) * 1e3,
		       mx = bench_quantile(lat[k], n[k], 1.0) * 1e3;
		printf("%-18s %7d %9.2f %9.2f %9.2f\n", kind_name[k], n[k], p50, p99, mx);
		if (max_ms > 0 && p99 > max_ms)
			over++;
	}
	printf("polls: %lu answered 204, %lu with a task, %lu failed; %d calls failed\n", polls_204,
	       polls_task, polls_err, errors);
	free(upload);
	wbuf_free(&out);
	curl_easy_cleanup(c);
	tdx_sim_free(sim);
	for (int i = 0; i < nworkers; i++)
		wbuf_free(&workers[i].got);
	free(workers);
	curl_global_cleanup();
	if (max_ms > 0 && (over || errors || polls_err)) {
		printf("FAIL: p99 above %.0f ms for %d kinds of call, %d calls and %lu polls "
		       "failed\n",
		       max_ms, over, errors, polls_err);
		return 1;
	}
	return 0;
}
