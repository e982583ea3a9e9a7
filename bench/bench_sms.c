/* bench_sms — the SMS on loopback: secret pushes (POST web2, each with its
 * EIP-191 signature checked and the record committed with synchronous=FULL)
 * and existence checks (HEAD) from 2 keep-alive clients, with p50/p99
 * latency.  The peer is the same work without HTTP, in process: signature
 * recovery plus an encrypted insert into the same kind of store.  Bounded:
 * at most COUNT requests per phase and 30 s.
 * Usage: bench_sms [SECONDS] [COUNT] */
#include "../services/sms/sms.h"
#include "../services/sms/store.h"
#include "crypto/k1.h"
#include "eth/addr.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/log.h"
#include "benchutil.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLIENTS 2

struct job {
	int port, head, from, to;
	char owner[43];
	char (*sig)[133];
	double *lat; /* seconds, per request */
	double deadline;
	int done, failed;
};

static void value_of(int i, char *v, size_t cap)
{
	snprintf(v, cap, "value-%08d-%s", i, "0123456789abcdef0123456789abcdef0123456789abcdef");
}

static size_t sink(char *p, size_t a, size_t b, void *u)
{
	(void)p;
	(void)u;
	return a * b;
}

static void *client(void *arg)
{
	struct job *j = arg;
	CURL *c = curl_easy_init();
	char url[256], v[128], auth[160];
	long code;

	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	for (int i = j->from; i < j->to && bench_now() < j->deadline; i++) {
		struct curl_slist *h = NULL;
		double t0 = bench_now();
		snprintf(url, sizeof(url),
		         "http://127.0.0.1:%d/secrets/web2?ownerAddress=%s&secretName=s%d", j->port,
		         j->owner, i);
		curl_easy_setopt(c, CURLOPT_URL, url);
		if (j->head) {
			curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		} else {
			value_of(i, v, sizeof(v));
			snprintf(auth, sizeof(auth), "Authorization: %s", j->sig[i]);
			h = curl_slist_append(NULL, auth);
			curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, v);
		}
		code = 0;
		if (curl_easy_perform(c) != CURLE_OK ||
		    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 204)
			j->failed++;
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
		curl_slist_free_all(h);
		j->lat[j->done++] = bench_now() - t0;
	}
	curl_easy_cleanup(c);
	return NULL;
}

/* One phase from CLIENTS threads; prints rate and latency, returns rate. */
static double phase(const char *what, int port, int head, int count, const char *owner,
                    char (*sig)[133], double secs)
{
	struct job jobs[CLIENTS];
	pthread_t th[CLIENTS];
	double *all = malloc(sizeof(double) * (size_t)count), t0 = bench_now(), t;
	int n = 0, failed = 0;

	for (int k = 0; k < CLIENTS; k++) {
		jobs[k] =
		    (struct job){port, head, count * k / CLIENTS,       count * (k + 1) / CLIENTS,
		                 "",   sig,  all + count * k / CLIENTS, t0 + secs,
		                 0,    0};
		snprintf(jobs[k].owner, sizeof(jobs[k].owner), "%s", owner);
		pthread_create(&th[k], NULL, client, &jobs[k]);
	}
	for (int k = 0; k < CLIENTS; k++)
		pthread_join(th[k], NULL);
	t = bench_now() - t0;
	for (int k = 0; k < CLIENTS; k++) {
		memmove(all + n, jobs[k].lat, sizeof(double) * (size_t)jobs[k].done);
		n += jobs[k].done;
		failed += jobs[k].failed;
	}
	if (failed || n == 0) {
		fprintf(stderr, "bench_sms: %s: %d of %d requests failed\n", what, failed, n);
		exit(1);
	}
	printf("  %-34s %8.0f /s   p50 %6.2f ms   p99 %6.2f ms   (%d requests)\n", what, n / t,
	       bench_quantile(all, n, 0.5) * 1e3, bench_quantile(all, n, 0.99) * 1e3, n);
	free(all);
	return n / t;
}

struct floor_ctx {
	struct sms_store st;
	uint8_t addr[20];
	char (*sig)[133];
	int i, count;
};

/* The peer: recover the signer and store the record, no HTTP. */
static int op_floor(void *p)
{
	struct floor_ctx *f = p;
	char name[32], v[128];
	uint8_t h[32], e[32], sig[65], who[20];
	int i = f->i++ % f->count;
	value_of(i, v, sizeof(v));
	snprintf(name, sizeof(name), "f%d", f->i);
	sms_secret_challenge(f->addr, name, (const uint8_t *)v, strlen(v), h);
	eip191_hash32(h, e);
	if (hex_decode_exact(sig, 65, f->sig[i], "sig") < 0 || k1_recover(e, sig, who) < 0)
		return -1;
	return sms_store_put(&f->st, "web2", "0xfloor", name, (const uint8_t *)v, strlen(v), 0);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2, push, head, fl;
	int count = argc > 2 ? atoi(argv[2]) : 4000;
	char dir[] = "/tmp/bench-sms-XXXXXX", db[64], key[64], db2[64], owner[43];
	uint8_t priv[32] = {1}, addr[20], h[32], sig[65];
	char(*sigs)[133] = malloc(sizeof(*sigs) * (size_t)count);
	struct sms *s;
	struct floor_ctx f;

	log_set_level(LOG_ERROR);
	if (!mkdtemp(dir) || !sigs)
		return 1;
	snprintf(db, sizeof(db), "%s/sms.db", dir);
	snprintf(db2, sizeof(db2), "%s/floor.db", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	bench_must(k1_address(priv, addr));
	eth_addr_str(addr, owner);
	/* Signatures are made before the clock starts. */
	for (int i = 0; i < count; i++) {
		char name[32], v[128];
		snprintf(name, sizeof(name), "s%d", i);
		value_of(i, v, sizeof(v));
		sms_secret_challenge(addr, name, (const uint8_t *)v, strlen(v), h);
		bench_must(eip191_sign32(priv, h, sig));
		sigs[i][0] = '0';
		sigs[i][1] = 'x';
		hex_encode(sigs[i] + 2, sig, 65);
	}
	struct sms_config cfg = {
	    .address = "127.0.0.1", .threads = 2, .db_path = db, .master_key_path = key};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (sms_start(&cfg, &s) < 0) {
		fprintf(stderr, "bench_sms: %s\n", err_msg());
		return 1;
	}
	printf("bench_sms: loopback, %d clients with keep-alive, SQLite WAL synchronous=FULL\n",
	       CLIENTS);
	push = phase("secret push (POST /secrets/web2)", sms_port(s), 0, count, owner, sigs, 30);
	head = phase("secret exists (HEAD /secrets/web2)", sms_port(s), 1, count, owner, sigs, 30);
	sms_stop(s);

	memset(&f, 0, sizeof(f));
	memcpy(f.addr, addr, 20);
	f.sig = sigs;
	f.count = count;
	if (sms_store_open(&f.st, db2, key) < 0)
		return 1;
	/* the floor re-signs nothing: it recovers the pushed signatures'
	 * signers over other names, which costs the same */
	fl = bench_rate(secs, op_floor, &f);
	sms_store_close(&f.st);
	printf("  %-34s %8.0f /s   (1 thread, no HTTP)\n", "peer: recover + encrypted insert", fl);
	printf("  ratio push / peer: %.2f   head / push: %.1f\n", push / fl, head / push);
	free(sigs);
	curl_global_cleanup();
	return bench_rmdir(dir) == 0 ? 0 : 1;
}
