# SPDX-License-Identifier: Apache-2.0
# Shared by the integration tests: a private work dir, processes started in the background
# and stopped by PID on exit (also on failure), waiting for log lines, and assertions.
# Needs QTHINGD, QTD_PLUGIN_DIR, QTD_SOURCE_DIR (set by ctest).
set -euo pipefail

: "${QTHINGD:?run under ctest}" "${QTD_PLUGIN_DIR:?}" "${QTD_SOURCE_DIR:?}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/qtd-it.XXXXXX")
PIDS=()

cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ $rc -ne 0 ]; then
        echo "---- FAILED; logs in $WORK ----"
        for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 60 "$f"; }; done
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# start_bg NAME CMD...: run in the background, output to $WORK/NAME.log; sets LAST_PID.
start_bg() {
    local name=$1; shift
    "$@" >"$WORK/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# wait_for FILE PATTERN [SECONDS [COUNT]]: until grep -E finds PATTERN COUNT times.
wait_for() {
    local file=$1 pat=$2 secs=${3:-10} count=${4:-1}
    local end=$((SECONDS + secs))
    while [ $SECONDS -le $end ]; do
        local n
        n=$(grep -cE -- "$pat" "$file" 2>/dev/null || true)
        [ "${n:-0}" -ge "$count" ] && return 0
        sleep 0.1
    done
    fail "timed out after ${secs}s waiting for /$pat/ x$count in $file"
}

# wait_exit PID SECONDS: wait for the exit of a child started here; sets EXIT_RC.
wait_exit() {
    local pid=$1 secs=${2:-10}
    local end=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -le $end ] || fail "pid $pid still running after ${secs}s"
        sleep 0.1
    done
    EXIT_RC=0
    wait "$pid" || EXIT_RC=$?
}

# ---- the platform: mosquitto with the sim's auth plugin, and qthingd-sim ----
SIM=${QTD_BUILD_DIR:?}/sim/qthingd-sim
SIMPW=sim-$RANDOM-$RANDOM

# A loopback TCP port nobody listens on.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
    done
}

# MOSQUITTO: the command that runs mosquitto. In an ASan build (QTHING_SANITIZE) the auth
# plugin needs the ASan runtime loaded first, which an uninstrumented mosquitto does not do:
# then it is preloaded (leak checks off: mosquitto's own exit is not ours to judge).
MOSQUITTO=(mosquitto)
if _asan=$(ldd "$QTD_BUILD_DIR/sim/qtd_mosq_auth.so" 2>/dev/null | awk '/libasan/ {print $3}') \
    && [ -n "$_asan" ]; then
    MOSQUITTO=(env "LD_PRELOAD=$_asan" "ASAN_OPTIONS=detect_leaks=0" mosquitto)
fi

# auto_registry: the simulator's registry with the test product, registering any device.
auto_registry() {
    cat >"$WORK/registry.json" <<'JSON'
{"products": [{"pk": "p1116a", "ps": "UHg1dTRBRVh3MkVG", "devices": []}],
 "auto_register": true}
JSON
}

# start_broker: mosquitto on $PORT (chosen once) with the registry $WORK/registry.json.
# BROKER_CONF_EXTRA: more mosquitto.conf lines, appended (a later line wins).
start_broker() {
    PORT=${PORT:-$(free_port)}
    "$SIM" broker-conf --port "$PORT" --registry "$WORK/registry.json" --password "$SIMPW" \
        --plugin "$QTD_BUILD_DIR/sim/qtd_mosq_auth.so" >"$WORK/mosquitto.conf"
    if [ -n "${BROKER_CONF_EXTRA:-}" ]; then
        printf '%s\n' "$BROKER_CONF_EXTRA" >>"$WORK/mosquitto.conf"
    fi
    start_bg "mosquitto-$SECONDS" "${MOSQUITTO[@]}" -c "$WORK/mosquitto.conf"
    BROKER=$LAST_PID
    local end=$((SECONDS + 10))
    until (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; do
        [ $SECONDS -le $end ] || fail "mosquitto did not listen on $PORT"
        sleep 0.1
    done
}

# start_sim: qthingd-sim on the broker; SIM_EXTRA holds more options (e.g. --reg-delay-ms 3000).
start_sim() {
    # shellcheck disable=SC2086 # SIM_EXTRA is a list of words
    start_bg sim "$SIM" run --broker "127.0.0.1:$PORT" --password "$SIMPW" \
        --registry "$WORK/registry.json" --log "$WORK/sim.jsonl" ${SIM_EXTRA:-}
    SIMPID=$LAST_PID
    wait_for "$WORK/sim.jsonl" '"event": ?"connected"' 15
}

sim_ctl() { # JSON -> prints the reply
    "$SIM" ctl --broker "127.0.0.1:$PORT" --password "$SIMPW" --reply "$1"
}

# start_agent NAME PARAMS...: an agent with its own data dir running tests/lua/cloud_it.lua;
# PARAMS are Lua assignments for it_params.lua (e.g. 'dk = "dev1"' 'mode = "types"').
# Optional environment: AGENT_SERVER, the server the script sets (default
# mqtt://127.0.0.1:$PORT); CLOUD_EXTRA, more keys for the agent's cloud = {...} section
# (e.g. 'ca_file = "/path/ca.pem"').
start_agent() {
    local name=$1; shift
    mkdir -p "$WORK/$name"
    {
        echo "return {"
        echo "  server = \"${AGENT_SERVER:-mqtt://127.0.0.1:$PORT}\", pk = \"p1116a\","
        echo "  ps = \"UHg1dTRBRVh3MkVG\","
        for kv in "$@"; do echo "  $kv,"; done
        echo "}"
    } >"$WORK/$name/it_params.lua"
    cat >"$WORK/$name/agent.lua" <<CFG
agent = { data_dir = "$WORK/$name/data", plugin_dir = "$QTD_PLUGIN_DIR" }
lua = { script = "$QTD_SOURCE_DIR/tests/lua/cloud_it.lua", lib_path = "$WORK/$name" }
plugins = { { file = "cloud", required = true } }
cloud = { reconnect_min_ms = 500, reconnect_max_ms = 8000${CLOUD_EXTRA:+, $CLOUD_EXTRA} }
CFG
    start_bg "$name" "$QTHINGD" -c "$WORK/$name/agent.lua"
    AGENT=$LAST_PID
}

# sim_frames DK CMD_NAME: the "data" of every logged uplink frame of that device and command,
# one JSON text per line, in arrival order.
sim_frames() {
    /usr/bin/python3 - "$WORK/sim.jsonl" "$1" "$2" <<'PY'
import json, sys
path, dk, cmd = sys.argv[1:4]
for line in open(path, encoding="utf-8"):
    e = json.loads(line)
    if e.get("dir") == "up" and e.get("dk") == dk and e.get("cmd_name") == cmd:
        print(json.dumps(e.get("data"), sort_keys=True, ensure_ascii=False))
PY
}

# start_raw_sub NAME TOPIC...: mosquitto_sub as the platform user on TOPICs, one line per
# message in $WORK/NAME.log: "<topic> <payload in hex>" (with mosquitto_sub's debug lines,
# which start with "Client"); returns once the broker acknowledged the subscription.
start_raw_sub() {
    local name=$1; shift
    local args=() t
    for t in "$@"; do args+=(-t "$t"); done
    start_bg "$name" stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$PORT" -u qtd-sim -P "$SIMPW" \
        -q 2 -d -F '%t %x' "${args[@]}"
    wait_for "$WORK/$name.log" 'received SUBACK' 10
}

# raw_payloads NAME TOPIC_REGEX: the hex payloads captured by start_raw_sub NAME whose topic
# matches the (grep -E) regex, one per line, in arrival order.
raw_payloads() {
    grep -E "^$2 " "$WORK/$1.log" | awk '{print $2}' || true
}

# stop_checked PID NAME: SIGTERM a process started here and fail unless it exits 0 within
# 10 s and its log ($WORK/NAME.log) has no sanitizer report (ASan, LSan, UBSan builds).
stop_checked() {
    kill -TERM "$1" 2>/dev/null || true
    wait_exit "$1" 10
    [ "$EXIT_RC" -eq 0 ] || fail "$2 exited with $EXIT_RC"
    ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK/$2.log" \
        || fail "$2: sanitizer report in $WORK/$2.log"
}
