/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The probe: a test plugin that exercises the host API the way real plugins will. It
 * registers Lua functions (probe.publish, probe.post_from_thread, probe.roundtrip,
 * probe.kv), subscribes to every cloud event and logs each one it receives as
 * "probe: got <event>/<errcode> <value>", which tests read to check order.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <uv.h>

#include "qthingd/plugin.h"
#include "qthingd/thing.h"

typedef struct {
    int64_t marker;
} probe_cfg_t;

typedef struct {
    const qtd_host_api_t *api;
    qtd_host_t *host;
    uv_thread_t thread;
    bool thread_running;
    int thread_count;
    int64_t received;
} probe_t;

static const qtd_cfg_key_t probe_keys[] = {
    {QTD_CFG_INT, "marker", "7", offsetof(probe_cfg_t, marker),
     "a number logged at start (999: create() fails)", 0, 1000, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static probe_t *self_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

/* probe.publish(domain, event, errcode [, value]) -> true | nil, err */
static int l_publish(lua_State *L)
{
    probe_t *p = self_of(L);
    qtd_event_t ev = {.size = sizeof(ev),
                      .domain = (int32_t)luaL_checkinteger(L, 1),
                      .event = (int32_t)luaL_checkinteger(L, 2),
                      .errcode = (int32_t)luaL_checkinteger(L, 3)};
    qtd_value_t *v = NULL;
    if (!lua_isnoneornil(L, 4)) {
        int rc = p->api->lua_to_value(p->host, L, 4, &v);
        if (rc < 0) {
            lua_pushnil(L);                          /* nil */
            lua_pushstring(L, p->api->strerror(rc)); /* nil, err */
            return 2;
        }
        ev.value = *v;
    }
    int rc = p->api->publish(p->host, &ev);
    p->api->value_free(p->host, v);
    if (rc < 0) {
        lua_pushnil(L);
        lua_pushstring(L, p->api->strerror(rc));
        return 2;
    }
    lua_pushboolean(L, 1); /* true */
    return 1;
}

static void post_thread(void *arg)
{
    probe_t *p = arg;
    for (int i = 1; i <= p->thread_count; i++) {
        qtd_event_t ev = {.size = sizeof(ev),
                          .domain = QTD_DOM_CLOUD,
                          .event = QTD_EVT_RECV,
                          .errcode = QTD_CODE_OK,
                          .value = {.type = QTD_VAL_INT, .u.i = i}};
        p->api->post(p->host, &ev);
    }
}

/* probe.post_from_thread(n) -> true: a library thread posts 5/10200 with values 1..n */
static int l_post_from_thread(lua_State *L)
{
    probe_t *p = self_of(L);
    if (p->thread_running) {
        uv_thread_join(&p->thread);
    }
    p->thread_count = (int)luaL_checkinteger(L, 1);
    p->thread_running = uv_thread_create(&p->thread, post_thread, p) == 0;
    lua_pushboolean(L, p->thread_running); /* ok */
    return 1;
}

/* probe.roundtrip(value) -> value: Lua -> value tree -> Lua, or nil, err */
static int l_roundtrip(lua_State *L)
{
    probe_t *p = self_of(L);
    qtd_value_t *v = NULL;
    int rc = p->api->lua_to_value(p->host, L, 1, &v);
    if (rc < 0) {
        lua_pushnil(L);
        lua_pushstring(L, p->api->strerror(rc));
        return 2;
    }
    p->api->lua_push_value(p->host, L, v); /* copy */
    p->api->value_free(p->host, v);
    return 1;
}

/* probe.kv(key [, value]) -> stored value | nil */
static int l_kv(lua_State *L)
{
    probe_t *p = self_of(L);
    const char *key = luaL_checkstring(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        size_t len;
        const char *val = luaL_checklstring(L, 2, &len);
        p->api->kv_set(p->host, key, val, len);
    }
    char *val = NULL;
    size_t len = 0;
    if (p->api->kv_get(p->host, key, &val, &len) < 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushlstring(L, val, len); /* value */
    p->api->free(p->host, val);
    return 1;
}

/* probe.received() -> number of cloud events delivered to the plugin */
static int l_received(lua_State *L)
{
    lua_pushinteger(L, self_of(L)->received);
    return 1;
}

static int probe_create(const qtd_host_api_t *api, qtd_host_t *host, const void *config,
                        void **self)
{
    const probe_cfg_t *cfg = config;
    if (cfg->marker == 999) {
        api->log(host, QTD_LOG_ERROR, "marker 999: create() fails on purpose");
        return QTD_ECONFIG;
    }
    probe_t *p = api->calloc(host, 1, sizeof(*p));
    if (p == NULL) {
        return QTD_ENOMEM;
    }
    p->api = api;
    p->host = host;
    static const struct {
        const char *name;
        qtd_lua_cfn fn;
    } fns[] = {{"publish", l_publish},
               {"post_from_thread", l_post_from_thread},
               {"roundtrip", l_roundtrip},
               {"kv", l_kv},
               {"received", l_received}};
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        api->lua_add_function(host, "probe", fns[i].name, fns[i].fn, p);
    }
    api->subscribe(host, QTD_DOM_CLOUD, 0);
    api->log(host, QTD_LOG_INFO, "created, marker %" PRId64, cfg->marker);
    *self = p;
    return 0;
}

static int probe_on_event(void *self, const qtd_event_t *ev)
{
    probe_t *p = self;
    p->received++;
    char val[64] = "-";
    if (ev->value.type == QTD_VAL_INT) {
        snprintf(val, sizeof(val), "%" PRId64, ev->value.u.i);
    } else if (ev->value.type == QTD_VAL_STRING) {
        snprintf(val, sizeof(val), "%.*s", (int)ev->value.u.s.len, ev->value.u.s.ptr);
    }
    p->api->log(p->host, QTD_LOG_INFO, "got %d/%d %s from %s", ev->event, ev->errcode, val,
                ev->source);
    return 0;
}

static int probe_start(void *self)
{
    probe_t *p = self;
    p->api->log(p->host, QTD_LOG_INFO, "started");
    return 0;
}

static void probe_stop(void *self)
{
    probe_t *p = self;
    if (p->thread_running) {
        uv_thread_join(&p->thread);
        p->thread_running = false;
    }
    p->api->log(p->host, QTD_LOG_INFO, "stopped after %" PRId64 " events", p->received);
}

static void probe_destroy(void *self)
{
    probe_t *p = self;
    if (p != NULL) {
        if (p->thread_running) {
            uv_thread_join(&p->thread);
        }
        p->api->free(p->host, p);
    }
}

static const qtd_plugin_ops_t probe_ops = {
    .size = sizeof(qtd_plugin_ops_t),
    .create = probe_create,
    .destroy = probe_destroy,
    .start = probe_start,
    .stop = probe_stop,
    .on_event = probe_on_event,
};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR,
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "probe",
    .version = "1.0.0",
    .kind = QTD_PLUGIN_SERVICE,
    .summary = "test plugin exercising the host API",
    .config_map = probe_keys,
    .config_size = sizeof(probe_cfg_t),
    .ops = &probe_ops,
};
