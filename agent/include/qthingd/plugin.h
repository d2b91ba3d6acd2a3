/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin ABI of qthingd. A plugin is a shared object that exports exactly one symbol,
 * `const qtd_plugin_desc_t qtd_plugin_desc`, and links against no agent symbol: everything
 * it needs from the host arrives as the append-only function table qtd_host_api_t passed to
 * create(). The first three fields of the descriptor are fixed forever so that any agent can
 * read them before trusting anything else. This header is installed; build out-of-tree
 * plugins with `pkg-config --cflags qthingd`.
 */
#ifndef QTD_QTHINGD_PLUGIN_H
#define QTD_QTHINGD_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "qthingd/errors.h"
#include "qthingd/events.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QTD_PLUGIN_ABI_MAJOR 1
#define QTD_PLUGIN_ABI_MINOR 2

struct uv_loop_s;
struct lua_State;

typedef struct qtd_host_s qtd_host_t;   /* opaque, one per loaded plugin */
typedef struct qtd_timer_s qtd_timer_t; /* opaque */

enum { QTD_LOG_ERROR = 0, QTD_LOG_WARN = 1, QTD_LOG_INFO = 2, QTD_LOG_DEBUG = 3 };

enum { QTD_PLUGIN_SOUTH = 1, QTD_PLUGIN_NORTH = 2, QTD_PLUGIN_SERVICE = 3 };

/*
 * Config keys. The core evaluates the config file, validates the section named after the
 * plugin against this table, applies defaults and writes the plugin's config struct (of
 * desc->config_size bytes) before create(). Field types by key type:
 *   QTD_CFG_BOOL   -> bool
 *   QTD_CFG_INT    -> int64_t, within [min, max]; `choices` ("9600|19200") restricts further
 *   QTD_CFG_DOUBLE -> double, within [min, max] unless min == max == 0
 *   QTD_CFG_STRING -> const char * (owned by the core, valid until destroy()); `choices`
 *                     ("rtu|tcp") restricts the value
 *   QTD_CFG_ARRAY  -> qtd_cfg_array_t of items laid out by `sub` (a table of its own), each
 *                     item_size bytes
 * A table ends with an entry whose type is QTD_CFG_END.
 */
typedef enum {
    QTD_CFG_END = 0,
    QTD_CFG_BOOL = 1,
    QTD_CFG_INT = 2,
    QTD_CFG_DOUBLE = 3,
    QTD_CFG_STRING = 4,
    QTD_CFG_ARRAY = 5
} qtd_cfg_type_t;

typedef struct qtd_cfg_key_s qtd_cfg_key_t;
struct qtd_cfg_key_s {
    int type;                 /* qtd_cfg_type_t */
    const char *name;         /* key inside the section */
    const char *def;          /* default as text ("502", "true", "rtu"); NULL: required */
    size_t offset;            /* offsetof() in the plugin's config struct */
    const char *help;         /* one line for --help-plugin and the docs */
    double min, max;          /* INT/DOUBLE range (inclusive) */
    const char *choices;      /* allowed values separated by '|', or NULL */
    const qtd_cfg_key_t *sub; /* ARRAY: the item table */
    size_t item_size;         /* ARRAY: sizeof one item struct */
};

typedef struct qtd_cfg_array_s {
    size_t count;
    void *items; /* count * item_size bytes, owned by the core */
} qtd_cfg_array_t;

typedef void (*qtd_timer_cb)(qtd_timer_t *timer, void *arg);
typedef struct qtd_script_watch_s qtd_script_watch_t; /* opaque (script_watch) */
typedef void (*qtd_script_done_cb)(void *arg, int status);
typedef int (*qtd_lua_cfn)(struct lua_State *L);

/* service_lookup flags. */
enum { QTD_SERVICE_OPTIONAL = 1 };
/* Called for each outbox row in id order; return non-zero to stop the walk. */
typedef int (*qtd_outbox_cb)(void *arg, int64_t id, const char *topic, int qos, const void *payload,
                             size_t len);

/*
 * Host services. Append-only: new members go at the end and `size` tells a plugin which
 * ones this host has (check `offsetof(qtd_host_api_t, member) < api->size` before calling a
 * member newer than ABI 1.0). All members must be called on the loop thread except `post`
 * and the four memory functions.
 */
typedef struct qtd_host_api_s {
    uint32_t size;
    uint32_t abi_minor;

    /* Logging, prefixed with the plugin's name. */
    void (*log)(qtd_host_t *h, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    void (*vlog)(qtd_host_t *h, int level, const char *fmt, va_list ap);
    const char *(*strerror)(int err);

    /* Memory, counted per plugin. These four may be called from any thread. */
    void *(*malloc)(qtd_host_t *h, size_t n);
    void *(*calloc)(qtd_host_t *h, size_t n, size_t size);
    void *(*realloc)(qtd_host_t *h, void *p, size_t n);
    void (*free)(qtd_host_t *h, void *p);

    /* The libuv loop that runs everything; plugins may add their own handles to it. */
    struct uv_loop_s *(*loop)(qtd_host_t *h);

    /* Timers: repeat_ms 0 = one-shot. timer_stop() stops and frees; the callback of a
     * stopped timer is never called again. */
    int (*timer_start)(qtd_host_t *h, qtd_timer_t **out, uint64_t timeout_ms, uint64_t repeat_ms,
                       qtd_timer_cb cb, void *arg);
    void (*timer_stop)(qtd_host_t *h, qtd_timer_t *t);

    /* Event bus. publish (loop thread) and post (any thread) copy the event; delivery is
     * in publication order, on the loop thread, after the publisher returns. subscribe()
     * makes the host call ops->on_event for (domain, event); event 0 means every event of
     * the domain. Returns: 0, QTD_ENOMEM, QTD_EINVAL. */
    int (*publish)(qtd_host_t *h, const qtd_event_t *ev);
    int (*post)(qtd_host_t *h, const qtd_event_t *ev);
    int (*subscribe)(qtd_host_t *h, int domain, int event);

    /* Store: key/value settings (the file is 0600). kv_get allocates *val with the host's
     * malloc (NUL-terminated, len excludes the NUL); free it with api->free.
     * Returns: 0, QTD_ENOENT, QTD_EIO, QTD_ENOMEM. */
    int (*kv_get)(qtd_host_t *h, const char *key, char **val, size_t *len);
    int (*kv_set)(qtd_host_t *h, const char *key, const void *val, size_t len);
    int (*kv_del)(qtd_host_t *h, const char *key);

    /* Store: outbox (store and forward). put returns the row id; rows are committed by the
     * end of the current loop turn; beyond the disk cap the oldest rows are dropped (counted,
     * QTD_DOM_AGENT/QTD_AGENT_DROPPED published). peek walks rows with id > after_id in
     * order, at most limit rows (0 = all), streaming. Returns: 0, QTD_EINVAL, QTD_EIO, and
     * for put QTD_EMSGSIZE (one payload larger than the cap). */
    int (*outbox_put)(qtd_host_t *h, const char *topic, int qos, const void *payload, size_t len,
                      int64_t *id);
    int (*outbox_peek)(qtd_host_t *h, int64_t after_id, size_t limit, qtd_outbox_cb cb, void *arg);
    int (*outbox_del)(qtd_host_t *h, int64_t id);
    int (*outbox_count)(qtd_host_t *h, uint64_t *rows, uint64_t *bytes);

    /* Lua: register a C function as module.name in every (re)loaded script state. The
     * function finds `ud` as lightuserdata in upvalue 1. The module is a global table,
     * created by the first registration that names it (a platform plugin registers the
     * platform SDK's module this way). */
    int (*lua_add_function)(qtd_host_t *h, const char *module, const char *name, qtd_lua_cfn fn,
                            void *ud);
    /* Convert the Lua value at idx to a value tree (tables keyed by integers -> STRUCT,
     * sequences -> ARRAY); free with value_free. Push a tree as Lua values. */
    int (*lua_to_value)(qtd_host_t *h, struct lua_State *L, int idx, qtd_value_t **out);
    void (*lua_push_value)(qtd_host_t *h, struct lua_State *L, const qtd_value_t *v);
    void (*value_free)(qtd_host_t *h, qtd_value_t *v);

    /* Agent facts. */
    const char *(*data_dir)(qtd_host_t *h);
    const char *(*agent_version)(void);
    /* Retired in ABI 1.1 (the device identity belongs to the platform plugin): returns "".
     * Kept so that a plugin built for 1.0 still runs. */
    const char *(*default_dk)(qtd_host_t *h);
    /* Commit the store's pending writes now (outbox rows put this turn, kv writes) instead
     * of at the end of the loop turn; for a plugin that sends only rows already on disk.
     * Outbox deletions alone may wait up to 200 ms for company (a crash before then sends
     * those rows again). Returns: 0, QTD_EIO. */
    int (*store_commit)(qtd_host_t *h);
    /* Retired in ABI 1.1: returns QTD_ENOTSUP. */
    int (*set_default_dk)(qtd_host_t *h, const char *dk);

    /* ---- Since ABI 1.1 ---- */

    /* Services: how plugins call each other. A provider offers a named function table in
     * create(); the table begins with `uint32_t size` (sizeof the table as the provider was
     * built), only ever grows at the end, and stays valid until the provider's destroy().
     * `self` is handed back to consumers with it (the provider's instance). Names are
     * unique ("thing", "download", "modem": see qthingd/thing.h and its neighbours).
     * Returns: 0, QTD_EINVAL (empty name, no table, size < 8), QTD_EEXIST (another plugin
     * provides that name; the log names both), QTD_ENOMEM. */
    int (*service_provide)(qtd_host_t *h, const char *name, const void *table, void *self);
    /* A consumer looks a service up in start() (every plugin is created by then), asking
     * for at least min_size bytes of table (the members it calls; check `size` for newer
     * ones before calling them). When the provider is not started yet, the host starts it
     * first, so providers are started before their consumers and stopped after them.
     * Unless flags has QTD_SERVICE_OPTIONAL, a failure is logged as a start-up error
     * naming the consumer, the service and the fix.
     * Returns: 0 (*table and *self set), QTD_ENOENT (nobody provides it, or its provider
     * failed to start), QTD_EABI (the provider's table is smaller than min_size),
     * QTD_EINVAL. */
    int (*service_lookup)(qtd_host_t *h, const char *name, size_t min_size, int flags,
                          const void **table, void **self);
    /* Lua: make the function at idx of L (a Lua-called C function's state) the script's
     * callback for the events of `domain`, or clear it when the value is nil. The host
     * calls it as cb({event, errcode [, value]}) for each bus event of the domain, through
     * its protected path (instruction and memory caps, errors logged). The callback
     * belongs to the script state: a reloaded script sets it again. May raise (memory).
     * Returns: 0, QTD_EINVAL (not a function or nil, domain <= 0). */
    int (*lua_set_event_callback)(qtd_host_t *h, struct lua_State *L, int domain, int idx);
    /* Commit the store's pending writes now and sync them to the disk before returning,
     * for what must survive a power cut the moment it arrives (a device secret).
     * Returns: 0, QTD_EIO. */
    int (*store_commit_durable)(qtd_host_t *h);

    /* ---- Since ABI 1.2 ---- */

    /* The operator's script replaced by the file at staged while the agent runs (an OTA
     * of the script), not from inside a call into Lua. The new script must compile; the
     * running one is kept as <script>.previous; the new one is renamed into place (a power
     * cut leaves one of the two) and run in a new state, the plugins' sessions untouched.
     * When its first run fails, the previous one is put back and run again. err (may be
     * NULL) receives why it failed. Watch it with script_watch next.
     * When the script in place is the staged file already (an agent stopped between the
     * rename and the caller's record of it), <script>.previous is left alone and the script
     * run again. One update at a time: while a script is on probation (script_watch) this
     * returns QTD_EBUSY.
     * Returns: 0, QTD_ENOENT (no lua.script configured), QTD_ELUA (does not compile, or its
     * first run failed and it was rolled back), QTD_EIO (a file could not be written, e.g.
     * the script's directory is read-only: nothing changed), QTD_EBUSY, QTD_ENOMEM. */
    int (*script_replace)(qtd_host_t *h, const char *staged, char *err, size_t n);
    /* Put the script kept by script_replace back in place and run it (a new script that
     * failed later). Returns: 0, QTD_ENOENT (nothing kept), QTD_EIO, QTD_ELUA, QTD_EBUSY. */
    int (*script_restore)(qtd_host_t *h);
    /* How many calls into the script raised an error since the agent started. */
    uint64_t (*script_errors)(qtd_host_t *h);
    /* Probation of the running script for probation_ms: when a call into it raises an
     * error in that time, the script kept by script_replace is put back and done(arg,
     * QTD_ELUA) called; otherwise done(arg, 0) at the end. Exactly one call of done, on
     * the loop, unless script_unwatch comes first. Returns: 0 (*out set), QTD_ENOMEM. */
    int (*script_watch)(qtd_host_t *h, uint64_t probation_ms, qtd_script_done_cb done, void *arg,
                        qtd_script_watch_t **out);
    /* Stop a probation (before stop() returns, for one under way): done is not called. */
    void (*script_unwatch)(qtd_host_t *h, qtd_script_watch_t *w);

    /* ---- Added after ABI 1.2's members, without a new minor: a host built before them
     * lacks them; call them only when `size` covers them ---- */

    /* Store: when the oldest row of the outbox was written (unix seconds), 0 for an empty
     * outbox. Returns: 0, QTD_EIO. */
    int (*outbox_oldest)(qtd_host_t *h, int64_t *created);
    /* Store: rows the disk cap dropped (drop-oldest) since the database was created; the
     * count is persisted. Rows the operator deletes (qthingctl outbox drop) are not counted. */
    uint64_t (*outbox_dropped)(qtd_host_t *h);
    /* outbox_del of every row with first <= id <= last (rows already gone are fine): one
     * statement for a run of acknowledged rows. Returns: 0, QTD_EIO. */
    int (*outbox_del_range)(qtd_host_t *h, int64_t first, int64_t last);
} qtd_host_api_t;

typedef struct qtd_plugin_ops_s {
    uint32_t size;
    /* Create the instance from its validated config (borrowed until destroy). */
    int (*create)(const qtd_host_api_t *api, qtd_host_t *host, const void *config, void **self);
    void (*destroy)(void *self);
    /* start() after every plugin is created and the script loaded; stop() in reverse order
     * at shutdown, for every created plugin (also one never started, when start-up failed):
     * close what you opened on the loop; the host runs the loop until every handle is closed
     * before destroy(). */
    int (*start)(void *self);
    void (*stop)(void *self);
    /* Events this instance subscribed to. */
    int (*on_event)(void *self, const qtd_event_t *ev);

    /* ---- Optional; the host calls it only when `size` covers it (a table of ABI 1.2 and
     * before ends at on_event) ---- */

    /* Check the validated config for what the key table cannot say (a name that refers to
     * nothing, two things in one place, ...) without creating anything: `qthingd --check`
     * calls it, so that such errors are found before a start. Log each error with
     * api->log (the key path and the fix) and return QTD_ECONFIG; 0 when the config is
     * good. Only api->log, api->vlog, api->strerror and the memory functions may be used. */
    int (*check)(const qtd_host_api_t *api, qtd_host_t *host, const void *config);
    /* A one-line summary of what the instance is doing now, for `qthingctl status`
     * ("online as qdp1116adev1 at mqtt://..., 2 sub-devices online"), into buf (cut to n).
     * Optional; on the loop thread, after start(). */
    void (*status)(void *self, char *buf, size_t n);
} qtd_plugin_ops_t;

/* The size of the ops table of ABI 1.0-1.2 (before check). */
#define QTD_PLUGIN_OPS_V1_SIZE (offsetof(qtd_plugin_ops_t, on_event) + sizeof(void *))

typedef struct qtd_plugin_desc_s {
    uint32_t abi_major; /* fixed forever: the first three fields */
    uint32_t abi_minor;
    uint32_t struct_size; /* sizeof(qtd_plugin_desc_t) as the plugin was built */
    const char *name;     /* unique; also the name of its config section */
    const char *version;  /* semver of the plugin */
    int kind;             /* QTD_PLUGIN_* */
    const char *summary;  /* one line for --help-plugin */
    const qtd_cfg_key_t *config_map;
    size_t config_size;
    const qtd_plugin_ops_t *ops;
    void *reserved[4];
} qtd_plugin_desc_t;

/* Declares the descriptor with default visibility even under -fvisibility=hidden. */
#define QTD_PLUGIN_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
}
#endif
#endif /* QTD_QTHINGD_PLUGIN_H */
