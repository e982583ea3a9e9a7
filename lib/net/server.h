/* server.h — an HTTP/1.1 server over libmicrohttpd: a route table, capped
 * request bodies, a thread pool, /healthz and /metrics (Prometheus text)
 * built in. */
#ifndef TDEXEC_NET_SERVER_H
#define TDEXEC_NET_SERVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct http_req {
	const char *method;
	const char *path;
	const uint8_t *body; /* NUL-terminated; body_len excludes the NUL */
	size_t body_len;
	const char *params[4]; /* path segments matched by '*' in the route */
	void *conn;            /* the libmicrohttpd connection */
};

/* A request header or query parameter; NULL when absent. */
const char *http_req_header(const struct http_req *r, const char *name);
const char *http_req_query(const struct http_req *r, const char *name);

struct http_resp {
	int status;
	const char *content_type;
	char *body; /* owned (free()) */
	size_t len;
};

/* Set a response; take a JSON value (stolen) or text (copied). */
void http_resp_json(struct http_resp *r, int status, json_t *j);
void http_resp_text(struct http_resp *r, int status, const char *text);

typedef void (*http_handler)(void *ctx, const struct http_req *req, struct http_resp *resp);

/* method NULL = any; in a pattern, a "*" segment matches any one segment. */
struct http_route {
	const char *method;
	const char *pattern;
	http_handler fn;
	const char *name; /* for /metrics */
};

struct http_server_opts {
	const char *address; /* default 127.0.0.1 */
	int port;            /* 0 = any free port */
	int threads;         /* default 2 */
	size_t max_body;     /* default 64 KiB; larger bodies get 413 */
	/* TLS when both are set: PEM texts (certificate chain, private key) */
	const char *tls_cert;
	const char *tls_key;
};

struct http_server;

int http_server_start(const struct http_server_opts *o, const struct http_route *routes,
		      void *ctx, struct http_server **out);
int http_server_port(const struct http_server *s);
void http_server_stop(struct http_server *s);

#endif
