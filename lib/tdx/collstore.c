/* collstore.c — collateral for several platforms, kept fresh; see collstore.h. */
#include "tdx/collstore.h"

#include "tdx/pcs.h"
#include "tdx/quote.h"
#include "tdx/tcbinfo.h"
#include "tdx/x509lite.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REFRESH_MIN 60    /* never re-read more often than this ... */
#define REFRESH_MAX 86400 /* ... nor less often than daily */
#define BACKOFF_MAX 3600  /* retries after failures: 1 min doubling to 1 h */
/* Seconds per PCS request: a quote waits for the fetch of its platform, and
 * a service's stop for its refresh thread. */
#define PCS_TIMEOUT 15

enum src_kind { SRC_FILE, SRC_DIR, SRC_PCS };

/* How recent a collateral set is: what a refresh may not go back on. */
struct fresh {
	time_t tcb_issued, qe_issued, pck_crl_this, root_crl_this;
	int tcb_eval, qe_eval;
};

struct slot {
	uint8_t fmspc[6];
	enum tdx_pck_ca ca;
	struct tdx_held *h; /* NULL: never loaded (a failed fetch, remembered) */
	struct fresh fresh; /* h's */
	time_t last_refresh, refresh_at;
	unsigned long refreshes, failures_total;
	unsigned failures; /* in a row */
	char last_error[256];
	int warned, expired_logged;
};

struct tdx_collstore {
	enum src_kind kind;
	char *source;
	char cache[PATH_MAX]; /* SRC_PCS: "" = no cache */
	char who[64];
	tdx_collstore_check_fn check;
	void *check_ctx;
	void (*changed)(void *check_ctx);
	pthread_mutex_t mu; /* everything below */
	struct slot slots[TDX_COLLSTORE_MAX];
	size_t n;
	time_t window_start; /* on-demand fetches in the current window */
	unsigned window_fetches;
	pthread_mutex_t fetch_mu; /* one on-demand fetch at a time */
	pthread_cond_t cv;        /* wakes the thread: stop, or a platform due */
	pthread_t thread;
	int thread_on, stop, kick;
};

/* A collateral set found in the source, with its platform. */
struct found {
	struct tdx_collateral *c;
	uint8_t fmspc[6];
	enum tdx_pck_ca ca;
	time_t next;
};

static const char *ca_name(enum tdx_pck_ca ca)
{
	return ca == TDX_PCK_CA_PROCESSOR  ? "processor"
	       : ca == TDX_PCK_CA_PLATFORM ? "platform"
	                                   : "unknown";
}

static void fmspc_hex(const uint8_t f[6], char out[13])
{
	hex_encode(out, f, 6);
}

/* ---------- reading collateral ---------- */

/* The platform a collateral set is for: the FMSPC of its TCB info, the CA
 * type from the issuer of its PCK CRL, and its earliest nextUpdate. */
static int identify(const struct tdx_collateral *c, uint8_t fmspc[6], enum tdx_pck_ca *ca,
                    time_t *next)
{
	struct tdx_tcb_info *t = NULL;
	struct crl_lite crl;
	int rc = 0;

	GUARD_GOTO(tdx_tcb_info_parse((const char *)c->tcb_info.p, c->tcb_info.len, &t));
	memcpy(fmspc, t->fmspc, 6);
	GUARD_GOTO(crl_lite_parse(c->pck_crl.p, c->pck_crl.len, "PCK CRL", &crl));
	if (memmem(crl.issuer.p, crl.issuer.len, "Processor CA", 12))
		*ca = TDX_PCK_CA_PROCESSOR;
	else if (memmem(crl.issuer.p, crl.issuer.len, "Platform CA", 11))
		*ca = TDX_PCK_CA_PLATFORM;
	else
		ENSURE_GOTO(0, ERR_INVAL,
		            "PCK CRL: issuer is neither a PCK Processor nor a "
		            "Platform CA");
	GUARD_GOTO(tdx_collateral_next_update(c, next));
out:
	tdx_tcb_info_free(t);
	return rc;
}

static int freshness(const struct tdx_collateral *c, struct fresh *fr)
{
	struct tdx_tcb_info *t = NULL;
	struct tdx_qe_identity *q = NULL;
	struct crl_lite crl;
	int rc = 0;

	memset(fr, 0, sizeof(*fr));
	GUARD_GOTO(tdx_tcb_info_parse((const char *)c->tcb_info.p, c->tcb_info.len, &t));
	GUARD_GOTO(tdx_qe_identity_parse((const char *)c->qe_identity.p, c->qe_identity.len, &q));
	fr->tcb_issued = t->issue_date;
	fr->tcb_eval = t->eval_number;
	fr->qe_issued = q->issue_date;
	fr->qe_eval = q->eval_number;
	GUARD_GOTO(crl_lite_parse(c->pck_crl.p, c->pck_crl.len, "PCK CRL", &crl));
	fr->pck_crl_this = crl.this_update;
	GUARD_GOTO(crl_lite_parse(c->root_ca_crl.p, c->root_ca_crl.len, "root CA CRL", &crl));
	fr->root_crl_this = crl.this_update;
out:
	tdx_tcb_info_free(t);
	tdx_qe_identity_free(q);
	return rc;
}

/* The name of what `n` has older than `h`, or NULL when it is not older in
 * any part: a refresh never goes back (a PCCS or a path that replays an
 * older, still valid, Intel-signed TCB info or CRL would undo a TCB
 * recovery or a revocation). */
static const char *older(const struct fresh *n, const struct fresh *h)
{
	if (n->tcb_eval < h->tcb_eval || n->tcb_issued < h->tcb_issued)
		return "TCB info";
	if (n->qe_eval < h->qe_eval || n->qe_issued < h->qe_issued)
		return "QE identity";
	if (n->pck_crl_this < h->pck_crl_this)
		return "PCK CRL";
	if (n->root_crl_this < h->root_crl_this)
		return "root CA CRL";
	return NULL;
}

static int load_found(const char *path, struct found *f)
{
	int rc;

	memset(f, 0, sizeof(*f));
	GUARD(tdx_collateral_load(path, &f->c));
	rc = identify(f->c, f->fmspc, &f->ca, &f->next);
	if (rc < 0) {
		err_wrap(rc, "%s", path);
		tdx_collateral_free(f->c);
		f->c = NULL;
	}
	return rc;
}

static void found_free(struct found *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tdx_collateral_free(f[i].c);
}

static int is_pcs_dir(const char *dir)
{
	char p[PATH_MAX];
	return (path_fmt(p, sizeof(p), "%s/tcb_info.json", dir) == 0 && access(p, F_OK) == 0) ||
	       (path_fmt(p, sizeof(p), "%s/collateral.json", dir) == 0 && access(p, F_OK) == 0);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Everything `dir` holds: itself when it is a PCS directory, else its
 * subdirectories that are and its *.json files (cache_only: only the PCS
 * cache's tdx-*.json).  strict: the first entry that does not load is the
 * error; otherwise it is logged and skipped (a cache may hold anything). */
static int scan_dir(const char *dir, int cache_only, int strict, const char *who, struct found *f,
                    size_t *n)
{
	char **names = NULL, path[PATH_MAX];
	size_t count = 0;
	struct stat st;
	int fd, rc = 0;

	*n = 0;
	if (!cache_only && is_pcs_dir(dir)) {
		GUARD(load_found(dir, &f[0]));
		*n = 1;
		return 0;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ENSURE(fd >= 0, ERR_IO, "collateral %s: %s", dir, strerror(errno));
	rc = file_list_at(fd, &names, &count);
	close(fd);
	GUARD(rc);
	for (size_t i = 0; i < count; i++) {
		const char *nm = names[i];
		if (nm[0] == '.')
			continue;
		if (cache_only ? strncmp(nm, "tdx-", 4) != 0 || !ends_with(nm, ".json") : 0)
			continue;
		GUARD_GOTO(path_fmt(path, sizeof(path), "%s/%s", dir, nm));
		if (stat(path, &st) != 0)
			continue;
		if (!(S_ISREG(st.st_mode) && ends_with(nm, ".json")) &&
		    !(S_ISDIR(st.st_mode) && is_pcs_dir(path)))
			continue;
		ENSURE_GOTO(*n < TDX_COLLSTORE_MAX, ERR_TOOBIG,
		            "collateral %s: more than %d platforms", dir, TDX_COLLSTORE_MAX);
		rc = load_found(path, &f[*n]);
		if (rc < 0 && strict)
			goto out;
		if (rc < 0) {
			log_warn("collateral.skip", "who=%s path=\"%s\" error=\"%s\"", who, path,
			         err_msg());
			rc = 0;
			continue;
		}
		(*n)++;
	}
	ENSURE_GOTO(*n > 0 || cache_only, ERR_NOTFOUND,
	            "collateral %s: no collateral in it (PCS files, subdirectories of them or "
	            "*.json in dcap-qvl's format)",
	            dir);
out:
	file_list_free(names, count);
	if (rc < 0) {
		found_free(f, *n);
		*n = 0;
	}
	return rc;
}

/* ---------- held sets and slots ---------- */

static void held_put(struct tdx_held *h)
{
	if (h && __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		tdx_collateral_free((struct tdx_collateral *)h->c);
		free(h);
	}
}

static struct slot *slot_find(struct tdx_collstore *s, const uint8_t fmspc[6], enum tdx_pck_ca ca)
{
	for (size_t i = 0; i < s->n; i++)
		if (memcmp(s->slots[i].fmspc, fmspc, 6) == 0 && s->slots[i].ca == ca)
			return &s->slots[i];
	return NULL;
}

static time_t clamp_t(time_t v, time_t lo, time_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static time_t backoff(unsigned failures)
{
	unsigned k = failures > 7 ? 6 : failures ? failures - 1 : 0;
	return clamp_t((time_t)REFRESH_MIN << k, REFRESH_MIN, BACKOFF_MAX);
}

/* A slot for (fmspc, ca), created if absent; NULL when the store is full. */
static struct slot *slot_get(struct tdx_collstore *s, const uint8_t fmspc[6], enum tdx_pck_ca ca)
{
	struct slot *sl = slot_find(s, fmspc, ca);
	if (sl || s->n >= TDX_COLLSTORE_MAX)
		return sl;
	sl = &s->slots[s->n++];
	memset(sl, 0, sizeof(*sl));
	memcpy(sl->fmspc, fmspc, 6);
	sl->ca = ca;
	return sl;
}

/* The outcome of loading (fmspc, ca) at `now`: f->c (taken) becomes the held
 * set unless it is the same, or `err` says why nothing was loaded.  `first`:
 * the load at open, where a set that fails the check is still held (the
 * verifier then gives each quote the precise reason, as before). */
static int settle(struct tdx_collstore *s, const uint8_t fmspc[6], enum tdx_pck_ca ca,
                  struct found *f, const char *err, time_t now, int first)
{
	char fx[13], t_next[32], t_ref[32], errbuf[256];
	const char *part;
	struct fresh fr = {0};
	struct tdx_held *old = NULL, *h = NULL;
	uint8_t a[32], b[32];
	struct slot *sl;
	int changed = 0;
	time_t left;

	fmspc_hex(fmspc, fx);
	/* From here on the set is only read: its hash, asked for by the
	 * verifier on every quote, is computed once. */
	if (f && f->c)
		tdx_collateral_seal(f->c);
	if (f && !err && freshness(f->c, &fr) < 0) {
		snprintf(errbuf, sizeof(errbuf), "%s", err_msg());
		err = errbuf;
	}
	if (f && !err) {
		if (f->next <= now) {
			time_format(f->next, t_next);
			snprintf(errbuf, sizeof(errbuf), "the collateral read expired at %s",
			         t_next);
			err = errbuf;
		} else if (s->check && s->check(s->check_ctx, f->c, now) < 0) {
			snprintf(errbuf, sizeof(errbuf), "%s", err_msg());
			err = errbuf;
		}
	}
	pthread_mutex_lock(&s->mu);
	sl = slot_get(s, fmspc, ca);
	if (!sl) {
		pthread_mutex_unlock(&s->mu);
		log_warn("collateral.full", "who=%s fmspc=%s ca=%s held=%d", s->who, fx,
		         ca_name(ca), TDX_COLLSTORE_MAX);
		if (f)
			tdx_collateral_free(f->c);
		return -1;
	}
	if (f && !err && sl->h && (part = older(&fr, &sl->fresh))) {
		snprintf(errbuf, sizeof(errbuf),
		         "the %s read is older than the one held: kept the held set", part);
		err = errbuf;
	}
	if (f && (!err || (first && !sl->h))) {
		changed = !sl->h || tdx_collateral_hash(sl->h->c, a) < 0 ||
		          tdx_collateral_hash(f->c, b) < 0 || memcmp(a, b, 32) != 0;
		if (changed) {
			h = calloc(1, sizeof(*h));
			if (h) {
				h->c = f->c;
				memcpy(h->fmspc, fmspc, 6);
				h->ca = ca;
				h->next_update = f->next;
				h->refs = 1;
				old = sl->h;
				sl->h = h;
				sl->fresh = fr;
				sl->warned = sl->expired_logged = 0;
			} else {
				tdx_collateral_free(f->c);
				err = "out of memory";
			}
		} else {
			tdx_collateral_free(f->c);
		}
	} else if (f) {
		tdx_collateral_free(f->c);
	}
	f = NULL;
	if (err) {
		sl->failures++;
		sl->failures_total++;
		snprintf(sl->last_error, sizeof(sl->last_error), "%s", err);
		sl->refresh_at = now + backoff(sl->failures);
	} else {
		sl->failures = 0;
		sl->last_error[0] = '\0';
		sl->refreshes++;
		sl->last_refresh = now;
		sl->refresh_at =
		    now + clamp_t((sl->h->next_update - now) / 2, REFRESH_MIN, REFRESH_MAX);
	}
	left = sl->h ? sl->h->next_update - now : 0;
	if (sl->h)
		time_format(sl->h->next_update, t_next);
	else
		snprintf(t_next, sizeof(t_next), "-");
	time_format(sl->refresh_at, t_ref);
	if (err)
		log_warn("collateral.refresh_failed",
		         "who=%s fmspc=%s ca=%s error=\"%s\" held_until=%s seconds_left=%lld "
		         "retry_at=%s",
		         s->who, fx, ca_name(ca), err, t_next, (long long)left, t_ref);
	if (!err || first) {
		if (sl->h && left < TDX_COLLSTORE_WARN_LEFT) {
			log_warn("collateral.expiring",
			         "who=%s fmspc=%s ca=%s next_update=%s seconds_left=%lld "
			         "next_refresh=%s source=\"%s\"",
			         s->who, fx, ca_name(ca), t_next, (long long)left, t_ref,
			         s->source);
			sl->warned = 1;
		} else if (!err) {
			log_info(
			    "collateral.refresh",
			    "who=%s fmspc=%s ca=%s changed=%d next_update=%s seconds_left=%lld "
			    "next_refresh=%s",
			    s->who, fx, ca_name(ca), changed, t_next, (long long)left, t_ref);
		}
	}
	pthread_mutex_unlock(&s->mu);
	/* told after the swap, so that whoever reads the news then gets the
	 * new set */
	if (h && s->changed)
		s->changed(s->check_ctx);
	held_put(old);
	return err ? -1 : 0;
}

/* ---------- sources ---------- */

static void pcs_of(const struct tdx_collstore *s, long timeout, struct tdx_pcs *p)
{
	memset(p, 0, sizeof(*p));
	p->base_url = s->source;
	p->cache_dir = s->cache[0] ? s->cache : NULL;
	p->timeout_s = timeout;
}

/* Fetch (or take from the PCS cache while fresh) the collateral of one
 * platform, checking that it is that platform's. */
static int pcs_load(struct tdx_collstore *s, const uint8_t fmspc[6], enum tdx_pck_ca ca, time_t now,
                    long timeout, struct found *f)
{
	struct tdx_pcs p;
	int cached, rc;

	pcs_of(s, timeout, &p);
	memset(f, 0, sizeof(*f));
	GUARD(tdx_pcs_collateral(&p, fmspc, ca, now, &f->c, &cached));
	rc = identify(f->c, f->fmspc, &f->ca, &f->next);
	if (rc == 0 && (memcmp(f->fmspc, fmspc, 6) != 0 || f->ca != ca))
		rc = err_set(ERR_VERIFY, "PCS: the collateral served is for another platform");
	if (rc < 0) {
		tdx_collateral_free(f->c);
		f->c = NULL;
	}
	return rc;
}

struct due {
	uint8_t fmspc[6];
	enum tdx_pck_ca ca;
};

/* The platforms due at `now`, copied out so the lock is not held while
 * reading or fetching. */
static size_t due_list(struct tdx_collstore *s, time_t now, int force, struct due *d)
{
	size_t n = 0;
	pthread_mutex_lock(&s->mu);
	/* A platform never loaded (a quote's failed fetch) is tried again
	 * only when a quote asks for it. */
	for (size_t i = 0; i < s->n; i++)
		if (s->slots[i].h && (force || s->slots[i].refresh_at <= now)) {
			memcpy(d[n].fmspc, s->slots[i].fmspc, 6);
			d[n].ca = s->slots[i].ca;
			n++;
		}
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* A plain file: nothing to load again; say when the end nears and when it
 * has come, once each. */
static void file_watch(struct tdx_collstore *s, time_t now)
{
	char fx[13], t[32];

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n; i++) {
		struct slot *sl = &s->slots[i];
		time_t left;
		if (!sl->h)
			continue;
		left = sl->h->next_update - now;
		fmspc_hex(sl->fmspc, fx);
		time_format(sl->h->next_update, t);
		if (left < 0 && !sl->expired_logged) {
			log_error("collateral.expired",
			          "who=%s fmspc=%s ca=%s next_update=%s source=\"%s\" (no refresh "
			          "source: give --collateral a PCS URL, cache or directory)",
			          s->who, fx, ca_name(sl->ca), t, s->source);
			sl->expired_logged = sl->warned = 1;
		} else if (left < TDX_COLLSTORE_WARN_LEFT && !sl->warned) {
			log_warn(
			    "collateral.expiring",
			    "who=%s fmspc=%s ca=%s next_update=%s seconds_left=%lld source=\"%s\" "
			    "(no refresh source)",
			    s->who, fx, ca_name(sl->ca), t, (long long)left, s->source);
			sl->warned = 1;
		}
	}
	pthread_mutex_unlock(&s->mu);
}

int tdx_collstore_refresh(struct tdx_collstore *s, time_t now, int force)
{
	struct due d[TDX_COLLSTORE_MAX];
	struct found *f = NULL;
	size_t nd, nf = 0;
	int failed = 0, rc;

	if (s->kind == SRC_FILE) {
		file_watch(s, now);
		return 0;
	}
	nd = due_list(s, now, force, d);
	if (s->kind == SRC_PCS) {
		for (size_t i = 0; i < nd; i++) {
			struct found one;
			if (pcs_load(s, d[i].fmspc, d[i].ca, now, PCS_TIMEOUT, &one) == 0)
				failed += settle(s, d[i].fmspc, d[i].ca, &one, NULL, now, 0) < 0;
			else
				failed +=
				    settle(s, d[i].fmspc, d[i].ca, NULL, err_msg(), now, 0) < 0;
		}
		return failed;
	}
	/* A directory: read it all when any platform is due, so platforms added
	 * to it are picked up too. */
	if (nd == 0)
		return 0;
	f = calloc(TDX_COLLSTORE_MAX, sizeof(*f));
	if (!f)
		return (int)nd;
	rc = scan_dir(s->source, 0, 1, s->who, f, &nf);
	for (size_t i = 0; i < nd; i++) {
		struct found *best = NULL;
		for (size_t j = 0; rc == 0 && j < nf; j++)
			if (f[j].c && memcmp(f[j].fmspc, d[i].fmspc, 6) == 0 &&
			    f[j].ca == d[i].ca && (!best || f[j].next > best->next))
				best = &f[j];
		if (best) {
			failed += settle(s, d[i].fmspc, d[i].ca, best, NULL, now, 0) < 0;
			best->c = NULL;
		} else {
			const char *why =
			    rc < 0 ? err_msg() : "the directory no longer holds this platform";
			failed += settle(s, d[i].fmspc, d[i].ca, NULL, why, now, 0) < 0;
		}
	}
	/* Platforms new to the directory. */
	for (size_t j = 0; rc == 0 && j < nf; j++) {
		int held;
		if (!f[j].c)
			continue;
		pthread_mutex_lock(&s->mu);
		held = slot_find(s, f[j].fmspc, f[j].ca) != NULL;
		pthread_mutex_unlock(&s->mu);
		if (!held) {
			settle(s, f[j].fmspc, f[j].ca, &f[j], NULL, now, 0);
			f[j].c = NULL;
		}
	}
	found_free(f, nf);
	free(f);
	return failed;
}

/* ---------- the thread ---------- */

static void *refresher(void *arg)
{
	struct tdx_collstore *s = arg;
	struct timespec ts;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		pthread_mutex_unlock(&s->mu);
		/* failures are counted, kept and logged per platform, which
		 * keeps serving its current collateral */
		IGNORE_STATUS(tdx_collstore_refresh(s, time(NULL), 0));
		pthread_mutex_lock(&s->mu);
		if (s->stop)
			break;
		if (!s->kick) {
			/* The monotonic clock: a step of the wall clock neither
			 * stalls nor rushes the tick, and the next check sees it. */
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += TDX_COLLSTORE_TICK;
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		}
		s->kick = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---------- open, get, close ---------- */

int tdx_collstore_refreshable(const struct tdx_collstore *s)
{
	return s->kind != SRC_FILE;
}

static int is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

int tdx_collstore_open(const char *source, const struct tdx_collstore_opts *opts,
                       struct tdx_collstore **out)
{
	struct tdx_collstore *s = NULL;
	struct found *f = NULL;
	pthread_condattr_t ca;
	struct stat st;
	size_t nf = 0;
	time_t now = time(NULL);
	int rc = 0;

	*out = NULL;
	ENSURE(source && *source, ERR_INVAL, "collateral: no source given");
	s = calloc(1, sizeof(*s));
	f = calloc(TDX_COLLSTORE_MAX, sizeof(*f));
	if (!s || !f) {
		free(s);
		free(f);
		return err_set(ERR_NOMEM, "out of memory");
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->fetch_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(s->who, sizeof(s->who), "%s", opts && opts->who ? opts->who : "collateral");
	if (opts) {
		s->check = opts->check;
		s->check_ctx = opts->check_ctx;
		s->changed = opts->changed;
	}
	s->source = strdup(source);
	ENSURE_GOTO(s->source, ERR_NOMEM, "out of memory");

	if (is_url(source)) {
		s->kind = SRC_PCS;
		if (tdx_pcs_default_cache(s->cache, sizeof(s->cache)) < 0) {
			log_warn("collateral.cache",
			         "who=%s error=\"%s\" (fetching without a cache)", s->who,
			         err_msg());
			s->cache[0] = '\0';
		} else if (access(s->cache, F_OK) == 0) {
			GUARD_GOTO(scan_dir(s->cache, 1, 0, s->who, f, &nf));
		}
	} else {
		ENSURE_GOTO(stat(source, &st) == 0, ERR_IO, "collateral %s: %s", source,
		            strerror(errno));
		s->kind = S_ISDIR(st.st_mode) ? SRC_DIR : SRC_FILE;
		if (s->kind == SRC_DIR) {
			GUARD_GOTO(scan_dir(source, 0, 1, s->who, f, &nf));
		} else {
			GUARD_GOTO(load_found(source, &f[0]));
			nf = 1;
		}
	}
	for (size_t i = 0; i < nf; i++) {
		/* Two sets for one platform: the later nextUpdate is held. */
		int later = 1;
		for (size_t j = 0; j < nf; j++)
			if (j != i && f[j].c && memcmp(f[j].fmspc, f[i].fmspc, 6) == 0 &&
			    f[j].ca == f[i].ca &&
			    (f[j].next > f[i].next || (f[j].next == f[i].next && j < i)))
				later = 0;
		if (later) {
			settle(s, f[i].fmspc, f[i].ca, &f[i], NULL, now, 1);
			f[i].c = NULL;
		}
	}
	/* A plain file has nothing to refresh from; its thread only announces
	 * its end. */
	if (opts && opts->background) {
		ENSURE_GOTO(pthread_create(&s->thread, NULL, refresher, s) == 0, ERR_IO,
		            "collateral: cannot start the refresh thread");
		s->thread_on = 1;
	}
	*out = s;
	s = NULL;
out:
	found_free(f, nf);
	free(f);
	tdx_collstore_close(s);
	return rc;
}

void tdx_collstore_close(struct tdx_collstore *s)
{
	if (!s)
		return;
	if (s->thread_on) {
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
	}
	for (size_t i = 0; i < s->n; i++)
		held_put(s->slots[i].h);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->fetch_mu);
	free(s->source);
	free(s);
}

/* "50806f000000/platform, ..." for the error naming what is held. */
static void held_list(const struct tdx_collstore *s, char *out, size_t cap)
{
	size_t k = 0;
	char fx[13];
	out[0] = '\0';
	for (size_t i = 0; i < s->n && k + 32 < cap; i++) {
		if (!s->slots[i].h)
			continue;
		fmspc_hex(s->slots[i].fmspc, fx);
		k += (size_t)snprintf(out + k, cap - k, "%s%s/%s", k ? ", " : "", fx,
		                      ca_name(s->slots[i].ca));
	}
	if (!k)
		snprintf(out, cap, "none");
}

/* A platform not held, from the PCS: one fetch at a time, a bounded number
 * per window, and a failure remembered until its retry time. */
static int demand(struct tdx_collstore *s, const uint8_t fmspc[6], enum tdx_pck_ca ca, time_t now,
                  const struct tdx_held **out)
{
	char fx[13], t[32], msg[256];
	struct found f;
	struct slot *sl;
	int rc = 0;

	fmspc_hex(fmspc, fx);
	pthread_mutex_lock(&s->fetch_mu);
	pthread_mutex_lock(&s->mu);
	sl = slot_find(s, fmspc, ca);
	if (sl && sl->h) { /* fetched while this request waited */
		__atomic_add_fetch(&sl->h->refs, 1, __ATOMIC_RELAXED);
		*out = sl->h;
		goto unlock;
	}
	if (sl && sl->refresh_at > now) {
		time_format(sl->refresh_at, t);
		rc = err_set(ERR_NOTFOUND,
		             "no collateral for FMSPC %s (%s CA): fetching it failed (%s); next "
		             "try after %s",
		             fx, ca_name(ca), sl->last_error, t);
		goto unlock;
	}
	if (now - s->window_start >= TDX_COLLSTORE_FETCH_WINDOW || now < s->window_start) {
		s->window_start = now;
		s->window_fetches = 0;
	}
	if (s->window_fetches >= TDX_COLLSTORE_FETCHES || (!sl && s->n >= TDX_COLLSTORE_MAX)) {
		rc = err_set(ERR_NOTFOUND,
		             "no collateral for FMSPC %s (%s CA), and no fetch for it now: at most "
		             "%d platforms are held and %d fetched per %d s",
		             fx, ca_name(ca), TDX_COLLSTORE_MAX, TDX_COLLSTORE_FETCHES,
		             TDX_COLLSTORE_FETCH_WINDOW);
		goto unlock;
	}
	s->window_fetches++;
	pthread_mutex_unlock(&s->mu);

	log_info("collateral.fetch",
	         "who=%s fmspc=%s ca=%s pcs=\"%s\" (a quote of a platform "
	         "not held)",
	         s->who, fx, ca_name(ca), s->source);
	if (pcs_load(s, fmspc, ca, now, PCS_TIMEOUT, &f) == 0) {
		settle(s, fmspc, ca, &f, NULL, now, 0);
	} else {
		snprintf(msg, sizeof(msg), "%s", err_msg());
		settle(s, fmspc, ca, NULL, msg, now, 0);
	}
	pthread_mutex_lock(&s->mu);
	sl = slot_find(s, fmspc, ca);
	if (sl && sl->h) {
		__atomic_add_fetch(&sl->h->refs, 1, __ATOMIC_RELAXED);
		*out = sl->h;
	} else {
		rc = err_set(ERR_NOTFOUND, "no collateral for FMSPC %s (%s CA): %s", fx,
		             ca_name(ca), sl ? sl->last_error : "the store is full");
	}
unlock:
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_unlock(&s->fetch_mu);
	return rc;
}

int tdx_collstore_fetches(struct tdx_collstore *s, const uint8_t fmspc[6], enum tdx_pck_ca ca)
{
	struct slot *sl;
	int fetch;
	pthread_mutex_lock(&s->mu);
	sl = slot_find(s, fmspc, ca);
	fetch = s->kind == SRC_PCS && (!sl || !sl->h);
	pthread_mutex_unlock(&s->mu);
	return fetch;
}

int tdx_collstore_get(struct tdx_collstore *s, const uint8_t fmspc[6], enum tdx_pck_ca ca,
                      time_t now, const struct tdx_held **out)
{
	char fx[13], t[32], list[512];
	struct slot *sl;
	struct tdx_held *h;

	*out = NULL;
	pthread_mutex_lock(&s->mu);
	sl = slot_find(s, fmspc, ca);
	if ((!sl || !sl->h) && s->kind != SRC_PCS && s->n == 1 && s->slots[0].h)
		sl = &s->slots[0];
	if (!sl || !sl->h) {
		if (s->kind == SRC_PCS) {
			pthread_mutex_unlock(&s->mu);
			return demand(s, fmspc, ca, now, out);
		}
		held_list(s, list, sizeof(list));
		pthread_mutex_unlock(&s->mu);
		fmspc_hex(fmspc, fx);
		return err_set(ERR_NOTFOUND,
		               "no collateral for FMSPC %s (%s CA) in %s (it holds %s)", fx,
		               ca_name(ca), s->source, list);
	}
	h = sl->h;
	if (now > h->next_update) {
		fmspc_hex(h->fmspc, fx);
		time_format(h->next_update, t);
		if (s->kind == SRC_FILE)
			err_set(ERR_VERIFY,
			        "collateral for FMSPC %s expired at %s; no refresh source: give "
			        "--collateral a PCS URL, cache or directory",
			        fx, t);
		else
			err_set(ERR_VERIFY,
			        "collateral for FMSPC %s expired at %s; refreshing from %s: %s", fx,
			        t, s->source, sl->last_error[0] ? sl->last_error : "pending");
		s->kick = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		return ERR_VERIFY;
	}
	if (now >= sl->refresh_at && s->kind != SRC_FILE) {
		s->kick = 1;
		pthread_cond_signal(&s->cv);
	}
	__atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
	*out = h;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

void tdx_collstore_put(struct tdx_collstore *s, const struct tdx_held *h)
{
	(void)s;
	held_put((struct tdx_held *)h);
}

/* ---------- status ---------- */

static json_t *time_or_null(time_t t)
{
	char b[32];
	if (!t)
		return json_null();
	time_format(t, b);
	return json_string(b);
}

json_t *tdx_collstore_status(struct tdx_collstore *s, time_t now)
{
	static const char *const kinds[] = {"file", "directory", "pcs"};
	json_t *j = json_object(), *a = json_array();
	char fx[13];

	if (!j || !a) {
		json_decref(j);
		json_decref(a);
		return NULL;
	}
	json_object_set_new(j, "source", json_string(s->source));
	json_object_set_new(j, "kind", json_string(kinds[s->kind]));
	json_object_set_new(j, "refreshable", json_boolean(s->kind != SRC_FILE));
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n; i++) {
		const struct slot *sl = &s->slots[i];
		json_t *p = json_object();
		if (!p)
			continue;
		fmspc_hex(sl->fmspc, fx);
		json_object_set_new(p, "fmspc", json_string(fx));
		json_object_set_new(p, "ca", json_string(ca_name(sl->ca)));
		json_object_set_new(p, "next_update", time_or_null(sl->h ? sl->h->next_update : 0));
		json_object_set_new(p, "seconds_left",
		                    sl->h ? json_integer((json_int_t)(sl->h->next_update - now))
		                          : json_null());
		json_object_set_new(p, "next_refresh",
		                    s->kind == SRC_FILE ? json_null()
		                                        : time_or_null(sl->refresh_at));
		json_object_set_new(p, "last_refresh", time_or_null(sl->last_refresh));
		json_object_set_new(p, "refreshes", json_integer((json_int_t)sl->refreshes));
		json_object_set_new(p, "failures", json_integer((json_int_t)sl->failures_total));
		json_object_set_new(p, "last_error",
		                    sl->last_error[0] ? json_string(sl->last_error) : json_null());
		json_array_append_new(a, p);
	}
	pthread_mutex_unlock(&s->mu);
	json_object_set_new(j, "platforms", a);
	return j;
}

void tdx_collstore_metrics(struct tdx_collstore *s, time_t now, struct wbuf *w)
{
	char fx[13];

	/* The caller's buffer, which it checks after its own appends: out of
	 * memory, the lines that do not fit are left out here. */
	pthread_mutex_lock(&s->mu);
	IGNORE_STATUS(metrics_header(w, "tdexec_collateral_seconds_left",
	                             "Seconds until the held collateral of a platform expires "
	                             "(its earliest nextUpdate)",
	                             METRIC_GAUGE));
	for (size_t i = 0; i < s->n; i++) {
		if (!s->slots[i].h)
			continue;
		fmspc_hex(s->slots[i].fmspc, fx);
		IGNORE_STATUS(wbuf_printf(
		    w, "tdexec_collateral_seconds_left{fmspc=\"%s\",ca=\"%s\"} %lld\n", fx,
		    ca_name(s->slots[i].ca), (long long)(s->slots[i].h->next_update - now)));
	}
	IGNORE_STATUS(metrics_header(w, "tdexec_collateral_refresh_failures_total",
	                             "Failed refreshes of a platform's collateral",
	                             METRIC_COUNTER));
	for (size_t i = 0; i < s->n; i++) {
		fmspc_hex(s->slots[i].fmspc, fx);
		IGNORE_STATUS(wbuf_printf(
		    w, "tdexec_collateral_refresh_failures_total{fmspc=\"%s\",ca=\"%s\"} %lu\n", fx,
		    ca_name(s->slots[i].ca), s->slots[i].failures_total));
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---------- the quote's platform ---------- */

int tdx_quote_pck_target(const struct tdx_quote *q, uint8_t fmspc[6], enum tdx_pck_ca *ca)
{
	struct tdx_blob d[TDX_PCK_CHAIN_MAX_CERTS];
	struct x509_lite leaf;
	struct tdx_pck_ext e;
	size_t n = 0;
	int rc;

	rc = tdx_pem_certs_der(q->pck_chain, q->pck_chain_len, d, TDX_PCK_CHAIN_MAX_CERTS, &n);
	if (rc == 0)
		rc = n ? x509_lite_parse(d[0].p, d[0].len, "PCK certificate", &leaf)
		       : err_set(ERR_INVAL, "quote: no PCK certificate");
	if (rc == 0)
		rc = leaf.sgx_ext.len ? tdx_pck_ext_parse(leaf.sgx_ext.p, leaf.sgx_ext.len, &e)
		                      : err_set(ERR_INVAL, "PCK certificate: no SGX extension");
	if (rc == 0) {
		memcpy(fmspc, e.fmspc, 6);
		*ca = memmem(leaf.issuer.p, leaf.issuer.len, "Processor CA", 12)
		          ? TDX_PCK_CA_PROCESSOR
		          : TDX_PCK_CA_PLATFORM;
	}
	for (size_t i = 0; i < n; i++)
		free(d[i].p);
	return rc;
}
