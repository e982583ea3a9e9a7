/* tdexec — confidential computing on Intel TDX worker pools. */
#include "cli.h"

#include "util/err.h"
#include "util/log.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: tdexec [--log-level LEVEL] COMMAND [ARGS]\n"
    "\n"
    "Confidential computing on Intel TDX worker pools, settled with iExec PoCo.\n"
    "\n"
    "Commands:\n"
    "  quote       get, show, verify TDX quotes\n"
    "  collateral  fetch Intel PCS collateral into the cache\n"
    "  sim         create and drive a simulated TD (machines without TDX)\n"
    "  chain       a local Anvil chain with the real iExec PoCo (up, down, status)\n"
    "  wallet      create, import, show keystores; balances\n"
    "  app         deploy, show apps (OCI image digest + TD policy)\n"
    "  dataset     deploy, show datasets\n"
    "  workerpool  deploy, show workerpools\n"
    "  account     escrow deposit, withdraw, show\n"
    "  order       init, sign, show, cancel iExec orders (EIP-712)\n"
    "  deal        match orders, show deals\n"
    "  task        show, claim tasks\n"
    "  sms         the Secret Management Service\n"
    "  ratls       RA-TLS certificates: make one, check a server's\n"
    "  pool        a whole local pool in one command (pool up --sim); the pool\n"
    "              seen by its operator (pool status)\n"
    "  policy      TD policies: write one from a known-good TD's quote\n"
    "\n"
    "Options:\n"
    "  --log-level LEVEL   debug, info, warn (default), error, off\n"
    "  -h, --help          this help; 'tdexec COMMAND --help' for a command\n"
    "  -V, --version       print the version\n";

static const struct cli_cmd commands[] = {
    {"quote", cmd_quote, "get, show TDX quotes"},
    {"sim", cmd_sim, "simulated TD"},
    {"collateral", cmd_collateral, "collateral"},
    {"chain", cmd_chain, "local chain"},
    {"sms", cmd_sms, "secret management service"},
    {"ratls", cmd_ratls, "RA-TLS certificates"},
    {"scheduler", cmd_scheduler, "the worker pool's scheduler"},
    {"worker", cmd_worker, "a TDX worker of the pool"},
    {"secret", cmd_secret, "push secrets to an SMS"},
    {"result", cmd_result, "download a task's result"},
    {"market", cmd_market_book, "a pool's orderbook: publish, list"},
    {"run", cmd_run, "buy a confidential task and get its result"},
    {"pool", cmd_pool, "a local pool: up, status"},
    {"policy", cmd_policy, "TD policies"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			printf("tdexec %s (%s)\n", TDEXEC_VERSION,
			       OpenSSL_version(OPENSSL_VERSION));
			return 0;
		}
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
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
	/* One table: the core commands, then the marketplace's. */
	{
		struct cli_cmd all[32];
		size_t n = 0;
		for (const struct cli_cmd *c = commands; c->name; c++)
			all[n++] = *c;
		for (const struct cli_cmd *c = market_commands; c->name && n < 31; c++)
			all[n++] = *c;
		all[n] = (struct cli_cmd){NULL, NULL, NULL};
		return cli_dispatch("", all, argc - (i - 1), argv + (i - 1), usage);
	}
}
