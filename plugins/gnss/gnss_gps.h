/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libgps (gpsd's client library), loaded when a gpsd source first opens (qtd_lazylib.h)
 * instead of linked: an agent reading a serial receiver or a file, or none, does not map
 * libgps and what it pulls in (D-Bus, libstdc++, libsystemd: about 1.7 MiB of PSS). The
 * plugin's code calls the gps_* names as usual: after this header they are the members of
 * gnss_gps, each of libgps's own prototype. Include this header instead of <gps.h>.
 */
#ifndef QTD_PLUGINS_GNSS_GNSS_GPS_H
#define QTD_PLUGINS_GNSS_GNSS_GPS_H

#include <stddef.h>

#include <gps.h>

#include "qtd_lazylib.h"

/* X(member, libgps's function): every function of libgps the plugin calls. */
#define GNSS_GPS_FUNCS(X)                                                                          \
    X(open, gps_open)                                                                              \
    X(close, gps_close)                                                                            \
    X(read, gps_read)                                                                              \
    X(waiting, gps_waiting)                                                                        \
    X(stream, gps_stream)                                                                          \
    X(errstr, gps_errstr)

typedef struct {
    GNSS_GPS_FUNCS(QTD_LAZY_FIELD)
} gnss_gps_t;

extern gnss_gps_t gnss_gps;

/* Load libgps (once; a failed load is tried again at the next call).
 * Returns: 0, or -1 with the reason (what to install) in err. */
int gnss_gps_load(char *err, size_t len);

#define gps_open gnss_gps.open
#define gps_close gnss_gps.close
#define gps_read gnss_gps.read
#define gps_waiting gnss_gps.waiting
#define gps_stream gnss_gps.stream
#define gps_errstr gnss_gps.errstr

#endif /* QTD_PLUGINS_GNSS_GNSS_GPS_H */
