#include "tcbinfo.h"

#include "util/err.h"
#include "util/json.h"
#include "util/timefmt.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEVELS 256

static const char *const status_names[TDX_TCB_STATUS_COUNT] = {
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "Revoked",
    "TCBLevelNotSupported",
};

const char *tdx_tcb_status_name(enum tdx_tcb_status s)
{
	return (unsigned)s < TDX_TCB_STATUS_COUNT ? status_names[s] : "Unknown";
}

int tdx_tcb_status_parse(const char *s, enum tdx_tcb_status *out)
{
	for (int i = 0; i < TDX_TCB_STATUS_COUNT; i++)
		if (strcmp(s, status_names[i]) == 0) {
			*out = (enum tdx_tcb_status)i;
			return 0;
		}
	return err_set(ERR_INVAL, "unknown TCB status \"%s\"", s);
}

void tdx_advisories_merge(struct tdx_advisories *to, const struct tdx_advisories *from)
{
	for (size_t i = 0; i < from->n; i++) {
		size_t j;
		for (j = 0; j < to->n; j++)
			if (strcmp(to->id[j], from->id[i]) == 0)
				break;
		if (j == to->n && to->n < TDX_ADVISORY_MAX)
			memcpy(to->id[to->n++], from->id[i], TDX_ADVISORY_LEN);
	}
}

/* ---- typed getters: every error names the member ---- */

static int get_int(const json_t *o, const char *k, long min, long max, long *out)
{
	long long x = 0;
	int rc = json_get_int_range(o, k, min, max, &x);
	*out = (long)x;
	/* Absent is as wrong as malformed in signed collateral. */
	ENSURE(rc != ERR_NOTFOUND, ERR_INVAL, "\"%s\" missing", k);
	return rc;
}

static int get_str(const json_t *o, const char *k, const char **out)
{
	json_t *v = json_object_get(o, k);
	ENSURE(json_is_string(v), ERR_INVAL, "\"%s\" missing or not a string", k);
	*out = json_string_value(v);
	return 0;
}

static int get_time(const json_t *o, const char *k, time_t *out)
{
	const char *s = NULL;
	GUARD(get_str(o, k, &s));
	if (time_parse(s, out) < 0)
		return err_wrap(ERR_INVAL, "\"%s\"", k);
	return 0;
}

static int get_status(const json_t *o, enum tdx_tcb_status *out)
{
	const char *s = NULL;
	GUARD(get_str(o, "tcbStatus", &s));
	GUARD(tdx_tcb_status_parse(s, out));
	ENSURE(*out != TDX_TCB_NOT_SUPPORTED, ERR_INVAL, "unknown TCB status \"%s\"", s);
	return 0;
}

static int get_advisories(const json_t *o, struct tdx_advisories *adv)
{
	json_t *a = json_object_get(o, "advisoryIDs"), *v;
	size_t i;

	adv->n = 0;
	if (!a)
		return 0;
	ENSURE(json_is_array(a) && json_array_size(a) <= TDX_ADVISORY_MAX, ERR_INVAL,
	       "\"advisoryIDs\" must be an array of at most %d strings", TDX_ADVISORY_MAX);
	json_array_foreach (a, i, v) {
		ENSURE(json_is_string(v) && json_string_length(v) < TDX_ADVISORY_LEN, ERR_INVAL,
		       "\"advisoryIDs\"[%zu] must be a string under %d characters", i,
		       TDX_ADVISORY_LEN);
		memcpy(adv->id[adv->n++], json_string_value(v), json_string_length(v) + 1);
	}
	return 0;
}

static int get_level_common(const json_t *lv, enum tdx_tcb_status *st, time_t *date,
                            struct tdx_advisories *adv)
{
	GUARD(get_status(lv, st));
	GUARD(get_time(lv, "tcbDate", date));
	return get_advisories(lv, adv);
}

static int get_svn16(const json_t *tcb, const char *k, uint8_t out[16])
{
	json_t *a = json_object_get(tcb, k), *c;
	size_t i;
	long svn;

	ENSURE(json_is_array(a) && json_array_size(a) == 16, ERR_INVAL,
	       "\"%s\" must be an array of 16 components", k);
	json_array_foreach (a, i, c) {
		ENSURE(json_is_object(c), ERR_INVAL, "\"%s\"[%zu] must be an object", k, i);
		GUARD(get_int(c, "svn", 0, 255, &svn));
		out[i] = (uint8_t)svn;
	}
	return 0;
}

static int get_array(const json_t *o, const char *k, size_t min, json_t **out)
{
	json_t *a = json_object_get(o, k);
	ENSURE(json_is_array(a) && json_array_size(a) >= min && json_array_size(a) <= MAX_LEVELS,
	       ERR_INVAL, "\"%s\" must be an array of %zu to %d entries", k, min, MAX_LEVELS);
	*out = a;
	return 0;
}

static int isv_levels(const json_t *o, struct tdx_isv_level **out, size_t *n)
{
	json_t *a, *lv;
	size_t i;
	long svn;

	GUARD(get_array(o, "tcbLevels", 1, &a));
	*out = calloc(json_array_size(a), sizeof(**out));
	ENSURE(*out, ERR_NOMEM, "out of memory");
	*n = json_array_size(a);
	json_array_foreach (a, i, lv) {
		struct tdx_isv_level *l = &(*out)[i];
		ENSURE(json_is_object(lv), ERR_INVAL, "\"tcbLevels\"[%zu] must be an object", i);
		if (get_int(json_object_get(lv, "tcb"), "isvsvn", 0, 65535, &svn) < 0 ||
		    get_level_common(lv, &l->status, &l->date, &l->adv) < 0)
			return err_wrap(ERR_INVAL, "\"tcbLevels\"[%zu]", i);
		l->isvsvn = (uint16_t)svn;
	}
	return 0;
}

static int parse_module(const json_t *m, uint8_t mrsigner[48], uint8_t attr[8], uint8_t mask[8])
{
	ENSURE(json_is_object(m), ERR_INVAL, "TDX module must be an object");
	GUARD(json_get_hex(m, "mrsigner", mrsigner, 48, 0));
	GUARD(json_get_hex(m, "attributes", attr, 8, 0));
	return json_get_hex(m, "attributesMask", mask, 8, 0);
}

static int parse_tcb_info(const json_t *j, struct tdx_tcb_info *t)
{
	const char *id = NULL;
	json_t *a, *v;
	size_t i;
	long x;

	ENSURE(json_is_object(j), ERR_INVAL, "not a JSON object");
	GUARD(get_str(j, "id", &id));
	ENSURE(strcmp(id, "TDX") == 0, ERR_INVAL, "id is \"%s\", not \"TDX\" (an SGX TCB info?)",
	       id);
	GUARD(get_int(j, "version", 0, 1000, &x));
	ENSURE(x == 3, ERR_UNSUPPORTED, "version %ld unsupported (TDX TCB info is version 3)", x);
	t->version = (int)x;
	GUARD(get_time(j, "issueDate", &t->issue_date));
	GUARD(get_time(j, "nextUpdate", &t->next_update));
	GUARD(json_get_hex(j, "fmspc", t->fmspc, 6, 0));
	GUARD(json_get_hex(j, "pceId", t->pceid, 2, 0));
	GUARD(get_int(j, "tcbType", 0, 1000, &x));
	t->tcb_type = (int)x;
	GUARD(get_int(j, "tcbEvaluationDataNumber", 0, 1L << 30, &x));
	t->eval_number = (int)x;

	v = json_object_get(j, "tdxModule");
	if (v) {
		if (parse_module(v, t->module_mrsigner, t->module_attributes,
		                 t->module_attributes_mask) < 0)
			return err_wrap(ERR_INVAL, "\"tdxModule\"");
		t->has_module = 1;
	}
	if (json_object_get(j, "tdxModuleIdentities")) {
		GUARD(get_array(j, "tdxModuleIdentities", 0, &a));
		t->ids = calloc(json_array_size(a) + 1, sizeof(*t->ids));
		ENSURE(t->ids, ERR_NOMEM, "out of memory");
		json_array_foreach (a, i, v) {
			struct tdx_module_identity *m = &t->ids[i];
			const char *mid = NULL;
			t->n_ids = i + 1;
			if (get_str(v, "id", &mid) < 0 || strlen(mid) >= sizeof(m->id) ||
			    parse_module(v, m->mrsigner, m->attributes, m->attributes_mask) < 0 ||
			    isv_levels(v, &m->levels, &m->n_levels) < 0)
				return err_wrap(ERR_INVAL, "\"tdxModuleIdentities\"[%zu]", i);
			memcpy(m->id, mid, strlen(mid) + 1);
		}
	}

	GUARD(get_array(j, "tcbLevels", 1, &a));
	t->levels = calloc(json_array_size(a), sizeof(*t->levels));
	ENSURE(t->levels, ERR_NOMEM, "out of memory");
	t->n_levels = json_array_size(a);
	json_array_foreach (a, i, v) {
		struct tdx_tcb_level *l = &t->levels[i];
		json_t *tcb = json_object_get(v, "tcb");
		if (!json_is_object(tcb) || get_svn16(tcb, "sgxtcbcomponents", l->sgx) < 0 ||
		    get_svn16(tcb, "tdxtcbcomponents", l->tdx) < 0 ||
		    get_int(tcb, "pcesvn", 0, 65535, &x) < 0 ||
		    get_level_common(v, &l->status, &l->date, &l->adv) < 0)
			return err_wrap(ERR_INVAL, "\"tcbLevels\"[%zu]", i);
		l->pcesvn = (uint16_t)x;
	}
	return 0;
}

void tdx_tcb_info_free(struct tdx_tcb_info *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_ids; i++)
		free(t->ids[i].levels);
	free(t->ids);
	free(t->levels);
	free(t);
}

int tdx_tcb_info_parse(const char *text, size_t len, struct tdx_tcb_info **out)
{
	struct tdx_tcb_info *t = calloc(1, sizeof(*t));
	json_t *j;
	int rc;

	*out = NULL;
	ENSURE(t, ERR_NOMEM, "out of memory");
	rc = json_parse(text, len, "TCB info", &j);
	if (rc == 0) {
		rc = parse_tcb_info(j, t);
		json_decref(j);
		if (rc < 0)
			err_wrap(rc, "TCB info");
	}
	if (rc < 0) {
		tdx_tcb_info_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

static int parse_qe_identity(const json_t *j, struct tdx_qe_identity *q)
{
	const char *id = NULL;
	long x;

	ENSURE(json_is_object(j), ERR_INVAL, "not a JSON object");
	GUARD(get_str(j, "id", &id));
	ENSURE(strcmp(id, "TD_QE") == 0, ERR_INVAL, "id is \"%s\", not \"TD_QE\"", id);
	GUARD(get_int(j, "version", 0, 1000, &x));
	ENSURE(x == 2, ERR_UNSUPPORTED, "version %ld unsupported (QE identity is version 2)", x);
	q->version = (int)x;
	GUARD(get_time(j, "issueDate", &q->issue_date));
	GUARD(get_time(j, "nextUpdate", &q->next_update));
	GUARD(get_int(j, "tcbEvaluationDataNumber", 0, 1L << 30, &x));
	q->eval_number = (int)x;
	GUARD(json_get_hex(j, "miscselect", q->miscselect, 4, 0));
	GUARD(json_get_hex(j, "miscselectMask", q->miscselect_mask, 4, 0));
	GUARD(json_get_hex(j, "attributes", q->attributes, 16, 0));
	GUARD(json_get_hex(j, "attributesMask", q->attributes_mask, 16, 0));
	GUARD(json_get_hex(j, "mrsigner", q->mrsigner, 32, 0));
	GUARD(get_int(j, "isvprodid", 0, 65535, &x));
	q->isvprodid = (uint16_t)x;
	return isv_levels(j, &q->levels, &q->n_levels);
}

void tdx_qe_identity_free(struct tdx_qe_identity *q)
{
	if (!q)
		return;
	free(q->levels);
	free(q);
}

int tdx_qe_identity_parse(const char *text, size_t len, struct tdx_qe_identity **out)
{
	struct tdx_qe_identity *q = calloc(1, sizeof(*q));
	json_t *j;
	int rc;

	*out = NULL;
	ENSURE(q, ERR_NOMEM, "out of memory");
	rc = json_parse(text, len, "QE identity", &j);
	if (rc == 0) {
		rc = parse_qe_identity(j, q);
		json_decref(j);
		if (rc < 0)
			err_wrap(rc, "QE identity");
	}
	if (rc < 0) {
		tdx_qe_identity_free(q);
		return rc;
	}
	*out = q;
	return 0;
}
