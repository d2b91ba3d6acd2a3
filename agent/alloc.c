/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counted allocator. Each block carries a 16-byte header holding its size so that the total
 * in use is known at any time (reported at shutdown and by the memory benchmark). Safe to
 * call from any thread: the counter is atomic.
 */
#include "agent/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef union {
    size_t size;
    max_align_t align;
} header_t;

static _Atomic uint64_t bytes_in_use;

void *qtd_malloc(size_t n)
{
    if (n > SIZE_MAX - sizeof(header_t)) {
        return NULL;
    }
    header_t *h = malloc(sizeof(header_t) + n);
    if (h == NULL) {
        return NULL;
    }
    h->size = n;
    atomic_fetch_add(&bytes_in_use, n);
    return h + 1;
}

void *qtd_calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size) {
        return NULL;
    }
    void *p = qtd_malloc(n * size);
    if (p != NULL) {
        memset(p, 0, n * size);
    }
    return p;
}

void *qtd_realloc(void *p, size_t n)
{
    if (p == NULL) {
        return qtd_malloc(n);
    }
    if (n > SIZE_MAX - sizeof(header_t)) {
        return NULL;
    }
    header_t *h = (header_t *)p - 1;
    size_t old = h->size;
    header_t *nh = realloc(h, sizeof(header_t) + n);
    if (nh == NULL) {
        return NULL;
    }
    nh->size = n;
    atomic_fetch_sub(&bytes_in_use, old);
    atomic_fetch_add(&bytes_in_use, n);
    return nh + 1;
}

void qtd_free(void *p)
{
    if (p == NULL) {
        return;
    }
    header_t *h = (header_t *)p - 1;
    atomic_fetch_sub(&bytes_in_use, h->size);
    free(h);
}

char *qtd_strndup(const char *s, size_t n)
{
    char *d = qtd_malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *qtd_strdup(const char *s)
{
    return s == NULL ? NULL : qtd_strndup(s, strlen(s));
}

size_t qtd_alloc_size(const void *p)
{
    return p == NULL ? 0 : ((const header_t *)p - 1)->size;
}

uint64_t qtd_alloc_bytes(void)
{
    return atomic_load(&bytes_in_use);
}

void *qtd_alloc_capped(size_t *used, size_t cap, size_t extra, void *ptr, size_t osize,
                       size_t nsize)
{
    if (ptr == NULL) {
        osize = 0; /* Lua passes the object type in osize when ptr is NULL */
    }
    if (nsize == 0) {
        qtd_free(ptr);
        *used -= osize;
        return NULL;
    }
    if (cap > 0 && nsize > osize && *used - osize + nsize + extra > cap) {
        return NULL;
    }
    void *np = qtd_realloc(ptr, nsize);
    if (np != NULL) {
        *used = *used - osize + nsize;
    }
    return np;
}
