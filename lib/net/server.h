/* server.h — an HTTP/1.1 server over libmicrohttpd: a route table, capped
 * request bodies, a thread pool, /healthz, /metrics (Prometheus text) and,
 * when the service gives one, /status built in; and stateless single-use
 * challenges for its services.
 *
 * Every resource a client can hold is bounded: the route is matched as soon
 * as the headers are in, so a body over the route's cap is refused (413)
 * before a byte of it is read (Content-Length) or as soon as the running
 * total passes it (chunked); the bytes of all bodies buffered at once have a
 * budget (503 past it); a request's headers must arrive within a deadline and
 * a body may not stall longer than the idle timeout; connections are limited
 * per client address and in all, below the process's file descriptor limit.
 * Slow clients hold a connection slot and a few KiB, never a thread: the
 * threads poll with epoll and only run handlers. */
#ifndef TDEXEC_NET_SERVER_H
#define TDEXEC_NET_SERVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

struct http_req {
	const char *method;
	const char *path;
	const uint8_t *body; /* NUL-terminated; body_len excludes the NUL */
	size_t body_len;
	const char *params[4]; /* path segments matched by '*' in the route */
	void *conn;            /* the libmicrohttpd connection */
	void *pending;         /* the server's state of this request */
};

/* A request header or query parameter; NULL when absent. */
const char *http_req_header(const struct http_req *r, const char *name);
const char *http_req_query(const struct http_req *r, const char *name);

#define HTTP_RESP_HEADERS 16
struct http_resp {
	int status;
	const char *content_type;
	char *body; /* owned (free()) */
	size_t len;
	/* more headers: name, value, name, value, …, NULL; the strings are
	 * not owned and must outlive the response (string literals) */
	const char *headers[HTTP_RESP_HEADERS];
};

/* Set a response; take a JSON value (stolen) or text (copied). */
void http_resp_json(struct http_resp *r, int status, json_t *j);
void http_resp_text(struct http_resp *r, int status, const char *text);

typedef void (*http_handler)(void *ctx, const struct http_req *req, struct http_resp *resp);

struct wbuf;
/* A service's own state (ctx = http_server_start's): GET /status answers
 * the JSON a status hook returns (stolen; NULL = 500), and /metrics gets the
 * lines a metrics hook appends. */
typedef json_t *(*http_status_fn)(void *ctx);
typedef void (*http_metrics_fn)(void *ctx, struct wbuf *w);
/* Deferred answers.  A handler that cannot answer yet (a long poll) calls
 * http_req_defer(): what it leaves in resp is then ignored, and the
 * connection is suspended (it holds no thread and no lock) until the owner
 * of the handle answers it with http_deferred_answer(), from any thread,
 * exactly once (the handle is invalid afterwards).  A suspended connection
 * keeps its connection slot, and a client that goes away is only noticed
 * once it is answered: the owner must answer within a bounded time (a long
 * poll's timeout), and answer all of them before http_server_stop (which
 * answers any left with 503, after which their handles are invalid).
 * NULL when the request cannot be deferred (the handler answers as usual). */
struct http_deferred;
struct http_deferred *http_req_defer(const struct http_req *req);
/* Answer a deferred request: takes resp's body. */
void http_deferred_answer(struct http_deferred *d, struct http_resp *resp);

/* method NULL = any; in a pattern, a "*" segment matches any one segment. */
struct http_route {
	const char *method;
	const char *pattern;
	http_handler fn;
	const char *name; /* for /metrics */
	size_t max_body;  /* request body cap in bytes; 0 = http_server_opts.max_body */
};

struct http_server_opts {
	const char *address; /* default 127.0.0.1 */
	int port;            /* 0 = any free port */
	int threads;         /* default 2 */
	size_t max_body;     /* cap for routes that declare none: default 64 KiB */
	/* TLS when both are set: PEM texts (certificate chain, private key) */
	const char *tls_cert;
	const char *tls_key;
	/* Limits; 0 = the default. */
	unsigned max_conns;        /* connections in all: 1024, and always below the fd limit */
	unsigned max_conns_per_ip; /* connections from one address: 64 */
	unsigned header_timeout;   /* seconds to receive a request's headers: 10 */
	unsigned idle_timeout;     /* seconds a connection may send nothing: 20 */
	size_t body_budget;        /* bytes of request bodies buffered at once: 256 MiB */
	http_status_fn status;     /* NULL: no /status */
	http_metrics_fn metrics;   /* NULL: only the server's own metrics */
};

#define HTTP_DEFAULT_MAX_CONNS        1024u
#define HTTP_DEFAULT_MAX_CONNS_PER_IP 64u
#define HTTP_DEFAULT_HEADER_TIMEOUT   10u
#define HTTP_DEFAULT_IDLE_TIMEOUT     20u

struct http_server;

MUST_CHECK int http_server_start(const struct http_server_opts *o, const struct http_route *routes,
                                 void *ctx, struct http_server **out);
MUST_CHECK int http_server_port(const struct http_server *s);
/* The connection cap in force (the asked one, lowered below the fd limit). */
unsigned http_server_max_conns(const struct http_server *s);
void http_server_stop(struct http_server *s);

/* Stateless challenges.  A nonce is made without keeping anything:
 * time (8 bytes, big-endian seconds) || random (8) || the first 16 bytes of
 * HMAC-SHA256(key, purpose || 0 || time || random), under a key drawn at
 * start (so a restart voids every nonce).  It is checked by recomputing the
 * MAC and the age.  Single use is kept by a replay set that holds a used
 * nonce for one to two windows (expired ones need none): two tables that
 * rotate every window.  The set is filled only by the caller after a use
 * passed every other check, so requests that prove nothing fill nothing. */
struct http_nonces;

/* window_s: validity in seconds; capacity: uses remembered per window. */
MUST_CHECK int http_nonces_new(unsigned window_s, size_t capacity, struct http_nonces **out);
void http_nonces_free(struct http_nonces *n);
unsigned http_nonces_window(const struct http_nonces *n);
/* A fresh nonce for purpose. */
MUST_CHECK int http_nonce_make(struct http_nonces *n, const char *purpose, uint8_t out[32]);
/* 0 when nonce is ours for purpose and younger than the window; ERR_VERIFY. */
MUST_CHECK int http_nonce_check(struct http_nonces *n, const char *purpose,
                                const uint8_t nonce[32]);
/* HMAC-SHA256 of data under the key (for challenges whose bytes the client
 * does not send back, which the caller recomputes). */
void http_nonce_mac(struct http_nonces *n, const void *data, size_t len, uint8_t out[32]);
/* Record id as used: 0; ERR_VERIFY when it was used already; ERR_BUSY when
 * the window's set is full (the caller answers 503). */
MUST_CHECK int http_nonce_use(struct http_nonces *n, const uint8_t id[32]);
/* 1 when id is in the replay set. */
MUST_CHECK int http_nonce_used(struct http_nonces *n, const uint8_t id[32]);

#endif
