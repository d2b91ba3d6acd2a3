/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Byte-string helpers for the codec tests (cmocka): B(0x01, 0x02) expands to a compound
 * literal and its size, and assert_bytes fails the test showing both sides in hex.
 */
#ifndef QTD_TESTS_UNIT_BYTES_H
#define QTD_TESTS_UNIT_BYTES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define B(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static inline void assert_bytes(const uint8_t *got, size_t got_len, const uint8_t *want,
                                size_t want_len)
{
    if (got_len != want_len || (want_len > 0 && memcmp(got, want, want_len) != 0)) {
        fprintf(stderr, "got  (%zu):", got_len);
        for (size_t i = 0; i < got_len && i < 64; i++) {
            fprintf(stderr, " %02X", got[i]);
        }
        fprintf(stderr, "\nwant (%zu):", want_len);
        for (size_t i = 0; i < want_len && i < 64; i++) {
            fprintf(stderr, " %02X", want[i]);
        }
        fprintf(stderr, "\n");
        fail_msg("byte mismatch");
    }
}

#endif
