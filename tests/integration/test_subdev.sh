#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Gateway sub-devices (seed 3.9, table 4.3) against mosquitto and the simulator: a new
# sub-device is authenticated (its DS in 1/10200, kept in the store), logged in (2/10200),
# subscribed (3/10200); it reports every thing-model type and passthrough (4/10210,
# 4/10200), answers a read with the read's pkgid, receives a write and passthrough (5/10210,
# 5/10200); it logs out (6/10200), logs in again with the kept DS (no new authentication),
# and is deauthenticated (9/10200, its DS gone from the registry); reports made while it is
# offline are held and go in order after its next login. Refusals: a product not associated
# with the gateway (1/10440), a second gateway logging it in (2/10441), a wrong DS (2/10430),
# no heartbeat within its keepalive (logged out, 2/10473), dropped by the platform (8/10442).
# A sub-device with session flag 1 gets its own key with its login and its frames are
# encrypted both ways. The simulator's log names the sub-device (and its gateway) of every
# frame.
source "$(dirname "$0")/lib.sh"
gateway_registry '{"pk": "pother", "ps": "b3RoZXJwcm9kdWN0cw==", "devices": []}'
start_broker
start_sim

SUBS='subs = { { pk = "psub01", ps = "c3ViZGV2aWNlc2VjcmV0", dk = "sub1", keepalive = 30 },
  { pk = "pother", ps = "b3RoZXJwcm9kdWN0cw==", dk = "lost1", keepalive = 30 },
  { pk = "psub01", ps = "c3ViZGV2aWNlc2VjcmV0", dk = "mute1", keepalive = 2, beat = false },
  { pk = "psub01", ps = "c3ViZGV2aWNlc2VjcmV0", dk = "enc1", keepalive = 30, session = 1 } }'
AGENT_SCRIPT=$QTD_SOURCE_DIR/tests/lua/subdev_it.lua start_agent g 'dk = "gw1"' "$SUBS"
G=$AGENT
wait_for "$WORK/g.log" 'lua: sub cb true' 10
wait_for "$WORK/g.log" 'lua: sub bad false false' 15
wait_for "$WORK/g.log" 'lua: sub unknown false false false' 5

# --- authenticated, logged in, subscribed; reports and passthrough acknowledged
wait_for "$WORK/g.log" 'lua: sub event psub01 sub1 1/10200 "[0-9a-f]{32}"' 10
ds=$(grep -oE 'lua: sub event psub01 sub1 1/10200 "[0-9a-f]{32}"' "$WORK/g.log" | grep -oE '[0-9a-f]{32}')
wait_for "$WORK/g.log" 'lua: sub event psub01 sub1 2/10200' 10
wait_for "$WORK/g.log" 'lua: sub event psub01 sub1 3/10200' 10
wait_for "$WORK/g.log" 'lua: sub report sub1 true true' 5
wait_for "$WORK/g.log" 'lua: sub event psub01 sub1 4/10210' 10
wait_for "$WORK/g.log" 'lua: sub event psub01 sub1 4/10200' 10
registry_ds() { # DK: the DS the registry holds for DK ("" when none)
    /usr/bin/python3 -c "import json,sys; d=json.load(open('$WORK/registry.json')); \
print(''.join(x.get('ds','') for p in d['products'] for x in p['devices'] if x['dk']=='$1'))"
}
[ "$(registry_ds sub1)" = "$ds" ] || fail "the DS given to the script is not the registry's"
! grep -v 'lua: sub event' "$WORK/g.log" | grep -qF "$ds" || fail "the agent logged the DS"
# the PUBACK (4/102x0) may come before the simulator has logged the frame
wait_for "$WORK/sim.jsonl" '"dk": ?"sub1".*"cmd_name": ?"TSL_EVENT"' 10
wait_for "$WORK/sim.jsonl" '"dk": ?"sub1".*"cmd_name": ?"PASS_EVENT"' 10
report=$(sim_frames sub1 TSL_EVENT)
[ "$report" = '{"1": true, "2": 25, "3": 12.5, "4": "on", "5": {"6": 7}, "8": [1, 2, 3]}' ] \
    || fail "the sub-device's report: $report"
sim_frames sub1 PASS_EVENT | grep -q '"text": "hello"' || fail "no passthrough from sub1"
/usr/bin/python3 - "$WORK/sim.jsonl" <<'PY' || fail "a sub-device frame not named as such"
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("dir") == "up" and e.get("topic", "").startswith("q/2/d/qdpsub01sub1/"):
        if e.get("pk") != "psub01" or e.get("dk") != "sub1" or e.get("gateway") != "qdp1116agw1":
            sys.exit(1)
PY
pass "sub-device authenticated (DS in 1/10200), online, reported every type and passthrough"

# --- a read answered with its pkgid, a write and passthrough received
sim_ctl '{"cmd": "tsl_read", "dk": "sub1", "pkgid": 777, "ids": [2, 3]}' >/dev/null
wait_for "$WORK/g.log" 'lua: sub event psub01 sub1 5/10211 \{1=777,2=\{1=2,2=3\}\}' 10
wait_for "$WORK/g.log" 'lua: sub ack sub1 true' 5
wait_for "$WORK/sim.jsonl" '"dk": ?"sub1".*"pkgid": ?777, ?"cmd": ?18' 10
sim_ctl '{"cmd": "tsl_write", "dk": "sub1", "data": {"24": true, "25": -5}}' >/dev/null
wait_for "$WORK/g.log" 'lua: sub event psub01 sub1 5/10210 \{24=true,25=-5\}' 10
sim_ctl '{"cmd": "pass_write", "dk": "sub1", "hex": "0070696e67"}' >/dev/null
wait_for "$WORK/g.log" 'lua: sub event psub01 sub1 5/10200 "\\0ping"' 10
pass "sub-device read (pkgid 777 answered), write and passthrough received"

# --- session flag 1: the login brings the sub-device's own key; its frames are encrypted
wait_for "$WORK/g.log" 'lua: sub event psub01 enc1 4/10210' 10
grep -q 'sub-device qdpsub01enc1 session key received (encrypted with the device secret)' \
    "$WORK/g.log" || fail "no session key for enc1"
wait_for "$WORK/sim.jsonl" '"dk": ?"enc1".*"cmd_name": ?"TSL_EVENT"' 10
sim_frames enc1 TSL_EVENT | grep -q '"1": true' || fail "enc1's report did not decrypt at the platform"
grep '"dk":"enc1"' "$WORK/sim.jsonl" | grep '"dir":"up"' | grep -q '"encrypted":true' \
    || fail "enc1's uplinks were not encrypted"
sim_ctl '{"cmd": "tsl_write", "dk": "enc1", "data": {"24": false}}' >/dev/null
wait_for "$WORK/g.log" 'lua: sub event psub01 enc1 5/10210 \{24=false\}' 10
grep '"dk":"enc1"' "$WORK/sim.jsonl" | grep '"dir":"down"' | grep -q '"encrypted":true' \
    || fail "enc1's downlink was not encrypted"
pass "encrypted sub-device (session flag 1): its own key, frames encrypted both ways"

# --- 10441: a second gateway cannot log sub1 in while the first has it; 10430: a wrong DS
AGENT_SCRIPT=$QTD_SOURCE_DIR/tests/lua/subdev_it.lua start_agent h 'dk = "gw3"' \
    "subs = { { pk = \"psub01\", ps = \"c3ViZGV2aWNlc2VjcmV0\", dk = \"sub1\", ds = \"$ds\",
    keepalive = 30 }, { pk = \"psub01\", ps = \"c3ViZGV2aWNlc2VjcmV0\", dk = \"mute1\",
    ds = \"00000000000000000000000000000000\", keepalive = 30 } }"
H=$AGENT
wait_for "$WORK/h.log" 'lua: sub event psub01 sub1 2/10441' 15
wait_for "$WORK/h.log" 'lua: sub event psub01 mute1 2/10430' 15
stop_checked "$H" h
pass "a second gateway: 2/10441; a wrong DS: 2/10430"

# --- logout, login again with the kept DS (no new authentication), deauth
gw() { sim_ctl "{\"cmd\": \"pass_write\", \"dk\": \"gw1\", \"text\": \"$1\"}" >/dev/null; }
gw "alias sub1"
wait_for "$WORK/g.log" 'lua: sub alias sub1 false' 10
grep -q 'sub-device psub0/1sub1: its endpoint qdpsub01sub1 is psub01/sub1.s already' "$WORK/g.log" \
    || fail "the other split of sub1's endpoint was not named"
gw "logout sub1"
wait_for "$WORK/g.log" 'lua: sub event psub01 sub1 6/10200' 10
wait_for "$WORK/sim.jsonl" '"event": ?"subdev".*"dk": ?"sub1", ?"state": ?"logout"' 5
# reports while it is offline are kept, not sent (as it or anybody else) until it is back
gw "report sub1"
gw "report sub1"
wait_for "$WORK/g.log" 'lua: sub queued sub1 2 true' 10
sleep 1
! sim_frames sub1 TSL_EVENT | grep -q '^{"1": [12]}$' || fail "a report went out while offline"
gw "connect sub1"
wait_for "$WORK/g.log" 'lua: sub event psub01 sub1 3/10200' 10 2
[ "$(grep -c 'lua: sub event psub01 sub1 1/' "$WORK/g.log")" -eq 1 ] \
    || fail "the second login authenticated again"
wait_for "$WORK/sim.jsonl" '"dk": ?"sub1".*"cmd_name": ?"TSL_EVENT".*"data": ?\{"1": ?2\}' 10
/usr/bin/python3 - "$WORK/sim.jsonl" <<'PY' || fail "held reports not after the login, or out of order"
import json, sys
seq, logged_in = [], False
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "subdev" and e.get("dk") == "sub1" and e.get("state") == "login":
        logged_in = True
        seq = []  # only what came after the last login counts
    if e.get("dir") == "up" and e.get("dk") == "sub1" and e.get("cmd_name") == "TSL_EVENT":
        v = e["data"].get("1")
        if type(v) is int and v in (1, 2):
            if not logged_in:
                sys.exit(1)
            seq.append(v)
sys.exit(0 if seq == [1, 2] else 1)
PY
gw "deauth sub1"
wait_for "$WORK/g.log" 'lua: sub event psub01 sub1 9/10200' 10
[ -z "$(registry_ds sub1)" ] || fail "the registry kept sub1's DS after deauth"
pass "sub-device logout (6/10200), reports held while offline then sent in order after the login with the kept DS, deauth (9/10200, DS gone)"

# --- refusals: a product not associated with the gateway; a sub-device without heartbeats
wait_for "$WORK/g.log" 'lua: sub event pother lost1 1/10440' 10
wait_for "$WORK/g.log" 'lua: sub event psub01 mute1 3/10200' 10
wait_for "$WORK/g.log" 'lua: sub event psub01 mute1 2/10473' 6
wait_for "$WORK/sim.jsonl" '"event": ?"subdev".*"dk": ?"mute1", ?"state": ?"logout"' 5
# --- the platform drops a logged-in sub-device: 8/10442 (logged in again by its script)
gw "connect sub1"
wait_for "$WORK/g.log" 'lua: sub event psub01 sub1 3/10200' 10 3
sim_ctl '{"cmd": "sub_offline", "dk": "sub1"}' >/dev/null
wait_for "$WORK/g.log" 'lua: sub event psub01 sub1 8/10442' 10
stop_checked "$G" g
pass "not associated: 1/10440; no heartbeat for 2 s: logged out, 2/10473; dropped by the platform: 8/10442"
