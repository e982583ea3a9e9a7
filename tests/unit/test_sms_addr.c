/* test_sms_addr — the SMS's challenge addresses: always k1_address of the
 * key, and remembered from the challenge to the release for the tasks of a
 * deal pending at once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../services/sms/internal.h"
#include "crypto/k1.h"

#include <string.h>

/* 2,000 tasks challenged, then released in the same order (bench_attest's
 * pattern): one slot per key hash (1,024 of them) derived more than half
 * the addresses again; sets of 4 keep nearly all.  A set that drew more
 * than 4 of the keys (about 7 of the 2,048) has all of them derived again
 * in the second pass, each evicting the next: ~36 keys expected, the
 * spread some 13. */
#define TASKS 2000

static void key_of(unsigned i, uint8_t priv[32])
{
	memset(priv, 0x11, 32);
	priv[0] = (uint8_t)(i >> 8);
	priv[1] = (uint8_t)i;
	priv[31] = 0x5a;
}

static void addresses_are_k1_and_kept_for_pending_tasks(void **state)
{
	uint8_t priv[32], want[20], got[20];
	unsigned long before, after;
	(void)state;

	before = sms_challenge_address_derived();
	for (unsigned i = 0; i < TASKS; i++) {
		key_of(i, priv);
		assert_int_equal(sms_challenge_address(priv, got), 0);
		assert_int_equal(k1_address(priv, want), 0);
		assert_memory_equal(got, want, 20);
	}
	after = sms_challenge_address_derived();
	assert_int_equal(after - before, TASKS);
	for (unsigned i = 0; i < TASKS; i++) {
		key_of(i, priv);
		assert_int_equal(sms_challenge_address(priv, got), 0);
		assert_int_equal(k1_address(priv, want), 0);
		assert_memory_equal(got, want, 20);
	}
	/* over 5 % would mean the sets do not hold */
	assert_true(sms_challenge_address_derived() - after < TASKS / 20);
}

/* A key not asked before, between remembered ones, gets its own address. */
static void a_new_key_is_derived(void **state)
{
	uint8_t priv[32], want[20], got[20];
	unsigned long before;
	(void)state;

	key_of(7, priv);
	assert_int_equal(sms_challenge_address(priv, got), 0);
	priv[31] ^= 1;
	before = sms_challenge_address_derived();
	assert_int_equal(sms_challenge_address(priv, got), 0);
	assert_int_equal(k1_address(priv, want), 0);
	assert_memory_equal(got, want, 20);
	assert_int_equal(sms_challenge_address_derived() - before, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(addresses_are_k1_and_kept_for_pending_tasks),
	    cmocka_unit_test(a_new_key_is_derived),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
