/* provider.h — one entry point over the quote providers. */
#ifndef TDEXEC_TDX_PROVIDER_H
#define TDEXEC_TDX_PROVIDER_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

enum tdx_provider_kind { TDX_PROVIDER_TSM = 0, TDX_PROVIDER_SIM };

struct tdx_provider {
	enum tdx_provider_kind kind;
	const char *sim_dir;      /* sim: the directory made by tdx_sim_init() */
	const char *measurements; /* sim: overrides SIM_DIR/td.json */
	const char *tsm_root;     /* tsm: NULL = /sys/kernel/config/tsm/report */
	const char *runtime_log;  /* not sim: the runtime event log (tdx_provider_extend) */
};

/* "tsm" or "sim"; ERR_INVAL otherwise. */
MUST_CHECK int tdx_provider_parse(const char *name, enum tdx_provider_kind *out);

/* A quote carrying report_data, as a new buffer (free()). */
MUST_CHECK int tdx_provider_quote(const struct tdx_provider *p, const uint8_t report_data[64],
                                  uint8_t **quote, size_t *len);

/* Measure at run time: RTMR[rtmr] = SHA-384(RTMR || digest), the event
 * recorded in the runtime event log.  sim: tdx_sim_extend (SIM_DIR's td.json
 * and event_log.jsonl); otherwise the TD's own registers through the kernel
 * (tdx_rtmr_log_extend, rtmr 2 or 3) with the log at p->runtime_log. */
MUST_CHECK int tdx_provider_extend(const struct tdx_provider *p, int rtmr, const uint8_t digest[48],
                                   const char *event);

/* That runtime log's text (free()), what a verifier replays with the quote;
 * NULL and 0 when nothing was extended yet (no file). */
MUST_CHECK int tdx_provider_runtime_log(const struct tdx_provider *p, char **text, size_t *len);

#endif
