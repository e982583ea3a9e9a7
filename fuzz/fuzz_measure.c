/* libFuzzer: TDVF metadata and MRTD, PE Authenticode, the checked CCEL
 * reading of tdexec measure. */
#include "tdx/authenticode.h"
#include "tdx/measure.h"
#include "tdx/tdvf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tdvf t;
	struct tdx_mlog l;
	uint8_t d[48];

	if (tdvf_parse(data, size, &t) == 0)
		(void)tdvf_mrtd(&t, TDVF_ORDER_TWO_PASS, d);
	(void)pe_authenticode_sha384(data, size, d);
	tdx_mlog_init(&l);
	(void)tdx_mlog_from_ccel(&l, data, size, data, size < 64 ? size : 64, 0xffe00000u);
	tdx_mlog_free(&l);
	return 0;
}
