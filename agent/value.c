/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Value trees (qthingd/events.h): deep copy, release and validation. The bus copies every
 * published value with these, so a publisher's buffers may die as soon as publish returns.
 */
#include "agent/bus.h"

#include <string.h>

#include "agent/alloc.h"

#define MAX_DEPTH 32

static int check(const qtd_value_t *v, int depth)
{
    if (depth > MAX_DEPTH) {
        return QTD_EINVAL;
    }
    switch (v->type) {
    case QTD_VAL_NONE:
    case QTD_VAL_BOOL:
    case QTD_VAL_INT:
    case QTD_VAL_DOUBLE:
        return 0;
    case QTD_VAL_STRING:
    case QTD_VAL_BYTES:
        return v->u.s.len > 0 && v->u.s.ptr == NULL ? QTD_EINVAL : 0;
    case QTD_VAL_STRUCT:
    case QTD_VAL_ARRAY:
        if (v->u.list.count > 0 && v->u.list.items == NULL) {
            return QTD_EINVAL;
        }
        for (size_t i = 0; i < v->u.list.count; i++) {
            int rc = check(&v->u.list.items[i], depth + 1);
            if (rc < 0) {
                return rc;
            }
        }
        return 0;
    default:
        return QTD_EINVAL;
    }
}

int qtd__value_check(const qtd_value_t *v)
{
    return check(v, 0);
}

void qtd__value_clear(qtd_value_t *v)
{
    if (v == NULL) {
        return;
    }
    switch (v->type) {
    case QTD_VAL_STRING:
    case QTD_VAL_BYTES:
        qtd_free((void *)v->u.s.ptr);
        break;
    case QTD_VAL_STRUCT:
    case QTD_VAL_ARRAY:
        for (size_t i = 0; i < v->u.list.count; i++) {
            qtd__value_clear(&v->u.list.items[i]);
        }
        qtd_free(v->u.list.items);
        break;
    default:
        break;
    }
    memset(v, 0, sizeof(*v));
}

/* Copies src into dst; on failure dst holds nothing that needs clearing. */
int qtd__value_copy(const qtd_value_t *src, qtd_value_t *dst)
{
    *dst = *src;
    switch (src->type) {
    case QTD_VAL_STRING:
    case QTD_VAL_BYTES: {
        char *p = qtd_malloc(src->u.s.len + 1);
        if (p == NULL) {
            goto fail;
        }
        if (src->u.s.len > 0) {
            memcpy(p, src->u.s.ptr, src->u.s.len);
        }
        p[src->u.s.len] = '\0';
        dst->u.s.ptr = p;
        return 0;
    }
    case QTD_VAL_STRUCT:
    case QTD_VAL_ARRAY: {
        size_t n = src->u.list.count;
        dst->u.list.items = NULL;
        dst->u.list.count = 0;
        if (n == 0) {
            return 0;
        }
        qtd_value_t *items = qtd_calloc(n, sizeof(*items));
        if (items == NULL) {
            goto fail;
        }
        dst->u.list.items = items;
        for (size_t i = 0; i < n; i++) {
            int rc = qtd__value_copy(&src->u.list.items[i], &items[i]);
            if (rc < 0) {
                qtd__value_clear(dst);
                return rc;
            }
            dst->u.list.count = i + 1;
        }
        return 0;
    }
    default:
        return 0;
    }
fail:
    memset(dst, 0, sizeof(*dst));
    return QTD_ENOMEM;
}

bool qtd__value_equal(const qtd_value_t *a, const qtd_value_t *b)
{
    if (a->type != b->type || a->id != b->id) {
        return false;
    }
    switch (a->type) {
    case QTD_VAL_BOOL:
        return a->u.b == b->u.b;
    case QTD_VAL_INT:
        return a->u.i == b->u.i;
    case QTD_VAL_DOUBLE:
        return a->u.d == b->u.d;
    case QTD_VAL_STRING:
    case QTD_VAL_BYTES:
        return a->u.s.len == b->u.s.len && memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0;
    case QTD_VAL_STRUCT:
    case QTD_VAL_ARRAY:
        if (a->u.list.count != b->u.list.count) {
            return false;
        }
        for (size_t i = 0; i < a->u.list.count; i++) {
            if (!qtd__value_equal(&a->u.list.items[i], &b->u.list.items[i])) {
                return false;
            }
        }
        return true;
    default:
        return true;
    }
}
