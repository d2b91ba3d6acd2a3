# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared by bench/start.sh and bench/fleet.sh (after tests/integration/lib.sh): times taken
# from the agents' log lines, and order statistics.

# log_epoch LINE: the wall-clock time of an agent log line ("2026-11-30T12:08:10.250Z ...",
# UTC) in seconds since the epoch, with milliseconds.
log_epoch() {
    date -u -d "${1:0:24}" +%s.%3N
}

# ms_between T0 T1: whole milliseconds from T0 to T1 (seconds since the epoch, fractional).
ms_between() {
    awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f\n", (b - a) * 1000}'
}

# percentiles FILE: "min p50 p95 max" of the numbers in FILE, one a line (nearest rank).
percentiles() {
    sort -n "$1" | awk '{v[NR] = $1}
        function rank(p) { r = int(p * NR + 0.999999); return v[r < 1 ? 1 : r] }
        END {print v[1], rank(0.5), rank(0.95), v[NR]}'
}
