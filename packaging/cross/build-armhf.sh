#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Cross-build the agent, qthingctl and the plugins for armhf (32-bit ARM) on Debian 12:
# adds the armhf architecture, installs gcc-arm-linux-gnueabihf and the -dev:armhf
# libraries (as root), configures with packaging/cross/toolchain-armhf.cmake into
# build-armhf/ and builds. The check is that everything compiles and links for ARM.
# Usage: packaging/cross/build-armhf.sh [BUILD_DIR]
# Exit status: 0 built; 1 the build failed; 77 the armhf packages cannot be installed now
# (Debian's armhf indexes are briefly out of step with amd64 during a mirror sync, or no
# network): a registry matter, not the code's.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build-armhf}
pkgs=(gcc-arm-linux-gnueabihf libc6-dev:armhf libuv1-dev:armhf libpaho-mqtt-dev:armhf
      liblua5.4-dev:armhf libmodbus-dev:armhf libsqlite3-dev:armhf libcurl4-openssl-dev:armhf
      libcjson-dev:armhf libgps-dev:armhf libssl-dev:armhf libsystemd-dev:armhf)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    added=""
    if ! dpkg --print-foreign-architectures | grep -qx armhf; then
        $sudo dpkg --add-architecture armhf
        added=yes
    fi
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
        >"/tmp/qtd-armhf-apt.log" 2>&1; then
        # leave the machine as it was: an armhf index out of step would fail the next
        # apt-get update of anything else
        [ -z "$added" ] || $sudo dpkg --remove-architecture armhf 2>/dev/null || true
        echo "skip: the armhf packages do not install now (see /tmp/qtd-armhf-apt.log:" \
            "$(grep -m1 -E '^E:' /tmp/qtd-armhf-apt.log || echo 'apt failed'))"
        exit 77
    fi
fi
cmake -S . -B "$B" -DCMAKE_TOOLCHAIN_FILE=packaging/cross/toolchain-armhf.cmake \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQTD_BUILD_TESTS=OFF -DQTD_BUILD_SIM=OFF \
    -DQTD_BUILD_BENCH=OFF
cmake --build "$B" -j"$(nproc)"
for f in "$B/qthingd" "$B/qthingctl" "$B"/plugins/qtd_*.so; do
    file -b "$f" | grep -q 'ARM' || { echo "$f is not an ARM binary: $(file -b "$f")"; exit 1; }
done
echo "built for armhf: $(file -b "$B/qthingd" | cut -d, -f1-2)"
