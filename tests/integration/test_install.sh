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
prefix=$(sed -n 's/^prefix=//p' "$pc")
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

cat >"$WORK/mine.c" <<'C'
#include <qthingd/plugin.h>
typedef struct { int64_t level; } mine_cfg_t;
static const qtd_cfg_key_t keys[] = {
    {QTD_CFG_INT, "level", "3", 0, "how much", 1, 9, NULL, NULL, 0}, {.type = QTD_CFG_END}};
static int create(const qtd_host_api_t *api, qtd_host_t *h, const void *cfg, void **self)
{
    api->log(h, QTD_LOG_INFO, "level %d", (int)((const mine_cfg_t *)cfg)->level);
    *self = (void *)cfg;
    return 0;
}
static void destroy(void *self) { (void)self; }
static const qtd_plugin_ops_t ops = {.size = sizeof(ops), .create = create, .destroy = destroy};
QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR, .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t), .name = "mine", .version = "1.0.0",
    .kind = QTD_PLUGIN_SERVICE, .summary = "out of tree", .config_map = keys,
    .config_size = sizeof(mine_cfg_t), .ops = &ops};
C
cflags=$(PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$DEST pkg-config --cflags qthingd)
cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -Wl,--no-undefined $cflags \
    "$WORK/mine.c" -o "$WORK/qtd_mine.so" || fail "out-of-tree plugin does not build"
"$QTHINGD" --help-plugin mine --plugin-dir "$WORK" | grep -q 'mine.level' || fail "not loadable"
pass "out-of-tree plugin builds with pkg-config and loads"
