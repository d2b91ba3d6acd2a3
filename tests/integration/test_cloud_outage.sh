#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Store and forward: the script reports 1000 values at mode 1, one every 30 ms. The broker
# is stopped for 30 s mid-stream and started again: the platform must receive all 1000,
# in order (first arrivals), none lost. Then the same with the agent killed with SIGKILL
# mid-stream and restarted (the new run continues where the script's last accepted report
# was). Prints the agent's RSS after the replay.
source "$(dirname "$0")/lib.sh"

auto_registry
start_broker
start_sim

# check_stream DK: the sim received values 1..1000 of id 9, first arrivals in order.
check_stream() {
    sim_frames "$1" TSL_EVENT | /usr/bin/python3 -c '
import json, sys
seen, order, dups = set(), [], 0
for line in sys.stdin:
    v = json.loads(line)["9"]
    if v in seen:
        dups += 1
    else:
        seen.add(v); order.append(v)
missing = sorted(set(range(1, 1001)) - seen)
assert not missing, "missing %d values, first %s" % (len(missing), missing[:10])
assert order == sorted(order), "out of order"
print("1000 values in order, %d duplicates" % dups)
'
}

# --- broker down for 30 s mid-stream
start_agent s1 'dk = "stream1"' 'mode = "stream"' 'count = 1000' 'period_ms = 30'
A=$AGENT
wait_for "$WORK/s1.log" 'lua: stream sent 150$' 20
kill -TERM "$BROKER"; wait_exit "$BROKER" 10
down_at=$SECONDS
wait_for "$WORK/s1.log" 'cloud: connection lost|lua: event 2/10474' 10
sleep $((30 - (SECONDS - down_at)))
rows=$(sqlite3 "$WORK/s1/data/qthingd.db" 'select count(*) from outbox')
[ "$rows" -gt 500 ] || fail "only $rows rows waiting in the outbox after 30 s offline"
start_broker
wait_for "$WORK/s1.log" 'lua: stream done' 60
wait_for "$WORK/sim.jsonl" '"9":1000[,}]' 120
result=$(check_stream stream1) || fail "broker outage: $result"
pass "broker stopped 30 s ($rows rows waited on disk): $result"
wait_for "$WORK/s1.log" 'lua: event 4/10210' 5
for _ in $(seq 50); do
    [ "$(sqlite3 "$WORK/s1/data/qthingd.db" 'select count(*) from outbox')" -eq 0 ] && break
    sleep 0.2
done
[ "$(sqlite3 "$WORK/s1/data/qthingd.db" 'select count(*) from outbox')" -eq 0 ] \
    || fail "outbox not empty after the replay"
rss=$(awk '/VmRSS/ {print $2}' "/proc/$A/status")
echo "agent RSS after the 1000-message replay: $rss KiB"
kill -TERM "$A"; wait_exit "$A" 10

# --- agent killed with SIGKILL mid-stream, restarted
start_agent s2 'dk = "stream2"' 'mode = "stream"' 'count = 1000' 'period_ms = 10'
A=$AGENT
wait_for "$WORK/s2.log" 'lua: stream sent 400$' 20
kill -KILL "$A"; wait_exit "$A" 5
last=$(grep -oE 'lua: stream sent [0-9]+$' "$WORK/s2.log" | tail -1 | awk '{print $4}')
mv "$WORK/s2.log" "$WORK/s2-killed.log"
start_agent s2 'dk = "stream2"' 'mode = "stream"' 'count = 1000' 'period_ms = 10' "first = $((last + 1))"
A=$AGENT
wait_for "$WORK/s2.log" 'lua: stream done' 30
wait_for "$WORK/sim.jsonl" '"9":1000[,}]' 60
result=$(check_stream stream2) || fail "kill -9: $result"
pass "agent killed at value $last and restarted: $result"
kill -TERM "$A"; wait_exit "$A" 10
[ "$EXIT_RC" -eq 0 ] || fail "agent exit $EXIT_RC"
