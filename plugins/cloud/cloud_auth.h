/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identity and passwords (docs/protocol.md "Identity and passwords"): registration and login
 * passwords, their verification (used by the simulator's broker plugin), the session-key and
 * payload AES-128-CBC, all with OpenSSL (SHA-256, Base64 via EVP_EncodeBlock, EVP AES).
 * Pure functions apart from RAND_bytes; no logging, never prints a secret.
 */
#ifndef QTD_PLUGINS_CLOUD_CLOUD_AUTH_H
#define QTD_PLUGINS_CLOUD_CLOUD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QTD_AUTH_RAND_LEN 16
#define QTD_AUTH_PASSWORD_MAX 256

/* Base64(SHA256("a;b;c")): the signature inside the passwords, and the HTTP OTA plan
 * request's (docs/protocol.md, "HTTP OTA plan service": a = DK, b = PS, c = RAND).
 * Returns: 0, -EIO (OpenSSL failed). */
#define QTD_AUTH_SIGN_LEN 44
int qtd_auth_sign(const char *a, const char *b, const char *c, char out[QTD_AUTH_SIGN_LEN + 1]);

/* 16 random characters of [0-9A-Za-z] and a NUL. Returns: 0, -EIO (no randomness). */
int qtd_auth_rand(char out[QTD_AUTH_RAND_LEN + 1]);

/* "1;FLAG;RAND;SIGN", SIGN = Base64(SHA256("DS;PS;RAND")), FLAG "%04d" of flag (0 or 1).
 * Returns: 0, -EINVAL (flag not 0/1, empty ds/ps, rand empty or holding ';'), -E2BIG (out
 * too small; out is then ""), -EIO (OpenSSL failed). */
int qtd_auth_login_password(const char *ds, const char *ps, const char *rand, int flag, char *out,
                            size_t n);

/* "0;FLAG;PK;ENC", ENC = Base64(AES-128-CBC(key = PS[0:16], IV = SHA256(PS)[0:16] (of all
 * of PS), PKCS#7, "DK;RAND;" + Base64(SHA256("DK;PS;RAND")))). PS must be at least 16 bytes;
 * pk, dk and rand non-empty without ';'.
 * Returns: 0, -EINVAL, -E2BIG (out is then ""), -EIO (OpenSSL failed), -ENOMEM. */
int qtd_auth_register_password(const char *pk, const char *ps, const char *dk, const char *rand,
                               int flag, char *out, size_t n);

/* Parsed password (the server side). Strings point into `buf`. */
typedef struct qtd_auth_parsed_s {
    int kind; /* 0 registration, 1 login */
    int flag; /* 0 or 1 */
    char buf[QTD_AUTH_PASSWORD_MAX + 1];
    const char *rand; /* login */
    const char *sign; /* login */
    const char *pk;   /* registration */
    const char *enc;  /* registration */
} qtd_auth_parsed_t;

/* Split a password into its four non-empty ';'-separated fields, the first "0" or "1".
 * Returns: 0, -EINVAL (malformed, longer than QTD_AUTH_PASSWORD_MAX), -ERANGE (well formed
 * but the flag is not exactly "0000" or "0001", so the platform can answer 10433). */
int qtd_auth_parse(const char *password, qtd_auth_parsed_t *out);
/* Login: does SIGN match DS and PS? (constant-time compare; false for a registration) */
bool qtd_auth_login_ok(const qtd_auth_parsed_t *p, const char *ds, const char *ps);
/* Registration: decrypt ENC with PS and check the inner "DK;RAND;SIGN": its DK must be dk
 * (the one the client id names) and SIGN that of "DK;PS;RAND". Does not look at p->pk.
 * Returns: 0, -EACCES (bad Base64, decrypt failure, wrong DK or signature), -EINVAL (not a
 * registration, PS shorter than 16 bytes, empty dk), -ENOMEM. */
int qtd_auth_register_check(const qtd_auth_parsed_t *p, const char *ps, const char *dk);

/* AES-128-CBC with PKCS#7: *out malloc'ed (free()). key and iv are 16 bytes. Encrypting n
 * bytes gives (n / 16 + 1) * 16 (n may be 0); decrypting needs a non-zero multiple of 16.
 * Returns: 0, -EIO (OpenSSL; on decrypt: not whole blocks or wrong padding, i.e. wrong key),
 * -EINVAL (NULL pointers), -ENOMEM. */
int qtd_aes128cbc(bool encrypt, const uint8_t key[16], const uint8_t iv[16], const uint8_t *in,
                  size_t n, uint8_t **out, size_t *out_len);
/* IV of a key: SHA256(key bytes)[0:16]. */
void qtd_auth_iv(const uint8_t *key, size_t key_len, uint8_t iv[16]);

#endif /* QTD_PLUGINS_CLOUD_CLOUD_AUTH_H */
