#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An outbox row that can never be published (here: a stored topic with a wildcard, which no
# MQTT client may publish to) does not block the rows behind it forever: after 3 attempts it
# is moved aside into the store's kv (cloud.dead.<id>) with its topic and frame, deleted
# from the outbox, logged by id, and the failure event of its command is raised; the
# reports behind it then reach the platform.
source "$(dirname "$0")/../integration/lib.sh"

auto_registry
start_broker
start_sim

# register once, then stop: the device has its secret
start_agent a 'dk = "poison1"' 'mode = "none"'
A=$AGENT
wait_for "$WORK/a.log" 'lua: event 3/10200' 15
stop_checked "$A" a
mv "$WORK/a.log" "$WORK/a-first.log"

# a row no client may publish (a TSL_EVENT frame, pkgid 1, {1: true}) before whatever comes next
sqlite3 "$WORK/a/data/qthingd.db" \
    "INSERT INTO outbox (created, topic, qos, payload)
     VALUES (strftime('%s'), 'q/2/d/qdp1116apoison1/#', 1, X'AAAA00071E000100140009');"
bad=$(sqlite3 "$WORK/a/data/qthingd.db" "SELECT max(id) FROM outbox")

start_agent a 'dk = "poison1"' 'mode = "types"'
A=$AGENT
wait_for "$WORK/a.log" "outbox row $bad .* failed to publish 3 times: moved aside to the store's kv as cloud.dead.$bad" 20
wait_for "$WORK/a.log" 'lua: event 4/10310' 10
wait_for "$WORK/sim.jsonl" '"dk": ?"poison1".*"cmd_name": ?"TSL_EVENT"|"cmd_name": ?"TSL_EVENT".*"dk": ?"poison1"' 15
stop_checked "$A" a
n=$(sqlite3 "$WORK/a/data/qthingd.db" "SELECT count(*) FROM outbox WHERE id = $bad")
[ "$n" -eq 0 ] || fail "the poison row is still in the outbox"
kept=$(sqlite3 "$WORK/a/data/qthingd.db" "SELECT hex(value) FROM kv WHERE key = 'cloud.dead.$bad'")
want=$(printf 'q/2/d/qdp1116apoison1/#\n' | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
[ "$kept" = "${want}AAAA00071E000100140009" ] \
    || fail "the moved row is not kept as topic + newline + frame: $kept"
pass "a poison row is moved aside after 3 attempts (kept in kv), 4/10310, the rows behind it go"
