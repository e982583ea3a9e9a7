#include "fake_qgs.h"

#include "tdx/qgs.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *const modes[] = {"ok",        "error",  "truncate",   "oversize",
                                    "bad-sizes", "silent", "wrong-type", "wrong-version"};

int fake_qgs_mode_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(name, modes[i]) == 0)
			return (int)i;
	return -1;
}

int fake_qgs_listen(struct fake_qgs *f, const char *path)
{
	struct sockaddr_un un;
	ENSURE(strlen(path) < sizeof(un.sun_path), ERR_INVAL, "%s: path too long", path);
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	memcpy(un.sun_path, path, strlen(path));
	unlink(path);
	f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ENSURE(f->fd >= 0, ERR_IO, "socket: %s", strerror(errno));
	if (bind(f->fd, (struct sockaddr *)&un, sizeof(un)) != 0 || listen(f->fd, 16) != 0) {
		int e = errno;
		close(f->fd);
		f->fd = -1;
		return err_set(ERR_IO, "%s: %s", path, strerror(e));
	}
	return 0;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int recv_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void put32(uint8_t *p, uint32_t v, int be)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (be ? 24 - 8 * i : 8 * i));
}

/* The answer a well-behaved QGS gives: a quote, or an error response. */
static int answer(struct fake_qgs *f, const uint8_t *msg, size_t len, uint8_t **out,
                  size_t *out_len)
{
	const uint8_t *report;
	uint8_t *quote = NULL;
	size_t qlen = 0;
	uint32_t code;
	int rc;

	if (tdx_qgs_request_parse(msg, len, &report, &code) < 0) {
		if (f->log)
			fprintf(stderr, "fake-qgs: bad request: %s\n", err_msg());
	} else if (tdx_sim_quote_report(f->sim, report, &quote, &qlen) < 0) {
		if (f->log)
			fprintf(stderr, "fake-qgs: no quote: %s\n", err_msg());
		code = TDX_QGS_ERR_UNEXPECTED;
	} else if (f->log) {
		char rd[129];
		hex_encode(rd, report + 128, 64);
		fprintf(stderr, "fake-qgs: quote #%u bytes=%zu reportdata=%s\n", f->served + 1,
		        qlen, rd);
	}
	rc = tdx_qgs_response_write(code, quote, qlen, out, out_len);
	free(quote);
	return rc;
}

static void serve(struct fake_qgs *f, int c)
{
	uint8_t pre[4], *msg = NULL, *resp = NULL;
	size_t n, rlen = 0;

	if (recv_all(c, pre, 4) < 0)
		return;
	n = (size_t)pre[0] << 24 | (size_t)pre[1] << 16 | (size_t)pre[2] << 8 | pre[3];
	if (n > 1 << 20 || !(msg = malloc(n ? n : 1)) || recv_all(c, msg, n) < 0)
		goto out;
	if (f->mode == FQ_SILENT) {
		/* until the client gives up and closes, or the test ends */
		struct pollfd p = {c, POLLIN, 0};
		while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED) && poll(&p, 1, 100) == 0)
			;
		goto out;
	}
	if (f->mode == FQ_ERROR) {
		if (tdx_qgs_response_write(f->error_code, NULL, 0, &resp, &rlen) < 0)
			goto out;
	} else if (answer(f, msg, n, &resp, &rlen) < 0) {
		goto out;
	}
	switch (f->mode) {
	case FQ_TRUNCATE: rlen = rlen / 2; break;
	case FQ_OVERSIZE: put32(resp, 0x80000000u, 1); break;
	case FQ_BAD_SIZES: put32(resp + 4 + 20, le32(resp + 4 + 20) + 100, 0); break;
	case FQ_WRONG_TYPE: put32(resp + 4 + 4, TDX_QGS_GET_QUOTE_REQ, 0); break;
	case FQ_WRONG_VERSION: resp[4] = 2; break;
	default: break;
	}
	/* counted before it is sent: a client that got it sees the count */
	__atomic_add_fetch(&f->served, 1, __ATOMIC_RELAXED);
	if (send_all(c, resp, rlen) < 0 && f->log)
		fprintf(stderr, "fake-qgs: the client left before the answer\n");
out:
	free(msg);
	free(resp);
}

void fake_qgs_run(struct fake_qgs *f)
{
	while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED)) {
		struct pollfd p = {f->fd, POLLIN, 0};
		int c;
		if (poll(&p, 1, 100) <= 0)
			continue;
		c = accept4(f->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve(f, c);
		close(c);
	}
}
