/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulator's wire <-> JSON translation (sim/sim_json.c): documents that remember how
 * their numbers were written, the command table, frames and value trees to JSON, and JSON
 * to TTLV payloads, id lists and hex, with every refusal and its message. Expected JSON and
 * bytes are written out literally (the protocol's vectors where there are some); the codec
 * (tested in test_codec.c) only builds input frames and reads payloads back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <math.h>

#include <cJSON.h>

#include "bytes.h"
#include "cloud_frame.h"
#include "cloud_ttlv.h"
#include "sim_json.h"

/* ---- helpers -------------------------------------------------------------------------- */

/* o printed without spaces equals want (and o is freed). */
static void assert_json(cJSON *o, const char *want)
{
    char *text;

    assert_non_null(o);
    text = cJSON_PrintUnformatted(o);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
    cJSON_Delete(o);
}

/* The log form of the frame buf[0..n): qtd_sim_frame_to_json returns rc and prints want. */
static void expect_frame_json(const uint8_t *buf, size_t n, int rc, const char *want)
{
    cJSON *o = cJSON_CreateObject();

    assert_non_null(o);
    assert_int_equal(qtd_sim_frame_to_json(buf, n, o), rc);
    assert_json(o, want);
}

/* The frame of cmd with payload (pkgid 1), as qtd_frame_encode builds it; *n its length. */
static uint8_t *make_frame(uint16_t pkgid, uint16_t cmd, const uint8_t *payload, size_t len,
                           size_t *n)
{
    uint8_t *out = NULL;

    assert_int_equal(qtd_frame_encode(pkgid, cmd, payload, len, &out, n), 0);
    return out;
}

/* JSON text -> TTLV payload: rc, and on 0 the payload bytes in *out (malloc'ed). */
static int to_ttlv(const char *json, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    qtd_sim_doc_t doc;
    int rc;

    assert_int_equal(qtd_sim_doc_parse(json, &doc), 0);
    rc = qtd_sim_json_to_ttlv(&doc, doc.root, out, len, err, errlen);
    qtd_sim_doc_free(&doc);
    return rc;
}

/* json is refused with -EINVAL and exactly the message want; nothing is returned. */
static void expect_ttlv_refused(const char *json, const char *want)
{
    uint8_t *out = (uint8_t *)&out; /* must come back NULL */
    size_t len = 99;
    char err[256] = "";

    assert_int_equal(to_ttlv(json, &out, &len, err, sizeof(err)), -EINVAL);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_string_equal(err, want);
}

/* json -> TTLV -> value tree -> JSON prints want (the TTLV decoded by the codec). */
static void expect_ttlv_round_trip(const char *json, const char *want)
{
    uint8_t *out = NULL;
    size_t len = 0;
    size_t off = 0;
    char err[256] = "";
    qtd_value_t v;

    assert_int_equal(to_ttlv(json, &out, &len, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_non_null(out);
    assert_int_equal(qtd_ttlv_decode(out, len, &v, &off), 0);
    assert_json(qtd_sim_value_to_json(&v), want);
    qtd_ttlv_free(&v);
    free(out);
}

/* JSON array text -> u16 ids: rc, err, bytes. */
static int to_ids(const char *json, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    cJSON *arr = cJSON_Parse(json);
    int rc;

    assert_non_null(arr);
    rc = qtd_sim_json_to_ids(arr, out, len, err, errlen);
    cJSON_Delete(arr);
    return rc;
}

static void expect_ids_refused(const char *json, const char *want)
{
    uint8_t *out = (uint8_t *)&out;
    size_t len = 99;
    char err[128] = "";

    assert_int_equal(to_ids(json, &out, &len, err, sizeof(err)), -EINVAL);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_string_equal(err, want);
}

/* n levels of {"1": ...} around true: {"1": {"1": ... true}}. malloc'ed. */
static char *nested_objects(int n)
{
    char *s = malloc((size_t)n * 8 + 8);
    size_t k = 0;

    assert_non_null(s);
    for (int i = 0; i < n; i++) {
        memcpy(s + k, "{\"1\":", 5);
        k += 5;
    }
    memcpy(s + k, "true", 4);
    k += 4;
    memset(s + k, '}', (size_t)n);
    k += (size_t)n;
    s[k] = '\0';
    return s;
}

/* ---- documents that remember how numbers were written --------------------------------- */

static void doc_parse_keeps_number_texts(void **state)
{
    qtd_sim_doc_t doc;
    const cJSON *b;

    (void)state;
    assert_int_equal(
        qtd_sim_doc_parse(
            "{\"a\": 1, \"b\": [2.50, -3e2, 0, 1E+2], \"c\": {\"d\": 12345678901234567890}}", &doc),
        0);
    assert_true(cJSON_IsObject(doc.root));
    assert_int_equal(doc.n, 6);
    assert_string_equal(doc.texts[0], "1");
    assert_string_equal(doc.texts[1], "2.50");
    assert_string_equal(doc.texts[2], "-3e2");
    assert_string_equal(doc.texts[3], "0");
    assert_string_equal(doc.texts[4], "1E+2");
    assert_string_equal(doc.texts[5], "12345678901234567890");
    /* Each number item maps to its own text, whatever cJSON made of it. */
    assert_string_equal(qtd_sim_doc_number(&doc, cJSON_GetObjectItem(doc.root, "a")), "1");
    b = cJSON_GetObjectItem(doc.root, "b");
    assert_string_equal(qtd_sim_doc_number(&doc, cJSON_GetArrayItem(b, 0)), "2.50");
    assert_string_equal(qtd_sim_doc_number(&doc, cJSON_GetArrayItem(b, 1)), "-3e2");
    assert_true(cJSON_GetArrayItem(b, 1)->valuedouble == -300.0);
    assert_string_equal(
        qtd_sim_doc_number(&doc, cJSON_GetObjectItem(cJSON_GetObjectItem(doc.root, "c"), "d")),
        "12345678901234567890");
    /* Not numbers of this document: NULL. */
    assert_null(qtd_sim_doc_number(&doc, b));
    assert_null(qtd_sim_doc_number(&doc, doc.root));
    qtd_sim_doc_free(&doc);
    assert_null(doc.root);
    assert_int_equal(doc.n, 0);
}

static void doc_parse_digits_in_strings_are_not_numbers(void **state)
{
    qtd_sim_doc_t doc;

    (void)state;
    assert_int_equal(qtd_sim_doc_parse("{\"24\": \"12 34\", \"e\\\"5\": -6.5, \"7\": [\"8\", "
                                       "\"\\\\\", 9, true, false, null]}",
                                       &doc),
                     0);
    assert_int_equal(doc.n, 2);
    assert_string_equal(doc.texts[0], "-6.5");
    assert_string_equal(doc.texts[1], "9");
    assert_string_equal(qtd_sim_doc_number(&doc, cJSON_GetObjectItem(doc.root, "e\"5")), "-6.5");
    assert_null(qtd_sim_doc_number(&doc, cJSON_GetObjectItem(doc.root, "24")));
    qtd_sim_doc_free(&doc);
}

static void doc_parse_top_level_scalars(void **state)
{
    qtd_sim_doc_t doc;

    (void)state;
    assert_int_equal(qtd_sim_doc_parse(" 42 ", &doc), 0);
    assert_true(cJSON_IsNumber(doc.root));
    assert_int_equal(doc.n, 1);
    assert_string_equal(qtd_sim_doc_number(&doc, doc.root), "42");
    qtd_sim_doc_free(&doc);

    assert_int_equal(qtd_sim_doc_parse("\"x1\"", &doc), 0);
    assert_true(cJSON_IsString(doc.root));
    assert_string_equal(doc.root->valuestring, "x1");
    assert_int_equal(doc.n, 0);
    qtd_sim_doc_free(&doc);

    assert_int_equal(qtd_sim_doc_parse("[]", &doc), 0);
    assert_true(cJSON_IsArray(doc.root));
    assert_int_equal(doc.n, 0);
    qtd_sim_doc_free(&doc);
}

static void doc_parse_refuses_malformed(void **state)
{
    static const char *const bad[] = {
        "",         "   ",        "{",        "}",           "{\"a\":}", "{\"a\" 1}",
        "[1,]",     "[1 2]",      "nul",      "{} extra",    "1 2",      "{\"a\":1,}",
        "'single'", "{a: 1}",     "[\"open]", "{\"a\":01x}", "[1e]",     "[-]",
        "[.5]",     "{\"a\":1}}", "[[[]]",    "\"\\x\"",     "[1,,2]",   "{\"a\":tru}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        qtd_sim_doc_t doc;
        memset(&doc, 0x5A, sizeof(doc));
        if (qtd_sim_doc_parse(bad[i], &doc) != -EINVAL) {
            fail_msg("accepted: %s", bad[i]);
        }
        /* A refused document holds nothing and may be freed. */
        assert_null(doc.root);
        assert_null(doc.items);
        assert_null(doc.texts);
        assert_int_equal(doc.n, 0);
        qtd_sim_doc_free(&doc);
    }
    qtd_sim_doc_free(NULL);
}

static void doc_parse_big_and_nested(void **state)
{
    size_t count = 20000;
    char *text = malloc(count * 12 + 3);
    char *nested;
    size_t k = 0;
    qtd_sim_doc_t doc;

    (void)state;
    assert_non_null(text);
    text[k++] = '[';
    for (size_t i = 0; i < count; i++) {
        k += (size_t)sprintf(text + k, "%s%zu.%zu", i > 0 ? "," : "", i, i % 10);
    }
    text[k++] = ']';
    text[k] = '\0';
    assert_int_equal(qtd_sim_doc_parse(text, &doc), 0);
    assert_int_equal(doc.n, count);
    assert_string_equal(doc.texts[0], "0.0");
    assert_string_equal(doc.texts[12345], "12345.5");
    assert_string_equal(doc.texts[count - 1], "19999.9");
    assert_string_equal(qtd_sim_doc_number(&doc, cJSON_GetArrayItem(doc.root, 777)), "777.7");
    qtd_sim_doc_free(&doc);
    free(text);

    /* Deep nesting parses up to cJSON's limit (1000) and is refused beyond it. */
    nested = nested_objects(900);
    assert_int_equal(qtd_sim_doc_parse(nested, &doc), 0);
    assert_int_equal(doc.n, 0);
    qtd_sim_doc_free(&doc);
    free(nested);
    nested = nested_objects(1500);
    assert_int_equal(qtd_sim_doc_parse(nested, &doc), -EINVAL);
    assert_null(doc.root);
    free(nested);
}

/* ---- the command table ---------------------------------------------------------------- */

static void cmd_names_and_kinds(void **state)
{
    (void)state;
    assert_string_equal(qtd_sim_cmd_name(QTD_CMD_TSL_EVENT), "TSL_EVENT");
    assert_string_equal(qtd_sim_cmd_name(0x0013), "TSL_WRITE");
    assert_string_equal(qtd_sim_cmd_name(0x00B4), "DEV_CONFIG_WRITE");
    assert_string_equal(qtd_sim_cmd_name(0x0115), "OTA_REQUEST");
    assert_string_equal(qtd_sim_cmd_name(0x00C8), "SUB_OFFLINE");
    assert_null(qtd_sim_cmd_name(0x0000));
    assert_null(qtd_sim_cmd_name(0x7777));
    assert_null(qtd_sim_cmd_name(0xFFFF));

    assert_int_equal(qtd_sim_cmd_kind(QTD_CMD_TSL_REQ), 'i');
    assert_int_equal(qtd_sim_cmd_kind(QTD_CMD_STATUS_REQ), 'i');
    assert_int_equal(qtd_sim_cmd_kind(QTD_CMD_INFO_REQ), 'i');
    assert_int_equal(qtd_sim_cmd_kind(QTD_CMD_PASS_WRITE), 'r');
    assert_int_equal(qtd_sim_cmd_kind(QTD_CMD_PASS_EVENT), 'r');
    assert_int_equal(qtd_sim_cmd_kind(QTD_CMD_TSL_WRITE), 't');
    assert_int_equal(qtd_sim_cmd_kind(QTD_CMD_EXCE_WRITE), 't');
    assert_int_equal(qtd_sim_cmd_kind(0x00C0), 't');
    assert_int_equal(qtd_sim_cmd_kind(0x7777), 0);
}

static void cmd_parse_names_and_numbers(void **state)
{
    static const char *const bad[] = {
        "", "TSL", "TSL_WRITEX", "0x", "12abc", "-1", "65536", "0x10000", "1.5", "TSL WRITE",
    };

    (void)state;
    assert_int_equal(qtd_sim_cmd_parse("TSL_WRITE"), 0x0013);
    assert_int_equal(qtd_sim_cmd_parse("tsl_write"), 0x0013);
    assert_int_equal(qtd_sim_cmd_parse("Dev_Config_Write"), 0x00B4);
    assert_int_equal(qtd_sim_cmd_parse("SUB_AUTH"), 0x00C0);
    assert_int_equal(qtd_sim_cmd_parse("0x0013"), 19);
    assert_int_equal(qtd_sim_cmd_parse("0X00b4"), 0xB4);
    assert_int_equal(qtd_sim_cmd_parse("19"), 19);
    assert_int_equal(qtd_sim_cmd_parse("0"), 0);
    assert_int_equal(qtd_sim_cmd_parse("65535"), 0xFFFF);
    assert_int_equal(qtd_sim_cmd_parse("0x7777"), 0x7777); /* a number needs no name */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (qtd_sim_cmd_parse(bad[i]) != -1) {
            fail_msg("accepted: \"%s\"", bad[i]);
        }
    }
}

static void cmd_down_topic_types(void **state)
{
    (void)state;
    assert_string_equal(qtd_sim_down_topic_type(QTD_CMD_TSL_REQ), "bus");
    assert_string_equal(qtd_sim_down_topic_type(QTD_CMD_TSL_WRITE), "bus");
    assert_string_equal(qtd_sim_down_topic_type(QTD_CMD_PASS_WRITE), "bus");
    assert_string_equal(qtd_sim_down_topic_type(QTD_CMD_LOC_REQ), "bus");
    assert_string_equal(qtd_sim_down_topic_type(QTD_CMD_OTA_NOTIFY), "ota");
    assert_string_equal(qtd_sim_down_topic_type(QTD_CMD_OTA_REQUEST_RSP), "ota");
    assert_string_equal(qtd_sim_down_topic_type(QTD_CMD_OTA_FW_INFO), "ota");
    assert_string_equal(qtd_sim_down_topic_type(QTD_CMD_STATUS_REQ), "sys");
    assert_string_equal(qtd_sim_down_topic_type(QTD_CMD_INFO_REQ), "sys");
    assert_string_equal(qtd_sim_down_topic_type(QTD_CMD_EXCE_WRITE), "sys");
    assert_string_equal(qtd_sim_down_topic_type(QTD_CMD_DEV_CONFIG_WRITE), "sys");
    assert_string_equal(qtd_sim_down_topic_type(0x7777), "sys");
}

static void reason_names(void **state)
{
    (void)state;
    assert_string_equal(qtd_sim_reason_name(QTD_EXCE_PROTOCOL), "protocol");
    assert_string_equal(qtd_sim_reason_name(QTD_EXCE_LENGTH), "length");
    assert_string_equal(qtd_sim_reason_name(QTD_EXCE_CHECKSUM), "checksum");
    assert_string_equal(qtd_sim_reason_name(QTD_EXCE_COMMAND), "command");
    assert_string_equal(qtd_sim_reason_name(QTD_EXCE_UNFORMATTABLE), "unformattable");
    assert_string_equal(qtd_sim_reason_name(0), "unknown");
    assert_string_equal(qtd_sim_reason_name(99), "unknown");
    assert_string_equal(qtd_sim_reason_name(-1), "unknown");
}

/* ---- bytes, text, hex ----------------------------------------------------------------- */

static void utf8_accepts_and_refuses(void **state)
{
    (void)state;
    assert_true(qtd_sim_utf8_ok((const uint8_t *)"", 0));
    assert_true(qtd_sim_utf8_ok(B('h', 'i')));
    assert_true(qtd_sim_utf8_ok(B(0x68, 0xC3, 0xA9)));        /* hé */
    assert_true(qtd_sim_utf8_ok(B(0xE2, 0x82, 0xAC)));        /* € */
    assert_true(qtd_sim_utf8_ok(B(0xF0, 0x9F, 0x98, 0x80)));  /* U+1F600 */
    assert_true(qtd_sim_utf8_ok(B(0xF4, 0x8F, 0xBF, 0xBF)));  /* U+10FFFF */
    assert_true(qtd_sim_utf8_ok(B(0xEF, 0xBF, 0xBF)));        /* U+FFFF */
    assert_false(qtd_sim_utf8_ok(B('a', 0x00, 'b')));         /* NUL */
    assert_false(qtd_sim_utf8_ok(B(0x80)));                   /* lone continuation */
    assert_false(qtd_sim_utf8_ok(B(0xC0, 0x80)));             /* overlong NUL */
    assert_false(qtd_sim_utf8_ok(B(0xC1, 0xBF)));             /* overlong */
    assert_false(qtd_sim_utf8_ok(B(0xE0, 0x80, 0x80)));       /* overlong, 3 bytes */
    assert_false(qtd_sim_utf8_ok(B(0xF0, 0x80, 0x80, 0x80))); /* overlong, 4 bytes */
    assert_false(qtd_sim_utf8_ok(B(0xED, 0xA0, 0x80)));       /* surrogate D800 */
    assert_false(qtd_sim_utf8_ok(B(0xED, 0xBF, 0xBF)));       /* surrogate DFFF */
    assert_true(qtd_sim_utf8_ok(B(0xED, 0x9F, 0xBF)));        /* U+D7FF */
    assert_true(qtd_sim_utf8_ok(B(0xEE, 0x80, 0x80)));        /* U+E000 */
    assert_false(qtd_sim_utf8_ok(B(0xF4, 0x90, 0x80, 0x80))); /* past U+10FFFF */
    assert_false(qtd_sim_utf8_ok(B(0xF5, 0x80, 0x80, 0x80))); /* no such lead */
    assert_false(qtd_sim_utf8_ok(B(0xFF)));
    assert_false(qtd_sim_utf8_ok(B('a', 0xE2, 0x82))); /* cut short */
    assert_false(qtd_sim_utf8_ok(B(0xC3, 'a')));       /* not a continuation */
    /* The length counts, not a NUL: the first byte alone is fine. */
    assert_true(qtd_sim_utf8_ok((const uint8_t *)"a\xff", 1));
}

static void hex_encode_lowercase(void **state)
{
    char *h;

    (void)state;
    h = qtd_sim_hex_encode(B(0x00, 0xFF, 0xA5, 0x5A, 0x10));
    assert_string_equal(h, "00ffa55a10");
    free(h);
    h = qtd_sim_hex_encode((const uint8_t *)"", 0);
    assert_string_equal(h, "");
    free(h);
}

static void hex_decode_forms_and_refusals(void **state)
{
    static const char *const bad[] = {"abc", "zz", "0g", "aa5", "a-b0", "0x00", "\xc3\xa9"};
    uint8_t *out = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(qtd_sim_hex_decode("aa55", &out, &len), 0);
    assert_bytes(out, len, B(0xAA, 0x55));
    free(out);
    /* Upper case; spaces, colons, tabs and line ends between bytes. */
    assert_int_equal(qtd_sim_hex_decode("AA:55 0f\t\r\nFe", &out, &len), 0);
    assert_bytes(out, len, B(0xAA, 0x55, 0x0F, 0xFE));
    free(out);
    /* Nothing: no buffer. */
    out = (uint8_t *)&len;
    assert_int_equal(qtd_sim_hex_decode("", &out, &len), 0);
    assert_null(out);
    assert_int_equal(len, 0);
    out = (uint8_t *)&len;
    assert_int_equal(qtd_sim_hex_decode(" : \n", &out, &len), 0);
    assert_null(out);
    assert_int_equal(len, 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = (uint8_t *)&len;
        len = 7;
        if (qtd_sim_hex_decode(bad[i], &out, &len) != -EINVAL) {
            fail_msg("accepted: \"%s\"", bad[i]);
        }
        assert_null(out);
        assert_int_equal(len, 0);
    }
}

static void hex_round_trip_big(void **state)
{
    size_t n = 100000;
    uint8_t *bytes = malloc(n);
    uint8_t *back = NULL;
    size_t len = 0;
    char *h;

    (void)state;
    assert_non_null(bytes);
    for (size_t i = 0; i < n; i++) {
        bytes[i] = (uint8_t)(i * 131 + (i >> 8));
    }
    h = qtd_sim_hex_encode(bytes, n);
    assert_non_null(h);
    assert_int_equal(strlen(h), 2 * n);
    assert_int_equal(qtd_sim_hex_decode(h, &back, &len), 0);
    assert_bytes(back, len, bytes, n);
    free(back);
    free(h);
    free(bytes);
}

static void bytes_to_json_text_only_when_utf8(void **state)
{
    (void)state;
    assert_json(qtd_sim_bytes_to_json(B('h', 'i')), "{\"hex\":\"6869\",\"text\":\"hi\"}");
    assert_json(qtd_sim_bytes_to_json(B(0x68, 0xC3, 0xA9)),
                "{\"hex\":\"68c3a9\",\"text\":\"h\xc3\xa9\"}");
    assert_json(qtd_sim_bytes_to_json(B(0x00, 0x01)), "{\"hex\":\"0001\"}");
    assert_json(qtd_sim_bytes_to_json(B(0xFF)), "{\"hex\":\"ff\"}");
    assert_json(qtd_sim_bytes_to_json(B('"', '\\')), "{\"hex\":\"225c\",\"text\":\"\\\"\\\\\"}");
    assert_json(qtd_sim_bytes_to_json((const uint8_t *)"", 0), "{\"hex\":\"\",\"text\":\"\"}");
}

/* ---- value trees to JSON -------------------------------------------------------------- */

static qtd_value_t val(int type, uint16_t id)
{
    qtd_value_t v;

    memset(&v, 0, sizeof(v));
    v.type = (uint8_t)type;
    v.id = id;
    return v;
}

static qtd_value_t vint(uint16_t id, int64_t i)
{
    qtd_value_t v = val(QTD_VAL_INT, id);
    v.u.i = i;
    return v;
}

static qtd_value_t vdbl(uint16_t id, double d)
{
    qtd_value_t v = val(QTD_VAL_DOUBLE, id);
    v.u.d = d;
    return v;
}

static qtd_value_t vbytes(int type, uint16_t id, const void *p, size_t n)
{
    qtd_value_t v = val(type, id);
    v.u.s.ptr = p;
    v.u.s.len = n;
    return v;
}

static qtd_value_t vlist(int type, uint16_t id, qtd_value_t *items, size_t n)
{
    qtd_value_t v = val(type, id);
    v.u.list.items = items;
    v.u.list.count = n;
    return v;
}

static void value_to_json_every_type(void **state)
{
    qtd_value_t inner[1];
    qtd_value_t arr[3];
    qtd_value_t items[12];
    qtd_value_t root;

    (void)state;
    inner[0] = val(QTD_VAL_BOOL, 11); /* false */
    arr[0] = vint(0, 1);
    arr[1] = vbytes(QTD_VAL_STRING, 0, "x", 1);
    arr[2] = vdbl(0, 0.5);
    items[0] = val(QTD_VAL_BOOL, 1);
    items[0].u.b = true;
    items[1] = vint(2, -5);
    items[2] = vint(3, INT64_MIN);
    items[3] = vint(4, INT64_MAX);
    items[4] = vbytes(QTD_VAL_STRING, 5, "hi there", 2); /* the length counts */
    items[5] = vbytes(QTD_VAL_STRING, 6, "\xff\x01", 2); /* not text: bytes */
    items[6] = vbytes(QTD_VAL_STRING, 7, "a\0b", 3);     /* NUL: bytes */
    items[7] = vbytes(QTD_VAL_BYTES, 8, "ok", 2);        /* bytes stay bytes */
    items[8] = vlist(QTD_VAL_ARRAY, 9, arr, 3);
    items[9] = vlist(QTD_VAL_STRUCT, 10, inner, 1);
    items[10] = val(QTD_VAL_NONE, 12);
    items[11] = vlist(QTD_VAL_STRUCT, 8191, NULL, 0);
    root = vlist(QTD_VAL_STRUCT, 0, items, 12);
    assert_json(qtd_sim_value_to_json(&root),
                "{\"1\":true,\"2\":-5,\"3\":-9223372036854775808,\"4\":9223372036854775807,"
                "\"5\":\"hi\",\"6\":{\"hex\":\"ff01\"},\"7\":{\"hex\":\"610062\"},"
                "\"8\":{\"hex\":\"6f6b\"},\"9\":[1,\"x\",0.5],\"10\":{\"11\":false},"
                "\"12\":null,\"8191\":{}}");
}

/* A DOUBLE always shows '.' or an exponent, with the shortest text that reads back. */
static void value_to_json_doubles(void **state)
{
    static const struct {
        double d;
        const char *want;
    } cases[] = {
        {25.0, "25.0"},
        {12.5, "12.5"},
        {-0.25, "-0.25"},
        {0.1, "0.1"},
        {1e-07, "1e-07"},
        {1e300, "1e+300"},
        {-0.0, "-0.0"},
        {0.0, "0.0"},
        {1.0 / 3.0, "0.3333333333333333"},
        {123456789012345678.0, "1.2345678901234568e+17"},
        {4503599627370497.0, "4503599627370497.0"}, /* 2^52 + 1: 16 digits */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        qtd_value_t v = vdbl(1, cases[i].d);
        assert_json(qtd_sim_value_to_json(&v), cases[i].want);
    }
    /* No JSON form for NaN and infinities: null. */
    {
        qtd_value_t v = vdbl(1, NAN);
        assert_json(qtd_sim_value_to_json(&v), "null");
        v = vdbl(1, -INFINITY);
        assert_json(qtd_sim_value_to_json(&v), "null");
    }
}

/* ---- frames to JSON ------------------------------------------------------------------- */

static void frame_to_json_protocol_vectors(void **state)
{
    (void)state;
    /* docs/protocol.md: TSL_EVENT {1: true, 2: 25, 3: 12.5, 4: "hi"}, pkgid 1. */
    expect_frame_json(B(0xAA, 0xAA, 0x00, 0x15, 0xDE, 0x00, 0x01, 0x00, 0x14, 0x00, 0x09, 0x00,
                        0x12, 0x00, 0x19, 0x00, 0x1A, 0x08, 0x7D, 0x00, 0x23, 0x00, 0x02, 0x68,
                        0x69),
                      0,
                      "{\"pkgid\":1,\"cmd\":20,\"cmd_name\":\"TSL_EVENT\","
                      "\"data\":{\"1\":true,\"2\":25,\"3\":12.5,\"4\":\"hi\"}}");
    /* docs/protocol.md: TSL_WRITE {43: true}, pkgid 7. */
    expect_frame_json(B(0xAA, 0xAA, 0x00, 0x07, 0x74, 0x00, 0x07, 0x00, 0x13, 0x01, 0x59), 0,
                      "{\"pkgid\":7,\"cmd\":19,\"cmd_name\":\"TSL_WRITE\",\"data\":{\"43\":true}}");
}

static void frame_to_json_payload_kinds(void **state)
{
    uint8_t *f;
    size_t n;

    (void)state;
    /* u16 id lists (TSL_REQ, STATUS_REQ, INFO_REQ): arrays of numbers, empty allowed. */
    f = make_frame(3, QTD_CMD_TSL_REQ, B(0x00, 0x02, 0x00, 0x03, 0xFF, 0xFF), &n);
    expect_frame_json(f, n, 0,
                      "{\"pkgid\":3,\"cmd\":17,\"cmd_name\":\"TSL_REQ\",\"data\":[2,3,65535]}");
    free(f);
    f = make_frame(4, QTD_CMD_STATUS_REQ, NULL, 0, &n);
    expect_frame_json(f, n, 0, "{\"pkgid\":4,\"cmd\":49,\"cmd_name\":\"STATUS_REQ\",\"data\":[]}");
    free(f);
    /* Passthrough: hex, and text when it is UTF-8. */
    f = make_frame(5, QTD_CMD_PASS_EVENT, B('h', 'e', 'l', 'l', 'o'), &n);
    expect_frame_json(f, n, 0,
                      "{\"pkgid\":5,\"cmd\":36,\"cmd_name\":\"PASS_EVENT\","
                      "\"data\":{\"hex\":\"68656c6c6f\",\"text\":\"hello\"}}");
    free(f);
    f = make_frame(6, QTD_CMD_PASS_WRITE, B(0x00, 0xAA), &n);
    expect_frame_json(f, n, 0,
                      "{\"pkgid\":6,\"cmd\":35,\"cmd_name\":\"PASS_WRITE\","
                      "\"data\":{\"hex\":\"00aa\"}}");
    free(f);
    /* TTLV: an empty payload is an empty object. */
    f = make_frame(0xFFFE, QTD_CMD_INFO_RSP, NULL, 0, &n);
    expect_frame_json(f, n, 0,
                      "{\"pkgid\":65534,\"cmd\":66,\"cmd_name\":\"INFO_RSP\",\"data\":{}}");
    free(f);
}

static void frame_to_json_nested_ttlv(void **state)
{
    uint8_t *payload = NULL;
    size_t len = 0;
    char err[64] = "";
    uint8_t *f;
    size_t n;

    (void)state;
    assert_int_equal(to_ttlv("{\"6\": [1, 2], \"7\": {\"8\": -3, \"9\": [{\"1\": \"a\"}]}}",
                             &payload, &len, err, sizeof(err)),
                     0);
    f = make_frame(9, QTD_CMD_TSL_EVENT, payload, len, &n);
    expect_frame_json(f, n, 0,
                      "{\"pkgid\":9,\"cmd\":20,\"cmd_name\":\"TSL_EVENT\","
                      "\"data\":{\"6\":[1,2],\"7\":{\"8\":-3,\"9\":[{\"1\":\"a\"}]}}}");
    free(f);
    free(payload);
}

static void frame_to_json_malformed(void **state)
{
    static const uint8_t none[1];

    (void)state;
    /* Not a frame at all. */
    expect_frame_json(B('h', 'e', 'l', 'l', 'o'), 1,
                      "{\"error\":\"protocol\",\"hex\":\"68656c6c6f\"}");
    expect_frame_json(none, 0, 1, "{\"error\":\"protocol\",\"hex\":\"\"}");
    /* The protocol's TSL_WRITE with a wrong checksum (0x75): pkgid still shown. */
    expect_frame_json(B(0xAA, 0xAA, 0x00, 0x07, 0x75, 0x00, 0x07, 0x00, 0x13, 0x01, 0x59), 1,
                      "{\"pkgid\":7,\"error\":\"checksum\",\"hex\":\"aaaa000775000700130159\"}");
}

static void frame_to_json_malformed_details(void **state)
{
    uint8_t *f;
    size_t n;

    (void)state;
    /* The protocol's TSL_WRITE with one byte more than LEN says. */
    expect_frame_json(B(0xAA, 0xAA, 0x00, 0x07, 0x74, 0x00, 0x07, 0x00, 0x13, 0x01, 0x59, 0x00), 1,
                      "{\"pkgid\":7,\"error\":\"length\",\"hex\":\"aaaa00077400070013015900\"}");
    /* A well-formed frame of an unknown command: its payload in hex. */
    f = make_frame(8, 0x7777, B('x'), &n);
    expect_frame_json(f, n, 1,
                      "{\"pkgid\":8,\"cmd\":30583,\"cmd_name\":null,\"error\":\"command\","
                      "\"detail\":\"unknown command\",\"hex\":\"78\"}");
    free(f);
    /* A TTLV payload that does not decode: where it failed. */
    f = make_frame(7, QTD_CMD_TSL_EVENT, B(0x00, 0x09, 0xFF), &n);
    expect_frame_json(f, n, 1,
                      "{\"pkgid\":7,\"cmd\":20,\"cmd_name\":\"TSL_EVENT\","
                      "\"error\":\"unformattable\",\"detail\":\"TTLV error at payload byte 2\","
                      "\"hex\":\"0009ff\"}");
    free(f);
    /* An id list of odd length. */
    f = make_frame(6, QTD_CMD_INFO_REQ, B(0x00, 0x01, 0x02), &n);
    expect_frame_json(f, n, 1,
                      "{\"pkgid\":6,\"cmd\":65,\"cmd_name\":\"INFO_REQ\","
                      "\"error\":\"unformattable\",\"detail\":\"odd length of an id list\","
                      "\"hex\":\"000102\"}");
    free(f);
}

static void frame_to_json_big(void **state)
{
    size_t n = 10000;
    uint8_t *junk = malloc(n);
    uint8_t *ids = malloc(2 * 5000);
    cJSON *o;
    const cJSON *hex;
    const cJSON *data;
    uint8_t *f;
    size_t fn;

    (void)state;
    assert_non_null(junk);
    assert_non_null(ids);
    /* A malformed message shows at most its first 4096 bytes in hex. */
    memset(junk, 0x5A, n);
    o = cJSON_CreateObject();
    assert_int_equal(qtd_sim_frame_to_json(junk, n, o), 1);
    hex = cJSON_GetObjectItem(o, "hex");
    assert_true(cJSON_IsString(hex));
    assert_int_equal(strlen(hex->valuestring), 2 * 4096);
    assert_int_equal(strspn(hex->valuestring, "5a"), 2 * 4096);
    cJSON_Delete(o);
    /* A frame with 5000 ids. */
    for (size_t i = 0; i < 5000; i++) {
        ids[2 * i] = (uint8_t)(i >> 8);
        ids[2 * i + 1] = (uint8_t)i;
    }
    f = make_frame(1, QTD_CMD_TSL_REQ, ids, 2 * 5000, &fn);
    o = cJSON_CreateObject();
    assert_int_equal(qtd_sim_frame_to_json(f, fn, o), 0);
    data = cJSON_GetObjectItem(o, "data");
    assert_int_equal(cJSON_GetArraySize(data), 5000);
    assert_int_equal(cJSON_GetArrayItem(data, 0)->valueint, 0);
    assert_int_equal(cJSON_GetArrayItem(data, 4321)->valueint, 4321);
    assert_int_equal(cJSON_GetArrayItem(data, 4999)->valueint, 4999);
    cJSON_Delete(o);
    free(f);
    free(ids);
    free(junk);
}

/* ---- JSON to TTLV --------------------------------------------------------------------- */

static void json_to_ttlv_protocol_vector(void **state)
{
    uint8_t *out = NULL;
    size_t len = 0;
    char err[64] = "";

    (void)state;
    /* The payload of the protocol's TSL_EVENT vector. */
    assert_int_equal(to_ttlv("{\"1\": true, \"2\": 25, \"3\": 12.5, \"4\": \"hi\"}", &out, &len,
                             err, sizeof(err)),
                     0);
    assert_bytes(out, len,
                 B(0x00, 0x09, 0x00, 0x12, 0x00, 0x19, 0x00, 0x1A, 0x08, 0x7D, 0x00, 0x23, 0x00,
                   0x02, 0x68, 0x69));
    free(out);
    /* {43: true} of the TSL_WRITE vector; {43: false}. */
    assert_int_equal(to_ttlv("{\"43\": true}", &out, &len, err, sizeof(err)), 0);
    assert_bytes(out, len, B(0x01, 0x59));
    free(out);
    assert_int_equal(to_ttlv("{\"43\": false}", &out, &len, err, sizeof(err)), 0);
    assert_bytes(out, len, B(0x01, 0x58));
    free(out);
    /* An empty object: an empty payload, but a buffer. */
    out = NULL;
    assert_int_equal(to_ttlv("{}", &out, &len, err, sizeof(err)), 0);
    assert_non_null(out);
    assert_int_equal(len, 0);
    free(out);
}

static void json_to_ttlv_every_type(void **state)
{
    (void)state;
    expect_ttlv_round_trip(
        "{\"24\": true, \"25\": -100000, \"26\": 2.5, \"27\": \"text\", \"28\": {\"hex\": "
        "\"00ff\"},"
        " \"29\": {\"30\": false}, \"33\": [1, 2, 3], \"34\": [], \"35\": {\"hex\": \"\"},"
        " \"36\": [{\"1\": 1}, {\"2\": 2}]}",
        "{\"24\":true,\"25\":-100000,\"26\":2.5,\"27\":\"text\",\"28\":{\"hex\":\"00ff\"},"
        "\"29\":{\"30\":false},\"33\":[1,2,3],\"34\":{},\"35\":\"\","
        "\"36\":[{\"1\":1},{\"2\":2}]}");
}

/* A number without '.' or exponent is an INT exactly as written; any other a DOUBLE. */
static void json_to_ttlv_numbers_as_written(void **state)
{
    uint8_t *out = NULL;
    size_t len = 0;
    size_t off = 0;
    char err[64] = "";
    qtd_value_t v;

    (void)state;
    assert_int_equal(to_ttlv("{\"1\": 12345678901234567, \"2\": 9223372036854775807,"
                             " \"3\": -9223372036854775808, \"4\": 2.0, \"5\": 1e3,"
                             " \"6\": 0.001, \"7\": -0, \"8\": 25E-1}",
                             &out, &len, err, sizeof(err)),
                     0);
    assert_int_equal(qtd_ttlv_decode(out, len, &v, &off), 0);
    assert_int_equal(v.u.list.count, 8);
    /* Beyond a double's 53 bits, yet exact. */
    assert_int_equal(v.u.list.items[0].type, QTD_VAL_INT);
    assert_true(v.u.list.items[0].u.i == 12345678901234567LL);
    assert_int_equal(v.u.list.items[1].type, QTD_VAL_INT);
    assert_true(v.u.list.items[1].u.i == INT64_MAX);
    assert_int_equal(v.u.list.items[2].type, QTD_VAL_INT);
    assert_true(v.u.list.items[2].u.i == INT64_MIN);
    /* Whole DOUBLEs travel as integers (the encoder's rule), others with their places. */
    assert_int_equal(v.u.list.items[3].type, QTD_VAL_INT);
    assert_true(v.u.list.items[3].u.i == 2);
    assert_int_equal(v.u.list.items[4].type, QTD_VAL_INT);
    assert_true(v.u.list.items[4].u.i == 1000);
    assert_int_equal(v.u.list.items[5].type, QTD_VAL_DOUBLE);
    assert_true(v.u.list.items[5].u.d == 0.001);
    assert_int_equal(v.u.list.items[6].type, QTD_VAL_INT);
    assert_true(v.u.list.items[6].u.i == 0);
    assert_int_equal(v.u.list.items[7].type, QTD_VAL_DOUBLE);
    assert_true(v.u.list.items[7].u.d == 2.5);
    qtd_ttlv_free(&v);
    free(out);

    /* More than 15 places: rounded at 15, as the SDK sends such a float. */
    out = NULL;
    assert_int_equal(to_ttlv("{\"1\": 0.1234567890123456}", &out, &len, err, sizeof(err)), 0);
    off = 0;
    assert_int_equal(qtd_ttlv_decode(out, len, &v, &off), 0);
    assert_int_equal(v.u.list.items[0].type, QTD_VAL_DOUBLE);
    assert_true(v.u.list.items[0].u.d == 0.123456789012346);
    qtd_ttlv_free(&v);
    free(out);
}

static void json_to_ttlv_refusals(void **state)
{
    (void)state;
    expect_ttlv_refused("[1]", "data: must be an object keyed by TSL ids");
    expect_ttlv_refused("\"x\"", "data: must be an object keyed by TSL ids");
    expect_ttlv_refused("7", "data: must be an object keyed by TSL ids");
    expect_ttlv_refused("null", "data: must be an object keyed by TSL ids");
    expect_ttlv_refused("{\"x\": 1}", "data: key \"x\" is not a TSL id (1..8191)");
    expect_ttlv_refused("{\"0\": 1}", "data: key \"0\" is not a TSL id (1..8191)");
    expect_ttlv_refused("{\"8192\": 1}", "data: key \"8192\" is not a TSL id (1..8191)");
    expect_ttlv_refused("{\"-1\": 1}", "data: key \"-1\" is not a TSL id (1..8191)");
    expect_ttlv_refused("{\"1a\": 1}", "data: key \"1a\" is not a TSL id (1..8191)");
    expect_ttlv_refused("{\"\": 1}", "data: key \"\" is not a TSL id (1..8191)");
    expect_ttlv_refused("{\" 1\": 1}", "data: key \" 1\" is not a TSL id (1..8191)");
    expect_ttlv_refused("{\"1\": null}", "data.1: null has no TTLV form");
    /* The path names the place of the problem. */
    expect_ttlv_refused("{\"1\": true, \"2\": {\"3\": [true, null]}}",
                        "data.2.3[1]: null has no TTLV form");
    expect_ttlv_refused("{\"5\": [{\"x\": 1}]}", "data.5[0]: key \"x\" is not a TSL id (1..8191)");
    /* Numbers out of range as written. */
    expect_ttlv_refused("{\"1\": 9223372036854775808}",
                        "data.1: 9223372036854775808 is out of range");
    expect_ttlv_refused("{\"1\": -9223372036854775809}",
                        "data.1: -9223372036854775809 is out of range");
    expect_ttlv_refused("{\"2\": 1e999}", "data.2: 1e999 is out of range");
    /* {"hex": ...} is bytes only with one string member, and never as the payload itself. */
    expect_ttlv_refused("{\"1\": {\"hex\": \"zz\"}}", "data.1: \"hex\" is not hex");
    expect_ttlv_refused("{\"1\": {\"hex\": \"abc\"}}", "data.1: \"hex\" is not hex");
    expect_ttlv_refused("{\"1\": {\"hex\": 5}}", "data.1: key \"hex\" is not a TSL id (1..8191)");
    expect_ttlv_refused("{\"1\": {\"hex\": \"00\", \"2\": 1}}",
                        "data.1: key \"hex\" is not a TSL id (1..8191)");
    expect_ttlv_refused("{\"hex\": \"00\"}", "data: key \"hex\" is not a TSL id (1..8191)");
    /* What only the encoder refuses (a float with more than 15 places is rounded, not
     * refused: json_to_ttlv_numbers_as_written). */
    expect_ttlv_refused("{\"1\": 1e300}",
                        "data: refused by the TTLV encoder (a number of 2^64 or more, "
                        "text longer than 65535 or too deep)");
}

static void json_to_ttlv_nesting_limit(void **state)
{
    uint8_t *out = NULL;
    size_t len = 0;
    char err[128] = "";
    char *json;

    (void)state;
    /* The payload and 15 structs in it, the last holding true: the deepest TTLV allowed. */
    json = nested_objects(16);
    assert_int_equal(to_ttlv(json, &out, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 15 * 4 + 2);
    free(out);
    free(json);
    json = nested_objects(17);
    out = NULL;
    assert_int_equal(to_ttlv(json, &out, &len, err, sizeof(err)), -EINVAL);
    assert_null(out);
    assert_string_equal(err, "data.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1: nested deeper than 16");
    free(json);
}

static void json_to_ttlv_text_limits(void **state)
{
    size_t max = 65535;
    char *json = malloc(max + 32);
    uint8_t *out = NULL;
    size_t len = 0;
    char err[256] = "";

    (void)state;
    assert_non_null(json);
    /* The longest text: 65535 bytes after tag and length. */
    memcpy(json, "{\"1\": \"", 7);
    memset(json + 7, 'q', max);
    memcpy(json + 7 + max, "\"}", 3);
    assert_int_equal(to_ttlv(json, &out, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 2 + 2 + max);
    assert_bytes(out, 6, B(0x00, 0x0B, 0xFF, 0xFF, 'q', 'q'));
    assert_int_equal(out[len - 1], 'q');
    free(out);
    /* One more is refused. */
    memset(json + 7, 'q', max + 1);
    memcpy(json + 7 + max + 1, "\"}", 3);
    expect_ttlv_refused(json, "data: refused by the TTLV encoder (a number of 2^64 or more, "
                              "text longer than 65535 or too deep)");
    free(json);
}

static void json_to_ttlv_many_members(void **state)
{
    size_t count = 3000;
    char *json = malloc(count * 24 + 4);
    uint8_t *out = NULL;
    size_t len = 0;
    size_t off = 0;
    char err[64] = "";
    qtd_value_t v;
    size_t k = 0;

    (void)state;
    assert_non_null(json);
    json[k++] = '{';
    for (size_t i = 1; i <= count; i++) {
        k += (size_t)sprintf(json + k, "%s\"%zu\": %zu", i > 1 ? ", " : "", i, i * 1000);
    }
    json[k++] = '}';
    json[k] = '\0';
    assert_int_equal(to_ttlv(json, &out, &len, err, sizeof(err)), 0);
    assert_int_equal(qtd_ttlv_decode(out, len, &v, &off), 0);
    assert_int_equal(v.u.list.count, count);
    assert_int_equal(v.u.list.items[0].id, 1);
    assert_true(v.u.list.items[0].u.i == 1000);
    assert_int_equal(v.u.list.items[count - 1].id, count);
    assert_true(v.u.list.items[count - 1].u.i == (int64_t)count * 1000);
    qtd_ttlv_free(&v);
    free(out);
    free(json);
}

/* A number item that is not in the document has no text to read. */
static void json_to_ttlv_number_of_another_document(void **state)
{
    qtd_sim_doc_t doc;
    cJSON *obj = cJSON_CreateObject();
    uint8_t *out = NULL;
    size_t len = 0;
    char err[64] = "";

    (void)state;
    assert_non_null(cJSON_AddNumberToObject(obj, "1", 5));
    assert_int_equal(qtd_sim_doc_parse("{\"1\": 5}", &doc), 0);
    assert_int_equal(qtd_sim_json_to_ttlv(&doc, obj, &out, &len, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "data.1: number of unknown form");
    assert_null(out);
    qtd_sim_doc_free(&doc);
    cJSON_Delete(obj);
}

/* The message is cut to the buffer, never past it. */
static void json_to_ttlv_short_error_buffer(void **state)
{
    char err[10];
    uint8_t *out = NULL;
    size_t len = 0;

    (void)state;
    memset(err, '#', sizeof(err));
    assert_int_equal(to_ttlv("{\"x\": 1}", &out, &len, err, 8), -EINVAL);
    assert_string_equal(err, "data: k");
    assert_int_equal(err[8], '#');
    memset(err, '#', sizeof(err));
    assert_int_equal(to_ttlv("{\"x\": 1}", &out, &len, err, 4), -EINVAL);
    assert_string_equal(err, "dat");
    assert_int_equal(err[4], '#');
}

/* ---- JSON to id lists ----------------------------------------------------------------- */

static void json_to_ids_values(void **state)
{
    uint8_t *out = NULL;
    size_t len = 0;
    char err[64] = "";

    (void)state;
    assert_int_equal(to_ids("[1, 2, 65535, 0, 256, 3.0]", &out, &len, err, sizeof(err)), 0);
    assert_bytes(out, len,
                 B(0x00, 0x01, 0x00, 0x02, 0xFF, 0xFF, 0x00, 0x00, 0x01, 0x00, 0x00, 0x03));
    free(out);
    /* Empty: nothing, no buffer (reads everything). */
    out = (uint8_t *)&len;
    assert_int_equal(to_ids("[]", &out, &len, err, sizeof(err)), 0);
    assert_null(out);
    assert_int_equal(len, 0);
}

static void json_to_ids_refusals(void **state)
{
    char err[64] = "";
    uint8_t *out = (uint8_t *)err;
    size_t len = 5;

    (void)state;
    expect_ids_refused("{\"a\": 1}", "ids: must be an array of numbers");
    expect_ids_refused("5", "ids: must be an array of numbers");
    expect_ids_refused("\"1,2\"", "ids: must be an array of numbers");
    expect_ids_refused("[1.5]", "ids[0]: must be an integer 0..65535");
    expect_ids_refused("[1, -1]", "ids[1]: must be an integer 0..65535");
    expect_ids_refused("[1, 2, 65536]", "ids[2]: must be an integer 0..65535");
    expect_ids_refused("[\"1\"]", "ids[0]: must be an integer 0..65535");
    expect_ids_refused("[true]", "ids[0]: must be an integer 0..65535");
    expect_ids_refused("[null]", "ids[0]: must be an integer 0..65535");
    expect_ids_refused("[[1]]", "ids[0]: must be an integer 0..65535");
    assert_int_equal(qtd_sim_json_to_ids(NULL, &out, &len, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "ids: must be an array of numbers");
    assert_null(out);
    assert_int_equal(len, 0);
}

static void json_to_ids_big(void **state)
{
    size_t count = 30000;
    char *json = malloc(count * 7 + 3);
    uint8_t *out = NULL;
    size_t len = 0;
    char err[64] = "";
    size_t k = 0;

    (void)state;
    assert_non_null(json);
    json[k++] = '[';
    for (size_t i = 0; i < count; i++) {
        k += (size_t)sprintf(json + k, "%s%zu", i > 0 ? "," : "", (i * 7) % 65536);
    }
    json[k++] = ']';
    json[k] = '\0';
    assert_int_equal(to_ids(json, &out, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 2 * count);
    for (size_t i = 0; i < count; i++) {
        unsigned want = (unsigned)((i * 7) % 65536);
        if (out[2 * i] != (want >> 8) || out[2 * i + 1] != (want & 0xFF)) {
            fail_msg("id %zu: %02x%02x, want %04x", i, out[2 * i], out[2 * i + 1], want);
        }
    }
    free(out);
    free(json);
}

#define TESTS(X)                                                                                   \
    X(doc_parse_keeps_number_texts)                                                                \
    X(doc_parse_digits_in_strings_are_not_numbers)                                                 \
    X(doc_parse_top_level_scalars)                                                                 \
    X(doc_parse_refuses_malformed)                                                                 \
    X(doc_parse_big_and_nested)                                                                    \
    X(cmd_names_and_kinds)                                                                         \
    X(cmd_parse_names_and_numbers)                                                                 \
    X(cmd_down_topic_types)                                                                        \
    X(reason_names)                                                                                \
    X(utf8_accepts_and_refuses)                                                                    \
    X(hex_encode_lowercase)                                                                        \
    X(hex_decode_forms_and_refusals)                                                               \
    X(hex_round_trip_big)                                                                          \
    X(bytes_to_json_text_only_when_utf8)                                                           \
    X(value_to_json_every_type)                                                                    \
    X(value_to_json_doubles)                                                                       \
    X(frame_to_json_protocol_vectors)                                                              \
    X(frame_to_json_payload_kinds)                                                                 \
    X(frame_to_json_nested_ttlv)                                                                   \
    X(frame_to_json_malformed)                                                                     \
    X(frame_to_json_malformed_details)                                                             \
    X(frame_to_json_big)                                                                           \
    X(json_to_ttlv_protocol_vector)                                                                \
    X(json_to_ttlv_every_type)                                                                     \
    X(json_to_ttlv_numbers_as_written)                                                             \
    X(json_to_ttlv_refusals)                                                                       \
    X(json_to_ttlv_nesting_limit)                                                                  \
    X(json_to_ttlv_text_limits)                                                                    \
    X(json_to_ttlv_many_members)                                                                   \
    X(json_to_ttlv_number_of_another_document)                                                     \
    X(json_to_ttlv_short_error_buffer)                                                             \
    X(json_to_ids_values)                                                                          \
    X(json_to_ids_refusals)                                                                        \
    X(json_to_ids_big)

#define AS_TEST(name) cmocka_unit_test(name),

int main(void)
{
    const struct CMUnitTest tests[] = {TESTS(AS_TEST)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
