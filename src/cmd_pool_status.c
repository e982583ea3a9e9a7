/* tdexec pool status — the pool seen by its operator: the scheduler's
 * admin endpoints (docs/scheduler-api.md), earnings included (the
 * scheduler reads them from the chain; a chain here only serves to sign). */
#include "cli.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/addr.h"
#include "eth/rpc.h"
#include "net/http.h"
#include "poco/market.h"
#include "poco/network.h"
#include "proto/proto.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/timefmt.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "Usage: tdexec pool status --scheduler URL (--token-file F | (--account N | --wallet F\n"
    "                          [--password-file F] | --plain-key F) --workerpool ADDR)\n"
    "                          [--chain FILE | --network NAME --rpc URL] [--json]\n"
    "                          [--watch [SECONDS]]\n"
    "\n"
    "The pool seen by its operator: its workers (last seen, TCB status, simulated\n"
    "or not, current task), its tasks by status, the last 10 failures with their\n"
    "reasons, and the escrow accounts of the pool owner and of each worker as the\n"
    "scheduler reads them from the chain: stake and locked (PoCo's viewAccount),\n"
    "rewards and seized (the sums of the hub's Reward and Seize events to them\n"
    "since the scheduler started counting), in nRLC.\n"
    "\n"
    "  --scheduler URL   the scheduler\n"
    "  --token-file F    its admin token (admin.token next to its database)\n"
    "  --account N | --wallet F | --plain-key F  or sign each request with the\n"
    "                    workerpool owner's key (needs --workerpool and a chain)\n"
    "  --workerpool ADDR the scheduler's workerpool (for a signed request)\n"
    "  --json            one JSON object (with --watch, one per line)\n"
    "  --watch [S]       redraw every S seconds (2) until Ctrl-C\n" CLI_CHAIN_HELP;

enum {
	K_SCHED = 1000,
	K_TOKEN,
	K_ACCOUNT,
	K_WALLET,
	K_PASSWORD,
	K_PLAIN,
	K_POOL,
	K_CHAIN,
	K_NETWORK,
	K_RPC,
	K_JSON,
	K_WATCH,
};

const struct option cli_pool_status_opts[] = {
    {"scheduler", required_argument, NULL, K_SCHED},
    {"token-file", required_argument, NULL, K_TOKEN},
    {"account", required_argument, NULL, K_ACCOUNT},
    {"wallet", required_argument, NULL, K_WALLET},
    {"password-file", required_argument, NULL, K_PASSWORD},
    {"plain-key", required_argument, NULL, K_PLAIN},
    {"workerpool", required_argument, NULL, K_POOL},
    {"chain", required_argument, NULL, K_CHAIN},
    {"network", required_argument, NULL, K_NETWORK},
    {"rpc", required_argument, NULL, K_RPC},
    {"json", no_argument, NULL, K_JSON},
    {"watch", optional_argument, NULL, K_WATCH},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* What a refresh needs, kept across refreshes of --watch. */
struct status {
	char base[512];
	char token[65]; /* the admin token, or "" to sign */
	uint8_t key[32], pool[20];
	struct poco_chain *c;
};

/* GET base+path(+query) with the admin credentials; 401 and other refusals
 * become an error naming the scheduler's reason. */
static int admin_get(struct status *st, const char *path, const char *query, json_t **out)
{
	char url[1024], auth[200], hex[133];
	struct http_response r;
	json_t *j = NULL;
	int rc;

	*out = NULL;
	snprintf(url, sizeof(url), "%s%s%s%s", st->base, path, query ? "?" : "",
	         query ? query : "");
	if (st->token[0]) {
		snprintf(auth, sizeof(auth), "Bearer %s", st->token);
	} else {
		uint8_t h[32], sig[65];
		uint64_t now = (uint64_t)time(NULL);
		proto_pool_admin_hash(st->c->chain_id, st->pool, "GET", path, now, h);
		GUARD(eip191_sign32(st->key, h, sig));
		hex_encode_0x(hex, sig, 65);
		snprintf(auth, sizeof(auth), "PoolOwner %llu %s", (unsigned long long)now, hex);
	}
	struct http_call call = {auth, NULL, NULL, 0, NULL, NULL};
	rc = http_call(url, &call, 16u << 20, 15, &r);
	OPENSSL_cleanse(auth, sizeof(auth));
	GUARD(rc);
	if (json_parse((const char *)r.body.buf, r.body.len, url, &j) < 0)
		rc = err_set(ERR_IO, "%s: HTTP %ld, not JSON (is %s a tdexec scheduler?)", url,
		             r.status, st->base);
	else if (r.status == 401)
		rc =
		    err_set(ERR_VERIFY, "the scheduler at %s refused the credentials: %s", st->base,
		            json_string_value(json_object_get(j, "reason"))
		                ? json_string_value(json_object_get(j, "reason"))
		                : "unauthorized");
	else if (r.status != 200)
		rc = err_set(ERR_IO, "%s: HTTP %ld: %s", url, r.status,
		             json_string_value(json_object_get(j, "error"))
		                 ? json_string_value(json_object_get(j, "error"))
		                 : "error");
	http_response_free(&r);
	if (rc < 0) {
		json_decref(j);
		return rc;
	}
	*out = j;
	return 0;
}

/* An account's earnings as the scheduler counts them (earnings.c), with
 * its role and address; NULL when it has none yet. */
static json_t *account_of(const char *role, const char *addr, json_t *earned)
{
	json_t *a;
	if (!json_is_object(earned) || !addr)
		return NULL;
	a = json_pack("{s:s,s:s}", "role", role, "address", addr);
	if (a)
		json_object_update(a, earned);
	return a;
}

/* One snapshot of the pool, as printed by --json. */
static int snapshot(struct status *st, json_t **out)
{
	json_t *stats = NULL, *workers = NULL, *failed = NULL, *o = NULL, *fails, *t, *w;
	size_t i;
	int rc;

	*out = NULL;
	rc = admin_get(st, "/stats", NULL, &stats);
	if (rc == 0)
		rc = admin_get(st, "/workers", NULL, &workers);
	if (rc == 0)
		rc = admin_get(st, "/tasks", "status=FAILED&limit=10", &failed);
	if (rc < 0)
		goto out;
	fails = json_array();
	json_array_foreach (json_object_get(failed, "tasks"), i, t)
		json_array_append_new(fails, json_pack("{s:O,s:O,s:O,s:O,s:O,s:O}", "taskId",
		                                       json_object_get(t, "taskId"), "dealId",
		                                       json_object_get(t, "dealId"), "taskIndex",
		                                       json_object_get(t, "taskIndex"), "worker",
		                                       json_object_get(t, "worker"), "reason",
		                                       json_object_get(t, "reason"), "failedAt",
		                                       json_object_get(t, "updated")));
	o = json_pack("{s:s,s:I,s:O,s:O,s:O,s:O,s:o,s:O,s:O}", "scheduler", st->base, "time",
	              (json_int_t)time(NULL), "pool", json_object_get(stats, "pool"), "workers",
	              json_object_get(workers, "workers"), "workerCounts",
	              json_object_get(stats, "workers"), "tasks", json_object_get(stats, "tasks"),
	              "failures", fails, "overhead", json_object_get(stats, "overhead"),
	              "tasksPerMinute", json_object_get(stats, "tasksPerMinute"));
	if (!o) {
		rc = err_set(ERR_INVAL, "%s: the scheduler's replies lack fields", st->base);
		goto out;
	}
	/* what the pool owner and each worker earned, as the scheduler read
	 * it from the chain (its follower, at most once per new block) */
	json_t *accts = json_array(), *a;
	a = account_of("owner",
	               json_string_value(json_object_get(json_object_get(stats, "pool"), "owner")),
	               json_object_get(stats, "ownerEarnings"));
	if (a)
		json_array_append_new(accts, a);
	json_array_foreach (json_object_get(workers, "workers"), i, w)
		if ((a = account_of("worker", json_string_value(json_object_get(w, "address")),
		                    json_object_get(w, "earnings"))))
			json_array_append_new(accts, a);
	json_object_set_new(
	    o, "earnings",
	    json_pack("{s:s,s:s,s:o}", "unit", "nRLC", "source",
	              "the scheduler's reading of the chain: stake and locked from PoCo's "
	              "viewAccount at accountBlock; rewards, seized, locks and unlocks: sums of "
	              "the hub's escrow events to the address from sinceBlock to toBlock; net: "
	              "rewards less seized",
	              "accounts", accts));
out:
	json_decref(stats);
	json_decref(workers);
	json_decref(failed);
	if (rc < 0) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return 0;
}

static const char *jstr_or(json_t *o, const char *k, const char *dflt)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : dflt;
}

static void print_table(const json_t *o)
{
	json_t *pool = json_object_get(o, "pool"), *w, *v, *e;
	const char *k;
	char when[32], text[512];
	size_t i;
	int first = 1;
	long long others = 0;

	printf("Pool %s (owner %s) on chain %lld, scheduler %s\n", jstr_or(pool, "workerpool", "?"),
	       jstr_or(pool, "owner", "?"),
	       (long long)json_integer_value(json_object_get(pool, "chainId")),
	       jstr_or((json_t *)o, "scheduler", "?"));
	printf("\nWorkers: %lld registered, %lld alive\n",
	       (long long)json_integer_value(
	           json_object_get(json_object_get(o, "workerCounts"), "registered")),
	       (long long)json_integer_value(
	           json_object_get(json_object_get(o, "workerCounts"), "alive")));
	if (json_array_size(json_object_get(o, "workers")))
		printf("  %-42s  %-9s  %-5s  %-22s  %-4s  %4s  %6s  %s\n", "ADDRESS", "LAST SEEN",
		       "ALIVE", "TCB STATUS", "SIM", "DONE", "FAILED", "CURRENT TASK");
	json_array_foreach (json_object_get(o, "workers"), i, w) {
		char seen[24];
		json_t *cur = json_object_get(w, "currentTasks");
		snprintf(seen, sizeof(seen), "%llds ago",
		         (long long)json_integer_value(json_object_get(w, "lastSeenAgo")));
		printf("  %-42s  %-9s  %-5s  %-22s  %-4s  %4lld  %6lld  %s%s\n",
		       jstr_or(w, "address", "?"), seen,
		       json_is_true(json_object_get(w, "alive")) ? "yes" : "no",
		       jstr_or(w, "tcbStatus", "?"),
		       json_is_true(json_object_get(w, "simulated")) ? "sim" : "no",
		       (long long)json_integer_value(json_object_get(w, "completed")),
		       (long long)json_integer_value(json_object_get(w, "failed")),
		       json_array_size(cur) ? json_string_value(json_array_get(cur, 0)) : "-",
		       json_array_size(cur) > 1 ? " (and more)" : "");
	}
	printf("\nTasks:");
	json_object_foreach ((json_t *)json_object_get(o, "tasks"), k, v) {
		if (!json_integer_value(v)) {
			others++;
			continue;
		}
		printf("%s %s %lld", first ? "" : ",", k, (long long)json_integer_value(v));
		first = 0;
	}
	printf("%s%s\n", first ? " none" : "", others ? " (other statuses 0)" : "");
	e = json_object_get(o, "overhead");
	if (json_integer_value(json_object_get(e, "samples")))
		printf(
		    "Overhead (tasks completed in the last hour, app time excluded): median %lld ms, "
		    "p90 %lld ms over %lld task(s)\n",
		    (long long)json_integer_value(json_object_get(e, "medianMs")),
		    (long long)json_integer_value(json_object_get(e, "p90Ms")),
		    (long long)json_integer_value(json_object_get(e, "samples")));
	printf("\nLast failures:%s\n",
	       json_array_size(json_object_get(o, "failures")) ? "" : " none");
	json_array_foreach (json_object_get(o, "failures"), i, w) {
		time_format((time_t)json_integer_value(json_object_get(w, "failedAt")), when);
		/* a worker's words, maybe a registry's: no terminal escapes */
		printf("  %s  %s  %s\n", when, jstr_or(w, "taskId", "?"),
		       str_printable(text, sizeof(text), jstr_or(w, "reason", "(no reason)"),
		                     SIZE_MAX));
	}
	e = json_object_get(o, "earnings");
	printf("\nEarnings (nRLC, read from the chain by the scheduler; stake and locked now, "
	       "rewards and seized since the block shown):%s\n",
	       json_array_size(json_object_get(e, "accounts")) ? "" : " none read yet");
	json_array_foreach (json_object_get(e, "accounts"), i, w) {
		json_t *ab = json_object_get(w, "accountBlock");
		printf(
		    "  %-6s  %-42s  stake %s  locked %s  rewards %s  seized %s  since block %lld",
		    jstr_or(w, "role", "?"), jstr_or(w, "address", "?"), jstr_or(w, "stake", "?"),
		    jstr_or(w, "locked", "?"), jstr_or(w, "rewards", "?"),
		    jstr_or(w, "seized", "?"),
		    (long long)json_integer_value(json_object_get(w, "sinceBlock")));
		if (json_is_integer(ab))
			printf(" (account at block %lld)", (long long)json_integer_value(ab));
		printf("\n");
	}
}

static volatile sig_atomic_t interrupted;
static void on_int(int sig)
{
	(void)sig;
	interrupted = 1;
}

int cmd_pool_status(int argc, char **argv)
{
	const char *sched = NULL, *token_file = NULL, *wallet = NULL, *password = NULL,
	           *plain = NULL, *poolarg = NULL, *chain = NULL, *network = NULL, *rpc = NULL;
	long account = -1, watch = 0, v;
	int json = 0, c, rc = 0, n = 0;
	struct status st;
	uint8_t *tok = NULL;
	size_t toklen = 0;

	memset(&st, 0, sizeof(st));
	while ((c = cli_getopt(argc, argv, "pool status", "h", cli_pool_status_opts)) != -1) {
		switch (c) {
		case K_SCHED: sched = optarg; break;
		case K_TOKEN: token_file = optarg; break;
		case K_WALLET: wallet = optarg; break;
		case K_PASSWORD: password = optarg; break;
		case K_PLAIN: plain = optarg; break;
		case K_POOL: poolarg = optarg; break;
		case K_CHAIN: chain = optarg; break;
		case K_NETWORK: network = optarg; break;
		case K_RPC: rpc = optarg; break;
		case K_JSON: json = 1; break;
		case K_ACCOUNT:
			if (cli_int("pool status", "--account", optarg, 0, 1000, &v))
				return EXIT_USAGE;
			account = v;
			break;
		case K_WATCH:
			/* --watch, --watch=S, or --watch S */
			if (!optarg && optind < argc && argv[optind][0] >= '0' &&
			    argv[optind][0] <= '9')
				optarg = argv[optind++];
			if (!optarg)
				watch = 2;
			else if (cli_int("pool status", "--watch", optarg, 1, 86400, &watch))
				return EXIT_USAGE;
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage("pool status", "unexpected argument '%s'", argv[optind]);
	if (!sched)
		return cli_usage("pool status", "--scheduler URL is required");
	int keyed = account >= 0 || wallet || plain;
	if (!token_file == !keyed)
		return cli_usage("pool status",
		                 "give the admin token (--token-file F) or the pool "
		                 "owner's key (--account, --wallet or --plain-key), one");
	if (keyed && !poolarg)
		return cli_usage("pool status", "--workerpool ADDR is required to sign with a key");
	if (keyed && !chain && !network)
		return cli_usage("pool status",
		                 "a signed request needs the chain (--chain FILE, or "
		                 "--network NAME --rpc URL)");
	if ((chain || network || rpc) && cli_chain_usage("pool status", chain, network, rpc))
		return EXIT_USAGE;
	if (http_base_url(st.base, sizeof(st.base), sched) < 0)
		return cli_fail();
	if (chain || network) {
		rc = poco_chain_open(chain, network, rpc, &st.c);
	}
	if (rc == 0 && token_file) {
		rc = file_read(token_file, 4096, &tok, &toklen);
		while (rc == 0 && toklen && (tok[toklen - 1] == '\n' || tok[toklen - 1] == '\r'))
			toklen--;
		if (rc == 0 && (toklen != 64 || !is_hex_text(tok, 64)))
			rc = err_set(ERR_INVAL, "%s: not an admin token (64 hex digits)",
			             token_file);
		if (rc == 0)
			memcpy(st.token, tok, 64);
		if (tok)
			OPENSSL_cleanse(tok, toklen);
		free(tok);
	}
	if (rc == 0 && keyed)
		rc = cli_signing_key(wallet, password, plain, account, st.c, st.key);
	if (rc == 0 && keyed)
		rc = eth_addr_parse(poolarg, st.pool);
	if (rc == 0 && watch) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_int;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	while (rc == 0 && !interrupted) {
		json_t *o = NULL;
		int r = snapshot(&st, &o);
		if (r < 0) {
			/* a first failure is the answer; later ones, a pool restarting */
			if (!watch || n == 0) {
				rc = r;
				break;
			}
			fprintf(stderr, "tdexec: %s\n", err_msg());
		} else if (json) {
			char *s = json_dumps(o, watch ? JSON_COMPACT : JSON_INDENT(2));
			if (s)
				printf("%s\n", s);
			free(s);
		} else {
			if (watch)
				fputs("\033[H\033[2J", stdout);
			print_table(o);
		}
		json_decref(o);
		fflush(stdout);
		n++;
		if (!watch)
			break;
		for (long i = 0; i < watch * 10 && !interrupted; i++)
			usleep(100000);
	}
	OPENSSL_cleanse(st.key, sizeof(st.key));
	OPENSSL_cleanse(st.token, sizeof(st.token));
	poco_chain_free(st.c);
	return rc < 0 ? cli_fail() : 0;
}
