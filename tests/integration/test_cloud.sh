#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The cloud plugin against a real mosquitto (with the sim's auth plugin) and qthingd-sim:
# first boot registers and stores the DS, a restart logs in directly; every TSL type of the
# seed's figure 3 goes up and comes down unchanged; reads are answered with the right pkgid;
# passthrough both ways; malformed downlinks get EXCE_EVENT; throttling raises event 8; a
# wrong product secret gets 1/10425 without a retry storm; a disabled device gets 2/10431.
source "$(dirname "$0")/lib.sh"

cat >"$WORK/registry.json" <<'JSON'
{"products": [{"pk": "p1116a", "ps": "UHg1dTRBRVh3MkVG",
  "devices": [{"dk": "dis1", "ds": "0123456789abcdef0123456789abcdef", "disabled": true}]}],
 "auto_register": true}
JSON
start_broker
start_sim

# --- first boot: registration, DS stored, online
start_agent a 'dk = "itdev1"' 'mode = "types"'
A=$AGENT
wait_for "$WORK/a.log" 'lua: event 3/10200' 20
for e in 'event 1/10200' 'event 2/10200' 'event 3/10200'; do
    grep -q "lua: $e" "$WORK/a.log" || fail "first boot lacks $e"
done
grep -q '"event": \?"registered".*"dk": \?"itdev1"' "$WORK/sim.jsonl" || fail "sim saw no registration"
ds=$(sqlite3 "$WORK/a/data/qthingd.db" "select value from kv where key='quecIot.ds'")
[ ${#ds} -eq 32 ] || fail "DS not stored (got '${ds}')"
! grep -q "$ds" "$WORK/a.log" || fail "the DS appears in the log"
pass "registration: 1/10200 2/10200 3/10200, DS stored and never logged"

# --- status and info events after subscribing
wait_for "$WORK/sim.jsonl" '"cmd_name": ?"INFO_EVENT"' 5
sim_frames itdev1 STATUS_EVENT | grep -q '"4": [0-9]' || fail "STATUS_EVENT without free space"
sim_frames itdev1 INFO_EVENT | grep -q '"13": "1.3.0"' || fail "INFO_EVENT without protocol version"
pass "status and info reported after subscribing"

# --- every TSL type up: the sim decodes the same values
wait_for "$WORK/sim.jsonl" '"cmd_name": ?"TSL_EVENT"' 5
want='{"24": true, "25": -100000, "26": -1111.1, "27": "text 中文", "28": 1700000000000, "29": {"30": false, "31": 10, "32": "string"}, "33": [1, 2, 3], "34": 0, "35": 123.123}'
got=$(sim_frames itdev1 TSL_EVENT | head -1)
[ "$got" = "$want" ] || fail "TSL up: got $got"
wait_for "$WORK/a.log" 'lua: event 4/10210' 5
sim_frames itdev1 PASS_EVENT | grep -q '"text": "pass data"' || fail "passthrough up"
wait_for "$WORK/a.log" 'lua: event 4/10200' 5
pass "all TSL types up, 4/10210 and 4/10200 on PUBACK"

# --- every TSL type down: the script receives the same table
sim_ctl '{"cmd": "tsl_write", "dk": "itdev1", "data": {"24": true, "25": -100000, "26": -1111.1, "27": "text", "28": 1700000000000, "29": {"30": false, "31": 10, "32": "string"}, "33": [1, 2, 3], "35": 123.123}}' >/dev/null
wait_for "$WORK/a.log" 'lua: event 5/10210' 5
grep -qF 'lua: event 5/10210 {24=true,25=-100000,26=-1111.1,27="text",28=1700000000000,29={30=false,31=10,32="string"},33={1=1,2=2,3=3},35=123.123}' "$WORK/a.log" \
    || fail "TSL down: $(grep 'event 5/10210' "$WORK/a.log")"
pass "all TSL types down"

# --- read: 5/10211 {pkgid, {ids}} and phymodelAck with that pkgid
reply=$(sim_ctl '{"cmd": "tsl_read", "dk": "itdev1", "ids": [2, 3]}')
pkgid=$(echo "$reply" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["pkgid"])')
wait_for "$WORK/a.log" "lua: event 5/10211 \\{1=$pkgid,2=\\{1=2,2=3\\}\\}" 5
wait_for "$WORK/sim.jsonl" '"cmd_name": ?"TSL_RSP"' 5
/usr/bin/python3 - "$WORK/sim.jsonl" "$pkgid" <<'PY' || fail "TSL_RSP wrong"
import json, sys
rsp = [json.loads(l) for l in open(sys.argv[1]) if '"TSL_RSP"' in l]
assert rsp and rsp[-1]["pkgid"] == int(sys.argv[2]), rsp
assert rsp[-1]["data"] == {"2": 200.5, "3": 300.5}, rsp[-1]["data"]
PY
pass "read answered with pkgid $pkgid"

# --- passthrough down, status read, malformed frame, throttling
sim_ctl '{"cmd": "pass_write", "dk": "itdev1", "text": "hello device"}' >/dev/null
wait_for "$WORK/a.log" 'lua: event 5/10200 "hello device"' 5
sim_ctl '{"cmd": "status_read", "dk": "itdev1", "ids": [4]}' >/dev/null
wait_for "$WORK/sim.jsonl" '"cmd_name": ?"STATUS_RSP"' 5
bad=$("$SIM" frame --cmd TSL_WRITE --pkgid 77 --tsl '{"1": true}' --corrupt-sum)
sim_ctl "{\"cmd\": \"raw\", \"dk\": \"itdev1\", \"hex\": \"$bad\"}" >/dev/null
wait_for "$WORK/sim.jsonl" '"cmd_name": ?"EXCE_EVENT"' 5
sim_frames itdev1 EXCE_EVENT | grep -q '{"1": 3, "2": 77}' || fail "EXCE_EVENT reason 3 pkgid 77"
sim_ctl '{"cmd": "send", "dk": "itdev1", "code": "0x0099", "hex": "00"}' >/dev/null
wait_for "$WORK/sim.jsonl" '"data":\{"1":4' 5
sim_ctl '{"cmd": "exce", "dk": "itdev1", "errcode": 10428}' >/dev/null
wait_for "$WORK/a.log" 'lua: event 8/10428' 5
kill -0 "$A" || fail "agent died on bad input"
pass "passthrough down, status read, malformed and unknown frames answered, 8/10428"

# --- a read with an odd-length id list: answered with EXCE reason 5 and logged
sim_ctl '{"cmd": "send", "dk": "itdev1", "code": "0x0011", "hex": "000102"}' >/dev/null
wait_for "$WORK/a.log" 'malformed downlink 0x0011 pkgid [0-9]+: an id list of 3 bytes' 5
wait_for "$WORK/sim.jsonl" '"data":\{"1":5' 5
pass "malformed read request: logged and answered with EXCE reason 5"

# --- an exception with a code the device does not know (2^40): logged, the session stays
connects=$(grep -c 'lua: event 2/' "$WORK/a.log")
sim_ctl '{"cmd": "send", "dk": "itdev1", "code": "0x00A3", "hex": "000A0501000000000000120007"}' >/dev/null
wait_for "$WORK/a.log" 'platform exception 1099511627776 .pkgid [0-9]+. is not a code this device knows' 5
sim_ctl '{"cmd": "pass_write", "dk": "itdev1", "text": "still here"}' >/dev/null
wait_for "$WORK/a.log" 'lua: event 5/10200 "still here"' 5
[ "$(grep -c 'lua: event 2/' "$WORK/a.log")" -eq "$connects" ] || fail "unknown code disconnected"
pass "unknown exception code 2^40: logged, no disconnect, no truncated event"

# --- status and info reports raise 4/10230 and 4/10240 when acknowledged (the reports made
# at every connection are such reports)
wait_for "$WORK/a.log" 'lua: event 4/10230' 5
wait_for "$WORK/a.log" 'lua: event 4/10240' 5
pass "status and info reports: 4/10230, 4/10240"

# --- restart: login with the stored DS, no second registration
kill -TERM "$A"; wait_exit "$A" 10
[ "$EXIT_RC" -eq 0 ] || fail "agent exit $EXIT_RC"
mv "$WORK/a.log" "$WORK/a-first.log"
start_agent a 'dk = "itdev1"' 'mode = "none"'
A=$AGENT
wait_for "$WORK/a.log" 'lua: event 3/10200' 15
! grep -q 'lua: event 1/' "$WORK/a.log" || fail "restart authenticated again"
[ "$(grep -c '"registered"' "$WORK/sim.jsonl")" -eq 1 ] || fail "registered twice"
grep -q '"event": \?"login".*"itdev1"' "$WORK/sim.jsonl" || fail "sim saw no login"
pass "restart logs in with the stored DS"

# --- wrong PS: 1/10425, then a retry no sooner than the 30 s floor
start_agent w 'dk = "wrongps1"' 'ps = "WRONGSECRET12345"' 'mode = "none"'
W=$AGENT
# --- disabled device: 2/10431
start_agent d 'dk = "dis1"' 'ds = "0123456789abcdef0123456789abcdef"' 'mode = "none"'
wait_for "$WORK/d.log" 'lua: event 2/10431' 15
pass "disabled device: 2/10431"
wait_for "$WORK/w.log" 'lua: event 1/10425' 15
sleep 25
attempts=$(grep -c 'cloud: registering to' "$WORK/w.log")
[ "$attempts" -eq 1 ] || fail "wrong PS retried $attempts times within 25 s"
pass "wrong PS: 1/10425, 1 attempt in the first 25 s (floor 30 s: at most ~2 per minute)"

# --- setConnmode(0) logs out (6/10200) and (1) comes back; a server change (0x00B4 id 1)
# reconnects (2/10475); re-authentication (0x00B4 id 9) wipes the DS and registers again
start_agent l 'dk = "itdev3"' 'mode = "none"' 'logout_after_ms = 300'
L=$AGENT
wait_for "$WORK/l.log" 'lua: connmode 0 true' 10
wait_for "$WORK/l.log" 'lua: event 6/10200' 5
wait_for "$WORK/l.log" 'lua: connmode 1 true' 5
wait_for "$WORK/l.log" 'lua: event 3/10200' 10 2
pass "setConnmode(0): 6/10200; setConnmode(1) connects again"
sim_ctl "{\"cmd\": \"dev_config\", \"dk\": \"itdev3\", \"data\": {\"1\": {\"3\": \"127.0.0.1\", \"4\": $PORT}}}" >/dev/null
wait_for "$WORK/l.log" 'lua: event 2/10475' 5
wait_for "$WORK/l.log" 'lua: event 3/10200' 15 3
[ "$(sqlite3 "$WORK/l/data/qthingd.db" "select value from kv where key='quecIot.server'")" \
    = "127.0.0.1:$PORT" ] || fail "new server not stored"
pass "server change: stored, 2/10475, back online"
sim_ctl '{"cmd": "reauth", "dk": "itdev3"}' >/dev/null
sim_ctl '{"cmd": "dev_config", "dk": "itdev3", "data": {"9": true}}' >/dev/null
wait_for "$WORK/l.log" 'lua: event 1/10200' 15 2
[ "$(grep -c '"registered".*"itdev3"' "$WORK/sim.jsonl")" -eq 2 ] || fail "no second registration"
pass "re-authentication: DS wiped, registered again"

# --- the script changes its device key while online: the agent reconnects with the new
# identity and what was reported meanwhile arrives under it (nothing sent to the old topic)
start_agent k 'dk = "itdev4"' 'mode = "none"' 'switch_dk = "itdev5"'
wait_for "$WORK/k.log" 'lua: switch true report true' 10
wait_for "$WORK/k.log" 'lua: event 2/10475' 5
wait_for "$WORK/k.log" 'lua: event 3/10200' 15 2
wait_for "$WORK/sim.jsonl" '"registered".*"itdev5"' 5
for _ in $(seq 50); do
    sim_frames itdev5 TSL_EVENT | grep -q '"1": 77' && break
    sleep 0.1
done
sim_frames itdev5 TSL_EVENT | grep -q '"1": 77' || fail "the report did not arrive under the new DK"
! grep -qE 'denied publish .* to qdp1116aitdev[45]' "$WORK"/mosquitto-*.log || fail "published to a topic not its own"
pass "device key changed while online: reconnected as itdev5, report delivered under it"
