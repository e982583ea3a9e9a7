/* tdexec chain up|down|status — a local Anvil chain with the real PoCo. */
#include "cli.h"

#include "crypto/k1.h"
#include "eth/addr.h"
#include "eth/rpc.h"
#include "poco/deploy.h"
#include "poco/network.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_ACCOUNTS 10

static const char chain_usage[] =
    "Usage: tdexec chain COMMAND [ARGS]\n"
    "\n"
    "A local EVM chain (Anvil) with the real iExec PoCo contracts deployed.\n"
    "\n"
    "Commands:\n"
    "  up       start Anvil on 127.0.0.1 and deploy PoCo (reuses a running chain)\n"
    "  down     stop it (its state is kept in DIR and restored by the next up)\n"
    "  status   show the chain file and whether the chain answers\n"
    "  network  show iExec's deployment on a network (from the @iexec/poco package)\n";

static const char up_usage[] =
    "Usage: tdexec chain up [--dir DIR] [--port N] [--block-time S] [--flavour token|native]\n"
    "                       [--no-boost] [--json]\n"
    "\n"
    "  --dir DIR          state directory (default ~/.local/state/tdexec/chain); the chain\n"
    "                     file DIR/chain.json is what every other command reads\n"
    "  --port N           RPC port on 127.0.0.1 (default 8545; 0 = any free port)\n"
    "  --block-time S     mine a block every S seconds (default: automine)\n"
    "  --flavour F        token (RLC + IexecEscrowTokenFacet, default) or native\n"
    "  --no-boost         leave out the PoCo Boost facets, as iExec's Arbitrum deployments\n"
    "                     do: TEE deals are then classic (matchOrders, initialize,\n"
    "                     contributeAndFinalize)\n"
    "  --json             print the chain file (without its keys) and how the chain\n"
    "                     came up: state deployed, restored or already_up\n";

static int default_dir(char *out, size_t cap)
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n = x && *x ? snprintf(out, cap, "%s/tdexec/chain", x)
	                : snprintf(out, cap, "%s/.local/state/tdexec/chain", home ? home : ".");
	ENSURE(n > 0 && (size_t)n < cap, ERR_INVAL, "path too long");
	return 0;
}

/* A file shipped beside the binary: BIN/../REL, or ./REL. */
static int find_near_binary(const char *env, const char *rel, char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n;
	const char *e = getenv(env);

	if (e && *e) {
		snprintf(out, cap, "%s", e);
		return access(out, F_OK) == 0 ? 0
		                              : err_set(ERR_NOTFOUND, "%s=%s: not found", env, e);
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(out, cap, "%s/../%s", dirname(exe), rel);
		if (access(out, F_OK) == 0)
			return 0;
	}
	snprintf(out, cap, "%s", rel);
	if (access(out, F_OK) == 0)
		return 0;
	return err_set(ERR_NOTFOUND, "%s not found (run scripts/install-deps, or set %s)", rel,
	               env);
}

static int free_port(int *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	ENSURE(s >= 0, ERR_IO, "socket: %s", strerror(errno));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(s, (struct sockaddr *)&a, &len) != 0) {
		close(s);
		return err_set(ERR_IO, "cannot find a free port: %s", strerror(errno));
	}
	*port = ntohs(a.sin_port);
	close(s);
	return 0;
}

static int path_in(const char *dir, const char *name, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	ENSURE(n > 0 && (size_t)n < cap, ERR_INVAL, "path too long");
	return 0;
}

/* The pid in DIR/anvil.pid if that process is alive and is Anvil. */
static pid_t running_pid(const char *dir)
{
	char p[PATH_MAX], cmd[256];
	uint8_t *buf;
	size_t len;
	long pid;
	FILE *f;

	if (path_in(dir, "anvil.pid", p, sizeof(p)) < 0 || file_read(p, 64, &buf, &len) < 0)
		return 0;
	pid = strtol((char *)buf, NULL, 10);
	free(buf);
	if (pid <= 0 || kill((pid_t)pid, 0) != 0)
		return 0;
	snprintf(p, sizeof(p), "/proc/%ld/cmdline", pid);
	f = fopen(p, "r");
	if (!f)
		return 0;
	len = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	cmd[len] = '\0';
	return strstr(cmd, "anvil") ? (pid_t)pid : 0;
}

static int start_anvil(const char *dir, int port, int block_time, pid_t *pid)
{
	char anvil[PATH_MAX], log[PATH_MAX], state[PATH_MAX], ports[16], bt[16];
	int fd;

	GUARD(find_near_binary("TDEXEC_ANVIL",
	                       "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil", anvil,
	                       sizeof(anvil)));
	GUARD(path_in(dir, "anvil.log", log, sizeof(log)));
	GUARD(path_in(dir, "anvil-state.json", state, sizeof(state)));
	snprintf(ports, sizeof(ports), "%d", port);
	snprintf(bt, sizeof(bt), "%d", block_time);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ENSURE(fd >= 0, ERR_IO, "%s: %s", log, strerror(errno));
	*pid = fork();
	if (*pid < 0) {
		close(fd);
		return err_set(ERR_IO, "fork: %s", strerror(errno));
	}
	if (*pid == 0) {
		const char *argv[16];
		int n = 0, devnull = open("/dev/null", O_RDONLY);
		setsid();
		dup2(devnull, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		argv[n++] = anvil;
		argv[n++] = "--host";
		argv[n++] = "127.0.0.1";
		argv[n++] = "--port";
		argv[n++] = ports;
		argv[n++] = "--state";
		argv[n++] = state;
		argv[n++] = "--silent";
		if (block_time > 0) {
			argv[n++] = "--block-time";
			argv[n++] = bt;
		}
		argv[n] = NULL;
		execv(anvil, (char *const *)argv);
		_exit(127);
	}
	close(fd);
	return 0;
}

static int wait_rpc(struct eth_rpc *rpc, pid_t pid, const char *dir)
{
	enum log_level saved = log_get_level();
	uint64_t id;
	int rc = err_set(ERR_IO, "anvil did not answer within 30 s (see %s/anvil.log)", dir);

	/* Refused connections are expected while Anvil starts. */
	log_set_level(LOG_ERROR);
	for (int i = 0; i < 300; i++) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			rc = err_set(ERR_IO, "anvil exited at start (see %s/anvil.log)", dir);
			break;
		}
		if (eth_chain_id(rpc, &id) == 0) {
			rc = 0;
			break;
		}
		usleep(100000);
	}
	log_set_level(saved);
	return rc;
}

static void progress(const char *line)
{
	fprintf(stderr, "  %s\n", line);
}

/* Fresh local accounts funded through Anvil's cheat code. */
static int make_accounts(struct eth_rpc *rpc, uint8_t keys[N_ACCOUNTS][32], json_t **out)
{
	json_t *a = json_array(), *v;
	for (int i = 0; i < N_ACCOUNTS; i++) {
		uint8_t addr[20];
		GUARD(k1_keygen(keys[i]));
		GUARD(k1_address(keys[i], addr));
		GUARD(eth_rpc_call(rpc, "anvil_setBalance",
		                   json_pack("[o,s]", eth_json_addr(addr), "0x56bc75e2d63100000"),
		                   &v));
		json_decref(v);
		json_array_append_new(a, json_pack("{s:o,s:o}", "address", eth_json_addr(addr),
		                                   "private_key", eth_json_hex(keys[i], 32)));
	}
	*out = a;
	return 0;
}

/* The deployer gives every other account 1,000,000 RLC (9 decimals). */
static int fund_rlc(struct eth_rpc *rpc, const struct poco_deployment *d,
                    uint8_t keys[N_ACCOUNTS][32])
{
	for (int i = 1; i < N_ACCOUNTS; i++) {
		uint8_t addr[20];
		struct eth_receipt rc;
		GUARD(k1_address(keys[i], addr));
		GUARD(poco_send(rpc, keys[0], d->token, "transfer(address,uint256)",
		                json_pack("[o,s]", eth_json_addr(addr), "1000000000000000"), &rc));
		eth_receipt_free(&rc);
	}
	return 0;
}

static int chain_is_up(const char *dir, json_t **chain)
{
	char p[PATH_MAX];
	struct eth_rpc *rpc;
	uint8_t hub[20];
	size_t code = 0;
	int ok;

	if (!running_pid(dir) || path_in(dir, "chain.json", p, sizeof(p)) < 0 ||
	    json_load_path(p, 1 << 20, chain) < 0)
		return 0;
	ok = eth_rpc_new(json_string_value(json_object_get(*chain, "rpc")), &rpc) == 0;
	ok = ok && eth_addr_parse(json_string_value(json_object_get(*chain, "hub")), hub) == 0 &&
	     eth_code_size(rpc, hub, &code) == 0 && code > 0;
	eth_rpc_free(rpc);
	if (!ok) {
		json_decref(*chain);
		*chain = NULL;
	}
	return ok;
}

/* Anvil reloaded its state: if the chain file's hub is there, reuse it. */
static int restore(const char *dir, struct eth_rpc *rpc, const char *url)
{
	char p[PATH_MAX];
	json_t *chain;
	uint8_t hub[20];
	size_t code = 0;
	int ok;

	if (path_in(dir, "chain.json", p, sizeof(p)) < 0 || access(p, F_OK) != 0 ||
	    json_load_path(p, 1 << 20, &chain) < 0)
		return 0;
	ok = eth_addr_parse(json_string_value(json_object_get(chain, "hub")), hub) == 0 &&
	     eth_code_size(rpc, hub, &code) == 0 && code > 0;
	if (ok) {
		json_object_set_new(chain, "rpc", json_string(url));
		ok = json_write_path(p, chain, 0600) == 0;
	}
	json_decref(chain);
	return ok;
}

static const struct option chain_up_opts[] = {
    {"dir", required_argument, NULL, 'd'},
    {"port", required_argument, NULL, 'p'},
    {"block-time", required_argument, NULL, 'b'},
    {"flavour", required_argument, NULL, 'f'},
    {"no-boost", no_argument, NULL, 'n'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* --json: the chain file as chain status prints it, with how it came up. */
static int print_up(const char *dir, const char *state)
{
	char p[PATH_MAX];
	json_t *chain = NULL;
	int rc;
	GUARD(path_in(dir, "chain.json", p, sizeof(p)));
	GUARD(json_load_path(p, 1 << 20, &chain));
	json_object_del(chain, "accounts");
	json_object_set_new(chain, "state", json_string(state));
	json_object_set_new(chain, "chain_file", json_string(p));
	rc = json_print(chain, 1);
	json_decref(chain);
	return rc;
}

static int chain_up(int argc, char **argv)
{
	char dir[PATH_MAX] = "", poco[PATH_MAX], url[64], p[PATH_MAX];
	int boost = 1;
	enum poco_flavour flavour = POCO_TOKEN;
	long port = 8545, block_time = 0;
	uint8_t keys[N_ACCOUNTS][32], deployer[20];
	struct poco_deployment d;
	struct eth_rpc *rpc = NULL;
	json_t *chain = NULL, *accounts = NULL;
	uint64_t chain_id;
	pid_t pid = 0;
	time_t t0 = time(NULL);
	int c, rc = 0, port_i;

	while ((c = cli_getopt(argc, argv, "chain up", "h", chain_up_opts)) != -1) {
		switch (c) {
		case 'd': snprintf(dir, sizeof(dir), "%s", optarg); break;
		case 'p':
			if (cli_int("chain up", "--port", optarg, 0, 65535, &port))
				return EXIT_USAGE;
			break;
		case 'b':
			if (cli_int("chain up", "--block-time", optarg, 1, 3600, &block_time))
				return EXIT_USAGE;
			break;
		case 'f':
			if (strcmp(optarg, "token") == 0)
				flavour = POCO_TOKEN;
			else if (strcmp(optarg, "native") == 0)
				flavour = POCO_NATIVE;
			else
				return cli_usage("chain up", "--flavour: token or native");
			break;
		case 'n': boost = 0; break;
		case 'j': break; /* cli_json */
		case 'h': fputs(up_usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage("chain up", "unexpected argument '%s'", argv[optind]);
	if (!dir[0] && default_dir(dir, sizeof(dir)) < 0)
		return cli_fail();
	if (dir_create(dir, 0700) < 0)
		return cli_fail();
	if (chain_is_up(dir, &chain)) {
		/* a chain file from before --no-boost has Boost */
		if (json_is_false(json_object_get(chain, "boost")) == boost) {
			(void)err_set(ERR_INVAL,
			              "the chain up in %s was deployed %s Boost; 'tdexec "
			              "chain down' and remove it first",
			              dir, boost ? "without" : "with");
			json_decref(chain);
			return cli_fail();
		}
		if (!cli_json)
			printf("chain already up: %s (hub %s)\n",
			       json_string_value(json_object_get(chain, "rpc")),
			       json_string_value(json_object_get(chain, "hub")));
		json_decref(chain);
		return cli_json && print_up(dir, "already_up") < 0 ? cli_fail() : 0;
	}
	if (find_near_binary("TDEXEC_POCO_DIR", "node_modules/@iexec/poco", poco, sizeof(poco)) < 0)
		return cli_fail();
	port_i = (int)port;
	if (port_i == 0 && free_port(&port_i) < 0)
		return cli_fail();
	GUARD_GOTO(start_anvil(dir, port_i, (int)block_time, &pid));
	snprintf(p, sizeof(p), "%ld\n", (long)pid);
	{
		char pidfile[PATH_MAX];
		GUARD_GOTO(path_in(dir, "anvil.pid", pidfile, sizeof(pidfile)));
		GUARD_GOTO(file_write(pidfile, p, strlen(p), 0644));
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port_i);
	GUARD_GOTO(eth_rpc_new(url, &rpc));
	GUARD_GOTO(wait_rpc(rpc, pid, dir));
	GUARD_GOTO(eth_chain_id(rpc, &chain_id));
	if (restore(dir, rpc, url)) {
		if (cli_json)
			GUARD_GOTO(print_up(dir, "restored"));
		else
			printf("chain restored from %s: %s\n", dir, url);
		goto out;
	}
	fprintf(stderr, "anvil up at %s (chain id %llu, pid %ld); deploying PoCo...\n", url,
	        (unsigned long long)chain_id, (long)pid);
	GUARD_GOTO(make_accounts(rpc, keys, &accounts));
	GUARD_GOTO(poco_deploy(rpc, keys[0], poco, flavour, boost, progress, &d));
	if (flavour == POCO_TOKEN)
		GUARD_GOTO(fund_rlc(rpc, &d, keys));
	GUARD_GOTO(k1_address(keys[0], deployer));
	chain = json_pack(
	    "{s:s,s:I,s:s,s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:s}", "rpc", url, "chain_id",
	    (json_int_t)chain_id, "flavour", flavour == POCO_TOKEN ? "token" : "native", "boost",
	    boost, "hub", eth_json_addr(d.hub), "token", eth_json_addr(d.token), "app_registry",
	    eth_json_addr(d.app_registry), "dataset_registry", eth_json_addr(d.dataset_registry),
	    "workerpool_registry", eth_json_addr(d.workerpool_registry), "deployer",
	    eth_json_addr(deployer), "deployment_block", (json_int_t)d.block, "accounts", accounts,
	    "note", "local test chain: these keys are not secret");
	accounts = NULL;
	ENSURE_GOTO(chain, ERR_NOMEM, "out of memory");
	GUARD_GOTO(path_in(dir, "chain.json", p, sizeof(p)));
	GUARD_GOTO(json_write_path(p, chain, 0600));
	if (cli_json)
		GUARD_GOTO(print_up(dir, "deployed"));
	else
		printf("chain up: %s  hub %s%s  (%u transactions, %llu gas, %ld s)\nchain file: "
		       "%s\n",
		       url, json_string_value(json_object_get(chain, "hub")),
		       boost ? "" : " (no Boost)", d.txs, (unsigned long long)d.gas_used,
		       (long)(time(NULL) - t0), p);
out:
	for (int i = 0; i < N_ACCOUNTS; i++)
		memset(keys[i], 0, 32);
	json_decref(accounts);
	json_decref(chain);
	eth_rpc_free(rpc);
	if (rc < 0) {
		if (pid > 0)
			kill(pid, SIGTERM);
		return cli_fail();
	}
	return 0;
}

static const struct option chain_dir_opts[] = {
    {"dir", required_argument, NULL, 'd'},
    {"chain", required_argument, NULL, 'C'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int dir_option(int argc, char **argv, const char *prog, const char *usage, char *dir,
                      size_t cap, int *as_json)
{
	int c;
	dir[0] = '\0';
	while ((c = cli_getopt(argc, argv, prog, "h", chain_dir_opts)) != -1) {
		switch (c) {
		case 'd': snprintf(dir, cap, "%s", optarg); break;
		case 'C': {
			/* --chain FILE as every other command takes it (DIR/chain.json),
			 * or the state directory itself */
			struct stat st;
			snprintf(dir, cap, "%s", optarg);
			if (stat(optarg, &st) == 0 && S_ISREG(st.st_mode)) {
				char *slash = strrchr(dir, '/');
				if (slash)
					*slash = '\0';
				else
					snprintf(dir, cap, ".");
			}
			break;
		}
		case 'j':
			if (!as_json)
				return cli_usage(prog, "unknown option '--json'");
			*as_json = 1;
			break;
		case 'h': fputs(usage, stdout); return -2;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage(prog, "unexpected argument '%s'", argv[optind]);
	if (!dir[0] && default_dir(dir, cap) < 0)
		return cli_fail();
	return 0;
}

static int down_json(const char *dir, int was_running)
{
	json_t *o = json_pack("{s:s,s:b}", "dir", dir, "was_running", was_running);
	int rc = o ? json_print(o, 1) : err_set(ERR_NOMEM, "out of memory");
	json_decref(o);
	return rc < 0 ? cli_fail() : 0;
}

static int chain_down(int argc, char **argv)
{
	char dir[PATH_MAX], p[PATH_MAX];
	pid_t pid;
	int as_json = 0;
	int r =
	    dir_option(argc, argv, "chain down",
	               "Usage: tdexec chain down [--chain DIR/chain.json | --dir DIR] [--json]\n"
	               "\n"
	               "  --json   print {dir, was_running}\n",
	               dir, sizeof(dir), &as_json);
	if (r)
		return r == -2 ? 0 : r;
	pid = running_pid(dir);
	if (!pid) {
		if (as_json)
			return down_json(dir, 0);
		printf("chain not running (%s)\n", dir);
		return 0;
	}
	kill(pid, SIGTERM);
	for (int i = 0; i < 100 && kill(pid, 0) == 0; i++)
		usleep(100000);
	if (kill(pid, 0) == 0)
		kill(pid, SIGKILL);
	if (path_in(dir, "anvil.pid", p, sizeof(p)) == 0)
		unlink(p);
	if (as_json)
		return down_json(dir, 1);
	printf("chain stopped (state kept in %s)\n", dir);
	return 0;
}

static int chain_status(int argc, char **argv)
{
	char dir[PATH_MAX], p[PATH_MAX];
	struct eth_rpc *rpc;
	json_t *chain;
	uint64_t block = 0;
	int as_json = 0, up, code;
	int r =
	    dir_option(argc, argv, "chain status",
	               "Usage: tdexec chain status [--chain DIR/chain.json | --dir DIR] [--json]\n",
	               dir, sizeof(dir), &as_json);
	if (r)
		return r == -2 ? 0 : r;
	if (path_in(dir, "chain.json", p, sizeof(p)) < 0 || json_load_path(p, 1 << 20, &chain) < 0)
		return cli_fail();
	up = eth_rpc_new(json_string_value(json_object_get(chain, "rpc")), &rpc) == 0 &&
	     eth_block_number(rpc, &block) == 0;
	if (rpc)
		eth_rpc_free(rpc);
	json_object_del(chain, "accounts");
	json_object_set_new(chain, "up", json_boolean(up));
	if (up)
		json_object_set_new(chain, "block", json_integer((json_int_t)block));
	code = up ? 0 : 1;
	if (!as_json)
		json_print_text(stdout, chain);
	else if (json_print(chain, 1) < 0)
		code = cli_fail();
	json_decref(chain);
	return code;
}

static const char network_usage[] =
    "Usage: tdexec chain network [NAME [--rpc URL]] [--json]\n"
    "\n"
    "Without NAME, the networks --network takes.  With NAME, iExec's PoCo on it as\n"
    "the installed @iexec/poco package lists it: chain id, hub, RLC, registries, and\n"
    "the file each address came from.  With --rpc the node is asked too: its chain\n"
    "id must be the network's, and the hub says whether it has PoCo Boost (diamond\n"
    "loupe), which decides how TEE deals are matched and completed.\n";

static const struct option chain_network_opts[] = {
    {"rpc", required_argument, NULL, 'r'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int chain_network(int argc, char **argv)
{
	const char *rpc = NULL;
	struct poco_chain *pc = NULL;
	json_t *net = NULL;
	char why[256];
	int c, as_json = 0, boost, rc = 0;

	while ((c = cli_getopt(argc, argv, "chain network", "h", chain_network_opts)) != -1) {
		switch (c) {
		case 'r': rpc = optarg; break;
		case 'j': as_json = 1; break;
		case 'h': fputs(network_usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 < argc)
		return cli_usage("chain network", "unexpected argument '%s'", argv[optind + 1]);
	if (optind == argc) {
		if (rpc)
			return cli_usage("chain network", "--rpc needs a network NAME");
		if (as_json) {
			json_t *a = json_array();
			char names[128], *save = NULL;
			snprintf(names, sizeof(names), "%s", poco_network_names());
			for (char *t = strtok_r(names, ", ", &save); t;
			     t = strtok_r(NULL, ", ", &save))
				json_array_append_new(a, json_string(t));
			rc = json_print(a, 1);
			json_decref(a);
			if (rc < 0)
				return cli_fail();
		} else {
			printf("%s\n", poco_network_names());
		}
		return 0;
	}
	GUARD_GOTO(poco_network_resolve(NULL, argv[optind], &net));
	if (rpc) {
		GUARD_GOTO(poco_chain_open(NULL, argv[optind], rpc, &pc));
		GUARD_GOTO(poco_boost_detect(pc, &boost, why, sizeof(why)));
		json_object_set_new(net, "rpc", json_string(rpc));
		json_object_set_new(net, "boost", json_boolean(boost));
		json_object_set_new(net, "boost_reason", json_string(why));
	}
	if (as_json)
		GUARD_GOTO(json_print(net, 1));
	else
		json_print_text(stdout, net);
out:
	json_decref(net);
	poco_chain_free(pc);
	return rc < 0 ? cli_fail() : 0;
}

const struct cli_cmd chain_cmds[] = {
    {"up", chain_up, "start", NULL, chain_up_opts},
    {"down", chain_down, "stop", NULL, chain_dir_opts},
    {"status", chain_status, "status", NULL, chain_dir_opts},
    {"network", chain_network, "iExec's networks", NULL, chain_network_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

int cmd_chain(int argc, char **argv)
{
	return cli_dispatch("chain", chain_cmds, argc, argv, chain_usage);
}
