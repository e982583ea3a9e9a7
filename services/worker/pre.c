/* pre.c — pre-compute: the task's input files and its dataset (checksum,
 * then iExec's AES-256-CBC format with the key from the session). */
#include "wk.h"

#include "crypto/aead.h"
#include "eth/addr.h"
#include "poco/market.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

static void sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t h[32];
	SHA256(p, n, h);
	hex_encode(out, h, 32);
}

void wk_env_add(json_t *env, const char *k, const char *v)
{
	char *kv = malloc(strlen(k) + strlen(v) + 2);
	if (!kv)
		return;
	sprintf(kv, "%s=%s", k, v);
	json_array_append_new(env, json_string(kv));
	OPENSSL_cleanse(kv, strlen(kv));
	free(kv);
}

/* A task's input file or dataset: URLs that the requester or the chain
 * names, fetched outside the app's sandbox, so public addresses only unless
 * the operator serves inputs privately on purpose. */
static int fetch(const struct worker *w, const char *url, size_t cap, struct http_response *r)
{
	int rc =
	    http_fetch(url, w->cfg->allow_private_inputs ? NULL : &http_dest_public, cap, 120, r);
	if (rc == ERR_VERIFY) {
		char why[512];
		snprintf(why, sizeof(why), "%s", err_msg());
		return err_set(rc, "%s; the worker needs --allow-private-inputs to fetch it", why);
	}
	GUARD(rc);
	if (r->status != 200) {
		http_response_free(r);
		return err_set(ERR_IO, "%s: HTTP %ld", url, r->status);
	}
	return 0;
}

/* iExec's dataset format: IV (16) || AES-256-CBC ciphertext (PKCS#7),
 * the key given base64-encoded. */
static int dataset_decrypt(const uint8_t *in, size_t len, const char *key_b64, uint8_t **out,
                           size_t *out_len)
{
	uint8_t *key = NULL;
	size_t klen = 0;
	int rc;

	*out = NULL;
	GUARD(base64_decode(key_b64, strlen(key_b64), &key, &klen));
	rc = klen == 32 ? aes256cbc_open(key, in, len, out, out_len)
	                : err_set(ERR_INVAL, "dataset: the key is not 256 bits");
	OPENSSL_cleanse(key, klen);
	free(key);
	if (rc == ERR_VERIFY)
		rc = err_set(ERR_VERIFY, "dataset: cannot decrypt with the key from the SMS");
	return rc;
}

int wk_pre_compute(struct worker *w, struct task *t, json_t *params)
{
	json_t *files = json_object_get(params, "iexec_input_files"), *f;
	struct http_response r;
	char path[PATH_MAX + 80], name[65], k[48], v[24];
	size_t i;
	const char *dataset = jstr(t->a, "dataset");

	json_array_foreach (files, i, f) {
		const char *url = json_string_value(f);
		ENSURE(url, ERR_INVAL, "iexec_input_files: entry %zu is not a URL", i);
		GUARD(fetch(w, url, INPUT_MAX, &r));
		sha256_hex(url, strlen(url), name);
		snprintf(path, sizeof(path), "%s/%s", t->in, name);
		size_t got = r.body.len;
		int rc = file_write(path, r.body.buf, r.body.len, 0444);
		http_response_free(&r);
		GUARD(rc);
		snprintf(k, sizeof(k), "IEXEC_INPUT_FILE_URL_%zu", i + 1);
		wk_env_add(t->app_env, k, url);
		snprintf(k, sizeof(k), "IEXEC_INPUT_FILE_NAME_%zu", i + 1);
		wk_env_add(t->app_env, k, name);
		log_info("worker.pre", "task=%s input=%zu bytes=%zu", t->taskid, i + 1, got);
	}
	snprintf(v, sizeof(v), "%zu", json_array_size(files));
	wk_env_add(t->app_env, "IEXEC_INPUT_FILES_NUMBER", v);
	wk_env_add(t->app_env, "IEXEC_INPUT_FILES_FOLDER", "/iexec_in");
	if (dataset && strcasecmp(dataset, ZERO_ADDR) != 0) {
		uint8_t a[20], sum[32], want[32], *plain = NULL;
		size_t plen = 0;
		json_t *ds = NULL;
		const char *key = jstr(t->session_env, "IEXEC_DATASET_KEY");
		int rc;
		GUARD(eth_addr_parse(dataset, a));
		GUARD(poco_asset_show(w->chain, POCO_DATASET, a, &ds));
		const char *url = jstr(ds, "multiaddr"), *cs = jstr(ds, "checksum");
		rc = url && cs && strlen(cs) == 66
		         ? hex_decode_exact(want, 32, cs + 2, "checksum")
		         : err_set(ERR_INVAL, "dataset %s: no URL or checksum", dataset);
		if (rc == 0)
			rc = fetch(w, url, DATASET_MAX, &r);
		if (rc == 0) {
			SHA256(r.body.buf, r.body.len, sum);
			if (CRYPTO_memcmp(sum, want, 32) != 0)
				rc = err_set(ERR_VERIFY, "dataset %s: checksum mismatch", dataset);
			else if (!key)
				rc = err_set(ERR_NOTFOUND, "dataset %s: the SMS holds no key",
				             dataset);
			else
				rc = dataset_decrypt(r.body.buf, r.body.len, key, &plain, &plen);
			http_response_free(&r);
		}
		if (rc == 0) {
			snprintf(path, sizeof(path), "%s/%s", t->in, dataset);
			rc = file_write(path, plain, plen, 0444);
			OPENSSL_cleanse(plain, plen);
			free(plain);
			log_info("worker.pre", "task=%s dataset=%s bytes=%zu", t->taskid, dataset,
			         plen);
		}
		json_decref(ds);
		GUARD(rc);
		wk_env_add(t->app_env, "IEXEC_DATASET_ADDRESS", dataset);
		wk_env_add(t->app_env, "IEXEC_DATASET_FILENAME", dataset);
	}
	return 0;
}
