/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "location" service: where the device is, as the sentences of the seed's table 2
 * (NMEA from a receiver, $LBS lines from the modem's cells). The GNSS plugin provides it;
 * the cloud plugin looks it up (optional) to answer the platform's location requests
 * (LOC_REQ 0x0123) and its info id 12. Installed beside plugin.h; the table only grows at
 * its end.
 */
#ifndef QTD_QTHINGD_LOCATION_H
#define QTD_QTHINGD_LOCATION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QTD_LOCATION_SERVICE "location"

typedef struct qtd_location_api_s {
    uint32_t size; /* sizeof(qtd_location_api_t) as the provider was built */
    uint32_t reserved;
    /* The types of table 2 the sources provide now, ';'-separated ("NONE;AUTO;LBS;GGA;RMC"),
     * into buf (NUL-terminated, cut to n). Returns: 0. */
    int (*support)(void *self, char *buf, size_t n);
    /* The latest sentences for titles (table 2 names, ';'-separated, as the platform's
     * LOC_REQ carries them) into out as "s1;s2;" (NUL-terminated; "" when the sources have
     * none of them). Returns: 0, QTD_EINVAL (no title, AUTO with others, a title twice or
     * one containing another: the platform's request is refused), QTD_EMSGSIZE (n too
     * small). */
    int (*sentences)(void *self, const char *titles, char *out, size_t n);
} qtd_location_api_t;

#define QTD_LOCATION_API_V1_SIZE (offsetof(qtd_location_api_t, sentences) + sizeof(void *))

#ifdef __cplusplus
}
#endif
#endif /* QTD_QTHINGD_LOCATION_H */
