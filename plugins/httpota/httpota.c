/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP OTA plugin: asks the plan service for an upgrade plan, downloads the package with
 * resumable Range requests, checks its digest and applies it (seed 3.8, table 4.2). This
 * first version declares the configuration only; the service client lands with its issue.
 */
#include <stddef.h>

#include "qthingd/plugin.h"

typedef struct {
    const char *download_dir;
    int64_t chunk_kb;
    int64_t timeout_s;
} httpota_cfg_t;

static const qtd_cfg_key_t httpota_keys[] = {
    {QTD_CFG_STRING, "download_dir", "", offsetof(httpota_cfg_t, download_dir),
     "where packages are downloaded; empty: <agent.data_dir>/ota", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "chunk_kb", "64", offsetof(httpota_cfg_t, chunk_kb),
     "size of one Range request, KiB", 1, 65536, NULL, NULL, 0},
    {QTD_CFG_INT, "timeout_s", "30", offsetof(httpota_cfg_t, timeout_s),
     "HTTP timeout of one request, seconds", 1, 3600, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

/* No state yet: the instance is its config. */
static int httpota_create(const qtd_host_api_t *api, qtd_host_t *host, const void *config,
                          void **self)
{
    (void)api;
    (void)host;
    *self = (void *)config;
    return 0;
}

static void httpota_destroy(void *self)
{
    (void)self;
}

static const qtd_plugin_ops_t httpota_ops = {
    .size = sizeof(qtd_plugin_ops_t),
    .create = httpota_create,
    .destroy = httpota_destroy,
};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR,
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "httpota",
    .version = "0.1.0",
    .kind = QTD_PLUGIN_SERVICE,
    .summary = "HTTP OTA (seed 3.8): not implemented yet; today it only validates its config",
    .config_map = httpota_keys,
    .config_size = sizeof(httpota_cfg_t),
    .ops = &httpota_ops,
};
