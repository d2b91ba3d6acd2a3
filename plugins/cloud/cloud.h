/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the cloud plugin shared by its files: the instance (cloud_t), the MQTT
 * bridge that carries Paho's callbacks onto the loop (cloud_mqtt.c), the session state
 * machine and downlink dispatch (cloud_session.c), the outbox pump (cloud_outbox.c), the
 * Lua functions (cloud_lua.c) and the host's status and info values (cloud_devinfo.c).
 * Everything here runs on the loop thread except the Paho callbacks in cloud_mqtt.c.
 */
#ifndef QTD_PLUGINS_CLOUD_CLOUD_H
#define QTD_PLUGINS_CLOUD_CLOUD_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "cloud_modem.h"
#include "qthingd/plugin.h"

#define CLOUD_PK_MAX 32
#define CLOUD_PS_MAX 32
#define CLOUD_DK_MAX 16
#define CLOUD_DS_MAX 32
#define CLOUD_SERVER_MAX 255
#define CLOUD_TOPIC_MAX 128
#define CLOUD_WINDOW_MAX 1024

typedef struct {
    const char *ca_file;
    const char *ca_path;
    int64_t reconnect_min_ms;
    int64_t reconnect_max_ms;
    int64_t stable_s;
    int64_t register_timeout_s;
    int64_t window;
    const char *at_port;
    int64_t at_baud;
    int64_t modem_poll_s;
} cloud_cfg_t;

/* What the Paho threads hand over to the loop. */
typedef enum {
    MQ_CONNECTED = 1,   /* CONNACK 0 */
    MQ_CONNECT_FAILED,  /* code: CONNACK return code (1..5) or a Paho error (< 0); topic:
                           Paho's text of the failure, may be NULL */
    MQ_SUBSCRIBED,      /* code: granted QoS, 0x80 = refused */
    MQ_LOST,            /* connection lost */
    MQ_MESSAGE,         /* topic, payload */
    MQ_PUBLISHED,       /* token: completed (PUBACK/PUBCOMP for QoS >= 1) */
    MQ_PUBLISH_FAILED,  /* token */
    MQ_DISCONNECTED     /* our own disconnect finished */
} mq_kind_t;

typedef struct mq_event_s {
    struct mq_event_s *next;
    mq_kind_t kind;
    uint32_t gen; /* connection generation: events of an older connection are dropped */
    int code;
    int token;
    char *topic;
    uint8_t *payload;
    size_t len;
} mq_event_t;

typedef struct cloud_s cloud_t;
typedef struct mq_bridge_s mq_bridge_t;

/* Rows sent and not yet acknowledged. */
typedef struct {
    int64_t row;
    int token;
    uint16_t cmd;
} inflight_t;

/* Work states and identity as the session sees them. */
typedef struct {
    char pk[CLOUD_PK_MAX + 1];
    char ps[CLOUD_PS_MAX + 1];
    char dk[CLOUD_DK_MAX + 1];
    char ds[CLOUD_DS_MAX + 1];
    char server[CLOUD_SERVER_MAX + 1];
    int64_t lifetime;
    int session_flag;
} identity_t;

struct cloud_s {
    const qtd_host_api_t *api;
    qtd_host_t *host;
    const cloud_cfg_t *cfg;
    uv_loop_t *loop;
    mq_bridge_t *mq;
    uv_timer_t retry_timer;   /* reconnect backoff */
    uv_timer_t stable_timer;  /* resets the backoff after a stable session */
    uv_timer_t reg_timer;     /* registration: waiting for the DS */
    uv_timer_t kick_timer;    /* every 2 s: pump again whatever stalled it (a failed commit) */
    uv_prepare_t pump;        /* commit + send once per loop turn, before the loop sleeps:
                                 what a timer or callback queued goes out at once */
    bool stopping;

    int connmode;   /* what the script asked (seed 3.3.1) */
    int workstate;  /* seed 3.3.3 */
    bool registering; /* this connection uses the registration password */
    bool online;      /* subscribed: data may flow */
    uint32_t attempts; /* consecutive failed attempts, for the backoff */
    int64_t backoff_min_ms; /* floor of the next delay, by error class */
    identity_t id;
    uint8_t session_key[16];
    bool session_key_ok;
    char cid[4 + CLOUD_PK_MAX + CLOUD_DK_MAX];
    char sub_topic[CLOUD_TOPIC_MAX];
    uint16_t pkgid; /* last uplink packet id */

    /* Outbox pump: rows with id > sent_upto were never sent on this connection. */
    int64_t sent_upto;
    inflight_t *inflight;
    size_t n_inflight;
    bool pump_wanted;
    uint64_t stat_sent;
    uint64_t stat_acked;

    /* Modem values (cloud.at_port), refreshed on the thread pool every modem_poll_s. */
    uv_timer_t modem_timer;
    uv_work_t modem_work;
    bool modem_timer_open;
    bool modem_busy;
    int modem_rc;                 /* of the last query; written by the worker */
    qtd_modem_info_t modem_next;  /* the worker's result */
    qtd_modem_info_t modem;       /* what reports use; valid when modem_ok */
    bool modem_ok;
};

/* cloud_mqtt.c: the Paho bridge. */
int qtd_cloud_mq_create(cloud_t *c, mq_bridge_t **out);
/* Connect with a new Paho client (the previous one is destroyed). */
int qtd_cloud_mq_connect(mq_bridge_t *mq, const char *uri, const char *cid, const char *password,
                         int keepalive, int window, const char *ca_file, const char *ca_path);
int qtd_cloud_mq_subscribe(mq_bridge_t *mq, const char *topic, int qos);
/* Returns the token in *token (0 for QoS 0). Returns: 0, QTD_ENOTCONN, QTD_EAGAIN, QTD_EIO. */
int qtd_cloud_mq_publish(mq_bridge_t *mq, const char *topic, int qos, const void *p, size_t n,
                         int *token);
/* Log out cleanly: true when a DISCONNECT is under way (MQ_DISCONNECTED follows); false when
 * there was no live connection (then it is abandoned like qtd_cloud_mq_abandon). */
bool qtd_cloud_mq_disconnect(mq_bridge_t *mq);
/* Give up the current connection after an error: nothing it still reports is delivered. */
void qtd_cloud_mq_abandon(mq_bridge_t *mq);
bool qtd_cloud_mq_connected(const mq_bridge_t *mq);
/* Close the async handle and destroy the client; qtd_cloud_mq_free once the loop ran. */
void qtd_cloud_mq_close(mq_bridge_t *mq);
void qtd_cloud_mq_free(mq_bridge_t *mq);
/* Called by the bridge on the loop for each event (cloud_session.c). */
void qtd_cloud_on_mq(cloud_t *c, const mq_event_t *ev);

/* cloud_session.c */
/* A quecIot setting changed: reconnect when it touches the live connection's identity. */
void qtd_cloud_on_settings(cloud_t *c);
/* The uplink topic for a topic type ("bus", ...) with the current identity. */
void qtd_cloud_uplink_topic(const cloud_t *c, const char *type, char *topic, size_t n);
void qtd_cloud_set_connmode(cloud_t *c, int mode);
void qtd_cloud_publish_event(cloud_t *c, int event, int errcode, const qtd_value_t *value);
void qtd_cloud_set_workstate(cloud_t *c, int state);
/* Frame and send (or store) an uplink. mode 0: sent now if online, never stored.
 * mode >= 1: stored in the outbox, sent by the pump. pkgid 0 = a new one.
 * Returns: 0, QTD_ENOTCONN (mode 0 while offline), QTD_EINVAL, QTD_EMSGSIZE, QTD_EIO. */
int qtd_cloud_send(cloud_t *c, int mode, uint16_t cmd, uint16_t pkgid, const uint8_t *payload,
                   size_t len);
/* TTLV-encode a STRUCT value and send it (as qtd_cloud_send). */
int qtd_cloud_send_value(cloud_t *c, int mode, uint16_t cmd, uint16_t pkgid,
                         const qtd_value_t *v);

/* cloud_outbox.c */
/* Publish one frame now, encrypted with the session key when the session flag is on.
 * Returns as qtd_cloud_mq_publish. */
int qtd_cloud_publish_frame(cloud_t *c, const char *topic, int qos, const uint8_t *frame,
                            size_t len, int *token);
void qtd_cloud_pump(cloud_t *c);          /* send what the window allows */
void qtd_cloud_pump_reset(cloud_t *c);    /* new connection: everything unacked goes again */
void qtd_cloud_pump_acked(cloud_t *c, int token, bool ok);

/* cloud_lua.c */
int qtd_cloud_lua_register(cloud_t *c);

/* cloud_devinfo.c: status (ids 1-7) and info (ids 1-14) values of this host as a STRUCT
 * of the requested ids (all when n == 0); ids with no value on this host are left out and
 * listed in *missing (a comma-separated string, may be empty). Returns: 0, QTD_ENOMEM. */
int qtd_cloud_status_value(cloud_t *c, const uint16_t *ids, size_t n, qtd_value_t **out);
int qtd_cloud_info_value(cloud_t *c, const uint16_t *ids, size_t n, qtd_value_t **out);
void qtd_cloud_value_free(cloud_t *c, qtd_value_t *v);

/* Load the identity and settings the script stored (quecIot.* keys). */
void qtd_cloud_load_identity(cloud_t *c);

#endif /* QTD_PLUGINS_CLOUD_CLOUD_H */
