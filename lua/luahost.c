/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Lua host's lifecycle and plumbing: creating the host, starting, reloading and
 * closing the script state, delivering bus events to the callbacks plugins bind to script
 * functions (one slot per event domain), the `agent` module (agent.timer, agent.log) and
 * the registrations plugins add to modules. The sandbox and the protected-call path are in
 * sandbox.c. Everything here runs on the loop thread.
 */
#include "lua/lua_internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <uv.h>

#include "agent/alloc.h"
#include "agent/bus.h"
#include "agent/log.h"
#include "qthingd/errors.h"

#define TIMER_MT "qtd.timer"

static void host_free(qtd_lua_t *lh);

/* ---- callbacks and events --------------------------------------------------------- */

void qtd__lua_set_callback(lua_State *L, int domain, int idx)
{
    idx = lua_absindex(L, idx);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, QTD_LUA_CALLBACKS); /* [... cbs] */
    lua_pushvalue(L, idx);                                     /* [... cbs fn] */
    lua_rawseti(L, -2, domain);                                /* cbs[domain] = fn; [... cbs] */
    lua_pop(L, 1);                                             /* [...] */
}

void qtd__lua_push_callback(lua_State *L, int domain)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, QTD_LUA_CALLBACKS); /* [... cbs] */
    lua_rawgeti(L, -1, domain);                                /* [... cbs fn] */
    lua_remove(L, -2);                                         /* [... fn] */
}

/* Record where the function at idx begins as the last place seen running (for the
 * watchdog, before the count hook has seen a line of it). */
static void note_function(lua_State *L, int idx)
{
    qtd_lua_t *lh = qtd__lua_host(L);
    lua_Debug ar;
    lua_pushvalue(L, idx);                                 /* [... fn] */
    if (lua_getinfo(L, ">S", &ar) && ar.linedefined > 0) { /* [...] */
        uv_mutex_lock(&lh->running_lock);
        snprintf(lh->running_at, sizeof(lh->running_at), "%s:%d", ar.short_src, ar.linedefined);
        uv_mutex_unlock(&lh->running_lock);
    }
}

/* Protected: calls the domain's callback with {event, errcode [, value]}.
 * Stack in: [ev (lightuserdata)]. */
static int deliver_event(lua_State *L)
{
    const qtd_event_t *ev = lua_touserdata(L, 1);
    qtd__lua_push_callback(L, ev->domain); /* [ev cb] */
    if (!lua_isfunction(L, -1)) {
        return 0;
    }
    note_function(L, -1);            /* [ev cb] */
    lua_createtable(L, 3, 0);        /* [ev cb t] */
    lua_pushinteger(L, ev->event);   /* [ev cb t event] */
    lua_rawseti(L, -2, 1);           /* t[1] = event; [ev cb t] */
    lua_pushinteger(L, ev->errcode); /* [ev cb t errcode] */
    lua_rawseti(L, -2, 2);           /* t[2] = errcode; [ev cb t] */
    if (ev->value.type != QTD_VAL_NONE) {
        qtd__lua_push_value(L, &ev->value); /* [ev cb t value] */
        lua_rawseti(L, -2, 3);              /* t[3] = value; [ev cb t] */
    }
    lua_call(L, 1, 0); /* [ev] */
    return 0;
}

static void on_bus_event(void *arg, const qtd_event_t *ev)
{
    qtd_lua_t *lh = arg;
    if (lh->L == NULL || lh->closing) {
        return;
    }
    if (lh->depth == 0) {
        qtd__lua_set_running(lh, "an event callback of the script");
    }
    lua_pushcfunction(lh->L, deliver_event);  /* [deliver] */
    lua_pushlightuserdata(lh->L, (void *)ev); /* [deliver ev] */
    qtd__lua_pcall(lh, 1, 0);                 /* []; errors logged */
}

static bool has_domain(const qtd_lua_t *lh, int domain)
{
    for (size_t i = 0; i < lh->n_domains; i++) {
        if (lh->domains[i] == domain) {
            return true;
        }
    }
    return false;
}

/* Deliver the bus events of domain to the script callbacks. Returns: 0, QTD_ENOMEM. */
static int subscribe_domain(qtd_lua_t *lh, int domain, int event)
{
    if (lh->bus == NULL || has_domain(lh, domain)) {
        return 0;
    }
    if (lh->n_domains == sizeof(lh->domains) / sizeof(lh->domains[0])) {
        return QTD_ENOMEM;
    }
    int rc = qtd__bus_subscribe(lh->bus, domain, event, on_bus_event, lh);
    if (rc == 0) {
        lh->domains[lh->n_domains++] = domain;
        lh->subscribed = true;
    }
    return rc;
}

int qtd__lua_set_event_callback(qtd_lua_t *lh, lua_State *L, int domain, int idx)
{
    if (domain <= 0 || domain == QTD_DOM_AGENT || (!lua_isfunction(L, idx) && !lua_isnil(L, idx))) {
        return QTD_EINVAL;
    }
    int rc = subscribe_domain(lh, domain, 0);
    if (rc != 0) {
        return rc;
    }
    qtd__lua_set_callback(L, domain, idx);
    return 0;
}

/* ---- agent.timer ------------------------------------------------------------------ */

static void timer_close_cb(uv_handle_t *handle)
{
    qtd_lua_timer_t *t = handle->data;
    qtd_lua_t *lh = t->lh;
    qtd_free(t);
    lh->c_bytes -= sizeof(*t);
    lh->pending_closes--;
    if (lh->closing && lh->pending_closes == 0) {
        host_free(lh);
    }
}

/* Unlink t from its host and close its handle; t is freed in timer_close_cb. */
static void timer_close(qtd_lua_timer_t *t)
{
    qtd_lua_t *lh = t->lh;
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else {
        lh->timers = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    }
    t->prev = t->next = NULL;
    uv_timer_stop(&t->handle);
    lh->pending_closes++;
    uv_close((uv_handle_t *)&t->handle, timer_close_cb);
}

static qtd_lua_timer_t *check_timer(lua_State *L)
{
    qtd_lua_timer_t **box = luaL_checkudata(L, 1, TIMER_MT);
    if (*box == NULL) {
        luaL_error(L, "timer is closed");
    }
    return *box;
}

/* Protected: runs the callback of the timer in [t (lightuserdata)] with the timer. */
static int timer_call(lua_State *L)
{
    qtd_lua_timer_t *t = lua_touserdata(L, 1);
    if (t->self_ref == LUA_NOREF) {
        return 0;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref); /* [t ud] */
    if (!t->periodic) {
        /* A fired one-shot is idle: let it be collected unless the script keeps it. */
        luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref); /* stack unchanged */
        t->self_ref = LUA_NOREF;
    }
    lua_getiuservalue(L, 2, 1); /* [t ud fn] */
    note_function(L, -1);       /* [t ud fn] */
    lua_pushvalue(L, 2);        /* [t ud fn ud] */
    lua_call(L, 1, 0);          /* [t ud] */
    return 0;
}

static void timer_cb(uv_timer_t *handle)
{
    qtd_lua_timer_t *t = handle->data;
    qtd_lua_t *lh = t->lh;
    if (lh->L == NULL) {
        return;
    }
    if (lh->depth == 0) {
        qtd__lua_set_running(lh, "a timer callback of the script");
    }
    lua_pushcfunction(lh->L, timer_call); /* [timer_call] */
    lua_pushlightuserdata(lh->L, t);      /* [timer_call t] */
    qtd__lua_pcall(lh, 1, 0);             /* []; errors logged, periodic timers go on */
}

/* agent.timer() -> timer */
static int l_timer(lua_State *L)
{
    qtd_lua_t *lh = qtd__lua_host(L);
    if (lh->state_closing) {
        return luaL_error(L, "agent.timer: the script state is closing");
    }
    qtd_lua_timer_t **box = lua_newuserdatauv(L, sizeof(*box), 1); /* [ud] */
    *box = NULL;
    luaL_setmetatable(L, TIMER_MT); /* [ud] */
    /* The C side of a timer counts against the script's memory cap like its Lua side. */
    if (lh->mem_limit > 0 && lh->mem_used + lh->c_bytes + sizeof(qtd_lua_timer_t) > lh->mem_limit) {
        return luaL_error(L, "agent.timer: not enough memory (memory limit of %d bytes)",
                          (int)lh->mem_limit);
    }
    qtd_lua_timer_t *t = qtd_calloc(1, sizeof(*t));
    if (t == NULL) {
        return luaL_error(L, "agent.timer: not enough memory");
    }
    lh->c_bytes += sizeof(*t);
    int rc = uv_timer_init(lh->loop, &t->handle);
    if (rc != 0) {
        qtd_free(t);
        lh->c_bytes -= sizeof(*t);
        return luaL_error(L, "agent.timer: %s", uv_strerror(rc));
    }
    t->handle.data = t;
    t->lh = lh;
    t->box = box;
    t->self_ref = LUA_NOREF;
    t->next = lh->timers;
    if (lh->timers != NULL) {
        lh->timers->prev = t;
    }
    lh->timers = t;
    *box = t;
    return 1;
}

/* timer:start(ms, periodic, fn) -> true. periodic is 1/0 or true/false; fn(timer) runs
 * after ms milliseconds, then every ms when periodic. Restarting replaces the callback.
 * Raises on bad arguments. */
static int l_timer_start(lua_State *L)
{
    qtd_lua_timer_t *t = check_timer(L);
    lua_Integer ms = luaL_checkinteger(L, 2);
    bool periodic;
    if (lua_isboolean(L, 3)) {
        periodic = lua_toboolean(L, 3);
    } else {
        lua_Integer p = luaL_checkinteger(L, 3);
        luaL_argcheck(L, p == 0 || p == 1, 3, "expected 0, 1, true or false");
        periodic = p == 1;
    }
    luaL_checktype(L, 4, LUA_TFUNCTION);
    luaL_argcheck(L, ms >= (periodic ? 1 : 0) && ms <= (lua_Integer)INT32_MAX * 1000, 2,
                  periodic ? "period must be 1 ms or more" : "delay must not be negative");
    lua_settop(L, 4);           /* [ud ms periodic fn] */
    lua_setiuservalue(L, 1, 1); /* uservalue 1 = fn; [ud ms periodic] */
    if (t->self_ref == LUA_NOREF) {
        lua_pushvalue(L, 1);                          /* [ud ms periodic ud] */
        t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* [ud ms periodic] */
    }
    t->periodic = periodic;
    int rc = uv_timer_start(&t->handle, timer_cb, (uint64_t)ms, periodic ? (uint64_t)ms : 0);
    if (rc != 0) {
        luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref); /* stack unchanged */
        t->self_ref = LUA_NOREF;
        return luaL_error(L, "timer:start: %s", uv_strerror(rc));
    }
    lua_pushboolean(L, 1); /* [ud ms periodic true] */
    return 1;
}

/* timer:stop() -> true. The callback is not called again until the next start. */
static int l_timer_stop(lua_State *L)
{
    qtd_lua_timer_t *t = check_timer(L);
    uv_timer_stop(&t->handle);
    if (t->self_ref != LUA_NOREF) {
        luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref); /* stack unchanged */
        t->self_ref = LUA_NOREF;
    }
    lua_pushboolean(L, 1); /* [ud true] */
    return 1;
}

/* __gc of an idle timer: close the handle; the C struct goes in the close callback. */
static int l_timer_gc(lua_State *L)
{
    qtd_lua_timer_t **box = lua_touserdata(L, 1);
    qtd_lua_timer_t *t = *box;
    if (t != NULL) {
        *box = NULL;
        t->box = NULL;
        timer_close(t);
    }
    return 0;
}

static int l_timer_tostring(lua_State *L)
{
    qtd_lua_timer_t **box = luaL_checkudata(L, 1, TIMER_MT);
    lua_pushfstring(L, "agent.timer (%p)", (void *)*box); /* [ud str] */
    return 1;
}

/* ---- agent.log -------------------------------------------------------------------- */

/* agent.log.error|warn|info|debug(...) -> nothing. Upvalue 1: the level. */
static int l_log(lua_State *L)
{
    qtd__lua_log_args(L, (int)lua_tointeger(L, lua_upvalueindex(1)));
    return 0;
}

int luaopen_qtd_agent(lua_State *L)
{
    static const luaL_Reg timer_methods[] = {
        {"start", l_timer_start}, {"stop", l_timer_stop}, {NULL, NULL}};
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"error", QTD_LOG_ERROR},
                  {"warn", QTD_LOG_WARN},
                  {"info", QTD_LOG_INFO},
                  {"debug", QTD_LOG_DEBUG}};

    luaL_newmetatable(L, TIMER_MT);         /* [mt] */
    luaL_newlib(L, timer_methods);          /* [mt methods] */
    lua_setfield(L, -2, "__index");         /* [mt] */
    lua_pushcfunction(L, l_timer_gc);       /* [mt gc] */
    lua_setfield(L, -2, "__gc");            /* [mt] */
    lua_pushcfunction(L, l_timer_tostring); /* [mt tostring] */
    lua_setfield(L, -2, "__tostring");      /* [mt] */
    lua_pop(L, 1);                          /* [] */

    lua_createtable(L, 0, 2);      /* [agent] */
    lua_pushcfunction(L, l_timer); /* [agent timer] */
    lua_setfield(L, -2, "timer");  /* [agent] */
    lua_createtable(L, 0, 4);      /* [agent log] */
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        lua_pushinteger(L, levels[i].level); /* [agent log level] */
        lua_pushcclosure(L, l_log, 1);       /* [agent log fn] */
        lua_setfield(L, -2, levels[i].name); /* [agent log] */
    }
    lua_setfield(L, -2, "log"); /* [agent] */
    return 1;
}

/* ---- plugin registrations --------------------------------------------------------- */

/* Install one registration in L: LOADED[module] (or the global) gets name = fn. */
static void install_reg(lua_State *L, const qtd_lua_reg_t *reg)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); /* [LOADED] */
    if (lua_getfield(L, -1, reg->module) != LUA_TTABLE) {     /* [LOADED mod?] */
        lua_pop(L, 1);                                        /* [LOADED] */
        int type = lua_getglobal(L, reg->module);             /* [LOADED g] */
        if (type == LUA_TNIL) {
            lua_pop(L, 1);                 /* [LOADED] */
            lua_newtable(L);               /* [LOADED mod] */
            lua_pushvalue(L, -1);          /* [LOADED mod mod] */
            lua_setglobal(L, reg->module); /* [LOADED mod] */
        } else if (type != LUA_TTABLE) {
            qtd_log_warn(QTD_LUA_WHO, "cannot register %s.%s: global %s is a %s", reg->module,
                         reg->name, reg->module, lua_typename(L, type));
            lua_pop(L, 2); /* [] */
            return;
        }
        lua_pushvalue(L, -1);             /* [LOADED mod mod] */
        lua_setfield(L, -3, reg->module); /* LOADED[module] = mod; [LOADED mod] */
    }
    lua_pushlightuserdata(L, reg->ud); /* [LOADED mod ud] */
    lua_pushcclosure(L, reg->fn, 1);   /* [LOADED mod fn] */
    lua_setfield(L, -2, reg->name);    /* mod[name] = fn; [LOADED mod] */
    lua_pop(L, 2);                     /* [] */
}

/* Protected: install [reg (lightuserdata)]. */
static int install_one(lua_State *L)
{
    install_reg(L, lua_touserdata(L, 1));
    return 0;
}

/* Protected: the modules of a new state, then every registration in order. */
static int setup_modules(lua_State *L)
{
    qtd_lua_t *lh = qtd__lua_host(L);
    luaL_requiref(L, "agent", luaopen_qtd_agent, 1); /* [agent]; global too */
    lua_pop(L, 1);                                   /* [] */
    for (const qtd_lua_reg_t *reg = lh->regs; reg != NULL; reg = reg->next) {
        install_reg(L, reg);
    }
    return 0;
}

int qtd__lua_register(qtd_lua_t *lh, const char *module, const char *name, qtd_lua_cfn fn, void *ud)
{
    return qtd__lua_register_owned(lh, NULL, module, name, fn, ud);
}

void qtd__lua_unregister_owner(qtd_lua_t *lh, const void *owner)
{
    qtd_lua_reg_t **pp = &lh->regs;
    while (*pp != NULL) {
        qtd_lua_reg_t *reg = *pp;
        if (reg->owner == owner && owner != NULL) {
            *pp = reg->next;
            qtd_free(reg->module);
            qtd_free(reg->name);
            qtd_free(reg);
        } else {
            pp = &reg->next;
        }
    }
    lh->regs_tail = pp;
}

int qtd__lua_register_owned(qtd_lua_t *lh, const void *owner, const char *module, const char *name,
                            qtd_lua_cfn fn, void *ud)
{
    if (module == NULL || name == NULL || fn == NULL || module[0] == '\0' || name[0] == '\0') {
        return QTD_EINVAL;
    }
    qtd_lua_reg_t *reg = qtd_calloc(1, sizeof(*reg));
    if (reg == NULL) {
        return QTD_ENOMEM;
    }
    reg->module = qtd_strdup(module);
    reg->name = qtd_strdup(name);
    if (reg->module == NULL || reg->name == NULL) {
        qtd_free(reg->module);
        qtd_free(reg->name);
        qtd_free(reg);
        return QTD_ENOMEM;
    }
    reg->fn = fn;
    reg->ud = ud;
    reg->owner = owner;
    *lh->regs_tail = reg;
    lh->regs_tail = &reg->next;
    if (lh->L != NULL) {
        lua_pushcfunction(lh->L, install_one); /* [install_one] */
        lua_pushlightuserdata(lh->L, reg);     /* [install_one reg] */
        if (qtd__lua_pcall(lh, 1, 0) != 0) {   /* [] */
            return QTD_ENOMEM;                 /* kept for the next state all the same */
        }
    }
    return 0;
}

/* ---- states ----------------------------------------------------------------------- */

static void state_close(qtd_lua_t *lh)
{
    /* Timers first: their handles outlive the state until their close callbacks. */
    while (lh->timers != NULL) {
        qtd_lua_timer_t *t = lh->timers;
        if (t->box != NULL) {
            *t->box = NULL;
            t->box = NULL;
        }
        timer_close(t);
    }
    if (lh->L != NULL) {
        /* Finalizers run now; they get a fresh instruction budget of their own. */
        lh->instr_count = 0;
        lh->state_closing = true;
        lua_close(lh->L);
        lh->state_closing = false;
        lh->L = NULL;
    }
}

static int state_open(qtd_lua_t *lh)
{
    int rc = qtd__lua_sandbox_open(lh);
    if (rc != 0) {
        return rc;
    }
    lua_pushcfunction(lh->L, setup_modules); /* [setup_modules] */
    if (qtd__lua_pcall(lh, 0, 0) != 0) {     /* [] */
        state_close(lh);
        return QTD_ENOMEM;
    }
    return 0;
}

/* Protected: load the operator's script as text and run it. */
static int run_script(lua_State *L)
{
    qtd_lua_t *lh = qtd__lua_host(L);
    if (luaL_loadfilex(L, lh->script, "t") != LUA_OK) { /* [chunk] or [err] */
        return lua_error(L);
    }
    lua_call(L, 0, 0); /* [] */
    return 0;
}

int qtd__lua_create(qtd_lua_t **out, uv_loop_t *loop, qtd_store_t *st, qtd_bus_t *bus,
                    const qtd_lua_opts_t *opts)
{
    *out = NULL;
    qtd_lua_t *lh = qtd_calloc(1, sizeof(*lh));
    if (lh == NULL) {
        return QTD_ENOMEM;
    }
    if (uv_mutex_init(&lh->running_lock) != 0) {
        qtd_free(lh);
        return QTD_ENOMEM;
    }
    lh->loop = loop;
    lh->st = st;
    lh->bus = bus;
    lh->regs_tail = &lh->regs;
    lh->mem_limit = opts->mem_limit;
    lh->instr_limit = opts->instr_limit;

    const char *strs[] = {opts->script, opts->lib_path};
    char **copies[] = {&lh->script, &lh->lib_path};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (strs[i] != NULL && strs[i][0] != '\0' && (*copies[i] = qtd_strdup(strs[i])) == NULL) {
            goto fail;
        }
    }
    if (lh->script != NULL) {
        const char *slash = strrchr(lh->script, '/');
        lh->script_dir =
            slash == NULL ? qtd_strdup(".") : qtd_strndup(lh->script, (size_t)(slash - lh->script));
        if (lh->script_dir == NULL) {
            goto fail;
        }
        if (lh->script_dir[0] == '\0') { /* script in "/" */
            qtd_free(lh->script_dir);
            if ((lh->script_dir = qtd_strdup("/")) == NULL) {
                goto fail;
            }
        }
    }

    *out = lh;
    return 0;

fail:
    if (lh->subscribed) {
        qtd__bus_unsubscribe_all(bus, lh);
    }
    host_free(lh);
    return QTD_ENOMEM;
}

int qtd__lua_start(qtd_lua_t *lh)
{
    if (lh->L != NULL || lh->closing) {
        return QTD_EBUSY;
    }
    int rc = state_open(lh);
    if (rc != 0) {
        return rc;
    }
    if (lh->script == NULL) {
        return 0;
    }
    qtd_log_info(QTD_LUA_WHO, "running %s", lh->script);
    qtd__lua_set_running(lh, "the top level of the script");
    lua_pushcfunction(lh->L, run_script); /* [run_script] */
    return qtd__lua_pcall(lh, 0, 0);      /* []; QTD_ELUA logged */
}

typedef struct {
    const char *code;
    size_t len;
    char *out;
    size_t n;
    bool failed;
} eval_t;

/* Protected: run a chunk of text in the script's state and print what it returns (or its
 * error) into e->out, values separated by tabs. Stack in: [e (lightuserdata)]. */
static int run_text(lua_State *L)
{
    eval_t *e = lua_touserdata(L, 1);
    int base = lua_gettop(L);
    size_t used = 0;
    e->out[0] = '\0';
    if (luaL_loadbufferx(L, e->code, e->len, "=qthingctl", "t") != LUA_OK ||
        lua_pcall(L, 0, LUA_MULTRET, 0) != LUA_OK) {
        e->failed = true;
        snprintf(e->out, e->n, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
        return 0;
    }
    for (int i = base + 1; i <= lua_gettop(L) && used < e->n; i++) {
        size_t len = 0;
        const char *s = luaL_tolstring(L, i, &len); /* [... s] */
        used += (size_t)snprintf(e->out + used, e->n - used, "%s%.*s", i > base + 1 ? "\t" : "",
                                 (int)len, s);
        lua_pop(L, 1);
    }
    return 0;
}

int qtd__lua_eval(qtd_lua_t *lh, const char *code, size_t len, char *out, size_t n, bool *failed)
{
    if (lh->L == NULL || lh->closing || lh->depth > 0 || n == 0) {
        return QTD_EBUSY;
    }
    eval_t e = {.code = code, .len = len, .out = out, .n = n};
    qtd__lua_set_running(lh, "code from the control socket");
    lua_pushcfunction(lh->L, run_text); /* [run_text] */
    lua_pushlightuserdata(lh->L, &e);   /* [run_text e] */
    int rc = qtd__lua_pcall(lh, 1, 0);  /* []; a memory or instruction limit is logged */
    *failed = e.failed || rc != 0;
    if (rc != 0 && out[0] == '\0') {
        snprintf(out, n, "stopped (memory or instruction limit: see the agent's log)");
    }
    return 0;
}

int qtd__lua_reload(qtd_lua_t *lh)
{
    if (lh->depth > 0 || lh->closing) {
        return QTD_EBUSY;
    }
    if (lh->script != NULL) {
        /* A script that does not even compile would leave the device with no logic: keep
         * the running one. (Errors at run time are only found by running it.) */
        lua_State *probe = luaL_newstate();
        if (probe == NULL) {
            return QTD_ENOMEM;
        }
        int rc = luaL_loadfilex(probe, lh->script, "t");
        if (rc != LUA_OK) {
            qtd_log_error(QTD_LUA_WHO, "reload refused, the running script stays: %s",
                          lua_tostring(probe, -1));
            lua_close(probe);
            return QTD_ELUA;
        }
        lua_close(probe);
    }
    qtd_log_info(QTD_LUA_WHO, "reloading %s", lh->script != NULL ? lh->script : "(no script)");
    state_close(lh);
    return qtd__lua_start(lh);
}

static void host_free(qtd_lua_t *lh)
{
    uv_mutex_destroy(&lh->running_lock);
    qtd_lua_reg_t *reg = lh->regs;
    while (reg != NULL) {
        qtd_lua_reg_t *next = reg->next;
        qtd_free(reg->module);
        qtd_free(reg->name);
        qtd_free(reg);
        reg = next;
    }
    qtd_free(lh->script);
    qtd_free(lh->script_dir);
    qtd_free(lh->lib_path);
    qtd_free(lh);
}

void qtd__lua_close(qtd_lua_t *lh)
{
    if (lh == NULL || lh->closing) {
        return;
    }
    lh->closing = true;
    if (lh->subscribed) {
        qtd__bus_unsubscribe_all(lh->bus, lh);
        lh->subscribed = false;
    }
    state_close(lh);
    if (lh->pending_closes == 0) {
        host_free(lh);
    }
}
