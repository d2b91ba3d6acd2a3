/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A test plugin that consumes a service: in start() it looks up `service` asking for at
 * least `min_size` bytes (0: the whole svc_test_counter_t), calls add(`add`) and logs
 * "total <n> from <service>". `optional` makes a missing service no error. Not installed.
 */
#include <stdbool.h>
#include <stdint.h>

#include "qthingd/plugin.h"
#include "svc_test.h"

typedef struct {
    const char *service;
    int64_t min_size;
    int64_t add;
    bool optional;
} consumer_cfg_t;

typedef struct {
    const qtd_host_api_t *api;
    qtd_host_t *host;
    const consumer_cfg_t *cfg;
} consumer_t;

static const qtd_cfg_key_t consumer_keys[] = {
    {QTD_CFG_STRING, "service", "test.counter", offsetof(consumer_cfg_t, service),
     "service name to look up", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "min_size", "0", offsetof(consumer_cfg_t, min_size),
     "table size needed (0: the whole table)", 0, 1024, NULL, NULL, 0},
    {QTD_CFG_INT, "add", "2", offsetof(consumer_cfg_t, add), "number added at start", 0, 1000, NULL,
     NULL, 0},
    {QTD_CFG_BOOL, "optional", "false", offsetof(consumer_cfg_t, optional),
     "the service is optional", 0, 0, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static int consumer_create(const qtd_host_api_t *api, qtd_host_t *host, const void *config,
                           void **self)
{
    consumer_t *c = api->calloc(host, 1, sizeof(*c));
    if (c == NULL) {
        return QTD_ENOMEM;
    }
    c->api = api;
    c->host = host;
    c->cfg = config;
    *self = c;
    return 0;
}

static int consumer_start(void *self)
{
    consumer_t *c = self;
    const svc_test_counter_t *counter = NULL;
    void *provider = NULL;
    size_t need = c->cfg->min_size > 0 ? (size_t)c->cfg->min_size : sizeof(*counter);
    int rc = c->api->service_lookup(c->host, c->cfg->service, need,
                                    c->cfg->optional ? QTD_SERVICE_OPTIONAL : 0,
                                    (const void **)&counter, &provider);
    if (rc < 0) {
        if (c->cfg->optional) {
            c->api->log(c->host, QTD_LOG_INFO, "running without %s", c->cfg->service);
            return 0;
        }
        return rc;
    }
    int64_t total = counter->add(provider, c->cfg->add);
    c->api->log(c->host, QTD_LOG_INFO, "total %lld from %s", (long long)total, c->cfg->service);
    return 0;
}

static void consumer_stop(void *self)
{
    consumer_t *c = self;
    c->api->log(c->host, QTD_LOG_INFO, "stopped");
}

static void consumer_destroy(void *self)
{
    consumer_t *c = self;
    if (c != NULL) {
        c->api->free(c->host, c);
    }
}

static const qtd_plugin_ops_t consumer_ops = {
    .size = sizeof(qtd_plugin_ops_t),
    .create = consumer_create,
    .destroy = consumer_destroy,
    .start = consumer_start,
    .stop = consumer_stop,
};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR,
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "svc_consumer",
    .version = "1.0.0",
    .kind = QTD_PLUGIN_SERVICE,
    .summary = "test plugin consuming the test.counter service",
    .config_map = consumer_keys,
    .config_size = sizeof(consumer_cfg_t),
    .ops = &consumer_ops,
};
