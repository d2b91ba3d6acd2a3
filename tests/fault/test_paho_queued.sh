#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A connection that dies with publishes still queued inside Paho. Paho up to 1.3.13 never
# frees such a publish when the client is destroyed (eclipse/paho.mqtt.c#1474: the agent
# destroys a lost connection's client at the next connect). What must hold: nothing is lost,
# Paho's own heap check reaches the agent's log where the test harness reads it
# (stop_checked: paho_heap_check), and cloud.window_kib bounds what a dying connection can
# strand inside Paho.
# The fault: the agent reaches the broker through tests/fault/tcpproxy.py, whose sockets
# take about 128 KiB (SO_RCVBUF 65536, which Linux doubles); the script reports 200 values of
# 60 KB (12 MB, about three times what the agent's socket holds with tcp_wmem's 4 MiB) with a
# window of 256 messages; the proxy stops forwarding (black-hole) as soon as the agent is
# online, so the agent's socket fills; then the proxy resets the connection. All 200 values
# must reach the delivery witness after the reconnection, first arrivals in order. With
# cloud.window_kib at its maximum (64 MiB) the agent hands Paho more than the socket takes,
# Paho queues the rest, and its heap check at the stop names the queued publishes' copies and
# nothing else; with the default (256 KiB) Paho queues nothing: its heap check finds nothing.
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

# run_case NAME CLOUD_KEYS: the fault on agent NAME (device key NAME), its delivery counted by
# a witness (a persistent-session subscriber on its topic); the agent's stop sets
# PAHO_STRANDED (stop_checked: paho_heap_check).
run_case() {
    local name=$1
    start_witness "$name"
    local witness=$LAST_PID
    AGENT_SERVER="mqtt://127.0.0.1:$PPORT" CLOUD_EXTRA="window = 256, $2" start_agent "$name" \
        "dk = \"$name\"" 'mode = "seq"' "count = $N" 'period_ms = 2' 'pad = 60000'
    local a=$AGENT
    wait_for "$WORK/$name.log" 'lua: event 3/10200' 20
    kill -USR1 "$PROXY"
    wait_for "$WORK/$name.log" 'lua: seq done' 20
    sleep 1 # Paho writes what the socket takes and queues the rest
    kill -HUP "$PROXY"
    kill -USR2 "$PROXY"
    wait_for "$WORK/$name.log" 'lua: event 2/10474' 30
    wait_for "$WORK/$name.log" 'lua: event 3/10200' 30 2
    local result
    result=$(witness_count "$N" --wait 60) || fail "$name: $result"
    pass "$name: after the connection was reset under a full socket, the witness counts $result"
    stop_checked "$witness" witness
    stop_checked "$a" "$name" # last: its PAHO_STRANDED is the one that counts
}

run_case wide 'window_kib = 65536'
[ "$PAHO_STRANDED" -gt 0 ] \
    || fail "wide: Paho queued no publish: the fault was not made (see $WORK/wide.log)"
pass "wide: Paho's heap check reached the agent's log: $PAHO_STRANDED queued publishes' copies, nothing else"
run_case capped ''
[ "$PAHO_STRANDED" -eq 0 ] \
    || fail "capped: with window_kib at 256, Paho still stranded $PAHO_STRANDED publishes ($WORK/capped.log)"
grep -q 'cloud: Paho:' "$WORK/capped.log" && fail "capped: Paho reported something ($WORK/capped.log)"
pass "capped: with window_kib at 256 KiB Paho queued nothing, its heap check found nothing"
