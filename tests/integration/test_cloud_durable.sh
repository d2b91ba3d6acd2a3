#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A report made from a timer while the loop then has nothing to do must be on disk before
# the loop sleeps: report offline from a timer, stay idle, kill -9, and the row is in the
# outbox of the database (and the script saw true).
source "$(dirname "$0")/lib.sh"
PORT=$(free_port) # nobody listens: the agent stays offline
mkdir -p "$WORK/d"
cat >"$WORK/d/script.lua" <<LUA
quecIot.init()
quecIot.setProductinfo("p1116a", "UHg1dTRBRVh3MkVG")
quecIot.setServer(1, "mqtt://127.0.0.1:$PORT")
quecIot.setConnmode(1)
local t = agent.timer()
t:start(300, 0, function()
    print("report " .. tostring(quecIot.phymodelReport(1, {[1] = 42})))
end)
LUA
cat >"$WORK/d/agent.lua" <<CFG
agent = { data_dir = "$WORK/d/data", plugin_dir = "$QTD_PLUGIN_DIR" }
lua = { script = "$WORK/d/script.lua" }
plugins = { { file = "cloud", required = true } }
cloud = { reconnect_min_ms = 600000, reconnect_max_ms = 600000 }
CFG
start_bg d "$QTHINGD" -c "$WORK/d/agent.lua"
A=$LAST_PID
wait_for "$WORK/d.log" 'lua: report true' 10
sleep 1
kill -KILL "$A"; wait_exit "$A" 5
rows=$(sqlite3 "$WORK/d/data/qthingd.db" 'select count(*) from outbox')
[ "$rows" -eq 1 ] || fail "the report made before the loop went idle is not on disk ($rows rows)"
pass "a report from a timer is committed before the loop sleeps (survives kill -9)"
