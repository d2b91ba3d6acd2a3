/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Downlink messages: the topic check, session decryption, frame decoding, and the dispatch
 * of each command through one table of {cmd, ttlv, handler} that the feature areas fill
 * (cloud_tsl.c: thing model and passthrough; cloud_sys.c: status, info, exceptions, device
 * config; later OTA, location and gateway). A malformed frame or an unknown command is
 * answered with EXCE_EVENT 0x00A4, never a crash. Not here: what a command does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud.h"
#include "cloud_auth.h"
#include "cloud_frame.h"
#include "cloud_ttlv.h"

#define LOG(c, lvl, ...) (c)->api->log((c)->host, (lvl), __VA_ARGS__)

/* The feature areas, each a table ending with cmd 0. */
static const cloud_downlink_t *const areas[] = {qtd_cloud_tsl_downlinks, qtd_cloud_sys_downlinks,
                                                qtd_cloud_ota_downlinks, qtd_cloud_subdev_downlinks,
                                                qtd_cloud_loc_downlinks};

void qtd_cloud_send_exce(cloud_t *c, int reason, uint16_t pkgid)
{
    qtd_value_t items[2] = {{.type = QTD_VAL_INT, .id = 1, .u.i = reason},
                            {.type = QTD_VAL_INT, .id = 2, .u.i = pkgid}};
    qtd_value_t v = {.type = QTD_VAL_STRUCT, .u.list = {items, 2}};
    int rc = qtd_cloud_send_value(c, 1, QTD_CMD_EXCE_EVENT, 0, &v);
    if (rc < 0) {
        LOG(c, QTD_LOG_WARN, "cannot answer pkgid %u with an exception: %s", pkgid,
            c->api->strerror(rc));
    }
}

const qtd_value_t *qtd_cloud_find_id(const qtd_value_t *s, uint16_t id)
{
    for (size_t i = 0; i < s->u.list.count; i++) {
        if (s->u.list.items[i].id == id) {
            return &s->u.list.items[i];
        }
    }
    return NULL;
}

int qtd_cloud_id_list(const qtd_frame_t *f, uint16_t *ids, size_t max, size_t *n)
{
    if (f->len % 2 != 0 || f->len / 2 > max) {
        return -1;
    }
    *n = f->len / 2;
    for (size_t i = 0; i < *n; i++) {
        ids[i] = (uint16_t)(f->payload[2 * i] << 8 | f->payload[2 * i + 1]);
    }
    return 0;
}

void qtd_cloud_malformed(cloud_t *c, int reason, uint16_t pkgid, const char *fmt, ...)
{
    uint64_t now = uv_now(c->loop);
    if (now - c->malformed_at >= CLOUD_MALFORMED_LOG_MS || c->malformed_lines == 0) {
        c->malformed_at = now; /* a new window */
        c->malformed_lines = 0;
    }
    if (c->malformed_lines < CLOUD_MALFORMED_LOG_LINES) {
        char what[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        char quiet[80] = "";
        if (c->malformed_quiet > 0) {
            snprintf(quiet, sizeof(quiet), " (%llu more were not logged)",
                     (unsigned long long)c->malformed_quiet);
        }
        LOG(c, QTD_LOG_WARN, "malformed downlink %s, answered with 0x00A4 reason %d%s", what,
            reason, quiet);
        c->malformed_lines++;
        c->malformed_quiet = 0;
    } else {
        c->malformed_quiet++;
    }
    qtd_cloud_send_exce(c, reason, pkgid);
}

static const cloud_downlink_t *handler_of(uint16_t cmd)
{
    for (size_t a = 0; a < sizeof(areas) / sizeof(areas[0]); a++) {
        for (const cloud_downlink_t *h = areas[a]; h->cmd != 0; h++) {
            if (h->cmd == cmd) {
                return h;
            }
        }
    }
    return NULL;
}

static void on_frame(cloud_t *c, const qtd_frame_t *f)
{
    const cloud_downlink_t *h = handler_of(f->cmd);
    if (h == NULL) {
        LOG(c, QTD_LOG_WARN, "downlink command 0x%04x (pkgid %u) is not supported", f->cmd,
            f->pkgid);
        qtd_cloud_send_exce(c, QTD_EXCE_COMMAND, f->pkgid);
        return;
    }
    qtd_value_t tree = {.type = QTD_VAL_STRUCT};
    if (h->ttlv) {
        size_t off = 0;
        if (qtd_ttlv_decode(f->payload, f->len, &tree, &off) < 0) {
            qtd_cloud_malformed(c, QTD_EXCE_UNFORMATTABLE, f->pkgid,
                                "0x%04x pkgid %u: bad TTLV at byte %zu (or nested deeper than "
                                "%d)",
                                f->cmd, f->pkgid, off, QTD_VALUE_MAX_NESTING);
            return;
        }
    }
    h->fn(c, f, &tree);
    qtd_ttlv_free(&tree);
}

void qtd_cloud_on_message(cloud_t *c, const mq_event_t *ev)
{
    const uint8_t *data = ev->payload;
    size_t len = ev->len;
    uint8_t *plain = NULL;
    if (ev->topic == NULL || strncmp(ev->topic, c->sub_topic, strlen(c->sub_topic) - 1) != 0) {
        if (qtd_cloud_subdev_message(c, ev)) {
            return; /* a sub-device's */
        }
        LOG(c, QTD_LOG_WARN, "message on unexpected topic %s ignored",
            ev->topic != NULL ? ev->topic : "(unknown)");
        return;
    }
    if (c->id.session_flag && c->session_key_ok) {
        uint8_t iv[16];
        size_t n = 0;
        qtd_auth_iv(c->session_key, 16, iv);
        if (qtd_aes128cbc(false, c->session_key, iv, data, len, &plain, &n) < 0) {
            /* Named as such: the usual cause is a session key out of step. */
            LOG(c, QTD_LOG_WARN, "downlink does not decrypt with the session key");
            qtd_cloud_send_exce(c, QTD_EXCE_UNFORMATTABLE, 0);
            return;
        }
        data = plain;
        len = n;
    }
    qtd_frame_t f;
    uint8_t *storage = NULL;
    int reason = 0;
    if (qtd_frame_decode(data, len, &f, &storage, &reason) < 0) {
        if (reason != 0) { /* 0: out of memory, not the frame's fault */
            qtd_cloud_malformed(c, reason, f.pkgid, "(%zu bytes)", len);
        }
    } else {
        on_frame(c, &f);
    }
    free(storage);
    free(plain);
}
