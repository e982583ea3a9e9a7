/* bench_eth — secp256k1 and EIP-712 on one core, beside their peers:
 * libsecp256k1 called directly (what tdexec's wrappers add), and ethers v6
 * for EIP-712 order hashes (its rate is passed in by bench/run).
 * Usage: bench_eth [SECONDS] [ethers_eip712=RATE] */
#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/eip712.h"
#include "benchutil.h"
#include "util/err.h"

#include <jansson.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ctx {
	uint8_t priv[32], digest[32], sig[65], addr[20];
	secp256k1_context *raw;
	secp256k1_ecdsa_recoverable_signature rs;
	json_t *typed;
};

static int op_sign(void *p)
{
	struct ctx *c = p;
	return k1_sign(c->priv, c->digest, c->sig);
}

static int op_recover(void *p)
{
	struct ctx *c = p;
	return k1_recover(c->digest, c->sig, c->addr);
}

static int op_raw_sign(void *p)
{
	struct ctx *c = p;
	return secp256k1_ecdsa_sign_recoverable(c->raw, &c->rs, c->digest, c->priv, NULL, NULL) == 1
	           ? 0
	           : -1;
}

static int op_raw_recover(void *p)
{
	struct ctx *c = p;
	secp256k1_pubkey pk;
	uint8_t out[65];
	size_t n = sizeof(out);
	if (secp256k1_ecdsa_recover(c->raw, &pk, &c->rs, c->digest) != 1)
		return -1;
	/* the address, as k1_recover computes it */
	secp256k1_ec_pubkey_serialize(c->raw, out, &n, &pk, SECP256K1_EC_UNCOMPRESSED);
	keccak256(out + 1, 64, out);
	return 0;
}

static int op_eip712(void *p)
{
	struct ctx *c = p;
	uint8_t h[32];
	return eip712_digest(c->typed, h);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0, sign, rec, rsign, rrec, e712, peer = 0;
	struct ctx c;
	const char *a = "0x1111111111111111111111111111111111111111";

	memset(&c, 0, sizeof(c));
	for (int i = 2; i < argc; i++)
		sscanf(argv[i], "ethers_eip712=%lf", &peer);
	bench_must(k1_keygen(c.priv));
	memset(c.digest, 0x5a, 32);
	bench_must(k1_sign(c.priv, c.digest, c.sig));
	c.raw = secp256k1_context_create(SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY);
	op_raw_sign(&c);
	c.typed = json_pack(
	    "{s:{s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}"
	    ","
	    "{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]},s:s,"
	    "s:{s:s,s:s,s:i,s:s},s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}}",
	    "types", "RequestOrder", "name", "app", "type", "address", "name", "appmaxprice",
	    "type", "uint256", "name", "dataset", "type", "address", "name", "datasetmaxprice",
	    "type", "uint256", "name", "workerpool", "type", "address", "name",
	    "workerpoolmaxprice", "type", "uint256", "name", "requester", "type", "address", "name",
	    "volume", "type", "uint256", "name", "tag", "type", "bytes32", "name", "category",
	    "type", "uint256", "name", "trust", "type", "uint256", "name", "beneficiary", "type",
	    "address", "name", "callback", "type", "address", "name", "params", "type", "string",
	    "name", "salt", "type", "bytes32", "primaryType", "RequestOrder", "domain", "name",
	    "iExecODB", "version", "5.0.0", "chainId", 31337, "verifyingContract", a, "message",
	    "app", a, "appmaxprice", "1000000000", "dataset", a, "datasetmaxprice", "0",
	    "workerpool", a, "workerpoolmaxprice", "4000000000", "requester", a, "volume", "1",
	    "tag", "0x0000000000000000000000000000000000000000000000000000000000000009", "category",
	    "0", "trust", "1", "beneficiary", a, "callback",
	    "0x0000000000000000000000000000000000000000", "params", "{\"iexec_args\":\"hello\"}",
	    "salt", "0x4242424242424242424242424242424242424242424242424242424242424242");
	if (!c.typed) {
		fprintf(stderr, "bench: typed data\n");
		return 1;
	}
	sign = bench_rate(secs, op_sign, &c);
	rsign = bench_rate(secs, op_raw_sign, &c);
	rec = bench_rate(secs, op_recover, &c);
	rrec = bench_rate(secs, op_raw_recover, &c);
	e712 = bench_rate(secs, op_eip712, &c);

	printf("bench eth (one core, %.1f s per case)\n", secs);
	printf("  %-44s %10.0f /s\n", "k1_sign (RFC 6979, recoverable)", sign);
	printf("  %-44s %10.0f /s\n", "libsecp256k1 sign_recoverable, direct", rsign);
	printf("  %-44s %10.0f /s\n", "k1_recover (to an address, low-s check)", rec);
	printf("  %-44s %10.0f /s\n", "libsecp256k1 recover + keccak, direct", rrec);
	printf("  %-44s %10.0f /s\n", "EIP-712 RequestOrder hash (from JSON)", e712);
	if (peer > 0)
		printf("  %-44s %10.0f /s\n", "ethers v6 TypedDataEncoder.hash", peer);
	printf("ratios\n");
	printf("  sign / libsecp256k1                 %8.2f\n", sign / rsign);
	printf("  recover / libsecp256k1              %8.2f\n", rec / rrec);
	if (peer > 0)
		printf("  EIP-712 / ethers                    %8.1f x  (target >= 20)\n",
		       e712 / peer);
	json_decref(c.typed);
	secp256k1_context_destroy(c.raw);
	return 0;
}
