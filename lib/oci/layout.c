/* layout.c — see layout.h. */
#include "layout.h"

#include "oci/ref.h"
#include "oci/registry.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* A set of blob digests (the 64 hex digits): appended to, then sorted
 * once (digests_seal) and searched by bisection.  A manifest or index is
 * the app developer's to write, up to OCI_MANIFEST_MAX: tens of thousands
 * of entries must not cost a quadratic scan. */
struct digests {
	char (*hex)[65];
	size_t n, cap;
	unsigned loads; /* manifests read into it: an index naming one blob
	                   a thousand times is refused, not read a thousand times */
};

#define LAYOUT_LOADS_MAX 4096

static int digests_add(struct digests *d, const char *hex)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 32;
		void *p = realloc(d->hex, cap * sizeof(*d->hex));
		ENSURE(p, ERR_NOMEM, "out of memory");
		d->hex = p;
		d->cap = cap;
	}
	memcpy(d->hex[d->n], hex, 64);
	d->hex[d->n++][64] = '\0';
	return 0;
}

static int hex_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 64);
}

static void digests_seal(struct digests *d)
{
	size_t k = 0;
	if (d->n)
		qsort(d->hex, d->n, sizeof(*d->hex), hex_cmp);
	for (size_t i = 0; i < d->n; i++)
		if (!k || memcmp(d->hex[k - 1], d->hex[i], 64) != 0)
			memmove(d->hex[k++], d->hex[i], sizeof(*d->hex));
	d->n = k;
}

static int digests_has(const struct digests *d, const char *hex)
{
	return d->n && bsearch(hex, d->hex, d->n, sizeof(*d->hex), hex_cmp) != NULL;
}

/* The hex of a "sha256:<64 lower-case hex>" digest, or NULL: anything else
 * never names a file here. */
static const char *digest_hex(const char *digest)
{
	if (!digest || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 71)
		return NULL;
	for (const char *p = digest + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return NULL;
	return digest + 7;
}

static int blob_path(char *out, size_t cap, const char *layout, const char *hex)
{
	return path_fmt(out, cap, "%s/blobs/sha256/%.64s", layout, hex);
}

/* Add the blob `digest` and what it reaches: an index's manifests (one
 * level: an index of indexes is not an image the worker runs), a
 * manifest's config and layers.  Blobs that are missing or not JSON reach
 * nothing more: they may be a pull's leftovers, or layers. */
static int reach(const char *layout, const char *digest, int depth, struct digests *set)
{
	const char *hex = digest_hex(digest), *mt;
	char path[PATH_MAX];
	json_t *m = NULL, *v;
	size_t i;
	int rc = 0;

	if (!hex)
		return 0;
	GUARD(digests_add(set, hex));
	GUARD(blob_path(path, sizeof(path), layout, hex));
	if (depth > 1 || access(path, F_OK) != 0)
		return 0;
	ENSURE(++set->loads <= LAYOUT_LOADS_MAX, ERR_TOOBIG,
	       "%s: over %u manifests reached from its index.json", layout, LAYOUT_LOADS_MAX);
	if (json_load_path(path, OCI_MANIFEST_MAX, &m) < 0) {
		err_clear();
		return 0;
	}
	mt = json_string_value(json_object_get(m, "mediaType"));
	if (json_is_array(json_object_get(m, "manifests")) ||
	    (mt && (!strcmp(mt, OCI_MT_INDEX) || !strcmp(mt, OCI_MT_DOCKER_LIST)))) {
		json_array_foreach (json_object_get(m, "manifests"), i, v)
			GUARD_GOTO(reach(layout, json_string_value(json_object_get(v, "digest")),
			                 depth + 1, set));
		goto out;
	}
	hex =
	    digest_hex(json_string_value(json_object_get(json_object_get(m, "config"), "digest")));
	if (hex)
		GUARD_GOTO(digests_add(set, hex));
	json_array_foreach (json_object_get(m, "layers"), i, v)
		if ((hex = digest_hex(json_string_value(json_object_get(v, "digest")))))
			GUARD_GOTO(digests_add(set, hex));
out:
	json_decref(m);
	return rc;
}

static int index_load(const char *layout, json_t **idx)
{
	char path[PATH_MAX];
	*idx = NULL;
	GUARD(path_fmt(path, sizeof(path), "%s/index.json", layout));
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return 0;
	GUARD(json_load_path(path, 16u << 20, idx));
	if (!json_is_array(json_object_get(*idx, "manifests"))) {
		json_decref(*idx);
		*idx = NULL;
		return err_set(ERR_INVAL, "%s: not an image index", path);
	}
	return 0;
}

int oci_layout_images(const char *layout, struct oci_layout_image **out, size_t *n)
{
	json_t *idx, *e;
	size_t i;
	char path[PATH_MAX];
	struct stat sb;
	int rc = 0;

	*out = NULL;
	*n = 0;
	GUARD(index_load(layout, &idx));
	if (!idx)
		return 0;
	*out = calloc(json_array_size(json_object_get(idx, "manifests")) + 1, sizeof(**out));
	ENSURE_GOTO(*out, ERR_NOMEM, "out of memory");
	json_array_foreach (json_object_get(idx, "manifests"), i, e) {
		const char *d = json_string_value(json_object_get(e, "digest")),
		           *hex = digest_hex(d);
		size_t k;
		if (!hex)
			continue;
		for (k = 0; k < *n && strcmp((*out)[k].digest, d) != 0; k++)
			;
		if (k < *n)
			continue;
		snprintf((*out)[*n].digest, sizeof((*out)[*n].digest), "%s", d);
		if (blob_path(path, sizeof(path), layout, hex) == 0 && stat(path, &sb) == 0)
			(*out)[*n].mtime = sb.st_mtime;
		(*n)++;
	}
out:
	json_decref(idx);
	return rc;
}

int oci_layout_remove(const char *layout, const char *digest, uint64_t *freed)
{
	struct digests gone = {0}, kept = {0};
	char path[PATH_MAX];
	json_t *idx = NULL, *ms, *e;
	size_t i, removed = 0, shared = 0;
	int dfd, rc = 0, found = 0;
	struct stat sb;

	if (freed)
		*freed = 0;
	ENSURE(digest_hex(digest), ERR_INVAL, "%s: not a sha256 digest", digest);
	dfd = open(layout, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ENSURE(dfd >= 0, ERR_IO, "%s: %s", layout, strerror(errno));
	/* the lock pulls take to write index.json: no entry is added while
	 * what the others reach is computed */
	if (flock(dfd, LOCK_EX) != 0) {
		rc = err_set(ERR_IO, "%s: lock: %s", layout, strerror(errno));
		goto out;
	}
	GUARD_GOTO(index_load(layout, &idx));
	ENSURE_GOTO(idx, ERR_NOTFOUND, "%s: no index.json", layout);
	ms = json_object_get(idx, "manifests");
	for (i = json_array_size(ms); i-- > 0;) {
		const char *d = json_string_value(json_object_get(json_array_get(ms, i), "digest"));
		if (d && !strcmp(d, digest)) {
			json_array_remove(ms, i);
			found = 1;
		}
	}
	ENSURE_GOTO(found, ERR_NOTFOUND, "%s: no image %s in index.json", layout, digest);
	GUARD_GOTO(reach(layout, digest, 0, &gone));
	json_array_foreach (ms, i, e)
		GUARD_GOTO(
		    reach(layout, json_string_value(json_object_get(e, "digest")), 0, &kept));
	digests_seal(&gone);
	digests_seal(&kept);
	/* the entry goes first: a blob of it is never missing while named */
	GUARD_GOTO(path_fmt(path, sizeof(path), "%s/index.json", layout));
	GUARD_GOTO(json_write_path(path, idx, 0644));
	for (i = 0; i < gone.n; i++) {
		if (digests_has(&kept, gone.hex[i])) {
			shared++;
			continue;
		}
		GUARD_GOTO(blob_path(path, sizeof(path), layout, gone.hex[i]));
		if (lstat(path, &sb) != 0)
			continue;
		if (unlink(path) != 0 && errno != ENOENT) {
			rc = err_set(ERR_IO, "%s: %s", path, strerror(errno));
			goto out;
		}
		removed++;
		if (freed)
			*freed += (uint64_t)sb.st_blocks * 512u;
	}
	log_info("image.store", "removed=%s blobs=%zu shared_kept=%zu", digest, removed, shared);
out:
	json_decref(idx);
	free(gone.hex);
	free(kept.hex);
	close(dfd); /* drops the lock */
	return rc;
}
