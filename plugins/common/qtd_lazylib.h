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

typedef struct qtd_lazylib {
    const char *soname;  /* as the build found it: the plugin's CMake (qtd_soname) */
    const char *package; /* what installs it, for the error ("libcurl4") */
    void *handle;        /* once the load succeeded */
    void *opening;       /* during the load: for qtd_lazylib_sym */
    bool missing;        /* during the load: a symbol was not found */
    char error[320];     /* why the last load failed */
} qtd_lazylib_t;

/* One member of a table: a pointer of fn's own type (the header's prototype). */
#define QTD_LAZY_FIELD(field, fn) __typeof__(fn) *field;

/* Load lib and fill its table: resolve(lib, table) assigns every member with
 * qtd_lazylib_sym. A library loaded already returns at once.
 * Returns: 0, or -1 with lib->error saying what is missing and what to install. */
int qtd_lazylib_load(qtd_lazylib_t *lib, void (*resolve)(qtd_lazylib_t *lib, void *table),
                     void *table);

/* name's address in the library being loaded, or NULL (the load then fails, naming it). */
void *qtd_lazylib_sym(qtd_lazylib_t *lib, const char *name);

#endif /* QTD_PLUGINS_COMMON_LAZYLIB_H */
