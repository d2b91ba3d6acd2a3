#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bad Modbus frames on an RTU line (a socat pty pair; the slave is tests/peers/mb_hostile.py):
# answers from the wrong unit, truncated, with a bad CRC, noise, an exception, more
# registers than asked, and silence, each between good answers. The agent keeps polling,
# names what went wrong, reports the good value only (never 0xDEADBEEF), takes the slave
# out after its retries and back when it answers, and stops cleanly.
source "$(dirname "$0")/lib.sh"
command -v socat >/dev/null || fail "socat not installed"
/usr/bin/python3 -c 'import pymodbus, serial' 2>/dev/null || fail "python3-pymodbus not installed"
gateway_registry
start_broker
start_sim

start_bg socat socat pty,raw,echo=0,link="$WORK/rtu-slave" pty,raw,echo=0,link="$WORK/rtu-agent"
for _ in $(seq 50); do [ -e "$WORK/rtu-agent" ] && [ -e "$WORK/rtu-slave" ] && break; sleep 0.1; done
MODES=truncated,valid,wrong_unit,valid,bad_crc,valid,garbage,valid,exception,valid,long,valid
MODES=$MODES,silence,silence,silence,valid
start_bg hostile /usr/bin/python3 -u "$QTD_SOURCE_DIR/tests/peers/mb_hostile.py" \
    "$WORK/rtu-slave" 7 "$MODES"
wait_for "$WORK/hostile.log" '^ready' 10

MODBUS="ports = { { name = \"line1\", mode = \"rtu\", device = \"$WORK/rtu-agent\", baud = 19200 } },
  slaves = { { port = \"line1\", unit = 7, pk = \"psub01\", ps = \"c3ViZGV2aWNlc2VjcmV0\",
    dk = \"mbh\", poll_ms = 100, timeout_ms = 200, retries = 1,
    points = { { id = 1, address = 0, type = \"u32\", report = \"period\" } } } }" \
    AGENT_SCRIPT=$QTD_SOURCE_DIR/tests/lua/modbus_it.lua start_agent g 'dk = "gw1"'
G=$AGENT
wait_for "$WORK/g.log" 'lua: sub event psub01 mbh 3/10200' 15
# two rounds of every mode
wait_for "$WORK/hostile.log" '^3[2-9] valid' 60
kill -0 "$G" || fail "the agent died"
wait_for "$WORK/g.log" 'modbus.slaves\[1\] \(mbh\): reading holding 0..1: exception: Illegal data address' 5
wait_for "$WORK/g.log" 'modbus.slaves\[1\] \(mbh, line1 unit 7\): not answering' 5
wait_for "$WORK/g.log" 'modbus.slaves\[1\] \(mbh, line1 unit 7\): answering again' 10
wait_for "$WORK/sim.jsonl" '"dk": ?"mbh".*"cmd_name": ?"TSL_EVENT"' 10
/usr/bin/python3 - "$WORK/sim.jsonl" <<'PY' || fail "a value of a bad frame was reported"
import json, sys
values = []
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("dir") == "up" and e.get("dk") == "mbh" and e.get("cmd_name") == "TSL_EVENT":
        values.append(e["data"].get("1"))
print(f"{len(values)} reports of mbh: {sorted(set(values))}")
sys.exit(0 if len(values) >= 5 and set(values) == {305419896} else 1)
PY
pass "bad frames (wrong unit, truncated, bad CRC, noise, exception, too long, silence) never reported"
stop_checked "$G" g
pass "the agent stops cleanly"
