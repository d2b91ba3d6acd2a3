/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to lua/: the layout of the Lua host and the helpers its four files share
 * (sandbox.c builds the state and owns the protected-call path, luahost.c the lifecycle,
 * bus delivery, timers and plugin registrations, convert.c value trees). Nothing outside lua/
 * includes this header, tests excepted.
 */
#ifndef QTD_LUA_LUA_INTERNAL_H
#define QTD_LUA_LUA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>
#include <uv.h>

#include "lua/luahost.h"

/* Who the log lines of the Lua host are attributed to. */
#define QTD_LUA_WHO "lua"

/* Registry key of the table domain -> script callback (set by plugins). */
#define QTD_LUA_CALLBACKS "qtd.callbacks"

typedef struct qtd_lua_reg_s qtd_lua_reg_t;
typedef struct qtd_lua_timer_s qtd_lua_timer_t;

/* One qtd__lua_register() call, replayed on every new state. */
struct qtd_lua_reg_s {
    char *module;
    char *name;
    qtd_lua_cfn fn;
    void *ud;
    const void *owner; /* who registered it (a plugin's host handle), or NULL */
    qtd_lua_reg_t *next;
};

/* A timer of agent.timer(). The C struct owns the uv handle and is freed in the handle's
 * close callback, never before; the Lua userdata is a box pointing here. */
struct qtd_lua_timer_s {
    uv_timer_t handle;
    qtd_lua_t *lh;
    qtd_lua_timer_t **box; /* the userdata's pointer, NULL once detached from Lua */
    int self_ref;          /* registry ref keeping the userdata alive while started */
    bool periodic;
    qtd_lua_timer_t *prev; /* lh->timers: the live timers of the current state */
    qtd_lua_timer_t *next;
};

struct qtd_lua_s {
    uv_loop_t *loop;
    qtd_store_t *st;
    qtd_bus_t *bus;

    /* Copies of the options. */
    char *script;
    char *script_dir; /* directory of script, searched by require after lib_path */
    char *lib_path;
    size_t mem_limit;
    uint64_t instr_limit;

    lua_State *L;         /* NULL between states */
    size_t mem_used;      /* bytes the current state holds (its allocator's count) */
    size_t c_bytes;       /* C memory scripts hold outside the state (timers): counted
                             against mem_limit too */
    uint64_t instr_count; /* VM instructions since the outermost entry from C */
    /* What runs, for the watchdog's thread (under running_lock): the entry (a static
     * string: "a timer callback", ...) and the last line the count hook saw. */
    uv_mutex_t running_lock;
    const char *running;
    char running_at[160];
    int depth;       /* nesting of qtd__lua_pcall */
    uint64_t errors; /* calls into the script that raised, since the host was created */

    qtd_lua_reg_t *regs; /* registrations in call order */
    qtd_lua_reg_t **regs_tail;
    qtd_lua_timer_t *timers; /* live timers of L (closed when L goes) */
    unsigned pending_closes; /* uv_close calls whose callback has not run yet */
    bool closing;            /* qtd__lua_close called: free when pending_closes hits 0 */
    bool state_closing;      /* inside lua_close: finalizers may not create timers */
    bool subscribed;
    int domains[16]; /* event domains subscribed on the bus for script callbacks */
    size_t n_domains;

    /* Pieces of a multi-part warn() message. */
    char warn_buf[512];
    size_t warn_len;
};

/* The host owning L (the allocator's userdata; valid for coroutines too). */
qtd_lua_t *qtd__lua_host(lua_State *L);

/* sandbox.c: a new state with the sandboxed standard libraries, print, require, os
 * subset, allocator cap and instruction hook; stored in lh->L.
 * Returns: 0, QTD_ENOMEM (the state or its libraries do not fit in mem_limit). */
int qtd__lua_sandbox_open(qtd_lua_t *lh);

/* guard.c: wrap setmetatable (no __gc) and string.find/match/gmatch/gsub (no pattern whose
 * backtracking could run for minutes) in the globals of L. May raise (memory). */
void qtd__lua_guard_open(lua_State *L);

/* The one way C calls into Lua. The stack holds [... f arg1..argn]; f is called protected
 * with a traceback handler, the instruction count restarts when no other call into Lua is
 * active. On success nresults values replace f and its args; on error nothing is left,
 * the message and traceback are logged at error level and QTD_ELUA is returned. */
int qtd__lua_pcall(qtd_lua_t *lh, int nargs, int nresults);

/* Record what the next call into Lua is (a static string), for the watchdog; NULL: none.
 * qtd__lua_pcall clears it when the outermost call returns. */
void qtd__lua_set_running(qtd_lua_t *lh, const char *entry);

/* Log the arguments of the running Lua function at `level`, joined like print() does
 * (tostring each, tab-separated). May raise (memory). */
void qtd__lua_log_args(lua_State *L, int level);

/* The callback of an event domain (QTD_DOM_*) in the registry table QTD_LUA_CALLBACKS.
 * set: the value at idx (a function, or nil to clear). push: the callback or nil.
 * Both may raise (memory); call them from Lua-called C functions. */
void qtd__lua_set_callback(lua_State *L, int domain, int idx);
void qtd__lua_push_callback(lua_State *L, int domain);

/* Module openers (leave the module table on the stack). */
int luaopen_qtd_agent(lua_State *L);

#endif /* QTD_LUA_LUA_INTERNAL_H */
