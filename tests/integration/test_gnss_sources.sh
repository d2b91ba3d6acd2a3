#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The GNSS plugin's other sources and its report policies: a real gpsd (gpsfake replaying a
# track, so any receiver gpsd supports works the same) in raw NMEA watch mode, with a report
# every second; a file replayed at 20 lines/s to its end, with a report each time the fix
# has moved 50 m; and a track that turns 90 degrees every 10 cycles, with a report on each
# turn of 60 degrees or more. Every report holds sentences of the track, as fed.
source "$(dirname "$0")/lib.sh"
command -v gpsfake >/dev/null || fail "gpsfake not installed (gpsd-clients)"
auto_registry
start_broker
start_sim
FEED="$QTD_SOURCE_DIR/tests/peers/nmea_feed.py"
/usr/bin/python3 "$FEED" file "$WORK/track.nmea" 40

# reports DK: the LOC_REPORT texts of device DK, one per line
reports() {
    /usr/bin/python3 - "$WORK/sim.jsonl" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("dir") == "up" and e.get("dk") == sys.argv[2] and e.get("cmd_name") == "LOC_REPORT":
        print(e["data"]["2"])
PY
}
# all_fed DK: every sentence reported by DK is a line of the track
all_fed() {
    reports "$1" | tr ';' '\n' | sed '/^$/d' | while read -r s; do
        grep -qxF "$s" <(tr -d '\r' <"$WORK/track.nmea") || { echo "not fed: $s"; exit 1; }
    done
}

# --- gpsd
GPSD_PORT=$(free_port)
start_bg gpsfake gpsfake -P "$GPSD_PORT" -c 0.02 -q "$WORK/track.nmea"
listening "$GPSD_PORT" "$LAST_PID" 15 || fail "gpsfake's gpsd does not listen on $GPSD_PORT"
GNSS="source = \"gpsd\", device = \"127.0.0.1:$GPSD_PORT\", report_every_s = 1,
  report_types = \"GGA;RMC\"" AGENT_SCRIPT=$QTD_SOURCE_DIR/tests/lua/gnss_it.lua \
    start_agent a 'dk = "trkA"'
A=$AGENT
wait_for "$WORK/a.log" "gnss: gpsd 127.0.0.1:$GPSD_PORT: watching NMEA" 10
maps_lib "$A" libgps || fail "libgps is not mapped with a gpsd source"
wait_for "$WORK/a.log" 'lua: event 3/10200' 15
for _ in $(seq 100); do [ "$(reports trkA | wc -l)" -ge 3 ] && break; sleep 0.1; done
[ "$(reports trkA | wc -l)" -ge 3 ] || fail "fewer than 3 reports every 1 s from gpsd data"
reports trkA | tail -1 | grep -qE '^\$(GP|BD)GGA,[^;]*;\$GPRMC,[^;]*;$' \
    || fail "a report is not GGA + RMC: $(reports trkA | tail -1)"
all_fed trkA || fail "gpsd: a reported sentence is not in the track"
sim_ctl '{"cmd": "pass_write", "dk": "trkA", "text": "fix"}' >/dev/null
wait_for "$WORK/a.log" 'lua: loc fix 31\.23' 10
stop_checked "$A" a
pass "gpsd (gpsfake): sentences as replayed, GGA + RMC reported every second, the fix"

# --- a file, and a report every 50 m; with the OTA plugin loaded but never downloading, the
# agent maps neither libgps nor libcurl (each is loaded at its first need)
GNSS="source = \"file\", device = \"$WORK/track.nmea\", rate = 20, loop = false,
  report_distance_m = 50, report_types = \"GGA\"" HTTPOTA="" \
    AGENT_SCRIPT=$QTD_SOURCE_DIR/tests/lua/gnss_it.lua start_agent b 'dk = "trkB"'
B=$AGENT
wait_for "$WORK/b.log" 'gnss: replaying .* at 20 lines/s' 10
grep -q "plugin httpota .* loaded" "$WORK/b.log" || fail "the OTA plugin is not loaded"
for lib in libgps libcurl; do
    if maps_lib "$B" $lib; then fail "$lib is mapped by an agent that does not need it"; fi
done
wait_for "$WORK/b.log" 'gnss: .*track.nmea: replayed to its end' 40
sleep 1
/usr/bin/python3 - <(reports trkB) <<'PY' || fail "distance reports not 50 m apart"
import math, sys
def deg(v, h):
    d = int(float(v) / 100); x = d + (float(v) - d * 100) / 60
    return -x if h in "SW" else x
pts = []
for line in open(sys.argv[1]):
    f = line.split(";")[0].split(",")
    pts.append((deg(f[2], f[3]), deg(f[4], f[5])))
def dist(a, b):
    r, k = 6371008.8, math.pi / 180
    dl, dn = (b[0] - a[0]) * k, (b[1] - a[1]) * k
    x = math.sin(dl / 2) ** 2 + math.cos(a[0] * k) * math.cos(b[0] * k) * math.sin(dn / 2) ** 2
    return 2 * r * math.atan2(math.sqrt(x), math.sqrt(1 - x))
gaps = [dist(pts[i], pts[i + 1]) for i in range(len(pts) - 1)]
print(f"{len(pts)} reports, gaps {min(gaps):.1f}..{max(gaps):.1f} m")
# 40 cycles of ~14.7 m: ~590 m, a report at least every 50 m, never closer
sys.exit(0 if len(pts) >= 8 and min(gaps) >= 50 and max(gaps) < 80 else 1)
PY
all_fed trkB || fail "file: a reported sentence is not in the track"
stop_checked "$B" b
pass "file replayed to its end; reports each 50 m moved; libgps and libcurl not mapped"

# --- a report on each turn
/usr/bin/python3 "$FEED" file "$WORK/turns.nmea" 40 --turn
GNSS="source = \"file\", device = \"$WORK/turns.nmea\", rate = 50, loop = false,
  report_heading_deg = 60, report_types = \"RMC\"" \
    AGENT_SCRIPT=$QTD_SOURCE_DIR/tests/lua/gnss_it.lua start_agent c 'dk = "trkC"'
C=$AGENT
wait_for "$WORK/c.log" 'gnss: .*turns.nmea: replayed to its end' 40
sleep 1
courses=$(reports trkC | cut -d, -f9 | tr '\n' ' ')
# the first fix, then the turns at cycles 10, 20 and 30
[ "$courses" = "45.0 135.0 45.0 135.0 " ] || fail "heading reports: $courses"
stop_checked "$C" c
pass "heading: a report at the first fix and at each of the 3 turns (courses $courses)"
