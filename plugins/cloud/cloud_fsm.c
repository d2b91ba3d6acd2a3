/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cloud session's decisions (cloud_fsm.h): which work state, which events in which order,
 * which retry floor, when to wipe the device secret, for each thing that happens to the
 * session. Pure: no I/O, no allocation, no libuv, Paho or host API; the codes come from
 * thing.h. Carrying the actions out (timers, MQTT, store, bus) is cloud_session.c's job.
 */
#include "cloud_fsm.h"

#include <string.h>

#include "qthingd/thing.h"

/* The step under way: the next state and the actions so far. */
typedef struct {
    cloud_fsm_t *st;
    cloud_fsm_out_t *out;
} step_t;

static void act(step_t *s, cloud_fsm_act_kind_t kind, int event, int64_t arg)
{
    if (s->out->n < CLOUD_FSM_ACT_MAX) {
        s->out->act[s->out->n++] = (cloud_fsm_act_t){.kind = kind, .event = event, .arg = arg};
    }
}

static void set_state(step_t *s, int ws)
{
    s->st->workstate = ws;
    act(s, CLOUD_ACT_STATE, 0, ws);
}

static void event(step_t *s, int evt, int64_t errcode)
{
    act(s, CLOUD_ACT_EVENT, evt, errcode);
}

static void go_offline(step_t *s)
{
    s->st->online = false;
    act(s, CLOUD_ACT_GO_OFFLINE, 0, 0);
}

/* Drop the connection after an error and try again after floor_ms plus the backoff. */
static void fail_and_retry(step_t *s, int evt, int64_t errcode, int ws, int64_t floor_ms)
{
    go_offline(s);
    act(s, CLOUD_ACT_ABANDON, 0, 0);
    set_state(s, ws);
    event(s, evt, errcode);
    if (s->st->connmode == 1) {
        act(s, CLOUD_ACT_SCHEDULE_RETRY, 0, floor_ms);
    }
}

/* The same failure, classed by the kind of connection: registration or login. */
static void fail_attempt(step_t *s, int64_t errcode, int64_t floor_ms)
{
    bool reg = s->st->registering;
    fail_and_retry(s, reg ? QTD_EVT_AUTH : QTD_EVT_CONNECT, errcode,
                   reg ? QTD_WS_AUTH_FAILED : QTD_WS_REGISTER_FAILED, floor_ms);
}

static void went_online(step_t *s)
{
    set_state(s, QTD_WS_REGISTERED);
    event(s, QTD_EVT_CONNECT, QTD_CODE_OK);
    set_state(s, QTD_WS_SUBSCRIBED);
    event(s, QTD_EVT_SUBSCRIBE, QTD_CODE_OK);
    s->st->online = true;
    act(s, CLOUD_ACT_GO_ONLINE, 0, 0);
}

static bool is_attempt(int ws)
{
    return ws == QTD_WS_AUTHENTICATING || ws == QTD_WS_AUTHENTICATED || ws == QTD_WS_REGISTERING ||
           ws == QTD_WS_REGISTERED;
}

bool cloud_fsm_live(const cloud_fsm_t *st)
{
    return st->online || is_attempt(st->workstate);
}

static void on_connmode(step_t *s, int mode)
{
    if (mode == s->st->connmode) {
        return;
    }
    s->st->connmode = mode;
    if (mode == 1) {
        act(s, CLOUD_ACT_RESET_BACKOFF, 0, 0);
        act(s, CLOUD_ACT_CONNECT, 0, 0);
        return;
    }
    act(s, CLOUD_ACT_CANCEL_RETRY, 0, 0);
    go_offline(s);
    act(s, CLOUD_ACT_DISCONNECT, 0, 0);
}

static void on_disconnect_result(step_t *s, bool sent)
{
    if (sent) {
        set_state(s, QTD_WS_LOGGING_OUT); /* CLOUD_IN_DISCONNECTED -> 11, 7/10200 */
    } else if (is_attempt(s->st->workstate)) {
        /* A connection under way was dropped: logged out, like the SDK. */
        set_state(s, QTD_WS_LOGGING_OUT);
        set_state(s, QTD_WS_LOGGED_OUT);
        event(s, QTD_EVT_LOGOUT, QTD_CODE_OK);
    } else {
        set_state(s, QTD_WS_INITIALIZED); /* waiting to retry: nothing to close */
    }
}

static void on_connack_failed(step_t *s, int64_t code)
{
    if (code == 3) {
        /* Server unavailable says nothing about our secret: keep it, retry later. */
        fail_attempt(s, QTD_CODE_NETWORK, 0);
    } else if (code >= 1 && code <= 5) {
        if (!s->st->registering) {
            /* The DS is not accepted: wipe it and register again. */
            act(s, CLOUD_ACT_WIPE_DS, 0, 0);
            fail_and_retry(s, QTD_EVT_CONNECT, QTD_CODE_BAD_SECRET, QTD_WS_REGISTER_FAILED, 0);
        } else {
            fail_and_retry(s, QTD_EVT_AUTH, QTD_CODE_FAIL, QTD_WS_AUTH_FAILED,
                           CLOUD_AUTH_RETRY_FLOOR_MS);
        }
    } else {
        fail_attempt(s, QTD_CODE_NETWORK, 0); /* refused, unreachable or TLS failure */
    }
}

bool cloud_fsm_refusal_known(int64_t code)
{
    switch (code) {
    case QTD_CODE_FAIL:
    case QTD_CODE_NOT_FOUND:
    case QTD_CODE_INTERNAL:
    case QTD_CODE_NO_BOOTSTRAP:
    case QTD_CODE_UNSUPPORTED_VERSION:
    case QTD_CODE_UNKNOWN:
        return true;
    default:
        /* 10420-10434 (auth and login refusals, throttling), 10473-10477 (connection) */
        return (code >= QTD_CODE_BAD_REQUEST && code <= QTD_CODE_BAD_FLAG + 1) ||
               (code >= QTD_CODE_KEEPALIVE && code <= QTD_CODE_AP_FAILED + 1);
    }
}

static void on_exception(step_t *s, int64_t code)
{
    if (!cloud_fsm_refusal_known(code)) {
        return; /* a code this device does not know never costs it its session */
    }
    if (code == QTD_CODE_RATE_LIMIT || code == QTD_CODE_QUOTA_LIMIT) {
        event(s, QTD_EVT_THROTTLE, code);
        return;
    }
    int64_t floor = CLOUD_AUTH_RETRY_FLOOR_MS;
    if (code == QTD_CODE_ALREADY_AUTHED || code == QTD_CODE_BAD_AUTH_VERSION ||
        code == QTD_CODE_DISABLED || code == QTD_CODE_PK_VERSION) {
        floor = CLOUD_FATAL_RETRY_FLOOR_MS;
    }
    if (s->st->registering && !s->st->online) {
        fail_and_retry(s, QTD_EVT_AUTH, code, QTD_WS_AUTH_FAILED, floor);
        return;
    }
    if (code == QTD_CODE_BAD_SECRET) {
        /* The platform says our DS is wrong: register again (soon). */
        act(s, CLOUD_ACT_WIPE_DS, 0, 0);
        floor = 0;
    }
    fail_and_retry(s, QTD_EVT_CONNECT, code, QTD_WS_REGISTER_FAILED, floor);
}

static void on_settings(step_t *s, const cloud_fsm_input_t *in)
{
    if (!cloud_fsm_live(s->st)) {
        /* Used at the next connection; retry now one that was refused for lack of it. */
        act(s, CLOUD_ACT_LOAD_IDENTITY, 0, 0);
        if (s->st->connmode == 1 && s->st->workstate == QTD_WS_AUTH_FAILED && !in->retry_armed) {
            act(s, CLOUD_ACT_RESET_BACKOFF, 0, 0);
            act(s, CLOUD_ACT_CONNECT, 0, 0);
        }
        return;
    }
    if (!in->identity_changed) {
        return;
    }
    /* Topics, passwords and the session key belong to the identity the connection was made
     * with: a new one needs a new connection. */
    act(s, CLOUD_ACT_RESET_BACKOFF, 0, 0);
    fail_and_retry(s, QTD_EVT_CONNECT, QTD_CODE_SERVER_CHANGED, QTD_WS_REGISTER_FAILED, 0);
}

void cloud_fsm_step(const cloud_fsm_t *st, const cloud_fsm_input_t *in, cloud_fsm_t *next,
                    cloud_fsm_out_t *out)
{
    cloud_fsm_t now = *st;
    step_t s = {.st = next, .out = out};
    *next = now;
    memset(out, 0, sizeof(*out));
    switch (in->kind) {
    case CLOUD_IN_CONNMODE:
        on_connmode(&s, in->mode);
        break;
    case CLOUD_IN_RETRY_DUE:
        if (now.connmode == 1) {
            act(&s, CLOUD_ACT_CONNECT, 0, 0);
        }
        break;
    case CLOUD_IN_STABLE:
        act(&s, CLOUD_ACT_RESET_BACKOFF, 0, 0);
        break;
    case CLOUD_IN_CONFIG_INVALID:
        set_state(&s, QTD_WS_AUTH_FAILED);
        event(&s, QTD_EVT_AUTH, in->code);
        break;
    case CLOUD_IN_PASSWORD_FAILED:
        next->registering = in->registering;
        set_state(&s, QTD_WS_AUTH_FAILED);
        event(&s, QTD_EVT_AUTH, QTD_CODE_INTERNAL);
        break;
    case CLOUD_IN_CONNECT_STARTED:
        next->registering = in->registering;
        set_state(&s, in->registering ? QTD_WS_AUTHENTICATING : QTD_WS_REGISTERING);
        break;
    case CLOUD_IN_CONNECT_START_FAILED:
        fail_attempt(&s, QTD_CODE_INTERNAL, 0);
        break;
    case CLOUD_IN_MQ_CONNECTED:
        act(&s, CLOUD_ACT_SUBSCRIBE, 0, 0);
        break;
    case CLOUD_IN_CONNACK_FAILED:
        on_connack_failed(&s, in->code);
        break;
    case CLOUD_IN_SUBSCRIBED:
        if (now.registering) {
            act(&s, CLOUD_ACT_START_REGISTER_TIMER, 0, 0);
        } else {
            went_online(&s);
        }
        break;
    case CLOUD_IN_SUBSCRIBE_FAILED:
        fail_and_retry(&s, QTD_EVT_SUBSCRIBE, QTD_CODE_FAIL, QTD_WS_SUBSCRIBE_FAILED, 0);
        break;
    case CLOUD_IN_LOST:
    case CLOUD_IN_PUBLISH_FAILED:
        fail_and_retry(&s, QTD_EVT_CONNECT, QTD_CODE_NETWORK, QTD_WS_REGISTER_FAILED, 0);
        break;
    case CLOUD_IN_DISCONNECT_RESULT:
        on_disconnect_result(&s, in->sent);
        break;
    case CLOUD_IN_DISCONNECTED:
        if (now.connmode == 0) {
            set_state(&s, QTD_WS_LOGGED_OUT);
            event(&s, QTD_EVT_LOGOUT, QTD_CODE_OK);
        }
        break;
    case CLOUD_IN_REGISTER_TIMEOUT:
        fail_and_retry(&s, QTD_EVT_AUTH, QTD_CODE_UNKNOWN, QTD_WS_AUTH_FAILED, 0);
        break;
    case CLOUD_IN_DS_RECEIVED:
        if (now.registering && !now.online) {
            set_state(&s, QTD_WS_AUTHENTICATED);
            event(&s, QTD_EVT_AUTH, QTD_CODE_OK);
            went_online(&s);
        }
        break;
    case CLOUD_IN_EXCEPTION:
        on_exception(&s, in->code);
        break;
    case CLOUD_IN_SERVER_MOVED:
        fail_and_retry(&s, QTD_EVT_CONNECT, QTD_CODE_SERVER_CHANGED, QTD_WS_REGISTER_FAILED, 0);
        act(&s, CLOUD_ACT_RESET_BACKOFF, 0, 0);
        break;
    case CLOUD_IN_REAUTH:
        act(&s, CLOUD_ACT_WIPE_DS, 0, 0);
        fail_and_retry(&s, QTD_EVT_CONNECT, QTD_CODE_SERVER_CHANGED, QTD_WS_REGISTER_FAILED, 0);
        break;
    case CLOUD_IN_SETTINGS:
        on_settings(&s, in);
        break;
    }
}
