#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# TLS with certificate verification: a test CA and a server certificate for 127.0.0.1 and
# localhost (openssl CLI, in the work dir) on a second, TLS listener of the broker (the sim
# stays on the plain one). An agent on mqtts:// with cloud.ca_file = the CA registers and
# reports (the sim decodes); the same by host name (localhost); an agent without ca_file
# (system store) is refused by its own verification, says why, raises 1/10474 and keeps
# retrying; an agent that trusts the CA but reaches a certificate for another host name is
# refused too (host name verification), and so is one whose ca_file does not exist.
source "$(dirname "$0")/lib.sh"

cat >"$WORK/registry.json" <<'JSON'
{"products": [{"pk": "p1116a", "ps": "UHg1dTRBRVh3MkVG", "devices": []}],
 "auto_register": true}
JSON

# --- a CA, a server certificate for 127.0.0.1/localhost, one for another host name
# cert NAME SAN: NAME.key and NAME.pem signed by the CA.
cert() {
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/$1.key" \
        -subj "/CN=$1" -out "$WORK/$1.csr" 2>/dev/null
    {
        echo "subjectAltName=$2"
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=digitalSignature"
        echo "extendedKeyUsage=serverAuth"
    } >"$WORK/$1.ext"
    openssl x509 -req -in "$WORK/$1.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
        -CAcreateserial -days 2 -extfile "$WORK/$1.ext" -out "$WORK/$1.pem" 2>/dev/null
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=qthingd test CA" -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
cert server "IP:127.0.0.1,DNS:localhost"
cert other "DNS:other.example"
openssl verify -CAfile "$WORK/ca.pem" "$WORK/server.pem" >/dev/null || fail "test PKI broken"

# --- the broker: plain listener (sim) + TLS listener (server cert) + TLS (other host name)
PORT=$(free_port)
TLS_PORT=$(free_port)
OTHER_PORT=$(free_port)
"$SIM" broker-conf --port "$PORT" --registry "$WORK/registry.json" --password "$SIMPW" \
    --plugin "$QTD_BUILD_DIR/sim/qtd_mosq_auth.so" >"$WORK/mosquitto.conf"
cat >>"$WORK/mosquitto.conf" <<CONF
listener $TLS_PORT 127.0.0.1
cafile $WORK/ca.pem
certfile $WORK/server.pem
keyfile $WORK/server.key
listener $OTHER_PORT 127.0.0.1
cafile $WORK/ca.pem
certfile $WORK/other.pem
keyfile $WORK/other.key
CONF
start_bg mosquitto "${MOSQUITTO[@]}" -c "$WORK/mosquitto.conf"
for p in $PORT $TLS_PORT $OTHER_PORT; do
    end=$((SECONDS + 10))
    until (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; do
        [ $SECONDS -le $end ] || fail "mosquitto did not listen on $p"
        sleep 0.1
    done
done
start_sim
# The listener really is TLS with this certificate (independent of the agent).
echo | openssl s_client -connect "127.0.0.1:$TLS_PORT" -CAfile "$WORK/ca.pem" \
    -verify_ip 127.0.0.1 -verify_return_error >"$WORK/s_client.txt" 2>&1 \
    || fail "openssl s_client cannot verify the TLS listener"

# --- with the CA: registers over TLS and reports, the sim decodes
AGENT_SERVER="mqtts://127.0.0.1:$TLS_PORT" CLOUD_EXTRA="ca_file = \"$WORK/ca.pem\"" \
    start_agent t1 'dk = "tls1"' 'mode = "types"'
T1=$AGENT
wait_for "$WORK/t1.log" 'lua: event 3/10200' 20
grep -q 'lua: event 1/10200' "$WORK/t1.log" || fail "tls1 did not register"
grep -q "cloud: registering to ssl://127.0.0.1:$TLS_PORT" "$WORK/t1.log" || fail "not over TLS"
wait_for "$WORK/sim.jsonl" '"dk":"tls1".*"cmd_name":"TSL_EVENT"' 5
sim_frames tls1 TSL_EVENT | grep -q '"27": "text 中文"' \
    || fail "TSL over TLS: $(sim_frames tls1 TSL_EVENT)"
wait_for "$WORK/t1.log" 'lua: event 4/10210' 5
grep -q "New connection from .* on port $TLS_PORT" "$WORK/mosquitto.log" \
    || fail "the broker saw no connection on the TLS listener"
pass "mqtts://127.0.0.1 with ca_file: registered, TSL report decoded by the sim, 4/10210"

# --- without ca_file (system store): verification fails, says why, keeps retrying
AGENT_SERVER="mqtts://127.0.0.1:$TLS_PORT" start_agent t2 'dk = "tls2"' 'mode = "types"'
T2=$AGENT
wait_for "$WORK/t2.log" 'lua: event 1/10474' 15
wait_for "$WORK/t2.log" 'cloud: registering to' 15 3
grep -iE 'cloud: cannot connect.*certificate verify failed' "$WORK/t2.log" >"$WORK/why.txt" \
    || fail "no log line saying that the certificate was not verified"
! grep -qE 'lua: event (1|2|3)/10200' "$WORK/t2.log" || fail "tls2 connected without the CA"
! grep -q '"dk":"tls2"' "$WORK/sim.jsonl" || fail "the platform saw tls2"
kill -0 "$T2" || fail "agent without CA died"
pass "no ca_file: 1/10474, retrying ($(grep -c 'cloud: registering to' "$WORK/t2.log") attempts)," \
    "log: $(head -1 "$WORK/why.txt" | sed 's/.*cloud: //')"

# --- by host name: localhost is in the certificate
AGENT_SERVER="mqtts://localhost:$TLS_PORT" CLOUD_EXTRA="ca_file = \"$WORK/ca.pem\"" \
    start_agent t3 'dk = "tls3"' 'mode = "none"'
wait_for "$WORK/t3.log" 'lua: event 3/10200' 20
pass "mqtts://localhost with ca_file: connected"

# --- a trusted certificate for another host name: refused (host name verification)
AGENT_SERVER="mqtts://127.0.0.1:$OTHER_PORT" CLOUD_EXTRA="ca_file = \"$WORK/ca.pem\"" \
    start_agent t4 'dk = "tls4"' 'mode = "none"'
wait_for "$WORK/t4.log" 'lua: event 1/10474' 15
wait_for "$WORK/t4.log" 'cloud: registering to' 15 2
! grep -qE 'lua: event (1|2|3)/10200' "$WORK/t4.log" \
    || fail "tls4 accepted a certificate for other.example"
grep -E 'cloud: cannot connect' "$WORK/t4.log" | head -1 | sed 's/.*cloud: //' >"$WORK/why4.txt"
pass "certificate for other.example on 127.0.0.1: refused, log: $(cat "$WORK/why4.txt")"

# --- a ca_file that does not exist: the reason is in the log
AGENT_SERVER="mqtts://127.0.0.1:$TLS_PORT" CLOUD_EXTRA="ca_file = \"$WORK/missing.pem\"" \
    start_agent t5 'dk = "tls5"' 'mode = "none"'
wait_for "$WORK/t5.log" 'lua: event 1/10474' 15
grep -E 'cloud: cannot connect' "$WORK/t5.log" | head -1 | sed 's/.*cloud: //' >"$WORK/why5.txt"
grep -qi 'no such file' "$WORK/why5.txt" || fail "missing ca_file: $(cat "$WORK/why5.txt")"
pass "missing ca_file: refused, log: $(cat "$WORK/why5.txt")"

stop_checked "$T1" t1
stop_checked "$T2" t2
stop_checked "$SIMPID" sim
