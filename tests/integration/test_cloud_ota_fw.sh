#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# MQTT OTA with its image (seed 2.4.1, 3.6) against mosquitto, the simulator and nginx: the
# simulator's OTA task ("ota") sends OTA_NOTIFY and, once the device confirmed it, its
# OTA_FW_INFO; the agent downloads the image through the download
# service and verifies it, then by component:
#   an external MCU: every 7/10703 piece read with mcuFWDataRead and put together is the
#   image byte for byte; otaAction(2) / (3), then setMcuVersion(target) ends in 7/10705;
#   the agent's script (SCRIPT): a 5 MiB new script runs, its version is reported, the MQTT
#   session is never dropped; a new script that raises at load, or in its first seconds,
#   is rolled back (the old one runs again) and 7/10706 reported;
#   a wrong MD5, or a wrong SHA-256 after otaRequest(1): 7/10706, nothing applied; a plan
#   whose useSpace is more than the disk has: status 12 before any download;
#   firmware: the agent killed with SIGKILL half-way through a 20 MiB download resumes it
#   after a restart (nginx counts < 1.2x the image), the apply command gets the verified
#   file, and after a simulated reboot (a restart with the new version) 7/10705 is
#   reported exactly once.
# Every OTA uplink is counted by the witness (a persistent-session subscriber), not the
# simulator's log.
source "$(dirname "$0")/lib.sh"
auto_registry
start_broker
start_sim
NGINX_SLOW_RATE=2m start_nginx
start_witness + ota

# ota DK COMP TYPE FILE [MD5 [SHA256 [PATH]]]: an OTA task for COMP (componentType TYPE) to
# version 2.0 from the platform (qthingd-sim's "ota"): OTA_NOTIFY now, and the OTA_FW_INFO of
# $WORK/www/FILE (served as $URL/PATH) when the device confirms it; OTA_PLAN_EXTRA: more
# ids of the plan (', "9": N' for its useSpace)
ota() {
    local dk=$1 comp=$2 type=$3 file=$4 md5=${5:-} sha=${6:-} path=${7:-$4} size
    size=$(stat -c %s "$WORK/www/$file")
    md5=${md5:-$(md5sum "$WORK/www/$file" | cut -d' ' -f1)}
    sha=${sha:-$(sha256sum "$WORK/www/$file" | cut -d' ' -f1)}
    sim_ctl "{\"cmd\": \"ota\", \"dk\": \"$dk\", \"data\": {\"4\": \"$comp\", \"5\": \"1.0\", \
\"6\": \"2.0\", \"7\": $type${OTA_PLAN_EXTRA:-}}, \"fw\": {\"1\": \"$URL/$path\", \"2\": $size, \"3\": \"$md5\", \
\"15\": \"1a2b3c4d\", \"16\": \"$sha\", \"4\": \"$comp\", \"6\": \"2.0\", \"7\": $type}}" >/dev/null
}
# statuses DK [N]: the OTA_EVENT statuses the witness received from DK, space-separated,
# once it has N of them (the agent's events may come before the witness's deliveries;
# waits up to 10 s)
statuses() {
    local end=$((SECONDS + 10)) st
    while :; do
        st=$(witness_frames OTA_EVENT "$1" | /usr/bin/python3 -c '
import json, sys
print(" ".join(str(json.loads(l)["13"]) for l in sys.stdin))')
        [ "$(echo "$st" | wc -w)" -lt "${2:-0}" ] && [ $SECONDS -le $end ] || break
        sleep 0.2
    done
    echo "$st"
}
# --- an external MCU, 200 KiB in 64 KiB pieces
head -c 204800 /dev/urandom >"$WORK/www/mcu.bin"
HTTPOTA= CLOUD_EXTRA='ota_mcu_piece_kb = 64' \
    start_agent m 'dk = "otam"' 'mode = "none"' 'ota = "confirm"' 'mcu = true'
M=$AGENT
wait_for "$WORK/m.log" 'lua: event 3/10200' 15
ota otam MCU1 1 mcu.bin
wait_for "$WORK/m.log" 'lua: event 7/10705' 20
/usr/bin/python3 - "$WORK/m.log" "$WORK/www/mcu.bin" <<'PY' || fail "the MCU pieces differ"
import sys
data = {}
for line in open(sys.argv[1], errors="replace"):
    p = line.split("lua: mcu piece ", 1)
    if len(p) == 2:
        at, _, hexed = p[1].strip().partition(" ")
        data[int(at)] = bytes.fromhex(hexed)
image = b"".join(data[k] for k in sorted(data))
want = open(sys.argv[2], "rb").read()
sys.exit(0 if image == want else 1)
PY
grep -q 'lua: event 7/10701 "\\"MCU1\\",204800,\\"[0-9a-f]\{32\}\\",439041101' "$WORK/m.log" \
    || fail "no 7/10701 with the SDK's MCU string"
[ "$(grep -c 'lua: event 7/10703' "$WORK/m.log")" -eq 4 ] || fail "not 4 pieces (10703)"
[ "$(grep -c 'lua: event 7/10702$' "$WORK/m.log")" -eq 3 ] || fail "not 3 next pieces (10702)"
[ "$(grep -c 'lua: event 7/10704$' "$WORK/m.log")" -eq 1 ] || fail "not one 7/10704 (updating)"
grep -q 'lua: event 7/10703 "\\"MCU1\\",204800,196608,8192"' "$WORK/m.log" \
    || fail "no last piece of 8 KiB"
grep -q 'lua: mcu beyond nil' "$WORK/m.log" || fail "a read past the piece was not nil"
grep -q 'lua: mcu last false true' "$WORK/m.log" || fail "otaAction(2) at the last piece"
st=$(statuses otam 12)
[ "$st" = "1 2 4 8 4 8 4 8 4 8 9 11" ] || fail "MCU statuses: $st"
witness_frames OTA_EVENT otam | tail -1 | grep -q '"26": "MCU1:2.0"' \
    || fail "status 11 without the MCU version"
wait_for "$WORK/sim.jsonl" '"event": ?"ota".*"dk": ?"otam", ?"state": ?"updated"' 5
stop_checked "$M" m
pass "MCU: 4 pieces read with mcuFWDataRead equal the image; statuses $st"

# --- the agent's own script (component SCRIPT), on a copy of cloud_it.lua
# new_script FILE TAG [LUA]: cloud_it.lua as version TAG (LUA first), padded to 5 MiB
new_script() {
    { echo "SCRIPT_TAG = \"$2\""; echo "${3:-}"; cat "$QTD_SOURCE_DIR/tests/lua/cloud_it.lua"; } \
        >"$WORK/www/$1"
    /usr/bin/python3 - "$WORK/www/$1" <<'PY'
import sys
with open(sys.argv[1], "a") as f:
    line = "-- " + "padding " * 12 + "\n"
    while f.tell() < 5 * 1024 * 1024:
        f.write(line)
PY
}
mkdir -p "$WORK/s"
cp "$QTD_SOURCE_DIR/tests/lua/cloud_it.lua" "$WORK/s/script.lua"
cp "$QTD_SOURCE_DIR/tests/lua/it_dump.lua" "$WORK/s/"
new_script v2.lua v2
new_script bad.lua v3 'error("broken on purpose")'
new_script late.lua v4 'local t = agent.timer(); t:start(500, 0, function() error("late on purpose") end)'
AGENT_SCRIPT=$WORK/s/script.lua HTTPOTA= CLOUD_EXTRA='ota_probation_s = 2' \
    start_agent s 'dk = "otas"' 'mode = "none"' 'ota = "confirm"'
S=$AGENT
wait_for "$WORK/s.log" 'lua: event 3/10200' 15
ota otas SCRIPT 1 v2.lua
wait_for "$WORK/s.log" 'lua: script v2 running' 20
wait_for "$WORK/s.log" 'lua: event 7/10705' 10
grep -q '^SCRIPT_TAG = "v2"' "$WORK/s/script.lua" || fail "the script file was not replaced"
cmp -s "$QTD_SOURCE_DIR/tests/lua/cloud_it.lua" "$WORK/s/script.lua.previous" \
    || fail "the previous script was not kept"
st=$(statuses otas 6)
[ "$st" = "1 2 4 8 9 11" ] || fail "script statuses: $st"
witness_frames OTA_EVENT otas | tail -1 | grep -q '"26": "SCRIPT:2.0"' \
    || fail "status 11 without the new SCRIPT version"
pass "SCRIPT: a 5 MiB script swapped in and runs; statuses $st; version SCRIPT:2.0 reported"

# a new script that raises at load: the running one (v2) is put back, 7/10706
ota otas SCRIPT 1 bad.lua
wait_for "$WORK/s.log" 'lua: event 7/10706' 20
grep -q 'broken on purpose' "$WORK/s.log" || fail "the load error was not logged"
wait_for "$WORK/s.log" 'lua: script v2 running' 5 2
grep -q '^SCRIPT_TAG = "v2"' "$WORK/s/script.lua" || fail "v2 is not back in place"
pass "SCRIPT that raises at load: rolled back to v2, 7/10706"

# a new script that raises 0.5 s after it started, within its probation
ota otas SCRIPT 1 late.lua
wait_for "$WORK/s.log" 'lua: script v4 running' 20
wait_for "$WORK/s.log" 'lua: event 7/10706' 10 2
wait_for "$WORK/s.log" 'lua: script v2 running' 5 3
grep -q 'late on purpose' "$WORK/s.log" || fail "the late error was not logged"
grep -q '^SCRIPT_TAG = "v2"' "$WORK/s/script.lua" || fail "v2 is not back after probation"
st=$(statuses otas 18)
[ "$st" = "1 2 4 8 9 11 1 2 4 8 9 12 1 2 4 8 9 12" ] || fail "script statuses: $st"

# a wrong MD5: status 6 then 12, nothing applied
ota otas SCRIPT 1 v2.lua 0123456789abcdef0123456789abcdef
wait_for "$WORK/s.log" 'lua: event 7/10706' 20 3
st=$(statuses otas 23)
[ "${st#* 12 1 2 4 8 9 12 }" = "1 2 4 6 12" ] || fail "wrong MD5 statuses: $st"
[ "$(grep -c 'lua: script v' "$WORK/s.log")" -eq 5 ] || fail "a script ran after a wrong MD5"
[ ! -e "$WORK/s/data/ota/mqtt-ota.bin" ] || fail "the image with a wrong MD5 was kept"
[ "$(grep -c 'cloud: online as' "$WORK/s.log")" -eq 1 ] || fail "the MQTT session was dropped"
stop_checked "$S" s
pass "SCRIPT raising in probation, and a wrong MD5: rolled back / nothing applied; one session"

# --- a wrong SHA-256 after otaRequest(1): nothing applied
HTTPOTA= start_agent x 'dk = "otax"' 'mode = "none"' 'ota = "confirm"' 'ota_request = 1' 'mcu = true'
X=$AGENT
wait_for "$WORK/x.log" 'lua: ota request true' 15
ota otax MCU1 1 mcu.bin "" 0000000000000000000000000000000000000000000000000000000000000000
wait_for "$WORK/x.log" 'lua: event 7/10706' 20
! grep -q 'lua: event 7/10703' "$WORK/x.log" || fail "an image with a wrong SHA-256 was offered"
st=$(statuses otax 5)
[ "$st" = "1 2 4 6 12" ] || fail "wrong SHA-256 statuses: $st"
pass "wrong SHA-256 with otaRequest(1): statuses $st, nothing applied"

# --- a plan that needs more space than the disk has (useSpace 1 PB): refused before the download
OTA_PLAN_EXTRA=', "9": 1000000000000000' ota otax MCU1 1 mcu.bin
wait_for "$WORK/x.log" 'lua: event 7/10706' 20 2
grep -q 'lua: event 7/10700 "\\"MCU1\\",\\"1.0\\",\\"2.0\\",0,0,1000000000000000"' "$WORK/x.log" \
    || fail "the plan's useSpace is not in 7/10700"
grep -q 'bytes free for the image, 1000000000000000 needed' "$WORK/x.log" || fail "no space refusal"
st=$(statuses otax 8)
[ "${st#1 2 4 6 12 }" = "1 2 12" ] || fail "too little space statuses: $st"
stop_checked "$X" x
pass "a plan needing more space than there is: 1 2 12, nothing downloaded"

# --- firmware: SIGKILL half-way through 20 MiB, resumed; applied; reported after the reboot
head -c 20971520 /dev/urandom >"$WORK/www/fw.bin"
FW_APPLY="cp \"\$1\" $WORK/installed.bin && echo \"\$2 \$3\" >$WORK/installed.txt"
fw_agent() { # VERSION: the agent f running firmware VERSION
    HTTPOTA="firmware_command = [[$FW_APPLY]], firmware_version_command = [[echo $1]]" \
        start_agent f 'dk = "otaf"' 'mode = "none"' 'ota = "confirm"'
}
fw_agent 1.0
wait_for "$WORK/f.log" 'lua: event 3/10200' 15
ota otaf FW 0 fw.bin "" "" slow/fw.bin
wait_for "$WORK/f.log" 'cloud: OTA FW: [0-9]+ of 20971520 bytes' 30 2
kill_agent f
have=$(stat -c %s "$WORK/f/data/ota/mqtt-ota.bin")
[ "$have" -ge 8000000 ] && [ "$have" -lt 20971520 ] || fail "killed at $have bytes"
fw_agent 1.0
wait_for "$WORK/f.log" "resuming at byte $have" 15
wait_for "$WORK/f.log" 'firmware apply command finished \(exit 0\)' 40
cmp -s "$WORK/www/fw.bin" "$WORK/installed.bin" || fail "the command did not get the image"
[ "$(cat "$WORK/installed.txt")" = "FW 2.0" ] || fail "apply arguments: $(cat "$WORK/installed.txt")"
sent=$(awk '$1 == "/slow/fw.bin" {s += $3} END {print s}' "$WORK/nginx/access.log")
[ "$sent" -lt $((20971520 * 12 / 10)) ] || fail "fetched $sent bytes for 20 MiB"
stop_checked "$AGENT" f
keep_log f
fw_agent 2.0 # the reboot: the new firmware runs
wait_for "$WORK/f.log" 'lua: event 3/10200' 15
wait_for "$WORK/f.log" 'cloud: OTA FW 2.0: updated' 10
sleep 1
fw_agent_pid=$AGENT
stop_checked "$fw_agent_pid" f
keep_log f
fw_agent 2.0 # and once more: nothing is reported again
wait_for "$WORK/f.log" 'lua: event 3/10200' 15
sleep 1
st=$(statuses otaf)
[ "$(echo "$st" | grep -o ' 11' | wc -l)" -eq 1 ] || fail "firmware statuses: $st"
case "$st" in "1 2 4 "*" 8 9 11") ;; *) fail "firmware statuses: $st" ;; esac
witness_frames OTA_EVENT otaf | tail -1 | grep -q '"25": "2.0"' || fail "11 without version 2.0"
stop_checked "$AGENT" f
pass "firmware: kill -9 at $have bytes, resumed ($sent bytes fetched for 20 MiB), applied, 11 once after the reboot"
