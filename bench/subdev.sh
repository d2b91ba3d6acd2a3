#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What sub-devices cost a gateway: the agent with N sub-devices (default 1000) behind it,
# each reporting every 10 s, against the same agent with none, in the same run, against the
# same mosquitto and simulator. Over DURATION seconds (default 60) once every sub-device is
# online, prints each agent's CPU (% of one core, from /proc/<pid>/stat) and RSS (VmRSS at
# the end, VmHWM), and the differences (goal: <= 5 % of one core, <= 8 MiB).
# Usage: bench/subdev.sh [N [DURATION]]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
DURATION=${2:-60}
BUILD=$(realpath "${BUILD:-build}")
cmake --build "$BUILD" -j "$(nproc)" --target qthingd qtd_cloud qthingd-sim qtd_mosq_auth >/dev/null
export QTHINGD=$BUILD/qthingd QTD_PLUGIN_DIR=$BUILD/plugins QTD_SOURCE_DIR=$PWD QTD_BUILD_DIR=$BUILD
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh
gateway_registry
start_broker
SIM_EXTRA=--quiet start_sim

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# measure NAME SUBS: start the agent with SUBS sub-devices, wait until all are online, then
# prints "<cpu % of one core> <VmRSS KiB> <VmHWM KiB>" over DURATION seconds
measure() {
    local name=$1 subs=$2
    AGENT_SCRIPT=$PWD/tests/lua/subdev_it.lua start_agent "$name" "dk = \"b$name\"" \
        'quiet = true' "seq = { count = 1000000, every_ms = 10000 }" \
        "subs = (function() local t = {} for i = 1, $subs do t[i] = { pk = \"psub01\",
          ps = \"c3ViZGV2aWNlc2VjcmV0\", dk = \"$name\" .. i, keepalive = 60 } end
          return t end)()"
    local pid=$AGENT
    wait_for "$WORK/$name.log" 'lua: event 3/10200' 30 >&2
    local t_start=$SECONDS st="" _
    if [ "$subs" -gt 0 ]; then # all online, as the agent counts them (each once)
        for _ in $(seq 1800); do
            st=$("$BUILD/qthingctl" -s "$WORK/$name/data/qthingd.sock" status 2>/dev/null || true)
            [[ "$st" != *" $subs of $subs sub-devices online"* ]] || break
            sleep 0.5
        done
        [[ "$st" == *" $subs of $subs sub-devices online"* ]] \
            || { echo "not all $subs sub-devices online after 900 s" >&2; exit 1; }
    fi
    echo "$((SECONDS - t_start))" >"$WORK/$name.online_s"
    sleep 2
    local t0 t1
    t0=$(cpu_ticks "$pid")
    sleep "$DURATION"
    t1=$(cpu_ticks "$pid")
    echo "$(awk -v a="$t0" -v b="$t1" -v hz="$TICK" -v s="$DURATION" \
        'BEGIN{printf "%.2f", (b - a) / hz / s * 100}') $(status_kb "$pid" VmRSS) \
        $(status_kb "$pid" VmHWM)"
    stop_checked "$pid" "$name" >&2
}

# (not through "< <(measure ...)": the stop at its end would still run in that subshell
# while this shell goes on and, done, removes $WORK with the agent's log)
measure none 0 >"$WORK/none.m"
measure many "$N" >"$WORK/many.m"
read -r cpu0 rss0 hwm0 <"$WORK/none.m"
read -r cpu1 rss1 hwm1 <"$WORK/many.m"
reports=$(grep -c '"cmd_name":"TSL_EVENT"' "$WORK/sim.jsonl" || true)
echo "gateway with 0 and with $N sub-devices (each reporting every 10 s), ${DURATION} s each"
printf '%-22s %8s %10s %10s\n' "" "CPU %" "RSS KiB" "peak KiB"
printf '%-22s %8s %10s %10s\n' "0 sub-devices" "$cpu0" "$rss0" "$hwm0"
printf '%-22s %8s %10s %10s\n' "$N sub-devices" "$cpu1" "$rss1" "$hwm1"
awk -v a="$cpu0" -v b="$cpu1" -v r0="$rss0" -v r1="$rss1" -v h0="$hwm0" -v h1="$hwm1" \
    'BEGIN{printf "difference: %.2f %% of one core, %.1f MiB RSS, %.1f MiB peak\n", b - a, (r1 - r0) / 1024, (h1 - h0) / 1024}'
echo "reports the simulator logged: $reports"
echo "all $N sub-devices online after: $(cat "$WORK/many.online_s") s (the gateway online first)"
awk -v a="$cpu0" -v b="$cpu1" -v r0="$rss0" -v r1="$rss1" 'BEGIN{printf "subdev_cpu_pct=%.2f\nsubdev_rss_mib=%.1f\n", b - a, (r1 - r0) / 1024}'
echo "subdev_online_s=$(cat "$WORK/many.online_s")"
