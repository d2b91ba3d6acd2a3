/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent: owns the loop, the store, the bus, the Lua host and the loaded plugins, and
 * runs them from start to clean shutdown. Also the plugin host internals shared by
 * plugin_host.c (loading) and host_api.c (the services table given to plugins).
 */
#ifndef QTD_AGENT_AGENT_H
#define QTD_AGENT_AGENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "agent/bus.h"
#include "qthingd/plugin.h"
#include "store/store.h"

typedef struct qtd_agent_s qtd_agent_t;
typedef struct qtd_plugin_s qtd_plugin_t;
struct qtd_lua_s;

/* The per-plugin handle given to plugins as qtd_host_t. */
struct qtd_host_s {
    qtd_agent_t *agent;
    qtd_plugin_t *plugin; /* NULL for the core's own use */
    const char *name;
    _Atomic uint64_t bytes; /* memory the plugin holds through api->malloc */
};

struct qtd_plugin_s {
    qtd_plugin_t *next;
    void *dl;
    const qtd_plugin_desc_t *desc;
    char *path;
    bool required;
    void *config; /* desc->config_size bytes, filled by the config validator */
    void *self;   /* from ops->create */
    bool created;
    bool starting; /* inside ops->start (a lookup may start its providers first) */
    bool started;
    bool start_failed;
    int start_rc;
    bool stopped;
    qtd_host_t host;
};

/* A service table a plugin provides (host_api.c). */
typedef struct qtd_service_s qtd_service_t;
struct qtd_service_s {
    qtd_service_t *next;
    char *name;
    const void *table; /* begins with uint32_t size */
    void *self;
    qtd_plugin_t *owner;
};

struct qtd_agent_s {
    uv_loop_t *loop;
    qtd_store_t *store;
    qtd_bus_t *bus;
    struct qtd_lua_s *lua;
    const char *data_dir;
    qtd_plugin_t *plugins; /* load order */
    qtd_service_t *services;
    qtd_plugin_t *start_order[64]; /* started plugins, in the order they started */
    size_t n_started;
    unsigned script_watches; /* scripts on probation (host_api.c): one update at a time */
};

#define QTD_MAX_PLUGINS 64

typedef struct qtd_agent_opts_s {
    const char *config_path;
    const char *plugin_dir; /* --plugin-dir, overrides agent.plugin_dir; NULL = config */
    int verbose;            /* each -v raises the log level by one */
    bool check_only;        /* --check */
    char **argv;            /* the command line, for a reload that restarts in place */
} qtd_agent_opts_t;

/* Run the agent until SIGINT/SIGTERM. Returns the process exit code: 0 after a clean
 * shutdown, 2 for a config error, 1 for any other failure to start. */
int qtd__agent_run(const qtd_agent_opts_t *opts);

/* Print the core's config keys (agent, lua, store, plugins) for --help-config. */
void qtd__agent_print_core_keys(void);
void qtd__agent_print_core_keys_md(void);

/* Plugin loading (plugin_host.c). qtd__plugin_open reads the descriptor's ABI fields first
 * and refuses (logging the file, both versions and dlerror()) a plugin this agent cannot
 * run. Returns: 0, QTD_ENOENT (dlopen/dlsym failed), QTD_EABI, QTD_ENOMEM. */
int qtd__plugin_open(const char *path, qtd_plugin_t **out);
/* dlclose and free; the plugin must be destroyed already. Accepts NULL. */
void qtd__plugin_close(qtd_plugin_t *p);
/* The path for a `plugins[i].file` value: a name without '/' is <dir>/qtd_<name>.so. The
 * result is qtd_malloc'ed. */
char *qtd__plugin_path(const char *dir, const char *file);

/* Plugin life cycle (plugin_host.c), over a->plugins in load order.
 * create: every plugin; one whose create() fails is logged and unloaded (its subscriptions,
 * Lua functions and services forgotten) unless it is required. Returns: 0, or the error of
 * a required plugin.
 * start: every created plugin, providers of a service before its consumers (a lookup
 * starts the provider on demand); a failure is logged. Returns: 0, or the error of a
 * required plugin.
 * stop: every created plugin once, in reverse start order, then those never started.
 * destroy: every created plugin (reverse load order), then dlclose them all. */
int qtd__plugins_create(qtd_agent_t *a);
int qtd__plugins_start(qtd_agent_t *a);
void qtd__plugins_stop(qtd_agent_t *a);
void qtd__plugins_destroy(qtd_agent_t *a);
/* Start one plugin now (idempotent). Returns: 0, or its start error (also later calls). */
int qtd__plugin_start(qtd_agent_t *a, qtd_plugin_t *p);

/* The services table (host_api.c). */
const qtd_host_api_t *qtd__host_api(void);
/* Deliver bus events to a plugin's on_event (the bus callback used by subscribe). */
void qtd__host_deliver(void *arg, const qtd_event_t *ev);
/* Forget the services a plugin provides (it failed to create or is going away). */
void qtd__services_remove_owner(qtd_agent_t *a, const qtd_plugin_t *owner);

#endif /* QTD_AGENT_AGENT_H */
