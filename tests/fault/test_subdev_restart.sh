#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 200 sub-devices behind one gateway, with heartbeats, each reporting a sequence {1: n, 2: its
# index} once a second for 8 s whatever the connection does; the broker is stopped for two
# seconds in the middle (sessions kept) and started again. All 200 must come back online by
# themselves (the gateway logs them in again, paced), and the simulator must have every n of
# every sub-device (duplicates allowed), each on its own sub-device's topic (index and DK
# agree): nothing lost while the broker was away, nothing attributed to another sub-device.
# Counted twice: by the delivery witness (a persistent-session subscriber on q/2/d/+/bus,
# kept across the broker restart) and in the simulator's log.
source "$(dirname "$0")/fault_lib.sh"
N=200
gateway_registry
start_broker
start_sim
start_witness + bus
SUBS="subs = (function() local t = {} for i = 1, $N do t[i] = { pk = \"psub01\",
  ps = \"c3ViZGV2aWNlc2VjcmV0\", dk = \"s\" .. i, keepalive = 30 } end return t end)()"
AGENT_SCRIPT=$QTD_SOURCE_DIR/tests/lua/subdev_it.lua start_agent g 'dk = "gw2"' "$SUBS" \
    'seq = { count = 8, every_ms = 1000 }'
G=$AGENT
wait_for "$WORK/g.log" 'lua: sub event psub01 s[0-9]+ 3/10200' 60 "$N"
pass "$N sub-devices authenticated, logged in and subscribed"
sleep 2
kill -TERM "$BROKER"; wait_exit "$BROKER" 10; forget_pid "$BROKER"
sleep 2
start_broker
wait_for "$WORK/g.log" 'lua: sub event psub01 s[0-9]+ 2/10474' 20 "$N"
wait_for "$WORK/g.log" 'lua: sub event psub01 s[0-9]+ 3/10200' 60 $((2 * N))
wait_for "$WORK/g.log" 'lua: seq done s[0-9]+' 30 "$N"
pass "broker restarted: all $N sub-devices back online by themselves"
/usr/bin/python3 - "$WORK/sim.jsonl" "$N" <<'PY' || fail "sub-device reports lost or misattributed"
import json, sys, time
n = int(sys.argv[2])
deadline = time.time() + 30  # the last reports may still be on their way
while True:
    got = {i: set() for i in range(1, n + 1)}
    bad = 0
    for line in open(sys.argv[1]):
        e = json.loads(line)
        if e.get("dir") != "up" or e.get("cmd_name") != "TSL_EVENT" or e.get("pk") != "psub01":
            continue
        d = e.get("data", {})
        idx, seq = d.get("2"), d.get("1")
        if e.get("dk") != "s%s" % idx or not e.get("topic", "").startswith("q/2/d/qdpsub01s%s/" % idx):
            bad += 1
            continue
        got[idx].add(seq)
    missing = {i: sorted(set(range(1, 9)) - s) for i, s in got.items() if set(range(1, 9)) - s}
    if bad or not missing or time.time() > deadline:
        break
    time.sleep(0.5)
print("misattributed %d, sub-devices missing reports %d" % (bad, len(missing)))
if missing:
    print("e.g.", list(missing.items())[:5])
sys.exit(0 if bad == 0 and not missing else 1)
PY
/usr/bin/python3 - "$SIM" "$WORK/witness.log" "$N" <<'PY' || fail "the witness misses reports"
import concurrent.futures, json, subprocess, sys, time
sim, log, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

def decode(hexed):
    r = subprocess.run([sim, "decode", "--hex", hexed], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else {}

deadline = time.time() + 30
seen = {}
while True:
    pairs = set()
    for line in open(log, errors="replace"):
        p = line.split()
        if len(p) == 2 and p[0].startswith("q/2/d/qdpsub01s") and p[0].endswith("/bus"):
            pairs.add((p[0], p[1]))
    todo = [x for x in pairs if x not in seen]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for x, f in zip(todo, pool.map(lambda x: decode(x[1]), todo)):
            seen[x] = f
    got = {i: set() for i in range(1, n + 1)}
    bad = 0
    for (topic, _), f in seen.items():
        d = f.get("data", {}) if f.get("cmd_name") == "TSL_EVENT" else {}
        idx, seq = d.get("2"), d.get("1")
        if idx is None:
            continue
        if topic != "q/2/d/qdpsub01s%s/bus" % idx:
            bad += 1
            continue
        got[idx].add(seq)
    missing = [i for i, s in got.items() if set(range(1, 9)) - s]
    if bad or not missing or time.time() > deadline:
        break
    time.sleep(0.5)
print("witness: misattributed %d, sub-devices missing reports %d" % (bad, len(missing)))
sys.exit(0 if bad == 0 and not missing else 1)
PY
stop_checked "$G" g
pass "every report of every sub-device delivered on its own topic (counted by the witness and at the simulator)"
