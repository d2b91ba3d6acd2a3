/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A library a plugin calls but maps only when it first needs it (libcurl at the first
 * download, libgps when a gpsd source opens): an agent that never downloads does not pay
 * for libcurl and the two dozen libraries it pulls in. The plugin does not link the
 * library; it compiles against its header and calls it through a table of pointers, each
 * of its function's own type (QTD_LAZY_FIELD), filled from dlsym at the first need. Once
 * loaded a library stays. Loop thread only. Built into the static library qtdserial, with
 * the other code the plugins share.
 */
#ifndef QTD_PLUGINS_COMMON_LAZYLIB_H
#define QTD_PLUGINS_COMMON_LAZYLIB_H

#include <stdbool.h>
#include <stddef.h>

typedef struct qtd_lazylib {
    const char *soname;  /* as the build found it (CMake's qtd_lazy_library) */
    const char *package; /* what installs it, for the error ("libcurl4") */
    void *handle;        /* once the load succeeded */
    /* during a load, for qtd_lazylib_sym: */
    void *opening;
    bool missing; /* a symbol was not found */
    char *err;
    size_t errlen;
} qtd_lazylib_t;

/* One member of a table: a pointer of fn's own type (the header's prototype). */
#define QTD_LAZY_FIELD(member, fn) __typeof__(fn) *member;
/* The assignment of one member in a resolve function whose arguments are named l and t (the
 * table, typed): QTD_LAZY_RESOLVE is the X of the list of functions. */
#define QTD_LAZY_RESOLVE(member, fn) t->member = (__typeof__(t->member))qtd_lazylib_sym(l, #fn);

/* Defines the table TABLE (of TYPE, whose members FUNCS lists), its library TABLE##_lib (the
 * file SONAME, installed by PACKAGE) and TABLE##_resolve, for
 * qtd_lazylib_load(&TABLE##_lib, TABLE##_resolve, &TABLE, err, errlen). */
#define QTD_LAZYLIB_DEFINE(TYPE, TABLE, FUNCS, SONAME, PACKAGE)                                    \
    TYPE TABLE;                                                                                    \
    static qtd_lazylib_t TABLE##_lib = {.soname = SONAME, .package = PACKAGE};                     \
    static void TABLE##_resolve(qtd_lazylib_t *l, void *table)                                     \
    {                                                                                              \
        TYPE *t = table;                                                                           \
        FUNCS(QTD_LAZY_RESOLVE)                                                                    \
    }

/* Load lib and fill its table: resolve(lib, table) assigns every member with
 * qtd_lazylib_sym. A library loaded already returns at once; a failed load is tried again at
 * the next call. Returns: 0, or -1 with what is missing and what to install in err. */
int qtd_lazylib_load(qtd_lazylib_t *lib, void (*resolve)(qtd_lazylib_t *l, void *table),
                     void *table, char *err, size_t errlen);

/* name's address in the library being loaded, or NULL (the load then fails, naming it). */
void *qtd_lazylib_sym(qtd_lazylib_t *lib, const char *name);

#endif /* QTD_PLUGINS_COMMON_LAZYLIB_H */
