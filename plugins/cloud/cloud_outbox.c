/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The uplink path and the outbox pump. qtd_cloud_send frames an uplink and either sends it
 * at once (mode 0) or stores it. Every uplink with mode >= 1 is a row of the store's outbox before
 * it is handed to MQTT; once per loop turn (and after each acknowledgement) the pump commits the
 * store and sends rows in id order while the in-flight window has room, from rows read ahead
 * (up to CLOUD_AHEAD_ROWS with one SELECT) rather than a SELECT per turn. A row is deleted
 * when the broker acknowledges it (PUBACK/PUBCOMP), which raises 4/10200, 4/10210 or
 * 4/10220. After a reconnect everything unacknowledged goes again, oldest first: delivery
 * is at least once and ordered per device. Memory is bounded by the window, whatever the
 * backlog.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud.h"
#include "cloud_auth.h"
#include "cloud_frame.h"
#include "cloud_ttlv.h"

int qtd_cloud_publish_sealed(cloud_t *c, const char *topic, int qos, const uint8_t *frame,
                             size_t len, const uint8_t *key, int *token)
{
    if (key == NULL) {
        return qtd_cloud_mq_publish(c->mq, topic, qos, frame, len, token);
    }
    uint8_t iv[16];
    uint8_t *enc = NULL;
    size_t n = 0;
    qtd_auth_iv(key, 16, iv);
    int rc = qtd_aes128cbc(true, key, iv, frame, len, &enc, &n);
    if (rc == 0) {
        rc = qtd_cloud_mq_publish(c->mq, topic, qos, enc, n, token);
    }
    free(enc);
    return rc < 0 ? rc : 0;
}

int qtd_cloud_publish_frame(cloud_t *c, const char *topic, int qos, const uint8_t *frame,
                            size_t len, int *token)
{
    bool sealed = c->id.session_flag && c->session_key_ok;
    return qtd_cloud_publish_sealed(c, topic, qos, frame, len, sealed ? c->session_key : NULL,
                                    token);
}

/* The command of a stored frame, read from its (escaped) header in place. */
static uint16_t frame_cmd(const uint8_t *frame, size_t len)
{
    uint16_t pkgid = 0;
    uint16_t cmd = 0;
    return qtd_frame_header(frame, len, &pkgid, &cmd) == 0 ? cmd : 0;
}

typedef struct {
    cloud_t *c;
    bool stop;
    size_t seen; /* rows visited */
} walk_t;

static void raise_sent(cloud_t *c, subdev_t *sd, uint16_t cmd, bool ok);

static bool in_flight(const cloud_t *c, int64_t id)
{
    for (size_t i = 0; i < c->n_inflight; i++) {
        if (c->inflight[i].row == id) {
            return true;
        }
    }
    return false;
}

/* A row of an offline sub-device: passed over, kept, sent once it is back. */
static void hold(cloud_t *c, int64_t id)
{
    c->sent_upto = id;
    if (c->held_from == 0 || id < c->held_from) {
        c->held_from = id;
    }
}

void qtd_cloud_pump_release(cloud_t *c)
{
    if (c->held_from > 0) {
        qtd_cloud_pump_forget(c);
        if (c->sent_upto >= c->held_from) {
            c->sent_upto = c->held_from - 1; /* rows in flight are passed over, not resent */
        }
        c->held_from = 0;
        c->pump_wanted = true;
    }
}

/*
 * A row that can never be published (it fails to encrypt, say) would block every row behind
 * it forever: move it aside into the kv table (CLOUD_KV_DEAD_PREFIX<id>: the topic type, a
 * newline, the frame), delete it from the outbox, count it, raise the failure event of its
 * command and log it by id. Nothing is lost silently; the row can be inspected or replayed.
 */
static void bury(cloud_t *c, int64_t id, const char *topic, const void *payload, size_t len)
{
    char key[64];
    snprintf(key, sizeof(key), CLOUD_KV_DEAD_PREFIX "%lld", (long long)id);
    size_t tlen = strlen(topic);
    uint8_t *buf = c->api->malloc(c->host, tlen + 1 + len);
    int rc = QTD_ENOMEM;
    if (buf != NULL) {
        memcpy(buf, topic, tlen);
        buf[tlen] = '\n';
        memcpy(buf + tlen + 1, payload, len);
        rc = c->api->kv_set(c->host, key, buf, tlen + 1 + len);
        c->api->free(c->host, buf);
    }
    if (rc == 0) {
        rc = c->api->outbox_del(c->host, id);
    }
    if (rc < 0) {
        c->api->log(c->host, QTD_LOG_ERROR, "outbox row %lld cannot be moved aside: %s",
                    (long long)id, c->api->strerror(rc));
        return;
    }
    c->stat_dead++;
    c->sent_upto = id; /* passed: the rows behind it go next */
    c->poison_row = 0;
    c->poison_attempts = 0;
    c->api->log(c->host, QTD_LOG_ERROR,
                "outbox row %lld (%s, %zu bytes) failed to publish %d times: moved aside to "
                "the store's kv as %s so the rows behind it can go (%llu moved aside this run)",
                (long long)id, topic, len, CLOUD_POISON_ATTEMPTS, key,
                (unsigned long long)c->stat_dead);
    raise_sent(c, qtd_cloud_subdev_of_row(c, topic), frame_cmd(payload, len), false);
}

static int send_row(void *arg, int64_t id, const char *topic, int qos, const void *payload,
                    size_t len)
{
    walk_t *w = arg;
    cloud_t *c = w->c;
    int token = 0;
    char full[CLOUD_TOPIC_MAX];
    w->seen++;
    if (id <= c->sent_max && in_flight(c, id)) {
        c->sent_upto = id; /* a walk again after a sub-device came back */
        return 0;
    }
    subdev_t *sd = qtd_cloud_subdev_of_row(c, topic);
    int rc;
    if (sd != NULL || strncmp(topic, CLOUD_SUBDEV_ROW, strlen(CLOUD_SUBDEV_ROW)) == 0) {
        if (sd == NULL || sd->state != SUBDEV_ONLINE) {
            hold(c, id); /* not sent as anybody else, not dropped */
            return 0;
        }
        snprintf(full, sizeof(full), "q/2/d/%s/bus", sd->id);
        rc = qtd_cloud_publish_sealed(c, full, qos, payload, len, sd->key_ok ? sd->key : NULL,
                                      &token);
    } else {
        qtd_cloud_uplink_topic(c, topic, full, sizeof(full));
        rc = qtd_cloud_publish_frame(c, full, qos, payload, len, &token);
    }
    if (rc < 0) {
        w->stop = true;
        if (rc == QTD_EAGAIN || rc == QTD_ENOTCONN) {
            return 1; /* the connection's fault, not the row's: it goes again */
        }
        c->poison_attempts = c->poison_row == id ? c->poison_attempts + 1 : 1;
        c->poison_row = id;
        c->api->log(c->host, QTD_LOG_WARN, "outbox row %lld not sent (attempt %d of %d): %s",
                    (long long)id, c->poison_attempts, CLOUD_POISON_ATTEMPTS, c->api->strerror(rc));
        if (c->poison_attempts >= CLOUD_POISON_ATTEMPTS) {
            bury(c, id, topic, payload, len);
            w->stop = false; /* the rows behind it may go now */
            c->pump_wanted = true;
        }
        return 1;
    }
    inflight_t *slot = &c->inflight[c->n_inflight++];
    slot->row = id;
    slot->token = token;
    slot->sent_ms = uv_now(c->loop);
    slot->cmd = frame_cmd(payload, len);
    slot->len = (uint32_t)len;
    c->inflight_bytes += slot->len;
    slot->sd = sd;
    c->sent_upto = id;
    if (id > c->sent_max) {
        c->sent_max = id;
    }
    c->stat_sent++;
    c->api->log(c->host, QTD_LOG_DEBUG, "sent outbox row %lld (token %d)", (long long)id, token);
    return 0;
}

static int cmp_row(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void qtd_cloud_pump_delete_acked(cloud_t *c)
{
    if (c->n_acked == 0) {
        return;
    }
    /* Acknowledgements come mostly in order: runs of consecutive ids go with one statement
     * (a run holds acknowledged rows only, so a held row between two is never deleted). */
    qsort(c->acked, c->n_acked, sizeof(c->acked[0]), cmp_row);
    bool ranges = offsetof(qtd_host_api_t, outbox_del_range) < c->api->size;
    for (size_t i = 0; i < c->n_acked;) {
        size_t j = i + 1;
        while (ranges && j < c->n_acked && c->acked[j] <= c->acked[j - 1] + 1) {
            j++;
        }
        int rc = ranges ? c->api->outbox_del_range(c->host, c->acked[i], c->acked[j - 1])
                        : c->api->outbox_del(c->host, c->acked[i]);
        if (rc < 0) {
            /* At least once: the rows go again after a restart. */
            c->api->log(c->host, QTD_LOG_WARN,
                        "outbox rows %lld..%lld acknowledged but not deleted: %s",
                        (long long)c->acked[i], (long long)c->acked[j - 1], c->api->strerror(rc));
        }
        i = j;
    }
    c->n_acked = 0;
}

void qtd_cloud_pump_forget(cloud_t *c)
{
    c->ahead_n = 0;
    c->ahead_pos = 0;
    c->ahead_used = 0;
}

static int read_ahead_row(void *arg, int64_t id, const char *topic, int qos, const void *payload,
                          size_t len)
{
    cloud_t *c = arg;
    size_t tl = strlen(topic);
    if (c->ahead_n == CLOUD_AHEAD_ROWS || c->ahead_used + tl + 1 + len > CLOUD_AHEAD_BYTES) {
        return 1; /* full: the rest at the next read */
    }
    ahead_row_t *r = &c->ahead[c->ahead_n++];
    r->id = id;
    r->qos = qos;
    r->off = c->ahead_used;
    r->topic_len = tl;
    r->len = len;
    memcpy(c->ahead_buf + c->ahead_used, topic, tl + 1);
    memcpy(c->ahead_buf + c->ahead_used + tl + 1, payload, len);
    c->ahead_used += tl + 1 + len;
    return 0;
}

/* The rows read ahead still follow sent_upto. */
static bool ahead_fresh(const cloud_t *c)
{
    if (c->ahead_pos >= c->ahead_n) {
        return false;
    }
    int64_t before = c->ahead_pos == 0 ? c->ahead_after : c->ahead[c->ahead_pos - 1].id;
    return before == c->sent_upto;
}

void qtd_cloud_pump(cloud_t *c)
{
    c->pump_wanted = false;
    qtd_cloud_pump_delete_acked(c);
    if (!c->online || c->stopping) {
        return;
    }
    /* Send only what is on disk: a crash after the send must not lose the row. */
    if (c->api->store_commit(c->host) < 0) {
        c->pump_wanted = true; /* the pump timer tries again */
        return;
    }
    size_t window = (size_t)c->cfg->window;
    size_t window_bytes = (size_t)c->cfg->window_kib * 1024;
    walk_t w = {c, false, 0};
    while (!w.stop && c->n_inflight < window &&
           (c->n_inflight == 0 || c->inflight_bytes < window_bytes)) {
        if (!ahead_fresh(c)) {
            /* One SELECT for the next CLOUD_AHEAD_ROWS rows, not one a turn. */
            qtd_cloud_pump_forget(c);
            c->ahead_after = c->sent_upto;
            if (c->api->outbox_peek(c->host, c->sent_upto, CLOUD_AHEAD_ROWS, read_ahead_row, c) <
                0) {
                break;
            }
        }
        if (c->ahead_pos < c->ahead_n) {
            const ahead_row_t *r = &c->ahead[c->ahead_pos];
            const char *topic = (const char *)c->ahead_buf + r->off;
            const uint8_t *payload = c->ahead_buf + r->off + r->topic_len + 1;
            (void)send_row(&w, r->id, topic, r->qos, payload, r->len);
            if (c->sent_upto < r->id) {
                break; /* not sent (the connection's fault, or a retry): it goes next time */
            }
            c->ahead_pos++;
            continue;
        }
        /* Nothing read ahead: no row, or one bigger than the buffer, read alone. */
        w.seen = 0;
        int rc = c->api->outbox_peek(c->host, c->sent_upto, 1, send_row, &w);
        if (rc < 0 || w.seen == 0) {
            break; /* nothing more to send */
        }
    }
}

void qtd_cloud_pump_reset(cloud_t *c)
{
    qtd_cloud_pump_delete_acked(c);
    qtd_cloud_pump_forget(c);
    c->n_inflight = 0;
    c->inflight_bytes = 0;
    c->sent_upto = 0;
    c->held_from = 0;
    c->sent_max = 0;
}

static void raise_sent(cloud_t *c, subdev_t *sd, uint16_t cmd, bool ok)
{
    int code = qtd_cloud_sent_code(cmd, ok);
    if (code == 0) {
        return; /* answers to reads, exceptions: no event */
    }
    if (sd != NULL) {
        qtd_cloud_subdev_event(c, sd, QTD_EVT_SEND, code, NULL);
    } else {
        qtd_cloud_publish_event(c, QTD_EVT_SEND, code, NULL);
    }
}

int qtd_cloud_sent_code(uint16_t cmd, bool ok)
{
    int code;
    switch (cmd) {
    case QTD_CMD_PASS_EVENT:
        code = ok ? QTD_CODE_OK : QTD_CODE_FAIL;
        break;
    case QTD_CMD_TSL_EVENT:
    case QTD_CMD_TSL_RSP:
        code = ok ? QTD_CODE_TSL : QTD_CODE_TSL_FAIL;
        break;
    case QTD_CMD_LOC_REPORT:
    case QTD_CMD_LOC_RSP:
        code = ok ? QTD_CODE_LOC : QTD_CODE_LOC_FAIL;
        break;
    case QTD_CMD_STATUS_EVENT:
        code = ok ? QTD_CODE_STATUS : QTD_CODE_STATUS_FAIL;
        break;
    case QTD_CMD_INFO_EVENT:
        code = ok ? QTD_CODE_INFO : QTD_CODE_INFO_FAIL;
        break;
    default:
        return 0;
    }
    return code;
}

void qtd_cloud_pump_acked(cloud_t *c, int token, bool ok)
{
    for (size_t i = 0; i < c->n_inflight; i++) {
        if (c->inflight[i].token != token) {
            continue;
        }
        inflight_t done = c->inflight[i];
        memmove(&c->inflight[i], &c->inflight[i + 1], (c->n_inflight - i - 1) * sizeof(done));
        c->n_inflight--;
        c->inflight_bytes -= done.len;
        if (ok) {
            c->acked[c->n_acked++] = done.row; /* deleted by the pump, this loop turn */
            c->stat_acked++;
            raise_sent(c, done.sd, done.cmd, true);
        } else {
            /* Kept: it goes again after the next reconnect. */
            c->api->log(c->host, QTD_LOG_WARN, "outbox row %lld not acknowledged; kept",
                        (long long)done.row);
        }
        c->pump_wanted = true;
        return;
    }
}
void qtd_cloud_rows_lost(cloud_t *c, int64_t first, int64_t last)
{
    size_t n = c->puts_next < CLOUD_RECENT_PUTS ? c->puts_next : CLOUD_RECENT_PUTS;
    size_t raised = 0;
    for (size_t i = c->puts_next - n; i < c->puts_next; i++) {
        cloud_put_t *p = &c->puts[i % CLOUD_RECENT_PUTS];
        if (p->row >= first && p->row <= last) {
            raise_sent(c, p->sd, p->cmd, false);
            raised++;
            p->row = -1; /* told once: a rolled-back id is given out again */
        }
    }
    c->api->log(c->host, QTD_LOG_WARN,
                "outbox rows %lld..%lld were lost before they reached the disk: %zu failure "
                "events raised",
                (long long)first, (long long)last, raised);
}

/* ---- framing and sending ---- */

int qtd_cloud_send(cloud_t *c, int mode, uint16_t cmd, uint16_t pkgid, const uint8_t *payload,
                   size_t len)
{
    if (mode < 0 || mode > 2) {
        return QTD_EINVAL;
    }
    const char *type = qtd_frame_topic_type(cmd);
    if (type == NULL) {
        return QTD_EINVAL;
    }
    if (c->id.pk[0] == '\0') {
        /* Set in this very callback: the settings event arrives after it returns. */
        qtd_cloud_load_identity(c);
        if (c->id.pk[0] == '\0') {
            return QTD_ENOENT;
        }
    }
    if (mode == 0 && !c->online) {
        return QTD_ENOTCONN;
    }
    if (pkgid == 0) {
        c->pkgid = qtd_frame_next_pkgid(c->pkgid);
        pkgid = c->pkgid;
    }
    uint8_t *frame = NULL;
    size_t flen = 0;
    int rc = qtd_frame_encode(pkgid, cmd, payload, len, &frame, &flen);
    if (rc < 0) {
        return rc;
    }
    if (mode == 0) {
        char topic[CLOUD_TOPIC_MAX];
        qtd_cloud_uplink_topic(c, type, topic, sizeof(topic));
        rc = qtd_cloud_publish_frame(c, topic, 0, frame, flen, NULL);
    } else {
        /* The row keeps the topic type only: the topic is made at send time, for the
         * identity of the connection that sends it. */
        rc = qtd_cloud_store_row(c, type, mode, frame, flen, cmd, NULL);
    }
    free(frame);
    return rc;
}

int qtd_cloud_store_row(cloud_t *c, const char *topic, int qos, const uint8_t *frame, size_t len,
                        uint16_t cmd, subdev_t *sd)
{
    int64_t row = 0;
    int rc = c->api->outbox_put(c->host, topic, qos, frame, len, &row);
    if (rc == 0) {
        c->puts[c->puts_next % CLOUD_RECENT_PUTS] = (cloud_put_t){row, cmd, sd};
        c->puts_next++;
    }
    c->pump_wanted = true;
    return rc;
}

/* The parts one after the other into out (n > 0 bytes), cut short like snprintf's. */
static void join(char *out, size_t n, const char *const *parts, size_t count)
{
    size_t len = 0;
    for (size_t i = 0; i < count && len < n - 1; i++) {
        size_t l = strlen(parts[i]);
        if (l > n - 1 - len) {
            l = n - 1 - len;
        }
        memcpy(out + len, parts[i], l);
        len += l;
    }
    out[len] = '\0';
}

void qtd_cloud_uplink_topic(const cloud_t *c, const char *type, char *topic, size_t n)
{
    /* for every row sent: copies, not a format parsed each time */
    if (strchr(type, '/') != NULL) {
        join(topic, n, &type, 1); /* a row stored with its whole topic */
    } else {
        const char *parts[] = {"q/2/d/", c->cid, "/", type};
        join(topic, n, parts, 4);
    }
}

int qtd_cloud_send_value(cloud_t *c, int mode, uint16_t cmd, uint16_t pkgid, const qtd_value_t *v)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = qtd_ttlv_encode(v, &buf, &n);
    if (rc < 0) {
        return rc;
    }
    rc = qtd_cloud_send(c, mode, cmd, pkgid, buf, n);
    free(buf);
    return rc;
}
