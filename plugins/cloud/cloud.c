/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cloud plugin: the device's session with the platform over MQTT (Paho MQTT C), the
 * wire codec, authentication, thing-model data, reports and store and forward. This first
 * version declares its configuration and follows the connection mode the script asks for;
 * the MQTT session itself lands with the cloud issue (see docs/protocol.md).
 */
#include <stdbool.h>
#include <stddef.h>

#include "qthingd/plugin.h"

typedef struct {
    const char *ca_file;
    const char *ca_path;
    int64_t reconnect_min_ms;
    int64_t reconnect_max_ms;
    const char *at_port;
} cloud_cfg_t;

typedef struct {
    const qtd_host_api_t *api;
    qtd_host_t *host;
    const cloud_cfg_t *cfg;
    int connmode;
} cloud_t;

static const qtd_cfg_key_t cloud_keys[] = {
    {QTD_CFG_STRING, "ca_file", "", offsetof(cloud_cfg_t, ca_file),
     "CA certificates (PEM) to verify the server with for mqtts://; empty: system store", 0, 0,
     NULL, NULL, 0},
    {QTD_CFG_STRING, "ca_path", "", offsetof(cloud_cfg_t, ca_path),
     "directory of hashed CA certificates; empty: system default", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "reconnect_min_ms", "1000", offsetof(cloud_cfg_t, reconnect_min_ms),
     "first reconnect delay (exponential backoff with full jitter)", 100, 600000, NULL, NULL,
     0},
    {QTD_CFG_INT, "reconnect_max_ms", "120000", offsetof(cloud_cfg_t, reconnect_max_ms),
     "cap of the reconnect delay", 1000, 3600000, NULL, NULL, 0},
    {QTD_CFG_STRING, "at_port", "", offsetof(cloud_cfg_t, at_port),
     "modem AT port for IMEI, ICCID and signal values (e.g. /dev/ttyUSB2); empty: none", 0, 0,
     NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static int cloud_create(const qtd_host_api_t *api, qtd_host_t *host, const void *config,
                        void **self)
{
    cloud_t *c = api->calloc(host, 1, sizeof(*c));
    if (c == NULL) {
        return QTD_ENOMEM;
    }
    c->api = api;
    c->host = host;
    c->cfg = config;
    int rc = api->subscribe(host, QTD_DOM_AGENT, QTD_AGENT_CONNMODE);
    if (rc < 0) {
        api->free(host, c);
        return rc;
    }
    *self = c;
    return 0;
}

static void cloud_destroy(void *self)
{
    cloud_t *c = self;
    if (c != NULL) {
        c->api->free(c->host, c);
    }
}

static int cloud_on_event(void *self, const qtd_event_t *ev)
{
    cloud_t *c = self;
    if (ev->domain == QTD_DOM_AGENT && ev->event == QTD_AGENT_CONNMODE) {
        c->connmode = ev->errcode;
        c->api->log(c->host, QTD_LOG_INFO,
                    "connection mode %d requested; the MQTT session is not implemented in this "
                    "version, the device stays offline",
                    c->connmode);
    }
    return 0;
}

static const qtd_plugin_ops_t cloud_ops = {
    .size = sizeof(qtd_plugin_ops_t),
    .create = cloud_create,
    .destroy = cloud_destroy,
    .on_event = cloud_on_event,
};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR,
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "cloud",
    .version = "0.1.0",
    .kind = QTD_PLUGIN_NORTH,
    .summary = "MQTT session with the Quectel IoT platform (thing model, passthrough, reports)",
    .config_map = cloud_keys,
    .config_size = sizeof(cloud_cfg_t),
    .ops = &cloud_ops,
};
