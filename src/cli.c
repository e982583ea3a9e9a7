#include "cli.h"

#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(void)
{
	fprintf(stderr, "tdexec: %s\n", err_msg()[0] ? err_msg() : "failed");
	return 1;
}

int cli_usage(const char *prog, const char *fmt, ...)
{
	va_list ap;
	const char *sep = prog[0] ? " " : "";
	fprintf(stderr, "tdexec%s%s: ", sep, prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'tdexec%s%s --help'.\n", sep, prog);
	return EXIT_USAGE;
}

int cli_getopt(int argc, char **argv, const char *prog, const char *shortopts,
               const struct option *longopts)
{
	char spec[64];
	int c;

	/* Leading ':' reports missing arguments as ':'; opterr off so the
	 * messages are ours. */
	snprintf(spec, sizeof(spec), ":%s", shortopts);
	opterr = 0;
	c = getopt_long(argc, argv, spec, longopts, NULL);
	if (c == '?') {
		if (optopt)
			cli_usage(prog, "unknown option '-%c'", optopt);
		else
			cli_usage(prog, "unknown option '%s'", argv[optind - 1]);
		return '?';
	}
	if (c == ':') {
		cli_usage(prog, "option '%s' needs a value", argv[optind - 1]);
		return '?';
	}
	return c;
}

int cli_dispatch(const char *prog, const struct cli_cmd *cmds, int argc, char **argv,
                 const char *usage)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	for (const struct cli_cmd *c = cmds; c->name; c++) {
		if (strcmp(c->name, argv[1]) == 0) {
			optind = 0; /* full getopt reset for the subcommand */
			return c->run(argc - 1, argv + 1);
		}
	}
	if (argv[1][0] == '-')
		return cli_usage(prog, "unknown option '%s'", argv[1]);
	return cli_usage(prog, "unknown command '%s'", argv[1]);
}

int cli_report_data(const char *hex, const char *file, uint8_t out[64])
{
	uint8_t *raw = NULL, *dec = NULL;
	size_t len = 0, dlen = 0;
	int rc = 0;

	memset(out, 0, 64);
	ENSURE(!(hex && file), ERR_INVAL, "give --report-data or --report-data-file, not both");
	ENSURE(hex || file, ERR_INVAL,
	       "report data is required (--report-data HEX or "
	       "--report-data-file FILE)");
	if (hex) {
		GUARD(hex_decode_alloc(hex, strlen(hex), &dec, &dlen));
	} else {
		GUARD(file_read(file, 1024, &raw, &len));
		if (len != 64 && is_hex_text(raw, len)) {
			rc = hex_decode_alloc((const char *)raw, len, &dec, &dlen);
			free(raw);
			GUARD(rc);
		} else {
			dec = raw;
			dlen = len;
		}
	}
	if (dlen > 64) {
		free(dec);
		return err_set(ERR_INVAL, "report data is %zu bytes; at most 64", dlen);
	}
	if (dlen)
		memcpy(out, dec, dlen);
	free(dec);
	return rc;
}

int cli_int(const char *prog, const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return cli_usage(prog, "%s: '%s' is not a number in %ld..%ld", opt, s, min, max);
	*out = v;
	return 0;
}

int cli_chain_usage(const char *prog, const char *file, const char *network, const char *rpc)
{
	if (file && network)
		return cli_usage(prog, "--chain FILE and --network NAME exclude each other");
	if (network && !rpc)
		return cli_usage(prog, "--network %s needs --rpc URL, the node to reach it by",
		                 network);
	return 0;
}

/* The expanded list stays reachable until exit. */
static char **config_argv;

int cli_config_argv(int argc, char **argv, int *out_argc, char ***out_argv)
{
	json_t *conf = NULL, *v;
	const char *path = NULL, *k;
	char **nv;
	int n = 0;

	*out_argc = argc;
	*out_argv = argv;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--config") == 0)
			path = argv[i + 1];
	if (!path)
		return 0;
	GUARD(json_load_path(path, 1 << 20, &conf));
	ENSURE(json_is_object(conf), ERR_INVAL, "%s: a JSON object is expected", path);
	/* argv[0], then the file's settings, then the command line (later wins) */
	nv = calloc((size_t)argc + 2 * json_object_size(conf) + 1, sizeof(*nv));
	ENSURE(nv, ERR_NOMEM, "out of memory");
	nv[n++] = argv[0];
	json_object_foreach (conf, k, v) {
		char *opt = malloc(strlen(k) + 3), *val = NULL;
		if (!opt)
			continue;
		sprintf(opt, "--%s", k);
		for (char *p = opt + 2; *p; p++)
			if (*p == '_')
				*p = '-';
		if (json_is_string(v))
			val = strdup(json_string_value(v));
		else if (json_is_integer(v) &&
		         asprintf(&val, "%lld", (long long)json_integer_value(v)) < 0)
			val = NULL;
		if (json_is_false(v) || json_is_null(v)) {
			free(opt);
			continue;
		}
		nv[n++] = opt;
		if (val)
			nv[n++] = val;
	}
	for (int i = 1; i < argc; i++)
		nv[n++] = argv[i];
	json_decref(conf);
	*out_argc = n;
	*out_argv = config_argv = nv;
	return 0;
}
