/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Modbus plugin's instance, shared by its files: modbus.c (configuration, life cycle,
 * polled values to the platform, platform writes and reads to registers), modbus_lua.c
 * (the `modbus` Lua module and the seed's quecIot.MB* functions) and modbus_pty.c (the
 * pseudo-terminals and serial lines a script drives).
 */
#ifndef QTD_MODBUS_PLUGIN_H
#define QTD_MODBUS_PLUGIN_H

#include <stdbool.h>
#include <stdint.h>

#include "modbus_map.h"
#include "modbus_port.h"
#include "qthingd/modbus.h"
#include "qthingd/plugin.h"
#include "qthingd/thing.h"

#define MBP_LOG(m, lvl, ...) (m)->api->log((m)->host, (lvl), __VA_ARGS__)

typedef struct {
    const char *name;
    const char *mode; /* rtu | tcp | script */
    const char *device;
    int64_t baud, data_bits, stop_bits;
    const char *parity;
    const char *host;
    int64_t port;
    int64_t uart; /* script: the seed's port number in MBInit's uartList */
} mbp_port_cfg_t;

typedef struct {
    qtd_cfg_array_t ports;  /* of mbp_port_cfg_t */
    qtd_cfg_array_t slaves; /* of mb_slave_cfg_t */
    int64_t poll_ms, timeout_ms, retries;
} mbp_cfg_t;

typedef struct {
    const mb_slave_cfg_t *cfg;
    char path[48];  /* "modbus.slaves[N]" */
    const char *pk; /* NULL: the device itself */
    char dk[64];    /* as configured, or derived from the port and unit */
    size_t port;    /* index of its line */
    mb_map_t map;
    qtd_value_t *cur;  /* per point: the last value read (type NONE: none yet) */
    qtd_value_t *sent; /* per point: the last value reported */
    char *text;        /* string storage: 2 per point (cur, sent), each 2*count+1 */
    size_t *text_at;   /* per point: offset of its pair in text */
    bool *faulted;     /* per batch: an exception was logged */
    bool down;
} mbp_slave_t;

typedef struct mbp_pty_s mbp_pty_t;

typedef struct {
    const qtd_host_api_t *api;
    qtd_host_t *host;
    const mbp_cfg_t *cfg;
    const qtd_thing_api_t *thing;
    void *cloud;
    mbp_slave_t *slaves;
    size_t n_slaves;
    mb_port_t **ports; /* one per configured line */
    size_t n_ports;
    mb_sink_t sink;
    bool sink_open;
    qtd_timer_t *beat; /* the sub-devices' heartbeats */
    mbp_pty_t *ptys;   /* script-driven lines and serial handles (modbus_pty.c) */
    bool *line_wanted; /* per line: quecIot.MBInit asked for it (opened at start) */
    bool started;
} mbp_t;

/* The slave mapped to (pk, dk); pk NULL or "": the device's own slaves' first. */
mbp_slave_t *mbp_slave_find(mbp_t *m, const char *pk, const char *dk);
/* Write values (a STRUCT of id -> value) to the points of slave s: each checked (mapped,
 * writable, in range for its type), refusals logged and answered (their current value
 * reported again, a 3/10300 event). A platform write leaves the points with script = true
 * alone: the script gets it (5/10210) and writes what it makes of it with modbus.write.
 * Returns how many writes were queued. */
size_t mbp_write(mbp_t *m, mbp_slave_t *s, const qtd_value_t *values, bool platform);
/* Publish a QTD_DOM_MODBUS event with value {pk, dk[, v]} for slave s. */
void mbp_event(mbp_t *m, const mbp_slave_t *s, int event, int errcode, const qtd_value_t *v);

int mbp_lua_register(mbp_t *m);
/* Stop the script-driven lines and close their pseudo-terminals, and unless lines_only the
 * script's serial handles too (modbus_pty.c). */
void mbp_pty_close_all(mbp_t *m, bool lines_only);
/* Open the script-driven lines MBInit asked for and call initCb for each (at start, or at
 * once when started). Returns: 0, QTD_EIO (a line did not open; logged). */
int mbp_lua_open_lines(mbp_t *m);

#endif /* QTD_MODBUS_PLUGIN_H */
