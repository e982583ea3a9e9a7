/* image.h — the worker's image store: OCI image layouts unpacked safely.
 *
 * Images come from a local OCI image layout (index.json + blobs/sha256/...,
 * as `skopeo copy ... oci:DIR`, `umoci` or `tdexec image pull` write them):
 * the image is named by the SHA-256 of its manifest or of its image index,
 * which must be the app's on-chain checksum.
 * Every blob is checked against its digest before it is used, each layer
 * against its diff_id, and layers are applied by layer.h's applier.
 *
 * An unpacked image is kept as DEST/rootfs, DEST/image.json (its config)
 * and DEST/tree.sha256, the digests of both; it is reused only when they
 * still hold, and unpacked again otherwise.  DEST is root-only (0700). */
#ifndef TDEXEC_WORKER_IMAGE_H
#define TDEXEC_WORKER_IMAGE_H

#include "layer.h"

#include <jansson.h>
#include <stdint.h>

struct image_opts {
	/* The user namespace the app runs in: container ids [0, id_count)
	 * are host ids [uid_base, uid_base + id_count) (and gid_base). */
	uint32_t uid_base, gid_base, id_count;
	struct layer_limits lim;
};

/* Defaults: no shift (bases 0), 65536 ids, layer_limits_default(). */
void image_opts_default(struct image_opts *o);

/* Unpack the image whose manifest or image index digest is `digest` from
 * `layout` into DEST (through DEST.tmp, renamed when complete), or reuse
 * DEST after checking its tree digest.  An index is resolved to its
 * linux/amd64 manifest (OCI or Docker media types).  *config is the image
 * config's "config" object (json_decref()).  ERR_NOTFOUND when the image
 * is not in the layout or an index has no linux/amd64 manifest (the
 * message lists its platforms), ERR_VERIFY on a digest mismatch,
 * ERR_UNSUPPORTED for an unknown layer type, ERR_TOOBIG past a cap,
 * ERR_INVAL for a refused entry; the message says which layer and entry. */
int image_unpack(const char *layout, const uint8_t digest[32], const char *dest,
                 const struct image_opts *o, json_t **config);

/* A digest over the tree at `rootfs`: in name order, each entry's relative
 * path, type, mode, owner, size, the SHA-256 of a regular file's bytes and
 * a symlink's target; never following a link.  ERR_IO, ERR_INVAL when the
 * tree is deeper than LAYER_MAX_DEPTH. */
int image_tree_digest(const char *rootfs, uint8_t out[32]);

/* Unpack an OCI archive (a tar of an image layout, as `skopeo copy ...
 * oci-archive:F` writes; gzip or zstd allowed) into the new directory
 * `dest` (what was there is removed).  Through the same applier: regular
 * files and directories only, owned by the caller. */
int image_archive_unpack(const char *archive, const char *dest);

#endif
