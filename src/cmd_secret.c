/* tdexec secret push, tdexec result get, tdexec dataset encrypt: what app
 * developers, dataset owners and requesters do around a task. */
#include "cli.h"

#include "../services/sms/sms.h"
#include "crypto/aead.h"
#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/addr.h"
#include "net/http.h"
#include "poco/market.h"
#include "poco/network.h"
#include "proto/proto.h"
#include "tdx/ratls.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/proc.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
	S_SMS = 1000,
	S_CHAIN,
	S_ACCOUNT,
	S_WALLET,
	S_PASSWORD,
	S_PLAIN,
	S_DATASET,
	S_APP,
	S_REQUESTER,
	S_WEB2,
	S_VALUE,
	S_FILE,
	S_SCHED,
	S_OUT,
	S_KEY,
	S_JSON,
	S_SMSPOLICY,
	S_COLLATERAL,
	S_SIMROOT,
	S_TASK,
	S_NETWORK,
	S_RPC,
	S_SMSHASH,
	S_ANYMRTD
};

const struct option cli_secret_opts[] = {
    {"sms", required_argument, NULL, S_SMS},
    {"chain", required_argument, NULL, S_CHAIN},
    {"network", required_argument, NULL, S_NETWORK},
    {"rpc", required_argument, NULL, S_RPC},
    {"account", required_argument, NULL, S_ACCOUNT},
    {"wallet", required_argument, NULL, S_WALLET},
    {"password-file", required_argument, NULL, S_PASSWORD},
    {"plain-key", required_argument, NULL, S_PLAIN},
    {"dataset", required_argument, NULL, S_DATASET},
    {"app", required_argument, NULL, S_APP},
    {"requester", required_argument, NULL, S_REQUESTER},
    {"web2", required_argument, NULL, S_WEB2},
    {"value", required_argument, NULL, S_VALUE},
    {"file", required_argument, NULL, S_FILE},
    {"scheduler", required_argument, NULL, S_SCHED},
    {"output", required_argument, NULL, S_OUT},
    {"key-output", required_argument, NULL, S_KEY},
    {"key", required_argument, NULL, S_KEY},
    {"json", no_argument, NULL, S_JSON},
    {"sms-policy", required_argument, NULL, S_SMSPOLICY},
    {"collateral", required_argument, NULL, S_COLLATERAL},
    {"trust-sim-root", required_argument, NULL, S_SIMROOT},
    {"task", required_argument, NULL, S_TASK},
    {"sms-config-hash", required_argument, NULL, S_SMSHASH},
    {"allow-any-mrtd", no_argument, NULL, S_ANYMRTD},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct sopt {
	const char *sms, *chain, *network, *rpc, *wallet, *password, *plain, *dataset, *app,
	    *requester, *web2, *value, *file, *sched, *out, *key_out, *sms_policy, *collateral,
	    *sim_root, *task, *sms_hash;
	long account;
	int json, any_mrtd;
};

static int parse(int argc, char **argv, const char *prog, const char *usage, struct sopt *o)
{
	long v;
	int c;
	memset(o, 0, sizeof(*o));
	o->account = -1;
	optind = 0;
	while ((c = cli_getopt(argc, argv, prog, "ho:", cli_secret_opts)) != -1) {
		switch (c) {
		case S_SMS: o->sms = optarg; break;
		case S_CHAIN: o->chain = optarg; break;
		case S_NETWORK: o->network = optarg; break;
		case S_RPC: o->rpc = optarg; break;
		case S_WALLET: o->wallet = optarg; break;
		case S_PASSWORD: o->password = optarg; break;
		case S_PLAIN: o->plain = optarg; break;
		case S_DATASET: o->dataset = optarg; break;
		case S_APP: o->app = optarg; break;
		case S_REQUESTER: o->requester = optarg; break;
		case S_WEB2: o->web2 = optarg; break;
		case S_VALUE: o->value = optarg; break;
		case S_FILE: o->file = optarg; break;
		case S_SCHED: o->sched = optarg; break;
		case 'o':
		case S_OUT: o->out = optarg; break;
		case S_KEY: o->key_out = optarg; break;
		case S_JSON: o->json = 1; break;
		case S_SMSPOLICY: o->sms_policy = optarg; break;
		case S_COLLATERAL: o->collateral = optarg; break;
		case S_SIMROOT: o->sim_root = optarg; break;
		case S_TASK: o->task = optarg; break;
		case S_SMSHASH: o->sms_hash = optarg; break;
		case S_ANYMRTD: o->any_mrtd = 1; break;
		case S_ACCOUNT:
			if (cli_int(prog, "--account", optarg, 0, 1000, &v))
				return EXIT_USAGE;
			o->account = v;
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	return cli_chain_usage(prog, o->chain, o->network, o->rpc) ? EXIT_USAGE : -1;
}

static int key_of(const struct sopt *o, uint8_t key[32], uint8_t addr[20])
{
	struct poco_chain *c = NULL;
	int rc;
	if (o->account >= 0) {
		ENSURE(o->chain || o->network, ERR_INVAL, "--account needs --chain");
		GUARD(poco_chain_open(o->chain, o->network, o->rpc, &c));
	}
	rc = cli_signing_key(o->wallet, o->password, o->plain, o->account, c, key);
	poco_chain_free(c);
	if (rc == 0)
		rc = k1_address(key, addr);
	return rc;
}

static const char secret_usage[] =
    "Usage: tdexec secret push --sms URL (--dataset ADDR | --app ADDR | --requester NAME |\n"
    "                          --web2 NAME) (--value TEXT | --file F) (--account N --chain F |\n"
    "                          --wallet F | --plain-key F)\n"
    "                          [--sms-policy FILE --collateral PATH [--trust-sim-root F]\n"
    "                          [--sms-config-hash HEX] [--allow-any-mrtd]]\n"
    "\n"
    "Push a secret to the SMS, signed as iExec's SMS expects by its owner:\n"
    "  --dataset ADDR    the dataset's key (signer: the dataset owner)\n"
    "  --app ADDR        the app developer secret (signer: the app owner)\n"
    "  --requester NAME  a requester secret, named as in the request's iexec_secrets\n"
    "  --web2 NAME       an owner's web2 secret (e.g. iexec-result-encryption-public-key)\n"
    "Secrets are immutable: pushing an existing one fails (HTTP 409).\n" CLI_CHAIN_HELP
    "  --sms-policy FILE  send the secret only to an SMS serving RA-TLS whose own\n"
    "                  TD quote verifies with --collateral and meets this policy,\n"
    "                  and whose configuration trusts no simulated root but the one\n"
    "                  given here with --trust-sim-root\n"
    "  --sms-config-hash HEX  and whose configuration is this one (the SHA-256\n"
    "                  'tdexec sms config-hash' computes from the SMS's settings)\n"
    "  --allow-any-mrtd  accept an --sms-policy that pins no MRTD (then any TD\n"
    "                  on a genuine platform could receive the secret)\n";

const struct cli_cmd secret_cmds[] = {
    {"push", NULL, "push a secret to an SMS", NULL, cli_secret_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

const struct cli_cmd result_cmds[] = {
    {"get", NULL, "download and check a task's result", NULL, cli_secret_opts},
    {"decrypt", NULL, "decrypt an encrypted result", NULL, cli_secret_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

int cmd_secret(int argc, char **argv)
{
	struct sopt o;
	uint8_t key[32], addr[20], h[32], sig[65], *val = NULL;
	size_t len = 0;
	char url[1024], auth[133] = "0x", owner[43], *name = NULL;
	struct http_response r;
	struct tdx_gate gate = {0};
	uint8_t pin[32];
	struct tdx_ratls_expect expect = {&gate, NULL, PROTO_SMS_CONFIG_FORMAT};
	int rc, kinds;

	if (argc < 2 || strcmp(argv[1], "push") != 0) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			fputs(secret_usage, stdout);
			return 0;
		}
		return cli_usage("secret", "expected 'push'");
	}
	if ((rc = parse(argc - 1, argv + 1, "secret push", secret_usage, &o)) >= 0)
		return rc;
	kinds = !!o.dataset + !!o.app + !!o.requester + !!o.web2;
	if (!o.sms || kinds != 1 || !!o.value == !!o.file)
		return cli_usage("secret push",
		                 "--sms, one of --dataset/--app/--requester/--web2 and "
		                 "one of --value/--file are required");
	if (!o.sms_policy != !o.collateral)
		return cli_usage("secret push", "--sms-policy and --collateral go together");
	/* a policy that pins no MRTD admits a TD running any code */
	if (o.sms_policy && !o.any_mrtd &&
	    tdx_gate_policy_pinned(o.sms_policy, "--allow-any-mrtd") < 0)
		return cli_fail();
	if (o.sms_hash && !o.sms_policy)
		return cli_usage("secret push", "--sms-config-hash needs --sms-policy (RA-TLS)");
	if (o.sms_hash) {
		if (tdx_ratls_pin_parse(o.sms_hash, "--sms-config-hash", pin) < 0)
			return cli_usage("secret push", "%s", err_msg());
		expect.config_hash = pin;
	}
	if (o.file) {
		if (file_read(o.file, SMS_SECRET_MAX + 1, &val, &len) < 0)
			return cli_fail();
	} else {
		len = strlen(o.value);
		val = (uint8_t *)strdup(o.value);
	}
	if (!val || key_of(&o, key, addr) < 0) {
		free(val);
		return cli_fail();
	}
	eth_addr_str(addr, owner);
	uint8_t target[20];
	rc = 0;
	if (o.dataset || o.app)
		rc = eth_addr_parse(o.dataset ? o.dataset : o.app, target);
	if (rc == 0) {
		if (o.dataset) {
			sms_secret_challenge(target, NULL, val, len, h);
			snprintf(url, sizeof(url), "%s/secrets/web3?secretAddress=%s", o.sms,
			         o.dataset);
		} else if (o.app) {
			sms_secret_challenge(target, "1", val, len, h);
			snprintf(url, sizeof(url), "%s/apps/%s/secrets", o.sms, o.app);
		} else if (o.requester) {
			sms_secret_challenge(addr, o.requester, val, len, h);
			snprintf(url, sizeof(url), "%s/requesters/%s/secrets/%s", o.sms, owner,
			         o.requester);
		} else {
			sms_secret_challenge(addr, o.web2, val, len, h);
			name = http_escape(o.web2);
			snprintf(url, sizeof(url), "%s/secrets/web2?ownerAddress=%s&secretName=%s",
			         o.sms, owner, name ? name : "");
			free(name);
		}
		rc = eip191_sign32(key, h, sig);
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (rc == 0 && o.sms_policy)
		rc = tdx_gate_open(&gate, o.collateral, o.sim_root, o.sms_policy, "secret.sms");
	if (rc == 0) {
		struct http_peer peer = {tdx_ratls_peer_check, &expect, 0, NULL};
		struct http_call call = {auth, "text/plain", val, len, o.sms_policy ? &peer : NULL,
		                         NULL};
		hex_encode(auth + 2, sig, 65);
		rc = http_call(url, &call, 4096, 30, &r);
	}
	tdx_gate_close(&gate);
	OPENSSL_cleanse(val, len);
	free(val);
	if (rc < 0)
		return cli_fail();
	rc = r.status == 200 || r.status == 204
	         ? 0
	         : err_set(ERR_IO, "sms: HTTP %ld %.*s", r.status,
	                   (int)(r.body.len > 200 ? 200 : r.body.len),
	                   r.body.buf ? (char *)r.body.buf : "");
	http_response_free(&r);
	if (rc < 0)
		return cli_fail();
	if (o.json)
		printf("{\"pushed\": true, \"bytes\": %zu}\n", len);
	else
		printf("pushed (%zu bytes)\n", len);
	return 0;
}

static const char result_usage[] =
    "Usage: tdexec result get TASKID --scheduler URL --chain F -o FILE\n"
    "                         (--account N | --wallet F | --plain-key F) [--key PRIVATE.pem]\n"
    "       tdexec result decrypt FILE --key PRIVATE.pem -o OUT\n"
    "                         [--task TASKID --scheduler URL --chain F]\n"
    "\n"
    "get: download a task's result archive (zip) from the pool's result store, as\n"
    "its beneficiary (the request carries the beneficiary's signature over the\n"
    "chain, the task, the beneficiary and an expiry five minutes ahead), and check\n"
    "it against the result digest on chain: recomputed from the archive as the\n"
    "worker computes it (keccak256 of computed.json's callback-data for a deal\n"
    "with a callback).  A mismatch, or an entry that would extract outside its\n"
    "directory or is a link, exits 1 and leaves no FILE.  An encrypted result\n"
    "can only be checked once decrypted: with --key it is decrypted, checked,\n"
    "and FILE is the plain archive; without, FILE is the encrypted archive, not\n"
    "checked (said on stderr).\n"
    "decrypt: open an encrypted result with the beneficiary's RSA key; with\n"
    "--task the plain archive is checked against the chain the same way.\n"
    "\n" CLI_CHAIN_HELP;

/* With --json, what result get / decrypt --task wrote, on stdout (the
 * words stay on stderr). */
static void result_json(const struct sopt *o, const char *out, int encrypted, int decrypted,
                        int checked)
{
	json_t *j;
	if (!o->json)
		return;
	j = json_pack("{s:s,s:b,s:b,s:b}", "file", out, "encrypted", encrypted, "decrypted",
	              decrypted, "checked", checked);
	if (j)
		(void)!json_print(j, 1);
	json_decref(j);
}

/* FILE.part, for an archive that is not FILE until it is checked. */
static int part_name(char *dst, size_t cap, const char *out, const char *suffix)
{
	return path_fmt(dst, cap, "%s.%s.part", out, suffix);
}

/* Check the archive at `part` for task `tid` (decrypting it first with
 * `key` when it is encrypted and a key is given) and put it at `out`. */
int cli_result_url(const uint8_t key[32], uint64_t chain_id, const char *base,
                   const uint8_t tid[32], char *url, size_t size, char auth[133])
{
	uint8_t me[20], h[32], sig[65];
	char task[67] = "0x";
	uint64_t expiry = (uint64_t)time(NULL) + PROTO_EXPIRY_DEFAULT;
	GUARD(k1_address(key, me));
	proto_result_download_hash(chain_id, tid, me, expiry, h);
	GUARD(eip191_sign32(key, h, sig));
	memcpy(auth, "0x", 2);
	hex_encode(auth + 2, sig, 65);
	hex_encode(task + 2, tid, 32);
	snprintf(url, size, "%s/results/%s?expires=%llu", base, task, (unsigned long long)expiry);
	return 0;
}

int cli_task_logs(const uint8_t key[32], uint64_t chain_id, const char *base, const uint8_t tid[32],
                  json_t **logs)
{
	uint8_t me[20], h[32], sig[65];
	char task[67] = "0x", auth[133] = "0x", url[1024];
	uint64_t expiry = (uint64_t)time(NULL) + PROTO_EXPIRY_DEFAULT;
	long st = 0;
	json_t *r = NULL;
	int rc;

	*logs = NULL;
	GUARD(k1_address(key, me));
	proto_task_logs_hash(chain_id, tid, me, expiry, h);
	GUARD(eip191_sign32(key, h, sig));
	hex_encode(auth + 2, sig, 65);
	hex_encode(task + 2, tid, 32);
	snprintf(url, sizeof(url), "%s/tasks/%s/logs?expires=%llu", base, task,
	         (unsigned long long)expiry);
	rc = http_json(url, auth, NULL, 64 << 10, 30, &st, &r);
	if (rc < 0 && st == 404)
		return 0;
	GUARD(rc);
	ENSURE(r && json_is_string(json_object_get(r, "stderr")), ERR_IO,
	       "%s: a reply without stderr", url);
	*logs = json_incref(json_object_get(r, "stderr"));
	json_decref(r);
	return 0;
}

static int check_and_place(const struct sopt *o, const uint8_t tid[32], const char *part,
                           const char *out, const char *what)
{
	struct poco_chain *c = NULL;
	char base[512], plain[PATH_MAX];
	int enc = 0, rc;

	GUARD(http_base_url(base, sizeof(base), o->sched));
	GUARD(part_name(plain, sizeof(plain), out, "plain"));
	rc = poco_chain_open(o->chain, o->network, o->rpc, &c);
	if (rc == 0)
		rc = cli_result_check(c, base, tid, part, &enc);
	if (rc == 0 && enc && o->key_out) {
		rc = cli_result_decrypt(part, o->key_out, plain);
		if (rc == 0)
			rc = cli_result_check(c, base, tid, plain, &enc);
		if (rc == 0 && enc)
			rc = err_set(ERR_VERIFY, "the decrypted result is encrypted again");
		if (rc == 0 && rename(plain, out) != 0)
			rc = err_set(ERR_IO, "%s: cannot write", out);
		if (rc == 0)
			fprintf(stderr, "wrote %s (%s, decrypted, matches the on-chain digest)\n",
			        out, what);
		if (rc == 0)
			result_json(o, out, 1, 1, 1);
	} else if (rc == 0) {
		if (rename(part, out) != 0)
			rc = err_set(ERR_IO, "%s: cannot write", out);
		else if (enc)
			fprintf(stderr,
			        "wrote %s (%s): encrypted, so NOT checked against the on-chain "
			        "digest; add --key PRIVATE.pem to decrypt and check it\n",
			        out, what);
		else
			fprintf(stderr, "wrote %s (%s, matches the on-chain digest)\n", out, what);
		if (rc == 0)
			result_json(o, out, enc, 0, !enc);
	}
	unlink(part);
	unlink(plain);
	poco_chain_free(c);
	return rc;
}

int cmd_result(int argc, char **argv)
{
	struct sopt o;
	uint8_t key[32], addr[20], tid[32];
	char url[1024], auth[133] = "0x", part[PATH_MAX], what[64];
	struct http_response r;
	struct poco_chain *c = NULL;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "decrypt") == 0) {
		if ((rc = parse(argc - 1, argv + 1, "result decrypt", result_usage, &o)) >= 0)
			return rc;
		if (optind + 1 != argc - 1 || !o.out || !o.key_out)
			return cli_usage("result decrypt", "FILE, --key and -o are required");
		if (o.task && (!o.sched || (!o.chain && !o.network) || strlen(o.task) != 66 ||
		               hex_decode_exact(tid, 32, o.task, "TASKID") < 0))
			return cli_usage(
			    "result decrypt",
			    "--task TASKID (32 bytes of hex) needs --scheduler and --chain");
		if (!o.task) {
			if (cli_result_decrypt(argv[1 + optind], o.key_out, o.out) < 0)
				return cli_fail();
			fprintf(stderr, "wrote %s (not checked: give --task to check it)\n", o.out);
			result_json(&o, o.out, 0, 1, 0);
			return 0;
		}
		if (part_name(part, sizeof(part), o.out, "dec") < 0 ||
		    cli_result_decrypt(argv[1 + optind], o.key_out, part) < 0 ||
		    check_and_place(&o, tid, part, o.out, "decrypted") < 0) {
			unlink(part);
			return cli_fail();
		}
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "get") != 0) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			fputs(result_usage, stdout);
			return 0;
		}
		return cli_usage("result", "expected 'get' or 'decrypt'");
	}
	if ((rc = parse(argc - 1, argv + 1, "result get", result_usage, &o)) >= 0)
		return rc;
	if (optind + 1 != argc - 1 || !o.sched || !o.out)
		return cli_usage("result get", "TASKID, --scheduler and -o are required");
	if (!o.chain && !o.network)
		return cli_usage("result get", "--chain is required (or --network with --rpc): the "
		                               "download is checked against the chain");
	const char *task = argv[1 + optind];
	if (strlen(task) != 66 || hex_decode_exact(tid, 32, task, "TASKID") < 0)
		return cli_usage("result get", "TASKID must be 32 bytes of hex");
	if (key_of(&o, key, addr) < 0)
		return cli_fail();
	rc = poco_chain_open(o.chain, o.network, o.rpc, &c);
	if (rc == 0)
		rc = cli_result_url(key, c->chain_id, o.sched, tid, url, sizeof(url), auth);
	OPENSSL_cleanse(key, sizeof(key));
	poco_chain_free(c);
	if (rc < 0)
		return cli_fail();
	if (part_name(part, sizeof(part), o.out, "get") < 0 ||
	    http_get_auth(url, auth, 64u << 20, 120, &r) < 0)
		return cli_fail();
	rc = r.status == 200 ? file_write(part, r.body.buf, r.body.len, 0600)
	                     : err_set(ERR_IO, "result store: HTTP %ld %.*s", r.status,
	                               (int)(r.body.len > 200 ? 200 : r.body.len),
	                               r.body.buf ? (char *)r.body.buf : "");
	snprintf(what, sizeof(what), "%zu bytes", r.body.len);
	http_response_free(&r);
	if (rc == 0)
		rc = check_and_place(&o, tid, part, o.out, what);
	unlink(part);
	return rc < 0 ? cli_fail() : 0;
}

/* tdexec dataset encrypt IN -o OUT --key-output KEYFILE: iExec's dataset
 * format, IV (16) || AES-256-CBC (PKCS#7); the key saved base64 (0600). */
int cli_dataset_encrypt(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: tdexec dataset encrypt FILE -o OUT --key-output KEYFILE [--json]\n"
	    "\n"
	    "Encrypt a dataset as iExec does (a fresh AES-256 key, AES-256-CBC, the IV\n"
	    "first).  The key goes to KEYFILE in base64 (push it with 'tdexec secret push\n"
	    "--dataset'); prints the checksum to register (SHA-256 of OUT).\n";
	struct sopt o;
	uint8_t *in = NULL, *out = NULL, k[32], sum[32];
	size_t len = 0, olen = 0;
	char *b64 = NULL, hex[67] = "0x";
	int rc;

	if ((rc = parse(argc, argv, "dataset encrypt", usage, &o)) >= 0)
		return rc;
	if (optind + 1 != argc || !o.out || !o.key_out)
		return cli_usage("dataset encrypt", "FILE, -o and --key-output are required");
	rc = file_read(argv[optind], 1u << 30, &in, &len);
	if (rc == 0 && RAND_bytes(k, 32) != 1)
		rc = err_set(ERR_CRYPTO, "no randomness");
	if (rc == 0)
		rc = aes256cbc_seal(k, in, len, &out, &olen);
	if (rc == 0 && !(b64 = base64_encode(k, 32)))
		rc = err_set(ERR_NOMEM, "out of memory");
	if (rc == 0)
		rc = file_write(o.key_out, b64, strlen(b64), 0600);
	if (rc == 0) {
		rc = file_write(o.out, out, olen, 0644);
		SHA256(out, olen, sum);
		hex_encode(hex + 2, sum, 32);
	}
	OPENSSL_cleanse(k, sizeof(k));
	if (b64) {
		OPENSSL_cleanse(b64, strlen(b64));
		free(b64);
	}
	free(in);
	free(out);
	if (rc < 0)
		return cli_fail();
	if (o.json)
		printf("{\"checksum\": \"%s\"}\n", hex);
	else
		printf("%s\n", hex);
	return 0;
}

int cli_result_decrypt(const char *enc_zip, const char *key_path, const char *out_zip)
{
	char tmp[] = "/tmp/tdexec-result-XXXXXX", aes[64], rsa[64];
	uint8_t *pem = NULL, *wrapped = NULL, *ct = NULL, *plain = NULL, key[32];
	size_t plen = 0, wlen = 0, clen = 0, len = 0;
	int rc;

	ENSURE(mkdtemp(tmp), ERR_IO, "cannot make a temporary directory");
	char *argv[] = {"unzip", "-q", "-o", (char *)enc_zip, "iexec_out.zip.aes", "aes-key.rsa",
	                "-d",    tmp,  NULL};
	snprintf(aes, sizeof(aes), "%s/iexec_out.zip.aes", tmp);
	snprintf(rsa, sizeof(rsa), "%s/aes-key.rsa", tmp);
	rc = proc_check(argv, NULL);
	if (rc < 0)
		rc = err_set(ERR_INVAL,
		             "%s is not an encrypted result (iexec_out.zip.aes, aes-key.rsa)",
		             enc_zip);
	if (rc == 0)
		rc = file_read(key_path, 64 * 1024, &pem, &plen);
	if (rc == 0)
		rc = file_read(rsa, 64 * 1024, &wrapped, &wlen);
	if (rc == 0)
		rc = file_read(aes, 1u << 30, &ct, &clen);
	if (rc == 0)
		rc = rsa_unwrap_key((const char *)pem, wrapped, wlen, key);
	if (rc == 0)
		rc = aes256cbc_open(key, ct, clen, &plain, &len);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc == 0)
		rc = file_write(out_zip, plain, len, 0600);
	if (pem) {
		OPENSSL_cleanse(pem, plen);
		free(pem);
	}
	free(wrapped);
	free(ct);
	free(plain);
	unlink(aes);
	unlink(rsa);
	rmdir(tmp);
	return rc;
}
