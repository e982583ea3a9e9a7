/* The layer applier and the image store: layers are built here with
 * libarchive's write API, applied to a temporary rootfs, and what lands on
 * disk is checked, outside the rootfs too (a sentinel directory that must
 * stay as it was).  The tests that resolve paths run twice: with openat2
 * and with the O_NOFOLLOW walk used when the kernel lacks it. */
#include "testutil.h"

#include "../../services/worker/image.h"
#include "../../services/worker/layer.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__)
/* temporary paths here are short; gcc cannot know it */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

/* ---------- building layers ---------- */

struct tar {
	struct archive *a;
	uint8_t *buf;
	size_t used;
	uint8_t diff[32];
	int64_t uid, gid; /* owner of the next entries */
	time_t mtime;
};

#define TAR_CAP (4u << 20)

static struct tar *tar_new(void)
{
	struct tar *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->buf = malloc(TAR_CAP);
	t->a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax_restricted(t->a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_bytes_in_last_block(t->a, 1), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(t->a, t->buf, TAR_CAP, &t->used), ARCHIVE_OK);
	t->mtime = 1700000000;
	return t;
}

/* type: AE_IFREG (data = content), AE_IFDIR, AE_IFLNK (data = target),
 * AE_IFCHR/AE_IFBLK/AE_IFIFO, or 0 for a hard link (data = target). */
static void add(struct tar *t, const char *path, unsigned type, unsigned perm, const char *data)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type ? type : AE_IFREG);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, t->uid);
	archive_entry_set_gid(e, t->gid);
	archive_entry_set_mtime(e, t->mtime, 0);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, data);
	if (type == 0)
		archive_entry_set_hardlink(e, data);
	if (type == AE_IFCHR || type == AE_IFBLK)
		archive_entry_set_rdev(e, makedev(1, 3));
	if (type == AE_IFREG)
		archive_entry_set_size(e, (la_int64_t)strlen(data));
	assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
	if (type == AE_IFREG && *data)
		assert_int_equal(archive_write_data(t->a, data, strlen(data)),
		                 (la_ssize_t)strlen(data));
	archive_entry_free(e);
}

#define F(t, p, m, d) add(t, p, AE_IFREG, m, d)
#define D(t, p, m)    add(t, p, AE_IFDIR, m, NULL)
#define L(t, p, d)    add(t, p, AE_IFLNK, 0777, d)
#define H(t, p, d)    add(t, p, 0, 0644, d)

static void tar_end(struct tar *t)
{
	assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
	archive_write_free(t->a);
	t->a = NULL;
	SHA256(t->buf, t->used, t->diff);
}

static void tar_free(struct tar *t)
{
	if (t && t->a)
		archive_write_free(t->a);
	if (t)
		free(t->buf);
	free(t);
}

/* The layer's bytes through a filter: "gzip", "zstd". */
static uint8_t *compress(const struct tar *t, const char *filter, size_t *len)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	uint8_t *out = malloc(TAR_CAP);
	archive_write_set_format_raw(a);
	assert_int_equal(strcmp(filter, "gzip") == 0 ? archive_write_add_filter_gzip(a)
	                                             : archive_write_add_filter_zstd(a),
	                 ARCHIVE_OK);
	archive_write_set_bytes_in_last_block(a, 1);
	assert_int_equal(archive_write_open_memory(a, out, TAR_CAP, len), ARCHIVE_OK);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_pathname(e, "layer");
	archive_entry_set_size(e, (la_int64_t)t->used);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, t->buf, t->used), (la_ssize_t)t->used);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(e);
	return out;
}

/* ---------- a rootfs with a sentinel outside it ---------- */

struct fx {
	char *base;
	char root[1100], outside[1100];
	int rootfd;
	int walk;
	struct layer_usage u;
};

static struct fx *fx_new(int walk)
{
	struct fx *f = calloc(1, sizeof(*f));
	char p[2048];
	FILE *s;
	f->base = td_tmpdir();
	f->walk = walk;
	snprintf(f->root, sizeof(f->root), "%s/root", f->base);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->base);
	assert_int_equal(mkdir(f->root, 0755), 0);
	assert_int_equal(mkdir(f->outside, 0755), 0);
	snprintf(p, sizeof(p), "%s/keep", f->outside);
	assert_non_null(s = fopen(p, "w"));
	fputs("sentinel", s);
	fclose(s);
	f->rootfd = open(f->root, O_RDONLY | O_DIRECTORY);
	assert_true(f->rootfd >= 0);
	return f;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* The outside directory holds its sentinel and nothing else. */
static void outside_untouched(const struct fx *f)
{
	char p[2048], buf[32] = {0};
	FILE *s;
	assert_int_equal(count_entries(f->outside), 1);
	snprintf(p, sizeof(p), "%s/keep", f->outside);
	assert_non_null(s = fopen(p, "r"));
	assert_true(fread(buf, 1, sizeof(buf) - 1, s) > 0);
	fclose(s);
	assert_string_equal(buf, "sentinel");
	/* and nothing landed next to the rootfs */
	assert_int_equal(count_entries(f->base), 2);
}

static void fx_free(struct fx *f)
{
	outside_untouched(f);
	close(f->rootfd);
	td_rmtree(f->base);
	free(f->base);
	free(f);
}

static void opts_for(const struct fx *f, struct layer_opts *o, const char *label)
{
	memset(o, 0, sizeof(*o));
	o->label = label;
	o->id_count = 65536;
	o->keep_owner = 1;
	o->force_walk = f->walk;
	layer_limits_default(&o->lim);
}

static int apply_o(struct fx *f, const struct tar *t, const struct layer_opts *o)
{
	struct layer_src src = {.fd = -1, .mem = t->buf, .len = t->used};
	return layer_apply(f->rootfd, &src, t->diff, o, &f->u);
}

static int apply(struct fx *f, const struct tar *t, const char *label)
{
	struct layer_opts o;
	opts_for(f, &o, label);
	return apply_o(f, t, &o);
}

static char *rpath(const struct fx *f, const char *rel)
{
	static char p[1024];
	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	return p;
}

static int exists(const struct fx *f, const char *rel)
{
	struct stat st;
	return lstat(rpath(f, rel), &st) == 0;
}

static void assert_content(const struct fx *f, const char *rel, const char *want)
{
	char buf[256] = {0};
	FILE *s = fopen(rpath(f, rel), "r");
	if (!s)
		fail_msg("%s: %s", rel, strerror(errno));
	size_t n = fread(buf, 1, sizeof(buf) - 1, s);
	fclose(s);
	buf[n] = 0;
	assert_string_equal(buf, want);
}

static unsigned mode_of(const struct fx *f, const char *rel)
{
	struct stat st;
	assert_int_equal(lstat(rpath(f, rel), &st), 0);
	return st.st_mode & 07777;
}

static void assert_err(int rc, int code, const char *needle)
{
	if (rc != code || !strstr(err_msg(), needle))
		fail_msg("rc %d (want %d), message \"%s\" (want \"%s\")", rc, code, err_msg(),
		         needle);
}

static int walk_off = 0, walk_on = 1;
#define MODE(state) (**(int **)(state))

/* ---------- the tests ---------- */

/* Layer N leaves links out of the root; layer N+1 writes through them.
 * Parents are resolved inside the root, as the container would see them:
 * "escape -> /abs" means ROOT/abs, "up -> ../../.." means ROOT.  A link to
 * nothing inside the root refuses the entry; nothing is written outside. */
static void symlink_escape_stays_in_root(void **state)
{
	struct fx *f = fx_new(MODE(state));
	struct tar *l1 = tar_new(), *l2 = tar_new(), *l3 = tar_new(), *l4 = tar_new();
	char abs_keep[2048];

	L(l1, "escape", f->outside);
	D(l1, "tmp", 01777);
	D(l1, "tmp/outside", 0755);
	L(l1, "esc2", "/tmp/outside");
	L(l1, "up", "../../..");
	L(l1, "abs", "/");
	L(l1, "loop", "loop");
	tar_end(l1);
	assert_int_equal(apply(f, l1, "layer 1"), 0);

	/* escape -> <host outside dir>: that path does not exist in the root */
	F(l2, "escape/FILE", 0644, "owned");
	tar_end(l2);
	assert_err(apply(f, l2, "layer 2"), ERR_INVAL, "layer 2: entry 'escape/FILE': parent");
	assert_false(exists(f, "FILE"));

	F(l3, "esc2/FILE", 0644, "in tmp/outside");
	F(l3, "up/FILE2", 0644, "at the root");
	F(l3, "abs/etc/FILE3", 0600, "made under the root");
	F(l3, "up/up/abs/FILE4", 0600, "still the root");
	tar_end(l3);
	assert_int_equal(apply(f, l3, "layer 3"), 0);
	assert_content(f, "tmp/outside/FILE", "in tmp/outside");
	assert_content(f, "FILE2", "at the root");
	assert_content(f, "etc/FILE3", "made under the root");
	assert_content(f, "FILE4", "still the root");

	F(l4, "loop/x", 0644, "never");
	tar_end(l4);
	assert_err(apply(f, l4, "layer 4"), ERR_INVAL, "layer 4: entry 'loop/x'");

	/* whiteouts and hard links through the same links stay inside too */
	snprintf(abs_keep, sizeof(abs_keep), "%s/keep", f->outside);
	tar_free(l2);
	l2 = tar_new();
	F(l2, "escape/.wh.keep", 0644, "");
	F(l2, "up/.wh.keep", 0644, "");
	tar_end(l2);
	assert_int_equal(apply(f, l2, "layer 5"), 0);
	tar_free(l4);
	l4 = tar_new();
	H(l4, "stolen", abs_keep);
	tar_end(l4);
	assert_err(apply(f, l4, "layer 6"), ERR_INVAL, "layer 6: entry 'stolen': hard link target");
	tar_free(l4);
	l4 = tar_new();
	H(l4, "stolen", "escape/keep");
	tar_end(l4);
	assert_err(apply(f, l4, "layer 7"), ERR_INVAL, "hard link target");
	assert_false(exists(f, "stolen"));
	/* the links themselves are stored as they were */
	{
		char buf[2048] = {0};
		assert_true(readlink(rpath(f, "escape"), buf, sizeof(buf) - 1) > 0);
		assert_string_equal(buf, f->outside);
	}
	tar_free(l1);
	tar_free(l2);
	tar_free(l3);
	tar_free(l4);
	fx_free(f);
}

/* "../" refuses the layer; a leading "/" and "." components are dropped. */
static void dotdot_and_absolute_names(void **state)
{
	struct fx *f = fx_new(MODE(state));
	static const char *const bad[] = {"../evil", "a/../../evil", "..", "./../evil"};
	struct tar *t = tar_new();

	F(t, "/abs/file", 0644, "abs");
	F(t, "./b", 0644, "b");
	F(t, "c//d/./e", 0644, "e");
	D(t, "./", 0700);
	tar_end(t);
	assert_int_equal(apply(f, t, "layer 1"), 0);
	assert_content(f, "abs/file", "abs");
	assert_content(f, "b", "b");
	assert_content(f, "c/d/e", "e");
	assert_int_equal(mode_of(f, ".") & 0777, 0755); /* the root keeps its mode */
	tar_free(t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		t = tar_new();
		F(t, "fine", 0644, "x");
		F(t, bad[i], 0644, "evil");
		tar_end(t);
		assert_err(apply(f, t, "layer 2"), ERR_INVAL, "'..' in a name is refused");
		assert_false(exists(f, "fine")); /* refused before anything was written */
		tar_free(t);
	}
	assert_int_equal(access(rpath(f, "../evil"), F_OK), -1);
	fx_free(f);
}

/* Hard links name a regular file inside the root, nothing else. */
static void hardlinks_only_to_files_inside(void **state)
{
	struct fx *f = fx_new(MODE(state));
	struct tar *t = tar_new();
	static const struct {
		const char *target, *why;
	} bad[] = {
	    {"../outside/keep", "'..' in a name is refused"},
	    {"sym", "something else than a regular file"},
	    {"dir", "something else than a regular file"},
	    {"missing", "hard link target"},
	    {"/", "hard link to the root"},
	};
	struct stat a, b;

	F(t, "file", 0644, "data");
	L(t, "sym", "file");
	D(t, "dir", 0755);
	H(t, "dir/link", "file");
	H(t, "file2", "/file");
	tar_end(t);
	assert_int_equal(apply(f, t, "layer 1"), 0);
	assert_int_equal(lstat(rpath(f, "file"), &a), 0);
	assert_int_equal(lstat(rpath(f, "dir/link"), &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(lstat(rpath(f, "file2"), &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	tar_free(t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		t = tar_new();
		H(t, "link", bad[i].target);
		tar_end(t);
		assert_err(apply(f, t, "layer 2"), ERR_INVAL, bad[i].why);
		assert_false(exists(f, "link"));
		tar_free(t);
	}
	fx_free(f);
}

/* Device nodes and FIFOs are skipped and counted; setuid and setgid go. */
static void devices_skipped_and_setid_dropped(void **state)
{
	struct fx *f = fx_new(MODE(state));
	struct tar *t = tar_new();

	D(t, "dev", 0755);
	add(t, "dev/null", AE_IFCHR, 0666, NULL);
	add(t, "dev/sda", AE_IFBLK, 0660, NULL);
	add(t, "fifo", AE_IFIFO, 0644, NULL);
	F(t, "suid", 04755, "s");
	F(t, "sgid", 02755, "s");
	F(t, "sticky-file", 01644, "s");
	D(t, "shared", 02775);
	D(t, "tmp", 01777);
	tar_end(t);
	assert_int_equal(apply(f, t, "layer 1"), 0);
	assert_int_equal(f->u.skipped, 3);
	assert_false(exists(f, "dev/null"));
	assert_false(exists(f, "dev/sda"));
	assert_false(exists(f, "fifo"));
	assert_int_equal(mode_of(f, "suid"), 0755);
	assert_int_equal(mode_of(f, "sgid"), 0755);
	assert_int_equal(mode_of(f, "sticky-file"), 0644);
	assert_int_equal(mode_of(f, "shared"), 0775);
	assert_int_equal(mode_of(f, "tmp"), 01777);
	tar_free(t);
	fx_free(f);
}

/* .wh.NAME hides NAME of lower layers; .wh..wh..opq empties a directory
 * of what lower layers put there, before or after this layer's entries. */
static void whiteouts_and_opaque_directories(void **state)
{
	struct fx *f = fx_new(MODE(state));
	struct tar *l1 = tar_new(), *l2 = tar_new(), *t;
	static const char *const bad[] = {".wh..", "a/.wh...", ".wh.x/y"};

	F(l1, "a/x", 0644, "x");
	F(l1, "a/y", 0644, "y");
	F(l1, "b/p", 0644, "p");
	F(l1, "c/q", 0644, "q");
	F(l1, "c/sub/r", 0644, "r");
	F(l1, "d/sub/m", 0644, "m");
	F(l1, "d/sub/n", 0644, "n");
	F(l1, "e", 0644, "E1");
	F(l1, "g/old", 0644, "old");
	tar_end(l1);
	assert_int_equal(apply(f, l1, "layer 1"), 0);

	F(l2, ".wh.b", 0644, "");
	F(l2, "a/.wh.x", 0644, "");
	F(l2, "c/.wh..wh..opq", 0644, ""); /* opaque first */
	F(l2, "c/new", 0644, "new");
	F(l2, "d/sub/o", 0644, "o"); /* children first, implicit parents */
	F(l2, "d/.wh..wh..opq", 0644, "");
	F(l2, "e", 0644, "E2"); /* this layer's e stays */
	F(l2, ".wh.e", 0644, "");
	D(l2, "g", 0755); /* g re-made by this layer, then whited out */
	F(l2, "g/new", 0644, "new");
	F(l2, ".wh.g", 0644, "");
	F(l2, ".wh.nothing", 0644, "");
	F(l2, "h/.wh.x", 0644, "");
	tar_end(l2);
	assert_int_equal(apply(f, l2, "layer 2"), 0);
	assert_false(exists(f, "a/x"));
	assert_content(f, "a/y", "y");
	assert_false(exists(f, "b"));
	assert_int_equal(count_entries(rpath(f, "c")), 1);
	assert_content(f, "c/new", "new");
	assert_int_equal(count_entries(rpath(f, "d")), 1);
	assert_int_equal(count_entries(rpath(f, "d/sub")), 1);
	assert_content(f, "d/sub/o", "o");
	assert_content(f, "e", "E2");
	assert_false(exists(f, "g/old"));
	assert_content(f, "g/new", "new");
	assert_false(exists(f, ".wh.b"));
	assert_false(exists(f, "c/.wh..wh..opq"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		t = tar_new();
		F(t, bad[i], 0644, "");
		tar_end(t);
		assert_err(apply(f, t, "layer 3"), ERR_INVAL, "layer 3: entry");
		tar_free(t);
	}
	assert_true(exists(f, "a/y"));
	tar_free(l1);
	tar_free(l2);
	fx_free(f);
}

/* Each cap, exceeded, is named, and refuses the layer before it writes. */
static void caps_exceeded_write_nothing(void **state)
{
	struct fx *f = fx_new(MODE(state));
	struct tar *t = tar_new();
	struct layer_opts o;
	char longname[300];

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	for (size_t i = 15; i < sizeof(longname) - 1; i += 15)
		longname[i] = '/';
	F(t, "a", 0644, "0123456789");
	F(t, "b", 0644, "0123456789");
	F(t, "c", 0644, "0123456789");
	F(t, longname, 0644, "");
	tar_end(t);

	opts_for(f, &o, "layer 1");
	o.lim.max_entries = 3;
	assert_err(apply_o(f, t, &o), ERR_TOOBIG, "max_entries");
	opts_for(f, &o, "layer 1");
	o.lim.max_file = 9;
	assert_err(apply_o(f, t, &o), ERR_TOOBIG, "layer 1: entry 'a': size over the cap max_file");
	opts_for(f, &o, "layer 1");
	o.lim.max_path = 200;
	assert_err(apply_o(f, t, &o), ERR_TOOBIG, "max_path");
	opts_for(f, &o, "layer 1");
	o.lim.max_total = 2048; /* the tar is 3 KiB */
	assert_err(apply_o(f, t, &o), ERR_TOOBIG,
	           "layer 1: the image's uncompressed layers are over the cap max_total");
	assert_int_equal(count_entries(f->root), 0);
	/* the caps are over the image: a second layer counts the first */
	opts_for(f, &o, "layer 1");
	o.lim.max_entries = 5;
	assert_int_equal(apply_o(f, t, &o), 0);
	o.label = "layer 2";
	assert_err(apply_o(f, t, &o), ERR_TOOBIG, "layer 2: more entries than the cap max_entries");
	tar_free(t);
	fx_free(f);
}

/* A layer that is not its diff_id writes nothing, plain or compressed. */
static void diff_id_mismatch_writes_nothing(void **state)
{
	struct fx *f = fx_new(MODE(state));
	struct tar *t = tar_new();
	struct layer_opts o;
	struct layer_src src = {.fd = -1};
	uint8_t wrong[32];
	size_t zl;
	uint8_t *z;

	F(t, "file", 0644, "data");
	D(t, "dir", 0755);
	tar_end(t);
	memcpy(wrong, t->diff, 32);
	wrong[31] ^= 1;
	opts_for(f, &o, "layer 1");
	src.mem = t->buf;
	src.len = t->used;
	assert_err(layer_apply(f->rootfd, &src, wrong, &o, &f->u), ERR_VERIFY,
	           "layer 1: uncompressed layer does not match its diff_id");
	z = compress(t, "gzip", &zl);
	src.mem = z;
	src.len = zl;
	assert_err(layer_apply(f->rootfd, &src, wrong, &o, &f->u), ERR_VERIFY, "diff_id");
	/* garbage after a valid tar: the digest still covers it */
	memcpy(z, t->buf, t->used);
	memcpy(z + t->used, "trailing", 8);
	src.mem = z;
	src.len = t->used + 8;
	assert_err(layer_apply(f->rootfd, &src, t->diff, &o, &f->u), ERR_VERIFY, "diff_id");
	assert_int_equal(count_entries(f->root), 0);
	assert_int_equal(f->u.entries, 0);
	free(z);
	tar_free(t);
	fx_free(f);
}

/* gzip and zstd layers apply like the plain tar. */
static void compressed_layers_apply(void **state)
{
	struct fx *f = fx_new(MODE(state));
	struct tar *t = tar_new();
	struct layer_opts o;
	struct layer_src src = {.fd = -1};
	static const char *const filters[] = {"gzip", "zstd"};

	F(t, "file", 0644, "data");
	tar_end(t);
	opts_for(f, &o, "layer 1");
	for (size_t i = 0; i < 2; i++) {
		size_t zl;
		uint8_t *z = compress(t, filters[i], &zl);
		src.mem = z;
		src.len = zl;
		assert_int_equal(layer_apply(f->rootfd, &src, t->diff, &o, &f->u), 0);
		assert_content(f, "file", "data");
		assert_int_equal(unlink(rpath(f, "file")), 0);
		free(z);
	}
	/* not a tar at all */
	src.mem = "not a tar, not compressed, just text that goes on for a while......";
	src.len = strlen(src.mem);
	assert_err(layer_apply(f->rootfd, &src, NULL, &o, &f->u), ERR_INVAL, "layer 1: bad tar");
	tar_free(t);
	fx_free(f);
}

/* Owners are shifted into the user namespace; ids past it are refused. */
static void owners_shifted_into_the_namespace(void **state)
{
	struct fx *f = fx_new(MODE(state));
	struct tar *t = tar_new();
	struct layer_opts o;
	struct stat st;

	t->uid = 1000;
	t->gid = 1001;
	F(t, "home/u/f", 0600, "f");
	L(t, "home/u/l", "f");
	D(t, "home/u", 0700);
	t->uid = 65536;
	F(t, "bad", 0644, "x");
	tar_end(t);
	opts_for(f, &o, "layer 1");
	o.uid_base = 100000;
	o.gid_base = 200000;
	assert_err(apply_o(f, t, &o), ERR_INVAL,
	           "layer 1: entry 'bad': owner 65536:1001 is outside the user namespace");
	tar_free(t);

	t = tar_new();
	t->uid = 1000;
	t->gid = 1001;
	F(t, "home/u/f", 0600, "f");
	L(t, "home/u/l", "f");
	D(t, "home/u", 0700);
	tar_end(t);
	assert_int_equal(apply_o(f, t, &o), 0);
	if (geteuid() == 0) {
		assert_int_equal(lstat(rpath(f, "home/u/f"), &st), 0);
		assert_int_equal(st.st_uid, 101000);
		assert_int_equal(st.st_gid, 201001);
		assert_int_equal(lstat(rpath(f, "home/u/l"), &st), 0);
		assert_int_equal(st.st_uid, 101000);
		assert_int_equal(lstat(rpath(f, "home/u"), &st), 0);
		assert_int_equal(st.st_gid, 201001);
		/* a parent the tar did not name belongs to the container's root */
		assert_int_equal(lstat(rpath(f, "home"), &st), 0);
		assert_int_equal(st.st_uid, 100000);
	}
	assert_int_equal(mode_of(f, "home/u"), 0700);
	assert_int_equal(mode_of(f, "home"), 0755);
	tar_free(t);
	fx_free(f);
}

/* The walk resolves exactly as openat2 RESOLVE_IN_ROOT does. */
static void walk_resolves_like_openat2(void **state)
{
	struct fx *f = fx_new(0);
	struct tar *t = tar_new();
	static const char *const paths[] = {
	    "",        "d",       "d/e",    "l1",    "l1/e",       "abs",
	    "abs/d/e", "up",      "up/d",   "dot/d", "d/../../..", "rel",
	    "chain",   "missing", "d/file", "loop",  "dangling",   "../../d",
	};
	(void)state;

	D(t, "d/e", 0755);
	F(t, "d/file", 0644, "");
	L(t, "l1", "d");
	L(t, "abs", "/");
	L(t, "up", "../../../..");
	L(t, "dot", ".");
	L(t, "rel", "d/../d/e/../e");
	L(t, "chain", "l1/../rel");
	L(t, "loop", "loop2");
	L(t, "loop2", "loop");
	L(t, "dangling", "/nowhere");
	tar_end(t);
	assert_int_equal(apply(f, t, "layer 1"), 0);
	for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
		int a = layer_open_dir(f->rootfd, paths[i], 0);
		int b = layer_open_dir(f->rootfd, paths[i], 1);
		struct stat sa, sb;
		if (a < 0 || b < 0) {
			if (a != b)
				fail_msg("'%s': openat2 %d, walk %d", paths[i], a, b);
			continue;
		}
		assert_int_equal(fstat(a, &sa), 0);
		assert_int_equal(fstat(b, &sb), 0);
		if (sa.st_ino != sb.st_ino)
			fail_msg("'%s' resolves differently", paths[i]);
		close(a);
		close(b);
	}
	/* and some of them are where they should be */
	{
		struct stat want, got;
		int fd = layer_open_dir(f->rootfd, "abs/up/chain", 1);
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &got), 0);
		assert_int_equal(lstat(rpath(f, "d/e"), &want), 0);
		assert_int_equal(got.st_ino, want.st_ino);
		close(fd);
		assert_int_equal(layer_open_dir(f->rootfd, "loop", 1), -ELOOP);
		assert_int_equal(layer_open_dir(f->rootfd, "d/file", 1), -ENOTDIR);
	}
	tar_free(t);
	fx_free(f);
}

/* The remover never follows a link and handles deep trees. */
static void remove_never_follows_links(void **state)
{
	struct fx *f = fx_new(0);
	char p[8192];
	int dfd;
	(void)state;

	snprintf(p, sizeof(p), "%s/victim", f->root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/victim/out", f->root);
	assert_int_equal(symlink(f->outside, p), 0);
	snprintf(p, sizeof(p), "%s/victim", f->root);
	dfd = open(p, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 300; i++) { /* deeper than any recursion limit here */
		int nfd;
		assert_int_equal(mkdirat(dfd, "d", 0755), 0);
		nfd = openat(dfd, "d", O_RDONLY | O_DIRECTORY);
		close(dfd);
		dfd = nfd;
	}
	assert_int_equal(symlinkat(f->outside, dfd, "deep-out"), 0);
	close(dfd);
	assert_int_equal(file_remove_at(f->rootfd, "victim"), 0);
	assert_false(exists(f, "victim"));
	assert_int_equal(file_remove_at(f->rootfd, ".."), ERR_INVAL);
	assert_int_equal(file_remove_at(f->rootfd, "a/b"), ERR_INVAL);
	assert_int_equal(file_remove_at(f->rootfd, "absent"), 0);
	fx_free(f);
}

/* ---------- the image store ---------- */

struct layout {
	char dir[1024];
};

static void put_blob(const struct layout *l, const void *p, size_t n, char digest[72])
{
	uint8_t d[32];
	char path[2048];
	FILE *s;
	SHA256(p, n, d);
	memcpy(digest, "sha256:", 7);
	hex_encode(digest + 7, d, 32);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", l->dir, digest + 7);
	assert_non_null(s = fopen(path, "w"));
	assert_int_equal(fwrite(p, 1, n, s), n);
	fclose(s);
}

/* An image of `n` layers (gzip for even i, plain tar for odd); returns its
 * manifest digest.  `ndiff` diff_ids go in the config (n normally). */
static void make_image(const struct layout *l, struct tar **layers, size_t n, size_t ndiff,
                       uint8_t manifest[32])
{
	char cfg[4096], man[4096], digest[72], cd[72];
	size_t cl = 0, ml = 0;

	cl += (size_t)snprintf(cfg + cl, sizeof(cfg) - cl,
	                       "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":["
	                       "\"A=1\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
	for (size_t i = 0; i < ndiff; i++) {
		char h[65];
		hex_encode(h, layers[i < n ? i : 0]->diff, 32);
		cl += (size_t)snprintf(cfg + cl, sizeof(cfg) - cl, "%s\"sha256:%s\"", i ? "," : "",
		                       h);
	}
	cl += (size_t)snprintf(cfg + cl, sizeof(cfg) - cl, "]}}");
	put_blob(l, cfg, cl, cd);
	ml += (size_t)snprintf(man, sizeof(man),
	                       "{\"schemaVersion\":2,\"mediaType\":\"application/"
	                       "vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":"
	                       "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
	                       "\"size\":%zu},\"layers\":[",
	                       cd, cl);
	for (size_t i = 0; i < n; i++) {
		size_t zl = layers[i]->used;
		uint8_t *z = i % 2 ? NULL : compress(layers[i], "gzip", &zl);
		put_blob(l, z ? z : layers[i]->buf, zl, digest);
		free(z);
		ml += (size_t)snprintf(
		    man + ml, sizeof(man) - ml,
		    "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar%s\","
		    "\"digest\":\"%s\",\"size\":%zu}",
		    i ? "," : "", i % 2 ? "" : "+gzip", digest, zl);
	}
	ml += (size_t)snprintf(man + ml, sizeof(man) - ml, "]}");
	put_blob(l, man, ml, digest);
	assert_int_equal(hex_decode_exact(manifest, 32, digest + 7, "manifest"), 0);
}

static struct layout *layout_new(const char *base)
{
	struct layout *l = calloc(1, sizeof(*l));
	char p[2048];
	snprintf(l->dir, sizeof(l->dir), "%s/layout", base);
	assert_int_equal(mkdir(l->dir, 0755), 0);
	snprintf(p, sizeof(p), "%s/blobs", l->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/blobs/sha256", l->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	return l;
}

static void two_layers(struct tar **ls)
{
	ls[0] = tar_new();
	D(ls[0], "etc", 0755);
	F(ls[0], "etc/passwd", 0644, "root:x:0:0\n");
	D(ls[0], "usr/bin", 0755);
	F(ls[0], "usr/bin/app", 0755, "#!app v1");
	L(ls[0], "bin", "usr/bin");
	ls[0]->mtime = 12345;
	F(ls[0], "old", 0600, "old");
	D(ls[0], "tmp", 01777);
	tar_end(ls[0]);
	ls[1] = tar_new();
	F(ls[1], "etc/passwd", 0644, "root:x:0:0\nu:x:1000:1000\n");
	ls[1]->uid = ls[1]->gid = 1000;
	F(ls[1], "bin/tool", 0750, "tool"); /* through bin -> usr/bin */
	ls[1]->uid = ls[1]->gid = 0;
	H(ls[1], "usr/bin/tool2", "usr/bin/tool");
	ls[1]->mtime = 54321;
	D(ls[1], "usr", 0711); /* merges, its mode wins */
	tar_end(ls[1]);
}

static void image_unpacks_and_reuses_after_a_check(void **state)
{
	char *base = td_tmpdir(), dest[1024], p[2048];
	struct layout *l = layout_new(base);
	struct tar *ls[2];
	struct image_opts o;
	uint8_t md[32], d1[32], d2[32];
	json_t *cfg = NULL;
	struct stat st, st2;
	struct fx view;
	FILE *s;
	(void)state;

	two_layers(ls);
	make_image(l, ls, 2, 2, md);
	snprintf(dest, sizeof(dest), "%s/images/x", base);
	image_opts_default(&o);
	o.uid_base = o.gid_base = 100000;
	if (image_unpack(l->dir, md, dest, &o, &cfg) != 0)
		fail_msg("%s", err_msg());
	assert_string_equal(json_string_value(json_array_get(json_object_get(cfg, "Env"), 0)),
	                    "A=1");
	json_decref(cfg);
	memset(&view, 0, sizeof(view));
	snprintf(view.root, sizeof(view.root), "%s/rootfs", dest);
	assert_content(&view, "etc/passwd", "root:x:0:0\nu:x:1000:1000\n");
	assert_content(&view, "usr/bin/tool", "tool");
	assert_int_equal(mode_of(&view, "usr/bin/tool"), 0750);
	assert_int_equal(mode_of(&view, "usr/bin/app"), 0755);
	assert_int_equal(mode_of(&view, "usr"), 0711);
	assert_int_equal(mode_of(&view, "tmp"), 01777);
	assert_int_equal(lstat(rpath(&view, "usr/bin/tool"), &st), 0);
	assert_int_equal(lstat(rpath(&view, "usr/bin/tool2"), &st2), 0);
	assert_int_equal(st.st_ino, st2.st_ino);
	if (geteuid() == 0) {
		assert_int_equal(st.st_uid, 101000);
		assert_int_equal(lstat(rpath(&view, "etc/passwd"), &st), 0);
		assert_int_equal(st.st_uid, 100000);
		assert_int_equal(lstat(rpath(&view, "."), &st), 0);
		assert_int_equal(st.st_uid, 100000);
	}
	assert_int_equal(lstat(rpath(&view, "old"), &st), 0);
	assert_int_equal(st.st_mtime, 12345);
	assert_int_equal(lstat(rpath(&view, "usr"), &st), 0);
	assert_int_equal(st.st_mtime, 54321); /* set after its children were written */
	assert_int_equal(lstat(dest, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(p, sizeof(p), "%s/tree.sha256", dest);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(p, sizeof(p), "%s.tmp", dest);
	assert_int_equal(access(p, F_OK), -1);

	/* the runtime's mount points are made at unpack (runc would make
	 * them at the first run, changing the tree the cache check sees) */
	static const char *const mps[] = {"proc", "sys", "dev", "tmp", "iexec_in", "iexec_out"};
	for (size_t i = 0; i < sizeof(mps) / sizeof(*mps); i++) {
		assert_int_equal(lstat(rpath(&view, mps[i]), &st), 0);
		assert_true(S_ISDIR(st.st_mode));
	}
	/* the tree digest sees a change to content, mode, and a new file */
	snprintf(p, sizeof(p), "%s/rootfs", dest);
	assert_int_equal(image_tree_digest(p, d1), 0);
	assert_int_equal(image_tree_digest(p, d2), 0);
	assert_memory_equal(d1, d2, 32);
	assert_non_null(s = fopen(rpath(&view, "usr/bin/app"), "a"));
	fputs("tampered", s);
	fclose(s);
	assert_int_equal(image_tree_digest(p, d2), 0);
	assert_memory_not_equal(d1, d2, 32);
	/* reuse checks it, and unpacks again */
	assert_int_equal(image_unpack(l->dir, md, dest, &o, &cfg), 0);
	json_decref(cfg);
	assert_content(&view, "usr/bin/app", "#!app v1");
	assert_int_equal(image_tree_digest(p, d2), 0);
	assert_memory_equal(d1, d2, 32);
	assert_int_equal(chmod(rpath(&view, "etc/passwd"), 0666), 0);
	assert_int_equal(image_tree_digest(p, d2), 0);
	assert_memory_not_equal(d1, d2, 32);
	assert_int_equal(image_unpack(l->dir, md, dest, &o, &cfg), 0);
	json_decref(cfg);
	assert_int_equal(mode_of(&view, "etc/passwd"), 0644);

	/* the same size and the old mtime put back: ctime still tells the
	 * change (no process can set it), and the reuse rebuilds */
	{
		struct stat before;
		struct timespec ts[2];
		FILE *f2;
		assert_int_equal(stat(rpath(&view, "usr/bin/app"), &before), 0);
		/* file times tick with the kernel's coarse clock (a few ms): a
		 * change within the tick of the last one would keep its ctime */
		usleep(20000);
		assert_non_null(f2 = fopen(rpath(&view, "usr/bin/app"), "r+"));
		fputs("#!app v2", f2);
		fclose(f2);
		ts[0] = before.st_atim;
		ts[1] = before.st_mtim;
		assert_int_equal(utimensat(AT_FDCWD, rpath(&view, "usr/bin/app"), ts, 0), 0);
		assert_int_equal(image_unpack(l->dir, md, dest, &o, &cfg), 0);
		json_decref(cfg);
		assert_content(&view, "usr/bin/app", "#!app v1");
	}
	/* an intact cache is reused without the layout; a changed one is not */
	snprintf(p, sizeof(p), "%s/moved", base);
	assert_int_equal(rename(l->dir, p), 0);
	assert_int_equal(image_unpack(l->dir, md, dest, &o, &cfg), 0);
	json_decref(cfg);
	assert_int_equal(symlink("/", rpath(&view, "new-link")), 0);
	assert_err(image_unpack(l->dir, md, dest, &o, &cfg), ERR_NOTFOUND, "is not in");
	assert_null(cfg);
	assert_int_equal(access(dest, F_OK), -1);

	tar_free(ls[0]);
	tar_free(ls[1]);
	free(l);
	td_rmtree(base);
	free(base);
}

/* An image index, as registries show multi-platform images: its digest
 * is the app's checksum; the linux/amd64 manifest is the one unpacked, in
 * the OCI and the Docker media types; without one, the platforms are
 * listed. */
static void image_index(void **state)
{
	char *base = td_tmpdir(), dest[1024], idx[2048], digest[72], mhex[65];
	struct layout *l = layout_new(base);
	struct tar *ls[2];
	struct image_opts o;
	uint8_t md[32], id[32];
	json_t *cfg = NULL;
	static const char *const types[] = {
	    "application/vnd.oci.image.index.v1+json",
	    "application/vnd.docker.distribution.manifest.list.v2+json"};
	(void)state;

	image_opts_default(&o);
	two_layers(ls);
	make_image(l, ls, 2, 2, md);
	hex_encode(mhex, md, 32);
	for (int t = 0; t < 2; t++) {
		snprintf(idx, sizeof(idx),
		         "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
		         "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":"
		         "\"sha256:%s\",\"size\":1,\"platform\":{\"architecture\":\"arm64\",\"os\":"
		         "\"linux\",\"variant\":\"v8\"}},"
		         "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":"
		         "\"sha256:%s\",\"size\":1,\"platform\":{\"architecture\":\"amd64\",\"os\":"
		         "\"linux\"}}]}",
		         types[t],
		         "0000000000000000000000000000000000000000000000000000000000000000", mhex);
		put_blob(l, idx, strlen(idx), digest);
		assert_int_equal(hex_decode_exact(id, 32, digest + 7, "d"), 0);
		snprintf(dest, sizeof(dest), "%s/images/%s", base, digest + 7);
		assert_int_equal(image_unpack(l->dir, id, dest, &o, &cfg), 0);
		assert_string_equal(
		    json_string_value(json_array_get(json_object_get(cfg, "Env"), 0)), "A=1");
		json_decref(cfg);
		cfg = NULL;
		/* unpacked under the digest asked for */
		snprintf(idx, sizeof(idx), "%s/rootfs/usr/bin/app", dest);
		assert_int_equal(access(idx, F_OK), 0);
	}
	snprintf(idx, sizeof(idx),
	         "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
	         "{\"digest\":\"sha256:%s\",\"size\":1,\"platform\":{\"architecture\":"
	         "\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
	         "{\"digest\":\"sha256:%s\",\"size\":1,\"platform\":{\"architecture\":"
	         "\"amd64\",\"os\":\"windows\"}}]}",
	         types[0], mhex, mhex);
	put_blob(l, idx, strlen(idx), digest);
	assert_int_equal(hex_decode_exact(id, 32, digest + 7, "d"), 0);
	snprintf(dest, sizeof(dest), "%s/images/none", base);
	assert_err(image_unpack(l->dir, id, dest, &o, &cfg), ERR_NOTFOUND,
	           "no linux/amd64 manifest (platforms: linux/arm64/v8, windows/amd64)");
	tar_free(ls[0]);
	tar_free(ls[1]);
	free(l);
	td_rmtree(base);
	free(base);
}

static void image_refusals(void **state)
{
	char *base = td_tmpdir(), dest[1024], digest[72], p[2048];
	struct layout *l = layout_new(base);
	struct tar *ls[2];
	struct image_opts o;
	uint8_t md[32];
	json_t *cfg = NULL;
	static const char index[] =
	    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
	    "\"manifests\":[]}";
	static const char list[] = "{\"schemaVersion\":2,\"mediaType\":\"application/"
	                           "vnd.docker.distribution.manifest.list.v2+json\"}";
	(void)state;

	image_opts_default(&o);
	snprintf(dest, sizeof(dest), "%s/images/x", base);
	put_blob(l, index, strlen(index), digest);
	assert_int_equal(hex_decode_exact(md, 32, digest + 7, "d"), 0);
	assert_err(image_unpack(l->dir, md, dest, &o, &cfg), ERR_NOTFOUND,
	           "image index has no linux/amd64 manifest (platforms: none)");
	put_blob(l, list, strlen(list), digest);
	assert_int_equal(hex_decode_exact(md, 32, digest + 7, "d"), 0);
	assert_err(image_unpack(l->dir, md, dest, &o, &cfg), ERR_INVAL,
	           "image index without a manifests array");

	two_layers(ls);
	make_image(l, ls, 2, 1, md);
	assert_err(image_unpack(l->dir, md, dest, &o, &cfg), ERR_INVAL,
	           "has 2 layers and its config 1 diff_ids");
	/* a config whose first diff_id is the second layer's */
	{
		uint8_t save[32];
		memcpy(save, ls[0]->diff, 32);
		memcpy(ls[0]->diff, ls[1]->diff, 32);
		make_image(l, ls, 2, 2, md);
		memcpy(ls[0]->diff, save, 32);
	}
	assert_err(image_unpack(l->dir, md, dest, &o, &cfg), ERR_VERIFY,
	           "layer 1: uncompressed layer does not match its diff_id");
	assert_int_equal(access(dest, F_OK), -1);
	snprintf(p, sizeof(p), "%s.tmp", dest);
	assert_int_equal(access(p, F_OK), -1);
	/* a blob that is not its digest */
	make_image(l, ls, 2, 2, md);
	{
		char h[65];
		hex_encode(h, md, 32);
		snprintf(p, sizeof(p), "%s/blobs/sha256/%s", l->dir, h);
		FILE *s = fopen(p, "a");
		assert_non_null(s);
		fputc(' ', s);
		fclose(s);
	}
	assert_err(image_unpack(l->dir, md, dest, &o, &cfg), ERR_VERIFY,
	           "does not match its digest");
	tar_free(ls[0]);
	tar_free(ls[1]);
	free(l);
	td_rmtree(base);
	free(base);
}

/* An OCI archive: files and directories only, nothing outside dest. */
static void archive_unpacks_files_and_dirs_only(void **state)
{
	struct fx *f = fx_new(0);
	char arch[2048], dest[2048], p[2048];
	struct tar *t = tar_new();
	struct stat st;
	FILE *s;
	(void)state;

	D(t, "./", 0755);
	D(t, "./blobs", 0755);
	D(t, "./blobs/sha256", 0755);
	F(t, "./blobs/sha256/aa", 04755, "blob");
	F(t, "./index.json", 0644, "{}");
	F(t, "./.wh.index.json", 0644, "plain name here");
	tar_end(t);
	snprintf(arch, sizeof(arch), "%s/root/a.tar", f->base);
	snprintf(dest, sizeof(dest), "%s/root/layout", f->base);
	assert_non_null(s = fopen(arch, "w"));
	assert_int_equal(fwrite(t->buf, 1, t->used, s), t->used);
	fclose(s);
	if (image_archive_unpack(arch, dest) != 0)
		fail_msg("%s", err_msg());
	snprintf(p, sizeof(p), "%s/blobs/sha256/aa", dest);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	snprintf(p, sizeof(p), "%s/index.json", dest);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(lstat(dest, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	tar_free(t);

	t = tar_new();
	F(t, "index.json", 0644, "{}");
	L(t, "blobs", f->outside);
	tar_end(t);
	assert_non_null(s = fopen(arch, "w"));
	assert_int_equal(fwrite(t->buf, 1, t->used, s), t->used);
	fclose(s);
	assert_err(image_archive_unpack(arch, dest), ERR_INVAL,
	           "oci archive: entry 'blobs': only regular files and directories");
	tar_free(t);
	t = tar_new();
	F(t, "../outside/x", 0644, "{}");
	tar_end(t);
	assert_non_null(s = fopen(arch, "w"));
	assert_int_equal(fwrite(t->buf, 1, t->used, s), t->used);
	fclose(s);
	assert_err(image_archive_unpack(arch, dest), ERR_INVAL, "'..'");
	tar_free(t);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_prestate(symlink_escape_stays_in_root, &walk_off),
	    cmocka_unit_test_prestate(symlink_escape_stays_in_root, &walk_on),
	    cmocka_unit_test_prestate(dotdot_and_absolute_names, &walk_off),
	    cmocka_unit_test_prestate(dotdot_and_absolute_names, &walk_on),
	    cmocka_unit_test_prestate(hardlinks_only_to_files_inside, &walk_off),
	    cmocka_unit_test_prestate(hardlinks_only_to_files_inside, &walk_on),
	    cmocka_unit_test_prestate(devices_skipped_and_setid_dropped, &walk_off),
	    cmocka_unit_test_prestate(whiteouts_and_opaque_directories, &walk_off),
	    cmocka_unit_test_prestate(whiteouts_and_opaque_directories, &walk_on),
	    cmocka_unit_test_prestate(caps_exceeded_write_nothing, &walk_off),
	    cmocka_unit_test_prestate(diff_id_mismatch_writes_nothing, &walk_off),
	    cmocka_unit_test_prestate(compressed_layers_apply, &walk_off),
	    cmocka_unit_test_prestate(owners_shifted_into_the_namespace, &walk_off),
	    cmocka_unit_test_prestate(owners_shifted_into_the_namespace, &walk_on),
	    cmocka_unit_test(walk_resolves_like_openat2),
	    cmocka_unit_test(remove_never_follows_links),
	    cmocka_unit_test(image_unpacks_and_reuses_after_a_check),
	    cmocka_unit_test(image_refusals),
	    cmocka_unit_test(image_index),
	    cmocka_unit_test(archive_unpacks_files_and_dirs_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
