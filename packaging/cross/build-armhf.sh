#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Cross-build the agent, qthingctl and the plugins for armhf (32-bit ARM) on Debian 12: installs
# gcc-arm-linux-gnueabihf (as root, when it is missing), unpacks the armhf libraries qthingd
# builds with into a sysroot (BUILD_DIR/sysroot), configures with
# packaging/cross/toolchain-armhf.cmake into BUILD_DIR and builds. The check is that everything
# compiles and links for ARM. Nothing of armhf is installed on the machine and no dpkg
# architecture is added: the sysroot's packages are chosen by an apt of their own (architecture
# armhf, an empty package database, state in BUILD_DIR/armhf-apt, the machine's sources).
# Installing them as -dev:armhf beside the amd64 ones did not work: a Multi-Arch: same library
# must have one version on both architectures, so any lag of an armhf index behind amd64 (a
# mirror sync; bookworm-security's armhf index not matching its Release file) left them
# uninstallable, and otherwise they moved the machine's own amd64 libraries to new versions.
# Usage: packaging/cross/build-armhf.sh [BUILD_DIR]   (default build-armhf; -j from
# CMAKE_BUILD_PARALLEL_LEVEL, else nproc)
# Exit status: 0 built; 1 the build failed; 77 the cross compiler or the armhf packages cannot
# be had now (not root to install the compiler, no network, apt would remove packages of the
# machine, the armhf index unusable): a registry matter, not the code's. The reason is the
# line starting `skip:`; apt's output is in BUILD_DIR/armhf-apt.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build-armhf}
mkdir -p "$B"
B=$(cd "$B" && pwd)
LOG=$B/armhf-apt.log
: >"$LOG"
# The libraries of CMakeLists.txt and plugins/*/CMakeLists.txt (their dependencies come too).
pkgs=(libc6-dev libuv1-dev libpaho-mqtt-dev liblua5.4-dev libmodbus-dev libsqlite3-dev
      libcurl4-openssl-dev libcjson-dev libgps-dev libssl-dev libsystemd-dev)

skip() {
    echo "skip: $* (see $LOG)"
    exit 77
}
# step CMD...: runs an apt command, its output in OUT and appended to $LOG, its first error
# line in ERR.
step() {
    local rc=0
    OUT=$("$@" 2>&1) || rc=$?
    printf '%s\n' "$OUT" >>"$LOG"
    ERR=$(printf '%s\n' "$OUT" | grep -m1 -E '^E:' || echo "apt failed")
    return $rc
}

# The cross compiler, on the machine.
if ! command -v arm-linux-gnueabihf-gcc >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo -n true 2>/dev/null ||
            skip "gcc-arm-linux-gnueabihf is missing and installing it needs root"
        sudo="sudo -n"
    fi
    # an index that fails here may be one the compiler does not need: the plan decides
    step $sudo apt-get update -qq || true
    step apt-get install -s --no-install-recommends gcc-arm-linux-gnueabihf ||
        skip "gcc-arm-linux-gnueabihf cannot be installed now: $ERR"
    removes=$(printf '%s\n' "$OUT" | awk '/^Remv /{print $2}' | tr '\n' ' ')
    [ -z "$removes" ] || skip "installing gcc-arm-linux-gnueabihf would remove ${removes% }"
    step $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        gcc-arm-linux-gnueabihf ||
        skip "gcc-arm-linux-gnueabihf does not install now: $ERR"
fi

# The armhf sysroot, made again when the package list changed.
S=$B/sysroot
A=$B/armhf-apt
if [ "$(cat "$S/.qtd-packages" 2>/dev/null)" != "${pkgs[*]}" ]; then
    rm -rf "$S" "$A"
    mkdir -p "$S" "$A/state/lists/partial" "$A/cache/archives/partial"
    : >"$A/state/status"
    cat >"$A/apt.conf" <<EOF
APT::Architecture "armhf";
APT::Architectures { "armhf"; };
Dir::State "$A/state";
Dir::State::status "$A/state/status";
Dir::Cache "$A/cache";
APT::Install-Recommends "false";
Acquire::Languages "none";
EOF
    apt_armhf() { apt-get -c "$A/apt.conf" "$@"; }
    # One index failing (the armhf one of bookworm-security not matching its Release file
    # during a sync) leaves the others, whose packages agree with each other: the sysroot is
    # for compiling and linking, it does not need the latest security fixes.
    step apt_armhf update || true
    idx=$(printf '%s\n' "$OUT" | grep -m1 -E '^[EW]: Failed to fetch' || true)
    [ -z "$idx" ] || echo "note: an armhf index did not download, going on with the others: $idx"
    step apt_armhf install -y --download-only "${pkgs[@]}" ||
        skip "the armhf packages cannot be downloaded now: $ERR${idx:+ (after $idx)}"
    for deb in "$A"/cache/archives/*.deb; do
        dpkg-deb -x "$deb" "$S"
    done
    # Absolute links (libm.so -> /lib/arm-linux-gnueabihf/libm.so.6) point into the sysroot.
    (cd "$S" && find . -type l -lname '/*' -print0 |
        while IFS= read -r -d '' l; do
            ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" ".$(readlink "$l")")" "$l"
        done)
    rm -rf "$A/cache/archives"
    echo "${pkgs[*]}" >"$S/.qtd-packages"
fi

cmake -S . -B "$B" -DCMAKE_TOOLCHAIN_FILE=packaging/cross/toolchain-armhf.cmake \
    -DCMAKE_SYSROOT="$S" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQTD_BUILD_TESTS=OFF \
    -DQTD_BUILD_SIM=OFF -DQTD_BUILD_BENCH=OFF
cmake --build "$B" -j"${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
for f in "$B/qthingd" "$B/qthingctl" "$B"/plugins/qtd_*.so; do
    file -b "$f" | grep -q 'ARM' || { echo "$f is not an ARM binary: $(file -b "$f")"; exit 1; }
done
echo "built for armhf: $(file -b "$B/qthingd" | cut -d, -f1-2)"
