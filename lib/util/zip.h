/* zip.h — the central directory of a zip archive, read without trusting it
 * (PKWARE APPNOTE 6.3.10, sections 4.3.12 and 4.3.16): what a result
 * archive from a worker holds, checked before anything is extracted. */
#ifndef TDEXEC_UTIL_ZIP_H
#define TDEXEC_UTIL_ZIP_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define ZIP_NAME_MAX 255

struct zip_entry {
	char name[ZIP_NAME_MAX + 1]; /* as stored, NUL-terminated */
	uint32_t mode;               /* Unix st_mode when made on Unix, else 0 */
	uint64_t size;               /* uncompressed size */
};

/* The entries of the archive in buf[0..len), up to max_entries of them.
 * ERR_INVAL naming the fault for a malformed archive (no end record,
 * records out of bounds, a name with a NUL or over ZIP_NAME_MAX bytes);
 * ERR_UNSUPPORTED for ZIP64 and multi-disk archives; ERR_TOOBIG for more
 * entries.  *out is a new array (free()). */
MUST_CHECK int zip_list(const uint8_t *buf, size_t len, size_t max_entries, struct zip_entry **out,
                        size_t *n);

/* 1 when an entry's name extracts inside the target directory: relative,
 * no "." or ".." component, no backslash, no empty component other than a
 * directory's trailing slash. */
MUST_CHECK int zip_name_safe(const char *name);

#endif
