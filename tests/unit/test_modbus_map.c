/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Register maps (plugins/modbus/modbus_map.c): the checks of a slave's points with the key
 * path of each error, the read batches (contiguous points, 125 registers / 2000 bits at
 * most, one table and period each), and values to and from registers for every type in
 * the four layouts (ABCD, CDAB, BADC, DCBA) against register images written out by hand
 * from IEEE 754 and two's complement, plus scale, offset, range refusals and deadband.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "modbus_map.h"

static mb_point_cfg_t pt(int id, const char *table, int address, const char *type)
{
    return (mb_point_cfg_t){.id = id,
                            .table = table,
                            .address = address,
                            .type = type,
                            .word_order = "big",
                            .byte_order = "big",
                            .scale = 1,
                            .access = "r",
                            .report = "change"};
}

static int compile(mb_point_cfg_t *pts, size_t n, mb_map_t *m, char *err, size_t en)
{
    mb_slave_cfg_t s = {.port = "p", .unit = 1, .points = {n, pts}};
    return mb_map_compile(&s, 1000, "modbus.slaves[3]", m, err, en);
}

static mb_point_t one(mb_point_cfg_t c)
{
    mb_map_t m;
    char err[256];
    assert_int_equal(compile(&c, 1, &m, err, sizeof(err)), 0);
    mb_point_t p = m.points[0];
    mb_map_free(&m);
    return p;
}

static void test_errors_name_the_key(void **state)
{
    (void)state;
    char err[256];
    mb_map_t m;
    mb_point_cfg_t pts[8];
    for (int i = 0; i < 8; i++) {
        pts[i] = pt(i + 1, "holding", i * 4, "u16");
    }
    pts[6] = pt(7, "coil", 0, "float32");
    assert_int_equal(compile(pts, 8, &m, err, sizeof(err)), QTD_ECONFIG);
    assert_string_equal(err, "modbus.slaves[3].points[7].type: a coil holds one bit: use type = "
                             "\"bool\" (or table = \"holding\" for a float32)");
    pts[6] = pt(7, "input", 0, "u16");
    pts[6].access = "rw";
    assert_int_equal(compile(pts, 8, &m, err, sizeof(err)), QTD_ECONFIG);
    assert_string_equal(err, "modbus.slaves[3].points[7].access: input registers cannot be "
                             "written: use access = \"r\"");
    pts[6] = pt(2, "holding", 100, "u16");
    assert_int_equal(compile(pts, 8, &m, err, sizeof(err)), QTD_ECONFIG);
    assert_string_equal(err, "modbus.slaves[3].points[7].id: 2 is points[2]'s already: each id "
                             "once");
    pts[6] = pt(7, "holding", 65535, "u32");
    assert_int_equal(compile(pts, 8, &m, err, sizeof(err)), QTD_ECONFIG);
    assert_non_null(strstr(err, "points[7].address: 65535 + 2 registers pass the last address"));
    pts[6] = pt(7, "holding", 0, "string");
    assert_int_equal(compile(pts, 8, &m, err, sizeof(err)), QTD_ECONFIG);
    assert_non_null(strstr(err, "points[7].count: a string needs count = 1..123"));
    pts[6] = pt(7, "holding", 0, "u32");
    pts[6].count = 4;
    assert_int_equal(compile(pts, 8, &m, err, sizeof(err)), QTD_ECONFIG);
    assert_non_null(strstr(err, "points[7].count: a u32 takes 2 registers: leave count out"));
    pts[6] = pt(7, "holding", 0, "bool");
    pts[6].scale = 10;
    assert_int_equal(compile(pts, 8, &m, err, sizeof(err)), QTD_ECONFIG);
    assert_non_null(strstr(err, "points[7].scale: a bool cannot be scaled"));
    pts[6] = pt(7, "holding", 0, "u16");
    pts[6].scale = 0;
    assert_int_equal(compile(pts, 8, &m, err, sizeof(err)), QTD_ECONFIG);
    assert_non_null(strstr(err, "points[7].scale: 0 would lose every value"));
    assert_int_equal(compile(pts, 0, &m, err, sizeof(err)), QTD_ECONFIG);
    assert_non_null(strstr(err, "modbus.slaves[3].points: empty"));
}

static void test_batches(void **state)
{
    (void)state;
    mb_point_cfg_t pts[8] = {
        pt(1, "holding", 10, "u32"),    pt(2, "holding", 0, "u16"),
        pt(3, "holding", 1, "float64"), pt(4, "holding", 5, "u16"), /* 0..5 contiguous */
        pt(5, "holding", 200, "u16"),   pt(6, "coil", 0, "bool"),
        pt(7, "coil", 1, "bool"),       pt(8, "coil", 3, "bool"), /* a gap: a read of its own */
    };
    pts[3].poll_ms = 0;
    pts[0].access = "w"; /* never polled */
    mb_map_t m;
    char err[256];
    assert_int_equal(compile(pts, 8, &m, err, sizeof(err)), 0);
    /* coils 0..1 in one read, coil 3 alone; holding 0..5, then 200 */
    assert_int_equal(m.n_batches, 4);
    assert_int_equal(m.batches[0].fn, MB_FN_COIL);
    assert_int_equal(m.batches[0].address, 0);
    assert_int_equal(m.batches[0].count, 2);
    assert_int_equal(m.batches[0].n, 2);
    assert_int_equal(m.batches[1].address, 3);
    assert_int_equal(m.batches[2].fn, MB_FN_HOLDING);
    assert_int_equal(m.batches[2].address, 0);
    assert_int_equal(m.batches[2].count, 6);
    assert_int_equal(m.batches[2].n, 3);
    assert_int_equal(m.batches[3].address, 200);
    mb_map_free(&m);

    /* 130 contiguous registers: 125 + 5; another period: a read of its own */
    mb_point_cfg_t many[131];
    for (int i = 0; i < 130; i++) {
        many[i] = pt(i + 1, "holding", i, "u16");
    }
    many[130] = pt(131, "holding", 130, "u16");
    many[130].poll_ms = 50;
    assert_int_equal(compile(many, 131, &m, err, sizeof(err)), 0);
    assert_int_equal(m.n_batches, 3);
    assert_int_equal(m.batches[0].poll_ms, 50);
    assert_int_equal(m.batches[0].address, 130);
    assert_int_equal(m.batches[1].poll_ms, 1000);
    assert_int_equal(m.batches[1].count, 125);
    assert_int_equal(m.batches[2].address, 125);
    assert_int_equal(m.batches[2].count, 5);
    mb_map_free(&m);

    /* 2001 contiguous coils: 2000 + 1 */
    static mb_point_cfg_t coils[2001];
    for (int i = 0; i < 2001; i++) {
        coils[i] = pt(i + 1, "coil", i, "bool");
    }
    assert_int_equal(compile(coils, 2001, &m, err, sizeof(err)), 0);
    assert_int_equal(m.n_batches, 2);
    assert_int_equal(m.batches[0].count, 2000);
    assert_int_equal(m.batches[1].address, 2000);
    assert_int_equal(m.batches[1].count, 1);
    mb_map_free(&m);
}

typedef struct {
    const char *type, *word, *byte;
    uint16_t regs[4];
    int kind; /* 0 int, 1 double */
    int64_t i;
    double d;
} vector_t;

/* Register images written out by hand: 12.5f = 0x41480000, -2.5 = 0xC004000000000000,
 * 0x12345678, -2 = 0xFFFFFFFE. */
static const vector_t vectors[] = {
    {"float32", "big", "big", {0x4148, 0x0000}, 1, 0, 12.5},
    {"float32", "little", "big", {0x0000, 0x4148}, 1, 0, 12.5},
    {"float32", "big", "little", {0x4841, 0x0000}, 1, 0, 12.5},
    {"float32", "little", "little", {0x0000, 0x4841}, 1, 0, 12.5},
    {"float64", "big", "big", {0xC004, 0, 0, 0}, 1, 0, -2.5},
    {"float64", "little", "little", {0, 0, 0, 0x04C0}, 1, 0, -2.5},
    {"u32", "big", "big", {0x1234, 0x5678}, 0, 0x12345678, 0},
    {"u32", "little", "big", {0x5678, 0x1234}, 0, 0x12345678, 0},
    {"s32", "big", "big", {0xFFFF, 0xFFFE}, 0, -2, 0},
    {"s32", "big", "little", {0xFFFF, 0xFEFF}, 0, -2, 0},
    {"s16", "big", "big", {0x8000}, 0, -32768, 0},
    {"u16", "big", "little", {0x3412}, 0, 0x1234, 0},
    {"u64", "big", "big", {0x0102, 0x0304, 0x0506, 0x0708}, 0, 0x0102030405060708, 0},
    {"s64", "little", "big", {0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF}, 0, -2, 0},
};

static void test_vectors_both_ways(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(vectors) / sizeof(vectors[0]); k++) {
        const vector_t *t = &vectors[k];
        mb_point_cfg_t c = pt(1, "holding", 0, t->type);
        c.word_order = t->word;
        c.byte_order = t->byte;
        c.access = "rw";
        mb_point_t p = one(c);
        qtd_value_t v;
        char buf[8];
        assert_int_equal(mb_decode(&p, t->regs, NULL, &v, buf, sizeof(buf)), 0);
        if (t->kind == 0) {
            assert_int_equal(v.type, QTD_VAL_INT);
            assert_int_equal(v.u.i, t->i);
        } else {
            assert_int_equal(v.type, QTD_VAL_DOUBLE);
            assert_true(v.u.d == t->d);
        }
        uint16_t regs[4] = {0};
        char why[160];
        assert_int_equal(mb_encode(&p, &v, regs, NULL, why, sizeof(why)), 0);
        assert_memory_equal(regs, t->regs, p.count * sizeof(uint16_t));
    }
}

static void test_scale_string_bool_and_refusals(void **state)
{
    (void)state;
    char why[160], buf[16];
    qtd_value_t v;
    uint16_t regs[4] = {0};
    uint8_t bit = 0;

    mb_point_cfg_t c = pt(1, "holding", 0, "s16");
    c.scale = 0.1;
    c.offset = -5;
    c.access = "rw";
    mb_point_t p = one(c);
    uint16_t raw = (uint16_t)-100; /* -100 * 0.1 - 5 = -15 */
    assert_int_equal(mb_decode(&p, &raw, NULL, &v, buf, sizeof(buf)), 0);
    assert_int_equal(v.type, QTD_VAL_DOUBLE);
    assert_true(v.u.d > -15.0000001 && v.u.d < -14.9999999);
    v = (qtd_value_t){.type = QTD_VAL_DOUBLE, .u.d = 20.5}; /* (20.5 + 5) / 0.1 = 255 */
    assert_int_equal(mb_encode(&p, &v, regs, NULL, why, sizeof(why)), 0);
    assert_int_equal(regs[0], 255);
    v.u.d = 4000; /* 40050 > 32767 */
    assert_int_equal(mb_encode(&p, &v, regs, NULL, why, sizeof(why)), QTD_EINVAL);
    assert_non_null(strstr(why, "out of range for a s16"));

    p = one(pt(1, "holding", 0, "u16"));
    v = (qtd_value_t){.type = QTD_VAL_INT, .u.i = 70000};
    assert_int_equal(mb_encode(&p, &v, regs, NULL, why, sizeof(why)), QTD_EINVAL);
    assert_string_equal(why, "70000 is out of range for a u16 (0..65535)");
    v = (qtd_value_t){.type = QTD_VAL_DOUBLE, .u.d = 1.5};
    assert_int_equal(mb_encode(&p, &v, regs, NULL, why, sizeof(why)), QTD_EINVAL);
    assert_string_equal(why, "1.5 is not an integer (a u16 point)");
    v = (qtd_value_t){.type = QTD_VAL_STRING, .u.s = {"x", 1}};
    assert_int_equal(mb_encode(&p, &v, regs, NULL, why, sizeof(why)), QTD_EINVAL);
    assert_string_equal(why, "a u16 point takes a number");

    c = pt(1, "holding", 0, "string");
    c.count = 2;
    p = one(c);
    uint16_t text[2] = {0x5154, 0x4400}; /* "QTD" */
    assert_int_equal(mb_decode(&p, text, NULL, &v, buf, sizeof(buf)), 0);
    assert_int_equal(v.type, QTD_VAL_STRING);
    assert_int_equal(v.u.s.len, 3);
    assert_memory_equal(v.u.s.ptr, "QTD", 3);
    v = (qtd_value_t){.type = QTD_VAL_STRING, .u.s = {"TOOLONG", 7}};
    assert_int_equal(mb_encode(&p, &v, regs, NULL, why, sizeof(why)), QTD_EINVAL);
    assert_string_equal(why, "7 bytes of text do not fit 2 registers (4 bytes)");

    p = one(pt(1, "coil", 0, "bool"));
    uint8_t on = 1;
    assert_int_equal(mb_decode(&p, NULL, &on, &v, buf, sizeof(buf)), 0);
    assert_true(v.type == QTD_VAL_BOOL && v.u.b);
    v = (qtd_value_t){.type = QTD_VAL_INT, .u.i = 2};
    assert_int_equal(mb_encode(&p, &v, NULL, &bit, why, sizeof(why)), QTD_EINVAL);
    v = (qtd_value_t){.type = QTD_VAL_BOOL, .u.b = true};
    assert_int_equal(mb_encode(&p, &v, NULL, &bit, why, sizeof(why)), 0);
    assert_int_equal(bit, 1);

    /* NaN and values past 2^64 are not reported (the platform's numbers carry 64 bits) */
    p = one(pt(1, "holding", 0, "float32"));
    uint16_t nan[2] = {0x7FC0, 0};
    uint16_t huge[2] = {0x7F00, 0}; /* 1.7e38 */
    assert_int_equal(mb_decode(&p, nan, NULL, &v, buf, sizeof(buf)), QTD_EINVAL);
    assert_int_equal(mb_decode(&p, huge, NULL, &v, buf, sizeof(buf)), QTD_EINVAL);
}

static void test_deadband(void **state)
{
    (void)state;
    mb_point_cfg_t c = pt(1, "holding", 0, "u16");
    c.deadband = 5;
    mb_point_t p = one(c);
    qtd_value_t none = {.type = QTD_VAL_NONE};
    qtd_value_t a = {.type = QTD_VAL_INT, .u.i = 100};
    qtd_value_t b = {.type = QTD_VAL_INT, .u.i = 105};
    qtd_value_t d = {.type = QTD_VAL_INT, .u.i = 106};
    assert_true(mb_changed(&p, &none, &a));
    assert_false(mb_changed(&p, &a, &b));
    assert_true(mb_changed(&p, &a, &d));
    p.deadband = 0;
    assert_true(mb_changed(&p, &a, &b));
    assert_false(mb_changed(&p, &a, &a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_name_the_key),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_vectors_both_ways),
        cmocka_unit_test(test_scale_string_bool_and_refusals),
        cmocka_unit_test(test_deadband),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
