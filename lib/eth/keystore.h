/* keystore.h — Ethereum v3 keystore files (Web3 Secret Storage), as geth
 * and ethers write them: scrypt (or pbkdf2-hmac-sha256 when reading) and
 * AES-128-CTR, MAC = keccak256(derived[16..32] || ciphertext). */
#ifndef TDEXEC_ETH_KEYSTORE_H
#define TDEXEC_ETH_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define KEYSTORE_SCRYPT_N 262144 /* geth's standard; ethers uses 131072 */

/* Encrypt priv under password; scrypt_n 0 = KEYSTORE_SCRYPT_N.  Returns a
 * JSON document (free()). */
MUST_CHECK int keystore_encrypt(const uint8_t priv[32], const char *password, uint64_t scrypt_n,
                                char **json);
/* Decrypt a keystore document.  ERR_VERIFY "wrong password" on MAC mismatch. */
MUST_CHECK int keystore_decrypt(const char *json, size_t len, const char *password,
                                uint8_t priv[32]);

/* Load a key file: a v3 keystore (password required), or, only when
 * allow_plain, a file holding the hex private key. */
MUST_CHECK int keystore_load(const char *path, const char *password, int allow_plain,
                             uint8_t priv[32]);

#endif
