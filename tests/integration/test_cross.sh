#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The cross build for 32-bit ARM (packaging/cross/build-armhf.sh): the agent, qthingctl and
# every plugin compile and link for armhf with Debian's cross compiler and multiarch
# libraries. Skipped (77) when those packages cannot be installed now (not root, no network,
# or Debian's armhf indexes out of step with amd64 during a mirror sync): never a failure
# for a registry reason.
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then
    echo "skip: installing the armhf packages needs root"
    exit 77
fi
rc=0
"$QTD_SOURCE_DIR/packaging/cross/build-armhf.sh" "$WORK/build-armhf" >"$WORK/cross.log" 2>&1 || rc=$?
if [ $rc -eq 77 ]; then
    grep '^skip:' "$WORK/cross.log"
    exit 77
fi
[ $rc -eq 0 ] || { tail -30 "$WORK/cross.log"; fail "the armhf cross build failed"; }
pass "$(grep '^built for armhf' "$WORK/cross.log")"
