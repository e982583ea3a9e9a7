/* tdexec sms — the Secret Management Service. */
#include "cli.h"

#include "../services/sms/sms.h"
#include "../services/sms/store.h"
#include "crypto/p256.h"
#include "tdx/gate.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/harden.h"
#include "util/json.h"
#include "util/log.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char sms_usage[] =
    "Usage: tdexec sms [--config FILE] [--listen ADDR] [--port N] [--threads N]\n"
    "                  [--db FILE] [--master-key FILE | --master-key-command CMD]\n"
    "                  [--chain FILE | --network NAME --rpc URL] [--port-file FILE]\n"
    "                  [--public-url URL] [--collateral PATH --policy FILE\n"
    "                  [--allow-any-mrtd] [--trust-sim-root FILE]]\n"
    "                  [--tls-cert FILE --tls-key FILE]\n"
    "                  [--ra-tls [--provider tsm|sim|qgs|auto] [--sim-dir DIR]\n"
    "                  [--qgs ADDR] [--qgs-timeout MS]]\n"
    "                  [--max-connections N] [--max-connections-per-ip N]\n"
    "\n"
    "Serve the secrets API (iExec's paths and signatures) on ADDR:N (default\n"
    "127.0.0.1:13300).  Secrets are encrypted at rest with AES-256-GCM under the\n"
    "master key (a 0600 file, created when absent; or the output of CMD, e.g. a\n"
    "KMS client printing 64 hex digits); values are never returned.  A key that\n"
    "does not open the store's records is refused at start.\n"
    "The chain file gives dataset and app owners.  Stops on SIGTERM or SIGINT.\n"
    "\n" CLI_CHAIN_HELP
    "  --config FILE     JSON with the same settings: listen, port, threads, db,\n"
    "                    master_key, master_key_command, chain, network, rpc,\n"
    "                    public_url,\n"
    "                    collateral, policy, allow_any_mrtd, trust_sim_root,\n"
    "                    tls_cert, tls_key, ra_tls, provider, sim_dir, qgs,\n"
    "                    qgs_timeout (flags override it)\n"
    "  --tls-cert FILE   serve HTTPS with this PEM certificate chain ...\n"
    "  --tls-key FILE    ... and this PEM private key\n"
    "  --ra-tls          serve HTTPS with a fresh key whose self-signed certificate\n"
    "                    carries this TD's quote binding it (RA-TLS), so clients\n"
    "                    admit the SMS by its measurements (worker --sms-policy,\n"
    "                    secret push --sms-policy, 'tdexec ratls check')\n"
    "  --provider P      where that quote comes from (docs/providers.md): tsm\n"
    "                    (default, configfs-tsm), qgs (the host's QGS), auto (qgs\n"
    "                    when a QGS answers, tsm otherwise), sim (the simulated TD\n"
    "                    in --sim-dir, tests and demos; qgs and auto take its\n"
    "                    TDREPORT with --sim-dir)\n"
    "  --qgs ADDR        vsock:CID:PORT (default vsock:2:4050) or unix:PATH\n"
    "  --qgs-timeout MS  a whole QGS exchange (default 30000)\n"
    "  --public-url URL  the base workers reach this SMS at, for the session\n"
    "                    provisioning URLs (default http://ADDR:PORT)\n"
    "  --collateral PATH DCAP collateral for verifying workers' TD quotes: a\n"
    "                    dcap-qvl JSON file, a PCS directory, a directory of\n"
    "                    platforms or a PCS/PCCS URL, refreshed in the background\n"
    "                    (GET /status shows the time left); without it,\n"
    "                    attested provisioning answers 503\n"
    "  --policy FILE     the pool's TD policy, required with --collateral (see\n"
    "                    'tdexec quote verify'): it must pin MRTD; TCB status\n"
    "                    UpToDate only and no advisory unless it lists others\n"
    "  --allow-any-mrtd  accept a policy that pins no MRTD (any TD code passes)\n"
    "  --trust-sim-root FILE  trust this simulated root CA instead of Intel's\n"
    "                    (tests and demos only)\n"
    "  --port-file FILE  write the bound port (useful with --port 0)\n"
    "  --threads N       request threads (default 4; a release's commit runs in\n"
    "                    a thread of its own, none of them waits for an fsync)\n"
    "  --max-connections N  HTTP connections in all (default 1024, kept below\n"
    "                    the fd limit)\n"
    "  --max-connections-per-ip N  connections from one client address (64)\n";

/* (two strings: C17 guarantees string literals of 4,095 bytes only) */
static const char sms_usage_offline[] =
    "\n"
    "       tdexec sms check --db FILE (--master-key FILE | --master-key-command CMD)\n"
    "\n"
    "Check an SMS's store, stopped or running (it takes no lock and writes\n"
    "nothing): SQLite's integrity check, then every secret must decrypt and\n"
    "authenticate under the master key.  Exit 0 when all do, 1 otherwise.\n"
    "\n"
    "       tdexec sms rekey --db FILE (--master-key F | --master-key-command CMD)\n"
    "                        (--new-master-key F | --new-master-key-command CMD) [--json]\n"
    "\n"
    "Rotate the master key of a stopped SMS: every secret is re-encrypted under\n"
    "the new key (a new file is created, 0600, when absent) in one transaction,\n"
    "so the store is wholly under one key or the other.  Refused while an SMS\n"
    "has the store open, or when a record does not open under the current key.\n"
    "\n"
    "       tdexec sms ear-rotate --db FILE (--master-key F | --master-key-command C)\n"
    "                             [--json]\n"
    "\n"
    "A new key for the attestation-result tokens (EAR) the SMS signs per release\n"
    "(docs/ear.md): the current one is kept as the previous key, published in\n"
    "the JWK Set but no longer signing, so tokens it signed still verify; the key\n"
    "previous before that is dropped.  Takes effect when the SMS next starts.\n";

static const char sms_usage_ratls[] =
    "\n"
    "With --ra-tls, the certificate also carries the SMS's configuration document\n"
    "(the root, collateral source and policy it admits workers by, its chain and\n"
    "the kind of master key source), bound by the quote; clients pin its SHA-256\n"
    "(--sms-config-hash, 'tdexec ratls check --config-hash').  --trust-sim-root\n"
    "is refused with the tsm provider.\n"
    "\n"
    "       tdexec sms config-hash [the SMS's settings, as above] [--json]\n"
    "\n"
    "Print the configuration hash an SMS started with these settings serves, then\n"
    "the document itself (its bytes are what is hashed), without starting it or\n"
    "reaching the chain's node (a chain file must give \"chain_id\"): an auditor's\n"
    "own value to pin, rather than one copied from the server.  --db and the\n"
    "master key are not opened; only whether the key is a file or a command\n"
    "counts.\n";

static int sms_help(void)
{
	fputs(sms_usage, stdout);
	fputs(sms_usage_ratls, stdout);
	fputs(sms_usage_offline, stdout);
	return 0;
}

/* The offline commands create neither the store nor its key file. */
static int store_files(const char *db, const char *key)
{
	struct stat sb;
	if (stat(db, &sb) != 0 || (key && stat(key, &sb) != 0))
		return err_set(ERR_NOTFOUND, "%s: no such file", stat(db, &sb) != 0 ? db : key);
	return 0;
}

/* tdexec sms rekey */
static const struct option sms_rekey_opts[] = {
    {"db", required_argument, NULL, 'd'},
    {"master-key", required_argument, NULL, 'm'},
    {"master-key-command", required_argument, NULL, 'M'},
    {"new-master-key", required_argument, NULL, 'n'},
    {"new-master-key-command", required_argument, NULL, 'N'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int sms_rekey(int argc, char **argv)
{
	const char *db = NULL, *key = NULL, *cmd = NULL, *nkey = NULL, *ncmd = NULL;
	long n;
	int c;

	optind = 0;
	while ((c = cli_getopt(argc, argv, "sms rekey", "h", sms_rekey_opts)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'm': key = optarg; break;
		case 'M': cmd = optarg; break;
		case 'n': nkey = optarg; break;
		case 'N': ncmd = optarg; break;
		case 'j': break; /* cli_json */
		case 'h': return sms_help();
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage("sms rekey", "unexpected argument '%s'", argv[optind]);
	if (!db || !key == !cmd || !nkey == !ncmd)
		return cli_usage("sms rekey", "--db, the current key (--master-key or "
		                              "--master-key-command) and the new one are required");
	if (store_files(db, key) < 0)
		return cli_fail();
	if (sms_store_rekey(db, key, cmd, nkey, ncmd, &n) < 0)
		return cli_fail();
	if (cli_json)
		printf("{\"secrets\": %ld, \"rekeyed\": true}\n", n);
	else
		printf("%ld secrets re-encrypted under the new master key\n", n);
	return 0;
}

/* The options of the commands that only open the store (ear-rotate, check). */
static const struct option sms_store_opts[] = {
    {"db", required_argument, NULL, 'd'},
    {"master-key", required_argument, NULL, 'm'},
    {"master-key-command", required_argument, NULL, 'M'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parse and check sms_store_opts for `name` ("sms check") and open the
 * store; neither file is created when missing.  STORE_OPEN: *st is open,
 * the caller closes it; otherwise the exit code to return (--help, a usage
 * error, a store that does not open). */
#define STORE_OPEN (-1)
static int store_cmd_open(int argc, char **argv, const char *name, enum sms_open_mode mode,
                          struct sms_store *st)
{
	const char *db = NULL, *key = NULL, *cmd = NULL;
	int c;

	optind = 0;
	while ((c = cli_getopt(argc, argv, name, "h", sms_store_opts)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'm': key = optarg; break;
		case 'M': cmd = optarg; break;
		case 'j': break; /* cli_json */
		case 'h': return sms_help();
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage(name, "unexpected argument '%s'", argv[optind]);
	if (!db || !key == !cmd)
		return cli_usage(name,
		                 "--db and one of --master-key, --master-key-command are required");
	if (store_files(db, key) < 0 || sms_store_open_mode(st, db, key, cmd, mode) < 0)
		return cli_fail();
	return STORE_OPEN;
}

/* tdexec sms ear-rotate */
static int sms_ear_rotate_cmd(int argc, char **argv)
{
	struct sms_store st;
	char old_kid[44], new_kid[44];
	int rc = store_cmd_open(argc, argv, "sms ear-rotate", SMS_OPEN_NOWAIT, &st);

	if (rc != STORE_OPEN)
		return rc;
	rc = sms_ear_rotate(&st, old_kid, new_kid);
	sms_store_close(&st);
	if (rc < 0)
		return cli_fail();
	if (cli_json)
		printf("{\"kid\": \"%s\", \"previous\": \"%s\"}\n", new_kid, old_kid);
	else
		printf("EAR key %s made; %s kept as the previous key; restart the SMS\n", new_kid,
		       old_kid[0] ? old_kid : "(none)");
	return 0;
}

/* tdexec sms check */
static int sms_check(int argc, char **argv)
{
	struct sms_store st;
	long total, bad;
	int rc = store_cmd_open(argc, argv, "sms check", SMS_OPEN_CHECK, &st);

	if (rc != STORE_OPEN)
		return rc;
	rc = sms_store_check(&st, &total, &bad);
	sms_store_close(&st);
	if (rc < 0)
		return cli_fail();
	if (cli_json)
		printf("{\"secrets\": %ld, \"authenticate\": true}\n", total);
	else
		printf("%ld secrets, all authenticate\n", total);
	return 0;
}

/* tdexec sms config-hash: the document and its hash, from settings only. */
static int sms_config_hash(const struct sms_config *cfg, int json)
{
	char *doc = NULL, hex[65];
	uint8_t h[32];
	json_t *out = NULL;
	int rc;

	rc = sms_config_offline(cfg, &doc, &(size_t){0});
	if (rc == 0)
		rc = sha256(doc, strlen(doc), h);
	if (rc < 0) {
		free(doc);
		return cli_fail();
	}
	hex_encode(hex, h, 32);
	if (json) {
		out = json_pack("{s:s,s:o}", "config_hash", hex, "config",
		                json_loads(doc, JSON_REJECT_DUPLICATES, NULL));
		rc = out ? json_print(out, 1) : err_set(ERR_NOMEM, "out of memory");
		json_decref(out);
	} else {
		printf("%s\n%s\n", hex, doc);
	}
	free(doc);
	return rc < 0 ? cli_fail() : 0;
}

const struct option cli_sms_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"port", required_argument, NULL, 'p'},
    {"threads", required_argument, NULL, 't'},
    {"db", required_argument, NULL, 'd'},
    {"master-key", required_argument, NULL, 'm'},
    {"master-key-command", required_argument, NULL, 'k'},
    {"chain", required_argument, NULL, 'C'},
    {"network", required_argument, NULL, 'N'},
    {"rpc", required_argument, NULL, 'r'},
    {"port-file", required_argument, NULL, 'P'},
    {"public-url", required_argument, NULL, 'U'},
    {"collateral", required_argument, NULL, 'L'},
    {"trust-sim-root", required_argument, NULL, 'S'},
    {"policy", required_argument, NULL, 'Y'},
    {"tls-cert", required_argument, NULL, 'E'},
    {"tls-key", required_argument, NULL, 'K'},
    {"ra-tls", no_argument, NULL, 'R'},
    {"provider", required_argument, NULL, 'V'},
    {"sim-dir", required_argument, NULL, 'D'},
    {"qgs", required_argument, NULL, 'Q'},
    {"qgs-timeout", required_argument, NULL, 'T'},
    {"allow-any-mrtd", no_argument, NULL, 'A'},
    {"max-connections", required_argument, NULL, 'X'},
    {"max-connections-per-ip", required_argument, NULL, 'I'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

const struct cli_cmd sms_cmds[] = {
    {"check", NULL, "check an SMS: RA-TLS, quote, policy", NULL, sms_store_opts},
    {"rekey", NULL, "re-encrypt the store under a new master key", NULL, sms_rekey_opts},
    {"ear-rotate", NULL, "a new EAR signing key, the current one kept as previous", NULL,
     sms_store_opts},
    {"config-hash", NULL, "the configuration document and its hash", NULL, cli_sms_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

int cmd_sms(int argc, char **argv)
{
	const char *prog = "sms";
	struct sms_config cfg = {.address = "127.0.0.1", .port = 13300, .threads = 4};
	json_t *conf = NULL;
	struct sms *s;
	sigset_t set;
	long v;
	int c, sig, any_mrtd = 0, hash_only = 0, json = 0;

	/* The master key and the secrets it opens: no core dump, no ptrace,
	 * files the SMS's own; it never needs a wallet password. */
	if (harden_service() < 0)
		return cli_fail();
	harden_env_drop("TDEXEC_WALLET_PASSWORD");
	if (argc > 1 && strcmp(argv[1], "check") == 0)
		return sms_check(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "rekey") == 0)
		return sms_rekey(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "ear-rotate") == 0)
		return sms_ear_rotate_cmd(argc - 1, argv + 1);
	/* the same settings as the service, read the same way */
	if (argc > 1 && strcmp(argv[1], "config-hash") == 0) {
		hash_only = 1;
		prog = "sms config-hash";
		argc--;
		argv++;
	}
	optind = 0;
	/* The config file first, so flags override it. */
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--config") == 0) {
			if (json_load_path(argv[i + 1], 1 << 20, &conf) < 0)
				return cli_fail();
			cfg.address = json_string_value(json_object_get(conf, "listen"))
			                  ? json_string_value(json_object_get(conf, "listen"))
			                  : cfg.address;
			if (json_is_integer(json_object_get(conf, "port")))
				cfg.port = (int)json_integer_value(json_object_get(conf, "port"));
			if (json_is_integer(json_object_get(conf, "threads")))
				cfg.threads =
				    (int)json_integer_value(json_object_get(conf, "threads"));
			cfg.db_path = json_string_value(json_object_get(conf, "db"));
			cfg.master_key_path =
			    json_string_value(json_object_get(conf, "master_key"));
			cfg.master_key_command =
			    json_string_value(json_object_get(conf, "master_key_command"));
			cfg.chain_path = json_string_value(json_object_get(conf, "chain"));
			cfg.chain_network = json_string_value(json_object_get(conf, "network"));
			cfg.chain_rpc = json_string_value(json_object_get(conf, "rpc"));
			cfg.public_url = json_string_value(json_object_get(conf, "public_url"));
			cfg.collateral = json_string_value(json_object_get(conf, "collateral"));
			cfg.trust_sim_root =
			    json_string_value(json_object_get(conf, "trust_sim_root"));
			cfg.policy = json_string_value(json_object_get(conf, "policy"));
			any_mrtd = json_is_true(json_object_get(conf, "allow_any_mrtd"));
			cfg.tls_cert = json_string_value(json_object_get(conf, "tls_cert"));
			cfg.tls_key = json_string_value(json_object_get(conf, "tls_key"));
			cfg.ra_tls = json_is_true(json_object_get(conf, "ra_tls"));
			cfg.provider.sim_dir = json_string_value(json_object_get(conf, "sim_dir"));
			cfg.provider.qgs = json_string_value(json_object_get(conf, "qgs"));
			if (json_object_get(conf, "qgs_timeout")) {
				json_t *t = json_object_get(conf, "qgs_timeout");
				if (!json_is_integer(t) || json_integer_value(t) < 1 ||
				    json_integer_value(t) > 600000) {
					json_decref(conf);
					return cli_usage(
					    prog, "%s: qgs_timeout: milliseconds, 1 to 600000",
					    argv[i + 1]);
				}
				cfg.provider.qgs_timeout_ms = (int)json_integer_value(t);
			}
			if (json_is_string(json_object_get(conf, "provider")) &&
			    tdx_provider_parse(json_string_value(json_object_get(conf, "provider")),
			                       &cfg.provider.kind) < 0) {
				json_decref(conf);
				return cli_usage(prog, "%s: provider: %s", argv[i + 1], err_msg());
			}
		}
	while ((c = cli_getopt(argc, argv, prog, "h", cli_sms_opts)) != -1) {
		switch (c) {
		case 'c': break;
		case 'l': cfg.address = optarg; break;
		case 'p':
			if (cli_int("sms", "--port", optarg, 0, 65535, &v))
				return EXIT_USAGE;
			cfg.port = (int)v;
			break;
		case 't':
			if (cli_int("sms", "--threads", optarg, 1, 256, &v))
				return EXIT_USAGE;
			cfg.threads = (int)v;
			break;
		case 'X':
			if (cli_int("sms", "--max-connections", optarg, 1, 1000000, &v))
				return EXIT_USAGE;
			cfg.max_conns = (unsigned)v;
			break;
		case 'I':
			if (cli_int("sms", "--max-connections-per-ip", optarg, 1, 1000000, &v))
				return EXIT_USAGE;
			cfg.max_conns_per_ip = (unsigned)v;
			break;
		case 'd': cfg.db_path = optarg; break;
		case 'm': cfg.master_key_path = optarg; break;
		case 'k': cfg.master_key_command = optarg; break;
		case 'C': cfg.chain_path = optarg; break;
		case 'N': cfg.chain_network = optarg; break;
		case 'r': cfg.chain_rpc = optarg; break;
		case 'P': cfg.port_file = optarg; break;
		case 'U': cfg.public_url = optarg; break;
		case 'L': cfg.collateral = optarg; break;
		case 'S': cfg.trust_sim_root = optarg; break;
		case 'Y': cfg.policy = optarg; break;
		case 'A': any_mrtd = 1; break;
		case 'E': cfg.tls_cert = optarg; break;
		case 'K': cfg.tls_key = optarg; break;
		case 'R': cfg.ra_tls = 1; break;
		case 'D': cfg.provider.sim_dir = optarg; break;
		case 'Q': cfg.provider.qgs = optarg; break;
		case 'T':
			if (cli_int("sms", "--qgs-timeout", optarg, 1, 600000, &v)) {
				json_decref(conf);
				return EXIT_USAGE;
			}
			cfg.provider.qgs_timeout_ms = (int)v;
			break;
		case 'V':
			if (tdx_provider_parse(optarg, &cfg.provider.kind) < 0) {
				json_decref(conf);
				return cli_usage(prog, "--provider: %s", err_msg());
			}
			break;
		case 'j': json = 1; break;
		case 'h': return sms_help();
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		json_decref(conf);
		return cli_usage(prog, "unexpected argument '%s'", argv[optind]);
	}
	if (json && !hash_only) {
		json_decref(conf);
		return cli_usage(prog, "--json goes with 'sms config-hash'");
	}
	if (cfg.chain_network && cfg.chain_path && conf && !json_object_get(conf, "network"))
		cfg.chain_path = NULL; /* --network overrides the config file's chain */
	if (cli_chain_usage(prog, cfg.chain_path, cfg.chain_network, cfg.chain_rpc)) {
		json_decref(conf);
		return EXIT_USAGE;
	}
	if ((!hash_only && !cfg.db_path) || !cfg.master_key_path == !cfg.master_key_command) {
		json_decref(conf);
		return cli_usage(prog, hash_only
		                           ? "--master-key or --master-key-command is "
		                             "required (its kind is part of the configuration)"
		                           : "--db and --master-key are required (or instead "
		                             "of --master-key, --master-key-command)");
	}
	if (cfg.ra_tls && tdx_provider_check(&cfg.provider) < 0) {
		json_decref(conf);
		return cli_usage(prog, "%s", err_msg());
	}
	/* Sessions go only to TDs the pool named: no policy, or one that pins
	 * no MRTD, would release them to a TD running any code. */
	if (cfg.collateral && !cfg.policy) {
		json_decref(conf);
		return cli_usage(prog, "--collateral needs --policy FILE: the TD policy "
		                       "(measurements, TCB statuses) a worker must meet to get "
		                       "a session");
	}
	if (cfg.collateral && !any_mrtd &&
	    tdx_gate_policy_pinned(cfg.policy, "--allow-any-mrtd") < 0) {
		json_decref(conf);
		return cli_fail();
	}
	if (hash_only) {
		c = sms_config_hash(&cfg, json);
		json_decref(conf);
		return c;
	}
	/* Block the stop signals before the server threads start, then wait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	log_set_level(log_get_level() > LOG_INFO ? LOG_INFO : log_get_level());
	if (sms_start(&cfg, &s) < 0) {
		json_decref(conf);
		return cli_fail();
	}
	log_info("sms.start", "listen=%s port=%d db=\"%s\"", cfg.address, sms_port(s), cfg.db_path);
	sigwait(&set, &sig);
	log_info("sms.stop", "signal=%d", sig);
	sms_stop(s);
	json_decref(conf);
	return 0;
}
