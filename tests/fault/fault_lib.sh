# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Shared by the fault tests (tests/fault/test_*.sh), on top of tests/integration/lib.sh: a
# broker that keeps sessions across restarts, the verdict of the delivery witness (started
# with lib.sh's start_witness), SIGKILL and restart of the agent, restart of the simulator. Not here: the faults themselves (each test drives its own).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

# Sessions (subscriptions and queued QoS 1 messages) survive a broker restart: saved on
# SIGTERM and every second; no queue limit, so a witness that is away loses nothing.
mkdir -p "$WORK/mosq-db"
# shellcheck disable=SC2034 # read by start_broker (lib.sh)
BROKER_CONF_EXTRA="persistence true
persistence_location $WORK/mosq-db/
autosave_interval 1
max_queued_messages 0"

# pause_ms LO HI: sleep a random LO..HI ms: the timing of a fault, not a wait for a condition.
pause_ms() {
    local ms=$((RANDOM % ($2 - $1 + 1) + $1))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

# restart_sim: SIGTERM the simulator, wait, start it again (its log is appended to).
restart_sim() {
    kill -TERM "$SIMPID"; wait_exit "$SIMPID" 10; forget_pid "$SIMPID"
    local n
    n=$(grep -cE '"event": ?"connected"' "$WORK/sim.jsonl" || true)
    # shellcheck disable=SC2086 # SIM_EXTRA is a list of words
    start_bg "sim-$SECONDS" "$SIM" run --broker "127.0.0.1:$PORT" --password "$SIMPW" \
        --registry "$WORK/registry.json" --log "$WORK/sim.jsonl" ${SIM_EXTRA:-}
    SIMPID=$LAST_PID
    wait_for "$WORK/sim.jsonl" '"event": ?"connected"' 15 $((n + 1))
}

# witness_count SENT [--wait SECONDS]: decode what the witness received (each payload a
# frame, decoded by qthingd-sim decode, cached in $WORK/witness.cache), take TSL id 1 of
# each TSL_EVENT as the sequence number and print
#   sent S / delivered D / lost L / duplicated U / out of order O
# (D distinct values of 1..SENT, U arrivals beyond the first of a value, O first arrivals
# smaller than an earlier first arrival). Returns 1 when L > 0 or O > 0 or a payload is not
# a sequence report. With --wait, first waits up to SECONDS for all of 1..SENT to arrive.
# witness_warm: decode what arrived so far into the cache, no verdict (while a test waits
# anyway, so that the verdict has less to do).
witness_count() {
    /usr/bin/python3 - "$SIM" "$WORK/witness.log" "$WORK/witness.cache" "$WITNESS_TOPIC" \
        "$@" <<'PY'
import concurrent.futures, json, os, subprocess, sys, time
sim, log, cache_path, topic, sent = sys.argv[1:6]
sent = int(sent)
wait = float(sys.argv[7]) if len(sys.argv) > 7 and sys.argv[6] == "--wait" else 0
warm = sys.argv[6:7] == ["--warm"]
cache = json.load(open(cache_path)) if os.path.exists(cache_path) else {}

def decode(h):
    r = subprocess.run([sim, "decode", "--hex", h], capture_output=True, text=True)
    f = json.loads(r.stdout) if r.returncode == 0 else {}
    v = f.get("data", {}).get("1") if f.get("cmd_name") == "TSL_EVENT" else None
    return v if isinstance(v, int) else "bad: " + (r.stdout.strip() or h)

def values():
    hexes = []
    for line in open(log, encoding="utf-8", errors="replace"):
        parts = line.split()
        if len(parts) == 2 and parts[0] == topic:
            hexes.append(parts[1])
    new = sorted(set(hexes) - cache.keys())
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        cache.update(zip(new, pool.map(decode, new)))
    return [cache[h] for h in hexes]

end = time.monotonic() + wait
while True:
    vals = values()
    if not wait or set(range(1, sent + 1)) <= set(vals) or time.monotonic() > end:
        break
    time.sleep(0.3)
json.dump(cache, open(cache_path, "w"))
if warm:
    sys.exit(0)
bad = [v for v in vals if not isinstance(v, int) or not 1 <= v <= sent]
firsts, seen, ooo, mx = [], set(), [], 0
for v in vals:
    if isinstance(v, int) and v not in seen:
        seen.add(v)
        if v < mx:
            ooo.append((v, mx))
        mx = max(mx, v)
good = [v for v in vals if isinstance(v, int)]
lost = sorted(set(range(1, sent + 1)) - seen)
dups = len(good) - len(seen)
print("sent %d / delivered %d / lost %d / duplicated %d / out of order %d"
      % (sent, len(seen & set(range(1, sent + 1))), len(lost), dups, len(ooo)))
if lost:
    print("lost values (first 20): %s" % lost[:20])
if ooo:
    print("out of order (value, after max) (first 20): %s" % ooo[:20])
if bad:
    print("not a sequence report 1..%d (first 5): %s" % (sent, bad[:5]))
sys.exit(1 if lost or ooo or bad else 0)
PY
}

witness_warm() { witness_count 0 --warm; }

# outbox_rows NAME: rows waiting in the outbox of agent NAME.
outbox_rows() {
    sqlite3 "$WORK/$1/data/qthingd.db" 'select count(*) from outbox'
}

# wait_outbox_empty NAME SECONDS
wait_outbox_empty() {
    local end=$((SECONDS + $2))
    until [ "$(outbox_rows "$1" 2>/dev/null || echo x)" = 0 ]; do
        [ $SECONDS -le $end ] || fail "outbox of $1 not empty after $2 s ($(outbox_rows "$1") rows)"
        sleep 0.2
    done
}

# last_durable NAME [WORD]: the highest "seq WORD n" (default durable) in the logs of
# agent NAME, this run's ($WORK/NAME.log) and the earlier ones ($WORK/NAME-run*.log); 0 if
# none.
last_durable() {
    local f logs=()
    for f in "$WORK/$1.log" "$WORK/$1"-run*.log; do [ -f "$f" ] && logs+=("$f"); done
    awk -v re="lua: seq ${2:-durable} [0-9]+$" '$0 ~ re && $NF + 0 > m {m = $NF + 0}
        END {print m + 0}' "${logs[@]}" /dev/null
}

# restart_agent NAME PARAMS...: kill_agent (lib.sh), then start it again on the same data dir with
# PARAMS and first = the last durable value + 1 (a value queued but not yet committed when
# the kill came is sent again: a duplicate at most, never a gap). FAULT_RESUME=queued
# resumes after the last value phymodelReport accepted instead: then a kill between the
# call and the end of its loop turn, the documented price of group commit
# (docs/protocol.md), shows as a loss.
restart_agent() {
    local name=$1; shift
    kill_agent "$name"
    start_agent "$name" "$@" "first = $(($(last_durable "$name" "${FAULT_RESUME:-durable}") + 1))"
}
