/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plan service's JSON (docs/protocol.md, "HTTP OTA plan service (ours)"): the request
 * built and the answer parsed and checked. Pure code (cJSON, plain malloc, no I/O), shared
 * by the plugin and its fuzz target; kept apart so that the real service's format can
 * replace it.
 */
#ifndef QTD_PLUGINS_HTTPOTA_HTTPOTA_PLAN_JSON_H
#define QTD_PLUGINS_HTTPOTA_HTTPOTA_PLAN_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char url[1024];
    uint64_t size;
    char md5[33];
    char sha256[65]; /* "" when the plan has none */
    char target[65];
    char comp[33];
} plan_t;

typedef struct {
    int code;        /* 0: a plan; else the service's code (10700..10716) */
    int64_t retry_s; /* "retryInterval" (seconds, 0..86400), 0 when absent */
    plan_t plan;     /* when code is 0 */
    char *json;      /* when code is 0: the plan object as compact JSON (malloc'ed) */
} plan_answer_t;

/* Parse an answer {"code": N, ["retryInterval": S,] ["plan": {...}]} of n bytes. A plan
 * needs url (http:// or https://, < 1024), size (1..2^53), md5 (32 hex digits), targetVersion
 * (1..64) and componentNo (1..32); sha256 (64 hex digits) is optional. Hex is lower-cased.
 * Returns: 0 (*out set; free out->json), -EINVAL (*why says what is wrong), -ENOMEM. */
int plan_answer_parse(const char *text, size_t n, plan_answer_t *out, const char **why);

/* The request body {pk, dk, battery, upmode, version, mcuVersions, signature, rand}
 * (malloc'ed, NUL-terminated), or NULL on ENOMEM. */
char *plan_request_json(const char *pk, const char *dk, int64_t battery, int64_t upmode,
                        const char *version, const char *mcu, const char *signature,
                        const char *rand);
/* A status report body {pk, dk, event, errcode}, or NULL on ENOMEM. */
char *plan_status_json(const char *pk, const char *dk, int event, int errcode);

#endif /* QTD_PLUGINS_HTTPOTA_HTTPOTA_PLAN_JSON_H */
