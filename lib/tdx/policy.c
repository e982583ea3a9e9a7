#include "policy.h"

#include "tdx/eventlog.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"

#include <libgen.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const measured[] = {"MRTD",   "RTMR0",      "RTMR1",       "RTMR2",
                                       "RTMR3",  "MRCONFIGID", "MROWNER",     "MROWNERCONFIG",
                                       "MRSEAM", "XFAM",       "TDATTRIBUTES"};
#define N_MEASURED (sizeof(measured) / sizeof(measured[0]))

struct tdx_policy {
	unsigned statuses; /* bit per enum tdx_tcb_status */
	int has_advisories;
	struct tdx_advisories advisories;
	int allow_debug;
	int require_sept_ve_disable;
	json_t *measurements; /* validated: name -> [hex, ...] */
	int has_min_svn;
	uint8_t min_svn[16];
	int has_min_qe;
	unsigned min_qe;
	int has_report_data;
	uint8_t report_data[64];
	char **logs;
	size_t n_logs;
	int require_rtmr3_log;
};

void tdx_policy_free(struct tdx_policy *p)
{
	if (!p)
		return;
	json_decref(p->measurements);
	for (size_t i = 0; i < p->n_logs; i++)
		free(p->logs[i]);
	free(p->logs);
	free(p);
}

/* The base of every policy: no DEBUG TD, SEPT_VE_DISABLE required.  A
 * policy file starts strict (UpToDate only, no advisory), so that a policy
 * that forgets to say which statuses it accepts accepts the fewest; the
 * default without a file accepts what verification lets through (it is a
 * report of the verdict, not an admission decision). */
static int policy_new(int strict, struct tdx_policy **out)
{
	struct tdx_policy *p = calloc(1, sizeof(*p));
	ENSURE(p, ERR_NOMEM, "out of memory");
	p->require_sept_ve_disable = 1;
	p->measurements = json_object();
	if (!p->measurements) {
		free(p);
		return err_set(ERR_NOMEM, "out of memory");
	}
	if (strict) {
		p->statuses = 1u << TDX_TCB_UP_TO_DATE;
		p->has_advisories = 1; /* an empty list: every advisory refused */
	} else {
		p->statuses = (1u << TDX_TCB_REVOKED) - 1; /* all but Revoked, NotSupported */
	}
	*out = p;
	return 0;
}

int tdx_policy_default(struct tdx_policy **out)
{
	return policy_new(0, out);
}

int tdx_policy_pins(const struct tdx_policy *p, const char *field)
{
	return json_object_get(p->measurements, field) != NULL;
}

/* The byte length of a measured field. */
static size_t field_len(const char *name)
{
	struct tdx_td_body b;
	struct tdx_field f;
	for (size_t i = 0; tdx_body_field_at(&b, TDX_BODY_TD10, i, &f); i++)
		if (strcmp(f.name, name) == 0)
			return f.len;
	return 0;
}

static int parse_measurements(struct tdx_policy *p, json_t *m)
{
	const char *k;
	json_t *v;

	ENSURE(json_is_object(m), ERR_INVAL, "\"measurements\" must be an object");
	json_object_foreach (m, k, v) {
		size_t len = 0, i, n;
		json_t *set, *e;
		uint8_t buf[64];
		for (n = 0; n < N_MEASURED; n++)
			if (strcmp(k, measured[n]) == 0)
				len = field_len(k);
		ENSURE(len, ERR_INVAL, "\"measurements\": unknown field \"%s\"", k);
		set = json_is_array(v) ? json_incref(v) : json_pack("[O]", v);
		ENSURE(set && json_array_size(set) > 0, ERR_INVAL,
		       "\"measurements\".%s: a hex string or a non-empty array of them", k);
		json_array_foreach (set, i, e) {
			int rc = json_is_string(e)
			             ? hex_decode_exact(buf, len, json_string_value(e), k)
			             : err_set(ERR_INVAL, "%s: not a string", k);
			if (rc < 0) {
				json_decref(set);
				return err_wrap(rc, "\"measurements\"");
			}
		}
		json_object_set_new(p->measurements, k, set);
	}
	return 0;
}

static int parse_policy(struct tdx_policy *p, json_t *j, const char *base)
{
	json_t *v, *e;
	size_t i;

	ENSURE(json_is_object(j), ERR_INVAL, "expected a JSON object");
	{
		const char *k;
		static const char *const known[] = {
		    "tcb_status",   "advisory_ids",     "allow_debug",   "require_sept_ve_disable",
		    "measurements", "min_tee_tcb_svn",  "min_qe_isvsvn", "report_data",
		    "event_logs",   "require_rtmr3_log"};
		json_object_foreach (j, k, v) {
			size_t n;
			for (n = 0; n < sizeof(known) / sizeof(known[0]); n++)
				if (strcmp(k, known[n]) == 0)
					break;
			ENSURE(n < sizeof(known) / sizeof(known[0]), ERR_INVAL,
			       "unknown member \"%s\"", k);
		}
	}
	if ((v = json_object_get(j, "tcb_status"))) {
		ENSURE(json_is_array(v), ERR_INVAL, "\"tcb_status\" must be an array");
		p->statuses = 0;
		json_array_foreach (v, i, e) {
			enum tdx_tcb_status s;
			ENSURE(json_is_string(e), ERR_INVAL, "\"tcb_status\" must hold strings");
			GUARD(tdx_tcb_status_parse(json_string_value(e), &s));
			p->statuses |= 1u << s;
		}
	}
	if ((v = json_object_get(j, "advisory_ids"))) {
		ENSURE(json_is_array(v) && json_array_size(v) <= TDX_ADVISORY_MAX, ERR_INVAL,
		       "\"advisory_ids\" must be an array of at most %d strings", TDX_ADVISORY_MAX);
		p->has_advisories = 1;
		json_array_foreach (v, i, e) {
			ENSURE(json_is_string(e) && json_string_length(e) < TDX_ADVISORY_LEN,
			       ERR_INVAL, "\"advisory_ids\" must hold short strings");
			memcpy(p->advisories.id[p->advisories.n++], json_string_value(e),
			       json_string_length(e) + 1);
		}
	}
	if ((v = json_object_get(j, "allow_debug"))) {
		ENSURE(json_is_boolean(v), ERR_INVAL, "\"allow_debug\" must be true or false");
		p->allow_debug = json_is_true(v);
	}
	if ((v = json_object_get(j, "require_sept_ve_disable"))) {
		ENSURE(json_is_boolean(v), ERR_INVAL,
		       "\"require_sept_ve_disable\" must be true or false");
		p->require_sept_ve_disable = json_is_true(v);
	}
	if ((v = json_object_get(j, "measurements")))
		GUARD(parse_measurements(p, v));
	if (json_object_get(j, "min_tee_tcb_svn")) {
		GUARD(json_get_hex(j, "min_tee_tcb_svn", p->min_svn, 16, 0));
		p->has_min_svn = 1;
	}
	if (json_object_get(j, "min_qe_isvsvn")) {
		long long svn;
		GUARD(json_get_int_range(j, "min_qe_isvsvn", 0, 65535, &svn));
		p->min_qe = (unsigned)svn;
		p->has_min_qe = 1;
	}
	if (json_object_get(j, "report_data")) {
		GUARD(json_get_hex(j, "report_data", p->report_data, 64, 0));
		p->has_report_data = 1;
	}
	if ((v = json_object_get(j, "require_rtmr3_log"))) {
		ENSURE(json_is_boolean(v), ERR_INVAL,
		       "\"require_rtmr3_log\" must be true or false");
		p->require_rtmr3_log = json_is_true(v);
	}
	if ((v = json_object_get(j, "event_logs"))) {
		ENSURE(json_is_array(v) && json_array_size(v) <= 16, ERR_INVAL,
		       "\"event_logs\" must be an array of at most 16 paths");
		p->logs = calloc(json_array_size(v) + 1, sizeof(char *));
		ENSURE(p->logs, ERR_NOMEM, "out of memory");
		json_array_foreach (v, i, e) {
			char path[PATH_MAX];
			const char *s;
			ENSURE(json_is_string(e), ERR_INVAL, "\"event_logs\" must hold paths");
			s = json_string_value(e);
			if (s[0] == '/' || !base)
				snprintf(path, sizeof(path), "%s", s);
			else
				snprintf(path, sizeof(path), "%s/%s", base, s);
			p->logs[i] = strdup(path);
			ENSURE(p->logs[i], ERR_NOMEM, "out of memory");
			p->n_logs = i + 1;
		}
	}
	return 0;
}

int tdx_policy_from_json(const char *text, size_t len, const char *base_dir,
                         struct tdx_policy **out)
{
	struct tdx_policy *p = NULL;
	json_t *j;
	int rc;

	*out = NULL;
	GUARD(policy_new(1, &p));
	rc = json_parse(text, len, "policy", &j);
	if (rc == 0) {
		rc = parse_policy(p, j, base_dir);
		json_decref(j);
	}
	if (rc < 0) {
		tdx_policy_free(p);
		return err_wrap(rc, "policy");
	}
	*out = p;
	return 0;
}

int tdx_policy_load(const char *path, struct tdx_policy **out)
{
	char dir[PATH_MAX];
	uint8_t *buf;
	size_t len;
	int rc;

	GUARD(file_read(path, 1 << 20, &buf, &len));
	snprintf(dir, sizeof(dir), "%s", path);
	rc = tdx_policy_from_json((const char *)buf, len, dirname(dir), out);
	free(buf);
	if (rc < 0)
		err_wrap(rc, "%s", path);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A JSON array of the strings, sorted, each once; NULL on ENOMEM. */
static json_t *sorted_set(const char **v, size_t n)
{
	json_t *a = json_array();
	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; a && i < n; i++)
		if ((i == 0 || strcmp(v[i], v[i - 1]) != 0) &&
		    json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

/* Each allowed value of one measurement, decoded and written back as
 * lower-case hex (the file may write 0x and either case). */
static json_t *measurement_json(const char *name, const json_t *set)
{
	size_t n = json_array_size(set), len = field_len(name), i;
	const char **v = calloc(n ? n : 1, sizeof(*v));
	char **hex = calloc(n ? n : 1, sizeof(*hex));
	json_t *out = NULL, *e;
	uint8_t buf[64];

	if (!v || !hex)
		goto out;
	json_array_foreach (set, i, e) {
		if (hex_decode_exact(buf, len, json_string_value(e), name) < 0 ||
		    !(hex[i] = hex_dup(buf, len)))
			goto out;
		v[i] = hex[i];
	}
	out = sorted_set(v, n);
out:
	for (i = 0; hex && i < n; i++)
		free(hex[i]);
	free(hex);
	free(v);
	return out;
}

json_t *tdx_policy_to_json(const struct tdx_policy *p)
{
	json_t *j = json_pack("{s:[],s:{}}", "tcb_status", "measurements"), *v;
	json_t *st = json_object_get(j, "tcb_status"), *m = json_object_get(j, "measurements");
	const char *adv[TDX_ADVISORY_MAX], *k;
	int ok = j != NULL;

	for (int s = 0; ok && s < TDX_TCB_STATUS_COUNT; s++)
		if (p->statuses & (1u << s))
			ok = json_array_append_new(
			         st, json_string(tdx_tcb_status_name((enum tdx_tcb_status)s))) == 0;
	if (ok && p->has_advisories) {
		for (size_t i = 0; i < p->advisories.n; i++)
			adv[i] = p->advisories.id[i];
		ok = json_object_set_new(j, "advisory_ids", sorted_set(adv, p->advisories.n)) == 0;
	} else if (ok) {
		ok = json_object_set_new(j, "advisory_ids", json_string("any")) == 0;
	}
	ok = ok && json_object_set_new(j, "allow_debug", json_boolean(p->allow_debug)) == 0 &&
	     json_object_set_new(j, "require_sept_ve_disable",
	                         json_boolean(p->require_sept_ve_disable)) == 0;
	json_object_foreach (p->measurements, k, v)
		ok = ok && json_object_set_new(m, k, measurement_json(k, v)) == 0;
	if (ok && p->has_min_svn)
		ok = json_set_hex(j, "min_tee_tcb_svn", p->min_svn, 16) == 0;
	if (ok && p->has_min_qe)
		ok = json_object_set_new(j, "min_qe_isvsvn", json_integer(p->min_qe)) == 0;
	if (ok && p->has_report_data)
		ok = json_set_hex(j, "report_data", p->report_data, 64) == 0;
	if (ok && p->require_rtmr3_log)
		ok = json_object_set_new(j, "require_rtmr3_log", json_true()) == 0;
	if (ok && p->n_logs) {
		ok = json_object_set_new(j, "event_logs", v = json_array()) == 0;
		for (size_t i = 0; ok && i < p->n_logs; i++)
			ok = json_array_append_new(v, json_string(p->logs[i])) == 0;
	}
	if (!ok) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Append a mismatch (printf format) to the array. */
static void miss(json_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void miss(json_t *a, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(a, json_string(buf));
}

static void check_measurements(const struct tdx_policy *p, const struct tdx_quote *q, json_t *m)
{
	const char *k;
	json_t *set;

	json_object_foreach (p->measurements, k, set) {
		struct tdx_field f;
		char *got;
		size_t i;
		json_t *e;
		int found = 0;
		if (tdx_quote_field(q, k, &f) < 0)
			continue;
		got = hex_dup(f.ptr, f.len);
		json_array_foreach (set, i, e) {
			uint8_t want[64];
			if (hex_decode_exact(want, f.len, json_string_value(e), k) == 0 &&
			    memcmp(want, f.ptr, f.len) == 0)
				found = 1;
		}
		if (!found) {
			/* expected and actual, so a mismatch can be acted on */
			char *want = json_dumps(set, JSON_COMPACT);
			if (json_array_size(set) == 1)
				miss(m, "%s %s is not the policy's value %s", k, got ? got : "?",
				     json_string_value(json_array_get(set, 0)));
			else
				miss(m, "%s %s is not in the policy's allowed set %s", k,
				     got ? got : "?", want ? want : "");
			free(want);
		}
		free(got);
	}
}

/* The logs that come with the quote (tdx_policy_check_logs). */
struct given_logs {
	const char *const *files;
	size_t n;
	const char *runtime;
	size_t runtime_len;
	int require; /* ask for RTMR3's log where the policy does */
};

static int check_logs(const struct tdx_policy *p, const struct tdx_quote *q,
                      const struct given_logs *g, json_t *m)
{
	struct tdx_rtmr_replay r;
	char want[97], got[97];

	tdx_replay_init(&r);
	for (size_t i = 0; i < p->n_logs; i++)
		GUARD(tdx_replay_file(&r, p->logs[i]));
	for (size_t i = 0; g && i < g->n; i++)
		GUARD(tdx_replay_file(&r, g->files[i]));
	if (g && g->runtime) {
		int rc = tdx_replay_jsonl(&r, g->runtime, g->runtime_len);
		if (rc < 0)
			return err_wrap(rc, "runtime log");
	}
	if (g && g->require && p->require_rtmr3_log && !(r.touched & 8))
		miss(m, "RTMR3: no event log given with the quote extends it, and the policy "
		        "requires RTMR3's log (require_rtmr3_log)");
	for (int i = 0; (i = tdx_replay_mismatch(&r, q->body.rtmr, i, want, got)) >= 0; i++)
		miss(m, "RTMR%d %s differs from the event log replay %s", i, got, want);
	return 0;
}

static int check_all(const struct tdx_policy *p, const struct tdx_quote *q,
                     const struct tdx_verdict *v, const struct given_logs *g, json_t *m)
{
	uint64_t attrs = tdx_quote_td_attributes(q);
	size_t before = json_array_size(m);

	if (!(p->statuses & (1u << v->status))) {
		char acc[256] = "";
		for (unsigned s = 0; s < 32; s++)
			if (p->statuses & (1u << s)) {
				size_t l = strlen(acc);
				snprintf(acc + l, sizeof(acc) - l, "%s%s", l ? ", " : "",
				         tdx_tcb_status_name((enum tdx_tcb_status)s));
			}
		miss(m, "TCB status %s is not accepted by the policy (accepted: %s)",
		     tdx_tcb_status_name(v->status), acc[0] ? acc : "none");
	}
	if (p->has_advisories)
		for (size_t i = 0; i < v->advisories.n; i++) {
			size_t k;
			for (k = 0; k < p->advisories.n; k++)
				if (strcmp(p->advisories.id[k], v->advisories.id[i]) == 0)
					break;
			if (k == p->advisories.n)
				miss(m, "advisory %s is not accepted by the policy",
				     v->advisories.id[i]);
		}
	if ((attrs & TDX_ATTR_DEBUG) && !p->allow_debug)
		miss(m, "TDATTRIBUTES: DEBUG is set (a debug TD can be inspected by the host)");
	if (!(attrs & TDX_ATTR_SEPT_VE_DISABLE) && p->require_sept_ve_disable)
		miss(m, "TDATTRIBUTES: SEPT_VE_DISABLE is not set");
	check_measurements(p, q, m);
	if (p->has_min_svn)
		for (int i = 0; i < 16; i++)
			if (q->body.tee_tcb_svn[i] < p->min_svn[i]) {
				miss(m, "TEE_TCB_SVN[%d] %u is below the policy's minimum %u", i,
				     q->body.tee_tcb_svn[i], p->min_svn[i]);
				break;
			}
	if (p->has_min_qe && q->qe_report.isvsvn < p->min_qe)
		miss(m, "QE ISVSVN %u is below the policy's minimum %u", q->qe_report.isvsvn,
		     p->min_qe);
	if (p->has_report_data && memcmp(q->body.report_data, p->report_data, 64) != 0) {
		char got[129], want[129];
		hex_encode(got, q->body.report_data, 64);
		hex_encode(want, p->report_data, 64);
		miss(m, "REPORTDATA %s is not the expected value %s", got, want);
	}
	GUARD(check_logs(p, q, g, m));
	if (json_array_size(m) > before)
		return err_set(ERR_VERIFY, "policy: %s",
		               json_string_value(json_array_get(m, before)));
	return 0;
}

int tdx_policy_check(const struct tdx_policy *p, const struct tdx_quote *q,
                     const struct tdx_verdict *v, json_t *m)
{
	return check_all(p, q, v, NULL, m);
}

int tdx_policy_check_logs(const struct tdx_policy *p, const struct tdx_quote *q,
                          const struct tdx_verdict *v, const char *const *logs, size_t n,
                          const char *runtime, size_t runtime_len, json_t *m)
{
	struct given_logs g = {logs, n, runtime, runtime_len, 1};
	return check_all(p, q, v, &g, m);
}

int tdx_policy_text(const json_t *pol, char **text)
{
	struct tdx_policy *check = NULL;
	char *t = json_dumps(pol, JSON_INDENT(2) | JSON_PRESERVE_ORDER), *nl;
	size_t tl;
	int rc;

	ENSURE(t, ERR_NOMEM, "out of memory");
	rc = tdx_policy_from_json(t, strlen(t), ".", &check);
	tdx_policy_free(check);
	if (rc < 0) {
		free(t);
		return rc;
	}
	tl = strlen(t);
	nl = realloc(t, tl + 2);
	if (!nl) {
		free(t);
		return err_set(ERR_NOMEM, "out of memory");
	}
	memcpy(nl + tl, "\n", 2);
	*text = nl;
	return 0;
}

/* An app made for another framework is not run in a TD. */
int tdx_policy_check_app(const char *mrenclave, const struct tdx_quote *q,
                         const struct tdx_verdict *v, int *violated)
{
	json_t *conf, *pol, *mism = NULL;
	struct tdx_policy *p = NULL;
	const char *fw;
	char *text = NULL;
	int rc = 0;

	*violated = 0;
	if (!mrenclave || !*mrenclave)
		return 0;
	conf = json_loads(mrenclave, JSON_REJECT_DUPLICATES, NULL);
	fw = json_string_value(json_object_get(conf, "framework"));
	ENSURE_GOTO(conf && fw, ERR_VERIFY, "the app's mrenclave is not an enclave configuration");
	ENSURE_GOTO(strcasecmp(fw, "TDX") == 0, ERR_VERIFY, "the app is made for %.32s, not TDX",
	            fw);
	pol = json_object_get(conf, "policy");
	if (!pol || (json_is_object(pol) && json_object_size(pol) == 0))
		goto out;
	ENSURE_GOTO(json_is_object(pol) && !json_object_get(pol, "event_logs"), ERR_VERIFY,
	            "the app's TDX policy is not a policy object without event_logs");
	text = json_dumps(pol, JSON_COMPACT);
	ENSURE_GOTO(text, ERR_NOMEM, "out of memory");
	if (tdx_policy_from_json(text, strlen(text), NULL, &p) < 0) {
		rc = err_wrap(ERR_VERIFY, "the app's TDX policy");
		goto out;
	}
	mism = json_array();
	ENSURE_GOTO(mism, ERR_NOMEM, "out of memory");
	if (tdx_policy_check(p, q, v, mism) < 0) {
		rc = err_set(ERR_VERIFY, "the app's TDX policy: %s",
		             json_array_size(mism) ? json_string_value(json_array_get(mism, 0))
		                                   : err_msg());
		*violated = 1;
	}
out:
	json_decref(mism);
	tdx_policy_free(p);
	free(text);
	json_decref(conf);
	return rc;
}

int tdx_policy_check_runtime_log(const struct tdx_policy *p, const struct tdx_quote *q,
                                 const char *runtime, size_t runtime_len)
{
	struct tdx_rtmr_replay r;
	char want[97], got[97];
	int bad;

	if (!runtime) {
		ENSURE(!p || !p->require_rtmr3_log, ERR_VERIFY,
		       "no runtime event log came with the quote, and the policy requires "
		       "RTMR3's log (require_rtmr3_log)");
		return 0;
	}
	tdx_replay_init(&r);
	if (tdx_replay_jsonl(&r, runtime, runtime_len) < 0)
		return err_wrap(ERR_VERIFY, "runtime log");
	ENSURE(r.touched & 8, ERR_VERIFY, "the runtime log does not extend RTMR3");
	bad = tdx_replay_mismatch(&r, q->body.rtmr, 0, want, got);
	ENSURE(bad < 0, ERR_VERIFY, "the runtime log replays RTMR%d to %s, the quote has %s", bad,
	       want, got);
	return 0;
}
