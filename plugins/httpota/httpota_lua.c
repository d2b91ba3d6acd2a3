/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seed's HTTP OTA functions (3.8) in the quecIot module, name for name, and their
 * settings, kept in the store as httpota.pk, .ps, .tls, .server and .up ("battery;upmode;
 * url"). Every argument is checked; a bad one returns false with a warning naming it, never
 * raises. The task they start is httpota_task.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "httpota.h"

#define LOG(h, lvl, ...) (h)->api->log((h)->host, (lvl), __VA_ARGS__)
#define KEY_MAX 32
#define SERVER_MAX 255

static httpota_t *self_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

void httpota_setting(httpota_t *h, const char *name, char *buf, size_t n)
{
    char key[64];
    char *v = NULL;
    size_t len = 0;
    snprintf(key, sizeof(key), "httpota.%s", name);
    buf[0] = '\0';
    if (h->api->kv_get(h->host, key, &v, &len) == 0) {
        snprintf(buf, n, "%.*s", (int)len, v);
        h->api->free(h->host, v);
    }
}

static bool set(httpota_t *h, const char *name, const char *value)
{
    char key[64];
    snprintf(key, sizeof(key), "httpota.%s", name);
    int rc = h->api->kv_set(h->host, key, value, strlen(value));
    if (rc != 0) {
        LOG(h, QTD_LOG_ERROR, "quecIot: cannot save %s: %s", key, h->api->strerror(rc));
    }
    return rc == 0;
}

static int result(lua_State *L, bool ok)
{
    lua_pushboolean(L, ok);
    return 1;
}

static int refuse(lua_State *L, const char *fn, const char *why)
{
    httpota_t *h = self_of(L);
    LOG(h, QTD_LOG_WARN, "quecIot.%s: %s", fn, why);
    return result(L, false);
}

/* A string argument of 1..max printable characters without space, or NULL. */
static const char *word(lua_State *L, int idx, size_t max)
{
    size_t n = 0;
    const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &n) : NULL;
    if (s == NULL || n == 0 || n > max || strlen(s) != n) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e) {
            return NULL;
        }
    }
    return s;
}

/* quecIot.setHttpOtaEventCb(eventCb) (seed 3.8.1; returns nothing):
 * eventCb({event, errcode [, value]}) for the events of table 4.2 */
static int l_setHttpOtaEventCb(lua_State *L)
{
    httpota_t *h = self_of(L);
    if (!lua_isfunction(L, 1) && !lua_isnil(L, 1)) {
        LOG(h, QTD_LOG_WARN, "quecIot.setHttpOtaEventCb: eventCb must be a function (or nil)");
        return 0;
    }
    if (h->api->lua_set_event_callback(h->host, L, QTD_DOM_HTTPOTA, 1) != 0) {
        LOG(h, QTD_LOG_ERROR, "quecIot.setHttpOtaEventCb: the callback cannot be set");
    }
    return 0;
}

/* quecIot.setHttpOtaProductInfo(product_key, product_secret) -> true|false (seed 3.8.2) */
static int l_setHttpOtaProductInfo(lua_State *L)
{
    httpota_t *h = self_of(L);
    const char *pk = word(L, 1, KEY_MAX);
    const char *ps = word(L, 2, KEY_MAX);
    if (pk == NULL || ps == NULL) {
        return refuse(L, "setHttpOtaProductInfo",
                      "product_key and product_secret must be strings of 1..32 printable "
                      "characters");
    }
    return result(L, set(h, "pk", pk) && set(h, "ps", ps));
}

/* quecIot.getHttpOtaProductInfo() -> {product_key, product_secret} (seed 3.8.3; "" unset) */
static int l_getHttpOtaProductInfo(lua_State *L)
{
    httpota_t *h = self_of(L);
    char pk[KEY_MAX + 1];
    char ps[KEY_MAX + 1];
    httpota_setting(h, "pk", pk, sizeof(pk));
    httpota_setting(h, "ps", ps, sizeof(ps));
    lua_createtable(L, 2, 0);
    lua_pushstring(L, pk);
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, ps);
    lua_rawseti(L, -2, 2);
    return 1;
}

/* quecIot.setHttpOtaTls(mp_tls) -> true|false (seed 3.8.4: 0 plain, 1 TLS) */
static int l_setHttpOtaTls(lua_State *L)
{
    httpota_t *h = self_of(L);
    lua_Integer v = lua_isinteger(L, 1) ? lua_tointeger(L, 1) : -1;
    if (v != 0 && v != 1) {
        return refuse(L, "setHttpOtaTls", "mp_tls must be 0 (plain HTTP) or 1 (HTTPS)");
    }
    return result(L, set(h, "tls", v == 1 ? "1" : "0"));
}

/* quecIot.getHttpOtaTls() -> true (TLS) | false (seed 3.8.5) */
static int l_getHttpOtaTls(lua_State *L)
{
    char tls[8];
    httpota_setting(self_of(L), "tls", tls, sizeof(tls));
    return result(L, strcmp(tls, "1") == 0);
}

/* A server "host:port" (or an http:// or https:// base URL) of 1..255 characters. */
static const char *server_arg(lua_State *L, int idx)
{
    const char *s = word(L, idx, SERVER_MAX);
    return s != NULL && strchr(s, ':') != NULL ? s : NULL;
}

/* quecIot.setHttpOtaServer(mp_server) -> true|false (seed 3.8.6: "ip:port") */
static int l_setHttpOtaServer(lua_State *L)
{
    httpota_t *h = self_of(L);
    const char *server = server_arg(L, 1);
    if (server == NULL) {
        return refuse(L, "setHttpOtaServer",
                      "mp_server must be \"host:port\" (or an http:// or https:// URL), at "
                      "most 255 characters");
    }
    return result(L, set(h, "server", server));
}

/* quecIot.getHttpOtaServer() -> "ip:port" (seed 3.8.7; "" unset) */
static int l_getHttpOtaServer(lua_State *L)
{
    char server[SERVER_MAX + 1];
    httpota_setting(self_of(L), "server", server, sizeof(server));
    lua_pushstring(L, server);
    return 1;
}

/* quecIot.setHttpOtaUp(mp_battery, mp_upmode, mp_url) -> true|false (seed 3.8.8): keep
 * the values and ask the plan service; mp_url "host:port" (nil or "": the server set with
 * setHttpOtaServer). The answer comes as events (table 4.2). */
static int l_setHttpOtaUp(lua_State *L)
{
    httpota_t *h = self_of(L);
    lua_Integer battery = lua_isinteger(L, 1) ? lua_tointeger(L, 1) : -1;
    lua_Integer upmode = lua_isinteger(L, 2) ? lua_tointeger(L, 2) : -1;
    const char *url = "";
    if (!lua_isnoneornil(L, 3) && !(lua_type(L, 3) == LUA_TSTRING && lua_rawlen(L, 3) == 0)) {
        url = server_arg(L, 3);
    }
    if (battery < 0 || battery > 100) {
        return refuse(L, "setHttpOtaUp", "mp_battery must be a whole number 0..100 (%)");
    }
    if (upmode < 0 || upmode > 255) {
        return refuse(L, "setHttpOtaUp", "mp_upmode must be a whole number 0..255");
    }
    if (url == NULL) {
        return refuse(L, "setHttpOtaUp",
                      "mp_url must be \"host:port\" (or a URL), or nil for the server of "
                      "setHttpOtaServer");
    }
    char up[SERVER_MAX + 64];
    snprintf(up, sizeof(up), "%lld;%lld;%s", (long long)battery, (long long)upmode, url);
    if (!set(h, "up", up)) {
        return result(L, false);
    }
    const char *why = NULL;
    int rc = httpota_task_up(h, battery, upmode, url, &why);
    if (rc != 0) {
        return refuse(L, "setHttpOtaUp", why != NULL ? why : h->api->strerror(rc));
    }
    return result(L, true);
}

/* quecIot.getHttpOtaUp() -> {battery, upmode, url} as strings (seed 3.8.9; nil when never
 * set) */
static int l_getHttpOtaUp(lua_State *L)
{
    char up[SERVER_MAX + 64];
    httpota_setting(self_of(L), "up", up, sizeof(up));
    char *upmode = strchr(up, ';');
    char *url = upmode != NULL ? strchr(upmode + 1, ';') : NULL;
    if (url == NULL) {
        lua_pushnil(L);
        return 1;
    }
    *upmode++ = '\0';
    *url++ = '\0';
    lua_createtable(L, 3, 0);
    lua_pushstring(L, up);
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, upmode);
    lua_rawseti(L, -2, 2);
    lua_pushstring(L, url);
    lua_rawseti(L, -2, 3);
    return 1;
}

int httpota_lua_register(httpota_t *h)
{
    static const struct {
        const char *name;
        qtd_lua_cfn fn;
    } fns[] = {
        {"setHttpOtaEventCb", l_setHttpOtaEventCb},
        {"setHttpOtaProductInfo", l_setHttpOtaProductInfo},
        {"getHttpOtaProductInfo", l_getHttpOtaProductInfo},
        {"setHttpOtaTls", l_setHttpOtaTls},
        {"getHttpOtaTls", l_getHttpOtaTls},
        {"setHttpOtaServer", l_setHttpOtaServer},
        {"getHttpOtaServer", l_getHttpOtaServer},
        {"setHttpOtaUp", l_setHttpOtaUp},
        {"getHttpOtaUp", l_getHttpOtaUp},
    };
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        int rc = h->api->lua_add_function(h->host, HTTPOTA_LUA_MODULE, fns[i].name, fns[i].fn, h);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}
