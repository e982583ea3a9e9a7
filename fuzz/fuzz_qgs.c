/* libFuzzer: the QGS framing, both directions (a response is what a
 * hostile host sends the guest; a request is what the test QGS parses). */
#include "tdx/qgs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p;
	size_t n;
	uint32_t code;
	if (tdx_qgs_response_parse(data, size, &p, &n) == 0 && (p < data || p + n > data + size))
		__builtin_trap(); /* the quote must be a view inside the input */
	(void)tdx_qgs_request_parse(data, size, &p, &code);
	return 0;
}
