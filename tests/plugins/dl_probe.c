/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A test plugin that consumes the "download" service (qthingd/download.h) the way the OTA
 * flows will: it looks the service up in start() and gives scripts
 * dlprobe.get(url, path [, size [, md5 [, sha256]]]) -> true | nil, err and
 * dlprobe.cancel(). It logs "dl_probe: progress <bytes>/<total>" and, exactly once per
 * download, "dl_probe: done <status> (<text>)", which tests read. Not installed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <lauxlib.h>
#include <lua.h>

#include "qthingd/download.h"
#include "qthingd/plugin.h"

typedef struct {
    const qtd_host_api_t *api;
    qtd_host_t *host;
    const qtd_download_api_t *dl;
    void *dl_self;
    qtd_download_t *current;
    int dones;
} dl_probe_t;

static dl_probe_t *self_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
    dl_probe_t *p = arg;
    p->api->log(p->host, QTD_LOG_INFO, "progress %llu/%llu", (unsigned long long)done,
                (unsigned long long)total);
}

static void on_done(void *arg, int status)
{
    dl_probe_t *p = arg;
    p->current = NULL;
    p->dones++;
    p->api->log(p->host, QTD_LOG_INFO, "done %d (%s), %d in all", status,
                status == 0 ? "ok" : p->api->strerror(status), p->dones);
}

/* dlprobe.get(url, path [, size [, md5 [, sha256]]]) -> true | nil, err */
static int l_get(lua_State *L)
{
    dl_probe_t *p = self_of(L);
    qtd_download_check_t check = {
        .size = (uint64_t)luaL_optinteger(L, 3, 0),
        .md5 = luaL_optstring(L, 4, ""),
        .sha256 = luaL_optstring(L, 5, ""),
    };
    if (p->dl == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "no download service");
        return 2;
    }
    int rc = p->dl->start(p->dl_self, luaL_checkstring(L, 1), luaL_checkstring(L, 2), &check,
                          on_progress, on_done, p, &p->current);
    if (rc < 0) {
        lua_pushnil(L);                          /* nil */
        lua_pushstring(L, p->api->strerror(rc)); /* nil, err */
        return 2;
    }
    lua_pushboolean(L, 1); /* true */
    return 1;
}

/* dlprobe.cancel() -> nothing */
static int l_cancel(lua_State *L)
{
    dl_probe_t *p = self_of(L);
    if (p->dl != NULL && p->current != NULL) {
        p->dl->cancel(p->dl_self, p->current);
    }
    return 0;
}

static int probe_create(const qtd_host_api_t *api, qtd_host_t *host, const void *config,
                        void **self)
{
    (void)config;
    dl_probe_t *p = api->calloc(host, 1, sizeof(*p));
    if (p == NULL) {
        return QTD_ENOMEM;
    }
    p->api = api;
    p->host = host;
    if (api->lua_add_function(host, "dlprobe", "get", l_get, p) < 0 ||
        api->lua_add_function(host, "dlprobe", "cancel", l_cancel, p) < 0) {
        api->free(host, p);
        return QTD_ENOMEM;
    }
    *self = p;
    return 0;
}

static int probe_start(void *self)
{
    dl_probe_t *p = self;
    return p->api->service_lookup(p->host, QTD_DOWNLOAD_SERVICE, QTD_DOWNLOAD_API_V1_SIZE, 0,
                                  (const void **)&p->dl, &p->dl_self);
}

static void probe_destroy(void *self)
{
    dl_probe_t *p = self;
    if (p != NULL) {
        p->api->free(p->host, p);
    }
}

static const qtd_plugin_ops_t probe_ops = {
    .size = sizeof(qtd_plugin_ops_t),
    .create = probe_create,
    .destroy = probe_destroy,
    .start = probe_start,
};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR,
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "dl_probe",
    .version = "1.0.0",
    .kind = QTD_PLUGIN_SERVICE,
    .summary = "test plugin consuming the download service",
    .ops = &probe_ops,
};
