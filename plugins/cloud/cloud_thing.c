/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The thing service (qthingd/thing.h) this plugin provides to other plugins: thing-model
 * reports and answers, passthrough and location reports of the device itself, sent through
 * the same uplink path and outbox as the script's (cloud_outbox.c). Sub-devices are answered
 * QTD_ENOTSUP until the gateway work adds them behind the same members.
 */
#include <stdio.h>
#include <string.h>

#include "cloud.h"
#include "cloud_frame.h"

/* NULL, NULL is the device itself; anything else a sub-device (not yet). */
static int address(const char *pk, const char *dk)
{
    return pk == NULL && dk == NULL ? 0 : QTD_ENOTSUP;
}

static int tsl_report(void *self, const char *pk, const char *dk, int mode, const qtd_value_t *v)
{
    int rc = address(pk, dk);
    if (rc < 0) {
        return rc;
    }
    if (v == NULL || v->type != QTD_VAL_STRUCT || v->u.list.count == 0) {
        return QTD_EINVAL;
    }
    return qtd_cloud_send_value(self, mode, QTD_CMD_TSL_EVENT, 0, v);
}

static int tsl_ack(void *self, const char *pk, const char *dk, int mode, uint16_t pkgid,
                   const qtd_value_t *v)
{
    int rc = address(pk, dk);
    if (rc < 0) {
        return rc;
    }
    if (pkgid == 0 || pkgid == 0xFFFF || v == NULL || v->type != QTD_VAL_STRUCT) {
        return QTD_EINVAL;
    }
    return qtd_cloud_send_value(self, mode, QTD_CMD_TSL_RSP, pkgid, v);
}

static int pass_send(void *self, const char *pk, const char *dk, int mode, const void *data,
                     size_t len)
{
    int rc = address(pk, dk);
    if (rc < 0) {
        return rc;
    }
    if (data == NULL || len == 0) {
        return QTD_EINVAL;
    }
    return qtd_cloud_send(self, mode, QTD_CMD_PASS_EVENT, 0, data, len);
}

static int loc_report(void *self, const char *pk, const char *dk, int mode, const char *sentences)
{
    int rc = address(pk, dk);
    if (rc < 0) {
        return rc;
    }
    size_t n = sentences != NULL ? strlen(sentences) : 0;
    if (n == 0 || sentences[n - 1] != ';' || n > 0xFFFF) {
        return QTD_EINVAL;
    }
    qtd_value_t item = {.type = QTD_VAL_STRING, .id = 2, .u.s = {sentences, n}};
    qtd_value_t v = {.type = QTD_VAL_STRUCT, .u.list = {&item, 1}};
    return qtd_cloud_send_value(self, mode, QTD_CMD_LOC_REPORT, 0, &v);
}

static int subdev_connect(void *self, const char *pk, const char *ps, const char *dk,
                          const char *ds, int session_flag, int keepalive_s)
{
    (void)self;
    (void)pk;
    (void)ps;
    (void)dk;
    (void)ds;
    (void)session_flag;
    (void)keepalive_s;
    return QTD_ENOTSUP;
}

static int subdev_disconnect(void *self, const char *pk, const char *dk)
{
    (void)self;
    (void)pk;
    (void)dk;
    return QTD_ENOTSUP;
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
};
