#include "server.h"

#include "util/bytes.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_ROUTES 64
/* the route names of what the server answers itself */
enum { SLOT_HEALTHZ, SLOT_METRICS, SLOT_STATUS, SLOT_UNMATCHED, N_BUILTIN };
static const char *const builtin_names[N_BUILTIN] = {"healthz", "metrics", "status", "unmatched"};
/* file descriptors kept for everything but client connections: the store,
 * logs, outgoing HTTP, epoll and signalling fds of each thread */
#define FD_RESERVE 128

/* A client connection, from accept to close: the header deadline runs while
 * wait_since is set (waiting for a request's headers). */
struct conn {
	struct conn *prev, *next;
	int fd;
	time_t wait_since;
};

struct http_server {
	struct MHD_Daemon *d;
	const struct http_route *routes;
	size_t nroutes;
	void *ctx;
	size_t max_body, body_budget;
	unsigned max_conns, header_timeout;
	int tls;
	size_t buffered; /* bytes reserved by bodies being read (atomic) */
	/* the connections, for the header deadline; the reaper thread enforces it */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct conn *conns;
	pthread_t reaper;
	int reaper_on, stop;
	/* /metrics: the series of each route name (routes sharing a name
	 * share them), then the built-in routes and the unmatched requests */
	const char *route_names[MAX_ROUTES + N_BUILTIN + 1];
	size_t route_slot[MAX_ROUTES];
	size_t builtin_slot[N_BUILTIN];
	struct metrics *reg;
	struct metric *m_requests, *m_duration, *m_classes, *m_too_big, *m_over_budget,
	    *m_header_timeouts, *m_conns_refused, *m_buffered, *m_deferred;
	http_status_fn status;
	http_metrics_fn metrics_fn;
	/* requests deferred by their handler, suspended until answered (mu) */
	struct pending *deferred;
	unsigned long ndeferred;
	unsigned long resumed; /* answered, resumed, not yet sent (mu) */
};

struct pending {
	struct wbuf body;
	const struct http_route *route; /* NULL: a built-in or refused request */
	size_t cap, reserved;
	size_t slot;        /* its route's series (http_server.route_names) */
	struct timespec t0; /* when its headers were in */
	/* a deferred answer (http_req_defer); the flags and the list links are
	 * under the server's mu, the answer is written once before `answered` */
	struct http_server *srv;
	struct MHD_Connection *conn;
	int dispatched, deferred, suspended, answered, resumed;
	struct http_resp answer;
	struct pending *dprev, *dnext;
};

const char *http_req_header(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

void http_resp_json(struct http_resp *r, int status, json_t *j)
{
	free(r->body);
	r->status = status;
	r->content_type = "application/json";
	r->body = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	r->len = r->body ? strlen(r->body) : 0;
	json_decref(j);
}

void http_resp_text(struct http_resp *r, int status, const char *text)
{
	free(r->body);
	r->status = status;
	r->content_type = "text/plain; charset=utf-8";
	r->body = strdup(text ? text : "");
	r->len = r->body ? strlen(r->body) : 0;
}

/* Match a pattern against a path; each "*" segment captures one path segment into params
 * (copied into buf). */
static int match(const char *pattern, const char *path, const char *params[4], char *buf,
                 size_t cap)
{
	size_t used = 0;
	int np = 0;
	while (*pattern && *path) {
		if (*pattern == '*') {
			size_t n = strcspn(path, "/");
			if (n == 0 || np == 4 || used + n + 1 > cap)
				return 0;
			memcpy(buf + used, path, n);
			buf[used + n] = '\0';
			params[np++] = buf + used;
			used += n + 1;
			path += n;
			pattern++;
			continue;
		}
		if (*pattern++ != *path++)
			return 0;
	}
	return *pattern == '\0' && *path == '\0';
}

/* The status codes these services answer, each its own series; any other
 * is counted under its class ("4xx"), so the label stays bounded. */
static const char *const code_names[] = {
    "200", "201", "202", "204", "206", "301", "302", "304", "400", "401", "403",
    "404", "405", "408", "409", "410", "411", "413", "415", "416", "422", "429",
    "500", "501", "502", "503", "504", "1xx", "2xx", "3xx", "4xx", "5xx", NULL};
#define N_CODES (sizeof(code_names) / sizeof(code_names[0]) - 1)
static const char *const class_names[] = {"1xx", "2xx", "3xx", "4xx", "5xx", NULL};

static size_t code_index(int status)
{
	char c[4];
	if (status < 100 || status > 599)
		status = 500;
	snprintf(c, sizeof(c), "%d", status);
	for (size_t i = 0; i < N_CODES - 5; i++)
		if (strcmp(code_names[i], c) == 0)
			return i;
	return N_CODES - 5 + (size_t)(status / 100 - 1);
}

/* Request latency: from the headers to the response queued, 1 ms to a
 * minute (long polls last their wait). */
static const double duration_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5,   1,      2.5,   5,    10,    30,   60};

static int metrics_init(struct http_server *s)
{
	size_t n = 0;
	/* one series per distinct route name, in the table's order */
	for (size_t i = 0; i < s->nroutes; i++) {
		const char *name = s->routes[i].name ? s->routes[i].name : s->routes[i].pattern;
		size_t k = 0;
		while (k < n && strcmp(s->route_names[k], name) != 0)
			k++;
		if (k == n)
			s->route_names[n++] = name;
		s->route_slot[i] = k;
	}
	/* the built-ins after them, sharing the series of a route so named */
	for (size_t b = 0; b < N_BUILTIN; b++) {
		size_t k = 0;
		while (k < n && strcmp(s->route_names[k], builtin_names[b]) != 0)
			k++;
		if (k == n)
			s->route_names[n++] = builtin_names[b];
		s->builtin_slot[b] = k;
	}
	s->route_names[n] = NULL;
	const struct metric_def defs[] = {
	    {.name = "tdexec_http_requests_total",
	     .help = "HTTP requests answered, by route name (one per route template) and status "
	             "code",
	     .kind = METRIC_COUNTER,
	     .labels = {"route", "code"},
	     .values = {s->route_names, code_names},
	     .sparse = 1},
	    {.name = "tdexec_http_request_duration_seconds",
	     .help = "Time from a request's headers to its response, by route name",
	     .kind = METRIC_HISTOGRAM,
	     .labels = {"route"},
	     .values = {s->route_names},
	     .buckets = duration_buckets,
	     .nbuckets = sizeof(duration_buckets) / sizeof(duration_buckets[0]),
	     .sparse = 1},
	    {.name = "tdexec_http_responses_total",
	     .help = "HTTP responses by status class",
	     .kind = METRIC_COUNTER,
	     .labels = {"class"},
	     .values = {class_names}},
	    {.name = "tdexec_http_bodies_refused_total",
	     .help = "Requests refused for a body over their route's cap (413)",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_http_bodies_over_budget_total",
	     .help = "Requests refused because the bodies being read at once were over budget "
	             "(503)",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_http_header_timeouts_total",
	     .help = "Connections closed for not sending a request's headers within the deadline",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_http_connections_refused_total",
	     .help = "Connections closed at accept: over the connection limit, in all or per "
	             "address",
	     .kind = METRIC_COUNTER},
	    {.name = "tdexec_http_body_bytes_buffered",
	     .help = "Bytes of request bodies reserved now",
	     .kind = METRIC_GAUGE},
	    {.name = "tdexec_http_deferred",
	     .help = "Requests deferred by their handler (long polls) now",
	     .kind = METRIC_GAUGE},
	};
	struct metric **out[] = {&s->m_requests,      &s->m_duration,    &s->m_classes,
	                         &s->m_too_big,       &s->m_over_budget, &s->m_header_timeouts,
	                         &s->m_conns_refused, &s->m_buffered,    &s->m_deferred};
	GUARD(metrics_new(&s->reg));
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		GUARD(metrics_add(s->reg, &defs[i], out[i]));
	return 0;
}

/* A response of `status` to a request of slot: its series move. */
static void account(struct http_server *s, const struct pending *p, int status)
{
	size_t slot = p ? p->slot : s->builtin_slot[SLOT_UNMATCHED];
	metric_inc(s->m_requests, slot, code_index(status));
	if (status >= 100 && status < 600)
		metric_inc(s->m_classes, (size_t)(status / 100 - 1), 0);
	if (p && (p->t0.tv_sec || p->t0.tv_nsec))
		metric_observe(s->m_duration, slot, 0, metrics_since(&p->t0));
}

static void metrics(struct http_server *s, struct http_resp *resp)
{
	struct wbuf w;
	int rc;

	wbuf_init(&w);
	metric_set(s->m_buffered, 0, 0, (double)__atomic_load_n(&s->buffered, __ATOMIC_RELAXED));
	metric_set(s->m_deferred, 0, 0, (double)__atomic_load_n(&s->ndeferred, __ATOMIC_RELAXED));
	GUARD_GOTO(metrics_render(s->reg, &w));
	if (s->metrics_fn)
		s->metrics_fn(s->ctx, &w);
	GUARD_GOTO(wbuf_u8(&w, 0));
	free(resp->body);
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	resp->len = w.len ? w.len - 1 : 0;
	resp->body = (char *)wbuf_take(&w, NULL);
out:
	if (rc < 0) {
		wbuf_free(&w);
		http_resp_text(resp, 500, "metrics: out of memory");
	}
}

/* The route for method and url: 0 with *rt set (NULL for /healthz and
 * /metrics), or the status to answer at once (404, 405). */
static int route_for(struct http_server *s, const char *method, const char *url,
                     const struct http_route **rt, struct http_req *req, char *buf, size_t cap)
{
	int path_matched = 0;
	*rt = NULL;
	if ((strcmp(url, "/healthz") == 0 || strcmp(url, "/metrics") == 0 ||
	     (s->status && strcmp(url, "/status") == 0)) &&
	    strcmp(method, "GET") == 0)
		return 0;
	for (size_t i = 0; i < s->nroutes; i++) {
		const struct http_route *r = &s->routes[i];
		memset(req->params, 0, sizeof(req->params));
		if (!match(r->pattern, url, req->params, buf, cap))
			continue;
		path_matched = 1;
		/* HEAD is served by the GET/HEAD route without a body. */
		if (r->method && strcmp(r->method, method) != 0)
			continue;
		*rt = r;
		return 0;
	}
	return path_matched ? 405 : 404;
}

static void dispatch(struct http_server *s, const char *method, const char *url, struct pending *p,
                     struct MHD_Connection *conn, struct http_resp *resp)
{
	struct http_req req;
	char buf[1024];
	const struct http_route *rt;
	int st;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = url;
	req.conn = conn;
	req.pending = p;
	req.body = p->body.buf ? p->body.buf : (const uint8_t *)"";
	req.body_len = p->body.len;
	st = route_for(s, method, url, &rt, &req, buf, sizeof(buf));
	if (st != 0) {
		http_resp_json(
		    resp, st,
		    json_pack("{s:s}", "error", st == 405 ? "method not allowed" : "not found"));
		return;
	}
	if (!rt) {
		if (strcmp(url, "/healthz") == 0) {
			http_resp_text(resp, 200, "ok\n");
		} else if (strcmp(url, "/status") == 0) {
			json_t *j = s->status(s->ctx);
			if (j)
				http_resp_json(resp, 200, j);
			else
				http_resp_json(resp, 500, json_pack("{s:s}", "error", "no status"));
		} else {
			metrics(s, resp);
		}
		return;
	}
	rt->fn(s->ctx, &req, resp);
}

static enum MHD_Result send_resp(struct http_server *s, struct MHD_Connection *conn,
                                 const struct pending *p, struct http_resp *resp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	account(s, p, resp->status);
	/* the handler's body is handed over, not copied: MHD frees it */
	if (resp->body)
		r = MHD_create_response_from_buffer(resp->len, resp->body, MHD_RESPMEM_MUST_FREE);
	else
		r = MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
	if (!r)
		free(resp->body);
	resp->body = NULL;
	if (!r)
		return MHD_NO;
	if (resp->len)
		MHD_add_response_header(r, "Content-Type", resp->content_type);
	for (int i = 0; i + 1 < HTTP_RESP_HEADERS && resp->headers[i]; i += 2)
		if (resp->headers[i + 1])
			MHD_add_response_header(r, resp->headers[i], resp->headers[i + 1]);
	ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* An answer before the body is read (or instead of the rest of it): the
 * connection is closed after it, since the body is left unread. */
static enum MHD_Result refuse(struct http_server *s, struct MHD_Connection *conn,
                              const struct pending *p, int status, const char *why)
{
	struct http_resp resp = {.status = 500, .content_type = "application/json"};
	if (status == 413)
		metric_inc(s->m_too_big, 0, 0);
	if (status == 503)
		metric_inc(s->m_over_budget, 0, 0);
	http_resp_json(&resp, status, json_pack("{s:s}", "error", why));
	return send_resp(s, conn, p, &resp);
}

/* A body that passed its cap while being read.  MHD takes no response in the
 * middle of a body, so the 413 is written on the socket here (plain HTTP;
 * with TLS the connection is only closed) and the connection dropped. */
static enum MHD_Result cut(struct http_server *s, struct MHD_Connection *conn,
                           const struct pending *p, int status)
{
	static const char too_big[] = "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n"
	                              "Content-Type: application/json\r\nContent-Length: 34\r\n\r\n"
	                              "{\"error\":\"request body too large\"}";
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
	                           "Content-Type: application/json\r\nContent-Length: 23\r\n\r\n"
	                           "{\"error\":\"server busy\"}";
	const char *msg = status == 413 ? too_big : busy;
	const union MHD_ConnectionInfo *i =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	metric_inc(status == 413 ? s->m_too_big : s->m_over_budget, 0, 0);
	account(s, p, status);
	if (!s->tls && i && send(i->connect_fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_msg(LOG_DEBUG, "http.server", "cut=413 send_errno=%d", errno);
	return MHD_NO;
}

/* Reserve n more body bytes against the server's budget. */
static int reserve(struct http_server *s, struct pending *p, size_t n)
{
	size_t was = __atomic_fetch_add(&s->buffered, n, __ATOMIC_RELAXED);
	if (was + n > s->body_budget || was + n < was) {
		__atomic_fetch_sub(&s->buffered, n, __ATOMIC_RELAXED);
		return -1;
	}
	p->reserved += n;
	return 0;
}

static struct conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *i =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return i ? i->socket_context : NULL;
}

static void conn_waiting(struct http_server *s, struct MHD_Connection *conn, int waiting)
{
	struct conn *c = conn_of(conn);
	if (!c)
		return;
	pthread_mutex_lock(&s->mu);
	c->wait_since = waiting ? time(NULL) : 0;
	pthread_mutex_unlock(&s->mu);
}

/* The headers are in: the route is known, so is its cap. */
static enum MHD_Result begin(struct http_server *s, struct MHD_Connection *conn, const char *method,
                             const char *url, struct pending *p)
{
	struct http_req req;
	char buf[1024];
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
	int st;

	conn_waiting(s, conn, 0);
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
	memset(&req, 0, sizeof(req));
	st = route_for(s, method, url, &p->route, &req, buf, sizeof(buf));
	if (st != 0)
		p->slot = s->builtin_slot[SLOT_UNMATCHED];
	else if (p->route)
		p->slot = s->route_slot[p->route - s->routes];
	else
		p->slot = s->builtin_slot[strcmp(url, "/healthz") == 0   ? SLOT_HEALTHZ
		                          : strcmp(url, "/metrics") == 0 ? SLOT_METRICS
		                                                         : SLOT_STATUS];
	if (st != 0)
		return refuse(s, conn, p, st, st == 405 ? "method not allowed" : "not found");
	p->cap = p->route ? (p->route->max_body ? p->route->max_body : s->max_body) : 0;
	if (cl) {
		char *end;
		unsigned long long n;
		errno = 0;
		n = strtoull(cl, &end, 10);
		if (errno || end == cl || *end || cl[0] == '-')
			return refuse(s, conn, p, 400, "bad Content-Length");
		if (n > p->cap)
			return refuse(s, conn, p, 413, "request body too large");
		if (n && reserve(s, p, (size_t)n) < 0)
			return refuse(s, conn, p, 503, "server busy: too many bodies in flight");
	} else if (te && p->cap == 0) {
		return refuse(s, conn, p, 413, "request body too large");
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct pending *p = *con_cls;
	struct http_resp resp = {.status = 500, .content_type = "application/json"};
	(void)version;

	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return MHD_NO;
		wbuf_init(&p->body);
		*con_cls = p;
		return begin(s, conn, method, url, p);
	}
	if (*data_size) {
		size_t n = *data_size, have = p->body.len;
		if (n > p->cap || have > p->cap - n) {
			/* Past the cap (a chunked body): answered now, the rest is
			 * never read. */
			*data_size = 0;
			return cut(s, conn, p, 413);
		}
		if (have + n > p->reserved && reserve(s, p, have + n - p->reserved) < 0) {
			*data_size = 0;
			return cut(s, conn, p, 503);
		}
		if (wbuf_put(&p->body, data, n) < 0)
			return MHD_NO;
		*data_size = 0;
		return MHD_YES;
	}
	if (p->dispatched) /* resumed: the deferred answer is in */
		return send_resp(s, conn, p, &p->answer);
	if (p->body.buf && wbuf_u8(&p->body, 0) == 0)
		p->body.len--; /* NUL-terminated for text handlers, not counted */
	p->srv = s;
	p->conn = conn;
	p->dispatched = 1;
	dispatch(s, method, url, p, conn, &resp);
	if (!p->deferred)
		return send_resp(s, conn, p, &resp);
	free(resp.body);
	/* Deferred: suspended unless it was answered already (from another
	 * thread, while the handler ran); a later answer resumes it, and MHD
	 * calls on_request again. */
	pthread_mutex_lock(&s->mu);
	int now = p->answered;
	if (!now) {
		MHD_suspend_connection(conn);
		p->suspended = 1;
		p->dnext = s->deferred;
		if (s->deferred)
			s->deferred->dprev = p;
		s->deferred = p;
		__atomic_fetch_add(&s->ndeferred, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&s->mu);
	return now ? send_resp(s, conn, p, &p->answer) : MHD_YES;
}

struct http_deferred *http_req_defer(const struct http_req *req)
{
	struct pending *p = req->pending;
	if (!p || p->deferred)
		return NULL;
	p->deferred = 1;
	return (struct http_deferred *)p;
}

/* (s->mu held) */
static void deferred_unlink(struct http_server *s, struct pending *p)
{
	if (p->dprev)
		p->dprev->dnext = p->dnext;
	else
		s->deferred = p->dnext;
	if (p->dnext)
		p->dnext->dprev = p->dprev;
	p->dprev = p->dnext = NULL;
	__atomic_fetch_sub(&s->ndeferred, 1, __ATOMIC_RELAXED);
}

void http_deferred_answer(struct http_deferred *d, struct http_resp *resp)
{
	struct pending *p = (struct pending *)d;
	struct http_server *s = p->srv;

	pthread_mutex_lock(&s->mu);
	p->answer = *resp;
	resp->body = NULL;
	resp->len = 0;
	p->answered = 1;
	if (p->suspended) {
		deferred_unlink(s, p);
		p->resumed = 1;
		s->resumed++;
		/* MHD calls on_request again in the connection's thread */
		MHD_resume_connection(p->conn);
	}
	pthread_mutex_unlock(&s->mu);
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode code)
{
	struct http_server *s = cls;
	struct pending *p = *con_cls;
	(void)code;
	if (p && p->deferred) {
		pthread_mutex_lock(&s->mu);
		if (p->resumed) { /* its deferred answer is sent (or it failed) */
			s->resumed--;
			pthread_cond_broadcast(&s->cv);
		}
		pthread_mutex_unlock(&s->mu);
	}
	if (p) {
		__atomic_fetch_sub(&s->buffered, p->reserved, __ATOMIC_RELAXED);
		wbuf_free(&p->body);
		free(p->answer.body);
		free(p);
		*con_cls = NULL;
	}
	conn_waiting(s, conn, 1); /* a kept-alive connection waits for the next headers */
}

/* Connections enter and leave the list the reaper walks.  MHD calls CLOSED
 * before it closes the socket, and the reaper shuts sockets down under the
 * same lock, so it never touches a descriptor reused by someone else. */
static void on_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
                    enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;
	struct conn *c = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *i =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		c = calloc(1, sizeof(*c));
		if (!c || !i) {
			free(c);
			return;
		}
		c->fd = i->connect_fd;
		c->wait_since = time(NULL);
		pthread_mutex_lock(&s->mu);
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		pthread_mutex_unlock(&s->mu);
		*socket_context = c;
	} else if (c) {
		pthread_mutex_lock(&s->mu);
		if (c->prev)
			c->prev->next = c->next;
		else
			s->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		pthread_mutex_unlock(&s->mu);
		free(c);
		*socket_context = NULL;
	}
}

/* Once a second: a connection still waiting for its request's headers past
 * the deadline (a slow client, however steadily it trickles bytes) is shut
 * down; MHD sees the end of the stream and closes it in its own thread. */
static void *reaper_main(void *arg)
{
	struct http_server *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		struct timespec ts;
		time_t now = time(NULL);
		unsigned long n = 0;
		for (struct conn *c = s->conns; c; c = c->next)
			if (c->wait_since && now - c->wait_since >= (time_t)s->header_timeout) {
				shutdown(c->fd, SHUT_RDWR);
				c->wait_since = 0;
				n++;
			}
		if (n) {
			metric_add(s->m_header_timeouts, 0, 0, n);
			log_msg(LOG_DEBUG, "http.server", "header_timeouts=%lu", n);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* libmicrohttpd's own messages (a client's broken handshake, ...) go to our
 * log as one line each instead of raw to stderr. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *s = cls;
	char msg[512];
	size_t n;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* MHD refuses a connection over its limits (in all, or per address)
	 * with this message and no other sign the server could count */
	if (strstr(msg, "reached connection limit"))
		metric_inc(s->m_conns_refused, 0, 0);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_msg(LOG_DEBUG, "http.server", "message=\"%s\"", msg);
}

/* The connection cap: the one asked for, below the soft fd limit less
 * what the process needs besides its clients. */
static unsigned conn_cap(unsigned want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		rlim_t room =
		    rl.rlim_cur > 2 * FD_RESERVE ? rl.rlim_cur - FD_RESERVE : rl.rlim_cur / 2;
		if ((rlim_t)want > room)
			want = (unsigned)room;
	}
	return want ? want : 1;
}

int http_server_start(const struct http_server_opts *o, const struct http_route *routes, void *ctx,
                      struct http_server **out)
{
	struct http_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa;
	unsigned threads = (unsigned)(o->threads > 0 ? o->threads : 2);
	unsigned per_ip = o->max_conns_per_ip ? o->max_conns_per_ip : HTTP_DEFAULT_MAX_CONNS_PER_IP;
	unsigned idle = o->idle_timeout ? o->idle_timeout : HTTP_DEFAULT_IDLE_TIMEOUT;

	*out = NULL;
	ENSURE(s, ERR_NOMEM, "out of memory");
	s->routes = routes;
	while (routes[s->nroutes].pattern && s->nroutes < MAX_ROUTES)
		s->nroutes++;
	s->ctx = ctx;
	if (metrics_init(s) < 0) {
		metrics_free(s->reg);
		free(s);
		return err_set(ERR_NOMEM, "server: %s", err_msg());
	}
	s->status = o->status;
	s->metrics_fn = o->metrics;
	s->max_body = o->max_body ? o->max_body : 64 * 1024;
	s->body_budget = o->body_budget ? o->body_budget : (size_t)256 << 20;
	s->header_timeout = o->header_timeout ? o->header_timeout : HTTP_DEFAULT_HEADER_TIMEOUT;
	s->max_conns = conn_cap(o->max_conns ? o->max_conns : HTTP_DEFAULT_MAX_CONNS);
	/* MHD shares the cap between its threads: each gets at least one */
	if (s->max_conns < threads)
		threads = s->max_conns;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o->port);
	if (inet_pton(AF_INET, o->address ? o->address : "127.0.0.1", &sa.sin_addr) != 1) {
		metrics_free(s->reg);
		free(s);
		return err_set(ERR_INVAL, "server: bad address %s", o->address);
	}
	int tls = o->tls_cert && o->tls_key;
	struct MHD_OptionItem tls_opts[] = {
	    {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, s},
	    {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)o->tls_cert},
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->tls_key},
	    {MHD_OPTION_END, 0, NULL},
	};
	if ((o->tls_cert || o->tls_key) && !tls) {
		metrics_free(s->reg);
		free(s);
		return err_set(ERR_INVAL, "server: TLS needs both a certificate and a key");
	}
	s->tls = tls;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	/* epoll with a thread pool: a connection costs a slot and its memory
	 * pool, never a thread, so slow clients cannot starve the handlers;
	 * the limits and timeouts below bound the slots they can hold. */
	s->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
	        MHD_ALLOW_SUSPEND_RESUME | (tls ? MHD_USE_TLS : 0),
	    0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_SOCK_ADDR, &sa,
	    MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, s->max_conns,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, MHD_OPTION_CONNECTION_TIMEOUT, idle,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_NOTIFY_COMPLETED,
	    on_done, s, MHD_OPTION_NOTIFY_CONNECTION, on_conn, s, MHD_OPTION_END);
	if (!s->d) {
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		metrics_free(s->reg);
		free(s);
		return err_set(ERR_IO, "server: cannot listen on %s:%d%s",
		               o->address ? o->address : "127.0.0.1", o->port,
		               tls ? " (or the TLS certificate and key do not load)" : "");
	}
	if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0) {
		http_server_stop(s);
		return err_set(ERR_IO, "server: cannot start the header deadline thread");
	}
	s->reaper_on = 1;
	log_info("http.limits",
	         "max_conns=%u max_conns_per_ip=%u header_timeout=%u idle_timeout=%u "
	         "body_budget=%zu default_max_body=%zu",
	         s->max_conns, per_ip, s->header_timeout, idle, s->body_budget, s->max_body);
	*out = s;
	return 0;
}

int http_server_port(const struct http_server *s)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	return i ? i->port : -1;
}

unsigned http_server_max_conns(const struct http_server *s)
{
	return s->max_conns;
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->reaper_on)
		pthread_join(s->reaper, NULL);
	/* MHD must not stop with suspended connections: any deferred request
	 * its owner left unanswered gets a 503 */
	for (;;) {
		struct http_resp r = {.status = 503, .content_type = "application/json"};
		pthread_mutex_lock(&s->mu);
		struct pending *p = s->deferred;
		pthread_mutex_unlock(&s->mu);
		if (!p)
			break;
		log_warn("http.server", "deferred=unanswered answer=503");
		http_resp_json(&r, 503, json_pack("{s:s}", "error", "server stopping"));
		http_deferred_answer((struct http_deferred *)p, &r);
	}
	/* The answers just given (here or by the owner before it called
	 * stop) are sent before the connections close: a second at most. */
	{
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_mutex_lock(&s->mu);
		while (s->resumed && pthread_cond_timedwait(&s->cv, &s->mu, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&s->mu);
	}
	MHD_stop_daemon(s->d);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	metrics_free(s->reg);
	free(s);
}

/* ---------- stateless challenges ---------- */

struct replay_table {
	uint8_t (*ids)[32];
	unsigned char *full;
	size_t count;
};

struct http_nonces {
	uint8_t key[32];
	unsigned window;
	size_t capacity, slots; /* uses per table; slots = a power of two >= 2 capacity */
	pthread_mutex_t mu;
	struct replay_table t[2]; /* t[0] the current window, t[1] the one before */
	time_t since;             /* when t[0] began */
};

static void be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int http_nonces_new(unsigned window_s, size_t capacity, struct http_nonces **out)
{
	struct http_nonces *n = calloc(1, sizeof(*n));
	*out = NULL;
	ENSURE(n && window_s && capacity && capacity < ((size_t)1 << 24), ERR_INVAL,
	       "nonces: bad window or capacity");
	n->window = window_s;
	n->capacity = capacity;
	for (n->slots = 16; n->slots < 2 * capacity; n->slots *= 2)
		;
	for (int i = 0; i < 2; i++) {
		n->t[i].ids = calloc(n->slots, 32);
		n->t[i].full = calloc(n->slots, 1);
	}
	if (!n->t[0].ids || !n->t[1].ids || !n->t[0].full || !n->t[1].full ||
	    RAND_bytes(n->key, sizeof(n->key)) != 1) {
		http_nonces_free(n);
		return err_set(ERR_CRYPTO, "nonces: no memory or no randomness");
	}
	pthread_mutex_init(&n->mu, NULL);
	n->since = time(NULL);
	*out = n;
	return 0;
}

void http_nonces_free(struct http_nonces *n)
{
	if (!n)
		return;
	for (int i = 0; i < 2; i++) {
		free(n->t[i].ids);
		free(n->t[i].full);
	}
	if (n->since)
		pthread_mutex_destroy(&n->mu);
	OPENSSL_cleanse(n->key, sizeof(n->key));
	free(n);
}

unsigned http_nonces_window(const struct http_nonces *n)
{
	return n->window;
}

void http_nonce_mac(struct http_nonces *n, const void *data, size_t len, uint8_t out[32])
{
	unsigned int olen = 32;
	HMAC(EVP_sha256(), n->key, sizeof(n->key), data, len, out, &olen);
}

static void nonce_tag(struct http_nonces *n, const char *purpose, const uint8_t head[16],
                      uint8_t tag[32])
{
	uint8_t buf[128];
	size_t pl = strlen(purpose);
	if (pl > sizeof(buf) - 17)
		pl = sizeof(buf) - 17;
	memcpy(buf, purpose, pl);
	buf[pl] = 0;
	memcpy(buf + pl + 1, head, 16);
	http_nonce_mac(n, buf, pl + 17, tag);
}

int http_nonce_make(struct http_nonces *n, const char *purpose, uint8_t out[32])
{
	uint8_t tag[32];
	be64_put(out, (uint64_t)time(NULL));
	ENSURE(RAND_bytes(out + 8, 8) == 1, ERR_CRYPTO, "nonces: no randomness");
	nonce_tag(n, purpose, out, tag);
	memcpy(out + 16, tag, 16);
	return 0;
}

int http_nonce_check(struct http_nonces *n, const char *purpose, const uint8_t nonce[32])
{
	uint8_t tag[32];
	int64_t age = (int64_t)time(NULL) - (int64_t)be64_get(nonce);
	nonce_tag(n, purpose, nonce, tag);
	ENSURE(CRYPTO_memcmp(tag, nonce + 16, 16) == 0, ERR_VERIFY,
	       "not a nonce of this server (or made before it restarted)");
	ENSURE(age >= 0 && age <= (int64_t)n->window, ERR_VERIFY, "expired nonce");
	return 0;
}

/* Rotate the tables as windows pass (n->mu held). */
static void replay_rotate(struct http_nonces *n)
{
	time_t now = time(NULL);
	if (now - n->since < (time_t)n->window)
		return;
	struct replay_table old = n->t[1];
	n->t[1] = n->t[0];
	n->t[0] = old;
	memset(n->t[0].full, 0, n->slots);
	n->t[0].count = 0;
	if (now - n->since >= 2 * (time_t)n->window) { /* idle for two windows: both stale */
		memset(n->t[1].full, 0, n->slots);
		n->t[1].count = 0;
	}
	n->since = now;
}

/* The slot of id in t: where it is, or the free slot where it would go. */
static size_t replay_slot(const struct http_nonces *n, const struct replay_table *t,
                          const uint8_t id[32], int *found)
{
	uint64_t h = be64_get(id) ^ be64_get(id + 8) ^ be64_get(id + 16) ^ be64_get(id + 24);
	size_t i = (size_t)h & (n->slots - 1);
	while (t->full[i]) {
		if (memcmp(t->ids[i], id, 32) == 0) {
			*found = 1;
			return i;
		}
		i = (i + 1) & (n->slots - 1);
	}
	*found = 0;
	return i;
}

int http_nonce_used(struct http_nonces *n, const uint8_t id[32])
{
	int f0, f1;
	pthread_mutex_lock(&n->mu);
	replay_rotate(n);
	replay_slot(n, &n->t[0], id, &f0);
	replay_slot(n, &n->t[1], id, &f1);
	pthread_mutex_unlock(&n->mu);
	return f0 || f1;
}

int http_nonce_use(struct http_nonces *n, const uint8_t id[32])
{
	int f0, f1, rc = 0;
	size_t i;
	pthread_mutex_lock(&n->mu);
	replay_rotate(n);
	i = replay_slot(n, &n->t[0], id, &f0);
	replay_slot(n, &n->t[1], id, &f1);
	if (f0 || f1) {
		rc = err_set(ERR_VERIFY, "nonce already used");
	} else if (n->t[0].count >= n->capacity) {
		rc = err_set(ERR_BUSY, "too many uses in this window");
	} else {
		memcpy(n->t[0].ids[i], id, 32);
		n->t[0].full[i] = 1;
		n->t[0].count++;
	}
	pthread_mutex_unlock(&n->mu);
	return rc;
}
