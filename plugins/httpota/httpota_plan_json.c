/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plan service's JSON: see httpota_plan_json.h. Every field of an answer is checked
 * before the plugin uses it: a plan that does not hold together is refused as a whole.
 */
#include "httpota_plan_json.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

/* Member name of o as text of 1..max bytes (lower-cased hex of exactly max when hex) into
 * out (max + 1 bytes). Returns whether it is there and fits. */
static bool text_member(const cJSON *o, const char *name, char *out, size_t max, bool hex)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v) || v->valuestring == NULL) {
        return false;
    }
    size_t n = strlen(v->valuestring);
    if (n == 0 || n > max || (hex && n != max)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v->valuestring[i];
        if (hex ? !isxdigit(ch) : ch < 0x20) {
            return false;
        }
        out[i] = hex ? (char)tolower(ch) : (char)ch;
    }
    out[n] = '\0';
    return true;
}

static int parse_plan(const cJSON *p, plan_t *plan, const char **why)
{
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(p, "size");
    memset(plan, 0, sizeof(*plan));
    if (!cJSON_IsObject(p)) {
        *why = "code 0 without a \"plan\" object";
    } else if (!text_member(p, "url", plan->url, sizeof(plan->url) - 1, false) ||
               (strncasecmp(plan->url, "http://", 7) != 0 &&
                strncasecmp(plan->url, "https://", 8) != 0)) {
        *why = "plan.url must be an http:// or https:// URL shorter than 1024 bytes";
    } else if (!cJSON_IsNumber(size) || !(size->valuedouble >= 1) ||
               size->valuedouble > 9007199254740992.0 ||
               size->valuedouble != (double)(uint64_t)size->valuedouble) {
        *why = "plan.size must be a whole number of bytes, at least 1";
    } else if (!text_member(p, "md5", plan->md5, 32, true)) {
        *why = "plan.md5 must be 32 hex digits";
    } else if (cJSON_GetObjectItemCaseSensitive(p, "sha256") != NULL &&
               !text_member(p, "sha256", plan->sha256, 64, true)) {
        *why = "plan.sha256 must be 64 hex digits";
    } else if (!text_member(p, "targetVersion", plan->target, 64, false)) {
        *why = "plan.targetVersion must be text of 1..64 bytes";
    } else if (!text_member(p, "componentNo", plan->comp, 32, false)) {
        *why = "plan.componentNo must be text of 1..32 bytes";
    } else {
        plan->size = (uint64_t)size->valuedouble;
        return 0;
    }
    return -EINVAL;
}

int plan_answer_parse(const char *text, size_t n, plan_answer_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    *why = NULL;
    cJSON *doc = cJSON_ParseWithLength(text, n);
    if (doc == NULL) {
        *why = "the answer is not JSON";
        return -EINVAL;
    }
    int rc = -EINVAL;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(doc, "code");
    const cJSON *retry = cJSON_GetObjectItemCaseSensitive(doc, "retryInterval");
    if (!cJSON_IsNumber(code) || code->valuedouble < 0 || code->valuedouble > 99999 ||
        code->valuedouble != (double)(int)code->valuedouble) {
        *why = "the answer has no whole \"code\" (0..99999)";
    } else if (retry != NULL && (!cJSON_IsNumber(retry) || !(retry->valuedouble >= 0) ||
                                 retry->valuedouble > 86400)) {
        *why = "retryInterval must be 0..86400 seconds";
    } else {
        out->code = code->valueint;
        out->retry_s = retry != NULL ? (int64_t)retry->valuedouble : 0;
        rc = 0;
        if (out->code == 0) {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "plan");
            rc = parse_plan(p, &out->plan, why);
            if (rc == 0) {
                out->json = cJSON_PrintUnformatted(p);
                rc = out->json != NULL ? 0 : -ENOMEM;
            }
        }
    }
    cJSON_Delete(doc);
    return rc;
}

char *plan_request_json(const char *pk, const char *dk, int64_t battery, int64_t upmode,
                        const char *version, const char *mcu, const char *signature,
                        const char *rand)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && cJSON_AddStringToObject(o, "pk", pk) != NULL &&
              cJSON_AddStringToObject(o, "dk", dk) != NULL &&
              cJSON_AddNumberToObject(o, "battery", (double)battery) != NULL &&
              cJSON_AddNumberToObject(o, "upmode", (double)upmode) != NULL &&
              cJSON_AddStringToObject(o, "version", version) != NULL &&
              cJSON_AddStringToObject(o, "mcuVersions", mcu) != NULL &&
              cJSON_AddStringToObject(o, "signature", signature) != NULL &&
              cJSON_AddStringToObject(o, "rand", rand) != NULL;
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

char *plan_status_json(const char *pk, const char *dk, int event, int errcode)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && cJSON_AddStringToObject(o, "pk", pk) != NULL &&
              cJSON_AddStringToObject(o, "dk", dk) != NULL &&
              cJSON_AddNumberToObject(o, "event", event) != NULL &&
              cJSON_AddNumberToObject(o, "errcode", errcode) != NULL;
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}
