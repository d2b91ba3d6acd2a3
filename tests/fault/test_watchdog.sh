#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The watchdog against what no instruction limit sees: a timer callback that spends minutes
# in the pattern matcher (quadratic, so the sandbox's guard lets it through). The agent
# logs what was running, commits the report the callback made just before, and exits 3
# within agent.watchdog_s; after 3 such hangs in a row the next start is in safe mode (the
# script does not run, the agent does, SIGTERM ends it cleanly); a changed script runs again.
source "$(dirname "$0")/../integration/lib.sh"

PORT=$(free_port) # nobody listens: the agent stays offline and the report stays queued
mkdir -p "$WORK/w"
cat >"$WORK/w/script.lua" <<LUA
quecIot.init()
quecIot.setProductinfo("p1116a", "UHg1dTRBRVh3MkVG")
quecIot.setServer(1, "mqtt://127.0.0.1:$PORT")
local t = agent.timer()
t:start(200, 0, function()
    print("report " .. tostring(quecIot.phymodelReport(1, {[1] = 7})))
    local s = ("a"):rep(200000)
    s:find("a-b") -- each start position scans to the end: minutes in C
    print("not reached")
end)
LUA
cat >"$WORK/w/agent.lua" <<CFG
agent = { data_dir = "$WORK/w/data", plugin_dir = "$QTD_PLUGIN_DIR", watchdog_s = 2 }
lua = { script = "$WORK/w/script.lua" }
plugins = { { file = "cloud", required = true } }
CFG

for run in 1 2 3; do
    start_bg "w$run" "$QTHINGD" -c "$WORK/w/agent.lua"
    W=$LAST_PID
    wait_for "$WORK/w$run.log" 'lua: report true' 10
    wait_exit "$W" 15
    [ "$EXIT_RC" -eq 3 ] || fail "run $run: exit $EXIT_RC, want 3 (watchdog)"
    grep -qE 'watchdog: the loop has been stuck for [0-9.]+ s \(agent.watchdog_s is 2\) in a timer callback of the script \(last seen at .*script.lua:[0-9]+\)' \
        "$WORK/w$run.log" || fail "run $run: the watchdog does not say what was running"
done
grep -q 'watchdog: 3 hangs in a row with this script: the next start is in safe mode' \
    "$WORK/w3.log" || fail "no safe mode announced"
rows=$(sqlite3 "$WORK/w/data/qthingd.db" 'select count(*) from outbox')
[ "$rows" -eq 3 ] || fail "the reports made before each hang: $rows rows on disk, want 3"
pass "3 hangs in C code: exit 3 within watchdog_s each, what ran is logged, reports kept"

start_bg w4 "$QTHINGD" -c "$WORK/w/agent.lua"
W=$LAST_PID
wait_for "$WORK/w4.log" 'safe mode: the script .*script.lua hung the agent 3 times in a row' 10
wait_for "$WORK/w4.log" 'qthingd .* running' 10
sleep 3
! grep -q 'lua: report' "$WORK/w4.log" || fail "the script ran in safe mode"
kill -0 "$W" || fail "safe mode did not keep the agent running"
stop_checked "$W" w4
pass "safe mode: the agent runs without the script, SIGTERM ends it cleanly"

# A hang in an event callback (an I/O callback of the loop, not a timer): the same.
mkdir -p "$WORK/e"
cat >"$WORK/e/script.lua" <<LUA
quecIot.init()
quecIot.setEventCB(function(e)
    print("event " .. e[1] .. "/" .. e[2])
    local s = ("a"):rep(200000)
    s:find("a-b")
end)
quecIot.setConnmode(1) -- no product key: event 1/10423 at once
LUA
cat >"$WORK/e/agent.lua" <<CFG
agent = { data_dir = "$WORK/e/data", plugin_dir = "$QTD_PLUGIN_DIR", watchdog_s = 2 }
lua = { script = "$WORK/e/script.lua" }
plugins = { { file = "cloud", required = true } }
CFG
start_bg e "$QTHINGD" -c "$WORK/e/agent.lua"
E=$LAST_PID
wait_for "$WORK/e.log" 'lua: event 1/10423' 10
wait_exit "$E" 15
[ "$EXIT_RC" -eq 3 ] || fail "a hang in an event callback: exit $EXIT_RC, want 3"
grep -q 'in an event callback of the script (last seen at' "$WORK/e.log" \
    || fail "the watchdog does not name the event callback"
pass "a hang in an event callback (an I/O callback of the loop): exit 3, named"

echo "-- fixed" >>"$WORK/w/script.lua"
start_bg w5 "$QTHINGD" -c "$WORK/w/agent.lua"
W=$LAST_PID
wait_for "$WORK/w5.log" 'lua: report true' 10
pass "a changed script runs again"
