/* gate.c — collateral + verifier + policy, see gate.h. */
#include "tdx/gate.h"

#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int tdx_gate_open(struct tdx_gate *g, const char *collateral, const char *sim_root,
                  const char *policy, const char *who)
{
	uint8_t *root;
	size_t len;
	int rc;

	memset(g, 0, sizeof(*g));
	rc = tdx_collateral_load(collateral, &g->collateral);
	if (rc == 0 && sim_root) {
		rc = file_read(sim_root, 1 << 20, &root, &len);
		if (rc == 0) {
			rc = tdx_verifier_new_root(root, len, 1, &g->verifier);
			free(root);
		}
		if (rc == 0)
			log_warn(who, "trust=simulated root=\"%s\" (never use in production)",
			         sim_root);
	} else if (rc == 0) {
		rc = tdx_verifier_new(&g->verifier);
	}
	if (rc == 0)
		rc = policy ? tdx_policy_load(policy, &g->policy) : tdx_policy_default(&g->policy);
	if (rc < 0)
		tdx_gate_close(g);
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
	tdx_verifier_free(g->verifier);
	tdx_collateral_free(g->collateral);
	tdx_policy_free(g->policy);
	memset(g, 0, sizeof(*g));
}

int tdx_gate_check(struct tdx_gate *g, const uint8_t *raw, size_t len, struct tdx_quote **q,
                   struct tdx_verdict *v)
{
	json_t *mism;
	int rc;

	*q = NULL;
	GUARD(tdx_quote_parse(raw, len, q));
	rc = tdx_verify_parsed(g->verifier, raw, *q, g->collateral, time(NULL), v);
	if (rc == 0) {
		mism = json_array();
		rc = tdx_policy_check(g->policy, *q, v, mism);
		json_decref(mism);
	}
	if (rc < 0) {
		tdx_quote_free(*q);
		*q = NULL;
	}
	return rc;
}
