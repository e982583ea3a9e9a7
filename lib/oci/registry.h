/* registry.h — an OCI distribution client that pulls into an OCI image
 * layout used as a verified content-addressed store.
 *
 * Manifests are fetched with the OCI and Docker v2 media types (schema 1
 * is refused), their SHA-256 checked against the digest asked for (or the
 * Docker-Content-Digest the registry gives for a tag), and an image index
 * resolved to linux/amd64.  Blobs stream to STORE/blobs/sha256/<hex>.partial
 * with their digest and size checked as bytes arrive, and are renamed to
 * <hex> only when both hold; an interrupted download resumes with a Range
 * request.  A blob already in the store is re-hashed, never trusted.
 *
 * Auth: anonymous, then the Bearer token flow of a 401's challenge (Basic
 * credentials to the realm when configured), or Basic.  Credentials and
 * tokens go to the host they are for only: redirects are followed here
 * (http/https, at most 5), and Authorization is dropped on a redirect to
 * another origin.  Every connection (registry, token realm, redirect
 * targets) goes through the options' address policy. */
#ifndef TDEXEC_OCI_REGISTRY_H
#define TDEXEC_OCI_REGISTRY_H

#include "net/http.h"
#include "util/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define OCI_PLAIN_MAX    8
#define OCI_MANIFEST_MAX (4u << 20)
#define OCI_CONFIG_MAX   (4u << 20)
#define OCI_LAYERS_MAX   512
#define OCI_IMAGE_MAX    (8ull << 30)
#define OCI_JOBS_DEFAULT 3
#define OCI_JOBS_MAX     16

struct oci_opts {
	const char *auth_file; /* docker config.json; NULL = ref.h's default search */
	const char *ca_file;   /* extra CA certificates (PEM) trusted for registries */
	const char *plain_http[OCI_PLAIN_MAX]; /* HOST:PORT reached over plain HTTP */
	size_t nplain;
	const struct http_dest *dest; /* where connections may go; NULL = anywhere */
	unsigned jobs;                /* concurrent blob downloads */
	uint64_t max_image;           /* total compressed bytes of an image */
	unsigned attempts;            /* per request: transport errors and 5xx */
	unsigned backoff_ms;          /* before the 2nd attempt, doubled after */
	/* the whole pull (or inspect), retries included: a registry that
	 * trickles bytes cannot hold the caller longer; 0 = no limit */
	unsigned timeout_s;
};

#define OCI_TIMEOUT_DEFAULT 1800

/* jobs 3, max_image 8 GiB, 4 attempts from 500 ms, a 30 min deadline, no
 * policy. */
void oci_opts_default(struct oci_opts *o);
/* Add HOST:PORT to the plain-HTTP list; ERR_INVAL when malformed or full. */
MUST_CHECK int oci_opts_plain_http(struct oci_opts *o, const char *hostport);

/* Pull `ref` (a tag or a digest; no tag means "latest") into the OCI
 * layout `layout` (created when missing): the top manifest or index, the
 * linux/amd64 manifest, its config and layers; index.json then names the
 * top one (org.opencontainers.image.ref.name = the reference).  digest
 * gets "sha256:<hex>" of the top one, as the registry shows it.  Errors:
 * ERR_INVAL (reference), ERR_VERIFY (a digest or the address policy),
 * ERR_TOOBIG (a cap), ERR_NOTFOUND (no such image, no linux/amd64),
 * ERR_UNSUPPORTED (schema 1, a media type), ERR_IO (transport, after the
 * retries; naming the blob and the registry). */
MUST_CHECK int oci_pull(const struct oci_opts *o, const char *ref, const char *layout,
                        char digest[72]);

/* Describe `ref` from its registry, or from the layout `layout` when not
 * NULL (by digest, else by the ref name index.json gives it; every blob
 * read is checked against its digest).  *out:
 *   {"reference", "digest", "mediaType", "size",
 *    "platforms": [{"platform","digest","size"}...]  (an index only),
 *    "linux/amd64": {"digest","layers","compressedSize","entrypoint","cmd",
 *                    "env","workingDir","user"} }
 * With require_amd64, an index without linux/amd64 is ERR_NOTFOUND
 * listing the platforms; otherwise "linux/amd64" is null then. */
MUST_CHECK int oci_inspect(const struct oci_opts *o, const char *ref, const char *layout,
                           int require_amd64, json_t **out);

#endif
