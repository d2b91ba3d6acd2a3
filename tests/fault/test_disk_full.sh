#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A full disk: the data dir on a small tmpfs of the test's own, the agent offline, the script
# reporting every few milliseconds until the file system is full. Rows whose commit fails
# are not lost silently: the script gets the failure event of each (4/10310), the store
# counts them (SIGUSR1 status), the error line is rate-limited, nothing is claimed
# delivered, and the agent keeps running. Skipped (77) where tmpfs cannot be mounted.
source "$(dirname "$0")/../integration/lib.sh"

MNT=$WORK/small
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=1m tmpfs "$MNT" 2>/dev/null; then
    echo "SKIP: cannot mount a tmpfs here (needs root)"
    exit 77
fi
trap 'rc=$?; set +e; (exit $rc); cleanup; umount "$MNT" 2>/dev/null' EXIT

PORT=$(free_port) # nobody listens: every report stays in the outbox
cat >"$WORK/script.lua" <<LUA
quecIot.init()
quecIot.setProductinfo("p1116a", "UHg1dTRBRVh3MkVG")
quecIot.setServer(1, "mqtt://127.0.0.1:$PORT")
local failed, refused, sent = 0, 0, 0
quecIot.setEventCB(function(e)
    if e[1] == 4 and e[2] == 10310 then failed = failed + 1 end
    if e[1] == 4 and e[2] == 10210 then print("claimed delivered") end
end)
quecIot.setConnmode(1)
local payload = string.rep("x", 400)
local t = agent.timer()
t:start(2, 1, function()
    for i = 1, 5 do
        if quecIot.phymodelReport(1, {[1] = payload}) then sent = sent + 1 else refused = refused + 1 end
    end
end)
local s = agent.timer()
s:start(500, 1, function()
    print(("progress sent %d refused %d failed %d"):format(sent, refused, failed))
end)
LUA
cat >"$WORK/agent.lua" <<CFG
agent = { data_dir = "$MNT/data", plugin_dir = "$QTD_PLUGIN_DIR" }
lua = { script = "$WORK/script.lua" }
plugins = { { file = "cloud", required = true } }
cloud = { reconnect_min_ms = 600000, reconnect_max_ms = 600000 }
CFG
start_bg a "$QTHINGD" -c "$WORK/agent.lua"
A=$LAST_PID
wait_for "$WORK/a.log" 'COMMIT failed: database or disk is full; [0-9]+ outbox rows lost' 30
wait_for "$WORK/a.log" 'lua: progress sent [0-9]+ refused [0-9]+ failed [1-9]' 10
sleep 3
kill -0 "$A" || fail "the agent died on a full disk"
kill -USR1 "$A"
wait_for "$WORK/a.log" 'status: .* [1-9][0-9]* lost to failed commits' 5
lines=$(grep -c 'COMMIT failed' "$WORK/a.log")
[ "$lines" -le 3 ] || fail "the commit error is not rate-limited: $lines lines"
! grep -q 'lua: claimed delivered' "$WORK/a.log" || fail "a report was claimed delivered"
last=$(grep -oE 'progress sent [0-9]+ refused [0-9]+ failed [0-9]+' "$WORK/a.log" | tail -1)
read -r sent failed < <(echo "$last" | awk '{print $3, $7}')
[ "$failed" -le "$sent" ] || fail "more failure events ($failed) than reports queued ($sent)"
pass "disk full: failures reported to the script ($last), counted, logged $lines times, agent alive"
stop_checked "$A" a
