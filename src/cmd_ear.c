/* tdexec ear — attestation-result tokens (EAR) an SMS signs for each task
 * session it releases: check one against the SMS's published keys. */
#include "cli.h"

#include "crypto/jws.h"
#include "net/http.h"
#include "util/bytes.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"
#include "util/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* What tdexec's SMS writes (services/sms/internal.h): the profile, and the
 * submodule the TD's appraisal is under. */
#define EAR_PROFILE "tag:github.com,2023:veraison/ear"
#define EAR_SUBMOD  "tdx"
/* Clocks differ: a token issued this far in the future is still taken. */
#define EAR_SKEW 300

#define EXIT_INVALID 2 /* the token does not verify */
#define EXIT_CLAIMS  3 /* it verifies, but its claims do not hold */
#define EXIT_STATUS  4 /* --require-affirming and it is not affirming */

static const char ear_usage[] = "Usage: tdexec ear verify TOKEN|@FILE --jwks URL|FILE [options]\n"
                                "\n"
                                "Attestation-result tokens (EAR) an SMS signs per released task.\n"
                                "\n"
                                "Commands:\n"
                                "  verify   check a token against the SMS's keys\n";

static const char verify_usage[] =
    "Usage: tdexec ear verify TOKEN|@FILE --jwks URL|FILE [--task 0xTASK]\n"
    "                         [--require-affirming] [--json]\n"
    "\n"
    "Check an attestation-result token (IETF draft-ietf-rats-ear, a JWT) that an\n"
    "SMS signed when it released a task's session to a TD, and print the\n"
    "appraisal it carries.  TOKEN is the token itself, @FILE a file holding it\n"
    "('@-': stdin).\n"
    "\n"
    "Checked: the token is a compact JWS signed ES256 (no other algorithm is\n"
    "taken, whatever its header says) by the key of the JWK Set that its \"kid\"\n"
    "names; eat_profile is EAR's; iat is not in the future (5 minutes of clock\n"
    "skew), exp and nbf (if any) hold; it has the TD's submodule \"" EAR_SUBMOD "\";\n"
    "with --task, that submodule names this task.\n"
    "\n"
    "Options:\n"
    "  --jwks URL|FILE       the SMS's JWK Set: http(s)://SMS/.well-known/jwks.json,\n"
    "                        or a file holding it\n"
    "  --task 0xTASK         the token must be for this task\n"
    "  --require-affirming   exit 4 unless the appraisal is \"affirming\" (a simulated\n"
    "                        TD is always \"contraindicated\")\n"
    "  --json                print {\"valid\", \"kid\", \"status\", \"header\", \"claims\"}\n"
    "\n"
    "Exit status: 0 valid; 1 usage or tool error (the key set unreadable);\n"
    "2 the token does not verify (form, algorithm, unknown kid, signature);\n"
    "3 it verifies but its claims do not hold (profile, time, task);\n"
    "4 --require-affirming and the status is not affirming.\n";

static const struct option verify_opts[] = {
    {"jwks", required_argument, NULL, 'k'},
    {"task", required_argument, NULL, 't'},
    {"require-affirming", no_argument, NULL, 'a'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The token: the argument, or a file's content after '@'; surrounding
 * whitespace dropped. */
static int read_token(const char *arg, char **out)
{
	uint8_t *b = NULL;
	size_t n;
	char *t;

	*out = NULL;
	if (arg[0] == '@') {
		GUARD(file_read(arg + 1, JWS_MAX + 64, &b, &n));
	} else {
		n = strlen(arg);
		b = (uint8_t *)strndup(arg, n);
		ENSURE(b, ERR_NOMEM, "out of memory");
	}
	t = (char *)b;
	while (n > 0 && strchr(" \t\r\n", t[n - 1]))
		n--;
	t[n] = '\0';
	while (*t && strchr(" \t\r\n", *t))
		t++;
	*out = strdup(t);
	free(b);
	ENSURE(*out, ERR_NOMEM, "out of memory");
	return 0;
}

static int read_jwks(const char *where, json_t **out)
{
	*out = NULL;
	if (strncasecmp(where, "http://", 7) == 0 || strncasecmp(where, "https://", 8) == 0) {
		struct http_response r;
		GUARD(http_get(where, 1 << 20, 30, &r));
		if (r.status != 200) {
			http_response_free(&r);
			return err_set(ERR_IO, "%s: HTTP %ld", where, r.status);
		}
		int rc = json_parse((const char *)r.body.buf, r.body.len, where, out);
		http_response_free(&r);
		GUARD(rc);
	} else {
		GUARD(json_load_path(where, 1 << 20, out));
	}
	if (!json_is_array(json_object_get(*out, "keys"))) {
		json_decref(*out);
		*out = NULL;
		return err_set(ERR_INVAL, "%s: not a JWK Set (no \"keys\" array)", where);
	}
	return 0;
}

/* The claims' checks; ERR_VERIFY saying which fails. */
static int check_claims(const json_t *c, const char *task, const json_t **sub)
{
	const char *profile = json_string_value(json_object_get(c, "eat_profile"));
	const json_t *iat = json_object_get(c, "iat"), *exp = json_object_get(c, "exp"),
	             *nbf = json_object_get(c, "nbf");
	long long now = (long long)time(NULL);

	ENSURE(profile && strcmp(profile, EAR_PROFILE) == 0, ERR_VERIFY,
	       "ear: eat_profile is not \"%s\"", EAR_PROFILE);
	ENSURE(json_is_integer(iat), ERR_VERIFY, "ear: no \"iat\" (an integer)");
	ENSURE(json_integer_value(iat) <= now + EAR_SKEW, ERR_VERIFY,
	       "ear: issued in the future (iat %lld, now %lld)", (long long)json_integer_value(iat),
	       now);
	ENSURE(!exp || (json_is_integer(exp) && json_integer_value(exp) > now - EAR_SKEW),
	       ERR_VERIFY, "ear: expired (exp)");
	ENSURE(!nbf || (json_is_integer(nbf) && json_integer_value(nbf) <= now + EAR_SKEW),
	       ERR_VERIFY, "ear: not valid yet (nbf)");
	ENSURE(json_is_object(json_object_get(c, "ear.verifier-id")), ERR_VERIFY,
	       "ear: no \"ear.verifier-id\"");
	*sub = json_object_get(json_object_get(c, "submods"), EAR_SUBMOD);
	ENSURE(json_is_object(*sub) && json_is_string(json_object_get(*sub, "ear.status")),
	       ERR_VERIFY, "ear: no submodule \"%s\" with an \"ear.status\"", EAR_SUBMOD);
	if (task) {
		const char *t = json_string_value(json_object_get(*sub, "iexec_task_id"));
		ENSURE(t && strcasecmp(t, task) == 0, ERR_VERIFY,
		       "ear: the token is for task %s, not %s", t ? t : "(none)", task);
	}
	return 0;
}

/* One "label  value" line, the value as printable ASCII: a token's claims
 * are the signer's words, not to be sent to a terminal as they are. */
static void line(const char *label, const char *value)
{
	char buf[256];
	if (value)
		printf("%-10s %s\n", label, str_printable(buf, sizeof(buf), value, strlen(value)));
}

static void print_text(const json_t *h, const json_t *c, const json_t *sub, const char *status)
{
	static const char *const fields[][2] = {
	    {"task", "iexec_task_id"},      {"app", "iexec_app_digest"},
	    {"worker", "iexec_worker"},     {"mrtd", "tdx_mrtd"},
	    {"tcb", "attester_tcb_status"}, {"policy", "ear.appraisal-policy-id"},
	};
	const json_t *tv = json_object_get(sub, "ear.trustworthiness-vector"), *v;
	const char *k;
	char date[32], buf[256];

	time_format((time_t)json_integer_value(json_object_get(c, "iat")), date);
	line("token", "valid (ES256)");
	line("kid", json_string_value(json_object_get(h, "kid")));
	printf("%-10s %s%s\n", "status", str_printable(buf, sizeof(buf), status, strlen(status)),
	       json_is_true(json_object_get(sub, "tdexec_simulated")) ? " (a simulated TD)" : "");
	line("issued", date);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		line(fields[i][0], json_string_value(json_object_get(sub, fields[i][1])));
	printf("%-10s", "vector");
	json_object_foreach ((json_t *)tv, k, v)
		printf(" %s=%lld", str_printable(buf, sizeof(buf), k, strlen(k)),
		       (long long)json_integer_value(v));
	printf("\n");
}

static int ear_verify(int argc, char **argv)
{
	const char *jwks_at = NULL, *task = NULL;
	char *token = NULL;
	json_t *jwks = NULL, *h = NULL, *c = NULL, *out = NULL;
	const json_t *sub = NULL;
	uint8_t tid[32];
	int ch, json = 0, affirming = 0, code = EXIT_USAGE;

	optind = 0;
	while ((ch = cli_getopt(argc, argv, "ear verify", "h", verify_opts)) != -1) {
		switch (ch) {
		case 'k': jwks_at = optarg; break;
		case 't':
			if (hex_decode_exact(tid, 32, optarg, "--task") < 0)
				return cli_usage("ear verify", "--task: 32 bytes of hex (0x…)");
			task = optarg;
			break;
		case 'a': affirming = 1; break;
		case 'j': json = 1; break;
		case 'h': fputs(verify_usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !jwks_at)
		return cli_usage("ear verify", "a TOKEN (or @FILE) and --jwks are required");
	if (read_token(argv[optind], &token) < 0 || read_jwks(jwks_at, &jwks) < 0) {
		code = cli_fail();
		goto out;
	}
	if (jws_verify(token, strlen(token), jwks, &h, &c) < 0) {
		code = cli_fail_code(EXIT_INVALID);
		goto out;
	}
	if (check_claims(c, task, &sub) < 0) {
		code = cli_fail_code(EXIT_CLAIMS);
		goto out;
	}
	const char *status = json_string_value(json_object_get(sub, "ear.status"));
	out = json_pack("{s:b,s:O,s:s,s:O,s:O}", "valid", 1, "kid", json_object_get(h, "kid"),
	                "status", status, "header", h, "claims", c);
	if (!out) {
		err_set(ERR_NOMEM, "out of memory");
		code = cli_fail();
		goto out;
	}
	if (json) {
		if (json_print(out, 1) < 0) {
			code = cli_fail();
			goto out;
		}
	} else {
		print_text(h, c, sub, status);
	}
	code = affirming && strcmp(status, "affirming") != 0 ? EXIT_STATUS : 0;
	if (code == EXIT_STATUS) {
		err_set(ERR_VERIFY, "ear: the appraisal is %s, not affirming", status);
		code = cli_fail_code(EXIT_STATUS);
	}
out:
	free(token);
	json_decref(jwks);
	json_decref(h);
	json_decref(c);
	json_decref(out);
	return code;
}

const struct cli_cmd ear_cmds[] = {
    {"verify", ear_verify, "check an attestation-result token against the SMS's keys", NULL,
     verify_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

int cmd_ear(int argc, char **argv)
{
	return cli_dispatch("ear", ear_cmds, argc, argv, ear_usage);
}
