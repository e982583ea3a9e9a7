/* Whole deals on a real Anvil chain with the real PoCo contracts (started by
 * tests/chain/run.sh through `tdexec chain up`): a TEE (TDX tag) task by
 * contributeAndFinalize, the same deal through PoCo Boost, a replicated
 * standard task (trust 3, two workers: contribute, reveal, finalize), and
 * refusals with their decoded revert reasons.  Balances are checked against
 * PoCo's pricing rules. */
#include "testutil.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "poco/deploy.h"
#include "poco/market.h"
#include "util/codec.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DEPLOYER, APP_OWNER, DATASET_OWNER, POOL_OWNER, REQUESTER, WORKER1, WORKER2 };

#define APP_PRICE     "1000000000"
#define DATASET_PRICE "2000000000"
#define POOL_PRICE    "4000000000"

static struct poco_chain *chain;
static uint8_t keys[8][32], addrs[8][20];
static uint8_t app[20], dataset[20], pool[20];

static void check(int rc)
{
	if (rc < 0)
		fail_msg("%s", err_msg());
}

/* An escrow balance of account `who`: "stake" or "locked", in nRLC. */
static long long balance(int who, const char *field)
{
	json_t *a;
	long long v;
	check(poco_account(chain, addrs[who], &a));
	v = atoll(json_string_value(json_object_get(a, field)));
	json_decref(a);
	return v;
}

static long long stake(int who)
{
	return balance(who, "stake");
}

static long long locked(int who)
{
	return balance(who, "locked");
}

static int setup(void **state)
{
	const char *file = getenv("TDEXEC_CHAIN_FILE");
	uint8_t checksum[32];
	(void)state;
	if (!file || poco_chain_load(file, &chain) < 0) {
		fprintf(stderr, "TDEXEC_CHAIN_FILE: %s\n", err_msg());
		return -1;
	}
	for (int i = 0; i < 7; i++)
		if (poco_chain_account(chain, (size_t)i, keys[i]) < 0 ||
		    k1_address(keys[i], addrs[i]) < 0)
			return -1;
	keccak256("hello app image", 15, checksum);
	if (poco_app_create(
	        chain, keys[APP_OWNER], "hello", "docker.io/library/hello@sha256:00", checksum,
	        "{\"framework\":\"TDX\",\"version\":\"v1\",\"fingerprint\":\"\"}", app) < 0 ||
	    poco_dataset_create(chain, keys[DATASET_OWNER], "data", "ipfs://dataset", checksum,
	                        dataset) < 0 ||
	    poco_workerpool_create(chain, keys[POOL_OWNER], "tdexec pool", pool) < 0 ||
	    poco_deposit(chain, keys[REQUESTER], "100000000000") < 0 ||
	    poco_deposit(chain, keys[POOL_OWNER], "10000000000") < 0 ||
	    poco_deposit(chain, keys[WORKER1], "10000000000") < 0 ||
	    poco_deposit(chain, keys[WORKER2], "10000000000") < 0) {
		fprintf(stderr, "setup: %s\n", err_msg());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	poco_chain_free(chain);
	return 0;
}

/* Signed orders for one task of `tag` with `trust`. */
static void orders(const char *tag, int trust, int with_dataset, json_t **ao, json_t **dso,
                   json_t **wo, json_t **ro)
{
	char t[8];
	snprintf(t, sizeof(t), "%d", trust);
	*ao = poco_order_new(POCO_APP);
	json_object_set_new(*ao, "app", eth_json_addr(app));
	json_object_set_new(*ao, "appprice", json_string(APP_PRICE));
	json_object_set_new(*ao, "tag", json_string(tag));
	check(poco_order_sign(chain, POCO_APP, *ao, keys[APP_OWNER]));
	*dso = NULL;
	if (with_dataset) {
		*dso = poco_order_new(POCO_DATASET);
		json_object_set_new(*dso, "dataset", eth_json_addr(dataset));
		json_object_set_new(*dso, "datasetprice", json_string(DATASET_PRICE));
		json_object_set_new(*dso, "tag", json_string(tag));
		check(poco_order_sign(chain, POCO_DATASET, *dso, keys[DATASET_OWNER]));
	}
	*wo = poco_order_new(POCO_WORKERPOOL);
	json_object_set_new(*wo, "workerpool", eth_json_addr(pool));
	json_object_set_new(*wo, "workerpoolprice", json_string(POOL_PRICE));
	json_object_set_new(*wo, "tag", json_string(tag));
	json_object_set_new(*wo, "trust", json_string(t));
	check(poco_order_sign(chain, POCO_WORKERPOOL, *wo, keys[POOL_OWNER]));
	*ro = poco_order_new(POCO_REQUEST);
	json_object_set_new(*ro, "app", eth_json_addr(app));
	json_object_set_new(*ro, "appmaxprice", json_string(APP_PRICE));
	if (with_dataset) {
		json_object_set_new(*ro, "dataset", eth_json_addr(dataset));
		json_object_set_new(*ro, "datasetmaxprice", json_string(DATASET_PRICE));
	}
	json_object_set_new(*ro, "workerpool", eth_json_addr(pool));
	json_object_set_new(*ro, "workerpoolmaxprice", json_string(POOL_PRICE));
	json_object_set_new(*ro, "requester", eth_json_addr(addrs[REQUESTER]));
	json_object_set_new(*ro, "beneficiary", eth_json_addr(addrs[REQUESTER]));
	json_object_set_new(*ro, "tag", json_string(tag));
	json_object_set_new(*ro, "trust", json_string(t));
	json_object_set_new(*ro, "params", json_string("{\"iexec_args\":\"hello\"}"));
	check(poco_order_sign(chain, POCO_REQUEST, *ro, keys[REQUESTER]));
}

static void free_orders(json_t *a, json_t *d, json_t *w, json_t *r)
{
	json_decref(a);
	json_decref(d);
	json_decref(w);
	json_decref(r);
}

/* WorkerpoolAuthorization: the pool owner signs worker || taskid || enclave. */
static void authorize(const uint8_t worker[20], const uint8_t taskid[32], const uint8_t enclave[20],
                      uint8_t sig[65])
{
	uint8_t p[72];
	memcpy(p, worker, 20);
	memcpy(p + 20, taskid, 32);
	memcpy(p + 52, enclave, 20);
	check(eip191_sign_keccak(keys[POOL_OWNER], p, sizeof(p), sig));
}

/* The scheduler (pool owner) initializes the deal's task 0. */
static void initialize_task(const uint8_t dealid[32], uint8_t taskid[32])
{
	struct eth_receipt rc;
	check(poco_send(chain->rpc, keys[POOL_OWNER], chain->hub, "initialize(bytes32,uint256)",
	                json_pack("[o,s]", eth_json_hex(dealid, 32), "0"), &rc));
	eth_receipt_free(&rc);
	poco_task_id(dealid, 0, taskid);
}

static int task_status(const uint8_t taskid[32])
{
	json_t *t;
	int st;
	check(poco_view(chain, "viewTask", taskid, &t));
	st = atoi(json_string_value(json_object_get(t, "status")));
	json_decref(t);
	return st;
}

static void tee_task_by_contribute_and_finalize(void **state)
{
	json_t *ao, *dso, *wo, *ro, *deal, *task;
	struct eth_receipt rc;
	uint8_t dealid[32], taskid[32], enclave_key[32], enclave[20], digest[32], p[84], rh[32],
	    rs[32], esig[65], asig[65];
	long long req0 = stake(REQUESTER), app0 = stake(APP_OWNER), ds0 = stake(DATASET_OWNER),
	          pool0 = stake(POOL_OWNER), w0 = stake(WORKER1);
	(void)state;

	orders(POCO_TAG_TDX, 1, 1, &ao, &dso, &wo, &ro);
	check(poco_match(chain, keys[REQUESTER], ao, dso, wo, ro, 0, dealid, &rc));
	eth_receipt_free(&rc);
	/* The requester's price is locked, and 30% of the pool price for the pool. */
	assert_int_equal(locked(REQUESTER), 7000000000LL);
	assert_int_equal(stake(REQUESTER), req0 - 7000000000LL);
	assert_int_equal(locked(POOL_OWNER), 1200000000LL);
	check(poco_view(chain, "viewDeal", dealid, &deal));
	assert_string_equal(json_string_value(json_object_get(deal, "tag")), POCO_TAG_TDX);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(deal, "app"), "pointer")),
	    json_string_value(json_object_get(ao, "app")));
	json_decref(deal);

	/* The scheduler initializes the task. */
	initialize_task(dealid, taskid);
	assert_int_equal(task_status(taskid), 1); /* ACTIVE */

	/* A fresh enclave challenge, the authorization, the enclave's signature. */
	check(k1_keygen(enclave_key));
	check(k1_address(enclave_key, enclave));
	authorize(addrs[WORKER1], taskid, enclave, asig);
	keccak256("the result archive", 18, digest);
	memcpy(p, taskid, 32);
	memcpy(p + 32, digest, 32);
	keccak256(p, 64, rh);
	memcpy(p, addrs[WORKER1], 20);
	memcpy(p + 20, taskid, 32);
	memcpy(p + 52, digest, 32);
	keccak256(p, 84, rs);
	memcpy(p, rh, 32);
	memcpy(p + 32, rs, 32);
	check(eip191_sign_keccak(enclave_key, p, 64, esig));

	/* A wrong enclave signature is refused. */
	{
		uint8_t bad[65];
		memcpy(bad, esig, 65);
		bad[10] ^= 1;
		assert_true(
		    poco_send(
		        chain->rpc, keys[WORKER1], chain->hub,
		        "contributeAndFinalize(bytes32,bytes32,bytes,bytes,address,bytes,bytes)",
		        json_pack("[o,o,s,s,o,o,o]", eth_json_hex(taskid, 32),
		                  eth_json_hex(digest, 32), "0xcafe", "0x", eth_json_addr(enclave),
		                  eth_json_hex(bad, 65), eth_json_hex(asig, 65)),
		        &rc) < 0);
		assert_non_null(strstr(err_msg(), "revert"));
	}
	check(poco_send(chain->rpc, keys[WORKER1], chain->hub,
	                "contributeAndFinalize(bytes32,bytes32,bytes,bytes,address,bytes,bytes)",
	                json_pack("[o,o,s,s,o,o,o]", eth_json_hex(taskid, 32),
	                          eth_json_hex(digest, 32), "0xcafe", "0x", eth_json_addr(enclave),
	                          eth_json_hex(esig, 65), eth_json_hex(asig, 65)),
	                &rc));
	eth_receipt_free(&rc);
	check(poco_view(chain, "viewTask", taskid, &task));
	assert_string_equal(json_string_value(json_object_get(task, "status")),
	                    "3"); /* COMPLETED */
	assert_string_equal(json_string_value(json_object_get(task, "results")), "0xcafe");
	{
		char d[67] = "0x";
		hex_encode(d + 2, digest, 32);
		assert_string_equal(json_string_value(json_object_get(task, "resultDigest")), d);
	}
	json_decref(task);

	/* Payments: app, dataset, worker (99% of the pool price), scheduler (1%,
	 * and its stake back). */
	assert_int_equal(stake(REQUESTER), req0 - 7000000000LL);
	assert_int_equal(locked(REQUESTER), 0);
	assert_int_equal(stake(APP_OWNER), app0 + 1000000000LL);
	assert_int_equal(stake(DATASET_OWNER), ds0 + 2000000000LL);
	assert_int_equal(stake(WORKER1), w0 + 3960000000LL);
	assert_int_equal(stake(POOL_OWNER), pool0 + 40000000LL);
	assert_int_equal(locked(POOL_OWNER), 0);
	free_orders(ao, dso, wo, ro);
}

static void tee_task_through_poco_boost(void **state)
{
	json_t *ao, *dso, *wo, *ro;
	struct eth_receipt rc;
	uint8_t dealid[32], taskid[32], enclave_key[32], enclave[20], p[84], esig[65], asig[65],
	    h[32];
	long long req0 = stake(REQUESTER), app0 = stake(APP_OWNER), ds0 = stake(DATASET_OWNER),
	          pool0 = stake(POOL_OWNER), w0 = stake(WORKER2);
	(void)state;

	orders(POCO_TAG_TDX, 1, 1, &ao, &dso, &wo, &ro);
	check(poco_match(chain, keys[REQUESTER], ao, dso, wo, ro, 1, dealid, &rc));
	eth_receipt_free(&rc);
	poco_task_id(dealid, 0, taskid);
	check(k1_keygen(enclave_key));
	check(k1_address(enclave_key, enclave));
	authorize(addrs[WORKER2], taskid, enclave, asig);
	/* Boost: the enclave signs worker || taskid || keccak256(results). */
	memcpy(p, addrs[WORKER2], 20);
	memcpy(p + 20, taskid, 32);
	keccak256("\xca\xfe", 2, h);
	memcpy(p + 52, h, 32);
	check(eip191_sign_keccak(enclave_key, p, 84, esig));
	check(poco_send(chain->rpc, keys[WORKER2], chain->hub,
	                "pushResultBoost(bytes32,uint256,bytes,bytes,bytes,address,bytes)",
	                json_pack("[o,s,s,s,o,o,o]", eth_json_hex(dealid, 32), "0", "0xcafe", "0x",
	                          eth_json_hex(asig, 65), eth_json_addr(enclave),
	                          eth_json_hex(esig, 65)),
	                &rc));
	eth_receipt_free(&rc);
	assert_int_equal(stake(REQUESTER), req0 - 7000000000LL);
	assert_int_equal(locked(REQUESTER), 0);
	assert_int_equal(stake(APP_OWNER), app0 + 1000000000LL);
	assert_int_equal(stake(DATASET_OWNER), ds0 + 2000000000LL);
	assert_int_equal(stake(WORKER2), w0 + 3960000000LL);
	assert_int_equal(stake(POOL_OWNER), pool0 + 40000000LL);
	free_orders(ao, dso, wo, ro);
}

static void replicated_task_reaches_consensus_with_two_workers(void **state)
{
	json_t *ao, *dso, *wo, *ro;
	struct eth_receipt rc;
	uint8_t dealid[32], taskid[32], digest[32], p[84], rh[32], rs[2][32], asig[65];
	static const uint8_t zero[20];
	int who[2] = {WORKER1, WORKER2};
	long long w0[2] = {stake(WORKER1), stake(WORKER2)}, app0 = stake(APP_OWNER);
	(void)state;

	orders(POCO_TAG_NONE, 3, 0, &ao, &dso, &wo, &ro);
	check(poco_match(chain, keys[REQUESTER], ao, NULL, wo, ro, 0, dealid, &rc));
	eth_receipt_free(&rc);
	initialize_task(dealid, taskid);
	keccak256("consensus result", 16, digest);
	memcpy(p, taskid, 32);
	memcpy(p + 32, digest, 32);
	keccak256(p, 64, rh);
	for (int i = 0; i < 2; i++) {
		memcpy(p, addrs[who[i]], 20);
		memcpy(p + 20, taskid, 32);
		memcpy(p + 52, digest, 32);
		keccak256(p, 84, rs[i]);
		authorize(addrs[who[i]], taskid, zero, asig);
		check(poco_send(chain->rpc, keys[who[i]], chain->hub,
		                "contribute(bytes32,bytes32,bytes32,address,bytes,bytes)",
		                json_pack("[o,o,o,o,s,o]", eth_json_hex(taskid, 32),
		                          eth_json_hex(rh, 32), eth_json_hex(rs[i], 32),
		                          eth_json_addr(zero), "0x", eth_json_hex(asig, 65)),
		                &rc));
		eth_receipt_free(&rc);
		/* trust 3: one new worker is not enough, two are. */
		assert_int_equal(task_status(taskid), i == 0 ? 1 : 2); /* ACTIVE, REVEALING */
	}
	for (int i = 0; i < 2; i++) {
		check(poco_send(
		    chain->rpc, keys[who[i]], chain->hub, "reveal(bytes32,bytes32)",
		    json_pack("[o,o]", eth_json_hex(taskid, 32), eth_json_hex(digest, 32)), &rc));
		eth_receipt_free(&rc);
	}
	check(poco_send(chain->rpc, keys[POOL_OWNER], chain->hub, "finalize(bytes32,bytes,bytes)",
	                json_pack("[o,s,s]", eth_json_hex(taskid, 32), "0xbeef", "0x"), &rc));
	eth_receipt_free(&rc);
	assert_int_equal(task_status(taskid), 3);
	assert_int_equal(stake(APP_OWNER), app0 + 1000000000LL);
	/* Both winners are paid and their stakes unlocked. */
	for (int i = 0; i < 2; i++) {
		assert_true(stake(who[i]) > w0[i]);
		assert_int_equal(locked(who[i]), 0);
	}
	free_orders(ao, dso, wo, ro);
}

static void bad_inputs_are_refused_with_reasons(void **state)
{
	json_t *ao, *dso, *wo, *ro;
	struct eth_receipt rc;
	uint8_t dealid[32];
	(void)state;

	/* An app order signed by someone else. */
	orders(POCO_TAG_TDX, 1, 0, &ao, &dso, &wo, &ro);
	check(poco_order_sign(chain, POCO_APP, ao, keys[REQUESTER]));
	assert_true(poco_match(chain, keys[REQUESTER], ao, NULL, wo, ro, 0, dealid, &rc) < 0);
	assert_non_null(strstr(err_msg(), "iExecV5-matchOrders-0x21")); /* bad app order sign */
	assert_non_null(strstr(err_msg(), "revert"));
	free_orders(ao, dso, wo, ro);

	/* A requester without enough deposit. */
	orders(POCO_TAG_TDX, 1, 0, &ao, &dso, &wo, &ro);
	json_object_set_new(ro, "requester", eth_json_addr(addrs[DATASET_OWNER]));
	json_object_set_new(ro, "beneficiary", eth_json_addr(addrs[DATASET_OWNER]));
	check(poco_order_sign(chain, POCO_REQUEST, ro, keys[DATASET_OWNER]));
	check(poco_withdraw(chain, keys[DATASET_OWNER], "0"));
	{
		json_t *acct;
		check(poco_account(chain, addrs[DATASET_OWNER], &acct));
		check(poco_withdraw(chain, keys[DATASET_OWNER],
		                    json_string_value(json_object_get(acct, "stake"))));
		json_decref(acct);
	}
	assert_true(poco_match(chain, keys[DATASET_OWNER], ao, NULL, wo, ro, 0, dealid, &rc) < 0);
	fprintf(stderr, "no deposit: %s\n", err_msg());
	assert_non_null(strstr(err_msg(), "revert"));
	/* Withdrawing more than the balance. */
	assert_true(poco_withdraw(chain, keys[DATASET_OWNER], "1") < 0);
	assert_non_null(strstr(err_msg(), "revert"));
	free_orders(ao, dso, wo, ro);
}

/* Past the final deadline: no contribution, and claim() refunds the
 * requester and seizes the pool's stake. */
static void expired_task_is_refused_then_claimed(void **state)
{
	json_t *ao, *dso, *wo, *ro, *v;
	struct eth_receipt rc;
	uint8_t dealid[32], taskid[32], asig[65];
	static const uint8_t zero[20];
	long long req0 = stake(REQUESTER);
	(void)state;

	orders(POCO_TAG_NONE, 1, 0, &ao, &dso, &wo, &ro);
	check(poco_match(chain, keys[REQUESTER], ao, NULL, wo, ro, 0, dealid, &rc));
	eth_receipt_free(&rc);
	initialize_task(dealid, taskid);
	assert_true(poco_send(chain->rpc, keys[REQUESTER], chain->hub, "claim(bytes32)",
	                      json_pack("[o]", eth_json_hex(taskid, 32)), &rc) < 0); /* too early */
	/* Category XS: 300 s; the final deadline is 10 times that. */
	check(eth_rpc_call(chain->rpc, "evm_increaseTime", json_pack("[i]", 3001), &v));
	json_decref(v);
	check(eth_rpc_call(chain->rpc, "evm_mine", json_array(), &v));
	json_decref(v);
	authorize(addrs[WORKER1], taskid, zero, asig);
	assert_true(poco_send(chain->rpc, keys[WORKER1], chain->hub,
	                      "contribute(bytes32,bytes32,bytes32,address,bytes,bytes)",
	                      json_pack("[o,o,o,o,s,o]", eth_json_hex(taskid, 32),
	                                eth_json_hex(taskid, 32), eth_json_hex(taskid, 32),
	                                eth_json_addr(zero), "0x", eth_json_hex(asig, 65)),
	                      &rc) < 0);
	assert_non_null(strstr(err_msg(), "revert"));
	check(poco_send(chain->rpc, keys[REQUESTER], chain->hub, "claim(bytes32)",
	                json_pack("[o]", eth_json_hex(taskid, 32)), &rc));
	eth_receipt_free(&rc);
	assert_int_equal(task_status(taskid), 4); /* FAILED */
	assert_int_equal(stake(REQUESTER), req0);
	assert_int_equal(locked(REQUESTER), 0);
	free_orders(ao, dso, wo, ro);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(tee_task_by_contribute_and_finalize),
	    cmocka_unit_test(tee_task_through_poco_boost),
	    cmocka_unit_test(replicated_task_reaches_consensus_with_two_workers),
	    cmocka_unit_test(bad_inputs_are_refused_with_reasons),
	    cmocka_unit_test(expired_task_is_refused_then_claimed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
