/* libFuzzer: raw bytes as an HTTP request to a real SMS on loopback — the
 * request parsing of libmicrohttpd, our routing, body caps and the SMS
 * handlers' query, address, key and signature parsing.  Each input is
 * followed by an empty line so that most end their header block.  Every
 * 256 inputs the service must still answer /healthz. */
#include "../services/sms/sms.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static struct sms *sms;
static int port;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char dir[] = "/tmp/fuzz-sms-XXXXXX", db[64], key[64];
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_OFF);
	if (!mkdtemp(dir))
		abort();
	snprintf(db, sizeof(db), "%s/sms.db", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	struct sms_config cfg = {
	    .address = "127.0.0.1", .threads = 2, .db_path = db, .master_key_path = key};
	if (sms_start(&cfg, &sms) < 0)
		abort();
	port = sms_port(sms);
	return 0;
}

/* Send the bytes (and an empty line when end), half-close, read the answer into buf (NUL-terminated). */
static void exchange(const uint8_t *data, size_t size, int end, char *buf, size_t cap)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {5, 0};
	struct linger lg = {1, 0};
	size_t got = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	buf[0] = '\0';
	if (fd < 0)
		abort();
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		abort(); /* the server is gone */
	while (size && (n = write(fd, data, size)) > 0) {
		data += n;
		size -= (size_t)n;
	}
	if (end && write(fd, "\r\n\r\n", 4) < 0)
		end = 0; /* the server closed early (it may refuse before the end) */
	shutdown(fd, SHUT_WR);
	/* Up to 100 ms for the first bytes, then until a 5 ms lull: a kept-alive
	 * connection need not close after answering, and libmicrohttpd keeps a
	 * half-closed connection with an incomplete request until its timeout. */
	for (int wait_ms = 100;; wait_ms = 5) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char sink[256];
		if (poll(&p, 1, wait_ms) <= 0)
			break;
		if (got + 1 < cap)
			n = read(fd, buf + got, cap - 1 - got);
		else
			n = read(fd, sink, sizeof(sink));
		if (n <= 0)
			break;
		if (got + 1 < cap)
			got += (size_t)n;
	}
	buf[got] = '\0';
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned long count;
	char buf[512];
	static const char health[] =
	    "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

	exchange(data, size, 1, buf, sizeof(buf));
	if (buf[0] && strncmp(buf, "HTTP/1.", 7) != 0)
		abort(); /* an answer that is not HTTP */
	if (++count % 256 == 0) {
		exchange((const uint8_t *)health, sizeof(health) - 1, 0, buf, sizeof(buf));
		if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
			abort();
	}
	return 0;
}
