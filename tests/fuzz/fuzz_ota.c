/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the OTA payloads (plugins/cloud/cloud_ota_info.c) behind the TTLV
 * decoder: arbitrary bytes decoded as TTLV, then read as an OTA_NOTIFY plan and as an
 * OTA_FW_INFO with and without SHA-256. What is read as valid must hold what
 * cloud_ota_info.h promises: a component of 1..32 bytes, a target of 1..64, a type 0 or 1;
 * for the firmware also a URL of 1..1024 bytes, a size >= 1, 32 lower-case hex digits of
 * MD5, and 64 of SHA-256 exactly when it was asked for; every string NUL-terminated inside
 * its array. Any difference traps.
 *   clang -g -fsanitize=fuzzer,address,undefined -Iplugins/cloud -Iagent/include
 *         tests/fuzz/fuzz_ota.c plugins/cloud/cloud_ota_info.c plugins/cloud/cloud_ttlv.c
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_ota_info.h"
#include "cloud_ttlv.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool bounded(const char *s, size_t cap, size_t lo, size_t hi)
{
    size_t n = strnlen(s, cap);
    return n < cap && n >= lo && n <= hi;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qtd_value_t tree;
    size_t off = 0;
    if (qtd_ttlv_decode(data, size, &tree, &off) != 0) {
        return 0;
    }
    qtd_ota_plan_t plan;
    if (qtd_ota_plan_read(&tree, &plan) == NULL) {
        if (!bounded(plan.comp, sizeof(plan.comp), 1, 32) ||
            !bounded(plan.target, sizeof(plan.target), 1, 64) ||
            !bounded(plan.source, sizeof(plan.source), 0, 64) ||
            (plan.type != 0 && plan.type != 1)) {
            __builtin_trap();
        }
    } else if (!bounded(plan.comp, sizeof(plan.comp), 0, 32)) {
        __builtin_trap();
    }
    for (int sha = 0; sha <= 1; sha++) {
        qtd_ota_fw_info_t fw;
        if (qtd_ota_fw_info_read(&tree, sha == 1, &fw) != NULL) {
            if (!bounded(fw.comp, sizeof(fw.comp), 0, 32)) {
                __builtin_trap();
            }
            continue;
        }
        if (!bounded(fw.comp, sizeof(fw.comp), 1, 32) ||
            !bounded(fw.target, sizeof(fw.target), 1, 64) ||
            !bounded(fw.url, sizeof(fw.url), 1, 1024) || fw.size < 1 ||
            !fuzz_lower_hex(fw.md5, 32) ||
            (sha == 1 ? !fuzz_lower_hex(fw.sha256, 64) : fw.sha256[0] != '\0') ||
            (fw.type != 0 && fw.type != 1)) {
            __builtin_trap();
        }
    }
    qtd_ttlv_free(&tree);
    return 0;
}
