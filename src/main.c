/* tdexec — confidential computing on Intel TDX worker pools. */
#include "cli.h"

#include "util/err.h"
#include "util/log.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

/* The help is made from the command table, so no command can be missing
 * from it. */
static const char usage_head[] =
    "Usage: tdexec [--log-level LEVEL] COMMAND [ARGS]\n"
    "\n"
    "Confidential computing on Intel TDX worker pools, settled with iExec PoCo.\n"
    "\n"
    "Commands:\n";
static const char usage_tail[] =
    "\n"
    "Options:\n"
    "  --log-level LEVEL   debug, info, warn (default), error, off\n"
    "  -h, --help          this help; 'tdexec COMMAND --help' for a command\n"
    "  -V, --version       print the version\n"
    "\n"
    "Exit status: 0 success, 1 usage or tool error; some commands use more\n"
    "(quote verify: 'tdexec quote verify --help').  docs/cli.md has the table.\n";

static const struct cli_cmd commands[] = {
    {"quote", cmd_quote, "get, show, verify TDX quotes", quote_cmds, NULL},
    {"collateral", cmd_collateral, "fetch Intel PCS collateral into the cache", coll_cmds, NULL},
    {"sim", cmd_sim, "create and drive a simulated TD (machines without TDX)", sim_cmds, NULL},
    {"chain", cmd_chain, "a local Anvil chain with the real iExec PoCo", chain_cmds, NULL},
    {"sms", cmd_sms, "the Secret Management Service", sms_cmds, cli_sms_opts},
    {"ratls", cmd_ratls, "RA-TLS certificates: make one, check a server's", ratls_cmds, NULL},
    {"ear", cmd_ear, "attestation-result tokens: check one an SMS signed", ear_cmds, NULL},
    {"scheduler", cmd_scheduler, "the worker pool's scheduler (a service)", NULL, cli_pool_opts},
    {"worker", cmd_worker, "a TDX worker of the pool (a service)", NULL, cli_pool_opts},
    {"secret", cmd_secret, "push secrets to an SMS", secret_cmds, NULL},
    {"result", cmd_result, "download, check and decrypt a task's result", result_cmds, NULL},
    {"market", cmd_market_book, "a pool's orderbook: publish, list", book_cmds, NULL},
    {"run", cmd_run, "buy a confidential task and get its result", NULL, cli_run_opts},
    {"image", cmd_image, "build OCI images from Debian packages and files; pull from registries",
     image_cmds, NULL},
    {"pool", cmd_pool, "a local pool in one command (pool up --sim); its operator's view (status)",
     pool_cmds, NULL},
    {"policy", cmd_policy, "TD policies: write one from a known-good TD's quote", policy_cmds,
     NULL},
    {"measure", cmd_measure, "MRTD and RTMRs recomputed from firmware, kernel, initrd, CCEL", NULL,
     cli_measure_opts},
    {"completion", cmd_completion, "print a shell completion script (bash)", completion_cmds, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static void print_usage(FILE *f, const struct cli_cmd *all)
{
	fputs(usage_head, f);
	for (const struct cli_cmd *c = all; c->name; c++)
		fprintf(f, "  %-11s %s\n", c->name, c->summary);
	fputs(usage_tail, f);
}

int main(int argc, char **argv)
{
	/* One table: the core commands, then the marketplace's. */
	struct cli_cmd all[40];
	size_t n = 0;
	int i = 1;

	for (const struct cli_cmd *c = commands; c->name; c++)
		all[n++] = *c;
	for (const struct cli_cmd *c = market_commands; c->name && n < 39; c++)
		all[n++] = *c;
	all[n] = (struct cli_cmd){NULL, NULL, NULL, NULL, NULL};
	cli_commands = all;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			printf("tdexec %s (%s)\n", TDEXEC_VERSION,
			       OpenSSL_version(OPENSSL_VERSION));
			return 0;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_usage(stdout, all);
			return 0;
		}
		if (strcmp(argv[i], "--log-level") == 0 ||
		    strncmp(argv[i], "--log-level=", 12) == 0) {
			const char *v =
			    argv[i][11] == '=' ? argv[i] + 12 : (i + 1 < argc ? argv[++i] : NULL);
			enum log_level lvl;
			if (!v) {
				fprintf(stderr, "tdexec: option '--log-level' needs a value\n");
				return EXIT_USAGE;
			}
			if (log_level_parse(v, &lvl) < 0) {
				fprintf(stderr, "tdexec: %s\n", err_msg());
				return EXIT_USAGE;
			}
			log_set_level(lvl);
			i++;
			continue;
		}
		fprintf(stderr, "tdexec: unknown option '%s'\nTry 'tdexec --help'.\n", argv[i]);
		return EXIT_USAGE;
	}
	/* Shift so argv[0] is "tdexec" and argv[1] the command. */
	argv[i - 1] = argv[0];
	if (argc - (i - 1) < 2 || strcmp(argv[i], "help") == 0 || strcmp(argv[i], "--help") == 0) {
		print_usage(argc - (i - 1) < 2 ? stderr : stdout, all);
		return argc - (i - 1) < 2 ? EXIT_USAGE : 0;
	}
	return cli_dispatch("", all, argc - (i - 1), argv + (i - 1), "");
}
