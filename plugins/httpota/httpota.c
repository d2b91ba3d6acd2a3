/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP OTA plugin. Today it provides the agent's one downloader, the "download" service
 * (qthingd/download.h, httpota_download.c), and the one firmware apply path, the "firmware"
 * service (qthingd/firmware.h, httpota_firmware.c), to itself and to the cloud plugin's
 * MQTT OTA; and the seed's HTTP OTA (3.8, table 4.2): the quecIot.setHttpOta* functions
 * (httpota_lua.c) and the task they start (httpota_task.c) against the plan service
 * (httpota_plan.c). This file: the configuration and the life cycle (see httpota.h).
 */
#include <stddef.h>

#include "httpota.h"

static const qtd_cfg_key_t httpota_keys[] = {
    {QTD_CFG_STRING, "download_dir", "", offsetof(httpota_cfg_t, download_dir),
     "where packages are downloaded; empty: <agent.data_dir>/ota", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "timeout_s", "30", offsetof(httpota_cfg_t, timeout_s),
     "connect timeout, and the time a transfer may stall, seconds", 1, 3600, NULL, NULL, 0},
    {QTD_CFG_INT, "retries", "5", offsetof(httpota_cfg_t, retries),
     "a failed transfer is retried this many times, the bytes on disk kept", 0, 1000, NULL, NULL,
     0},
    {QTD_CFG_INT, "retry_ms", "1000", offsetof(httpota_cfg_t, retry_ms),
     "the first wait before a retry, doubled each time", 10, 3600000, NULL, NULL, 0},
    {QTD_CFG_STRING, "firmware_command", "", offsetof(httpota_cfg_t, firmware_command),
     "shell command that installs a verified firmware image: run as sh -c '<command>' "
     "qthingd-firmware <file> <component> <version> (e.g. 'sysupgrade \"$1\"', "
     "'rauc install \"$1\" && reboot', 'swupdate -i \"$1\" && reboot'; docs/operations.md); "
     "empty: firmware tasks fail",
     0, 0, NULL, NULL, 0},
    {QTD_CFG_STRING, "firmware_version_command", "",
     offsetof(httpota_cfg_t, firmware_version_command),
     "shell command whose first output line is the running firmware's version (e.g. 'cat "
     "/etc/openwrt_version'), read at start; it tells a firmware update that worked from one "
     "that did not; empty: the agent's version",
     0, 0, NULL, NULL, 0},
    {QTD_CFG_STRING, "script_component", "SCRIPT", offsetof(httpota_cfg_t, script_component),
     "componentNo of HTTP OTA plans that replace the agent's Lua script; any other is firmware", 0,
     0, NULL, NULL, 0},
    {QTD_CFG_INT, "update_timeout_s", "1200", offsetof(httpota_cfg_t, update_timeout_s),
     "seconds a device has after a firmware install to restart into the new firmware, else "
     "the HTTP OTA task fails",
     10, 604800, NULL, NULL, 0},
    {QTD_CFG_INT, "probation_s", "10", offsetof(httpota_cfg_t, probation_s),
     "seconds a script installed by HTTP OTA must run without an error, else the previous "
     "one is put back",
     1, 3600, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static int httpota_create(const qtd_host_api_t *api, qtd_host_t *host, const void *config,
                          void **self)
{
    httpota_t *h = api->calloc(host, 1, sizeof(*h));
    if (h == NULL) {
        return QTD_ENOMEM;
    }
    h->api = api;
    h->host = host;
    h->cfg = config;
    dl_opts_t o = {.connect_timeout_s = h->cfg->timeout_s,
                   .low_speed_s = h->cfg->timeout_s,
                   .retries = h->cfg->retries,
                   .retry_ms = h->cfg->retry_ms};
    int rc = dl_engine_create(api, host, &o, &h->dl);
    if (rc == 0) {
        rc = api->service_provide(host, QTD_DOWNLOAD_SERVICE, &dl_api, h->dl);
    }
    if (rc == 0) {
        rc = fw_create(api, host, h->cfg->firmware_command, h->cfg->firmware_version_command,
                       &h->fw);
    }
    if (rc == 0) {
        rc = api->service_provide(host, QTD_FIRMWARE_SERVICE, &fw_api, h->fw);
    }
    if (rc == 0) {
        rc = plan_client_create(api, host, h->dl, &h->plans);
    }
    if (rc == 0) {
        rc = httpota_lua_register(h);
    }
    if (rc < 0) {
        plan_client_free(h->plans);
        fw_free(h->fw);
        dl_engine_free(h->dl); /* no handle yet: it goes at once */
        api->free(host, h);
        return rc;
    }
    *self = h;
    return 0;
}

/* The device's identity comes from the cloud plugin when it is loaded. */
static int httpota_start(void *self)
{
    httpota_t *h = self;
    const void *t = NULL;
    if (h->api->service_lookup(h->host, QTD_THING_SERVICE, QTD_THING_API_V2_SIZE,
                               QTD_SERVICE_OPTIONAL, &t, &h->thing_self) == 0) {
        h->thing = t;
    }
    httpota_task_start(h);
    return 0;
}

static void httpota_stop(void *self)
{
    httpota_t *h = self;
    httpota_task_stop(h);
    plan_client_stop(h->plans);
    fw_stop(h->fw);
    dl_engine_stop(h->dl);
}

static void httpota_destroy(void *self)
{
    httpota_t *h = self;
    if (h == NULL) {
        return;
    }
    plan_client_free(h->plans);
    fw_free(h->fw);
    dl_engine_free(h->dl);
    h->api->free(h->host, h);
}

static const qtd_plugin_ops_t httpota_ops = {
    .size = sizeof(qtd_plugin_ops_t),
    .create = httpota_create,
    .destroy = httpota_destroy,
    .start = httpota_start,
    .stop = httpota_stop,
};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR,
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "httpota",
    .version = "0.2.0",
    .kind = QTD_PLUGIN_SERVICE,
    .summary = "HTTP OTA (seed 3.8), the downloader (download service: resumable, verified) "
               "and the firmware apply path (firmware service)",
    .config_map = httpota_keys,
    .config_size = sizeof(httpota_cfg_t),
    .ops = &httpota_ops,
};
