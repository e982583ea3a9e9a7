/* sysfs.h — the real file system behind the ops tables of configfs-tsm
 * (tsm.h) and the RTMR measurement files (rtmr.h), which tests replace with
 * fake trees.
 *
 * Each returns 0 or -errno; `ctx` is unused.  read fills up to `cap` bytes
 * (EINTR retried) and sets *len to what it read.  write gives the whole
 * buffer in one write(2) at offset 0: configfs and sysfs binary attributes
 * take a blob in one write, so a short write is -EIO, not retried.
 */
#ifndef TDEXEC_TDX_SYSFS_H
#define TDEXEC_TDX_SYSFS_H

#include <stddef.h>
#include <stdint.h>

int tdx_sysfs_exists(void *ctx, const char *path);
int tdx_sysfs_mkdir(void *ctx, const char *path); /* mode 0700 */
int tdx_sysfs_rmdir(void *ctx, const char *path);
int tdx_sysfs_read(void *ctx, const char *path, uint8_t *buf, size_t cap, size_t *len);
int tdx_sysfs_write(void *ctx, const char *path, const uint8_t *buf, size_t len);

#endif
