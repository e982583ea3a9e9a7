/* log.h — leveled, one-line key=value logging to stderr.
 *
 *   log_info("quote.get", "provider=%s bytes=%zu", name, len);
 *   -> ts=2026-11-25T14:30:00.123Z level=info event=quote.get provider=sim bytes=5006
 *
 * One event is always exactly one line, and no byte that comes from an
 * argument can end it or start a key.  The format string is trusted (it is
 * code); what each conversion produces is not, and is escaped:
 *   - everywhere: `"` -> \"   `\` -> \\   LF -> \n   CR -> \r   TAB -> \t,
 *     other bytes < 0x20 and 0x7f -> \xNN;
 *   - outside a quoted value (between `"` of the format string), a space
 *     also becomes \x20, so `task=%s` stays one token.
 * A quoted value is therefore always closed by the format's own quote.
 * Control bytes in the format itself are escaped too.  A line longer than
 * LOG_LINE_MAX is cut between two escapes, its open quote closed, and
 * " truncated=1" appended.
 *
 * Never pass secret values to these functions.
 */
#ifndef TDEXEC_UTIL_LOG_H
#define TDEXEC_UTIL_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <time.h>
#include "util/err.h"

#define LOG_LINE_MAX 2048

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Parse "debug|info|warn|error|off"; returns 0 or ERR_INVAL. */
MUST_CHECK int log_level_parse(const char *s, enum log_level *out);

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Format the line log_msg would write at time `now`, without the newline,
 * into out[cap] (cap >= 64; NUL-terminated).  Returns its length.  `lvl`
 * must be below LOG_OFF.  Exposed for the tests. */
size_t log_format(char *out, size_t cap, enum log_level lvl, const struct timespec *now,
                  const char *event, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
size_t log_formatv(char *out, size_t cap, enum log_level lvl, const struct timespec *now,
                   const char *event, const char *fmt, va_list ap);

#define log_debug(ev, ...) log_msg(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...)  log_msg(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_msg(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_msg(LOG_ERROR, ev, __VA_ARGS__)

#endif
