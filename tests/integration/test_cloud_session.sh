#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Session encryption (session flag 1) end to end: an agent whose script calls
# quecIot.setSessionFlag(true) registers with flag 0001, gets its DS and a session key in one
# DEV_CONFIG_WRITE, and from then on every payload both ways is AES-128-CBC under that key.
# Checked on the wire (a raw subscriber as the platform user: no uplink or later downlink
# starts with AA AA, all are whole AES blocks) and in the sim's log (it decrypts and decodes
# every TSL type to the same values); a TSL write arrives decrypted in the script, a read is
# answered encrypted with its pkgid, and a downlink the device cannot decrypt is answered with
# EXCE_EVENT. A restart logs in with flag 1, gets a new key and still works; the reports it
# sends before the key reaches it (the login race) are taken plain by the sim, and exactly
# those are the plain frames on the wire. A plain uplink after the key was confirmed is a
# decrypt error for the sim.
source "$(dirname "$0")/lib.sh"

auto_registry
CID=qdp1116asess1
start_broker
start_sim
start_raw_sub raw "q/2/d/$CID/#" "q/1/d/$CID/#"

# sim_lines: the sim's frame lines of this device as "dir cmd_name encrypted pkgid".
sim_lines() {
    /usr/bin/python3 - "$WORK/sim.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    if e.get("dk") == "sess1" and "dir" in e:
        print(e["dir"], e.get("cmd_name", e.get("error")), e.get("encrypted"), e.get("pkgid"))
PY
}

# --- registration with flag 1: DS and session key together, then everything encrypted
start_agent a 'dk = "sess1"' 'mode = "types"' 'session = true'
A=$AGENT
wait_for "$WORK/a.log" 'lua: event 3/10200' 20
grep -q 'lua: session flag true' "$WORK/a.log" || fail "setSessionFlag(true) refused"
grep -q '"event": \?"registered".*"dk": \?"sess1".*"flag": \?1' "$WORK/sim.jsonl" \
    || fail "the sim saw no registration with flag 1"
wait_for "$WORK/sim.jsonl" '"event":"session".*"state":"sent"' 5
wait_for "$WORK/a.log" 'cloud: session key received' 5
wait_for "$WORK/sim.jsonl" '"event":"session".*"state":"confirmed"' 5
pass "registration with flag 0001: DS and session key received"

wait_for "$WORK/sim.jsonl" '"cmd_name":"TSL_EVENT"' 5
wait_for "$WORK/sim.jsonl" '"cmd_name":"PASS_EVENT"' 5
wait_for "$WORK/sim.jsonl" '"cmd_name":"INFO_EVENT"' 5
want='{"24": true, "25": -100000, "26": -1111.1, "27": "text 中文", "28": 1700000000000, '
want+='"29": {"30": false, "31": 10, "32": "string"}, "33": [1, 2, 3], "34": 0, "35": 123.123}'
got=$(sim_frames sess1 TSL_EVENT | head -1)
[ "$got" = "$want" ] || fail "TSL up: got $got"
sim_frames sess1 PASS_EVENT | grep -q '"text": "pass data"' || fail "passthrough up"
sim_frames sess1 INFO_EVENT | grep -q '"13": "1.3.0"' || fail "INFO_EVENT"
wait_for "$WORK/a.log" 'lua: event 4/10210' 5
# After a registration nothing goes up before the key: every uplink was encrypted.
sim_lines >"$WORK/lines-1.txt"
grep '^up ' "$WORK/lines-1.txt" | grep -v ' True ' && fail "an uplink was not encrypted"
[ "$(grep -c '^up .* True ' "$WORK/lines-1.txt")" -ge 4 ] || fail "too few encrypted uplinks"
# The 0x00B4 with DS and key went down plain, nothing else was sent yet.
grep -q '^down DEV_CONFIG_WRITE False' "$WORK/lines-1.txt" || fail "0x00B4 not sent plain"
pass "every TSL type up encrypted, the sim decrypts the same values"

# --- on the wire: uplinks are whole AES blocks, not frames (only those the sim logged as
# "encrypted": false may be frames); 0x00B4 was a plain frame
check_wire() { # MIN_ENCRYPTED
    local plain enc logged_plain logged_enc hex
    for _ in $(seq 30); do
        raw_payloads raw "q/2/d/$CID/(sys|bus|ota)" >"$WORK/raw-up.txt"
        sim_lines >"$WORK/lines.txt"
        plain=$(grep -c '^aaaa' "$WORK/raw-up.txt" || true)
        enc=$(grep -vc '^aaaa' "$WORK/raw-up.txt" || true)
        logged_plain=$(grep -c '^up .* False ' "$WORK/lines.txt" || true)
        logged_enc=$(grep -c '^up .* True ' "$WORK/lines.txt" || true)
        [ "$plain/$enc" = "$logged_plain/$logged_enc" ] && break
        sleep 0.1
    done
    [ "$plain/$enc" = "$logged_plain/$logged_enc" ] \
        || fail "wire: $plain plain + $enc other uplinks;" \
                "sim: $logged_plain plain + $logged_enc decrypted"
    [ "$enc" -ge "$1" ] || fail "only $enc encrypted uplinks on the wire"
    while read -r hex; do
        case $hex in aaaa*) continue ;; esac
        [ $(( ${#hex} % 32 )) -eq 0 ] && [ ${#hex} -gt 0 ] \
            || fail "an uplink is not whole AES blocks: ${#hex} hex digits"
    done <"$WORK/raw-up.txt"
    WIRE="$enc encrypted uplinks (whole AES blocks), $plain plain"
    WIRE_PLAIN=$plain
}
check_wire 4
[ "$WIRE_PLAIN" -eq 0 ] || fail "after a registration, $WIRE_PLAIN uplinks went plain"
first=$(raw_payloads raw "q/1/d/$CID/sys" | awk 'NR == 1')
case $first in aaaa*) ;; *) fail "0x00B4 not plain on the wire: ${first:0:40}" ;; esac
pass "on the wire: $WIRE"

# --- downlinks: every TSL type arrives decrypted in the script; a read is answered encrypted
reply=$(sim_ctl '{"cmd": "tsl_write", "dk": "sess1", "data": {"24": true, "25": -100000,
    "26": -1111.1, "27": "text", "28": 1700000000000, "29": {"30": false, "31": 10,
    "32": "string"}, "33": [1, 2, 3], "35": 123.123}}')
echo "$reply" | grep -q '"encrypted":true' || fail "tsl_write not encrypted: $reply"
wait_for "$WORK/a.log" 'lua: event 5/10210' 5
want='lua: event 5/10210 {24=true,25=-100000,26=-1111.1,27="text",28=1700000000000,'
want+='29={30=false,31=10,32="string"},33={1=1,2=2,3=3},35=123.123}'
grep -qF "$want" "$WORK/a.log" || fail "TSL down: $(grep 'event 5/10210' "$WORK/a.log")"
reply=$(sim_ctl '{"cmd": "tsl_read", "dk": "sess1", "ids": [2, 3]}')
pkgid=$(echo "$reply" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["pkgid"])')
wait_for "$WORK/sim.jsonl" "\"pkgid\":$pkgid,\"cmd\":18,.*\"encrypted\":true" 5
later=$(raw_payloads raw "q/1/d/$CID/(bus|sys)" | awk 'NR > 1 && /^aaaa/')
[ -z "$later" ] || fail "a downlink after the key is a plain frame on the wire"
pass "tsl_write decrypted by the agent, tsl_read answered encrypted (pkgid $pkgid)"

# --- a downlink that does not decrypt: the agent says so and answers EXCE_EVENT, encrypted
sim_ctl '{"cmd": "pass_write", "dk": "sess1", "text": "not encrypted", "plain": true}' >/dev/null
wait_for "$WORK/a.log" 'cloud: downlink does not decrypt with the session key' 5
wait_for "$WORK/sim.jsonl" '"cmd_name":"EXCE_EVENT".*"encrypted":true' 5
sim_frames sess1 EXCE_EVENT | grep -q '{"1": 5, "2": 0}' || fail "EXCE_EVENT {1: 5, 2: 0}"
! grep -q 'lua: event 5/10200' "$WORK/a.log" || fail "the plain passthrough reached the script"
kill -0 "$A" || fail "agent died"
pass "a plain downlink is refused with EXCE_EVENT reason 5"

# --- restart: login with flag 1, a new key, everything still works
kill -TERM "$A"; wait_exit "$A" 10
[ "$EXIT_RC" -eq 0 ] || fail "agent exit $EXIT_RC"
mv "$WORK/a.log" "$WORK/a-first.log"
start_agent a 'dk = "sess1"' 'mode = "none"' 'session = true'
A=$AGENT
wait_for "$WORK/a.log" 'lua: event 3/10200' 15
! grep -q 'lua: event 1/' "$WORK/a.log" || fail "restart authenticated again"
grep -q '"event": \?"login".*"dk": \?"sess1".*"flag": \?1' "$WORK/sim.jsonl" \
    || fail "the sim saw no login with flag 1"
wait_for "$WORK/sim.jsonl" '"event":"session".*"state":"sent"' 5 2
wait_for "$WORK/a.log" 'cloud: session key received' 5
sim_ctl '{"cmd": "tsl_write", "dk": "sess1", "data": {"24": false, "27": "again"}}' \
    | grep -q '"encrypted":true' || fail "tsl_write after the restart not encrypted"
wait_for "$WORK/a.log" 'lua: event 5/10210 \{24=false,27="again"\}' 5
reply=$(sim_ctl '{"cmd": "tsl_read", "dk": "sess1", "ids": [7]}')
pkgid=$(echo "$reply" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["pkgid"])')
wait_for "$WORK/sim.jsonl" \
    "\"pkgid\":$pkgid,\"cmd\":18,.*\"data\":\\{\"7\":700.5\\},\"encrypted\":true" 5
wait_for "$WORK/sim.jsonl" '"event":"session".*"state":"confirmed"' 5 2
pass "restart: login with flag 0001, new key, write and read work encrypted"

# --- the login race: reports sent before the key reached the device are taken plain, none lost
stats=$(sim_ctl '{"cmd": "stats"}')
echo "$stats" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)["devices"]["qdp1116asess1"]
assert d["session"] == "confirmed", d
assert d["up_errors"] == 0, d
assert d["up"].get("STATUS_EVENT", 0) >= 2 and d["up"].get("INFO_EVENT", 0) >= 2, d
print("plain before the key: %d, errors: %d" % (d["up_plain"], d["up_errors"]))
' >"$WORK/stats.txt" || fail "sim stats: $stats"
! grep -q '"error":"decrypt"' "$WORK/sim.jsonl" || fail "the sim could not decrypt an uplink"
check_wire 6
pass "no decrypt errors ($(cat "$WORK/stats.txt")); wire: $WIRE"

# --- a plain frame after the key was confirmed is an error for the platform
"$SIM" frame --cmd TSL_EVENT --pkgid 99 --tsl '{"1": true}' --raw >"$WORK/plain.bin"
mosquitto_pub -h 127.0.0.1 -p "$PORT" -u qtd-sim -P "$SIMPW" -q 1 -t "q/2/d/$CID/bus" \
    -f "$WORK/plain.bin"
wait_for "$WORK/sim.jsonl" '"error":"decrypt","detail":"a plain frame after the key was' 5
grep -q '"event":"error","message":"uplink from qdp1116asess1 on .*: a plain frame after' \
    "$WORK/sim.jsonl" || fail "no error line for the plain uplink"
pass "a plain uplink after the key was confirmed: the sim logs a decrypt error"

# --- the SDK's form of id 6: the 16 key bytes themselves (ql_iotCmdSys.c), also accepted
sim_ctl '{"cmd": "dev_config", "dk": "sess1", "data": {"6": {"hex": "00112233445566778899aabbccddeeff"}}}' >/dev/null
wait_for "$WORK/a.log" 'cloud: session key received$' 5
pass "a raw 16-byte session key (the SDK's form) is taken as is"

stop_checked "$A" a
stop_checked "$SIMPID" sim
