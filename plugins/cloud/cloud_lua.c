/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data functions of the quecIot module (seed 3.5), added by this plugin through the host:
 * passTransSend, phymodelReport, phymodelAck, statusReport, getDevStatus, devInfoReport,
 * getDevInfo. Like the seed they return true/false (never raise for a bad argument: they log
 * why and return false). Data with mode >= 1 is stored before it is sent, so true means
 * "kept until the platform acknowledges it", also while offline.
 */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "cloud.h"
#include "cloud_frame.h"

#define MAX_IDS 32

static cloud_t *self_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static int refuse(lua_State *L, cloud_t *c, const char *fn, const char *why)
{
    c->api->log(c->host, QTD_LOG_WARN, "quecIot.%s: %s", fn, why);
    lua_pushboolean(L, 0); /* false */
    return 1;
}

static const char *why(int rc)
{
    switch (rc) {
    case QTD_ENOTCONN:
        return "not connected (mode 0 is sent only online and never stored)";
    case QTD_ENOENT:
        return "no product key yet: call quecIot.setProductinfo(pk, ps) first";
    case QTD_EINVAL:
        return "the data cannot be encoded: ids 1..8191, numbers finite and below 2^64 in "
               "magnitude, nesting at most 16";
    case QTD_EMSGSIZE:
        return "the message is larger than the frame (64 KiB) or the outbox cap";
    default:
        return NULL;
    }
}

/* Return true/false to Lua; a failed send with mode >= 1 also raises the seed's failure
 * event (fail_code: 10300 passthrough, 10310 thing model; 0 = none). */
static int result(lua_State *L, cloud_t *c, const char *fn, int rc, int mode, int fail_code)
{
    if (rc < 0) {
        const char *text = why(rc);
        c->api->log(c->host, QTD_LOG_WARN, "quecIot.%s: %s", fn,
                    text != NULL ? text : c->api->strerror(rc));
        if (mode >= 1 && fail_code != 0) {
            qtd_cloud_publish_event(c, QTD_EVT_SEND, fail_code, NULL);
        }
    }
    lua_pushboolean(L, rc == 0); /* true | false */
    return 1;
}

static bool get_mode(lua_State *L, int idx, int *mode)
{
    if (!lua_isinteger(L, idx)) {
        return false;
    }
    lua_Integer m = lua_tointeger(L, idx);
    if (m < 0 || m > 2) {
        return false;
    }
    *mode = (int)m;
    return true;
}

int qtd_cloud_tsl_value(lua_State *L, cloud_t *c, int idx, qtd_value_t **out)
{
    if (!lua_istable(L, idx)) {
        return QTD_EINVAL;
    }
    int rc = c->api->lua_to_value(c->host, L, idx, out);
    if (rc < 0) {
        return rc;
    }
    qtd_value_t *v = *out;
    if (v->type == QTD_VAL_ARRAY) {
        v->type = QTD_VAL_STRUCT;
        for (size_t i = 0; i < v->u.list.count; i++) {
            v->u.list.items[i].id = (uint16_t)(i + 1);
        }
    }
    if (v->u.list.count == 0) {
        c->api->value_free(c->host, v);
        *out = NULL;
        return QTD_EINVAL;
    }
    return 0;
}

/* quecIot.passTransSend(mode, data) -> true|false (seed 3.5.1) */
static int l_passTransSend(lua_State *L)
{
    cloud_t *c = self_of(L);
    int mode;
    if (!get_mode(L, 1, &mode)) {
        return refuse(L, c, "passTransSend", "mode must be 0, 1 or 2");
    }
    size_t len = 0;
    const char *data = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &len) : NULL;
    if (data == NULL || len == 0) {
        return refuse(L, c, "passTransSend", "data must be a non-empty string of bytes");
    }
    return result(L, c, "passTransSend",
                  qtd_cloud_send(c, mode, QTD_CMD_PASS_EVENT, 0, (const uint8_t *)data, len), mode,
                  QTD_CODE_FAIL);
}

static int report(lua_State *L, const char *fn, uint16_t cmd, int data_idx, uint16_t pkgid)
{
    cloud_t *c = self_of(L);
    int mode;
    if (!get_mode(L, 1, &mode)) {
        return refuse(L, c, fn, "mode must be 0, 1 or 2");
    }
    qtd_value_t *v = NULL;
    int rc = qtd_cloud_tsl_value(L, c, data_idx, &v);
    if (rc < 0) {
        return refuse(L, c, fn,
                      "data must be a non-empty table {id = value, ...} with ids "
                      "1..8191 and values boolean, number, string or table");
    }
    rc = qtd_cloud_send_value(c, mode, cmd, pkgid, v);
    c->api->value_free(c->host, v);
    return result(L, c, fn, rc, mode, QTD_CODE_TSL_FAIL);
}

/* quecIot.phymodelReport(mode, data) -> true|false (seed 3.5.2) */
static int l_phymodelReport(lua_State *L)
{
    return report(L, "phymodelReport", QTD_CMD_TSL_EVENT, 2, 0);
}

/* quecIot.phymodelAck(mode, pkgid, data) -> true|false (seed 3.5.3) */
static int l_phymodelAck(lua_State *L)
{
    cloud_t *c = self_of(L);
    if (!lua_isinteger(L, 2) || lua_tointeger(L, 2) < 1 || lua_tointeger(L, 2) > 0xFFFE) {
        return refuse(L, c, "phymodelAck", "pkgid must be the request's id (1..65534)");
    }
    return report(L, "phymodelAck", QTD_CMD_TSL_RSP, 3, (uint16_t)lua_tointeger(L, 2));
}

/* Read a sequence of ids (1..max) at idx. Returns the count or -1. */
static int ids_arg(lua_State *L, int idx, uint16_t *ids, int max_id)
{
    if (!lua_istable(L, idx)) {
        return -1;
    }
    lua_Integer n = luaL_len(L, idx);
    if (n < 1 || n > MAX_IDS) {
        return -1;
    }
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i); /* id */
        lua_Integer id = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        lua_pop(L, 1); /* (nothing) */
        if (id < 1 || id > max_id) {
            return -1;
        }
        ids[i - 1] = (uint16_t)id;
    }
    return (int)n;
}

/* Status and info calls: ids omitted (none or nil) means every id this host has a value
 * for, as the seed's OTA flow calls devInfoReport(). */
static int values_call(lua_State *L, const char *fn, bool status, bool report_it)
{
    cloud_t *c = self_of(L);
    uint16_t ids[MAX_IDS];
    int n = 0;
    if (!lua_isnoneornil(L, 1)) {
        n = ids_arg(L, 1, ids, status ? 7 : 14);
    }
    if (n < 0) {
        return refuse(L, c, fn,
                      status ? "expected a list of status ids 1..7 (or none: all)"
                             : "expected a list of info ids 1..14 (or none: all)");
    }
    qtd_value_t *v = NULL;
    int rc = status ? qtd_cloud_status_value(c, ids, (size_t)n, &v)
                    : qtd_cloud_info_value(c, ids, (size_t)n, &v);
    int fail_code = status ? QTD_CODE_STATUS_FAIL : QTD_CODE_INFO_FAIL;
    if (rc < 0) {
        return result(L, c, fn, rc, report_it ? 1 : 0, fail_code);
    }
    if (report_it && v->u.list.count == 0) {
        qtd_cloud_value_free(c, v);
        return refuse(L, c, fn,
                      status ? "none of these ids has a value on this host: supply battery and "
                               "voltage with cloud.setDevStatus, modem values need cloud.at_port"
                             : "none of these ids has a value on this host (modem values need "
                               "cloud.at_port)");
    }
    if (report_it) {
        rc = qtd_cloud_send_value(c, 1, status ? QTD_CMD_STATUS_EVENT : QTD_CMD_INFO_EVENT, 0, v);
        qtd_cloud_value_free(c, v);
        return result(L, c, fn, rc, 1, fail_code);
    }
    c->api->lua_push_value(c->host, L, v); /* {id = value, ...} */
    qtd_cloud_value_free(c, v);
    return 1;
}

/* cloud.setDevStatus({[id] = value, ...}) -> true|false (ours): values of status ids 1..7
 * this host cannot read itself (battery % and voltage from an ADC, ...); they take the place
 * of the host's in statusReport, getDevStatus and the report at every connection. A value
 * false clears the id. Numbers only. */
static int l_setDevStatus(lua_State *L)
{
    cloud_t *c = self_of(L);
    static const char why[] =
        "cloud.setDevStatus: expected a table {[id] = number, ...} of ids 1..7 (false clears)";
    if (!lua_istable(L, 1)) {
        c->api->log(c->host, QTD_LOG_WARN, "%s", why);
        lua_pushboolean(L, 0); /* false */
        return 1;
    }
    double values[8];
    int set[8]; /* 0 keep, 1 set, -1 clear */
    memset(set, 0, sizeof(set));
    lua_pushnil(L);               /* [t nil] */
    while (lua_next(L, 1) != 0) { /* [t key value] */
        lua_Integer id = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : 0;
        bool clear = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
        bool number = lua_type(L, -1) == LUA_TNUMBER;
        double d = number ? lua_tonumber(L, -1) : 0;
        lua_pop(L, 1); /* [t key] */
        if (id < 1 || id > 7 || (!clear && (!number || d != d))) {
            lua_pop(L, 1); /* [t] */
            c->api->log(c->host, QTD_LOG_WARN, "%s", why);
            lua_pushboolean(L, 0); /* [t false] */
            return 1;
        }
        set[id] = clear ? -1 : 1;
        values[id] = d;
    }
    for (int id = 1; id <= 7; id++) {
        if (set[id] != 0) {
            c->script_status_set[id] = set[id] > 0;
            c->script_status[id] = values[id];
        }
    }
    lua_pushboolean(L, 1); /* [t true] */
    return 1;
}

/* quecIot.statusReport(ids) -> true|false (seed 3.5.4) */
static int l_statusReport(lua_State *L)
{
    return values_call(L, "statusReport", true, true);
}

/* quecIot.getDevStatus(ids) -> {id = value} (seed 3.5.5); unavailable ids are absent */
static int l_getDevStatus(lua_State *L)
{
    return values_call(L, "getDevStatus", true, false);
}

/* quecIot.devInfoReport(ids) -> true|false (seed 3.5.6) */
static int l_devInfoReport(lua_State *L)
{
    return values_call(L, "devInfoReport", false, true);
}

/* quecIot.getDevInfo(ids) -> {id = value} (seed 3.5.7); unavailable ids are absent */
static int l_getDevInfo(lua_State *L)
{
    return values_call(L, "getDevInfo", false, false);
}

/* The seed's other names for its functions (its table 1 uses both): each resolves to the
 * function it names as soon as this plugin registers that one. One table for all. */
static const struct {
    const char *alias;
    const char *name;
} aliases[] = {
    {"locSupList", "getLocSupList"},
    {"locDataGet", "getLocData"},
    {"subDevPhymodelReport", "subDevTslReport"},
    {"subDevPhymodelAck", "subDevTslAck"},
    {"subDevDisconnect", "subDevDisconn"},
};

int qtd_cloud_lua_add(cloud_t *c, const char *name, qtd_lua_cfn fn)
{
    int rc = c->api->lua_add_function(c->host, CLOUD_LUA_MODULE, name, fn, c);
    for (size_t i = 0; rc == 0 && i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        if (strcmp(aliases[i].name, name) == 0) {
            rc = c->api->lua_add_function(c->host, CLOUD_LUA_MODULE, aliases[i].alias, fn, c);
        }
    }
    return rc;
}

int qtd_cloud_lua_register(cloud_t *c)
{
    static const struct {
        const char *name;
        qtd_lua_cfn fn;
    } fns[] = {
        {"passTransSend", l_passTransSend}, {"phymodelReport", l_phymodelReport},
        {"phymodelAck", l_phymodelAck},     {"statusReport", l_statusReport},
        {"getDevStatus", l_getDevStatus},   {"devInfoReport", l_devInfoReport},
        {"getDevInfo", l_getDevInfo},
    };
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        int rc = qtd_cloud_lua_add(c, fns[i].name, fns[i].fn);
        if (rc < 0) {
            return rc;
        }
    }
    /* Ours, beside the seed's module. */
    return c->api->lua_add_function(c->host, CLOUD_LUA_EXTRA_MODULE, "setDevStatus", l_setDevStatus,
                                    c);
}
