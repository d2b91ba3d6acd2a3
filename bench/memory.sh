#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The idle agent's memory: four plugins (cloud, httpota, modbus, gnss, the last two with
# nothing to do), logged in to the simulator through mosquitto, SECONDS after start (default
# 5). From /proc/<pid>/smaps_rollup: RSS, PSS and the private anonymous memory (what this
# agent alone costs: heap, stacks, relocated data), with mosquitto's RSS in the same run as
# a yardstick, and the biggest mappings. Prints a table and key=value lines (for bench/run).
# Usage: bench/memory.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
WAIT_S=${1:-5}
BUILD=$(realpath "${BUILD:-build}")
cmake --build "$BUILD" -j "$(nproc)" --target qthingd qtd_cloud qtd_httpota qtd_modbus qtd_gnss \
    qthingd-sim qtd_mosq_auth >/dev/null
export QTHINGD=$BUILD/qthingd QTD_PLUGIN_DIR=$BUILD/plugins QTD_SOURCE_DIR=$PWD QTD_BUILD_DIR=$BUILD
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh
auto_registry
start_broker
SIM_EXTRA=--quiet start_sim
broker=$BROKER

HTTPOTA="" MODBUS="" GNSS="" start_agent idle 'dk = "memidle"'
wait_for "$WORK/idle.log" 'lua: event 3/10200' 30 >/dev/null
sleep "$WAIT_S"
roll() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/smaps_rollup"; }
rss=$(roll "$AGENT" Rss)
pss=$(roll "$AGENT" Pss)
anon=$(roll "$AGENT" Anonymous)
mosq=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$broker/status")
echo "idle agent (cloud, httpota, modbus, gnss), logged in, ${WAIT_S} s after start"
printf '%-44s %8s KiB\n' "RSS" "$rss" "PSS" "$pss" "private anonymous" "$anon" \
    "mosquitto's RSS (same run)" "$mosq"
echo "biggest mappings (RSS KiB):"
awk '/^[0-9a-f]+-/ {name = $6 == "" ? "[anonymous]" : $6} /^Rss:/ {r[name] += $2}
     END {for (n in r) print r[n], n}' "/proc/$AGENT/smaps" | sort -rn | head -8 | sed 's/^/  /'
kib_mib() { awk -v k="$1" 'BEGIN{printf "%.2f", k / 1024}'; }
echo "idle_rss_mib=$(kib_mib "$rss")"
echo "idle_pss_mib=$(kib_mib "$pss")"
echo "idle_private_mib=$(kib_mib "$anon")"
echo "mosquitto_rss_mib=$(kib_mib "$mosq")"
stop_checked "$AGENT" idle >/dev/null
