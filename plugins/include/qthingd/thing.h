/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The platform's side of the plugin world: the event numbering and codes of the Quectel IoT
 * platform SDK (the quecIot guide's tables 4.1-4.3, resolved in docs/protocol.md "Events")
 * and the "thing" service, through which plugins other than the platform plugin send
 * thing-model data, passthrough and locations, for the device itself or a sub-device behind
 * it. The cloud plugin provides the service; a plugin that reports (Modbus, GNSS) looks it
 * up in start():
 *
 *     const qtd_thing_api_t *thing;
 *     void *cloud;
 *     rc = api->service_lookup(host, QTD_THING_SERVICE, QTD_THING_API_V1_SIZE, 0,
 *                              (const void **)&thing, &cloud);
 *     rc = thing->tsl_report(cloud, NULL, NULL, 1, &values);
 *
 * Results arrive as bus events of QTD_DOM_CLOUD (QTD_DOM_SUBDEV for sub-devices), exactly as
 * the script sees them. This header is installed beside plugin.h; the table only grows at
 * its end (check `size` before calling a member newer than the size you asked for).
 */
#ifndef QTD_QTHINGD_THING_H
#define QTD_QTHINGD_THING_H

#include <stddef.h>
#include <stdint.h>

#include "qthingd/events.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Event domains of the platform (which callback of the SDK an event belongs to). */
enum {
    QTD_DOM_CLOUD = 1,   /* table 4.1, delivered to quecIot.setEventCB's callback */
    QTD_DOM_HTTPOTA = 2, /* table 4.2, delivered to quecIot.setHttpOtaEventCb's callback */
    QTD_DOM_SUBDEV = 3   /* table 4.3, delivered to quecIot.subDevSetEventCB's callback */
};

/* Event numbers of QTD_DOM_CLOUD (table 4.1). */
enum {
    QTD_EVT_AUTH = 1,
    QTD_EVT_CONNECT = 2,
    QTD_EVT_SUBSCRIBE = 3,
    QTD_EVT_SEND = 4,
    QTD_EVT_RECV = 5,
    QTD_EVT_LOGOUT = 6, /* the SDK header's QIOT_ATEVENT_TYPE_LOGOUT */
    QTD_EVT_OTA = 7,
    QTD_EVT_THROTTLE = 8,   /* platform: 10428, 10429; sub-device 10442 */
    QTD_EVT_SUB_DEAUTH = 9, /* table 4.3 */
    QTD_EVT_DEREGISTERED = 10
};

/*
 * The platform's codes: XX(name, code, meaning). One table, so logic never carries a bare
 * 10474; the meaning is the seed's, and some codes mean different things in different
 * events (10430: "PK changed" in event 1, "device secret wrong" in event 2).
 */
#define QTD_THING_CODE_MAP(XX)                                                                     \
    XX(OK, 10200, "success")                                                                       \
    XX(TSL, 10210, "thing-model data (sent, or a write received)")                                 \
    XX(TSL_READ, 10211, "thing-model read received")                                               \
    XX(LOC, 10220, "location data sent")                                                           \
    XX(STATUS, 10230, "status report sent")                                                        \
    XX(INFO, 10240, "device information report sent")                                              \
    XX(FAIL, 10300, "failed (other error)")                                                        \
    XX(TSL_FAIL, 10310, "thing-model data could not be sent")                                      \
    XX(LOC_FAIL, 10320, "location data could not be sent")                                         \
    XX(STATUS_FAIL, 10330, "status report could not be sent")                                      \
    XX(INFO_FAIL, 10340, "device information report could not be sent")                            \
    XX(NOT_FOUND, 10404, "platform API not found")                                                 \
    XX(BAD_REQUEST, 10420, "bad request data")                                                     \
    XX(ALREADY_AUTHED, 10422, "device already authenticated")                                      \
    XX(NO_PRODUCT, 10423, "product not found")                                                     \
    XX(BAD_PAYLOAD, 10424, "payload cannot be parsed")                                             \
    XX(BAD_SIGNATURE, 10425, "signature check failed")                                             \
    XX(BAD_AUTH_VERSION, 10426, "wrong authentication version")                                    \
    XX(BAD_HASH, 10427, "hash not valid")                                                          \
    XX(RATE_LIMIT, 10428, "rate limited (too many messages or buffered downlinks)")                \
    XX(QUOTA_LIMIT, 10429, "quota limited (activations or requests per day)")                      \
    XX(BAD_SECRET, 10430, "device secret wrong (auth: product key changed)")                       \
    XX(DISABLED, 10431, "device disabled (auth: device key not valid)")                            \
    XX(PK_VERSION, 10432, "product key does not match the authentication version")                 \
    XX(BAD_FLAG, 10433, "session flag not valid")                                                  \
    XX(NO_ASSOCIATION, 10440, "gateway and sub-device are not associated")                         \
    XX(SUB_CONNECTED, 10441, "sub-device already connected")                                       \
    XX(SUB_OFFLINE, 10442, "sub-device not logged in")                                             \
    XX(INTERNAL, 10450, "device internal error")                                                   \
    XX(NO_BOOTSTRAP, 10466, "bootstrap server address not found")                                  \
    XX(UNSUPPORTED_VERSION, 10471, "implementation version not supported")                         \
    XX(KEEPALIVE, 10473, "keepalive failed (or received data too long)")                           \
    XX(NETWORK, 10474, "network error (connection timed out or lost)")                             \
    XX(SERVER_CHANGED, 10475, "server changed")                                                    \
    XX(AP_FAILED, 10476, "access point connection failed")                                         \
    XX(UNKNOWN, 10500, "unknown platform error")

typedef enum {
#define QTD_THING_CODE_ENUM_(name, code, text) QTD_CODE_##name = (code),
    QTD_THING_CODE_MAP(QTD_THING_CODE_ENUM_)
#undef QTD_THING_CODE_ENUM_
} qtd_thing_code_t;

/* Work states (seed 3.3.3, quecIot.getWorkState). */
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

#define QTD_THING_SERVICE "thing"

/*
 * The thing service. Every function addresses a device as (pk, dk): NULL, NULL is the
 * device itself (the gateway); anything else is a sub-device. `mode` is the seed's: 0 sent
 * now when online and never stored (QTD_ENOTCONN offline), 1 and 2 stored in the outbox
 * first and sent in order, kept across outages and restarts until the platform acknowledges
 * them (then 4/102x0 on the bus; a refusal here means nothing was queued).
 * A sub-device's uplinks are always stored (whatever the mode), ordered per sub-device, and
 * held while it is offline; it must have been connected (subdev_connect) in this run.
 * All on the loop thread. Common returns: 0, QTD_EINVAL (bad mode, empty data, a value the
 * wire cannot carry), QTD_ENOENT (no product key set yet, or an unknown sub-device),
 * QTD_EMSGSIZE (larger than a frame or the outbox cap), QTD_EIO (the store failed).
 */
typedef struct qtd_thing_api_s {
    uint32_t size; /* sizeof(qtd_thing_api_t) as the provider was built */
    uint32_t reserved;
    /* Thing-model values (seed phymodelReport): v is a STRUCT of id -> value. */
    int (*tsl_report)(void *self, const char *pk, const char *dk, int mode, const qtd_value_t *v);
    /* The answer to a platform read (seed phymodelAck): the read's pkgid (1..65534). */
    int (*tsl_ack)(void *self, const char *pk, const char *dk, int mode, uint16_t pkgid,
                   const qtd_value_t *v);
    /* Passthrough bytes (seed passTransSend). */
    int (*pass_send)(void *self, const char *pk, const char *dk, int mode, const void *data,
                     size_t len);
    /* NMEA or $LBS sentences, each ending with ';' ("$GPGGA,...*47;$GPRMC,...*6A;"), sent as
     * LOC_REPORT (seed locReportOutside; mode 1 is the SDK's). */
    int (*loc_report)(void *self, const char *pk, const char *dk, int mode, const char *sentences);
    /* Connect a sub-device through this gateway (seed subDevConn): ds NULL or "" first
     * authenticates it and obtains its secret (kept in the store). While the gateway is
     * offline it is connected when the gateway is back (and after every reconnect).
     * Results as QTD_DOM_SUBDEV events with the value {pk, dk[, value]}. session_flag 1:
     * its frames are encrypted with the session key its login brings. */
    int (*subdev_connect)(void *self, const char *pk, const char *ps, const char *dk,
                          const char *ds, int session_flag, int keepalive_s);
    /* Log a sub-device out (seed subDevDisconn). */
    int (*subdev_disconnect)(void *self, const char *pk, const char *dk);
    /* The device's work state (QTD_WS_*). */
    int (*work_state)(void *self);

    /* ---- Since the second version (check size before calling) ---- */

    /* The device's identity as the platform knows it: its device key (setDkDs, else the
     * default: the IMEI, the MAC, ...) and the versions of its components as OTA reports
     * them: the module's, and the MCUs' as "comp:ver;comp:ver" ("" when none). Each is
     * cut to its buffer. Returns: 0. */
    int (*identity)(void *self, char *dk, size_t dk_n, char *version, size_t version_n, char *mcu,
                    size_t mcu_n);

    /* ---- Since the third version ---- */

    /* A sub-device is alive (seed subDevHTB): one call within each keepalive keeps it
     * logged in when it has nothing to send. Returns: 0, QTD_ENOENT (not connected in this
     * run), QTD_ENOTCONN (not logged in now: connect it again). */
    int (*subdev_heartbeat)(void *self, const char *pk, const char *dk);
} qtd_thing_api_t;

/* The members of the first version: ask for at least this much. */
#define QTD_THING_API_V1_SIZE (offsetof(qtd_thing_api_t, work_state) + sizeof(void *))
/* ... and of the second, and the third. */
#define QTD_THING_API_V2_SIZE (offsetof(qtd_thing_api_t, identity) + sizeof(void *))
#define QTD_THING_API_V3_SIZE (offsetof(qtd_thing_api_t, subdev_heartbeat) + sizeof(void *))

#ifdef __cplusplus
}
#endif
#endif /* QTD_QTHINGD_THING_H */
