/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Modbus plugin's Lua functions: the seed's quecIot.MBInit, MBDataSend, MBDataRecv and
 * MBDeinit (3.10), and the `modbus` module of ours (setEventCB, write, values, serialOpen,
 * serialWrite, serialClose; docs/lua-api.md). Arguments are checked: a bad one gives false
 * and a warning naming it, never an error. The script's sendFunc, initCb and serial
 * callbacks are kept in the script state's registry and called by one dispatcher, the
 * state's callback of QTD_DOM_MODBUS_UART, so they run on the host's protected path.
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "modbus_pty.h"

#define REG_KEY "qtd.modbus" /* registry table: send, init, serial = {handle = fn} */

static mbp_t *self_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static int refuse(lua_State *L, const char *fn, const char *why)
{
    mbp_t *m = self_of(L);
    MBP_LOG(m, QTD_LOG_WARN, "%s: %s", fn, why);
    lua_pushboolean(L, 0);
    return 1;
}

/* ---- the dispatcher of QTD_DOM_MODBUS_UART ---------------------------------------- */

static void push_reg(lua_State *L)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, REG_KEY);
}

/* cb({event, errcode, value}) from the bus: to sendFunc, initCb or a serial callback. */
static int uart_dispatch(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_rawgeti(L, 1, 1); /* [ev event] */
    int event = (int)lua_tointeger(L, -1);
    lua_rawgeti(L, 1, 3); /* [ev event value] */
    int value = lua_gettop(L);
    if (!lua_istable(L, value)) {
        return 0;
    }
    push_reg(L); /* [... reg] */
    int reg = lua_gettop(L);
    switch (event) {
    case MBP_UART_SEND:
        if (lua_getfield(L, reg, "send") == LUA_TFUNCTION) {
            lua_pushvalue(L, value); /* sendFunc({port, bytes}) */
            lua_call(L, 1, 0);
        }
        break;
    case MBP_UART_INIT:
        if (lua_getfield(L, reg, "init") == LUA_TFUNCTION) {
            lua_createtable(L, 0, 2); /* {product = {pk, ps}, uart = {port, baud, ...}} */
            lua_createtable(L, 0, 2);
            lua_rawgeti(L, value, 1);
            lua_setfield(L, -2, "pk");
            lua_rawgeti(L, value, 2);
            lua_setfield(L, -2, "ps");
            lua_setfield(L, -2, "product");
            lua_createtable(L, 5, 0);
            for (int i = 0; i < 5; i++) {
                lua_rawgeti(L, value, 3 + i);
                lua_rawseti(L, -2, 1 + i);
            }
            lua_setfield(L, -2, "uart");
            lua_call(L, 1, 0);
        }
        break;
    case MBP_UART_SERIAL:
    case MBP_UART_SERIAL_CLOSED:
        if (lua_getfield(L, reg, "serial") == LUA_TTABLE) {
            lua_rawgeti(L, value, 1); /* [.. serial handle] */
            if (lua_gettable(L, -2) == LUA_TFUNCTION) {
                if (event == MBP_UART_SERIAL) {
                    lua_rawgeti(L, value, 2); /* fn(bytes) */
                    lua_call(L, 1, 0);
                } else {
                    lua_pushnil(L); /* fn(nil, reason): closed */
                    lua_rawgeti(L, value, 2);
                    lua_call(L, 2, 0);
                }
            }
        }
        break;
    default:
        break;
    }
    return 0;
}

/* Make the dispatcher this state's callback of QTD_DOM_MODBUS_UART. */
static bool bind_dispatcher(lua_State *L, mbp_t *m)
{
    lua_pushlightuserdata(L, m);
    lua_pushcclosure(L, uart_dispatch, 1);
    int rc = m->api->lua_set_event_callback(m->host, L, QTD_DOM_MODBUS_UART, -1);
    lua_pop(L, 1);
    return rc == 0;
}

/* ---- the seed's functions (3.10) -------------------------------------------------- */

static bool in_list(lua_State *L, int idx, lua_Integer v)
{
    lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        bool eq = lua_isinteger(L, -1) && lua_tointeger(L, -1) == v;
        lua_pop(L, 1);
        if (eq) {
            return true;
        }
    }
    return false;
}

/* The seed's enums of 3.10.1.2: data bits 0..3 = 5..8; parity 0 none, 1 even, 2 odd;
 * stop bits 0 = 1, 2 = 2. */
static void publish_init(mbp_t *m, size_t port)
{
    const mbp_port_cfg_t *pc = (const mbp_port_cfg_t *)m->cfg->ports.items + port;
    const char *pk = "", *ps = "";
    for (size_t i = 0; i < m->n_slaves; i++) {
        if (m->slaves[i].port == port && m->slaves[i].pk != NULL) {
            pk = m->slaves[i].pk;
            ps = m->slaves[i].cfg->ps;
            break;
        }
    }
    qtd_value_t items[7] = {
        {.type = QTD_VAL_STRING, .u.s = {pk, strlen(pk)}},
        {.type = QTD_VAL_STRING, .u.s = {ps, strlen(ps)}},
        {.type = QTD_VAL_INT, .u.i = pc->uart},
        {.type = QTD_VAL_INT, .u.i = pc->baud},
        {.type = QTD_VAL_INT, .u.i = pc->data_bits - 5},
        {.type = QTD_VAL_INT,
         .u.i = pc->parity[0] == 'E'   ? 1
                : pc->parity[0] == 'O' ? 2
                                       : 0},
        {.type = QTD_VAL_INT, .u.i = pc->stop_bits == 2 ? 2 : 0},
    };
    qtd_event_t ev = {.size = sizeof(ev),
                      .domain = QTD_DOM_MODBUS_UART,
                      .event = MBP_UART_INIT,
                      .value = {.type = QTD_VAL_ARRAY, .u.list = {items, 7}}};
    (void)m->api->publish(m->host, &ev);
}

int mbp_lua_open_lines(mbp_t *m)
{
    int result = 0;
    for (size_t i = 0; i < m->n_ports; i++) {
        if (!m->line_wanted[i]) {
            continue;
        }
        int rc = mbp_pty_line_open(m, i);
        if (rc == 0 || rc == QTD_EEXIST) {
            publish_init(m, i);
        } else {
            result = QTD_EIO;
        }
    }
    return result;
}

/* quecIot.MBInit(uartList, sendFunc, initCb) -> true|false: the script-driven lines
 * (modbus.ports[] with mode = "script") whose uart is in uartList get a pseudo-terminal
 * and their master, and initCb is called once per line (when the agent has started, for
 * a call made while the script loads). Again after MBInit: the callbacks are replaced and
 * initCb called again. */
static int l_MBInit(lua_State *L)
{
    mbp_t *m = self_of(L);
    if (!lua_istable(L, 1) || !lua_isfunction(L, 2) || !lua_isfunction(L, 3)) {
        return refuse(L, "quecIot.MBInit",
                      "takes (uartList: a list of port numbers, sendFunc: a function, initCb: "
                      "a function)");
    }
    const mbp_port_cfg_t *ports = m->cfg->ports.items;
    size_t wanted = 0;
    for (size_t i = 0; i < m->n_ports; i++) {
        if (strcmp(ports[i].mode, "script") == 0 && in_list(L, 1, ports[i].uart)) {
            wanted++;
        }
    }
    if (wanted == 0) {
        return refuse(L, "quecIot.MBInit",
                      "no line of modbus.ports has mode = \"script\" and a uart in uartList");
    }
    push_reg(L);
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "send");
    lua_pushvalue(L, 3);
    lua_setfield(L, -2, "init");
    lua_pop(L, 1);
    if (!bind_dispatcher(L, m)) {
        return refuse(L, "quecIot.MBInit", "the callbacks cannot be set");
    }
    for (size_t i = 0; i < m->n_ports; i++) {
        m->line_wanted[i] = strcmp(ports[i].mode, "script") == 0 && in_list(L, 1, ports[i].uart);
    }
    if (m->started && mbp_lua_open_lines(m) != 0) {
        return refuse(L, "quecIot.MBInit", "a line does not open (see above)");
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* quecIot.MBDataRecv(port, data) -> true|false: bytes the script read from its UART. */
static int l_MBDataRecv(lua_State *L)
{
    mbp_t *m = self_of(L);
    size_t len = 0;
    const char *data = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &len) : NULL;
    if (!lua_isinteger(L, 1) || data == NULL) {
        return refuse(L, "quecIot.MBDataRecv", "takes (port: an integer, data: bytes)");
    }
    int rc = mbp_pty_line_write(m, (int)lua_tointeger(L, 1), data, len);
    if (rc == QTD_ENOENT) {
        return refuse(L, "quecIot.MBDataRecv", "no line with that port is open (quecIot.MBInit)");
    }
    lua_pushboolean(L, rc == 0);
    return 1;
}

/* Write a table of id -> value to slave s. Returns false when nothing was queued. */
static bool write_table(lua_State *L, mbp_t *m, mbp_slave_t *s, int idx, const char *fn)
{
    qtd_value_t *v = NULL;
    if (m->api->lua_to_value(m->host, L, idx, &v) == 0 && v->type == QTD_VAL_ARRAY) {
        v->type = QTD_VAL_STRUCT; /* {[1] = x, [2] = y} is a sequence: ids 1, 2 */
        for (size_t i = 0; i < v->u.list.count; i++) {
            v->u.list.items[i].id = (uint16_t)(i + 1);
        }
    }
    if (v == NULL || v->type != QTD_VAL_STRUCT) {
        if (v != NULL) {
            m->api->value_free(m->host, v);
        }
        MBP_LOG(m, QTD_LOG_WARN, "%s: the values must be a table {id = value, ...}", fn);
        return false;
    }
    size_t queued = mbp_write(m, s, v, false);
    size_t asked = v->u.list.count;
    m->api->value_free(m->host, v);
    return queued == asked && asked > 0;
}

/* quecIot.MBDataSend(dict) -> true|false: thing-model values to the device's own slaves
 * (those without pk); each id is written where it is mapped. */
static int l_MBDataSend(lua_State *L)
{
    mbp_t *m = self_of(L);
    if (!lua_istable(L, 1)) {
        return refuse(L, "quecIot.MBDataSend", "takes a table {id = value, ...}");
    }
    bool any = false, ok = true;
    for (size_t i = 0; i < m->n_slaves; i++) {
        mbp_slave_t *s = &m->slaves[i];
        if (s->pk != NULL) {
            continue;
        }
        lua_newtable(L); /* the ids this slave maps */
        bool mine = false;
        lua_pushnil(L);
        while (lua_next(L, 1) != 0) {
            bool mapped = false;
            for (size_t k = 0; lua_isinteger(L, -2) && k < s->map.n_points; k++) {
                mapped |= s->map.points[k].id == lua_tointeger(L, -2);
            }
            if (mapped) {
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_settable(L, -4);
                mine = true;
            } else {
                lua_pop(L, 1);
            }
        }
        if (mine) {
            any = true;
            ok &= write_table(L, m, s, lua_gettop(L), "quecIot.MBDataSend");
        }
        lua_pop(L, 1);
    }
    if (!any) {
        return refuse(L, "quecIot.MBDataSend",
                      "no id is mapped by a slave of the device's own (a slave without pk)");
    }
    lua_pushnil(L); /* the ids no slave of the device's own maps: refused, named */
    while (lua_next(L, 1) != 0) {
        lua_pop(L, 1);
        bool mapped = false;
        for (size_t i = 0; i < m->n_slaves && !mapped; i++) {
            const mbp_slave_t *s = &m->slaves[i];
            for (size_t k = 0; s->pk == NULL && lua_isinteger(L, -1) && k < s->map.n_points; k++) {
                mapped |= s->map.points[k].id == lua_tointeger(L, -1);
            }
        }
        if (!mapped) {
            MBP_LOG(m, QTD_LOG_WARN,
                    "quecIot.MBDataSend: id %s is not mapped by a slave of the device's own: "
                    "not written",
                    luaL_tolstring(L, -1, NULL));
            lua_pop(L, 1);
            ok = false;
        }
    }
    lua_pushboolean(L, ok);
    return 1;
}

/* quecIot.MBDeinit() -> true: the script-driven lines stop. */
static int l_MBDeinit(lua_State *L)
{
    mbp_t *m = self_of(L);
    mbp_pty_close_all(m, true);
    memset(m->line_wanted, 0, m->n_ports * sizeof(*m->line_wanted));
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- the modbus module ------------------------------------------------------------ */

/* The slave named by dk (nil: the device's own first). */
static mbp_slave_t *slave_arg(lua_State *L, mbp_t *m, int idx)
{
    if (lua_isnoneornil(L, idx)) {
        return mbp_slave_find(m, NULL, NULL);
    }
    const char *dk = lua_tostring(L, idx);
    for (size_t i = 0; dk != NULL && i < m->n_slaves; i++) {
        if (m->slaves[i].pk != NULL && strcmp(m->slaves[i].dk, dk) == 0) {
            return &m->slaves[i];
        }
    }
    return NULL;
}

/* modbus.setEventCB(fn): fn({event, errcode, value}) for QTD_DOM_MODBUS (qthingd/modbus.h). */
static int l_setEventCB(lua_State *L)
{
    mbp_t *m = self_of(L);
    if (!lua_isfunction(L, 1) && !lua_isnil(L, 1)) {
        return refuse(L, "modbus.setEventCB", "takes a function (or nil)");
    }
    lua_pushboolean(L, m->api->lua_set_event_callback(m->host, L, QTD_DOM_MODBUS, 1) == 0);
    return 1;
}

/* modbus.write(dk|nil, {id = value, ...}) -> true|false */
static int l_write(lua_State *L)
{
    mbp_t *m = self_of(L);
    mbp_slave_t *s = slave_arg(L, m, 1);
    if (s == NULL || !lua_istable(L, 2)) {
        return refuse(L, "modbus.write",
                      "takes (dk of a mapped sub-device, or nil for the device's own slave, "
                      "{id = value, ...})");
    }
    lua_pushboolean(L, write_table(L, m, s, 2, "modbus.write"));
    return 1;
}

/* modbus.values(dk|nil) -> {id = value, ...} of the last values read, or nil */
static int l_values(lua_State *L)
{
    mbp_t *m = self_of(L);
    mbp_slave_t *s = slave_arg(L, m, 1);
    if (s == NULL) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, (int)s->map.n_points);
    for (size_t i = 0; i < s->map.n_points; i++) {
        if (s->cur[i].type != QTD_VAL_NONE) {
            m->api->lua_push_value(m->host, L, &s->cur[i]);
            lua_rawseti(L, -2, s->map.points[i].id);
        }
    }
    return 1;
}

/* modbus.serialOpen(device, baud, onData [, parity, data_bits, stop_bits]) -> handle|nil:
 * onData(bytes) for what arrives, onData(nil, reason) when the line closes. */
static int l_serialOpen(lua_State *L)
{
    mbp_t *m = self_of(L);
    const char *dev = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
    const char *parity = lua_type(L, 4) == LUA_TSTRING ? lua_tostring(L, 4) : "N";
    if (dev == NULL || !lua_isinteger(L, 2) || !lua_isfunction(L, 3) || strlen(parity) != 1 ||
        (!lua_isnoneornil(L, 5) && !lua_isinteger(L, 5)) ||
        (!lua_isnoneornil(L, 6) && !lua_isinteger(L, 6))) {
        MBP_LOG(m, QTD_LOG_WARN,
                "modbus.serialOpen: takes (device, baud, onData [, parity "
                "\"N\"|\"E\"|\"O\", data_bits, stop_bits])");
        lua_pushnil(L);
        return 1;
    }
    int h = mbp_serial_open(m, dev, (int)lua_tointeger(L, 2), parity[0],
                            (int)luaL_optinteger(L, 5, 8), (int)luaL_optinteger(L, 6, 1));
    if (h < 0 || !bind_dispatcher(L, m)) {
        lua_pushnil(L);
        return 1;
    }
    push_reg(L);
    luaL_getsubtable(L, -1, "serial");
    lua_pushvalue(L, 3);
    lua_rawseti(L, -2, h);
    lua_pop(L, 2);
    lua_pushinteger(L, h);
    return 1;
}

/* modbus.serialWrite(handle, bytes) -> true|false */
static int l_serialWrite(lua_State *L)
{
    mbp_t *m = self_of(L);
    size_t len = 0;
    const char *data = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &len) : NULL;
    if (!lua_isinteger(L, 1) || data == NULL) {
        return refuse(L, "modbus.serialWrite", "takes (handle, bytes)");
    }
    lua_pushboolean(L, mbp_serial_write(m, (int)lua_tointeger(L, 1), data, len) == 0);
    return 1;
}

/* modbus.serialClose(handle) -> true|false */
static int l_serialClose(lua_State *L)
{
    mbp_t *m = self_of(L);
    bool ok = lua_isinteger(L, 1) && mbp_serial_close(m, (int)lua_tointeger(L, 1)) == 0;
    if (ok) {
        push_reg(L); /* its callback goes too */
        if (lua_getfield(L, -1, "serial") == LUA_TTABLE) {
            lua_pushnil(L);
            lua_rawseti(L, -2, lua_tointeger(L, 1));
        }
        lua_pop(L, 2);
    }
    lua_pushboolean(L, ok);
    return 1;
}

int mbp_lua_register(mbp_t *m)
{
    static const struct {
        const char *module, *name;
        qtd_lua_cfn fn;
    } fns[] = {
        {"quecIot", "MBInit", l_MBInit},          {"quecIot", "MBDataSend", l_MBDataSend},
        {"quecIot", "MBDataRecv", l_MBDataRecv},  {"quecIot", "MBDeinit", l_MBDeinit},
        {"modbus", "setEventCB", l_setEventCB},   {"modbus", "write", l_write},
        {"modbus", "values", l_values},           {"modbus", "serialOpen", l_serialOpen},
        {"modbus", "serialWrite", l_serialWrite}, {"modbus", "serialClose", l_serialClose},
    };
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        int rc = m->api->lua_add_function(m->host, fns[i].module, fns[i].name, fns[i].fn, m);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}
