/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MQTT OTA, the task's first steps (seed 2.4.1 and 3.6, the SDK's ql_iotCmdOTA.c): the
 * platform's OTA_NOTIFY 0x0111 (taken in status 0 or 1) is acknowledged with OTA_EVENT
 * status 1 (also for a plan that is not valid) and, when valid, raises 7/10700 with the
 * seed's value string; quecIot.otaAction(1) / (0) confirm or refuse it (status 2 / 3, only
 * from status 1); quecIot.otaRequest(mode) asks the platform for a task with OTA_REQUEST
 * 0x0115 (mode 1 also asks for SHA-256). OTA_EVENT and OTA_REQUEST go at QoS 2 through the
 * outbox. Not here yet: the firmware (OTA_FW_INFO 0x0113, the download through the download
 * service, apply, MCU pieces); otaAction(2) and (3) return false until then.
 */
#include <stdio.h>
#include <string.h>

#include <lua.h>

#include "cloud.h"
#include "cloud_frame.h"

#define LOG(c, lvl, ...) (c)->api->log((c)->host, (lvl), __VA_ARGS__)

/* OTA_EVENT statuses and the SDK's fixed names for them. */
enum {
    OTA_NONE = 0,
    OTA_RECEIVED = 1,
    OTA_CONFIRMED = 2,
    OTA_REFUSED = 3,
};

static const char *status_name(int status)
{
    static const char *const names[] = {
        [1] = "REVICEPLAN",      [2] = "SUBMITOTA",   [3] = "REFUSEDOTA",
        [4] = "DOWNLOADSTART",   [5] = "DOWNLOADING", [6] = "DOWNLOADERROR",
        [8] = "DOWNLOADSUCCESS", [9] = "UPDATING",    [11] = "UPDATESUCCESS",
        [12] = "UPDATEERROR",
    };
    return status > 0 && status < 13 && names[status] != NULL ? names[status] : "";
}

/* OTA_EVENT {13 status, 14 name, 7 componentType, 4 componentNo [, 19 "sha256"]}, QoS 2. */
static int report_status(cloud_t *c, int status)
{
    const char *name = status_name(status);
    qtd_value_t items[5] = {
        {.type = QTD_VAL_INT, .id = 13, .u.i = status},
        {.type = QTD_VAL_STRING, .id = 14, .u.s = {name, strlen(name)}},
        {.type = QTD_VAL_INT, .id = 7, .u.i = c->ota_type},
        {.type = QTD_VAL_STRING, .id = 4, .u.s = {c->ota_comp, strlen(c->ota_comp)}},
        {.type = QTD_VAL_STRING, .id = 19, .u.s = {"sha256", 6}},
    };
    size_t n = status == OTA_CONFIRMED && c->ota_sha256 ? 5 : 4;
    qtd_value_t v = {.type = QTD_VAL_STRUCT, .u.list = {items, n}};
    c->ota_status = status;
    int rc = qtd_cloud_send_value(c, 2, QTD_CMD_OTA_EVENT, 0, &v);
    if (rc < 0) {
        LOG(c, QTD_LOG_WARN, "OTA status %d (%s) not sent: %s", status, name, c->api->strerror(rc));
    }
    return rc;
}

static const qtd_value_t *text(const qtd_value_t *tree, uint16_t id, size_t max)
{
    const qtd_value_t *v = qtd_cloud_find_id(tree, id);
    return v != NULL && v->type == QTD_VAL_STRING && v->u.s.len > 0 && v->u.s.len <= max ? v : NULL;
}

static int64_t number(const qtd_value_t *tree, uint16_t id)
{
    const qtd_value_t *v = qtd_cloud_find_id(tree, id);
    return v != NULL && v->type == QTD_VAL_INT ? v->u.i : 0;
}

static void on_notify(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    if (c->ota_status != OTA_NONE && c->ota_status != OTA_RECEIVED) {
        LOG(c, QTD_LOG_WARN, "OTA task (pkgid %u) ignored: a task is under way (status %d, %s)",
            f->pkgid, c->ota_status, status_name(c->ota_status));
        return;
    }
    const qtd_value_t *comp = text(tree, 4, 32);
    const qtd_value_t *src = text(tree, 5, 64);
    const qtd_value_t *tgt = text(tree, 6, 64);
    const qtd_value_t *type = qtd_cloud_find_id(tree, 7);
    bool valid = comp != NULL && tgt != NULL && type != NULL && type->type == QTD_VAL_INT &&
                 (type->u.i == 0 || type->u.i == 1);
    if (comp != NULL) {
        snprintf(c->ota_comp, sizeof(c->ota_comp), "%.*s", (int)comp->u.s.len, comp->u.s.ptr);
    } else {
        c->ota_comp[0] = '\0';
    }
    c->ota_type = valid ? (int)type->u.i : 0;
    c->ota_sha256 = c->ota_sha256 && valid;
    (void)report_status(c, OTA_RECEIVED); /* also for a plan that is not valid, as the SDK */
    if (!valid) {
        LOG(c, QTD_LOG_WARN,
            "OTA task (pkgid %u) not valid: it needs 4 componentNo (1..32), 6 targetVersion "
            "(1..64) and 7 componentType (0 or 1)",
            f->pkgid);
        c->ota_status = OTA_NONE;
        return;
    }
    snprintf(c->ota_target, sizeof(c->ota_target), "%.*s", (int)tgt->u.s.len, tgt->u.s.ptr);
    char value[256];
    snprintf(value, sizeof(value), "\"%s\",\"%.*s\",\"%s\",%lld,%lld,%lld", c->ota_comp,
             src != NULL ? (int)src->u.s.len : 0, src != NULL ? src->u.s.ptr : "", c->ota_target,
             (long long)number(tree, 8), (long long)number(tree, 10), (long long)number(tree, 9));
    LOG(c, QTD_LOG_INFO, "OTA task: component %s to version %s", c->ota_comp, c->ota_target);
    qtd_value_t v = {.type = QTD_VAL_STRING, .u.s = {value, strlen(value)}};
    qtd_cloud_publish_event(c, QTD_EVT_OTA, 10700, &v);
}

const cloud_downlink_t qtd_cloud_ota_downlinks[] = {
    {QTD_CMD_OTA_NOTIFY, true, on_notify},
    {0, false, NULL},
};

/* ---- quecIot ---- */

static cloud_t *self_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static int result(lua_State *L, bool ok)
{
    lua_pushboolean(L, ok); /* true | false */
    return 1;
}

/* quecIot.otaRequest(mode) -> true|false (seed 3.6.1: 0, or 1 to ask for SHA-256 too) */
static int l_otaRequest(lua_State *L)
{
    cloud_t *c = self_of(L);
    lua_Integer mode = lua_isinteger(L, 1) ? lua_tointeger(L, 1) : -1;
    if (mode != 0 && mode != 1) {
        LOG(c, QTD_LOG_WARN, "quecIot.otaRequest: mode must be 0 or 1 (1: with SHA-256)");
        return result(L, false);
    }
    char version[128];
    char mcu[256];
    snprintf(version, sizeof(version), "%s", c->api->agent_version());
    qtd_cloud_mcu_versions(c, mcu, sizeof(mcu));
    qtd_value_t items[2] = {
        {.type = QTD_VAL_STRING, .id = 25, .u.s = {version, strlen(version)}},
        {.type = QTD_VAL_STRING, .id = 26, .u.s = {mcu, strlen(mcu)}},
    };
    qtd_value_t v = {.type = QTD_VAL_STRUCT, .u.list = {items, mcu[0] != '\0' ? 2 : 1}};
    int rc = qtd_cloud_send_value(c, 2, QTD_CMD_OTA_REQUEST, 0, &v);
    if (rc < 0) {
        LOG(c, QTD_LOG_WARN, "quecIot.otaRequest: %s", c->api->strerror(rc));
        return result(L, false);
    }
    c->ota_sha256 = mode == 1; /* remembered, not sent (the SDK's way) */
    return result(L, true);
}

/* quecIot.otaAction(action) -> true|false (seed 3.6.2: 0 refuse, 1 confirm, 2 next MCU
 * piece, 3 MCU updated) */
static int l_otaAction(lua_State *L)
{
    cloud_t *c = self_of(L);
    lua_Integer action = lua_isinteger(L, 1) ? lua_tointeger(L, 1) : -1;
    switch (action) {
    case 0:
    case 1:
        if (c->ota_status == OTA_CONFIRMED && action == 1) {
            return result(L, true); /* confirmed already */
        }
        if (c->ota_status != OTA_RECEIVED) {
            LOG(c, QTD_LOG_WARN, "quecIot.otaAction(%d): no OTA task waits for an answer",
                (int)action);
            return result(L, false);
        }
        return result(L, report_status(c, action == 1 ? OTA_CONFIRMED : OTA_REFUSED) == 0);
    case 2:
    case 3:
        LOG(c, QTD_LOG_WARN,
            "quecIot.otaAction(%d): MCU firmware pieces are not implemented "
            "yet",
            (int)action);
        return result(L, false);
    default:
        LOG(c, QTD_LOG_WARN,
            "quecIot.otaAction: action must be 0 (refuse), 1 (confirm), 2 "
            "(next MCU piece) or 3 (MCU updated)");
        return result(L, false);
    }
}

int qtd_cloud_ota_register(cloud_t *c)
{
    int rc = qtd_cloud_lua_add(c, "otaRequest", l_otaRequest);
    return rc == 0 ? qtd_cloud_lua_add(c, "otaAction", l_otaAction) : rc;
}
