/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Passwords and AES of plugins/cloud/cloud_auth.c. The expected SIGN, ENC and ciphertexts
 * were computed outside the code under test with the openssl command line (the commands are
 * quoted above each constant), so a mistake shared by the builder and the checker shows up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "cloud_auth.h"

#define PK "p11234"
#define PS "VnhyeE5EanJrSGUzWXYZ" /* 20 bytes: the key is its first 16, the IV hashes all */
#define DK "866123456789012"
#define DS "a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define RAND "AbCdEfGh12345678"

/* printf 'a1b2c3d4e5f60718293a4b5c6d7e8f90;VnhyeE5EanJrSGUzWXYZ;AbCdEfGh12345678' |
 *   openssl dgst -sha256 -binary | base64 */
#define LOGIN_SIGN "CzG4XFyf1JtzvGWTlz8Kah1BelXn+UAVvWe/KpTzO3A="

/* INNER=$(printf '866123456789012;VnhyeE5EanJrSGUzWXYZ;AbCdEfGh12345678' |
 *   openssl dgst -sha256 -binary | base64 -w0)
 * printf '866123456789012;AbCdEfGh12345678;%s' "$INNER" | openssl enc -aes-128-cbc
 *   -K 566e687965453545616e4a725347557a      (hex of "VnhyeE5EanJrSGUz")
 *   -iv b5193342ac063d63faae5d72adc9cde6     (first 16 bytes of SHA256(PS))
 *   | base64 -w0 */
#define REG_ENC                                                                                    \
    "58ET0Yjozdsf2927VWdEYXkJofe84JNlHqoX2IgtZ9atDIQsv0fzedMPPELr1KDtk87wQ2xKzlwOCUKExyzrhoTFVe0"  \
    "ATi7Gc6m2eSqh+4E="

static void auth_login_password_format(void **state)
{
    (void)state;
    char out[QTD_AUTH_PASSWORD_MAX];
    assert_int_equal(qtd_auth_login_password(DS, PS, RAND, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "1;0000;" RAND ";" LOGIN_SIGN);
    /* the flag is not part of the signature */
    assert_int_equal(qtd_auth_login_password(DS, PS, RAND, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "1;0001;" RAND ";" LOGIN_SIGN);
}

static void auth_login_password_refusals(void **state)
{
    (void)state;
    char out[QTD_AUTH_PASSWORD_MAX];
    assert_int_equal(qtd_auth_login_password(DS, PS, RAND, 2, out, sizeof(out)), -EINVAL);
    assert_int_equal(qtd_auth_login_password(DS, PS, RAND, -1, out, sizeof(out)), -EINVAL);
    assert_int_equal(qtd_auth_login_password("", PS, RAND, 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(qtd_auth_login_password(DS, "", RAND, 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(qtd_auth_login_password(DS, PS, "a;b", 0, out, sizeof(out)), -EINVAL);
    /* 1;0000; (7) + 16 + ; + 44 = 68 characters and a NUL */
    assert_int_equal(qtd_auth_login_password(DS, PS, RAND, 0, out, 68), -E2BIG);
    assert_int_equal(qtd_auth_login_password(DS, PS, RAND, 0, out, 69), 0);
}

static void auth_login_ok_checks_sign(void **state)
{
    (void)state;
    qtd_auth_parsed_t p;
    assert_int_equal(qtd_auth_parse("1;0001;" RAND ";" LOGIN_SIGN, &p), 0);
    assert_int_equal(p.kind, 1);
    assert_int_equal(p.flag, 1);
    assert_string_equal(p.rand, RAND);
    assert_string_equal(p.sign, LOGIN_SIGN);
    assert_true(qtd_auth_login_ok(&p, DS, PS));
    assert_false(qtd_auth_login_ok(&p, DS "x", PS));
    assert_false(qtd_auth_login_ok(&p, DS, "VnhyeE5EanJrSGUzWXYy"));

    char out[QTD_AUTH_PASSWORD_MAX];
    char rnd[QTD_AUTH_RAND_LEN + 1];
    assert_int_equal(qtd_auth_rand(rnd), 0);
    assert_int_equal(qtd_auth_login_password(DS, PS, rnd, 0, out, sizeof(out)), 0);
    assert_int_equal(qtd_auth_parse(out, &p), 0);
    assert_true(qtd_auth_login_ok(&p, DS, PS));
}

static void auth_register_password_vector(void **state)
{
    (void)state;
    char out[QTD_AUTH_PASSWORD_MAX];
    assert_int_equal(qtd_auth_register_password(PK, PS, DK, RAND, 0, out, sizeof(out)), 0);
    assert_string_equal(out, "0;0000;" PK ";" REG_ENC);
    assert_int_equal(qtd_auth_register_password(PK, PS, DK, RAND, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "0;0001;" PK ";" REG_ENC);
}

static void auth_register_round_trip(void **state)
{
    (void)state;
    char out[QTD_AUTH_PASSWORD_MAX];
    char rnd[QTD_AUTH_RAND_LEN + 1];
    qtd_auth_parsed_t p;
    assert_int_equal(qtd_auth_rand(rnd), 0);
    assert_int_equal(qtd_auth_register_password(PK, PS, DK, rnd, 1, out, sizeof(out)), 0);
    assert_int_equal(qtd_auth_parse(out, &p), 0);
    assert_int_equal(p.kind, 0);
    assert_int_equal(p.flag, 1);
    assert_string_equal(p.pk, PK);
    assert_int_equal(qtd_auth_register_check(&p, PS, DK), 0);
    /* wrong PS: another key (first 16 bytes differ) or the same key but another IV */
    assert_int_equal(qtd_auth_register_check(&p, "XnhyeE5EanJrSGUzWXYZ", DK), -EACCES);
    assert_int_equal(qtd_auth_register_check(&p, "VnhyeE5EanJrSGUzWXYA", DK), -EACCES);
    /* wrong DK */
    assert_int_equal(qtd_auth_register_check(&p, PS, "866123456789013"), -EACCES);
    /* the pasted vector checks too */
    assert_int_equal(qtd_auth_parse("0;0000;" PK ";" REG_ENC, &p), 0);
    assert_int_equal(qtd_auth_register_check(&p, PS, DK), 0);
    /* a damaged ENC */
    assert_int_equal(qtd_auth_parse("0;0000;" PK ";AAAA" REG_ENC, &p), 0);
    assert_int_equal(qtd_auth_register_check(&p, PS, DK), -EACCES);
    assert_int_equal(qtd_auth_parse("0;0000;" PK ";not*base64", &p), 0);
    assert_int_equal(qtd_auth_register_check(&p, PS, DK), -EACCES);
    /* a login password is not a registration */
    assert_int_equal(qtd_auth_parse("1;0000;" RAND ";" LOGIN_SIGN, &p), 0);
    assert_int_equal(qtd_auth_register_check(&p, PS, DK), -EINVAL);
}

static void auth_register_refusals(void **state)
{
    (void)state;
    char out[QTD_AUTH_PASSWORD_MAX];
    /* PS shorter than the 16-byte key */
    assert_int_equal(qtd_auth_register_password(PK, "short", DK, RAND, 0, out, sizeof(out)),
                     -EINVAL);
    assert_int_equal(qtd_auth_register_password(PK, PS, DK, RAND, 2, out, sizeof(out)), -EINVAL);
    assert_int_equal(qtd_auth_register_password("", PS, DK, RAND, 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(qtd_auth_register_password(PK, PS, "a;b", RAND, 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(qtd_auth_register_password(PK, PS, DK, RAND, 0, out, 20), -E2BIG);
}

static void auth_parse_flags(void **state)
{
    (void)state;
    qtd_auth_parsed_t p;
    assert_int_equal(qtd_auth_parse("1;0000;" RAND ";" LOGIN_SIGN, &p), 0);
    assert_int_equal(p.flag, 0);
    assert_int_equal(qtd_auth_parse("1;0001;" RAND ";" LOGIN_SIGN, &p), 0);
    assert_int_equal(p.flag, 1);
    assert_int_equal(qtd_auth_parse("1;0002;" RAND ";" LOGIN_SIGN, &p), -ERANGE);
    assert_int_equal(qtd_auth_parse("0;0002;" PK ";" REG_ENC, &p), -ERANGE);
    assert_int_equal(qtd_auth_parse("1;1;" RAND ";" LOGIN_SIGN, &p), -ERANGE);
    assert_int_equal(qtd_auth_parse("1;00001;" RAND ";" LOGIN_SIGN, &p), -ERANGE);
}

static void auth_parse_refuses_malformed(void **state)
{
    (void)state;
    qtd_auth_parsed_t p;
    assert_int_equal(qtd_auth_parse("", &p), -EINVAL);
    assert_int_equal(qtd_auth_parse("1;0000;" RAND, &p), -EINVAL);
    assert_int_equal(qtd_auth_parse("1;0000;" RAND ";" LOGIN_SIGN ";x", &p), -EINVAL);
    assert_int_equal(qtd_auth_parse("2;0000;" RAND ";" LOGIN_SIGN, &p), -EINVAL);
    assert_int_equal(qtd_auth_parse("1;0000;;" LOGIN_SIGN, &p), -EINVAL);
    assert_int_equal(qtd_auth_parse("1;0000;" RAND ";", &p), -EINVAL);
    char longpw[QTD_AUTH_PASSWORD_MAX + 2];
    memset(longpw, 'A', sizeof(longpw) - 1);
    longpw[sizeof(longpw) - 1] = '\0';
    memcpy(longpw, "1;0000;x;", 9);
    assert_int_equal(qtd_auth_parse(longpw, &p), -EINVAL);
}

static void auth_rand_charset_and_length(void **state)
{
    (void)state;
    int seen[256] = {0};
    for (int round = 0; round < 2000; round++) {
        char r[QTD_AUTH_RAND_LEN + 1];
        memset(r, 'x', sizeof(r));
        assert_int_equal(qtd_auth_rand(r), 0);
        assert_int_equal(strlen(r), QTD_AUTH_RAND_LEN);
        for (int i = 0; i < QTD_AUTH_RAND_LEN; i++) {
            unsigned char c = (unsigned char)r[i];
            assert_true((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'));
            seen[c]++;
        }
    }
    /* 32000 draws over 62 characters: every one shows up */
    int distinct = 0;
    for (int c = 0; c < 256; c++) {
        distinct += seen[c] > 0;
    }
    assert_int_equal(distinct, 62);
}

/* key 00 01 .. 0f; IV = SHA256(key)[0:16]:
 * printf 000102030405060708090a0b0c0d0e0f | xxd -r -p | openssl dgst -sha256
 *   -> be45cb2605bf36bebde684841a28f0fd 43c69850a3dce5fedba69928ee3a8991 */
static const uint8_t key16[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                  0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
static const uint8_t key16_iv[16] = {0xbe, 0x45, 0xcb, 0x26, 0x05, 0xbf, 0x36, 0xbe,
                                     0xbd, 0xe6, 0x84, 0x84, 0x1a, 0x28, 0xf0, 0xfd};

static void auth_iv_is_sha256_prefix(void **state)
{
    (void)state;
    uint8_t iv[16];
    qtd_auth_iv(key16, sizeof(key16), iv);
    assert_memory_equal(iv, key16_iv, 16);
    /* of a text key: printf VnhyeE5EanJrSGUzWXYZ | openssl dgst -sha256 */
    static const uint8_t ps_iv[16] = {0xb5, 0x19, 0x33, 0x42, 0xac, 0x06, 0x3d, 0x63,
                                      0xfa, 0xae, 0x5d, 0x72, 0xad, 0xc9, 0xcd, 0xe6};
    qtd_auth_iv((const uint8_t *)PS, strlen(PS), iv);
    assert_memory_equal(iv, ps_iv, 16);
}

static void auth_aes_vector(void **state)
{
    (void)state;
    /* printf 'hello qthingd' | openssl enc -aes-128-cbc -K 000102030405060708090a0b0c0d0e0f
     *   -iv be45cb2605bf36bebde684841a28f0fd | xxd -i */
    static const uint8_t want[16] = {0x90, 0xda, 0x9a, 0x49, 0xbd, 0xd3, 0xee, 0xfb,
                                     0xe4, 0x00, 0x50, 0x14, 0x3a, 0xf1, 0xc0, 0xab};
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(
        qtd_aes128cbc(true, key16, key16_iv, (const uint8_t *)"hello qthingd", 13, &out, &len), 0);
    assert_int_equal(len, 16);
    assert_memory_equal(out, want, 16);
    free(out);
    /* an empty input is one block of padding: printf '' | openssl enc ... */
    static const uint8_t empty[16] = {0xff, 0x86, 0xf8, 0x1f, 0xb6, 0xfb, 0x3d, 0x45,
                                      0xd6, 0x73, 0x18, 0x04, 0x24, 0x89, 0xdf, 0xf4};
    assert_int_equal(qtd_aes128cbc(true, key16, key16_iv, NULL, 0, &out, &len), 0);
    assert_int_equal(len, 16);
    assert_memory_equal(out, empty, 16);
    free(out);
}

static void auth_session_key_vector(void **state)
{
    (void)state;
    /* 0x00B4 id 6: the session key encrypted with key DS[0:16], IV SHA256(DS)[0:16]:
     * printf 0123456789abcdef | openssl enc -aes-128-cbc -K 61316232633364346535663630373138
     *   -iv ff25d2389ab7917a77cc0c3546331401 | xxd -i */
    static const uint8_t wire[32] = {0x6d, 0xa1, 0xd2, 0x15, 0xdc, 0xaf, 0xdf, 0x74,
                                     0x0c, 0xab, 0xcf, 0x16, 0x47, 0x64, 0xbf, 0xff,
                                     0x2a, 0x91, 0x3a, 0xb9, 0x98, 0x3a, 0x3e, 0x51,
                                     0x66, 0x2e, 0x3e, 0x6e, 0xdd, 0x7a, 0x47, 0x20};
    uint8_t iv[16];
    qtd_auth_iv((const uint8_t *)DS, strlen(DS), iv);
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(qtd_aes128cbc(false, (const uint8_t *)DS, iv, wire, sizeof(wire), &out, &len),
                     0);
    assert_int_equal(len, 16);
    assert_memory_equal(out, "0123456789abcdef", 16);
    free(out);
}

static void auth_aes_round_trip(void **state)
{
    (void)state;
    uint8_t plain[100];
    for (size_t i = 0; i < sizeof(plain); i++) {
        plain[i] = (uint8_t)(i * 7);
    }
    for (size_t n = 0; n <= sizeof(plain); n++) {
        uint8_t *enc = NULL;
        size_t enc_len = 0;
        assert_int_equal(qtd_aes128cbc(true, key16, key16_iv, plain, n, &enc, &enc_len), 0);
        assert_int_equal(enc_len, (n / 16 + 1) * 16); /* PKCS#7 always pads */
        uint8_t *dec = NULL;
        size_t dec_len = 0;
        assert_int_equal(qtd_aes128cbc(false, key16, key16_iv, enc, enc_len, &dec, &dec_len), 0);
        assert_int_equal(dec_len, n);
        assert_memory_equal(dec, plain, n);
        free(enc);
        free(dec);
    }
}

static void auth_aes_wrong_key_fails(void **state)
{
    (void)state;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    assert_int_equal(
        qtd_aes128cbc(true, key16, key16_iv, (const uint8_t *)"hello qthingd", 13, &enc, &enc_len),
        0);
    uint8_t wrong[16];
    memcpy(wrong, key16, 16);
    wrong[0] ^= 1;
    uint8_t *dec = (uint8_t *)&dec;
    size_t dec_len = 1;
    assert_int_equal(qtd_aes128cbc(false, wrong, key16_iv, enc, enc_len, &dec, &dec_len), -EIO);
    assert_null(dec);
    assert_int_equal(dec_len, 0);
    /* not a whole number of blocks */
    assert_int_equal(qtd_aes128cbc(false, key16, key16_iv, enc, enc_len - 1, &dec, &dec_len), -EIO);
    assert_int_equal(qtd_aes128cbc(false, key16, key16_iv, enc, 0, &dec, &dec_len), -EIO);
    free(enc);
}

#define TESTS(X)                                                                                   \
    X(auth_login_password_format)                                                                  \
    X(auth_login_password_refusals)                                                                \
    X(auth_login_ok_checks_sign)                                                                   \
    X(auth_register_password_vector)                                                               \
    X(auth_register_round_trip)                                                                    \
    X(auth_register_refusals)                                                                      \
    X(auth_parse_flags)                                                                            \
    X(auth_parse_refuses_malformed)                                                                \
    X(auth_rand_charset_and_length)                                                                \
    X(auth_iv_is_sha256_prefix)                                                                    \
    X(auth_aes_vector)                                                                             \
    X(auth_session_key_vector)                                                                     \
    X(auth_aes_round_trip)                                                                         \
    X(auth_aes_wrong_key_fails)

#define AS_TEST(name) cmocka_unit_test(name),

int main(void)
{
    const struct CMUnitTest tests[] = {TESTS(AS_TEST)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
