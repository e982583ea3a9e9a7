/* layer.h — apply one OCI image layer (an untrusted tar) to a rootfs.
 *
 * The layer is read with libarchive (tar, tar+gzip, tar+zstd), never
 * extracted by it: each entry is written by this module with calls relative
 * to a directory fd inside the rootfs.  The rules:
 *
 * - The layer's diff_id (SHA-256 of the uncompressed tar) and every cap are
 *   checked in a first pass that writes nothing; the second pass writes and
 *   checks the digest again.
 * - Entry names: a leading "/" and "." components are dropped; a ".."
 *   component refuses the layer.  Parent directories are resolved inside
 *   the root (openat2 RESOLVE_IN_ROOT, or an equivalent walk with
 *   O_NOFOLLOW when the kernel lacks openat2): a symlink met on the way is
 *   followed as the container would see it, "/" and ".." never leaving the
 *   rootfs.  A missing parent is created (0755); a parent that is a link to
 *   nothing refuses the layer.  The last component is never followed.
 * - A non-directory replaces whatever a lower layer left at its name; a
 *   directory over a directory merges (the new entry's metadata wins).
 * - Symlink targets are stored as they are (only the container resolves
 *   them).  Hard links must name a regular file already in the rootfs.
 * - Device nodes, sockets and FIFOs are skipped (counted, logged once per
 *   layer).  setuid and setgid bits are dropped; sticky stays on
 *   directories.  xattrs (file capabilities included) are not applied.
 * - Whiteouts: ".wh.NAME" removes NAME as lower layers left it, and
 *   ".wh..wh..opq" empties its directory of what lower layers put there;
 *   what this layer adds stays, whatever the order of the entries.
 * - Owners are shifted into a user namespace: container id N becomes
 *   base + N; an id >= id_count refuses the layer.
 * - mtimes and permission bits come from the tar.
 *
 * Errors name the layer and the entry ("layer 2: entry 'escape/x': ...").
 * After an error the rootfs is partly written: the caller discards it. */
#ifndef TDEXEC_WORKER_LAYER_H
#define TDEXEC_WORKER_LAYER_H

#include <stddef.h>
#include <stdint.h>

/* Caps over a whole image (all its layers): exceeding one is an error
 * naming the cap. */
struct layer_limits {
	uint64_t max_total;   /* uncompressed bytes: tar streams, and file sizes */
	uint64_t max_entries; /* tar entries */
	uint64_t max_file;    /* one regular file's size */
	uint64_t max_path;    /* bytes of an entry's name or link target */
};

#define LAYER_MAX_TOTAL   (8ull << 30)
#define LAYER_MAX_ENTRIES 1000000u
#define LAYER_MAX_FILE    (4ull << 30)
#define LAYER_MAX_PATH    4096u
/* Directory levels of an entry name, and of the walks over a rootfs. */
#define LAYER_MAX_DEPTH 256

void layer_limits_default(struct layer_limits *lim);

struct layer_opts {
	const char *label; /* names the layer in errors and logs ("layer 2") */
	/* Container ids [0, id_count) map to [uid_base, uid_base + id_count)
	 * and the same for gids.  Owners are set only when running as root. */
	uint32_t uid_base, gid_base, id_count;
	int keep_owner; /* 0: entries belong to the caller, ids not checked */
	int plain;      /* only regular files and directories, no whiteouts */
	int force_walk; /* resolve with the O_NOFOLLOW walk, not openat2 (tests) */
	struct layer_limits lim;
};

/* What an image's layers used so far, against the caps.  Zero it before
 * the first layer. */
struct layer_usage {
	uint64_t bytes;   /* uncompressed tar bytes */
	uint64_t content; /* sum of regular file sizes */
	uint64_t entries;
	uint64_t skipped; /* device nodes, sockets, FIFOs */
};

/* The layer's bytes: a file (read from offset 0, twice) or memory. */
struct layer_src {
	int fd; /* -1 when `mem` is used */
	const void *mem;
	size_t len;
};

/* Is `media_type` a layer type we apply (OCI tar, tar+gzip, tar+zstd, and
 * docker's rootfs.diff.tar.gzip)?  The compression is found from the bytes. */
int layer_media_type_ok(const char *media_type);

/* Apply the layer to the directory `rootfd`.  `diff_id` (NULL: not checked)
 * is the SHA-256 of the uncompressed tar.  `u` accumulates across the
 * layers of one image.  Returns 0, or ERR_VERIFY (digest), ERR_TOOBIG (a
 * cap), ERR_INVAL (a refused entry, a bad tar), ERR_UNSUPPORTED, ERR_IO. */
int layer_apply(int rootfd, const struct layer_src *src, const uint8_t diff_id[32],
                const struct layer_opts *o, struct layer_usage *u);

/* Open the directory `path` (relative, resolved inside `rootfd` like
 * entry parents).  Returns an fd or a negative errno. */
int layer_open_dir(int rootfd, const char *path, int force_walk);

#endif
