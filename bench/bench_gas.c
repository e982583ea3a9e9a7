/* bench_gas — gas and transactions of one TEE task with the real PoCo on a
 * local chain (bench/run starts it): classic (matchOrders, initialize,
 * contributeAndFinalize) against Boost (matchOrdersBoost, pushResultBoost).
 * Usage: bench_gas CHAIN_FILE */
#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/addr.h"
#include "poco/market.h"
#include "util/codec.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct poco_chain *c;
static uint8_t key[8][32], addr[8][20], app[20], pool[20];

#define TRY(x)                                                                                     \
	do {                                                                                       \
		if ((x) < 0) {                                                                     \
			fprintf(stderr, "bench_gas: %s\n", err_msg());                             \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

/* One TDX task; returns gas used over its transactions. */
static uint64_t task(int boost, unsigned *txs)
{
	json_t *o[4];
	struct eth_receipt rc;
	uint8_t dealid[32], taskid[32], ek[32], ea[20], digest[32], p[84], rh[32], rs[32], h[32],
	    esig[65], asig[65];
	uint64_t gas = 0;

	o[0] = poco_order_new(POCO_APP);
	json_object_set_new(o[0], "app", eth_json_addr(app));
	o[2] = poco_order_new(POCO_WORKERPOOL);
	json_object_set_new(o[2], "workerpool", eth_json_addr(pool));
	o[3] = poco_order_new(POCO_REQUEST);
	json_object_set_new(o[3], "app", eth_json_addr(app));
	json_object_set_new(o[3], "workerpool", eth_json_addr(pool));
	json_object_set_new(o[3], "requester", eth_json_addr(addr[4]));
	json_object_set_new(o[3], "beneficiary", eth_json_addr(addr[4]));
	for (int i = 0; i < 4; i++) {
		if (i == 1)
			continue;
		json_object_set_new(o[i], "tag", json_string(POCO_TAG_TDX));
		if (i == 0)
			json_object_set_new(o[i], "appprice", json_string("1000000000"));
	}
	json_object_set_new(o[2], "workerpoolprice", json_string("4000000000"));
	json_object_set_new(o[3], "appmaxprice", json_string("1000000000"));
	json_object_set_new(o[3], "workerpoolmaxprice", json_string("4000000000"));
	TRY(poco_order_sign(c, POCO_APP, o[0], key[1]));
	TRY(poco_order_sign(c, POCO_WORKERPOOL, o[2], key[3]));
	TRY(poco_order_sign(c, POCO_REQUEST, o[3], key[4]));
	TRY(poco_match(c, key[4], o[0], NULL, o[2], o[3], boost, dealid, &rc));
	gas += rc.gas_used;
	eth_receipt_free(&rc);
	*txs = 1;
	poco_task_id(dealid, 0, taskid);
	TRY(k1_keygen(ek));
	TRY(k1_address(ek, ea));
	memcpy(p, addr[5], 20);
	memcpy(p + 20, taskid, 32);
	memcpy(p + 52, ea, 20);
	TRY(eip191_sign_keccak(key[3], p, 72, asig));
	if (boost) {
		keccak256("\xca\xfe", 2, h);
		memcpy(p + 52, h, 32);
		TRY(eip191_sign_keccak(ek, p, 84, esig));
		TRY(poco_send(c->rpc, key[5], c->hub,
		              "pushResultBoost(bytes32,uint256,bytes,bytes,bytes,address,bytes)",
		              json_pack("[o,s,s,s,o,o,o]", eth_json_hex(dealid, 32), "0", "0xcafe",
		                        "0x", eth_json_hex(asig, 65), eth_json_addr(ea),
		                        eth_json_hex(esig, 65)),
		              &rc));
	} else {
		TRY(poco_send(c->rpc, key[3], c->hub, "initialize(bytes32,uint256)",
		              json_pack("[o,s]", eth_json_hex(dealid, 32), "0"), &rc));
		gas += rc.gas_used;
		eth_receipt_free(&rc);
		(*txs)++;
		keccak256("\xca\xfe", 2, digest);
		memcpy(p, taskid, 32);
		memcpy(p + 32, digest, 32);
		keccak256(p, 64, rh);
		memcpy(p, addr[5], 20);
		memcpy(p + 20, taskid, 32);
		memcpy(p + 52, digest, 32);
		keccak256(p, 84, rs);
		memcpy(p, rh, 32);
		memcpy(p + 32, rs, 32);
		TRY(eip191_sign_keccak(ek, p, 64, esig));
		TRY(poco_send(
		    c->rpc, key[5], c->hub,
		    "contributeAndFinalize(bytes32,bytes32,bytes,bytes,address,bytes,bytes)",
		    json_pack("[o,o,s,s,o,o,o]", eth_json_hex(taskid, 32), eth_json_hex(digest, 32),
		              "0xcafe", "0x", eth_json_addr(ea), eth_json_hex(esig, 65),
		              eth_json_hex(asig, 65)),
		    &rc));
	}
	gas += rc.gas_used;
	eth_receipt_free(&rc);
	(*txs)++;
	for (int i = 0; i < 4; i++)
		if (i != 1)
			json_decref(o[i]);
	return gas;
}

int main(int argc, char **argv)
{
	uint8_t sum[32] = {1};
	uint64_t classic = 0, boost = 0;
	unsigned ct = 0, bt = 0;
	const unsigned rounds = 3;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_gas CHAIN_FILE\n");
		return 2;
	}
	TRY(poco_chain_load(argv[1], &c));
	for (int i = 0; i < 8; i++) {
		TRY(poco_chain_account(c, (size_t)i, key[i]));
		TRY(k1_address(key[i], addr[i]));
	}
	TRY(poco_app_create(c, key[1], "bench", "docker.io/bench@sha256:00", sum,
	                    "{\"framework\":\"TDX\"}", app));
	TRY(poco_workerpool_create(c, key[3], "bench pool", pool));
	TRY(poco_deposit(c, key[4], "100000000000"));
	TRY(poco_deposit(c, key[3], "100000000000"));
	/* Warm storage slots once so both paths are measured in steady state. */
	task(0, &ct);
	task(1, &bt);
	for (unsigned i = 0; i < rounds; i++) {
		classic += task(0, &ct);
		boost += task(1, &bt);
	}
	printf("bench gas per TEE task (real PoCo on Anvil, mean of %u)\n", rounds);
	printf("  %-46s %9llu gas in %u transactions\n", "classic: matchOrders, initialize, c&f",
	       (unsigned long long)(classic / rounds), ct);
	printf("  %-46s %9llu gas in %u transactions\n", "Boost: matchOrdersBoost, pushResultBoost",
	       (unsigned long long)(boost / rounds), bt);
	printf("ratios\n  Boost / classic                     %8.2f\n",
	       (double)boost / (double)classic);
	poco_chain_free(c);
	return 0;
}
