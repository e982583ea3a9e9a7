#include "eip712.h"

#include "crypto/keccak.h"
#include "eth/abi.h"
#include "eth/addr.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 16
#define MAX_DEPS  64

/* "Name[]" / "Name[3]" -> "Name" (into buf). */
static const char *base_type(const char *t, char *buf, size_t cap)
{
	size_t n = strcspn(t, "[");
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, t, n);
	buf[n] = '\0';
	return buf;
}

static int is_struct(const json_t *types, const char *t)
{
	char b[128];
	return json_is_array(json_object_get(types, base_type(t, b, sizeof(b))));
}

/* Collect struct types reachable from `type` (excluding primitives). */
static int collect(const json_t *types, const char *type, const char **deps, size_t *n, int depth)
{
	json_t *fields = json_object_get(types, type), *f;
	size_t i;
	char b[128];

	ENSURE(depth < MAX_DEPTH, ERR_INVAL, "eip712: types nested too deeply");
	ENSURE(json_is_array(fields), ERR_INVAL, "eip712: unknown type \"%s\"", type);
	for (size_t k = 0; k < *n; k++)
		if (strcmp(deps[k], type) == 0)
			return 0;
	ENSURE(*n < MAX_DEPS, ERR_INVAL, "eip712: too many types");
	deps[(*n)++] = json_object_iter_key(json_object_iter_at((json_t *)types, type));
	json_array_foreach (fields, i, f) {
		const char *ft = json_string_value(json_object_get(f, "type"));
		ENSURE(ft && json_is_string(json_object_get(f, "name")), ERR_INVAL,
		       "eip712: %s field %zu needs a name and a type", type, i);
		if (is_struct(types, ft))
			GUARD(collect(types, base_type(ft, b, sizeof(b)), deps, n, depth + 1));
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int encode_type(const json_t *types, const char *type, struct wbuf *w)
{
	const char *deps[MAX_DEPS];
	size_t n = 0;

	GUARD(collect(types, type, deps, &n, 0));
	/* The primary type first, then its dependencies by name. */
	qsort(deps + 1, n - 1, sizeof(deps[0]), cmp_str);
	for (size_t k = 0; k < n; k++) {
		json_t *fields = json_object_get(types, deps[k]), *f;
		size_t i;
		GUARD(wbuf_put(w, deps[k], strlen(deps[k])));
		GUARD(wbuf_u8(w, '('));
		json_array_foreach (fields, i, f) {
			json_t *t = json_object_get(f, "type"), *nm = json_object_get(f, "name");
			if (i)
				GUARD(wbuf_u8(w, ','));
			GUARD(wbuf_put(w, json_string_value(t), json_string_length(t)));
			GUARD(wbuf_u8(w, ' '));
			GUARD(wbuf_put(w, json_string_value(nm), json_string_length(nm)));
		}
		GUARD(wbuf_u8(w, ')'));
	}
	return 0;
}

char *eip712_encode_type(const json_t *types, const char *type)
{
	struct wbuf w;
	wbuf_init(&w);
	if (encode_type(types, type, &w) < 0 || wbuf_u8(&w, 0) < 0) {
		wbuf_free(&w);
		return NULL;
	}
	return (char *)wbuf_take(&w, NULL);
}

static int hash_struct(const json_t *types, const char *type, const json_t *value, uint8_t out[32],
                       int depth);

/* The 32-byte encoding of one member. */
static int encode_field(const json_t *types, const char *ft, const json_t *v, uint8_t out[32],
                        int depth)
{
	size_t tl = strlen(ft);
	ENSURE(depth < MAX_DEPTH, ERR_INVAL, "eip712: values nested too deeply");
	ENSURE(v, ERR_INVAL, "eip712: missing value of type %s", ft);
	if (tl && ft[tl - 1] == ']') {
		/* Arrays: keccak of the concatenated member encodings. */
		char elem[128];
		const char *open = strrchr(ft, '[');
		struct keccak256 k;
		size_t i;
		json_t *e;
		ENSURE(json_is_array(v), ERR_INVAL, "eip712: %s value must be an array", ft);
		ENSURE((size_t)(open - ft) < sizeof(elem), ERR_INVAL, "eip712: type name too long");
		memcpy(elem, ft, (size_t)(open - ft));
		elem[open - ft] = '\0';
		keccak256_init(&k);
		json_array_foreach (v, i, e) {
			uint8_t h[32];
			GUARD(encode_field(types, elem, e, h, depth + 1));
			keccak256_update(&k, h, 32);
		}
		keccak256_final(&k, out);
		return 0;
	}
	if (json_is_array(json_object_get(types, ft)))
		return hash_struct(types, ft, v, out, depth + 1);
	if (strcmp(ft, "string") == 0) {
		ENSURE(json_is_string(v), ERR_INVAL, "eip712: string value must be a string");
		keccak256(json_string_value(v), json_string_length(v), out);
		return 0;
	}
	if (strcmp(ft, "bytes") == 0) {
		uint8_t *b;
		size_t n;
		ENSURE(json_is_string(v), ERR_INVAL, "eip712: bytes value must be a hex string");
		GUARD(hex_decode_alloc(json_string_value(v), json_string_length(v), &b, &n));
		keccak256(b, n, out);
		free(b);
		return 0;
	}
	if (strcmp(ft, "address") == 0) {
		ENSURE(json_is_string(v), ERR_INVAL, "eip712: address value must be a string");
		memset(out, 0, 12);
		return eth_addr_parse(json_string_value(v), out + 12);
	}
	if (strcmp(ft, "bytes32") == 0) {
		ENSURE(json_is_string(v), ERR_INVAL, "eip712: bytes32 value must be a hex string");
		return hex_decode_exact(out, 32, json_string_value(v), "bytes32");
	}
	if (strcmp(ft, "uint256") == 0 && json_is_string(v) && json_string_length(v) <= 19 &&
	    json_string_length(v) > 0 &&
	    (json_string_value(v)[0] != '0' || json_string_length(v) == 1)) {
		/* Small decimals (prices, volumes, ids) without a bignum. */
		const char *d = json_string_value(v);
		uint64_t x = 0;
		size_t i;
		for (i = 0; d[i] >= '0' && d[i] <= '9'; i++)
			x = x * 10 + (uint64_t)(d[i] - '0');
		if (d[i] == '\0') {
			u256_from_u64(x, out);
			return 0;
		}
	}
	{
		struct abi_type *t;
		struct wbuf w;
		int rc;
		GUARD(abi_type_parse(ft, &t));
		wbuf_init(&w);
		rc = t->kind <= ABI_FBYTES ? abi_encode(t, v, &w)
		                           : err_set(ERR_INVAL, "eip712: unsupported type %s", ft);
		if (rc == 0)
			memcpy(out, w.buf, 32);
		wbuf_free(&w);
		abi_type_free(t);
		return rc;
	}
}

static int hash_struct(const json_t *types, const char *type, const json_t *value, uint8_t out[32],
                       int depth)
{
	json_t *fields = json_object_get(types, type), *f;
	struct keccak256 k;
	struct wbuf w;
	uint8_t h[32];
	size_t i;
	int rc;

	ENSURE(json_is_object(value), ERR_INVAL, "eip712: %s value must be an object", type);
	wbuf_init(&w);
	rc = encode_type(types, type, &w);
	if (rc < 0) {
		wbuf_free(&w);
		return rc;
	}
	keccak256(w.buf, w.len, h);
	wbuf_free(&w);
	keccak256_init(&k);
	keccak256_update(&k, h, 32);
	json_array_foreach (fields, i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));
		rc = encode_field(types, json_string_value(json_object_get(f, "type")),
		                  json_object_get(value, name), h, depth);
		if (rc < 0)
			return err_wrap(rc, "eip712: %s.%s", type, name);
		keccak256_update(&k, h, 32);
	}
	keccak256_final(&k, out);
	return 0;
}

int eip712_hash_struct(const json_t *types, const char *type, const json_t *value, uint8_t out[32])
{
	return hash_struct(types, type, value, out, 0);
}

/* The domain's types: the declared EIP712Domain, or one derived from the
 * members present.  Only that type is needed to hash the domain. */
static int domain_types(const json_t *types, const json_t *domain, json_t **out)
{
	static const char *const order[][2] = {{"name", "string"},
	                                       {"version", "string"},
	                                       {"chainId", "uint256"},
	                                       {"verifyingContract", "address"},
	                                       {"salt", "bytes32"}};
	json_t *declared = json_object_get(types, "EIP712Domain"), *fields;

	if (declared) {
		*out = json_pack("{s:O}", "EIP712Domain", declared);
		ENSURE(*out, ERR_NOMEM, "out of memory");
		return 0;
	}
	fields = json_array();
	ENSURE(fields, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < 5; i++)
		if (json_object_get(domain, order[i][0]))
			json_array_append_new(fields, json_pack("{s:s,s:s}", "name", order[i][0],
			                                        "type", order[i][1]));
	*out = json_pack("{s:o}", "EIP712Domain", fields);
	ENSURE(*out, ERR_NOMEM, "out of memory");
	return 0;
}

int eip712_digest(const json_t *typed, uint8_t out[32])
{
	const json_t *types = json_object_get(typed, "types"),
	             *domain = json_object_get(typed, "domain"),
	             *message = json_object_get(typed, "message");
	const char *primary = json_string_value(json_object_get(typed, "primaryType"));
	uint8_t buf[66];
	json_t *all;
	int rc;

	ENSURE(json_is_object(types) && json_is_object(domain) && json_is_object(message) &&
	           primary,
	       ERR_INVAL, "eip712: need types, primaryType, domain and message");
	GUARD(domain_types(types, domain, &all));
	buf[0] = 0x19;
	buf[1] = 0x01;
	rc = hash_struct(all, "EIP712Domain", domain, buf + 2, 0);
	json_decref(all);
	if (rc == 0)
		rc = hash_struct(types, primary, message, buf + 34, 0);
	GUARD(rc);
	keccak256(buf, sizeof(buf), out);
	return 0;
}
