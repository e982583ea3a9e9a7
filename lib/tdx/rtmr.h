/* rtmr.h — extending a real TD's runtime measurement registers, and the
 * runtime event log that records each extend.
 *
 * Two kernel interfaces, detected in this order:
 *  - the TSM measurement-register files (Linux 6.16+,
 *    Documentation/ABI/testing/sysfs-devices-virtual-misc-tdx_guest):
 *    /sys/class/misc/tdx_guest/measurements/rtmrN:sha384 reads as the
 *    register's 48 bytes; one 48-byte write at offset 0 extends it;
 *  - the TDX_CMD_EXTEND_RTMR ioctl on /dev/tdx_guest that some distribution
 *    kernels carry ({u8 data[48]; u8 index}, 'T' 3; encoded _IOW by later
 *    versions of the patch, _IOR by earlier ones: both are tried); the value
 *    is then read from a TDREPORT (TDX_CMD_GET_REPORT0).
 * Only RTMR2 and RTMR3 are extended here: RTMR0 and RTMR1 hold what the
 * firmware and the boot loader measured (the CCEL describes them).
 *
 * Every path is below `root` (NULL or "" = the real file system) and every
 * file operation goes through `struct tdx_rtmr_ops`, so the logic is tested
 * against a fake tree whose writes extend as the kernel does.
 */
#ifndef TDEXEC_TDX_RTMR_H
#define TDEXEC_TDX_RTMR_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define TDX_RTMR_SYSFS_DIR "/sys/class/misc/tdx_guest/measurements"
#define TDX_RTMR_DEVICE    "/dev/tdx_guest"

/* Each returns 0 or -errno. */
struct tdx_rtmr_ops {
	int (*exists)(void *ctx, const char *path);
	int (*read)(void *ctx, const char *path, uint8_t *buf, size_t cap, size_t *len);
	int (*write)(void *ctx, const char *path, const uint8_t *buf, size_t len);
	/* open `dev` read-write, ioctl(req, arg), close */
	int (*ioctl)(void *ctx, const char *dev, unsigned long req, void *arg);
	void *ctx;
};

/* The real system calls. */
extern const struct tdx_rtmr_ops tdx_rtmr_sys_ops;

struct tdx_rtmr {
	const char *root;               /* prefix of every path; NULL = "" */
	const struct tdx_rtmr_ops *ops; /* NULL = tdx_rtmr_sys_ops */
};

enum tdx_rtmr_iface { TDX_RTMR_SYSFS = 1, TDX_RTMR_IOCTL };

/* Which interface extends RTMR idx (2 or 3).  ERR_NOTFOUND naming both
 * interfaces when neither is present. */
MUST_CHECK int tdx_rtmr_probe(const struct tdx_rtmr *t, int idx, enum tdx_rtmr_iface *out);

/* The current value of RTMR idx (0..3). */
MUST_CHECK int tdx_rtmr_read(const struct tdx_rtmr *t, int idx, uint8_t value[48]);

/* RTMR idx (2 or 3) = SHA-384(RTMR || digest); `len` must be 48
 * (ERR_INVAL otherwise, before anything is written).  The register is read
 * before and after: ERR_VERIFY when it does not hold SHA-384(old || digest)
 * afterwards (another writer raced, or the interface misbehaved).  The new
 * value goes to `value` (may be NULL). */
MUST_CHECK int tdx_rtmr_extend(const struct tdx_rtmr *t, int idx, const uint8_t *digest, size_t len,
                               uint8_t value[48]);

/* Extend RTMR idx and record it in the runtime log at `log` (tdexec's JSON
 * lines, tdx/eventlog.h), serialised by a lock on the log:
 *  1. the log must replay to the registers it touches (and to RTMR idx).
 *     What a crash can leave is repaired, and said in a warning: a last line
 *     that is partial, or whole but never extended (the register still
 *     holds the replay without it), is cut off; a log whose registers all
 *     read zero is from an earlier boot of the TD and moves to LOG.prev.
 *     Anything else is ERR_VERIFY: the registers hold extends the log does
 *     not record, and no verifier could replay them;
 *  2. the line {"rtmr","digest","event","value"} is appended and fsync'd;
 *  3. the register is extended and read back (tdx_rtmr_extend).
 * A crash between 2 and 3 is the "logged, never extended" case of 1. */
MUST_CHECK int tdx_rtmr_log_extend(const struct tdx_rtmr *t, const char *log, int idx,
                                   const uint8_t digest[48], const char *event);

#endif
