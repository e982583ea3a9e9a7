/* web.h — the dashboard: the static files of services/scheduler/web, carried
 * in the binary (cmake/embed.cmake generates the table) and served by the
 * scheduler at GET / (index.html) and GET /ui/NAME.
 *
 * The files hold nothing secret: the page asks its reader for the admin
 * token and reads the admin endpoints (admin.c) with it, so anyone who
 * reaches the scheduler's address may load the page but sees nothing
 * without the token. */
#ifndef TDEXEC_SCHEDULER_WEB_H
#define TDEXEC_SCHEDULER_WEB_H

#include <stddef.h>

struct http_req;
struct http_resp;

struct sched_web_file {
	const char *name; /* "app.js": no directory */
	const unsigned char *data;
	size_t len;
	const char *etag; /* "\"<16 hex digits of its SHA-256>\"" */
};

/* The files, ended by an entry whose name is NULL (generated). */
extern const struct sched_web_file sched_web_files[];

/* GET / and GET /ui/{name}: the file with its type, the page's security
 * headers (a Content-Security-Policy that allows no inline script), its
 * ETag (304 on If-None-Match); 404 for a name not in the table. */
void sched_h_web(void *ctx, const struct http_req *req, struct http_resp *resp);

#endif
