/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event bus: events of qthingd/events.h published by the core, the Lua host or plugins
 * (from any thread), copied into one FIFO and delivered on the loop thread, in publication
 * order, to every subscriber of (domain, event). Delivery never happens inside publish, so a
 * subscriber may publish without reordering anything.
 */
#ifndef QTD_AGENT_BUS_H
#define QTD_AGENT_BUS_H

#include <uv.h>

#include "qthingd/errors.h"
#include "qthingd/events.h"

typedef struct qtd_bus_s qtd_bus_t;
typedef void (*qtd_bus_cb)(void *arg, const qtd_event_t *ev);

/* Returns: 0, QTD_ENOMEM, or a libuv error. */
int qtd__bus_create(qtd_bus_t **out, uv_loop_t *loop);
/* Copies ev (value tree included) and source. Thread-safe.
 * Returns: 0, QTD_ENOMEM, QTD_EINVAL (bad value tree), QTD_ECANCELED (bus closed). */
int qtd__bus_publish(qtd_bus_t *bus, const char *source, const qtd_event_t *ev);
/* event 0 = every event of the domain. Returns: 0, QTD_ENOMEM. */
int qtd__bus_subscribe(qtd_bus_t *bus, int domain, int event, qtd_bus_cb cb, void *arg);
/* Remove every subscription made with this arg (a plugin or Lua state going away). */
void qtd__bus_unsubscribe_all(qtd_bus_t *bus, void *arg);
/* Deliver ev to its subscribers now, inside this call, ahead of the queue (loop thread
 * only): for what must be handled before anything else happens (the store lost rows whose
 * ids it gives out again). ev is borrowed for the call. */
void qtd__bus_deliver_now(qtd_bus_t *bus, const char *source, const qtd_event_t *ev);
/* Deliver whatever is queued now (the shutdown path uses it to flush). */
void qtd__bus_drain(qtd_bus_t *bus);
/* Close the bus's handle; the bus is freed in the close callback (the loop must run). */
void qtd__bus_close(qtd_bus_t *bus);

/* Deep copy / free of value trees (strings and bytes get a trailing NUL in copies). */
int qtd__value_copy(const qtd_value_t *src, qtd_value_t *dst);
void qtd__value_clear(qtd_value_t *v);
/* Same types, ids and values, recursively (doubles compared with ==). */
bool qtd__value_equal(const qtd_value_t *a, const qtd_value_t *b);
/* Returns: 0 if the tree is well formed (types known, depth <= 32), QTD_EINVAL otherwise. */
int qtd__value_check(const qtd_value_t *v);

#endif /* QTD_AGENT_BUS_H */
