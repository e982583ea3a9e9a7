#include "store.h"

#include "crypto/aead.h"
#include "store/db.h"
#include "tdx/quote.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"
#include "util/timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const migrations[] = {
    "CREATE TABLE secrets ("
    "  kind TEXT NOT NULL,"  /* web2 | web3 | app | requester */
    "  owner TEXT NOT NULL," /* lower-case 0x address */
    "  name TEXT NOT NULL,"
    "  nonce BLOB NOT NULL,"
    "  ciphertext BLOB NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, owner, name));",
    /* 2: task sessions, released at most once each */
    "CREATE TABLE sessions ("
    "  id TEXT PRIMARY KEY,"
    "  taskid TEXT NOT NULL,"
    "  worker TEXT NOT NULL,"
    "  dealid TEXT NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  deadline INTEGER NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  released INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX sessions_task ON sessions(taskid);"
    /* a task's session is released once */
    "CREATE UNIQUE INDEX sessions_released ON sessions(taskid) WHERE released = 1;"
    /* append-only audit of every release */
    "CREATE TABLE releases ("
    "  time INTEGER NOT NULL, session TEXT NOT NULL, taskid TEXT NOT NULL,"
    "  worker TEXT NOT NULL, quote_sha256 TEXT NOT NULL, mrtd TEXT NOT NULL,"
    "  rtmr0 TEXT NOT NULL, rtmr1 TEXT NOT NULL, rtmr2 TEXT NOT NULL, rtmr3 TEXT NOT NULL,"
    "  tcb_status TEXT NOT NULL, simulated INTEGER NOT NULL);"
    "CREATE TRIGGER releases_append_only BEFORE UPDATE ON releases "
    "  BEGIN SELECT RAISE(ABORT, 'releases are append-only'); END;"
    "CREATE TRIGGER releases_no_delete BEFORE DELETE ON releases "
    "  BEGIN SELECT RAISE(ABORT, 'releases are append-only'); END;",
    /* 3: a value sealed under the master key: a wrong key is refused at
	 * open, before anything is stored under it */
    "CREATE TABLE keycheck (id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  nonce BLOB NOT NULL, ciphertext BLOB NOT NULL);",
    /* 4: every signature that authorized a secret write, so that none
	 * authorizes a second one (iExec's challenge has no nonce): keyed by
	 * a hash of the signature, with the kind and the secret it wrote */
    "CREATE TABLE consumed_signatures ("
    "  sig BLOB PRIMARY KEY CHECK (length(sig) = 32),"
    "  kind TEXT NOT NULL,"
    "  owner TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  time INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TRIGGER consumed_signatures_no_update BEFORE UPDATE ON consumed_signatures "
    "  BEGIN SELECT RAISE(ABORT, 'consumed signatures are append-only'); END;"
    "CREATE TRIGGER consumed_signatures_no_delete BEFORE DELETE ON consumed_signatures "
    "  BEGIN SELECT RAISE(ABORT, 'consumed signatures are append-only'); END;",
    /* 5: a task's session may be released again, to another worker, when
	 * the workerpool owner reassigns the task from the worker it was last
	 * released to (that worker lost); the rule moves from an index to the
	 * release transaction, which sees the whole history */
    "ALTER TABLE sessions ADD COLUMN replaces TEXT;"
    "DROP INDEX sessions_released;"
    "ALTER TABLE releases ADD COLUMN replaces TEXT;",
    /* 6: a receipt per release, public and append-only: the quote and what
	 * it was checked with, so that anyone can check the task afterwards */
    "CREATE TABLE receipts ("
    "  id INTEGER PRIMARY KEY,"
    "  time INTEGER NOT NULL, session TEXT NOT NULL, taskid TEXT NOT NULL,"
    "  worker TEXT NOT NULL, quote BLOB NOT NULL, quote_sha256 TEXT NOT NULL,"
    "  mrtd TEXT NOT NULL, rtmr0 TEXT NOT NULL, rtmr1 TEXT NOT NULL, rtmr2 TEXT NOT NULL,"
    "  rtmr3 TEXT NOT NULL, tcb_status TEXT NOT NULL, simulated INTEGER NOT NULL,"
    "  fmspc TEXT NOT NULL, tcb_info_issue_date INTEGER NOT NULL,"
    "  tcb_eval_number INTEGER NOT NULL, qe_identity_issue_date INTEGER NOT NULL,"
    "  qe_eval_number INTEGER NOT NULL, pck_crl_sha256 TEXT NOT NULL,"
    "  root_ca_crl_sha256 TEXT NOT NULL, event_log TEXT, policy_sha256 TEXT NOT NULL,"
    "  app_policy_sha256 TEXT NOT NULL, app_digest TEXT NOT NULL, public_key TEXT NOT NULL,"
    "  nonce TEXT NOT NULL, enclave_challenge TEXT NOT NULL, ear TEXT);"
    "CREATE INDEX receipts_task ON receipts(taskid);"
    "CREATE TRIGGER receipts_append_only BEFORE UPDATE ON receipts "
    "  BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;"
    "CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts "
    "  BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;",
    /* 7: fewer pages per release.  A quote ends with its platform's PCK
	 * certificate chain (PEM, ~3.5 KB), the same in every quote of the
	 * platform: a receipt keeps the quote up to it and refers to the
	 * chain, stored once (quote_tails; a receipt without one keeps its
	 * whole quote, as before).  The receipt records the worker it took
	 * over from, so that the releases audit row, which repeated the
	 * receipt's columns, is no longer written: the table keeps the
	 * releases before this migration, and release_history shows them all. */
    "CREATE TABLE quote_tails ("
    "  id INTEGER PRIMARY KEY,"
    "  sha256 BLOB NOT NULL UNIQUE CHECK (length(sha256) = 32),"
    "  tail BLOB NOT NULL);"
    "CREATE TRIGGER quote_tails_append_only BEFORE UPDATE ON quote_tails "
    "  BEGIN SELECT RAISE(ABORT, 'quote tails are append-only'); END;"
    "CREATE TRIGGER quote_tails_no_delete BEFORE DELETE ON quote_tails "
    "  BEGIN SELECT RAISE(ABORT, 'quote tails are append-only'); END;"
    "ALTER TABLE receipts ADD COLUMN quote_tail INTEGER REFERENCES quote_tails(id);"
    "ALTER TABLE receipts ADD COLUMN replaces TEXT;"
    "CREATE VIEW release_history AS"
    "  SELECT time, session, taskid, worker, replaces FROM releases"
    "  UNION ALL SELECT time, session, taskid, worker, replaces FROM receipts"
    "  WHERE session NOT IN (SELECT session FROM releases);",
    NULL,
};

#define KEYCHECK_AAD "tdexec-sms-keycheck/v1"

/* ---------- master key ---------- */

static int load_master(const char *path, uint8_t key[32])
{
	struct stat st;
	uint8_t *buf;
	size_t len;
	int rc;

	if (stat(path, &st) != 0 && errno == ENOENT) {
		char hex[65];
		ENSURE(RAND_bytes(key, 32) == 1, ERR_CRYPTO, "RAND_bytes failed");
		hex_encode(hex, key, 32);
		rc = file_write(path, hex, 64, 0600);
		OPENSSL_cleanse(hex, sizeof(hex));
		if (rc == 0)
			log_warn("sms.master_key", "created=\"%s\"", path);
		return rc;
	}
	ENSURE(stat(path, &st) == 0, ERR_IO, "%s: %s", path, strerror(errno));
	ENSURE((st.st_mode & 077) == 0, ERR_INVAL,
	       "master key %s is readable by others (mode %03o): chmod 600 it", path,
	       st.st_mode & 0777);
	GUARD(file_read(path, 256, &buf, &len));
	while (len && isspace(buf[len - 1]))
		buf[--len] = '\0';
	rc = hex_decode_exact(key, 32, (char *)buf, "master key");
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

static int store_get(struct sms_store *s, const char *kind, const char *owner, const char *name,
                     uint8_t **value, size_t *len);

/* The master key from a command's standard output (64 hex digits), e.g. a
 * KMS or secret store client; it must exit 0. */
static int master_from_command(const char *cmd, uint8_t key[32])
{
	char buf[256];
	size_t len = 0, n;
	int status, rc;
	FILE *f = popen(cmd, "r");

	ENSURE(f, ERR_IO, "master key command: %s", strerror(errno));
	while (len < sizeof(buf) - 1 && (n = fread(buf + len, 1, sizeof(buf) - 1 - len, f)) > 0)
		len += n;
	while (fgetc(f) != EOF) /* the rest is not a key: drain it */
		len = sizeof(buf);
	status = pclose(f);
	if (status != 0 || len >= sizeof(buf) - 1) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return err_set(ERR_IO, "master key command %s",
		               status != 0 ? "failed (non-zero exit)" : "printed too much");
	}
	buf[len] = '\0';
	while (len && isspace((unsigned char)buf[len - 1]))
		buf[--len] = '\0';
	rc = hex_decode_exact(key, 32, buf, "master key from the command");
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* The check value, sealed under the store's current key. */
static int keycheck_write(struct sms_store *s)
{
	uint8_t nonce[AEAD_NONCE], ct[AEAD_TAG + 16], pt[16] = {0};
	sqlite3_stmt *st;
	int rc;

	ENSURE(RAND_bytes(nonce, sizeof(nonce)) == 1, ERR_CRYPTO, "RAND_bytes failed");
	GUARD(aes256gcm_seal(s->master, nonce, (const uint8_t *)KEYCHECK_AAD, strlen(KEYCHECK_AAD),
	                     pt, sizeof(pt), ct));
	GUARD(
	    db_prepare(s->db, "INSERT INTO keycheck(id, nonce, ciphertext) VALUES(1, ?, ?)", &st));
	sqlite3_bind_blob(st, 1, nonce, sizeof(nonce), SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, ct, sizeof(ct), SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE
	         ? 0
	         : err_set(ERR_IO, "database: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return rc;
}

/* The store and the key belong together: the key opens the check value
 * (or, in a store from before it, a secret, then the value is written
 * when `write`), else the store is refused. */
static int key_check(struct sms_store *s, int write)
{
	sqlite3_stmt *st;
	uint8_t nonce[AEAD_NONCE], ct[AEAD_TAG + 16], pt[16] = {0};
	int rc = 0, found;

	GUARD(db_prepare(s->db, "SELECT nonce, ciphertext FROM keycheck WHERE id = 1", &st));
	found = sqlite3_step(st) == SQLITE_ROW;
	if (found) {
		int ok = sqlite3_column_bytes(st, 0) == AEAD_NONCE &&
		         sqlite3_column_bytes(st, 1) == (int)sizeof(ct);
		if (ok) {
			memcpy(nonce, sqlite3_column_blob(st, 0), AEAD_NONCE);
			memcpy(ct, sqlite3_column_blob(st, 1), sizeof(ct));
		}
		rc = ok && aes256gcm_open(s->master, nonce, (const uint8_t *)KEYCHECK_AAD,
		                          strlen(KEYCHECK_AAD), ct, sizeof(ct), pt) == 0
		         ? 0
		         : ERR_VERIFY;
	}
	sqlite3_finalize(st);
	if (found)
		return rc < 0 ? err_set(ERR_VERIFY, "the master key does not open this store "
		                                    "(another key, or a replaced key file?)")
		              : 0;
	/* a store from before the check: its first secret must open */
	GUARD(db_prepare(s->db, "SELECT kind, owner, name FROM secrets LIMIT 1", &st));
	if (sqlite3_step(st) == SQLITE_ROW) {
		uint8_t *v;
		size_t n;
		char k[64], o[64], nm[256];
		snprintf(k, sizeof(k), "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(o, sizeof(o), "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(nm, sizeof(nm), "%s", (const char *)sqlite3_column_text(st, 2));
		sqlite3_finalize(st);
		if (store_get(s, k, o, nm, &v, &n) < 0)
			return err_set(ERR_VERIFY,
			               "the master key does not open this store's "
			               "secrets (another key, or a replaced key file?)");
		OPENSSL_cleanse(v, n);
		free(v);
	} else {
		sqlite3_finalize(st);
	}
	return write ? keycheck_write(s) : 0; /* sms check writes nothing */
}

static void aad_of(char *out, size_t cap, const char *kind, const char *owner, const char *name)
{
	snprintf(out, cap, "tdexec-sms-secret/v1|%s|%s|%s", kind, owner, name);
}

/* ---------- caches (struct sms_store) ---------- */

static size_t slot_of(const void *key, size_t len, size_t slots)
{
	const uint8_t *k = key;
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ k[i]) * 1099511628211ULL;
	return (size_t)(h % slots);
}

static void secret_slot_free(struct sms_cached_secret *c)
{
	free(c->key);
	if (c->sealed)
		OPENSSL_cleanse(c->sealed, c->len);
	free(c->sealed);
	uint64_t gen = c->gen;
	memset(c, 0, sizeof(*c));
	c->gen = gen + 1; /* a fill that read before this drop is discarded */
}

void sms_store_cache_clear(struct sms_store *s)
{
	pthread_mutex_lock(&s->cmu);
	for (size_t i = 0; s->sessions && i < SMS_SESSION_SLOTS; i++) {
		s->sessions[i].id[0] = '\0';
		s->sessions[i].gen++;
	}
	for (size_t i = 0; s->secrets && i < SMS_SECRET_SLOTS; i++)
		secret_slot_free(&s->secrets[i]);
	pthread_mutex_unlock(&s->cmu);
}

/* 1 and *out when session `id` is cached; 0 and *gen (for
 * session_cache_fill) when not. */
static int session_cached(struct sms_store *s, const char *id, struct sms_session *out,
                          uint64_t *gen)
{
	struct sms_cached_session *c = &s->sessions[slot_of(id, strlen(id), SMS_SESSION_SLOTS)];
	int hit;

	pthread_mutex_lock(&s->cmu);
	hit = c->id[0] && strcmp(c->id, id) == 0;
	if (hit)
		*out = c->s;
	*gen = c->gen;
	hit ? s->session_hits++ : s->session_misses++;
	pthread_mutex_unlock(&s->cmu);
	return hit;
}

/* A session read from the database, cached unless a write changed the
 * cache since `gen` was taken (the read may predate that write). */
static void session_cache_fill(struct sms_store *s, const char *id, const struct sms_session *ss,
                               uint64_t gen)
{
	struct sms_cached_session *c = &s->sessions[slot_of(id, strlen(id), SMS_SESSION_SLOTS)];

	if (strlen(id) >= sizeof(c->id))
		return;
	pthread_mutex_lock(&s->cmu);
	if (c->gen == gen) {
		snprintf(c->id, sizeof(c->id), "%s", id);
		c->s = *ss;
	}
	pthread_mutex_unlock(&s->cmu);
}

/* After a committed write of session `id`: its new state (ss), or, NULL,
 * dropped; released = 1 marks it released if cached. */
static void session_cache_write(struct sms_store *s, const char *id, const struct sms_session *ss,
                                int released)
{
	struct sms_cached_session *c = &s->sessions[slot_of(id, strlen(id), SMS_SESSION_SLOTS)];
	int mine;

	pthread_mutex_lock(&s->cmu);
	c->gen++;
	mine = c->id[0] && strcmp(c->id, id) == 0;
	if (ss && strlen(id) < sizeof(c->id)) {
		snprintf(c->id, sizeof(c->id), "%s", id);
		c->s = *ss;
	} else if (mine && released) {
		c->s.released = 1;
	} else if (mine) {
		c->id[0] = '\0';
	}
	pthread_mutex_unlock(&s->cmu);
}

/* A secret's cache key: kind, owner and name, NUL-separated (no C string
 * holds a NUL: unambiguous).  0 when too long to cache. */
static size_t secret_key(char *out, size_t cap, const char *kind, const char *owner,
                         const char *name)
{
	size_t a = strlen(kind), b = strlen(owner), c = strlen(name);
	if (a + b + c + 2 > cap)
		return 0;
	memcpy(out, kind, a + 1);
	memcpy(out + a + 1, owner, b + 1);
	memcpy(out + a + b + 2, name, c);
	return a + b + c + 2;
}

/* The secrets cache is set-associative: a key's set of SMS_SECRET_WAYS
 * slots, its generation kept in the set's first slot (a direct-mapped
 * table lost a task's challenge key to another key of the same slot, for
 * a read from the database on its release). */
static struct sms_cached_secret *secret_set(struct sms_store *s, const char *k, size_t kl)
{
	return &s->secrets[slot_of(k, kl, SMS_SECRET_SLOTS / SMS_SECRET_WAYS) * SMS_SECRET_WAYS];
}

static struct sms_cached_secret *secret_find(struct sms_cached_secret *set, const char *k,
                                             size_t kl)
{
	for (size_t i = 0; kl && i < SMS_SECRET_WAYS; i++)
		if (set[i].key && set[i].klen == kl && memcmp(set[i].key, k, kl) == 0)
			return &set[i];
	return NULL;
}

/* 1 and a copy of the sealed row (malloc'd; NULL: known absent) when
 * cached; 0 and *gen when not. */
static int secret_cached(struct sms_store *s, const char *kind, const char *owner, const char *name,
                         uint8_t **sealed, size_t *len, uint64_t *gen)
{
	char k[600];
	size_t kl = secret_key(k, sizeof(k), kind, owner, name);
	struct sms_cached_secret *set = secret_set(s, k, kl), *c;
	int hit = 0;

	pthread_mutex_lock(&s->cmu);
	*gen = set->gen;
	*sealed = NULL;
	*len = 0;
	c = secret_find(set, k, kl);
	if (c && (!c->sealed || (*sealed = malloc(c->len)) != NULL)) {
		if (c->sealed)
			memcpy(*sealed, c->sealed, c->len);
		*len = c->len;
		c->used = ++s->secret_clock;
		hit = 1;
	}
	hit ? s->secret_hits++ : s->secret_misses++;
	pthread_mutex_unlock(&s->cmu);
	return hit;
}

/* Cache a secret's sealed row (NULL: absent).  A fill (write 0) from a
 * read is kept unless a write changed the cache since `gen` was taken (the
 * read may predate it); a committed write (write 1) replaces the entry
 * with its row, or, sealed NULL, drops it. */
static void secret_cache_put(struct sms_store *s, const char *kind, const char *owner,
                             const char *name, const uint8_t *sealed, size_t len, uint64_t gen,
                             int write)
{
	char k[600];
	size_t kl = secret_key(k, sizeof(k), kind, owner, name);
	struct sms_cached_secret *set = secret_set(s, k, kl), *c;
	char *key = NULL;
	uint8_t *copy = NULL;
	int keep = kl && len <= SMS_SECRET_CACHE_MAX;

	if (keep) {
		key = malloc(kl);
		copy = sealed ? malloc(len) : NULL;
		keep = key && (copy || !sealed);
	}
	if (keep) {
		memcpy(key, k, kl);
		if (sealed)
			memcpy(copy, sealed, len);
	}
	pthread_mutex_lock(&s->cmu);
	c = secret_find(set, k, kl);
	if (write) {
		set->gen++;
		/* not kept (too large, no memory): at least not stale */
		if (c)
			secret_slot_free(c);
	}
	if (keep && (write ? sealed != NULL : set->gen == gen)) {
		if (!c) { /* a free slot, else the least recently used */
			c = set;
			for (size_t i = 0; i < SMS_SECRET_WAYS && c->key; i++)
				if (!set[i].key || set[i].used < c->used)
					c = &set[i];
		}
		secret_slot_free(c);
		c->key = key;
		c->klen = kl;
		c->sealed = copy;
		c->len = sealed ? len : 0;
		c->used = ++s->secret_clock;
		key = NULL;
		copy = NULL;
	}
	pthread_mutex_unlock(&s->cmu);
	free(key);
	if (copy)
		OPENSSL_cleanse(copy, len);
	free(copy);
}

/* After a committed write of secrets that may change any: all dropped. */
static void secret_cache_drop(struct sms_store *s)
{
	pthread_mutex_lock(&s->cmu);
	for (size_t i = 0; i < SMS_SECRET_SLOTS; i++)
		secret_slot_free(&s->secrets[i]);
	pthread_mutex_unlock(&s->cmu);
}

/* 1 present, 0 absent, on connection db (its statements c). */
static int row_exists(sqlite3 *db, struct db_stmts *c, const char *kind, const char *owner,
                      const char *name)
{
	sqlite3_stmt *st;
	int found;
	if (db_stmt(db, c, "SELECT 1 FROM secrets WHERE kind=? AND owner=? AND name=?", &st) < 0)
		return -1;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	db_stmt_done(st);
	return found;
}

static int store_exists(struct sms_store *s, const char *kind, const char *owner, const char *name)
{
	return row_exists(s->rdb, &s->rst, kind, owner, name);
}

static int store_put(struct sms_store *s, const char *kind, const char *owner, const char *name,
                     const uint8_t *value, size_t len, int update, uint8_t **sealed_out)
{
	uint8_t nonce[AEAD_NONCE], *ct = malloc(len + AEAD_TAG);
	char aad[512];
	sqlite3_stmt *st = NULL;
	int rc = 0;

	ENSURE(ct, ERR_NOMEM, "out of memory");
	aad_of(aad, sizeof(aad), kind, owner, name);
	ENSURE_GOTO(RAND_bytes(nonce, sizeof(nonce)) == 1, ERR_CRYPTO, "RAND_bytes failed");
	GUARD_GOTO(
	    aes256gcm_seal(s->master, nonce, (const uint8_t *)aad, strlen(aad), value, len, ct));
	GUARD_GOTO(db_prepare(s->db,
	                      update ? "UPDATE secrets SET nonce=?4, ciphertext=?5, updated=?6 "
	                               "WHERE kind=?1 AND owner=?2 AND name=?3"
	                             : "INSERT INTO secrets(kind, owner, name, nonce, ciphertext, "
	                               "created, updated) VALUES(?1,?2,?3,?4,?5,?6,?6)",
	                      &st));
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, nonce, sizeof(nonce), SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, ct, (int)(len + AEAD_TAG), SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		rc = err_set(ERR_BUSY, "secret exists");
	else if (rc != SQLITE_DONE)
		rc = err_set(ERR_IO, "database: %s", sqlite3_errmsg(s->db));
	else
		rc = 0;
	if (rc == 0 && sealed_out && sqlite3_changes(s->db) == 1) {
		/* the row as stored, for the cache */
		uint8_t *row = malloc(AEAD_NONCE + len + AEAD_TAG);
		if (row) {
			memcpy(row, nonce, AEAD_NONCE);
			memcpy(row + AEAD_NONCE, ct, len + AEAD_TAG);
		}
		*sealed_out = row;
	}
out:
	sqlite3_finalize(st);
	OPENSSL_cleanse(ct, len + AEAD_TAG);
	free(ct);
	return rc;
}

/* ---------- checkpoints, off the release path ---------- */

#define STR_(x) #x
#define STR(x)  STR_(x)

/* After each commit on the write connection, with the WAL's frame count
 * (under mu: the one writer). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct sms_store *s = arg;

	if (frames < s->wal_frames)
		s->restart_at = 0; /* the WAL started over */
	s->wal_frames = frames;
	if (frames >= SMS_WAL_MAX_FRAMES && frames >= s->restart_at) {
		/* the thread fell behind (commits without a pause): RESTART,
		 * after the thread's pass (SQLite answers busy rather than wait
		 * for another checkpoint: ckmu), copies every frame and, when no
		 * reader is left in the WAL, lets the next write start it over.
		 * It never waits here: this thread holds the store's write lock,
		 * and a reader on an old snapshot (an operator's sqlite3 shell in
		 * a transaction) may stay for minutes.  Busy: tried again
		 * SMS_WAL_RETRY_FRAMES later, the thread's passes meanwhile. */
		int rc;
		pthread_mutex_lock(&s->ckmu);
		sqlite3_busy_timeout(db, 0);
		rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
		sqlite3_busy_timeout(db, SMS_BUSY_TIMEOUT_MS);
		pthread_mutex_unlock(&s->ckmu);
		if (rc != SQLITE_OK) {
			s->restart_at = frames + SMS_WAL_RETRY_FRAMES;
			log_warn("sms.checkpoint", "inline=1 frames=%d retry_at=%d error=\"%s\"",
			         frames, s->restart_at, sqlite3_errmsg(db));
		}
		return SQLITE_OK;
	}
	if (frames >= SMS_WAL_CHECKPOINT_FRAMES) {
		/* a pass per half of the mark written (or the WAL started
		 * over): each costs two fsyncs, which the commits' wait for */
		pthread_mutex_lock(&s->kmu);
		if (frames < s->ckpt_at || frames >= s->ckpt_at + SMS_WAL_CHECKPOINT_FRAMES / 2) {
			s->ckpt_at = frames;
			s->ckpt_want = 1;
			pthread_cond_signal(&s->kcv);
		}
		pthread_mutex_unlock(&s->kmu);
	}
	return SQLITE_OK;
}

static void *checkpointer(void *arg)
{
	struct sms_store *s = arg;

	pthread_setname_np(pthread_self(), "sms-checkpoint");
	pthread_mutex_lock(&s->kmu);
	while (!s->ckpt_stop) {
		if (!s->ckpt_want) {
			pthread_cond_wait(&s->kcv, &s->kmu);
			continue;
		}
		s->ckpt_want = 0;
		pthread_mutex_unlock(&s->kmu);
		/* PASSIVE: copies what no reader needs, never waits for the
		 * writer.  The writer starts the WAL over when all of it was
		 * copied as it begins, i.e. after a pass in a pause. */
		pthread_mutex_lock(&s->ckmu);
		int rc =
		    sqlite3_wal_checkpoint_v2(s->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_unlock(&s->ckmu);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY) /* busy: readers, or the writer */
			log_warn("sms.checkpoint", "error=\"%s\"", sqlite3_errmsg(s->cdb));
		pthread_mutex_lock(&s->kmu);
		s->checkpoints++;
	}
	pthread_mutex_unlock(&s->kmu);
	return NULL;
}

static int checkpointer_start(struct sms_store *s, const char *db_path)
{
	GUARD(db_open(db_path, migrations, &s->cdb)); /* all applied: a no-op */
	GUARD(db_exec(s->cdb, "PRAGMA journal_size_limit=" STR(SMS_WAL_SIZE_LIMIT)));
	ENSURE(pthread_create(&s->ckpt, NULL, checkpointer, s) == 0, ERR_IO,
	       "sms store: cannot start the checkpoint thread");
	s->ckpt_started = 1;
	sqlite3_wal_hook(s->db, wal_hook, s); /* instead of SQLite's autocheckpoint */
	return 0;
}

static void checkpointer_stop(struct sms_store *s)
{
	if (s->ckpt_started) {
		pthread_mutex_lock(&s->kmu);
		s->ckpt_stop = 1;
		pthread_cond_signal(&s->kcv);
		pthread_mutex_unlock(&s->kmu);
		pthread_join(s->ckpt, NULL);
		s->ckpt_started = 0;
	}
	db_close(s->cdb);
	s->cdb = NULL;
}

int sms_store_open(struct sms_store *st, const char *db_path, const char *master_key_path)
{
	return sms_store_open2(st, db_path, master_key_path, NULL);
}

/* DB-lock: held alone by the one process that has the store open for
 * writing (an SMS, ear-rotate, rekey): no process keeps using an old master
 * key, and no other writer changes rows behind the SMS's caches.  It is a
 * flock of the database file itself, so it is the file's (device, inode):
 * the same store reached through a symlink, a hard link or another mount
 * path is the same lock, and there is no lock file to delete.  SQLite locks
 * with fcntl (POSIX) locks, which flock does not touch on Linux.
 *
 * Closing any descriptor of a file drops every POSIX lock the process holds
 * on it, SQLite's included (see lib/store/db.c): the stores this process
 * holds are known by inode (held[]) and a second open of one is refused
 * from a stat, without opening it. */
#define STORE_HELD_MAX 16
static struct {
	dev_t dev;
	ino_t ino;
} held[STORE_HELD_MAX];
static size_t nheld;
static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;

static int held_find(dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < nheld; i++)
		if (held[i].dev == dev && held[i].ino == ino)
			return (int)i;
	return -1;
}

static int store_busy(const char *db_path, int rekey)
{
	return rekey ? err_set(ERR_BUSY,
	                       "the store %s is in use (a running SMS?): "
	                       "stop it first",
	                       db_path)
	             : err_set(ERR_BUSY,
	                       "the store %s is in use by another process (a running "
	                       "SMS, or a rekey)",
	                       db_path);
}

/* Take the store's DB-lock, waiting up to wait_ms for another process to
 * let it go.  *fd_out: the locked descriptor, for unlock_store(). */
static int lock_store(const char *db_path, int rekey, int wait_ms, int *fd_out, dev_t *dev,
                      ino_t *ino)
{
	struct stat sb;
	int fd = -1, rc = 0;

	*fd_out = -1;
	pthread_mutex_lock(&held_mu);
	if (stat(db_path, &sb) == 0 && held_find(sb.st_dev, sb.st_ino) >= 0) {
		rc = store_busy(db_path, rekey);
		goto out;
	}
	ENSURE_GOTO(nheld < STORE_HELD_MAX, ERR_TOOBIG, "sms store: more than %d stores open",
	            STORE_HELD_MAX);
	fd = open(db_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	ENSURE_GOTO(fd >= 0, ERR_IO, "database %s: %s", db_path, strerror(errno));
	ENSURE_GOTO(fstat(fd, &sb) == 0, ERR_IO, "database %s: %s", db_path, strerror(errno));
	ENSURE_GOTO(S_ISREG(sb.st_mode), ERR_INVAL, "database %s: not a regular file", db_path);
	if (held_find(sb.st_dev, sb.st_ino) >= 0) {
		/* renamed in between onto a store held here: the descriptor
		 * is kept (closing it would unlock that store's database) */
		fd = -1;
		rc = store_busy(db_path, rekey);
		goto out;
	}
	for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; waited += 50) {
		ENSURE_GOTO(errno == EWOULDBLOCK || errno == EINTR, ERR_IO,
		            "database %s: flock: %s", db_path, strerror(errno));
		if (waited >= wait_ms) {
			rc = store_busy(db_path, rekey);
			goto out;
		}
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
	held[nheld].dev = *dev = sb.st_dev;
	held[nheld].ino = *ino = sb.st_ino;
	nheld++;
	*fd_out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd); /* no connection of this process has this file open */
	pthread_mutex_unlock(&held_mu);
	return rc;
}

/* After the store's connections are closed. */
static void unlock_store(int fd, dev_t dev, ino_t ino)
{
	int i;

	if (fd < 0)
		return;
	pthread_mutex_lock(&held_mu);
	close(fd);
	i = held_find(dev, ino);
	if (i >= 0)
		held[i] = held[--nheld];
	pthread_mutex_unlock(&held_mu);
}

/* STORE_REKEY: the caller holds the DB-lock already. */
#define STORE_REKEY (-1)

static int store_open(struct sms_store *st, const char *db_path, const char *master_key_path,
                      const char *master_key_command, int mode);
static int committer_start(struct sms_store *s);

int sms_store_open2(struct sms_store *st, const char *db_path, const char *master_key_path,
                    const char *master_key_command)
{
	return store_open(st, db_path, master_key_path, master_key_command, SMS_OPEN_WAIT);
}

int sms_store_open_mode(struct sms_store *st, const char *db_path, const char *master_key_path,
                        const char *master_key_command, enum sms_open_mode mode)
{
	return store_open(st, db_path, master_key_path, master_key_command, (int)mode);
}

static int store_open(struct sms_store *st, const char *db_path, const char *master_key_path,
                      const char *master_key_command, int mode)
{
	pthread_mutexattr_t a;
	int rc;
	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&st->mu, &a);
	pthread_mutexattr_destroy(&a);
	pthread_mutex_init(&st->rmu, NULL);
	pthread_mutex_init(&st->gmu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the group's bounded wait */
	pthread_cond_init(&st->gcv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&st->gdone, NULL);
	st->gtail = &st->gqueue;
	pthread_mutex_init(&st->cmu, NULL);
	pthread_mutex_init(&st->kmu, NULL);
	pthread_mutex_init(&st->ckmu, NULL);
	pthread_cond_init(&st->kcv, NULL);
	ENSURE(!master_key_path != !master_key_command, ERR_INVAL,
	       "sms: a master key file or a master key command, one of them");
	st->sessions = calloc(SMS_SESSION_SLOTS, sizeof(*st->sessions));
	st->secrets = calloc(SMS_SECRET_SLOTS, sizeof(*st->secrets));
	rc = st->sessions && st->secrets ? 0 : err_set(ERR_NOMEM, "out of memory");
	if (rc == 0 && (mode == SMS_OPEN_WAIT || mode == SMS_OPEN_NOWAIT))
		rc = lock_store(db_path, 0, mode == SMS_OPEN_WAIT ? SMS_LOCK_WAIT_MS : 0,
		                &st->lock_fd, &st->lock_dev, &st->lock_ino);
	if (rc == 0)
		rc = master_key_command ? master_from_command(master_key_command, st->master)
		                        : load_master(master_key_path, st->master);
	if (rc == 0)
		rc = db_open(db_path, migrations, &st->db);
	/* the connections that checkpoint cut the WAL file back once it
	 * starts over: after a long reader it may have grown far past it */
	if (rc == 0)
		rc = db_exec(st->db, "PRAGMA journal_size_limit=" STR(SMS_WAL_SIZE_LIMIT));
	if (rc == 0)
		rc = db_open(db_path, migrations, &st->rdb); /* all applied: a no-op */
	/* the read connection's pages from the file by mmap, not a pread
	 * each: its page cache starts over after every commit of the writer */
	if (rc == 0)
		rc = db_exec(st->rdb, "PRAGMA mmap_size=268435456");
	if (rc == 0)
		rc = key_check(st, mode != SMS_OPEN_CHECK);
	if (rc == 0 && mode != SMS_OPEN_CHECK) /* it writes nothing */
		rc = checkpointer_start(st, db_path);
	if (rc == 0 && mode != SMS_OPEN_CHECK)
		rc = committer_start(st);
	if (rc < 0) {
		sms_store_release_drain(st);
		checkpointer_stop(st);
		db_stmts_free(&st->wst);
		db_stmts_free(&st->rst);
		db_close(st->rdb);
		db_close(st->db);
		st->db = st->rdb = NULL;
		OPENSSL_cleanse(st->master, sizeof(st->master));
		unlock_store(st->lock_fd, st->lock_dev, st->lock_ino);
		st->lock_fd = -1;
		free(st->sessions);
		free(st->secrets);
		st->sessions = NULL;
		st->secrets = NULL;
	}
	return rc;
}

void sms_store_close(struct sms_store *st)
{
	sms_store_release_drain(st);
	checkpointer_stop(st);
	db_stmts_free(&st->wst);
	db_stmts_free(&st->rst);
	db_close(st->rdb);
	db_close(st->db);
	st->db = st->rdb = NULL;
	OPENSSL_cleanse(st->master, sizeof(st->master));
	unlock_store(st->lock_fd, st->lock_dev, st->lock_ino);
	st->lock_fd = -1;
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->rmu);
	pthread_mutex_destroy(&st->gmu);
	pthread_cond_destroy(&st->gcv);
	pthread_cond_destroy(&st->gdone);
	sms_store_cache_clear(st);
	free(st->sessions);
	free(st->secrets);
	st->sessions = NULL;
	st->secrets = NULL;
	pthread_mutex_destroy(&st->cmu);
	pthread_mutex_destroy(&st->kmu);
	pthread_mutex_destroy(&st->ckmu);
	pthread_cond_destroy(&st->kcv);
}

/* Re-encrypt one record (read and written on the write connection, inside
 * the caller's transaction). */
static int rekey_one(struct sms_store *s, const uint8_t nk[32], const char *kind, const char *owner,
                     const char *name)
{
	uint8_t *v = NULL, nonce[AEAD_NONCE], *ct = NULL;
	size_t n = 0;
	char aad[512];
	sqlite3_stmt *st = NULL;
	int rc;

	rc = store_get(s, kind, owner, name, &v, &n);
	if (rc < 0)
		return err_set(ERR_VERIFY,
		               "%s/%s/%s does not open under the current key (%s): "
		               "nothing was changed",
		               kind, owner, name, err_msg());
	ct = malloc(n + AEAD_TAG);
	ENSURE_GOTO(ct, ERR_NOMEM, "out of memory");
	ENSURE_GOTO(RAND_bytes(nonce, sizeof(nonce)) == 1, ERR_CRYPTO, "RAND_bytes failed");
	aad_of(aad, sizeof(aad), kind, owner, name);
	GUARD_GOTO(aes256gcm_seal(nk, nonce, (const uint8_t *)aad, strlen(aad), v, n, ct));
	GUARD_GOTO(db_prepare(s->db,
	                      "UPDATE secrets SET nonce=?, ciphertext=? WHERE kind=? AND owner=? "
	                      "AND name=?",
	                      &st));
	sqlite3_bind_blob(st, 1, nonce, sizeof(nonce), SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, ct, (int)(n + AEAD_TAG), SQLITE_STATIC);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(s->db) == 1
	         ? 0
	         : err_set(ERR_IO, "database: %s", sqlite3_errmsg(s->db));
out:
	sqlite3_finalize(st);
	if (v)
		OPENSSL_cleanse(v, n);
	free(v);
	free(ct);
	return rc;
}

int sms_store_rekey(const char *db_path, const char *old_path, const char *old_command,
                    const char *new_path, const char *new_command, long *count)
{
	struct sms_store s;
	uint8_t nk[32];
	sqlite3_stmt *st = NULL;
	char **keys = NULL;
	size_t nkeys = 0;
	int fd = -1, rc, opened = 0, in_tx = 0;
	dev_t dev = 0;
	ino_t ino = 0;

	*count = 0;
	ENSURE(!new_path != !new_command, ERR_INVAL,
	       "rekey: a new master key file or a new master key command, one of them");
	GUARD(lock_store(db_path, 1, 0, &fd, &dev, &ino));
	GUARD_GOTO(store_open(&s, db_path, old_path, old_command, STORE_REKEY));
	opened = 1;
	GUARD_GOTO(new_command ? master_from_command(new_command, nk) : load_master(new_path, nk));
	ENSURE_GOTO(CRYPTO_memcmp(nk, s.master, 32) != 0, ERR_INVAL,
	            "rekey: the new master key is the current one");
	/* the names first: the rows are rewritten after */
	GUARD_GOTO(db_prepare(s.db, "SELECT kind, owner, name FROM secrets", &st));
	while (sqlite3_step(st) == SQLITE_ROW) {
		char **k = realloc(keys, (nkeys + 3) * sizeof(*k));
		ENSURE_GOTO(k, ERR_NOMEM, "out of memory");
		keys = k;
		for (int i = 0; i < 3; i++) {
			keys[nkeys + (size_t)i] = strdup((const char *)sqlite3_column_text(st, i));
			ENSURE_GOTO(keys[nkeys + (size_t)i], ERR_NOMEM, "out of memory");
		}
		nkeys += 3;
	}
	sqlite3_finalize(st);
	st = NULL;
	GUARD_GOTO(db_exec(s.db, "BEGIN IMMEDIATE"));
	in_tx = 1;
	for (size_t i = 0; i < nkeys; i += 3)
		GUARD_GOTO(rekey_one(&s, nk, keys[i], keys[i + 1], keys[i + 2]));
	GUARD_GOTO(db_exec(s.db, "DELETE FROM keycheck"));
	memcpy(s.master, nk, 32);
	GUARD_GOTO(keycheck_write(&s));
	GUARD_GOTO(db_exec(s.db, "COMMIT"));
	in_tx = 0;
	*count = (long)(nkeys / 3);
out:
	if (in_tx)
		db_rollback(s.db);
	sqlite3_finalize(st);
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	if (opened)
		sms_store_close(&s);
	OPENSSL_cleanse(nk, sizeof(nk));
	unlock_store(fd, dev, ino);
	return rc;
}

/* The sealed row, nonce then ciphertext (malloc'd), read on connection db
 * (its statements c). */
static int row_sealed(sqlite3 *db, struct db_stmts *c, const char *kind, const char *owner,
                      const char *name, uint8_t **sealed, size_t *len)
{
	sqlite3_stmt *st;
	const uint8_t *nonce, *ct;
	int nlen, clen, rc = 0;
	uint8_t *out;

	GUARD(db_stmt(db, c,
	              "SELECT nonce, ciphertext FROM secrets WHERE kind=? AND owner=? AND name=?",
	              &st));
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_stmt_done(st);
		return err_set(ERR_NOTFOUND, "no such secret");
	}
	nonce = sqlite3_column_blob(st, 0);
	nlen = sqlite3_column_bytes(st, 0);
	ct = sqlite3_column_blob(st, 1);
	clen = sqlite3_column_bytes(st, 1);
	ENSURE_GOTO(nonce && nlen == AEAD_NONCE && ct && clen >= AEAD_TAG, ERR_VERIFY,
	            "secret record is damaged");
	out = malloc(AEAD_NONCE + (size_t)clen);
	ENSURE_GOTO(out, ERR_NOMEM, "out of memory");
	memcpy(out, nonce, AEAD_NONCE);
	memcpy(out + AEAD_NONCE, ct, (size_t)clen);
	*sealed = out;
	*len = AEAD_NONCE + (size_t)clen;
out:
	db_stmt_done(st);
	return rc;
}

/* The value of a sealed row (row_sealed), malloc'd with a NUL after it. */
static int open_sealed(struct sms_store *s, const char *kind, const char *owner, const char *name,
                       const uint8_t *sealed, size_t len, uint8_t **value, size_t *vlen)
{
	char aad[512];
	uint8_t *out;
	size_t n = len - AEAD_NONCE - AEAD_TAG;

	out = malloc(n + 1);
	ENSURE(out, ERR_NOMEM, "out of memory");
	aad_of(aad, sizeof(aad), kind, owner, name);
	if (aes256gcm_open(s->master, sealed, (const uint8_t *)aad, strlen(aad),
	                   sealed + AEAD_NONCE, len - AEAD_NONCE, out) < 0) {
		free(out);
		return err_set(ERR_VERIFY, "secret record does not authenticate (wrong key or "
		                           "tampered)");
	}
	out[n] = 0;
	*value = out;
	*vlen = n;
	return 0;
}

/* The decrypted value, read on connection db (its statements c). */
static int row_get(struct sms_store *s, sqlite3 *db, struct db_stmts *c, const char *kind,
                   const char *owner, const char *name, uint8_t **value, size_t *len)
{
	uint8_t *sealed = NULL;
	size_t n = 0;
	int rc;

	GUARD(row_sealed(db, c, kind, owner, name, &sealed, &n));
	rc = open_sealed(s, kind, owner, name, sealed, n, value, len);
	OPENSSL_cleanse(sealed, n);
	free(sealed);
	return rc;
}

static int store_get(struct sms_store *s, const char *kind, const char *owner, const char *name,
                     uint8_t **value, size_t *len)
{
	return row_get(s, s->rdb, &s->rst, kind, owner, name, value, len);
}

/* The secret a signature was consumed for: 1 found (kind, owner and name
 * into the buffers), 0 never consumed. */
static int consumed_by(struct sms_store *s, const uint8_t sig_id[32], char kind[16], char owner[80],
                       char name[272])
{
	sqlite3_stmt *st;
	int rc;

	GUARD(db_stmt(s->db, &s->wst,
	              "SELECT kind, owner, name FROM consumed_signatures WHERE sig=?", &st));
	sqlite3_bind_blob(st, 1, sig_id, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(kind, 16, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(owner, 80, "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(name, 272, "%s", (const char *)sqlite3_column_text(st, 2));
		rc = 1;
	} else {
		rc = rc == SQLITE_DONE ? 0 : err_set(ERR_IO, "database: %s", sqlite3_errmsg(s->db));
	}
	db_stmt_done(st);
	return rc;
}

static int consume(struct sms_store *s, const uint8_t sig_id[32], const char *kind,
                   const char *owner, const char *name)
{
	sqlite3_stmt *st;
	int rc;

	GUARD(db_stmt(s->db, &s->wst,
	              "INSERT INTO consumed_signatures(sig, kind, owner, name, time) "
	              "VALUES(?,?,?,?,?)",
	              &st));
	sqlite3_bind_blob(st, 1, sig_id, 32, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st) == SQLITE_DONE
	         ? 0
	         : err_set(ERR_IO, "database: %s", sqlite3_errmsg(s->db));
	db_stmt_done(st);
	return rc;
}

/* The decision and the writes of sms_store_put_signed, inside one
 * transaction on the write connection: what is read is what is replaced. */
static int put_signed(struct sms_store *s, const char *kind, const char *owner, const char *name,
                      const uint8_t *value, size_t len, int update, const uint8_t sig_id[32],
                      enum sms_put_verdict *verdict, char used_kind[16])
{
	char ck[16], co[80], cn[272];
	uint8_t *cur = NULL;
	size_t clen = 0;
	int used, present, same, mine, rc;

	used = consumed_by(s, sig_id, ck, co, cn);
	if (used < 0)
		return used;
	if (used)
		snprintf(used_kind, 16, "%s", ck);
	if (update) {
		rc = row_get(s, s->db, &s->wst, kind, owner, name, &cur, &clen);
		if (rc < 0 && rc != ERR_NOTFOUND)
			return rc;
		present = rc == 0;
	} else {
		/* an insert needs to know presence only: nothing decrypted */
		present = row_exists(s->db, &s->wst, kind, owner, name);
		if (present < 0)
			return present;
	}
	same = cur && clen == len && CRYPTO_memcmp(cur, value, len) == 0;
	if (cur) {
		OPENSSL_cleanse(cur, clen);
		free(cur);
	}
	/* the same secret (kind, owner, name) as the signature's first use */
	mine = used && !strcmp(ck, kind) && !strcmp(co, owner) && !strcmp(cn, name);

	if (!update) {
		/* an existing secret answers as it always did, replay or not */
		*verdict = present ? SMS_PUT_EXISTS : used ? SMS_PUT_REPLAYED : SMS_PUT_WRITTEN;
	} else if (!present) {
		*verdict = SMS_PUT_ABSENT;
	} else if (same && (mine || !used)) {
		/* an identical re-push: nothing rewritten, the signature
		 * recorded if it was not (one from before migration 4) */
		*verdict = SMS_PUT_UNCHANGED;
		if (!used)
			GUARD(consume(s, sig_id, kind, owner, name));
		return 0;
	} else {
		*verdict = used ? SMS_PUT_REPLAYED : SMS_PUT_WRITTEN;
	}
	if (*verdict != SMS_PUT_WRITTEN)
		return 0;
	GUARD(store_put(s, kind, owner, name, value, len, update, NULL));
	return consume(s, sig_id, kind, owner, name);
}

static int store_put_signed(struct sms_store *s, const char *kind, const char *owner,
                            const char *name, const uint8_t *value, size_t len, int update,
                            const uint8_t sig_id[32], enum sms_put_verdict *verdict,
                            char used_kind[16])
{
	int rc;

	used_kind[0] = '\0';
	GUARD(db_exec(s->db, "BEGIN IMMEDIATE"));
	rc = put_signed(s, kind, owner, name, value, len, update, sig_id, verdict, used_kind);
	if (db_exec(s->db, rc == 0 ? "COMMIT" : "ROLLBACK") < 0 && rc == 0)
		rc = -1;
	return rc;
}

static int store_check(struct sms_store *s, long *total, long *bad)
{
	sqlite3_stmt *st;
	const unsigned char *txt;
	uint8_t *v;
	size_t n;
	int rc;

	*total = *bad = 0;
	GUARD(db_prepare(s->db, "PRAGMA integrity_check", &st));
	rc = sqlite3_step(st);
	txt = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	if (!txt || strcmp((const char *)txt, "ok") != 0) {
		rc = err_set(ERR_VERIFY, "database integrity: %s",
		             txt ? (const char *)txt : sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	GUARD(db_prepare(s->db, "SELECT kind, owner, name FROM secrets", &st));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(st, 0);
		const char *owner = (const char *)sqlite3_column_text(st, 1);
		const char *name = (const char *)sqlite3_column_text(st, 2);
		(*total)++;
		pthread_mutex_lock(&s->rmu);
		rc = store_get(s, kind, owner, name, &v, &n); /* the rows, not the cache */
		pthread_mutex_unlock(&s->rmu);
		if (rc < 0) {
			(*bad)++;
			log_error("sms.check", "kind=%s owner=%s name=\"%s\" error=\"%s\"", kind,
			          owner, name, err_msg());
			continue;
		}
		OPENSSL_cleanse(v, n);
		free(v);
	}
	sqlite3_finalize(st);
	ENSURE(rc == SQLITE_DONE, ERR_IO, "database: %s", sqlite3_errmsg(s->db));
	ENSURE(*bad == 0, ERR_VERIFY, "%ld of %ld secrets do not authenticate", *bad, *total);
	return 0;
}

/* `in` lower-cased into out (ASCII, as SQLite's lower()); its length, or
 * 0 when it does not fit. */
static size_t lower_into(char *out, size_t cap, const char *in)
{
	size_t n = strlen(in);
	if (n >= cap)
		return 0;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	return n;
}

static int store_session_add(struct sms_store *s, char id[33], const char *taskid,
                             const char *worker, const uint8_t dealid[32], uint64_t idx,
                             uint64_t deadline, const char *replaces)
{
	sqlite3_stmt *st;
	char deal[67] = "0x", open_id[33] = "";
	int rc, released = 0;

	/* one session per worker and task: the open one is given again, and a
	 * worker the session went to gets no other */
	GUARD(db_prepare(s->db,
	                 "SELECT id, released FROM sessions WHERE taskid = lower(?1)"
	                 " AND worker = lower(?2) ORDER BY released DESC",
	                 &st));
	sqlite3_bind_text(st, 1, taskid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, worker, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		released |= sqlite3_column_int(st, 1);
		if (!sqlite3_column_int(st, 1) && !open_id[0])
			snprintf(open_id, sizeof(open_id), "%s",
			         (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	ENSURE(!released, ERR_VERIFY, "the task's session was already released to this worker");
	if (open_id[0]) {
		memcpy(id, open_id, 33);
		if (!replaces)
			return 0;
		const char *a[] = {replaces, id};
		GUARD(db_prepare(s->db, "UPDATE sessions SET replaces = lower(?1) WHERE id = ?2",
		                 &st));
		for (int i = 0; i < 2; i++)
			sqlite3_bind_text(st, i + 1, a[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE
		         ? 0
		         : err_set(ERR_IO, "database: %s", sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		session_cache_write(s, id, NULL, 0);
		return rc;
	}
	hex_encode(deal + 2, dealid, 32);
	GUARD(db_prepare(s->db,
	                 "INSERT INTO sessions(id, taskid, worker, dealid, idx, created, deadline,"
	                 " replaces) SELECT ?1, lower(?2), lower(?3), ?4, ?5, ?6, ?7, lower(?8)"
	                 " WHERE (SELECT count(*) FROM sessions WHERE taskid = lower(?2)) < ?9",
	                 &st));
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, taskid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, worker, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, deal, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)idx);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)time(NULL));
	sqlite3_bind_int64(st, 7, (sqlite3_int64)deadline);
	if (replaces)
		sqlite3_bind_text(st, 8, replaces, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	sqlite3_bind_int(st, 9, SMS_SESSIONS_PER_TASK);
	rc = sqlite3_step(st) != SQLITE_DONE
	         ? err_set(ERR_IO, "database: %s", sqlite3_errmsg(s->db))
	     : sqlite3_changes(s->db) == 0
	         ? err_set(ERR_BUSY, "the task has sessions for %d workers already",
	                   SMS_SESSIONS_PER_TASK)
	         : 0;
	sqlite3_finalize(st);
	/* committed: the session as sms_store_session_get would read it (the
	 * nonce and attest requests find it cached) */
	struct sms_session ss = {.idx = idx, .deadline = deadline};
	if (rc == 0 && lower_into(ss.taskid, sizeof(ss.taskid), taskid) == 66 &&
	    lower_into(ss.worker, sizeof(ss.worker), worker) > 0 &&
	    (!replaces || lower_into(ss.replaces, sizeof(ss.replaces), replaces) > 0)) {
		memcpy(ss.dealid, deal, sizeof(ss.dealid));
		session_cache_write(s, id, &ss, 0);
	} else {
		session_cache_write(s, id, NULL, 0);
	}
	return rc;
}

static int store_session_get(struct sms_store *s, const char *id, struct sms_session *out)
{
	sqlite3_stmt *st;
	int rc;

	GUARD(db_stmt(s->rdb, &s->rst,
	              "SELECT taskid, worker, dealid, idx, deadline, released, replaces"
	              " FROM sessions WHERE id=?",
	              &st));
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		db_stmt_done(st);
		return err_set(ERR_NOTFOUND, "no such session");
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->taskid, sizeof(out->taskid), "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(out->worker, sizeof(out->worker), "%s", (const char *)sqlite3_column_text(st, 1));
	snprintf(out->dealid, sizeof(out->dealid), "%s", (const char *)sqlite3_column_text(st, 2));
	out->idx = (uint64_t)sqlite3_column_int64(st, 3);
	out->deadline = (uint64_t)sqlite3_column_int64(st, 4);
	out->released = sqlite3_column_int(st, 5);
	if (sqlite3_column_type(st, 6) == SQLITE_TEXT)
		snprintf(out->replaces, sizeof(out->replaces), "%s",
		         (const char *)sqlite3_column_text(st, 6));
	db_stmt_done(st);
	rc = strlen(out->taskid) == 66 && strlen(out->dealid) == 66
	         ? 0
	         : err_set(ERR_VERIFY, "session record is damaged");
	return rc;
}

/* May session `id` be released, given the releases of its task so far?
 * The first release needs nothing more.  A later one needs the workerpool
 * owner's reassignment (checked when the session was made), a worker the
 * task was never released to, and fewer than SMS_MAX_RELEASES releases so
 * far.  Inside the release transaction.  The task's releases are read from
 * its sessions marked released (the same transaction writes the flag and
 * the receipt), by the sessions' task index. */
static int release_allowed(struct sms_store *s, const char *id)
{
	sqlite3_stmt *st = NULL;
	char worker[43] = "";
	int n = 0, again = 0, reassigned = 0, rc;

	GUARD(db_stmt(s->db, &s->wst,
	              "SELECT worker, replaces IS NOT NULL FROM sessions WHERE id=?", &st));
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(worker, sizeof(worker), "%s", (const char *)sqlite3_column_text(st, 0));
		reassigned = sqlite3_column_int(st, 1);
	}
	db_stmt_done(st);
	ENSURE(worker[0], ERR_NOTFOUND, "no such session");
	/* a worker declared lost for the task (another session replaces it)
	 * gets nothing, even if it never had the session */
	GUARD(db_stmt(s->db, &s->wst,
	              "SELECT 1 FROM sessions WHERE replaces = ?2 AND taskid ="
	              " (SELECT taskid FROM sessions WHERE id = ?1)",
	              &st));
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, worker, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	db_stmt_done(st);
	ENSURE(rc != SQLITE_ROW, ERR_BUSY, "%s was declared lost for this task", worker);
	GUARD(db_stmt(s->db, &s->wst,
	              "SELECT worker FROM sessions WHERE released = 1 AND taskid ="
	              " (SELECT taskid FROM sessions WHERE id=?)",
	              &st));
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		again |= strcmp((const char *)sqlite3_column_text(st, 0), worker) == 0;
		n++;
	}
	db_stmt_done(st);
	ENSURE(rc == SQLITE_DONE, ERR_IO, "database: %s", sqlite3_errmsg(s->db));
	if (n == 0)
		return 0;
	ENSURE(reassigned, ERR_BUSY, "the task's session was already released");
	ENSURE(!again, ERR_BUSY, "the task's session was already released to %s", worker);
	ENSURE(n < SMS_MAX_RELEASES, ERR_BUSY,
	       "the task's session was released %d times: no further reassignment", n);
	return 0;
}

/* Quotes shorter than this after their chain's start keep it inline: a
 * reference would save less than it costs. */
#define QUOTE_TAIL_MIN 512

/* Where a quote's PCK certificate chain starts, and the chain's row in
 * quote_tails, added when new (inside the release transaction: a group
 * rolled back takes it along).  The receipt serves head and tail joined,
 * the bytes the TD sent.  The split is the parsed chain's offset, never a
 * PEM line found by searching: the host writes MRCONFIGID, MROWNER and
 * MROWNERCONFIG, and a marker placed there would make every release's
 * tail unique (a row of ~5 KB each).  A tail is the chain exactly, so
 * quotes of a platform share it; *head = len and *tail_id = 0 when the
 * quote does not parse, has bytes after the chain, or a short chain. */
static int quote_tail(struct sms_store *s, const uint8_t *q, size_t len, size_t chain_len,
                      size_t *head, int64_t *tail_id)
{
	struct tdx_quote *tq = NULL;
	const uint8_t *p;
	size_t n;
	uint8_t h[32];
	sqlite3_stmt *st = NULL;
	int rc = 0;

	*head = len;
	*tail_id = 0;
	if (chain_len) { /* the release path parsed it: not again under the write lock */
		n = chain_len;
	} else {
		if (tdx_quote_parse(q, len, &tq) < 0) {
			err_clear();
			return 0; /* verified before it gets here; stored whole if not */
		}
		n = tdx_quote_chain_tail(tq, q, len);
		tdx_quote_free(tq);
	}
	if (n < QUOTE_TAIL_MIN || n > len)
		return 0;
	p = q + (len - n);
	SHA256(p, n, h);
	GUARD(db_stmt(s->db, &s->wst, "SELECT id FROM quote_tails WHERE sha256=?", &st));
	sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*tail_id = sqlite3_column_int64(st, 0);
	db_stmt_done(st);
	ENSURE(rc == SQLITE_ROW || rc == SQLITE_DONE, ERR_IO, "database: quote tail: %s",
	       sqlite3_errmsg(s->db));
	if (!*tail_id) {
		GUARD(db_stmt(s->db, &s->wst, "INSERT INTO quote_tails(sha256, tail) VALUES(?,?)",
		              &st));
		sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, p, (int)n, SQLITE_STATIC);
		rc = sqlite3_step(st);
		db_stmt_done(st);
		ENSURE(rc == SQLITE_DONE, ERR_IO, "database: quote tail: %s",
		       sqlite3_errmsg(s->db));
		*tail_id = sqlite3_last_insert_rowid(s->db);
	}
	*head = len - n;
	return 0;
}

/* The receipt's row, inside the release transaction. */
static int insert_receipt(struct sms_store *s, const char *id, const struct sms_receipt *r,
                          int64_t now)
{
	sqlite3_stmt *st = NULL;
	size_t head = r->quote_len;
	int64_t tail_id = 0;
	int rc, i = 1;

	GUARD(quote_tail(s, r->quote, r->quote_len, r->pck_chain_len, &head, &tail_id));

	GUARD(db_stmt(s->db, &s->wst,
	              "INSERT INTO receipts(time, session, taskid, worker, quote, quote_sha256,"
	              " mrtd, rtmr0, rtmr1, rtmr2, rtmr3, tcb_status, simulated, fmspc,"
	              " tcb_info_issue_date, tcb_eval_number, qe_identity_issue_date,"
	              " qe_eval_number, pck_crl_sha256, root_ca_crl_sha256, event_log,"
	              " policy_sha256, app_policy_sha256, app_digest, public_key, nonce,"
	              " enclave_challenge, ear, quote_tail, replaces)"
	              " VALUES(?,?,lower(?),lower(?),?,?,?,?,?,?,?,?,?,?,?,"
	              "?,?,?,?,?,?,?,?,?,?,?,lower(?),?,?,"
	              " (SELECT replaces FROM sessions WHERE id=?2))",
	              &st));
#define TXT(v) sqlite3_bind_text(st, i++, (v), -1, SQLITE_STATIC)
#define INT(v) sqlite3_bind_int64(st, i++, (sqlite3_int64)(v))
	INT(now);
	TXT(id);
	TXT(r->taskid);
	TXT(r->worker);
	sqlite3_bind_blob(st, i++, r->quote, (int)head, SQLITE_STATIC);
	TXT(r->quote_sha256);
	TXT(r->mrtd);
	for (int k = 0; k < 4; k++)
		TXT(r->rtmr[k]);
	TXT(r->tcb_status);
	INT(r->simulated);
	TXT(r->fmspc);
	INT(r->tcb_info_issue_date);
	INT(r->tcb_eval_number);
	INT(r->qe_identity_issue_date);
	INT(r->qe_eval_number);
	TXT(r->pck_crl_sha256);
	TXT(r->root_ca_crl_sha256);
	TXT(r->event_log); /* NULL binds NULL */
	TXT(r->policy_sha256);
	TXT(r->app_policy_sha256);
	TXT(r->app_digest);
	TXT(r->public_key);
	TXT(r->nonce);
	TXT(r->enclave_challenge);
	TXT(r->ear);
	if (tail_id > 0)
		INT(tail_id);
	else
		sqlite3_bind_null(st, i++);
#undef TXT
#undef INT
	rc = sqlite3_step(st) == SQLITE_DONE
	         ? 0
	         : err_set(ERR_IO, "database: receipt: %s", sqlite3_errmsg(s->db));
	db_stmt_done(st);
	return rc;
}

/* The rows of one release, inside the group's transaction. */
static int release_rows(struct sms_store *s, const char *id, const struct sms_receipt *r)
{
	sqlite3_stmt *st = NULL;
	int64_t now = r->time ? r->time : (int64_t)time(NULL);
	int rc = 0;

	ENSURE(r->taskid && r->worker && r->quote && r->quote_len > 0 && r->quote_len < INT32_MAX &&
	           r->tcb_status,
	       ERR_INVAL, "receipt: task, worker, quote and TCB status are required");
	GUARD_GOTO(release_allowed(s, id));
	GUARD_GOTO(db_stmt(s->db, &s->wst,
	                   "UPDATE sessions SET released=1 WHERE id=? AND released=0", &st));
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	ENSURE_GOTO(rc == SQLITE_DONE, ERR_IO, "database: %s", sqlite3_errmsg(s->db));
	ENSURE_GOTO(sqlite3_changes(s->db) == 1, ERR_BUSY, "the session was already released");
	db_stmt_done(st);
	st = NULL;
	rc = insert_receipt(s, id, r, now);
out:
	db_stmt_done(st);
	return rc;
}

/* A group's transaction control, prepared once: sqlite3_exec parsed each
 * of these again for every release (the statements are found by address). */
static const char sql_begin[] = "BEGIN IMMEDIATE", sql_commit[] = "COMMIT",
                  sql_savepoint[] = "SAVEPOINT release", sql_release[] = "RELEASE release";

static int wexec(struct sms_store *s, const char *sql)
{
	sqlite3_stmt *st;
	int rc;

	GUARD(db_stmt(s->db, &s->wst, sql, &st));
	rc = sqlite3_step(st) == SQLITE_DONE
	         ? 0
	         : err_set(ERR_IO, "database: %s (%s)", sqlite3_errmsg(s->db), sql);
	db_stmt_done(st);
	return rc;
}

/* One release in the group under its own savepoint: a refused one (already
 * released, or its rows failing) is undone alone, the others' rows stay. */
static void release_one(struct sms_store *s, struct sms_release *q)
{
	q->rc = wexec(s, sql_savepoint);
	if (q->rc == 0)
		q->rc = release_rows(s, q->id, q->r);
	if (q->rc < 0)
		snprintf(q->msg, sizeof(q->msg), "%s", err_msg());
	if (q->rc < 0 && sqlite3_exec(s->db, "ROLLBACK TO release", NULL, NULL, NULL) != SQLITE_OK)
		log_warn("sms.release", "op=rollback_to error=\"%s\"", sqlite3_errmsg(s->db));
	if (wexec(s, sql_release) < 0 && q->rc == 0) {
		q->rc = ERR_IO;
		snprintf(q->msg, sizeof(q->msg), "%s", err_msg());
	}
}

/* A group of releases in one transaction, one commit: one WAL fsync for
 * them all (synchronous=FULL).  The releases committed (rc 0). */
static unsigned long commit_group(struct sms_store *s, struct sms_release *group)
{
	struct sms_release *q;
	unsigned long n = 0;
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = wexec(s, sql_begin);
	for (q = group; rc == 0 && q; q = q->next) {
		release_one(s, q);
		/* some errors (disk full, I/O, out of memory) make SQLite roll
		 * the whole transaction back, savepoints and all: the releases
		 * before are undone, and the next SAVEPOINT would open a
		 * transaction of its own that its RELEASE commits alone */
		if (sqlite3_get_autocommit(s->db))
			rc =
			    err_set(ERR_IO, "database: the group's transaction was rolled back: %s",
			            q->msg);
	}
	if (rc == 0 && (rc = wexec(s, sql_commit)) < 0) {
		/* a COMMIT that failed may have reached the WAL in part: its
		 * releases' fate is known after the next open */
		for (q = group; q; q = q->next)
			n++;
		log_error("sms.release", "op=commit group=%lu error=\"%s\"", n, err_msg());
		n = 0;
		db_rollback(s->db);
	}
	if (rc < 0) /* nothing of the group is written */
		for (q = group; q; q = q->next) {
			q->rc = rc;
			snprintf(q->msg, sizeof(q->msg), "%s", err_msg());
		}
	/* committed (or not): the cached sessions follow the database */
	for (q = group; q; q = q->next) {
		session_cache_write(s, q->id, NULL, q->rc == 0);
		n += q->rc == 0;
	}
	pthread_mutex_unlock(&s->mu);
	return n;
}

static json_t *text_or_null(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	return t ? json_string(t) : json_null();
}

static json_t *receipt_json(sqlite3_stmt *st)
{
	char d1[32], d2[32], *quote;
	json_t *o;

	/* the quote as the TD sent it: the head kept in the receipt, then
	 * its chain (migration 7) */
	size_t hl = (size_t)sqlite3_column_bytes(st, 4), tl = (size_t)sqlite3_column_bytes(st, 28);
	uint8_t *q = malloc(hl + tl + 1);
	if (!q)
		return NULL;
	if (hl)
		memcpy(q, sqlite3_column_blob(st, 4), hl);
	if (tl)
		memcpy(q + hl, sqlite3_column_blob(st, 28), tl);
	quote = base64_encode(q, hl + tl);
	free(q);
	if (!quote)
		return NULL;
	time_format((time_t)sqlite3_column_int64(st, 14), d1);
	time_format((time_t)sqlite3_column_int64(st, 16), d2);
	o = json_pack("{s:o,s:I,s:o,s:s,s:o,s:o,s:[o,o,o,o],s:o,s:b,"
	              "s:{s:o,s:s,s:I,s:s,s:I,s:o,s:o},"
	              "s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
	              "session", text_or_null(st, 1), "time",
	              (json_int_t)sqlite3_column_int64(st, 0), "worker", text_or_null(st, 3),
	              "quote", quote, "quote_sha256", text_or_null(st, 5), "mrtd",
	              text_or_null(st, 6), "rtmr", text_or_null(st, 7), text_or_null(st, 8),
	              text_or_null(st, 9), text_or_null(st, 10), "tcb_status", text_or_null(st, 11),
	              "simulated", sqlite3_column_int(st, 12), "collateral", "fmspc",
	              text_or_null(st, 13), "tcb_info_issue_date", d1, "tcb_eval_number",
	              (json_int_t)sqlite3_column_int64(st, 15), "qe_identity_issue_date", d2,
	              "qe_eval_number", (json_int_t)sqlite3_column_int64(st, 17), "pck_crl_sha256",
	              text_or_null(st, 18), "root_ca_crl_sha256", text_or_null(st, 19), "event_log",
	              text_or_null(st, 20), "policy_sha256", text_or_null(st, 21),
	              "app_policy_sha256", text_or_null(st, 22), "app_digest", text_or_null(st, 23),
	              "public_key", text_or_null(st, 24), "nonce", text_or_null(st, 25),
	              "enclave_challenge", text_or_null(st, 26), "ear", text_or_null(st, 27));
	free(quote);
	return o;
}

static int store_receipts(struct sms_store *s, const char *taskid, size_t max, json_t **out)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = json_array(), *o;
	int rc;

	*out = NULL;
	ENSURE(arr, ERR_NOMEM, "out of memory");
	rc = db_prepare(s->rdb,
	                "SELECT r.time, r.session, r.taskid, r.worker, r.quote, r.quote_sha256,"
	                " r.mrtd, r.rtmr0, r.rtmr1, r.rtmr2, r.rtmr3, r.tcb_status, r.simulated,"
	                " r.fmspc, r.tcb_info_issue_date, r.tcb_eval_number,"
	                " r.qe_identity_issue_date, r.qe_eval_number, r.pck_crl_sha256,"
	                " r.root_ca_crl_sha256, r.event_log, r.policy_sha256, r.app_policy_sha256,"
	                " r.app_digest, r.public_key, r.nonce, r.enclave_challenge, r.ear, t.tail"
	                " FROM receipts r LEFT JOIN quote_tails t ON t.id = r.quote_tail"
	                " WHERE r.taskid = lower(?) ORDER BY r.id LIMIT ?",
	                &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, taskid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		o = receipt_json(st);
		if (!o || json_array_append_new(arr, o) < 0) {
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = err_set(ERR_IO, "database: %s", sqlite3_errmsg(s->rdb));
		goto out;
	}
	rc = json_array_size(arr) ? 0 : err_set(ERR_NOTFOUND, "no receipts for the task");
	if (rc == 0) {
		*out = arr;
		arr = NULL;
	}
out:
	if (st)
		sqlite3_finalize(st);
	json_decref(arr);
	return rc;
}

static int store_purge_challenges(struct sms_store *s, long now)
{
	sqlite3_stmt *st;
	int rc;
	GUARD(db_prepare(s->db,
	                 "DELETE FROM secrets WHERE kind='challenge' AND CAST(name AS INTEGER) < ?",
	                 &st));
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	rc = sqlite3_step(st) == SQLITE_DONE
	         ? sqlite3_changes(s->db)
	         : err_set(ERR_IO, "database: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return rc;
}

/* ---------- the public functions: one writer and one reader at a time ---------- */

int sms_store_exists(struct sms_store *s, const char *kind, const char *owner, const char *name)
{
	int rc;
	pthread_mutex_lock(&s->rmu);
	rc = store_exists(s, kind, owner, name);
	pthread_mutex_unlock(&s->rmu);
	return rc;
}

int sms_store_put(struct sms_store *s, const char *kind, const char *owner, const char *name,
                  const uint8_t *value, size_t len, int update)
{
	uint8_t *sealed = NULL;
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = store_put(s, kind, owner, name, value, len, update, &sealed);
	/* committed (autocommit): the row as written, e.g. a task's challenge
	 * key read back at once; not written: what was there stays */
	if (rc == 0)
		secret_cache_put(s, kind, owner, name, sealed,
		                 sealed ? AEAD_NONCE + len + AEAD_TAG : 0, 0, 1);
	pthread_mutex_unlock(&s->mu);
	if (sealed)
		OPENSSL_cleanse(sealed, AEAD_NONCE + len + AEAD_TAG);
	free(sealed);
	return rc;
}

int sms_store_put_signed(struct sms_store *s, const char *kind, const char *owner, const char *name,
                         const uint8_t *value, size_t len, int update, const uint8_t sig_id[32],
                         enum sms_put_verdict *verdict, char used_kind[16])
{
	int rc;
	pthread_mutex_lock(&s->mu);
	rc = store_put_signed(s, kind, owner, name, value, len, update, sig_id, verdict, used_kind);
	/* committed or rolled back: read again */
	secret_cache_put(s, kind, owner, name, NULL, 0, 0, 1);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* The sealed row from the cache, or read and cached; opened each time. */
int sms_store_get(struct sms_store *s, const char *kind, const char *owner, const char *name,
                  uint8_t **value, size_t *len)
{
	uint8_t *sealed = NULL;
	size_t n = 0;
	uint64_t gen;
	int rc;

	if (!secret_cached(s, kind, owner, name, &sealed, &n, &gen)) {
		pthread_mutex_lock(&s->rmu);
		rc = row_sealed(s->rdb, &s->rst, kind, owner, name, &sealed, &n);
		pthread_mutex_unlock(&s->rmu);
		if (rc < 0 && rc != ERR_NOTFOUND)
			return rc;
		/* absent too: the release path asks for secrets most tasks have
		 * not got */
		secret_cache_put(s, kind, owner, name, sealed, n, gen, 0);
	}
	if (!sealed)
		return err_set(ERR_NOTFOUND, "no such secret");
	rc = open_sealed(s, kind, owner, name, sealed, n, value, len);
	OPENSSL_cleanse(sealed, n);
	free(sealed);
	return rc;
}

int sms_store_check(struct sms_store *s, long *total, long *bad)
{
	int rc;
	pthread_mutex_lock(&s->mu);
	rc = store_check(s, total, bad);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int sms_store_session_add(struct sms_store *s, char id[33], const char *taskid, const char *worker,
                          const uint8_t dealid[32], uint64_t idx, uint64_t deadline,
                          const char *replaces)
{
	int rc;
	pthread_mutex_lock(&s->mu);
	rc = store_session_add(s, id, taskid, worker, dealid, idx, deadline, replaces);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int sms_store_session_get(struct sms_store *s, const char *id, struct sms_session *out)
{
	uint64_t gen;
	int rc;

	if (session_cached(s, id, out, &gen))
		return 0;
	pthread_mutex_lock(&s->rmu);
	rc = store_session_get(s, id, out);
	pthread_mutex_unlock(&s->rmu);
	if (rc == 0)
		session_cache_fill(s, id, out, gen);
	return rc;
}

/* Group commit by the store's commit thread: a release joins the queue
 * and the thread, when idle, takes the whole queue as its group (after
 * the releases announced as coming have joined, for at most
 * SMS_GROUP_WAIT_US), commits it and calls each release's done.  Releases
 * that arrive during a commit (its fsync) queue up and go together in the
 * next one.  No request thread waits for an fsync: while the thread
 * commits, they verify the next quotes. */
static void *committer(void *arg)
{
	struct sms_store *s = arg;
	struct sms_release *group, *next;
	unsigned long n, committed;

	pthread_setname_np(pthread_self(), "sms-commit"); /* top -H, profiles */
	pthread_mutex_lock(&s->gmu);
	for (;;) {
		while (!s->gqueue && !s->gstop)
			pthread_cond_wait(&s->gcv, &s->gmu);
		if (!s->gqueue)
			break; /* stopping, and nothing is left */
		if (s->gcoming > 0 && !s->gstop) {
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_nsec += SMS_GROUP_WAIT_US * 1000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (s->gcoming > 0 && !s->gstop &&
			       pthread_cond_timedwait(&s->gcv, &s->gmu, &until) != ETIMEDOUT)
				;
		}
		group = s->gqueue;
		s->gqueue = NULL;
		s->gtail = &s->gqueue;
		pthread_mutex_unlock(&s->gmu);
		committed = commit_group(s, group);
		for (n = 0, next = group; next; next = next->next)
			n++;
		/* counted before the answers, which wake callers that may read
		 * them; what was committed: releases refused or failed are not */
		pthread_mutex_lock(&s->gmu);
		s->ggroups += committed > 0;
		s->greleases += committed;
		s->gpending -= n;
		pthread_mutex_unlock(&s->gmu);
		for (; group; group = next) {
			next = group->next; /* done may free it */
			group->done(group);
		}
		pthread_mutex_lock(&s->gmu);
	}
	pthread_mutex_unlock(&s->gmu);
	return NULL;
}

static int committer_start(struct sms_store *s)
{
	ENSURE(pthread_create(&s->gthread, NULL, committer, s) == 0, ERR_IO,
	       "sms store: cannot start the commit thread");
	s->gstarted = 1;
	return 0;
}

void sms_store_release_drain(struct sms_store *s)
{
	pthread_mutex_lock(&s->gmu);
	s->gstop = 1;
	pthread_cond_broadcast(&s->gcv);
	pthread_mutex_unlock(&s->gmu);
	if (s->gstarted) {
		pthread_join(s->gthread, NULL);
		pthread_mutex_lock(&s->gmu);
		s->gstarted = 0;
		pthread_mutex_unlock(&s->gmu);
	}
}

int sms_store_release_queue(struct sms_store *s, struct sms_release *rel)
{
	rel->rc = 0;
	rel->msg[0] = '\0';
	rel->next = NULL;
	pthread_mutex_lock(&s->gmu);
	if (s->gcoming > 0)
		s->gcoming--;
	if (s->gstop || !s->gstarted || s->gpending >= SMS_PENDING_MAX) {
		int closing = s->gstop || !s->gstarted;
		pthread_cond_broadcast(&s->gcv);
		pthread_mutex_unlock(&s->gmu);
		return closing ? err_set(ERR_BUSY, "the store is closing")
		               : err_set(ERR_BUSY, "%d releases wait for their commit already",
		                         SMS_PENDING_MAX);
	}
	*s->gtail = rel;
	s->gtail = &rel->next;
	s->gpending++;
	pthread_cond_broadcast(&s->gcv); /* the thread, idle or waiting for it */
	pthread_mutex_unlock(&s->gmu);
	return 0;
}

/* A caller that waits: its release on its stack, woken by done. */
struct release_wait {
	struct sms_release rel;
	struct sms_store *s;
	int done;
};

static void release_waited(struct sms_release *rel)
{
	struct release_wait *w = (struct release_wait *)rel;
	struct sms_store *s = w->s;

	pthread_mutex_lock(&s->gmu);
	w->done = 1;
	pthread_cond_broadcast(&s->gdone);
	pthread_mutex_unlock(&s->gmu);
}

int sms_store_session_release(struct sms_store *s, const char *id, const struct sms_receipt *r)
{
	struct release_wait w = {.rel = {.id = id, .r = r, .done = release_waited}, .s = s};

	if (sms_store_release_queue(s, &w.rel) < 0) {
		/* no commit thread (a store opened to check it, or closing):
		 * committed alone, in this thread */
		commit_group(s, &w.rel);
		return w.rel.rc < 0 ? err_set(w.rel.rc, "%s", w.rel.msg) : 0;
	}
	pthread_mutex_lock(&s->gmu);
	while (!w.done)
		pthread_cond_wait(&s->gdone, &s->gmu);
	pthread_mutex_unlock(&s->gmu);
	return w.rel.rc < 0 ? err_set(w.rel.rc, "%s", w.rel.msg) : 0;
}

void sms_store_release_coming(struct sms_store *s, int coming)
{
	pthread_mutex_lock(&s->gmu);
	if (coming)
		s->gcoming++;
	else if (s->gcoming > 0)
		s->gcoming--;
	pthread_cond_broadcast(&s->gcv);
	pthread_mutex_unlock(&s->gmu);
}

unsigned long sms_store_releases_pending(struct sms_store *s)
{
	unsigned long n;
	pthread_mutex_lock(&s->gmu);
	n = s->gpending;
	pthread_mutex_unlock(&s->gmu);
	return n;
}

void sms_store_release_stats(struct sms_store *s, unsigned long *groups, unsigned long *releases)
{
	pthread_mutex_lock(&s->gmu);
	*groups = s->ggroups;
	*releases = s->greleases;
	pthread_mutex_unlock(&s->gmu);
}

int sms_store_receipts(struct sms_store *s, const char *taskid, size_t max, json_t **out)
{
	int rc;
	pthread_mutex_lock(&s->rmu);
	rc = store_receipts(s, taskid, max, out);
	pthread_mutex_unlock(&s->rmu);
	return rc;
}

int sms_store_count_secrets(struct sms_store *s, const char *const *kinds, double *counts)
{
	sqlite3_stmt *st = NULL;
	int rc;

	for (size_t i = 0; kinds[i]; i++)
		counts[i] = 0;
	pthread_mutex_lock(&s->rmu);
	rc = db_prepare(s->rdb, "SELECT kind, count(*) FROM secrets GROUP BY kind", &st);
	while (rc == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		for (size_t i = 0; k && kinds[i]; i++)
			if (strcmp(kinds[i], k) == 0)
				counts[i] = (double)sqlite3_column_int64(st, 1);
		rc = 0;
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = err_set(ERR_IO, "store: counting secrets: %s", sqlite3_errmsg(s->rdb));
	if (st)
		sqlite3_finalize(st);
	pthread_mutex_unlock(&s->rmu);
	return rc;
}

int sms_store_purge_challenges(struct sms_store *s, long now)
{
	int rc;
	pthread_mutex_lock(&s->mu);
	rc = store_purge_challenges(s, now);
	secret_cache_drop(s);
	pthread_mutex_unlock(&s->mu);
	return rc;
}
