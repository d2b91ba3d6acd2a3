/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A test plugin that provides a service: "test.counter", a table whose add(self, n) adds n
 * to the instance's total and returns it. Config: `service` (the name it provides under),
 * `size` (the size it advertises, to play an older provider: 0 = the whole table) and
 * `fail_start` (its start() fails). It logs "started" and "stopped" so tests can check that
 * providers start before and stop after their consumers. Not installed.
 */
#include <stdbool.h>
#include <stdint.h>

#include "qthingd/plugin.h"
#include "svc_test.h"

typedef struct {
    const char *service;
    int64_t size;
    bool fail_start;
} provider_cfg_t;

typedef struct {
    const qtd_host_api_t *api;
    qtd_host_t *host;
    const provider_cfg_t *cfg;
    svc_test_counter_t table; /* per instance: its size field may be trimmed */
    int64_t total;
} provider_t;

static const qtd_cfg_key_t provider_keys[] = {
    {QTD_CFG_STRING, "service", "test.counter", offsetof(provider_cfg_t, service),
     "service name to provide", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "size", "0", offsetof(provider_cfg_t, size),
     "table size advertised (0: the whole table)", 0, 1024, NULL, NULL, 0},
    {QTD_CFG_BOOL, "fail_start", "false", offsetof(provider_cfg_t, fail_start), "start() fails", 0,
     0, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static int64_t counter_add(void *self, int64_t n)
{
    provider_t *p = self;
    p->total += n;
    return p->total;
}

static int provider_create(const qtd_host_api_t *api, qtd_host_t *host, const void *config,
                           void **self)
{
    provider_t *p = api->calloc(host, 1, sizeof(*p));
    if (p == NULL) {
        return QTD_ENOMEM;
    }
    p->api = api;
    p->host = host;
    p->cfg = config;
    p->table.size = p->cfg->size > 0 ? (uint32_t)p->cfg->size : sizeof(p->table);
    p->table.add = counter_add;
    int rc = api->service_provide(host, p->cfg->service, &p->table, p);
    if (rc < 0) {
        api->free(host, p);
        return rc;
    }
    *self = p;
    return 0;
}

static int provider_start(void *self)
{
    provider_t *p = self;
    if (p->cfg->fail_start) {
        p->api->log(p->host, QTD_LOG_INFO, "failing start on purpose");
        return QTD_EIO;
    }
    p->api->log(p->host, QTD_LOG_INFO, "started");
    return 0;
}

static void provider_stop(void *self)
{
    provider_t *p = self;
    p->api->log(p->host, QTD_LOG_INFO, "stopped with total %lld", (long long)p->total);
}

static void provider_destroy(void *self)
{
    provider_t *p = self;
    if (p != NULL) {
        p->api->free(p->host, p);
    }
}

static const qtd_plugin_ops_t provider_ops = {
    .size = sizeof(qtd_plugin_ops_t),
    .create = provider_create,
    .destroy = provider_destroy,
    .start = provider_start,
    .stop = provider_stop,
};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR,
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "svc_provider",
    .version = "1.0.0",
    .kind = QTD_PLUGIN_SERVICE,
    .summary = "test plugin providing the test.counter service",
    .config_map = provider_keys,
    .config_size = sizeof(provider_cfg_t),
    .ops = &provider_ops,
};
