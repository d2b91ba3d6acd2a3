/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the HTTP OTA plan service's answers (plugins/httpota/
 * httpota_plan_json.c): arbitrary bytes parsed as an answer. A parsed plan must hold what
 * httpota_plan_json.h promises (an http(s) URL, a size >= 1, 32 lower-case hex digits of
 * MD5, 64 or none of SHA-256, a target of 1..64 and a component of 1..32 bytes), and its
 * JSON text, put back into {"code": 0, "plan": ...}, must parse to the same plan. Any
 * difference traps.
 *   clang -g -fsanitize=fuzzer,address,undefined -I/usr/include/cjson -Iplugins/httpota
 *         tests/fuzz/fuzz_plan.c plugins/httpota/httpota_plan_json.c -lcjson
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpota_plan_json.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    plan_answer_t a;
    const char *why = NULL;
    if (plan_answer_parse((const char *)data, size, &a, &why) != 0) {
        if (why == NULL) {
            return 0; /* out of memory */
        }
        return 0;
    }
    if (a.code != 0) {
        if (a.json != NULL) {
            __builtin_trap();
        }
        return 0;
    }
    const plan_t *p = &a.plan;
    size_t ul = strnlen(p->url, sizeof(p->url));
    if (a.json == NULL || ul == sizeof(p->url) || p->size < 1 || !fuzz_lower_hex(p->md5, 32) ||
        (p->sha256[0] != '\0' && !fuzz_lower_hex(p->sha256, 64)) ||
        (strncasecmp(p->url, "http://", 7) != 0 && strncasecmp(p->url, "https://", 8) != 0) ||
        strlen(p->target) < 1 || strlen(p->target) > 64 || strlen(p->comp) < 1 ||
        strlen(p->comp) > 32) {
        __builtin_trap();
    }
    size_t n = strlen(a.json) + 32;
    char *again = malloc(n);
    if (again != NULL) {
        snprintf(again, n, "{\"code\": 0, \"plan\": %s}", a.json);
        plan_answer_t b;
        if (plan_answer_parse(again, strlen(again), &b, &why) != 0 ||
            memcmp(&a.plan, &b.plan, sizeof(a.plan)) != 0) {
            __builtin_trap();
        }
        free(b.json);
        free(again);
    }
    free(a.json);
    return 0;
}
