/* bench_attest — attested session releases by the SMS on loopback.
 *
 * Set-up (not timed): an SMS in this process on the given chain, trusting
 * the simulated TD's root; for each task of a PoCo Boost deal, its enclave
 * challenge and a session for worker account 7, authorized by the
 * workerpool owner (account 3).  Timed, two runs over half the tasks each:
 * 2 then 8 client threads, each acting as TDs: nonce, a simulated quote
 * binding it, attest, check the 200 (its body, and the session opened with
 * the TD's key).  Each release stores its receipt;
 * overlapping releases are committed in groups (the mean group is
 * printed).  SMS CPU is the process's CPU time less the client threads'.
 * The load average is printed: the machine's other work slows both sides.
 * The peer is the bare quote verification (cached verifier, 1 thread) that
 * every release includes.  The floor adds the release's other public-key
 * cryptography (the EAR token's signature, the session's seal), measured in
 * the same run; the goals are checked on the run with 8 TDs.
 * Usage: bench_attest CHAIN_JSON SIM_DIR DEALID COUNT
 * (BENCH_SMS_THREADS=N: the SMS's threads, 4 by default). */
#include "../services/sms/sms.h"
#include "crypto/aead.h"
#include "crypto/jws.h"
#include "crypto/p256.h"
#include "poco/market.h"
#include "proto/proto.h"
#include "tdx/collateral.h"
#include "tdx/sim.h"
#include "tdx/verify.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"
#include "benchutil.h"
#include "sms_client.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static char base[64];

struct task {
	uint8_t id[32];
	char session[33];
};

struct job {
	struct task *tasks;
	int from, to, done, failed;
	const char *sim_dir;
	uint8_t digest[32];
	double *lat; /* nonce + attest round trips, seconds */
	double cpu;  /* this client thread's CPU time, seconds */
	double sys;  /* of which in the kernel */
};

/* Kernel CPU time of the thread or the process, seconds. */
static double sys_now(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double cpu_now(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A TD's HTTP client, set up once as a worker's would be: one handle and
 * its kept-alive connection, no signal handlers around each transfer
 * (CURLOPT_NOSIGNAL: curl installs and restores a SIGPIPE handler per
 * call otherwise, ~18 rt_sigaction a release), the two header lists made
 * once.  Per request only the URL, the body and the answer change. */
struct td_http {
	CURL *c;
	struct curl_slist *json, *octet;
	struct wbuf out;
	char url[256];
	size_t base_len;
};

static int td_http_init(struct td_http *h)
{
	memset(h, 0, sizeof(*h));
	wbuf_init(&h->out);
	h->c = curl_easy_init();
	h->json =
	    curl_slist_append(curl_slist_append(NULL, "Content-Type: application/json"), "Expect:");
	h->octet = curl_slist_append(
	    curl_slist_append(NULL, "Content-Type: application/octet-stream"), "Expect:");
	if (!h->c || !h->json || !h->octet)
		return -1;
	curl_easy_setopt(h->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, sms_client_collect);
	curl_easy_setopt(h->c, CURLOPT_WRITEDATA, &h->out);
	h->base_len = strlen(base);
	memcpy(h->url, base, h->base_len);
	return 0;
}

static void td_http_free(struct td_http *h)
{
	curl_easy_cleanup(h->c);
	curl_slist_free_all(h->json);
	curl_slist_free_all(h->octet);
	wbuf_free(&h->out);
}

/* POST base + the path's parts; the status, the answer NUL-terminated in
 * h->out (0 on a transport error). */
static long td_post(struct td_http *h, const char *const path[], struct curl_slist *hdrs,
                    const void *body, size_t len)
{
	size_t n = h->base_len;
	long code = 0;

	for (int i = 0; path[i]; i++) {
		size_t k = strlen(path[i]);
		if (n + k >= sizeof(h->url))
			return 0;
		memcpy(h->url + n, path[i], k);
		n += k;
	}
	h->url[n] = '\0';
	h->out.len = 0;
	curl_easy_setopt(h->c, CURLOPT_URL, h->url);
	curl_easy_setopt(h->c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h->c, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(h->c, CURLOPT_POSTFIELDSIZE, (long)len);
	if (curl_easy_perform(h->c) == CURLE_OK)
		curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &code);
	if (wbuf_u8(&h->out, 0) < 0)
		code = 0;
	return code;
}

/* The 200's body as the TD takes it: exactly {"session":"<base64 of the
 * sealed document>","ear":"<token>"} (written as is by the SMS; read here
 * as is too: jansson's scan of the few kB of base64 cost the client more
 * than opening the session); the session opens with the TD's key and
 * names the task.  0 or -1. */
static int td_open(const char *answer, const uint8_t priv[32], const char *tid_hex)
{
	static const char head[] = "{\"session\":\"", mid[] = "\",\"ear\":\"";
	const char *sb = answer + sizeof(head) - 1, *se, *ear, *end;
	uint8_t *sealed = NULL, *plain = NULL;
	size_t slen = 0, plen = 0, n = strlen(answer);
	int ok;

	if (n < sizeof(head) - 1 + sizeof(mid) - 1 + 2 ||
	    memcmp(answer, head, sizeof(head) - 1) != 0 || !(se = strstr(sb, mid)))
		return -1;
	ear = se + sizeof(mid) - 1;
	end = answer + n - 2;
	/* the token: three base64url parts, nothing to escape */
	ok = end > ear && strcmp(end, "\"}") == 0 &&
	     memchr(ear, '"', (size_t)(end - ear)) == NULL &&
	     memchr(ear, '.', (size_t)(end - ear)) != NULL &&
	     base64_decode(sb, (size_t)(se - sb), &sealed, &slen) == 0 &&
	     seal_open(priv, PROTO_SESSION_LABEL, sealed, slen, &plain, &plen) == 0 &&
	     memmem(plain, plen, tid_hex, strlen(tid_hex)) != NULL;
	if (plain) {
		OPENSSL_cleanse(plain, plen);
		free(plain);
	}
	free(sealed);
	return ok ? 0 : -1;
}

static void *client(void *arg)
{
	struct job *j = arg;
	struct td_http h;
	struct tdx_sim *sim;

	if (td_http_init(&h) < 0 || tdx_sim_load(j->sim_dir, NULL, &sim) < 0) {
		td_http_free(&h);
		j->failed = j->to - j->from;
		return NULL;
	}
	for (int i = j->from; i < j->to; i++) {
		uint8_t nonce[32], rd[64], priv[32], pub[32], *q;
		size_t qlen;
		char pk[65], dg[65], tid[65];
		const char *sess = j->tasks[i].session;
		json_t *r;
		double t0 = bench_now(), t1, t2, t3;

		if (td_post(&h, (const char *const[]){"/tdx/sessions/", sess, "/challenge", NULL},
		            h.json, NULL, 0) != 200 ||
		    !(r = json_loads((char *)h.out.buf, 0, NULL)) ||
		    hex_decode_exact(nonce, 32, json_string_value(json_object_get(r, "nonce")),
		                     "nonce") < 0) {
			j->failed++;
			continue;
		}
		json_decref(r);
		t1 = bench_now();
		/* the TD's side: a key, REPORTDATA, a quote (not timed) */
		bench_must(x25519_keygen(priv, pub));
		proto_session_report_data(nonce, j->tasks[i].id, j->digest, pub, rd);
		if (tdx_sim_quote(sim, rd, &q, &qlen) < 0) {
			j->failed++;
			continue;
		}
		hex_encode(pk, pub, 32);
		hex_encode(dg, j->digest, 32);
		t2 = bench_now();
		/* the worker's form: the quote as the raw body */
		long st =
		    td_post(&h,
		            (const char *const[]){"/tdx/sessions/", sess, "/attest?publicKey=", pk,
		                                  "&appDigest=", dg, NULL},
		            h.octet, q, qlen);
		t3 = bench_now();
		free(q);
		/* every answer checked: the session opens and is this task's
		 * (not timed, as the quote) */
		hex_encode(tid, j->tasks[i].id, 32);
		if (st != 200 || td_open((char *)h.out.buf, priv, tid) < 0)
			j->failed++;
		OPENSSL_cleanse(priv, sizeof(priv));
		j->lat[j->done++] = (t1 - t0) + (t3 - t2);
	}
	tdx_sim_free(sim);
	td_http_free(&h);
	j->cpu = cpu_now(CLOCK_THREAD_CPUTIME_ID);
	j->sys = sys_now(RUSAGE_THREAD);
	return NULL;
}

/* BENCH_PERF_CTL=FIFO: the timed part alone under a profiler, e.g.
 *   mkfifo ctl; BENCH_PERF_CTL=ctl perf record --delay=-1 --control fifo:ctl ...
 * ("enable" before the releases, "disable" after them). */
static void perf_ctl(const char *cmd)
{
	const char *path = getenv("BENCH_PERF_CTL");
	FILE *f = path ? fopen(path, "w") : NULL;
	if (f) {
		fprintf(f, "%s\n", cmd);
		fclose(f);
	}
}

struct verify_ctx {
	struct tdx_verifier *v;
	struct tdx_collateral *col;
	uint8_t *q;
	size_t len;
};

static int op_verify(void *p)
{
	struct verify_ctx *c = p;
	struct tdx_verdict v;
	return tdx_verify(c->v, c->q, c->len, c->col, time(NULL), &v);
}

/* The rest of the public-key cryptography every release does, beside the
 * quote's verification (the peer): the EAR token's ES256 signature over a
 * payload of its size, and the session sealed to the TD's key (X25519 twice,
 * HKDF, AES-GCM) at its size.  Together they are the floor of the SMS's CPU
 * per release on this machine, whatever the HTTP and the store cost. */
struct floor_ctx {
	struct jws_signer *signer;
	char payload[2600];                /* an EAR token's claims: ~2.5 KB */
	uint8_t recipient[32], text[3600]; /* a session: ~3.6 KB */
};

static int op_token(void *p)
{
	struct floor_ctx *c = p;
	char *jwt;
	GUARD(jws_sign(c->signer, c->payload, sizeof(c->payload) - 1, &jwt));
	free(jwt);
	return 0;
}

static int op_seal(void *p)
{
	struct floor_ctx *c = p;
	uint8_t *out;
	size_t len;
	GUARD(seal_to(c->recipient, PROTO_SESSION_LABEL, c->text, sizeof(c->text), &out, &len));
	free(out);
	return 0;
}

static int floor_init(struct floor_ctx *c)
{
	EVP_PKEY *k = NULL;
	uint8_t priv[32];
	int rc;

	memset(c, 0, sizeof(*c));
	static const char claim[] = "\"tdx_rtmr0\":\"0123456789abcdef\",";
	for (size_t i = 0; i + 1 < sizeof(c->payload); i++) /* text, no NUL */
		c->payload[i] = claim[i % (sizeof(claim) - 1)];
	memset(c->text, 'x', sizeof(c->text));
	GUARD(x25519_keygen(priv, c->recipient));
	OPENSSL_cleanse(priv, sizeof(priv));
	GUARD(p256_keygen(&k));
	rc = jws_signer_new(k, "eat+jwt", &c->signer);
	EVP_PKEY_free(k);
	return rc;
}

/* One timed run: `clients` TDs release tasks[from..to), each its share. */
struct run {
	int clients, n;
	double rate, p50, p99, sms_us, sms_sys_us, td_us, group;
};

static int timed_run(struct sms *s, struct task *tasks, int from, int to, int clients,
                     const char *sim_dir, struct run *out)
{
	struct job *jobs = calloc((size_t)clients, sizeof(*jobs));
	pthread_t *th = calloc((size_t)clients, sizeof(*th));
	double *lat = calloc((size_t)(to - from), sizeof(double));
	double t0, t, cpu0, cpu, sys0, sys, clients_cpu = 0, clients_sys = 0;
	unsigned long g0, r0, g1, r1;
	int count = to - from, n = 0, failed = 0;

	if (!jobs || !th || !lat)
		return -1;
	sms_release_stats(s, &g0, &r0);
	perf_ctl("enable");
	t0 = bench_now();
	cpu0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
	sys0 = sys_now(RUSAGE_SELF);
	for (int k = 0; k < clients; k++) {
		jobs[k] = (struct job){.tasks = tasks,
		                       .from = from + count * k / clients,
		                       .to = from + count * (k + 1) / clients,
		                       .sim_dir = sim_dir,
		                       .lat = lat + count * k / clients};
		/* the app's checksum: bench/run deploys it with sha256("bench-app") */
		bench_must(sha256_parts(jobs[k].digest, 1, "bench-app", (size_t)9));
		pthread_create(&th[k], NULL, client, &jobs[k]);
	}
	for (int k = 0; k < clients; k++)
		pthread_join(th[k], NULL);
	t = bench_now() - t0;
	cpu = cpu_now(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	sys = sys_now(RUSAGE_SELF) - sys0;
	perf_ctl("disable");
	sms_release_stats(s, &g1, &r1);
	for (int k = 0; k < clients; k++) {
		clients_cpu += jobs[k].cpu;
		clients_sys += jobs[k].sys;
		memmove(lat + n, jobs[k].lat, sizeof(double) * (size_t)jobs[k].done);
		n += jobs[k].done;
		failed += jobs[k].failed;
	}
	free(jobs);
	free(th);
	if (failed || n == 0) {
		fprintf(stderr, "bench_attest: %d of %d releases failed\n", failed, count);
		free(lat);
		return -1;
	}
	*out = (struct run){.clients = clients,
	                    .n = n,
	                    .rate = n / t,
	                    .p50 = bench_quantile(lat, n, 0.5) * 1e3,
	                    .p99 = bench_quantile(lat, n, 0.99) * 1e3,
	                    .sms_us = (cpu - clients_cpu) / n * 1e6,
	                    .sms_sys_us = (sys - clients_sys) / n * 1e6,
	                    .td_us = clients_cpu / n * 1e6,
	                    .group = g1 > g0 ? (double)(r1 - r0) / (double)(g1 - g0) : 0};
	free(lat);
	return 0;
}

static void load_avg(char out[64])
{
	double l[3];
	if (getloadavg(l, 3) == 3)
		snprintf(out, 64, "%.2f %.2f %.2f", l[0], l[1], l[2]);
	else
		snprintf(out, 64, "unknown");
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/bench-attest-XXXXXX", db[64], key[64], col[512], root[512], deal_hex[67];
	char load0[64], load1[64];
	uint8_t dealid[32], pool[32], worker[32], *rootpem, rd[64] = {0};
	size_t rootlen;
	struct poco_chain *chain;
	struct sms *s;
	struct task *tasks;
	struct verify_ctx vc;
	struct tdx_sim *sim;
	/* 2 TDs at a time (the figure before grouped commits), then 8 */
	static const int clients[] = {2, 8};
	struct run runs[2];
	double peer;
	int count;
	/* BENCH_SMS_THREADS: another thread count than the SMS's default */
	const char *th_env = getenv("BENCH_SMS_THREADS");
	int sms_threads = th_env && atoi(th_env) > 0 ? atoi(th_env) : 4;

	if (argc != 5 || hex_decode_exact(dealid, 32, argv[3], "DEALID") < 0 ||
	    (count = atoi(argv[4])) < 2) {
		fprintf(stderr, "usage: bench_attest CHAIN_JSON SIM_DIR DEALID COUNT\n");
		return 2;
	}
	log_set_level(getenv("BENCH_LOG") ? LOG_INFO : LOG_ERROR);
	snprintf(deal_hex, sizeof(deal_hex), "0x%s", argv[3] + (argv[3][1] == 'x' ? 2 : 0));
	if (!mkdtemp(dir))
		return 1;
	snprintf(db, sizeof(db), "%s/sms.db", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	snprintf(col, sizeof(col), "%s/collateral/collateral.json", argv[2]);
	snprintf(root, sizeof(root), "%s/root_ca.pem", argv[2]);
	if (poco_chain_load(argv[1], &chain) < 0 || poco_chain_account(chain, 3, pool) < 0 ||
	    poco_chain_account(chain, 7, worker) < 0)
		goto fail;
	struct sms_config cfg = {.address = "127.0.0.1",
	                         .threads = sms_threads,
	                         .db_path = db,
	                         .master_key_path = key,
	                         .chain_path = argv[1],
	                         .collateral = col,
	                         .trust_sim_root = root};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (sms_start(&cfg, &s) < 0)
		goto fail;
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", sms_port(s));

	tasks = calloc((size_t)count, sizeof(*tasks));
	CURL *c = curl_easy_init();
	for (int i = 0; i < count; i++)
		if (sms_client_session(c, base, deal_hex, (uint64_t)i, pool, worker, tasks[i].id,
		                       tasks[i].session) < 0)
			return 1;
	curl_easy_cleanup(c);

	load_avg(load0);
	for (int k = 0; k < 2; k++)
		if (timed_run(s, tasks, count * k / 2, count * (k + 1) / 2, clients[k], argv[2],
		              &runs[k]) < 0)
			return 1;
	load_avg(load1);
	sms_stop(s);

	/* the peer: verifying one such quote, cached, on one thread */
	if (file_read(root, 1 << 20, &rootpem, &rootlen) < 0 ||
	    tdx_verifier_new_root(rootpem, rootlen, 1, &vc.v) < 0 ||
	    tdx_collateral_load(col, &vc.col) < 0 || tdx_sim_load(argv[2], NULL, &sim) < 0 ||
	    tdx_sim_quote(sim, rd, &vc.q, &vc.len) < 0)
		goto fail;
	peer = bench_rate(2, op_verify, &vc);
	struct floor_ctx fc;
	double token, seal, floor_us;
	if (floor_init(&fc) < 0)
		goto fail;
	token = bench_rate(1, op_token, &fc);
	seal = bench_rate(1, op_seal, &fc);
	floor_us = 1e6 / peer + 1e6 / token + 1e6 / seal;
	jws_signer_free(fc.signer);
	printf("bench_attest: attested session releases with their receipts, %d SMS threads%s, "
	       "loopback, SQLite WAL synchronous=FULL, commits grouped; %ld cores, load "
	       "average %s before, %s after\n",
	       sms_threads, th_env ? "" : " (its default)", sysconf(_SC_NPROCESSORS_ONLN), load0,
	       load1);
	for (int k = 0; k < 2; k++) {
		struct run *r = &runs[k];
		char what[48];
		snprintf(what, sizeof(what), "attested release, %d TDs", r->clients);
		printf("  %-34s %8.0f /s   p50 %6.2f ms   p99 %6.2f ms   (%d releases; nonce + "
		       "attest round trips, the TD's quote not timed)\n",
		       what, r->rate, r->p50, r->p99, r->n);
		printf(
		    "  %-34s %8.0f us  (%.0f us in the kernel: HTTP, fsync; %.1f peer "
		    "verifications; the simulated TDs' side: %.0f us; %.2f releases per commit)\n",
		    "  SMS CPU per release", r->sms_us, r->sms_sys_us, r->sms_us * peer / 1e6,
		    r->td_us, r->group);
		printf("  %-34s %8.0f /s   (2 cores / SMS CPU per release)\n",
		       "  SMS capacity on 2 cores", 2e6 / r->sms_us);
	}
	printf("  %-34s %8.0f /s   (cached verifier, 1 thread: %.0f us)\n",
	       "peer: bare quote verification", peer, 1e6 / peer);
	printf("  ratio release (2 TDs) / verification: %.2f\n", runs[0].rate / peer);
	printf("  %-34s %8.0f us  (1 thread: the quote's verification %.0f, the EAR token's "
	       "ES256 %.0f, the session's seal, X25519 twice, %.0f)\n",
	       "floor: a release's cryptography", floor_us, 1e6 / peer, 1e6 / token, 1e6 / seal);
	/* the goals, for the run with 8 TDs */
	struct run *g = &runs[1];
	printf("  goals, %d TDs: >= 2000 releases/s %s (%.0f); p99 < 10 ms %s (%.2f); SMS CPU "
	       "<= 250 us per release %s (%.0f, of which the floor %.0f)\n",
	       g->clients, g->rate >= 2000 ? "met" : "NOT met", g->rate,
	       g->p99 < 10 ? "met" : "NOT met", g->p99, g->sms_us <= 250 ? "met" : "NOT met",
	       g->sms_us, floor_us);
	free(rootpem);
	free(vc.q);
	tdx_sim_free(sim);
	tdx_verifier_free(vc.v);
	tdx_collateral_free(vc.col);
	poco_chain_free(chain);
	free(tasks);
	bench_rmdir(dir);
	return 0;
fail:
	fprintf(stderr, "bench_attest: %s\n", err_msg());
	return 1;
}
