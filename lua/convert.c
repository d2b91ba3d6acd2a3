/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Conversion between Lua values and the agent's value trees (qthingd/events.h), used for
 * thing-model data, event values and by plugins through the host API. A table whose keys
 * are exactly 1..n is an ARRAY (the empty table too), a table with other integer keys is a
 * STRUCT keyed by TSL id (0..8191); integers, floats, booleans and strings map to INT,
 * DOUBLE, BOOL and STRING. Nothing else (functions, userdata, string keys, nesting deeper
 * than 16) can travel on the wire and is refused. It knows neither the bus nor the host.
 */
#include "lua/luahost.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "agent/alloc.h"
#include "agent/bus.h"
#include "qthingd/errors.h"

/* Tables below the top one (the top is depth 0), as the wire codec counts structs. */
#define MAX_DEPTH QTD_VALUE_MAX_NESTING
#define MAX_TSL_ID 8191

static int to_value(lua_State *L, int idx, qtd_value_t *v, int depth);

static int cmp_id(const void *a, const void *b)
{
    const qtd_value_t *x = a;
    const qtd_value_t *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* The table at idx (absolute) into v (zeroed by the caller). */
static int table_to_value(lua_State *L, int idx, qtd_value_t *v, int depth)
{
    if (depth > MAX_DEPTH || !lua_checkstack(L, 4)) {
        return QTD_EINVAL;
    }
    /* First pass: count the keys and check they are integers. */
    size_t count = 0;
    lua_Integer min = 0;
    lua_Integer max = 0;
    lua_pushnil(L);                 /* [... nil] */
    while (lua_next(L, idx) != 0) { /* [... key value] */
        if (!lua_isinteger(L, -2)) {
            lua_pop(L, 2); /* [...] */
            return QTD_EINVAL;
        }
        lua_Integer k = lua_tointeger(L, -2);
        if (count == 0 || k < min) {
            min = k;
        }
        if (count == 0 || k > max) {
            max = k;
        }
        count++;
        lua_pop(L, 1); /* [... key] */
    }
    /* [...] */
    bool array = count == 0 || (min == 1 && max == (lua_Integer)count);
    if (!array && (min < 0 || max > MAX_TSL_ID)) {
        return QTD_EINVAL;
    }
    v->type = array ? QTD_VAL_ARRAY : QTD_VAL_STRUCT;
    if (count == 0) {
        return 0;
    }
    /* Zeroed items are NONE: a half-built tree is always safe to clear. */
    v->u.list.items = qtd_calloc(count, sizeof(qtd_value_t));
    if (v->u.list.items == NULL) {
        return QTD_ENOMEM;
    }
    v->u.list.count = count;
    size_t next = 0;
    lua_pushnil(L);                 /* [... nil] */
    while (lua_next(L, idx) != 0) { /* [... key value] */
        lua_Integer k = lua_tointeger(L, -2);
        qtd_value_t *item = array ? &v->u.list.items[k - 1] : &v->u.list.items[next++];
        if (!array) {
            item->id = (uint16_t)k;
        }
        int rc = to_value(L, lua_gettop(L), item, depth + 1);
        if (rc != 0) {
            lua_pop(L, 2); /* [...] */
            return rc;
        }
        lua_pop(L, 1); /* [... key] */
    }
    /* [...] */
    if (!array) {
        qsort(v->u.list.items, count, sizeof(qtd_value_t), cmp_id);
    }
    return 0;
}

static int to_value(lua_State *L, int idx, qtd_value_t *v, int depth)
{
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        v->type = QTD_VAL_NONE;
        return 0;
    case LUA_TBOOLEAN:
        v->type = QTD_VAL_BOOL;
        v->u.b = lua_toboolean(L, idx) != 0;
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            v->type = QTD_VAL_INT;
            v->u.i = (int64_t)lua_tointeger(L, idx);
        } else {
            v->type = QTD_VAL_DOUBLE;
            v->u.d = (double)lua_tonumber(L, idx);
        }
        return 0;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len); /* a string already: no conversion */
        char *copy = qtd_malloc(len + 1);
        if (copy == NULL) {
            return QTD_ENOMEM;
        }
        memcpy(copy, s, len);
        copy[len] = '\0';
        v->type = QTD_VAL_STRING;
        v->u.s.ptr = copy;
        v->u.s.len = len;
        return 0;
    }
    case LUA_TTABLE:
        return table_to_value(L, idx, v, depth);
    default:
        return QTD_EINVAL; /* function, userdata, thread */
    }
}

int qtd__lua_to_value(lua_State *L, int idx, qtd_value_t **out)
{
    *out = NULL;
    qtd_value_t *v = qtd_calloc(1, sizeof(*v));
    if (v == NULL) {
        return QTD_ENOMEM;
    }
    int rc = to_value(L, lua_absindex(L, idx), v, 0);
    if (rc != 0) {
        qtd__value_clear(v);
        qtd_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

static void push_value(lua_State *L, const qtd_value_t *v, int depth)
{
    switch (v->type) {
    case QTD_VAL_BOOL:
        lua_pushboolean(L, v->u.b); /* [... b] */
        break;
    case QTD_VAL_INT:
        lua_pushinteger(L, (lua_Integer)v->u.i); /* [... i] */
        break;
    case QTD_VAL_DOUBLE:
        lua_pushnumber(L, (lua_Number)v->u.d); /* [... d] */
        break;
    case QTD_VAL_STRING:
    case QTD_VAL_BYTES:
        lua_pushlstring(L, v->u.s.len > 0 ? v->u.s.ptr : "", v->u.s.len); /* [... s] */
        break;
    case QTD_VAL_STRUCT:
    case QTD_VAL_ARRAY: {
        if (depth > MAX_DEPTH) {
            luaL_error(L, "value nested deeper than %d levels", MAX_DEPTH);
        }
        luaL_checkstack(L, 3, "value tree");
        bool array = v->type == QTD_VAL_ARRAY;
        int n = v->u.list.count > INT32_MAX ? INT32_MAX : (int)v->u.list.count;
        lua_createtable(L, array ? n : 0, array ? 0 : n); /* [... t] */
        for (size_t i = 0; i < v->u.list.count; i++) {
            const qtd_value_t *item = &v->u.list.items[i];
            push_value(L, item, depth + 1); /* [... t item] */
            lua_Integer key = array ? (lua_Integer)i + 1 : (lua_Integer)item->id;
            lua_rawseti(L, -2, key); /* t[key] = item; [... t] */
        }
        break;
    }
    default:
        lua_pushnil(L); /* [... nil]: NONE and unknown types */
        break;
    }
}

void qtd__lua_push_value(lua_State *L, const qtd_value_t *v)
{
    if (v == NULL) {
        lua_pushnil(L); /* [... nil] */
        return;
    }
    push_value(L, v, 0); /* [... value] */
}
