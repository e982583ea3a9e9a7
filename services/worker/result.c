/* result.c — an app's output read without following links, see result.h. */
#include "result.h"

#include "crypto/keccak.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/json.h"
#include "util/err.h"
#include "util/file.h"
#include "worker.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WALK_DEPTH 32

/* One entry of the output, in walk order: each directory's entries sorted
 * by name, a directory before what it holds. */
struct rentry {
	char *rel;
	int dir;
	uint8_t sha[32];
};

struct walk {
	const struct result_limits *lim;
	struct archive *zip; /* NULL: digest only */
	uint64_t bytes;
	struct rentry *e;
	size_t n, cap;
};

static const char *kind(mode_t m)
{
	return S_ISLNK(m)    ? "a symbolic link"
	       : S_ISFIFO(m) ? "a FIFO"
	       : S_ISSOCK(m) ? "a socket"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	                     : "not a regular file";
}

static int zip_err(struct archive *a, const char *rel)
{
	return err_set(ERR_IO, "result archive: %s: %s", rel, archive_error_string(a));
}

static int add(struct walk *w, const char *rel, int dir, struct rentry **out)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct rentry *e = realloc(w->e, cap * sizeof(*e));
		ENSURE(e, ERR_NOMEM, "out of memory");
		w->e = e;
		w->cap = cap;
	}
	ENSURE(w->n < w->lim->max_files, ERR_TOOBIG,
	       "result: more than %u files and directories in /iexec_out", w->lim->max_files);
	*out = &w->e[w->n];
	memset(*out, 0, sizeof(**out));
	ENSURE((*out)->rel = strdup(rel), ERR_NOMEM, "out of memory");
	(*out)->dir = dir;
	w->n++;
	return 0;
}

static int zip_header(struct walk *w, const char *rel, const struct stat *st)
{
	struct archive_entry *ae;
	int rc = 0;

	if (!w->zip)
		return 0;
	ENSURE(ae = archive_entry_new(), ERR_NOMEM, "out of memory");
	archive_entry_set_pathname(ae, rel);
	archive_entry_set_filetype(ae, S_ISDIR(st->st_mode) ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(ae, S_ISDIR(st->st_mode) ? 0755 : 0644);
	archive_entry_set_size(ae, S_ISDIR(st->st_mode) ? 0 : st->st_size);
	archive_entry_set_mtime(ae, st->st_mtime, 0);
	if (archive_write_header(w->zip, ae) != ARCHIVE_OK)
		rc = zip_err(w->zip, rel);
	archive_entry_free(ae);
	return rc;
}

/* A regular file's content into the digest and the archive. */
static int take_file(struct walk *w, int dfd, const char *name, const char *rel,
                     const struct stat *st0)
{
	uint8_t buf[1 << 16];
	struct rentry *re;
	struct stat st;
	EVP_MD_CTX *c = NULL;
	uint64_t got = 0;
	ssize_t n;
	int fd, rc;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	ENSURE(fd >= 0, ERR_IO, "result: /iexec_out/%s: %s", rel, strerror(errno));
	/* what was opened is what was looked at: a regular file */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_ino != st0->st_ino ||
	    st.st_dev != st0->st_dev) {
		rc = err_set(ERR_INVAL, "result: /iexec_out/%s changed while it was read", rel);
		goto out;
	}
	w->bytes += (uint64_t)st.st_size;
	ENSURE_GOTO(w->bytes <= w->lim->max_bytes, ERR_TOOBIG,
	            "result: /iexec_out holds more than %llu bytes",
	            (unsigned long long)w->lim->max_bytes);
	GUARD_GOTO(add(w, rel, 0, &re));
	GUARD_GOTO(zip_header(w, rel, &st));
	ENSURE_GOTO(c = EVP_MD_CTX_new(), ERR_NOMEM, "out of memory");
	ENSURE_GOTO(EVP_DigestInit_ex(c, EVP_sha256(), NULL), ERR_CRYPTO, "SHA-256 failed");
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		got += (uint64_t)n;
		ENSURE_GOTO(got <= (uint64_t)st.st_size, ERR_INVAL,
		            "result: /iexec_out/%s grew while it was read", rel);
		ENSURE_GOTO(EVP_DigestUpdate(c, buf, (size_t)n), ERR_CRYPTO, "SHA-256 failed");
		if (w->zip && archive_write_data(w->zip, buf, (size_t)n) != n) {
			rc = zip_err(w->zip, rel);
			goto out;
		}
	}
	ENSURE_GOTO(n == 0, ERR_IO, "result: /iexec_out/%s: %s", rel, strerror(errno));
	ENSURE_GOTO(got == (uint64_t)st.st_size, ERR_INVAL,
	            "result: /iexec_out/%s shrank while it was read", rel);
	ENSURE_GOTO(EVP_DigestFinal_ex(c, re->sha, NULL), ERR_CRYPTO, "SHA-256 failed");
	rc = 0;
out:
	EVP_MD_CTX_free(c);
	close(fd);
	return rc;
}

static int walk_dir(struct walk *w, int dfd, const char *rel, int depth)
{
	char **names = NULL, path[PATH_MAX];
	size_t n = 0;
	int rc;

	ENSURE(depth < WALK_DEPTH, ERR_TOOBIG, "result: /iexec_out/%s: nested over %d levels", rel,
	       WALK_DEPTH);
	GUARD_GOTO(file_list_at(dfd, &names, &n));
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		struct rentry *re;
		int sub;
		GUARD_GOTO(path_fmt(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", names[i]));
		ENSURE_GOTO(fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0, ERR_IO,
		            "result: /iexec_out/%s: %s", path, strerror(errno));
		if (S_ISREG(st.st_mode)) {
			GUARD_GOTO(take_file(w, dfd, names[i], path, &st));
			continue;
		}
		ENSURE_GOTO(S_ISDIR(st.st_mode), ERR_INVAL,
		            "result: /iexec_out/%s is %s; a result holds regular files and "
		            "directories only",
		            path, kind(st.st_mode));
		sub = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		ENSURE_GOTO(sub >= 0, ERR_IO, "result: /iexec_out/%s: %s", path, strerror(errno));
		rc = add(w, path, 1, &re);
		if (rc == 0) {
			char zname[PATH_MAX + 1];
			snprintf(zname, sizeof(zname), "%s/", path);
			rc = zip_header(w, zname, &st);
		}
		if (rc == 0)
			rc = walk_dir(w, sub, path, depth + 1);
		close(sub);
		GUARD_GOTO(rc);
	}
	rc = 0;
out:
	file_list_free(names, n);
	return rc;
}

/* iExec's digest of `dop` from the walk's records. */
static int dop_digest(const struct walk *w, const char *dop, uint8_t out[32])
{
	struct wbuf cat;
	size_t dl = strlen(dop), files = 0;
	int rc = 0;

	if (*dop) {
		size_t i = 0;
		while (i < w->n && strcmp(w->e[i].rel, dop) != 0)
			i++;
		ENSURE(i < w->n, ERR_NOTFOUND,
		       "computed.json: deterministic-output-path /iexec_out/%s does not exist",
		       dop);
		if (!w->e[i].dir) {
			memcpy(out, w->e[i].sha, 32);
			return 0;
		}
	}
	wbuf_init(&cat);
	for (size_t i = 0; rc == 0 && i < w->n; i++) {
		const char *r = w->e[i].rel, *name;
		if (dl && (strncmp(r, dop, dl) != 0 || r[dl] != '/'))
			continue;
		name = dl ? r + dl + 1 : r;
		if (strchr(name, '/'))
			continue; /* deeper down */
		if (w->e[i].dir)
			rc = err_set(ERR_INVAL,
			             "result: /iexec_out/%s is a directory; the digest of a "
			             "directory covers the files directly in it",
			             r);
		else if ((rc = wbuf_put(&cat, w->e[i].sha, 32)) == 0)
			files++;
	}
	if (rc == 0 && files == 0)
		rc = err_set(ERR_INVAL, "result: /iexec_out%s%s is empty", dl ? "/" : "", dop);
	if (rc == 0)
		keccak256(cat.buf, cat.len, out);
	wbuf_free(&cat);
	return rc;
}

/* `in` as a clean relative path in `out`: repeated and trailing '/'
 * dropped; 0, or 1 for a "." or ".." component, 2 when it does not fit. */
static int path_clean(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = 0;
	for (const char *p = in; *p;) {
		const char *e;
		size_t l;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchrnul(p, '/');
		l = (size_t)(e - p);
		if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
			return 1;
		if (n + l + 2 >= cap)
			return 2;
		if (n)
			out[n++] = '/';
		memcpy(out + n, p, l);
		out[n += l] = 0;
		p = e;
	}
	return 0;
}

int result_dop_relative(const char *dop, char *rel, size_t cap)
{
	int c;

	ENSURE(dop && strncmp(dop, "/iexec_out", 10) == 0 && (dop[10] == 0 || dop[10] == '/'),
	       ERR_INVAL,
	       "computed.json: deterministic-output-path must be /iexec_out or a path "
	       "under it");
	c = path_clean(dop + 10, rel, cap);
	ENSURE(c != 1, ERR_INVAL,
	       "computed.json: deterministic-output-path '%s' has a '.' or '..' component", dop);
	ENSURE(c == 0, ERR_TOOBIG, "computed.json: deterministic-output-path is too long");
	return 0;
}

/* ---------- reading a result archive ---------- */

static int rentry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rentry *)a)->rel, ((const struct rentry *)b)->rel);
}

/* An entry's name as a clean relative path: no absolute name, no "." or
 * ".." or empty component, a directory's trailing '/' dropped. */
static int clean_name(const char *name, char *out, size_t cap)
{
	int c;

	ENSURE(name && *name && *name != '/', ERR_VERIFY,
	       "result archive: entry '%s' is not a relative name", name ? name : "");
	c = path_clean(name, out, cap);
	ENSURE(c != 1, ERR_VERIFY, "result archive: entry '%s' would leave its directory", name);
	ENSURE(c == 0, ERR_TOOBIG, "result archive: entry name too long");
	return 0;
}

/* The directory REL inside `root` (made when missing), as a descriptor. */
static int open_dirs(int root, const char *rel, int make)
{
	char part[PATH_MAX];
	int fd = dup(root);

	snprintf(part, sizeof(part), "%s", rel);
	for (char *p = part, *e; fd >= 0 && *p; p = e) {
		int next;
		e = strchrnul(p, '/');
		if (*e)
			*e++ = 0;
		if (make && mkdirat(fd, p, 0755) != 0 && errno != EEXIST)
			next = -1;
		else
			next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
	}
	if (fd < 0)
		return err_set(ERR_IO, "result: %s: %s", rel, strerror(errno));
	return fd;
}

/* Create REL (a regular file) under `root`: its parent directories too. */
static int create_at(int root, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	char parent[PATH_MAX];
	int dfd, fd;

	snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - rel) : 0, rel);
	if ((dfd = open_dirs(root, parent, 1)) < 0)
		return dfd;
	fd = openat(dfd, slash ? slash + 1 : rel,
	            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	close(dfd);
	ENSURE(fd >= 0, ERR_IO, "result: %s: %s", rel, strerror(errno));
	return fd;
}

int result_archive_read(const char *zip, const char *dir, const struct result_limits *lim,
                        int callback, uint8_t digest[32])
{
	struct walk w = {.lim = lim};
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	struct wbuf computed;
	json_t *cj = NULL;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	char rel[PATH_MAX];
	int root = -1, rc = 0, r;

	wbuf_init(&computed);
	ENSURE_GOTO(a && c, ERR_NOMEM, "out of memory");
	if (dir) {
		root = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		ENSURE_GOTO(root >= 0, ERR_IO, "%s: %s", dir, strerror(errno));
	}
	archive_read_support_format_zip(a);
	ENSURE_GOTO(archive_read_open_filename(a, zip, 1 << 16) == ARCHIVE_OK, ERR_VERIFY,
	            "%s: not a zip archive: %s", zip, archive_error_string(a));
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		mode_t type = archive_entry_filetype(ae);
		struct rentry *re;
		int is_computed, fd = -1;
		ENSURE_GOTO(type == AE_IFREG || type == AE_IFDIR, ERR_VERIFY,
		            "result archive: entry '%s' is not a regular file or directory",
		            archive_entry_pathname(ae) ? archive_entry_pathname(ae) : "");
		GUARD_GOTO(clean_name(archive_entry_pathname(ae), rel, sizeof(rel)));
		GUARD_GOTO(add(&w, rel, type == AE_IFDIR, &re));
		if (type == AE_IFDIR) {
			if (root >= 0) {
				int d = open_dirs(root, rel, 1);
				GUARD_GOTO(d);
				close(d);
			}
			continue;
		}
		is_computed = strcmp(rel, "computed.json") == 0;
		if (root >= 0 && (fd = create_at(root, rel)) < 0) {
			rc = fd;
			goto out;
		}
		if (!EVP_DigestInit_ex(c, EVP_sha256(), NULL))
			rc = err_set(ERR_CRYPTO, "SHA-256 failed");
		while (rc == 0) {
			uint8_t buf[1 << 16];
			la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
			if (n == 0)
				break;
			if (n < 0) {
				rc = err_set(ERR_VERIFY, "result archive: %s: %s", rel,
				             archive_error_string(a));
				break;
			}
			/* what is read counts, not what the archive declares */
			if ((w.bytes += (uint64_t)n) > lim->max_bytes) {
				rc = err_set(ERR_TOOBIG, "result archive: over %llu bytes unpacked",
				             (unsigned long long)lim->max_bytes);
				break;
			}
			if (!EVP_DigestUpdate(c, buf, (size_t)n)) {
				rc = err_set(ERR_CRYPTO, "SHA-256 failed");
				break;
			}
			if (is_computed && computed.len + (size_t)n > (1u << 16)) {
				rc = err_set(ERR_TOOBIG,
				             "result archive: computed.json over 64 KiB");
				break;
			}
			if (is_computed && (rc = wbuf_put(&computed, buf, (size_t)n)) < 0)
				break;
			if (fd >= 0 && write(fd, buf, (size_t)n) != n) {
				rc = err_set(ERR_IO, "result: %s: %s", rel, strerror(errno));
				break;
			}
		}
		if (fd >= 0)
			close(fd);
		GUARD_GOTO(rc);
		ENSURE_GOTO(EVP_DigestFinal_ex(c, re->sha, NULL), ERR_CRYPTO, "SHA-256 failed");
	}
	ENSURE_GOTO(r == ARCHIVE_EOF, ERR_VERIFY, "%s: %s", zip, archive_error_string(a));
	/* directories the archive implies without listing them */
	for (size_t i = 0, n0 = w.n; i < n0; i++)
		for (char *s = strchr(w.e[i].rel, '/'); s; s = strchr(s + 1, '/')) {
			struct rentry *re;
			int seen = 0;
			snprintf(rel, sizeof(rel), "%.*s", (int)(s - w.e[i].rel), w.e[i].rel);
			for (size_t j = 0; j < w.n && !seen; j++)
				if (strcmp(w.e[j].rel, rel) == 0)
					seen = w.e[j].dir ? 1 : -1;
			ENSURE_GOTO(seen >= 0, ERR_VERIFY,
			            "result archive: '%s' is both a file and a directory", rel);
			if (!seen)
				GUARD_GOTO(add(&w, rel, 1, &re));
		}
	if (w.n)
		qsort(w.e, w.n, sizeof(*w.e), rentry_cmp);
	for (size_t i = 1; i < w.n; i++)
		ENSURE_GOTO(strcmp(w.e[i - 1].rel, w.e[i].rel) != 0 ||
		                (w.e[i].dir && w.e[i - 1].dir),
		            ERR_VERIFY, "result archive: entry '%s' is there twice", w.e[i].rel);
	if (!digest)
		goto out; /* unpacked only */
	ENSURE_GOTO(computed.len, ERR_VERIFY, "result archive: no computed.json");
	GUARD_GOTO(json_parse((const char *)computed.buf, computed.len, "computed.json", &cj));
	if (callback) {
		const char *cb = json_string_value(json_object_get(cj, "callback-data"));
		uint8_t *data = NULL;
		size_t len = 0, skip = cb && strncmp(cb, "0x", 2) == 0 ? 2 : 0;
		ENSURE_GOTO(cb, ERR_VERIFY,
		            "computed.json: no callback-data for the deal's callback");
		rc = hex_decode_alloc(cb + skip, strlen(cb + skip), &data, &len);
		if (rc == 0)
			keccak256(data, len, digest);
		free(data);
		goto out;
	}
	GUARD_GOTO(result_dop_relative(
	    json_string_value(json_object_get(cj, "deterministic-output-path")), rel, sizeof(rel)));
	rc = dop_digest(&w, rel, digest);
out:
	if (root >= 0)
		close(root);
	archive_read_free(a);
	EVP_MD_CTX_free(c);
	json_decref(cj);
	wbuf_free(&computed);
	for (size_t i = 0; i < w.n; i++)
		free(w.e[i].rel);
	free(w.e);
	return rc;
}

/* A new file for an archive: refused if anything is there already. */
static int zip_open(const char *path, struct archive **a, int *fd)
{
	*a = NULL;
	*fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	ENSURE(*fd >= 0, ERR_IO, "%s: %s", path, strerror(errno));
	if (!(*a = archive_write_new()) || archive_write_set_format_zip(*a) != ARCHIVE_OK ||
	    archive_write_open_fd(*a, *fd) != ARCHIVE_OK) {
		int rc =
		    err_set(ERR_IO, "%s: %s", path, *a ? archive_error_string(*a) : "no memory");
		archive_write_free(*a);
		*a = NULL;
		close(*fd);
		unlink(path);
		return rc;
	}
	return 0;
}

static int zip_close(struct archive *a, int fd, const char *path, uint64_t cap, int rc)
{
	struct stat st;
	if (a && archive_write_close(a) != ARCHIVE_OK && rc == 0)
		rc = err_set(ERR_IO, "%s: %s", path, archive_error_string(a));
	archive_write_free(a);
	if (rc == 0 && cap && (fstat(fd, &st) != 0 || (uint64_t)st.st_size > cap))
		rc = err_set(ERR_TOOBIG, "result: the archive is over %llu bytes",
		             (unsigned long long)cap);
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(path);
	return rc;
}

int result_collect(const char *out, const char *dop, const struct result_limits *lim,
                   const char *zip, uint8_t digest[32])
{
	struct walk w = {.lim = lim};
	int root, zfd = -1, rc;

	root = open(out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	ENSURE(root >= 0, ERR_IO, "result: %s: %s", out, strerror(errno));
	if (zip && (rc = zip_open(zip, &w.zip, &zfd)) < 0)
		goto out;
	rc = walk_dir(&w, root, "", 0);
	if (rc == 0)
		rc = dop_digest(&w, dop, digest);
	if (zip)
		rc = zip_close(w.zip, zfd, zip, lim->max_zip, rc);
out:
	close(root);
	for (size_t i = 0; i < w.n; i++)
		free(w.e[i].rel);
	free(w.e);
	return rc;
}

int result_read_file(const char *dir, const char *name, size_t cap, uint8_t **buf, size_t *len)
{
	struct stat st;
	int dfd, fd, rc = 0;
	ssize_t n = 0;

	*buf = NULL;
	*len = 0;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	ENSURE(dfd >= 0, ERR_IO, "%s: %s", dir, strerror(errno));
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dfd);
	if (fd < 0 && errno == ENOENT)
		return err_set(ERR_NOTFOUND, "%s: no such file", name);
	if (fd < 0 && errno == ELOOP)
		return err_set(ERR_INVAL, "%s is a symbolic link; it must be a regular file", name);
	ENSURE(fd >= 0, ERR_IO, "%s: %s", name, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		rc = err_set(ERR_INVAL, "%s is %s; it must be a regular file", name,
		             kind(st.st_mode));
	else if ((uint64_t)st.st_size > cap)
		rc = err_set(ERR_TOOBIG, "%s is over %zu bytes", name, cap);
	else if (!(*buf = malloc((size_t)st.st_size + 1)))
		rc = err_set(ERR_NOMEM, "out of memory");
	for (size_t got = 0; rc == 0 && got < (size_t)st.st_size; got += (size_t)n) {
		n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n <= 0)
			rc = err_set(ERR_IO, "%s: short read", name);
	}
	close(fd);
	if (rc < 0) {
		free(*buf);
		*buf = NULL;
		return rc;
	}
	(*buf)[st.st_size] = 0;
	*len = (size_t)st.st_size;
	return 0;
}

int result_write_file(const char *dir, const char *name, const void *buf, size_t len)
{
	int dfd, fd, rc = 0;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	ENSURE(dfd >= 0, ERR_IO, "%s: %s", dir, strerror(errno));
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	close(dfd);
	ENSURE(fd >= 0, ERR_IO, "%s: %s", name, strerror(errno));
	if (write(fd, buf, len) != (ssize_t)len)
		rc = err_set(ERR_IO, "%s: %s", name, strerror(errno));
	close(fd);
	return rc;
}

int result_zip_buffers(const char *path, size_t n, const char *const names[],
                       const uint8_t *const bufs[], const size_t lens[])
{
	struct archive *a;
	int fd, rc = 0;

	GUARD(zip_open(path, &a, &fd));
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		if (!ae) {
			rc = err_set(ERR_NOMEM, "out of memory");
			break;
		}
		archive_entry_set_pathname(ae, names[i]);
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, 0644);
		archive_entry_set_size(ae, (la_int64_t)lens[i]);
		if (archive_write_header(a, ae) != ARCHIVE_OK ||
		    archive_write_data(a, bufs[i], lens[i]) != (la_ssize_t)lens[i])
			rc = zip_err(a, names[i]);
		archive_entry_free(ae);
	}
	return zip_close(a, fd, path, 0, rc);
}

/* For a requester checking a download: the same digest over a result they
 * unpacked themselves (a directory), or of a single file. */
int worker_result_digest(const char *path, uint8_t out[32])
{
	static const struct result_limits lim = RESULT_DEFAULT_LIMITS;
	struct stat st;

	ENSURE(lstat(path, &st) == 0, ERR_NOTFOUND, "%s: %s", path, strerror(errno));
	if (S_ISREG(st.st_mode))
		return file_sha256(path, 0, out);
	ENSURE(S_ISDIR(st.st_mode), ERR_INVAL, "%s is %s", path, kind(st.st_mode));
	return result_collect(path, "", &lim, NULL, out);
}
