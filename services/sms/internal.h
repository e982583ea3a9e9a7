/* internal.h — the SMS's state and helpers shared by its parts: sms.c
 * (secrets, challenges, sessions) and attest.c (attested provisioning). */
#ifndef TDEXEC_SMS_INTERNAL_H
#define TDEXEC_SMS_INTERNAL_H

#include "sms.h"
#include "net/server.h"
#include "poco/market.h"
#include "store.h"
#include "tdx/gate.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Pending attestation nonces, one per session, in a table indexed by the
 * session id (random, chosen by the SMS): a session's nonce lives in one of
 * SMS_NONCE_PROBE slots from its hash.  Sessions need the workerpool
 * owner's authorization for an active task, and a task has at most
 * SMS_SESSIONS_PER_TASK of them (store.h), so filling the table takes thousands of
 * paid deals; 503 answers only a full neighbourhood. */
#define SMS_NONCE_SLOTS 65536u
#define SMS_NONCE_PROBE 32u
#define SMS_NONCE_TTL   60 /* seconds */

struct sms_nonce {
	char session[33];
	uint8_t nonce[32];
	time_t expires;
};

struct sms {
	struct sms_store store;
	struct poco_chain *chain;
	struct http_server *http;
	char public_url[256]; /* base of secretProvisioningUrl */
	/* Set (release) once public_url is written: with --port 0 the URL
	 * needs the port, known only after the server has started serving. */
	int public_url_ready;
	long purged; /* when expired challenges were last purged */
	/* attested provisioning; attest_on 0 = not configured */
	struct tdx_gate gate;
	int attest_on;
	char policy_sha256[65];   /* of the gate's policy, for receipts */
	struct deal_cache *deals; /* immutable deal and app facts */
	/* single-use nonces live in memory only: a restart voids them */
	pthread_mutex_t mu;
	struct sms_nonce *nonces; /* SMS_NONCE_SLOTS */
	/* /metrics (util/metrics.h): moved by the handlers, the gauges set
	 * at scrape time */
	struct metrics *reg;
	struct metric *m_released, *m_accepted, *m_refused, *m_release_seconds, *m_secrets,
	    *m_commits, *m_pending;
	struct sms_ear *ear; /* attestation-result tokens (ear.c) */
};

/* sms.c */
void sms_lower(char *s); /* ASCII, in place */
void sms_status(struct http_resp *resp, int code, const char *error);
/* A decoded uint (decimal or 0x string, or integer); 0 when absent. */
uint64_t sms_jnum(const json_t *v);
/* The task's challenge key (kind "challenge", owner = task id, name = final
 * deadline), made when absent and create is set; ERR_NOTFOUND otherwise. */
int sms_challenge_key(struct sms *s, const uint8_t taskid[32], uint64_t deadline, int create,
                      uint8_t priv[32]);
/* One return value of a no-argument view of a contract, decoded as `type`
 * (new reference), or NULL with the error set. */
json_t *sms_contract_view(struct sms *s, const uint8_t contract[20], const char *fn,
                          const char *type);

/* attest.c */
/* The Ethereum address of a challenge key: k1_address, remembered for the
 * last keys asked (about 8,192: the address given at the challenge is
 * asked again at the release, for the receipt). */
MUST_CHECK int sms_challenge_address(const uint8_t priv[32], uint8_t addr[20]);
/* How many addresses sms_challenge_address computed (not remembered). */
unsigned long sms_challenge_address_derived(void);
int sms_attest_init(struct sms *s, const struct sms_config *cfg);
void sms_attest_free(struct sms *s);
/* GET /status ({"collateral": ...}); /metrics: the SMS's own families, then
 * the collateral's. */
json_t *sms_attest_status(void *ctx);
void sms_attest_metrics(void *ctx, struct wbuf *w);
void sms_h_nonce(void *ctx, const struct http_req *r, struct http_resp *resp);
void sms_h_attest(void *ctx, const struct http_req *r, struct http_resp *resp);

/* ear.c: attestation-result tokens (draft-ietf-rats-ear), signed ES256 by
 * the SMS's key.  The profile, the header's typ (RFC 9782's media type
 * application/eat+jwt, explicit typing as RFC 8725 3.11 advises) and the
 * submodule the TD's appraisal is under. */
#define SMS_EAR_PROFILE "tag:github.com,2023:veraison/ear"
#define SMS_EAR_TYP     "eat+jwt"
#define SMS_EAR_SUBMOD  "tdx"
struct tdx_quote;
struct tdx_verdict;
/* What a token says of a release. */
struct sms_ear_in {
	const char *taskid, *worker; /* 0x hex */
	const uint8_t *app_digest;   /* 32 bytes */
	const struct tdx_quote *q;
	const struct tdx_verdict *v;
	int runtime_log;               /* a runtime event log replayed to RTMR3 */
	const char *quote_sha256;      /* hex; NULL: left out */
	const char *policy_sha256;     /* hex; NULL: the pool policy's */
	const char *app_policy_sha256; /* hex; NULL or "": the app has none */
	long long iat;                 /* Unix seconds */
};
/* Load the signing key from the store, or make and store one at the first
 * start; build the JWK Set. */
int sms_ear_init(struct sms *s);
void sms_ear_free(struct sms *s);
/* The token (compact JWS, a new string in *jwt). */
int sms_ear_make(struct sms *s, const struct sms_ear_in *in, char **jwt);
/* The current key's public JWK, canonical JSON (NULL before init). */
const char *sms_ear_jwk(const struct sms *s);
void sms_h_jwks(void *ctx, const struct http_req *r, struct http_resp *resp);

#endif
