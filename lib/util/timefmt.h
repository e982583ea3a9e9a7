/* timefmt.h — RFC 3339 UTC times ("2025-06-27T04:53:20Z") and Unix seconds. */
#ifndef TDEXEC_UTIL_TIMEFMT_H
#define TDEXEC_UTIL_TIMEFMT_H

#include <time.h>
#include "util/err.h"

/* Accepts Unix seconds ("1751000000", "@1751000000") or RFC 3339 in UTC
 * with optional fractional seconds ("2025-06-27T04:53:20Z",
 * "2025-06-27T04:53:20.123Z").  Returns 0 or ERR_INVAL. */
MUST_CHECK int time_parse(const char *s, time_t *out);
/* "YYYY-MM-DDTHH:MM:SSZ" into out[32]. */
void time_format(time_t t, char out[32]);

#endif
