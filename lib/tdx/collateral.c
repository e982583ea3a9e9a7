#include "collateral.h"

#include "crypto/p256.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_FIELDS 7

/* Every blob field, in a fixed order, for hashing, freeing and JSON. */
static struct tdx_blob *field(struct tdx_collateral *c, int i)
{
	struct tdx_blob *f[N_FIELDS] = {&c->pck_crl_issuer_chain,
	                                &c->root_ca_crl,
	                                &c->pck_crl,
	                                &c->tcb_info_issuer_chain,
	                                &c->tcb_info,
	                                &c->qe_identity_issuer_chain,
	                                &c->qe_identity};
	return f[i];
}

static const char *const json_keys[N_FIELDS] = {
    "pck_crl_issuer_chain",     "root_ca_crl", "pck_crl", "tcb_info_issuer_chain", "tcb_info",
    "qe_identity_issuer_chain", "qe_identity",
};
/* root_ca_crl and pck_crl are hex in dcap-qvl's format. */
static int is_hex_field(int i)
{
	return i == 1 || i == 2;
}

void tdx_collateral_free(struct tdx_collateral *c)
{
	if (!c)
		return;
	for (int i = 0; i < N_FIELDS; i++)
		free(field(c, i)->p);
	free(c);
}

static int blob_set(struct tdx_blob *b, const void *p, size_t n)
{
	ENSURE(n <= TDX_COLLATERAL_FIELD_MAX, ERR_TOOBIG, "collateral field over %u bytes",
	       TDX_COLLATERAL_FIELD_MAX);
	b->p = malloc(n + 1);
	ENSURE(b->p, ERR_NOMEM, "out of memory");
	memcpy(b->p, p, n);
	b->p[n] = '\0'; /* text fields are used as strings too */
	b->len = n;
	return 0;
}

int tdx_collateral_from_json(const char *text, size_t len, struct tdx_collateral **out)
{
	struct tdx_collateral *c = calloc(1, sizeof(*c));
	json_t *j = NULL;
	int rc = 0;

	*out = NULL;
	ENSURE(c, ERR_NOMEM, "out of memory");
	GUARD_GOTO(json_parse(text, len, "collateral", &j));
	ENSURE_GOTO(json_is_object(j), ERR_INVAL, "collateral: expected a JSON object");
	for (int i = 0; i < N_FIELDS; i++) {
		json_t *v = json_object_get(j, json_keys[i]);
		ENSURE_GOTO(json_is_string(v), ERR_INVAL, "collateral: missing string \"%s\"",
		            json_keys[i]);
		if (is_hex_field(i)) {
			uint8_t *der;
			size_t n;
			rc =
			    hex_decode_alloc(json_string_value(v), json_string_length(v), &der, &n);
			if (rc < 0) {
				rc = err_wrap(rc, "collateral: %s", json_keys[i]);
				goto out;
			}
			rc = blob_set(field(c, i), der, n);
			free(der);
			GUARD_GOTO(rc);
		} else {
			GUARD_GOTO(
			    blob_set(field(c, i), json_string_value(v), json_string_length(v)));
		}
	}
	rc = json_get_hex(j, "tcb_info_signature", c->tcb_info_sig, 64, 0);
	if (rc == 0)
		rc = json_get_hex(j, "qe_identity_signature", c->qe_identity_sig, 64, 0);
	if (rc < 0) {
		rc = err_wrap(rc, "collateral");
		goto out;
	}
	*out = c;
	c = NULL;
out:
	json_decref(j);
	tdx_collateral_free(c);
	return rc;
}

/* Index of the '}' closing the object starting at s[i] == '{', honouring
 * strings and escapes; -1 if unbalanced. */
static long object_end(const char *s, size_t len, size_t i)
{
	int depth = 0, in_str = 0;
	for (; i < len; i++) {
		char ch = s[i];
		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = 0;
			continue;
		}
		if (ch == '"')
			in_str = 1;
		else if (ch == '{')
			depth++;
		else if (ch == '}' && --depth == 0)
			return (long)i;
	}
	return -1;
}

int tdx_pcs_body_split(const char *body, size_t len, const char *key, const char **obj,
                       size_t *obj_len, uint8_t sig[64])
{
	char pat[64];
	const char *k;
	size_t i;
	long end;
	json_t *j;
	int rc;

	/* Validate the whole document first: a JSON object with exactly the
	 * two members, so the raw scan below sees well-formed text. */
	GUARD(json_parse(body, len, key, &j));
	rc =
	    json_is_object(j) && json_object_size(j) == 2 && json_is_object(json_object_get(j, key))
	        ? json_get_hex(j, "signature", sig, 64, 0)
	        : err_set(ERR_INVAL, "expected {\"%s\":{...},\"signature\":\"...\"}", key);
	json_decref(j);
	if (rc < 0)
		return err_wrap(rc, "%s", key);
	snprintf(pat, sizeof(pat), "\"%s\"", key);
	/* The key at the top level: right after the opening brace, or after
	 * the signature member.  Search from the start of each candidate. */
	for (k = body; (k = memmem(k, len - (size_t)(k - body), pat, strlen(pat))) != NULL; k++) {
		i = (size_t)(k - body) + strlen(pat);
		while (i < len &&
		       (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
			i++;
		if (i >= len || body[i] != ':')
			continue;
		i++;
		while (i < len &&
		       (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
			i++;
		if (i >= len || body[i] != '{')
			continue;
		end = object_end(body, len, i);
		ENSURE(end > 0, ERR_INVAL, "%s: unbalanced object", key);
		*obj = body + i;
		*obj_len = (size_t)end - i + 1;
		return 0;
	}
	return err_set(ERR_INVAL, "%s: member not found", key);
}

static int read_into(const char *dir, const char *name, struct tdx_blob *b)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	ENSURE(n > 0 && (size_t)n < sizeof(path), ERR_INVAL, "%s: path too long", dir);
	GUARD(file_read(path, TDX_COLLATERAL_FIELD_MAX, &b->p, &b->len));
	return 0;
}

static int load_pcs_json(const char *dir, const char *name, const char *key, struct tdx_blob *b,
                         uint8_t sig[64])
{
	struct tdx_blob raw = {NULL, 0};
	const char *obj;
	size_t olen;
	int rc;

	GUARD(read_into(dir, name, &raw));
	rc = tdx_pcs_body_split((const char *)raw.p, raw.len, key, &obj, &olen, sig);
	if (rc == 0)
		rc = blob_set(b, obj, olen);
	else
		err_wrap(rc, "%s/%s", dir, name);
	free(raw.p);
	return rc;
}

static int load_dir(const char *dir, struct tdx_collateral **out)
{
	static const struct {
		const char *name;
		int idx;
	} files[] = {
	    {"pck_crl_issuer_chain.pem", 0},
	    {"root_ca_crl.der", 1},
	    {"pck_crl.der", 2},
	    {"tcb_info_issuer_chain.pem", 3},
	    {"qe_identity_issuer_chain.pem", 5},
	};
	struct tdx_collateral *c = calloc(1, sizeof(*c));
	char path[PATH_MAX];
	int rc = 0;

	*out = NULL;
	ENSURE(c, ERR_NOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/collateral.json", dir);
	if (access(path, F_OK) == 0) {
		free(c);
		return tdx_collateral_load(path, out);
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		GUARD_GOTO(read_into(dir, files[i].name, field(c, files[i].idx)));
	GUARD_GOTO(load_pcs_json(dir, "tcb_info.json", "tcbInfo", &c->tcb_info, c->tcb_info_sig));
	GUARD_GOTO(load_pcs_json(dir, "qe_identity.json", "enclaveIdentity", &c->qe_identity,
	                         c->qe_identity_sig));
	*out = c;
	c = NULL;
out:
	tdx_collateral_free(c);
	return rc;
}

int tdx_collateral_load(const char *path, struct tdx_collateral **out)
{
	struct stat st;
	uint8_t *buf;
	size_t len;
	int rc;

	*out = NULL;
	ENSURE(stat(path, &st) == 0, ERR_IO, "collateral %s: not found", path);
	if (S_ISDIR(st.st_mode))
		return load_dir(path, out);
	GUARD(file_read(path, 8 * TDX_COLLATERAL_FIELD_MAX, &buf, &len));
	rc = tdx_collateral_from_json((const char *)buf, len, out);
	free(buf);
	if (rc < 0)
		err_wrap(rc, "%s", path);
	return rc;
}

int tdx_collateral_hash(const struct tdx_collateral *c, uint8_t out[32])
{
	EVP_MD_CTX *ctx;
	int ok;

	if (c->sealed) {
		memcpy(out, c->sealed_hash, 32);
		return 0;
	}
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);

	for (int i = 0; ok && i < N_FIELDS; i++) {
		const struct tdx_blob *b = field((struct tdx_collateral *)c, i);
		uint64_t n = b->len; /* length-prefixed: no two layouts collide */
		ok = EVP_DigestUpdate(ctx, &n, sizeof(n)) && EVP_DigestUpdate(ctx, b->p, b->len);
	}
	ok = ok && EVP_DigestUpdate(ctx, c->tcb_info_sig, 64) &&
	     EVP_DigestUpdate(ctx, c->qe_identity_sig, 64) && EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	ENSURE(ok, ERR_CRYPTO, "SHA-256 failed");
	return 0;
}

void tdx_collateral_seal(struct tdx_collateral *c)
{
	c->sealed = 0;
	c->sealed = tdx_collateral_hash(c, c->sealed_hash) == 0;
}

int tdx_collateral_to_json(const struct tdx_collateral *c, char **out)
{
	json_t *j = json_object();
	int rc = 0;

	ENSURE(j, ERR_NOMEM, "out of memory");
	for (int i = 0; i < N_FIELDS; i++) {
		const struct tdx_blob *b = field((struct tdx_collateral *)c, i);
		if (is_hex_field(i))
			GUARD_GOTO(json_set_hex(j, json_keys[i], b->p, b->len));
		else
			ENSURE_GOTO(json_object_set_new(j, json_keys[i],
			                                json_stringn((const char *)b->p, b->len)) ==
			                0,
			            ERR_INVAL, "collateral: %s is not UTF-8 text", json_keys[i]);
		if (i == 4)
			GUARD_GOTO(json_set_hex(j, "tcb_info_signature", c->tcb_info_sig, 64));
		if (i == 6)
			GUARD_GOTO(
			    json_set_hex(j, "qe_identity_signature", c->qe_identity_sig, 64));
	}
	*out = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	ENSURE_GOTO(*out, ERR_NOMEM, "out of memory");
out:
	json_decref(j);
	return rc;
}
