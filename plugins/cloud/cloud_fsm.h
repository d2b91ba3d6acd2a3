/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The decisions of the cloud session as a pure state machine: given the session's state and
 * one thing that happened (a connection mode request, an MQTT outcome, a platform exception,
 * a server move, changed settings), it returns the next state and the ordered list of actions
 * the session must carry out (connect, subscribe, abandon, retry with a floor, work states and
 * events to publish). It does no I/O and calls no libuv, Paho or host API; the session
 * (cloud_session.c) executes the actions. It is part of qtdcodec so unit tests link it.
 */
#ifndef QTD_PLUGINS_CLOUD_CLOUD_FSM_H
#define QTD_PLUGINS_CLOUD_CLOUD_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reconnection floors by error class (the SDK's levels). */
#define CLOUD_AUTH_RETRY_FLOOR_MS 30000   /* refused credentials */
#define CLOUD_FATAL_RETRY_FLOOR_MS 600000 /* disabled device, PK changed */

/* The session's state as far as decisions go. */
typedef struct {
    int workstate;    /* QTD_WS_* */
    int connmode;     /* 0 or 1 (seed 3.3.1) */
    bool registering; /* this connection uses the registration password */
    bool online;      /* subscribed: data may flow */
} cloud_fsm_t;

typedef enum {
    CLOUD_IN_CONNMODE = 1,         /* mode: the script's connection mode (0/1) */
    CLOUD_IN_RETRY_DUE,            /* the retry timer fired */
    CLOUD_IN_STABLE,               /* the session stayed up for stable_s */
    CLOUD_IN_CONFIG_INVALID,       /* code: no PK/PS or no usable server (before registering) */
    CLOUD_IN_PASSWORD_FAILED,      /* registering: the password could not be built */
    CLOUD_IN_CONNECT_STARTED,      /* registering: an MQTT connection is about to be started */
    CLOUD_IN_CONNECT_START_FAILED, /* the MQTT connection could not be started */
    CLOUD_IN_MQ_CONNECTED,         /* CONNACK 0 */
    CLOUD_IN_CONNACK_FAILED,       /* code: CONNACK return code 1..5 or a Paho error (< 0) */
    CLOUD_IN_SUBSCRIBED,           /* the subscription was granted */
    CLOUD_IN_SUBSCRIBE_FAILED,     /* refused (0x80) or could not be sent */
    CLOUD_IN_LOST,                 /* connection lost */
    CLOUD_IN_PUBLISH_FAILED,       /* a publish failed */
    CLOUD_IN_DISCONNECT_RESULT,    /* sent: our DISCONNECT is under way (else nothing was live) */
    CLOUD_IN_DISCONNECTED,         /* our own disconnect finished */
    CLOUD_IN_REGISTER_TIMEOUT,     /* no DS within register_timeout_s */
    CLOUD_IN_DS_RECEIVED,          /* the platform gave a device secret */
    CLOUD_IN_EXCEPTION,            /* code: platform exception (EXCE_WRITE) errcode */
    CLOUD_IN_SERVER_MOVED,         /* the platform moved the device to another server */
    CLOUD_IN_REAUTH,               /* the platform asks to authenticate again */
    CLOUD_IN_SETTINGS              /* identity_changed, retry_armed: a quecIot setting changed */
} cloud_fsm_in_kind_t;

typedef struct {
    cloud_fsm_in_kind_t kind;
    int mode;              /* CLOUD_IN_CONNMODE */
    int64_t code;          /* CONFIG_INVALID, CONNACK_FAILED, EXCEPTION */
    bool registering;      /* PASSWORD_FAILED, CONNECT_STARTED */
    bool sent;             /* DISCONNECT_RESULT */
    bool identity_changed; /* SETTINGS: the stored identity differs from the connection's */
    bool retry_armed;      /* SETTINGS: a retry is already scheduled */
} cloud_fsm_input_t;

typedef enum {
    CLOUD_ACT_STATE = 1,      /* arg: set the work state */
    CLOUD_ACT_EVENT,          /* event, arg: publish (event, errcode) */
    CLOUD_ACT_CONNECT,        /* start a connection attempt (identity, password, Paho) */
    CLOUD_ACT_SUBSCRIBE,      /* subscribe the downlink topic */
    CLOUD_ACT_ABANDON,        /* drop the current connection without logging out */
    CLOUD_ACT_DISCONNECT,     /* log out; report with CLOUD_IN_DISCONNECT_RESULT */
    CLOUD_ACT_CANCEL_RETRY,   /* stop the retry timer */
    CLOUD_ACT_SCHEDULE_RETRY, /* arg: floor in ms, plus the backoff */
    CLOUD_ACT_RESET_BACKOFF,  /* forget the failed attempts */
    CLOUD_ACT_WIPE_DS,        /* delete the stored device secret */
    CLOUD_ACT_LOAD_IDENTITY,  /* reload the identity for the next connection */
    CLOUD_ACT_START_REGISTER_TIMER,
    CLOUD_ACT_GO_ONLINE, /* online: stable timer, outbox, status and info reports */
    CLOUD_ACT_GO_OFFLINE /* offline: timers stopped, outbox reset */
} cloud_fsm_act_kind_t;

typedef struct {
    cloud_fsm_act_kind_t kind;
    int event;   /* CLOUD_ACT_EVENT */
    int64_t arg; /* STATE: QTD_WS_*, EVENT: errcode, SCHEDULE_RETRY: floor ms */
} cloud_fsm_act_t;

#define CLOUD_FSM_ACT_MAX 12

typedef struct {
    cloud_fsm_act_t act[CLOUD_FSM_ACT_MAX]; /* to be done in this order */
    size_t n;
} cloud_fsm_out_t;

/* True while a connection attempt is under way or the session is up. */
bool cloud_fsm_live(const cloud_fsm_t *st);

/* Whether an EXCE_WRITE errcode is one the platform refuses or throttles a device with
 * (events 1, 2 and 8 of the resolved table); any other code is logged and ignored. */
bool cloud_fsm_refusal_known(int64_t code);

/* One step: *next is the state after @in (st and next may be the same object), *out the
 * actions in order. Every input is accepted in every state; one that does not apply leaves
 * the state as it is and yields no action. */
void cloud_fsm_step(const cloud_fsm_t *st, const cloud_fsm_input_t *in, cloud_fsm_t *next,
                    cloud_fsm_out_t *out);

#endif /* QTD_PLUGINS_CLOUD_CLOUD_FSM_H */
