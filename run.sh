#!/usr/bin/env bash
# Set up and run the agent against the local default: installs the Debian packages, builds,
# writes a local config in build/run/ (data in build/run/data), and runs qthingd in the
# foreground with the example script, logging every event as it arrives. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")"
.ci/install-deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
top=$(pwd)
mkdir -p build/run
cat > build/run/agent.lua <<CFG
-- Written by run.sh: the example config with local paths.
agent = { log_level = "info", data_dir = "$top/build/run/data", plugin_dir = "$top/build/plugins" }
lua = { script = "$top/config/example.lua" }
plugins = { { file = "cloud", required = true }, { file = "httpota" }, { file = "modbus" },
            { file = "gnss" } }
CFG
build/qthingd --check -c build/run/agent.lua
echo "qthingd running (Ctrl-C to stop); events are logged as they arrive"
exec build/qthingd -c build/run/agent.lua "$@"
