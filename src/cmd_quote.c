/* tdexec quote get|show */
#include "cli.h"

#include "tdx/provider.h"
#include "tdx/quote.h"
#include "tdx/policy.h"
#include "tdx/quote_show.h"
#include "tdx/verify.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char quote_usage[] =
    "Usage: tdexec quote COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  get      get a quote from this TD (configfs-tsm) or a simulated TD\n"
    "  show     print every field of a quote\n"
    "  verify   verify a quote with Intel DCAP collateral and a policy\n";

static const char verify_usage[] =
    "Usage: tdexec quote verify QUOTE (--collateral PATH | --pcs URL [--cache DIR])\n"
    "                           [--policy FILE] [--eventlog F]... [--at TIME]\n"
    "                           [--trust-sim-root FILE] [--json | --quiet]\n"
    "\n"
    "Verify a TDX quote (binary, hex, 0x-hex or base64; '-' = stdin): PCK chain to\n"
    "the Intel SGX Root CA, CRLs, TCB info, QE identity, QE report, quote signature\n"
    "and TCB status, then the policy.\n"
    "\n"
    "Exit status: 0 verified and the policy holds, 1 usage or tool error (e.g. an\n"
    "unreadable file), 2 verification failed, 3 collateral fetch (network) failed,\n"
    "4 the policy does not hold, 5 the quote does not parse.\n"
    "\n"
    "  --collateral PATH      collateral: a dcap-qvl JSON file or a PCS directory\n"
    "  --pcs URL              fetch collateral from an Intel PCS / PCCS base URL\n"
    "  --cache DIR            collateral cache for --pcs (default ~/.cache/tdexec/pcs)\n"
    "  --policy FILE          JSON policy; a policy that names no tcb_status accepts\n"
    "                         UpToDate only, and no advisory it does not list\n"
    "                         (without --policy: any TCB status that verifies and any\n"
    "                         advisory, no DEBUG, SEPT_VE_DISABLE required)\n"
    "  --eventlog F           an event log that came with the quote, replayed after\n"
    "                         the policy's own: the CCEL (e.g. a copy of\n"
    "                         /sys/firmware/acpi/tables/data/CCEL) first, then the\n"
    "                         worker's runtime log; every RTMR they touch must be\n"
    "                         the quote's (repeatable, up to 8)\n"
    "  --at TIME              verify as of TIME (Unix seconds or YYYY-MM-DDTHH:MM:SSZ)\n"
    "  --trust-sim-root FILE  trust this simulated root CA instead of Intel's; the\n"
    "                         result then says simulated\n"
    "  --json                 print the result as JSON (Intel Trust Authority claim\n"
    "                         names); a failure before a verdict is {\"error\", \"code\"}\n"
    "  -q, --quiet            print nothing: the exit status is the answer\n";

static const char get_usage[] =
    "Usage: tdexec quote get [--provider tsm|sim|qgs|auto] [--sim-dir DIR]\n"
    "                        [--measurements FILE] [--qgs ADDR] [--qgs-timeout MS]\n"
    "                        (--report-data HEX | --report-data-file FILE)\n"
    "                        [-o FILE | --hex | --json]\n"
    "\n"
    "Get a TDX quote whose REPORTDATA is the given bytes (up to 64, zero-padded).\n"
    "\n"
    "  --provider P            tsm (default): Linux configfs-tsm in a TDX guest;\n"
    "                          qgs: TDREPORT from /dev/tdx_guest, the quote from the\n"
    "                          host's QGS (docs/providers.md); auto: qgs when a QGS\n"
    "                          answers, tsm otherwise; sim: the simulated TD in\n"
    "                          --sim-dir (see 'tdexec sim')\n"
    "  --sim-dir DIR           simulated TD directory (sim; qgs and auto: the\n"
    "                          TDREPORT from it, the quote then simulated)\n"
    "  --measurements FILE     TD measurements (default DIR/td.json; with --sim-dir)\n"
    "  --qgs ADDR              vsock:CID:PORT (default vsock:2:4050) or unix:PATH\n"
    "  --qgs-timeout MS        a whole QGS exchange (default 30000)\n"
    "  --report-data HEX       REPORTDATA as hex\n"
    "  --report-data-file F    REPORTDATA from a file (raw bytes or hex text)\n"
    "  -o, --output FILE       write the binary quote to FILE ('-' = stdout)\n"
    "  --hex                   print the quote as hex on stdout\n"
    "  --json                  print {\"quote\": HEX, \"size\": N}\n";

static const char show_usage[] =
    "Usage: tdexec quote show [--json] FILE\n"
    "\n"
    "Print every field of a TDX quote (v4 or v5) with Intel's names, and the FMSPC,\n"
    "PCE-ID and TCB components of its PCK certificate.  FILE is binary, hex, 0x-hex\n"
    "or base64; '-' reads standard input.  Parsing only: use 'tdexec quote verify' to verify.\n"
    "\n"
    "  --json   print JSON\n";

static const struct option quote_get_opts[] = {
    {"provider", required_argument, NULL, 'p'},
    {"sim-dir", required_argument, NULL, 'd'},
    {"measurements", required_argument, NULL, 'm'},
    {"qgs", required_argument, NULL, 'q'},
    {"qgs-timeout", required_argument, NULL, 't'},
    {"report-data", required_argument, NULL, 'r'},
    {"report-data-file", required_argument, NULL, 'f'},
    {"output", required_argument, NULL, 'o'},
    {"hex", no_argument, NULL, 'x'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int quote_get(int argc, char **argv)
{
	struct tdx_provider prov = {.kind = TDX_PROVIDER_TSM};
	const char *rd_hex = NULL, *rd_file = NULL, *output = NULL;
	uint8_t rd[64], *quote = NULL;
	size_t len;
	int c, hex = 0, rc;
	long v;

	while ((c = cli_getopt(argc, argv, "quote get", "o:h", quote_get_opts)) != -1) {
		switch (c) {
		case 'p':
			if (tdx_provider_parse(optarg, &prov.kind) < 0)
				return cli_usage("quote get", "%s", err_msg());
			break;
		case 'd': prov.sim_dir = optarg; break;
		case 'm': prov.measurements = optarg; break;
		case 'q': prov.qgs = optarg; break;
		case 't':
			if (cli_int("quote get", "--qgs-timeout", optarg, 1, 600000, &v))
				return EXIT_USAGE;
			prov.qgs_timeout_ms = (int)v;
			break;
		case 'r': rd_hex = optarg; break;
		case 'f': rd_file = optarg; break;
		case 'o': output = optarg; break;
		case 'x': hex |= 1; break;
		case 'j': hex |= 2; break;
		case 'h': fputs(get_usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage("quote get", "unexpected argument '%s'", argv[optind]);
	if ((output && hex) || hex == 3)
		return cli_usage("quote get", "give one of -o, --hex and --json");
	if (!output && !hex && isatty(STDOUT_FILENO))
		return cli_usage("quote get", "refusing to write a binary quote to a terminal: "
		                              "use -o FILE or --hex");
	if (cli_report_data(rd_hex, rd_file, rd) < 0)
		return cli_usage("quote get", "%s", err_msg());
	if (tdx_provider_check(&prov) < 0)
		return cli_usage("quote get", "%s", err_msg());

	if (tdx_provider_quote(&prov, rd, &quote, &len) < 0)
		return cli_fail();
	if (hex) {
		char *h = hex_dup(quote, len);
		rc = h ? 0 : err_set(ERR_NOMEM, "out of memory");
		if (h && hex == 2)
			printf("{\"quote\": \"%s\", \"size\": %zu}\n", h, len);
		else if (h)
			printf("%s\n", h);
		free(h);
	} else {
		rc = file_write(output ? output : "-", quote, len, 0644);
	}
	free(quote);
	return rc < 0 ? cli_fail() : 0;
}

static const struct option quote_show_opts[] = {
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int quote_show(int argc, char **argv)
{
	struct tdx_quote *q;
	json_t *j;
	int c, as_json = 0, pck_rc;

	while ((c = cli_getopt(argc, argv, "quote show", "h", quote_show_opts)) != -1) {
		switch (c) {
		case 'j': as_json = 1; break;
		case 'h': fputs(show_usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return cli_usage("quote show", "expected one quote file");
	if (cli_quote_load(argv[optind], &q, NULL) < 0)
		return cli_fail();
	j = tdx_quote_to_json(q, &pck_rc);
	tdx_quote_free(q);
	if (!j)
		return cli_fail();
	if (!as_json)
		json_print_text(stdout, j);
	else if (json_print(j, 1) < 0) {
		json_decref(j);
		return cli_fail();
	}
	json_decref(j);
	if (pck_rc < 0) {
		fprintf(stderr, "tdexec: %s: PCK certificate: see \"pck\" above\n", argv[optind]);
		return 1;
	}
	return 0;
}

struct verify_args {
	const char *quote, *collateral, *pcs, *cache, *policy, *sim_root;
	const char *logs[8];
	size_t n_logs;
	time_t at;
	int json, quiet;
};

/* quote verify's exit codes (docs/cli.md) */
enum {
	VERIFY_OK = 0,
	VERIFY_TOOL = 1,
	VERIFY_FAILED = 2,
	VERIFY_FETCH = 3,
	VERIFY_POLICY = 4,
	VERIFY_PARSE = 5,
};

/* The error, unless --quiet; returns code. */
static int verify_fail(const struct verify_args *a, int code)
{
	if (a->quiet)
		return code;
	return cli_fail_code(code);
}

/* What to do about expired collateral: the reason alone reads like a
 * broken quote. */
static void expiry_hint(const char *reason)
{
	const char *e = strstr(reason, "expired at ");
	if (!e)
		return;
	fprintf(stderr,
	        "hint: collateral expired at %s: fetch fresh collateral with 'tdexec collateral "
	        "fetch' (or --pcs URL), or verify as of a past time with --at\n",
	        e + 11);
}

/* Runs the verification and prints the result; returns the exit code. */
static int run_verify(const struct verify_args *a)
{
	struct tdx_verifier *v = NULL;
	struct tdx_collateral *c = NULL;
	struct tdx_policy *pol = NULL;
	struct tdx_quote *q = NULL;
	struct tdx_verdict d;
	json_t *mis = json_array(), *out = NULL;
	uint8_t *raw = NULL;
	size_t len;
	int rc, verified = 0, code = VERIFY_TOOL, unreadable = 0;

	if (a->sim_root) {
		uint8_t *root;
		size_t rlen;
		rc = file_read(a->sim_root, 64 * 1024, &root, &rlen);
		if (rc == 0) {
			rc = tdx_verifier_new_root(root, rlen, 1, &v);
			free(root);
		}
	} else {
		rc = tdx_verifier_new(&v);
	}
	if (rc == 0)
		rc = a->policy ? tdx_policy_load(a->policy, &pol) : tdx_policy_default(&pol);
	if (rc < 0)
		goto fail;
	if (cli_quote_load(a->quote, &q, &unreadable) < 0) {
		code = unreadable ? VERIFY_TOOL : VERIFY_PARSE;
		goto fail;
	}
	if (tdx_quote_serialize(q, 1, &raw, &len) < 0)
		goto fail;
	if (a->collateral) {
		if (tdx_collateral_load(a->collateral, &c) < 0)
			goto fail;
	} else if (cli_pcs_collateral(a->pcs, a->cache, NULL, raw, len, NULL, 0, a->at, &c) < 0) {
		code = VERIFY_FETCH;
		goto fail;
	}
	verified = tdx_verify_parsed(v, raw, q, c, a->at, &d) == 0;
	if (verified && tdx_policy_check_logs(pol, q, &d, a->logs, a->n_logs, NULL, 0, mis) < 0 &&
	    json_array_size(mis) == 0)
		/* not a mismatch but an error (e.g. an unreadable event log) */
		goto fail;
	out = tdx_verdict_to_json(q, &d, verified, mis, a->at);
	if (!out)
		goto fail;
	if (a->quiet)
		;
	else if (!a->json)
		json_print_text(stdout, out);
	else if (json_print(out, 1) < 0)
		goto fail;
	code = !verified ? VERIFY_FAILED : json_array_size(mis) ? VERIFY_POLICY : VERIFY_OK;
	if (a->quiet || code == VERIFY_OK)
		goto out;
	if (!verified) {
		fprintf(stderr, "tdexec: quote verification failed: %s\n", d.reason);
		expiry_hint(d.reason);
	} else {
		size_t i;
		json_t *e;
		json_array_foreach (mis, i, e)
			fprintf(stderr, "tdexec: policy not satisfied: %s\n", json_string_value(e));
	}
	goto out;
fail:
	code = verify_fail(a, code);
out:
	json_decref(out);
	json_decref(mis);
	free(raw);
	tdx_quote_free(q);
	tdx_collateral_free(c);
	tdx_policy_free(pol);
	tdx_verifier_free(v);
	return code;
}

static const struct option quote_verify_opts[] = {
    {"collateral", required_argument, NULL, 'c'},
    {"pcs", required_argument, NULL, 'P'},
    {"cache", required_argument, NULL, 'C'},
    {"policy", required_argument, NULL, 'p'},
    {"eventlog", required_argument, NULL, 'e'},
    {"at", required_argument, NULL, 'a'},
    {"trust-sim-root", required_argument, NULL, 's'},
    {"json", no_argument, NULL, 'j'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int quote_verify(int argc, char **argv)
{
	struct verify_args a = {0};
	int c;

	a.at = time(NULL);
	while ((c = cli_getopt(argc, argv, "quote verify", "qh", quote_verify_opts)) != -1) {
		switch (c) {
		case 'c': a.collateral = optarg; break;
		case 'P': a.pcs = optarg; break;
		case 'C': a.cache = optarg; break;
		case 'p': a.policy = optarg; break;
		case 'e':
			if (a.n_logs == sizeof(a.logs) / sizeof(a.logs[0]))
				return cli_usage("quote verify", "--eventlog: at most 8");
			a.logs[a.n_logs++] = optarg;
			break;
		case 's': a.sim_root = optarg; break;
		case 'j': a.json = 1; break;
		case 'q': a.quiet = 1; break;
		case 'a':
			if (time_parse(optarg, &a.at) < 0)
				return cli_usage("quote verify", "--at: %s", err_msg());
			break;
		case 'h': fputs(verify_usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return cli_usage("quote verify", "expected one quote file");
	a.quote = argv[optind];
	if (!a.collateral == !a.pcs)
		return cli_usage("quote verify", "give exactly one of --collateral and --pcs");
	if (a.quiet && a.json)
		return cli_usage("quote verify", "give --json or --quiet, not both");
	if (a.quiet) /* nothing at all: not the fetch's retry warnings either */
		log_set_level(LOG_OFF);
	return run_verify(&a);
}

const struct cli_cmd quote_cmds[] = {
    {"get", quote_get, "get a quote", NULL, quote_get_opts},
    {"show", quote_show, "print a quote", NULL, quote_show_opts},
    {"verify", quote_verify, "verify a quote", NULL, quote_verify_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

int cmd_quote(int argc, char **argv)
{
	return cli_dispatch("quote", quote_cmds, argc, argv, quote_usage);
}
