/* collstore.h — the collateral a relying service holds: several platforms
 * at once, each chosen by the quote's PCK certificate (FMSPC and CA type,
 * processor or platform), and kept fresh before its earliest nextUpdate.
 *
 * Sources (the --collateral argument of the services):
 *   FILE.json    one platform in dcap-qvl's format; nothing to refresh from,
 *                so once it expires every quote of that platform is refused
 *                with an error that says so;
 *   DIR          a PCS directory (tcb_info.json, ... or collateral.json: one
 *                platform), or a directory of platforms: each subdirectory a
 *                PCS directory, each *.json file dcap-qvl's format (what
 *                `tdexec collateral fetch -o` writes, and the entries of a
 *                PCS cache, tdx-<fmspc>-<ca>.json).  Re-read to refresh, so
 *                whatever updates the files (a cron job running `tdexec
 *                collateral fetch`) updates the service;
 *   http(s)://…  an Intel PCS or a PCCS, through the PCS cache (pcs.h; the
 *                default cache directory).  What the cache holds is loaded at
 *                start; a quote of a platform not held yet fetches its
 *                collateral, at most TDX_COLLSTORE_FETCHES such fetches per
 *                TDX_COLLSTORE_FETCH_WINDOW seconds and TDX_COLLSTORE_MAX
 *                platforms, so a stranger's quotes cannot make the service
 *                hammer the PCS.
 *
 * Refresh: each platform is re-read (or re-fetched) at half its remaining
 * life and at least daily.  New collateral replaces the held one only once
 * it passed the caller's check (signatures, chains, validity now); readers
 * hold a reference to an immutable set, so a swap never shows them half of
 * one.  A failed refresh keeps the held set while it is valid, is logged and
 * retried with backoff (1 min doubling to 1 h).  Each refresh logs the time
 * left; under 7 days it is a warning.
 *
 * Thread-safe.  The background thread (opts.background) wakes at least every
 * TDX_COLLSTORE_TICK seconds of the monotonic clock, so a jump of the wall
 * clock (a suspended machine, a corrected clock) is noticed within a tick.
 */
#ifndef TDEXEC_TDX_COLLSTORE_H
#define TDEXEC_TDX_COLLSTORE_H

#include "tdx/collateral.h"
#include "tdx/pck.h"
#include "util/err.h"

#include <jansson.h>
#include <stdint.h>
#include <time.h>

#define TDX_COLLSTORE_MAX          64  /* platforms held */
#define TDX_COLLSTORE_FETCHES      8   /* PCS fetches for platforms not held ... */
#define TDX_COLLSTORE_FETCH_WINDOW 600 /* ... per this many seconds */
#define TDX_COLLSTORE_TICK         5   /* seconds between the thread's checks */
#define TDX_COLLSTORE_WARN_LEFT    (7 * 86400)

/* Checks a collateral set before it is served at `now` (the gate verifies
 * its signatures and chains); 0 or an error with err_msg(). */
typedef int (*tdx_collstore_check_fn)(void *ctx, const struct tdx_collateral *c, time_t now);

struct tdx_collstore_opts {
	const char *who;              /* names the service in log events */
	tdx_collstore_check_fn check; /* NULL: no check */
	void *check_ctx;
	int background; /* refresh from a thread; 0: only tdx_collstore_refresh() */
	/* called with check_ctx once what the store serves has changed (a set
	 * replaced, a platform added), from the thread that changed it: NULL =
	 * nobody to tell */
	void (*changed)(void *check_ctx);
};

struct tdx_collstore;

/* A platform's collateral, immutable while referenced. */
struct tdx_held {
	const struct tdx_collateral *c;
	uint8_t fmspc[6];
	enum tdx_pck_ca ca;
	time_t next_update; /* the earliest nextUpdate of TCB info, QE identity, CRLs */
	int refs;           /* the store's */
};

/* Open `source` (see above) and load what it holds as of time(NULL).  A
 * file or directory that does not load is an error; a PCS URL may start
 * with nothing held.  opts may be NULL. */
MUST_CHECK int tdx_collstore_open(const char *source, const struct tdx_collstore_opts *opts,
                                  struct tdx_collstore **out);
void tdx_collstore_close(struct tdx_collstore *s);

/* 1 when the source can be refreshed from (a directory or a PCS URL). */
MUST_CHECK int tdx_collstore_refreshable(const struct tdx_collstore *s);

/* 1 when a quote of (fmspc, ca) would make the store fetch collateral (a
 * PCS source that does not hold the platform yet). */
int tdx_collstore_fetches(struct tdx_collstore *s, const uint8_t fmspc[6], enum tdx_pck_ca ca);

/* The collateral for (fmspc, ca) at `now`: 0 with *out referenced (drop it
 * with tdx_collstore_put).  Otherwise ERR_NOTFOUND (no such platform, and
 * none could be fetched) or ERR_VERIFY (the held collateral expired; the
 * message says when and whether a refresh source exists), with err_msg().
 * A store that holds a single platform and cannot fetch others answers
 * with it for any platform, so the verifier names the precise mismatch. */
MUST_CHECK int tdx_collstore_get(struct tdx_collstore *s, const uint8_t fmspc[6],
                                 enum tdx_pck_ca ca, time_t now, const struct tdx_held **out);
void tdx_collstore_put(struct tdx_collstore *s, const struct tdx_held *h);

/* Refresh every platform due at `now` (force: every platform); what the
 * background thread runs.  Returns the number of failed refreshes. */
MUST_CHECK int tdx_collstore_refresh(struct tdx_collstore *s, time_t now, int force);

/* Status as JSON (json_decref()): the source and, per platform, fmspc, ca,
 * next_update, seconds_left, next_refresh, last_refresh, refreshes, failures,
 * last_error. */
json_t *tdx_collstore_status(struct tdx_collstore *s, time_t now);

/* Prometheus lines: tdexec_collateral_seconds_left{fmspc,ca} (a gauge),
 * tdexec_collateral_refresh_failures_total{fmspc,ca}, appended to w. */
struct wbuf;
void tdx_collstore_metrics(struct tdx_collstore *s, time_t now, struct wbuf *w);

/* The FMSPC and CA type of a parsed quote's PCK certificate. */
struct tdx_quote;
MUST_CHECK int tdx_quote_pck_target(const struct tdx_quote *q, uint8_t fmspc[6],
                                    enum tdx_pck_ca *ca);

#endif
