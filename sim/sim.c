/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qthingd-sim: the platform side of docs/protocol.md for tests and local runs. `run` connects
 * to a mosquitto that loads qtd_mosq_auth.so (mosq_auth.c), delivers device secrets after
 * registrations (DEV_CONFIG_WRITE 0x00B4), answers failed authentications with EXCE_WRITE
 * 0x00A3, decodes and logs every uplink frame as JSON lines, and sends downlinks on request
 * of control messages (qtd-sim/ctl), and runs session encryption for devices that connect
 * with session flag 1 (a session key per connection, sent in 0x00B4 id 6; payloads both ways
 * AES-128-CBC under it). The other subcommands are tools for tests: publish a control
 * message, compute device passwords, print a broker config, encode and decode frames.
 * One thread: Paho MQTT C's synchronous client polled by a single loop (no callbacks).
 * Not here: the codec itself (plugins/cloud), the broker's checks (mosq_auth.c).
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <MQTTClient.h>
#include <cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cloud_auth.h"
#include "cloud_frame.h"
#include "cloud_ttlv.h"
#include "registry.h"
#include "sim.h"
#include "sim_json.h"

static const char usage_description[] =
    "DESCRIPTION\n"
    "    The real platform is not reachable from a test bench, so qthingd-sim plays its side of\n"
    "    the wire (docs/protocol.md) over a real mosquitto broker. The broker authenticates\n"
    "    devices itself through the plugin qtd_mosq_auth.so against the product registry and\n"
    "    confines every device to its own q/1/d/qd<PK><DK>/... (downlink) and\n"
    "    q/2/d/qd<PK><DK>/{sys,bus,ota} (uplink) topics; it reports each verdict to this\n"
    "    process on qtd-sim/auth. Until this process has subscribed to the devices' uplinks,\n"
    "    the broker closes device connections without an answer (like a platform whose backend\n"
    "    is down), so no uplink is acknowledged and lost. Devices connect with client id\n"
    "    qd<PK><DK>, any username but\n"
    "    \"qtd-sim\" (mosquitto refuses a password without a username in MQTT 3.1.1, so send an\n"
    "    empty one) and the registration or login password of docs/protocol.md.\n"
    "\n";

static const char usage_tail[] =
    "\n"
    "LOG (--log FILE.jsonl, one JSON object per line, flushed per line)\n"
    "    Every line has \"ts\" (Unix time in ms). A frame:\n"
    "      {\"ts\", \"dir\": \"up\"|\"down\", \"client\", \"pk\", \"dk\",\n"
    "       \"topic\", \"qos\", \"pkgid\", \"cmd\": 20, \"cmd_name\": \"TSL_EVENT\",\n"
    "       \"data\": {\"1\": true, \"2\": 25, \"3\": 12.5}[, \"encrypted\": true|false]}\n"
    "    \"encrypted\" is there for devices of session flag 1 only; the frame shown is always\n"
    "    the decrypted one.\n"
    "    data: TTLV as an object keyed by id strings (floats always show '.' or an exponent;\n"
    "    arrays as arrays; text as strings; other bytes as {\"hex\"}), id lists as arrays,\n"
    "    passthrough as {\"hex\", \"text\" (when UTF-8)}. A malformed frame has \"error\"\n"
    "    (protocol, length, checksum, command, unformattable, or decrypt: an uplink that does\n"
    "    not decrypt with the session key), \"detail\" and \"hex\" instead of data. An uplink\n"
    "    on the wrong topic type has \"warning\". Device secrets and session keys in\n"
    "    DEV_CONFIG_WRITE are shown as \"<redacted>\". Events:\n"
    "      {\"ts\", \"event\": \"registered\", \"client\", \"pk\", \"dk\",\n"
    "       \"kind\", \"errcode\", \"flag\", \"new\": true|false}\n"
    "      {\"ts\", \"event\": E, \"client\", \"pk\", \"dk\", \"kind\": K, \"errcode\", \"flag\"}\n"
    "         E: login, auth_fail or login_refused; K: register or login\n"
    "      {\"ts\", \"event\": \"offline\", \"client\", \"pk\", \"dk\"}\n"
    "      {\"ts\", \"event\": \"session\", \"client\", \"pk\", \"dk\", \"state\": S}\n"
    "         S: sent (the key went out: downlinks are encrypted from now on), confirmed\n"
    "         (the first uplink that decrypts) or dropped (the connection it was for is gone)\n"
    "      {\"ts\", \"event\": \"ctl\", \"cmd\", \"ok\"[, \"error\"][, \"pkgid\"]}\n"
    "      {\"ts\", \"event\": \"stats\", \"devices\": {CLIENT: {\"pk\", \"dk\", \"online\",\n"
    "       \"session\": \"none\"|\"sent\"|\"confirmed\", \"up\": {NAME: n}, \"down\": {NAME: n},\n"
    "       \"up_errors\", \"down_errors\", \"up_plain\"}}}\n"
    "      {\"ts\", \"event\": E, \"message\"}\n"
    "         E: started, connected, disconnected, stopped, warning or error\n"
    "    Standard error gets one readable line per frame and event (not with --quiet).\n"
    "\n"
    "SESSION ENCRYPTION (session flag 1: password \"0;0001;...\" or \"1;0001;...\")\n"
    "    For every accepted connection with flag 1 the platform draws a new random 16-byte\n"
    "    session key and sends it as DEV_CONFIG_WRITE 0x00B4 id 6 (bytes) = AES-128-CBC(key =\n"
    "    DS[0:16], IV = SHA256(DS)[0:16], PKCS#7) of the 16 key bytes: after a registration in\n"
    "    the same frame as the DS, {5: DS, 6: key} (the device reads id 5 first); after a\n"
    "    login alone, right after the verdict. That 0x00B4 itself is not encrypted. From then\n"
    "    on every downlink to the device is AES-128-CBC(session key, IV = SHA256(key)[0:16],\n"
    "    PKCS#7) of the frame, and uplinks are decrypted the same way. An uplink of a flag-1\n"
    "    device is taken:\n"
    "      - decrypted, when it decrypts and the result is a well-formed frame (header,\n"
    "        length, checksum); the first such uplink confirms the key;\n"
    "      - plain, while no key was sent (as with flag 0), or when it is a frame as it is\n"
    "        and the key is not confirmed yet (no encrypted uplink seen): the device sends\n"
    "        plain until the key has reached it (after a login its first status and info\n"
    "        reports always go before the key can arrive), so these are accepted, logged\n"
    "        with \"encrypted\": false and counted as up_plain;\n"
    "      - otherwise (a plain frame after the key was confirmed, or bytes that are neither):\n"
    "        an error line and a frame line with \"error\": \"decrypt\"; counted in up_errors.\n"
    "    The key lives for the connection: a new connection (verdict) or a disconnect forgets\n"
    "    it, and a pending 0x00B4 for a connection that is gone is dropped, not sent.\n"
    "\n"
    "REGISTRY (--registry FILE, shared with the broker plugin)\n"
    "    {\"products\": [{\"pk\": \"p1116a\", \"ps\": \"UHg1dTRBRVh3MkVG\",\n"
    "                   \"devices\": [{\"dk\": \"dev1\", \"ds\": \"<secret>\",\n"
    "                                \"disabled\": false, \"connect_errcode\": 0}]}],\n"
    "     \"auto_register\": true}\n"
    "    auto_register lets unknown DKs of a known product register; a device's\n"
    "    connect_errcode (optional) answers its connections with that error (10428, 10429).\n"
    "    qthingd-sim is its only writer (temp file + rename); the plugin re-reads it when it\n"
    "    changes.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success; 1 failure (broker unreachable or refusing, malformed input, negative\n"
    "    reply); 2 usage error.\n"
    "\n"
    "ENVIRONMENT\n"
    "    QTD_SIM_PASSWORD    the platform password when --password is not given\n"
    "\n"
    "EXAMPLE\n"
    "    qthingd-sim broker-conf --port 18830 --registry reg.json --password s3 \\\n"
    "        --plugin build/sim/qtd_mosq_auth.so > mosq.conf && mosquitto -c mosq.conf &\n"
    "    qthingd-sim run --broker 127.0.0.1:18830 --password s3 --registry reg.json \\\n"
    "        --log sim.jsonl &\n"
    "    qthingd-sim ctl --broker 127.0.0.1:18830 --password s3 \\\n"
    "        '{\"cmd\": \"tsl_write\", \"dk\": \"dev1\", \"data\": {\"24\": true}}'\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sim_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ---- scheduled downlinks */

struct sim_pending_s {
    sim_pending_t *next;
    int64_t due; /* sim_mono_ms */
    char client[SIM_CLIENTID_MAX + 1];
    uint16_t cmd;
    uint8_t *payload;
    size_t len;
    bool starts_session; /* carries key: start encrypting once it is sent */
    uint32_t conn;       /* the connection it is for (starts_session only) */
    uint8_t key[SIM_SESSION_KEY_LEN];
};

/* ---- output */

cJSON *sim_line_new(void)
{
    cJSON *o = cJSON_CreateObject();

    if (o != NULL && cJSON_AddNumberToObject(o, "ts", (double)now_ms()) == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Write a log line (takes ownership of o). */
void sim_log_line(sim_t *s, cJSON *o)
{
    char *text;

    if (o == NULL) {
        fprintf(stderr, "qthingd-sim: out of memory writing a log line\n");
        return;
    }
    text = cJSON_PrintUnformatted(o);
    if (text != NULL) {
        fprintf(s->log, "%s\n", text);
        fflush(s->log);
    }
    free(text);
    cJSON_Delete(o);
}

void sim_say(const sim_t *s, const char *fmt, ...)
{
    va_list ap;
    struct timespec ts;
    struct tm tm;

    if (s != NULL && s->quiet) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld qthingd-sim: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void sim_log_event(sim_t *s, const char *event, const char *fmt, ...)
{
    cJSON *o = sim_line_new();
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (o != NULL) {
        cJSON_AddStringToObject(o, "event", event);
        cJSON_AddStringToObject(o, "message", msg);
    }
    sim_log_line(s, o);
    sim_say(s, "%s: %s", event, msg);
}

/* ---- devices */

void sim_count(sim_counters_t *c, uint16_t cmd)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i].cmd == cmd) {
            c->v[i].n++;
            return;
        }
    }
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 8;
        sim_counter_t *nv = realloc(c->v, nc * sizeof(*nv));
        if (nv == NULL) {
            return;
        }
        c->v = nv;
        c->cap = nc;
    }
    c->v[c->n].cmd = cmd;
    c->v[c->n++].n = 1;
}

void sim_refresh_registry(sim_t *s)
{
    const char *err = NULL;
    bool changed = false;
    int rc = qtd_registry_refresh(s->reg, &changed, &err);

    if (rc != 0) {
        sim_log_event(s, "error", "keeping the previous registry: %s: %s", s->registry_path,
                      err != NULL ? err : strerror(-rc));
    }
}

sim_device_t *sim_device_find(const sim_t *s, const char *id)
{
    for (size_t i = 0; i < s->ndevices; i++) {
        if (strcmp(s->devices[i]->id, id) == 0) {
            return s->devices[i];
        }
    }
    return NULL;
}

/* The device of a client id, created (PK and DK from the registry) when first seen. */
sim_device_t *sim_device_get(sim_t *s, const char *id, const char *pk, const char *dk)
{
    sim_device_t *d = sim_device_find(s, id);

    if (d != NULL) {
        if (d->pk[0] == '\0' && pk != NULL && pk[0] != '\0') {
            snprintf(d->pk, sizeof(d->pk), "%s", pk);
            snprintf(d->dk, sizeof(d->dk), "%s", dk != NULL ? dk : "");
        }
        return d;
    }
    if (strlen(id) > SIM_CLIENTID_MAX) {
        return NULL;
    }
    if (s->ndevices == s->devcap) {
        size_t nc = s->devcap ? s->devcap * 2 : 16;
        sim_device_t **nd = realloc(s->devices, nc * sizeof(*nd));
        if (nd == NULL) {
            return NULL;
        }
        s->devices = nd;
        s->devcap = nc;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return NULL;
    }
    strcpy(d->id, id);
    if (pk != NULL && pk[0] != '\0') {
        snprintf(d->pk, sizeof(d->pk), "%s", pk);
        snprintf(d->dk, sizeof(d->dk), "%s", dk != NULL ? dk : "");
    } else {
        qtd_reg_product_t *p;
        qtd_reg_device_t *rd;
        const char *rdk;
        sim_refresh_registry(s);
        if (qtd_registry_lookup(s->reg, id, &p, &rd, &rdk) == 0) {
            snprintf(d->pk, sizeof(d->pk), "%s", p->pk);
            snprintf(d->dk, sizeof(d->dk), "%s", rdk);
        }
    }
    s->devices[s->ndevices++] = d;
    return d;
}

static void device_free(sim_device_t *d)
{
    if (d != NULL) {
        OPENSSL_cleanse(d->key, sizeof(d->key));
        free(d->up.v);
        free(d->down.v);
        free(d);
    }
}

/* ---- MQTT */

static int mqtt_connect(sim_t *s)
{
    MQTTClient_connectOptions opts = MQTTClient_connectOptions_initializer;
    char *topics[] = {SIM_TOPIC_AUTH, SIM_TOPIC_CTL, SIM_TOPIC_UPLINKS};
    int qos[] = {1, 1, 2};
    int rc;

    opts.keepAliveInterval = 20;
    opts.cleansession = 1;
    opts.connectTimeout = 5;
    opts.username = SIM_USERNAME;
    opts.password = s->password;
    opts.MQTTVersion = MQTTVERSION_3_1_1;
    rc = MQTTClient_connect(s->cl, &opts);
    if (rc != MQTTCLIENT_SUCCESS) {
        return rc;
    }
    rc = MQTTClient_subscribeMany(s->cl, 3, topics, qos);
    if (rc != MQTTCLIENT_SUCCESS || qos[0] != 1 || qos[1] != 1 || qos[2] != 2) {
        MQTTClient_disconnect(s->cl, 100);
        return rc != MQTTCLIENT_SUCCESS ? rc : MQTTCLIENT_FAILURE;
    }
    s->connected = true;
    return 0;
}

int sim_publish(sim_t *s, const char *topic, const void *payload, size_t len, int qos)
{
    MQTTClient_deliveryToken tok;

    if (!s->connected) {
        return MQTTCLIENT_DISCONNECTED;
    }
    return MQTTClient_publish(s->cl, topic, (int)len, payload, qos, 0, &tok);
}

/* ---- downlinks */

/* Hide device secrets (ids 5 and 10) and the session key (6) of a DEV_CONFIG_WRITE. */
static void redact(cJSON *line)
{
    cJSON *data = cJSON_GetObjectItemCaseSensitive(line, "data");
    static const char *const ids[] = {"5", "6", "10"};

    for (size_t i = 0; cJSON_IsObject(data) && i < 3; i++) {
        if (cJSON_GetObjectItemCaseSensitive(data, ids[i]) != NULL) {
            cJSON_ReplaceItemInObjectCaseSensitive(data, ids[i], cJSON_CreateString("<redacted>"));
        }
    }
}

/* Log and count a frame the simulator sends or received. */
cJSON *sim_frame_line(const char *dir, const sim_device_t *d, const char *topic, int qos,
                      const uint8_t *buf, size_t n, int *malformed)
{
    cJSON *o = sim_line_new();
    int rc;

    if (o == NULL || cJSON_AddStringToObject(o, "dir", dir) == NULL ||
        cJSON_AddStringToObject(o, "client", d->id) == NULL ||
        cJSON_AddStringToObject(o, "pk", d->pk) == NULL ||
        cJSON_AddStringToObject(o, "dk", d->dk) == NULL ||
        cJSON_AddStringToObject(o, "topic", topic) == NULL ||
        cJSON_AddNumberToObject(o, "qos", qos) == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    rc = qtd_sim_frame_to_json(buf, n, o);
    if (rc < 0) {
        cJSON_Delete(o);
        return NULL;
    }
    *malformed = rc;
    return o;
}

void sim_say_frame(const sim_t *s, const char *dir, const sim_device_t *d, cJSON *line)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(line, "cmd_name");
    const cJSON *pkgid = cJSON_GetObjectItemCaseSensitive(line, "pkgid");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(line, "error");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(line, "data");
    char *text = NULL;

    if (s->quiet) {
        return;
    }
    if (data != NULL) {
        text = cJSON_PrintUnformatted(data);
    }
    sim_say(s, "%-4s %s %s pkgid %d %s%s", dir, d->id,
            cJSON_IsString(name) ? name->valuestring : "?",
            cJSON_IsNumber(pkgid) ? pkgid->valueint : 0, cJSON_IsString(err) ? "ERROR " : "",
            cJSON_IsString(err) ? err->valuestring : (text != NULL ? text : ""));
    free(text);
}

/* AES-128-CBC of a payload under the device's session key, IV = SHA256(key)[0:16].
 * Returns as qtd_aes128cbc. */
int sim_session_crypt(const sim_device_t *d, bool encrypt, const uint8_t *in, size_t n,
                      uint8_t **out, size_t *out_len)
{
    uint8_t iv[16];

    qtd_auth_iv(d->key, sizeof(d->key), iv);
    return qtd_aes128cbc(encrypt, d->key, iv, in, n, out, out_len);
}

void sim_session_event(sim_t *s, const sim_device_t *d, const char *state)
{
    cJSON *o = sim_line_new();

    if (o != NULL) {
        cJSON_AddStringToObject(o, "event", "session");
        cJSON_AddStringToObject(o, "client", d->id);
        cJSON_AddStringToObject(o, "pk", d->pk);
        cJSON_AddStringToObject(o, "dk", d->dk);
        cJSON_AddStringToObject(o, "state", state);
    }
    sim_log_line(s, o);
    sim_say(s, "%-4s %s session key %s", "key", d->id, state);
}

/* Send bytes to q/1/d/<client>/<type>, encrypted with the session key when the device has
 * one (unless plain); log them as they were before encryption. Returns 0, a Paho error, or
 * MQTTCLIENT_FAILURE when they cannot be encrypted. */
int sim_send_bytes(sim_t *s, sim_device_t *d, const char *type, int qos, const uint8_t *buf,
                   size_t n, bool plain)
{
    char topic[SIM_CLIENTID_MAX + 16];
    bool encrypt = d->session != SIM_SESSION_NONE && !plain;
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    int malformed = 0;
    cJSON *line;
    int rc;

    snprintf(topic, sizeof(topic), "q/1/d/%s/%s", d->id, type);
    if (encrypt && sim_session_crypt(d, true, buf, n, &enc, &enc_len) != 0) {
        sim_log_event(s, "error", "cannot encrypt a downlink to %s", d->id);
        return MQTTCLIENT_FAILURE;
    }
    rc = encrypt ? sim_publish(s, topic, enc, enc_len, qos) : sim_publish(s, topic, buf, n, qos);
    free(enc);
    line = sim_frame_line("down", d, topic, qos, buf, n, &malformed);
    if (line != NULL) {
        const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(line, "cmd");
        if (cJSON_IsNumber(cmd) && cmd->valueint == QTD_CMD_DEV_CONFIG_WRITE) {
            redact(line);
        }
        if (d->flag == 1) {
            cJSON_AddBoolToObject(line, "encrypted", encrypt);
        }
        if (malformed || !cJSON_IsNumber(cmd)) {
            d->down_errors++;
        } else {
            sim_count(&d->down, (uint16_t)cmd->valueint);
        }
        if (rc != MQTTCLIENT_SUCCESS) {
            cJSON_AddStringToObject(line, "send_error", MQTTClient_strerror(rc));
        }
        sim_say_frame(s, "down", d, line);
    }
    sim_log_line(s, line);
    return rc;
}

/* Frame and send a downlink (as sim_send_bytes); *pkgid_out gets the pkgid used. pkgid 0: the
 * device's next. */
int sim_send_frame(sim_t *s, sim_device_t *d, uint16_t cmd, const uint8_t *payload, size_t len,
                   uint16_t pkgid, const char *type, int qos, bool plain, uint16_t *pkgid_out)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc;

    if (pkgid == 0) {
        d->last_pkgid = qtd_frame_next_pkgid(d->last_pkgid);
        pkgid = d->last_pkgid;
    }
    rc = qtd_frame_encode(pkgid, cmd, payload, len, &buf, &n);
    if (rc != 0) {
        return rc;
    }
    rc = sim_send_bytes(s, d, type != NULL ? type : qtd_sim_down_topic_type(cmd), qos, buf, n,
                        plain);
    free(buf);
    if (pkgid_out != NULL) {
        *pkgid_out = pkgid;
    }
    return rc == MQTTCLIENT_SUCCESS ? 0 : -ENOTCONN;
}

/* Send cmd with payload (taken) to d in delay_ms. key (may be NULL): the session key the
 * payload carries; once sent, the device's downlinks are encrypted with it. */
void sim_schedule(sim_t *s, const sim_device_t *d, uint16_t cmd, uint8_t *payload, size_t len,
                  int delay_ms, const uint8_t *key)
{
    sim_pending_t *p = calloc(1, sizeof(*p));
    sim_pending_t **pp = &s->pending;

    if (p == NULL) {
        free(payload);
        return;
    }
    p->due = sim_mono_ms() + delay_ms;
    snprintf(p->client, sizeof(p->client), "%s", d->id);
    p->cmd = cmd;
    p->payload = payload; /* taken */
    p->len = len;
    if (key != NULL) {
        p->starts_session = true;
        p->conn = d->conn;
        memcpy(p->key, key, sizeof(p->key));
    }
    while (*pp != NULL) {
        pp = &(*pp)->next;
    }
    *pp = p;
}

static void pending_free(sim_pending_t *p)
{
    OPENSSL_cleanse(p->key, sizeof(p->key));
    if (p->payload != NULL) {
        OPENSSL_cleanse(p->payload, p->len);
    }
    free(p->payload);
    free(p);
}

void sim_run_pending(sim_t *s)
{
    int64_t now = sim_mono_ms();

    while (s->pending != NULL && s->pending->due <= now) {
        sim_pending_t *p = s->pending;
        sim_device_t *d = sim_device_find(s, p->client);
        s->pending = p->next;
        if (d != NULL && p->starts_session && (p->conn != d->conn || !d->online)) {
            /* The device reconnected or left: this key (and DS) belongs to no connection. */
            sim_session_event(s, d, "dropped");
        } else if (d != NULL) {
            /* A key goes out plain: the device has none yet (d->session is NONE here). */
            if (sim_send_frame(s, d, p->cmd, p->payload, p->len, 0, NULL, 1, false, NULL) != 0) {
                sim_log_event(s, "error", "cannot send %s to %s", qtd_sim_cmd_name(p->cmd), d->id);
            } else if (p->starts_session) {
                memcpy(d->key, p->key, sizeof(d->key));
                d->session = SIM_SESSION_SENT;
                sim_session_event(s, d, "sent");
            }
        }
        pending_free(p);
    }
}

int64_t sim_pending_wait(const sim_t *s, int64_t max)
{
    int64_t left;

    if (s->pending == NULL) {
        return max;
    }
    left = s->pending->due - sim_mono_ms();
    return left < 0 ? 0 : left < max ? left : max;
}

void sim_pending_clear(sim_t *s)
{
    while (s->pending != NULL) {
        sim_pending_t *p = s->pending;
        s->pending = p->next;
        pending_free(p);
    }
}

/* TTLV of {1: errcode, 2: 0, 3: PK, 4: DK}. */
int sim_exce_payload(const sim_device_t *d, int errcode, uint8_t **out, size_t *len)
{
    qtd_value_t items[4];
    qtd_value_t root;

    memset(items, 0, sizeof(items));
    memset(&root, 0, sizeof(root));
    items[0].type = QTD_VAL_INT;
    items[0].id = 1;
    items[0].u.i = errcode;
    items[1].type = QTD_VAL_INT;
    items[1].id = 2;
    items[1].u.i = 0;
    items[2].type = QTD_VAL_STRING;
    items[2].id = 3;
    items[2].u.s.ptr = d->pk;
    items[2].u.s.len = strlen(d->pk);
    items[3].type = QTD_VAL_STRING;
    items[3].id = 4;
    items[3].u.s.ptr = d->dk;
    items[3].u.s.len = strlen(d->dk);
    root.type = QTD_VAL_STRUCT;
    root.u.list.items = items;
    root.u.list.count = 4;
    return qtd_ttlv_encode(&root, out, len);
}

/* ---- verdicts from the broker plugin */

static int new_secret(char ds[33])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t raw[16];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return -EIO;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        ds[2 * i] = digits[raw[i] >> 4];
        ds[2 * i + 1] = digits[raw[i] & 15];
    }
    ds[32] = '\0';
    return 0;
}

/* The TTLV item {6: session key}: a new random key (into key) as AES-128-CBC(key = DS[0:16],
 * IV = SHA256(DS)[0:16], PKCS#7) bytes in *enc (malloc'ed; item points into it).
 * Returns: 0, -EINVAL (DS shorter than 16 characters), -EIO (no randomness), -ENOMEM. */
static int session_key_item(const char *ds, uint8_t key[SIM_SESSION_KEY_LEN], qtd_value_t *item,
                            uint8_t **enc)
{
    uint8_t iv[16];
    size_t n = 0;
    int rc;

    *enc = NULL;
    if (strlen(ds) < 16) {
        return -EINVAL;
    }
    if (RAND_bytes(key, SIM_SESSION_KEY_LEN) != 1) {
        return -EIO;
    }
    qtd_auth_iv((const uint8_t *)ds, strlen(ds), iv);
    rc = qtd_aes128cbc(true, (const uint8_t *)ds, iv, key, SIM_SESSION_KEY_LEN, enc, &n);
    if (rc != 0) {
        return rc;
    }
    memset(item, 0, sizeof(*item));
    item->type = QTD_VAL_BYTES;
    item->id = 6;
    item->u.s.ptr = (const char *)*enc;
    item->u.s.len = n;
    return 0;
}

/* Login with flag 1: send {6: session key} now (encrypted with the registry's DS). */
static void start_session(sim_t *s, sim_device_t *d)
{
    qtd_reg_product_t *p;
    qtd_reg_device_t *rd;
    qtd_value_t item;
    qtd_value_t root;
    uint8_t key[SIM_SESSION_KEY_LEN];
    uint8_t *enc = NULL;
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc;

    sim_refresh_registry(s);
    p = qtd_registry_product(s->reg, d->pk);
    rd = p != NULL ? qtd_registry_device(p, d->dk) : NULL;
    if (rd == NULL || rd->ds[0] == '\0') {
        sim_log_event(s, "error", "no session key for %s: its device secret is not in the registry",
                      d->id);
        return;
    }
    rc = session_key_item(rd->ds, key, &item, &enc);
    if (rc == 0) {
        memset(&root, 0, sizeof(root));
        root.type = QTD_VAL_STRUCT;
        root.u.list.items = &item;
        root.u.list.count = 1;
        rc = qtd_ttlv_encode(&root, &payload, &len);
    }
    free(enc);
    if (rc != 0) {
        sim_log_event(s, "error", "cannot build the session key of %s: %s", d->id, strerror(-rc));
    } else {
        sim_schedule(s, d, QTD_CMD_DEV_CONFIG_WRITE, payload, len, 0, key);
    }
    OPENSSL_cleanse(key, sizeof(key));
}

static void registered(sim_t *s, sim_device_t *d, cJSON *line)
{
    qtd_value_t item[2];
    qtd_value_t root;
    qtd_reg_product_t *p;
    qtd_reg_device_t *rd;
    uint8_t key[SIM_SESSION_KEY_LEN];
    uint8_t *enc = NULL;
    uint8_t *payload = NULL;
    size_t len = 0;
    char ds[33];
    int rc;

    sim_refresh_registry(s);
    p = qtd_registry_product(s->reg, d->pk);
    rd = p != NULL ? qtd_registry_device_add(p, d->dk) : NULL;
    if (rd == NULL || new_secret(ds) != 0) {
        cJSON_Delete(line);
        sim_log_event(s, "error", "cannot register %s: unknown product or out of memory", d->id);
        return;
    }
    snprintf(rd->ds, sizeof(rd->ds), "%s", ds);
    rc = qtd_registry_save(s->reg);
    if (rc != 0) {
        cJSON_Delete(line);
        sim_log_event(s, "error", "cannot save the registry %s: %s; no secret sent to %s",
                      s->registry_path, strerror(-rc), d->id);
        return;
    }
    sim_log_line(s, line);
    memset(item, 0, sizeof(item));
    memset(&root, 0, sizeof(root));
    item[0].type = QTD_VAL_STRING;
    item[0].id = 5;
    item[0].u.s.ptr = ds;
    item[0].u.s.len = 32;
    root.type = QTD_VAL_STRUCT;
    root.u.list.items = item;
    root.u.list.count = 1;
    rc = 0;
    if (d->flag == 1) {
        /* DS and key in one frame: the device stores the DS (id 5) before it decrypts the
         * key with it (id 6), and its first reports already go out encrypted. */
        rc = session_key_item(ds, key, &item[1], &enc);
        root.u.list.count = 2;
    }
    if (rc == 0) {
        rc = qtd_ttlv_encode(&root, &payload, &len);
    }
    free(enc);
    OPENSSL_cleanse(ds, sizeof(ds));
    if (rc != 0) {
        sim_log_event(s, "error", "cannot encode the secret of %s: %s", d->id, strerror(-rc));
    } else {
        sim_schedule(s, d, QTD_CMD_DEV_CONFIG_WRITE, payload, len, s->reg_delay_ms,
                     d->flag == 1 ? key : NULL);
    }
    OPENSSL_cleanse(key, sizeof(key));
}

const char *sim_str_member(const cJSON *o, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(it) ? it->valuestring : NULL;
}

int sim_int_member(const cJSON *o, const char *name, int dflt)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsNumber(it) ? it->valueint : dflt;
}

void sim_on_verdict(sim_t *s, const char *text)
{
    cJSON *v = cJSON_Parse(text);
    const char *client = sim_str_member(v, "client");
    const char *pk = sim_str_member(v, "pk");
    const char *dk = sim_str_member(v, "dk");
    const char *kind = sim_str_member(v, "kind");
    int errcode = sim_int_member(v, "errcode", 0);
    const char *event;
    bool refused;
    sim_device_t *d;
    cJSON *line;

    if (client == NULL || kind == NULL) {
        sim_log_event(s, "error", "malformed verdict from the broker plugin: %s", text);
        goto out;
    }
    d = sim_device_get(s, client, pk, dk);
    if (d == NULL) {
        goto out;
    }
    refused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "refused"));
    if (!refused) {
        /* A new connection (or the end of one): its session key starts over. A refused
         * CONNECT leaves the device's current connection, if any, alone. */
        d->conn++;
        d->session = SIM_SESSION_NONE;
        OPENSSL_cleanse(d->key, sizeof(d->key));
        d->flag = strcmp(kind, "disconnect") == 0 ? 0 : sim_int_member(v, "flag", 0);
    }
    if (strcmp(kind, "disconnect") == 0) {
        d->online = false;
        event = "offline";
    } else if (refused) {
        event = "login_refused";
    } else if (errcode != 0) {
        d->online = true;
        event = "auth_fail";
    } else if (strcmp(kind, "register") == 0) {
        d->online = true;
        event = "registered";
    } else {
        d->online = true;
        event = "login";
    }
    line = sim_line_new();
    if (line == NULL || cJSON_AddStringToObject(line, "event", event) == NULL ||
        cJSON_AddStringToObject(line, "client", d->id) == NULL ||
        cJSON_AddStringToObject(line, "pk", d->pk) == NULL ||
        cJSON_AddStringToObject(line, "dk", d->dk) == NULL) {
        cJSON_Delete(line);
        goto out;
    }
    if (strcmp(event, "offline") != 0) {
        cJSON_AddStringToObject(line, "kind", kind);
        cJSON_AddNumberToObject(line, "errcode", errcode);
        cJSON_AddNumberToObject(line, "flag", sim_int_member(v, "flag", 0));
    }
    if (strcmp(event, "registered") == 0) {
        cJSON_AddBoolToObject(line, "new",
                              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "new")));
    }
    sim_say(s, "%-4s %s %s%s%.0d", "auth", d->id, event, errcode != 0 ? " errcode " : "", errcode);
    if (strcmp(event, "registered") == 0) {
        registered(s, d, line);
    } else if (strcmp(event, "auth_fail") == 0) {
        uint8_t *payload = NULL;
        size_t len = 0;
        sim_log_line(s, line);
        if (sim_exce_payload(d, errcode, &payload, &len) == 0) {
            sim_schedule(s, d, QTD_CMD_EXCE_WRITE, payload, len, s->reg_delay_ms, NULL);
        } else {
            sim_log_event(s, "error", "cannot encode EXCE_WRITE for %s", d->id);
        }
    } else {
        sim_log_line(s, line);
        if (strcmp(event, "login") == 0 && d->flag == 1) {
            start_session(s, d);
        }
    }
out:
    cJSON_Delete(v);
}

/* ---- uplinks */

/* Count, check the topic type of, print and write the log line of an uplink (taken). */
static void log_uplink(sim_t *s, sim_device_t *d, const char *type, cJSON *line, int malformed)
{
    if (malformed) {
        d->up_errors++;
    } else {
        const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(line, "cmd");
        const char *want = qtd_frame_topic_type((uint16_t)cmd->valueint);
        sim_count(&d->up, (uint16_t)cmd->valueint);
        if (want != NULL && strcmp(want, type) != 0) {
            char w[64];
            snprintf(w, sizeof(w), "this command belongs on .../%s", want);
            cJSON_AddStringToObject(line, "warning", w);
        }
    }
    sim_say_frame(s, "up", d, line);
    sim_log_line(s, line);
}

/* Is buf a frame as it is (header, length, pkgid, checksum; the payload is not looked at)? */
static bool is_frame(const uint8_t *buf, size_t n)
{
    qtd_frame_t f;
    uint8_t *storage = NULL;
    int reason = 0;
    int rc = qtd_frame_decode(buf, n, &f, &storage, &reason);

    free(storage);
    return rc == 0;
}

/* An uplink of a flag-1 connection: decrypted, taken plain, or refused by the rule of
 * SESSION ENCRYPTION in the help text. */
static void session_uplink(sim_t *s, sim_device_t *d, const char *topic, const uint8_t *buf,
                           size_t n, int qos)
{
    const char *type = strrchr(topic, '/') + 1;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    bool decrypted = false;
    int malformed = 0;
    cJSON *line = NULL;

    if (d->session != SIM_SESSION_NONE && n > 0 && n % 16 == 0 &&
        sim_session_crypt(d, false, buf, n, &plain, &plain_len) == 0) {
        decrypted = is_frame(plain, plain_len);
    }
    if (decrypted || d->session == SIM_SESSION_NONE ||
        (d->session == SIM_SESSION_SENT && is_frame(buf, n))) {
        line = decrypted ? sim_frame_line("up", d, topic, qos, plain, plain_len, &malformed)
                         : sim_frame_line("up", d, topic, qos, buf, n, &malformed);
        if (line != NULL) {
            cJSON_AddBoolToObject(line, "encrypted", decrypted);
        }
        if (decrypted && d->session == SIM_SESSION_SENT) {
            d->session = SIM_SESSION_CONFIRMED;
            sim_session_event(s, d, "confirmed");
        } else if (!decrypted) {
            d->up_plain++;
        }
    } else {
        /* Neither decrypts to a frame nor may be taken plain. */
        char *hex = qtd_sim_hex_encode(buf, n > 64 ? 64 : n);
        const char *why = is_frame(buf, n) ? "a plain frame after the key was confirmed"
                                           : "does not decrypt with the session key";
        sim_log_event(s, "error", "uplink from %s on %s (%zu bytes): %s", d->id, topic, n, why);
        line = sim_line_new();
        if (line != NULL) {
            cJSON_AddStringToObject(line, "dir", "up");
            cJSON_AddStringToObject(line, "client", d->id);
            cJSON_AddStringToObject(line, "pk", d->pk);
            cJSON_AddStringToObject(line, "dk", d->dk);
            cJSON_AddStringToObject(line, "topic", topic);
            cJSON_AddNumberToObject(line, "qos", qos);
            cJSON_AddStringToObject(line, "error", "decrypt");
            cJSON_AddStringToObject(line, "detail", why);
            cJSON_AddStringToObject(line, "hex", hex != NULL ? hex : "");
        }
        free(hex);
        malformed = 1;
    }
    if (plain != NULL) {
        OPENSSL_cleanse(plain, plain_len);
    }
    free(plain);
    if (line == NULL) {
        sim_log_event(s, "error", "out of memory logging an uplink");
        return;
    }
    log_uplink(s, d, type, line, malformed);
}

void sim_on_uplink(sim_t *s, const char *topic, const uint8_t *buf, size_t n, int qos)
{
    const char *start = topic + strlen("q/2/d/");
    const char *slash = strrchr(topic, '/');
    char id[SIM_CLIENTID_MAX + 1];
    int malformed = 0;
    sim_device_t *d;
    cJSON *line;

    if (slash == NULL || slash < start || (size_t)(slash - start) > SIM_CLIENTID_MAX ||
        slash == start) {
        sim_log_event(s, "error", "uplink on an unexpected topic %s", topic);
        return;
    }
    memcpy(id, start, (size_t)(slash - start));
    id[slash - start] = '\0';
    d = sim_device_get(s, id, NULL, NULL);
    if (d == NULL) {
        return;
    }
    if (d->flag == 1) {
        session_uplink(s, d, topic, buf, n, qos);
        return;
    }
    line = sim_frame_line("up", d, topic, qos, buf, n, &malformed);
    if (line == NULL) {
        sim_log_event(s, "error", "out of memory logging an uplink");
        return;
    }
    log_uplink(s, d, slash + 1, line, malformed);
}

/* ---- control messages */

/* One control message being answered. */
typedef struct {
    const qtd_sim_doc_t *doc; /* the message, numbers as written */
    const cJSON *m;           /* its root */
    const char *cmd;          /* its "cmd" */
    sim_device_t *d;          /* the device it names (set by ctl_target) */
    const char *type;         /* "topic_type", NULL: the command's own (set by ctl_target) */
    int qos;                  /* "qos" (set by ctl_target) */
    int pkgid;                /* "pkgid", 0: the device's next (set by ctl_target) */
    bool plain;               /* "plain": do not encrypt (set by ctl_target) */
    cJSON *reply;             /* the answer on qtd-sim/reply */
    char err[256];            /* why it failed */
} ctl_t;

/* A control command: 0, or a negative errno with c->err saying why (-ENOMEM needs none). */
typedef int ctl_fn(sim_t *s, ctl_t *c);

static int ctl_fail(ctl_t *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* The device a control message names. */
static sim_device_t *ctl_device(sim_t *s, ctl_t *c)
{
    const char *client = sim_str_member(c->m, "client");
    const char *dk = sim_str_member(c->m, "dk");
    const char *pk = sim_str_member(c->m, "pk");
    char id[SIM_CLIENTID_MAX + 1];
    sim_device_t *d = NULL;

    if (client != NULL) {
        d = sim_device_get(s, client, NULL, NULL);
    } else if (dk != NULL && pk != NULL) {
        snprintf(id, sizeof(id), "qd%s%s", pk, dk);
        d = sim_device_get(s, id, pk, dk);
    } else if (dk != NULL) {
        sim_refresh_registry(s);
        for (size_t i = 0; i < s->reg->nproducts && d == NULL; i++) {
            qtd_reg_product_t *p = &s->reg->products[i];
            if (qtd_registry_device(p, dk) != NULL) {
                snprintf(id, sizeof(id), "qd%s%s", p->pk, dk);
                d = sim_device_get(s, id, p->pk, dk);
            }
        }
        for (size_t i = 0; i < s->ndevices && d == NULL; i++) {
            if (strcmp(s->devices[i]->dk, dk) == 0) {
                d = s->devices[i];
            }
        }
        if (d == NULL) {
            ctl_fail(c, "unknown dk \"%s\" (give \"pk\" or \"client\")", dk);
            return NULL;
        }
    } else {
        ctl_fail(c, "name the device with \"client\" or \"dk\"");
        return NULL;
    }
    if (d == NULL) {
        ctl_fail(c, "out of memory");
    }
    return d;
}

/* What every command but stats does first: check "qos", "pkgid" and "topic_type", find the
 * device the message names (c->d) and put its "client" in the reply. */
static int ctl_target(sim_t *s, ctl_t *c)
{
    c->type = sim_str_member(c->m, "topic_type");
    c->qos = sim_int_member(c->m, "qos", 1);
    c->pkgid = sim_int_member(c->m, "pkgid", 0);
    c->plain = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->m, "plain"));
    if (c->qos < 0 || c->qos > 2 || c->pkgid < 0 || c->pkgid > 0xFFFF ||
        (c->type != NULL && strcmp(c->type, "sys") != 0 && strcmp(c->type, "bus") != 0 &&
         strcmp(c->type, "ota") != 0)) {
        return ctl_fail(c, "\"qos\" 0..2, \"pkgid\" 1..65534, \"topic_type\" sys|bus|ota");
    }
    c->d = ctl_device(s, c);
    if (c->d == NULL) {
        return -EINVAL;
    }
    cJSON_AddStringToObject(c->reply, "client", c->d->id);
    return 0;
}

/* The payload of a downlink from "data" (TTLV), "ids", "hex" or "text". */
static int ctl_payload(ctl_t *c, char kind, uint8_t **out, size_t *len)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(c->m, "data");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(c->m, "ids");
    const char *hex = sim_str_member(c->m, "hex");
    const char *text = sim_str_member(c->m, "text");
    int rc;

    *out = NULL;
    *len = 0;
    if (data != NULL) {
        return qtd_sim_json_to_ttlv(c->doc, data, out, len, c->err, sizeof(c->err));
    }
    if (ids != NULL) {
        return qtd_sim_json_to_ids(ids, out, len, c->err, sizeof(c->err));
    }
    if (hex != NULL) {
        rc = qtd_sim_hex_decode(hex, out, len);
        return rc == -EINVAL ? ctl_fail(c, "\"hex\" is not hex") : rc;
    }
    if (text != NULL) {
        *len = strlen(text);
        *out = *len > 0 ? (uint8_t *)strdup(text) : NULL;
        return *len > 0 && *out == NULL ? -ENOMEM : 0;
    }
    if (kind == 'i') {
        return 0; /* an empty id list reads everything */
    }
    return ctl_fail(c, "give the payload as \"data\", \"ids\", \"hex\" or \"text\"");
}

/* Frame and send cmd with payload to c->d; the reply gets "pkgid", "encrypted" (flag-1
 * devices) and "topic". */
static int ctl_send_frame(sim_t *s, ctl_t *c, uint16_t cmd, const uint8_t *payload, size_t len)
{
    char topic[SIM_CLIENTID_MAX + 16];
    uint16_t used = 0;
    int rc;

    rc = sim_send_frame(s, c->d, cmd, payload, len, (uint16_t)c->pkgid, c->type, c->qos, c->plain,
                        &used);
    if (rc == -EINVAL) {
        return ctl_fail(c, "the frame cannot be built (pkgid 0xFFFF or payload too long)");
    }
    if (rc != 0) {
        return ctl_fail(c, "not connected to the broker");
    }
    cJSON_AddNumberToObject(c->reply, "pkgid", used);
    if (c->d->flag == 1) {
        cJSON_AddBoolToObject(c->reply, "encrypted",
                              c->d->session != SIM_SESSION_NONE && !c->plain);
    }
    snprintf(topic, sizeof(topic), "q/1/d/%s/%s", c->d->id,
             c->type != NULL ? c->type : qtd_sim_down_topic_type(cmd));
    cJSON_AddStringToObject(c->reply, "topic", topic);
    return 0;
}

/* Send cmd with the payload the message gives (ctl_payload) to c->d. */
static int ctl_send_payload(sim_t *s, ctl_t *c, uint16_t cmd)
{
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc = ctl_payload(c, qtd_sim_cmd_kind(cmd), &payload, &len);

    if (rc == 0) {
        rc = ctl_send_frame(s, c, cmd, payload, len);
    }
    free(payload);
    return rc;
}

/* The commands that send one command with the message's payload. */
static int ctl_downlink(sim_t *s, ctl_t *c, uint16_t cmd)
{
    int rc = ctl_target(s, c);

    return rc != 0 ? rc : ctl_send_payload(s, c, cmd);
}

static int ctl_tsl_write(sim_t *s, ctl_t *c)
{
    return ctl_downlink(s, c, QTD_CMD_TSL_WRITE);
}

static int ctl_tsl_read(sim_t *s, ctl_t *c)
{
    return ctl_downlink(s, c, QTD_CMD_TSL_REQ);
}

static int ctl_pass_write(sim_t *s, ctl_t *c)
{
    return ctl_downlink(s, c, QTD_CMD_PASS_WRITE);
}

static int ctl_status_read(sim_t *s, ctl_t *c)
{
    return ctl_downlink(s, c, QTD_CMD_STATUS_REQ);
}

static int ctl_info_read(sim_t *s, ctl_t *c)
{
    return ctl_downlink(s, c, QTD_CMD_INFO_REQ);
}

static int ctl_dev_config(sim_t *s, ctl_t *c)
{
    return ctl_downlink(s, c, QTD_CMD_DEV_CONFIG_WRITE);
}

static int ctl_exce(sim_t *s, ctl_t *c)
{
    int errcode = sim_int_member(c->m, "errcode", 0);
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    if (errcode <= 0) {
        return ctl_fail(c, "\"exce\" needs \"errcode\"");
    }
    rc = sim_exce_payload(c->d, errcode, &payload, &len);
    if (rc == 0) {
        rc = ctl_send_frame(s, c, QTD_CMD_EXCE_WRITE, payload, len);
    }
    free(payload);
    return rc;
}

static int ctl_send(sim_t *s, ctl_t *c)
{
    const cJSON *cj = cJSON_GetObjectItemCaseSensitive(c->m, "code");
    int code;
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    code = cJSON_IsString(cj)   ? qtd_sim_cmd_parse(cj->valuestring)
           : cJSON_IsNumber(cj) ? cj->valueint
                                : -1;
    if (code < 0 || code > 0xFFFF) {
        return ctl_fail(c, "\"send\" needs \"code\" (a command name or number)");
    }
    return ctl_send_payload(s, c, (uint16_t)code);
}

static int ctl_raw(sim_t *s, ctl_t *c)
{
    const char *hex = sim_str_member(c->m, "hex");
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    if (hex == NULL || qtd_sim_hex_decode(hex, &payload, &len) != 0) {
        return ctl_fail(c, "\"raw\" needs \"hex\" bytes");
    }
    rc = sim_send_bytes(s, c->d, c->type != NULL ? c->type : "bus", c->qos, payload, len, c->plain);
    free(payload);
    return rc == MQTTCLIENT_SUCCESS ? 0 : ctl_fail(c, "not connected to the broker");
}

/* The registry entry of c->d; add: create it in its product when missing. */
static qtd_reg_device_t *ctl_reg_device(sim_t *s, ctl_t *c, bool add)
{
    qtd_reg_product_t *p;
    qtd_reg_device_t *rd;

    sim_refresh_registry(s);
    p = qtd_registry_product(s->reg, c->d->pk);
    rd = p != NULL ? qtd_registry_device(p, c->d->dk) : NULL;
    if (rd == NULL && p != NULL && add) {
        rd = qtd_registry_device_add(p, c->d->dk);
    }
    if (rd == NULL) {
        ctl_fail(c, "%s is not in the registry", c->d->id);
    }
    return rd;
}

/* Save a registry change, then disconnect c->d at the broker if kick ("kick" in the message
 * decides when present). */
static int ctl_reg_save(sim_t *s, ctl_t *c, bool kick)
{
    const cJSON *kj = cJSON_GetObjectItemCaseSensitive(c->m, "kick");
    int rc;

    if (kj != NULL) {
        kick = cJSON_IsTrue(kj);
    }
    rc = qtd_registry_save(s->reg);
    if (rc != 0) {
        return ctl_fail(c, "cannot save the registry: %s", strerror(-rc));
    }
    if (kick &&
        sim_publish(s, SIM_TOPIC_KICK, c->d->id, strlen(c->d->id), 1) != MQTTCLIENT_SUCCESS) {
        return ctl_fail(c, "registry saved but cannot ask the broker to disconnect %s", c->d->id);
    }
    return 0;
}

static int ctl_disable(sim_t *s, ctl_t *c)
{
    const cJSON *dis = cJSON_GetObjectItemCaseSensitive(c->m, "disabled");
    qtd_reg_device_t *rd;
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    rd = ctl_reg_device(s, c, true);
    if (rd == NULL) {
        return -EINVAL;
    }
    rd->disabled = dis == NULL || cJSON_IsTrue(dis);
    return ctl_reg_save(s, c, rd->disabled);
}

static int ctl_refuse_connect(sim_t *s, ctl_t *c)
{
    int code = sim_int_member(c->m, "errcode", -1);
    qtd_reg_device_t *rd;
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    rd = ctl_reg_device(s, c, true);
    if (rd == NULL) {
        return -EINVAL;
    }
    if (code < 0 || code > 65535) {
        return ctl_fail(c, "\"refuse_connect\" needs \"errcode\" (0: accept again)");
    }
    rd->connect_errcode = code;
    return ctl_reg_save(s, c, false);
}

static int ctl_reauth(sim_t *s, ctl_t *c)
{
    qtd_reg_device_t *rd;
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    rd = ctl_reg_device(s, c, false);
    if (rd == NULL) {
        return -EINVAL;
    }
    rd->ds[0] = '\0';
    return ctl_reg_save(s, c, false);
}

static int ctl_kick(sim_t *s, ctl_t *c)
{
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    rc = sim_publish(s, SIM_TOPIC_KICK, c->d->id, strlen(c->d->id), 1);
    return rc == MQTTCLIENT_SUCCESS ? 0 : ctl_fail(c, "not connected to the broker");
}

static cJSON *stats_json(const sim_t *s)
{
    cJSON *devs = cJSON_CreateObject();

    for (size_t i = 0; devs != NULL && i < s->ndevices; i++) {
        const sim_device_t *d = s->devices[i];
        cJSON *o = cJSON_AddObjectToObject(devs, d->id);
        cJSON *up = o != NULL ? cJSON_CreateObject() : NULL;
        cJSON *down = o != NULL ? cJSON_CreateObject() : NULL;
        const sim_counters_t *cs[2] = {&d->up, &d->down};
        cJSON *dst[2] = {up, down};

        if (up == NULL || down == NULL) {
            cJSON_Delete(up);
            cJSON_Delete(down);
            cJSON_Delete(devs);
            return NULL;
        }
        cJSON_AddStringToObject(o, "pk", d->pk);
        cJSON_AddStringToObject(o, "dk", d->dk);
        cJSON_AddBoolToObject(o, "online", d->online);
        cJSON_AddStringToObject(o, "session",
                                d->session == SIM_SESSION_NONE   ? "none"
                                : d->session == SIM_SESSION_SENT ? "sent"
                                                                 : "confirmed");
        for (int k = 0; k < 2; k++) {
            for (size_t j = 0; j < cs[k]->n; j++) {
                const char *name = qtd_sim_cmd_name(cs[k]->v[j].cmd);
                char hex[8];
                if (name == NULL) {
                    snprintf(hex, sizeof(hex), "0x%04X", cs[k]->v[j].cmd);
                    name = hex;
                }
                cJSON_AddNumberToObject(dst[k], name, (double)cs[k]->v[j].n);
            }
        }
        cJSON_AddItemToObject(o, "up", up);
        cJSON_AddItemToObject(o, "down", down);
        cJSON_AddNumberToObject(o, "up_errors", (double)d->up_errors);
        cJSON_AddNumberToObject(o, "down_errors", (double)d->down_errors);
        cJSON_AddNumberToObject(o, "up_plain", (double)d->up_plain);
    }
    return devs;
}

/* The only command that names no device (and checks no options). */
static int ctl_stats(sim_t *s, ctl_t *c)
{
    cJSON *devs = stats_json(s);
    cJSON *line = sim_line_new();

    if (devs == NULL || line == NULL) {
        cJSON_Delete(devs);
        cJSON_Delete(line);
        return -ENOMEM;
    }
    cJSON_AddStringToObject(line, "event", "stats");
    cJSON_AddItemToObject(line, "devices", cJSON_Duplicate(devs, true));
    sim_log_line(s, line);
    cJSON_AddItemToObject(c->reply, "devices", devs);
    return 0;
}

/* The control commands, in the order of --help. help is printed after {"cmd": "<name>": the
 * rest of the message, then what it sends or does. */
static const struct {
    const char *name;
    ctl_fn *fn;
    const char *help;
} ctl_cmds[] = {
    {"tsl_write", ctl_tsl_write,
     ", \"dk\": D, \"data\": {\"24\": true, \"25\": -100000,\n"
     "                \"26\": 2.5, \"27\": \"text\", \"28\": {\"hex\": \"00ff\"},\n"
     "                \"29\": {\"30\": false}, \"33\": [1, 2, 3]}}        TSL_WRITE 0x0013\n"
     "        (a number written without '.' or exponent is an integer, any other a float)"},
    {"tsl_read", ctl_tsl_read, ", \"dk\": D, \"ids\": [2, 3]}              TSL_REQ 0x0011"},
    {"pass_write", ctl_pass_write, ", \"dk\": D, \"hex\": H | \"text\": T}    PASS_WRITE 0x0023"},
    {"status_read", ctl_status_read, ", \"dk\": D, \"ids\": [...]}           STATUS_REQ 0x0031"},
    {"info_read", ctl_info_read, ", \"dk\": D, \"ids\": [...]}             INFO_REQ 0x0041"},
    {"exce", ctl_exce, ", \"dk\": D, \"errcode\": 10428}              EXCE_WRITE 0x00A3"},
    {"dev_config", ctl_dev_config, ", \"dk\": D, \"data\": {...}}         DEV_CONFIG_WRITE 0x00B4"},
    {"send", ctl_send,
     ", \"dk\": D, \"code\": C, \"data\"|\"ids\"|\"hex\"|\"text\": ...}\n"
     "                                                       any command C (name or number)"},
    {"raw", ctl_raw, ", \"dk\": D, \"hex\": H}       these bytes as they are (bad frames)"},
    {"disable", ctl_disable,
     ", \"dk\": D, \"disabled\": true[, \"kick\": true]}\n"
     "                     registry update; a disabled device is disconnected unless kick false"},
    {"refuse_connect", ctl_refuse_connect,
     ", \"dk\": D, \"errcode\": 10429[, \"kick\": true]}\n"
     "                     answer the device's connections with EXCE_WRITE errcode (0: stop)"},
    {"reauth", ctl_reauth, ", \"dk\": D}    forget the device's secret (it may register again)"},
    {"kick", ctl_kick, ", \"dk\": D}      disconnect the device at the broker"},
    {"stats", ctl_stats, "}               frames per command and device (log and reply)"},
};

/* The CONTROL MESSAGES section of --help: head, one entry per command, tail. */
static const char ctl_help_head[] =
    "CONTROL MESSAGES (JSON on qtd-sim/ctl)\n"
    "    The device is named by \"client\" (qd<PK><DK>) or \"dk\" (with \"pk\" when DKs repeat\n"
    "    across products). Optional everywhere: \"id\" (echoed in the reply), \"pkgid\" (else\n"
    "    the device's next one: 1..0xFFFE, wrapping to 1), \"qos\" (default 1) and\n"
    "    \"topic_type\" (sys/bus/ota; default by command).\n";

static const char ctl_help_tail[] =
    "    A downlink to a device with a session key is encrypted with it; \"plain\": true sends\n"
    "    it unencrypted all the same (to test the device's answer to what does not decrypt).\n"
    "    The reply on qtd-sim/reply: {\"id\", \"cmd\", \"ok\": true|false, \"error\", \"client\",\n"
    "    \"pkgid\", \"topic\", \"encrypted\" (flag-1 devices)} (\"devices\" for stats).\n";

void sim_ctl_help(FILE *fp)
{
    fputs(ctl_help_head, fp);
    for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
        fprintf(fp, "      {\"cmd\": \"%s\"%s\n", ctl_cmds[i].name, ctl_cmds[i].help);
    }
    fputs(ctl_help_tail, fp);
}

/* An unknown command fails after the checks of a command that names a device. */
static int ctl_unknown(sim_t *s, ctl_t *c)
{
    int rc = ctl_target(s, c);

    return rc != 0 ? rc : ctl_fail(c, "unknown cmd \"%s\"", c->cmd);
}

static ctl_fn *ctl_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
        if (strcmp(ctl_cmds[i].name, name) == 0) {
            return ctl_cmds[i].fn;
        }
    }
    return ctl_unknown;
}

void sim_on_ctl(sim_t *s, const char *text)
{
    qtd_sim_doc_t doc;
    const cJSON *idj;
    ctl_t c;
    char *out;
    cJSON *line;
    int rc;

    memset(&c, 0, sizeof(c));
    c.reply = cJSON_CreateObject();
    if (c.reply == NULL) {
        return;
    }
    rc = qtd_sim_doc_parse(text, &doc);
    if (rc != 0) {
        rc = ctl_fail(&c, "the control message is not JSON");
    } else {
        c.doc = &doc;
        c.m = doc.root;
        idj = cJSON_GetObjectItemCaseSensitive(doc.root, "id");
        if (idj != NULL) {
            cJSON_AddItemToObject(c.reply, "id", cJSON_Duplicate(idj, true));
        }
        c.cmd = sim_str_member(doc.root, "cmd");
        if (c.cmd == NULL) {
            rc = ctl_fail(&c, "the control message has no \"cmd\"");
        } else {
            cJSON_AddStringToObject(c.reply, "cmd", c.cmd);
            rc = ctl_lookup(c.cmd)(s, &c);
            if (rc == -ENOMEM) {
                ctl_fail(&c, "out of memory");
            }
        }
    }
    cJSON_AddBoolToObject(c.reply, "ok", rc == 0);
    if (rc != 0) {
        cJSON_AddStringToObject(c.reply, "error", c.err);
    }
    line = sim_line_new();
    if (line != NULL) {
        cJSON_AddStringToObject(line, "event", "ctl");
        cJSON_AddStringToObject(line, "cmd", c.cmd != NULL ? c.cmd : "");
        cJSON_AddBoolToObject(line, "ok", rc == 0);
        if (rc != 0) {
            cJSON_AddStringToObject(line, "error", c.err);
        }
        if (cJSON_GetObjectItemCaseSensitive(c.reply, "pkgid") != NULL) {
            cJSON_AddItemToObject(line, "pkgid",
                                  cJSON_Duplicate(cJSON_GetObjectItem(c.reply, "pkgid"), 1));
        }
    }
    sim_log_line(s, line);
    if (rc != 0) {
        sim_say(s, "ctl  %s refused: %s", c.cmd != NULL ? c.cmd : "?", c.err);
    }
    out = cJSON_PrintUnformatted(c.reply);
    if (out != NULL) {
        sim_publish(s, SIM_TOPIC_REPLY, out, strlen(out), 1);
    }
    free(out);
    cJSON_Delete(c.reply);
    qtd_sim_doc_free(&doc);
}

static void on_message(sim_t *s, const char *topic, MQTTClient_message *msg)
{
    size_t n = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;

    if (strcmp(topic, SIM_TOPIC_AUTH) == 0 || strcmp(topic, SIM_TOPIC_CTL) == 0) {
        char *text = malloc(n + 1);
        if (text == NULL) {
            return;
        }
        memcpy(text, msg->payload, n);
        text[n] = '\0';
        if (strcmp(topic, SIM_TOPIC_AUTH) == 0) {
            sim_on_verdict(s, text);
        } else {
            sim_on_ctl(s, text);
        }
        free(text);
    } else if (strncmp(topic, "q/2/d/", 6) == 0) {
        sim_on_uplink(s, topic, msg->payload, n, msg->qos);
    }
}

/* ---- command line helpers */

char *sim_server_uri(const char *broker)
{
    char *uri = NULL;

    if (strstr(broker, "://") != NULL) {
        return strdup(broker);
    }
    if (asprintf(&uri, "tcp://%s", broker) < 0) {
        return NULL;
    }
    return uri;
}

int sim_usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "qthingd-sim: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see qthingd-sim --help)\n");
    return SIM_EXIT_USAGE;
}

bool sim_parse_int(const char *text, long lo, long hi, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
        return false;
    }
    *out = v;
    return true;
}

/* ---- run */

static void platform_free(sim_t *s)
{
    sim_pending_clear(s);
    for (size_t i = 0; i < s->ndevices; i++) {
        device_free(s->devices[i]);
    }
    free(s->devices);
    qtd_registry_free(s->reg);
    if (s->log != NULL) {
        fclose(s->log);
    }
    if (s->cl != NULL) {
        MQTTClient_destroy(&s->cl);
    }
}

static int platform_loop(sim_t *s)
{
    int backoff = 200;

    while (!stop_flag) {
        char *topic = NULL;
        int topic_len = 0;
        MQTTClient_message *msg = NULL;
        int rc;

        if (!s->connected) {
            rc = mqtt_connect(s);
            if (rc != 0) {
                sleep_ms(backoff);
                backoff = backoff < 2000 ? backoff * 2 : 2000;
                continue;
            }
            backoff = 200;
            sim_log_event(s, "connected", "connected to %s", s->broker);
        }
        rc = MQTTClient_receive(s->cl, &topic, &topic_len, &msg,
                                (unsigned long)sim_pending_wait(s, 100));
        if (msg != NULL) {
            on_message(s, topic, msg);
            MQTTClient_freeMessage(&msg);
            MQTTClient_free(topic);
        } else if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) {
            s->connected = false;
            sim_log_event(s, "disconnected", "lost the broker (%s); reconnecting",
                          MQTTClient_strerror(rc));
            continue;
        }
        sim_run_pending(s);
    }
    return 0;
}

int sim_cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},
        {"password", required_argument, NULL, 'p'},
        {"registry", required_argument, NULL, 'r'},
        {"log", required_argument, NULL, 'l'},
        {"reg-delay-ms", required_argument, NULL, 'd'},
        {"client-id", required_argument, NULL, 'c'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    sim_t s;
    struct sigaction sa;
    const char *err = NULL;
    char id[64];
    char *uri = NULL;
    int64_t deadline;
    long v;
    int opt;
    int rc;

    memset(&s, 0, sizeof(s));
    s.reg_delay_ms = 100;
    s.password = getenv("QTD_SIM_PASSWORD");
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            s.broker = optarg;
            break;
        case 'p':
            s.password = optarg;
            break;
        case 'r':
            s.registry_path = optarg;
            break;
        case 'l':
            s.log_path = optarg;
            break;
        case 'd':
            if (!sim_parse_int(optarg, 0, 60000, &v)) {
                return sim_usage_error("--reg-delay-ms: expected 0..60000, got \"%s\"", optarg);
            }
            s.reg_delay_ms = (int)v;
            break;
        case 'c':
            s.client_id = optarg;
            break;
        case 'q':
            s.quiet = true;
            break;
        default:
            return sim_usage_error("run: unknown option");
        }
    }
    if (optind != argc) {
        return sim_usage_error("run: unexpected argument \"%s\"", argv[optind]);
    }
    if (s.broker == NULL || s.password == NULL || s.registry_path == NULL || s.log_path == NULL) {
        return sim_usage_error("run needs --broker, --password, --registry and --log");
    }
    rc = qtd_registry_load(s.registry_path, &s.reg, &err);
    if (rc != 0) {
        fprintf(stderr, "qthingd-sim: %s: %s\n", s.registry_path,
                err != NULL ? err : strerror(-rc));
        return 1;
    }
    s.log = fopen(s.log_path, "a");
    if (s.log == NULL) {
        fprintf(stderr, "qthingd-sim: cannot open the log %s: %s\n", s.log_path, strerror(errno));
        platform_free(&s);
        return 1;
    }
    if (s.client_id == NULL) {
        snprintf(id, sizeof(id), "qtd-sim-%ld", (long)getpid());
        s.client_id = id;
    }
    uri = sim_server_uri(s.broker);
    if (uri == NULL || MQTTClient_create(&s.cl, uri, s.client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                         NULL) != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "qthingd-sim: bad broker address \"%s\"\n", s.broker);
        free(uri);
        s.cl = NULL;
        platform_free(&s);
        return SIM_EXIT_USAGE;
    }
    free(uri);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    sim_log_event(&s, "started", "qthingd-sim %s, broker %s, registry %s (%zu products)",
                  QTD_SIM_VERSION, s.broker, s.registry_path, s.reg->nproducts);
    /* The broker may still be starting: retry for a while, but not a refused password. */
    deadline = sim_mono_ms() + 10000;
    while ((rc = mqtt_connect(&s)) != 0 && rc != 4 && rc != 5 && sim_mono_ms() < deadline &&
           !stop_flag) {
        sleep_ms(200);
    }
    if (rc != 0) {
        fprintf(stderr, "qthingd-sim: cannot connect to %s: %s\n", s.broker,
                rc == 5 ? "not authorised (wrong --password?)" : MQTTClient_strerror(rc));
        platform_free(&s);
        return 1;
    }
    sim_log_event(&s, "connected", "connected to %s as %s", s.broker, s.client_id);
    platform_loop(&s);
    if (s.connected) {
        MQTTClient_disconnect(s.cl, 1000);
    }
    sim_log_event(&s, "stopped", "stopped");
    platform_free(&s);
    return 0;
}

/* ---- ctl */

/* Insert "id":"<id>" as the first member of a JSON object text (keeps numbers as written). */
static char *with_id(const char *json, const char *id)
{
    const char *brace = strchr(json, '{');
    const char *rest;
    char *out = NULL;

    if (brace == NULL) {
        return NULL;
    }
    rest = brace + 1 + strspn(brace + 1, " \t\r\n");
    if (asprintf(&out, "%.*s\"id\":\"%s\"%s%s", (int)(brace + 1 - json), json, id,
                 *rest == '}' ? "" : ",", brace + 1) < 0) {
        return NULL;
    }
    return out;
}

int sim_cmd_ctl(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},
        {"password", required_argument, NULL, 'p'},
        {"reply", no_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    MQTTClient_connectOptions opts = MQTTClient_connectOptions_initializer;
    MQTTClient_deliveryToken tok;
    const char *broker = NULL;
    const char *password = getenv("QTD_SIM_PASSWORD");
    bool want_reply = false;
    long timeout = 10;
    MQTTClient cl = NULL;
    qtd_sim_doc_t doc;
    char *uri = NULL;
    char *msg = NULL;
    char rid[QTD_AUTH_RAND_LEN + 1];
    char id[64];
    int result = 1;
    int opt;
    int rc;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            broker = optarg;
            break;
        case 'p':
            password = optarg;
            break;
        case 'r':
            want_reply = true;
            break;
        case 't':
            if (!sim_parse_int(optarg, 1, 3600, &timeout)) {
                return sim_usage_error("--timeout: expected 1..3600 seconds");
            }
            break;
        default:
            return sim_usage_error("ctl: unknown option");
        }
    }
    if (broker == NULL || password == NULL || optind != argc - 1) {
        return sim_usage_error("ctl needs --broker, --password and one JSON argument");
    }
    if (qtd_sim_doc_parse(argv[optind], &doc) != 0 || !cJSON_IsObject(doc.root)) {
        qtd_sim_doc_free(&doc);
        return sim_usage_error("ctl: the message is not a JSON object");
    }
    if (qtd_auth_rand(rid) != 0) {
        snprintf(rid, sizeof(rid), "%ld", (long)getpid());
    }
    if (cJSON_GetObjectItemCaseSensitive(doc.root, "id") != NULL &&
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(doc.root, "id"))) {
        qtd_sim_doc_free(&doc);
        return sim_usage_error("ctl: \"id\" must be a string");
    }
    if (want_reply && cJSON_GetObjectItemCaseSensitive(doc.root, "id") == NULL) {
        msg = with_id(argv[optind], rid);
    } else {
        const cJSON *idj = cJSON_GetObjectItemCaseSensitive(doc.root, "id");
        if (cJSON_IsString(idj)) {
            snprintf(rid, sizeof(rid), "%.*s", QTD_AUTH_RAND_LEN, idj->valuestring);
        }
        msg = strdup(argv[optind]);
    }
    qtd_sim_doc_free(&doc);
    snprintf(id, sizeof(id), "qtd-sim-ctl-%ld-%s", (long)getpid(), rid);
    uri = sim_server_uri(broker);
    if (msg == NULL || uri == NULL ||
        MQTTClient_create(&cl, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "qthingd-sim: bad broker address \"%s\"\n", broker);
        cl = NULL;
        goto out;
    }
    opts.cleansession = 1;
    opts.connectTimeout = 5;
    opts.username = SIM_USERNAME;
    opts.password = password;
    opts.MQTTVersion = MQTTVERSION_3_1_1;
    rc = MQTTClient_connect(cl, &opts);
    if (rc != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "qthingd-sim: cannot connect to %s: %s\n", broker,
                rc == 5 ? "not authorised (wrong --password?)" : MQTTClient_strerror(rc));
        goto out;
    }
    if (want_reply && MQTTClient_subscribe(cl, SIM_TOPIC_REPLY, 1) != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "qthingd-sim: cannot subscribe %s\n", SIM_TOPIC_REPLY);
        goto disconnect;
    }
    rc = MQTTClient_publish(cl, SIM_TOPIC_CTL, (int)strlen(msg), msg, 1, 0, &tok);
    if (rc == MQTTCLIENT_SUCCESS) {
        rc = MQTTClient_waitForCompletion(cl, tok, 10000);
    }
    if (rc != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "qthingd-sim: publishing failed: %s\n", MQTTClient_strerror(rc));
        goto disconnect;
    }
    result = 0;
    if (want_reply) {
        int64_t end = sim_mono_ms() + timeout * 1000;
        result = 1;
        while (sim_mono_ms() < end) {
            char *topic = NULL;
            int tlen = 0;
            MQTTClient_message *m = NULL;
            rc = MQTTClient_receive(cl, &topic, &tlen, &m, 200);
            if (m != NULL) {
                cJSON *r = cJSON_ParseWithLength(m->payload, (size_t)m->payloadlen);
                const cJSON *rj = cJSON_GetObjectItemCaseSensitive(r, "id");
                bool mine = cJSON_IsString(rj) && strcmp(rj->valuestring, rid) == 0;
                if (mine) {
                    printf("%.*s\n", m->payloadlen, (const char *)m->payload);
                    result = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")) ? 0 : 1;
                }
                cJSON_Delete(r);
                MQTTClient_freeMessage(&m);
                MQTTClient_free(topic);
                if (mine) {
                    break;
                }
            } else if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) {
                fprintf(stderr, "qthingd-sim: lost the broker\n");
                break;
            }
        }
        if (sim_mono_ms() >= end) {
            fprintf(stderr, "qthingd-sim: no reply within %ld s (is qthingd-sim run going?)\n",
                    timeout);
        }
    }
disconnect:
    MQTTClient_disconnect(cl, 1000);
out:
    if (cl != NULL) {
        MQTTClient_destroy(&cl);
    }
    free(uri);
    free(msg);
    return result;
}

/* ---- password, broker-conf */

int sim_cmd_password(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pk", required_argument, NULL, 'k'},
        {"ps", required_argument, NULL, 's'},
        {"dk", required_argument, NULL, 'd'},
        {"ds", required_argument, NULL, 'S'},
        {"flag", required_argument, NULL, 'f'},
        {"rand", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    const char *pk = NULL, *ps = NULL, *dk = NULL, *ds = NULL, *rnd = NULL;
    char rbuf[QTD_AUTH_RAND_LEN + 1];
    char out[QTD_AUTH_PASSWORD_MAX + 1];
    long flag = 0;
    int opt;
    int rc;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'k':
            pk = optarg;
            break;
        case 's':
            ps = optarg;
            break;
        case 'd':
            dk = optarg;
            break;
        case 'S':
            ds = optarg;
            break;
        case 'r':
            rnd = optarg;
            break;
        case 'f':
            if (!sim_parse_int(optarg, 0, 1, &flag)) {
                return sim_usage_error("--flag: expected 0 or 1");
            }
            break;
        default:
            return sim_usage_error("password: unknown option");
        }
    }
    if (optind != argc || pk == NULL || ps == NULL || dk == NULL) {
        return sim_usage_error("password needs --pk, --ps and --dk");
    }
    if (rnd == NULL) {
        if (qtd_auth_rand(rbuf) != 0) {
            fprintf(stderr, "qthingd-sim: no randomness\n");
            return 1;
        }
        rnd = rbuf;
    }
    if (ds != NULL) {
        rc = qtd_auth_login_password(ds, ps, rnd, (int)flag, out, sizeof(out));
    } else {
        rc = qtd_auth_register_password(pk, ps, dk, rnd, (int)flag, out, sizeof(out));
    }
    if (rc != 0) {
        fprintf(stderr, "qthingd-sim: cannot build the password: %s\n", strerror(-rc));
        return 1;
    }
    printf("%s\n", out);
    return 0;
}

int sim_cmd_broker_conf(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'P'},
        {"registry", required_argument, NULL, 'r'},
        {"password", required_argument, NULL, 'p'},
        {"plugin", required_argument, NULL, 'l'},
        {"bind", required_argument, NULL, 'b'},
        {"user", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    const char *registry = NULL, *password = getenv("QTD_SIM_PASSWORD"), *plugin = NULL;
    const char *bind = "127.0.0.1";
    const struct passwd *pw = getpwuid(geteuid());
    const char *user = pw != NULL ? pw->pw_name : NULL;
    long port = -1;
    int opt;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'P':
            if (!sim_parse_int(optarg, 1, 65535, &port)) {
                return sim_usage_error("--port: expected 1..65535");
            }
            break;
        case 'r':
            registry = optarg;
            break;
        case 'p':
            password = optarg;
            break;
        case 'l':
            plugin = optarg;
            break;
        case 'b':
            bind = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        default:
            return sim_usage_error("broker-conf: unknown option");
        }
    }
    if (optind != argc || port < 0 || registry == NULL || password == NULL || plugin == NULL) {
        return sim_usage_error("broker-conf needs --port, --registry, --password and --plugin");
    }
    if (strpbrk(password, " \t\r\n") != NULL || strpbrk(registry, "\r\n") != NULL ||
        strpbrk(plugin, "\r\n") != NULL) {
        return sim_usage_error("broker-conf: the password may not contain white space");
    }
    printf("# mosquitto configuration for the qthingd platform simulator (qthingd-sim "
           "broker-conf)\n"
           "per_listener_settings false\n"
           "listener %ld %s\n"
           "allow_anonymous false\n"
           "persistence false\n"
           "plugin %s\n"
           "plugin_opt_registry %s\n"
           "plugin_opt_sim_password %s\n",
           port, bind, plugin, registry, password);
    if (user != NULL) {
        /* Run as the user that wrote this file (as root mosquitto would drop to "mosquitto",
         * which may not read the registry or load the plugin from a private directory). */
        printf("user %s\n", user);
    }
    return 0;
}

/* ---- frame, decode */

int sim_cmd_frame(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pkgid", required_argument, NULL, 'n'},
        {"cmd", required_argument, NULL, 'c'},
        {"tsl", required_argument, NULL, 't'},
        {"ids", required_argument, NULL, 'i'},
        {"hex", required_argument, NULL, 'x'},
        {"text", required_argument, NULL, 'T'},
        {"raw", no_argument, NULL, 'r'},
        {"corrupt-sum", no_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const char *tsl = NULL, *ids = NULL, *hex = NULL, *text = NULL;
    bool raw = false, corrupt = false;
    uint8_t *payload = NULL;
    uint8_t *frame = NULL;
    size_t len = 0, n = 0;
    char err[256] = "";
    long pkgid = 1;
    int cmd = -1;
    int result = 1;
    int opt;
    int rc = 0;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (!sim_parse_int(optarg, 0, 0xFFFF, &pkgid)) {
                return sim_usage_error("--pkgid: expected 0..65535");
            }
            break;
        case 'c':
            cmd = qtd_sim_cmd_parse(optarg);
            if (cmd < 0) {
                return sim_usage_error("--cmd: unknown command \"%s\"", optarg);
            }
            break;
        case 't':
            tsl = optarg;
            break;
        case 'i':
            ids = optarg;
            break;
        case 'x':
            hex = optarg;
            break;
        case 'T':
            text = optarg;
            break;
        case 'r':
            raw = true;
            break;
        case 's':
            corrupt = true;
            break;
        default:
            return sim_usage_error("frame: unknown option");
        }
    }
    if (optind != argc || cmd < 0 ||
        (tsl != NULL) + (ids != NULL) + (hex != NULL) + (text != NULL) > 1) {
        return sim_usage_error("frame needs --cmd and at most one of --tsl, --ids, --hex, --text");
    }
    if (tsl != NULL) {
        qtd_sim_doc_t doc;
        if (qtd_sim_doc_parse(tsl, &doc) != 0) {
            return sim_usage_error("--tsl: not JSON");
        }
        rc = qtd_sim_json_to_ttlv(&doc, doc.root, &payload, &len, err, sizeof(err));
        qtd_sim_doc_free(&doc);
    } else if (ids != NULL) {
        size_t cap = strlen(ids) + 1;
        payload = malloc(cap * 2);
        for (char *p = (char *)ids; payload != NULL && *p != '\0';) {
            char *end = NULL;
            long v = strtol(p, &end, 0);
            if (end == p || v < 0 || v > 0xFFFF || (*end != ',' && *end != '\0')) {
                snprintf(err, sizeof(err), "--ids: expected numbers 0..65535 separated by ','");
                rc = -EINVAL;
                break;
            }
            payload[len++] = (uint8_t)(v >> 8);
            payload[len++] = (uint8_t)(v & 0xFF);
            p = *end == ',' ? end + 1 : end;
        }
        if (payload == NULL) {
            rc = -ENOMEM;
        }
    } else if (hex != NULL) {
        rc = qtd_sim_hex_decode(hex, &payload, &len);
        if (rc == -EINVAL) {
            snprintf(err, sizeof(err), "--hex: not hex");
        }
    } else if (text != NULL) {
        len = strlen(text);
        payload = (uint8_t *)strdup(text);
        rc = payload == NULL ? -ENOMEM : 0;
    }
    if (rc != 0) {
        fprintf(stderr, "qthingd-sim: %s\n", err[0] != '\0' ? err : strerror(-rc));
        goto out;
    }
    rc = qtd_frame_encode((uint16_t)pkgid, (uint16_t)cmd, payload, len, &frame, &n);
    if (rc != 0) {
        fprintf(stderr, "qthingd-sim: cannot encode the frame: %s\n", strerror(-rc));
        goto out;
    }
    if (corrupt && n > 4) {
        frame[4] ^= 0x01;
    }
    if (raw) {
        if (fwrite(frame, 1, n, stdout) != n) {
            goto out;
        }
    } else {
        char *h = qtd_sim_hex_encode(frame, n);
        if (h == NULL) {
            goto out;
        }
        printf("%s\n", h);
        free(h);
    }
    result = 0;
out:
    free(payload);
    free(frame);
    return result;
}

int sim_cmd_decode(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"hex", required_argument, NULL, 'x'},
        {NULL, 0, NULL, 0},
    };
    const char *hex = NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    cJSON *o = NULL;
    char *out = NULL;
    int result = 1;
    int opt;
    int rc;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt != 'x') {
            return sim_usage_error("decode: unknown option");
        }
        hex = optarg;
    }
    if (optind != argc) {
        return sim_usage_error("decode: unexpected argument \"%s\"", argv[optind]);
    }
    if (hex == NULL || strcmp(hex, "-") == 0) {
        for (;;) {
            size_t got;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 4096;
                uint8_t *nb = realloc(buf, nc + 1);
                if (nb == NULL) {
                    goto out;
                }
                buf = nb;
                cap = nc;
            }
            got = fread(buf + n, 1, cap - n, stdin);
            n += got;
            if (got == 0) {
                break;
            }
        }
    }
    if (hex != NULL) {
        uint8_t *bytes = NULL;
        if (buf != NULL) {
            buf[n] = '\0';
        }
        rc = qtd_sim_hex_decode(buf != NULL ? (const char *)buf : hex, &bytes, &n);
        free(buf);
        buf = bytes;
        if (rc != 0) {
            fprintf(stderr, "qthingd-sim: not hex\n");
            goto out;
        }
    }
    o = cJSON_CreateObject();
    rc = o != NULL ? qtd_sim_frame_to_json(buf, n, o) : -ENOMEM;
    if (rc < 0 || (out = cJSON_PrintUnformatted(o)) == NULL) {
        fprintf(stderr, "qthingd-sim: out of memory\n");
        goto out;
    }
    printf("%s\n", out);
    result = rc == 0 ? 0 : 1;
out:
    free(out);
    cJSON_Delete(o);
    free(buf);
    return result;
}

/* The subcommands, in the order of --help: usage follows "qthingd-sim <name> " in SYNOPSIS,
 * help follows "  <name>" in COMMANDS. */
static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
    const char *help;
} subcmds[] = {
    {"run", sim_cmd_run,
     "--broker HOST:PORT --password SECRET --registry FILE --log FILE.jsonl\n"
     "                    [--reg-delay-ms MS] [--client-id ID] [--quiet]",
     "\n"
     "    Be the platform until SIGINT or SIGTERM (exit 0). Connects as \"qtd-sim\" with the\n"
     "    platform password (trying for 10 s while the broker starts) and subscribes\n"
     "    qtd-sim/auth, qtd-sim/ctl and q/2/d/+/+; reconnects when the broker goes away.\n"
     "    On a verdict:\n"
     "      registration accepted: a new device secret (32 hex characters) is stored in the\n"
     "        registry file (atomically) and, --reg-delay-ms later (default 100), sent to the\n"
     "        device as DEV_CONFIG_WRITE 0x00B4 {5: DS} on q/1/d/<client>/sys (with flag 1:\n"
     "        {5: DS, 6: session key}, see SESSION ENCRYPTION);\n"
     "      login accepted: nothing is sent (with flag 1: 0x00B4 {6: session key} at once);\n"
     "      failure with a seed error code (10420 request, 10422 already registered, 10423\n"
     "        unknown product, 10424 payload, 10425 signature, 10431 DK refused or device\n"
     "        disabled, 10433 session flag, or the device's connect_errcode of the registry):\n"
     "        EXCE_WRITE 0x00A3 {1: errcode, 2: 0, 3: PK, 4: DK}\n"
     "        on q/1/d/<client>/sys, --reg-delay-ms after the device subscribed;\n"
     "      login with a wrong or unknown secret: the broker refused it (CONNACK 5); logged.\n"
     "    Every uplink frame is decoded and logged; control messages send downlinks.\n"},
    {"ctl", sim_cmd_ctl, "--broker HOST:PORT --password SECRET [--reply] [--timeout SEC] JSON",
     " JSON\n"
     "    Publish one control message on qtd-sim/ctl and exit 0 once the broker acknowledged\n"
     "    it. With --reply, wait (--timeout, default 10 s) for the answer on qtd-sim/reply,\n"
     "    print it and exit 0 if it says \"ok\": true, 1 otherwise.\n"},
    {"password", sim_cmd_password, "--pk PK --ps PS --dk DK [--ds DS] [--flag 0|1] [--rand RAND]",
     "\n"
     "    Print a device's MQTT password: the login password when --ds is given, else the\n"
     "    registration password. --rand fixes the 16 random characters (default: random).\n"},
    {"broker-conf", sim_cmd_broker_conf,
     "--port PORT --registry FILE --password SECRET --plugin PATH\n"
     "                    [--bind ADDR] [--user NAME]",
     "\n"
     "    Print a mosquitto.conf: listener PORT on ADDR (default 127.0.0.1), no anonymous\n"
     "    clients, no persistence, the plugin PATH with its registry and platform password,\n"
     "    and \"user NAME\" (default: the user running this command, so that a broker started\n"
     "    as root keeps the rights to read the registry instead of becoming \"mosquitto\").\n"},
    {"frame", sim_cmd_frame,
     "--cmd CMD [--pkgid N] [--tsl JSON | --ids LIST | --hex HEX |\n"
     "                    --text TEXT] [--raw] [--corrupt-sum]",
     "\n"
     "    Print one encoded frame in hex (or raw bytes with --raw): CMD is a name (TSL_EVENT)\n"
     "    or a number (0x0014); the payload is TTLV from --tsl (a JSON object keyed by TSL\n"
     "    ids), u16 ids from --ids 1,2,3, raw --hex bytes or --text. --corrupt-sum breaks the\n"
     "    checksum (for malformed-frame tests).\n"},
    {"decode", sim_cmd_decode, "[--hex HEX | --hex -]",
     "\n"
     "    Decode one frame (raw bytes on standard input, or --hex HEX, or hex text on standard\n"
     "    input with --hex -) and print it as one JSON line; exit 1 if it is malformed.\n"},
};
#define NSUBCMDS (sizeof(subcmds) / sizeof(subcmds[0]))

/* The manual page of --help: SYNOPSIS, COMMANDS and CONTROL MESSAGES from their tables. */
static void usage(FILE *fp)
{
    fputs("NAME\n"
          "    qthingd-sim - the simulated Quectel IoT platform (DMP) for qthingd\n"
          "\n"
          "SYNOPSIS\n",
          fp);
    for (size_t i = 0; i < NSUBCMDS; i++) {
        fprintf(fp, "    qthingd-sim %s %s\n", subcmds[i].name, subcmds[i].usage);
    }
    fputs("    qthingd-sim --help | --version\n\n", fp);
    fputs(usage_description, fp);
    fputs("COMMANDS\n", fp);
    for (size_t i = 0; i < NSUBCMDS; i++) {
        fprintf(fp, "  %s%s", subcmds[i].name, subcmds[i].help);
    }
    fputs("\n", fp);
    sim_ctl_help(fp);
    fputs(usage_tail, fp);
}

int main(int argc, char **argv)
{
    const char *cmd;

    if (argc < 2) {
        usage(stderr);
        return SIM_EXIT_USAGE;
    }
    cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("qthingd-sim %s\n", QTD_SIM_VERSION);
        return 0;
    }
    /* getopt_long sees the subcommand as argv[0]. */
    argc--;
    argv++;
    for (size_t i = 0; i < NSUBCMDS; i++) {
        if (strcmp(cmd, subcmds[i].name) == 0) {
            return subcmds[i].fn(argc, argv);
        }
    }
    return sim_usage_error("unknown command \"%s\"", cmd);
}
