/* sms_client.h — the SMS's HTTP API as the tests and benchmarks that drive
 * it over loopback call it (tests/sms/crash_release.c,
 * bench/bench_attest.c): a POST, and a Boost task's session set up the way
 * the scheduler and a worker do. */
#ifndef TDEXEC_TESTS_SMS_CLIENT_H
#define TDEXEC_TESTS_SMS_CLIENT_H

#include "util/bytes.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

/* A libcurl write callback appending to the struct wbuf it is given (a
 * short count, out of memory, fails the transfer). */
size_t sms_client_collect(char *p, size_t size, size_t n, void *wbuf);

/* POST base + path with Content-Type `type`, body (NULL: empty) and an
 * optional Authorization; the status (0 when the connection failed), the
 * answer's body NUL-terminated in out. */
long sms_client_post(CURL *c, const char *base, const char *path, const char *type,
                     const void *body, size_t len, const char *auth, struct wbuf *out);

/* Task i of Boost deal `deal_hex` ("0x…"): its enclave challenge, asked
 * by the workerpool owner (`pool`'s key), then a session for the worker
 * (`worker`'s key) with the owner's authorization.  The task id in tid,
 * the session id in session.  0, or -1 with the reason on stderr. */
int sms_client_session(CURL *c, const char *base, const char *deal_hex, uint64_t i,
                       const uint8_t pool[32], const uint8_t worker[32], uint8_t tid[32],
                       char session[33]);

#endif
