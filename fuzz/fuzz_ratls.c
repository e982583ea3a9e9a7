/* libFuzzer: RA-TLS certificates as a client receives them (DER from the
 * TLS handshake): the quote and configuration extensions' extraction, the
 * whole check against a gate (a simulated TD made at start), and the
 * configuration document's parser on the raw input.  Invariants: no crash,
 * a certificate the check admits has a quote the extractor returns and a
 * configuration whose hash the check reports, and a document the parser
 * accepts writes back to the same bytes. */
#include "tdx/ratls.h"
#include "tdx/sim.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tdx_gate gate;
static struct tdx_ratls_expect expect = {&gate, NULL, NULL};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/fuzz-ratls-XXXXXX", col[64], root[64];
	struct tdx_sim_opts o = {0, 0, 0};
	(void)argc;
	(void)argv;
	log_set_level(LOG_OFF);
	if (!mkdtemp(dir) || tdx_sim_init(dir, &o) < 0)
		abort();
	snprintf(col, sizeof(col), "%s/collateral/collateral.json", dir);
	snprintf(root, sizeof(root), "%s/root_ca.pem", dir);
	if (tdx_gate_open(&gate, col, root, NULL, "fuzz") < 0)
		abort();
	/* the gate holds what it needs: the scratch TD can go */
	char rm[96];
	snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
	if (system(rm) != 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tdx_verdict v;
	uint8_t *q = NULL, h[32];
	size_t qlen, n;
	json_t *doc = NULL;
	char *again = NULL;
	int admitted = tdx_ratls_check(&expect, data, size, &v, h, &doc) == 0;
	int has_quote = tdx_ratls_quote(data, size, &q, &qlen) == 0;
	free(q);
	if (admitted && (!has_quote || !doc))
		abort();
	json_decref(doc);
	doc = NULL;
	if (tdx_ratls_config_parse(data, size, &doc) == 0) {
		if (tdx_ratls_canonical(doc, &again, &n) < 0 || n != size ||
		    memcmp(again, data, n) != 0)
			abort();
		free(again);
		json_decref(doc);
	}
	return 0;
}
