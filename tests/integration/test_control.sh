#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The control socket and qthingctl: a running agent answers `status` (human and --json: the
# outbox, the script, each plugin's state), streams its events to `events -f` as the seed's
# event,errcode,value with their domain, reloads on `reload` (the script alone when the config
# is unchanged; a bad config refused; a changed one restarts the agent in place); the socket is mode
# 0600; a client with no agent behind the socket is told so (exit 3). The platform's status
# read gets the same delivery state as status ids 101..104 (rows, bytes, the age of the
# oldest, rows dropped by the cap), also with rows waiting behind lost PUBACKs and a 1 MiB
# cap overrun.
source "$(dirname "$0")/lib.sh"
QTHINGCTL=$(dirname "$QTHINGD")/qthingctl
auto_registry
start_broker
start_sim
start_agent c 'dk = "ctl1"' 'mode = "none"'
C=$AGENT
SOCK=$WORK/c/data/qthingd.sock
wait_for "$WORK/c.log" "control: listening on $SOCK" 10
wait_for "$WORK/c.log" 'lua: event 3/10200' 15
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "the socket is mode $(stat -c %a "$SOCK")"

out=$("$QTHINGCTL" -s "$SOCK" status) || fail "status failed"
grep -qE '^qthingd [0-9.]+, pid [0-9]+, up [0-9]+ s, data in ' <<<"$out" || fail "status: $out"
grep -qE '^outbox: [0-9]+ rows, [0-9]+ bytes(, the oldest [0-9]+ s old)?; 0 dropped by the cap, 0 lost$' <<<"$out" \
    || fail "status outbox: $out"
grep -qE '^  cloud +[0-9.]+ +running ' <<<"$out" || fail "status plugins: $out"
grep -qE '^ +online at mqtt://127.0.0.1:[0-9]+, work state 8, [0-9]+ sent / [0-9]+ acknowledged this run, 0 of 0 sub-devices online$' \
    <<<"$out" || fail "the cloud plugin's summary: $out"
json=$("$QTHINGCTL" -s "$SOCK" --json status)
/usr/bin/python3 -c 'import json, sys; j = json.loads(sys.argv[1]); \
sys.exit(0 if j["ok"] and j["plugins"][0]["name"] == "cloud" and "rows" in j["outbox"] else 1)' \
    "$json" || fail "status --json: $json"
# the delivery state, as status ids 101 (outbox rows), 102 (bytes), 103 (the age of the
# oldest) and 104 (dropped by the cap: none here) of ours
sim_ctl '{"cmd": "status_read", "dk": "ctl1", "ids": [101, 102, 103, 104]}' >/dev/null
wait_for "$WORK/sim.jsonl" '"dk":"ctl1".*"cmd_name":"STATUS_RSP".*"data":\{"101":[0-9]+,"102":[0-9]+,"103":[0-9]+,"104":0\}' 10
pass "status: human and --json; the delivery state as status 101..104"

start_bg events "$QTHINGCTL" -s "$SOCK" events -f
EV=$LAST_PID
sleep 0.5
sim_ctl '{"cmd": "pass_write", "dk": "ctl1", "text": "hi"}' >/dev/null
wait_for "$WORK/events.log" '^cloud +5,10200,\{"hex":"6869"\}$' 10
sim_ctl '{"cmd": "tsl_write", "dk": "ctl1", "data": {"7": 42}}' >/dev/null
wait_for "$WORK/events.log" '^cloud +5,10210,\{"7":42\}$' 10
pass "events -f: the seed's event,errcode,value lines with their domain"

# --- manual sends and Lua through the socket
[ "$("$QTHINGCTL" -s "$SOCK" send pass 'hi "2"')" = true ] || fail "send pass"
wait_for "$WORK/sim.jsonl" '"dk":"ctl1".*"cmd_name":"PASS_EVENT".*hi \\"2\\"' 10
wait_for "$WORK/events.log" '^cloud +4,10200$' 10
[ "$("$QTHINGCTL" -s "$SOCK" send tsl '{"5": 7, "6": "x", "8": [1, 2.5]}')" = true ] \
    || fail "send tsl"
wait_for "$WORK/sim.jsonl" '"dk":"ctl1".*"cmd_name":"TSL_EVENT".*"data":\{"5":7,"6":"x","8":\[1,2.5\]\}' 10
[ "$("$QTHINGCTL" -s "$SOCK" lua 'return quecIot.getWorkState(), 1 + 1')" = "$(printf '8\t2')" ] \
    || fail "lua: $("$QTHINGCTL" -s "$SOCK" lua 'return quecIot.getWorkState(), 1 + 1')"
rc=0
"$QTHINGCTL" -s "$SOCK" lua 'error("boom")' 2>"$WORK/boom.txt" || rc=$?
[ $rc -eq 1 ] && grep -q 'boom' "$WORK/boom.txt" || fail "a Lua error: exit $rc, $(cat "$WORK/boom.txt")"
rc=0
"$QTHINGCTL" -s "$SOCK" send tsl '{"x": 1}' 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "send tsl with a bad id: exit $rc"
pass "send pass, send tsl (reached the platform), lua (results; an error exits 1)"

[ "$("$QTHINGCTL" -s "$SOCK" reload)" = 'script reloaded' ] || fail "reload"
wait_for "$WORK/c.log" 'core: reload: the config is unchanged: reloading the Lua script' 5
# a broken config is refused, and the running agent goes on with the old one
cp "$WORK/c/agent.lua" "$WORK/agent.good"
echo 'cloud = { reconnect_min_ms = "soon" }' >>"$WORK/c/agent.lua"
rc=0
"$QTHINGCTL" -s "$SOCK" reload 2>"$WORK/reload-bad.txt" || rc=$?
[ $rc -eq 1 ] && grep -q 'cloud.reconnect_min_ms' "$WORK/reload-bad.txt" \
    || fail "a bad config's reload: exit $rc, $(cat "$WORK/reload-bad.txt")"
kill -0 "$C" || fail "the agent died on a refused reload"
grep -q 'core: reload refused, the running config and script stay' "$WORK/c.log" \
    || fail "the refused reload is not logged"
# a changed config: a clean stop and a start in place (same pid), online again
sed 's/reconnect_max_ms = 8000/reconnect_max_ms = 9000/' "$WORK/agent.good" >"$WORK/c/agent.lua"
[ "$("$QTHINGCTL" -s "$SOCK" reload)" = 'config changed: restarting in place' ] \
    || fail "reload of a changed config"
wait_for "$WORK/c.log" 'core: starting again with the new config' 10
wait_for "$WORK/c.log" 'lua: event 3/10200' 15 2
kill -0 "$C" || fail "the agent's pid changed"
wait_for "$WORK/c.log" "control: listening on $SOCK" 10 2
"$QTHINGCTL" -s "$SOCK" status | grep -q '^  cloud ' || fail "status after the restart in place"
stop_checked "$C" c
wait_for "$WORK/events.log" 'the agent closed the event stream' 5
forget_pid "$EV"
[ ! -e "$SOCK" ] || fail "the socket file is left after a clean stop"
rc=0
"$QTHINGCTL" -s "$SOCK" status 2>"$WORK/nostatus.txt" || rc=$?
[ $rc -eq 3 ] || fail "no agent: exit $rc, not 3"
grep -q 'cannot reach the agent at .*: No such file or directory' "$WORK/nostatus.txt" \
    || fail "no agent: $(cat "$WORK/nostatus.txt")"
pass "reload: the script alone, a bad config refused (the old one stays), a changed config restarts in place; the event stream and the socket end with the agent; no agent: exit 3"

# --- the outbox of an agent that cannot reach its server: the rows waiting, oldest first
cat >"$WORK/offline.lua" <<'LUA'
quecIot.init()
quecIot.setProductinfo("p1116a", "UHg1dTRBRVh3MkVG")
quecIot.setServer(1, "mqtt://127.0.0.1:1")
quecIot.setDkDs("off1", "")
quecIot.setConnmode(1)
for n = 1, 3 do print("queued " .. tostring(quecIot.phymodelReport(1, {[1] = n}))) end
LUA
AGENT_SCRIPT=$WORK/offline.lua start_agent o
O=$AGENT
wait_for "$WORK/o.log" 'lua: queued true' 10 3
out=$("$QTHINGCTL" -s "$WORK/o/data/qthingd.sock" outbox ls)
[ "$(grep -cE '^ +[0-9]+ +1 +[0-9]+  ' <<<"$out")" -eq 3 ] || fail "outbox ls: $out"
out=$("$QTHINGCTL" -s "$WORK/o/data/qthingd.sock" outbox ls 2)
[ "$(grep -cE '^ +[0-9]+ +1 ' <<<"$out")" -eq 2 ] || fail "outbox ls 2: $out"
out3=$("$QTHINGCTL" -s "$WORK/o/data/qthingd.sock" status)
grep -qE '^outbox: 3 rows, [0-9]+ bytes, the oldest [0-9]+ s old;' <<<"$out3" || fail "status rows: $out3"
second=$(grep -E '^ +[0-9]+ +1 ' <<<"$out" | sed -n 2p | awk '{print $1}')
[ "$("$QTHINGCTL" -s "$WORK/o/data/qthingd.sock" outbox drop "$second")" = "row $second dropped" ] \
    || fail "outbox drop"
out=$("$QTHINGCTL" -s "$WORK/o/data/qthingd.sock" outbox ls)
[ "$(grep -cE '^ +[0-9]+ +1 ' <<<"$out")" -eq 2 ] && ! grep -qE "^ +$second " <<<"$out" \
    || fail "row $second still listed: $out"
rc=0
"$QTHINGCTL" -s "$WORK/o/data/qthingd.sock" outbox drop "$second" 2>"$WORK/drop2.txt" || rc=$?
[ $rc -eq 1 ] && grep -q 'no such row' "$WORK/drop2.txt" || fail "dropping a row twice: exit $rc"
grep -q "core: outbox row $second dropped by the operator" "$WORK/o.log" || fail "drop not logged"
stop_checked "$O" o
pass "outbox ls: the 3 reports waiting while offline (ls 2: the oldest 2); outbox drop removes one (logged), a second drop: no such row"

# --- the delivery state while messages wait: an agent behind a proxy that loses the broker's
# PUBACKs (tests/fault/mqtt_ack_proxy.py) sends 24 passthrough messages of 60000 bytes with a
# 1 MiB outbox cap: the oldest are dropped to make room, the rest wait for their PUBACKs. The
# platform's status read gets what qthingctl status says: rows and bytes waiting, the age of
# the oldest, the rows dropped (24 put = those waiting + those dropped). The byte window
# (cloud.window_kib) is wide enough for all of them, so that the answer to the status read is
# not held behind rows whose PUBACKs never come.
: >"$WORK/lose"
PROXY_PORT=$(free_port)
start_bg proxy /usr/bin/python3 "$QTD_SOURCE_DIR/tests/fault/mqtt_ack_proxy.py" \
    "$PROXY_PORT" "$PORT" "$WORK/lose"
wait_for "$WORK/proxy.log" "listening on $PROXY_PORT" 10
AGENT_SERVER="mqtt://127.0.0.1:$PROXY_PORT" CLOUD_EXTRA='ack_timeout_s = 600, window_kib = 2048' \
    STORE='outbox_cap_mb = 1' start_agent w 'dk = "ctl2"' 'mode = "none"'
W=$AGENT
WSOCK=$WORK/w/data/qthingd.sock
wait_for "$WORK/w.log" 'lua: event 3/10200' 15
# what went out when it came online is acknowledged first: nothing waits before the 24
outbox_rows() { "$QTHINGCTL" -s "$WSOCK" status | grep -oE '^outbox: [0-9]+ rows' | grep -oE '[0-9]+'; }
for _ in $(seq 50); do [ "$(outbox_rows)" = 0 ] && break; sleep 0.1; done
[ "$(outbox_rows)" = 0 ] || fail "rows still waiting while acknowledgements flow"
echo puback >"$WORK/lose"
sent=$("$QTHINGCTL" -s "$WSOCK" lua 'local n = 0
for i = 1, 24 do
    if quecIot.passTransSend(1, string.rep(string.char(64 + i), 60000)) then n = n + 1 end
end
return n')
[ "$sent" = 24 ] || fail "passTransSend accepted $sent of 24"
wait_for "$WORK/w.log" 'outbox reached its cap of 1048576 bytes: dropped the [0-9]+ oldest rows' 10
wait_for "$WORK/proxy.log" 'dropped packet type 4' 10
# until the oldest has waited 2 s (a condition on the clock: the age is in whole seconds)
for _ in $(seq 50); do
    st=$("$QTHINGCTL" -s "$WSOCK" --json status)
    age=$(/usr/bin/python3 -c 'import json, sys; print(int(json.loads(sys.argv[1])["outbox"].get("oldest_age_s", 0)))' "$st")
    [ "$age" -ge 2 ] && break
    sleep 0.1
done
[ "$age" -ge 2 ] || fail "the oldest row is $age s old after 5 s"
sim_ctl '{"cmd": "status_read", "dk": "ctl2", "ids": [101, 102, 103, 104]}' >/dev/null
wait_for "$WORK/sim.jsonl" '"dk":"ctl2".*"cmd_name":"STATUS_RSP"' 10
after=$("$QTHINGCTL" -s "$WSOCK" --json status)
/usr/bin/python3 - "$(sim_frames ctl2 STATUS_RSP)" "$st" "$after" \
    "$("$QTHINGCTL" -s "$WSOCK" outbox ls 1000)" <<'PY' || fail "the delivery state reported is not the outbox's"
import json, sys
got = json.loads(sys.argv[1])
before, after = json.loads(sys.argv[2])["outbox"], json.loads(sys.argv[3])["outbox"]
# the passthrough rows still waiting: "id qos bytes topic" lines of 60000-odd bytes
waiting = sum(1 for line in sys.argv[4].splitlines()
              if len(line.split()) >= 3 and line.split()[2].isdigit()
              and 60000 <= int(line.split()[2]) < 60100)
print(f"status 101..104: {got}; qthingctl: {before} then {after}; {waiting} of 24 waiting")
assert got["104"] == before["dropped"] == after["dropped"] > 0, "104: the rows the cap dropped"
assert got["104"] + waiting == 24, "24 put = waiting + dropped"
assert before["rows"] <= got["101"] <= after["rows"] and got["101"] >= waiting, "101: rows"
assert before["bytes"] <= got["102"] <= after["bytes"] and got["102"] >= 60000 * waiting, "102"
assert before["oldest_age_s"] <= got["103"] <= after["oldest_age_s"] and got["103"] >= 2, "103"
PY
stop_checked "$W" w
pass "the delivery state with messages waiting: status 101..104 as qthingctl status has them (the oldest >= 2 s old, rows dropped by a 1 MiB cap)"
