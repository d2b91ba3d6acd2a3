/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The GNSS plugin: NMEA from a serial line, gpsd or a file, the location types of the seed's
 * table 2 and LBS lines (seed 3.7). This first version declares the configuration; the
 * sources land with the GNSS issue.
 */
#include <stddef.h>
#include <string.h>

#include "qthingd/plugin.h"

typedef struct {
    const char *source;
    const char *device;
    int64_t baud;
} gnss_cfg_t;

static const qtd_cfg_key_t gnss_keys[] = {
    {QTD_CFG_STRING, "source", "none", offsetof(gnss_cfg_t, source), "where NMEA comes from", 0, 0,
     "none|serial|gpsd|file", NULL, 0},
    {QTD_CFG_STRING, "device", "", offsetof(gnss_cfg_t, device),
     "serial device, gpsd host:port or file path, by source", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "baud", "9600", offsetof(gnss_cfg_t, baud), "serial speed", 0, 0,
     "4800|9600|19200|38400|57600|115200", NULL, 0},
    {.type = QTD_CFG_END},
};

static int gnss_create(const qtd_host_api_t *api, qtd_host_t *host, const void *config, void **self)
{
    const gnss_cfg_t *cfg = config;
    if (strcmp(cfg->source, "none") != 0 && cfg->device[0] == '\0') {
        api->log(host, QTD_LOG_ERROR, "gnss.source = \"%s\" needs gnss.device", cfg->source);
        return QTD_ECONFIG;
    }
    *self = (void *)config;
    return 0;
}

static void gnss_destroy(void *self)
{
    (void)self;
}

static const qtd_plugin_ops_t gnss_ops = {
    .size = sizeof(qtd_plugin_ops_t),
    .create = gnss_create,
    .destroy = gnss_destroy,
};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR,
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "gnss",
    .version = "0.1.0",
    .kind = QTD_PLUGIN_SOUTH,
    .summary = "GNSS and LBS location (seed 3.7): not implemented yet; today it only "
               "validates its config",
    .config_map = gnss_keys,
    .config_size = sizeof(gnss_cfg_t),
    .ops = &gnss_ops,
};
