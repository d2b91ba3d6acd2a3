/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Config evaluation and validation (see config.h). The file runs in a bare lua_State with
 * no standard library and an empty _ENV; the globals it assigns are the top-level sections.
 * Validation walks a section's Lua table against its key table, converting and range-
 * checking each value, reporting unknown keys with the list of known ones.
 */
#include "agent/config.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "agent/alloc.h"

#define MAX_ERRORS 64
#define CONFIG_INSTR_LIMIT 10000000
#define CONFIG_MEMORY_LIMIT (16u << 20) /* bytes the evaluation of a config file may hold */
#define HOOK_EVERY 10000

typedef struct owned_s {
    struct owned_s *next;
    void *ptr;
} owned_t;

typedef struct known_s {
    struct known_s *next;
    char *name;
} known_t;

struct qtd_config_s {
    lua_State *L;
    char *path;
    char *dir;
    int env_ref; /* the environment table the file assigned its sections into */
    char *errors[MAX_ERRORS];
    int nerrors;
    int dropped_errors;
    owned_t *owned;
    known_t *known;
    long instr;
    size_t mem; /* bytes the evaluation's state holds */
};

static void *own(qtd_config_t *cfg, void *p)
{
    if (p == NULL) {
        return NULL;
    }
    owned_t *o = qtd_malloc(sizeof(*o));
    if (o == NULL) {
        qtd_free(p);
        return NULL;
    }
    o->ptr = p;
    o->next = cfg->owned;
    cfg->owned = o;
    return p;
}

static void verror(qtd_config_t *cfg, const char *fmt, va_list ap)
{
    if (cfg->nerrors == MAX_ERRORS) {
        cfg->dropped_errors++;
        return;
    }
    char buf[1024];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    cfg->errors[cfg->nerrors] = qtd_strdup(buf);
    if (cfg->errors[cfg->nerrors] != NULL) {
        cfg->nerrors++;
    }
}

void qtd__config_error(qtd_config_t *cfg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(cfg, fmt, ap);
    va_end(ap);
}

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    qtd_config_t *cfg = *(qtd_config_t **)lua_getextraspace(L);
    cfg->instr += HOOK_EVERY;
    if (cfg->instr > CONFIG_INSTR_LIMIT) {
        luaL_error(L, "the config file runs too long (a loop?); it must only assign values");
    }
}

/* The evaluation's allocator: capped, so a config file cannot take the machine's memory. */
static void *config_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    qtd_config_t *cfg = ud;
    return qtd_alloc_capped(&cfg->mem, CONFIG_MEMORY_LIMIT, 0, ptr, osize, nsize);
}

int qtd__config_load(qtd_config_t **out, const char *path)
{
    qtd_config_t *cfg = qtd_calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        return QTD_ENOMEM;
    }
    cfg->env_ref = LUA_NOREF;
    cfg->path = qtd_strdup(path);
    char *tmp = qtd_strdup(path);
    if (cfg->path == NULL || tmp == NULL) {
        qtd_free(tmp);
        qtd__config_free(cfg);
        return QTD_ENOMEM;
    }
    cfg->dir = qtd_strdup(dirname(tmp));
    qtd_free(tmp);
    cfg->L = lua_newstate(config_alloc, cfg);
    if (cfg->dir == NULL || cfg->L == NULL) {
        qtd__config_free(cfg);
        return QTD_ENOMEM;
    }
    *out = cfg;
    lua_State *L = cfg->L;
    *(qtd_config_t **)lua_getextraspace(L) = cfg;
    /* Text chunks only: a precompiled file is not a config file. */
    if (luaL_loadfilex(L, path, "t") != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (msg != NULL && strstr(msg, "cannot open") != NULL) {
            qtd__config_error(cfg,
                              "%s: cannot read the config file (%s); give an existing "
                              "file with -c FILE",
                              path, strerror(errno));
        } else {
            qtd__config_error(cfg, "%s (fix the Lua syntax at that line)", msg ? msg : "?");
        }
        lua_pop(L, 1); /* message */
        return 0;
    }
    lua_newtable(L);                               /* chunk, env */
    lua_pushvalue(L, -1);                          /* chunk, env, env */
    cfg->env_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* chunk, env */
    if (lua_setupvalue(L, -2, 1) == NULL) {        /* chunk; _ENV = env */
        lua_pop(L, 1);
    }
    lua_sethook(L, hook, LUA_MASKCOUNT, HOOK_EVERY);
    int rc = lua_pcall(L, 0, 0, 0);
    if (rc == LUA_ERRMEM) { /* (nothing) or message */
        qtd__config_error(cfg,
                          "%s: the config file needs more than %u MiB to evaluate; it must "
                          "only assign tables and values",
                          path, CONFIG_MEMORY_LIMIT >> 20);
        lua_pop(L, 1); /* message */
    } else if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        qtd__config_error(cfg,
                          "%s (the config file must only assign tables and values; no "
                          "library function is available)",
                          msg ? msg : "error object");
        lua_pop(L, 1); /* message */
    }
    lua_sethook(L, NULL, 0, 0);
    return 0;
}

static const char *type_name(int t)
{
    switch (t) {
    case QTD_CFG_BOOL:
        return "a boolean (true or false)";
    case QTD_CFG_INT:
        return "an integer";
    case QTD_CFG_DOUBLE:
        return "a number";
    case QTD_CFG_STRING:
        return "a string";
    case QTD_CFG_ARRAY:
        return "a list of tables { {...}, {...} }";
    default:
        return "?";
    }
}

static bool in_choices(const char *choices, const char *val)
{
    size_t n = strlen(val);
    const char *p = choices;
    while (*p != '\0') {
        const char *bar = strchr(p, '|');
        size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, val, n) == 0) {
            return true;
        }
        p += len;
        if (*p == '|') {
            p++;
        }
    }
    return false;
}

/* "expected an integer in 1..65535" / "one of a|b" */
static void describe(const qtd_cfg_key_t *k, char *buf, size_t n)
{
    if (k->choices != NULL) {
        snprintf(buf, n, "one of %s", k->choices);
    } else if (k->type == QTD_CFG_INT && (k->min != 0 || k->max != 0)) {
        snprintf(buf, n, "an integer in %.0f..%.0f", k->min, k->max);
    } else if (k->type == QTD_CFG_DOUBLE && (k->min != 0 || k->max != 0)) {
        snprintf(buf, n, "a number in %g..%g", k->min, k->max);
    } else if (k->type == QTD_CFG_DOUBLE) {
        snprintf(buf, n, "a finite number");
    } else {
        snprintf(buf, n, "%s", type_name(k->type));
    }
}

static void value_text(lua_State *L, int idx, char *buf, size_t n)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        snprintf(buf, n, "\"%.60s\"", lua_tostring(L, idx));
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            snprintf(buf, n, "%lld", (long long)lua_tointeger(L, idx));
        } else {
            snprintf(buf, n, "%g", lua_tonumber(L, idx));
        }
        break;
    case LUA_TBOOLEAN:
        snprintf(buf, n, "%s", lua_toboolean(L, idx) ? "true" : "false");
        break;
    default:
        snprintf(buf, n, "a %s", lua_typename(L, lua_type(L, idx)));
        break;
    }
}

static int validate_table(qtd_config_t *cfg, int idx, const qtd_cfg_key_t *map, void *dst,
                          const char *path);

/* Store one scalar from text (defaults). Returns 0 or -1 if it does not parse. */
static int set_from_text(qtd_config_t *cfg, const qtd_cfg_key_t *k, const char *txt, void *field)
{
    char *end = NULL;
    switch (k->type) {
    case QTD_CFG_BOOL:
        if (strcmp(txt, "true") != 0 && strcmp(txt, "false") != 0) {
            return -1;
        }
        *(bool *)field = strcmp(txt, "true") == 0;
        return 0;
    case QTD_CFG_INT:
        errno = 0;
        *(int64_t *)field = strtoll(txt, &end, 0);
        return (errno != 0 || *end != '\0') ? -1 : 0;
    case QTD_CFG_DOUBLE:
        *(double *)field = strtod(txt, &end);
        return (*end != '\0' || !isfinite(*(double *)field)) ? -1 : 0;
    case QTD_CFG_STRING: {
        char *s = own(cfg, qtd_strdup(txt));
        *(const char **)field = s;
        return s == NULL ? -1 : 0;
    }
    default:
        return -1;
    }
}

/* Validate the value at stack top for key k into field. */
static void validate_value(qtd_config_t *cfg, const qtd_cfg_key_t *k, void *field, const char *path)
{
    lua_State *L = cfg->L;
    char want[160];
    char got[96];
    describe(k, want, sizeof(want));
    value_text(L, -1, got, sizeof(got));
    switch (k->type) {
    case QTD_CFG_BOOL:
        if (!lua_isboolean(L, -1)) {
            goto bad;
        }
        *(bool *)field = lua_toboolean(L, -1);
        return;
    case QTD_CFG_INT: {
        if (!lua_isinteger(L, -1)) {
            lua_Number d = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : NAN;
            if (!(d == floor(d) && fabs(d) < 9.0e15)) {
                goto bad;
            }
        }
        int64_t v =
            lua_isinteger(L, -1) ? (int64_t)lua_tointeger(L, -1) : (int64_t)lua_tonumber(L, -1);
        if ((k->min != 0 || k->max != 0) && ((double)v < k->min || (double)v > k->max)) {
            goto bad;
        }
        if (k->choices != NULL) {
            char num[32];
            snprintf(num, sizeof(num), "%lld", (long long)v);
            if (!in_choices(k->choices, num)) {
                goto bad;
            }
        }
        *(int64_t *)field = v;
        return;
    }
    case QTD_CFG_DOUBLE: {
        if (lua_type(L, -1) != LUA_TNUMBER) {
            goto bad;
        }
        double v = lua_tonumber(L, -1);
        /* NaN and infinity are refused with or without a range */
        if (!isfinite(v) || ((k->min != 0 || k->max != 0) && !(v >= k->min && v <= k->max))) {
            goto bad;
        }
        *(double *)field = v;
        return;
    }
    case QTD_CFG_STRING: {
        if (lua_type(L, -1) != LUA_TSTRING) {
            goto bad;
        }
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        if (strlen(s) != len || (k->choices != NULL && !in_choices(k->choices, s))) {
            goto bad;
        }
        *(const char **)field = own(cfg, qtd_strdup(s));
        return;
    }
    case QTD_CFG_ARRAY: {
        if (!lua_istable(L, -1)) {
            goto bad;
        }
        lua_Integer n = luaL_len(L, -1);
        qtd_cfg_array_t *arr = field;
        arr->count = 0;
        arr->items = NULL;
        if (n <= 0) {
            return;
        }
        arr->items = own(cfg, qtd_calloc((size_t)n, k->item_size));
        if (arr->items == NULL) {
            qtd__config_error(cfg, "%s: out of memory", path);
            return;
        }
        arr->count = (size_t)n;
        for (lua_Integer i = 1; i <= n; i++) {
            char sub[256];
            snprintf(sub, sizeof(sub), "%s[%lld]", path, (long long)i);
            lua_geti(L, -1, i); /* ..., array, item */
            if (!lua_istable(L, -1)) {
                value_text(L, -1, got, sizeof(got));
                qtd__config_error(cfg, "%s: expected a table { key = value, ... }, got %s", sub,
                                  got);
            } else {
                validate_table(cfg, lua_gettop(L), k->sub,
                               (char *)arr->items + (size_t)(i - 1) * k->item_size, sub);
            }
            lua_pop(L, 1); /* item */
        }
        return;
    }
    default:
        return;
    }
bad:
    qtd__config_error(cfg, "%s: expected %s, got %s", path, want, got);
}

static bool is_known_key(const qtd_cfg_key_t *map, const char *name)
{
    for (const qtd_cfg_key_t *k = map; k->type != QTD_CFG_END; k++) {
        if (strcmp(k->name, name) == 0) {
            return true;
        }
    }
    return false;
}

static void known_list(const qtd_cfg_key_t *map, char *buf, size_t n)
{
    buf[0] = '\0';
    size_t used = 0;
    for (const qtd_cfg_key_t *k = map; k->type != QTD_CFG_END && used < n; k++) {
        used += (size_t)snprintf(buf + used, n - used, "%s%s", k == map ? "" : ", ", k->name);
    }
}

static int validate_table(qtd_config_t *cfg, int idx, const qtd_cfg_key_t *map, void *dst,
                          const char *path)
{
    lua_State *L = cfg->L;
    char full[256];
    /* Unknown keys first, so a misspelling is reported as such, not as a missing key. */
    lua_pushnil(L);                 /* ..., nil */
    while (lua_next(L, idx) != 0) { /* ..., key, value */
        if (lua_type(L, -2) != LUA_TSTRING) {
            qtd__config_error(cfg, "%s: unexpected list entry; use name = value pairs",
                              path[0] ? path : "(top level)");
        } else if (!is_known_key(map, lua_tostring(L, -2))) {
            char known[768];
            known_list(map, known, sizeof(known));
            qtd__config_error(cfg, "%s%s%s: unknown key (known keys: %s)", path, path[0] ? "." : "",
                              lua_tostring(L, -2), known[0] ? known : "none");
        }
        lua_pop(L, 1); /* ..., key */
    }
    for (const qtd_cfg_key_t *k = map; k->type != QTD_CFG_END; k++) {
        void *field = (char *)dst + k->offset;
        snprintf(full, sizeof(full), "%s%s%s", path, path[0] ? "." : "", k->name);
        lua_getfield(L, idx, k->name); /* ..., value */
        if (lua_isnil(L, -1)) {
            if (k->type == QTD_CFG_ARRAY) {
                memset(field, 0, sizeof(qtd_cfg_array_t));
            } else if (k->def == NULL) {
                char want[160];
                describe(k, want, sizeof(want));
                qtd__config_error(cfg, "%s: missing; expected %s (%s)", full, want,
                                  k->help ? k->help : "");
            } else if (set_from_text(cfg, k, k->def, field) < 0) {
                qtd__config_error(cfg, "%s: the built-in default \"%s\" does not parse", full,
                                  k->def);
            }
        } else {
            validate_value(cfg, k, field, full);
        }
        lua_pop(L, 1); /* ... */
    }
    return 0;
}

static void mark_known(qtd_config_t *cfg, const char *name)
{
    known_t *k = qtd_calloc(1, sizeof(*k));
    if (k == NULL) {
        return;
    }
    k->name = qtd_strdup(name);
    if (k->name == NULL) {
        qtd_free(k);
        return;
    }
    k->next = cfg->known;
    cfg->known = k;
}

void qtd__config_ignore(qtd_config_t *cfg, const char *name)
{
    mark_known(cfg, name);
}

void qtd__config_section(qtd_config_t *cfg, const char *name, const qtd_cfg_key_t *map, void *dst)
{
    lua_State *L = cfg->L;
    mark_known(cfg, name);
    if (cfg->env_ref == LUA_NOREF) {
        qtd__config_defaults(cfg, map, dst);
        return;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, cfg->env_ref); /* env */
    lua_getfield(L, -1, name);                       /* env, section */
    if (lua_isnil(L, -1)) {
        lua_newtable(L); /* env, nil, {} : validate an empty table = defaults */
        lua_remove(L, -2);
    }
    if (!lua_istable(L, -1)) {
        char got[96];
        value_text(L, -1, got, sizeof(got));
        qtd__config_error(cfg, "%s: expected a table { key = value, ... }, got %s", name, got);
    } else {
        validate_table(cfg, lua_gettop(L), map, dst, name);
    }
    lua_pop(L, 2); /* (empty) */
}

void qtd__config_value(qtd_config_t *cfg, const char *name, const qtd_cfg_key_t *k, void *field)
{
    const qtd_cfg_key_t map[] = {*k, {.type = QTD_CFG_END}};
    mark_known(cfg, name);
    if (cfg->env_ref == LUA_NOREF) {
        qtd__config_defaults(cfg, map, (char *)field - k->offset);
        return;
    }
    lua_State *L = cfg->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, cfg->env_ref); /* env */
    lua_getfield(L, -1, name);                       /* env, value */
    if (lua_isnil(L, -1)) {
        qtd__config_defaults(cfg, map, (char *)field - k->offset);
    } else {
        validate_value(cfg, k, field, name);
    }
    lua_pop(L, 2); /* (empty) */
}

int qtd__config_defaults(qtd_config_t *cfg, const qtd_cfg_key_t *map, void *dst)
{
    int rc = 0;
    for (const qtd_cfg_key_t *k = map; k->type != QTD_CFG_END; k++) {
        void *field = (char *)dst + k->offset;
        if (k->type == QTD_CFG_ARRAY) {
            memset(field, 0, sizeof(qtd_cfg_array_t));
        } else if (k->def != NULL && set_from_text(cfg, k, k->def, field) < 0) {
            rc = QTD_ECONFIG;
        }
    }
    return rc;
}

void qtd__config_check_unknown(qtd_config_t *cfg)
{
    if (cfg->env_ref == LUA_NOREF) {
        return;
    }
    lua_State *L = cfg->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, cfg->env_ref); /* env */
    lua_pushnil(L);                                  /* env, nil */
    while (lua_next(L, -2) != 0) {                   /* env, key, value */
        bool known = false;
        if (lua_type(L, -2) == LUA_TSTRING) {
            for (known_t *k = cfg->known; k != NULL; k = k->next) {
                if (strcmp(k->name, lua_tostring(L, -2)) == 0) {
                    known = true;
                }
            }
        }
        if (!known) {
            char names[512] = "";
            size_t used = 0;
            for (known_t *k = cfg->known; k != NULL && used < sizeof(names); k = k->next) {
                used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
                                         used ? ", " : "", k->name);
            }
            qtd__config_error(cfg,
                              "%s: unknown section (known sections: %s; a plugin's "
                              "section is named after the plugin and needs it in plugins)",
                              lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?", names);
        }
        lua_pop(L, 1); /* env, key */
    }
    lua_pop(L, 1); /* (empty) */
}

int qtd__config_error_count(const qtd_config_t *cfg)
{
    return cfg->nerrors + cfg->dropped_errors;
}

void qtd__config_print_errors(const qtd_config_t *cfg, FILE *fp)
{
    for (int i = 0; i < cfg->nerrors; i++) {
        if (strncmp(cfg->errors[i], cfg->path, strlen(cfg->path)) == 0) {
            fprintf(fp, "qthingd: %s\n", cfg->errors[i]);
        } else {
            fprintf(fp, "qthingd: %s: %s\n", cfg->path, cfg->errors[i]);
        }
    }
    if (cfg->dropped_errors > 0) {
        fprintf(fp, "qthingd: %s: %d more errors not shown\n", cfg->path, cfg->dropped_errors);
    }
}

const char *qtd__config_path(const qtd_config_t *cfg)
{
    return cfg->path;
}

const char *qtd__config_dir(const qtd_config_t *cfg)
{
    return cfg->dir;
}

const char *qtd__config_resolve(qtd_config_t *cfg, const char *path)
{
    if (path == NULL || path[0] == '/' || path[0] == '\0') {
        return path;
    }
    size_t n = strlen(cfg->dir) + strlen(path) + 2;
    char *p = own(cfg, qtd_malloc(n));
    if (p != NULL) {
        snprintf(p, n, "%s/%s", cfg->dir, path);
    }
    return p;
}

void qtd__config_free(qtd_config_t *cfg)
{
    if (cfg == NULL) {
        return;
    }
    if (cfg->L != NULL) {
        lua_close(cfg->L);
    }
    for (int i = 0; i < cfg->nerrors; i++) {
        qtd_free(cfg->errors[i]);
    }
    while (cfg->owned != NULL) {
        owned_t *o = cfg->owned;
        cfg->owned = o->next;
        qtd_free(o->ptr);
        qtd_free(o);
    }
    while (cfg->known != NULL) {
        known_t *k = cfg->known;
        cfg->known = k->next;
        qtd_free(k->name);
        qtd_free(k);
    }
    qtd_free(cfg->path);
    qtd_free(cfg->dir);
    qtd_free(cfg);
}

/* A key's default for the references: "empty" (an array), "required", or the value (a
 * string quoted) between before and after, with lead before "empty". */
static void default_text(const qtd_cfg_key_t *k, const char *lead, const char *before,
                         const char *after, char *out, size_t n)
{
    if (k->type == QTD_CFG_ARRAY) {
        snprintf(out, n, "%sempty", lead);
    } else if (k->def == NULL) {
        snprintf(out, n, "required");
    } else {
        const char *q = k->type == QTD_CFG_STRING ? "\"" : "";
        snprintf(out, n, "%s%s%s%s%s", before, q, k->def, q, after);
    }
}

static void print_keys(FILE *fp, const char *prefix, const qtd_cfg_key_t *map)
{
    for (const qtd_cfg_key_t *k = map; k->type != QTD_CFG_END; k++) {
        char want[160];
        describe(k, want, sizeof(want));
        char def[128];
        default_text(k, "default ", "default ", "", def, sizeof(def));
        fprintf(fp, "  %s.%s\n      %s; %s\n      %s\n", prefix, k->name, want, def,
                k->help ? k->help : "");
        if (k->type == QTD_CFG_ARRAY && k->sub != NULL) {
            char sub[128];
            snprintf(sub, sizeof(sub), "%s.%s[i]", prefix, k->name);
            print_keys(fp, sub, k->sub);
        }
    }
}

void qtd__config_print_keys(FILE *fp, const char *section, const qtd_cfg_key_t *map)
{
    print_keys(fp, section, map);
}

/* One Markdown table row per key (a '|' in a text is escaped). */
static void md_cell(FILE *fp, const char *s)
{
    fputs("| ", fp);
    for (; s != NULL && *s != '\0'; s++) {
        if (*s == '|') {
            fputs("\\|", fp);
        } else {
            fputc(*s, fp);
        }
    }
    fputc(' ', fp);
}

static void print_keys_md(FILE *fp, const char *prefix, const qtd_cfg_key_t *map)
{
    for (const qtd_cfg_key_t *k = map; k->type != QTD_CFG_END; k++) {
        char key[160], want[160], def[160];
        snprintf(key, sizeof(key), "`%s.%s`", prefix, k->name);
        describe(k, want, sizeof(want));
        default_text(k, "", "`", "`", def, sizeof(def));
        md_cell(fp, key);
        md_cell(fp, want);
        md_cell(fp, def);
        md_cell(fp, k->help);
        fputs("|\n", fp);
        if (k->type == QTD_CFG_ARRAY && k->sub != NULL) {
            char sub[128];
            snprintf(sub, sizeof(sub), "%s.%s[i]", prefix, k->name);
            print_keys_md(fp, sub, k->sub);
        }
    }
}

void qtd__config_print_keys_md(FILE *fp, const char *section, const qtd_cfg_key_t *map)
{
    fputs("| key | type | default | meaning |\n|---|---|---|---|\n", fp);
    print_keys_md(fp, section, map);
}
