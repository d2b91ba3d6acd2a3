#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The platform simulator keeps a persistent session, as a platform does: a device streams
# reports while the simulator is stopped and started again, and every report the broker
# acknowledged in between reaches the simulator's log when it is back (none is lost to a
# clean session, which made counts at the simulator look like losses).
source "$(dirname "$0")/lib.sh"

auto_registry
start_broker
start_sim
start_agent a 'dk = "simre1"' 'mode = "stream"' 'count = 300' 'period_ms = 20'
A=$AGENT
wait_for "$WORK/a.log" 'lua: stream sent 50' 20
stop_checked "$SIMPID" sim
mv "$WORK/sim.log" "$WORK/sim-first.log"
wait_for "$WORK/a.log" 'lua: stream sent 150' 20 # acknowledged by the broker, no platform
start_sim
wait_for "$WORK/a.log" 'lua: stream done' 30
/usr/bin/python3 - "$WORK/sim.jsonl" <<'PY' || fail "the simulator's log misses reports"
import json, sys
seen = set()
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    if e.get("dk") == "simre1" and e.get("cmd_name") == "TSL_EVENT" and e.get("dir") == "up":
        seen.add(e["data"]["9"])
missing = sorted(set(range(1, 301)) - seen)
print(f"simulator log: {len(seen)} of 300 reports, missing {missing[:10]}")
sys.exit(1 if missing else 0)
PY
pass "simulator restart mid-stream: all 300 reports reach its log"
