/* proto.c — tdexec's signed messages and REPORTDATA layouts (proto.h). */
#include "proto/proto.h"

#include "crypto/keccak.h"
#include "util/err.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

#define WORKER_RD_TAG  "tdexec-worker-v1"
#define SESSION_RD_TAG "tdexec-session-v1"
#define RATLS_RD_TAG   "tdexec-ratls-v1"

static void put_u256(struct keccak256 *k, uint64_t v)
{
	uint8_t b[32] = {0};
	for (int i = 0; i < 8; i++)
		b[31 - i] = (uint8_t)(v >> (8 * i));
	keccak256_update(k, b, sizeof(b));
}

void proto_worker_register_hash(uint64_t chain_id, const char *url, const uint8_t nonce[32],
                                const uint8_t worker[20], uint8_t out[32])
{
	struct keccak256 k;
	uint8_t uh[32];
	keccak256(url, strlen(url), uh);
	keccak256_init(&k);
	keccak256_update(&k, PROTO_WORKER_REGISTER_TAG, sizeof(PROTO_WORKER_REGISTER_TAG) - 1);
	put_u256(&k, chain_id);
	keccak256_update(&k, uh, 32);
	keccak256_update(&k, nonce, 32);
	keccak256_update(&k, worker, 20);
	keccak256_final(&k, out);
}

static void task_auth_hash(const char *tag, uint64_t chain_id, const uint8_t taskid[32],
                           const uint8_t who[20], uint64_t expiry, uint8_t out[32])
{
	struct keccak256 k;
	uint8_t e[8];
	for (int i = 0; i < 8; i++)
		e[7 - i] = (uint8_t)(expiry >> (8 * i));
	keccak256_init(&k);
	keccak256_update(&k, tag, strlen(tag));
	put_u256(&k, chain_id);
	keccak256_update(&k, taskid, 32);
	keccak256_update(&k, who, 20);
	keccak256_update(&k, e, sizeof(e));
	keccak256_final(&k, out);
}

void proto_result_download_hash(uint64_t chain_id, const uint8_t taskid[32],
                                const uint8_t beneficiary[20], uint64_t expiry, uint8_t out[32])
{
	task_auth_hash(PROTO_RESULT_DOWNLOAD_TAG, chain_id, taskid, beneficiary, expiry, out);
}

void proto_task_logs_hash(uint64_t chain_id, const uint8_t taskid[32], const uint8_t requester[20],
                          uint64_t expiry, uint8_t out[32])
{
	task_auth_hash(PROTO_TASK_LOGS_TAG, chain_id, taskid, requester, expiry, out);
}

void proto_task_reassign_hash(uint64_t chain_id, const uint8_t taskid[32], const uint8_t lost[20],
                              const uint8_t next[20], uint8_t out[32])
{
	struct keccak256 k;
	keccak256_init(&k);
	keccak256_update(&k, PROTO_TASK_REASSIGN_TAG, sizeof(PROTO_TASK_REASSIGN_TAG) - 1);
	put_u256(&k, chain_id);
	keccak256_update(&k, taskid, 32);
	keccak256_update(&k, lost, 20);
	keccak256_update(&k, next, 20);
	keccak256_final(&k, out);
}

void proto_pool_admin_hash(uint64_t chain_id, const uint8_t workerpool[20], const char *method,
                           const char *path, uint64_t at, uint8_t out[32])
{
	struct keccak256 k;
	uint8_t rh[32], t[8];
	keccak256_init(&k);
	keccak256_update(&k, method, strlen(method));
	keccak256_update(&k, " ", 1);
	keccak256_update(&k, path, strlen(path));
	keccak256_final(&k, rh);
	for (int i = 0; i < 8; i++)
		t[7 - i] = (uint8_t)(at >> (8 * i));
	keccak256_init(&k);
	keccak256_update(&k, PROTO_POOL_ADMIN_TAG, sizeof(PROTO_POOL_ADMIN_TAG) - 1);
	put_u256(&k, chain_id);
	keccak256_update(&k, workerpool, 20);
	keccak256_update(&k, rh, 32);
	keccak256_update(&k, t, sizeof(t));
	keccak256_final(&k, out);
}

int proto_expiry_check(uint64_t expiry, uint64_t now, uint64_t max_ahead)
{
	ENSURE(expiry >= now, ERR_VERIFY, "authorization expired");
	ENSURE(expiry - now <= max_ahead, ERR_VERIFY, "authorization expiry more than %llu s ahead",
	       (unsigned long long)max_ahead);
	return 0;
}

void proto_worker_report_data(const uint8_t nonce[32], const uint8_t worker[20], uint8_t out[64])
{
	uint8_t buf[sizeof(WORKER_RD_TAG) - 1 + 32 + 20];
	memcpy(buf, WORKER_RD_TAG, sizeof(WORKER_RD_TAG) - 1);
	memcpy(buf + 16, nonce, 32);
	memcpy(buf + 48, worker, 20);
	SHA512(buf, sizeof(buf), out);
}

void proto_session_report_data(const uint8_t nonce[32], const uint8_t taskid[32],
                               const uint8_t digest[32], const uint8_t epk[32], uint8_t out[64])
{
	uint8_t buf[sizeof(SESSION_RD_TAG) - 1 + 4 * 32], *p = buf;
	memcpy(p, SESSION_RD_TAG, sizeof(SESSION_RD_TAG) - 1);
	p += sizeof(SESSION_RD_TAG) - 1;
	memcpy(p, nonce, 32);
	memcpy(p + 32, taskid, 32);
	memcpy(p + 64, digest, 32);
	memcpy(p + 96, epk, 32);
	SHA512(buf, sizeof(buf), out);
}

int proto_ratls_report_data(const uint8_t *spki, size_t spki_len, const uint8_t config_hash[32],
                            uint8_t out[64])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, EVP_sha512(), NULL) == 1 &&
	         EVP_DigestUpdate(c, RATLS_RD_TAG, sizeof(RATLS_RD_TAG) - 1) == 1 &&
	         EVP_DigestUpdate(c, config_hash, 32) == 1 &&
	         EVP_DigestUpdate(c, spki, spki_len) == 1 && EVP_DigestFinal_ex(c, out, NULL) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : err_set(ERR_CRYPTO, "ratls: SHA-512 failed");
}
