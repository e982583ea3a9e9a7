/* Connections kept between calls, against a real HTTP/1.1 server on
 * loopback that counts the connections it accepts: sequential calls share
 * one; calls under another destination policy never ride it (a public-only
 * fetch refused though a connection to the host is open); a server that
 * closes its connections, or restarts, costs no call an error; the
 * Authorization of a call is not sent where a redirect leads; four threads
 * calling at once each keep their own connection (run under TSan too). */
#include "testutil.h"
#include "testnet.h"

#include "net/http.h"
#include "util/err.h"
#include "util/proc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 64

struct conn {
	struct server *s;
	int fd; /* -1 once closed */
	pthread_t th;
};

struct server {
	int fd;
	int port;
	int close_each;       /* close after each response (no Connection: close) */
	const char *location; /* answer 302 to it instead of 200 */
	atomic_int accepts;   /* connections accepted */
	atomic_int requests;  /* requests answered */
	atomic_int saw_auth;  /* requests that carried an Authorization header */
	pthread_t th;
	pthread_mutex_t lock; /* the connections' fds */
	struct conn *conns[MAX_CONNS];
	int nconns;
};

/* Read one request (headers, then a Content-Length body); 0 at EOF. */
static int read_request(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;
	char *end = NULL;
	while (!end) {
		if (got == cap - 1)
			return -1;
		n = read(fd, buf + got, cap - 1 - got);
		if (n <= 0)
			return 0;
		got += (size_t)n;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	const char *cl = strcasestr(buf, "\r\nContent-Length:");
	size_t want = (size_t)(end + 4 - buf) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
	while (got < want && got < cap - 1) {
		n = read(fd, buf + got, cap - 1 - got);
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return 1;
}

static void *serve_conn(void *arg)
{
	struct conn *c = arg;
	struct server *s = c->s;
	char buf[8192], reply[512];
	while (read_request(c->fd, buf, sizeof(buf)) == 1) {
		if (strcasestr(buf, "\r\nAuthorization:"))
			atomic_fetch_add(&s->saw_auth, 1);
		int n = atomic_fetch_add(&s->requests, 1) + 1;
		if (s->location)
			snprintf(reply, sizeof(reply),
			         "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n",
			         s->location);
		else
			snprintf(reply, sizeof(reply),
			         "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nreply%04d",
			         n % 10000);
		if (write(c->fd, reply, strlen(reply)) < 0 || s->close_each)
			break;
	}
	pthread_mutex_lock(&s->lock);
	close(c->fd);
	c->fd = -1;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	for (;;) {
		int fd = accept(s->fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		atomic_fetch_add(&s->accepts, 1);
		struct conn *c = malloc(sizeof(*c));
		if (!c || s->nconns == MAX_CONNS) {
			free(c);
			close(fd);
			continue;
		}
		c->s = s;
		c->fd = fd;
		pthread_mutex_lock(&s->lock);
		s->conns[s->nconns++] = c;
		pthread_mutex_unlock(&s->lock);
		assert_int_equal(pthread_create(&c->th, NULL, serve_conn, c), 0);
	}
}

/* Listen on 127.0.0.1:port (0 = any). */
static void server_start(struct server *s, int port)
{
	struct sockaddr_in a = {0};
	socklen_t len = sizeof(a);
	int one = 1;
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 16), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	atomic_store(&s->accepts, 0);
	atomic_store(&s->requests, 0);
	atomic_store(&s->saw_auth, 0);
	s->nconns = 0;
	assert_int_equal(pthread_mutex_init(&s->lock, NULL), 0);
	assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
}

/* Stop listening and close every connection (clients see them closed). */
static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->th, NULL);
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->nconns; i++)
		if (s->conns[i]->fd >= 0)
			shutdown(s->conns[i]->fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < s->nconns; i++) {
		pthread_join(s->conns[i]->th, NULL);
		free(s->conns[i]);
	}
	pthread_mutex_destroy(&s->lock);
}

static int get(const char *url, const struct http_dest *dest)
{
	struct http_response r;
	int rc = http_fetch(url, dest, 1024, 10, &r);
	if (rc == 0) {
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body.len, 9);
		http_response_free(&r);
	}
	return rc;
}

/* The client's TCP connections to `port` open now, and how many of them a
 * program this process executes would inherit. */
static int connections_to(int port, int *inheritable)
{
	int n = 0;
	*inheritable = 0;
	for (int fd = 0; fd < 1024; fd++) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		int domain = 0;
		socklen_t dlen = sizeof(domain);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0 || domain != AF_INET)
			continue;
		if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0 ||
		    ntohs(peer.sin_port) != port)
			continue;
		n++;
		if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
			(*inheritable)++;
	}
	return n;
}

static void sequential_calls_share_one_connection(void **state)
{
	struct server s = {.close_each = 0};
	struct http_counters before, after;
	char url[128];
	(void)state;
	server_start(&s, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s.port);
	http_counters(&before);
	for (int i = 0; i < 20; i++) {
		struct http_response r;
		/* GETs and POSTs, with and without Authorization, alike */
		struct http_call c = {
		    i % 2 ? "Bearer t" : NULL, i % 3 ? NULL : "text/plain", "body", 4, NULL, NULL};
		if (http_call(url, &c, 1024, 10, &r) != 0)
			fail_msg("call %d: %s", i, err_msg());
		assert_int_equal(r.status, 200);
		http_response_free(&r);
	}
	http_counters(&after);
	assert_int_equal(atomic_load(&s.requests), 20);
	assert_int_equal(atomic_load(&s.accepts), 1);
	assert_int_equal(after.requests - before.requests, 20);
	assert_int_equal(after.connects - before.connects, 1);
	/* kept open, and not by the programs this process runs */
	int inheritable;
	assert_int_equal(connections_to(s.port, &inheritable), 1);
	assert_int_equal(inheritable, 0);
	/* nor any other descriptor of the kept handle's (libcurl's wake-up
	 * socket pair is not close-on-exec): a child has its stdio alone */
	char log[] = "/tmp/http-keep-fds-XXXXXX", fds[1024] = "";
	int lfd = mkstemp(log);
	assert_true(lfd >= 0);
	close(lfd);
	char *const sh[] = {"/bin/sh", "-c",
	                    "for f in /proc/$$/fd/*; do echo \"${f##*/} $(readlink $f)\"; done",
	                    NULL};
	assert_int_equal(proc_run(sh, NULL, log), 0);
	FILE *lf = fopen(log, "r");
	assert_non_null(lf);
	size_t got = fread(fds, 1, sizeof(fds) - 1, lf);
	fclose(lf);
	unlink(log);
	fds[got] = '\0';
	if (strstr(fds, "socket:"))
		fail_msg("a child inherited a socket:\n%s", fds);
	assert_non_null(strstr(fds, "0 /dev/null\n"));
	struct http_response r;
	assert_int_equal(http_fetch(url, &http_dest_public, 1024, 10, &r), ERR_VERIFY);
	struct http_dest allow = {public_but_port, &s.port};
	assert_int_equal(get(url, &allow), 0);
	assert_int_equal(connections_to(s.port, &inheritable), 1); /* not kept */
	server_stop(&s);
}

static void policies_never_share_a_connection(void **state)
{
	struct server s = {.close_each = 0};
	struct http_dest allow = {public_but_port, &s.port};
	char url[128], want[256];
	(void)state;
	server_start(&s, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/secret", s.port);
	/* an unchecked call leaves a connection to the loopback server open */
	assert_int_equal(get(url, NULL), 0);
	assert_int_equal(get(url, NULL), 0);
	assert_int_equal(atomic_load(&s.accepts), 1);
	/* a public-only fetch of the same URL does not ride it: refused */
	assert_int_equal(get(url, &http_dest_public), ERR_VERIFY);
	snprintf(want, sizeof(want), "%s: address 127.0.0.1 is not public (loopback)", url);
	assert_string_equal(err_msg(), want);
	assert_int_equal(atomic_load(&s.requests), 2);
	/* a policy of the caller's own is checked on a connection of its own,
	 * every call (its context may change between calls) */
	assert_int_equal(get(url, &allow), 0);
	assert_int_equal(get(url, &allow), 0);
	assert_int_equal(atomic_load(&s.accepts), 3);
	/* and the unchecked calls still have theirs */
	assert_int_equal(get(url, NULL), 0);
	assert_int_equal(atomic_load(&s.accepts), 3);
	server_stop(&s);
}

static void closed_connections_cost_no_error(void **state)
{
	struct server s = {.close_each = 1};
	char url[128];
	int port;
	(void)state;
	/* a server that closes after each response without saying so (a
	 * keep-alive timeout of zero): every call finds its kept connection
	 * closed and opens a fresh one */
	server_start(&s, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s.port);
	for (int i = 0; i < 5; i++)
		if (get(url, NULL) != 0)
			fail_msg("call %d: %s", i, err_msg());
	assert_int_equal(atomic_load(&s.requests), 5);
	assert_int_equal(atomic_load(&s.accepts), 5);
	server_stop(&s);
	/* a server restarted on the same port while a connection is kept */
	s.close_each = 0;
	server_start(&s, 0);
	port = s.port;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
	assert_int_equal(get(url, NULL), 0);
	assert_int_equal(get(url, NULL), 0);
	assert_int_equal(atomic_load(&s.accepts), 1);
	server_stop(&s);
	server_start(&s, port);
	assert_int_equal(s.port, port);
	if (get(url, NULL) != 0)
		fail_msg("after the restart: %s", err_msg());
	assert_int_equal(get(url, NULL), 0);
	assert_int_equal(atomic_load(&s.accepts), 1);
	assert_int_equal(atomic_load(&s.requests), 2);
	server_stop(&s);
}

static void authorization_stays_with_its_host(void **state)
{
	struct server a = {.close_each = 0}, b = {.close_each = 0};
	struct http_call c = {"Bearer secret-token", NULL, NULL, 0, NULL, NULL};
	struct http_response r;
	char url[128], to[128];
	(void)state;
	server_start(&b, 0);
	snprintf(to, sizeof(to), "http://127.0.0.1:%d/elsewhere", b.port);
	a.location = to;
	server_start(&a, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", a.port);
	/* twice: the second on kept connections to both */
	for (int i = 0; i < 2; i++) {
		if (http_call(url, &c, 1024, 10, &r) != 0)
			fail_msg("%s", err_msg());
		assert_int_equal(r.status, 200);
		http_response_free(&r);
	}
	assert_int_equal(atomic_load(&a.saw_auth), 2);
	assert_int_equal(atomic_load(&b.requests), 2);
	assert_int_equal(atomic_load(&b.saw_auth), 0);
	/* a call without one sends none, on the same connection */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/direct", b.port);
	assert_int_equal(http_get(url, 1024, 10, &r), 0);
	http_response_free(&r);
	assert_int_equal(atomic_load(&b.saw_auth), 0);
	assert_int_equal(atomic_load(&b.accepts), 1);
	server_stop(&a);
	server_stop(&b);
}

#define THREADS 4
#define CALLS   100

struct worker_arg {
	const char *url;
	int failed;
};

static void *caller(void *arg)
{
	struct worker_arg *w = arg;
	for (int i = 0; i < CALLS; i++) {
		struct http_response r;
		if (http_get(w->url, 1024, 30, &r) != 0 || r.status != 200)
			w->failed++;
		else
			http_response_free(&r);
	}
	return NULL; /* the thread's connections close as it exits */
}

static void threads_keep_their_own(void **state)
{
	struct server s = {.close_each = 0};
	struct worker_arg w[THREADS];
	pthread_t th[THREADS];
	char url[128];
	(void)state;
	server_start(&s, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s.port);
	for (int i = 0; i < THREADS; i++) {
		w[i].url = url;
		w[i].failed = 0;
		assert_int_equal(pthread_create(&th[i], NULL, caller, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failed, 0);
	}
	assert_int_equal(atomic_load(&s.requests), THREADS * CALLS);
	assert_int_equal(atomic_load(&s.accepts), THREADS);
	server_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sequential_calls_share_one_connection),
	    cmocka_unit_test(policies_never_share_a_connection),
	    cmocka_unit_test(closed_connections_cost_no_error),
	    cmocka_unit_test(authorization_stays_with_its_host),
	    cmocka_unit_test(threads_keep_their_own),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
