#include "file.h"

#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read(const char *path, size_t cap, uint8_t **out, size_t *len)
{
	int fd, rc = 0;
	uint8_t *buf = NULL;
	size_t n = 0, bcap = 0;

	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(ERR_IO, "%s: %s", path, strerror(errno));
	for (;;) {
		ssize_t got;
		if (n == bcap) {
			size_t ncap = bcap ? bcap * 2 : 8192;
			uint8_t *nb;
			if (ncap > cap + 1)
				ncap = cap + 1;
			ENSURE_GOTO(n < ncap, ERR_TOOBIG, "%s: larger than the %zu-byte limit",
			            path, cap);
			nb = realloc(buf, ncap + 1);
			ENSURE_GOTO(nb, ERR_NOMEM, "%s: out of memory", path);
			buf = nb;
			bcap = ncap;
		}
		got = read(fd, buf + n, bcap - n);
		if (got < 0 && errno == EINTR)
			continue;
		ENSURE_GOTO(got >= 0, ERR_IO, "%s: %s", path, strerror(errno));
		if (got == 0)
			break;
		n += (size_t)got;
		ENSURE_GOTO(n <= cap, ERR_TOOBIG, "%s: larger than the %zu-byte limit", path, cap);
	}
	if (!buf) {
		buf = malloc(1);
		ENSURE_GOTO(buf, ERR_NOMEM, "out of memory");
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
out:
	if (fd != STDIN_FILENO)
		close(fd);
	free(buf);
	return rc;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int file_write(const char *path, const void *buf, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd, n;

	if (strcmp(path, "-") == 0) {
		ENSURE(write_all(STDOUT_FILENO, buf, len) == 0, ERR_IO, "stdout: %s",
		       strerror(errno));
		return 0;
	}
	/* A unique temporary name: threads may write the same path at once. */
	n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
	ENSURE(n > 0 && (size_t)n < sizeof(tmp), ERR_INVAL, "%s: path too long", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	ENSURE(fd >= 0, ERR_IO, "%s: %s", tmp, strerror(errno));
	if (write_all(fd, buf, len) != 0 || fchmod(fd, mode) != 0 || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return err_set(ERR_IO, "%s: %s", path, strerror(e));
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return err_set(ERR_IO, "%s: %s", path, strerror(e));
	}
	return 0;
}

int dir_create(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	ENSURE(len > 0 && len < sizeof(buf), ERR_INVAL, "bad directory path");
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return err_set(ERR_IO, "%s: %s", buf, strerror(errno));
		buf[i] = path[i];
	}
	return 0;
}

static int rm_fail(const char *what, int err)
{
	return err_set(ERR_IO, "remove: %s: %s", what, strerror(err));
}

/* Depth-first without recursion: one directory fd open at a time, and the
 * names of the directories entered on a heap stack.  Going back up with
 * ".." is sound because every directory was entered with O_NOFOLLOW and the
 * tree has no other writer. */
static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int file_list_at(int dirfd, char ***names, size_t *count)
{
	int lfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	struct dirent *e;
	size_t n = 0, cap = 0;
	char **v = NULL;

	*names = NULL;
	*count = 0;
	if (!d) {
		if (lfd >= 0)
			close(lfd);
		return err_set(ERR_IO, "cannot read a directory: %s", strerror(errno));
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			char **nv = realloc(v, (cap = cap ? 2 * cap : 32) * sizeof(*nv));
			if (!nv)
				break;
			v = nv;
		}
		if (!(v[n] = strdup(e->d_name)))
			break;
		n++;
	}
	closedir(d);
	if (e) {
		file_list_free(v, n);
		return err_set(ERR_NOMEM, "out of memory");
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_name);
	*names = v;
	*count = n;
	return 0;
}

void file_list_free(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

int file_remove_at(int dirfd, const char *name)
{
	struct stat st;
	char **stack = NULL;
	size_t depth = 0, cap = 0;
	int cur = -1, rc = 0;

	ENSURE(*name && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && !strchr(name, '/'),
	       ERR_INVAL, "remove: not a single file name");
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : rm_fail("stat", errno);
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0
		                                                        : rm_fail("unlink", errno);
	cur = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cur < 0)
		return rm_fail("open", errno);
	dev_t dev = st.st_dev;
	stack = malloc(sizeof(*stack) * (cap = 16));
	ENSURE_GOTO(stack && (stack[0] = strdup(name)), ERR_NOMEM, "remove: out of memory");
	depth = 1;
	while (depth > 0) {
		/* a fresh open file description: readdir starts over each time */
		int lfd = openat(cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
		struct dirent *e;
		char *sub = NULL;

		if (!d) {
			if (lfd >= 0)
				close(lfd);
			rc = rm_fail("opendir", errno);
			goto out;
		}
		while (rc == 0 && (e = readdir(d))) {
			int isdir = e->d_type == DT_DIR;
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (e->d_type == DT_UNKNOWN)
				isdir = fstatat(cur, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				        S_ISDIR(st.st_mode);
			if (isdir) {
				if (!(sub = strdup(e->d_name)))
					rc = err_set(ERR_NOMEM, "remove: out of memory");
				break;
			}
			if (unlinkat(cur, e->d_name, 0) != 0 && errno != ENOENT)
				rc = rm_fail("unlink", errno);
		}
		closedir(d);
		GUARD_GOTO(rc);
		if (sub) {
			int fd = openat(cur, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			struct stat sst;
			/* another file system mounted below: never emptied from here */
			if (fd >= 0 && (fstat(fd, &sst) != 0 || sst.st_dev != dev)) {
				close(fd);
				free(sub);
				rc = err_set(ERR_BUSY, "remove: %s is a mount point", name);
				goto out;
			}
			if (fd < 0 || depth == cap) {
				char **ns =
				    fd < 0 ? NULL : realloc(stack, sizeof(*stack) * (cap *= 2));
				if (!ns) {
					rc = fd < 0 ? rm_fail("open", errno)
					            : err_set(ERR_NOMEM, "remove: out of memory");
					if (fd >= 0)
						close(fd);
					free(sub);
					goto out;
				}
				stack = ns;
			}
			close(cur);
			cur = fd;
			stack[depth++] = sub;
			continue;
		}
		/* cur is empty: remove it from its parent */
		int up = dirfd;
		if (depth > 1 && (up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			rc = rm_fail("open ..", errno);
			goto out;
		}
		close(cur);
		cur = -1;
		if (unlinkat(up, stack[depth - 1], AT_REMOVEDIR) != 0 && errno != ENOENT)
			rc = rm_fail("rmdir", errno);
		free(stack[--depth]);
		if (depth > 0)
			cur = up;
		GUARD_GOTO(rc);
	}
out:
	if (cur >= 0)
		close(cur);
	while (depth > 0)
		free(stack[--depth]);
	free(stack);
	return rc;
}

int file_remove_tree(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	int fd, rc;

	if (!slash || slash == path)
		snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");
	else
		GUARD(path_fmt(dir, sizeof(dir), "%.*s", (int)(slash - path), path));
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : err_set(ERR_IO, "%s: %s", dir, strerror(errno));
	rc = file_remove_at(fd, base);
	close(fd);
	return rc < 0 ? err_wrap(rc, "%s", path) : 0;
}

int file_tree_bytes(const char *path, uint64_t *bytes)
{
	char *roots[] = {(char *)path, NULL};
	FTSENT *e;
	FTS *f;
	int rc = 0;

	*bytes = 0;
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return 0;
	/* fts(3) keeps its state in the handle: nothing global, no recursion */
	f = fts_open(roots, FTS_PHYSICAL | FTS_XDEV | FTS_NOCHDIR, NULL);
	ENSURE(f, ERR_IO, "%s: %s", path, strerror(errno));
	while ((e = fts_read(f))) {
		if (e->fts_info == FTS_DNR || e->fts_info == FTS_ERR || e->fts_info == FTS_NS) {
			/* gone meanwhile: not counted; anything else is an error */
			if (e->fts_errno == ENOENT)
				continue;
			rc = err_set(ERR_IO, "%s: %s", e->fts_path, strerror(e->fts_errno));
			break;
		}
		if (e->fts_info != FTS_DP && e->fts_statp)
			*bytes += (uint64_t)e->fts_statp->st_blocks * 512u;
	}
	if (rc == 0 && errno != 0 && !e)
		rc = errno == ENOENT ? 0 : err_set(ERR_IO, "%s: %s", path, strerror(errno));
	fts_close(f);
	return rc;
}

int path_fmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	ENSURE(n >= 0 && (size_t)n < cap, ERR_TOOBIG, "path too long: %.64s...", out);
	return 0;
}

int file_sha256(const char *path, size_t cap, uint8_t out[32])
{
	uint8_t buf[1 << 16];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	FILE *f = fopen(path, "rb");
	size_t n, total = 0;
	int rc = 0;

	if (!f || !c) {
		rc = err_set(ERR_NOTFOUND, "%s: %s", path, f ? "out of memory" : strerror(errno));
		goto out;
	}
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	while (rc == 0 && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
		total += n;
		if (cap && total > cap)
			rc = err_set(ERR_TOOBIG, "%s: over %zu bytes", path, cap);
		else
			EVP_DigestUpdate(c, buf, n);
	}
	if (rc == 0 && ferror(f))
		rc = err_set(ERR_IO, "%s: read error", path);
	EVP_DigestFinal_ex(c, out, NULL);
out:
	if (f)
		fclose(f);
	EVP_MD_CTX_free(c);
	return rc;
}
