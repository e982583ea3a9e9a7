/* The SMS store: values decrypt after reopening, records are bound to their
 * kind/owner/name, tampering and another master key are detected. */
#include "testutil.h"

#include "../../services/sms/store.h"
#include "store/db.h"
#include "util/err.h"
#include "util/file.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void secrets_survive_reopen_and_are_bound(void **state)
{
	char *dir = td_tmpdir(), db[512], key[512], key2[512];
	struct sms_store st;
	uint8_t *v;
	size_t n;
	struct stat sb;
	(void)state;

	snprintf(db, sizeof(db), "%s/s.db", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	snprintf(key2, sizeof(key2), "%s/other.key", dir);
	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_int_equal(stat(key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sms_store_put(&st, "web2", "0xabc", "api", (const uint8_t *)"s3cret", 6, 0),
			 0);
	assert_int_equal(sms_store_put(&st, "web2", "0xabc", "api", (const uint8_t *)"x", 1, 0),
			 ERR_BUSY);
	assert_int_equal(sms_store_exists(&st, "web2", "0xabc", "api"), 1);
	assert_int_equal(sms_store_exists(&st, "web2", "0xabc", "other"), 0);
	sms_store_close(&st);

	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_int_equal(sms_store_get(&st, "web2", "0xabc", "api", &v, &n), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(v, "s3cret", 6);
	free(v);
	assert_int_equal(sms_store_get(&st, "web2", "0xabc", "nope", &v, &n), ERR_NOTFOUND);
	/* A record moved to another owner does not open (AAD). */
	assert_int_equal(db_exec(st.db, "UPDATE secrets SET owner='0xdef'"), 0);
	assert_int_equal(sms_store_get(&st, "web2", "0xdef", "api", &v, &n), ERR_VERIFY);
	assert_int_equal(db_exec(st.db, "UPDATE secrets SET owner='0xabc'"), 0);
	/* A flipped ciphertext byte is detected. */
	assert_int_equal(db_exec(st.db, "UPDATE secrets SET ciphertext="
						 "X'00'||substr(ciphertext,2)"),
			 0);
	assert_int_equal(sms_store_get(&st, "web2", "0xabc", "api", &v, &n), ERR_VERIFY);
	/* Update replaces, and reads back. */
	assert_int_equal(sms_store_put(&st, "web2", "0xabc", "api", (const uint8_t *)"new", 3, 1), 0);
	assert_int_equal(sms_store_get(&st, "web2", "0xabc", "api", &v, &n), 0);
	assert_memory_equal(v, "new", 3);
	free(v);
	sms_store_close(&st);

	/* Another master key is refused at open, before it can store
	 * anything; the right key still opens the store afterwards. */
	assert_int_equal(sms_store_open(&st, db, key2), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "does not open this store"));
	sms_store_close(&st);
	/* A store from before the check value: its first secret decides. */
	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_int_equal(db_exec(st.db, "DELETE FROM keycheck"), 0);
	sms_store_close(&st);
	assert_int_equal(sms_store_open(&st, db, key2), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "does not open this store's secrets"));
	sms_store_close(&st);
	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_int_equal(sms_store_get(&st, "web2", "0xabc", "api", &v, &n), 0);
	free(v);
	sms_store_close(&st);
	/* A master key readable by others is refused. */
	chmod(key, 0644);
	assert_int_equal(sms_store_open(&st, db, key), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "readable by others"));
	td_rmtree(dir);
	free(dir);
}

/* sms_store_check: counts every record, and names a tampered one. */
static void check_finds_a_tampered_record(void **state)
{
	char *dir = td_tmpdir(), db[512], key[512];
	struct sms_store st;
	long total, bad;
	(void)state;

	snprintf(db, sizeof(db), "%s/s.db", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_int_equal(sms_store_check(&st, &total, &bad), 0);
	assert_int_equal(total, 0);
	for (int i = 0; i < 5; i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(
			sms_store_put(&st, "web2", "0xabc", name, (const uint8_t *)"v", 1, 0), 0);
	}
	assert_int_equal(sms_store_check(&st, &total, &bad), 0);
	assert_int_equal(total, 5);
	assert_int_equal(bad, 0);
	assert_int_equal(db_exec(st.db, "UPDATE secrets SET name='n9' WHERE name='n3'"), 0);
	assert_int_equal(sms_store_check(&st, &total, &bad), ERR_VERIFY);
	assert_int_equal(total, 5);
	assert_int_equal(bad, 1);
	assert_non_null(strstr(err_msg(), "1 of 5"));
	sms_store_close(&st);
	td_rmtree(dir);
	free(dir);
}

/* Rekey: all or nothing, and never while the store is open elsewhere. */
static void rekey_rotates_all_or_nothing(void **state)
{
	char *dir = td_tmpdir(), db[512], key[512], key2[512];
	struct sms_store st;
	uint8_t *v;
	size_t n;
	long count, total, bad;
	(void)state;

	snprintf(db, sizeof(db), "%s/s.db", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	snprintf(key2, sizeof(key2), "%s/new.key", dir);
	assert_int_equal(sms_store_open(&st, db, key), 0);
	for (int i = 0; i < 20; i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(
			sms_store_put(&st, "requester", "0xabc", name, (const uint8_t *)name,
				      strlen(name), 0),
			0);
	}
	/* open elsewhere: refused, nothing changed */
	assert_int_equal(sms_store_rekey(db, key, NULL, key2, NULL, &count), ERR_BUSY);
	assert_non_null(strstr(err_msg(), "in use"));
	/* a record that does not open: refused, nothing changed */
	assert_int_equal(db_exec(st.db, "UPDATE secrets SET name='moved' WHERE name='n7'"), 0);
	sms_store_close(&st);
	assert_int_equal(sms_store_rekey(db, key, NULL, key2, NULL, &count), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "nothing was changed"));
	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_int_equal(sms_store_get(&st, "requester", "0xabc", "n3", &v, &n), 0);
	free(v);
	assert_int_equal(db_exec(st.db, "UPDATE secrets SET name='n7' WHERE name='moved'"), 0);
	sms_store_close(&st);
	/* the rotation: the old key no longer opens the store, the new one all of it */
	assert_int_equal(sms_store_rekey(db, key, NULL, key2, NULL, &count), 0);
	assert_int_equal(count, 20);
	assert_int_equal(sms_store_open(&st, db, key), ERR_VERIFY);
	sms_store_close(&st);
	assert_int_equal(sms_store_open(&st, db, key2), 0);
	assert_int_equal(sms_store_check(&st, &total, &bad), 0);
	assert_int_equal(total, 20);
	assert_int_equal(sms_store_get(&st, "requester", "0xabc", "n19", &v, &n), 0);
	assert_memory_equal(v, "n19", 3);
	free(v);
	sms_store_close(&st);
	/* the same key again is refused */
	assert_int_equal(sms_store_rekey(db, key2, NULL, key2, NULL, &count), ERR_INVAL);
	td_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(secrets_survive_reopen_and_are_bound),
		cmocka_unit_test(check_finds_a_tampered_record),
		cmocka_unit_test(rekey_rotates_all_or_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
