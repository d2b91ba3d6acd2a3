/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cloud session's state machine (plugins/cloud/cloud_fsm.c) as one table: each row is a
 * state and an input with the state and the ordered actions (work states, events, retries
 * with their floors, DS wipes) expected, written out by hand from the seed's rules and the
 * SDK's retry levels, never produced by the code under test. It checks decisions only; the
 * timers, MQTT and bus that carry them out are covered by tests/integration/test_cloud*.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cloud_fsm.h"
#include "qthingd/thing.h"

/* ---- states (work state, connmode, registering, online) -------------------------------- */

#define ST(ws, mode, reg, on)                                                                      \
    {                                                                                              \
        .workstate = QTD_WS_##ws, .connmode = mode, .registering = reg, .online = on               \
    }
#define OFF ST(INITIALIZED, 0, false, false)
#define LOGIN ST(REGISTERING, 1, false, false) /* login attempt under way */
#define REGISTER                                                                                   \
    ST(AUTHENTICATING, 1, true, false) /* registration under way (also: awaiting DS)               \
                                        */
#define ONLINE ST(SUBSCRIBED, 1, false, true)
#define ONLINE_REG ST(SUBSCRIBED, 1, true, true) /* online on the connection that registered */
#define WAIT_LOGIN ST(REGISTER_FAILED, 1, false, false)
#define WAIT_REG ST(AUTH_FAILED, 1, true, false)
#define SUB_FAILED ST(SUBSCRIBE_FAILED, 1, false, false)
#define LOGGING_OUT ST(LOGGING_OUT, 0, false, false)
#define LOGGED_OUT ST(LOGGED_OUT, 0, false, false)
#define OFF_LOGIN ST(REGISTERING, 0, false, false) /* connmode 0, the attempt still in state */
#define OFF_REG ST(AUTHENTICATING, 0, true, false)
#define OFF_ONLINE ST(SUBSCRIBED, 0, false, false)
#define OFF_WAIT ST(REGISTER_FAILED, 0, false, false)

/* ---- inputs ------------------------------------------------------------------------------ */

#define IN(k, ...)                                                                                 \
    {                                                                                              \
        .kind = CLOUD_IN_##k, __VA_ARGS__                                                          \
    }

/* ---- actions ----------------------------------------------------------------------------- */

#define S(ws)                                                                                      \
    {                                                                                              \
        .kind = CLOUD_ACT_STATE, .arg = QTD_WS_##ws                                                \
    }
#define E(evt, code)                                                                               \
    {                                                                                              \
        .kind = CLOUD_ACT_EVENT, .event = QTD_EVT_##evt, .arg = QTD_CODE_##code                    \
    }
#define A(k)                                                                                       \
    {                                                                                              \
        .kind = CLOUD_ACT_##k                                                                      \
    }
#define RETRY(ms)                                                                                  \
    {                                                                                              \
        .kind = CLOUD_ACT_SCHEDULE_RETRY, .arg = (ms)                                              \
    }
/* Drop the connection, set the state, raise the event, retry after the floor. */
#define FAIL(ws, evt, code, ms) A(GO_OFFLINE), A(ABANDON), S(ws), E(evt, code), RETRY(ms)
/* The same without a retry (connmode 0). */
#define DROP(ws, evt, code) A(GO_OFFLINE), A(ABANDON), S(ws), E(evt, code)
#define ONLINE_ACTS S(REGISTERED), E(CONNECT, OK), S(SUBSCRIBED), E(SUBSCRIBE, OK), A(GO_ONLINE)

#define AUTH_FLOOR 30000
#define FATAL_FLOOR 600000

typedef struct {
    const char *name;
    cloud_fsm_t st;
    cloud_fsm_input_t in;
    cloud_fsm_t want;
    cloud_fsm_act_t acts[CLOUD_FSM_ACT_MAX + 1]; /* ends with kind 0 */
} row_t;

#define ROW(name, st, in, want, ...)                                                               \
    {                                                                                              \
        name, st, in, want,                                                                        \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

static const row_t rows[] = {
    /* Connection mode. */
    ROW("connmode 1 from off", OFF, IN(CONNMODE, .mode = 1), ST(INITIALIZED, 1, false, false),
        A(RESET_BACKOFF), A(CONNECT)),
    ROW("connmode 1 again", ONLINE, IN(CONNMODE, .mode = 1), ONLINE, {0}),
    ROW("connmode 0 again", OFF, IN(CONNMODE, .mode = 0), OFF, {0}),
    ROW("connmode 0 while online", ONLINE, IN(CONNMODE, .mode = 0), OFF_ONLINE, A(CANCEL_RETRY),
        A(GO_OFFLINE), A(DISCONNECT)),
    ROW("connmode 0 while logging in", LOGIN, IN(CONNMODE, .mode = 0), OFF_LOGIN, A(CANCEL_RETRY),
        A(GO_OFFLINE), A(DISCONNECT)),
    ROW("connmode 0 while waiting to retry", WAIT_LOGIN, IN(CONNMODE, .mode = 0), OFF_WAIT,
        A(CANCEL_RETRY), A(GO_OFFLINE), A(DISCONNECT)),
    ROW("disconnect sent while connected", OFF_ONLINE, IN(DISCONNECT_RESULT, .sent = true),
        LOGGING_OUT, S(LOGGING_OUT)),
    ROW("disconnect done", LOGGING_OUT, IN(DISCONNECTED), LOGGED_OUT, S(LOGGED_OUT), E(LOGOUT, OK)),
    ROW("disconnect done after connmode 1 again", ST(LOGGING_OUT, 1, false, false),
        IN(DISCONNECTED), ST(LOGGING_OUT, 1, false, false), {0}),
    ROW("disconnect with a login under way", OFF_LOGIN, IN(DISCONNECT_RESULT, .sent = false),
        LOGGED_OUT, S(LOGGING_OUT), S(LOGGED_OUT), E(LOGOUT, OK)),
    ROW("disconnect with a registration under way", OFF_REG, IN(DISCONNECT_RESULT, .sent = false),
        ST(LOGGED_OUT, 0, true, false), S(LOGGING_OUT), S(LOGGED_OUT), E(LOGOUT, OK)),
    ROW("disconnect while waiting to retry", OFF_WAIT, IN(DISCONNECT_RESULT, .sent = false), OFF,
        S(INITIALIZED)),

    /* Attempts: retry timer, invalid settings, starting the connection. */
    ROW("retry due", WAIT_LOGIN, IN(RETRY_DUE), WAIT_LOGIN, A(CONNECT)),
    ROW("retry due after connmode 0", OFF_WAIT, IN(RETRY_DUE), OFF_WAIT, {0}),
    ROW("stable session", ONLINE, IN(STABLE), ONLINE, A(RESET_BACKOFF)),
    ROW("no product key", ST(INITIALIZED, 1, false, false),
        IN(CONFIG_INVALID, .code = QTD_CODE_NO_PRODUCT), ST(AUTH_FAILED, 1, false, false),
        S(AUTH_FAILED), E(AUTH, NO_PRODUCT)),
    ROW("server not host:port", ST(INITIALIZED, 1, false, false),
        IN(CONFIG_INVALID, .code = QTD_CODE_NO_BOOTSTRAP), ST(AUTH_FAILED, 1, false, false),
        S(AUTH_FAILED), E(AUTH, NO_BOOTSTRAP)),
    ROW("password not built", ST(INITIALIZED, 1, false, false),
        IN(PASSWORD_FAILED, .registering = true), WAIT_REG, S(AUTH_FAILED), E(AUTH, INTERNAL)),
    ROW("registration started", ST(INITIALIZED, 1, false, false),
        IN(CONNECT_STARTED, .registering = true), REGISTER, S(AUTHENTICATING)),
    ROW("login started", WAIT_REG, IN(CONNECT_STARTED, .registering = false), LOGIN,
        S(REGISTERING)),
    ROW("login not started", LOGIN, IN(CONNECT_START_FAILED), WAIT_LOGIN,
        FAIL(REGISTER_FAILED, CONNECT, INTERNAL, 0)),
    ROW("registration not started", REGISTER, IN(CONNECT_START_FAILED), WAIT_REG,
        FAIL(AUTH_FAILED, AUTH, INTERNAL, 0)),

    /* CONNACK and subscription, login path. */
    ROW("login connected", LOGIN, IN(MQ_CONNECTED), LOGIN, A(SUBSCRIBE)),
    ROW("login subscribed", LOGIN, IN(SUBSCRIBED), ONLINE, ONLINE_ACTS),
    ROW("login subscription refused", LOGIN, IN(SUBSCRIBE_FAILED), SUB_FAILED,
        FAIL(SUBSCRIBE_FAILED, SUBSCRIBE, FAIL, 0)),
    ROW("login CONNACK 3", LOGIN, IN(CONNACK_FAILED, .code = 3), WAIT_LOGIN,
        FAIL(REGISTER_FAILED, CONNECT, NETWORK, 0)),
    ROW("login CONNACK 4 wipes the DS", LOGIN, IN(CONNACK_FAILED, .code = 4), WAIT_LOGIN,
        A(WIPE_DS), FAIL(REGISTER_FAILED, CONNECT, BAD_SECRET, 0)),
    ROW("login CONNACK 1", LOGIN, IN(CONNACK_FAILED, .code = 1), WAIT_LOGIN, A(WIPE_DS),
        FAIL(REGISTER_FAILED, CONNECT, BAD_SECRET, 0)),
    ROW("login CONNACK 5", LOGIN, IN(CONNACK_FAILED, .code = 5), WAIT_LOGIN, A(WIPE_DS),
        FAIL(REGISTER_FAILED, CONNECT, BAD_SECRET, 0)),
    ROW("login Paho error", LOGIN, IN(CONNACK_FAILED, .code = -1), WAIT_LOGIN,
        FAIL(REGISTER_FAILED, CONNECT, NETWORK, 0)),
    ROW("login CONNACK out of range", LOGIN, IN(CONNACK_FAILED, .code = 6), WAIT_LOGIN,
        FAIL(REGISTER_FAILED, CONNECT, NETWORK, 0)),

    /* CONNACK, subscription and DS, registration path. */
    ROW("registration connected", REGISTER, IN(MQ_CONNECTED), REGISTER, A(SUBSCRIBE)),
    ROW("registration subscribed", REGISTER, IN(SUBSCRIBED), REGISTER, A(START_REGISTER_TIMER)),
    ROW("registration subscription refused", REGISTER, IN(SUBSCRIBE_FAILED),
        ST(SUBSCRIBE_FAILED, 1, true, false), FAIL(SUBSCRIBE_FAILED, SUBSCRIBE, FAIL, 0)),
    ROW("registration CONNACK 3", REGISTER, IN(CONNACK_FAILED, .code = 3), WAIT_REG,
        FAIL(AUTH_FAILED, AUTH, NETWORK, 0)),
    ROW("registration CONNACK 2", REGISTER, IN(CONNACK_FAILED, .code = 2), WAIT_REG,
        FAIL(AUTH_FAILED, AUTH, FAIL, AUTH_FLOOR)),
    ROW("registration CONNACK 5", REGISTER, IN(CONNACK_FAILED, .code = 5), WAIT_REG,
        FAIL(AUTH_FAILED, AUTH, FAIL, AUTH_FLOOR)),
    ROW("registration Paho error", REGISTER, IN(CONNACK_FAILED, .code = -3), WAIT_REG,
        FAIL(AUTH_FAILED, AUTH, NETWORK, 0)),
    ROW("DS while registering", REGISTER, IN(DS_RECEIVED), ONLINE_REG, S(AUTHENTICATED),
        E(AUTH, OK), ONLINE_ACTS),
    ROW("DS while online (login)", ONLINE, IN(DS_RECEIVED), ONLINE, {0}),
    ROW("DS again after registering", ONLINE_REG, IN(DS_RECEIVED), ONLINE_REG, {0}),
    ROW("register timeout", REGISTER, IN(REGISTER_TIMEOUT), WAIT_REG,
        FAIL(AUTH_FAILED, AUTH, UNKNOWN, 0)),

    /* Lost connection and failed publishes. */
    ROW("lost while online", ONLINE, IN(LOST), WAIT_LOGIN,
        FAIL(REGISTER_FAILED, CONNECT, NETWORK, 0)),
    ROW("lost while registering", REGISTER, IN(LOST), ST(REGISTER_FAILED, 1, true, false),
        FAIL(REGISTER_FAILED, CONNECT, NETWORK, 0)),
    ROW("lost after connmode 0", OFF_ONLINE, IN(LOST), OFF_WAIT,
        DROP(REGISTER_FAILED, CONNECT, NETWORK)),
    ROW("publish failed", ONLINE, IN(PUBLISH_FAILED), WAIT_LOGIN,
        FAIL(REGISTER_FAILED, CONNECT, NETWORK, 0)),

    /* Platform exceptions. */
    /* A code the device does not know (2^40, 10999, a success code) costs nothing. */
    ROW("exception 2^40 online", ONLINE, IN(EXCEPTION, .code = (int64_t)1 << 40), ONLINE, {0}),
    ROW("exception 10999 online", ONLINE, IN(EXCEPTION, .code = 10999), ONLINE, {0}),
    ROW("exception 10200 online", ONLINE, IN(EXCEPTION, .code = QTD_CODE_OK), ONLINE, {0}),
    ROW("exception 10999 registering", REGISTER, IN(EXCEPTION, .code = 10999), REGISTER, {0}),
    ROW("throttle 10428 online", ONLINE, IN(EXCEPTION, .code = QTD_CODE_RATE_LIMIT), ONLINE,
        E(THROTTLE, RATE_LIMIT)),
    ROW("throttle 10429 online", ONLINE, IN(EXCEPTION, .code = QTD_CODE_QUOTA_LIMIT), ONLINE,
        E(THROTTLE, QUOTA_LIMIT)),
    ROW("throttle 10428 registering", REGISTER, IN(EXCEPTION, .code = QTD_CODE_RATE_LIMIT),
        REGISTER, E(THROTTLE, RATE_LIMIT)),
    ROW("10422 online", ONLINE, IN(EXCEPTION, .code = QTD_CODE_ALREADY_AUTHED), WAIT_LOGIN,
        FAIL(REGISTER_FAILED, CONNECT, ALREADY_AUTHED, FATAL_FLOOR)),
    ROW("10426 online", ONLINE, IN(EXCEPTION, .code = QTD_CODE_BAD_AUTH_VERSION), WAIT_LOGIN,
        FAIL(REGISTER_FAILED, CONNECT, BAD_AUTH_VERSION, FATAL_FLOOR)),
    ROW("10431 online", ONLINE, IN(EXCEPTION, .code = QTD_CODE_DISABLED), WAIT_LOGIN,
        FAIL(REGISTER_FAILED, CONNECT, DISABLED, FATAL_FLOOR)),
    ROW("10432 online", ONLINE, IN(EXCEPTION, .code = QTD_CODE_PK_VERSION), WAIT_LOGIN,
        FAIL(REGISTER_FAILED, CONNECT, PK_VERSION, FATAL_FLOOR)),
    ROW("10422 registering", REGISTER, IN(EXCEPTION, .code = QTD_CODE_ALREADY_AUTHED), WAIT_REG,
        FAIL(AUTH_FAILED, AUTH, ALREADY_AUTHED, FATAL_FLOOR)),
    ROW("10431 registering", REGISTER, IN(EXCEPTION, .code = QTD_CODE_DISABLED), WAIT_REG,
        FAIL(AUTH_FAILED, AUTH, DISABLED, FATAL_FLOOR)),
    ROW("10430 online wipes the DS", ONLINE, IN(EXCEPTION, .code = QTD_CODE_BAD_SECRET), WAIT_LOGIN,
        A(WIPE_DS), FAIL(REGISTER_FAILED, CONNECT, BAD_SECRET, 0)),
    ROW("10430 registering", REGISTER, IN(EXCEPTION, .code = QTD_CODE_BAD_SECRET), WAIT_REG,
        FAIL(AUTH_FAILED, AUTH, BAD_SECRET, AUTH_FLOOR)),
    ROW("10430 online after registering", ONLINE_REG, IN(EXCEPTION, .code = QTD_CODE_BAD_SECRET),
        ST(REGISTER_FAILED, 1, true, false), A(WIPE_DS),
        FAIL(REGISTER_FAILED, CONNECT, BAD_SECRET, 0)),
    ROW("other exception online", ONLINE, IN(EXCEPTION, .code = QTD_CODE_FAIL), WAIT_LOGIN,
        FAIL(REGISTER_FAILED, CONNECT, FAIL, AUTH_FLOOR)),
    /* An unknown code while registering: ignored too (the register timeout still runs). */
    ROW("unknown exception registering", REGISTER, IN(EXCEPTION, .code = 12345), REGISTER, {0}),

    /* Device configuration: server move, re-authentication. */
    ROW("server moved", ONLINE, IN(SERVER_MOVED), WAIT_LOGIN,
        FAIL(REGISTER_FAILED, CONNECT, SERVER_CHANGED, 0), A(RESET_BACKOFF)),
    ROW("server moved while registering", REGISTER, IN(SERVER_MOVED),
        ST(REGISTER_FAILED, 1, true, false), FAIL(REGISTER_FAILED, CONNECT, SERVER_CHANGED, 0),
        A(RESET_BACKOFF)),
    ROW("re-authenticate", ONLINE, IN(REAUTH), WAIT_LOGIN, A(WIPE_DS),
        FAIL(REGISTER_FAILED, CONNECT, SERVER_CHANGED, 0)),

    /* Changed settings. */
    ROW("identity changed while online", ONLINE, IN(SETTINGS, .identity_changed = true), WAIT_LOGIN,
        A(RESET_BACKOFF), FAIL(REGISTER_FAILED, CONNECT, SERVER_CHANGED, 0)),
    ROW("identity changed while logging in", LOGIN, IN(SETTINGS, .identity_changed = true),
        WAIT_LOGIN, A(RESET_BACKOFF), FAIL(REGISTER_FAILED, CONNECT, SERVER_CHANGED, 0)),
    ROW("identity unchanged while online", ONLINE, IN(SETTINGS), ONLINE, {0}),
    ROW("settings after a refusal", ST(AUTH_FAILED, 1, false, false),
        IN(SETTINGS, .identity_changed = true), ST(AUTH_FAILED, 1, false, false), A(LOAD_IDENTITY),
        A(RESET_BACKOFF), A(CONNECT)),
    ROW("settings after a refusal, retry armed", WAIT_REG,
        IN(SETTINGS, .identity_changed = true, .retry_armed = true), WAIT_REG, A(LOAD_IDENTITY)),
    ROW("settings while waiting to retry", WAIT_LOGIN, IN(SETTINGS, .retry_armed = true),
        WAIT_LOGIN, A(LOAD_IDENTITY)),
    ROW("settings while off", OFF, IN(SETTINGS), OFF, A(LOAD_IDENTITY)),
    ROW("settings while off after a refusal", ST(AUTH_FAILED, 0, false, false), IN(SETTINGS),
        ST(AUTH_FAILED, 0, false, false), A(LOAD_IDENTITY)),
};

static size_t n_acts(const cloud_fsm_act_t *a)
{
    size_t n = 0;
    while (n < CLOUD_FSM_ACT_MAX && a[n].kind != 0) {
        n++;
    }
    return n;
}

static void fsm_table_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row_t *r = &rows[i];
        cloud_fsm_t next;
        cloud_fsm_out_t out;
        cloud_fsm_step(&r->st, &r->in, &next, &out);
        bool ok = next.workstate == r->want.workstate && next.connmode == r->want.connmode &&
                  next.registering == r->want.registering && next.online == r->want.online;
        if (!ok) {
            fail_msg("row %zu \"%s\": state %d/%d/%d/%d, want %d/%d/%d/%d", i, r->name,
                     next.workstate, next.connmode, next.registering, next.online,
                     r->want.workstate, r->want.connmode, r->want.registering, r->want.online);
        }
        size_t n = n_acts(r->acts);
        if (out.n != n) {
            fail_msg("row %zu \"%s\": %zu actions, want %zu", i, r->name, out.n, n);
        }
        for (size_t k = 0; k < n; k++) {
            const cloud_fsm_act_t *got = &out.act[k];
            const cloud_fsm_act_t *want = &r->acts[k];
            if (got->kind != want->kind || got->event != want->event || got->arg != want->arg) {
                fail_msg("row %zu \"%s\": action %zu is %d(%d, %lld), want %d(%d, %lld)", i,
                         r->name, k, got->kind, got->event, (long long)got->arg, want->kind,
                         want->event, (long long)want->arg);
            }
        }
    }
}

/* The work state after the actions equals the state the step returns. */
static void fsm_state_actions_agree(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        cloud_fsm_t next;
        cloud_fsm_out_t out;
        cloud_fsm_step(&rows[i].st, &rows[i].in, &next, &out);
        int ws = rows[i].st.workstate;
        for (size_t k = 0; k < out.n; k++) {
            if (out.act[k].kind == CLOUD_ACT_STATE) {
                ws = (int)out.act[k].arg;
            }
        }
        assert_int_equal(ws, next.workstate);
    }
}

/* next may be the state itself. */
static void fsm_step_in_place(void **state)
{
    (void)state;
    cloud_fsm_t st = REGISTER;
    cloud_fsm_out_t out;
    cloud_fsm_step(&st, &(cloud_fsm_input_t)IN(DS_RECEIVED), &st, &out);
    assert_int_equal(st.workstate, QTD_WS_SUBSCRIBED);
    assert_true(st.online);
    assert_int_equal(out.n, 7);
}

/* Not live: waiting to retry, refused, off, logging out; live: an attempt or online. */
static void fsm_live(void **state)
{
    (void)state;
    static const cloud_fsm_t live[] = {LOGIN, REGISTER, ONLINE, ST(AUTHENTICATED, 1, true, false),
                                       ST(REGISTERED, 1, false, false)};
    static const cloud_fsm_t idle[] = {OFF,        WAIT_LOGIN,  WAIT_REG,
                                       SUB_FAILED, LOGGING_OUT, LOGGED_OUT};
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
        assert_true(cloud_fsm_live(&live[i]));
    }
    for (size_t i = 0; i < sizeof(idle) / sizeof(idle[0]); i++) {
        assert_false(cloud_fsm_live(&idle[i]));
    }
}

#define TESTS(X)                                                                                   \
    X(fsm_table_rows)                                                                              \
    X(fsm_state_actions_agree)                                                                     \
    X(fsm_step_in_place)                                                                           \
    X(fsm_live)

#define AS_TEST(name) cmocka_unit_test(name),

int main(void)
{
    const struct CMUnitTest tests[] = {TESTS(AS_TEST)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
