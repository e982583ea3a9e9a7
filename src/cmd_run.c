/* tdexec market (publish and list orders on a pool's orderbook) and
 * tdexec run (the requester's one command: find orders, buy a task, follow
 * it, fetch its result, show where the money went). */
#include "cli.h"

#include "../services/worker/result.h"

#include "crypto/k1.h"
#include "eth/addr.h"
#include "net/http.h"
#include "poco/market.h"
#include "poco/network.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/proc.h"
#include "util/timefmt.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ZERO_ADDR "0x0000000000000000000000000000000000000000"

enum {
	R_MARKET = 1000,
	R_CHAIN,
	R_ACCOUNT,
	R_WALLET,
	R_PASSWORD,
	R_PLAIN,
	R_DATASET,
	R_INPUT,
	R_SECRET,
	R_ARGS,
	R_OUT,
	R_JSON,
	R_TIMEOUT,
	R_APP,
	R_POOL,
	R_TAG,
	R_ENCRYPT,
	R_RKEY,
	R_NETWORK,
	R_RPC,
	R_DEVLOG
};

const struct option cli_run_opts[] = {
    {"market", required_argument, NULL, R_MARKET},
    {"chain", required_argument, NULL, R_CHAIN},
    {"network", required_argument, NULL, R_NETWORK},
    {"rpc", required_argument, NULL, R_RPC},
    {"account", required_argument, NULL, R_ACCOUNT},
    {"wallet", required_argument, NULL, R_WALLET},
    {"password-file", required_argument, NULL, R_PASSWORD},
    {"plain-key", required_argument, NULL, R_PLAIN},
    {"dataset", required_argument, NULL, R_DATASET},
    {"input-file", required_argument, NULL, R_INPUT},
    {"secret", required_argument, NULL, R_SECRET},
    {"args", required_argument, NULL, R_ARGS},
    {"output", required_argument, NULL, R_OUT},
    {"json", no_argument, NULL, R_JSON},
    {"timeout", required_argument, NULL, R_TIMEOUT},
    {"app", required_argument, NULL, R_APP},
    {"workerpool", required_argument, NULL, R_POOL},
    {"tag", required_argument, NULL, R_TAG},
    {"encrypt-result", no_argument, NULL, R_ENCRYPT},
    {"result-key", required_argument, NULL, R_RKEY},
    {"developer-logger", no_argument, NULL, R_DEVLOG},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct ropt {
	const char *market, *chain, *network, *rpc, *wallet, *password, *plain, *dataset, *args,
	    *out, *app, *pool, *tag, *result_key;
	const char *inputs[16], *secrets[16];
	int ninputs, nsecrets, json, encrypt, devlog;
	long account, timeout;
};

static int rparse(int argc, char **argv, const char *prog, const char *usage, struct ropt *o)
{
	long v;
	int c;
	memset(o, 0, sizeof(*o));
	o->account = -1;
	o->timeout = 300;
	optind = 0;
	while ((c = cli_getopt(argc, argv, prog, "ho:", cli_run_opts)) != -1) {
		switch (c) {
		case R_MARKET: o->market = optarg; break;
		case R_CHAIN: o->chain = optarg; break;
		case R_NETWORK: o->network = optarg; break;
		case R_RPC: o->rpc = optarg; break;
		case R_WALLET: o->wallet = optarg; break;
		case R_PASSWORD: o->password = optarg; break;
		case R_PLAIN: o->plain = optarg; break;
		case R_DATASET: o->dataset = optarg; break;
		case R_ARGS: o->args = optarg; break;
		case R_APP: o->app = optarg; break;
		case R_POOL: o->pool = optarg; break;
		case R_TAG: o->tag = optarg; break;
		case R_ENCRYPT: o->encrypt = 1; break;
		case R_DEVLOG: o->devlog = 1; break;
		case R_RKEY: o->result_key = optarg; break;
		case 'o':
		case R_OUT: o->out = optarg; break;
		case R_JSON: o->json = 1; break;
		case R_INPUT:
			if (o->ninputs == 16)
				return cli_usage(prog, "at most 16 --input-file");
			o->inputs[o->ninputs++] = optarg;
			break;
		case R_SECRET:
			if (o->nsecrets == 16 || !strchr(optarg, '='))
				return cli_usage(prog, "--secret N=NAME (at most 16)");
			o->secrets[o->nsecrets++] = optarg;
			break;
		case R_ACCOUNT:
			if (cli_int(prog, "--account", optarg, 0, 1000, &v))
				return EXIT_USAGE;
			o->account = v;
			break;
		case R_TIMEOUT:
			if (cli_int(prog, "--timeout", optarg, 1, 86400, &v))
				return EXIT_USAGE;
			o->timeout = v;
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	return -1;
}

static int trim(char *dst, size_t cap, const char *url)
{
	ENSURE(url, ERR_INVAL, "--market URL is required");
	return http_base_url(dst, cap, url);
}

/* GET or POST JSON on the market; the parsed 200 reply. */
static int market_call(const char *url, const char *auth, const json_t *body, json_t **out)
{
	long st;
	GUARD(http_json(url, auth, body, body ? 1 << 20 : 4 << 20, 30, &st, out));
	ENSURE(*out, ERR_IO, "%s: HTTP %ld without a reply", url, st);
	return 0;
}

static const char market_usage[] =
    "Usage: tdexec market publish KIND FILE --market URL\n"
    "       tdexec market list KIND --market URL [--app A | --dataset D |\n"
    "                          --workerpool P] [--tag tdx] [--json]\n"
    "\n"
    "A pool's orderbook (served by 'tdexec scheduler'): KIND is app, dataset,\n"
    "workerpool or request; FILE a signed order ('tdexec order sign').  Orders\n"
    "are checked against their owner on publish and listed with what remains of\n"
    "their volume on chain, cheapest first: a table, or the scheduler's JSON with\n"
    "--json.\n";

const struct cli_cmd book_cmds[] = {
    {"publish", NULL, "publish a signed order", NULL, cli_run_opts},
    {"list", NULL, "list the orderbook", NULL, cli_run_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

/* `market list` without --json: one order a line, as the scheduler sorts
 * them (cheapest first). */
static void print_book(const char *kind, const json_t *out)
{
	int req = strcmp(kind, "request") == 0;
	char field[32];
	size_t i;
	json_t *e;

	printf("%-66s  %-42s  %12s  %9s  %s\n", "ORDER", req ? "REQUESTER" : "ASSET",
	       req ? "MAX PRICE" : "PRICE", "REMAINING", "TAG");
	json_array_foreach (json_object_get(out, "orders"), i, e) {
		const json_t *ord = json_object_get(e, "order"), *price;
		const char *asset =
		    json_string_value(json_object_get(ord, req ? "requester" : kind));
		snprintf(field, sizeof(field), "%sprice", req ? "workerpoolmax" : kind);
		price = json_object_get(ord, field);
		printf("%-66s  %-42s  %12lld  %9lld  %s\n",
		       json_string_value(json_object_get(e, "orderHash")), asset ? asset : "-",
		       json_is_integer(price)  ? (long long)json_integer_value(price)
		       : json_is_string(price) ? atoll(json_string_value(price))
		                               : 0LL,
		       (long long)json_integer_value(json_object_get(e, "remaining")),
		       json_string_value(json_object_get(ord, "tag"))
		           ? json_string_value(json_object_get(ord, "tag"))
		           : "-");
	}
	printf("%lld order(s)\n", (long long)json_integer_value(json_object_get(out, "count")));
}

int cmd_market_book(int argc, char **argv)
{
	struct ropt o;
	enum poco_order_kind kind;
	char base[512], url[1024];
	json_t *order = NULL, *out = NULL;
	const char *sub = argc > 1 ? argv[1] : "";
	int rc;

	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		fputs(market_usage, stdout);
		return 0;
	}
	if ((rc = rparse(argc - 1, argv + 1, "market", market_usage, &o)) >= 0)
		return rc;
	if (strcmp(sub, "publish") && strcmp(sub, "list"))
		return cli_usage("market", "expected 'publish' or 'list'");
	if (optind + 1 > argc - 1 || poco_order_kind_parse(argv[1 + optind], &kind) < 0)
		return cli_usage("market", "KIND is app, dataset, workerpool or request");
	if (trim(base, sizeof(base), o.market) < 0)
		return cli_usage("market", "%s", err_msg());
	if (!strcmp(sub, "publish")) {
		if (optind + 2 != argc - 1)
			return cli_usage("market", "publish KIND FILE");
		if (json_load_path(argv[2 + optind], 1 << 20, &order) < 0)
			return cli_fail();
		snprintf(url, sizeof(url), "%s/orders/%s", base, argv[1 + optind]);
		rc = market_call(url, NULL, order, &out);
	} else {
		const char *f = o.app       ? "app"
		                : o.dataset ? "dataset"
		                : o.pool    ? "workerpool"
		                            : NULL;
		const char *v = o.app ? o.app : o.dataset ? o.dataset : o.pool;
		snprintf(url, sizeof(url), "%s/orders/%s?%s%s%s%s%s", base, argv[1 + optind],
		         f ? f : "", f ? "=" : "", f ? v : "", o.tag ? "&tag=" : "",
		         o.tag ? o.tag : "");
		rc = market_call(url, NULL, NULL, &out);
	}
	json_decref(order);
	if (rc == 0) {
		if (o.json)
			rc = json_print(out, 1);
		else if (!strcmp(sub, "list"))
			print_book(argv[1 + optind], out);
		else
			printf("published %s\n",
			       json_string_value(json_object_get(out, "orderHash")));
	}
	json_decref(out);
	return rc < 0 ? cli_fail() : 0;
}

/* ---------- tdexec run ---------- */

static const char run_usage[] =
    "Usage: tdexec run APP --market URL (--chain FILE | --network NAME --rpc URL)\n"
    "                  (--account N | --wallet F | --plain-key F) [--dataset D]\n"
    "                  [--input-file URL]...\n"
    "                  [--secret N=NAME]... [--args \"...\"] [-o OUT] [--timeout S]\n"
    "                  [--encrypt-result --result-key PRIVATE.pem]\n"
    "                  [--developer-logger] [--json]\n"
    "\n"
    "Buy one confidential (TDX) task of APP: take the cheapest app, dataset and\n"
    "workerpool orders from the market, sign the request order, match them\n"
    "(PoCo Boost when the hub has it, else a classic deal: matchOrders, the pool\n"
    "initializes the task and its worker completes it by contributeAndFinalize),\n"
    "follow the task, download the result and show where the money went (each\n"
    "party's escrow change from before the deal to after the task, in nRLC).\n"
    "-o DIR/ or an existing DIR: DIR/TASKID.zip and DIR/TASKID/; -o NAME.zip:\n"
    "NAME.zip and NAME/; -o NAME: NAME.zip and NAME/ (default ./TASKID).  The\n"
    "deposits are checked before paying; on --timeout the task stays open and\n"
    "'tdexec task claim' refunds it after its final deadline.\n"
    "\n" CLI_CHAIN_HELP
    "  --secret N=NAME   requester secret NAME (pushed with 'tdexec secret push\n"
    "                    --requester NAME') given to the app as\n"
    "                    IEXEC_REQUESTER_SECRET_N\n"
    "  --developer-logger  ask for the app's stderr (its last 4 KiB), shown\n"
    "                    once the task ends, failed or not (iExec's\n"
    "                    iexec_developer_logger; only the requester can read it,\n"
    "                    but mind what an app's logs may tell)\n";

/* The cheapest open order of a kind for an asset. */
static int best_order(const char *base, const char *kind, const char *field, const char *asset,
                      json_t **out)
{
	char url[1024];
	json_t *r = NULL;
	snprintf(url, sizeof(url), "%s/orders/%s?%s=%s&tag=tdx", base, kind, field,
	         asset ? asset : "");
	if (!asset)
		snprintf(url, sizeof(url), "%s/orders/%s?tag=tdx", base, kind);
	GUARD(market_call(url, NULL, NULL, &r));
	json_t *first = json_array_get(json_object_get(r, "orders"), 0);
	*out = first ? json_incref(json_object_get(first, "order")) : NULL;
	json_decref(r);
	ENSURE(*out, ERR_NOTFOUND, "no open TDX %s order%s%s on the market", kind,
	       asset ? " for " : "", asset ? asset : "");
	return 0;
}

static const char *str_or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

/* What `addr` holds in the escrow after block `block`, free and locked:
 * stake only locked for a while and unlocked again is no change of it. */
static long long balance_at(struct poco_chain *c, const char *addr, uint64_t block)
{
	uint8_t a[20];
	json_t *v = NULL;
	long long n = -1;
	if (addr && eth_addr_parse(addr, a) == 0 && poco_account_at(c, a, block, &v) == 0)
		n = strtoll(str_or(json_string_value(json_object_get(v, "stake")), "-1"), NULL,
		            10) +
		    strtoll(str_or(json_string_value(json_object_get(v, "locked")), "0"), NULL, 10);
	json_decref(v);
	return n;
}

/* An order's price (nRLC); -1 past 2^60 (all RLC there is, 8.7e16 nRLC,
 * is far below it), so that sums of prices cannot overflow. */
static long long price_of(const json_t *order, const char *field)
{
	const char *s = order ? json_string_value(json_object_get(order, field)) : NULL;
	unsigned long long v;
	char *end;
	if (!s)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	return errno || *end || !*s || *s == '-' || v > (1ull << 60) ? -1 : (long long)v;
}

/* The escrow's free stake of addr (nRLC), -1 when it cannot be read. */
static long long free_stake(struct poco_chain *c, const char *addr)
{
	uint8_t a[20];
	json_t *v = NULL;
	long long n = -1;
	if (addr && eth_addr_parse(addr, a) == 0 && poco_account(c, a, &v) == 0)
		n = strtoll(str_or(json_string_value(json_object_get(v, "stake")), "-1"), NULL, 10);
	json_decref(v);
	return n;
}

/* PoCo locks what the deal costs the requester, and a part of the pool's
 * price from the pool owner's stake (WORKERPOOL_STAKE_RATIO, 30%), at the
 * match: checked first, so that the requester is told what to deposit
 * instead of a revert from the escrow. */
#define WORKERPOOL_STAKE_RATIO 30
static int funds_check(struct poco_chain *c, const char *me, const json_t *ao, const json_t *dso,
                       const json_t *wo)
{
	long long pa = price_of(ao, "appprice"), pd = price_of(dso, "datasetprice"),
	          pw = price_of(wo, "workerpoolprice");
	ENSURE(pa >= 0 && pd >= 0 && pw >= 0, ERR_INVAL,
	       "an order on the market has a price that is no amount of nRLC");
	long long need = pa + pd + pw;
	long long have = free_stake(c, me);
	ENSURE(have >= need, ERR_INVAL,
	       "the requester's account holds %lld nRLC, the deal needs %lld: run 'tdexec "
	       "account deposit %lld' (with the requester's key and chain)",
	       have, need, need - have);
	long long pool_need = pw * WORKERPOOL_STAKE_RATIO / 100;
	if (pool_need > 0) {
		uint8_t pool[20];
		json_t *a = NULL;
		const char *owner;
		GUARD(eth_addr_parse(json_string_value(json_object_get(wo, "workerpool")), pool));
		GUARD(poco_asset_show(c, POCO_WORKERPOOL, pool, &a));
		owner = json_string_value(json_object_get(a, "owner"));
		have = free_stake(c, owner);
		int rc = have >= pool_need
		             ? 0
		             : err_set(ERR_INVAL,
		                       "the pool owner %s holds %lld nRLC of stake, the deal needs "
		                       "%lld (%d%% of the pool's price): the pool owner must run "
		                       "'tdexec account deposit %lld'",
		                       owner ? owner : "?", have, pool_need, WORKERPOOL_STAKE_RATIO,
		                       pool_need - have);
		json_decref(a);
		GUARD(rc);
	}
	return 0;
}

/* Where -o puts the result, settled before paying: in a directory (-o
 * DIR/, an existing DIR, or none: ./) as TASKID/ and TASKID.zip; else
 * NAME/ and NAME.zip (from -o NAME or -o NAME.zip).  The directory the
 * files go into must exist (DIR/ itself is made when its parent exists). */
struct out_plan {
	int in_dir;
	char where[1024]; /* in_dir: the directory; else the unpacked dir */
	char zip[1100];   /* !in_dir */
};

static int parent_ok(const char *path)
{
	char p[1024];
	struct stat st;
	const char *slash = strrchr(path, '/');
	if (!slash)
		return 0;
	snprintf(p, sizeof(p), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	ENSURE(stat(p, &st) == 0 && S_ISDIR(st.st_mode), ERR_NOTFOUND,
	       "-o %s: the directory %s does not exist", path, p);
	return 0;
}

static int out_plan(const char *out, struct out_plan *p)
{
	struct stat st;
	size_t n = out ? strlen(out) : 0;
	memset(p, 0, sizeof(*p));
	ENSURE(n < 900, ERR_TOOBIG, "-o: the path is too long");
	if (!out || (n && out[n - 1] == '/') || (stat(out, &st) == 0 && S_ISDIR(st.st_mode))) {
		p->in_dir = 1;
		snprintf(p->where, sizeof(p->where), "%s", out ? out : ".");
		n = strlen(p->where);
		while (n > 1 && p->where[n - 1] == '/')
			p->where[--n] = 0;
		if (stat(p->where, &st) == 0) {
			ENSURE(S_ISDIR(st.st_mode), ERR_INVAL, "-o %s: not a directory", out);
			return 0;
		}
		GUARD(parent_ok(p->where));
		return dir_create(p->where, 0700);
	}
	ENSURE(n, ERR_INVAL, "-o: an empty path");
	if (n > 4 && !strcmp(out + n - 4, ".zip")) {
		snprintf(p->zip, sizeof(p->zip), "%s", out);
		snprintf(p->where, sizeof(p->where), "%.*s", (int)(n - 4), out);
	} else {
		snprintf(p->where, sizeof(p->where), "%s", out);
		snprintf(p->zip, sizeof(p->zip), "%s.zip", out);
	}
	/* the result is unpacked into a directory: not over a file */
	ENSURE(stat(p->where, &st) != 0 || S_ISDIR(st.st_mode), ERR_INVAL,
	       "-o %s: %s is a file, not a directory", out, p->where);
	ENSURE(stat(p->zip, &st) != 0 || !S_ISDIR(st.st_mode), ERR_INVAL,
	       "-o %s: %s is a directory", out, p->zip);
	return parent_ok(p->where);
}

/* One line of what the pool does with the task, in words. */
static void progress_text(const json_t *t, char *buf, size_t cap)
{
	const char *st = str_or(json_string_value(json_object_get(t, "status")), "");
	const char *w = json_string_value(json_object_get(t, "worker"));
	const char *d = json_string_value(json_object_get(t, "detail"));
	char since[32] = "";
	json_int_t up = json_integer_value(json_object_get(t, "updated"));
	if (up > 0)
		time_format((time_t)up, since);
	if (!t)
		snprintf(buf, cap, "the pool has not seen the deal yet");
	else if ((!strcmp(st, "RECEIVED") || !strcmp(st, "INITIALIZED")) && !w)
		snprintf(buf, cap, "queued: no worker has taken it yet");
	else if (!strcmp(st, "RUNNING"))
		snprintf(buf, cap, "running on worker %s since %s", str_or(w, "?"), since);
	else if (!strcmp(st, "COMPUTED") || !strcmp(st, "CONTRIBUTING") ||
	         !strcmp(st, "CONTRIBUTED"))
		snprintf(buf, cap, "computed by worker %s, its result on its way to the chain",
		         str_or(w, "?"));
	else /* the pool's words, maybe a registry's: no terminal escapes */
		str_printable(buf, cap, str_or(d, ""), SIZE_MAX);
}

static double now_f(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The result into DIR, by the reader that checked it (never `unzip`: what
 * is unpacked is exactly what was digested, within the same caps). */
static int unzip_into(const char *zip, const char *dir)
{
	static const struct result_limits lim = RESULT_DEFAULT_LIMITS;
	GUARD(dir_create(dir, 0700));
	return result_archive_read(zip, dir, &lim, 0, NULL);
}

int cmd_run(int argc, char **argv)
{
	struct ropt o;
	struct poco_chain *c = NULL;
	uint8_t key[32], me[20], dealid[32], taskid[32];
	char base[512], url[1024], addr[43], task[67], dealhex[67], dir[1100], zip[1200],
	    auth[133] = "0x", line[256], lastline[256] = "";
	json_t *ao = NULL, *dso = NULL, *wo = NULL, *ro = NULL, *params = NULL, *t = NULL,
	       *deal = NULL, *sum = NULL, *devlog = NULL;
	struct eth_receipt rc_;
	const char *who[4] = {NULL, NULL, NULL, NULL};
	struct out_plan plan;
	uint64_t blk_before = 0, blk_after = 0, bot = 0;
	int rc, boost = 0;
	char why[256];
	double t0;

	if ((rc = rparse(argc, argv, "run", run_usage, &o)) >= 0)
		return rc;
	if (optind + 1 != argc)
		return cli_usage("run", "expected one APP address");
	if (trim(base, sizeof(base), o.market) < 0 || (!o.chain && !o.network))
		return cli_usage("run", "--market and --chain (or --network) are required");
	if (cli_chain_usage("run", o.chain, o.network, o.rpc))
		return EXIT_USAGE;
	if (o.encrypt != !!o.result_key)
		return cli_usage("run",
		                 "--encrypt-result and --result-key PRIVATE.pem go together");
	const char *app = argv[optind];
	memset(key, 0, sizeof(key));
	if (out_plan(o.out, &plan) < 0)
		return cli_fail();
	t0 = now_f();
	GUARD_GOTO(poco_chain_open(o.chain, o.network, o.rpc, &c));
	GUARD_GOTO(cli_signing_key(o.wallet, o.password, o.plain, o.account, c, key));
	/* Boost where the hub has it; iExec's Arbitrum hubs do not */
	GUARD_GOTO(poco_boost_detect(c, &boost, why, sizeof(why)));
	if (!o.json)
		fprintf(stderr, "%s deal: %s\n", boost ? "Boost" : "classic", why);
	GUARD_GOTO(k1_address(key, me));
	eth_addr_str(me, addr);
	/* 1. orders */
	GUARD_GOTO(best_order(base, "app", "app", app, &ao));
	if (o.dataset)
		GUARD_GOTO(best_order(base, "dataset", "dataset", o.dataset, &dso));
	GUARD_GOTO(best_order(base, "workerpool", "workerpool", NULL, &wo));
	params = json_object();
	if (o.args)
		json_object_set_new(params, "iexec_args", json_string(o.args));
	if (o.ninputs) {
		json_t *in = json_array();
		for (int i = 0; i < o.ninputs; i++)
			json_array_append_new(in, json_string(o.inputs[i]));
		json_object_set_new(params, "iexec_input_files", in);
	}
	if (o.encrypt)
		json_object_set_new(params, "iexec_result_encryption", json_true());
	if (o.devlog)
		json_object_set_new(params, "iexec_developer_logger", json_true());
	if (o.nsecrets) {
		json_t *sec = json_object();
		for (int i = 0; i < o.nsecrets; i++) {
			char k[16];
			const char *eq = strchr(o.secrets[i], '=');
			snprintf(k, sizeof(k), "%.*s", (int)(eq - o.secrets[i]), o.secrets[i]);
			json_object_set_new(sec, k, json_string(eq + 1));
		}
		json_object_set_new(params, "iexec_secrets", sec);
	}
	ro = poco_order_new(POCO_REQUEST);
	char *ps = json_dumps(params, JSON_COMPACT);
	json_object_set_new(ro, "app", json_string(app));
	json_object_set(ro, "appmaxprice", json_object_get(ao, "appprice"));
	if (dso) {
		json_object_set_new(ro, "dataset", json_string(o.dataset));
		json_object_set(ro, "datasetmaxprice", json_object_get(dso, "datasetprice"));
	}
	json_object_set(ro, "workerpool", json_object_get(wo, "workerpool"));
	json_object_set(ro, "workerpoolmaxprice", json_object_get(wo, "workerpoolprice"));
	json_object_set(ro, "category", json_object_get(wo, "category"));
	json_object_set_new(ro, "requester", json_string(addr));
	json_object_set_new(ro, "beneficiary", json_string(addr));
	json_object_set_new(ro, "tag", json_string(POCO_TAG_TDX));
	json_object_set_new(ro, "params", json_string(ps ? ps : "{}"));
	free(ps);
	GUARD_GOTO(poco_order_sign(c, POCO_REQUEST, ro, key));
	/* 2. the deal */
	who[0] = addr;
	GUARD_GOTO(funds_check(c, addr, ao, dso, wo));
	if ((rc = poco_match(c, key, ao, dso, wo, ro, boost, dealid, &rc_)) < 0) {
		cli_money_hint();
		goto out;
	}
	/* the balances are compared with the state before the deal's block */
	blk_before = rc_.block - 1;
	eth_receipt_free(&rc_);
	GUARD_GOTO(poco_view(c, boost ? "viewDealBoost" : "viewDeal", dealid, &deal));
	bot = strtoull(str_or(json_string_value(json_object_get(deal, "botFirst")), "0"), NULL, 10);
	poco_task_id(dealid, bot, taskid);
	hex_encode_0x(task, taskid, 32);
	hex_encode_0x(dealhex, dealid, 32);
	if (boost) {
		who[1] = json_string_value(json_object_get(deal, "appOwner"));
		who[2] = dso ? json_string_value(json_object_get(deal, "datasetOwner")) : NULL;
		who[3] = json_string_value(json_object_get(deal, "workerpoolOwner"));
	} else {
		who[1] = json_string_value(json_object_get(json_object_get(deal, "app"), "owner"));
		who[2] = dso ? json_string_value(
		                   json_object_get(json_object_get(deal, "dataset"), "owner"))
		             : NULL;
		who[3] = json_string_value(
		    json_object_get(json_object_get(deal, "workerpool"), "owner"));
	}
	if (!o.json)
		fprintf(stderr, "deal %s\ntask %s\n", dealhex, task);
	/* 3. follow the task on the pool: a line when what it does changes */
	snprintf(url, sizeof(url), "%s/tasks/%s", base, task);
	const char *st = "";
	while (now_f() - t0 < (double)o.timeout) {
		json_t *nt = NULL;
		if (market_call(url, NULL, NULL, &nt) < 0 && t) {
			/* the pool away for a moment: what it said last stands */
			usleep(200000);
			continue;
		}
		json_decref(t);
		t = nt; /* NULL: not seen yet (404) */
		st = t ? str_or(json_string_value(json_object_get(t, "status")), "") : "";
		progress_text(t, line, sizeof(line));
		if (strcmp(line, lastline) != 0 && !o.json) {
			uint64_t blk = 0;
			/* a progress line: a block not known shows as 0 */
			IGNORE_STATUS(eth_block_number(c->rpc, &blk));
			fprintf(stderr, "  %6.1fs  block %-6llu %-12s %s\n", now_f() - t0,
			        (unsigned long long)blk, *st ? st : "-", line);
			snprintf(lastline, sizeof(lastline), "%s", line);
		}
		if (!strcmp(st, "COMPLETED") || !strcmp(st, "FAILED"))
			break;
		usleep(200000);
	}
	if (strcmp(st, "COMPLETED") != 0 && strcmp(st, "FAILED") != 0) {
		/* the task is still open: say when the money can come back */
		json_t *v = NULL;
		char when[32] = "?";
		if (cli_task_view(c, taskid, dealid, bot, &v) == 0)
			time_format(
			    (time_t)strtoll(
			        str_or(json_string_value(json_object_get(v, "finalDeadline")), "0"),
			        NULL, 10),
			    when);
		json_decref(v);
		rc = err_set(ERR_IO,
		             "task %s is still open after %lds (%s%s%s); the requester's funds "
		             "unlock at its final deadline, %s (chain time): then 'tdexec task "
		             "claim %s' refunds them, if no worker completed it meanwhile",
		             task, o.timeout, *st ? st : "no news from the pool", *st ? ": " : "",
		             *st ? line : "", when, task);
		goto out;
	}
	if (o.devlog && (!strcmp(st, "COMPLETED") || !strcmp(st, "FAILED"))) {
		/* the app's stderr tail, before the result or the reason */
		json_t *logs = NULL;
		if (cli_task_logs(key, c->chain_id, base, taskid, &logs) < 0)
			fprintf(stderr, "  (no app logs: %s)\n", err_msg());
		else if (!logs)
			fprintf(stderr, "  (no app logs: the pool kept none)\n");
		else if (o.json && !strcmp(st, "COMPLETED"))
			devlog = logs; /* in the summary */
		else
			fprintf(stderr, "  app stderr (last 4 KiB):\n%s%s", json_string_value(logs),
			        json_string_length(logs) &&
			                json_string_value(logs)[json_string_length(logs) - 1] !=
			                    '\n'
			            ? "\n"
			            : "");
		if (logs != devlog)
			json_decref(logs);
	}
	if (strcmp(st, "COMPLETED") != 0) {
		const char *reason = t ? json_string_value(json_object_get(t, "reason")) : NULL;
		char text[512] = "";
		if (!reason && t)
			reason = json_string_value(json_object_get(t, "detail"));
		if (reason)
			str_printable(text, sizeof(text), reason, SIZE_MAX);
		rc = err_set(ERR_IO, "task %s ended %s%s%s", task, *st ? st : "without news",
		             reason ? ": " : "", text);
		goto out;
	}
	/* 4. the result, as its beneficiary */
	if (plan.in_dir) {
		snprintf(dir, sizeof(dir), "%s/%s", plan.where, task);
		snprintf(zip, sizeof(zip), "%s/%s.zip", plan.where, task);
	} else {
		snprintf(dir, sizeof(dir), "%s", plan.where);
		snprintf(zip, sizeof(zip), "%s", plan.zip);
	}
	{
		struct http_response r;
		char rurl[1024];
		GUARD_GOTO(
		    cli_result_url(key, c->chain_id, base, taskid, rurl, sizeof(rurl), auth));
		GUARD_GOTO(http_get_auth(rurl, auth, 64u << 20, 60, &r));
		rc = r.status == 200 ? file_write(zip, r.body.buf, r.body.len, 0600)
		                     : err_set(ERR_IO, "result: HTTP %ld", r.status);
		http_response_free(&r);
		GUARD_GOTO(rc);
	}
	if (o.encrypt) {
		/* what left the TD is readable only with the beneficiary's key */
		char enc[1300];
		snprintf(enc, sizeof(enc), "%.*s.enc.zip", (int)(strlen(zip) - 4), zip);
		if (rename(zip, enc) != 0) {
			rc = err_set(ERR_IO, "cannot rename %s", zip);
			goto out;
		}
		GUARD_GOTO(cli_result_decrypt(enc, o.result_key, zip));
	}
	{
		/* the pool and the worker are not trusted with the result: the
		 * chain's digest is (the plain result, once decrypted) */
		int enc = 0;
		rc = cli_result_check(c, base, taskid, zip, &enc);
		if (rc == 0 && enc)
			rc = err_set(ERR_VERIFY, "result %s: encrypted, though not asked to be",
			             task);
		if (rc < 0) {
			unlink(zip);
			goto out;
		}
	}
	GUARD_GOTO(unzip_into(zip, dir));
	/* 5. where the money went: each party's escrow (free and locked) after
	 * the block that completed the task against before the deal's block */
	GUARD_GOTO(eth_block_number(c->rpc, &blk_after));
	{
		const char *worker = json_string_value(json_object_get(t, "worker"));
		static const char *const roles[] = {"requester", "app owner", "dataset owner",
		                                    "pool owner", "worker"};
		sum = json_pack("{s:s,s:s,s:b,s:s,s:s,s:s,s:f,s:{s:I,s:I},s:[]}", "deal", dealhex,
		                "task", task, "boost", boost, "status", st, "result", dir, "zip",
		                zip, "seconds", now_f() - t0, "blocks", "before",
		                (json_int_t)blk_before, "after", (json_int_t)blk_after, "payments");
		json_object_set(sum, "results", json_object_get(t, "results"));
		if (devlog)
			json_object_set(sum, "stderr", devlog);
		if (!o.json)
			fprintf(stderr, "  balances, block %llu to %llu:\n",
			        (unsigned long long)blk_before, (unsigned long long)blk_after);
		for (int i = 0; i < 5; i++) {
			const char *a = i < 4 ? who[i] : worker;
			long long b0, b1;
			char ch[32];
			if (!a)
				continue;
			b0 = balance_at(c, a, blk_before);
			b1 = balance_at(c, a, blk_after);
			if (b0 < 0 || b1 < 0) {
				rc = err_set(ERR_IO, "the escrow account of %s cannot be read", a);
				goto out;
			}
			snprintf(ch, sizeof(ch), "%lld", b1 - b0);
			json_array_append_new(json_object_get(sum, "payments"),
			                      json_pack("{s:s,s:s,s:s}", "role", roles[i],
			                                "address", a, "change_nRLC", ch));
			if (!o.json)
				fprintf(stderr, "  %-14s %s  %+lld nRLC\n", roles[i], a, b1 - b0);
		}
	}
	if (o.json)
		GUARD_GOTO(json_print(sum, 1));
	else
		printf("result in %s/ (%s)\n", dir, zip);
out:
	OPENSSL_cleanse(key, sizeof(key));
	json_decref(ao);
	json_decref(dso);
	json_decref(wo);
	json_decref(ro);
	json_decref(params);
	json_decref(t);
	json_decref(deal);
	json_decref(sum);
	json_decref(devlog);
	poco_chain_free(c);
	return rc < 0 ? cli_fail() : 0;
}
