#include "qgs.h"

#include "tdx/quote.h"
#include "util/bytes.h"
#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Largest response accepted: header, sizes, an id and the largest quote. */
#define QGS_RESP_MAX (TDX_QGS_RESP_MIN + TDX_QGS_ID_MAX + TDX_QUOTE_MAX_SIZE)

const char *tdx_qgs_error_str(uint32_t code)
{
	switch (code) {
	case TDX_QGS_SUCCESS: return "success";
	case TDX_QGS_ERR_UNEXPECTED:
		return "unexpected error (the quoting enclave failed: no PCK certificate for "
		       "this platform, or a TDREPORT it could not verify)";
	case TDX_QGS_ERR_OUT_OF_MEMORY: return "out of memory";
	case TDX_QGS_ERR_INVALID_PARAMETER: return "invalid parameter";
	case TDX_QGS_ERR_INVALID_VERSION: return "unsupported message version";
	case TDX_QGS_ERR_INVALID_TYPE: return "invalid message type";
	case TDX_QGS_ERR_INVALID_SIZE: return "invalid message size";
	case TDX_QGS_ERR_INVALID_CODE: return "invalid error code in the request";
	default: return "unknown error code";
	}
}

/* ---------- addresses ---------- */

static int parse_uint(const char *s, const char *end, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	if (s == end || end - s > 10)
		return -1;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int tdx_qgs_addr_parse(const char *text, struct tdx_qgs_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->vsock = 1;
	out->cid = TDX_QGS_DEFAULT_CID;
	out->port = TDX_QGS_DEFAULT_PORT;
	if (!text || strcmp(text, "vsock") == 0)
		return 0;
	if (strncmp(text, "unix:", 5) == 0) {
		size_t n = strlen(text + 5);
		ENSURE(n > 0, ERR_INVAL, "QGS address '%s': no socket path after unix:", text);
		ENSURE(n < sizeof(out->path), ERR_INVAL,
		       "QGS address '%s': socket path over %zu bytes", text, sizeof(out->path) - 1);
		out->vsock = 0;
		memcpy(out->path, text + 5, n + 1);
		return 0;
	}
	if (strncmp(text, "vsock:", 6) == 0) {
		const char *cid = text + 6, *colon = strchr(cid, ':');
		/* CID 0xffffffff is VMADDR_CID_ANY: a bind address, not a peer */
		if (colon && parse_uint(cid, colon, 0xfffffffeu, &out->cid) == 0 &&
		    parse_uint(colon + 1, colon + 1 + strlen(colon + 1), 0xfffffffeu, &out->port) ==
		        0)
			return 0;
	}
	return err_set(ERR_INVAL, "QGS address '%s': expected vsock:CID:PORT or unix:PATH", text);
}

void tdx_qgs_addr_str(const struct tdx_qgs_addr *a, char *buf, size_t cap)
{
	if (a->vsock)
		snprintf(buf, cap, "vsock:%u:%u", a->cid, a->port);
	else
		snprintf(buf, cap, "unix:%s", a->path);
}

/* ---------- messages ---------- */

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void header_write(uint8_t *p, uint32_t type, uint32_t size, uint32_t error_code)
{
	put_le16(p, 1);
	put_le16(p + 2, 0);
	put_le32(p + 4, type);
	put_le32(p + 8, size);
	put_le32(p + 12, error_code);
}

void tdx_qgs_request_write(const uint8_t report[TDX_REPORT_SIZE], uint8_t out[4 + TDX_QGS_REQ_SIZE])
{
	put_be32(out, TDX_QGS_REQ_SIZE);
	header_write(out + 4, TDX_QGS_GET_QUOTE_REQ, TDX_QGS_REQ_SIZE, 0);
	put_le32(out + 4 + TDX_QGS_HEADER_SIZE, TDX_REPORT_SIZE);
	put_le32(out + 4 + TDX_QGS_HEADER_SIZE + 4, 0);
	memcpy(out + 4 + TDX_QGS_HEADER_SIZE + 8, report, TDX_REPORT_SIZE);
}

struct header {
	uint16_t major, minor;
	uint32_t type, size, error_code;
};

static int header_read(struct rd *r, struct header *h)
{
	GUARD(rd_u16le(r, &h->major, "major_version"));
	GUARD(rd_u16le(r, &h->minor, "minor_version"));
	GUARD(rd_u32le(r, &h->type, "type"));
	GUARD(rd_u32le(r, &h->size, "size"));
	GUARD(rd_u32le(r, &h->error_code, "error_code"));
	return 0;
}

int tdx_qgs_request_parse(const uint8_t *msg, size_t len, const uint8_t **report,
                          uint32_t *qgs_error)
{
	struct header h;
	uint32_t report_size, id_list_size;
	struct rd r;

	*qgs_error = TDX_QGS_ERR_INVALID_PARAMETER;
	rd_init(&r, msg, len, "QGS request");
	GUARD(header_read(&r, &h));
	GUARD(rd_u32le(&r, &report_size, "report_size"));
	GUARD(rd_u32le(&r, &id_list_size, "id_list_size"));
	/* Only the major version is binding: a minor change is compatible. */
	*qgs_error = TDX_QGS_ERR_INVALID_VERSION;
	ENSURE(h.major == 1, ERR_UNSUPPORTED, "QGS request: version %u.%u (want 1.x)", h.major,
	       h.minor);
	*qgs_error = TDX_QGS_ERR_INVALID_TYPE;
	ENSURE(h.type == TDX_QGS_GET_QUOTE_REQ, ERR_INVAL,
	       "QGS request: message type %u, not GET_QUOTE_REQ", h.type);
	*qgs_error = TDX_QGS_ERR_INVALID_SIZE;
	ENSURE(h.size == len, ERR_INVAL, "QGS request: header says %u bytes, message has %zu",
	       h.size, len);
	*qgs_error = TDX_QGS_ERR_INVALID_CODE;
	ENSURE(h.error_code == 0, ERR_INVAL, "QGS request: error_code 0x%x in a request",
	       h.error_code);
	*qgs_error = TDX_QGS_ERR_INVALID_PARAMETER;
	ENSURE(report_size == TDX_REPORT_SIZE && id_list_size == 0, ERR_INVAL,
	       "QGS request: report_size %u, id_list_size %u (want %d and 0)", report_size,
	       id_list_size, TDX_REPORT_SIZE);
	*qgs_error = TDX_QGS_ERR_INVALID_SIZE;
	ENSURE(rd_left(&r) == TDX_REPORT_SIZE, ERR_INVAL,
	       "QGS request: %zu bytes after the sizes, want %d", rd_left(&r), TDX_REPORT_SIZE);
	GUARD(rd_view(&r, report, TDX_REPORT_SIZE, "report"));
	*qgs_error = TDX_QGS_SUCCESS;
	return 0;
}

int tdx_qgs_response_parse(const uint8_t *msg, size_t len, const uint8_t **quote, size_t *quote_len)
{
	uint32_t id_size, quote_size;
	const uint8_t *id;
	struct header h;
	struct rd r;

	ENSURE(len <= QGS_RESP_MAX, ERR_TOOBIG, "QGS response of %zu bytes: over the %u-byte cap",
	       len, (unsigned)QGS_RESP_MAX);
	rd_init(&r, msg, len, "QGS response");
	GUARD(header_read(&r, &h));
	ENSURE(h.major == 1, ERR_UNSUPPORTED, "QGS response: version %u.%u (want 1.x)", h.major,
	       h.minor);
	ENSURE(h.type == TDX_QGS_GET_QUOTE_RESP, ERR_INVAL,
	       "QGS response: message type %u, not GET_QUOTE_RESP (%d)", h.type,
	       TDX_QGS_GET_QUOTE_RESP);
	ENSURE(h.size == len, ERR_INVAL, "QGS response: header says %u bytes, message has %zu",
	       h.size, len);
	ENSURE(h.error_code == 0, ERR_IO, "QGS error 0x%x: %s", h.error_code,
	       tdx_qgs_error_str(h.error_code));
	GUARD(rd_u32le(&r, &id_size, "selected_id_size"));
	GUARD(rd_u32le(&r, &quote_size, "quote_size"));
	ENSURE(id_size <= TDX_QGS_ID_MAX, ERR_TOOBIG,
	       "QGS response: selected id of %u bytes (cap %d)", id_size, TDX_QGS_ID_MAX);
	ENSURE(quote_size <= TDX_QUOTE_MAX_SIZE, ERR_TOOBIG,
	       "QGS response: quote of %u bytes (cap %u)", quote_size, TDX_QUOTE_MAX_SIZE);
	/* both capped above: the sum cannot overflow */
	ENSURE((size_t)id_size + quote_size == rd_left(&r), ERR_INVAL,
	       "QGS response: selected_id_size %u + quote_size %u, but %zu bytes follow", id_size,
	       quote_size, rd_left(&r));
	ENSURE(quote_size > 0, ERR_INVAL, "QGS response: success without a quote");
	GUARD(rd_view(&r, &id, id_size, "selected_id"));
	GUARD(rd_view(&r, quote, quote_size, "quote"));
	*quote_len = quote_size;
	return 0;
}

int tdx_qgs_response_write(uint32_t error_code, const uint8_t *quote, size_t quote_len,
                           uint8_t **out, size_t *len)
{
	size_t n;
	uint8_t *p;

	if (error_code != 0)
		quote_len = 0;
	ENSURE(quote_len <= TDX_QUOTE_MAX_SIZE, ERR_TOOBIG, "quote of %zu bytes: over the cap",
	       quote_len);
	n = TDX_QGS_RESP_MIN + quote_len;
	p = malloc(4 + n);
	ENSURE(p, ERR_NOMEM, "out of memory");
	put_be32(p, (uint32_t)n);
	header_write(p + 4, TDX_QGS_GET_QUOTE_RESP, (uint32_t)n, error_code);
	put_le32(p + 4 + TDX_QGS_HEADER_SIZE, 0);
	put_le32(p + 4 + TDX_QGS_HEADER_SIZE + 4, (uint32_t)quote_len);
	if (quote_len)
		memcpy(p + 4 + TDX_QGS_RESP_MIN, quote, quote_len);
	*out = p;
	*len = 4 + n;
	return 0;
}

/* ---------- the exchange ---------- */

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for `events` on fd until the deadline: 0, or ERR_IO on timeout. */
static int wait_fd(int fd, short events, long deadline, const char *addr, const char *what)
{
	for (;;) {
		struct pollfd p = {fd, events, 0};
		long left = deadline - now_ms();
		int n;
		ENSURE(left > 0, ERR_IO, "QGS at %s: no answer %s before the deadline", addr, what);
		n = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (n > 0)
			return 0;
		ENSURE(n == 0 || errno == EINTR, ERR_IO, "QGS at %s: poll: %s", addr,
		       strerror(errno));
	}
}

static int qgs_connect(const struct tdx_qgs_opts *o, const char *addr, long deadline, int *out)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, e = 0;
	socklen_t el = sizeof(e);

	memset(&ss, 0, sizeof(ss));
	if (o->addr.vsock) {
		struct sockaddr_vm *vm = (struct sockaddr_vm *)&ss;
		vm->svm_family = AF_VSOCK;
		vm->svm_cid = o->addr.cid;
		vm->svm_port = o->addr.port;
		sl = sizeof(*vm);
	} else {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, o->addr.path, sizeof(o->addr.path));
		sl = sizeof(*un);
	}
	fd = socket(o->addr.vsock ? AF_VSOCK : AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            0);
	if (fd < 0) {
		e = errno;
		return err_set(e == EAFNOSUPPORT ? ERR_NOTFOUND : ERR_IO, "QGS at %s: socket: %s%s",
		               addr, strerror(e),
		               e == EAFNOSUPPORT ? " (no vsock in this kernel: not a VM guest?)"
		                                 : "");
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
		if (errno == EINPROGRESS || errno == EAGAIN) {
			int rc = wait_fd(fd, POLLOUT, deadline, addr, "to the connection");
			if (rc < 0) {
				close(fd);
				return rc;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
				e = errno;
		} else {
			e = errno;
		}
	}
	if (e != 0) {
		close(fd);
		/* refused, reset, no such socket or host: nothing listens there */
		return err_set(e == ECONNREFUSED || e == ENOENT || e == ECONNRESET || e == ENODEV ||
		                       e == EHOSTUNREACH || e == ENETUNREACH
		                   ? ERR_NOTFOUND
		                   : ERR_IO,
		               "no QGS at %s: %s", addr, strerror(e));
	}
	*out = fd;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n, long deadline, const char *addr)
{
	size_t off = 0;
	while (off < n) {
		ssize_t w = send(fd, p + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			GUARD(wait_fd(fd, POLLOUT, deadline, addr, "to the request"));
			continue;
		}
		ENSURE(w > 0, ERR_IO, "QGS at %s: sending the request: %s", addr,
		       w < 0 ? strerror(errno) : "connection closed");
		off += (size_t)w;
	}
	return 0;
}

/* Read exactly n bytes; `what` names them in errors. */
static int read_all(int fd, uint8_t *p, size_t n, long deadline, const char *addr, const char *what)
{
	size_t off = 0;
	while (off < n) {
		ssize_t r = recv(fd, p + off, n - off, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			GUARD(wait_fd(fd, POLLIN, deadline, addr, what));
			continue;
		}
		ENSURE(r >= 0, ERR_IO, "QGS at %s: reading %s: %s", addr, what, strerror(errno));
		ENSURE(r > 0, ERR_IO, "QGS at %s: connection closed after %zu of %zu bytes of %s",
		       addr, off, n, what);
		off += (size_t)r;
	}
	return 0;
}

static void deadlines(const struct tdx_qgs_opts *o, long *total, long *conn)
{
	long t = o->timeout_ms > 0 ? o->timeout_ms : TDX_QGS_TIMEOUT_MS;
	long c = o->connect_ms > 0 ? o->connect_ms : TDX_QGS_CONNECT_MS;
	long now = now_ms();
	*total = now + t;
	*conn = now + (c < t ? c : t);
}

int tdx_qgs_probe(const struct tdx_qgs_opts *o)
{
	char addr[128];
	long total, conn;
	int fd;

	tdx_qgs_addr_str(&o->addr, addr, sizeof(addr));
	deadlines(o, &total, &conn);
	GUARD(qgs_connect(o, addr, conn, &fd));
	close(fd);
	return 0;
}

int tdx_qgs_quote(const struct tdx_qgs_opts *o, const uint8_t report[TDX_REPORT_SIZE],
                  uint8_t **quote, size_t *len)
{
	uint8_t req[4 + TDX_QGS_REQ_SIZE], pre[4], *msg = NULL;
	const uint8_t *q;
	char addr[128];
	long total, conn;
	size_t n, qlen;
	int fd = -1, rc = 0;

	tdx_qgs_addr_str(&o->addr, addr, sizeof(addr));
	deadlines(o, &total, &conn);
	GUARD(qgs_connect(o, addr, conn, &fd));
	tdx_qgs_request_write(report, req);
	GUARD_GOTO(write_all(fd, req, sizeof(req), total, addr));
	GUARD_GOTO(read_all(fd, pre, 4, total, addr, "the response length"));
	n = (size_t)pre[0] << 24 | (size_t)pre[1] << 16 | (size_t)pre[2] << 8 | pre[3];
	ENSURE_GOTO(n >= TDX_QGS_RESP_MIN, ERR_INVAL,
	            "QGS at %s: response of %zu bytes, shorter than its header", addr, n);
	ENSURE_GOTO(n <= QGS_RESP_MAX, ERR_TOOBIG,
	            "QGS at %s: response of %zu bytes announced, over the %u-byte cap", addr, n,
	            (unsigned)QGS_RESP_MAX);
	msg = malloc(n);
	ENSURE_GOTO(msg, ERR_NOMEM, "out of memory");
	GUARD_GOTO(read_all(fd, msg, n, total, addr, "the response"));
	rc = tdx_qgs_response_parse(msg, n, &q, &qlen);
	if (rc < 0) {
		rc = err_wrap(rc, "QGS at %s", addr);
		goto out;
	}
	*quote = malloc(qlen);
	ENSURE_GOTO(*quote, ERR_NOMEM, "out of memory");
	memcpy(*quote, q, qlen);
	*len = qlen;
out:
	free(msg);
	close(fd);
	return rc;
}

/* ---------- TDREPORT ---------- */

/* The kernel's uapi (include/uapi/linux/tdx-guest.h), spelled here so that
 * the build does not depend on the installed kernel headers' version. */
struct tdx_report_req {
	uint8_t reportdata[64];
	uint8_t tdreport[TDX_REPORT_SIZE];
};
#define TDX_CMD_GET_REPORT0 _IOWR('T', 1, struct tdx_report_req)

int tdx_report_get0(const char *dev, const uint8_t report_data[64], uint8_t report[TDX_REPORT_SIZE])
{
	struct tdx_report_req req;
	int fd, e = 0;

	if (!dev)
		dev = TDX_GUEST_DEV;
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		ENSURE(e != ENOENT, ERR_NOTFOUND,
		       "no TDX guest device %s: not a TDX guest, or the tdx_guest driver is not "
		       "loaded",
		       dev);
		return err_set(ERR_IO, "%s: %s", dev, strerror(e));
	}
	memcpy(req.reportdata, report_data, 64);
	memset(req.tdreport, 0, sizeof(req.tdreport));
	if (ioctl(fd, TDX_CMD_GET_REPORT0, &req) != 0)
		e = errno;
	close(fd);
	ENSURE(e != ENOTTY, ERR_UNSUPPORTED,
	       "%s is not a TDX guest device (TDX_CMD_GET_REPORT0: %s)", dev, strerror(e));
	ENSURE(e == 0, ERR_IO, "%s: TDX_CMD_GET_REPORT0: %s", dev, strerror(e));
	memcpy(report, req.tdreport, TDX_REPORT_SIZE);
	return 0;
}

static int dev_get(void *ctx, const uint8_t report_data[64], uint8_t report[TDX_REPORT_SIZE])
{
	return tdx_report_get0(ctx, report_data, report);
}

const struct tdx_report_ops tdx_report_dev_ops = {dev_get, NULL};
