/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's allocator: thin counted wrappers around malloc so that memory is attributed
 * (per plugin through the host API, in total here). Everything the agent allocates goes
 * through these; memory from qtd_malloc is released with qtd_free, never free().
 */
#ifndef QTD_AGENT_ALLOC_H
#define QTD_AGENT_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *qtd_malloc(size_t n);
void *qtd_calloc(size_t n, size_t size);
void *qtd_realloc(void *p, size_t n);
void qtd_free(void *p);
char *qtd_strdup(const char *s);
char *qtd_strndup(const char *s, size_t n);
/* An allocator in the shape of Lua's lua_Alloc, capped: *used counts the bytes it holds;
 * growing *used + extra beyond cap (when cap > 0) fails with NULL, shrinking and freeing
 * never fail. For Lua states whose memory must stay bounded (the script, the config). */
void *qtd_alloc_capped(size_t *used, size_t cap, size_t extra, void *ptr, size_t osize,
                       size_t nsize);
/* Size requested for a block from qtd_malloc (0 for NULL). */
size_t qtd_alloc_size(const void *p);
/* Bytes currently allocated through these functions. */
uint64_t qtd_alloc_bytes(void);

#endif /* QTD_AGENT_ALLOC_H */
