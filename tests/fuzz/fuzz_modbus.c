/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the Modbus register maps (plugins/modbus/modbus_map.c). The first
 * bytes choose a point (table, type, word and byte order, count, address, scale, access;
 * values the key table would refuse included), the rest are the registers or bits a slave
 * answered. Compiling must either work or name the point's key path; a value decoded from
 * the registers must encode back: to the same registers for an unscaled integer, float or
 * bool, and for any type to registers that decode to the same value again. Any difference
 * traps.
 *   clang -g -fsanitize=fuzzer,address,undefined -I. -Iplugins/modbus -Iagent/include
 *         tests/fuzz/fuzz_modbus.c plugins/modbus/modbus_map.c agent/value.c agent/alloc.c -lm
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/bus.h"
#include "modbus_map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const tables[] = {"coil", "discrete", "holding", "input"};
static const char *const types[] = {"bool", "u16", "s16",     "u32",     "s32",
                                    "u64",  "s64", "float32", "float64", "string"};
static const char *const accesses[] = {"r", "w", "rw"};
static const double scales[] = {1, 0.1, 10, -2, 0, 1e-300};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6) {
        return 0;
    }
    mb_point_cfg_t c = {.id = 1 + data[0],
                        .table = tables[data[1] & 3],
                        .type = types[(data[1] >> 2) % 10],
                        .word_order = data[2] & 1 ? "little" : "big",
                        .byte_order = data[2] & 2 ? "little" : "big",
                        .access = accesses[(data[2] >> 2) % 3],
                        .report = data[2] & 32 ? "period" : "change",
                        .count = data[3] % 130,
                        .address = (int64_t)data[4] << 8 | data[5],
                        .scale = scales[(data[2] >> 6) % 6],
                        .offset = data[0] & 1 ? -5 : 0};
    if (data[0] & 2) {
        c.address += 65000;
    }
    mb_slave_cfg_t s = {.port = "p", .unit = 1, .points = {1, &c}};
    mb_map_t m;
    char err[320];
    int rc = mb_map_compile(&s, 1000, "modbus.slaves[1]", &m, err, sizeof(err));
    if (rc != 0) {
        if (rc == QTD_ECONFIG && strncmp(err, "modbus.slaves[1].points[1].", 27) != 0) {
            __builtin_trap();
        }
        return 0;
    }
    const mb_point_t *p = &m.points[0];
    if (p->address + p->count > 65536u || (m.n_batches != (p->readable ? 1u : 0u))) {
        __builtin_trap();
    }
    uint16_t regs[MB_MAX_POINT_REGS] = {0};
    uint8_t bits[1] = {0};
    size_t body = size - 6;
    for (size_t i = 0; i < p->count && 2 * i + 1 < body; i++) {
        regs[i] = (uint16_t)(data[6 + 2 * i] << 8 | data[7 + 2 * i]);
    }
    bits[0] = body > 0 ? data[6] & 1 : 0;
    qtd_value_t v, w;
    char buf[2 * MB_MAX_POINT_REGS + 1], buf2[2 * MB_MAX_POINT_REGS + 1], why[160];
    if (mb_decode(p, regs, bits, &v, buf, sizeof(buf)) != 0) {
        mb_map_free(&m);
        return 0;
    }
    uint16_t back[MB_MAX_POINT_REGS] = {0};
    uint8_t bit = 0;
    if (mb_encode(p, &v, back, &bit, why, sizeof(why)) != 0) {
        /* a scaled value may round out of range; anything else must encode */
        if (!p->scaled && !(p->type == MB_T_U64 && v.type == QTD_VAL_DOUBLE)) {
            __builtin_trap();
        }
        mb_map_free(&m);
        return 0;
    }
    bool is_bits = p->fn == MB_FN_COIL || p->fn == MB_FN_DISCRETE;
    if (!p->scaled && p->type != MB_T_STRING && !(p->type == MB_T_U64 && v.type != QTD_VAL_INT)) {
        if (is_bits ? bit != bits[0]
                    : (p->type == MB_T_BOOL ? (back[0] != 0) != (regs[0] != 0)
                                            : memcmp(back, regs, p->count * sizeof(uint16_t)))) {
            __builtin_trap();
        }
    }
    /* scaled: a float may grow past what the platform carries on the way back */
    if (!p->scaled &&
        (mb_decode(p, back, &bit, &w, buf2, sizeof(buf2)) != 0 || !qtd__value_equal(&v, &w))) {
        __builtin_trap();
    }
    mb_map_free(&m);
    return 0;
}
