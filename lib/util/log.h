/* log.h — leveled, one-line key=value logging to stderr.
 *
 *   log_info("quote.get", "provider=%s bytes=%zu", name, len);
 *   -> ts=2026-11-25T14:30:00.123Z level=info event=quote.get provider=sim bytes=5006
 *
 * Never pass secret values to these functions.
 */
#ifndef TDEXEC_UTIL_LOG_H
#define TDEXEC_UTIL_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Parse "debug|info|warn|error|off"; returns 0 or ERR_INVAL. */
int log_level_parse(const char *s, enum log_level *out);

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(ev, ...) log_msg(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...) log_msg(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_msg(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_msg(LOG_ERROR, ev, __VA_ARGS__)

#endif
