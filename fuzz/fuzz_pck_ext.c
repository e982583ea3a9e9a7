/* libFuzzer: the Intel SGX extension decoder (DER from PCK certificates).
 * Invariant: what decodes re-encodes and decodes to the same values. */
#include "tdx/pck.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdx_pck_ext a, b;
	uint8_t *der;
	size_t len;

	if (tdx_pck_ext_parse(data, size, &a) < 0)
		return 0;
	if (tdx_pck_ext_encode(&a, &der, &len) < 0)
		abort();
	if (tdx_pck_ext_parse(der, len, &b) < 0 || memcmp(a.comp_svn, b.comp_svn, 16) ||
	    a.pcesvn != b.pcesvn || memcmp(a.fmspc, b.fmspc, 6) || memcmp(a.ppid, b.ppid, 16))
		abort();
	free(der);
	return 0;
}
