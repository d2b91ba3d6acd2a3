#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Mode-1 thing-model reports per second through the agent (Lua -> outbox -> Paho -> PUBACK)
# against a raw Paho client publishing the same frames to the same broker in the same run.
# Prints both rates, their ratio, and the agent's peak RSS. Usage: bench/cloud.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-20000}
WINDOW=64
BUILD=$(realpath "${BUILD:-build}")
cmake --build "$BUILD" -j "$(nproc)" --target qthingd qtd_cloud paho_baseline >/dev/null
# shellcheck source=bench/lib.sh
source bench/lib.sh
plain_broker qtd-bench

# The frame the agent sends for {1: true, 2: 25, 3: 12.5, 4: "hi"} (pkgid varies; size same).
FRAME=aaaa0015de00010014000900120019001a087d002300026869
TOPIC=q/2/d/qdp1116abench/bus
# baseline NAME: raw Paho's rate (msg/s), its CPU times in $WORK/NAME.time
baseline() {
    /usr/bin/time -f "%U %S" -o "$WORK/$1.time" "$BUILD/bench/paho_baseline" \
        "tcp://127.0.0.1:$PORT" qdp1116abase "$TOPIC" "$COUNT" "$WINDOW" "$FRAME"
}
base=$(baseline base)
tuned=$(PAHO_TRACE_ERROR=1 baseline tuned) # Paho's trace level at ERROR, as the agent sets it

sed "s/BENCH_COUNT or 20000/$COUNT/" bench/cloud_bench.lua >"$WORK/bench.lua"
cloud_agent_config "$WINDOW"
sed -i "1i quecIot.init(); quecIot.setProductinfo('p1116a', 'UHg1dTRBRVh3MkVG'); quecIot.setServer(1, 'mqtt://127.0.0.1:$PORT'); quecIot.setDkDs('bench', '0123456789abcdef0123456789abcdef')" "$WORK/bench.lua"
/usr/bin/time -v "$BUILD/qthingd" -c "$WORK/agent.lua" >"$WORK/agent.log" 2>&1 &
AGENT=$!
PIDS+=($AGENT)
for _ in $(seq 600); do
    grep -q 'bench: done' "$WORK/agent.log" && break
    sleep 0.1
done
grep -q 'bench: done' "$WORK/agent.log" || { tail -20 "$WORK/agent.log"; echo "agent did not finish"; exit 1; }
kill -TERM "$(pgrep -P $AGENT qthingd || echo $AGENT)" 2>/dev/null || true
wait $AGENT || true
ts() { grep "$1" "$WORK/agent.log" | head -1 | cut -c12-23 | awk -F: '{print $1*3600+$2*60+$3}'; }
t0=$(ts 'bench: start'); t1=$(ts 'bench: done')
agent=$(awk -v n="$COUNT" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", n/(b-a)}')
rss=$(grep 'Maximum resident' "$WORK/agent.log" | awk '{print $NF}')
echo "mode-1 reports, $COUNT messages, window $WINDOW, loopback mosquitto"
echo "raw Paho:  $base msg/s ($tuned msg/s with its trace level at ERROR, as the agent sets it)"
echo "qthingd:   $agent msg/s (Lua call -> SQLite outbox -> Paho -> PUBACK -> delete -> 4/10210 to Lua)"
awk -v a="$agent" -v b="$base" 'BEGIN{printf "ratio:     %.2f (qthingd / raw Paho)\n", a/b}'
echo "qthingd peak RSS: ${rss} KiB"
# CPU per message (user + system, whole process: start-up and the Lua calls included)
cpu() { awk -v n="$COUNT" '{printf "%.1f", ($1 + $2) * 1e6 / n}' "$1"; }
ucpu=$(grep -E "^\s*(User|System) time" "$WORK/agent.log" | awk '{s += $NF} END {print s, 0}' >"$WORK/agent.time"; cpu "$WORK/agent.time")
echo "CPU per message: raw Paho $(cpu "$WORK/base.time") us ($(cpu "$WORK/tuned.time") us at ERROR), qthingd $ucpu us"
echo "cloud_ratio=$(awk -v a="$agent" -v b="$base" 'BEGIN{printf "%.2f", a / b}')"
echo "cloud_msgs=$agent"
echo "paho_msgs=$base"
echo "cloud_cpu_us=$ucpu"
echo "paho_cpu_us=$(cpu "$WORK/base.time")"
echo "cloud_tuned_ratio=$(awk -v a="$agent" -v b="$tuned" 'BEGIN{printf "%.2f", a / b}')"
echo "paho_tuned_msgs=$tuned"
echo "paho_tuned_cpu_us=$(cpu "$WORK/tuned.time")"
