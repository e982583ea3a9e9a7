/* The SMS's attestation-result tokens (services/sms/ear.c) for verdicts a
 * simulated TD cannot give: each TCB status, a debug TD, a runtime log, a
 * simulated root.  Each case is a row: what the verdict says, the vector
 * and status the token must carry.  The token is checked with jws_verify
 * against the SMS's published JWK; its key must survive a reopen of the
 * store and a rotation must keep the old key published. */
#include "testutil.h"

#include "../../services/sms/internal.h"
#include "crypto/jws.h"
#include "tdx/quote.h"
#include "tdx/verify.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct row {
	const char *what;
	enum tdx_tcb_status tcb;
	int simulated, debug, runtime_log;
	int instance, configuration, executables, hardware, runtime;
	const char *status;
};

static const struct row rows[] = {
    {"up to date", TDX_TCB_UP_TO_DATE, 0, 0, 1, 2, 2, 2, 2, 2, "affirming"},
    {"no runtime log: boot chain only", TDX_TCB_UP_TO_DATE, 0, 0, 0, 2, 2, 3, 2, 2, "affirming"},
    {"SW hardening needed", TDX_TCB_SW_HARDENING_NEEDED, 0, 0, 1, 2, 2, 2, 32, 2, "warning"},
    {"configuration needed", TDX_TCB_CONFIGURATION_NEEDED, 0, 0, 1, 2, 32, 2, 2, 2, "warning"},
    {"configuration and SW hardening needed", TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED, 0, 0,
     1, 2, 32, 2, 32, 2, "warning"},
    {"out of date", TDX_TCB_OUT_OF_DATE, 0, 0, 1, 2, 2, 2, 32, 2, "warning"},
    {"out of date, configuration needed", TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED, 0, 0, 1, 2, 32,
     2, 32, 2, "warning"},
    {"a debug TD", TDX_TCB_UP_TO_DATE, 0, 1, 1, 2, 2, 2, 2, 96, "contraindicated"},
    {"a simulated TD", TDX_TCB_UP_TO_DATE, 1, 0, 1, 97, 2, 2, 97, 96, "contraindicated"},
};

static char dir[512], db[600], key[600];

static void open_sms(struct sms *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(sms_store_open(&s->store, db, key), 0);
	memset(s->policy_sha256, 'a', 64);
	assert_int_equal(sms_ear_init(s), 0);
}

static void close_sms(struct sms *s)
{
	sms_ear_free(s);
	sms_store_close(&s->store);
}

static json_t *jwks_of(const struct sms *s)
{
	json_t *jwk = json_loads(sms_ear_jwk(s), 0, NULL);
	assert_non_null(jwk);
	return json_pack("{s:[o]}", "keys", jwk);
}

static json_int_t tv(const json_t *sub, const char *k)
{
	return json_integer_value(
	    json_object_get(json_object_get(sub, "ear.trustworthiness-vector"), k));
}

static void vector_and_status_per_verdict(void **state)
{
	struct sms s;
	struct tdx_quote q;
	struct tdx_verdict v;
	uint8_t digest[32];
	json_t *jwks, *p, *sub;
	char *jwt;
	(void)state;

	open_sms(&s);
	jwks = jwks_of(&s);
	memset(digest, 0x5a, sizeof(digest));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		memset(&q, 0, sizeof(q));
		memset(&v, 0, sizeof(v));
		memset(q.body.mrtd, 0xab, 48);
		q.body.td_attributes[0] = r->debug ? 1 : 0;
		v.status = r->tcb;
		v.simulated = r->simulated;
		assert_int_equal(sms_ear_make(&s,
		                              &(struct sms_ear_in){.taskid = "0x1234",
		                                                   .worker = "0xabcd",
		                                                   .app_digest = digest,
		                                                   .q = &q,
		                                                   .v = &v,
		                                                   .runtime_log = r->runtime_log,
		                                                   .iat = 1764633600},
		                              &jwt),
		                 0);
		assert_int_equal(jws_verify(jwt, strlen(jwt), jwks, NULL, &p), 0);
		sub = json_object_get(json_object_get(p, "submods"), "tdx");
		printf("%-40s %s\n", r->what,
		       json_string_value(json_object_get(sub, "ear.status")));
		assert_string_equal(json_string_value(json_object_get(sub, "ear.status")),
		                    r->status);
		assert_int_equal(tv(sub, "instance-identity"), r->instance);
		assert_int_equal(tv(sub, "configuration"), r->configuration);
		assert_int_equal(tv(sub, "executables"), r->executables);
		assert_int_equal(tv(sub, "hardware"), r->hardware);
		assert_int_equal(tv(sub, "runtime-opaque"), r->runtime);
		assert_int_equal(json_is_true(json_object_get(sub, "tdexec_simulated")),
		                 r->simulated);
		assert_int_equal(json_is_true(json_object_get(sub, "tdx_is_debuggable")), r->debug);
		assert_string_equal(
		    json_string_value(json_object_get(sub, "tdx_mrtd")),
		    "abababababababababababababababababababababababababababababababab"
		    "abababababababababababababababab");
		assert_string_equal(
		    json_string_value(json_object_get(sub, "ear.appraisal-policy-id")),
		    "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
		assert_string_equal(
		    json_string_value(json_object_get(sub, "iexec_app_digest")),
		    "sha256:5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
		json_decref(p);
		free(jwt);
	}
	/* words that could break out of a JSON string are refused, not written */
	memset(&v, 0, sizeof(v));
	assert_int_equal(sms_ear_make(&s,
	                              &(struct sms_ear_in){.taskid = "0x12\",\"x\":\"",
	                                                   .worker = "0xabcd",
	                                                   .app_digest = digest,
	                                                   .q = &q,
	                                                   .v = &v},
	                              &jwt),
	                 ERR_INVAL);
	json_decref(jwks);
	close_sms(&s);
}

static void key_kept_and_rotated(void **state)
{
	struct sms s;
	char first[JWS_KID_LEN + 1], old_kid[44], new_kid[44];
	json_t *jwk, *set;
	(void)state;

	open_sms(&s);
	jwk = json_loads(sms_ear_jwk(&s), 0, NULL);
	snprintf(first, sizeof(first), "%s", json_string_value(json_object_get(jwk, "kid")));
	json_decref(jwk);
	close_sms(&s);
	open_sms(&s); /* the same key after a reopen */
	jwk = json_loads(sms_ear_jwk(&s), 0, NULL);
	assert_string_equal(json_string_value(json_object_get(jwk, "kid")), first);
	json_decref(jwk);
	assert_int_equal(sms_ear_rotate(&s.store, old_kid, new_kid), 0);
	assert_string_equal(old_kid, first);
	assert_string_not_equal(new_kid, first);
	close_sms(&s);
	open_sms(&s);
	jwk = json_loads(sms_ear_jwk(&s), 0, NULL);
	assert_string_equal(json_string_value(json_object_get(jwk, "kid")), new_kid);
	json_decref(jwk);
	/* the set served: the new key, then the previous */
	{
		struct http_resp resp;
		memset(&resp, 0, sizeof(resp));
		sms_h_jwks(&s, NULL, &resp);
		assert_int_equal(resp.status, 200);
		set = json_loadb(resp.body, resp.len, 0, NULL);
		assert_non_null(set);
		assert_int_equal(json_array_size(json_object_get(set, "keys")), 2);
		assert_string_equal(json_string_value(json_object_get(
		                        json_array_get(json_object_get(set, "keys"), 0), "kid")),
		                    new_kid);
		assert_string_equal(json_string_value(json_object_get(
		                        json_array_get(json_object_get(set, "keys"), 1), "kid")),
		                    first);
		json_decref(set);
		free(resp.body);
	}
	close_sms(&s);
}

static int setup(void **state)
{
	char *d = td_tmpdir();
	(void)state;
	snprintf(dir, sizeof(dir), "%s", d);
	free(d);
	snprintf(db, sizeof(db), "%s/sms.db", dir);
	snprintf(key, sizeof(key), "%s/master.key", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	td_rmtree(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(vector_and_status_per_verdict),
	    cmocka_unit_test(key_kept_and_rotated),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
