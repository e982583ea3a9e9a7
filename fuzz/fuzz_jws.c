/* libFuzzer: attestation-result tokens as `tdexec ear verify` receives them:
 * jws_verify against a JWK Set holding one P-256 key (kid "fuzz"), the one
 * the seed corpus is signed with so that runs reach the payload (its
 * private half was not kept), and the base64url decoder
 * on the raw input.  Invariants: no crash; a token accepted has "alg"
 * ES256 and a JSON object as payload; a decoded string encodes back to the
 * same characters (one encoding per byte string). */
#include "crypto/jws.h"

#include <stdlib.h>
#include <string.h>

static json_t *jwks;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	jwks = json_pack("{s:[{s:s,s:s,s:s,s:s,s:s}]}", "keys", "kty", "EC", "crv", "P-256", "kid",
	                 "fuzz", "x", "6Z4auNujtjm8MVG4FDQmGzkyemM3vJfy7ngSv0FUXZ8", "y",
	                 "LfK4Kl2pm41H8FYlp1_CxPcy1sV4WYI8vT_BEJy8YLA");
	if (!jwks)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *h = NULL, *p = NULL;
	uint8_t *b = NULL;
	size_t n;

	if (jws_verify((const char *)data, size, jwks, &h, &p) == 0) {
		const char *alg = json_string_value(json_object_get(h, "alg"));
		if (!alg || strcmp(alg, "ES256") != 0 || !json_is_object(p))
			abort();
	}
	json_decref(h);
	json_decref(p);
	if (b64url_decode((const char *)data, size, "fuzz", &b, &n) == 0) {
		char *again = malloc(b64url_len(n) + 1);
		if (!again)
			abort();
		b64url_encode(again, b, n);
		if (strlen(again) != size || memcmp(again, data, size) != 0)
			abort();
		free(again);
	}
	free(b);
	return 0;
}
