/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OTA payloads of the platform, read and checked: see cloud_ota_info.h. The checks and
 * their order are the SDK's (ql_iotCmdOTA.c): what the SDK refuses is refused here, with the
 * reason in words.
 */
#include "cloud_ota_info.h"

#include <stdlib.h>
#include <string.h>

static const qtd_value_t *find(const qtd_value_t *tree, uint16_t id)
{
    if (tree == NULL || tree->type != QTD_VAL_STRUCT) {
        return NULL;
    }
    for (size_t i = 0; i < tree->u.list.count; i++) {
        if (tree->u.list.items[i].id == id) {
            return &tree->u.list.items[i];
        }
    }
    return NULL;
}

/* Text id of 1..max bytes without NUL into out (max + 1 bytes; "" when absent or not). */
static bool text(const qtd_value_t *tree, uint16_t id, char *out, size_t max)
{
    const qtd_value_t *v = find(tree, id);
    out[0] = '\0';
    if (v == NULL || v->type != QTD_VAL_STRING || v->u.s.len == 0 || v->u.s.len > max ||
        memchr(v->u.s.ptr, '\0', v->u.s.len) != NULL) {
        return false;
    }
    memcpy(out, v->u.s.ptr, v->u.s.len);
    out[v->u.s.len] = '\0';
    return true;
}

static bool integer(const qtd_value_t *tree, uint16_t id, int64_t *out)
{
    const qtd_value_t *v = find(tree, id);
    *out = v != NULL && v->type == QTD_VAL_INT ? v->u.i : 0;
    return v != NULL && v->type == QTD_VAL_INT;
}

static bool lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

const char *qtd_ota_plan_read(const qtd_value_t *tree, qtd_ota_plan_t *out)
{
    int64_t type = -1;
    memset(out, 0, sizeof(*out));
    bool comp = text(tree, 4, out->comp, QTD_OTA_COMP_MAX);
    (void)text(tree, 5, out->source, QTD_OTA_VERSION_MAX);
    bool target = text(tree, 6, out->target, QTD_OTA_VERSION_MAX);
    bool typed = integer(tree, 7, &type);
    (void)integer(tree, 8, &out->battery_limit);
    (void)integer(tree, 9, &out->use_space);
    (void)integer(tree, 10, &out->min_signal);
    out->type = typed && (type == 0 || type == 1) ? (int)type : 0;
    if (!comp || !target || !typed || (type != 0 && type != 1)) {
        return "it needs 4 componentNo (1..32), 6 targetVersion (1..64) and 7 componentType "
               "(0 or 1)";
    }
    return NULL;
}

const char *qtd_ota_fw_info_read(const qtd_value_t *tree, bool with_sha256, qtd_ota_fw_info_t *out)
{
    char crc[16];
    int64_t size = 0;
    int64_t type = -1;
    memset(out, 0, sizeof(*out));
    bool comp = text(tree, 4, out->comp, QTD_OTA_COMP_MAX);
    bool target = text(tree, 6, out->target, QTD_OTA_VERSION_MAX);
    bool url = text(tree, 1, out->url, QTD_OTA_URL_MAX);
    bool md5 = text(tree, 3, out->md5, 32) && lower_hex(out->md5, 32);
    bool has_crc = text(tree, 15, crc, sizeof(crc) - 1);
    bool sha = text(tree, 16, out->sha256, 64) && lower_hex(out->sha256, 64);
    bool sized = integer(tree, 2, &size);
    bool typed = integer(tree, 7, &type);
    char *end = NULL;
    unsigned long long crc_v = has_crc ? strtoull(crc, &end, 16) : 0;
    if (!with_sha256 || !sha) {
        out->sha256[0] = '\0';
    }
    if (!comp || !target) {
        return "4 componentNo (1..32) and 6 targetVersion (1..64) are required";
    }
    if (!url) {
        return "1 URL (1..1024 bytes) is required";
    }
    if (!sized || size <= 0) {
        return "2 size must be a positive whole number";
    }
    if (!md5) {
        return "3 MD5 must be 32 lower-case hex digits";
    }
    if (!has_crc || end == crc || *end != '\0' || crc_v > 0xffffffffULL) {
        return "15 CRC must be a 32-bit hex number";
    }
    if (with_sha256 && !sha) {
        return "16 SHA256 (64 lower-case hex digits) is required after otaRequest(1)";
    }
    if (!typed || (type != 0 && type != 1)) {
        return "7 componentType must be 0 or 1";
    }
    out->size = (uint64_t)size;
    out->crc = (uint32_t)crc_v;
    out->type = (int)type;
    return NULL;
}
