/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the GNSS plugin gives out: the types of table 2 its sources provide, the sentences
 * of a list of types (the Lua functions, the location service for the platform's
 * LOC_REQ), the $LBS lines of the modem's cells (read every lbs_poll_s through the modem
 * service), and the report policies (every N s, on distance, on heading, at most every M s
 * while moving). AUTO: for the script and the policies GGA and RMC with a fix, else LBS;
 * for the platform's request, as the SDK does, GGA, else LBS.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gnss.h"

static const char *const table2_types[] = {"GGA", "RMC", "GSV", "GSA", "VTG"};
static const char *const table2_talkers[] = {"GP", "BD", "GL", "GA", "GN"};

size_t gnss_split(const char *text, char *buf, size_t n, const char **list, size_t max)
{
    size_t count = 0;
    snprintf(buf, n, "%s", text);
    for (char *save = NULL, *w = strtok_r(buf, ";", &save); w != NULL && count < max;
         w = strtok_r(NULL, ";", &save)) {
        list[count++] = w;
    }
    return count;
}

static void add(char *buf, size_t n, const char *word)
{
    size_t used = strlen(buf);
    snprintf(buf + used, n - used, "%s%s", used > 0 ? ";" : "", word);
}

static bool seen(const gnss_t *g, int talker, int type)
{
    return type == NMEA_GSV ? g->store.gsv_n[talker] > 0 : g->store.seq[talker][type] > 0;
}

void gnss_support(gnss_t *g, char *buf, size_t n)
{
    buf[0] = '\0';
    add(buf, n, "NONE");
    add(buf, n, "AUTO");
    if (g->n_cells > 0) {
        add(buf, n, "LBS");
    }
    for (int type = 0; type < NMEA_TYPES; type++) {
        bool any = false;
        for (int t = 0; t < NMEA_TALKERS; t++) {
            any |= seen(g, t, type);
        }
        if (any) {
            add(buf, n, table2_types[type]);
        }
    }
    for (int t = 0; t < NMEA_TALKERS; t++) {
        for (int type = 0; type < NMEA_TYPES; type++) {
            if (seen(g, t, type)) {
                char name[8];
                snprintf(name, sizeof(name), "%s%s", table2_talkers[t], table2_types[type]);
                add(buf, n, name);
            }
        }
    }
}

/* The LBS lines (the serving cell, then the neighbours in reverse order, as the SDK) appended
 * to out. Returns how many, or -1 when out is too small. */
static int lbs_lines(const gnss_t *g, char *out, size_t n)
{
    size_t used = strlen(out);
    for (size_t k = 0; k < g->n_cells; k++) {
        const nmea_cell_t *c = k == 0 ? &g->cells[0] : &g->cells[g->n_cells - k];
        char line[96];
        size_t len = nmea_lbs_line(c, line, sizeof(line));
        if (len == 0 || used + len + 2 > n) {
            return -1;
        }
        memcpy(out + used, line, len);
        out[used + len] = ';';
        used += len + 1;
        out[used] = '\0';
    }
    return (int)g->n_cells;
}

/* One type's sentences appended to out. sdk_auto: AUTO as the SDK's LOC_REQ (GGA, else
 * LBS), else ours (GGA and RMC with a fix, else LBS). */
static int collect_one(gnss_t *g, const char *type, bool sdk_auto, char *out, size_t n)
{
    int talker, t;
    if (strcmp(type, "NONE") == 0) {
        return 0;
    }
    if (strcmp(type, "LBS") == 0) {
        return g->n_cells == 0 ? QTD_EINVAL : lbs_lines(g, out, n) < 0 ? QTD_EMSGSIZE : 0;
    }
    if (strcmp(type, "AUTO") == 0) {
        size_t before = strlen(out);
        if (sdk_auto ? nmea_store_get(&g->store, -1, NMEA_GGA, out, n) > 0
                     : g->store.fix.valid && nmea_store_get(&g->store, -1, NMEA_GGA, out, n) > 0) {
            if (!sdk_auto) {
                (void)nmea_store_get(&g->store, -1, NMEA_RMC, out, n);
            }
            return 0;
        }
        out[before] = '\0';
        return g->n_cells > 0 && lbs_lines(g, out, n) < 0 ? QTD_EMSGSIZE : 0;
    }
    if (!nmea_type_of(type, &talker, &t)) {
        return QTD_EINVAL;
    }
    (void)nmea_store_get(&g->store, talker, t, out, n); /* none yet: nothing */
    return 0;
}

int gnss_collect(gnss_t *g, const char *const *types, size_t n_types, char *out, size_t n,
                 const char **bad)
{
    out[0] = '\0';
    for (size_t i = 0; i < n_types; i++) {
        int rc = collect_one(g, types[i], false, out, n);
        if (rc != 0) {
            *bad = types[i];
            return rc;
        }
    }
    return 0;
}

/* ---- the location service (the platform's LOC_REQ, info id 12) -------------------- */

static int svc_support(void *self, char *buf, size_t n)
{
    gnss_support(self, buf, n);
    return 0;
}

static int svc_sentences(void *self, const char *titles, char *out, size_t n)
{
    gnss_t *g = self;
    char copy[512];
    const char *words[32];
    size_t count = gnss_split(titles, copy, sizeof(copy), words, 32);
    if (count == 0) {
        return QTD_EINVAL;
    }
    for (size_t i = 0; i < count; i++) {
        if (strcmp(words[i], "AUTO") == 0 && count > 1) {
            return QTD_EINVAL;
        }
        for (size_t k = 0; k < count; k++) {
            if (k != i && (strstr(words[i], words[k]) != NULL || strstr(words[k], words[i]))) {
                return QTD_EINVAL; /* "GGA" with "GPGGA", or a title twice: the SDK's clash */
            }
        }
    }
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        int rc = collect_one(g, words[i], true, out, n);
        if (rc == QTD_EMSGSIZE) {
            return rc;
        }
        /* a title the sources do not have adds nothing */
    }
    return 0;
}

const qtd_location_api_t gnss_location_api = {
    .size = sizeof(qtd_location_api_t),
    .support = svc_support,
    .sentences = svc_sentences,
};

/* ---- LBS: the modem's cells ------------------------------------------------------- */

static void on_neighbours(void *arg, int status, const char *response)
{
    gnss_t *g = arg;
    g->lbs_asking = false;
    if (status == 0 && g->n_cells > 0) {
        g->n_cells = 1 + nmea_qeng_neighbours(response, g->cells[0].mcc, g->cells[0].mnc,
                                              &g->cells[1], GNSS_MAX_CELLS - 1);
    }
}

static void on_serving(void *arg, int status, const char *response)
{
    gnss_t *g = arg;
    nmea_cell_t c;
    if (status != 0 || !nmea_qeng_serving(response, &c)) {
        if (g->n_cells > 0 || status != QTD_ECANCELED) {
            GNSS_LOG(g, QTD_LOG_INFO, "LBS: the modem gives no serving cell (%s)",
                     status == 0 ? "no +QENG: \"servingcell\" line it knows"
                                 : g->api->strerror(status));
        }
        g->n_cells = 0;
        g->lbs_asking = false;
        return;
    }
    if (g->n_cells == 0) {
        GNSS_LOG(g, QTD_LOG_INFO, "LBS: serving cell %u-%02u LAC %u cell %u", c.mcc, c.mnc, c.lac,
                 c.cellid);
    }
    g->cells[0] = c;
    g->n_cells = 1;
    if (g->stopping || g->modem->at_command(g->modem_self, "AT+QENG=\"neighbourcell\"", 3000,
                                            on_neighbours, g) != 0) {
        g->lbs_asking = false;
    }
}

static void lbs_poll(qtd_timer_t *t, void *arg)
{
    (void)t;
    gnss_t *g = arg;
    if (g->lbs_asking || g->stopping) {
        return;
    }
    g->lbs_asking =
        g->modem->at_command(g->modem_self, "AT+QENG=\"servingcell\"", 3000, on_serving, g) == 0;
}

void gnss_lbs_start(gnss_t *g)
{
    if (g->modem == NULL) {
        return;
    }
    uint64_t every = (uint64_t)g->cfg->lbs_poll_s * 1000;
    if (g->api->timer_start(g->host, &g->lbs_timer, 1, every, lbs_poll, g) != 0) {
        GNSS_LOG(g, QTD_LOG_WARN, "LBS: no timer (out of memory): no cells");
    }
}

void gnss_lbs_stop(gnss_t *g)
{
    if (g->lbs_timer != NULL) {
        g->api->timer_stop(g->host, g->lbs_timer);
        g->lbs_timer = NULL;
    }
}

/* ---- report policies -------------------------------------------------------------- */

static double distance_m(double lat1, double lon1, double lat2, double lon2)
{
    const double r = 6371008.8, rad = 3.14159265358979323846 / 180;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    return 2 * r * atan2(sqrt(a), sqrt(1 - a));
}

static void report(gnss_t *g, const char *why)
{
    char out[GNSS_REPORT_MAX];
    const char *bad = NULL;
    int rc = gnss_collect(g, g->report_list, g->n_report, out, sizeof(out), &bad);
    if (rc != 0 || out[0] == '\0' || g->thing == NULL) {
        return; /* nothing to report yet */
    }
    rc = g->thing->loc_report(g->cloud, NULL, NULL, 1, out);
    if (rc < 0) {
        GNSS_LOG(g, QTD_LOG_WARN, "the location (%s) not reported: %s", why, g->api->strerror(rc));
        return;
    }
    const nmea_fix_t *fx = &g->store.fix;
    g->last_report_ms = uv_now(g->loop);
    g->reported_once = true;
    if (fx->valid) {
        g->last_lat = fx->lat;
        g->last_lon = fx->lon;
    }
    if (fx->valid && fx->has_course) {
        g->last_course = fx->course;
        g->course_ref = true;
    }
    GNSS_LOG(g, QTD_LOG_DEBUG, "location reported (%s)", why);
}

void gnss_policy(gnss_t *g)
{
    const gnss_cfg_t *c = g->cfg;
    uint64_t now = uv_now(g->loop);
    uint64_t since = now - g->last_report_ms;
    if (c->report_every_s > 0 &&
        (!g->reported_once || since >= (uint64_t)c->report_every_s * 1000)) {
        report(g, "time");
        return;
    }
    const nmea_fix_t *fx = &g->store.fix;
    if (!fx->valid || since < (uint64_t)c->report_min_interval_s * 1000 ||
        (c->report_distance_m <= 0 && c->report_heading_deg <= 0)) {
        return;
    }
    if (!g->reported_once) {
        report(g, "first fix"); /* where distance and heading are measured from */
        return;
    }
    if (c->report_distance_m > 0 &&
        distance_m(g->last_lat, g->last_lon, fx->lat, fx->lon) >= c->report_distance_m) {
        report(g, "distance");
        return;
    }
    if (c->report_heading_deg > 0 && fx->has_course && !g->course_ref) {
        g->last_course = fx->course; /* the first course seen: turns count from it */
        g->course_ref = true;
        return;
    }
    if (c->report_heading_deg > 0 && fx->has_course && fx->speed_kmh >= 5.0) {
        double turn = fabs(fx->course - g->last_course);
        turn = turn > 180 ? 360 - turn : turn;
        if (turn >= c->report_heading_deg) {
            report(g, "heading");
        }
    }
}
