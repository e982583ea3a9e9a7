/* tdexec sim init|extend — the simulated TD */
#include "cli.h"

#include "tdx/sim.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/timefmt.h"

#include <stdio.h>
#include <string.h>

static const char sim_usage[] =
    "Usage: tdexec sim COMMAND [ARGS]\n"
    "\n"
    "A simulated TD for machines without Intel TDX.  Its quotes are signed by a\n"
    "locally generated PKI that no verifier trusts unless told to explicitly\n"
    "(--trust-sim-root DIR/root_ca.pem).\n"
    "\n"
    "Commands:\n"
    "  init        create a simulated TD: PKI, keys, collateral, measurements\n"
    "  collateral  issue the simulated TD's collateral again (new dates)\n"
    "  extend      extend an RTMR and record the event\n";

static const char init_usage[] =
    "Usage: tdexec sim init [--force] [--days N] [--at TIME] DIR\n"
    "\n"
    "Create a simulated TD in DIR: a simulated SGX root CA, PCK platform CA, PCK\n"
    "certificate (with the Intel SGX extension), TCB signing certificate, QE\n"
    "attestation key, the collateral Intel's PCS would serve (DIR/collateral/), and\n"
    "default measurements (DIR/td.json).\n"
    "\n"
    "  --force     replace an existing simulated TD in DIR\n"
    "  --days N    collateral validity in days (default 30)\n"
    "  --at TIME   start of validity (Unix seconds or YYYY-MM-DDTHH:MM:SSZ; default now)\n";

static const char coll_usage[] =
    "Usage: tdexec sim collateral [--days N] [--at TIME] DIR\n"
    "\n"
    "Issue DIR/collateral/ again for the simulated TD in DIR (same PKI and keys):\n"
    "new TCB info, QE identity and CRLs valid from TIME for N days, as Intel's PCS\n"
    "publishes new collateral before the old one's nextUpdate.\n"
    "\n"
    "  --days N    collateral validity in days (default 30)\n"
    "  --at TIME   start of validity (Unix seconds or YYYY-MM-DDTHH:MM:SSZ; default now)\n";

static const char extend_usage[] =
    "Usage: tdexec sim extend --rtmr N --digest HEX [--event TEXT] [--json] DIR\n"
    "\n"
    "RTMR[N] = SHA-384(RTMR[N] || DIGEST) in DIR/td.json, and the event appended to\n"
    "DIR/event_log.jsonl.\n"
    "\n"
    "  --rtmr N        0..3\n"
    "  --digest HEX    48-byte SHA-384 digest\n"
    "  --event TEXT    what was measured (kept in the event log)\n"
    "  --json          print {dir, rtmr, digest, value}: value is the RTMR after\n";

/* The options `sim init` and `sim collateral` share: --days, --at (and
 * --force for init), then one directory, at argv[optind].  0 to go on;
 * otherwise what the command returns (0 after --help). */
static const struct option sim_common_opts[] = {
    {"force", no_argument, NULL, 'f'},    {"days", required_argument, NULL, 'd'},
    {"at", required_argument, NULL, 'a'}, {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0},
};

static int sim_opts(int argc, char **argv, const char *prog, const char *usage, int force_ok,
                    struct tdx_sim_opts *o)
{
	long days;
	int c;

	while ((c = cli_getopt(argc, argv, prog, "h", sim_common_opts + !force_ok)) != -1) {
		switch (c) {
		case 'f': o->force = 1; break;
		case 'd':
			if (cli_int(prog, "--days", optarg, 1, 3650, &days))
				return EXIT_USAGE;
			o->collateral_days = (int)days;
			break;
		case 'a':
			if (time_parse(optarg, &o->now) < 0)
				return cli_usage(prog, "--at: %s", err_msg());
			break;
		case 'j': break; /* cli_json */
		case 'h': fputs(usage, stdout); return -1;
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return cli_usage(prog, "expected one directory");
	return 0;
}

/* Print and free j (NULL: out of memory); the exit code. */
static int sim_json(json_t *j)
{
	int rc = j ? json_print(j, 1) : err_set(ERR_NOMEM, "out of memory");
	json_decref(j);
	return rc < 0 ? cli_fail() : 0;
}

static int sim_init(int argc, char **argv)
{
	struct tdx_sim_opts o = {0, 0, 0};
	int rc = sim_opts(argc, argv, "sim init", init_usage, 1, &o);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (tdx_sim_init(argv[optind], &o) < 0)
		return cli_fail();
	if (cli_json)
		return sim_json(json_pack("{s:s,s:b,s:s+}", "dir", argv[optind], "simulated", 1,
		                          "root_ca", argv[optind], "/root_ca.pem"));
	printf("simulated TD created in %s (SIMULATED: trust only with --trust-sim-root "
	       "%s/root_ca.pem)\n",
	       argv[optind], argv[optind]);
	return 0;
}

static int sim_collateral(int argc, char **argv)
{
	struct tdx_sim_opts o = {0, 0, 0};
	int rc = sim_opts(argc, argv, "sim collateral", coll_usage, 0, &o);

	if (rc)
		return rc < 0 ? 0 : rc;
	if (tdx_sim_collateral(argv[optind], &o) < 0)
		return cli_fail();
	if (cli_json)
		return sim_json(json_pack("{s:s+}", "collateral", argv[optind], "/collateral"));
	printf("collateral issued again in %s/collateral\n", argv[optind]);
	return 0;
}

static const struct option sim_extend_opts[] = {
    {"rtmr", required_argument, NULL, 'r'},  {"digest", required_argument, NULL, 'd'},
    {"event", required_argument, NULL, 'e'}, {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
};

static int sim_extend(int argc, char **argv)
{
	const char *digest_hex = NULL, *event = NULL;
	uint8_t digest[48];
	long idx = -1;
	int c;

	while ((c = cli_getopt(argc, argv, "sim extend", "h", sim_extend_opts)) != -1) {
		switch (c) {
		case 'r':
			if (cli_int("sim extend", "--rtmr", optarg, 0, 3, &idx))
				return EXIT_USAGE;
			break;
		case 'd': digest_hex = optarg; break;
		case 'e': event = optarg; break;
		case 'j': break; /* cli_json */
		case 'h': fputs(extend_usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return cli_usage("sim extend", "expected one directory");
	if (idx < 0 || !digest_hex)
		return cli_usage("sim extend", "--rtmr and --digest are required");
	if (hex_decode_exact(digest, sizeof(digest), digest_hex, "--digest") < 0)
		return cli_usage("sim extend", "%s", err_msg());
	if (tdx_sim_extend(argv[optind], (int)idx, digest, event) < 0)
		return cli_fail();
	if (cli_json) {
		/* the register's new value, as DIR/td.json now holds it */
		char path[4096], key[8], dhex[97];
		json_t *td = NULL, *o;
		hex_encode(dhex, digest, sizeof(digest));
		snprintf(key, sizeof(key), "RTMR%ld", idx);
		if (path_fmt(path, sizeof(path), "%s/td.json", argv[optind]) < 0 ||
		    json_load_path(path, 1 << 20, &td) < 0)
			return cli_fail();
		o = json_pack("{s:s,s:i,s:s,s:O?}", "dir", argv[optind], "rtmr", (int)idx, "digest",
		              dhex, "value", json_object_get(td, key));
		json_decref(td);
		return sim_json(o);
	}
	return 0;
}

const struct cli_cmd sim_cmds[] = {
    {"init", sim_init, "create a simulated TD", NULL, sim_common_opts},
    {"collateral", sim_collateral, "issue the collateral again", NULL, sim_common_opts},
    {"extend", sim_extend, "extend an RTMR", NULL, sim_extend_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

int cmd_sim(int argc, char **argv)
{
	return cli_dispatch("sim", sim_cmds, argc, argv, sim_usage);
}
