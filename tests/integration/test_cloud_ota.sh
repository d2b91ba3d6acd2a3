#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# MQTT OTA, the task's first steps (seed 2.4.1, 3.6) against mosquitto and the simulator: an
# OTA_NOTIFY from the platform is acknowledged with OTA_EVENT status 1 (REVICEPLAN) and
# raises 7/10700 with the seed's value string; otaAction(1) confirms it (status 2, SUBMITOTA,
# with "sha256" after otaRequest(1)) and a second otaAction(1) is harmless, otaAction(0)
# refuses (status 3); a plan without its required ids is acknowledged but raises nothing;
# otaRequest(mode) sends OTA_REQUEST with the agent's version and refuses other modes.
source "$(dirname "$0")/lib.sh"
SIM=$QTD_BUILD_DIR/sim/qthingd-sim
auto_registry
start_broker
start_sim

notify() { # DK TSL-JSON: an OTA_NOTIFY frame to the device
    local hex
    hex=$("$SIM" frame --cmd OTA_NOTIFY --pkgid 9 --tsl "$2")
    sim_ctl "{\"cmd\": \"raw\", \"dk\": \"$1\", \"hex\": \"$hex\"}" >/dev/null
}
PLAN='{"4": "SCRIPT", "5": "1.0", "6": "2.0", "7": 0, "8": 30, "9": 1000, "10": 10}'

# --- confirmed, with otaRequest(1) first; the OTA uplinks counted by a witness
start_witness + ota
start_agent a 'dk = "ota1"' 'mode = "none"' 'ota = "confirm"' 'ota_request = 1'
A=$AGENT
wait_for "$WORK/a.log" 'lua: ota request true bad false' 15
wait_for "$WORK/witness.log" "^q/2/d/qd${PK}ota1/ota " 10
witness_frames OTA_REQUEST ota1 | grep -q '"25": "[0-9]' || fail "OTA_REQUEST without the version"
notify ota1 "$PLAN"
wait_for "$WORK/a.log" 'lua: event 7/10700 "\\"SCRIPT\\",\\"1.0\\",\\"2.0\\",30,10,1000"' 10
wait_for "$WORK/a.log" 'lua: ota action true again true' 10
wait_for "$WORK/witness.log" "^q/2/d/qd${PK}ota1/ota " 10 3
events=$(witness_frames OTA_EVENT ota1)
echo "$events" | sed -n 1p | grep -q '"13": 1, "14": "REVICEPLAN", "4": "SCRIPT", "7": 0' \
    || fail "first OTA_EVENT: $events"
echo "$events" | sed -n 2p | grep -q '"13": 2, "14": "SUBMITOTA", "19": "sha256"' \
    || fail "second OTA_EVENT: $events"
[ "$(echo "$events" | wc -l)" -eq 2 ] || fail "a second confirm sent another status"
pass "OTA task: status 1, 7/10700 with the seed's string, confirmed (status 2 with sha256)"

# --- a task while one is under way (status 2): ignored
notify ota1 "$PLAN"
wait_for "$WORK/a.log" 'OTA task \(pkgid 9\) ignored: a task is under way \(status 2, SUBMITOTA\)' 10
stop_checked "$A" a

# --- a plan without its required ids: status 1, nothing raised; then one refused
start_agent b 'dk = "ota2"' 'mode = "none"' 'ota = "refuse"'
B=$AGENT
wait_for "$WORK/b.log" 'lua: event 3/10200' 15
notify ota2 '{"5": "1.0"}'
wait_for "$WORK/b.log" 'OTA task \(pkgid 9\) not valid' 10
! grep -q 'lua: event 7/' "$WORK/b.log" || fail "an invalid plan raised an event"
notify ota2 "$PLAN"
wait_for "$WORK/b.log" 'lua: ota action true again false' 10
wait_for "$WORK/witness.log" "^q/2/d/qd${PK}ota2/ota " 10 3
[ "$(witness_frames OTA_EVENT ota2 | grep -c '"13": 1, "14": "REVICEPLAN"')" -eq 2 ] \
    || fail "not one status 1 per task (the invalid one included)"
witness_frames OTA_EVENT ota2 | tail -1 | grep -q '"13": 3, "14": "REFUSEDOTA"' || fail "no REFUSEDOTA"
stop_checked "$B" b
pass "OTA task refused: status 3, a second answer refused; an invalid plan raises nothing"
