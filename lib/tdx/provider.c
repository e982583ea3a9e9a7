#include "provider.h"

#include "tdx/sim.h"
#include "tdx/tsm.h"
#include "util/err.h"

#include <string.h>

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
