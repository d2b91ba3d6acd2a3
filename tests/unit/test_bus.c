/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event bus on a real libuv loop: events arrive in publication order (from the loop
 * thread and from library threads), never inside publish, filtered by domain/event, with
 * their values copied; the loop closes cleanly afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "agent/alloc.h"
#include "agent/bus.h"
#include "testutil.h"

/* The bus knows no domain's meaning: a plugin's domain and two events of the core's. */
enum { DOM_PLUGIN = 1, EVT_RECV = 5, AGENT_EVT_A = 1, AGENT_EVT_B = 2 };

#define MAX_SEEN 20000

typedef struct {
    qtd_bus_t *bus;
    int n;
    int32_t event[MAX_SEEN];
    int32_t errcode[MAX_SEEN];
    int64_t value[MAX_SEEN];
    char text[64];
    bool in_publish;
    bool delivered_inside_publish;
    int republish_left;
} seen_t;

static void record(void *arg, const qtd_event_t *ev)
{
    seen_t *s = arg;
    if (s->in_publish) {
        s->delivered_inside_publish = true;
    }
    if (s->n < MAX_SEEN) {
        s->event[s->n] = ev->event;
        s->errcode[s->n] = ev->errcode;
        s->value[s->n] = ev->value.type == QTD_VAL_INT ? ev->value.u.i : -1;
        s->n++;
    }
    if (ev->value.type == QTD_VAL_STRING) {
        snprintf(s->text, sizeof(s->text), "%s", ev->value.u.s.ptr);
    }
}

static void run_and_close(uv_loop_t *loop, qtd_bus_t *bus)
{
    uv_run(loop, UV_RUN_NOWAIT);
    qtd__bus_close(bus);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static qtd_event_t ev_of(int domain, int event, int errcode, int64_t value)
{
    qtd_event_t ev = {.size = sizeof(ev), .domain = domain, .event = event, .errcode = errcode};
    ev.value.type = QTD_VAL_INT;
    ev.value.u.i = value;
    return ev;
}

static void bus_delivers_in_publication_order(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t *s = calloc(1, sizeof(*s));
    qtd_bus_t *bus = NULL;
    assert_int_equal(qtd__bus_create(&bus, &loop), 0);
    assert_int_equal(qtd__bus_subscribe(bus, DOM_PLUGIN, 0, record, s), 0);
    for (int i = 0; i < 1000; i++) {
        qtd_event_t ev = ev_of(DOM_PLUGIN, 1 + i % 8, 10200, i);
        s->in_publish = true;
        assert_int_equal(qtd__bus_publish(bus, "test", &ev), 0);
        s->in_publish = false;
    }
    assert_int_equal(s->n, 0); /* nothing delivered inside publish */
    run_and_close(&loop, bus);
    assert_false(s->delivered_inside_publish);
    assert_int_equal(s->n, 1000);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(s->value[i], i);
        assert_int_equal(s->event[i], 1 + i % 8);
    }
    free(s);
}

static void bus_filters_by_domain_and_event(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t *all = calloc(1, sizeof(*all));
    seen_t *only5 = calloc(1, sizeof(*only5));
    seen_t *agent = calloc(1, sizeof(*agent));
    qtd_bus_t *bus = NULL;
    assert_int_equal(qtd__bus_create(&bus, &loop), 0);
    qtd__bus_subscribe(bus, DOM_PLUGIN, 0, record, all);
    qtd__bus_subscribe(bus, DOM_PLUGIN, EVT_RECV, record, only5);
    qtd__bus_subscribe(bus, QTD_DOM_AGENT, AGENT_EVT_A, record, agent);
    int events[] = {1, 5, 3, 5, 4};
    for (size_t i = 0; i < 5; i++) {
        qtd_event_t ev = ev_of(DOM_PLUGIN, events[i], 10200, (int64_t)i);
        qtd__bus_publish(bus, "t", &ev);
    }
    qtd_event_t cm = ev_of(QTD_DOM_AGENT, AGENT_EVT_A, 1, 0);
    qtd__bus_publish(bus, "t", &cm);
    qtd_event_t ws = ev_of(QTD_DOM_AGENT, AGENT_EVT_B, 8, 0);
    qtd__bus_publish(bus, "t", &ws);
    run_and_close(&loop, bus);
    assert_int_equal(all->n, 5);
    assert_int_equal(only5->n, 2);
    assert_int_equal(only5->value[0], 1);
    assert_int_equal(only5->value[1], 3);
    assert_int_equal(agent->n, 1);
    assert_int_equal(agent->errcode[0], 1);
    free(all);
    free(only5);
    free(agent);
}

/* A subscriber that publishes: its event goes after everything already queued. */
static void republish(void *arg, const qtd_event_t *ev)
{
    seen_t *s = arg;
    record(arg, ev);
    if (s->republish_left > 0) {
        s->republish_left--;
        qtd_event_t next = ev_of(DOM_PLUGIN, 9, 0, 100 + s->republish_left);
        assert_int_equal(qtd__bus_publish(s->bus, "t", &next), 0);
    }
}

static void bus_publish_from_callback_keeps_order(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t *s = calloc(1, sizeof(*s));
    assert_int_equal(qtd__bus_create(&s->bus, &loop), 0);
    qtd__bus_subscribe(s->bus, DOM_PLUGIN, 0, republish, s);
    s->republish_left = 2;
    for (int i = 0; i < 3; i++) {
        qtd_event_t ev = ev_of(DOM_PLUGIN, 1, 0, i);
        qtd__bus_publish(s->bus, "t", &ev);
    }
    run_and_close(&loop, s->bus);
    /* 0 1 2 were queued first; the republished 101 and 100 follow. */
    int64_t want[] = {0, 1, 2, 101, 100};
    assert_int_equal(s->n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(s->value[i], want[i]);
    }
    free(s);
}

typedef struct {
    qtd_bus_t *bus;
    int base;
} thread_arg_t;

static void publisher(void *arg)
{
    thread_arg_t *t = arg;
    for (int i = 0; i < 5000; i++) {
        qtd_event_t ev = ev_of(DOM_PLUGIN, 5, 10200, t->base + i);
        qtd__bus_publish(t->bus, "thread", &ev);
    }
}

static void bus_post_from_threads_keeps_per_thread_order(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t *s = calloc(1, sizeof(*s));
    qtd_bus_t *bus = NULL;
    assert_int_equal(qtd__bus_create(&bus, &loop), 0);
    qtd__bus_subscribe(bus, DOM_PLUGIN, 0, record, s);
    thread_arg_t a = {bus, 0}, b = {bus, 100000};
    uv_thread_t ta, tb;
    uv_thread_create(&ta, publisher, &a);
    uv_thread_create(&tb, publisher, &b);
    /* Deliver while the threads publish. */
    for (int spins = 0; spins < 100 && s->n < 10000; spins++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_sleep(1);
    }
    uv_thread_join(&ta);
    uv_thread_join(&tb);
    run_and_close(&loop, bus);
    assert_int_equal(s->n, 10000);
    int64_t last_a = -1, last_b = 99999;
    for (int i = 0; i < s->n; i++) {
        if (s->value[i] < 100000) {
            assert_int_equal(s->value[i], last_a + 1);
            last_a = s->value[i];
        } else {
            assert_int_equal(s->value[i], last_b + 1);
            last_b = s->value[i];
        }
    }
    assert_int_equal(last_a, 4999);
    assert_int_equal(last_b, 104999);
    free(s);
}

static void bus_copies_values(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t *s = calloc(1, sizeof(*s));
    qtd_bus_t *bus = NULL;
    assert_int_equal(qtd__bus_create(&bus, &loop), 0);
    qtd__bus_subscribe(bus, DOM_PLUGIN, 0, record, s);
    char *buf = strdup("hello bus");
    qtd_event_t ev = {.size = sizeof(ev), .domain = DOM_PLUGIN, .event = 5, .errcode = 10200};
    ev.value.type = QTD_VAL_STRING;
    ev.value.u.s.ptr = buf;
    ev.value.u.s.len = strlen(buf);
    assert_int_equal(qtd__bus_publish(bus, "t", &ev), 0);
    memset(buf, 'X', strlen(buf)); /* the publisher's buffer dies */
    free(buf);
    /* A nested tree is copied too. */
    qtd_value_t items[2] = {{.type = QTD_VAL_INT, .id = 1, .u.i = -5},
                            {.type = QTD_VAL_BOOL, .id = 2, .u.b = true}};
    qtd_event_t tree = {.size = sizeof(tree), .domain = DOM_PLUGIN, .event = 5};
    tree.value.type = QTD_VAL_STRUCT;
    tree.value.u.list.items = items;
    tree.value.u.list.count = 2;
    assert_int_equal(qtd__bus_publish(bus, "t", &tree), 0);
    /* A malformed tree is refused. */
    qtd_event_t bad = {.size = sizeof(bad), .domain = DOM_PLUGIN, .event = 5};
    bad.value.type = 99;
    assert_int_equal(qtd__bus_publish(bus, "t", &bad), QTD_EINVAL);
    run_and_close(&loop, bus);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->text, "hello bus");
    free(s);
}

static void bus_unsubscribe_stops_delivery(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t *s = calloc(1, sizeof(*s));
    qtd_bus_t *bus = NULL;
    assert_int_equal(qtd__bus_create(&bus, &loop), 0);
    qtd__bus_subscribe(bus, DOM_PLUGIN, 0, record, s);
    qtd_event_t ev = ev_of(DOM_PLUGIN, 1, 0, 1);
    qtd__bus_publish(bus, "t", &ev);
    uv_run(&loop, UV_RUN_NOWAIT);
    qtd__bus_unsubscribe_all(bus, s);
    qtd__bus_publish(bus, "t", &ev);
    run_and_close(&loop, bus);
    assert_int_equal(s->n, 1);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bus_delivers_in_publication_order),
        cmocka_unit_test(bus_filters_by_domain_and_event),
        cmocka_unit_test(bus_publish_from_callback_keeps_order),
        cmocka_unit_test(bus_post_from_threads_keeps_per_thread_order),
        cmocka_unit_test(bus_copies_values),
        cmocka_unit_test(bus_unsubscribe_stops_delivery),
    };
    return tu_finish(cmocka_run_group_tests(tests, NULL, NULL), qtd_alloc_bytes());
}
