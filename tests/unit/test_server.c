/* The HTTP server over real loopback sockets, and the SQLite store. */
#include "testutil.h"

#include "net/http.h"
#include "net/server.h"
#include "store/db.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void echo(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	const char *q = http_req_query(r, "q"), *h = http_req_header(r, "X-Test");
	(void)ctx;
	http_resp_json(resp, 200,
	               json_pack("{s:s,s:s,s:s?,s:s?,s:s%}", "method", r->method, "id",
	                         r->params[0] ? r->params[0] : "", "q", q, "h", h, "body",
	                         (const char *)r->body, r->body_len));
}

/* A response with headers of its own; the list ends at the first NULL name. */
static void with_headers(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	(void)ctx;
	(void)r;
	http_resp_text(resp, 200, "page");
	resp->headers[0] = "X-Frame-Options";
	resp->headers[1] = "DENY";
	resp->headers[2] = "Cache-Control";
	resp->headers[3] = "no-cache";
	resp->headers[4] = NULL;
	resp->headers[5] = "X-After-The-End";
	resp->headers[6] = "never sent";
}

static const struct http_route routes[] = {
    {"GET", "/things/*", echo, "get_thing", 0},
    {"POST", "/things/*", echo, "post_thing", 0},
    {"GET", "/only-get", echo, "only_get", 0},
    {"POST", "/big", echo, "big", 64u << 10},
    /* a route named as a built-in shares its series */
    {"GET", "/ping", echo, "healthz", 0},
    /* headers of its own */
    {"GET", "/headers", with_headers, "headers", 0},
    {NULL, NULL, NULL, NULL, 0},
};

static char base[64];
static struct http_server *srv;

static int setup(void **state)
{
	struct http_server_opts o = {.address = "127.0.0.1", .threads = 2, .max_body = 1024};
	(void)state;
	if (http_server_start(&o, routes, NULL, &srv) < 0)
		return -1;
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", http_server_port(srv));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	http_server_stop(srv);
	return 0;
}

static long get(const char *path, struct http_response *r)
{
	char url[256];
	snprintf(url, sizeof(url), "%s%s", base, path);
	assert_int_equal(http_get(url, 1 << 20, 5, r), 0);
	return r->status;
}

static void routes_params_and_errors(void **state)
{
	struct http_response r;
	char url[256];
	(void)state;
	assert_int_equal(get("/things/abc?q=1", &r), 200);
	assert_non_null(strstr((char *)r.body.buf, "\"id\":\"abc\""));
	assert_non_null(strstr((char *)r.body.buf, "\"q\":\"1\""));
	http_response_free(&r);
	assert_int_equal(get("/nothing", &r), 404);
	http_response_free(&r);
	assert_int_equal(get("/things/a/b", &r), 404);
	http_response_free(&r);
	snprintf(url, sizeof(url), "%s/things/x", base);
	assert_int_equal(http_post(url, "text/plain", "hello", 5, 1 << 20, 5, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr((char *)r.body.buf, "\"body\":\"hello\""));
	http_response_free(&r);
	/* A body over the server's cap: 413, and the server goes on. */
	{
		char *big = malloc(5000);
		memset(big, 'x', 5000);
		assert_int_equal(http_post(url, "text/plain", big, 5000, 1 << 20, 5, &r), 0);
		assert_int_equal(r.status, 413);
		http_response_free(&r);
		free(big);
	}
	snprintf(url, sizeof(url), "%s/healthz", base);
	assert_int_equal(http_post(url, "text/plain", "", 0, 1 << 20, 5, &r), 0);
	assert_int_equal(r.status, 404); /* only GET /healthz */
	http_response_free(&r);
	assert_int_equal(get("/healthz", &r), 200);
	http_response_free(&r);
	assert_int_equal(get("/ping", &r), 200);
	http_response_free(&r);
	assert_int_equal(get("/metrics", &r), 200);
	const char *hz = strstr((char *)r.body.buf, "tdexec_http_requests_total{route=\"healthz\"");
	assert_non_null(hz);
	assert_null(strstr(hz + 1, "tdexec_http_requests_total{route=\"healthz\""));
	assert_non_null(strstr((char *)r.body.buf,
	                       "tdexec_http_requests_total{route=\"healthz\",code=\"200\"} 2\n"));
	assert_non_null(strstr((char *)r.body.buf,
	                       "tdexec_http_requests_total{route=\"get_thing\",code=\"200\"} 1\n"));
	/* one series per route name, the unmatched ones under one name */
	assert_non_null(
	    strstr((char *)r.body.buf,
	           "tdexec_http_request_duration_seconds_count{route=\"get_thing\"} 1\n"));
	assert_non_null(strstr((char *)r.body.buf, "route=\"unmatched\",code=\"404\"}"));
	assert_null(strstr((char *)r.body.buf, "/things"));
	assert_non_null(strstr((char *)r.body.buf, "tdexec_http_bodies_refused_total 1"));
	assert_non_null(strstr((char *)r.body.buf, "class=\"4xx\"} "));
	http_response_free(&r);
}

static void method_not_allowed(void **state)
{
	struct http_response r;
	char url[256];
	(void)state;
	snprintf(url, sizeof(url), "%s/only-get", base);
	assert_int_equal(http_post(url, "text/plain", "x", 1, 1 << 20, 5, &r), 0);
	assert_int_equal(r.status, 405);
	http_response_free(&r);
}

static void database_migrates_once_and_refuses_newer_schemas(void **state)
{
	static const char *const v1[] = {"CREATE TABLE t(a TEXT);", NULL};
	static const char *const v2[] = {"CREATE TABLE t(a TEXT);",
	                                 "ALTER TABLE t ADD COLUMN b INT;", NULL};
	char *dir = td_tmpdir(), path[512];
	sqlite3 *db;
	(void)state;
	snprintf(path, sizeof(path), "%s/x.db", dir);
	assert_int_equal(db_open(path, v1, &db), 0);
	assert_int_equal(db_exec(db, "INSERT INTO t(a) VALUES('kept');"), 0);
	db_close(db);
	assert_int_equal(db_open(path, v2, &db), 0);
	assert_int_equal(db_exec(db, "INSERT INTO t(a,b) VALUES('new',1);"), 0);
	{
		sqlite3_stmt *st;
		assert_int_equal(db_prepare(db, "SELECT count(*) FROM t", &st), 0);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(st, 0), 2);
		sqlite3_finalize(st);
	}
	assert_int_equal(db_exec(db, "not sql"), ERR_IO);
	db_close(db);
	assert_int_equal(db_open(path, v1, &db), ERR_UNSUPPORTED);
	assert_non_null(strstr(err_msg(), "newer than this program"));
	td_rmtree(dir);
	free(dir);
}

/* A self-signed P-256 certificate for IP 127.0.0.1, as PEM texts. */
static void self_signed(char **cert_pem, char **key_pem)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	BIO *b;
	long len;
	char *p;

	assert_non_null(k);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1,
	                           -1, 0);
	X509_set_issuer_name(x, n);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	len = BIO_get_mem_data(b, &p);
	*cert_pem = strndup(p, (size_t)len);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	len = BIO_get_mem_data(b, &p);
	*key_pem = strndup(p, (size_t)len);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
}

static size_t sink(char *p, size_t a, size_t b, void *u)
{
	(void)p;
	(void)u;
	return a * b;
}

/* GET url trusting the PEM file ca; the status, or -1 when the request fails. */
static long tls_get(const char *url, const char *ca)
{
	CURL *c = curl_easy_init();
	long code = -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	return code;
}

/* TLS: a client trusting the certificate gets its answer; plain HTTP to
 * the TLS port, and a client trusting another certificate, get nothing;
 * a key without a certificate is refused at start. */
static void tls_serves_and_verifies(void **state)
{
	char *dir = td_tmpdir(), ca[512], other_ca[512], url[128], *cert, *key, *cert2, *key2;
	struct http_server_opts o = {.address = "127.0.0.1", .threads = 2, .max_body = 1024};
	struct http_server *t;
	FILE *f;
	(void)state;

	self_signed(&cert, &key);
	self_signed(&cert2, &key2);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(other_ca, sizeof(other_ca), "%s/other.pem", dir);
	f = fopen(ca, "w");
	fputs(cert, f);
	fclose(f);
	f = fopen(other_ca, "w");
	fputs(cert2, f);
	fclose(f);
	o.tls_key = key;
	assert_int_equal(http_server_start(&o, routes, NULL, &t), ERR_INVAL);
	o.tls_cert = cert;
	assert_int_equal(http_server_start(&o, routes, NULL, &t), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/healthz", http_server_port(t));
	assert_int_equal(tls_get(url, ca), 200);
	assert_int_equal(tls_get(url, other_ca), -1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", http_server_port(t));
	assert_true(tls_get(url, ca) != 200);
	http_server_stop(t);
	free(cert);
	free(key);
	free(cert2);
	free(key2);
	td_rmtree(dir);
	free(dir);
}

/* ---------- limits, over raw sockets ---------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A TCP connection to 127.0.0.1:port from the loopback address src. */
static int dial(const char *src, int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	inet_pton(AF_INET, src, &a.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	a.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void say(int fd, const char *text)
{
	assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* The status of the answer on fd; 0 when the server closed the connection
 * without one, -1 when nothing came within ms. */
static int answer(int fd, int ms)
{
	char buf[512];
	size_t got = 0;
	int st = 0;
	struct pollfd pf = {fd, POLLIN, 0};
	while (got < 12) {
		if (poll(&pf, 1, ms) <= 0)
			return -1;
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &st) != 1)
		return 0;
	return st;
}

/* GET /healthz from src on a fresh connection: its status. */
static int healthz_from(const char *src, int port, double *took)
{
	double t0 = now_s();
	int fd = dial(src, port), st;
	say(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	st = answer(fd, 5000);
	close(fd);
	if (took)
		*took = now_s() - t0;
	return st;
}

/* A handler's own headers reach the client, up to the list's end. */
static void handlers_add_headers(void **state)
{
	char buf[2048];
	size_t got = 0;
	ssize_t n;
	int fd = dial("127.0.0.1", http_server_port(srv));
	(void)state;
	say(fd, "GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	while (got < sizeof(buf) - 1 && (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_non_null(strcasestr(buf, "\r\nX-Frame-Options: DENY\r\n"));
	assert_non_null(strcasestr(buf, "\r\nCache-Control: no-cache\r\n"));
	assert_non_null(strcasestr(buf, "\r\nContent-Type: text/plain"));
	assert_null(strcasestr(buf, "X-After-The-End"));
	assert_non_null(strstr(buf, "\r\n\r\npage"));
}

/* A Content-Length over the route's cap is answered 413 at once: the body
 * is never sent, so the answer cannot have waited for it. */
static void content_length_over_cap_is_refused_before_the_body(void **state)
{
	int port = http_server_port(srv), fd;
	double t0 = now_s();
	(void)state;
	fd = dial("127.0.0.1", port);
	say(fd, "POST /things/x HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
	        "Content-Length: 62914560\r\n\r\n");
	assert_int_equal(answer(fd, 3000), 413);
	assert_true(now_s() - t0 < 1.0);
	close(fd);
	/* the route's own cap: 64 KiB on /big, the default (1 KiB) elsewhere */
	fd = dial("127.0.0.1", port);
	say(fd, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n");
	assert_int_equal(answer(fd, 3000), 413);
	close(fd);
	fd = dial("127.0.0.1", port);
	say(fd, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n");
	for (int i = 0; i < 20; i++)
		say(fd, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		        "xxxxxx"
		        "xxxxxxxxxxxxxxxxxxxx");
	assert_int_equal(answer(fd, 3000), 200);
	close(fd);
	/* an unknown path is answered from its headers too */
	fd = dial("127.0.0.1", port);
	say(fd, "POST /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 62914560\r\n\r\n");
	assert_int_equal(answer(fd, 3000), 404);
	close(fd);
}

/* A chunked body is cut with 413 as soon as its running total passes the
 * cap, although the client never ends it. */
static void chunked_body_past_the_cap_is_cut(void **state)
{
	int port = http_server_port(srv), fd, st = -1;
	char chunk[600];
	(void)state;
	memset(chunk, 'y', sizeof(chunk));
	snprintf(chunk, sizeof(chunk), "200\r\n");
	memset(chunk + 5, 'y', 512);
	memcpy(chunk + 517, "\r\n", 3);
	fd = dial("127.0.0.1", port);
	say(fd, "POST /things/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 8 && st == -1; i++) { /* 4 KiB at most, the cap is 1 KiB */
		say(fd, chunk);
		st = answer(fd, 200);
	}
	assert_int_equal(st, 413);
	close(fd);
	assert_int_equal(healthz_from("127.0.0.1", port, NULL), 200);
}

/* A client sending its headers a byte at a time is dropped at the header
 * deadline, although it never goes idle; /healthz answers meanwhile. */
static void slow_headers_are_dropped_at_the_deadline(void **state)
{
	struct http_server_opts o = {
	    .address = "127.0.0.1", .threads = 2, .max_body = 1024, .header_timeout = 1};
	struct http_server *t;
	int port, fd, dropped = 0;
	double t0, took;
	(void)state;
	assert_int_equal(http_server_start(&o, routes, NULL, &t), 0);
	port = http_server_port(t);
	fd = dial("127.0.0.1", port);
	t0 = now_s();
	say(fd, "GET /healthz HTTP/1.1\r\n");
	for (int i = 0; i < 40 && !dropped; i++) {
		struct pollfd pf = {fd, POLLIN, 0};
		if (send(fd, "X", 1, MSG_NOSIGNAL) != 1 ||
		    (poll(&pf, 1, 100) == 1 && recv(fd, &(char){0}, 1, 0) <= 0))
			dropped = 1;
		if (i == 5) {
			assert_int_equal(healthz_from("127.0.0.1", port, &took), 200);
			assert_true(took < 0.5);
		}
	}
	assert_true(dropped);
	assert_true(now_s() - t0 < 3.0);
	close(fd);
	http_server_stop(t);
}

/* Past the per-address limit, a connection is closed at once; another
 * address still gets its answer. */
static void connections_past_the_per_ip_limit_are_refused(void **state)
{
	struct http_server_opts o = {
	    .address = "127.0.0.1", .threads = 2, .max_body = 1024, .max_conns_per_ip = 4};
	struct http_server *t;
	int port, fd[5];
	(void)state;
	assert_int_equal(http_server_start(&o, routes, NULL, &t), 0);
	port = http_server_port(t);
	for (int i = 0; i < 4; i++) {
		fd[i] = dial("127.0.0.3", port);
		say(fd[i], "GET /heal"); /* half a request: the connection is held */
	}
	usleep(100 * 1000);
	fd[4] = dial("127.0.0.3", port);
	say(fd[4], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(answer(fd[4], 2000), 0); /* closed without an answer */
	assert_int_equal(healthz_from("127.0.0.4", port, NULL), 200);
	{ /* and counted */
		char buf[8192];
		size_t got = 0;
		ssize_t n;
		int m = dial("127.0.0.4", port);
		say(m, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
		while (got < sizeof(buf) - 1 &&
		       (n = recv(m, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
			got += (size_t)n;
		buf[got] = '\0';
		close(m);
		assert_non_null(strstr(buf, "\ntdexec_http_connections_refused_total 1\n"));
	}
	for (int i = 0; i < 5; i++)
		close(fd[i]);
	http_server_stop(t);
}

/* Deferred answers: requests a handler defers hold no thread, so one
 * server thread still answers /healthz while three wait; each is answered
 * later from another thread; one answered while its handler still runs is
 * sent at once; one never answered gets a 503 when the server stops. */
static struct http_deferred *parked[8];
static int nparked;
static pthread_mutex_t parked_mu = PTHREAD_MUTEX_INITIALIZER;

static void park(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	struct http_deferred *d = http_req_defer(r);
	(void)ctx;
	http_resp_text(resp, 500, "ignored once deferred");
	assert_non_null(d);
	assert_null(http_req_defer(r)); /* once */
	pthread_mutex_lock(&parked_mu);
	parked[nparked++] = d;
	pthread_mutex_unlock(&parked_mu);
}

static void answer_in_handler(void *ctx, const struct http_req *r, struct http_resp *resp)
{
	struct http_deferred *d = http_req_defer(r);
	struct http_resp now = {0};
	(void)ctx;
	(void)resp;
	http_resp_text(&now, 201, "at once");
	http_deferred_answer(d, &now);
}

static int parked_count(void)
{
	int n;
	pthread_mutex_lock(&parked_mu);
	n = nparked;
	pthread_mutex_unlock(&parked_mu);
	return n;
}

static void *answer_parked(void *arg)
{
	int n = *(int *)arg;
	for (int i = 0; i < n; i++) {
		struct http_resp r = {0};
		http_resp_text(&r, 202, "later");
		http_deferred_answer(parked[i], &r);
	}
	return NULL;
}

static void deferred_requests_hold_no_thread(void **state)
{
	static const struct http_route droutes[] = {
	    {"GET", "/park", park, "park", 0},
	    {"GET", "/now", answer_in_handler, "now", 0},
	    {NULL, NULL, NULL, NULL, 0},
	};
	struct http_server_opts o = {.address = "127.0.0.1", .threads = 1, .max_body = 1024};
	struct http_server *t;
	struct http_response r;
	char url[128];
	pthread_t th;
	int port, fd[4], three = 3;
	double took;
	(void)state;
	nparked = 0;
	assert_int_equal(http_server_start(&o, droutes, NULL, &t), 0);
	port = http_server_port(t);
	for (int i = 0; i < 4; i++) {
		fd[i] = dial("127.0.0.1", port);
		say(fd[i], "GET /park HTTP/1.1\r\nHost: x\r\n\r\n");
	}
	for (int i = 0; i < 100 && parked_count() < 4; i++)
		usleep(20 * 1000);
	assert_int_equal(parked_count(), 4);
	assert_int_equal(answer(fd[0], 200), -1); /* nothing yet */
	assert_int_equal(healthz_from("127.0.0.1", port, &took), 200);
	assert_true(took < 1.0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
	assert_int_equal(http_get(url, 1 << 20, 5, &r), 0);
	assert_non_null(strstr((char *)r.body.buf, "tdexec_http_deferred 4"));
	http_response_free(&r);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/now", port);
	assert_int_equal(http_get(url, 1 << 20, 5, &r), 0);
	assert_int_equal(r.status, 201);
	http_response_free(&r);
	/* three answered from another thread; the fourth left to the stop */
	assert_int_equal(pthread_create(&th, NULL, answer_parked, &three), 0);
	pthread_join(th, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(answer(fd[i], 3000), 202);
	assert_int_equal(answer(fd[3], 200), -1);
	http_server_stop(t);
	assert_int_equal(answer(fd[3], 3000), 503);
	for (int i = 0; i < 4; i++)
		close(fd[i]);
}

/* Stateless nonces: made and checked without state, bound to their purpose
 * and key, single use; a second instance (a restart) refuses them. */
static void nonces_are_stateless_single_use_and_die_with_the_key(void **state)
{
	struct http_nonces *n, *m;
	uint8_t a[32], b[32];
	(void)state;
	assert_int_equal(http_nonces_new(60, 4, &n), 0);
	assert_int_equal(http_nonces_new(60, 4, &m), 0);
	assert_int_equal(http_nonce_make(n, "p", a), 0);
	assert_int_equal(http_nonce_check(n, "p", a), 0);
	assert_int_equal(http_nonce_check(n, "q", a), ERR_VERIFY);
	assert_int_equal(http_nonce_check(m, "p", a), ERR_VERIFY); /* after a restart */
	memcpy(b, a, 32);
	b[20] ^= 1;
	assert_int_equal(http_nonce_check(n, "p", b), ERR_VERIFY);
	memcpy(b, a, 32);
	b[7] ^= 0x80; /* another time, the tag no longer matches */
	assert_int_equal(http_nonce_check(n, "p", b), ERR_VERIFY);
	assert_int_equal(http_nonce_used(n, a), 0);
	assert_int_equal(http_nonce_use(n, a), 0);
	assert_int_equal(http_nonce_used(n, a), 1);
	assert_int_equal(http_nonce_use(n, a), ERR_VERIFY);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(http_nonce_make(n, "p", b), 0);
		assert_int_equal(http_nonce_use(n, b), 0);
	}
	assert_int_equal(http_nonce_make(n, "p", b), 0);
	assert_int_equal(http_nonce_use(n, b), ERR_BUSY); /* the window's set is full */
	for (int i = 0; i < 100000; i++)                  /* making nonces keeps nothing */
		assert_int_equal(http_nonce_make(n, "p", b), 0);
	assert_int_equal(http_nonce_check(n, "p", b), 0);
	http_nonces_free(n);
	http_nonces_free(m);
}

static void base_urls(void **state)
{
	char b[16];
	(void)state;
	assert_int_equal(http_base_url(b, sizeof(b), "http://a:1//"), 0);
	assert_string_equal(b, "http://a:1");
	assert_int_equal(http_base_url(b, sizeof(b), "http://a:1"), 0);
	assert_string_equal(b, "http://a:1");
	assert_int_equal(http_base_url(b, sizeof(b), "/"), 0);
	assert_string_equal(b, "");
	assert_int_equal(http_base_url(b, sizeof(b), "http://toolong:1234/"), ERR_TOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(routes_params_and_errors),
	    cmocka_unit_test(method_not_allowed),
	    cmocka_unit_test(handlers_add_headers),
	    cmocka_unit_test(database_migrates_once_and_refuses_newer_schemas),
	    cmocka_unit_test(tls_serves_and_verifies),
	    cmocka_unit_test(base_urls),
	    cmocka_unit_test(content_length_over_cap_is_refused_before_the_body),
	    cmocka_unit_test(chunked_body_past_the_cap_is_cut),
	    cmocka_unit_test(slow_headers_are_dropped_at_the_deadline),
	    cmocka_unit_test(connections_past_the_per_ip_limit_are_refused),
	    cmocka_unit_test(deferred_requests_hold_no_thread),
	    cmocka_unit_test(nonces_are_stateless_single_use_and_die_with_the_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
