/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Gateway sub-devices (seed 3.9, table 4.3; docs/protocol.md "Gateway sub-device
 * payloads"): a hash table of sub-devices keyed by their endpoint qd<PK><DK>; on the
 * gateway's sys topic SUB_AUTH (registration password with the sub-device's PS; the DS that
 * comes back is kept in the store, cloud.sub.<id>, and never logged), SUB_LOGIN (login
 * password, keepalive), SUB_LOGOUT and SUB_UNAUTH and their answers, SUB_OFFLINE; the
 * sub-device's own topics q/2/d/<id>/bus (its frames, its own packet ids) and
 * q/1/d/<id>/+ (subscribed after its login: writes, reads and passthrough for it). A
 * sub-device without a heartbeat (subDevHTB or an uplink) within its keepalive is logged out
 * and 2/10473 raised; after the gateway reconnects, the sub-devices the script connected are
 * logged in again, one every 10-30 ms. Events go to QTD_DOM_SUBDEV with the value
 * {pk, dk[, value]}. The sub-devices' uplinks go through the gateway's outbox (rows
 * "sub:<id>", held while the sub-device is offline: cloud_outbox.c). With session flag 1 the
 * login's answer carries the sub-device's session key (id 6, as DEV_CONFIG_WRITE's), and its
 * frames both ways are AES-128-CBC under it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cloud.h"
#include "cloud_auth.h"
#include "cloud_ttlv.h"

#define LOG(c, lvl, ...) (c)->api->log((c)->host, (lvl), __VA_ARGS__)
#define KV_SUB_PREFIX "cloud.sub."

enum {
    CMD_SUB_AUTH = 0x00C0,
    CMD_SUB_AUTH_RSP = 0x00C1,
    CMD_SUB_LOGIN = 0x00C2,
    CMD_SUB_LOGIN_RSP = 0x00C3,
    CMD_SUB_LOGOUT = 0x00C4,
    CMD_SUB_LOGOUT_RSP = 0x00C5,
    CMD_SUB_UNAUTH = 0x00C6,
    CMD_SUB_UNAUTH_RSP = 0x00C7,
    CMD_SUB_OFFLINE = 0x00C8,
};

enum { CODE_OK = 10200, CODE_FAIL = 10300, CODE_DS_WRONG = 10430, CODE_HEARTBEAT = 10473 };

/* ---- the table ---- */

static uint32_t hash_of(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++) {
        h = (h ^ *p) * 16777619u;
    }
    return h;
}

static subdev_t *lookup(const cloud_t *c, const char *id, uint32_t h)
{
    const cloud_subdevs_t *t = &c->subs;
    if (t->nbuckets == 0) {
        return NULL;
    }
    for (subdev_t *sd = t->buckets[h % t->nbuckets]; sd != NULL; sd = sd->next) {
        if (sd->hash == h && strcmp(sd->id, id) == 0) {
            return sd;
        }
    }
    return NULL;
}

/* Twice the buckets when there are more entries than buckets. Returns: 0, QTD_ENOMEM. */
static int grow(cloud_t *c)
{
    cloud_subdevs_t *t = &c->subs;
    if (t->nbuckets > 0 && t->count < t->nbuckets) {
        return 0;
    }
    size_t n = t->nbuckets > 0 ? t->nbuckets * 2 : 64;
    subdev_t **b = c->api->calloc(c->host, n, sizeof(*b));
    if (b == NULL) {
        return QTD_ENOMEM;
    }
    for (size_t i = 0; i < t->nbuckets; i++) {
        subdev_t *sd = t->buckets[i];
        while (sd != NULL) {
            subdev_t *next = sd->next;
            sd->next = b[sd->hash % n];
            b[sd->hash % n] = sd;
            sd = next;
        }
    }
    c->api->free(c->host, t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    return 0;
}

subdev_t *qtd_cloud_subdev_find(cloud_t *c, const char *pk, const char *dk, bool create)
{
    char id[sizeof(((subdev_t *)0)->id)];
    if (strlen(pk) > SUBDEV_KEY_MAX || strlen(dk) > SUBDEV_KEY_MAX) {
        return NULL;
    }
    snprintf(id, sizeof(id), "qd%s%s", pk, dk);
    uint32_t h = hash_of(id);
    subdev_t *sd = lookup(c, id, h);
    if (sd != NULL && (strcmp(sd->pk, pk) != 0 || strcmp(sd->dk, dk) != 0)) {
        /* another PK/DK split of the same endpoint (PK "ab" DK "c" and PK "a" DK "bc"): one
         * topic on the wire, so one of them only */
        LOG(c, QTD_LOG_WARN, "sub-device %s/%s: its endpoint %s is %s/%s's already", pk, dk, id,
            sd->pk, sd->dk);
        return NULL;
    }
    if (sd != NULL || !create || grow(c) != 0) {
        return sd;
    }
    sd = c->api->calloc(c->host, 1, sizeof(*sd));
    if (sd == NULL) {
        return NULL;
    }
    snprintf(sd->pk, sizeof(sd->pk), "%s", pk);
    snprintf(sd->dk, sizeof(sd->dk), "%s", dk);
    snprintf(sd->id, sizeof(sd->id), "%s", id);
    sd->hash = h;
    sd->next = c->subs.buckets[h % c->subs.nbuckets];
    c->subs.buckets[h % c->subs.nbuckets] = sd;
    c->subs.count++;
    return sd;
}

/* The sub-device a topic q/<dir>/d/<id>/... names, or NULL. */
static subdev_t *by_topic(const cloud_t *c, const char *topic)
{
    char id[sizeof(((subdev_t *)0)->id)];
    if (topic == NULL || strncmp(topic, "q/1/d/", 6) != 0) {
        return NULL;
    }
    const char *start = topic + 6;
    const char *slash = strchr(start, '/');
    if (slash == NULL || (size_t)(slash - start) >= sizeof(id)) {
        return NULL;
    }
    memcpy(id, start, (size_t)(slash - start));
    id[slash - start] = '\0';
    return lookup(c, id, hash_of(id));
}

/* ---- events and the gateway's sys commands ---- */

void qtd_cloud_subdev_event(cloud_t *c, const subdev_t *sd, int event, int errcode,
                            const qtd_value_t *v)
{
    qtd_value_t items[3] = {
        {.type = QTD_VAL_STRING, .u.s = {sd->pk, strlen(sd->pk)}},
        {.type = QTD_VAL_STRING, .u.s = {sd->dk, strlen(sd->dk)}},
    };
    size_t n = 2;
    if (v != NULL) {
        items[n++] = *v;
    }
    qtd_event_t ev = {.size = sizeof(ev),
                      .domain = QTD_DOM_SUBDEV,
                      .event = event,
                      .errcode = errcode,
                      .value = {.type = QTD_VAL_ARRAY, .u.list = {items, n}}};
    int rc = c->api->publish(c->host, &ev);
    if (rc < 0) {
        LOG(c, QTD_LOG_ERROR, "sub-device %s: event %d/%d lost: %s", sd->id, event, errcode,
            c->api->strerror(rc));
    }
}

/* cmd {1 pk, 2 dk[, 3 text][, 4 number]} on the gateway's sys topic, now. */
static int send_sys(cloud_t *c, const subdev_t *sd, uint16_t cmd, const char *text, int number)
{
    qtd_value_t items[4] = {
        {.type = QTD_VAL_STRING, .id = 1, .u.s = {sd->pk, strlen(sd->pk)}},
        {.type = QTD_VAL_STRING, .id = 2, .u.s = {sd->dk, strlen(sd->dk)}},
    };
    size_t n = 2;
    if (text != NULL) {
        items[n++] = (qtd_value_t){.type = QTD_VAL_STRING, .id = 3, .u.s = {text, strlen(text)}};
    }
    if (number > 0) {
        items[n++] = (qtd_value_t){.type = QTD_VAL_INT, .id = 4, .u.i = number};
    }
    qtd_value_t v = {.type = QTD_VAL_STRUCT, .u.list = {items, n}};
    return qtd_cloud_send_value(c, 0, cmd, 0, &v);
}

static void kv_key(const subdev_t *sd, char *key, size_t n)
{
    snprintf(key, n, KV_SUB_PREFIX "%s", sd->id);
}

/* The DS kept for the sub-device, into sd->ds (left alone when there is none). */
static void load_secret(cloud_t *c, subdev_t *sd)
{
    char key[sizeof(sd->id) + 16];
    char *v = NULL;
    size_t len = 0;
    kv_key(sd, key, sizeof(key));
    if (c->api->kv_get(c->host, key, &v, &len) == 0 && len > 0 && len <= SUBDEV_SECRET_MAX) {
        memcpy(sd->ds, v, len);
        sd->ds[len] = '\0';
    }
    c->api->free(c->host, v);
}

static void keep_secret(cloud_t *c, subdev_t *sd, bool keep)
{
    char key[sizeof(sd->id) + 16];
    kv_key(sd, key, sizeof(key));
    int rc =
        keep ? c->api->kv_set(c->host, key, sd->ds, strlen(sd->ds)) : c->api->kv_del(c->host, key);
    if (rc == 0) {
        rc = c->api->store_commit_durable(c->host);
    }
    if (rc != 0 && !(rc == QTD_ENOENT && !keep)) {
        LOG(c, QTD_LOG_ERROR, "sub-device %s: its secret could not be %s: %s", sd->id,
            keep ? "kept" : "forgotten", c->api->strerror(rc));
    }
}

static int login(cloud_t *c, subdev_t *sd)
{
    char rnd[QTD_AUTH_RAND_LEN + 1];
    char pw[QTD_AUTH_PASSWORD_MAX + 1];
    int rc = qtd_auth_rand(rnd) == 0
                 ? qtd_auth_login_password(sd->ds, sd->ps, rnd, sd->session_flag, pw, sizeof(pw))
                 : -1;
    if (rc != 0) {
        LOG(c, QTD_LOG_ERROR, "sub-device %s: no login password (its DS or PS is not valid)",
            sd->id);
        return QTD_EINVAL;
    }
    rc = send_sys(c, sd, CMD_SUB_LOGIN, pw, sd->keepalive_s);
    if (rc == 0) {
        sd->state = SUBDEV_LOGGING_IN;
        sd->req_ms = uv_now(c->loop);
    }
    return rc;
}

static int authenticate(cloud_t *c, subdev_t *sd)
{
    char rnd[QTD_AUTH_RAND_LEN + 1];
    char pw[QTD_AUTH_PASSWORD_MAX + 1];
    int rc = qtd_auth_rand(rnd) == 0 ? qtd_auth_register_password(sd->pk, sd->ps, sd->dk, rnd,
                                                                  sd->session_flag, pw, sizeof(pw))
                                     : -1;
    if (rc != 0) {
        LOG(c, QTD_LOG_ERROR,
            "sub-device %s: no registration password (its PS must have at least 16 "
            "characters)",
            sd->id);
        return QTD_EINVAL;
    }
    rc = send_sys(c, sd, CMD_SUB_AUTH, pw, 0);
    if (rc == 0) {
        sd->state = SUBDEV_AUTHING;
        sd->req_ms = uv_now(c->loop);
    }
    return rc;
}

static void on_relogin(uv_timer_t *timer);

/* The paced logins (one every 10-30 ms) go over the table again. */
static void pace(cloud_t *c)
{
    cloud_subdevs_t *t = &c->subs;
    if (t->timers_open) {
        t->relogin_bucket = 0;
        (void)uv_timer_start(&t->relogin, on_relogin, 10 + (uint64_t)(rand() % 21), 0);
    }
}

/* Authentications and logins under way at once: more wait for one of them to end (the paced
 * logins take them). A platform answering a burst of a thousand in order answers the last
 * ones after the wait ran out, and the tries again only lengthen its queue. */
#define SUBDEV_REQUESTS_MAX 16

static size_t requests_under_way(const cloud_t *c)
{
    const cloud_subdevs_t *t = &c->subs;
    size_t n = 0;
    for (size_t b = 0; b < t->nbuckets; b++) {
        for (const subdev_t *sd = t->buckets[b]; sd != NULL; sd = sd->next) {
            n += sd->state == SUBDEV_AUTHING || sd->state == SUBDEV_LOGGING_IN;
        }
    }
    return n;
}

int qtd_cloud_subdev_connect(cloud_t *c, subdev_t *sd)
{
    if (!c->online) {
        return QTD_ENOTCONN;
    }
    if (sd->state != SUBDEV_IDLE) {
        return QTD_EBUSY;
    }
    if (requests_under_way(c) >= SUBDEV_REQUESTS_MAX) {
        pace(c); /* it stays IDLE; the paced logins take it once one has ended */
        return 0;
    }
    if (sd->ds[0] == '\0') {
        load_secret(c, sd);
    }
    int rc = sd->ds[0] != '\0' ? login(c, sd) : authenticate(c, sd);
    if (rc == QTD_EAGAIN) {
        /* MQTT's queue is full (hundreds connected at once): the paced logins take it */
        pace(c);
        return 0;
    }
    return rc;
}

int qtd_cloud_subdev_disconnect(cloud_t *c, subdev_t *sd)
{
    if (!c->online) {
        return QTD_ENOTCONN;
    }
    int rc = send_sys(c, sd, CMD_SUB_LOGOUT, NULL, 0);
    if (rc == 0) {
        sd->state = SUBDEV_LOGGING_OUT;
        sd->req_ms = uv_now(c->loop);
    }
    return rc;
}

int qtd_cloud_subdev_deauth(cloud_t *c, subdev_t *sd)
{
    char rnd[QTD_AUTH_RAND_LEN + 1];
    char pw[QTD_AUTH_PASSWORD_MAX + 1];
    if (!c->online) {
        return QTD_ENOTCONN;
    }
    if (sd->ds[0] == '\0') {
        load_secret(c, sd);
    }
    if (qtd_auth_rand(rnd) != 0 ||
        qtd_auth_login_password(sd->ds, sd->ps, rnd, sd->session_flag, pw, sizeof(pw)) != 0) {
        return QTD_EINVAL;
    }
    int rc = send_sys(c, sd, CMD_SUB_UNAUTH, pw, 0);
    if (rc == 0) {
        sd->state = SUBDEV_DEAUTHING;
        sd->req_ms = uv_now(c->loop);
    }
    return rc;
}

/* ---- answers from the platform ---- */

/* The sub-device an answer names ({1 pk, 2 dk, 3 errcode}), and that code. */
static subdev_t *answered(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree, int *code,
                          const char *what)
{
    const qtd_value_t *pk = qtd_cloud_find_id(tree, 1);
    const qtd_value_t *dk = qtd_cloud_find_id(tree, 2);
    const qtd_value_t *errcode = qtd_cloud_find_id(tree, 3);
    char pks[SUBDEV_KEY_MAX + 1];
    char dks[SUBDEV_KEY_MAX + 1];
    if (pk == NULL || dk == NULL || pk->type != QTD_VAL_STRING || dk->type != QTD_VAL_STRING ||
        pk->u.s.len > SUBDEV_KEY_MAX || dk->u.s.len > SUBDEV_KEY_MAX || errcode == NULL ||
        errcode->type != QTD_VAL_INT) {
        qtd_cloud_malformed(c, QTD_EXCE_UNFORMATTABLE, f->pkgid, "%s without 1 PK, 2 DK, 3 errcode",
                            what);
        return NULL;
    }
    snprintf(pks, sizeof(pks), "%.*s", (int)pk->u.s.len, pk->u.s.ptr);
    snprintf(dks, sizeof(dks), "%.*s", (int)dk->u.s.len, dk->u.s.ptr);
    subdev_t *sd = qtd_cloud_subdev_find(c, pks, dks, false);
    if (sd == NULL) {
        LOG(c, QTD_LOG_WARN, "%s for an unknown sub-device %s/%s ignored", what, pks, dks);
    }
    *code = (int)errcode->u.i;
    return sd;
}

static void on_auth_rsp(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    int code = 0;
    subdev_t *sd = answered(c, f, tree, &code, "SUB_AUTH_RSP");
    if (sd == NULL) {
        return;
    }
    const qtd_value_t *ds = qtd_cloud_find_id(tree, 4);
    bool granted = code == CODE_OK && ds != NULL && ds->type == QTD_VAL_STRING && ds->u.s.len > 0 &&
                   ds->u.s.len <= SUBDEV_SECRET_MAX;
    /* A secret granted after our wait ran out (a busy platform) is still the device's: the
     * platform refuses a second authentication, so dropping it would leave the sub-device
     * out for good. Taken while no other request of it is under way. */
    bool late = granted && sd->state == SUBDEV_IDLE && sd->ds[0] == '\0';
    if (sd->state != SUBDEV_AUTHING && !late) {
        return;
    }
    if (granted) {
        snprintf(sd->ds, sizeof(sd->ds), "%.*s", (int)ds->u.s.len, ds->u.s.ptr);
        keep_secret(c, sd, true);
        LOG(c, QTD_LOG_INFO, "sub-device %s authenticated%s; its secret is kept", sd->id,
            late ? " (the answer came after the wait)" : "");
        qtd_value_t v = {.type = QTD_VAL_STRING, .u.s = {sd->ds, strlen(sd->ds)}};
        qtd_cloud_subdev_event(c, sd, QTD_EVT_AUTH, CODE_OK, &v);
        sd->state = SUBDEV_IDLE;
        if ((!late || sd->wanted) && login(c, sd) != 0) {
            qtd_cloud_subdev_event(c, sd, QTD_EVT_CONNECT, 10500, NULL);
        }
        return;
    }
    LOG(c, QTD_LOG_WARN, "sub-device %s: authentication refused (%d)", sd->id, code);
    sd->state = SUBDEV_IDLE;
    sd->wanted = false;
    qtd_cloud_subdev_event(c, sd, QTD_EVT_AUTH, code == CODE_OK ? CODE_FAIL : code, NULL);
}

static void on_login_rsp(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    int code = 0;
    subdev_t *sd = answered(c, f, tree, &code, "SUB_LOGIN_RSP");
    if (sd == NULL || sd->state != SUBDEV_LOGGING_IN) {
        return;
    }
    if (code != CODE_OK) {
        LOG(c, QTD_LOG_WARN, "sub-device %s: login refused (%d)", sd->id, code);
        sd->state = SUBDEV_IDLE;
        sd->wanted = false;
        if (code == CODE_DS_WRONG) { /* the next connect authenticates again */
            sd->ds[0] = '\0';
            keep_secret(c, sd, false);
        }
        qtd_cloud_subdev_event(c, sd, QTD_EVT_CONNECT, code, NULL);
        return;
    }
    sd->key_ok = false;
    const qtd_value_t *key = qtd_cloud_find_id(tree, 6);
    if (sd->session_flag == 1 && key != NULL) {
        char who[sizeof(sd->id) + 24];
        snprintf(who, sizeof(who), "sub-device %s session", sd->id);
        sd->key_ok = qtd_cloud_session_key(c, key, sd->ds, sd->key, who);
    } else if (sd->session_flag == 1) {
        LOG(c, QTD_LOG_WARN,
            "sub-device %s: logged in with session flag 1 but no session key "
            "came: its frames go plain",
            sd->id);
    }
    char topic[CLOUD_TOPIC_MAX];
    snprintf(topic, sizeof(topic), "q/1/d/%s/+", sd->id);
    sd->state = SUBDEV_SUBSCRIBING;
    sd->beat_ms = sd->req_ms = uv_now(c->loop);
    qtd_cloud_subdev_event(c, sd, QTD_EVT_CONNECT, CODE_OK, NULL);
    if (qtd_cloud_mq_subscribe(c->mq, topic, 1, &sd->sub_token) != 0) {
        sd->state = SUBDEV_ONLINE; /* logged in; its downlinks do not reach it */
        qtd_cloud_subdev_event(c, sd, QTD_EVT_SUBSCRIBE, CODE_FAIL, NULL);
        qtd_cloud_pump_release(c);
    }
}

static void on_logout_rsp(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    int code = 0;
    subdev_t *sd = answered(c, f, tree, &code, "SUB_LOGOUT_RSP");
    if (sd == NULL || sd->state != SUBDEV_LOGGING_OUT) {
        return; /* the answer to a keepalive logout, or late: what is under way stays */
    }
    sd->state = SUBDEV_IDLE;
    qtd_cloud_subdev_event(c, sd, QTD_EVT_LOGOUT, code, NULL);
}

static void on_unauth_rsp(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    int code = 0;
    subdev_t *sd = answered(c, f, tree, &code, "SUB_UNAUTH_RSP");
    if (sd == NULL || sd->state != SUBDEV_DEAUTHING) {
        return;
    }
    sd->state = SUBDEV_IDLE;
    if (code == CODE_OK) {
        sd->wanted = false;
        OPENSSL_cleanse(sd->ds, sizeof(sd->ds));
        sd->ds[0] = '\0';
        keep_secret(c, sd, false);
    }
    qtd_cloud_subdev_event(c, sd, QTD_EVT_SUB_DEAUTH, code, NULL);
}

static void on_offline(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    int code = 0;
    subdev_t *sd = answered(c, f, tree, &code, "SUB_OFFLINE");
    if (sd == NULL || (sd->state != SUBDEV_ONLINE && sd->state != SUBDEV_SUBSCRIBING)) {
        return; /* late: a login under way is not undone by it */
    }
    LOG(c, QTD_LOG_WARN, "sub-device %s: the platform says it is not logged in (%d)", sd->id, code);
    sd->state = SUBDEV_IDLE;
    qtd_cloud_subdev_event(c, sd, QTD_EVT_THROTTLE, code, NULL);
}

const cloud_downlink_t qtd_cloud_subdev_downlinks[] = {
    {CMD_SUB_AUTH_RSP, true, on_auth_rsp},     {CMD_SUB_LOGIN_RSP, true, on_login_rsp},
    {CMD_SUB_LOGOUT_RSP, true, on_logout_rsp}, {CMD_SUB_UNAUTH_RSP, true, on_unauth_rsp},
    {CMD_SUB_OFFLINE, true, on_offline},       {0, false, NULL},
};

/* ---- the sub-device's own frames ---- */

int qtd_cloud_subdev_send(cloud_t *c, subdev_t *sd, uint16_t cmd, uint16_t pkgid,
                          const uint8_t *payload, size_t len)
{
    if (pkgid == 0) {
        sd->pkgid = qtd_frame_next_pkgid(sd->pkgid);
        pkgid = sd->pkgid;
    }
    uint8_t *frame = NULL;
    size_t n = 0;
    int rc = qtd_frame_encode(pkgid, cmd, payload, len, &frame, &n);
    if (rc < 0) {
        return rc == -EMSGSIZE ? QTD_EMSGSIZE : QTD_EIO;
    }
    char topic[sizeof(CLOUD_SUBDEV_ROW) + sizeof(sd->id)];
    snprintf(topic, sizeof(topic), CLOUD_SUBDEV_ROW "%s", sd->id);
    rc = qtd_cloud_store_row(c, topic, 1, frame, n, cmd, sd);
    free(frame);
    if (rc == 0 && sd->state == SUBDEV_ONLINE) {
        sd->beat_ms = uv_now(c->loop); /* an uplink is a heartbeat too */
    }
    return rc;
}

subdev_t *qtd_cloud_subdev_of_row(cloud_t *c, const char *topic)
{
    size_t p = strlen(CLOUD_SUBDEV_ROW);
    if (strncmp(topic, CLOUD_SUBDEV_ROW, p) != 0) {
        return NULL;
    }
    return lookup(c, topic + p, hash_of(topic + p));
}

bool qtd_cloud_subdev_subscribed(cloud_t *c, int token, bool ok)
{
    cloud_subdevs_t *t = &c->subs;
    for (size_t b = 0; b < t->nbuckets; b++) {
        for (subdev_t *sd = t->buckets[b]; sd != NULL; sd = sd->next) {
            if (sd->state == SUBDEV_SUBSCRIBING && sd->sub_token == token) {
                sd->state = SUBDEV_ONLINE;
                qtd_cloud_subdev_event(c, sd, QTD_EVT_SUBSCRIBE, ok ? CODE_OK : CODE_FAIL, NULL);
                qtd_cloud_pump_release(c); /* its held rows go now */
                return true;
            }
        }
    }
    return false;
}

bool qtd_cloud_subdev_message(cloud_t *c, const mq_event_t *ev)
{
    subdev_t *sd = by_topic(c, ev->topic);
    if (sd == NULL) {
        return false;
    }
    const uint8_t *data = ev->payload;
    size_t len = ev->len;
    uint8_t *plain = NULL;
    if (sd->key_ok) {
        uint8_t iv[16];
        qtd_auth_iv(sd->key, 16, iv);
        if (qtd_aes128cbc(false, sd->key, iv, data, len, &plain, &len) < 0) {
            LOG(c, QTD_LOG_WARN,
                "sub-device %s: a downlink does not decrypt with its session "
                "key: dropped",
                sd->id);
            return true;
        }
        data = plain;
    }
    qtd_frame_t f;
    uint8_t *storage = NULL;
    int reason = 0;
    if (qtd_frame_decode(data, len, &f, &storage, &reason) < 0) {
        LOG(c, QTD_LOG_WARN, "sub-device %s: malformed downlink (%zu bytes) dropped", sd->id, len);
        free(storage);
        free(plain);
        return true;
    }
    switch (f.cmd) {
    case QTD_CMD_PASS_WRITE: {
        qtd_value_t v = {.type = QTD_VAL_BYTES, .u.s = {(const char *)f.payload, f.len}};
        qtd_cloud_subdev_event(c, sd, QTD_EVT_RECV, CODE_OK, &v);
        break;
    }
    case QTD_CMD_TSL_WRITE: {
        qtd_value_t tree;
        size_t off = 0;
        if (qtd_ttlv_decode(f.payload, f.len, &tree, &off) == 0) {
            qtd_cloud_subdev_event(c, sd, QTD_EVT_RECV, 10210, &tree);
            qtd_ttlv_free(&tree);
        } else {
            LOG(c, QTD_LOG_WARN, "sub-device %s: TSL_WRITE that is not TTLV (byte %zu)", sd->id,
                off);
        }
        break;
    }
    case QTD_CMD_TSL_REQ: {
        uint16_t ids[512];
        size_t n = 0;
        if (qtd_cloud_id_list(&f, ids, 512, &n) == 0) {
            qtd_value_t idv[512];
            for (size_t i = 0; i < n; i++) {
                idv[i] = (qtd_value_t){.type = QTD_VAL_INT, .u.i = ids[i]};
            }
            qtd_value_t pair[2] = {
                {.type = QTD_VAL_INT, .u.i = f.pkgid},
                {.type = QTD_VAL_ARRAY, .u.list = {idv, n}},
            };
            qtd_value_t v = {.type = QTD_VAL_ARRAY, .u.list = {pair, 2}};
            qtd_cloud_subdev_event(c, sd, QTD_EVT_RECV, 10211, &v);
        }
        break;
    }
    default:
        LOG(c, QTD_LOG_WARN, "sub-device %s: downlink 0x%04x ignored", sd->id, f.cmd);
        break;
    }
    free(storage);
    free(plain);
    return true;
}

/* ---- keepalives and logins after a reconnect ---- */

static void on_tick(uv_timer_t *timer)
{
    cloud_t *c = timer->data;
    cloud_subdevs_t *t = &c->subs;
    uint64_t now = uv_now(c->loop);
    uint64_t wait = (uint64_t)c->cfg->ack_timeout_s * 1000;
    bool again = false;
    for (size_t b = 0; b < t->nbuckets; b++) {
        for (subdev_t *sd = t->buckets[b]; sd != NULL; sd = sd->next) {
            if (sd->state != SUBDEV_IDLE && sd->state != SUBDEV_ONLINE && now - sd->req_ms > wait) {
                /* the request or its answer was lost (sys frames go at QoS 0) */
                static const int events[] = {
                    [SUBDEV_AUTHING] = QTD_EVT_AUTH,          [SUBDEV_LOGGING_IN] = QTD_EVT_CONNECT,
                    [SUBDEV_SUBSCRIBING] = QTD_EVT_SUBSCRIBE, [SUBDEV_LOGGING_OUT] = QTD_EVT_LOGOUT,
                    [SUBDEV_DEAUTHING] = QTD_EVT_SUB_DEAUTH,
                };
                LOG(c, QTD_LOG_WARN, "sub-device %s: no answer in %llds (state %d)%s", sd->id,
                    (long long)c->cfg->ack_timeout_s, (int)sd->state,
                    sd->wanted ? ": trying again" : "");
                int event = events[sd->state];
                sd->state = SUBDEV_IDLE;
                again = again || sd->wanted;
                qtd_cloud_subdev_event(c, sd, event, event == QTD_EVT_SUBSCRIBE ? CODE_FAIL : 10500,
                                       NULL);
                continue;
            }
            if (sd->state == SUBDEV_ONLINE && sd->keepalive_s > 0 &&
                now - sd->beat_ms > (uint64_t)sd->keepalive_s * 1000) {
                LOG(c, QTD_LOG_WARN, "sub-device %s: no heartbeat for %d s: logged out", sd->id,
                    sd->keepalive_s);
                (void)send_sys(c, sd, CMD_SUB_LOGOUT, NULL, 0);
                sd->state = SUBDEV_IDLE;
                sd->wanted = false;
                qtd_cloud_subdev_event(c, sd, QTD_EVT_CONNECT, CODE_HEARTBEAT, NULL);
            }
        }
    }
    if (again) {
        pace(c);
    }
}

/* One wanted sub-device logged in again per call, the next call 10-30 ms later (50 ms while
 * SUBDEV_REQUESTS_MAX requests are under way). */
static void on_relogin(uv_timer_t *timer)
{
    cloud_t *c = timer->data;
    cloud_subdevs_t *t = &c->subs;
    for (; c->online && t->relogin_bucket < t->nbuckets; t->relogin_bucket++) {
        for (subdev_t *sd = t->buckets[t->relogin_bucket]; sd != NULL; sd = sd->next) {
            if (sd->wanted && sd->state == SUBDEV_IDLE) {
                int rc = qtd_cloud_subdev_connect(c, sd);
                if (rc != 0) {
                    /* it cannot be logged in as it is (no valid password): not again */
                    LOG(c, QTD_LOG_ERROR, "sub-device %s: cannot log in again: %s", sd->id,
                        c->api->strerror(rc));
                    sd->wanted = false;
                    qtd_cloud_subdev_event(c, sd, QTD_EVT_CONNECT, 10500, NULL);
                    continue;
                }
                /* the next one 10-30 ms later; 50 ms when this one waits for a request under
                 * way to end */
                uint64_t ms = sd->state == SUBDEV_IDLE ? 50 : 10 + (uint64_t)(rand() % 21);
                (void)uv_timer_start(&t->relogin, on_relogin, ms, 0);
                return; /* this bucket again next time: it may hold more */
            }
        }
    }
}

void qtd_cloud_subdev_gateway_online(cloud_t *c)
{
    if (c->subs.count > 0) {
        pace(c);
    }
}

void qtd_cloud_subdev_gateway_lost(cloud_t *c)
{
    cloud_subdevs_t *t = &c->subs;
    for (size_t b = 0; b < t->nbuckets; b++) {
        for (subdev_t *sd = t->buckets[b]; sd != NULL; sd = sd->next) {
            if (sd->state != SUBDEV_IDLE) {
                sd->state = SUBDEV_IDLE;
                qtd_cloud_subdev_event(c, sd, QTD_EVT_CONNECT, 10474, NULL); /* network */
            }
        }
    }
    if (t->timers_open) {
        (void)uv_timer_stop(&t->relogin);
    }
}

void qtd_cloud_subdev_open(cloud_t *c)
{
    cloud_subdevs_t *t = &c->subs;
    (void)uv_timer_init(c->loop, &t->tick);
    (void)uv_timer_init(c->loop, &t->relogin);
    t->tick.data = t->relogin.data = c;
    t->timers_open = true;
    (void)uv_timer_start(&t->tick, on_tick, 1000, 1000);
}

void qtd_cloud_subdev_close(cloud_t *c)
{
    cloud_subdevs_t *t = &c->subs;
    if (t->timers_open) {
        t->timers_open = false;
        uv_close((uv_handle_t *)&t->tick, NULL);
        uv_close((uv_handle_t *)&t->relogin, NULL);
    }
}

void qtd_cloud_subdev_free(cloud_t *c)
{
    cloud_subdevs_t *t = &c->subs;
    for (size_t b = 0; b < t->nbuckets; b++) {
        subdev_t *sd = t->buckets[b];
        while (sd != NULL) {
            subdev_t *next = sd->next;
            OPENSSL_cleanse(sd->ds, sizeof(sd->ds));
            c->api->free(c->host, sd);
            sd = next;
        }
    }
    c->api->free(c->host, t->buckets);
    t->buckets = NULL;
    t->nbuckets = t->count = 0;
}
