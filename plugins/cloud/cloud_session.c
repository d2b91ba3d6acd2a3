/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session with the platform: connection mode, registration or login, subscription,
 * the seed's work states and events 1/2/3/7/8 from what the platform really answers,
 * reconnection with exponential backoff and full jitter (floors by error class so that a
 * refused device does not storm the platform), and the script's requests (connection mode,
 * changed settings) run at the end of a loop turn. Downlink frames are dispatched in
 * cloud_downlink.c; the uplink path is in cloud_outbox.c.
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

#define LOG(c, lvl, ...) (c)->api->log((c)->host, (lvl), __VA_ARGS__)

/* ---- events and states ---- */

void qtd_cloud_publish_event(cloud_t *c, int event, int errcode, const qtd_value_t *value)
{
    qtd_event_t ev = {
        .size = sizeof(ev), .domain = QTD_DOM_CLOUD, .event = event, .errcode = errcode};
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
    } map[] = {{"mqtts://", "ssl"},
               {"ssl://", "ssl"},
               {"mqtt://", "tcp"},
               {"tcp://", "tcp"},
               {"http://", "tcp"}};
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

static void on_retry(uv_timer_t *t)
{
    qtd_cloud_fsm_input(t->data, &(cloud_fsm_input_t){.kind = CLOUD_IN_RETRY_DUE});
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
    if (c->stopping) {
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
    bool was = c->online;
    c->online = false;
    uv_timer_stop(&c->reg_timer);
    uv_timer_stop(&c->stable_timer);
    qtd_cloud_pump_reset(c);
    if (was) {
        qtd_cloud_subdev_gateway_lost(c);
    }
}

static void connect_now(cloud_t *c)
{
    if (c->stopping) {
        return;
    }
    qtd_cloud_load_identity(c);
    identity_t *id = &c->id;
    char uri[CLOUD_SERVER_MAX + 16];
    if (id->pk[0] == '\0' || id->ps[0] == '\0') {
        LOG(c, QTD_LOG_ERROR, "no product key/secret: call quecIot.setProductinfo(pk, ps)");
        qtd_cloud_fsm_input(
            c, &(cloud_fsm_input_t){.kind = CLOUD_IN_CONFIG_INVALID, .code = QTD_CODE_NO_PRODUCT});
        return; /* retried when the settings change */
    }
    if (c->default_dk_weak && strcmp(id->dk, c->default_dk) == 0) {
        c->default_dk_weak = false; /* said once per run */
        LOG(c, QTD_LOG_WARN,
            "connecting with the default device key %s from %s: every unit cloned from this "
            "disk image has the same one and they push each other off the platform; give each "
            "unit its own with quecIot.setDkDs, or a modem on cloud.at_port (its IMEI)",
            c->default_dk, c->default_dk_source);
    }
    if (server_uri(id->server, uri, sizeof(uri)) < 0) {
        LOG(c, QTD_LOG_ERROR, "server \"%s\" is not host:port (quecIot.setServer)", id->server);
        qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_CONFIG_INVALID,
                                                    .code = QTD_CODE_NO_BOOTSTRAP});
        return;
    }
    char rnd[QTD_AUTH_RAND_LEN + 1];
    char password[QTD_AUTH_PASSWORD_MAX];
    int rc = qtd_auth_rand(rnd);
    bool registering = id->ds[0] == '\0';
    if (rc == 0 && registering) {
        rc = qtd_auth_register_password(id->pk, id->ps, id->dk, rnd, id->session_flag, password,
                                        sizeof(password));
    } else if (rc == 0) {
        rc = qtd_auth_login_password(id->ds, id->ps, rnd, id->session_flag, password,
                                     sizeof(password));
    }
    if (rc < 0) {
        LOG(c, QTD_LOG_ERROR,
            "cannot build the %s password: %s (product secret of at least "
            "16 characters?)",
            registering ? "registration" : "login", c->api->strerror(rc));
        qtd_cloud_fsm_input(
            c, &(cloud_fsm_input_t){.kind = CLOUD_IN_PASSWORD_FAILED, .registering = registering});
        return;
    }
    c->session_key_ok = false;
    LOG(c, QTD_LOG_INFO, "%s to %s as %s", registering ? "registering" : "logging in", uri, c->cid);
    qtd_cloud_fsm_input(
        c, &(cloud_fsm_input_t){.kind = CLOUD_IN_CONNECT_STARTED, .registering = registering});
    rc = qtd_cloud_mq_connect(c->mq, uri, c->cid, password, (int)id->lifetime, (int)c->cfg->window,
                              c->cfg->ca_file, c->cfg->ca_path);
    memset(password, 0, sizeof(password));
    if (rc < 0) {
        LOG(c, QTD_LOG_ERROR, "cannot start the MQTT connection: %s", c->api->strerror(rc));
        qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_CONNECT_START_FAILED});
    }
}

static void on_stable(uv_timer_t *t)
{
    qtd_cloud_fsm_input(t->data, &(cloud_fsm_input_t){.kind = CLOUD_IN_STABLE});
}

static void on_register_timeout(uv_timer_t *t)
{
    cloud_t *c = t->data;
    LOG(c, QTD_LOG_WARN, "no device secret from the platform within %lld s of registering",
        (long long)c->cfg->register_timeout_s);
    qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_REGISTER_TIMEOUT});
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
static void go_online(cloud_t *c)
{
    uv_timer_stop(&c->reg_timer);
    c->online = true;
    uv_timer_start(&c->stable_timer, on_stable, (uint64_t)c->cfg->stable_s * 1000, 0);
    LOG(c, QTD_LOG_INFO, "online as %s", c->cid);
    qtd_cloud_pump_reset(c);
    report_status_and_info(c);
    c->pump_wanted = true;
    qtd_cloud_subdev_gateway_online(c);
}

static bool same_identity(const identity_t *a, const identity_t *b)
{
    return strcmp(a->pk, b->pk) == 0 && strcmp(a->ps, b->ps) == 0 && strcmp(a->dk, b->dk) == 0 &&
           strcmp(a->ds, b->ds) == 0 && strcmp(a->server, b->server) == 0 &&
           a->lifetime == b->lifetime && a->session_flag == b->session_flag;
}

/* Carry out one action of the state machine. */
static void run_action(cloud_t *c, const cloud_fsm_act_t *a)
{
    switch (a->kind) {
    case CLOUD_ACT_STATE:
        qtd_cloud_set_workstate(c, (int)a->arg);
        break;
    case CLOUD_ACT_EVENT:
        qtd_cloud_publish_event(c, a->event, (int)a->arg, NULL);
        break;
    case CLOUD_ACT_CONNECT:
        connect_now(c);
        break;
    case CLOUD_ACT_SUBSCRIBE:
        LOG(c, QTD_LOG_DEBUG, "connected, subscribing %s", c->sub_topic);
        if (qtd_cloud_mq_subscribe(c->mq, c->sub_topic, 1, &c->sub_token) < 0) {
            qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_SUBSCRIBE_FAILED});
        } else {
            c->awaiting_suback = true;
            c->suback_from_ms = uv_now(c->loop);
        }
        break;
    case CLOUD_ACT_ABANDON:
        qtd_cloud_mq_abandon(c->mq);
        break;
    case CLOUD_ACT_DISCONNECT: {
        bool sent = qtd_cloud_mq_disconnect(c->mq);
        qtd_cloud_fsm_input(c,
                            &(cloud_fsm_input_t){.kind = CLOUD_IN_DISCONNECT_RESULT, .sent = sent});
        break;
    }
    case CLOUD_ACT_CANCEL_RETRY:
        uv_timer_stop(&c->retry_timer);
        break;
    case CLOUD_ACT_SCHEDULE_RETRY:
        schedule_retry(c, a->arg);
        break;
    case CLOUD_ACT_RESET_BACKOFF:
        c->attempts = 0;
        break;
    case CLOUD_ACT_WIPE_DS:
        c->api->kv_del(c->host, CLOUD_KV_DS);
        break;
    case CLOUD_ACT_LOAD_IDENTITY:
        qtd_cloud_load_identity(c);
        break;
    case CLOUD_ACT_START_REGISTER_TIMER:
        uv_timer_start(&c->reg_timer, on_register_timeout,
                       (uint64_t)c->cfg->register_timeout_s * 1000, 0);
        break;
    case CLOUD_ACT_GO_ONLINE:
        go_online(c);
        break;
    case CLOUD_ACT_GO_OFFLINE:
        go_offline(c);
        break;
    }
}

void qtd_cloud_fsm_input(cloud_t *c, const cloud_fsm_input_t *in)
{
    cloud_fsm_t st = {.workstate = c->workstate,
                      .connmode = c->connmode,
                      .registering = c->registering,
                      .online = c->online};
    cloud_fsm_t next;
    cloud_fsm_out_t out;
    cloud_fsm_step(&st, in, &next, &out);
    /* The work state and online follow their actions, in order; an action may feed the
     * machine again (a connection attempt), so nothing is copied back afterwards. */
    c->connmode = next.connmode;
    c->registering = next.registering;
    for (size_t i = 0; i < out.n; i++) {
        run_action(c, &out.act[i]);
    }
}

void qtd_cloud_set_connmode(cloud_t *c, int mode)
{
    qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_CONNMODE, .mode = mode});
}

int qtd_cloud_request(cloud_t *c, cloud_req_t req)
{
    if (req == CLOUD_REQ_SETTINGS && c->n_reqs > 0 && c->reqs[c->n_reqs - 1] == req) {
        return 0; /* one settings pass covers both */
    }
    if (c->n_reqs == CLOUD_REQ_MAX) {
        return QTD_ENOSPC;
    }
    c->reqs[c->n_reqs++] = req;
    return 0;
}

void qtd_cloud_run_requests(cloud_t *c)
{
    /* A request may queue no other, but copy first all the same. */
    cloud_req_t reqs[CLOUD_REQ_MAX];
    size_t n = c->n_reqs;
    memcpy(reqs, c->reqs, n * sizeof(reqs[0]));
    c->n_reqs = 0;
    for (size_t i = 0; i < n && !c->stopping; i++) {
        switch (reqs[i]) {
        case CLOUD_REQ_SETTINGS:
            qtd_cloud_on_settings(c);
            break;
        case CLOUD_REQ_CONNECT:
            qtd_cloud_set_connmode(c, 1);
            break;
        case CLOUD_REQ_DISCONNECT:
            qtd_cloud_set_connmode(c, 0);
            break;
        }
    }
}

void qtd_cloud_check_acks(cloud_t *c)
{
    uint64_t now = uv_now(c->loop);
    uint64_t limit = (uint64_t)c->cfg->ack_timeout_s * 1000;
    if (c->awaiting_suback && now - c->suback_from_ms > limit) {
        c->awaiting_suback = false;
        LOG(c, QTD_LOG_WARN, "no SUBACK within %lld s: the subscription is stuck; reconnecting",
            (long long)c->cfg->ack_timeout_s);
        qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_SUBSCRIBE_FAILED});
        return;
    }
    if (c->online && c->n_inflight > 0 && now - c->inflight[0].sent_ms > limit) {
        LOG(c, QTD_LOG_WARN,
            "no acknowledgement of outbox row %lld within %lld s (%zu in flight): the session "
            "is stuck; reconnecting, the rows go again",
            (long long)c->inflight[0].row, (long long)c->cfg->ack_timeout_s, c->n_inflight);
        qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_LOST});
    }
}

void qtd_cloud_on_settings(cloud_t *c)
{
    cloud_fsm_input_t in = {.kind = CLOUD_IN_SETTINGS,
                            .retry_armed = uv_is_active((uv_handle_t *)&c->retry_timer)};
    cloud_fsm_t st = {.workstate = c->workstate, .online = c->online};
    if (cloud_fsm_live(&st)) {
        /* Compared only while live: otherwise the identity is simply reloaded. */
        identity_t now;
        memset(&now, 0, sizeof(now));
        qtd_cloud_read_identity(c, &now);
        in.identity_changed = !same_identity(&now, &c->id);
        if (in.identity_changed) {
            LOG(c, QTD_LOG_INFO, "identity, server or session settings changed: reconnecting");
        }
    }
    qtd_cloud_fsm_input(c, &in);
}

void qtd_cloud_on_mq(cloud_t *c, const mq_event_t *ev)
{
    switch (ev->kind) {
    case MQ_CONNECTED:
        qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_MQ_CONNECTED});
        break;
    case MQ_SUBSCRIBED:
        if (ev->token != c->sub_token) {
            /* a sub-device's downlink topic (or a late one): never the gateway's */
            (void)qtd_cloud_subdev_subscribed(c, ev->token, ev->code != 0x80);
            break;
        }
        c->awaiting_suback = false;
        qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = ev->code == 0x80
                                                                ? CLOUD_IN_SUBSCRIBE_FAILED
                                                                : CLOUD_IN_SUBSCRIBED});
        break;
    case MQ_CONNECT_FAILED:
        if (ev->code == 3) {
            LOG(c, QTD_LOG_WARN, "broker unavailable (CONNACK 3)");
        } else if (ev->code >= 1 && ev->code <= 5) {
            LOG(c, QTD_LOG_WARN, "connection refused by the broker (CONNACK %d)", ev->code);
        } else {
            LOG(c, QTD_LOG_WARN, "cannot connect to %s: %s (Paho %d)", c->id.server,
                ev->topic != NULL ? ev->topic : "refused, unreachable or TLS failure", ev->code);
        }
        qtd_cloud_fsm_input(
            c, &(cloud_fsm_input_t){.kind = CLOUD_IN_CONNACK_FAILED, .code = ev->code});
        break;
    case MQ_LOST:
        c->awaiting_suback = false;
        LOG(c, QTD_LOG_WARN, "connection lost%s%s", ev->topic ? ": " : "",
            ev->topic ? ev->topic : "");
        qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_LOST});
        break;
    case MQ_MESSAGE:
        qtd_cloud_on_message(c, ev);
        break;
    case MQ_PUBLISHED:
        qtd_cloud_pump_acked(c, ev->token, true);
        break;
    case MQ_PUBLISH_FAILED:
        /* Going on would send later rows first; start over from the oldest instead. */
        qtd_cloud_pump_acked(c, ev->token, false);
        LOG(c, QTD_LOG_WARN, "a publish failed (Paho %d): reconnecting", ev->code);
        qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_PUBLISH_FAILED});
        break;
    case MQ_DISCONNECTED:
        qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_DISCONNECTED});
        break;
    }
}
