/* SPDX-License-Identifier: Apache-2.0 */
/*
 * systemd's notifications (Type=notify: READY, RELOADING, STOPPING, the watchdog) through
 * libsystemd's sd_notify and sd_watchdog_enabled, loaded with dlopen only when systemd asks
 * for them ($NOTIFY_SOCKET set): an agent started by anything else (a shell, procd, a test,
 * a benchmark) never maps libsystemd and the libraries it pulls in (about 1 MiB of RSS).
 * Loop thread only. Not here: when to notify (agent.c).
 */
#include "agent/systemd.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>

#include "agent/log.h"

typedef int (*notify_fn)(int unset_environment, const char *state);
typedef int (*watchdog_fn)(int unset_environment, uint64_t *usec);

static bool tried;
static notify_fn notify;
static watchdog_fn watchdog;

static bool load(void)
{
    if (!tried) {
        tried = true;
        if (getenv("NOTIFY_SOCKET") == NULL) {
            return false;
        }
        void *lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
        if (lib == NULL) {
            qtd_log_warn("core",
                         "NOTIFY_SOCKET is set but libsystemd cannot be loaded (%s): "
                         "systemd gets no notifications (install libsystemd0)",
                         dlerror());
            return false;
        }
        notify = (notify_fn)dlsym(lib, "sd_notify");
        watchdog = (watchdog_fn)dlsym(lib, "sd_watchdog_enabled");
    }
    return notify != NULL;
}

void qtd__sd_notify(const char *state)
{
    if (load()) {
        (void)notify(0, state);
    }
}

uint64_t qtd__sd_watchdog_usec(void)
{
    uint64_t usec = 0;
    if (load() && watchdog != NULL && watchdog(0, &usec) > 0) {
        return usec;
    }
    return 0;
}
