#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the libFuzzer targets with clang (ASan+UBSan) and run each for a short time; any
# crash, leak or round-trip mismatch fails. Long runs by hand:
#   tests/fuzz/run.sh OUT_DIR 3600
# Usage: run.sh OUT_DIR [SECONDS_PER_TARGET]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
secs=${2:-15}
mkdir -p "$out"
command -v clang >/dev/null || { echo "clang not installed"; exit 1; }
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$src/plugins/cloud" -I"$src/agent/include")
clang "${flags[@]}" "$src/tests/fuzz/fuzz_frame.c" "$src/plugins/cloud/cloud_frame.c" \
    -o "$out/fuzz_frame"
clang "${flags[@]}" "$src/tests/fuzz/fuzz_ttlv.c" "$src/plugins/cloud/cloud_ttlv.c" \
    -o "$out/fuzz_ttlv"
for t in fuzz_frame fuzz_ttlv; do
    mkdir -p "$out/corpus-$t"
    # Seeds: the protocol's test vectors.
    printf '\xaa\xaa\x00\x07\x74\x00\x07\x00\x13\x01\x59' >"$out/corpus-$t/vector1"
    printf '\x00\x09\x00\x12\x00\x19\x00\x1a\x08\x7d\x00\x23\x00\x02\x68\x69' \
        >"$out/corpus-$t/vector2"
    (cd "$out" && "./$t" -max_total_time="$secs" -print_final_stats=1 "corpus-$t" \
        >"$t.log" 2>&1) || { tail -40 "$out/$t.log"; exit 1; }
    grep -E 'stat::number_of_executed_units' "$out/$t.log" | sed "s/^/$t: /"
done
