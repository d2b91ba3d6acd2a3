/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An out-of-tree qthingd plugin, built against the installed header (examples/plugin/
 * Makefile, pkg-config qthingd): it declares one config key, logs it at create(), adds
 * hello.greet(name) to the script's Lua, and follows the platform's connection events of
 * the cloud plugin (domain QTD_DOM_CLOUD) to count the logins. docs/plugins.md explains
 * each part; tests/integration/test_install.sh builds and loads it.
 */
#include <lauxlib.h>
#include <lua.h>
#include <qthingd/plugin.h>
#include <qthingd/thing.h>
#include <stdio.h>

typedef struct {
    const char *greeting;
} hello_cfg_t;

typedef struct {
    const qtd_host_api_t *api;
    qtd_host_t *host;
    const hello_cfg_t *cfg;
    int logins;
} hello_t;

static const qtd_cfg_key_t hello_keys[] = {
    {QTD_CFG_STRING, "greeting", "hello", 0, "what hello.greet says first", 0, 0, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

/* hello.greet(name) -> "<greeting>, <name> (N logins)" */
static int l_greet(lua_State *L)
{
    hello_t *h = lua_touserdata(L, lua_upvalueindex(1));
    const char *name = luaL_optstring(L, 1, "world");
    lua_pushfstring(L, "%s, %s (%d logins)", h->cfg->greeting, name, h->logins);
    return 1;
}

static int hello_create(const qtd_host_api_t *api, qtd_host_t *host, const void *config,
                        void **self)
{
    hello_t *h = api->calloc(host, 1, sizeof(*h));
    if (h == NULL) {
        return QTD_ENOMEM;
    }
    h->api = api;
    h->host = host;
    h->cfg = config;
    int rc = api->lua_add_function(host, "hello", "greet", l_greet, h);
    if (rc == 0) {
        rc = api->subscribe(host, QTD_DOM_CLOUD, QTD_EVT_SUBSCRIBE);
    }
    if (rc != 0) {
        api->free(host, h);
        return rc;
    }
    api->log(host, QTD_LOG_INFO, "created; greeting \"%s\"", h->cfg->greeting);
    *self = h;
    return 0;
}

static int hello_on_event(void *self, const qtd_event_t *ev)
{
    hello_t *h = self;
    if (ev->errcode == QTD_CODE_OK) {
        h->logins++; /* 3/10200: logged in and subscribed */
    }
    return 0;
}

static void hello_status(void *self, char *buf, size_t n)
{
    hello_t *h = self;
    snprintf(buf, n, "%d logins seen", h->logins);
}

static void hello_destroy(void *self)
{
    hello_t *h = self;
    h->api->free(h->host, h);
}

static const qtd_plugin_ops_t hello_ops = {
    .size = sizeof(qtd_plugin_ops_t),
    .create = hello_create,
    .destroy = hello_destroy,
    .on_event = hello_on_event,
    .status = hello_status,
};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR,
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "hello",
    .version = "1.0.0",
    .kind = QTD_PLUGIN_SERVICE,
    .summary = "an example out-of-tree plugin: hello.greet(name) and a count of logins",
    .config_map = hello_keys,
    .config_size = sizeof(hello_cfg_t),
    .ops = &hello_ops,
};
