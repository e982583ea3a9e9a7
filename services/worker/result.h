/* result.h — an app's output read by the worker, never following a link.
 *
 * The output directory was written by untrusted code.  Everything here is
 * opened relative to the directory's own descriptor with O_NOFOLLOW and
 * O_NONBLOCK, so a symbolic link, a FIFO, a socket or a device left there
 * fails the task with its name instead of leading the worker (root) to a
 * file of its own, or blocking it.  The result archive and iExec's digest
 * come from the same descriptors in one pass. */
#ifndef TDEXEC_WORKER_RESULT_H
#define TDEXEC_WORKER_RESULT_H

#include <stddef.h>
#include <stdint.h>

struct result_limits {
	uint64_t max_bytes; /* all regular files together */
	uint32_t max_files; /* files and directories */
	uint64_t max_zip;   /* the archive written */
};

#define RESULT_DEFAULT_LIMITS                                                                      \
	{                                                                                          \
		1ull << 30, 10000, 64u << 20                                                       \
	}

/* Walk the directory `out` (the app's /iexec_out): every entry must be a
 * directory or a regular file within the limits.  `dop` is the
 * deterministic output path relative to `out` ("" for `out` itself; no
 * "..", no link on the way).  *digest gets iExec's digest of it: a file's
 * SHA-256, or for a directory keccak256 over the SHA-256 of each file in
 * it, in name order.  With `zip` (a path), the whole of `out` is also
 * written there as a zip archive.  Errors name the offending entry. */
int result_collect(const char *out, const char *dop, const struct result_limits *lim,
                   const char *zip, uint8_t digest[32]);

/* A deterministic-output-path ("/iexec_out" or a path under it, no ".",
 * ".." or empty component) as a path relative to the output directory. */
int result_dop_relative(const char *dop, char *rel, size_t cap);

/* The same digest read from a result archive (a zip, as the worker writes
 * it) as a stream, checked against `lim` by what is actually read, not by
 * what the archive declares: entries must be regular files or directories
 * with relative names inside (no "..", no absolute name, no duplicate).
 * The digest follows the archive's computed.json: keccak256 of its
 * callback-data when `callback`, else iExec's digest of its
 * deterministic-output-path.  With `dir` (a directory), the entries are
 * also written there, through descriptors that follow no link, from the
 * same bytes (a file already there is replaced).  `digest` NULL: unpack
 * only. */
int result_archive_read(const char *zip, const char *dir, const struct result_limits *lim,
                        int callback, uint8_t digest[32]);

/* Read the regular file NAME inside the directory `dir` (no link followed
 * on the way, O_NONBLOCK so a FIFO cannot block): at most `cap` bytes,
 * NUL-terminated (free()). ERR_NOTFOUND when it does not exist. */
int result_read_file(const char *dir, const char *name, size_t cap, uint8_t **buf, size_t *len);

/* Create the regular file NAME inside `dir` (mode 0644): refused when
 * anything, a link included, is there already. */
int result_write_file(const char *dir, const char *name, const void *buf, size_t len);

/* Write `n` in-memory files as a zip archive at `path` (mode 0600). */
int result_zip_buffers(const char *path, size_t n, const char *const names[],
                       const uint8_t *const bufs[], const size_t lens[]);

#endif
