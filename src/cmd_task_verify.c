/* cmd_task_verify.c — tdexec task verify: which TD ran a task, checked by
 * anyone, trusting neither the scheduler nor the workers.
 *
 * The SMS keeps a receipt of every release of a task's session (GET
 * /tasks/{id}/attestation, also through the scheduler).  A receipt is a
 * claim; each part of it is checked against something the SMS does not
 * control, except the worker, enclave challenge and policy it names, which
 * the quote does not bind (docs/verification.md, "What task verify
 * trusts"):
 *   the quote          DCAP, with the verifier's own collateral and root;
 *   REPORTDATA         = proto_session_report_data(nonce, this task, app
 *                      digest, session key): the quote was made for this
 *                      task's session, not copied from another;
 *   the app digest     = the app's checksum on chain (the deal's app);
 *   the event log      replays to the quote's RTMR3;
 *   the policies       --policy, and the app's own TDX policy on chain;
 *   the challenge      the enclave challenge the task was completed with
 *                      on chain (the Boost push or the contribution) is the
 *                      one the SMS handed to that session, by a worker the
 *                      session was released to;
 *   the result         (--result) the on-chain digest is the archive's.
 * The first check that fails is printed, with the exit codes of quote
 * verify: 2 verification failed, 3 network, 4 policy. */
#include "cli.h"

#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "eth/rpc.h"
#include "net/http.h"
#include "poco/market.h"
#include "poco/network.h"
#include "proto/proto.h"
#include "tdx/collateral.h"
#include "tdx/eventlog.h"
#include "tdx/policy.h"
#include "tdx/quote.h"
#include "tdx/verify.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timefmt.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* the SMS's answer: at most PROTO_MAX_RELEASES receipts, each bounded */
#define RECEIPTS_MAX PROTO_RECEIPTS_MAX

static const char usage[] =
    "Usage: tdexec task verify TASKID (--sms URL | --scheduler URL)\n"
    "                          (--collateral PATH | --pcs URL [--cache DIR])\n"
    "                          [--trust-sim-root FILE] [--policy FILE] [--result FILE.zip]\n"
    "                          [--at TIME] [--chain FILE | --network NAME --rpc URL] [--json]\n"
    "\n"
    "Check which TD ran a task, independently of the pool: fetch the task's\n"
    "attestation receipts (GET /tasks/TASKID/attestation from its SMS or its\n"
    "scheduler), then check each one: its quote by DCAP with your own collateral,\n"
    "not a debug TD (always; SEPT_VE_DISABLE set), REPORTDATA bound to this task,\n"
    "the receipt's nonce, app digest and session key, the app digest against the\n"
    "app's checksum on chain, the event log against RTMR3, the app's TDX policy on\n"
    "chain and --policy; then that the task was completed on chain with the\n"
    "enclave challenge released in that session, by a worker it was released to,\n"
    "and with --result that the result archive is the one whose digest is on chain.\n"
    "The receipts' worker, challenge and policy are the SMS's word: check the SMS\n"
    "too (docs/verification.md).\n"
    "\n"
    "Exit status: 0 verified, 1 usage or tool error, 2 a check failed, 3 network\n"
    "(SMS, chain or PCS unreachable), 4 a policy does not hold.\n"
    "\n"
    "  --sms URL              the SMS that released the task's sessions\n"
    "  --scheduler URL        the pool's scheduler (which asks its SMS)\n"
    "  --collateral PATH      collateral: a dcap-qvl JSON file or a PCS directory\n"
    "  --pcs URL              fetch collateral from an Intel PCS / PCCS base URL\n"
    "  --cache DIR            collateral cache for --pcs (default ~/.cache/tdexec/pcs)\n"
    "  --trust-sim-root FILE  trust this simulated root CA instead of Intel's\n"
    "  --policy FILE          a TD policy every quote must meet (tdexec quote verify)\n"
    "  --result FILE.zip      the task's result archive (not encrypted)\n"
    "  --at TIME              verify as of TIME (Unix seconds or RFC 3339; default now)\n"
    "  --chain FILE           chain file (default: the local chain of 'tdexec chain up')\n" CLI_CHAIN_HELP
    "  --json                 the verdict as JSON\n";

const struct option cli_task_verify_opts[] = {
    {"sms", required_argument, NULL, 'S'},
    {"scheduler", required_argument, NULL, 'R'},
    {"collateral", required_argument, NULL, 'c'},
    {"pcs", required_argument, NULL, 'P'},
    {"cache", required_argument, NULL, 'C'},
    {"trust-sim-root", required_argument, NULL, 's'},
    {"policy", required_argument, NULL, 'p'},
    {"result", required_argument, NULL, 'r'},
    {"at", required_argument, NULL, 'a'},
    {"chain", required_argument, NULL, 'k'},
    {"network", required_argument, NULL, 'n'},
    {"rpc", required_argument, NULL, 'u'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* exit codes, as quote verify's (docs/cli.md) */
enum { TV_OK = 0, TV_TOOL = 1, TV_FAILED = 2, TV_NETWORK = 3, TV_POLICY = 4 };

struct tv {
	const char *base, *collateral, *pcs, *cache, *sim_root, *policy, *result;
	const char *chain, *network, *rpc;
	time_t at;
	int json, code; /* code: the exit code of the failure set */
	uint8_t tid[32];
	char task[67];
	struct poco_chain *c;
	struct tdx_verifier *v;
	struct tdx_collateral *coll; /* --collateral, loaded once */
	struct tdx_policy *pol;      /* --policy, or NULL */
	struct tdx_policy *base_pol; /* tdx_policy_default: applied to every quote */
	/* from the chain */
	char dealid[67], checksum[67], tx[67];
	long long idx;
	int boost;
	char *mrenclave;                   /* the app's, as text; may be NULL */
	char completer[43], challenge[43]; /* who completed it, with which challenge */
};

/* Record the failure's exit code; returns -1 (the message is set). */
static int failed(struct tv *t, int code)
{
	t->code = code;
	return -1;
}

/* A chain or HTTP error: unreachable is a network failure, an answer that
 * does not hold is a failed check. */
static int chain_failed(struct tv *t, int rc)
{
	return failed(t, rc == ERR_IO ? TV_NETWORK : TV_FAILED);
}

static int is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* ---------- the chain ---------- */

/* PoCo Boost keeps a deal's app in its SchedulerNoticeBoost event only. */
static int boost_app(struct tv *t, uint8_t app[20])
{
	static const char sig[] = "SchedulerNoticeBoost(address,bytes32,address,address,uint256,"
	                          "bytes32,string,address)";
	uint8_t topic[32], *data;
	json_t *logs = NULL, *v, *lg;
	uint64_t head;
	size_t i, len;
	int rc = err_set(ERR_NOTFOUND, "no SchedulerNoticeBoost for deal %s", t->dealid);

	keccak256(sig, sizeof(sig) - 1, topic);
	GUARD(eth_block_number(t->c->rpc, &head));
	GUARD(eth_get_logs(t->c->rpc, t->c->hub, topic, t->c->deployment_block, head, &logs));
	json_array_foreach (logs, i, lg) {
		const char *hex = json_string_value(json_object_get(lg, "data"));
		if (!hex || strncmp(hex, "0x", 2) != 0 ||
		    hex_decode_alloc(hex + 2, strlen(hex) - 2, &data, &len) < 0)
			continue;
		int r = abi_decode_str("(bytes32,address,address,uint256,bytes32,string,address)",
		                       data, len, &v);
		free(data);
		if (r < 0)
			continue;
		const char *did = json_string_value(json_array_get(v, 0));
		if (did && strcasecmp(did, t->dealid) == 0) {
			rc = eth_addr_parse(json_string_value(json_array_get(v, 1)), app);
			json_decref(v);
			break;
		}
		json_decref(v);
	}
	json_decref(logs);
	return rc;
}

/* The Boost push of the task: its transaction, sender and enclave challenge
 * (pushResultBoost's arguments, read from the transaction itself). */
static int boost_push(struct tv *t)
{
	static const char ev[] = "ResultPushedBoost(bytes32,uint256,bytes)";
	static const char fn[] = "pushResultBoost(bytes32,uint256,bytes,bytes,bytes,address,bytes)";
	uint8_t topic[32], sel[32], *data = NULL, hub[20];
	json_t *logs = NULL, *lg, *v = NULL, *tx = NULL, *args = NULL;
	uint64_t head;
	size_t i, len;
	int rc;

	keccak256(ev, sizeof(ev) - 1, topic);
	GUARD(eth_block_number(t->c->rpc, &head));
	GUARD(eth_get_logs(t->c->rpc, t->c->hub, topic, t->c->deployment_block, head, &logs));
	rc = err_set(ERR_VERIFY, "task %s: no result pushed on chain (no ResultPushedBoost)",
	             t->task);
	json_array_foreach (logs, i, lg) {
		const char *hex = json_string_value(json_object_get(lg, "data"));
		const char *txh = json_string_value(json_object_get(lg, "transactionHash"));
		if (!hex || !txh || strlen(txh) != 66 || strncmp(hex, "0x", 2) != 0 ||
		    hex_decode_alloc(hex + 2, strlen(hex) - 2, &data, &len) < 0)
			continue;
		int r = abi_decode_str("(bytes32,uint256,bytes)", data, len, &v);
		free(data);
		data = NULL;
		if (r < 0)
			continue;
		const char *did = json_string_value(json_array_get(v, 0));
		const char *ix = json_string_value(json_array_get(v, 1));
		if (did && ix && strcasecmp(did, t->dealid) == 0 &&
		    strtoll(ix, NULL, 10) == t->idx) {
			snprintf(t->tx, sizeof(t->tx), "%s", txh);
			rc = 0;
			break;
		}
		json_decref(v);
		v = NULL;
	}
	if (rc < 0)
		goto out;
	GUARD_GOTO(
	    eth_rpc_call(t->c->rpc, "eth_getTransactionByHash", json_pack("[s]", t->tx), &tx));
	const char *to = json_string_value(json_object_get(tx, "to"));
	const char *from = json_string_value(json_object_get(tx, "from"));
	const char *input = json_string_value(json_object_get(tx, "input"));
	ENSURE_GOTO(to && from && input && strncmp(input, "0x", 2) == 0 &&
	                eth_addr_parse(to, hub) == 0 && memcmp(hub, t->c->hub, 20) == 0,
	            ERR_VERIFY, "transaction %s: not a call to the hub", t->tx);
	GUARD_GOTO(hex_decode_alloc(input + 2, strlen(input) - 2, &data, &len));
	keccak256(fn, sizeof(fn) - 1, sel);
	/* a push made through another contract is not read here */
	ENSURE_GOTO(len > 4 && memcmp(data, sel, 4) == 0, ERR_VERIFY,
	            "transaction %s: not a pushResultBoost call", t->tx);
	GUARD_GOTO(abi_decode_str("(bytes32,uint256,bytes,bytes,bytes,address,bytes)", data + 4,
	                          len - 4, &args));
	snprintf(t->challenge, sizeof(t->challenge), "%s",
	         json_string_value(json_array_get(args, 5))
	             ? json_string_value(json_array_get(args, 5))
	             : "");
	snprintf(t->completer, sizeof(t->completer), "%s", from);
	rc = 0;
out:
	free(data);
	json_decref(args);
	json_decref(tx);
	json_decref(v);
	json_decref(logs);
	return rc;
}

/* A classic task: the worker of the receipts whose contribution finalized
 * it, and the challenge it contributed with. */
static int classic_contribution(struct tv *t, const json_t *receipts)
{
	size_t i;
	json_t *r;

	json_array_foreach (receipts, i, r) {
		uint8_t w[20], enc[20];
		json_t *ct = NULL;
		const char *worker = json_string_value(json_object_get(r, "worker"));
		if (!worker || eth_addr_parse(worker, w) < 0)
			continue;
		GUARD(poco_view_contribution(t->c, t->tid, w, &ct));
		const char *e = json_string_value(json_object_get(ct, "enclaveChallenge"));
		if (json_get_ll(ct, "status", 0) == POCO_CONTRIBUTION_PROVEN && e &&
		    eth_addr_parse(e, enc) == 0 && !is_zero(enc, 20)) {
			snprintf(t->completer, sizeof(t->completer), "%s", worker);
			snprintf(t->challenge, sizeof(t->challenge), "%s", e);
		}
		json_decref(ct);
	}
	ENSURE(t->completer[0], ERR_VERIFY,
	       "task %s: no worker the session was released to contributed to it on chain",
	       t->task);
	return 0;
}

/* What the chain says of the task: its deal, the deal's app (checksum and
 * mrenclave), and who completed it with which challenge. */
static int chain_facts(struct tv *t, const json_t *receipts)
{
	json_t *view = NULL, *deal = NULL, *app = NULL;
	uint8_t a[20];
	int rc;

	if ((rc = cli_task_view(t->c, t->tid, NULL, 0, &view)) < 0)
		return chain_failed(t, rc);
	snprintf(t->dealid, sizeof(t->dealid), "%s",
	         json_string_value(json_object_get(view, "dealid")));
	t->idx = strtoll(json_string_value(json_object_get(view, "idx")), NULL, 10);
	t->boost = json_is_true(json_object_get(view, "boost"));
	const char *st = json_string_value(json_object_get(view, "status_name"));
	if (!st || strcmp(st, "COMPLETED") != 0) {
		rc = err_set(ERR_VERIFY, "task %s is %s on chain, not COMPLETED", t->task,
		             st ? st : "unknown");
		goto out;
	}
	if (t->boost) {
		rc = boost_app(t, a);
	} else {
		uint8_t did[32];
		rc = hex_decode_exact(did, 32, t->dealid, "dealid");
		if (rc == 0)
			rc = poco_view(t->c, "viewDeal", did, &deal);
		if (rc == 0)
			rc = eth_addr_parse(json_string_value(json_object_get(
			                        json_object_get(deal, "app"), "pointer")),
			                    a);
	}
	if (rc == 0)
		rc = poco_asset_show(t->c, POCO_APP, a, &app);
	if (rc < 0)
		goto out;
	snprintf(t->checksum, sizeof(t->checksum), "%s",
	         json_string_value(json_object_get(app, "checksum")));
	const char *mre = json_string_value(json_object_get(app, "mrenclave"));
	t->mrenclave = mre && *mre ? strdup(mre) : NULL;
	rc = t->boost ? boost_push(t) : classic_contribution(t, receipts);
out:
	json_decref(view);
	json_decref(deal);
	json_decref(app);
	return rc < 0 ? chain_failed(t, rc) : 0;
}

/* ---------- one receipt ---------- */

static const char *str(const json_t *r, const char *k)
{
	const char *s = json_string_value(json_object_get(r, k));
	return s ? s : "";
}

/* The app developer's own TD policy from its mrenclave, as the SMS applies
 * it: iExec's enclave configuration {"framework": "TDX", "policy": {...}}. */
static int app_policy(struct tv *t, const struct tdx_quote *q, const struct tdx_verdict *d)
{
	int violated, rc = tdx_policy_check_app(t->mrenclave, q, d, &violated);
	if (rc < 0 && violated)
		t->code = TV_POLICY;
	else if (rc < 0 && !t->code)
		t->code = TV_FAILED;
	return rc;
}

/* Every check of receipt i; *d gets the quote's verdict, mrtd its MRTD,
 * *attrs its TDATTRIBUTES. */
static int check_receipt(struct tv *t, size_t i, const json_t *r, struct tdx_verdict *d,
                         char mrtd[97], uint64_t *attrs)
{
	struct tdx_quote *q = NULL;
	struct tdx_collateral *fetched = NULL;
	uint8_t *raw = NULL, h[32], want[32], nonce[32], pk[32], digest[32], rd[64];
	size_t len = 0;
	char hex[67] = "0x";
	json_t *mis = json_array();
	int rc = 0;

	t->code = 0;
#define FAIL(code_, ...)                                                                           \
	do {                                                                                       \
		rc = err_set(ERR_VERIFY, __VA_ARGS__);                                             \
		t->code = (code_);                                                                 \
		goto out;                                                                          \
	} while (0)
	if (base64_decode(str(r, "quote"), strlen(str(r, "quote")), &raw, &len) < 0 || len == 0)
		FAIL(TV_FAILED, "receipt %zu: the quote is not base64", i);
	SHA256(raw, len, h);
	if (hex_decode_exact(want, 32, str(r, "quote_sha256"), "quote_sha256") < 0 ||
	    CRYPTO_memcmp(h, want, 32) != 0)
		FAIL(TV_FAILED, "receipt %zu: quote_sha256 is not the quote's SHA-256", i);
	if (tdx_quote_parse(raw, len, &q) < 0)
		FAIL(TV_FAILED, "receipt %zu: the quote does not parse: %s", i, err_msg());
	if (!t->coll &&
	    cli_pcs_collateral(t->pcs, t->cache, NULL, raw, len, NULL, 0, t->at, &fetched) < 0) {
		rc = err_wrap(ERR_IO, "receipt %zu: collateral", i);
		t->code = TV_NETWORK;
		goto out;
	}
	if (tdx_verify_parsed(t->v, raw, q, t->coll ? t->coll : fetched, t->at, d) < 0)
		FAIL(TV_FAILED, "receipt %zu: quote verification failed: %s", i, d->reason);
	/* The base policy holds whatever --policy says or is missing: a debug
	 * TD's memory and registers are the host's to read and change, so its
	 * quote proves nothing about what ran in it. */
	if (tdx_policy_check(t->base_pol, q, d, mis) < 0)
		FAIL(json_array_size(mis) ? TV_POLICY : TV_TOOL,
		     "receipt %zu: the TD is not acceptable: %s", i,
		     json_array_size(mis) ? json_string_value(json_array_get(mis, 0)) : err_msg());
	*attrs = tdx_quote_td_attributes(q);
	hex_encode(mrtd, q->body.mrtd, 48);
	if (strcasecmp(mrtd, str(r, "mrtd")) != 0)
		FAIL(TV_FAILED, "receipt %zu: its MRTD is not the quote's", i);
	/* REPORTDATA: the quote was made for this task's session */
	if (hex_decode_exact(nonce, 32, str(r, "nonce"), "nonce") < 0 ||
	    hex_decode_exact(pk, 32, str(r, "public_key"), "public_key") < 0 ||
	    hex_decode_exact(digest, 32, str(r, "app_digest"), "app_digest") < 0)
		FAIL(TV_FAILED, "receipt %zu: %s", i, err_msg());
	proto_session_report_data(nonce, t->tid, digest, pk, rd);
	if (CRYPTO_memcmp(rd, q->body.report_data, 64) != 0)
		FAIL(TV_FAILED,
		     "receipt %zu: the quote's REPORTDATA does not bind task %s with the receipt's "
		     "nonce, app digest and session key (a quote made for another session)",
		     i, t->task);
	hex_encode(hex + 2, digest, 32);
	if (strcasecmp(hex, t->checksum) != 0)
		FAIL(TV_FAILED,
		     "receipt %zu: app digest sha256:%s is not the app's checksum on chain %s", i,
		     hex + 2, t->checksum);
	if (json_is_string(json_object_get(r, "event_log"))) {
		struct tdx_rtmr_replay rp;
		const char *log = str(r, "event_log");
		tdx_replay_init(&rp);
		if (tdx_replay_jsonl(&rp, log, strlen(log)) < 0)
			FAIL(TV_FAILED, "receipt %zu: event log: %s", i, err_msg());
		if (!(rp.touched & 8) || memcmp(rp.rtmr[3], q->body.rtmr[3], 48) != 0)
			FAIL(TV_FAILED, "receipt %zu: the event log does not replay to RTMR3", i);
	}
	if (t->pol && tdx_policy_check(t->pol, q, d, mis) < 0)
		FAIL(json_array_size(mis) ? TV_POLICY : TV_TOOL,
		     "receipt %zu: policy not satisfied: %s", i,
		     json_array_size(mis) ? json_string_value(json_array_get(mis, 0)) : err_msg());
	GUARD_GOTO(app_policy(t, q, d));
	/* the challenge key's address the SMS handed to this session */
	if (strcasecmp(str(r, "enclave_challenge"), t->challenge) != 0)
		FAIL(TV_FAILED,
		     "receipt %zu: enclave challenge %s is not the one the task was completed with "
		     "on chain (%s)",
		     i, str(r, "enclave_challenge"), t->challenge);
#undef FAIL
out:
	json_decref(mis);
	tdx_collateral_free(fetched);
	tdx_quote_free(q);
	free(raw);
	return rc;
}

/* ---------- the command ---------- */

static int fetch_receipts(struct tv *t, json_t **out)
{
	char url[1024];
	long st = 0;
	int rc;

	snprintf(url, sizeof(url), "%s/tasks/%s/attestation", t->base, t->task);
	rc = http_json(url, NULL, NULL, RECEIPTS_MAX, 30, &st, out);
	if (rc < 0)
		return failed(t, st == 404 ? TV_FAILED : TV_NETWORK);
	json_t *arr = json_object_get(*out, "receipts");
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		err_set(ERR_VERIFY, "%s: no receipts in the answer", url);
		return failed(t, TV_FAILED);
	}
	return 0;
}

static int setup(struct tv *t)
{
	char p[PATH_MAX];
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int rc;

	if (t->sim_root) {
		uint8_t *root;
		size_t rlen;
		GUARD(file_read(t->sim_root, 64 * 1024, &root, &rlen));
		rc = tdx_verifier_new_root(root, rlen, 1, &t->v);
		free(root);
		GUARD(rc);
	} else {
		GUARD(tdx_verifier_new(&t->v));
	}
	GUARD(tdx_policy_default(&t->base_pol));
	if (t->policy)
		GUARD(tdx_policy_load(t->policy, &t->pol));
	if (t->collateral)
		GUARD(tdx_collateral_load(t->collateral, &t->coll));
	if (t->network)
		return poco_chain_open(NULL, t->network, t->rpc, &t->c);
	if (t->chain)
		snprintf(p, sizeof(p), "%s", t->chain);
	else if (x && *x)
		snprintf(p, sizeof(p), "%s/tdexec/chain/chain.json", x);
	else
		snprintf(p, sizeof(p), "%s/.local/state/tdexec/chain/chain.json",
		         home ? home : ".");
	return poco_chain_open(p, NULL, t->rpc, &t->c);
}

static int run(struct tv *t, json_t **verdict)
{
	json_t *doc = NULL, *receipts, *r, *last = NULL;
	struct tdx_verdict d, shown;
	char mrtd[97], shown_mrtd[97] = "", as_of[32], at[32], attrs_hex[17];
	uint64_t attrs = 0, shown_attrs = 0;
	const char *result = NULL;
	size_t i;
	int rc = 0;

	if (setup(t) < 0)
		return failed(t, TV_TOOL);
	if (t->result && access(t->result, R_OK) != 0) {
		err_set(ERR_IO, "%s: %s", t->result, strerror(errno));
		return failed(t, TV_TOOL);
	}
	GUARD(fetch_receipts(t, &doc));
	receipts = json_object_get(doc, "receipts");
	GUARD_GOTO(chain_facts(t, receipts));
	memset(&shown, 0, sizeof(shown));
	json_array_foreach (receipts, i, r) {
		GUARD_GOTO(check_receipt(t, i, r, &d, mrtd, &attrs));
		/* the receipt shown: the last release to the worker that
		 * completed the task */
		if (strcasecmp(str(r, "worker"), t->completer) == 0) {
			last = r;
			shown = d;
			shown_attrs = attrs;
			memcpy(shown_mrtd, mrtd, sizeof(mrtd));
		}
	}
	if (!last) {
		rc = err_set(ERR_VERIFY,
		             "task %s was completed on chain by %s, to which no receipt says the "
		             "session was released",
		             t->task, t->completer);
		t->code = TV_FAILED;
		goto out;
	}
	if (t->result) {
		int encrypted = 0;
		rc = cli_result_check_at(t->c, t->dealid, t->idx, t->boost ? t->tx : NULL, t->tid,
		                         t->result, &encrypted);
		if (rc < 0) {
			chain_failed(t, rc == ERR_IO ? rc : ERR_VERIFY);
			goto out;
		}
		ENSURE_GOTO(!encrypted, ERR_INVAL,
		            "%s is an encrypted result: decrypt it first ('tdexec result decrypt')",
		            t->result);
		result = "matches";
	}
	time_format(shown.tcb_info_issue_date, as_of);
	time_format(t->at, at);
	/* as in the quote and in policies: the bytes, little-endian */
	for (int k = 0; k < 8; k++)
		snprintf(attrs_hex + 2 * k, 3, "%02x", (unsigned)(shown_attrs >> (8 * k)) & 0xffu);
	*verdict = json_pack(
	    "{s:s,s:b,s:s,s:s,s:b,s:s,s:b,s:s,s:s,s:b,s:s,s:s,s:s,s:I,s:b,s:s?,s:s}", "task",
	    t->task, "verified", 1, "app_digest", str(last, "app_digest"), "mrtd", shown_mrtd,
	    "mrtd_pinned", t->pol && tdx_policy_pins(t->pol, "MRTD"), "td_attributes", attrs_hex,
	    "debug", (shown_attrs & TDX_ATTR_DEBUG) != 0, "tcb_status",
	    tdx_tcb_status_name(shown.status), "tcb_as_of", as_of, "simulated", shown.simulated,
	    "worker", t->completer, "enclave_challenge", t->challenge, "dealid", t->dealid,
	    "receipts", (json_int_t)json_array_size(receipts), "boost", t->boost, "result", result,
	    "verified_at", at);
	ENSURE_GOTO(*verdict, ERR_NOMEM, "out of memory");
out:
	if (rc < 0 && !t->code)
		t->code = TV_TOOL;
	json_decref(doc);
	return rc;
}

int cmd_task_verify(int argc, char **argv)
{
	struct tv t = {0};
	json_t *verdict = NULL;
	const char *sms = NULL, *sched = NULL;
	char base[512];
	int c, rc;

	t.at = time(NULL);
	while ((c = cli_getopt(argc, argv, "task verify", "h", cli_task_verify_opts)) != -1) {
		switch (c) {
		case 'S': sms = optarg; break;
		case 'R': sched = optarg; break;
		case 'c': t.collateral = optarg; break;
		case 'P': t.pcs = optarg; break;
		case 'C': t.cache = optarg; break;
		case 's': t.sim_root = optarg; break;
		case 'p': t.policy = optarg; break;
		case 'r': t.result = optarg; break;
		case 'k': t.chain = optarg; break;
		case 'n': t.network = optarg; break;
		case 'u': t.rpc = optarg; break;
		case 'j': t.json = 1; break;
		case 'a':
			if (time_parse(optarg, &t.at) < 0)
				return cli_usage("task verify", "--at: %s", err_msg());
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (argc - optind != 1 || hex_decode_exact(t.tid, 32, argv[optind], "task id") < 0)
		return cli_usage("task verify", "expected one task id (32 bytes hex)");
	if (!sms == !sched)
		return cli_usage("task verify", "give exactly one of --sms and --scheduler");
	if (!t.collateral == !t.pcs)
		return cli_usage("task verify", "give exactly one of --collateral and --pcs");
	if ((rc = cli_chain_usage("task verify", t.chain, t.network, t.rpc)) != 0)
		return rc;
	if (http_base_url(base, sizeof(base), sms ? sms : sched) < 0)
		return cli_usage("task verify", "%s: %s", sms ? "--sms" : "--scheduler", err_msg());
	t.base = base;
	hex_encode_0x(t.task, t.tid, 32);
	if (run(&t, &verdict) < 0) {
		rc = cli_fail_code(t.code ? t.code : TV_TOOL);
		goto out;
	}
	rc = TV_OK;
	if (t.json) {
		if (json_print(verdict, 1) < 0)
			rc = cli_fail();
	} else {
		const char *pin = json_is_true(json_object_get(verdict, "mrtd_pinned")) ? ""
		                  : t.pol ? "; MRTD not pinned by --policy"
		                          : "; MRTD not pinned: no --policy";
		printf(
		    "task %s ran app sha256:%s in a TD with MRTD %s (TCB %s as of %s%s), "
		    "attributes %s (%s)%s\n",
		    t.task, json_string_value(json_object_get(verdict, "app_digest")),
		    json_string_value(json_object_get(verdict, "mrtd")),
		    json_string_value(json_object_get(verdict, "tcb_status")),
		    json_string_value(json_object_get(verdict, "tcb_as_of")),
		    json_is_true(json_object_get(verdict, "simulated")) ? ", simulated root" : "",
		    json_string_value(json_object_get(verdict, "td_attributes")),
		    json_is_true(json_object_get(verdict, "debug")) ? "debug" : "not debug", pin);
		/* what the quote cannot bind: docs/verification.md, "What task verify trusts" */
		puts("trusted: the receipts' worker, enclave challenge and policy are the word of "
		     "the SMS that released the session (check it: docs/verification.md)");
	}
out:
	json_decref(verdict);
	free(t.mrenclave);
	tdx_policy_free(t.pol);
	tdx_policy_free(t.base_pol);
	tdx_collateral_free(t.coll);
	tdx_verifier_free(t.v);
	poco_chain_free(t.c);
	return rc;
}
