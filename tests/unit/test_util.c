/* lib/util: codecs, reader/writer bounds, errors, time parsing, files. */
#include "testutil.h"

#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"
#include "util/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex_round_trips_and_rejects_garbage(void **state)
{
	uint8_t b[4], *d;
	size_t n;
	char s[9];
	(void)state;
	assert_int_equal(hex_decode_exact(b, 4, "0xDEADbeef", "v"), 0);
	hex_encode(s, b, 4);
	assert_string_equal(s, "deadbeef");
	assert_int_equal(hex_decode_exact(b, 4, "deadbe", "field"), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "field: expected 8 hex digits"));
	assert_int_equal(hex_decode_exact(b, 4, "deadbeeg", "v"), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "position 7"));
	assert_int_equal(hex_decode_alloc("01 02\n0a", 8, &d, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(d[2], 0x0a);
	free(d);
	assert_int_equal(hex_decode_alloc("012", 3, &d, &n), ERR_INVAL);
	assert_true(is_hex_text((const uint8_t *)"ab cd\n", 6));
	assert_false(is_hex_text((const uint8_t *)"abz", 3));
	assert_false(is_hex_text((const uint8_t *)"  ", 2));
}

/* RFC 4648 section 10 test vectors. */
static void base64_matches_rfc4648_vectors(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	(void)state;
	for (size_t i = 0; i < 7; i++) {
		char *e = base64_encode((const uint8_t *)plain[i], strlen(plain[i]));
		uint8_t *d;
		size_t n;
		assert_string_equal(e, enc[i]);
		assert_int_equal(base64_decode(enc[i], strlen(enc[i]), &d, &n), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(d, plain[i], n);
		free(d);
		free(e);
	}
	{
		uint8_t *d;
		size_t n;
		assert_int_equal(base64_decode("Zm9", 3, &d, &n), ERR_INVAL);
		assert_int_equal(base64_decode("Zm=v", 4, &d, &n), ERR_INVAL);
		assert_int_equal(base64_decode("Z!9v", 4, &d, &n), ERR_INVAL);
	}
}

static void reader_never_reads_past_the_end(void **state)
{
	const uint8_t buf[6] = {1, 2, 3, 4, 5, 6};
	struct rd r, sub;
	uint32_t v32;
	uint16_t v16;
	(void)state;
	rd_init(&r, buf, sizeof(buf), "thing");
	assert_int_equal(rd_u32le(&r, &v32, "a"), 0);
	assert_int_equal(v32, 0x04030201);
	assert_int_equal(rd_u32le(&r, &v32, "b"), ERR_INVAL);
	assert_string_equal(err_msg(), "thing: truncated b at offset 4 (need 4 bytes, 2 left)");
	assert_int_equal(r.off, 4); /* a failed read consumes nothing */
	assert_int_equal(rd_sub(&r, &sub, 3, "c"), ERR_INVAL);
	assert_int_equal(rd_sub(&r, &sub, 1, "c"), 0);
	assert_int_equal(rd_u16le(&sub, &v16, "d"), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "at offset 4"));
	assert_int_equal(rd_u8(&r, (uint8_t *)&v16, "e"), 0);
	assert_int_equal(rd_left(&r), 0);
}

static void writer_grows_and_encodes_little_endian(void **state)
{
	struct wbuf w;
	size_t n;
	uint8_t *p;
	(void)state;
	wbuf_init(&w);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(wbuf_u32le(&w, (uint32_t)i), 0);
	assert_int_equal(w.len, 4000);
	assert_int_equal(le32(w.buf + 4 * 999), 999);
	assert_int_equal(wbuf_u64le(&w, 0x0102030405060708ull), 0);
	assert_int_equal(le64(w.buf + 4000), 0x0102030405060708ull);
	assert_int_equal(wbuf_printf(&w, "%s=%d", "k", 42), 0);
	assert_memory_equal(w.buf + 4008, "k=42", 4);
	p = wbuf_take(&w, &n);
	assert_int_equal(n, 4012);
	assert_null(w.buf);
	free(p);
	wbuf_free(&w);
}

static void errors_wrap_with_context(void **state)
{
	(void)state;
	assert_int_equal(err_set(ERR_IO, "inner %d", 7), ERR_IO);
	assert_int_equal(err_wrap(ERR_IO, "outer"), ERR_IO);
	assert_string_equal(err_msg(), "outer: inner 7");
	err_clear();
	err_wrap(ERR_IO, "alone");
	assert_string_equal(err_msg(), "alone");
	assert_string_equal(err_str(ERR_TOOBIG), "too large");
}

/* A prefix as long as a call's signature is never cut (matchOrdersBoost's
 * is 376 characters), and one longer than a message does not overflow. */
static void errors_keep_a_long_prefix_whole(void **state)
{
	char sig[400], big[2000];
	(void)state;
	memset(sig, 'a', sizeof(sig) - 2);
	sig[sizeof(sig) - 2] = ')';
	sig[sizeof(sig) - 1] = '\0';
	err_set(ERR_VERIFY, "execution reverted");
	err_wrap(ERR_VERIFY, "%s", sig);
	assert_int_equal(strncmp(err_msg(), sig, strlen(sig)), 0);
	assert_string_equal(err_msg() + strlen(sig), ": execution reverted");
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	err_wrap(ERR_VERIFY, "%s", big);
	assert_int_equal(strlen(err_msg()), 1023);
	err_clear();
}

/* Outside words on one line: control bytes escaped, a cut marked "...",
 * never past the buffer nor inside an escape. */
static void printable_escapes_and_bounds(void **state)
{
	char out[16];
	(void)state;
	assert_string_equal(str_printable(out, sizeof(out), "a\nb\\c", 5), "a\\x0ab\\\\c");
	assert_string_equal(str_printable(out, sizeof(out), "exactly fifteen", 15),
	                    "exactly fifteen");
	assert_string_equal(str_printable(out, sizeof(out), "sixteen letters!", 16),
	                    "sixteen lett...");
	assert_string_equal(str_printable(out, sizeof(out), "abcdefghij\x01\x02", 12),
	                    "abcdefghij...");
	assert_string_equal(str_printable(out, sizeof(out), "stop\0here", 9), "stop");
	assert_string_equal(str_printable(out, 1, "x", 1), "");
	/* past ASCII: a C1 control, a stray byte, a cut UTF-8 sequence */
	assert_string_equal(str_printable(out, sizeof(out),
	                                  "\x9b"
	                                  "2J\xff\xc3",
	                                  5),
	                    "\\x9b2J\\xff\\xc3");
}

/* Arguments that point into the current message (err_msg()) are read before
 * the message is written. */
static void errors_may_quote_the_current_message(void **state)
{
	char longer[600];
	(void)state;
	err_set(ERR_IO, "connection refused");
	err_set(ERR_IO, "app checksum: %s", err_msg());
	assert_string_equal(err_msg(), "app checksum: connection refused");
	err_set(ERR_IO, "%s, then %s", err_msg(), err_msg() + 4);
	assert_string_equal(err_msg(),
	                    "app checksum: connection refused, then checksum: connection refused");
	err_set(ERR_IO, "refused");
	err_wrap(ERR_IO, "retry after '%s'", err_msg());
	assert_string_equal(err_msg(), "retry after 'refused': refused");
	/* Truncated to the buffer, still a C string. */
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	err_set(ERR_IO, "%s", longer);
	err_set(ERR_IO, "%s%s", err_msg(), err_msg());
	assert_int_equal(strlen(err_msg()), 1023);
}

/* A hostile value in each position a caller puts one: the exact line. */
struct log_case {
	const char *fmt, *value, *want;
};

static const struct log_case log_cases[] = {
    /* The attack: a quoted secret name that ends the line and forges an event. */
    {"op=PUT name=\"%s\" bytes=5", "x\"\nts=2026 level=info event=sms.secret name=\"y",
     "op=PUT name=\"x\\\"\\nts=2026 level=info event=sms.secret name=\\\"y\" bytes=5"},
    {"name=\"%s\"", "a\r\nb", "name=\"a\\r\\nb\""},
    /* A trailing backslash cannot escape the closing quote. */
    {"name=\"%s\" ok=1", "a\\", "name=\"a\\\\\" ok=1"},
    {"name=\"%s\"", "\\\"", "name=\"\\\\\\\"\""},
    /* Outside quotes a space would start a key: it is escaped too. */
    {"task=%s status=OK", "a level=error", "task=a\\x20level=error status=OK"},
    {"task=%s", "a\"b c\"", "task=a\\\"b\\x20c\\\""},
    /* Inside quotes spaces are the value's own. */
    {"reason=\"%s\"", "wall time over 5s", "reason=\"wall time over 5s\""},
    {"v=\"%s\"", "\t\x01\x1f\x7f", "v=\"\\t\\x01\\x1f\\x7f\""},
    {"v=%s", "\x1b[31mred", "v=\\x1b[31mred"},
    /* Bytes >= 0x80 (UTF-8) are kept. */
    {"v=\"%s\"", "caf\xc3\xa9", "v=\"caf\xc3\xa9\""},
    {"v=%s", "", "v="},
    /* Literal text of the format is the caller's: kept, except control bytes. */
    {"container=%s (left by an earlier run)", "c1", "container=c1 (left by an earlier run)"},
    {"a=%s\nb=1", "x", "a=x\\nb=1"},
    {"pct=100%% v=%.3s", "abcdef", "pct=100% v=abc"},
};

static void log_escapes_every_value(void **state)
{
	const struct timespec t0 = {0, 123000000};
	const char *head = "ts=1970-01-01T00:00:00.123Z level=info event=sms.secret ";
	char line[LOG_LINE_MAX + 1], want[LOG_LINE_MAX];
	(void)state;
	for (size_t i = 0; i < sizeof(log_cases) / sizeof(log_cases[0]); i++) {
		const struct log_case *c = &log_cases[i];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		size_t n =
		    log_format(line, sizeof(line), LOG_INFO, &t0, "sms.secret", c->fmt, c->value);
#pragma GCC diagnostic pop
		snprintf(want, sizeof(want), "%s%s", head, c->want);
		if (strcmp(line, want) != 0)
			fail_msg("case %zu:\n got %s\nwant %s", i, line, want);
		assert_int_equal(n, strlen(line));
		assert_null(strchr(line, '\n'));
		assert_null(strchr(line, '\r'));
	}
}

static void log_formats_every_conversion(void **state)
{
	const struct timespec t0 = {1764081000, 5000000};
	char line[LOG_LINE_MAX + 1];
	(void)state;
	log_format(line, sizeof(line), LOG_WARN, &t0, "a b",
	           "d=%d u=%u zu=%zu lld=%lld x=%02x f=%.2f c=%c w=%*d s=%s", -7, 7u, (size_t)42,
	           -1234567890123LL, 10u, 2.5, '\n', 4, 9, "ok");
	assert_string_equal(line,
	                    "ts=2025-11-25T14:30:00.005Z level=warn event=a\\x20b d=-7 u=7 zu=42 "
	                    "lld=-1234567890123 x=0a f=2.50 c=\\n w=\\x20\\x20\\x209 s=ok");
}

static void log_truncates_between_escapes_and_closes_the_quote(void **state)
{
	const struct timespec t0 = {0, 0};
	char line[LOG_LINE_MAX + 1], big[3000];
	size_t n;
	(void)state;
	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	n = log_format(line, sizeof(line), LOG_ERROR, &t0, "e", "v=\"%s\" after=1", big);
	assert_true(n <= LOG_LINE_MAX);
	assert_null(strchr(line, '\n'));
	/* Whole \" escapes only, then the quote is closed. */
	assert_string_equal(line + n - 17, "\\\"\\\"\" truncated=1");
	assert_null(strstr(line, "after=1"));
}

static void times_parse_both_forms(void **state)
{
	time_t t;
	char s[32];
	(void)state;
	assert_int_equal(time_parse("2025-06-27T04:53:20Z", &t), 0);
	assert_int_equal(t, 1751000000);
	assert_int_equal(time_parse("2025-06-27T04:53:20.500Z", &t), 0);
	assert_int_equal(t, 1751000000);
	assert_int_equal(time_parse("1751000000", &t), 0);
	assert_int_equal(t, 1751000000);
	assert_int_equal(time_parse("@1688173200", &t), 0);
	assert_int_equal(t, 1688173200);
	time_format(1688173200, s);
	assert_string_equal(s, "2023-07-01T01:00:00Z");
	assert_int_equal(time_parse("2025-06-27T04:53:20+02:00", &t), ERR_INVAL);
	assert_int_equal(time_parse("yesterday", &t), ERR_INVAL);
	assert_int_equal(time_parse("12x", &t), ERR_INVAL);
}

static void file_reads_are_capped_and_writes_atomic(void **state)
{
	char *dir = td_tmpdir(), path[512];
	uint8_t *buf;
	size_t len;
	(void)state;
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_int_equal(file_write(path, "hello", 5, 0600), 0);
	assert_int_equal(file_read(path, 5, &buf, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal((char *)buf, "hello"); /* NUL-terminated */
	free(buf);
	assert_int_equal(file_read(path, 4, &buf, &len), ERR_TOOBIG);
	assert_non_null(strstr(err_msg(), "4-byte limit"));
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(file_read(path, 4, &buf, &len), ERR_IO);
	assert_non_null(strstr(err_msg(), "No such file"));
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(dir_create(path, 0700), 0);
	assert_int_equal(dir_create(path, 0700), 0);
	td_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(hex_round_trips_and_rejects_garbage),
	    cmocka_unit_test(base64_matches_rfc4648_vectors),
	    cmocka_unit_test(reader_never_reads_past_the_end),
	    cmocka_unit_test(writer_grows_and_encodes_little_endian),
	    cmocka_unit_test(errors_wrap_with_context),
	    cmocka_unit_test(errors_may_quote_the_current_message),
	    cmocka_unit_test(errors_keep_a_long_prefix_whole),
	    cmocka_unit_test(printable_escapes_and_bounds),
	    cmocka_unit_test(log_escapes_every_value),
	    cmocka_unit_test(log_formats_every_conversion),
	    cmocka_unit_test(log_truncates_between_escapes_and_closes_the_quote),
	    cmocka_unit_test(times_parse_both_forms),
	    cmocka_unit_test(file_reads_are_capped_and_writes_atomic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
