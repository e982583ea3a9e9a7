#include "quote_show.h"

#include "tdx/pck.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/json.h"
#include "util/timefmt.h"

#include <openssl/x509.h>
#include <string.h>
#include <time.h>

static void put_hex(json_t *o, const char *k, const uint8_t *p, size_t n)
{
	/* The view is built best effort, as with the json_object_set_new()
	 * calls around it: out of memory, a field is left out. */
	IGNORE_STATUS(json_set_hex(o, k, p, n));
}

static json_t *header_json(const struct tdx_quote *q)
{
	const struct tdx_header *h = &q->header;
	json_t *o = json_object();
	char tee[16];

	if (!o)
		return NULL;
	snprintf(tee, sizeof(tee), "0x%02x", h->tee_type);
	json_object_set_new(o, "version", json_integer(h->version));
	json_object_set_new(o, "attestation_key_type", json_integer(h->att_key_type));
	json_object_set_new(o, "tee_type", json_string(tee));
	json_object_set_new(o, "reserved1", json_integer(h->reserved1));
	json_object_set_new(o, "reserved2", json_integer(h->reserved2));
	put_hex(o, "qe_vendor_id", h->qe_vendor_id, 16);
	put_hex(o, "user_data", h->user_data, 20);
	return o;
}

static json_t *body_json(const struct tdx_quote *q)
{
	json_t *o = json_object(), *attrs;
	uint64_t a = tdx_quote_td_attributes(q);
	struct tdx_field f;
	char flags[160];

	if (!o)
		return NULL;
	json_object_set_new(o, "body_type", json_integer(q->body_type));
	json_object_set_new(
	    o, "body_name",
	    json_string(q->body_type == TDX_BODY_TD15 ? "TD report 1.5" : "TD report 1.0"));
	for (size_t i = 0; tdx_quote_field_at(q, i, &f); i++)
		put_hex(o, f.name, f.ptr, f.len);
	tdx_td_attributes_str(a, flags, sizeof(flags));
	attrs = json_pack("{s:s,s:b,s:b}", "flags", flags, "debug", (a & TDX_ATTR_DEBUG) != 0,
	                  "sept_ve_disable", (a & TDX_ATTR_SEPT_VE_DISABLE) != 0);
	json_object_set_new(o, "TDATTRIBUTES_decoded", attrs);
	return o;
}

static json_t *qe_json(const struct tdx_quote *q)
{
	const struct sgx_report_body *r = &q->qe_report;
	json_t *o = json_object();
	char misc[16];

	if (!o)
		return NULL;
	snprintf(misc, sizeof(misc), "%08x", r->miscselect);
	put_hex(o, "CPUSVN", r->cpusvn, 16);
	json_object_set_new(o, "MISCSELECT", json_string(misc));
	put_hex(o, "ATTRIBUTES", r->attributes, 16);
	put_hex(o, "MRENCLAVE", r->mrenclave, 32);
	put_hex(o, "MRSIGNER", r->mrsigner, 32);
	json_object_set_new(o, "ISVPRODID", json_integer(r->isvprodid));
	json_object_set_new(o, "ISVSVN", json_integer(r->isvsvn));
	put_hex(o, "REPORTDATA", r->report_data, 64);
	return o;
}

static void time_field(json_t *o, const char *k, const ASN1_TIME *t)
{
	struct tm tm;
	char buf[32];
	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return;
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(o, k, json_string(buf));
}

static json_t *pck_json(const struct tdx_quote *q, int *rc)
{
	STACK_OF(X509) *chain = NULL;
	struct tdx_pck_ext e;
	json_t *o = json_object(), *comps;
	char name[256];
	X509 *leaf = NULL;

	if (!o)
		return NULL;
	*rc = tdx_pck_chain_parse(q->pck_chain, q->pck_chain_len, &chain);
	if (*rc == 0) {
		leaf = sk_X509_value(chain, 0);
		*rc = tdx_pck_ext_from_cert(leaf, &e);
	}
	if (*rc < 0) {
		json_object_set_new(o, "error", json_string(err_msg()));
		sk_X509_pop_free(chain, X509_free);
		return o;
	}
	json_object_set_new(o, "chain_length", json_integer(sk_X509_num(chain)));
	json_object_set_new(o, "ca", json_string(tdx_pck_ca_name(tdx_pck_ca_type(leaf))));
	X509_NAME_oneline(X509_get_subject_name(leaf), name, sizeof(name));
	json_object_set_new(o, "subject", json_string(name));
	X509_NAME_oneline(X509_get_issuer_name(leaf), name, sizeof(name));
	json_object_set_new(o, "issuer", json_string(name));
	time_field(o, "not_before", X509_get0_notBefore(leaf));
	time_field(o, "not_after", X509_get0_notAfter(leaf));
	put_hex(o, "FMSPC", e.fmspc, 6);
	put_hex(o, "PCE_ID", e.pceid, 2);
	json_object_set_new(o, "PCESVN", json_integer(e.pcesvn));
	put_hex(o, "CPUSVN", e.cpusvn, 16);
	comps = json_array();
	for (int i = 0; comps && i < 16; i++)
		json_array_append_new(comps, json_integer(e.comp_svn[i]));
	json_object_set_new(o, "TCB_COMPONENTS", comps);
	put_hex(o, "PPID", e.ppid, 16);
	json_object_set_new(o, "SGX_TYPE", json_integer(e.sgx_type));
	sk_X509_pop_free(chain, X509_free);
	return o;
}

json_t *tdx_quote_to_json(const struct tdx_quote *q, int *pck_rc)
{
	json_t *o = json_object(), *sig = json_object();
	int dummy;

	if (!pck_rc)
		pck_rc = &dummy;
	*pck_rc = 0;
	if (!o || !sig) {
		json_decref(o);
		json_decref(sig);
		err_set(ERR_NOMEM, "out of memory");
		return NULL;
	}
	json_object_set_new(o, "header", header_json(q));
	json_object_set_new(o, "td_report", body_json(q));
	put_hex(sig, "signature", q->signature, 64);
	put_hex(sig, "attestation_key", q->att_key, 64);
	json_object_set_new(sig, "certification_data_type", json_integer(q->cert_type));
	json_object_set_new(sig, "qe_report", qe_json(q));
	put_hex(sig, "qe_report_signature", q->qe_report_sig, 64);
	put_hex(sig, "qe_auth_data", q->qe_auth_data, q->qe_auth_len);
	json_object_set_new(sig, "pck_certification_data_type", json_integer(q->pck_cert_type));
	json_object_set_new(sig, "pck_chain_bytes", json_integer((json_int_t)q->pck_chain_len));
	json_object_set_new(o, "signature_data", sig);
	json_object_set_new(o, "pck", pck_json(q, pck_rc));
	json_object_set_new(o, "trailing_bytes", json_integer((json_int_t)q->trailing_len));
	return o;
}

json_t *tdx_verdict_to_json(const struct tdx_quote *q, const struct tdx_verdict *v, int verified,
                            const json_t *mismatches, time_t at)
{
	json_t *o = json_object(), *adv = json_array(), *col;
	char t[32];

	if (!o || !adv) {
		json_decref(o);
		json_decref(adv);
		return NULL;
	}
	json_object_set_new(o, "verified", json_boolean(verified));
	/* A policy is evaluated only on a verified quote: no policy_ok
	 * otherwise, rather than a false that reads as a mismatch. */
	if (verified)
		json_object_set_new(o, "policy_ok",
		                    json_boolean(!mismatches || json_array_size(mismatches) == 0));
	json_object_set_new(o, "simulated", json_boolean(v->simulated));
	if (v->reason[0])
		json_object_set_new(o, "reason", json_string(v->reason));
	if (mismatches && verified)
		json_object_set(o, "policy_mismatches", (json_t *)mismatches);
	time_format(at, t);
	json_object_set_new(o, "verified_at", json_string(t));
	json_object_set_new(o, "attester_type", json_string("TDX"));
	if (verified || v->status != TDX_TCB_NOT_SUPPORTED)
		json_object_set_new(o, "attester_tcb_status",
		                    json_string(tdx_tcb_status_name(v->status)));
	for (size_t i = 0; i < v->advisories.n; i++)
		json_array_append_new(adv, json_string(v->advisories.id[i]));
	json_object_set_new(o, "attester_advisory_ids", adv);
	if (v->tcb_date) {
		time_format(v->tcb_date, t);
		json_object_set_new(o, "attester_tcb_date", json_string(t));
	}
	if (verified) {
		json_object_set_new(o, "tdx_tcb_status_platform",
		                    json_string(tdx_tcb_status_name(v->platform)));
		json_object_set_new(o, "tdx_tcb_status_module",
		                    json_string(tdx_tcb_status_name(v->module)));
		json_object_set_new(o, "tdx_tcb_status_qe",
		                    json_string(tdx_tcb_status_name(v->qe)));
	}
	if (q) {
		uint64_t a = tdx_quote_td_attributes(q);
		struct tdx_field f;
		for (size_t i = 0; tdx_quote_field_at(q, i, &f); i++)
			put_hex(o, f.claim, f.ptr, f.len);
		json_object_set_new(o, "tdx_td_attributes_debug", json_boolean(a & TDX_ATTR_DEBUG));
		json_object_set_new(o, "tdx_td_attributes_septve_disable",
		                    json_boolean(a & TDX_ATTR_SEPT_VE_DISABLE));
		json_object_set_new(o, "tdx_td_attributes_protection_keys",
		                    json_boolean(a & TDX_ATTR_PKS));
		json_object_set_new(o, "tdx_td_attributes_key_locker",
		                    json_boolean(a & TDX_ATTR_KL));
		json_object_set_new(o, "tdx_td_attributes_perfmon",
		                    json_boolean(a & TDX_ATTR_PERFMON));
		json_object_set_new(o, "tdx_is_debuggable", json_boolean(a & TDX_ATTR_DEBUG));
	}
	if (v->pck.pcesvn || v->pck.fmspc[0] || v->pck.fmspc[1] || v->pck.fmspc[2]) {
		col = json_object();
		put_hex(col, "fmspc", v->pck.fmspc, 6);
		put_hex(col, "pce_id", v->pck.pceid, 2);
		json_object_set_new(col, "pcesvn", json_integer(v->pck.pcesvn));
		json_object_set_new(col, "pck_ca", json_string(tdx_pck_ca_name(v->ca)));
		json_object_set_new(col, "tcb_eval_num", json_integer(v->tcb_eval_number));
		if (v->collateral_expiry) {
			time_format(v->collateral_expiry, t);
			json_object_set_new(col, "valid_until", json_string(t));
		}
		json_object_set_new(o, "tdx_collateral", col);
	}
	return o;
}
