/* libFuzzer: what an OCI registry client parses from others: image
 * references (user input, the app's multiaddr), WWW-Authenticate
 * challenges and image indexes (registry replies).  The first byte picks
 * the parser. */
#include "oci/ref.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	if (size < 1 || size > 65536)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = 0;
	switch (data[0] % 3) {
	case 0: {
		struct oci_ref r;
		char out[600], host[256];
		if (oci_ref_parse(s, &r) == 0) {
			if (oci_ref_format(&r, out, sizeof(out)) < 0 ||
			    oci_ref_hostname(&r, host, sizeof(host)) < 0)
				abort(); /* a parsed reference always fits */
		}
		break;
	}
	case 1: {
		struct oci_challenge c;
		(void)oci_challenge_parse(s, &c);
		break;
	}
	default: {
		json_t *j = json_loadb(s, size - 1, 0, NULL);
		const json_t *d;
		if (j) {
			char name[128];
			(void)oci_is_index(j);
			if (oci_index_pick(j, &d) == 0)
				oci_platform_name(d, name, sizeof(name));
			json_decref(j);
		}
		break;
	}
	}
	free(s);
	return 0;
}
