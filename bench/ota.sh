#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The OTA downloader (the download service of the httpota plugin, driven through the
# dl_probe test plugin as the OTA flows drive it) against curl fetching the same file from
# the same nginx over loopback in the same run: throughput of each and their ratio (best of
# RUNS), and the agent's peak RSS for a 5 MiB and a 200 MiB download (the downloader
# streams to disk: the two should be the same within 1 MiB). The agent also computes MD5 and
# SHA-256 of every byte and checks them, which curl does not: a second baseline does the
# same work (curl, then openssl dgst -md5 and -sha256 of the file), and the agent is also
# timed with MD5 only (an OTA task without otaRequest(1)).
# Usage: bench/ota.sh [BIG_MIB [RUNS]]   (default 200 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
BIG_MIB=${1:-200}
RUNS=${2:-3}
BUILD=$(realpath "${BUILD:-build}")
cmake --build "$BUILD" -j "$(nproc)" --target qthingd qtd_httpota qtd_dl_probe >/dev/null
[ -x /usr/bin/time ] || { echo "/usr/bin/time not installed (apt-get install time)"; exit 1; }
# The test helpers: a private work dir, processes stopped on exit, start_nginx.
export QTHINGD=$BUILD/qthingd QTD_PLUGIN_DIR=$BUILD/plugins QTD_SOURCE_DIR=$PWD QTD_BUILD_DIR=$BUILD
# shellcheck source=tests/integration/lib.sh
source tests/integration/lib.sh
start_nginx
head -c $((5 * 1048576)) /dev/urandom >"$WORK/www/small.bin"
head -c $((BIG_MIB * 1048576)) /dev/urandom >"$WORK/www/big.bin"

# agent FILE [md5]: download FILE through the agent (checking MD5 and SHA-256, or MD5 only);
# prints "<seconds> <peak RSS KiB>"
agent() {
    local file=$1 only=${2:-} size md5 sha
    size=$(stat -c %s "$WORK/www/$file")
    md5=$(md5sum "$WORK/www/$file" | cut -d' ' -f1)
    sha=$(sha256sum "$WORK/www/$file" | cut -d' ' -f1)
    [ "$only" != md5 ] || sha=""
    rm -rf "$WORK/data" "$WORK/dl.bin"
    cat >"$WORK/get.lua" <<LUA
local t = agent.timer()
t:start(50, 0, function()
    print("bench: start")
    dlprobe.get("$URL/$file", "$WORK/dl.bin", $size, "$md5", "$sha")
end)
LUA
    cat >"$WORK/agent.lua" <<CFG
agent = { data_dir = "$WORK/data", plugin_dir = "$BUILD/plugins", watchdog_s = 0 }
lua = { script = "$WORK/get.lua" }
plugins = { { file = "httpota", required = true }, { file = "dl_probe", required = true } }
CFG
    /usr/bin/time -v "$BUILD/qthingd" -c "$WORK/agent.lua" >"$WORK/agent.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1200); do
        grep -q 'dl_probe: done' "$WORK/agent.log" && break
        sleep 0.05
    done
    grep -q 'dl_probe: done 0 ' "$WORK/agent.log" || { tail -20 "$WORK/agent.log"; exit 1; }
    kill -TERM "$(pgrep -P $pid qthingd || echo $pid)" 2>/dev/null || true
    wait $pid || true
    local t0 t1
    t0=$(grep 'bench: start' "$WORK/agent.log" | head -1 | cut -c12-23)
    t1=$(grep 'dl_probe: done' "$WORK/agent.log" | head -1 | cut -c12-23)
    awk -v a="$t0" -v b="$t1" -v rss="$(grep 'Maximum resident' "$WORK/agent.log" | awk '{print $NF}')" \
        'BEGIN{split(a,x,":"); split(b,y,":"); printf "%.3f %d\n", (y[1]*3600+y[2]*60+y[3])-(x[1]*3600+x[2]*60+x[3]), rss}'
}
# curl_get FILE [verify]: prints the seconds curl takes to fetch FILE to disk (and then
# openssl's MD5 and SHA-256 of it)
curl_get() {
    rm -f "$WORK/curl.bin"
    local t0 t1
    t0=$(date +%s.%N)
    curl -s -o "$WORK/curl.bin" "$URL/$1"
    if [ "${2:-}" = verify ]; then
        openssl dgst -md5 "$WORK/curl.bin" >/dev/null
        openssl dgst -sha256 "$WORK/curl.bin" >/dev/null
    fi
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f\n", b-a}'
}
min() { awk -v a="$1" -v b="${2:-1e9}" 'BEGIN{print (a<b)?a:b}'; }

best_agent=""; best_md5=""; best_curl=""; best_verify=""
for _ in $(seq "$RUNS"); do
    read -r t _ < <(agent big.bin)
    best_agent=$(min "$t" "$best_agent")
    read -r t _ < <(agent big.bin md5)
    best_md5=$(min "$t" "$best_md5")
    best_curl=$(min "$(curl_get big.bin)" "$best_curl")
    best_verify=$(min "$(curl_get big.bin verify)" "$best_verify")
done
read -r _ rss_small < <(agent small.bin)
read -r _ rss_big < <(agent big.bin)
echo "download of $BIG_MIB MiB over loopback from nginx, best of $RUNS"
rate() { awk -v t="$2" -v m="$BIG_MIB" -v w="$1" 'BEGIN{printf "%-34s %4.0f MiB/s (%.3f s)\n", w, m/t, t}'; }
rate "curl (fetch only):" "$best_curl"
rate "curl, then openssl MD5 + SHA-256:" "$best_verify"
rate "qthingd, MD5 + SHA-256 checked:" "$best_agent"
rate "qthingd, MD5 checked:" "$best_md5"
awk -v a="$best_agent" -v m="$best_md5" -v c="$best_curl" -v v="$best_verify" \
    'BEGIN{printf "ratios: %.2f (MD5 + SHA-256 / curl), %.2f (MD5 / curl), %.2f (MD5 + SHA-256 / curl + openssl)\n", c/a, c/m, v/a}'
echo "qthingd peak RSS: ${rss_small} KiB for 5 MiB, ${rss_big} KiB for $BIG_MIB MiB (difference $((rss_big - rss_small)) KiB)"
awk -v a="$best_agent" -v c="$best_curl" -v v="$best_verify" -v m="$BIG_MIB" 'BEGIN{printf "ota_ratio_curl=%.2f\nota_ratio_verify=%.2f\nota_mibs=%.0f\ncurl_mibs=%.0f\n", c / a, v / a, m / a, m / c}'
echo "ota_rss_growth_mib=$(awk -v a="$rss_small" -v b="$rss_big" 'BEGIN{printf "%.1f", (b - a) / 1024}')"
