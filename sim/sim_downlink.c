/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Frames to devices: bytes or a frame sent on q/1/d/<client>/<type>, encrypted under the
 * session key when the device has one, logged and counted as they were before encryption
 * (device secrets and session keys redacted); the queue of downlinks scheduled for later
 * (a device secret --reg-delay-ms after its registration, a session key, EXCE_WRITE after a
 * failed authentication); and the EXCE_WRITE payload. Not here: deciding what to send
 * (sim_session.c, sim_ctl.c), the frame codec (plugins/cloud).
 */
#include "sim.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <MQTTClient.h>
#include <cJSON.h>
#include <openssl/crypto.h>

#include "cloud_frame.h"
#include "cloud_ttlv.h"
#include "sim_json.h"

/* ---- sending */

/* Hide device secrets (ids 5 and 10) and the session key (6) of a DEV_CONFIG_WRITE. */
static void redact(cJSON *line)
{
    cJSON *data = cJSON_GetObjectItemCaseSensitive(line, "data");
    static const char *const ids[] = {"5", "6", "10"};

    for (size_t i = 0; cJSON_IsObject(data) && i < 3; i++) {
        if (cJSON_GetObjectItemCaseSensitive(data, ids[i]) != NULL) {
            cJSON_ReplaceItemInObjectCaseSensitive(data, ids[i], cJSON_CreateString("<redacted>"));
        }
    }
}

/* Send bytes to q/1/d/<client>/<type>, encrypted with the session key when the device has
 * one (unless plain); log them as they were before encryption. Returns 0, a Paho error, or
 * MQTTCLIENT_FAILURE when they cannot be encrypted. */
int sim_send_bytes(sim_t *s, sim_device_t *d, const char *type, int qos, const uint8_t *buf,
                   size_t n, bool plain)
{
    char topic[SIM_CLIENTID_MAX + 16];
    bool encrypt = d->session != SIM_SESSION_NONE && !plain;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    int malformed = 0;
    cJSON *line;
    int rc;

    snprintf(topic, sizeof(topic), "q/1/d/%s/%s", d->id, type);
    if (encrypt && sim_session_crypt(d, true, buf, n, &enc, &enc_len) != 0) {
        sim_log_event(s, "error", "cannot encrypt a downlink to %s", d->id);
        return MQTTCLIENT_FAILURE;
    }
    rc = encrypt ? sim_publish(s, topic, enc, enc_len, qos) : sim_publish(s, topic, buf, n, qos);
    free(enc);
    line = sim_frame_line("down", d, topic, qos, buf, n, &malformed);
    if (line != NULL) {
        const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(line, "cmd");
        if (cJSON_IsNumber(cmd) && cmd->valueint == QTD_CMD_DEV_CONFIG_WRITE) {
            redact(line);
        }
        if (d->flag == 1) {
            cJSON_AddBoolToObject(line, "encrypted", encrypt);
        }
        if (malformed || !cJSON_IsNumber(cmd)) {
            d->down_errors++;
        } else {
            sim_count(&d->down, (uint16_t)cmd->valueint);
        }
        if (rc != MQTTCLIENT_SUCCESS) {
            cJSON_AddStringToObject(line, "send_error", MQTTClient_strerror(rc));
        }
        sim_say_frame(s, "down", d, line);
    }
    sim_log_line(s, line);
    return rc;
}

/* Frame and send a downlink (as sim_send_bytes); *pkgid_out gets the pkgid used. pkgid 0: the
 * device's next. */
int sim_send_frame(sim_t *s, sim_device_t *d, uint16_t cmd, const uint8_t *payload, size_t len,
                   uint16_t pkgid, const char *type, int qos, bool plain, uint16_t *pkgid_out)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc;

    if (pkgid == 0) {
        d->last_pkgid = qtd_frame_next_pkgid(d->last_pkgid);
        pkgid = d->last_pkgid;
    }
    rc = qtd_frame_encode(pkgid, cmd, payload, len, &buf, &n);
    if (rc != 0) {
        return rc;
    }
    rc = sim_send_bytes(s, d, type != NULL ? type : qtd_sim_down_topic_type(cmd), qos, buf, n,
                        plain);
    free(buf);
    if (pkgid_out != NULL) {
        *pkgid_out = pkgid;
    }
    return rc == MQTTCLIENT_SUCCESS ? 0 : -ENOTCONN;
}

/* TTLV of {1: errcode, 2: 0, 3: PK, 4: DK}. */
int sim_exce_payload(const sim_device_t *d, int errcode, uint8_t **out, size_t *len)
{
    qtd_value_t items[4];
    qtd_value_t root;

    memset(items, 0, sizeof(items));
    memset(&root, 0, sizeof(root));
    items[0].type = QTD_VAL_INT;
    items[0].id = 1;
    items[0].u.i = errcode;
    items[1].type = QTD_VAL_INT;
    items[1].id = 2;
    items[1].u.i = 0;
    items[2].type = QTD_VAL_STRING;
    items[2].id = 3;
    items[2].u.s.ptr = d->pk;
    items[2].u.s.len = strlen(d->pk);
    items[3].type = QTD_VAL_STRING;
    items[3].id = 4;
    items[3].u.s.ptr = d->dk;
    items[3].u.s.len = strlen(d->dk);
    root.type = QTD_VAL_STRUCT;
    root.u.list.items = items;
    root.u.list.count = 4;
    return qtd_ttlv_encode(&root, out, len);
}

/* ---- scheduled downlinks */

struct sim_pending_s {
    sim_pending_t *next;
    int64_t due; /* sim_mono_ms */
    char client[SIM_CLIENTID_MAX + 1];
    uint16_t cmd;
    uint8_t *payload;
    size_t len;
    bool starts_session; /* carries key: start encrypting once it is sent */
    uint32_t conn;       /* the connection it is for (starts_session only) */
    uint8_t key[SIM_SESSION_KEY_LEN];
};

/* Send cmd with payload (taken) to d in delay_ms. key (may be NULL): the session key the
 * payload carries; once sent, the device's downlinks are encrypted with it. */
void sim_schedule(sim_t *s, const sim_device_t *d, uint16_t cmd, uint8_t *payload, size_t len,
                  int delay_ms, const uint8_t *key)
{
    sim_pending_t *p = calloc(1, sizeof(*p));
    sim_pending_t **pp = &s->pending;

    if (p == NULL) {
        free(payload);
        return;
    }
    p->due = sim_mono_ms() + delay_ms;
    snprintf(p->client, sizeof(p->client), "%s", d->id);
    p->cmd = cmd;
    p->payload = payload; /* taken */
    p->len = len;
    if (key != NULL) {
        p->starts_session = true;
        p->conn = d->conn;
        memcpy(p->key, key, sizeof(p->key));
    }
    while (*pp != NULL) {
        pp = &(*pp)->next;
    }
    *pp = p;
}

static void pending_free(sim_pending_t *p)
{
    OPENSSL_cleanse(p->key, sizeof(p->key));
    if (p->payload != NULL) {
        OPENSSL_cleanse(p->payload, p->len);
    }
    free(p->payload);
    free(p);
}

void sim_run_pending(sim_t *s)
{
    int64_t now = sim_mono_ms();

    while (s->pending != NULL && s->pending->due <= now) {
        sim_pending_t *p = s->pending;
        sim_device_t *d = sim_device_find(s, p->client);
        s->pending = p->next;
        if (d != NULL && p->starts_session && (p->conn != d->conn || !d->online)) {
            /* The device reconnected or left: this key (and DS) belongs to no connection. */
            sim_session_event(s, d, "dropped");
        } else if (d != NULL) {
            /* A key goes out plain: the device has none yet (d->session is NONE here). */
            if (sim_send_frame(s, d, p->cmd, p->payload, p->len, 0, NULL, 1, false, NULL) != 0) {
                sim_log_event(s, "error", "cannot send %s to %s", qtd_sim_cmd_name(p->cmd), d->id);
            } else if (p->starts_session) {
                memcpy(d->key, p->key, sizeof(d->key));
                d->session = SIM_SESSION_SENT;
                sim_session_event(s, d, "sent");
            }
        }
        pending_free(p);
    }
}

int64_t sim_pending_wait(const sim_t *s, int64_t max)
{
    int64_t left;

    if (s->pending == NULL) {
        return max;
    }
    left = s->pending->due - sim_mono_ms();
    return left < 0 ? 0 : left < max ? left : max;
}

void sim_pending_clear(sim_t *s)
{
    while (s->pending != NULL) {
        sim_pending_t *p = s->pending;
        s->pending = p->next;
        pending_free(p);
    }
}
