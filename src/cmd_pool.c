/* tdexec scheduler, tdexec worker — the two roles of a worker pool. */
#include "cli.h"

#include "../services/scheduler/scheduler.h"
#include "../services/worker/worker.h"
#include "poco/market.h"
#include "oci/registry.h"
#include "poco/network.h"
#include "tdx/gate.h"
#include "tdx/ratls.h"
#include "util/err.h"
#include "util/harden.h"
#include "util/log.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char sched_usage[] =
    "Usage: tdexec scheduler [--config FILE] (--chain FILE | --network NAME --rpc URL)\n"
    "                        --workerpool ADDR (--account N | --wallet F\n"
    "                        [--password-file F] | --plain-key F) --sms URL --db FILE\n"
    "                        --results DIR --collateral PATH --policy FILE\n"
    "                        [--trust-sim-root FILE] [--sms-policy FILE\n"
    "                        [--sms-config-hash HEX]]\n"
    "                        [--allow-any-mrtd]\n"
    "                        [--listen ADDR] [--port N]\n"
    "                        [--port-file F] [--public-url URL] [--poll-ms N]\n"
    "                        [--confirmations N] [--worker-timeout S]\n"
    "                        [--order-price NRLC --order-volume N [--order-category C]]\n"
    "                        [--max-connections N] [--max-connections-per-ip N]\n"
    "                        [--max-orders-per-signer N] [--max-unfunded-orders N]\n"
    "                        [--max-fee-gwei G] [--admin-token-file F]\n"
    "                        [--events-retention DAYS]\n"
    "\n"
    "Run the pool: follow the chain for the workerpool's deals (PoCo Boost where\n"
    "the hub has it, classic deals otherwise: the mode is logged at start),\n"
    "get each task's enclave challenge from the SMS, admit workers whose TD\n"
    "quote passes the pool's policy, hand them tasks, store their results for\n"
    "the beneficiary, and claim tasks past their deadline.  HTTP on ADDR:N\n"
    "(default 127.0.0.1:13400).  Stops on SIGTERM or SIGINT.\n"
    "\n"
    "It also serves the pool's orderbook (/orders, and iExec's market API); with\n"
    "--order-volume it keeps a TDX workerpool order of that volume at\n"
    "--order-price nRLC per task on it.\n"
    "\n" CLI_CHAIN_HELP
    "  --policy FILE   the TD policy a worker's quote must meet to register (see\n"
    "                  'tdexec quote verify'); it must pin MRTD; TCB status\n"
    "                  UpToDate only and no advisory unless it lists others\n"
    "  --sms-policy FILE  reach the SMS over RA-TLS only, admitting it by its own\n"
    "                  TD quote (same collateral and root) against this policy;\n"
    "                  an SMS whose configuration trusts a simulated root other\n"
    "                  than --trust-sim-root is refused\n"
    "  --sms-config-hash HEX  and only with this configuration (the SHA-256 that\n"
    "                  'tdexec sms config-hash' computes from the SMS's settings)\n"
    "  --allow-any-mrtd  accept policies that pin no MRTD (any TD code passes)\n"
    "  --max-connections N  HTTP connections in all (1024; kept below the fd limit)\n"
    "  --max-connections-per-ip N  from one client address (64)\n"
    "  --max-orders-per-signer N  open orders of a kind one signer may keep on\n"
    "                  the book (100); past it, 429\n"
    "  --max-unfunded-orders N  open request orders, in all, from requesters\n"
    "                  whose stake does not cover one task (1000; each open an\n"
    "                  hour); past it, 429\n"
    "  --max-fee-gwei G  never offer more than G gwei per gas (maxFeePerGas, 100)\n"
    "                  for its transactions: a stuck one waits for the base fee\n"
    "                  to fall\n"
    "  --admin-token-file F  where to write the admin token, drawn afresh at each\n"
    "                  start (0600; default admin.token next to --db): it opens\n"
    "                  GET /workers, /stats and the /tasks listing, as does the\n"
    "                  pool owner's signature ('tdexec pool status')\n"
    "  --events-retention DAYS  delete the status timeline of a task finished\n"
    "                  (COMPLETED or FAILED) more than DAYS ago (30; 0 keeps them\n"
    "                  forever); the task itself stays\n"
    "  --config FILE   JSON with the same options, e.g. {\"sms\": URL, \"order_volume\":\n"
    "                  10, \"trust_sim_root\": F}; flags override it\n";

static const char worker_usage[] =
    "Usage: tdexec worker [--config FILE] --scheduler URL (--chain FILE | --network NAME\n"
    "                     --rpc URL) (--account N | --wallet F\n"
    "                     [--password-file F] | --plain-key F) --images DIR\n"
    "                     --work-dir DIR [--provider tsm|sim|qgs|auto] [--sim-dir DIR]\n"
    "                     [--qgs ADDR] [--qgs-timeout MS]\n"
    "                     [--runtime-log FILE]\n"
    "                     [--runtime PATH] [--memory MIB] [--max-time S]\n"
    "                     [--allow-network] [--allow-private-inputs] [--max-tasks N]\n"
    "                     [--pull [--registry-auth FILE] [--registry-ca FILE]\n"
    "                     [--registry-plain-http HOST:PORT] [--jobs N]\n"
    "                     [--max-image-size MIB] [--pull-timeout S]] [--max-store MIB]\n"
    "                     [--max-output MIB] [--max-tmp MIB] [--max-pids N]\n"
    "                     [--cpus N] [--uid-base N] [--work-dir-encrypted]\n"
    "                     [--max-inflight N] [--max-fee-gwei G]\n"
    "                     [--metrics-listen ADDR:PORT]\n"
    "                     (--sms-policy FILE --collateral PATH [--trust-sim-root F]\n"
    "                     [--allow-any-mrtd] [--sms-config-hash HEX] | --insecure-sms)\n";

/* The rest apart: one string of it all would pass C17's 4,095 bytes. */
static const char worker_usage_body[] =
    "\n"
    "Run tasks inside this TD: register with the scheduler by a quote bound to\n"
    "the worker's address, get each task's session from the SMS by a fresh\n"
    "quote, run the app image (from the OCI layout DIR, checked against the\n"
    "app's on-chain checksum) with runc, and complete the task on chain.\n"
    "\n"
    "  --config FILE   JSON with the same options; flags override it\n" CLI_CHAIN_HELP
    "  --allow-private-inputs  fetch input files and datasets from any address;\n"
    "                  by default only public ones are reached (never loopback,\n"
    "                  private, link-local such as cloud metadata, ...)\n"

    "  --provider P    where quotes come from: see below\n"
    "  --sms-policy FILE  reach the SMS over RA-TLS only: its certificate must\n"
    "                  carry its own TD quote, verified with --collateral and\n"
    "                  meeting this policy (see 'tdexec quote verify'), before any\n"
    "                  request is sent; otherwise the task fails.  It must pin\n"
    "                  MRTD unless --allow-any-mrtd is given.  An SMS whose\n"
    "                  configuration trusts a simulated root other than\n"
    "                  --trust-sim-root is refused\n"
    "  --sms-config-hash HEX  and only with this configuration (the SHA-256 that\n"
    "                  'tdexec sms config-hash' computes from the SMS's settings)\n"
    "  --insecure-sms  reach the SMS without attesting it (plain http or a CA's\n"
    "                  certificate): the pool operator could hand the worker an\n"
    "                  SMS of its own making.  Tests and demos only\n"
    "  --memory MIB    the app's memory limit (default 8192)\n"
    "  --max-time S    the app's wall time when its category gives none (3600)\n"
    "  --max-output MIB  the size of /iexec_out, a tmpfs, and of any file the app\n"
    "                  writes (1024)\n"
    "  --max-tmp MIB   the size of the app's /tmp, a tmpfs (1024)\n"
    "  --max-pids N    the app's processes and threads (512)\n"
    "  --cpus N        the app's CPU quota, e.g. 1.5 (all online CPUs)\n"
    "  --uid-base N    the app runs in a user namespace whose ids 0-65535 are the\n"
    "                  host's N to N+65535 (100000)\n"
    "  --max-inflight N  completion transactions awaiting their receipt while\n"
    "                  the worker takes more tasks (16); 1: each task waits for\n"
    "                  its own receipt\n"
    "  --max-fee-gwei G  never offer more than G gwei per gas (maxFeePerGas, 100):\n"
    "                  a transaction stuck behind a higher base fee waits for it\n"
    "                  to fall\n"
    "  --metrics-listen ADDR:PORT  serve /metrics (Prometheus text) and /healthz\n"
    "                  on this IPv4 address, e.g. 127.0.0.1:9464 (default: none)\n"
    "  --work-dir DIR  tasks run in tmpfs workspaces under it; DIR itself (the\n"
    "                  image cache, the journal) must be on a tmpfs, or on a disk\n"
    "                  private to the TD, which --work-dir-encrypted asserts\n";
/* apart: one string over 4095 bytes is not portable C */
/* Apart: one string of it all would pass the 4,095 bytes C17 promises. */
static const char worker_usage_provider[] =
    "\n"
    "Quote providers (docs/providers.md):\n"
    "  --provider tsm  configfs-tsm (default): ~1 s per quote on real TDX\n"
    "  --provider qgs  TDREPORT from /dev/tdx_guest, the quote from the host's\n"
    "                  QGS over vsock: milliseconds\n"
    "  --provider auto qgs when a QGS answers, tsm otherwise\n"
    "  --provider sim  the simulated TD in --sim-dir (tests, demos); qgs and auto\n"
    "                  with --sim-dir take its TDREPORT (labelled simulated)\n"
    "  --qgs ADDR      vsock:CID:PORT (default vsock:2:4050) or unix:PATH\n"
    "  --qgs-timeout MS  a whole QGS exchange (default 30000)\n";

static const char worker_usage_td[] =
    "  --runtime-log FILE  the runtime event log: a line per RTMR3 extend (each\n"
    "                  task's app and task id), sent with every quote (default\n"
    "                  WORK_DIR/runtime_log.jsonl; sim: SIM_DIR/event_log.jsonl)\n";
static const char worker_usage_registry[] =
    "  --pull          fetch an image missing from --images from its registry, by\n"
    "                  the app's name pinned to its on-chain digest, into --images\n"
    "                  (docs/registry.md); the registry, its token server and\n"
    "                  redirects must be at public addresses unless\n"
    "                  --allow-private-inputs\n"
    "  --registry-auth FILE  docker config.json with registry credentials\n"
    "                  (default $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json,\n"
    "                  ~/.docker/config.json)\n"
    "  --registry-ca FILE  extra CA certificates (PEM) trusted for registries\n"
    "  --registry-plain-http HOST:PORT  reach this registry over plain HTTP\n"
    "                  (repeatable; never a fallback)\n"
    "  --jobs N        concurrent layer downloads of a pull (3)\n"
    "  --max-image-size MIB  refuse images whose layers are larger, compressed\n"
    "                  (8192)\n"
    "  --pull-timeout S  give up a pull after S seconds, retries included (1800)\n"
    "  --max-store MIB  keep the image store within MIB after each task: the\n"
    "                  least recently used images go (their unpacked trees, and\n"
    "                  with --pull their blobs in --images); 0 = no limit (0)\n";

enum {
	K_CHAIN = 1000,
	K_POOL,
	K_ACCOUNT,
	K_WALLET,
	K_PASSWORD,
	K_PLAIN,
	K_SMS,
	K_DB,
	K_RESULTS,
	K_COLLATERAL,
	K_POLICY,
	K_SIMROOT,
	K_LISTEN,
	K_PORT,
	K_PORTFILE,
	K_URL,
	K_POLL,
	K_CONF,
	K_WTIMEOUT,
	K_SCHED,
	K_IMAGES,
	K_WORK,
	K_PROVIDER,
	K_SIMDIR,
	K_QGS,
	K_QGSTIMEOUT,
	K_RUNTIMELOG,
	K_RUNTIME,
	K_MEMORY,
	K_MAXTIME,
	K_NETWORK,
	K_MAXTASKS,
	K_OPRICE,
	K_OVOLUME,
	K_OCAT,
	K_CONFIG,
	K_PULL,
	K_SMSPOLICY,
	K_MAXOUT,
	K_MAXTMP,
	K_MAXPIDS,
	K_CPUS,
	K_UIDBASE,
	K_WDENC,
	K_PRIVATEIN,
	K_ANYMRTD,
	K_INSECURESMS,
	K_MAXCONN,
	K_MAXCONNIP,
	K_MAXORDERS,
	K_MAXUNFUNDED,
	K_NETNAME,
	K_RPC,
	K_SMSHASH,
	K_ADMINTOKEN,
	K_MAXINFLIGHT,
	K_MAXFEE,
	K_REGAUTH,
	K_REGCA,
	K_REGPLAIN,
	K_PULLJOBS,
	K_MAXIMAGE,
	K_METRICSLISTEN,
	K_PULLTIMEOUT,
	K_MAXSTORE,
	K_EVRETENTION
};

const struct option cli_pool_opts[] = {
    {"chain", required_argument, NULL, K_CHAIN},
    {"network", required_argument, NULL, K_NETNAME},
    {"rpc", required_argument, NULL, K_RPC},
    {"workerpool", required_argument, NULL, K_POOL},
    {"account", required_argument, NULL, K_ACCOUNT},
    {"wallet", required_argument, NULL, K_WALLET},
    {"password-file", required_argument, NULL, K_PASSWORD},
    {"plain-key", required_argument, NULL, K_PLAIN},
    {"sms", required_argument, NULL, K_SMS},
    {"db", required_argument, NULL, K_DB},
    {"results", required_argument, NULL, K_RESULTS},
    {"collateral", required_argument, NULL, K_COLLATERAL},
    {"policy", required_argument, NULL, K_POLICY},
    {"trust-sim-root", required_argument, NULL, K_SIMROOT},
    {"listen", required_argument, NULL, K_LISTEN},
    {"port", required_argument, NULL, K_PORT},
    {"port-file", required_argument, NULL, K_PORTFILE},
    {"max-connections", required_argument, NULL, K_MAXCONN},
    {"max-connections-per-ip", required_argument, NULL, K_MAXCONNIP},
    {"max-orders-per-signer", required_argument, NULL, K_MAXORDERS},
    {"max-unfunded-orders", required_argument, NULL, K_MAXUNFUNDED},
    {"public-url", required_argument, NULL, K_URL},
    {"poll-ms", required_argument, NULL, K_POLL},
    {"confirmations", required_argument, NULL, K_CONF},
    {"worker-timeout", required_argument, NULL, K_WTIMEOUT},
    {"scheduler", required_argument, NULL, K_SCHED},
    {"images", required_argument, NULL, K_IMAGES},
    {"work-dir", required_argument, NULL, K_WORK},
    {"provider", required_argument, NULL, K_PROVIDER},
    {"sim-dir", required_argument, NULL, K_SIMDIR},
    {"qgs", required_argument, NULL, K_QGS},
    {"qgs-timeout", required_argument, NULL, K_QGSTIMEOUT},
    {"runtime-log", required_argument, NULL, K_RUNTIMELOG},
    {"runtime", required_argument, NULL, K_RUNTIME},
    {"memory", required_argument, NULL, K_MEMORY},
    {"max-time", required_argument, NULL, K_MAXTIME},
    {"allow-network", no_argument, NULL, K_NETWORK},
    {"max-tasks", required_argument, NULL, K_MAXTASKS},
    {"order-price", required_argument, NULL, K_OPRICE},
    {"order-volume", required_argument, NULL, K_OVOLUME},
    {"order-category", required_argument, NULL, K_OCAT},
    {"config", required_argument, NULL, K_CONFIG},
    {"pull", no_argument, NULL, K_PULL},
    {"sms-policy", required_argument, NULL, K_SMSPOLICY},
    {"sms-config-hash", required_argument, NULL, K_SMSHASH},
    {"max-output", required_argument, NULL, K_MAXOUT},
    {"max-tmp", required_argument, NULL, K_MAXTMP},
    {"max-pids", required_argument, NULL, K_MAXPIDS},
    {"cpus", required_argument, NULL, K_CPUS},
    {"uid-base", required_argument, NULL, K_UIDBASE},
    {"work-dir-encrypted", no_argument, NULL, K_WDENC},
    {"allow-private-inputs", no_argument, NULL, K_PRIVATEIN},
    {"allow-any-mrtd", no_argument, NULL, K_ANYMRTD},
    {"insecure-sms", no_argument, NULL, K_INSECURESMS},
    {"max-inflight", required_argument, NULL, K_MAXINFLIGHT},
    {"max-fee-gwei", required_argument, NULL, K_MAXFEE},
    {"registry-auth", required_argument, NULL, K_REGAUTH},
    {"registry-ca", required_argument, NULL, K_REGCA},
    {"registry-plain-http", required_argument, NULL, K_REGPLAIN},
    {"jobs", required_argument, NULL, K_PULLJOBS},
    {"max-image-size", required_argument, NULL, K_MAXIMAGE},
    {"pull-timeout", required_argument, NULL, K_PULLTIMEOUT},
    {"max-store", required_argument, NULL, K_MAXSTORE},
    {"events-retention", required_argument, NULL, K_EVRETENTION},
    {"admin-token-file", required_argument, NULL, K_ADMINTOKEN},
    {"metrics-listen", required_argument, NULL, K_METRICSLISTEN},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct popts {
	const char *wallet, *password, *plain, *chain, *network, *rpc;
	long account;
};

/* The signing key of --account/--wallet/--plain-key. */
static int pool_key(const struct popts *o, uint8_t key[32])
{
	struct poco_chain *c = NULL;
	int rc;
	if (o->account >= 0)
		GUARD(poco_chain_open(o->chain, o->network, o->rpc, &c));
	rc = cli_signing_key(o->wallet, o->password, o->plain, o->account, c, key);
	poco_chain_free(c);
	return rc;
}

/* Options both roles share; 1 when handled, -1 on a bad value. */
static int common_opt(const char *prog, int c, struct popts *o)
{
	long v;
	switch (c) {
	case K_CHAIN: o->chain = optarg; return 1;
	case K_NETNAME: o->network = optarg; return 1;
	case K_RPC: o->rpc = optarg; return 1;
	case K_WALLET: o->wallet = optarg; return 1;
	case K_PASSWORD: o->password = optarg; return 1;
	case K_PLAIN: o->plain = optarg; return 1;
	case K_ACCOUNT:
		if (cli_int(prog, "--account", optarg, 0, 1000, &v))
			return -1;
		o->account = v;
		return 1;
	default: return 0;
	}
}

/* --max-fee-gwei G (decimals allowed) in wei. */
static int max_fee_wei(const char *prog, const char *arg, uint64_t *out)
{
	char *end;
	double g = strtod(arg, &end);
	if (end == arg || *end || !(g >= 1e-9 && g <= 1e6))
		return cli_usage(prog, "--max-fee-gwei: a number of gwei from 0.000000001 to "
		                       "1000000");
	*out = (uint64_t)(g * 1e9 + 0.5);
	return 0;
}

static volatile sig_atomic_t stopping;

/* --sms-config-hash, decoded (the config points here) */
static uint8_t sms_pin[32];

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

int cmd_scheduler(int argc, char **argv)
{
	struct sched_config cfg = {0};
	struct popts o = {NULL, NULL, NULL, NULL, NULL, NULL, -1};
	struct sched *s;
	sigset_t set;
	long v;
	int c, sig, h, any_mrtd = 0;

	/* The pool owner's key: no core dump, no ptrace, files the
	 * scheduler's own. */
	if (harden_service() < 0)
		return cli_fail();
	cfg.address = "127.0.0.1";
	cfg.port = 13400;
	cfg.events_retention_days = 30;
	if (cli_config_argv(argc, argv, &argc, &argv) < 0)
		return cli_fail();
	optind = 0;
	while ((c = cli_getopt(argc, argv, "scheduler", "h", cli_pool_opts)) != -1) {
		if ((h = common_opt("scheduler", c, &o)) != 0) {
			if (h < 0)
				return EXIT_USAGE;
			continue;
		}
		switch (c) {
		case K_CONFIG: break; /* read before */
		case K_POOL: cfg.workerpool = optarg; break;
		case K_SMSHASH:
			if (tdx_ratls_pin_parse(optarg, "--sms-config-hash", sms_pin) < 0)
				return cli_usage("scheduler", "%s", err_msg());
			cfg.sms_config_hash = sms_pin;
			break;
		case K_SMS: cfg.sms_url = optarg; break;
		case K_DB: cfg.db_path = optarg; break;
		case K_ADMINTOKEN: cfg.admin_token_file = optarg; break;
		case K_RESULTS: cfg.results_dir = optarg; break;
		case K_COLLATERAL: cfg.collateral = optarg; break;
		case K_POLICY: cfg.policy = optarg; break;
		case K_SIMROOT: cfg.trust_sim_root = optarg; break;
		case K_SMSPOLICY: cfg.sms_policy = optarg; break;
		case K_ANYMRTD: any_mrtd = 1; break;
		case K_LISTEN: cfg.address = optarg; break;
		case K_PORTFILE: cfg.port_file = optarg; break;
		case K_URL: cfg.public_url = optarg; break;
		case K_OPRICE: cfg.order_price = optarg; break;
		case K_OCAT: cfg.order_category = optarg; break;
		case K_OVOLUME:
			if (cli_int("scheduler", "--order-volume", optarg, 0, 1000000, &v))
				return EXIT_USAGE;
			cfg.order_volume = v;
			break;
		case K_PORT:
			if (cli_int("scheduler", "--port", optarg, 0, 65535, &v))
				return EXIT_USAGE;
			cfg.port = (int)v;
			break;
		case K_MAXCONN:
			if (cli_int("scheduler", "--max-connections", optarg, 1, 1000000, &v))
				return EXIT_USAGE;
			cfg.max_conns = (unsigned)v;
			break;
		case K_MAXCONNIP:
			if (cli_int("scheduler", "--max-connections-per-ip", optarg, 1, 1000000,
			            &v))
				return EXIT_USAGE;
			cfg.max_conns_per_ip = (unsigned)v;
			break;
		case K_MAXORDERS:
			if (cli_int("scheduler", "--max-orders-per-signer", optarg, 1, 10000, &v))
				return EXIT_USAGE;
			cfg.max_orders_per_signer = v;
			break;
		case K_MAXUNFUNDED:
			if (cli_int("scheduler", "--max-unfunded-orders", optarg, 1, 1000000, &v))
				return EXIT_USAGE;
			cfg.max_unfunded_orders = v;
			break;
		case K_MAXFEE:
			if (max_fee_wei("scheduler", optarg, &cfg.max_fee))
				return EXIT_USAGE;
			break;
		case K_POLL:
			if (cli_int("scheduler", "--poll-ms", optarg, 10, 600000, &v))
				return EXIT_USAGE;
			cfg.poll_ms = (int)v;
			break;
		case K_CONF:
			if (cli_int("scheduler", "--confirmations", optarg, 0, 1000, &v))
				return EXIT_USAGE;
			cfg.confirmations = (int)v;
			break;
		case K_WTIMEOUT:
			if (cli_int("scheduler", "--worker-timeout", optarg, 1, 86400, &v))
				return EXIT_USAGE;
			cfg.worker_timeout_s = (int)v;
			break;
		case K_EVRETENTION:
			if (cli_int("scheduler", "--events-retention", optarg, 0, 36500, &v))
				return EXIT_USAGE;
			cfg.events_retention_days = (int)v;
			break;
		case 'h': fputs(sched_usage, stdout); return 0;
		case '?': return EXIT_USAGE; /* cli_getopt said why */
		default: return cli_usage("scheduler", "option not valid here");
		}
	}
	if (optind < argc)
		return cli_usage("scheduler", "unexpected argument '%s'", argv[optind]);
	if ((!o.chain && !o.network) || !cfg.workerpool || !cfg.sms_url || !cfg.db_path ||
	    !cfg.results_dir || !cfg.collateral)
		return cli_usage("scheduler", "--chain (or --network), --workerpool, --sms, --db, "
		                              "--results and --collateral are required");
	if (cli_chain_usage("scheduler", o.chain, o.network, o.rpc))
		return EXIT_USAGE;
	/* Workers are admitted only by a policy that names their TD. */
	if (!cfg.policy)
		return cli_usage("scheduler", "--policy FILE is required: the TD policy "
		                              "(measurements, TCB statuses) a worker must meet "
		                              "to register");
	if (cfg.sms_config_hash && !cfg.sms_policy)
		return cli_usage("scheduler", "--sms-config-hash needs --sms-policy (RA-TLS)");
	if (cfg.sms_policy && strncasecmp(cfg.sms_url, "https://", 8) != 0)
		return cli_usage("scheduler",
		                 "--sms-policy admits the SMS over RA-TLS: --sms must be "
		                 "an https URL");
	if (!any_mrtd &&
	    (tdx_gate_policy_pinned(cfg.policy, "--allow-any-mrtd") < 0 ||
	     (cfg.sms_policy && tdx_gate_policy_pinned(cfg.sms_policy, "--allow-any-mrtd") < 0)))
		return cli_fail();
	cfg.chain_path = o.chain;
	cfg.chain_network = o.network;
	cfg.chain_rpc = o.rpc;
	if (pool_key(&o, cfg.owner_key) < 0)
		return cli_fail();
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	log_set_level(log_get_level() > LOG_INFO ? LOG_INFO : log_get_level());
	if (sched_start(&cfg, &s) < 0) {
		OPENSSL_cleanse(cfg.owner_key, 32);
		return cli_fail();
	}
	OPENSSL_cleanse(cfg.owner_key, 32);
	log_info("sched.start", "port=%d workerpool=%s sms=%s", sched_port(s), cfg.workerpool,
	         cfg.sms_url);
	sigwait(&set, &sig);
	log_info("sched.stop", "signal=%d", sig);
	sched_stop(s);
	return 0;
}

int cmd_worker(int argc, char **argv)
{
	struct worker_config cfg;
	char runtime_log[PATH_MAX];
	struct popts o = {NULL, NULL, NULL, NULL, NULL, NULL, -1};
	struct sigaction sa;
	long v;
	int c, h, rc, any_mrtd = 0, insecure_sms = 0;

	/* The worker's key and each task's session: no core dump, no ptrace
	 * (the app runs beside it), files the worker's own. */
	if (harden_service() < 0)
		return cli_fail();
	memset(&cfg, 0, sizeof(cfg));
	cfg.provider.kind = TDX_PROVIDER_TSM;
	cfg.max_time_s = 3600;
	if (cli_config_argv(argc, argv, &argc, &argv) < 0)
		return cli_fail();
	optind = 0;
	while ((c = cli_getopt(argc, argv, "worker", "h", cli_pool_opts)) != -1) {
		if ((h = common_opt("worker", c, &o)) != 0) {
			if (h < 0)
				return EXIT_USAGE;
			continue;
		}
		switch (c) {
		case K_CONFIG: break; /* read before */
		case K_SCHED: cfg.scheduler_url = optarg; break;
		case K_SMSHASH:
			if (tdx_ratls_pin_parse(optarg, "--sms-config-hash", sms_pin) < 0)
				return cli_usage("worker", "%s", err_msg());
			cfg.sms_config_hash = sms_pin;
			break;
		case K_IMAGES: cfg.images = optarg; break;
		case K_WORK: cfg.work_dir = optarg; break;
		case K_SIMDIR: cfg.provider.sim_dir = optarg; break;
		case K_QGS: cfg.provider.qgs = optarg; break;
		case K_QGSTIMEOUT:
			if (cli_int("worker", "--qgs-timeout", optarg, 1, 600000, &v))
				return EXIT_USAGE;
			cfg.provider.qgs_timeout_ms = (int)v;
			break;
		case K_RUNTIMELOG: cfg.provider.runtime_log = optarg; break;
		case K_RUNTIME: cfg.runtime = optarg; break;
		case K_NETWORK: cfg.allow_network = 1; break;
		case K_PULL: cfg.pull = 1; break;
		case K_PRIVATEIN: cfg.allow_private_inputs = 1; break;
		case K_SMSPOLICY: cfg.sms_policy = optarg; break;
		case K_ANYMRTD: any_mrtd = 1; break;
		case K_INSECURESMS: insecure_sms = 1; break;
		case K_COLLATERAL: cfg.collateral = optarg; break;
		case K_SIMROOT: cfg.trust_sim_root = optarg; break;
		case K_PROVIDER:
			if (tdx_provider_parse(optarg, &cfg.provider.kind) < 0)
				return cli_usage("worker", "--provider: %s", err_msg());
			break;
		case K_MEMORY:
			if (cli_int("worker", "--memory", optarg, 16, 1L << 30, &v))
				return EXIT_USAGE;
			cfg.memory = (uint64_t)v << 20;
			break;
		case K_MAXTIME:
			if (cli_int("worker", "--max-time", optarg, 1, 30L * 86400, &v))
				return EXIT_USAGE;
			cfg.max_time_s = v;
			break;
		case K_MAXTASKS:
			if (cli_int("worker", "--max-tasks", optarg, 0, 1L << 30, &v))
				return EXIT_USAGE;
			cfg.max_tasks = v;
			break;
		case K_MAXINFLIGHT:
			if (cli_int("worker", "--max-inflight", optarg, 1, 1024, &v))
				return EXIT_USAGE;
			cfg.max_inflight = v;
			break;
		case K_MAXFEE:
			if (max_fee_wei("worker", optarg, &cfg.max_fee))
				return EXIT_USAGE;
			break;
		case K_REGAUTH: cfg.registry_auth = optarg; break;
		case K_REGCA: cfg.registry_ca = optarg; break;
		case K_REGPLAIN: {
			struct oci_opts chk;
			oci_opts_default(&chk);
			if (oci_opts_plain_http(&chk, optarg) < 0 ||
			    cfg.nregistry_plain_http == OCI_PLAIN_MAX)
				return cli_usage("worker",
				                 "--registry-plain-http HOST:PORT, at most %d",
				                 OCI_PLAIN_MAX);
			cfg.registry_plain_http[cfg.nregistry_plain_http++] = optarg;
			break;
		}
		case K_PULLJOBS:
			if (cli_int("worker", "--jobs", optarg, 1, OCI_JOBS_MAX, &v))
				return EXIT_USAGE;
			cfg.pull_jobs = (unsigned)v;
			break;
		case K_MAXIMAGE:
			if (cli_int("worker", "--max-image-size", optarg, 1, 1L << 30, &v))
				return EXIT_USAGE;
			cfg.max_image = (uint64_t)v << 20;
			break;
		case K_PULLTIMEOUT:
			if (cli_int("worker", "--pull-timeout", optarg, 1, 7 * 86400, &v))
				return EXIT_USAGE;
			cfg.pull_timeout = (unsigned)v;
			break;
		case K_MAXSTORE:
			if (cli_int("worker", "--max-store", optarg, 0, 1L << 30, &v))
				return EXIT_USAGE;
			cfg.max_store = (uint64_t)v << 20;
			break;
		case K_MAXOUT:
		case K_MAXTMP:
			if (cli_int("worker", c == K_MAXOUT ? "--max-output" : "--max-tmp", optarg,
			            1, 1L << 24, &v))
				return EXIT_USAGE;
			*(c == K_MAXOUT ? &cfg.max_output : &cfg.max_tmp) = (uint64_t)v << 20;
			break;
		case K_MAXPIDS:
			if (cli_int("worker", "--max-pids", optarg, 8, 1L << 22, &v))
				return EXIT_USAGE;
			cfg.max_pids = v;
			break;
		case K_CPUS: {
			char *end;
			double d = strtod(optarg, &end);
			if (end == optarg || *end || !(d >= 0.01 && d <= 4096))
				return cli_usage("worker",
				                 "--cpus: a number of CPUs from 0.01 to 4096");
			cfg.cpus_milli = (long)(d * 1000 + 0.5);
			break;
		}
		case K_UIDBASE:
			if (cli_int("worker", "--uid-base", optarg, 1, (1L << 32) - 65536 - 1, &v))
				return EXIT_USAGE;
			cfg.uid_base = (uint32_t)v;
			break;
		case K_WDENC: cfg.work_dir_encrypted = 1; break;
		case K_METRICSLISTEN: cfg.metrics_listen = optarg; break;
		case 'h':
			fputs(worker_usage, stdout);
			fputs(worker_usage_body, stdout);
			fputs(worker_usage_provider, stdout);
			fputs(worker_usage_td, stdout);
			fputs(worker_usage_registry, stdout);
			return 0;
		case '?': return EXIT_USAGE; /* cli_getopt said why */
		default: return cli_usage("worker", "option not valid here");
		}
	}
	if (optind < argc)
		return cli_usage("worker", "unexpected argument '%s'", argv[optind]);
	if (!cfg.scheduler_url || (!o.chain && !o.network) || !cfg.images || !cfg.work_dir)
		return cli_usage("worker", "--scheduler, --chain (or --network), --images and "
		                           "--work-dir are required");
	if (cli_chain_usage("worker", o.chain, o.network, o.rpc))
		return EXIT_USAGE;
	if (tdx_provider_check(&cfg.provider) < 0)
		return cli_usage("worker", "%s", err_msg());
	if (cfg.provider.kind == TDX_PROVIDER_SIM && cfg.provider.runtime_log)
		return cli_usage("worker", "--runtime-log: the sim provider keeps its log in "
		                           "SIM_DIR/event_log.jsonl");
	if (!cfg.provider.runtime_log && cfg.provider.kind != TDX_PROVIDER_SIM) {
		/* the work directory is a tmpfs, gone with the TD's boot as RTMR3 is */
		snprintf(runtime_log, sizeof(runtime_log), "%s/runtime_log.jsonl", cfg.work_dir);
		cfg.provider.runtime_log = runtime_log;
	}
	/* The worker hands the SMS its quote and takes its result key: it must
	 * know whom it is talking to, unless told plainly that it need not. */
	if (!cfg.sms_policy && !insecure_sms)
		return cli_usage("worker", "--sms-policy FILE is required: the worker admits the "
		                           "SMS by its TD quote over RA-TLS (--insecure-sms to "
		                           "reach an SMS it does not attest: tests only)");
	if (cfg.sms_policy && insecure_sms)
		return cli_usage("worker", "--sms-policy and --insecure-sms exclude each other");
	if (!cfg.sms_policy != !cfg.collateral)
		return cli_usage("worker", "--sms-policy and --collateral go together");
	if (cfg.sms_config_hash && !cfg.sms_policy)
		return cli_usage("worker", "--sms-config-hash needs --sms-policy (RA-TLS)");
	if (cfg.sms_policy && !any_mrtd &&
	    tdx_gate_policy_pinned(cfg.sms_policy, "--allow-any-mrtd") < 0)
		return cli_fail();
	cfg.chain_path = o.chain;
	cfg.chain_network = o.network;
	cfg.chain_rpc = o.rpc;
	if (pool_key(&o, cfg.key) < 0)
		return cli_fail();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	log_set_level(log_get_level() > LOG_INFO ? LOG_INFO : log_get_level());
	if (insecure_sms)
		log_warn("worker.sms", "trust=none (--insecure-sms: the SMS is not attested; "
		                       "never use in production)");
	rc = worker_run(&cfg, &stopping);
	OPENSSL_cleanse(cfg.key, 32);
	return rc < 0 ? cli_fail() : 0;
}

static const char pool_usage[] =
    "Usage: tdexec pool COMMAND [ARGS]\n"
    "\n"
    "A worker pool as its operator sees it.\n"
    "\n"
    "Commands:\n"
    "  up       a whole local pool in one command: chain, SMS, scheduler and\n"
    "           workers in SIMULATED TDs (pool up --sim)\n"
    "  status   workers, tasks by status, failures and earnings, from a\n"
    "           running scheduler (and the chain)\n";

const struct cli_cmd pool_cmds[] = {
    {"up", cmd_pool_up, "a local pool", NULL, cli_pool_up_opts},
    {"status", cmd_pool_status, "the pool seen by its operator", NULL, cli_pool_status_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

int cmd_pool(int argc, char **argv)
{
	return cli_dispatch("pool", pool_cmds, argc, argv, pool_usage);
}
