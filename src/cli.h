/* cli.h — shared pieces of the tdexec command line. */
#ifndef TDEXEC_CLI_H
#define TDEXEC_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Exit status, the same for every command (docs/cli.md): 0 success, 1 a
 * usage or tool error; a command may give more specific failures codes
 * from 2 up (quote verify: 2 verification failed ... 5 parse error). */
#define EXIT_USAGE 1

/* A command or subcommand: `run` gets argv with argv[0] = its name.
 * `subs` lists its subcommands (run NULL: parsed by the command itself),
 * `opts` its options; both may be NULL and serve the help walk and the
 * completion script, so that they follow the code. */
struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const struct cli_cmd *subs;
	const struct option *opts;
};

/* Every command, for the help and the completion script (main.c). */
extern const struct cli_cmd *cli_commands;
/* Set once a command's options included --json: errors are then also
 * printed on stdout as {"error": "...", "code": N}, so stdout stays JSON. */
extern int cli_json;

/* Print "tdexec: <current error message>" to stderr (and the JSON error
 * object on stdout under --json); returns 1. */
int cli_fail(void);
/* The same, with exit code `code`, which it returns. */
int cli_fail_code(int code);
/* Print {"error": msg, "code": code} on stdout when --json was given. */
void cli_json_error(const char *msg, int code);
/* Print "tdexec <prog>: <message>" and a --help hint to stderr; returns
 * EXIT_USAGE. */
int cli_usage(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long with our conventions: options may follow operands, errors
 * print a clear message.  Returns the option, -1 at the end, or '?' after
 * printing the error (the caller exits EXIT_USAGE).  --json=true|false,
 * --json=1|0 and --no-json are understood wherever --json is an option
 * (--json being off by default, --no-json only after --json is refused as
 * a contradiction rather than guessed at). */
int cli_getopt(int argc, char **argv, const char *prog, const char *shortopts,
               const struct option *longopts);

/* Dispatch argv[1] among cmds; prints `usage` for --help / no argument.
 * Unknown names exit 2 with a message. */
int cli_dispatch(const char *prog, const struct cli_cmd *cmds, int argc, char **argv,
                 const char *usage);

/* Parse report data given as hex (up to 64 bytes, zero-padded on the right)
 * or read from a file (raw bytes or hex text). */
int cli_report_data(const char *hex, const char *file, uint8_t out[64]);

/* A quote from a file (or '-') of binary, hex, 0x-hex or base64, told
 * apart by its bytes (anything not printable ASCII is binary); whitespace and line breaks are allowed in text.
 * *unreadable (may be NULL) is set when the file could not be read, as
 * opposed to holding no valid quote.  Free *q with tdx_quote_free. */
struct tdx_quote;
int cli_quote_load(const char *path, struct tdx_quote **q, int *unreadable);

/* Parse a non-negative integer option within [min, max]. */
int cli_int(const char *prog, const char *opt, const char *s, long min, long max, long *out);

int cmd_quote(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_collateral(int argc, char **argv);
int cmd_chain(int argc, char **argv);
int cmd_sms(int argc, char **argv);
int cmd_ratls(int argc, char **argv);
int cmd_image(int argc, char **argv);
/* tdexec completion bash: a completion script made from the commands'
 * option tables (cli_complete.c). */
int cmd_completion(int argc, char **argv);
/* wallet, app, dataset, workerpool, account, order, deal, task */
extern const struct cli_cmd market_commands[];
/* The subcommand tables, for the main table. */
extern const struct cli_cmd quote_cmds[], sim_cmds[], coll_cmds[], chain_cmds[], sms_cmds[],
    ratls_cmds[], image_cmds[], pool_cmds[], policy_cmds[], secret_cmds[], result_cmds[],
    book_cmds[], completion_cmds[];
/* Options shared by several commands. */
extern const struct option cli_pool_opts[], cli_secret_opts[], cli_run_opts[], cli_sms_opts[],
    cli_pool_up_opts[], cli_pull_opts[], cli_pool_status_opts[];

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
/* Images in registries (cmd_pull.c): `image pull`, `app inspect`, and the
 * check `app deploy` makes: REF (from its registry, or from the OCI layout
 * `layout` when not NULL) exists and has a linux/amd64 image. */
struct oci_opts;
int cmd_image_pull(int argc, char **argv);
int cmd_app_inspect(int argc, char **argv);
int cli_image_check(const char *image, const char *layout, const struct oci_opts *o);
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
/* The same with the deal (0x hex), the task's index and, for a Boost deal,
 * the transaction that pushed its result (NULL for a classic deal) known
 * from the chain itself (task verify). */
int cli_result_check_at(struct poco_chain *c, const char *dealid, long long idx, const char *tx,
                        const uint8_t tid[32], const char *zip, int *encrypted);
/* tdexec task verify (cmd_task_verify.c) */
int cmd_task_verify(int argc, char **argv);
extern const struct option cli_task_verify_opts[];
/* What the chain knows of task `id`, classic or Boost: viewTask's fields
 * and "taskid", "dealid", "index", "boost", "status_name",
 * "finalDeadline" (Unix seconds: past it, claim refunds the requester),
 * "claimable".  dealid/idx, when known (dealid non-NULL), spare the
 * search of a Boost deal by its events.  ERR_NOTFOUND when no deal holds
 * the task. */
/* After a failed match: an escrow's "exceeds balance" revert (the message
 * in err) gets the next step, 'tdexec account deposit'. */
void cli_money_hint(void);
int cli_task_view(struct poco_chain *c, const uint8_t id[32], const uint8_t *dealid, uint64_t idx,
                  json_t **out);

#endif
