/* SPDX-License-Identifier: Apache-2.0 */
/* NMEA 0183 checks, store, fix, $LBS lines and AT+QENG answers (gnss_nmea.h). */
#include "gnss_nmea.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const talkers[NMEA_TALKERS] = {"GP", "BD", "GL", "GA", "GN"};
static const char *const types[NMEA_TYPES] = {"GGA", "RMC", "GSV", "GSA", "VTG"};

const char *nmea_strerror(nmea_err_t e)
{
    switch (e) {
    case NMEA_OK:
        return "valid";
    case NMEA_E_START:
        return "does not begin with '$'";
    case NMEA_E_LENGTH:
        return "empty or longer than 82 characters";
    case NMEA_E_CHAR:
        return "a character that is not printable ASCII (or a ';')";
    case NMEA_E_CHECKSUM:
        return "no checksum, or a wrong one";
    default:
        return "no talker and sentence type";
    }
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

nmea_err_t nmea_check(const char *s, size_t n, int *talker, int *type)
{
    *talker = *type = -1;
    if (n == 0 || n > NMEA_MAX_TEXT) {
        return NMEA_E_LENGTH;
    }
    if (s[0] != '$') {
        return NMEA_E_START;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == ';') {
            return NMEA_E_CHAR; /* ';' separates sentences on the wire */
        }
    }
    if (n < 4 || s[n - 3] != '*') {
        return NMEA_E_CHECKSUM;
    }
    int hi = hexval(s[n - 2]), lo = hexval(s[n - 1]);
    unsigned sum = 0;
    for (size_t i = 1; i < n - 3; i++) {
        if (s[i] == '*' || s[i] == '$') {
            return NMEA_E_CHECKSUM; /* only one of each, at their places */
        }
        sum ^= (unsigned char)s[i];
    }
    if (hi < 0 || lo < 0 || (unsigned)(hi << 4 | lo) != sum) {
        return NMEA_E_CHECKSUM;
    }
    /* "$P<maker>...": proprietary (valid, not of table 2) */
    if (s[1] == 'P' && n > 5 && s[2] >= 'A' && s[2] <= 'Z') {
        return NMEA_OK;
    }
    /* "$TTSSS," (or "$TTSSS*" with no field) */
    if (n < 9 || (s[6] != ',' && s[6] != '*')) {
        return NMEA_E_ADDRESS;
    }
    for (int i = 1; i < 6; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))) {
            return NMEA_E_ADDRESS;
        }
    }
    for (int t = 0; t < NMEA_TALKERS; t++) {
        if (strncmp(s + 1, talkers[t], 2) == 0) {
            *talker = t;
        }
    }
    if (strncmp(s + 1, "GB", 2) == 0) {
        *talker = NMEA_BD;
    }
    for (int t = 0; t < NMEA_TYPES; t++) {
        if (strncmp(s + 3, types[t], 3) == 0) {
            *type = t;
        }
    }
    return NMEA_OK;
}

bool nmea_framer_byte(nmea_framer_t *f, char c, const char **line, size_t *n, bool *overlong)
{
    if (c == '\r' || c == '\n') {
        if (f->len == 0 && !f->overlong) {
            return false; /* the LF of CR LF, or blank */
        }
        f->buf[f->len] = '\0';
        *line = f->buf;
        *n = f->len;
        *overlong = f->overlong;
        f->len = 0;
        f->overlong = false;
        return true;
    }
    if (f->len >= NMEA_MAX_TEXT) {
        f->overlong = true; /* the rest of the line is dropped */
        return false;
    }
    f->buf[f->len++] = c;
    return false;
}

/* ---- fields ----------------------------------------------------------------------- */

/* Field i (0: the address) of a sentence, copied into out without the checksum. */
static bool field(const char *s, int i, char *out, size_t n)
{
    const char *p = s;
    for (int k = 0; k < i; k++) {
        p = strchr(p, ',');
        if (p == NULL) {
            return false;
        }
        p++;
    }
    size_t len = strcspn(p, ",*");
    if (len >= n) {
        return false;
    }
    memcpy(out, p, len);
    out[len] = '\0';
    return true;
}

static bool number(const char *s, int i, double *out)
{
    char f[24];
    char *end = NULL;
    if (!field(s, i, f, sizeof(f)) || f[0] == '\0') {
        return false;
    }
    *out = strtod(f, &end);
    return *end == '\0' && isfinite(*out);
}

/* ddmm.mmmm (or dddmm.mmmm) and a hemisphere into decimal degrees. */
static bool coordinate(const char *s, int i, double *out, double max)
{
    double v;
    char h[4];
    if (!number(s, i, &v) || !field(s, i + 1, h, sizeof(h)) || v < 0) {
        return false;
    }
    double deg = floor(v / 100);
    double min = v - deg * 100;
    if (min >= 60) {
        return false;
    }
    double d = deg + min / 60;
    if (d > max) {
        return false;
    }
    if (strcmp(h, "S") == 0 || strcmp(h, "W") == 0) {
        d = -d;
    } else if (strcmp(h, "N") != 0 && strcmp(h, "E") != 0) {
        return false;
    }
    *out = d;
    return true;
}

/* hhmmss.ss into "hh:mm:ss.ss". */
static bool utc_time(const char *s, int i, char *out, size_t n)
{
    char t[16];
    if (!field(s, i, t, sizeof(t)) || strlen(t) < 6) {
        return false;
    }
    for (int k = 0; k < 6; k++) {
        if (t[k] < '0' || t[k] > '9') {
            return false;
        }
    }
    snprintf(out, n, "%.2s:%.2s:%.2s%s", t, t + 2, t + 4, t + 6);
    return true;
}

/* An integer field (quality, satellites) that fits: 0..999, else -1. */
static int small_int(double v)
{
    return v >= 0 && v <= 999 ? (int)v : -1;
}

static void put_fix(nmea_store_t *st, const char *s, int type)
{
    nmea_fix_t *fx = &st->fix;
    double lat, lon, v;
    char tm[20], st_f[4], date[8];
    if (type == NMEA_GGA) {
        int q = number(s, 6, &v) ? small_int(v) : 0;
        if (q <= 0 || !coordinate(s, 2, &lat, 90) || !coordinate(s, 4, &lon, 180)) {
            fx->valid = false;
            fx->quality = 0;
            return;
        }
        fx->valid = true;
        fx->quality = q;
        fx->lat = lat;
        fx->lon = lon;
        fx->satellites = number(s, 7, &v) && small_int(v) >= 0 ? small_int(v) : 0;
        fx->hdop = number(s, 8, &v) ? v : 0;
        fx->has_alt = number(s, 9, &fx->alt);
        if (utc_time(s, 1, tm, sizeof(tm)) && strchr(fx->utc, 'T') == NULL) {
            snprintf(fx->utc, sizeof(fx->utc), "%s", tm);
        }
        st->fix_seq = st->counter;
    } else if (type == NMEA_RMC) {
        if (!field(s, 2, st_f, sizeof(st_f)) || strcmp(st_f, "A") != 0 ||
            !coordinate(s, 3, &lat, 90) || !coordinate(s, 5, &lon, 180)) {
            fx->valid = false;
            return;
        }
        fx->valid = true;
        fx->lat = lat;
        fx->lon = lon;
        fx->has_speed = number(s, 7, &v);
        fx->speed_kmh = fx->has_speed ? v * 1.852 : 0;
        fx->has_course = number(s, 8, &fx->course);
        if (utc_time(s, 1, tm, sizeof(tm)) && field(s, 9, date, sizeof(date)) &&
            strlen(date) == 6) {
            snprintf(fx->utc, sizeof(fx->utc), "20%.2s-%.2s-%.2sT%sZ", date + 4, date + 2, date,
                     tm);
        }
        st->fix_seq = st->counter;
    }
}

void nmea_store_put(nmea_store_t *st, const char *s, size_t n, int talker, int type)
{
    if (talker < 0 || type < 0 || n > NMEA_MAX_TEXT) {
        return;
    }
    st->counter++;
    memcpy(st->text[talker][type], s, n);
    st->text[talker][type][n] = '\0';
    st->seq[talker][type] = st->counter;
    if (type == NMEA_GSV) {
        /* $xxGSV,<total>,<number>,...: a group is kept once complete */
        double total = 0, num = 0;
        const char *t = st->text[talker][type];
        if (!number(t, 1, &total) || !number(t, 2, &num) || total < 1 || total > NMEA_GSV_MAX ||
            num < 1 || num > total) {
            return;
        }
        if (num == 1) {
            st->gsv_build_n[talker] = 0;
        }
        int k = st->gsv_build_n[talker];
        if (k != (int)num - 1) {
            st->gsv_build_n[talker] = 0; /* out of order: wait for the next group */
            return;
        }
        memcpy(st->gsv_build[talker][k], t, n + 1);
        st->gsv_build_n[talker] = k + 1;
        if (k + 1 == (int)total) {
            memcpy(st->gsv[talker], st->gsv_build[talker], sizeof(st->gsv[talker]));
            st->gsv_n[talker] = k + 1;
        }
        return;
    }
    put_fix(st, st->text[talker][type], type);
}

bool nmea_type_of(const char *name, int *talker, int *type)
{
    size_t len = strlen(name);
    const char *t = name;
    *talker = -1;
    if (len == 5) {
        *talker = -2;
        for (int k = 0; k < NMEA_TALKERS; k++) {
            if (strncmp(name, talkers[k], 2) == 0) {
                *talker = k;
            }
        }
        if (*talker == -2) {
            return false;
        }
        t = name + 2;
    } else if (len != 3) {
        return false;
    }
    for (int k = 0; k < NMEA_TYPES; k++) {
        if (strcmp(t, types[k]) == 0) {
            *type = k;
            return true;
        }
    }
    return false;
}

static size_t append(char *out, size_t n, size_t *used, const char *s)
{
    size_t len = strlen(s);
    if (*used + len + 2 > n) {
        return 0;
    }
    memcpy(out + *used, s, len);
    out[*used + len] = ';';
    *used += len + 1;
    out[*used] = '\0';
    return 1;
}

size_t nmea_store_get(const nmea_store_t *st, int talker, int type, char *out, size_t n)
{
    if (type < 0 || type >= NMEA_TYPES || talker < -1 || talker >= NMEA_TALKERS || n == 0) {
        return 0;
    }
    int t = talker;
    if (t < 0) { /* any system: the latest */
        uint64_t best = 0;
        for (int k = 0; k < NMEA_TALKERS; k++) {
            bool have = type == NMEA_GSV ? st->gsv_n[k] > 0 : st->seq[k][type] > 0;
            if (have && st->seq[k][type] >= best) {
                best = st->seq[k][type];
                t = k;
            }
        }
        if (t < 0) {
            return 0;
        }
    }
    size_t used = strlen(out), start = used, count = 0;
    if (type == NMEA_GSV) {
        for (int k = 0; k < st->gsv_n[t]; k++) {
            if (append(out, n, &used, st->gsv[t][k]) == 0) {
                out[start] = '\0';
                return 0;
            }
            count++;
        }
        return count;
    }
    if (st->seq[t][type] == 0 || append(out, n, &used, st->text[t][type]) == 0) {
        out[start] = '\0';
        return 0;
    }
    return 1;
}

size_t nmea_lbs_line(const nmea_cell_t *c, char *out, size_t n)
{
    char buf[96];
    int len = snprintf(buf, sizeof(buf), "$LBS,%u,%02u,%u,%u,%d,0*", c->mcc, c->mnc, c->lac,
                       c->cellid, c->rssi);
    if (len <= 0 || (size_t)len >= sizeof(buf)) {
        return 0;
    }
    unsigned cs = 0;
    for (int i = 1; i < len - 1; i++) {
        cs ^= (unsigned char)buf[i];
    }
    int total = snprintf(out, n, "%s%02u", buf, cs);
    return total > 0 && (size_t)total < n ? (size_t)total : 0;
}

/* ---- AT+QENG ---------------------------------------------------------------------- */

/* The fields of one "+QENG: a,b,..." line (quotes dropped) into f. Returns the count. */
static int qeng_fields(const char *line, char f[][24], int max)
{
    const char *p = line + strlen("+QENG:");
    int n = 0;
    while (*p == ' ') {
        p++;
    }
    while (n < max) {
        size_t len = strcspn(p, ",\r\n");
        size_t k = 0;
        for (size_t i = 0; i < len && k < 23; i++) {
            if (p[i] != '"') {
                f[n][k++] = p[i];
            }
        }
        f[n++][k] = '\0';
        if (p[len] != ',') {
            break;
        }
        p += len + 1;
    }
    return n;
}

static bool uint_of(const char *s, int base, unsigned *out)
{
    char *end = NULL;
    if (s[0] == '\0' || s[0] == '-') {
        return false;
    }
    unsigned long v = strtoul(s, &end, base);
    if (*end != '\0' || v > 0xFFFFFFFFul) {
        return false;
    }
    *out = (unsigned)v;
    return true;
}

static bool int_of(const char *s, int *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || v < -1000 || v > 1000) {
        return false;
    }
    *out = (int)v;
    return true;
}

bool nmea_qeng_serving(const char *answer, nmea_cell_t *c)
{
    char f[24][24];
    for (const char *p = strstr(answer, "+QENG:"); p != NULL; p = strstr(p + 1, "+QENG:")) {
        int n = qeng_fields(p, f, 24);
        if (n < 3 || strcmp(f[0], "servingcell") != 0) {
            continue;
        }
        if (strcmp(f[2], "LTE") == 0 && n >= 16) {
            return uint_of(f[4], 10, &c->mcc) && uint_of(f[5], 10, &c->mnc) &&
                   uint_of(f[6], 16, &c->cellid) && uint_of(f[12], 16, &c->lac) &&
                   int_of(f[15], &c->rssi);
        }
        if ((strcmp(f[2], "WCDMA") == 0 || strcmp(f[2], "GSM") == 0) && n >= 11) {
            /* WCDMA: ...,<uarfcn>,<psc>,<rac>,<rscp>; GSM: ...,<bsic>,<arfcn>,<band>,<rxlev> */
            int level = 0;
            return uint_of(f[3], 10, &c->mcc) && uint_of(f[4], 10, &c->mnc) &&
                   uint_of(f[5], 16, &c->lac) && uint_of(f[6], 16, &c->cellid) &&
                   int_of(f[10], &level) && ((c->rssi = level), true);
        }
    }
    return false;
}

size_t nmea_qeng_neighbours(const char *answer, unsigned mcc, unsigned mnc, nmea_cell_t *nb,
                            size_t max)
{
    char f[24][24];
    size_t k = 0;
    for (const char *p = strstr(answer, "+QENG:"); p != NULL && k < max;
         p = strstr(p + 1, "+QENG:")) {
        int n = qeng_fields(p, f, 24);
        if (n < 3 || strncmp(f[0], "neighbourcell", 13) != 0) {
            continue;
        }
        nmea_cell_t c = {.mcc = mcc, .mnc = mnc};
        if (strcmp(f[1], "LTE") == 0 && n >= 7) {
            /* LTE neighbours carry no cell id: their PCI, and no TAC (0) */
            if (uint_of(f[3], 10, &c.cellid) && int_of(f[6], &c.rssi)) {
                nb[k++] = c;
            }
        } else if (strcmp(f[1], "GSM") == 0 && n >= 9) {
            if (uint_of(f[2], 10, &c.mcc) && uint_of(f[3], 10, &c.mnc) &&
                uint_of(f[4], 16, &c.lac) && uint_of(f[5], 16, &c.cellid) &&
                int_of(f[8], &c.rssi)) {
                nb[k++] = c;
            }
        }
    }
    return k;
}
