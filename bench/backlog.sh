#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A big backlog: N messages (default 1 000 000) waiting in the outbox when the agent starts,
# as after a long time offline. Measures, in one run against one loopback mosquitto:
#   - the start: from exec to the script's first line (the store opened, plugins started) and
#     to online (3/10200), with the N-row database;
#   - the drain: messages/s from online to the last acknowledgement (4/10210 counted by the
#     script), against raw Paho's live rate (bench/paho_baseline, same frames, same window);
#   - the memory while draining: VmRSS sampled every 0.2 s (max, and its spread after the
#     first second: flat means no growth with the backlog);
#   - the loop: its longest turn and the turns over 50 ms (qthingctl status).
# The backlog is written straight into the agent's database with sqlite3 (the same frame N
# times) after a first short run has made the database and stored the identity.
# Prints a table and key=value lines (for bench/run). Usage: bench/backlog.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
WINDOW=64
BUILD=$(realpath "${BUILD:-build}")
cmake --build "$BUILD" -j "$(nproc)" --target qthingd qthingctl qtd_cloud paho_baseline >/dev/null
command -v sqlite3 >/dev/null || { echo "sqlite3 not installed (apt-get install sqlite3)"; exit 1; }
# shellcheck source=bench/lib.sh
source bench/lib.sh
plain_broker qtd-backlog

FRAME=aaaa0015de00010014000900120019001a087d002300026869
TOPIC=q/2/d/qdp1116abacklog/bus
cat >"$WORK/bench.lua" <<LUA
quecIot.init()
quecIot.setProductinfo('p1116a', 'UHg1dTRBRVh3MkVG')
quecIot.setServer(1, 'mqtt://127.0.0.1:$PORT')
quecIot.setDkDs('backlog', '0123456789abcdef0123456789abcdef')
agent.log.info('bench: script')
local want = $N
local acked = 0
quecIot.setEventCB(function(ev)
    if ev[1] == 3 and ev[2] == 10200 then
        agent.log.info('bench: online')
    elseif ev[1] == 4 and ev[2] == 10210 then
        acked = acked + 1
        if acked == want then agent.log.info('bench: drained ', acked) end
    end
end)
quecIot.setConnmode(1)
LUA
cloud_agent_config "$WINDOW"
# the first run: the database, the identity
"$BUILD/qthingd" -c "$WORK/agent.lua" >"$WORK/first.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    grep -q 'bench: online' "$WORK/first.log" && break
    sleep 0.1
done
kill -TERM "$pid"
wait "$pid" || true
grep -q 'bench: online' "$WORK/first.log" || { tail "$WORK/first.log"; exit 1; }
sqlite3 "$WORK/data/qthingd.db" "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c
    WHERE x < $N) INSERT INTO outbox (created, topic, qos, payload)
    SELECT strftime('%s'), 'bus', 1, x'$FRAME' FROM c; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
db_mib=$(du -m "$WORK/data/qthingd.db" | cut -f1)

base=$("$BUILD/bench/paho_baseline" "tcp://127.0.0.1:$PORT" qdp1116abase "$TOPIC" 200000 \
    "$WINDOW" "$FRAME")

sync
t_exec=$(date +%s.%N)
"$BUILD/qthingd" -c "$WORK/agent.lua" >"$WORK/agent.log" 2>&1 &
AGENT=$!
PIDS+=($AGENT)
: >"$WORK/rss"
for _ in $(seq 3000); do
    awk '$1 == "VmRSS:" {print $2}' "/proc/$AGENT/status" >>"$WORK/rss" 2>/dev/null || break
    grep -q 'bench: drained' "$WORK/agent.log" && break
    sleep 0.2
done
grep -q 'bench: drained' "$WORK/agent.log" || { tail -20 "$WORK/agent.log"; echo "not drained"; exit 1; }
status=$("$BUILD/qthingctl" -s "$WORK/data/qthingd.sock" --json status)
kill -TERM "$AGENT"
wait "$AGENT" || true

ts() { grep -m1 "$1" "$WORK/agent.log" | cut -c12-23 | awk -F: '{printf "%.3f", $1 * 3600 + $2 * 60 + $3}'; }
exec_s=$(date -u -d "@$t_exec" +%H:%M:%S.%N | awk -F: '{printf "%.3f", $1 * 3600 + $2 * 60 + $3}')
t_script=$(ts 'bench: script')
t_online=$(ts 'bench: online')
t_done=$(ts 'bench: drained')
start_ms=$(awk -v a="$exec_s" -v b="$t_script" 'BEGIN{printf "%.0f", (b - a) * 1000}')
online_ms=$(awk -v a="$exec_s" -v b="$t_online" 'BEGIN{printf "%.0f", (b - a) * 1000}')
rate=$(awk -v n="$N" -v a="$t_online" -v b="$t_done" 'BEGIN{printf "%.0f", n / (b - a)}')
ratio=$(awk -v a="$rate" -v b="$base" 'BEGIN{printf "%.2f", a / b}')
# RSS: the peak, and its spread once draining (after the first second's 5 samples)
rss_max=$(sort -n "$WORK/rss" | tail -1)
rss_spread=$(tail -n +6 "$WORK/rss" | sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {print hi - lo}')
turn_max=$(echo "$status" | grep -o '"turn_max_ms":[0-9.e+-]*' | cut -d: -f2)
turn_max=$(awk -v t="$turn_max" 'BEGIN{printf "%.1f", t}')
slow=$(echo "$status" | grep -o '"turns_over_50ms":[0-9]*' | cut -d: -f2)

printf 'backlog of %d messages (database %s MiB), window %d, loopback mosquitto\n' "$N" "$db_mib" "$WINDOW"
printf '%-52s %12s\n' "start to the script's first line, ms" "$start_ms" \
    "start to online (3/10200), ms" "$online_ms" \
    "raw Paho live rate, msg/s" "$base" \
    "backlog drain through the agent, msg/s" "$rate" \
    "drain / raw Paho" "$ratio" \
    "RSS while draining, peak KiB" "$rss_max" \
    "RSS spread after the first second, KiB" "$rss_spread" \
    "longest loop turn, ms" "$turn_max" \
    "loop turns over 50 ms" "$slow"
echo "backlog_start_ms=$start_ms"
echo "backlog_online_ms=$online_ms"
echo "backlog_drain_ratio=$ratio"
echo "backlog_drain_msgs=$rate"
echo "backlog_paho_msgs=$base"
echo "backlog_rss_mib=$(awk -v k="$rss_max" 'BEGIN{printf "%.1f", k / 1024}')"
echo "backlog_rss_spread_mib=$(awk -v k="$rss_spread" 'BEGIN{printf "%.1f", k / 1024}')"
echo "backlog_turn_max_ms=$turn_max"
echo "backlog_turns_over_50ms=$slow"
