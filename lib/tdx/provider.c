#include "provider.h"

#include "tdx/eventlog.h"
#include "tdx/rtmr.h"
#include "tdx/sim.h"
#include "tdx/tsm.h"
#include "util/err.h"
#include "util/file.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int tdx_provider_parse(const char *name, enum tdx_provider_kind *out)
{
	if (strcmp(name, "tsm") == 0)
		*out = TDX_PROVIDER_TSM;
	else if (strcmp(name, "sim") == 0)
		*out = TDX_PROVIDER_SIM;
	else
		return err_set(ERR_INVAL, "unknown quote provider '%s' (tsm, sim)", name);
	return 0;
}

int tdx_provider_quote(const struct tdx_provider *p, const uint8_t report_data[64], uint8_t **quote,
                       size_t *len)
{
	struct tdx_sim *s;
	int rc;

	if (p->kind == TDX_PROVIDER_TSM)
		return tdx_tsm_quote(p->tsm_root, NULL, report_data, quote, len);
	ENSURE(p->sim_dir, ERR_INVAL,
	       "the sim provider needs a simulated TD directory (--sim-dir)");
	GUARD(tdx_sim_load(p->sim_dir, p->measurements, &s));
	rc = tdx_sim_quote(s, report_data, quote, len);
	tdx_sim_free(s);
	return rc;
}

/* ---------- run-time measurement ---------- */

int tdx_provider_extend(const struct tdx_provider *p, int rtmr, const uint8_t digest[48],
                        const char *event)
{
	if (p->kind == TDX_PROVIDER_SIM) {
		ENSURE(p->sim_dir, ERR_INVAL,
		       "the sim provider needs a simulated TD directory (--sim-dir)");
		return tdx_sim_extend(p->sim_dir, rtmr, digest, event);
	}
	ENSURE(p->runtime_log, ERR_INVAL, "no runtime event log file to record RTMR extends in");
	return tdx_rtmr_log_extend(NULL, p->runtime_log, rtmr, digest, event);
}

int tdx_provider_runtime_log(const struct tdx_provider *p, char **text, size_t *len)
{
	char path[PATH_MAX];
	const char *log = p->runtime_log;
	struct stat st;
	uint8_t *buf;

	*text = NULL;
	*len = 0;
	if (p->kind == TDX_PROVIDER_SIM) {
		ENSURE(p->sim_dir, ERR_INVAL,
		       "the sim provider needs a simulated TD directory (--sim-dir)");
		int n = snprintf(path, sizeof(path), "%s/event_log.jsonl", p->sim_dir);
		ENSURE(n > 0 && (size_t)n < sizeof(path), ERR_INVAL, "%s: path too long",
		       p->sim_dir);
		log = path;
	}
	if (!log || (stat(log, &st) != 0 && errno == ENOENT))
		return 0;
	GUARD(file_read(log, TDX_EVENTLOG_MAX, &buf, len));
	*text = (char *)buf;
	return 0;
}
