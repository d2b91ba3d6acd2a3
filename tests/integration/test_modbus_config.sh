#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Modbus maps are checked by `qthingd --check` (and before any start): each mistake is named
# by its key path with the fix, the exit status is 2, nothing starts. The shipped example
# (config/modbus-meter.lua) passes.
source "$(dirname "$0")/lib.sh"

"$QTHINGD" --check -c "$QTD_SOURCE_DIR/config/modbus-meter.lua" --plugin-dir "$QTD_PLUGIN_DIR" \
    >"$WORK/meter.txt" || fail "config/modbus-meter.lua does not pass --check"
grep -q 'configuration OK' "$WORK/meter.txt" || fail "--check of the meter example"
pass "config/modbus-meter.lua passes --check"

# bad NAME 'modbus section' 'expected message': --check exits 2 naming it
bad() {
    cat >"$WORK/$1.lua" <<CFG
agent = { data_dir = "$WORK/$1-data" }
plugins = { { file = "cloud" }, { file = "modbus", required = true } }
modbus = { $2 }
CFG
    local rc=0
    "$QTHINGD" --check -c "$WORK/$1.lua" --plugin-dir "$QTD_PLUGIN_DIR" >"$WORK/$1.out" 2>&1 \
        || rc=$?
    [ $rc -eq 2 ] || fail "$1: --check exits $rc, not 2"
    grep -qF -- "$3" "$WORK/$1.out" || { cat "$WORK/$1.out"; fail "$1: not named: $3"; }
}
TCP='ports = { { name = "plc", mode = "tcp" } }'
P='pk = "psub01", ps = "c3ViZGV2aWNlc2VjcmV0"'
bad type "$TCP, slaves = { { port = \"plc\", $P, points = { { id = 1, address = 0 },
    { id = 2, address = 1, type = \"float\" } } } }" \
    'modbus.slaves[1].points[2].type: expected one of bool|u16|s16|u32|s32|u64|s64|float32|float64|string'
bad keyword "$TCP, slaves = { { port = \"plc\", points = { { id = 1, address = 0,
    [\"function\"] = \"holding\" } } } }" 'modbus.slaves[1].points[1].function: unknown key'
bad coil "$TCP, slaves = { { port = \"plc\", $P, points = { { id = 1, address = 0 },
    { id = 2, table = \"coil\", address = 0, type = \"float32\" } } } }" \
    'modbus.slaves[1].points[2].type: a coil holds one bit: use type = "bool"'
bad port "$TCP, slaves = { { port = \"plx\", points = { { id = 1, address = 0 } } } }" \
    'modbus.slaves[1].port: no line named "plx" in modbus.ports'
bad unit "$TCP, slaves = { { port = \"plc\", unit = 3, points = { { id = 1, address = 0 } } },
    { port = \"plc\", unit = 3, $P, points = { { id = 1, address = 0 } } } }" \
    'modbus.slaves[2].unit: 3 on plc is modbus.slaves[1]'"'"'s already'
bad ps "$TCP, slaves = { { port = \"plc\", pk = \"psub01\", points = { { id = 1, address = 0 } } } }" \
    'modbus.slaves[1].ps: missing: a sub-device (pk = "psub01") needs its product secret'
bad device 'ports = { { name = "line1", mode = "rtu" } }' \
    'modbus.ports[1].device: mode rtu needs device = "/dev/tty..."'
bad serial_unit 'ports = { { name = "l", mode = "rtu", device = "/dev/null" } },
    slaves = { { port = "l", unit = 0, points = { { id = 1, address = 0 } } } }' \
    'modbus.slaves[1].unit: 0 on a serial line: use 1..247'
bad id "$TCP, slaves = { { port = \"plc\", points = { { id = 9000, address = 0 } } } }" \
    'modbus.slaves[1].points[1].id: expected'
grep -q 'nothing started' "$WORK/unit.out" || fail "--check does not say nothing started"
pass "map errors named by key path with the fix, exit 2: type, keyword, coil, port, unit, ps, device, id"
