#include "cli.h"

#include "tdx/quote.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cli_cmd *cli_commands;
int cli_json;

void cli_json_error(const char *msg, int code)
{
	json_t *o;
	if (!cli_json)
		return;
	o = json_pack("{s:s, s:i}", "error", msg, "code", code);
	if (o)
		(void)!json_print(o, 1);
	json_decref(o);
}

int cli_fail_code(int code)
{
	const char *m = err_msg()[0] ? err_msg() : "failed";
	fprintf(stderr, "tdexec: %s\n", m);
	cli_json_error(m, code);
	return code;
}

int cli_fail(void)
{
	return cli_fail_code(1);
}

int cli_usage(const char *prog, const char *fmt, ...)
{
	va_list ap;
	const char *sep = prog[0] ? " " : "";
	char msg[512];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "tdexec%s%s: %s", sep, prog, msg);
	cli_json_error(msg, EXIT_USAGE);
	fprintf(stderr, "\nTry 'tdexec%s%s --help'.\n", sep, prog);
	return EXIT_USAGE;
}

int cli_getopt(int argc, char **argv, const char *prog, const char *shortopts,
               const struct option *longopts)
{
	char spec[64];
	int c, idx;

	/* Leading ':' reports missing arguments as ':'; opterr off so the
	 * messages are ours. */
	snprintf(spec, sizeof(spec), ":%s", shortopts);
	opterr = 0;
again:
	idx = -1;
	c = getopt_long(argc, argv, spec, longopts, &idx);
	if (idx >= 0 && strcmp(longopts[idx].name, "json") == 0 && c != '?' && c != ':') {
		cli_json = 1;
		return c;
	}
	if (c == '?' && optind > 0 && optind <= argc) {
		/* getopt_long refuses these as unknown or as taking no value */
		const char *a = argv[optind - 1];
		int jval = 0, has_json = 0;
		for (const struct option *o = longopts; o->name; o++)
			if (strcmp(o->name, "json") == 0) {
				has_json = 1;
				jval = o->val;
			}
		if (has_json && strncmp(a, "--json=", 7) == 0) {
			const char *v = a + 7;
			if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) {
				cli_json = 1;
				return jval;
			}
			if (strcmp(v, "false") && strcmp(v, "0") && strcmp(v, "no")) {
				cli_usage(prog, "--json takes true or false, not '%s'", v);
				return '?';
			}
			a = "--no-json";
		}
		if (has_json && strcmp(a, "--no-json") == 0) {
			if (cli_json) {
				cli_json = 0;
				cli_usage(prog,
				          "--json and --no-json (or --json=false) contradict");
				return '?';
			}
			goto again;
		}
		if (strncmp(a, "--", 2) == 0 && strchr(a, '=')) {
			cli_usage(prog, "option '%.*s' takes no value", (int)(strchr(a, '=') - a),
			          a);
			return '?';
		}
	}
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
		if (c->run && strcmp(c->name, argv[1]) == 0) {
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

/* Quote bytes from a file of binary, hex, 0x-hex or base64 (whitespace and
 * line breaks allowed in text).  A binary TDX quote starts with its version
 * (4 or 5, little-endian 16 bits): no text starts with those bytes. */
int cli_quote_load(const char *path, struct tdx_quote **q, int *unreadable)
{
	uint8_t *buf, *bin = NULL;
	size_t len, blen = 0, n = 0;
	char *text = NULL;
	int rc, binary = 0;

	if (unreadable)
		*unreadable = 0;
	rc = file_read(path, 4 * TDX_QUOTE_MAX_SIZE, &buf, &len);
	if (rc < 0) {
		if (unreadable)
			*unreadable = 1;
		return rc;
	}
	for (size_t i = 0; i < len && !binary; i++)
		binary = !isprint(buf[i]) && !isspace(buf[i]);
	if (binary || (len >= 2 && (buf[0] == 4 || buf[0] == 5) && buf[1] == 0)) {
		/* the parser says what is wrong with it (an SGX quote, a
		 * truncated header) better than a failed text decoding would */
		rc = tdx_quote_parse(buf, len, q);
		free(buf);
		return rc < 0 ? err_wrap(rc, "%s", path) : 0;
	}
	/* Text: keep what is not whitespace. */
	text = malloc(len + 1);
	if (!text) {
		free(buf);
		return err_set(ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < len; i++)
		if (!isspace(buf[i]))
			text[n++] = (char)buf[i];
	text[n] = '\0';
	free(buf);
	if (n >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
		rc = hex_decode_alloc(text + 2, n - 2, &bin, &blen);
	else if (n && is_hex_text((const uint8_t *)text, n))
		rc = hex_decode_alloc(text, n, &bin, &blen);
	else if (n)
		rc = base64_decode(text, n, &bin, &blen);
	else
		rc = err_set(ERR_INVAL, "empty");
	free(text);
	if (rc < 0)
		return err_wrap(rc, "%s: not a quote in binary, hex, 0x-hex or base64", path);
	rc = tdx_quote_parse(bin, blen, q);
	free(bin);
	return rc < 0 ? err_wrap(rc, "%s", path) : 0;
}
