/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cloud plugin: the device's session with the Quectel IoT platform over MQTT (Paho MQTT
 * C), speaking the SDK's wire protocol (docs/protocol.md). This file holds the descriptor,
 * the configuration, the plugin life cycle and the services it provides (thing.h, and
 * modem.h when it owns an AT port); the session is in cloud_session.c, the downlinks in
 * cloud_downlink.c and its feature files, the uplink path and outbox pump in cloud_outbox.c,
 * the Paho bridge in cloud_mqtt.c, the quecIot Lua module in cloud_lua_config.c and
 * cloud_lua.c, the AT port in cloud_at.c (see cloud.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud.h"

static const qtd_cfg_key_t cloud_keys[] = {
    {QTD_CFG_STRING, "ca_file", "", offsetof(cloud_cfg_t, ca_file),
     "CA certificates (PEM) to verify the server with for mqtts://; empty: system store", 0, 0,
     NULL, NULL, 0},
    {QTD_CFG_STRING, "ca_path", "", offsetof(cloud_cfg_t, ca_path),
     "directory of hashed CA certificates; empty: system default", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "reconnect_min_ms", "1000", offsetof(cloud_cfg_t, reconnect_min_ms),
     "first reconnect window (exponential backoff with full jitter)", 100, 600000, NULL, NULL, 0},
    {QTD_CFG_INT, "reconnect_max_ms", "120000", offsetof(cloud_cfg_t, reconnect_max_ms),
     "cap of the reconnect window", 1000, 3600000, NULL, NULL, 0},
    {QTD_CFG_INT, "stable_s", "60", offsetof(cloud_cfg_t, stable_s),
     "seconds online after which the backoff starts again from the minimum", 1, 86400, NULL, NULL,
     0},
    {QTD_CFG_INT, "register_timeout_s", "30", offsetof(cloud_cfg_t, register_timeout_s),
     "seconds to wait for the device secret after a registration connect", 1, 3600, NULL, NULL, 0},
    {QTD_CFG_INT, "window", "64", offsetof(cloud_cfg_t, window),
     "messages in flight (sent, not yet acknowledged) at most", 1, CLOUD_WINDOW_MAX, NULL, NULL, 0},
    {QTD_CFG_INT, "window_kib", "256", offsetof(cloud_cfg_t, window_kib),
     "KiB of frames in flight at most (one more message may go while less is): what a "
     "connection that dies can strand inside the MQTT library",
     1, 65536, NULL, NULL, 0},
    {QTD_CFG_STRING, "at_port", "", offsetof(cloud_cfg_t, at_port),
     "modem AT port for signal, cell, ICCID, IMSI and phone number values (e.g. "
     "/dev/ttyUSB2); empty: none (those values are not available)",
     0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "at_baud", "115200", offsetof(cloud_cfg_t, at_baud), "speed of the AT port", 0, 0,
     "9600|19200|38400|57600|115200|230400|460800|921600", NULL, 0},
    {QTD_CFG_INT, "modem_poll_s", "60", offsetof(cloud_cfg_t, modem_poll_s),
     "seconds between two reads of the modem values", 5, 86400, NULL, NULL, 0},
    {QTD_CFG_INT, "ack_timeout_s", "30", offsetof(cloud_cfg_t, ack_timeout_s),
     "seconds to wait for a SUBACK or PUBACK before the session counts as stuck and "
     "reconnects",
     5, 3600, NULL, NULL, 0},
    {QTD_CFG_STRING, "ota_script_component", "SCRIPT", offsetof(cloud_cfg_t, ota_script_component),
     "component number (componentNo) of OTA tasks that replace the agent's Lua script "
     "(lua.script); other componentType 0 tasks are firmware, componentType 1 an external MCU",
     0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "ota_probation_s", "10", offsetof(cloud_cfg_t, ota_probation_s),
     "seconds a script installed by OTA must run without an error, else the previous one is "
     "put back",
     1, 3600, NULL, NULL, 0},
    {QTD_CFG_INT, "ota_online_s", "120", offsetof(cloud_cfg_t, ota_online_s),
     "seconds a script installed by OTA has to bring the device online (subscribed), else the "
     "previous one is put back",
     1, 86400, NULL, NULL, 0},
    {QTD_CFG_INT, "ota_mcu_piece_kb", "0", offsetof(cloud_cfg_t, ota_mcu_piece_kb),
     "piece of an MCU image the script reads at a time (7/10703, otaAction(2)), KiB; 0: the "
     "whole image at once",
     0, 1048576, NULL, NULL, 0},
    {QTD_CFG_INT, "ota_update_timeout_s", "1200", offsetof(cloud_cfg_t, ota_update_timeout_s),
     "seconds an MCU has to read its image and report its new version (setMcuVersion) before "
     "the task fails",
     10, 604800, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static void on_pump(uv_prepare_t *h)
{
    cloud_t *c = h->data;
    if (c->n_reqs > 0) {
        qtd_cloud_run_requests(c);
    }
    if (c->pump_wanted) {
        qtd_cloud_pump(c);
    }
}

static void on_kick(uv_timer_t *h)
{
    cloud_t *c = h->data;
    if (c->online) {
        c->pump_wanted = true;
    }
    qtd_cloud_check_acks(c);
}

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
    c->loop = api->loop(host);
    c->workstate = QTD_WS_UNINITIALIZED;
    c->inflight = api->calloc(host, (size_t)c->cfg->window, sizeof(inflight_t));
    c->acked = api->calloc(host, (size_t)c->cfg->window, sizeof(int64_t));
    c->ahead = api->calloc(host, CLOUD_AHEAD_ROWS, sizeof(ahead_row_t));
    c->ahead_buf = api->malloc(host, CLOUD_AHEAD_BYTES);
    c->puts = api->calloc(host, CLOUD_RECENT_PUTS, sizeof(cloud_put_t));
    int rc = c->inflight != NULL && c->acked != NULL && c->ahead != NULL && c->ahead_buf != NULL &&
                     c->puts != NULL
                 ? 0
                 : QTD_ENOMEM;
    if (rc == 0) {
        rc = api->subscribe(host, QTD_DOM_AGENT, QTD_AGENT_LOST);
    }
    if (rc == 0) {
        rc = api->subscribe(host, QTD_DOM_AGENT, QTD_AGENT_DROPPED);
    }
    if (rc == 0) {
        rc = qtd_cloud_lua_config_register(c);
    }
    if (rc == 0) {
        rc = qtd_cloud_lua_register(c);
    }
    if (rc == 0) {
        rc = qtd_cloud_ota_register(c);
    }
    if (rc == 0) {
        rc = qtd_cloud_subdev_lua_register(c);
    }
    if (rc == 0) {
        rc = api->service_provide(host, QTD_THING_SERVICE, &qtd_cloud_thing_api, c);
    }
    if (rc == 0 && c->cfg->at_port[0] != '\0') {
        rc = api->service_provide(host, QTD_MODEM_SERVICE, &qtd_cloud_modem_api, c);
    }
    /* Handles last: nothing may fail after the first one is open. */
    if (rc == 0) {
        rc = qtd_cloud_mq_create(c, &c->mq);
    }
    if (rc < 0) {
        api->free(host, c->inflight);
        api->free(host, c->puts);
        api->free(host, c);
        return rc;
    }
    (void)qtd_cloud_at_open(c);
    if (c->imei[0] != '\0' && strlen(c->imei) <= CLOUD_DK_MAX) {
        snprintf(c->default_dk, sizeof(c->default_dk), "%s", c->imei);
        api->log(host, QTD_LOG_INFO, "default device key: the modem's IMEI %s", c->imei);
    } else {
        int from = qtd_cloud_host_dk(c->default_dk, sizeof(c->default_dk), c->default_dk_source,
                                     sizeof(c->default_dk_source));
        api->log(host, QTD_LOG_INFO, "default device key: %s, from %s", c->default_dk,
                 c->default_dk_source);
        /* Not unique per unit: warned about when a connection uses it (cloud_session.c). */
        c->default_dk_weak = from != CLOUD_DK_MAC;
    }
    (void)uv_timer_init(c->loop, &c->retry_timer);
    (void)uv_timer_init(c->loop, &c->stable_timer);
    (void)uv_timer_init(c->loop, &c->reg_timer);
    (void)uv_timer_init(c->loop, &c->kick_timer);
    c->kick_timer.data = c;
    (void)uv_timer_start(&c->kick_timer, on_kick, 2000, 2000);
    (void)uv_prepare_init(c->loop, &c->pump);
    c->retry_timer.data = c->stable_timer.data = c->reg_timer.data = c->pump.data = c;
    (void)uv_prepare_start(&c->pump, on_pump);
    qtd_cloud_load_identity(c);
    *self = c;
    return 0;
}

static int cloud_on_event(void *self, const qtd_event_t *ev)
{
    cloud_t *c = self;
    if (ev->domain == QTD_DOM_AGENT &&
        (ev->event == QTD_AGENT_LOST || ev->event == QTD_AGENT_DROPPED)) {
        qtd_cloud_pump_forget(c); /* rows read ahead may be gone */
    }
    if (ev->domain == QTD_DOM_AGENT && ev->event == QTD_AGENT_LOST &&
        ev->value.type == QTD_VAL_ARRAY && ev->value.u.list.count == 2) {
        qtd_cloud_rows_lost(c, ev->value.u.list.items[0].u.i, ev->value.u.list.items[1].u.i);
    }
    return 0;
}

/* The services this plugin uses are looked up now that every plugin exists. */
static void cloud_status(void *self, char *buf, size_t n)
{
    cloud_t *c = self;
    size_t online = 0;
    for (size_t b = 0; b < c->subs.nbuckets; b++) {
        for (const subdev_t *sd = c->subs.buckets[b]; sd != NULL; sd = sd->next) {
            online += sd->state == SUBDEV_ONLINE;
        }
    }
    snprintf(buf, n,
             "%s %s, work state %d, %llu sent / %llu acknowledged this run, "
             "%zu of %zu sub-devices online%s",
             c->online ? "online at" : "offline, server", c->id.server, c->workstate,
             (unsigned long long)c->stat_sent, (unsigned long long)c->stat_acked, online,
             c->subs.count, c->ota.status > 0 ? ", an OTA task under way" : "");
}

static int cloud_start(void *self)
{
    qtd_cloud_ota_start(self);
    qtd_cloud_loc_start(self);
    qtd_cloud_subdev_open(self);
    return 0;
}

static void cloud_stop(void *self)
{
    cloud_t *c = self;
    c->stopping = true;
    qtd_cloud_pump_delete_acked(c);
    qtd_cloud_ota_stop(c);
    qtd_cloud_subdev_close(c);
    if (c->online) {
        c->api->log(c->host, QTD_LOG_INFO, "stopping: %llu sent, %llu acknowledged this run",
                    (unsigned long long)c->stat_sent, (unsigned long long)c->stat_acked);
    }
    qtd_cloud_mq_close(c->mq);
    uv_close((uv_handle_t *)&c->retry_timer, NULL);
    uv_close((uv_handle_t *)&c->stable_timer, NULL);
    uv_close((uv_handle_t *)&c->reg_timer, NULL);
    uv_close((uv_handle_t *)&c->kick_timer, NULL);
    qtd_cloud_at_close(c);
    uv_close((uv_handle_t *)&c->pump, NULL);
}

static void cloud_destroy(void *self)
{
    cloud_t *c = self;
    if (c == NULL) {
        return;
    }
    qtd_cloud_mq_free(c->mq);
    qtd_cloud_subdev_free(c);
    if (c->at_lock_ok) {
        uv_mutex_destroy(&c->at_lock);
    }
    c->api->free(c->host, c->inflight);
    c->api->free(c->host, c->acked);
    c->api->free(c->host, c->ahead);
    c->api->free(c->host, c->ahead_buf);
    c->api->free(c->host, c->puts);
    c->api->free(c->host, c);
}

static const qtd_plugin_ops_t cloud_ops = {
    .size = sizeof(qtd_plugin_ops_t),
    .create = cloud_create,
    .destroy = cloud_destroy,
    .start = cloud_start,
    .stop = cloud_stop,
    .on_event = cloud_on_event,
    .status = cloud_status,
};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR,
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "cloud",
    .version = "0.2.0",
    .kind = QTD_PLUGIN_NORTH,
    .summary = "MQTT session with the Quectel IoT platform (thing model, passthrough, reports, "
               "MQTT OTA, gateway sub-devices)",
    .config_map = cloud_keys,
    .config_size = sizeof(cloud_cfg_t),
    .ops = &cloud_ops,
};
