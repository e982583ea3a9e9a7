/* gate.c — collateral + verifier + policy, see gate.h. */
#include "tdx/gate.h"

#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Reading a quote's platform (FMSPC, PCK CA) means decoding the PEM chain,
 * parsing the leaf certificate and its SGX extension: a tenth of a release's
 * CPU, for the same few chains over and over (one per platform).  What is
 * kept is only what parsing these exact bytes gave, keyed by a copy of them:
 * no trust is cached here, the chain is verified by tdx_verify_parsed (with
 * its own cache, keyed by the chain and the collateral) for every quote. */
#define GATE_TARGETS 8

struct gate_target {
	uint8_t *pem; /* the PCK chain as quoted */
	size_t pem_len;
	uint8_t fmspc[6];
	enum tdx_pck_ca ca;
	int used;
};

struct tdx_gate_state {
	pthread_mutex_t mu; /* t, next */
	struct gate_target t[GATE_TARGETS];
	size_t next;
	struct tdx_verifier *verifier; /* the gate's, for its store's checks */
	atomic_ullong epoch;           /* tdx_gate_epoch */
};

static int quote_target(struct tdx_gate *g, const struct tdx_quote *q, uint8_t fmspc[6],
                        enum tdx_pck_ca *ca)
{
	struct tdx_gate_state *c = g->state;
	uint8_t *pem, *old;
	int hit = 0;

	if (!c)
		return tdx_quote_pck_target(q, fmspc, ca);
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < GATE_TARGETS && !hit; i++)
		if (c->t[i].used && c->t[i].pem_len == q->pck_chain_len &&
		    memcmp(c->t[i].pem, q->pck_chain, q->pck_chain_len) == 0) {
			memcpy(fmspc, c->t[i].fmspc, 6);
			*ca = c->t[i].ca;
			hit = 1;
		}
	pthread_mutex_unlock(&c->mu);
	if (hit)
		return 0;
	/* a chain that does not parse is not kept: its error is said each time */
	GUARD(tdx_quote_pck_target(q, fmspc, ca));
	pem = malloc(q->pck_chain_len ? q->pck_chain_len : 1);
	if (!pem)
		return 0; /* answered; only not remembered */
	memcpy(pem, q->pck_chain, q->pck_chain_len);
	pthread_mutex_lock(&c->mu);
	struct gate_target *e = &c->t[c->next];
	old = e->pem;
	e->pem = pem;
	e->pem_len = q->pck_chain_len;
	memcpy(e->fmspc, fmspc, 6);
	e->ca = *ca;
	e->used = 1;
	c->next = (c->next + 1) % GATE_TARGETS;
	pthread_mutex_unlock(&c->mu);
	free(old);
	return 0;
}

/* Every gate's epoch is the next value of this sequence, taken after what
 * it stands for changed (tdx_gate_epoch), never before: a reader that sees
 * the new value then reads the new inputs. */
static atomic_ullong epoch_seq;

uint64_t tdx_gate_epoch(const struct tdx_gate *g)
{
	return g->state ? atomic_load(&g->state->epoch) : 0;
}

static void gate_moved(struct tdx_gate_state *st)
{
	/* only ever raised: of two changes at once (a refresh, a platform
	 * fetched on demand), the later draw stays, whichever stores first */
	unsigned long long v = atomic_fetch_add(&epoch_seq, 1) + 1, cur = atomic_load(&st->epoch);
	while (cur < v && !atomic_compare_exchange_weak(&st->epoch, &cur, v))
		;
}

static void coll_changed(void *ctx)
{
	gate_moved(ctx);
}

/* A collateral set is served only once it verifies under the gate's
 * anchor and is valid now: a refresh that read something broken keeps the
 * set held before. */
static int coll_check(void *ctx, const struct tdx_collateral *c, time_t now)
{
	const struct tdx_gate_state *st = ctx;
	return tdx_verify_collateral(st->verifier, c, now, NULL);
}

int tdx_gate_open(struct tdx_gate *g, const char *collateral, const char *sim_root,
                  const char *policy, const char *who)
{
	struct tdx_collstore_opts o = {who, coll_check, NULL, 1, coll_changed};
	uint8_t *root;
	size_t len;
	int rc = 0;

	memset(g, 0, sizeof(*g));
	g->state = calloc(1, sizeof(*g->state));
	ENSURE(g->state, ERR_NOMEM, "out of memory");
	pthread_mutex_init(&g->state->mu, NULL);
	if (sim_root) {
		rc = file_read(sim_root, 1 << 20, &root, &len);
		if (rc == 0) {
			rc = tdx_verifier_new_root(root, len, 1, &g->verifier);
			free(root);
		}
		if (rc == 0)
			log_warn(who, "trust=simulated root=\"%s\" (never use in production)",
			         sim_root);
	} else {
		rc = tdx_verifier_new(&g->verifier);
	}
	if (rc == 0) {
		g->state->verifier = g->verifier;
		o.check_ctx = g->state;
		rc = tdx_collstore_open(collateral, &o, &g->collateral);
	}
	if (rc == 0)
		rc = policy ? tdx_policy_load(policy, &g->policy) : tdx_policy_default(&g->policy);
	if (rc < 0)
		tdx_gate_close(g);
	else /* once it can check (a gate opened where another was: a new epoch) */
		gate_moved(g->state);
	return rc;
}

int tdx_gate_policy_pinned(const char *path, const char *opt_out)
{
	struct tdx_policy *p;
	int pinned;

	GUARD(tdx_policy_load(path, &p));
	pinned = tdx_policy_pins(p, "MRTD");
	tdx_policy_free(p);
	ENSURE(pinned, ERR_INVAL,
	       "%s: the policy pins no MRTD, so a TD running any code would be admitted; "
	       "add \"measurements\": {\"MRTD\": ...} (the TD image's reference value), "
	       "or give %s to admit any MRTD",
	       path, opt_out);
	return 0;
}

void tdx_gate_close(struct tdx_gate *g)
{
	/* The store first: its thread checks sets with the verifier. */
	tdx_collstore_close(g->collateral);
	tdx_verifier_free(g->verifier);
	tdx_policy_free(g->policy);
	if (g->state) {
		for (size_t i = 0; i < GATE_TARGETS; i++)
			free(g->state->t[i].pem);
		pthread_mutex_destroy(&g->state->mu);
		free(g->state);
	}
	memset(g, 0, sizeof(*g));
}

int tdx_gate_check(struct tdx_gate *g, const uint8_t *raw, size_t len, struct tdx_quote **q,
                   struct tdx_verdict *v)
{
	return tdx_gate_check_at(g, raw, len, time(NULL), q, v);
}

static _Thread_local const char *last_refusal;

const char *tdx_gate_refusal(void)
{
	return last_refusal;
}

int tdx_gate_check_at(struct tdx_gate *g, const uint8_t *raw, size_t len, time_t at,
                      struct tdx_quote **q, struct tdx_verdict *v)
{
	const struct tdx_held *h = NULL;
	enum tdx_pck_ca ca = TDX_PCK_CA_UNKNOWN;
	uint8_t fmspc[6] = {0};
	char why[256] = "";
	json_t *mism;
	int rc, forged = 0;

	*q = NULL;
	last_refusal = "quote_malformed";
	GUARD(tdx_quote_parse(raw, len, q));
	last_refusal = "quote_invalid";
	/* A PCK certificate that names no platform can still meet a store of
	 * one platform, whose verification then says what is wrong with it. */
	if (quote_target(g, *q, fmspc, &ca) < 0)
		snprintf(why, sizeof(why), "%s", err_msg());
	/* The FMSPC is read before any signature is checked: a platform not
	 * held costs a PCS fetch only when its PCK chain reaches the anchor,
	 * or strangers' made-up FMSPCs would spend the fetch budget. */
	else if (tdx_collstore_fetches(g->collateral, fmspc, ca) &&
	         tdx_verify_pck_chain(g->verifier, *q) < 0)
		forged = snprintf(why, sizeof(why), "%s", err_msg()) > 0;
	rc = forged ? ERR_VERIFY : tdx_collstore_get(g->collateral, fmspc, ca, at, &h);
	if (rc < 0 && !why[0]) /* with why: the PCK chain's fault, not the store's */
		last_refusal = "collateral";
	if (rc < 0 && why[0])
		rc = err_set(rc, "%s", why);
	if (rc < 0) {
		memset(v, 0, sizeof(*v));
		v->status = v->platform = v->module = v->qe = TDX_TCB_NOT_SUPPORTED;
		snprintf(v->reason, sizeof(v->reason), "%s", err_msg());
	} else {
		rc = tdx_verify_parsed(g->verifier, raw, *q, h->c, at, v);
		tdx_collstore_put(g->collateral, h);
	}
	if (rc == 0) {
		last_refusal = "policy";
		mism = json_array();
		rc = tdx_policy_check(g->policy, *q, v, mism);
		json_decref(mism);
	}
	if (rc == 0)
		last_refusal = NULL;
	if (rc < 0) {
		tdx_quote_free(*q);
		*q = NULL;
	}
	return rc;
}

json_t *tdx_gate_status(struct tdx_gate *g)
{
	return g->collateral ? tdx_collstore_status(g->collateral, time(NULL)) : json_null();
}

void tdx_gate_metrics(struct tdx_gate *g, struct wbuf *w)
{
	if (g->collateral)
		tdx_collstore_metrics(g->collateral, time(NULL), w);
}
