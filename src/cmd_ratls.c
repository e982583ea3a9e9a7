/* tdexec ratls — RA-TLS certificates: make one for this TD, check a server's. */
#include "cli.h"

#include "net/http.h"
#include "tdx/quote_show.h"
#include "tdx/ratls.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char check_usage[] =
    "Usage: tdexec ratls check URL --collateral PATH [--policy FILE]\n"
    "                          [--trust-sim-root FILE] [--config-hash HEX]\n"
    "                          [--save-quote FILE] [--json]\n"
    "\n"
    "Connect to an RA-TLS server (such as 'tdexec sms --ra-tls') and admit it only\n"
    "if its certificate carries a TD quote that verifies (DCAP, with --collateral)\n"
    "and meets the policy, and whose REPORTDATA binds the certificate's key and\n"
    "the configuration document it carries (" TDX_RATLS_CONFIG_OID ").\n"
    "A server whose configuration trusts a root other than Intel's is refused\n"
    "unless --trust-sim-root names that same root.  Prints the verdict, the\n"
    "server's measurements, its configuration and the configuration's SHA-256.\n"
    "Exit 0 when admitted, 1 otherwise.\n"
    "\n"
    "  --policy FILE       the server TD's policy (see 'tdexec quote verify')\n"
    "  --trust-sim-root F  trust this simulated root CA instead of Intel's (tests)\n"
    "  --config-hash HEX   admit only this configuration (for an SMS, the value\n"
    "                      'tdexec sms config-hash' computes from its settings)\n"
    "  --save-quote FILE   also write the server's quote (for 'tdexec quote show')\n";

static const char cert_usage[] =
    "Usage: tdexec ratls cert --cert-out FILE --key-out FILE\n"
    "                         [--provider tsm|sim|qgs|auto] [--sim-dir DIR]\n"
    "                         [--qgs ADDR] [--qgs-timeout MS] [--subject CN]\n"
    "                         [--days N] [--config FILE] [--json]\n"
    "\n"
    "Make a fresh P-256 key and a self-signed certificate carrying this TD's quote\n"
    "(extension " TDX_RATLS_OID ") and a configuration document\n"
    "(extension " TDX_RATLS_CONFIG_OID "),\n"
    "the quote's REPORTDATA being SHA-512(\"tdexec-ratls-v1\" || SHA-256(document)\n"
    "|| the key's SubjectPublicKeyInfo).  The key file is written 0600.\n"
    "\n"
    "  --config FILE  the server's configuration, a JSON object (written in\n"
    "                 canonical form: compact, keys sorted, ASCII); default {}\n"
    "  --provider P   where the quote comes from, as for 'tdexec quote get':\n"
    "                 tsm (default), qgs, auto, sim (docs/providers.md)\n"
    "  --sim-dir DIR  the simulated TD (sim; qgs and auto: its TDREPORT)\n"
    "  --qgs ADDR     vsock:CID:PORT (default vsock:2:4050) or unix:PATH\n"
    "  --qgs-timeout MS  a whole QGS exchange (default 30000)\n"
    "  --json         print {cert, key, subject, days, config_hash}: config_hash\n"
    "                 is the SHA-256 of the configuration document\n";

/* The peer's certificate, kept for the report once it is admitted. */
struct seen {
	struct tdx_gate gate;
	struct tdx_ratls_expect expect;
	struct tdx_verdict v;
	uint8_t *der;
	size_t len;
	uint8_t config_hash[32];
	json_t *config;
};

static int remember(void *ctx, const uint8_t *der, size_t len)
{
	struct seen *s = ctx;
	free(s->der);
	s->der = malloc(len);
	ENSURE(s->der, ERR_NOMEM, "out of memory");
	memcpy(s->der, der, len);
	s->len = len;
	json_decref(s->config);
	return tdx_ratls_check(&s->expect, der, len, &s->v, s->config_hash, &s->config);
}

static const struct option ratls_check_opts[] = {
    {"collateral", required_argument, NULL, 'c'},
    {"policy", required_argument, NULL, 'p'},
    {"trust-sim-root", required_argument, NULL, 'S'},
    {"save-quote", required_argument, NULL, 'q'},
    {"config-hash", required_argument, NULL, 'H'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int ratls_check(int argc, char **argv)
{
	const char *collateral = NULL, *policy = NULL, *root = NULL, *save = NULL;
	struct seen s;
	struct http_peer peer = {remember, &s, 0, NULL};
	struct http_call call = {NULL, NULL, NULL, 0, &peer, NULL};
	struct http_response r;
	struct tdx_quote *q = NULL;
	uint8_t *quote = NULL, pin[32];
	size_t qlen;
	json_t *out = NULL;
	char hex[65];
	int c, json = 0, code = 1;

	memset(&s, 0, sizeof(s));
	s.expect.gate = &s.gate;
	optind = 0;
	while ((c = cli_getopt(argc, argv, "ratls check", "h", ratls_check_opts)) != -1) {
		switch (c) {
		case 'c': collateral = optarg; break;
		case 'p': policy = optarg; break;
		case 'S': root = optarg; break;
		case 'q': save = optarg; break;
		case 'H':
			if (tdx_ratls_pin_parse(optarg, "--config-hash", pin) < 0)
				return cli_usage("ratls check", "%s", err_msg());
			s.expect.config_hash = pin;
			break;
		case 'j': json = 1; break;
		case 'h': fputs(check_usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !collateral)
		return cli_usage("ratls check", "a URL and --collateral are required");
	if (tdx_gate_open(&s.gate, collateral, root, policy, "ratls") < 0)
		return cli_fail();
	if (http_call(argv[optind], &call, 1 << 20, 30, &r) < 0) {
		code = cli_fail();
		goto out;
	}
	http_response_free(&r);
	if (tdx_ratls_quote(s.der, s.len, &quote, &qlen) < 0 ||
	    tdx_quote_parse(quote, qlen, &q) < 0 ||
	    (save && file_write(save, quote, qlen, 0644) < 0) ||
	    !(out = tdx_verdict_to_json(q, &s.v, 1, NULL, time(NULL)))) {
		code = cli_fail();
		goto out;
	}
	hex_encode(hex, s.config_hash, 32);
	json_object_set_new(out, "ratls_key_bound", json_true());
	json_object_set_new(out, "config_hash", json_string(hex));
	json_object_set(out, "config", s.config);
	{
		/* an SMS's attestation-result key, bound by the quoted TLS key */
		json_t *jwk;
		char kid[44];
		int e = tdx_ratls_ear_key(s.der, s.len, &jwk, kid);
		if (e == 0) {
			json_object_set_new(out, "ear_kid", json_string(kid));
			json_object_set_new(out, "ear_jwk", jwk);
		} else if (e != ERR_NOTFOUND) {
			code = cli_fail();
			goto out;
		}
	}
	if (!json)
		json_print_text(stdout, out);
	else if (json_print(out, 1) < 0) {
		code = cli_fail();
		goto out;
	}
	code = 0;
out:
	json_decref(out);
	tdx_quote_free(q);
	free(quote);
	free(s.der);
	json_decref(s.config);
	tdx_gate_close(&s.gate);
	return code;
}

static const struct option ratls_cert_opts[] = {
    {"cert-out", required_argument, NULL, 'c'}, {"key-out", required_argument, NULL, 'k'},
    {"provider", required_argument, NULL, 'P'}, {"sim-dir", required_argument, NULL, 'd'},
    {"qgs", required_argument, NULL, 'q'},      {"qgs-timeout", required_argument, NULL, 't'},
    {"subject", required_argument, NULL, 's'},  {"days", required_argument, NULL, 'n'},
    {"config", required_argument, NULL, 'C'},   {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
};

static int ratls_cert(int argc, char **argv)
{
	struct tdx_provider p = {.kind = TDX_PROVIDER_TSM};
	const char *cert_out = NULL, *key_out = NULL, *subject = "tdexec RA-TLS", *conf = NULL;
	char *cert = NULL, *key = NULL, *doc = NULL;
	size_t doc_len = 0;
	json_t *j = NULL;
	long days = 365, v;
	uint8_t doc_hash[32];
	char hex[65];
	int c, rc;

	optind = 0;
	while ((c = cli_getopt(argc, argv, "ratls cert", "h", ratls_cert_opts)) != -1) {
		switch (c) {
		case 'c': cert_out = optarg; break;
		case 'k': key_out = optarg; break;
		case 'd': p.sim_dir = optarg; break;
		case 'q': p.qgs = optarg; break;
		case 't':
			if (cli_int("ratls cert", "--qgs-timeout", optarg, 1, 600000, &v))
				return EXIT_USAGE;
			p.qgs_timeout_ms = (int)v;
			break;
		case 's': subject = optarg; break;
		case 'C': conf = optarg; break;
		case 'P':
			if (tdx_provider_parse(optarg, &p.kind) < 0)
				return cli_usage("ratls cert", "--provider: %s", err_msg());
			break;
		case 'n':
			if (cli_int("ratls cert", "--days", optarg, 1, 3650, &days))
				return EXIT_USAGE;
			break;
		case 'j': break; /* cli_json */
		case 'h': fputs(cert_usage, stdout); return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_usage("ratls cert", "unexpected argument '%s'", argv[optind]);
	if (!cert_out || !key_out)
		return cli_usage("ratls cert", "--cert-out and --key-out are required");
	if (tdx_provider_check(&p) < 0)
		return cli_usage("ratls cert", "%s", err_msg());
	rc = conf ? json_load_path(conf, TDX_RATLS_CONFIG_MAX, &j) : 0;
	if (rc == 0 && !j && !(j = json_object()))
		rc = err_set(ERR_NOMEM, "out of memory");
	if (rc == 0)
		rc = tdx_ratls_canonical(j, &doc, &doc_len);
	json_decref(j);
	if (rc == 0) {
		SHA256((const unsigned char *)doc, doc_len, doc_hash);
		hex_encode(hex, doc_hash, 32);
		rc = tdx_ratls_make(&p, subject, days, doc, doc_len, &cert, &key);
	}
	free(doc);
	if (rc == 0)
		rc = file_write(key_out, key, strlen(key), 0600);
	if (rc == 0)
		rc = file_write(cert_out, cert, strlen(cert), 0644);
	if (key) {
		OPENSSL_cleanse(key, strlen(key));
		free(key);
	}
	free(cert);
	if (rc == 0 && cli_json) {
		json_t *o =
		    json_pack("{s:s,s:s,s:s,s:I,s:s}", "cert", cert_out, "key", key_out, "subject",
		              subject, "days", (json_int_t)days, "config_hash", hex);
		rc = o ? json_print(o, 1) : err_set(ERR_NOMEM, "out of memory");
		json_decref(o);
	}
	return rc < 0 ? cli_fail() : 0;
}

const struct cli_cmd ratls_cmds[] = {
    {"check", ratls_check, "admit an RA-TLS server by its TD quote", NULL, ratls_check_opts},
    {"cert", ratls_cert, "make an RA-TLS certificate for this TD", NULL, ratls_cert_opts},
    {NULL, NULL, NULL, NULL, NULL},
};

int cmd_ratls(int argc, char **argv)
{
	return cli_dispatch("ratls", ratls_cmds, argc, argv,
	                    "Usage: tdexec ratls (check|cert) ...\n"
	                    "  check URL   admit an RA-TLS server by its TD quote\n"
	                    "  cert        make an RA-TLS certificate for this TD\n");
}
