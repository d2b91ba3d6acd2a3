#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Modbus plugin (seed 3.10) against slaves not written here (Debian's pymodbus): two
# slaves on a Modbus TCP server, one on an RTU line (a socat pty pair), 60 points of every
# type, word and byte order, scale and offset, coils, discrete inputs and input registers,
# mapped as three sub-devices of the gateway. Their values reach the platform as the right
# sub-device's reports (counted by a persistent-session witness too); a value changed on a
# slave is reported; platform writes change the slave's registers (write multiple for a
# 32-bit value, a coil) and the value read back is reported; a write to a read-only point
# or out of range is refused and the platform sees the value unchanged; a platform read is
# answered; a slave stopped is reported (event 1/10300) without holding the others, and
# comes back (1/10200) with the values it got meanwhile.
source "$(dirname "$0")/lib.sh"
command -v socat >/dev/null || fail "socat not installed"
/usr/bin/python3 -c 'import pymodbus, serial' 2>/dev/null || fail "python3-pymodbus not installed"
gateway_registry
start_broker
start_sim
start_witness +
PTS="$QTD_SOURCE_DIR/tests/integration/mb_points.py"

# --- the slaves: units 1 and 2 on a TCP server, unit 3 on an RTU line
MB_TCP=$(free_port)
start_mb_peer tcpA --tcp "$MB_TCP" --units 1,2,4
TCPA=$MB_PEER
start_bg socat socat pty,raw,echo=0,link="$WORK/rtu-slave" pty,raw,echo=0,link="$WORK/rtu-agent"
for _ in $(seq 50); do [ -e "$WORK/rtu-agent" ] && [ -e "$WORK/rtu-slave" ] && break; sleep 0.1; done
start_mb_peer rtuB --rtu "$WORK/rtu-slave" --baud 19200 --units 3
RTUB=$MB_PEER
put() { # NAME UNIT DELTA: the slave's values
    "$PTS" set "$2" "$3" | while read -r req; do mb_ctl "$1" "$req" >/dev/null; done
}
put tcpA 1 0
put tcpA 2 0
mb_ctl tcpA '{"op": "set", "unit": 4, "table": "hr", "addr": 0, "values": [21]}' >/dev/null
put rtuB 3 0

# the latest value of each id in JSON lines (the witness's frames)
merged() {
    /usr/bin/python3 -c '
import json, sys
m = {}
for line in sys.stdin:
    if line.strip():
        m.update(json.loads(line))
print(json.dumps(m, sort_keys=True))'
}

MODBUS="ports = { { name = \"plc\", mode = \"tcp\", host = \"127.0.0.1\", port = $MB_TCP },
  { name = \"line1\", mode = \"rtu\", device = \"$WORK/rtu-agent\", baud = 19200 } },
  timeout_ms = 300, retries = 1,
  slaves = { $("$PTS" map mb1:plc:1 mb2:plc:2 mb3:line1:3),
    { port = \"plc\", unit = 4, pk = \"psub01\", ps = \"c3ViZGV2aWNlc2VjcmV0\", dk = \"mbx\",
      points = { { id = 1, address = 20000 },
        { id = 2, address = 0, access = \"rw\", script = true } } },
    { port = \"plc\", unit = 9, pk = \"psub01\", ps = \"c3ViZGV2aWNlc2VjcmV0\", dk = \"mby\",
      points = { { id = 1, address = 0 } } } }" \
    AGENT_SCRIPT=$QTD_SOURCE_DIR/tests/lua/modbus_it.lua start_agent g 'dk = "gw1"' \
    'hook_dk = "mbx"'
G=$AGENT
wait_for "$WORK/g.log" 'modbus: 5 slaves on 2 lines' 10
wait_for "$WORK/g.log" 'lua: mb cb true' 5
for dk in mb1 mb2 mb3; do
    wait_for "$WORK/g.log" "lua: sub event psub01 $dk 3/10200" 15
done
mb_wait_values mb1 1 0
mb_wait_values mb2 2 0
mb_wait_values mb3 3 0
# each sub-device's frames went out under its own topic, and the witness has them all
for dk in mb1 mb2 mb3; do
    unit=${dk#mb}
    PK=psub01 witness_frames TSL_EVENT "$dk" | merged >"$WORK/witness-$dk.json"
    "$PTS" check "$("$PTS" expect "$unit" 0)" "$(cat "$WORK/witness-$dk.json")" \
        || fail "the witness did not receive $dk's values"
done
pass "60 points of 3 slaves (TCP and RTU) reported as 3 sub-devices, every type and order"

# --- an exception answer (unit 4: address 20000 does not exist) is logged once, the slave
# stays up; a unit nobody answers for (9) is reported as not answering
wait_for "$WORK/g.log" 'modbus.slaves\[4\] \(mbx\): reading holding 20000..20000: exception: Illegal data address; check the points' 10
wait_for "$WORK/g.log" 'modbus.slaves\[5\] \(mby, plc unit 9\): not answering' 10
wait_for "$WORK/g.log" 'lua: mb event psub01 mby 1/10300 \{1="plc",2=9,3="no answer within the timeout"\}' 5
sleep 1
[ "$(grep -c 'modbus.slaves\[4\] (mbx): reading holding' "$WORK/g.log")" -eq 1 ] \
    || fail "the exception was logged more than once"
! grep -q 'modbus.slaves\[4\].*not answering' "$WORK/g.log" || fail "an exception took mbx down"
pass "exception 02 logged once (slave up); a silent unit id: 1/10300"

# --- a point with script = true: its value goes to the script (event 2), which reports
# what it makes of it; a platform write of it goes to the script, which writes its own value
wait_for "$WORK/g.log" 'lua: mb event psub01 mbx 2/10200 \{2=21\}' 10
wait_for "$WORK/g.log" 'lua: mb hook report true' 5
wait_for "$WORK/sim.jsonl" '"dk": ?"mbx".*"cmd_name": ?"TSL_EVENT".*"data": ?\{"102": ?42\}' 10
! sim_frames mbx TSL_EVENT | grep -q '"2":' || fail "a script point's raw value reached the platform"
sim_ctl '{"cmd": "tsl_write", "pk": "psub01", "dk": "mbx", "data": {"2": 5}}' >/dev/null
wait_for "$WORK/g.log" 'lua: mb hook write true' 10
wait_for "$WORK/g.log" 'lua: mb event psub01 mbx 3/10200 \{2=15\}' 10
[ "$(mb_ctl tcpA '{"op": "get", "unit": 4, "table": "hr", "addr": 0, "count": 1}')" = \
    '{"ok": true, "values": [15]}' ] || fail "the script's write (5 * 3) did not reach unit 4"
pass "script points: values to the script (2/10200) and reported as it says; writes via the script"

# --- a value changed on a slave is reported (report on change), by the right sub-device
put tcpA 2 5
mb_wait_values mb2 2 5
mb_wait_values mb1 1 0 2
pass "values changed on slave 2 reported by mb2 only"

# --- platform writes: a 32-bit value in CDAB order (write multiple), a coil, a scaled value
writes0=$(mb_ctl tcpA '{"op": "writes"}' | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["writes"])')
sim_ctl '{"cmd": "tsl_write", "pk": "psub01", "dk": "mb1", "data": {"4": 305419896, "16": false, "15": 20.5}}' >/dev/null
mb_wait_reg tcpA '{"op": "get", "unit": 1, "table": "hr", "addr": 4, "count": 2}' \
    '{"ok": true, "values": [22136, 4660]}' # 0x12345678 as CDAB
[ "$(mb_ctl tcpA '{"op": "get", "unit": 1, "table": "co", "addr": 0, "count": 1}')" = \
    '{"ok": true, "values": [0]}' ] || fail "the coil was not written"
[ "$(mb_ctl tcpA '{"op": "get", "unit": 1, "table": "hr", "addr": 36, "count": 1}')" = \
    '{"ok": true, "values": [255]}' ] || fail "20.5 with scale 0.1 offset -5 is not 255"
wait_for "$WORK/g.log" 'lua: mb event psub01 mb1 3/10200 \{4=305419896\}' 10
wait_for "$WORK/g.log" 'lua: mb event psub01 mb1 3/10200 \{16=false\}' 10
for _ in $(seq 50); do
    mb_values mb1 | grep -q '"16": false' && mb_values mb1 | grep -q '"4": 305419896' && break
    sleep 0.1
done
mb_values mb1 | grep -q '"4": 305419896' || fail "the read-back of id 4 was not reported"
mb_values mb1 | grep -q '"16": false' || fail "the read-back of the coil was not reported"
mb_values mb1 | grep -qE '"15": 20\.5[,}]' || fail "the read-back of id 15 was not reported"
writes1=$(mb_ctl tcpA '{"op": "writes"}' | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["writes"])')
[ $((writes1 - writes0)) -eq 3 ] || fail "3 writes expected at the slave, $((writes1 - writes0)) seen"
pass "platform writes: u32 CDAB (write multiple), coil, scaled u16; read back and reported"

# --- refused: a read-only point, a value out of range, an unmapped id
n_before=$(sim_frames mb1 TSL_EVENT | grep -c '"2": -1235' || true)
sim_ctl '{"cmd": "tsl_write", "pk": "psub01", "dk": "mb1", "data": {"2": 5}}' >/dev/null
wait_for "$WORK/g.log" 'modbus: modbus.slaves\[1\] \(mb1\): a write refused: points\[2\] \(id 2\) is read-only' 10
wait_for "$WORK/g.log" 'lua: mb event psub01 mb1 3/10300 \{2=5\}' 5
sim_ctl '{"cmd": "tsl_write", "pk": "psub01", "dk": "mb1", "data": {"1": 70000}}' >/dev/null
wait_for "$WORK/g.log" 'a write refused: points\[1\] \(id 1\): 70000 is out of range for a u16' 10
sim_ctl '{"cmd": "tsl_write", "pk": "psub01", "dk": "mb1", "data": {"99": 1}}' >/dev/null
wait_for "$WORK/g.log" 'a write refused: id 99 is not mapped' 10
# the platform is told the value did not change
for _ in $(seq 30); do
    [ "$(sim_frames mb1 TSL_EVENT | grep -c '"2": -1235' || true)" -gt "$n_before" ] && break
    sleep 0.1
done
[ "$(sim_frames mb1 TSL_EVENT | grep -c '"2": -1235' || true)" -gt "$n_before" ] \
    || fail "the refused write did not report the unchanged value"
writes2=$(mb_ctl tcpA '{"op": "writes"}' | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["writes"])')
[ "$writes2" -eq "$writes1" ] || fail "a refused write reached the slave"
pass "writes refused: read-only (3/10300, value reported back), out of range, unmapped"

# --- a platform read is answered from the last polled values
sim_ctl '{"cmd": "tsl_read", "pk": "psub01", "dk": "mb3", "pkgid": 4242, "ids": [2, 14, 17]}' >/dev/null
wait_for "$WORK/sim.jsonl" '"dk": ?"mb3".*"pkgid": ?4242, ?"cmd": ?18' 10
/usr/bin/python3 - "$WORK/sim.jsonl" <<'PY' || fail "the read of mb3 was not answered with its values"
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("dir") == "up" and e.get("dk") == "mb3" and e.get("pkgid") == 4242:
        sys.exit(0 if e.get("data") == {"2": -1237, "14": "QTD-03", "17": True} else 1)
sys.exit(1)
PY
pass "a platform read of mb3 (pkgid 4242) answered with its values"

# --- slave 3 (RTU) stops: reported, the others go on; it comes back with its new values
kill -TERM "$RTUB"
wait_exit "$RTUB" 5
forget_pid "$RTUB"
wait_for "$WORK/g.log" 'modbus.slaves\[3\] \(mb3, line1 unit 3\): not answering' 10
wait_for "$WORK/g.log" 'lua: mb event psub01 mb3 1/10300' 5
put tcpA 1 7
mb_wait_values mb1 1 7 5
pass "slave 3 stopped: 1/10300; slave 1's change still reported within its period"
start_mb_peer rtuB --rtu "$WORK/rtu-slave" --baud 19200 --units 3
put rtuB 3 9
wait_for "$WORK/g.log" 'modbus.slaves\[3\] \(mb3, line1 unit 3\): answering again' 20
wait_for "$WORK/g.log" 'lua: mb event psub01 mb3 1/10200' 5
mb_wait_values mb3 3 9
pass "slave 3 back: 1/10200, its new values reported"

grep -q 'not answering' <(grep -E 'slaves\[[12]\]' "$WORK/g.log") \
    && fail "slaves 1 or 2 were reported as not answering"
stop_checked "$G" g
pass "the agent stops cleanly"
