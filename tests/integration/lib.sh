# SPDX-License-Identifier: Apache-2.0
# Shared by the integration tests: a private work dir, processes started in the background
# and stopped by PID on exit (also on failure), waiting for log lines, and assertions.
# Needs QTHINGD, QTD_PLUGIN_DIR, QTD_SOURCE_DIR (set by ctest).
set -euo pipefail

: "${QTHINGD:?run under ctest}" "${QTD_PLUGIN_DIR:?}" "${QTD_SOURCE_DIR:?}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/qtd-it.XXXXXX")
PIDS=()

cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ $rc -ne 0 ]; then
        echo "---- FAILED; logs in $WORK ----"
        for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 60 "$f"; }; done
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# start_bg NAME CMD...: run in the background, output to $WORK/NAME.log; sets LAST_PID.
start_bg() {
    local name=$1; shift
    "$@" >"$WORK/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# wait_for FILE PATTERN [SECONDS [COUNT]]: until grep -E finds PATTERN COUNT times.
wait_for() {
    local file=$1 pat=$2 secs=${3:-10} count=${4:-1}
    local end=$((SECONDS + secs))
    while [ $SECONDS -le $end ]; do
        local n
        n=$(grep -cE -- "$pat" "$file" 2>/dev/null || true)
        [ "${n:-0}" -ge "$count" ] && return 0
        sleep 0.1
    done
    fail "timed out after ${secs}s waiting for /$pat/ x$count in $file"
}

# wait_exit PID SECONDS: wait for the exit of a child started here; sets EXIT_RC.
wait_exit() {
    local pid=$1 secs=${2:-10}
    local end=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -le $end ] || fail "pid $pid still running after ${secs}s"
        sleep 0.1
    done
    EXIT_RC=0
    wait "$pid" || EXIT_RC=$?
}
