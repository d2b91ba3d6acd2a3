/* SPDX-License-Identifier: Apache-2.0 */
/* A library loaded at its first need (qtd_lazylib.h). */
#include "qtd_lazylib.h"

#include <dlfcn.h>
#include <stdio.h>

int qtd_lazylib_load(qtd_lazylib_t *lib, void (*resolve)(qtd_lazylib_t *l, void *table),
                     void *table, char *err, size_t errlen)
{
    if (lib->handle != NULL) {
        return 0;
    }
    void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *why = dlerror();
        snprintf(err, errlen, "cannot load %s (%s): install %s", lib->soname,
                 why != NULL ? why : "not found", lib->package);
        return -1;
    }
    lib->opening = h;
    lib->missing = false;
    lib->err = err;
    lib->errlen = errlen;
    resolve(lib, table);
    lib->opening = NULL;
    lib->err = NULL;
    if (lib->missing) {
        dlclose(h);
        return -1;
    }
    lib->handle = h;
    return 0;
}

void *qtd_lazylib_sym(qtd_lazylib_t *lib, const char *name)
{
    void *p = dlsym(lib->opening, name);
    if (p == NULL && !lib->missing) {
        lib->missing = true;
        snprintf(lib->err, lib->errlen,
                 "%s has no %s: it is not the version this agent was built for (install %s)",
                 lib->soname, name, lib->package);
    }
    return p;
}
