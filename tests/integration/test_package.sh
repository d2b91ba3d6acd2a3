#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Debian package: a /usr build packed with CPack (cpack -G DEB) has its library
# dependencies, its config as conffiles and the unit; installed with dpkg it creates the
# service user (in dialout), and its binary runs as the unit runs it (as that user, the data
# directory from $STATE_DIRECTORY); purged, it leaves nothing. Needs root (dpkg -i); skipped
# otherwise, or when a qthingd not from this package is installed.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "skip: not root (dpkg -i)"; exit 77; }
command -v dpkg-deb >/dev/null && command -v cpack >/dev/null || { echo "skip: no dpkg/cpack"; exit 77; }
if [ -e /usr/bin/qthingd ] && ! dpkg -S /usr/bin/qthingd >/dev/null 2>&1; then
    echo "skip: /usr/bin/qthingd exists and is not from a package"; exit 77
fi
B=$WORK/bdeb
cmake -S "$QTD_SOURCE_DIR" -B "$B" -DCMAKE_INSTALL_PREFIX=/usr -DQTD_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$WORK/configure.log" 2>&1 || fail "configure (see configure.log)"
cmake --build "$B" -j"$(nproc)" >"$WORK/build.log" 2>&1 || fail "build (see build.log)"
(cd "$B" && cpack -G DEB >"$WORK/cpack.log" 2>&1) || fail "cpack (see cpack.log)"
deb=$(ls "$B"/qthingd_*.deb)
info=$(dpkg-deb -I "$deb")
for dep in libmodbus5 libpaho-mqtt1.3 liblua5.4-0 libuv1 libsqlite3-0 libgps28 adduser; do
    grep -q "Depends:.*$dep" <<<"$info" || fail "the package does not depend on $dep"
done
[ "$(dpkg-deb -f "$deb" Package)" = qthingd ] || fail "package name"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/qthingd/agent.lua \
    || fail "agent.lua is not a conffile"
files=$(dpkg-deb -c "$deb")
for f in ./usr/bin/qthingd ./usr/bin/qthingctl ./etc/qthingd/agent.lua \
    ./usr/lib/systemd/system/qthingd.service ./usr/include/qthingd/plugin.h; do
    grep -q " $f$" <<<"$files" || fail "$f not in the package"
done
grep -qE ' ./usr/lib/[^ ]*/qthingd/plugins/qtd_modbus.so$' <<<"$files" || fail "no plugins"
pass "$(basename "$deb"): dependencies, conffiles, binaries, plugins, unit"

cleanup_pkg() { dpkg --purge qthingd >/dev/null 2>&1 || true; }
trap 'rc=$?; cleanup_pkg; (exit $rc); cleanup' EXIT
dpkg -i "$deb" >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log"; fail "dpkg -i"; }
id qthingd >/dev/null || fail "postinst did not create the user qthingd"
id -nG qthingd | grep -qw dialout || fail "qthingd is not in dialout"
STATE=$(mktemp -d /tmp/qtd-pkg-state.XXXXXX)
chown qthingd:qthingd "$STATE"
chmod 700 "$STATE"
# as the unit: ExecStartPre, then ExecStart as the service user (setpriv execs it: its own
# exit status), data in $STATE_DIRECTORY
runuser -u qthingd -- /usr/bin/qthingd --check -c /etc/qthingd/agent.lua >"$WORK/check.txt" 2>&1 \
    || { cat "$WORK/check.txt"; fail "the installed config does not check as the service user"; }
setpriv --reuid=qthingd --regid=qthingd --init-groups -- env STATE_DIRECTORY="$STATE" \
    /usr/bin/qthingd -c /etc/qthingd/agent.lua \
    >"$WORK/svc.log" 2>&1 &
SVC=$!
PIDS+=("$SVC")
wait_for "$WORK/svc.log" "qthingd .* running \(pid [0-9]+, data in $STATE\)" 10
[ "$(stat -c %U "$STATE/qthingd.db")" = qthingd ] || fail "the database is not the service user's"
out=$(runuser -u qthingd -- /usr/bin/qthingctl -s "$STATE/qthingd.sock" status)
grep -q '^  cloud ' <<<"$out" || fail "qthingctl status of the installed agent: $out"
kill -TERM "$SVC"
wait_exit "$SVC" 10
forget_pid "$SVC"
[ "$EXIT_RC" -eq 0 ] || fail "the installed agent exited $EXIT_RC"
rm -rf "$STATE"
pass "installed: user qthingd (dialout); the agent runs and stops as the unit runs it"
dpkg --purge qthingd >"$WORK/purge.log" 2>&1 || fail "purge"
! id qthingd >/dev/null 2>&1 || fail "the user is left after purge"
[ ! -e /usr/bin/qthingd ] && [ ! -e /etc/qthingd/agent.lua ] || fail "files left after purge"
pass "purged: nothing left"
