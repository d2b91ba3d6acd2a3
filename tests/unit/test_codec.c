/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire codec (plugins/cloud/cloud_frame.c, cloud_ttlv.c) against byte vectors: the two
 * captures of docs/protocol.md both ways, hand-computed frames for every escaping position,
 * hand-computed TTLV nodes for every type and edge value, and every refusal with its reason.
 * Expected bytes are written out literally here, never produced by the code under test.
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

#include "agent/bus.h"
#include "bytes.h"
#include "cloud_frame.h"
#include "cloud_ttlv.h"

/* ---- value tree helpers --------------------------------------------------------------- */

static qtd_value_t vbool(uint16_t id, bool b)
{
    qtd_value_t v = {.type = QTD_VAL_BOOL, .id = id};
    v.u.b = b;
    return v;
}

static qtd_value_t vint(uint16_t id, int64_t i)
{
    qtd_value_t v = {.type = QTD_VAL_INT, .id = id};
    v.u.i = i;
    return v;
}

static qtd_value_t vdbl(uint16_t id, double d)
{
    qtd_value_t v = {.type = QTD_VAL_DOUBLE, .id = id};
    v.u.d = d;
    return v;
}

static qtd_value_t vbytes(int type, uint16_t id, const void *p, size_t n)
{
    qtd_value_t v = {.type = (uint8_t)type, .id = id};
    v.u.s.ptr = p;
    v.u.s.len = n;
    return v;
}

static qtd_value_t vstr(uint16_t id, const char *s)
{
    return vbytes(QTD_VAL_STRING, id, s, strlen(s));
}

static qtd_value_t vlist(int type, uint16_t id, qtd_value_t *items, size_t n)
{
    qtd_value_t v = {.type = (uint8_t)type, .id = id};
    v.u.list.items = items;
    v.u.list.count = n;
    return v;
}

/* The payload STRUCT {node} encodes to exactly want. */
static void expect_node(qtd_value_t node, const uint8_t *want, size_t want_len)
{
    qtd_value_t top = vlist(QTD_VAL_STRUCT, 0, &node, 1);
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(qtd_ttlv_encode(&top, &out, &len), 0);
    assert_bytes(out, len, want, want_len);
    free(out);
}

/* Encoding the payload STRUCT {node} is refused with rc. */
static void expect_node_refused(qtd_value_t node, int rc)
{
    qtd_value_t top = vlist(QTD_VAL_STRUCT, 0, &node, 1);
    uint8_t *out = (uint8_t *)&top; /* must come back NULL */
    size_t len = 1;
    assert_int_equal(qtd_ttlv_encode(&top, &out, &len), rc);
    assert_null(out);
    assert_int_equal(len, 0);
}

/* Decoding buf gives a payload with exactly one node equal to want. */
static void expect_decode_one(const uint8_t *buf, size_t n, qtd_value_t want)
{
    qtd_value_t top;
    size_t off = 99;
    assert_int_equal(qtd_ttlv_decode(buf, n, &top, &off), 0);
    assert_int_equal(top.type, QTD_VAL_STRUCT);
    assert_int_equal(top.u.list.count, 1);
    assert_true(qtd__value_equal(&top.u.list.items[0], &want));
    qtd_ttlv_free(&top);
}

static void expect_decode_refused(const uint8_t *buf, size_t n, int rc, size_t err_off)
{
    qtd_value_t top;
    size_t off = 99;
    assert_int_equal(qtd_ttlv_decode(buf, n, &top, &off), rc);
    assert_int_equal(off, err_off);
    assert_int_equal(top.type, QTD_VAL_NONE);
}

/* ---- frame helpers -------------------------------------------------------------------- */

static void expect_frame(uint16_t pkgid, uint16_t cmd, const uint8_t *payload, size_t plen,
                         const uint8_t *want, size_t want_len)
{
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(qtd_frame_encode(pkgid, cmd, payload, plen, &out, &len), 0);
    assert_bytes(out, len, want, want_len);
    free(out);

    /* and back */
    qtd_frame_t f;
    uint8_t *storage = NULL;
    int reason = -1;
    assert_int_equal(qtd_frame_decode(want, want_len, &f, &storage, &reason), 0);
    assert_int_equal(reason, 0);
    assert_int_equal(f.pkgid, pkgid);
    assert_int_equal(f.cmd, cmd);
    assert_bytes(f.payload, f.len, payload, plen);
    free(storage);

    /* and its header alone, read in place */
    uint16_t id = 0;
    uint16_t c = 0;
    assert_int_equal(qtd_frame_header(want, want_len, &id, &c), 0);
    assert_int_equal(id, pkgid);
    assert_int_equal(c, cmd);
    if (want_len > QTD_FRAME_HEADER_LEN) {
        assert_int_equal(qtd_frame_header(want, QTD_FRAME_HEADER_LEN - 1, &id, &c), -EPROTO);
    }
}

/* Decoding is refused for reason; pkgid is what the answer can name (0 if unreadable). */
static void expect_frame_refused(const uint8_t *buf, size_t n, int reason, uint16_t pkgid)
{
    qtd_frame_t f;
    uint8_t *storage = (uint8_t *)&f;
    int why = -1;
    assert_int_equal(qtd_frame_decode(buf, n, &f, &storage, &why), -EPROTO);
    assert_int_equal(why, reason);
    assert_int_equal(f.pkgid, pkgid);
    assert_null(storage);
    assert_null(f.payload);
}

/* ---- the captured vectors ------------------------------------------------------------- */

static void frame_vector_tsl_write_bool_true(void **state)
{
    (void)state;
    static const uint8_t wire[] = {0xAA, 0xAA, 0x00, 0x07, 0x74, 0x00,
                                   0x07, 0x00, 0x13, 0x01, 0x59};
    qtd_frame_t f;
    uint8_t *storage = NULL;
    int reason = -1;
    assert_int_equal(qtd_frame_decode(wire, sizeof(wire), &f, &storage, &reason), 0);
    assert_int_equal(f.pkgid, 7);
    assert_int_equal(f.cmd, QTD_CMD_TSL_WRITE);
    assert_bytes(f.payload, f.len, B(0x01, 0x59));

    qtd_value_t top;
    size_t off = 0;
    assert_int_equal(qtd_ttlv_decode(f.payload, f.len, &top, &off), 0);
    qtd_value_t want = vbool(43, true);
    assert_int_equal(top.u.list.count, 1);
    assert_true(qtd__value_equal(&top.u.list.items[0], &want));
    qtd_ttlv_free(&top);
    free(storage);

    /* encoded the other way */
    qtd_value_t node = vbool(43, true);
    qtd_value_t payload = vlist(QTD_VAL_STRUCT, 0, &node, 1);
    uint8_t *ttlv = NULL;
    size_t ttlv_len = 0;
    assert_int_equal(qtd_ttlv_encode(&payload, &ttlv, &ttlv_len), 0);
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(qtd_frame_encode(7, QTD_CMD_TSL_WRITE, ttlv, ttlv_len, &out, &len), 0);
    assert_bytes(out, len, wire, sizeof(wire));
    free(out);
    free(ttlv);
}

static void frame_vector_phymodel_report(void **state)
{
    (void)state;
    static const uint8_t wire[] = {0xAA, 0xAA, 0x00, 0x15, 0xDE, 0x00, 0x01, 0x00, 0x14,
                                   0x00, 0x09, 0x00, 0x12, 0x00, 0x19, 0x00, 0x1A, 0x08,
                                   0x7D, 0x00, 0x23, 0x00, 0x02, 0x68, 0x69};
    qtd_value_t nodes[] = {vbool(1, true), vint(2, 25), vdbl(3, 12.5), vstr(4, "hi")};
    qtd_value_t payload = vlist(QTD_VAL_STRUCT, 0, nodes, 4);

    uint8_t *ttlv = NULL;
    size_t ttlv_len = 0;
    assert_int_equal(qtd_ttlv_encode(&payload, &ttlv, &ttlv_len), 0);
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(qtd_frame_encode(1, QTD_CMD_TSL_EVENT, ttlv, ttlv_len, &out, &len), 0);
    assert_bytes(out, len, wire, sizeof(wire));
    free(out);
    free(ttlv);

    qtd_frame_t f;
    uint8_t *storage = NULL;
    int reason = -1;
    assert_int_equal(qtd_frame_decode(wire, sizeof(wire), &f, &storage, &reason), 0);
    assert_int_equal(f.pkgid, 1);
    assert_int_equal(f.cmd, QTD_CMD_TSL_EVENT);
    qtd_value_t top;
    size_t off = 0;
    assert_int_equal(qtd_ttlv_decode(f.payload, f.len, &top, &off), 0);
    assert_true(qtd__value_equal(&top, &payload));
    assert_int_equal(top.u.list.items[1].type, QTD_VAL_INT);
    assert_int_equal(top.u.list.items[2].type, QTD_VAL_DOUBLE);
    assert_int_equal(top.u.list.items[3].u.s.ptr[2], '\0');
    qtd_ttlv_free(&top);
    free(storage);
}

/* ---- frames: escaping ----------------------------------------------------------------- */

static void frame_escape_payload_aa_aa(void **state)
{
    (void)state;
    /* SUM = 01 + 24 + AA + AA = 0x179 -> 79; both AA escaped (the second one is trailing) */
    expect_frame(1, QTD_CMD_PASS_EVENT, B(0xAA, 0xAA),
                 B(0xAA, 0xAA, 0x00, 0x07, 0x79, 0x00, 0x01, 0x00, 0x24, 0xAA, 0x55, 0xAA, 0x55));
}

static void frame_escape_payload_aa_55(void **state)
{
    (void)state;
    /* SUM = 01 + 24 + AA + 55 = 0x124 -> 24 */
    expect_frame(1, QTD_CMD_PASS_EVENT, B(0xAA, 0x55),
                 B(0xAA, 0xAA, 0x00, 0x07, 0x24, 0x00, 0x01, 0x00, 0x24, 0xAA, 0x55, 0x55));
}

static void frame_escape_trailing_aa(void **state)
{
    (void)state;
    /* SUM = 01 + 24 + 01 + AA = D0 */
    expect_frame(1, QTD_CMD_PASS_EVENT, B(0x01, 0xAA),
                 B(0xAA, 0xAA, 0x00, 0x07, 0xD0, 0x00, 0x01, 0x00, 0x24, 0x01, 0xAA, 0x55));
}

static void frame_escape_not_before_other_bytes(void **state)
{
    (void)state;
    /* AA followed by 01 is sent as is */
    expect_frame(1, QTD_CMD_PASS_EVENT, B(0xAA, 0x01),
                 B(0xAA, 0xAA, 0x00, 0x07, 0xD0, 0x00, 0x01, 0x00, 0x24, 0xAA, 0x01));
}

static void frame_escape_len_low_aa_before_sum_55(void **state)
{
    (void)state;
    /* 165 payload bytes: LEN = 00 AA; payload 30 00.. makes SUM = 01 + 24 + 30 = 55 */
    uint8_t payload[165] = {0x30};
    uint8_t want[9 + 1 + 165] = {0xAA, 0xAA, 0x00, 0xAA, 0x55, 0x55, 0x00, 0x01, 0x00, 0x24, 0x30};
    expect_frame(1, QTD_CMD_PASS_EVENT, payload, sizeof(payload), want, sizeof(want));
}

static void frame_escape_len_high_aa_after_header(void **state)
{
    (void)state;
    /* LEN = AA 00: the header's second AA is followed by AA, so 55 goes after the header */
    size_t plen = 0xAA00 - 5;
    uint8_t *payload = calloc(1, plen);
    uint8_t *want = calloc(1, 9 + 1 + plen);
    assert_non_null(payload);
    assert_non_null(want);
    memcpy(want, (const uint8_t[]){0xAA, 0xAA, 0x55, 0xAA, 0x00, 0x25, 0x00, 0x01, 0x00, 0x24}, 10);
    expect_frame(1, QTD_CMD_PASS_EVENT, payload, plen, want, 9 + 1 + plen);
    free(payload);
    free(want);
}

static void frame_escape_sum_aa(void **state)
{
    (void)state;
    /* pkgid 55 01, cmd 00 24, payload 30: SUM = 55 + 01 + 24 + 30 = AA, followed by 55 */
    expect_frame(0x5501, QTD_CMD_PASS_EVENT, B(0x30),
                 B(0xAA, 0xAA, 0x00, 0x06, 0xAA, 0x55, 0x55, 0x01, 0x00, 0x24, 0x30));
}

static void frame_escape_pkgid_aa(void **state)
{
    (void)state;
    /* pkgid AA AA, cmd 00 12, no payload: SUM = AA + AA + 12 = 0x166 -> 66 */
    expect_frame(0xAAAA, QTD_CMD_TSL_RSP, NULL, 0,
                 B(0xAA, 0xAA, 0x00, 0x05, 0x66, 0xAA, 0x55, 0xAA, 0x00, 0x12));
}

static void frame_escape_cmd_aa_trailing(void **state)
{
    (void)state;
    /* a command whose low byte is AA ends an empty frame: trailing AA gets its 55 */
    expect_frame(1, 0x00AA, NULL, 0, B(0xAA, 0xAA, 0x00, 0x05, 0xAB, 0x00, 0x01, 0x00, 0xAA, 0x55));
}

static void frame_escape_round_trip_patterns(void **state)
{
    (void)state;
    /* every 4-byte pattern over {AA, 55, 00} survives encode + decode */
    static const uint8_t alphabet[] = {0xAA, 0x55, 0x00};
    for (int code = 0; code < 81; code++) {
        uint8_t p[4];
        int c = code;
        for (int i = 0; i < 4; i++) {
            p[i] = alphabet[c % 3];
            c /= 3;
        }
        uint8_t *out = NULL;
        size_t len = 0;
        assert_int_equal(qtd_frame_encode(0xAA55, 0x55AA, p, 4, &out, &len), 0);
        qtd_frame_t f;
        uint8_t *storage = NULL;
        int reason = 0;
        assert_int_equal(qtd_frame_decode(out, len, &f, &storage, &reason), 0);
        assert_int_equal(f.pkgid, 0xAA55);
        assert_int_equal(f.cmd, 0x55AA);
        assert_bytes(f.payload, f.len, p, 4);
        free(storage);
        free(out);
    }
}

static void frame_decode_tolerates_unescaped_aa(void **state)
{
    (void)state;
    /* like the SDK's receiver: only a 55 after AA is special, an unescaped AA AA is data */
    qtd_frame_t f;
    uint8_t *storage = NULL;
    int reason = -1;
    const uint8_t wire[] = {0xAA, 0xAA, 0x00, 0x07, 0x79, 0x00, 0x01, 0x00, 0x24, 0xAA, 0xAA};
    assert_int_equal(qtd_frame_decode(wire, sizeof(wire), &f, &storage, &reason), 0);
    assert_bytes(f.payload, f.len, B(0xAA, 0xAA));
    free(storage);
}

static void frame_empty_payload(void **state)
{
    (void)state;
    /* STATUS_REQ with no ids: SUM = 02 + 31 = 33 */
    expect_frame(2, QTD_CMD_STATUS_REQ, NULL, 0,
                 B(0xAA, 0xAA, 0x00, 0x05, 0x33, 0x00, 0x02, 0x00, 0x31));
}

/* ---- frames: pkgid and topics --------------------------------------------------------- */

static void frame_pkgid_wraps(void **state)
{
    (void)state;
    assert_int_equal(qtd_frame_next_pkgid(0xFFFE), 1);
    assert_int_equal(qtd_frame_next_pkgid(0xFFFD), 0xFFFE);
    assert_int_equal(qtd_frame_next_pkgid(1), 2);
    assert_int_equal(qtd_frame_next_pkgid(0), 1);
    assert_int_equal(qtd_frame_next_pkgid(0xFFFF), 1);
}

static void frame_topic_types(void **state)
{
    (void)state;
    static const uint16_t sys[] = {0x0032, 0x0034, 0x0042, 0x0044, 0x00A4, 0x00C0, 0x00C1,
                                   0x00C2, 0x00C3, 0x00C4, 0x00C5, 0x00C6, 0x00C7, 0x00C8};
    static const uint16_t bus[] = {0x0012, 0x0014, 0x0024, 0x0122, 0x0124};
    static const uint16_t ota[] = {0x0112, 0x0114, 0x0115};
    static const uint16_t none[] = {0x0000, 0x0011, 0x0013, 0x0023, 0x0031, 0x0041, 0x00A3,
                                    0x00B4, 0x00BF, 0x00C9, 0x0111, 0x0113, 0x0123, 0xFFFF};
    for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
        assert_string_equal(qtd_frame_topic_type(sys[i]), "sys");
    }
    for (size_t i = 0; i < sizeof(bus) / sizeof(bus[0]); i++) {
        assert_string_equal(qtd_frame_topic_type(bus[i]), "bus");
    }
    for (size_t i = 0; i < sizeof(ota) / sizeof(ota[0]); i++) {
        assert_string_equal(qtd_frame_topic_type(ota[i]), "ota");
    }
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        assert_null(qtd_frame_topic_type(none[i]));
    }
}

/* ---- frames: refusals ----------------------------------------------------------------- */

static void frame_refuse_short_buffer(void **state)
{
    (void)state;
    expect_frame_refused(NULL, 0, QTD_EXCE_PROTOCOL, 0);
    expect_frame_refused(B(0xAA), QTD_EXCE_PROTOCOL, 0);
    expect_frame_refused(B(0xAA, 0xAA, 0x00, 0x05, 0x00, 0x00, 0x01, 0x00), QTD_EXCE_LENGTH, 0);
}

static void frame_refuse_bad_header(void **state)
{
    (void)state;
    expect_frame_refused(B(0xAB, 0xAA, 0x00, 0x07, 0x74, 0x00, 0x07, 0x00, 0x13, 0x01, 0x59),
                         QTD_EXCE_PROTOCOL, 0);
    expect_frame_refused(B(0xAA, 0x55, 0x00, 0x07, 0x74, 0x00, 0x07, 0x00, 0x13, 0x01, 0x59),
                         QTD_EXCE_PROTOCOL, 0);
}

static void frame_refuse_len_longer_than_bytes(void **state)
{
    (void)state;
    expect_frame_refused(B(0xAA, 0xAA, 0x00, 0x08, 0x74, 0x00, 0x07, 0x00, 0x13, 0x01, 0x59),
                         QTD_EXCE_LENGTH, 7);
}

static void frame_refuse_len_shorter_than_bytes(void **state)
{
    (void)state;
    expect_frame_refused(B(0xAA, 0xAA, 0x00, 0x06, 0x74, 0x00, 0x07, 0x00, 0x13, 0x01, 0x59),
                         QTD_EXCE_LENGTH, 7);
    expect_frame_refused(B(0xAA, 0xAA, 0x00, 0x07, 0x74, 0x00, 0x07, 0x00, 0x13, 0x01, 0x59, 0x00),
                         QTD_EXCE_LENGTH, 7);
    /* LEN below the 5 bytes of SUM, PKGID and CMD */
    expect_frame_refused(B(0xAA, 0xAA, 0x00, 0x04, 0x1A, 0x00, 0x07, 0x00, 0x13), QTD_EXCE_LENGTH,
                         7);
}

static void frame_refuse_bad_checksum(void **state)
{
    (void)state;
    expect_frame_refused(B(0xAA, 0xAA, 0x00, 0x07, 0x75, 0x00, 0x07, 0x00, 0x13, 0x01, 0x59),
                         QTD_EXCE_CHECKSUM, 7);
}

static void frame_refuse_pkgid_0_and_ffff(void **state)
{
    (void)state;
    /* checksums right (13 + 01 + 59 = 6D; FF + FF + 13 + 01 + 59 = 0x26B -> 6B) */
    expect_frame_refused(B(0xAA, 0xAA, 0x00, 0x07, 0x6D, 0x00, 0x00, 0x00, 0x13, 0x01, 0x59),
                         QTD_EXCE_PROTOCOL, 0);
    expect_frame_refused(B(0xAA, 0xAA, 0x00, 0x07, 0x6B, 0xFF, 0xFF, 0x00, 0x13, 0x01, 0x59),
                         QTD_EXCE_PROTOCOL, 0xFFFF);
}

static void frame_encode_refusals(void **state)
{
    (void)state;
    uint8_t *out = NULL;
    size_t len = 0;
    uint8_t one = 1;
    assert_int_equal(qtd_frame_encode(0, 0x14, &one, 1, &out, &len), -EINVAL);
    assert_int_equal(qtd_frame_encode(0xFFFF, 0x14, &one, 1, &out, &len), -EINVAL);
    assert_int_equal(qtd_frame_encode(1, 0x14, NULL, 1, &out, &len), -EINVAL);
    assert_int_equal(qtd_frame_encode(1, 0x14, &one, QTD_FRAME_MAX_PAYLOAD + 1, &out, &len),
                     -EMSGSIZE);
    assert_null(out);
    /* the largest payload is fine */
    uint8_t *big = calloc(1, QTD_FRAME_MAX_PAYLOAD);
    assert_int_equal(qtd_frame_encode(1, 0x14, big, QTD_FRAME_MAX_PAYLOAD, &out, &len), 0);
    assert_int_equal(len, 9 + QTD_FRAME_MAX_PAYLOAD);
    assert_int_equal(out[2], 0xFF);
    assert_int_equal(out[3], 0xFF);
    free(out);
    free(big);
}

/* ---- TTLV: numbers -------------------------------------------------------------------- */

static void ttlv_number_zero(void **state)
{
    (void)state;
    expect_node(vint(1, 0), B(0x00, 0x0A, 0x00, 0x00));
    expect_node(vdbl(1, 0.0), B(0x00, 0x0A, 0x00, 0x00));
    expect_node(vdbl(1, -0.0), B(0x00, 0x0A, 0x00, 0x00));
    expect_decode_one(B(0x00, 0x0A, 0x00, 0x00), vint(1, 0));
}

static void ttlv_number_positive(void **state)
{
    (void)state;
    expect_node(vint(1, 255), B(0x00, 0x0A, 0x00, 0xFF));
    expect_node(vint(1, 256), B(0x00, 0x0A, 0x01, 0x01, 0x00));
    expect_decode_one(B(0x00, 0x0A, 0x01, 0x01, 0x00), vint(1, 256));
    /* a padded magnitude is read too (the SDK does) */
    expect_decode_one(B(0x00, 0x0A, 0x02, 0x00, 0x00, 0x05), vint(1, 5));
}

static void ttlv_number_negative(void **state)
{
    (void)state;
    expect_node(vint(1, -1), B(0x00, 0x0A, 0x80, 0x01));
    expect_node(vint(1, -300), B(0x00, 0x0A, 0x81, 0x01, 0x2C));
    expect_node(vdbl(1, -12.5), B(0x00, 0x0A, 0x88, 0x7D));
    expect_decode_one(B(0x00, 0x0A, 0x81, 0x01, 0x2C), vint(1, -300));
    expect_decode_one(B(0x00, 0x0A, 0x88, 0x7D), vdbl(1, -12.5));
}

static void ttlv_number_int64_max(void **state)
{
    (void)state;
    expect_node(vint(1, INT64_MAX),
                B(0x00, 0x0A, 0x07, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF));
    expect_decode_one(B(0x00, 0x0A, 0x07, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF),
                      vint(1, INT64_MAX));
}

static void ttlv_number_int64_min(void **state)
{
    (void)state;
    /* magnitude 2^63 takes 8 bytes, negative */
    expect_node(vint(1, INT64_MIN),
                B(0x00, 0x0A, 0x87, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00));
    expect_decode_one(B(0x00, 0x0A, 0x87, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00),
                      vint(1, INT64_MIN));
}

static void ttlv_number_beyond_int64(void **state)
{
    (void)state;
    /* 0 places with a magnitude beyond int64 (2^63, and 2^63 + 1 negative): a double */
    expect_decode_one(B(0x00, 0x0A, 0x07, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00),
                      vdbl(1, 0x1p63));
    expect_decode_one(B(0x00, 0x0A, 0x87, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01),
                      vdbl(1, -9223372036854775809.0));
    /* a whole double up to 2^64 goes out as its 64-bit magnitude, as the SDK's does:
     * 9.3e18 = 81 10 3C B9 FB 22 00 00 */
    expect_node(vdbl(1, 9.3e18),
                B(0x00, 0x0A, 0x07, 0x81, 0x10, 0x3C, 0xB9, 0xFB, 0x22, 0x00, 0x00));
    expect_node(vdbl(1, -9.3e18),
                B(0x00, 0x0A, 0x87, 0x81, 0x10, 0x3C, 0xB9, 0xFB, 0x22, 0x00, 0x00));
    /* 9e18 = 7C E6 6C 50 E2 84 00 00 */
    expect_node(vdbl(1, 9e18), B(0x00, 0x0A, 0x07, 0x7C, 0xE6, 0x6C, 0x50, 0xE2, 0x84, 0x00, 0x00));
    /* a magnitude whose nearest double is 2^64 is refused both ways */
    expect_decode_refused(B(0x00, 0x0A, 0x07, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF),
                          -EINVAL, 0);
    /* the largest double below 2^64 */
    expect_node(vdbl(1, 0x1.fffffffffffffp63),
                B(0x00, 0x0A, 0x07, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF8, 0x00));
}

static void ttlv_number_integral_double_has_no_places(void **state)
{
    (void)state;
    expect_node(vdbl(1, 1.0), B(0x00, 0x0A, 0x00, 0x01));
    /* 1e15 = 03 8D 7E A4 C6 80 00 */
    expect_node(vdbl(1, 1e15), B(0x00, 0x0A, 0x06, 0x03, 0x8D, 0x7E, 0xA4, 0xC6, 0x80, 0x00));
    /* comes back as an integer */
    expect_decode_one(B(0x00, 0x0A, 0x00, 0x01), vint(1, 1));
}

static void ttlv_number_whole_double_sent_exactly(void **state)
{
    (void)state;
    /* 1844674407369331712 (19 99 99 99 99 80 D4 00) is a double whose shortest text is
     * 1.8446744073693317e18; a whole number goes out as its exact integer, as the SDK does */
    expect_node(vdbl(1, 1844674407369331712.0),
                B(0x00, 0x0A, 0x07, 0x19, 0x99, 0x99, 0x99, 0x99, 0x80, 0xD4, 0x00));
    /* 2^63 either way: the magnitude 80 00 .. 00 */
    expect_node(vdbl(1, -0x1p63),
                B(0x00, 0x0A, 0x87, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00));
    expect_node(vdbl(1, 0x1p63),
                B(0x00, 0x0A, 0x07, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00));
}

static void ttlv_number_fewest_places(void **state)
{
    (void)state;
    expect_node(vdbl(1, 12.5), B(0x00, 0x0A, 0x08, 0x7D));
    expect_node(vdbl(1, 0.1), B(0x00, 0x0A, 0x08, 0x01));
    /* 0.3 is 0.299999999999999988898 in binary; its shortest decimal is 3 * 10^-1 */
    expect_node(vdbl(1, 0.3), B(0x00, 0x0A, 0x08, 0x03));
    /* 123.456 = 123456 (01 E2 40) * 10^-3 */
    expect_node(vdbl(1, 123.456), B(0x00, 0x0A, 0x1A, 0x01, 0xE2, 0x40));
    /* decimal places are read with correct rounding: 1 * 10^-1 is the double 0.1 */
    expect_decode_one(B(0x00, 0x0A, 0x08, 0x01), vdbl(1, 0.1));
    expect_decode_one(B(0x00, 0x0A, 0x1A, 0x01, 0xE2, 0x40), vdbl(1, 123.456));
    /* a redundant zero place decodes to the same double: 1250 * 10^-2 */
    expect_decode_one(B(0x00, 0x0A, 0x11, 0x04, 0xE2), vdbl(1, 12.5));
}

static void ttlv_number_15_places(void **state)
{
    (void)state;
    /* 0.123456789012345 = 123456789012345 (70 48 86 0D DF 79) * 10^-15: flags 0x7D */
    expect_node(vdbl(1, 0.123456789012345),
                B(0x00, 0x0A, 0x7D, 0x70, 0x48, 0x86, 0x0D, 0xDF, 0x79));
    expect_decode_one(B(0x00, 0x0A, 0x7D, 0x70, 0x48, 0x86, 0x0D, 0xDF, 0x79),
                      vdbl(1, 0.123456789012345));
    expect_node(vdbl(1, 1e-15), B(0x00, 0x0A, 0x78, 0x01));
    expect_node(vdbl(1, -1e-15), B(0x00, 0x0A, 0xF8, 0x01));
}

static void ttlv_number_beyond_15_places_rounded(void **state)
{
    (void)state;
    /* A float is never refused for its places (the SDK scales and sends it): rounded to
     * nearest at 15 places. 0.1 + 0.2 = 0.30000000000000004 goes out as 3 * 10^-1. */
    expect_node(vdbl(1, 0.1 + 0.2), B(0x00, 0x0A, 0x08, 0x03));
    /* 0.1234567890123456 -> 0.123456789012346 = 70 48 86 0D DF 7A * 10^-15 */
    expect_node(vdbl(1, 0.1234567890123456),
                B(0x00, 0x0A, 0x7D, 0x70, 0x48, 0x86, 0x0D, 0xDF, 0x7A));
    /* 2/3 = 0.666666666666667 (02 5E 54 6D D9 AA AB) * 10^-15, and negative */
    expect_node(vdbl(1, 2.0 / 3), B(0x00, 0x0A, 0x7E, 0x02, 0x5E, 0x54, 0x6D, 0xD9, 0xAA, 0xAB));
    expect_node(vdbl(1, -2.0 / 3), B(0x00, 0x0A, 0xFE, 0x02, 0x5E, 0x54, 0x6D, 0xD9, 0xAA, 0xAB));
    /* 6e-16 rounds to 1 * 10^-15; below half of that, to 0 */
    expect_node(vdbl(1, 6e-16), B(0x00, 0x0A, 0x78, 0x01));
    expect_node(vdbl(1, 1e-16), B(0x00, 0x0A, 0x00, 0x00));
    expect_node(vdbl(1, -1e-16), B(0x00, 0x0A, 0x00, 0x00));
    expect_node(vdbl(1, 5e-324), B(0x00, 0x0A, 0x00, 0x00));
}

static void ttlv_number_1e300_refused(void **state)
{
    (void)state;
    expect_node_refused(vdbl(1, 1e300), -EINVAL);
    expect_node_refused(vdbl(1, -1e300), -EINVAL);
    expect_node_refused(vdbl(1, 1e20), -EINVAL);
    /* 2^64 is the first magnitude that does not fit */
    expect_node_refused(vdbl(1, 0x1p64), -EINVAL);
    expect_node_refused(vdbl(1, -0x1p64), -EINVAL);
}

static void ttlv_number_nan_inf_refused(void **state)
{
    (void)state;
    expect_node_refused(vdbl(1, NAN), -EINVAL);
    expect_node_refused(vdbl(1, INFINITY), -EINVAL);
    expect_node_refused(vdbl(1, -INFINITY), -EINVAL);
}

static void ttlv_number_double_round_trip(void **state)
{
    (void)state;
    static const double values[] = {
        0.1,    0.2,        0.3,  1.1,   2.675, -99.99, 3.14159, 1e-15,    0.5,        1234567.891,
        -0.001, 98765.4321, 1e17, -1e-7, 0.7,   1.005,  4.35,    33.33333, 1.0 / 3 * 3};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        qtd_value_t node = vdbl(7, values[i]);
        qtd_value_t top = vlist(QTD_VAL_STRUCT, 0, &node, 1);
        uint8_t *out = NULL;
        size_t len = 0;
        assert_int_equal(qtd_ttlv_encode(&top, &out, &len), 0);
        qtd_value_t back;
        size_t off = 0;
        assert_int_equal(qtd_ttlv_decode(out, len, &back, &off), 0);
        const qtd_value_t *b = &back.u.list.items[0];
        double d = b->type == QTD_VAL_INT ? (double)b->u.i : b->u.d;
        if (d != values[i]) {
            fail_msg("%.17g came back as %.17g", values[i], d);
        }
        qtd_ttlv_free(&back);
        free(out);
    }
}

/* The shortest decimal that reads back as a (finite, > 0, not whole) the way the codec's
 * header describes it, found the slow way for the comparison below: the first of 1..17
 * significant digits with %.*e that strtod reads back equal; NULL when that would need more
 * than 15 places (the codec then rounds, compared elsewhere). */
static bool reference_decimal(double a, uint64_t *mag, unsigned *places)
{
    char text[48];
    int prec = 0;
    for (; prec <= 16; prec++) {
        snprintf(text, sizeof(text), "%.*e", prec, a);
        if (strtod(text, NULL) == a) {
            break;
        }
    }
    char *e = strchr(text, 'e');
    long exp10 = strtol(e + 1, NULL, 10);
    uint64_t m = 0;
    int digits = 0;
    for (const char *c = text; c < e; c++) {
        if (*c != '.') {
            m = m * 10 + (uint64_t)(*c - '0');
            digits++;
        }
    }
    while (m % 10 == 0) {
        m /= 10;
        digits--;
    }
    long scale = exp10 - (digits - 1);
    if (scale >= 0 || -scale > 15) {
        return false;
    }
    *mag = m;
    *places = (unsigned)-scale;
    return true;
}

/* The encoder's magnitude and places for a, read from the node's bytes. */
static void encoded_decimal(double a, uint64_t *mag, unsigned *places)
{
    qtd_value_t node = vdbl(1, a);
    qtd_value_t top = vlist(QTD_VAL_STRUCT, 0, &node, 1);
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(qtd_ttlv_encode(&top, &out, &len), 0);
    /* the payload's one node: tag (2 bytes), flags, magnitude */
    uint8_t flags = out[2];
    size_t n = (size_t)(flags & 7) + 1;
    assert_int_equal(len, 3 + n);
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++) {
        m = m << 8 | out[3 + i];
    }
    *mag = m;
    *places = (flags >> 3) & 15;
    free(out);
}

/* The encoder's decimals against the slow search on 400 000 doubles: decimals of 1..17
 * digits at 1..17 places read with strtod (most floats a device reports), and doubles of
 * random bits from 1e-6 to 1e15. */
static void ttlv_number_double_is_the_shortest_decimal(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ull; /* xorshift64: the same values every run */
    size_t compared = 0;
    for (int i = 0; i < 400000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double a;
        if (i % 2 == 0) {
            int digits = 1 + (int)(x % 17);
            int places = 1 + (int)((x >> 8) % 17);
            uint64_t limit = 1;
            for (int d = 0; d < digits; d++) {
                limit *= 10;
            }
            char text[64];
            snprintf(text, sizeof(text), "%llue-%d", (unsigned long long)((x >> 16) % limit),
                     places);
            a = strtod(text, NULL);
        } else {
            double u = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
            a = pow(10, -6 + 21 * u);
        }
        if (!(a > 0) || a >= 0x1p64 || floor(a) == a) {
            continue;
        }
        uint64_t want_mag, got_mag;
        unsigned want_places, got_places;
        if (!reference_decimal(a, &want_mag, &want_places)) {
            continue;
        }
        encoded_decimal(a, &got_mag, &got_places);
        if (got_mag != want_mag || got_places != want_places) {
            fail_msg("%.17g: encoded %llu * 10^-%u, the shortest decimal is %llu * 10^-%u", a,
                     (unsigned long long)got_mag, got_places, (unsigned long long)want_mag,
                     want_places);
        }
        compared++;
    }
    assert_true(compared > 300000);
}

static void ttlv_number_truncated_refused(void **state)
{
    (void)state;
    expect_decode_refused(B(0x00, 0x0A), -EINVAL, 0);
    expect_decode_refused(B(0x00, 0x0A, 0x01, 0x00), -EINVAL, 0);
    expect_decode_refused(B(0x00, 0x09, 0x00, 0x0A, 0x07, 0x01), -EINVAL, 2);
}

/* ---- TTLV: other types ---------------------------------------------------------------- */

static void ttlv_bool_false_and_true(void **state)
{
    (void)state;
    expect_node(vbool(1, false), B(0x00, 0x08));
    expect_node(vbool(1, true), B(0x00, 0x09));
    expect_decode_one(B(0x00, 0x08), vbool(1, false));
}

static void ttlv_id_max(void **state)
{
    (void)state;
    /* 8191 << 3 | 1 = FF F9 */
    expect_node(vbool(8191, true), B(0xFF, 0xF9));
    expect_decode_one(B(0xFF, 0xF9), vbool(8191, true));
}

static void ttlv_utf8_text(void **state)
{
    (void)state;
    /* "温度" */
    expect_node(vstr(1, "\xE6\xB8\xA9\xE5\xBA\xA6"),
                B(0x00, 0x0B, 0x00, 0x06, 0xE6, 0xB8, 0xA9, 0xE5, 0xBA, 0xA6));
    qtd_value_t top;
    size_t off = 0;
    assert_int_equal(
        qtd_ttlv_decode(B(0x00, 0x0B, 0x00, 0x06, 0xE6, 0xB8, 0xA9, 0xE5, 0xBA, 0xA6), &top, &off),
        0);
    assert_int_equal(top.u.list.items[0].type, QTD_VAL_STRING);
    assert_string_equal(top.u.list.items[0].u.s.ptr, "\xE6\xB8\xA9\xE5\xBA\xA6");
    qtd_ttlv_free(&top);
}

static void ttlv_bytes_embedded_nul(void **state)
{
    (void)state;
    static const uint8_t raw[] = {0x00, 0x41, 0x00};
    expect_node(vbytes(QTD_VAL_BYTES, 1, raw, 3), B(0x00, 0x0B, 0x00, 0x03, 0x00, 0x41, 0x00));
    qtd_value_t top;
    size_t off = 0;
    assert_int_equal(qtd_ttlv_decode(B(0x00, 0x0B, 0x00, 0x03, 0x00, 0x41, 0x00), &top, &off), 0);
    const qtd_value_t *v = &top.u.list.items[0];
    assert_int_equal(v->type, QTD_VAL_STRING); /* type 3 always decodes as STRING */
    assert_int_equal(v->u.s.len, 3);
    assert_memory_equal(v->u.s.ptr, raw, 3);
    assert_int_equal(v->u.s.ptr[3], '\0');
    qtd_ttlv_free(&top);
}

static void ttlv_empty_text(void **state)
{
    (void)state;
    expect_node(vbytes(QTD_VAL_STRING, 2, NULL, 0), B(0x00, 0x13, 0x00, 0x00));
    qtd_value_t top;
    size_t off = 0;
    assert_int_equal(qtd_ttlv_decode(B(0x00, 0x13, 0x00, 0x00), &top, &off), 0);
    assert_int_equal(top.u.list.items[0].u.s.len, 0);
    assert_string_equal(top.u.list.items[0].u.s.ptr, "");
    qtd_ttlv_free(&top);
}

static void ttlv_empty_struct(void **state)
{
    (void)state;
    expect_node(vlist(QTD_VAL_STRUCT, 1, NULL, 0), B(0x00, 0x0C, 0x00, 0x00));
    expect_decode_one(B(0x00, 0x0C, 0x00, 0x00), vlist(QTD_VAL_STRUCT, 1, NULL, 0));
}

static void ttlv_empty_array_is_empty_struct(void **state)
{
    (void)state;
    /* An empty array has no id-0 child to tell it from a struct: it goes out as a struct
     * with count 0 and comes back as an empty STRUCT (documented in cloud_ttlv.h). */
    expect_node(vlist(QTD_VAL_ARRAY, 1, NULL, 0), B(0x00, 0x0C, 0x00, 0x00));
    expect_decode_one(B(0x00, 0x0C, 0x00, 0x00), vlist(QTD_VAL_STRUCT, 1, NULL, 0));
}

static void ttlv_empty_payload(void **state)
{
    (void)state;
    qtd_value_t top = vlist(QTD_VAL_STRUCT, 0, NULL, 0);
    uint8_t *out = NULL;
    size_t len = 1;
    assert_int_equal(qtd_ttlv_encode(&top, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(len, 0);
    free(out);
    qtd_value_t back;
    size_t off = 0;
    assert_int_equal(qtd_ttlv_decode(NULL, 0, &back, &off), 0);
    assert_int_equal(back.type, QTD_VAL_STRUCT);
    assert_int_equal(back.u.list.count, 0);
    qtd_ttlv_free(&back);
}

static void ttlv_array_of_numbers(void **state)
{
    (void)state;
    qtd_value_t items[] = {vint(0, 1), vint(0, -2), vdbl(0, 0.5)};
    /* element ids are forced to 0 whatever the tree says */
    items[1].id = 9;
    static const uint8_t wire[] = {0x00, 0x14, 0x00, 0x03, 0x00, 0x02, 0x00, 0x01,
                                   0x00, 0x02, 0x80, 0x02, 0x00, 0x02, 0x08, 0x05};
    expect_node(vlist(QTD_VAL_ARRAY, 2, items, 3), wire, sizeof(wire));
    items[1].id = 0;
    expect_decode_one(wire, sizeof(wire), vlist(QTD_VAL_ARRAY, 2, items, 3));
}

static void ttlv_nested_struct_in_array(void **state)
{
    (void)state;
    qtd_value_t s1[] = {vint(1, 5)};
    qtd_value_t s2[] = {vstr(2, "x")};
    qtd_value_t arr[] = {vlist(QTD_VAL_STRUCT, 0, s1, 1), vlist(QTD_VAL_STRUCT, 0, s2, 1)};
    static const uint8_t wire[] = {0x00, 0x0C, 0x00, 0x02, 0x00, 0x04, 0x00, 0x01, 0x00, 0x0A, 0x00,
                                   0x05, 0x00, 0x04, 0x00, 0x01, 0x00, 0x13, 0x00, 0x01, 0x78};
    expect_node(vlist(QTD_VAL_ARRAY, 1, arr, 2), wire, sizeof(wire));
    expect_decode_one(wire, sizeof(wire), vlist(QTD_VAL_ARRAY, 1, arr, 2));
}

/* n nested structs {1: {1: ... {1: true}}} as wire bytes (4 bytes per level + 2). */
static uint8_t *nested_wire(int levels, size_t *len)
{
    uint8_t *p = malloc((size_t)levels * 4 + 2);
    for (int i = 0; i < levels; i++) {
        memcpy(p + i * 4, (const uint8_t[]){0x00, 0x0C, 0x00, 0x01}, 4);
    }
    p[levels * 4] = 0x00;
    p[levels * 4 + 1] = 0x09;
    *len = (size_t)levels * 4 + 2;
    return p;
}

static void ttlv_nesting_16_ok_17_refused(void **state)
{
    (void)state;
    qtd_value_t nodes[18];
    nodes[17] = vbool(1, true);
    for (int i = 16; i >= 0; i--) {
        nodes[i] = vlist(QTD_VAL_STRUCT, 1, &nodes[i + 1], 1);
    }
    /* nodes[1] holds 16 levels of struct, nodes[0] 17 */
    size_t len16 = 0;
    size_t len17 = 0;
    uint8_t *w16 = nested_wire(16, &len16);
    uint8_t *w17 = nested_wire(17, &len17);
    expect_node(nodes[1], w16, len16);
    expect_node_refused(nodes[0], -EINVAL);

    qtd_value_t top;
    size_t off = 0;
    assert_int_equal(qtd_ttlv_decode(w16, len16, &top, &off), 0);
    qtd_ttlv_free(&top);
    /* the 17th struct starts at byte 64 */
    expect_decode_refused(w17, len17, -EINVAL, 64);
    free(w16);
    free(w17);
}

/* ---- TTLV: refusals ------------------------------------------------------------------- */

static void ttlv_refuse_length_past_end(void **state)
{
    (void)state;
    expect_decode_refused(B(0x00, 0x0B, 0x00, 0x05, 0x41), -EINVAL, 0);
    expect_decode_refused(B(0x00, 0x0B, 0x00), -EINVAL, 0);
    expect_decode_refused(B(0x00, 0x09, 0x00), -EINVAL, 2);
}

static void ttlv_refuse_count_larger_than_rest(void **state)
{
    (void)state;
    expect_decode_refused(B(0x00, 0x0C, 0x00, 0x03, 0x00, 0x09), -EINVAL, 0);
    expect_decode_refused(B(0x00, 0x0C, 0xFF, 0xFF), -EINVAL, 0);
    /* the count fits the bytes but the second child is cut short */
    expect_decode_refused(B(0x00, 0x0C, 0x00, 0x02, 0x00, 0x09, 0x00, 0x0A), -EINVAL, 6);
}

static void ttlv_refuse_types_5_6_7(void **state)
{
    (void)state;
    expect_decode_refused(B(0x00, 0x0D, 0x00, 0x00), -ENOTSUP, 0);
    expect_decode_refused(B(0x00, 0x0E), -ENOTSUP, 0);
    expect_decode_refused(B(0x00, 0x0F), -ENOTSUP, 0);
    expect_decode_refused(B(0x00, 0x09, 0x00, 0x0C, 0x00, 0x01, 0x00, 0x0D), -ENOTSUP, 6);
}

static void ttlv_refuse_mixed_array_ids(void **state)
{
    (void)state;
    expect_decode_refused(B(0x00, 0x0C, 0x00, 0x02, 0x00, 0x01, 0x00, 0x09), -EINVAL, 6);
    expect_decode_refused(B(0x00, 0x0C, 0x00, 0x02, 0x00, 0x09, 0x00, 0x01), -EINVAL, 6);
}

static void ttlv_refuse_id_0_in_payload(void **state)
{
    (void)state;
    expect_decode_refused(B(0x00, 0x09, 0x00, 0x01), -EINVAL, 2);
    expect_node_refused(vbool(0, true), -EINVAL);
    qtd_value_t inner = vbool(0, true);
    expect_node_refused(vlist(QTD_VAL_STRUCT, 1, &inner, 1), -EINVAL);
}

static void ttlv_refuse_id_over_8191(void **state)
{
    (void)state;
    expect_node_refused(vbool(8192, true), -EINVAL);
    expect_node_refused(vint(0xFFFF, 1), -EINVAL);
    qtd_value_t inner = vbool(8192, true);
    expect_node_refused(vlist(QTD_VAL_STRUCT, 1, &inner, 1), -EINVAL);
}

static void ttlv_encode_refusals(void **state)
{
    (void)state;
    uint8_t *out = NULL;
    size_t len = 0;
    qtd_value_t node = vint(1, 1);
    qtd_value_t arr = vlist(QTD_VAL_ARRAY, 0, &node, 1);
    assert_int_equal(qtd_ttlv_encode(&arr, &out, &len), -EINVAL); /* not a STRUCT on top */
    assert_int_equal(qtd_ttlv_encode(&node, &out, &len), -EINVAL);
    assert_null(out);

    qtd_value_t none = {.type = QTD_VAL_NONE, .id = 1};
    expect_node_refused(none, -EINVAL);
    qtd_value_t bogus = {.type = 42, .id = 1};
    expect_node_refused(bogus, -EINVAL);

    char *big = calloc(1, 65536);
    expect_node_refused(vbytes(QTD_VAL_BYTES, 1, big, 65536), -EINVAL);
    free(big);
    expect_node_refused(vbytes(QTD_VAL_STRING, 1, NULL, 3), -EINVAL);
    expect_node_refused(vlist(QTD_VAL_STRUCT, 1, NULL, 2), -EINVAL);
}

static void ttlv_decoded_strings_are_nul_terminated(void **state)
{
    (void)state;
    qtd_value_t top;
    size_t off = 0;
    assert_int_equal(
        qtd_ttlv_decode(B(0x00, 0x0B, 0x00, 0x02, 0x6F, 0x6B, 0x00, 0x13, 0x00, 0x01, 0x21), &top,
                        &off),
        0);
    assert_int_equal(top.u.list.count, 2);
    assert_string_equal(top.u.list.items[0].u.s.ptr, "ok");
    assert_string_equal(top.u.list.items[1].u.s.ptr, "!");
    qtd_ttlv_free(&top);
    qtd_ttlv_free(NULL);
}

#define TESTS(X)                                                                                   \
    X(frame_vector_tsl_write_bool_true)                                                            \
    X(frame_vector_phymodel_report)                                                                \
    X(frame_escape_payload_aa_aa)                                                                  \
    X(frame_escape_payload_aa_55)                                                                  \
    X(frame_escape_trailing_aa)                                                                    \
    X(frame_escape_not_before_other_bytes)                                                         \
    X(frame_escape_len_low_aa_before_sum_55)                                                       \
    X(frame_escape_len_high_aa_after_header)                                                       \
    X(frame_escape_sum_aa)                                                                         \
    X(frame_escape_pkgid_aa)                                                                       \
    X(frame_escape_cmd_aa_trailing)                                                                \
    X(frame_escape_round_trip_patterns)                                                            \
    X(frame_decode_tolerates_unescaped_aa)                                                         \
    X(frame_empty_payload)                                                                         \
    X(frame_pkgid_wraps)                                                                           \
    X(frame_topic_types)                                                                           \
    X(frame_refuse_short_buffer)                                                                   \
    X(frame_refuse_bad_header)                                                                     \
    X(frame_refuse_len_longer_than_bytes)                                                          \
    X(frame_refuse_len_shorter_than_bytes)                                                         \
    X(frame_refuse_bad_checksum)                                                                   \
    X(frame_refuse_pkgid_0_and_ffff)                                                               \
    X(frame_encode_refusals)                                                                       \
    X(ttlv_number_zero)                                                                            \
    X(ttlv_number_positive)                                                                        \
    X(ttlv_number_negative)                                                                        \
    X(ttlv_number_int64_max)                                                                       \
    X(ttlv_number_int64_min)                                                                       \
    X(ttlv_number_beyond_int64)                                                                    \
    X(ttlv_number_integral_double_has_no_places)                                                   \
    X(ttlv_number_whole_double_sent_exactly)                                                       \
    X(ttlv_number_fewest_places)                                                                   \
    X(ttlv_number_15_places)                                                                       \
    X(ttlv_number_beyond_15_places_rounded)                                                        \
    X(ttlv_number_1e300_refused)                                                                   \
    X(ttlv_number_nan_inf_refused)                                                                 \
    X(ttlv_number_double_round_trip)                                                               \
    X(ttlv_number_double_is_the_shortest_decimal)                                                  \
    X(ttlv_number_truncated_refused)                                                               \
    X(ttlv_bool_false_and_true)                                                                    \
    X(ttlv_id_max)                                                                                 \
    X(ttlv_utf8_text)                                                                              \
    X(ttlv_bytes_embedded_nul)                                                                     \
    X(ttlv_empty_text)                                                                             \
    X(ttlv_empty_struct)                                                                           \
    X(ttlv_empty_array_is_empty_struct)                                                            \
    X(ttlv_empty_payload)                                                                          \
    X(ttlv_array_of_numbers)                                                                       \
    X(ttlv_nested_struct_in_array)                                                                 \
    X(ttlv_nesting_16_ok_17_refused)                                                               \
    X(ttlv_refuse_length_past_end)                                                                 \
    X(ttlv_refuse_count_larger_than_rest)                                                          \
    X(ttlv_refuse_types_5_6_7)                                                                     \
    X(ttlv_refuse_mixed_array_ids)                                                                 \
    X(ttlv_refuse_id_0_in_payload)                                                                 \
    X(ttlv_refuse_id_over_8191)                                                                    \
    X(ttlv_encode_refusals)                                                                        \
    X(ttlv_decoded_strings_are_nul_terminated)

#define AS_TEST(name) cmocka_unit_test(name),

int main(void)
{
    const struct CMUnitTest tests[] = {TESTS(AS_TEST)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
