/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the Lua host (lua/): event delivery to the callbacks plugins bind, error
 * isolation, the instruction and memory caps, the sandbox, require, agent.timer, agent.log,
 * reload, plugin registrations and the Lua <-> value-tree conversion, with no platform
 * module loaded (the fixture is lua_fixture.h).
 */
#include "lua_fixture.h"

#include "cloud_ttlv.h"

/* ---- events and error isolation ----------------------------------------------------- */

static void lua_event_callback_gets_event_errcode_value(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "events.lua",
                      "\n"
                      "test.setcb(1, function(d)\n"
                      "    test.say(string.format('%d/%d/%s/%d', d[1], d[2], type(d[3]), #d))\n"
                      "    if d[1] == 5 and d[2] == 10210 then\n"
                      "        assert(d[3][7] == 1 and d[3][8] == 2.5 and d[3][9][1] == 'a')\n"
                      "    elseif d[1] == 5 and d[2] == 10200 then\n"
                      "        assert(d[3] == 'ab\\0c')\n"
                      "    end\n"
                      "    test.mark()\n"
                      "end)\n");
    assert_int_equal(rc, 0);

    publish(fx, QTD_DOM_CLOUD, QTD_EVT_SUBSCRIBE, QTD_CODE_OK, NULL);

    qtd_value_t arr_items[1] = {{.type = QTD_VAL_STRING, .u.s = {"a", 1}}};
    qtd_value_t items[3] = {
        {.type = QTD_VAL_INT, .id = 7, .u.i = 1},
        {.type = QTD_VAL_DOUBLE, .id = 8, .u.d = 2.5},
        {.type = QTD_VAL_ARRAY, .id = 9, .u.list = {arr_items, 1}},
    };
    qtd_value_t tsl = {.type = QTD_VAL_STRUCT, .u.list = {items, 3}};
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_RECV, QTD_CODE_TSL, &tsl);

    qtd_value_t bytes = {.type = QTD_VAL_BYTES, .u.s = {"ab\0c", 4}};
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_RECV, QTD_CODE_OK, &bytes);

    assert_true(run_until(fx, &fx->marks, 3, 2000));
    assert_string_equal(fx->said, "3/10200/nil/2\n5/10210/table/3\n5/10200/string/3\n");
}

static void lua_domain_callback_slots_receive_their_events(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "slots.lua",
                      "\n"
                      "test.setcb(2, function(d) test.say('ota ' .. d[1] .. ' ' .. d[3]) "
                      "test.mark() end)\n"
                      "test.setcb(3, function(d) test.say('subdev ' .. d[1] .. ' ' .. d[2]) "
                      "test.mark() end)\n");
    assert_int_equal(rc, 0);
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_CONNECT, QTD_CODE_OK, NULL); /* no eventCB: dropped */
    qtd_value_t json = {.type = QTD_VAL_STRING, .u.s = {"{}", 2}};
    publish(fx, QTD_DOM_HTTPOTA, 1, 0, &json);
    publish(fx, QTD_DOM_SUBDEV, 9, QTD_CODE_OK, NULL);
    assert_true(run_until(fx, &fx->marks, 2, 2000));
    assert_string_equal(fx->said, "ota 1 {}\nsubdev 9 10200\n");
    assert_int_equal(log_count(fx, "ERROR"), 0);
}

static void lua_error_in_callback_is_isolated(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "cb_error.lua",
                      "\n"
                      "local n = 0\n"
                      "test.setcb(1, function(d)\n"
                      "    n = n + 1\n"
                      "    if n == 1 then error('boom in callback') end\n"
                      "    test.mark()\n"
                      "end)\n");
    assert_int_equal(rc, 0);
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_RECV, QTD_CODE_OK, NULL);
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_RECV, QTD_CODE_OK, NULL);
    assert_true(run_until(fx, &fx->marks, 1, 2000));
    assert_true(log_line_has(fx, "ERROR", "cb_error.lua:5: boom in callback"));
    assert_logged(fx, "stack traceback:");
    /* The host keeps going: a third event reaches the callback too. */
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_RECV, QTD_CODE_OK, NULL);
    assert_true(run_until(fx, &fx->marks, 2, 2000));
}

static void lua_runaway_callback_is_stopped_by_the_instruction_limit(void **state)
{
    fx_t *fx = *state;
    fx->opts.instr_limit = 1000000;
    int rc = host_run(fx, "runaway.lua",
                      "\n"
                      "test.setcb(1, function(d)\n"
                      "    if d[1] == 1 then while true do end end\n"
                      "    if d[1] == 2 then\n"
                      "        while true do pcall(function() while true do end end) end\n"
                      "    end\n"
                      "    if d[1] == 3 then coroutine.wrap(function() while true do end end)() "
                      "end\n"
                      "    test.mark()\n"
                      "end)\n");
    assert_int_equal(rc, 0);
    for (int ev = 1; ev <= 4; ev++) {
        publish(fx, QTD_DOM_CLOUD, ev, QTD_CODE_OK, NULL);
    }
    assert_true(run_until(fx, &fx->marks, 1, 10000));
    assert_int_equal(fx->marks, 1); /* only event 4 got to the end */
    assert_int_equal(log_count(fx, "instruction limit of 1000000 exceeded (runaway loop?)"), 3);
    assert_logged(fx, "runaway.lua:3: instruction limit");
    /* A fresh call gets a fresh budget. */
    publish(fx, QTD_DOM_CLOUD, 4, QTD_CODE_OK, NULL);
    assert_true(run_until(fx, &fx->marks, 2, 2000));
}

static void lua_runaway_script_is_stopped_and_host_keeps_working(void **state)
{
    fx_t *fx = *state;
    fx->opts.instr_limit = 1000000;
    int rc = host_run(fx, "runaway_top.lua",
                      "\n"
                      "test.setcb(1, function() test.mark() end)\n"
                      "while true do end\n");
    assert_int_equal(rc, QTD_ELUA);
    assert_true(log_line_has(fx, "ERROR", "runaway_top.lua:3: instruction limit of 1000000"));
    /* The callback set before the loop stays and runs. */
    publish(fx, QTD_DOM_CLOUD, QTD_EVT_CONNECT, QTD_CODE_OK, NULL);
    assert_true(run_until(fx, &fx->marks, 1, 2000));
    assert_int_equal(eval(fx, "test.mark()"), 0);
    assert_int_equal(fx->marks, 2);
}

static void lua_memory_cap_is_reported_and_host_keeps_working(void **state)
{
    fx_t *fx = *state;
    fx->opts.mem_limit = 4u << 20;
    int rc = host_run(fx, "memory.lua",
                      "\n"
                      "test.setcb(1, function(d)\n"
                      "    if d[1] == 1 then local t = {} for i = 1, 1e8 do t[i] = i end end\n"
                      "    if d[1] == 2 then local s = string.rep('x', 64 * 1024 * 1024) end\n"
                      "    test.mark()\n"
                      "end)\n"
                      "local big = {}\n"
                      "for i = 1, 1e8 do big[i] = {i} end\n");
    assert_int_equal(rc, QTD_ELUA);
    assert_true(fx->lh->mem_used <= fx->opts.mem_limit);
    publish(fx, QTD_DOM_CLOUD, 1, QTD_CODE_OK, NULL);
    publish(fx, QTD_DOM_CLOUD, 2, QTD_CODE_OK, NULL);
    publish(fx, QTD_DOM_CLOUD, 3, QTD_CODE_OK, NULL);
    assert_true(run_until(fx, &fx->marks, 1, 10000));
    assert_int_equal(fx->marks, 1);
    assert_int_equal(log_count(fx, "not enough memory (memory limit of 4194304 bytes)"), 3);
    assert_true(fx->lh->mem_used <= fx->opts.mem_limit);
    assert_int_equal(eval(fx, "local t = {} for i = 1, 1000 do t[i] = {} end test.mark()"), 0);
    assert_int_equal(fx->marks, 2);
}

/* A timer bomb: the C side of every timer counts against the cap, so the script stops at
 * the cap, not at the machine's memory. */
static void lua_timers_count_against_the_memory_cap(void **state)
{
    fx_t *fx = *state;
    fx->opts.mem_limit = 4u << 20;
    uint64_t before = qtd_alloc_bytes();
    int rc = host_run(fx, "timers.lua",
                      "local ts = {}\n"
                      "local ok, err = pcall(function()\n"
                      "    for i = 1, 1e6 do ts[i] = agent.timer() end\n"
                      "end)\n"
                      "test.say(tostring(ok) .. ' ' .. tostring(#ts > 1000))\n"
                      "assert(not ok and tostring(err):find('not enough memory'), err)\n"
                      "test.mark()\n");
    assert_int_equal(rc, 0);
    assert_string_equal(fx->said, "false true\n");
    assert_true(fx->lh->mem_used + fx->lh->c_bytes <= fx->opts.mem_limit);
    /* What the agent holds for the script stays near the cap (the state and the timers). */
    assert_true(qtd_alloc_bytes() - before < (uint64_t)fx->opts.mem_limit + (1u << 20));
}

static void lua_script_errors_are_reported_with_file_and_line(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_run(fx, "syntax.lua", "local ok = 1\nlocal x = = 1\n"), QTD_ELUA);
    assert_logged(fx, "syntax.lua:2:");
    qtd__lua_close(fx->lh);
    fx->lh = NULL;

    assert_int_equal(host_run(fx, "runtime.lua", "local ok = 1\n\nerror('oops')\n"), QTD_ELUA);
    assert_true(log_line_has(fx, "ERROR", "runtime.lua:3: oops"));
    qtd__lua_close(fx->lh);
    fx->lh = NULL;

    char missing[PATH_LEN];
    snprintf(missing, sizeof(missing), "%s/missing.lua", fx->dir);
    assert_int_equal(host_start(fx, missing), QTD_ELUA);
    assert_logged(fx, "cannot open");
    /* A failed start still leaves a usable state. */
    assert_int_equal(eval(fx, "test.mark()"), 0);
    assert_int_equal(fx->marks, 1);
}

static void lua_start_without_script_gives_a_usable_state(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_start(fx, NULL), 0);
    assert_int_equal(eval(fx, "assert(agent.timer) test.mark()"), 0);
    assert_int_equal(qtd__lua_start(fx->lh), QTD_EBUSY);
    assert_int_equal(fx->marks, 1);
}

/* ---- sandbox, require, log ---------------------------------------------------------- */

static void lua_sandbox_hides_unsafe_functions(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(host_start(fx, SRC_LUA "sandbox.lua"), 0);
    assert_int_equal(fx->marks, 1);
}

/* What the instruction hook cannot stop: a finalizer (run with hooks off) and a pattern
 * whose backtracking takes exponential time in C. Both are refused at once, in callbacks
 * as at the top level, and the next callback still runs. */
static void lua_sandbox_refuses_finalizers_and_costly_patterns(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(
        fx, "guards.lua",
        "local n = 0\n"
        "local t = agent.timer()\n"
        "t:start(10, 1, function()\n"
        "    n = n + 1\n"
        "    if n == 1 then\n"
        "        for i = 1, 1e5 do setmetatable({}, {__gc = function() while true do end end}) "
        "end\n"
        "    elseif n == 2 then\n"
        "        string.find(('a'):rep(40), ('a?'):rep(40) .. ('a'):rep(40) .. 'b')\n"
        "    elseif n == 3 then\n"
        "        local s = ('a'):rep(40)\n"
        "        s:gsub(('a*'):rep(12) .. 'b', '')\n"
        "    elseif n == 4 then\n"
        "        -- fixed items the quantifier before them can swallow do not end the chain\n"
        "        string.match(('a'):rep(60), ('a*a'):rep(20) .. 'X')\n"
        "    else\n"
        "        -- what scripts do every day still works\n"
        "        assert(('k = v '):match('^(%w+)%s*=%s*(.-)%s*$') == 'k')\n"
        "        assert(select(2, ('x y  z'):gsub('%s+', ' ')) == 2)\n"
        "        assert(('a.b'):find('.', 1, true) == 2)\n"
        "        local mt = {}\n"
        "        setmetatable({}, mt)\n"
        "        mt.__gc = function() while true do end end -- too late to finalize: harmless\n"
        "        t:stop()\n"
        "        test.mark()\n"
        "    end\n"
        "end)\n");
    assert_int_equal(rc, 0);
    assert_true(run_until(fx, &fx->marks, 1, 3000));
    assert_true(log_line_has(fx, "ERROR", "setmetatable: __gc finalizers are not allowed"));
    assert_true(log_line_has(fx, "ERROR", "string.find: pattern too costly for a 40-byte subject"));
    assert_true(log_line_has(fx, "ERROR", "string.gsub: pattern too costly"));
    assert_true(log_line_has(fx, "ERROR", "string.match: pattern too costly for a 60-byte"));
}

static void lua_require_loads_from_lib_path_then_script_dir(void **state)
{
    fx_t *fx = *state;
    snprintf(fx->lib, sizeof(fx->lib), "%s/lib", fx->dir);
    assert_int_equal(mkdir(fx->lib, 0755), 0);
    char sub[PATH_LEN];
    snprintf(sub, sizeof(sub), "%s/lib/sub", fx->dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    write_file(fx, "lib/util.lua", "return {name = 'lib', args = {...}}\n", NULL);
    write_file(fx, "lib/sub/deep.lua", "return {deep = true}\n", NULL);
    write_file(fx, "util.lua", "return {name = 'script'}\n", NULL);
    write_file(fx, "local_only.lua", "return 'local'\n", NULL);
    write_file(fx, "nothing.lua", "local x = 1\n", NULL);
    write_file(fx, "broken.lua", "return = 1\n", NULL);
    fx->opts.lib_path = fx->lib;
    int rc = host_run(fx, "main.lua",
                      "local u = require('util')\n"
                      "assert(u.name == 'lib', 'lib_path comes first')\n"
                      "assert(u.args[1] == 'util' and u.args[2]:find('lib/util.lua', 1, true))\n"
                      "assert(require('util') == u, 'cached')\n"
                      "assert(require('sub.deep').deep == true)\n"
                      "assert(require('local_only') == 'local')\n"
                      "assert(require('nothing') == true)\n"
                      "local ok, err = pcall(require, 'broken')\n"
                      "assert(not ok and err:find('error loading module', 1, true), err)\n"
                      "ok, err = pcall(require, 'absent')\n"
                      "assert(not ok and err:find('no file', 1, true), err)\n"
                      "test.mark()\n");
    assert_int_equal(rc, 0);
    assert_int_equal(fx->marks, 1);
}

static void lua_print_and_agent_log_reach_the_log(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "log.lua",
                      "print('hello', 42, nil, true)\n"
                      "agent.log.error('e-line', 1)\n"
                      "agent.log.warn('w-line')\n"
                      "agent.log.info('i-line', {} ~= nil)\n"
                      "agent.log.debug('d-line')\n"
                      "warn('warn-', 'piece')\n");
    assert_int_equal(rc, 0);
    assert_true(log_line_has(fx, "INFO", "lua: hello\t42\tnil\ttrue"));
    assert_true(log_line_has(fx, "ERROR", "lua: e-line\t1"));
    assert_true(log_line_has(fx, "WARN", "lua: w-line"));
    assert_true(log_line_has(fx, "INFO", "lua: i-line\ttrue"));
    assert_true(log_line_has(fx, "DEBUG", "lua: d-line"));
    assert_true(log_line_has(fx, "WARN", "lua: warning: warn-piece"));
}

/* ---- timers ------------------------------------------------------------------------- */

static void lua_timer_one_shot_fires_once(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "oneshot.lua",
                      "local t = agent.timer()\n"
                      "assert(t:start(10, 0, function(tm) assert(tm == t) test.mark() end))\n"
                      "-- nobody keeps this one: it fires all the same\n"
                      "agent.timer():start(5, false, function() test.mark() end)\n"
                      "collectgarbage() collectgarbage()\n");
    assert_int_equal(rc, 0);
    assert_true(run_until(fx, &fx->marks, 2, 2000));
    run_until(fx, NULL, 0, 100);
    assert_int_equal(fx->marks, 2);
}

static void lua_timer_periodic_fires_repeatedly_and_stops(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "periodic.lua",
                      "local n = 0\n"
                      "local t = agent.timer()\n"
                      "t:start(5, 1, function(tm)\n"
                      "    n = n + 1 test.mark()\n"
                      "    if n == 3 then assert(tm:stop()) end\n"
                      "end)\n"
                      "local m = 0\n"
                      "agent.timer():start(5, true, function(tm)\n"
                      "    m = m + 1\n"
                      "    if m == 2 then tm:stop() test.say('t2 done') end\n"
                      "end)\n"
                      "local e = 0\n"
                      "agent.timer():start(5, 1, function(tm)\n"
                      "    e = e + 1 test.tick(1)\n"
                      "    if e == 3 then tm:stop() end\n"
                      "    error('tick error ' .. e)\n"
                      "end)\n");
    assert_int_equal(rc, 0);
    assert_true(run_until(fx, &fx->marks, 3, 2000));
    assert_true(run_until(fx, &fx->ticks[1], 3, 2000));
    run_until(fx, NULL, 0, 100);
    assert_int_equal(fx->marks, 3);
    assert_int_equal(fx->ticks[1], 3); /* errors do not stop a periodic timer, stop() does */
    assert_string_equal(fx->said, "t2 done\n");
    assert_logged(fx, "periodic.lua:16: tick error 3");
}

static void lua_timer_rejects_bad_arguments(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "timer_args.lua",
                      "local t = agent.timer()\n"
                      "local f = function() end\n"
                      "assert(not pcall(t.start, t, -1, 0, f))\n"
                      "assert(not pcall(t.start, t, 10, 2, f))\n"
                      "assert(not pcall(t.start, t, 10, 0, 42))\n"
                      "assert(not pcall(t.start, t, 0, 1, f))\n"
                      "assert(not pcall(t.start, t, 'x', 0, f))\n"
                      "assert(not pcall(t.start, {}, 10, 0, f))\n"
                      "assert(t:start(0, 0, function() test.mark() end))\n"
                      "assert(tostring(t):find('agent.timer', 1, true))\n");
    assert_int_equal(rc, 0);
    assert_true(run_until(fx, &fx->marks, 1, 2000));
}

static int count_timers(fx_t *fx)
{
    int n = 0;
    for (qtd_lua_timer_t *t = fx->lh->timers; t != NULL; t = t->next) {
        n++;
    }
    return n;
}

static void lua_timer_gc_closes_idle_handles(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "timer_gc.lua",
                      "for i = 1, 200 do\n"
                      "    local t = agent.timer()\n"
                      "    if i % 2 == 0 then t:start(100000, 0, function() end) t:stop() end\n"
                      "end\n"
                      "collectgarbage() collectgarbage()\n"
                      "keep = agent.timer()\n"
                      "test.mark()\n");
    assert_int_equal(rc, 0);
    assert_int_equal(fx->marks, 1);
    assert_int_equal(count_timers(fx), 1); /* only `keep` left */
    assert_true(fx->lh->pending_closes > 0);
    pump(fx);
    assert_int_equal(fx->lh->pending_closes, 0);
}

static void lua_reload_reruns_script_and_old_timers_stop(void **state)
{
    fx_t *fx = *state;
    int rc = host_run(fx, "reload.lua",
                      "local gen = test.load()\n"
                      "local t = agent.timer()\n"
                      "t:start(5, 1, function() test.tick(gen) end)\n"
                      "test.mark()\n");
    assert_int_equal(rc, 0);
    assert_true(run_until(fx, &fx->ticks[1], 2, 2000));
    assert_int_equal(qtd__lua_reload(fx->lh), 0);
    assert_int_equal(fx->loads, 2);
    assert_int_equal(fx->marks, 2);
    int old = fx->ticks[1];
    assert_true(run_until(fx, &fx->ticks[2], 3, 2000));
    assert_int_equal(fx->ticks[1], old);
    /* Reloading again with timers running, then closing with timers running. */
    assert_int_equal(qtd__lua_reload(fx->lh), 0);
    assert_true(run_until(fx, &fx->ticks[3], 1, 2000));
}

/* The bytes of a file (static buffer; "" when it cannot be read). */
static const char *slurp(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

static void lua_replace_keeps_the_previous_and_rolls_back(void **state)
{
    fx_t *fx = *state;
    char staged[PATH_LEN];
    char previous[PATH_LEN + 16];
    char err[256];
    assert_int_equal(host_run(fx, "live.lua", "V = 'old' test.mark()\n"), 0);
    snprintf(previous, sizeof(previous), "%s.previous", fx->script);
    /* Not a script: refused before anything moves. */
    write_file(fx, "bad.lua", "this is not lua (", staged);
    assert_int_equal(qtd__lua_replace(fx->lh, staged, err, sizeof(err)), QTD_ELUA);
    assert_non_null(strstr(err, "does not compile"));
    assert_int_equal(access(previous, F_OK), -1);
    /* A new one that raises at its first run: the old one is back and runs. */
    write_file(fx, "raises.lua", "V = 'raises' test.mark() error('first run')\n", staged);
    assert_int_equal(qtd__lua_replace(fx->lh, staged, err, sizeof(err)), QTD_ELUA);
    assert_string_equal(slurp(fx->script), "V = 'old' test.mark()\n");
    assert_int_equal(eval(fx, "assert(V == 'old') test.mark()"), 0);
    /* A good one: in place, the old one kept, errors counted from here. */
    uint64_t errors = qtd__lua_errors(fx->lh);
    write_file(fx, "new.lua", "V = 'new' test.mark()\n", staged);
    assert_int_equal(qtd__lua_replace(fx->lh, staged, err, sizeof(err)), 0);
    assert_string_equal(slurp(fx->script), "V = 'new' test.mark()\n");
    assert_string_equal(slurp(previous), "V = 'old' test.mark()\n");
    /* The same file again (an agent stopped after the rename, before it was recorded): the
     * previous one is not overwritten with the new one. */
    assert_int_equal(qtd__lua_replace(fx->lh, staged, err, sizeof(err)), 0);
    assert_string_equal(slurp(previous), "V = 'old' test.mark()\n");
    assert_int_equal(eval(fx, "assert(V == 'new') error('later')"), QTD_ELUA);
    assert_true(qtd__lua_errors(fx->lh) > errors);
    /* Rolled back later: the old one runs again and nothing is kept any more. */
    assert_int_equal(qtd__lua_restore(fx->lh), 0);
    assert_string_equal(slurp(fx->script), "V = 'old' test.mark()\n");
    assert_int_equal(eval(fx, "assert(V == 'old') test.mark()"), 0);
    assert_int_equal(qtd__lua_restore(fx->lh), QTD_ENOENT);
}

/* Registered under test and agent: true when upvalue 1 is the fixture. */
static int r_echo_name(lua_State *L)
{
    lua_pushboolean(L, fx_of(L) != NULL && fx_of(L)->lh != NULL); /* [ok] */
    return 1;
}

static void lua_register_extends_modules_on_every_state(void **state)
{
    fx_t *fx = *state;
    write_file(fx, "reg.lua",
               "assert(test.extra() == true and test.mark)\n"
               "assert(agent.extra() == true and agent.timer)\n"
               "assert(mymod.hello() == 'ud' and require('mymod') == mymod)\n"
               "assert(test.ud())\n"
               "test.mark()\n",
               fx->script);
    fx->opts.script = fx->script;
    assert_int_equal(qtd__lua_create(&fx->lh, &fx->loop, fx->st, fx->bus, &fx->opts), 0);
    register_test_module(fx);
    assert_int_equal(qtd__lua_register(fx->lh, "test", "extra", r_echo_name, fx), 0);
    assert_int_equal(qtd__lua_register(fx->lh, "agent", "extra", r_echo_name, fx), 0);
    assert_int_equal(qtd__lua_register(fx->lh, "mymod", "hello", t_where, fx), 0);
    assert_int_equal(qtd__lua_register(fx->lh, "", "x", t_where, fx), QTD_EINVAL);
    assert_int_equal(qtd__lua_start(fx->lh), 0);
    /* A registration after start lands in the running state at once. */
    assert_int_equal(qtd__lua_register(fx->lh, "mymod", "late", t_where, fx), 0);
    assert_int_equal(eval(fx, "assert(mymod.late() == 'ud') test.mark()"), 0);
    assert_int_equal(qtd__lua_reload(fx->lh), 0);
    assert_int_equal(eval(fx, "assert(mymod.late() and mymod.hello()) test.mark()"), 0);
    assert_int_equal(fx->marks, 4);
}

/* ---- value conversion --------------------------------------------------------------- */

static void value_free(qtd_value_t *v)
{
    qtd__value_clear(v);
    qtd_free(v);
}

/* Evaluate code (returning one value) in L and convert the result. */
static int convert(lua_State *L, const char *code, qtd_value_t **out)
{
    if (luaL_dostring(L, code) != LUA_OK) { /* [value] or [err] */
        fail_msg("%s: %s", code, lua_tostring(L, -1));
    }
    int rc = qtd__lua_to_value(L, -1, out);
    lua_pop(L, 1); /* [] */
    return rc;
}

/* Push v, run check (a chunk taking it as ...), expect true; then convert the pushed
 * value again and compare with v. */
static void check_round_trip(lua_State *L, const qtd_value_t *v, const char *check)
{
    assert_int_equal(luaL_loadstring(L, check), LUA_OK);            /* [chunk] */
    qtd__lua_push_value(L, v);                                      /* [chunk value] */
    lua_pushvalue(L, -1);                                           /* [chunk value value] */
    lua_insert(L, -3);                                              /* [value chunk value] */
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_toboolean(L, -1)) { /* [value ok] */
        fail_msg("check failed: %s (%s)", check, lua_tostring(L, -1));
    }
    lua_pop(L, 1); /* [value] */
    qtd_value_t *again = NULL;
    assert_int_equal(qtd__lua_to_value(L, -1, &again), 0);
    lua_pop(L, 1); /* [] */
    assert_true(qtd__value_equal(v, again));
    value_free(again);
}

static void lua_value_conversion_round_trips(void **state)
{
    (void)state;
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    qtd_value_t *v = NULL;

    /* A nested struct inside an array. */
    assert_int_equal(convert(L, "return {{[8] = 2.5, [7] = 1}, {[3] = 'x', [0] = false}}", &v), 0);
    assert_int_equal(v->type, QTD_VAL_ARRAY);
    assert_int_equal(v->u.list.count, 2);
    const qtd_value_t *s0 = &v->u.list.items[0];
    assert_int_equal(s0->type, QTD_VAL_STRUCT);
    assert_int_equal(s0->u.list.count, 2);
    assert_int_equal(s0->u.list.items[0].id, 7); /* sorted by id */
    assert_int_equal(s0->u.list.items[0].type, QTD_VAL_INT);
    assert_int_equal(s0->u.list.items[0].u.i, 1);
    assert_int_equal(s0->u.list.items[1].id, 8);
    assert_int_equal(s0->u.list.items[1].type, QTD_VAL_DOUBLE);
    assert_true(s0->u.list.items[1].u.d == 2.5);
    const qtd_value_t *s1 = &v->u.list.items[1];
    assert_int_equal(s1->u.list.items[0].id, 0);
    assert_int_equal(s1->u.list.items[0].type, QTD_VAL_BOOL);
    assert_int_equal(s1->u.list.items[1].type, QTD_VAL_STRING);
    assert_int_equal(s1->u.list.items[1].u.s.len, 1);
    check_round_trip(L, v,
                     "local v = ... return #v == 2 and v[1][7] == 1 and "
                     "math.type(v[1][7]) == 'integer' and v[1][8] == 2.5 and "
                     "v[2][3] == 'x' and v[2][0] == false");
    value_free(v);

    /* The empty table is an empty array. */
    assert_int_equal(convert(L, "return {}", &v), 0);
    assert_int_equal(v->type, QTD_VAL_ARRAY);
    assert_int_equal(v->u.list.count, 0);
    check_round_trip(L, v, "local v = ... return type(v) == 'table' and next(v) == nil");
    value_free(v);

    /* Negative and float numbers, an integral float stays a float. */
    assert_int_equal(convert(L, "return {[5] = -3, [6] = -2.25, [9] = 2.0, [8191] = 'z'}", &v), 0);
    assert_int_equal(v->type, QTD_VAL_STRUCT);
    assert_int_equal(v->u.list.items[0].u.i, -3);
    assert_true(v->u.list.items[1].u.d == -2.25);
    assert_int_equal(v->u.list.items[2].type, QTD_VAL_DOUBLE);
    assert_int_equal(v->u.list.items[3].id, 8191);
    check_round_trip(L, v,
                     "local v = ... return v[5] == -3 and v[6] == -2.25 and "
                     "math.type(v[9]) == 'float' and v[8191] == 'z'");
    value_free(v);

    /* Keys not exactly 1..n make a struct; scalars and nil at the top. */
    assert_int_equal(convert(L, "return {[1] = 1, [2] = 2, [4] = 4}", &v), 0);
    assert_int_equal(v->type, QTD_VAL_STRUCT);
    value_free(v);
    assert_int_equal(convert(L, "return -7", &v), 0);
    assert_int_equal(v->type, QTD_VAL_INT);
    assert_int_equal(v->u.i, -7);
    value_free(v);
    assert_int_equal(convert(L, "return nil", &v), 0);
    assert_int_equal(v->type, QTD_VAL_NONE);
    value_free(v);
    assert_int_equal(convert(L, "return 'a\\0b'", &v), 0);
    assert_int_equal(v->type, QTD_VAL_STRING);
    assert_int_equal(v->u.s.len, 3);
    value_free(v);

    /* The top table and QTD_VALUE_MAX_NESTING (16) levels below it are fine, one more is
     * not: the limit the wire codec has (a payload with 16 nested structs). */
    assert_int_equal(convert(L, "local t = 1 for i = 1, 17 do t = {t} end return t", &v), 0);
    check_round_trip(L, v, "local t = ... for i = 1, 17 do t = t[1] end return t == 1");
    value_free(v);
    assert_int_equal(convert(L, "local t = 1 for i = 1, 18 do t = {t} end return t", &v),
                     QTD_EINVAL);
    assert_null(v);

    /* What the decoder accepts reaches Lua: a TSL payload whose struct 1 holds 15 more. */
    qtd_value_t nodes[17];
    memset(nodes, 0, sizeof(nodes));
    nodes[16] = (qtd_value_t){.type = QTD_VAL_BOOL, .id = 1, .u.b = true};
    for (int i = 15; i >= 0; i--) {
        nodes[i] = (qtd_value_t){.type = QTD_VAL_STRUCT, .id = 1, .u.list = {&nodes[i + 1], 1}};
    }
    uint8_t *wire = NULL;
    size_t wire_len = 0;
    assert_int_equal(qtd_ttlv_encode(&nodes[0], &wire, &wire_len), 0);
    qtd_value_t decoded;
    size_t off = 0;
    assert_int_equal(qtd_ttlv_decode(wire, wire_len, &decoded, &off), 0);
    free(wire);
    /* (A struct keyed 1 reads back as a sequence: check it in Lua only.) */
    assert_int_equal(
        luaL_loadstring(L, "local t = ... for i = 1, 16 do t = t[1] end return t == true"),
        LUA_OK);                                                    /* [chunk] */
    qtd__lua_push_value(L, &decoded);                               /* [chunk value] */
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_toboolean(L, -1)) { /* [ok] */
        fail_msg("a decoded 16-deep payload does not reach Lua: %s", lua_tostring(L, -1));
    }
    lua_pop(L, 1); /* [] */
    qtd_ttlv_free(&decoded);

    /* What the wire cannot carry. */
    static const char *const refused[] = {"return print",
                                          "return {print}",
                                          "return {[8192] = 1}",
                                          "return {[-1] = 1}",
                                          "return {a = 1}",
                                          "return {1, 2, x = 3}",
                                          "return {[1.5] = 1}",
                                          "return {{{io.stdout}}}",
                                          "return coroutine.create(print)",
                                          "return {[1] = 1, [2] = 2, [9000] = 1}"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        v = (qtd_value_t *)1;
        if (convert(L, refused[i], &v) != QTD_EINVAL) {
            fail_msg("accepted: %s", refused[i]);
        }
        assert_null(v);
    }

    /* Push: BYTES become strings, NONE and NULL nil. */
    qtd_value_t bytes = {.type = QTD_VAL_BYTES, .u.s = {"a\0b", 3}};
    qtd__lua_push_value(L, &bytes); /* [s] */
    size_t len = 0;
    assert_int_equal(lua_type(L, -1), LUA_TSTRING);
    lua_tolstring(L, -1, &len);
    assert_int_equal(len, 3);
    lua_pop(L, 1); /* [] */
    qtd_value_t none = {.type = QTD_VAL_NONE};
    qtd__lua_push_value(L, &none); /* [nil] */
    qtd__lua_push_value(L, NULL);  /* [nil nil] */
    assert_true(lua_isnil(L, -1) && lua_isnil(L, -2));
    lua_pop(L, 2); /* [] */
    assert_int_equal(lua_gettop(L), 0);
    lua_close(L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
        T(lua_event_callback_gets_event_errcode_value),
        T(lua_domain_callback_slots_receive_their_events),
        T(lua_error_in_callback_is_isolated),
        T(lua_runaway_callback_is_stopped_by_the_instruction_limit),
        T(lua_runaway_script_is_stopped_and_host_keeps_working),
        T(lua_memory_cap_is_reported_and_host_keeps_working),
        T(lua_timers_count_against_the_memory_cap),
        T(lua_script_errors_are_reported_with_file_and_line),
        T(lua_start_without_script_gives_a_usable_state),
        T(lua_sandbox_hides_unsafe_functions),
        T(lua_sandbox_refuses_finalizers_and_costly_patterns),
        T(lua_require_loads_from_lib_path_then_script_dir),
        T(lua_print_and_agent_log_reach_the_log),
        T(lua_timer_one_shot_fires_once),
        T(lua_timer_periodic_fires_repeatedly_and_stops),
        T(lua_timer_rejects_bad_arguments),
        T(lua_timer_gc_closes_idle_handles),
        T(lua_reload_reruns_script_and_old_timers_stop),
        T(lua_replace_keeps_the_previous_and_rolls_back),
        T(lua_register_extends_modules_on_every_state),
        T(lua_value_conversion_round_trips),
#undef T
    };
    return cmocka_run_group_tests_name("lua", tests, NULL, NULL);
}
