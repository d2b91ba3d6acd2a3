#!/usr/bin/env bash
# Plugins link against no agent symbol and export exactly qtd_plugin_desc (ASan builds add
# their __odr_asan.<name> twins).
# Usage: check_plugin_symbols.sh QTHINGD_BINARY PLUGIN_DIR
set -euo pipefail
agent=$1
dir=$2
fail=0
shopt -s nullglob
plugins=("$dir"/qtd_*.so)
[ ${#plugins[@]} -gt 0 ] || { echo "no plugins in $dir"; exit 1; }
# The agent exports nothing plugins could bind to.
if nm -D --defined-only "$agent" 2>/dev/null | grep -E ' (qtd_|qtd__)' ; then
    echo "FAIL: $agent exports agent symbols"; fail=1
fi
for so in "${plugins[@]}"; do
    undef=$(nm -D --undefined-only "$so" | awk '{print $NF}' | grep -E '^qtd_' || true)
    if [ -n "$undef" ]; then
        echo "FAIL: $so needs agent symbols: $undef"; fail=1
    fi
    exported=$(nm -D --defined-only "$so" | awk '$2 ~ /[A-Z]/ {print $3}' | grep -vE '^(_init|_fini|__bss_start|_edata|_end|__odr_asan\.[A-Za-z0-9_]+)$' || true)
    if [ "$exported" != "qtd_plugin_desc" ]; then
        echo "FAIL: $so exports [$exported], expected exactly qtd_plugin_desc"; fail=1
    fi
done
[ $fail -eq 0 ] && echo "OK: ${#plugins[@]} plugins link no agent symbol and export only qtd_plugin_desc"
exit $fail
