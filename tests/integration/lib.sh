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
    # What a subshell started (its PIDS were its own, e.g. inside "< <(...)"): found by the
    # work dir on its command line.
    pkill -KILL -f -- "$WORK/" 2>/dev/null || true
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

# forget_pid PID: a process started here is gone and waited for: cleanup leaves it alone
# (its number may belong to someone else by then).
forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
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
PK=p1116a # the test product of auto_registry

# A loopback TCP port nobody listens on, below the kernel's ephemeral range: a port from
# that range can be taken by any outgoing connection between this choice and the listen().
free_port() {
    local lo p
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
    [ "$lo" -gt 12000 ] || lo=32768
    while :; do
        p=$((10000 + RANDOM % (lo - 10000)))
        (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
    done
}

# listening PORT PID SECONDS: until something accepts on PORT; returns 1 when PID exits
# first or the time runs out.
listening() {
    local end=$((SECONDS + $3))
    until (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; do
        kill -0 "$2" 2>/dev/null && [ $SECONDS -le $end ] || return 1
        sleep 0.1
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

# gateway_registry [PRODUCT_JSON...]: auto_registry's with the sub-device product psub01
# (PS c3ViZGV2aWNlc2VjcmV0) associated with the test product, and more products.
gateway_registry() {
    local more="" p
    for p in "$@"; do more="$more, $p"; done
    cat >"$WORK/registry.json" <<JSON
{"products": [{"pk": "p1116a", "ps": "UHg1dTRBRVh3MkVG", "devices": []},
  {"pk": "psub01", "ps": "c3ViZGV2aWNlc2VjcmV0", "gateways": ["p1116a"], "devices": []}$more],
 "auto_register": true}
JSON
}

# auto_registry: the simulator's registry with the test product, registering any device.
auto_registry() {
    cat >"$WORK/registry.json" <<'JSON'
{"products": [{"pk": "p1116a", "ps": "UHg1dTRBRVh3MkVG", "devices": []}],
 "auto_register": true}
JSON
}

# start_broker: mosquitto on $PORT with the registry $WORK/registry.json. PORT is chosen
# here when unset; when another process takes that port first (tests run in parallel), a
# new one is chosen, up to 5 times. A PORT set before (a restart) is kept.
# BROKER_CONF_EXTRA: more mosquitto.conf lines, appended (a later line wins).
start_broker() {
    local chosen=${PORT:+fixed} try log
    for try in 1 2 3 4 5; do
        PORT=${PORT:-$(free_port)}
        "$SIM" broker-conf --port "$PORT" --registry "$WORK/registry.json" --password "$SIMPW" \
            --plugin "$QTD_BUILD_DIR/sim/qtd_mosq_auth.so" >"$WORK/mosquitto.conf"
        if [ -n "${BROKER_CONF_EXTRA:-}" ]; then
            printf '%s\n' "$BROKER_CONF_EXTRA" >>"$WORK/mosquitto.conf"
        fi
        log=mosquitto-$SECONDS-$try
        start_bg "$log" "${MOSQUITTO[@]}" -c "$WORK/mosquitto.conf"
        BROKER=$LAST_PID
        listening "$PORT" "$BROKER" 10 && return 0
        if [ -z "$chosen" ] && ! kill -0 "$BROKER" 2>/dev/null \
            && grep -q 'Address already in use' "$WORK/$log.log"; then
            echo "port $PORT was taken meanwhile: trying another" >&2
            PORT=
            continue
        fi
        fail "mosquitto did not listen on $PORT"
    done
    fail "mosquitto found no free port in 5 tries"
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
# (e.g. 'ca_file = "/path/ca.pem"'); AGENT_SCRIPT, the script to run instead of
# tests/lua/cloud_it.lua; HTTPOTA, keys for an httpota = {...} section, which also loads the
# httpota plugin (the download and firmware services); MODBUS and GNSS the same for the
# modbus and gnss plugins; STORE, keys for a store = {...} section (e.g. 'outbox_cap_mb = 1').
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
    local ota_plugin="" ota_section=""
    if [ -n "${HTTPOTA+set}" ]; then
        ota_plugin=', { file = "httpota", required = true }'
        ota_section="httpota = { $HTTPOTA }"
    fi
    if [ -n "${MODBUS+set}" ]; then
        ota_plugin="$ota_plugin"', { file = "modbus", required = true }'
        ota_section="$ota_section
modbus = { $MODBUS }"
    fi
    if [ -n "${GNSS+set}" ]; then
        ota_plugin="$ota_plugin"', { file = "gnss", required = true }'
        ota_section="$ota_section
gnss = { $GNSS }"
    fi
    if [ -n "${STORE+set}" ]; then
        ota_section="$ota_section
store = { $STORE }"
    fi
    cat >"$WORK/$name/agent.lua" <<CFG
agent = { data_dir = "$WORK/$name/data", plugin_dir = "$QTD_PLUGIN_DIR" }
lua = { script = "${AGENT_SCRIPT:-$QTD_SOURCE_DIR/tests/lua/cloud_it.lua}", lib_path = "$WORK/$name" }
plugins = { { file = "cloud", required = true }$ota_plugin }
cloud = { reconnect_min_ms = 500, reconnect_max_ms = 8000${CLOUD_EXTRA:+, $CLOUD_EXTRA} }
$ota_section
CFG
    start_bg "$name" "$QTHINGD" -c "$WORK/$name/agent.lua"
    AGENT=$LAST_PID
}

# keep_log NAME: keep the log of agent NAME, stopped, as $WORK/NAME-run<k>.log (the next
# start_agent NAME writes a new one on the same data dir).
# kill_agent NAME: SIGKILL agent NAME ($AGENT), wait for it (without the shell's "Killed"
# notice) and keep its log.
AGENT_RUNS=0
keep_log() {
    AGENT_RUNS=$((AGENT_RUNS + 1))
    mv "$WORK/$1.log" "$WORK/$1-run$AGENT_RUNS.log"
}
# maps_lib PID NAME: whether process PID has a library whose file name begins with NAME
# mapped (plugins load some libraries only when first needed: libcurl, libgps).
maps_lib() {
    grep -q "/$2[^/]*\$" "/proc/$1/maps"
}

kill_agent() {
    local end=$((SECONDS + 5))
    kill -KILL "$AGENT" 2>/dev/null || true
    while kill -0 "$AGENT" 2>/dev/null; do
        [ $SECONDS -le $end ] || fail "agent $AGENT still running 5 s after SIGKILL"
        sleep 0.05
    done
    wait "$AGENT" 2>/dev/null || true
    forget_pid "$AGENT"
    keep_log "$1"
}

# sim_frames DK CMD_NAME: the "data" of every logged uplink frame of that device and command,
# one JSON text per line, in arrival order.
sim_frames() {
    /usr/bin/python3 - "$WORK/sim.jsonl" "$1" "$2" <<'PY'
import json, os, sys
path, dk, cmd = sys.argv[1:4]
out = []
for line in open(path, encoding="utf-8"):
    try:
        e = json.loads(line)
    except ValueError:
        continue  # the line the simulator is writing right now
    if e.get("dir") == "up" and e.get("dk") == dk and e.get("cmd_name") == cmd:
        out.append(json.dumps(e.get("data"), sort_keys=True, ensure_ascii=False) + "\n")
try:
    sys.stdout.write("".join(out))  # one write: a reader that stops early (grep -q) is fine
    sys.stdout.flush()
except BrokenPipeError:
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
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
# 10 s and its log ($WORK/NAME.log) has no sanitizer report (ASan, LSan, UBSan builds);
# then cleanup forgets it.
stop_checked() {
    kill -TERM "$1" 2>/dev/null || true
    wait_exit "$1" 10
    [ "$EXIT_RC" -eq 0 ] || fail "$2 exited with $EXIT_RC"
    ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK/$2.log" \
        || fail "$2: sanitizer report in $WORK/$2.log"
    paho_heap_check "$WORK/$2.log" || fail "$2: Paho still held memory at the stop ($WORK/$2.log)"
    forget_pid "$1"
}

# paho_heap_check LOG: Paho's own heap check, which runs when its last client is destroyed
# and which the cloud plugin logs ("Paho: Heap element size N, line L, file F" and the
# block's first bytes, "Paho:   Content ..."), found nothing, or only the copies of
# publishes that were queued inside Paho when a connection died: one payload copy
# (MQTTAsync.c) and one topic copy ("q/...", MQTTProtocolClient.c's strdup) per message. Paho
# up to 1.3.13 never frees those (eclipse/paho.mqtt.c#1474, docs/operations.md); anything
# else Paho still holds is a leak, ours (a Paho allocation not given back) or Paho's. Sets
# PAHO_STRANDED to the number of those queued publishes.
paho_heap_check() {
    local out rc=0
    out=$(awk '
        /Paho: Heap element / { file = $0; sub(/.*, file /, "", file); sub(/, ptr .*/, "", file); next }
        /Paho:   Content / {
            if (file ~ /MQTTAsync\.c$/) payloads++
            else if (file ~ /MQTTProtocolClient\.c$/ && $0 ~ /Content q\//) topics++
            else if (other++ < 5) print "Paho still holds a block from " file ": " $0
            file = ""
        }
        END {
            if (other > 0 || payloads != topics) {
                printf "Paho heap check: %d payload and %d topic copies, %d other blocks\n",
                    payloads, topics, other
                exit 1
            }
            if (payloads > 0)
                printf "note: Paho dropped %d queued publishes without freeing them " \
                    "(eclipse/paho.mqtt.c#1474)\n", payloads
        }' "$1") || rc=$?
    [ -z "$out" ] || echo "$out"
    PAHO_STRANDED=0
    [[ ! $out =~ note:\ Paho\ dropped\ ([0-9]+)\ queued ]] || PAHO_STRANDED=${BASH_REMATCH[1]}
    return $rc
}

# start_mb_peer NAME ARGS...: a Modbus slave not written here (Debian's pymodbus, through
# tests/peers/modbus_peer.py serve ARGS --control <port>) logging to $WORK/NAME.log; sets
# MB_PEER (its PID) and MB_CTL_<NAME> (its control port). mb_ctl NAME JSON: one control
# request (fails the test when the answer is not ok), its answer on stdout.
start_mb_peer() {
    local name=$1; shift
    local ctl
    ctl=$(free_port)
    start_bg "$name" /usr/bin/python3 -u "$QTD_SOURCE_DIR/tests/peers/modbus_peer.py" serve "$@" \
        --control "$ctl"
    MB_PEER=$LAST_PID
    printf -v "MB_CTL_$name" '%s' "$ctl"
    wait_for "$WORK/$name.log" '^ready' 15
}
mb_ctl() {
    local var="MB_CTL_$1"
    /usr/bin/python3 "$QTD_SOURCE_DIR/tests/peers/modbus_peer.py" ctl "${!var}" "$2" \
        || fail "modbus peer $1: $2 refused"
}

# mb_wait_reg NAME JSON_GET EXPECT: until peer NAME answers the get request with EXPECT (5 s).
mb_wait_reg() {
    local _
    for _ in $(seq 50); do
        [ "$(mb_ctl "$1" "$2")" = "$3" ] && return 0
        sleep 0.1
    done
    fail "modbus peer $1: $2 answers $(mb_ctl "$1" "$2"), not $3"
}

# mb_values DK: the latest value of each id in the TSL reports of device DK the simulator
# logged (a JSON object). mb_wait_values DK UNIT DELTA [SECONDS]: until they hold the values
# tests/integration/mb_points.py gives slave UNIT (+ DELTA).
mb_values() {
    sim_frames "$1" TSL_EVENT | /usr/bin/python3 -c '
import json, sys
m = {}
for line in sys.stdin:
    if line.strip():
        m.update(json.loads(line))
print(json.dumps(m, sort_keys=True))'
}
mb_wait_values() {
    local pts="$QTD_SOURCE_DIR/tests/integration/mb_points.py" want end
    want=$("$pts" expect "$2" "$3")
    end=$((SECONDS + ${4:-15}))
    while [ $SECONDS -le $end ]; do
        "$pts" check "$want" "$(mb_values "$1")" >/dev/null && return 0
        sleep 0.2
    done
    "$pts" check "$want" "$(mb_values "$1")" || true
    fail "$1: the reports do not hold slave $2's values (+$3)"
}

# start_witness DK [TYPE]: the delivery witness of device DK (+: of every device). mosquitto_sub
# as the platform user with a persistent session (clean session off, fixed client id, QoS 1)
# on the device's uplink topic q/2/d/qd<PK><DK>/TYPE (default bus; ota for OTA_EVENT and
# OTA_REQUEST), started before the agent and kept across broker restarts (it reconnects by
# itself; the broker kept its subscription and queue). One line per message in
# $WORK/witness.log: "<topic> <payload hex>".
start_witness() {
    WITNESS_TYPE=${2:-bus}
    WITNESS_TOPIC="q/2/d/qd$PK$1/$WITNESS_TYPE"
    [ "$1" != + ] || WITNESS_TOPIC="q/2/d/+/$WITNESS_TYPE"
    start_bg witness stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$PORT" -u qtd-sim -P "$SIMPW" \
        -c -i "qtd-witness-$$" -q 1 -d -F '%t %x' -t "$WITNESS_TOPIC"
    wait_for "$WORK/witness.log" 'received SUBACK' 10
}

# witness_frames CMD_NAME [DK]: the "data" of every frame the witness received with that
# command (of device DK, when the witness watches every device), decoded by qthingd-sim
# decode, one JSON text per line, in arrival order.
witness_frames() {
    local topic=$WITNESS_TOPIC
    [ $# -lt 2 ] || topic="q/2/d/qd$PK$2/$WITNESS_TYPE"
    /usr/bin/python3 - "$SIM" "$WORK/witness.log" "$topic" "$1" <<'PY'
import json, subprocess, sys
sim, log, topic, cmd = sys.argv[1:5]
for line in open(log, encoding="utf-8", errors="replace"):
    parts = line.split()
    if len(parts) != 2 or parts[0] != topic:
        continue
    r = subprocess.run([sim, "decode", "--hex", parts[1]], capture_output=True, text=True)
    f = json.loads(r.stdout) if r.returncode == 0 else {}
    if f.get("cmd_name") == cmd:
        print(json.dumps(f.get("data"), sort_keys=True, ensure_ascii=False))
PY
}

# start_nginx: nginx serving $WORK/www on HTTP_PORT (chosen at the first call, kept for a
# restart), /slow/ the same files at NGINX_SLOW_RATE (default 600k: a download that can be
# cut half-way); its access log $WORK/nginx/access.log has "<uri> <status> <body bytes>
# \"<Range>\"" per request. Sets NGINX (the PID) and URL (http://127.0.0.1:HTTP_PORT).
start_nginx() {
    command -v nginx >/dev/null || fail "nginx not installed (nginx-light)"
    HTTP_PORT=${HTTP_PORT:-$(free_port)}
    mkdir -p "$WORK/www" "$WORK/nginx"
    cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off;
$( [ "$(id -u)" -eq 0 ] && echo "user root;" )
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 64; }
http {
    log_format bytes '\$request_uri \$status \$body_bytes_sent "\$http_range"';
    access_log $WORK/nginx/access.log bytes;
    sendfile on;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$HTTP_PORT;
        root $WORK/www;
        location /slow/ { alias $WORK/www/; limit_rate ${NGINX_SLOW_RATE:-600k}; }
    }
}
CONF
    start_bg "nginx-$SECONDS" nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
    NGINX=$LAST_PID
    listening "$HTTP_PORT" "$NGINX" 10 || fail "nginx did not listen on $HTTP_PORT"
    URL=http://127.0.0.1:$HTTP_PORT
}
