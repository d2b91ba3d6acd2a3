/* SPDX-License-Identifier: Apache-2.0 */
/* libgps loaded when a gpsd source first opens (gnss_gps.h). */
#include "gnss_gps.h"

QTD_LAZYLIB_DEFINE(gnss_gps_t, gnss_gps, GNSS_GPS_FUNCS, QTD_GPS_SONAME, QTD_GPS_PACKAGE)

int gnss_gps_load(char *err, size_t len)
{
    return qtd_lazylib_load(&gnss_gps_lib, gnss_gps_resolve, &gnss_gps, err, len);
}
