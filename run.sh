#!/usr/bin/env bash
# Set up and run the agent against the local default: installs the Debian packages, builds,
# starts a private mosquitto (with the simulator's auth plugin) on a free loopback port and
# the platform simulator, then runs qthingd with config/example.lua in the foreground. Every
# few seconds the platform writes, reads or sends passthrough data, so the whole story shows:
# registration, reports, answers, downlinks. Lines from the platform start with [platform].
# Everything lives in build/run/; Ctrl-C stops all of it. Extra arguments go to qthingd
# (e.g. ./run.sh -v for debug logs). QTD_SCRIPT=FILE runs another script (e.g.
# QTD_SCRIPT=config/seed-example.lua ./run.sh: the guide's section 5 example).
set -euo pipefail
cd "$(dirname "$0")"
.ci/install-deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
top=$(pwd)
run=$top/build/run
sim=$top/build/sim/qthingd-sim
mkdir -p "$run"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

port=1883
while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
password=run-$RANDOM$RANDOM
rm -f "$run/sim.jsonl"
[ -f "$run/registry.json" ] || cat >"$run/registry.json" <<'JSON'
{"products": [{"pk": "p1116a", "ps": "UHg1dTRBRVh3MkVG", "devices": []}],
 "auto_register": true}
JSON
"$sim" broker-conf --port "$port" --registry "$run/registry.json" --password "$password" \
    --plugin "$top/build/sim/qtd_mosq_auth.so" >"$run/mosquitto.conf"
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
cat >"$run/agent.lua" <<CFG
-- Written by run.sh: the example config with local paths.
agent = { log_level = "info", data_dir = "$run/data", plugin_dir = "$top/build/plugins" }
lua = { script = "$(realpath "${QTD_SCRIPT:-$top/config/example.lua}")", lib_path = "$run" }
plugins = { { file = "cloud", required = true }, { file = "httpota" }, { file = "modbus" },
            { file = "gnss" } }
CFG
build/qthingd --check -c "$run/agent.lua"

# The platform's side of the demo: a write, a read and passthrough, in turn.
(
    ctl() { "$sim" ctl --broker "127.0.0.1:$port" --password "$password" "$1" >/dev/null; }
    client=""
    while [ -z "$client" ]; do
        sleep 1
        client=$(grep -E '"event":"(registered|login)"' "$run/sim.jsonl" 2>/dev/null \
                 | tail -1 | grep -oE '"client":"[^"]+"' | cut -d'"' -f4 || true)
    done
    sleep 5
    i=0
    while :; do
        case $((i % 3)) in
        0) ctl '{"cmd": "tsl_write", "client": "'"$client"'", "data": {"3": true, "4": "set by the platform"}}' ;;
        1) ctl '{"cmd": "tsl_read", "client": "'"$client"'", "ids": [1, 2, 3, 4]}' ;;
        2) ctl '{"cmd": "pass_write", "client": "'"$client"'", "text": "hello device"}' ;;
        esac
        i=$((i + 1))
        sleep 7
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

echo "qthingd running against the local platform on port $port (Ctrl-C stops everything)"
echo "in another terminal: build/qthingctl -s $run/data/qthingd.sock events -f"
echo "                     build/run/ctl tsl_write '{\"3\": false}'"
build/qthingd -c "$run/agent.lua" "$@" &
pids+=($!)
wait "${pids[-1]}"
