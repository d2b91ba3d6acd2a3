/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wire <-> JSON for the simulator (see sim_json.h): command table, frame and TTLV decoding
 * into cJSON for the log, and control-message JSON into TTLV payloads and id lists. Pure
 * code: no I/O, no MQTT, no global state.
 */
#include "sim_json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_frame.h"
#include "cloud_ttlv.h"

#define HEX_LOG_MAX 4096 /* bytes of a malformed frame shown in hex */

/* ---- documents that remember number texts */

static int collect_items(const cJSON *it, qtd_sim_doc_t *doc, size_t *cap)
{
    for (; it != NULL; it = it->next) {
        if (cJSON_IsNumber(it)) {
            if (doc->n == *cap) {
                size_t nc = *cap ? *cap * 2 : 16;
                const cJSON **ni = realloc(doc->items, nc * sizeof(*ni));
                if (ni == NULL) {
                    return -ENOMEM;
                }
                doc->items = ni;
                *cap = nc;
            }
            doc->items[doc->n++] = it;
        }
        if (it->child != NULL && collect_items(it->child, doc, cap) != 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

/* The number tokens of a (valid) JSON text, in order. */
static int collect_texts(const char *text, qtd_sim_doc_t *doc)
{
    size_t k = 0;
    const char *p = text;

    doc->texts = calloc(doc->n ? doc->n : 1, sizeof(*doc->texts));
    if (doc->texts == NULL) {
        return -ENOMEM;
    }
    while (*p != '\0') {
        if (*p == '"') {
            for (p++; *p != '\0' && *p != '"'; p++) {
                if (*p == '\\' && p[1] != '\0') {
                    p++;
                }
            }
            if (*p == '"') {
                p++;
            }
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            size_t n = strspn(p, "0123456789+-.eE");
            if (k == doc->n) {
                return -EINVAL;
            }
            doc->texts[k] = strndup(p, n);
            if (doc->texts[k++] == NULL) {
                return -ENOMEM;
            }
            p += n;
        } else {
            p++;
        }
    }
    return k == doc->n ? 0 : -EINVAL;
}

int qtd_sim_doc_parse(const char *text, qtd_sim_doc_t *doc)
{
    size_t cap = 0;
    int rc;

    memset(doc, 0, sizeof(*doc));
    doc->root = cJSON_ParseWithOpts(text, NULL, true);
    if (doc->root == NULL) {
        return -EINVAL;
    }
    rc = collect_items(doc->root, doc, &cap);
    if (rc == 0) {
        rc = collect_texts(text, doc);
    }
    if (rc != 0) {
        qtd_sim_doc_free(doc);
    }
    return rc;
}

void qtd_sim_doc_free(qtd_sim_doc_t *doc)
{
    if (doc == NULL) {
        return;
    }
    for (size_t i = 0; doc->texts != NULL && i < doc->n; i++) {
        free(doc->texts[i]);
    }
    free(doc->texts);
    free(doc->items);
    cJSON_Delete(doc->root);
    memset(doc, 0, sizeof(*doc));
}

const char *qtd_sim_doc_number(const qtd_sim_doc_t *doc, const cJSON *item)
{
    for (size_t i = 0; i < doc->n; i++) {
        if (doc->items[i] == item) {
            return doc->texts[i];
        }
    }
    return NULL;
}

/* ---- commands */

static const struct {
    uint16_t cmd;
    char kind;
    const char *name;
} cmds[] = {
    {QTD_CMD_TSL_REQ, 'i', "TSL_REQ"},
    {QTD_CMD_TSL_RSP, 't', "TSL_RSP"},
    {QTD_CMD_TSL_WRITE, 't', "TSL_WRITE"},
    {QTD_CMD_TSL_EVENT, 't', "TSL_EVENT"},
    {QTD_CMD_PASS_WRITE, 'r', "PASS_WRITE"},
    {QTD_CMD_PASS_EVENT, 'r', "PASS_EVENT"},
    {QTD_CMD_STATUS_REQ, 'i', "STATUS_REQ"},
    {QTD_CMD_STATUS_RSP, 't', "STATUS_RSP"},
    {QTD_CMD_STATUS_EVENT, 't', "STATUS_EVENT"},
    {QTD_CMD_INFO_REQ, 'i', "INFO_REQ"},
    {QTD_CMD_INFO_RSP, 't', "INFO_RSP"},
    {QTD_CMD_INFO_EVENT, 't', "INFO_EVENT"},
    {QTD_CMD_EXCE_WRITE, 't', "EXCE_WRITE"},
    {QTD_CMD_EXCE_EVENT, 't', "EXCE_EVENT"},
    {QTD_CMD_DEV_CONFIG_WRITE, 't', "DEV_CONFIG_WRITE"},
    {QTD_CMD_OTA_NOTIFY, 't', "OTA_NOTIFY"},
    {QTD_CMD_OTA_REQUEST_RSP, 't', "OTA_REQUEST_RSP"},
    {QTD_CMD_OTA_FW_INFO, 't', "OTA_FW_INFO"},
    {QTD_CMD_OTA_EVENT, 't', "OTA_EVENT"},
    {QTD_CMD_OTA_REQUEST, 't', "OTA_REQUEST"},
    {QTD_CMD_LOC_REPORT, 't', "LOC_REPORT"},
    {QTD_CMD_LOC_REQ, 't', "LOC_REQ"},
    {QTD_CMD_LOC_RSP, 't', "LOC_RSP"},
    {0x00C0, 't', "SUB_AUTH"},
    {0x00C1, 't', "SUB_AUTH_RSP"},
    {0x00C2, 't', "SUB_LOGIN"},
    {0x00C3, 't', "SUB_LOGIN_RSP"},
    {0x00C4, 't', "SUB_LOGOUT"},
    {0x00C5, 't', "SUB_LOGOUT_RSP"},
    {0x00C6, 't', "SUB_UNAUTH"},
    {0x00C7, 't', "SUB_UNAUTH_RSP"},
    {0x00C8, 't', "SUB_OFFLINE"},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

const char *qtd_sim_cmd_name(uint16_t cmd)
{
    for (size_t i = 0; i < NCMDS; i++) {
        if (cmds[i].cmd == cmd) {
            return cmds[i].name;
        }
    }
    return NULL;
}

char qtd_sim_cmd_kind(uint16_t cmd)
{
    for (size_t i = 0; i < NCMDS; i++) {
        if (cmds[i].cmd == cmd) {
            return cmds[i].kind;
        }
    }
    return 0;
}

int qtd_sim_cmd_parse(const char *text)
{
    char *end = NULL;
    long v;

    for (size_t i = 0; i < NCMDS; i++) {
        if (strcasecmp(cmds[i].name, text) == 0) {
            return cmds[i].cmd;
        }
    }
    errno = 0;
    v = strtol(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 0xFFFF) {
        return -1;
    }
    return (int)v;
}

const char *qtd_sim_down_topic_type(uint16_t cmd)
{
    switch (cmd) {
    case QTD_CMD_TSL_REQ:
    case QTD_CMD_TSL_WRITE:
    case QTD_CMD_PASS_WRITE:
    case QTD_CMD_LOC_REQ:
        return "bus";
    case QTD_CMD_OTA_NOTIFY:
    case QTD_CMD_OTA_REQUEST_RSP:
    case QTD_CMD_OTA_FW_INFO:
        return "ota";
    default:
        return "sys";
    }
}

const char *qtd_sim_reason_name(int reason)
{
    switch (reason) {
    case QTD_EXCE_PROTOCOL:
        return "protocol";
    case QTD_EXCE_LENGTH:
        return "length";
    case QTD_EXCE_CHECKSUM:
        return "checksum";
    case QTD_EXCE_COMMAND:
        return "command";
    case QTD_EXCE_UNFORMATTABLE:
        return "unformattable";
    default:
        return "unknown";
    }
}

/* ---- wire to JSON */

bool qtd_sim_utf8_ok(const uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = p[i];
        uint32_t cp;
        size_t extra;

        if (c == 0) {
            return false;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= extra) {
            return false;
        }
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += extra + 1;
    }
    return true;
}

char *qtd_sim_hex_encode(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc(n * 2 + 1);

    if (s == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}

static cJSON *hex_item(const uint8_t *p, size_t n)
{
    char *hex = qtd_sim_hex_encode(p, n);
    cJSON *it = hex != NULL ? cJSON_CreateString(hex) : NULL;

    free(hex);
    return it;
}

cJSON *qtd_sim_bytes_to_json(const uint8_t *p, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *hex = hex_item(p, n);

    if (o == NULL || hex == NULL || !cJSON_AddItemToObject(o, "hex", hex)) {
        cJSON_Delete(hex);
        goto fail;
    }
    if (qtd_sim_utf8_ok(p, n)) {
        char *t = strndup((const char *)p, n);
        cJSON *ts = t != NULL ? cJSON_CreateString(t) : NULL;
        free(t);
        if (ts == NULL || !cJSON_AddItemToObject(o, "text", ts)) {
            cJSON_Delete(ts);
            goto fail;
        }
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static cJSON *double_item(double d)
{
    char buf[64];

    if (!isfinite(d)) {
        return cJSON_CreateNull();
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d) {
            break;
        }
    }
    if (strpbrk(buf, ".eE") == NULL) {
        strcat(buf, ".0");
    }
    return cJSON_CreateRaw(buf);
}

cJSON *qtd_sim_value_to_json(const qtd_value_t *v)
{
    char buf[32];
    cJSON *o;

    switch (v->type) {
    case QTD_VAL_BOOL:
        return cJSON_CreateBool(v->u.b);
    case QTD_VAL_INT:
        snprintf(buf, sizeof(buf), "%" PRId64, v->u.i);
        return cJSON_CreateRaw(buf);
    case QTD_VAL_DOUBLE:
        return double_item(v->u.d);
    case QTD_VAL_STRING:
    case QTD_VAL_BYTES:
        if (v->type == QTD_VAL_STRING && qtd_sim_utf8_ok((const uint8_t *)v->u.s.ptr, v->u.s.len)) {
            char *t = strndup(v->u.s.ptr, v->u.s.len);
            o = t != NULL ? cJSON_CreateString(t) : NULL;
            free(t);
            return o;
        }
        /* Bytes, or type-3 data that is not text: show the bytes. */
        o = cJSON_CreateObject();
        if (o != NULL) {
            cJSON *hex = hex_item((const uint8_t *)v->u.s.ptr, v->u.s.len);
            if (hex == NULL || !cJSON_AddItemToObject(o, "hex", hex)) {
                cJSON_Delete(hex);
                cJSON_Delete(o);
                return NULL;
            }
        }
        return o;
    case QTD_VAL_STRUCT:
    case QTD_VAL_ARRAY:
        o = v->type == QTD_VAL_STRUCT ? cJSON_CreateObject() : cJSON_CreateArray();
        if (o == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < v->u.list.count; i++) {
            const qtd_value_t *c = &v->u.list.items[i];
            cJSON *cj = qtd_sim_value_to_json(c);
            bool ok;
            if (cj == NULL) {
                cJSON_Delete(o);
                return NULL;
            }
            if (v->type == QTD_VAL_STRUCT) {
                snprintf(buf, sizeof(buf), "%u", (unsigned)c->id);
                ok = cJSON_AddItemToObject(o, buf, cj);
            } else {
                ok = cJSON_AddItemToArray(o, cj);
            }
            if (!ok) {
                cJSON_Delete(cj);
                cJSON_Delete(o);
                return NULL;
            }
        }
        return o;
    default:
        return cJSON_CreateNull();
    }
}

static int add_error(cJSON *obj, int reason, const char *detail, const uint8_t *p, size_t n)
{
    cJSON *hex = hex_item(p, n > HEX_LOG_MAX ? HEX_LOG_MAX : n);

    if (hex == NULL || cJSON_AddStringToObject(obj, "error", qtd_sim_reason_name(reason)) == NULL ||
        (detail != NULL && cJSON_AddStringToObject(obj, "detail", detail) == NULL) ||
        !cJSON_AddItemToObject(obj, "hex", hex)) {
        return -ENOMEM;
    }
    return 1;
}

int qtd_sim_frame_to_json(const uint8_t *buf, size_t n, cJSON *obj)
{
    qtd_frame_t f;
    uint8_t *storage = NULL;
    cJSON *data = NULL;
    qtd_value_t v;
    size_t off = 0;
    char detail[64];
    int reason = 0;
    int rc;
    char kind;

    memset(&f, 0, sizeof(f));
    rc = qtd_frame_decode(buf, n, &f, &storage, &reason);
    if (rc == -ENOMEM) {
        return -ENOMEM;
    }
    if (rc != 0) {
        free(storage);
        if (f.pkgid != 0 && cJSON_AddNumberToObject(obj, "pkgid", f.pkgid) == NULL) {
            return -ENOMEM;
        }
        if (reason == 0) {
            reason = QTD_EXCE_PROTOCOL;
        }
        return add_error(obj, reason, NULL, buf, n);
    }
    if (cJSON_AddNumberToObject(obj, "pkgid", f.pkgid) == NULL ||
        cJSON_AddNumberToObject(obj, "cmd", f.cmd) == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    kind = qtd_sim_cmd_kind(f.cmd);
    if (kind == 0) {
        if (cJSON_AddNullToObject(obj, "cmd_name") == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        rc = add_error(obj, QTD_EXCE_COMMAND, "unknown command", f.payload, f.len);
        goto out;
    }
    if (cJSON_AddStringToObject(obj, "cmd_name", qtd_sim_cmd_name(f.cmd)) == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (kind == 'r') {
        data = qtd_sim_bytes_to_json(f.payload, f.len);
    } else if (kind == 'i') {
        if (f.len % 2 != 0) {
            rc = add_error(obj, QTD_EXCE_UNFORMATTABLE, "odd length of an id list", f.payload,
                           f.len);
            goto out;
        }
        data = cJSON_CreateArray();
        for (size_t i = 0; data != NULL && i < f.len; i += 2) {
            cJSON *id = cJSON_CreateNumber((f.payload[i] << 8) | f.payload[i + 1]);
            if (id == NULL || !cJSON_AddItemToArray(data, id)) {
                cJSON_Delete(id);
                cJSON_Delete(data);
                data = NULL;
            }
        }
    } else if (f.len == 0) {
        data = cJSON_CreateObject();
    } else {
        memset(&v, 0, sizeof(v));
        rc = qtd_ttlv_decode(f.payload, f.len, &v, &off);
        if (rc == -ENOMEM) {
            goto out;
        }
        if (rc != 0) {
            snprintf(detail, sizeof(detail), "TTLV error at payload byte %zu", off);
            rc = add_error(obj, QTD_EXCE_UNFORMATTABLE, detail, f.payload, f.len);
            goto out;
        }
        data = qtd_sim_value_to_json(&v);
        qtd_ttlv_free(&v);
    }
    if (data == NULL || !cJSON_AddItemToObject(obj, "data", data)) {
        cJSON_Delete(data);
        rc = -ENOMEM;
        goto out;
    }
    rc = 0;
out:
    free(storage);
    return rc;
}

/* ---- JSON to wire */

typedef struct {
    const qtd_sim_doc_t *doc;
    void **allocs; /* everything malloc'ed for the tree */
    size_t nallocs;
    size_t cap;
    char *err;
    size_t errlen;
} build_t;

static void *track(build_t *b, void *p)
{
    if (p == NULL) {
        return NULL;
    }
    if (b->nallocs == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 32;
        void **na = realloc(b->allocs, nc * sizeof(*na));
        if (na == NULL) {
            free(p);
            return NULL;
        }
        b->allocs = na;
        b->cap = nc;
    }
    b->allocs[b->nallocs++] = p;
    return p;
}

static int bad(build_t *b, const char *where, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(b->err, b->errlen, "%s: ", where);

    if (n >= 0 && (size_t)n < b->errlen) {
        va_start(ap, fmt);
        vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static bool is_hex_object(const cJSON *j)
{
    return cJSON_IsObject(j) && j->child != NULL && j->child->next == NULL &&
           j->child->string != NULL && strcmp(j->child->string, "hex") == 0 &&
           cJSON_IsString(j->child);
}

static int build(build_t *b, const cJSON *j, qtd_value_t *v, const char *where, int depth)
{
    if (depth > QTD_TTLV_MAX_DEPTH) {
        return bad(b, where, "nested deeper than %d", QTD_TTLV_MAX_DEPTH);
    }
    if (cJSON_IsBool(j)) {
        v->type = QTD_VAL_BOOL;
        v->u.b = cJSON_IsTrue(j);
    } else if (cJSON_IsNumber(j)) {
        const char *text = qtd_sim_doc_number(b->doc, j);
        char *end = NULL;
        if (text == NULL) {
            return bad(b, where, "number of unknown form");
        }
        errno = 0;
        if (strpbrk(text, ".eE") != NULL) {
            v->type = QTD_VAL_DOUBLE;
            v->u.d = strtod(text, &end);
        } else {
            v->type = QTD_VAL_INT;
            v->u.i = strtoll(text, &end, 10);
        }
        if (errno != 0 || end == text || *end != '\0') {
            return bad(b, where, "%s is out of range", text);
        }
    } else if (cJSON_IsString(j)) {
        v->type = QTD_VAL_STRING;
        v->u.s.ptr = j->valuestring;
        v->u.s.len = strlen(j->valuestring);
    } else if (is_hex_object(j) && depth > 0) {
        uint8_t *bytes = NULL;
        size_t n = 0;
        int rc = qtd_sim_hex_decode(j->child->valuestring, &bytes, &n);
        if (rc != 0) {
            return rc == -ENOMEM ? rc : bad(b, where, "\"hex\" is not hex");
        }
        if (bytes != NULL && track(b, bytes) == NULL) {
            return -ENOMEM;
        }
        v->type = QTD_VAL_BYTES;
        v->u.s.ptr = (const char *)bytes;
        v->u.s.len = n;
    } else if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
        int count = cJSON_GetArraySize(j);
        const cJSON *c;
        size_t i = 0;

        v->type = cJSON_IsArray(j) ? QTD_VAL_ARRAY : QTD_VAL_STRUCT;
        v->u.list.count = (size_t)count;
        v->u.list.items = NULL;
        if (count > 0) {
            v->u.list.items = track(b, calloc((size_t)count, sizeof(qtd_value_t)));
            if (v->u.list.items == NULL) {
                return -ENOMEM;
            }
        }
        cJSON_ArrayForEach(c, j)
        {
            qtd_value_t *cv = &v->u.list.items[i++];
            char here[48];
            int rc;

            if (v->type == QTD_VAL_STRUCT) {
                char *end = NULL;
                long id = strtol(c->string, &end, 10);
                if (c->string[0] < '0' || c->string[0] > '9' || *end != '\0' || id < 1 ||
                    id > QTD_TTLV_MAX_ID) {
                    return bad(b, where, "key \"%s\" is not a TSL id (1..%d)", c->string,
                               QTD_TTLV_MAX_ID);
                }
                cv->id = (uint16_t)id;
                snprintf(here, sizeof(here), "%s.%ld", where, id);
            } else {
                snprintf(here, sizeof(here), "%s[%zu]", where, i - 1);
            }
            rc = build(b, c, cv, here, depth + 1);
            if (rc != 0) {
                return rc;
            }
        }
    } else {
        return bad(b, where, "null has no TTLV form");
    }
    return 0;
}

int qtd_sim_json_to_ttlv(const qtd_sim_doc_t *doc, const cJSON *obj, uint8_t **out, size_t *len,
                         char *err, size_t errlen)
{
    build_t b = {doc, NULL, 0, 0, err, errlen};
    qtd_value_t root;
    int rc;

    memset(&root, 0, sizeof(root));
    *out = NULL;
    *len = 0;
    if (!cJSON_IsObject(obj)) {
        return bad(&b, "data", "must be an object keyed by TSL ids");
    }
    rc = build(&b, obj, &root, "data", 0);
    if (rc == 0) {
        rc = qtd_ttlv_encode(&root, out, len);
        if (rc == -EINVAL) {
            bad(&b, "data",
                "refused by the TTLV encoder (a number of 2^64 or more, "
                "text longer than 65535 or too deep)");
        }
    }
    for (size_t i = 0; i < b.nallocs; i++) {
        free(b.allocs[i]);
    }
    free(b.allocs);
    return rc;
}

int qtd_sim_json_to_ids(const cJSON *arr, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    int n = cJSON_GetArraySize(arr);
    const cJSON *c;
    size_t i = 0;

    *out = NULL;
    *len = 0;
    if (!cJSON_IsArray(arr)) {
        snprintf(err, errlen, "ids: must be an array of numbers");
        return -EINVAL;
    }
    if (n == 0) {
        return 0;
    }
    *out = malloc((size_t)n * 2);
    if (*out == NULL) {
        return -ENOMEM;
    }
    cJSON_ArrayForEach(c, arr)
    {
        double d = cJSON_IsNumber(c) ? c->valuedouble : -1;
        if (d < 0 || d > 65535 || d != floor(d)) {
            snprintf(err, errlen, "ids[%zu]: must be an integer 0..65535", i);
            free(*out);
            *out = NULL;
            return -EINVAL;
        }
        (*out)[2 * i] = (uint8_t)((unsigned)d >> 8);
        (*out)[2 * i + 1] = (uint8_t)((unsigned)d & 0xFF);
        i++;
    }
    *len = 2 * i;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int qtd_sim_hex_decode(const char *hex, uint8_t **out, size_t *len)
{
    size_t n = strlen(hex);
    size_t k = 0;
    int hi = -1;
    uint8_t *buf;

    *out = NULL;
    *len = 0;
    buf = malloc(n / 2 + 1);
    if (buf == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        int v;
        if (hex[i] == ' ' || hex[i] == ':' || hex[i] == '\n' || hex[i] == '\t' || hex[i] == '\r') {
            continue;
        }
        v = hexval(hex[i]);
        if (v < 0) {
            free(buf);
            return -EINVAL;
        }
        if (hi < 0) {
            hi = v;
        } else {
            buf[k++] = (uint8_t)((hi << 4) | v);
            hi = -1;
        }
    }
    if (hi >= 0) {
        free(buf);
        return -EINVAL;
    }
    if (k == 0) {
        free(buf);
        return 0;
    }
    *out = buf;
    *len = k;
    return 0;
}
