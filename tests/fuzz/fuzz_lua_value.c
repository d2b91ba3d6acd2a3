/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the value tree <-> Lua conversion (lua/convert.c): the fuzz bytes are
 * decoded as TTLV (plugins/cloud/cloud_ttlv.c); a tree that decodes is pushed into a plain
 * lua_State with qtd__lua_push_value (inside lua_pcall: it may raise) and read back with
 * qtd__lua_to_value. What comes back must be what luahost.h promises for a pushed tree:
 * - BOOL, INT, DOUBLE the same value and type; STRING and BYTES a STRING of the same bytes;
 * - an ARRAY the same items in the same order;
 * - a STRUCT a table keyed by id, so duplicate ids keep their last item; its keys 1..n come
 *   back as an ARRAY in id order (by design), other keys as a STRUCT sorted by id.
 * The push raises only for nesting deeper than QTD_VALUE_MAX_NESTING, and the reading refuses
 * (QTD_EINVAL) only a tree holding a struct id over 8191. Any difference traps.
 *   clang -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Iagent/include
 *         -Iplugins/cloud $(pkg-config --cflags lua5.4) tests/fuzz/fuzz_lua_value.c
 *         lua/convert.c agent/value.c agent/alloc.c plugins/cloud/cloud_ttlv.c
 *         $(pkg-config --libs lua5.4) -lm -o fuzz_lua_value
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "agent/alloc.h"
#include "agent/bus.h"
#include "cloud_ttlv.h"
#include "lua/luahost.h"
#include "qthingd/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ID 8191 /* the largest struct id Lua values can carry (luahost.h) */

static void check(bool ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

static bool is_list(const qtd_value_t *v)
{
    return v->type == QTD_VAL_STRUCT || v->type == QTD_VAL_ARRAY;
}

/* Would pushing v (at depth d, the top at 0) raise for nesting? */
static bool too_deep(const qtd_value_t *v, int d)
{
    if (!is_list(v)) {
        return false;
    }
    if (d > QTD_VALUE_MAX_NESTING) {
        return true;
    }
    for (size_t i = 0; i < v->u.list.count; i++) {
        if (too_deep(&v->u.list.items[i], d + 1)) {
            return true;
        }
    }
    return false;
}

/* The item a struct's table holds at key id after the push (the last with that id). */
static const qtd_value_t *last_with_id(const qtd_value_t *v, uint16_t id)
{
    const qtd_value_t *found = NULL;
    for (size_t i = 0; i < v->u.list.count; i++) {
        if (v->u.list.items[i].id == id) {
            found = &v->u.list.items[i];
        }
    }
    return found;
}

/* Does the pushed form of v hold a struct key over MAX_ID? */
static bool big_id(const qtd_value_t *v)
{
    if (!is_list(v)) {
        return false;
    }
    for (size_t i = 0; i < v->u.list.count; i++) {
        const qtd_value_t *it = &v->u.list.items[i];
        if (v->type == QTD_VAL_STRUCT) {
            if (last_with_id(v, it->id) != it) {
                continue; /* overwritten by a later duplicate: not in the table */
            }
            if (it->id > MAX_ID) {
                return true;
            }
        }
        if (big_id(it)) {
            return true;
        }
    }
    return false;
}

static bool same(const qtd_value_t *a, const qtd_value_t *b);

/* a is a STRUCT as pushed (a table keyed by id), b what came back. */
static bool same_struct(const qtd_value_t *a, const qtd_value_t *b)
{
    /* the distinct ids, ascending: the keys of the pushed table */
    size_t nkeys = 0;
    uint16_t min = UINT16_MAX;
    uint16_t max = 0;
    for (size_t i = 0; i < a->u.list.count; i++) {
        const qtd_value_t *it = &a->u.list.items[i];
        if (last_with_id(a, it->id) == it) {
            nkeys++;
            min = it->id < min ? it->id : min;
            max = it->id > max ? it->id : max;
        }
    }
    bool array = nkeys == 0 || (min == 1 && max == nkeys);
    if (b->type != (array ? QTD_VAL_ARRAY : QTD_VAL_STRUCT) || b->u.list.count != nkeys) {
        return false;
    }
    for (size_t i = 0; i < nkeys; i++) {
        const qtd_value_t *got = &b->u.list.items[i];
        uint16_t id = array ? (uint16_t)(i + 1) : got->id;
        if (!array && i > 0 && got->id <= b->u.list.items[i - 1].id) {
            return false; /* sorted by id, no duplicate */
        }
        const qtd_value_t *want = last_with_id(a, id);
        if (want == NULL || !same(want, got)) {
            return false;
        }
    }
    return true;
}

/* Is b what reading back the push of a gives? (ids of a and b are compared by the caller) */
static bool same(const qtd_value_t *a, const qtd_value_t *b)
{
    switch (a->type) {
    case QTD_VAL_BOOL:
        return b->type == QTD_VAL_BOOL && a->u.b == b->u.b;
    case QTD_VAL_INT:
        return b->type == QTD_VAL_INT && a->u.i == b->u.i;
    case QTD_VAL_DOUBLE:
        return b->type == QTD_VAL_DOUBLE && (a->u.d == b->u.d || (isnan(a->u.d) && isnan(b->u.d)));
    case QTD_VAL_STRING:
    case QTD_VAL_BYTES:
        return b->type == QTD_VAL_STRING && a->u.s.len == b->u.s.len &&
               b->u.s.ptr[b->u.s.len] == '\0' &&
               (a->u.s.len == 0 || memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0);
    case QTD_VAL_ARRAY:
        if (b->type != QTD_VAL_ARRAY || b->u.list.count != a->u.list.count) {
            return false;
        }
        for (size_t i = 0; i < a->u.list.count; i++) {
            if (!same(&a->u.list.items[i], &b->u.list.items[i])) {
                return false;
            }
        }
        return true;
    case QTD_VAL_STRUCT:
        return same_struct(a, b);
    default:
        return false; /* TTLV decodes no other type */
    }
}

/* [tree] -> [value]: the push, under lua_pcall */
static int push(lua_State *L)
{
    const qtd_value_t *tree = lua_touserdata(L, 1);
    qtd__lua_push_value(L, tree); /* [tree value] */
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qtd_value_t tree;
    if (qtd_ttlv_decode(data, size, &tree, NULL) != 0) {
        return 0;
    }
    lua_State *L = luaL_newstate();
    check(L != NULL);
    lua_pushcfunction(L, push);      /* [push] */
    lua_pushlightuserdata(L, &tree); /* [push tree] */
    int rc = lua_pcall(L, 1, 1, 0);  /* [value] or [message] */
    if (rc != LUA_OK) {
        check(rc == LUA_ERRRUN && too_deep(&tree, 0));
    } else {
        check(!too_deep(&tree, 0));
        qtd_value_t *back = NULL;
        rc = qtd__lua_to_value(L, -1, &back);
        if (rc != 0) {
            check(rc == QTD_EINVAL && back == NULL && big_id(&tree));
        } else {
            check(back != NULL && !big_id(&tree) && same(&tree, back));
            qtd__value_clear(back);
            qtd_free(back);
        }
    }
    lua_close(L);
    qtd_ttlv_free(&tree);
    return 0;
}
