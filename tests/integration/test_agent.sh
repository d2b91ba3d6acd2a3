#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The real qthingd binary: CLI, --check, config refusals (exit 2), plugin refusals, a script
# whose callback errors and whose timer loops forever while the agent keeps running,
# events from a library thread in order, SIGHUP reload, persistence across a restart, and a
# clean SIGTERM shutdown (exit 0).
source "$(dirname "$0")/lib.sh"
SRC=$QTD_SOURCE_DIR

# --- command line
"$QTHINGD" --version | grep -qE '^qthingd [0-9]+\.[0-9]+\.[0-9]+ \(plugin ABI 1\.2\)$' \
    || fail "--version"
"$QTHINGD" --help | grep -q -- '--help-plugin NAME' || fail "--help lists --help-plugin"
rc=0; "$QTHINGD" --bogus 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "unknown option exits 2 (got $rc)"
"$QTHINGD" --help-plugin modbus --plugin-dir "$QTD_PLUGIN_DIR" >"$WORK/help.txt"
grep -q 'modbus.ports\[i\].baud' "$WORK/help.txt" || fail "--help-plugin prints nested keys"
grep -q 'one of 1200|2400|4800|9600' "$WORK/help.txt" || fail "--help-plugin prints choices"
"$QTHINGD" --help-config | grep -q 'store.outbox_cap_mb' || fail "--help-config"
pass "command line"

# --- the shipped config validates
"$QTHINGD" --check -c "$SRC/config/agent.lua" --plugin-dir "$QTD_PLUGIN_DIR" >"$WORK/check.txt" \
    || fail "config/agent.lua does not pass --check"
grep -q 'configuration OK (4 plugins)' "$WORK/check.txt" || fail "--check names 4 plugins"
grep -q '^  modbus 0.2.0: Modbus (seed 3.10): libmodbus RTU and TCP masters' "$WORK/check.txt" \
    || fail "--check says what each plugin does today"
pass "--check config/agent.lua"

# --- a misspelled key: exit 2, key named, nothing started
cat >"$WORK/bad.lua" <<CFG
agent = { data_dir = "$WORK/bad-data", plugin_dir = "$QTD_PLUGIN_DIR" }
plugins = { { file = "cloud" } }
cloud = { reconect_min_ms = 10 }
CFG
rc=0; "$QTHINGD" -c "$WORK/bad.lua" 2>"$WORK/bad.log" || rc=$?
[ $rc -eq 2 ] || fail "misspelled key exits 2 (got $rc)"
grep -q 'cloud.reconect_min_ms: unknown key (known keys: ca_file' "$WORK/bad.log" \
    || fail "misspelled key is named"
grep -q 'nothing started' "$WORK/bad.log" || fail "says nothing started"
[ ! -e "$WORK/bad-data" ] || fail "nothing may be created on a config error"
pass "misspelled key refused"

# --- required plugin with a bad ABI: exit 2; optional one: skipped with a warning
cat >"$WORK/req.lua" <<CFG
agent = { data_dir = "$WORK/req-data", plugin_dir = "$QTD_PLUGIN_DIR" }
plugins = { { file = "wrong_abi", required = true } }
CFG
rc=0; "$QTHINGD" --check -c "$WORK/req.lua" 2>"$WORK/req.log" || rc=$?
[ $rc -eq 2 ] || fail "required wrong-ABI plugin exits 2 (got $rc)"
grep -q 'built for plugin ABI 2.0, this agent runs ABI 1.2' "$WORK/req.log" || fail "ABI named"
grep -q 'plugins\[1\]: required plugin "wrong_abi"' "$WORK/req.log" || fail "required named"
pass "required plugin refused"

# --- a required plugin whose create() fails: exit 1, every handle closed (no hang)
cat >"$WORK/fail.lua" <<CFG
agent = { data_dir = "$WORK/fail-data", plugin_dir = "$QTD_PLUGIN_DIR" }
plugins = { { file = "cloud" }, { file = "probe", required = true } }
probe = { marker = 999 }
CFG
rc=0; timeout 10 "$QTHINGD" -c "$WORK/fail.lua" 2>"$WORK/fail.log" || rc=$?
[ $rc -eq 1 ] || fail "failed start-up exits 1 (got $rc)"
grep -q 'marker 999: create() fails on purpose' "$WORK/fail.log" || fail "cause named"
! grep -q 'handle still open' "$WORK/fail.log" || fail "handles left open after a failed start"
pass "failed start-up: exit 1, nothing left open"

# --- the real run
cp "$SRC/tests/lua/agent_it.lua" "$WORK/agent_it.lua"
cat >"$WORK/agent.lua" <<CFG
agent = { data_dir = "$WORK/data", plugin_dir = "$QTD_PLUGIN_DIR", log_level = "info" }
lua = { script = "$WORK/agent_it.lua", instruction_limit = 2000000 }
plugins = { { file = "probe", required = true }, { file = "old_abi" }, { file = "probe_twin" },
            { file = "cloud" }, { file = "httpota" }, { file = "modbus" }, { file = "gnss" } }
probe = { marker = 42 }
old_abi = { anything = 1 }
CFG
start_bg agent "$QTHINGD" -c "$WORK/agent.lua"
AGENT=$LAST_PID
LOG=$WORK/agent.log
wait_for "$LOG" 'qthingd .* running' 10
grep -q 'probe: created, marker 42' "$LOG" || fail "plugin config applied"
grep -q 'qtd_old_abi.so: refused: built for plugin ABI 0.9' "$LOG" || fail "old ABI refused"
grep -q 'going on without plugin "old_abi"' "$LOG" || fail "agent goes on without old_abi"
grep -q 'a plugin named "probe" is already loaded' "$LOG" || fail "duplicate refused"

# a second agent on the same data dir is refused, naming the first one's PID
rc=0; "$QTHINGD" -c "$WORK/agent.lua" 2>"$WORK/second.log" || rc=$?
[ "$rc" -eq 1 ] || fail "a second agent on one data dir: exit $rc, want 1"
grep -q "agent.data_dir $WORK/data is in use by another qthingd (pid $AGENT)" "$WORK/second.log" \
    || fail "the second agent does not name the first one's PID"
kill -0 "$AGENT" || fail "the first agent died"
pass "one agent per data dir (flock), the second exits 1 naming the holder"
grep -q 'lua: script loaded 1 init true' "$LOG" || fail "script ran"
grep -q 'lua: productinfo unset' "$LOG" || fail "fresh store"

# eventCB got 1..5 in order; the error at 2 was reported with file:line, 3..5 still arrived
wait_for "$LOG" 'eventCB 5/10200 value 5' 5
grep -oE 'lua: eventCB 5/10200 value [0-9]+' "$LOG" | head -5 | awk '{print $NF}' | tr '\n' ' ' \
    | grep -q '^1 2 3 4 5 $' || fail "callback events out of order"
grep -qE 'agent_it.lua:[0-9]+: boom in callback' "$LOG" || fail "callback error has file:line"
pass "error in callback isolated"

# the runaway timer is stopped and the agent keeps running (the periodic timer still fires)
wait_for "$LOG" 'instruction limit' 10
n_before=$(grep -c 'lua: alive' "$LOG" || true)
wait_for "$LOG" 'lua: alive' 5 $((n_before + 2))
kill -0 "$AGENT" || fail "agent died"
pass "runaway loop stopped, agent alive"

# 200 events posted from a library thread arrive in order
wait_for "$LOG" 'probe: got 5/10200 200 from probe' 10
grep -oE 'probe: got 5/10200 [0-9]+ from probe' "$LOG" | awk '{print $4}' | tail -200 >"$WORK/seq.txt"
seq 1 200 | diff -q - "$WORK/seq.txt" >/dev/null || fail "thread posts out of order"
pass "thread posts in order"

# SIGHUP reloads the script; the setting written by the first run is persisted
kill -HUP "$AGENT"
wait_for "$LOG" 'lua: script loaded 2 init true' 5
grep -q 'lua: productinfo pk1/ps1' "$LOG" || fail "reload sees persisted product info"
pass "SIGHUP reload"

# a reload with a script that does not compile keeps the running one
echo 'this is not Lua' >>"$WORK/agent_it.lua"
n_alive=$(grep -c 'lua: alive' "$LOG" || true)
kill -HUP "$AGENT"
wait_for "$LOG" 'reload refused, the running config and script stay: .*agent_it.lua:[0-9]+:' 5
wait_for "$LOG" 'lua: alive' 5 $((n_alive + 2))
! grep -q 'lua: script loaded 3' "$LOG" || fail "the broken script ran"
pass "reload of a broken script refused, the running script goes on"

# SIGUSR1 logs a status summary; SIGUSR2, SIGALRM and SIGPIPE are ignored
kill -USR1 "$AGENT"
wait_for "$LOG" 'core: status: pid [0-9]+, outbox [0-9]+ rows' 5
wait_for "$LOG" 'core: status: plugin probe 1.0.0, running' 5
kill -USR2 "$AGENT"; kill -ALRM "$AGENT"; kill -PIPE "$AGENT"
n_alive=$(grep -c 'lua: alive' "$LOG" || true)
wait_for "$LOG" 'lua: alive' 5 $((n_alive + 1))
kill -0 "$AGENT" || fail "a stray signal ended the agent"
pass "SIGUSR1 status; SIGUSR2, SIGALRM, SIGPIPE ignored"

# clean shutdown
kill -TERM "$AGENT"
wait_exit "$AGENT" 10
[ "$EXIT_RC" -eq 0 ] || fail "SIGTERM exit code $EXIT_RC"
grep -q 'probe: stopped after' "$LOG" || fail "plugin stopped"
grep -q 'core: stopped cleanly' "$LOG" || fail "clean stop"
! grep -q 'handle still open' "$LOG" || fail "handles left open"
pass "SIGTERM clean shutdown"

# restart: identity and settings persisted
cp "$SRC/tests/lua/agent_it.lua" "$WORK/agent_it.lua"
start_bg agent2 "$QTHINGD" -c "$WORK/agent.lua"
AGENT=$LAST_PID
wait_for "$WORK/agent2.log" 'lua: productinfo pk2/ps2' 10
kill -INT "$AGENT"
wait_exit "$AGENT" 10
[ "$EXIT_RC" -eq 0 ] || fail "SIGINT exit code $EXIT_RC"
[ "$(stat -c %a "$WORK/data/qthingd.db")" = 600 ] || fail "database mode is not 0600"
pass "restart keeps settings; SIGINT clean"
