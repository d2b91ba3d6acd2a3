#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A fleet on one platform: N agents (default 1000), each with its own data dir and device key,
# the cloud plugin only and bench/login.lua, the cloud's default reconnect backoff (and 600 s
# to wait for a device secret: the simulator sends about 10 a second), against
# one mosquitto (the simulator's auth plugin, no connection limit) and the simulator with an
# auto-registering registry. The first start registers every device (timed too). Then
#  (a) all are stopped and started again: seconds until every one is logged in with its
#      stored DS;
#  (b) the broker is killed and started again on the same port: seconds until every one is
#      logged in again, with a histogram of the connection attempts and logins per second
#      (the backoff's jitter spreads them);
#  (c) the PSS of all agents (smaps_rollup) once logged in: in total and per agent.
# The CPU time the simulator and the broker used in each phase shows whether the platform
# side kept up. Prints key=value lines for an aggregator. Usage: bench/fleet.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
BUILD=$(realpath "${BUILD:-build}")
cmake --build "$BUILD" -j "$(nproc)" --target qthingd qtd_cloud qthingd-sim qtd_mosq_auth >/dev/null
export QTHINGD=$BUILD/qthingd QTD_PLUGIN_DIR=$BUILD/plugins QTD_SOURCE_DIR=$PWD QTD_BUILD_DIR=$BUILD
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh
# shellcheck source=bench/lib.sh
source bench/lib.sh
ulimit -n "$(ulimit -Hn)" # the broker holds a descriptor per agent
WAIT_S=$((N / 4 > 60 ? N / 4 : 60))
LOGIN='lua: event 3/10200'

auto_registry
BROKER_CONF_EXTRA='max_connections -1'
start_broker
SIM_EXTRA=--quiet start_sim

# The agents' data dirs and logs: $WORK/fleet/f<i>/ and $WORK/fleet/f<i>.log (not among the
# logs that a failure prints).
mkdir -p "$WORK/fleet"
FLEET=()
FLEET_CLOUD='reconnect_min_ms = 1000, reconnect_max_ms = 120000, register_timeout_s = 600'
# start_fleet: every agent started (configured at the first call); logs truncated first.
start_fleet() {
    local i
    FLEET=()
    for i in $(seq "$N"); do
        if [ -f "$WORK/fleet/f$i/agent.lua" ]; then
            : >"$WORK/fleet/f$i.log"
            start_bg "fleet/f$i" "$QTHINGD" -c "$WORK/fleet/f$i/agent.lua"
        else
            AGENT_SCRIPT=$PWD/bench/login.lua \
                CLOUD_EXTRA="$FLEET_CLOUD" \
                start_agent "fleet/f$i" "dk = \"fleet$i\""
        fi
        FLEET+=("$LAST_PID")
    done
}

# stop_fleet: SIGTERM to all, each waited for (30 s at most, then SIGKILL); fails unless all
# exited 0. Cleanup forgets them.
stop_fleet() {
    local pid bad=0 end=$((SECONDS + 30))
    declare -A gone
    for pid in "${FLEET[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${FLEET[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -le $end ]; do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || bad=$((bad + 1))
        gone[$pid]=1
    done
    local keep=()
    for pid in "${PIDS[@]}"; do [ -n "${gone[$pid]:-}" ] || keep+=("$pid"); done
    PIDS=("${keep[@]}")
    FLEET=()
    [ "$bad" -eq 0 ] || fail "$bad agents did not stop cleanly"
}

# wait_logins K: until every agent's log holds K login events (WAIT_S seconds at most).
wait_logins() {
    local end=$((SECONDS + WAIT_S)) n=0 out
    while [ $SECONDS -le $end ]; do
        out=$(grep -c -- "$LOGIN" "$WORK"/fleet/f[0-9]*.log || true)
        n=$(awk -F: -v k="$1" '$NF >= k' <<<"$out" | wc -l)
        [ "$n" -ge "$N" ] && return 0
        sleep 0.5
    done
    fail "after ${WAIT_S}s only $n of $N agents logged in (x$1)"
}

# fleet_log MODE T0 [K]: reads every agent's log from T0 (seconds since the epoch) on.
#   phase T0 K: "<agents> <last> <attempts> <p50> <p95> <half>": how many agents logged in for
#     the K-th time, when the last of them did (epoch), the connection attempts ("registering
#     to" or "logging in to" lines) since T0, the median and p95 over agents of the seconds
#     from the attempt that succeeded to that login, and the seconds from T0 until half of
#     the agents were in.
#   hist T0: per second from T0: "<second> <attempts> <logins>".
fleet_log() {
    /usr/bin/python3 - "$LOGIN" "$@" "$WORK"/fleet/f[0-9]*.log <<'PY'
import datetime, sys
login, mode, t0 = sys.argv[1], sys.argv[2], float(sys.argv[3])
k = int(sys.argv[4]) if mode == "phase" else 0
files = sys.argv[5 if mode == "phase" else 4:]
def epoch(line):
    t = datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()
agents, last, attempts, took, back = 0, 0.0, 0, [], []
att, ok = {}, {}
for f in files:
    logins, tried = 0, None
    for l in open(f, errors="replace"):
        is_try = "cloud: registering to" in l or "cloud: logging in to" in l
        is_login = login in l
        if not (is_try or is_login):
            continue
        t = epoch(l)
        logins += is_login
        if t < t0:
            continue
        b = att if is_try else ok
        b[int(t - t0)] = b.get(int(t - t0), 0) + 1
        if is_try:
            attempts, tried = attempts + 1, t
        elif logins == k:
            agents, last = agents + 1, max(last, t)
            back.append(t - t0)
            if tried is not None:
                took.append(t - tried)
if mode == "phase":
    took.sort()
    back.sort()
    q = lambda v, p: v[min(len(v) - 1, int(p * len(v)))] if v else 0
    print(agents, f"{last:.3f}", attempts, f"{q(took, 0.5):.3f}", f"{q(took, 0.95):.3f}",
          f"{q(back, 0.5):.1f}")
else:
    for s in range(max(list(att) + list(ok) + [0]) + 1):
        print(s, att.get(s, 0), ok.get(s, 0))
PY
}

cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# phase NAME K: after start_fleet or a broker restart at T0: waits for K logins per agent and
# prints the seconds to the last one and to half of them, the attempts, how long a successful
# attempt took, and the CPU seconds of the simulator and the broker since CPU0_SIM/CPU0_BROKER;
# sets PHASE_S, PHASE_HALF_S and PHASE_ATTEMPTS.
phase() {
    wait_logins "$2"
    local last p50 p95 sim broker
    read -r _ last PHASE_ATTEMPTS p50 p95 PHASE_HALF_S < <(fleet_log phase "$T0" "$2")
    PHASE_S=$(awk -v a="$T0" -v b="$last" 'BEGIN {printf "%.1f", b - a}')
    sim=$(awk -v a="$CPU0_SIM" -v b="$(cpu_s "$SIMPID")" 'BEGIN {printf "%.1f", b - a}')
    broker=$(awk -v a="$CPU0_BROKER" -v b="$(cpu_s "$BROKER")" 'BEGIN {printf "%.1f", b - a}')
    printf '%-30s %6.1f s to the last login (half in %s s); %d attempts; ' \
        "$1" "$PHASE_S" "$PHASE_HALF_S" "$PHASE_ATTEMPTS"
    printf 'attempt -> login p50 %.3f s, ' "$p50"
    printf 'p95 %.3f s; CPU: simulator %s s, broker %s s\n' "$p95" "$sim" "$broker"
}

mark() {
    T0=$EPOCHREALTIME
    CPU0_SIM=$(cpu_s "$SIMPID")
    CPU0_BROKER=$(cpu_s "$BROKER")
}

echo "fleet of $N agents (cloud plugin, bench/login.lua), one mosquitto + simulator"
mark
start_fleet
phase "first start (registration):" 1
REGISTER_S=$PHASE_S
stop_fleet

mark
start_fleet
launched=$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
phase "start with stored DSs:" 1
LOGIN_S=$PHASE_S
LOGIN_HALF_S=$PHASE_HALF_S
echo "  (starting the $N processes took $launched s)"

sleep 2 # settled: the reports after login are sent
rollups=()
for pid in "${FLEET[@]}"; do rollups+=("/proc/$pid/smaps_rollup"); done
read -r pss_kib rss_kib < <(awk '$1 == "Pss:" {p += $2} $1 == "Rss:" {r += $2}
    END {print p, r}' "${rollups[@]}")
printf 'memory of %d agents: PSS %.1f MiB in total, %d KiB per agent (RSS %d KiB per agent)\n' \
    "$N" "$(awk -v k="$pss_kib" 'BEGIN {print k / 1024}')" $((pss_kib / N)) $((rss_kib / N))

T0=$EPOCHREALTIME
CPU0_SIM=$(cpu_s "$SIMPID")
CPU0_BROKER=0 # a new one
kill -KILL "$BROKER"
wait "$BROKER" 2>/dev/null || true
forget_pid "$BROKER"
start_broker # the same port
phase "broker killed and restarted:" 2
RELOGIN_S=$PHASE_S
RELOGIN_HALF_S=$PHASE_HALF_S
echo "after the restart, per second: connection attempts (\"logging in\"), logins (3/10200)"
fleet_log hist "$T0" | awk -v n="$N" '{
    w = int($2 * 50 / n + 0.5); bar = ""; for (i = 0; i < w; i++) bar = bar "#"
    printf "  %3d s %6d %6d %s\n", $1, $2, $3, bar
}'
attempts=$PHASE_ATTEMPTS

stop_fleet
kill -0 "$SIMPID" 2>/dev/null || fail "the simulator died"
sim_errors=$(grep -cE '"event": ?"error"' "$WORK/sim.jsonl" || true)
echo "simulator: alive, $sim_errors errors logged"
echo "fleet_n=$N"
echo "fleet_register_s=$REGISTER_S"
echo "fleet_login_s=$LOGIN_S"
echo "fleet_login_half_s=$LOGIN_HALF_S"
echo "fleet_relogin_s=$RELOGIN_S"
echo "fleet_relogin_half_s=$RELOGIN_HALF_S"
echo "fleet_relogin_attempts=$attempts"
awk -v k="$pss_kib" 'BEGIN {printf "fleet_pss_mib_total=%.1f\n", k / 1024}'
echo "fleet_pss_kib_per_agent=$((pss_kib / N))"
