#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Modem values over an AT port: a socat pty is the serial line, a script on its far end
# answers like a Quectel module (no SIM: CIMI, QCCID and CNUM answer ERROR). The platform
# reads status 3/5/6/7 and info 4/6/7/8 and gets the modem's values; the ids the modem
# could not give stay absent. Without a DK set by the script, the IMEI is the device key. A
# port that does not exist is reported and the agent goes on.
source "$(dirname "$0")/lib.sh"

cat >"$WORK/registry.json" <<'JSON'
{"products": [{"pk": "p1116a", "ps": "UHg1dTRBRVh3MkVG", "devices": []}], "auto_register": true}
JSON
start_broker
start_sim

# The modem: tests/peers/at_modem.sh on the far end of a pty that socat makes.
start_bg socat socat pty,raw,echo=0,link="$WORK/modem" \
    EXEC:"bash $QTD_SOURCE_DIR/tests/peers/at_modem.sh"
for _ in $(seq 50); do [ -e "$WORK/modem" ] && break; sleep 0.1; done
[ -e "$WORK/modem" ] || fail "socat made no pty"

CLOUD_EXTRA="at_port = \"$WORK/modem\", modem_poll_s = 5" \
    start_agent m 'dk = "modem1"' 'mode = "none"'
wait_for "$WORK/m.log" 'cloud: modem on .* answers \(IMEI 866123456789012\)' 10
wait_for "$WORK/m.log" 'lua: event 3/10200' 15
sim_ctl '{"cmd": "status_read", "dk": "modem1", "ids": [3, 5, 6, 7]}' >/dev/null
sim_ctl '{"cmd": "info_read", "dk": "modem1", "ids": [4, 5, 6, 7, 8, 9, 10]}' >/dev/null
wait_for "$WORK/sim.jsonl" '"cmd_name":"INFO_RSP"' 5
got=$(sim_frames modem1 STATUS_RSP | tail -1)
[ "$got" = '{"3": -71, "5": -95, "6": -10, "7": 15}' ] || fail "status from the modem: $got"
got=$(sim_frames modem1 INFO_RSP | tail -1)
[ "$got" = '{"4": 27440068, "6": 460, "7": 0, "8": 1522}' ] || fail "info from the modem: $got"
pass "modem values over a pty: RSSI -71 dBm, RSRP, RSRQ, SINR, cell; ICCID/IMSI/phone absent"

kill -TERM "$AGENT"; wait_exit "$AGENT" 10

# No device key set by the script: like a module, the IMEI is the default DK.
CLOUD_EXTRA="at_port = \"$WORK/modem\"" start_agent i 'mode = "none"'
wait_for "$WORK/i.log" "cloud: default device key: the modem's IMEI 866123456789012" 10
wait_for "$WORK/i.log" 'lua: event 3/10200' 15
grep -q '"registered".*"dk":"866123456789012"' "$WORK/sim.jsonl" || fail "not registered by IMEI"
kill -TERM "$AGENT"; wait_exit "$AGENT" 10
pass "the modem's IMEI is the default device key"

CLOUD_EXTRA='at_port = "/dev/nonexistent-tty"' start_agent n 'dk = "modem2"' 'mode = "none"'
wait_for "$WORK/n.log" 'modem on /dev/nonexistent-tty: cannot open the port; its values are not available' 10
wait_for "$WORK/n.log" 'lua: event 3/10200' 15
pass "a missing AT port is reported once and the agent goes on"
