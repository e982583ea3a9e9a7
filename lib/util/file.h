/* file.h — whole-file reads with a size cap, and atomic writes. */
#ifndef TDEXEC_UTIL_FILE_H
#define TDEXEC_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "util/err.h"

/* Read all of `path` ("-" = stdin) into a new buffer (free()), refusing
 * inputs over `cap` bytes.  The buffer gets a NUL after the data so text
 * formats can use it as a string.  Returns 0 or ERR_IO / ERR_TOOBIG. */
MUST_CHECK int file_read(const char *path, size_t cap, uint8_t **out, size_t *len);

/* Write `len` bytes to `path` atomically (temp file in the same directory,
 * fsync, rename) with the given mode.  "-" writes to stdout. */
MUST_CHECK int file_write(const char *path, const void *buf, size_t len, mode_t mode);

/* mkdir -p with the given mode for each created directory. */
MUST_CHECK int dir_create(const char *path, mode_t mode);

/* The names in the directory `dirfd` but "." and "..", sorted by strcmp,
 * read through a fresh open file description (dirfd's offset is left
 * alone).  *names is NULL when there are none; free with file_list_free. */
MUST_CHECK int file_list_at(int dirfd, char ***names, size_t *count);
void file_list_free(char **names, size_t count);

/* rm -rf that never follows a link: NAME in the directory `dirfd` (not
 * followed when it is a link) and everything below it, removed relative to
 * each directory's own descriptor, depth-first without recursion, so a
 * tree written by untrusted code can neither send it elsewhere nor exhaust
 * the stack.  Another file system mounted below stops it (ERR_BUSY): it is
 * never emptied from here.  A name that does not exist is not an error. */
MUST_CHECK int file_remove_at(int dirfd, const char *name);
/* The same for a path (its last component is NAME). */
MUST_CHECK int file_remove_tree(const char *path);

/* The disk bytes (allocated blocks) of `path` and everything below it,
 * never following a link nor crossing into another file system; 0 when
 * `path` does not exist. */
MUST_CHECK int file_tree_bytes(const char *path, uint64_t *bytes);

/* SHA-256 of a file, read in blocks.  ERR_NOTFOUND when it cannot be
 * opened, ERR_TOOBIG past `cap` bytes (0 = no cap). */
MUST_CHECK int file_sha256(const char *path, size_t cap, uint8_t out[32]);

/* snprintf for paths: ERR_TOOBIG instead of a silently cut path. */
MUST_CHECK int path_fmt(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
