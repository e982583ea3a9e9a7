/* proto.h — tdexec's own wire formats: the messages tdexec's parties sign
 * and the REPORTDATA its TDs put in their quotes, in one place so that no
 * service includes another's header (iExec's formats live in lib/poco and
 * services/sms, byte-exact, and are not here).
 *
 * Every signed message hashes its purpose tag first, so a signature made
 * for one purpose never verifies for another, whatever bytes a counterparty
 * chose for the fields.  An authorization also carries an expiry (unix
 * seconds) and is refused after it.  The digests below are what is signed
 * as an EIP-191 personal message of 32 bytes (eip191_sign32). */
#ifndef TDEXEC_PROTO_H
#define TDEXEC_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define PROTO_WORKER_REGISTER_TAG "tdexec/worker-register/v1"
#define PROTO_RESULT_DOWNLOAD_TAG "tdexec/result-download/v1"
#define PROTO_TASK_REASSIGN_TAG   "tdexec/task-reassign/v1"
#define PROTO_TASK_LOGS_TAG       "tdexec/task-logs/v1"
#define PROTO_POOL_ADMIN_TAG      "tdexec/pool-admin/v1"

/* How far ahead of now a server accepts an authorization's expiry; the
 * client picks now + PROTO_EXPIRY_DEFAULT. */
#define PROTO_EXPIRY_MAX_AHEAD 3600
#define PROTO_EXPIRY_DEFAULT   300

/* The SMS's attestation receipts (GET /tasks/{id}/attestation), bounded so
 * that the scheduler's proxy and task verify can take any answer: the
 * attest body (a quote with its certificates, and the runtime log, ~170
 * bytes a task: room for some 12,000) is capped, and so is the log kept in
 * a receipt, which holds no control character but tab, CR and LF (a JSON
 * lines log), so that its JSON string is at most twice its length.  A
 * receipt is then the quote in base64 (4/3), the log escaped (2x), and
 * under 128 KiB of other fields (the EAR token under 64 KiB among them). */
#define PROTO_ATTEST_BODY_MAX (2u << 20)
#define PROTO_RECEIPT_LOG_MAX PROTO_ATTEST_BODY_MAX
#define PROTO_RECEIPT_JSON_MAX                                                                     \
	(PROTO_ATTEST_BODY_MAX / 3u * 4u + 4u + 2u * PROTO_RECEIPT_LOG_MAX + (128u << 10))
/* a task's session is released to at most this many workers in all */
#define PROTO_MAX_RELEASES 3u
#define PROTO_RECEIPTS_MAX (PROTO_MAX_RELEASES * PROTO_RECEIPT_JSON_MAX + (4u << 10))

/* A worker's registration with a scheduler:
 * keccak256(tag || chainId (uint256) || keccak256(scheduler URL) || nonce
 *           || worker address).
 * url is the scheduler's base URL as the worker reaches it (the
 * scheduler's public URL); nonce is the scheduler's challenge. */
void proto_worker_register_hash(uint64_t chain_id, const char *url, const uint8_t nonce[32],
                                const uint8_t worker[20], uint8_t out[32]);

/* A beneficiary's authorization to download a task's result, valid until
 * expiry: keccak256(tag || chainId (uint256) || taskId || beneficiary
 *                   || expiry (uint64, big-endian)). */
void proto_result_download_hash(uint64_t chain_id, const uint8_t taskid[32],
                                const uint8_t beneficiary[20], uint64_t expiry, uint8_t out[32]);

/* A requester's authorization to read the app's stderr tail of a task
 * (iexec_developer_logger), valid until expiry: the same layout as the
 * download's with its own tag and the deal's requester. */
void proto_task_logs_hash(uint64_t chain_id, const uint8_t taskid[32], const uint8_t requester[20],
                          uint64_t expiry, uint8_t out[32]);

/* The workerpool owner's word that a TEE task's worker is lost and the
 * task goes to another, so the SMS may release its session once more:
 * keccak256(tag || chainId (uint256) || taskId || lost worker || next worker).
 * It needs no expiry of its own: a session is never released after the
 * task's final deadline. */
void proto_task_reassign_hash(uint64_t chain_id, const uint8_t taskid[32], const uint8_t lost[20],
                              const uint8_t next[20], uint8_t out[32]);

/* The workerpool owner's request to a scheduler's admin endpoints (GET
 * /workers, /stats, the /tasks listing), made at unix time `at`:
 * keccak256(tag || chainId (uint256) || workerpool || keccak256(method ||
 *           " " || path) || at (uint64, big-endian)).
 * path is the request's path without its query.  A scheduler takes it
 * within PROTO_ADMIN_SKEW seconds of its clock, once. */
#define PROTO_ADMIN_SKEW 300
void proto_pool_admin_hash(uint64_t chain_id, const uint8_t workerpool[20], const char *method,
                           const char *path, uint64_t at, uint8_t out[32]);

/* 0 when now <= expiry <= now + max_ahead; else ERR_VERIFY with a message
 * ("authorization expired", "... too far ahead"). */
MUST_CHECK int proto_expiry_check(uint64_t expiry, uint64_t now, uint64_t max_ahead);

/* REPORTDATA of a registering worker's quote:
 * SHA-512("tdexec-worker-v1" || nonce || worker address). */
void proto_worker_report_data(const uint8_t nonce[32], const uint8_t worker[20], uint8_t out[64]);

/* REPORTDATA a TD puts in its quote to be given its task session:
 * SHA-512("tdexec-session-v1" || nonce || taskid || app digest || X25519 key). */
void proto_session_report_data(const uint8_t nonce[32], const uint8_t taskid[32],
                               const uint8_t digest[32], const uint8_t epk[32], uint8_t out[64]);
/* The label the session is sealed under (crypto/aead.h seal_to). */
#define PROTO_SESSION_LABEL "tdexec session v1"

/* REPORTDATA of an RA-TLS certificate's quote (tdx/ratls.h):
 * SHA-512("tdexec-ratls-v1" || config_hash || SubjectPublicKeyInfo DER),
 * config_hash = SHA-256 of the configuration document the certificate
 * carries.  The one variable-length field comes last, so no two inputs
 * share a preimage.  0, or ERR_CRYPTO. */
int proto_ratls_report_data(const uint8_t *spki, size_t spki_len, const uint8_t config_hash[32],
                            uint8_t out[64]);

/* The "format" of the SMS's configuration document, the one its RA-TLS
 * certificate carries (services/sms, sms_config_document). */
#define PROTO_SMS_CONFIG_FORMAT "tdexec/sms-config/v1"

#endif
