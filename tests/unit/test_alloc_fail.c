/* Allocation failure injection for the parsers of untrusted bytes.
 *
 * Every allocation made on the parsers' behalf is counted: our own code's
 * malloc, calloc, realloc, strdup and strndup (the link wraps them:
 * -Wl,--wrap, tests/CMakeLists.txt), OpenSSL's (CRYPTO_set_mem_functions)
 * and jansson's (lib/util/json.c gives jansson an allocator calling
 * malloc).  A case runs once to warm up OpenSSL's lazy initialization, then for N = 1, 2, ... with the N-th
 * allocation failing, until a run makes fewer than N allocations and so
 * ran with none failing.  A run with a failure must either return an error
 * with a message and no output, or (when a library recovered, as OpenSSL
 * does when it cannot cache a fetched algorithm) return exactly the result
 * of a run without failures: never a partial one.  Results are compared by
 * a fingerprint (SHA-256 of what the parser produced).  Nothing may crash,
 * and under the sanitizer build LeakSanitizer checks that the error paths
 * free what they took.
 *
 * Not counted: allocations inside libc (fopen's buffer) and inside other
 * shared libraries (libarchive, zlib), which call malloc directly. */
#include "testutil.h"

#include "eth/abi.h"
#include "eth/rlp.h"
#include "eth/tx.h"
#include "tdx/collateral.h"
#include "tdx/eventlog.h"
#include "tdx/pck.h"
#include "tdx/quote.h"
#include "tdx/tcbinfo.h"
#include "tdx/x509lite.h"
#include "util/bytes.h"
#include "crypto/p256.h"
#include "util/err.h"
#include "util/file.h"
#include "util/zip.h"
#include "../services/worker/result.h"

#include <execinfo.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------- the counting allocator ---------- */

static long n_allocs; /* allocations since the run began */
static long fail_at;  /* the allocation to fail (1-based); 0: none */
static int trace;     /* print the stack of the failed allocation */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

/* 1 when this allocation is the one to fail. */
static int fail_now(void)
{
	if (!fail_at || ++n_allocs != fail_at)
		return 0;
	if (trace) {
		void *pc[32];
		backtrace_symbols_fd(pc, backtrace(pc, 32), 2);
	}
	return 1;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
	return fail_now() ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

void __wrap_free(void *p)
{
	__real_free(p);
}

char *__wrap_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = __wrap_malloc(n);
	return d ? memcpy(d, s, n) : NULL;
}

char *__wrap_strndup(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *d = __wrap_malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return __wrap_malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return __wrap_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	__real_free(p);
}

/* ---------- the driver ---------- */

/* One parse: 0 with the fingerprint of its output in fp (the output
 * freed), or the parser's error with its output checked to be empty.  A
 * run calls done() once the parser returned: allocations made to check
 * and fingerprint the output are not counted, and none of them fails. */
typedef int (*run_fn)(const void *arg, uint8_t fp[32]);

static void done(void)
{
	fail_at = 0;
}

/* A fingerprint: SHA-256 over length-prefixed parts. */
struct fp {
	struct wbuf w;
};

static void fp_begin(struct fp *f)
{
	wbuf_init(&f->w);
}

static void fp_add(struct fp *f, const void *p, size_t n)
{
	uint64_t len = n;
	assert_int_equal(wbuf_put(&f->w, &len, sizeof(len)), 0);
	assert_int_equal(wbuf_put(&f->w, p, n), 0);
}

static void fp_end(struct fp *f, uint8_t out[32])
{
	assert_int_equal(sha256(f->w.buf, f->w.len, out), 0);
	wbuf_free(&f->w);
}

/* The fingerprint of one buffer. */
static void fp_of(const void *p, size_t n, uint8_t out[32])
{
	struct fp f;
	fp_begin(&f);
	fp_add(&f, p, n);
	fp_end(&f, out);
}

struct input {
	const char *path; /* under TEST_DATA */
	uint8_t *buf;
	size_t len;
};

static void drive(const char *what, run_fn run, const void *arg)
{
	uint8_t ref[32], fp[32];
	long n, allocs = 0, recovered = 0;
	struct timespec t0, t1;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	err_clear();
	fail_at = 0;
	rc = run(arg, ref); /* also warms up OpenSSL's one-time initialization */
	if (rc < 0)
		fail_msg("%s: fails without injection: %s", what, err_msg());
	for (n = 1;; n++) {
		err_clear();
		memset(fp, 0, sizeof(fp));
		n_allocs = 0;
		fail_at = n;
		rc = run(arg, fp);
		fail_at = 0;
		allocs = n_allocs;
		if (allocs < n)
			break; /* no allocation failed in this run */
		if (rc < 0) {
			if (!err_msg()[0])
				fail_msg("%s: allocation %ld failed without a message", what, n);
			continue;
		}
		if (memcmp(fp, ref, 32) == 0) {
			recovered++;
			continue;
		}
		fprintf(stderr, "%s: allocation %ld failed here:\n", what, n);
		n_allocs = 0;
		fail_at = n;
		trace = 1;
		rc = run(arg, fp);
		trace = 0;
		fail_at = 0;
		fail_msg("%s: a partial result although allocation %ld failed", what, n);
	}
	if (rc < 0 || memcmp(fp, ref, 32) != 0)
		fail_msg("%s: with every allocation granted: %s", what,
		         rc < 0 ? err_msg() : "another result");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %s: %ld allocations, each failed once (%ld recovered from), %.1f s\n", what,
	       n - 1, recovered,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

static struct input *load(struct input *in)
{
	if (!in->buf)
		in->buf = td_read(in->path, &in->len);
	return in;
}

/* ---------- the cases ---------- */

static const char *const quotes[] = {
    "tdx/phala-dcap-qvl/tdx_quote",
    "tdx/phala-dcap-qvl/tdx_quote_outdated",
    "tdx/google-go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
    "tdx/google-go-tdx-guest/quote_v5_sample.dat",
    "tdx/google-go-tdx-guest/ccel/cos-113-tdx-quote.dat",
};

static int run_quote(const void *arg, uint8_t fp[32])
{
	const struct input *in = arg;
	struct tdx_quote *q = (struct tdx_quote *)1;
	uint8_t *ser;
	size_t len;
	int rc = tdx_quote_parse(in->buf, in->len, &q);
	done();
	if (rc < 0) {
		assert_true(q == NULL || (void *)q == (void *)1); /* none, or untouched */
		return rc;
	}
	assert_int_equal(tdx_quote_serialize(q, 1, &ser, &len), 0);
	fp_of(ser, len, fp);
	free(ser);
	tdx_quote_free(q);
	return 0;
}

static void quote_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(quotes) / sizeof(quotes[0]); i++) {
		struct input in = {quotes[i], NULL, 0};
		drive(quotes[i], run_quote, load(&in));
		free(in.buf);
	}
}

static void fp_pck_ext(struct fp *f, const struct tdx_pck_ext *e)
{
	fp_add(f, e->ppid, 16);
	fp_add(f, e->comp_svn, 16);
	fp_add(f, &e->pcesvn, sizeof(e->pcesvn));
	fp_add(f, e->cpusvn, 16);
	fp_add(f, e->pceid, 2);
	fp_add(f, e->fmspc, 6);
}

/* The PCK chain each quote carries: OpenSSL's PEM reader, then our SGX
 * extension reader over the leaf. */
static int run_pck_chain(const void *arg, uint8_t fp[32])
{
	const struct tdx_quote *q = arg;
	STACK_OF(X509) *chain = (STACK_OF(X509) *)1;
	struct tdx_pck_ext ext;
	struct fp f;
	int rc = tdx_pck_chain_parse(q->pck_chain, q->pck_chain_len, &chain);
	if (rc < 0) {
		done();
		assert_true(chain == NULL || (void *)chain == (void *)1); /* none, or untouched */
		return rc;
	}
	rc = tdx_pck_ext_from_cert(sk_X509_value(chain, 0), &ext);
	done();
	if (rc == 0) {
		fp_begin(&f);
		for (int i = 0; i < sk_X509_num(chain); i++) {
			uint8_t *der = NULL;
			int n = i2d_X509(sk_X509_value(chain, i), &der);
			assert_true(n > 0);
			fp_add(&f, der, (size_t)n);
			OPENSSL_free(der);
		}
		fp_pck_ext(&f, &ext);
		fp_end(&f, fp);
	}
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

static int run_pck_ext(const void *arg, uint8_t fp[32])
{
	const struct input *in = arg;
	struct tdx_pck_ext ext;
	struct fp f;
	int rc = tdx_pck_ext_parse(in->buf, in->len, &ext);
	done();
	if (rc == 0) {
		fp_begin(&f);
		fp_pck_ext(&f, &ext);
		fp_end(&f, fp);
	}
	return rc;
}

static void fp_span(struct fp *f, struct der_span s)
{
	fp_add(f, s.p, s.len);
}

/* x509lite reads certificates and CRLs in place (spans into the input):
 * the loop shows it allocates nothing. */
static int run_x509lite(const void *arg, uint8_t fp[32])
{
	const struct input *in = arg;
	struct x509_lite x;
	struct crl_lite c;
	struct fp f;
	int rc;
	if (strstr(in->path, "crl")) {
		rc = crl_lite_parse(in->buf, in->len, "crl", &c);
		done();
		if (rc == 0) {
			fp_begin(&f);
			fp_span(&f, c.tbs);
			fp_span(&f, c.issuer);
			fp_span(&f, c.revoked);
			fp_end(&f, fp);
		}
		return rc;
	}
	rc = x509_lite_parse(in->buf, in->len, "cert", &x);
	done();
	if (rc == 0) {
		fp_begin(&f);
		fp_span(&f, x.tbs);
		fp_span(&f, x.serial);
		fp_span(&f, x.issuer);
		fp_span(&f, x.subject);
		fp_span(&f, x.sgx_ext);
		fp_end(&f, fp);
	}
	return rc;
}

static void pck_readers(void **state)
{
	static const char *const ders[] = {"tdx/google-go-tdx-guest/rootcrl.der",
	                                   "tdx/collateral/go-tdx-guest-2023-pcs/pck_crl.der",
	                                   "tdx/collateral/go-tdx-guest-2023-pcs/root_ca_crl.der"};
	(void)state;
	for (size_t i = 0; i < sizeof(quotes) / sizeof(quotes[0]); i++) {
		struct input in = {quotes[i], NULL, 0};
		struct tdx_quote *q;
		STACK_OF(X509) * chain;
		char what[256];
		load(&in);
		assert_int_equal(tdx_quote_parse(in.buf, in.len, &q), 0);
		/* OpenSSL's PEM reader makes some 3,800 allocations a chain: two
		 * chains (Intel's and another issuer's quotes) keep this quick */
		snprintf(what, sizeof(what), "PCK chain of %s", quotes[i]);
		if (i == 0 || i == 2)
			drive(what, run_pck_chain, q);
		/* each certificate of the chain through x509lite */
		assert_int_equal(tdx_pck_chain_parse(q->pck_chain, q->pck_chain_len, &chain), 0);
		for (int k = 0; k < sk_X509_num(chain); k++) {
			struct input der = {"cert", NULL, 0};
			int n = i2d_X509(sk_X509_value(chain, k), &der.buf);
			assert_true(n > 0);
			der.len = (size_t)n;
			snprintf(what, sizeof(what), "x509lite: certificate %d of %s", k,
			         quotes[i]);
			drive(what, run_x509lite, &der);
			OPENSSL_free(der.buf);
		}
		sk_X509_pop_free(chain, X509_free);
		tdx_quote_free(q);
		free(in.buf);
	}
	for (size_t i = 0; i < sizeof(ders) / sizeof(ders[0]); i++) {
		struct input in = {ders[i], NULL, 0};
		drive(ders[i], run_x509lite, load(&in));
		free(in.buf);
	}
}

static void pck_extension(void **state)
{
	/* the SGX extension of each quote's PCK leaf, as DER */
	(void)state;
	for (size_t i = 0; i < sizeof(quotes) / sizeof(quotes[0]); i++) {
		struct input in = {quotes[i], NULL, 0};
		struct tdx_quote *q;
		STACK_OF(X509) * chain;
		X509 *leaf;
		int found = 0;

		load(&in);
		assert_int_equal(tdx_quote_parse(in.buf, in.len, &q), 0);
		assert_int_equal(tdx_pck_chain_parse(q->pck_chain, q->pck_chain_len, &chain), 0);
		leaf = sk_X509_value(chain, 0);
		for (int k = 0; k < X509_get_ext_count(leaf); k++) {
			X509_EXTENSION *e = X509_get_ext(leaf, k);
			char txt[64], what[256];
			OBJ_obj2txt(txt, sizeof(txt), X509_EXTENSION_get_object(e), 1);
			if (strcmp(txt, "1.2.840.113741.1.13.1") == 0) {
				const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(e);
				struct input ext = {"SGX extension", (uint8_t *)os->data,
				                    (size_t)os->length};
				snprintf(what, sizeof(what), "SGX extension of the PCK leaf of %s",
				         quotes[i]);
				drive(what, run_pck_ext, &ext);
				found = 1;
			}
		}
		assert_true(found);
		sk_X509_pop_free(chain, X509_free);
		tdx_quote_free(q);
		free(in.buf);
	}
}

static int run_collateral(const void *arg, uint8_t fp[32])
{
	const struct input *in = arg;
	struct tdx_collateral *c = (struct tdx_collateral *)1;
	int rc = tdx_collateral_from_json((const char *)in->buf, in->len, &c);
	done();
	if (rc < 0) {
		assert_true(c == NULL || (void *)c == (void *)1); /* none, or untouched */
		return rc;
	}
	assert_int_equal(tdx_collateral_hash(c, fp), 0);
	tdx_collateral_free(c);
	return 0;
}

static void fp_isv_levels(struct fp *f, const struct tdx_isv_level *l, size_t n)
{
	fp_add(f, &n, sizeof(n));
	for (size_t i = 0; i < n; i++) {
		fp_add(f, &l[i].isvsvn, sizeof(l[i].isvsvn));
		fp_add(f, &l[i].status, sizeof(l[i].status));
		fp_add(f, &l[i].date, sizeof(l[i].date));
		for (size_t k = 0; k < l[i].adv.n; k++)
			fp_add(f, l[i].adv.id[k], strlen(l[i].adv.id[k]));
	}
}

static int run_tcb_info(const void *arg, uint8_t fp[32])
{
	const struct input *in = arg;
	struct tdx_tcb_info *t = (struct tdx_tcb_info *)1;
	struct fp f;
	int rc = tdx_tcb_info_parse((const char *)in->buf, in->len, &t);
	done();
	if (rc < 0) {
		assert_true(t == NULL || (void *)t == (void *)1); /* none, or untouched */
		return rc;
	}
	fp_begin(&f);
	fp_add(&f, t->fmspc, 6);
	fp_add(&f, &t->next_update, sizeof(t->next_update));
	fp_add(&f, &t->eval_number, sizeof(t->eval_number));
	fp_add(&f, t->module_mrsigner, 48);
	for (size_t i = 0; i < t->n_ids; i++) {
		fp_add(&f, t->ids[i].id, strlen(t->ids[i].id));
		fp_add(&f, t->ids[i].mrsigner, 48);
		fp_isv_levels(&f, t->ids[i].levels, t->ids[i].n_levels);
	}
	for (size_t i = 0; i < t->n_levels; i++) {
		const struct tdx_tcb_level *l = &t->levels[i];
		fp_add(&f, l->sgx, 16);
		fp_add(&f, &l->pcesvn, sizeof(l->pcesvn));
		fp_add(&f, l->tdx, 16);
		fp_add(&f, &l->status, sizeof(l->status));
		fp_add(&f, &l->date, sizeof(l->date));
		for (size_t k = 0; k < l->adv.n; k++)
			fp_add(&f, l->adv.id[k], strlen(l->adv.id[k]));
	}
	fp_end(&f, fp);
	tdx_tcb_info_free(t);
	return 0;
}

static int run_qe_identity(const void *arg, uint8_t fp[32])
{
	const struct input *in = arg;
	struct tdx_qe_identity *q = (struct tdx_qe_identity *)1;
	struct fp f;
	int rc = tdx_qe_identity_parse((const char *)in->buf, in->len, &q);
	done();
	if (rc < 0) {
		assert_true(q == NULL || (void *)q == (void *)1); /* none, or untouched */
		return rc;
	}
	fp_begin(&f);
	fp_add(&f, q->mrsigner, 32);
	fp_add(&f, &q->isvprodid, sizeof(q->isvprodid));
	fp_add(&f, &q->next_update, sizeof(q->next_update));
	fp_isv_levels(&f, q->levels, q->n_levels);
	fp_end(&f, fp);
	tdx_qe_identity_free(q);
	return 0;
}

static void collateral_load(void **state)
{
	static const char *const files[] = {
	    "tdx/phala-dcap-qvl/tdx_quote_collateral.json",
	    "tdx/phala-dcap-qvl/tdx_quote_outdated_collateral.json",
	    "tdx/google-go-tdx-guest/derived_collateral_2023_fmspc50806f_phala_format.json"};
	struct input tcb = {"tdx/collateral/go-tdx-guest-2023-pcs/tcb_info.json", NULL, 0};
	struct input qe = {"tdx/collateral/go-tdx-guest-2023-pcs/qe_identity.json", NULL, 0};
	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct input in = {files[i], NULL, 0};
		drive(files[i], run_collateral, load(&in));
		free(in.buf);
	}
	struct input tcb_obj = {tcb.path, NULL, 0}, qe_obj = {qe.path, NULL, 0};
	const char *obj;
	uint8_t sig[64];
	/* PCS bodies: the signed object is what the parsers read */
	load(&tcb);
	assert_int_equal(
	    tdx_pcs_body_split((const char *)tcb.buf, tcb.len, "tcbInfo", &obj, &tcb_obj.len, sig),
	    0);
	tcb_obj.buf = (uint8_t *)obj;
	drive(tcb.path, run_tcb_info, &tcb_obj);
	load(&qe);
	assert_int_equal(tdx_pcs_body_split((const char *)qe.buf, qe.len, "enclaveIdentity", &obj,
	                                    &qe_obj.len, sig),
	                 0);
	qe_obj.buf = (uint8_t *)obj;
	drive(qe.path, run_qe_identity, &qe_obj);
	free(tcb.buf);
	free(qe.buf);
}

static int run_ccel(const void *arg, uint8_t fp[32])
{
	const struct input *in = arg;
	struct tdx_rtmr_replay r;
	int rc;
	tdx_replay_init(&r);
	rc = tdx_replay_ccel(&r, in->buf, in->len);
	done();
	if (rc == 0)
		fp_of(&r, sizeof(r), fp);
	return rc;
}

static int run_jsonl(const void *arg, uint8_t fp[32])
{
	const char *text = arg;
	struct tdx_rtmr_replay r;
	int rc;
	tdx_replay_init(&r);
	rc = tdx_replay_jsonl(&r, text, strlen(text));
	done();
	if (rc == 0)
		fp_of(&r, sizeof(r), fp);
	return rc;
}

static void eventlog(void **state)
{
	struct input ccel = {"tdx/google-go-tdx-guest/ccel/ccel_data.dat", NULL, 0};
	/* a runtime log as the worker writes it: one extension per task */
	static const char jsonl[] =
	    "{\"rtmr\":3,\"digest\":\"" /* 48 bytes */
	    "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0"
	    "c1c2c3c4c5c6c7c8c9cacbcccdcecfd0\",\"event\":\"task\"}\n"
	    "{\"rtmr\":3,\"digest\":\""
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	    "202122232425262728292a2b2c2d2e2f\",\"event\":\"task\"}\n";
	(void)state;
	drive(ccel.path, run_ccel, load(&ccel));
	free(ccel.buf);
	drive("runtime event log (JSON lines)", run_jsonl, jsonl);
}

/* ABI: a SchedulerNoticeBoost log's data, as the scheduler decodes it. */
static const char notice_types[] = "(bytes32,address,address,uint256,bytes32,string,address)";

static int run_abi(const void *arg, uint8_t fp[32])
{
	const struct wbuf *w = arg;
	json_t *v = (json_t *)1;
	char *text;
	int rc = abi_decode_str(notice_types, w->buf, w->len, &v);
	done();
	if (rc < 0) {
		assert_true(v == NULL || (void *)v == (void *)1); /* none, or untouched */
		return rc;
	}
	text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(text);
	fp_of(text, strlen(text), fp);
	free(text);
	json_decref(v);
	return 0;
}

/* RLP: a signed EIP-1559 transaction (the encoder), then the decoder's
 * walk over it, which reads in place. */
static int run_rlp(const void *arg, uint8_t fp[32])
{
	const struct eth_tx *tx = arg;
	static const uint8_t priv[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
	                                 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
	                                 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
	uint8_t *raw = NULL, hash[32];
	size_t len, items_n = 0;
	struct rd r, items, item;
	int list, rc = eth_tx_sign(tx, priv, &raw, &len, hash);
	if (rc < 0) {
		done();
		return rc;
	}
	rd_init(&r, raw + 1, len - 1, "tx"); /* after the type byte */
	rc = rlp_next(&r, &list, &items);
	while (rc == 0 && rd_left(&items)) {
		rc = rlp_next(&items, &list, &item);
		items_n++;
	}
	done();
	if (rc == 0) {
		assert_int_equal(items_n, 12); /* EIP-1559: 9 fields, then y, r, s */
		fp_of(raw, len, fp);
	}
	free(raw);
	return rc;
}

static void rlp_abi(void **state)
{
	struct wbuf w;
	json_t *v;
	struct abi_type *t;
	struct eth_tx tx;
	static const uint8_t data[68] = {0xa9, 0x05, 0x9c, 0xbb, [35] = 0x11, [67] = 0x2a};

	(void)state;
	v = json_pack("[s,s,s,s,s,s,s]",
	              "0x5f4f3c7c0b0e0e5b0b9d3a6f1c2b4e8d7a6c5b4a392817160504030201000102",
	              "0x1111111111111111111111111111111111111111",
	              "0x2222222222222222222222222222222222222222", "100",
	              "0x0000000000000000000000000000000000000000000000000000000000000003",
	              "{\"iexec_args\":\"a b c\",\"iexec_input_files\":[]}",
	              "0x3333333333333333333333333333333333333333");
	assert_non_null(v);
	wbuf_init(&w);
	assert_int_equal(abi_type_parse(notice_types, &t), 0);
	if (abi_encode(t, v, &w) < 0)
		fail_msg("abi_encode: %s", err_msg());
	abi_type_free(t);
	json_decref(v);
	drive("ABI SchedulerNoticeBoost data", run_abi, &w);
	wbuf_free(&w);

	memset(&tx, 0, sizeof(tx));
	tx.type = 2;
	tx.chain_id = 134;
	tx.nonce = 7;
	tx.gas = 100000;
	tx.max_fee[31] = 9;
	tx.max_priority[31] = 1;
	tx.has_to = 1;
	memset(tx.to, 0x44, 20);
	tx.data = data;
	tx.data_len = sizeof(data);
	drive("RLP signed transaction", run_rlp, &tx);
}

static int run_zip(const void *arg, uint8_t fp[32])
{
	const struct input *in = arg;
	struct zip_entry *e = (struct zip_entry *)1;
	size_t n;
	struct fp f;
	int rc = zip_list(in->buf, in->len, 1000, &e, &n);
	done();
	if (rc < 0) {
		assert_true(e == NULL || (void *)e == (void *)1); /* none, or untouched */
		return rc;
	}
	fp_begin(&f);
	for (size_t i = 0; i < n; i++) {
		fp_add(&f, e[i].name, strlen(e[i].name));
		fp_add(&f, &e[i].size, sizeof(e[i].size));
	}
	fp_end(&f, fp);
	free(e);
	return 0;
}

static int run_result(const void *arg, uint8_t fp[32])
{
	const char *path = arg;
	struct result_limits lim = RESULT_DEFAULT_LIMITS;
	int rc = result_archive_read(path, NULL, &lim, 0, fp);
	done();
	return rc;
}

static void zip_result(void **state)
{
	/* a result archive as the worker writes it */
	static const char *const names[] = {"computed.json", "out.txt"};
	static const char computed[] = "{\"deterministic-output-path\":\"/iexec_out/out.txt\"}";
	static const char out[] = "hello from the app\n";
	const uint8_t *bufs[] = {(const uint8_t *)computed, (const uint8_t *)out};
	const size_t lens[] = {sizeof(computed) - 1, sizeof(out) - 1};
	char *dir = td_tmpdir(), path[512];
	struct input zip = {"result.zip", NULL, 0};

	(void)state;
	snprintf(path, sizeof(path), "%s/result.zip", dir);
	assert_int_equal(result_zip_buffers(path, 2, names, bufs, lens), 0);
	assert_int_equal(file_read(path, 1 << 20, &zip.buf, &zip.len), 0);
	drive("zip listing of a result archive", run_zip, &zip);
	drive("result archive digest", run_result, path);
	free(zip.buf);
	td_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(quote_parse),   cmocka_unit_test(pck_readers),
	    cmocka_unit_test(pck_extension), cmocka_unit_test(collateral_load),
	    cmocka_unit_test(eventlog),      cmocka_unit_test(rlp_abi),
	    cmocka_unit_test(zip_result),
	};
	void *pc[1];

	if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) {
		fprintf(stderr, "OpenSSL allocated before main: cannot count its allocations\n");
		return 1;
	}
	backtrace(pc, 1); /* loads what backtrace() needs, before any count */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
