/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Lua host: one sandboxed lua_State on the loop thread running the operator's script,
 * with `agent.timer` and `agent.log`. Every call into Lua goes through pcall with a
 * traceback; errors are logged with file:line and never stop the agent. An instruction-count
 * hook stops runaway code and an allocator cap bounds memory. Plugins add modules through
 * qtd__lua_register (re-applied on every reload) and make script functions the callbacks of
 * their event domains. It knows no platform: the platform's module comes from a plugin.
 */
#ifndef QTD_LUA_LUAHOST_H
#define QTD_LUA_LUAHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "agent/bus.h"
#include "qthingd/plugin.h"
#include "store/store.h"

struct lua_State;
typedef struct qtd_lua_s qtd_lua_t;

typedef struct qtd_lua_opts_s {
    const char *script;   /* path of the operator's script; NULL = none */
    const char *lib_path; /* directory searched by require("name") -> name.lua; may be NULL */
    size_t mem_limit;     /* bytes the state may allocate; 0 = no cap */
    uint64_t instr_limit; /* VM instructions per call into Lua; 0 = no limit */
} qtd_lua_opts_t;

/* Strings in opts are copied; empty strings count as NULL. bus may be NULL (no events).
 * Returns: 0, QTD_ENOMEM. */
int qtd__lua_create(qtd_lua_t **out, uv_loop_t *loop, qtd_store_t *st, qtd_bus_t *bus,
                    const qtd_lua_opts_t *opts);
/* Create the state and run the script. A script that fails to load or errors is logged and
 * QTD_ELUA returned; the host stays usable (callbacks registered before the error stay).
 * Returns: 0, QTD_ELUA, QTD_ENOMEM (no state fits in mem_limit), QTD_EBUSY (started). */
int qtd__lua_start(qtd_lua_t *lh);
/* SIGHUP: close the state (its timers too), start a new one, run the script again. The bus
 * subscriptions and plugin registrations are kept. Returns as
 * qtd__lua_start, and QTD_EBUSY when called from inside a call into Lua. */
int qtd__lua_reload(qtd_lua_t *lh);
/* Run a chunk of Lua text in the script's state (its globals: quecIot, modbus, ...) on the
 * protected path (the script's memory and instruction caps); what it returns, as text
 * separated by tabs, or its error into out; *failed says which. For the control socket.
 * Returns: 0, QTD_EBUSY (no state, or the loop is inside the script). */
int qtd__lua_eval(qtd_lua_t *lh, const char *code, size_t len, char *out, size_t n, bool *failed);
/* Replace the script with the file at staged (lua/replace.c): it must compile; the running
 * one is kept as <script>.previous, the new one renamed into place and run. When its first
 * run fails, the previous one is put back and run again. err (may be NULL) says why it
 * failed. Returns: 0, QTD_ENOENT (no script configured), QTD_ELUA (does not compile, or
 * failed its first run and was rolled back), QTD_EIO (a file could not be written; nothing
 * changed), QTD_EBUSY (from inside a call into Lua), QTD_ENOMEM. */
int qtd__lua_replace(qtd_lua_t *lh, const char *staged, char *err, size_t n);
/* Put <script>.previous back in place and reload. Returns: 0, QTD_ENOENT (nothing kept),
 * QTD_EIO, and as qtd__lua_reload. */
int qtd__lua_restore(qtd_lua_t *lh);
/* Calls into the script that raised an error (top level, callbacks, timers) so far. */
uint64_t qtd__lua_errors(const qtd_lua_t *lh);
/* Register fn as module.name (see qtd_host_api_t.lua_add_function), in the running state at
 * once and in every later one. Returns: 0, QTD_EINVAL (empty module or name), QTD_ENOMEM. */
int qtd__lua_register(qtd_lua_t *lh, const char *module, const char *name, qtd_lua_cfn fn,
                      void *ud);
/* The same, remembering who registered: qtd__lua_unregister_owner(lh, owner) forgets all
 * of an owner's functions (a plugin whose create() failed). Call it before the script's
 * state exists (functions already installed in a running state stay there).
 * Returns: 0, QTD_EINVAL, QTD_ENOMEM. */
int qtd__lua_register_owned(qtd_lua_t *lh, const void *owner, const char *module, const char *name,
                            qtd_lua_cfn fn, void *ud);
void qtd__lua_unregister_owner(qtd_lua_t *lh, const void *owner);
/* Make the value at idx of L the callback of `domain`'s events (nil clears it) and
 * subscribe to the domain on the bus when not yet done. Call it from a Lua-called C
 * function (may raise: memory). Returns: 0, QTD_EINVAL (not a function or nil, bad
 * domain), QTD_ENOMEM (the subscription). */
int qtd__lua_set_event_callback(qtd_lua_t *lh, struct lua_State *L, int domain, int idx);
/* What the script is running now, for the watchdog (any thread): "<entry> (last seen at
 * file:line)", or "" when no script code runs. */
void qtd__lua_running(qtd_lua_t *lh, char *buf, size_t n);
/* Stop timers and close the state; handles finish closing when the loop runs; then free.
 * Accepts NULL. Not from inside a call into Lua. */
void qtd__lua_close(qtd_lua_t *lh);

/* Value trees <-> Lua. Tables whose keys are 1..n -> ARRAY (the empty table too), other
 * integer keys -> STRUCT (ids 0..8191 only, children sorted by id); booleans, integers,
 * floats, strings as such; nil -> NONE. A TSL dict keyed 1..n therefore comes out as an
 * ARRAY: callers that expect a dict re-tag it (ids = index). *out is qtd_malloc'ed; release
 * with qtd__value_clear + qtd_free. Never raises. Returns: 0, QTD_EINVAL (a value Lua cannot
 * express on the wire: function, id out of range, mixed keys, nesting > 16), QTD_ENOMEM.
 * push: STRUCT -> table keyed by id, ARRAY -> sequence, STRING/BYTES -> string, NONE -> nil;
 * may raise (memory, nesting > 16), so call it where Lua errors are caught. */
int qtd__lua_to_value(struct lua_State *L, int idx, qtd_value_t **out);
void qtd__lua_push_value(struct lua_State *L, const qtd_value_t *v);

#endif /* QTD_LUA_LUAHOST_H */
