/* layer.c — apply one OCI image layer to a rootfs, see layer.h.
 *
 * libarchive reads; nothing here lets it write.  Two readers are stacked:
 * the outer one ("raw" format) only decompresses, and its output, the tar
 * stream, is hashed on its way to the inner one, which parses tar and
 * nothing else.  So the diff_id is computed over exactly the bytes parsed,
 * and no other archive format or external decompressor is ever reached. */
#include "layer.h"

#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WH        ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define WH_META   ".wh..wh."
#define LINKS_MAX 40 /* symlinks followed in one resolution, as the kernel */

void layer_limits_default(struct layer_limits *lim)
{
	lim->max_total = LAYER_MAX_TOTAL;
	lim->max_entries = LAYER_MAX_ENTRIES;
	lim->max_file = LAYER_MAX_FILE;
	lim->max_path = LAYER_MAX_PATH;
}

int layer_media_type_ok(const char *mt)
{
	static const char *const types[] = {
	    "application/vnd.oci.image.layer.v1.tar",
	    "application/vnd.oci.image.layer.v1.tar+gzip",
	    "application/vnd.oci.image.layer.v1.tar+zstd",
	    "application/vnd.docker.image.rootfs.diff.tar.gzip",
	};
	for (size_t i = 0; mt && i < sizeof(types) / sizeof(*types); i++)
		if (strcmp(mt, types[i]) == 0)
			return 1;
	return 0;
}

/* A single directory entry name we may create or remove. */
static int name_ok(const char *n)
{
	return *n && strcmp(n, ".") != 0 && strcmp(n, "..") != 0 && !strchr(n, '/') &&
	       strlen(n) <= NAME_MAX;
}

/* ---------- resolving inside the root ---------- */

/* RESOLVE_IN_ROOT without openat2: component by component with O_NOFOLLOW;
 * a symlink met on the way has its target put in front of what remains
 * ("/" restarts at the root, ".." stops there), at most LINKS_MAX times. */
static int walk_in_root(int rootfd, const char *path)
{
	char *rest = strdup(path), comp[NAME_MAX + 1];
	size_t pos = 0;
	unsigned depth = 0, links = 0;
	int cur = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (!rest || cur < 0) {
		rc = !rest ? -ENOMEM : -errno;
		goto out;
	}
	while (rest[pos]) {
		size_t n = strcspn(rest + pos, "/");
		struct stat st;
		int fd, err;

		if (n == 0) {
			pos++;
			continue;
		}
		if (n > NAME_MAX) {
			rc = -ENAMETOOLONG;
			goto out;
		}
		memcpy(comp, rest + pos, n);
		comp[n] = 0;
		pos += n;
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			if (depth == 0)
				continue;
			if ((fd = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
				rc = -errno;
				goto out;
			}
			close(cur);
			cur = fd;
			depth--;
			continue;
		}
		fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			close(cur);
			cur = fd;
			depth++;
			continue;
		}
		err = errno;
		if ((err == ELOOP || err == ENOTDIR) &&
		    fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
			char target[PATH_MAX], *nr;
			ssize_t tn = readlinkat(cur, comp, target, sizeof(target));
			size_t rl = strlen(rest + pos);

			if (tn < 0 || (size_t)tn >= sizeof(target) || ++links > LINKS_MAX) {
				rc = tn < 0 ? -errno : links > LINKS_MAX ? -ELOOP : -ENAMETOOLONG;
				goto out;
			}
			if (!(nr = malloc((size_t)tn + rl + 2))) {
				rc = -ENOMEM;
				goto out;
			}
			memcpy(nr, target, (size_t)tn);
			nr[tn] = '/';
			memcpy(nr + tn + 1, rest + pos, rl + 1);
			free(rest);
			rest = nr;
			pos = 0;
			if (target[0] == '/') {
				if ((fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) <
				    0) {
					rc = -errno;
					goto out;
				}
				close(cur);
				cur = fd;
				depth = 0;
			}
			continue;
		}
		rc = -err;
		goto out;
	}
out:
	free(rest);
	if (rc < 0 && cur >= 0)
		close(cur);
	return rc < 0 ? rc : cur;
}

static int openat2_missing;

int layer_open_dir(int rootfd, const char *path, int force_walk)
{
	if (!*path)
		path = ".";
	if (!force_walk && !openat2_missing) {
		struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		                       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
		for (int tries = 0; tries < 16; tries++) {
			long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
			if (fd >= 0)
				return (int)fd;
			if (errno == ENOSYS) {
				openat2_missing = 1;
				break;
			}
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
		}
		if (!openat2_missing)
			return -EAGAIN;
	}
	return walk_in_root(rootfd, path);
}

/* ---------- the set of paths this layer wrote ---------- */

struct pathset {
	char **slot;
	size_t cap, n;
};

static uint64_t path_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
	return h;
}

static size_t pathset_find(const struct pathset *s, const char *p, size_t n)
{
	size_t i = (size_t)path_hash(p, n) & (s->cap - 1);
	while (s->slot[i] && (strncmp(s->slot[i], p, n) != 0 || s->slot[i][n]))
		i = (i + 1) & (s->cap - 1);
	return i;
}

static int pathset_has(const struct pathset *s, const char *p)
{
	return s->cap && s->slot[pathset_find(s, p, strlen(p))] != NULL;
}

static int pathset_add(struct pathset *s, const char *p, size_t n)
{
	size_t i;
	if (2 * (s->n + 1) > s->cap) {
		struct pathset g = {calloc(s->cap ? 2 * s->cap : 256, sizeof(char *)),
		                    s->cap ? 2 * s->cap : 256, s->n};
		ENSURE(g.slot, ERR_NOMEM, "layer: out of memory");
		for (size_t j = 0; j < s->cap; j++)
			if (s->slot[j])
				g.slot[pathset_find(&g, s->slot[j], strlen(s->slot[j]))] =
				    s->slot[j];
		free(s->slot);
		*s = g;
	}
	i = pathset_find(s, p, n);
	if (s->slot[i])
		return 0;
	ENSURE((s->slot[i] = strndup(p, n)), ERR_NOMEM, "layer: out of memory");
	s->n++;
	return 0;
}

static void pathset_free(struct pathset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

/* ---------- one layer ---------- */

struct dirtime {
	char *path;
	struct timespec ts[2];
};

/* The decompressed stream: read from the outer archive, hashed, capped. */
struct stream {
	struct archive *raw;
	EVP_MD_CTX *md;
	uint64_t n, cap;
	int over, eof;
	char buf[1 << 16];
};

struct ctx {
	int rootfd, chown;
	const struct layer_opts *o;
	const char *entry; /* the entry's name as in the tar, for errors */
	uint64_t entries, content, skipped;
	struct pathset added; /* paths this layer created, and their parents */
	struct dirtime *dirs;
	size_t ndirs, capdirs;
};

/* A hostile name in a message: printable ASCII only, cut at 200 bytes. */
static void safe_name(char *out, size_t cap, const char *in)
{
	size_t i = 0;
	for (; in && in[i] && i + 4 < cap && i < 200; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f && in[i] != '\'' ? in[i] : '?';
	if (in && in[i] && i + 4 < cap)
		memcpy(out + i, "...", 3), i += 3;
	out[i] = 0;
}

static int fail(const struct ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(const struct ctx *c, int code, const char *fmt, ...)
{
	char why[512], name[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!c->entry)
		return err_set(code, "%s: %s", c->o->label, why);
	safe_name(name, sizeof(name), c->entry);
	return err_set(code, "%s: entry '%s': %s", c->o->label, name, why);
}

static la_ssize_t stream_read(struct archive *a, void *ud, const void **out)
{
	struct stream *s = ud;
	la_ssize_t n;

	if (s->eof)
		return 0;
	n = archive_read_data(s->raw, s->buf, sizeof(s->buf));
	if (n < 0) {
		archive_set_error(a, EIO, "%s", archive_error_string(s->raw));
		return -1;
	}
	if (n == 0) {
		s->eof = 1;
		return 0;
	}
	if ((uint64_t)n > s->cap - s->n) {
		s->over = 1;
		archive_set_error(a, EFBIG, "over the size cap");
		return -1;
	}
	s->n += (uint64_t)n;
	EVP_DigestUpdate(s->md, s->buf, (size_t)n);
	*out = s->buf;
	return n;
}

static void stream_close(struct stream *s)
{
	if (!s)
		return;
	if (s->raw)
		archive_read_free(s->raw);
	EVP_MD_CTX_free(s->md);
	free(s);
}

static int stream_open(const struct ctx *c, const struct layer_src *src, uint64_t cap,
                       struct stream **out)
{
	struct stream *s = calloc(1, sizeof(*s));
	struct archive_entry *e;
	int rc = 0, r;

	*out = s;
	ENSURE(s, ERR_NOMEM, "layer: out of memory");
	s->cap = cap;
	ENSURE((s->md = EVP_MD_CTX_new()) && EVP_DigestInit_ex(s->md, EVP_sha256(), NULL),
	       ERR_CRYPTO, "layer: sha256 unavailable");
	ENSURE((s->raw = archive_read_new()), ERR_NOMEM, "layer: out of memory");
	/* ARCHIVE_WARN would mean an external program: refused. */
	ENSURE(archive_read_support_filter_gzip(s->raw) == ARCHIVE_OK &&
	           archive_read_support_filter_zstd(s->raw) == ARCHIVE_OK &&
	           archive_read_support_format_raw(s->raw) == ARCHIVE_OK,
	       ERR_UNSUPPORTED, "layer: libarchive without built-in gzip and zstd");
	if (src->fd >= 0) {
		ENSURE(lseek(src->fd, 0, SEEK_SET) == 0, ERR_IO, "%s: seek: %s", c->o->label,
		       strerror(errno));
		r = archive_read_open_fd(s->raw, src->fd, 1 << 16);
	} else {
		r = archive_read_open_memory(s->raw, src->len ? src->mem : "", src->len);
	}
	if (r == ARCHIVE_OK)
		r = archive_read_next_header(s->raw, &e);
	if (r == ARCHIVE_EOF)
		s->eof = 1;
	else if (r != ARCHIVE_OK)
		rc = fail(c, ERR_INVAL, "cannot decompress: %s", archive_error_string(s->raw));
	return rc;
}

static int tar_fail(const struct ctx *c, const struct stream *s, struct archive *tar)
{
	char msg[256];
	if (s->over)
		return fail(
		    c, ERR_TOOBIG,
		    "the image's uncompressed layers are over the cap max_total (%llu bytes)",
		    (unsigned long long)c->o->lim.max_total);
	safe_name(msg, sizeof(msg), archive_error_string(tar));
	return fail(c, ERR_INVAL, "bad tar: %s", msg);
}

/* The entry name made relative, "" and "." components dropped; ".." and
 * overlong or overdeep names refused (`why` says which). */
static int norm_path(const char *in, char *out, const char **why)
{
	size_t o = 0;
	unsigned depth = 0;
	const char *p = in;

	while (*p) {
		size_t n;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			*why = "'..' in a name is refused";
			return ERR_INVAL;
		}
		if (n > NAME_MAX) {
			*why = "a name component is longer than NAME_MAX";
			return ERR_INVAL;
		}
		if (!(n == 1 && p[0] == '.')) {
			if (++depth > LAYER_MAX_DEPTH) {
				*why = "more directory levels than LAYER_MAX_DEPTH";
				return ERR_INVAL;
			}
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
	}
	out[o] = 0;
	return 0;
}

/* An entry's name or hard link target, capped and normalized into a new
 * string (*out, free()); errors say `what` (and `prefix` before why). */
static int take_path(struct ctx *c, const char *in, const char *what, const char *prefix,
                     char **out)
{
	const char *why = NULL;

	*out = NULL;
	if (strlen(in) > c->o->lim.max_path)
		return fail(c, ERR_TOOBIG, "%s over the cap max_path (%llu bytes)", what,
		            (unsigned long long)c->o->lim.max_path);
	ENSURE((*out = malloc(strlen(in) + 1)), ERR_NOMEM, "layer: out of memory");
	if (norm_path(in, *out, &why) < 0)
		return fail(c, ERR_INVAL, "%s%s", prefix, why);
	return 0;
}

static const char *base_of(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* The directory holding path's last component.  With `create`, missing
 * directories are made (0755, the container's root) on the way. */
static int parent_of(struct ctx *c, const char *path, int create, int *pfd)
{
	const char *b = base_of(path);
	size_t dlen = b == path ? 0 : (size_t)(b - path) - 1;
	char *dir = strndup(path, dlen);
	int fd, prev = -1, rc = 0;

	*pfd = -1;
	ENSURE(dir, ERR_NOMEM, "layer: out of memory");
	fd = layer_open_dir(c->rootfd, dir, c->o->force_walk);
	if (fd >= 0 || fd != -ENOENT || !create) {
		if (fd < 0)
			rc = !create && (fd == -ENOENT || fd == -ENOTDIR)
			         ? 1
			         : fail(c, ERR_INVAL, "parent directory: %s", strerror(-fd));
		goto out;
	}
	/* Component by component: prefix i resolves to `prev`'s child. */
	if ((prev = layer_open_dir(c->rootfd, "", c->o->force_walk)) < 0) {
		rc = fail(c, ERR_IO, "root: %s", strerror(-prev));
		goto out;
	}
	for (size_t i = 0; prev >= 0 && i <= dlen; i++) {
		if (i < dlen && dir[i] != '/')
			continue;
		char save = dir[i];
		const char *comp = dir;
		for (size_t j = i; j > 0; j--)
			if (dir[j - 1] == '/') {
				comp = dir + j;
				break;
			}
		dir[i] = 0;
		fd = layer_open_dir(c->rootfd, dir, c->o->force_walk);
		if (fd == -ENOENT) {
			if (mkdirat(prev, comp, 0755) != 0) {
				char safe[256];
				safe_name(safe, sizeof(safe), dir);
				rc = fail(c, ERR_INVAL, "parent '%s': %s", safe,
				          errno == EEXIST ? "a link to nothing inside the rootfs"
				                          : strerror(errno));
				goto out;
			}
			fd = openat(prev, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0 &&
			    (fchmod(fd, 0755) != 0 ||
			     (c->chown && fchown(fd, c->o->uid_base, c->o->gid_base) != 0))) {
				close(fd);
				fd = -errno;
			}
		}
		dir[i] = save;
		if (fd < 0) {
			rc = fail(c, ERR_INVAL, "parent directory: %s", strerror(-fd));
			goto out;
		}
		close(prev);
		prev = fd;
		fd = -1;
	}
	fd = prev;
	prev = -1;
out:
	if (prev >= 0)
		close(prev);
	free(dir);
	if (rc == 0)
		*pfd = fd;
	return rc;
}

/* Make room for a new entry at pfd/name: a directory is kept when the new
 * entry is one too (1 is returned: merge). */
static int make_room(struct ctx *c, int pfd, const char *name, int newdir)
{
	struct stat st;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : fail(c, ERR_IO, "stat: %s", strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		if (newdir)
			return 1;
		return file_remove_at(pfd, name) < 0
		           ? fail(c, ERR_IO, "replacing a directory: %s", err_msg())
		           : 0;
	}
	if (unlinkat(pfd, name, 0) != 0)
		return fail(c, ERR_IO, "replacing: %s", strerror(errno));
	return 0;
}

static mode_t clean_mode(mode_t m, int dir)
{
	m &= 07777 & ~(mode_t)(S_ISUID | S_ISGID);
	return dir ? m : m & ~(mode_t)S_ISVTX;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[0].tv_sec = ts[1].tv_sec = 0;
	ts[0].tv_nsec = ts[1].tv_nsec = UTIME_OMIT;
	if (archive_entry_mtime_is_set(e)) {
		long ns = archive_entry_mtime_nsec(e);
		ts[1].tv_sec = archive_entry_mtime(e);
		ts[1].tv_nsec = ns >= 0 && ns < 1000000000 ? ns : 0;
		ts[0] = ts[1];
	}
}

static int owner_at(const struct ctx *c, int dirfd, const char *name, struct archive_entry *e)
{
	if (!c->chown)
		return 0;
	uid_t uid = c->o->uid_base + (uint32_t)archive_entry_uid(e);
	gid_t gid = c->o->gid_base + (uint32_t)archive_entry_gid(e);
	int flags = AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH);
	return fchownat(dirfd, name, uid, gid, flags) == 0 ? 0 : -errno;
}

static int mark_added(struct ctx *c, const char *path)
{
	for (size_t i = 0;; i++)
		if (path[i] == '/' || !path[i]) {
			GUARD(pathset_add(&c->added, path, i));
			if (!path[i])
				return 0;
		}
}

static int write_data(struct ctx *c, const struct stream *s, struct archive *tar, int fd,
                      uint64_t size)
{
	const void *buf;
	size_t n;
	la_int64_t off;

	for (;;) {
		int r = archive_read_data_block(tar, &buf, &n, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return tar_fail(c, s, tar);
		if (off < 0 || (uint64_t)off > size || n > size - (uint64_t)off)
			return fail(c, ERR_INVAL, "data beyond the file's size");
		for (const char *p = buf; n > 0;) {
			ssize_t w = pwrite(fd, p, n, (off_t)off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return fail(c, ERR_IO, "write: %s", strerror(errno));
			p += w;
			n -= (size_t)w;
			off += w;
		}
	}
	if (ftruncate(fd, (off_t)size) != 0)
		return fail(c, ERR_IO, "truncate: %s", strerror(errno));
	return 0;
}

static int put_reg(struct ctx *c, const struct stream *s, struct archive *tar,
                   struct archive_entry *e, int pfd, const char *name)
{
	struct timespec ts[2];
	int fd, rc;

	GUARD(make_room(c, pfd, name, 0));
	fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(c, ERR_IO, "create: %s", strerror(errno));
	rc = write_data(c, s, tar, fd, (uint64_t)archive_entry_size(e));
	entry_times(e, ts);
	if (rc == 0 && (rc = owner_at(c, fd, "", e)) < 0)
		rc = fail(c, ERR_IO, "chown: %s", strerror(-rc));
	if (rc == 0 && fchmod(fd, clean_mode(archive_entry_perm(e), 0)) != 0)
		rc = fail(c, ERR_IO, "chmod: %s", strerror(errno));
	if (rc == 0 && futimens(fd, ts) != 0)
		rc = fail(c, ERR_IO, "utimes: %s", strerror(errno));
	close(fd);
	return rc;
}

static int put_dir(struct ctx *c, struct archive_entry *e, const char *path, int pfd,
                   const char *name)
{
	int fd, rc, merge = make_room(c, pfd, name, 1);
	struct dirtime *d;

	GUARD(merge);
	if (!merge && mkdirat(pfd, name, 0700) != 0)
		return fail(c, ERR_IO, "mkdir: %s", strerror(errno));
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(c, ERR_IO, "open: %s", strerror(errno));
	rc = owner_at(c, fd, "", e);
	if (rc < 0)
		rc = fail(c, ERR_IO, "chown: %s", strerror(-rc));
	else if (fchmod(fd, clean_mode(archive_entry_perm(e), 1)) != 0)
		rc = fail(c, ERR_IO, "chmod: %s", strerror(errno));
	close(fd);
	GUARD(rc);
	/* mtimes of directories are set when the layer is done */
	if (c->ndirs == c->capdirs) {
		size_t nc = c->capdirs ? 2 * c->capdirs : 64;
		struct dirtime *nd = realloc(c->dirs, nc * sizeof(*nd));
		ENSURE(nd, ERR_NOMEM, "layer: out of memory");
		c->dirs = nd;
		c->capdirs = nc;
	}
	d = &c->dirs[c->ndirs];
	ENSURE((d->path = strdup(path)), ERR_NOMEM, "layer: out of memory");
	entry_times(e, d->ts);
	c->ndirs++;
	return 0;
}

static int put_symlink(struct ctx *c, struct archive_entry *e, int pfd, const char *name)
{
	struct timespec ts[2];
	int rc;

	GUARD(make_room(c, pfd, name, 0));
	if (symlinkat(archive_entry_symlink(e), pfd, name) != 0)
		return fail(c, ERR_IO, "symlink: %s", strerror(errno));
	if ((rc = owner_at(c, pfd, name, e)) < 0)
		return fail(c, ERR_IO, "chown: %s", strerror(-rc));
	entry_times(e, ts);
	if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) != 0)
		return fail(c, ERR_IO, "utimes: %s", strerror(errno));
	return 0;
}

/* A hard link to a regular file already in the rootfs, resolved in root. */
static int put_hardlink(struct ctx *c, const char *target, int pfd, const char *name)
{
	struct stat ts, ds;
	int tfd, rc = 0;
	const char *tname = base_of(target);

	if (!*target)
		return fail(c, ERR_INVAL, "hard link to the root");
	if ((rc = parent_of(c, target, 0, &tfd)) != 0)
		return rc < 0 ? rc : fail(c, ERR_INVAL, "hard link target not found");
	if (fstatat(tfd, tname, &ts, AT_SYMLINK_NOFOLLOW) != 0) {
		rc = fail(c, ERR_INVAL, "hard link target: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(ts.st_mode)) {
		rc = fail(c, ERR_INVAL, "hard link to something else than a regular file");
		goto out;
	}
	if (fstatat(pfd, name, &ds, AT_SYMLINK_NOFOLLOW) == 0 && ds.st_dev == ts.st_dev &&
	    ds.st_ino == ts.st_ino)
		goto out; /* already that file */
	GUARD_GOTO(make_room(c, pfd, name, 0));
	if (linkat(tfd, tname, pfd, name, 0) != 0)
		rc = fail(c, ERR_IO, "link: %s", strerror(errno));
out:
	close(tfd);
	return rc;
}

/* Empty the directory `lexpath` (open as dfd) of what this layer did not
 * add; directories it added or merged into are emptied the same way. */
static int prune(struct ctx *c, int dfd, const char *lexpath, unsigned depth)
{
	char **names = NULL, *child = NULL;
	size_t n = 0, plen = strlen(lexpath);
	int rc = 0;

	if (depth > LAYER_MAX_DEPTH)
		return fail(c, ERR_INVAL, "opaque directory nested deeper than LAYER_MAX_DEPTH");
	if (file_list_at(dfd, &names, &n) < 0)
		return fail(c, ERR_IO, "opaque directory: %s", err_msg());
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct stat st;
		free(child);
		ENSURE_GOTO((child = malloc(plen + strlen(names[i]) + 2)), ERR_NOMEM,
		            "layer: out of memory");
		sprintf(child, "%s%s%s", lexpath, plen ? "/" : "", names[i]);
		if (!pathset_has(&c->added, child)) {
			if (file_remove_at(dfd, names[i]) < 0)
				rc = fail(c, ERR_IO, "whiteout: %s", err_msg());
		} else if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		           S_ISDIR(st.st_mode)) {
			int cfd =
			    openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				rc = fail(c, ERR_IO, "opaque directory: %s", strerror(errno));
			} else {
				rc = prune(c, cfd, child, depth + 1);
				close(cfd);
			}
		}
	}
out:
	file_list_free(names, n);
	free(child);
	return rc;
}

/* ".wh.NAME" in dir (path = dir/NAME) or, with name NULL, ".wh..wh..opq". */
static int whiteout(struct ctx *c, const char *path, const char *name)
{
	struct stat st;
	int dfd, rc;

	if (!name) { /* the opaque marker's directory */
		dfd = layer_open_dir(c->rootfd, path, c->o->force_walk);
		if (dfd < 0)
			return dfd == -ENOENT || dfd == -ENOTDIR
			           ? 0
			           : fail(c, ERR_IO, "%s", strerror(-dfd));
		rc = prune(c, dfd, path, 0);
		close(dfd);
		return rc;
	}
	if ((rc = parent_of(c, path, 0, &dfd)) != 0)
		return rc < 0 ? rc : 0; /* no parent, nothing to hide */
	if (!pathset_has(&c->added, path))
		rc = file_remove_at(dfd, name) < 0 ? fail(c, ERR_IO, "whiteout: %s", err_msg()) : 0;
	else if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
		/* this layer's own NAME stays; under it, what lower layers left goes */
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		rc = fd < 0 ? fail(c, ERR_IO, "whiteout: %s", strerror(errno))
		            : prune(c, fd, path, 0);
		if (fd >= 0)
			close(fd);
	}
	close(dfd);
	return rc;
}

/* One entry: checked (both passes), then written (`write`). */
static int entry(struct ctx *c, const struct stream *s, struct archive *tar,
                 struct archive_entry *e, int write)
{
	const struct layer_opts *o = c->o;
	const char *name = archive_entry_pathname(e), *hl = archive_entry_hardlink(e);
	const char *base;
	char *path = NULL, *hpath = NULL, *wpath = NULL;
	mode_t type = archive_entry_filetype(e);
	int pfd = -1, rc = 0;

	c->entry = name ? name : "";
	if (++c->entries > o->lim.max_entries) {
		rc = err_set(ERR_TOOBIG, "%s: more entries than the cap max_entries (%llu)",
		             o->label, (unsigned long long)o->lim.max_entries);
		goto out;
	}
	ENSURE_GOTO(name && *name, ERR_INVAL, "%s: an entry without a name", o->label);
	GUARD_GOTO(take_path(c, name, "name", "", &path));
	base = base_of(path);

	if (!o->plain && strncmp(base, WH, strlen(WH)) == 0) {
		if (strcmp(base, WH_OPAQUE) != 0 && strncmp(base, WH_META, strlen(WH_META)) == 0)
			goto out; /* other aufs metadata: nothing to do */
		if (strcmp(base, WH_OPAQUE) != 0 && !name_ok(base + strlen(WH))) {
			rc = fail(c, ERR_INVAL, "a whiteout of no name");
			goto out;
		}
	}
	for (const char *p = path; !o->plain && *p; p = strchr(p, '/') + 1) {
		if (p != base && strncmp(p, WH, strlen(WH)) == 0) {
			rc = fail(c, ERR_INVAL, "a whiteout used as a directory");
			goto out;
		}
		if (p == base)
			break;
	}
	if (!o->plain && strncmp(base, WH, strlen(WH)) == 0) {
		if (!write)
			goto out;
		if (strcmp(base, WH_OPAQUE) == 0) {
			size_t dl = base == path ? 0 : (size_t)(base - path) - 1;
			ENSURE_GOTO((wpath = strndup(path, dl)), ERR_NOMEM, "layer: out of memory");
			rc = whiteout(c, wpath, NULL);
		} else {
			size_t bl = (size_t)(base - path);
			ENSURE_GOTO((wpath = malloc(strlen(path) + 1)), ERR_NOMEM,
			            "layer: out of memory");
			memcpy(wpath, path, bl);
			strcpy(wpath + bl, base + strlen(WH));
			rc = whiteout(c, wpath, base + strlen(WH));
		}
		goto out;
	}

	if (hl)
		type = AE_IFREG;
	if (o->plain && (hl || (type != AE_IFREG && type != AE_IFDIR))) {
		rc = fail(c, ERR_INVAL, "only regular files and directories are allowed here");
		goto out;
	}
	if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK || type == AE_IFIFO) {
		c->skipped++;
		goto out;
	}
	if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
		rc = fail(c, ERR_UNSUPPORTED, "unknown entry type 0%o", (unsigned)type);
		goto out;
	}
	if (!*path) {
		if (type != AE_IFDIR || hl)
			rc = fail(c, ERR_INVAL, "the root must be a directory");
		goto out; /* the root keeps the metadata the store gave it */
	}
	if (o->keep_owner) {
		la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
		if (uid < 0 || uid >= o->id_count || gid < 0 || gid >= o->id_count) {
			rc = fail(c, ERR_INVAL,
			          "owner %lld:%lld is outside the user namespace (ids 0 to %u)",
			          (long long)uid, (long long)gid, o->id_count - 1);
			goto out;
		}
	}
	if (hl) {
		GUARD_GOTO(take_path(c, hl, "link target", "hard link target: ", &hpath));
	} else if (type == AE_IFLNK) {
		const char *t = archive_entry_symlink(e);
		if (!t || !*t || strlen(t) > o->lim.max_path) {
			rc = fail(c, t && *t ? ERR_TOOBIG : ERR_INVAL,
			          "symlink target empty or over the cap max_path (%llu bytes)",
			          (unsigned long long)o->lim.max_path);
			goto out;
		}
	} else if (type == AE_IFREG) {
		la_int64_t size = archive_entry_size(e);
		if (size < 0 || (uint64_t)size > o->lim.max_file) {
			rc = fail(c, ERR_TOOBIG, "size over the cap max_file (%llu bytes)",
			          (unsigned long long)o->lim.max_file);
			goto out;
		}
		c->content += (uint64_t)size;
		if (c->content > o->lim.max_total) {
			rc = fail(c, ERR_TOOBIG,
			          "the image's files are over the cap max_total (%llu bytes)",
			          (unsigned long long)o->lim.max_total);
			goto out;
		}
	}
	if (!write)
		goto out;

	GUARD_GOTO(parent_of(c, path, 1, &pfd));
	if (hl)
		rc = put_hardlink(c, hpath, pfd, base);
	else if (type == AE_IFDIR)
		rc = put_dir(c, e, path, pfd, base);
	else if (type == AE_IFLNK)
		rc = put_symlink(c, e, pfd, base);
	else
		rc = put_reg(c, s, tar, e, pfd, base);
	if (rc == 0)
		rc = mark_added(c, path);
out:
	if (pfd >= 0)
		close(pfd);
	free(path);
	free(hpath);
	free(wpath);
	c->entry = NULL;
	return rc;
}

static int set_dir_times(struct ctx *c)
{
	for (size_t i = 0; i < c->ndirs; i++) {
		struct stat st;
		int pfd;
		const char *name = base_of(c->dirs[i].path);
		if (parent_of(c, c->dirs[i].path, 0, &pfd) != 0)
			continue; /* gone with a whiteout */
		if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
		    utimensat(pfd, name, c->dirs[i].ts, AT_SYMLINK_NOFOLLOW) != 0) {
			c->entry = c->dirs[i].path;
			close(pfd);
			return fail(c, ERR_IO, "utimes: %s", strerror(errno));
		}
		close(pfd);
	}
	return 0;
}

/* One read of the layer: every entry checked, and written when `write`.
 * The whole stream is hashed into `got` even when parsing fails, so that
 * a digest mismatch is reported before a parse error. */
static int pass(struct ctx *c, const struct layer_src *src, const struct layer_usage *u, int write,
                uint8_t got[32], uint64_t *bytes)
{
	struct stream *s = NULL;
	struct archive *tar = NULL;
	struct archive_entry *e;
	int rc, r;

	c->entries = u->entries;
	c->content = u->content;
	c->skipped = 0;
	GUARD_GOTO(stream_open(c, src, c->o->lim.max_total - u->bytes, &s));
	ENSURE_GOTO((tar = archive_read_new()) &&
	                archive_read_support_format_tar(tar) == ARCHIVE_OK,
	            ERR_NOMEM, "layer: out of memory");
	if (archive_read_open(tar, s, NULL, stream_read, NULL) != ARCHIVE_OK) {
		rc = tar_fail(c, s, tar);
		goto out;
	}
	while ((r = archive_read_next_header(tar, &e)) != ARCHIVE_EOF) {
		if (r < ARCHIVE_WARN) {
			rc = tar_fail(c, s, tar);
			goto out;
		}
		GUARD_GOTO(entry(c, s, tar, e, write));
	}
	if (write)
		GUARD_GOTO(set_dir_times(c));
out:
	if (s) {
		/* the rest of the stream (tar padding), through the hash */
		const void *buf;
		while ((rc == 0 || !write) && tar && !s->over && !s->eof &&
		       stream_read(tar, s, &buf) > 0)
			;
		if (s->over && rc == 0)
			rc = tar_fail(c, s, tar);
		else if (!s->eof && rc == 0 && s->raw)
			rc = fail(c, ERR_INVAL, "cannot decompress: %s",
			          archive_error_string(s->raw));
		if (s->md)
			EVP_DigestFinal_ex(s->md, got, NULL);
		*bytes = s->n;
	}
	if (tar)
		archive_read_free(tar);
	stream_close(s);
	return rc;
}

static int digest_fail(const struct ctx *c, const uint8_t want[32], const uint8_t got[32],
                       const char *when)
{
	char w[65], g[65];
	hex_encode(w, want, 32);
	hex_encode(g, got, 32);
	return fail(c, ERR_VERIFY,
	            "uncompressed layer %s its diff_id sha256:%s (it hashes to sha256:%s)", when, w,
	            g);
}

int layer_apply(int rootfd, const struct layer_src *src, const uint8_t diff_id[32],
                const struct layer_opts *o, struct layer_usage *u)
{
	struct ctx c = {.rootfd = rootfd, .o = o};
	uint8_t got[32] = {0};
	uint64_t bytes = 0;
	int rc;

	c.chown = o->keep_owner && geteuid() == 0;
	ENSURE(!o->keep_owner || (o->id_count > 0 && o->uid_base <= UINT32_MAX - o->id_count &&
	                          o->gid_base <= UINT32_MAX - o->id_count),
	       ERR_INVAL, "%s: bad id range", o->label);
	ENSURE(u->bytes <= o->lim.max_total, ERR_TOOBIG,
	       "%s: the image is over the cap max_total (%llu bytes)", o->label,
	       (unsigned long long)o->lim.max_total);

	/* 1. check: digest and caps, nothing written */
	rc = pass(&c, src, u, 0, got, &bytes);
	if (diff_id && CRYPTO_memcmp(got, diff_id, 32) != 0 && rc != ERR_TOOBIG)
		return digest_fail(&c, diff_id, got, "does not match"); /* before any parse error */
	GUARD(rc);
	/* 2. write */
	rc = pass(&c, src, u, 1, got, &bytes);
	if (rc == 0 && diff_id && CRYPTO_memcmp(got, diff_id, 32) != 0)
		rc = digest_fail(&c, diff_id, got, "changed while applied; no longer matches");
	if (rc == 0) {
		u->bytes += bytes;
		u->entries = c.entries;
		u->content = c.content;
		u->skipped += c.skipped;
		if (c.skipped)
			log_warn(
			    "worker.layer",
			    "layer=\"%s\" skipped=%llu what=\"device nodes, sockets and FIFOs\"",
			    o->label, (unsigned long long)c.skipped);
	}
	pathset_free(&c.added);
	for (size_t i = 0; i < c.ndirs; i++)
		free(c.dirs[i].path);
	free(c.dirs);
	return rc;
}
