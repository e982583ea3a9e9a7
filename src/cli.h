/* cli.h — shared pieces of the tdexec command line. */
#ifndef TDEXEC_CLI_H
#define TDEXEC_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define EXIT_USAGE 2

/* A command or subcommand: `run` gets argv with argv[0] = its name. */
struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* Print "tdexec: <current error message>" to stderr; returns 1. */
int cli_fail(void);
/* Print "tdexec <prog>: <message>" and a --help hint to stderr; returns 2. */
int cli_usage(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long with our conventions: options may follow operands, errors
 * print a clear message.  Returns the option, -1 at the end, or '?' after
 * printing the error (the caller exits 2).  Call with *reset = 1 first. */
int cli_getopt(int argc, char **argv, const char *prog, const char *shortopts,
               const struct option *longopts);

/* Dispatch argv[1] among cmds; prints `usage` for --help / no argument.
 * Unknown names exit 2 with a message. */
int cli_dispatch(const char *prog, const struct cli_cmd *cmds, int argc, char **argv,
                 const char *usage);

/* Parse report data given as hex (up to 64 bytes, zero-padded on the right)
 * or read from a file (raw bytes or hex text). */
int cli_report_data(const char *hex, const char *file, uint8_t out[64]);

/* Parse a non-negative integer option within [min, max]. */
int cli_int(const char *prog, const char *opt, const char *s, long min, long max, long *out);

int cmd_quote(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_collateral(int argc, char **argv);
int cmd_chain(int argc, char **argv);
int cmd_sms(int argc, char **argv);
int cmd_ratls(int argc, char **argv);
/* wallet, app, dataset, workerpool, account, order, deal, task */
extern const struct cli_cmd market_commands[];

/* Collateral from a PCS/PCCS through the cache (cmd_collateral.c): for the
 * quote's platform, or for fmspc/ca when quote is NULL.  Returns 1 when it
 * came from the cache, 0 when fetched, negative on error. */
struct tdx_collateral;
int cli_pcs_collateral(const char *pcs, const char *cache, const char *root_crl,
                       const uint8_t *quote, size_t qlen, const uint8_t *fmspc, int ca, time_t at,
                       struct tdx_collateral **out);

/* The chain options: --chain FILE, or --network NAME (iExec's deployment,
 * poco/network.h) with --rpc URL; --rpc with a chain file replaces its node.
 * Prints the usage error and returns EXIT_USAGE for a bad combination,
 * else 0 (poco_chain_open takes the three as given). */
int cli_chain_usage(const char *prog, const char *file, const char *network, const char *rpc);
#define CLI_CHAIN_HELP                                                                             \
	"  --network NAME --rpc URL  iExec's PoCo on NAME (arbitrum, arbitrum-sepolia,\n"          \
	"                         bellecour: 'tdexec chain network'), reached at URL,\n"           \
	"                         instead of a chain file\n"

/* A signing key from a v3 keystore (+ password file or
 * $TDEXEC_WALLET_PASSWORD), a plain hex key file, or local account N of a
 * chain made by 'tdexec chain up' (account < 0 = none). */
struct poco_chain;
int cli_signing_key(const char *wallet_file, const char *password_file, const char *plain_key,
                    long account, const struct poco_chain *c, uint8_t key[32]);
/* --config FILE: a JSON object whose members are long options ("sms":
 * "http://...", "order_volume": 10, "allow_network": true) placed before the
 * command line, so flags override the file.  The new list lives until exit. */
int cli_config_argv(int argc, char **argv, int *out_argc, char ***out_argv);
int cmd_scheduler(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_secret(int argc, char **argv);
int cmd_result(int argc, char **argv);
int cmd_market_book(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_pool(int argc, char **argv);
int cmd_pool_up(int argc, char **argv);
int cmd_pool_status(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cli_dataset_encrypt(int argc, char **argv);
/* Open an iExec encrypted result (zip of iexec_out.zip.aes + aes-key.rsa)
 * with the PEM private key in key_path; writes the plain zip. */
int cli_result_decrypt(const char *enc_zip, const char *key_path, const char *out_zip);
/* The URL of task tid's result at the scheduler `base` with its download
 * authorization signed by key, the beneficiary (lib/proto): the signature
 * in auth ("0x" + 130 hex), the expiry (now + 5 minutes) in the URL. */
int cli_result_url(const uint8_t key[32], uint64_t chain_id, const char *base,
                   const uint8_t tid[32], char *url, size_t size, char auth[133]);
/* The app's stderr tail of task tid (iexec_developer_logger) from the
 * scheduler `base`, asked with the requester's key: *logs a JSON string, or
 * NULL when the scheduler holds none (the request did not ask for them). */
int cli_task_logs(const uint8_t key[32], uint64_t chain_id, const char *base, const uint8_t tid[32],
                  json_t **logs);
/* Check a downloaded result archive against the task's on-chain result
 * digest (result_check.c), recomputed as the worker computes it; `sched`
 * is the pool's base URL, asked only which deal and transaction to read.
 * ERR_VERIFY "result 0xTASK does not match the on-chain digest 0x..." on a
 * mismatch, or naming an unsafe entry (absolute, "..", a link).  An
 * encrypted result (iExec's format) cannot be checked: *encrypted = 1 and
 * 0 is returned; check it once decrypted. */
int cli_result_check(struct poco_chain *c, const char *sched, const uint8_t tid[32],
                     const char *zip, int *encrypted);

#endif
