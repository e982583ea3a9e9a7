#include "json.h"

#include "codec.h"
#include "err.h"
#include "file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jansson's lexer drops a byte when growing its buffer fails (the
 * result of strbuffer_append_byte is ignored): a document parsed while an
 * allocation failed can come back with a key or string one byte short
 * ("pck_crl_issuerchain"; seen by tests/unit/test_alloc_fail.c).  Its
 * allocations go through this counter, and a parse that saw one fail is
 * refused.  Installed before main, while no thread uses jansson. */
static _Thread_local unsigned long json_alloc_failures;

static void *json_counted_malloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		json_alloc_failures++;
	return p;
}

__attribute__((constructor)) static void json_alloc_init(void)
{
	json_set_alloc_funcs(json_counted_malloc, free);
}

int json_parse(const char *buf, size_t len, const char *what, json_t **out)
{
	json_error_t e;
	json_t *j;

	json_alloc_failures = 0;
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
	if (json_alloc_failures) {
		json_decref(j);
		return err_set(ERR_NOMEM, "%s: out of memory while parsing JSON", what);
	}
	ENSURE(j, ERR_INVAL, "%s: invalid JSON at line %d column %d: %s", what, e.line, e.column,
	       e.text);
	*out = j;
	return 0;
}

int json_load_path(const char *path, size_t cap, json_t **out)
{
	uint8_t *buf;
	size_t len;
	int rc;

	GUARD(file_read(path, cap, &buf, &len));
	rc = json_parse((const char *)buf, len, path, out);
	free(buf);
	return rc;
}

int json_get_hex(const json_t *obj, const char *key, uint8_t *out, size_t n, int optional)
{
	json_t *v = json_object_get(obj, key);
	if (!v) {
		if (optional)
			return 1;
		return err_set(ERR_NOTFOUND, "missing \"%s\"", key);
	}
	ENSURE(json_is_string(v), ERR_INVAL, "\"%s\" must be a hex string", key);
	return hex_decode_exact(out, n, json_string_value(v), key);
}

int json_set_hex(json_t *obj, const char *key, const uint8_t *p, size_t n)
{
	char *h = hex_dup(p, n);
	int rc;
	ENSURE(h, ERR_NOMEM, "out of memory");
	rc = json_object_set_new(obj, key, json_string(h));
	free(h);
	ENSURE(rc == 0, ERR_NOMEM, "out of memory");
	return 0;
}

int json_write_path(const char *path, const json_t *j, mode_t mode)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	size_t len;
	int rc;

	ENSURE(s, ERR_NOMEM, "out of memory");
	len = strlen(s);
	s[len] = '\0';
	{
		char *t = realloc(s, len + 2);
		if (!t) {
			free(s);
			return err_set(ERR_NOMEM, "out of memory");
		}
		s = t;
		s[len++] = '\n';
	}
	rc = file_write(path, s, len, mode);
	free(s);
	return rc;
}

int json_print(const json_t *j, int pretty)
{
	size_t flags = JSON_PRESERVE_ORDER | (pretty ? JSON_INDENT(2) : JSON_COMPACT);
	char *s = json_dumps(j, flags);
	ENSURE(s, ERR_NOMEM, "out of memory");
	fputs(s, stdout);
	fputc('\n', stdout);
	free(s);
	return 0;
}

static void print_value(FILE *f, const json_t *v, int depth);

static void print_obj(FILE *f, const json_t *j, int depth)
{
	const char *k;
	json_t *v;
	size_t width = 0;

	json_object_foreach ((json_t *)j, k, v)
		if (!json_is_object(v) && strlen(k) > width)
			width = strlen(k);
	json_object_foreach ((json_t *)j, k, v) {
		if (json_is_object(v)) {
			fprintf(f, "%*s%s:\n", depth * 2, "", k);
			print_obj(f, v, depth + 1);
		} else {
			fprintf(f, "%*s%-*s  ", depth * 2, "", (int)width + 1, k);
			print_value(f, v, depth);
			fputc('\n', f);
		}
	}
}

static void print_value(FILE *f, const json_t *v, int depth)
{
	size_t i;
	json_t *e;
	(void)depth;
	switch (json_typeof(v)) {
	case JSON_STRING: fputs(json_string_value(v), f); break;
	case JSON_INTEGER: fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
	case JSON_TRUE: fputs("true", f); break;
	case JSON_FALSE: fputs("false", f); break;
	case JSON_ARRAY:
		json_array_foreach (v, i, e) {
			if (i)
				fputc(' ', f);
			print_value(f, e, depth);
		}
		break;
	default: break;
	}
}

void json_print_text(FILE *f, const json_t *j)
{
	print_obj(f, j, 0);
}

int json_get_int_range(const json_t *obj, const char *key, long long min, long long max,
                       long long *out)
{
	const json_t *v = json_object_get(obj, key);
	long long x;

	ENSURE(v, ERR_NOTFOUND, "missing \"%s\"", key);
	ENSURE(json_is_integer(v), ERR_INVAL, "\"%s\" is not an integer (%lld..%lld)", key, min,
	       max);
	x = (long long)json_integer_value(v);
	ENSURE(x >= min && x <= max, ERR_INVAL, "\"%s\": %lld out of range (%lld..%lld)", key, x,
	       min, max);
	*out = x;
	return 0;
}

long long json_get_ll(const json_t *obj, const char *key, long long dflt)
{
	const json_t *v = json_object_get(obj, key);
	if (json_is_integer(v))
		return (long long)json_integer_value(v);
	return json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : dflt;
}
