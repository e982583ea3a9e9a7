/* sms_client.c — see sms_client.h. */
#include "sms_client.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "eth/addr.h"
#include "poco/market.h"
#include "util/codec.h"
#include "util/err.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t sms_client_collect(char *p, size_t size, size_t n, void *wbuf)
{
	return wbuf_put(wbuf, p, size * n) < 0 ? 0 : size * n;
}

long sms_client_post(CURL *c, const char *base, const char *path, const char *type,
                     const void *body, size_t len, const char *auth, struct wbuf *out)
{
	char url[512], hdr[160], ct[96];
	struct curl_slist *h;
	long code = 0;

	snprintf(ct, sizeof(ct), "Content-Type: %s", type);
	h = curl_slist_append(NULL, ct);
	h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
	if (auth) {
		snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
		h = curl_slist_append(h, hdr);
	}
	out->len = 0;
	snprintf(url, sizeof(url), "%s%s", base, path);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sms_client_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (wbuf_u8(out, 0) < 0)
		code = 0;
	curl_slist_free_all(h);
	return code;
}

static int sig_hex(const uint8_t priv[32], const uint8_t h[32], char out[133])
{
	uint8_t sig[65];
	GUARD(eip191_sign32(priv, h, sig));
	out[0] = '0';
	out[1] = 'x';
	hex_encode(out + 2, sig, 65);
	return 0;
}

int sms_client_session(CURL *c, const char *base, const char *deal_hex, uint64_t i,
                       const uint8_t pool[32], const uint8_t worker[32], uint8_t tid[32],
                       char session[33])
{
	uint8_t dealid[32], h[32], buf[72], waddr[20], enclave[20];
	char path[256], tid_hex[67] = "0x", auth[133], psig[133], wa[43], *body = NULL;
	struct wbuf out;
	json_t *j = NULL;
	long st;
	int rc = -1;

	wbuf_init(&out);
	if (strlen(deal_hex) != 66 || hex_decode_exact(dealid, 32, deal_hex + 2, "deal") < 0 ||
	    k1_address(worker, waddr) < 0) {
		fprintf(stderr, "sms_client: %s\n", err_msg());
		return -1;
	}
	poco_task_id(dealid, i, tid);
	hex_encode(tid_hex + 2, tid, 32);
	keccak256(tid, 32, h);
	if (sig_hex(pool, h, auth) < 0)
		goto out;
	snprintf(path, sizeof(path), "/tee/challenges/%s?dealId=%s&taskIndex=%llu", tid_hex,
	         deal_hex, (unsigned long long)i);
	st = sms_client_post(c, base, path, "application/json", NULL, 0, auth, &out);
	if (st != 200 || eth_addr_parse((char *)out.buf, enclave) < 0) {
		fprintf(stderr, "sms_client: challenge %llu: %ld %s\n", (unsigned long long)i, st,
		        out.buf ? (char *)out.buf : "");
		goto out;
	}
	eth_addr_str(waddr, wa);
	memcpy(buf, waddr, 20);
	memcpy(buf + 20, tid, 32);
	memcpy(buf + 52, enclave, 20);
	keccak256(buf, sizeof(buf), h);
	if (sig_hex(pool, h, psig) < 0 || sig_hex(worker, h, auth) < 0)
		goto out;
	j = json_pack("{s:s,s:s,s:s,s:s}", "workerWallet", wa, "chainTaskId", tid_hex,
	              "enclaveChallenge", (char *)out.buf, "signature", psig);
	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	j = NULL;
	if (!body)
		goto out;
	snprintf(path, sizeof(path), "/tee/sessions?dealId=%s&taskIndex=%llu", deal_hex,
	         (unsigned long long)i);
	st = sms_client_post(c, base, path, "application/json", body, strlen(body), auth, &out);
	j = st == 200 ? json_loads((char *)out.buf, 0, NULL) : NULL;
	const char *id = json_string_value(json_object_get(j, "sessionId"));
	if (!id || strlen(id) > 32) {
		fprintf(stderr, "sms_client: session %llu: %ld %s\n", (unsigned long long)i, st,
		        out.buf ? (char *)out.buf : "");
		goto out;
	}
	snprintf(session, 33, "%s", id);
	rc = 0;
out:
	free(body);
	json_decref(j);
	wbuf_free(&out);
	return rc;
}
