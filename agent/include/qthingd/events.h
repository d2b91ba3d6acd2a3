/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Events that travel on the agent's bus: (domain, event, errcode, value), and the value tree
 * used for data and event values. Each domain has one owner, the plugin that defines its
 * numbering in its public header (the platform's domains and numbers are in
 * qthingd/thing.h); QTD_DOM_AGENT is the core's own. This header defines data only; the bus
 * itself is reached through qtd_host_api_t.
 */
#ifndef QTD_QTHINGD_EVENTS_H
#define QTD_QTHINGD_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Domains 1..15 belong to plugins (see their headers); the core owns QTD_DOM_AGENT. */
enum { QTD_DOM_AGENT = 16 };

/* QTD_DOM_AGENT events. errcode carries the number named in the comment. */
enum {
    QTD_AGENT_DROPPED = 4,   /* errcode = rows dropped from the outbox by the disk cap */
    QTD_AGENT_SAFE_MODE = 5, /* the script hung the agent errcode times in a row and does not
                                run (the watchdog); since ABI 1.1 */
    QTD_AGENT_LOST = 6       /* errcode = outbox rows lost because their commit failed (disk
                                full, I/O error); value = ARRAY {first id, last id} of them;
                                since ABI 1.1 */
};

/* Value types. STRUCT children carry their TSL id; ARRAY children have id 0. */
typedef enum {
    QTD_VAL_NONE = 0, /* no value (nil, NULL) */
    QTD_VAL_BOOL = 1,
    QTD_VAL_INT = 2,
    QTD_VAL_DOUBLE = 3,
    QTD_VAL_STRING = 4, /* UTF-8 text, not necessarily NUL-terminated: use len */
    QTD_VAL_BYTES = 5,
    QTD_VAL_STRUCT = 6, /* children keyed by id (a TSL struct or a whole TSL payload) */
    QTD_VAL_ARRAY = 7   /* ordered children */
} qtd_value_type_t;

/* How deep value trees nest: at most this many STRUCT/ARRAY levels below the top one. The
 * wire codec, the Lua conversion and the bus share it, so whatever one accepts the others
 * carry. Since: ABI 1.1. */
#define QTD_VALUE_MAX_NESTING 16

typedef struct qtd_value_s qtd_value_t;
struct qtd_value_s {
    uint8_t type;      /* qtd_value_type_t */
    uint8_t reserved8; /* zero */
    uint16_t id;       /* TSL id inside a STRUCT, 0 elsewhere */
    uint32_t reserved32;
    union {
        bool b;
        int64_t i;
        double d;
        struct {
            const char *ptr; /* STRING/BYTES: len bytes; a NUL follows in bus copies */
            size_t len;
        } s;
        struct {
            qtd_value_t *items; /* STRUCT/ARRAY */
            size_t count;
        } list;
    } u;
};

/*
 * One event. Everything it points to is borrowed: valid only during the callback that
 * receives it. The bus copies an event (value tree included) when it is published.
 */
typedef struct qtd_event_s {
    uint32_t size;      /* sizeof(qtd_event_t) as the publisher knew it */
    int32_t domain;     /* QTD_DOM_* */
    int32_t event;      /* event number within the domain */
    int32_t errcode;    /* the domain's code */
    qtd_value_t value;  /* QTD_VAL_NONE when there is none */
    const char *source; /* name of the publisher ("core", "lua", plugin name); set by the bus */
    void *reserved[4];
} qtd_event_t;

#ifdef __cplusplus
}
#endif
#endif /* QTD_QTHINGD_EVENTS_H */
