/* ref.c — references, challenges, credentials, platforms; see ref.h. */
#include "ref.h"

#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define REF_MAX       512
#define AUTH_FILE_MAX (1u << 20)

static int lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int oci_digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
		return 0;
	for (int i = 7; i < 71; i++)
		if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
			return 0;
	return 1;
}

/* One path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static int component_ok(const char *p, size_t n)
{
	size_t i = 0;
	if (n == 0 || !lower_alnum(p[0]) || !lower_alnum(p[n - 1]))
		return 0;
	while (i < n) {
		if (lower_alnum(p[i])) {
			i++;
			continue;
		}
		size_t j = i;
		if (p[i] == '-') {
			while (j < n && p[j] == '-')
				j++;
		} else if (p[i] == '_') {
			j += (j + 1 < n && p[j + 1] == '_') ? 2 : 1;
		} else if (p[i] == '.') {
			j++;
		} else {
			return 0;
		}
		if (j >= n || !lower_alnum(p[j]))
			return 0;
		i = j;
	}
	return 1;
}

/* A registry host: a DNS name (labels of [A-Za-z0-9-]), an IPv4 address
 * or a bracketed IPv6 one, then an optional :PORT. */
static int host_ok(const char *h, size_t n)
{
	size_t i = 0, end = n;
	const char *colon = NULL;

	if (n == 0)
		return 0;
	if (h[0] == '[') {
		const char *rb = memchr(h, ']', n);
		if (!rb || rb - h < 3)
			return 0;
		for (const char *q = h + 1; q < rb; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
				return 0;
		i = (size_t)(rb - h) + 1;
		if (i == n)
			return 1;
		if (h[i] != ':')
			return 0;
		colon = h + i;
	} else {
		colon = memchr(h, ':', n);
		end = colon ? (size_t)(colon - h) : n;
		if (end == 0)
			return 0;
		for (size_t k = 0; k < end; k++) {
			char c = h[k];
			if (!isalnum((unsigned char)c) && c != '-' && c != '.')
				return 0;
			if (c == '.' && (k == 0 || h[k - 1] == '.' || k + 1 == end))
				return 0;
			if (c == '-' &&
			    (k == 0 || h[k - 1] == '.' || k + 1 == end || h[k + 1] == '.'))
				return 0;
		}
	}
	if (colon) {
		size_t plen = n - (size_t)(colon - h) - 1;
		long port = 0;
		if (plen == 0 || plen > 5)
			return 0;
		for (size_t k = 1; k <= plen; k++) {
			if (!isdigit((unsigned char)colon[k]))
				return 0;
			port = port * 10 + (colon[k] - '0');
		}
		if (port < 1 || port > 65535)
			return 0;
	}
	return 1;
}

int oci_ref_parse(const char *s, struct oci_ref *r)
{
	char buf[REF_MAX];
	const char *name, *slash;
	char *at, *tag = NULL, *lastslash;
	size_t n;

	memset(r, 0, sizeof(*r));
	ENSURE(s && *s, ERR_INVAL, "image reference: empty");
	n = strlen(s);
	ENSURE(n < sizeof(buf), ERR_INVAL, "image reference: over %zu bytes", sizeof(buf) - 1);
	memcpy(buf, s, n + 1);
	for (size_t i = 0; i < n; i++)
		ENSURE(s[i] > ' ' && s[i] < 0x7f, ERR_INVAL,
		       "image reference '%.100s': a space or a control or non-ASCII character", s);
	if ((at = strchr(buf, '@'))) {
		*at = 0;
		ENSURE(oci_digest_valid(at + 1), ERR_INVAL,
		       "image reference '%.100s': the digest must be sha256: and 64 lower-case hex "
		       "digits",
		       s);
		memcpy(r->digest, at + 1, 72);
	}
	/* a tag is after the last ':' that follows the last '/' */
	lastslash = strrchr(buf, '/');
	tag = strrchr(lastslash ? lastslash : buf, ':');
	if (tag) {
		size_t tl = strlen(tag + 1);
		*tag++ = 0;
		ENSURE(tl >= 1 && tl <= 128, ERR_INVAL, "image reference '%.100s': bad tag length",
		       s);
		ENSURE(isalnum((unsigned char)tag[0]) || tag[0] == '_', ERR_INVAL,
		       "image reference '%.100s': bad tag '%s'", s, tag);
		for (size_t i = 0; i < tl; i++)
			ENSURE(isalnum((unsigned char)tag[i]) || strchr("_.-", tag[i]), ERR_INVAL,
			       "image reference '%.100s': bad tag '%s'", s, tag);
		memcpy(r->tag, tag, tl + 1);
	}
	name = buf;
	slash = strchr(name, '/');
	if (slash) {
		size_t hl = (size_t)(slash - name);
		int is_host = memchr(name, '.', hl) || memchr(name, ':', hl) ||
		              (hl == 9 && memcmp(name, "localhost", 9) == 0) || name[0] == '[';
		for (size_t i = 0; i < hl && !is_host; i++)
			is_host = isupper((unsigned char)name[i]);
		if (is_host) {
			ENSURE(host_ok(name, hl) && hl < sizeof(r->host), ERR_INVAL,
			       "image reference '%.100s': bad registry host '%.*s'", s, (int)hl,
			       name);
			memcpy(r->host, name, hl);
			r->host[hl] = 0;
			name = slash + 1;
		}
	}
	if (!r->host[0] || !strcmp(r->host, "docker.io") || !strcmp(r->host, "index.docker.io"))
		snprintf(r->host, sizeof(r->host), "%s", OCI_DOCKER_HUB);
	ENSURE(*name, ERR_INVAL, "image reference '%.100s': no repository name", s);
	/* each component of the path */
	for (const char *p = name;;) {
		const char *e = strchr(p, '/');
		size_t cl = e ? (size_t)(e - p) : strlen(p);
		ENSURE(component_ok(p, cl), ERR_INVAL,
		       "image reference '%.100s': bad name component '%.*s' (lower-case letters, "
		       "digits and separators . _ __ -)",
		       s, (int)cl, p);
		if (!e)
			break;
		p = e + 1;
	}
	{
		const char *prefix =
		    !strcmp(r->host, OCI_DOCKER_HUB) && !strchr(name, '/') ? "library/" : "";
		size_t pl = strlen(prefix), nl = strlen(name);
		ENSURE(pl + nl < sizeof(r->repo), ERR_INVAL,
		       "image reference '%.100s': name too long", s);
		memcpy(r->repo, prefix, pl);
		memcpy(r->repo + pl, name, nl + 1);
	}
	return 0;
}

int oci_ref_format(const struct oci_ref *r, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s%s%s%s%s", r->host, r->repo, r->tag[0] ? ":" : "", r->tag,
	                 r->digest[0] ? "@" : "", r->digest);
	ENSURE(n >= 0 && (size_t)n < cap, ERR_TOOBIG, "image reference too long");
	return 0;
}

int oci_ref_hostname(const struct oci_ref *r, char *out, size_t cap)
{
	const char *h = r->host, *end;
	size_t n;
	if (h[0] == '[') {
		h++;
		end = strchr(h, ']');
	} else {
		end = strchr(h, ':');
	}
	n = end ? (size_t)(end - h) : strlen(h);
	ENSURE(n < cap, ERR_TOOBIG, "registry host too long");
	memcpy(out, h, n);
	out[n] = 0;
	return 0;
}

/* ---------- WWW-Authenticate ---------- */

int oci_challenge_parse(const char *hdr, struct oci_challenge *c)
{
	const char *p = hdr;
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	ENSURE(hdr, ERR_INVAL, "WWW-Authenticate: missing");
	while (*p == ' ' || *p == '\t')
		p++;
	while (isalpha((unsigned char)p[n]))
		n++;
	ENSURE(n > 0 && n < sizeof(c->scheme), ERR_INVAL, "WWW-Authenticate: no scheme in '%.80s'",
	       hdr);
	memcpy(c->scheme, p, n);
	p += n;
	ENSURE(!strcasecmp(c->scheme, "Bearer") || !strcasecmp(c->scheme, "Basic"), ERR_UNSUPPORTED,
	       "WWW-Authenticate: scheme '%s' unsupported (Bearer and Basic are)", c->scheme);
	for (;;) {
		char key[32], val[1024];
		size_t kl = 0, vl = 0;
		char *dst = NULL;
		size_t cap = 0;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		while (isalnum((unsigned char)p[kl]) || p[kl] == '_' || p[kl] == '-')
			kl++;
		ENSURE(kl > 0 && kl < sizeof(key) && p[kl] == '=', ERR_INVAL,
		       "WWW-Authenticate: malformed parameter at '%.40s'", p);
		memcpy(key, p, kl);
		key[kl] = 0;
		p += kl + 1;
		if (*p == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				ENSURE(vl + 1 < sizeof(val), ERR_TOOBIG,
				       "WWW-Authenticate: parameter %s too long", key);
				val[vl++] = *p++;
			}
			ENSURE(*p == '"', ERR_INVAL, "WWW-Authenticate: unterminated quote in %s",
			       key);
			p++;
		} else {
			while (*p && *p != ',' && *p != ' ' && *p != '\t') {
				ENSURE(vl + 1 < sizeof(val), ERR_TOOBIG,
				       "WWW-Authenticate: parameter %s too long", key);
				val[vl++] = *p++;
			}
		}
		val[vl] = 0;
		if (!strcasecmp(key, "realm"))
			dst = c->realm, cap = sizeof(c->realm);
		else if (!strcasecmp(key, "service"))
			dst = c->service, cap = sizeof(c->service);
		else if (!strcasecmp(key, "scope"))
			dst = c->scope, cap = sizeof(c->scope);
		if (dst) {
			ENSURE(vl < cap, ERR_TOOBIG, "WWW-Authenticate: parameter %s too long",
			       key);
			memcpy(dst, val, vl + 1);
		}
	}
	ENSURE(strcasecmp(c->scheme, "Bearer") != 0 || c->realm[0], ERR_INVAL,
	       "WWW-Authenticate: a Bearer challenge without a realm");
	return 0;
}

/* ---------- config.json ---------- */

static int auth_file_default(char *out, size_t cap, int *explicit_file)
{
	const char *e;
	*explicit_file = 0;
	if ((e = getenv("REGISTRY_AUTH_FILE")) && *e) {
		*explicit_file = 1;
		return path_fmt(out, cap, "%s", e);
	}
	if ((e = getenv("DOCKER_CONFIG")) && *e)
		return path_fmt(out, cap, "%s/config.json", e);
	if ((e = getenv("HOME")) && *e)
		return path_fmt(out, cap, "%s/.docker/config.json", e);
	out[0] = 0;
	return 0;
}

/* One auths entry -> base64("user:pass"). */
static int auth_entry(const json_t *e, const char *file, const char *key, char **basic)
{
	const char *auth = json_string_value(json_object_get(e, "auth"));
	const char *user = json_string_value(json_object_get(e, "username"));
	const char *pass = json_string_value(json_object_get(e, "password"));

	ENSURE(json_is_object(e), ERR_INVAL, "%s: auths.%s is not an object", file, key);
	if (auth && *auth) {
		uint8_t *raw = NULL;
		size_t rl = 0;
		int rc = base64_decode(auth, strlen(auth), &raw, &rl);
		if (rc < 0 || !memchr(raw, ':', rl) || raw[0] == ':') {
			if (raw) {
				OPENSSL_cleanse(raw, rl);
				free(raw);
			}
			return err_set(ERR_INVAL,
			               "%s: auths.%s.auth is not base64 of \"user:password\"", file,
			               key);
		}
		OPENSSL_cleanse(raw, rl);
		free(raw);
		*basic = strdup(auth);
		ENSURE(*basic, ERR_NOMEM, "out of memory");
		return 0;
	}
	if (user && pass && *user) {
		size_t ul = strlen(user), pl = strlen(pass);
		char *both = malloc(ul + pl + 2);
		ENSURE(both, ERR_NOMEM, "out of memory");
		memcpy(both, user, ul);
		both[ul] = ':';
		memcpy(both + ul + 1, pass, pl + 1);
		*basic = base64_encode((const uint8_t *)both, ul + pl + 1);
		OPENSSL_cleanse(both, ul + pl + 1);
		free(both);
		ENSURE(*basic, ERR_NOMEM, "out of memory");
		return 0;
	}
	return 1; /* nothing usable here */
}

int oci_auth_lookup(const char *file, const char *host, char **basic)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	json_t *root = NULL, *auths, *helpers;
	int explicit_file = 1, rc;
	const char *keys[4];
	char k2[300], k3[300];
	size_t nk = 0;

	*basic = NULL;
	if (file)
		GUARD(path_fmt(path, sizeof(path), "%s", file));
	else
		GUARD(auth_file_default(path, sizeof(path), &explicit_file));
	if (!path[0])
		return 0;
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		if (!explicit_file)
			return 0;
		return err_set(ERR_NOTFOUND, "registry credentials %s: no such file", path);
	}
	rc = file_read(path, AUTH_FILE_MAX, &buf, &len);
	if (rc < 0)
		return err_wrap(rc, "registry credentials");
	rc = json_parse((const char *)buf, len, path, &root);
	OPENSSL_cleanse(buf, len);
	free(buf);
	GUARD(rc);
	auths = json_object_get(root, "auths");
	/* the host as written, with a scheme, and Docker Hub's legacy key */
	keys[nk++] = host;
	snprintf(k2, sizeof(k2), "https://%s", host);
	keys[nk++] = k2;
	snprintf(k3, sizeof(k3), "http://%s", host);
	keys[nk++] = k3;
	if (!strcmp(host, OCI_DOCKER_HUB))
		keys[nk++] = OCI_DOCKER_HUB_AUTH;
	rc = 0;
	for (size_t i = 0; i < nk && !*basic && rc == 0; i++) {
		json_t *e = json_object_get(auths, keys[i]);
		if (!strcmp(keys[i], OCI_DOCKER_HUB_AUTH) && !e)
			e = json_object_get(auths, "docker.io");
		if (e)
			rc = auth_entry(e, path, keys[i], basic);
	}
	if (rc > 0)
		rc = 0;
	helpers = json_object_get(root, "credHelpers");
	if (rc == 0 && !*basic &&
	    (json_object_get(helpers, host) ||
	     json_string_value(json_object_get(root, "credsStore"))))
		rc =
		    err_set(ERR_UNSUPPORTED,
		            "%s: credentials for %s are kept by a credential helper (credsStore or "
		            "credHelpers), which tdexec does not run; write them in the file "
		            "(auths.\"%s\".auth) or use --registry-auth FILE",
		            path, host, host);
	json_decref(root);
	return rc;
}

/* ---------- platforms ---------- */

int oci_is_index(const json_t *m)
{
	const char *mt = json_string_value(json_object_get(m, "mediaType"));
	return json_is_array(json_object_get(m, "manifests")) ||
	       (mt && (!strcmp(mt, OCI_MT_INDEX) || !strcmp(mt, OCI_MT_DOCKER_LIST)));
}

void oci_platform_name(const json_t *desc, char *out, size_t cap)
{
	const json_t *p = json_object_get(desc, "platform");
	const char *os = json_string_value(json_object_get(p, "os"));
	const char *arch = json_string_value(json_object_get(p, "architecture"));
	const char *var = json_string_value(json_object_get(p, "variant"));
	snprintf(out, cap, "%.40s/%.40s%s%.40s", os ? os : "?", arch ? arch : "?",
	         var && *var ? "/" : "", var && *var ? var : "");
}

int oci_index_pick(const json_t *index, const json_t **desc)
{
	const json_t *ms = json_object_get(index, "manifests");
	char list[1024] = "";
	size_t used = 0;

	*desc = NULL;
	ENSURE(json_is_array(ms), ERR_INVAL, "image index without a manifests array");
	for (size_t i = 0; i < json_array_size(ms); i++) {
		const json_t *d = json_array_get(ms, i);
		const json_t *p = json_object_get(d, "platform");
		const char *os = json_string_value(json_object_get(p, "os"));
		const char *arch = json_string_value(json_object_get(p, "architecture"));
		if (os && arch && !strcmp(os, "linux") && !strcmp(arch, "amd64")) {
			*desc = d;
			return 0;
		}
	}
	for (size_t i = 0; i < json_array_size(ms) && used + 2 < sizeof(list); i++) {
		char one[128];
		int n;
		oci_platform_name(json_array_get(ms, i), one, sizeof(one));
		n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", one);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return err_set(ERR_NOTFOUND, "image index has no linux/amd64 manifest (platforms: %s)",
	               json_array_size(ms) ? list : "none");
}
