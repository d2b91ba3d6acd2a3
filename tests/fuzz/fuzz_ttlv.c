/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for TTLV (plugins/cloud/cloud_ttlv.c): decode arbitrary bytes; when that
 * succeeds, encode the tree and decode it again. The second tree must equal the first, where
 * a DOUBLE whose value is a whole number may come back as the INT of the same value (12.0 is
 * sent with 0 decimal places), and re-encoding the second tree must give the same bytes as
 * the first encoding (the encoder's output is canonical). Any difference traps.
 *   clang -g -fsanitize=fuzzer,address,undefined -Iplugins/cloud -Iagent/include
 *         tests/fuzz/fuzz_ttlv.c plugins/cloud/cloud_ttlv.c -o fuzz_ttlv
 */
#include <stdbool.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_ttlv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_number(const qtd_value_t *a, const qtd_value_t *b)
{
    if (a->type == QTD_VAL_INT && b->type == QTD_VAL_INT) {
        return a->u.i == b->u.i;
    }
    double x = a->type == QTD_VAL_INT ? (double)a->u.i : a->u.d;
    double y = b->type == QTD_VAL_INT ? (double)b->u.i : b->u.d;
    /* an INT stands for a DOUBLE only when the conversion is exact */
    if (a->type == QTD_VAL_INT && (int64_t)x != a->u.i) {
        return false;
    }
    if (b->type == QTD_VAL_INT && (int64_t)y != b->u.i) {
        return false;
    }
    return x == y;
}

static bool is_number(const qtd_value_t *v)
{
    return v->type == QTD_VAL_INT || v->type == QTD_VAL_DOUBLE;
}

static bool same(const qtd_value_t *a, const qtd_value_t *b)
{
    if (a->id != b->id) {
        return false;
    }
    if (is_number(a) && is_number(b)) {
        return same_number(a, b);
    }
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case QTD_VAL_BOOL:
        return a->u.b == b->u.b;
    case QTD_VAL_STRING:
    case QTD_VAL_BYTES:
        if (a->u.s.ptr[a->u.s.len] != '\0' || b->u.s.ptr[b->u.s.len] != '\0') {
            return false;
        }
        return a->u.s.len == b->u.s.len && memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0;
    case QTD_VAL_STRUCT:
    case QTD_VAL_ARRAY:
        if (a->u.list.count != b->u.list.count) {
            return false;
        }
        for (size_t i = 0; i < a->u.list.count; i++) {
            if (!same(&a->u.list.items[i], &b->u.list.items[i])) {
                return false;
            }
        }
        return true;
    default:
        return false;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qtd_value_t t1;
    qtd_value_t t2;
    uint8_t *e1 = NULL;
    uint8_t *e2 = NULL;
    size_t n1 = 0;
    size_t n2 = 0;
    size_t off = 0;

    int rc = qtd_ttlv_decode(data, size, &t1, &off);
    if (rc != 0) {
        if (t1.type != QTD_VAL_NONE || (rc != -ENOMEM && off > size)) {
            /* a refusal keeps nothing and points into the input (or at its end) */
            __builtin_trap();
        }
        return 0;
    }
    if (qtd_ttlv_encode(&t1, &e1, &n1) != 0) {
        __builtin_trap(); /* whatever decodes must encode */
    }
    if (qtd_ttlv_decode(e1, n1, &t2, &off) != 0 || !same(&t1, &t2)) {
        __builtin_trap();
    }
    if (qtd_ttlv_encode(&t2, &e2, &n2) != 0 || n2 != n1 || memcmp(e1, e2, n1) != 0) {
        __builtin_trap();
    }
    qtd_ttlv_free(&t1);
    qtd_ttlv_free(&t2);
    free(e1);
    free(e2);
    return 0;
}
