#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cmake --install puts the binary, the plugins, the public headers, qthingd.pc and the
# config where the binary looks; a second install keeps an edited agent.lua; a third-party
# plugin builds out of tree from the installed header via pkg-config and loads.
source "$(dirname "$0")/lib.sh"
DEST=$WORK/root
DESTDIR=$DEST cmake --install "$QTD_BUILD_DIR" >"$WORK/install.log" 2>&1 || fail "install failed"
pc=$(find "$DEST" -name qthingd.pc | head -1)
[ -n "$pc" ] || fail "qthingd.pc not installed"
prefix=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --variable=prefix qthingd)
prefix=$(realpath "$prefix")
prefix=${prefix#"$DEST"}
for f in bin/qthingd include/qthingd/plugin.h include/qthingd/errors.h include/qthingd/events.h; do
    [ -e "$DEST$prefix/$f" ] || fail "$f not installed under $prefix"
done
# the installed binary looks for its config and plugins where they were installed
conf=$("$DEST$prefix/bin/qthingd" --help | grep -oE '\(default [^)]*agent.lua\)' \
    | grep -oE '/[^)]*agent.lua')
[ "$conf" = "$DEST$prefix/etc/qthingd/agent.lua" ] && [ -f "$conf" ] \
    || fail "agent.lua not installed where the binary looks ($conf)"
out=$("$DEST$prefix/bin/qthingd" --check)
grep -q 'configuration OK (4 plugins)' <<<"$out" || fail "installed config does not check"
echo '-- edited' >>"$conf"
DESTDIR=$DEST cmake --install "$QTD_BUILD_DIR" >"$WORK/install2.log" 2>&1
tail -1 "$conf" | grep -q -- '-- edited' || fail "an edited agent.lua was overwritten"
pass "install layout; agent.lua kept on reinstall"

# --- an installed tree works wherever it is: installed under a prefix, then moved
cmake --install "$QTD_BUILD_DIR" --prefix "$WORK/opt" >"$WORK/install3.log" 2>&1 \
    || fail "install --prefix failed"
mv "$WORK/opt" "$WORK/moved"
"$WORK/moved/bin/qthingd" --check >"$WORK/moved.txt" 2>&1 \
    || { cat "$WORK/moved.txt"; fail "a moved install does not find its config and plugins"; }
grep -q "^$WORK/moved/etc/qthingd/agent.lua: configuration OK (4 plugins)" "$WORK/moved.txt" \
    || fail "a moved install: $(head -1 "$WORK/moved.txt")"
# (outputs captured first: grep -q ending a pipe early would SIGPIPE the writer)
out=$("$WORK/moved/bin/qthingd" --help-plugin modbus)
grep -q "from $WORK/moved/lib/qthingd/plugins/" <<<"$out" || fail "--help-plugin of a moved install"
out=$("$WORK/moved/bin/qthingd" --help-config)
grep -A1 'agent.data_dir' <<<"$out" | grep -q "default \"$WORK/moved/var/lib/qthingd\"" \
    || fail "data_dir of a moved install"
# the build tree: its own plugins and the source tree's config, without options
out=$("$QTHINGD" --help-plugin modbus)
grep -q "from $QTD_PLUGIN_DIR/qtd_modbus.so" <<<"$out" || fail "--help-plugin from the build tree"
out=$("$QTHINGD" --check)
grep -q "^$QTD_SOURCE_DIR/config/agent.lua: configuration OK" <<<"$out" \
    || fail "--check from the build tree"
pass "an install moved elsewhere, and the build tree, find their own config and plugins"

# the example out-of-tree plugin (examples/plugin), built with its Makefile against the
# installed header through the installed (relocatable) qthingd.pc, loads and works
cp -r "$QTD_SOURCE_DIR/examples/plugin" "$WORK/hello"
PKG_CONFIG_PATH=$(dirname "$pc") make -C "$WORK/hello" >"$WORK/hello.log" 2>&1 \
    || { cat "$WORK/hello.log"; fail "the example plugin does not build"; }
out=$("$QTHINGD" --help-plugin hello --plugin-dir "$WORK/hello")
grep -q 'hello.greeting' <<<"$out" || fail "the example plugin does not load: $out"
pass "the example out-of-tree plugin builds with its Makefile and pkg-config, and loads"
