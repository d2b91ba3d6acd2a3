/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sandbox of the Lua host: builds a lua_State whose allocator counts bytes against the
 * memory cap, opens only base, string, table, math, utf8 and coroutine, narrows `os` to
 * time/clock/date/difftime, removes dofile/loadfile/string.dump, restricts load() to text
 * chunks, routes print() and warn() to the log and provides a require() confined to the
 * library directory and the script's directory. It also owns the one path by which C calls
 * into Lua (qtd__lua_pcall): a traceback handler, the instruction-count hook that stops
 * runaway code, and logging of every error. What the hook cannot stop (finalizers, the
 * pattern matcher) is guarded in guard.c. It does not know the modules plugins add,
 * timers or the bus (luahost.c).
 */
#include "lua/lua_internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "agent/alloc.h"
#include "agent/log.h"
#include "qthingd/errors.h"

#define HOOK_STEP 1000      /* instructions between two calls of the count hook */
#define MODULE_NAME_MAX 128 /* longest name require() accepts */

qtd_lua_t *qtd__lua_host(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

/*
 * The allocator: every byte of the state is counted in lh->mem_used; growing beyond
 * mem_limit fails, which Lua turns into a full collection and then a "not enough memory"
 * error. Shrinking and freeing never fail.
 */
static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    qtd_lua_t *lh = ud;
    return qtd_alloc_capped(&lh->mem_used, lh->mem_limit, lh->c_bytes, ptr, osize, nsize);
}

static int l_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    qtd_log_error(QTD_LUA_WHO, "PANIC: unprotected error: %s", msg ? msg : "?");
    return 0; /* Lua aborts */
}

/* warn(): pieces are gathered until the last one, then logged as one warning. Control
 * messages ("@on", "@off") are ignored: warnings are always on. */
static void l_warnf(void *ud, const char *msg, int tocont)
{
    qtd_lua_t *lh = ud;
    if (lh->warn_len == 0 && !tocont && msg[0] == '@') {
        return;
    }
    size_t room = sizeof(lh->warn_buf) - 1 - lh->warn_len;
    size_t n = strlen(msg);
    if (n > room) {
        n = room;
    }
    memcpy(lh->warn_buf + lh->warn_len, msg, n);
    lh->warn_len += n;
    lh->warn_buf[lh->warn_len] = '\0';
    if (!tocont) {
        qtd_log_warn(QTD_LUA_WHO, "warning: %s", lh->warn_buf);
        lh->warn_len = 0;
    }
}

static int hook_step(const qtd_lua_t *lh)
{
    return lh->instr_limit < HOOK_STEP ? (int)lh->instr_limit : HOOK_STEP;
}

/*
 * The count hook. Adds the instructions run since its last call; above the limit it
 * raises, and from then on runs after every instruction of that thread so that a script
 * catching the error with pcall() is stopped again at its very next instruction.
 */
static void instr_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    qtd_lua_t *lh = qtd__lua_host(L);
    int step = lua_gethookcount(L);
    lh->instr_count += (uint64_t)step;
    if (lh->instr_count <= lh->instr_limit) {
        lua_Debug where;
        if (lua_getstack(L, 0, &where) && lua_getinfo(L, "Sl", &where) && where.currentline > 0) {
            uv_mutex_lock(&lh->running_lock);
            snprintf(lh->running_at, sizeof(lh->running_at), "%s:%d", where.short_src,
                     where.currentline);
            uv_mutex_unlock(&lh->running_lock);
        }
        if (step != hook_step(lh)) {
            lua_sethook(L, instr_hook, LUA_MASKCOUNT, hook_step(lh));
        }
        return;
    }
    if (step != 1) {
        lua_sethook(L, instr_hook, LUA_MASKCOUNT, 1);
    }
    /* Position of the running Lua function (level 0 inside a hook), not of its caller. */
    lua_Debug d;
    if (lua_getstack(L, 0, &d) && lua_getinfo(L, "Sl", &d) && d.currentline > 0) {
        lua_pushfstring(L, "%s:%d: ", d.short_src, d.currentline); /* [... where] */
    } else {
        lua_pushliteral(L, ""); /* [... ""] */
    }
    lua_pushfstring(L, "instruction limit of %I exceeded (runaway loop?)",
                    (lua_Integer)lh->instr_limit); /* [... where msg] */
    lua_concat(L, 2);                              /* [... where..msg] */
    lua_error(L);
}

/* Message handler of qtd__lua_pcall: error object -> "message\nstack traceback:...". */
static int l_msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
            return 1; /* [err str] */
        }
        /* [err text] */
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1); /* [err ... traceback] */
    return 1;
}

int qtd__lua_pcall(qtd_lua_t *lh, int nargs, int nresults)
{
    lua_State *L = lh->L;
    int base = lua_gettop(L) - nargs; /* index of f */
    lua_pushcfunction(L, l_msgh);     /* [... f args msgh] */
    lua_insert(L, base);              /* [... msgh f args] */
    if (lh->depth == 0) {
        lh->instr_count = 0;
        if (lh->instr_limit > 0) {
            lua_sethook(L, instr_hook, LUA_MASKCOUNT, hook_step(lh));
        }
    }
    lh->depth++;
    int rc = lua_pcall(L, nargs, nresults, base); /* [... msgh results] or [... msgh err] */
    lh->depth--;
    if (lh->depth == 0) {
        qtd__lua_set_running(lh, NULL);
    }
    if (rc == LUA_OK) {
        lua_remove(L, base); /* [... results] */
        return 0;
    }
    lh->errors++;
    const char *msg = lua_tostring(L, -1);
    if (rc == LUA_ERRMEM) {
        qtd_log_error(QTD_LUA_WHO, "%s (memory limit of %zu bytes)", msg ? msg : "?",
                      lh->mem_limit);
    } else {
        qtd_log_error(QTD_LUA_WHO, "%s", msg ? msg : "(error object is not a string)");
    }
    lua_pop(L, 2); /* [...] */
    if (rc == LUA_ERRMEM) {
        lua_gc(L, LUA_GCCOLLECT); /* give the garbage of the failed call back now */
    }
    return QTD_ELUA;
}

void qtd__lua_set_running(qtd_lua_t *lh, const char *entry)
{
    uv_mutex_lock(&lh->running_lock);
    lh->running = entry;
    lh->running_at[0] = '\0';
    uv_mutex_unlock(&lh->running_lock);
}

void qtd__lua_running(qtd_lua_t *lh, char *buf, size_t n)
{
    uv_mutex_lock(&lh->running_lock);
    if (lh->running == NULL) {
        snprintf(buf, n, "%s", "");
    } else if (lh->running_at[0] != '\0') {
        snprintf(buf, n, "%s (last seen at %s)", lh->running, lh->running_at);
    } else {
        snprintf(buf, n, "%s", lh->running);
    }
    uv_mutex_unlock(&lh->running_lock);
}

void qtd__lua_log_args(lua_State *L, int level)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b); /* [args buf?] */
    for (int i = 1; i <= n; i++) {
        if (i > 1) {
            luaL_addchar(&b, '\t');
        }
        luaL_tolstring(L, i, NULL); /* [args buf? str] */
        luaL_addvalue(&b);          /* [args buf?] */
    }
    luaL_pushresult(&b); /* [args line] */
    qtd__log(level, QTD_LUA_WHO, "%s", lua_tostring(L, -1));
    lua_pop(L, 1); /* [args] */
}

/* print(...) -> nothing; logged at info level, "lua" prefix. */
static int l_print(lua_State *L)
{
    qtd__lua_log_args(L, QTD_LOG_INFO);
    return 0;
}

/* load(chunk [, chunkname [, mode [, env]]]) -> function | nil, err. Text chunks only:
 * mode is forced to "t" whatever the caller passes. Upvalue 1: the original load. */
static int l_load(lua_State *L)
{
    bool has_env = lua_gettop(L) >= 4;     /* an absent env differs from a nil one */
    lua_settop(L, 4);                      /* [chunk name mode env] */
    lua_pushvalue(L, lua_upvalueindex(1)); /* [chunk name mode env load] */
    lua_pushvalue(L, 1);                   /* [chunk name mode env load chunk] */
    lua_pushvalue(L, 2);                   /* [chunk name mode env load chunk name] */
    lua_pushliteral(L, "t");               /* [chunk name mode env load chunk name "t"] */
    if (has_env) {
        lua_pushvalue(L, 4); /* [chunk name mode env load chunk name "t" env] */
    }
    lua_call(L, has_env ? 4 : 3, LUA_MULTRET); /* [chunk name mode env results] */
    return lua_gettop(L) - 4;
}

/* Checks a module name ([A-Za-z0-9_] segments separated by single dots) and pushes its
 * relative file name ("a.b" -> "a/b.lua"). Returns 0 when the name is refused. */
static int push_module_file(lua_State *L, const char *name, size_t len)
{
    if (len == 0 || len > MODULE_NAME_MAX || name[0] == '.' || name[len - 1] == '.') {
        return 0;
    }
    char file[MODULE_NAME_MAX + 5];
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '.') {
            if (name[i + 1] == '.') {
                return 0;
            }
            file[i] = '/';
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_') {
            file[i] = c;
        } else {
            return 0;
        }
    }
    memcpy(file + len, ".lua", 5);
    lua_pushstring(L, file); /* [... file] */
    return 1;
}

/* require(name) -> module, path. Loads <lib_path>/<name>.lua or <script dir>/<name>.lua
 * (dots in name become slashes) as a text chunk, once; results are kept in the registry's
 * _LOADED table, which also holds the standard libraries and the modules of plugins. */
static int l_require(lua_State *L)
{
    qtd_lua_t *lh = qtd__lua_host(L);
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);                                         /* [name] */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* [name LOADED] */
    if (lua_getfield(L, 2, name) != LUA_TNIL) {               /* [name LOADED mod] */
        return 1;
    }
    lua_pop(L, 1); /* [name LOADED] */
    if (!push_module_file(L, name, len)) {
        return luaL_error(L, "module name '%s' refused: [A-Za-z0-9_] parts separated by '.'", name);
    }
    /* [name LOADED file] */
    const char *dirs[2] = {lh->lib_path, lh->script_dir};
    int tried = 0; /* "no file" messages pushed */
    const char *path = NULL;
    for (int i = 0; i < 2 && path == NULL; i++) {
        if (dirs[i] == NULL) {
            continue;
        }
        /* [name LOADED file msgs path] */
        const char *p = lua_pushfstring(L, "%s/%s", dirs[i], lua_tostring(L, 3));
        if (access(p, R_OK) == 0) {
            path = p;
            break;
        }
        lua_pushfstring(L, "\n\tno file '%s'", p); /* [name LOADED file msgs path msg] */
        lua_remove(L, -2);                         /* [name LOADED file msgs msg] */
        tried++;
    }
    if (path == NULL) {
        lua_concat(L, tried); /* [name LOADED file msgs] */
        return luaL_error(L, "module '%s' not found:%s", name, lua_tostring(L, -1));
    }
    lua_replace(L, 3); /* [name LOADED path msgs] */
    lua_settop(L, 3);  /* [name LOADED path] */
    path = lua_tostring(L, 3);
    if (luaL_loadfilex(L, path, "t") != LUA_OK) { /* [name LOADED path chunk|err] */
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, path,
                          lua_tostring(L, -1));
    }
    lua_pushvalue(L, 1); /* [name LOADED path chunk name] */
    lua_pushvalue(L, 3); /* [name LOADED path chunk name path] */
    lua_call(L, 2, 1);   /* [name LOADED path result] */
    if (!lua_isnil(L, -1)) {
        lua_setfield(L, 2, name); /* LOADED[name] = result; [name LOADED path] */
    } else {
        lua_pop(L, 1); /* [name LOADED path] */
    }
    if (lua_getfield(L, 2, name) == LUA_TNIL) { /* [name LOADED path mod] */
        lua_pop(L, 1);                          /* [name LOADED path] */
        lua_pushboolean(L, 1);                  /* [name LOADED path true] */
        lua_pushvalue(L, -1);                   /* [name LOADED path true true] */
        lua_setfield(L, 2, name);               /* [name LOADED path true] */
    }
    lua_insert(L, 3); /* [name LOADED mod path] */
    return 2;
}

/* Builds the sandbox in a fresh state; run protected by qtd__lua_sandbox_open. */
static int open_sandbox(lua_State *L)
{
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
                                    {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_TABLIBNAME, luaopen_table},
                                    {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8},
                                    {LUA_COLIBNAME, luaopen_coroutine},
                                    {NULL, NULL}};
    for (const luaL_Reg *lib = libs; lib->func != NULL; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1); /* [lib]; also global and _LOADED */
        lua_pop(L, 1);                             /* [] */
    }

    lua_pushglobaltable(L);          /* [G] */
    lua_pushnil(L);                  /* [G nil] */
    lua_setfield(L, 1, "dofile");    /* G.dofile = nil; [G] */
    lua_pushnil(L);                  /* [G nil] */
    lua_setfield(L, 1, "loadfile");  /* G.loadfile = nil; [G] */
    lua_pushcfunction(L, l_print);   /* [G l_print] */
    lua_setfield(L, 1, "print");     /* [G] */
    lua_pushcfunction(L, l_require); /* [G l_require] */
    lua_setfield(L, 1, "require");   /* [G] */
    lua_getfield(L, 1, "load");      /* [G load] */
    lua_pushcclosure(L, l_load, 1);  /* [G l_load] */
    lua_setfield(L, 1, "load");      /* [G] */

    lua_getfield(L, 1, LUA_STRLIBNAME); /* [G string] */
    lua_pushnil(L);                     /* [G string nil] */
    lua_setfield(L, -2, "dump");        /* string.dump = nil: no bytecode to load; [G string] */
    lua_pop(L, 1);                      /* [G] */
    qtd__lua_guard_open(L);             /* [G]: no __gc, no exponential patterns (guard.c) */

    /* os: only the clock and calendar functions. */
    lua_pushcfunction(L, luaopen_os); /* [G luaopen_os] */
    lua_call(L, 0, 1);                /* [G fullos] */
    lua_createtable(L, 0, 4);         /* [G fullos os] */
    static const char *const os_keep[] = {"time", "clock", "date", "difftime", NULL};
    for (int i = 0; os_keep[i] != NULL; i++) {
        lua_getfield(L, 2, os_keep[i]); /* [G fullos os fn] */
        lua_setfield(L, 3, os_keep[i]); /* [G fullos os] */
    }
    lua_pushvalue(L, 3);                                      /* [G fullos os os] */
    lua_setfield(L, 1, LUA_OSLIBNAME);                        /* [G fullos os] */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* [G fullos os LOADED] */
    lua_pushvalue(L, 3);                                      /* [G fullos os LOADED os] */
    lua_setfield(L, 4, LUA_OSLIBNAME);                        /* [G fullos os LOADED] */
    lua_settop(L, 0);                                         /* [] */

    luaL_getsubtable(L, LUA_REGISTRYINDEX, QTD_LUA_CALLBACKS); /* [cbs] */
    lua_pop(L, 1);                                             /* [] */
    return 0;
}

int qtd__lua_sandbox_open(qtd_lua_t *lh)
{
    lh->mem_used = 0;
    lh->warn_len = 0;
    lua_State *L = lua_newstate(l_alloc, lh);
    if (L == NULL) {
        qtd_log_error(QTD_LUA_WHO, "cannot create a Lua state within %zu bytes", lh->mem_limit);
        return QTD_ENOMEM;
    }
    lua_atpanic(L, l_panic);
    lua_setwarnf(L, l_warnf, lh);
    lua_pushcfunction(L, open_sandbox);    /* [open_sandbox] */
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) { /* [] or [err] */
        qtd_log_error(QTD_LUA_WHO, "cannot open the Lua libraries: %s",
                      lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        lua_close(L);
        return QTD_ENOMEM;
    }
    lh->L = L;
    return 0;
}
