/* layout.h — an OCI image layout kept as a cache: its images listed, and an
 * image removed with the blobs that only it uses.
 *
 * The layout is the one oci_pull() fills (registry.h): index.json names the
 * images, blobs/sha256/<hex> holds their manifests, configs and layers, and
 * one image's blobs may be another's (a shared base layer).  Removing an
 * image removes its index.json entries, then every blob it reached that no
 * remaining entry reaches.  Digests read from the layout are checked to be
 * "sha256:" and 64 lower-case hex digits before they name a file. */
#ifndef TDEXEC_OCI_LAYOUT_H
#define TDEXEC_OCI_LAYOUT_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct oci_layout_image {
	char digest[72]; /* "sha256:<hex>" of the index.json entry */
	time_t mtime;    /* of that blob (0 when it is missing) */
};

/* index.json's entries, one per distinct digest, in its order (*out is
 * free()d by the caller; NULL when there are none).  A layout without an
 * index.json has none. */
MUST_CHECK int oci_layout_images(const char *layout, struct oci_layout_image **out, size_t *n);

/* Remove the entries naming `digest` and the blobs only they reach (an
 * index's manifests, a manifest's config and layers), under the lock that
 * pulls take to write index.json.  *freed (may be NULL): the disk bytes of
 * the blobs removed.  ERR_NOTFOUND when no entry names `digest`. */
MUST_CHECK int oci_layout_remove(const char *layout, const char *digest, uint64_t *freed);

#endif
