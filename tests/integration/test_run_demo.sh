#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's demo commands, QTD_DEMO=meter ./run.sh and QTD_DEMO=tracker ./run.sh, run as
# they are (on this build tree, without the package check, their state in the test's work
# dir) until the platform has what they promise, then stopped like Ctrl-C does:
# meter: config/modbus-meter.lua's two slaves (pymodbus on a pty pair and on Modbus TCP, fed
# changing readings by tests/peers/meter_feed.py) come online as sub-devices and report
# readings the feed wrote, changing over time; the platform's write of the meter's relay
# reaches the slave and its read-back is reported.
# tracker: config/gnss-tracker.lua's receiver (a pty fed by tests/peers/nmea_feed.py) and
# modem (tests/peers/at_modem.sh): the device comes on with the modem's IMEI as its key and
# reports its location by the policies and on request, every sentence as fed; the platform's
# location request is answered.
# Each time run.sh exits 0 once the agent stopped cleanly, and leaves no process behind. The
# uplinks checked are those a persistent-session subscriber on run.sh's broker received
# (start_witness), not only what the simulator logged.
source "$(dirname "$0")/lib.sh"
command -v socat >/dev/null || fail "socat not installed"
/usr/bin/python3 -c 'import pymodbus, serial' 2>/dev/null || fail "python3-pymodbus not installed"

# run.sh starts `mosquitto` from PATH; in a sanitizer build its auth plugin needs what
# lib.sh's MOSQUITTO adds (the ASan runtime preloaded): the same through a wrapper.
if [ "${MOSQUITTO[0]}" != mosquitto ]; then
    mkdir -p "$WORK/bin"
    {
        echo '#!/bin/sh'
        printf 'exec'
        printf ' %q' "${MOSQUITTO[@]:0:${#MOSQUITTO[@]}-1}" "$(command -v mosquitto)"
        echo ' "$@"'
    } >"$WORK/bin/mosquitto"
    chmod +x "$WORK/bin/mosquitto"
    PATH=$WORK/bin:$PATH
fi

# demo NAME: QTD_DEMO=NAME ./run.sh in a session of its own (its process group: whatever it
# starts), output in $WORK/NAME.log, state in $WORK/NAME; sets DEMO (its PID).
demo() {
    start_bg "$1" setsid env QTD_DEMO="$1" QTD_NO_INSTALL=1 QTD_BUILD="$QTD_BUILD_DIR" \
        QTD_RUN_DIR="$WORK/$1" "$QTD_SOURCE_DIR/run.sh"
    DEMO=$LAST_PID
}
# stop_demo NAME: SIGTERM run.sh (as Ctrl-C stops it): it exits 0 after the agent stopped
# cleanly, and nothing it started is left.
stop_demo() {
    stop_checked "$DEMO" "$1"
    grep -q 'core: stopped cleanly' "$WORK/$1.log" || fail "$1: the agent did not stop cleanly"
    local left _
    for _ in $(seq 20); do # its group, but for exited ones not reaped yet (zombies)
        left=$(ps -e -o pgid=,pid=,stat=,args= | awk -v g="$DEMO" '$1 == g && $3 !~ /^Z/')
        [ -n "$left" ] || return 0
        sleep 0.1
    done
    kill -TERM -- "-$DEMO" 2>/dev/null
    fail "$1: left running: $left"
}
# demo_witness DIR: the witness (start_witness, every device's bus topic) on the broker of
# the run.sh whose state is in DIR, once that broker is up; sets WITNESS (its PID).
demo_witness() {
    wait_for "$1/ctl" 'password' 30
    PORT=$(grep -oE '127\.0\.0\.1:[0-9]+' "$1/site.lua" | cut -d: -f2)
    SIMPW=$(grep -oE -- '--password "[^"]+"' "$1/ctl" | head -1 | cut -d'"' -f2)
    start_witness + bus
    WITNESS=$LAST_PID
}
# seen PK DK CMD_NAME N: wait until the witness has N frames of that device with CMD_NAME
# (their data go to $WORK/DK.CMD_NAME.jsonl, in arrival order).
seen() {
    local f=$WORK/$2.$3.jsonl _
    for _ in $(seq 300); do
        PK=$1 witness_frames "$3" "$2" >"$f"
        [ "$(wc -l <"$f")" -lt "$4" ] || break
        sleep 0.1
    done
    [ "$(wc -l <"$f")" -ge "$4" ] || fail "the witness has fewer than $4 $3 frames of $2"
}

# --- meter: two Modbus slaves as sub-devices
demo meter
M=$WORK/meter
demo_witness "$M"
wait_for "$WORK/meter.log" 'configuration OK \(2 plugins\)' 30
wait_for "$WORK/meter.log" 'modbus: 2 slaves on 2 lines' 15
wait_for "$M/sim.jsonl" '"dk":"meter1".*"cmd_name":"TSL_EVENT"' 20 6
wait_for "$M/sim.jsonl" '"dk":"cabinet1".*"cmd_name":"TSL_EVENT"' 20 2
# the relay: the platform switches it off (run.sh's platform side) and the read-back says so
wait_for "$M/sim.jsonl" '"dk":"meter1".*"cmd_name":"TSL_WRITE".*"data":\{"11":false\}' 30
wait_for "$M/sim.jsonl" '"dir":"up".*"dk":"meter1".*"cmd_name":"TSL_EVENT".*"data":\{"11":false\}' 10
seen pMeterPK meter1 TSL_EVENT 6
grep -q '"11": false' "$WORK/meter1.TSL_EVENT.jsonl" || fail "the witness has no read-back of the relay"
seen pCabinetPK cabinet1 TSL_EVENT 2
/usr/bin/python3 - "$M/meter/meter-feed.jsonl" "$WORK/meter1.TSL_EVENT.jsonl" \
    "$WORK/cabinet1.TSL_EVENT.jsonl" <<'PY' \
    || fail "the sub-devices' reports are not the readings the slaves were fed"
import json, sys
fed = {"meter1": {}, "cabinet1": {}}
for line in open(sys.argv[1]):
    if line.strip():
        cycle = json.loads(line)
        for dk in fed:
            for k, v in cycle[dk].items():
                fed[dk].setdefault(k, []).append(v)
def near(v, vals):
    return any(v == w if isinstance(w, (bool, str)) else abs(v - w) <= 1e-4 * max(1, abs(w))
               for w in vals)
seen = {"meter1": {}, "cabinet1": {}}
for dk, path in (("meter1", sys.argv[2]), ("cabinet1", sys.argv[3])):
    for line in open(path):
        for k, v in json.loads(line).items():
            if dk == "meter1" and k == "11":
                continue  # the relay: the platform switches it
            if not near(v, fed[dk].get(k, [])):
                sys.exit(f"{dk} reported {k} = {v!r}, never fed")
            seen[dk].setdefault(k, set()).add(v)
m = seen["meter1"]
print("meter1:", {k: len(v) for k, v in sorted(m.items(), key=lambda x: int(x[0]))},
      "cabinet1:", {k: len(v) for k, v in seen["cabinet1"].items()})
assert all(str(i) in m for i in range(1, 11)), "ids 1..10 of the meter not all reported"
assert m["12"] == {"QTD-DEMO-METER3P"}, m["12"]
assert len(m["1"]) >= 3 and len(m["7"]) >= 2, "the readings did not change"
assert "1" in seen["cabinet1"], "no temperature of the cabinet"
PY
n=$(wc -l <"$WORK/meter1.TSL_EVENT.jsonl")
stop_checked "$WITNESS" witness
stop_demo meter
pass "meter demo: sub-devices meter1 and cabinet1 online, $n reports of meter1 with the fed readings; the relay written and read back"

# --- tracker: a receiver and a modem on ptys
demo tracker
T=$WORK/tracker
demo_witness "$T"
IMEI=866123456789012
wait_for "$WORK/tracker.log" 'configuration OK \(2 plugins\)' 30
wait_for "$WORK/tracker.log" "cloud: default device key: the modem's IMEI $IMEI" 15
wait_for "$WORK/tracker.log" 'gnss: LBS: serving cell 460-00 LAC 1522 cell 27440068' 15
wait_for "$T/sim.jsonl" "\"dk\":\"$IMEI\".*\"cmd_name\":\"LOC_RSP\"" 30
wait_for "$T/sim.jsonl" "\"dk\":\"$IMEI\".*\"cmd_name\":\"LOC_REPORT\"" 30 4
seen p1116a "$IMEI" LOC_REPORT 4
seen p1116a "$IMEI" LOC_RSP 1
/usr/bin/python3 - "$T/tracker/fed.nmea" "$WORK/$IMEI.LOC_REPORT.jsonl" \
    "$WORK/$IMEI.LOC_RSP.jsonl" <<'PY' || fail "the location reports are not the receiver's sentences"
import json, sys
fed = set(open(sys.argv[1]).read().split("\n"))
where = set()
counts = {}
for kind, path in (("LOC_REPORT", sys.argv[2]), ("LOC_RSP", sys.argv[3])):
    counts[kind] = 0
    for line in open(path):
        parts = json.loads(line)["2"].split(";")
        assert parts[-1] == "" and len(parts) >= 2, parts
        for s in parts[:-1]:
            assert s in fed, f"{s} was never fed"
            if s[3:6] == "GGA":
                where.add(s.split(",")[2])
        if kind == "LOC_RSP":
            assert [s[3:6] for s in parts[:-1]] == ["GGA", "RMC"], parts
        counts[kind] += 1
print(f"{counts['LOC_REPORT']} LOC_REPORT, {counts['LOC_RSP']} LOC_RSP, {len(where)} latitudes")
assert counts["LOC_REPORT"] >= 4 and counts["LOC_RSP"] >= 1 and len(where) >= 3
PY
n=$(wc -l <"$WORK/$IMEI.LOC_REPORT.jsonl")
stop_checked "$WITNESS" witness
stop_demo tracker
pass "tracker demo: online as its modem's IMEI, $n location reports as fed, a location request answered"
