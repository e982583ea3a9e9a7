/* registry.c — the OCI distribution client, see registry.h. */
#include "registry.h"

#include "ref.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_REDIRECTS 5
#define ERRBODY_MAX   4096
#define HEADERS_MAX   (64u << 10)
#define TOKEN_MAX     (1u << 20)

static const char accept_all[] =
    "Accept: " OCI_MT_INDEX ", " OCI_MT_MANIFEST ", " OCI_MT_DOCKER_LIST ", " OCI_MT_DOCKER_V2;

void oci_opts_default(struct oci_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->jobs = OCI_JOBS_DEFAULT;
	o->max_image = OCI_IMAGE_MAX;
	o->attempts = 4;
	o->backoff_ms = 500;
	o->timeout_s = OCI_TIMEOUT_DEFAULT;
}

int oci_opts_plain_http(struct oci_opts *o, const char *hostport)
{
	const char *colon = hostport ? strrchr(hostport, ':') : NULL;
	ENSURE(colon && colon > hostport && colon[1] &&
	           strspn(colon + 1, "0123456789") == strlen(colon + 1),
	       ERR_INVAL, "--registry-plain-http wants HOST:PORT, not '%.100s'",
	       hostport ? hostport : "");
	ENSURE(o->nplain < OCI_PLAIN_MAX, ERR_INVAL, "at most %d --registry-plain-http",
	       OCI_PLAIN_MAX);
	o->plain_http[o->nplain++] = hostport;
	return 0;
}

/* ---------- a session with one registry and repository ---------- */

struct session {
	const struct oci_opts *o;
	struct oci_ref ref;
	char origin[300]; /* scheme://host[:port] of the registry */
	char *basic;      /* base64(user:pass) or NULL; wiped */
	char *bearer;     /* the current token or NULL; wiped */
	/* why there are no credentials when the lookup could not give them
	 * (a credential helper): said when the registry asks for some */
	char no_auth[512];
	double deadline; /* CLOCK_MONOTONIC seconds; 0 = none */
	pthread_mutex_t mu;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void secret_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static int plain_allowed(const struct oci_opts *o, const char *hostport)
{
	for (size_t i = 0; i < o->nplain; i++)
		if (!strcasecmp(o->plain_http[i], hostport))
			return 1;
	return 0;
}

/* scheme://host:port of a URL, ports made explicit, for comparisons; and
 * whether it may be reached (http only for a --registry-plain-http host). */
static int url_origin(const struct oci_opts *o, const char *url, char *out, size_t cap)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = 0;

	ENSURE(u, ERR_NOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		rc = err_set(ERR_INVAL, "%.200s: not a URL", url);
		goto out;
	}
	if (strcasecmp(scheme, "https") != 0 && strcasecmp(scheme, "http") != 0) {
		rc = err_set(ERR_VERIFY, "%.200s: only http and https are followed", url);
		goto out;
	}
	if (snprintf(out, cap, "%s://%s:%s", scheme, host, port) >= (int)cap) {
		rc = err_set(ERR_TOOBIG, "%.200s: host too long", url);
		goto out;
	}
	if (!strcasecmp(scheme, "http")) {
		char hp[300];
		snprintf(hp, sizeof(hp), "%s:%s", host, port);
		if (!plain_allowed(o, hp))
			rc = err_set(
			    ERR_VERIFY,
			    "%.200s: plain HTTP to %s is not allowed (--registry-plain-http "
			    "%s opts in)",
			    url, hp, hp);
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

/* ---------- one HTTP exchange ---------- */

/* Where a response body goes: memory (capped) or a blob file being
 * written, hashed and size-checked as it arrives. */
struct body {
	CURL *c;
	int fd; /* -1: memory */
	struct wbuf mem;
	size_t cap;
	EVP_MD_CTX *md;
	uint64_t done, total, resume_from;
	int started, too_big, io_error;
	struct wbuf err; /* a non-2xx body, for messages */
	struct wbuf hdr;
	/* progress */
	const char *label;
	struct timespec t0, last;
};

static double now_s(const struct timespec *t)
{
	return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;
	/* a new response (redirect, 100 Continue) starts a new header set */
	if (len >= 5 && !memcmp(p, "HTTP/", 5))
		b->hdr.len = 0;
	if (b->hdr.len + len > HEADERS_MAX)
		return 0;
	return wbuf_put(&b->hdr, p, len) == 0 ? len : 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;
	long code = 0;

	curl_easy_getinfo(b->c, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200 && code != 206) {
		size_t keep = b->err.len + len > ERRBODY_MAX ? ERRBODY_MAX - b->err.len : len;
		if (keep && wbuf_put(&b->err, p, keep) < 0)
			return 0;
		return len;
	}
	if (b->fd < 0) {
		if (b->mem.len + len > b->cap) {
			b->too_big = 1;
			return 0;
		}
		return wbuf_put(&b->mem, p, len) == 0 ? len : 0;
	}
	if (!b->started) {
		b->started = 1;
		if (code == 200 && b->resume_from) {
			/* the server ignored the Range: start again from zero */
			if (ftruncate(b->fd, 0) != 0 || lseek(b->fd, 0, SEEK_SET) != 0) {
				b->io_error = errno;
				return 0;
			}
			EVP_DigestInit_ex(b->md, EVP_sha256(), NULL);
			b->done = 0;
			b->resume_from = 0;
		}
	}
	if (b->done + len > b->total) {
		b->too_big = 1; /* more bytes than the descriptor's size */
		return 0;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(b->fd, p + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			b->io_error = w < 0 ? errno : EIO;
			return 0;
		}
		off += (size_t)w;
	}
	EVP_DigestUpdate(b->md, p, len);
	b->done += len;
	if (b->label) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (now_s(&t) - now_s(&b->last) >= 1.0) {
			b->last = t;
			log_info("image.pull", "blob=%s done=%llu total=%llu", b->label,
			         (unsigned long long)b->done, (unsigned long long)b->total);
		}
	}
	return len;
}

/* The extra CA bundle, added to the default trust store. */
static CURLcode on_ssl_ctx(CURL *c, void *ssl_ctx, void *arg)
{
	const char *file = arg;
	X509_STORE *st = SSL_CTX_get_cert_store(ssl_ctx);
	FILE *f = fopen(file, "r");
	X509 *x;
	int n = 0;
	(void)c;
	if (!f)
		return CURLE_SSL_CACERT_BADFILE;
	while ((x = PEM_read_X509(f, NULL, NULL, NULL))) {
		X509_STORE_add_cert(st, x);
		X509_free(x);
		n++;
	}
	ERR_clear_error();
	fclose(f);
	return n ? CURLE_OK : CURLE_SSL_CACERT_BADFILE;
}

struct exchange {
	const char *url;
	const char *auth;   /* Authorization value, for auth_origin only */
	const char *accept; /* a full "Accept: ..." header or NULL */
	uint64_t range_from;
	long status;
	char location[2048]; /* a redirect's target */
	int transport;       /* a failure worth another attempt */
};

static double mono_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One request, no redirect followed, within the session's deadline (the
 * low-speed limit alone lets a registry trickle a byte a minute). */
static int exchange_once(const struct session *s, struct exchange *x, struct body *b)
{
	const struct oci_opts *o = s->o;
	struct http_dest_call dc = {o->dest, 0, ""};
	struct curl_slist *h = NULL;
	char range[64], *hv = NULL, *loc = NULL;
	double left = s->deadline > 0 ? s->deadline - mono_now() : 0;
	CURLcode cc;
	int rc = 0;

	x->status = 0;
	x->location[0] = 0;
	x->transport = 0;
	b->hdr.len = 0;
	b->err.len = 0;
	/* not a transport error: retrying cannot help */
	ENSURE(s->deadline <= 0 || left > 0.001, ERR_IO, "pull deadline of %u s passed",
	       o->timeout_s);
	b->c = curl_easy_init();
	ENSURE(b->c, ERR_NOMEM, "curl: cannot initialise");
	b->started = 0;
	curl_easy_setopt(b->c, CURLOPT_URL, x->url);
	curl_easy_setopt(b->c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(b->c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(b->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(b->c, CURLOPT_USERAGENT, "tdexec/" TDEXEC_VERSION);
	curl_easy_setopt(b->c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled transfer fails; a slow one that moves does not */
	curl_easy_setopt(b->c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(b->c, CURLOPT_LOW_SPEED_TIME, 60L);
	if (s->deadline > 0)
		curl_easy_setopt(b->c, CURLOPT_TIMEOUT_MS, (long)(left * 1000) + 1);
	curl_easy_setopt(b->c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(b->c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(b->c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(b->c, CURLOPT_HEADERDATA, b);
	if (o->dest)
		http_dest_attach(b->c, &dc);
	if (o->ca_file) {
		curl_easy_setopt(b->c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
		curl_easy_setopt(b->c, CURLOPT_SSL_CTX_DATA, (void *)o->ca_file);
	}
	if (x->accept)
		h = curl_slist_append(h, x->accept);
	if (x->auth) {
		hv = malloc(strlen(x->auth) + 16);
		ENSURE_GOTO(hv, ERR_NOMEM, "out of memory");
		sprintf(hv, "Authorization: %s", x->auth);
		h = curl_slist_append(h, hv);
	}
	if (x->range_from) {
		snprintf(range, sizeof(range), "Range: bytes=%llu-",
		         (unsigned long long)x->range_from);
		h = curl_slist_append(h, range);
	}
	if (h)
		curl_easy_setopt(b->c, CURLOPT_HTTPHEADER, h);
	cc = curl_easy_perform(b->c);
	curl_easy_getinfo(b->c, CURLINFO_RESPONSE_CODE, &x->status);
	if (curl_easy_getinfo(b->c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
		snprintf(x->location, sizeof(x->location), "%s", loc);
	if (dc.refused) {
		/* the host, not the URL: the reason must fit where a task's
		 * failure is reported */
		char host[300];
		if (url_origin(o, x->url, host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "%.200s", x->url);
		rc = err_set(ERR_VERIFY, "%s: %s",
		             strstr(host, "://") ? strstr(host, "://") + 3 : host, dc.why);
	} else if (b->too_big)
		rc = err_set(ERR_TOOBIG, "%.300s: more bytes than the %llu expected", x->url,
		             (unsigned long long)(b->fd < 0 ? b->cap : b->total));
	else if (b->io_error)
		rc = err_set(ERR_IO, "writing the blob: %s", strerror(b->io_error));
	else if (cc == CURLE_OPERATION_TIMEDOUT && s->deadline > 0 && mono_now() >= s->deadline)
		rc = err_set(ERR_IO, "%.300s: pull deadline of %u s passed", x->url, o->timeout_s);
	else if (cc != CURLE_OK) {
		x->transport = cc != CURLE_PEER_FAILED_VERIFICATION &&
		               cc != CURLE_SSL_CACERT_BADFILE && cc != CURLE_UNSUPPORTED_PROTOCOL &&
		               cc != CURLE_URL_MALFORMAT;
		rc = err_set(ERR_IO, "%.300s: %s", x->url, curl_easy_strerror(cc));
	}
out:
	curl_easy_cleanup(b->c);
	b->c = NULL;
	curl_slist_free_all(h);
	secret_free(hv);
	return rc;
}

/* A header of the last response (case-insensitive name), or NULL. */
static char *resp_header(struct body *b, const char *name)
{
	struct http_response r = {0};
	if (wbuf_u8(&b->hdr, 0) < 0)
		return NULL;
	b->hdr.len--;
	r.headers = b->hdr;
	return http_header(&r, name, 0);
}

/* ---------- auth ---------- */

static int token_fetch(struct session *s, const struct oci_challenge *ch)
{
	char origin[300], *url = NULL, *svc = NULL, *scope = NULL, fallback[400];
	char *basic = NULL;
	struct exchange x = {0};
	struct body b = {.fd = -1, .cap = TOKEN_MAX};
	json_t *j = NULL;
	const char *tok;
	int rc;

	GUARD(url_origin(s->o, ch->realm, origin, sizeof(origin)));
	snprintf(fallback, sizeof(fallback), "repository:%s:pull", s->ref.repo);
	svc = curl_easy_escape(NULL, ch->service, 0);
	scope = curl_easy_escape(NULL, ch->scope[0] ? ch->scope : fallback, 0);
	url =
	    malloc(strlen(ch->realm) + (svc ? strlen(svc) : 0) + (scope ? strlen(scope) : 0) + 32);
	ENSURE_GOTO(url && svc && scope, ERR_NOMEM, "out of memory");
	sprintf(url, "%s%sservice=%s&scope=%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?", svc,
	        scope);
	x.url = url;
	if (s->basic) {
		basic = malloc(strlen(s->basic) + 8);
		ENSURE_GOTO(basic, ERR_NOMEM, "out of memory");
		sprintf(basic, "Basic %s", s->basic);
		x.auth = basic;
	}
	rc = exchange_once(s, &x, &b);
	GUARD_GOTO(rc);
	ENSURE_GOTO(x.status == 200, x.status == 401 || x.status == 403 ? ERR_VERIFY : ERR_IO,
	            "token from %s: HTTP %ld%s%s%s", origin, x.status,
	            x.status != 401 ? ""
	            : s->basic      ? " (credentials refused)"
	                            : " (credentials needed)",
	            s->no_auth[0] ? "; " : "", s->no_auth);
	GUARD_GOTO(json_parse((const char *)b.mem.buf, b.mem.len, "token response", &j));
	tok = json_string_value(json_object_get(j, "token"));
	if (!tok || !*tok)
		tok = json_string_value(json_object_get(j, "access_token"));
	ENSURE_GOTO(tok && *tok && strlen(tok) < 16384 && !strpbrk(tok, "\r\n"), ERR_INVAL,
	            "token from %s: no usable token in the response", origin);
	pthread_mutex_lock(&s->mu);
	secret_free(s->bearer);
	s->bearer = strdup(tok);
	pthread_mutex_unlock(&s->mu);
	ENSURE_GOTO(s->bearer, ERR_NOMEM, "out of memory");
	log_debug("image.pull", "registry=%s token=obtained", s->ref.host);
out:
	if (b.mem.buf)
		OPENSSL_cleanse(b.mem.buf, b.mem.len);
	wbuf_free(&b.mem);
	wbuf_free(&b.err);
	wbuf_free(&b.hdr);
	json_decref(j); /* jansson keeps the token in freed memory: short-lived */
	secret_free(basic);
	curl_free(svc);
	curl_free(scope);
	free(url);
	return rc;
}

/* The Authorization value for the registry now, or NULL; a new string. */
static char *auth_value(struct session *s, int *basic_sent)
{
	char *v = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->bearer) {
		v = malloc(strlen(s->bearer) + 8);
		if (v)
			sprintf(v, "Bearer %s", s->bearer);
	} else if (s->basic && *basic_sent) {
		v = malloc(strlen(s->basic) + 8);
		if (v)
			sprintf(v, "Basic %s", s->basic);
	}
	pthread_mutex_unlock(&s->mu);
	return v;
}

/* GET url (at the registry) with auth, following redirects (the
 * Authorization only to the registry's origin).  x->status is the final
 * status; the caller judges it. */
static int registry_get(struct session *s, struct exchange *x, struct body *b)
{
	char url[2048], origin[300];
	int challenged = 0, basic_on = 0, rc = 0;

	snprintf(url, sizeof(url), "%s", x->url);
	for (int hop = 0;; hop++) {
		char *auth = NULL;
		struct exchange y = *x;
		GUARD(url_origin(s->o, url, origin, sizeof(origin)));
		if (!strcmp(origin, s->origin))
			auth = auth_value(s, &basic_on);
		y.url = url;
		y.auth = auth;
		rc = exchange_once(s, &y, b);
		secret_free(auth);
		x->status = y.status;
		x->transport = y.transport;
		GUARD(rc);
		if (y.status == 401 && !strcmp(origin, s->origin) && !challenged) {
			struct oci_challenge ch;
			char *wa = resp_header(b, "WWW-Authenticate");
			challenged = 1;
			rc = wa ? oci_challenge_parse(wa, &ch)
			        : err_set(ERR_VERIFY, "%s: HTTP 401 without a challenge",
			                  s->ref.host);
			free(wa);
			GUARD(rc);
			if (!strcasecmp(ch.scheme, "Bearer")) {
				GUARD(err_wrap(token_fetch(s, &ch), "registry %s", s->ref.host));
			} else {
				ENSURE(s->basic, ERR_VERIFY,
				       "registry %s asks for credentials (Basic) and none are "
				       "configured for it%s%s",
				       s->ref.host, s->no_auth[0] ? "; " : "", s->no_auth);
				basic_on = 1;
			}
			hop--;
			continue;
		}
		if (y.status == 401)
			return err_set(ERR_VERIFY, "registry %s: HTTP 401 (%s)%s%s", s->ref.host,
			               s->basic ? "credentials refused" : "authentication required",
			               s->no_auth[0] ? "; " : "", s->no_auth);
		if (y.status >= 300 && y.status < 400 && y.location[0]) {
			ENSURE(hop < MAX_REDIRECTS, ERR_IO, "%.200s: more than %d redirects",
			       x->url, MAX_REDIRECTS);
			snprintf(url, sizeof(url), "%s", y.location);
			continue;
		}
		return 0;
	}
}

/* with_auth: look up credentials (not for a layout, read offline). */
static int session_open(struct session *s, const struct oci_opts *o, const char *ref, int with_auth)
{
	char hostname[256];
	int rc;
	memset(s, 0, sizeof(*s));
	s->o = o;
	pthread_mutex_init(&s->mu, NULL);
	pthread_once(&curl_once, curl_init);
	GUARD(oci_ref_parse(ref, &s->ref));
	GUARD(oci_ref_hostname(&s->ref, hostname, sizeof(hostname)));
	if (o->timeout_s)
		s->deadline = mono_now() + o->timeout_s;
	snprintf(s->origin, sizeof(s->origin), "%s://%s",
	         plain_allowed(o, s->ref.host) ? "http" : "https", s->ref.host);
	{
		/* ports made explicit, as url_origin writes them */
		char base[310];
		snprintf(base, sizeof(base), "%s/", s->origin);
		GUARD(url_origin(o, base, s->origin, sizeof(s->origin)));
	}
	if (!with_auth)
		return 0;
	rc = oci_auth_lookup(o->auth_file, s->ref.host, &s->basic);
	{
		/* credentials saved for "host" are for its default port only,
		 * as docker reads them: never for another service on host:5000 */
		const char *colon = strrchr(s->ref.host, ':'), *rb = strrchr(s->ref.host, ']');
		int other_port = colon && (!rb || colon > rb) && strcmp(colon, ":443") != 0;
		if (rc == 0 && !s->basic && !other_port && strcmp(hostname, s->ref.host) != 0)
			rc = oci_auth_lookup(o->auth_file, hostname, &s->basic);
	}
	if (rc == ERR_UNSUPPORTED) {
		/* public images need no credentials: go on anonymously, and say
		 * why there are none if the registry asks for them */
		snprintf(s->no_auth, sizeof(s->no_auth), "%s", err_msg());
		rc = 0;
	}
	return rc;
}

static void session_close(struct session *s)
{
	secret_free(s->basic);
	secret_free(s->bearer);
	s->basic = s->bearer = NULL;
	pthread_mutex_destroy(&s->mu);
}

/* A registry's error body for a message that may end in a task's public
 * failure reason: the wbuf holds exactly err.len bytes (no NUL after
 * them), and what leaves is printable ASCII, bounded. */
static const char *err_text(const struct body *b, char out[256])
{
	out[0] = '\0';
	if (b->err.len)
		str_printable(out, 256, (const char *)b->err.buf, b->err.len);
	return out;
}

static void body_free(struct body *b)
{
	wbuf_free(&b->mem);
	wbuf_free(&b->err);
	wbuf_free(&b->hdr);
}

static void sleep_ms(unsigned ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&t, NULL);
}

/* ---------- manifests ---------- */

static int sha256_hex(const void *p, size_t n, char out[72])
{
	uint8_t h[32];
	ENSURE(EVP_Digest(p, n, h, NULL, EVP_sha256(), NULL), ERR_CRYPTO, "sha256 unavailable");
	memcpy(out, "sha256:", 7);
	hex_encode(out + 7, h, 32);
	return 0;
}

/* A manifest or index by tag or digest, its digest verified. */
struct fetched {
	uint8_t *buf;
	size_t len;
	char digest[72];
	char media_type[128];
	json_t *j;
};

static void fetched_free(struct fetched *f)
{
	free(f->buf);
	json_decref(f->j);
	memset(f, 0, sizeof(*f));
}

static int check_manifest(struct fetched *f, const char *what, const char *ctype)
{
	const char *mt;
	long long sv;
	GUARD(json_parse((const char *)f->buf, f->len, what, &f->j));
	ENSURE(json_is_object(f->j), ERR_INVAL, "%s: not a JSON object", what);
	mt = json_string_value(json_object_get(f->j, "mediaType"));
	if (!mt)
		mt = ctype;
	sv = json_get_ll(f->j, "schemaVersion", 0);
	ENSURE(sv != 1 && (!mt || (strcmp(mt, OCI_MT_DOCKER_V1) && strcmp(mt, OCI_MT_DOCKER_V1S))),
	       ERR_UNSUPPORTED,
	       "%s: a Docker schema 1 manifest, which is not supported (push the image again "
	       "with a current tool)",
	       what);
	ENSURE(sv == 2, ERR_UNSUPPORTED, "%s: schemaVersion %lld unsupported", what, sv);
	if (!mt || !*mt)
		mt = oci_is_index(f->j) ? OCI_MT_INDEX : OCI_MT_MANIFEST;
	ENSURE(!strcmp(mt, OCI_MT_INDEX) || !strcmp(mt, OCI_MT_MANIFEST) ||
	           !strcmp(mt, OCI_MT_DOCKER_LIST) || !strcmp(mt, OCI_MT_DOCKER_V2),
	       ERR_UNSUPPORTED, "%s: media type '%.100s' unsupported", what, mt);
	snprintf(f->media_type, sizeof(f->media_type), "%s", mt);
	return 0;
}

static int is_retryable(const struct exchange *x)
{
	return x->transport || x->status >= 500 || x->status == 429;
}

static int manifest_get(struct session *s, const char *reference, struct fetched *f)
{
	char url[1024], what[700], ebody[256];
	struct exchange x = {0};
	struct body b = {.fd = -1, .cap = OCI_MANIFEST_MAX};
	char *dcd = NULL, *ctype = NULL;
	int rc = 0;
	unsigned wait = s->o->backoff_ms;

	memset(f, 0, sizeof(*f));
	snprintf(what, sizeof(what), "%s/%s manifest %s", s->ref.host, s->ref.repo, reference);
	GUARD(
	    path_fmt(url, sizeof(url), "%s/v2/%s/manifests/%s", s->origin, s->ref.repo, reference));
	x.url = url;
	x.accept = accept_all;
	for (unsigned i = 0; i < s->o->attempts; i++) {
		b.mem.len = 0;
		rc = registry_get(s, &x, &b);
		if (!(rc == ERR_IO && x.transport) && !(rc == 0 && is_retryable(&x)))
			break;
		log_warn("image.pull", "manifest=\"%s\" try=%u error=\"%s\"", what, i + 1,
		         rc < 0 ? err_msg() : "server error");
		if (i + 1 < s->o->attempts) {
			sleep_ms(wait);
			wait *= 2;
		}
	}
	if (rc == ERR_TOOBIG)
		rc = err_set(ERR_TOOBIG, "%s: over %u bytes", what, OCI_MANIFEST_MAX);
	GUARD_GOTO(rc);
	ENSURE_GOTO(x.status != 404, ERR_NOTFOUND, "%s: not found", what);
	ENSURE_GOTO(x.status == 200, ERR_IO, "%s: HTTP %ld %s", what, x.status,
	            err_text(&b, ebody));
	f->len = b.mem.len;
	f->buf = wbuf_take(&b.mem, &f->len);
	if (!f->buf)
		f->buf = calloc(1, 1);
	ENSURE_GOTO(f->buf, ERR_NOMEM, "out of memory");
	GUARD_GOTO(sha256_hex(f->buf, f->len, f->digest));
	dcd = resp_header(&b, "Docker-Content-Digest");
	if (oci_digest_valid(reference)) {
		ENSURE_GOTO(!strcmp(f->digest, reference), ERR_VERIFY,
		            "%s: the registry served a manifest whose digest is %s", what,
		            f->digest);
	} else if (dcd && *dcd) {
		ENSURE_GOTO(!strcmp(dcd, f->digest), ERR_VERIFY,
		            "%s: Docker-Content-Digest %.80s but the body's digest is %s", what,
		            dcd, f->digest);
	}
	ctype = resp_header(&b, "Content-Type");
	if (ctype)
		ctype[strcspn(ctype, "; \r\n")] = 0;
	GUARD_GOTO(check_manifest(f, what, ctype));
out:
	free(dcd);
	free(ctype);
	body_free(&b);
	if (rc < 0)
		fetched_free(f);
	return rc;
}

/* ---------- the store ---------- */

static int blob_path(char *out, size_t cap, const char *layout, const char *digest,
                     const char *suffix)
{
	return path_fmt(out, cap, "%s/blobs/sha256/%s%s", layout, digest + 7, suffix);
}

static int store_init(const char *layout)
{
	char path[PATH_MAX];
	static const char oci_layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	GUARD(path_fmt(path, sizeof(path), "%s/blobs/sha256", layout));
	GUARD(dir_create(path, 0755));
	GUARD(path_fmt(path, sizeof(path), "%s/oci-layout", layout));
	if (access(path, F_OK) != 0)
		GUARD(file_write(path, oci_layout, strlen(oci_layout), 0644));
	return 0;
}

/* 1 when the store holds the blob with that digest (re-hashed), 0 when it
 * does not (a file there that does not match is removed). */
static int store_has(const char *layout, const char *digest)
{
	char path[PATH_MAX];
	uint8_t h[32], want[32];
	GUARD(blob_path(path, sizeof(path), layout, digest, ""));
	if (file_sha256(path, 0, h) < 0)
		return 0;
	GUARD(hex_decode_exact(want, 32, digest + 7, "digest"));
	if (CRYPTO_memcmp(h, want, 32) == 0)
		return 1;
	log_warn("image.pull", "blob=%s store=mismatch action=remove", digest);
	if (unlink(path) != 0 && errno != ENOENT)
		return err_set(ERR_IO, "%s: %s", path, strerror(errno));
	return 0;
}

static int store_put(const char *layout, const char *digest, const void *p, size_t n)
{
	char path[PATH_MAX];
	int rc = store_has(layout, digest);
	GUARD(rc);
	if (rc == 1)
		return 0;
	GUARD(blob_path(path, sizeof(path), layout, digest, ""));
	return file_write(path, p, n, 0644);
}

struct blob_job {
	const char *digest;
	uint64_t size;
	int rc;
	char msg[600];
};

/* Hash the first n bytes of fd into md. */
static int hash_prefix(int fd, uint64_t n, EVP_MD_CTX *md)
{
	uint8_t buf[1 << 16];
	uint64_t left = n;
	if (lseek(fd, 0, SEEK_SET) != 0)
		return err_set(ERR_IO, "lseek: %s", strerror(errno));
	while (left) {
		ssize_t r = read(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return err_set(ERR_IO, "read: %s", r < 0 ? strerror(errno) : "short file");
		EVP_DigestUpdate(md, buf, (size_t)r);
		left -= (uint64_t)r;
	}
	return 0;
}

/* One blob into the store: resumed from its .partial, retried with
 * backoff, verified before the rename.  Two pullers of the same blob
 * (tasks, processes) take turns on the .partial's lock; the second finds
 * the blob in place. */
static int blob_fetch(struct session *s, const char *layout, const char *digest, uint64_t size)
{
	char path[PATH_MAX], part[PATH_MAX], url[1024], label[24], ebody[256];
	struct body b = {.fd = -1};
	struct exchange x = {0};
	uint8_t want[32], got[32];
	unsigned wait = s->o->backoff_ms;
	struct timespec t0, t1;
	struct stat st;
	int rc, fd = -1;

	GUARD(blob_path(path, sizeof(path), layout, digest, ""));
	GUARD(blob_path(part, sizeof(part), layout, digest, ".partial"));
	GUARD(hex_decode_exact(want, 32, digest + 7, "digest"));
	rc = store_has(layout, digest);
	GUARD(rc);
	if (rc == 1) {
		log_info("image.pull", "blob=%.19s bytes=%llu cached=1", digest,
		         (unsigned long long)size);
		return 0;
	}
	fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	ENSURE(fd >= 0, ERR_IO, "%s: %s", part, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_info("image.pull", "blob=%.19s wait=another-pull", digest);
		if (flock(fd, LOCK_EX) != 0) {
			close(fd);
			return err_set(ERR_IO, "%s: lock: %s", part, strerror(errno));
		}
	}
	/* the lock holder before us may have finished it */
	rc = store_has(layout, digest);
	if (rc != 0) {
		close(fd);
		return rc < 0 ? rc : 0;
	}
	if (fstat(fd, &st) != 0 || st.st_nlink == 0) {
		/* our .partial was renamed or removed while we waited: start over */
		close(fd);
		return blob_fetch(s, layout, digest, size);
	}
	b.md = EVP_MD_CTX_new();
	ENSURE_GOTO(b.md, ERR_NOMEM, "out of memory");
	b.fd = fd;
	b.total = size;
	snprintf(label, sizeof(label), "%.19s", digest);
	b.label = label;
	GUARD_GOTO(path_fmt(url, sizeof(url), "%s/v2/%s/blobs/%s", s->origin, s->ref.repo, digest));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	b.last = t0;
	for (unsigned i = 0; i < s->o->attempts; i++) {
		uint64_t have;
		ENSURE_GOTO(fstat(fd, &st) == 0, ERR_IO, "%s: %s", part, strerror(errno));
		have = (uint64_t)st.st_size;
		if (have > size) {
			ENSURE_GOTO(ftruncate(fd, 0) == 0, ERR_IO, "%s: %s", part, strerror(errno));
			have = 0;
		}
		EVP_DigestInit_ex(b.md, EVP_sha256(), NULL);
		GUARD_GOTO(hash_prefix(fd, have, b.md));
		ENSURE_GOTO(lseek(fd, (off_t)have, SEEK_SET) == (off_t)have, ERR_IO, "%s: %s", part,
		            strerror(errno));
		b.done = b.resume_from = have;
		if (have == size) {
			rc = 0;
			x.status = 200;
			break;
		}
		if (have)
			log_info("image.pull", "blob=%s resume=%llu total=%llu", label,
			         (unsigned long long)have, (unsigned long long)size);
		x.url = url;
		x.accept = NULL;
		x.range_from = have;
		rc = registry_get(s, &x, &b);
		if (rc == 0 && (x.status == 200 || x.status == 206)) {
			if (b.done == size)
				break;
			/* the server closed cleanly short of the size */
			rc = err_set(ERR_IO, "%s: %llu of %llu bytes", url,
			             (unsigned long long)b.done, (unsigned long long)size);
			x.transport = 1;
		}
		if (rc == 0 && x.status == 416) { /* our range is past its end */
			ENSURE_GOTO(ftruncate(fd, 0) == 0, ERR_IO, "%s: %s", part, strerror(errno));
			continue;
		}
		if (rc == 0 && !is_retryable(&x)) {
			rc = err_set(x.status == 404 ? ERR_NOTFOUND : ERR_IO, "HTTP %ld%s%s",
			             x.status, b.err.len ? " " : "", err_text(&b, ebody));
			break;
		}
		if (rc == 0)
			rc = err_set(ERR_IO, "HTTP %ld", x.status);
		if (!(rc == ERR_IO && x.transport) && !(x.status >= 500 || x.status == 429))
			break;
		log_warn("image.pull", "blob=%s try=%u done=%llu error=\"%s\"", label, i + 1,
		         (unsigned long long)b.done, err_msg());
		if (i + 1 < s->o->attempts) {
			sleep_ms(wait);
			wait *= 2;
		}
	}
	if (rc < 0) {
		err_wrap(rc, "blob %s from %s", digest, s->ref.host);
		goto out;
	}
	EVP_DigestFinal_ex(b.md, got, NULL);
	if (b.done != size || CRYPTO_memcmp(got, want, 32) != 0) {
		/* a blob that is not what it claims is worth nothing: not kept */
		if (unlink(part) != 0 && errno != ENOENT)
			log_warn("image.pull", "partial=\"%s\" removed=0", part);
		rc = err_set(ERR_VERIFY, "blob %s from %s does not match its digest", digest,
		             s->ref.host);
		goto out;
	}
	ENSURE_GOTO(fsync(fd) == 0 && rename(part, path) == 0, ERR_IO, "%s: %s", path,
	            strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	{
		double sec = now_s(&t1) - now_s(&t0);
		log_info("image.pull", "blob=%s bytes=%llu seconds=%.2f rate_mib_s=%.2f", label,
		         (unsigned long long)size, sec,
		         sec > 0 ? (double)size / 1048576.0 / sec : 0.0);
	}
out:
	/* kept only between this pull's retries: a pull that failed for good
	 * leaves nothing (a store has no quota yet, docs/registry.md); a
	 * puller waiting on our lock sees it unlinked and starts over */
	if (rc < 0 && unlink(part) != 0 && errno != ENOENT)
		log_warn("image.pull", "partial=\"%s\" removed=0", part);
	EVP_MD_CTX_free(b.md);
	body_free(&b);
	close(fd); /* drops the lock */
	return rc;
}

/* ---------- concurrent layers ---------- */

struct pool {
	struct session *s;
	const char *layout;
	struct blob_job *jobs;
	size_t n, next;
	int failed;
	pthread_mutex_t mu;
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;
	for (;;) {
		struct blob_job *j;
		pthread_mutex_lock(&p->mu);
		if (p->next >= p->n || p->failed) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		j = &p->jobs[p->next++];
		pthread_mutex_unlock(&p->mu);
		j->rc = blob_fetch(p->s, p->layout, j->digest, j->size);
		if (j->rc < 0) {
			snprintf(j->msg, sizeof(j->msg), "%s", err_msg());
			pthread_mutex_lock(&p->mu);
			p->failed = 1; /* the other downloads finish their blob, no more */
			pthread_mutex_unlock(&p->mu);
		}
	}
}

static int blobs_fetch(struct session *s, const char *layout, struct blob_job *jobs, size_t n)
{
	struct pool p = {s, layout, jobs, n, 0, 0, PTHREAD_MUTEX_INITIALIZER};
	pthread_t th[OCI_JOBS_MAX];
	unsigned nt = s->o->jobs ? s->o->jobs : 1, started = 0;
	if (nt > OCI_JOBS_MAX)
		nt = OCI_JOBS_MAX;
	if (nt > n)
		nt = (unsigned)n;
	for (unsigned i = 0; i < nt; i++)
		if (pthread_create(&th[i], NULL, pool_worker, &p) == 0)
			started++;
	if (!started && n)
		pool_worker(&p);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < n; i++)
		if (jobs[i].rc < 0)
			return err_set(jobs[i].rc, "%s", jobs[i].msg);
	return 0;
}

/* ---------- descriptors ---------- */

/* A descriptor's digest and size, checked. */
static int desc_get(const json_t *d, const char *what, const char **digest, uint64_t *size,
                    uint64_t cap)
{
	long long sz;
	*digest = json_string_value(json_object_get(d, "digest"));
	ENSURE(json_is_object(d) && oci_digest_valid(*digest), ERR_INVAL,
	       "%s: a descriptor without a sha256 digest", what);
	ENSURE(json_get_int_range(d, "size", 0, (long long)INT64_MAX, &sz) == 0, ERR_INVAL,
	       "%s %s: bad size", what, *digest);
	ENSURE((uint64_t)sz <= cap, ERR_TOOBIG, "%s %s: %lld bytes, over the cap of %llu", what,
	       *digest, sz, (unsigned long long)cap);
	*size = (uint64_t)sz;
	return 0;
}

/* The manifest's layers, checked against the caps before any download. */
static int layers_plan(const struct oci_opts *o, const json_t *m, const char *mdigest,
                       struct blob_job **out, size_t *n, uint64_t *total)
{
	const json_t *layers = json_object_get(m, "layers");
	size_t nl = json_array_size(layers);
	struct blob_job *jobs;

	*out = NULL;
	*n = 0;
	*total = 0;
	ENSURE(json_is_array(layers) && nl > 0, ERR_INVAL, "manifest %s has no layers", mdigest);
	ENSURE(nl <= OCI_LAYERS_MAX, ERR_TOOBIG, "manifest %s has %zu layers, over the cap of %d",
	       mdigest, nl, OCI_LAYERS_MAX);
	jobs = calloc(nl, sizeof(*jobs));
	ENSURE(jobs, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < nl; i++) {
		int rc = desc_get(json_array_get(layers, i), "layer", &jobs[i].digest,
		                  &jobs[i].size, o->max_image);
		if (rc == ERR_TOOBIG || (rc == 0 && *total + jobs[i].size > o->max_image))
			rc = err_set(ERR_TOOBIG,
			             "image %s: its layers are over %llu MiB compressed "
			             "(--max-image-size)",
			             mdigest, (unsigned long long)(o->max_image >> 20));
		if (rc < 0) {
			free(jobs);
			return rc;
		}
		*total += jobs[i].size;
	}
	*out = jobs;
	*n = nl;
	return 0;
}

/* ---------- index.json ---------- */

static int index_record(const char *layout, const char *name, const struct fetched *top)
{
	char path[PATH_MAX];
	json_t *idx = NULL, *ms, *d = NULL;
	int dfd, rc = 0;

	dfd = open(layout, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ENSURE(dfd >= 0, ERR_IO, "%s: %s", layout, strerror(errno));
	/* one writer of index.json at a time; written by rename, read freely */
	if (flock(dfd, LOCK_EX) != 0) {
		rc = err_set(ERR_IO, "%s: lock: %s", layout, strerror(errno));
		goto out;
	}
	GUARD_GOTO(path_fmt(path, sizeof(path), "%s/index.json", layout));
	if (access(path, F_OK) == 0)
		GUARD_GOTO(json_load_path(path, 16u << 20, &idx));
	else
		idx = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType", OCI_MT_INDEX,
		                "manifests");
	ENSURE_GOTO(json_is_object(idx), ERR_INVAL, "%s: not an image index", path);
	ms = json_object_get(idx, "manifests");
	if (!json_is_array(ms)) {
		ms = json_array();
		json_object_set_new(idx, "manifests", ms);
	}
	/* the name now points here: an older entry of that name goes */
	for (size_t i = json_array_size(ms); i-- > 0;) {
		const char *n = json_string_value(
		    json_object_get(json_object_get(json_array_get(ms, i), "annotations"),
		                    "org.opencontainers.image.ref.name"));
		if (n && !strcmp(n, name))
			json_array_remove(ms, i);
	}
	d = json_pack("{s:s,s:s,s:I,s:{s:s}}", "mediaType", top->media_type, "digest", top->digest,
	              "size", (json_int_t)top->len, "annotations",
	              "org.opencontainers.image.ref.name", name);
	ENSURE_GOTO(d && json_array_append_new(ms, d) == 0, ERR_NOMEM, "out of memory");
	GUARD_GOTO(json_write_path(path, idx, 0644));
out:
	json_decref(idx);
	close(dfd); /* drops the lock */
	return rc;
}

/* ---------- pull ---------- */

int oci_pull(const struct oci_opts *o, const char *ref, const char *layout, char digest[72])
{
	struct session s;
	struct fetched top = {0}, man = {0}, cfg = {0};
	struct blob_job *jobs = NULL, cj;
	const json_t *pick = NULL;
	const struct fetched *m = &top;
	char name[600];
	size_t nl = 0;
	uint64_t total = 0;
	struct timespec t0, t1;
	int rc;

	digest[0] = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = session_open(&s, o, ref, 1);
	GUARD_GOTO(rc);
	if (!s.ref.tag[0] && !s.ref.digest[0])
		snprintf(s.ref.tag, sizeof(s.ref.tag), "latest");
	GUARD_GOTO(oci_ref_format(&s.ref, name, sizeof(name)));
	GUARD_GOTO(store_init(layout));
	log_info("image.pull", "ref=\"%s\"", name);
	GUARD_GOTO(manifest_get(&s, s.ref.digest[0] ? s.ref.digest : s.ref.tag, &top));
	if (oci_is_index(top.j)) {
		const char *d;
		uint64_t sz;
		rc = oci_index_pick(top.j, &pick);
		if (rc < 0) {
			err_wrap(rc, "%s (%s)", name, top.digest);
			goto out;
		}
		GUARD_GOTO(desc_get(pick, "manifest", &d, &sz, OCI_MANIFEST_MAX));
		GUARD_GOTO(manifest_get(&s, d, &man));
		ENSURE_GOTO(man.len == sz, ERR_VERIFY,
		            "manifest %s: %zu bytes, the index says %llu", d, man.len,
		            (unsigned long long)sz);
		ENSURE_GOTO(!oci_is_index(man.j), ERR_UNSUPPORTED,
		            "%s: an index inside an index is not supported", d);
		m = &man;
	}
	GUARD_GOTO(layers_plan(o, m->j, m->digest, &jobs, &nl, &total));
	GUARD_GOTO(desc_get(json_object_get(m->j, "config"), "config", &cj.digest, &cj.size,
	                    OCI_CONFIG_MAX));
	log_info("image.pull", "ref=\"%s\" digest=%s manifest=%s layers=%zu bytes=%llu", name,
	         top.digest, m->digest, nl, (unsigned long long)total);
	/* the blobs first, the manifests they make whole after */
	GUARD_GOTO(blob_fetch(&s, layout, cj.digest, cj.size));
	GUARD_GOTO(blobs_fetch(&s, layout, jobs, nl));
	if (m != &top)
		GUARD_GOTO(store_put(layout, man.digest, man.buf, man.len));
	GUARD_GOTO(store_put(layout, top.digest, top.buf, top.len));
	GUARD_GOTO(index_record(layout, name, &top));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	{
		double sec = now_s(&t1) - now_s(&t0);
		log_info("image.pull",
		         "ref=\"%s\" digest=%s bytes=%llu seconds=%.2f rate_mib_s=%.2f", name,
		         top.digest, (unsigned long long)total, sec,
		         sec > 0 ? (double)total / 1048576.0 / sec : 0.0);
	}
	memcpy(digest, top.digest, 72);
out:
	free(jobs);
	fetched_free(&top);
	fetched_free(&man);
	fetched_free(&cfg);
	session_close(&s);
	return rc;
}

/* ---------- inspect ---------- */

/* Where inspect reads: a registry session, or a layout. */
struct source {
	struct session *s;
	const char *layout;
};

/* A blob of the layout into memory, checked against its digest. */
static int layout_blob(const char *layout, const char *digest, size_t cap, struct fetched *f)
{
	char path[PATH_MAX];
	int rc;
	memset(f, 0, sizeof(*f));
	GUARD(blob_path(path, sizeof(path), layout, digest, ""));
	rc = file_read(path, cap, &f->buf, &f->len);
	if (rc < 0 && access(path, F_OK) != 0)
		return err_set(ERR_NOTFOUND, "%s is not in %s", digest, layout);
	GUARD(rc);
	GUARD(sha256_hex(f->buf, f->len, f->digest));
	if (strcmp(f->digest, digest) != 0) {
		fetched_free(f);
		return err_set(ERR_VERIFY, "%s: blob %s does not match its digest", layout, digest);
	}
	return 0;
}

static int source_manifest(struct source *src, const char *reference, struct fetched *f)
{
	char what[200];
	if (src->s)
		return manifest_get(src->s, reference, f);
	GUARD(layout_blob(src->layout, reference, OCI_MANIFEST_MAX, f));
	snprintf(what, sizeof(what), "%s manifest %s", src->layout, reference);
	return check_manifest(f, what, NULL);
}

static int source_config(struct source *src, const char *digest, uint64_t size, json_t **out)
{
	struct fetched f = {0};
	int rc;
	*out = NULL;
	if (src->s) {
		char url[1024];
		struct exchange x = {0};
		struct body b = {.fd = -1, .cap = OCI_CONFIG_MAX};
		GUARD(path_fmt(url, sizeof(url), "%s/v2/%s/blobs/%s", src->s->origin,
		               src->s->ref.repo, digest));
		x.url = url;
		rc = registry_get(src->s, &x, &b);
		if (rc == 0 && x.status != 200)
			rc = err_set(x.status == 404 ? ERR_NOTFOUND : ERR_IO, "config %s: HTTP %ld",
			             digest, x.status);
		if (rc == 0) {
			f.len = b.mem.len;
			f.buf = wbuf_take(&b.mem, &f.len);
			rc = f.buf && f.len == size
			         ? sha256_hex(f.buf, f.len, f.digest)
			         : err_set(ERR_VERIFY,
			                   "config %s: %zu bytes, the "
			                   "manifest says %llu",
			                   digest, f.len, (unsigned long long)size);
			if (rc == 0 && strcmp(f.digest, digest) != 0)
				rc = err_set(ERR_VERIFY, "config %s does not match its digest",
				             digest);
		}
		body_free(&b);
	} else {
		rc = layout_blob(src->layout, digest, OCI_CONFIG_MAX, &f);
	}
	if (rc == 0)
		rc = json_parse((const char *)f.buf, f.len, "image config", out);
	fetched_free(&f);
	return rc;
}

/* The digest index.json gives `name` (the normalized reference, or the
 * name as written). */
static int layout_lookup(const char *layout, const char *name, const char *raw, char *out)
{
	char path[PATH_MAX];
	json_t *idx = NULL, *ms;
	int rc = ERR_NOTFOUND;
	GUARD(path_fmt(path, sizeof(path), "%s/index.json", layout));
	GUARD(json_load_path(path, 16u << 20, &idx));
	ms = json_object_get(idx, "manifests");
	for (size_t i = 0; i < json_array_size(ms) && rc < 0; i++) {
		const json_t *d = json_array_get(ms, i);
		const char *n = json_string_value(json_object_get(
		    json_object_get(d, "annotations"), "org.opencontainers.image.ref.name"));
		const char *dg = json_string_value(json_object_get(d, "digest"));
		if (n && oci_digest_valid(dg) && (!strcmp(n, name) || !strcmp(n, raw))) {
			memcpy(out, dg, 72);
			rc = 0;
		}
	}
	json_decref(idx);
	if (rc < 0)
		return err_set(ERR_NOTFOUND, "%s: no image named %s in index.json", layout, raw);
	return 0;
}

static json_t *config_strings(const json_t *c, const char *key)
{
	const json_t *v = json_object_get(c, key);
	return json_is_array(v) ? json_deep_copy(v) : json_null();
}

int oci_inspect(const struct oci_opts *o, const char *ref, const char *layout, int require_amd64,
                json_t **out)
{
	struct session s;
	struct source src = {NULL, layout};
	struct fetched top = {0}, man = {0};
	const struct fetched *m = &top;
	json_t *res = NULL, *cfg = NULL, *plats = NULL, *amd = NULL;
	const json_t *pick = NULL, *c;
	char name[600], want[160];
	int rc;

	*out = NULL;
	rc = session_open(&s, o, ref, !layout);
	GUARD_GOTO(rc);
	if (!s.ref.tag[0] && !s.ref.digest[0])
		snprintf(s.ref.tag, sizeof(s.ref.tag), "latest");
	GUARD_GOTO(oci_ref_format(&s.ref, name, sizeof(name)));
	if (layout) {
		if (s.ref.digest[0])
			memcpy(want, s.ref.digest, 72);
		else
			GUARD_GOTO(layout_lookup(layout, name, ref, want));
	} else {
		src.s = &s;
		snprintf(want, sizeof(want), "%s", s.ref.digest[0] ? s.ref.digest : s.ref.tag);
	}
	GUARD_GOTO(source_manifest(&src, want, &top));
	res = json_pack("{s:s,s:s,s:s,s:I}", "reference", name, "digest", top.digest, "mediaType",
	                top.media_type, "size", (json_int_t)top.len);
	ENSURE_GOTO(res, ERR_NOMEM, "out of memory");
	if (oci_is_index(top.j)) {
		const json_t *ms = json_object_get(top.j, "manifests");
		plats = json_array();
		ENSURE_GOTO(plats, ERR_NOMEM, "out of memory");
		for (size_t i = 0; i < json_array_size(ms); i++) {
			const json_t *d = json_array_get(ms, i);
			char pn[128];
			oci_platform_name(d, pn, sizeof(pn));
			json_array_append_new(plats,
			                      json_pack("{s:s,s:O,s:O}", "platform", pn, "digest",
			                                json_object_get(d, "digest"), "size",
			                                json_object_get(d, "size")));
		}
		json_object_set(res, "platforms", plats);
		rc = oci_index_pick(top.j, &pick);
		if (rc == ERR_NOTFOUND && !require_amd64) {
			json_object_set_new(res, "linux/amd64", json_null());
			rc = 0;
			goto done;
		}
		if (rc < 0) {
			err_wrap(rc, "%s (%s)", name, top.digest);
			goto out;
		}
		{
			const char *d;
			uint64_t sz;
			GUARD_GOTO(desc_get(pick, "manifest", &d, &sz, OCI_MANIFEST_MAX));
			GUARD_GOTO(source_manifest(&src, d, &man));
			ENSURE_GOTO(!oci_is_index(man.j), ERR_UNSUPPORTED,
			            "%s: an index inside an index is not supported", d);
		}
		m = &man;
	}
	{
		struct blob_job *jobs = NULL, cj;
		size_t nl = 0;
		uint64_t total = 0;
		struct oci_opts lax = *o;
		lax.max_image = UINT64_MAX >> 1; /* inspect reports sizes, it does not refuse */
		GUARD_GOTO(layers_plan(&lax, m->j, m->digest, &jobs, &nl, &total));
		free(jobs);
		GUARD_GOTO(desc_get(json_object_get(m->j, "config"), "config", &cj.digest, &cj.size,
		                    OCI_CONFIG_MAX));
		GUARD_GOTO(source_config(&src, cj.digest, cj.size, &cfg));
		c = json_object_get(cfg, "config");
		amd = json_pack("{s:s,s:I,s:I,s:o,s:o,s:o,s:s,s:s}", "digest", m->digest, "layers",
		                (json_int_t)nl, "compressedSize", (json_int_t)total, "entrypoint",
		                config_strings(c, "Entrypoint"), "cmd", config_strings(c, "Cmd"),
		                "env", config_strings(c, "Env"), "workingDir",
		                json_string_value(json_object_get(c, "WorkingDir"))
		                    ? json_string_value(json_object_get(c, "WorkingDir"))
		                    : "",
		                "user",
		                json_string_value(json_object_get(c, "User"))
		                    ? json_string_value(json_object_get(c, "User"))
		                    : "");
		ENSURE_GOTO(amd, ERR_NOMEM, "out of memory");
		json_object_set_new(res, "linux/amd64", amd);
	}
done:
	*out = res;
	res = NULL;
out:
	json_decref(res);
	json_decref(cfg);
	json_decref(plats);
	fetched_free(&top);
	fetched_free(&man);
	session_close(&s);
	return rc;
}
