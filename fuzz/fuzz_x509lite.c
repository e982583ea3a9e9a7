/* libFuzzer: the strict DER reader for certificates and CRLs.  Invariant:
 * every span it returns lies inside the input. */
#include "tdx/x509lite.h"

#include <stdlib.h>

static void in(const uint8_t *data, size_t size, struct der_span s)
{
	if (s.len && (s.p < data || s.p + s.len > data + size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct x509_lite x;
	struct crl_lite c;

	if (x509_lite_parse(data, size, "fuzz", &x) == 0) {
		in(data, size, x.tbs);
		in(data, size, x.serial);
		in(data, size, x.issuer);
		in(data, size, x.subject);
		in(data, size, x.sgx_ext);
		(void)crl_lite_parse(data, size, "fuzz", &c);
	}
	if (crl_lite_parse(data, size, "fuzz", &c) == 0) {
		in(data, size, c.tbs);
		in(data, size, c.revoked);
		(void)crl_lite_revoked(&c, &c.issuer);
	}
	return 0;
}
