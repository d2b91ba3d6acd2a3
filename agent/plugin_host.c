/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plugin loading and life cycle. Loading: dlopen with RTLD_NOW | RTLD_LOCAL, then the
 * descriptor's first three fields (abi_major, abi_minor, struct_size) are read before
 * anything else is trusted. A plugin is accepted when its major equals ours and its minor is
 * not newer; otherwise it is closed again and the refusal logged with the file, both
 * versions and dlerror(). Life cycle: create every plugin, start them (a provider of a
 * service before its consumers), stop them in reverse start order, destroy and unload.
 * Not here: the config (agent.c) and the services table given to plugins (host_api.c).
 */
#include "agent/agent.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "agent/alloc.h"
#include "agent/bus.h"
#include "agent/log.h"
#include "lua/luahost.h"

/* The fields every ABI version has, read before the rest of the descriptor. */
typedef struct {
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t struct_size;
} abi_head_t;

/* Size of the descriptor as ABI 1.0 defined it: everything up to and including ops. */
#define DESC_MIN_SIZE (offsetof(qtd_plugin_desc_t, ops) + sizeof(void *))

char *qtd__plugin_path(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 16;
    char *p = qtd_malloc(n);
    if (p == NULL) {
        return NULL;
    }
    if (strchr(file, '/') != NULL) {
        snprintf(p, n, "%s", file);
    } else {
        snprintf(p, n, "%s/qtd_%s.so", dir, file);
    }
    return p;
}

/* Under AddressSanitizer a closed plugin stays mapped: LeakSanitizer checks at exit, and
 * names a leak's frames only while their code is mapped (the regular build is the one that
 * runs dlclose). A library a plugin loaded stays with it: the blocks Paho still tracks stay
 * reachable from its heap tracker; Paho checks that heap itself whenever its last client is
 * destroyed, and the cloud plugin logs what it finds. */
#if defined(__SANITIZE_ADDRESS__)
#define KEEP_MAPPED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEP_MAPPED 1
#endif
#endif
#ifndef KEEP_MAPPED
#define KEEP_MAPPED 0
#endif

int qtd__plugin_open(const char *path, qtd_plugin_t **out)
{
    dlerror(); /* clear */
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *e = dlerror();
        qtd_log_error("core", "plugin %s: cannot load: %s", path, e ? e : "unknown dlopen error");
        return QTD_ENOENT;
    }
    const abi_head_t *head = dlsym(dl, "qtd_plugin_desc");
    if (head == NULL) {
        const char *e = dlerror();
        qtd_log_error("core", "plugin %s: not a qthingd plugin: no symbol qtd_plugin_desc (%s)",
                      path, e ? e : "no dlerror");
        dlclose(dl);
        return QTD_ENOENT;
    }
    if (head->abi_major != QTD_PLUGIN_ABI_MAJOR || head->abi_minor > QTD_PLUGIN_ABI_MINOR) {
        const char *e = dlerror();
        qtd_log_error("core",
                      "plugin %s: refused: built for plugin ABI %u.%u, this agent runs ABI "
                      "%u.%u (major must match, minor must not be newer); rebuild it against "
                      "this agent's qthingd/plugin.h (dlerror: %s)",
                      path, head->abi_major, head->abi_minor, QTD_PLUGIN_ABI_MAJOR,
                      QTD_PLUGIN_ABI_MINOR, e ? e : "none");
        dlclose(dl);
        return QTD_EABI;
    }
    const qtd_plugin_desc_t *desc = (const qtd_plugin_desc_t *)head;
    const char *why = NULL;
    if (head->struct_size < DESC_MIN_SIZE) {
        why = "descriptor smaller than ABI 1.0 requires (struct_size)";
    } else if (desc->name == NULL || desc->name[0] == '\0') {
        why = "descriptor has no name";
    } else if (desc->ops == NULL || desc->ops->size < QTD_PLUGIN_OPS_V1_SIZE ||
               desc->ops->create == NULL || desc->ops->destroy == NULL) {
        why = "descriptor has no ops table with create and destroy";
    } else if (desc->config_size > 0 && desc->config_map == NULL) {
        why = "config_size without config_map";
    }
    if (why != NULL) {
        qtd_log_error("core", "plugin %s: refused: %s (ABI %u.%u, struct_size %u)", path, why,
                      head->abi_major, head->abi_minor, head->struct_size);
        dlclose(dl);
        return QTD_EABI;
    }
    qtd_plugin_t *p = qtd_calloc(1, sizeof(*p));
    char *copy = qtd_strdup(path);
    if (p == NULL || copy == NULL) {
        qtd_free(p);
        qtd_free(copy);
        dlclose(dl);
        return QTD_ENOMEM;
    }
    p->dl = dl;
    p->desc = desc;
    p->path = copy;
    p->host.plugin = p;
    p->host.name = desc->name;
    qtd_log_debug("core", "plugin %s: %s %s (ABI %u.%u)", path, desc->name,
                  desc->version ? desc->version : "?", head->abi_major, head->abi_minor);
    *out = p;
    return 0;
}

void qtd__plugin_close(qtd_plugin_t *p)
{
    if (p == NULL) {
        return;
    }
    if (p->dl != NULL && !KEEP_MAPPED) {
        dlclose(p->dl);
    }
    qtd_free(p->config);
    qtd_free(p->path);
    qtd_free(p);
}

/* ---- life cycle ---- */

static void forget(qtd_agent_t *a, qtd_plugin_t *p)
{
    if (a->bus != NULL) {
        qtd__bus_unsubscribe_all(a->bus, p);
    }
    if (a->lua != NULL) {
        qtd__lua_unregister_owner(a->lua, &p->host);
    }
    qtd__services_remove_owner(a, p);
}

int qtd__plugins_create(qtd_agent_t *a)
{
    qtd_plugin_t **pp = &a->plugins;
    while (*pp != NULL) {
        qtd_plugin_t *p = *pp;
        p->host.agent = a;
        int rc = p->desc->ops->create(qtd__host_api(), &p->host, p->config, &p->self);
        if (rc < 0) {
            qtd_log_error("core", "plugin %s (%s): create failed: %s", p->desc->name, p->path,
                          qtd_strerror(rc));
            forget(a, p);
            if (p->required) {
                return rc;
            }
            *pp = p->next;
            qtd__plugin_close(p);
            continue;
        }
        p->created = true;
        qtd_log_info("core", "plugin %s %s loaded from %s", p->desc->name,
                     p->desc->version ? p->desc->version : "", p->path);
        pp = &p->next;
    }
    return 0;
}

int qtd__plugin_start(qtd_agent_t *a, qtd_plugin_t *p)
{
    if (p->started || p->starting || !p->created) {
        return 0; /* a cycle of lookups: the provider is created, that is enough */
    }
    if (p->start_failed) {
        return p->start_rc;
    }
    p->starting = true;
    int rc = p->desc->ops->start != NULL ? p->desc->ops->start(p->self) : 0;
    p->starting = false;
    if (rc < 0) {
        qtd_log_error("core", "plugin %s: start failed: %s", p->desc->name, qtd_strerror(rc));
        p->start_failed = true;
        p->start_rc = rc;
        return rc;
    }
    p->started = true;
    if (a->n_started < QTD_MAX_PLUGINS) {
        a->start_order[a->n_started++] = p;
    }
    return 0;
}

int qtd__plugins_start(qtd_agent_t *a)
{
    for (qtd_plugin_t *p = a->plugins; p != NULL; p = p->next) {
        int rc = qtd__plugin_start(a, p);
        if (rc < 0 && p->required) {
            return rc;
        }
    }
    return 0;
}

static void stop_one(qtd_plugin_t *p)
{
    /* Every created plugin is stopped, started or not: stop() closes its handles. */
    if (p->created && !p->stopped && p->desc->ops->stop != NULL) {
        qtd_log_debug("core", "stopping plugin %s", p->desc->name);
        p->desc->ops->stop(p->self);
    }
    p->stopped = true;
    p->started = false;
}

void qtd__plugins_stop(qtd_agent_t *a)
{
    while (a->n_started > 0) {
        stop_one(a->start_order[--a->n_started]);
    }
    qtd_plugin_t *order[QTD_MAX_PLUGINS];
    size_t n = 0;
    for (qtd_plugin_t *p = a->plugins; p != NULL && n < QTD_MAX_PLUGINS; p = p->next) {
        order[n++] = p;
    }
    while (n-- > 0) {
        stop_one(order[n]);
    }
}

void qtd__plugins_destroy(qtd_agent_t *a)
{
    qtd_plugin_t *order[QTD_MAX_PLUGINS];
    size_t n = 0;
    for (qtd_plugin_t *p = a->plugins; p != NULL && n < QTD_MAX_PLUGINS; p = p->next) {
        order[n++] = p;
    }
    while (n-- > 0) {
        qtd_plugin_t *p = order[n];
        if (p->created) {
            p->desc->ops->destroy(p->self);
            p->self = NULL;
            p->created = false;
        }
        qtd__services_remove_owner(a, p);
        uint64_t left = atomic_load(&p->host.bytes);
        if (left > 0) {
            qtd_log_warn("core", "plugin %s still holds %llu bytes after destroy", p->desc->name,
                         (unsigned long long)left);
        }
    }
    while (a->plugins != NULL) {
        qtd_plugin_t *p = a->plugins;
        a->plugins = p->next;
        qtd__plugin_close(p);
    }
}
