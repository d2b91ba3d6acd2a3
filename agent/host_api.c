/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The services table handed to plugins (qtd_host_api_t): thin adapters from the plugin's
 * qtd_host_t to the agent's log, allocator, loop, timers, bus, store and Lua host. Memory a
 * plugin takes through it is counted in its handle so leaks are attributed at shutdown.
 */
#include "agent/agent.h"

#include <string.h>

#include "agent/alloc.h"
#include "agent/log.h"
#include "lua/luahost.h"

struct qtd_timer_s {
    uv_timer_t timer;
    qtd_timer_cb cb;
    void *arg;
    qtd_host_t *host;
};

static void h_vlog(qtd_host_t *h, int level, const char *fmt, va_list ap)
{
    qtd__vlog(level, h->name, fmt, ap);
}

static void h_log(qtd_host_t *h, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    qtd__vlog(level, h->name, fmt, ap);
    va_end(ap);
}

static void *h_malloc(qtd_host_t *h, size_t n)
{
    void *p = qtd_malloc(n);
    if (p != NULL) {
        atomic_fetch_add(&h->bytes, n);
    }
    return p;
}

static void *h_calloc(qtd_host_t *h, size_t n, size_t size)
{
    void *p = qtd_calloc(n, size);
    if (p != NULL) {
        atomic_fetch_add(&h->bytes, qtd_alloc_size(p));
    }
    return p;
}

static void *h_realloc(qtd_host_t *h, void *p, size_t n)
{
    size_t old = qtd_alloc_size(p);
    void *q = qtd_realloc(p, n);
    if (q != NULL) {
        atomic_fetch_sub(&h->bytes, old);
        atomic_fetch_add(&h->bytes, n);
    }
    return q;
}

static void h_free(qtd_host_t *h, void *p)
{
    if (p != NULL) {
        atomic_fetch_sub(&h->bytes, qtd_alloc_size(p));
        qtd_free(p);
    }
}

static uv_loop_t *h_loop(qtd_host_t *h)
{
    return h->agent->loop;
}

static void on_timer(uv_timer_t *t)
{
    qtd_timer_t *tm = t->data;
    tm->cb(tm, tm->arg);
}

static int h_timer_start(qtd_host_t *h, qtd_timer_t **out, uint64_t timeout_ms, uint64_t repeat_ms,
                         qtd_timer_cb cb, void *arg)
{
    if (out == NULL || cb == NULL) {
        return QTD_EINVAL;
    }
    qtd_timer_t *tm = qtd_calloc(1, sizeof(*tm));
    if (tm == NULL) {
        return QTD_ENOMEM;
    }
    int rc = uv_timer_init(h->agent->loop, &tm->timer);
    if (rc < 0) {
        qtd_free(tm);
        return rc;
    }
    tm->timer.data = tm;
    tm->cb = cb;
    tm->arg = arg;
    tm->host = h;
    rc = uv_timer_start(&tm->timer, on_timer, timeout_ms, repeat_ms);
    if (rc < 0) {
        uv_close((uv_handle_t *)&tm->timer, (uv_close_cb)qtd_free);
        return rc;
    }
    *out = tm;
    return 0;
}

static void h_timer_stop(qtd_host_t *h, qtd_timer_t *t)
{
    (void)h;
    if (t != NULL) {
        /* The struct starts with the handle, so the close callback may free it directly. */
        uv_close((uv_handle_t *)&t->timer, (uv_close_cb)qtd_free);
    }
}

static int h_publish(qtd_host_t *h, const qtd_event_t *ev)
{
    return qtd__bus_publish(h->agent->bus, h->name, ev);
}

void qtd__host_deliver(void *arg, const qtd_event_t *ev)
{
    qtd_plugin_t *p = arg;
    if (p->self != NULL && p->desc->ops->on_event != NULL) {
        p->desc->ops->on_event(p->self, ev);
    }
}

static int h_subscribe(qtd_host_t *h, int domain, int event)
{
    if (h->plugin == NULL) {
        return QTD_EINVAL;
    }
    return qtd__bus_subscribe(h->agent->bus, domain, event, qtd__host_deliver, h->plugin);
}

static int h_kv_get(qtd_host_t *h, const char *key, char **val, size_t *len)
{
    char *v = NULL;
    size_t n = 0;
    int rc = qtd_store_kv_get(h->agent->store, key, &v, &n);
    if (rc < 0) {
        return rc;
    }
    atomic_fetch_add(&h->bytes, qtd_alloc_size(v));
    *val = v;
    if (len != NULL) {
        *len = n;
    }
    return 0;
}

static int h_kv_set(qtd_host_t *h, const char *key, const void *val, size_t len)
{
    return qtd_store_kv_set(h->agent->store, key, val, len);
}

static int h_kv_del(qtd_host_t *h, const char *key)
{
    return qtd_store_kv_del(h->agent->store, key);
}

static int h_outbox_put(qtd_host_t *h, const char *topic, int qos, const void *payload, size_t len,
                        int64_t *id)
{
    return qtd_store_outbox_put(h->agent->store, topic, qos, payload, len, id);
}

static int h_outbox_peek(qtd_host_t *h, int64_t after_id, size_t limit, qtd_outbox_cb cb, void *arg)
{
    return qtd_store_outbox_peek(h->agent->store, after_id, limit, cb, arg);
}

static int h_outbox_del_range(qtd_host_t *h, int64_t first, int64_t last)
{
    return qtd_store_outbox_del_range(h->agent->store, first, last);
}

static int h_outbox_del(qtd_host_t *h, int64_t id)
{
    return qtd_store_outbox_del(h->agent->store, id);
}

static int h_outbox_count(qtd_host_t *h, uint64_t *rows, uint64_t *bytes)
{
    return qtd_store_outbox_count(h->agent->store, rows, bytes);
}

static int h_outbox_oldest(qtd_host_t *h, int64_t *created)
{
    return qtd_store_outbox_oldest(h->agent->store, created);
}

static uint64_t h_outbox_dropped(qtd_host_t *h)
{
    return qtd_store_outbox_dropped(h->agent->store);
}

static int h_lua_add_function(qtd_host_t *h, const char *module, const char *name, qtd_lua_cfn fn,
                              void *ud)
{
    if (h->agent->lua == NULL) {
        return QTD_ENOTSUP;
    }
    return qtd__lua_register_owned(h->agent->lua, h, module, name, fn, ud);
}

static int h_lua_to_value(qtd_host_t *h, struct lua_State *L, int idx, qtd_value_t **out)
{
    (void)h;
    return qtd__lua_to_value(L, idx, out);
}

static void h_lua_push_value(qtd_host_t *h, struct lua_State *L, const qtd_value_t *v)
{
    (void)h;
    qtd__lua_push_value(L, v);
}

static void h_value_free(qtd_host_t *h, qtd_value_t *v)
{
    (void)h;
    if (v != NULL) {
        qtd__value_clear(v);
        qtd_free(v);
    }
}

static const char *h_data_dir(qtd_host_t *h)
{
    return h->agent->data_dir;
}

static const char *h_agent_version(void)
{
    return QTD_VERSION;
}

/* Retired in ABI 1.1, kept for plugins built for 1.0. */
static const char *h_default_dk(qtd_host_t *h)
{
    (void)h;
    return "";
}

static int h_set_default_dk(qtd_host_t *h, const char *dk)
{
    (void)h;
    (void)dk;
    return QTD_ENOTSUP;
}

static int h_store_commit(qtd_host_t *h)
{
    int rc = qtd_store_flush(h->agent->store);
    return rc > 0 ? 0 : rc; /* deletions alone wait: the core commits them in time */
}

/* ---- services ---- */

static qtd_service_t *service_find(qtd_agent_t *a, const char *name)
{
    for (qtd_service_t *s = a->services; s != NULL; s = s->next) {
        if (strcmp(s->name, name) == 0) {
            return s;
        }
    }
    return NULL;
}

static int h_service_provide(qtd_host_t *h, const char *name, const void *table, void *self)
{
    if (name == NULL || name[0] == '\0' || table == NULL ||
        *(const uint32_t *)table < 2 * sizeof(uint32_t) || h->plugin == NULL) {
        return QTD_EINVAL;
    }
    qtd_service_t *old = service_find(h->agent, name);
    if (old != NULL) {
        qtd_log_error("core",
                      "plugin %s: cannot provide service \"%s\": plugin %s provides it "
                      "already; load only one of them",
                      h->name, name, old->owner->desc->name);
        return QTD_EEXIST;
    }
    qtd_service_t *s = qtd_calloc(1, sizeof(*s));
    char *copy = qtd_strdup(name);
    if (s == NULL || copy == NULL) {
        qtd_free(s);
        qtd_free(copy);
        return QTD_ENOMEM;
    }
    s->name = copy;
    s->table = table;
    s->self = self;
    s->owner = h->plugin;
    s->next = h->agent->services;
    h->agent->services = s;
    qtd_log_debug("core", "plugin %s provides service \"%s\" (%u bytes)", h->name, name,
                  *(const uint32_t *)table);
    return 0;
}

static int h_service_lookup(qtd_host_t *h, const char *name, size_t min_size, int flags,
                            const void **table, void **self)
{
    if (name == NULL || table == NULL || self == NULL) {
        return QTD_EINVAL;
    }
    bool quiet = (flags & QTD_SERVICE_OPTIONAL) != 0;
    qtd_service_t *s = service_find(h->agent, name);
    if (s == NULL) {
        if (quiet) {
            qtd_log_debug("core", "plugin %s: optional service \"%s\" is not provided", h->name,
                          name);
        } else {
            qtd_log_error("core",
                          "plugin %s needs service \"%s\", which no loaded plugin "
                          "provides: add the plugin that provides it to `plugins` in the "
                          "config, or remove %s",
                          h->name, name, h->name);
        }
        return QTD_ENOENT;
    }
    uint32_t size = *(const uint32_t *)s->table;
    if (size < min_size) {
        qtd_log_error("core",
                      "plugin %s needs service \"%s\" of at least %zu bytes, but "
                      "plugin %s %s provides %u bytes (an older version): upgrade %s",
                      h->name, name, min_size, s->owner->desc->name,
                      s->owner->desc->version ? s->owner->desc->version : "", size,
                      s->owner->desc->name);
        return QTD_EABI;
    }
    if (s->owner != h->plugin && qtd__plugin_start(h->agent, s->owner) < 0) {
        if (!quiet) {
            qtd_log_error("core",
                          "plugin %s needs service \"%s\", but its provider %s "
                          "failed to start (see above)",
                          h->name, name, s->owner->desc->name);
        }
        return QTD_ENOENT;
    }
    *table = s->table;
    *self = s->self;
    return 0;
}

void qtd__services_remove_owner(qtd_agent_t *a, const qtd_plugin_t *owner)
{
    qtd_service_t **pp = &a->services;
    while (*pp != NULL) {
        qtd_service_t *s = *pp;
        if (s->owner == owner) {
            *pp = s->next;
            qtd_free(s->name);
            qtd_free(s);
        } else {
            pp = &s->next;
        }
    }
}

static int h_store_commit_durable(qtd_host_t *h)
{
    return qtd_store_commit_durable(h->agent->store);
}

static int h_lua_set_event_callback(qtd_host_t *h, struct lua_State *L, int domain, int idx)
{
    if (h->agent->lua == NULL) {
        return QTD_ENOTSUP;
    }
    return qtd__lua_set_event_callback(h->agent->lua, L, domain, idx);
}

static int h_script_replace(qtd_host_t *h, const char *staged, char *err, size_t n)
{
    if (h->agent->lua == NULL || staged == NULL) {
        return QTD_EINVAL;
    }
    if (h->agent->script_watches > 0) {
        /* <script>.previous and the error count belong to the update on probation */
        if (err != NULL && n > 0) {
            snprintf(err, n, "another script update is on probation: try again after it");
        }
        return QTD_EBUSY;
    }
    return qtd__lua_replace(h->agent->lua, staged, err, n);
}

static int h_script_restore(qtd_host_t *h)
{
    return h->agent->lua == NULL ? QTD_ENOENT : qtd__lua_restore(h->agent->lua);
}

static uint64_t h_script_errors(qtd_host_t *h)
{
    return h->agent->lua == NULL ? 0 : qtd__lua_errors(h->agent->lua);
}

/* A script on probation: checked every WATCH_STEP_MS. */
#define WATCH_STEP_MS 250
struct qtd_script_watch_s {
    qtd_timer_t *timer;
    qtd_host_t *h;
    uint64_t errors_at;
    uint64_t left_ms;
    qtd_script_done_cb done;
    void *arg;
};

static void h_script_unwatch(qtd_host_t *h, qtd_script_watch_t *w)
{
    if (w != NULL) {
        h_timer_stop(h, w->timer);
        qtd_free(w);
        h->agent->script_watches--;
    }
}

static void on_watch(qtd_timer_t *t, void *arg)
{
    (void)t;
    qtd_script_watch_t *w = arg;
    qtd_lua_t *lua = w->h->agent->lua;
    int status = 0;
    if (qtd__lua_errors(lua) > w->errors_at) {
        qtd_log_error("core", "the new script failed within its probation: putting the previous "
                              "one back");
        int rc = qtd__lua_restore(lua);
        if (rc != 0) {
            qtd_log_error("core", "the previous script could not be put back: %s",
                          qtd_strerror(rc));
        }
        status = QTD_ELUA;
    } else if (w->left_ms > WATCH_STEP_MS) {
        w->left_ms -= WATCH_STEP_MS;
        return;
    }
    qtd_script_done_cb done = w->done;
    void *done_arg = w->arg;
    h_script_unwatch(w->h, w);
    done(done_arg, status);
}

static int h_script_watch(qtd_host_t *h, uint64_t probation_ms, qtd_script_done_cb done, void *arg,
                          qtd_script_watch_t **out)
{
    if (h->agent->lua == NULL || done == NULL || out == NULL) {
        return QTD_EINVAL;
    }
    qtd_script_watch_t *w = qtd_calloc(1, sizeof(*w));
    if (w == NULL) {
        return QTD_ENOMEM;
    }
    *w = (qtd_script_watch_t){.h = h,
                              .errors_at = qtd__lua_errors(h->agent->lua),
                              .left_ms = probation_ms,
                              .done = done,
                              .arg = arg};
    int rc = h_timer_start(h, &w->timer, WATCH_STEP_MS, WATCH_STEP_MS, on_watch, w);
    if (rc != 0) {
        qtd_free(w);
        return QTD_ENOMEM;
    }
    h->agent->script_watches++;
    *out = w;
    return 0;
}

static const qtd_host_api_t host_api = {
    .size = sizeof(qtd_host_api_t),
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .log = h_log,
    .vlog = h_vlog,
    .strerror = qtd_strerror,
    .malloc = h_malloc,
    .calloc = h_calloc,
    .realloc = h_realloc,
    .free = h_free,
    .loop = h_loop,
    .timer_start = h_timer_start,
    .timer_stop = h_timer_stop,
    .publish = h_publish,
    .post = h_publish, /* the bus is thread-safe: one path for both */
    .subscribe = h_subscribe,
    .kv_get = h_kv_get,
    .kv_set = h_kv_set,
    .kv_del = h_kv_del,
    .outbox_put = h_outbox_put,
    .outbox_peek = h_outbox_peek,
    .outbox_del = h_outbox_del,
    .outbox_count = h_outbox_count,
    .lua_add_function = h_lua_add_function,
    .lua_to_value = h_lua_to_value,
    .lua_push_value = h_lua_push_value,
    .value_free = h_value_free,
    .data_dir = h_data_dir,
    .agent_version = h_agent_version,
    .default_dk = h_default_dk,
    .store_commit = h_store_commit,
    .set_default_dk = h_set_default_dk,
    .service_provide = h_service_provide,
    .service_lookup = h_service_lookup,
    .lua_set_event_callback = h_lua_set_event_callback,
    .store_commit_durable = h_store_commit_durable,
    .script_replace = h_script_replace,
    .script_restore = h_script_restore,
    .script_errors = h_script_errors,
    .script_watch = h_script_watch,
    .script_unwatch = h_script_unwatch,
    .outbox_oldest = h_outbox_oldest,
    .outbox_dropped = h_outbox_dropped,
    .outbox_del_range = h_outbox_del_range,
};

const qtd_host_api_t *qtd__host_api(void)
{
    return &host_api;
}
