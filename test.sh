#!/usr/bin/env bash
# Set up and run every test: installs the Debian packages, builds in build/ and runs ctest,
# then does the same with ASan+UBSan in build-sanitize/ (skip with --quick).
# Ends with ctest's summary line. Usage: ./test.sh [--quick] [ctest args...]
set -euo pipefail
cd "$(dirname "$0")"
quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
.ci/install-deps
jobs=$(nproc)
run() { # build-dir cmake-args...
    local dir=$1; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
    (cd "$dir" && ctest --output-on-failure -j "$jobs" "${ctest_args[@]}")
}
ctest_args=("$@")
if [ $quick -eq 0 ]; then
    echo "== ASan+UBSan build (build-sanitize/) =="
    ASAN_OPTIONS=detect_leaks=1 run build-sanitize -DQTHING_SANITIZE=ON
    echo "== regular build (build/) =="
fi
run build
