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
};

/* "tsm" or "sim"; ERR_INVAL otherwise. */
MUST_CHECK int tdx_provider_parse(const char *name, enum tdx_provider_kind *out);

/* A quote carrying report_data, as a new buffer (free()). */
MUST_CHECK int tdx_provider_quote(const struct tdx_provider *p, const uint8_t report_data[64],
                                  uint8_t **quote, size_t *len);

#endif
