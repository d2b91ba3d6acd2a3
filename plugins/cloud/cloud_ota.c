/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MQTT OTA, the task (seed 2.4.1 and 3.6, the SDK's ql_iotCmdOTA.c): the platform's
 * OTA_NOTIFY 0x0111 (taken in status 0 or 1) is acknowledged with OTA_EVENT status 1 (also
 * for a plan that is not valid) and, when valid, raises 7/10700 with the seed's value
 * string; quecIot.otaAction(1) / (0) confirm or refuse it (status 2 / 3, only from status
 * 1); quecIot.otaRequest(mode) asks the platform for a task with OTA_REQUEST 0x0115 (mode 1
 * also asks for SHA-256). Every later status goes through qtd_cloud_ota_step, which keeps
 * the task in the store, reports the status and raises the script's event. OTA_EVENT and
 * OTA_REQUEST go at QoS 2 through the outbox. The firmware info and the download are in
 * cloud_ota_fw.c, what is done with the image in cloud_ota_apply.c.
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "cloud.h"
#include "cloud_frame.h"
#include "cloud_ota_info.h"

#define LOG(c, lvl, ...) (c)->api->log((c)->host, (lvl), __VA_ARGS__)

/* The SDK's fixed names of the OTA_EVENT statuses. */
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

const char *qtd_cloud_ota_module_version(cloud_t *c)
{
    const char *v = c->ota.fw != NULL ? c->ota.fw->version(c->ota.fw_self) : "";
    return v[0] != '\0' ? v : c->api->agent_version();
}

/* OTA_EVENT {13 status, 14 name, 7 componentType, 4 componentNo [, 19 "sha256"] [, 25
 * module version, 26 MCU versions]}, QoS 2. */
static int report_status(cloud_t *c, int status)
{
    cloud_ota_t *o = &c->ota;
    const char *name = status_name(status);
    char version[128];
    char mcu[256];
    snprintf(version, sizeof(version), "%s", qtd_cloud_ota_module_version(c));
    qtd_cloud_mcu_versions(c, mcu, sizeof(mcu));
    qtd_value_t items[6] = {
        {.type = QTD_VAL_INT, .id = 13, .u.i = status},
        {.type = QTD_VAL_STRING, .id = 14, .u.s = {name, strlen(name)}},
        {.type = QTD_VAL_INT, .id = 7, .u.i = o->type},
        {.type = QTD_VAL_STRING, .id = 4, .u.s = {o->comp, strlen(o->comp)}},
    };
    size_t n = 4;
    if (status == OTA_CONFIRMED && o->sha256_mode) {
        items[n++] = (qtd_value_t){.type = QTD_VAL_STRING, .id = 19, .u.s = {"sha256", 6}};
    }
    if (status == OTA_SUCCESS || status == OTA_FAILED) {
        items[n++] =
            (qtd_value_t){.type = QTD_VAL_STRING, .id = 25, .u.s = {version, strlen(version)}};
        if (mcu[0] != '\0') {
            items[n++] = (qtd_value_t){.type = QTD_VAL_STRING, .id = 26, .u.s = {mcu, strlen(mcu)}};
        }
    }
    qtd_value_t v = {.type = QTD_VAL_STRUCT, .u.list = {items, n}};
    int rc = qtd_cloud_send_value(c, 2, QTD_CMD_OTA_EVENT, 0, &v);
    if (rc < 0) {
        LOG(c, QTD_LOG_WARN, "OTA status %d (%s) not sent: %s", status, name, c->api->strerror(rc));
    }
    return rc;
}

void qtd_cloud_ota_step(cloud_t *c, int status, int errcode, const char *value)
{
    c->ota.status = status;
    qtd_cloud_ota_save(c);
    if (status != OTA_NONE) {
        (void)report_status(c, status);
    }
    if (errcode > 0) {
        qtd_value_t v = {.type = QTD_VAL_STRING, .u.s = {value, value != NULL ? strlen(value) : 0}};
        qtd_cloud_publish_event(c, QTD_EVT_OTA, errcode, value != NULL ? &v : NULL);
    }
}

void qtd_cloud_ota_finish(cloud_t *c, bool ok, const char *why)
{
    cloud_ota_t *o = &c->ota;
    LOG(c, ok ? QTD_LOG_INFO : QTD_LOG_ERROR, "OTA %s %s: %s%s%s", o->comp, o->target,
        ok ? "updated" : "failed", why != NULL ? ": " : "", why != NULL ? why : "");
    qtd_cloud_ota_step(c, ok ? OTA_SUCCESS : OTA_FAILED, ok ? OTA_EV_OK : OTA_EV_FAIL, NULL);
    qtd_cloud_ota_forget(c);
}

static void on_notify(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    cloud_ota_t *o = &c->ota;
    if (o->status != OTA_NONE && o->status != OTA_RECEIVED) {
        LOG(c, QTD_LOG_WARN, "OTA task (pkgid %u) ignored: a task is under way (status %d, %s)",
            f->pkgid, o->status, status_name(o->status));
        return;
    }
    qtd_ota_plan_t plan;
    const char *defect = qtd_ota_plan_read(tree, &plan);
    if (defect != NULL) {
        /* Answered like any plan, as the SDK; a task waiting for its answer is kept. */
        (void)report_status(c, OTA_RECEIVED);
        LOG(c, QTD_LOG_WARN, "OTA task (pkgid %u) not valid: %s", f->pkgid, defect);
        return;
    }
    snprintf(o->comp, sizeof(o->comp), "%s", plan.comp);
    o->type = plan.type;
    o->status = OTA_RECEIVED;
    (void)report_status(c, OTA_RECEIVED);
    snprintf(o->target, sizeof(o->target), "%s", plan.target);
    o->battery_limit = plan.battery_limit;
    o->use_space = plan.use_space;
    o->min_signal = plan.min_signal;
    char value[256];
    snprintf(value, sizeof(value), "\"%s\",\"%s\",\"%s\",%lld,%lld,%lld", o->comp, plan.source,
             o->target, (long long)o->battery_limit, (long long)o->min_signal,
             (long long)o->use_space);
    LOG(c, QTD_LOG_INFO, "OTA task: component %s to version %s", o->comp, o->target);
    qtd_value_t v = {.type = QTD_VAL_STRING, .u.s = {value, strlen(value)}};
    qtd_cloud_publish_event(c, QTD_EVT_OTA, 10700, &v);
}

const cloud_downlink_t qtd_cloud_ota_downlinks[] = {
    {QTD_CMD_OTA_NOTIFY, true, on_notify},
    {QTD_CMD_OTA_FW_INFO, true, qtd_cloud_ota_on_fw_info},
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
    snprintf(version, sizeof(version), "%s", qtd_cloud_ota_module_version(c));
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
    c->ota.sha256_mode = mode == 1; /* remembered, not sent (the SDK's way) */
    return result(L, true);
}

/* quecIot.otaAction(action) -> true|false (seed 3.6.2: 0 refuse, 1 confirm, 2 next MCU
 * piece, 3 MCU updated) */
static int l_otaAction(lua_State *L)
{
    cloud_t *c = self_of(L);
    lua_Integer action = lua_isinteger(L, 1) ? lua_tointeger(L, 1) : -1;
    cloud_ota_t *o = &c->ota;
    bool ok;
    switch (action) {
    case 0:
    case 1:
        if (o->status == OTA_CONFIRMED && action == 1) {
            return result(L, true); /* confirmed already */
        }
        if (o->status != OTA_RECEIVED) {
            LOG(c, QTD_LOG_WARN, "quecIot.otaAction(%d): no OTA task waits for an answer",
                (int)action);
            return result(L, false);
        }
        if (action == 1) {
            qtd_cloud_ota_step(c, OTA_CONFIRMED, 0, NULL);
        } else {
            qtd_cloud_ota_step(c, OTA_REFUSED, 0, NULL);
            qtd_cloud_ota_forget(c);
        }
        return result(L, true);
    case 2:
    case 3:
        ok = action == 2 ? qtd_cloud_ota_next_piece(c) : qtd_cloud_ota_mcu_done(c);
        if (!ok) {
            LOG(c, QTD_LOG_WARN, "quecIot.otaAction(%d): %s", (int)action,
                action == 2 ? "no next piece: it needs an MCU task whose piece was read (7/10703) "
                              "and is not the last"
                            : "it needs an MCU task whose last piece was read (7/10703)");
        }
        return result(L, ok);
    default:
        LOG(c, QTD_LOG_WARN,
            "quecIot.otaAction: action must be 0 (refuse), 1 (confirm), 2 "
            "(next MCU piece) or 3 (MCU updated)");
        return result(L, false);
    }
}

/* quecIot.mcuFWDataRead(addr, len) -> bytes | nil (seed 3.6.3: of the piece announced by
 * 7/10703; at most the rest of that piece) */
static int l_mcuFWDataRead(lua_State *L)
{
    cloud_t *c = self_of(L);
    lua_Integer addr = lua_isinteger(L, 1) ? lua_tointeger(L, 1) : -1;
    lua_Integer len = lua_isinteger(L, 2) ? lua_tointeger(L, 2) : -1;
    if (addr < 0 || len <= 0) {
        LOG(c, QTD_LOG_WARN, "quecIot.mcuFWDataRead: addr (>= 0) and len (> 0) must be integers");
        lua_pushnil(L);
        return 1;
    }
    size_t n = len > 1048576 ? 1048576 : (size_t)len; /* a piece of a piece: 1 MiB at most */
    luaL_Buffer b;
    uint8_t *buf = (uint8_t *)luaL_buffinitsize(L, &b, n);
    int64_t got = qtd_cloud_ota_read(c, (uint64_t)addr, buf, n);
    if (got < 0) {
        lua_pushnil(L);
        return 1;
    }
    luaL_pushresultsize(&b, (size_t)got);
    return 1;
}

int qtd_cloud_ota_register(cloud_t *c)
{
    int rc = qtd_cloud_lua_add(c, "otaRequest", l_otaRequest);
    if (rc == 0) {
        rc = qtd_cloud_lua_add(c, "otaAction", l_otaAction);
    }
    return rc == 0 ? qtd_cloud_lua_add(c, "mcuFWDataRead", l_mcuFWDataRead) : rc;
}
