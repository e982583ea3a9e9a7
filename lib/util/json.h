/* json.h — small helpers over jansson for our file formats. */
#ifndef TDEXEC_UTIL_JSON_H
#define TDEXEC_UTIL_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "util/err.h"

/* Load a JSON file (size-capped); errors name the file, line and column. */
MUST_CHECK int json_load_path(const char *path, size_t cap, json_t **out);
/* Parse a buffer; `what` names it in errors. */
MUST_CHECK int json_parse(const char *buf, size_t len, const char *what, json_t **out);

/* Read obj[key] as a hex string of exactly n bytes.  ERR_NOTFOUND when the
 * key is absent (if `optional`, absence returns 1 and leaves out as is). */
MUST_CHECK int json_get_hex(const json_t *obj, const char *key, uint8_t *out, size_t n,
                            int optional);
/* obj[key] as a number: a JSON integer or a decimal string (as ABI decoding
 * and iExec's orders write them); `dflt` when absent or neither. */
long long json_get_ll(const json_t *obj, const char *key, long long dflt);
/* obj[key] as a JSON integer in [min, max] (a real such as 1.0, a string or
 * a value out of range is refused: ERR_INVAL naming the key and the range;
 * ERR_NOTFOUND when the key is absent).  For every JSON integer that is
 * narrowed to a smaller type or used as an index. */
MUST_CHECK int json_get_int_range(const json_t *obj, const char *key, long long min, long long max,
                                  long long *out);
/* Set obj[key] to lower-case hex of p[0..n). */
MUST_CHECK int json_set_hex(json_t *obj, const char *key, const uint8_t *p, size_t n);

/* Write pretty (2-space indent, key order kept) JSON atomically + newline. */
MUST_CHECK int json_write_path(const char *path, const json_t *j, mode_t mode);
/* Print compact or pretty JSON to stdout followed by a newline. */
MUST_CHECK int json_print(const json_t *j, int pretty);
/* Print an object as aligned "name  value" lines, nested objects indented. */
void json_print_text(FILE *f, const json_t *j);

#endif
