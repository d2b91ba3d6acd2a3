# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared by the benchmarks: times taken from the agents' log lines and order statistics
# (bench/start.sh and bench/fleet.sh, after tests/integration/lib.sh), and a plain broker
# (bench/cloud.sh and bench/backlog.sh, alone).

# log_epoch LINE: the wall-clock time of an agent log line ("2026-11-30T12:08:10.250Z ...",
# UTC) in seconds since the epoch, with milliseconds.
log_epoch() {
    date -u -d "${1:0:24}" +%s.%3N
}

# ms_between T0 T1: whole milliseconds from T0 to T1 (seconds since the epoch, fractional).
ms_between() {
    awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f\n", (b - a) * 1000}'
}

# percentiles FILE: "min p50 p95 max" of the numbers in FILE, one a line (nearest rank).
percentiles() {
    sort -n "$1" | awk '{v[NR] = $1}
        function rank(p) { r = int(p * NR + 0.999999); return v[r < 1 ? 1 : r] }
        END {print v[1], rank(0.5), rank(0.95), v[NR]}'
}

# plain_broker NAME: a work dir $WORK (/tmp/NAME.XXXXXX, removed at exit unless KEEP is set),
# the processes in PIDS stopped at exit, and an anonymous mosquitto without limits on
# 127.0.0.1:$PORT, for the benchmarks that measure MQTT itself.
plain_broker() {
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    PIDS=()
    trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
          [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
    PORT=$((20000 + RANDOM % 20000))
    cat >"$WORK/mosq.conf" <<CFG
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 0
max_queued_messages 0
CFG
    mosquitto -c "$WORK/mosq.conf" >"$WORK/mosq.log" 2>&1 &
    PIDS+=($!)
    sleep 0.3
}

# cloud_agent_config WINDOW: $WORK/agent.lua for the cloud plugin alone, running
# $WORK/bench.lua (no instruction limit to speak of) with an in-flight window of WINDOW.
cloud_agent_config() {
    cat >"$WORK/agent.lua" <<CFG
agent = { data_dir = "$WORK/data", plugin_dir = "$BUILD/plugins" }
lua = { script = "$WORK/bench.lua", instruction_limit = 1000000000 }
plugins = { { file = "cloud", required = true } }
cloud = { window = $1 }
CFG
}
