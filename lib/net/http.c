#include "http.h"

#include "util/err.h"
#include "util/log.h"
#include "util/json.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink {
	struct wbuf *w;
	size_t cap;
	int too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;
	if (s->w->len + len > s->cap) {
		s->too_big = 1;
		return 0; /* aborts the transfer */
	}
	return wbuf_put(s->w, p, len) == 0 ? len : 0;
}

/* A peer check in progress: the verdict outlives the handshake. */
struct peer_call {
	const struct http_peer *peer;
	int refused;
	char why[512];
};

/* OpenSSL's whole-chain verification, replaced by the peer's check of
 * the leaf certificate. */
static int peer_verify(X509_STORE_CTX *xs, void *arg)
{
	struct peer_call *pc = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	uint8_t *der = NULL;
	int n = leaf ? i2d_X509(leaf, &der) : -1;

	if (n > 0 && pc->peer->check(pc->peer->ctx, der, (size_t)n) == 0) {
		OPENSSL_free(der);
		X509_STORE_CTX_set_error(xs, X509_V_OK);
		return 1;
	}
	OPENSSL_free(der);
	pc->refused = 1;
	snprintf(pc->why, sizeof(pc->why), "%s", n > 0 ? err_msg() : "no peer certificate");
	X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

static CURLcode on_ssl_ctx(CURL *c, void *ssl_ctx, void *arg)
{
	(void)c;
	SSL_CTX_set_cert_verify_callback(ssl_ctx, peer_verify, arg);
	return CURLE_OK;
}

static int attempt(const char *url, const struct http_call *post, size_t max_body, long timeout_s,
		   struct http_response *r, int *transport_error)
{
	struct curl_slist *hdrs = NULL;
	struct sink body = {&r->body, max_body, 0}, hdr = {&r->headers, 64 * 1024, 0};
	struct peer_call pc = {post ? post->peer : NULL, 0, ""};
	CURL *c;
	CURLcode cc;

	*transport_error = 0;
	ENSURE(!pc.peer || strncasecmp(url, "https://", 8) == 0, ERR_INVAL,
	       "%s: an attested peer is reached over https only", url);
	c = curl_easy_init();
	ENSURE(c, ERR_NOMEM, "curl: cannot initialise");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, pc.peer ? "https" : "http,https");
	if (pc.peer) {
		/* the peer's identity is its measurements, not a name */
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
		curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, &pc);
	}
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout_s < 10 ? timeout_s : 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "tdexec/" TDEXEC_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdr);
	if (post && post->auth) {
		char *h = malloc(strlen(post->auth) + 16);
		if (h) {
			sprintf(h, "Authorization: %s", post->auth);
			hdrs = curl_slist_append(hdrs, h);
			free(h);
		}
	}
	if (post && post->header)
		hdrs = curl_slist_append(hdrs, post->header);
	if (post && post->content_type) {
		char ct[128];
		snprintf(ct, sizeof(ct), "Content-Type: %s", post->content_type);
		hdrs = curl_slist_append(hdrs, ct);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)post->len);
	}
	if (hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	if (pc.refused)
		return err_set(ERR_VERIFY, "%s: the peer's attestation is refused: %s", url, pc.why);
	if (body.too_big)
		return err_set(ERR_TOOBIG, "%s: response over %zu bytes", url, max_body);
	if (cc != CURLE_OK) {
		/* a certificate that does not verify will not on a second try */
		*transport_error = cc != CURLE_PEER_FAILED_VERIFICATION;
		return err_set(ERR_IO, "%s: %s", url, curl_easy_strerror(cc));
	}
	return wbuf_u8(&r->headers, 0) == 0 ? 0 : ERR_NOMEM;
}

static int request(const char *url, const struct http_call *post, size_t max_body, long timeout_s,
		   struct http_response *r)
{
	int rc = 0, transport = 0;

	pthread_once(&curl_once, curl_init);
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 3; i++) {
		wbuf_free(&r->body);
		wbuf_free(&r->headers);
		rc = attempt(url, post, max_body, timeout_s, r, &transport);
		if (rc == 0 || !transport)
			break;
		log_warn("http.retry", "url=\"%s\" try=%d error=\"%s\"", url, i + 1, err_msg());
		if (i < 2)
			usleep((useconds_t)(200000u << i));
	}
	return rc;
}

int http_get(const char *url, size_t max_body, long timeout_s, struct http_response *r)
{
	return request(url, NULL, max_body, timeout_s, r);
}

int http_post(const char *url, const char *content_type, const void *body, size_t len,
	      size_t max_body, long timeout_s, struct http_response *r)
{
	return http_post_auth(url, NULL, content_type, body, len, max_body, timeout_s, r);
}

int http_get_auth(const char *url, const char *auth, size_t max_body, long timeout_s,
		  struct http_response *r)
{
	struct http_call p = {auth, NULL, NULL, 0, NULL, NULL};
	return request(url, &p, max_body, timeout_s, r);
}

int http_post_auth(const char *url, const char *auth, const char *content_type, const void *body,
		   size_t len, size_t max_body, long timeout_s, struct http_response *r)
{
	struct http_call p = {auth, content_type, body, len, NULL, NULL};
	return request(url, &p, max_body, timeout_s, r);
}

int http_call(const char *url, const struct http_call *c, size_t max_body, long timeout_s,
	      struct http_response *r)
{
	return request(url, c, max_body, timeout_s, r);
}

void http_response_free(struct http_response *r)
{
	wbuf_free(&r->body);
	wbuf_free(&r->headers);
}

char *http_header(const struct http_response *r, const char *name, int decode)
{
	const char *h = (const char *)r->headers.buf;
	size_t n = strlen(name);

	for (const char *line = h; line && *line;) {
		const char *eol = strstr(line, "\r\n");
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		if (len > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			size_t vlen = len - n - 1;
			char *out;
			while (vlen && (*v == ' ' || *v == '\t')) {
				v++;
				vlen--;
			}
			if (decode) {
				int olen;
				char *d = curl_easy_unescape(NULL, v, (int)vlen, &olen);
				out = d ? strndup(d, (size_t)olen) : NULL;
				curl_free(d);
			} else {
				out = strndup(v, vlen);
			}
			return out;
		}
		line = eol ? eol + 2 : NULL;
	}
	return NULL;
}

int http_base_url(char *dst, size_t cap, const char *url)
{
	size_t n = strlen(url);
	while (n && url[n - 1] == '/')
		n--;
	ENSURE(n < cap, ERR_TOOBIG, "URL too long (%zu bytes): %.60s...", n, url);
	memcpy(dst, url, n);
	dst[n] = '\0';
	return 0;
}

char *http_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0), *out = e ? strdup(e) : NULL;
	curl_free(e);
	return out;
}

int http_json(const char *url, const char *auth, const json_t *body, size_t max_body,
	      long timeout_s, long *status, json_t **out)
{
	return http_json_peer(NULL, url, auth, body, max_body, timeout_s, status, out);
}

int http_json_peer(const struct http_peer *peer, const char *url, const char *auth,
		   const json_t *body, size_t max_body, long timeout_s, long *status,
		   json_t **out)
{
	struct http_call c = {auth, NULL, NULL, 0, peer, NULL};
	char *txt = NULL;
	int rc;

	*out = NULL;
	if (body) {
		txt = json_dumps(body, JSON_COMPACT);
		ENSURE(txt, ERR_NOMEM, "out of memory");
		c.content_type = "application/json";
		c.body = txt;
		c.len = strlen(txt);
	}
	rc = http_call_json(url, &c, max_body, timeout_s, status, out);
	if (txt) {
		OPENSSL_cleanse(txt, strlen(txt));
		free(txt);
	}
	return rc;
}

int http_call_json(const char *url, const struct http_call *c, size_t max_body, long timeout_s,
		   long *status, json_t **out)
{
	struct http_response r;
	int rc;

	*out = NULL;
	GUARD(request(url, c, max_body, timeout_s, &r));
	*status = r.status;
	if (r.status == 200)
		rc = json_parse((const char *)r.body.buf, r.body.len, url, out);
	else if (r.status != 204)
		rc = err_set(ERR_IO, "%s: HTTP %ld %.*s", url, r.status,
			     (int)(r.body.len > 200 ? 200 : r.body.len),
			     r.body.buf ? (char *)r.body.buf : "");
	else
		rc = 0;
	if (r.body.buf)
		OPENSSL_cleanse(r.body.buf, r.body.len);
	http_response_free(&r);
	return rc;
}
