#include "provider.h"

#include "tdx/eventlog.h"
#include "tdx/qgs.h"
#include "tdx/rtmr.h"
#include "tdx/sim.h"
#include "tdx/tsm.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* How long `auto` waits for a QGS to accept a connection: the host's QGS
 * accepts at once, and a guest without one gets a reset as fast. */
#define AUTO_PROBE_MS 500

static const char *const names[] = {"tsm", "sim", "qgs", "auto"};

int tdx_provider_parse(const char *name, enum tdx_provider_kind *out)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (enum tdx_provider_kind)i;
			return 0;
		}
	}
	return err_set(ERR_INVAL, "unknown quote provider '%s' (tsm, sim, qgs, auto)", name);
}

const char *tdx_provider_name(enum tdx_provider_kind kind)
{
	return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

int tdx_provider_simulated(const struct tdx_provider *p)
{
	return p->kind == TDX_PROVIDER_SIM ||
	       ((p->kind == TDX_PROVIDER_QGS || p->kind == TDX_PROVIDER_AUTO) && p->sim_dir);
}

int tdx_provider_check(const struct tdx_provider *p)
{
	struct tdx_qgs_addr a;
	ENSURE(p->kind != TDX_PROVIDER_SIM || p->sim_dir, ERR_INVAL,
	       "the sim provider needs --sim-dir DIR");
	if (p->kind == TDX_PROVIDER_QGS || p->kind == TDX_PROVIDER_AUTO)
		GUARD(tdx_qgs_addr_parse(p->qgs, &a));
	return 0;
}

static int sim_quote(const struct tdx_provider *p, const uint8_t rd[64], uint8_t **quote,
                     size_t *len)
{
	struct tdx_sim *s;
	int rc;

	ENSURE(p->sim_dir, ERR_INVAL,
	       "the sim provider needs a simulated TD directory (--sim-dir)");
	GUARD(tdx_sim_load(p->sim_dir, p->measurements, &s));
	rc = tdx_sim_quote(s, rd, quote, len);
	tdx_sim_free(s);
	return rc;
}

static int qgs_opts(const struct tdx_provider *p, struct tdx_qgs_opts *o)
{
	memset(o, 0, sizeof(*o));
	GUARD(tdx_qgs_addr_parse(p->qgs, &o->addr));
	o->timeout_ms = p->qgs_timeout_ms;
	return 0;
}

/* The TDREPORT: the simulated TD's, a test's, or the kernel's. */
static int get_report(const struct tdx_provider *p, const uint8_t rd[64],
                      uint8_t report[TDX_REPORT_SIZE])
{
	struct tdx_sim *s;
	int rc;

	if (p->report_ops)
		return p->report_ops->get(p->report_ops->ctx, rd, report);
	if (!p->sim_dir)
		return tdx_report_get0(p->tdx_guest, rd, report);
	GUARD(tdx_sim_load(p->sim_dir, p->measurements, &s));
	rc = tdx_sim_report(s, rd, report);
	tdx_sim_free(s);
	return rc;
}

static int qgs_quote(const struct tdx_provider *p, const struct tdx_qgs_opts *o,
                     const uint8_t rd[64], uint8_t **quote, size_t *len)
{
	uint8_t report[TDX_REPORT_SIZE];
	int rc;

	GUARD(get_report(p, rd, report));
	rc = tdx_qgs_quote(o, report, quote, len);
	/* a TDREPORT is not secret, but nothing else needs it */
	memset(report, 0, sizeof(report));
	return rc;
}

/* auto: the provider chosen last, logged when it changes (-1: none yet). */
static int auto_last = -1;

static int auto_quote(const struct tdx_provider *p, const uint8_t rd[64], uint8_t **quote,
                      size_t *len)
{
	struct tdx_qgs_opts o;
	enum tdx_provider_kind k;
	char addr[128];
	int last;

	GUARD(qgs_opts(p, &o));
	o.connect_ms = AUTO_PROBE_MS;
	tdx_qgs_addr_str(&o.addr, addr, sizeof(addr));
	if (tdx_qgs_probe(&o) == 0)
		k = TDX_PROVIDER_QGS;
	else
		k = p->sim_dir ? TDX_PROVIDER_SIM : TDX_PROVIDER_TSM;
	last = __atomic_exchange_n(&auto_last, (int)k, __ATOMIC_RELAXED);
	if (last != (int)k) {
		if (k == TDX_PROVIDER_QGS)
			log_info("provider.auto", "chosen=qgs qgs=%s", addr);
		else
			log_info("provider.auto", "chosen=%s qgs=%s reason=\"%s\"",
			         tdx_provider_name(k), addr, err_msg());
	}
	err_clear();
	if (k == TDX_PROVIDER_QGS) {
		o.connect_ms = 0;
		return qgs_quote(p, &o, rd, quote, len);
	}
	if (k == TDX_PROVIDER_SIM)
		return sim_quote(p, rd, quote, len);
	return tdx_tsm_quote(p->tsm_root, NULL, rd, quote, len);
}

int tdx_provider_quote(const struct tdx_provider *p, const uint8_t report_data[64], uint8_t **quote,
                       size_t *len)
{
	struct tdx_qgs_opts o;

	switch (p->kind) {
	case TDX_PROVIDER_TSM: return tdx_tsm_quote(p->tsm_root, NULL, report_data, quote, len);
	case TDX_PROVIDER_SIM: return sim_quote(p, report_data, quote, len);
	case TDX_PROVIDER_QGS:
		GUARD(qgs_opts(p, &o));
		return qgs_quote(p, &o, report_data, quote, len);
	case TDX_PROVIDER_AUTO: return auto_quote(p, report_data, quote, len);
	}
	return err_set(ERR_INVAL, "unknown quote provider %d", (int)p->kind);
}

/* ---------- run-time measurement ---------- */

int tdx_provider_extend(const struct tdx_provider *p, int rtmr, const uint8_t digest[48],
                        const char *event)
{
	/* a simulated TD's registers are in SIM_DIR, whichever path its
	 * quotes take (sim, or qgs / auto quoting its TDREPORT) */
	if (tdx_provider_simulated(p)) {
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
	if (tdx_provider_simulated(p)) {
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
