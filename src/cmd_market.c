/* The marketplace commands: wallet, app, dataset, workerpool, account,
 * order, deal, task. */
#include "cli.h"

#include "crypto/k1.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/keystore.h"
#include "net/http.h"
#include "oci/registry.h"
#include "poco/market.h"
#include "poco/network.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/harden.h"
#include "util/json.h"
#include "util/timefmt.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- shared options ---------- */

static const char common_help[] =
    "Common options:\n"
    "  --chain FILE           chain file (default "
    "~/.local/state/tdexec/chain/chain.json)\n" CLI_CHAIN_HELP
    "  --wallet FILE          keystore (v3) of the signing account\n"
    "  --password-file FILE   its password (default: $TDEXEC_WALLET_PASSWORD)\n"
    "  --plain-key FILE       a file holding a hex private key instead of a keystore\n"
    "  --account N            local account N of a chain made by 'tdexec chain up'\n"
    "  --json                 print JSON\n";

struct mopts {
	const char *chain, *network, *rpc, *wallet, *password_file, *plain_key;
	long account;
	int json;
	/* command-specific */
	const char *name, *image, *policy, *multiaddr, *checksum, *description, *output, *scheduler;
	const char *orders[4];
	const char *sets[32];
	int nsets, boost, scrypt_n, logs;
	long index;
	/* app deploy's image check */
	const char *layout;
	int no_image_check;
	struct oci_opts reg;
};

enum {
	O_CHAIN = 1000,
	O_WALLET,
	O_PASSWORD,
	O_PLAIN,
	O_ACCOUNT,
	O_JSON,
	O_NAME,
	O_IMAGE,
	O_POLICY,
	O_MULTIADDR,
	O_CHECKSUM,
	O_DESC,
	O_APP,
	O_DATASET,
	O_POOL,
	O_REQUEST,
	O_SET,
	O_BOOST,
	O_INDEX,
	O_SCRYPT,
	O_NETWORK,
	O_RPC,
	O_SCHEDULER,
	O_LOGS,
	O_LAYOUT,
	O_NOCHECK,
	O_REGAUTH,
	O_REGCA,
	O_REGPLAIN
};

static const struct option market_options[] = {
    {"chain", required_argument, NULL, O_CHAIN},
    {"network", required_argument, NULL, O_NETWORK},
    {"rpc", required_argument, NULL, O_RPC},
    {"wallet", required_argument, NULL, O_WALLET},
    {"password-file", required_argument, NULL, O_PASSWORD},
    {"plain-key", required_argument, NULL, O_PLAIN},
    {"account", required_argument, NULL, O_ACCOUNT},
    {"json", no_argument, NULL, O_JSON},
    {"name", required_argument, NULL, O_NAME},
    {"image", required_argument, NULL, O_IMAGE},
    {"tdx-policy", required_argument, NULL, O_POLICY},
    {"multiaddr", required_argument, NULL, O_MULTIADDR},
    {"checksum", required_argument, NULL, O_CHECKSUM},
    {"description", required_argument, NULL, O_DESC},
    {"app-order", required_argument, NULL, O_APP},
    {"dataset-order", required_argument, NULL, O_DATASET},
    {"workerpool-order", required_argument, NULL, O_POOL},
    {"request-order", required_argument, NULL, O_REQUEST},
    {"set", required_argument, NULL, O_SET},
    {"boost", no_argument, NULL, O_BOOST},
    {"index", required_argument, NULL, O_INDEX},
    {"scrypt-n", required_argument, NULL, O_SCRYPT},
    {"scheduler", required_argument, NULL, O_SCHEDULER},
    {"logs", no_argument, NULL, O_LOGS},
    {"layout", required_argument, NULL, O_LAYOUT},
    {"no-image-check", no_argument, NULL, O_NOCHECK},
    {"registry-auth", required_argument, NULL, O_REGAUTH},
    {"registry-ca", required_argument, NULL, O_REGCA},
    {"registry-plain-http", required_argument, NULL, O_REGPLAIN},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parse options; returns 0, -2 after --help, or EXIT_USAGE. */
static int parse(int argc, char **argv, const char *prog, const char *usage, struct mopts *o)
{
	int c;
	long v;

	memset(o, 0, sizeof(*o));
	o->account = -1;
	oci_opts_default(&o->reg);
	o->index = -1; /* none: 0 is a task's index */
	while ((c = cli_getopt(argc, argv, prog, "o:h", market_options)) != -1) {
		switch (c) {
		case O_CHAIN: o->chain = optarg; break;
		case O_NETWORK: o->network = optarg; break;
		case O_RPC: o->rpc = optarg; break;
		case O_WALLET: o->wallet = optarg; break;
		case O_PASSWORD: o->password_file = optarg; break;
		case O_PLAIN: o->plain_key = optarg; break;
		case O_ACCOUNT:
			if (cli_int(prog, "--account", optarg, 0, 1000, &o->account))
				return EXIT_USAGE;
			break;
		case O_JSON: o->json = 1; break;
		case O_NAME: o->name = optarg; break;
		case O_IMAGE: o->image = optarg; break;
		case O_LAYOUT: o->layout = optarg; break;
		case O_NOCHECK: o->no_image_check = 1; break;
		case O_REGAUTH: o->reg.auth_file = optarg; break;
		case O_REGCA: o->reg.ca_file = optarg; break;
		case O_REGPLAIN:
			if (oci_opts_plain_http(&o->reg, optarg) < 0)
				return cli_usage(prog, "%s", err_msg());
			break;
		case O_POLICY: o->policy = optarg; break;
		case O_MULTIADDR: o->multiaddr = optarg; break;
		case O_CHECKSUM: o->checksum = optarg; break;
		case O_DESC: o->description = optarg; break;
		case O_APP: o->orders[0] = optarg; break;
		case O_DATASET: o->orders[1] = optarg; break;
		case O_POOL: o->orders[2] = optarg; break;
		case O_REQUEST: o->orders[3] = optarg; break;
		case O_SET:
			if (o->nsets == 32)
				return cli_usage(prog, "too many --set");
			o->sets[o->nsets++] = optarg;
			break;
		case O_BOOST: o->boost = 1; break;
		case O_INDEX:
			if (cli_int(prog, "--index", optarg, 0, 1L << 30, &o->index))
				return EXIT_USAGE;
			break;
		case O_SCRYPT:
			if (cli_int(prog, "--scrypt-n", optarg, 2, 1L << 22, &v))
				return EXIT_USAGE;
			o->scrypt_n = (int)v;
			break;
		case O_SCHEDULER: o->scheduler = optarg; break;
		case O_LOGS: o->logs = 1; break;
		case 'o': o->output = optarg; break;
		case 'h': printf("%s\n%s", usage, common_help); return -2;
		default: return EXIT_USAGE;
		}
	}
	return cli_chain_usage(prog, o->chain, o->network, o->rpc);
}

/* The start of every command: usage for no argument or an option in the
 * subcommand's place, then the options.  Returns -1 to go on, or the exit
 * code to return. */
static int begin(int argc, char **argv, const char *prog, const char *usage, struct mopts *o)
{
	int r;
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(argc < 2 ? stderr : stdout, "%s\n%s", usage, common_help);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	optind = 0;
	r = parse(argc - 1, argv + 1, prog, usage, o);
	return r == 0 ? -1 : r == -2 ? 0 : r;
}

static int chain_path(const struct mopts *o, char *out, size_t cap)
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	if (o->chain)
		snprintf(out, cap, "%s", o->chain);
	else if (x && *x)
		snprintf(out, cap, "%s/tdexec/chain/chain.json", x);
	else
		snprintf(out, cap, "%s/.local/state/tdexec/chain/chain.json", home ? home : ".");
	return 0;
}

static int load_chain(const struct mopts *o, struct poco_chain **c)
{
	char p[PATH_MAX];
	if (o->network)
		return poco_chain_open(NULL, o->network, o->rpc, c);
	chain_path(o, p, sizeof(p));
	return poco_chain_open(p, NULL, o->rpc, c);
}

/* The password from the file, else from $TDEXEC_WALLET_PASSWORD, which
 * leaves the environment (and /proc/PID/environ) either way. */
static int read_password(const char *password_file, char **out)
{
	uint8_t *buf;
	char *env;
	size_t len;

	GUARD(harden_env_take("TDEXEC_WALLET_PASSWORD", &env));
	if (password_file) {
		if (env) {
			OPENSSL_cleanse(env, strlen(env));
			free(env);
		}
		GUARD(file_read(password_file, 4096, &buf, &len));
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		*out = (char *)buf;
		return 0;
	}
	ENSURE(env, ERR_INVAL, "a password is needed: --password-file or TDEXEC_WALLET_PASSWORD");
	*out = env;
	return 0;
}

int cli_signing_key(const char *wallet_file, const char *password_file, const char *plain_key,
                    long account, const struct poco_chain *c, uint8_t key[32])
{
	char *pw = NULL;
	int rc;

	GUARD(harden_no_dump());
	if (wallet_file) {
		GUARD(read_password(password_file, &pw));
		rc = keystore_load(wallet_file, pw, 0, key);
		OPENSSL_cleanse(pw, strlen(pw));
		free(pw);
		return rc;
	}
	harden_env_drop("TDEXEC_WALLET_PASSWORD");
	if (plain_key)
		return keystore_load(plain_key, NULL, 1, key);
	ENSURE(account >= 0, ERR_INVAL, "which account signs? --wallet, --plain-key or --account");
	ENSURE(c, ERR_INVAL, "--account needs a chain file");
	return poco_chain_account(c, (size_t)account, key);
}

/* The signing key from --wallet, --plain-key or --account. */
static int signing_key(const struct mopts *o, const struct poco_chain *c, uint8_t key[32])
{
	return cli_signing_key(o->wallet, o->password_file, o->plain_key, o->account, c, key);
}

static int emit(const struct mopts *o, json_t *j)
{
	if (o->json)
		return json_print(j, 1);
	json_print_text(stdout, j);
	return 0;
}

/* ---------- wallet ---------- */

static int wallet(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: tdexec wallet create [-o FILE] [--password-file F] [--scrypt-n N]\n"
	    "       tdexec wallet import --plain-key HEXFILE [-o FILE] [--password-file F]\n"
	    "       tdexec wallet show (--wallet F | --account N)\n"
	    "       tdexec wallet balance (--wallet F | --account N)\n"
	    "\n"
	    "Ethereum v3 keystores (scrypt, AES-128-CTR) as geth and ethers write them.\n";
	const char *sub = argc > 1 ? argv[1] : "";
	struct poco_chain *c = NULL;
	struct mopts o;
	uint8_t key[32], addr[20];
	json_t *out = NULL;
	int r, rc = 0;

	r = begin(argc, argv, "wallet", usage, &o);
	if (r >= 0)
		return r;
	if (strcmp(sub, "create") == 0 || strcmp(sub, "import") == 0) {
		char *pw = NULL, *ks = NULL;
		GUARD_GOTO(harden_no_dump());
		if (sub[0] == 'c')
			GUARD_GOTO(k1_keygen(key));
		else if (!o.plain_key)
			return cli_usage("wallet import", "--plain-key HEXFILE is required");
		else
			GUARD_GOTO(keystore_load(o.plain_key, NULL, 1, key));
		GUARD_GOTO(read_password(o.password_file, &pw));
		rc = keystore_encrypt(key, pw, (uint64_t)o.scrypt_n, &ks);
		OPENSSL_cleanse(pw, strlen(pw));
		free(pw);
		GUARD_GOTO(rc);
		if (o.output) {
			rc = file_write(o.output, ks, strlen(ks), 0600);
		} else {
			puts(ks);
		}
		free(ks);
		GUARD_GOTO(rc);
		GUARD_GOTO(k1_address(key, addr));
		out = json_pack("{s:o}", "address", eth_json_addr(addr));
		if (o.output)
			GUARD_GOTO(emit(&o, out));
	} else if (strcmp(sub, "show") == 0 || strcmp(sub, "balance") == 0) {
		if (o.account >= 0 || sub[0] == 'b')
			GUARD_GOTO(load_chain(&o, &c));
		GUARD_GOTO(signing_key(&o, c, key));
		GUARD_GOTO(k1_address(key, addr));
		out = json_pack("{s:o}", "address", eth_json_addr(addr));
		if (sub[0] == 'b') {
			uint8_t wei[32];
			char s[100];
			json_t *acct;
			GUARD_GOTO(eth_balance(c->rpc, addr, wei));
			u256_str(wei, s, sizeof(s));
			json_object_set_new(out, "native_wei", json_string(s));
			if (c->flavour == POCO_TOKEN) {
				/* RLC balanceOf through the account view of the token */
				json_t *v;
				struct wbuf w;
				uint8_t *ret;
				size_t len;
				wbuf_init(&w);
				rc = abi_encode_call("balanceOf(address)",
				                     v = json_pack("[o]", eth_json_addr(addr)), &w);
				json_decref(v);
				if (rc == 0)
					rc = eth_call(c->rpc, NULL, c->token, w.buf, w.len, &ret,
					              &len);
				wbuf_free(&w);
				GUARD_GOTO(rc);
				rc = abi_decode_str("(uint256)", ret, len, &v);
				free(ret);
				GUARD_GOTO(rc);
				json_object_set(out, "rlc_nrlc", json_array_get(v, 0));
				json_decref(v);
			}
			GUARD_GOTO(poco_account(c, addr, &acct));
			json_object_set_new(out, "escrow", acct);
		}
		GUARD_GOTO(emit(&o, out));
	} else {
		rc = cli_usage("wallet", "unknown command '%s'", sub);
		goto done;
	}
out:
	if (rc < 0)
		rc = cli_fail();
done:
	OPENSSL_cleanse(key, sizeof(key));
	json_decref(out);
	poco_chain_free(c);
	return rc;
}

/* ---------- app, dataset, workerpool ---------- */

/* "name@sha256:<64 hex>" -> digest bytes. */
static int image_digest(const char *image, uint8_t out[32])
{
	const char *at = strstr(image, "@sha256:");
	ENSURE(at && strlen(at + 8) == 64, ERR_INVAL,
	       "--image must be NAME@sha256:DIGEST (the digest is the app's checksum)");
	return hex_decode_exact(out, 32, at + 8, "image digest");
}

/* The app's mrenclave field: iExec's TEE enclave configuration with the
 * framework "TDX" and the TD policy. */
static int tdx_enclave_config(const char *policy_path, char **out)
{
	json_t *policy = NULL, *conf;
	if (policy_path)
		GUARD(json_load_path(policy_path, 1 << 20, &policy));
	conf = json_pack("{s:s,s:s,s:o}", "framework", "TDX", "version", "v1", "policy",
	                 policy ? policy : json_object());
	ENSURE(conf, ERR_NOMEM, "out of memory");
	*out = json_dumps(conf, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(conf);
	ENSURE(*out, ERR_NOMEM, "out of memory");
	return 0;
}

static int asset(int argc, char **argv, enum poco_order_kind kind, const char *prog)
{
	static const char *const usages[] = {
	    "Usage: tdexec app deploy --name N --image NAME@sha256:DIGEST [--tdx-policy FILE]\n"
	    "                         [--layout DIR | --no-image-check] [--registry-auth FILE]\n"
	    "                         [--registry-ca FILE] [--registry-plain-http HOST:PORT]\n"
	    "       tdexec app show ADDRESS\n"
	    "       tdexec app inspect REF [--layout DIR] [--json]   ('app inspect --help')\n"
	    "\n"
	    "deploy first checks that the image exists and has linux/amd64, at its registry\n"
	    "or in the OCI layout DIR; --no-image-check skips that (offline, say).\n",
	    "Usage: tdexec dataset deploy --name N --multiaddr URL --checksum HEX32\n"
	    "       tdexec dataset encrypt FILE -o OUT --key-output KEYFILE\n"
	    "       tdexec dataset show ADDRESS\n",
	    /* one element of two lines (parenthesised: not a missing comma) */
	    ("Usage: tdexec workerpool deploy --description TEXT\n"
	     "       tdexec workerpool show ADDRESS\n"),
	};
	const char *sub = argc > 1 ? argv[1] : "";
	struct poco_chain *c = NULL;
	struct mopts o;
	uint8_t key[32], addr[20], sum[32];
	json_t *out = NULL;
	int r, rc = 0;

	r = begin(argc, argv, prog, usages[kind], &o);
	if (r >= 0)
		return r;
	if (strcmp(sub, "deploy") == 0) {
		char *mre = NULL;
		if (kind == POCO_APP && (!o.name || !o.image))
			return cli_usage(prog, "--name and --image are required");
		if (kind == POCO_DATASET && (!o.name || !o.multiaddr || !o.checksum))
			return cli_usage(prog, "--name, --multiaddr and --checksum are required");
		if (kind == POCO_WORKERPOOL && !o.description)
			return cli_usage(prog, "--description is required");
		if (kind == POCO_APP && image_digest(o.image, sum) < 0)
			return cli_usage(prog, "%s", err_msg());
		/* an app whose image no worker can fetch or run is paid for in
		 * gas and failed tasks: checked before the transaction */
		if (kind == POCO_APP && !o.no_image_check &&
		    cli_image_check(o.image, o.layout, &o.reg) < 0)
			return cli_fail();
		if (kind == POCO_DATASET && hex_decode_exact(sum, 32, o.checksum, "--checksum") < 0)
			return cli_usage(prog, "%s", err_msg());
		GUARD_GOTO(load_chain(&o, &c));
		GUARD_GOTO(signing_key(&o, c, key));
		if (kind == POCO_APP) {
			GUARD_GOTO(tdx_enclave_config(o.policy, &mre));
			rc = poco_app_create(c, key, o.name, o.image, sum, mre, addr);
			free(mre);
		} else if (kind == POCO_DATASET) {
			rc = poco_dataset_create(c, key, o.name, o.multiaddr, sum, addr);
		} else {
			rc = poco_workerpool_create(c, key, o.description, addr);
		}
		GUARD_GOTO(rc);
		out = json_pack("{s:o}", "address", eth_json_addr(addr));
		if (rc == POCO_EXISTS) {
			/* the same parameters give the same asset: a script that
			 * deploys again gets it, with a note, and goes on */
			char a[43];
			eth_addr_str(addr, a);
			fprintf(stderr, "%s \"%s\" already exists at %s\n", prog,
			        kind == POCO_WORKERPOOL ? o.description : o.name, a);
			json_object_set_new(out, "existed", json_true());
			rc = 0;
		}
		GUARD_GOTO(emit(&o, out));
	} else if (strcmp(sub, "show") == 0) {
		if (argc - 1 - optind != 1)
			return cli_usage(prog, "expected one address");
		if (eth_addr_parse(argv[1 + optind], addr) < 0)
			return cli_usage(prog, "%s", err_msg());
		GUARD_GOTO(load_chain(&o, &c));
		GUARD_GOTO(poco_asset_show(c, kind, addr, &out));
		GUARD_GOTO(emit(&o, out));
	} else {
		return cli_usage(prog, "unknown command '%s'", sub);
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	json_decref(out);
	poco_chain_free(c);
	return rc < 0 ? cli_fail() : 0;
}

static int cmd_app(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "inspect") == 0)
		return cmd_app_inspect(argc - 1, argv + 1);
	return asset(argc, argv, POCO_APP, "app");
}

static int cmd_dataset(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "encrypt") == 0)
		return cli_dataset_encrypt(argc - 1, argv + 1);
	return asset(argc, argv, POCO_DATASET, "dataset");
}

static int cmd_workerpool(int argc, char **argv)
{
	return asset(argc, argv, POCO_WORKERPOOL, "workerpool");
}

/* ---------- account ---------- */

static int cmd_account(int argc, char **argv)
{
	static const char usage[] = "Usage: tdexec account deposit AMOUNT\n"
	                            "       tdexec account withdraw AMOUNT\n"
	                            "       tdexec account show [ADDRESS]\n"
	                            "\n"
	                            "Escrow balances in nRLC (1 RLC = 10^9 nRLC).\n";
	const char *sub = argc > 1 ? argv[1] : "";
	struct poco_chain *c = NULL;
	struct mopts o;
	uint8_t key[32], addr[20];
	json_t *out = NULL;
	int r, rc = 0;

	r = begin(argc, argv, "account", usage, &o);
	if (r >= 0)
		return r;
	GUARD_GOTO(load_chain(&o, &c));
	if (strcmp(sub, "deposit") == 0 || strcmp(sub, "withdraw") == 0) {
		uint8_t v[32];
		if (argc - 1 - optind != 1 || u256_parse(argv[1 + optind], v) < 0) {
			rc = cli_usage("account", "expected one amount in nRLC");
			goto done;
		}
		GUARD_GOTO(signing_key(&o, c, key));
		GUARD_GOTO(sub[0] == 'd' ? poco_deposit(c, key, argv[1 + optind])
		                         : poco_withdraw(c, key, argv[1 + optind]));
		GUARD_GOTO(k1_address(key, addr));
	} else if (strcmp(sub, "show") == 0) {
		if (argc - 1 - optind == 1) {
			if (eth_addr_parse(argv[1 + optind], addr) < 0) {
				rc = cli_usage("account", "%s", err_msg());
				goto done;
			}
		} else {
			GUARD_GOTO(signing_key(&o, c, key));
			GUARD_GOTO(k1_address(key, addr));
		}
	} else {
		rc = cli_usage("account", "unknown command '%s'", sub);
		goto done;
	}
	GUARD_GOTO(poco_account(c, addr, &out));
	json_object_set_new(out, "address", eth_json_addr(addr));
	GUARD_GOTO(emit(&o, out));
out:
	if (rc < 0)
		rc = cli_fail();
done:
	OPENSSL_cleanse(key, sizeof(key));
	json_decref(out);
	poco_chain_free(c);
	return rc;
}

/* ---------- orders ---------- */

static int load_order(const char *path, json_t **out)
{
	GUARD(json_load_path(path, 1 << 20, out));
	ENSURE(json_is_object(*out), ERR_INVAL, "%s: an order is a JSON object", path);
	return 0;
}

/* --set field=value: "tdx" / "none" for tag, otherwise the text. */
static int apply_sets(json_t *order, const struct mopts *o)
{
	for (int i = 0; i < o->nsets; i++) {
		const char *eq = strchr(o->sets[i], '=');
		char field[64];
		const char *v;
		ENSURE(eq && eq > o->sets[i] && (size_t)(eq - o->sets[i]) < sizeof(field),
		       ERR_INVAL, "--set %s: expected field=value", o->sets[i]);
		memcpy(field, o->sets[i], (size_t)(eq - o->sets[i]));
		field[eq - o->sets[i]] = '\0';
		ENSURE(json_object_get(order, field), ERR_INVAL,
		       "--set: the order has no field \"%s\"", field);
		v = eq + 1;
		if (strcmp(field, "tag") == 0 && strcmp(v, "tdx") == 0)
			v = POCO_TAG_TDX;
		else if (strcmp(field, "tag") == 0 && strcmp(v, "none") == 0)
			v = POCO_TAG_NONE;
		json_object_set_new(order, field, json_string(v));
	}
	return 0;
}

static int write_order(const struct mopts *o, const json_t *order)
{
	char *s = json_dumps(order, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int rc;
	ENSURE(s, ERR_NOMEM, "out of memory");
	if (o->output) {
		size_t n = strlen(s);
		rc = file_write(o->output, s, n, 0644);
	} else {
		puts(s);
		rc = 0;
	}
	free(s);
	return rc;
}

static int cmd_order(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: tdexec order init KIND [--set field=value ...] [-o FILE]\n"
	    "       tdexec order sign KIND FILE [-o FILE]\n"
	    "       tdexec order show KIND FILE\n"
	    "       tdexec order cancel KIND FILE\n"
	    "\n"
	    "KIND is app, dataset, workerpool or request.  Orders are iExec's JSON (amounts in\n"
	    "nRLC); --set tag=tdx gives the TDX tag 0x..09.  Signing is EIP-712 under the hub's\n"
	    "domain (iExecODB 5.0.0); cancel closes the order on chain.\n";
	const char *sub = argc > 1 ? argv[1] : "";
	enum poco_order_kind kind;
	struct poco_chain *c = NULL;
	struct mopts o;
	uint8_t key[32], h[32], signer[20];
	json_t *order = NULL, *out = NULL;
	int r, rc = 0, npos;

	r = begin(argc, argv, "order", usage, &o);
	if (r >= 0)
		return r;
	npos = argc - 1 - optind;
	if (npos < 1 || poco_order_kind_parse(argv[1 + optind], &kind) < 0)
		return cli_usage("order",
		                 "expected the order kind (app, dataset, workerpool, request)");
	if (strcmp(sub, "init") == 0) {
		order = poco_order_new(kind);
		if (apply_sets(order, &o) < 0) {
			rc = cli_usage("order", "%s", err_msg());
			goto done;
		}
		GUARD_GOTO(write_order(&o, order));
		goto done;
	}
	if (npos != 2)
		return cli_usage("order", "expected the order kind and an order file");
	GUARD_GOTO(load_order(argv[2 + optind], &order));
	GUARD_GOTO(load_chain(&o, &c));
	if (strcmp(sub, "sign") == 0) {
		GUARD_GOTO(signing_key(&o, c, key));
		GUARD_GOTO(poco_order_sign(c, kind, order, key));
		GUARD_GOTO(write_order(&o, order));
	} else if (strcmp(sub, "show") == 0) {
		GUARD_GOTO(poco_order_hash(c, kind, order, h));
		out = json_pack("{s:O,s:o}", "order", order, "hash", eth_json_hex(h, 32));
		if (poco_order_signer(c, kind, order, signer) == 0)
			json_object_set_new(out, "signer", eth_json_addr(signer));
		else
			json_object_set_new(out, "signer", json_null());
		GUARD_GOTO(emit(&o, out));
	} else if (strcmp(sub, "cancel") == 0) {
		GUARD_GOTO(signing_key(&o, c, key));
		GUARD_GOTO(poco_order_cancel(c, kind, order, key));
		GUARD_GOTO(poco_order_hash(c, kind, order, h));
		out = json_pack("{s:o,s:b}", "hash", eth_json_hex(h, 32), "cancelled", 1);
		GUARD_GOTO(emit(&o, out));
	} else {
		rc = cli_usage("order", "unknown command '%s'", sub);
		goto done;
	}
out:
	if (rc < 0)
		rc = cli_fail();
done:
	OPENSSL_cleanse(key, sizeof(key));
	json_decref(order);
	json_decref(out);
	poco_chain_free(c);
	return rc;
}

/* ---------- deals and tasks ---------- */

static int id32(const char *s, uint8_t out[32])
{
	return hex_decode_exact(out, 32, s, "id");
}

static int cmd_deal(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: tdexec deal match --app-order F [--dataset-order F] --workerpool-order F\n"
	    "                         --request-order F [--boost]\n"
	    "       tdexec deal show DEALID\n"
	    "\n"
	    "match calls matchOrders, or matchOrdersBoost (PoCo Boost: no initialize, one\n"
	    "pushResultBoost completes the task) with --boost, or by default for a TEE tag\n"
	    "with trust 1 when the hub has Boost (iExec's Arbitrum hubs do not).\n";
	const char *sub = argc > 1 ? argv[1] : "";
	struct poco_chain *c = NULL;
	struct eth_receipt rc_;
	struct mopts o;
	uint8_t key[32], dealid[32];
	json_t *orders[4] = {NULL, NULL, NULL, NULL}, *out = NULL;
	int r, rc = 0;

	r = begin(argc, argv, "deal", usage, &o);
	if (r >= 0)
		return r;
	if (strcmp(sub, "match") == 0) {
		const char *tag, *trust;
		char why[256];
		int boost, has_boost;
		if (!o.orders[0] || !o.orders[2] || !o.orders[3])
			return cli_usage("deal",
			                 "--app-order, --workerpool-order and --request-order "
			                 "are required");
		for (int i = 0; i < 4; i++)
			if (o.orders[i])
				GUARD_GOTO(load_order(o.orders[i], &orders[i]));
		GUARD_GOTO(load_chain(&o, &c));
		GUARD_GOTO(signing_key(&o, c, key));
		tag = json_string_value(json_object_get(orders[3], "tag"));
		trust = json_string_value(json_object_get(orders[3], "trust"));
		GUARD_GOTO(poco_boost_detect(c, &has_boost, why, sizeof(why)));
		ENSURE_GOTO(!o.boost || has_boost, ERR_UNSUPPORTED, "--boost: %s", why);
		boost = o.boost || (has_boost && tag && strlen(tag) == 66 &&
		                    ((tag[65] - '0') & 1) && trust && strcmp(trust, "1") == 0);
		if ((rc = poco_match(c, key, orders[0], orders[1], orders[2], orders[3], boost,
		                     dealid, &rc_)) < 0) {
			cli_money_hint();
			goto out;
		}
		out = json_pack("{s:o,s:b,s:o,s:I}", "dealid", eth_json_hex(dealid, 32), "boost",
		                boost, "tx", eth_json_hex(rc_.tx_hash, 32), "gas_used",
		                (json_int_t)rc_.gas_used);
		eth_receipt_free(&rc_);
	} else if (strcmp(sub, "show") == 0) {
		if (argc - 1 - optind != 1 || id32(argv[1 + optind], dealid) < 0)
			return cli_usage("deal", "expected one deal id (32 bytes hex)");
		char why[256];
		int has_boost;
		GUARD_GOTO(load_chain(&o, &c));
		GUARD_GOTO(poco_view(c, "viewDeal", dealid, &out));
		if (strcmp(
		        json_string_value(json_object_get(json_object_get(out, "app"), "pointer")),
		        "0x0000000000000000000000000000000000000000") == 0) {
			/* not a classic deal: a Boost one, if the hub has Boost? */
			GUARD_GOTO(poco_boost_detect(c, &has_boost, why, sizeof(why)));
			ENSURE_GOTO(has_boost, ERR_NOTFOUND, "no deal %s", argv[1 + optind]);
			json_decref(out);
			out = NULL;
			GUARD_GOTO(poco_view(c, "viewDealBoost", dealid, &out));
			ENSURE_GOTO(strcmp(json_string_value(json_object_get(out, "requester")),
			                   "0x0000000000000000000000000000000000000000") != 0,
			            ERR_NOTFOUND, "no deal %s", argv[1 + optind]);
			json_object_set_new(out, "boost", json_true());
		}
	} else {
		rc = cli_usage("deal", "unknown command '%s'", sub);
		goto done;
	}
	GUARD_GOTO(emit(&o, out));
out:
	if (rc < 0)
		rc = cli_fail();
done:
	OPENSSL_cleanse(key, sizeof(key));
	for (int i = 0; i < 4; i++)
		json_decref(orders[i]);
	json_decref(out);
	poco_chain_free(c);
	return rc;
}

static const char *const task_status[] = {"UNSET", "ACTIVE", "REVEALING", "COMPLETED", "FAILED"};

static uint64_t u64_of(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? strtoull(s, NULL, 10) : 0;
}

static int is_zero_hex(const char *s)
{
	if (!s)
		return 1;
	for (s += s[0] == '0' && s[1] == 'x' ? 2 : 0; *s; s++)
		if (*s != '0')
			return 0;
	return 1;
}

void cli_money_hint(void)
{
	char m[1024];
	if (!strstr(err_msg(), "exceeds balance"))
		return;
	/* the next step first: the call's signature before the reason is long */
	snprintf(m, sizeof(m), "%s", err_msg());
	err_set(ERR_INVAL,
	        "the escrow holds too little (Transfer amount exceeds balance): the requester's "
	        "or the pool owner's account ('tdexec account show ADDRESS' tells, 'tdexec "
	        "account deposit AMOUNT' adds); %s",
	        m);
}

int cli_task_view(struct poco_chain *c, const uint8_t id[32], const uint8_t *dealid, uint64_t idx,
                  json_t **out)
{
	uint8_t did[32], t[32];
	json_t *task = NULL, *deal = NULL, *cat = NULL;
	uint64_t deadline = 0, now = 0, st;
	int rc, boost = 0, has_boost;
	char why[256];

	*out = NULL;
	GUARD(poco_view(c, "viewTask", id, &task));
	st = u64_of(task, "status");
	if (!is_zero_hex(json_string_value(json_object_get(task, "dealid")))) {
		/* a classic task, initialized: the chain holds it whole */
		GUARD_GOTO(hex_decode_exact(
		    did, 32, json_string_value(json_object_get(task, "dealid")) + 2, "dealid"));
		idx = u64_of(task, "idx");
		deadline = u64_of(task, "finalDeadline");
		goto done;
	}
	if (dealid) {
		memcpy(did, dealid, 32);
		poco_task_id(did, idx, t);
		ENSURE_GOTO(memcmp(t, id, 32) == 0, ERR_INVAL,
		            "the task is not index %llu of the deal", (unsigned long long)idx);
	}
	GUARD_GOTO(poco_boost_detect(c, &has_boost, why, sizeof(why)));
	/* PoCo Boost records a task only once pushed or claimed */
	rc = has_boost && !dealid ? poco_boost_task_find(c, id, did, &idx) : 0;
	if (rc < 0 && rc != ERR_NOTFOUND)
		goto out;
	if (has_boost && rc == 0) {
		GUARD_GOTO(poco_view(c, "viewDealBoost", did, &deal));
		boost = !is_zero_hex(json_string_value(json_object_get(deal, "requester")));
		if (boost) {
			uint64_t first = u64_of(deal, "botFirst");
			ENSURE_GOTO(idx >= first && idx - first < u64_of(deal, "botSize"),
			            ERR_NOTFOUND, "the deal has no task of index %llu",
			            (unsigned long long)idx);
			deadline = u64_of(deal, "deadline");
			goto done;
		}
	}
	ENSURE_GOTO(dealid, ERR_NOTFOUND,
	            "no task: not initialized on chain%s (a classic task not initialized yet "
	            "is shown by DEALID --index N)",
	            has_boost ? ", and no Boost deal holds it" : "");
	/* a classic deal's task not initialized: its deadline counts from the
	 * deal's start, 10 times its category's reference duration (PoCo's
	 * FINAL_DEADLINE_RATIO) */
	json_decref(deal);
	deal = NULL;
	GUARD_GOTO(poco_view(c, "viewDeal", did, &deal));
	ENSURE_GOTO(!is_zero_hex(json_string_value(json_object_get(deal, "requester"))),
	            ERR_NOTFOUND, "no deal holds the task");
	ENSURE_GOTO(idx >= u64_of(deal, "botFirst") &&
	                idx - u64_of(deal, "botFirst") < u64_of(deal, "botSize"),
	            ERR_NOTFOUND, "the deal has no task of index %llu", (unsigned long long)idx);
	{
		uint8_t catid[32] = {0};
		u256_from_u64(u64_of(deal, "category"), catid);
		GUARD_GOTO(poco_view(c, "viewCategory", catid, &cat));
		deadline = u64_of(deal, "startTime") + 10 * u64_of(cat, "workClockTimeRef");
	}
done:
	GUARD_GOTO(eth_block_time(c->rpc, &now));
	json_object_set_new(task, "taskid", eth_json_hex(id, 32));
	json_object_set_new(task, "dealid", eth_json_hex(did, 32));
	json_object_set_new(task, "idx", json_sprintf("%llu", (unsigned long long)idx));
	json_object_set_new(task, "boost", json_boolean(boost));
	/* a Boost task is open from its deal until pushed or claimed */
	json_object_set_new(task, "status_name",
	                    json_string(boost && st == 0 ? "ACTIVE"
	                                : st <= 4        ? task_status[st]
	                                                 : "?"));
	json_object_set_new(task, "finalDeadline",
	                    json_sprintf("%llu", (unsigned long long)deadline));
	json_object_set_new(task, "claimable", json_boolean(st < 3 && now >= deadline));
	*out = task;
	task = NULL;
	rc = 0;
out:
	json_decref(task);
	json_decref(deal);
	json_decref(cat);
	return rc;
}

/* What the pool's scheduler says of task `id` into out["pool"] (status,
 * worker, detail, and reason when it failed); the app's stderr tail into
 * out["stderr"] with --logs, asked with the requester's key. */
static int pool_view(const struct mopts *o, struct poco_chain *c, const uint8_t id[32], json_t *out)
{
	char base[512], url[1024], tid[67];
	uint8_t key[32];
	json_t *t = NULL, *pool, *logs = NULL;
	long st = 0;
	int rc;

	GUARD(http_base_url(base, sizeof(base), o->scheduler));
	hex_encode_0x(tid, id, 32);
	snprintf(url, sizeof(url), "%s/tasks/%s", base, tid);
	GUARD(http_json(url, NULL, NULL, 1 << 20, 30, &st, &t));
	pool = json_object();
	static const char *const keep[] = {"status", "worker", "detail", "reason", "tx", "claimTx"};
	for (size_t i = 0; i < sizeof(keep) / sizeof(*keep); i++)
		if (json_object_get(t, keep[i]))
			json_object_set(pool, keep[i], json_object_get(t, keep[i]));
	json_decref(t);
	json_object_set_new(out, "pool", pool);
	if (!o->logs)
		return 0;
	GUARD(signing_key(o, c, key));
	rc = cli_task_logs(key, c->chain_id, base, id, &logs);
	OPENSSL_cleanse(key, sizeof(key));
	GUARD(rc);
	ENSURE(logs, ERR_NOTFOUND,
	       "task %s: the pool keeps no app logs for it (the request did not set "
	       "iexec_developer_logger, or the app has not run)",
	       tid);
	json_object_set_new(out, "stderr", logs);
	return 0;
}

static int cmd_task(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: tdexec task show (TASKID | DEALID --index N) [--scheduler URL [--logs]]\n"
	    "       tdexec task claim (TASKID | DEALID --index N)\n"
	    "       tdexec task verify TASKID (--sms URL | --scheduler URL) ...  (--help)\n"
	    "\n"
	    "Task status: 0 UNSET, 1 ACTIVE, 2 REVEALING, 3 COMPLETED, 4 FAILED; a Boost\n"
	    "task is ACTIVE from its deal until pushed or claimed.  claim refunds the\n"
	    "requester once the task's final deadline (finalDeadline, chain time) has\n"
	    "passed: claim for a classic task (initializeAndClaimArray when no scheduler\n"
	    "initialized it), claimBoost for a Boost one.\n"
	    "--scheduler URL adds what the pool's scheduler knows (\"pool\": its status\n"
	    "and, for a failed task, the reason); --logs the app's stderr tail, kept when\n"
	    "the request asked for it (iexec_developer_logger), read with the requester's\n"
	    "key (--account, --wallet or --plain-key).\n";
	const char *sub = argc > 1 ? argv[1] : "";
	struct poco_chain *c = NULL;
	struct eth_receipt rc_;
	struct mopts o;
	uint8_t key[32], id[32], dealid[32];
	json_t *out = NULL;
	int r, rc = 0;

	/* verify has options of its own (the verifier's, as quote verify's) */
	if (strcmp(sub, "verify") == 0)
		return cmd_task_verify(argc - 1, argv + 1);
	r = begin(argc, argv, "task", usage, &o);
	if (r >= 0)
		return r;
	if (argc - 1 - optind != 1 || id32(argv[1 + optind], id) < 0)
		return cli_usage("task", "expected one task id (32 bytes hex)");
	GUARD_GOTO(load_chain(&o, &c));
	if (o.logs && !o.scheduler) {
		rc = cli_usage("task", "--logs needs --scheduler URL");
		goto done;
	}
	if (o.index >= 0) {
		memcpy(dealid, id, 32);
		poco_task_id(dealid, (uint64_t)o.index, id);
	}
	GUARD_GOTO(cli_task_view(c, id, o.index >= 0 ? dealid : NULL,
	                         o.index >= 0 ? (uint64_t)o.index : 0, &out));
	if (strcmp(sub, "show") == 0) {
		if (o.scheduler)
			GUARD_GOTO(pool_view(&o, c, id, out));
	} else if (strcmp(sub, "claim") == 0) {
		char idx[24], when[32];
		int boost = json_is_true(json_object_get(out, "boost"));
		const char *name = json_string_value(json_object_get(out, "status_name"));
		GUARD_GOTO(signing_key(&o, c, key));
		ENSURE_GOTO(strcmp(name, "COMPLETED") != 0 && strcmp(name, "FAILED") != 0,
		            ERR_INVAL, "task %s is %s already: nothing to claim", argv[1 + optind],
		            name);
		if (!json_is_true(json_object_get(out, "claimable"))) {
			time_format(
			    (time_t)strtoll(
			        json_string_value(json_object_get(out, "finalDeadline")), NULL, 10),
			    when);
			rc = err_set(ERR_INVAL,
			             "task %s is still open: it can be claimed after its final "
			             "deadline, %s (chain time)",
			             argv[1 + optind], when);
			goto out;
		}
		snprintf(idx, sizeof(idx), "%s", json_string_value(json_object_get(out, "idx")));
		if (boost)
			GUARD_GOTO(poco_send(
			    c->rpc, key, c->hub, "claimBoost(bytes32,uint256)",
			    json_pack("[O,s]", json_object_get(out, "dealid"), idx), &rc_));
		else if (!strcmp(name, "UNSET"))
			/* a classic task no scheduler initialized: PoCo's claim
			 * needs it initialized, initializeAndClaimArray does both */
			GUARD_GOTO(poco_send(
			    c->rpc, key, c->hub, "initializeAndClaimArray(bytes32[],uint256[])",
			    json_pack("[[O],[s]]", json_object_get(out, "dealid"), idx), &rc_));
		else
			GUARD_GOTO(poco_send(c->rpc, key, c->hub, "claim(bytes32)",
			                     json_pack("[o]", eth_json_hex(id, 32)), &rc_));
		json_decref(out);
		out = json_pack("{s:o,s:b,s:o}", "taskid", eth_json_hex(id, 32), "boost", boost,
		                "tx", eth_json_hex(rc_.tx_hash, 32));
		eth_receipt_free(&rc_);
	} else {
		rc = cli_usage("task", "unknown command '%s'", sub);
		goto done;
	}
	GUARD_GOTO(emit(&o, out));
out:
	if (rc < 0)
		rc = cli_fail();
done:
	OPENSSL_cleanse(key, sizeof(key));
	json_decref(out);
	poco_chain_free(c);
	return rc;
}

static const struct cli_cmd wallet_subs[] = {
    {"create", NULL, NULL, NULL, market_options},
    {"import", NULL, NULL, NULL, market_options},
    {"show", NULL, NULL, NULL, market_options},
    {"balance", NULL, NULL, NULL, market_options},
    {NULL, NULL, NULL, NULL, NULL},
};
static const struct cli_cmd app_subs[] = {
    {"deploy", NULL, NULL, NULL, market_options},
    {"show", NULL, NULL, NULL, market_options},
    {"inspect", NULL, NULL, NULL, cli_pull_opts},
    {NULL, NULL, NULL, NULL, NULL},
};
static const struct cli_cmd dataset_subs[] = {
    {"deploy", NULL, NULL, NULL, market_options},
    {"show", NULL, NULL, NULL, market_options},
    {"encrypt", NULL, NULL, NULL, cli_secret_opts},
    {NULL, NULL, NULL, NULL, NULL},
};
static const struct cli_cmd workerpool_subs[] = {
    {"deploy", NULL, NULL, NULL, market_options},
    {"show", NULL, NULL, NULL, market_options},
    {NULL, NULL, NULL, NULL, NULL},
};
static const struct cli_cmd account_subs[] = {
    {"deposit", NULL, NULL, NULL, market_options},
    {"withdraw", NULL, NULL, NULL, market_options},
    {"show", NULL, NULL, NULL, market_options},
    {NULL, NULL, NULL, NULL, NULL},
};
static const struct cli_cmd order_subs[] = {
    {"init", NULL, NULL, NULL, market_options},
    {"sign", NULL, NULL, NULL, market_options},
    {"show", NULL, NULL, NULL, market_options},
    {"cancel", NULL, NULL, NULL, market_options},
    {NULL, NULL, NULL, NULL, NULL},
};
static const struct cli_cmd deal_subs[] = {
    {"match", NULL, NULL, NULL, market_options},
    {"show", NULL, NULL, NULL, market_options},
    {NULL, NULL, NULL, NULL, NULL},
};
static const struct cli_cmd task_subs[] = {
    {"show", NULL, NULL, NULL, market_options},
    {"claim", NULL, NULL, NULL, market_options},
    {"verify", cmd_task_verify, "check which TD ran a task, from its attestation receipts", NULL,
     cli_task_verify_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

const struct cli_cmd market_commands[] = {
    {"wallet", wallet, "create, import, show keystores; balances", wallet_subs, market_options},
    {"app", cmd_app, "deploy, show, inspect apps (OCI image digest + TD policy)", app_subs,
     market_options},
    {"dataset", cmd_dataset, "deploy, show, encrypt datasets", dataset_subs, market_options},
    {"workerpool", cmd_workerpool, "deploy, show workerpools", workerpool_subs, market_options},
    {"account", cmd_account, "escrow deposit, withdraw, show", account_subs, market_options},
    {"order", cmd_order, "init, sign, show, cancel iExec orders (EIP-712)", order_subs,
     market_options},
    {"deal", cmd_deal, "match orders, show deals", deal_subs, market_options},
    {"task", cmd_task, "show, claim, verify tasks", task_subs, market_options},
    {NULL, NULL, NULL, NULL, NULL},
};
