/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seed's sub-device functions (3.9) in the quecIot module, name for name (subDevDisconnect,
 * subDevPhymodelReport and subDevPhymodelAck are the seed's other names, cloud_lua.c's alias
 * table): every argument checked, false with a warning naming it, never an error. The
 * callback of subDevSetEventCB gets the seed's {pk, dk, event, errcode[, value]}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "cloud.h"
#include "cloud_ttlv.h"

#define LOG(c, lvl, ...) (c)->api->log((c)->host, (lvl), __VA_ARGS__)

static cloud_t *self_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static int refuse(lua_State *L, const char *fn, const char *why)
{
    cloud_t *c = self_of(L);
    LOG(c, QTD_LOG_WARN, "quecIot.%s: %s", fn, why);
    lua_pushboolean(L, 0);
    return 1;
}

static int done(lua_State *L, const char *fn, int rc)
{
    cloud_t *c = self_of(L);
    if (rc < 0) {
        LOG(c, QTD_LOG_WARN, "quecIot.%s: %s", fn,
            rc == QTD_ENOTCONN ? "not connected (the gateway, or this sub-device, is offline)"
            : rc == QTD_EBUSY  ? "a connect of this sub-device is under way"
                               : c->api->strerror(rc));
    }
    lua_pushboolean(L, rc == 0);
    return 1;
}

/* A string argument of 1..max printable characters without space, or NULL. */
static const char *key_arg(lua_State *L, int idx, size_t max)
{
    size_t n = 0;
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &n) : NULL;
    if (s == NULL || n == 0 || n > max || strlen(s) != n) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '/' || s[i] == '+' || s[i] == '#') {
            return NULL; /* keys make topics */
        }
    }
    return s;
}

/* An integer argument, given as a number or a decimal string (the seed says string), in
 * lo..hi into *out. */
static bool int_arg(lua_State *L, int idx, long lo, long hi, long *out)
{
    if (lua_isinteger(L, idx)) {
        *out = (long)lua_tointeger(L, idx);
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        char *end = NULL;
        const char *s = lua_tostring(L, idx);
        *out = strtol(s, &end, 10);
        if (end == s || *end != '\0') {
            return false;
        }
    } else {
        return false;
    }
    return *out >= lo && *out <= hi;
}

/* The sub-device (pk, dk) of arguments 1 and 2 of an already known sub-device, or NULL
 * (refused with why). */
static subdev_t *known(lua_State *L, int pk_idx, int dk_idx, const char *fn)
{
    cloud_t *c = self_of(L);
    const char *pk = key_arg(L, pk_idx, SUBDEV_KEY_MAX);
    const char *dk = key_arg(L, dk_idx, SUBDEV_KEY_MAX);
    subdev_t *sd = pk != NULL && dk != NULL ? qtd_cloud_subdev_find(c, pk, dk, false) : NULL;
    if (sd == NULL) {
        LOG(c, QTD_LOG_WARN, "quecIot.%s: %s", fn,
            pk == NULL || dk == NULL
                ? "product_key and device_key must be strings of 1..32 printable characters"
                : "no such sub-device: connect it with subDevConn first");
    }
    return sd;
}

/* The callback behind subDevSetEventCB: the host calls it with {event, errcode, {pk, dk[,
 * value]}}; the script's function (upvalue 2) gets {pk, dk, event, errcode[, value]}. */
static int reshape(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(2)); /* [t cb] */
    lua_createtable(L, 5, 0);              /* [t cb out] */
    lua_geti(L, 1, 3);                     /* [t cb out v] */
    lua_geti(L, -1, 1);                    /* pk */
    lua_rawseti(L, -3, 1);
    lua_geti(L, -1, 2); /* dk */
    lua_rawseti(L, -3, 2);
    lua_geti(L, -1, 3); /* value or nil */
    lua_rawseti(L, -3, 5);
    lua_pop(L, 1);     /* [t cb out] */
    lua_geti(L, 1, 1); /* event */
    lua_rawseti(L, -2, 3);
    lua_geti(L, 1, 2); /* errcode */
    lua_rawseti(L, -2, 4);
    lua_call(L, 1, 0); /* cb(out); errors go to the host's protected call */
    return 0;
}

/* quecIot.subDevSetEventCB(cb) -> true|false (seed 3.9.1) */
static int l_subDevSetEventCB(lua_State *L)
{
    cloud_t *c = self_of(L);
    if (!lua_isfunction(L, 1)) {
        return refuse(L, "subDevSetEventCB", "event_sub_dev_urc_cb must be a function");
    }
    lua_pushlightuserdata(L, c);
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, reshape, 2); /* [cb closure] */
    int rc = c->api->lua_set_event_callback(c->host, L, QTD_DOM_SUBDEV, -1);
    lua_pop(L, 1);
    return done(L, "subDevSetEventCB", rc);
}

/* quecIot.subDevConn(pk, ps, dk, ds, session_type, keepalive) -> true|false (seed 3.9.2):
 * ds nil or "": authenticate (the DS comes in 1/10200 and is kept), else log in. */
static int l_subDevConn(lua_State *L)
{
    cloud_t *c = self_of(L);
    const char *pk = key_arg(L, 1, SUBDEV_KEY_MAX);
    const char *ps = key_arg(L, 2, SUBDEV_KEY_MAX);
    const char *dk = key_arg(L, 3, SUBDEV_KEY_MAX);
    bool no_ds = lua_isnoneornil(L, 4) || (lua_type(L, 4) == LUA_TSTRING && lua_rawlen(L, 4) == 0);
    const char *ds = no_ds ? "" : key_arg(L, 4, SUBDEV_SECRET_MAX);
    long flag = 0;
    long keepalive = 0;
    if (pk == NULL || ps == NULL || dk == NULL) {
        return refuse(L, "subDevConn",
                      "product_key, product_secret and device_key must be strings of 1..32 "
                      "printable characters");
    }
    if (ds == NULL) {
        return refuse(L, "subDevConn",
                      "device_secret must be nil, \"\" (authenticate first) or the DS (1..64)");
    }
    if (!int_arg(L, 5, 0, 1, &flag)) {
        return refuse(L, "subDevConn", "session_type must be 0 (plain) or 1 (encrypted)");
    }
    if (!int_arg(L, 6, 1, 65535, &keepalive)) {
        return refuse(L, "subDevConn", "keepalive must be 1..65535 seconds");
    }
    subdev_t *sd = qtd_cloud_subdev_find(c, pk, dk, true);
    if (sd == NULL) {
        return refuse(L, "subDevConn",
                      "out of memory, or another sub-device has this endpoint (see above)");
    }
    snprintf(sd->ps, sizeof(sd->ps), "%s", ps);
    if (ds[0] != '\0') {
        snprintf(sd->ds, sizeof(sd->ds), "%s", ds);
    }
    sd->session_flag = (int)flag;
    sd->keepalive_s = (int)keepalive;
    int rc = qtd_cloud_subdev_connect(c, sd);
    if (rc == 0) {
        sd->wanted = true;
    }
    return done(L, "subDevConn", rc);
}

/* quecIot.subDevDisconn(pk, dk) -> true|false (seed 3.9.3; also subDevDisconnect) */
static int l_subDevDisconn(lua_State *L)
{
    subdev_t *sd = known(L, 1, 2, "subDevDisconn");
    if (sd == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    sd->wanted = false;
    return done(L, "subDevDisconn", qtd_cloud_subdev_disconnect(self_of(L), sd));
}

/* quecIot.subDevDeauth(pk, ps, dk, ds) -> true|false (seed 3.9.4): 9/10200 follows */
static int l_subDevDeauth(lua_State *L)
{
    cloud_t *c = self_of(L);
    const char *pk = key_arg(L, 1, SUBDEV_KEY_MAX);
    const char *ps = key_arg(L, 2, SUBDEV_KEY_MAX);
    const char *dk = key_arg(L, 3, SUBDEV_KEY_MAX);
    const char *ds = key_arg(L, 4, SUBDEV_SECRET_MAX);
    if (pk == NULL || ps == NULL || dk == NULL || ds == NULL) {
        return refuse(L, "subDevDeauth",
                      "product_key, product_secret, device_key (1..32) and device_secret "
                      "(1..64) must be strings of printable characters");
    }
    subdev_t *sd = qtd_cloud_subdev_find(c, pk, dk, true);
    if (sd == NULL) {
        return refuse(L, "subDevDeauth",
                      "out of memory, or another sub-device has this endpoint (see above)");
    }
    snprintf(sd->ps, sizeof(sd->ps), "%s", ps);
    snprintf(sd->ds, sizeof(sd->ds), "%s", ds);
    sd->wanted = false;
    return done(L, "subDevDeauth", qtd_cloud_subdev_deauth(c, sd));
}

/* quecIot.subDevPassTransSend(pk, dk, data) -> true|false (seed 3.9.5): stored, sent in order
 * while the sub-device is online; 4/10200 on PUBACK */
static int l_subDevPassTransSend(lua_State *L)
{
    subdev_t *sd = known(L, 1, 2, "subDevPassTransSend");
    size_t len = 0;
    const char *data = lua_type(L, 3) == LUA_TSTRING ? lua_tolstring(L, 3, &len) : NULL;
    if (sd == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (data == NULL || len == 0) {
        return refuse(L, "subDevPassTransSend", "mp_data must be a non-empty string of bytes");
    }
    return done(
        L, "subDevPassTransSend",
        qtd_cloud_subdev_send(self_of(L), sd, QTD_CMD_PASS_EVENT, 0, (const uint8_t *)data, len));
}

/* Thing-model values of a sub-device: TSL_EVENT (report) or TSL_RSP (answer to pkgid). */
static int tsl_send(lua_State *L, const char *fn, uint16_t cmd, int data_idx, uint16_t pkgid)
{
    cloud_t *c = self_of(L);
    subdev_t *sd = known(L, 1, 2, fn);
    if (sd == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    qtd_value_t *v = NULL;
    if (qtd_cloud_tsl_value(L, c, data_idx, &v) < 0) {
        return refuse(L, fn,
                      "mp_data must be a non-empty table {id = value, ...} with ids 1..8191");
    }
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc = qtd_ttlv_encode(v, &payload, &len) == 0 ? 0 : QTD_EINVAL;
    c->api->value_free(c->host, v);
    if (rc == 0) {
        rc = qtd_cloud_subdev_send(c, sd, cmd, pkgid, payload, len);
    }
    free(payload);
    return done(L, fn, rc);
}

/* quecIot.subDevTslReport(pk, dk, data) -> true|false (seed 3.9.6; also subDevPhymodelReport) */
static int l_subDevTslReport(lua_State *L)
{
    return tsl_send(L, "subDevTslReport", QTD_CMD_TSL_EVENT, 3, 0);
}

/* quecIot.subDevTslAck(pk, dk, pkgid, data) -> true|false (seed 3.9.7; also
 * subDevPhymodelAck) */
static int l_subDevTslAck(lua_State *L)
{
    long pkgid = 0;
    if (!lua_isinteger(L, 3) || !int_arg(L, 3, 1, 0xFFFE, &pkgid)) {
        return refuse(L, "subDevTslAck", "mp_pkgid must be the read's id (1..65534)");
    }
    return tsl_send(L, "subDevTslAck", QTD_CMD_TSL_RSP, 4, (uint16_t)pkgid);
}

/* quecIot.subDevHTB(pk, dk) -> true|false (seed 3.9.8): the sub-device is alive */
static int l_subDevHTB(lua_State *L)
{
    cloud_t *c = self_of(L);
    subdev_t *sd = known(L, 1, 2, "subDevHTB");
    if (sd == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (sd->state != SUBDEV_ONLINE) {
        return refuse(L, "subDevHTB", "the sub-device is not logged in");
    }
    sd->beat_ms = uv_now(c->loop);
    lua_pushboolean(L, 1);
    return 1;
}

int qtd_cloud_subdev_lua_register(cloud_t *c)
{
    static const struct {
        const char *name;
        qtd_lua_cfn fn;
    } fns[] = {
        {"subDevSetEventCB", l_subDevSetEventCB},
        {"subDevConn", l_subDevConn},
        {"subDevDisconn", l_subDevDisconn},
        {"subDevDeauth", l_subDevDeauth},
        {"subDevPassTransSend", l_subDevPassTransSend},
        {"subDevTslReport", l_subDevTslReport},
        {"subDevTslAck", l_subDevTslAck},
        {"subDevHTB", l_subDevHTB},
    };
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        int rc = qtd_cloud_lua_add(c, fns[i].name, fns[i].fn);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}
