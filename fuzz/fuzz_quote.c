/* libFuzzer: the quote parser on arbitrary bytes.  Invariants: a parsed
 * quote serializes back to exactly the input, and rendering it (which also
 * decodes the PCK chain and its SGX extension) never fails unsafely. */
#include "tdx/quote.h"
#include "tdx/quote_show.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdx_quote *q;
	uint8_t *out;
	size_t len;
	json_t *j;

	if (tdx_quote_parse(data, size, &q) < 0)
		return 0;
	if (tdx_quote_serialize(q, 1, &out, &len) < 0 || len != size || memcmp(out, data, size))
		abort(); /* round trip must be byte-exact */
	free(out);
	j = tdx_quote_to_json(q, NULL);
	json_decref(j);
	tdx_quote_free(q);
	return 0;
}
