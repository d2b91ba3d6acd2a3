#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build the libFuzzer targets with clang (ASan+UBSan) and run each for a short time; any
# crash, leak or broken invariant fails; each target prints its executions. Long runs by hand
# (an hour per target, the corpus kept in OUT_DIR/corpus-<target> for the next run):
#   tests/fuzz/run.sh /tmp/fuzz-long 3600
# Usage: run.sh OUT_DIR [SECONDS_PER_TARGET [SECONDS_FOR_THE_CODEC_TARGETS]]
# (ctest fuzz_codec: 15 s for frame and ttlv, 7 s for each other target, ~100 s in all.)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
secs=${2:-15}
codec_secs=${3:-$secs}
mkdir -p "$out"
command -v clang >/dev/null || { echo "clang not installed"; exit 1; }
# shellcheck disable=SC2054 # the commas belong to -fsanitize=
flags=(-g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$src/plugins/cloud" -I"$src/agent/include")
clang "${flags[@]}" "$src/tests/fuzz/fuzz_frame.c" "$src/plugins/cloud/cloud_frame.c" \
    -o "$out/fuzz_frame"
clang "${flags[@]}" "$src/tests/fuzz/fuzz_ttlv.c" "$src/plugins/cloud/cloud_ttlv.c" \
    -o "$out/fuzz_ttlv"
clang "${flags[@]}" -I"$src/plugins/common" "$src/tests/fuzz/fuzz_modem.c" \
    "$src/plugins/cloud/cloud_modem.c" "$src/plugins/common/qtd_serial.c" -o "$out/fuzz_modem"
clang "${flags[@]}" -I"$src/sim" -I/usr/include/cjson "$src/tests/fuzz/fuzz_simjson.c" \
    "$src/sim/sim_json.c" "$src/plugins/cloud/cloud_ttlv.c" "$src/plugins/cloud/cloud_frame.c" \
    -lcjson -lm -o "$out/fuzz_simjson"
clang "${flags[@]}" -I"$src/sim" -I/usr/include/cjson "$src/tests/fuzz/fuzz_registry.c" \
    "$src/sim/registry.c" "$src/plugins/cloud/cloud_auth.c" -lcjson -lcrypto \
    -o "$out/fuzz_registry"
# shellcheck disable=SC2046 # pkg-config prints several words
clang "${flags[@]}" -I"$src" $(pkg-config --cflags lua5.4) "$src/tests/fuzz/fuzz_config.c" \
    "$src/agent/config.c" "$src/agent/alloc.c" $(pkg-config --libs lua5.4) -lm \
    -o "$out/fuzz_config"
# shellcheck disable=SC2046
clang "${flags[@]}" -I"$src" $(pkg-config --cflags lua5.4) "$src/tests/fuzz/fuzz_lua_value.c" \
    "$src/lua/convert.c" "$src/agent/value.c" "$src/agent/alloc.c" \
    "$src/plugins/cloud/cloud_ttlv.c" $(pkg-config --libs lua5.4) -lm -o "$out/fuzz_lua_value"
clang "${flags[@]}" "$src/tests/fuzz/fuzz_ota.c" "$src/plugins/cloud/cloud_ota_info.c" \
    "$src/plugins/cloud/cloud_ttlv.c" -o "$out/fuzz_ota"
clang "${flags[@]}" -I"$src/plugins/httpota" -I/usr/include/cjson "$src/tests/fuzz/fuzz_plan.c" \
    "$src/plugins/httpota/httpota_plan_json.c" -lcjson -o "$out/fuzz_plan"
clang "${flags[@]}" -I"$src" -I"$src/plugins/modbus" "$src/tests/fuzz/fuzz_modbus.c" \
    "$src/plugins/modbus/modbus_map.c" "$src/agent/value.c" "$src/agent/alloc.c" -lm \
    -o "$out/fuzz_modbus"
clang "${flags[@]}" -I"$src/plugins/gnss" "$src/tests/fuzz/fuzz_nmea.c" \
    "$src/plugins/gnss/gnss_nmea.c" -lm -o "$out/fuzz_nmea"

# Seeds: realistic inputs, one file each, in OUT_DIR/corpus-<target>: seed TARGET NAME TEXT...
# (the TEXT parts are joined without separator, backslash escapes interpreted).
seed() {
    mkdir -p "$out/corpus-$1"
    local f="$out/corpus-$1/$2"
    shift 2
    printf '%b' "$@" >"$f"
}
seed fuzz_modem cgsn '\r\n861536030196001\r\n\r\nOK\r\n'
seed fuzz_modem cgsn_tag '\r\n+CGSN: 861536030196001\r\n\r\nOK\r\n'
seed fuzz_modem csq '\r\n+CSQ: 23,99\r\n\r\nOK\r\n'
seed fuzz_modem cimi '\r\n460001234567890\r\n\r\nOK\r\n'
seed fuzz_modem ccid '\r\n+QCCID: 89860012345678901234\r\n\r\nOK\r\n'
seed fuzz_modem cnum '\r\n+CNUM: "","+8613800000000",145\r\n\r\nOK\r\n'
seed fuzz_modem qeng '\r\n+QENG: "servingcell","NOCONN","LTE","FDD",460,00,A1B2C3D,123,1650,' \
    '3,5,5,1A2B,-95,-10,-65,12,40\r\n\r\nOK\r\n'
seed fuzz_simjson write '{"1": true, "2": 25, "3": 12.5, "4": "on", "5": {"hex": "00ff"}, ' \
    '"29": {"30": 1, "31": [1, 2.5, "x"]}}'
seed fuzz_simjson ids '[1, 2, 29, 65535]'
seed fuzz_simjson hex 'aa:aa 00 07 74 00 07 00 13 01 59'
seed fuzz_simjson frame '\xaa\xaa\x00\x07\x74\x00\x07\x00\x13\x01\x59'
seed fuzz_registry two '{"products": [{"pk": "p1116a", "ps": "UHg1dTRBRVh3MkVG", "devices": [' \
    '{"dk": "dev1", "ds": "c2VjcmV0", "disabled": false, "connect_errcode": 10429}, ' \
    '{"dk": "dev2"}]}, {"pk": "p1116", "ps": "eA==", "devices": [{"dk": "adev1", ' \
    '"disabled": true}]}], "auto_register": true}'
seed fuzz_registry empty '{"products": []}'
seed fuzz_config valid 's = {\n  tls = false,\n  lifetime = 300,\n  baud = 19200,\n' \
    '  ratio = 0.25,\n  mode = "tcp",\n  server = "iot-south.quectel.com:1883",\n' \
    '  items = { { name = "meter", unit = 3 }, { name = "pump" } },\n}\n'
seed fuzz_config refused 's = { lifetime = 0, ratio = 0/0, mode = "x", ' \
    'items = { 1, { unit = 300 } } }\nother = 1\n'
seed fuzz_config loop 'local t = {}\nfor i = 1, 100 do t[i] = { name = "n" .. i } end\n' \
    's = { server = "a", items = t }\n'
seed fuzz_lua_value vector '\x00\x09\x00\x12\x00\x19\x00\x1a\x08\x7d' '\x00\x23\x00\x02\x68\x69'
seed fuzz_lua_value nested '\x00\x2c\x00\x02\x00\x09\x00\x10' '\x00\x34\x00\x02\x00\x01\x00\x00'
seed fuzz_lua_value deep '\x00\x0c\x00\x01\x00\x0c\x00\x01\x00\x0c\x00\x01' \
    '\x00\x0c\x00\x01\x00\x09'
seed fuzz_lua_value dup_ids '\x00\x09\x00\x08\x00\x11'
seed fuzz_ota notify '\x00\x23\x00\x02FW\x00\x2b\x00\x031.0\x00\x33\x00\x032.0\x00\x3a\x00\x00' \
    '\x00\x42\x00\x1e\x00\x4a\x01\x03\xe8\x00\x52\x00\x0a'
seed fuzz_ota fw_info '\x00\x0b\x00\x0ahttp://a/b\x00\x12\x00\x64' \
    '\x00\x1b\x00\x200123456789abcdef0123456789abcdef\x00\x7b\x00\x041a2b' \
    '\x00\x23\x00\x02FW\x00\x33\x00\x032.0\x00\x3a\x00\x01'
seed fuzz_plan plan '{"code": 0, "retryInterval": 30, "plan": {"url": "http://127.0.0.1/fw.bin", ' \
    '"size": 3145728, "md5": "0123456789abcdef0123456789abcdef", "sha256": ' \
    '"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", ' \
    '"targetVersion": "2.0", "componentNo": "FW"}}'
seed fuzz_plan none '{"code": 10700}'
# point bytes: id, table | type << 2, orders | access << 2 | report << 5 | scale << 6, count,
# address (2), then the registers
seed fuzz_modbus float32_cdab '\x01\x1e\x09\x00\x00\x10\x00\x00\x41\x48'
seed fuzz_modbus string '\x02\x26\x00\x04\x00\x20QTD-01\x00\x00'
seed fuzz_modbus coil '\x03\x00\x08\x00\x00\x00\x01'
seed fuzz_nmea cycle '$GPGGA,092204.999,4250.5589,S,14718.5084,E,1,04,24.4,19.7,M,,,,0000*1F\r\n' \
    '$GPGSV,2,1,05,01,40,083,46,02,17,308,41,03,07,344,39,04,22,228,45*7D\r\n' \
    '$GPGSV,2,2,05,05,60,115,47*43\r\n$GNRMC,090000.00,A,3113.8240,N,12128.4220,E,19.4,45.0,' \
    '301126,,,A*41\r\n'
seed fuzz_nmea qeng '+QENG: "servingcell","NOCONN","LTE","FDD",460,00,1A2B3C4,123,1300,3,5,5,' \
    '5F2,-95,-10,-65,15,35\r\n+QENG: "neighbourcell","GSM",460,01,550A,2BC5,20,62,-80,1,1\r\n'
seed fuzz_modbus scaled_s16 '\x04\x0a\x48\x00\x00\x24\xff\x9c'

run() {
    (cd "$out" && "./$1" -max_total_time="$2" -print_final_stats=1 "corpus-$1" \
        >"$1.log" 2>&1) || { tail -40 "$out/$1.log"; exit 1; }
    grep -E 'stat::number_of_executed_units' "$out/$1.log" | sed "s/^/$1: /"
}
for t in fuzz_frame fuzz_ttlv; do
    mkdir -p "$out/corpus-$t"
    # Seeds: the protocol's test vectors.
    printf '\xaa\xaa\x00\x07\x74\x00\x07\x00\x13\x01\x59' >"$out/corpus-$t/vector1"
    printf '\x00\x09\x00\x12\x00\x19\x00\x1a\x08\x7d\x00\x23\x00\x02\x68\x69' \
        >"$out/corpus-$t/vector2"
    run "$t" "$codec_secs"
done
for t in fuzz_modem fuzz_simjson fuzz_registry fuzz_config fuzz_lua_value fuzz_ota fuzz_plan \
    fuzz_modbus fuzz_nmea; do
    run "$t" "$secs"
done
