/* attest.c — attested provisioning of task sessions.
 *
 * A worker's TD asks for a single-use nonce (POST /tdx/sessions/{id}/challenge),
 * then sends its quote, an ephemeral X25519 key and the app image digest
 * (POST /tdx/sessions/{id}/attest).  The session is released, sealed to that
 * key, only when: the quote verifies (DCAP) and meets the pool's policy;
 * REPORTDATA binds the nonce, the task, the digest and the key; the digest is
 * the app's on-chain checksum; a given event log replays to RTMR3; and the
 * task's session was not released before.  Every refusal is logged with its
 * reason and answered with the same generic error. */
#include "internal.h"

#include "crypto/aead.h"
#include "crypto/k1.h"
#include "crypto/p256.h"
#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/rpc.h"
#include "proto/proto.h"
#include "tdx/eventlog.h"
#include "tdx/policy.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"
#include "util/metrics.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SESSION_BODY_MAX (64 * 1024)

/* What the session is made of, from the deal and its app: facts that never
 * change once the deal exists, so they are cached by deal id. */
struct deal_info {
	char dealid[67];
	uint8_t app[20], dataset[20];
	char requester[43], beneficiary[43];
	char checksum[67]; /* the app's m_appChecksum, 0x hex */
	char *image;       /* the app's m_appMultiaddr as text; may be NULL */
	char *mrenclave;   /* the app's m_appMREnclave as text; may be NULL */
	json_t *params;    /* the deal's params, parsed when JSON; may be NULL */
};

/* Challenge addresses: deriving one is a secp256k1 point multiplication
 * (~25 us), done when the challenge is made and again when the session is
 * released.  Entries are keyed by SHA-256(salt || key): the exact key, and
 * with a per-process random salt nothing stored here helps guess one.  A
 * pool has every task between its challenge and its release pending at
 * once (thousands with a deal of many tasks): the key's hash picks a set of
 * ADDR_WAYS entries, and a new key replaces the set's oldest, so that a
 * burst of challenges does not evict the addresses of the tasks about to be
 * released, as one slot per hash did (2,000 pending tasks over 1,024 slots
 * missed more than half the releases). */
#define ADDR_SETS 2048
#define ADDR_WAYS 4
static struct {
	pthread_mutex_t mu;
	pthread_once_t once;
	int ready; /* the salt was drawn */
	uint8_t salt[32];
	uint64_t stamp;        /* insertions so far: the age of an entry */
	unsigned long derived; /* addresses computed (misses) */
	struct {
		uint8_t key[32], addr[20];
		uint64_t stamp; /* 0: unused */
	} e[ADDR_SETS][ADDR_WAYS];
} addrs = {.mu = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT};

static void addrs_init(void)
{
	addrs.ready = RAND_bytes(addrs.salt, sizeof(addrs.salt)) == 1;
}

int sms_challenge_address(const uint8_t priv[32], uint8_t addr[20])
{
	uint8_t key[32];
	size_t set, w, old = 0;
	int hit = 0;

	pthread_once(&addrs.once, addrs_init);
	if (!addrs.ready)
		return k1_address(priv, addr);
	GUARD(sha256_parts(key, 2, addrs.salt, sizeof(addrs.salt), priv, (size_t)32));
	set = ((size_t)key[0] << 8 | key[1]) % ADDR_SETS;
	pthread_mutex_lock(&addrs.mu);
	for (w = 0; w < ADDR_WAYS && !hit; w++) {
		hit = addrs.e[set][w].stamp && memcmp(addrs.e[set][w].key, key, 32) == 0;
		if (hit)
			memcpy(addr, addrs.e[set][w].addr, 20);
	}
	pthread_mutex_unlock(&addrs.mu);
	if (hit)
		return 0;
	GUARD(k1_address(priv, addr));
	pthread_mutex_lock(&addrs.mu);
	addrs.derived++;
	for (w = 0; w < ADDR_WAYS; w++) {
		/* another thread may have added it meanwhile */
		if (addrs.e[set][w].stamp && memcmp(addrs.e[set][w].key, key, 32) == 0)
			break;
		if (addrs.e[set][w].stamp < addrs.e[set][old].stamp)
			old = w;
	}
	if (w == ADDR_WAYS) {
		memcpy(addrs.e[set][old].key, key, 32);
		memcpy(addrs.e[set][old].addr, addr, 20);
		addrs.e[set][old].stamp = ++addrs.stamp;
	}
	pthread_mutex_unlock(&addrs.mu);
	return 0;
}

unsigned long sms_challenge_address_derived(void)
{
	unsigned long n;
	pthread_mutex_lock(&addrs.mu);
	n = addrs.derived;
	pthread_mutex_unlock(&addrs.mu);
	return n;
}

#define DEAL_CACHE 256
struct deal_cache {
	struct deal_info e[DEAL_CACHE];
	size_t next;
};

static void deal_info_clear(struct deal_info *d)
{
	free(d->image);
	free(d->mrenclave);
	json_decref(d->params);
	memset(d, 0, sizeof(*d));
}

static void deal_info_copy(struct deal_info *to, const struct deal_info *from)
{
	*to = *from;
	to->image = from->image ? strdup(from->image) : NULL;
	to->mrenclave = from->mrenclave ? strdup(from->mrenclave) : NULL;
	to->params = from->params ? json_deep_copy(from->params) : NULL;
}

/* Why an attestation was refused: each step of decide() and of the
 * handler has its reason (the gate's are tdx_gate_refusal's). */
static const char *const refusal_names[] = {
    "bad_request", "no_session",  "nonce", "quote_malformed", "collateral", "quote_invalid",
    "policy",      "report_data", "deal",  "app_digest",      "app_policy", "event_log",
    "released",    "internal",    NULL};
static const char *const secret_kinds[] = {"web2", "web3", "app", "requester", "challenge", NULL};
/* A release: 1 ms (a quote with its collateral held) to 10 s (a deal
 * read from a slow chain) */
static const double release_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1,     2.5,  5,     10};

static int attest_metrics_init(struct sms *s)
{
	const struct metric_def defs[] = {
	    {.name = "tdexec_sms_sessions_released_total",
	     .help = "Task sessions released to an attested TD",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_attestations_accepted_total",
	     .help = "Attestations accepted (a session released)",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_attestations_refused_total",
	     .help = "Attestations refused, by reason",
	     .kind = METRIC_COUNTER,
	     .labels = {"reason"},
	     .values = {refusal_names}},
	    {.name = "tdexec_sms_release_duration_seconds",
	     .help = "Time to release a session, from the attestation's request to its answer",
	     .kind = METRIC_HISTOGRAM,
	     .buckets = release_buckets,
	     .nbuckets = sizeof(release_buckets) / sizeof(release_buckets[0])},
	    {.name = "tdexec_sms_secrets_stored",
	     .help = "Secrets stored, by kind",
	     .kind = METRIC_GAUGE,
	     .labels = {"kind"},
	     .values = {secret_kinds}},
	    {.name = "tdexec_sms_release_commits_total",
	     .help = "Commits of releases: releases that overlap share one (one fsync), so "
	             "releases per commit is the mean group",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_sms_releases_pending",
	     .help = "Releases verified and waiting for their commit",
	     .kind = METRIC_GAUGE},
	};
	struct metric **out[] = {&s->m_released,        &s->m_accepted, &s->m_refused,
	                         &s->m_release_seconds, &s->m_secrets,  &s->m_commits,
	                         &s->m_pending};
	GUARD(metrics_new(&s->reg));
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		GUARD(metrics_add(s->reg, &defs[i], out[i]));
	return 0;
}

static void refused(struct sms *s, const char *reason)
{
	metric_inc(s->m_refused,
	           metric_label_index(s->m_refused, reason,
	                              sizeof(refusal_names) / sizeof(refusal_names[0]) - 2),
	           0);
}

/* What receipts name as the policy: SHA-256 of its JSON in effect, compact
 * with sorted keys, so that two files that mean the same hash the same. */
static int policy_hash(const struct tdx_policy *p, char out[65])
{
	json_t *j = tdx_policy_to_json(p);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	uint8_t h[32];

	json_decref(j);
	ENSURE(text, ERR_NOMEM, "out of memory");
	SHA256((const uint8_t *)text, strlen(text), h);
	free(text);
	hex_encode(out, h, 32);
	return 0;
}

int sms_attest_init(struct sms *s, const struct sms_config *cfg)
{
	pthread_mutex_init(&s->mu, NULL);
	s->deals = calloc(1, sizeof(struct deal_cache));
	s->nonces = calloc(SMS_NONCE_SLOTS, sizeof(*s->nonces));
	ENSURE(s->deals && s->nonces, ERR_NOMEM, "out of memory");
	/* the table (4.5 MiB) is mapped now rather than a page at a time by
	 * the challenges: a session's slot is anywhere in it, and its first
	 * read then its first write were each a page fault on the request's
	 * path, for most of a new SMS's first thousands of challenges */
	for (size_t i = 0; i < SMS_NONCE_SLOTS * sizeof(*s->nonces); i += 4096)
		((volatile char *)s->nonces)[i] = 0;
	GUARD(attest_metrics_init(s));
	if (!cfg->collateral) {
		ENSURE(!cfg->trust_sim_root && !cfg->policy, ERR_INVAL,
		       "sms: attestation settings need --collateral");
		return 0;
	}
	GUARD(tdx_gate_open(&s->gate, cfg->collateral, cfg->trust_sim_root, cfg->policy,
	                    "sms.attest"));
	GUARD(policy_hash(s->gate.policy, s->policy_sha256));
	s->attest_on = 1;
	return 0;
}

json_t *sms_attest_status(void *ctx)
{
	struct sms *s = ctx;
	return json_pack("{s:o}", "collateral", tdx_gate_status(&s->gate));
}

void sms_attest_metrics(void *ctx, struct wbuf *w)
{
	struct sms *s = ctx;
	double n[sizeof(secret_kinds) / sizeof(secret_kinds[0])];
	unsigned long groups, releases;

	sms_store_release_stats(&s->store, &groups, &releases);
	metric_set(s->m_commits, 0, 0, (double)groups);
	metric_set(s->m_pending, 0, 0, (double)sms_store_releases_pending(&s->store));
	/* a database that cannot be read leaves the last counts */
	if (sms_store_count_secrets(&s->store, secret_kinds, n) == 0)
		for (size_t i = 0; secret_kinds[i]; i++)
			metric_set(s->m_secrets, i, 0, n[i]);
	/* the caller's buffer, which it checks after its own appends: out of
	 * memory, the lines that do not fit are left out here */
	IGNORE_STATUS(metrics_render(s->reg, w));
	tdx_gate_metrics(&s->gate, w);
}

void sms_release_stats(struct sms *s, unsigned long *groups, unsigned long *releases)
{
	sms_store_release_stats(&s->store, groups, releases);
}

void sms_attest_free(struct sms *s)
{
	if (s->deals)
		for (size_t i = 0; i < DEAL_CACHE; i++)
			deal_info_clear(&s->deals->e[i]);
	free(s->deals);
	free(s->nonces);
	metrics_free(s->reg);
	tdx_gate_close(&s->gate);
	pthread_mutex_destroy(&s->mu);
}

/* A live session (exists, not released) or an answer already given. */
static int live_session(struct sms *s, const char *id, struct sms_session *ss,
                        struct http_resp *resp)
{
	if (strlen(id) != 32 || sms_store_session_get(&s->store, id, ss) < 0 || ss->released) {
		sms_status(resp, 404, "no such session");
		return -1;
	}
	return 0;
}

/* The first of the session's SMS_NONCE_PROBE slots: its id is 128 random
 * bits in hex, so its leading 32 bits spread sessions evenly. */
static size_t nonce_home(const char *id)
{
	char head[9];
	memcpy(head, id, 8);
	head[8] = '\0';
	return (size_t)strtoul(head, NULL, 16) % SMS_NONCE_SLOTS;
}

#define TEXT_(x)       #x
#define TEXT(x)        TEXT_(x)
#define NONCE_TTL_TEXT TEXT(SMS_NONCE_TTL)

/* POST /tdx/sessions/{id}/challenge: a fresh nonce, valid SMS_NONCE_TTL
 * seconds and for one attempt; a newer one replaces it. */
void sms_h_nonce(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	struct sms *s = ctx;
	struct sms_session ss;
	struct sms_nonce *slot = NULL;
	time_t now = time(NULL);
	char hex[65];

	if (live_session(s, r->params[0], &ss, resp) < 0)
		return;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0, h = nonce_home(r->params[0]); i < SMS_NONCE_PROBE; i++) {
		struct sms_nonce *n = &s->nonces[(h + i) % SMS_NONCE_SLOTS];
		if (strcmp(n->session, r->params[0]) == 0) {
			slot = n;
			break;
		}
		if (!slot && n->expires <= now)
			slot = n;
	}
	if (slot) {
		/* the id is 32 characters (live_session) */
		memcpy(slot->session, r->params[0], sizeof(slot->session));
		slot->expires = now + SMS_NONCE_TTL;
		if (RAND_bytes(slot->nonce, 32) != 1)
			slot = NULL;
		else
			hex_encode(hex, slot->nonce, 32);
	}
	pthread_mutex_unlock(&s->mu);
	if (!slot) {
		sms_status(resp, 503, "too many pending attestations; retry");
		return;
	}
	/* written as is, without a format: one of the two requests of every
	 * release */
	static const char head[] = "{\"nonce\":\"", tail[] = "\",\"expiresIn\":" NONCE_TTL_TEXT "}";
	char *body = malloc(sizeof(head) - 1 + 64 + sizeof(tail));
	if (!body) {
		sms_status(resp, 500, "out of memory");
		return;
	}
	memcpy(body, head, sizeof(head) - 1);
	memcpy(body + sizeof(head) - 1, hex, 64);
	memcpy(body + sizeof(head) - 1 + 64, tail, sizeof(tail));
	free(resp->body);
	resp->status = 200;
	resp->content_type = "application/json";
	resp->body = body;
	resp->len = sizeof(head) - 1 + 64 + sizeof(tail) - 1;
}

/* Take the session's nonce if it is live: single use. */
static int take_nonce(struct sms *s, const char *id, uint8_t nonce[32])
{
	time_t now = time(NULL);
	int found = 0;
	if (strlen(id) != 32)
		return err_set(ERR_VERIFY, "no live nonce for the session");
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0, h = nonce_home(id); i < SMS_NONCE_PROBE; i++) {
		struct sms_nonce *n = &s->nonces[(h + i) % SMS_NONCE_SLOTS];
		if (strcmp(n->session, id) != 0)
			continue;
		found = n->expires > now;
		memcpy(nonce, n->nonce, 32);
		memset(n, 0, sizeof(*n));
		break;
	}
	pthread_mutex_unlock(&s->mu);
	return found ? 0 : err_set(ERR_VERIFY, "no live nonce for the session");
}

static void set_addr(char out[43], const char *addr)
{
	snprintf(out, 43, "%s", addr ? addr : "");
	sms_lower(out);
}

/* PoCo Boost deals keep no app or dataset: they are in the deal's
 * SchedulerNoticeBoost event. */
static int boost_notice(struct sms *s, const uint8_t dealid[32], struct deal_info *d)
{
	static const char sig[] = "SchedulerNoticeBoost(address,bytes32,address,address,uint256,"
	                          "bytes32,string,address)";
	uint8_t topic[32], *data, want[67] = "0x";
	json_t *logs, *v = NULL, *lg;
	uint64_t head;
	size_t i, len;
	int rc = err_set(ERR_NOTFOUND, "no SchedulerNoticeBoost for the deal");

	keccak256(sig, sizeof(sig) - 1, topic);
	hex_encode((char *)want + 2, dealid, 32);
	GUARD(eth_block_number(s->chain->rpc, &head));
	GUARD(eth_get_logs(s->chain->rpc, s->chain->hub, topic, s->chain->deployment_block, head,
	                   &logs));
	json_array_foreach (logs, i, lg) {
		const char *hex = json_string_value(json_object_get(lg, "data"));
		size_t skip = hex && hex[0] == '0' && hex[1] == 'x' ? 2 : 0;
		if (!hex || hex_decode_alloc(hex + skip, strlen(hex) - skip, &data, &len) < 0)
			continue;
		rc = abi_decode_str("(bytes32,address,address,uint256,bytes32,string,address)",
		                    data, len, &v);
		free(data);
		if (rc < 0)
			continue;
		rc = err_set(ERR_NOTFOUND, "no SchedulerNoticeBoost for the deal");
		if (strcasecmp(json_string_value(json_array_get(v, 0)), (char *)want) == 0) {
			rc = eth_addr_parse(json_string_value(json_array_get(v, 1)), d->app);
			if (rc == 0)
				rc = eth_addr_parse(json_string_value(json_array_get(v, 2)),
				                    d->dataset);
			set_addr(d->beneficiary, json_string_value(json_array_get(v, 6)));
			d->params = json_loads(json_string_value(json_array_get(v, 5)), 0, NULL);
			json_decref(v);
			break;
		}
		json_decref(v);
	}
	json_decref(logs);
	return rc;
}

/* A `bytes` view of the app holding text, as a new string (NULL when empty). */
static char *app_text(struct sms *s, const uint8_t app[20], const char *fn)
{
	json_t *v = sms_contract_view(s, app, fn, "bytes");
	const char *h = json_string_value(v);
	char *out = NULL;
	uint8_t *b;
	size_t n;

	if (h && strlen(h) > 2 && hex_decode_alloc(h + 2, strlen(h) - 2, &b, &n) == 0) {
		out = strndup((const char *)b, n);
		free(b);
	}
	json_decref(v);
	return out;
}

static int app_facts(struct sms *s, struct deal_info *d)
{
	json_t *v = sms_contract_view(s, d->app, "m_appChecksum()", "bytes32");

	ENSURE(v && json_is_string(v), ERR_IO, "app checksum: %s", err_msg());
	snprintf(d->checksum, sizeof(d->checksum), "%s", json_string_value(v));
	json_decref(v);
	d->image = app_text(s, d->app, "m_appMultiaddr()");
	d->mrenclave = app_text(s, d->app, "m_appMREnclave()");
	return 0;
}

/* The app developer's own requirements on the TD, in the app's mrenclave:
 * iExec's enclave configuration {"framework": "TDX", "version", "policy":
 * a TD policy (tdx/policy.h)}.  An app with none accepts the pool's policy;
 * an app made for another framework is not run in a TD.  A policy from the
 * chain may not name files (event logs) on this machine. */
static int app_policy_check(const char *mrenclave, const struct tdx_quote *q,
                            const struct tdx_verdict *v)
{
	int violated;
	return tdx_policy_check_app(mrenclave, q, v, &violated);
}

static int deal_chain(struct sms *s, const char *dealid_hex, struct deal_info *d)
{
	uint8_t dealid[32], zero[20] = {0};
	json_t *v;
	int rc;

	memset(d, 0, sizeof(*d));
	snprintf(d->dealid, sizeof(d->dealid), "%s", dealid_hex);
	GUARD(hex_decode_exact(dealid, 32, dealid_hex, "dealid"));
	GUARD(poco_view(s->chain, "viewDeal", dealid, &v));
	rc = eth_addr_parse(
	    json_string_value(json_object_get(json_object_get(v, "app"), "pointer")), d->app);
	if (rc == 0 && memcmp(d->app, zero, 20) != 0) {
		rc = eth_addr_parse(
		    json_string_value(json_object_get(json_object_get(v, "dataset"), "pointer")),
		    d->dataset);
		set_addr(d->requester, json_string_value(json_object_get(v, "requester")));
		set_addr(d->beneficiary, json_string_value(json_object_get(v, "beneficiary")));
		d->params = json_loads(json_string_value(json_object_get(v, "params")), 0, NULL);
		json_decref(v);
		return rc < 0 ? rc : app_facts(s, d);
	}
	json_decref(v);
	GUARD(poco_view(s->chain, "viewDealBoost", dealid, &v));
	set_addr(d->requester, json_string_value(json_object_get(v, "requester")));
	json_decref(v);
	GUARD(boost_notice(s, dealid, d));
	return app_facts(s, d);
}

/* The deal's facts from the cache, or from the chain (then cached). */
static int deal_lookup(struct sms *s, const char *dealid_hex, struct deal_info *d)
{
	struct deal_cache *c = s->deals;
	struct deal_info fresh;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < DEAL_CACHE; i++)
		if (strcmp(c->e[i].dealid, dealid_hex) == 0) {
			deal_info_copy(d, &c->e[i]);
			pthread_mutex_unlock(&s->mu);
			return 0;
		}
	pthread_mutex_unlock(&s->mu);
	if (deal_chain(s, dealid_hex, &fresh) < 0) {
		deal_info_clear(&fresh);
		return -1;
	}
	deal_info_copy(d, &fresh);
	pthread_mutex_lock(&s->mu);
	deal_info_clear(&c->e[c->next]);
	c->e[c->next] = fresh;
	c->next = (c->next + 1) % DEAL_CACHE;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* The session document is written as JSON text straight into one buffer
 * sized beforehand, without jansson: a release built a tree of a dozen
 * objects and strings, dumped it, and left the secrets' copies in freed
 * memory; here each value is copied once, into the buffer that is sealed
 * and cleansed. */
struct env_var {
	char name[40]; /* IEXEC_REQUESTER_SECRET_ and a key of up to 8 */
	uint8_t *value;
	size_t len;
};
struct env {
	struct env_var *v;
	size_t n;
};

static void env_free(struct env *e)
{
	for (size_t i = 0; i < e->n; i++) {
		OPENSSL_cleanse(e->v[i].value, e->v[i].len);
		free(e->v[i].value);
	}
	free(e->v);
	memset(e, 0, sizeof(*e));
}

/* Well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF): what JSON text may carry, as jansson required of strings. */
static int utf8_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];
		size_t k = c < 0x80             ? 0
		           : (c & 0xe0) == 0xc0 ? 1
		           : (c & 0xf0) == 0xe0 ? 2
		           : (c & 0xf8) == 0xf0 ? 3
		                                : 4;
		uint32_t cp = k == 0 ? c : k == 1 ? c & 0x1fu : k == 2 ? c & 0x0fu : c & 0x07u;
		if (k == 4 || n - i <= k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + j] & 0x3fu);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* Add name = a copy of value (taken when own: it is then the env's). A
 * value that is not UTF-8 text is left out, as the tree left it out. */
static int env_add(struct env *e, const char *name, uint8_t *value, size_t len, int own)
{
	struct env_var *v;
	uint8_t *copy = value;

	if (!utf8_ok(value, len)) {
		if (own) {
			OPENSSL_cleanse(value, len);
			free(value);
		}
		return 0;
	}
	if (!own && !(copy = malloc(len ? len : 1)))
		return err_set(ERR_NOMEM, "out of memory");
	if (!own)
		memcpy(copy, value, len);
	v = realloc(e->v, (e->n + 1) * sizeof(*v));
	if (!v) {
		OPENSSL_cleanse(copy, len);
		free(copy);
		return err_set(ERR_NOMEM, "out of memory");
	}
	e->v = v;
	size_t nl = strnlen(name, sizeof(v[e->n].name) - 1);
	memcpy(v[e->n].name, name, nl);
	v[e->n].name[nl] = '\0';
	v[e->n].value = copy;
	v[e->n++].len = len;
	return 0;
}

static int env_text(struct env *e, const char *name, const char *text)
{
	return env_add(e, name, (uint8_t *)(uintptr_t)text, strlen(text), 0);
}

/* Add the stored secret (if any) under `var`. */
static int env_secret(struct sms *s, struct env *e, const char *var, const char *kind,
                      const char *owner, const char *name)
{
	uint8_t *v;
	size_t n;
	if (sms_store_get(&s->store, kind, owner, name, &v, &n) < 0)
		return 0;
	return env_add(e, var, v, n, 1);
}

/* A JSON writer into a buffer of known capacity. */
struct jw {
	char *p;
	size_t len, cap;
};

static void jw_raw(struct jw *w, const char *t, size_t n)
{
	if (w->len + n <= w->cap)
		memcpy(w->p + w->len, t, n);
	w->len += n; /* past cap: caught by the caller's check */
}

/* A JSON string: " and \ escaped, control bytes as \u00XX (at most 6 bytes
 * a byte, 2 for the quotes). */
static void jw_str(struct jw *w, const uint8_t *t, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	jw_raw(w, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		char esc[6] = {'\\', 'u', '0', '0', hex[t[i] >> 4], hex[t[i] & 15]};
		if (t[i] == '"' || t[i] == '\\') {
			esc[1] = (char)t[i];
			jw_raw(w, esc, 2);
		} else if (t[i] < 0x20) {
			jw_raw(w, esc, 6);
		} else {
			jw_raw(w, (const char *)t + i, 1);
		}
	}
	jw_raw(w, "\"", 1);
}

static void jw_cstr(struct jw *w, const char *t)
{
	jw_str(w, (const uint8_t *)t, strlen(t));
}

static size_t env_bound(const struct env *e)
{
	size_t n = 2;
	for (size_t i = 0; i < e->n; i++)
		n += 6 * (strlen(e->v[i].name) + e->v[i].len) + 6;
	return n;
}

static void jw_service(struct jw *w, const char *name, const char *image, const char *fp,
                       const struct env *e)
{
	jw_raw(w, "{\"name\":", 8);
	jw_cstr(w, name);
	jw_raw(w, ",\"image_name\":", 14);
	jw_cstr(w, image);
	jw_raw(w, ",\"fingerprint\":", 15);
	jw_cstr(w, fp);
	jw_raw(w, ",\"environment\":{", 16);
	for (size_t i = 0; i < e->n; i++) {
		if (i)
			jw_raw(w, ",", 1);
		jw_cstr(w, e->v[i].name);
		jw_raw(w, ":", 1);
		jw_str(w, e->v[i].value, e->v[i].len);
	}
	jw_raw(w, "}}", 2);
}

/* iExec's TdxSession: three services, each with only what it needs.  The
 * pre- and post-compute run in the worker's TD itself, so their fingerprint
 * is the attested MRTD; the app's is its image digest.
 *   pre-compute:  the dataset key (to decrypt the dataset)
 *   app:          the app developer's and the requester's secrets
 *   post-compute: the enclave challenge key, the result encryption key and
 *                 storage token (to sign, encrypt and push the result)
 * challenge: the task's enclave challenge key, or NULL.  *out is new
 * (cleanse, then free), *len its length. */
static int session_text(struct sms *s, const char *id, const struct sms_session *ss,
                        const struct deal_info *d, const char *image, const char *digest_hex,
                        const char *mrtd_hex, const uint8_t *challenge, char **out, size_t *len)
{
	struct env env[3] = {{0}}; /* pre-compute, app, post-compute */
	struct jw w = {0};
	char app[43], dataset[43], hex[67] = "0x", var[64];
	const char *k;
	json_t *name, *secrets;
	int rc = 0;

	*out = NULL;
	ENSURE(utf8_ok((const uint8_t *)image, strlen(image)), ERR_INVAL,
	       "the app's image name is not UTF-8 text");
	eth_addr_str(d->app, app);
	sms_lower(app);
	eth_addr_str(d->dataset, dataset);
	sms_lower(dataset);
	for (int i = 0; i < 3; i++)
		GUARD_GOTO(env_text(&env[i], "IEXEC_TASK_ID", ss->taskid));
	GUARD_GOTO(env_text(&env[2], "SIGN_WORKER_ADDRESS", ss->worker));
	if (challenge) {
		hex_encode(hex + 2, challenge, 32);
		rc = env_text(&env[2], "SIGN_TEE_CHALLENGE_PRIVATE_KEY", hex);
		OPENSSL_cleanse(hex, sizeof(hex));
		GUARD_GOTO(rc);
	}
	if (strcmp(dataset, "0x0000000000000000000000000000000000000000") != 0)
		GUARD_GOTO(env_secret(s, &env[0], "IEXEC_DATASET_KEY", "web3", dataset, ""));
	GUARD_GOTO(env_secret(s, &env[1], "IEXEC_APP_DEVELOPER_SECRET", "app", app, "1"));
	secrets = json_object_get(d->params, "iexec_secrets");
	json_object_foreach (secrets, k, name) {
		if (!json_is_string(name) || strlen(k) > 8)
			continue;
		snprintf(var, sizeof(var), "IEXEC_REQUESTER_SECRET_%s", k);
		GUARD_GOTO(env_secret(s, &env[1], var, "requester", d->requester,
		                      json_string_value(name)));
	}
	GUARD_GOTO(env_secret(s, &env[2], "RESULT_ENCRYPTION_PUBLIC_KEY", "web2", d->beneficiary,
	                      "iexec-result-encryption-public-key"));
	GUARD_GOTO(env_secret(s, &env[2], "RESULT_STORAGE_TOKEN", "web2", d->requester,
	                      "iexec-result-iexec-ipfs-token"));
	w.cap = 256 + 6 * (strlen(id) + strlen(image) + strlen(digest_hex) + 2 * strlen(mrtd_hex)) +
	        env_bound(&env[0]) + env_bound(&env[1]) + env_bound(&env[2]);
	w.p = malloc(w.cap + 1);
	ENSURE_GOTO(w.p, ERR_NOMEM, "out of memory");
	jw_raw(&w, "{\"name\":", 8);
	jw_cstr(&w, id);
	jw_raw(&w, ",\"version\":\"v5\",\"services\":[", 28);
	jw_service(&w, "pre-compute", "tdexec-worker", mrtd_hex, &env[0]);
	jw_raw(&w, ",", 1);
	jw_service(&w, "app", image, digest_hex, &env[1]);
	jw_raw(&w, ",", 1);
	jw_service(&w, "post-compute", "tdexec-worker", mrtd_hex, &env[2]);
	jw_raw(&w, "]}", 2);
	ENSURE_GOTO(w.len <= w.cap, ERR_INVAL, "session: the document outgrew its bound");
	w.p[w.len] = '\0';
	*out = w.p;
	*len = w.len;
	w.p = NULL;
out:
	if (w.p) {
		OPENSSL_cleanse(w.p, w.cap < w.len ? w.cap : w.len);
		free(w.p);
	}
	for (int i = 0; i < 3; i++)
		env_free(&env[i]);
	return rc;
}

/* The 200's body: {"session": base64 of the sealed document}, written as
 * is.  *body is new (free()). */
static int session_body(const uint8_t *sealed, size_t n, const char *ear, char **body, size_t *len)
{
	char *b64 = base64_encode(sealed, n);

	ENSURE(b64, ERR_NOMEM, "out of memory");
	/* the token is base64url and dots (jws.c): nothing to escape */
	static const char head[] = "{\"session\":\"", mid[] = "\",\"ear\":\"", tail[] = "\"}";
	size_t nb = strlen(b64), ne = strlen(ear);
	*len = sizeof(head) - 1 + nb + sizeof(mid) - 1 + ne + sizeof(tail) - 1;
	*body = malloc(*len + 1);
	if (*body) {
		/* copied, not formatted: the base64 is most of a release's answer */
		char *p = *body;
		memcpy(p, head, sizeof(head) - 1);
		p += sizeof(head) - 1;
		memcpy(p, b64, nb);
		p += nb;
		memcpy(p, mid, sizeof(mid) - 1);
		p += sizeof(mid) - 1;
		memcpy(p, ear, ne);
		p += ne;
		memcpy(p, tail, sizeof(tail));
	}
	free(b64);
	ENSURE(*body, ERR_NOMEM, "out of memory");
	return 0;
}

struct attest_req {
	uint8_t *quote;
	size_t quote_len;
	uint8_t epk[32], digest[32];
	const char *event_log;
	char *event_log_owned;
};

/* Two forms of the same request.  JSON: {"quote": base64, "publicKey",
 * "appDigest", "eventLog"?}.  Binary (Content-Type application/octet-stream):
 * the body is the quote itself, publicKey and appDigest are query
 * parameters; the event log, if any, follows the quote in the body, its
 * length in the eventLogBytes parameter (it grows by a line per task the
 * TD ran: no header could hold it for long), or is base64 in X-Event-Log;
 * the quote then skips base64 and JSON string scanning, the bulk of
 * parsing. */
static int parse_attest(const struct http_req *r, json_t **body, struct attest_req *a)
{
	const char *ct = http_req_header(r, "Content-Type"), *q, *pk, *dg, *ev;
	memset(a, 0, sizeof(*a));
	*body = NULL;
	if (ct && strncasecmp(ct, "application/octet-stream", 24) == 0) {
		pk = http_req_query(r, "publicKey");
		dg = http_req_query(r, "appDigest");
		ev = http_req_header(r, "X-Event-Log");
		ENSURE(r->body_len > 0 && pk && dg, ERR_INVAL,
		       "a quote body, publicKey and appDigest are required");
		size_t qlen = r->body_len;
		const char *evn = http_req_query(r, "eventLogBytes");
		if (evn) {
			char *end;
			unsigned long long n = strtoull(evn, &end, 10);
			ENSURE(!ev && *evn >= '0' && *evn <= '9' && !*end && n > 0 && n < qlen,
			       ERR_INVAL,
			       "eventLogBytes: the length of the event log after the quote (and no "
			       "X-Event-Log)");
			qlen -= (size_t)n;
			a->event_log_owned = strndup((const char *)r->body + qlen, (size_t)n);
			ENSURE(a->event_log_owned, ERR_NOMEM, "out of memory");
			ENSURE(strlen(a->event_log_owned) == n, ERR_INVAL,
			       "event log: a NUL byte in the text");
			a->event_log = a->event_log_owned;
		}
		if (ev) {
			uint8_t *log;
			size_t n;
			GUARD(base64_decode(ev, strlen(ev), &log, &n));
			a->event_log_owned = strndup((const char *)log, n);
			free(log);
			ENSURE(a->event_log_owned, ERR_NOMEM, "out of memory");
			a->event_log = a->event_log_owned;
		}
		a->quote = malloc(qlen);
		ENSURE(a->quote, ERR_NOMEM, "out of memory");
		memcpy(a->quote, r->body, qlen);
		a->quote_len = qlen;
	} else {
		*body =
		    json_loadb((const char *)r->body, r->body_len, JSON_REJECT_DUPLICATES, NULL);
		ENSURE(*body, ERR_INVAL, "body is not JSON");
		q = json_string_value(json_object_get(*body, "quote"));
		pk = json_string_value(json_object_get(*body, "publicKey"));
		dg = json_string_value(json_object_get(*body, "appDigest"));
		a->event_log = json_string_value(json_object_get(*body, "eventLog"));
		ENSURE(q && pk && dg, ERR_INVAL, "quote, publicKey and appDigest are required");
		GUARD(base64_decode(q, strlen(q), &a->quote, &a->quote_len));
	}
	if (a->event_log) {
		/* kept in the receipt: its size bounds the receipts' answer
		 * (proto.h) */
		size_t n = strlen(a->event_log);
		ENSURE(n <= PROTO_RECEIPT_LOG_MAX, ERR_TOOBIG, "event log: over %u bytes",
		       PROTO_RECEIPT_LOG_MAX);
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)a->event_log[i];
			ENSURE(c >= 0x20 || c == '\t' || c == '\n' || c == '\r', ERR_INVAL,
			       "event log: control character 0x%02x at byte %zu (JSON lines "
			       "only)",
			       c, i);
		}
	}
	if (strncmp(dg, "sha256:", 7) == 0)
		dg += 7;
	GUARD(hex_decode_exact(a->epk, 32, pk, "publicKey"));
	return hex_decode_exact(a->digest, 32, dg, "appDigest");
}

/* The decision: 0 and the reason empty, or the refusal's reason. */
static int decide(struct sms *s, const char *id, const struct sms_session *ss,
                  const struct attest_req *a, struct tdx_quote **qout, struct tdx_verdict *v,
                  struct deal_info *d, uint8_t nonce[32], const char **reason)
{
	uint8_t taskid[32], want[64];
	struct tdx_quote *q;
	char digest_hex[67] = "0x";

	*reason = "nonce";
	GUARD(take_nonce(s, id, nonce));
	if (tdx_gate_check(&s->gate, a->quote, a->quote_len, &q, v) < 0) {
		*reason = tdx_gate_refusal() ? tdx_gate_refusal() : "quote_invalid";
		return -1;
	}
	*qout = q;
	*reason = "report_data";
	GUARD(hex_decode_exact(taskid, 32, ss->taskid, "taskid"));
	proto_session_report_data(nonce, taskid, a->digest, a->epk, want);
	ENSURE(CRYPTO_memcmp(want, q->body.report_data, 64) == 0, ERR_VERIFY,
	       "REPORTDATA does not bind this nonce, task, app digest and key");
	*reason = "deal";
	GUARD(deal_lookup(s, ss->dealid, d));
	*reason = "app_digest";
	hex_encode(digest_hex + 2, a->digest, 32);
	ENSURE(strcasecmp(d->checksum, digest_hex) == 0, ERR_VERIFY,
	       "app digest %s is not the app's checksum", digest_hex);
	*reason = "app_policy";
	GUARD(app_policy_check(d->mrenclave, q, v));
	/* every RTMR the runtime log touches, RTMR3 among them; the log may be
	 * required by the pool's policy (require_rtmr3_log) */
	*reason = "event_log";
	return tdx_policy_check_runtime_log(s->gate.policy, q, a->event_log,
	                                    a->event_log ? strlen(a->event_log) : 0);
}

static void hex48(char out[97], const uint8_t in[48])
{
	hex_encode(out, in, 48);
}

/* A release whose request waits for its group's commit without holding
 * a server thread (the request deferred): what its receipt points to, and
 * the answer. */
struct release_job {
	struct sms_release rel; /* first: done gets its address */
	struct sms_receipt rcpt;
	struct sms *s;
	struct http_deferred *d;
	char id[65], taskid[67], worker[43];
	uint8_t *quote;
	char *event_log, *ear, *body;
	size_t body_len;
	struct timespec t0;
};

/* A release the store did not commit: refused (released already, the
 * worker declared lost: 403), or the store failed (its write lock held
 * past the busy timeout, the disk: 503, and the session is left as it
 * was, for the TD to attest again). */
static void release_failed(struct sms *s, int rc, const char *id, const char *taskid,
                           const char *why, struct http_resp *resp)
{
	int failed = rc == ERR_IO;

	refused(s, failed ? "internal" : "released");
	log_warn("sms.refused", "op=attest session=%s task=%s reason=\"%s\"", id, taskid, why);
	sms_status(resp, failed ? 503 : 403,
	           failed ? "the release could not be stored: attest again"
	                  : "attestation refused");
}

static void release_job_free(struct release_job *j)
{
	free(j->quote);
	free(j->event_log);
	free(j->ear);
	free(j->body);
	free(j);
}

/* The answer once the group's commit returned: in the store's commit
 * thread. */
static void release_answer(struct sms_release *rel)
{
	struct release_job *j = (struct release_job *)rel;
	struct sms *s = j->s;
	struct http_resp resp = {0};

	if (rel->rc < 0) {
		release_failed(s, rel->rc, j->id, j->taskid, rel->msg, &resp);
	} else {
		log_info("sms.release",
		         "session=%s task=%s worker=%s quote_sha256=%s tcb=%s simulated=%d", j->id,
		         j->taskid, j->worker, j->rcpt.quote_sha256, j->rcpt.tcb_status,
		         j->rcpt.simulated);
		resp = (struct http_resp){.status = 200,
		                          .content_type = "application/json",
		                          .body = j->body,
		                          .len = j->body_len};
		j->body = NULL;
		metric_inc(s->m_accepted, 0, 0);
		metric_inc(s->m_released, 0, 0);
		metric_observe(s->m_release_seconds, 0, 0, metrics_since(&j->t0));
	}
	http_deferred_answer(j->d, &resp);
	free(resp.body);
	release_job_free(j);
}

/* Queue the release, its answer deferred: 0, and the quote, event log,
 * token and body are the job's (set to NULL here); -1 when the request
 * cannot wait so (the caller then releases and answers it itself). */
static int release_deferred(struct sms *s, const struct http_req *r, const char *id,
                            const struct sms_session *ss, const struct sms_receipt *rcpt,
                            struct attest_req *a, char **ear, char **body, size_t body_len,
                            const struct timespec *t0)
{
	struct release_job *j;
	struct http_deferred *d;

	if (strlen(id) >= sizeof(((struct release_job *)0)->id) || !(j = calloc(1, sizeof(*j))))
		return -1;
	if (a->event_log &&
	    !(j->event_log =
	          a->event_log == a->event_log_owned ? a->event_log_owned : strdup(a->event_log))) {
		free(j);
		return -1;
	}
	if (!(d = http_req_defer(r))) {
		if (j->event_log != a->event_log_owned)
			free(j->event_log);
		free(j);
		return -1;
	}
	if (j->event_log == a->event_log_owned)
		a->event_log_owned = NULL;
	a->event_log = j->event_log;
	snprintf(j->id, sizeof(j->id), "%s", id);
	memcpy(j->taskid, ss->taskid, sizeof(j->taskid));
	memcpy(j->worker, ss->worker, sizeof(j->worker));
	j->s = s;
	j->d = d;
	j->t0 = *t0;
	j->quote = a->quote;
	a->quote = NULL;
	j->ear = *ear;
	*ear = NULL;
	j->body = *body;
	*body = NULL;
	j->body_len = body_len;
	j->rcpt = *rcpt;
	j->rcpt.taskid = j->taskid;
	j->rcpt.worker = j->worker;
	j->rcpt.quote = j->quote;
	j->rcpt.event_log = j->event_log;
	j->rcpt.ear = j->ear;
	j->rel = (struct sms_release){.id = j->id, .r = &j->rcpt, .done = release_answer};
	if (sms_store_release_queue(&s->store, &j->rel) < 0) {
		/* closing, or too many waiting: answered here */
		struct http_resp resp = {0};
		refused(s, "internal");
		sms_status(&resp, 503, err_msg());
		http_deferred_answer(d, &resp);
		free(resp.body);
		release_job_free(j);
	}
	return 0;
}

/* POST /tdx/sessions/{id}/attest */
void sms_h_attest(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	struct sms *s = ctx;
	const char *id = r->params[0];
	struct sms_session ss;
	struct attest_req a;
	struct tdx_quote *q = NULL;
	struct tdx_verdict v;
	struct deal_info d;
	json_t *body = NULL;
	char *text = NULL, *ok_body = NULL, *ear = NULL;
	size_t text_len = 0, ok_len = 0;
	int have_challenge;
	uint8_t *sealed = NULL, qhash[32], nonce[32], priv[32], challenge[20], taskid[32];
	size_t sealed_len;
	char digest_hex[67] = "0x", qh[65], m[5][97];
	const char *reason = "internal";
	struct timespec t0;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&d, 0, sizeof(d));
	memset(&v, 0, sizeof(v));
	if (!s->attest_on || !s->chain) {
		sms_status(resp, 503, "attestation is not configured");
		return;
	}
	if (parse_attest(r, &body, &a) < 0) {
		refused(s, "bad_request");
		sms_status(resp, 400, err_msg());
		goto out;
	}
	if (live_session(s, id, &ss, resp) < 0) {
		refused(s, "no_session");
		goto out;
	}
	if (decide(s, id, &ss, &a, &q, &v, &d, nonce, &reason) < 0) {
		refused(s, reason);
		log_warn("sms.refused", "op=attest session=%s task=%s reason=\"%s\"", id, ss.taskid,
		         v.reason[0] ? v.reason : err_msg());
		sms_status(resp, 403, "attestation refused");
		goto out;
	}
	/* a release is coming: a group commit under way waits for it */
	sms_store_release_coming(&s->store, 1);
	hex_encode(digest_hex + 2, a.digest, 32);
	hex48(m[0], q->body.mrtd);
	/* the task's enclave challenge key: in the session, and its address in
	 * the receipt */
	have_challenge = hex_decode_exact(taskid, 32, ss.taskid, "taskid") == 0 &&
	                 sms_challenge_key(s, taskid, ss.deadline, 0, priv) == 0;
	/* the answer is ready before the release is committed: nothing can
	 * fail between the commit and the 200 */
	if (session_text(s, id, &ss, &d, d.image ? d.image : "", digest_hex, m[0],
	                 have_challenge ? priv : NULL, &text, &text_len) < 0 ||
	    seal_to(a.epk, PROTO_SESSION_LABEL, (const uint8_t *)text, text_len, &sealed,
	            &sealed_len) < 0) {
		sms_store_release_coming(&s->store, 0);
		OPENSSL_cleanse(priv, sizeof(priv));
		refused(s, "internal");
		sms_status(resp, 500, "session unavailable");
		goto out;
	}
	SHA256(a.quote, a.quote_len, qhash);
	hex_encode(qh, qhash, 32);
	struct sms_receipt rcpt = {.taskid = ss.taskid,
	                           .worker = ss.worker,
	                           .quote = a.quote,
	                           .quote_len = a.quote_len,
	                           .tcb_status = tdx_tcb_status_name(v.status),
	                           .simulated = v.simulated,
	                           .tcb_info_issue_date = v.tcb_info_issue_date,
	                           .qe_identity_issue_date = v.qe_identity_issue_date,
	                           .tcb_eval_number = v.tcb_eval_number,
	                           .qe_eval_number = v.qe_eval_number,
	                           .event_log = a.event_log};
	/* the chain the parse found, when it ends the quote: its offset for
	 * the store (quote_tails) without a second parse */
	rcpt.pck_chain_len = tdx_quote_chain_tail(q, a.quote, a.quote_len);
	memcpy(rcpt.quote_sha256, qh, sizeof(qh));
	memcpy(rcpt.mrtd, m[0], sizeof(m[0]));
	for (int i = 0; i < 4; i++)
		hex48(rcpt.rtmr[i], q->body.rtmr[i]);
	hex_encode(rcpt.fmspc, v.pck.fmspc, 6);
	hex_encode(rcpt.pck_crl_sha256, v.pck_crl_sha256, 32);
	hex_encode(rcpt.root_ca_crl_sha256, v.root_ca_crl_sha256, 32);
	memcpy(rcpt.policy_sha256, s->policy_sha256, sizeof(rcpt.policy_sha256));
	if (d.mrenclave && *d.mrenclave) {
		uint8_t h[32];
		SHA256((const uint8_t *)d.mrenclave, strlen(d.mrenclave), h);
		hex_encode(rcpt.app_policy_sha256, h, 32);
	}
	hex_encode(rcpt.app_digest, a.digest, 32);
	hex_encode(rcpt.public_key, a.epk, 32);
	hex_encode(rcpt.nonce, nonce, 32);
	/* the key the session hands over: its address is what the task's
	 * result is signed with on chain */
	if (have_challenge && sms_challenge_address(priv, challenge) == 0) {
		eth_addr_str(challenge, rcpt.enclave_challenge);
		sms_lower(rcpt.enclave_challenge);
	}
	OPENSSL_cleanse(priv, sizeof(priv));
	if (sms_ear_make(s,
	                 &(struct sms_ear_in){.taskid = ss.taskid,
	                                      .worker = ss.worker,
	                                      .app_digest = a.digest,
	                                      .q = q,
	                                      .v = &v,
	                                      .runtime_log = a.event_log != NULL,
	                                      .quote_sha256 = qh,
	                                      .policy_sha256 = rcpt.policy_sha256,
	                                      .app_policy_sha256 = rcpt.app_policy_sha256,
	                                      .iat = (long long)time(NULL)},
	                 &ear) < 0) {
		sms_store_release_coming(&s->store, 0);
		refused(s, "internal");
		log_error("sms.ear", "session=%s task=%s error=\"%s\"", id, ss.taskid, err_msg());
		sms_status(resp, 500, "session unavailable");
		goto out;
	}
	rcpt.ear = ear;
	if (session_body(sealed, sealed_len, ear, &ok_body, &ok_len) < 0) {
		sms_store_release_coming(&s->store, 0);
		refused(s, "internal");
		sms_status(resp, 500, "session unavailable");
		goto out;
	}
	/* the answer waits for the commit, the server's thread does not */
	if (release_deferred(s, r, id, &ss, &rcpt, &a, &ear, &ok_body, ok_len, &t0) == 0)
		goto out;
	if ((rc = sms_store_session_release(&s->store, id, &rcpt)) < 0) {
		release_failed(s, rc, id, ss.taskid, err_msg(), resp);
		goto out;
	}
	log_info("sms.release", "session=%s task=%s worker=%s quote_sha256=%s tcb=%s simulated=%d",
	         id, ss.taskid, ss.worker, qh, tdx_tcb_status_name(v.status), v.simulated);
	free(resp->body);
	resp->status = 200;
	resp->content_type = "application/json";
	resp->body = ok_body;
	resp->len = ok_len;
	ok_body = NULL;
	metric_inc(s->m_accepted, 0, 0);
	metric_inc(s->m_released, 0, 0);
	metric_observe(s->m_release_seconds, 0, 0, metrics_since(&t0));
out:
	if (text) {
		OPENSSL_cleanse(text, text_len);
		free(text);
	}
	free(ok_body);
	deal_info_clear(&d);
	json_decref(body);
	tdx_quote_free(q);
	free(a.quote);
	free(a.event_log_owned);
	free(sealed);
	free(ear);
}
