/* The collateral store: a directory of several platforms serves each real
 * quote the collateral of its own FMSPC (the verdicts of verify.tsv, which
 * fail past FMSPC matching or pass); a platform not held is named; a plain
 * file past nextUpdate says it has no refresh source; a directory re-read
 * swaps the new set in while a reader still holds the old one, and keeps the
 * held set when what it reads is broken; readers and refreshes run at once. */
#include "testutil.h"

#include "net/server.h"
#include "tdx/collstore.h"
#include "tdx/gate.h"
#include "tdx/sim.h"
#include "tdx/verify.h"
#include "util/err.h"
#include "util/file.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

static char *tmp;

static int setup(void **state)
{
	(void)state;
	tmp = td_tmpdir();
	return tmp ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	td_rmtree(tmp);
	free(tmp);
	return 0;
}

static void copy(const char *rel, const char *to)
{
	size_t len;
	uint8_t *b = td_read(rel, &len);
	assert_int_equal(file_write(to, b, len, 0644), 0);
	free(b);
}

/* DIR/phala.json, DIR/outdated.json (dcap-qvl format) and DIR/spr-2023/ (a
 * PCS directory): three platforms. */
static void make_multi(char *dir, size_t cap)
{
	static const char *const pcs[] = {"pck_crl.der",
	                                  "pck_crl_issuer_chain.pem",
	                                  "qe_identity.json",
	                                  "qe_identity_issuer_chain.pem",
	                                  "root_ca_crl.der",
	                                  "tcb_info.json",
	                                  "tcb_info_issuer_chain.pem"};
	char p[1024], rel[256];

	snprintf(dir, cap, "%s/multi", tmp);
	snprintf(p, sizeof(p), "%s/spr-2023", dir);
	assert_int_equal(dir_create(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/phala.json", dir);
	copy("tdx/phala-dcap-qvl/tdx_quote_collateral.json", p);
	snprintf(p, sizeof(p), "%s/outdated.json", dir);
	copy("tdx/phala-dcap-qvl/tdx_quote_outdated_collateral.json", p);
	for (size_t i = 0; i < sizeof(pcs) / sizeof(pcs[0]); i++) {
		snprintf(rel, sizeof(rel), "tdx/collateral/go-tdx-guest-2023-pcs/%s", pcs[i]);
		snprintf(p, sizeof(p), "%s/spr-2023/%s", dir, pcs[i]);
		copy(rel, p);
	}
	/* Not collateral: ignored. */
	snprintf(p, sizeof(p), "%s/README", dir);
	assert_int_equal(file_write(p, "notes\n", 6, 0644), 0);
}

/* Verify a quote through the gate at `at`: the rc, the reason in v. */
static int check(struct tdx_gate *g, const char *rel, time_t at, struct tdx_verdict *v)
{
	struct tdx_quote *q = NULL;
	size_t len;
	uint8_t *raw = td_read(rel, &len);
	int rc = tdx_gate_check_at(g, raw, len, at, &q, v);
	tdx_quote_free(q);
	free(raw);
	return rc;
}

static void multi_platform_directory_selects_by_fmspc(void **state)
{
	static const uint8_t b0c06f[6] = {0xb0, 0xc0, 0x6f, 0, 0, 0};
	struct tdx_collstore *s;
	const struct tdx_held *h;
	struct tdx_gate g;
	struct tdx_verdict v;
	char dir[512];
	json_t *st;
	(void)state;

	make_multi(dir, sizeof(dir));
	assert_int_equal(tdx_gate_open(&g, dir, NULL, NULL, "test"), 0);
	/* Twice: the second time the gate knows each chain's platform from
	 * the first, and each quote must still meet its own collateral. */
	for (int pass = 0; pass < 2; pass++) {
		/* b0c06f000000: its own collateral, UpToDate (verify.tsv). */
		assert_int_equal(check(&g, "tdx/phala-dcap-qvl/tdx_quote", 1751000000, &v), 0);
		assert_int_equal(v.status, TDX_TCB_UP_TO_DATE);
		assert_int_equal(v.ca, TDX_PCK_CA_PLATFORM);
		/* 90c06f000000 and 50806f000000: past FMSPC matching, their own
		 * collateral's verdict. */
		assert_true(check(&g, "tdx/phala-dcap-qvl/tdx_quote_outdated", 1772000000, &v) < 0);
		assert_non_null(strstr(v.reason, "TCB level not supported"));
		assert_true(check(&g, "tdx/google-go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
		                  1688173200, &v) < 0);
		assert_non_null(strstr(v.reason, "TCB level not supported"));
		/* 00806f050000 is not held: named, with what is. */
		assert_true(check(&g, "tdx/google-go-tdx-guest/ccel/cos-113-tdx-quote.dat",
		                  1751000000, &v) < 0);
		assert_non_null(
		    strstr(err_msg(), "no collateral for FMSPC 00806f050000 (platform CA)"));
		assert_non_null(strstr(err_msg(), "b0c06f000000/platform"));
		assert_non_null(strstr(v.reason, "no collateral for FMSPC 00806f050000"));
	}

	st = tdx_gate_status(&g);
	assert_string_equal(json_string_value(json_object_get(st, "kind")), "directory");
	assert_int_equal(json_array_size(json_object_get(st, "platforms")), 3);
	json_decref(st);
	tdx_gate_close(&g);

	/* The CA type is part of the key: the platform CA's set is not given
	 * to a quote whose PCK certificate a processor CA issued. */
	assert_int_equal(tdx_collstore_open(dir, NULL, &s), 0);
	assert_int_equal(tdx_collstore_get(s, b0c06f, TDX_PCK_CA_PROCESSOR, 1751000000, &h),
	                 ERR_NOTFOUND);
	assert_non_null(strstr(err_msg(), "no collateral for FMSPC b0c06f000000 (processor CA)"));
	assert_int_equal(tdx_collstore_get(s, b0c06f, TDX_PCK_CA_PLATFORM, 1751000000, &h), 0);
	assert_memory_equal(h->fmspc, b0c06f, 6);
	tdx_collstore_put(s, h);
	tdx_collstore_close(s);
}

static void one_file_keeps_the_verifiers_reasons(void **state)
{
	struct tdx_gate g;
	struct tdx_verdict v;
	char path[512];
	(void)state;

	snprintf(path, sizeof(path), "%s/one.json", tmp);
	copy("tdx/phala-dcap-qvl/tdx_quote_collateral.json", path);
	assert_int_equal(tdx_gate_open(&g, path, NULL, NULL, "test"), 0);
	assert_true(check(&g, "tdx/google-go-tdx-guest/tdx_prod_quote_SPR_E4.dat", 1751000000, &v) <
	            0);
	assert_non_null(strstr(v.reason, "FMSPC of the PCK certificate (50806f000000) is not the "
	                                 "TCB info's (b0c06f000000)"));
	assert_int_equal(check(&g, "tdx/phala-dcap-qvl/tdx_quote", 1751000000, &v), 0);
	/* After its earliest nextUpdate (the PCK CRL's, 2025-07-19T10:00:35Z). */
	assert_true(check(&g, "tdx/phala-dcap-qvl/tdx_quote", 1752919236, &v) < 0);
	assert_string_equal(v.reason, "collateral for FMSPC b0c06f000000 expired at "
	                              "2025-07-19T10:00:35Z; no refresh source: give --collateral "
	                              "a PCS URL, cache or directory");
	tdx_gate_close(&g);
}

/* ---------- refresh, with a simulated TD ---------- */

struct sim_env {
	char dir[512], coll[600];
	struct tdx_verifier *ver;
};

static int sim_check(void *ctx, const struct tdx_collateral *c, time_t now)
{
	return tdx_verify_collateral(ctx, c, now, NULL);
}

static void sim_env(struct sim_env *e, time_t t0)
{
	struct tdx_sim_opts o = {t0, 30, 0};
	uint8_t *root;
	size_t len;
	char p[700];

	snprintf(e->dir, sizeof(e->dir), "%s/sim", tmp);
	snprintf(e->coll, sizeof(e->coll), "%s/collateral", e->dir);
	o.force = 1;
	assert_int_equal(tdx_sim_init(e->dir, &o), 0);
	snprintf(p, sizeof(p), "%s/root_ca.pem", e->dir);
	assert_int_equal(file_read(p, 1 << 20, &root, &len), 0);
	assert_int_equal(tdx_verifier_new_root(root, len, 1, &e->ver), 0);
	free(root);
}

static const uint8_t sim_fmspc[6] = {0x53, 0x49, 0x4d, 0, 0, 0};

/* What the store told of changes (opts.changed), to its one thread. */
static int changes;

static void count_change(void *ctx)
{
	(void)ctx;
	changes++;
}

static void directory_refresh_swaps_and_keeps_on_failure(void **state)
{
	struct tdx_collstore_opts o = {"test", sim_check, NULL, 0, count_change};
	const struct tdx_held *h1, *h2, *h3;
	struct tdx_collstore *s;
	struct sim_env e;
	struct tdx_sim_opts again = {0, 30, 0};
	time_t t0 = time(NULL), t1 = t0 + 40 * 86400;
	char p[700];
	json_t *st, *pl;
	(void)state;

	sim_env(&e, t0);
	o.check_ctx = e.ver;
	changes = 0;
	assert_int_equal(tdx_collstore_open(e.coll, &o, &s), 0);
	assert_int_equal(changes, 1); /* what it loaded */
	assert_true(tdx_collstore_refreshable(s));
	assert_int_equal(tdx_collstore_get(s, sim_fmspc, TDX_PCK_CA_PLATFORM, t0 + 60, &h1), 0);
	assert_int_equal(h1->next_update, t0 + 30 * 86400);
	/* 40 days later, the set is expired and the directory not yet renewed:
	 * the error says so and the refresh fails. */
	assert_int_equal(tdx_collstore_get(s, sim_fmspc, TDX_PCK_CA_PLATFORM, t1, &h2), ERR_VERIFY);
	assert_non_null(strstr(err_msg(), "expired at"));
	assert_non_null(strstr(err_msg(), "refreshing from"));
	assert_int_equal(tdx_collstore_refresh(s, t1, 0), 1);
	assert_int_equal(changes, 1);
	/* Renewed: the next refresh swaps it in, and says so; h1 stays
	 * readable. */
	again.now = t1 - 3600;
	assert_int_equal(tdx_sim_collateral(e.dir, &again), 0);
	assert_int_equal(tdx_collstore_refresh(s, t1, 1), 0);
	assert_int_equal(changes, 2);
	/* the same files read again: no change */
	assert_int_equal(tdx_collstore_refresh(s, t1, 1), 0);
	assert_int_equal(changes, 2);
	assert_int_equal(tdx_collstore_get(s, sim_fmspc, TDX_PCK_CA_PLATFORM, t1, &h2), 0);
	assert_ptr_not_equal(h1, h2);
	assert_int_equal(h2->next_update, t1 - 3600 + 30 * 86400);
	assert_true(h1->c->tcb_info.len > 0 && h1->next_update == t0 + 30 * 86400);
	tdx_collstore_put(s, h1);
	/* A broken file in the directory (collateral.json, read before the PCS
	 * files): the refresh fails, the held set still serves. */
	snprintf(p, sizeof(p), "%s/collateral.json", e.coll);
	assert_int_equal(file_write(p, "{\"pck_crl\":1}", 13, 0644), 0);
	assert_int_equal(tdx_collstore_refresh(s, t1 + 60, 1), 1);
	assert_int_equal(tdx_collstore_get(s, sim_fmspc, TDX_PCK_CA_PLATFORM, t1 + 60, &h3), 0);
	assert_ptr_equal(h2, h3);
	tdx_collstore_put(s, h3);
	st = tdx_collstore_status(s, t1 + 60);
	pl = json_array_get(json_object_get(st, "platforms"), 0);
	assert_string_equal(json_string_value(json_object_get(pl, "fmspc")), "53494d000000");
	assert_true(json_is_string(json_object_get(pl, "last_error")));
	assert_int_equal(json_integer_value(json_object_get(pl, "failures")), 2);
	assert_int_equal(json_integer_value(json_object_get(pl, "seconds_left")),
	                 (json_int_t)(h2->next_update - (t1 + 60)));
	json_decref(st);
	/* An older set, still valid (a replay of what the source once served):
	 * never swapped in for the newer one held. */
	assert_int_equal(unlink(p), 0);
	again.now = t1 - 7200;
	assert_int_equal(tdx_sim_collateral(e.dir, &again), 0);
	assert_int_equal(tdx_collstore_refresh(s, t1 + 120, 1), 1);
	assert_int_equal(tdx_collstore_get(s, sim_fmspc, TDX_PCK_CA_PLATFORM, t1 + 120, &h3), 0);
	assert_ptr_equal(h2, h3);
	tdx_collstore_put(s, h3);
	st = tdx_collstore_status(s, t1 + 120);
	pl = json_array_get(json_object_get(st, "platforms"), 0);
	assert_non_null(strstr(json_string_value(json_object_get(pl, "last_error")),
	                       "older than the one held"));
	json_decref(st);
	assert_int_equal(changes, 2); /* neither the broken set nor the older one */
	tdx_collstore_put(s, h2);
	tdx_collstore_close(s);
	tdx_verifier_free(e.ver);
}

/* Readers take and drop references while the set is swapped under them. */
struct reader {
	struct tdx_collstore *s;
	time_t at;
	int errors;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;
	const struct tdx_held *h;
	for (int i = 0; i < 3000; i++) {
		if (tdx_collstore_get(r->s, sim_fmspc, TDX_PCK_CA_PLATFORM, r->at, &h) < 0 ||
		    h->c->tcb_info.len == 0 || h->next_update <= r->at)
			r->errors++;
		else
			tdx_collstore_put(r->s, h);
	}
	return NULL;
}

static void swaps_under_concurrent_readers(void **state)
{
	struct tdx_collstore_opts o = {"test", NULL, NULL, 0, NULL};
	struct tdx_sim_opts again = {0, 30, 0};
	struct tdx_collstore *s;
	struct reader r[3];
	pthread_t t[3];
	struct sim_env e;
	time_t t0 = time(NULL);
	(void)state;

	sim_env(&e, t0);
	assert_int_equal(tdx_collstore_open(e.coll, &o, &s), 0);
	for (int i = 0; i < 3; i++) {
		r[i] = (struct reader){s, t0 + 3600, 0};
		assert_int_equal(pthread_create(&t[i], NULL, read_loop, &r[i]), 0);
	}
	for (int i = 0; i < 12; i++) {
		again.now = t0 + i;
		assert_int_equal(tdx_sim_collateral(e.dir, &again), 0);
		assert_int_equal(tdx_collstore_refresh(s, t0 + 60, 1), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].errors, 0);
	}
	tdx_collstore_close(s);
	tdx_verifier_free(e.ver);
}

/* A PCS that knows no platform, counting what it is asked. */
static void pcs_404(void *ctx, const struct http_req *req, struct http_resp *resp)
{
	(void)req;
	__atomic_add_fetch((int *)ctx, 1, __ATOMIC_RELAXED);
	http_resp_text(resp, 404, "unknown FMSPC\n");
}

static void quotes_of_strangers_fetch_a_bounded_number(void **state)
{
	static const struct http_route routes[] = {
	    {"GET", "/tdx/certification/v4/tcb", pcs_404, "tcb", 0},
	    {NULL, NULL, NULL, NULL, 0},
	};
	struct http_server_opts so = {0};
	struct http_server *srv;
	struct tdx_collstore *s;
	const struct tdx_held *h;
	int asked = 0;
	char url[64], xdg[600];
	uint8_t f[6] = {0xaa, 0, 0, 0, 0, 0};
	time_t now = time(NULL);
	(void)state;

	snprintf(xdg, sizeof(xdg), "%s/xdg", tmp);
	setenv("XDG_CACHE_HOME", xdg, 1);
	assert_int_equal(http_server_start(&so, routes, &asked, &srv), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(srv));
	assert_int_equal(tdx_collstore_open(url, NULL, &s), 0);
	assert_true(tdx_collstore_refreshable(s));
	/* 20 unknown platforms: only TDX_COLLSTORE_FETCHES reach the PCS. */
	for (int i = 0; i < 20; i++) {
		f[1] = (uint8_t)i;
		assert_int_equal(tdx_collstore_get(s, f, TDX_PCK_CA_PLATFORM, now, &h),
		                 ERR_NOTFOUND);
		if (i < TDX_COLLSTORE_FETCHES)
			assert_non_null(strstr(err_msg(), "HTTP 404"));
		else
			assert_non_null(strstr(err_msg(), "no fetch for it now"));
	}
	assert_int_equal(asked, TDX_COLLSTORE_FETCHES);
	/* A failed platform is not asked again before its retry time ... */
	f[1] = 0;
	assert_int_equal(tdx_collstore_get(s, f, TDX_PCK_CA_PLATFORM, now + 30, &h), ERR_NOTFOUND);
	assert_non_null(strstr(err_msg(), "fetching it failed"));
	assert_non_null(strstr(err_msg(), "next try after"));
	assert_int_equal(asked, TDX_COLLSTORE_FETCHES);
	/* ... nor by the refresh thread's work; a new window allows fetches. */
	assert_int_equal(tdx_collstore_refresh(s, now + 7200, 1), 0);
	assert_int_equal(asked, TDX_COLLSTORE_FETCHES);
	f[1] = 0x99;
	assert_int_equal(
	    tdx_collstore_get(s, f, TDX_PCK_CA_PLATFORM, now + TDX_COLLSTORE_FETCH_WINDOW, &h),
	    ERR_NOTFOUND);
	assert_int_equal(asked, TDX_COLLSTORE_FETCHES + 1);
	tdx_collstore_close(s);
	http_server_stop(srv);
	unsetenv("XDG_CACHE_HOME");
}

/* A platform not held costs a fetch only for a quote whose PCK chain is
 * signed up to the gate's anchor: a genuine Intel quote shown to a gate
 * anchored at a simulated root, or a copy whose PCK certificate was
 * altered, reaches no PCS; the genuine one at an Intel-anchored gate does. */
static void forged_pck_chains_fetch_nothing(void **state)
{
	static const struct http_route routes[] = {
	    {"GET", "/tdx/certification/v4/tcb", pcs_404, "tcb", 0},
	    {NULL, NULL, NULL, NULL, 0},
	};
	struct http_server_opts so = {0};
	struct http_server *srv;
	struct tdx_gate g;
	struct tdx_verdict v;
	struct tdx_quote *q = NULL;
	struct tdx_sim_opts o = {0, 0, 0};
	int asked = 0;
	char url[64], xdg[600], sim[600], root[700];
	size_t len;
	uint8_t *raw = td_read("tdx/phala-dcap-qvl/tdx_quote", &len), *pem;
	(void)state;

	snprintf(xdg, sizeof(xdg), "%s/xdg-forged", tmp);
	setenv("XDG_CACHE_HOME", xdg, 1);
	snprintf(sim, sizeof(sim), "%s/forged-sim", tmp);
	assert_int_equal(tdx_sim_init(sim, &o), 0);
	snprintf(root, sizeof(root), "%s/root_ca.pem", sim);
	assert_int_equal(http_server_start(&so, routes, &asked, &srv), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_server_port(srv));
	assert_int_equal(tdx_gate_open(&g, url, root, NULL, "test"), 0);
	assert_true(tdx_gate_check_at(&g, raw, len, 1751000000, &q, &v) < 0);
	tdx_quote_free(q);
	assert_non_null(strstr(v.reason, "root is not the trusted simulated root CA"));
	assert_int_equal(asked, 0);
	tdx_gate_close(&g);
	/* Intel's anchor: the genuine chain passes the check and is fetched
	 * (404 here); the leaf with one byte of its signature changed is not. */
	assert_int_equal(tdx_gate_open(&g, url, NULL, NULL, "test"), 0);
	assert_true(tdx_gate_check_at(&g, raw, len, 1751000000, &q, &v) < 0);
	tdx_quote_free(q);
	assert_int_equal(asked, 1);
	pem = (uint8_t *)memmem(raw, len, "-----BEGIN CERTIFICATE-----", 27);
	assert_non_null(pem);
	pem = (uint8_t *)memmem(pem, len - (size_t)(pem - raw), "-----END CERTIFICATE-----", 25);
	assert_non_null(pem);
	/* the last base64 characters before the END line belong to the
	 * leaf's signature */
	pem[-6] = pem[-6] == 'A' ? 'B' : 'A';
	assert_true(tdx_gate_check_at(&g, raw, len, 1751000000, &q, &v) < 0);
	tdx_quote_free(q);
	assert_int_equal(asked, 1);
	tdx_gate_close(&g);
	http_server_stop(srv);
	unsetenv("XDG_CACHE_HOME");
	free(raw);
}

static void bad_sources_are_errors(void **state)
{
	struct tdx_collstore *s;
	char p[600];
	(void)state;

	assert_true(tdx_collstore_open("/nonexistent/collateral", NULL, &s) < 0);
	assert_non_null(strstr(err_msg(), "/nonexistent/collateral"));
	snprintf(p, sizeof(p), "%s/empty", tmp);
	assert_int_equal(dir_create(p, 0755), 0);
	assert_true(tdx_collstore_open(p, NULL, &s) < 0);
	assert_non_null(strstr(err_msg(), "no collateral in it"));
	snprintf(p, sizeof(p), "%s/empty/broken.json", tmp);
	assert_int_equal(file_write(p, "{\"pck_crl\":1}", 13, 0644), 0);
	snprintf(p, sizeof(p), "%s/empty", tmp);
	assert_true(tdx_collstore_open(p, NULL, &s) < 0);
	assert_non_null(strstr(err_msg(), "broken.json"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(multi_platform_directory_selects_by_fmspc),
	    cmocka_unit_test(one_file_keeps_the_verifiers_reasons),
	    cmocka_unit_test(directory_refresh_swaps_and_keeps_on_failure),
	    cmocka_unit_test(swaps_under_concurrent_readers),
	    cmocka_unit_test(quotes_of_strangers_fetch_a_bounded_number),
	    cmocka_unit_test(forged_pck_chains_fetch_nothing),
	    cmocka_unit_test(bad_sources_are_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
