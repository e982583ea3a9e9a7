/* ratls.h — RA-TLS: a TLS certificate whose key is vouched for by the
 * serving TD's own quote, so a client admits the server by its measurements
 * instead of by a CA; and by the configuration the server runs with, since
 * the same measured code started with other settings (another root of
 * trust, another policy) is another server.
 *
 * Format: a self-signed certificate with two non-critical extensions, each
 * exactly once:
 *   TDX_RATLS_OID         the TD quote, a DER OCTET STRING (dstack's OID);
 *   TDX_RATLS_CONFIG_OID  the server's configuration document, a DER OCTET
 *                         STRING holding canonical JSON (below);
 * and the quote's REPORTDATA is proto_ratls_report_data(the certificate's
 * SubjectPublicKeyInfo DER, SHA-256 of the document).  The trust comes from
 * the quote: it binds the key and the document together.
 *
 * The document is a JSON object in canonical form (tdx_ratls_canonical:
 * compact, keys sorted, ASCII only, no duplicate key), so that its bytes, and
 * the hash a client pins, follow from its content alone.  A document that
 * says whom the server admits does so as
 *   "attestation": {"trust": {"kind": "intel"|"simulated",
 *                             "sha256": <hex SHA-256 of the root's DER>,
 *                             "subject": <the root's subject, RFC 2253>}, ...}
 * (tdx_ratls_anchor_json), or "attestation": null when it admits no TD. */
#ifndef TDEXEC_TDX_RATLS_H
#define TDEXEC_TDX_RATLS_H

#include "tdx/gate.h"
#include "tdx/provider.h"
#include "util/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct http_peer; /* net/http.h */

#define TDX_RATLS_OID "1.3.6.1.4.1.62397.1.1"
/* tdexec's arc: 2.25.N, a UUID OID (ITU-T X.667, no registration needed)
 * with N = 3209255768396141164, a random 62-bit number (the UUID's upper
 * bits zero) rather than a full 128-bit one, with which libmicrohttpd
 * (GnuTLS; libtasn1 decodes each arc into 64 bits) refused to load the
 * server's own certificate.  Under it, .1 = the configuration. */
#define TDX_RATLS_ARC        "2.25.3209255768396141164"
#define TDX_RATLS_CONFIG_OID TDX_RATLS_ARC ".1"
/* .2 = the key the server signs attestation-result tokens with (a public
 * JWK, canonical JSON; optional).  It is not in REPORTDATA: the quote binds
 * the certificate's key, and that key signs the certificate and so this
 * extension; only a certificate whose self-signature verifies is read for
 * it (tdx_ratls_ear_key).  Kept out of the configuration document so that
 * the document stays what an auditor recomputes from the settings alone
 * (sms config-hash) and a key rotation changes no pinned hash. */
#define TDX_RATLS_EAR_OID TDX_RATLS_ARC ".2"
/* The largest configuration document made or accepted. */
#define TDX_RATLS_CONFIG_MAX (64u << 10)

/* The canonical bytes of a JSON object (JSON_COMPACT | JSON_SORT_KEYS |
 * JSON_ENSURE_ASCII), a new NUL-terminated string (free()).  ERR_INVAL for
 * a non-object or a document past TDX_RATLS_CONFIG_MAX. */
MUST_CHECK int tdx_ratls_canonical(const json_t *doc, char **out, size_t *len);

/* Parse a configuration document: a JSON object, without duplicate keys,
 * in canonical form, at most TDX_RATLS_CONFIG_MAX bytes.  0 with a new
 * reference in *doc, or ERR_INVAL saying why. */
MUST_CHECK int tdx_ratls_config_parse(const uint8_t *bytes, size_t len, json_t **doc);

/* A verifier's trust anchor as a document member: {"kind": "intel" or
 * "simulated", "sha256": hex of its certificate's DER, "subject": RFC 2253}
 * (a new reference in *out). */
MUST_CHECK int tdx_ratls_anchor_json(const struct tdx_verifier *v, json_t **out);

/* A fresh P-256 key and a self-signed certificate for it (CN `subject`,
 * valid `days` days) carrying a quote from `p` and the configuration
 * document `config` (canonical, as tdx_ratls_canonical makes it): PEM texts,
 * new strings (free(); wipe the key first). */
MUST_CHECK int tdx_ratls_make(const struct tdx_provider *p, const char *subject, long days,
                              const char *config, size_t config_len, char **cert_pem,
                              char **key_pem);

/* The same, with the extension TDX_RATLS_EAR_OID holding `ear_jwk`
 * (canonical JSON; NULL: none). */
MUST_CHECK int tdx_ratls_make_ear(const struct tdx_provider *p, const char *subject, long days,
                                  const char *config, size_t config_len, const char *ear_jwk,
                                  char **cert_pem, char **key_pem);

/* The EAR signing key of a certificate (DER) that tdx_ratls_check admitted:
 * the certificate's self-signature must verify under its (quoted) key, the
 * extension hold a canonical P-256 JWK whose kid, if any, is its RFC 7638
 * thumbprint.  A new reference in *jwk and the thumbprint in kid (44
 * bytes); ERR_NOTFOUND when the certificate has none. */
MUST_CHECK int tdx_ratls_ear_key(const uint8_t *der, size_t len, json_t **jwk, char kid[44]);

/* What a client admits a server by. */
struct tdx_ratls_expect {
	struct tdx_gate *gate;      /* DCAP and the policy for the server's quote */
	const uint8_t *config_hash; /* 32 bytes: the document pinned; NULL = any */
	const char *format;         /* the document's "format" must be this; NULL = any */
};

/* Admit a server's certificate (DER): both extensions once; the quote
 * passes the gate; its REPORTDATA binds this certificate's key and
 * document; the document is canonical, matches the pin and the format, and
 * if it trusts a root other than Intel's, the gate trusts that very root
 * (a client never admits a server that trusts a simulated root it was not
 * told to trust itself).  0 with the verdict in *v, the document's SHA-256
 * in config_hash and the document in *config (both optional: NULL);
 * otherwise the reason in err_msg(). */
MUST_CHECK int tdx_ratls_check(const struct tdx_ratls_expect *e, const uint8_t *der, size_t len,
                               struct tdx_verdict *v, uint8_t config_hash[32], json_t **config);

/* tdx_ratls_check() as a net/http.h peer check, ctx = a struct
 * tdx_ratls_expect (read only: one serves concurrent calls). */
MUST_CHECK int tdx_ratls_peer_check(void *expect, const uint8_t *der, size_t len);
/* Its net/http.h peer epoch: expect's gate's (tdx_gate_epoch), so that a
 * kept connection is checked again once the collateral it was admitted
 * under changed, and not when another gate's did.  The pin and format of
 * `expect` are fixed for its life. */
uint64_t tdx_ratls_peer_epoch(void *expect);
/* A peer whose connections are kept (http_peer_init) with these two on
 * `expect`, which must outlive it. */
void tdx_ratls_peer_init(struct http_peer *p, struct tdx_ratls_expect *expect);

/* The quote in a certificate (DER) as a new buffer (free()); ERR_NOTFOUND
 * when it has none. */
MUST_CHECK int tdx_ratls_quote(const uint8_t *der, size_t len, uint8_t **quote, size_t *qlen);

/* Parse a pinned configuration hash (64 hex digits, optional 0x) given as
 * option `what`; ERR_INVAL naming it. */
int tdx_ratls_pin_parse(const char *hex, const char *what, uint8_t out[32]);

#endif
