#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Network cuts without root: the agent reaches the broker through tests/fault/tcpproxy.py
# while the script reports the sequence 1..N at mode 1. In a random order, 4 black-holes
# (nothing forwarded either way, sockets kept open) of 5-6.5 s, well over the agent's
# keepalive (lifetime 1 s), which the agent must notice by itself (event 2/10474) before
# the link comes back, and 4 resets (every
# connection closed with an RST). The persistent-session witness must have every value,
# first arrivals in order (duplicates allowed). FAULT_SEED replays a run's random moments.
source "$(dirname "$0")/fault_lib.sh"

N=${FAULT_N:-7000}
SEED=${FAULT_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
echo "seed $SEED: $N values"

cat >"$WORK/registry.json" <<'JSON'
{"products": [{"pk": "p1116a", "ps": "UHg1dTRBRVh3MkVG", "devices": []}],
 "auto_register": true}
JSON
start_broker
start_sim
start_witness cut1
started=$SECONDS

PPORT=$(free_port)
start_bg proxy /usr/bin/python3 "$(dirname "$0")/tcpproxy.py" --listen "$PPORT" \
    --to "127.0.0.1:$PORT"
PROXY=$LAST_PID
wait_for "$WORK/proxy.log" '^listening' 10

AGENT_SERVER="mqtt://127.0.0.1:$PPORT" start_agent agent 'dk = "cut1"' 'mode = "seq"' \
    "count = $N" 'period_ms = 10' 'lifetime = 1'
wait_for "$WORK/agent.log" 'lua: seq durable 20$' 20

# connections: the agent's "connected" events so far.
connections() { grep -cE 'lua: event 3/10200' "$WORK/agent.log" || true; }
# losses: the agent's "disconnected" events so far; lost_at K: the time (ms) of the K-th.
lost_count() { grep -cE 'lua: event 2/10474' "$WORK/agent.log" || true; }
lost_at() {
    local ts
    ts=$(grep -E 'lua: event 2/10474' "$WORK/agent.log" | sed -n "${1}p" | awk '{print $1}')
    date -d "$ts" +%s%3N
}

faults=$(printf '%s\n' hole hole hole hole reset reset reset reset \
    | while read -r f; do echo "$RANDOM $f"; done | sort -n | awk '{print $2}')
holes=0 resets=0
for f in $faults; do
    witness_warm
    pause_ms 300 1800   # streaming online for a while
    conns=$(connections) lost=$(lost_count)
    if [ "$f" = hole ]; then
        holes=$((holes + 1))
        kill -USR1 "$PROXY"
        wait_for "$WORK/proxy.log" '^blackhole on' 5 "$holes"
        cut_ms=$(date +%s%3N) at=$(last_durable agent)
        pause_ms 5000 6500  # the cut itself
        [ "$(lost_count)" -gt "$lost" ] \
            || fail "black-hole $holes: the agent did not notice a cut longer than its keepalive"
        rows=$(outbox_rows agent)
        kill -USR2 "$PROXY"
        wait_for "$WORK/proxy.log" '^blackhole off' 5 "$holes"
        noticed=$(($(lost_at $((lost + 1))) - cut_ms))
        echo "black-hole $holes at value $at: noticed after $noticed ms," \
            "lasted $(($(date +%s%3N) - cut_ms)) ms, $rows rows waiting at its end"
    else
        resets=$((resets + 1))
        kill -HUP "$PROXY"
        wait_for "$WORK/proxy.log" '^reset' 5 "$resets"
        echo "reset $resets at value $(last_durable agent)"
    fi
    wait_for "$WORK/agent.log" 'lua: event 3/10200' 30 $((conns + 1))   # back online
done

[ "$(last_durable agent)" -lt "$N" ] || echo "note: the stream ended before the last fault"
wait_for "$WORK/agent.log" 'lua: seq done' $(( (N - $(last_durable agent)) * 10 / 1000 + 60 ))
wait_outbox_empty agent 30
t0=$SECONDS
result=$(witness_count "$N" --wait 30) \
    || fail "after $holes black-holes and $resets resets: $result"
echo "$result (verdict in $((SECONDS - t0)) s)"
stop_checked "$AGENT" agent
pass "$holes black-holes of 5-6.5 s (keepalive 1 s) and $resets resets in" \
    "$((SECONDS - started)) s, $(grep -c '^accepted' "$WORK/proxy.log") connections"
