#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The cross build for 32-bit ARM (packaging/cross/build-armhf.sh): the agent, qthingctl and
# every plugin compile and link for armhf with Debian's cross compiler and Debian's armhf
# libraries unpacked into a sysroot. Skipped (77) when the compiler or those packages cannot
# be had now (the compiler missing and no root to install it, no network): never a failure for
# a registry reason. An armhf index that did not download is a `note:`, not a skip.
source "$(dirname "$0")/lib.sh"
rc=0
"$QTD_SOURCE_DIR/packaging/cross/build-armhf.sh" "$WORK/build-armhf" >"$WORK/cross.log" 2>&1 || rc=$?
if [ $rc -eq 77 ]; then
    grep '^skip:' "$WORK/cross.log"
    exit 77
fi
[ $rc -eq 0 ] || { tail -30 "$WORK/cross.log"; fail "the armhf cross build failed"; }
grep '^note:' "$WORK/cross.log" || true
pass "$(grep '^built for armhf' "$WORK/cross.log")"
