/* libFuzzer: collateral JSON — TCB info, QE identity, PCS response bodies
 * and dcap-qvl collateral documents. */
#include "tdx/collateral.h"
#include "tdx/tcbinfo.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdx_tcb_info *t;
	struct tdx_qe_identity *q;
	struct tdx_collateral *c;
	const char *obj;
	size_t olen;
	uint8_t sig[64];

	if (tdx_tcb_info_parse((const char *)data, size, &t) == 0)
		tdx_tcb_info_free(t);
	if (tdx_qe_identity_parse((const char *)data, size, &q) == 0)
		tdx_qe_identity_free(q);
	if (tdx_pcs_body_split((const char *)data, size, "tcbInfo", &obj, &olen, sig) == 0 &&
	    (obj < (const char *)data || obj + olen > (const char *)data + size))
		abort();
	if (tdx_collateral_from_json((const char *)data, size, &c) == 0)
		tdx_collateral_free(c);
	return 0;
}
