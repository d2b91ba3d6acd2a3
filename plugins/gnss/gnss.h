/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The GNSS plugin's instance, shared by its files: gnss.c (configuration, life cycle, the
 * sources: a serial receiver, gpsd, a file replayed), gnss_loc.c (table 2's types, the
 * location service, LBS from the modem, the report policies) and gnss_lua.c (the seed's
 * quecIot location functions and the `gnss` module).
 */
#ifndef QTD_GNSS_H
#define QTD_GNSS_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "gnss_nmea.h"
#include "qthingd/location.h"
#include "qthingd/modem.h"
#include "qthingd/plugin.h"
#include "qthingd/thing.h"

#define GNSS_LOG(g, lvl, ...) (g)->api->log((g)->host, (lvl), __VA_ARGS__)
#define GNSS_MAX_CELLS 7 /* the serving cell and up to 6 neighbours (the SDK's) */
#define GNSS_REPORT_MAX 2048

typedef struct {
    const char *source; /* none | serial | gpsd | file */
    const char *device;
    int64_t baud;
    double rate; /* file: lines per second */
    bool loop;   /* file: again from the start at its end */
    int64_t silence_s;
    bool lbs;
    int64_t lbs_poll_s;
    int64_t report_every_s;
    double report_distance_m;
    double report_heading_deg;
    int64_t report_min_interval_s;
    const char *report_types;
} gnss_cfg_t;

typedef struct gnss_s {
    const qtd_host_api_t *api;
    qtd_host_t *host;
    const gnss_cfg_t *cfg;
    uv_loop_t *loop;
    const qtd_thing_api_t *thing;
    void *cloud;
    const qtd_modem_api_t *modem;
    void *modem_self;

    nmea_store_t store;
    nmea_framer_t framer;
    bool has_source; /* a receiver source is configured */

    /* the source */
    int fd;
    uv_poll_t poll;
    bool poll_open;
    uv_timer_t timer; /* file replay, reconnects, silence */
    bool timer_open;
    FILE *file;
    void *gps;          /* struct gps_data_t * (gpsd) */
    qtd_timer_t *watch; /* silence and time-based reports, every second */
    uint64_t last_sentence_ms;
    bool silent; /* logged as silent */

    /* malformed sentences, logged at most once per 10 s */
    uint64_t bad, bad_quiet, bad_logged_ms;
    uint64_t good;

    /* LBS */
    nmea_cell_t cells[GNSS_MAX_CELLS];
    size_t n_cells;
    bool lbs_asking;
    qtd_timer_t *lbs_timer;

    /* report policies: report_types split once, at create() */
    char report_buf[256];
    const char *report_list[32];
    size_t n_report;
    uint64_t last_report_ms;
    double last_lat, last_lon, last_course;
    bool reported_once;
    bool course_ref;  /* last_course holds a course */
    bool open_failed; /* the source's last open failed (logged once) */
    bool stopping;
} gnss_t;

/* A checked sentence from any source: stored, the fix updated, the policies applied. */
void gnss_sentence(gnss_t *g, const char *s, size_t n);
/* Bytes from a byte-stream source (serial, gpsd, a file). */
void gnss_bytes(gnss_t *g, const char *data, size_t n);

/* gnss_loc.c */
extern const qtd_location_api_t gnss_location_api;
/* The types table 2 names that the sources give now ("NONE", "AUTO", "LBS", "GGA", ...),
 * ';'-separated into buf. */
void gnss_support(gnss_t *g, char *buf, size_t n);
/* The ';'-separated names of text (report_types, a LOC_REQ's titles), empty ones dropped,
 * copied into buf and pointed to by list (at most max). Returns their count. */
size_t gnss_split(const char *text, char *buf, size_t n, const char **list, size_t max);
/* The sentences of a list of types (Lua's getLocData, locReportInside: each a table 2
 * name) appended to out as "s1;s2;". Returns: 0, QTD_EINVAL (*bad: the name not known or
 * not supported), QTD_EMSGSIZE. */
int gnss_collect(gnss_t *g, const char *const *types, size_t n_types, char *out, size_t n,
                 const char **bad);
void gnss_lbs_start(gnss_t *g);
void gnss_lbs_stop(gnss_t *g);
void gnss_policy(gnss_t *g);

/* gnss_lua.c */
int gnss_lua_register(gnss_t *g);

#endif /* QTD_GNSS_H */
