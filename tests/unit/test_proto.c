/* lib/proto: tdexec's signed messages are distinct by their purpose tags,
 * and every layout matches a fixed vector computed independently with
 * ethers v6 (keccak256/sha512 over the concatenation documented in
 * proto.h; the RA-TLS one with Python's hashlib.sha512), so a layout cannot
 * drift unnoticed. */
#include "testutil.h"

#include "proto/proto.h"
#include "util/codec.h"
#include "util/err.h"

#include <string.h>

#define CHAIN 31337
#define URL   "http://127.0.0.1:8080"

static const uint8_t B11[32] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11};

static void fill(uint8_t *p, uint8_t v, size_t n)
{
	memset(p, v, n);
}

static void unhex(const char *h, uint8_t *out, size_t n)
{
	assert_int_equal(hex_decode_exact(out, n, h, "vector"), 0);
}

/* One row per layout: what it is, its digest, and the expected bytes. */
struct vector {
	const char *name;
	size_t len;
	const char *want;
};

static void compute(const char *name, uint8_t *out)
{
	uint8_t w[20], d[32], e[32], spki[91];
	fill(w, 0x22, 20);
	fill(spki, 0x55, sizeof(spki));
	fill(d, 0x33, 32);
	fill(e, 0x44, 32);
	if (!strcmp(name, "worker-register"))
		proto_worker_register_hash(CHAIN, URL, B11, w, out);
	else if (!strcmp(name, "result-download"))
		proto_result_download_hash(CHAIN, B11, w, 1700000000, out);
	else if (!strcmp(name, "task-reassign")) {
		uint8_t next[20];
		fill(next, 0x55, 20);
		proto_task_reassign_hash(CHAIN, B11, w, next, out);
	} else if (!strcmp(name, "pool-admin"))
		proto_pool_admin_hash(CHAIN, w, "GET", "/workers", 1700000000, out);
	else if (!strcmp(name, "worker-report-data"))
		proto_worker_report_data(B11, w, out);
	else if (!strcmp(name, "session-report-data"))
		proto_session_report_data(B11, B11, d, e, out);
	else if (!strcmp(name, "ratls-report-data"))
		assert_int_equal(proto_ratls_report_data(spki, sizeof(spki), d, out), 0);
	else
		fail_msg("no such vector %s", name);
}

/* nonce = task id = 0x11 x 32, worker = beneficiary = 0x22 x 20, app digest
 * 0x33 x 32, X25519 key 0x44 x 32, chain 31337, URL http://127.0.0.1:8080,
 * expiry 1700000000, next worker 0x55 x 20; the pool-admin request GET
 * /workers at 1700000000 for workerpool 0x22 x 20; an RA-TLS certificate's
 * SubjectPublicKeyInfo 0x55 x 91 and configuration hash 0x33 x 32. */
static const struct vector vectors[] = {
    {"worker-register", 32, "9b1f9a8fb385f13f3efc75ef9790e9f3ea8aa58e558da8467d7e973d7a8a4abd"},
    {"result-download", 32, "b3f3a5391fad195d1423fd7691ff2d78e7aa8f89ba2bf5c4b7d44fef1359161d"},
    {"task-reassign", 32, "92788a4b640bffc19ceb942c01925993b625bace10dbf3e28f6ddc2687c9be1b"},
    {"pool-admin", 32, "ad1a30bdf46926589c22dc9592185d7f49286fad3f4a1f7dc8df8ceb21daf9e3"},
    {"worker-report-data", 64,
     "75125e547bf94ab16efc693734a3d3e389b8affc20f5de359aaac5e93b79f810"
     "625d23b7c8773a6c3892248def6143944f18cdd907e4279ada1dd4c30954039e"},
    {"session-report-data", 64,
     "91d0c54ae8925b7db629272e8fae619dc53a68d39f506ab2ecc7ec6d7d491120"
     "6509aa950cea7c7fe79ac8b13fa27bb55729504d0f033b8d40be313df95d8ee4"},
    {"ratls-report-data", 64,
     "02d22237f8e4ffc1197063cb69b47ebeebc8c394ed72705c0ca925e6f1c2c180"
     "1f2ddebc8428af2600c380c412b8621e36cfd0fec83ed735f65a5c89fa37b62e"},
};

static void layouts_match_fixed_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(*vectors); i++) {
		uint8_t got[64], want[64];
		unhex(vectors[i].want, want, vectors[i].len);
		compute(vectors[i].name, got);
		if (memcmp(got, want, vectors[i].len) != 0)
			fail_msg("layout %s drifted", vectors[i].name);
	}
}

/* The old attack: a scheduler picks a registration nonce equal to a task id;
 * the registration digest must not be a download authorization, nor the
 * bare keccak(taskId) that downloads once accepted. */
static void same_bytes_as_nonce_and_task_id_give_distinct_digests(void **state)
{
	uint8_t w[20], reg[32], dl[32], dl2[32];
	(void)state;
	fill(w, 0x22, 20);
	proto_worker_register_hash(CHAIN, URL, B11, w, reg);
	proto_result_download_hash(CHAIN, B11, w, 1700000000, dl);
	assert_memory_not_equal(reg, dl, 32);
	/* every authorized field is bound */
	proto_result_download_hash(CHAIN + 1, B11, w, 1700000000, dl2);
	assert_memory_not_equal(dl, dl2, 32);
	proto_result_download_hash(CHAIN, B11, w, 1700000001, dl2);
	assert_memory_not_equal(dl, dl2, 32);
	w[0] ^= 1;
	proto_result_download_hash(CHAIN, B11, w, 1700000000, dl2);
	assert_memory_not_equal(dl, dl2, 32);
	proto_worker_register_hash(CHAIN, "http://127.0.0.1:8081", B11, w, dl2);
	assert_memory_not_equal(reg, dl2, 32);
}

static void expiry_refused_when_past_or_too_far_ahead(void **state)
{
	(void)state;
	assert_int_equal(proto_expiry_check(1000, 1000, 3600), 0);
	assert_int_equal(proto_expiry_check(4600, 1000, 3600), 0);
	assert_int_equal(proto_expiry_check(999, 1000, 3600), ERR_VERIFY);
	assert_string_equal(err_msg(), "authorization expired");
	assert_int_equal(proto_expiry_check(4601, 1000, 3600), ERR_VERIFY);
	assert_int_equal(proto_expiry_check(0, 1000, 3600), ERR_VERIFY);
	assert_int_equal(proto_expiry_check(UINT64_MAX, 1000, 3600), ERR_VERIFY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(layouts_match_fixed_vectors),
	    cmocka_unit_test(same_bytes_as_nonce_and_task_id_give_distinct_digests),
	    cmocka_unit_test(expiry_refused_when_past_or_too_far_ahead),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
