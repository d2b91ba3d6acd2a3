/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plugin loading: dlopen with RTLD_NOW | RTLD_LOCAL, then the descriptor's first three
 * fields (abi_major, abi_minor, struct_size) are read before anything else is trusted. A
 * plugin is accepted when its major equals ours and its minor is not newer; otherwise it is
 * closed again and the refusal logged with the file, both versions and dlerror().
 */
#include "agent/agent.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "agent/alloc.h"
#include "agent/log.h"

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
    } else if (desc->ops == NULL || desc->ops->size < sizeof(qtd_plugin_ops_t) ||
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
    if (p->dl != NULL) {
        dlclose(p->dl);
    }
    qtd_free(p->config);
    qtd_free(p->path);
    qtd_free(p);
}
