#include "file.h"

#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* Empty the directory `dfd` (closed here); `dev` is its file system. */
static int empty_dir(int dfd, dev_t dev, int depth)
{
	DIR *d = depth < 256 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	int rc = 0;

	if (!d) {
		close(dfd);
		return depth < 256
		           ? err_set(ERR_IO, "remove: %s", strerror(errno))
		           : err_set(ERR_TOOBIG, "remove: directories nested over 256 levels");
	}
	while (rc == 0 && (e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* gone meanwhile */
		if (S_ISDIR(st.st_mode)) {
			int sub;
			if (st.st_dev != dev) {
				rc = err_set(ERR_BUSY, "remove: %s is a mount point", e->d_name);
				break;
			}
			sub = openat(dirfd(d), e->d_name,
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				rc = err_set(ERR_IO, "remove %s: %s", e->d_name, strerror(errno));
			else
				rc = empty_dir(sub, dev, depth + 1);
			if (rc == 0 && unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) != 0)
				rc = err_set(ERR_IO, "remove %s: %s", e->d_name, strerror(errno));
		} else if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT) {
			rc = err_set(ERR_IO, "remove %s: %s", e->d_name, strerror(errno));
		}
	}
	closedir(d);
	return rc;
}

int file_remove_tree(const char *path)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : err_set(ERR_IO, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		ENSURE(unlink(path) == 0, ERR_IO, "%s: %s", path, strerror(errno));
		return 0;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	ENSURE(fd >= 0, ERR_IO, "%s: %s", path, strerror(errno));
	if (empty_dir(fd, st.st_dev, 0) < 0)
		return err_wrap(ERR_IO, "%s", path);
	ENSURE(rmdir(path) == 0, ERR_IO, "%s: %s", path, strerror(errno));
	return 0;
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
