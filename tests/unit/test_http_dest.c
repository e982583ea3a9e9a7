/* Fetches that reach public addresses only: the address classifier as a
 * table of cases (IANA's IPv4 and IPv6 special-purpose address registries,
 * RFC 6890 and its updates), and real fetches from loopback servers with
 * and without the policy, redirects included. */
#include "testutil.h"
#include "testnet.h"

#include "net/http.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct {
	const char *ip;
	enum http_addr_class want;
} cases[] = {
    /* public */
    {"8.8.8.8", HTTP_ADDR_PUBLIC},
    {"1.1.1.1", HTTP_ADDR_PUBLIC},
    {"100.63.255.255", HTTP_ADDR_PUBLIC},
    {"100.128.0.0", HTTP_ADDR_PUBLIC},
    {"172.15.255.255", HTTP_ADDR_PUBLIC},
    {"172.32.0.0", HTTP_ADDR_PUBLIC},
    {"169.253.255.255", HTTP_ADDR_PUBLIC},
    {"223.255.255.255", HTTP_ADDR_PUBLIC},
    {"2606:4700:4700::1111", HTTP_ADDR_PUBLIC},
    {"2a00:1450:4007:80e::200e", HTTP_ADDR_PUBLIC},
    {"::ffff:8.8.8.8", HTTP_ADDR_PUBLIC},
    {"64:ff9b::808:808", HTTP_ADDR_PUBLIC},
    {"2002:808:808::1", HTTP_ADDR_PUBLIC},
    /* loopback */
    {"127.0.0.1", HTTP_ADDR_LOOPBACK},
    {"127.255.255.254", HTTP_ADDR_LOOPBACK},
    {"::1", HTTP_ADDR_LOOPBACK},
    {"::ffff:127.0.0.1", HTTP_ADDR_LOOPBACK},
    {"::127.0.0.1", HTTP_ADDR_LOOPBACK},
    {"::ffff:0:127.0.0.1", HTTP_ADDR_LOOPBACK},
    {"64:ff9b::7f00:1", HTTP_ADDR_LOOPBACK},
    {"2002:7f00:1::1", HTTP_ADDR_LOOPBACK},
    /* unspecified */
    {"0.0.0.0", HTTP_ADDR_UNSPECIFIED},
    {"0.1.2.3", HTTP_ADDR_UNSPECIFIED},
    {"::", HTTP_ADDR_UNSPECIFIED},
    {"::ffff:0.0.0.0", HTTP_ADDR_UNSPECIFIED},
    /* link-local, the cloud metadata servers among them */
    {"169.254.169.254", HTTP_ADDR_LINK_LOCAL},
    {"169.254.0.1", HTTP_ADDR_LINK_LOCAL},
    {"fe80::1", HTTP_ADDR_LINK_LOCAL},
    {"febf:ffff::1", HTTP_ADDR_LINK_LOCAL},
    {"::ffff:169.254.169.254", HTTP_ADDR_LINK_LOCAL},
    {"::ffff:a9fe:a9fe", HTTP_ADDR_LINK_LOCAL},
    {"64:ff9b::a9fe:a9fe", HTTP_ADDR_LINK_LOCAL},
    /* private (RFC 1918), site-local, local-use NAT64 */
    {"10.0.0.1", HTTP_ADDR_PRIVATE},
    {"10.255.255.255", HTTP_ADDR_PRIVATE},
    {"172.16.0.1", HTTP_ADDR_PRIVATE},
    {"172.31.255.255", HTTP_ADDR_PRIVATE},
    {"192.168.1.1", HTTP_ADDR_PRIVATE},
    {"::ffff:10.1.2.3", HTTP_ADDR_PRIVATE},
    {"::ffff:192.168.0.1", HTTP_ADDR_PRIVATE},
    {"64:ff9b::a00:1", HTTP_ADDR_PRIVATE},
    {"64:ff9b::c0a8:101", HTTP_ADDR_PRIVATE},
    {"2002:c0a8:101::1", HTTP_ADDR_PRIVATE},
    {"64:ff9b:1::808:808", HTTP_ADDR_PRIVATE},
    {"fec0::1", HTTP_ADDR_PRIVATE},
    /* shared address space (carrier-grade NAT) */
    {"100.64.0.1", HTTP_ADDR_SHARED},
    {"100.127.255.255", HTTP_ADDR_SHARED},
    {"::ffff:100.100.100.200", HTTP_ADDR_SHARED},
    /* unique local, AWS's IPv6 metadata server among them */
    {"fc00::1", HTTP_ADDR_UNIQUE_LOCAL},
    {"fd00:ec2::254", HTTP_ADDR_UNIQUE_LOCAL},
    {"fdff:ffff::1", HTTP_ADDR_UNIQUE_LOCAL},
    /* multicast, broadcast */
    {"224.0.0.1", HTTP_ADDR_MULTICAST},
    {"239.255.255.250", HTTP_ADDR_MULTICAST},
    {"ff02::1", HTTP_ADDR_MULTICAST},
    {"::ffff:224.0.0.251", HTTP_ADDR_MULTICAST},
    {"255.255.255.255", HTTP_ADDR_BROADCAST},
    {"::ffff:255.255.255.255", HTTP_ADDR_BROADCAST},
    /* reserved: 240/4, IETF, documentation, benchmarking, deprecated forms */
    {"240.0.0.1", HTTP_ADDR_RESERVED},
    {"255.255.255.254", HTTP_ADDR_RESERVED},
    {"192.0.0.170", HTTP_ADDR_RESERVED},
    {"192.0.2.1", HTTP_ADDR_RESERVED},
    {"198.18.0.1", HTTP_ADDR_RESERVED},
    {"198.19.255.255", HTTP_ADDR_RESERVED},
    {"198.51.100.7", HTTP_ADDR_RESERVED},
    {"203.0.113.9", HTTP_ADDR_RESERVED},
    {"192.88.99.1", HTTP_ADDR_RESERVED},
    {"2001:db8::1", HTTP_ADDR_RESERVED},
    {"3fff::1", HTTP_ADDR_RESERVED},
    {"2001::1", HTTP_ADDR_RESERVED},
    {"100::1", HTTP_ADDR_RESERVED},
    {"::8.8.8.8", HTTP_ADDR_RESERVED},
    {"::ffff:0:8.8.8.8", HTTP_ADDR_RESERVED},
    {"::2", HTTP_ADDR_UNSPECIFIED}, /* ::0.0.0.2 */
    {"4000::1", HTTP_ADDR_RESERVED},
    /* not addresses */
    {"localhost", HTTP_ADDR_INVALID},
    {"127.1", HTTP_ADDR_INVALID},
    {"", HTTP_ADDR_INVALID},
};

static void classifier_table(void **state)
{
	int failed = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		enum http_addr_class got = http_addr_classify_text(cases[i].ip);
		if (got != cases[i].want) {
			printf("  %s: %s, want %s\n", cases[i].ip, http_addr_class_name(got),
			       http_addr_class_name(cases[i].want));
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static void classifier_sockaddr(void **state)
{
	struct sockaddr_in in = {0};
	struct sockaddr_in6 in6 = {0};
	(void)state;
	in.sin_family = AF_INET;
	inet_pton(AF_INET, "169.254.169.254", &in.sin_addr);
	assert_int_equal(http_addr_classify((struct sockaddr *)&in, sizeof(in)),
	                 HTTP_ADDR_LINK_LOCAL);
	/* too short for its family */
	assert_int_equal(http_addr_classify((struct sockaddr *)&in, sizeof(in) - 1),
	                 HTTP_ADDR_INVALID);
	in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "fd00:ec2::254", &in6.sin6_addr);
	assert_int_equal(http_addr_classify((struct sockaddr *)&in6, sizeof(in6)),
	                 HTTP_ADDR_UNIQUE_LOCAL);
	assert_int_equal(http_addr_classify(NULL, 0), HTTP_ADDR_INVALID);
	assert_int_equal(http_dest_public_check(NULL, (struct sockaddr *)&in, sizeof(in)),
	                 ERR_VERIFY);
	assert_string_equal(err_msg(), "address 169.254.169.254 is not public (link-local)");
}

/* ---------- loopback servers answering one canned reply each ---------- */

struct canned {
	int fd;
	int port;
	char reply[512];
	pthread_t th;
};

static void *serve(void *arg)
{
	struct canned *c = arg;
	for (;;) {
		char buf[4096];
		int fd = accept(c->fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		/* the request ends at its blank line (GET, no body) */
		size_t got = 0;
		ssize_t n;
		while (got < sizeof(buf) - 1 &&
		       (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
			got += (size_t)n;
			buf[got] = '\0';
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		if (write(fd, c->reply, strlen(c->reply)) < 0)
			(void)0;
		close(fd);
	}
}

static void canned_start(struct canned *c)
{
	struct sockaddr_in a = {0};
	socklen_t len = sizeof(a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(bind(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(c->fd, 8), 0);
	assert_int_equal(getsockname(c->fd, (struct sockaddr *)&a, &len), 0);
	c->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&c->th, NULL, serve, c), 0);
}

static void canned_stop(struct canned *c)
{
	shutdown(c->fd, SHUT_RDWR);
	close(c->fd);
	pthread_join(c->th, NULL);
}

static void canned_body(struct canned *c, const char *body)
{
	snprintf(c->reply, sizeof(c->reply),
	         "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
	         strlen(body), body);
}

static void canned_redirect(struct canned *c, const char *to)
{
	snprintf(c->reply, sizeof(c->reply),
	         "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n"
	         "Connection: close\r\n\r\n",
	         to);
}

static void loopback_refused_unless_allowed(void **state)
{
	struct canned secret;
	struct http_response r;
	char url[128], want[256];
	(void)state;
	canned_body(&secret, "the loopback secret");
	canned_start(&secret);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/secret", secret.port);
	/* public only: refused before a byte is sent, with the reason */
	assert_int_equal(http_fetch(url, &http_dest_public, 1 << 20, 5, &r), ERR_VERIFY);
	snprintf(want, sizeof(want), "%s: address 127.0.0.1 is not public (loopback)", url);
	assert_string_equal(err_msg(), want);
	/* a name resolving to loopback is judged by its address */
	snprintf(url, sizeof(url), "http://localhost:%d/secret", secret.port);
	assert_int_equal(http_fetch(url, &http_dest_public, 1 << 20, 5, &r), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "is not public (loopback)"));
	/* anywhere: reached */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/secret", secret.port);
	assert_int_equal(http_fetch(url, NULL, 1 << 20, 5, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, strlen("the loopback secret"));
	assert_memory_equal(r.body.buf, "the loopback secret", r.body.len);
	http_response_free(&r);
	canned_stop(&secret);
}

static void redirect_to_private_refused(void **state)
{
	struct canned secret, open, other;
	struct http_dest allow_open = {public_but_port, &open.port};
	struct http_response r;
	char url[128], to[128];
	(void)state;
	canned_body(&secret, "the loopback secret");
	canned_start(&secret);
	snprintf(to, sizeof(to), "http://127.0.0.1:%d/secret", secret.port);
	canned_redirect(&open, to);
	canned_start(&open);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/input", open.port);
	/* the allowed server answers, and its redirect to a private one is refused */
	assert_int_equal(http_fetch(url, &allow_open, 1 << 20, 5, &r), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "redirected to"));
	assert_non_null(strstr(err_msg(), to));
	assert_non_null(strstr(err_msg(), "address 127.0.0.1 is not public (loopback)"));
	/* the same server, content served directly: reached (the hook works) */
	canned_body(&other, "public content");
	canned_start(&other);
	allow_open.ctx = &other.port;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/input", other.port);
	assert_int_equal(http_fetch(url, &allow_open, 1 << 20, 5, &r), 0);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body.buf, "public content", r.body.len);
	http_response_free(&r);
	canned_stop(&other);
	/* without a policy the redirect is followed */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/input", open.port);
	assert_int_equal(http_fetch(url, NULL, 1 << 20, 5, &r), 0);
	assert_memory_equal(r.body.buf, "the loopback secret", r.body.len);
	http_response_free(&r);
	canned_stop(&open);
	canned_stop(&secret);
}

static void redirect_protocols_and_count_bounded(void **state)
{
	struct canned loop, file;
	struct http_dest allow = {public_but_port, &loop.port};
	struct http_response r;
	char url[128];
	(void)state;
	/* a server redirecting to itself: at most 5 redirects */
	loop.reply[0] = '\0';
	canned_start(&loop);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/again", loop.port);
	canned_redirect(&loop, url);
	assert_int_equal(http_fetch(url, &allow, 1 << 20, 5, &r), ERR_IO);
	assert_non_null(strstr(err_msg(), "redirect"));
	canned_stop(&loop);
	/* http and https only, redirects included */
	canned_redirect(&file, "file:///etc/passwd");
	canned_start(&file);
	allow.ctx = &file.port;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/input", file.port);
	assert_true(http_fetch(url, &allow, 1 << 20, 5, &r) < 0);
	canned_stop(&file);
	assert_true(http_fetch("file:///etc/passwd", NULL, 1 << 20, 5, &r) < 0);
	assert_true(http_fetch("ftp://127.0.0.1/x", &http_dest_public, 1 << 20, 5, &r) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(classifier_table),
	    cmocka_unit_test(classifier_sockaddr),
	    cmocka_unit_test(loopback_refused_unless_allowed),
	    cmocka_unit_test(redirect_to_private_refused),
	    cmocka_unit_test(redirect_protocols_and_count_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
