#include "sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int tdx_sysfs_exists(void *ctx, const char *path)
{
	struct stat st;
	(void)ctx;
	return stat(path, &st) == 0 ? 0 : -errno;
}

int tdx_sysfs_mkdir(void *ctx, const char *path)
{
	(void)ctx;
	return mkdir(path, 0700) == 0 ? 0 : -errno;
}

int tdx_sysfs_rmdir(void *ctx, const char *path)
{
	(void)ctx;
	return rmdir(path) == 0 ? 0 : -errno;
}

int tdx_sysfs_read(void *ctx, const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), e = 0;
	size_t n = 0;
	(void)ctx;
	if (fd < 0)
		return -errno;
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return e;
}

int tdx_sysfs_write(void *ctx, const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), e = 0;
	(void)ctx;
	if (fd < 0)
		return -errno;
	/* An attribute takes the whole blob in one write: a second write
	 * would be a second, different value. */
	ssize_t w = write(fd, buf, len);
	if (w < 0)
		e = -errno;
	else if ((size_t)w != len)
		e = -EIO;
	if (close(fd) != 0 && e == 0)
		e = -errno;
	return e;
}
