#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The default device key without a modem, in a network namespace of the test's own with
# veth interfaces: the MAC of the universally administered interface with the lowest index
# (a locally administered one before it is passed over) is the device key, is logged with
# its source, and a connection with it raises no cloned-image warning. Skipped (77) where
# network namespaces cannot be made (not root).
source "$(dirname "$0")/lib.sh"

NS="qtdid$$"
if ! ip netns add "$NS" 2>/dev/null; then
    echo "SKIP: cannot create a network namespace here (needs root and iproute2)"
    exit 77
fi
trap 'rc=$?; ip netns del "$NS" 2>/dev/null || true; set +e; (exit $rc); cleanup' EXIT
ip -n "$NS" link set lo up
# veth pairs inside the namespace; their random MACs are locally administered
ip -n "$NS" link add d0 type veth peer name p0
ip -n "$NS" link set d0 address 02:00:00:00:00:01 # locally administered: passed over
ip -n "$NS" link add d1 type veth peer name p1
ip -n "$NS" link set d1 address 00:1a:2b:3c:4d:5e
ip -n "$NS" link add d2 type veth peer name p2
ip -n "$NS" link set d2 address 00:aa:bb:cc:dd:ee # universal too, but a higher index

mkdir -p "$WORK/a"
cat >"$WORK/a/script.lua" <<'LUA'
quecIot.init()
quecIot.setProductinfo("p1116a", "UHg1dTRBRVh3MkVG")
quecIot.setServer(1, "127.0.0.1:9") -- the namespace's own loopback: refused at once
quecIot.setConnmode(1)
LUA
cat >"$WORK/a/agent.lua" <<CFG
agent = { data_dir = "$WORK/a/data", plugin_dir = "$QTD_PLUGIN_DIR" }
lua = { script = "$WORK/a/script.lua" }
plugins = { { file = "cloud", required = true } }
CFG
start_bg a ip netns exec "$NS" "$QTHINGD" -c "$WORK/a/agent.lua"
A=$LAST_PID
wait_for "$WORK/a.log" 'default device key: 001a2b3c4d5e, from the MAC of d1' 10
wait_for "$WORK/a.log" 'registering to tcp://127.0.0.1:9 as qdp1116a001a2b3c4d5e' 10
! grep -q 'connecting with the default device key' "$WORK/a.log" || fail "warned about a MAC"
pass "default device key: the universal MAC with the lowest index (d1), no warning"
kill -TERM "$A"
wait_exit "$A" 10
[ "$EXIT_RC" -eq 0 ] || fail "agent exit $EXIT_RC"

# Without such an interface (only a locally administered one): machine-id, and a warning
# when a connection uses it.
ip -n "$NS" link del d1 # the peers go with them
ip -n "$NS" link del d2
rm -rf "$WORK/a/data"
mv "$WORK/a.log" "$WORK/a-mac.log"
start_bg a ip netns exec "$NS" "$QTHINGD" -c "$WORK/a/agent.lua"
A=$LAST_PID
wait_for "$WORK/a.log" 'default device key: [0-9a-f]{16}, from (/etc/machine-id|the host name)' 10
wait_for "$WORK/a.log" 'WARN  cloud: connecting with the default device key [0-9a-f]{16}' 10
pass "without a universal MAC: machine-id, and a cloned-image warning at connection"
