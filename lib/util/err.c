#include "err.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#define ERR_MSG_MAX 1024

static _Thread_local char err_buf[ERR_MSG_MAX];

/* Arguments may point into err_buf (err_set(c, "x: %s", err_msg())): format
 * into a scratch buffer, then copy, so the message is never read while it
 * is written. */
int err_setv(int code, const char *fmt, va_list ap)
{
	char tmp[ERR_MSG_MAX];

	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	memcpy(err_buf, tmp, strlen(tmp) + 1);
	return code;
}

int err_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_setv(code, fmt, ap);
	va_end(ap);
	return code;
}

int err_wrap(int code, const char *fmt, ...)
{
	/* as long as a message: a prefix naming a call by its whole signature
	 * (matchOrdersBoost's is 376 characters) is never cut */
	char prefix[ERR_MSG_MAX];
	size_t plen, olen;
	va_list ap;

	/* The prefix is formatted before err_buf changes, so its arguments may
	 * point into the current message. */
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	plen = strlen(prefix);
	olen = strlen(err_buf);
	if (olen == 0 || plen + 3 >= ERR_MSG_MAX) {
		memcpy(err_buf, prefix, plen + 1);
		return code;
	}
	/* "prefix: old", truncating the old message if it must. */
	if (plen + 2 + olen >= ERR_MSG_MAX)
		olen = ERR_MSG_MAX - 1 - plen - 2;
	memmove(err_buf + plen + 2, err_buf, olen);
	err_buf[plen + 2 + olen] = '\0';
	memcpy(err_buf, prefix, plen);
	err_buf[plen] = ':';
	err_buf[plen + 1] = ' ';
	return code;
}

int err_set_openssl(int code, const char *what)
{
	unsigned long e = ERR_get_error();
	char ebuf[256];

	if (e == 0)
		return err_set(code, "%s", what);
	ERR_error_string_n(e, ebuf, sizeof(ebuf));
	ERR_clear_error();
	return err_set(code, "%s (%s)", what, ebuf);
}

const char *err_msg(void)
{
	return err_buf;
}

void err_clear(void)
{
	err_buf[0] = '\0';
}

const char *err_str(int code)
{
	switch (code) {
	case ERR_OK: return "ok";
	case ERR_INVAL: return "invalid input";
	case ERR_NOMEM: return "out of memory";
	case ERR_IO: return "I/O error";
	case ERR_UNSUPPORTED: return "unsupported";
	case ERR_CRYPTO: return "cryptographic failure";
	case ERR_NOTFOUND: return "not found";
	case ERR_BUSY: return "busy";
	case ERR_TOOBIG: return "too large";
	case ERR_VERIFY: return "verification failed";
	default: return "unknown error";
	}
}
