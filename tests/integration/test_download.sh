#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The download service (plugins/httpota) through a consumer plugin (tests/plugins/dl_probe.c)
# against a real nginx on loopback: a verified download; a wrong MD5 or size removes the
# file and says EILSEQ; a missing file fails after the retries; an agent killed with SIGKILL
# half-way resumes with Range from the bytes on disk (nginx's access log counts the bytes
# sent: less than 1.2x the file); nginx stopped mid-download and started again is resumed
# by the retries; the done callback comes exactly once each time.
source "$(dirname "$0")/lib.sh"
mkdir -p "$WORK/www" "$WORK/dl"
head -c 3145728 /dev/urandom >"$WORK/www/fw.bin" # 3 MiB
MD5=$(md5sum "$WORK/www/fw.bin" | cut -d' ' -f1)
SHA=$(sha256sum "$WORK/www/fw.bin" | cut -d' ' -f1)
SIZE=3145728
start_nginx

# run_get NAME LUA-ARGS: an agent whose script calls dlprobe.get(LUA-ARGS)
run_get() {
    local name=$1 args=$2
    # plugins look services up in start(), after the script's top level: call from a timer
    cat >"$WORK/$name.lua" <<LUA
local t = agent.timer()
t:start(50, 0, function() print("get", dlprobe.get($args)) end)
LUA
    cat >"$WORK/$name.cfg" <<CFG
agent = { data_dir = "$WORK/data-$name", plugin_dir = "$QTD_PLUGIN_DIR", watchdog_s = 0 }
lua = { script = "$WORK/$name.lua" }
plugins = { { file = "httpota", required = true }, { file = "dl_probe", required = true } }
httpota = { retries = 4, retry_ms = 300, timeout_s = 5 }
CFG
    start_bg "$name" "$QTHINGD" -c "$WORK/$name.cfg"
    AGENT=$LAST_PID
}

# --- a verified download
run_get ok "'$URL/fw.bin', '$WORK/dl/ok.bin', $SIZE, '$MD5', '$SHA'"
wait_for "$WORK/ok.log" 'dl_probe: done 0 \(ok\), 1 in all' 20
cmp -s "$WORK/www/fw.bin" "$WORK/dl/ok.bin" || fail "the downloaded file differs"
grep -q "httpota: download $URL/fw.bin: $SIZE bytes, MD5 $MD5, SHA-256 $SHA: verified" \
    "$WORK/ok.log" || fail "no verified line"
maps_lib "$AGENT" libcurl || fail "libcurl is not mapped after a download"
stop_checked "$AGENT" ok
pass "download verified (size, MD5, SHA-256), the file identical, libcurl loaded for it"

# --- wrong MD5 and wrong size: EILSEQ, the file removed
run_get md5 "'$URL/fw.bin', '$WORK/dl/md5.bin', $SIZE, '00000000000000000000000000000000'"
wait_for "$WORK/md5.log" 'dl_probe: done -84 \(illegal byte sequence\), 1 in all' 20
grep -q 'MD5 mismatch .* the file is removed' "$WORK/md5.log" || fail "no MD5 mismatch line"
[ ! -e "$WORK/dl/md5.bin" ] || fail "a file with a wrong MD5 was kept"
stop_checked "$AGENT" md5
run_get size "'$URL/fw.bin', '$WORK/dl/size.bin', 1000"
wait_for "$WORK/size.log" 'dl_probe: done -84 ' 20
[ ! -e "$WORK/dl/size.bin" ] || fail "a file larger than expected was kept"
stop_checked "$AGENT" size
pass "wrong MD5 or size: EILSEQ, the file removed, nothing used"

# --- a missing file: EIO after the retries
run_get missing "'$URL/nothing.bin', '$WORK/dl/missing.bin'"
wait_for "$WORK/missing.log" 'dl_probe: done -5 \(input/output error\), 1 in all' 30
[ "$(grep -c 'retry [0-9] of 4' "$WORK/missing.log")" -eq 4 ] || fail "not 4 retries"
stop_checked "$AGENT" missing
pass "404: 4 retries with backoff, then EIO once"

# --- kill -9 half-way, restart: resumes with Range, < 1.2x the bytes
: >"$WORK/nginx/access.log.mark"
run_get k1 "'$URL/slow/fw.bin', '$WORK/dl/resume.bin', $SIZE, '$MD5', '$SHA'"
wait_for "$WORK/k1.log" 'dl_probe: progress (1[5-9]|2[0-9])[0-9]{5}/' 20
kill -KILL "$AGENT"; wait_exit "$AGENT" 5
have=$(stat -c %s "$WORK/dl/resume.bin")
run_get k2 "'$URL/slow/fw.bin', '$WORK/dl/resume.bin', $SIZE, '$MD5', '$SHA'"
wait_for "$WORK/k2.log" "download $URL/slow/fw.bin: resuming at byte $have" 10
wait_for "$WORK/k2.log" 'dl_probe: done 0 \(ok\), 1 in all' 30
cmp -s "$WORK/www/fw.bin" "$WORK/dl/resume.bin" || fail "the resumed file differs"
sent=$(awk '$1 == "/slow/fw.bin" {s += $3} END {print s}' "$WORK/nginx/access.log")
[ "$sent" -lt $((SIZE * 12 / 10)) ] || fail "resumed download fetched $sent bytes for $SIZE"
grep -q '"bytes='"$have"'-"' "$WORK/nginx/access.log" || fail "no Range request from byte $have"
stop_checked "$AGENT" k2
pass "kill -9 at $have of $SIZE bytes: resumed with Range, $sent bytes fetched in all"

# --- nginx stopped mid-download and started again: the retries resume it
run_get cut "'$URL/slow/fw.bin', '$WORK/dl/cut.bin', $SIZE, '$MD5', '$SHA'"
wait_for "$WORK/cut.log" 'dl_probe: progress ([7-9][0-9]{5}|1[0-9]{6})/' 20
kill -TERM "$NGINX"; wait_exit "$NGINX" 10
wait_for "$WORK/cut.log" 'retry 1 of 4' 10
start_nginx
wait_for "$WORK/cut.log" 'dl_probe: done 0 \(ok\), 1 in all' 40
grep -q 'resuming at byte' "$WORK/cut.log" || fail "the retry did not resume"
cmp -s "$WORK/www/fw.bin" "$WORK/dl/cut.bin" || fail "the file after the cut differs"
stop_checked "$AGENT" cut
pass "nginx stopped mid-download and restarted: resumed, verified"
