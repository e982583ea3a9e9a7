/* ref.h — what an OCI distribution client parses: image references,
 * WWW-Authenticate challenges, docker config.json credentials, and the
 * platform choice in an image index.
 *
 * All of it comes from users or registries and is validated strictly: a
 * reference that docker would not accept is refused here too. */
#ifndef TDEXEC_OCI_REF_H
#define TDEXEC_OCI_REF_H

#include "util/err.h"

#include <jansson.h>
#include <stddef.h>

#define OCI_MT_INDEX       "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_MT_DOCKER_V2   "application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MT_DOCKER_V1   "application/vnd.docker.distribution.manifest.v1+json"
#define OCI_MT_DOCKER_V1S  "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* Docker Hub's registry, and the key its credentials have in config.json. */
#define OCI_DOCKER_HUB      "registry-1.docker.io"
#define OCI_DOCKER_HUB_AUTH "https://index.docker.io/v1/"

/* [HOST[:PORT]/]PATH[:TAG][@sha256:HEX], as docker reads it: the first
 * component is a host when it holds a '.' or a ':' or is "localhost";
 * otherwise the registry is Docker Hub, where a one-component name gets
 * "library/".  Path components are lower-case [a-z0-9] runs joined by
 * '.', '_', "__" or '-'s; a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
struct oci_ref {
	char host[256];  /* "registry-1.docker.io", "127.0.0.1:5000", "[::1]:5000" */
	char repo[256];  /* "library/alpine" */
	char tag[129];   /* "" when none */
	char digest[72]; /* "sha256:<64 lower-case hex>", "" when none */
};

/* Parse `s` into *r.  ERR_INVAL with a message naming what is wrong. */
MUST_CHECK int oci_ref_parse(const char *s, struct oci_ref *r);
/* "HOST/REPO[:TAG][@DIGEST]" into out (cap bytes); ERR_TOOBIG. */
MUST_CHECK int oci_ref_format(const struct oci_ref *r, char *out, size_t cap);
/* The reference's registry host without its port or brackets. */
MUST_CHECK int oci_ref_hostname(const struct oci_ref *r, char *out, size_t cap);
/* 1 when d is "sha256:" and 64 lower-case hex digits. */
int oci_digest_valid(const char *d);

/* A WWW-Authenticate challenge: `Bearer realm="…",service="…",scope="…"`
 * or `Basic realm="…"`.  Unknown parameters are ignored; a value over its
 * field's size is refused. */
struct oci_challenge {
	char scheme[16]; /* "Bearer" or "Basic" (as sent; compare ignoring case) */
	char realm[1024];
	char service[256];
	char scope[512];
};
MUST_CHECK int oci_challenge_parse(const char *hdr, struct oci_challenge *c);

/* Credentials for `host` (a reference's host; Docker Hub's are looked up
 * under OCI_DOCKER_HUB_AUTH too) from a docker config.json: `file`, or
 * when NULL $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else
 * ~/.docker/config.json (a default file that does not exist is no
 * credentials; an explicit one that does not exist is ERR_NOTFOUND).
 * *basic is base64("user:pass") (free() after wiping it), or NULL when
 * there are none.  An entry naming only a credential helper is
 * ERR_UNSUPPORTED. */
MUST_CHECK int oci_auth_lookup(const char *file, const char *host, char **basic);

/* In an image index (OCI or Docker list), the manifest for linux/amd64
 * (the variant is not looked at).  *desc is the borrowed descriptor.
 * ERR_NOTFOUND "image index has no linux/amd64 manifest (platforms: …)". */
MUST_CHECK int oci_index_pick(const json_t *index, const json_t **desc);
/* 1 when the JSON is an image index (by mediaType or a "manifests"
 * array). */
int oci_is_index(const json_t *m);
/* "os/arch[/variant]" of a descriptor into out. */
void oci_platform_name(const json_t *desc, char *out, size_t cap);

#endif
