/* SPDX-License-Identifier: Apache-2.0 */
/*
 * systemd's notification protocol for the core (systemd.c): libsystemd is loaded only when
 * the agent runs under systemd ($NOTIFY_SOCKET). Both are no-ops otherwise.
 */
#ifndef QTD_AGENT_SYSTEMD_H
#define QTD_AGENT_SYSTEMD_H

#include <stdint.h>

/* sd_notify(0, state): "READY=1", "RELOADING=1", "STOPPING=1", "WATCHDOG=1", ... */
void qtd__sd_notify(const char *state);
/* The watchdog interval systemd asks for (WatchdogSec=), in microseconds; 0: none. */
uint64_t qtd__sd_watchdog_usec(void);

#endif /* QTD_AGENT_SYSTEMD_H */
