/* Quote format: byte-exact round trips and field values for every real
 * quote (tests/data/tdx/quotes.tsv), refusal of bad inputs, every truncation
 * and corruptions of every length field. */
#include "testutil.h"

#include "tdx/pck.h"
#include "tdx/quote.h"
#include "util/codec.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct qcase {
	char file[256];
	unsigned version, body_type;
	size_t size, trailing;
	char fmspc[32], svn[40], svn2[40], qe_svn[8], pcesvn[8];
};

static struct qcase cases[16];
static size_t ncases;

static void load_cases(void)
{
	char line[1024];
	FILE *f;
	char path[512];

	snprintf(path, sizeof(path), "%s/tdx/quotes.tsv", TEST_DATA);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		struct qcase *c = &cases[ncases];
		if (line[0] == '#' || line[0] == '\n')
			continue;
		assert_int_equal(sscanf(line, "%255s %u %u %zu %zu %31s %39s %39s %7s %7s", c->file,
		                        &c->version, &c->body_type, &c->size, &c->trailing,
		                        c->fmspc, c->svn, c->svn2, c->qe_svn, c->pcesvn),
		                 10);
		ncases++;
		assert_true(ncases < 16);
	}
	fclose(f);
	assert_true(ncases >= 5);
}

/* quotes.tsv names files relative to tests/data/tdx. */
static uint8_t *read_tdx(const char *file, size_t *len)
{
	char rel[8192];
	snprintf(rel, sizeof(rel), "tdx/%s", file);
	return td_read(rel, len);
}

static void assert_hex(const uint8_t *p, size_t n, const char *want)
{
	char got[256];
	hex_encode(got, p, n);
	assert_string_equal(got, want);
}

static void real_quotes_round_trip_byte_exact(void **state)
{
	(void)state;
	for (size_t i = 0; i < ncases; i++) {
		struct qcase *c = &cases[i];
		struct tdx_quote *q;
		uint8_t *buf, *out;
		size_t len, olen;

		buf = read_tdx(c->file, &len);
		assert_int_equal(len, c->size);
		if (tdx_quote_parse(buf, len, &q) < 0)
			fail_msg("%s: %s", c->file, err_msg());
		assert_int_equal(q->trailing_len, c->trailing);
		assert_int_equal(tdx_quote_serialize(q, 1, &out, &olen), 0);
		assert_int_equal(olen, len);
		assert_memory_equal(out, buf, len);
		free(out);
		assert_int_equal(tdx_quote_serialize(q, 0, &out, &olen), 0);
		assert_int_equal(olen, len - c->trailing);
		assert_memory_equal(out, buf, olen);
		free(out);
		tdx_quote_free(q);
		free(buf);
	}
}

static void real_quotes_have_provenance_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < ncases; i++) {
		struct qcase *c = &cases[i];
		STACK_OF(X509) * chain;
		struct tdx_pck_ext e;
		struct tdx_quote *q;
		struct tdx_field f;
		uint8_t *buf;
		size_t len;

		buf = read_tdx(c->file, &len);
		assert_int_equal(tdx_quote_parse(buf, len, &q), 0);
		assert_int_equal(q->header.version, c->version);
		assert_int_equal(q->header.tee_type, TDX_TEE_TYPE_TDX);
		assert_int_equal(q->body_type, c->body_type);
		assert_hex(q->body.tee_tcb_svn, 16, c->svn);
		if (strcmp(c->svn2, "-") != 0)
			assert_hex(q->body.tee_tcb_svn2, 16, c->svn2);
		if (strcmp(c->qe_svn, "-") != 0)
			assert_int_equal(q->qe_report.isvsvn, atoi(c->qe_svn));
		/* Named accessors agree with the struct. */
		assert_int_equal(tdx_quote_field(q, "MRTD", &f), 0);
		assert_ptr_equal(f.ptr, q->body.mrtd);
		assert_int_equal(f.len, 48);
		assert_int_equal(tdx_quote_field(q, "rtmr3", &f), 0);
		assert_ptr_equal(f.ptr, q->body.rtmr[3]);
		assert_int_equal(tdx_quote_field(q, "MRSERVICETD", &f),
		                 c->body_type == 3 ? 0 : ERR_NOTFOUND);
		/* The MRTD sits at a fixed offset in the raw bytes. */
		assert_memory_equal(q->body.mrtd, buf + (c->version == 5 ? 190 : 184), 48);
		/* FMSPC and PCESVN from the PCK certificate's SGX extension. */
		assert_int_equal(tdx_pck_chain_parse(q->pck_chain, q->pck_chain_len, &chain), 0);
		assert_int_equal(sk_X509_num(chain), 3);
		assert_int_equal(tdx_pck_ext_from_cert(sk_X509_value(chain, 0), &e), 0);
		assert_hex(e.fmspc, 6, c->fmspc);
		if (strcmp(c->pcesvn, "-") != 0)
			assert_int_equal(e.pcesvn, atoi(c->pcesvn));
		assert_int_equal(tdx_pck_ca_type(sk_X509_value(chain, 0)), TDX_PCK_CA_PLATFORM);
		sk_X509_pop_free(chain, X509_free);
		tdx_quote_free(q);
		free(buf);
	}
}

static void bad_inputs_are_refused_with_a_reason(void **state)
{
	char line[512], file[256], want[256], path[512];
	FILE *f;
	int n = 0;
	(void)state;

	snprintf(path, sizeof(path), "%s/tdx/bad_quotes.tsv", TEST_DATA);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		struct tdx_quote *q = (void *)1;
		uint8_t *buf;
		size_t len;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		assert_int_equal(sscanf(line, "%255[^\t]\t%255[^\n]", file, want), 2);
		buf = read_tdx(file, &len);
		assert_true(tdx_quote_parse(buf, len, &q) < 0);
		assert_null(q);
		if (!strstr(err_msg(), want))
			fail_msg("%s: error '%s' lacks '%s'", file, err_msg(), want);
		free(buf);
		n++;
	}
	fclose(f);
	assert_true(n >= 2);
}

static void every_truncation_fails_cleanly(void **state)
{
	(void)state;
	for (size_t i = 0; i < ncases; i++) {
		struct qcase *c = &cases[i];
		size_t len, core;
		uint8_t *buf = read_tdx(c->file, &len);
		core = len - c->trailing;
		for (size_t n = 0; n < len; n++) {
			/* A copy of exactly n bytes so ASan sees any over-read. */
			uint8_t *t = malloc(n ? n : 1);
			struct tdx_quote *q = NULL;
			int rc;
			memcpy(t, buf, n);
			rc = tdx_quote_parse(t, n, &q);
			if (n < core) {
				if (rc == 0)
					fail_msg("%s truncated to %zu bytes parsed", c->file, n);
				assert_non_null(strstr(err_msg(), "offset"));
			} else {
				/* Cutting into the padding only shortens it. */
				assert_int_equal(rc, 0);
				assert_int_equal(q->trailing_len, n - core);
			}
			tdx_quote_free(q);
			free(t);
		}
		free(buf);
	}
}

/* Offsets of every length/type field of a parsed quote. */
static size_t length_fields(const struct tdx_quote *q, size_t off[8], size_t width[8])
{
	size_t n = 0, s = q->signed_len;
	if (q->header.version == 5) {
		off[n] = 48, width[n++] = 2; /* body type */
		off[n] = 50, width[n++] = 4; /* body size */
	}
	off[n] = s, width[n++] = 4;                                      /* signature data size */
	off[n] = s + 4 + 128, width[n++] = 2;                            /* cert data type */
	off[n] = s + 4 + 130, width[n++] = 4;                            /* cert data size */
	off[n] = s + 4 + 134 + 384 + 64, width[n++] = 2;                 /* QE auth data size */
	off[n] = s + 4 + 134 + 448 + 2 + q->qe_auth_len, width[n++] = 2; /* PCK type */
	off[n] = off[n - 1] + 2, width[n++] = 4;                         /* PCK chain size */
	return n;
}

static void length_field_corruptions_are_refused(void **state)
{
	static const uint8_t xors[] = {0x01, 0x02, 0x10, 0x80, 0xff};
	(void)state;
	for (size_t i = 0; i < ncases; i++) {
		struct qcase *c = &cases[i];
		struct tdx_quote *q;
		size_t len, off[8], width[8], nf;
		uint8_t *buf = read_tdx(c->file, &len);

		assert_int_equal(tdx_quote_parse(buf, len, &q), 0);
		nf = length_fields(q, off, width);
		tdx_quote_free(q);
		for (size_t k = 0; k < nf; k++) {
			for (size_t b = 0; b < width[k]; b++) {
				for (size_t x = 0; x < sizeof(xors); x++) {
					uint8_t *t = malloc(len);
					memcpy(t, buf, len);
					t[off[k] + b] ^= xors[x];
					q = NULL;
					if (tdx_quote_parse(t, len, &q) == 0)
						fail_msg("%s: byte %zu ^ 0x%02x still parses",
						         c->file, off[k] + b, xors[x]);
					tdx_quote_free(q);
					free(t);
				}
			}
		}
		free(buf);
	}
}

static void header_fields_are_checked(void **state)
{
	size_t len;
	uint8_t *buf = read_tdx("phala-dcap-qvl/tdx_quote", &len);
	struct tdx_quote *q;
	(void)state;

	buf[0] = 3; /* version */
	assert_int_equal(tdx_quote_parse(buf, len, &q), ERR_UNSUPPORTED);
	assert_non_null(strstr(err_msg(), "version 3"));
	buf[0] = 4;
	buf[2] = 3; /* ECDSA-384 */
	assert_int_equal(tdx_quote_parse(buf, len, &q), ERR_UNSUPPORTED);
	assert_non_null(strstr(err_msg(), "attestation key type 3"));
	buf[2] = 2;
	assert_int_equal(tdx_quote_parse(buf, TDX_QUOTE_MAX_SIZE + 1, &q), ERR_TOOBIG);
	assert_int_equal(tdx_quote_parse(buf, len, &q), 0);
	tdx_quote_free(q);
	free(buf);
}

static void td_attributes_are_decoded(void **state)
{
	char s[128];
	(void)state;
	tdx_td_attributes_str(0, s, sizeof(s));
	assert_string_equal(s, "none");
	tdx_td_attributes_str(TDX_ATTR_DEBUG | TDX_ATTR_SEPT_VE_DISABLE | (1ull << 40), s,
	                      sizeof(s));
	assert_string_equal(s, "DEBUG|SEPT_VE_DISABLE|BIT40");
	tdx_td_attributes_str(TDX_ATTR_PKS, s, 4); /* truncates, stays terminated */
	assert_string_equal(s, "PKS");
	tdx_td_attributes_str(TDX_ATTR_PERFMON, s, 4);
	assert_string_equal(s, "PER");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(real_quotes_round_trip_byte_exact),
	    cmocka_unit_test(real_quotes_have_provenance_values),
	    cmocka_unit_test(bad_inputs_are_refused_with_a_reason),
	    cmocka_unit_test(every_truncation_fails_cleanly),
	    cmocka_unit_test(length_field_corruptions_are_refused),
	    cmocka_unit_test(header_fields_are_checked),
	    cmocka_unit_test(td_attributes_are_decoded),
	};
	load_cases();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
