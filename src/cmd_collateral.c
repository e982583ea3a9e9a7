/* tdexec collateral fetch */
#include "cli.h"

#include "tdx/pcs.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/timefmt.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char coll_usage[] =
    "Usage: tdexec collateral COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  fetch   get TDX collateral from an Intel PCS or a PCCS into the cache\n";

static const char fetch_usage[] =
    "Usage: tdexec collateral fetch --pcs URL (--quote FILE | --fmspc HEX [--ca CA])\n"
    "                               [--cache DIR] [--root-crl-url URL] [--at TIME] [-o FILE]\n"
    "                               [--json]\n"
    "\n"
    "Fetch (or reuse from the cache while fresh) the TCB info, QE identity, PCK CRL,\n"
    "root CA CRL and issuer chains for a platform, and write them in dcap-qvl's JSON\n"
    "format to FILE ('-' = stdout).\n"
    "\n"
    "  --pcs URL            PCS or PCCS base URL (https://api.trustedservices.intel.com)\n"
    "  --quote FILE         take FMSPC and CA type from this quote's PCK certificate\n"
    "  --fmspc HEX          the platform's FMSPC (6 bytes)\n"
    "  --ca CA              platform (default) or processor\n"
    "  --cache DIR          cache directory (default ~/.cache/tdexec/pcs)\n"
    "  --root-crl-url URL   where the root CA CRL is (default: derived from --pcs)\n"
    "  --at TIME            decide freshness as of TIME (default now)\n"
    "  -o, --output FILE    also write the collateral to FILE\n"
    "  --json               print what was fetched as JSON: {source (pcs or cache),\n"
    "                       fmspc, tcbInfo and qeIdentity (issueDate, nextUpdate,\n"
    "                       tcbEvaluationDataNumber), sha256, output}\n";

int cli_pcs_collateral(const char *pcs, const char *cache, const char *root_crl,
                       const uint8_t *quote, size_t qlen, const uint8_t *fmspc_in, int ca_in,
                       time_t at, struct tdx_collateral **out)
{
	enum tdx_pck_ca ca = (enum tdx_pck_ca)ca_in;
	struct tdx_pcs p = {pcs, cache, root_crl, 0};
	char dir[PATH_MAX];
	uint8_t fmspc[6];
	int cached;

	if (!p.cache_dir) {
		GUARD(tdx_pcs_default_cache(dir, sizeof(dir)));
		p.cache_dir = dir;
	}
	if (quote)
		GUARD(tdx_pcs_quote_target(quote, qlen, fmspc, &ca));
	else
		memcpy(fmspc, fmspc_in, 6);
	GUARD(tdx_pcs_collateral(&p, fmspc, ca, at, out, &cached));
	return cached;
}

static const struct option coll_fetch_opts[] = {
    {"pcs", required_argument, NULL, 'P'},
    {"quote", required_argument, NULL, 'q'},
    {"fmspc", required_argument, NULL, 'f'},
    {"ca", required_argument, NULL, 'c'},
    {"cache", required_argument, NULL, 'C'},
    {"root-crl-url", required_argument, NULL, 'r'},
    {"at", required_argument, NULL, 'a'},
    {"output", required_argument, NULL, 'o'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The dates of a signed PCS object (the collateral holds its exact text). */
static json_t *dates_of(const struct tdx_blob *b)
{
	json_t *o = NULL, *out;
	if (json_parse((const char *)b->p, b->len, "collateral", &o) < 0)
		return json_null();
	out = json_pack("{s:O?,s:O?,s:O?}", "issueDate", json_object_get(o, "issueDate"),
	                "nextUpdate", json_object_get(o, "nextUpdate"), "tcbEvaluationDataNumber",
	                json_object_get(o, "tcbEvaluationDataNumber"));
	json_decref(o);
	return out ? out : json_null();
}

/* --json: what the command fetched, in one object on stdout. */
static int print_fetched(const struct tdx_collateral *c, int cached, const char *output)
{
	uint8_t h[32];
	char hex[65];
	json_t *tcb = NULL, *o;
	int rc;

	GUARD(tdx_collateral_hash(c, h));
	hex_encode(hex, h, 32);
	if (json_parse((const char *)c->tcb_info.p, c->tcb_info.len, "tcbInfo", &tcb) < 0)
		tcb = NULL;
	o = json_pack("{s:s,s:O?,s:o,s:o,s:s,s:s?}", "source", cached ? "cache" : "pcs", "fmspc",
	              json_object_get(tcb, "fmspc"), "tcbInfo", dates_of(&c->tcb_info),
	              "qeIdentity", dates_of(&c->qe_identity), "sha256", hex, "output", output);
	json_decref(tcb);
	ENSURE(o, ERR_NOMEM, "out of memory");
	rc = json_print(o, 1);
	json_decref(o);
	return rc;
}

static int coll_fetch(int argc, char **argv)
{
	const char *pcs = NULL, *quote = NULL, *fmspc_hex = NULL, *cache = NULL, *root = NULL,
	           *output = NULL;
	enum tdx_pck_ca ca = TDX_PCK_CA_PLATFORM;
	struct tdx_collateral *c;
	uint8_t fmspc[6], *q = NULL;
	size_t qlen = 0;
	time_t at = time(NULL);
	char *text;
	int opt, rc;

	while ((opt = cli_getopt(argc, argv, "collateral fetch", "o:h", coll_fetch_opts)) != -1) {
		switch (opt) {
		case 'P': pcs = optarg; break;
		case 'q': quote = optarg; break;
		case 'f': fmspc_hex = optarg; break;
		case 'C': cache = optarg; break;
		case 'r': root = optarg; break;
		case 'o': output = optarg; break;
		case 'c':
			if (strcmp(optarg, "platform") == 0)
				ca = TDX_PCK_CA_PLATFORM;
			else if (strcmp(optarg, "processor") == 0)
				ca = TDX_PCK_CA_PROCESSOR;
			else
				return cli_usage("collateral fetch", "--ca: platform or processor");
			break;
		case 'a':
			if (time_parse(optarg, &at) < 0)
				return cli_usage("collateral fetch", "--at: %s", err_msg());
			break;
		case 'j': break; /* cli_json */
		case 'h': fputs(fetch_usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage("collateral fetch", "unexpected argument '%s'", argv[optind]);
	if (!pcs)
		return cli_usage("collateral fetch", "--pcs URL is required");
	if (!quote == !fmspc_hex)
		return cli_usage("collateral fetch", "give exactly one of --quote and --fmspc");
	if (fmspc_hex && hex_decode_exact(fmspc, 6, fmspc_hex, "--fmspc") < 0)
		return cli_usage("collateral fetch", "%s", err_msg());
	if (quote && file_read(quote, 1 << 20, &q, &qlen) < 0)
		return cli_fail();
	rc = cli_pcs_collateral(pcs, cache, root, q, qlen, fmspc, (int)ca, at, &c);
	free(q);
	if (rc < 0)
		return cli_fail();
	int cached = rc == 1;
	fprintf(stderr, "tdexec: collateral %s\n",
	        cached ? "from the cache (still fresh)" : "fetched and cached");
	rc = 0;
	if (output) {
		rc = tdx_collateral_to_json(c, &text);
		if (rc == 0) {
			size_t n = strlen(text);
			text[n] = '\n'; /* replaces the NUL; n+1 bytes written */
			rc = file_write(output, text, n + 1, 0644);
			free(text);
		}
	}
	if (rc == 0 && cli_json)
		rc = print_fetched(c, cached, output);
	tdx_collateral_free(c);
	return rc < 0 ? cli_fail() : 0;
}

const struct cli_cmd coll_cmds[] = {
    {"fetch", coll_fetch, "fetch collateral", NULL, coll_fetch_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

int cmd_collateral(int argc, char **argv)
{
	return cli_dispatch("collateral", coll_cmds, argc, argv, coll_usage);
}
