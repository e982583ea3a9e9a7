#include "timefmt.h"

#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void time_format(time_t t, char out[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int time_parse(const char *s, time_t *out)
{
	struct tm tm;
	const char *p;
	char *end;

	ENSURE(s && *s, ERR_INVAL, "empty time");
	p = s[0] == '@' ? s + 1 : s;
	if (*p >= '0' && *p <= '9' && strchr(p, '-') == NULL) {
		long long v;
		errno = 0;
		v = strtoll(p, &end, 10);
		ENSURE(errno == 0 && *end == '\0' && v >= 0, ERR_INVAL,
		       "invalid time '%s' (Unix seconds or YYYY-MM-DDTHH:MM:SSZ)", s);
		*out = (time_t)v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	ENSURE(end, ERR_INVAL, "invalid time '%s' (Unix seconds or YYYY-MM-DDTHH:MM:SSZ)", s);
	if (*end == '.') {
		end++;
		while (*end >= '0' && *end <= '9')
			end++;
	}
	ENSURE(strcmp(end, "Z") == 0, ERR_INVAL, "invalid time '%s': must be UTC and end in 'Z'",
	       s);
	*out = timegm(&tm);
	return 0;
}
