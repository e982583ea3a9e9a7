#include "server.h"

#include "util/bytes.h"
#include "util/err.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUTES 64

struct http_server {
	struct MHD_Daemon *d;
	const struct http_route *routes;
	size_t nroutes;
	void *ctx;
	size_t max_body;
	/* counters for /metrics (atomics) */
	unsigned long served[MAX_ROUTES + 1];
	unsigned long by_class[6];
	unsigned long too_big;
};

struct pending {
	struct wbuf body;
	int too_big;
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

static void metrics(struct http_server *s, struct http_resp *resp)
{
	struct wbuf w;
	wbuf_init(&w);
	wbuf_printf(&w, "# TYPE tdexec_http_requests_total counter\n");
	for (size_t i = 0; i < s->nroutes; i++)
		wbuf_printf(&w, "tdexec_http_requests_total{route=\"%s\"} %lu\n",
			    s->routes[i].name ? s->routes[i].name : s->routes[i].pattern,
			    __atomic_load_n(&s->served[i], __ATOMIC_RELAXED));
	wbuf_printf(&w, "# TYPE tdexec_http_responses_total counter\n");
	for (int c = 1; c < 6; c++)
		wbuf_printf(&w, "tdexec_http_responses_total{class=\"%dxx\"} %lu\n", c,
			    __atomic_load_n(&s->by_class[c], __ATOMIC_RELAXED));
	wbuf_printf(&w, "tdexec_http_bodies_refused_total %lu\n",
		    __atomic_load_n(&s->too_big, __ATOMIC_RELAXED));
	wbuf_u8(&w, 0);
	free(resp->body);
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4";
	resp->len = w.len ? w.len - 1 : 0;
	resp->body = (char *)wbuf_take(&w, NULL);
}

static void dispatch(struct http_server *s, const char *method, const char *url,
		     struct pending *p, struct MHD_Connection *conn, struct http_resp *resp)
{
	struct http_req req;
	char buf[1024];
	int path_matched = 0;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = url;
	req.conn = conn;
	req.body = p->body.buf ? p->body.buf : (const uint8_t *)"";
	req.body_len = p->body.len;
	if (p->too_big) {
		__atomic_fetch_add(&s->too_big, 1, __ATOMIC_RELAXED);
		http_resp_json(resp, 413, json_pack("{s:s}", "error", "request body too large"));
		return;
	}
	if (strcmp(url, "/healthz") == 0 && strcmp(method, "GET") == 0) {
		http_resp_text(resp, 200, "ok\n");
		return;
	}
	if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0) {
		metrics(s, resp);
		return;
	}
	for (size_t i = 0; i < s->nroutes; i++) {
		const struct http_route *rt = &s->routes[i];
		memset(req.params, 0, sizeof(req.params));
		if (!match(rt->pattern, url, req.params, buf, sizeof(buf)))
			continue;
		path_matched = 1;
		/* HEAD is served by the GET/HEAD route without a body. */
		if (rt->method && strcmp(rt->method, method) != 0)
			continue;
		__atomic_fetch_add(&s->served[i], 1, __ATOMIC_RELAXED);
		rt->fn(s->ctx, &req, resp);
		return;
	}
	http_resp_json(resp, path_matched ? 405 : 404,
		       json_pack("{s:s}", "error", path_matched ? "method not allowed" : "not found"));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct pending *p = *con_cls;
	struct http_resp resp = {500, "application/json", NULL, 0};
	struct MHD_Response *r;
	enum MHD_Result ret;
	(void)version;

	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return MHD_NO;
		wbuf_init(&p->body);
		*con_cls = p;
		return MHD_YES;
	}
	if (*data_size) {
		if (!p->too_big && (p->body.len + *data_size > s->max_body ||
				    wbuf_put(&p->body, data, *data_size) < 0))
			p->too_big = 1;
		*data_size = 0;
		return MHD_YES;
	}
	if (p->body.buf && wbuf_u8(&p->body, 0) == 0)
		p->body.len--; /* NUL-terminated for text handlers, not counted */
	dispatch(s, method, url, p, conn, &resp);
	if (resp.status >= 100 && resp.status < 600)
		__atomic_fetch_add(&s->by_class[resp.status / 100], 1, __ATOMIC_RELAXED);
	r = MHD_create_response_from_buffer(resp.len, resp.body ? resp.body : (char *)"",
					    MHD_RESPMEM_MUST_COPY);
	free(resp.body);
	if (!r)
		return MHD_NO;
	if (resp.len)
		MHD_add_response_header(r, "Content-Type", resp.content_type);
	ret = MHD_queue_response(conn, (unsigned)resp.status, r);
	MHD_destroy_response(r);
	return ret;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
		    enum MHD_RequestTerminationCode code)
{
	struct pending *p = *con_cls;
	(void)cls;
	(void)conn;
	(void)code;
	if (p) {
		wbuf_free(&p->body);
		free(p);
		*con_cls = NULL;
	}
}

/* libmicrohttpd's own messages (a client's broken handshake, ...) go to our
 * log as one line each instead of raw to stderr. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_msg(LOG_DEBUG, "http.server", "message=\"%s\"", msg);
}

int http_server_start(const struct http_server_opts *o, const struct http_route *routes,
		      void *ctx, struct http_server **out)
{
	struct http_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa;

	*out = NULL;
	ENSURE(s, ERR_NOMEM, "out of memory");
	s->routes = routes;
	while (routes[s->nroutes].pattern && s->nroutes < MAX_ROUTES)
		s->nroutes++;
	s->ctx = ctx;
	s->max_body = o->max_body ? o->max_body : 64 * 1024;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o->port);
	if (inet_pton(AF_INET, o->address ? o->address : "127.0.0.1", &sa.sin_addr) != 1) {
		free(s);
		return err_set(ERR_INVAL, "server: bad address %s", o->address);
	}
	int tls = o->tls_cert && o->tls_key;
	struct MHD_OptionItem tls_opts[] = {
		{MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL},
		{tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)o->tls_cert},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->tls_key},
		{MHD_OPTION_END, 0, NULL},
	};
	if ((o->tls_cert || o->tls_key) && !tls) {
		free(s);
		return err_set(ERR_INVAL, "server: TLS needs both a certificate and a key");
	}
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
					(tls ? MHD_USE_TLS : 0),
				0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, tls_opts,
				MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_THREAD_POOL_SIZE,
				(unsigned)(o->threads > 0 ? o->threads : 2),
				MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_CONNECTION_TIMEOUT,
				30u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
				MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
	if (!s->d) {
		free(s);
		return err_set(ERR_IO, "server: cannot listen on %s:%d%s",
			       o->address ? o->address : "127.0.0.1", o->port,
			       tls ? " (or the TLS certificate and key do not load)" : "");
	}
	*out = s;
	return 0;
}

int http_server_port(const struct http_server *s)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	return i ? i->port : -1;
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	free(s);
}
