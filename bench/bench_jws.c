/* bench_jws — the cost of an attestation-result token on one core: an ES256
 * compact JWS over a payload the size of the SMS's (2.3 KB of claims).
 *
 *   sign      jws_sign: base64url, SHA-256, ECDSA_do_sign on an EC_KEY
 *             prepared once (what the SMS does per release)
 *   sign-evp  the same input signed through OpenSSL's EVP layer
 *             (p256_sign: a digest context and a provider lookup per call),
 *             the path jws_sign avoids
 *   verify    jws_verify: split, base64url, header JSON, kid lookup in a
 *             one-key JWK Set, point import and ECDSA verification, payload
 *             JSON (what `tdexec ear verify` does per token)
 *
 * The machine is shared: µs/token is CPU time (this process's), calls/s
 * the wall-clock rate, which a loaded machine lowers.
 *
 * Usage: bench_jws [SECONDS] */
#include "crypto/jws.h"
#include "crypto/p256.h"
#include "benchutil.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ctx {
	struct jws_signer *s;
	EVP_PKEY *k;
	char payload[2400];
	size_t len;
	char *token;
	json_t *jwks;
};

static int sign_one(void *arg)
{
	struct ctx *c = arg;
	char *t;
	GUARD(jws_sign(c->s, c->payload, c->len, &t));
	free(t);
	return 0;
}

static int sign_evp(void *arg)
{
	struct ctx *c = arg;
	uint8_t sig[64];
	return p256_sign(c->k, (const uint8_t *)c->token, strlen(c->token) - 87, sig);
}

static int verify_one(void *arg)
{
	struct ctx *c = arg;
	return jws_verify(c->token, strlen(c->token), c->jwks, NULL, NULL);
}

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* fn for about `secs` seconds: one line with the wall rate and CPU µs. */
static void measure(const char *name, double secs, int (*fn)(void *), void *arg)
{
	double t0, c0;
	long n = 0;
	for (int i = 0; i < 20; i++)
		bench_must(fn(arg)); /* warm-up */
	t0 = bench_now();
	c0 = cpu_now();
	while (bench_now() - t0 < secs || n < 100) {
		bench_must(fn(arg));
		n++;
	}
	printf("  %-9s %8.0f/s  %6.1f us/token (CPU)\n", name, (double)n / (bench_now() - t0),
	       1e6 * (cpu_now() - c0) / (double)n);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2;
	struct ctx c;
	uint8_t xy[64];
	size_t at;

	memset(&c, 0, sizeof(c));
	bench_must(p256_keygen(&c.k));
	bench_must(jws_signer_new(c.k, "eat+jwt", &c.s));
	/* the claims of a real token: hex measurements, the task, the vector */
	at = (size_t)snprintf(c.payload, sizeof(c.payload),
	                      "{\"eat_profile\":\"tag:github.com,2023:veraison/ear\",\"iat\":1,"
	                      "\"submods\":{\"tdx\":{\"x\":\"");
	while (at < sizeof(c.payload) - 8)
		c.payload[at++] = 'a';
	memcpy(c.payload + at, "\"}}}", 5);
	c.len = at + 4;
	bench_must(jws_sign(c.s, c.payload, c.len, &c.token));
	jws_signer_xy(c.s, xy);
	c.jwks = json_pack("{s:[o]}", "keys", jwk_p256_json(xy));
	printf("ES256 tokens, %zu-byte payload, one core\n", c.len);
	measure("sign", secs, sign_one, &c);
	measure("sign-evp", secs, sign_evp, &c);
	measure("verify", secs, verify_one, &c);
	free(c.token);
	json_decref(c.jwks);
	jws_signer_free(c.s);
	EVP_PKEY_free(c.k);
	return 0;
}
