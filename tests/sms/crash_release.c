/* crash_release — the TDs' side of tests/sms/crash_release.sh.
 *
 *   crash_release prepare URL CHAIN_JSON DEALID FROM TO
 *       the enclave challenge and a session (worker account 7, authorized
 *       by the workerpool owner, account 3) for tasks FROM..TO-1 of the
 *       deal; prints "TASKID SESSION" lines.
 *   crash_release release URL SIM_DIR SESSIONS ACKS THREADS
 *       THREADS concurrent TDs release the sessions listed (nonce, a
 *       simulated quote binding it, attest in the binary form), each
 *       session once.  Every 200 appends "SESSION" to ACKS at once (one
 *       write(2) on an O_APPEND file: a line is whole or absent), and
 *       every answer "SESSION STATUS" to ACKS.all; a connection that fails
 *       (the SMS killed) is status 0.  Exit 0 unless a request got an
 *       answer other than 200, 403, 404 or 503 (an SMS stopping), or a 200
 *       whose body is not a session. */
#include "crypto/aead.h"
#include "crypto/p256.h"
#include "poco/market.h"
#include "proto/proto.h"
#include "tdx/sim.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "sms_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *base;

static int prepare(int argc, char **argv)
{
	struct poco_chain *chain = NULL;
	uint8_t pool[32], worker[32], tid[32];
	char tid_hex[67] = "0x", session[33];
	CURL *c = curl_easy_init();
	long from, to;

	if (argc != 7 || strlen(argv[4]) != 66)
		return fprintf(stderr, "usage: crash_release prepare URL CHAIN DEALID FROM TO\n"),
		       2;
	base = argv[2];
	from = atol(argv[5]);
	to = atol(argv[6]);
	if (poco_chain_load(argv[3], &chain) < 0 || poco_chain_account(chain, 3, pool) < 0 ||
	    poco_chain_account(chain, 7, worker) < 0)
		return fprintf(stderr, "crash_release: %s\n", err_msg()), 1;
	for (long i = from; i < to; i++) {
		if (sms_client_session(c, base, argv[4], (uint64_t)i, pool, worker, tid, session) <
		    0)
			return 1;
		hex_encode(tid_hex + 2, tid, 32);
		printf("%s %s\n", tid_hex, session);
	}
	curl_easy_cleanup(c);
	poco_chain_free(chain);
	return 0;
}

struct sess {
	uint8_t task[32];
	char id[33];
};

static struct sess *sessions;
static size_t nsessions, next;
static const char *sim_dir;
static int acks_fd, all_fd, unexpected;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *td(void *arg)
{
	CURL *c = curl_easy_init();
	struct tdx_sim *sim = NULL;
	uint8_t digest[32];
	struct wbuf out;
	(void)arg;

	wbuf_init(&out);
	/* the app's checksum: crash_release.sh deploys it with sha256("app") */
	if (tdx_sim_load(sim_dir, NULL, &sim) < 0 ||
	    sha256_parts(digest, 1, "app", (size_t)3) < 0) {
		fprintf(stderr, "crash_release: %s\n", err_msg());
		pthread_mutex_lock(&mu);
		unexpected++;
		pthread_mutex_unlock(&mu);
		return NULL;
	}
	for (;;) {
		uint8_t nonce[32], rd[64], priv[32], pub[32], *q = NULL;
		size_t qlen, i;
		char path[256], pk[65], dg[65], line[64];
		long st = 0;
		json_t *r;

		pthread_mutex_lock(&mu);
		i = next++;
		pthread_mutex_unlock(&mu);
		if (i >= nsessions)
			break;
		snprintf(path, sizeof(path), "/tdx/sessions/%s/challenge", sessions[i].id);
		st = sms_client_post(c, base, path, "application/json", NULL, 0, NULL, &out);
		r = st == 200 ? json_loads((char *)out.buf, 0, NULL) : NULL;
		if (st == 200 &&
		    (!r ||
		     hex_decode_exact(nonce, 32, json_string_value(json_object_get(r, "nonce")),
		                      "nonce") < 0))
			st = -1;
		json_decref(r);
		if (st == 200) {
			if (x25519_keygen(priv, pub) < 0)
				st = -1;
			proto_session_report_data(nonce, sessions[i].task, digest, pub, rd);
			if (st == 200 && tdx_sim_quote(sim, rd, &q, &qlen) < 0)
				st = -1;
		}
		if (st == 200) {
			hex_encode(pk, pub, 32);
			hex_encode(dg, digest, 32);
			snprintf(path, sizeof(path),
			         "/tdx/sessions/%s/attest?publicKey=%s&appDigest=%s",
			         sessions[i].id, pk, dg);
			st = sms_client_post(c, base, path, "application/octet-stream", q, qlen,
			                     NULL, &out);
			r = st == 200 ? json_loads((char *)out.buf, 0, NULL) : NULL;
			if (st == 200 && !json_string_value(json_object_get(r, "session")))
				st = -1;
			json_decref(r);
			if (st == 200) {
				snprintf(line, sizeof(line), "%s\n", sessions[i].id);
				if (write(acks_fd, line, strlen(line)) != (ssize_t)strlen(line))
					st = -1;
			}
		}
		free(q);
		snprintf(line, sizeof(line), "%s %ld\n", sessions[i].id, st);
		if (write(all_fd, line, strlen(line)) != (ssize_t)strlen(line))
			st = -1;
		if (st != 0 && st != 200 && st != 403 && st != 404 && st != 503) {
			fprintf(stderr, "crash_release: session %s: %ld %s\n", sessions[i].id, st,
			        out.buf ? (char *)out.buf : "");
			pthread_mutex_lock(&mu);
			unexpected++;
			pthread_mutex_unlock(&mu);
		}
	}
	tdx_sim_free(sim);
	wbuf_free(&out);
	curl_easy_cleanup(c);
	return NULL;
}

static int release(int argc, char **argv)
{
	char task[80], id[33], all[512];
	pthread_t th[64];
	FILE *f;
	int n;

	if (argc != 7 || (n = atoi(argv[6])) <= 0 || n > 64)
		return fprintf(stderr, "usage: crash_release release URL SIM_DIR SESSIONS ACKS "
		                       "THREADS(1-64)\n"),
		       2;
	base = argv[2];
	sim_dir = argv[3];
	f = fopen(argv[4], "r");
	if (!f)
		return perror(argv[4]), 1;
	while (fscanf(f, "%79s %32s", task, id) == 2) {
		struct sess *s = realloc(sessions, (nsessions + 1) * sizeof(*s));
		if (!s || hex_decode_exact(s[nsessions].task, 32, task + 2, "task") < 0)
			return fprintf(stderr, "crash_release: bad sessions file\n"), 1;
		sessions = s;
		memcpy(s[nsessions++].id, id, sizeof(id));
	}
	fclose(f);
	snprintf(all, sizeof(all), "%s.all", argv[5]);
	acks_fd = open(argv[5], O_WRONLY | O_CREAT | O_APPEND, 0600);
	all_fd = open(all, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (acks_fd < 0 || all_fd < 0)
		return perror("acks"), 1;
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, td, NULL);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	close(acks_fd);
	close(all_fd);
	free(sessions);
	return unexpected ? 1 : 0;
}

int main(int argc, char **argv)
{
	int rc;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (argc > 1 && strcmp(argv[1], "prepare") == 0)
		rc = prepare(argc, argv);
	else if (argc > 1 && strcmp(argv[1], "release") == 0)
		rc = release(argc, argv);
	else
		rc = (fprintf(stderr, "usage: crash_release prepare|release ...\n"), 2);
	curl_global_cleanup();
	return rc;
}
