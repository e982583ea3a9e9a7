/* test_oci — lib/oci/ref.h: image references as docker reads them,
 * WWW-Authenticate challenges, docker config.json credentials, the
 * platform picked from an image index; lib/oci/layout.h: images removed
 * from a layout with the blobs only they use. */
#include "testutil.h"

#include "oci/layout.h"
#include "oci/ref.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"

#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A case: input, then host, repo, tag, digest ("" when none); host NULL =
 * refused, repo then holds a fragment of the message. */
static const struct {
	const char *in, *host, *repo, *tag, *digest;
} refs[] = {
    {"alpine", OCI_DOCKER_HUB, "library/alpine", "", ""},
    {"alpine:3.20", OCI_DOCKER_HUB, "library/alpine", "3.20", ""},
    {"docker.io/alpine", OCI_DOCKER_HUB, "library/alpine", "", ""},
    {"index.docker.io/library/alpine", OCI_DOCKER_HUB, "library/alpine", "", ""},
    {"bitnami/redis:7", OCI_DOCKER_HUB, "bitnami/redis", "7", ""},
    {"ghcr.io/org/team/app:v1.2_x-3", "ghcr.io", "org/team/app", "v1.2_x-3", ""},
    {"localhost/app", "localhost", "app", "", ""},
    {"localhost:5000/app@sha256:" D64, "localhost:5000", "app", "", "sha256:" D64},
    {"127.0.0.1:5000/a/b:t@sha256:" D64, "127.0.0.1:5000", "a/b", "t", "sha256:" D64},
    {"[::1]:5000/app:1", "[::1]:5000", "app", "1", ""},
    {"Registry/app", "Registry", "app", "", ""},
    {"a.b-c.example/x__y.z--w", "a.b-c.example", "x__y.z--w", "", ""},
    {"", NULL, "empty", NULL, NULL},
    {"Alpine", NULL, "bad name component 'Alpine'", NULL, NULL},
    {"app:", NULL, "bad tag length", NULL, NULL},
    {"app:-x", NULL, "bad tag '-x'", NULL, NULL},
    {"app@sha256:ABC", NULL, "the digest must be sha256:", NULL, NULL},
    {"app@sha512:" D64, NULL, "the digest must be sha256:", NULL, NULL},
    {"app@sha256:" D64 "00", NULL, "the digest must be sha256:", NULL, NULL},
    {"a//b", NULL, "bad name component ''", NULL, NULL},
    {"a/b_", NULL, "bad name component 'b_'", NULL, NULL},
    {"a/b___c", NULL, "bad name component 'b___c'", NULL, NULL},
    {"host:99999/a", NULL, "bad registry host", NULL, NULL},
    {"host:/a", NULL, "bad registry host", NULL, NULL},
    {"-host.io/a", NULL, "bad registry host", NULL, NULL},
    {"a b", NULL, "a space or a control", NULL, NULL},
    {"ghcr.io/", NULL, "no repository name", NULL, NULL},
    {"app:"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     NULL, "bad tag length", NULL, NULL},
};

static void references(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(refs) / sizeof(*refs); i++) {
		struct oci_ref r;
		int rc = oci_ref_parse(refs[i].in, &r);
		if (!refs[i].host) {
			if (rc != ERR_INVAL || !strstr(err_msg(), refs[i].repo))
				fail_msg("'%s': rc %d '%s', want '%s'", refs[i].in, rc, err_msg(),
				         refs[i].repo);
			continue;
		}
		if (rc != 0)
			fail_msg("'%s': %s", refs[i].in, err_msg());
		assert_string_equal(r.host, refs[i].host);
		assert_string_equal(r.repo, refs[i].repo);
		assert_string_equal(r.tag, refs[i].tag);
		assert_string_equal(r.digest, refs[i].digest);
	}
	{
		struct oci_ref r;
		char out[600], h[256];
		assert_int_equal(oci_ref_parse("[::1]:5000/app:1", &r), 0);
		assert_int_equal(oci_ref_hostname(&r, h, sizeof(h)), 0);
		assert_string_equal(h, "::1");
		assert_int_equal(oci_ref_parse("alpine:3@sha256:" D64, &r), 0);
		assert_int_equal(oci_ref_format(&r, out, sizeof(out)), 0);
		assert_string_equal(out, OCI_DOCKER_HUB "/library/alpine:3@sha256:" D64);
	}
}

static void challenges(void **state)
{
	struct oci_challenge c;
	(void)state;
	assert_int_equal(oci_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
	                                     "service=\"registry.docker.io\","
	                                     "scope=\"repository:library/alpine:pull\"",
	                                     &c),
	                 0);
	assert_string_equal(c.scheme, "Bearer");
	assert_string_equal(c.realm, "https://auth.docker.io/token");
	assert_string_equal(c.service, "registry.docker.io");
	assert_string_equal(c.scope, "repository:library/alpine:pull");
	/* unquoted values, spaces, unknown parameters, escapes, any case */
	assert_int_equal(
	    oci_challenge_parse("bearer  realm=https://r/t , error=\"insufficient_scope\","
	                        " service=\"a\\\"b\"",
	                        &c),
	    0);
	assert_string_equal(c.realm, "https://r/t");
	assert_string_equal(c.service, "a\"b");
	assert_string_equal(c.scope, "");
	assert_int_equal(oci_challenge_parse("Basic realm=\"Registry Realm\"", &c), 0);
	assert_string_equal(c.scheme, "Basic");
	assert_int_equal(oci_challenge_parse("Negotiate abc", &c), ERR_UNSUPPORTED);
	assert_int_equal(oci_challenge_parse("Bearer service=\"x\"", &c), ERR_INVAL);
	assert_int_equal(oci_challenge_parse("Bearer realm=\"unterminated", &c), ERR_INVAL);
	assert_int_equal(oci_challenge_parse("Bearer realm", &c), ERR_INVAL);
	assert_int_equal(oci_challenge_parse("", &c), ERR_INVAL);
	{
		char big[2000];
		snprintf(big, sizeof(big), "Bearer realm=\"%01200d\"", 0);
		assert_int_equal(oci_challenge_parse(big, &c), ERR_TOOBIG);
	}
}

static char *write_tmp(const char *dir, const char *name, const char *text)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);
	FILE *f;
	sprintf(p, "%s/%s", dir, name);
	assert_non_null(f = fopen(p, "w"));
	fputs(text, f);
	fclose(f);
	return p;
}

static void credentials(void **state)
{
	char *dir = td_tmpdir(), *f, *b = NULL;
	(void)state;
	/* "auth": base64 of user:pass, as docker login writes it */
	f = write_tmp(dir, "a.json",
	              "{\"auths\":{\"reg.example:5000\":{\"auth\":\"dTpw\"},"
	              "\"https://index.docker.io/v1/\":{\"auth\":\"aHViOnB3\"}}}");
	assert_int_equal(oci_auth_lookup(f, "reg.example:5000", &b), 0);
	assert_string_equal(b, "dTpw");
	free(b);
	assert_int_equal(oci_auth_lookup(f, OCI_DOCKER_HUB, &b), 0);
	assert_string_equal(b, "aHViOnB3");
	free(b);
	assert_int_equal(oci_auth_lookup(f, "other.example", &b), 0);
	assert_null(b);
	free(f);
	/* username/password, under a key with a scheme */
	f = write_tmp(
	    dir, "b.json",
	    "{\"auths\":{\"https://reg.example\":{\"username\":\"u\",\"password\":\"p\"}}}");
	assert_int_equal(oci_auth_lookup(f, "reg.example", &b), 0);
	assert_string_equal(b, "dTpw");
	free(b);
	free(f);
	/* refusals */
	f = write_tmp(dir, "c.json", "{\"auths\":{\"r\":{\"auth\":\"bm9jb2xvbg==\"}}}");
	assert_int_equal(oci_auth_lookup(f, "r", &b), ERR_INVAL);
	assert_non_null(strstr(err_msg(), "not base64 of \"user:password\""));
	free(f);
	f = write_tmp(dir, "d.json", "{\"auths\":{\"r\":{}},\"credsStore\":\"desktop\"}");
	assert_int_equal(oci_auth_lookup(f, "r", &b), ERR_UNSUPPORTED);
	assert_non_null(strstr(err_msg(), "credential helper"));
	free(f);
	f = write_tmp(dir, "e.json", "{\"credHelpers\":{\"r\":\"ecr-login\"}}");
	assert_int_equal(oci_auth_lookup(f, "r", &b), ERR_UNSUPPORTED);
	free(f);
	f = write_tmp(dir, "g.json", "{\"auths\":");
	assert_true(oci_auth_lookup(f, "r", &b) < 0);
	free(f);
	assert_int_equal(oci_auth_lookup("/nonexistent/config.json", "r", &b), ERR_NOTFOUND);
	/* the default search: $REGISTRY_AUTH_FILE, then $DOCKER_CONFIG */
	f = write_tmp(dir, "config.json", "{\"auths\":{\"r\":{\"auth\":\"dTpw\"}}}");
	unsetenv("REGISTRY_AUTH_FILE");
	setenv("DOCKER_CONFIG", dir, 1);
	assert_int_equal(oci_auth_lookup(NULL, "r", &b), 0);
	assert_string_equal(b, "dTpw");
	free(b);
	setenv("DOCKER_CONFIG", "/nonexistent", 1);
	assert_int_equal(oci_auth_lookup(NULL, "r", &b), 0); /* no default file: none */
	assert_null(b);
	setenv("REGISTRY_AUTH_FILE", f, 1);
	assert_int_equal(oci_auth_lookup(NULL, "r", &b), 0);
	assert_string_equal(b, "dTpw");
	free(b);
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("DOCKER_CONFIG");
	free(f);
	td_rmtree(dir);
	free(dir);
}

static void platforms(void **state)
{
	json_error_t e;
	const json_t *d;
	json_t *idx = json_loads(
	    "{\"schemaVersion\":2,\"manifests\":["
	    "{\"digest\":\"sha256:1\",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\","
	    "\"variant\":\"v7\"}},"
	    "{\"digest\":\"sha256:2\",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\","
	    "\"variant\":\"v3\"}}]}",
	    0, &e);
	(void)state;
	assert_non_null(idx);
	assert_true(oci_is_index(idx));
	assert_int_equal(oci_index_pick(idx, &d), 0);
	assert_string_equal(json_string_value(json_object_get(d, "digest")), "sha256:2");
	json_array_remove(json_object_get(idx, "manifests"), 1);
	assert_int_equal(oci_index_pick(idx, &d), ERR_NOTFOUND);
	assert_string_equal(err_msg(),
	                    "image index has no linux/amd64 manifest (platforms: linux/arm/v7)");
	json_decref(idx);
	idx = json_loads("{\"schemaVersion\":2,\"config\":{},\"layers\":[]}", 0, &e);
	assert_false(oci_is_index(idx));
	json_decref(idx);
}

/* Write `text` as a blob of the layout DIR; its digest in out[72]. */
static void blob(const char *dir, const char *text, char out[72])
{
	uint8_t h[32];
	char path[512];
	SHA256((const uint8_t *)text, strlen(text), h);
	memcpy(out, "sha256:", 7);
	hex_encode(out + 7, h, 32);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, out + 7);
	assert_int_equal(file_write(path, text, strlen(text), 0644), 0);
}

static int has_blob(const char *dir, const char *digest)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, digest + 7);
	return access(path, F_OK) == 0;
}

static void layout_remove(void **state)
{
	char *dir = td_tmpdir(), path[512], text[1024];
	char la[72], lb1[72], lb2[72], c1[72], c2[72], carm[72], m1[72], m2[72], marm[72], i2[72],
	    orphan[72];
	struct oci_layout_image *imgs;
	size_t n;
	uint64_t freed;
	(void)state;

	snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
	assert_int_equal(dir_create(path, 0755), 0);
	blob(dir, "layer shared by both images", la);
	blob(dir, "layer of image one", lb1);
	blob(dir, "layer of image two", lb2);
	blob(dir, "{\"config\":1}", c1);
	blob(dir, "{\"config\":2}", c2);
	blob(dir, "{\"config\":\"arm\"}", carm);
	blob(dir, "a blob no image names (a pull under way)", orphan);
#define MANIFEST                                                                                   \
	"{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_MANIFEST                                    \
	"\",\"config\":{\"digest\":\"%s\"},"                                                       \
	"\"layers\":[{\"digest\":\"%s\"},{\"digest\":\"%s\"},{\"digest\":\"sha256:../../../etc\"}]}"
	snprintf(text, sizeof(text), MANIFEST, c1, la, lb1);
	blob(dir, text, m1);
	snprintf(text, sizeof(text), MANIFEST, c2, la, lb2);
	blob(dir, text, m2);
	snprintf(text, sizeof(text), MANIFEST, carm, la, la);
	blob(dir, text, marm);
	snprintf(text, sizeof(text),
	         "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MT_INDEX "\",\"manifests\":["
	         "{\"digest\":\"%s\"},{\"digest\":\"%s\"}]}",
	         m2, marm);
	blob(dir, text, i2);
	/* image one twice (two names), image two by its index */
	snprintf(text, sizeof(text),
	         "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"%s\"},{\"digest\":\"%s\"},"
	         "{\"digest\":\"%s\"},{\"digest\":\"not a digest\"}]}",
	         m1, i2, m1);
	snprintf(path, sizeof(path), "%s/index.json", dir);
	assert_int_equal(file_write(path, text, strlen(text), 0644), 0);

	assert_int_equal(oci_layout_images(dir, &imgs, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(imgs[0].digest, m1);
	assert_string_equal(imgs[1].digest, i2);
	assert_true(imgs[0].mtime > 0);
	free(imgs);

	/* image two: its index, manifests, config and own layer go; the
	 * shared layer and the orphan stay */
	assert_int_equal(oci_layout_remove(dir, i2, &freed), 0);
	assert_true(freed > 0);
	assert_false(has_blob(dir, i2) || has_blob(dir, m2) || has_blob(dir, marm) ||
	             has_blob(dir, c2) || has_blob(dir, carm) || has_blob(dir, lb2));
	assert_true(has_blob(dir, la) && has_blob(dir, lb1) && has_blob(dir, c1) &&
	            has_blob(dir, m1) && has_blob(dir, orphan));
	assert_int_equal(oci_layout_images(dir, &imgs, &n), 0);
	assert_int_equal(n, 1);
	free(imgs);
	assert_int_equal(oci_layout_remove(dir, i2, NULL), ERR_NOTFOUND);

	/* image one: both entries and all its blobs */
	assert_int_equal(oci_layout_remove(dir, m1, &freed), 0);
	assert_false(has_blob(dir, m1) || has_blob(dir, c1) || has_blob(dir, la) ||
	             has_blob(dir, lb1));
	assert_true(has_blob(dir, orphan));
	assert_int_equal(oci_layout_images(dir, &imgs, &n), 0);
	assert_int_equal(n, 0);
	free(imgs);

	/* an index naming one manifest 5,000 times is refused, and nothing
	 * goes */
	{
		size_t cap = 5000 * 90 + 256, k;
		char *big = malloc(cap), dbig[72];
		assert_non_null(big);
		blob(dir, "{\"config\":3}", c1);
		snprintf(text, sizeof(text), MANIFEST, c1, la, lb1);
		blob(dir, text, m1);
		k = (size_t)snprintf(big, cap, "{\"schemaVersion\":2,\"manifests\":[");
		for (int i = 0; i < 5000; i++)
			k += (size_t)snprintf(big + k, cap - k, "%s{\"digest\":\"%s\"}",
			                      i ? "," : "", m1);
		snprintf(big + k, cap - k, "]}");
		blob(dir, big, dbig);
		free(big);
		snprintf(text, sizeof(text),
		         "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"%s\"}]}", dbig);
		assert_int_equal(file_write(path, text, strlen(text), 0644), 0);
		assert_int_equal(oci_layout_remove(dir, dbig, NULL), ERR_TOOBIG);
		assert_true(has_blob(dir, dbig) && has_blob(dir, m1) && has_blob(dir, c1));
		assert_int_equal(oci_layout_images(dir, &imgs, &n), 0);
		assert_int_equal(n, 1);
		free(imgs);
	}

	/* never a path from a digest */
	assert_int_equal(oci_layout_remove(dir, "sha256:../../../etc/passwd", NULL), ERR_INVAL);
	assert_int_equal(file_tree_bytes(dir, &freed), 0);
	assert_true(freed > 0);
	td_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(references),    cmocka_unit_test(challenges),
	    cmocka_unit_test(credentials),   cmocka_unit_test(platforms),
	    cmocka_unit_test(layout_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
