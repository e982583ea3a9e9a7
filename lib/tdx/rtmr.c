#include "rtmr.h"

#include "crypto/p256.h"
#include "tdx/eventlog.h"
#include "tdx/sysfs.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The uapi of /dev/tdx_guest (include/uapi/linux/tdx-guest.h), spelled out
 * here: the extend request is not in mainline headers, and the build must
 * not depend on which kernel headers the build machine has. */
struct rtmr_extend_req {
	uint8_t data[48];
	uint8_t index;
};
struct rtmr_report_req {
	uint8_t reportdata[64];
	uint8_t tdreport[1024];
};
#define CMD_GET_REPORT0   _IOWR('T', 1, struct rtmr_report_req)
#define CMD_EXTEND_RTMR_W _IOW('T', 3, struct rtmr_extend_req)
#define CMD_EXTEND_RTMR_R _IOR('T', 3, struct rtmr_extend_req)
/* TDREPORT: REPORTMACSTRUCT (256), TEE_TCB_INFO (239 + 17 reserved), then
 * TDINFO: ATTRIBUTES, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG,
 * RTMR[4] (TDX Module ABI specification, TDREPORT_STRUCT). */
#define TDREPORT_RTMR0 (512 + 8 + 8 + 4 * 48)

#define EVENT_MAX 4096

static int sys_ioctl(void *ctx, const char *dev, unsigned long req, void *arg)
{
	int fd = open(dev, O_RDWR | O_CLOEXEC), e = 0;
	(void)ctx;
	if (fd < 0)
		return -errno;
	if (ioctl(fd, req, arg) < 0)
		e = -errno;
	close(fd);
	return e;
}

const struct tdx_rtmr_ops tdx_rtmr_sys_ops = {tdx_sysfs_exists, tdx_sysfs_read, tdx_sysfs_write,
                                              sys_ioctl, NULL};

static const struct tdx_rtmr_ops *ops_of(const struct tdx_rtmr *t)
{
	return t && t->ops ? t->ops : &tdx_rtmr_sys_ops;
}

static const char *root_of(const struct tdx_rtmr *t)
{
	return t && t->root ? t->root : "";
}

static int sysfs_path(const struct tdx_rtmr *t, int idx, char out[PATH_MAX])
{
	int n = snprintf(out, PATH_MAX, "%s%s/rtmr%d:sha384", root_of(t), TDX_RTMR_SYSFS_DIR, idx);
	ENSURE(n > 0 && n < PATH_MAX, ERR_INVAL, "RTMR: path too long");
	return 0;
}

static int device_path(const struct tdx_rtmr *t, char out[PATH_MAX])
{
	int n = snprintf(out, PATH_MAX, "%s%s", root_of(t), TDX_RTMR_DEVICE);
	ENSURE(n > 0 && n < PATH_MAX, ERR_INVAL, "RTMR: path too long");
	return 0;
}

int tdx_rtmr_probe(const struct tdx_rtmr *t, int idx, enum tdx_rtmr_iface *out)
{
	const struct tdx_rtmr_ops *ops = ops_of(t);
	char path[PATH_MAX], dev[PATH_MAX];

	ENSURE(idx >= 0 && idx <= 3, ERR_INVAL, "RTMR index %d out of range (0..3)", idx);
	GUARD(sysfs_path(t, idx, path));
	GUARD(device_path(t, dev));
	if (ops->exists(ops->ctx, path) == 0)
		*out = TDX_RTMR_SYSFS;
	else if (ops->exists(ops->ctx, dev) == 0)
		*out = TDX_RTMR_IOCTL;
	else
		return err_set(ERR_NOTFOUND,
		               "no RTMR interface: neither %s (Linux 6.16+ TSM measurement "
		               "registers) nor %s (the tdx_guest driver) exists: not a TDX guest, "
		               "or its kernel lacks the tdx_guest driver",
		               path, dev);
	return 0;
}

int tdx_rtmr_read(const struct tdx_rtmr *t, int idx, uint8_t value[48])
{
	const struct tdx_rtmr_ops *ops = ops_of(t);
	enum tdx_rtmr_iface kind;
	char path[PATH_MAX];
	uint8_t buf[49];
	size_t n = 0;
	int e;

	GUARD(tdx_rtmr_probe(t, idx, &kind));
	if (kind == TDX_RTMR_SYSFS) {
		GUARD(sysfs_path(t, idx, path));
		e = ops->read(ops->ctx, path, buf, sizeof(buf), &n);
		ENSURE(e == 0, ERR_IO, "RTMR%d: reading %s: %s", idx, path, strerror(-e));
		ENSURE(n == 48, ERR_IO, "RTMR%d: %s holds %s bytes, not the 48 of a SHA-384 value",
		       idx, path,
		       n > 48   ? "more than 48"
		       : n == 0 ? "no"
		                : "fewer");
		memcpy(value, buf, 48);
		return 0;
	}
	GUARD(device_path(t, path));
	struct rtmr_report_req *req = calloc(1, sizeof(*req));
	ENSURE(req, ERR_NOMEM, "out of memory");
	e = ops->ioctl(ops->ctx, path, CMD_GET_REPORT0, req);
	if (e == 0)
		memcpy(value, req->tdreport + TDREPORT_RTMR0 + 48 * idx, 48);
	free(req);
	ENSURE(e == 0, ERR_IO, "RTMR%d: TDX_CMD_GET_REPORT0 on %s: %s", idx, path, strerror(-e));
	return 0;
}

/* The extend itself, by whichever interface is there. */
static int extend_raw(const struct tdx_rtmr *t, enum tdx_rtmr_iface kind, int idx,
                      const uint8_t digest[48])
{
	const struct tdx_rtmr_ops *ops = ops_of(t);
	char path[PATH_MAX];
	int e;

	if (kind == TDX_RTMR_SYSFS) {
		GUARD(sysfs_path(t, idx, path));
		e = ops->write(ops->ctx, path, digest, 48);
		ENSURE(e != -EACCES && e != -EPERM, ERR_IO,
		       "RTMR%d: %s is not writable by this process (%s): the extend needs root",
		       idx, path, strerror(-e));
		ENSURE(e == 0, ERR_IO, "RTMR%d: extending through %s: %s", idx, path, strerror(-e));
		return 0;
	}
	struct rtmr_extend_req req;
	memset(&req, 0, sizeof(req));
	memcpy(req.data, digest, 48);
	req.index = (uint8_t)idx;
	GUARD(device_path(t, path));
	e = ops->ioctl(ops->ctx, path, CMD_EXTEND_RTMR_W, &req);
	if (e == -ENOTTY)
		e = ops->ioctl(ops->ctx, path, CMD_EXTEND_RTMR_R, &req);
	ENSURE(e != -ENOTTY, ERR_UNSUPPORTED,
	       "RTMR%d: this kernel can not extend RTMRs: %s%s has no measurement files and "
	       "%s no TDX_CMD_EXTEND_RTMR ioctl (Linux 6.16+ has the files)",
	       idx, root_of(t), TDX_RTMR_SYSFS_DIR, path);
	ENSURE(e == 0, ERR_IO, "RTMR%d: TDX_CMD_EXTEND_RTMR on %s: %s", idx, path, strerror(-e));
	return 0;
}

int tdx_rtmr_extend(const struct tdx_rtmr *t, int idx, const uint8_t *digest, size_t len,
                    uint8_t value[48])
{
	enum tdx_rtmr_iface kind;
	uint8_t cat[96], want[48], got[48];
	char w[97], g[97];

	ENSURE(idx == 2 || idx == 3, ERR_INVAL,
	       "RTMR%d can not be extended here: RTMR0 and RTMR1 hold the firmware's and the "
	       "boot loader's measurements (2 or 3)",
	       idx);
	ENSURE(digest && len == 48, ERR_INVAL,
	       "RTMR%d: a SHA-384 digest is 48 bytes, not %zu: nothing extended", idx, len);
	GUARD(tdx_rtmr_probe(t, idx, &kind));
	GUARD(tdx_rtmr_read(t, idx, cat));
	memcpy(cat + 48, digest, 48);
	GUARD(sha384(cat, sizeof(cat), want));
	GUARD(extend_raw(t, kind, idx, digest));
	GUARD(tdx_rtmr_read(t, idx, got));
	if (CRYPTO_memcmp(want, got, 48) != 0) {
		hex_encode(w, want, 48);
		hex_encode(g, got, 48);
		return err_set(ERR_VERIFY,
		               "RTMR%d reads %s after the extend, not SHA-384(old || digest) = %s: "
		               "another process extended it meanwhile, or the interface did not "
		               "extend as the kernel documents",
		               idx, g, w);
	}
	if (value)
		memcpy(value, got, 48);
	return 0;
}

/* ---------- the runtime log ---------- */

/* The registers `mask` names as the replay `r` says they must be (zero for
 * one it never touched), compared with `regs`. */
static int replay_matches(const struct tdx_rtmr_replay *r, uint8_t regs[4][48], unsigned mask)
{
	static const uint8_t zero[48];
	for (int i = 0; i < 4; i++)
		if ((mask & (1u << i)) &&
		    memcmp((r->touched & (1u << i)) ? r->rtmr[i] : zero, regs[i], 48) != 0)
			return 0;
	return 1;
}

static int replay_prefix(const char *text, size_t len, struct tdx_rtmr_replay *r)
{
	tdx_replay_init(r);
	return tdx_replay_jsonl(r, text, len);
}

/* Step 1 of tdx_rtmr_log_extend: the log `buf` (len bytes, open on fd)
 * against the registers; regs[idx] is the current value on success. */
static int reconcile(const struct tdx_rtmr *t, const char *log, int fd, const char *buf, size_t len,
                     int idx, uint8_t regs[4][48])
{
	struct tdx_rtmr_replay full, prev;
	size_t whole = 0, last = 0;
	unsigned mask;
	int zero = 1;
	char prevpath[PATH_MAX], h1[97], h2[97];

	for (size_t i = len; i > 0; i--)
		if (buf[i - 1] == '\n') {
			whole = i;
			break;
		}
	for (size_t i = whole ? whole - 1 : 0; i > 0; i--)
		if (buf[i - 1] == '\n') {
			last = i;
			break;
		}
	if (replay_prefix(buf, whole, &full) < 0)
		return err_wrap(ERR_INVAL, "runtime log %s", log);
	mask = full.touched | (1u << idx);
	for (int i = 0; i < 4; i++)
		if (mask & (1u << i)) {
			GUARD(tdx_rtmr_read(t, i, regs[i]));
			for (size_t k = 0; k < 48; k++)
				zero &= regs[i][k] == 0;
		}
	if (replay_matches(&full, regs, mask)) {
		if (whole < len) {
			log_warn("rtmr.log_repair", "log=%s cut=partial_line bytes=%zu", log,
			         len - whole);
			ENSURE(ftruncate(fd, (off_t)whole) == 0, ERR_IO, "%s: %s", log,
			       strerror(errno));
		}
		return 0;
	}
	if (whole > 0 && replay_prefix(buf, last, &prev) == 0 &&
	    replay_matches(&prev, regs, mask)) {
		/* the line was written and fsync'd, the extend never made */
		log_warn("rtmr.log_repair", "log=%s cut=line_never_extended bytes=%zu", log,
		         len - last);
		ENSURE(ftruncate(fd, (off_t)last) == 0, ERR_IO, "%s: %s", log, strerror(errno));
		return 0;
	}
	if (zero) {
		/* registers start at zero when the TD boots: the log is older */
		int n = snprintf(prevpath, sizeof(prevpath), "%s.prev", log);
		ENSURE(n > 0 && (size_t)n < sizeof(prevpath), ERR_INVAL, "%s: path too long", log);
		GUARD(file_write(prevpath, buf, len, 0600));
		ENSURE(ftruncate(fd, 0) == 0, ERR_IO, "%s: %s", log, strerror(errno));
		log_warn("rtmr.log_rotate", "log=%s moved_to=%s reason=registers_at_zero", log,
		         prevpath);
		return 0;
	}
	for (int i = 0; i < 4; i++) {
		static const uint8_t z[48];
		if (!(mask & (1u << i)) ||
		    memcmp((full.touched & (1u << i)) ? full.rtmr[i] : z, regs[i], 48) == 0)
			continue;
		hex_encode(h1, (full.touched & (1u << i)) ? full.rtmr[i] : z, 48);
		hex_encode(h2, regs[i], 48);
		return err_set(ERR_VERIFY,
		               "runtime log %s replays RTMR%d to %s but the register holds %s: "
		               "it was extended by something the log does not record, so no "
		               "verifier can replay it (reboot the TD to start both afresh)",
		               log, i, h1, h2);
	}
	return err_set(ERR_VERIFY, "runtime log %s does not replay to the registers", log);
}

static int read_fd(int fd, const char *log, char **out, size_t *len)
{
	struct stat st;
	size_t n = 0;
	char *buf;

	ENSURE(fstat(fd, &st) == 0, ERR_IO, "%s: %s", log, strerror(errno));
	ENSURE(st.st_size >= 0 && (uint64_t)st.st_size <= TDX_EVENTLOG_MAX, ERR_TOOBIG,
	       "runtime log %s over %u bytes", log, TDX_EVENTLOG_MAX);
	buf = malloc((size_t)st.st_size + 1);
	ENSURE(buf, ERR_NOMEM, "out of memory");
	while (n < (size_t)st.st_size) {
		ssize_t r = pread(fd, buf + n, (size_t)st.st_size - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			return err_set(ERR_IO, "%s: %s", log,
			               r < 0 ? strerror(errno) : "short read");
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int tdx_rtmr_log_extend(const struct tdx_rtmr *t, const char *log, int idx,
                        const uint8_t digest[48], const char *event)
{
	uint8_t regs[4][48], cat[96], next[48], got[48];
	char dhex[97], vhex[97], *buf = NULL, *text = NULL;
	json_t *line = NULL;
	size_t len = 0;
	int fd, rc = 0;

	ENSURE(idx == 2 || idx == 3, ERR_INVAL, "RTMR%d can not be extended here (2 or 3)", idx);
	ENSURE(!event || strlen(event) <= EVENT_MAX, ERR_TOOBIG, "event text over %d bytes",
	       EVENT_MAX);
	fd = open(log, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	ENSURE(fd >= 0, ERR_IO, "runtime log %s: %s", log, strerror(errno));
	ENSURE_GOTO(flock(fd, LOCK_EX) == 0, ERR_IO, "%s: %s", log, strerror(errno));
	GUARD_GOTO(read_fd(fd, log, &buf, &len));
	GUARD_GOTO(reconcile(t, log, fd, buf, len, idx, regs));

	memcpy(cat, regs[idx], 48);
	memcpy(cat + 48, digest, 48);
	GUARD_GOTO(sha384(cat, sizeof(cat), next));
	hex_encode(dhex, digest, 48);
	hex_encode(vhex, next, 48);
	line = json_pack("{s:i,s:s,s:s,s:s}", "rtmr", idx, "digest", dhex, "event",
	                 event ? event : "", "value", vhex);
	ENSURE_GOTO(line, ERR_NOMEM, "out of memory");
	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
	ENSURE_GOTO(text, ERR_NOMEM, "out of memory");
	{
		size_t n = strlen(text);
		text[n] = '\n'; /* replaces the NUL; length tracked in n */
		ENSURE_GOTO(write(fd, text, n + 1) == (ssize_t)(n + 1) && fsync(fd) == 0, ERR_IO,
		            "runtime log %s: %s", log, strerror(errno));
	}
	GUARD_GOTO(tdx_rtmr_extend(t, idx, digest, 48, got));
	ENSURE_GOTO(memcmp(got, next, 48) == 0, ERR_VERIFY,
	            "RTMR%d moved between the log's check and the extend: another process "
	            "extends it without the log %s",
	            idx, log);
	log_info("rtmr.extend", "rtmr=%d digest=%s value=%s log=%s", idx, dhex, vhex, log);
out:
	free(text);
	json_decref(line);
	free(buf);
	close(fd);
	return rc;
}
