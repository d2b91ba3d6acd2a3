#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The seed's own Modbus API (3.10): a script that drives the UART itself. The line is
# configured with mode = "script"; the script opens the real serial line (one end of a
# socat pty pair whose other end is a pymodbus RTU slave) with modbus.serialOpen and calls
# quecIot.MBInit({7}, sendFunc, initCb): libmodbus's bytes reach sendFunc, the script writes
# them to the line, and what the line answers goes back with quecIot.MBDataRecv. initCb gets
# the seed's {product = {pk, ps}, uart = {port, baud, databits, parity, stopbits}}. Through
# that path, unit 5 (a sub-device) and unit 6 (the device's own thing model) reach the same
# results as the plugin's own lines: every value reported, quecIot.MBDataSend writes the
# device's own points, a platform write reaches the sub-device's registers.
source "$(dirname "$0")/lib.sh"
command -v socat >/dev/null || fail "socat not installed"
/usr/bin/python3 -c 'import pymodbus, serial' 2>/dev/null || fail "python3-pymodbus not installed"
gateway_registry
start_broker
start_sim
PTS="$QTD_SOURCE_DIR/tests/integration/mb_points.py"

start_bg socat socat pty,raw,echo=0,link="$WORK/rtu-slave" pty,raw,echo=0,link="$WORK/rtu-script"
for _ in $(seq 50); do [ -e "$WORK/rtu-script" ] && [ -e "$WORK/rtu-slave" ] && break; sleep 0.1; done
start_mb_peer rtu --rtu "$WORK/rtu-slave" --baud 9600 --units 5,6
for unit in 5 6; do
    "$PTS" set "$unit" 0 | while read -r req; do mb_ctl rtu "$req" >/dev/null; done
done
MODBUS="ports = { { name = \"uart1\", mode = \"script\", uart = 7, baud = 9600 } },
  timeout_ms = 500, slaves = { $("$PTS" map mb5:uart1:5 -:uart1:6) }" \
    AGENT_SCRIPT=$QTD_SOURCE_DIR/tests/lua/modbus_it.lua start_agent g 'dk = "gw1"' \
    "serial = \"$WORK/rtu-script\"" 'uart = 7'
G=$AGENT
wait_for "$WORK/g.log" 'lua: mb serial true' 10
wait_for "$WORK/g.log" 'lua: mb init call true' 5
wait_for "$WORK/g.log" 'lua: mb init again refused false' 5
grep -q 'quecIot.MBInit: no line of modbus.ports has mode = "script" and a uart in uartList' \
    "$WORK/g.log" || fail "MBInit({99}) was not refused with its reason"
wait_for "$WORK/g.log" 'lua: mb init \{product=\{pk="psub01",ps="c3ViZGV2aWNlc2VjcmV0"\},uart=\{1=7,2=9600,3=3,4=0,5=0\}\}' 10
pass "MBInit: the serial line open, initCb got the seed's {product, uart} (8N1 as 3, 0, 0)"

wait_for "$WORK/g.log" 'lua: sub event psub01 mb5 3/10200' 15
mb_wait_values mb5 5 0 20
mb_wait_values gw1 6 0 20
pass "through sendFunc / MBDataRecv: unit 5 reported as sub-device mb5, unit 6 as the device"

# --- quecIot.MBDataSend writes the device's own points; an id it does not map is refused
sim_ctl '{"cmd": "pass_write", "dk": "gw1", "text": "send 1 4321"}' >/dev/null
wait_for "$WORK/g.log" 'lua: mb send true' 10
mb_wait_reg rtu '{"op": "get", "unit": 6, "table": "hr", "addr": 0, "count": 1}' \
    '{"ok": true, "values": [4321]}' 
wait_for "$WORK/sim.jsonl" '"dk": ?"gw1".*"cmd_name": ?"TSL_EVENT".*"data": ?\{"1": ?4321\}' 10
sim_ctl '{"cmd": "pass_write", "dk": "gw1", "text": "send 99 1"}' >/dev/null
wait_for "$WORK/g.log" 'lua: mb send false' 10
pass "MBDataSend: unit 6 written and read back; an unmapped id refused"

# --- a platform write to the sub-device goes through the script's line too
sim_ctl '{"cmd": "tsl_write", "pk": "psub01", "dk": "mb5", "data": {"3": 7}}' >/dev/null
mb_wait_reg rtu '{"op": "get", "unit": 5, "table": "hr", "addr": 2, "count": 2}' \
    '{"ok": true, "values": [0, 7]}' 
wait_for "$WORK/g.log" 'lua: mb event psub01 mb5 3/10200 \{3=7\}' 10
pass "a platform write to mb5 reached unit 5 through the script's line"

# --- quecIot.MBDeinit: the line stops, its sub-device is logged out
sim_ctl '{"cmd": "pass_write", "dk": "gw1", "text": "deinit"}' >/dev/null
wait_for "$WORK/g.log" 'lua: mb deinit true' 10
wait_for "$WORK/g.log" 'lua: sub event psub01 mb5 6/10200' 10
sleep 1
reads0=$(mb_ctl rtu '{"op": "reads"}' | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["reads"])')
sleep 1.5
reads1=$(mb_ctl rtu '{"op": "reads"}' | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["reads"])')
[ "$reads1" -eq "$reads0" ] || fail "the line still polls after MBDeinit ($reads0 -> $reads1 reads)"
pass "MBDeinit: the line stopped (no read in 1.5 s), mb5 logged out (6/10200)"

# no bytes refused while the line was open (bytes the script read just before MBDeinit and
# hands over after it are refused, rightly: the line is closed)
! sed '/lua: mb deinit true/q' "$WORK/g.log" | grep -q 'lua: mb send refused\|lua: mb recv refused' \
    || fail "bytes refused while the line was open"
stop_checked "$G" g
pass "the agent stops cleanly"
