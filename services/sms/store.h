/* store.h — the SMS's secrets at rest: one SQLite row per secret, the value
 * sealed with AES-256-GCM under the master key, the AAD binding the
 * record's kind, owner and name (a row copied under another owner or name
 * does not open). */
#ifndef TDEXEC_SMS_STORE_H
#define TDEXEC_SMS_STORE_H

#include "store/db.h"

#include <jansson.h>
#include <pthread.h>
#include <sys/types.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Task sessions (id: 32 hex digits). */
struct sms_session {
	char taskid[67], worker[43], dealid[67];
	uint64_t idx, deadline;
	int released;
	char replaces[43]; /* the lost worker this session takes over from; "" when none */
};

/* In-memory caches of what every release reads: sessions, and secret rows
 * as stored (sealed: decrypted at each sms_store_get, as before).  Bounded
 * (direct-mapped) and coherent: every write path of this file updates or
 * drops the entries it changes once its transaction committed, and a fill
 * that raced a write is discarded (each slot's gen, bumped by every
 * update or drop of the slot).  They can be trusted because one
 * process at a time has the store open (DB-lock, exclusive). */
#define SMS_SESSION_SLOTS    16384
#define SMS_SECRET_SLOTS     16384
#define SMS_SECRET_WAYS      4
#define SMS_SECRET_CACHE_MAX 4096 /* larger sealed rows are read each time */
struct sms_cached_session {
	char id[33]; /* "" when free */
	struct sms_session s;
	uint64_t gen;
};
struct sms_cached_secret {
	char *key; /* kind, owner, name NUL-separated; NULL when free */
	size_t klen;
	uint8_t *sealed; /* nonce then ciphertext */
	uint64_t gen;    /* the set's, in its first slot */
	uint64_t used;   /* secret_clock at the last use */
	size_t len;
};

/* Thread-safe: the functions below take the store's lock, so the one
 * SQLite connection never interleaves two callers' transactions. */
struct sms_store {
	sqlite3 *db;  /* writes, under mu */
	sqlite3 *rdb; /* reads, under rmu: never behind a commit's fsync (WAL) */
	uint8_t master[32];
	pthread_mutex_t mu; /* recursive */
	pthread_mutex_t rmu;
	struct db_stmts wst, rst; /* prepared once per connection */
	int lock_fd;              /* DB-lock (flock of the database); -1: sms check */
	dev_t lock_dev;
	ino_t lock_ino;
	/* releases waiting for a group commit, and the thread that commits
	 * them (sms_store_release_queue) */
	pthread_mutex_t gmu;
	pthread_cond_t gcv, gdone; /* gdone: for callers that wait */
	struct sms_release *gqueue, **gtail;
	pthread_t gthread;
	int gstarted, gstop;
	int gcoming; /* releases announced (sms_store_release_coming) */
	unsigned long ggroups, greleases, gpending;
	pthread_mutex_t cmu; /* the caches */
	struct sms_cached_session *sessions;
	struct sms_cached_secret *secrets;
	unsigned long session_hits, session_misses, secret_hits, secret_misses;
	uint64_t secret_clock;
	/* WAL checkpoints, by a thread of their own on its own connection */
	sqlite3 *cdb;
	pthread_t ckpt;
	pthread_mutex_t kmu, ckmu; /* ckmu: one checkpoint call at a time */
	pthread_cond_t kcv;
	int ckpt_started, ckpt_stop, ckpt_want, ckpt_at;
	int wal_frames, restart_at; /* the writer's (wal hook, under mu) */
	unsigned long checkpoints;
};

/* The WAL is checkpointed (PASSIVE: writers go on) by a background thread
 * once it holds SMS_WAL_CHECKPOINT_FRAMES frames (then every half of
 * that), not by the commit that crossed SQLite's 1,000-frame default; a
 * commit that finds it at
 * SMS_WAL_MAX_FRAMES (the thread fell behind) checkpoints itself, without
 * waiting, so the WAL stays under ~SMS_WAL_MAX_FRAMES pages unless a reader
 * holds an old snapshot (then it grows until the reader leaves). */
#define SMS_WAL_CHECKPOINT_FRAMES 2000
#define SMS_WAL_MAX_FRAMES        8000
/* A RESTART that found a reader (it does not wait for one: busy timeout 0)
 * is tried again this many frames later. */
#define SMS_WAL_RETRY_FRAMES 1000
/* After a WAL that outgrew it (a long reader) starts over, its file is cut
 * back to this size (journal_size_limit); the usual WAL stays under it. */
#define SMS_WAL_SIZE_LIMIT 16777216
/* The write connection's wait for SQLite locks (db_open's). */
#define SMS_BUSY_TIMEOUT_MS 5000

/* How long an SMS starting waits for another process to let the store go
 * (e.g. the previous SMS still stopping). */
#define SMS_LOCK_WAIT_MS 5000

/* Load (or create, 0600) the master key and open the database.  One
 * process at a time (the database file's inode, whatever the path it is
 * reached by): ERR_BUSY when another has had the store open for
 * SMS_LOCK_WAIT_MS (a running SMS, ear-rotate, a rekey), at once when this
 * process has. */
int sms_store_open(struct sms_store *st, const char *db_path, const char *master_key_path);
/* The same, the key from a file or from a command's output (64 hex digits,
 * e.g. a KMS client), exactly one of them.  A key that does not open the
 * store's existing records is refused (ERR_VERIFY), before any use. */
int sms_store_open2(struct sms_store *st, const char *db_path, const char *master_key_path,
                    const char *master_key_command);
enum sms_open_mode {
	SMS_OPEN_WAIT = 1, /* sms_store_open2's */
	SMS_OPEN_NOWAIT,   /* ERR_BUSY at once (sms ear-rotate) */
	/* No DB-lock, nothing written (the check value neither), no
	 * checkpoints: for sms_store_check while an SMS may run.  Only reads
	 * that bypass the caches: sms_store_check. */
	SMS_OPEN_CHECK,
};
int sms_store_open_mode(struct sms_store *st, const char *db_path, const char *master_key_path,
                        const char *master_key_command, enum sms_open_mode mode);
void sms_store_close(struct sms_store *st);
/* Drop the caches: for writes made behind the store's back on its own
 * connections (tests, repairs). */
void sms_store_cache_clear(struct sms_store *st);

/* 1 present, 0 absent, negative on error. */
int sms_store_exists(struct sms_store *st, const char *kind, const char *owner, const char *name);
/* update = 0: insert (ERR_BUSY "exists" when present); 1: replace. */
int sms_store_put(struct sms_store *st, const char *kind, const char *owner, const char *name,
                  const uint8_t *value, size_t len, int update);

/* A secret write authorized by a signature, decided and written in one
 * transaction.  sig_id identifies the signature (a hash of its canonical
 * bytes); the store keeps every sig_id it wrote with, and its kind, owner
 * and name, so that a signature authorizes one write only (iExec's
 * challenge has no nonce).  The verdict: */
enum sms_put_verdict {
	SMS_PUT_WRITTEN,   /* stored, the signature consumed */
	SMS_PUT_UNCHANGED, /* update = 1 with the value held, by a signature not
			    * consumed for another secret: nothing rewritten (the
			    * signature recorded if it was not) */
	SMS_PUT_EXISTS,    /* update = 0 and the secret is present: nothing written */
	SMS_PUT_ABSENT,    /* update = 1 and the secret is absent: nothing written */
	SMS_PUT_REPLAYED,  /* the signature was consumed before (under used_kind),
			    * for another secret or another value: nothing written */
};
/* 0 with *verdict set (used_kind: the kind the signature was consumed
 * under, "" when never); negative on a store error (nothing written). */
int sms_store_put_signed(struct sms_store *st, const char *kind, const char *owner,
                         const char *name, const uint8_t *value, size_t len, int update,
                         const uint8_t sig_id[32], enum sms_put_verdict *verdict,
                         char used_kind[16]);
/* The decrypted value (free() after OPENSSL_cleanse); ERR_NOTFOUND when
 * absent, ERR_VERIFY when the record does not authenticate. */
int sms_store_get(struct sms_store *st, const char *kind, const char *owner, const char *name,
                  uint8_t **value, size_t *len);

/* A task's session may be released to SMS_MAX_RELEASES workers in all: the
 * first, then each one the workerpool owner reassigns the task to. */
#define SMS_MAX_RELEASES 3
/* replaces: NULL, or the worker the workerpool owner declared lost when it
 * reassigned the task to this session's worker.  A worker has one session
 * per task: when it has an open one, its id replaces `id` (and replaces, if
 * given, is recorded on it); ERR_VERIFY when the task's session was
 * released to it already; ERR_BUSY when SMS_SESSIONS_PER_TASK workers have
 * sessions for the task already. */
#define SMS_SESSIONS_PER_TASK 16
int sms_store_session_add(struct sms_store *st, char id[33], const char *taskid, const char *worker,
                          const uint8_t dealid[32], uint64_t idx, uint64_t deadline,
                          const char *replaces);
int sms_store_session_get(struct sms_store *st, const char *id, struct sms_session *out);
/* What a release shows anyone afterwards (GET /tasks/{id}/attestation): the
 * quote and what it was checked with.  Nothing in it is secret.  Hex is
 * lower case without 0x unless said; strings NULL where optional. */
struct sms_receipt {
	const char *taskid, *worker; /* 0x hex */
	int64_t time;                /* Unix seconds; 0: the store's clock */
	const uint8_t *quote;
	size_t quote_len;
	/* the parsed quote's PCK chain length when the chain ends the quote
	 * (the caller parsed it); 0: the store parses the quote itself */
	size_t pck_chain_len;
	char quote_sha256[65];
	char mrtd[97], rtmr[4][97];
	const char *tcb_status; /* tdx_tcb_status_name */
	int simulated;          /* verified against a simulated root */
	/* the collateral the verdict rests on (struct tdx_verdict) */
	char fmspc[13];
	int64_t tcb_info_issue_date, qe_identity_issue_date;
	int tcb_eval_number, qe_eval_number;
	char pck_crl_sha256[65], root_ca_crl_sha256[65];
	const char *event_log; /* the JSON lines replayed to RTMR3; NULL: none */
	/* SHA-256 of the pool policy in effect (tdx_policy_to_json, compact,
	 * sorted keys) and of the app's own TDX policy from its mrenclave
	 * ("" when the app has none) */
	char policy_sha256[65], app_policy_sha256[65];
	char app_digest[65];        /* the image digest REPORTDATA binds */
	char public_key[65];        /* the session key (X25519) */
	char nonce[65];             /* the SMS's nonce */
	char enclave_challenge[43]; /* 0x address of the task's challenge key */
	const char *ear;            /* an attestation-result token; NULL: none */
};
/* Mark session `id` released and append its receipt, in one transaction
 * (the receipt names the worker the session replaces; the releases table
 * of migration 2 keeps the releases before migration 7, and the view
 * release_history lists all: time, session, taskid, worker, replaces).
 * The quote's PCK certificate chain is stored once per distinct chain;
 * sms_store_receipts() serves the quote whole.  ERR_BUSY when this session was
 * released already, or another of its task was and this one is not a
 * reassignment to a new worker within SMS_MAX_RELEASES. */
int sms_store_session_release(struct sms_store *st, const char *id, const struct sms_receipt *r);
/* The same without waiting: `rel` (id, r, done set by the caller) joins
 * the next group, and once the group's commit returned (durable) or the
 * release was refused, the store's commit thread calls done(rel) with
 * rel->rc 0 or the refusal's code and rel->msg its message.  rel, and what
 * id and r point to, must stay until then; done may free them.  ERR_BUSY
 * when the store is closing or SMS_PENDING_MAX releases are pending (what
 * each holds, its quote and event log, stays bounded while commits lag);
 * done is then never called. */
#define SMS_PENDING_MAX 256
struct sms_release {
	const char *id;
	const struct sms_receipt *r;
	void (*done)(struct sms_release *rel);
	int rc;
	char msg[256];
	struct sms_release *next; /* the store's */
};
MUST_CHECK int sms_store_release_queue(struct sms_store *st, struct sms_release *rel);
/* Commit the releases queued, refuse later ones (ERR_BUSY) and stop the
 * commit thread: before the server whose requests wait is stopped.
 * sms_store_close() does it too. */
void sms_store_release_drain(struct sms_store *st);
/* A release on its way: its quote verified, its session being sealed.
 * The commit thread waits for the releases announced, at most
 * SMS_GROUP_WAIT_US, so that they share its commit (its fsync).  coming 1
 * announces one; queueing the release takes the announcement back,
 * and coming 0 does when the release will not come (a failure). */
#define SMS_GROUP_WAIT_US 1000
void sms_store_release_coming(struct sms_store *st, int coming);
/* Releases that overlap are committed together, one transaction and one
 * fsync for the group (synchronous=FULL in WAL mode), each under its own
 * savepoint: one refused leaves the others' rows.  Each call returns once
 * its group is durable.  How many groups and releases were committed so
 * far (releases / groups: the mean group): */
void sms_store_release_stats(struct sms_store *st, unsigned long *groups, unsigned long *releases);
/* Releases queued or being committed. */
unsigned long sms_store_releases_pending(struct sms_store *st);

/* The receipts of a task (0x hex), oldest first, as a JSON array (new
 * reference in *out) of the objects GET /tasks/{id}/attestation serves.
 * At most `max` receipts; ERR_NOTFOUND when the task has none. */
int sms_store_receipts(struct sms_store *st, const char *taskid, size_t max, json_t **out);

/* How many secrets of each kind are stored: counts[i] for kinds[i] (a
 * NULL-terminated list; kinds not listed are not counted). */
int sms_store_count_secrets(struct sms_store *st, const char *const *kinds, double *counts);

/* Delete the challenges whose final deadline is before now; how many. */
int sms_store_purge_challenges(struct sms_store *st, long now);

/* Offline check: SQLite's integrity_check, then every record must
 * authenticate under the master key.  *total and *bad count records; a
 * non-zero *bad (or a damaged database) returns ERR_VERIFY. */
int sms_store_check(struct sms_store *st, long *total, long *bad);

/* Master key rotation, offline: every record (and the check value) is
 * re-encrypted under the new key in one transaction, so the store is under
 * the old key or the new one, never both.  Keys from a file (the new one is
 * created, 0600, when absent) or a command, as for sms_store_open2.  Refused
 * (ERR_BUSY) while an SMS has the store open, and when a record does not
 * authenticate under the old key (nothing is changed then).  *count gets the
 * number of records re-encrypted. */
int sms_store_rekey(const char *db_path, const char *old_path, const char *old_command,
                    const char *new_path, const char *new_command, long *count);

#endif
