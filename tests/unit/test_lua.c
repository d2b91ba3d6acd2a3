/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the Lua host (lua/): the quecIot configuration API of seed 3.3-3.4 with its
 * limits and persistence, event delivery, error isolation, the instruction and memory
 * caps, the sandbox, require, agent.timer, agent.log, reload, plugin registrations and the
 * Lua <-> value-tree conversion. Every test runs a real libuv loop, a real bus and a real
 * store file in a temporary directory under $QTD_TEST_TMP (default /tmp); scripts come from
 * tests/lua/ or are written into that directory. The agent's log (stderr) is captured into
 * a file per test so that tests can check what was logged; it is replayed on stderr at the
 * end of the test. Every test ends by closing the loop cleanly (uv_loop_close() == 0) and
 * checking that the agent's allocator is back where it started.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <uv.h>

#include "agent/alloc.h"
#include "agent/bus.h"
#include "agent/log.h"
#include "lua/lua_internal.h"
#include "lua/luahost.h"
#include "store/store.h"

#ifndef QTD_TEST_SOURCE_DIR
#define QTD_TEST_SOURCE_DIR "."
#endif

#define SRC_LUA QTD_TEST_SOURCE_DIR "/tests/lua/"
#define MAX_GEN 8
#define PATH_LEN 768

typedef struct fx_s {
    uv_loop_t loop;
    qtd_bus_t *bus;
    qtd_store_t *st;
    qtd_lua_t *lh;
    qtd_lua_opts_t opts;
    char dir[512];
    char db[PATH_LEN];
    char logfile[PATH_LEN];
    char script[PATH_LEN];
    char lib[PATH_LEN];
    int saved_stderr;
    uint64_t alloc_start;

    /* What scripts report through the `test` module. */
    int marks;
    int loads;
    int ticks[MAX_GEN];
    char said[2048];

    /* QTD_DOM_AGENT events seen on the bus. */
    int config_events;
    char config_names[1024];
    int connmode_events;
    int last_connmode;
} fx_t;

/* ---- the `test` module scripts report through --------------------------------------- */

static fx_t *fx_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

/* test.mark() */
static int t_mark(lua_State *L)
{
    fx_of(L)->marks++;
    return 0;
}

/* test.say(text): appended to fx->said with a newline */
static int t_say(lua_State *L)
{
    fx_t *fx = fx_of(L);
    const char *s = luaL_checkstring(L, 1);
    size_t used = strlen(fx->said);
    snprintf(fx->said + used, sizeof(fx->said) - used, "%s\n", s);
    return 0;
}

/* test.load() -> how many times a script called it (its generation) */
static int t_load(lua_State *L)
{
    lua_pushinteger(L, ++fx_of(L)->loads); /* [gen] */
    return 1;
}

/* test.tick(gen) */
static int t_tick(lua_State *L)
{
    lua_Integer gen = luaL_checkinteger(L, 1);
    luaL_argcheck(L, gen >= 0 && gen < MAX_GEN, 1, "generation out of range");
    fx_of(L)->ticks[gen]++;
    return 0;
}

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
    (void)L;
    luaL_addlstring(ud, p, sz);
    return 0;
}

/* test.bytecode() -> a binary chunk ("return 42") compiled in a separate, plain state */
static int t_bytecode(lua_State *L)
{
    lua_State *plain = luaL_newstate();
    luaL_loadstring(plain, "return 42"); /* plain: [chunk] */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_dump(plain, dump_writer, &b, 0);
    lua_close(plain);
    luaL_pushresult(&b); /* [bytecode] */
    return 1;
}

/* test.setcb(domain, fn): the per-domain callback slot of later setters */
static int t_setcb(lua_State *L)
{
    lua_Integer domain = luaL_checkinteger(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    qtd__lua_set_callback(L, (int)domain, 2);
    return 0;
}

/* test.ud() -> true when upvalue 1 is the fixture */
static int t_ud(lua_State *L)
{
    lua_pushboolean(L, fx_of(L) != NULL && fx_of(L)->lh != NULL); /* [ok] */
    return 1;
}

/* Registered under a new module: "ud" when upvalue 1 is the lightuserdata given. */
static int t_where(lua_State *L)
{
    lua_pushstring(L, lua_islightuserdata(L, lua_upvalueindex(1)) ? "ud" : "?"); /* [s] */
    return 1;
}

static void register_test_module(fx_t *fx)
{
    static const luaL_Reg fns[] = {
        {"mark", t_mark},         {"say", t_say},     {"load", t_load}, {"tick", t_tick},
        {"bytecode", t_bytecode}, {"setcb", t_setcb}, {"ud", t_ud},     {NULL, NULL}};
    for (const luaL_Reg *f = fns; f->name != NULL; f++) {
        assert_int_equal(qtd__lua_register(fx->lh, "test", f->name, f->func, fx), 0);
    }
}

/* ---- fixture ------------------------------------------------------------------------ */

static void on_agent_event(void *arg, const qtd_event_t *ev)
{
    fx_t *fx = arg;
    if (ev->event == QTD_AGENT_CONFIG) {
        fx->config_events++;
        size_t used = strlen(fx->config_names);
        snprintf(fx->config_names + used, sizeof(fx->config_names) - used, "%.*s ",
                 (int)ev->value.u.s.len, ev->value.u.s.ptr);
    } else if (ev->event == QTD_AGENT_CONNMODE) {
        fx->connmode_events++;
        fx->last_connmode = ev->errcode;
    }
}

static void store_open(fx_t *fx)
{
    qtd_store_opts_t so;
    memset(&so, 0, sizeof(so));
    assert_int_equal(qtd_store_open(&fx->st, fx->db, &so), 0);
}

static int fx_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    const char *base = getenv("QTD_TEST_TMP");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    if (mkdir(base, 0755) != 0 && errno != EEXIST) {
        fail_msg("cannot create %s: %s", base, strerror(errno));
    }
    snprintf(fx->dir, sizeof(fx->dir), "%s/test_lua.XXXXXX", base);
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->db, sizeof(fx->db), "%s/store.db", fx->dir);
    snprintf(fx->logfile, sizeof(fx->logfile), "%s/log.txt", fx->dir);

    /* Capture the agent's log (written to fd 2). */
    fflush(stderr);
    fx->saved_stderr = dup(STDERR_FILENO);
    int fd = open(fx->logfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
    qtd__log_setup(QTD_LOG_DEBUG, false);

    fx->alloc_start = qtd_alloc_bytes();
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    assert_int_equal(qtd__bus_create(&fx->bus, &fx->loop), 0);
    assert_int_equal(qtd__bus_subscribe(fx->bus, QTD_DOM_AGENT, 0, on_agent_event, fx), 0);
    store_open(fx);
    fx->opts.mem_limit = 32u << 20;
    fx->opts.instr_limit = 10000000;
    fx->opts.default_dk = "DEFAULTDK01";
    fx->opts.soft_version = "9.8.7-test";
    *state = fx;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int fx_teardown(void **state)
{
    fx_t *fx = *state;
    qtd__lua_close(fx->lh);
    fx->lh = NULL;
    qtd__bus_close(fx->bus);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    int loop_rc = uv_loop_close(&fx->loop);
    qtd_store_close(fx->st);
    uint64_t leaked = qtd_alloc_bytes() - fx->alloc_start;

    /* Give stderr back and replay what was logged. */
    fflush(stderr);
    dup2(fx->saved_stderr, STDERR_FILENO);
    close(fx->saved_stderr);
    FILE *f = fopen(fx->logfile, "r");
    if (f != NULL) {
        char line[4096];
        while (fgets(line, sizeof(line), f) != NULL) {
            fprintf(stderr, "    | %s", line);
        }
        fclose(f);
    }
    if (getenv("QTD_TEST_KEEP") == NULL) {
        nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    free(fx);
    assert_int_equal(loop_rc, 0);
    assert_int_equal(leaked, 0);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

/* Write text to <dir>/<name>; the path goes to out. */
static void write_file(fx_t *fx, const char *name, const char *text, char *out)
{
    char path[PATH_LEN];
    snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    if (out != NULL) {
        snprintf(out, PATH_LEN, "%s", path);
    }
}

/* Create the host with fx->opts and script, register `test`, start. Returns start's code. */
static int host_start(fx_t *fx, const char *script)
{
    fx->opts.script = script;
    assert_int_equal(qtd__lua_create(&fx->lh, &fx->loop, fx->st, fx->bus, &fx->opts), 0);
    register_test_module(fx);
    return qtd__lua_start(fx->lh);
}

/* Write the script text as <name> in the temp dir and start the host on it. */
static int host_run(fx_t *fx, const char *name, const char *text)
{
    write_file(fx, name, text, fx->script);
    return host_start(fx, fx->script);
}

/* Run code in the host's state the way the host calls into Lua. */
static int eval(fx_t *fx, const char *code)
{
    lua_State *L = fx->lh->L;
    assert_non_null(L);
    if (luaL_loadstring(L, code) != LUA_OK) { /* [chunk] or [err] */
        print_error("eval: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1); /* [] */
        return -1;
    }
    return qtd__lua_pcall(fx->lh, 0, 0);
}

static void deadline_cb(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Run the loop until *counter >= target or timeout_ms passed (counter NULL: run the whole
 * time). Returns whether the target was reached. */
static bool run_until(fx_t *fx, const int *counter, int target, uint64_t timeout_ms)
{
    bool expired = false;
    uv_timer_t deadline;
    uv_timer_init(&fx->loop, &deadline);
    deadline.data = &expired;
    uv_timer_start(&deadline, deadline_cb, timeout_ms, 0);
    while ((counter == NULL || *counter < target) && !expired) {
        uv_run(&fx->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT); /* finish closing the deadline */
    return counter == NULL || *counter >= target;
}

/* Deliver what the bus holds. */
static void pump(fx_t *fx)
{
    for (int i = 0; i < 3; i++) {
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    }
}

static void publish(fx_t *fx, int domain, int event, int errcode, const qtd_value_t *v)
{
    qtd_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.size = sizeof(ev);
    ev.domain = domain;
    ev.event = event;
    ev.errcode = errcode;
    if (v != NULL) {
        ev.value = *v;
    }
    assert_int_equal(qtd__bus_publish(fx->bus, "test", &ev), 0);
}

static char *read_log(fx_t *fx)
{
    FILE *f = fopen(fx->logfile, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

/* How many times needle occurs in the captured log. */
static int log_count(fx_t *fx, const char *needle)
{
    char *log = read_log(fx);
    int n = 0;
    for (const char *p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
        n++;
    }
    free(log);
    return n;
}

static bool log_has(fx_t *fx, const char *needle)
{
    return log_count(fx, needle) > 0;
}

/* A log line holding both a and b. */
static bool log_line_has(fx_t *fx, const char *a, const char *b)
{
    char *log = read_log(fx);
    bool found = false;
    for (char *line = strtok(log, "\n"); line != NULL && !found; line = strtok(NULL, "\n")) {
        found = strstr(line, a) != NULL && strstr(line, b) != NULL;
    }
    free(log);
    return found;
}

#define assert_logged(fx, needle)                                                                  \
    do {                                                                                           \
        if (!log_has((fx), (needle))) {                                                            \
            fail_msg("not in the log: %s", (needle));                                              \
        }                                                                                          \
    } while (0)

/* ---- quecIot configuration ---------------------------------------------------------- */

static void quecIot_setters_and_getters_accept_valid_values(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_start(fx, SRC_LUA "quecIot_config.lua"), 0);
    assert_int_equal(fx->marks, 1);
    pump(fx);
    /* Each change is announced with the setting's name. */
    const char *names[] = {"productinfo", "server",     "lifetime", "pdpContextId",
                           "sessionFlag", "mcuVersion", "dkDs"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char word[64];
        snprintf(word, sizeof(word), "%s ", names[i]);
        if (strstr(fx->config_names, word) == NULL) {
            fail_msg("no QTD_AGENT_CONFIG event for %s (got: %s)", names[i], fx->config_names);
        }
    }
    assert_int_equal(fx->connmode_events, 2);
    assert_int_equal(fx->last_connmode, 0);
}

static void quecIot_limits_are_refused_with_false(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_start(fx, SRC_LUA "quecIot_limits.lua"), 0);
    assert_int_equal(fx->marks, 1);
    /* The warnings name the function, the argument and the limit. */
    assert_logged(fx, "quecIot.setProductinfo: product_key must be a string of 1..32");
    assert_logged(fx, "quecIot.setProductinfo: product_secret must be a string of 1..32");
    assert_logged(fx, "quecIot.setServer: type 0 (LwM2M) is not supported");
    assert_logged(fx, "quecIot.setServer: server port must be a number 1..65535");
    assert_logged(fx, "quecIot.setLifetime: life_time must be an integer 1..65535");
    assert_logged(fx, "quecIot.setPdpContextId: contextID must be 1");
    assert_logged(fx, "quecIot.setSessionFlag: sessionFlag must be true, false, 0 or 1");
    assert_logged(fx, "quecIot.setMcuVersion: compno must be a string of 1..32");
    assert_logged(fx, "quecIot.setMcuVersion: version must be a string of 1..64");
    assert_logged(fx, "quecIot.setDkDs: dk must be a string of 0..16");
    assert_logged(fx, "quecIot.setDkDs: ds must be a string of 0..32");
    assert_logged(fx, "quecIot.setConnmode: mode must be 0 (disconnect) or 1 (connect)");
    assert_logged(fx, "quecIot.setEventCB: eventCb must be a function");
    assert_true(log_line_has(fx, "WARN", "quecIot.setLifetime"));
}

static void quecIot_setters_before_init_return_false(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "before_init.lua",
                      "local q = quecIot\n"
                      "local r = {q.setConnmode(1), q.setEventCB(function() end),\n"
                      "           q.setProductinfo('pk', 'ps'), q.setServer(1, 'h:1'),\n"
                      "           q.setLifetime(60), q.setPdpContextId(1),\n"
                      "           q.setSessionFlag(true), q.setMcuVersion('m', 'v'),\n"
                      "           q.setDkDs('dk1', 'ds')}\n"
                      "for i = 1, 9 do\n"
                      "    assert(r[i] == false, 'setter ' .. i .. ' gave ' .. tostring(r[i]))\n"
                      "end\n"
                      "assert(q.getWorkState() == 0 and q.getConnmode() == 0)\n"
                      "assert(q.getProductinfo() == nil and q.getLifetime() == 120)\n"
                      "assert(q.getDkDs() == nil and #q.getMcuVersion() == 0)\n"
                      "assert(q.init() == true and q.setLifetime(60) == true)\n"
                      "test.mark()\n");
    assert_int_equal(rc, 0);
    assert_int_equal(fx->marks, 1);
    assert_logged(fx, "quecIot.setLifetime: called before quecIot.init()");
    assert_logged(fx, "quecIot.setDkDs: called before quecIot.init()");
    pump(fx);
    assert_int_equal(fx->config_events, 1); /* only the setLifetime after init */
    assert_int_equal(fx->connmode_events, 0);
}

static void quecIot_settings_persist_across_restart(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "persist_set.lua",
                      "local q = quecIot\n"
                      "q.init()\n"
                      "assert(q.setProductinfo('pkA', 'psA'))\n"
                      "assert(q.setServer(1, 'mqtts://broker.example:8883'))\n"
                      "assert(q.setLifetime(600))\n"
                      "assert(q.setPdpContextId(1))\n"
                      "assert(q.setSessionFlag(true))\n"
                      "assert(q.setMcuVersion('MCU2', 'v2') and q.setMcuVersion('MCU1', 'v1'))\n"
                      "assert(q.setDkDs('dkA1', 'dsA1'))\n"
                      "test.mark()\n");
    assert_int_equal(rc, 0);
    assert_int_equal(fx->marks, 1);

    /* Restart: host and store go, a new store on the same file and a new host come. */
    qtd__lua_close(fx->lh);
    fx->lh = NULL;
    pump(fx);
    qtd_store_close(fx->st);
    fx->st = NULL;
    store_open(fx);
    rc = host_run(fx, "persist_get.lua",
                  "local q = quecIot\n"
                  "local function eq(a, b) assert(a == b, tostring(a) .. ' ~= ' .. "
                  "tostring(b)) end\n"
                  "eq(q.getWorkState(), 0)\n"
                  "local pi = q.getProductinfo()\n"
                  "eq(pi[1], 'pkA') eq(pi[2], 'psA') eq(pi[3], '1.3.0')\n"
                  "local s = q.getServer()\n"
                  "eq(s[1], 1) eq(s[2], 'mqtts://broker.example:8883')\n"
                  "eq(q.getLifetime(), 600)\n"
                  "eq(q.getPdpContextId(), 1)\n"
                  "eq(q.getSessionFlag(), true)\n"
                  "local m = q.getMcuVersion()\n"
                  "eq(#m, 2) eq(m[1][1], 'MCU1') eq(m[1][2], 'v1') eq(m[2][1], 'MCU2')\n"
                  "local d = q.getDkDs()\n"
                  "eq(d[1], 'dkA1') eq(d[2], 'dsA1')\n"
                  "eq(q.getConnmode(), 0)\n"
                  "test.mark()\n");
    assert_int_equal(rc, 0);
    assert_int_equal(fx->marks, 2);
}

static void quecIot_setDkDs_follows_the_seed_rules(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_start(fx, SRC_LUA "quecIot_dkds.lua"), 0);
    assert_int_equal(fx->marks, 1);
    assert_logged(fx, "quecIot.setDkDs: ds may be set only with a non-empty dk");
    /* The device secret never reaches the log. */
    assert_int_equal(log_count(fx, "s3cr3t"), 0);
}

static void quecIot_getWorkState_follows_bus_events(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_run(fx, "ws.lua",
                              "assert(quecIot.getWorkState() == 0)\n"
                              "quecIot.init()\n"
                              "assert(quecIot.getWorkState() == 1)\n"),
                     0);
    publish(fx, QTD_DOM_AGENT, QTD_AGENT_WORKSTATE, QTD_WS_SUBSCRIBED, NULL);
    pump(fx);
    assert_int_equal(eval(fx, "assert(quecIot.getWorkState() == 8) test.mark()"), 0);
    publish(fx, QTD_DOM_AGENT, QTD_AGENT_WORKSTATE, QTD_WS_LOGGED_OUT, NULL);
    pump(fx);
    assert_int_equal(eval(fx, "assert(quecIot.getWorkState() == 11) test.mark()"), 0);
    assert_int_equal(fx->marks, 2);
}

static void quecIot_connmode_is_published_and_survives_reload(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "connmode.lua",
                      "quecIot.init()\n"
                      "if test.load() == 1 then assert(quecIot.setConnmode(1)) end\n"
                      "test.say('connmode ' .. quecIot.getConnmode())\n");
    assert_int_equal(rc, 0);
    pump(fx);
    assert_int_equal(fx->connmode_events, 1);
    assert_int_equal(fx->last_connmode, 1);
    assert_int_equal(qtd__lua_reload(fx->lh), 0);
    pump(fx);
    assert_int_equal(fx->loads, 2);
    assert_int_equal(fx->connmode_events, 1); /* reload does not touch the session */
    assert_string_equal(fx->said, "connmode 1\nconnmode 1\n");
}

/* ---- events and error isolation ----------------------------------------------------- */

static void lua_event_callback_gets_event_errcode_value(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "events.lua",
                      "quecIot.init()\n"
                      "quecIot.setEventCB(function(d)\n"
                      "    test.say(string.format('%d/%d/%s/%d', d[1], d[2], type(d[3]), #d))\n"
                      "    if d[1] == 5 and d[2] == 10210 then\n"
                      "        assert(d[3][7] == 1 and d[3][8] == 2.5 and d[3][9][1] == 'a')\n"
                      "    elseif d[1] == 5 and d[2] == 10200 then\n"
                      "        assert(d[3] == 'ab\\0c')\n"
                      "    end\n"
                      "    test.mark()\n"
                      "end)\n");
    assert_int_equal(rc, 0);

    publish(fx, QTD_DOM_CLOUD, QTD_EVT_SUBSCRIBE, QTD_CODE_OK, NULL);

    qtd_value_t arr_items[1] = {{.type = QTD_VAL_STRING, .u.s = {"a", 1}}};
    qtd_value_t items[3] = {
        {.type = QTD_VAL_INT, .id = 7, .u.i = 1},
        {.type = QTD_VAL_DOUBLE, .id = 8, .u.d = 2.5},
        {.type = QTD_VAL_ARRAY, .id = 9, .u.list = {arr_items, 1}},
    };
    qtd_value_t tsl = {.type = QTD_VAL_STRUCT, .u.list = {items, 3}};
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_RECV, QTD_CODE_TSL, &tsl);

    qtd_value_t bytes = {.type = QTD_VAL_BYTES, .u.s = {"ab\0c", 4}};
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_RECV, QTD_CODE_OK, &bytes);

    assert_true(run_until(fx, &fx->marks, 3, 2000));
    assert_string_equal(fx->said, "3/10200/nil/2\n5/10210/table/3\n5/10200/string/3\n");
}

static void lua_domain_callback_slots_receive_their_events(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "slots.lua",
                      "quecIot.init()\n"
                      "test.setcb(2, function(d) test.say('ota ' .. d[1] .. ' ' .. d[3]) "
                      "test.mark() end)\n"
                      "test.setcb(3, function(d) test.say('subdev ' .. d[1] .. ' ' .. d[2]) "
                      "test.mark() end)\n");
    assert_int_equal(rc, 0);
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_CONNECT, QTD_CODE_OK, NULL); /* no eventCB: dropped */
    qtd_value_t json = {.type = QTD_VAL_STRING, .u.s = {"{}", 2}};
    publish(fx, QTD_DOM_HTTPOTA, 1, 0, &json);
    publish(fx, QTD_DOM_SUBDEV, 9, QTD_CODE_OK, NULL);
    assert_true(run_until(fx, &fx->marks, 2, 2000));
    assert_string_equal(fx->said, "ota 1 {}\nsubdev 9 10200\n");
    assert_int_equal(log_count(fx, "ERROR"), 0);
}

static void lua_error_in_callback_is_isolated(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "cb_error.lua",
                      "quecIot.init()\n"
                      "local n = 0\n"
                      "quecIot.setEventCB(function(d)\n"
                      "    n = n + 1\n"
                      "    if n == 1 then error('boom in callback') end\n"
                      "    test.mark()\n"
                      "end)\n");
    assert_int_equal(rc, 0);
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_RECV, QTD_CODE_OK, NULL);
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_RECV, QTD_CODE_OK, NULL);
    assert_true(run_until(fx, &fx->marks, 1, 2000));
    assert_true(log_line_has(fx, "ERROR", "cb_error.lua:5: boom in callback"));
    assert_logged(fx, "stack traceback:");
    /* The host keeps going: a third event reaches the callback too. */
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_RECV, QTD_CODE_OK, NULL);
    assert_true(run_until(fx, &fx->marks, 2, 2000));
}

static void lua_runaway_callback_is_stopped_by_the_instruction_limit(void **state)
{
    fx_t *fx = *state;
    fx->opts.instr_limit = 1000000;
    int rc = host_run(fx, "runaway.lua",
                      "quecIot.init()\n"
                      "quecIot.setEventCB(function(d)\n"
                      "    if d[1] == 1 then while true do end end\n"
                      "    if d[1] == 2 then\n"
                      "        while true do pcall(function() while true do end end) end\n"
                      "    end\n"
                      "    if d[1] == 3 then coroutine.wrap(function() while true do end end)() "
                      "end\n"
                      "    test.mark()\n"
                      "end)\n");
    assert_int_equal(rc, 0);
    for (int ev = 1; ev <= 4; ev++) {
        publish(fx, QTD_DOM_CLOUD, ev, QTD_CODE_OK, NULL);
    }
    assert_true(run_until(fx, &fx->marks, 1, 10000));
    assert_int_equal(fx->marks, 1); /* only event 4 got to the end */
    assert_int_equal(log_count(fx, "instruction limit of 1000000 exceeded (runaway loop?)"), 3);
    assert_logged(fx, "runaway.lua:3: instruction limit");
    /* A fresh call gets a fresh budget. */
    publish(fx, QTD_DOM_CLOUD, 4, QTD_CODE_OK, NULL);
    assert_true(run_until(fx, &fx->marks, 2, 2000));
}

static void lua_runaway_script_is_stopped_and_host_keeps_working(void **state)
{
    fx_t *fx = *state;
    fx->opts.instr_limit = 1000000;
    int rc = host_run(fx, "runaway_top.lua",
                      "quecIot.init()\n"
                      "quecIot.setEventCB(function() test.mark() end)\n"
                      "while true do end\n");
    assert_int_equal(rc, QTD_ELUA);
    assert_true(log_line_has(fx, "ERROR", "runaway_top.lua:3: instruction limit of 1000000"));
    /* The callback set before the loop stays and runs. */
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_CONNECT, QTD_CODE_OK, NULL);
    assert_true(run_until(fx, &fx->marks, 1, 2000));
    assert_int_equal(eval(fx, "test.mark()"), 0);
    assert_int_equal(fx->marks, 2);
}

static void lua_memory_cap_is_reported_and_host_keeps_working(void **state)
{
    fx_t *fx = *state;
    fx->opts.mem_limit = 4u << 20;
    int rc = host_run(fx, "memory.lua",
                      "quecIot.init()\n"
                      "quecIot.setEventCB(function(d)\n"
                      "    if d[1] == 1 then local t = {} for i = 1, 1e8 do t[i] = i end end\n"
                      "    if d[1] == 2 then local s = string.rep('x', 64 * 1024 * 1024) end\n"
                      "    test.mark()\n"
                      "end)\n"
                      "local big = {}\n"
                      "for i = 1, 1e8 do big[i] = {i} end\n");
    assert_int_equal(rc, QTD_ELUA);
    assert_true(fx->lh->mem_used <= fx->opts.mem_limit);
    publish(fx, QTD_DOM_CLOUD, 1, QTD_CODE_OK, NULL);
    publish(fx, QTD_DOM_CLOUD, 2, QTD_CODE_OK, NULL);
    publish(fx, QTD_DOM_CLOUD, 3, QTD_CODE_OK, NULL);
    assert_true(run_until(fx, &fx->marks, 1, 10000));
    assert_int_equal(fx->marks, 1);
    assert_int_equal(log_count(fx, "not enough memory (memory limit of 4194304 bytes)"), 3);
    assert_true(fx->lh->mem_used <= fx->opts.mem_limit);
    assert_int_equal(eval(fx, "local t = {} for i = 1, 1000 do t[i] = {} end test.mark()"), 0);
    assert_int_equal(fx->marks, 2);
}

static void lua_script_errors_are_reported_with_file_and_line(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_run(fx, "syntax.lua", "quecIot.init()\nlocal x = = 1\n"), QTD_ELUA);
    assert_logged(fx, "syntax.lua:2:");
    qtd__lua_close(fx->lh);
    fx->lh = NULL;

    assert_int_equal(host_run(fx, "runtime.lua", "quecIot.init()\n\nerror('oops')\n"), QTD_ELUA);
    assert_true(log_line_has(fx, "ERROR", "runtime.lua:3: oops"));
    qtd__lua_close(fx->lh);
    fx->lh = NULL;

    char missing[PATH_LEN];
    snprintf(missing, sizeof(missing), "%s/missing.lua", fx->dir);
    assert_int_equal(host_start(fx, missing), QTD_ELUA);
    assert_logged(fx, "cannot open");
    /* A failed start still leaves a usable state. */
    assert_int_equal(eval(fx, "test.mark()"), 0);
    assert_int_equal(fx->marks, 1);
}

static void lua_start_without_script_gives_a_usable_state(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_start(fx, NULL), 0);
    assert_int_equal(eval(fx, "assert(quecIot.init()) test.mark()"), 0);
    assert_int_equal(qtd__lua_start(fx->lh), QTD_EBUSY);
    assert_int_equal(fx->marks, 1);
}

/* ---- sandbox, require, log ---------------------------------------------------------- */

static void lua_sandbox_hides_unsafe_functions(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_start(fx, SRC_LUA "sandbox.lua"), 0);
    assert_int_equal(fx->marks, 1);
}

static void lua_require_loads_from_lib_path_then_script_dir(void **state)
{
    fx_t *fx = *state;
    snprintf(fx->lib, sizeof(fx->lib), "%s/lib", fx->dir);
    assert_int_equal(mkdir(fx->lib, 0755), 0);
    char sub[PATH_LEN];
    snprintf(sub, sizeof(sub), "%s/lib/sub", fx->dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    write_file(fx, "lib/util.lua", "return {name = 'lib', args = {...}}\n", NULL);
    write_file(fx, "lib/sub/deep.lua", "return {deep = true}\n", NULL);
    write_file(fx, "util.lua", "return {name = 'script'}\n", NULL);
    write_file(fx, "local_only.lua", "return 'local'\n", NULL);
    write_file(fx, "nothing.lua", "local x = 1\n", NULL);
    write_file(fx, "broken.lua", "return = 1\n", NULL);
    fx->opts.lib_path = fx->lib;
    int rc = host_run(fx, "main.lua",
                      "local u = require('util')\n"
                      "assert(u.name == 'lib', 'lib_path comes first')\n"
                      "assert(u.args[1] == 'util' and u.args[2]:find('lib/util.lua', 1, true))\n"
                      "assert(require('util') == u, 'cached')\n"
                      "assert(require('sub.deep').deep == true)\n"
                      "assert(require('local_only') == 'local')\n"
                      "assert(require('nothing') == true)\n"
                      "local ok, err = pcall(require, 'broken')\n"
                      "assert(not ok and err:find('error loading module', 1, true), err)\n"
                      "ok, err = pcall(require, 'absent')\n"
                      "assert(not ok and err:find('no file', 1, true), err)\n"
                      "test.mark()\n");
    assert_int_equal(rc, 0);
    assert_int_equal(fx->marks, 1);
}

static void lua_print_and_agent_log_reach_the_log(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "log.lua",
                      "print('hello', 42, nil, true)\n"
                      "agent.log.error('e-line', 1)\n"
                      "agent.log.warn('w-line')\n"
                      "agent.log.info('i-line', {} ~= nil)\n"
                      "agent.log.debug('d-line')\n"
                      "warn('warn-', 'piece')\n");
    assert_int_equal(rc, 0);
    assert_true(log_line_has(fx, "INFO", "lua: hello\t42\tnil\ttrue"));
    assert_true(log_line_has(fx, "ERROR", "lua: e-line\t1"));
    assert_true(log_line_has(fx, "WARN", "lua: w-line"));
    assert_true(log_line_has(fx, "INFO", "lua: i-line\ttrue"));
    assert_true(log_line_has(fx, "DEBUG", "lua: d-line"));
    assert_true(log_line_has(fx, "WARN", "lua: warning: warn-piece"));
}

/* ---- timers ------------------------------------------------------------------------- */

static void lua_timer_one_shot_fires_once(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "oneshot.lua",
                      "local t = agent.timer()\n"
                      "assert(t:start(10, 0, function(tm) assert(tm == t) test.mark() end))\n"
                      "-- nobody keeps this one: it fires all the same\n"
                      "agent.timer():start(5, false, function() test.mark() end)\n"
                      "collectgarbage() collectgarbage()\n");
    assert_int_equal(rc, 0);
    assert_true(run_until(fx, &fx->marks, 2, 2000));
    run_until(fx, NULL, 0, 100);
    assert_int_equal(fx->marks, 2);
}

static void lua_timer_periodic_fires_repeatedly_and_stops(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "periodic.lua",
                      "local n = 0\n"
                      "local t = agent.timer()\n"
                      "t:start(5, 1, function(tm)\n"
                      "    n = n + 1 test.mark()\n"
                      "    if n == 3 then assert(tm:stop()) end\n"
                      "end)\n"
                      "local m = 0\n"
                      "agent.timer():start(5, true, function(tm)\n"
                      "    m = m + 1\n"
                      "    if m == 2 then tm:stop() test.say('t2 done') end\n"
                      "end)\n"
                      "local e = 0\n"
                      "agent.timer():start(5, 1, function(tm)\n"
                      "    e = e + 1 test.tick(1)\n"
                      "    if e == 3 then tm:stop() end\n"
                      "    error('tick error ' .. e)\n"
                      "end)\n");
    assert_int_equal(rc, 0);
    assert_true(run_until(fx, &fx->marks, 3, 2000));
    assert_true(run_until(fx, &fx->ticks[1], 3, 2000));
    run_until(fx, NULL, 0, 100);
    assert_int_equal(fx->marks, 3);
    assert_int_equal(fx->ticks[1], 3); /* errors do not stop a periodic timer, stop() does */
    assert_string_equal(fx->said, "t2 done\n");
    assert_logged(fx, "periodic.lua:16: tick error 3");
}

static void lua_timer_rejects_bad_arguments(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "timer_args.lua",
                      "local t = agent.timer()\n"
                      "local f = function() end\n"
                      "assert(not pcall(t.start, t, -1, 0, f))\n"
                      "assert(not pcall(t.start, t, 10, 2, f))\n"
                      "assert(not pcall(t.start, t, 10, 0, 42))\n"
                      "assert(not pcall(t.start, t, 0, 1, f))\n"
                      "assert(not pcall(t.start, t, 'x', 0, f))\n"
                      "assert(not pcall(t.start, {}, 10, 0, f))\n"
                      "assert(t:start(0, 0, function() test.mark() end))\n"
                      "assert(tostring(t):find('agent.timer', 1, true))\n");
    assert_int_equal(rc, 0);
    assert_true(run_until(fx, &fx->marks, 1, 2000));
}

static int count_timers(fx_t *fx)
{
    int n = 0;
    for (qtd_lua_timer_t *t = fx->lh->timers; t != NULL; t = t->next) {
        n++;
    }
    return n;
}

static void lua_timer_gc_closes_idle_handles(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "timer_gc.lua",
                      "for i = 1, 200 do\n"
                      "    local t = agent.timer()\n"
                      "    if i % 2 == 0 then t:start(100000, 0, function() end) t:stop() end\n"
                      "end\n"
                      "collectgarbage() collectgarbage()\n"
                      "keep = agent.timer()\n"
                      "test.mark()\n");
    assert_int_equal(rc, 0);
    assert_int_equal(fx->marks, 1);
    assert_int_equal(count_timers(fx), 1); /* only `keep` left */
    assert_true(fx->lh->pending_closes > 0);
    pump(fx);
    assert_int_equal(fx->lh->pending_closes, 0);
}

static void lua_reload_reruns_script_and_old_timers_stop(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "reload.lua",
                      "local gen = test.load()\n"
                      "local t = agent.timer()\n"
                      "t:start(5, 1, function() test.tick(gen) end)\n"
                      "test.mark()\n");
    assert_int_equal(rc, 0);
    assert_true(run_until(fx, &fx->ticks[1], 2, 2000));
    assert_int_equal(qtd__lua_reload(fx->lh), 0);
    assert_int_equal(fx->loads, 2);
    assert_int_equal(fx->marks, 2);
    int old = fx->ticks[1];
    assert_true(run_until(fx, &fx->ticks[2], 3, 2000));
    assert_int_equal(fx->ticks[1], old);
    /* Reloading again with timers running, then closing with timers running. */
    assert_int_equal(qtd__lua_reload(fx->lh), 0);
    assert_true(run_until(fx, &fx->ticks[3], 1, 2000));
}

/* Registered under quecIot and agent: true when upvalue 1 is the fixture. */
static int r_echo_name(lua_State *L)
{
    lua_pushboolean(L, fx_of(L) != NULL && fx_of(L)->lh != NULL); /* [ok] */
    return 1;
}

static void lua_register_extends_modules_on_every_state(void **state)
{
    fx_t *fx = *state;
    write_file(fx, "reg.lua",
               "assert(quecIot.extra() == true and quecIot.init)\n"
               "assert(agent.extra() == true and agent.timer)\n"
               "assert(mymod.hello() == 'ud' and require('mymod') == mymod)\n"
               "assert(test.ud())\n"
               "test.mark()\n",
               fx->script);
    fx->opts.script = fx->script;
    assert_int_equal(qtd__lua_create(&fx->lh, &fx->loop, fx->st, fx->bus, &fx->opts), 0);
    register_test_module(fx);
    assert_int_equal(qtd__lua_register(fx->lh, "quecIot", "extra", r_echo_name, fx), 0);
    assert_int_equal(qtd__lua_register(fx->lh, "agent", "extra", r_echo_name, fx), 0);
    assert_int_equal(qtd__lua_register(fx->lh, "mymod", "hello", t_where, fx), 0);
    assert_int_equal(qtd__lua_register(fx->lh, "", "x", t_where, fx), QTD_EINVAL);
    assert_int_equal(qtd__lua_start(fx->lh), 0);
    /* A registration after start lands in the running state at once. */
    assert_int_equal(qtd__lua_register(fx->lh, "mymod", "late", t_where, fx), 0);
    assert_int_equal(eval(fx, "assert(mymod.late() == 'ud') test.mark()"), 0);
    assert_int_equal(qtd__lua_reload(fx->lh), 0);
    assert_int_equal(eval(fx, "assert(mymod.late() and mymod.hello()) test.mark()"), 0);
    assert_int_equal(fx->marks, 4);
}

/* ---- value conversion --------------------------------------------------------------- */

static void value_free(qtd_value_t *v)
{
    qtd__value_clear(v);
    qtd_free(v);
}

/* Evaluate code (returning one value) in L and convert the result. */
static int convert(lua_State *L, const char *code, qtd_value_t **out)
{
    if (luaL_dostring(L, code) != LUA_OK) { /* [value] or [err] */
        fail_msg("%s: %s", code, lua_tostring(L, -1));
    }
    int rc = qtd__lua_to_value(L, -1, out);
    lua_pop(L, 1); /* [] */
    return rc;
}

/* Push v, run check (a chunk taking it as ...), expect true; then convert the pushed
 * value again and compare with v. */
static void check_round_trip(lua_State *L, const qtd_value_t *v, const char *check)
{
    assert_int_equal(luaL_loadstring(L, check), LUA_OK);            /* [chunk] */
    qtd__lua_push_value(L, v);                                      /* [chunk value] */
    lua_pushvalue(L, -1);                                           /* [chunk value value] */
    lua_insert(L, -3);                                              /* [value chunk value] */
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_toboolean(L, -1)) { /* [value ok] */
        fail_msg("check failed: %s (%s)", check, lua_tostring(L, -1));
    }
    lua_pop(L, 1); /* [value] */
    qtd_value_t *again = NULL;
    assert_int_equal(qtd__lua_to_value(L, -1, &again), 0);
    lua_pop(L, 1); /* [] */
    assert_true(qtd__value_equal(v, again));
    value_free(again);
}

static void lua_value_conversion_round_trips(void **state)
{
    (void)state;
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    qtd_value_t *v = NULL;

    /* A nested struct inside an array. */
    assert_int_equal(convert(L, "return {{[8] = 2.5, [7] = 1}, {[3] = 'x', [0] = false}}", &v), 0);
    assert_int_equal(v->type, QTD_VAL_ARRAY);
    assert_int_equal(v->u.list.count, 2);
    const qtd_value_t *s0 = &v->u.list.items[0];
    assert_int_equal(s0->type, QTD_VAL_STRUCT);
    assert_int_equal(s0->u.list.count, 2);
    assert_int_equal(s0->u.list.items[0].id, 7); /* sorted by id */
    assert_int_equal(s0->u.list.items[0].type, QTD_VAL_INT);
    assert_int_equal(s0->u.list.items[0].u.i, 1);
    assert_int_equal(s0->u.list.items[1].id, 8);
    assert_int_equal(s0->u.list.items[1].type, QTD_VAL_DOUBLE);
    assert_true(s0->u.list.items[1].u.d == 2.5);
    const qtd_value_t *s1 = &v->u.list.items[1];
    assert_int_equal(s1->u.list.items[0].id, 0);
    assert_int_equal(s1->u.list.items[0].type, QTD_VAL_BOOL);
    assert_int_equal(s1->u.list.items[1].type, QTD_VAL_STRING);
    assert_int_equal(s1->u.list.items[1].u.s.len, 1);
    check_round_trip(L, v,
                     "local v = ... return #v == 2 and v[1][7] == 1 and "
                     "math.type(v[1][7]) == 'integer' and v[1][8] == 2.5 and "
                     "v[2][3] == 'x' and v[2][0] == false");
    value_free(v);

    /* The empty table is an empty array. */
    assert_int_equal(convert(L, "return {}", &v), 0);
    assert_int_equal(v->type, QTD_VAL_ARRAY);
    assert_int_equal(v->u.list.count, 0);
    check_round_trip(L, v, "local v = ... return type(v) == 'table' and next(v) == nil");
    value_free(v);

    /* Negative and float numbers, an integral float stays a float. */
    assert_int_equal(convert(L, "return {[5] = -3, [6] = -2.25, [9] = 2.0, [8191] = 'z'}", &v), 0);
    assert_int_equal(v->type, QTD_VAL_STRUCT);
    assert_int_equal(v->u.list.items[0].u.i, -3);
    assert_true(v->u.list.items[1].u.d == -2.25);
    assert_int_equal(v->u.list.items[2].type, QTD_VAL_DOUBLE);
    assert_int_equal(v->u.list.items[3].id, 8191);
    check_round_trip(L, v,
                     "local v = ... return v[5] == -3 and v[6] == -2.25 and "
                     "math.type(v[9]) == 'float' and v[8191] == 'z'");
    value_free(v);

    /* Keys not exactly 1..n make a struct; scalars and nil at the top. */
    assert_int_equal(convert(L, "return {[1] = 1, [2] = 2, [4] = 4}", &v), 0);
    assert_int_equal(v->type, QTD_VAL_STRUCT);
    value_free(v);
    assert_int_equal(convert(L, "return -7", &v), 0);
    assert_int_equal(v->type, QTD_VAL_INT);
    assert_int_equal(v->u.i, -7);
    value_free(v);
    assert_int_equal(convert(L, "return nil", &v), 0);
    assert_int_equal(v->type, QTD_VAL_NONE);
    value_free(v);
    assert_int_equal(convert(L, "return 'a\\0b'", &v), 0);
    assert_int_equal(v->type, QTD_VAL_STRING);
    assert_int_equal(v->u.s.len, 3);
    value_free(v);

    /* 16 levels of nesting are fine, 17 are not. */
    assert_int_equal(convert(L, "local t = 1 for i = 1, 16 do t = {t} end return t", &v), 0);
    check_round_trip(L, v, "local t = ... for i = 1, 16 do t = t[1] end return t == 1");
    value_free(v);
    assert_int_equal(convert(L, "local t = 1 for i = 1, 17 do t = {t} end return t", &v),
                     QTD_EINVAL);
    assert_null(v);

    /* What the wire cannot carry. */
    static const char *const refused[] = {"return print",
                                          "return {print}",
                                          "return {[8192] = 1}",
                                          "return {[-1] = 1}",
                                          "return {a = 1}",
                                          "return {1, 2, x = 3}",
                                          "return {[1.5] = 1}",
                                          "return {{{io.stdout}}}",
                                          "return coroutine.create(print)",
                                          "return {[1] = 1, [2] = 2, [9000] = 1}"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        v = (qtd_value_t *)1;
        if (convert(L, refused[i], &v) != QTD_EINVAL) {
            fail_msg("accepted: %s", refused[i]);
        }
        assert_null(v);
    }

    /* Push: BYTES become strings, NONE and NULL nil. */
    qtd_value_t bytes = {.type = QTD_VAL_BYTES, .u.s = {"a\0b", 3}};
    qtd__lua_push_value(L, &bytes); /* [s] */
    size_t len = 0;
    assert_int_equal(lua_type(L, -1), LUA_TSTRING);
    lua_tolstring(L, -1, &len);
    assert_int_equal(len, 3);
    lua_pop(L, 1); /* [] */
    qtd_value_t none = {.type = QTD_VAL_NONE};
    qtd__lua_push_value(L, &none); /* [nil] */
    qtd__lua_push_value(L, NULL);  /* [nil nil] */
    assert_true(lua_isnil(L, -1) && lua_isnil(L, -2));
    lua_pop(L, 2); /* [] */
    assert_int_equal(lua_gettop(L), 0);
    lua_close(L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
        T(quecIot_setters_and_getters_accept_valid_values),
        T(quecIot_limits_are_refused_with_false),
        T(quecIot_setters_before_init_return_false),
        T(quecIot_settings_persist_across_restart),
        T(quecIot_setDkDs_follows_the_seed_rules),
        T(quecIot_getWorkState_follows_bus_events),
        T(quecIot_connmode_is_published_and_survives_reload),
        T(lua_event_callback_gets_event_errcode_value),
        T(lua_domain_callback_slots_receive_their_events),
        T(lua_error_in_callback_is_isolated),
        T(lua_runaway_callback_is_stopped_by_the_instruction_limit),
        T(lua_runaway_script_is_stopped_and_host_keeps_working),
        T(lua_memory_cap_is_reported_and_host_keeps_working),
        T(lua_script_errors_are_reported_with_file_and_line),
        T(lua_start_without_script_gives_a_usable_state),
        T(lua_sandbox_hides_unsafe_functions),
        T(lua_require_loads_from_lib_path_then_script_dir),
        T(lua_print_and_agent_log_reach_the_log),
        T(lua_timer_one_shot_fires_once),
        T(lua_timer_periodic_fires_repeatedly_and_stops),
        T(lua_timer_rejects_bad_arguments),
        T(lua_timer_gc_closes_idle_handles),
        T(lua_reload_reruns_script_and_old_timers_stop),
        T(lua_register_extends_modules_on_every_state),
        T(lua_value_conversion_round_trips),
#undef T
    };
    return cmocka_run_group_tests_name("lua", tests, NULL, NULL);
}
