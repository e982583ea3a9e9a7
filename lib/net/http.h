/* http.h — a small HTTP client over libcurl for fetching documents. */
#ifndef TDEXEC_NET_HTTP_H
#define TDEXEC_NET_HTTP_H

#include "util/bytes.h"
#include "util/err.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct http_response {
	long status;
	struct wbuf body;
	struct wbuf headers; /* raw header lines, NUL-terminated */
};

/* GET url.  Transport errors are retried (3 attempts, backoff); an HTTP
 * error status is not an error here (check r->status).  The body is capped
 * at max_body bytes.  Returns 0 or ERR_IO with curl's reason; after an
 * error `r` holds nothing to free (for every call below too). */
MUST_CHECK int http_get(const char *url, size_t max_body, long timeout_s, struct http_response *r);
/* POST a body with the given Content-Type; same rules as http_get. */
MUST_CHECK int http_post(const char *url, const char *content_type, const void *body, size_t len,
                         size_t max_body, long timeout_s, struct http_response *r);
/* The same with an Authorization header value (auth NULL = none). */
MUST_CHECK int http_get_auth(const char *url, const char *auth, size_t max_body, long timeout_s,
                             struct http_response *r);
MUST_CHECK int http_post_auth(const char *url, const char *auth, const char *content_type,
                              const void *body, size_t len, size_t max_body, long timeout_s,
                              struct http_response *r);
/* Connections are kept open between calls and reused, per thread and per
 * policy: a call reuses a connection only if its thread opened it for a
 * call under the same destination policy (none, or http_dest_public) and
 * the same peer (none, or the same http_peer_init peer).  Calls under any
 * other policy open their own connections and close them after.  A
 * thread's connections are closed when it exits. */

/* What this process's client did since it started. */
struct http_counters {
	uint64_t requests;    /* requests sent, retries included */
	uint64_t connects;    /* connections opened (TCP connects) */
	uint64_t peer_checks; /* peer checks run (RA-TLS handshakes) */
};
void http_counters(struct http_counters *out);
/* The same as Prometheus counters (tdexec_http_client_*_total).
 * ERR_NOMEM. */
MUST_CHECK int http_counters_render(struct wbuf *w);

/* Where a request may connect: every address curl is about to connect to
 * (each address a name resolves to, for the first URL and after every
 * redirect) is given to `check`, which returns 0 to allow it or an error
 * (err_set) to refuse it.  A request whose connections are refused fails
 * with ERR_VERIFY "URL: <the check's message>" (naming the redirect target
 * when there was one) and is not retried. */
struct http_dest {
	int (*check)(void *ctx, const struct sockaddr *sa, size_t len);
	void *ctx;
};

/* What an address is, by the IANA special-purpose registries.  IPv4-mapped,
 * IPv4-compatible, IPv4-translated, 6to4 and NAT64 (64:ff9b::/96) IPv6
 * addresses are what their embedded IPv4 address is; IPv6 outside
 * 2000::/3 and the ranges named here is RESERVED. */
enum http_addr_class {
	HTTP_ADDR_PUBLIC = 0,
	HTTP_ADDR_LOOPBACK,     /* 127/8, ::1 */
	HTTP_ADDR_UNSPECIFIED,  /* 0/8, :: */
	HTTP_ADDR_LINK_LOCAL,   /* 169.254/16 (cloud metadata), fe80::/10 */
	HTTP_ADDR_PRIVATE,      /* RFC 1918, fec0::/10, 64:ff9b:1::/48 */
	HTTP_ADDR_SHARED,       /* 100.64/10 (carrier-grade NAT) */
	HTTP_ADDR_UNIQUE_LOCAL, /* fc00::/7 */
	HTTP_ADDR_MULTICAST,    /* 224/4, ff00::/8 */
	HTTP_ADDR_BROADCAST,    /* 255.255.255.255 */
	HTTP_ADDR_RESERVED,     /* 240/4, documentation, benchmarking, IETF, ... */
	HTTP_ADDR_INVALID,      /* not an IPv4 or IPv6 socket address */
};
enum http_addr_class http_addr_classify(const struct sockaddr *sa, size_t len);
/* The same for a numeric address ("10.0.0.1", "::ffff:127.0.0.1");
 * HTTP_ADDR_INVALID when it is not one. */
enum http_addr_class http_addr_classify_text(const char *ip);
/* "public", "loopback", "link-local", ... */
const char *http_addr_class_name(enum http_addr_class c);

/* The policy of fetches on behalf of others (a task's input files and
 * dataset): public addresses only.  Refuses with "address A is not public
 * (CLASS)". */
MUST_CHECK int http_dest_public_check(void *ctx, const struct sockaddr *sa, size_t len);
extern const struct http_dest http_dest_public;

/* A destination policy applied to one libcurl handle (`curl`, a CURL *):
 * every address it connects to is given to dc->dest first, proxies named
 * by the environment are not used (the policy judges the address actually
 * connected to), and the first refusal's message is kept in dc->why with
 * dc->refused set.  `dc` must outlive the transfer. */
struct http_dest_call {
	const struct http_dest *dest;
	int refused;
	char why[256];
};
void http_dest_attach(void *curl, struct http_dest_call *dc);

/* GET url (http or https only, redirects too; at most 5 redirects; the
 * body capped at max_body) connecting only where `dest` allows (NULL =
 * anywhere).  With a policy, proxies named by the environment are not used:
 * the policy judges the address actually connected to.  Otherwise as
 * http_get. */
MUST_CHECK int http_fetch(const char *url, const struct http_dest *dest, size_t max_body,
                          long timeout_s, struct http_response *r);

/* A TLS peer admitted by its certificate instead of by a CA (RA-TLS):
 * during the handshake `check` gets the peer's leaf certificate (DER) and
 * returns 0 to admit it, or an error (err_set) to refuse it.  Calls with a
 * peer check must use https (redirects too) and are not retried when the
 * check refuses.  TLS sessions are never resumed under a peer check (a
 * resumed session shows no certificate to check).  A peer with id 0 (not
 * made by http_peer_init) has its connections closed after each call. */
struct http_peer {
	int (*check)(void *ctx, const uint8_t *der, size_t len);
	void *ctx;
	uint64_t id; /* http_peer_init's; 0 = connections not kept */
	/* the generation of what check's verdict rests on (collateral, CRLs,
	 * anchors, policy: tdx_ratls_peer_epoch), read before each call; NULL
	 * = a verdict that does not change */
	uint64_t (*epoch)(void *ctx);
};
/* Make a peer whose admitted connections are kept for later calls with
 * this very peer (same id), for at most 5 minutes after their handshake
 * and only while epoch(ctx) says what it said before their handshake: a
 * call that reads another value closes its thread's connections of the
 * peer and opens (and checks) a new one.  Calls with another peer, even
 * one made again from the same check and ctx, or with none, never use
 * them.  So `check` must give a certificate the same verdict for as long
 * as the peer is used and epoch does not move: after changing what ctx
 * says, make the peer again or move the epoch. */
void http_peer_init(struct http_peer *p, int (*check)(void *ctx, const uint8_t *der, size_t len),
                    void *ctx, uint64_t (*epoch)(void *ctx));

/* A request in full: POST `body` when content_type is set, else GET. */
struct http_call {
	const char *auth;         /* Authorization header value, or NULL */
	const char *content_type; /* NULL = GET */
	const void *body;
	size_t len;
	const struct http_peer *peer; /* NULL = the usual CA verification */
	const char *header;           /* one more "Name: value" header, or NULL */
};
MUST_CHECK int http_call(const char *url, const struct http_call *c, size_t max_body,
                         long timeout_s, struct http_response *r);

/* A JSON call: POST `body` (compact JSON) or GET when body is NULL, with
 * an Authorization value (NULL = none); replies over max_body bytes are
 * refused.  *status gets the HTTP status.  200: *out is the parsed reply;
 * 204: *out is NULL; any other status is ERR_IO "URL: HTTP N <the reply's
 * first 200 bytes>".  Request and reply texts are wiped before they are
 * freed (they may carry secrets). */
MUST_CHECK int http_json(const char *url, const char *auth, const json_t *body, size_t max_body,
                         long timeout_s, long *status, json_t **out);
/* http_json's reply rules for any request (a binary body, say). */
MUST_CHECK int http_call_json(const char *url, const struct http_call *c, size_t max_body,
                              long timeout_s, long *status, json_t **out);
/* The same with a peer check (NULL = none). */
MUST_CHECK int http_json_peer(const struct http_peer *peer, const char *url, const char *auth,
                              const json_t *body, size_t max_body, long timeout_s, long *status,
                              json_t **out);
/* A base URL to append paths to: `url` without its trailing slashes.
 * ERR_TOOBIG when it does not fit in cap bytes (never truncated). */
MUST_CHECK int http_base_url(char *dst, size_t cap, const char *url);
/* URL-encode a query value; a new string (free()) or NULL. */
char *http_escape(const char *s);
void http_response_free(struct http_response *r);

/* Value of header `name` (case-insensitive), URL-decoded when `decode`, as a
 * new string (free()); NULL when absent. */
char *http_header(const struct http_response *r, const char *name, int decode);

#endif
