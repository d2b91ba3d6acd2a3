/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bridge between Paho MQTT C (async API, its own threads) and the loop. Paho's
 * callbacks only copy what they got into an event, append it to a mutex-protected queue and
 * wake the loop with uv_async_send; the loop drains the queue in order and hands each event
 * to the session (qtd_cloud_on_mq). Every connection attempt gets a fresh Paho client and a
 * new generation number, so late callbacks of an old connection are recognised and dropped.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <MQTTAsync.h>

#include "cloud.h"

typedef struct conn_s {
    mq_bridge_t *mq;
    MQTTAsync client;
    uint32_t gen;
    char tls_error[160]; /* OpenSSL's first error of the TLS handshake (under mq->lock) */
} conn_t;

struct mq_bridge_s {
    cloud_t *c;
    uv_async_t async;
    uv_mutex_t lock;
    mq_event_t *head;
    mq_event_t *tail;
    conn_t *conn; /* current connection, NULL when none */
    uint32_t gen;
    bool connected;
};

/* Memory through the host (counted for this plugin; safe on Paho's threads). */
static void *mq_calloc(const mq_bridge_t *mq, size_t n)
{
    return mq->c->api->calloc(mq->c->host, 1, n);
}

static void mq_free(const mq_bridge_t *mq, void *p)
{
    mq->c->api->free(mq->c->host, p);
}

static void push(conn_t *cn, mq_kind_t kind, int code, int token, const char *topic, int topic_len,
                 const void *payload, size_t len)
{
    mq_bridge_t *mq = cn->mq;
    mq_event_t *ev = mq_calloc(mq, sizeof(*ev));
    if (ev == NULL) {
        return; /* out of memory on a library thread: the session times out and retries */
    }
    ev->kind = kind;
    ev->gen = cn->gen;
    ev->code = code;
    ev->token = token;
    if (topic != NULL) {
        size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
        ev->topic = mq_calloc(mq, tl + 1);
        if (ev->topic != NULL) {
            memcpy(ev->topic, topic, tl);
            ev->topic[tl] = '\0';
        }
    }
    if (len > 0) {
        ev->payload = mq_calloc(mq, len);
        if (ev->payload != NULL) {
            memcpy(ev->payload, payload, len);
            ev->len = len;
        }
    }
    uv_mutex_lock(&mq->lock);
    if (mq->tail != NULL) {
        mq->tail->next = ev;
    } else {
        mq->head = ev;
    }
    mq->tail = ev;
    uv_mutex_unlock(&mq->lock);
    uv_async_send(&mq->async);
}

static void free_event(const mq_bridge_t *mq, mq_event_t *ev)
{
    mq_free(mq, ev->topic);
    mq_free(mq, ev->payload);
    mq_free(mq, ev);
}

/* ---- Paho callbacks (Paho's threads) ---- */

static void on_connect_ok(void *ctx, MQTTAsync_successData *resp)
{
    (void)resp;
    push(ctx, MQ_CONNECTED, 0, 0, NULL, 0, NULL, 0);
}

/* OpenSSL's error queue of a failed TLS handshake, one line per call (Paho's thread):
 * "<thread>:error:0A000086:SSL routines:<function>:certificate verify failed:<file>:<line>:".
 * The first line's reason is kept for the failure's text. */
static int on_ssl_error(const char *str, size_t len, void *u)
{
    conn_t *cn = u;
    char line[256];
    snprintf(line, sizeof(line), "%.*s", (int)len, str);
    char *reason = strstr(line, ":error:");
    if (reason != NULL) {
        /* error:CODE:LIB:FUNC:REASON:FILE:LINE -> REASON */
        char *p = reason + 1;
        for (int i = 0; i < 4 && p != NULL; i++) {
            p = strchr(p + 1, ':');
        }
        if (p != NULL) {
            char *end = strchr(p + 1, ':');
            if (end != NULL) {
                *end = '\0';
            }
            reason = p + 1;
        }
    }
    reason = reason != NULL ? reason : line;
    reason[strcspn(reason, "\r\n")] = '\0';
    uv_mutex_lock(&cn->mq->lock);
    if (cn->tls_error[0] == '\0') {
        snprintf(cn->tls_error, sizeof(cn->tls_error), "%.*s", (int)sizeof(cn->tls_error) - 1,
                 reason);
    }
    uv_mutex_unlock(&cn->mq->lock);
    return 0;
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *resp)
{
    conn_t *cn = ctx;
    char text[320];
    const char *msg = resp != NULL ? resp->message : NULL;
    /* Paho's text of the failure, if any, travels in the topic field; Paho does not say why
     * a TLS handshake failed (an unverified certificate, say): OpenSSL's reason is added. */
    uv_mutex_lock(&cn->mq->lock);
    if (cn->tls_error[0] != '\0') {
        snprintf(text, sizeof(text), "%s: %s", msg != NULL ? msg : "TLS handshake failed",
                 cn->tls_error);
        cn->tls_error[0] = '\0';
        msg = text;
    }
    uv_mutex_unlock(&cn->mq->lock);
    push(ctx, MQ_CONNECT_FAILED, resp != NULL ? resp->code : MQTTASYNC_FAILURE, 0, msg, 0, NULL, 0);
}

static void on_subscribe_ok(void *ctx, MQTTAsync_successData *resp)
{
    push(ctx, MQ_SUBSCRIBED, resp != NULL ? resp->alt.qos : 0, resp != NULL ? resp->token : 0, NULL,
         0, NULL, 0);
}

static void on_subscribe_fail(void *ctx, MQTTAsync_failureData *resp)
{
    push(ctx, MQ_SUBSCRIBED, 0x80, resp != NULL ? resp->token : 0, NULL, 0, NULL, 0);
}

static void on_publish_ok(void *ctx, MQTTAsync_successData *resp)
{
    push(ctx, MQ_PUBLISHED, 0, resp != NULL ? resp->token : 0, NULL, 0, NULL, 0);
}

static void on_publish_fail(void *ctx, MQTTAsync_failureData *resp)
{
    push(ctx, MQ_PUBLISH_FAILED, resp != NULL ? resp->code : 0, resp != NULL ? resp->token : 0,
         NULL, 0, NULL, 0);
}

static void on_disconnect_ok(void *ctx, MQTTAsync_successData *resp)
{
    (void)resp;
    push(ctx, MQ_DISCONNECTED, 0, 0, NULL, 0, NULL, 0);
}

static void on_disconnect_fail(void *ctx, MQTTAsync_failureData *resp)
{
    (void)resp;
    push(ctx, MQ_DISCONNECTED, 0, 0, NULL, 0, NULL, 0);
}

static void on_lost(void *ctx, char *cause)
{
    push(ctx, MQ_LOST, 0, 0, cause, 0, NULL, 0);
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    push(ctx, MQ_MESSAGE, m->qos, 0, topic, topic_len, m->payload, (size_t)m->payloadlen);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* Paho's own error reports (its trace at level ERROR and above) go to the agent's log as
 * warnings: a failed allocation inside Paho, and, when its last client is destroyed, Paho's
 * heap check ("Some memory not freed at shutdown", then one line per block it still holds).
 * Paho's trace callback is process-wide and takes no context, hence the one bridge kept
 * here. With the level at ERROR, Paho also stops recording every function entry and exit
 * in its trace ring (a lock and a ring write per call on each of its threads). */
static _Atomic(mq_bridge_t *) trace_bridge;

static void on_paho_trace(enum MQTTASYNC_TRACE_LEVELS level, char *message)
{
    mq_bridge_t *mq = atomic_load(&trace_bridge);
    if (mq == NULL || level < MQTTASYNC_TRACE_ERROR || message == NULL) {
        return;
    }
    /* Paho stamps each line "YYYYMMDD HHMMSS.mmm " (1970 at this level); ours has a time */
    static const char stamp[] = "dddddddd dddddd.ddd ";
    size_t skip = 0;
    while (skip < sizeof(stamp) - 1 && message[skip] != '\0' &&
           (stamp[skip] == 'd' ? isdigit((unsigned char)message[skip]) != 0
                               : message[skip] == stamp[skip])) {
        skip++;
    }
    message += skip == sizeof(stamp) - 1 ? skip : 0;
    char line[256]; /* a heap line shows a block's first bytes: keep the log printable */
    size_t n = 0;
    for (; message[n] != '\0' && n < sizeof(line) - 1; n++) {
        unsigned char ch = (unsigned char)message[n];
        line[n] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '.';
    }
    line[n] = '\0';
    mq->c->api->log(mq->c->host, QTD_LOG_WARN, "Paho: %s", line);
}

/* ---- loop side ---- */

static void on_async(uv_async_t *h)
{
    mq_bridge_t *mq = h->data;
    for (;;) {
        uv_mutex_lock(&mq->lock);
        mq_event_t *list = mq->head;
        mq->head = mq->tail = NULL;
        uv_mutex_unlock(&mq->lock);
        if (list == NULL) {
            return;
        }
        while (list != NULL) {
            mq_event_t *ev = list;
            list = ev->next;
            if (ev->gen == mq->gen) {
                if (ev->kind == MQ_CONNECTED) {
                    mq->connected = true;
                } else if (ev->kind == MQ_LOST || ev->kind == MQ_CONNECT_FAILED ||
                           ev->kind == MQ_DISCONNECTED) {
                    mq->connected = false;
                }
                qtd_cloud_on_mq(mq->c, ev);
            }
            free_event(mq, ev);
        }
    }
}

int qtd_cloud_mq_create(cloud_t *c, mq_bridge_t **out)
{
    mq_bridge_t *mq = c->api->calloc(c->host, 1, sizeof(*mq));
    if (mq == NULL) {
        return QTD_ENOMEM;
    }
    mq->c = c;
    int rc = uv_mutex_init(&mq->lock);
    if (rc < 0) {
        mq_free(mq, mq);
        return rc;
    }
    rc = uv_async_init(c->loop, &mq->async, on_async);
    if (rc < 0) {
        uv_mutex_destroy(&mq->lock);
        mq_free(mq, mq);
        return rc;
    }
    mq->async.data = mq;
    mq_bridge_t *none = NULL;
    if (atomic_compare_exchange_strong(&trace_bridge, &none, mq)) {
        MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
        MQTTAsync_setTraceCallback(on_paho_trace);
    }
    *out = mq;
    return 0;
}

/* No callback of a destroyed client runs afterwards (Paho runs them under the lock that
 * MQTTAsync_destroy takes), so its conn can go at once. */
static void destroy_conn(conn_t *cn)
{
    if (cn != NULL) {
        MQTTAsync_destroy(&cn->client);
        mq_free(cn->mq, cn);
    }
}

static void drop_conn(mq_bridge_t *mq)
{
    conn_t *cn = mq->conn;
    mq->conn = NULL;
    mq->connected = false;
    mq->gen++; /* whatever the old client still reports is stale */
    destroy_conn(cn);
}

int qtd_cloud_mq_connect(mq_bridge_t *mq, const char *uri, const char *cid, const char *password,
                         int keepalive, int window, const char *ca_file, const char *ca_path)
{
    /* The previous client goes once the new one exists: destroying Paho's last client stops
     * its threads, which blocks for a tenth of a second or more. */
    conn_t *old = mq->conn;
    mq->conn = NULL;
    mq->connected = false;
    conn_t *cn = mq_calloc(mq, sizeof(*cn));
    if (cn == NULL) {
        destroy_conn(old);
        return QTD_ENOMEM;
    }
    cn->mq = mq;
    cn->gen = ++mq->gen;
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    co.sendWhileDisconnected = 0;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    int rc =
        MQTTAsync_createWithOptions(&cn->client, uri, cid, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        mq_free(mq, cn);
        destroy_conn(old);
        return rc == MQTTASYNC_BAD_PROTOCOL ? QTD_EINVAL : QTD_EIO;
    }
    MQTTAsync_setCallbacks(cn->client, cn, on_lost, on_message, NULL);
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    o.keepAliveInterval = keepalive;
    o.cleansession = 1;
    /* The SDK sends a password without a user name, which MQTT 3.1.1 forbids
     * [MQTT-3.1.2-22] and mosquitto refuses; an empty user name is the neutral way to carry
     * the same password (docs/protocol.md). */
    o.username = "";
    o.password = password;
    o.MQTTVersion = MQTTVERSION_3_1_1;
    o.maxInflight = window;
    o.connectTimeout = 30;
    o.automaticReconnect = 0;
    o.onSuccess = on_connect_ok;
    o.onFailure = on_connect_fail;
    o.context = cn;
    if (strncmp(uri, "ssl://", 6) == 0 || strncmp(uri, "mqtts://", 8) == 0) {
        ssl.enableServerCertAuth = 1;
        ssl.verify = 1; /* host name too */
        ssl.trustStore = (ca_file != NULL && ca_file[0] != '\0') ? ca_file : NULL;
        ssl.CApath = (ca_path != NULL && ca_path[0] != '\0') ? ca_path : NULL;
        ssl.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
        ssl.ssl_error_cb = on_ssl_error;
        ssl.ssl_error_context = cn;
        o.ssl = &ssl;
    }
    mq->conn = cn;
    destroy_conn(old);
    rc = MQTTAsync_connect(cn->client, &o);
    if (rc != MQTTASYNC_SUCCESS) {
        drop_conn(mq);
        return QTD_EIO;
    }
    return 0;
}

int qtd_cloud_mq_subscribe(mq_bridge_t *mq, const char *topic, int qos, int *token)
{
    if (mq->conn == NULL) {
        return QTD_ENOTCONN;
    }
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    r.onSuccess = on_subscribe_ok;
    r.onFailure = on_subscribe_fail;
    r.context = mq->conn;
    if (MQTTAsync_subscribe(mq->conn->client, topic, qos, &r) != MQTTASYNC_SUCCESS) {
        return QTD_EIO;
    }
    if (token != NULL) {
        *token = r.token;
    }
    return 0;
}

int qtd_cloud_mq_publish(mq_bridge_t *mq, const char *topic, int qos, const void *p, size_t n,
                         int *token)
{
    if (topic[0] == '\0' || strpbrk(topic, "+#") != NULL || n > INT32_MAX) {
        return QTD_EINVAL; /* no client may publish there: the broker would drop us */
    }
    if (mq->conn == NULL || !mq->connected) {
        return QTD_ENOTCONN;
    }
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = (void *)p;
    m.payloadlen = (int)n;
    m.qos = qos;
    m.retained = 0;
    MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
    if (qos > 0) {
        r.onSuccess = on_publish_ok;
        r.onFailure = on_publish_fail;
        r.context = mq->conn;
    }
    int rc = MQTTAsync_sendMessage(mq->conn->client, topic, &m, &r);
    if (rc == MQTTASYNC_MAX_MESSAGES_INFLIGHT || rc == MQTTASYNC_MAX_BUFFERED_MESSAGES) {
        return QTD_EAGAIN;
    }
    if (rc == MQTTASYNC_DISCONNECTED) {
        return QTD_ENOTCONN;
    }
    if (rc != MQTTASYNC_SUCCESS) {
        return QTD_EIO;
    }
    if (token != NULL) {
        *token = r.token;
    }
    return 0;
}

void qtd_cloud_mq_abandon(mq_bridge_t *mq)
{
    if (mq->conn == NULL) {
        return;
    }
    mq->gen++; /* late events of this connection are stale from now on */
    if (mq->connected) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 0;
        MQTTAsync_disconnect(mq->conn->client, &d);
    }
    mq->connected = false;
    /* The client itself is destroyed at the next connect or at close. */
}

bool qtd_cloud_mq_disconnect(mq_bridge_t *mq)
{
    if (mq->conn != NULL && mq->connected) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 1000;
        d.onSuccess = on_disconnect_ok;
        d.onFailure = on_disconnect_fail;
        d.context = mq->conn;
        if (MQTTAsync_disconnect(mq->conn->client, &d) == MQTTASYNC_SUCCESS) {
            mq->connected = false;
            return true; /* MQ_DISCONNECTED follows */
        }
    }
    qtd_cloud_mq_abandon(mq);
    return false;
}

bool qtd_cloud_mq_connected(const mq_bridge_t *mq)
{
    return mq->conn != NULL && mq->connected;
}

void qtd_cloud_mq_close(mq_bridge_t *mq)
{
    drop_conn(mq);
    uv_close((uv_handle_t *)&mq->async, NULL); /* freed in destroy(), after the loop ran */
}

void qtd_cloud_mq_free(mq_bridge_t *mq)
{
    if (mq == NULL) {
        return;
    }
    if (atomic_load(&trace_bridge) == mq) {
        MQTTAsync_setTraceCallback(NULL);
        atomic_store(&trace_bridge, NULL);
    }
    while (mq->head != NULL) {
        mq_event_t *ev = mq->head;
        mq->head = ev->next;
        free_event(mq, ev);
    }
    uv_mutex_destroy(&mq->lock);
    mq_free(mq, mq);
}
