/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identity and passwords of the platform's MQTT CONNECT, as QuecThing SDK 2.9.0 builds them:
 * login "1;FLAG;RAND;SIGN" with SIGN = Base64(SHA256("DS;PS;RAND")), registration
 * "0;FLAG;PK;ENC" with ENC = Base64(AES-128-CBC("DK;RAND;" + Base64(SHA256("DK;PS;RAND"))))
 * under key PS[0:16] and IV SHA256(PS)[0:16], PKCS#7; both sides (the agent builds, the
 * simulator parses and checks). Also the AES-128-CBC used for the session key and session
 * payloads. OpenSSL 3 only (EVP, RAND_bytes). No logging, no I/O: secrets never leave the
 * caller's buffers, and intermediate copies are wiped with OPENSSL_cleanse.
 */
#include "cloud_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define SHA256_LEN 32
#define SIGN_LEN QTD_AUTH_SIGN_LEN /* Base64 of 32 bytes */
#define KEY_LEN 16

static const char charset[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int qtd_auth_rand(char out[QTD_AUTH_RAND_LEN + 1])
{
    uint8_t pool[64];
    size_t k = 0;

    if (out == NULL) {
        return -EINVAL;
    }
    while (k < QTD_AUTH_RAND_LEN) {
        if (RAND_bytes(pool, sizeof(pool)) != 1) {
            return -EIO;
        }
        /* 248 = 4 * 62: reject the top bytes so every character is equally likely */
        for (size_t i = 0; i < sizeof(pool) && k < QTD_AUTH_RAND_LEN; i++) {
            if (pool[i] < 248) {
                out[k++] = charset[pool[i] % 62];
            }
        }
    }
    out[k] = '\0';
    return 0;
}

/* SHA256 of "a;b;c". */
static int sha256_3(const char *a, const char *b, const char *c, uint8_t md[SHA256_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned mdlen = 0;
    int ok;

    if (ctx == NULL) {
        return -ENOMEM;
    }
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(ctx, a, strlen(a)) == 1 && EVP_DigestUpdate(ctx, ";", 1) == 1 &&
         EVP_DigestUpdate(ctx, b, strlen(b)) == 1 && EVP_DigestUpdate(ctx, ";", 1) == 1 &&
         EVP_DigestUpdate(ctx, c, strlen(c)) == 1 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 &&
         mdlen == SHA256_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -EIO;
}

int qtd_auth_sign(const char *a, const char *b, const char *c, char out[QTD_AUTH_SIGN_LEN + 1])
{
    uint8_t md[SHA256_LEN];
    int rc = sha256_3(a, b, c, md);
    if (rc == 0) {
        EVP_EncodeBlock((unsigned char *)out, md, SHA256_LEN);
    }
    OPENSSL_cleanse(md, sizeof(md));
    return rc;
}

/* Base64 decode of a whole string (no whitespace). *out malloc'ed. Returns 0, -EINVAL. */
static int b64_decode(const char *in, uint8_t **out, size_t *out_len)
{
    size_t n = strlen(in);
    *out = NULL;
    *out_len = 0;
    if (n == 0 || n % 4 != 0 || n > (size_t)INT32_MAX) {
        return -EINVAL;
    }
    uint8_t *buf = malloc(n / 4 * 3 + 1);
    if (buf == NULL) {
        return -ENOMEM;
    }
    int len = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n);
    if (len < 0) {
        free(buf);
        return -EINVAL;
    }
    /* EVP_DecodeBlock counts the bytes of the '=' padding as data: take them off. */
    size_t pad = in[n - 1] == '=' ? (in[n - 2] == '=' ? 2 : 1) : 0;
    *out = buf;
    *out_len = (size_t)len - pad;
    return 0;
}

static bool plain_field(const char *s)
{
    return s != NULL && s[0] != '\0' && strchr(s, ';') == NULL;
}

int qtd_auth_login_password(const char *ds, const char *ps, const char *rand, int flag, char *out,
                            size_t n)
{
    char sign[SIGN_LEN + 1];
    int rc;

    if (ds == NULL || ds[0] == '\0' || ps == NULL || ps[0] == '\0' || !plain_field(rand) ||
        (flag != 0 && flag != 1) || out == NULL) {
        return -EINVAL;
    }
    rc = qtd_auth_sign(ds, ps, rand, sign);
    if (rc < 0) {
        return rc;
    }
    int w = snprintf(out, n, "1;%04d;%s;%s", flag, rand, sign);
    if (w < 0 || (size_t)w >= n) {
        if (n > 0) {
            out[0] = '\0';
        }
        return -E2BIG;
    }
    return 0;
}

/* ENC: Base64(AES-128-CBC(PS[0:16], SHA256(PS)[0:16], "DK;RAND;" + SIGN(DK;PS;RAND))). */
static int make_enc(const char *ps, const char *dk, const char *rand, char **enc)
{
    char sign[SIGN_LEN + 1];
    char *plain = NULL;
    uint8_t *cipher = NULL;
    size_t cipher_len = 0;
    uint8_t iv[KEY_LEN];
    int rc;

    *enc = NULL;
    rc = qtd_auth_sign(dk, ps, rand, sign);
    if (rc < 0) {
        goto fail;
    }
    size_t plain_len = strlen(dk) + 1 + strlen(rand) + 1 + SIGN_LEN;
    plain = malloc(plain_len + 1);
    if (plain == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    snprintf(plain, plain_len + 1, "%s;%s;%s", dk, rand, sign);
    qtd_auth_iv((const uint8_t *)ps, strlen(ps), iv);
    rc = qtd_aes128cbc(true, (const uint8_t *)ps, iv, (const uint8_t *)plain, plain_len, &cipher,
                       &cipher_len);
    if (rc < 0) {
        goto fail;
    }
    *enc = malloc(4 * ((cipher_len + 2) / 3) + 1);
    if (*enc == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    EVP_EncodeBlock((unsigned char *)*enc, cipher, (int)cipher_len);
    rc = 0;

fail:
    if (plain != NULL) {
        OPENSSL_cleanse(plain, strlen(plain));
    }
    free(plain);
    free(cipher);
    OPENSSL_cleanse(sign, sizeof(sign));
    return rc;
}

int qtd_auth_register_password(const char *pk, const char *ps, const char *dk, const char *rand,
                               int flag, char *out, size_t n)
{
    char *enc = NULL;
    int rc;

    if (!plain_field(pk) || ps == NULL || strlen(ps) < KEY_LEN || !plain_field(dk) ||
        !plain_field(rand) || (flag != 0 && flag != 1) || out == NULL) {
        return -EINVAL;
    }
    rc = make_enc(ps, dk, rand, &enc);
    if (rc < 0) {
        return rc;
    }
    int w = snprintf(out, n, "0;%04d;%s;%s", flag, pk, enc);
    free(enc);
    if (w < 0 || (size_t)w >= n) {
        if (n > 0) {
            out[0] = '\0';
        }
        return -E2BIG;
    }
    return 0;
}

int qtd_auth_parse(const char *password, qtd_auth_parsed_t *out)
{
    char *field[4];
    size_t nf = 0;

    if (password == NULL || out == NULL) {
        return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    size_t len = strlen(password);
    if (len > QTD_AUTH_PASSWORD_MAX) {
        return -EINVAL;
    }
    memcpy(out->buf, password, len + 1);

    char *s = out->buf;
    for (;;) {
        if (nf == 4) {
            return -EINVAL; /* a fifth field */
        }
        field[nf++] = s;
        char *semi = strchr(s, ';');
        if (semi == NULL) {
            break;
        }
        *semi = '\0';
        s = semi + 1;
    }
    if (nf != 4) {
        return -EINVAL;
    }
    for (size_t i = 0; i < nf; i++) {
        if (field[i][0] == '\0') {
            return -EINVAL;
        }
    }
    if (strcmp(field[0], "0") == 0) {
        out->kind = 0;
        out->pk = field[2];
        out->enc = field[3];
    } else if (strcmp(field[0], "1") == 0) {
        out->kind = 1;
        out->rand = field[2];
        out->sign = field[3];
    } else {
        return -EINVAL;
    }
    if (strcmp(field[1], "0000") == 0) {
        out->flag = 0;
    } else if (strcmp(field[1], "0001") == 0) {
        out->flag = 1;
    } else {
        return -ERANGE; /* the platform answers 10433 */
    }
    return 0;
}

bool qtd_auth_login_ok(const qtd_auth_parsed_t *p, const char *ds, const char *ps)
{
    char sign[SIGN_LEN + 1];

    if (p == NULL || p->kind != 1 || p->rand == NULL || p->sign == NULL || ds == NULL ||
        ds[0] == '\0' || ps == NULL || ps[0] == '\0') {
        return false;
    }
    if (strlen(p->sign) != SIGN_LEN || qtd_auth_sign(ds, ps, p->rand, sign) < 0) {
        return false;
    }
    bool ok = CRYPTO_memcmp(sign, p->sign, SIGN_LEN) == 0;
    OPENSSL_cleanse(sign, sizeof(sign));
    return ok;
}

int qtd_auth_register_check(const qtd_auth_parsed_t *p, const char *ps, const char *dk)
{
    uint8_t *cipher = NULL;
    size_t cipher_len = 0;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    char *text = NULL;
    uint8_t iv[KEY_LEN];
    char sign[SIGN_LEN + 1];
    int rc;

    if (p == NULL || p->kind != 0 || p->enc == NULL || ps == NULL || strlen(ps) < KEY_LEN ||
        !plain_field(dk)) {
        return -EINVAL;
    }
    rc = b64_decode(p->enc, &cipher, &cipher_len);
    if (rc < 0) {
        rc = rc == -ENOMEM ? rc : -EACCES;
        goto fail;
    }
    qtd_auth_iv((const uint8_t *)ps, strlen(ps), iv);
    rc = qtd_aes128cbc(false, (const uint8_t *)ps, iv, cipher, cipher_len, &plain, &plain_len);
    if (rc < 0) {
        rc = rc == -ENOMEM ? rc : -EACCES;
        goto fail;
    }
    /* "DK;RAND;SIGN" */
    text = malloc(plain_len + 1);
    if (text == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    memcpy(text, plain, plain_len);
    text[plain_len] = '\0';
    rc = -EACCES;
    if (strlen(text) != plain_len) {
        goto fail; /* embedded NUL */
    }
    char *rand = strchr(text, ';');
    if (rand == NULL) {
        goto fail;
    }
    *rand++ = '\0';
    char *got = strchr(rand, ';');
    if (got == NULL) {
        goto fail;
    }
    *got++ = '\0';
    if (strcmp(text, dk) != 0 || rand[0] == '\0' || strlen(got) != SIGN_LEN) {
        goto fail;
    }
    if (qtd_auth_sign(dk, ps, rand, sign) < 0) {
        rc = -EIO;
        goto fail;
    }
    rc = CRYPTO_memcmp(sign, got, SIGN_LEN) == 0 ? 0 : -EACCES;

fail:
    if (plain != NULL) {
        OPENSSL_cleanse(plain, plain_len);
    }
    if (text != NULL) {
        OPENSSL_cleanse(text, plain_len);
    }
    free(cipher);
    free(plain);
    free(text);
    OPENSSL_cleanse(sign, sizeof(sign));
    return rc;
}

int qtd_aes128cbc(bool encrypt, const uint8_t key[16], const uint8_t iv[16], const uint8_t *in,
                  size_t n, uint8_t **out, size_t *out_len)
{
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t *buf = NULL;
    int len1 = 0;
    int len2 = 0;
    int rc;

    if (out == NULL || out_len == NULL || key == NULL || iv == NULL || (in == NULL && n > 0)) {
        return -EINVAL;
    }
    *out = NULL;
    *out_len = 0;
    if (n > (size_t)INT32_MAX - 32) {
        return -EINVAL;
    }
    if (!encrypt && (n == 0 || n % 16 != 0)) {
        return -EIO; /* not a CBC ciphertext */
    }
    buf = malloc(n + 16);
    if (buf == NULL) {
        return -ENOMEM;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = -EIO;
    if (EVP_CipherInit_ex(ctx, EVP_aes_128_cbc(), NULL, key, iv, encrypt ? 1 : 0) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 1) != 1) {
        goto fail;
    }
    if (n > 0 && EVP_CipherUpdate(ctx, buf, &len1, in, (int)n) != 1) {
        goto fail;
    }
    if (EVP_CipherFinal_ex(ctx, buf + len1, &len2) != 1) {
        goto fail; /* on decrypt: bad padding, i.e. wrong key or damaged data */
    }
    EVP_CIPHER_CTX_free(ctx);
    *out = buf;
    *out_len = (size_t)len1 + (size_t)len2;
    return 0;

fail:
    EVP_CIPHER_CTX_free(ctx);
    if (buf != NULL) {
        OPENSSL_cleanse(buf, n + 16);
    }
    free(buf);
    return rc;
}

void qtd_auth_iv(const uint8_t *key, size_t key_len, uint8_t iv[16])
{
    uint8_t md[SHA256_LEN];
    unsigned mdlen = 0;

    if (EVP_Digest(key, key_len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != SHA256_LEN) {
        memset(md, 0, sizeof(md)); /* cannot happen with the default provider */
    }
    memcpy(iv, md, 16);
    OPENSSL_cleanse(md, sizeof(md));
}
