/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The GNSS plugin (seed 3.7, table 2): NMEA from a receiver on a serial line, from gpsd
 * (libgps in raw NMEA watch mode, so every receiver gpsd knows works) or from a file
 * replayed at a rate; every sentence checked before it is kept (gnss_nmea.c); LBS from the
 * modem's cells through the cloud plugin's modem service; the location service for the
 * platform's requests; the seed's location functions (gnss_lua.c); report policies
 * (gnss_loc.c). This file: the configuration, the life cycle and the sources, all on the
 * loop (uv_poll on the line or gpsd's socket, a timer for a file); libgps is loaded when a
 * gpsd source first opens (gnss_gps.h).
 */
#include "gnss.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gnss_gps.h"
#include "qtd_serial.h"

#define BAD_LOG_MS 10000
#define RETRY_MS 2000

static const qtd_cfg_key_t gnss_keys[] = {
    {QTD_CFG_STRING, "source", "none", offsetof(gnss_cfg_t, source),
     "where NMEA comes from: none, serial (a receiver), gpsd, file (replayed)", 0, 0,
     "none|serial|gpsd|file", NULL, 0},
    {QTD_CFG_STRING, "device", "", offsetof(gnss_cfg_t, device),
     "serial device (/dev/ttyUSB1), gpsd host:port (127.0.0.1:2947) or file path, by source", 0, 0,
     NULL, NULL, 0},
    {QTD_CFG_INT, "baud", "9600", offsetof(gnss_cfg_t, baud), "serial speed", 0, 0,
     "4800|9600|19200|38400|57600|115200|230400|460800|921600", NULL, 0},
    {QTD_CFG_DOUBLE, "rate", "10", offsetof(gnss_cfg_t, rate), "file: lines replayed per second",
     0.1, 100000, NULL, NULL, 0},
    {QTD_CFG_BOOL, "loop", "true", offsetof(gnss_cfg_t, loop),
     "file: replayed again from its start at its end", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "silence_s", "5", offsetof(gnss_cfg_t, silence_s),
     "a receiver without a valid sentence for this long is logged as silent", 1, 3600, NULL, NULL,
     0},
    {QTD_CFG_BOOL, "lbs", "true", offsetof(gnss_cfg_t, lbs),
     "LBS lines from the modem's cells (the cloud plugin's modem service, cloud.at_port)", 0, 0,
     NULL, NULL, 0},
    {QTD_CFG_INT, "lbs_poll_s", "60", offsetof(gnss_cfg_t, lbs_poll_s),
     "seconds between two reads of the modem's cells", 5, 86400, NULL, NULL, 0},
    {QTD_CFG_INT, "report_every_s", "0", offsetof(gnss_cfg_t, report_every_s),
     "report the location every N s (0: not by time)", 0, 86400, NULL, NULL, 0},
    {QTD_CFG_DOUBLE, "report_distance_m", "0", offsetof(gnss_cfg_t, report_distance_m),
     "report when the fix moved this far from the last report (0: not by distance)", 0, 1e7, NULL,
     NULL, 0},
    {QTD_CFG_DOUBLE, "report_heading_deg", "0", offsetof(gnss_cfg_t, report_heading_deg),
     "report when the course turned this much while moving (0: not by heading)", 0, 180, NULL, NULL,
     0},
    {QTD_CFG_INT, "report_min_interval_s", "0", offsetof(gnss_cfg_t, report_min_interval_s),
     "distance and heading reports at most this often", 0, 86400, NULL, NULL, 0},
    {QTD_CFG_STRING, "report_types", "AUTO", offsetof(gnss_cfg_t, report_types),
     "the table 2 types the policies report, ';'-separated (AUTO: GGA and RMC with a fix, "
     "else LBS)",
     0, 0, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static uint64_t now_ms(gnss_t *g)
{
    return uv_now(g->loop);
}

/* ---- sentences -------------------------------------------------------------------- */

/* A line as it may be logged: printable, cut short. */
static void printable(const char *s, size_t n, char *out, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < size && i < 48; i++) {
        unsigned char c = (unsigned char)s[i];
        k += (size_t)snprintf(out + k, size - k, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    }
    if (n > 48 && k + 4 < size) {
        k += (size_t)snprintf(out + k, size - k, "...");
    }
    out[k] = '\0';
}

static void bad_line(gnss_t *g, const char *why, const char *s, size_t n)
{
    g->bad++;
    uint64_t now = now_ms(g);
    if (g->bad_logged_ms != 0 && now - g->bad_logged_ms < BAD_LOG_MS) {
        g->bad_quiet++;
        return;
    }
    char text[256];
    printable(s, n, text, sizeof(text));
    GNSS_LOG(g, QTD_LOG_WARN, "a sentence dropped (%s): \"%s\"%s", why, text,
             g->bad_quiet > 0 ? " (and more since the last such line)" : "");
    if (g->bad_quiet > 0) {
        GNSS_LOG(g, QTD_LOG_WARN, "%llu more malformed sentences dropped since the last such line",
                 (unsigned long long)g->bad_quiet);
    }
    g->bad_quiet = 0;
    g->bad_logged_ms = now;
}

void gnss_sentence(gnss_t *g, const char *s, size_t n)
{
    int talker, type;
    nmea_err_t e = nmea_check(s, n, &talker, &type);
    if (e != NMEA_OK) {
        bad_line(g, nmea_strerror(e), s, n);
        return;
    }
    g->good++;
    g->last_sentence_ms = now_ms(g);
    if (g->silent) {
        g->silent = false;
        GNSS_LOG(g, QTD_LOG_INFO, "%s: sentences again", g->cfg->device);
    }
    uint64_t fix_before = g->store.fix_seq;
    nmea_store_put(&g->store, s, n, talker, type);
    if (g->store.fix_seq != fix_before) {
        gnss_policy(g);
    }
}

void gnss_bytes(gnss_t *g, const char *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *line;
        size_t len;
        bool overlong;
        if (nmea_framer_byte(&g->framer, data[i], &line, &len, &overlong)) {
            if (overlong) {
                bad_line(g, nmea_strerror(NMEA_E_LENGTH), line, len);
            } else {
                gnss_sentence(g, line, len);
            }
        }
    }
}

/* ---- sources ---------------------------------------------------------------------- */

static void open_source(gnss_t *g);

static void poll_closed(uv_handle_t *h)
{
    gnss_t *g = h->data;
    g->poll_open = false;
    if (g->gps != NULL) {
        gps_close(g->gps); /* closes its socket */
        free(g->gps);
        g->gps = NULL;
        g->fd = -1;
    }
    if (g->fd >= 0) {
        close(g->fd);
        g->fd = -1;
    }
}

static void close_source(gnss_t *g)
{
    if (g->poll_open) {
        uv_poll_stop(&g->poll);
        uv_close((uv_handle_t *)&g->poll, poll_closed); /* closes the fd or gpsd's socket */
    } else {
        if (g->gps != NULL) {
            gps_close(g->gps);
            free(g->gps);
            g->gps = NULL;
        }
        if (g->fd >= 0) {
            close(g->fd);
        }
        g->fd = -1;
    }
    if (g->file != NULL) {
        fclose(g->file);
        g->file = NULL;
    }
}

static void on_retry(uv_timer_t *t)
{
    open_source(t->data);
}

static void retry_later(gnss_t *g)
{
    close_source(g);
    if (!g->stopping && g->timer_open) {
        uv_timer_start(&g->timer, on_retry, RETRY_MS, 0);
    }
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    gnss_t *g = h->data;
    char buf[1024];
    if (status < 0 || !(events & UV_READABLE)) {
        GNSS_LOG(g, QTD_LOG_WARN, "%s: %s; opened again in %d s", g->cfg->device,
                 status < 0 ? uv_strerror(status) : "closed", RETRY_MS / 1000);
        retry_later(g);
        return;
    }
    if (g->gps != NULL) {
        struct gps_data_t *gps = g->gps;
        do { /* libgps keeps what one read brought beyond a line: take it all */
            int n = gps_read(gps, buf, (int)sizeof(buf) - 1);
            if (n < 0) {
                GNSS_LOG(g, QTD_LOG_WARN, "gpsd %s: connection lost; again in %d s", g->cfg->device,
                         RETRY_MS / 1000);
                retry_later(g);
                return;
            }
            size_t len = n > 0 ? strnlen(buf, (size_t)n) : 0;
            if (len > 0 && buf[0] == '$') { /* NMEA; gpsd's own JSON lines are not */
                gnss_bytes(g, buf, len);
                if (buf[len - 1] != '\n') {
                    gnss_bytes(g, "\n", 1);
                }
            }
        } while (gps_waiting(gps, 0));
        return;
    }
    ssize_t n = read(g->fd, buf, sizeof(buf));
    if (n > 0) {
        gnss_bytes(g, buf, (size_t)n);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        GNSS_LOG(g, QTD_LOG_WARN, "%s: %s; opened again in %d s", g->cfg->device,
                 n == 0 ? "closed" : strerror(errno), RETRY_MS / 1000);
        retry_later(g);
    }
}

/* One line of the file into the framer. Returns false at its end (the timer stopped). */
static bool replay_line(gnss_t *g, uv_timer_t *t)
{
    char line[256];
    if (g->file == NULL) {
        return false;
    }
    if (fgets(line, sizeof(line), g->file) == NULL) {
        if (!g->cfg->loop) {
            GNSS_LOG(g, QTD_LOG_INFO, "%s: replayed to its end", g->cfg->device);
            uv_timer_stop(t);
            return false;
        }
        rewind(g->file);
        if (fgets(line, sizeof(line), g->file) == NULL) {
            uv_timer_stop(t);
            return false;
        }
    }
    gnss_bytes(g, line, strlen(line)); /* a longer line comes in pieces: the framer cuts it */
    return true;
}

/* Every tick one line, or rate / 1000 lines at a rate above 1000 lines/s (1 ms ticks). */
static void on_replay(uv_timer_t *t)
{
    gnss_t *g = t->data;
    int lines = g->cfg->rate > 1000 ? (int)(g->cfg->rate / 1000) : 1;
    for (int k = 0; k < lines && replay_line(g, t); k++) {
    }
}

static int start_poll(gnss_t *g, int fd)
{
    int rc = uv_poll_init(g->loop, &g->poll, fd);
    if (rc != 0) {
        return rc;
    }
    g->poll.data = g;
    g->poll_open = true;
    return uv_poll_start(&g->poll, UV_READABLE | UV_DISCONNECT, on_readable);
}

/* The source does not open: logged the first time (until it opens), tried again later. */
static void open_failed(gnss_t *g, const char *why)
{
    if (!g->open_failed) {
        GNSS_LOG(g, QTD_LOG_WARN, "%s%s: cannot open: %s; tried again every %d s",
                 strcmp(g->cfg->source, "gpsd") == 0 ? "gpsd " : "", g->cfg->device, why,
                 RETRY_MS / 1000);
    }
    g->open_failed = true;
    retry_later(g);
}

static void open_source(gnss_t *g)
{
    const gnss_cfg_t *c = g->cfg;
    memset(&g->framer, 0, sizeof(g->framer));
    g->last_sentence_ms = now_ms(g);
    if (strcmp(c->source, "serial") == 0) {
        int fd = qtd_serial_open(c->device, (int)c->baud, 'N', 8, 1);
        if (fd < 0) {
            open_failed(g, strerror(-fd));
            return;
        }
        g->fd = fd;
        if (start_poll(g, fd) != 0) {
            retry_later(g);
            return;
        }
        g->open_failed = false;
        GNSS_LOG(g, QTD_LOG_INFO, "receiver on %s at %lld baud", c->device, (long long)c->baud);
    } else if (strcmp(c->source, "gpsd") == 0) {
        char host[256];
        snprintf(host, sizeof(host), "%s", c->device);
        char *colon = strrchr(host, ':');
        const char *port = DEFAULT_GPSD_PORT;
        if (colon != NULL) {
            *colon = '\0';
            port = colon + 1;
        }
        char err[384];
        if (gnss_gps_load(err, sizeof(err)) != 0) {
            open_failed(g, err);
            return;
        }
        struct gps_data_t *gps = calloc(1, sizeof(*gps));
        if (gps == NULL || gps_open(host, port, gps) != 0) {
            open_failed(g, gps != NULL ? gps_errstr(errno) : "out of memory");
            free(gps);
            return;
        }
        g->gps = gps;
        if (gps_stream(gps, WATCH_ENABLE | WATCH_NMEA, NULL) != 0 ||
            start_poll(g, gps->gps_fd) != 0) {
            retry_later(g);
            return;
        }
        g->open_failed = false;
        GNSS_LOG(g, QTD_LOG_INFO, "gpsd %s: watching NMEA", c->device);
    } else if (strcmp(c->source, "file") == 0) {
        g->file = fopen(c->device, "r");
        if (g->file == NULL) {
            open_failed(g, strerror(errno));
            return;
        }
        uint64_t every = c->rate >= 1000 ? 1 : (uint64_t)(1000.0 / c->rate);
        uv_timer_start(&g->timer, on_replay, 0, every);
        g->open_failed = false;
        GNSS_LOG(g, QTD_LOG_INFO, "replaying %s at %g lines/s", c->device, c->rate);
    }
}

/* A receiver that has gone quiet is logged once, until sentences come again. */
static void on_watch(qtd_timer_t *t, void *arg)
{
    (void)t;
    gnss_t *g = arg;
    if (g->has_source && !g->silent &&
        now_ms(g) - g->last_sentence_ms > (uint64_t)g->cfg->silence_s * 1000) {
        g->silent = true;
        GNSS_LOG(g, QTD_LOG_WARN,
                 "%s: no valid sentence for %lld s (%llu valid, %llu dropped "
                 "so far)",
                 g->cfg->device, (long long)g->cfg->silence_s, (unsigned long long)g->good,
                 (unsigned long long)g->bad);
    }
    gnss_policy(g); /* time-based reports, fix or not */
}

/* ---- life cycle ------------------------------------------------------------------- */

static int gnss_check(const qtd_host_api_t *api, qtd_host_t *host, const void *config)
{
    const gnss_cfg_t *cfg = config;
    if (strcmp(cfg->source, "none") != 0 && cfg->device[0] == '\0') {
        api->log(host, QTD_LOG_ERROR,
                 "gnss.device: source \"%s\" needs it (a serial device, gpsd host:port or a "
                 "file)",
                 cfg->source);
        return QTD_ECONFIG;
    }
    const char *bad = NULL;
    char types[256];
    const char *names[128]; /* a 256-byte value holds at most 128 names */
    size_t named = gnss_split(cfg->report_types, types, sizeof(types), names, 128);
    for (size_t i = 0; i < named && bad == NULL; i++) {
        int talker, type;
        if (!nmea_type_of(names[i], &talker, &type) && strcmp(names[i], "AUTO") != 0 &&
            strcmp(names[i], "LBS") != 0 && strcmp(names[i], "NONE") != 0) {
            bad = names[i];
        }
    }
    if (bad != NULL || named == 0) {
        api->log(host, QTD_LOG_ERROR,
                 "gnss.report_types: \"%s\" is not a type of table 2: use AUTO, LBS, GGA, RMC, "
                 "GSV, GSA, VTG or one with its talker (GPGGA, BDRMC, ...), ';'-separated",
                 bad != NULL ? bad : "");
        return QTD_ECONFIG;
    }
    return 0;
}

static int gnss_create(const qtd_host_api_t *api, qtd_host_t *host, const void *config, void **self)
{
    int rc = gnss_check(api, host, config);
    if (rc != 0) {
        return rc;
    }
    gnss_t *g = api->calloc(host, 1, sizeof(*g));
    if (g == NULL) {
        return QTD_ENOMEM;
    }
    g->api = api;
    g->host = host;
    g->cfg = config;
    g->loop = api->loop(host);
    g->fd = -1;
    g->has_source = strcmp(g->cfg->source, "none") != 0;
    g->n_report =
        gnss_split(g->cfg->report_types, g->report_buf, sizeof(g->report_buf), g->report_list, 32);
    rc = api->service_provide(host, QTD_LOCATION_SERVICE, &gnss_location_api, g);
    if (rc == 0) {
        rc = gnss_lua_register(g);
    }
    if (rc != 0) {
        api->free(host, g);
        return rc;
    }
    *self = g;
    return 0;
}

static int gnss_start(void *self)
{
    gnss_t *g = self;
    /* both optional: without the cloud nothing is reported, without a modem no LBS */
    (void)g->api->service_lookup(g->host, QTD_THING_SERVICE, QTD_THING_API_V1_SIZE,
                                 QTD_SERVICE_OPTIONAL, (const void **)&g->thing, &g->cloud);
    if (g->cfg->lbs) {
        (void)g->api->service_lookup(g->host, QTD_MODEM_SERVICE, QTD_MODEM_API_V1_SIZE,
                                     QTD_SERVICE_OPTIONAL, (const void **)&g->modem,
                                     &g->modem_self);
    }
    int rc = uv_timer_init(g->loop, &g->timer);
    if (rc != 0) {
        return rc;
    }
    g->timer.data = g;
    g->timer_open = true;
    if (g->has_source) {
        open_source(g);
    }
    rc = g->api->timer_start(g->host, &g->watch, 1000, 1000, on_watch, g);
    if (rc != 0) {
        return rc;
    }
    gnss_lbs_start(g);
    return 0;
}

static void gnss_stop(void *self)
{
    gnss_t *g = self;
    g->stopping = true;
    gnss_lbs_stop(g);
    if (g->watch != NULL) {
        g->api->timer_stop(g->host, g->watch);
        g->watch = NULL;
    }
    close_source(g);
    if (g->timer_open) {
        g->timer_open = false;
        uv_close((uv_handle_t *)&g->timer, NULL);
    }
}

static void gnss_destroy(void *self)
{
    gnss_t *g = self;
    if (g != NULL) {
        g->api->free(g->host, g);
    }
}

static void gnss_status(void *self, char *buf, size_t n)
{
    gnss_t *g = self;
    const nmea_fix_t *fx = &g->store.fix;
    char fix[96] = "no fix";
    if (fx->valid) {
        snprintf(fix, sizeof(fix), "fix %.6f,%.6f (%d satellites)", fx->lat, fx->lon,
                 fx->satellites);
    }
    snprintf(buf, n, "%s %s%s, %llu valid / %llu dropped sentences, %s, %zu cells", g->cfg->source,
             g->cfg->device, g->silent ? " (silent)" : "", (unsigned long long)g->good,
             (unsigned long long)g->bad, fix, g->n_cells);
}

static const qtd_plugin_ops_t gnss_ops = {
    .size = sizeof(qtd_plugin_ops_t),
    .create = gnss_create,
    .destroy = gnss_destroy,
    .start = gnss_start,
    .stop = gnss_stop,
    .check = gnss_check,
    .status = gnss_status,
};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR,
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "gnss",
    .version = "0.2.0",
    .kind = QTD_PLUGIN_SOUTH,
    .summary = "GNSS and LBS location (seed 3.7): NMEA from a receiver, gpsd or a file, LBS "
               "from the modem, quecIot location functions, report policies",
    .config_map = gnss_keys,
    .config_size = sizeof(gnss_cfg_t),
    .ops = &gnss_ops,
};
