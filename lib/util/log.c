#include "log.h"

#include "err.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <wchar.h>

static enum log_level cur_level = LOG_WARN;
static const char *const names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(enum log_level lvl)
{
	cur_level = lvl;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i <= LOG_OFF; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return err_set(ERR_INVAL, "unknown log level '%s' (debug, info, warn, error, off)", s);
}

/* Room kept at the end of the line for `"` and " truncated=1". */
#define TAIL_RESERVE 16

struct line {
	char *buf;
	size_t cap, len; /* cap excludes TAIL_RESERVE and the NUL */
	int quoted;      /* inside a quoted value of the format */
	int full;        /* something did not fit */
};

/* Append n bytes atomically: all of them or none, and then the line is full. */
static int put(struct line *l, const char *p, size_t n)
{
	if (l->full || n > l->cap - l->len) {
		l->full = 1;
		return -1;
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
	return 0;
}

/* One byte of untrusted text (`from_arg`) or of the format, escaped. */
static int put_escaped(struct line *l, unsigned char c, int from_arg)
{
	char e[4];

	switch (c) {
	case '\n': return put(l, "\\n", 2);
	case '\r': return put(l, "\\r", 2);
	case '\t': return put(l, "\\t", 2);
	case '"':
		if (from_arg)
			return put(l, "\\\"", 2);
		l->quoted = !l->quoted;
		return put(l, "\"", 1);
	case '\\':
		if (from_arg)
			return put(l, "\\\\", 2);
		break;
	case ' ':
		if (from_arg && !l->quoted)
			return put(l, "\\x20", 4);
		break;
	default:
		if (c < 0x20 || c == 0x7f) {
			snprintf(e, sizeof(e), "x%02x", c);
			return put(l, "\\", 1) < 0 ? -1 : put(l, e, 3);
		}
		break;
	}
	return put(l, (const char *)&c, 1);
}

static int put_arg(struct line *l, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (put_escaped(l, (unsigned char)p[i], 1) < 0)
			return -1;
	return 0;
}

enum lenmod { LM_NONE, LM_HH, LM_H, LM_L, LM_LL, LM_J, LM_Z, LM_T, LM_BIG_L };

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif

/* Format the conversion at *pf (just after '%') with its argument from ap
 * into tmp; returns the number of bytes produced (capped), or -1 for a
 * conversion this function does not know (it cannot take its argument). */
static long convert(const char **pf, va_list *ap, char *tmp, size_t cap, int saved_errno)
{
	const char *f = *pf;
	char spec[48];
	size_t sl = 0;
	enum lenmod lm = LM_NONE;
	int n = 0;

	spec[sl++] = '%';
	while (*f && strchr("-+ #0", *f) && sl < 8)
		spec[sl++] = *f++;
	if (*f == '*') {
		sl += (size_t)snprintf(spec + sl, sizeof(spec) - sl, "%d", va_arg(*ap, int));
		f++;
	} else {
		while (*f >= '0' && *f <= '9' && sl < 20)
			spec[sl++] = *f++;
	}
	if (*f == '.') {
		spec[sl++] = *f++;
		if (*f == '*') {
			int prec = va_arg(*ap, int);
			sl += (size_t)snprintf(spec + sl, sizeof(spec) - sl, "%d",
			                       prec < 0 ? 0 : prec);
			f++;
		} else {
			while (*f >= '0' && *f <= '9' && sl < 32)
				spec[sl++] = *f++;
		}
	}
	if (*f >= '0' && *f <= '9')
		return -1; /* over-long width or precision */
	switch (*f) {
	case 'h': lm = f[1] == 'h' ? LM_HH : LM_H; break;
	case 'l': lm = f[1] == 'l' ? LM_LL : LM_L; break;
	case 'j': lm = LM_J; break;
	case 'z': lm = LM_Z; break;
	case 't': lm = LM_T; break;
	case 'L': lm = LM_BIG_L; break;
	default: break;
	}
	while (*f && strchr("hljztL", *f) && sl < 40)
		spec[sl++] = *f++;
	if (!*f)
		return -1;
	spec[sl++] = *f;
	spec[sl] = '\0';
	switch (*f) {
	case 'd':
	case 'i':
		switch (lm) {
		case LM_L: n = snprintf(tmp, cap, spec, va_arg(*ap, long)); break;
		case LM_LL: n = snprintf(tmp, cap, spec, va_arg(*ap, long long)); break;
		case LM_J: n = snprintf(tmp, cap, spec, va_arg(*ap, intmax_t)); break;
		case LM_Z: n = snprintf(tmp, cap, spec, va_arg(*ap, ssize_t)); break;
		case LM_T: n = snprintf(tmp, cap, spec, va_arg(*ap, ptrdiff_t)); break;
		case LM_BIG_L: return -1;
		default: n = snprintf(tmp, cap, spec, va_arg(*ap, int)); break;
		}
		break;
	case 'o':
	case 'u':
	case 'x':
	case 'X':
		switch (lm) {
		case LM_L: n = snprintf(tmp, cap, spec, va_arg(*ap, unsigned long)); break;
		case LM_LL: n = snprintf(tmp, cap, spec, va_arg(*ap, unsigned long long)); break;
		case LM_J: n = snprintf(tmp, cap, spec, va_arg(*ap, uintmax_t)); break;
		case LM_Z: n = snprintf(tmp, cap, spec, va_arg(*ap, size_t)); break;
		case LM_T: n = snprintf(tmp, cap, spec, va_arg(*ap, ptrdiff_t)); break;
		case LM_BIG_L: return -1;
		default: n = snprintf(tmp, cap, spec, va_arg(*ap, unsigned)); break;
		}
		break;
	case 'e':
	case 'E':
	case 'f':
	case 'F':
	case 'g':
	case 'G':
	case 'a':
	case 'A':
		if (lm == LM_BIG_L)
			n = snprintf(tmp, cap, spec, va_arg(*ap, long double));
		else
			n = snprintf(tmp, cap, spec, va_arg(*ap, double));
		break;
	case 'c':
		if (lm == LM_L)
			n = snprintf(tmp, cap, spec, va_arg(*ap, wint_t));
		else
			n = snprintf(tmp, cap, spec, va_arg(*ap, int));
		break;
	case 's':
		if (lm == LM_L) {
			n = snprintf(tmp, cap, spec, va_arg(*ap, const wchar_t *));
		} else {
			const char *s = va_arg(*ap, const char *);
			n = snprintf(tmp, cap, spec, s ? s : "(null)");
		}
		break;
	case 'p': n = snprintf(tmp, cap, spec, va_arg(*ap, void *)); break;
	case 'm': n = snprintf(tmp, cap, "%s", strerror(saved_errno)); break;
	case '%': n = snprintf(tmp, cap, "%%"); break;
	case 'n': (void)va_arg(*ap, void *); break; /* writes nothing here */
	default: return -1;
	}
	*pf = f + 1;
	if (n < 0)
		return 0;
	return (size_t)n >= cap ? (long)cap - 1 : n;
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

size_t log_formatv(char *out, size_t cap, enum log_level lvl, const struct timespec *now,
                   const char *event, const char *fmt, va_list ap)
{
	char ts[40], head[96], tmp[LOG_LINE_MAX];
	struct line l = {out, cap - TAIL_RESERVE - 1, 0, 0, 0};
	int saved_errno = errno, hn;
	struct tm tm;
	va_list aq;

	gmtime_r(&now->tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	hn = snprintf(head, sizeof(head), "ts=%s.%03ldZ level=%s event=", ts,
	              now->tv_nsec / 1000000, names[lvl < LOG_OFF ? lvl : LOG_ERROR]);
	put(&l, head, hn > 0 && (size_t)hn < sizeof(head) ? (size_t)hn : 0);
	put_arg(&l, event, strlen(event));
	put(&l, " ", 1);
	/* A copy so that its address can be passed (va_list may be an array). */
	va_copy(aq, ap);
	for (const char *f = fmt; *f && !l.full;) {
		long n;
		if (*f != '%') {
			put_escaped(&l, (unsigned char)*f++, 0);
			continue;
		}
		f++;
		n = convert(&f, &aq, tmp, sizeof(tmp), saved_errno);
		if (n < 0) {
			l.full = 1; /* unknown conversion: its argument cannot be taken */
			break;
		}
		put_arg(&l, tmp, (size_t)n);
	}
	va_end(aq);
	if (l.full) {
		/* The reserve holds these whatever was cut. */
		l.cap += TAIL_RESERVE;
		l.full = 0;
		if (l.quoted)
			put(&l, "\"", 1);
		put(&l, " truncated=1", 12);
	}
	out[l.len] = '\0';
	return l.len;
}

size_t log_format(char *out, size_t cap, enum log_level lvl, const struct timespec *now,
                  const char *event, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = log_formatv(out, cap, lvl, now, event, fmt, ap);
	va_end(ap);
	return n;
}

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
{
	char line[LOG_LINE_MAX + 1];
	struct timespec now;
	size_t n;
	va_list ap;

	if (lvl < cur_level || lvl >= LOG_OFF)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	va_start(ap, fmt);
	n = log_formatv(line, sizeof(line) - 1, lvl, &now, event, fmt, ap);
	va_end(ap);
	line[n] = '\n';
	/* One write per line so concurrent writers do not interleave. */
	fwrite(line, 1, n + 1, stderr);
}
