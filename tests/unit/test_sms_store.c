/* The SMS store: values decrypt after reopening, records are bound to their
 * kind/owner/name, tampering and another master key are detected; a
 * signature authorizes one secret write only. */
#include "testutil.h"

#include "../../services/sms/store.h"
#include "proto/proto.h"
#include "store/db.h"
#include "tdx/quote.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* A store in a fresh directory (returned, to free): its database and master
 * key paths in db and key, opened in st. */
static char *store_fresh(struct sms_store *st, char db[512], char key[512])
{
	char *dir = td_tmpdir();
	snprintf(db, 512, "%s/s.db", dir);
	snprintf(key, 512, "%s/master.key", dir);
	assert_int_equal(sms_store_open(st, db, key), 0);
	return dir;
}

static void secrets_survive_reopen_and_are_bound(void **state)
{
	char *dir, db[512], key[512], key2[512];
	struct sms_store st;
	uint8_t *v;
	size_t n;
	struct stat sb;
	(void)state;

	dir = store_fresh(&st, db, key);
	snprintf(key2, sizeof(key2), "%s/other.key", dir);
	assert_int_equal(stat(key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(
	    sms_store_put(&st, "web2", "0xabc", "api", (const uint8_t *)"s3cret", 6, 0), 0);
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
	sms_store_cache_clear(&st); /* a write behind the store's back */
	assert_int_equal(sms_store_get(&st, "web2", "0xdef", "api", &v, &n), ERR_VERIFY);
	assert_int_equal(db_exec(st.db, "UPDATE secrets SET owner='0xabc'"), 0);
	/* A flipped ciphertext byte is detected. */
	/* the first byte changed, whatever it was */
	assert_int_equal(db_exec(st.db, "UPDATE secrets SET ciphertext="
	                                "(CASE WHEN substr(ciphertext,1,1)=X'00' THEN X'01' "
	                                "ELSE X'00' END)||substr(ciphertext,2)"),
	                 0);
	sms_store_cache_clear(&st);
	assert_int_equal(sms_store_get(&st, "web2", "0xabc", "api", &v, &n), ERR_VERIFY);
	/* Update replaces, and reads back. */
	assert_int_equal(sms_store_put(&st, "web2", "0xabc", "api", (const uint8_t *)"new", 3, 1),
	                 0);
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
	char *dir, db[512], key[512];
	struct sms_store st;
	long total, bad;
	(void)state;

	dir = store_fresh(&st, db, key);
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
	char *dir, db[512], key[512], key2[512];
	struct sms_store st;
	uint8_t *v;
	size_t n;
	long count, total, bad;
	(void)state;

	dir = store_fresh(&st, db, key);
	snprintf(key2, sizeof(key2), "%s/new.key", dir);
	for (int i = 0; i < 20; i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(sms_store_put(&st, "requester", "0xabc", name,
		                               (const uint8_t *)name, strlen(name), 0),
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

static const uint8_t *sig(int i)
{
	static uint8_t ids[8][32];
	memset(ids[i], 0xa0 + i, 32);
	return ids[i];
}

static double mono_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long count_rows(struct sms_store *st, const char *sql)
{
	sqlite3_stmt *q;
	long n = -1;
	if (db_prepare(st->db, sql, &q) == 0 && sqlite3_step(q) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

#define PUT(st, kind, name, val, update, id, want)                                                 \
	do {                                                                                       \
		enum sms_put_verdict v_ = SMS_PUT_EXISTS;                                          \
		assert_int_equal(sms_store_put_signed(st, kind, "0xabc", name,                     \
		                                      (const uint8_t *)(val), strlen(val), update, \
		                                      id, &v_, used),                              \
		                 0);                                                               \
		assert_int_equal(v_, want);                                                        \
	} while (0)

static void assert_value(struct sms_store *st, const char *kind, const char *name, const char *want)
{
	uint8_t *v;
	size_t n;
	assert_int_equal(sms_store_get(st, kind, "0xabc", name, &v, &n), 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(v, want, n);
	free(v);
}

/* Each signature writes once: a replay as an update (a rollback), under
 * another kind, or twice is refused; an identical re-push writes nothing;
 * the record survives a reopen and cannot be deleted. */
static void signatures_authorize_one_write(void **state)
{
	char *dir, db[512], key[512], used[16];
	struct sms_store st;
	(void)state;

	dir = store_fresh(&st, db, key);
	PUT(&st, "web2", "api", "v1", 0, sig(0), SMS_PUT_WRITTEN);
	assert_string_equal(used, "");
	PUT(&st, "web2", "api", "v1", 0, sig(0), SMS_PUT_EXISTS);
	PUT(&st, "web2", "api", "v2", 1, sig(1), SMS_PUT_WRITTEN);
	/* the POST's signature as an update: the old value is not restored */
	PUT(&st, "web2", "api", "v1", 1, sig(0), SMS_PUT_REPLAYED);
	assert_string_equal(used, "web2");
	PUT(&st, "web2", "api", "v1", 1, sig(0), SMS_PUT_REPLAYED);
	assert_value(&st, "web2", "api", "v2");
	/* an identical re-push: answered, nothing rewritten (same nonce) */
	assert_int_equal(db_exec(st.db, "CREATE TEMP TABLE before AS SELECT nonce FROM secrets"),
	                 0);
	PUT(&st, "web2", "api", "v2", 1, sig(1), SMS_PUT_UNCHANGED);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM secrets s JOIN temp.before b "
	                                 "ON s.nonce = b.nonce"),
	                 1);
	/* a web2 signature never writes a requester secret (same challenge bytes) */
	PUT(&st, "requester", "api", "v1", 0, sig(0), SMS_PUT_REPLAYED);
	assert_string_equal(used, "web2");
	PUT(&st, "requester", "api", "v2", 0, sig(1), SMS_PUT_REPLAYED);
	assert_int_equal(sms_store_exists(&st, "requester", "0xabc", "api"), 0);
	/* ... nor a requester secret's signature an update of a web2 secret
	 * holding that value */
	PUT(&st, "requester", "tok", "t", 0, sig(2), SMS_PUT_WRITTEN);
	PUT(&st, "web2", "tok", "t", 0, sig(3), SMS_PUT_WRITTEN);
	PUT(&st, "web2", "tok", "t", 1, sig(2), SMS_PUT_REPLAYED);
	assert_string_equal(used, "requester");
	/* a fresh signature of the value held: recorded, not rewritten */
	PUT(&st, "web2", "api", "v2", 1, sig(4), SMS_PUT_UNCHANGED);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM consumed_signatures"), 5);
	PUT(&st, "web2", "none", "x", 1, sig(5), SMS_PUT_ABSENT);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM consumed_signatures"), 5);
	/* append-only */
	assert_int_equal(db_exec(st.db, "DELETE FROM consumed_signatures"), ERR_IO);
	assert_non_null(strstr(err_msg(), "append-only"));
	assert_int_equal(db_exec(st.db, "UPDATE consumed_signatures SET kind='requester'"), ERR_IO);
	sms_store_close(&st);
	/* kept across a restart */
	assert_int_equal(sms_store_open(&st, db, key), 0);
	PUT(&st, "web2", "api", "v1", 1, sig(0), SMS_PUT_REPLAYED);
	PUT(&st, "web2", "api", "v3", 1, sig(6), SMS_PUT_WRITTEN);
	/* once replaced, the value held before does not come back either */
	PUT(&st, "web2", "api", "v2", 1, sig(1), SMS_PUT_REPLAYED);
	PUT(&st, "web2", "api", "v2", 1, sig(4), SMS_PUT_REPLAYED);
	assert_value(&st, "web2", "api", "v3");
	sms_store_close(&st);
	td_rmtree(dir);
	free(dir);
}

/* A store file from before the consumed signatures (schema 3, a secret in
 * it) is migrated at open: its secrets stay, the table starts empty, and
 * the first signature seen for the value held is recorded. */
static void migration_adds_consumed_signatures(void **state)
{
	char *dir, db[512], key[512], used[16];
	struct sms_store st;
	sqlite3 *raw;
	(void)state;

	dir = store_fresh(&st, db, key);
	assert_int_equal(sms_store_put(&st, "web2", "0xabc", "api", (const uint8_t *)"v1", 2, 0),
	                 0);
	sms_store_close(&st);
	/* back to schema 3: the file as the previous release left it */
	assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
	assert_int_equal(db_exec(raw, "DROP TABLE consumed_signatures;"
	                              "DROP VIEW release_history;"
	                              "DROP TABLE receipts;"
	                              "DROP TABLE quote_tails;"
	                              "ALTER TABLE sessions DROP COLUMN replaces;"
	                              "ALTER TABLE releases DROP COLUMN replaces;"
	                              "CREATE UNIQUE INDEX sessions_released ON sessions(taskid)"
	                              " WHERE released = 1;"
	                              "PRAGMA user_version=3;"),
	                 0);
	sqlite3_close(raw);

	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_int_equal(count_rows(&st, "PRAGMA user_version"), 7);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM consumed_signatures"), 0);
	assert_value(&st, "web2", "api", "v1");
	PUT(&st, "web2", "api", "v1", 1, sig(0), SMS_PUT_UNCHANGED);
	PUT(&st, "web2", "api", "v2", 1, sig(1), SMS_PUT_WRITTEN);
	PUT(&st, "web2", "api", "v1", 1, sig(0), SMS_PUT_REPLAYED);
	assert_value(&st, "web2", "api", "v2");
	sms_store_close(&st);
	/* opening again applies nothing more */
	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM consumed_signatures"), 2);
	sms_store_close(&st);
	td_rmtree(dir);
	free(dir);
}

#define TASK                                                                                       \
	"0x"                                                                                       \
	"1111111111111111111111111111111111111111111111111111111111111111"

static void fill_receipt(struct sms_receipt *r, const char *worker, const uint8_t *quote,
                         size_t len)
{
	memset(r, 0, sizeof(*r));
	r->taskid = TASK;
	r->worker = worker;
	r->quote = quote;
	r->quote_len = len;
	r->tcb_status = "UpToDate";
	r->simulated = 1;
	snprintf(r->quote_sha256, sizeof(r->quote_sha256), "%064x", (unsigned)len);
	memset(r->mrtd, 'a', 96);
	for (int i = 0; i < 4; i++)
		memset(r->rtmr[i], '0' + i, 96);
	snprintf(r->fmspc, sizeof(r->fmspc), "00906ed50000");
	r->tcb_info_issue_date = 1751000000;
	r->qe_identity_issue_date = 1751000001;
	r->tcb_eval_number = 17;
	r->qe_eval_number = 17;
	memset(r->policy_sha256, 'b', 64);
	memset(r->app_digest, 'c', 64);
	memset(r->public_key, 'd', 64);
	memset(r->nonce, 'e', 64);
	snprintf(r->enclave_challenge, sizeof(r->enclave_challenge), "0x%040x", 7);
	r->event_log = "{\"rtmr\":3}";
}

/* Each release appends its receipt in the same transaction: a refused
 * release leaves none, receipts come back oldest first after a reopen, and
 * neither UPDATE nor DELETE touches them. */
static void receipts_are_appended_with_the_release(void **state)
{
	char *dir, db[512], key[512], id1[33] = "00000000000000000000000000000001",
	                              id2[33] = "00000000000000000000000000000002";
	uint8_t deal[32] = {1}, q1[] = {1, 2, 3}, q2[] = {4, 5, 6, 7};
	struct sms_store st;
	struct sms_receipt r;
	json_t *arr = NULL;
	(void)state;

	dir = store_fresh(&st, db, key);
	assert_int_equal(sms_store_receipts(&st, TASK, 8, &arr), ERR_NOTFOUND);
	assert_int_equal(sms_store_session_add(&st, id1, TASK,
	                                       "0xaaaa000000000000000000000000000000000001", deal,
	                                       0, 4102444800, NULL),
	                 0);
	fill_receipt(&r, "0xAAAA000000000000000000000000000000000001", q1, sizeof(q1));
	assert_int_equal(sms_store_session_release(&st, id1, &r), 0);
	/* released already: no second receipt */
	assert_int_equal(sms_store_session_release(&st, id1, &r), ERR_BUSY);
	/* reassigned to another worker: a second receipt */
	assert_int_equal(sms_store_session_add(
	                     &st, id2, TASK, "0xaaaa000000000000000000000000000000000002", deal, 0,
	                     4102444800, "0xaaaa000000000000000000000000000000000001"),
	                 0);
	fill_receipt(&r, "0xaaaa000000000000000000000000000000000002", q2, sizeof(q2));
	r.event_log = NULL;
	r.ear = "header.claims.sig";
	assert_int_equal(sms_store_session_release(&st, id2, &r), 0);
	sms_store_close(&st);

	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_int_equal(sms_store_receipts(&st, TASK, 8, &arr), 0);
	assert_int_equal(json_array_size(arr), 2);
	json_t *a = json_array_get(arr, 0), *b = json_array_get(arr, 1);
	assert_string_equal(json_string_value(json_object_get(a, "session")), id1);
	assert_string_equal(json_string_value(json_object_get(a, "worker")),
	                    "0xaaaa000000000000000000000000000000000001");
	assert_string_equal(json_string_value(json_object_get(a, "quote")), "AQID");
	assert_string_equal(json_string_value(json_object_get(a, "event_log")), "{\"rtmr\":3}");
	assert_true(json_is_null(json_object_get(a, "ear")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(a, "collateral"),
	                                                      "tcb_info_issue_date")),
	                    "2025-06-27T04:53:20Z");
	assert_string_equal(json_string_value(json_object_get(b, "quote")), "BAUGBw==");
	assert_true(json_is_null(json_object_get(b, "event_log")));
	assert_string_equal(json_string_value(json_object_get(b, "ear")), "header.claims.sig");
	json_decref(arr);
	assert_int_equal(sms_store_receipts(&st, TASK, 1, &arr), 0);
	assert_int_equal(json_array_size(arr), 1);
	json_decref(arr);
	/* append-only */
	assert_int_not_equal(db_exec(st.db, "UPDATE receipts SET quote = X'00'"), 0);
	assert_int_not_equal(db_exec(st.db, "DELETE FROM receipts"), 0);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM receipts"), 2);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM release_history"), 2);
	assert_int_equal(
	    count_rows(
	        &st,
	        "SELECT count(*) FROM release_history WHERE session="
	        "'00000000000000000000000000000002' AND replaces='0xaaaa000000000000000000000000000000000001'"),
	    1);
	sms_store_close(&st);
	td_rmtree(dir);
	free(dir);
}

/* The caches: a session is read from SQLite at most once (sms_store_
 * session_add puts it in), a release marks it released once committed,
 * and a reassignment's new `replaces` shows; a secret row is read once and
 * kept sealed, and every write path (put, signed put, purge) is seen at
 * the next get.  A second process cannot open the store (nor can a second
 * open in this one): no writer behind the caches. */
static void caches_follow_every_write(void **state)
{
	char *dir, db[512], key[512], used[16], id[33] = "000000000000000000000000000000c1",
	                                        id2[33] = "000000000000000000000000000000c2";
	uint8_t deal[32] = {1}, q[] = {1, 2, 3}, *v;
	size_t n;
	struct sms_store st, other;
	struct sms_session ss;
	struct sms_receipt r;
	enum sms_put_verdict verdict;
	(void)state;

	dir = store_fresh(&st, db, key);
	assert_int_equal(sms_store_open(&other, db, key), ERR_BUSY);
	assert_non_null(strstr(err_msg(), "in use by another process"));
	sms_store_close(&other);

	assert_int_equal(sms_store_session_add(&st, id, TASK,
	                                       "0xAAAA000000000000000000000000000000000001", deal,
	                                       5, 4102444800, NULL),
	                 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sms_store_session_get(&st, id, &ss), 0);
		assert_string_equal(ss.worker, "0xaaaa000000000000000000000000000000000001");
		assert_string_equal(ss.taskid, TASK);
		assert_int_equal(ss.idx, 5);
		assert_int_equal(ss.released, 0);
	}
	assert_int_equal(st.session_misses, 0);
	fill_receipt(&r, "0xaaaa000000000000000000000000000000000001", q, sizeof(q));
	assert_int_equal(sms_store_session_release(&st, id, &r), 0);
	assert_int_equal(sms_store_session_get(&st, id, &ss), 0);
	assert_int_equal(ss.released, 1);
	assert_int_equal(st.session_misses, 0);
	/* a reassignment recorded on an open session: read again */
	assert_int_equal(sms_store_session_add(&st, id2, TASK,
	                                       "0xaaaa000000000000000000000000000000000002", deal,
	                                       5, 4102444800, NULL),
	                 0);
	assert_int_equal(sms_store_session_get(&st, id2, &ss), 0);
	assert_string_equal(ss.replaces, "");
	assert_int_equal(sms_store_session_add(
	                     &st, id2, TASK, "0xaaaa000000000000000000000000000000000002", deal, 5,
	                     4102444800, "0xAAAA000000000000000000000000000000000001"),
	                 0);
	assert_int_equal(sms_store_session_get(&st, id2, &ss), 0);
	assert_string_equal(ss.replaces, "0xaaaa000000000000000000000000000000000001");
	/* a release refused (released already) leaves the cached session as
	 * it was */
	assert_int_equal(sms_store_session_release(&st, id, &r), ERR_BUSY);
	assert_int_equal(sms_store_session_get(&st, id, &ss), 0);
	assert_int_equal(ss.released, 1);

	/* secrets: an absent one is read once, then known absent; a put is
	 * cached as written; all sealed */
	for (int i = 0; i < 2; i++)
		assert_int_equal(sms_store_get(&st, "web2", "0xabc", "api", &v, &n), ERR_NOTFOUND);
	assert_int_equal(st.secret_misses, 1);
	/* an update of an absent secret writes nothing, and caches nothing */
	assert_int_equal(
	    sms_store_put(&st, "web2", "0xabc", "api", (const uint8_t *)"phantom", 7, 1), 0);
	assert_int_equal(sms_store_get(&st, "web2", "0xabc", "api", &v, &n), ERR_NOTFOUND);
	assert_int_equal(st.secret_misses, 2); /* the write dropped the entry */
	assert_int_equal(
	    sms_store_put(&st, "web2", "0xabc", "api", (const uint8_t *)"plain-v1", 8, 0), 0);
	assert_value(&st, "web2", "api", "plain-v1");
	assert_value(&st, "web2", "api", "plain-v1");
	assert_int_equal(st.secret_misses, 2);
	assert_int_equal(st.secret_hits, 3);
	sms_store_cache_clear(&st);
	assert_value(&st, "web2", "api", "plain-v1");
	assert_int_equal(st.secret_misses, 3);
	for (size_t i = 0; i < SMS_SECRET_SLOTS; i++)
		if (st.secrets[i].sealed)
			assert_null(memmem(st.secrets[i].sealed, st.secrets[i].len, "plain-v1", 8));
	assert_int_equal(
	    sms_store_put(&st, "web2", "0xabc", "api", (const uint8_t *)"plain-v2", 8, 1), 0);
	assert_value(&st, "web2", "api", "plain-v2");
	assert_int_equal(sms_store_put_signed(&st, "web2", "0xabc", "api", (const uint8_t *)"v3", 2,
	                                      1, sig(1), &verdict, used),
	                 0);
	assert_int_equal(verdict, SMS_PUT_WRITTEN);
	assert_value(&st, "web2", "api", "v3");
	assert_int_equal(
	    sms_store_put(&st, "challenge", "0xabc", "100", (const uint8_t *)"k", 1, 0), 0);
	assert_value(&st, "challenge", "100", "k");
	assert_int_equal(sms_store_purge_challenges(&st, 200), 1);
	assert_int_equal(sms_store_get(&st, "challenge", "0xabc", "100", &v, &n), ERR_NOTFOUND);
	sms_store_close(&st);
	/* closed: another open succeeds */
	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_value(&st, "web2", "api", "v3");
	sms_store_close(&st);
	td_rmtree(dir);
	free(dir);
}

/* The DB-lock is the database file's, held by another process (a child
 * that opened the store by its path): opening the store through a
 * symlink or a hard link is refused (a lock keyed on the path let these
 * in, a second writer behind the caches), and there is no lock file whose
 * removal would let one in.  sms check (SMS_OPEN_CHECK) opens beside it,
 * and writes nothing.  A start waits for the other process to let go. */
static void the_lock_is_the_database_files(void **state)
{
	char *dir = td_tmpdir(), db[512], key[512], sym[512], hard[512], lockf[520];
	int ready[2], go[2];
	struct sms_store st, other;
	long total = 0, bad = 0;
	uint8_t v[8] = {1};
	char c = 0;
	double t0;
	pid_t pid;
	int status;
	(void)state;

	snprintf(db, sizeof(db), "%s/s.db", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	snprintf(sym, sizeof(sym), "%s/link.db", dir);
	snprintf(hard, sizeof(hard), "%s/hard.db", dir);
	snprintf(lockf, sizeof(lockf), "%s-lock", db);
	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_int_equal(sms_store_put(&st, "web2", "0xabc", "api", v, sizeof(v), 0), 0);
	sms_store_close(&st);
	assert_int_equal(symlink(db, sym), 0);
	assert_int_equal(link(db, hard), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sms_store cs;
		int rc;
		/* a parent that fails leaves the child an end of file */
		close(ready[0]);
		close(go[1]);
		rc = sms_store_open(&cs, db, key);
		if (write(ready[1], rc == 0 ? "1" : "0", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(2);
		usleep(300 * 1000); /* still holding it when the parent asks */
		if (rc == 0)
			sms_store_close(&cs);
		_exit(rc == 0 ? 0 : 1);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, '1');
	assert_int_equal(sms_store_open_mode(&st, sym, key, NULL, SMS_OPEN_NOWAIT), ERR_BUSY);
	assert_non_null(strstr(err_msg(), "in use by another process"));
	assert_int_equal(sms_store_open_mode(&st, hard, key, NULL, SMS_OPEN_NOWAIT), ERR_BUSY);
	assert_int_equal(access(lockf, F_OK), -1); /* nothing to delete */
	assert_int_equal(sms_store_open_mode(&st, db, key, NULL, SMS_OPEN_NOWAIT), ERR_BUSY);
	/* the check opens beside it, reads, and writes nothing */
	assert_int_equal(sms_store_open_mode(&st, sym, key, NULL, SMS_OPEN_CHECK), 0);
	assert_int_equal(st.lock_fd, -1);
	assert_int_equal(sms_store_check(&st, &total, &bad), 0);
	assert_int_equal(total, 1);
	assert_int_equal(bad, 0);
	sms_store_close(&st);
	/* an SMS's open waits for the child's close (300 ms on) */
	t0 = mono_s();
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(sms_store_open(&st, db, key), 0);
	fprintf(stderr, "the lock: waited %.3f s for the other process\n", mono_s() - t0);
	assert_true(mono_s() - t0 >= 0.2);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* held here: through the other paths, at once */
	assert_int_equal(sms_store_open_mode(&other, hard, key, NULL, SMS_OPEN_NOWAIT), ERR_BUSY);
	assert_int_equal(sms_store_open(&other, sym, key), ERR_BUSY);
	sms_store_close(&st);
	for (int i = 0; i < 2; i++) {
		close(ready[i]);
		close(go[i]);
	}
	td_rmtree(dir);
	free(dir);
}

/* A quote of the size of a real one (it parses; nothing checks its
 * signatures here): a TD body with `head` as its REPORTDATA, then a PEM
 * chain of ~3.5 KB shared by the quotes of a platform (chain 'a' or 'b'),
 * the PEM marker also in MRCONFIGID when `marker` (a host sets it). */
static size_t pem_quote_marked(uint8_t *q, size_t cap, uint8_t head, char chain, int marker)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----\n";
	struct tdx_quote t;
	uint8_t pem[3574], auth[1] = {0}, *out;
	size_t n;

	memset(&t, 0, sizeof(t));
	t.header.version = 4;
	t.header.att_key_type = TDX_ATT_KEY_ECDSA_P256;
	t.header.tee_type = TDX_TEE_TYPE_TDX;
	t.body_type = TDX_BODY_TD10;
	memset(t.body.report_data, head, sizeof(t.body.report_data));
	if (marker)
		memcpy(t.body.mrconfigid, begin, sizeof(begin) - 1);
	t.cert_type = TDX_CERT_QE_REPORT;
	t.qe_auth_data = auth;
	t.pck_cert_type = TDX_CERT_PCK_CHAIN;
	memset(pem, chain, sizeof(pem));
	memcpy(pem, begin, sizeof(begin) - 1);
	t.pck_chain = pem;
	t.pck_chain_len = sizeof(pem);
	assert_int_equal(tdx_quote_serialize(&t, 0, &out, &n), 0);
	assert_true(n <= cap);
	memcpy(q, out, n);
	free(out);
	return n;
}

static size_t pem_quote(uint8_t *q, size_t cap, uint8_t head, char chain)
{
	return pem_quote_marked(q, cap, head, chain, 0);
}

static void assert_quote(json_t *receipt, const uint8_t *q, size_t len)
{
	char *b64 = base64_encode(q, len);
	assert_non_null(b64);
	assert_string_equal(json_string_value(json_object_get(receipt, "quote")), b64);
	free(b64);
}

/* Migration 7: a quote's PCK chain is stored once per distinct chain and
 * served back in its place (the receipt byte-identical); a release writes
 * no releases row any more, the worker it replaces is in its receipt, and
 * release_history lists the releases from before the migration (their
 * receipts with the whole quote, read as before) and after it. */
static void receipts_keep_each_chain_once(void **state)
{
	char *dir = td_tmpdir(), db[512], key[512], id[33];
	uint8_t deal[32] = {1}, q[4][5000];
	size_t ql[4];
	struct sms_store st;
	struct sms_receipt r;
	sqlite3 *raw;
	json_t *arr = NULL;
	(void)state;

	snprintf(db, sizeof(db), "%s/s.db", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	ql[0] = pem_quote(q[0], sizeof(q[0]), 1, 'a');
	ql[1] = pem_quote(q[1], sizeof(q[1]), 2, 'a');
	ql[2] = pem_quote(q[2], sizeof(q[2]), 3, 'b');
	ql[3] = pem_quote(q[3], sizeof(q[3]), 4, 'a');
	/* a store of schema 6: one release, its receipt and audit row */
	assert_int_equal(sms_store_open(&st, db, key), 0);
	sms_store_close(&st);
	assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
	assert_int_equal(db_exec(raw, "DROP VIEW release_history; DROP TABLE receipts;"
	                              "DROP TABLE quote_tails;"),
	                 0);
	sqlite3_close(raw);
	{
		/* schema 6 as migration 6 made it, the previous program's
		 * release written with its SQL */
		sqlite3 *d;
		assert_int_equal(sqlite3_open(db, &d), SQLITE_OK);
		assert_int_equal(
		    db_exec(
		        d,
		        "CREATE TABLE receipts (id INTEGER PRIMARY KEY, time INTEGER NOT NULL,"
		        " session TEXT NOT NULL, taskid TEXT NOT NULL, worker TEXT NOT NULL,"
		        " quote BLOB NOT NULL, quote_sha256 TEXT NOT NULL, mrtd TEXT NOT NULL,"
		        " rtmr0 TEXT NOT NULL, rtmr1 TEXT NOT NULL, rtmr2 TEXT NOT NULL,"
		        " rtmr3 TEXT NOT NULL, tcb_status TEXT NOT NULL,"
		        " simulated INTEGER NOT NULL, fmspc TEXT NOT NULL,"
		        " tcb_info_issue_date INTEGER NOT NULL, tcb_eval_number INTEGER NOT NULL,"
		        " qe_identity_issue_date INTEGER NOT NULL,"
		        " qe_eval_number INTEGER NOT NULL, pck_crl_sha256 TEXT NOT NULL,"
		        " root_ca_crl_sha256 TEXT NOT NULL, event_log TEXT,"
		        " policy_sha256 TEXT NOT NULL, app_policy_sha256 TEXT NOT NULL,"
		        " app_digest TEXT NOT NULL, public_key TEXT NOT NULL, nonce TEXT NOT NULL,"
		        " enclave_challenge TEXT NOT NULL, ear TEXT);"
		        "CREATE INDEX receipts_task ON receipts(taskid);"
		        "INSERT INTO sessions(id, taskid, worker, dealid, idx, deadline, created,"
		        " released) VALUES('00000000000000000000000000000001', lower('" TASK "'),"
		        " '0xaaaa000000000000000000000000000000000001', lower('" TASK "'), 0,"
		        " 4102444800, 1, 1);"
		        "INSERT INTO releases(time, session, taskid, worker, quote_sha256, mrtd,"
		        " rtmr0, rtmr1, rtmr2, rtmr3, tcb_status, simulated)"
		        " VALUES(1, '00000000000000000000000000000001', lower('" TASK "'),"
		        " '0xaaaa000000000000000000000000000000000001', '', '', '', '', '', '',"
		        " 'UpToDate', 1);"
		        "PRAGMA user_version=6;"),
		    0);
		sqlite3_stmt *ins;
		assert_int_equal(
		    db_prepare(
		        d,
		        "INSERT INTO receipts(time, session, taskid, worker, quote,"
		        " quote_sha256, mrtd, rtmr0, rtmr1, rtmr2, rtmr3, tcb_status, simulated,"
		        " fmspc, tcb_info_issue_date, tcb_eval_number, qe_identity_issue_date,"
		        " qe_eval_number, pck_crl_sha256, root_ca_crl_sha256, policy_sha256,"
		        " app_policy_sha256, app_digest, public_key, nonce, enclave_challenge)"
		        " VALUES(1, '00000000000000000000000000000001', lower('" TASK "'),"
		        " '0xaaaa000000000000000000000000000000000001', ?, '', '', '', '', '',"
		        " '', 'UpToDate', 1, '', 0, 0, 0, 0, '', '', '', '', '', '', '', '')",
		        &ins),
		    0);
		sqlite3_bind_blob(ins, 1, q[0], (int)ql[0], SQLITE_STATIC);
		assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
		sqlite3_finalize(ins);
		sqlite3_close(d);
	}
	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_int_equal(count_rows(&st, "PRAGMA user_version"), 7);
	/* three more releases of the task: reassignments, two of them with the
	 * first quote's chain, one with another */
	for (int i = 1; i < 4; i++) {
		char w[43], prev[43];
		snprintf(w, sizeof(w), "0xaaaa%036x", i + 1);
		snprintf(prev, sizeof(prev), "0xaaaa%036x", i);
		snprintf(id, sizeof(id), "%032x", i + 1);
		assert_int_equal(sms_store_session_add(&st, id, TASK, w, deal, 0, 4102444800,
		                                       i < 3 ? prev : NULL),
		                 0);
		fill_receipt(&r, w, q[i], ql[i]);
		assert_int_equal(sms_store_session_release(&st, id, &r), i < 3 ? 0 : ERR_BUSY);
	}
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM quote_tails"), 2);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM releases"), 1);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM receipts"), 3);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM release_history"), 3);
	assert_int_equal(count_rows(&st,
	                            "SELECT count(*) FROM release_history WHERE worker='0xaaaa"
	                            "000000000000000000000000000000000003' AND replaces='0xaaaa"
	                            "000000000000000000000000000000000002'"),
	                 1);
	/* the stored receipt is smaller than its quote */
	assert_true(count_rows(&st, "SELECT max(length(quote)) FROM receipts WHERE quote_tail"
	                            " IS NOT NULL") < 1300);
	assert_int_not_equal(db_exec(st.db, "UPDATE quote_tails SET tail = X'00'"), 0);
	assert_int_not_equal(db_exec(st.db, "DELETE FROM quote_tails"), 0);
	sms_store_close(&st);
	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_int_equal(sms_store_receipts(&st, TASK, 8, &arr), 0);
	assert_int_equal(json_array_size(arr), 3);
	for (int i = 0; i < 3; i++)
		assert_quote(json_array_get(arr, (size_t)i), q[i], ql[i]);
	json_decref(arr);
	sms_store_close(&st);
	td_rmtree(dir);
	free(dir);
}

/* The host writes MRCONFIGID: a PEM marker put there moves no tail.  The
 * split is the parsed chain's offset, so two such quotes (their
 * REPORTDATA differs) share one row holding exactly the chain, and each
 * receipt is served byte-identical.  (A split at the first marker found
 * stored each release's ~4 KB from MRCONFIGID on: a row per release.) */
static void a_marker_in_the_td_body_moves_no_tail(void **state)
{
	char *dir = td_tmpdir(), db[512], key[512], id[33], w[43], task[2][67];
	uint8_t deal[32] = {1}, q[2][5000];
	size_t ql[2];
	struct sms_store st;
	struct sms_receipt r;
	struct tdx_quote *t;
	sqlite3_stmt *sel;
	json_t *arr = NULL;
	(void)state;

	snprintf(db, sizeof(db), "%s/s.db", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	for (int i = 0; i < 2; i++) {
		ql[i] = pem_quote_marked(q[i], sizeof(q[i]), (uint8_t)(i + 1), 'a', 1);
		assert_non_null(memmem(q[i], 700, "-----BEGIN CERTIFICATE-----", 27));
	}
	assert_int_equal(sms_store_open(&st, db, key), 0);
	for (int i = 0; i < 2; i++) {
		snprintf(id, sizeof(id), "%032x", i + 1);
		snprintf(w, sizeof(w), "0xaaaa%036x", i + 1);
		snprintf(task[i], sizeof(task[i]), "0x%064x", i + 1);
		assert_int_equal(
		    sms_store_session_add(&st, id, task[i], w, deal, 0, 4102444800, NULL), 0);
		fill_receipt(&r, w, q[i], ql[i]);
		r.taskid = task[i];
		assert_int_equal(sms_store_session_release(&st, id, &r), 0);
	}
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM quote_tails"), 1);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM receipts WHERE quote_tail IS NULL"),
	                 0);
	/* the row is the chain, byte for byte */
	assert_int_equal(tdx_quote_parse(q[0], ql[0], &t), 0);
	assert_int_equal(db_prepare(st.db, "SELECT tail FROM quote_tails", &sel), 0);
	assert_int_equal(sqlite3_step(sel), SQLITE_ROW);
	assert_int_equal((size_t)sqlite3_column_bytes(sel, 0), t->pck_chain_len);
	assert_memory_equal(sqlite3_column_blob(sel, 0), t->pck_chain, t->pck_chain_len);
	sqlite3_finalize(sel);
	tdx_quote_free(t);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sms_store_receipts(&st, task[i], 8, &arr), 0);
		assert_int_equal(json_array_size(arr), 1);
		assert_quote(json_array_get(arr, 0), q[i], ql[i]);
		json_decref(arr);
	}
	sms_store_close(&st);
	td_rmtree(dir);
	free(dir);
}

/* A pool's pending tasks each have a challenge key written before their
 * release reads it: 2,000 of them, then each read, come from the cache
 * (sets of SMS_SECRET_WAYS; one slot per key lost ~20 % of them to a later
 * key of the same slot). */
static void pending_challenge_keys_stay_cached(void **state)
{
	enum { N = 2000 };
	char *dir, db[512], key[512], owner[67];
	struct sms_store st;
	uint8_t k[32], *v;
	size_t n;
	(void)state;

	dir = store_fresh(&st, db, key);
	assert_int_equal(db_exec(st.db, "PRAGMA synchronous=OFF"), 0);
	for (int i = 0; i < N; i++) {
		snprintf(owner, sizeof(owner), "0x%064x", i + 1);
		memset(k, i & 0xff, sizeof(k));
		assert_int_equal(sms_store_put(&st, "challenge", owner, "4102444800", k, 32, 0), 0);
	}
	for (int i = 0; i < N; i++) {
		snprintf(owner, sizeof(owner), "0x%064x", i + 1);
		assert_int_equal(sms_store_get(&st, "challenge", owner, "4102444800", &v, &n), 0);
		assert_int_equal(n, 32);
		assert_int_equal(v[0], i & 0xff);
		OPENSSL_cleanse(v, n);
		free(v);
	}
	/* a set of SMS_SECRET_WAYS overflows for a few keys at most */
	assert_true(st.secret_misses <= N / 100);
	assert_int_equal(st.secret_hits + st.secret_misses, N);
	sms_store_close(&st);
	td_rmtree(dir);
	free(dir);
}

/* The WAL stays bounded with checkpoints off the commit path: 3,000
 * releases, each with its own chain (~5 frames a release with its
 * session, ~15,000 frames in all, 60 MB unchecked), committed without a
 * pause (the worst case for a background checkpoint: the writer restarts
 * the WAL only when all of it was copied), leave a WAL of at most
 * SMS_WAL_MAX_FRAMES pages and one commit.  synchronous=OFF for speed
 * here: what is measured is the WAL's size, not durability
 * (sms_crash_release). */
static void wal_stays_bounded(void **state)
{
	enum { N = 3000 };
	char *dir, db[512], key[512], wal[520], id[33], task[67], w[43];
	uint8_t deal[32] = {1}, q[5000];
	struct sms_store st;
	struct sms_receipt r;
	struct stat sb;
	unsigned long ck;
	(void)state;

	dir = store_fresh(&st, db, key);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	assert_int_equal(db_exec(st.db, "PRAGMA synchronous=OFF"), 0);
	size_t ql = pem_quote(q, sizeof(q), 1, 'a');
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "%032x", i + 1);
		snprintf(task, sizeof(task), "0x%064x", i + 1);
		snprintf(w, sizeof(w), "0x%040x", i + 1);
		memcpy(q + ql - 8, &i, sizeof(i)); /* a chain of its own */
		assert_int_equal(sms_store_session_add(&st, id, task, w, deal, 0, 4102444800, NULL),
		                 0);
		fill_receipt(&r, w, q, ql);
		r.taskid = task;
		assert_int_equal(sms_store_session_release(&st, id, &r), 0);
	}
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM quote_tails"), N);
	assert_int_equal(stat(wal, &sb), 0);
	pthread_mutex_lock(&st.kmu);
	ck = st.checkpoints;
	pthread_mutex_unlock(&st.kmu);
	fprintf(stderr, "wal_stays_bounded: %d releases, WAL %lld bytes, %lu checkpoints\n", N,
	        (long long)sb.st_size, ck);
	assert_true(ck >= 1);
	/* over the mark by at most one commit's frames */
	assert_true(sb.st_size <= (off_t)(SMS_WAL_MAX_FRAMES + 64) * (4096 + 24) + 32);
	sms_store_close(&st);
	td_rmtree(dir);
	free(dir);
}

/* An operator's sqlite3 shell in a transaction (a reader on an old
 * snapshot) while the SMS commits past SMS_WAL_MAX_FRAMES: the inline
 * RESTART finds it and does not wait (it used to wait the busy timeout,
 * 5 s, holding the write lock, at every commit past the mark), and is
 * tried again SMS_WAL_RETRY_FRAMES later.  Once the reader has gone the
 * WAL is checkpointed, starts over, and its file is cut back to
 * SMS_WAL_SIZE_LIMIT. */
static void a_long_reader_never_blocks_a_commit(void **state)
{
	char *dir, db[512], key[512], wal[520], owner[67], name[16];
	struct sms_store st;
	struct stat sb;
	sqlite3 *reader;
	sqlite3_stmt *sel;
	uint8_t v[64] = {7};
	double t0, past = 0, worst = 0;
	int i, over = 0, started_over = 0;
	(void)state;

	dir = store_fresh(&st, db, key);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	/* what is measured is the wait for readers, not the fsyncs */
	assert_int_equal(db_exec(st.db, "PRAGMA synchronous=OFF"), 0);
	assert_int_equal(sms_store_put(&st, "web2", "0xabc", "first", v, sizeof(v), 0), 0);
	assert_int_equal(sqlite3_open(db, &reader), SQLITE_OK);
	assert_int_equal(db_exec(reader, "BEGIN"), 0);
	assert_int_equal(db_prepare(reader, "SELECT count(*) FROM secrets", &sel), 0);
	assert_int_equal(sqlite3_step(sel), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(sel, 0), 1);
	sqlite3_finalize(sel); /* the snapshot stays, until COMMIT */
	snprintf(owner, sizeof(owner), "0x%064x", 1);
	for (i = 0; i < 20000 && st.wal_frames < SMS_WAL_MAX_FRAMES + 1500 && past < 20; i++) {
		int before = st.wal_frames;
		snprintf(name, sizeof(name), "n%d", i);
		t0 = mono_s();
		assert_int_equal(sms_store_put(&st, "web2", owner, name, v, sizeof(v), 0), 0);
		if (before >= SMS_WAL_MAX_FRAMES) {
			double d = mono_s() - t0;
			past += d;
			worst = d > worst ? d : worst;
			over++;
		}
	}
	assert_int_equal(stat(wal, &sb), 0);
	fprintf(stderr,
	        "long reader: %d puts, %d past the mark in %.3f s (worst %.3f s), WAL %d "
	        "frames, %lld bytes\n",
	        i, over, past, worst, st.wal_frames, (long long)sb.st_size);
	assert_true(st.wal_frames >= SMS_WAL_MAX_FRAMES + 1500);
	assert_true(over >= 300);
	assert_true(past < 5.0);                         /* each put past the mark took >= 5 s */
	assert_true(st.restart_at > SMS_WAL_MAX_FRAMES); /* tried, and put off */
	assert_true(sb.st_size > SMS_WAL_SIZE_LIMIT);
	/* the reader still sees its snapshot */
	assert_int_equal(db_prepare(reader, "SELECT count(*) FROM secrets", &sel), 0);
	assert_int_equal(sqlite3_step(sel), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(sel, 0), 1);
	sqlite3_finalize(sel);
	assert_int_equal(db_exec(reader, "COMMIT"), 0);
	sqlite3_close(reader);
	/* gone: within the retry's frames, the WAL starts over */
	for (int k = 0; k < 3 * SMS_WAL_RETRY_FRAMES && !started_over; k++, i++) {
		int before = st.wal_frames;
		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(sms_store_put(&st, "web2", owner, name, v, sizeof(v), 0), 0);
		started_over = st.wal_frames < before;
	}
	assert_true(started_over);
	assert_int_equal(sms_store_put(&st, "web2", owner, "last", v, sizeof(v), 0), 0);
	assert_int_equal(stat(wal, &sb), 0);
	fprintf(stderr, "long reader gone: WAL %d frames, %lld bytes\n", st.wal_frames,
	        (long long)sb.st_size);
	assert_true(st.wal_frames < SMS_WAL_CHECKPOINT_FRAMES);
	assert_true(sb.st_size <= SMS_WAL_SIZE_LIMIT);
	assert_int_equal(st.restart_at, 0);
	sms_store_close(&st);
	td_rmtree(dir);
	free(dir);
}

struct rel_job {
	struct sms_store *st;
	char id[33], task[67], worker[43];
	uint8_t quote[4];
	const char *event_log; /* NULL: fill_receipt's */
	int rc;
};

static int entered;
static pthread_mutex_t entered_mu = PTHREAD_MUTEX_INITIALIZER;

static void *release_thread(void *arg)
{
	struct rel_job *j = arg;
	struct sms_receipt r;
	fill_receipt(&r, j->worker, j->quote, sizeof(j->quote));
	r.taskid = j->task;
	if (j->event_log)
		r.event_log = j->event_log;
	pthread_mutex_lock(&entered_mu);
	entered++;
	pthread_mutex_unlock(&entered_mu);
	j->rc = sms_store_session_release(j->st, j->id, &r);
	return NULL;
}

/* Overlapping releases are committed together: 12 releases held behind the
 * store's lock go in at most two commits.  Within a group, the second
 * release of a session (ERR_BUSY) is undone alone: the others keep their
 * release rows and receipts. */
static void overlapping_releases_commit_in_groups(void **state)
{
	enum { TASKS = 8, JOBS = 12 };
	char *dir, db[512], key[512];
	uint8_t deal[32] = {1};
	struct sms_store st;
	struct rel_job jobs[JOBS];
	pthread_t th[JOBS];
	unsigned long groups, releases;
	int ok = 0, busy = 0;
	(void)state;

	dir = store_fresh(&st, db, key);
	for (int i = 0; i < JOBS; i++) {
		struct rel_job *j = &jobs[i];
		int t = i < TASKS ? i : i - TASKS; /* jobs 8-11 repeat tasks 0-3 */
		memset(j, 0, sizeof(*j));
		j->st = &st;
		snprintf(j->task, sizeof(j->task), "0x%064x", t + 1);
		snprintf(j->worker, sizeof(j->worker), "0x%040x", t + 1);
		j->quote[0] = (uint8_t)i;
		snprintf(j->id, sizeof(j->id), "%032x", t + 1);
		if (i < TASKS)
			assert_int_equal(sms_store_session_add(&st, j->id, j->task, j->worker, deal,
			                                       (uint64_t)t, 4102444800, NULL),
			                 0);
	}
	pthread_mutex_lock(&st.mu); /* no commit before all have queued */
	for (int i = 0; i < JOBS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, release_thread, &jobs[i]), 0);
	for (int n = 0; n < JOBS;) {
		usleep(10000);
		pthread_mutex_lock(&entered_mu);
		n = entered;
		pthread_mutex_unlock(&entered_mu);
	}
	usleep(200000);
	pthread_mutex_unlock(&st.mu);
	for (int i = 0; i < JOBS; i++) {
		pthread_join(th[i], NULL);
		ok += jobs[i].rc == 0;
		busy += jobs[i].rc == ERR_BUSY;
	}
	assert_int_equal(ok, TASKS);
	assert_int_equal(busy, JOBS - TASKS);
	sms_store_release_stats(&st, &groups, &releases);
	assert_int_equal(releases, TASKS); /* committed: the second tries were not */
	assert_in_range(groups, 1, 2);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM release_history"), TASKS);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM receipts"), TASKS);
	assert_int_equal(count_rows(&st, "SELECT count(DISTINCT taskid) FROM receipts"), TASKS);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM sessions WHERE released = 1"),
	                 TASKS);
	sms_store_close(&st);
	/* the rows are there for a new connection: committed */
	assert_int_equal(sms_store_open(&st, db, key), 0);
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM receipts"), TASKS);
	sms_store_close(&st);
	td_rmtree(dir);
	free(dir);
}

/* A failure that makes SQLite roll the group's whole transaction back
 * (here disk full: the database's page cap reached by the second release's
 * event log) fails the whole group: the release before it is undone with
 * the transaction, and the one after it is not run, where its savepoint
 * would have opened a transaction of its own and committed it alone, while
 * its TD was told to attest again.  Retried, the releases go in. */
static void a_group_rolled_back_whole_fails_whole(void **state)
{
	enum { JOBS = 4 };
	char *dir, db[512], key[512], *log = malloc(1 << 20);
	uint8_t deal[32] = {1};
	struct sms_store st;
	struct rel_job jobs[JOBS];
	pthread_t th[JOBS];
	(void)state;

	assert_non_null(log);
	dir = store_fresh(&st, db, key);
	for (int i = 0; i < JOBS; i++) {
		struct rel_job *j = &jobs[i];
		memset(j, 0, sizeof(*j));
		j->st = &st;
		snprintf(j->task, sizeof(j->task), "0x%064x", i + 1);
		snprintf(j->worker, sizeof(j->worker), "0x%040x", i + 1);
		snprintf(j->id, sizeof(j->id), "%032x", i + 1);
		assert_int_equal(sms_store_session_add(&st, j->id, j->task, j->worker, deal,
		                                       (uint64_t)i, 4102444800, NULL),
		                 0);
	}
	memset(log, 'l', (1 << 20) - 1);
	log[(1 << 20) - 1] = '\0';
	jobs[2].event_log = log;
	/* room for a few small receipts, not for a 1 MiB one */
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM receipts"), 0);
	sqlite3_stmt *pc;
	assert_int_equal(sqlite3_prepare_v2(st.db, "PRAGMA page_count", -1, &pc, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(pc), SQLITE_ROW);
	char cap[64];
	snprintf(cap, sizeof(cap), "PRAGMA max_page_count=%d", sqlite3_column_int(pc, 0) + 64);
	sqlite3_finalize(pc);
	assert_int_equal(sqlite3_exec(st.db, cap, NULL, NULL, NULL), SQLITE_OK);
	/* job 0 alone first (the commit thread takes it and waits for the
	 * store's lock), then 1-3 queue behind it: one group */
	entered = 0;
	pthread_mutex_lock(&st.mu);
	for (int i = 0; i < JOBS; i++) {
		assert_int_equal(pthread_create(&th[i], NULL, release_thread, &jobs[i]), 0);
		for (int n = 0; n <= i;) {
			usleep(10000);
			pthread_mutex_lock(&entered_mu);
			n = entered;
			pthread_mutex_unlock(&entered_mu);
		}
		usleep(i == 0 ? 200000 : 20000);
	}
	pthread_mutex_unlock(&st.mu);
	for (int i = 0; i < JOBS; i++)
		pthread_join(th[i], NULL);
	long released = count_rows(&st, "SELECT count(*) FROM sessions WHERE released = 1"),
	     receipts = count_rows(&st, "SELECT count(*) FROM receipts");
	int failed = 0;
	for (int i = 1; i < JOBS; i++)
		failed += jobs[i].rc == ERR_IO;
	if (jobs[0].rc != 0 || failed != JOBS - 1 || released != 1 || receipts != 1)
		sms_store_close(&st); /* its commit thread stopped before the test fails */
	assert_int_equal(jobs[0].rc, 0);
	assert_int_equal(failed, JOBS - 1);
	assert_int_equal(released, 1);
	assert_int_equal(receipts, 1);
	/* the cap lifted, the failed ones are released when tried again */
	assert_int_equal(sqlite3_exec(st.db, "PRAGMA max_page_count=1073741823", NULL, NULL, NULL),
	                 SQLITE_OK);
	for (int i = 1; i < JOBS; i++) {
		release_thread(&jobs[i]);
		assert_int_equal(jobs[i].rc, 0);
	}
	assert_int_equal(count_rows(&st, "SELECT count(*) FROM receipts"), JOBS);
	sms_store_close(&st);
	td_rmtree(dir);
	free(dir);
	free(log);
}

static int answered;
static pthread_mutex_t answered_mu = PTHREAD_MUTEX_INITIALIZER;

static void count_answer(struct sms_release *rel)
{
	(void)rel;
	pthread_mutex_lock(&answered_mu);
	answered++;
	pthread_mutex_unlock(&answered_mu);
}

/* Releases waiting for their commit are bounded: while a commit is held
 * up (here behind the store's lock), the queue takes SMS_PENDING_MAX and
 * refuses the next (ERR_BUSY: its request is answered 503 at once); each
 * queued one is answered once the commit can run, and the queue takes
 * releases again. */
static void pending_releases_are_bounded(void **state)
{
	enum { N = SMS_PENDING_MAX };
	char *dir, db[512], key[512], task[67], worker[43];
	static char ids[N + 1][33];
	static struct sms_release rel[N + 1];
	uint8_t deal[32] = {1}, quote[4] = {0};
	struct sms_receipt r;
	struct sms_store st;
	int rc;
	(void)state;

	dir = store_fresh(&st, db, key);
	fill_receipt(&r, "0x0000000000000000000000000000000000000001", quote, sizeof(quote));
	for (int i = 0; i <= N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%032x", i + 1);
		snprintf(task, sizeof(task), "0x%064x", i + 1);
		snprintf(worker, sizeof(worker), "0x%040x", i + 1);
		assert_int_equal(sms_store_session_add(&st, ids[i], task, worker, deal, (uint64_t)i,
		                                       4102444800, NULL),
		                 0);
		rel[i] = (struct sms_release){.id = ids[i], .r = &r, .done = count_answer};
	}
	answered = 0;
	pthread_mutex_lock(&st.mu);
	for (int i = 0; i < N; i++)
		assert_int_equal(sms_store_release_queue(&st, &rel[i]), 0);
	rc = sms_store_release_queue(&st, &rel[N]);
	assert_int_equal(sms_store_releases_pending(&st), N);
	pthread_mutex_unlock(&st.mu);
	assert_int_equal(rc, ERR_BUSY);
	for (int n = 0; n < N;) {
		usleep(10000);
		pthread_mutex_lock(&answered_mu);
		n = answered;
		pthread_mutex_unlock(&answered_mu);
	}
	/* every queued release answered: the queue is empty, and takes again */
	assert_int_equal(sms_store_releases_pending(&st), 0);
	assert_int_equal(sms_store_release_queue(&st, &rel[N]), 0);
	for (int n = N; n <= N;) {
		usleep(10000);
		pthread_mutex_lock(&answered_mu);
		n = answered;
		pthread_mutex_unlock(&answered_mu);
	}
	sms_store_close(&st);
	td_rmtree(dir);
	free(dir);
}

/* The receipts' answer is bounded (proto.h), so that the scheduler's proxy
 * and task verify, which cap what they read at PROTO_RECEIPTS_MAX, take
 * any: the most releases a task has, each with a quote as large as the
 * attest body, a log at its cap made of the character JSON escapes (a
 * quote, two bytes each), and an EAR token at its cap, serialised as the
 * SMS answers it, fit; and over 8 MiB, the scheduler's earlier cap. */
static void the_largest_receipts_answer_fits_the_bound(void **state)
{
	char *dir, db[512], key[512], id[3][33], prev[33] = "";
	uint8_t deal[32] = {1}, *quote = malloc(PROTO_ATTEST_BODY_MAX);
	char *log = malloc(PROTO_RECEIPT_LOG_MAX + 1), *ear = malloc((64u << 10) + 1), *text;
	const char *workers[3] = {"0xaaaa000000000000000000000000000000000001",
	                          "0xaaaa000000000000000000000000000000000002",
	                          "0xaaaa000000000000000000000000000000000003"};
	struct sms_store st;
	struct sms_receipt r;
	json_t *arr = NULL, *doc;
	(void)state;

	assert_non_null(quote);
	assert_non_null(log);
	assert_non_null(ear);
	memset(quote, 0xff, PROTO_ATTEST_BODY_MAX);
	memset(log, '"', PROTO_RECEIPT_LOG_MAX);
	log[PROTO_RECEIPT_LOG_MAX] = '\0';
	memset(ear, 'e', 64u << 10);
	ear[64u << 10] = '\0';
	dir = store_fresh(&st, db, key);
	for (int i = 0; i < 3; i++) {
		snprintf(id[i], sizeof(id[i]), "%032d", i + 1);
		assert_int_equal(sms_store_session_add(&st, id[i], TASK, workers[i], deal, 0,
		                                       4102444800, i ? prev : NULL),
		                 0);
		fill_receipt(&r, workers[i], quote, PROTO_ATTEST_BODY_MAX);
		r.event_log = log;
		r.ear = ear;
		assert_int_equal(sms_store_session_release(&st, id[i], &r), 0);
		snprintf(prev, sizeof(prev), "%s", workers[i]);
	}
	assert_int_equal(sms_store_receipts(&st, TASK, SMS_MAX_RELEASES, &arr), 0);
	assert_int_equal(json_array_size(arr), SMS_MAX_RELEASES);
	doc = json_pack("{s:s,s:o}", "task", TASK, "receipts", arr);
	text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
	assert_non_null(text);
	assert_true(strlen(text) <= PROTO_RECEIPTS_MAX);
	assert_true(strlen(text) > (8u << 20));
	free(text);
	json_decref(doc);
	sms_store_close(&st);
	free(quote);
	free(log);
	free(ear);
	td_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(secrets_survive_reopen_and_are_bound),
	    cmocka_unit_test(check_finds_a_tampered_record),
	    cmocka_unit_test(rekey_rotates_all_or_nothing),
	    cmocka_unit_test(signatures_authorize_one_write),
	    cmocka_unit_test(migration_adds_consumed_signatures),
	    cmocka_unit_test(receipts_are_appended_with_the_release),
	    cmocka_unit_test(receipts_keep_each_chain_once),
	    cmocka_unit_test(a_marker_in_the_td_body_moves_no_tail),
	    cmocka_unit_test(caches_follow_every_write),
	    cmocka_unit_test(the_lock_is_the_database_files),
	    cmocka_unit_test(pending_challenge_keys_stay_cached),
	    cmocka_unit_test(wal_stays_bounded),
	    cmocka_unit_test(a_long_reader_never_blocks_a_commit),
	    cmocka_unit_test(overlapping_releases_commit_in_groups),
	    cmocka_unit_test(a_group_rolled_back_whole_fails_whole),
	    cmocka_unit_test(pending_releases_are_bounded),
	    cmocka_unit_test(the_largest_receipts_answer_fits_the_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
