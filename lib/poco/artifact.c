#include "artifact.h"

#include "eth/abi.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/json.h"

#include <stdlib.h>
#include <string.h>

int poco_artifact_load(const char *path, struct poco_artifact *a)
{
	json_t *j, *bc;
	const char *s, *slash;
	int rc = 0;

	memset(a, 0, sizeof(*a));
	GUARD(json_load_path(path, 16u * 1024u * 1024u, &j));
	bc = json_object_get(j, "bytecode");
	s = json_string_value(bc);
	ENSURE_GOTO(s && strlen(s) > 2 && s[0] == '0' && s[1] == 'x', ERR_INVAL,
	            "%s: no creation bytecode", path);
	a->code = strdup(s + 2);
	slash = strrchr(path, '/');
	a->name = strdup(slash ? slash + 1 : path);
	ENSURE_GOTO(a->code && a->name, ERR_NOMEM, "out of memory");
	if (strlen(a->name) > 5 && strcmp(a->name + strlen(a->name) - 5, ".json") == 0)
		a->name[strlen(a->name) - 5] = '\0';
	a->abi = json_incref(json_object_get(j, "abi"));
	a->links = json_incref(json_object_get(j, "linkReferences"));
out:
	json_decref(j);
	if (rc < 0)
		poco_artifact_free(a);
	return rc;
}

void poco_artifact_free(struct poco_artifact *a)
{
	free(a->name);
	free(a->code);
	json_decref(a->abi);
	json_decref(a->links);
	memset(a, 0, sizeof(*a));
}

int poco_artifact_link(struct poco_artifact *a, const char *lib, const uint8_t addr[20])
{
	const char *file;
	json_t *libs, *refs, *ref;
	char hex[41];
	size_t i, codelen = strlen(a->code);
	int done = 0;

	hex_encode(hex, addr, 20);
	json_object_foreach (a->links, file, libs) {
		refs = json_object_get(libs, lib);
		json_array_foreach (refs, i, ref) {
			json_int_t start = json_integer_value(json_object_get(ref, "start"));
			json_int_t len = json_integer_value(json_object_get(ref, "length"));
			ENSURE(len == 20 && start >= 0 && (size_t)(start + len) * 2 <= codelen,
			       ERR_INVAL, "%s: bad link reference", a->name);
			memcpy(a->code + 2 * start, hex, 40);
			done++;
		}
	}
	(void)file;
	ENSURE(done || !a->links, ERR_INVAL, "%s: does not use library %s", a->name, lib);
	return 0;
}

int poco_artifact_code(const struct poco_artifact *a, uint8_t **code, size_t *len)
{
	ENSURE(!strstr(a->code, "__$"), ERR_INVAL, "%s: a library is not linked", a->name);
	return hex_decode_alloc(a->code, strlen(a->code), code, len);
}

static int param_type(const json_t *p, struct wbuf *w)
{
	const char *t = json_string_value(json_object_get(p, "type"));
	if (!t)
		return err_set(ERR_INVAL, "abi: parameter without type");
	if (strncmp(t, "tuple", 5) == 0) {
		json_t *comps = json_object_get(p, "components"), *c;
		size_t i;
		GUARD(wbuf_printf(w, "("));
		json_array_foreach (comps, i, c) {
			if (i)
				GUARD(wbuf_printf(w, ","));
			GUARD(param_type(c, w));
		}
		return wbuf_printf(w, ")%s", t + 5); /* keeps [] / [N] */
	}
	return wbuf_printf(w, "%s", t);
}

char *poco_abi_signature(const json_t *entry)
{
	json_t *inputs = json_object_get(entry, "inputs"), *p;
	struct wbuf w;
	size_t i;
	int rc;

	wbuf_init(&w);
	rc = wbuf_printf(&w, "%s(", json_string_value(json_object_get(entry, "name")));
	json_array_foreach (inputs, i, p) {
		if (rc == 0 && i)
			rc = wbuf_printf(&w, ",");
		if (rc == 0)
			rc = param_type(p, &w);
	}
	if (rc == 0)
		rc = wbuf_printf(&w, ")");
	if (rc == 0)
		rc = wbuf_u8(&w, 0);
	if (rc < 0) {
		wbuf_free(&w);
		return NULL;
	}
	return (char *)wbuf_take(&w, NULL);
}

int poco_abi_selectors(const json_t *abi, uint8_t (**out)[4], size_t *n)
{
	json_t *e;
	size_t i;

	*n = 0;
	*out = calloc(json_array_size(abi) + 1, 4);
	ENSURE(*out, ERR_NOMEM, "out of memory");
	json_array_foreach (abi, i, e) {
		const char *type = json_string_value(json_object_get(e, "type"));
		if (!type)
			continue;
		if (strcmp(type, "function") == 0) {
			char *sig = poco_abi_signature(e);
			if (!sig) {
				free(*out);
				return err_set(ERR_NOMEM, "out of memory");
			}
			abi_selector(sig, (*out)[(*n)++]);
			free(sig);
		} else if (strcmp(type, "receive") == 0) {
			memset((*out)[(*n)++], 0x00, 4);
		} else if (strcmp(type, "fallback") == 0) {
			memset((*out)[(*n)++], 0xff, 4);
		}
	}
	return 0;
}
