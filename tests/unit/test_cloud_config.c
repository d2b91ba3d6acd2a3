/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The quecIot configuration module (seed 3.3-3.4) that the cloud plugin registers, tested
 * with the plugin loaded from its .so through the real loader into a real Lua host, bus
 * and store (lua_fixture.h): every setter and getter with its limits, init() per script
 * state, persistence across a restart, the DK/DS rules, and the connection mode and work
 * state as the session sees them. No test connects anywhere: the attempts they cause fail
 * before the network for want of a product key or secret.
 */
#include "lua_fixture.h"

static int cloud_setup(void **state)
{
    int rc = fx_setup(state);
    ((fx_t *)*state)->with_cloud = true;
    return rc;
}

/* ---- quecIot configuration (seed 3.3-3.4)
 * ---------------------------------------------------------- */

static void quecIot_setters_and_getters_accept_valid_values(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_start(fx, SRC_LUA "quecIot_config.lua"), 0);
    assert_int_equal(fx->marks, 1);
    pump(fx);
    /* Each change reaches the session with the setting's name. */
    const char *names[] = {"productinfo", "server",     "lifetime", "pdpContextId",
                           "sessionFlag", "mcuVersion", "dkDs"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), "cloud: setting %s changed", names[i]);
        assert_logged(fx, line);
    }
    /* setConnmode(1) then (0) ran after the script, in order: an attempt with the last
     * settings (a closed loopback port), then a logout that dropped it. */
    assert_true(log_line_has(fx, "logging in to tcp://127.0.0.1:9 as qdadev12345", "INFO"));
    assert_int_equal(eval(fx, "local ws = quecIot.getWorkState() assert(ws == 10 or ws == 11) "
                              "test.mark()"),
                     0);
}

static void quecIot_limits_are_refused_with_false(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_start(fx, SRC_LUA "quecIot_limits.lua"), 0);
    assert_int_equal(fx->marks, 1);
    /* The warnings name the function, the argument and the limit. */
    assert_logged(fx, "quecIot.setProductinfo: product_key must be a string of 1..32");
    assert_logged(fx, "quecIot.setProductinfo: product_secret must be a string of 1..32");
    assert_logged(fx, "quecIot.setServer: type 0 (LwM2M) is not supported");
    assert_logged(fx, "quecIot.setServer: server port must be a number 1..65535");
    assert_logged(fx, "quecIot.setLifetime: life_time must be an integer 1..65535");
    assert_logged(fx, "quecIot.setPdpContextId: contextID must be 1");
    assert_logged(fx, "quecIot.setSessionFlag: sessionFlag must be true, false, 0 or 1");
    assert_logged(fx, "quecIot.setMcuVersion: compno must be a string of 1..32");
    assert_logged(fx, "quecIot.setMcuVersion: version must be a string of 1..64");
    assert_logged(fx, "quecIot.setDkDs: dk must be a string of 0..16");
    assert_logged(fx, "quecIot.setDkDs: ds must be a string of 0..32");
    assert_logged(fx, "quecIot.setConnmode: mode must be 0 (disconnect) or 1 (connect)");
    assert_logged(fx, "quecIot.setEventCB: eventCb must be a function");
    assert_true(log_line_has(fx, "WARN", "quecIot.setLifetime"));
}

static void quecIot_setters_before_init_return_false(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "before_init.lua",
                      "local q = quecIot\n"
                      "local r = {q.setConnmode(1), q.setEventCB(function() end),\n"
                      "           q.setProductinfo('pk', 'ps'), q.setServer(1, 'h:1'),\n"
                      "           q.setLifetime(60), q.setPdpContextId(1),\n"
                      "           q.setSessionFlag(true), q.setMcuVersion('m', 'v'),\n"
                      "           q.setDkDs('dk1', 'ds')}\n"
                      "for i = 1, 9 do\n"
                      "    assert(r[i] == false, 'setter ' .. i .. ' gave ' .. tostring(r[i]))\n"
                      "end\n"
                      "assert(q.getWorkState() == 0 and q.getConnmode() == 0)\n"
                      "assert(q.getProductinfo() == nil and q.getLifetime() == 120)\n"
                      "assert(q.getDkDs() == nil and #q.getMcuVersion() == 0)\n"
                      "assert(q.init() == true and q.setLifetime(60) == true)\n"
                      "test.mark()\n");
    assert_int_equal(rc, 0);
    assert_int_equal(fx->marks, 1);
    assert_logged(fx, "quecIot.setLifetime: called before quecIot.init()");
    assert_logged(fx, "quecIot.setDkDs: called before quecIot.init()");
    pump(fx);
    assert_int_equal(log_count(fx, "cloud: setting"), 1); /* only the setLifetime after init */
    assert_int_equal(log_count(fx, "connection attempt"), 0);
}

static void quecIot_settings_persist_across_restart(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "persist_set.lua",
                      "local q = quecIot\n"
                      "q.init()\n"
                      "assert(q.setProductinfo('pkA', 'psA'))\n"
                      "assert(q.setServer(1, 'mqtts://broker.example:8883'))\n"
                      "assert(q.setLifetime(600))\n"
                      "assert(q.setPdpContextId(1))\n"
                      "assert(q.setSessionFlag(true))\n"
                      "assert(q.setMcuVersion('MCU2', 'v2') and q.setMcuVersion('MCU1', 'v1'))\n"
                      "assert(q.setDkDs('dkA1', 'dsA1'))\n"
                      "test.mark()\n");
    assert_int_equal(rc, 0);
    assert_int_equal(fx->marks, 1);

    /* Restart: plugin, host and store go, a new store on the same file and new ones come. */
    host_stop(fx);
    qtd_store_close(fx->st);
    fx->st = NULL;
    store_open(fx);
    rc = host_run(fx, "persist_get.lua",
                  "local q = quecIot\n"
                  "local function eq(a, b) assert(a == b, tostring(a) .. ' ~= ' .. "
                  "tostring(b)) end\n"
                  "eq(q.getWorkState(), 0)\n"
                  "local pi = q.getProductinfo()\n"
                  "eq(pi[1], 'pkA') eq(pi[2], 'psA') eq(pi[3], '1.3.0')\n"
                  "local s = q.getServer()\n"
                  "eq(s[1], 1) eq(s[2], 'mqtts://broker.example:8883')\n"
                  "eq(q.getLifetime(), 600)\n"
                  "eq(q.getPdpContextId(), 1)\n"
                  "eq(q.getSessionFlag(), true)\n"
                  "local m = q.getMcuVersion()\n"
                  "eq(#m, 2) eq(m[1][1], 'MCU1') eq(m[1][2], 'v1') eq(m[2][1], 'MCU2')\n"
                  "local d = q.getDkDs()\n"
                  "eq(d[1], 'dkA1') eq(d[2], 'dsA1')\n"
                  "eq(q.getConnmode(), 0)\n"
                  "test.mark()\n");
    assert_int_equal(rc, 0);
    assert_int_equal(fx->marks, 2);
}

static void quecIot_setDkDs_follows_the_seed_rules(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_start(fx, SRC_LUA "quecIot_dkds.lua"), 0);
    assert_int_equal(fx->marks, 1);
    assert_logged(fx, "quecIot.setDkDs: ds may be set only with a non-empty dk");
    /* The device secret never reaches the log. */
    assert_int_equal(log_count(fx, "s3cr3t"), 0);
}

static void quecIot_getWorkState_follows_the_session(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_run(fx, "ws.lua",
                              "assert(quecIot.getWorkState() == 0)\n"
                              "quecIot.init()\n"
                              "assert(quecIot.getWorkState() == 1)\n"
                              "quecIot.setEventCB(function(e)\n"
                              "    test.say(e[1] .. '/' .. e[2] .. ' ' .. quecIot.getWorkState())\n"
                              "    test.mark()\n"
                              "end)\n"
                              "assert(quecIot.setConnmode(1))\n"),
                     0);
    /* No product key: the attempt at the end of the turn fails as the SDK does. */
    assert_true(run_until(fx, &fx->marks, 1, 2000));
    assert_string_equal(fx->said, "1/10423 4\n");
    assert_int_equal(eval(fx, "assert(quecIot.getWorkState() == 4) test.mark()"), 0);
}

static void quecIot_connmode_reaches_the_session_and_survives_reload(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "connmode.lua",
                      "quecIot.init()\n"
                      "if test.load() == 1 then assert(quecIot.setConnmode(1)) end\n"
                      "test.say('connmode ' .. quecIot.getConnmode())\n");
    assert_int_equal(rc, 0);
    pump(fx);
    assert_int_equal(log_count(fx, "no product key/secret"), 1);
    assert_int_equal(qtd__lua_reload(fx->lh), 0);
    pump(fx);
    assert_int_equal(fx->loads, 2);
    /* reload does not touch the session: no second attempt */
    assert_int_equal(log_count(fx, "no product key/secret"), 1);
    assert_string_equal(fx->said, "connmode 1\nconnmode 1\n");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, cloud_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(quecIot_setters_and_getters_accept_valid_values),
        T(quecIot_limits_are_refused_with_false),
        T(quecIot_setters_before_init_return_false),
        T(quecIot_settings_persist_across_restart),
        T(quecIot_setDkDs_follows_the_seed_rules),
        T(quecIot_getWorkState_follows_the_session),
        T(quecIot_connmode_reaches_the_session_and_survives_reload),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
