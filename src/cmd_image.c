/* tdexec image — OCI images for the worker, made on this machine.
 *
 * `image build` makes a reproducible two-layer image: the Debian packages
 * installed here with their dependencies (or a base root file system
 * tarball) in the first layer, the user's files in the second, so a new
 * version of an app shares the base blob.  Nothing of the build machine
 * that varies reaches the bytes: entries in name order, owner 0:0, one
 * mtime (SOURCE_DATE_EPOCH or 0), no xattrs, gzip without name or time. */
#include "cli.h"

#include "../services/worker/layer.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/proc.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define DPKG_DIR       "/var/lib/dpkg"
#define PKG_LIST_MAX   (64u << 20) /* dpkg-query's listing of every package */
#define FILE_LIST_MAX  (16u << 20) /* one package's .list */
#define INDEX_JSON_MAX (4u << 20)
#define ADD_MAX        256 /* --add, --env, --package options */
#define MEDIA_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MEDIA_LAYER    "application/vnd.oci.image.layer.v1.tar+gzip"
#define REF_ANNOTATION "org.opencontainers.image.ref.name"

/* Paths of a package that an app does not need: documentation, manual
 * pages, translations.  The copyright files under /usr/share/doc stay (the
 * licences travel with the binaries). */
static const char *const excluded[] = {
    "/usr/share/doc/",
    "/usr/share/man/",
    "/usr/share/info/",
    "/usr/share/locale/",
    "/usr/share/lintian/",
    "/usr/share/bug/",
    NULL,
};

/* Files a package's maintainer scripts make, so no .list names them, that
 * its users expect. */
static const struct {
	const char *pkg, *path;
} generated[] = {
    {"ca-certificates", "/etc/ssl/certs/ca-certificates.crt"},
    {NULL, NULL},
};

/* Where the worker mounts file systems over the image. */
static const char *const hidden[] = {
    "/tmp", "/iexec_in", "/iexec_out", "/proc", "/dev", "/sys", NULL,
};

/* ---------- the build's state ---------- */

struct build {
	const char *layout, *ref;
	const char *pkgs[ADD_MAX], *adds[ADD_MAX], *envs[ADD_MAX];
	size_t npkgs, nadds, nenvs;
	const char *base_tar, *entrypoint, *cmd, *workdir, *user;
	int quiet, json;
	time_t epoch;
	struct layer_limits lim;

	char work[PATH_MAX]; /* LAYOUT/.build-XXXXXX, removed at the end */
	char stage[PATH_MAX];
	/* counts for the progress lines */
	uint64_t files, bytes, missing, excluded, skipped_special, alternatives;
	json_t *closure; /* the packages' names, sorted */
};

static void progress(const struct build *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void progress(const struct build *b, const char *fmt, ...)
{
	va_list ap;
	if (b->quiet)
		return;
	fputs("image: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---------- staging: a tree the layer is written from ---------- */

/* mkdir -p of REL (a path under the stage, no leading '/') up to and
 * without its last component when `parent_only`.  A component that exists
 * and is not a directory (a link staged earlier included) refuses the
 * path: nothing is ever written through a link. */
static int stage_dirs(const char *stage, const char *rel, int parent_only)
{
	char p[PATH_MAX];
	size_t base = strlen(stage), i;
	struct stat st;

	GUARD(path_fmt(p, sizeof(p), "%s/%s", stage, rel));
	for (i = base + 1;; i++) {
		char c = p[i];
		if (c != '/' && c != '\0')
			continue;
		if (c == '\0' && parent_only)
			break;
		p[i] = '\0';
		if (i > base + 1 && p[i - 1] != '/') {
			if (lstat(p, &st) != 0) {
				if (errno != ENOENT || mkdir(p, 0755) != 0)
					return err_set(ERR_IO, "image: mkdir /%s: %s", p + base + 1,
					               strerror(errno));
			} else if (!S_ISDIR(st.st_mode)) {
				return err_set(
				    ERR_INVAL,
				    "image: /%s is not a directory in the image (a link or a "
				    "file), /%s cannot be placed below it",
				    p + base + 1, rel);
			}
		}
		p[i] = c;
		if (c == '\0')
			break;
	}
	return 0;
}

/* Copy the regular file open on `in` (st from fstat) to `dst`, replacing a
 * non-directory there; permission bits without setuid/setgid. */
static int copy_fd(struct build *b, int in, const struct stat *st, const char *dst,
                   const char *what)
{
	char buf[1 << 16];
	ssize_t n;
	int out, rc = 0;
	struct stat old;

	ENSURE((uint64_t)st->st_size <= b->lim.max_file, ERR_TOOBIG,
	       "image: %s is %lld bytes, over the %llu-byte cap on one file", what,
	       (long long)st->st_size, (unsigned long long)b->lim.max_file);
	ENSURE(b->bytes + (uint64_t)st->st_size <= b->lim.max_total, ERR_TOOBIG,
	       "image: %s brings the image over the %llu-byte cap", what,
	       (unsigned long long)b->lim.max_total);
	ENSURE(b->files < b->lim.max_entries, ERR_TOOBIG, "image: over %llu entries at %s",
	       (unsigned long long)b->lim.max_entries, what);
	if (lstat(dst, &old) == 0) {
		ENSURE(!S_ISDIR(old.st_mode), ERR_INVAL,
		       "image: %s would replace a directory of the image", what);
		ENSURE(unlink(dst) == 0, ERR_IO, "image: %s: %s", dst, strerror(errno));
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st->st_mode & 0777);
	ENSURE(out >= 0, ERR_IO, "image: create %s: %s", dst, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, (size_t)n) != n) {
			rc = err_set(ERR_IO, "image: write %s: %s", dst, strerror(errno));
			break;
		}
	}
	if (n < 0)
		rc = err_set(ERR_IO, "image: read %s: %s", what, strerror(errno));
	/* The mode again: open() applied the umask. */
	if (rc == 0 && fchmod(out, st->st_mode & 0777) != 0)
		rc = err_set(ERR_IO, "image: chmod %s: %s", dst, strerror(errno));
	if (close(out) != 0 && rc == 0)
		rc = err_set(ERR_IO, "image: close %s: %s", dst, strerror(errno));
	if (rc == 0) {
		b->files++;
		b->bytes += (uint64_t)st->st_size;
	}
	return rc;
}

static int stage_symlink(struct build *b, const char *target, const char *dst)
{
	struct stat old;
	if (lstat(dst, &old) == 0) {
		if (S_ISDIR(old.st_mode))
			return 0; /* a directory of the base stays */
		ENSURE(unlink(dst) == 0, ERR_IO, "image: %s: %s", dst, strerror(errno));
	}
	ENSURE(strlen(target) < b->lim.max_path, ERR_TOOBIG, "image: link %s: target too long",
	       dst);
	ENSURE(symlink(target, dst) == 0, ERR_IO, "image: symlink %s: %s", dst, strerror(errno));
	b->files++;
	return 0;
}

/* ---------- the packages' closure ---------- */

struct pkg {
	char *name, *bin, *provides, *pre, *deps;
	int installed, essential, picked;
};

struct pkgdb {
	uint8_t *buf; /* dpkg-query's output; the fields point into it */
	struct pkg *v;
	size_t n;
};

static void pkgdb_free(struct pkgdb *db)
{
	free(db->buf);
	free(db->v);
}

/* The architecture qualifier off: "libc6:amd64" -> "libc6". */
static size_t name_len(const char *s, size_t n)
{
	const char *c = memchr(s, ':', n);
	return c ? (size_t)(c - s) : n;
}

/* The native (amd64) or architecture-independent instance of an installed
 * package, else NULL. */
static struct pkg *pkg_find(struct pkgdb *db, const char *name, size_t len)
{
	len = name_len(name, len);
	for (size_t i = 0; i < db->n; i++) {
		struct pkg *p = &db->v[i];
		const char *colon;
		if (!p->installed || strlen(p->name) != len || memcmp(p->name, name, len) != 0)
			continue;
		colon = strchr(p->bin, ':');
		if (!colon || strcmp(colon, ":amd64") == 0)
			return p;
	}
	return NULL;
}

/* An installed package that Provides `name`, the first in name order. */
static struct pkg *pkg_provider(struct pkgdb *db, const char *name, size_t len)
{
	len = name_len(name, len);
	for (size_t i = 0; i < db->n; i++) {
		const char *s = db->v[i].provides;
		if (!db->v[i].installed)
			continue;
		while (*s) {
			size_t n;
			while (*s == ' ' || *s == ',')
				s++;
			n = strcspn(s, " ,(:");
			if (n == len && memcmp(s, name, len) == 0)
				return &db->v[i];
			s += strcspn(s, ",");
		}
	}
	return NULL;
}

static int pkgdb_load(struct build *b, struct pkgdb *db)
{
	char out[PATH_MAX];
	char *argv[] = {"dpkg-query", "-W", "-f",
	                "${binary:Package}\\t${Package}\\t${db:Status-Abbrev}\\t${Essential}\\t"
	                "${Provides}\\t${Pre-Depends}\\t${Depends}\\n",
	                NULL};
	size_t len, cap = 0;
	char *line, *next;

	memset(db, 0, sizeof(*db));
	GUARD(path_fmt(out, sizeof(out), "%s/dpkg-query.out", b->work));
	if (proc_run(argv, NULL, out) != 0)
		return err_set(ERR_IO, "image: dpkg-query failed: packages are read from this "
		                       "machine's dpkg database (a Debian system)");
	GUARD(file_read(out, PKG_LIST_MAX, &db->buf, &len));
	for (line = (char *)db->buf; *line; line = next) {
		char *f[7];
		int k;
		next = strchr(line, '\n');
		next = next ? (*next = '\0', next + 1) : line + strlen(line);
		for (k = 0, f[0] = line; k < 6; k++) {
			char *t = strchr(f[k], '\t');
			if (!t)
				break;
			*t = '\0';
			f[k + 1] = t + 1;
		}
		if (k < 6)
			continue; /* a warning of dpkg-query's, not a record */
		if (db->n == cap) {
			struct pkg *v = realloc(db->v, (cap = cap ? 2 * cap : 1024) * sizeof(*v));
			ENSURE(v, ERR_NOMEM, "out of memory");
			db->v = v;
		}
		db->v[db->n++] =
		    (struct pkg){f[1], f[0], f[4], f[5], f[6],
		                 /* "ii ": wanted install, installed */
		                 strlen(f[2]) >= 2 && f[2][1] == 'i', strcmp(f[3], "yes") == 0, 0};
	}
	return 0;
}

/* The packages a Depends field's group (alternatives split by '|') is met
 * by: the first alternative installed, else an installed provider of one. */
static struct pkg *dep_group(struct pkgdb *db, const char *g, size_t glen)
{
	for (int pass = 0; pass < 2; pass++) {
		size_t i = 0;
		while (i < glen) {
			size_t s, n;
			struct pkg *p;
			while (i < glen && (g[i] == ' ' || g[i] == '|'))
				i++;
			s = i;
			while (i < glen && g[i] != ' ' && g[i] != '|' && g[i] != '(')
				i++;
			n = i - s;
			while (i < glen && g[i] != '|')
				i++;
			if (n == 0)
				continue;
			p = pass == 0 ? pkg_find(db, g + s, n) : pkg_provider(db, g + s, n);
			if (p)
				return p;
		}
	}
	return NULL;
}

static int closure_push(struct pkg ***q, size_t *n, size_t *cap, struct pkg *p)
{
	if (p->picked)
		return 0;
	if (*n == *cap) {
		struct pkg **v = realloc(*q, (*cap = *cap ? 2 * *cap : 64) * sizeof(*v));
		ENSURE(v, ERR_NOMEM, "out of memory");
		*q = v;
	}
	p->picked = 1;
	(*q)[(*n)++] = p;
	return 0;
}

static int by_name(const void *a, const void *c)
{
	return strcmp((*(struct pkg *const *)a)->name, (*(struct pkg *const *)c)->name);
}

/* The named packages and everything they depend on, sorted by name;
 * Essential packages come only when named. */
static int pkg_closure(struct build *b, struct pkgdb *db, struct pkg ***out, size_t *nout)
{
	struct pkg **q = NULL;
	size_t n = 0, cap = 0, essential = 0, unmet = 0;
	int rc = 0;

	for (size_t i = 0; i < b->npkgs; i++) {
		const char *name = b->pkgs[i];
		struct pkg *p = pkg_find(db, name, strlen(name));
		if (!p)
			p = pkg_provider(db, name, strlen(name));
		ENSURE_GOTO(p, ERR_NOTFOUND,
		            "image: package '%s' is not installed on this machine (install it "
		            "first: apt-get install %s)",
		            name, name);
		GUARD_GOTO(closure_push(&q, &n, &cap, p));
	}
	for (size_t i = 0; i < n; i++) {
		const char *fields[2] = {q[i]->pre, q[i]->deps};
		for (int k = 0; k < 2; k++) {
			const char *s = fields[k];
			while (*s) {
				size_t g = strcspn(s, ",");
				struct pkg *p = dep_group(db, s, g);
				if (!p)
					unmet++;
				else if (p->essential && !p->picked)
					essential++;
				else
					GUARD_GOTO(closure_push(&q, &n, &cap, p));
				s += g;
				if (*s == ',')
					s++;
			}
		}
	}
	qsort(q, n, sizeof(*q), by_name);
	progress(b,
	         "%zu package(s) named, %zu in the closure; %zu dependencies on Essential "
	         "packages left out (name them to have them), %zu met by nothing installed",
	         b->npkgs, n, essential, unmet);
	*out = q;
	*nout = n;
	q = NULL;
out:
	free(q);
	return rc;
}

/* ---------- a package's files ---------- */

struct diversion {
	char *from, *to, *by;
};

struct diversions {
	uint8_t *buf;
	struct diversion *v;
	size_t n;
};

/* dpkg's diversions: triplets of lines (from, to, package or ":"). */
static int diversions_load(struct diversions *d)
{
	size_t len, cap = 0;
	char *l[3], *s;
	int rc;

	memset(d, 0, sizeof(*d));
	rc = file_read(DPKG_DIR "/diversions", PKG_LIST_MAX, &d->buf, &len);
	if (rc == ERR_IO && access(DPKG_DIR "/diversions", F_OK) != 0)
		return 0;
	GUARD(rc);
	for (s = (char *)d->buf; *s;) {
		for (int k = 0; k < 3; k++) {
			char *e = strchr(s, '\n');
			l[k] = s;
			if (e) {
				*e = '\0';
				s = e + 1;
			} else {
				s += strlen(s);
			}
		}
		if (!l[0][0] || !l[1][0])
			break;
		if (d->n == cap) {
			struct diversion *v =
			    realloc(d->v, (cap = cap ? 2 * cap : 64) * sizeof(*v));
			ENSURE(v, ERR_NOMEM, "out of memory");
			d->v = v;
		}
		d->v[d->n++] = (struct diversion){l[0], l[1], l[2]};
	}
	return 0;
}

/* Where the file that package `pkg` lists as `path` is on disk: diverted
 * by another package (or locally), it was installed under the diversion's
 * name, and goes there in the image as on this machine. */
static const char *diverted(const struct diversions *d, const char *path, const char *pkg)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].from, path) == 0 && strcmp(d->v[i].by, pkg) != 0)
			return d->v[i].to;
	return path;
}

static int is_excluded(const char *path)
{
	for (int i = 0; excluded[i]; i++) {
		size_t n = strlen(excluded[i]);
		/* the directory itself, or a path below it */
		if (strncmp(path, excluded[i], n - 1) == 0) {
			const char *rest = path + n - 1;
			if (*rest && *rest != '/')
				continue; /* /usr/share/docfoo */
			if (strcmp(excluded[i], "/usr/share/doc/") == 0 && strlen(rest) > 10 &&
			    strcmp(rest + strlen(rest) - 10, "/copyright") == 0)
				return 0;
			return 1;
		}
	}
	return 0;
}

/* The physical path of host path `p`: its parent resolved (realpath), the
 * last component as it is.  0 and *missing = 1 when the parent is gone. */
static int physical(const char *p, char out[PATH_MAX], int *missing)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash = strrchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) : 0;

	*missing = 0;
	ENSURE(slash && n < sizeof(dir), ERR_INVAL, "image: bad path %s", p);
	memcpy(dir, p, n);
	dir[n] = '\0';
	if (!realpath(n ? dir : "/", real)) {
		*missing = 1;
		return 0;
	}
	return path_fmt(out, PATH_MAX, "%s/%s", strcmp(real, "/") == 0 ? "" : real, slash + 1);
}

/* Stage host path `path` (absolute) as the image's: the links met on the
 * way (a merged /usr's /lib -> usr/lib) staged as links, the entry itself
 * at its physical place, a directory without its contents. */
static int stage_host(struct build *b, const char *path)
{
	char pre[PATH_MAX], phys[PATH_MAX], dst[PATH_MAX], target[PATH_MAX];
	struct stat st;
	size_t len = strlen(path);
	int missing;

	ENSURE(path[0] == '/' && len < PATH_MAX, ERR_INVAL, "image: bad path '%s'", path);
	/* Every proper prefix that is a link. */
	for (size_t i = 1; i < len; i++) {
		if (path[i] != '/')
			continue;
		memcpy(pre, path, i);
		pre[i] = '\0';
		if (lstat(pre, &st) != 0) {
			b->missing++;
			return 0;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t n;
			GUARD(physical(pre, phys, &missing));
			if (missing) {
				b->missing++;
				return 0;
			}
			GUARD(path_fmt(dst, sizeof(dst), "%s%s", b->stage, phys));
			if (lstat(dst, &st) == 0)
				continue;
			n = readlink(pre, target, sizeof(target) - 1);
			ENSURE(n >= 0, ERR_IO, "image: readlink %s: %s", pre, strerror(errno));
			target[n] = '\0';
			GUARD(stage_dirs(b->stage, phys + 1, 1));
			GUARD(stage_symlink(b, target, dst));
		}
	}
	GUARD(physical(path, phys, &missing));
	if (missing || lstat(phys, &st) != 0) {
		b->missing++;
		return 0;
	}
	GUARD(path_fmt(dst, sizeof(dst), "%s%s", b->stage, phys));
	if (S_ISDIR(st.st_mode)) {
		GUARD(stage_dirs(b->stage, phys + 1, 0));
		ENSURE(chmod(dst, st.st_mode & 01777) == 0, ERR_IO, "image: chmod %s: %s", dst,
		       strerror(errno));
		return 0;
	}
	GUARD(stage_dirs(b->stage, phys + 1, 1));
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlink(phys, target, sizeof(target) - 1);
		ENSURE(n >= 0, ERR_IO, "image: readlink %s: %s", phys, strerror(errno));
		target[n] = '\0';
		return stage_symlink(b, target, dst);
	}
	if (S_ISREG(st.st_mode)) {
		int fd = open(phys, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc;
		struct stat fst;
		ENSURE(fd >= 0, ERR_IO, "image: open %s: %s", phys, strerror(errno));
		rc = fstat(fd, &fst) == 0 && S_ISREG(fst.st_mode)
		         ? copy_fd(b, fd, &fst, dst, phys)
		         : err_set(ERR_IO, "image: %s changed while read", phys);
		close(fd);
		return rc;
	}
	b->skipped_special++;
	return 0;
}

/* The files dpkg lists for package p ("/var/lib/dpkg/info/P.list"). */
static int stage_package(struct build *b, const struct pkg *p, const struct diversions *d)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len;
	char *line, *next;
	int rc;

	GUARD(path_fmt(path, sizeof(path), DPKG_DIR "/info/%s.list", p->bin));
	if (access(path, F_OK) != 0)
		GUARD(path_fmt(path, sizeof(path), DPKG_DIR "/info/%s.list", p->name));
	rc = file_read(path, FILE_LIST_MAX, &buf, &len);
	if (rc < 0)
		return err_wrap(rc, "image: the files of package %s", p->name);
	for (line = (char *)buf; *line; line = next) {
		next = strchr(line, '\n');
		next = next ? (*next = '\0', next + 1) : line + strlen(line);
		if (line[0] != '/' || strcmp(line, "/.") == 0)
			continue;
		if (is_excluded(line)) {
			b->excluded++;
			continue;
		}
		GUARD_GOTO(stage_host(b, diverted(d, line, p->name)));
	}
	for (int i = 0; generated[i].pkg; i++)
		if (strcmp(generated[i].pkg, p->name) == 0)
			GUARD_GOTO(stage_host(b, generated[i].path));
out:
	free(buf);
	return rc;
}

/* Does the image hold host path `p` (a file or link)? */
static int staged(const struct build *b, const char *p)
{
	char phys[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	int missing;
	if (physical(p, phys, &missing) < 0 || missing ||
	    path_fmt(dst, sizeof(dst), "%s%s", b->stage, phys) < 0)
		return 0;
	return lstat(dst, &st) == 0;
}

/* One link of an alternative: /etc/alternatives/NAME and LINK (which
 * points to it) come when the image holds the current choice and not
 * already something at LINK. */
static int alt_link(struct build *b, const char *name, const char *link)
{
	char alt[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	if (link[0] != '/' || strchr(name, '/') ||
	    path_fmt(alt, sizeof(alt), "/etc/alternatives/%s", name) < 0)
		return 0;
	n = readlink(alt, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	if (target[0] != '/' || !staged(b, target) || staged(b, link))
		return 0;
	GUARD(stage_host(b, alt));
	GUARD(stage_host(b, link));
	b->alternatives++;
	return 0;
}

/* update-alternatives' links are no package's files: for each alternative
 * (/var/lib/dpkg/alternatives/NAME: the mode, the master link, then slave
 * name and link pairs up to an empty line) each link whose current choice
 * the image holds comes with /etc/alternatives/NAME. */
static int stage_alternatives(struct build *b)
{
	DIR *dir = opendir(DPKG_DIR "/alternatives");
	char **names = NULL;
	size_t count = 0;
	int rc = 0;

	if (!dir)
		return 0;
	rc = file_list_at(dirfd(dir), &names, &count);
	closedir(dir);
	GUARD(rc);
	for (size_t i = 0; i < count && rc == 0; i++) {
		char path[PATH_MAX];
		uint8_t *buf = NULL;
		size_t len;
		char *l[64];
		int nl = 0;
		GUARD_GOTO(path_fmt(path, sizeof(path), DPKG_DIR "/alternatives/%s", names[i]));
		if (file_read(path, 1 << 20, &buf, &len) < 0)
			continue; /* not an alternative's file: nothing to take */
		for (char *c = (char *)buf; *c && nl < 64;) {
			char *e = strchr(c, '\n');
			l[nl++] = c;
			if (!e)
				break;
			*e = '\0';
			c = e + 1;
		}
		if (nl > 1)
			rc = alt_link(b, names[i], l[1]);
		for (int k = 2; rc == 0 && k + 1 < nl && l[k][0]; k += 2)
			rc = alt_link(b, l[k], l[k + 1]);
		free(buf);
	}
out:
	file_list_free(names, count);
	return rc;
}

/* ---------- the user's files ---------- */

/* Copy the directory open on `fd` into dst, recursively; links are
 * stored as links, never followed. */
static int add_dir(struct build *b, int fd, const char *src, const char *dst, int depth)
{
	char **names = NULL;
	size_t count = 0;
	int rc;

	ENSURE(depth < LAYER_MAX_DEPTH, ERR_TOOBIG, "image: --add %s: deeper than %d levels", src,
	       LAYER_MAX_DEPTH);
	GUARD(file_list_at(fd, &names, &count));
	for (size_t i = 0; i < count; i++) {
		char s[PATH_MAX], d[PATH_MAX], target[PATH_MAX];
		struct stat st;
		GUARD_GOTO(path_fmt(s, sizeof(s), "%s/%s", src, names[i]));
		GUARD_GOTO(path_fmt(d, sizeof(d), "%s/%s", dst, names[i]));
		ENSURE_GOTO(strlen(d) - strlen(b->stage) < b->lim.max_path, ERR_TOOBIG,
		            "image: --add %s: name too long", s);
		ENSURE_GOTO(fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0, ERR_IO,
		            "image: --add %s: %s", s, strerror(errno));
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlinkat(fd, names[i], target, sizeof(target) - 1);
			ENSURE_GOTO(n >= 0, ERR_IO, "image: readlink %s: %s", s, strerror(errno));
			target[n] = '\0';
			GUARD_GOTO(stage_symlink(b, target, d));
		} else if (S_ISDIR(st.st_mode)) {
			int sub =
			    openat(fd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			struct stat dt;
			ENSURE_GOTO(sub >= 0, ERR_IO, "image: --add %s: %s", s, strerror(errno));
			/* Never into a link an earlier --add put there. */
			if (lstat(d, &dt) == 0)
				rc =
				    S_ISDIR(dt.st_mode)
				        ? 0
				        : err_set(ERR_INVAL,
				                  "image: --add %s: the image has a file or a link "
				                  "there, not a directory",
				                  s);
			else if (mkdir(d, 0755) != 0)
				rc = err_set(ERR_IO, "image: mkdir %s: %s", d, strerror(errno));
			if (rc < 0) {
				close(sub);
				goto out;
			}
			if (chmod(d, st.st_mode & 01777) != 0)
				rc = err_set(ERR_IO, "image: --add %s: %s", d, strerror(errno));
			else
				rc = add_dir(b, sub, s, d, depth + 1);
			close(sub);
			GUARD_GOTO(rc);
		} else if (S_ISREG(st.st_mode)) {
			int in = openat(fd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			struct stat fst;
			ENSURE_GOTO(in >= 0, ERR_IO, "image: --add %s: %s", s, strerror(errno));
			rc = fstat(in, &fst) == 0 && S_ISREG(fst.st_mode)
			         ? copy_fd(b, in, &fst, d, s)
			         : err_set(ERR_IO, "image: --add %s changed while read", s);
			close(in);
			GUARD_GOTO(rc);
		} else {
			ENSURE_GOTO(0, ERR_INVAL,
			            "image: --add %s: only files, directories and links are added "
			            "(not a device, socket or FIFO)",
			            s);
		}
	}
	rc = 0;
out:
	file_list_free(names, count);
	return rc;
}

/* Split "SRC:DEST" at its first ':' and check DEST: absolute, no "..",
 * no "." component. */
static int add_parse(const char *arg, char *src, size_t scap, char *dest, size_t dcap)
{
	const char *colon = strchr(arg, ':');
	const char *d;
	size_t n;

	ENSURE(colon && colon != arg && colon[1], ERR_INVAL,
	       "--add '%s': expected SRC:DEST (DEST an absolute path in the image)", arg);
	n = (size_t)(colon - arg);
	ENSURE(n < scap && strlen(colon + 1) < dcap, ERR_TOOBIG, "--add '%.80s': too long", arg);
	memcpy(src, arg, n);
	src[n] = '\0';
	ENSURE(colon[1] == '/', ERR_INVAL, "--add '%s': DEST must be an absolute path", arg);
	/* repeated slashes collapsed first: "//tmp" is /tmp to the checks
	 * below as it is to the file system */
	n = 0;
	for (const char *c = colon + 1; *c; c++)
		if (!(c[0] == '/' && c[1] == '/'))
			dest[n++] = *c;
	dest[n] = '\0';
	d = dest;
	for (const char *c = d; *c;) {
		size_t k;
		while (*c == '/')
			c++;
		k = strcspn(c, "/");
		ENSURE(!(k == 2 && c[0] == '.' && c[1] == '.') && !(k == 1 && c[0] == '.'),
		       ERR_INVAL, "--add '%s': '.' and '..' are refused in DEST", arg);
		c += k;
	}
	/* The worker mounts over these at run time (services/worker/oci.c):
	 * what the image holds there is never seen by the app. */
	for (int i = 0; hidden[i]; i++) {
		size_t k = strlen(hidden[i]);
		ENSURE(
		    !(strncmp(d, hidden[i], k) == 0 && (d[k] == '\0' || d[k] == '/')), ERR_INVAL,
		    "--add '%s': %s is mounted over when the app runs, what is put there is hidden",
		    arg, hidden[i]);
	}
	/* DEST without trailing slashes; "/" stays "". */
	n = strlen(dest);
	while (n > 0 && dest[n - 1] == '/')
		n--;
	dest[n] = '\0';
	return 0;
}

static int add_one(struct build *b, const char *arg)
{
	char src[PATH_MAX], dest[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	int fd, rc;

	GUARD(add_parse(arg, src, sizeof(src), dest, sizeof(dest)));
	/* SRC itself is what the user named: followed if it is a link.  Not
	 * blocking on a FIFO: it is refused below. */
	fd = open(src, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ENSURE(fd >= 0, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "--add %s: %s", src,
	       strerror(errno));
	if (fstat(fd, &st) != 0) {
		close(fd);
		return err_set(ERR_IO, "--add %s: %s", src, strerror(errno));
	}
	rc = path_fmt(dst, sizeof(dst), "%s%s", b->stage, dest);
	if (rc == 0 && S_ISDIR(st.st_mode)) {
		if (dest[0])
			rc = stage_dirs(b->stage, dest + 1, 0);
		if (rc == 0 && dest[0] && chmod(dst, st.st_mode & 01777) != 0)
			rc = err_set(ERR_IO, "image: chmod %s: %s", dst, strerror(errno));
		if (rc == 0)
			rc = add_dir(b, fd, src, dst, 1);
	} else if (rc == 0 && S_ISREG(st.st_mode)) {
		if (!dest[0])
			rc = err_set(ERR_INVAL, "--add %s: a file cannot be '/'", arg);
		if (rc == 0)
			rc = stage_dirs(b->stage, dest + 1, 1);
		if (rc == 0)
			rc = copy_fd(b, fd, &st, dst, src);
	} else if (rc == 0) {
		rc = err_set(ERR_INVAL, "--add %s: not a file or a directory", src);
	}
	close(fd);
	return rc;
}

/* ---------- the base from a root file system tarball ---------- */

/* Has the relative name a ".." component? */
static int dotdot(const char *s)
{
	while (*s) {
		size_t k = strcspn(s, "/");
		if (k == 2 && s[0] == '.' && s[1] == '.')
			return 1;
		s += k;
		while (*s == '/')
			s++;
	}
	return 0;
}

/* 1 when REL names a regular file of the stage reached through
 * directories only (no link on the way, none at the end), 0 when not, or
 * a negative error. */
static int no_links(const char *stage, const char *rel)
{
	char p[PATH_MAX];
	size_t base = strlen(stage);
	struct stat st;

	if (dotdot(rel))
		return 0;
	GUARD(path_fmt(p, sizeof(p), "%s/%s", stage, rel));
	for (size_t i = base + 1;; i++) {
		char c = p[i];
		if (c != '/' && c != '\0')
			continue;
		p[i] = '\0';
		if (lstat(p, &st) != 0 || S_ISLNK(st.st_mode))
			return 0;
		p[i] = c;
		if (c == '\0')
			return S_ISREG(st.st_mode);
	}
}

/* Unpack --base-tar into the stage: names normalized, ".." refused, never
 * through a link (libarchive's secure flags), owners dropped; device
 * nodes, FIFOs and sockets skipped (the worker would skip them). */
static int base_unpack(struct build *b)
{
	struct archive *a = archive_read_new(), *w = archive_write_disk_new();
	struct archive_entry *e;
	int rc = 0, r;

	ENSURE_GOTO(a && w, ERR_NOMEM, "out of memory");
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_write_disk_set_options(w, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
	                                      ARCHIVE_EXTRACT_SECURE_SYMLINKS);
	ENSURE_GOTO(archive_read_open_filename(a, b->base_tar, 1 << 16) == ARCHIVE_OK, ERR_IO,
	            "--base-tar %s: %s", b->base_tar, archive_error_string(a));
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *raw = archive_entry_pathname(e), *hl = archive_entry_hardlink(e);
		char name[PATH_MAX], p[PATH_MAX], h[PATH_MAX];
		mode_t type = archive_entry_filetype(e);
		ENSURE_GOTO(raw, ERR_INVAL, "--base-tar: an entry without a name");
		while (*raw == '/' || (raw[0] == '.' && raw[1] == '/'))
			raw += raw[0] == '/' ? 1 : 2;
		/* A copy: the entry's own strings change with set_pathname. */
		GUARD_GOTO(path_fmt(name, sizeof(name), "%s", raw));
		if (!*name || strcmp(name, ".") == 0)
			continue;
		if (hl)
			type = AE_IFREG; /* tar gives a hard link no type of its own */
		if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
			b->skipped_special++;
			continue;
		}
		ENSURE_GOTO(!dotdot(name), ERR_INVAL, "--base-tar: entry '%s' has a '..' component",
		            name);
		GUARD_GOTO(path_fmt(p, sizeof(p), "%s/%s", b->stage, name));
		if (hl) {
			while (*hl == '/' || (hl[0] == '.' && hl[1] == '/'))
				hl += hl[0] == '/' ? 1 : 2;
			/* A hard link names a file of the stage, reached without
			 * a link: never one of this machine's. */
			ENSURE_GOTO(no_links(b->stage, hl) == 1, ERR_INVAL,
			            "--base-tar: entry '%s' is a hard link to '%s', not to a file "
			            "before it in the tarball",
			            name, hl);
			GUARD_GOTO(path_fmt(h, sizeof(h), "%s/%s", b->stage, hl));
			archive_entry_set_hardlink(e, h);
		}
		archive_entry_set_pathname(e, p);
		ENSURE_GOTO(archive_entry_size(e) >= 0 &&
		                (uint64_t)archive_entry_size(e) <= b->lim.max_file,
		            ERR_TOOBIG,
		            "--base-tar: entry '%s' is over the %llu-byte cap on one file", name,
		            (unsigned long long)b->lim.max_file);
		archive_entry_set_uid(e, getuid());
		archive_entry_set_gid(e, getgid());
		ENSURE_GOTO(archive_write_header(w, e) >= ARCHIVE_WARN, ERR_INVAL,
		            "--base-tar: entry '%s': %s", name, archive_error_string(w));
		if (type == AE_IFREG && archive_entry_size(e) > 0) {
			const void *buf;
			size_t size;
			la_int64_t off;
			while ((r = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
				ENSURE_GOTO(archive_write_data_block(w, buf, size, off) >= 0,
				            ERR_IO, "--base-tar: write '%s': %s", name,
				            archive_error_string(w));
			ENSURE_GOTO(r == ARCHIVE_EOF, ERR_INVAL, "--base-tar: entry '%s': %s", name,
			            archive_error_string(a));
			b->bytes += (uint64_t)archive_entry_size(e);
		}
		ENSURE_GOTO(archive_write_finish_entry(w) >= ARCHIVE_WARN, ERR_IO,
		            "--base-tar: entry '%s': %s", name, archive_error_string(w));
		b->files++;
		ENSURE_GOTO(b->files <= b->lim.max_entries && b->bytes <= b->lim.max_total,
		            ERR_TOOBIG, "--base-tar: over the image's caps");
	}
	ENSURE_GOTO(r == ARCHIVE_EOF, ERR_INVAL, "--base-tar %s: %s", b->base_tar,
	            archive_error_string(a));
out:
	archive_read_free(a);
	archive_write_free(w);
	return rc;
}

/* ---------- writing a layer ---------- */

struct layer_out {
	EVP_MD_CTX *diff, *blob;
	z_stream z;
	int fd;
	uint64_t raw, gz;
	uint8_t buf[1 << 16];
	int failed;
};

static int lo_drain(struct layer_out *o, int flush)
{
	int zr;
	do {
		size_t n;
		o->z.next_out = o->buf;
		o->z.avail_out = sizeof(o->buf);
		zr = deflate(&o->z, flush);
		if (zr == Z_STREAM_ERROR)
			return -1;
		n = sizeof(o->buf) - o->z.avail_out;
		if (n && write(o->fd, o->buf, n) != (ssize_t)n)
			return -1;
		EVP_DigestUpdate(o->blob, o->buf, n);
		o->gz += n;
	} while (o->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

static la_ssize_t lo_write(struct archive *a, void *ctx, const void *p, size_t n)
{
	struct layer_out *o = ctx;
	(void)a;
	EVP_DigestUpdate(o->diff, p, n);
	o->raw += n;
	o->z.next_in = (Bytef *)(uintptr_t)p;
	o->z.avail_in = (uInt)n;
	if (lo_drain(o, Z_NO_FLUSH) < 0) {
		o->failed = 1;
		return -1;
	}
	return (la_ssize_t)n;
}

/* One entry of the stage (rel = its name in the layer). */
static int tar_entry(struct archive *a, struct archive_entry *e, const struct build *b, int dfd,
                     const char *name, const char *rel, const struct stat *st)
{
	char target[PATH_MAX];
	archive_entry_clear(e);
	archive_entry_set_pathname(e, rel);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, b->epoch, 0);
	archive_entry_set_perm(e, st->st_mode & 01777);
	if (S_ISDIR(st->st_mode)) {
		archive_entry_set_filetype(e, AE_IFDIR);
	} else if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
		ENSURE(n >= 0, ERR_IO, "image: readlink %s: %s", rel, strerror(errno));
		target[n] = '\0';
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_symlink(e, target);
	} else if (S_ISREG(st->st_mode)) {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(e, st->st_size);
	} else {
		return 0; /* the staging makes none */
	}
	ENSURE(archive_write_header(a, e) == ARCHIVE_OK, ERR_IO, "image: layer entry %s: %s", rel,
	       archive_error_string(a));
	if (S_ISREG(st->st_mode)) {
		char buf[1 << 16];
		ssize_t n;
		int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = 0;
		ENSURE(fd >= 0, ERR_IO, "image: open %s: %s", rel, strerror(errno));
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			if (archive_write_data(a, buf, (size_t)n) != n) {
				rc = err_set(ERR_IO, "image: layer entry %s: %s", rel,
				             archive_error_string(a));
				break;
			}
		if (n < 0)
			rc = err_set(ERR_IO, "image: read %s: %s", rel, strerror(errno));
		close(fd);
		GUARD(rc);
	}
	return 0;
}

/* The tree under the directory open on dfd, depth first, each directory's
 * names in strcmp order (as `tar --sort=name`). */
static int tar_tree(struct archive *a, struct archive_entry *e, const struct build *b, int dfd,
                    const char *prefix, int depth, uint64_t *entries)
{
	char **names = NULL;
	size_t count = 0;
	int rc = 0;

	ENSURE(depth < LAYER_MAX_DEPTH, ERR_TOOBIG, "image: deeper than %d levels at %s",
	       LAYER_MAX_DEPTH, prefix);
	GUARD(file_list_at(dfd, &names, &count));
	for (size_t i = 0; i < count; i++) {
		char rel[PATH_MAX];
		struct stat st;
		GUARD_GOTO(path_fmt(rel, sizeof(rel), "%s%s", prefix, names[i]));
		ENSURE_GOTO(fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0, ERR_IO,
		            "image: %s: %s", rel, strerror(errno));
		GUARD_GOTO(tar_entry(a, e, b, dfd, names[i], rel, &st));
		(*entries)++;
		if (S_ISDIR(st.st_mode)) {
			char sub[PATH_MAX];
			int fd =
			    openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			ENSURE_GOTO(fd >= 0, ERR_IO, "image: %s: %s", rel, strerror(errno));
			rc = path_fmt(sub, sizeof(sub), "%s/", rel);
			if (rc == 0)
				rc = tar_tree(a, e, b, fd, sub, depth + 1, entries);
			close(fd);
			GUARD_GOTO(rc);
		}
	}
out:
	file_list_free(names, count);
	return rc;
}

struct layer_desc {
	uint8_t digest[32], diff_id[32];
	uint64_t size, raw, entries;
};

/* Write the stage as a gzip layer blob into the layout. */
static int layer_write(struct build *b, const char *label, struct layer_desc *d)
{
	struct layer_out *o = calloc(1, sizeof(*o));
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	char tmp[PATH_MAX], blob[PATH_MAX], hex[65];
	int rc = 0, sfd = -1, zinit = 0;

	memset(d, 0, sizeof(*d));
	ENSURE_GOTO(o && a && e, ERR_NOMEM, "out of memory");
	o->fd = -1;
	o->diff = EVP_MD_CTX_new();
	o->blob = EVP_MD_CTX_new();
	ENSURE_GOTO(o->diff && o->blob, ERR_NOMEM, "out of memory");
	EVP_DigestInit_ex(o->diff, EVP_sha256(), NULL);
	EVP_DigestInit_ex(o->blob, EVP_sha256(), NULL);
	/* A gzip header without name and with mtime 0 (zlib's own), so the
	 * blob depends only on the tar. */
	ENSURE_GOTO(deflateInit2(&o->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	                         Z_DEFAULT_STRATEGY) == Z_OK,
	            ERR_NOMEM, "image: zlib init failed");
	zinit = 1;
	GUARD_GOTO(path_fmt(tmp, sizeof(tmp), "%s/%s.tar.gz", b->work, label));
	o->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ENSURE_GOTO(o->fd >= 0, ERR_IO, "image: %s: %s", tmp, strerror(errno));
	sfd = open(b->stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ENSURE_GOTO(sfd >= 0, ERR_IO, "image: %s: %s", b->stage, strerror(errno));
	/* pax only where ustar cannot say it (long names), and then only
	 * the fields that are set: no atime, ctime or names of owners. */
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	ENSURE_GOTO(archive_write_open2(a, o, NULL, lo_write, NULL, NULL) == ARCHIVE_OK, ERR_IO,
	            "image: %s", archive_error_string(a));
	GUARD_GOTO(tar_tree(a, e, b, sfd, "", 0, &d->entries));
	ENSURE_GOTO(archive_write_close(a) == ARCHIVE_OK && !o->failed, ERR_IO,
	            "image: writing the %s layer: %s", label,
	            o->failed ? strerror(errno) : archive_error_string(a));
	o->z.next_in = NULL;
	o->z.avail_in = 0;
	ENSURE_GOTO(lo_drain(o, Z_FINISH) == 0, ERR_IO, "image: %s: %s", tmp, strerror(errno));
	ENSURE_GOTO(close(o->fd) == 0, ERR_IO, "image: %s: %s", tmp, strerror(errno));
	o->fd = -1;
	EVP_DigestFinal_ex(o->diff, d->diff_id, NULL);
	EVP_DigestFinal_ex(o->blob, d->digest, NULL);
	d->raw = o->raw;
	d->size = o->gz;
	hex_encode(hex, d->digest, 32);
	GUARD_GOTO(path_fmt(blob, sizeof(blob), "%s/blobs/sha256/%s", b->layout, hex));
	ENSURE_GOTO(rename(tmp, blob) == 0, ERR_IO, "image: %s: %s", blob, strerror(errno));
	progress(b, "%s layer: %llu entries, %.1f MiB, %.1f MiB gzip, sha256:%s", label,
	         (unsigned long long)d->entries, (double)d->raw / 1048576.0,
	         (double)d->size / 1048576.0, hex);
out:
	/* First: closing the archive may still write through o. */
	archive_write_free(a);
	if (o) {
		if (o->fd >= 0)
			close(o->fd);
		if (zinit)
			deflateEnd(&o->z);
		EVP_MD_CTX_free(o->diff);
		EVP_MD_CTX_free(o->blob);
	}
	free(o);
	if (sfd >= 0)
		close(sfd);
	archive_entry_free(e);
	return rc;
}

/* ---------- config, manifest, index ---------- */

/* A JSON blob into the layout: compact with sorted keys, so equal content
 * is equal bytes. */
static int json_blob(struct build *b, const json_t *j, uint8_t digest[32], size_t *size)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	char path[PATH_MAX], hex[65];
	int rc;

	ENSURE(s, ERR_NOMEM, "out of memory");
	*size = strlen(s);
	EVP_Digest(s, *size, digest, NULL, EVP_sha256(), NULL);
	hex_encode(hex, digest, 32);
	rc = path_fmt(path, sizeof(path), "%s/blobs/sha256/%s", b->layout, hex);
	if (rc == 0)
		rc = file_write(path, s, *size, 0644);
	free(s);
	return rc;
}

static json_t *digest_str(const uint8_t d[32])
{
	char s[72];
	memcpy(s, "sha256:", 7);
	hex_encode(s + 7, d, 32);
	return json_string(s);
}

static int json_string_array(const char *opt, const char *text, json_t **out)
{
	json_t *j, *v;
	size_t i;
	GUARD(json_parse(text, strlen(text), opt, &j));
	if (!json_is_array(j)) {
		json_decref(j);
		return err_set(ERR_INVAL, "%s: expected a JSON array of strings", opt);
	}
	json_array_foreach (j, i, v) {
		if (!json_is_string(v)) {
			json_decref(j);
			return err_set(ERR_INVAL, "%s: expected a JSON array of strings", opt);
		}
	}
	*out = j;
	return 0;
}

static int config_make(const struct build *b, const struct layer_desc *l, size_t nl, json_t **out)
{
	json_t *cfg = json_object(), *c = json_object(), *env = json_array(), *ids = json_array();
	json_t *arr;
	char created[32];
	struct tm tm;
	int path_set = 0, rc = 0;

	ENSURE_GOTO(cfg && c && env && ids, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < b->nenvs; i++)
		if (strncmp(b->envs[i], "PATH=", 5) == 0)
			path_set = 1;
	if (!path_set)
		json_array_append_new(env, json_string("PATH=/usr/local/bin:/usr/bin:/bin"));
	for (size_t i = 0; i < b->nenvs; i++)
		json_array_append_new(env, json_string(b->envs[i]));
	json_object_set(c, "Env", env);
	if (b->entrypoint) {
		GUARD_GOTO(json_string_array("--entrypoint", b->entrypoint, &arr));
		json_object_set_new(c, "Entrypoint", arr);
	}
	if (b->cmd) {
		GUARD_GOTO(json_string_array("--cmd", b->cmd, &arr));
		json_object_set_new(c, "Cmd", arr);
	}
	json_object_set_new(c, "WorkingDir", json_string(b->workdir ? b->workdir : "/"));
	if (b->user)
		json_object_set_new(c, "User", json_string(b->user));
	for (size_t i = 0; i < nl; i++)
		json_array_append_new(ids, digest_str(l[i].diff_id));
	gmtime_r(&b->epoch, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(cfg, "architecture", json_string("amd64"));
	json_object_set_new(cfg, "os", json_string("linux"));
	json_object_set_new(cfg, "created", json_string(created));
	json_object_set(cfg, "config", c);
	json_object_set_new(cfg, "rootfs",
	                    json_pack("{s:s,s:O}", "type", "layers", "diff_ids", ids));
	*out = cfg;
	cfg = NULL;
out:
	json_decref(cfg);
	json_decref(c);
	json_decref(env);
	json_decref(ids);
	return rc;
}

/* index.json gets the manifest under REF, an older entry of that name
 * replaced; written atomically under a lock on the layout directory, so
 * two builds into one layout do not lose an entry. */
static int index_update(struct build *b, const uint8_t digest[32], size_t size)
{
	char path[PATH_MAX];
	json_t *idx = NULL, *ms, *m, *entry = NULL;
	size_t i;
	int dfd, rc = 0;

	dfd = open(b->layout, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ENSURE(dfd >= 0, ERR_IO, "image: %s: %s", b->layout, strerror(errno));
	ENSURE_GOTO(flock(dfd, LOCK_EX) == 0, ERR_IO, "image: lock %s: %s", b->layout,
	            strerror(errno));
	GUARD_GOTO(path_fmt(path, sizeof(path), "%s/oci-layout", b->layout));
	if (access(path, F_OK) != 0)
		GUARD_GOTO(file_write(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644));
	GUARD_GOTO(path_fmt(path, sizeof(path), "%s/index.json", b->layout));
	if (access(path, F_OK) == 0) {
		GUARD_GOTO(json_load_path(path, INDEX_JSON_MAX, &idx));
		ms = json_object_get(idx, "manifests");
		ENSURE_GOTO(json_is_object(idx) && json_is_array(ms), ERR_INVAL,
		            "image: %s is not an OCI index", path);
	} else {
		idx = json_pack("{s:i,s:[]}", "schemaVersion", 2, "manifests");
		ENSURE_GOTO(idx, ERR_NOMEM, "out of memory");
		ms = json_object_get(idx, "manifests");
	}
	for (i = 0; i < json_array_size(ms);) {
		m = json_array_get(ms, i);
		const char *name = json_string_value(
		    json_object_get(json_object_get(m, "annotations"), REF_ANNOTATION));
		if (name && strcmp(name, b->ref) == 0)
			json_array_remove(ms, i);
		else
			i++;
	}
	entry = json_pack("{s:s,s:o,s:I,s:{s:s}}", "mediaType", MEDIA_MANIFEST, "digest",
	                  digest_str(digest), "size", (json_int_t)size, "annotations",
	                  REF_ANNOTATION, b->ref);
	ENSURE_GOTO(entry, ERR_NOMEM, "out of memory");
	json_array_append(ms, entry);
	GUARD_GOTO(json_write_path(path, idx, 0644));
out:
	json_decref(idx);
	json_decref(entry);
	close(dfd);
	return rc;
}

/* ---------- the base layer's extras ---------- */

static int stage_text(struct build *b, const char *rel, const char *text)
{
	char p[PATH_MAX];
	struct stat st;
	GUARD(path_fmt(p, sizeof(p), "%s/%s", b->stage, rel));
	if (lstat(p, &st) == 0)
		return 0; /* the packages' or the base's own */
	GUARD(stage_dirs(b->stage, rel, 1));
	return file_write(p, text, strlen(text), 0644);
}

/* What every image has: a user database, the directories the worker
 * mounts over, an ld.so cache for the libraries staged. */
static int stage_extras(struct build *b)
{
	static const struct {
		const char *name;
		mode_t mode;
	} dirs[] = {{"tmp", 01777}, {"iexec_in", 0755}, {"iexec_out", 0755}, {"proc", 0555},
	            {"dev", 0755},  {"sys", 0555},      {"root", 0700},      {"etc", 0755}};
	char p[PATH_MAX], cache[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		GUARD(path_fmt(p, sizeof(p), "%s/%s", b->stage, dirs[i].name));
		if (lstat(p, &st) == 0)
			continue;
		ENSURE(mkdir(p, 0755) == 0 && chmod(p, dirs[i].mode) == 0, ERR_IO,
		       "image: mkdir %s: %s", p, strerror(errno));
	}
	GUARD(stage_text(b, "etc/passwd",
	                 "root:x:0:0:root:/root:/bin/sh\n"
	                 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"));
	GUARD(stage_text(b, "etc/group", "root:x:0:\nnogroup:x:65534:\n"));
	GUARD(stage_text(b, "etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n"));
	/* ldconfig -r chroots into the stage (root only) and writes its cache
	 * there; -X leaves the packages' links as they are.  Without a cache
	 * Debian's loader still searches the multiarch directories, so a
	 * failure is only reported.  Only --add: no libraries, no cache. */
	if (b->npkgs || b->base_tar) {
		char *argv[] = {access("/sbin/ldconfig", X_OK) == 0 ? "/sbin/ldconfig" : "ldconfig",
		                "-X", "-r", b->stage, NULL};
		char log[PATH_MAX], var[PATH_MAX];
		int had_aux, real_dirs = 1;
		/* var and var/cache real directories of the stage, so what is
		 * removed below is in it (a base tarball may link them out). */
		GUARD(path_fmt(var, sizeof(var), "%s/var", b->stage));
		real_dirs &= lstat(var, &st) != 0 || S_ISDIR(st.st_mode);
		GUARD(path_fmt(var, sizeof(var), "%s/var/cache", b->stage));
		real_dirs &= lstat(var, &st) != 0 || S_ISDIR(st.st_mode);
		GUARD(path_fmt(cache, sizeof(cache), "%s/var/cache/ldconfig", b->stage));
		had_aux = !real_dirs || lstat(cache, &st) == 0;
		GUARD(path_fmt(log, sizeof(log), "%s/ldconfig.log", b->work));
		if (proc_run(argv, NULL, log) != 0)
			progress(b,
			         "warning: ldconfig -r failed (it needs root): no /etc/ld.so.cache "
			         "in the image, libraries are found by the loader's default paths");
		/* Its aux cache records inodes and times of this build:
		 * never shipped. */
		if (!had_aux)
			GUARD(file_remove_tree(cache));
	}
	return 0;
}

/* ---------- the command ---------- */

static const char build_usage[] =
    "Usage: tdexec image build --layout DIR --ref NAME [--package PKG]...\n"
    "                          [--base-tar FILE] [--add SRC:DEST]...\n"
    "                          [--entrypoint JSON_ARRAY] [--cmd JSON_ARRAY] [--env K=V]...\n"
    "                          [--workdir DIR] [--user UID[:GID]] [--json] [--quiet]\n"
    "\n"
    "Build a reproducible OCI image into the image layout DIR (as 'tdexec worker\n"
    "--images DIR' reads it and 'skopeo copy oci:DIR:NAME ...' pushes it), named\n"
    "NAME in its index.json.  Two gzip layers: the base (the Debian packages\n"
    "installed on this machine, with their dependencies, Essential packages only\n"
    "when named; or --base-tar, a root file system tarball, with the packages over\n"
    "it), then the files added.  Same inputs, same digest: entries in name order,\n"
    "owner 0:0, mtime SOURCE_DATE_EPOCH (else 0).  Prints the manifest digest\n"
    "(sha256:..., the app's checksum); progress on stderr.\n"
    "\n"
    "  --package PKG      an installed Debian package (repeatable)\n"
    "  --base-tar FILE    a root file system tarball (tar, tar.gz, tar.zst...)\n"
    "  --add SRC:DEST     a file or directory (recursively, links kept as links)\n"
    "                     at the absolute path DEST of the image (repeatable)\n"
    "  --entrypoint JSON  e.g. '[\"python3\",\"/app/app.py\"]'\n"
    "  --cmd JSON         default arguments, a JSON array of strings\n"
    "  --env K=V          an environment variable (repeatable); PATH defaults to\n"
    "                     /usr/local/bin:/usr/bin:/bin\n"
    "  --workdir DIR      the working directory (default /)\n"
    "  --user UID[:GID]   numeric user (and group) the app runs as\n"
    "  --json             print the image's digests and sizes as JSON\n"
    "  --quiet            no progress on stderr\n";

static int user_valid(const char *u)
{
	size_t n = strspn(u, "0123456789");
	if (n == 0 || n > 10)
		return 0;
	if (u[n] == '\0')
		return 1;
	if (u[n] != ':')
		return 0;
	u += n + 1;
	n = strspn(u, "0123456789");
	return n > 0 && n <= 10 && u[n] == '\0';
}

static int build_run(struct build *b, json_t **report)
{
	struct pkgdb db = {0};
	struct diversions dv = {0};
	struct pkg **closure = NULL;
	size_t nclosure = 0;
	struct layer_desc layers[2];
	json_t *cfg = NULL, *man = NULL, *jl;
	uint8_t cdig[32], mdig[32];
	size_t csize, msize;
	int rc = 0, made = 0;

	GUARD(dir_create(b->layout, 0755));
	GUARD_GOTO(path_fmt(b->work, sizeof(b->work), "%s/blobs/sha256", b->layout));
	GUARD_GOTO(dir_create(b->work, 0755));
	GUARD_GOTO(path_fmt(b->work, sizeof(b->work), "%s/.build-XXXXXX", b->layout));
	ENSURE_GOTO(mkdtemp(b->work), ERR_IO, "image: mkdtemp in %s: %s", b->layout,
	            strerror(errno));
	made = 1;
	GUARD_GOTO(path_fmt(b->stage, sizeof(b->stage), "%s/base", b->work));
	ENSURE_GOTO(mkdir(b->stage, 0755) == 0, ERR_IO, "image: %s: %s", b->stage, strerror(errno));

	/* The base layer. */
	if (b->base_tar) {
		GUARD_GOTO(base_unpack(b));
		progress(b, "base tarball %s: %llu entries", b->base_tar,
		         (unsigned long long)b->files);
	}
	if (b->npkgs) {
		progress(b, "resolving %zu package(s) from this machine's dpkg database", b->npkgs);
		GUARD_GOTO(pkgdb_load(b, &db));
		GUARD_GOTO(pkg_closure(b, &db, &closure, &nclosure));
		GUARD_GOTO(diversions_load(&dv));
		for (size_t i = 0; i < nclosure; i++) {
			GUARD_GOTO(stage_package(b, closure[i], &dv));
			json_array_append_new(b->closure, json_string(closure[i]->name));
		}
		GUARD_GOTO(stage_alternatives(b));
		progress(b,
		         "packages: %llu files, %.1f MiB; %llu excluded (docs, manuals, "
		         "locales), %llu listed but missing on disk, %llu alternatives",
		         (unsigned long long)b->files, (double)b->bytes / 1048576.0,
		         (unsigned long long)b->excluded, (unsigned long long)b->missing,
		         (unsigned long long)b->alternatives);
	}
	GUARD_GOTO(stage_extras(b));
	GUARD_GOTO(layer_write(b, "base", &layers[0]));
	GUARD_GOTO(file_remove_tree(b->stage));

	/* The user's layer. */
	GUARD_GOTO(path_fmt(b->stage, sizeof(b->stage), "%s/app", b->work));
	ENSURE_GOTO(mkdir(b->stage, 0755) == 0, ERR_IO, "image: %s: %s", b->stage, strerror(errno));
	b->files = 0;
	for (size_t i = 0; i < b->nadds; i++)
		GUARD_GOTO(add_one(b, b->adds[i]));
	GUARD_GOTO(layer_write(b, "app", &layers[1]));

	GUARD_GOTO(config_make(b, layers, 2, &cfg));
	GUARD_GOTO(json_blob(b, cfg, cdig, &csize));
	man = json_pack("{s:i,s:s,s:{s:s,s:o,s:I},s:[]}", "schemaVersion", 2, "mediaType",
	                MEDIA_MANIFEST, "config", "mediaType", MEDIA_CONFIG, "digest",
	                digest_str(cdig), "size", (json_int_t)csize, "layers");
	ENSURE_GOTO(man, ERR_NOMEM, "out of memory");
	jl = json_object_get(man, "layers");
	for (size_t i = 0; i < 2; i++)
		json_array_append_new(jl, json_pack("{s:s,s:o,s:I}", "mediaType", MEDIA_LAYER,
		                                    "digest", digest_str(layers[i].digest), "size",
		                                    (json_int_t)layers[i].size));
	GUARD_GOTO(json_blob(b, man, mdig, &msize));
	GUARD_GOTO(index_update(b, mdig, msize));

	*report = json_pack("{s:o,s:s,s:s,s:o,s:[]}", "digest", digest_str(mdig), "ref", b->ref,
	                    "layout", b->layout, "config", digest_str(cdig), "layers");
	ENSURE_GOTO(*report, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < 2; i++)
		json_array_append_new(
		    json_object_get(*report, "layers"),
		    json_pack("{s:o,s:o,s:I,s:I,s:I}", "digest", digest_str(layers[i].digest),
		              "diff_id", digest_str(layers[i].diff_id), "size",
		              (json_int_t)layers[i].size, "uncompressed", (json_int_t)layers[i].raw,
		              "entries", (json_int_t)layers[i].entries));
	json_object_set(*report, "packages", b->closure);
out:
	if (made)
		IGNORE_STATUS(file_remove_tree(b->work)); /* a leftover is harmless */
	json_decref(cfg);
	json_decref(man);
	free(closure);
	pkgdb_free(&db);
	free(dv.buf);
	free(dv.v);
	return rc;
}

static const struct option image_build_opts[] = {
    {"layout", required_argument, NULL, 'l'},  {"ref", required_argument, NULL, 'r'},
    {"package", required_argument, NULL, 'p'}, {"base-tar", required_argument, NULL, 'b'},
    {"add", required_argument, NULL, 'a'},     {"entrypoint", required_argument, NULL, 'E'},
    {"cmd", required_argument, NULL, 'C'},     {"env", required_argument, NULL, 'e'},
    {"workdir", required_argument, NULL, 'w'}, {"user", required_argument, NULL, 'u'},
    {"json", no_argument, NULL, 'j'},          {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
};

static int image_build(int argc, char **argv)
{
	struct build *b = calloc(1, sizeof(*b));
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	json_t *report = NULL;
	int c, code = 1;

	if (!b)
		return err_set(ERR_NOMEM, "out of memory"), cli_fail();
	layer_limits_default(&b->lim);
	/* libarchive converts names from the locale's charset to the pax
	 * headers' UTF-8: under "C" a non-ASCII name (ca-certificates has
	 * some) would fail.  UTF-8 names pass unchanged, whatever LANG is. */
	setlocale(LC_CTYPE, "C.UTF-8");
	/* The modes of the directories made here are the image's: not the
	 * caller's umask. */
	umask(022);
	optind = 0;
	while ((c = cli_getopt(argc, argv, "image build", "h", image_build_opts)) != -1) {
		switch (c) {
		case 'l': b->layout = optarg; break;
		case 'r': b->ref = optarg; break;
		case 'b': b->base_tar = optarg; break;
		case 'E': b->entrypoint = optarg; break;
		case 'C': b->cmd = optarg; break;
		case 'w': b->workdir = optarg; break;
		case 'u': b->user = optarg; break;
		case 'j': b->json = 1; break;
		case 'q': b->quiet = 1; break;
		case 'p':
		case 'a':
		case 'e': {
			const char **v = c == 'p' ? b->pkgs : c == 'a' ? b->adds : b->envs;
			size_t *n = c == 'p' ? &b->npkgs : c == 'a' ? &b->nadds : &b->nenvs;
			if (*n == ADD_MAX) {
				code = cli_usage("image build",
				                 "at most %d of each repeated option", ADD_MAX);
				goto out;
			}
			v[(*n)++] = optarg;
			break;
		}
		case 'h':
			fputs(build_usage, stdout);
			code = 0;
			goto out;
		default: code = EXIT_USAGE; goto out;
		}
	}
	code = EXIT_USAGE;
	if (optind != argc) {
		cli_usage("image build", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!b->layout || !b->ref) {
		cli_usage("image build", "--layout and --ref are required");
		goto out;
	}
	if (!b->ref[0] || strlen(b->ref) > 128 ||
	    strspn(b->ref, "abcdefghijklmnopqrstuvwxyz"
	                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                   "0123456789._-:/") != strlen(b->ref)) {
		cli_usage("image build", "--ref '%s': letters, digits and . _ - : / only", b->ref);
		goto out;
	}
	if (!b->npkgs && !b->base_tar && !b->nadds) {
		cli_usage("image build", "nothing to build: give --package, --base-tar or --add");
		goto out;
	}
	for (size_t i = 0; i < b->nenvs; i++) {
		const char *eq = strchr(b->envs[i], '=');
		if (!eq || eq == b->envs[i]) {
			cli_usage("image build", "--env '%s': expected K=V", b->envs[i]);
			goto out;
		}
	}
	if (b->workdir && b->workdir[0] != '/') {
		cli_usage("image build", "--workdir '%s': must be an absolute path", b->workdir);
		goto out;
	}
	if (b->user && !user_valid(b->user)) {
		cli_usage("image build", "--user '%s': expected UID or UID:GID (numbers)", b->user);
		goto out;
	}
	/* Bad JSON and bad --add are usage errors, found before any work. */
	for (int k = 0; k < 2; k++) {
		const char *text = k == 0 ? b->entrypoint : b->cmd;
		json_t *arr;
		if (!text)
			continue;
		if (json_string_array(k == 0 ? "--entrypoint" : "--cmd", text, &arr) < 0) {
			cli_usage("image build", "%s", err_msg());
			goto out;
		}
		json_decref(arr);
	}
	for (size_t i = 0; i < b->nadds; i++) {
		char s[PATH_MAX], d[PATH_MAX];
		if (add_parse(b->adds[i], s, sizeof(s), d, sizeof(d)) < 0) {
			cli_usage("image build", "%s", err_msg());
			goto out;
		}
	}
	if (sde) {
		char *end;
		long long v;
		errno = 0;
		v = strtoll(sde, &end, 10);
		if (errno || end == sde || *end || v < 0 || v > 253402300799LL) {
			cli_usage("image build",
			          "SOURCE_DATE_EPOCH '%s': expected seconds since 1970", sde);
			goto out;
		}
		b->epoch = (time_t)v;
	}
	b->closure = json_array();
	if (!b->closure || build_run(b, &report) < 0) {
		code = cli_fail();
		goto out;
	}
	if (b->json) {
		code = json_print(report, 1) < 0 ? cli_fail() : 0;
	} else {
		printf("%s\n", json_string_value(json_object_get(report, "digest")));
		code = 0;
	}
out:
	json_decref(report);
	json_decref(b->closure);
	free(b);
	return code;
}

static const char image_usage[] =
    "Usage: tdexec image COMMAND [ARGS]\n"
    "\n"
    "OCI images for the worker's --images layout.\n"
    "\n"
    "Commands:\n"
    "  build   a reproducible image from installed Debian packages and your files\n"
    "  pull    an image from its registry into an OCI layout\n";

/* One line per subcommand: `image pull` joins them here. */
const struct cli_cmd image_cmds[] = {
    {"build", image_build, "a reproducible image from Debian packages and files", NULL,
     image_build_opts},
    {"pull", cmd_image_pull, "an image from its registry into an OCI layout", NULL, cli_pull_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

int cmd_image(int argc, char **argv)
{
	return cli_dispatch("image", image_cmds, argc, argv, image_usage);
}
