/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event bus. publish() copies the event into a mutex-protected FIFO and wakes the loop
 * with uv_async_send; the async callback takes the whole queue and delivers each event to
 * every matching subscriber in order. The same path serves the loop thread and library
 * threads (Paho's), so the order is the order of publication whatever the thread.
 */
#include "agent/bus.h"

#include <string.h>

#include "agent/alloc.h"
#include "agent/log.h"

typedef struct item_s {
    struct item_s *next;
    qtd_event_t ev;
    char *source;
} item_t;

typedef struct sub_s {
    struct sub_s *next;
    int domain;
    int event;
    qtd_bus_cb cb;
    void *arg;
    bool dead;
} sub_t;

struct qtd_bus_s {
    uv_async_t async;
    uv_mutex_t lock;
    item_t *head;
    item_t *tail;
    bool closed;
    sub_t *subs;
    int delivering; /* > 0 while callbacks run: unsubscribe marks instead of freeing */
};

static void free_item(item_t *it)
{
    qtd__value_clear(&it->ev.value);
    qtd_free(it->source);
    qtd_free(it);
}

static void sweep_subs(qtd_bus_t *bus)
{
    sub_t **pp = &bus->subs;
    while (*pp != NULL) {
        sub_t *s = *pp;
        if (s->dead) {
            *pp = s->next;
            qtd_free(s);
        } else {
            pp = &s->next;
        }
    }
}

void qtd__bus_drain(qtd_bus_t *bus)
{
    for (;;) {
        uv_mutex_lock(&bus->lock);
        item_t *list = bus->head;
        bus->head = bus->tail = NULL;
        uv_mutex_unlock(&bus->lock);
        if (list == NULL) {
            break;
        }
        while (list != NULL) {
            item_t *it = list;
            list = it->next;
            bus->delivering++;
            for (sub_t *s = bus->subs; s != NULL; s = s->next) {
                if (!s->dead && s->domain == it->ev.domain &&
                    (s->event == 0 || s->event == it->ev.event)) {
                    s->cb(s->arg, &it->ev);
                }
            }
            bus->delivering--;
            free_item(it);
        }
    }
    if (bus->delivering == 0) {
        sweep_subs(bus);
    }
}

void qtd__bus_deliver_now(qtd_bus_t *bus, const char *source, const qtd_event_t *ev)
{
    qtd_event_t copy = *ev;
    copy.source = source;
    bus->delivering++;
    for (sub_t *s = bus->subs; s != NULL; s = s->next) {
        if (!s->dead && s->domain == ev->domain && (s->event == 0 || s->event == ev->event)) {
            s->cb(s->arg, &copy);
        }
    }
    bus->delivering--;
    if (bus->delivering == 0) {
        sweep_subs(bus);
    }
}

static void on_async(uv_async_t *h)
{
    qtd__bus_drain(h->data);
}

int qtd__bus_create(qtd_bus_t **out, uv_loop_t *loop)
{
    qtd_bus_t *bus = qtd_calloc(1, sizeof(*bus));
    if (bus == NULL) {
        return QTD_ENOMEM;
    }
    int rc = uv_mutex_init(&bus->lock);
    if (rc < 0) {
        qtd_free(bus);
        return rc;
    }
    rc = uv_async_init(loop, &bus->async, on_async);
    if (rc < 0) {
        uv_mutex_destroy(&bus->lock);
        qtd_free(bus);
        return rc;
    }
    bus->async.data = bus;
    *out = bus;
    return 0;
}

int qtd__bus_publish(qtd_bus_t *bus, const char *source, const qtd_event_t *ev)
{
    if (bus == NULL || ev == NULL || qtd__value_check(&ev->value) < 0) {
        return QTD_EINVAL;
    }
    item_t *it = qtd_calloc(1, sizeof(*it));
    if (it == NULL) {
        return QTD_ENOMEM;
    }
    /* Copy only the fields this agent knows; a larger struct from a newer plugin is cut. */
    it->ev.size = sizeof(it->ev);
    it->ev.domain = ev->domain;
    it->ev.event = ev->event;
    it->ev.errcode = ev->errcode;
    it->source = qtd_strdup(source != NULL ? source : "?");
    if (it->source == NULL || qtd__value_copy(&ev->value, &it->ev.value) < 0) {
        qtd_free(it->source);
        qtd_free(it);
        return QTD_ENOMEM;
    }
    it->ev.source = it->source;
    uv_mutex_lock(&bus->lock);
    if (bus->closed) {
        uv_mutex_unlock(&bus->lock);
        free_item(it);
        return QTD_ECANCELED;
    }
    if (bus->tail != NULL) {
        bus->tail->next = it;
    } else {
        bus->head = it;
    }
    bus->tail = it;
    uv_mutex_unlock(&bus->lock);
    uv_async_send(&bus->async);
    return 0;
}

int qtd__bus_subscribe(qtd_bus_t *bus, int domain, int event, qtd_bus_cb cb, void *arg)
{
    sub_t *s = qtd_calloc(1, sizeof(*s));
    if (s == NULL) {
        return QTD_ENOMEM;
    }
    s->domain = domain;
    s->event = event;
    s->cb = cb;
    s->arg = arg;
    /* Append: subscribers are called in subscription order. */
    sub_t **pp = &bus->subs;
    while (*pp != NULL) {
        pp = &(*pp)->next;
    }
    *pp = s;
    return 0;
}

void qtd__bus_unsubscribe_all(qtd_bus_t *bus, void *arg)
{
    for (sub_t *s = bus->subs; s != NULL; s = s->next) {
        if (s->arg == arg) {
            s->dead = true;
        }
    }
    if (bus->delivering == 0) {
        sweep_subs(bus);
    }
}

static void on_close(uv_handle_t *h)
{
    qtd_bus_t *bus = h->data;
    while (bus->head != NULL) {
        item_t *it = bus->head;
        bus->head = it->next;
        free_item(it);
    }
    for (sub_t *s = bus->subs; s != NULL; s = s->next) {
        s->dead = true;
    }
    sweep_subs(bus);
    uv_mutex_destroy(&bus->lock);
    qtd_free(bus);
}

void qtd__bus_close(qtd_bus_t *bus)
{
    if (bus == NULL) {
        return;
    }
    uv_mutex_lock(&bus->lock);
    bus->closed = true;
    uv_mutex_unlock(&bus->lock);
    uv_close((uv_handle_t *)&bus->async, on_close);
}
