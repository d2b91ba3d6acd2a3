#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What the Modbus plugin costs, against one libmodbus TCP server (bench/modbus_baseline.c)
# in one run:
#  1. points polled per second: a tight libmodbus read loop over 10 000 holding registers
#     (reads of 125) for DURATION s, then the agent with the same 10 000 u16 points (two
#     slaves of 5 000, sub-devices) polled every 10 ms, so that its line never rests; its
#     rate is the server's answered requests x 125 over DURATION s. Goal: >= 0.8 x the loop.
#  2. the agent with the same points polled every 1 s: CPU (% of one core, /proc/<pid>/stat)
#     and RSS (VmRSS at the end, VmHWM) over DURATION s.
# Usage: bench/modbus.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
BUILD=$(realpath "${BUILD:-build}")
cmake --build "$BUILD" -j "$(nproc)" --target qthingd qtd_cloud qtd_modbus qthingd-sim \
    qtd_mosq_auth modbus_baseline >/dev/null
export QTHINGD=$BUILD/qthingd QTD_PLUGIN_DIR=$BUILD/plugins QTD_SOURCE_DIR=$PWD QTD_BUILD_DIR=$BUILD
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh
gateway_registry
start_broker
SIM_EXTRA=--quiet start_sim
MB_PORT=$(free_port)
start_bg mbserver stdbuf -oL "$BUILD/bench/modbus_baseline" server "$MB_PORT"
SERVER=$LAST_PID
wait_for "$WORK/mbserver.log" '^ready' 5 >&2

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
requests() { # the server's answered requests so far
    local n
    n=$(grep -c '^requests' "$WORK/mbserver.log" || true)
    kill -USR1 "$SERVER"
    wait_for "$WORK/mbserver.log" '^requests' 5 $((n + 1)) >&2
    grep '^requests' "$WORK/mbserver.log" | tail -1 | awk '{print $2}'
}

# agent NAME POLL_MS: the agent with 2 x 5 000 u16 points polled every POLL_MS, online
agent() {
    local slaves="" u
    for u in 1 2; do
        slaves="$slaves{ port = \"plc\", unit = $u, pk = \"psub01\", ps = \"c3ViZGV2aWNlc2VjcmV0\",
          dk = \"$1$u\", poll_ms = $2, points = (function() local t = {}
          for i = 1, 5000 do t[i] = { id = i, address = i - 1 } end return t end)() },"
    done
    MODBUS="ports = { { name = \"plc\", mode = \"tcp\", port = $MB_PORT } }, slaves = { $slaves }" \
        AGENT_SCRIPT=$PWD/tests/lua/modbus_it.lua start_agent "$1" "dk = \"g$1\""
    wait_for "$WORK/$1.log" "lua: sub event psub01 ${1}2 3/10200" 30 >&2
    sleep 2
}

# --- 1: points per second
base=$("$BUILD/bench/modbus_baseline" loop "$MB_PORT" "$DURATION" 10000 | awk '{print $2}')
agent fast 10
pid=$AGENT
r0=$(requests)
t0=$(cpu_ticks "$pid")
sleep "$DURATION"
r1=$(requests)
t1=$(cpu_ticks "$pid")
stop_checked "$pid" fast >&2
rate=$(awk -v a="$r0" -v b="$r1" -v s="$DURATION" 'BEGIN{printf "%.0f", (b - a) * 125 / s}')
cpu_fast=$(awk -v a="$t0" -v b="$t1" -v hz="$TICK" -v s="$DURATION" \
    'BEGIN{printf "%.1f", (b - a) / hz / s * 100}')

# --- 2: 10 000 points at 1 s
agent slow 1000
pid=$AGENT
t0=$(cpu_ticks "$pid")
sleep "$DURATION"
t1=$(cpu_ticks "$pid")
cpu_slow=$(awk -v a="$t0" -v b="$t1" -v hz="$TICK" -v s="$DURATION" \
    'BEGIN{printf "%.2f", (b - a) / hz / s * 100}')
rss=$(status_kb "$pid" VmRSS)
hwm=$(status_kb "$pid" VmHWM)
stop_checked "$pid" slow >&2

echo "Modbus TCP, 10 000 u16 points (2 slaves x 5 000, reads of 125), ${DURATION} s each"
printf '%-46s %12s\n' "tight libmodbus read loop, points/s" "$base"
printf '%-46s %12s   (agent CPU %s %% of one core)\n' "agent polling every 10 ms, points/s" \
    "$rate" "$cpu_fast"
awk -v a="$rate" -v b="$base" 'BEGIN{r = a / b; printf "%-46s %12.2f   goal >= 0.80: %s\n",
    "ratio", r, (r >= 0.8 ? "PASS" : "MISS")}'
printf '%-46s %12s\n' "agent polling every 1 s: CPU % of one core" "$cpu_slow"
printf '%-46s %12s\n' "agent polling every 1 s: RSS KiB (peak)" "$rss ($hwm)"
awk -v a="$rate" -v b="$base" 'BEGIN{printf "modbus_ratio=%.2f\nmodbus_points_s=%d\nmodbus_loop_points_s=%d\n", a / b, a, b}'
echo "modbus_cpu_1s_pct=$cpu_slow"
echo "modbus_rss_mib=$(awk -v k="$rss" 'BEGIN{printf "%.1f", k / 1024}')"
