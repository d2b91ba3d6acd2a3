#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The platform simulator against a real mosquitto with the qtd_mosq_auth.so plugin, devices
# played by mosquitto_sub/mosquitto_pub: registration gets its secret (0x00B4) and the registry
# keeps it, login with it is accepted and with a wrong one refused (CONNACK 5), a device is
# confined to its own topics, uplinks are decoded into the JSON log (malformed ones with their
# error), control messages send downlinks, and failed authentications (wrong PS 10425, device
# disabled 10431, unknown product 10423, registering twice 10422, throttled 10429) are answered
# with 0x00A3.
source "$(dirname "$0")/lib.sh"
: "${QTD_BUILD_DIR:?run under ctest}"
SIM=$QTD_BUILD_DIR/sim/qthingd-sim
PLUGIN=$QTD_BUILD_DIR/sim/qtd_mosq_auth.so
[ -x "$SIM" ] || fail "$SIM not built"
[ -f "$PLUGIN" ] || fail "$PLUGIN not built"
for tool in mosquitto mosquitto_sub mosquitto_pub; do
    command -v "$tool" >/dev/null || fail "$tool not installed"
done

PK=p1116a
PS=UHg1dTRBRVh3MkVG
DS2=0123456789abcdef0123456789abcdef
SECRET="sim-$RANDOM$RANDOM"
REG=$WORK/registry.json
SIMLOG=$WORK/sim.jsonl

# --- offline subcommands: help, the protocol's test vectors, decode
"$SIM" --help >"$WORK/help.txt" || fail "--help exits 0"
grep -q '^CONTROL MESSAGES' "$WORK/help.txt" || fail "--help lists the control messages"
rc=0; "$SIM" bogus 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "unknown subcommand exits 2 (got $rc)"
[ "$("$SIM" frame --pkgid 1 --cmd TSL_EVENT --tsl '{"1": true, "2": 25, "3": 12.5, "4": "hi"}')" \
    = aaaa0015de00010014000900120019001a087d002300026869 ] || fail "frame: protocol test vector"
"$SIM" decode --hex 'AA AA 00 07 74 00 07 00 13 01 59' \
    | grep -qF '{"pkgid":7,"cmd":19,"cmd_name":"TSL_WRITE","data":{"43":true}}' \
    || fail "decode: protocol test vector"
rc=0; "$SIM" frame --cmd TSL_EVENT --tsl '{"1": true}' --corrupt-sum | "$SIM" decode --hex - \
    >"$WORK/bad.json" || rc=$?
[ $rc -eq 1 ] && grep -qF '"error":"checksum"' "$WORK/bad.json" || fail "decode: bad checksum"
pass "offline subcommands"

# --- a free loopback port, the broker, the simulator
port_busy() {
    if command -v ss >/dev/null; then
        ss -Hltn "sport = :$1" | grep -q . && return 0
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
PORT=
for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    port_busy "$p" || { PORT=$p; break; }
done
[ -n "$PORT" ] || fail "no free port"

cat >"$REG" <<JSON
{"products": [{"pk": "$PK", "ps": "$PS",
               "devices": [{"dk": "dev2", "ds": "$DS2", "disabled": false}]},
              {"pk": "closed1", "ps": "Q2xvc2VkUHJvZHVjdDE", "devices": []}],
 "auto_register": true, "comment": "kept across saves"}
JSON
"$SIM" broker-conf --port "$PORT" --registry "$REG" --password "$SECRET" --plugin "$PLUGIN" \
    >"$WORK/mosquitto.conf"
start_bg mosquitto "${MOSQUITTO[@]}" -c "$WORK/mosquitto.conf" -v
wait_for "$WORK/mosquitto.log" "qtd_mosq_auth: 2 products from" 10
wait_for "$WORK/mosquitto.log" "Opening ipv4 listen socket on port $PORT" 10
start_bg sim "$SIM" run --broker "127.0.0.1:$PORT" --password "$SECRET" --registry "$REG" \
    --log "$SIMLOG" --reg-delay-ms 100
SIM_PID=$LAST_PID
wait_for "$SIMLOG" '"event":"connected"' 10
pass "broker and simulator up on port $PORT"

# dev_sub CLIENT PASSWORD [SECONDS]: a device subscribing its downlink topic as the agent
# does; prints "topic hex" of the first downlink; mosquitto_sub's status is returned.
dev_sub() {
    mosquitto_sub -h 127.0.0.1 -p "$PORT" -i "$1" -u "" -P "$2" -t "q/1/d/$1/+" -q 1 \
        -C 1 -W "${3:-10}" -F '%t %x'
}
# dev_pub CLIENT PASSWORD TOPIC FILE: publish a frame as the device.
dev_pub() {
    mosquitto_pub -h 127.0.0.1 -p "$PORT" -i "$1" -u "" -P "$2" -t "$3" -q 1 -f "$4"
}
# ctl JSON: a control message, waiting for the simulator's reply (printed).
ctl() {
    "$SIM" ctl --broker "127.0.0.1:$PORT" --password "$SECRET" --reply "$1"
}
# decode_down FILE: the frame of a "topic hex" line, decoded to JSON.
decode_down() {
    "$SIM" decode --hex "$(awk '{print $2}' "$1")"
}
reg_pw() { "$SIM" password --pk "${3:-$PK}" --ps "$2" --dk "$1"; }
login_pw() { "$SIM" password --pk "$PK" --ps "$PS" --dk "$1" --ds "$2"; }

# --- registration: the secret arrives as DEV_CONFIG_WRITE on .../sys and is in the registry
C1=qd${PK}dev1
dev_sub "$C1" "$(reg_pw dev1 "$PS")" >"$WORK/reg.out" || fail "registration: no downlink"
grep -q "^q/1/d/$C1/sys " "$WORK/reg.out" || fail "registration: downlink not on .../sys"
decode_down "$WORK/reg.out" >"$WORK/reg.json"
grep -qF '"cmd":180,"cmd_name":"DEV_CONFIG_WRITE"' "$WORK/reg.json" || fail "registration: 0x00B4"
DS1=$(grep -oE '"5":"[0-9a-f]{32}"' "$WORK/reg.json" | grep -oE '[0-9a-f]{32}') \
    || fail "registration: no 32-character DS in $(cat "$WORK/reg.json")"
grep -q "\"$DS1\"" "$REG" || fail "registration: DS not stored in the registry"
grep -q '"comment"' "$REG" || fail "registration: unknown registry keys dropped"
grep -qF "\"event\":\"registered\",\"client\":\"$C1\",\"pk\":\"$PK\",\"dk\":\"dev1\"" "$SIMLOG" \
    || fail "registration: not logged"
grep -qF '"new":true' "$SIMLOG" || fail "registration: new DK not reported"
! grep -q "$DS1" "$SIMLOG" || fail "registration: the DS is in the log"
pass "registration delivers and stores the device secret"

# --- login with that DS is accepted; a wrong DS gets CONNACK 5 (not authorised)
rc=0; dev_sub "$C1" "$(login_pw dev1 "$DS1")" 2 >"$WORK/login.out" 2>&1 || rc=$?
! grep -qi 'refused\|not authori' "$WORK/login.out" || fail "login refused: $(cat "$WORK/login.out")"
! grep -q "^q/1/d/" "$WORK/login.out" || fail "login: the platform sent $(cat "$WORK/login.out")"
wait_for "$SIMLOG" "\"event\":\"login\",\"client\":\"$C1\"" 5
rc=0; dev_sub "$C1" "$(login_pw dev1 00000000000000000000000000000000)" 5 \
    >"$WORK/wrong.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "login with a wrong DS accepted"
grep -qi 'not authori' "$WORK/wrong.out" || fail "wrong DS: $(cat "$WORK/wrong.out")"
wait_for "$SIMLOG" "\"event\":\"login_refused\",\"client\":\"$C1\"" 5
pass "login accepted with the DS, refused (CONNACK 5) with a wrong one"

# --- uplinks: a TSL frame is decoded into the log; malformed frames are logged with the error
PW1=$(login_pw dev1 "$DS1")
"$SIM" frame --pkgid 5 --cmd TSL_EVENT --raw \
    --tsl '{"1": true, "2": 25, "3": 12.5, "4": "hi", "6": [1, 2], "7": {"8": -3}}' >"$WORK/tsl.bin"
dev_pub "$C1" "$PW1" "q/2/d/$C1/bus" "$WORK/tsl.bin" || fail "uplink publish"
wait_for "$SIMLOG" "\"dir\":\"up\",\"client\":\"$C1\"" 5
grep -F "\"dir\":\"up\",\"client\":\"$C1\"" "$SIMLOG" >"$WORK/up.txt"
grep -qF \
    '"pkgid":5,"cmd":20,"cmd_name":"TSL_EVENT","data":{"1":true,"2":25,"3":12.5,"4":"hi","6":[1,2],"7":{"8":-3}}' \
    "$WORK/up.txt" || fail "uplink not decoded: $(grep -F '"dir":"up"' "$SIMLOG")"
"$SIM" frame --pkgid 6 --cmd TSL_EVENT --raw --corrupt-sum --tsl '{"1": true}' >"$WORK/sum.bin"
dev_pub "$C1" "$PW1" "q/2/d/$C1/bus" "$WORK/sum.bin" || fail "bad-sum publish"
"$SIM" frame --pkgid 7 --cmd TSL_EVENT --raw --hex 0009ff >"$WORK/ttlv.bin"
dev_pub "$C1" "$PW1" "q/2/d/$C1/bus" "$WORK/ttlv.bin" || fail "bad-TTLV publish"
"$SIM" frame --pkgid 8 --cmd PASS_EVENT --raw --text 'hello' >"$WORK/pass.bin"
dev_pub "$C1" "$PW1" "q/2/d/$C1/bus" "$WORK/pass.bin" || fail "passthrough publish"
wait_for "$SIMLOG" '"cmd_name":"PASS_EVENT","data":\{"hex":"68656c6c6f","text":"hello"\}' 5
grep -qF '"pkgid":6,"error":"checksum"' "$SIMLOG" || fail "bad checksum not logged"
grep -qF '"pkgid":7,"cmd":20,"cmd_name":"TSL_EVENT","error":"unformattable"' "$SIMLOG" \
    || fail "bad TTLV not logged"
pass "uplinks decoded and logged, malformed ones with their error"

# --- confinement: another device's topics and the simulator's are out of reach
C2=qd${PK}dev2
PW2=$(login_pw dev2 "$DS2")
rc=0; mosquitto_sub -h 127.0.0.1 -p "$PORT" -i "$C1" -u "" -P "$PW1" -t "q/1/d/$C2/+" -C 1 -W 2 \
    >"$WORK/other.out" 2>&1 || rc=$?
grep -q 'denied' "$WORK/other.out" || fail "subscribing another device's topic: $(cat "$WORK/other.out")"
rc=0; mosquitto_sub -h 127.0.0.1 -p "$PORT" -i "$C1" -u "" -P "$PW1" -t 'qtd-sim/#' -C 1 -W 2 \
    >"$WORK/simtopic.out" 2>&1 || rc=$?
grep -q 'denied' "$WORK/simtopic.out" || fail "subscribing qtd-sim/#: $(cat "$WORK/simtopic.out")"
# dev2 listens; dev1 publishes to dev2's uplink and downlink topics; then the platform writes
dev_sub "$C2" "$PW2" 10 >"$WORK/dev2.out" 2>&1 &
DEV2_SUB=$!
PIDS+=("$DEV2_SUB")
wait_for "$SIMLOG" "\"event\":\"login\",\"client\":\"$C2\"" 5
dev_pub "$C1" "$PW1" "q/2/d/$C2/bus" "$WORK/tsl.bin" || fail "publish to another uplink"
dev_pub "$C1" "$PW1" "q/1/d/$C2/bus" "$WORK/tsl.bin" || fail "publish to another downlink"
ctl '{"cmd": "tsl_write", "dk": "dev2",
      "data": {"24": true, "25": -100000, "26": 2.5, "29": {"30": false}, "33": [1, 2, 3]}}' \
    >"$WORK/write.reply" || fail "tsl_write: $(cat "$WORK/write.reply")"
wait_exit "$DEV2_SUB" 10
decode_down "$WORK/dev2.out" >"$WORK/dev2.json" || fail "dev2 got no valid frame: $(cat "$WORK/dev2.out")"
grep -qF '"cmd":19,"cmd_name":"TSL_WRITE","data":{"24":true,"25":-100000,"26":2.5,"29":{"30":false},"33":[1,2,3]}' \
    "$WORK/dev2.json" || fail "dev2 got something else first: $(cat "$WORK/dev2.json")"
! grep -qF "\"client\":\"$C2\",\"pk\":\"$PK\",\"dk\":\"dev2\",\"topic\":\"q/2/d/$C2/bus\"" "$SIMLOG" \
    || fail "dev1's publish to dev2's uplink reached the platform"
grep -qF '"pkgid":1' "$WORK/write.reply" || fail "first downlink of dev2 is not pkgid 1"
pass "devices confined to their own topics; tsl_write encodes ints, floats, structs, arrays"

# --- control: a read logs its pkgid; stats count frames per command
ctl '{"cmd": "tsl_read", "dk": "dev1", "ids": [2, 3]}' >"$WORK/read.reply" || fail "tsl_read"
READ_PKGID=$(grep -oE '"pkgid":[0-9]+' "$WORK/read.reply" | cut -d: -f2)
grep -qF "\"dir\":\"down\",\"client\":\"$C1\",\"pk\":\"$PK\",\"dk\":\"dev1\",\"topic\":\"q/1/d/$C1/bus\",\"qos\":1,\"pkgid\":$READ_PKGID,\"cmd\":17,\"cmd_name\":\"TSL_REQ\",\"data\":[2,3]" \
    "$SIMLOG" || fail "tsl_read not logged with its pkgid $READ_PKGID"
rc=0; ctl '{"cmd": "tsl_write", "dk": "dev1", "data": {"x": 1}}' >"$WORK/badctl.reply" || rc=$?
[ $rc -eq 1 ] && grep -qF 'is not a TSL id' "$WORK/badctl.reply" || fail "bad control message"
ctl '{"cmd": "stats"}' >"$WORK/stats.reply" || fail "stats"
grep -qF "\"$C1\":{\"pk\":\"$PK\",\"dk\":\"dev1\"" "$WORK/stats.reply" || fail "stats: dev1"
grep -qF '"up":{"TSL_EVENT":1,"PASS_EVENT":1},"down":{"DEV_CONFIG_WRITE":1,"TSL_REQ":1},"up_errors":2,"down_errors":0' \
    "$WORK/stats.reply" || fail "stats counters: $(cat "$WORK/stats.reply")"
grep -qF '"event":"stats"' "$SIMLOG" || fail "stats not logged"
pass "control: tsl_read pkgid, refusal of bad data, stats"

# --- failed authentications are accepted, confined and answered with EXCE_WRITE 0x00A3
expect_exce() { # CLIENT PASSWORD ERRCODE PK DK
    dev_sub "$1" "$2" >"$WORK/exce.out" || fail "$3: no EXCE_WRITE for $1"
    grep -q "^q/1/d/$1/sys " "$WORK/exce.out" || fail "$3: not on .../sys"
    decode_down "$WORK/exce.out" | grep -qF \
        "\"cmd\":163,\"cmd_name\":\"EXCE_WRITE\",\"data\":{\"1\":$3,\"2\":0,\"3\":\"$4\",\"4\":\"$5\"}" \
        || fail "$3: $(decode_down "$WORK/exce.out")"
    wait_for "$SIMLOG" "\"event\":\"auth_fail\",\"client\":\"$1\".*\"errcode\":$3" 5
}
expect_exce "qd${PK}dev3" "$(reg_pw dev3 WRONGPSWRONGPS12)" 10425 "$PK" dev3
dev_pub "qd${PK}dev3" "$(reg_pw dev3 WRONGPSWRONGPS12)" "q/2/d/qd${PK}dev3/bus" "$WORK/tsl.bin" \
    || true
! grep -qF "\"dir\":\"up\",\"client\":\"qd${PK}dev3\"" "$SIMLOG" || fail "a failed device published"
grep -q '"dev3"' "$REG" && fail "a failed registration reached the registry"
expect_exce "qd${PK}dev1" "$(reg_pw dev1 "$PS")" 10422 "$PK" dev1
expect_exce qdzzzzdev9 "$("$SIM" password --pk zzzz --ps ZZZZZZZZZZZZZZZZ --dk dev9)" 10423 zzzz dev9
pass "wrong PS 10425, registered twice 10422, unknown product 10423"

# --- throttling: the platform answers dev1's connections with 10429, then accepts it again
ctl '{"cmd": "refuse_connect", "dk": "dev1", "errcode": 10429}' >/dev/null || fail "refuse_connect"
expect_exce "$C1" "$PW1" 10429 "$PK" dev1
ctl '{"cmd": "refuse_connect", "dk": "dev1", "errcode": 0}' >/dev/null || fail "refuse_connect 0"
n_login=$(grep -c "\"event\":\"login\",\"client\":\"$C1\"" "$SIMLOG" || true)
rc=0; dev_sub "$C1" "$PW1" 1 >/dev/null 2>&1 || rc=$?
wait_for "$SIMLOG" "\"event\":\"login\",\"client\":\"$C1\"" 5 $((n_login + 1))
pass "connections answered with 10429 on request, accepted again after"

# sub_auth_delay (a busy platform, tests/integration/test_subdev_slow.sh): a delay out of
# range is refused with its reason, 0 is taken
reply=$(ctl '{"cmd": "sub_auth_delay", "ms": -5}' || true)
[[ "$reply" == *'"ok":false'*'needs'*'0..600000'* ]] || fail "sub_auth_delay -5: $reply"
ctl '{"cmd": "sub_auth_delay", "ms": 0}' >/dev/null || fail "sub_auth_delay 0 refused"
pass "sub_auth_delay checks its ms"

# --- a disabled device: the platform disables dev2, its login is answered with 10431
ctl '{"cmd": "disable", "dk": "dev2", "disabled": true}' >/dev/null || fail "disable"
grep -A3 '"dev2"' "$REG" | grep -q '"disabled":[[:space:]]*true' || fail "disable not saved"
expect_exce "$C2" "$PW2" 10431 "$PK" dev2
pass "disabled device gets 10431"

# --- clean stop
kill -TERM "$SIM_PID"
wait_exit "$SIM_PID" 10
[ "$EXIT_RC" -eq 0 ] || fail "simulator SIGTERM exit code $EXIT_RC"
grep -qF '"event":"stopped"' "$SIMLOG" || fail "stop not logged"
pass "simulator stops cleanly"
