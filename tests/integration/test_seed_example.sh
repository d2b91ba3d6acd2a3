#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The guide's section 5 example as shipped (config/seed-example.lua) runs as it is against
# the simulator: it registers, reports the guide's thing model once online (2 true, 3 123,
# 9 123.123, 4 [1, 2, 3], 6 {7 1.0, 8 1.0}) and runs its main task; and config/example.lua,
# what ./run.sh runs, echoes passthrough.
source "$(dirname "$0")/lib.sh"
auto_registry
start_broker
start_sim
mkdir -p "$WORK/s"
printf 'return { server = "mqtt://127.0.0.1:%s", dk = "seed1", period_ms = 500 }\n' "$PORT" \
    >"$WORK/s/site.lua"
AGENT_SCRIPT=$QTD_SOURCE_DIR/config/seed-example.lua start_agent s
S=$AGENT
wait_for "$WORK/s.log" 'lua: 21060101' 10
wait_for "$WORK/s.log" '^3，10200' 15
for want in '{"2": true}' '{"3": 123}' '{"9": 123.123}' '{"4": [1, 2, 3]}' '{"6": {"7": 1, "8": 1}}'; do
    # (the frames captured first: grep -q ending a pipe early would SIGPIPE the writer)
    for _ in $(seq 50); do grep -qxF "$want" <<<"$(sim_frames seed1 TSL_EVENT)" && break; sleep 0.1; done
    grep -qxF "$want" <<<"$(sim_frames seed1 TSL_EVENT)" || fail "the guide's report $want did not arrive"
done
wait_for "$WORK/s.log" 'lua: main task' 5
stop_checked "$S" s
pass "seed-example.lua: the guide's five reports, its main task"

mkdir -p "$WORK/e"
printf 'return { server = "mqtt://127.0.0.1:%s" }\n' "$PORT" >"$WORK/e/site.lua"
AGENT_SCRIPT=$QTD_SOURCE_DIR/config/example.lua start_agent e
E=$AGENT
wait_for "$WORK/e.log" 'lua: event 3/10200' 15
dk=$(grep -oE '"registered".*"dk":"[^"]+"' "$WORK/sim.jsonl" | tail -1 | grep -oE '"dk":"[^"]+"' | cut -d'"' -f4)
sim_ctl "{\"cmd\": \"pass_write\", \"dk\": \"$dk\", \"text\": \"ping\"}" >/dev/null
wait_for "$WORK/sim.jsonl" "\"dk\":\"$dk\".*\"cmd_name\":\"PASS_EVENT\".*echo: ping" 10
stop_checked "$E" e
pass "example.lua: online, passthrough echoed"
