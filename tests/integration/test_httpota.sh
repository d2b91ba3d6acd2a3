#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTP OTA (seed 2.4.2, 3.8, table 4.2) against the simulator's plan service (qthingd-sim
# ota-server), nginx serving the images, mosquitto and the simulator (the cloud plugin gives
# the device key): the setters and getters; no plan -> 2/10700; a plan for firmware -> 1/0
# with the plan, 3/0, 4/0, 7/0, the apply command gets the verified image, and after a
# simulated reboot (a restart with the new version) 8/0; a wrong MD5 -> 7/10606, nothing
# applied; nginx stopped mid-download and started again -> resumed, 4/0; every event is also
# reported to the plan service, whose log is checked.
source "$(dirname "$0")/lib.sh"
auto_registry
start_broker
start_sim
NGINX_SLOW_RATE=1m start_nginx
OTA_PORT=$(free_port)
echo '{"plans": []}' >"$WORK/plans.json"
start_bg ota-server "$SIM" ota-server --port "$OTA_PORT" --registry "$WORK/registry.json" \
    --plans "$WORK/plans.json" --log "$WORK/ota-server.jsonl"
listening "$OTA_PORT" "$LAST_PID" 10 || fail "ota-server did not listen on $OTA_PORT"

head -c 3145728 /dev/urandom >"$WORK/www/fw.bin"
MD5=$(md5sum "$WORK/www/fw.bin" | cut -d' ' -f1)
SHA=$(sha256sum "$WORK/www/fw.bin" | cut -d' ' -f1)
# plan DK PATH MD5: the plans file gives DK the firmware at $URL/PATH
plan() {
    cat >"$WORK/plans.json" <<JSON
{"plans": [{"pk": "$PK", "dk": "$1", "code": 0, "plan": {"url": "$URL/$2",
  "size": 3145728, "md5": "$3", "sha256": "$SHA", "targetVersion": "2.0",
  "componentNo": "FW"}}]}
JSON
}
# reported DK: the events the plan service got from DK, "event/errcode" space-separated
reported() {
    /usr/bin/python3 - "$WORK/ota-server.jsonl" "$1" <<'PY'
import json, sys
out = []
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "http_ota_status" and e.get("dk") == sys.argv[2]:
        out.append("%d/%d" % (e["ota_event"], e["errcode"]))
print(" ".join(out))
PY
}
FW_APPLY="cp \"\$1\" $WORK/installed.bin"
# agent NAME DK VERSION: an agent doing HTTP OTA, running firmware VERSION
agent() {
    HTTPOTA="firmware_command = [[$FW_APPLY]], firmware_version_command = [[echo $3]], \
retries = 3, retry_ms = 300, timeout_s = 3" start_agent "$1" "dk = \"$2\"" 'mode = "none"' \
        "http_ota = { server = \"127.0.0.1:$OTA_PORT\", battery = 80, upmode = 1 }"
}

# --- the settings, and no plan
agent n hnone 1.0
wait_for "$WORK/n.log" 'lua: httpota settings true true true bad false false' 15
wait_for "$WORK/n.log" "lua: httpota get $PK 127.0.0.1:$OTA_PORT false 80;1;" 5
wait_for "$WORK/n.log" 'lua: httpota event 2/10700' 10
grep -q '"event":"http_ota_plan","pk":"p1116a","dk":"hnone","version":"1.0","battery":80,"upmode":1,"code":10700' \
    "$WORK/ota-server.jsonl" || fail "the plan request was not as expected"
wait_for "$WORK/ota-server.jsonl" '"dk":"hnone","ota_event":2,"errcode":10700' 10
[ "$(reported hnone)" = "2/10700" ] || fail "reported: $(reported hnone)"
stop_checked "$AGENT" n
pass "HTTP OTA settings checked and kept; no plan: 2/10700, reported"

# --- a wrong MD5: 7/10606, nothing applied
plan hmd5 fw.bin 0123456789abcdef0123456789abcdef
agent m hmd5 1.0
wait_for "$WORK/m.log" 'lua: httpota event 7/10606' 20
grep -q 'lua: httpota event 1/0 {"url":' "$WORK/m.log" || fail "no 1/0 with the plan"
wait_for "$WORK/ota-server.jsonl" '"dk":"hmd5","ota_event":7,"errcode":10606' 10
[ "$(reported hmd5)" = "1/0 3/0 7/10606" ] || fail "reported: $(reported hmd5)"
[ ! -e "$WORK/installed.bin" ] || fail "an image with a wrong MD5 was applied"
[ ! -e "$WORK/m/data/ota/http-ota.bin" ] || fail "an image with a wrong MD5 was kept"
stop_checked "$AGENT" m
pass "HTTP OTA, wrong MD5: 1/0 3/0 7/10606, nothing applied"

# --- the full flow, with nginx stopped half-way and started again
plan hfw slow/fw.bin "$MD5"
agent f hfw 1.0
wait_for "$WORK/f.log" 'lua: httpota event 3/0' 15
sleep 1.5
kill -TERM "$NGINX"; wait_exit "$NGINX" 10; forget_pid "$NGINX"
wait_for "$WORK/f.log" 'retry 1 of 3' 10
start_nginx
wait_for "$WORK/f.log" 'lua: httpota event 4/0' 30
wait_for "$WORK/f.log" 'lua: httpota event 7/0' 5
wait_for "$WORK/f.log" 'firmware apply command finished \(exit 0\)' 10
grep -q 'resuming at byte [1-9]' "$WORK/f.log" || fail "the download did not resume"
cmp -s "$WORK/www/fw.bin" "$WORK/installed.bin" || fail "the command did not get the image"
stop_checked "$AGENT" f
keep_log f
agent f hfw 2.0 # the reboot into the new firmware
wait_for "$WORK/f.log" 'lua: httpota event 8/0' 15
wait_for "$WORK/f.log" 'lua: httpota event 2/10700' 10 # it runs 2.0: no plan any more
wait_for "$WORK/ota-server.jsonl" '"dk":"hfw","ota_event":2,"errcode":10700' 10
[ "$(reported hfw)" = "1/0 3/0 4/0 7/0 8/0 2/10700" ] || fail "reported: $(reported hfw)"
stop_checked "$AGENT" f
pass "HTTP OTA: 1/0 3/0 (cut and resumed) 4/0 7/0, applied, 8/0 after the reboot"
