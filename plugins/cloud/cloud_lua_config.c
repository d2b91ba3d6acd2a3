/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The `quecIot` Lua module, configuration part, registered by this plugin: seed sections
 * 3.3 (init, connection mode, work state, event callback) and 3.4 (product info, server,
 * lifetime, PDP context, session flag, software and MCU versions, DK/DS), name for name and
 * return value for return value. Settings persist in the store's kv table under the
 * CLOUD_KV_* keys (cloud.h); a change reaches the session at the end of the current loop
 * turn (qtd_cloud_request), as does a connection mode request. Wrong arguments never
 * raise: the function logs a warning naming the argument and its limits and returns false,
 * as the seed's functions return False. The data functions (seed 3.5) are in cloud_lua.c.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>
#include <lua.h>

#include "cloud.h"

#define PK_MAX 32
#define PS_MAX 32
#define SERVER_MAX 255
#define HOST_MAX 253
#define COMPNO_MAX 32
#define MCU_VERSION_MAX 64
#define MCU_MAX 32 /* components kept */
#define DK_MAX 16
#define DS_MAX 32
#define KV_MAX 4096 /* the largest value this module stores (the MCU list) */

/* Registry field of a script state that called quecIot.init(). */
#define INITED_KEY "cloud.inited"

static cloud_t *self_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

/* ---- helpers ---------------------------------------------------------------------- */

/* Logs "quecIot.<fn>: <why>" as a warning and returns false to Lua. */
static int fail(lua_State *L, const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(lua_State *L, const char *fn, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    cloud_t *c = self_of(L);
    c->api->log(c->host, QTD_LOG_WARN, "quecIot.%s: %s", fn, why);
    lua_pushboolean(L, 0); /* [... false] */
    return 1;
}

/* Setters need init() first, as on the module: once per script state. */
static bool inited(lua_State *L, const char *fn)
{
    bool yes = lua_getfield(L, LUA_REGISTRYINDEX, INITED_KEY) == LUA_TBOOLEAN; /* [... f] */
    lua_pop(L, 1);                                                             /* [...] */
    if (yes) {
        return true;
    }
    fail(L, fn, "called before quecIot.init()"); /* [... false] */
    return false;
}

/* An integer argument (an integral float counts; strings do not). */
static bool arg_int(lua_State *L, int idx, lua_Integer *out)
{
    int ok = 0;
    if (lua_type(L, idx) != LUA_TNUMBER) {
        return false;
    }
    *out = lua_tointegerx(L, idx, &ok);
    return ok != 0;
}

/* A string argument (numbers are not coerced). */
static const char *arg_str(lua_State *L, int idx, size_t *len)
{
    if (lua_type(L, idx) != LUA_TSTRING) {
        return NULL;
    }
    return lua_tolstring(L, idx, len);
}

/* Printable ASCII without space. */
static bool printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

static bool alnum(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
            return false;
        }
    }
    return true;
}

/* Copies the kv value of key into buf (NUL-terminated). Returns: 0, QTD_ENOENT, QTD_EIO,
 * QTD_ENOMEM, QTD_E2BIG. */
static int kv_read(cloud_t *c, const char *key, char *buf, size_t cap, size_t *len)
{
    char *val = NULL;
    size_t n = 0;
    int rc = c->api->kv_get(c->host, key, &val, &n);
    if (rc != 0) {
        if (rc != QTD_ENOENT) {
            c->api->log(c->host, QTD_LOG_ERROR, "quecIot: cannot read %s: %s", key,
                        c->api->strerror(rc));
        }
        return rc;
    }
    if (n >= cap) {
        c->api->free(c->host, val);
        c->api->log(c->host, QTD_LOG_ERROR, "quecIot: stored %s is too long (%zu bytes)", key, n);
        return QTD_E2BIG;
    }
    memcpy(buf, val, n);
    buf[n] = '\0';
    c->api->free(c->host, val);
    if (len != NULL) {
        *len = n;
    }
    return 0;
}

/* An integer setting, or def when unset or unreadable. */
static lua_Integer kv_int(cloud_t *c, const char *key, lua_Integer def)
{
    char buf[32];
    if (kv_read(c, key, buf, sizeof(buf), NULL) != 0) {
        return def;
    }
    char *end = NULL;
    long long v = strtoll(buf, &end, 10);
    return end != buf && *end == '\0' ? (lua_Integer)v : def;
}

/* Write (val != NULL) or delete (val == NULL) a setting. Logs failures. */
static bool kv_put(cloud_t *c, const char *key, const char *val, size_t len)
{
    int rc = val != NULL ? c->api->kv_set(c->host, key, val, len) : c->api->kv_del(c->host, key);
    if (rc != 0 && !(val == NULL && rc == QTD_ENOENT)) {
        c->api->log(c->host, QTD_LOG_ERROR, "quecIot: cannot save %s: %s", key,
                    c->api->strerror(rc));
        return false;
    }
    return true;
}

static bool kv_put_int(cloud_t *c, const char *key, lua_Integer v)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return kv_put(c, key, buf, (size_t)n);
}

/* Tell the session a setting changed and return true to Lua. */
static int changed(lua_State *L, cloud_t *c, const char *setting)
{
    c->api->log(c->host, QTD_LOG_DEBUG, "setting %s changed", setting);
    if (qtd_cloud_request(c, CLOUD_REQ_SETTINGS) != 0) {
        c->api->log(c->host, QTD_LOG_WARN, "quecIot: too many requests in one loop turn");
    }
    lua_pushboolean(L, 1); /* [... true] */
    return 1;
}

/* ---- 3.3: init, connection, work state, events ------------------------------------ */

/* quecIot.init() -> true (seed 3.3.1). Once per script state; again is harmless. */
static int l_init(lua_State *L)
{
    cloud_t *c = self_of(L);
    lua_pushboolean(L, 1);                          /* [true] */
    lua_setfield(L, LUA_REGISTRYINDEX, INITED_KEY); /* registry.inited = true; [] */
    if (c->workstate == QTD_WS_UNINITIALIZED) {
        qtd_cloud_set_workstate(c, QTD_WS_INITIALIZED);
    }
    lua_pushboolean(L, 1); /* [true] */
    return 1;
}

/* quecIot.setConnmode(mode) -> true|false (seed 3.3.1: 0 disconnect, 1 connect) */
static int l_setConnmode(lua_State *L)
{
    cloud_t *c = self_of(L);
    lua_Integer mode;
    if (!inited(L, "setConnmode")) {
        return 1;
    }
    if (!arg_int(L, 1, &mode) || (mode != 0 && mode != 1)) {
        return fail(L, "setConnmode", "mode must be 0 (disconnect) or 1 (connect)");
    }
    if (qtd_cloud_request(c, mode == 1 ? CLOUD_REQ_CONNECT : CLOUD_REQ_DISCONNECT) != 0) {
        return fail(L, "setConnmode", "too many requests queued in one loop turn");
    }
    c->lua_connmode = (int)mode;
    lua_pushboolean(L, 1); /* [... true] */
    return 1;
}

/* quecIot.getConnmode() -> 0|1 (seed 3.3.2) */
static int l_getConnmode(lua_State *L)
{
    lua_pushinteger(L, self_of(L)->lua_connmode); /* [mode] */
    return 1;
}

/* quecIot.getWorkState() -> 0..12 (seed 3.3.3) */
static int l_getWorkState(lua_State *L)
{
    lua_pushinteger(L, self_of(L)->workstate); /* [state] */
    return 1;
}

/* quecIot.setEventCB(eventCb) -> true|false (seed 3.3.4); eventCb({event, errcode [, value]}) */
static int l_setEventCB(lua_State *L)
{
    cloud_t *c = self_of(L);
    if (!inited(L, "setEventCB")) {
        return 1;
    }
    if (!lua_isfunction(L, 1)) {
        return fail(L, "setEventCB", "eventCb must be a function");
    }
    if (c->api->lua_set_event_callback(c->host, L, QTD_DOM_CLOUD, 1) != 0) {
        return fail(L, "setEventCB", "the callback cannot be set (out of memory)");
    }
    lua_pushboolean(L, 1); /* [fn true] */
    return 1;
}

/* ---- 3.4: product configuration --------------------------------------------------- */

/* quecIot.setProductinfo(product_key, product_secret) -> true|false (seed 3.4.1) */
static int l_setProductinfo(lua_State *L)
{
    cloud_t *c = self_of(L);
    size_t pklen;
    size_t pslen;
    if (!inited(L, "setProductinfo")) {
        return 1;
    }
    const char *pk = arg_str(L, 1, &pklen);
    if (pk == NULL || pklen == 0 || pklen > PK_MAX || !printable(pk, pklen)) {
        return fail(L, "setProductinfo",
                    "product_key must be a string of 1..%d printable characters", PK_MAX);
    }
    const char *ps = arg_str(L, 2, &pslen);
    if (ps == NULL || pslen == 0 || pslen > PS_MAX || !printable(ps, pslen)) {
        return fail(L, "setProductinfo",
                    "product_secret must be a string of 1..%d printable characters", PS_MAX);
    }
    if (!kv_put(c, CLOUD_KV_PK, pk, pklen) || !kv_put(c, CLOUD_KV_PS, ps, pslen)) {
        lua_pushboolean(L, 0); /* [pk ps false] */
        return 1;
    }
    return changed(L, c, "productinfo");
}

/* quecIot.getProductinfo() -> {pk, ps, protocol_version} | nil (seed 3.4.2; the seed's
 * index 0..2 are 1..3 here) */
static int l_getProductinfo(lua_State *L)
{
    cloud_t *c = self_of(L);
    char pk[PK_MAX + 1];
    char ps[PS_MAX + 1];
    if (kv_read(c, CLOUD_KV_PK, pk, sizeof(pk), NULL) != 0 ||
        kv_read(c, CLOUD_KV_PS, ps, sizeof(ps), NULL) != 0) {
        lua_pushnil(L); /* [nil] */
        return 1;
    }
    lua_createtable(L, 3, 0);                   /* [t] */
    lua_pushstring(L, pk);                      /* [t pk] */
    lua_rawseti(L, -2, 1);                      /* [t] */
    lua_pushstring(L, ps);                      /* [t ps] */
    lua_rawseti(L, -2, 2);                      /* [t] */
    lua_pushliteral(L, CLOUD_PROTOCOL_VERSION); /* [t ver] */
    lua_rawseti(L, -2, 3);                      /* [t] */
    return 1;
}

/*
 * "host:port", "mqtt://host:port", "mqtts://host:port" or "http://host:port" (plain
 * MQTT, as the seed's example writes it); host a DNS name, an IPv4 address or a
 * bracketed IPv6 address; port 1..65535. Returns NULL or why the form is refused.
 */
static const char *server_check(const char *s, size_t len)
{
    static const char *const schemes[] = {"mqtt://", "mqtts://", "http://", NULL};
    if (len == 0 || len > SERVER_MAX || strlen(s) != len) {
        return "server must be a string of 1..255 characters";
    }
    const char *hp = s;
    for (int i = 0; schemes[i] != NULL; i++) {
        size_t n = strlen(schemes[i]);
        if (strncasecmp(s, schemes[i], n) == 0) {
            hp = s + n;
            break;
        }
    }
    if (hp == s && strstr(s, "://") != NULL) {
        return "server scheme must be mqtt://, mqtts:// or http:// (or none)";
    }
    const char *colon;
    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');
        if (close == NULL || close == hp + 1 || close[1] != ':') {
            return "server must be host:port ([IPv6]:port for IPv6)";
        }
        for (const char *p = hp + 1; p < close; p++) {
            if (strchr("0123456789abcdefABCDEF:.", *p) == NULL) {
                return "server IPv6 address has a bad character";
            }
        }
        colon = close + 1;
    } else {
        colon = strrchr(hp, ':');
        if (colon == NULL || colon == hp) {
            return "server must be host:port with a non-empty host";
        }
        if ((size_t)(colon - hp) > HOST_MAX) {
            return "server host must be at most 253 characters";
        }
        for (const char *p = hp; p < colon; p++) {
            char c = *p;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_')) {
                return "server host may hold only letters, digits, '-', '.' and '_'";
            }
        }
    }
    const char *port = colon + 1;
    size_t plen = strlen(port);
    if (plen == 0 || plen > 5 || strspn(port, "0123456789") != plen) {
        return "server port must be a number 1..65535";
    }
    long p = strtol(port, NULL, 10);
    if (p < 1 || p > 65535) {
        return "server port must be a number 1..65535";
    }
    return NULL;
}

/* quecIot.setServer([type [, server]]) -> true|false (seed 3.4.3: type 1 = MQTT only,
 * 0 = LwM2M is not supported; both optional: type 1 and the production server) */
static int l_setServer(lua_State *L)
{
    cloud_t *c = self_of(L);
    lua_Integer type = 1;
    size_t len = 0;
    const char *server = NULL;
    if (!inited(L, "setServer")) {
        return 1;
    }
    if (!lua_isnoneornil(L, 1)) {
        if (!arg_int(L, 1, &type) || (type != 0 && type != 1)) {
            return fail(L, "setServer", "type must be 1 (MQTT)");
        }
        if (type == 0) {
            return fail(L, "setServer", "type 0 (LwM2M) is not supported, use 1 (MQTT)");
        }
    }
    if (!lua_isnoneornil(L, 2)) {
        server = arg_str(L, 2, &len);
        if (server == NULL) {
            return fail(L, "setServer", "server must be a string \"host:port\"");
        }
        const char *why = server_check(server, len);
        if (why != NULL) {
            return fail(L, "setServer", "%s", why);
        }
    }
    if (!kv_put_int(c, CLOUD_KV_SERVER_TYPE, type) || !kv_put(c, CLOUD_KV_SERVER, server, len)) {
        lua_pushboolean(L, 0); /* [... false] */
        return 1;
    }
    return changed(L, c, "server");
}

/* quecIot.getServer() -> {type, server} (seed 3.4.4) */
static int l_getServer(lua_State *L)
{
    cloud_t *c = self_of(L);
    char server[SERVER_MAX + 1];
    if (kv_read(c, CLOUD_KV_SERVER, server, sizeof(server), NULL) != 0) {
        snprintf(server, sizeof(server), "%s", CLOUD_DEFAULT_SERVER);
    }
    lua_createtable(L, 2, 0);                               /* [t] */
    lua_pushinteger(L, kv_int(c, CLOUD_KV_SERVER_TYPE, 1)); /* [t type] */
    lua_rawseti(L, -2, 1);                                  /* [t] */
    lua_pushstring(L, server);                              /* [t server] */
    lua_rawseti(L, -2, 2);                                  /* [t] */
    return 1;
}

/* quecIot.setLifetime([seconds]) -> true|false (seed 3.4.5: 1..65535, default 120) */
static int l_setLifetime(lua_State *L)
{
    cloud_t *c = self_of(L);
    lua_Integer secs = CLOUD_DEFAULT_LIFETIME;
    if (!inited(L, "setLifetime")) {
        return 1;
    }
    if (!lua_isnoneornil(L, 1) && (!arg_int(L, 1, &secs) || secs < 1 || secs > 65535)) {
        return fail(L, "setLifetime", "life_time must be an integer 1..65535 (seconds)");
    }
    if (!kv_put_int(c, CLOUD_KV_LIFETIME, secs)) {
        lua_pushboolean(L, 0); /* [... false] */
        return 1;
    }
    return changed(L, c, "lifetime");
}

/* quecIot.getLifetime() -> seconds (seed 3.4.6) */
static int l_getLifetime(lua_State *L)
{
    lua_Integer secs = kv_int(self_of(L), CLOUD_KV_LIFETIME, CLOUD_DEFAULT_LIFETIME);
    lua_pushinteger(L, secs); /* [secs] */
    return 1;
}

/* quecIot.setPdpContextId([contextID]) -> true|false (seed 3.4.7: only 1, the default) */
static int l_setPdpContextId(lua_State *L)
{
    cloud_t *c = self_of(L);
    lua_Integer cid = 1;
    if (!inited(L, "setPdpContextId")) {
        return 1;
    }
    if (!lua_isnoneornil(L, 1) && (!arg_int(L, 1, &cid) || cid != 1)) {
        return fail(L, "setPdpContextId", "contextID must be 1 (the only context supported)");
    }
    if (!kv_put_int(c, CLOUD_KV_PDPCID, cid)) {
        lua_pushboolean(L, 0); /* [... false] */
        return 1;
    }
    return changed(L, c, "pdpContextId");
}

/* quecIot.getPdpContextId() -> contextID (seed 3.4.8) */
static int l_getPdpContextId(lua_State *L)
{
    lua_pushinteger(L, kv_int(self_of(L), CLOUD_KV_PDPCID, 1)); /* [cid] */
    return 1;
}

/* quecIot.setSessionFlag([sessionFlag]) -> true|false (seed 3.4.9: boolean or 0/1,
 * default false) */
static int l_setSessionFlag(lua_State *L)
{
    cloud_t *c = self_of(L);
    bool flag = false;
    lua_Integer n;
    if (!inited(L, "setSessionFlag")) {
        return 1;
    }
    if (lua_isboolean(L, 1)) {
        flag = lua_toboolean(L, 1);
    } else if (arg_int(L, 1, &n) && (n == 0 || n == 1)) {
        flag = n == 1;
    } else if (!lua_isnoneornil(L, 1)) {
        return fail(L, "setSessionFlag", "sessionFlag must be true, false, 0 or 1");
    }
    if (!kv_put_int(c, CLOUD_KV_SESSION, flag ? 1 : 0)) {
        lua_pushboolean(L, 0); /* [... false] */
        return 1;
    }
    return changed(L, c, "sessionFlag");
}

/* quecIot.getSessionFlag() -> true|false (seed 3.4.10) */
static int l_getSessionFlag(lua_State *L)
{
    lua_pushboolean(L, kv_int(self_of(L), CLOUD_KV_SESSION, 0) != 0); /* [flag] */
    return 1;
}

/* quecIot.getSoftVersion() -> version (seed 3.4.11) */
static int l_getSoftVersion(lua_State *L)
{
    cloud_t *c = self_of(L);
    lua_pushstring(L, c->api->agent_version()); /* [version] */
    return 1;
}

/* The MCU list is stored as netstrings, "<len>:<compno>,<len>:<version>,", sorted. */
typedef struct mcu_s {
    const char *compno;
    size_t clen;
    const char *version;
    size_t vlen;
} mcu_t;

static const char *netstring(const char *p, const char *end, size_t *len)
{
    size_t n = 0;
    const char *q = p;
    while (q < end && *q >= '0' && *q <= '9' && q - p < 4) {
        n = n * 10 + (size_t)(*q++ - '0');
    }
    if (q == p || q >= end || *q != ':' || (size_t)(end - q - 1) < n + 1 || q[1 + n] != ',') {
        return NULL;
    }
    *len = n;
    return q + 1;
}

/* Returns the number of entries, or -1 when the stored list is malformed. */
static int mcu_parse(const char *buf, size_t len, mcu_t *list)
{
    const char *p = buf;
    const char *end = buf + len;
    int n = 0;
    while (p < end) {
        if (n == MCU_MAX) {
            return -1;
        }
        mcu_t *m = &list[n];
        if ((m->compno = netstring(p, end, &m->clen)) == NULL) {
            return -1;
        }
        p = m->compno + m->clen + 1;
        if ((m->version = netstring(p, end, &m->vlen)) == NULL) {
            return -1;
        }
        p = m->version + m->vlen + 1;
        n++;
    }
    return n;
}

static int mcu_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

/* Reads the stored list into buf/list. Returns the count or -1 (logged). */
static int mcu_load(cloud_t *c, char *buf, mcu_t *list)
{
    size_t len = 0;
    int rc = kv_read(c, CLOUD_KV_MCU, buf, KV_MAX, &len);
    if (rc == QTD_ENOENT) {
        return 0;
    }
    int n = rc == 0 ? mcu_parse(buf, len, list) : -1;
    if (n < 0) {
        c->api->log(c->host, QTD_LOG_WARN,
                    "quecIot: stored MCU version list is unreadable, ignored");
    }
    return n;
}

int qtd_cloud_set_mcu_version(cloud_t *c, const char *compno, size_t clen, const char *version,
                              size_t vlen, const char **why)
{
    *why = NULL;
    if (compno == NULL || clen == 0 || clen > COMPNO_MAX || !printable(compno, clen)) {
        *why = "compno must be a string of 1..32 printable characters";
        return QTD_EINVAL;
    }
    if (version == NULL || vlen == 0 || vlen > MCU_VERSION_MAX || !printable(version, vlen)) {
        *why = "version must be a string of 1..64 printable characters";
        return QTD_EINVAL;
    }
    char old[KV_MAX];
    mcu_t list[MCU_MAX + 1];
    int n = mcu_load(c, old, list);
    if (n < 0) {
        n = 0; /* start over rather than refuse forever */
    }
    int at = 0;
    while (at < n && mcu_cmp(list[at].compno, list[at].clen, compno, clen) < 0) {
        at++;
    }
    if (at < n && mcu_cmp(list[at].compno, list[at].clen, compno, clen) == 0) {
        list[at].version = version;
        list[at].vlen = vlen;
    } else {
        if (n == MCU_MAX) {
            *why = "at most 32 MCU components are kept";
            return QTD_ENOSPC;
        }
        memmove(&list[at + 1], &list[at], (size_t)(n - at) * sizeof(list[0]));
        list[at] = (mcu_t){compno, clen, version, vlen};
        n++;
    }
    char buf[KV_MAX];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        int w = snprintf(buf + len, sizeof(buf) - len, "%zu:%.*s,%zu:%.*s,", list[i].clen,
                         (int)list[i].clen, list[i].compno, list[i].vlen, (int)list[i].vlen,
                         list[i].version);
        len += (size_t)w; /* MCU_MAX entries of at most 104 bytes fit in KV_MAX */
    }
    if (!kv_put(c, CLOUD_KV_MCU, buf, len)) {
        return QTD_EIO;
    }
    c->api->log(c->host, QTD_LOG_DEBUG, "setting mcuVersion changed");
    if (qtd_cloud_request(c, CLOUD_REQ_SETTINGS) != 0) {
        c->api->log(c->host, QTD_LOG_WARN, "quecIot: too many requests in one loop turn");
    }
    char comp_z[COMPNO_MAX + 1];
    char ver_z[MCU_VERSION_MAX + 1];
    snprintf(comp_z, sizeof(comp_z), "%.*s", (int)clen, compno);
    snprintf(ver_z, sizeof(ver_z), "%.*s", (int)vlen, version);
    qtd_cloud_ota_mcu_version(c, comp_z, ver_z);
    return 0;
}

/* quecIot.setMcuVersion(compno, version) -> true|false (seed 3.4.12: compno 1..32 bytes,
 * version 1..64 bytes; setting a known compno again replaces its version) */
static int l_setMcuVersion(lua_State *L)
{
    cloud_t *c = self_of(L);
    size_t clen = 0;
    size_t vlen = 0;
    if (!inited(L, "setMcuVersion")) {
        return 1;
    }
    const char *compno = arg_str(L, 1, &clen);
    const char *version = arg_str(L, 2, &vlen);
    const char *why = NULL;
    int rc = qtd_cloud_set_mcu_version(c, compno, clen, version, vlen, &why);
    if (why != NULL) {
        return fail(L, "setMcuVersion", "%s", why);
    }
    lua_pushboolean(L, rc == 0); /* [compno version true|false] */
    return 1;
}

/* quecIot.getMcuVersion() -> {{compno, version}, ...} sorted by compno (seed 3.4.13) */
static int l_getMcuVersion(lua_State *L)
{
    cloud_t *c = self_of(L);
    char buf[KV_MAX];
    mcu_t list[MCU_MAX];
    int n = mcu_load(c, buf, list);
    lua_createtable(L, n > 0 ? n : 0, 0); /* [seq] */
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 2, 0);                          /* [seq pair] */
        lua_pushlstring(L, list[i].compno, list[i].clen);  /* [seq pair compno] */
        lua_rawseti(L, -2, 1);                             /* [seq pair] */
        lua_pushlstring(L, list[i].version, list[i].vlen); /* [seq pair version] */
        lua_rawseti(L, -2, 2);                             /* [seq pair] */
        lua_rawseti(L, -2, i + 1);                         /* [seq] */
    }
    return 1;
}

/*
 * quecIot.setDkDs(dk [, ds]) -> true|false (seed 3.4.14). dk: up to 16 letters/digits;
 * empty/nil (or the default DK) clears a configured DK/DS and returns to the default DK.
 * ds: up to 32 printable characters, only with a non-empty, non-default dk; omitted or ""
 * clears the stored DS.
 */
static int l_setDkDs(lua_State *L)
{
    cloud_t *c = self_of(L);
    size_t dklen = 0;
    size_t dslen = 0;
    const char *dk = NULL;
    const char *ds = NULL;
    if (!inited(L, "setDkDs")) {
        return 1;
    }
    if (!lua_isnoneornil(L, 1)) {
        dk = arg_str(L, 1, &dklen);
        if (dk == NULL || dklen > DK_MAX || !alnum(dk, dklen)) {
            return fail(L, "setDkDs", "dk must be a string of 0..%d letters and digits", DK_MAX);
        }
    }
    if (!lua_isnoneornil(L, 2)) {
        ds = arg_str(L, 2, &dslen);
        if (ds == NULL || dslen > DS_MAX || !printable(ds, dslen)) {
            return fail(L, "setDkDs", "ds must be a string of 0..%d printable characters", DS_MAX);
        }
    }
    bool is_default =
        dklen == 0 || (strlen(c->default_dk) == dklen && memcmp(c->default_dk, dk, dklen) == 0);
    if (is_default) {
        if (dslen > 0) {
            return fail(L, "setDkDs",
                        "ds may be set only with a non-empty dk other than the "
                        "default DK");
        }
        char cur[DK_MAX + 1];
        if (kv_read(c, CLOUD_KV_DK, cur, sizeof(cur), NULL) == QTD_ENOENT) {
            lua_pushboolean(L, 1); /* [... true]: already on the default DK */
            return 1;
        }
        if (!kv_put(c, CLOUD_KV_DS, NULL, 0) || !kv_put(c, CLOUD_KV_DK, NULL, 0)) {
            lua_pushboolean(L, 0); /* [... false] */
            return 1;
        }
        c->api->log(c->host, QTD_LOG_INFO, "quecIot.setDkDs: back to the default device key");
        return changed(L, c, "dkDs");
    }
    if (!kv_put(c, CLOUD_KV_DK, dk, dklen) ||
        !kv_put(c, CLOUD_KV_DS, dslen > 0 ? ds : NULL, dslen)) {
        lua_pushboolean(L, 0); /* [... false] */
        return 1;
    }
    c->api->log(c->host, QTD_LOG_INFO, "quecIot.setDkDs: device key %.*s%s", (int)dklen, dk,
                dslen > 0 ? " with a device secret" : "");
    return changed(L, c, "dkDs");
}

/* quecIot.getDkDs() -> {dk, ds} | nil (seed 3.4.15: only after setDkDs set a non-default
 * DK; ds is "" when none was given) */
static int l_getDkDs(lua_State *L)
{
    cloud_t *c = self_of(L);
    char dk[DK_MAX + 1];
    char ds[DS_MAX + 1];
    if (kv_read(c, CLOUD_KV_DK, dk, sizeof(dk), NULL) != 0) {
        lua_pushnil(L); /* [nil] */
        return 1;
    }
    if (kv_read(c, CLOUD_KV_DS, ds, sizeof(ds), NULL) != 0) {
        ds[0] = '\0';
    }
    lua_createtable(L, 2, 0); /* [t] */
    lua_pushstring(L, dk);    /* [t dk] */
    lua_rawseti(L, -2, 1);    /* [t] */
    lua_pushstring(L, ds);    /* [t ds] */
    lua_rawseti(L, -2, 2);    /* [t] */
    return 1;
}

int qtd_cloud_lua_config_register(cloud_t *c)
{
    static const luaL_Reg fns[] = {{"init", l_init},
                                   {"setConnmode", l_setConnmode},
                                   {"getConnmode", l_getConnmode},
                                   {"getWorkState", l_getWorkState},
                                   {"setEventCB", l_setEventCB},
                                   {"setProductinfo", l_setProductinfo},
                                   {"getProductinfo", l_getProductinfo},
                                   {"setServer", l_setServer},
                                   {"getServer", l_getServer},
                                   {"setLifetime", l_setLifetime},
                                   {"getLifetime", l_getLifetime},
                                   {"setPdpContextId", l_setPdpContextId},
                                   {"getPdpContextId", l_getPdpContextId},
                                   {"setSessionFlag", l_setSessionFlag},
                                   {"getSessionFlag", l_getSessionFlag},
                                   {"getSoftVersion", l_getSoftVersion},
                                   {"setMcuVersion", l_setMcuVersion},
                                   {"getMcuVersion", l_getMcuVersion},
                                   {"setDkDs", l_setDkDs},
                                   {"getDkDs", l_getDkDs}};
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        int rc = qtd_cloud_lua_add(c, fns[i].name, fns[i].func);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}
