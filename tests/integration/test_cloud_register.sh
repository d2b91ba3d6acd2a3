#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A first registration and kill -9, with the platform slow to deliver the device secret
# (qthingd-sim --reg-delay-ms): killed between CONNECT and the secret, the device is locked
# out by the platform (it recorded the secret at CONNECT): the restart gets 1/10422 and a log
# line saying how to recover. Killed right after the secret arrived, the secret is on disk
# (synced as it arrives) and the restart logs in with it, with no second registration.
source "$(dirname "$0")/lib.sh"

auto_registry
start_broker
SIM_EXTRA="--reg-delay-ms 2000" start_sim

# --- killed before the secret arrives
start_agent a 'dk = "killreg1"' 'mode = "none"'
A=$AGENT
wait_for "$WORK/a.log" 'cloud: registering to .* as qdp1116akillreg1' 10
wait_for "$WORK/sim.jsonl" '"registered".*"killreg1"|"killreg1".*"registered"' 10
kill -KILL "$A"; wait_exit "$A" 5
# the platform sends the secret to a device that is gone (nobody receives it)
wait_for "$WORK/sim.jsonl" '"DEV_CONFIG_WRITE"' 10
mv "$WORK/a.log" "$WORK/a-killed.log"
start_agent a 'dk = "killreg1"' 'mode = "none"'
A=$AGENT
wait_for "$WORK/a.log" 'lua: event 1/10422' 15
grep -q 'the platform has registered qdp1116akillreg1 already (10422).*Reset the device on the platform' \
    "$WORK/a.log" || fail "no log line saying how to recover"
pass "killed between CONNECT and the secret: 1/10422 and how to recover"
kill -TERM "$A"; wait_exit "$A" 10

# --- killed right after the secret arrived: it is on disk
start_agent b 'dk = "killreg2"' 'mode = "none"'
B=$AGENT
wait_for "$WORK/b.log" 'cloud: device secret received and stored' 15
kill -KILL "$B"; wait_exit "$B" 5
ds=$(sqlite3 "$WORK/b/data/qthingd.db" "select value from kv where key = 'quecIot.ds'")
[ ${#ds} -eq 32 ] || fail "the device secret is not on disk after kill -9"
mv "$WORK/b.log" "$WORK/b-killed.log"
start_agent b 'dk = "killreg2"' 'mode = "none"'
B=$AGENT
wait_for "$WORK/b.log" 'lua: event 3/10200' 15
! grep -q 'lua: event 1/' "$WORK/b.log" || fail "registered again after kill -9"
grep -q 'cloud: logging in to' "$WORK/b.log" || fail "did not log in with the stored secret"
pass "killed right after the secret: it was on disk, the restart logs in"
