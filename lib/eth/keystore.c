#include "keystore.h"

#include "crypto/k1.h"
#include "crypto/keccak.h"
#include "util/codec.h"
#include "util/err.h"
#include "util/file.h"
#include "util/json.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRYPT_MAXMEM (1024ull * 1024 * 1024)

static int aes128ctr(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, size_t n,
                     uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0, ok;
	ok = c && EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, key, iv) == 1 &&
	     EVP_EncryptUpdate(c, out, &l1, in, (int)n) == 1 &&
	     EVP_EncryptFinal_ex(c, out + l1, &l2) == 1;
	EVP_CIPHER_CTX_free(c);
	ENSURE(ok && (size_t)(l1 + l2) == n, ERR_CRYPTO, "keystore: AES-128-CTR failed");
	return 0;
}

static void mac_of(const uint8_t dk[32], const uint8_t *ct, size_t n, uint8_t mac[32])
{
	struct keccak256 k;
	keccak256_init(&k);
	keccak256_update(&k, dk + 16, 16);
	keccak256_update(&k, ct, n);
	keccak256_final(&k, mac);
}

static int scrypt(const char *pw, const uint8_t *salt, size_t slen, uint64_t n, uint64_t r,
                  uint64_t p, uint8_t dk[32])
{
	ENSURE(n >= 2 && (n & (n - 1)) == 0 && n <= (1u << 22) && r >= 1 && r <= 32 && p >= 1 &&
	           p <= 16,
	       ERR_INVAL, "keystore: scrypt parameters out of range");
	ENSURE(EVP_PBE_scrypt(pw, strlen(pw), salt, slen, n, r, p, SCRYPT_MAXMEM, dk, 32) == 1,
	       ERR_CRYPTO, "keystore: scrypt failed");
	return 0;
}

static void uuid4(char out[37])
{
	uint8_t b[16];
	RAND_bytes(b, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
}

int keystore_encrypt(const uint8_t priv[32], const char *password, uint64_t scrypt_n, char **out)
{
	uint8_t salt[32], iv[16], dk[32], ct[32], mac[32], addr[20];
	char salt_h[65], iv_h[33], ct_h[65], mac_h[65], addr_h[41], id[37];
	json_t *j;
	int rc;

	GUARD(k1_address(priv, addr));
	ENSURE(RAND_bytes(salt, 32) == 1 && RAND_bytes(iv, 16) == 1, ERR_CRYPTO, "RAND failed");
	if (!scrypt_n)
		scrypt_n = KEYSTORE_SCRYPT_N;
	rc = scrypt(password, salt, 32, scrypt_n, 8, 1, dk);
	if (rc == 0)
		rc = aes128ctr(dk, iv, priv, 32, ct);
	if (rc < 0) {
		OPENSSL_cleanse(dk, sizeof(dk));
		return rc;
	}
	mac_of(dk, ct, 32, mac);
	OPENSSL_cleanse(dk, sizeof(dk));
	hex_encode(salt_h, salt, 32);
	hex_encode(iv_h, iv, 16);
	hex_encode(ct_h, ct, 32);
	hex_encode(mac_h, mac, 32);
	hex_encode(addr_h, addr, 20);
	uuid4(id);
	j = json_pack("{s:s,s:s,s:i,s:{s:s,s:{s:s},s:s,s:s,s:{s:i,s:I,s:i,s:i,s:s},s:s}}",
	              "address", addr_h, "id", id, "version", 3, "crypto", "cipher", "aes-128-ctr",
	              "cipherparams", "iv", iv_h, "ciphertext", ct_h, "kdf", "scrypt", "kdfparams",
	              "dklen", 32, "n", (json_int_t)scrypt_n, "p", 1, "r", 8, "salt", salt_h, "mac",
	              mac_h);
	ENSURE(j, ERR_NOMEM, "out of memory");
	*out = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	ENSURE(*out, ERR_NOMEM, "out of memory");
	return 0;
}

static int kdf(const json_t *c, const char *password, uint8_t dk[32])
{
	const char *name = json_string_value(json_object_get(c, "kdf"));
	const json_t *p = json_object_get(c, "kdfparams");
	uint8_t *salt;
	size_t slen;
	int rc;

	ENSURE(name && json_is_object(p), ERR_INVAL, "keystore: missing kdf");
	ENSURE(json_integer_value(json_object_get(p, "dklen")) == 32, ERR_UNSUPPORTED,
	       "keystore: dklen must be 32");
	{
		const char *s = json_string_value(json_object_get(p, "salt"));
		ENSURE(s, ERR_INVAL, "keystore: missing salt");
		GUARD(hex_decode_alloc(s, strlen(s), &salt, &slen));
	}
	if (strcmp(name, "scrypt") == 0) {
		rc = scrypt(password, salt, slen,
		            (uint64_t)json_integer_value(json_object_get(p, "n")),
		            (uint64_t)json_integer_value(json_object_get(p, "r")),
		            (uint64_t)json_integer_value(json_object_get(p, "p")), dk);
	} else if (strcmp(name, "pbkdf2") == 0) {
		json_int_t iter = json_integer_value(json_object_get(p, "c"));
		const char *prf = json_string_value(json_object_get(p, "prf"));
		rc = prf && strcmp(prf, "hmac-sha256") == 0 && iter > 0 && iter <= 10000000
		         ? (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)slen,
		                              (int)iter, EVP_sha256(), 32, dk) == 1
		                ? 0
		                : err_set(ERR_CRYPTO, "keystore: pbkdf2 failed"))
		         : err_set(ERR_UNSUPPORTED, "keystore: pbkdf2 needs hmac-sha256");
	} else {
		rc = err_set(ERR_UNSUPPORTED, "keystore: kdf \"%s\" unsupported", name);
	}
	free(salt);
	return rc;
}

int keystore_decrypt(const char *text, size_t len, const char *password, uint8_t priv[32])
{
	uint8_t dk[32], iv[16], mac[32], want[32], *ct = NULL;
	json_t *j, *c;
	size_t ctlen;
	int rc = 0;

	GUARD(json_parse(text, len, "keystore", &j));
	c = json_object_get(j, "crypto");
	if (!c)
		c = json_object_get(j, "Crypto");
	ENSURE_GOTO(json_integer_value(json_object_get(j, "version")) == 3 && json_is_object(c),
	            ERR_UNSUPPORTED, "keystore: not a version 3 keystore");
	ENSURE_GOTO(json_is_string(json_object_get(c, "cipher")) &&
	                strcmp(json_string_value(json_object_get(c, "cipher")), "aes-128-ctr") == 0,
	            ERR_UNSUPPORTED, "keystore: cipher must be aes-128-ctr");
	GUARD_GOTO(json_get_hex(json_object_get(c, "cipherparams"), "iv", iv, 16, 0));
	GUARD_GOTO(json_get_hex(c, "mac", want, 32, 0));
	{
		const char *s = json_string_value(json_object_get(c, "ciphertext"));
		ENSURE_GOTO(s, ERR_INVAL, "keystore: missing ciphertext");
		GUARD_GOTO(hex_decode_alloc(s, strlen(s), &ct, &ctlen));
	}
	ENSURE_GOTO(ctlen == 32, ERR_INVAL, "keystore: ciphertext must be 32 bytes");
	GUARD_GOTO(kdf(c, password, dk));
	mac_of(dk, ct, ctlen, mac);
	ENSURE_GOTO(CRYPTO_memcmp(mac, want, 32) == 0, ERR_VERIFY,
	            "keystore: wrong password (MAC mismatch)");
	GUARD_GOTO(aes128ctr(dk, iv, ct, 32, priv));
	GUARD_GOTO(k1_check_priv(priv));
out:
	OPENSSL_cleanse(dk, sizeof(dk));
	free(ct);
	json_decref(j);
	return rc;
}

int keystore_load(const char *path, const char *password, int allow_plain, uint8_t priv[32])
{
	uint8_t *buf;
	size_t len;
	int rc;

	GUARD(file_read(path, 64 * 1024, &buf, &len));
	if (len && buf[0] == '{') {
		rc = password ? keystore_decrypt((const char *)buf, len, password, priv)
		              : err_set(ERR_INVAL, "%s is a keystore: a password is needed", path);
	} else if (allow_plain) {
		char *s = (char *)buf;
		while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
			s[--len] = '\0';
		rc = hex_decode_exact(priv, 32, s, "private key");
		if (rc == 0)
			rc = k1_check_priv(priv);
	} else {
		rc = err_set(ERR_INVAL, "%s: not a keystore (plain key files need --plain-key)",
		             path);
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (rc < 0)
		err_wrap(rc, "%s", path);
	return rc;
}
