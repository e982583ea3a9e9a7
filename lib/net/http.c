#include "http.h"

#include "util/err.h"
#include "util/log.h"
#include "util/json.h"
#include "util/metrics.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* What the client did, process-wide. */
static atomic_ullong n_requests, n_connects, n_peer_checks, peer_ids;

/* ---------- connections kept between calls ----------
 *
 * Each thread keeps one libcurl handle per policy it calls under, and the
 * handle's own connection cache is the reuse: a connection is only ever
 * reused by a call under the policy it was opened (and checked) under, by
 * construction.  A share handle (CURL_LOCK_DATA_CONNECT) would pool the
 * connections of all policies: curl matches a connection to a request by
 * scheme, host, port and its own TLS options, and knows nothing of the
 * destination check or the peer check run when the connection was opened,
 * so a public-only fetch could ride a connection opened to a private
 * address by an unchecked call.  Per thread, the transfers take no lock;
 * the cost is a connection per thread and server, not per request. */
#define KEEP_SLOTS 4
/* An attested connection is also closed when the peer's epoch moves (new
 * collateral, CRLs, a gate opened again: checked before each call), and
 * this long after its handshake, so that what moves with time alone (the
 * collateral's validity, a TCB status dated by it) is checked again too. */
#define KEEP_ATTESTED_MAX_S 300L

/* A peer check in progress: the verdict outlives the handshake. */
struct peer_call {
	const struct http_peer *peer;
	int refused;
	char why[512];
};

struct kept {
	CURL *c; /* NULL: a free slot */
	const struct http_dest *dest;
	uint64_t peer_id;
	/* the peer's epoch read before c was made: each of its connections
	 * was checked under inputs at least that new */
	uint64_t epoch;
	/* the handshake's verify callback gets this: it lives as long as c */
	struct peer_call pc;
	uint64_t used;
};

struct keep {
	struct kept slot[KEEP_SLOTS];
	uint64_t tick;
};

static pthread_key_t keep_key;

static void keep_free(void *arg)
{
	struct keep *k = arg;
	for (size_t i = 0; i < KEEP_SLOTS; i++)
		if (k->slot[i].c)
			curl_easy_cleanup(k->slot[i].c);
	free(k);
}

static int keep_ok;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	keep_ok = pthread_key_create(&keep_key, keep_free) == 0;
}

/* The slot of this thread for a call's policy, its handle possibly NULL;
 * NULL when the policy's connections are not kept (a destination check
 * other than the public one, whose context may change between calls; a
 * peer without an id) or out of memory (the call then runs as one). */
static struct kept *keep_slot(const struct http_dest *dest, const struct http_peer *peer)
{
	uint64_t id = peer ? peer->id : 0;
	struct keep *k;
	struct kept *lru = NULL;

	if (!keep_ok || (dest && dest != &http_dest_public) || (peer && !id))
		return NULL;
	k = pthread_getspecific(keep_key);
	if (!k) {
		k = calloc(1, sizeof(*k));
		if (!k)
			return NULL;
		if (pthread_setspecific(keep_key, k) != 0) {
			free(k);
			return NULL;
		}
	}
	k->tick++;
	for (size_t i = 0; i < KEEP_SLOTS; i++) {
		struct kept *s = &k->slot[i];
		if (s->c && s->dest == dest && s->peer_id == id) {
			s->used = k->tick;
			return s;
		}
		if (!lru || !s->c || (lru->c && s->used < lru->used))
			lru = s;
	}
	if (lru->c)
		curl_easy_cleanup(lru->c); /* closes its connections */
	memset(lru, 0, sizeof(*lru));
	lru->dest = dest;
	lru->peer_id = id;
	lru->used = k->tick;
	return lru;
}

void http_peer_init(struct http_peer *p, int (*check)(void *ctx, const uint8_t *der, size_t len),
                    void *ctx, uint64_t (*epoch)(void *ctx))
{
	p->check = check;
	p->ctx = ctx;
	p->id = atomic_fetch_add(&peer_ids, 1) + 1;
	p->epoch = epoch;
}

void http_counters(struct http_counters *out)
{
	out->requests = atomic_load(&n_requests);
	out->connects = atomic_load(&n_connects);
	out->peer_checks = atomic_load(&n_peer_checks);
}

int http_counters_render(struct wbuf *w)
{
	struct http_counters n;
	http_counters(&n);
	const struct {
		const char *name, *help;
		uint64_t v;
	} c[] = {
	    {"tdexec_http_client_requests_total", "HTTP requests sent, retries included",
	     n.requests},
	    {"tdexec_http_client_connections_total", "Connections opened by the HTTP client",
	     n.connects},
	    {"tdexec_http_client_peer_checks_total",
	     "TLS peers checked by their certificate (RA-TLS handshakes)", n.peer_checks},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		GUARD(metrics_header(w, c[i].name, c[i].help, METRIC_COUNTER));
		GUARD(wbuf_printf(w, "%s %llu\n", c[i].name, (unsigned long long)c[i].v));
	}
	return 0;
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

/* OpenSSL's whole-chain verification, replaced by the peer's check of
 * the leaf certificate. */
static int peer_verify(X509_STORE_CTX *xs, void *arg)
{
	struct peer_call *pc = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	uint8_t *der = NULL;
	int n = leaf ? i2d_X509(leaf, &der) : -1;

	atomic_fetch_add(&n_peer_checks, 1);
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
	/* the check runs once, at the handshake that opens the connection:
	 * no session is resumed (it would show no certificate) and no
	 * renegotiation runs it again later */
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	return CURLE_OK;
}

/* ---------- where a request may connect ---------- */

/* IPv4, as a host-order integer. */
static enum http_addr_class classify_v4(uint32_t a)
{
	static const struct {
		uint32_t net, mask;
		enum http_addr_class c;
	} ranges[] = {
	    {0x00000000, 0xff000000, HTTP_ADDR_UNSPECIFIED}, /* 0/8 "this network" */
	    {0x0a000000, 0xff000000, HTTP_ADDR_PRIVATE},     /* 10/8 */
	    {0x64400000, 0xffc00000, HTTP_ADDR_SHARED},      /* 100.64/10 */
	    {0x7f000000, 0xff000000, HTTP_ADDR_LOOPBACK},    /* 127/8 */
	    {0xa9fe0000, 0xffff0000, HTTP_ADDR_LINK_LOCAL},  /* 169.254/16 */
	    {0xac100000, 0xfff00000, HTTP_ADDR_PRIVATE},     /* 172.16/12 */
	    {0xc0000000, 0xffffff00, HTTP_ADDR_RESERVED},    /* 192.0.0/24 IETF */
	    {0xc0000200, 0xffffff00, HTTP_ADDR_RESERVED},    /* 192.0.2/24 documentation */
	    {0xc0586300, 0xffffff00, HTTP_ADDR_RESERVED},    /* 192.88.99/24 6to4 relays */
	    {0xc0a80000, 0xffff0000, HTTP_ADDR_PRIVATE},     /* 192.168/16 */
	    {0xc6120000, 0xfffe0000, HTTP_ADDR_RESERVED},    /* 198.18/15 benchmarking */
	    {0xc6336400, 0xffffff00, HTTP_ADDR_RESERVED},    /* 198.51.100/24 documentation */
	    {0xcb007100, 0xffffff00, HTTP_ADDR_RESERVED},    /* 203.0.113/24 documentation */
	    {0xe0000000, 0xf0000000, HTTP_ADDR_MULTICAST},   /* 224/4 */
	    {0xffffffff, 0xffffffff, HTTP_ADDR_BROADCAST},   /* 255.255.255.255 */
	    {0xf0000000, 0xf0000000, HTTP_ADDR_RESERVED},    /* 240/4 */
	};
	for (size_t i = 0; i < sizeof(ranges) / sizeof(*ranges); i++)
		if ((a & ranges[i].mask) == ranges[i].net)
			return ranges[i].c;
	return HTTP_ADDR_PUBLIC;
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An IPv6 form of an IPv4 address: what the IPv4 address is, and at best
 * `otherwise` when that is public. */
static enum http_addr_class embedded_v4(const uint8_t *v4, enum http_addr_class otherwise)
{
	enum http_addr_class c = classify_v4(be32_at(v4));
	return c == HTTP_ADDR_PUBLIC ? otherwise : c;
}

/* b starts with the first `bits` bits of p (p holds ceil(bits / 8) bytes). */
static int prefix_is(const uint8_t b[16], const uint8_t *p, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	if (memcmp(b, p, full) != 0)
		return 0;
	return rest == 0 || ((b[full] ^ p[full]) & (0xff00u >> rest) & 0xff) == 0;
}

static enum http_addr_class classify_v6(const uint8_t b[16])
{
	static const uint8_t zero[16], mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
	                               translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0},
	                               nat64[12] = {0, 0x64, 0xff, 0x9b},
	                               nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1},
	                               discard[8] = {1, 0}, teredo_ietf[3] = {0x20, 0x01, 0},
	                               doc[4] = {0x20, 0x01, 0x0d, 0xb8}, doc2[3] = {0x3f, 0xff, 0},
	                               six_to_four[2] = {0x20, 0x02};
	static const struct {
		const uint8_t *p;
		unsigned bits;
		enum http_addr_class c;
	} ranges[] = {
	    {nat64_local, 48, HTTP_ADDR_PRIVATE},  /* 64:ff9b:1::/48, local-use NAT64 */
	    {discard, 64, HTTP_ADDR_RESERVED},     /* 100::/64 */
	    {doc, 32, HTTP_ADDR_RESERVED},         /* 2001:db8::/32 */
	    {teredo_ietf, 23, HTTP_ADDR_RESERVED}, /* 2001::/23 IETF, Teredo */
	    {doc2, 20, HTTP_ADDR_RESERVED},        /* 3fff::/20 documentation */
	};
	static const uint8_t fc[1] = {0xfc}, fe80[2] = {0xfe, 0x80}, fec0[2] = {0xfe, 0xc0},
	                     ff[1] = {0xff}, global[1] = {0x20};

	if (memcmp(b, zero, 16) == 0)
		return HTTP_ADDR_UNSPECIFIED;
	if (memcmp(b, zero, 15) == 0 && b[15] == 1)
		return HTTP_ADDR_LOOPBACK;
	if (memcmp(b, mapped, 12) == 0)
		return embedded_v4(b + 12, HTTP_ADDR_PUBLIC);
	/* deprecated forms: never public, whatever they embed */
	if (memcmp(b, zero, 12) == 0 || memcmp(b, translated, 12) == 0)
		return embedded_v4(b + 12, HTTP_ADDR_RESERVED);
	if (memcmp(b, nat64, 12) == 0)
		return embedded_v4(b + 12, HTTP_ADDR_PUBLIC);
	if (prefix_is(b, six_to_four, 16))
		return embedded_v4(b + 2, HTTP_ADDR_PUBLIC);
	for (size_t i = 0; i < sizeof(ranges) / sizeof(*ranges); i++)
		if (prefix_is(b, ranges[i].p, ranges[i].bits))
			return ranges[i].c;
	if (prefix_is(b, fc, 7))
		return HTTP_ADDR_UNIQUE_LOCAL;
	if (prefix_is(b, fe80, 10))
		return HTTP_ADDR_LINK_LOCAL;
	if (prefix_is(b, fec0, 10))
		return HTTP_ADDR_PRIVATE; /* site-local, deprecated */
	if (prefix_is(b, ff, 8))
		return HTTP_ADDR_MULTICAST;
	return prefix_is(b, global, 3) ? HTTP_ADDR_PUBLIC : HTTP_ADDR_RESERVED;
}

enum http_addr_class http_addr_classify(const struct sockaddr *sa, size_t len)
{
	if (!sa)
		return HTTP_ADDR_INVALID;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof(in));
		return classify_v4(ntohl(in.sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 in6;
		memcpy(&in6, sa, sizeof(in6));
		return classify_v6(in6.sin6_addr.s6_addr);
	}
	return HTTP_ADDR_INVALID;
}

enum http_addr_class http_addr_classify_text(const char *ip)
{
	uint8_t b[16];
	if (!ip)
		return HTTP_ADDR_INVALID;
	if (inet_pton(AF_INET, ip, b) == 1)
		return classify_v4(be32_at(b));
	if (inet_pton(AF_INET6, ip, b) == 1)
		return classify_v6(b);
	return HTTP_ADDR_INVALID;
}

const char *http_addr_class_name(enum http_addr_class c)
{
	static const char *const names[] = {
	    "public",       "loopback",          "unspecified",
	    "link-local",   "private",           "shared address space (carrier-grade NAT)",
	    "unique local", "multicast",         "broadcast",
	    "reserved",     "not an IP address",
	};
	return (unsigned)c < sizeof(names) / sizeof(*names) ? names[c] : "unknown";
}

/* Every socket the client opens is close-on-exec: kept connections outlive
 * their call, and a program the process starts (an app in its sandbox)
 * must not inherit a connection to the scheduler or the SMS. */
static curl_socket_t open_socket_cloexec(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)arg;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* The address as text, for messages. */
static void addr_text(const struct sockaddr *sa, size_t len, char *out, size_t cap)
{
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	const char *p = NULL;
	if (sa && sa->sa_family == AF_INET && len >= sizeof(in)) {
		memcpy(&in, sa, sizeof(in));
		p = inet_ntop(AF_INET, &in.sin_addr, out, (socklen_t)cap);
	} else if (sa && sa->sa_family == AF_INET6 && len >= sizeof(in6)) {
		memcpy(&in6, sa, sizeof(in6));
		p = inet_ntop(AF_INET6, &in6.sin6_addr, out, (socklen_t)cap);
	}
	if (!p)
		snprintf(out, cap, "(family %d)", sa ? sa->sa_family : -1);
}

int http_dest_public_check(void *ctx, const struct sockaddr *sa, size_t len)
{
	enum http_addr_class c = http_addr_classify(sa, len);
	char a[INET6_ADDRSTRLEN + 16];
	(void)ctx;
	if (c == HTTP_ADDR_PUBLIC)
		return 0;
	addr_text(sa, len, a, sizeof(a));
	return err_set(ERR_VERIFY, "address %s is not public (%s)", a, http_addr_class_name(c));
}

const struct http_dest http_dest_public = {http_dest_public_check, NULL};

static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct http_dest_call *dc = arg;
	struct sockaddr_storage ss;
	size_t len = a->addrlen;
	int rc;

	if (purpose != CURLSOCKTYPE_IPCXN || len > sizeof(ss))
		rc = err_set(ERR_VERIFY, "unexpected connection (type %d)", (int)purpose);
	else {
		memcpy(&ss, &a->addr, len); /* curl's address is as long as addrlen */
		rc = dc->dest->check(dc->dest->ctx, (const struct sockaddr *)&ss, len);
	}
	if (rc < 0) {
		if (!dc->refused)
			snprintf(dc->why, sizeof(dc->why), "%s", err_msg());
		dc->refused = 1;
		return CURL_SOCKET_BAD;
	}
	return open_socket_cloexec(NULL, purpose, a);
}

void http_dest_attach(void *curl, struct http_dest_call *dc)
{
	curl_easy_setopt(curl, CURLOPT_PROXY, "");
	curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, dc);
}

static int attempt(const char *url, const struct http_call *post, const struct http_dest *dest,
                   size_t max_body, long timeout_s, struct http_response *r, int *transport_error)
{
	const struct http_peer *peer = post ? post->peer : NULL;
	struct http_dest_call dc = {dest, 0, ""};
	struct curl_slist *hdrs = NULL;
	struct sink body = {&r->body, max_body, 0}, hdr = {&r->headers, 64 * 1024, 0};
	struct peer_call once = {peer, 0, ""}, *pc = &once;
	/* read before any handshake of this call: the check it runs then
	 * reads inputs at least this new (their owner moves it after them) */
	uint64_t epoch = peer && peer->epoch ? peer->epoch(peer->ctx) : 0;
	struct kept *k;
	CURL *c;
	CURLcode cc;
	long connects = 0;

	*transport_error = 0;
	ENSURE(!peer || strncasecmp(url, "https://", 8) == 0, ERR_INVAL,
	       "%s: an attested peer is reached over https only", url);
	k = keep_slot(dest, peer);
	if (k && k->c && k->epoch != epoch) {
		/* admitted under inputs that changed since: checked again on a
		 * new connection, whatever the old check said */
		log_info("http.peer_epoch", "url=\"%s\" kept_epoch=%llu epoch=%llu", url,
		         (unsigned long long)k->epoch, (unsigned long long)epoch);
		curl_easy_cleanup(k->c); /* closes its connections */
		k->c = NULL;
	}
	if (k && k->c) {
		c = k->c; /* reset after its last transfer */
	} else {
		c = curl_easy_init();
		ENSURE(c, ERR_NOMEM, "curl: cannot initialise");
		if (k) {
			k->c = c;
			k->epoch = epoch;
		}
	}
	if (k) {
		pc = &k->pc;
		*pc = once;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, dest ? 5L : 3L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, peer ? "https" : "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, peer ? "https" : "http,https");
	if (dest)
		http_dest_attach(c, &dc);
	else
		curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket_cloexec);
	if (peer) {
		/* the peer's identity is its measurements, not a name */
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
		curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, pc);
		/* a resumed session skips the certificate, so the check */
		curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
		curl_easy_setopt(c, CURLOPT_MAXLIFETIME_CONN, KEEP_ATTESTED_MAX_S);
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
	atomic_fetch_add(&n_requests, 1);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
		atomic_fetch_add(&n_connects, (unsigned long long)connects);
	if (cc != CURLE_OK && dc.refused) {
		char *eff = NULL;
		curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
		if (eff && strcmp(eff, url) != 0)
			err_set(ERR_VERIFY, "%s (redirected to %s): %s", url, eff, dc.why);
		else
			err_set(ERR_VERIFY, "%s: %s", url, dc.why);
	}
	if (!k || cc != CURLE_OK) {
		/* a failed transfer's connections are not worth keeping */
		curl_easy_cleanup(c);
		if (k)
			k->c = NULL;
	} else {
		/* the options point into this frame and the caller's (the sinks,
		 * dc, the headers, the body): back to their defaults, the
		 * connections stay open; NOSIGNAL again, or the handle's cleanup
		 * (a thread's exit) would flip the process's SIGPIPE */
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	}
	curl_slist_free_all(hdrs);
	if (cc != CURLE_OK && dc.refused)
		return ERR_VERIFY;
	if (pc->refused)
		return err_set(ERR_VERIFY, "%s: the peer's attestation is refused: %s", url,
		               pc->why);
	if (body.too_big)
		return err_set(ERR_TOOBIG, "%s: response over %zu bytes", url, max_body);
	if (cc != CURLE_OK) {
		/* a certificate that does not verify, a URL or a redirect that
		 * is refused, will not pass on a second try */
		*transport_error = cc != CURLE_PEER_FAILED_VERIFICATION &&
		                   cc != CURLE_UNSUPPORTED_PROTOCOL && cc != CURLE_URL_MALFORMAT &&
		                   cc != CURLE_TOO_MANY_REDIRECTS;
		return err_set(ERR_IO, "%s: %s", url, curl_easy_strerror(cc));
	}
	return wbuf_u8(&r->headers, 0) == 0 ? 0 : ERR_NOMEM;
}

static int request_to(const char *url, const struct http_call *post, const struct http_dest *dest,
                      size_t max_body, long timeout_s, struct http_response *r)
{
	int rc = 0, transport = 0;

	pthread_once(&curl_once, curl_init);
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 3; i++) {
		wbuf_free(&r->body);
		wbuf_free(&r->headers);
		rc = attempt(url, post, dest, max_body, timeout_s, r, &transport);
		if (rc == 0 || !transport)
			break;
		log_warn("http.retry", "url=\"%s\" try=%d error=\"%s\"", url, i + 1, err_msg());
		if (i < 2)
			usleep((useconds_t)(200000u << i));
	}
	if (rc < 0) { /* a failed request leaves nothing to free */
		wbuf_free(&r->body);
		wbuf_free(&r->headers);
	}
	return rc;
}

static int request(const char *url, const struct http_call *post, size_t max_body, long timeout_s,
                   struct http_response *r)
{
	return request_to(url, post, NULL, max_body, timeout_s, r);
}

int http_fetch(const char *url, const struct http_dest *dest, size_t max_body, long timeout_s,
               struct http_response *r)
{
	return request_to(url, NULL, dest, max_body, timeout_s, r);
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
                   const json_t *body, size_t max_body, long timeout_s, long *status, json_t **out)
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
