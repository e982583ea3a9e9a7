/* err.h — status codes and a per-thread readable error message.
 *
 * Functions return 0 on success or a negative TDX_E* code; on failure they
 * leave a message for the user in a thread-local buffer (err_msg()).  The
 * message names what failed ("quote: certification data type 4 unsupported
 * at offset 1080"), never a bare code.
 */
#ifndef TDEXEC_UTIL_ERR_H
#define TDEXEC_UTIL_ERR_H

#include <stdarg.h>

enum {
	ERR_OK = 0,
	ERR_INVAL = -1,       /* bad argument or malformed input */
	ERR_NOMEM = -2,       /* allocation failed */
	ERR_IO = -3,          /* file or device I/O failed */
	ERR_UNSUPPORTED = -4, /* well-formed but not supported */
	ERR_CRYPTO = -5,      /* a cryptographic operation failed */
	ERR_NOTFOUND = -6,    /* something that should exist does not */
	ERR_BUSY = -7,        /* a concurrent user interfered; retry */
	ERR_TOOBIG = -8,      /* input exceeds a size cap */
	ERR_VERIFY = -9,      /* a signature or check did not hold */
};

/* On a function returning a status: a caller that drops the status is a
 * compile error under -Werror (a failed parse or signature check must not
 * pass silently).  err_set and its kin return their `code` argument for
 * convenience and are left unmarked.  A call whose failure is truly harmless
 * says so with IGNORE_STATUS() and a comment: gcc does not let a (void) cast
 * silence warn_unused_result. */
#define MUST_CHECK          __attribute__((warn_unused_result))
#define IGNORE_STATUS(expr) ((void)!(expr))

/* Set the thread's message (printf format) and return `code`, so callers
 * can write `return err_set(ERR_INVAL, "...")`.  Arguments may point into
 * the current message: err_set(rc, "app checksum: %s", err_msg()). */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int err_setv(int code, const char *fmt, va_list ap);

/* Prefix the current message with "prefix: " (printf format) and return
 * `code`.  Used to add context while an error travels up. */
int err_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append OpenSSL's queued errors (if any) to the message and clear them. */
int err_set_openssl(int code, const char *what);

/* The thread's last message; "" when none was set.  Valid until the next
 * err_* call on the same thread. */
const char *err_msg(void);
void err_clear(void);

/* Short name of a code ("invalid input", ...). */
const char *err_str(int code);

/* Guard macros in the style of s2n-tls.  GUARD propagates a negative status;
 * ENSURE sets an error and returns when a condition does not hold. */
#define GUARD(expr)                                                                                \
	do {                                                                                       \
		int guard_rc_ = (expr);                                                            \
		if (guard_rc_ < 0)                                                                 \
			return guard_rc_;                                                          \
	} while (0)

#define ENSURE(cond, code, ...)                                                                    \
	do {                                                                                       \
		if (!(cond))                                                                       \
			return err_set((code), __VA_ARGS__);                                       \
	} while (0)

/* Variants for functions with a single `out:` exit: they store the status in
 * `rc` and jump. */
#define GUARD_GOTO(expr)                                                                           \
	do {                                                                                       \
		rc = (expr);                                                                       \
		if (rc < 0)                                                                        \
			goto out;                                                                  \
	} while (0)

#define ENSURE_GOTO(cond, code, ...)                                                               \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			rc = err_set((code), __VA_ARGS__);                                         \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

#endif
