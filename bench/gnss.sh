#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What the GNSS plugin's sentence path costs: a 1 M-line NMEA file (a receiver's cycles,
# tests/peers/nmea_feed.py, with 1 line in 10 broken) through the framer, the checks and
# the store (bench/nmea_bench.c, the plugin's own code), against `wc -l` over the same file
# in the same run (the least any reader of lines does); then the NMEA fuzz target run for
# SECONDS, its executions printed.
# Usage: bench/gnss.sh [LINES [SECONDS]]
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-1000000}
SECONDS_FUZZ=${2:-10}
BUILD=$(realpath "${BUILD:-build}")
cmake --build "$BUILD" -j "$(nproc)" --target nmea_bench >/dev/null
WORK=$(mktemp -d /tmp/qtd-bench-gnss.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
/usr/bin/python3 tests/peers/nmea_feed.py file "$WORK/valid.nmea" $(((LINES * 9 / 10 + 8) / 9))
/usr/bin/python3 - "$WORK/valid.nmea" "$WORK/track.nmea" "$LINES" <<'PY'
import random, sys
src, dst, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
random.seed(7)
lines = open(src, "rb").read().split(b"\r\n")[:-1]
out = []
for i, l in enumerate(lines):
    out.append(l)
    if i % 9 == 8:  # one broken line in ten: a flipped checksum digit
        out.append(l[:-1] + (b"0" if l[-1:] != b"0" else b"1"))
open(dst, "wb").write(b"\r\n".join(out[:want]) + b"\r\n")
PY
size=$(stat -c %s "$WORK/track.nmea")
cat "$WORK/track.nmea" >/dev/null # both read from the page cache
t0=$(date +%s%N)
wc -l "$WORK/track.nmea" >/dev/null
wc_s=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN{print (b - a) / 1e9}')
read -r _ lines _ valid _ dropped _ ours_s _ rate < <("$BUILD/bench/nmea_bench" "$WORK/track.nmea")
wc_rate=$(awk -v l="$lines" -v s="$wc_s" 'BEGIN{printf "%.0f", l / (s > 0 ? s : 0.001)}')
echo "NMEA file: $lines lines ($((size / 1048576)) MiB), $valid valid, $dropped broken"
printf '%-52s %14s\n' "wc -l, lines/s" "$wc_rate"
printf '%-52s %14s\n' "framed, checked and stored (nmea_bench), lines/s" "$rate"
awk -v a="$rate" -v b="$wc_rate" 'BEGIN{printf "%-52s %14.3f\n", "ratio to wc -l", a / b}'
printf '%-52s %14.1f\n' "CPU ns per line" "$(awk -v s="$ours_s" -v l="$lines" 'BEGIN{print s * 1e9 / l}')"
awk -v a="$rate" -v b="$wc_rate" 'BEGIN{printf "gnss_lines_s=%d\nwc_lines_s=%d\ngnss_ratio_wc=%.4f\n", a, b, a / b}'

if command -v clang >/dev/null; then
    # shellcheck disable=SC2054 # the commas belong to -fsanitize=
    clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
        -Iplugins/gnss tests/fuzz/fuzz_nmea.c plugins/gnss/gnss_nmea.c -lm -o "$WORK/fuzz_nmea"
    mkdir -p "$WORK/corpus"
    head -c 4000 "$WORK/track.nmea" >"$WORK/corpus/seed"
    (cd "$WORK" && ./fuzz_nmea -max_total_time="$SECONDS_FUZZ" -print_final_stats=1 corpus \
        >fuzz.log 2>&1) || { tail -20 "$WORK/fuzz.log"; exit 1; }
    execs=$(awk '/stat::number_of_executed_units/{print $2}' "$WORK/fuzz.log")
    printf '%-52s %14s\n' "NMEA fuzz target, executions in ${SECONDS_FUZZ} s" "$execs"
fi
