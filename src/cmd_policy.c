/* tdexec policy from-quote — a TD policy written from a known-good TD's quote. */
#include "cli.h"

#include "tdx/eventlog.h"
#include "tdx/policy.h"
#include "tdx/quote.h"
#include "tdx/tcbinfo.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char policy_usage[] =
    "Usage: tdexec policy COMMAND [ARGS]\n"
    "\n"
    "TD policies: what a verifier (quote verify, the SMS, the scheduler, app\n"
    "deploy --tdx-policy) admits beyond an authentic quote.\n"
    "\n"
    "Commands:\n"
    "  from-quote  write a policy that pins the measurements of a known-good TD\n";

static const char from_quote_usage[] =
    "Usage: tdexec policy from-quote QUOTE [--eventlog F]... [-o FILE] [--allow-debug]\n"
    "                                [--tcb-status LIST] [--pin-rtmr3] [--json]\n"
    "                                [--require-rtmr3-log]\n"
    "\n"
    "Write a policy admitting the TD that produced QUOTE (binary, hex, 0x-hex or\n"
    "base64; detected): MRTD, RTMR0-2, TDATTRIBUTES, XFAM, MRCONFIGID and MROWNER\n"
    "pinned to the quote's values.  RTMR3 is left to the runtime event log replay\n"
    "(it changes with what the TD runs) unless --pin-rtmr3.  The quote's signature\n"
    "is not checked here: give a quote of a TD you trust, or verify it first with\n"
    "'tdexec quote verify'.\n"
    "\n"
    "  --eventlog F        an event log of that TD (CCEL or tdexec's JSON lines),\n"
    "                      replayed first: every RTMR it extends must equal the\n"
    "                      quote's, or nothing is written (repeatable, in order)\n"
    "  -o, --output FILE   write the policy to FILE (default: stdout)\n"
    "  --allow-debug       accept a DEBUG TD (refused otherwise: a debug TD can be\n"
    "                      inspected by its host)\n"
    "  --tcb-status LIST   TCB statuses accepted, comma-separated (default UpToDate)\n"
    "  --pin-rtmr3         pin RTMR3 too (a TD that extends nothing at run time)\n"
    "  --json              print {policy, output, pinned, warnings} on stdout (the\n"
    "                      policy still goes to FILE with -o)\n"

    "  --require-rtmr3-log a quote is admitted only with an event log that replays\n"
    "                      to its RTMR3 (the worker's runtime log; require_rtmr3_log)\n";

/* The policy names of the fields pinned, in the file's order. */
static const char *const pinned[] = {"MRTD",         "RTMR0", "RTMR1",      "RTMR2",  "RTMR3",
                                     "TDATTRIBUTES", "XFAM",  "MRCONFIGID", "MROWNER"};

/* Replay the logs in order; every RTMR they extend must be the quote's. */
static int check_eventlogs(const struct tdx_quote *q, const char *const *logs, size_t n)
{
	struct tdx_rtmr_replay r;
	char want[97], got[97];
	int bad;

	tdx_replay_init(&r);
	for (size_t i = 0; i < n; i++) {
		int rc = tdx_replay_file(&r, logs[i]);
		if (rc < 0)
			return err_wrap(rc, "%s", logs[i]);
	}
	ENSURE(r.touched, ERR_VERIFY, "the event logs extend no RTMR");
	bad = tdx_replay_mismatch(&r, q->body.rtmr, 0, want, got);
	ENSURE(bad < 0, ERR_VERIFY,
	       "the event logs do not replay to the quote: RTMR%d is %s in the quote, %s "
	       "replayed; no policy written",
	       bad, got, want);
	return 0;
}

/* "UpToDate,SWHardeningNeeded" as a JSON array of checked names. */
static int tcb_list(const char *list, json_t **out)
{
	char *copy = strdup(list), *save = NULL;
	json_t *a = json_array();
	int rc = 0;

	ENSURE_GOTO(copy && a, ERR_NOMEM, "out of memory");
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		enum tdx_tcb_status s;
		GUARD_GOTO(tdx_tcb_status_parse(t, &s));
		json_array_append_new(a, json_string(tdx_tcb_status_name(s)));
	}
	ENSURE_GOTO(json_array_size(a), ERR_INVAL, "--tcb-status: no status given");
	*out = a;
	a = NULL;
out:
	free(copy);
	json_decref(a);
	return rc;
}

static const struct option from_quote_opts[] = {
    {"eventlog", required_argument, NULL, 'e'},
    {"output", required_argument, NULL, 'o'},
    {"allow-debug", no_argument, NULL, 'd'},
    {"tcb-status", required_argument, NULL, 't'},
    {"pin-rtmr3", no_argument, NULL, '3'},
    {"require-rtmr3-log", no_argument, NULL, 'R'}, /* "require_rtmr3_log": true */
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int from_quote(int argc, char **argv)
{
	const char *logs[16], *out_path = "-", *tcb = "UpToDate";
	size_t n_logs = 0;
	int c, allow_debug = 0, pin3 = 0, require3 = 0, rc = 0;
	struct tdx_quote *q = NULL;
	json_t *pol = NULL, *m = NULL, *statuses = NULL;
	char *text = NULL;
	uint64_t attrs;

	while ((c = cli_getopt(argc, argv, "policy from-quote", "ho:", from_quote_opts)) != -1) {
		switch (c) {
		case 'e':
			if (n_logs == sizeof(logs) / sizeof(logs[0]))
				return cli_usage("policy from-quote", "at most 16 --eventlog");
			logs[n_logs++] = optarg;
			break;
		case 'o': out_path = optarg; break;
		case 'd': allow_debug = 1; break;
		case 't': tcb = optarg; break;
		case '3': pin3 = 1; break;
		case 'j': break; /* cli_json */
		case 'R': require3 = 1; break;
		case 'h': fputs(from_quote_usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return cli_usage("policy from-quote", "expected one quote file");
	if (tcb_list(tcb, &statuses) < 0)
		return cli_usage("policy from-quote", "--tcb-status: %s", err_msg());
	GUARD_GOTO(cli_quote_load(argv[optind], &q, NULL));
	if (n_logs)
		GUARD_GOTO(check_eventlogs(q, logs, n_logs));
	attrs = tdx_quote_td_attributes(q);
	ENSURE_GOTO(!(attrs & TDX_ATTR_DEBUG) || allow_debug, ERR_VERIFY,
	            "%s: the TD has DEBUG set (its host can inspect it): refused without "
	            "--allow-debug",
	            argv[optind]);
	m = json_object();
	ENSURE_GOTO(m, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		struct tdx_field f;
		char *hex;
		if (strcmp(pinned[i], "RTMR3") == 0 && !pin3)
			continue;
		GUARD_GOTO(tdx_quote_field(q, pinned[i], &f));
		hex = hex_dup(f.ptr, f.len);
		ENSURE_GOTO(hex, ERR_NOMEM, "out of memory");
		json_object_set_new(m, pinned[i], json_string(hex));
		free(hex);
	}
	pol = json_pack("{s:O,s:b,s:b,s:O}", "tcb_status", statuses, "allow_debug",
	                (attrs & TDX_ATTR_DEBUG) != 0, "require_sept_ve_disable",
	                (attrs & TDX_ATTR_SEPT_VE_DISABLE) != 0, "measurements", m);
	ENSURE_GOTO(pol, ERR_NOMEM, "out of memory");
	if (require3)
		json_object_set_new(pol, "require_rtmr3_log", json_true());
	GUARD_GOTO(tdx_policy_text(pol, &text));
	int to_file = strcmp(out_path, "-") != 0;
	if (to_file || !cli_json)
		GUARD_GOTO(file_write(out_path, text, strlen(text), 0644));
	if (cli_json) {
		json_t *o = json_pack("{s:O,s:s?,s:[],s:[]}", "policy", pol, "output",
		                      to_file ? out_path : NULL, "pinned", "warnings");
		ENSURE_GOTO(o, ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++)
			if (json_object_get(m, pinned[i]))
				json_array_append_new(json_object_get(o, "pinned"),
				                      json_string(pinned[i]));
		if (!(attrs & TDX_ATTR_SEPT_VE_DISABLE))
			json_array_append_new(
			    json_object_get(o, "warnings"),
			    json_string("the TD does not set SEPT_VE_DISABLE; the "
			                "policy accepts that, as the quote has it"));
		rc = json_print(o, 1);
		json_decref(o);
		GUARD_GOTO(rc);
		goto out;
	}
	if (to_file)
		fprintf(stderr,
		        "policy written to %s: MRTD, RTMR0-%d, TDATTRIBUTES, XFAM, MRCONFIGID, "
		        "MROWNER pinned; TCB status %s%s\n",
		        out_path, pin3 ? 3 : 2, tcb, pin3 ? "" : "; RTMR3 left to runtime replay");
	if (!(attrs & TDX_ATTR_SEPT_VE_DISABLE))
		fprintf(stderr, "tdexec: warning: the TD does not set SEPT_VE_DISABLE; the policy "
		                "accepts that, as the quote has it\n");
out:
	free(text);
	json_decref(pol);
	json_decref(m);
	json_decref(statuses);
	tdx_quote_free(q);
	return rc < 0 ? cli_fail() : 0;
}

const struct cli_cmd policy_cmds[] = {
    {"from-quote", from_quote, "a policy from a known-good TD's quote", NULL, from_quote_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

int cmd_policy(int argc, char **argv)
{
	return cli_dispatch("policy", policy_cmds, argc, argv, policy_usage);
}
