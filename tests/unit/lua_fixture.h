/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fixture of the Lua host tests (test_lua.c) and of the cloud plugin's quecIot module
 * tests (test_cloud_config.c): a real libuv loop, a real bus and a real store file in a
 * temporary directory under $QTD_TEST_TMP (default /tmp); scripts come from tests/lua/ or
 * are written into that directory, and report through a `test` module. The agent's log
 * (stderr) is captured into a file per test so that tests can check what was logged; it is
 * replayed on stderr at the end of the test. Every test ends by closing the loop cleanly
 * (uv_loop_close() == 0) and checking that the agent's allocator is back where it started.
 * With fx->with_cloud the cloud plugin is loaded from its .so through the real loader.
 */
#ifndef QTD_TESTS_UNIT_LUA_FIXTURE_H
#define QTD_TESTS_UNIT_LUA_FIXTURE_H

/* Each test file uses part of the helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netpacket/packet.h>
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
#include <openssl/sha.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/alloc.h"
#include "agent/bus.h"
#include "agent/config.h"
#include "agent/log.h"
#include "lua/lua_internal.h"
#include "lua/luahost.h"
#include "qthingd/thing.h"
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

    /* The cloud plugin, loaded through the real loader when with_cloud is set. */
    bool with_cloud;
    qtd_agent_t agent;
    qtd_config_t *cfg;
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

/* test.setcb(domain, fn): fn receives the bus events of domain, as a plugin binds it */
static int t_setcb(lua_State *L)
{
    lua_Integer domain = luaL_checkinteger(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (qtd__lua_set_event_callback(fx_of(L)->lh, L, (int)domain, 2) != 0) {
        return luaL_error(L, "test.setcb: refused");
    }
    return 0;
}

/* test.default_dk() -> the device key the cloud plugin must default to on a host without a
 * modem, derived here independently of the plugin's code (getifaddrs, not sysfs): the MAC of
 * the universally administered interface with the lowest index, else the first 16 hex digits
 * of /etc/machine-id (lower case), else of SHA-256(hostname). */
static int t_default_dk(lua_State *L)
{
    char dk[17] = "";
    size_t n = 0;
    struct ifaddrs *all = NULL;
    int best = -1;
    if (getifaddrs(&all) == 0) {
        for (struct ifaddrs *a = all; a != NULL; a = a->ifa_next) {
            if (a->ifa_addr == NULL || a->ifa_addr->sa_family != AF_PACKET ||
                (a->ifa_flags & IFF_LOOPBACK) != 0) {
                continue;
            }
            const struct sockaddr_ll *ll = (const struct sockaddr_ll *)a->ifa_addr;
            const unsigned char *m = ll->sll_addr;
            bool zero = (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0;
            if (ll->sll_halen != 6 || (m[0] & 0x03) != 0 || zero ||
                (best >= 0 && ll->sll_ifindex >= best)) {
                continue;
            }
            best = ll->sll_ifindex;
            snprintf(dk, sizeof(dk), "%02x%02x%02x%02x%02x%02x", m[0], m[1], m[2], m[3], m[4],
                     m[5]);
        }
        freeifaddrs(all);
    }
    if (best >= 0) {
        lua_pushstring(L, dk); /* [dk] */
        return 1;
    }
    FILE *f = fopen("/etc/machine-id", "r");
    if (f == NULL) {
        f = fopen("/var/lib/dbus/machine-id", "r");
    }
    if (f != NULL) {
        int ch;
        while (n < 16 && (ch = fgetc(f)) != EOF) {
            if (isxdigit(ch)) {
                dk[n++] = (char)tolower(ch);
            }
        }
        fclose(f);
    }
    if (n < 16) {
        char host[256] = "qthingd";
        gethostname(host, sizeof(host) - 1);
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)host, strlen(host), md);
        for (int i = 0; i < 8; i++) {
            snprintf(dk + 2 * i, 3, "%02x", md[i]);
        }
    }
    lua_pushstring(L, dk); /* [dk] */
    return 1;
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
    static const luaL_Reg fns[] = {{"mark", t_mark},
                                   {"say", t_say},
                                   {"load", t_load},
                                   {"tick", t_tick},
                                   {"bytecode", t_bytecode},
                                   {"setcb", t_setcb},
                                   {"ud", t_ud},
                                   {"default_dk", t_default_dk},
                                   {NULL, NULL}};
    for (const luaL_Reg *f = fns; f->name != NULL; f++) {
        assert_int_equal(qtd__lua_register(fx->lh, "test", f->name, f->func, fx), 0);
    }
}

/* ---- fixture ------------------------------------------------------------------------ */

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
    store_open(fx);
    fx->opts.mem_limit = 32u << 20;
    fx->opts.instr_limit = 10000000;
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

/* Stop the plugins, close the host, let the loop close their handles, destroy them. */
static void host_stop(fx_t *fx)
{
    qtd__plugins_stop(&fx->agent);
    qtd__lua_close(fx->lh);
    fx->lh = NULL;
    for (int i = 0; i < 3; i++) {
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    }
    qtd__plugins_destroy(&fx->agent);
    qtd__config_free(fx->cfg);
    fx->cfg = NULL;
}

static int fx_teardown(void **state)
{
    fx_t *fx = *state;
    host_stop(fx);
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

/* Load the cloud plugin from its .so with its default config and create it, as the agent
 * does (it registers the quecIot module into fx->lh). */
static void cloud_load(fx_t *fx)
{
    fx->agent.loop = &fx->loop;
    fx->agent.bus = fx->bus;
    fx->agent.store = fx->st;
    fx->agent.lua = fx->lh;
    fx->agent.data_dir = fx->dir;
    char empty[PATH_LEN];
    write_file(fx, "agent.lua", "-- defaults\n", empty);
    assert_int_equal(qtd__config_load(&fx->cfg, empty), 0);
    char *so = qtd__plugin_path(QTD_TEST_PLUGIN_DIR, "cloud");
    qtd_plugin_t *p = NULL;
    assert_int_equal(qtd__plugin_open(so, &p), 0);
    qtd_free(so);
    p->host.agent = &fx->agent;
    p->config = qtd_calloc(1, p->desc->config_size);
    assert_non_null(p->config);
    qtd__config_section(fx->cfg, p->desc->name, p->desc->config_map, p->config);
    assert_int_equal(qtd__config_error_count(fx->cfg), 0);
    fx->agent.plugins = p;
    assert_int_equal(qtd__plugins_create(&fx->agent), 0);
}

/* Create the host with fx->opts and script (and the cloud plugin when fx->with_cloud),
 * register `test`, start. Returns start's code. */
static int host_start(fx_t *fx, const char *script)
{
    fx->opts.script = script;
    assert_int_equal(qtd__lua_create(&fx->lh, &fx->loop, fx->st, fx->bus, &fx->opts), 0);
    if (fx->with_cloud) {
        cloud_load(fx);
    }
    register_test_module(fx);
    int rc = qtd__lua_start(fx->lh);
    if (fx->with_cloud) {
        assert_int_equal(qtd__plugins_start(&fx->agent), 0);
    }
    return rc;
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

#endif /* QTD_TESTS_UNIT_LUA_FIXTURE_H */
