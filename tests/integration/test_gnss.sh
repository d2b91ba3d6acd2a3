#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The GNSS plugin (seed 3.7, table 2) with a receiver on a serial line (a socat pty pair fed
# by tests/peers/nmea_feed.py: GPS, BeiDou, GLONASS and multi-constellation sentences, plus
# a wrong checksum, a truncated, an overlong sentence, binary noise and a line without '$'
# every cycle) and the modem's cells (a pty answering AT+QENG like a Quectel module):
# getLocSupList names what the sources give; getLocData returns the latest sentence of each
# type exactly as fed (GGA = any system's, GPGGA = GPS's, GSV = its whole group, LBS = the
# cells' $LBS lines with the SDK's decimal checksum); locReportInside and locReportOutside
# reach the platform as LOC_REPORT (4/10220; a bad sentence refused); the platform's LOC_REQ
# is answered with LOC_RSP (a clash of titles with EXCE 5); info id 12 is the support list;
# gnss.fix() is the fix; bad lines are dropped and counted, never reported; a receiver that
# goes silent is logged.
source "$(dirname "$0")/lib.sh"
command -v socat >/dev/null || fail "socat not installed"
auto_registry
start_broker
start_sim
start_witness trk1
FEED="$QTD_SOURCE_DIR/tests/peers/nmea_feed.py"

# the modem: an LTE module answering AT+QENG with a serving cell and two neighbours
start_bg modem socat pty,raw,echo=0,link="$WORK/modem" \
    EXEC:"bash $QTD_SOURCE_DIR/tests/peers/at_modem.sh"
start_bg gnsspty socat pty,raw,echo=0,link="$WORK/gps-feed" pty,raw,echo=0,link="$WORK/gps-agent"
for _ in $(seq 50); do
    [ -e "$WORK/modem" ] && [ -e "$WORK/gps-feed" ] && [ -e "$WORK/gps-agent" ] && break
    sleep 0.1
done
start_bg feed /usr/bin/python3 -u "$FEED" serial "$WORK/gps-feed" "$WORK/fed.log" --rate 5 \
    --bad --stop-after 25
wait_for "$WORK/feed.log" '^ready' 10

CLOUD_EXTRA="at_port = \"$WORK/modem\"" \
GNSS="source = \"serial\", device = \"$WORK/gps-agent\", baud = 9600, silence_s = 2,
  lbs_poll_s = 5" AGENT_SCRIPT=$QTD_SOURCE_DIR/tests/lua/gnss_it.lua start_agent g 'dk = "trk1"'
G=$AGENT
wait_for "$WORK/g.log" 'gnss: receiver on .* at 9600 baud' 10
wait_for "$WORK/g.log" 'lua: event 3/10200' 15
wait_for "$WORK/g.log" 'gnss: LBS: serving cell 460-00 LAC 1522 cell 27440068' 15
say() { sim_ctl "{\"cmd\": \"pass_write\", \"dk\": \"trk1\", \"text\": \"$1\"}" >/dev/null; }

# --- what the sources give
sleep 1
say "sup"
wait_for "$WORK/g.log" 'lua: loc sup ' 10
sup=$(grep -o 'lua: loc sup .*' "$WORK/g.log" | tail -1 | cut -d' ' -f4)
for t in NONE AUTO LBS GGA RMC GSV GSA VTG GPGGA GPRMC GPGSV GPVTG GNGSA BDGGA GLGSV; do
    [[ ";$sup;" == *";$t;"* ]] || fail "getLocSupList lacks $t: $sup"
done
[[ ";$sup;" != *";GAGGA;"* ]] || fail "getLocSupList names a type never received: $sup"
say "oldsup"
wait_for "$WORK/g.log" 'lua: loc oldsup ' 10
[ "$(grep -o 'lua: loc oldsup .*' "$WORK/g.log" | tail -1 | cut -d' ' -f4)" = "$sup" ] \
    || fail "locSupList (the seed's older name) differs from getLocSupList"
pass "getLocSupList: $sup"

# --- the latest sentences, exactly as fed; LBS lines with the SDK's checksum
say "data GPGGA;GPGSV;LBS"
wait_for "$WORK/g.log" 'lua: loc data ' 10
got=$(grep -o 'lua: loc data .*' "$WORK/g.log" | tail -1 | cut -d' ' -f4)
IFS='|' read -r -a parts <<<"$got"
[ "${#parts[@]}" -eq 7 ] || fail "GPGGA + 3 GSV + 3 LBS expected: $got"
grep -qxF "${parts[0]}" "$WORK/fed.log" || fail "GPGGA not as fed: ${parts[0]}"
for k in 1 2 3; do
    grep -qxF "${parts[$k]}" "$WORK/fed.log" || fail "GSV not as fed: ${parts[$k]}"
    [[ "${parts[$k]}" == "\$GPGSV,3,$k,"* ]] || fail "GSV group out of order: ${parts[$k]}"
done
[ "${parts[4]}" = "$("$FEED" lbs 460 0 1522 27440068 -65)" ] || fail "serving cell: ${parts[4]}"
[ "${parts[5]}" = "$("$FEED" lbs 460 0 0 302 -79)" ] || fail "last neighbour: ${parts[5]}"
[ "${parts[6]}" = "$("$FEED" lbs 460 0 0 201 -70)" ] || fail "first neighbour: ${parts[6]}"
say "old GGA"
wait_for "$WORK/g.log" 'lua: loc data \$(GP|BD)GGA' 10
say "data GGA;GAGGA;XYZ"
wait_for "$WORK/g.log" 'lua: loc data nil' 10
grep -qF "quecIot.getLocData: not a name of table 2 (or LBS without the modem's cells): XYZ" "$WORK/g.log" \
    || fail "an unknown type was not named"
pass "getLocData: sentences as fed (GSV as its group), LBS lines as the SDK prints them"

# --- reports to the platform
say "inside GGA;RMC"
wait_for "$WORK/g.log" 'lua: loc inside true' 10
wait_for "$WORK/g.log" 'lua: event 4/10220' 10
wait_for "$WORK/sim.jsonl" '"dk": ?"trk1".*"cmd_name": ?"LOC_REPORT"' 10
/usr/bin/python3 - "$WORK/sim.jsonl" "$WORK/fed.log" <<'PY' || fail "LOC_REPORT not what was fed"
import json, sys
fed = set(open(sys.argv[2]).read().split("\n"))
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("dir") == "up" and e.get("cmd_name") == "LOC_REPORT":
        text = e["data"]["2"]
        parts = text.split(";")
        assert parts[-1] == "" and len(parts) == 3, text
        assert parts[0][3:6] == "GGA" and parts[1][3:6] == "RMC", text
        assert all(p in fed for p in parts[:-1]), text
        sys.exit(0)
sys.exit(1)
PY
# counted by the persistent-session witness too, not only by the simulator's log
for _ in $(seq 50); do [ -n "$(witness_frames LOC_REPORT)" ] && break; sleep 0.1; done
w=$(witness_frames LOC_REPORT)
/usr/bin/python3 -c '
import json, sys
text = json.loads(sys.stdin.read())["2"]
parts = text.split(";")
sys.exit(0 if len(parts) == 3 and parts[0][3:6] == "GGA" and parts[1][3:6] == "RMC" else 1)' \
    <<<"${w%%$'\n'*}" || fail "the witness did not get the LOC_REPORT"
good='$GPGGA,092204.999,4250.5589,S,14718.5084,E,1,04,24.4,19.7,M,,,,0000*1F'
"$FEED" check "$good" || fail "the test's own sentence is wrong"
say "outside $good|\$GPRMC,1,A*00"
wait_for "$WORK/g.log" 'lua: loc outside false' 10
grep -q 'quecIot.locReportOutside: sentence 2 is not valid NMEA (no checksum, or a wrong one)' \
    "$WORK/g.log" || fail "the bad sentence was not named"
say "outside $good"
wait_for "$WORK/g.log" 'lua: loc outside true' 10
wait_for "$WORK/sim.jsonl" 'LOC_REPORT.*4250.5589' 10
pass "locReportInside (GGA + RMC as fed, 4/10220) and locReportOutside (a bad sentence refused)"

# --- the platform asks: LOC_REQ answered, a clash refused; info id 12
sim_ctl '{"cmd": "send", "dk": "trk1", "code": 291, "pkgid": 301, "data": {"1": "GPRMC;LBS"}}' >/dev/null
wait_for "$WORK/sim.jsonl" '"cmd_name": ?"LOC_RSP"' 10
/usr/bin/python3 - "$WORK/sim.jsonl" <<'PY' || fail "LOC_RSP: not the request's sentences"
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("dir") == "up" and e.get("cmd_name") == "LOC_RSP":
        parts = e["data"]["2"].split(";")
        sys.exit(0 if e["pkgid"] == 301 and parts[0].startswith("$GPRMC,")
                 and parts[1].startswith("$LBS,460,00,1522,27440068,-65,0*")
                 and len(parts) == 5 else 1)
sys.exit(1)
PY
sim_ctl '{"cmd": "send", "dk": "trk1", "code": 291, "pkgid": 302, "data": {"1": "GGA;GPGGA"}}' >/dev/null
wait_for "$WORK/sim.jsonl" '"cmd_name": ?"EXCE_EVENT".*"data": ?\{"1": ?5, ?"2": ?302\}' 10
sim_ctl '{"cmd": "info_read", "dk": "trk1", "ids": [12]}' >/dev/null
wait_for "$WORK/sim.jsonl" '"cmd_name": ?"INFO_RSP".*"12": ?"NONE;AUTO;LBS;GGA' 10
pass "LOC_REQ answered with LOC_RSP (pkgid 301), a title clash refused (EXCE 5), info 12"

# --- the fix, bad lines counted, silence
say "fix"
wait_for "$WORK/g.log" 'lua: loc fix ' 10
grep -o 'lua: loc fix .*' "$WORK/g.log" | tail -1 | grep -qE \
    'loc fix 31\.23[0-9]+ 121\.47[0-9]+ 12\.[57] 35\.9 45\.0 [68] 2026-11-30T09:00:[0-9]{2}\.00Z' \
    || fail "gnss.fix(): $(grep -o 'lua: loc fix .*' "$WORK/g.log" | tail -1)"
wait_for "$WORK/feed.log" '^silent' 30
wait_for "$WORK/g.log" 'gnss: .*: no valid sentence for 2 s' 10
say "stats"
wait_for "$WORK/g.log" 'lua: loc stats ' 10
read -r valid dropped cells < <(grep -o 'lua: loc stats .*' "$WORK/g.log" | tail -1 | cut -d' ' -f4-)
[ "$valid" -eq "$(wc -l <"$WORK/fed.log")" ] || fail "$valid valid sentences, $(wc -l <"$WORK/fed.log") fed"
[ "$dropped" -ge 100 ] || fail "$dropped dropped, 5 bad lines x 25 cycles fed"
[ "$cells" -eq 3 ] || fail "$cells cells"
grep -q 'gnss: a sentence dropped (no checksum, or a wrong one)' "$WORK/g.log" \
    || fail "a bad checksum was not named"
[ "$(grep -c 'gnss: a sentence dropped' "$WORK/g.log")" -le 4 ] \
    || fail "malformed sentences not rate-limited in the log"
! grep -q 'LOC_REPORT.*0900[0-9][0-9]\.00,3113\.8240' "$WORK/sim.jsonl" || fail "a bad sentence reached the platform"
pass "gnss.fix(); $valid valid sentences, $dropped dropped (rate-limited log); silence logged"
stop_checked "$G" g
pass "the agent stops cleanly"
