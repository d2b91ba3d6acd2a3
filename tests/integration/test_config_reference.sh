#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# docs/config-reference.md cannot drift: it is what `qthingd --config-reference` prints from
# the key tables the config is validated with (the core's and the built-in plugins').
source "$(dirname "$0")/lib.sh"
"$QTHINGD" --config-reference --plugin-dir "$QTD_PLUGIN_DIR" >"$WORK/reference.md" \
    || fail "--config-reference failed"
diff -u "$QTD_SOURCE_DIR/docs/config-reference.md" "$WORK/reference.md" >"$WORK/diff.txt" || {
    head -40 "$WORK/diff.txt"
    fail "docs/config-reference.md is out of date: regenerate it with" \
        "./build/qthingd --config-reference > docs/config-reference.md"
}
pass "docs/config-reference.md matches the key tables ($(grep -c '^| `' "$WORK/reference.md") keys)"
