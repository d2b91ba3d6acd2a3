/* SPDX-License-Identifier: Apache-2.0 */
/* libgps loaded when a gpsd source first opens (gnss_gps.h). */
#include "gnss_gps.h"

#include <stdio.h>

gnss_gps_t gnss_gps;

static qtd_lazylib_t lib = {.soname = QTD_GPS_SONAME, .package = QTD_GPS_PACKAGE};

static void resolve(qtd_lazylib_t *l, void *table)
{
    gnss_gps_t *t = table;
#define X(member, fn) t->member = (__typeof__(t->member))qtd_lazylib_sym(l, #fn);
    GNSS_GPS_FUNCS(X)
#undef X
}

int gnss_gps_load(char *err, size_t len)
{
    if (qtd_lazylib_load(&lib, resolve, &gnss_gps) != 0) {
        snprintf(err, len, "%s", lib.error);
        return -1;
    }
    return 0;
}
