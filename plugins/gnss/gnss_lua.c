/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seed's location functions (3.7) in the quecIot module: getLocSupList, getLocData,
 * locReportInside, locReportOutside (and the seed's older names locSupList, locDataGet),
 * and the `gnss` module of ours (fix, stats). Arguments are checked: a bad one gives false
 * (or nil) and a warning naming it, never an error.
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "gnss.h"

#define MAX_TYPES 32

static gnss_t *self_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static int refuse(lua_State *L, const char *fn, const char *why, const char *what)
{
    gnss_t *g = self_of(L);
    GNSS_LOG(g, QTD_LOG_WARN, "quecIot.%s: %s%s%s", fn, why, what != NULL ? ": " : "",
             what != NULL ? what : "");
    lua_pushboolean(L, 0);
    return 1;
}

/* A list of strings at idx into list (borrowed from the Lua stack's strings). Returns the
 * count, or -1 when it is not a non-empty list of at most MAX_TYPES strings. */
static int string_list(lua_State *L, int idx, const char **list)
{
    if (!lua_istable(L, idx)) {
        return -1;
    }
    lua_Integer n = luaL_len(L, idx);
    if (n < 1 || n > MAX_TYPES) {
        return -1;
    }
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        list[i - 1] = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        lua_pop(L, 1); /* the string stays alive in the table */
        if (list[i - 1] == NULL) {
            return -1;
        }
    }
    return (int)n;
}

/* "s1;s2;" pushed as the list {"s1", "s2"}. */
static void push_sentences(lua_State *L, const char *text)
{
    lua_newtable(L);
    int k = 0;
    for (const char *p = text; *p != '\0';) {
        size_t len = strcspn(p, ";");
        lua_pushlstring(L, p, len);
        lua_rawseti(L, -2, ++k);
        p += len + (p[len] == ';');
    }
}

/* quecIot.getLocSupList() -> {"NONE", "AUTO", ...} (seed 3.7.1; also locSupList) */
static int l_getLocSupList(lua_State *L)
{
    char buf[512];
    gnss_support(self_of(L), buf, sizeof(buf));
    push_sentences(L, buf);
    return 1;
}

/* The sentences of the types listed at idx 1 into out. Returns true, or false with a
 * warning naming the function and the reason. */
static bool collect_arg(lua_State *L, const char *fn, char *out, size_t n)
{
    gnss_t *g = self_of(L);
    const char *list[MAX_TYPES];
    const char *bad = NULL;
    int count = string_list(L, 1, list);
    int rc = count < 0 ? QTD_EINVAL : gnss_collect(g, list, (size_t)count, out, n, &bad);
    if (rc != 0) {
        GNSS_LOG(g, QTD_LOG_WARN, "quecIot.%s: %s%s", fn,
                 count < 0 ? "types must be a list of 1..32 names of table 2 "
                             "({\"GGA\", \"RMC\"})"
                 : rc == QTD_EMSGSIZE
                     ? "more sentences than a report holds"
                     : "not a name of table 2 (or LBS without the modem's cells): ",
                 count < 0 || rc == QTD_EMSGSIZE ? "" : bad);
        return false;
    }
    return true;
}

/* quecIot.getLocData(types) -> {"$GPGGA,...*47", ...} or nil (seed 3.7.2; also locDataGet) */
static int l_getLocData(lua_State *L)
{
    char out[GNSS_REPORT_MAX];
    if (!collect_arg(L, "getLocData", out, sizeof(out))) {
        lua_pushnil(L);
        return 1;
    }
    push_sentences(L, out);
    return 1;
}

static int report(lua_State *L, const char *fn, const char *sentences)
{
    gnss_t *g = self_of(L);
    if (g->thing == NULL) {
        return refuse(L, fn, "no cloud plugin to report through", NULL);
    }
    int rc = g->thing->loc_report(g->cloud, NULL, NULL, 1, sentences);
    if (rc < 0) {
        return refuse(L, fn, g->api->strerror(rc), NULL);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* quecIot.locReportInside(types) -> true|false (seed 3.7.3): LOC_REPORT of the sources'
 * sentences; 4/10220 when the platform has it. */
static int l_locReportInside(lua_State *L)
{
    char out[GNSS_REPORT_MAX];
    if (!collect_arg(L, "locReportInside", out, sizeof(out))) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (out[0] == '\0') {
        return refuse(L, "locReportInside", "no sentence of these types yet (no receiver data)",
                      NULL);
    }
    return report(L, "locReportInside", out);
}

/* quecIot.locReportOutside(nmea_list) -> true|false (seed 3.7.4): sentences the script
 * has, each checked first. */
static int l_locReportOutside(lua_State *L)
{
    const char *list[MAX_TYPES];
    char out[GNSS_REPORT_MAX];
    size_t used = 0;
    int n = string_list(L, 1, list);
    if (n < 0) {
        return refuse(L, "locReportOutside", "nmea_data must be a list of 1..32 sentences", NULL);
    }
    for (int i = 0; i < n; i++) {
        size_t len = strlen(list[i]);
        while (len > 0 && (list[i][len - 1] == '\n' || list[i][len - 1] == '\r')) {
            len--;
        }
        int talker, type;
        nmea_err_t e = nmea_check(list[i], len, &talker, &type);
        char why[160];
        if (e != NMEA_OK) {
            snprintf(why, sizeof(why), "sentence %d is not valid NMEA (%s)", i + 1,
                     nmea_strerror(e));
            return refuse(L, "locReportOutside", why, list[i]);
        }
        if (used + len + 2 > sizeof(out)) {
            return refuse(L, "locReportOutside", "more sentences than a report holds", NULL);
        }
        memcpy(out + used, list[i], len);
        out[used + len] = ';';
        used += len + 1;
    }
    out[used] = '\0';
    return report(L, "locReportOutside", out);
}

/* gnss.fix() -> {lat, lon, alt, speed, course, satellites, hdop, quality, utc} or nil */
static int l_fix(lua_State *L)
{
    const nmea_fix_t *fx = &self_of(L)->store.fix;
    if (!fx->valid) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 9);
    lua_pushnumber(L, fx->lat);
    lua_setfield(L, -2, "lat");
    lua_pushnumber(L, fx->lon);
    lua_setfield(L, -2, "lon");
    if (fx->has_alt) {
        lua_pushnumber(L, fx->alt);
        lua_setfield(L, -2, "alt");
    }
    if (fx->has_speed) {
        lua_pushnumber(L, fx->speed_kmh);
        lua_setfield(L, -2, "speed");
    }
    if (fx->has_course) {
        lua_pushnumber(L, fx->course);
        lua_setfield(L, -2, "course");
    }
    lua_pushinteger(L, fx->satellites);
    lua_setfield(L, -2, "satellites");
    lua_pushnumber(L, fx->hdop);
    lua_setfield(L, -2, "hdop");
    lua_pushinteger(L, fx->quality);
    lua_setfield(L, -2, "quality");
    lua_pushstring(L, fx->utc);
    lua_setfield(L, -2, "utc");
    return 1;
}

/* gnss.stats() -> {valid = N, dropped = N, cells = N} */
static int l_stats(lua_State *L)
{
    gnss_t *g = self_of(L);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)g->good);
    lua_setfield(L, -2, "valid");
    lua_pushinteger(L, (lua_Integer)g->bad);
    lua_setfield(L, -2, "dropped");
    lua_pushinteger(L, (lua_Integer)g->n_cells);
    lua_setfield(L, -2, "cells");
    return 1;
}

int gnss_lua_register(gnss_t *g)
{
    static const struct {
        const char *module, *name;
        qtd_lua_cfn fn;
    } fns[] = {
        {"quecIot", "getLocSupList", l_getLocSupList},
        {"quecIot", "locSupList", l_getLocSupList},
        {"quecIot", "getLocData", l_getLocData},
        {"quecIot", "locDataGet", l_getLocData},
        {"quecIot", "locReportInside", l_locReportInside},
        {"quecIot", "locReportOutside", l_locReportOutside},
        {"gnss", "fix", l_fix},
        {"gnss", "stats", l_stats},
    };
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        int rc = g->api->lua_add_function(g->host, fns[i].module, fns[i].name, fns[i].fn, g);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}
