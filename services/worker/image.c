/* image.c — the worker's image store, see image.h. */
#include "image.h"

#include "oci/ref.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOB_JSON_MAX (4u << 20)
#define TREE_FILE     "tree.sha256"

void image_opts_default(struct image_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->id_count = 65536;
	layer_limits_default(&o->lim);
}

/* ---------- blobs ---------- */

static int sha256_fd(int fd, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t buf[1 << 16];
	ssize_t n;
	int rc = 0;

	ENSURE(md, ERR_NOMEM, "sha256: out of memory");
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(md, buf, (size_t)n);
	if (n < 0)
		rc = err_set(ERR_IO, "read: %s", strerror(errno));
	EVP_DigestFinal_ex(md, out, NULL);
	EVP_MD_CTX_free(md);
	return rc;
}

/* "sha256:<hex>" of the layout -> an fd on the blob, checked against its
 * digest and rewound. */
static int blob_open(const char *layout, const char *digest, int *out)
{
	uint8_t want[32], got[32];
	char path[PATH_MAX];
	struct stat st;
	int fd, rc;

	*out = -1;
	ENSURE(digest && strncmp(digest, "sha256:", 7) == 0 && strlen(digest) == 71,
	       ERR_UNSUPPORTED, "oci: unsupported digest '%.80s'", digest ? digest : "");
	GUARD(hex_decode_exact(want, 32, digest + 7, "digest"));
	GUARD(path_fmt(path, sizeof(path), "%s/blobs/sha256/%s", layout, digest + 7));
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return err_set(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "oci: blob %s: %s", digest,
		               strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(ERR_INVAL, "oci: blob %s is not a regular file", digest);
	}
	rc = sha256_fd(fd, got);
	if (rc == 0 && CRYPTO_memcmp(want, got, 32) != 0)
		rc = err_set(ERR_VERIFY, "oci: blob %s does not match its digest", digest);
	if (rc == 0 && lseek(fd, 0, SEEK_SET) != 0)
		rc = err_set(ERR_IO, "oci: blob %s: %s", digest, strerror(errno));
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

static int blob_json(const char *layout, const char *digest, json_t **out)
{
	char path[PATH_MAX];
	int fd;
	GUARD(blob_open(layout, digest, &fd));
	close(fd);
	GUARD(path_fmt(path, sizeof(path), "%s/blobs/sha256/%s", layout, digest + 7));
	return json_load_path(path, BLOB_JSON_MAX, out);
}

/* ---------- the tree digest ---------- */

struct tree {
	int meta; /* a fingerprint: inode and change times in place of content */
	EVP_MD_CTX *md, *file;
	char path[PATH_MAX];
	size_t len;
	uint8_t buf[1 << 16];
};

static void put_u32(struct tree *t, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	EVP_DigestUpdate(t->md, b, 4);
}

static void put_u64(struct tree *t, uint64_t v)
{
	put_u32(t, (uint32_t)(v >> 32));
	put_u32(t, (uint32_t)v);
}

static void put_bytes(struct tree *t, const void *p, size_t n)
{
	put_u32(t, (uint32_t)n);
	EVP_DigestUpdate(t->md, p, n);
}

static int tree_dir(struct tree *t, int fd, unsigned depth);

/* One entry (`name` in dirfd; "" = dirfd itself), its path in t->path. */
static int tree_entry(struct tree *t, int dirfd, const char *name, unsigned depth)
{
	struct stat st, fst;
	char type;
	int fd = -1, rc = 0;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH)) != 0)
		return err_set(ERR_IO, "tree: %s: %s", t->path, strerror(errno));
	type = S_ISDIR(st.st_mode)    ? 'd'
	       : S_ISREG(st.st_mode)  ? 'f'
	       : S_ISLNK(st.st_mode)  ? 'l'
	       : S_ISCHR(st.st_mode)  ? 'c'
	       : S_ISBLK(st.st_mode)  ? 'b'
	       : S_ISFIFO(st.st_mode) ? 'p'
	                              : 's';
	put_bytes(t, t->path, t->len);
	put_bytes(t, &type, 1);
	put_u32(t, (uint32_t)(st.st_mode & 07777));
	put_u32(t, (uint32_t)st.st_uid);
	put_u32(t, (uint32_t)st.st_gid);
	if (t->meta) {
		put_u64(t, (uint64_t)st.st_ino);
		put_u64(t, (uint64_t)st.st_size);
		put_u64(t, (uint64_t)st.st_ctim.tv_sec);
		put_u64(t, (uint64_t)st.st_ctim.tv_nsec);
		put_u64(t, (uint64_t)st.st_mtim.tv_sec);
		put_u64(t, (uint64_t)st.st_mtim.tv_nsec);
	}
	if (type == 'l') {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
		if (n < 0 || (size_t)n >= sizeof(target))
			return err_set(ERR_IO, "tree: %s: cannot read the link", t->path);
		put_bytes(t, target, (size_t)n);
		return 0;
	}
	if (type != 'f' && type != 'd')
		return 0;
	fd = *name ? openat(dirfd, name,
	                    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	                        (type == 'd' ? O_DIRECTORY : 0))
	           : openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &fst) != 0 || fst.st_ino != st.st_ino || fst.st_dev != st.st_dev) {
		rc = err_set(ERR_IO, "tree: %s: changed while read", t->path);
		goto out;
	}
	if (type == 'd') {
		rc = tree_dir(t, fd, depth);
	} else if (!t->meta) {
		uint8_t h[32];
		ssize_t n;
		put_u64(t, (uint64_t)st.st_size);
		EVP_DigestInit_ex(t->file, EVP_sha256(), NULL);
		while ((n = read(fd, t->buf, sizeof(t->buf))) > 0)
			EVP_DigestUpdate(t->file, t->buf, (size_t)n);
		EVP_DigestFinal_ex(t->file, h, NULL);
		if (n < 0)
			rc = err_set(ERR_IO, "tree: %s: %s", t->path, strerror(errno));
		EVP_DigestUpdate(t->md, h, 32);
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static int tree_dir(struct tree *t, int fd, unsigned depth)
{
	char **names = NULL;
	size_t n = 0, len = t->len;
	int rc = 0;

	ENSURE(depth < LAYER_MAX_DEPTH, ERR_INVAL, "tree: deeper than %d levels", LAYER_MAX_DEPTH);
	if (file_list_at(fd, &names, &n) < 0)
		return err_wrap(ERR_IO, "tree: %s", t->path);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t nl = strlen(names[i]);
		ENSURE_GOTO(len + nl + 2 <= sizeof(t->path), ERR_INVAL,
		            "tree: a path over %zu bytes", sizeof(t->path));
		t->len = len;
		if (len)
			t->path[t->len++] = '/';
		memcpy(t->path + t->len, names[i], nl + 1);
		t->len += nl;
		rc = tree_entry(t, fd, names[i], depth + 1);
	}
out:
	t->len = len;
	t->path[len] = 0;
	file_list_free(names, n);
	return rc;
}

static int tree_walk(const char *rootfs, int meta, uint8_t out[32])
{
	struct tree *t = calloc(1, sizeof(*t));
	int fd = -1, rc;

	ENSURE(t, ERR_NOMEM, "tree: out of memory");
	t->meta = meta;
	t->md = EVP_MD_CTX_new();
	t->file = EVP_MD_CTX_new();
	ENSURE_GOTO(t->md && t->file && EVP_DigestInit_ex(t->md, EVP_sha256(), NULL), ERR_CRYPTO,
	            "tree: sha256 unavailable");
	put_bytes(t, meta ? "tdexec-tree-stat-v1" : "tdexec-tree-v1", meta ? 19 : 14);
	if ((fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = err_set(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "tree: %s: %s", rootfs,
		             strerror(errno));
		goto out;
	}
	GUARD_GOTO(tree_entry(t, fd, "", 0));
	EVP_DigestFinal_ex(t->md, out, NULL);
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(t->md);
	EVP_MD_CTX_free(t->file);
	free(t);
	return rc;
}

int image_tree_digest(const char *rootfs, uint8_t out[32])
{
	return tree_walk(rootfs, 0, out);
}

/* ---------- the store ---------- */

/* Images this process checked in full (every file's content), by a stat
 * fingerprint of DEST: inode numbers, sizes, modes, owners, and change and
 * modification times of every entry.  A change of content or metadata made
 * through the kernel moves the entry's ctime, which no process can set, so
 * a reuse whose fingerprint is unchanged needs no re-hash: an image is
 * hashed once per worker process, then stat-walked (microseconds for a
 * binary, milliseconds for thousands of files).  Blocks changed under the
 * file system by the host are out of reach of any check made before runc
 * reads them: that is why the work directory must be private to the TD. */
#define VERIFIED_MAX 32
static struct {
	char dest[PATH_MAX];
	uint8_t fp[32];
} verified[VERIFIED_MAX];
static unsigned verified_next;
static pthread_mutex_t verified_mu = PTHREAD_MUTEX_INITIALIZER;

static int fingerprint(const char *dest, uint8_t out[32])
{
	uint8_t both[64];
	char path[PATH_MAX];
	struct stat st;
	GUARD(path_fmt(path, sizeof(path), "%s/rootfs", dest));
	GUARD(tree_walk(path, 1, both));
	GUARD(path_fmt(path, sizeof(path), "%s/image.json", dest));
	ENSURE(stat(path, &st) == 0, ERR_IO, "%s: %s", path, strerror(errno));
	memset(both + 32, 0, 32);
	memcpy(both + 32, &st.st_ino, sizeof(st.st_ino));
	memcpy(both + 40, &st.st_ctim, sizeof(st.st_ctim));
	SHA256(both, 64, out);
	return 0;
}

/* 1 when DEST's fingerprint is the one recorded at its last full check. */
static int verified_unchanged(const char *dest)
{
	uint8_t fp[32];
	int hit = 0;
	if (fingerprint(dest, fp) < 0)
		return 0;
	pthread_mutex_lock(&verified_mu);
	for (unsigned i = 0; i < VERIFIED_MAX && !hit; i++)
		hit = strcmp(verified[i].dest, dest) == 0 &&
		      CRYPTO_memcmp(verified[i].fp, fp, 32) == 0;
	pthread_mutex_unlock(&verified_mu);
	return hit;
}

static void verified_record(const char *dest)
{
	uint8_t fp[32];
	unsigned slot = VERIFIED_MAX;
	if (fingerprint(dest, fp) < 0)
		return;
	pthread_mutex_lock(&verified_mu);
	for (unsigned i = 0; i < VERIFIED_MAX && slot == VERIFIED_MAX; i++)
		if (strcmp(verified[i].dest, dest) == 0)
			slot = i;
	if (slot == VERIFIED_MAX)
		slot = verified_next++ % VERIFIED_MAX;
	snprintf(verified[slot].dest, sizeof(verified[slot].dest), "%s", dest);
	memcpy(verified[slot].fp, fp, 32);
	pthread_mutex_unlock(&verified_mu);
}

/* DEST/tree.sha256: "<hex>  rootfs\n<hex>  image.json\n" (sha256sum's form). */
static int cache_digests(const char *dest, uint8_t tree[32], uint8_t cfg[32])
{
	char path[PATH_MAX];
	GUARD(path_fmt(path, sizeof(path), "%s/rootfs", dest));
	GUARD(image_tree_digest(path, tree));
	GUARD(path_fmt(path, sizeof(path), "%s/image.json", dest));
	return file_sha256(path, BLOB_JSON_MAX, cfg);
}

static int cache_seal(const char *dest)
{
	uint8_t tree[32], cfg[32];
	char line[160], th[65], ch[65], path[PATH_MAX];
	GUARD(cache_digests(dest, tree, cfg));
	hex_encode(th, tree, 32);
	hex_encode(ch, cfg, 32);
	snprintf(line, sizeof(line), "%s  rootfs\n%s  image.json\n", th, ch);
	GUARD(path_fmt(path, sizeof(path), "%s/" TREE_FILE, dest));
	return file_write(path, line, strlen(line), 0600);
}

/* 0: DEST holds the image as it was unpacked, *cfg loaded; 1: it does not
 * (anything there was removed). */
static int cache_check(const char *dest, const char *image, json_t **cfg)
{
	uint8_t tree[32], c[32], want[64];
	char path[PATH_MAX], th[65] = "", ch[65] = "";
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;
	const char *why = NULL;

	if (lstat(dest, &st) != 0)
		return 1;
	GUARD(path_fmt(path, sizeof(path), "%s/image.json", dest));
	if (S_ISDIR(st.st_mode) && verified_unchanged(dest))
		return json_load_path(path, BLOB_JSON_MAX, cfg);
	GUARD(path_fmt(path, sizeof(path), "%s/" TREE_FILE, dest));
	if (!S_ISDIR(st.st_mode) || file_read(path, 512, &buf, &len) < 0)
		why = "no tree digest";
	else if (len != 150 || memcmp(buf + 64, "  rootfs\n", 9) != 0 ||
	         memcmp(buf + 137, "  image.json\n", 13) != 0 ||
	         (memcpy(th, buf, 64), memcpy(ch, buf + 73, 64),
	          hex_decode_exact(want, 32, th, "tree") < 0) ||
	         hex_decode_exact(want + 32, 32, ch, "config") < 0)
		why = "a malformed tree digest";
	else if (cache_digests(dest, tree, c) < 0)
		why = err_msg();
	else if (CRYPTO_memcmp(tree, want, 32) != 0 || CRYPTO_memcmp(c, want + 32, 32) != 0)
		why = "tree digest mismatch";
	if (!why) {
		free(buf);
		verified_record(dest);
		GUARD(path_fmt(path, sizeof(path), "%s/image.json", dest));
		GUARD(json_load_path(path, BLOB_JSON_MAX, cfg));
		return 0;
	}
	log_warn("worker.image", "image=%s cache=\"%s\" action=rebuild", image, why);
	free(buf);
	GUARD(file_remove_tree(dest));
	return 1;
}

/* Apply the manifest's layers to tmp/rootfs. */
static const char *const mount_points[] = {"proc", "sys", "dev", "tmp", "iexec_in", "iexec_out"};

static int unpack_layers(const char *layout, const char *hex, const json_t *manifest,
                         const json_t *cfg, const char *tmp, const struct image_opts *o)
{
	json_t *layers = json_object_get(manifest, "layers");
	json_t *diffs = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	struct layer_usage u = {0};
	struct layer_opts lo = {.uid_base = o->uid_base,
	                        .gid_base = o->gid_base,
	                        .id_count = o->id_count,
	                        .keep_owner = 1,
	                        .lim = o->lim};
	char path[PATH_MAX], label[32];
	int rootfd = -1, fd = -1, rc = 0;

	ENSURE(json_is_array(layers), ERR_INVAL, "oci: manifest %s has no layers", hex);
	ENSURE(json_is_array(diffs) && json_array_size(diffs) == json_array_size(layers), ERR_INVAL,
	       "oci: image %s has %zu layers and its config %zu diff_ids", hex,
	       json_array_size(layers), json_array_size(diffs));
	GUARD(path_fmt(path, sizeof(path), "%s/rootfs", tmp));
	GUARD(dir_create(tmp, 0700));
	ENSURE(chmod(tmp, 0700) == 0 && mkdir(path, 0755) == 0 &&
	           (rootfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0,
	       ERR_IO, "oci: %s: %s", path, strerror(errno));
	if (geteuid() == 0 && fchown(rootfd, o->uid_base, o->gid_base) != 0) {
		rc = err_set(ERR_IO, "oci: %s: %s", path, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < json_array_size(layers); i++) {
		const json_t *l = json_array_get(layers, i);
		const char *mt = json_string_value(json_object_get(l, "mediaType"));
		const char *did = json_string_value(json_array_get(diffs, i));
		uint8_t diff[32];
		struct layer_src src = {.fd = -1};

		snprintf(label, sizeof(label), "layer %zu", i + 1);
		lo.label = label;
		ENSURE_GOTO(layer_media_type_ok(mt), ERR_UNSUPPORTED,
		            "oci: %s of %s: unsupported media type '%.100s'", label, hex,
		            mt ? mt : "");
		ENSURE_GOTO(did && strncmp(did, "sha256:", 7) == 0 && strlen(did) == 71 &&
		                hex_decode_exact(diff, 32, did + 7, "diff_id") == 0,
		            ERR_INVAL, "oci: %s of %s: bad diff_id", label, hex);
		GUARD_GOTO(blob_open(layout, json_string_value(json_object_get(l, "digest")), &fd));
		src.fd = fd;
		rc = layer_apply(rootfd, &src, diff, &lo, &u);
		close(fd);
		fd = -1;
		GUARD_GOTO(rc);
	}
	/* The runtime's mount points, made now: runc would make the missing
	 * ones in the cached rootfs at the first run, and the tree digest
	 * would then no longer match at the next.  What a layer put at such a
	 * name (a file, a link) stays; runc resolves it inside the rootfs. */
	for (size_t i = 0; i < sizeof(mount_points) / sizeof(*mount_points); i++)
		if (mkdirat(rootfd, mount_points[i], 0755) == 0 &&
		    ((geteuid() == 0 && fchownat(rootfd, mount_points[i], o->uid_base, o->gid_base,
		                                 AT_SYMLINK_NOFOLLOW) != 0) ||
		     fchmodat(rootfd, mount_points[i], 0755, 0) != 0)) {
			rc = err_set(ERR_IO, "oci: /%s: %s", mount_points[i], strerror(errno));
			goto out;
		}
	log_info("worker.image", "image=%s layers=%zu entries=%llu bytes=%llu skipped=%llu", hex,
	         json_array_size(layers), (unsigned long long)u.entries,
	         (unsigned long long)u.bytes, (unsigned long long)u.skipped);
out:
	if (fd >= 0)
		close(fd);
	if (rootfd >= 0)
		close(rootfd);
	return rc;
}

int image_unpack(const char *layout, const uint8_t digest[32], const char *dest,
                 const struct image_opts *o, json_t **config)
{
	char hex[72] = "sha256:", tmp[PATH_MAX], path[PATH_MAX];
	json_t *manifest = NULL, *cfg = NULL;
	int rc;

	*config = NULL;
	hex_encode(hex + 7, digest, 32);
	rc = cache_check(dest, hex, &cfg);
	GUARD(rc);
	if (rc == 0)
		goto done;
	GUARD(path_fmt(tmp, sizeof(tmp), "%s.tmp", dest));
	GUARD(file_remove_tree(tmp));
	rc = blob_json(layout, hex, &manifest);
	if (rc == ERR_NOTFOUND)
		rc = err_set(ERR_NOTFOUND, "oci: image %s is not in %s", hex, layout);
	GUARD_GOTO(rc);
	if (oci_is_index(manifest)) {
		/* the digest registries show for a multi-platform image: the
		 * app's checksum names the index, which names this platform's
		 * manifest, each checked against its digest as it is read */
		const json_t *pick;
		json_t *m = NULL;
		const char *md;
		rc = oci_index_pick(manifest, &pick);
		if (rc < 0) {
			err_wrap(rc, "oci: %s", hex);
			goto out;
		}
		md = json_string_value(json_object_get(pick, "digest"));
		rc = blob_json(layout, md, &m);
		if (rc == ERR_NOTFOUND)
			rc = err_set(ERR_NOTFOUND,
			             "oci: image %s: its linux/amd64 manifest %s is not "
			             "in %s",
			             hex, md ? md : "?", layout);
		GUARD_GOTO(rc);
		/* md lives in the index: logged before the index is freed */
		log_info("worker.image", "image=%s index=1 manifest=%s", hex, md);
		json_decref(manifest);
		manifest = m;
		ENSURE_GOTO(!oci_is_index(manifest), ERR_UNSUPPORTED,
		            "oci: %s: an index inside an index is not supported", hex);
	}
	ENSURE_GOTO(json_is_object(json_object_get(manifest, "config")), ERR_INVAL,
	            "oci: manifest %s has no config", hex);
	GUARD_GOTO(blob_json(
	    layout,
	    json_string_value(json_object_get(json_object_get(manifest, "config"), "digest")),
	    &cfg));
	GUARD_GOTO(unpack_layers(layout, hex, manifest, cfg, tmp, o));
	GUARD_GOTO(path_fmt(path, sizeof(path), "%s/image.json", tmp));
	GUARD_GOTO(json_write_path(path, cfg, 0600));
	GUARD_GOTO(cache_seal(tmp));
	if (rename(tmp, dest) != 0) {
		rc = err_set(ERR_IO, "oci: %s: %s", dest, strerror(errno));
		goto out;
	}
	verified_record(dest); /* built and sealed just now */
	json_decref(manifest);
done:
	*config = json_incref(json_object_get(cfg, "config"));
	if (!*config)
		*config = json_object();
	json_decref(cfg);
	return 0;
out:
	json_decref(manifest);
	json_decref(cfg);
	{
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", err_msg());
		if (file_remove_tree(tmp) < 0)
			log_warn("worker.image", "tmp=\"%s\" removed=0 error=\"%s\"", tmp,
			         err_msg());
		err_set(rc, "%s", msg);
	}
	return rc;
}

int image_archive_unpack(const char *archive, const char *dest)
{
	struct layer_opts lo = {.label = "oci archive", .plain = 1};
	struct layer_usage u = {0};
	struct layer_src src = {.fd = -1};
	int rootfd = -1, rc;

	layer_limits_default(&lo.lim);
	if ((src.fd = open(archive, O_RDONLY | O_CLOEXEC)) < 0)
		return err_set(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "%s: %s", archive,
		               strerror(errno));
	GUARD_GOTO(file_remove_tree(dest));
	GUARD_GOTO(dir_create(dest, 0700));
	ENSURE_GOTO(chmod(dest, 0700) == 0 &&
	                (rootfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0,
	            ERR_IO, "%s: %s", dest, strerror(errno));
	rc = layer_apply(rootfd, &src, NULL, &lo, &u);
out:
	if (rootfd >= 0)
		close(rootfd);
	close(src.fd);
	return rc;
}
