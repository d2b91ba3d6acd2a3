/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's life: read and validate the config (core sections and every plugin's),
 * open the store, bus and Lua host, create plugins, run the operator's script, start the
 * plugins, run the loop; on SIGINT/SIGTERM stop plugins in reverse order, flush the store,
 * close every handle and free everything; on SIGHUP reload the Lua script.
 */
#include "agent/agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "agent/alloc.h"
#include "agent/config.h"
#include "agent/control.h"
#include "agent/paths.h"
#include "agent/log.h"
#include "agent/systemd.h"
#include "agent/watchdog.h"
#include "lua/luahost.h"

typedef struct {
    const char *log_level;
    bool syslog;
    const char *data_dir;
    const char *plugin_dir;
    int64_t watchdog_s;
    const char *control_socket;
} agent_cfg_t;

typedef struct {
    const char *script;
    const char *lib_path;
    int64_t memory_mb;
    int64_t instruction_limit;
} lua_cfg_t;

typedef struct {
    int64_t outbox_cap_mb;
} store_cfg_t;

typedef struct {
    const char *file;
    bool required;
} plugin_item_t;

typedef struct {
    agent_cfg_t agent;
    lua_cfg_t lua;
    store_cfg_t store;
    qtd_cfg_array_t plugins;
} core_cfg_t;

/* data_dir and plugin_dir default to where this binary finds them (paths.c): set by
 * core_defaults() before the table is used. */
static qtd_cfg_key_t agent_keys[] = {
    {QTD_CFG_STRING, "log_level", "info", offsetof(agent_cfg_t, log_level),
     "least severe level logged", 0, 0, "error|warn|info|debug", NULL, 0},
    {QTD_CFG_BOOL, "syslog", "false", offsetof(agent_cfg_t, syslog),
     "log to syslog (facility daemon) instead of stderr", 0, 0, NULL, NULL, 0},
    {QTD_CFG_STRING, "data_dir", NULL, offsetof(agent_cfg_t, data_dir),
     "directory of the database (identity, settings, outbox); created 0700", 0, 0, NULL, NULL, 0},
    {QTD_CFG_STRING, "plugin_dir", NULL, offsetof(agent_cfg_t, plugin_dir),
     "where plugins named without a '/' are found (as qtd_<name>.so)", 0, 0, NULL, NULL, 0},
    {QTD_CFG_STRING, "control_socket", "", offsetof(agent_cfg_t, control_socket),
     "the control socket qthingctl talks to (mode 0600); empty: <data_dir>/qthingd.sock; "
     "\"none\": no socket",
     0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "watchdog_s", "10", offsetof(agent_cfg_t, watchdog_s),
     "seconds one turn of the loop may run before the agent counts as hung and exits 3 for "
     "its supervisor to restart it; 0: no watchdog",
     0, 3600, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static const qtd_cfg_key_t lua_keys[] = {
    {QTD_CFG_STRING, "script", "", offsetof(lua_cfg_t, script),
     "the operator's Lua script (relative to this file); empty: none", 0, 0, NULL, NULL, 0},
    {QTD_CFG_STRING, "lib_path", "", offsetof(lua_cfg_t, lib_path),
     "directory searched by require() besides the script's own", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "memory_mb", "64", offsetof(lua_cfg_t, memory_mb),
     "memory the script may use, MiB", 1, 4096, NULL, NULL, 0},
    {QTD_CFG_INT, "instruction_limit", "100000000", offsetof(lua_cfg_t, instruction_limit),
     "VM instructions one call into the script may run before it is stopped", 1000, 1e12, NULL,
     NULL, 0},
    {.type = QTD_CFG_END},
};

static const qtd_cfg_key_t store_keys[] = {
    {QTD_CFG_INT, "outbox_cap_mb", "64", offsetof(store_cfg_t, outbox_cap_mb),
     "payload MiB kept while offline; beyond it the oldest messages are dropped (counted)", 1,
     1048576, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static const qtd_cfg_key_t plugin_item_keys[] = {
    {QTD_CFG_STRING, "file", NULL, offsetof(plugin_item_t, file),
     "plugin name (found as <plugin_dir>/qtd_<name>.so) or a path to the .so", 0, 0, NULL, NULL, 0},
    {QTD_CFG_BOOL, "required", "false", offsetof(plugin_item_t, required),
     "refuse to start when this plugin cannot be loaded or created", 0, 0, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static const qtd_cfg_key_t plugins_key = {QTD_CFG_ARRAY,
                                          "plugins",
                                          NULL,
                                          0,
                                          "plugins to load, in order (stopped in reverse order)",
                                          0,
                                          0,
                                          NULL,
                                          plugin_item_keys,
                                          sizeof(plugin_item_t)};

typedef struct {
    qtd_agent_t a;
    qtd_config_t *cfg;
    core_cfg_t core;
    uv_loop_t loop;
    uv_signal_t sig_int;
    uv_signal_t sig_term;
    uv_signal_t sig_hup;
    uv_signal_t sig_usr1;
    uv_prepare_t commit;    /* group commit: once per loop turn, before it sleeps */
    uv_timer_t commit_late; /* commits outbox deletions that the last turn let wait */
    uv_idle_t store_work;   /* keeps the loop turning while the store has work in steps */
    /* Loop turns: the longest one (its busy time: what it ran, not what it waited) and how
     * many took more than SLOW_TURN_MS, measured from one check phase to the next. */
    uv_check_t turn;
    uint64_t turn_at_ns;
    uint64_t turn_idle_ns;
    uint64_t turn_max_ns;
    uint64_t turns_slow;
    int lock_fd; /* <data_dir>/qthingd.lock, held (flock) while the agent runs */
    qtd_watchdog_t *watchdog;
    uv_mutex_t lua_lock; /* guards rt->a.lua against the watchdog's thread */
    bool stopping;
    qtd_control_t *control;
    uint64_t started_ms;
    uv_timer_t sd_watchdog; /* systemd's WatchdogSec=: pinged from the loop */
    bool sd_watchdog_open;
    const qtd_agent_opts_t *opts;
    char *config_text; /* the config file as the agent started with it */
    size_t config_len;
    bool reexec;          /* a reload with a changed config: start again in place */
    uv_timer_t reexec_at; /* ... once the reload's answer has gone out */
    bool reexec_open;
} runtime_t;

static void print_sections(void)
{
    qtd__config_print_keys(stdout, "agent", agent_keys);
    qtd__config_print_keys(stdout, "lua", lua_keys);
    qtd__config_print_keys(stdout, "store", store_keys);
    char buf[64];
    snprintf(buf, sizeof(buf), "plugins[i]");
    qtd__config_print_keys(stdout, buf, plugin_item_keys);
}

static void core_defaults(void)
{
    for (qtd_cfg_key_t *k = agent_keys; k->type != QTD_CFG_END; k++) {
        if (strcmp(k->name, "data_dir") == 0) {
            k->def = qtd__path(QTD_PATH_STATE);
        } else if (strcmp(k->name, "plugin_dir") == 0) {
            k->def = qtd__path(QTD_PATH_PLUGINS);
        }
    }
}

/* The core's keys as Markdown, the defaults that depend on where the binary runs named by
 * their rule (docs/config-reference.md is generated from this and the plugins' tables). */
void qtd__agent_print_core_keys_md(void)
{
    for (qtd_cfg_key_t *k = agent_keys; k->type != QTD_CFG_END; k++) {
        if (strcmp(k->name, "data_dir") == 0) {
            k->def = "<prefix>/var/lib/qthingd (/var/lib/qthingd for /usr; $STATE_DIRECTORY "
                     "under systemd)";
        } else if (strcmp(k->name, "plugin_dir") == 0) {
            k->def = "<libdir>/qthingd/plugins";
        }
    }
    static const struct {
        const char *name;
        const qtd_cfg_key_t *keys;
    } sections[] = {{"agent", agent_keys}, {"lua", lua_keys}, {"store", store_keys}};
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        printf("\n### %s\n\n", sections[i].name);
        qtd__config_print_keys_md(stdout, sections[i].name, sections[i].keys);
    }
    printf("\n### plugins\n\n");
    qtd__config_print_keys_md(stdout, "plugins[i]", plugin_item_keys);
}

void qtd__agent_print_core_keys(void)
{
    core_defaults();
    print_sections();
}

/* One agent per data dir: an exclusive flock on <dir>/qthingd.lock, held until exit, with
 * the holder's PID written in it. Returns the fd, or -1 (logged, naming the holder). */
static int lock_data_dir(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/qthingd.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        qtd_log_error("core", "agent.data_dir %s: cannot open %s: %s", dir, path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        qtd_log_error("core",
                      "agent.data_dir %s is in use by another qthingd (pid %s): two agents on "
                      "one data dir would push each other off the platform and mix their "
                      "outboxes; stop that one, or give this one its own agent.data_dir",
                      dir, pid[0] != '\0' ? pid : "unknown");
        close(fd);
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        qtd_log_warn("core", "%s: cannot write the PID: %s", path, strerror(errno));
    }
    return fd;
}

static int mkdir_p(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

/* Read the config, load plugins and validate everything. Returns 0 or 2. */
static int configure(runtime_t *rt, const qtd_agent_opts_t *opts)
{
    core_defaults();
    int rc = qtd__config_load(&rt->cfg, opts->config_path);
    if (rc < 0) {
        qtd_log_error("core", "cannot read config: %s", qtd_strerror(rc));
        return 2;
    }
    qtd_config_t *cfg = rt->cfg;
    qtd__config_section(cfg, "agent", agent_keys, &rt->core.agent);
    qtd__config_section(cfg, "lua", lua_keys, &rt->core.lua);
    qtd__config_section(cfg, "store", store_keys, &rt->core.store);
    qtd__config_value(cfg, "plugins", &plugins_key, &rt->core.plugins);

    int level =
        rt->core.agent.log_level ? qtd__log_parse_level(rt->core.agent.log_level) : QTD_LOG_INFO;
    level = (level < 0 ? QTD_LOG_INFO : level) + opts->verbose;
    qtd__log_setup(level > QTD_LOG_DEBUG ? QTD_LOG_DEBUG : level,
                   rt->core.agent.syslog && !opts->check_only);

    const char *plugin_dir = opts->plugin_dir != NULL
                                 ? opts->plugin_dir
                                 : qtd__config_resolve(cfg, rt->core.agent.plugin_dir);
    qtd_plugin_t **tail = &rt->a.plugins;
    const plugin_item_t *items = rt->core.plugins.items;
    if (rt->core.plugins.count > QTD_MAX_PLUGINS) {
        qtd__config_error(cfg, "plugins: %zu entries; at most %d plugins can be loaded",
                          rt->core.plugins.count, QTD_MAX_PLUGINS);
        rt->core.plugins.count = 0;
    }
    for (size_t i = 0; i < rt->core.plugins.count; i++) {
        const char *file = items[i].file;
        if (file == NULL) {
            continue; /* already reported as missing */
        }
        const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
        char *path =
            qtd__plugin_path(plugin_dir, strchr(file, '/') ? qtd__config_resolve(cfg, file) : file);
        qtd_plugin_t *p = NULL;
        rc = path != NULL ? qtd__plugin_open(path, &p) : QTD_ENOMEM;
        if (rc == 0) {
            for (qtd_plugin_t *q = rt->a.plugins; q != NULL; q = q->next) {
                if (strcmp(q->desc->name, p->desc->name) == 0) {
                    qtd_log_error("core",
                                  "plugin %s: refused: a plugin named \"%s\" is already "
                                  "loaded from %s",
                                  path, p->desc->name, q->path);
                    qtd__plugin_close(p);
                    p = NULL;
                    rc = QTD_EEXIST;
                    break;
                }
            }
        }
        if (rc < 0) {
            if (items[i].required) {
                qtd__config_error(cfg,
                                  "plugins[%zu]: required plugin \"%s\" (%s) cannot be "
                                  "used: %s (see the log line above)",
                                  i + 1, file, path ? path : "?", qtd_strerror(rc));
            } else {
                qtd_log_warn("core", "plugins[%zu]: going on without plugin \"%s\"", i + 1, file);
            }
            /* Its section, if any, cannot be checked: accept it unread. */
            char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)strcspn(base, "."), base);
            qtd__config_ignore(cfg, strncmp(name, "qtd_", 4) == 0 ? name + 4 : name);
            qtd_free(path);
            continue;
        }
        qtd_free(path);
        p->required = items[i].required;
        p->host.agent = &rt->a;
        if (p->desc->config_size > 0) {
            p->config = qtd_calloc(1, p->desc->config_size);
            if (p->config == NULL) {
                qtd__plugin_close(p);
                return 1;
            }
            qtd__config_section(cfg, p->desc->name, p->desc->config_map, p->config);
        } else {
            qtd__config_section(cfg, p->desc->name, (const qtd_cfg_key_t[]){{.type = 0}}, NULL);
        }
        *tail = p;
        tail = &p->next;
    }
    qtd__config_check_unknown(cfg);
    /* What the key tables cannot say: each plugin's own checks, on a config that passed. */
    for (qtd_plugin_t *p = rt->a.plugins; p != NULL && qtd__config_error_count(cfg) == 0;
         p = p->next) {
        const qtd_plugin_ops_t *ops = p->desc->ops;
        if (ops->size >= offsetof(qtd_plugin_ops_t, check) + sizeof(ops->check) &&
            ops->check != NULL && ops->check(qtd__host_api(), &p->host, p->config) != 0) {
            qtd__config_error(cfg, "%s: the section has the errors logged above", p->desc->name);
        }
    }

    /* The script must at least compile. */
    const char *script = qtd__config_resolve(cfg, rt->core.lua.script);
    if (script != NULL && script[0] != '\0') {
        lua_State *L = luaL_newstate();
        if (L != NULL) {
            if (luaL_loadfilex(L, script, "t") != LUA_OK) {
                qtd__config_error(cfg, "lua.script: %s", lua_tostring(L, -1));
            }
            lua_close(L);
        }
    }
    if (qtd__config_error_count(cfg) > 0) {
        qtd__config_print_errors(cfg, stderr);
        fprintf(stderr, "qthingd: %d config error%s; nothing started\n",
                qtd__config_error_count(cfg), qtd__config_error_count(cfg) == 1 ? "" : "s");
        return 2;
    }
    return 0;
}

static void on_commit_late(uv_timer_t *t)
{
    runtime_t *rt = t->data;
    qtd_store_commit(rt->a.store);
}

#define SLOW_TURN_MS 50

static void on_turn(uv_check_t *h)
{
    runtime_t *rt = h->data;
    uint64_t now = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(&rt->loop);
    if (rt->turn_at_ns != 0) {
        uint64_t span = now - rt->turn_at_ns;
        uint64_t waited = idle - rt->turn_idle_ns;
        uint64_t busy = span > waited ? span - waited : 0;
        if (busy > rt->turn_max_ns) {
            rt->turn_max_ns = busy;
        }
        rt->turns_slow += busy > (uint64_t)SLOW_TURN_MS * 1000000;
    }
    rt->turn_at_ns = now;
    rt->turn_idle_ns = idle;
}

static void on_store_work(uv_idle_t *h)
{
    runtime_t *rt = h->data;
    if (qtd_store_tick(rt->a.store) <= 0) {
        uv_idle_stop(h);
    }
}

static void on_commit(uv_prepare_t *h)
{
    runtime_t *rt = h->data;
    if (qtd_store_flush(rt->a.store) > 0 && !uv_is_active((uv_handle_t *)&rt->commit_late)) {
        uv_timer_start(&rt->commit_late, on_commit_late, QTD_STORE_DEL_DELAY_MS, 0);
    }
}

static void on_drop(void *arg, uint64_t rows)
{
    runtime_t *rt = arg;
    qtd_event_t ev = {.size = sizeof(ev),
                      .domain = QTD_DOM_AGENT,
                      .event = QTD_AGENT_DROPPED,
                      .errcode = (int32_t)(rows > INT32_MAX ? INT32_MAX : rows)};
    qtd__bus_publish(rt->a.bus, "store", &ev);
}

static void on_lost(void *arg, int64_t first, int64_t last, uint64_t rows)
{
    runtime_t *rt = arg;
    if (rt->a.bus == NULL) {
        return; /* the final commit at shutdown: the store has counted and logged it */
    }
    qtd_value_t ids[2] = {{.type = QTD_VAL_INT, .u.i = first}, {.type = QTD_VAL_INT, .u.i = last}};
    qtd_event_t ev = {.size = sizeof(ev),
                      .domain = QTD_DOM_AGENT,
                      .event = QTD_AGENT_LOST,
                      .errcode = (int32_t)(rows > INT32_MAX ? INT32_MAX : rows),
                      .value = {.type = QTD_VAL_ARRAY, .u.list = {ids, 2}}};
    /* Now, not queued: the ids of the lost rows are given out again by the next puts, and
     * the plugin that put them must match the loss to its rows before that. */
    qtd__bus_deliver_now(rt->a.bus, "store", &ev);
}

static void begin_shutdown(runtime_t *rt, const char *why)
{
    if (rt->stopping) {
        return;
    }
    rt->stopping = true;
    qtd_log_info("core", "%s: shutting down", why);
    qtd__sd_notify("STOPPING=1");
    if (rt->sd_watchdog_open) {
        rt->sd_watchdog_open = false;
        uv_close((uv_handle_t *)&rt->sd_watchdog, NULL);
    }
    if (rt->reexec_open) {
        rt->reexec_open = false;
        uv_close((uv_handle_t *)&rt->reexec_at, NULL);
    }
    qtd__watchdog_shutdown(rt->watchdog); /* stopped once the loop has closed everything */
    /* Deliver what is already queued while everyone is still up. */
    if (rt->a.bus != NULL) {
        qtd__bus_drain(rt->a.bus);
    }
    qtd__plugins_stop(&rt->a);
    uv_mutex_lock(&rt->lua_lock); /* the watchdog's thread reads rt->a.lua */
    qtd_lua_t *lua = rt->a.lua;
    rt->a.lua = NULL;
    uv_mutex_unlock(&rt->lua_lock);
    qtd__lua_close(lua);
    if (rt->a.store != NULL) {
        qtd_store_commit(rt->a.store);
    }
    uv_close((uv_handle_t *)&rt->sig_int, NULL);
    uv_close((uv_handle_t *)&rt->sig_term, NULL);
    uv_close((uv_handle_t *)&rt->sig_hup, NULL);
    uv_close((uv_handle_t *)&rt->sig_usr1, NULL);
    uv_close((uv_handle_t *)&rt->commit, NULL);
    uv_close((uv_handle_t *)&rt->commit_late, NULL);
    uv_close((uv_handle_t *)&rt->store_work, NULL);
    uv_close((uv_handle_t *)&rt->turn, NULL);
    qtd__control_close(rt->control);
    qtd__bus_close(rt->a.bus);
    rt->a.bus = NULL;
}

/* The control socket's status (control.h). */
static void control_status(void *arg, cJSON *j)
{
    runtime_t *rt = arg;
    uint64_t rows = 0, bytes = 0;
    (void)qtd_store_outbox_count(rt->a.store, &rows, &bytes);
    cJSON_AddStringToObject(j, "version", QTD_VERSION);
    cJSON_AddNumberToObject(j, "pid", (double)getpid());
    cJSON_AddNumberToObject(j, "uptime_s", (double)(uv_now(&rt->loop) - rt->started_ms) / 1000);
    cJSON_AddStringToObject(j, "data_dir", rt->a.data_dir != NULL ? rt->a.data_dir : "");
    cJSON_AddNumberToObject(j, "memory_bytes", (double)qtd_alloc_bytes());
    cJSON *o = cJSON_AddObjectToObject(j, "outbox");
    cJSON_AddNumberToObject(o, "rows", (double)rows);
    cJSON_AddNumberToObject(o, "bytes", (double)bytes);
    int64_t oldest = 0;
    if (rows > 0 && qtd_store_outbox_oldest(rt->a.store, &oldest) == 0 && oldest > 0) {
        int64_t age = (int64_t)time(NULL) - oldest;
        cJSON_AddNumberToObject(o, "oldest_age_s", (double)(age > 0 ? age : 0));
    }
    cJSON_AddNumberToObject(o, "dropped", (double)qtd_store_outbox_dropped(rt->a.store));
    cJSON_AddNumberToObject(o, "lost", (double)qtd_store_outbox_lost(rt->a.store));
    cJSON *lp = cJSON_AddObjectToObject(j, "loop");
    cJSON_AddNumberToObject(lp, "turn_max_ms", (double)rt->turn_max_ns / 1e6);
    cJSON_AddNumberToObject(lp, "turns_over_50ms", (double)rt->turns_slow);
    cJSON *sc = cJSON_AddObjectToObject(j, "script");
    cJSON_AddStringToObject(sc, "path", qtd__config_resolve(rt->cfg, rt->core.lua.script));
    cJSON_AddNumberToObject(sc, "errors",
                            rt->a.lua != NULL ? (double)qtd__lua_errors(rt->a.lua) : 0);
    cJSON *ps = cJSON_AddArrayToObject(j, "plugins");
    for (qtd_plugin_t *p = rt->a.plugins; p != NULL; p = p->next) {
        cJSON *pj = cJSON_CreateObject();
        cJSON_AddStringToObject(pj, "name", p->desc->name);
        cJSON_AddStringToObject(pj, "version", p->desc->version ? p->desc->version : "");
        cJSON_AddStringToObject(pj, "state",
                                p->started        ? "running"
                                : p->start_failed ? "start failed"
                                                  : "not started");
        if (p->start_failed) {
            cJSON_AddStringToObject(pj, "error", qtd_strerror(p->start_rc));
        }
        cJSON_AddNumberToObject(pj, "bytes", (double)atomic_load(&p->host.bytes));
        const qtd_plugin_ops_t *ops = p->desc->ops;
        if (p->started && ops->size >= offsetof(qtd_plugin_ops_t, status) + sizeof(ops->status) &&
            ops->status != NULL) {
            char line[512] = "";
            ops->status(p->self, line, sizeof(line));
            cJSON_AddStringToObject(pj, "summary", line);
        }
        cJSON_AddItemToArray(ps, pj);
    }
}

static int outbox_row(void *arg, int64_t id, const char *topic, int qos, const void *payload,
                      size_t len)
{
    (void)payload;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "id", (double)id);
    cJSON_AddStringToObject(r, "topic", topic);
    cJSON_AddNumberToObject(r, "qos", qos);
    cJSON_AddNumberToObject(r, "bytes", (double)len);
    cJSON_AddItemToArray(arg, r);
    return 0;
}

static void control_outbox(void *arg, cJSON *out, size_t limit)
{
    runtime_t *rt = arg;
    (void)qtd_store_outbox_peek(rt->a.store, 0, limit, outbox_row, out);
}

static int find_row(void *arg, int64_t id, const char *topic, int qos, const void *payload,
                    size_t len)
{
    (void)topic, (void)qos, (void)payload, (void)len;
    int64_t *want = arg;
    if (id == *want) {
        *want = 0; /* found */
    }
    return 1; /* one row is enough */
}

/* qthingctl outbox drop: a row the operator gives up on (never sent, whatever its state). */
static int control_outbox_drop(void *arg, int64_t id)
{
    runtime_t *rt = arg;
    int64_t want = id;
    if (qtd_store_outbox_peek(rt->a.store, id - 1, 1, find_row, &want) != 0) {
        return QTD_EIO;
    }
    if (want != 0) {
        return QTD_ENOENT;
    }
    int rc = qtd_store_outbox_del(rt->a.store, id);
    if (rc == 0) {
        rc = qtd_store_commit(rt->a.store);
        qtd_log_warn("core", "outbox row %lld dropped by the operator (qthingctl): never sent",
                     (long long)id);
    }
    return rc;
}

static int control_lua(void *arg, const char *code, size_t len, char *out, size_t n, bool *failed)
{
    runtime_t *rt = arg;
    if (rt->a.lua == NULL) {
        return QTD_ENOENT;
    }
    return qtd__lua_eval(rt->a.lua, code, len, out, n, failed);
}

/* The whole file, or NULL. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (f == NULL) {
        return NULL;
    }
    for (;;) {
        if (n + 4096 > cap) {
            char *b = qtd_realloc(buf, cap = cap * 2 + 8192);
            if (b == NULL) {
                qtd_free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            break;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* `qthingd --check -c <config>` in a child: the config and the script as they are on disk
 * now. Returns its exit status; its first error line into why. */
static int check_config(runtime_t *rt, char *why, size_t n)
{
    char exe[4200];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    int fds[2];
    if (len <= 0 || pipe(fds) != 0) {
        snprintf(why, n, "cannot run the check");
        return -1;
    }
    exe[len] = '\0';
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        const char *args[8] = {exe, "--check", "-c", rt->opts->config_path, NULL, NULL, NULL};
        if (rt->opts->plugin_dir != NULL) {
            args[4] = "--plugin-dir";
            args[5] = rt->opts->plugin_dir;
        }
        execv(exe, (char *const *)args);
        _exit(127);
    }
    close(fds[1]);
    char out[4096];
    size_t used = 0;
    ssize_t r;
    while ((r = read(fds[0], out + used, sizeof(out) - 1 - used)) > 0) {
        used += (size_t)r;
    }
    close(fds[0]);
    out[used] = '\0';
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        snprintf(why, n, "cannot run the check");
        return -1;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    /* the first config error ("qthingd: FILE: key: ...") names it, else the first line */
    char *line = NULL, *first = NULL;
    for (char *p = strtok(out, "\n"); p != NULL; p = strtok(NULL, "\n")) {
        first = first != NULL ? first : p;
        if (line == NULL && strncmp(p, "qthingd: ", 9) == 0 && strstr(p, "config error") == NULL) {
            line = p;
        }
    }
    line = line != NULL ? line : first != NULL ? first : out;
    snprintf(why, n, "%s", line);
    return code;
}

static void on_reexec(uv_timer_t *t)
{
    runtime_t *rt = t->data;
    rt->reexec = true;
    begin_shutdown(rt, "reload: the config changed, starting again");
}

/* A reload (qthingctl reload, SIGHUP): the config and the script are checked first, and on
 * any error the running ones stay. The config file unchanged: the script is reloaded (the
 * cloud session stays up). Changed: the agent stops cleanly and starts again in place (same
 * pid; the outbox is on disk), reconnecting with the new settings. */
static int reload(runtime_t *rt, char *why, size_t n)
{
    why[0] = '\0';
    int code = check_config(rt, why, n);
    if (code != 0) {
        qtd_log_error("core", "reload refused, the running config and script stay: %s", why);
        return QTD_ECONFIG;
    }
    size_t len = 0;
    char *now = read_file(rt->opts->config_path, &len);
    bool same = now != NULL && rt->config_text != NULL && len == rt->config_len &&
                memcmp(now, rt->config_text, len) == 0;
    qtd_free(now);
    if (same) {
        qtd_log_info("core", "reload: the config is unchanged: reloading the Lua script");
        snprintf(why, n, "script reloaded");
        return rt->a.lua != NULL ? qtd__lua_reload(rt->a.lua) : QTD_ENOENT;
    }
    qtd_log_info("core", "reload: the config changed: stopping cleanly and starting again");
    qtd__sd_notify("RELOADING=1");
    if (!rt->reexec_open && uv_timer_init(rt->a.loop, &rt->reexec_at) == 0) {
        rt->reexec_open = true;
        rt->reexec_at.data = rt;
        uv_timer_start(&rt->reexec_at, on_reexec, 200, 0); /* the answer goes out first */
    }
    snprintf(why, n, "config changed: restarting in place");
    return 0;
}

static int control_reload(void *arg, char *msg, size_t n)
{
    return reload(arg, msg, n);
}

/* SIGUSR1: one status line per part, at info level. */
static void log_status(runtime_t *rt)
{
    uint64_t rows = 0;
    uint64_t bytes = 0;
    (void)qtd_store_outbox_count(rt->a.store, &rows, &bytes);
    qtd_log_info("core",
                 "status: pid %d, outbox %llu rows / %llu bytes, %llu dropped by the cap, "
                 "%llu lost to failed commits, %llu bytes allocated",
                 (int)getpid(), (unsigned long long)rows, (unsigned long long)bytes,
                 (unsigned long long)qtd_store_outbox_dropped(rt->a.store),
                 (unsigned long long)qtd_store_outbox_lost(rt->a.store),
                 (unsigned long long)qtd_alloc_bytes());
    for (qtd_plugin_t *p = rt->a.plugins; p != NULL; p = p->next) {
        qtd_log_info("core", "status: plugin %s %s, %s, holds %llu bytes", p->desc->name,
                     p->desc->version ? p->desc->version : "",
                     p->started        ? "running"
                     : p->start_failed ? "start failed"
                                       : "not started",
                     (unsigned long long)atomic_load(&p->host.bytes));
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    runtime_t *rt = h->data;
    if (signum == SIGUSR1) {
        log_status(rt);
        return;
    }
    if (signum == SIGHUP) {
        char why[512];
        qtd_log_info("core", "SIGHUP: reload");
        (void)reload(rt, why, sizeof(why));
        return;
    }
    begin_shutdown(rt, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void report_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    qtd_log_warn("core", "handle still open at exit: %s", uv_handle_type_name(h->type));
}

static void destroy_plugins(runtime_t *rt)
{
    qtd__plugins_destroy(&rt->a);
}

/* The watchdog's view (its thread). */
static void watchdog_what(void *arg, char *buf, size_t n)
{
    runtime_t *rt = arg;
    char running[200] = "";
    if (rt->a.lua != NULL) {
        qtd__lua_running(rt->a.lua, running, sizeof(running));
    }
    snprintf(buf, n, "%s",
             running[0] != '\0' ? running : "code outside the script (a plugin or the core)");
}

static void watchdog_commit(void *arg)
{
    runtime_t *rt = arg;
    (void)qtd_store_commit_if_idle(rt->a.store);
}

static void on_sd_watchdog(uv_timer_t *t)
{
    (void)t;
    qtd__sd_notify("WATCHDOG=1"); /* the loop turns: systemd need not restart us */
}

/* Under systemd (Type=notify): ready now, and the watchdog pinged from the loop at half its
 * period when the unit has WatchdogSec=. Nothing outside systemd. */
static void notify_ready(runtime_t *rt)
{
    uint64_t usec = qtd__sd_watchdog_usec();
    if (usec >= 2000 && uv_timer_init(rt->a.loop, &rt->sd_watchdog) == 0) {
        rt->sd_watchdog_open = true;
        uv_timer_start(&rt->sd_watchdog, on_sd_watchdog, 0, usec / 2000);
    }
    qtd__sd_notify("READY=1\nSTATUS=running");
}

static int start_everything(runtime_t *rt)
{
    qtd_agent_t *a = &rt->a;
    /* Handles first: begin_shutdown() closes them whatever fails below. */
    (void)uv_prepare_init(a->loop, &rt->commit);
    rt->commit.data = rt;
    (void)uv_timer_init(a->loop, &rt->commit_late);
    rt->commit_late.data = rt;
    (void)uv_idle_init(a->loop, &rt->store_work);
    rt->store_work.data = rt;
    (void)uv_check_init(a->loop, &rt->turn);
    rt->turn.data = rt;
    (void)uv_check_start(&rt->turn, on_turn);
    uv_signal_init(a->loop, &rt->sig_int);
    uv_signal_init(a->loop, &rt->sig_term);
    uv_signal_init(a->loop, &rt->sig_hup);
    uv_signal_init(a->loop, &rt->sig_usr1);
    rt->sig_int.data = rt->sig_term.data = rt->sig_hup.data = rt->sig_usr1.data = rt;
    uv_signal_start(&rt->sig_int, on_signal, SIGINT);
    uv_signal_start(&rt->sig_term, on_signal, SIGTERM);
    uv_signal_start(&rt->sig_hup, on_signal, SIGHUP);
    uv_signal_start(&rt->sig_usr1, on_signal, SIGUSR1);
    const char *data_dir = qtd__config_resolve(rt->cfg, rt->core.agent.data_dir);
    a->data_dir = data_dir;
    int rc = mkdir_p(data_dir);
    if (rc < 0) {
        qtd_log_error("core", "agent.data_dir %s: cannot create: %s", data_dir, qtd_strerror(rc));
        return 1;
    }
    rt->lock_fd = lock_data_dir(data_dir);
    if (rt->lock_fd < 0) {
        return 1;
    }
    char db[4200];
    snprintf(db, sizeof(db), "%s/qthingd.db", data_dir);
    qtd_store_opts_t so = {.outbox_cap_bytes = (uint64_t)rt->core.store.outbox_cap_mb << 20,
                           .on_drop = on_drop,
                           .on_drop_arg = rt,
                           .on_lost = on_lost};
    rc = qtd_store_open(&a->store, db, &so);
    if (rc < 0) {
        qtd_log_error("core", "store %s: cannot open: %s", db, qtd_strerror(rc));
        return 1;
    }
    rc = qtd__bus_create(&a->bus, a->loop);
    if (rc < 0) {
        qtd_log_error("core", "event bus: %s", qtd_strerror(rc));
        return 1;
    }
    qtd_lua_opts_t lo = {
        .script = qtd__config_resolve(rt->cfg, rt->core.lua.script),
        .lib_path = qtd__config_resolve(rt->cfg, rt->core.lua.lib_path),
        .mem_limit = (size_t)rt->core.lua.memory_mb << 20,
        .instr_limit = (uint64_t)rt->core.lua.instruction_limit,
    };
    if (lo.script != NULL && lo.script[0] == '\0') {
        lo.script = NULL;
    }
    if (lo.lib_path != NULL && lo.lib_path[0] == '\0') {
        lo.lib_path = NULL;
    }
    uint64_t script_hash = lo.script != NULL ? qtd__watchdog_hash_file(lo.script) : 0;
    bool safe_mode =
        lo.script != NULL && qtd__watchdog_hangs(data_dir, script_hash) >= QTD_WATCHDOG_SAFE_AFTER;
    if (safe_mode) {
        qtd_log_error("core",
                      "safe mode: the script %s hung the agent %d times in a row; it does not "
                      "run until it changes (fix it, then restart), the plugins, the cloud "
                      "session and the outbox do",
                      lo.script, qtd__watchdog_hangs(data_dir, script_hash));
        lo.script = NULL;
    }
    rc = qtd__lua_create(&a->lua, a->loop, a->store, a->bus, &lo);
    if (rc < 0) {
        qtd_log_error("core", "Lua host: %s", qtd_strerror(rc));
        return 1;
    }

    (void)uv_prepare_start(&rt->commit, on_commit);
    (void)uv_idle_start(&rt->store_work, on_store_work);

    /* Create plugins (they register Lua functions, subscribe and provide services here). */
    if (qtd__plugins_create(a) < 0) {
        return 1;
    }
    qtd_watchdog_opts_t wo = {.limit_s = (uint64_t)rt->core.agent.watchdog_s,
                              .data_dir = data_dir,
                              .script_hash = script_hash,
                              .what = watchdog_what,
                              .what_arg = rt,
                              .commit = watchdog_commit,
                              .commit_arg = rt};
    if (qtd__watchdog_start(&rt->watchdog, a->loop, &wo) < 0) {
        qtd_log_warn("core", "watchdog: not enough memory; running without it");
    }
    if (safe_mode) {
        qtd_event_t ev = {.size = sizeof(ev),
                          .domain = QTD_DOM_AGENT,
                          .event = QTD_AGENT_SAFE_MODE,
                          .errcode = QTD_WATCHDOG_SAFE_AFTER};
        (void)qtd__bus_publish(a->bus, "core", &ev);
    }
    rt->started_ms = uv_now(a->loop);
    const char *sock = rt->core.agent.control_socket;
    if (strcmp(sock, "none") != 0) {
        char path[4200];
        if (sock[0] == '\0') {
            snprintf(path, sizeof(path), "%s/qthingd.sock", data_dir);
        } else {
            snprintf(path, sizeof(path), "%s", qtd__config_resolve(rt->cfg, sock));
        }
        qtd_control_ops_t ops = {.status = control_status,
                                 .reload = control_reload,
                                 .lua = control_lua,
                                 .outbox = control_outbox,
                                 .outbox_drop = control_outbox_drop,
                                 .arg = rt};
        if (qtd__control_start(&rt->control, a->loop, a->bus, path, &ops) != 0) {
            qtd_log_warn("core", "going on without a control socket (qthingctl cannot reach "
                                 "this agent)");
        }
    }
    /* The operator's script: an error is logged, the agent goes on. */
    qtd__lua_start(a->lua);
    if (qtd__plugins_start(a) < 0) {
        return 1;
    }
    qtd_log_info("core", "qthingd %s running (pid %d, data in %s)", QTD_VERSION, (int)getpid(),
                 data_dir);
    notify_ready(rt);
    return 0;
}

int qtd__agent_run(const qtd_agent_opts_t *opts)
{
    runtime_t *rt = qtd_calloc(1, sizeof(*rt));
    if (rt == NULL || uv_mutex_init(&rt->lua_lock) != 0) {
        qtd_free(rt);
        return 1;
    }
    qtd__log_setup(QTD_LOG_INFO + opts->verbose > QTD_LOG_DEBUG ? QTD_LOG_DEBUG
                                                                : QTD_LOG_INFO + opts->verbose,
                   false);
    rt->opts = opts;
    rt->config_text = read_file(opts->config_path, &rt->config_len);
    int code = configure(rt, opts);
    if (code != 0 || opts->check_only) {
        if (code == 0) {
            size_t n = 0;
            for (qtd_plugin_t *p = rt->a.plugins; p != NULL; p = p->next) {
                n++;
            }
            printf("%s: configuration OK (%zu plugin%s)\n", opts->config_path, n,
                   n == 1 ? "" : "s");
            /* What each one does today, in its own words. */
            for (qtd_plugin_t *p = rt->a.plugins; p != NULL; p = p->next) {
                printf("  %s %s: %s\n", p->desc->name, p->desc->version ? p->desc->version : "",
                       p->desc->summary ? p->desc->summary : "");
            }
        }
        destroy_plugins(rt);
        qtd__config_free(rt->cfg);
        uv_mutex_destroy(&rt->lua_lock);
        qtd_free(rt->config_text);
        qtd_free(rt);
        return code;
    }
    /* A stray signal must not end the agent without a clean shutdown. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR2, SIG_IGN);
    signal(SIGALRM, SIG_IGN);
    uv_loop_init(&rt->loop);
    (void)uv_loop_configure(&rt->loop, UV_METRICS_IDLE_TIME); /* for the loop-turn figures */
    rt->a.loop = &rt->loop;
    rt->lock_fd = -1;
    code = start_everything(rt);
    if (code != 0) {
        begin_shutdown(rt, "start-up failed");
    }
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    qtd__watchdog_stop(rt->watchdog);
    rt->watchdog = NULL;
    uv_run(&rt->loop, UV_RUN_DEFAULT); /* the watchdog's handles */
    /* Every handle is closed here: plugins can go. */
    qtd__control_free(rt->control);
    destroy_plugins(rt);
    qtd_store_close(rt->a.store);
    if (rt->lock_fd >= 0) {
        close(rt->lock_fd); /* the lock goes with it, after the store is closed */
    }
    if (uv_loop_close(&rt->loop) != 0) {
        uv_walk(&rt->loop, report_handle, NULL);
        code = code != 0 ? code : 1;
    }
    qtd__config_free(rt->cfg);
    uv_mutex_destroy(&rt->lua_lock);
    bool reexec = rt->reexec && code == 0;
    qtd_free(rt->config_text);
    qtd_free(rt);
    if (code == 0) {
        qtd_log_info("core", "stopped cleanly");
    }
    if (reexec && opts->argv != NULL) {
        /* the reload of a changed config: this binary again, same pid, same arguments */
        qtd_log_info("core", "starting again with the new config");
        execv("/proc/self/exe", opts->argv);
        qtd_log_error("core", "cannot start again: %s; exiting", strerror(errno));
        return 1;
    }
    return code;
}
