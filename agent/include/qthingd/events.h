/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Events that travel on the agent's bus, numbered exactly as the quecIot guide's tables:
 * domain QTD_DOM_CLOUD is table 4.1 (eventCB), QTD_DOM_HTTPOTA table 4.2 (setHttpOtaEventCb),
 * QTD_DOM_SUBDEV table 4.3 (subDevSetEventCB). QTD_DOM_AGENT carries the agent's own control
 * events (connection mode requests, work state changes) between the core, Lua and plugins.
 * Also the value tree used for thing-model (TSL) data and event values. This header defines
 * data only; the bus itself is reached through qtd_host_api_t.
 */
#ifndef QTD_QTHINGD_EVENTS_H
#define QTD_QTHINGD_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Event domains (which callback table of the seed an event belongs to). */
enum {
    QTD_DOM_CLOUD = 1,   /* seed table 4.1, delivered to quecIot.setEventCB's callback */
    QTD_DOM_HTTPOTA = 2, /* seed table 4.2, delivered to quecIot.setHttpOtaEventCb's callback */
    QTD_DOM_SUBDEV = 3,  /* seed table 4.3, delivered to quecIot.subDevSetEventCB's callback */
    QTD_DOM_AGENT = 16   /* ours: control events between core, Lua host and plugins */
};

/* Seed table 4.1 event numbers (QTD_DOM_CLOUD). */
enum {
    QTD_EVT_AUTH = 1,
    QTD_EVT_CONNECT = 2,
    QTD_EVT_SUBSCRIBE = 3,
    QTD_EVT_SEND = 4,
    QTD_EVT_RECV = 5,
    QTD_EVT_LOGOUT = 7, /* 7/10200; OTA events 7/107xx share the number in the seed */
    QTD_EVT_OTA = 7,
    QTD_EVT_THROTTLE = 8
};

/* Seed error codes used across the tables. */
enum {
    QTD_CODE_OK = 10200,
    QTD_CODE_TSL = 10210,
    QTD_CODE_TSL_READ = 10211,
    QTD_CODE_LOC = 10220,
    QTD_CODE_FAIL = 10300,
    QTD_CODE_TSL_FAIL = 10310,
    QTD_CODE_LOC_FAIL = 10320
};

/* QTD_DOM_AGENT events (ours). errcode carries the number named in the comment. */
enum {
    QTD_AGENT_CONNMODE = 1,  /* errcode = requested mode (quecIot.setConnmode), 0 or 1 */
    QTD_AGENT_WORKSTATE = 2, /* errcode = new work state 0..12 (seed 3.3.3) */
    QTD_AGENT_CONFIG = 3,    /* value.s = the quecIot setting that changed ("server", ...) */
    QTD_AGENT_DROPPED = 4    /* errcode = rows dropped from the outbox by the disk cap */
};

/* Work states of seed 3.3.3 (quecIot.getWorkState). */
enum {
    QTD_WS_UNINITIALIZED = 0,
    QTD_WS_INITIALIZED = 1,
    QTD_WS_AUTHENTICATING = 2,
    QTD_WS_AUTHENTICATED = 3,
    QTD_WS_AUTH_FAILED = 4,
    QTD_WS_REGISTERING = 5,
    QTD_WS_REGISTERED = 6,
    QTD_WS_REGISTER_FAILED = 7,
    QTD_WS_SUBSCRIBED = 8,
    QTD_WS_SUBSCRIBE_FAILED = 9,
    QTD_WS_LOGGING_OUT = 10,
    QTD_WS_LOGGED_OUT = 11,
    QTD_WS_LOGOUT_FAILED = 12
};

/* Value types. STRUCT children carry their TSL id; ARRAY children have id 0. */
typedef enum {
    QTD_VAL_NONE = 0, /* the seed's NULL value */
    QTD_VAL_BOOL = 1,
    QTD_VAL_INT = 2,
    QTD_VAL_DOUBLE = 3,
    QTD_VAL_STRING = 4, /* UTF-8 text, not necessarily NUL-terminated: use len */
    QTD_VAL_BYTES = 5,
    QTD_VAL_STRUCT = 6, /* children keyed by id (a TSL struct or a whole TSL payload) */
    QTD_VAL_ARRAY = 7   /* ordered children */
} qtd_value_type_t;

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
    uint32_t size;       /* sizeof(qtd_event_t) as the publisher knew it */
    int32_t domain;      /* QTD_DOM_* */
    int32_t event;       /* seed event number */
    int32_t errcode;     /* seed errcode */
    qtd_value_t value;   /* QTD_VAL_NONE when the seed's value is NULL */
    const char *source;  /* name of the publisher ("core", "lua", plugin name); set by the bus */
    void *reserved[4];
} qtd_event_t;

#ifdef __cplusplus
}
#endif
#endif /* QTD_QTHINGD_EVENTS_H */
