/* cmd_pull.c — images from registries: tdexec image pull, tdexec app
 * inspect, and the check `app deploy` makes of its image. */
#include "cli.h"

#include "oci/ref.h"
#include "oci/registry.h"
#include "util/err.h"
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	P_LAYOUT = 1000,
	P_AUTH,
	P_CA,
	P_PLAIN,
	P_JOBS,
	P_MAXSIZE,
	P_JSON,
	P_TIMEOUT,
};

const struct option cli_pull_opts[] = {
    {"layout", required_argument, NULL, P_LAYOUT},
    {"registry-auth", required_argument, NULL, P_AUTH},
    {"registry-ca", required_argument, NULL, P_CA},
    {"registry-plain-http", required_argument, NULL, P_PLAIN},
    {"jobs", required_argument, NULL, P_JOBS},
    {"max-image-size", required_argument, NULL, P_MAXSIZE},
    {"json", no_argument, NULL, P_JSON},
    {"pull-timeout", required_argument, NULL, P_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

#define REGISTRY_HELP                                                                              \
	"  --registry-auth FILE   docker config.json with credentials (default:\n"                 \
	"                         $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json,\n"              \
	"                         ~/.docker/config.json)\n"                                        \
	"  --registry-ca FILE     extra CA certificates (PEM) trusted for registries\n"            \
	"  --registry-plain-http HOST:PORT  reach this registry over plain HTTP\n"                 \
	"                         (repeatable; never a fallback)\n"                                \
	"  --pull-timeout S       give up after S seconds, retries included (1800)\n"

static const char pull_usage[] =
    "Usage: tdexec image pull REF [--layout DIR] [--jobs N] [--max-image-size MIB]\n"
    "                         [--registry-auth FILE] [--registry-ca FILE]\n"
    "                         [--registry-plain-http HOST:PORT] [--pull-timeout S]\n"
    "                         [--json]\n"
    "\n"
    "Pull REF ([HOST[:PORT]/]NAME[:TAG][@sha256:DIGEST]) from its registry into the\n"
    "OCI image layout DIR (default ./images), the linux/amd64 image of an index, every\n"
    "blob checked against its digest; print the digest the registry shows (the\n"
    "index's for a multi-platform image): the app's checksum.\n"
    "\n"
    "  --layout DIR           the OCI image layout to pull into (default ./images)\n"
    "  --jobs N               concurrent layer downloads (default 3, at most 16)\n"
    "  --max-image-size MIB   refuse images whose layers are larger, compressed\n"
    "                         (default 8192)\n" REGISTRY_HELP
    "  --json                 print {\"reference\", \"digest\"}\n";

static const char inspect_usage[] =
    "Usage: tdexec app inspect REF [--layout DIR] [--registry-auth FILE]\n"
    "                         [--registry-ca FILE] [--registry-plain-http HOST:PORT] [--json]\n"
    "\n"
    "Show an image as the app's checksum names it: its digest (the index's for a\n"
    "multi-platform image), the platforms of an index, and for linux/amd64 the\n"
    "manifest digest, layers, compressed size, entrypoint, cmd, env, working\n"
    "directory and user.  From REF's registry, or from the OCI layout DIR.\n"
    "\n"
    "  --layout DIR           read the image from this OCI image layout\n" REGISTRY_HELP
    "  --json                 print JSON\n";

struct popts {
	struct oci_opts o;
	const char *layout;
	int json;
};

static int parse(int argc, char **argv, const char *prog, const char *usage, struct popts *p)
{
	long v;
	int c;

	memset(p, 0, sizeof(*p));
	oci_opts_default(&p->o);
	optind = 0;
	while ((c = cli_getopt(argc, argv, prog, "h", cli_pull_opts)) != -1) {
		switch (c) {
		case P_LAYOUT: p->layout = optarg; break;
		case P_AUTH: p->o.auth_file = optarg; break;
		case P_CA: p->o.ca_file = optarg; break;
		case P_PLAIN:
			if (oci_opts_plain_http(&p->o, optarg) < 0)
				return cli_usage(prog, "%s", err_msg());
			break;
		case P_JOBS:
			if (cli_int(prog, "--jobs", optarg, 1, OCI_JOBS_MAX, &v))
				return EXIT_USAGE;
			p->o.jobs = (unsigned)v;
			break;
		case P_MAXSIZE:
			if (cli_int(prog, "--max-image-size", optarg, 1, 1L << 30, &v))
				return EXIT_USAGE;
			p->o.max_image = (uint64_t)v << 20;
			break;
		case P_JSON: p->json = 1; break;
		case P_TIMEOUT:
			if (cli_int(prog, "--pull-timeout", optarg, 1, 7 * 86400, &v))
				return EXIT_USAGE;
			p->o.timeout_s = (unsigned)v;
			break;
		case 'h': fputs(usage, stdout); return -2;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc)
		return cli_usage(prog, "expected one image reference");
	return 0;
}

int cmd_image_pull(int argc, char **argv)
{
	struct popts p;
	char digest[72];
	int r = parse(argc, argv, "image pull", pull_usage, &p);

	if (r)
		return r == -2 ? 0 : r;
	if (oci_pull(&p.o, argv[optind], p.layout ? p.layout : "images", digest) < 0)
		return cli_fail();
	if (p.json) {
		json_t *j = json_pack("{s:s,s:s}", "reference", argv[optind], "digest", digest);
		r = j ? json_print(j, 1) : err_set(ERR_NOMEM, "out of memory");
		json_decref(j);
		return r < 0 ? cli_fail() : 0;
	}
	printf("%s\n", digest);
	return 0;
}

static void print_strings(const char *label, const json_t *a)
{
	printf("  %-14s", label);
	if (!json_is_array(a) || !json_array_size(a))
		printf(" -");
	for (size_t i = 0; i < json_array_size(a); i++)
		printf(" %s", json_string_value(json_array_get(a, i))
		                  ? json_string_value(json_array_get(a, i))
		                  : "?");
	printf("\n");
}

int cmd_app_inspect(int argc, char **argv)
{
	struct popts p;
	json_t *j = NULL;
	const json_t *amd, *pl;
	int r = parse(argc, argv, "app inspect", inspect_usage, &p);

	if (r)
		return r == -2 ? 0 : r;
	if (oci_inspect(&p.o, argv[optind], p.layout, 0, &j) < 0)
		return cli_fail();
	if (p.json) {
		r = json_print(j, 1);
		json_decref(j);
		return r < 0 ? cli_fail() : 0;
	}
	printf("reference  %s\ndigest     %s\nmediaType  %s\n",
	       json_string_value(json_object_get(j, "reference")),
	       json_string_value(json_object_get(j, "digest")),
	       json_string_value(json_object_get(j, "mediaType")));
	pl = json_object_get(j, "platforms");
	if (json_is_array(pl)) {
		printf("platforms\n");
		for (size_t i = 0; i < json_array_size(pl); i++) {
			const json_t *e = json_array_get(pl, i);
			printf("  %-22s %s\n", json_string_value(json_object_get(e, "platform")),
			       json_string_value(json_object_get(e, "digest")));
		}
	}
	amd = json_object_get(j, "linux/amd64");
	if (json_is_object(amd)) {
		printf("linux/amd64\n  %-14s %s\n  %-14s %lld\n  %-14s %lld\n", "manifest",
		       json_string_value(json_object_get(amd, "digest")), "layers",
		       (long long)json_integer_value(json_object_get(amd, "layers")), "compressed",
		       (long long)json_integer_value(json_object_get(amd, "compressedSize")));
		print_strings("entrypoint", json_object_get(amd, "entrypoint"));
		print_strings("cmd", json_object_get(amd, "cmd"));
		print_strings("env", json_object_get(amd, "env"));
		printf("  %-14s %s\n  %-14s %s\n", "workingDir",
		       json_string_value(json_object_get(amd, "workingDir")), "user",
		       json_string_value(json_object_get(amd, "user")));
	} else {
		printf("linux/amd64  absent: workers cannot run this image\n");
	}
	json_decref(j);
	return 0;
}

int cli_image_check(const char *image, const char *layout, const struct oci_opts *o)
{
	json_t *j = NULL;
	int rc = oci_inspect(o, image, layout, 1, &j);
	json_decref(j);
	if (rc < 0)
		return err_wrap(rc, "app image %s (--no-image-check skips this check)", image);
	return 0;
}
