/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the cloud plugin shared by its files: the instance (cloud_t), the MQTT
 * bridge that carries Paho's callbacks onto the loop (cloud_mqtt.c), the session
 * (cloud_session.c), the downlink dispatch table and its feature handlers
 * (cloud_downlink.c, cloud_tsl.c, cloud_sys.c), the uplink path and outbox pump
 * (cloud_outbox.c), the identity and its store keys (cloud_identity.c), the quecIot Lua
 * module (cloud_lua_config.c: seed 3.3-3.4, cloud_lua.c: 3.5), the services it provides
 * (cloud_thing.c: thing.h, cloud_at.c: modem.h) and the host's status and info values
 * (cloud_devinfo.c). Everything here runs on the loop thread except the Paho callbacks in
 * cloud_mqtt.c and the AT dialogues in cloud_at.c's workers.
 */
#ifndef QTD_PLUGINS_CLOUD_CLOUD_H
#define QTD_PLUGINS_CLOUD_CLOUD_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "cloud_frame.h"
#include "cloud_fsm.h"
#include "cloud_modem.h"
#include "cloud_ota.h"
#include "cloud_subdev.h"
#include "qthingd/location.h"
#include "qthingd/modem.h"
#include "qthingd/plugin.h"
#include "qthingd/thing.h"

/* The Lua module this plugin registers: the platform SDK's, name for name. */
#define CLOUD_LUA_MODULE "quecIot"
/* Our own functions beside it (cloud.setDevStatus). */
#define CLOUD_LUA_EXTRA_MODULE "cloud"

/* Store kv keys of the quecIot settings (values are text). */
#define CLOUD_KV_PK "quecIot.pk"                   /* product key */
#define CLOUD_KV_PS "quecIot.ps"                   /* product secret */
#define CLOUD_KV_SERVER_TYPE "quecIot.server.type" /* "1" = MQTT */
#define CLOUD_KV_SERVER "quecIot.server"           /* host:port, mqtt://, mqtts://, http:// */
#define CLOUD_KV_LIFETIME "quecIot.lifetime"       /* keepalive seconds, decimal */
#define CLOUD_KV_PDPCID "quecIot.pdpcid"
#define CLOUD_KV_SESSION "quecIot.session" /* "1" = session encryption */
#define CLOUD_KV_MCU "quecIot.mcu"         /* netstrings "<len>:<compno>,<len>:<ver>," */
#define CLOUD_KV_DK "quecIot.dk"           /* device key set by the script */
#define CLOUD_KV_DS "quecIot.ds"           /* device secret of the current DK */

/* The seed's defaults (3.4.3, 3.4.5) and the data protocol version reported. */
#define CLOUD_DEFAULT_SERVER "iot-south.quectel.com:1883"
#define CLOUD_DEFAULT_LIFETIME 120
#define CLOUD_PROTOCOL_VERSION "1.3.0"

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
    int64_t window_kib;
    const char *at_port;
    int64_t at_baud;
    int64_t modem_poll_s;
    int64_t ack_timeout_s;
    const char *ota_script_component;
    int64_t ota_probation_s;
    int64_t ota_online_s;
    int64_t ota_mcu_piece_kb;
    int64_t ota_update_timeout_s;
} cloud_cfg_t;

/* What the Paho threads hand over to the loop. */
typedef enum {
    MQ_CONNECTED = 1,  /* CONNACK 0 */
    MQ_CONNECT_FAILED, /* code: CONNACK return code (1..5) or a Paho error (< 0); topic:
                          Paho's text of the failure, may be NULL */
    MQ_SUBSCRIBED,     /* code: granted QoS, 0x80 = refused; token: the subscribe's */
    MQ_LOST,           /* connection lost */
    MQ_MESSAGE,        /* topic, payload */
    MQ_PUBLISHED,      /* token: completed (PUBACK/PUBCOMP for QoS >= 1) */
    MQ_PUBLISH_FAILED, /* token */
    MQ_DISCONNECTED    /* our own disconnect finished */
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
    uint32_t len;        /* of its frame */
    uint64_t sent_ms;    /* loop time it was handed to MQTT */
    struct subdev_s *sd; /* the sub-device whose row it is, or NULL */
} inflight_t;

/* The outbox read ahead of the pump: at most this many rows and bytes (a bigger row is
 * read alone, as it comes). */
#define CLOUD_AHEAD_ROWS 64
#define CLOUD_AHEAD_BYTES 16384
typedef struct ahead_row_s {
    int64_t id;
    int qos;
    size_t off;       /* of its topic in ahead_buf; the payload follows the topic's NUL */
    size_t topic_len; /* without the NUL */
    size_t len;
} ahead_row_t;

/* The recent outbox puts (row, command), to name the failure event of rows whose commit
 * failed (QTD_AGENT_LOST). */
#define CLOUD_RECENT_PUTS 4096
typedef struct {
    int64_t row;
    uint16_t cmd;
    struct subdev_s *sd; /* the sub-device whose row it is, or NULL */
} cloud_put_t;

/* A row that fails to publish this many times in a row is moved aside (cloud_outbox.c). */
#define CLOUD_POISON_ATTEMPTS 3
/* Rows moved aside are kept in the store's kv as CLOUD_KV_DEAD_PREFIX<row id>. */
#define CLOUD_KV_DEAD_PREFIX "cloud.dead."

/* What a script asked of the session, handled at the end of the loop turn (in order). */
typedef enum {
    CLOUD_REQ_SETTINGS = 1, /* a quecIot setting changed */
    CLOUD_REQ_CONNECT,      /* setConnmode(1) */
    CLOUD_REQ_DISCONNECT    /* setConnmode(0) */
} cloud_req_t;

#define CLOUD_REQ_MAX 32

/* AT commands queued on the modem service (cloud_at.c). */
typedef struct cloud_at_req_s cloud_at_req_t;

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
    uv_timer_t retry_timer;  /* reconnect backoff */
    uv_timer_t stable_timer; /* resets the backoff after a stable session */
    uv_timer_t reg_timer;    /* registration: waiting for the DS */
    uv_timer_t kick_timer;   /* every 2 s: pump again whatever stalled it (a failed commit) */
    uv_prepare_t pump;       /* commit + send once per loop turn, before the loop sleeps:
                                what a timer or callback queued goes out at once */
    bool stopping;

    cloud_req_t reqs[CLOUD_REQ_MAX]; /* script requests of this loop turn */
    size_t n_reqs;
    int lua_connmode;                  /* what the script asked last (getConnmode) */
    char default_dk[CLOUD_DK_MAX + 1]; /* the IMEI, else the host's id (cloud_identity.c) */
    char default_dk_source[96];        /* where it came from, for the log */
    bool default_dk_weak;              /* not unique per unit (machine-id, host name) */

    int connmode;           /* the mode the session follows (seed 3.3.1) */
    int workstate;          /* seed 3.3.3 */
    bool registering;       /* this connection uses the registration password */
    bool online;            /* subscribed: data may flow */
    uint32_t attempts;      /* consecutive failed attempts, for the backoff */
    int64_t backoff_min_ms; /* floor of the next delay, by error class */
    identity_t id;
    uint8_t session_key[16];
    bool session_key_ok;
    char cid[4 + CLOUD_PK_MAX + CLOUD_DK_MAX];
    char sub_topic[CLOUD_TOPIC_MAX];
    uint16_t pkgid; /* last uplink packet id */

    /* Outbox pump: rows with id > sent_upto were never sent on this connection, but for
     * the rows of offline sub-devices, held from held_from on (0: none). */
    int64_t sent_upto;
    int64_t held_from;
    int64_t sent_max; /* the highest row sent on this connection: above it nothing is in flight */
    inflight_t *inflight;
    size_t n_inflight;
    size_t inflight_bytes; /* the frames of inflight[0..n_inflight) */
    /* Rows read ahead from the outbox (one SELECT for many rows): ahead[pos..n) follow the
     * row sent_upto was when ahead[pos - 1] went (ahead_after for pos 0); any other
     * sent_upto, a drop or a loss makes them stale and the next pump reads again. */
    struct ahead_row_s *ahead;
    uint8_t *ahead_buf; /* CLOUD_AHEAD_BYTES: each row's topic, NUL, payload */
    size_t ahead_n;
    size_t ahead_pos;
    size_t ahead_used;
    int64_t ahead_after;
    int64_t *acked; /* rows acknowledged since the last pump (window of them at most), deleted
                     * there, a run of consecutive ids with one statement */
    size_t n_acked;
    bool pump_wanted;
    uint64_t stat_sent;
    uint64_t stat_acked;
    uint64_t stat_dead; /* rows moved aside this run */
    cloud_put_t *puts;  /* CLOUD_RECENT_PUTS, a ring: the latest at puts_next - 1 */
    size_t puts_next;
    int64_t poison_row; /* the row that failed to publish last, and how often in a row */
    int poison_attempts;
    bool awaiting_suback; /* SUBSCRIBE sent, no SUBACK yet (since suback_from_ms) */
    uint64_t suback_from_ms;

    /* Modem values (cloud.at_port), refreshed on the thread pool every modem_poll_s. */
    uv_timer_t modem_timer;
    uv_work_t modem_work;
    bool modem_timer_open;
    bool modem_busy;
    int modem_rc;                /* of the last query; written by the worker */
    qtd_modem_info_t modem_next; /* the worker's result */
    qtd_modem_info_t modem;      /* what reports use; valid when modem_ok */
    bool modem_ok;
    uint64_t malformed_at; /* rate limit of the malformed downlink lines: window start */
    unsigned malformed_lines;
    uint64_t malformed_quiet;
    cloud_ota_t ota;               /* the MQTT OTA task (cloud_ota.h) */
    const qtd_location_api_t *loc; /* the location service, or NULL (cloud_loc.c) */
    void *loc_self;
    cloud_subdevs_t subs;    /* gateway sub-devices (cloud_subdev.h) */
    int sub_token;           /* of the gateway's own subscription */
    double script_status[8]; /* status ids 1..7 the script supplies (cloud.setDevStatus) */
    bool script_status_set[8];
    char imei[24];      /* read at create(), "" when no modem answered */
    uv_mutex_t at_lock; /* one AT dialogue at a time on the port */
    bool at_lock_ok;
    cloud_at_req_t *at_reqs; /* modem.h commands under way */
};

/* cloud_mqtt.c: the Paho bridge. */
int qtd_cloud_mq_create(cloud_t *c, mq_bridge_t **out);
/* Connect with a new Paho client (the previous one is destroyed). */
int qtd_cloud_mq_connect(mq_bridge_t *mq, const char *uri, const char *cid, const char *password,
                         int keepalive, int window, const char *ca_file, const char *ca_path);
/* *token (may be NULL) identifies the SUBACK: MQ_SUBSCRIBED carries it. */
int qtd_cloud_mq_subscribe(mq_bridge_t *mq, const char *topic, int qos, int *token);
/* Returns the token in *token (0 for QoS 0). Returns: 0, QTD_EINVAL (a topic with a
 * wildcard, or empty: publishing there would cost the connection), QTD_ENOTCONN,
 * QTD_EAGAIN, QTD_EIO. */
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
/* Queue a script request for the end of this loop turn. Returns: 0, QTD_ENOSPC. */
int qtd_cloud_request(cloud_t *c, cloud_req_t req);
/* Run the queued requests (from the pump, before the loop sleeps). */
void qtd_cloud_run_requests(cloud_t *c);
/* A quecIot setting changed: reconnect when it touches the live connection's identity. */
void qtd_cloud_on_settings(cloud_t *c);
/* Feed one input to the session's state machine (cloud_fsm.c) and carry out its actions. */
void qtd_cloud_fsm_input(cloud_t *c, const cloud_fsm_input_t *in);
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
int qtd_cloud_send_value(cloud_t *c, int mode, uint16_t cmd, uint16_t pkgid, const qtd_value_t *v);

/* cloud_outbox.c */
/* Publish one frame now, encrypted with the session key when the session flag is on.
 * Returns as qtd_cloud_mq_publish. */
int qtd_cloud_publish_frame(cloud_t *c, const char *topic, int qos, const uint8_t *frame,
                            size_t len, int *token);
/* The same with a given session key (NULL: plain): AES-128-CBC, IV = SHA256(key)[0:16]. */
int qtd_cloud_publish_sealed(cloud_t *c, const char *topic, int qos, const uint8_t *frame,
                             size_t len, const uint8_t *key, int *token);
void qtd_cloud_pump(cloud_t *c); /* send what the window allows */
void qtd_cloud_pump_reset(cloud_t *c);
/* Forget the rows read ahead (rows were dropped or lost behind the pump's back). */
void qtd_cloud_pump_forget(cloud_t *c);
/* Delete the rows acknowledged since the last pump (the pump and a reset do it too). */
void qtd_cloud_pump_delete_acked(cloud_t *c); /* new connection: everything unacked goes again */
void qtd_cloud_pump_acked(cloud_t *c, int token, bool ok);
/* Store a frame as an outbox row (topic: its topic type, or CLOUD_SUBDEV_ROW<id>) and
 * remember it for the failure events of rows lost (sd: whose, NULL the gateway's).
 * Returns as outbox_put. */
int qtd_cloud_store_row(cloud_t *c, const char *topic, int qos, const uint8_t *frame, size_t len,
                        uint16_t cmd, struct subdev_s *sd);
/* A sub-device came online: its held rows go, in order. */
void qtd_cloud_pump_release(cloud_t *c);
/* The event code of a sent (or failed) uplink of command cmd, 0 when it raises none
 * (10200/10300 passthrough, 10210/10310 thing model, ...). */
int qtd_cloud_sent_code(uint16_t cmd, bool ok);
/* Every few seconds: a SUBACK or PUBACK overdue by cloud.ack_timeout_s means the session
 * is stuck (a lost acknowledgement stalls it forever otherwise): reconnect. */
void qtd_cloud_check_acks(cloud_t *c);
/* The store lost the rows first..last (their commit failed): raise the failure event of
 * each one this plugin put (4/10300, 4/10310, ...). */
void qtd_cloud_rows_lost(cloud_t *c, int64_t first, int64_t last);

/* cloud_downlink.c: one downlink message (decrypted, decoded, dispatched by command). */
void qtd_cloud_on_message(cloud_t *c, const mq_event_t *ev);
/* A malformed downlink: answered with EXCE_EVENT {1 reason, 2 pkgid} and logged as
 * "malformed downlink <what>", at most CLOUD_MALFORMED_LOG_LINES lines per
 * CLOUD_MALFORMED_LOG_MS (the others are counted in the next line). */
#define CLOUD_MALFORMED_LOG_MS 10000
#define CLOUD_MALFORMED_LOG_LINES 5
void qtd_cloud_malformed(cloud_t *c, int reason, uint16_t pkgid, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Answer a malformed or unsupported downlink with EXCE_EVENT {1 reason, 2 pkgid}. */
void qtd_cloud_send_exce(cloud_t *c, int reason, uint16_t pkgid);
/* The child of a STRUCT with this id, or NULL. */
const qtd_value_t *qtd_cloud_find_id(const qtd_value_t *s, uint16_t id);
/* The u16 id list of TSL_REQ, STATUS_REQ, INFO_REQ. Returns 0 or -1 (odd or too long). */
int qtd_cloud_id_list(const qtd_frame_t *f, uint16_t *ids, size_t max, size_t *n);

/* A downlink handler: f is the decoded frame, tree its TTLV payload when the table entry
 * asked for one (else an empty STRUCT). */
typedef void (*cloud_downlink_fn)(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree);
typedef struct {
    uint16_t cmd;
    bool ttlv; /* decode the payload as TTLV first (a failure is answered with EXCE 5) */
    cloud_downlink_fn fn;
} cloud_downlink_t;

/* Feature areas: the handlers each one adds to the dispatch table. */
extern const cloud_downlink_t qtd_cloud_tsl_downlinks[];    /* cloud_tsl.c, ends with cmd 0 */
extern const cloud_downlink_t qtd_cloud_sys_downlinks[];    /* cloud_sys.c, ends with cmd 0 */
extern const cloud_downlink_t qtd_cloud_ota_downlinks[];    /* cloud_ota.c, ends with cmd 0 */
extern const cloud_downlink_t qtd_cloud_subdev_downlinks[]; /* cloud_subdev.c, ditto */
extern const cloud_downlink_t qtd_cloud_loc_downlinks[];    /* cloud_loc.c, ditto */

/* cloud_loc.c: the location service, looked up at start (optional), and the support list
 * of info id 12 from it ("" without one). */
void qtd_cloud_loc_start(cloud_t *c);
void qtd_cloud_loc_support(cloud_t *c, char *buf, size_t n);

/* cloud_sys.c: a session key (TTLV id 6: 16 raw bytes, or encrypted with the DS as
 * PROTOCOL.md says) into out; who names it in the log. Returns whether there is one. */
bool qtd_cloud_session_key(cloud_t *c, const qtd_value_t *key, const char *ds, uint8_t out[16],
                           const char *who);

/* cloud_ota.c: the MQTT OTA task (seed 2.4.1, 3.6) and its Lua functions. */
int qtd_cloud_ota_register(cloud_t *c);

/* cloud_lua.c (seed 3.5) and cloud_lua_config.c (seed 3.3-3.4) */
int qtd_cloud_lua_register(cloud_t *c);
int qtd_cloud_lua_config_register(cloud_t *c);
/* Register quecIot.<name>, and the seed's other names for it (one alias table, in
 * cloud_lua.c). Every quecIot function of this plugin is registered through it.
 * Returns as lua_add_function. */
int qtd_cloud_lua_add(cloud_t *c, const char *name, qtd_lua_cfn fn);
/* The thing-model table at idx (integer ids -> values; a sequence {a, b} means ids 1, 2) as
 * a STRUCT (value_free it). Returns: 0, QTD_EINVAL (not a non-empty table of such values),
 * QTD_ENOMEM. */
struct lua_State;
int qtd_cloud_tsl_value(struct lua_State *L, cloud_t *c, int idx, qtd_value_t **out);

/* cloud_thing.c: the thing.h service table. */
extern const qtd_thing_api_t qtd_cloud_thing_api;

/* cloud_at.c: the modem values poll and the modem.h service. open: read the IMEI (blocking,
 * before the loop runs) and start the poll. close: stop them (stop()). */
extern const qtd_modem_api_t qtd_cloud_modem_api;
int qtd_cloud_at_open(cloud_t *c);
void qtd_cloud_at_close(cloud_t *c);

/* cloud_devinfo.c: status (ids 1-7) and info (ids 1-14) values of this host as a STRUCT
 * of the requested ids (all when n == 0); ids with no value on this host are left out and
 * listed in *missing (a comma-separated string, may be empty). Returns: 0, QTD_ENOMEM. */
int qtd_cloud_status_value(cloud_t *c, const uint16_t *ids, size_t n, qtd_value_t **out);
int qtd_cloud_info_value(cloud_t *c, const uint16_t *ids, size_t n, qtd_value_t **out);
void qtd_cloud_value_free(cloud_t *c, qtd_value_t *v);
/* cloud_lua_config.c: set the version of MCU component compno (setMcuVersion's checks; a
 * version report follows; an MCU OTA task may end). *why names a refused argument.
 * Returns: 0, QTD_EINVAL, QTD_ENOSPC (32 components kept already), QTD_EIO. */
int qtd_cloud_set_mcu_version(cloud_t *c, const char *compno, size_t clen, const char *version,
                              size_t vlen, const char **why);
/* The MCU versions the script set, as "comp:ver;comp:ver" ("" when none). */
void qtd_cloud_mcu_versions(cloud_t *c, char *out, size_t n);

/* cloud_identity.c: load the identity and settings the script stored (CLOUD_KV_* keys). */
void qtd_cloud_load_identity(cloud_t *c);
void qtd_cloud_read_identity(cloud_t *c, identity_t *id);
/* The default device key of this host without a modem into buf (17 bytes), and where it
 * came from (for the log) into source: the MAC of the universally administered interface
 * with the lowest ifindex, else 16 hex digits of /etc/machine-id, else of
 * SHA-256(hostname). Returns the CLOUD_DK_* source, or QTD_EINVAL. */
enum { CLOUD_DK_MAC = 1, CLOUD_DK_MACHINE_ID = 2, CLOUD_DK_HOSTNAME = 3 };
int qtd_cloud_host_dk(char *buf, size_t n, char *source, size_t sn);

#endif /* QTD_PLUGINS_CLOUD_CLOUD_H */
