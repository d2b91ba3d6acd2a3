/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl loaded at the first transfer (httpota_curl.h). */
#include "httpota_curl.h"

#include <stdio.h>

httpota_curl_t httpota_curl;

static qtd_lazylib_t lib = {.soname = QTD_CURL_SONAME, .package = QTD_CURL_PACKAGE};

static void resolve(qtd_lazylib_t *l, void *table)
{
    httpota_curl_t *t = table;
#define X(member, fn) t->member = (__typeof__(t->member))qtd_lazylib_sym(l, #fn);
    HTTPOTA_CURL_FUNCS(X)
#undef X
}

int httpota_curl_load(char *err, size_t len)
{
    static bool initialised;
    if (qtd_lazylib_load(&lib, resolve, &httpota_curl) != 0) {
        snprintf(err, len, "%s", lib.error);
        return -1;
    }
    if (!initialised) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, len, "libcurl would not start (curl_global_init failed)");
            return -1;
        }
        initialised = true;
    }
    return 0;
}
