#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A connection that dies with publishes still queued inside Paho. Paho up to 1.3.13 never
# frees such a publish when the client is destroyed (eclipse/paho.mqtt.c#1474: the agent
# destroys a lost connection's client at the next connect), so the leak is there; what
# must hold is that nothing is lost and that Paho's own heap check reaches the agent's log
# where the test harness can read it (stop_checked: paho_heap_check).
# Made certain here: the agent reaches the broker through tests/fault/tcpproxy.py, whose
# sockets take 64 KiB; the script streams 200 reports of 60 KB (12 MB, about three times
# what the agent's socket holds with tcp_wmem's 4 MiB) with a window of 256; the proxy stops
# forwarding (black-hole) as soon as the agent is online, so the agent's socket fills and
# Paho queues what it cannot write; then the proxy resets the connection. All 200 values
# must reach the simulator after the reconnection, and the agent's log at the stop must hold
# Paho's heap check naming only the queued publishes' copies.
source "$(dirname "$0")/fault_lib.sh"
N=200
auto_registry
start_broker
start_sim
PPORT=$(free_port)
start_bg proxy /usr/bin/python3 "$(dirname "$0")/tcpproxy.py" --listen "$PPORT" \
    --to "127.0.0.1:$PORT" --rcvbuf 65536
PROXY=$LAST_PID
wait_for "$WORK/proxy.log" '^listening' 10
AGENT_SERVER="mqtt://127.0.0.1:$PPORT" CLOUD_EXTRA='window = 256' start_agent q \
    'dk = "queued1"' 'mode = "stream"' "count = $N" 'period_ms = 2' 'pad = 60000'
A=$AGENT
wait_for "$WORK/q.log" 'lua: event 3/10200' 20
kill -USR1 "$PROXY"
wait_for "$WORK/q.log" 'lua: stream done' 20
sleep 1 # Paho writes what the socket takes and queues the rest
kill -HUP "$PROXY"
kill -USR2 "$PROXY"
wait_for "$WORK/q.log" 'lua: event 2/10474' 30
wait_for "$WORK/q.log" 'lua: event 3/10200' 30 2
got=$(/usr/bin/python3 - "$WORK/sim.jsonl" "$N" <<'PY'
import json, sys, time
n = int(sys.argv[2])
deadline = time.time() + 60
while True:
    seen = set()
    for line in open(sys.argv[1]):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("dir") == "up" and e.get("dk") == "queued1" and e.get("cmd_name") == "TSL_EVENT":
            seen.add(e.get("data", {}).get("9"))
    if set(range(1, n + 1)) <= seen or time.time() > deadline:
        break
    time.sleep(0.5)
print(len(set(range(1, n + 1)) & seen))
PY
)
[ "$got" -eq "$N" ] || fail "the simulator has $got of the $N values"
pass "all $N values delivered after the connection was reset under a full socket"
stop_checked "$A" q
heap=$(paho_heap_check "$WORK/q.log")
[[ $heap =~ note:\ Paho\ dropped\ ([0-9]+)\ queued ]] \
    || fail "no queued publish was dropped by Paho: the fault was not made (see $WORK/q.log)"
pass "Paho's heap check reached the agent's log: ${BASH_REMATCH[1]} queued publishes' copies, nothing else"
