#!/usr/bin/env bash
# Set up and run the agent against the local default: installs the Debian packages, builds,
# starts a private mosquitto (with the simulator's auth plugin) on a free loopback port and
# the platform simulator, then runs qthingd with config/example.lua in the foreground. Every
# few seconds the platform writes, reads or sends passthrough data, so the whole story shows:
# registration, reports, answers, downlinks. Lines from the platform start with [platform].
# Everything lives in build/run/; Ctrl-C stops all of it. Extra arguments go to qthingd
# (e.g. ./run.sh -v for debug logs). QTD_SCRIPT=FILE runs another script (e.g.
# QTD_SCRIPT=config/seed-example.lua ./run.sh: the guide's section 5 example).
#
# QTD_DEMO=meter runs config/modbus-meter.lua instead: its energy meter on an RTU line (a
# socat pty pair) and its I/O module on Modbus TCP (a free loopback port) are pymodbus
# slaves (tests/peers/modbus_peer.py) whose readings change every second
# (tests/peers/meter_feed.py); they come online as sub-devices of the gateway and report,
# and the platform switches the meter's relay and reads the meter now and then.
# QTD_DEMO=tracker runs config/gnss-tracker.lua (script config/tracker.lua): its receiver is a
# socat pty pair fed NMEA of a moving fix once a second (tests/peers/nmea_feed.py), its
# modem a pty answering AT commands (tests/peers/at_modem.sh: the IMEI is the device key,
# the cells give LBS); it reports its location by the config's policies, and the platform
# asks for it now and then. The demo's config is the example's with the peers' addresses
# and local paths (build/run/agent.lua); the peers and their logs are in build/run/<demo>/.
# The meter's gateway is the example's device (data in build/run/data), the tracker another
# one (build/run/tracker/data).
#
# For scripts and tests: QTD_NO_INSTALL=1 skips the package check (.ci/install-deps);
# QTD_BUILD=DIR runs the build tree DIR as it is (nothing configured or built);
# QTD_RUN_DIR=DIR keeps the run's state in DIR instead of <build>/run.
set -euo pipefail
cd "$(dirname "$0")"
top=$(pwd)
demo=${QTD_DEMO:-}
case "$demo" in
"" | meter | tracker) ;;
*) echo "run.sh: QTD_DEMO=$demo: expected meter or tracker" >&2; exit 2 ;;
esac
[ -n "${QTD_NO_INSTALL:-}" ] || .ci/install-deps
if [ -n "${QTD_BUILD:-}" ]; then
    build=$(realpath "$QTD_BUILD")
else
    build=$top/build
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j "$(nproc)"
fi
run=${QTD_RUN_DIR:-$build/run}
sim=$build/sim/qthingd-sim
mkdir -p "$run"
run=$(realpath "$run")
pids=()
agent=""
# stop: the agent first (its exit status is run.sh's: 0 when it stopped cleanly), then the
# rest, the last started first (a peer goes after the agent that uses it).
stop() {
    local rc=0 i
    if [ -n "$agent" ]; then
        kill "$agent" 2>/dev/null || true
        wait "$agent" || rc=$?
        agent=""
    fi
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
    wait 2>/dev/null || true
    return $rc
}
trap stop EXIT
trap 'stop; exit $?' INT TERM

# free_port FROM: the first loopback TCP port from FROM on that nobody accepts on.
free_port() {
    local p=$1
    while (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}
# await FILE PATTERN WHAT: until grep -E finds PATTERN in FILE (10 s), else stop naming WHAT.
await() {
    for _ in $(seq 100); do
        grep -qE -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "run.sh: $3 did not start; its log, $1:" >&2
    tail -n 20 "$1" >&2 2>/dev/null || true
    exit 1
}
# pty_pair DIR NAME: a socat pty pair DIR/NAME (the agent's end) and DIR/NAME-peer.
pty_pair() {
    rm -f "$1/$2" "$1/$2-peer"
    socat pty,raw,echo=0,link="$1/$2-peer" pty,raw,echo=0,link="$1/$2" 2>>"$1/socat.log" &
    pids+=($!)
    for _ in $(seq 50); do [ -e "$1/$2" ] && [ -e "$1/$2-peer" ] && return 0; sleep 0.1; done
    echo "run.sh: socat made no pty pair $1/$2" >&2
    exit 1
}

port=$(free_port 1883)
password=run-$RANDOM$RANDOM
rm -f "$run/sim.jsonl"
# The products of the registry (kept between runs: it holds the devices' secrets): the
# device's, and in the meter demo the sub-devices' (placeholders of config/modbus-meter.lua),
# associated with the gateway's product.
products='[{"pk": "p1116a", "ps": "UHg1dTRBRVh3MkVG"}'
if [ "$demo" = meter ]; then
    products+=', {"pk": "pMeterPK", "ps": "MeterProductSecret0123456789", "gateways": ["p1116a"]}'
    products+=', {"pk": "pCabinetPK", "ps": "CabinetProductSecret01234567", "gateways": ["p1116a"]}'
fi
/usr/bin/python3 - "$run/registry.json" "$products]" <<'PY'
import json, os, sys
path, want = sys.argv[1], json.loads(sys.argv[2])
reg = json.load(open(path)) if os.path.exists(path) else {"products": [], "auto_register": True}
have = {p["pk"] for p in reg["products"]}
missing = [dict(p, devices=[]) for p in want if p["pk"] not in have]
if missing or not os.path.exists(path):
    reg["products"] += missing
    with open(path + ".new", "w") as f:
        json.dump(reg, f, indent=1)
    os.replace(path + ".new", path)
PY
"$sim" broker-conf --port "$port" --registry "$run/registry.json" --password "$password" \
    --plugin "$build/sim/qtd_mosq_auth.so" >"$run/mosquitto.conf"
mosquitto -c "$run/mosquitto.conf" >"$run/mosquitto.log" 2>&1 &
pids+=($!)
"$sim" run --broker "127.0.0.1:$port" --password "$password" --registry "$run/registry.json" \
    --log "$run/sim.jsonl" 2> >(sed -u 's/^/[platform] /' >&2) &
pids+=($!)
for _ in $(seq 100); do
    grep -q '"event":"connected"' "$run/sim.jsonl" 2>/dev/null && break
    sleep 0.1
done

cat >"$run/site.lua" <<LUA
-- Written by run.sh: the local platform.
return { server = "mqtt://127.0.0.1:$port" }
LUA
data=$run/data
case "$demo" in
"")
    cat >"$run/agent.lua" <<CFG
-- Written by run.sh: the example config with local paths.
agent = { log_level = "info", data_dir = "$data", plugin_dir = "$build/plugins" }
lua = { script = "$(realpath "${QTD_SCRIPT:-$top/config/example.lua}")", lib_path = "$run" }
plugins = { { file = "cloud", required = true }, { file = "httpota" }, { file = "modbus" },
            { file = "gnss" } }
CFG
    ;;
meter)
    dir=$run/meter
    mkdir -p "$dir"
    # The RS-485 line: the meter (unit 1) on one end of a pty pair, the agent on the other.
    # A pty has no parity: the peer ignores the line's even parity (modbus_peer.py).
    pty_pair "$dir" rs485
    mbctl=$(free_port 15020)
    /usr/bin/python3 -u tests/peers/modbus_peer.py serve --rtu "$dir/rs485-peer" --baud 9600 \
        --parity E --units 1 --control "$mbctl" >"$dir/meter.log" 2>&1 &
    pids+=($!)
    await "$dir/meter.log" '^ready' "the meter (modbus_peer.py)"
    # The I/O module (unit 1) on Modbus TCP.
    mbtcp=$(free_port $((mbctl + 1)))
    cabctl=$(free_port $((mbtcp + 1)))
    /usr/bin/python3 -u tests/peers/modbus_peer.py serve --tcp "$mbtcp" --units 1 \
        --control "$cabctl" >"$dir/cabinet.log" 2>&1 &
    pids+=($!)
    await "$dir/cabinet.log" '^ready' "the I/O module (modbus_peer.py)"
    # Their readings, changing every second (one JSON line per second in meter-feed.jsonl).
    /usr/bin/python3 -u tests/peers/meter_feed.py "$mbctl" "$cabctl" >"$dir/meter-feed.jsonl" \
        2>"$dir/meter-feed.log" &
    pids+=($!)
    await "$dir/meter-feed.jsonl" '"cycle": 0' "the meter feed (meter_feed.py)"
    example=config/modbus-meter.lua
    peers="modbus.ports[1].device = \"$dir/rs485\"
modbus.ports[2].host = \"127.0.0.1\"
modbus.ports[2].port = $mbtcp"
    ;;
tracker)
    dir=$run/tracker
    mkdir -p "$dir"
    data=$dir/data # another device (its key is the modem's IMEI): its own identity
    # The receiver: NMEA of a moving fix, once a second, on one end of a pty pair (every
    # sentence also in fed.nmea); the modem: tests/peers/at_modem.sh behind a pty.
    pty_pair "$dir" gnss
    rm -f "$dir/fed.nmea" "$dir/modem"
    /usr/bin/python3 -u tests/peers/nmea_feed.py serial "$dir/gnss-peer" "$dir/fed.nmea" \
        --rate 1 >"$dir/nmea-feed.log" 2>&1 &
    pids+=($!)
    await "$dir/nmea-feed.log" '^ready' "the NMEA feed (nmea_feed.py)"
    socat pty,raw,echo=0,link="$dir/modem" EXEC:"bash $top/tests/peers/at_modem.sh" \
        2>>"$dir/socat.log" &
    pids+=($!)
    for _ in $(seq 50); do [ -e "$dir/modem" ] && break; sleep 0.1; done
    example=config/gnss-tracker.lua
    peers="gnss.device = \"$dir/gnss\"
cloud.at_port = \"$dir/modem\""
    ;;
esac
if [ -n "$demo" ]; then
    script="\"$top/config/\" .. lua.script" # the example's own, next to it
    [ -z "${QTD_SCRIPT:-}" ] || script="\"$(realpath "$QTD_SCRIPT")\""
    cat - "$example" >"$run/agent.lua" <<CFG
-- Written by run.sh (QTD_DEMO=$demo): $example as it is, then the peers of this run
-- ($dir/) and local paths in place of the example's.
CFG
    cat >>"$run/agent.lua" <<CFG

-- Written by run.sh: the peers of this run and local paths.
$peers
agent.data_dir = "$data"
agent.plugin_dir = "$build/plugins"
lua.script = $script
lua.lib_path = "$run"
CFG
fi
"$build/qthingd" --check -c "$run/agent.lua"

# The platform's side of the demo, in turn: for the example a write, a read and
# passthrough; for the meter its relay switched (off, then on) and two reads; for the
# tracker a location request (LOC_REQ) and twice "locate" (the script reports the location).
(
    ctl() { "$sim" ctl --broker "127.0.0.1:$port" --password "$password" "$1" >/dev/null; }
    # pause SECONDS, a sleep that a stop of this loop ends too
    trap 'kill "$napping" 2>/dev/null; exit 0' TERM
    pause() { sleep "$1" & napping=$!; wait "$napping"; }
    client=""
    while [ -z "$client" ]; do
        pause 1
        client=$(grep -E '"event":"(registered|login)"' "$run/sim.jsonl" 2>/dev/null \
                 | tail -1 | grep -oE '"client":"[^"]+"' | cut -d'"' -f4 || true)
    done
    meter='"client": "qdpMeterPKmeter1"'
    pause 5
    i=0
    while :; do
        case $demo.$((i % 3)) in
        .0) ctl '{"cmd": "tsl_write", "client": "'"$client"'", "data": {"3": true, "4": "set by the platform"}}' ;;
        .1) ctl '{"cmd": "tsl_read", "client": "'"$client"'", "ids": [1, 2, 3, 4]}' ;;
        .2) ctl '{"cmd": "pass_write", "client": "'"$client"'", "text": "hello device"}' ;;
        meter.0) # the relay off, then on again next time
            relay=false
            [ $((i % 2)) -eq 0 ] || relay=true
            ctl '{"cmd": "tsl_write", '"$meter"', "data": {"11": '"$relay"'}}' ;;
        meter.*) ctl '{"cmd": "tsl_read", '"$meter"', "ids": [1, 4, 7, 9, 11]}' ;;
        tracker.0) ctl '{"cmd": "send", "client": "'"$client"'", "code": 291, "data": {"1": "GGA;RMC"}}' ;;
        tracker.*) ctl '{"cmd": "pass_write", "client": "'"$client"'", "text": "locate"}' ;;
        esac
        i=$((i + 1))
        pause 7
    done
) &
pids+=($!)

# build/run/ctl: the platform's side by hand, for the device this run brings on:
#   build/run/ctl tsl_write '{"3": false}' | tsl_read '[1, 2]' | pass_write 'text'
#   build/run/ctl raw '{"cmd": ...}'   (any control message of `qthingd-sim --help`)
cat >"$run/ctl" <<CTL
#!/usr/bin/env bash
set -euo pipefail
client=\$(grep -E '"event":"(registered|login)"' "$run/sim.jsonl" | tail -1 \\
         | grep -oE '"client":"[^"]+"' | cut -d'"' -f4)
case "\${1:-}" in
tsl_write) msg='{"cmd": "tsl_write", "client": "'\$client'", "data": '\$2'}' ;;
tsl_read) msg='{"cmd": "tsl_read", "client": "'\$client'", "ids": '\$2'}' ;;
pass_write) msg='{"cmd": "pass_write", "client": "'\$client'", "text": "'\$2'"}' ;;
raw) msg=\$2 ;;
*) echo "usage: \$0 tsl_write JSON | tsl_read '[ids]' | pass_write TEXT | raw JSON" >&2; exit 2 ;;
esac
exec "$sim" ctl --broker "127.0.0.1:$port" --password "$password" "\$msg"
CTL
chmod +x "$run/ctl"

here() { echo "${1#"$top"/}"; } # a path under this directory as a relative one
case "$demo" in
"") try="tsl_write '{\"3\": false}'" ;;
meter) try="raw '{\"cmd\": \"tsl_write\", \"client\": \"qdpMeterPKmeter1\", \"data\": {\"11\": true}}'" ;;
tracker) try="pass_write locate" ;;
esac
echo "qthingd running against the local platform on port $port (Ctrl-C stops everything)"
echo "in another terminal: $(here "$build")/qthingctl -s $data/qthingd.sock events -f"
echo "                     $(here "$run")/ctl $try"
"$build/qthingd" -c "$run/agent.lua" "$@" &
agent=$!
rc=0
wait "$agent" || rc=$?
agent=""
exit $rc
