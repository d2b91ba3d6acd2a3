/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checks the fuzz targets make of what a parser gave back, written apart from the parsers
 * they check (an oracle that shares the parser's code would share its bugs).
 */
#ifndef QTD_TESTS_FUZZ_FUZZ_CHECK_H
#define QTD_TESTS_FUZZ_FUZZ_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* s is exactly n lower-case hex digits. */
static inline bool fuzz_lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

#endif /* QTD_TESTS_FUZZ_FUZZ_CHECK_H */
