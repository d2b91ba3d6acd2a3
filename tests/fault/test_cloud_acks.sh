#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Lost acknowledgements on a connection that stays up (an MQTT-aware proxy drops the
# broker's PUBACKs or SUBACKs): the agent does not stall for ever. After cloud.ack_timeout_s
# without a PUBACK it reconnects and sends the unacknowledged rows again; without a SUBACK
# it reconnects too. Every report reaches the platform once the acknowledgements flow.
source "$(dirname "$0")/../integration/lib.sh"

auto_registry
start_broker
start_sim
PROXY_PORT=$(free_port)
CONTROL=$WORK/drop
: >"$CONTROL"
start_bg proxy /usr/bin/python3 "$QTD_SOURCE_DIR/tests/fault/mqtt_ack_proxy.py" \
    "$PROXY_PORT" "$PORT" "$CONTROL"
wait_for "$WORK/proxy.log" "listening on $PROXY_PORT" 10

# --- PUBACKs lost: reconnect after 5 s, the row goes again and arrives
AGENT_SERVER="mqtt://127.0.0.1:$PROXY_PORT" CLOUD_EXTRA='ack_timeout_s = 5' \
    start_agent a 'dk = "acks1"' 'mode = "none"'
A=$AGENT
wait_for "$WORK/a.log" 'lua: event 3/10200' 15
echo puback >"$CONTROL"
sim_ctl '{"cmd": "tsl_read", "dk": "acks1", "ids": [1]}' >/dev/null # answered with mode 1
wait_for "$WORK/proxy.log" 'dropped packet type 4' 10
wait_for "$WORK/a.log" 'no acknowledgement of outbox row [0-9]+ within 5 s .*reconnecting' 15
: >"$CONTROL"
wait_for "$WORK/a.log" 'lua: event 3/10200' 20 2
wait_for "$WORK/a.log" 'lua: event 4/10210' 15
pass "lost PUBACK: reconnect after ack_timeout_s, the row goes again and is acknowledged"

# --- SUBACKs lost: reconnect, then subscribed once they flow
echo suback >"$CONTROL"
kill -TERM "$A"; wait_exit "$A" 10
mv "$WORK/a.log" "$WORK/a-puback.log"
AGENT_SERVER="mqtt://127.0.0.1:$PROXY_PORT" CLOUD_EXTRA='ack_timeout_s = 5' \
    start_agent a 'dk = "acks1"' 'mode = "none"'
A=$AGENT
wait_for "$WORK/a.log" 'no SUBACK within 5 s: the subscription is stuck; reconnecting' 15
grep -q 'lua: event 3/10300' "$WORK/a.log" || fail "no 3/10300 for the stuck subscription"
: >"$CONTROL"
wait_for "$WORK/a.log" 'lua: event 3/10200' 30
pass "lost SUBACK: 3/10300 and a reconnect after ack_timeout_s, then subscribed"
