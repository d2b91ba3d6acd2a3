/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Status (seed 3.5.4, ids 1-7) and device information (seed 3.5.6, ids 1-14) of this Linux
 * host, as TTLV-ready value trees. What the host has: battery capacity and voltage from
 * /sys/class/power_supply (a supply of type Battery), free bytes of the agent's data
 * directory, the model from the device tree or DMI, the agent's version, MCU versions set by
 * the script, the protocol versions. What a modem would give (RSSI, RSRP, RSRQ, SNR, cell,
 * ICCID, MCC, MNC, LAC, phone number, IMSI) is "not available" until an AT port is
 * configured: such ids are left out of reports and answers (docs/protocol.md). Status values
 * the script supplies (cloud.setDevStatus) take the place of the host's. Status ids 101-104
 * are ours: the outbox's delivery state, from the host's store.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "cloud.h"

#define MAX_IDS 16

typedef struct {
    qtd_value_t items[MAX_IDS];
    char text[MAX_IDS][256];
    size_t n;
} builder_t;

static int read_line(const char *path, char *buf, size_t n)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return -1;
    }
    char *ok = fgets(buf, (int)n, fp);
    fclose(fp);
    if (ok == NULL) {
        return -1;
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf[0] != '\0' ? 0 : -1;
}

/* The first power supply of type Battery: path prefix into dir (returns 0), or -1. */
static int battery_dir(char *dir, size_t n)
{
    DIR *d = opendir("/sys/class/power_supply");
    if (d == NULL) {
        return -1;
    }
    struct dirent *e;
    int rc = -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char path[512];
        char type[64];
        snprintf(path, sizeof(path), "/sys/class/power_supply/%s/type", e->d_name);
        if (read_line(path, type, sizeof(type)) == 0 && strcmp(type, "Battery") == 0) {
            snprintf(dir, n, "/sys/class/power_supply/%s", e->d_name);
            rc = 0;
            break;
        }
    }
    closedir(d);
    return rc;
}

static void add_int(builder_t *b, uint16_t id, int64_t v)
{
    b->items[b->n] = (qtd_value_t){.type = QTD_VAL_INT, .id = id, .u.i = v};
    b->n++;
}

static void add_text(builder_t *b, uint16_t id, const char *s)
{
    snprintf(b->text[b->n], sizeof(b->text[b->n]), "%s", s);
    b->items[b->n] = (qtd_value_t){.type = QTD_VAL_STRING, .id = id};
    b->items[b->n].u.s.ptr = b->text[b->n];
    b->items[b->n].u.s.len = strlen(b->text[b->n]);
    b->n++;
}

static bool wanted(const uint16_t *ids, size_t n, uint16_t id)
{
    if (n == 0) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

/* Copy the builder into one heap block (node, items, text) that the caller releases with
 * qtd_cloud_value_free. */
static int finish(cloud_t *c, builder_t *b, qtd_value_t **out)
{
    size_t text = 0;
    for (size_t i = 0; i < b->n; i++) {
        text += b->items[i].type == QTD_VAL_STRING ? b->items[i].u.s.len + 1 : 0;
    }
    size_t head = sizeof(qtd_value_t) * (b->n + 1);
    qtd_value_t *v = c->api->calloc(c->host, 1, head + text + 1);
    if (v == NULL) {
        return QTD_ENOMEM;
    }
    qtd_value_t *items = v + 1;
    char *p = (char *)v + head;
    for (size_t i = 0; i < b->n; i++) {
        items[i] = b->items[i];
        if (items[i].type == QTD_VAL_STRING) {
            memcpy(p, b->items[i].u.s.ptr, b->items[i].u.s.len + 1);
            items[i].u.s.ptr = p;
            p += b->items[i].u.s.len + 1;
        }
    }
    v->type = QTD_VAL_STRUCT;
    v->u.list.items = items;
    v->u.list.count = b->n;
    *out = v;
    return 0;
}

void qtd_cloud_value_free(cloud_t *c, qtd_value_t *v)
{
    c->api->free(c->host, v);
}

/* The host's own value of status id 1..7 into *v (id set). Returns whether it has one. */
static bool host_status(cloud_t *c, uint16_t id, qtd_value_t *v)
{
    char dir[300];
    char line[64];
    char path[400];
    const qtd_modem_info_t *m = c->modem_ok ? &c->modem : NULL;
    *v = (qtd_value_t){.type = QTD_VAL_INT, .id = id};
    switch (id) {
    case 1:
    case 2:
        if (battery_dir(dir, sizeof(dir)) != 0) {
            return false;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, id == 1 ? "capacity" : "voltage_now");
        if (read_line(path, line, sizeof(line)) != 0) {
            return false;
        }
        if (id == 1) {
            v->u.i = strtoll(line, NULL, 10);
        } else {
            /* microvolts -> volts, kept to the millivolt */
            v->type = QTD_VAL_DOUBLE;
            v->u.d = (double)(strtoll(line, NULL, 10) / 1000) / 1000.0;
        }
        return true;
    case 4: {
        struct statvfs fs;
        if (statvfs(c->api->data_dir(c->host), &fs) != 0) {
            return false;
        }
        v->u.i = (int64_t)fs.f_bavail * (int64_t)fs.f_frsize;
        return true;
    }
    /* 3 RSSI, 5 RSRP, 6 RSRQ, 7 SNR: from the modem (cloud.at_port) when it answers. */
    case 3:
        v->u.i = m != NULL ? m->rssi_dbm : 0;
        return m != NULL && m->has_rssi;
    case 5:
        v->u.i = m != NULL ? m->rsrp : 0;
        return m != NULL && m->has_rsrp;
    case 6:
        v->u.i = m != NULL ? m->rsrq : 0;
        return m != NULL && m->has_rsrq;
    case 7:
        v->u.i = m != NULL ? m->snr : 0;
        return m != NULL && m->has_snr;
    default:
        return false;
    }
}

/* The host has the member m of its API table (one built before m was added has not). */
#define HOST_HAS(c, m) (offsetof(qtd_host_api_t, m) < (c)->api->size)

/* Ours, asked for by id only (not in "all"): the delivery state, 101 outbox rows, 102 their
 * bytes, 103 the age of the oldest in seconds (0 when none waits), 104 the rows the outbox
 * cap dropped (docs/protocol.md "Status ids of ours"). An id the host cannot give is left
 * out. */
static void delivery_state(cloud_t *c, const uint16_t *ids, size_t n, builder_t *b)
{
    uint64_t rows = 0, bytes = 0;
    if ((wanted(ids, n, 101) || wanted(ids, n, 102)) &&
        c->api->outbox_count(c->host, &rows, &bytes) == 0) {
        if (wanted(ids, n, 101)) {
            add_int(b, 101, (int64_t)rows);
        }
        if (wanted(ids, n, 102)) {
            add_int(b, 102, (int64_t)bytes);
        }
    }
    int64_t oldest = 0;
    if (wanted(ids, n, 103) && HOST_HAS(c, outbox_oldest) &&
        c->api->outbox_oldest(c->host, &oldest) == 0) {
        int64_t age = oldest > 0 ? (int64_t)time(NULL) - oldest : 0;
        add_int(b, 103, age > 0 ? age : 0);
    }
    if (wanted(ids, n, 104) && HOST_HAS(c, outbox_dropped)) {
        uint64_t dropped = c->api->outbox_dropped(c->host);
        add_int(b, 104, dropped > INT64_MAX ? INT64_MAX : (int64_t)dropped);
    }
}

int qtd_cloud_status_value(cloud_t *c, const uint16_t *ids, size_t n, qtd_value_t **out)
{
    builder_t b = {.n = 0};
    for (uint16_t id = 1; id <= 7; id++) {
        if (!wanted(ids, n, id)) {
            continue;
        }
        if (c->script_status_set[id]) {
            /* What the script supplies (cloud.setDevStatus) wins over the host's value. */
            double d = c->script_status[id];
            b.items[b.n] = (qtd_value_t){.type = QTD_VAL_DOUBLE, .id = id};
            if (d == (double)(int64_t)d) {
                b.items[b.n].type = QTD_VAL_INT;
                b.items[b.n].u.i = (int64_t)d;
            } else {
                b.items[b.n].u.d = d;
            }
            b.n++;
        } else if (host_status(c, id, &b.items[b.n])) {
            b.n++;
        }
    }
    if (n > 0) {
        delivery_state(c, ids, n, &b);
    }
    return finish(c, &b, out);
}

/* "comp:ver;comp:ver" from the netstrings the quecIot module stores. */
void qtd_cloud_mcu_versions(cloud_t *c, char *out, size_t n)
{
    char *v = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (c->api->kv_get(c->host, CLOUD_KV_MCU, &v, &len) < 0) {
        return;
    }
    size_t used = 0;
    const char *p = v;
    const char *end = v + len;
    int field = 0;
    while (p < end && used < n) {
        char *colon = NULL;
        unsigned long l = strtoul(p, &colon, 10);
        if (colon == NULL || colon >= end || *colon != ':' ||
            l > (unsigned long)(end - colon - 1)) {
            break;
        }
        used += (size_t)snprintf(out + used, n - used, "%s%.*s",
                                 field == 0 ? (used ? ";" : "") : ":", (int)l, colon + 1);
        p = colon + 1 + l + 1; /* skip the ',' */
        field ^= 1;
    }
    c->api->free(c->host, v);
}

static void os_model(char *out, size_t n)
{
    if (read_line("/sys/firmware/devicetree/base/model", out, n) == 0 ||
        read_line("/sys/class/dmi/id/product_name", out, n) == 0) {
        return;
    }
    FILE *fp = fopen("/etc/os-release", "r");
    snprintf(out, n, "linux");
    if (fp == NULL) {
        return;
    }
    char line[256];
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (strncmp(line, "PRETTY_NAME=", 12) == 0) {
            char *s = line + 12;
            s[strcspn(s, "\r\n")] = '\0';
            if (*s == '"') {
                s++;
                s[strcspn(s, "\"")] = '\0';
            }
            snprintf(out, n, "%s", s);
        }
    }
    fclose(fp);
}

int qtd_cloud_info_value(cloud_t *c, const uint16_t *ids, size_t n, qtd_value_t **out)
{
    builder_t b = {.n = 0};
    char text[256];
    if (wanted(ids, n, 1)) {
        os_model(text, sizeof(text));
        add_text(&b, 1, text);
    }
    if (wanted(ids, n, 2)) {
        add_text(&b, 2, c->api->agent_version());
    }
    if (wanted(ids, n, 3)) {
        qtd_cloud_mcu_versions(c, text, sizeof(text));
        add_text(&b, 3, text);
    }
    /* 4 cell id .. 10 IMSI: from the modem (cloud.at_port) when it answers. */
    const qtd_modem_info_t *m = c->modem_ok ? &c->modem : NULL;
    /* Numbers like the SDK (ql_iotCmdSys.c adds them with Ql_iotTtlvIdAddInt). */
    if (m != NULL && m->has_cell && wanted(ids, n, 4)) {
        add_int(&b, 4, m->cell_id);
    }
    if (m != NULL && m->iccid[0] != '\0' && wanted(ids, n, 5)) {
        add_text(&b, 5, m->iccid);
    }
    if (m != NULL && m->has_cell && wanted(ids, n, 6)) {
        add_int(&b, 6, m->mcc);
    }
    if (m != NULL && m->has_cell && wanted(ids, n, 7)) {
        add_int(&b, 7, m->mnc);
    }
    if (m != NULL && m->has_cell && wanted(ids, n, 8)) {
        add_int(&b, 8, m->lac);
    }
    if (m != NULL && m->phone[0] != '\0' && wanted(ids, n, 9)) {
        add_text(&b, 9, m->phone);
    }
    if (m != NULL && m->imsi[0] != '\0' && wanted(ids, n, 10)) {
        add_text(&b, 10, m->imsi);
    }
    if (wanted(ids, n, 11)) {
        snprintf(text, sizeof(text), "qthingd-%s", c->api->agent_version());
        add_text(&b, 11, text);
    }
    if (wanted(ids, n, 12)) {
        char sup[256];
        qtd_cloud_loc_support(c, sup, sizeof(sup)); /* the GNSS plugin's, "" without it */
        add_text(&b, 12, sup);
    }
    if (wanted(ids, n, 13)) {
        add_text(&b, 13, "1.3.0");
    }
    if (wanted(ids, n, 14)) {
        add_text(&b, 14, "3.0.0");
    }
    return finish(c, &b, out);
}
