#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Crash faults: the script reports the sequence 1..N at mode 1 while the agent is killed
# with SIGKILL at random moments (FAULT_KILLS times, restarted each time on the same data
# dir, going on after the last value it committed), with broker restarts (mosquitto
# stopped for a random while, sessions kept) and simulator restarts mixed in. The
# persistent-session witness must have every value, first arrivals in order (duplicates
# allowed). FAULT_SEED replays a run's random moments.
source "$(dirname "$0")/fault_lib.sh"

N=${FAULT_N:-2500}
KILLS=${FAULT_KILLS:-22}
SEED=${FAULT_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
echo "seed $SEED: $N values, $KILLS kills"
PARAMS=('dk = "crash1"' 'mode = "seq"' "count = $N" 'period_ms = 15')

cat >"$WORK/registry.json" <<'JSON'
{"products": [{"pk": "p1116a", "ps": "UHg1dTRBRVh3MkVG", "devices": []}],
 "auto_register": true}
JSON
start_broker
start_sim
start_witness crash1
started=$SECONDS

start_agent agent "${PARAMS[@]}"
wait_for "$WORK/agent.log" 'lua: seq durable 20$' 20   # registered: the DS is on disk

broker_at=" 4 11 17 "   # before these kills the broker is restarted
sim_at=" 7 14 "         # and before these the simulator
for k in $(seq "$KILLS"); do
    [ $((k % 4)) -ne 0 ] || witness_warm
    pause_ms 200 2500
    if [[ $broker_at == *" $k "* ]]; then
        kill -TERM "$BROKER"; wait_exit "$BROKER" 10; forget_pid "$BROKER"
        pause_ms 300 3000   # the agent queues meanwhile; this kill lands while offline
        restart_agent agent "${PARAMS[@]}"
        pause_ms 0 1000
        start_broker
        echo "kill $k: with the broker down (at value $(last_durable agent))"
        continue
    fi
    if [[ $sim_at == *" $k "* ]]; then
        restart_sim
    fi
    restart_agent agent "${PARAMS[@]}"
    echo "kill $k at value $(last_durable agent)"
done

# The last run goes to N; then everything it sent must be acknowledged and witnessed.
last=$(last_durable agent)
wait_for "$WORK/agent.log" 'lua: seq done' $(( (N - last) * 15 / 1000 + 60 ))
wait_outbox_empty agent 30
t0=$SECONDS
result=$(witness_count "$N" --wait 30) || fail "after $KILLS kills: $result"
echo "$result (verdict in $((SECONDS - t0)) s)"
stop_checked "$AGENT" agent
! grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK"/agent-run*.log \
    || fail "a killed agent had a sanitizer report first"
! grep -E 'Error saving' "$WORK"/mosquitto-*.log || fail "the broker did not save its sessions"
[ "$(grep -c 'received CONNACK' "$WORK/witness.log")" -ge 4 ] \
    || fail "the witness did not come back after each broker restart"
queued=$(cat "$WORK"/agent*.log | grep -cE 'lua: seq queued' || true)
pass "$KILLS kills -9, 3 broker and 2 simulator restarts in $((SECONDS - started)) s" \
    "($queued reports queued for $N values)"
