/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of qthingd-sim share: the state of `run` (sim_t and its devices) and the
 * functions one file offers the others, each with its contract. The files: sim_main.c
 * (main, the subcommand table, command-line helpers), sim_platform.c (`run`: loop, MQTT,
 * devices, log), sim_session.c (verdicts, registration, session keys), sim_uplink.c and
 * sim_downlink.c (frames from and to devices), sim_ctl.c (the control commands) and
 * sim_tools.c (the other subcommands). Private to qthingd-sim: not for the broker plugin
 * (mosq_auth.c), which shares only registry.h, and not for the agent; the wire <-> JSON
 * translation has its own header (sim_json.h).
 */
#ifndef QTD_SIM_SIM_H
#define QTD_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <MQTTClient.h>
#include <cJSON.h>

#include "qthingd/events.h"
#include "registry.h"

#ifndef QTD_SIM_VERSION
#define QTD_SIM_VERSION "0.0.0"
#endif

#define SIM_USERNAME "qtd-sim"          /* the platform's MQTT user at the broker */
#define SIM_TOPIC_AUTH "qtd-sim/auth"   /* verdicts of the broker plugin */
#define SIM_TOPIC_CTL "qtd-sim/ctl"     /* control messages */
#define SIM_TOPIC_REPLY "qtd-sim/reply" /* their answers */
#define SIM_TOPIC_KICK "qtd-sim/kick"   /* a client id the broker plugin disconnects */
#define SIM_TOPIC_UPLINKS "q/2/d/+/+"
#define SIM_CLIENTID_MAX 160
/* The platform's MQTT client id: stable, so that its persistent session outlives restarts. */
#define SIM_CLIENT_ID_DEFAULT "qtd-sim"
#define SIM_EXIT_USAGE 2 /* exit status of a usage error */
#define SIM_SESSION_KEY_LEN 16

/* ---- state of `run` */

/* Frames of one command. */
typedef struct {
    uint16_t cmd;
    uint64_t n;
} sim_counter_t;

typedef struct {
    sim_counter_t *v;
    size_t n;
    size_t cap;
} sim_counters_t;

/* Session encryption of a flag-1 connection (see SESSION ENCRYPTION in the help). */
typedef enum {
    SIM_SESSION_NONE = 0, /* no key: everything plain */
    SIM_SESSION_SENT,     /* key sent: downlinks encrypted, plain uplinks still accepted */
    SIM_SESSION_CONFIRMED /* an uplink decrypted: plain uplinks are errors */
} sim_session_t;

/* A device (client id) the platform has seen; lives until `run` ends. */
typedef struct {
    char id[SIM_CLIENTID_MAX + 1];
    char pk[QTD_REG_KEY_MAX + 1];
    char dk[QTD_REG_KEY_MAX + 1];
    uint16_t last_pkgid;
    bool online;
    int flag;      /* session flag of the current connection */
    uint32_t conn; /* +1 per verdict: tells a pending downlink whose connection is gone */
    sim_session_t session;
    uint8_t key[SIM_SESSION_KEY_LEN];
    sim_counters_t up;
    sim_counters_t down;
    uint64_t up_errors;
    uint64_t up_plain;    /* plain uplinks of a flag-1 connection before its key was confirmed */
    uint64_t down_errors; /* malformed frames sent on purpose ("raw") */
    uint8_t *ota_fw;      /* the OTA_FW_INFO payload of its OTA task (sim_ota_task.c) */
    /* As a sub-device (sim_gateway.c): the gateway it is logged in through ("" when it is
     * not) and the last one it was. */
    char gateway[SIM_CLIENTID_MAX + 1];
    char last_gateway[SIM_CLIENTID_MAX + 1];
    size_t ota_fw_len;
} sim_device_t;

/* A downlink waiting for its time (sim_downlink.c). */
typedef struct sim_pending_s sim_pending_t;

typedef struct {
    const char *broker;
    const char *password;
    const char *registry_path;
    const char *log_path;
    const char *client_id;
    int reg_delay_ms;
    int sub_auth_delay_ms; /* SUB_AUTH_RSP this late (ctl "sub_auth_delay": a busy platform) */
    bool quiet;
    MQTTClient cl;
    bool connected;
    FILE *log;
    qtd_registry_t *reg;
    sim_device_t **devices;
    size_t ndevices;
    size_t devcap;
    sim_pending_t *pending; /* in the order scheduled */
} sim_t;

/* ---- sim_main.c: command-line helpers */

/* Monotonic time in ms. */
int64_t sim_mono_ms(void);
/* The Paho server URI of --broker: HOST:PORT becomes tcp://HOST:PORT, a URI stays as it is.
 * malloc'ed; NULL on ENOMEM. */
char *sim_server_uri(const char *broker);
/* Print "qthingd-sim: <message>" and a pointer to --help on stderr. Returns SIM_EXIT_USAGE. */
int sim_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* text as a whole number in lo..hi (decimal, 0x hex or 0 octal) into *out; false if not. */
bool sim_parse_int(const char *text, long lo, long hi, long *out);

/* ---- subcommands: (argc, argv) after the subcommand name (argv[0] is the name); each
 * returns the exit status (0, 1 failure, SIM_EXIT_USAGE). */

int sim_cmd_run(int argc, char **argv);         /* sim_platform.c */
int sim_cmd_ctl(int argc, char **argv);         /* sim_tools.c */
int sim_cmd_password(int argc, char **argv);    /* sim_tools.c */
int sim_cmd_broker_conf(int argc, char **argv); /* sim_tools.c */
int sim_cmd_frame(int argc, char **argv);       /* sim_tools.c */
int sim_cmd_decode(int argc, char **argv);      /* sim_tools.c */
int sim_cmd_ota_server(int argc, char **argv);  /* sim_ota.c */

/* ---- sim_platform.c: log, devices, MQTT */

/* A new log line: a JSON object with "ts" (Unix time in ms). NULL on ENOMEM. */
cJSON *sim_line_new(void);
/* Write o as one line of the log and flush (takes ownership of o; NULL: reports ENOMEM). */
void sim_log_line(sim_t *s, cJSON *o);
/* Log {"event": event, "client", "pk", "dk", "state": state} of a device. */
void sim_device_state(sim_t *s, const sim_device_t *d, const char *event, const char *state);
/* One readable line on stderr, unless --quiet (s may be NULL). */
void sim_say(const sim_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Log {"event": event, "message": ...} and say it. */
void sim_log_event(sim_t *s, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The log line of a frame: "dir", "client", "pk", "dk", "topic", "qos" and its decoding
 * (qtd_sim_frame_to_json); *malformed: 1 if it did not decode, else 0. NULL on ENOMEM. */
cJSON *sim_frame_line(const char *dir, const sim_device_t *d, const char *topic, int qos,
                      const uint8_t *buf, size_t n, int *malformed);
/* Say a frame line in short (direction, client, command, pkgid, data or error). */
void sim_say_frame(const sim_t *s, const char *dir, const sim_device_t *d, cJSON *line);
/* One more frame of cmd (a failed allocation loses the count, nothing else). */
void sim_count(sim_counters_t *c, uint16_t cmd);
/* Re-read the registry file if it changed; on error keep the previous one (logged). */
void sim_refresh_registry(sim_t *s);
/* The device of a client id, or NULL if not seen yet. */
sim_device_t *sim_device_find(const sim_t *s, const char *id);
/* The device of a client id, created when first seen (PK and DK from pk and dk, or else
 * from the registry; empty if unknown). NULL on ENOMEM or an id over SIM_CLIENTID_MAX. */
sim_device_t *sim_device_get(sim_t *s, const char *id, const char *pk, const char *dk);
/* Publish as the platform. Returns MQTTCLIENT_SUCCESS, MQTTCLIENT_DISCONNECTED or a Paho
 * error. */
int sim_publish(sim_t *s, const char *topic, const void *payload, size_t len, int qos);
/* Member name of object o if it is a string, else NULL. */
const char *sim_str_member(const cJSON *o, const char *name);
/* Member name of object o if it is a number (as int), else dflt. */
int sim_int_member(const cJSON *o, const char *name, int dflt);

/* ---- sim_session.c: verdicts of the broker plugin, registration, session keys */

/* A verdict (JSON text from qtd-sim/auth): log it, update the device and answer it (the
 * device secret after a registration, EXCE_WRITE after a failure, a session key). */
void sim_on_verdict(sim_t *s, const char *text);
/* AES-128-CBC of in under the device's session key, IV = SHA256(key)[0:16], PKCS#7; *out
 * malloc'ed. Returns as qtd_aes128cbc: 0, -EIO (does not decrypt), -ENOMEM. */
int sim_session_crypt(const sim_device_t *d, bool encrypt, const uint8_t *in, size_t n,
                      uint8_t **out, size_t *out_len);
/* The TTLV item {6: session key}: a new random key (into key) as AES-128-CBC(key = DS[0:16],
 * IV = SHA256(DS)[0:16], PKCS#7) bytes in *enc (malloc'ed; item points into it).
 * Returns: 0, -EINVAL (DS shorter than 16 characters), -EIO (no randomness), -ENOMEM. */
int sim_session_key_item(const char *ds, uint8_t key[SIM_SESSION_KEY_LEN], qtd_value_t *item,
                         uint8_t **enc);
/* A new device secret: 32 random hex characters. Returns: 0, -EIO (no randomness). */
int sim_new_secret(char ds[33]);
/* Log and say {"event": "session", "state": state} of the device. */
void sim_session_event(sim_t *s, const sim_device_t *d, const char *state);

/* ---- sim_downlink.c: frames to devices */

/* Send bytes to q/1/d/<client>/<type>, encrypted with the session key when the device has
 * one (unless plain); log and count them as they were before encryption. Returns
 * MQTTCLIENT_SUCCESS, a Paho error, or MQTTCLIENT_FAILURE when they cannot be encrypted. */
int sim_send_bytes(sim_t *s, sim_device_t *d, const char *type, int qos, const uint8_t *buf,
                   size_t n, bool plain);
/* Frame cmd with payload and send it as sim_send_bytes; pkgid 0: the device's next; type
 * NULL: the command's own; *pkgid_out (may be NULL) gets the pkgid used. Returns: 0, -EINVAL
 * (pkgid 0xFFFF), -EMSGSIZE (payload too long), -ENOMEM, -ENOTCONN (not sent: no broker, or
 * it cannot be encrypted). */
int sim_send_frame(sim_t *s, sim_device_t *d, uint16_t cmd, const uint8_t *payload, size_t len,
                   uint16_t pkgid, const char *type, int qos, bool plain, uint16_t *pkgid_out);
/* Send cmd with payload (takes ownership) to d in delay_ms, plain, on the command's topic
 * type. key (may be NULL): the session key the payload carries; it is sent only if d is
 * still on the same connection then ("dropped" if not), and from then on d's downlinks are
 * encrypted with it. A failed allocation drops the downlink. */
void sim_schedule(sim_t *s, const sim_device_t *d, uint16_t cmd, uint8_t *payload, size_t len,
                  int delay_ms, const uint8_t *key);
/* Send the scheduled downlinks that are due. */
void sim_run_pending(sim_t *s);
/* ms until the first scheduled downlink is due (0 if it is), at most max. */
int64_t sim_pending_wait(const sim_t *s, int64_t max);
/* Forget every scheduled downlink (their payloads and keys wiped). */
void sim_pending_clear(sim_t *s);
/* The TTLV payload of EXCE_WRITE {1: errcode, 2: 0, 3: PK, 4: DK} (*out malloc'ed).
 * Returns as qtd_ttlv_encode: 0, -EINVAL, -ENOMEM. */
int sim_exce_payload(const sim_device_t *d, int errcode, uint8_t **out, size_t *len);

/* ---- sim_ota_task.c: the platform's side of an MQTT OTA task */

/* The task was notified: keep its OTA_FW_INFO payload (taken) for the confirmation. */
void sim_ota_start(sim_t *s, sim_device_t *d, uint8_t *fw_info, size_t len);
/* An uplink's log line: OTA_EVENT status 2 sends the firmware information; 3, 11, 12 end
 * the task. */
void sim_ota_on_uplink(sim_t *s, sim_device_t *d, const cJSON *line);
void sim_ota_forget(sim_device_t *d);

/* ---- sim_gateway.c: the platform's side of gateway sub-devices */

/* An uplink's log line from gw: SUB_AUTH, SUB_LOGIN, SUB_LOGOUT and SUB_UNAUTH answered. */
void sim_gateway_on_uplink(sim_t *s, sim_device_t *gw, const cJSON *line);
/* A frame on a sub-device's own topic (d): add "gateway" to its line, or, when d is not
 * logged in, tell the gateway it last used with SUB_OFFLINE 10442. Returns whether d is a
 * sub-device (logged in or once was). */
bool sim_gateway_sub_uplink(sim_t *s, sim_device_t *d, cJSON *line);
/* The platform drops a logged-in sub-device: SUB_OFFLINE 10442 to its gateway.
 * Returns: 0, -ENOENT (not logged in). */
int sim_gateway_drop(sim_t *s, sim_device_t *sub);
/* gw went offline: its sub-devices with it. */
void sim_gateway_offline(sim_t *s, const sim_device_t *gw);

/* ---- sim_uplink.c: frames from devices */

/* A message on q/2/d/<client>/<type>: decrypt (flag-1 devices), decode, count and log it. */
void sim_on_uplink(sim_t *s, const char *topic, const uint8_t *buf, size_t n, int qos);

/* ---- sim_ctl.c: control commands */

/* A control message (JSON text from qtd-sim/ctl): run it, log it and answer it on
 * qtd-sim/reply. */
void sim_on_ctl(sim_t *s, const char *text);
/* Print the CONTROL MESSAGES section of --help (from the table of control commands). */
void sim_ctl_help(FILE *fp);

#endif /* QTD_SIM_SIM_H */
