/* imgstore.c — the image store kept within --max-store.
 *
 * The store is two copies of the same images, and both are caches:
 *   WORK/images/<hex>   the unpacked trees, unpacked again from the layout
 *                       when missing (on the work directory: a tmpfs by
 *                       default, so these bytes are the TD's memory);
 *   the --images layout with --pull: the pulled blobs, pulled again by the
 *                       digest the chain names when missing.
 * A layout the operator filled (no --pull) is not a cache, since nothing
 * could bring an image back: it is never pruned, only the trees are.
 *
 * After each task, while the store is past the limit, whole images go,
 * least recently used first (a tree's mtime is set each time a task uses
 * it; an image never unpacked counts from its manifest's mtime): its tree,
 * then its layout entry and the blobs no other image uses.  The image the
 * last task used is kept, even alone past the limit: the next task of the
 * same app, the most likely one, needs it.  The worker runs one task at a
 * time and prunes between tasks, so no pull or unpack of its own is under
 * way; another process pulling into the same layout meanwhile (tdexec
 * image pull) takes the layout's lock to name what it pulled, and a blob
 * it found in place but had not yet named may go: its unpack then fails
 * and the image is pulled again. */
#include "wk.h"

#include "oci/layout.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"
#include "util/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct held {
	char hex[65];
	time_t used;
	int tree;   /* WORK/images/<hex> exists */
	int layout; /* an entry of the layout that may be pruned */
};

static int is_hex64(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

static struct held *held_get(struct held **v, size_t *n, size_t *cap, const char *hex)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i].hex, hex))
			return &(*v)[i];
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct held *p = realloc(*v, c * sizeof(**v));
		if (!p)
			return NULL;
		*v = p;
		*cap = c;
	}
	memset(&(*v)[*n], 0, sizeof(**v));
	memcpy((*v)[*n].hex, hex, 65);
	return &(*v)[(*n)++];
}

static int by_use(const void *a, const void *b)
{
	const struct held *x = a, *y = b;
	return x->used < y->used ? -1 : x->used > y->used ? 1 : strcmp(x->hex, y->hex);
}

/* What the store holds, and its bytes. */
static int store_scan(struct worker *w, struct held **v, size_t *n, uint64_t *bytes)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct oci_layout_image *imgs = NULL;
	size_t ni = 0, cap = 0;
	uint64_t b;
	struct dirent *e;
	struct stat sb;
	DIR *d;
	int rc = 0;

	*v = NULL;
	*n = 0;
	*bytes = 0;
	GUARD(path_fmt(dir, sizeof(dir), "%s/images", w->work));
	GUARD(file_tree_bytes(dir, &b));
	*bytes += b;
	if ((d = opendir(dir))) {
		while ((e = readdir(d))) {
			struct held *h;
			if (!is_hex64(e->d_name) ||
			    path_fmt(path, sizeof(path), "%s/%s", dir, e->d_name) < 0 ||
			    lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
				continue;
			if (!(h = held_get(v, n, &cap, e->d_name))) {
				closedir(d);
				return err_set(ERR_NOMEM, "out of memory");
			}
			h->tree = 1;
			h->used = sb.st_mtime;
		}
		closedir(d);
	}
	if (!w->cfg->pull)
		return 0;
	GUARD(path_fmt(path, sizeof(path), "%s/blobs", w->layout));
	GUARD(file_tree_bytes(path, &b));
	*bytes += b;
	GUARD(oci_layout_images(w->layout, &imgs, &ni));
	for (size_t i = 0; i < ni; i++) {
		struct held *h = held_get(v, n, &cap, imgs[i].digest + 7);
		ENSURE_GOTO(h, ERR_NOMEM, "out of memory");
		h->layout = 1;
		if (!h->tree)
			h->used = imgs[i].mtime;
	}
out:
	free(imgs);
	return rc;
}

void wk_store_used(struct worker *w, const char *tree)
{
	/* the tree's mtime is when a task last used it */
	if (w->cfg->max_store && utimensat(AT_FDCWD, tree, NULL, 0) != 0)
		log_warn("worker.store", "tree=\"%s\" touch=\"%s\"", tree, strerror(errno));
}

int wk_store_prune(struct worker *w, const uint8_t keep[32])
{
	struct held *v = NULL;
	size_t n = 0, evicted = 0;
	uint64_t bytes, before, freed, tree;
	char keep_hex[65], path[PATH_MAX];
	int rc = 0;

	if (!w->cfg->max_store)
		return 0;
	hex_encode(keep_hex, keep, 32);
	GUARD_GOTO(store_scan(w, &v, &n, &bytes));
	before = bytes;
	qsort(v, n, sizeof(*v), by_use);
	for (size_t i = 0; i < n && bytes > w->cfg->max_store; i++) {
		if (!strcmp(v[i].hex, keep_hex))
			continue;
		if (v[i].tree) {
			GUARD_GOTO(path_fmt(path, sizeof(path), "%s/images/%s", w->work, v[i].hex));
			GUARD_GOTO(file_tree_bytes(path, &tree));
			GUARD_GOTO(file_remove_tree(path));
			bytes -= tree < bytes ? tree : bytes;
		}
		if (v[i].layout) {
			char digest[72];
			snprintf(digest, sizeof(digest), "sha256:%s", v[i].hex);
			GUARD_GOTO(oci_layout_remove(w->layout, digest, &freed));
			bytes -= freed < bytes ? freed : bytes;
		}
		log_info("worker.store", "evicted=sha256:%s tree=%d layout=%d", v[i].hex, v[i].tree,
		         v[i].layout);
		evicted++;
	}
	metric_add(w->m_evicted, 0, 0, evicted);
	metric_set(w->m_store_bytes, 0, 0, (double)bytes);
	if (evicted || bytes > w->cfg->max_store)
		log_info("worker.store", "bytes_before=%llu bytes=%llu max=%llu evicted=%zu",
		         (unsigned long long)before, (unsigned long long)bytes,
		         (unsigned long long)w->cfg->max_store, evicted);
out:
	free(v);
	return rc;
}
