/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl loaded at the first transfer (httpota_curl.h). */
#include "httpota_curl.h"

#include <stdio.h>

QTD_LAZYLIB_DEFINE(httpota_curl_t, httpota_curl, HTTPOTA_CURL_FUNCS, QTD_CURL_SONAME,
                   QTD_CURL_PACKAGE)

int httpota_curl_load(char *err, size_t len)
{
    static bool initialised;
    if (qtd_lazylib_load(&httpota_curl_lib, httpota_curl_resolve, &httpota_curl, err, len) != 0) {
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
