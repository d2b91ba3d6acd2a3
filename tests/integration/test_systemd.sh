#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Running under systemd: the installed unit (packaging/systemd) passes systemd-analyze verify
# when that tool is there; the agent speaks systemd's notify protocol when the unit says
# Type=notify (READY=1 once running, WATCHDOG=1 from its loop at half WatchdogSec, STOPPING=1
# at shutdown; a socat datagram socket plays systemd's NOTIFY_SOCKET) and takes
# $STATE_DIRECTORY (StateDirectory=) as its data directory when the config names none.
source "$(dirname "$0")/lib.sh"
unit="$QTD_BUILD_DIR/qthingd.service"
[ -f "$unit" ] || fail "the unit was not configured into the build tree"
for k in Type=notify NoNewPrivileges=yes ProtectSystem=strict StateDirectory=qthingd \
    Restart=on-failure User=qthingd WatchdogSec=; do
    grep -q "^$k" "$unit" || fail "the unit lacks $k"
done
if command -v systemd-analyze >/dev/null; then
    # its commands point at this build's binary (verify checks that they exist)
    bin=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
    sed "s|$bin|$QTHINGD|g" "$unit" >"$WORK/qthingd.service"
    systemd-analyze verify "$WORK/qthingd.service" >"$WORK/verify.txt" 2>&1 \
        || { cat "$WORK/verify.txt"; fail "systemd-analyze verify"; }
    pass "the unit passes systemd-analyze verify"
else
    echo "skip: systemd-analyze not installed, the unit is not verified"
fi
if ! ldconfig -p | grep -q 'libsystemd\.so\.0 '; then
    echo "skip: libsystemd.so.0 is not installed: no notifications to check"
    exit 0
fi
# Started outside systemd the agent never maps libsystemd (loaded only for $NOTIFY_SOCKET).
if ldd "$QTHINGD" | grep -q libsystemd; then
    fail "qthingd links libsystemd: it should load it only under systemd"
fi

auto_registry
start_broker
start_sim
start_bg notify socat -u UNIX-RECV:"$WORK/notify.sock" STDOUT
for _ in $(seq 50); do [ -S "$WORK/notify.sock" ] && break; sleep 0.1; done
cat >"$WORK/agent.lua" <<CFG
agent = { plugin_dir = "$QTD_PLUGIN_DIR" }
lua = { script = "$QTD_SOURCE_DIR/tests/lua/cloud_it.lua", lib_path = "$WORK" }
plugins = { { file = "cloud", required = true } }
CFG
cat >"$WORK/it_params.lua" <<P
return { server = "mqtt://127.0.0.1:$PORT", pk = "p1116a", ps = "UHg1dTRBRVh3MkVG",
  dk = "sd1", mode = "none" }
P
mkdir -p "$WORK/state"
NOTIFY_SOCKET=$WORK/notify.sock WATCHDOG_USEC=1000000 STATE_DIRECTORY=$WORK/state \
    start_bg a "$QTHINGD" -c "$WORK/agent.lua"
A=$LAST_PID
wait_for "$WORK/a.log" "qthingd .* running \(pid [0-9]+, data in $WORK/state\)" 10
wait_for "$WORK/notify.log" 'READY=1' 5
[ -f "$WORK/state/qthingd.db" ] || fail "the data directory is not \$STATE_DIRECTORY"
# (socat writes the datagrams one after the other, without a separator)
for _ in $(seq 50); do
    [ "$(grep -o 'WATCHDOG=1' "$WORK/notify.log" | wc -l)" -ge 4 ] && break
    sleep 0.1
done
[ "$(grep -o 'WATCHDOG=1' "$WORK/notify.log" | wc -l)" -ge 4 ] || fail "fewer than 4 WATCHDOG=1 in 5 s"
stop_checked "$A" a
wait_for "$WORK/notify.log" 'STOPPING=1' 5
pass "READY=1, WATCHDOG=1 every 0.5 s (WatchdogSec 1 s), STOPPING=1; data in \$STATE_DIRECTORY"
