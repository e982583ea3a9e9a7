/* provider.h — one entry point over the quote providers.
 *
 *   tsm   Linux configfs-tsm: the kernel asks the host for the quote (on
 *         real TDX, ~1 s per quote: the kernel polls the host once a second)
 *   sim   the simulated TD in sim_dir (never trusted by default)
 *   qgs   TDREPORT from /dev/tdx_guest (or, with sim_dir, from the simulated
 *         TD), the quote from the host's QGS over vsock: milliseconds
 *   auto  qgs when a QGS accepts a connection at the address, otherwise tsm
 *         (sim with sim_dir); the choice is logged when it is made or changes
 */
#ifndef TDEXEC_TDX_PROVIDER_H
#define TDEXEC_TDX_PROVIDER_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

enum tdx_provider_kind {
	TDX_PROVIDER_TSM = 0,
	TDX_PROVIDER_SIM,
	TDX_PROVIDER_QGS,
	TDX_PROVIDER_AUTO
};

struct tdx_report_ops;

struct tdx_provider {
	enum tdx_provider_kind kind;
	const char *sim_dir;      /* sim: the directory made by tdx_sim_init(); qgs, auto:
	                             TDREPORTs from this simulated TD */
	const char *measurements; /* sim, qgs with sim_dir: overrides SIM_DIR/td.json */
	const char *tsm_root;     /* tsm: NULL = /sys/kernel/config/tsm/report */
	const char *qgs;       /* qgs, auto: "vsock:CID:PORT" or "unix:PATH"; NULL = vsock:2:4050 */
	int qgs_timeout_ms;    /* qgs, auto: a whole exchange; 0 = TDX_QGS_TIMEOUT_MS */
	const char *tdx_guest; /* qgs: the TDREPORT device; NULL = /dev/tdx_guest */
	const struct tdx_report_ops *report_ops; /* qgs: overrides tdx_guest (tests) */
	const char *runtime_log; /* not sim: the runtime event log (tdx_provider_extend) */
};

/* "tsm", "sim", "qgs" or "auto"; ERR_INVAL otherwise. */
MUST_CHECK int tdx_provider_parse(const char *name, enum tdx_provider_kind *out);
/* The name tdx_provider_parse() takes. */
const char *tdx_provider_name(enum tdx_provider_kind kind);

/* Does the provider's quote come from a simulated TD (sim, or qgs / auto
 * with sim_dir)?  Such quotes chain to the simulated root: they are
 * labelled simulated and trusted only with --trust-sim-root. */
int tdx_provider_simulated(const struct tdx_provider *p);

/* Check the configuration without getting a quote: the sim provider needs
 * sim_dir, a QGS address must parse.  ERR_INVAL with the reason. */
MUST_CHECK int tdx_provider_check(const struct tdx_provider *p);

/* A quote carrying report_data, as a new buffer (free()). */
MUST_CHECK int tdx_provider_quote(const struct tdx_provider *p, const uint8_t report_data[64],
                                  uint8_t **quote, size_t *len);

/* Measure at run time: RTMR[rtmr] = SHA-384(RTMR || digest), the event
 * recorded in the runtime event log.  A simulated TD (tdx_provider_simulated:
 * sim, or qgs / auto with sim_dir): tdx_sim_extend (SIM_DIR's td.json and
 * event_log.jsonl); otherwise the TD's own registers through the kernel
 * (tdx_rtmr_log_extend, rtmr 2 or 3) with the log at p->runtime_log. */
MUST_CHECK int tdx_provider_extend(const struct tdx_provider *p, int rtmr, const uint8_t digest[48],
                                   const char *event);

/* That runtime log's text (free()), what a verifier replays with the quote;
 * NULL and 0 when nothing was extended yet (no file). */
MUST_CHECK int tdx_provider_runtime_log(const struct tdx_provider *p, char **text, size_t *len);

#endif
