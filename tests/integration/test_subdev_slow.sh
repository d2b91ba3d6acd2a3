#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sub-devices behind a busy platform: the simulator answers their authentications 6 s late
# while the agent waits 5 s (cloud.ack_timeout_s). Each of 100 sub-devices connected at once
# times out and is tried again, one every 10-30 ms, so that some first answers come between
# the two. The platform refuses a second authentication of a device it registered, so the
# secret a late first answer granted must be kept: every one comes online, with the secret
# the registry holds, and the refusals of the second tries go unheard. No more than 16
# authentications are under way at once.
source "$(dirname "$0")/lib.sh"
gateway_registry
start_broker
start_sim
sim_ctl '{"cmd": "sub_auth_delay", "ms": 6000}' | grep -q '"ok":true' \
    || fail "the simulator did not take sub_auth_delay"

N=100
SUBS="subs = (function() local t = {} for i = 1, $N do t[i] = { pk = \"psub01\",
  ps = \"c3ViZGV2aWNlc2VjcmV0\", dk = \"slow\" .. i, keepalive = 60 } end return t end)()"
CLOUD_EXTRA='ack_timeout_s = 5' AGENT_SCRIPT=$QTD_SOURCE_DIR/tests/lua/subdev_it.lua \
    start_agent g 'dk = "gwslow"' "$SUBS"
G=$AGENT
wait_for "$WORK/g.log" 'lua: event 3/10200' 15
wait_for "$WORK/g.log" 'lua: sub event psub01 slow[0-9]+ 3/10200' 120 "$N"
timeouts=$(grep -c 'no answer in 5s (state 1): trying again' "$WORK/g.log" || true)
late=$(grep -c 'authenticated (the answer came after the wait); its secret is kept' \
    "$WORK/g.log" || true)
[ "$timeouts" -ge "$N" ] || fail "only $timeouts authentications timed out: the delay did not bite"
[ "$late" -ge 1 ] || fail "no secret taken from a late answer"
if grep -q 'authentication refused' "$WORK/g.log"; then
    fail "a sub-device was refused: $(grep -m1 'authentication refused' "$WORK/g.log")"
fi
online=$(grep -oE 'lua: sub event psub01 slow[0-9]+ 3/10200' "$WORK/g.log" | sort -u | wc -l)
[ "$online" -eq "$N" ] || fail "$online of $N sub-devices online"
# each DS the agent announced (1/10200) is the one the registry holds
/usr/bin/python3 - "$WORK/registry.json" "$WORK/g.log" "$N" <<'PY' || fail "secrets differ"
import json, re, sys
reg = {d["dk"]: d.get("ds", "") for p in json.load(open(sys.argv[1]))["products"]
       for d in p["devices"]}
got = {}
for line in open(sys.argv[2]):
    m = re.search(r'lua: sub event psub01 (slow\d+) 1/10200 "([0-9a-f]{32})"', line)
    if m:
        got.setdefault(m.group(1), set()).add(m.group(2))
assert len(got) == int(sys.argv[3]), f"{len(got)} secrets announced"
for dk, ds in got.items():
    assert ds == {reg[dk]}, (dk, ds, reg[dk])
print(f"{len(got)} secrets, each the registry's")
PY
# at most 16 authentications under way at once: before the first answer could come (6 s) or
# the first wait run out (5 s), the platform saw exactly 16
/usr/bin/python3 - "$WORK/sim.jsonl" <<'PY' || fail "more or fewer than 16 requests under way"
import json, sys
ts = []
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("dir") == "up" and e.get("cmd_name") == "SUB_AUTH":
        ts.append(e["ts"])
first = [t for t in ts if t < ts[0] + 4500]
print(f"{len(first)} SUB_AUTH in the first 4.5 s, {len(ts)} in all")
sys.exit(0 if len(first) == 16 else 1)
PY
stop_checked "$G" g
pass "$N sub-devices behind a platform answering 6 s late: $timeouts waits ran out, $late late secrets kept, all online with the registry's secret"
