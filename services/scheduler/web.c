/* web.c — the dashboard's files (web.h), with the headers that keep a page
 * showing what workers and apps wrote from running any of it: the policy
 * allows scripts and styles from this origin only (no inline script, no
 * eval), connections to this origin only, and no framing; the page itself
 * puts every value from the API into the document as text. */
#include "web.h"

#include "net/server.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

#define CSP                                                                                        \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "                \
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "             \
	"frame-ancestors 'none'"

static const struct {
	const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
};

static const char *type_of(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
		size_t e = strlen(types[i].ext);
		if (n > e && strcmp(name + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

/* name, value: on every file */
static const char *const security[][2] = {
    {"Content-Security-Policy", CSP},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    /* revalidated at each load (the ETag makes that a 304): a new binary
     * brings new files */
    {"Cache-Control", "no-cache"},
};
#define NSECURITY (sizeof(security) / sizeof(*security))
_Static_assert(2 * NSECURITY + 3 <= HTTP_RESP_HEADERS, "room for the ETag and the end");

void sched_h_web(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	const char *name = req->params[0] ? req->params[0] : "index.html", *inm;
	const struct sched_web_file *f = sched_web_files;
	size_t n = 0;
	(void)ctx;

	while (f->name && strcmp(f->name, name) != 0)
		f++;
	if (!f->name) {
		http_resp_json(resp, 404, json_pack("{s:s}", "error", "not found"));
		return;
	}
	for (size_t i = 0; i < NSECURITY; i++) {
		resp->headers[n++] = security[i][0];
		resp->headers[n++] = security[i][1];
	}
	resp->headers[n++] = "ETag";
	resp->headers[n++] = f->etag;
	resp->headers[n] = NULL;
	inm = http_req_header(req, "If-None-Match");
	if (inm && strcmp(inm, f->etag) == 0) {
		http_resp_text(resp, 304, "");
		return;
	}
	free(resp->body);
	resp->body = malloc(f->len);
	if (!resp->body) {
		log_warn("sched.web", "file=%s error=\"out of memory\"", f->name);
		http_resp_text(resp, 500, "out of memory");
		return;
	}
	memcpy(resp->body, f->data, f->len);
	resp->len = f->len;
	resp->status = 200;
	resp->content_type = type_of(f->name);
}
