/* http.h — a small HTTP client over libcurl for fetching documents. */
#ifndef TDEXEC_NET_HTTP_H
#define TDEXEC_NET_HTTP_H

#include "util/bytes.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>

struct http_response {
	long status;
	struct wbuf body;
	struct wbuf headers; /* raw header lines, NUL-terminated */
};

/* GET url.  Transport errors are retried (3 attempts, backoff); an HTTP
 * error status is not an error here (check r->status).  The body is capped
 * at max_body bytes.  Returns 0 or ERR_IO with curl's reason. */
int http_get(const char *url, size_t max_body, long timeout_s, struct http_response *r);
/* POST a body with the given Content-Type; same rules as http_get. */
int http_post(const char *url, const char *content_type, const void *body, size_t len,
	      size_t max_body, long timeout_s, struct http_response *r);
/* The same with an Authorization header value (auth NULL = none). */
int http_get_auth(const char *url, const char *auth, size_t max_body, long timeout_s,
		  struct http_response *r);
int http_post_auth(const char *url, const char *auth, const char *content_type, const void *body,
		   size_t len, size_t max_body, long timeout_s, struct http_response *r);
/* A TLS peer admitted by its certificate instead of by a CA (RA-TLS):
 * during the handshake `check` gets the peer's leaf certificate (DER) and
 * returns 0 to admit it, or an error (err_set) to refuse it.  Calls with a
 * peer check must use https (redirects too) and are not retried when the
 * check refuses. */
struct http_peer {
	int (*check)(void *ctx, const uint8_t *der, size_t len);
	void *ctx;
};

/* A request in full: POST `body` when content_type is set, else GET. */
struct http_call {
	const char *auth;         /* Authorization header value, or NULL */
	const char *content_type; /* NULL = GET */
	const void *body;
	size_t len;
	const struct http_peer *peer; /* NULL = the usual CA verification */
	const char *header;           /* one more "Name: value" header, or NULL */
};
int http_call(const char *url, const struct http_call *c, size_t max_body, long timeout_s,
	      struct http_response *r);

/* A JSON call: POST `body` (compact JSON) or GET when body is NULL, with
 * an Authorization value (NULL = none); replies over max_body bytes are
 * refused.  *status gets the HTTP status.  200: *out is the parsed reply;
 * 204: *out is NULL; any other status is ERR_IO "URL: HTTP N <the reply's
 * first 200 bytes>".  Request and reply texts are wiped before they are
 * freed (they may carry secrets). */
int http_json(const char *url, const char *auth, const json_t *body, size_t max_body,
	      long timeout_s, long *status, json_t **out);
/* http_json's reply rules for any request (a binary body, say). */
int http_call_json(const char *url, const struct http_call *c, size_t max_body, long timeout_s,
		   long *status, json_t **out);
/* The same with a peer check (NULL = none). */
int http_json_peer(const struct http_peer *peer, const char *url, const char *auth,
		   const json_t *body, size_t max_body, long timeout_s, long *status,
		   json_t **out);
/* A base URL to append paths to: `url` without its trailing slashes.
 * ERR_TOOBIG when it does not fit in cap bytes (never truncated). */
int http_base_url(char *dst, size_t cap, const char *url);
/* URL-encode a query value; a new string (free()) or NULL. */
char *http_escape(const char *s);
void http_response_free(struct http_response *r);

/* Value of header `name` (case-insensitive), URL-decoded when `decode`, as a
 * new string (free()); NULL when absent. */
char *http_header(const struct http_response *r, const char *name, int decode);

#endif
