/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session with the platform: connection mode, registration or login, subscription,
 * the seed's work states and events 1/2/3/7/8 from what the platform really answers,
 * reconnection with exponential backoff and full jitter (floors by error class so that a
 * refused device does not storm the platform), and the dispatch of downlink frames (thing
 * model writes and reads, passthrough, status and info requests, exceptions, device config).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "cloud.h"
#include "cloud_auth.h"
#include "cloud_frame.h"
#include "cloud_ttlv.h"

#define DEFAULT_SERVER "iot-south.quectel.com:1883"
#define AUTH_RETRY_FLOOR_MS 30000     /* refused credentials: the SDK's 30 s level */
#define FATAL_RETRY_FLOOR_MS 600000   /* disabled device, PK changed: the SDK's 10 min level */

#define LOG(c, lvl, ...) (c)->api->log((c)->host, (lvl), __VA_ARGS__)

/* ---- events and states ---- */

void qtd_cloud_publish_event(cloud_t *c, int event, int errcode, const qtd_value_t *value)
{
    qtd_event_t ev = {.size = sizeof(ev), .domain = QTD_DOM_CLOUD, .event = event,
                      .errcode = errcode};
    if (value != NULL) {
        ev.value = *value;
    }
    int rc = c->api->publish(c->host, &ev);
    if (rc < 0) {
        LOG(c, QTD_LOG_ERROR, "event %d/%d lost: %s", event, errcode, c->api->strerror(rc));
    }
}

void qtd_cloud_set_workstate(cloud_t *c, int state)
{
    if (c->workstate == state) {
        return;
    }
    c->workstate = state;
    qtd_event_t ev = {.size = sizeof(ev), .domain = QTD_DOM_AGENT, .event = QTD_AGENT_WORKSTATE,
                      .errcode = state};
    c->api->publish(c->host, &ev);
}

/* ---- identity ---- */

static void kv_text(cloud_t *c, const char *key, char *out, size_t n, const char *def)
{
    char *v = NULL;
    size_t len = 0;
    if (c->api->kv_get(c->host, key, &v, &len) == 0 && len < n) {
        memcpy(out, v, len + 1);
    } else {
        snprintf(out, n, "%s", def != NULL ? def : "");
    }
    c->api->free(c->host, v);
}

static void read_identity(cloud_t *c, identity_t *id)
{
    char num[32];
    kv_text(c, QTD_KV_PK, id->pk, sizeof(id->pk), "");
    kv_text(c, QTD_KV_PS, id->ps, sizeof(id->ps), "");
    kv_text(c, QTD_KV_DK, id->dk, sizeof(id->dk), NULL);
    if (id->dk[0] == '\0') {
        snprintf(id->dk, sizeof(id->dk), "%s", c->api->default_dk(c->host));
    }
    kv_text(c, QTD_KV_DS, id->ds, sizeof(id->ds), "");
    kv_text(c, QTD_KV_SERVER, id->server, sizeof(id->server), DEFAULT_SERVER);
    kv_text(c, QTD_KV_LIFETIME, num, sizeof(num), "120");
    id->lifetime = strtoll(num, NULL, 10);
    if (id->lifetime < 1 || id->lifetime > 65535) {
        id->lifetime = 120;
    }
    kv_text(c, QTD_KV_SESSION, num, sizeof(num), "0");
    id->session_flag = strcmp(num, "1") == 0 || strcmp(num, "true") == 0;
}

void qtd_cloud_load_identity(cloud_t *c)
{
    read_identity(c, &c->id);
    snprintf(c->cid, sizeof(c->cid), "qd%s%s", c->id.pk, c->id.dk);
    snprintf(c->sub_topic, sizeof(c->sub_topic), "q/1/d/%s/+", c->cid);
}

/* "mqtts://h:p" -> "ssl://h:p"; "mqtt://", "tcp://", "http://" or none -> "tcp://".
 * Returns 0 or -1 when the string is not host:port. */
static int server_uri(const char *server, char *uri, size_t n)
{
    const char *rest = server;
    const char *scheme = "tcp";
    static const struct {
        const char *prefix;
        const char *scheme;
    } map[] = {{"mqtts://", "ssl"}, {"ssl://", "ssl"}, {"mqtt://", "tcp"},
               {"tcp://", "tcp"},   {"http://", "tcp"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        size_t pl = strlen(map[i].prefix);
        if (strncasecmp(server, map[i].prefix, pl) == 0) {
            rest = server + pl;
            scheme = map[i].scheme;
            break;
        }
    }
    const char *colon = strrchr(rest, ':');
    if (colon == NULL || colon == rest) {
        return -1;
    }
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' && *end != '/') {
        return -1;
    }
    if (port < 1 || port > 65535) {
        return -1;
    }
    snprintf(uri, n, "%s://%.*s:%ld", scheme, (int)(colon - rest), rest, port);
    return 0;
}

/* ---- connecting ---- */

static void connect_now(cloud_t *c);

static void on_retry(uv_timer_t *t)
{
    connect_now(t->data);
}

static uint64_t random_below(uint64_t n)
{
    uint64_t r = 0;
    if (n == 0) {
        return 0;
    }
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1) {
        r = (uint64_t)rand();
    }
    return r % n;
}

/* Next attempt: floor + full jitter over an exponentially growing, capped window. */
static void schedule_retry(cloud_t *c, int64_t floor_ms)
{
    if (c->stopping || c->connmode != 1) {
        return;
    }
    uv_timer_stop(&c->stable_timer);
    uint64_t window = (uint64_t)c->cfg->reconnect_min_ms;
    for (uint32_t i = 0; i < c->attempts && window < (uint64_t)c->cfg->reconnect_max_ms; i++) {
        window *= 2;
    }
    if (window > (uint64_t)c->cfg->reconnect_max_ms) {
        window = (uint64_t)c->cfg->reconnect_max_ms;
    }
    c->attempts++;
    uint64_t delay = (uint64_t)floor_ms + random_below(window + 1);
    LOG(c, QTD_LOG_INFO, "next connection attempt in %.1f s (attempt %u)", delay / 1000.0,
        c->attempts);
    uv_timer_start(&c->retry_timer, on_retry, delay, 0);
}

static void go_offline(cloud_t *c)
{
    c->online = false;
    uv_timer_stop(&c->reg_timer);
    uv_timer_stop(&c->stable_timer);
    qtd_cloud_pump_reset(c);
}

/* Drop the connection after an error and try again later. */
static void fail_and_retry(cloud_t *c, int event, int errcode, int state, int64_t floor_ms)
{
    go_offline(c);
    qtd_cloud_mq_abandon(c->mq);
    qtd_cloud_set_workstate(c, state);
    qtd_cloud_publish_event(c, event, errcode, NULL);
    schedule_retry(c, floor_ms);
}

static void connect_now(cloud_t *c)
{
    if (c->stopping || c->connmode != 1) {
        return;
    }
    qtd_cloud_load_identity(c);
    identity_t *id = &c->id;
    char uri[CLOUD_SERVER_MAX + 16];
    if (id->pk[0] == '\0' || id->ps[0] == '\0') {
        LOG(c, QTD_LOG_ERROR, "no product key/secret: call quecIot.setProductinfo(pk, ps)");
        qtd_cloud_set_workstate(c, QTD_WS_AUTH_FAILED);
        qtd_cloud_publish_event(c, QTD_EVT_AUTH, 10423, NULL);
        return; /* retried when the settings change */
    }
    if (server_uri(id->server, uri, sizeof(uri)) < 0) {
        LOG(c, QTD_LOG_ERROR, "server \"%s\" is not host:port (quecIot.setServer)", id->server);
        qtd_cloud_set_workstate(c, QTD_WS_AUTH_FAILED);
        qtd_cloud_publish_event(c, QTD_EVT_AUTH, 10466, NULL);
        return;
    }
    char rnd[QTD_AUTH_RAND_LEN + 1];
    char password[QTD_AUTH_PASSWORD_MAX];
    int rc = qtd_auth_rand(rnd);
    c->registering = id->ds[0] == '\0';
    if (rc == 0 && c->registering) {
        rc = qtd_auth_register_password(id->pk, id->ps, id->dk, rnd, id->session_flag,
                                        password, sizeof(password));
    } else if (rc == 0) {
        rc = qtd_auth_login_password(id->ds, id->ps, rnd, id->session_flag, password,
                                     sizeof(password));
    }
    if (rc < 0) {
        LOG(c, QTD_LOG_ERROR, "cannot build the %s password: %s (product secret of at least "
            "16 characters?)", c->registering ? "registration" : "login", c->api->strerror(rc));
        qtd_cloud_set_workstate(c, QTD_WS_AUTH_FAILED);
        qtd_cloud_publish_event(c, QTD_EVT_AUTH, 10450, NULL);
        return;
    }
    c->session_key_ok = false;
    LOG(c, QTD_LOG_INFO, "%s to %s as %s", c->registering ? "registering" : "logging in", uri,
        c->cid);
    qtd_cloud_set_workstate(c, c->registering ? QTD_WS_AUTHENTICATING : QTD_WS_REGISTERING);
    rc = qtd_cloud_mq_connect(c->mq, uri, c->cid, password, (int)id->lifetime,
                              (int)c->cfg->window, c->cfg->ca_file, c->cfg->ca_path);
    memset(password, 0, sizeof(password));
    if (rc < 0) {
        LOG(c, QTD_LOG_ERROR, "cannot start the MQTT connection: %s", c->api->strerror(rc));
        fail_and_retry(c, c->registering ? QTD_EVT_AUTH : QTD_EVT_CONNECT, 10450,
                       c->registering ? QTD_WS_AUTH_FAILED : QTD_WS_REGISTER_FAILED, 0);
    }
}

static void on_stable(uv_timer_t *t)
{
    cloud_t *c = t->data;
    c->attempts = 0;
}

static void on_register_timeout(uv_timer_t *t)
{
    cloud_t *c = t->data;
    LOG(c, QTD_LOG_WARN, "no device secret from the platform within %lld s of registering",
        (long long)c->cfg->register_timeout_s);
    fail_and_retry(c, QTD_EVT_AUTH, 10500, QTD_WS_AUTH_FAILED, 0);
}

static void report_status_and_info(cloud_t *c)
{
    static const uint16_t status_ids[] = {1, 2, 3, 4};
    static const uint16_t info_ids[] = {1, 2, 3, 5, 11, 12, 13, 14};
    qtd_value_t *v = NULL;
    if (qtd_cloud_status_value(c, status_ids, 4, &v) == 0) {
        qtd_cloud_send_value(c, 1, QTD_CMD_STATUS_EVENT, 0, v);
        qtd_cloud_value_free(c, v);
    }
    if (qtd_cloud_info_value(c, info_ids, 8, &v) == 0) {
        qtd_cloud_send_value(c, 1, QTD_CMD_INFO_EVENT, 0, v);
        qtd_cloud_value_free(c, v);
    }
}

/* Subscribed (login) or given a DS (registration): data may flow. */
static void went_online(cloud_t *c)
{
    uv_timer_stop(&c->reg_timer);
    qtd_cloud_set_workstate(c, QTD_WS_REGISTERED);
    qtd_cloud_publish_event(c, QTD_EVT_CONNECT, QTD_CODE_OK, NULL);
    qtd_cloud_set_workstate(c, QTD_WS_SUBSCRIBED);
    qtd_cloud_publish_event(c, QTD_EVT_SUBSCRIBE, QTD_CODE_OK, NULL);
    c->online = true;
    uv_timer_start(&c->stable_timer, on_stable, (uint64_t)c->cfg->stable_s * 1000, 0);
    LOG(c, QTD_LOG_INFO, "online as %s", c->cid);
    qtd_cloud_pump_reset(c);
    report_status_and_info(c);
    c->pump_wanted = true;
}

void qtd_cloud_set_connmode(cloud_t *c, int mode)
{
    if (mode == c->connmode) {
        return;
    }
    c->connmode = mode;
    if (mode == 1) {
        c->attempts = 0;
        connect_now(c);
        return;
    }
    uv_timer_stop(&c->retry_timer);
    go_offline(c);
    bool attempt = c->workstate == QTD_WS_AUTHENTICATING || c->workstate == QTD_WS_AUTHENTICATED ||
                   c->workstate == QTD_WS_REGISTERING || c->workstate == QTD_WS_REGISTERED;
    if (qtd_cloud_mq_disconnect(c->mq)) {
        qtd_cloud_set_workstate(c, QTD_WS_LOGGING_OUT); /* MQ_DISCONNECTED -> 11, 7/10200 */
    } else if (attempt) {
        /* A connection under way was dropped: logged out, like the SDK. */
        qtd_cloud_set_workstate(c, QTD_WS_LOGGING_OUT);
        qtd_cloud_set_workstate(c, QTD_WS_LOGGED_OUT);
        qtd_cloud_publish_event(c, QTD_EVT_LOGOUT, QTD_CODE_OK, NULL);
    } else {
        qtd_cloud_set_workstate(c, QTD_WS_INITIALIZED); /* waiting to retry: nothing to close */
    }
}

static bool same_identity(const identity_t *a, const identity_t *b)
{
    return strcmp(a->pk, b->pk) == 0 && strcmp(a->ps, b->ps) == 0 && strcmp(a->dk, b->dk) == 0 &&
           strcmp(a->ds, b->ds) == 0 && strcmp(a->server, b->server) == 0 &&
           a->lifetime == b->lifetime && a->session_flag == b->session_flag;
}

void qtd_cloud_on_settings(cloud_t *c)
{
    bool live = c->online || c->workstate == QTD_WS_AUTHENTICATING ||
                c->workstate == QTD_WS_AUTHENTICATED || c->workstate == QTD_WS_REGISTERING ||
                c->workstate == QTD_WS_REGISTERED;
    if (!live) {
        /* Used at the next connection; retry now one that was refused for lack of it. */
        qtd_cloud_load_identity(c);
        if (c->connmode == 1 && c->workstate == QTD_WS_AUTH_FAILED &&
            !uv_is_active((uv_handle_t *)&c->retry_timer)) {
            c->attempts = 0;
            connect_now(c);
        }
        return;
    }
    identity_t now;
    memset(&now, 0, sizeof(now));
    read_identity(c, &now);
    if (same_identity(&now, &c->id)) {
        return;
    }
    /* Topics, passwords and the session key belong to the identity the connection was made
     * with: a new one needs a new connection. */
    LOG(c, QTD_LOG_INFO, "identity, server or session settings changed: reconnecting");
    c->attempts = 0;
    fail_and_retry(c, QTD_EVT_CONNECT, 10475, QTD_WS_REGISTER_FAILED, 0);
}

/* ---- uplink ---- */

int qtd_cloud_send(cloud_t *c, int mode, uint16_t cmd, uint16_t pkgid, const uint8_t *payload,
                   size_t len)
{
    if (mode < 0 || mode > 2) {
        return QTD_EINVAL;
    }
    const char *type = qtd_frame_topic_type(cmd);
    if (type == NULL) {
        return QTD_EINVAL;
    }
    if (c->id.pk[0] == '\0') {
        /* Set in this very callback: the settings event arrives after it returns. */
        qtd_cloud_load_identity(c);
        if (c->id.pk[0] == '\0') {
            return QTD_ENOENT;
        }
    }
    if (mode == 0 && !c->online) {
        return QTD_ENOTCONN;
    }
    if (pkgid == 0) {
        c->pkgid = qtd_frame_next_pkgid(c->pkgid);
        pkgid = c->pkgid;
    }
    uint8_t *frame = NULL;
    size_t flen = 0;
    int rc = qtd_frame_encode(pkgid, cmd, payload, len, &frame, &flen);
    if (rc < 0) {
        return rc;
    }
    if (mode == 0) {
        char topic[CLOUD_TOPIC_MAX];
        qtd_cloud_uplink_topic(c, type, topic, sizeof(topic));
        rc = qtd_cloud_publish_frame(c, topic, 0, frame, flen, NULL);
    } else {
        /* The row keeps the topic type only: the topic is made at send time, for the
         * identity of the connection that sends it. */
        int64_t row = 0;
        rc = c->api->outbox_put(c->host, type, mode, frame, flen, &row);
        c->pump_wanted = true;
    }
    free(frame);
    return rc;
}

void qtd_cloud_uplink_topic(const cloud_t *c, const char *type, char *topic, size_t n)
{
    if (strchr(type, '/') != NULL) {
        snprintf(topic, n, "%s", type); /* a row stored with its whole topic */
    } else {
        snprintf(topic, n, "q/2/d/%s/%s", c->cid, type);
    }
}

int qtd_cloud_send_value(cloud_t *c, int mode, uint16_t cmd, uint16_t pkgid, const qtd_value_t *v)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = qtd_ttlv_encode(v, &buf, &n);
    if (rc < 0) {
        return rc;
    }
    rc = qtd_cloud_send(c, mode, cmd, pkgid, buf, n);
    free(buf);
    return rc;
}

/* ---- downlink ---- */

static void send_exce(cloud_t *c, int reason, uint16_t pkgid)
{
    qtd_value_t items[2] = {{.type = QTD_VAL_INT, .id = 1, .u.i = reason},
                            {.type = QTD_VAL_INT, .id = 2, .u.i = pkgid}};
    qtd_value_t v = {.type = QTD_VAL_STRUCT, .u.list = {items, 2}};
    qtd_cloud_send_value(c, 1, QTD_CMD_EXCE_EVENT, 0, &v);
}

static const qtd_value_t *find_id(const qtd_value_t *s, uint16_t id)
{
    for (size_t i = 0; i < s->u.list.count; i++) {
        if (s->u.list.items[i].id == id) {
            return &s->u.list.items[i];
        }
    }
    return NULL;
}

/* u16 id list payloads (TSL_REQ, STATUS_REQ, INFO_REQ). */
static int id_list(const qtd_frame_t *f, uint16_t *ids, size_t max, size_t *n)
{
    if (f->len % 2 != 0 || f->len / 2 > max) {
        return -1;
    }
    *n = f->len / 2;
    for (size_t i = 0; i < *n; i++) {
        ids[i] = (uint16_t)(f->payload[2 * i] << 8 | f->payload[2 * i + 1]);
    }
    return 0;
}

static bool is_throttle(int64_t code)
{
    return code == 10428 || code == 10429;
}

static void on_exce_write(cloud_t *c, const qtd_value_t *tree)
{
    const qtd_value_t *code = find_id(tree, 1);
    int64_t errcode = code != NULL && code->type == QTD_VAL_INT ? code->u.i : 10300;
    LOG(c, QTD_LOG_WARN, "platform exception %lld while %s", (long long)errcode,
        c->registering && !c->online ? "registering" : "connected");
    if (is_throttle(errcode)) {
        qtd_cloud_publish_event(c, QTD_EVT_THROTTLE, (int)errcode, NULL);
        return;
    }
    int64_t floor = AUTH_RETRY_FLOOR_MS;
    if (errcode == 10422 || errcode == 10426 || errcode == 10431 || errcode == 10432) {
        floor = FATAL_RETRY_FLOOR_MS;
    }
    if (c->registering && !c->online) {
        fail_and_retry(c, QTD_EVT_AUTH, (int)errcode, QTD_WS_AUTH_FAILED, floor);
        return;
    }
    if (errcode == 10430) {
        /* The platform says our DS is wrong: register again (soon). */
        c->api->kv_del(c->host, QTD_KV_DS);
        floor = 0;
    }
    fail_and_retry(c, QTD_EVT_CONNECT, (int)errcode, QTD_WS_REGISTER_FAILED, floor);
}

static void store_text(cloud_t *c, const char *key, const qtd_value_t *v, size_t max)
{
    if (v == NULL || v->type != QTD_VAL_STRING || v->u.s.len == 0 || v->u.s.len > max) {
        return;
    }
    c->api->kv_set(c->host, key, v->u.s.ptr, v->u.s.len);
}

static void on_dev_config(cloud_t *c, const qtd_value_t *tree)
{
    const qtd_value_t *ds = find_id(tree, 5);
    const qtd_value_t *ds_new = find_id(tree, 10);
    const qtd_value_t *key = find_id(tree, 6);
    const qtd_value_t *server = find_id(tree, 1);
    store_text(c, QTD_KV_PK, find_id(tree, 7), CLOUD_PK_MAX);
    store_text(c, QTD_KV_PS, find_id(tree, 8), CLOUD_PS_MAX);
    if (ds_new != NULL) {
        ds = ds_new;
    }
    if (ds != NULL && ds->type == QTD_VAL_STRING && ds->u.s.len > 0 &&
        ds->u.s.len <= CLOUD_DS_MAX) {
        c->api->kv_set(c->host, QTD_KV_DS, ds->u.s.ptr, ds->u.s.len);
        memcpy(c->id.ds, ds->u.s.ptr, ds->u.s.len);
        c->id.ds[ds->u.s.len] = '\0';
        LOG(c, QTD_LOG_INFO, "device secret received and stored");
        if (c->registering && !c->online) {
            qtd_cloud_set_workstate(c, QTD_WS_AUTHENTICATED);
            qtd_cloud_publish_event(c, QTD_EVT_AUTH, QTD_CODE_OK, NULL);
            went_online(c);
        }
    }
    if (key != NULL && key->type == QTD_VAL_STRING && key->u.s.len == 16) {
        /* The SDK (ql_iotCmdSys.c) takes id 6 as the raw key. */
        memcpy(c->session_key, key->u.s.ptr, 16);
        c->session_key_ok = true;
        LOG(c, QTD_LOG_INFO, "session key received");
    } else if (key != NULL && key->type == QTD_VAL_STRING && strlen(c->id.ds) >= 16) {
        /* PROTOCOL.md: encrypted with the DS (one AES block plus padding). */
        uint8_t iv[16];
        uint8_t *plain = NULL;
        size_t n = 0;
        qtd_auth_iv((const uint8_t *)c->id.ds, strlen(c->id.ds), iv);
        if (qtd_aes128cbc(false, (const uint8_t *)c->id.ds, iv, (const uint8_t *)key->u.s.ptr,
                          key->u.s.len, &plain, &n) == 0 &&
            n == 16) {
            memcpy(c->session_key, plain, 16);
            c->session_key_ok = true;
            LOG(c, QTD_LOG_INFO, "session key received (encrypted with the device secret)");
        } else {
            LOG(c, QTD_LOG_WARN, "session key does not decrypt with the device secret");
        }
        free(plain);
    }
    if (server != NULL && server->type == QTD_VAL_STRUCT) {
        const qtd_value_t *domain = find_id(server, 2);
        const qtd_value_t *ip = find_id(server, 3);
        const qtd_value_t *port = find_id(server, 4);
        const qtd_value_t *host = domain != NULL && domain->type == QTD_VAL_STRING ? domain : ip;
        if (host != NULL && host->type == QTD_VAL_STRING && port != NULL &&
            port->type == QTD_VAL_INT && port->u.i >= 1 && port->u.i <= 65535 &&
            host->u.s.len > 0 && host->u.s.len <= CLOUD_SERVER_MAX - 16 &&
            memchr(host->u.s.ptr, '/', host->u.s.len) == NULL) {
            char s[CLOUD_SERVER_MAX + 1];
            const char *scheme = strncmp(c->id.server, "mqtts://", 8) == 0 ? "mqtts://" : "";
            snprintf(s, sizeof(s), "%s%.*s:%lld", scheme, (int)host->u.s.len, host->u.s.ptr,
                     (long long)port->u.i);
            c->api->kv_set(c->host, QTD_KV_SERVER, s, strlen(s));
            LOG(c, QTD_LOG_INFO, "platform moved this device to %s", s);
            fail_and_retry(c, QTD_EVT_CONNECT, 10475, QTD_WS_REGISTER_FAILED, 0);
            c->attempts = 0;
            return;
        }
    }
    const qtd_value_t *reauth = find_id(tree, 9);
    if (reauth != NULL) {
        LOG(c, QTD_LOG_INFO, "platform asks to authenticate again: device secret wiped");
        c->api->kv_del(c->host, QTD_KV_DS);
        fail_and_retry(c, QTD_EVT_CONNECT, 10475, QTD_WS_REGISTER_FAILED, 0);
    }
}

static bool needs_ttlv(uint16_t cmd)
{
    return cmd == QTD_CMD_TSL_WRITE || cmd == QTD_CMD_EXCE_WRITE ||
           cmd == QTD_CMD_DEV_CONFIG_WRITE;
}

static void on_frame(cloud_t *c, const qtd_frame_t *f)
{
    qtd_value_t tree = {0};
    if (needs_ttlv(f->cmd)) {
        size_t off = 0;
        if (qtd_ttlv_decode(f->payload, f->len, &tree, &off) < 0) {
            LOG(c, QTD_LOG_WARN, "downlink 0x%04x pkgid %u: bad TTLV at byte %zu", f->cmd,
                f->pkgid, off);
            send_exce(c, QTD_EXCE_UNFORMATTABLE, f->pkgid);
            return;
        }
    }
    uint16_t ids[512];
    size_t n = 0;
    switch (f->cmd) {
    case QTD_CMD_TSL_WRITE:
        qtd_cloud_publish_event(c, QTD_EVT_RECV, QTD_CODE_TSL, &tree);
        break;
    case QTD_CMD_TSL_REQ: {
        if (id_list(f, ids, 512, &n) < 0) {
            send_exce(c, QTD_EXCE_UNFORMATTABLE, f->pkgid);
            break;
        }
        qtd_value_t *list = calloc(n + 1, sizeof(*list));
        if (list == NULL) {
            break;
        }
        for (size_t i = 0; i < n; i++) {
            list[i].type = QTD_VAL_INT;
            list[i].u.i = ids[i];
        }
        qtd_value_t pair[2] = {{.type = QTD_VAL_INT, .u.i = f->pkgid},
                               {.type = QTD_VAL_ARRAY, .u.list = {list, n}}};
        qtd_value_t v = {.type = QTD_VAL_ARRAY, .u.list = {pair, 2}};
        qtd_cloud_publish_event(c, QTD_EVT_RECV, QTD_CODE_TSL_READ, &v);
        free(list);
        break;
    }
    case QTD_CMD_PASS_WRITE: {
        qtd_value_t v = {.type = QTD_VAL_BYTES, .u.s = {(const char *)f->payload, f->len}};
        qtd_cloud_publish_event(c, QTD_EVT_RECV, QTD_CODE_OK, &v);
        break;
    }
    case QTD_CMD_STATUS_REQ:
    case QTD_CMD_INFO_REQ: {
        qtd_value_t *v = NULL;
        bool status = f->cmd == QTD_CMD_STATUS_REQ;
        if (id_list(f, ids, 512, &n) < 0) {
            send_exce(c, QTD_EXCE_UNFORMATTABLE, f->pkgid);
            break;
        }
        int rc = status ? qtd_cloud_status_value(c, ids, n, &v)
                        : qtd_cloud_info_value(c, ids, n, &v);
        if (rc == 0) {
            qtd_cloud_send_value(c, 1, status ? QTD_CMD_STATUS_RSP : QTD_CMD_INFO_RSP, f->pkgid,
                                 v);
            qtd_cloud_value_free(c, v);
        }
        break;
    }
    case QTD_CMD_EXCE_WRITE:
        on_exce_write(c, &tree);
        break;
    case QTD_CMD_DEV_CONFIG_WRITE:
        on_dev_config(c, &tree);
        break;
    default:
        LOG(c, QTD_LOG_WARN, "downlink command 0x%04x (pkgid %u) is not supported", f->cmd,
            f->pkgid);
        send_exce(c, QTD_EXCE_COMMAND, f->pkgid);
        break;
    }
    qtd_ttlv_free(&tree);
}

static void on_message(cloud_t *c, const mq_event_t *ev)
{
    const uint8_t *data = ev->payload;
    size_t len = ev->len;
    uint8_t *plain = NULL;
    if (ev->topic == NULL || strncmp(ev->topic, c->sub_topic, strlen(c->sub_topic) - 1) != 0) {
        LOG(c, QTD_LOG_WARN, "message on unexpected topic %s ignored",
            ev->topic != NULL ? ev->topic : "(unknown)");
        return;
    }
    if (c->id.session_flag && c->session_key_ok) {
        uint8_t iv[16];
        size_t n = 0;
        qtd_auth_iv(c->session_key, 16, iv);
        if (qtd_aes128cbc(false, c->session_key, iv, data, len, &plain, &n) < 0) {
            LOG(c, QTD_LOG_WARN, "downlink does not decrypt with the session key");
            send_exce(c, QTD_EXCE_UNFORMATTABLE, 0);
            return;
        }
        data = plain;
        len = n;
    }
    qtd_frame_t f;
    uint8_t *storage = NULL;
    int reason = 0;
    if (qtd_frame_decode(data, len, &f, &storage, &reason) < 0) {
        if (reason != 0) { /* 0: out of memory, not the frame's fault */
            LOG(c, QTD_LOG_WARN, "malformed downlink (%zu bytes, reason %d) answered with "
                "0x00A4", len, reason);
            send_exce(c, reason, f.pkgid);
        }
    } else {
        on_frame(c, &f);
    }
    free(storage);
    free(plain);
}

void qtd_cloud_on_mq(cloud_t *c, const mq_event_t *ev)
{
    switch (ev->kind) {
    case MQ_CONNECTED:
        LOG(c, QTD_LOG_DEBUG, "connected, subscribing %s", c->sub_topic);
        if (qtd_cloud_mq_subscribe(c->mq, c->sub_topic, 1) < 0) {
            fail_and_retry(c, QTD_EVT_SUBSCRIBE, QTD_CODE_FAIL, QTD_WS_SUBSCRIBE_FAILED, 0);
        }
        break;
    case MQ_SUBSCRIBED:
        if (ev->code == 0x80) {
            fail_and_retry(c, QTD_EVT_SUBSCRIBE, QTD_CODE_FAIL, QTD_WS_SUBSCRIBE_FAILED, 0);
        } else if (c->registering) {
            uv_timer_start(&c->reg_timer, on_register_timeout,
                           (uint64_t)c->cfg->register_timeout_s * 1000, 0);
        } else {
            went_online(c);
        }
        break;
    case MQ_CONNECT_FAILED:
        if (ev->code == 3) {
            /* Server unavailable says nothing about our secret: keep it, retry later. */
            LOG(c, QTD_LOG_WARN, "broker unavailable (CONNACK 3)");
            fail_and_retry(c, c->registering ? QTD_EVT_AUTH : QTD_EVT_CONNECT, 10474,
                           c->registering ? QTD_WS_AUTH_FAILED : QTD_WS_REGISTER_FAILED, 0);
        } else if (ev->code >= 1 && ev->code <= 5) {
            LOG(c, QTD_LOG_WARN, "connection refused by the broker (CONNACK %d)", ev->code);
            if (!c->registering) {
                /* The DS is not accepted: wipe it and register again. */
                c->api->kv_del(c->host, QTD_KV_DS);
                fail_and_retry(c, QTD_EVT_CONNECT, 10430, QTD_WS_REGISTER_FAILED, 0);
            } else {
                fail_and_retry(c, QTD_EVT_AUTH, 10300, QTD_WS_AUTH_FAILED, AUTH_RETRY_FLOOR_MS);
            }
        } else {
            LOG(c, QTD_LOG_WARN, "cannot connect to %s: %s (Paho %d)", c->id.server,
                ev->topic != NULL ? ev->topic : "refused, unreachable or TLS failure",
                ev->code);
            fail_and_retry(c, c->registering ? QTD_EVT_AUTH : QTD_EVT_CONNECT, 10474,
                           c->registering ? QTD_WS_AUTH_FAILED : QTD_WS_REGISTER_FAILED, 0);
        }
        break;
    case MQ_LOST:
        LOG(c, QTD_LOG_WARN, "connection lost%s%s", ev->topic ? ": " : "",
            ev->topic ? ev->topic : "");
        fail_and_retry(c, QTD_EVT_CONNECT, 10474, QTD_WS_REGISTER_FAILED, 0);
        break;
    case MQ_MESSAGE:
        on_message(c, ev);
        break;
    case MQ_PUBLISHED:
        qtd_cloud_pump_acked(c, ev->token, true);
        break;
    case MQ_PUBLISH_FAILED:
        /* Going on would send later rows first; start over from the oldest instead. */
        qtd_cloud_pump_acked(c, ev->token, false);
        LOG(c, QTD_LOG_WARN, "a publish failed (Paho %d): reconnecting", ev->code);
        fail_and_retry(c, QTD_EVT_CONNECT, 10474, QTD_WS_REGISTER_FAILED, 0);
        break;
    case MQ_DISCONNECTED:
        if (c->connmode == 0) {
            qtd_cloud_set_workstate(c, QTD_WS_LOGGED_OUT);
            qtd_cloud_publish_event(c, QTD_EVT_LOGOUT, QTD_CODE_OK, NULL);
        }
        break;
    }
}
