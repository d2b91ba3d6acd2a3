/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The thing service (qthingd/thing.h) this plugin provides to other plugins: thing-model
 * reports and answers, passthrough and location reports of the device itself, sent through
 * the same uplink path and outbox as the script's (cloud_outbox.c). Sub-devices are answered
 * QTD_ENOTSUP until the gateway work adds them behind the same members.
 */
#include <stdio.h>
#include <string.h>

#include <errno.h>
#include <stdlib.h>

#include "cloud.h"
#include "cloud_frame.h"
#include "cloud_ttlv.h"

/* NULL, NULL is the device itself: *sd NULL, 0. Else a sub-device the gateway knows
 * (connected once in this run): *sd set, 0; QTD_ENOENT when it does not. */
static int address(void *self, const char *pk, const char *dk, subdev_t **sd)
{
    *sd = NULL;
    if (pk == NULL && dk == NULL) {
        return 0;
    }
    if (pk == NULL || dk == NULL) {
        return QTD_EINVAL;
    }
    *sd = qtd_cloud_subdev_find(self, pk, dk, false);
    return *sd != NULL ? 0 : QTD_ENOENT;
}

/* Send cmd with payload for the device (mode as the seed's) or a sub-device (always stored:
 * its rows are ordered and held while it is offline). */
static int send_for(void *self, subdev_t *sd, int mode, uint16_t cmd, uint16_t pkgid,
                    const uint8_t *payload, size_t len)
{
    if (sd == NULL) {
        return qtd_cloud_send(self, mode, cmd, pkgid, payload, len);
    }
    if (mode < 0 || mode > 2) {
        return QTD_EINVAL;
    }
    return qtd_cloud_subdev_send(self, sd, cmd, pkgid, payload, len);
}

static int send_value_for(void *self, subdev_t *sd, int mode, uint16_t cmd, uint16_t pkgid,
                          const qtd_value_t *v)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = qtd_ttlv_encode(v, &buf, &n);
    if (rc < 0) {
        return rc == -ENOMEM ? QTD_ENOMEM : QTD_EINVAL;
    }
    rc = send_for(self, sd, mode, cmd, pkgid, buf, n);
    free(buf);
    return rc;
}

static int tsl_report(void *self, const char *pk, const char *dk, int mode, const qtd_value_t *v)
{
    subdev_t *sd;
    int rc = address(self, pk, dk, &sd);
    if (rc < 0) {
        return rc;
    }
    if (v == NULL || v->type != QTD_VAL_STRUCT || v->u.list.count == 0) {
        return QTD_EINVAL;
    }
    return send_value_for(self, sd, mode, QTD_CMD_TSL_EVENT, 0, v);
}

static int tsl_ack(void *self, const char *pk, const char *dk, int mode, uint16_t pkgid,
                   const qtd_value_t *v)
{
    subdev_t *sd;
    int rc = address(self, pk, dk, &sd);
    if (rc < 0) {
        return rc;
    }
    if (pkgid == 0 || pkgid == 0xFFFF || v == NULL || v->type != QTD_VAL_STRUCT) {
        return QTD_EINVAL;
    }
    return send_value_for(self, sd, mode, QTD_CMD_TSL_RSP, pkgid, v);
}

static int pass_send(void *self, const char *pk, const char *dk, int mode, const void *data,
                     size_t len)
{
    subdev_t *sd;
    int rc = address(self, pk, dk, &sd);
    if (rc < 0) {
        return rc;
    }
    if (data == NULL || len == 0) {
        return QTD_EINVAL;
    }
    return send_for(self, sd, mode, QTD_CMD_PASS_EVENT, 0, data, len);
}

static int loc_report(void *self, const char *pk, const char *dk, int mode, const char *sentences)
{
    subdev_t *sd;
    int rc = address(self, pk, dk, &sd);
    if (rc < 0) {
        return rc;
    }
    size_t n = sentences != NULL ? strlen(sentences) : 0;
    if (n == 0 || sentences[n - 1] != ';' || n > 0xFFFF) {
        return QTD_EINVAL;
    }
    qtd_value_t item = {.type = QTD_VAL_STRING, .id = 2, .u.s = {sentences, n}};
    qtd_value_t v = {.type = QTD_VAL_STRUCT, .u.list = {&item, 1}};
    return send_value_for(self, sd, mode, QTD_CMD_LOC_REPORT, 0, &v);
}

static int subdev_connect(void *self, const char *pk, const char *ps, const char *dk,
                          const char *ds, int session_flag, int keepalive_s)
{
    cloud_t *c = self;
    if (pk == NULL || ps == NULL || dk == NULL || pk[0] == '\0' || dk[0] == '\0' ||
        strlen(ps) > SUBDEV_KEY_MAX || (ds != NULL && strlen(ds) > SUBDEV_SECRET_MAX) ||
        (session_flag != 0 && session_flag != 1) || keepalive_s < 1 || keepalive_s > 65535) {
        return QTD_EINVAL;
    }
    subdev_t *sd = qtd_cloud_subdev_find(c, pk, dk, true);
    if (sd == NULL) {
        return strlen(pk) > SUBDEV_KEY_MAX || strlen(dk) > SUBDEV_KEY_MAX ? QTD_EINVAL : QTD_ENOMEM;
    }
    snprintf(sd->ps, sizeof(sd->ps), "%s", ps);
    if (ds != NULL && ds[0] != '\0') {
        snprintf(sd->ds, sizeof(sd->ds), "%s", ds);
    }
    sd->keepalive_s = keepalive_s;
    sd->session_flag = session_flag;
    int rc = qtd_cloud_subdev_connect(c, sd);
    if (rc == 0 || rc == QTD_ENOTCONN) {
        sd->wanted = true; /* offline gateway: logged in when it is back */
    }
    return rc == QTD_ENOTCONN ? 0 : rc;
}

static int subdev_disconnect(void *self, const char *pk, const char *dk)
{
    subdev_t *sd;
    int rc = address(self, pk, dk, &sd);
    if (rc < 0 || sd == NULL) {
        return rc < 0 ? rc : QTD_EINVAL;
    }
    sd->wanted = false;
    return qtd_cloud_subdev_disconnect(self, sd);
}

static int work_state(void *self)
{
    const cloud_t *c = self;
    return c->workstate;
}

static int identity(void *self, char *dk, size_t dk_n, char *version, size_t version_n, char *mcu,
                    size_t mcu_n)
{
    cloud_t *c = self;
    identity_t id;
    qtd_cloud_read_identity(c, &id);
    snprintf(dk, dk_n, "%s", id.dk);
    snprintf(version, version_n, "%s", qtd_cloud_ota_module_version(c));
    qtd_cloud_mcu_versions(c, mcu, mcu_n);
    return 0;
}

static int subdev_heartbeat(void *self, const char *pk, const char *dk)
{
    cloud_t *c = self;
    subdev_t *sd;
    int rc = address(self, pk, dk, &sd);
    if (rc < 0 || sd == NULL) {
        return rc < 0 ? rc : QTD_EINVAL;
    }
    if (sd->state != SUBDEV_ONLINE) {
        return QTD_ENOTCONN;
    }
    sd->beat_ms = uv_now(c->loop);
    return 0;
}

const qtd_thing_api_t qtd_cloud_thing_api = {
    .size = sizeof(qtd_thing_api_t),
    .tsl_report = tsl_report,
    .tsl_ack = tsl_ack,
    .pass_send = pass_send,
    .loc_report = loc_report,
    .subdev_connect = subdev_connect,
    .subdev_disconnect = subdev_disconnect,
    .work_state = work_state,
    .identity = identity,
    .subdev_heartbeat = subdev_heartbeat,
};
