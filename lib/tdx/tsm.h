/* tsm.h — TDX quotes from Linux configfs-tsm (/sys/kernel/config/tsm/report).
 *
 * Protocol (Documentation/ABI/testing/configfs-tsm): mkdir an entry, write
 * the 64-byte REPORTDATA to inblob, read outblob (the quote), then read
 * generation: it must have advanced by exactly our one write, otherwise
 * another writer raced us and the quote may carry its inblob.  The entry is
 * removed on every path.  File operations go through `struct tdx_tsm_ops`
 * so the logic is tested against a fake tree.
 */
#ifndef TDEXEC_TDX_TSM_H
#define TDEXEC_TDX_TSM_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define TDX_TSM_ROOT "/sys/kernel/config/tsm/report"

/* Each returns 0 or -errno. */
struct tdx_tsm_ops {
	int (*exists)(void *ctx, const char *path);
	int (*mkdir)(void *ctx, const char *path);
	int (*rmdir)(void *ctx, const char *path);
	int (*read)(void *ctx, const char *path, uint8_t *buf, size_t cap, size_t *len);
	int (*write)(void *ctx, const char *path, const uint8_t *buf, size_t len);
	void *ctx;
};

/* The real file system. */
extern const struct tdx_tsm_ops tdx_tsm_sysfs_ops;

/* Get a quote for report_data.  root NULL = TDX_TSM_ROOT, ops NULL = real.
 * ERR_NOTFOUND "no TDX guest support: configfs-tsm report interface not
 * found" where absent; ERR_BUSY after repeated races with another writer. */
MUST_CHECK int tdx_tsm_quote(const char *root, const struct tdx_tsm_ops *ops,
                             const uint8_t report_data[64], uint8_t **quote, size_t *len);

#endif
