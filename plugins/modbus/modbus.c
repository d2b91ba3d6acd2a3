/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Modbus plugin: libmodbus RTU and TCP master, register maps between devices and the
 * platform's thing model (seed 3.10). This first version declares and checks the ports
 * configuration; polling lands with the Modbus issue.
 */
#include <stddef.h>

#include "qthingd/plugin.h"

typedef struct {
    const char *name;
    const char *mode;
    const char *device;
    int64_t baud;
    const char *parity;
    const char *host;
    int64_t port;
} modbus_port_t;

typedef struct {
    qtd_cfg_array_t ports; /* of modbus_port_t */
    int64_t poll_ms;
} modbus_cfg_t;

static const qtd_cfg_key_t port_keys[] = {
    {QTD_CFG_STRING, "name", NULL, offsetof(modbus_port_t, name), "name the register maps refer to",
     0, 0, NULL, NULL, 0},
    {QTD_CFG_STRING, "mode", "rtu", offsetof(modbus_port_t, mode), "serial RTU or TCP", 0, 0,
     "rtu|tcp", NULL, 0},
    {QTD_CFG_STRING, "device", "", offsetof(modbus_port_t, device),
     "serial device for rtu (e.g. /dev/ttyS1)", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "baud", "9600", offsetof(modbus_port_t, baud), "serial speed for rtu", 0, 0,
     "1200|2400|4800|9600|19200|38400|57600|115200", NULL, 0},
    {QTD_CFG_STRING, "parity", "N", offsetof(modbus_port_t, parity), "serial parity for rtu", 0, 0,
     "N|E|O", NULL, 0},
    {QTD_CFG_STRING, "host", "127.0.0.1", offsetof(modbus_port_t, host), "server address for tcp",
     0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "port", "502", offsetof(modbus_port_t, port), "server port for tcp", 1, 65535,
     NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static const qtd_cfg_key_t modbus_keys[] = {
    {QTD_CFG_ARRAY, "ports", NULL, offsetof(modbus_cfg_t, ports), "serial lines and TCP servers", 0,
     0, NULL, port_keys, sizeof(modbus_port_t)},
    {QTD_CFG_INT, "poll_ms", "1000", offsetof(modbus_cfg_t, poll_ms),
     "default polling period of register maps, ms", 10, 86400000, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static int modbus_create(const qtd_host_api_t *api, qtd_host_t *host, const void *config,
                         void **self)
{
    const modbus_cfg_t *cfg = config;
    const modbus_port_t *ports = cfg->ports.items;
    for (size_t i = 0; i < cfg->ports.count; i++) {
        if (ports[i].mode[0] == 'r' && ports[i].device[0] == '\0') {
            api->log(host, QTD_LOG_ERROR,
                     "modbus.ports[%zu] (%s): mode rtu needs device = \"/dev/tty...\"", i + 1,
                     ports[i].name);
            return QTD_ECONFIG;
        }
    }
    *self = (void *)config;
    return 0;
}

static void modbus_destroy(void *self)
{
    (void)self;
}

static const qtd_plugin_ops_t modbus_ops = {
    .size = sizeof(qtd_plugin_ops_t),
    .create = modbus_create,
    .destroy = modbus_destroy,
};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR,
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "modbus",
    .version = "0.1.0",
    .kind = QTD_PLUGIN_SOUTH,
    .summary = "Modbus (seed 3.10): not implemented yet; today it only validates its config",
    .config_map = modbus_keys,
    .config_size = sizeof(modbus_cfg_t),
    .ops = &modbus_ops,
};
