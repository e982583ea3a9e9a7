/* libFuzzer: RLP and ABI decoding of arbitrary bytes.  The first byte picks
 * an ABI type from the shapes PoCo returns; RLP is walked recursively. */
#include "eth/abi.h"
#include "eth/rlp.h"

static void walk(struct rd *r, int depth)
{
	while (rd_left(r) && depth < 32) {
		struct rd p;
		int list;
		if (rlp_next(r, &list, &p) < 0)
			return;
		if (list)
			walk(&p, depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = {
	    "(uint256)",
	    "(bytes)",
	    "(string,uint256)",
	    "(address[],bytes32)",
	    "((uint8,bytes32,bytes32,address,uint256))",
	    ("((uint8,bytes32,uint256,uint256,uint256,uint256,uint256,bytes32,uint256,uint256,"
	     "address[],bytes32,bytes,uint256,bytes))"),
	    "((address,uint8,bytes4[])[],(address,address,bytes))",
	    "(int64[3],bool)"};
	struct rd r;
	json_t *v;

	rd_init(&r, data, size, "fuzz");
	walk(&r, 0);
	if (size && abi_decode_str(types[data[0] % 8], data + 1, size - 1, &v) == 0)
		json_decref(v);
	return 0;
}
