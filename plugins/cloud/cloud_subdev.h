/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Gateway sub-devices of the cloud plugin (seed 3.9, table 4.3; docs/protocol.md "Gateway
 * sub-device payloads"), shared by cloud_subdev.c (the table, the wire, keepalives and the
 * logins after a reconnect) and cloud_subdev_lua.c (the quecIot.subDev* functions).
 */
#ifndef QTD_PLUGINS_CLOUD_CLOUD_SUBDEV_H
#define QTD_PLUGINS_CLOUD_CLOUD_SUBDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cloud_frame.h"
#include "qthingd/events.h"

typedef struct cloud_s cloud_t;
struct mq_event_s;

#define SUBDEV_KEY_MAX 32 /* PK, PS, DK */
/* The outbox row of a sub-device's uplink is stored under "sub:<its id>" as its topic. */
#define CLOUD_SUBDEV_ROW "sub:"
#define SUBDEV_SECRET_MAX 64 /* DS */

typedef enum {
    SUBDEV_IDLE = 0,    /* not logged in */
    SUBDEV_AUTHING,     /* SUB_AUTH sent */
    SUBDEV_LOGGING_IN,  /* SUB_LOGIN sent */
    SUBDEV_SUBSCRIBING, /* logged in; its downlink topic being subscribed */
    SUBDEV_ONLINE,      /* subscribed */
    SUBDEV_LOGGING_OUT, /* SUB_LOGOUT sent */
    SUBDEV_DEAUTHING,   /* SUB_UNAUTH sent */
} subdev_state_t;

typedef struct subdev_s {
    struct subdev_s *next; /* hash chain */
    uint32_t hash;
    char pk[SUBDEV_KEY_MAX + 1];
    char ps[SUBDEV_KEY_MAX + 1];
    char dk[SUBDEV_KEY_MAX + 1];
    char ds[SUBDEV_SECRET_MAX + 1];
    char id[2 + 2 * SUBDEV_KEY_MAX + 1]; /* qd<PK><DK> */
    subdev_state_t state;
    bool wanted; /* the script connected it: logged in again after the gateway reconnects */
    int session_flag;
    int keepalive_s;
    uint64_t beat_ms; /* loop time of its last heartbeat or uplink */
    uint64_t req_ms;  /* loop time of its request under way (AUTHING ... DEAUTHING) */
    int sub_token;    /* of its downlink subscription */
    uint8_t key[16];  /* its session key (session flag 1), given with its login */
    bool key_ok;
    uint16_t pkgid; /* its own packet ids */
} subdev_t;

typedef struct {
    subdev_t **buckets;
    size_t nbuckets;
    size_t count;
    uv_timer_t tick;    /* every second: keepalives */
    uv_timer_t relogin; /* paced logins after the gateway reconnected */
    bool timers_open;
    size_t relogin_bucket; /* where the paced logins go on */
} cloud_subdevs_t;

/* cloud_subdev.c */
void qtd_cloud_subdev_open(cloud_t *c);
void qtd_cloud_subdev_close(cloud_t *c);
void qtd_cloud_subdev_free(cloud_t *c);
/* The sub-device (pk, dk), or NULL; create: a new one when there is none (NULL on ENOMEM, or
 * when another PK/DK split of the same endpoint qd<PK><DK> is known: logged). */
subdev_t *qtd_cloud_subdev_find(cloud_t *c, const char *pk, const char *dk, bool create);
/* Connect: log in with the DS it has (given, or kept in the store), else authenticate first.
 * Returns: 0, QTD_ENOTCONN (the gateway is offline), QTD_EBUSY (under way), QTD_EIO. */
int qtd_cloud_subdev_connect(cloud_t *c, subdev_t *sd);
int qtd_cloud_subdev_disconnect(cloud_t *c, subdev_t *sd);
int qtd_cloud_subdev_deauth(cloud_t *c, subdev_t *sd);
/* A frame of the sub-device, stored in the outbox (row CLOUD_SUBDEV_ROW<id>, QoS 1) and sent
 * on its bus topic while it is online, in order with its other rows; held while it is
 * offline, kept across outages and restarts. 4/10200, 4/10210 when acknowledged.
 * Returns: 0, QTD_EMSGSIZE, QTD_EIO. */
int qtd_cloud_subdev_send(cloud_t *c, subdev_t *sd, uint16_t cmd, uint16_t pkgid,
                          const uint8_t *payload, size_t len);
/* The sub-device of an outbox row's topic, or NULL (not a sub-device row, or one unknown
 * in this run: its rows are held until the script connects it again). */
subdev_t *qtd_cloud_subdev_of_row(cloud_t *c, const char *topic);
/* Raise a QTD_DOM_SUBDEV event: value {pk, dk[, v]} (the Lua side reshapes it). */
void qtd_cloud_subdev_event(cloud_t *c, const subdev_t *sd, int event, int errcode,
                            const qtd_value_t *v);
/* The gateway's session: online (log the wanted ones in again, paced) or lost. */
void qtd_cloud_subdev_gateway_online(cloud_t *c);
void qtd_cloud_subdev_gateway_lost(cloud_t *c);
/* A SUBACK that is not the gateway's own. Returns whether it was a sub-device's. */
bool qtd_cloud_subdev_subscribed(cloud_t *c, int token, bool ok);
/* A message on a sub-device's downlink topic. Returns whether the topic was one. */
bool qtd_cloud_subdev_message(cloud_t *c, const struct mq_event_s *ev);

/* cloud_subdev_lua.c */
int qtd_cloud_subdev_lua_register(cloud_t *c);

#endif /* QTD_PLUGINS_CLOUD_CLOUD_SUBDEV_H */
