#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# MQTT OTA with its image (seed 2.4.1, 3.6) against mosquitto, the simulator and nginx: a
# confirmed task gets its OTA_FW_INFO, the agent downloads the image through the download
# service and verifies it, then by component:
#   an external MCU: every 7/10703 piece read with mcuFWDataRead and put together is the
#   image byte for byte; otaAction(2) / (3), then setMcuVersion(target) ends in 7/10705;
#   the agent's script (SCRIPT): a 5 MiB new script runs, its version is reported, the MQTT
#   session is never dropped; a new script that raises at load, or in its first seconds,
#   is rolled back (the old one runs again) and 7/10706 reported;
#   a wrong MD5, or a wrong SHA-256 after otaRequest(1): 7/10706, nothing applied;
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

# task DK COMP TYPE: an OTA_NOTIFY for COMP (componentType TYPE) to version 2.0
task() {
    local hex
    hex=$("$SIM" frame --cmd OTA_NOTIFY --pkgid 9 \
        --tsl "{\"4\": \"$2\", \"5\": \"1.0\", \"6\": \"2.0\", \"7\": $3}")
    sim_ctl "{\"cmd\": \"raw\", \"dk\": \"$1\", \"hex\": \"$hex\"}" >/dev/null
}
# fw_info DK COMP TYPE FILE [MD5 [SHA256 [PATH]]]: the OTA_FW_INFO of $WORK/www/FILE
fw_info() {
    local dk=$1 comp=$2 type=$3 file=$4 md5=${5:-} sha=${6:-} path=${7:-$4} size hex
    size=$(stat -c %s "$WORK/www/$file")
    md5=${md5:-$(md5sum "$WORK/www/$file" | cut -d' ' -f1)}
    sha=${sha:-$(sha256sum "$WORK/www/$file" | cut -d' ' -f1)}
    hex=$("$SIM" frame --cmd OTA_FW_INFO --pkgid 10 --tsl "{\"1\": \"$URL/$path\", \
\"2\": $size, \"3\": \"$md5\", \"15\": \"1a2b3c4d\", \"16\": \"$sha\", \"4\": \"$comp\", \
\"6\": \"2.0\", \"7\": $type}")
    sim_ctl "{\"cmd\": \"raw\", \"dk\": \"$dk\", \"hex\": \"$hex\"}" >/dev/null
}
# statuses DK: the OTA_EVENT statuses the witness received from DK, space-separated
statuses() {
    witness_frames OTA_EVENT "$1" | /usr/bin/python3 -c '
import json, sys
print(" ".join(str(json.loads(l)["13"]) for l in sys.stdin))'
}
# confirmed DK LOG: wait until the agent confirmed a task (the witness saw status 2)
confirmed() {
    wait_for "$WORK/$2.log" 'lua: ota action true' 10
    local end=$((SECONDS + 10))
    until statuses "$1" | grep -qE '(^| )2$'; do
        [ $SECONDS -le $end ] || fail "$1: no status 2 (SUBMITOTA): $(statuses "$1")"
        sleep 0.2
    done
}

# --- an external MCU, 200 KiB in 64 KiB pieces
head -c 204800 /dev/urandom >"$WORK/www/mcu.bin"
HTTPOTA= CLOUD_EXTRA='ota_mcu_piece_kb = 64' \
    start_agent m 'dk = "otam"' 'mode = "none"' 'ota = "confirm"' 'mcu = true'
M=$AGENT
wait_for "$WORK/m.log" 'lua: event 3/10200' 15
task otam MCU1 1
confirmed otam m
fw_info otam MCU1 1 mcu.bin
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
grep -q 'lua: event 7/10703 "\\"MCU1\\",204800,196608,8192"' "$WORK/m.log" \
    || fail "no last piece of 8 KiB"
grep -q 'lua: mcu beyond nil' "$WORK/m.log" || fail "a read past the piece was not nil"
grep -q 'lua: mcu last false true' "$WORK/m.log" || fail "otaAction(2) at the last piece"
st=$(statuses otam)
[ "$st" = "1 2 4 8 4 8 4 8 4 8 9 11" ] || fail "MCU statuses: $st"
witness_frames OTA_EVENT otam | tail -1 | grep -q '"26": "MCU1:2.0"' \
    || fail "status 11 without the MCU version"
stop_checked "$M" m
pass "MCU: 4 pieces read with mcuFWDataRead equal the image; statuses $st"
