/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Register maps (see modbus_map.h): compile a slave's points into sorted points and read
 * batches, and convert between registers and values. Registers are 16-bit words; a value
 * of several words is assembled most significant byte first ("big" word and byte order,
 * the Modbus convention), "little" word order takes the words from the last one, "little"
 * byte order swaps the two bytes of each word.
 */
#include "modbus_map.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const fn_names[] = {"coil", "discrete", "holding", "input"};
static const char *const type_names[] = {"bool", "u16", "s16",     "u32",     "s32",
                                         "u64",  "s64", "float32", "float64", "string"};

const char *mb_type_name(int type)
{
    return type >= 0 && type <= MB_T_STRING ? type_names[type] : "?";
}

const char *mb_fn_name(int fn)
{
    return fn >= 0 && fn <= MB_FN_INPUT ? fn_names[fn] : "?";
}

static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (s != NULL && strcmp(names[i], s) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Registers a type takes (string: its count). */
static unsigned type_words(int type)
{
    switch (type) {
    case MB_T_U32:
    case MB_T_S32:
    case MB_T_F32:
        return 2;
    case MB_T_U64:
    case MB_T_S64:
    case MB_T_F64:
        return 4;
    default:
        return 1;
    }
}

static bool is_bits(int fn)
{
    return fn == MB_FN_COIL || fn == MB_FN_DISCRETE;
}

/* ---- compile ---------------------------------------------------------------------- */

#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(err, n, __VA_ARGS__);                                                             \
        return QTD_ECONFIG;                                                                        \
    } while (0)

static int compile_point(const mb_point_cfg_t *c, size_t i, uint32_t slave_poll_ms,
                         const char *path, mb_point_t *p, char *err, size_t n)
{
    char at[160];
    snprintf(at, sizeof(at), "%s.points[%zu]", path, i + 1);
    int fn = name_index(fn_names, 4, c->table);
    int type = name_index(type_names, 10, c->type);
    if (fn < 0 || type < 0) {
        BAD("%s: table or type not known", at); /* the key table's choices prevent it */
    }
    *p = (mb_point_t){.id = (uint16_t)c->id,
                      .fn = (uint8_t)fn,
                      .type = (uint8_t)type,
                      .address = (uint16_t)c->address,
                      .word_little = strcmp(c->word_order, "little") == 0,
                      .byte_little = strcmp(c->byte_order, "little") == 0,
                      .readable = strchr(c->access, 'r') != NULL,
                      .writable = strchr(c->access, 'w') != NULL,
                      .on_change = strcmp(c->report, "change") == 0,
                      .script = c->script,
                      .scaled = c->scale != 1.0 || c->offset != 0.0,
                      .scale = c->scale,
                      .offset = c->offset,
                      .deadband = c->deadband,
                      .poll_ms = c->poll_ms > 0 ? (uint32_t)c->poll_ms : slave_poll_ms,
                      .index = i};
    if (is_bits(fn) && type != MB_T_BOOL) {
        BAD("%s.type: a %s holds one bit: use type = \"bool\" (or table = \"holding\" for a "
            "%s)",
            at, fn_names[fn], type_names[type]);
    }
    if ((fn == MB_FN_DISCRETE || fn == MB_FN_INPUT) && p->writable) {
        BAD("%s.access: %s cannot be written: use access = \"r\"", at,
            fn == MB_FN_DISCRETE ? "discrete inputs" : "input registers");
    }
    if (type == MB_T_STRING) {
        if (c->count < 1 || c->count > MB_MAX_POINT_REGS) {
            BAD("%s.count: a string needs count = 1..%d (registers, two characters each)", at,
                MB_MAX_POINT_REGS);
        }
        p->count = (uint16_t)c->count;
    } else {
        p->count = (uint16_t)(is_bits(fn) ? 1 : type_words(type));
        if (c->count != 0 && c->count != p->count) {
            BAD("%s.count: a %s takes %u %s: leave count out", at, type_names[type], p->count,
                is_bits(fn)     ? "bit"
                : p->count == 1 ? "register"
                                : "registers");
        }
    }
    if ((type == MB_T_STRING || type == MB_T_BOOL) && p->scaled) {
        BAD("%s.scale: a %s cannot be scaled: leave scale and offset out", at, type_names[type]);
    }
    if (c->scale == 0.0) {
        BAD("%s.scale: 0 would lose every value: use a non-zero factor (1 = none)", at);
    }
    if ((unsigned)p->address + p->count > 65536u) {
        BAD("%s.address: %u + %u %s pass the last address 65535", at, p->address, p->count,
            is_bits(fn) ? "bits" : "registers");
    }
    return 0;
}

static int cmp_points(const void *a, const void *b)
{
    const mb_point_t *x = a, *y = b;
    if (x->readable != y->readable) {
        return x->readable ? -1 : 1;
    }
    if (x->fn != y->fn) {
        return x->fn - y->fn;
    }
    if (x->poll_ms != y->poll_ms) {
        return x->poll_ms < y->poll_ms ? -1 : 1;
    }
    return x->address != y->address ? (x->address < y->address ? -1 : 1)
                                    : (x->index < y->index ? -1 : 1);
}

int mb_map_compile(const mb_slave_cfg_t *s, uint32_t default_poll_ms, const char *path,
                   mb_map_t *out, char *err, size_t n)
{
    memset(out, 0, sizeof(*out));
    const mb_point_cfg_t *cfg = s->points.items;
    size_t np = s->points.count;
    uint32_t slave_poll = s->poll_ms > 0 ? (uint32_t)s->poll_ms : default_poll_ms;
    if (np == 0) {
        BAD("%s.points: empty: map at least one point { id = ..., table = ..., address = "
            "... }",
            path);
    }
    out->points = calloc(np, sizeof(*out->points));
    out->batches = calloc(np, sizeof(*out->batches));
    if (out->points == NULL || out->batches == NULL) {
        mb_map_free(out);
        return QTD_ENOMEM;
    }
    out->n_points = np;
    for (size_t i = 0; i < np; i++) {
        int rc = compile_point(&cfg[i], i, slave_poll, path, &out->points[i], err, n);
        for (size_t j = 0; rc == 0 && j < i; j++) {
            if (cfg[j].id == cfg[i].id) {
                snprintf(err, n, "%s.points[%zu].id: %lld is points[%zu]'s already: each id once",
                         path, i + 1, (long long)cfg[i].id, j + 1);
                rc = QTD_ECONFIG;
            }
        }
        if (rc != 0) {
            mb_map_free(out);
            return rc;
        }
    }
    qsort(out->points, np, sizeof(*out->points), cmp_points);
    for (size_t i = 0; i < np && out->points[i].readable; i++) {
        const mb_point_t *p = &out->points[i];
        mb_batch_t *b = out->n_batches > 0 ? &out->batches[out->n_batches - 1] : NULL;
        unsigned limit = is_bits(p->fn) ? MB_MAX_READ_BITS : MB_MAX_READ_REGS;
        if (b != NULL && b->fn == p->fn && b->poll_ms == p->poll_ms &&
            p->address <= (unsigned)b->address + b->count) {
            unsigned end = (unsigned)p->address + p->count;
            unsigned b_end = (unsigned)b->address + b->count;
            unsigned span = (end > b_end ? end : b_end) - b->address;
            if (span <= limit) {
                b->count = (uint16_t)span;
                b->n++;
                continue;
            }
        }
        out->batches[out->n_batches++] = (mb_batch_t){.fn = p->fn,
                                                      .address = p->address,
                                                      .count = p->count,
                                                      .poll_ms = p->poll_ms,
                                                      .first = i,
                                                      .n = 1};
    }
    return 0;
}

void mb_map_free(mb_map_t *m)
{
    free(m->points);
    free(m->batches);
    memset(m, 0, sizeof(*m));
}

/* ---- values ----------------------------------------------------------------------- */

/* The point's registers as bytes, most significant first. */
static void regs_to_bytes(const mb_point_t *p, const uint16_t *regs, uint8_t *out)
{
    unsigned nw = p->count;
    for (unsigned i = 0; i < nw; i++) {
        uint16_t r = regs[p->word_little && p->type != MB_T_STRING ? nw - 1 - i : i];
        uint8_t hi = (uint8_t)(r >> 8), lo = (uint8_t)r;
        out[2 * i] = p->byte_little ? lo : hi;
        out[2 * i + 1] = p->byte_little ? hi : lo;
    }
}

static void bytes_to_regs(const mb_point_t *p, const uint8_t *in, uint16_t *regs)
{
    unsigned nw = p->count;
    for (unsigned i = 0; i < nw; i++) {
        uint8_t hi = p->byte_little ? in[2 * i + 1] : in[2 * i];
        uint8_t lo = p->byte_little ? in[2 * i] : in[2 * i + 1];
        regs[p->word_little && p->type != MB_T_STRING ? nw - 1 - i : i] =
            (uint16_t)((unsigned)hi << 8 | lo);
    }
}

static uint64_t be_uint(const uint8_t *b, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        v = v << 8 | b[i];
    }
    return v;
}

static void put_be(uint64_t v, uint8_t *b, unsigned n)
{
    for (unsigned i = n; i-- > 0;) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* The float as the shortest decimal that reads back as the same float (230.1f is 230.1,
 * not 230.10000610351562 as a plain widening to double gives). */
static double shortest(float f)
{
    if (!isfinite(f)) {
        return f;
    }
    char text[32];
    for (int digits = 6; digits < 9; digits++) {
        snprintf(text, sizeof(text), "%.*g", digits, (double)f);
        double d = strtod(text, NULL);
        if ((float)d == f) {
            return d;
        }
    }
    return f;
}

int mb_decode(const mb_point_t *p, const uint16_t *regs, const uint8_t *bits, qtd_value_t *out,
              char *buf, size_t n)
{
    memset(out, 0, sizeof(*out));
    out->id = p->id;
    if (p->type == MB_T_BOOL) {
        out->type = QTD_VAL_BOOL;
        out->u.b = is_bits(p->fn) ? bits[0] != 0 : regs[0] != 0;
        return 0;
    }
    uint8_t b[2 * MB_MAX_POINT_REGS];
    regs_to_bytes(p, regs, b);
    if (p->type == MB_T_STRING) {
        size_t len = 0;
        while (len < 2u * p->count && len + 1 < n && b[len] != 0) {
            buf[len] = (char)b[len];
            len++;
        }
        buf[len] = '\0';
        out->type = QTD_VAL_STRING;
        out->u.s.ptr = buf;
        out->u.s.len = len;
        return 0;
    }
    unsigned nb = 2u * p->count;
    uint64_t raw = be_uint(b, nb);
    double d = 0;
    int64_t i = 0;
    bool is_float = false, exact = true;
    switch (p->type) {
    case MB_T_U16:
    case MB_T_U32:
        i = (int64_t)raw;
        break;
    case MB_T_S16:
        i = (int16_t)raw;
        break;
    case MB_T_S32:
        i = (int32_t)(uint32_t)raw;
        break;
    case MB_T_S64:
        i = (int64_t)raw;
        break;
    case MB_T_U64:
        if (raw > INT64_MAX) {
            exact = false;
            d = (double)raw;
        } else {
            i = (int64_t)raw;
        }
        break;
    case MB_T_F32: {
        uint32_t u = (uint32_t)raw;
        float f;
        memcpy(&f, &u, sizeof(f));
        d = shortest(f);
        is_float = true;
        break;
    }
    default: { /* MB_T_F64 */
        memcpy(&d, &raw, sizeof(d));
        is_float = true;
        break;
    }
    }
    if (!is_float && exact) {
        d = (double)i;
    }
    if (p->scaled) {
        d = d * p->scale + p->offset;
        is_float = true;
    }
    if (is_float || !exact) {
        if (!isfinite(d) || fabs(d) >= 0x1p64) {
            return QTD_EINVAL;
        }
        out->type = QTD_VAL_DOUBLE;
        out->u.d = d;
    } else {
        out->type = QTD_VAL_INT;
        out->u.i = i;
    }
    return 0;
}

/* ---- encode ----------------------------------------------------------------------- */

#define REFUSE(...)                                                                                \
    do {                                                                                           \
        snprintf(why, n, __VA_ARGS__);                                                             \
        return QTD_EINVAL;                                                                         \
    } while (0)

/* The integer range of a type, as doubles (exact for the bounds that matter). */
static void int_range(int type, double *lo, double *hi)
{
    switch (type) {
    case MB_T_U16:
        *lo = 0, *hi = 65535;
        break;
    case MB_T_S16:
        *lo = -32768, *hi = 32767;
        break;
    case MB_T_U32:
        *lo = 0, *hi = 4294967295.0;
        break;
    case MB_T_S32:
        *lo = -2147483648.0, *hi = 2147483647.0;
        break;
    case MB_T_U64:
        *lo = 0, *hi = 18446744073709551615.0;
        break;
    default: /* MB_T_S64 */
        *lo = -9223372036854775808.0, *hi = 9223372036854775807.0;
        break;
    }
}

int mb_encode(const mb_point_t *p, const qtd_value_t *v, uint16_t *regs, uint8_t *bits, char *why,
              size_t n)
{
    if (p->type == MB_T_BOOL) {
        bool b;
        if (v->type == QTD_VAL_BOOL) {
            b = v->u.b;
        } else if (v->type == QTD_VAL_INT && (v->u.i == 0 || v->u.i == 1)) {
            b = v->u.i == 1;
        } else {
            REFUSE("a bool point takes true/false (or 0/1)");
        }
        if (is_bits(p->fn)) {
            bits[0] = b;
        } else {
            regs[0] = b;
        }
        return 0;
    }
    uint8_t b[2 * MB_MAX_POINT_REGS] = {0};
    unsigned nb = 2u * p->count;
    if (p->type == MB_T_STRING) {
        if (v->type != QTD_VAL_STRING) {
            REFUSE("a string point takes text");
        }
        if (v->u.s.len > nb) {
            REFUSE("%zu bytes of text do not fit %u registers (%u bytes)", v->u.s.len, p->count,
                   nb);
        }
        memcpy(b, v->u.s.ptr, v->u.s.len);
        bytes_to_regs(p, b, regs);
        return 0;
    }
    if (v->type != QTD_VAL_INT && v->type != QTD_VAL_DOUBLE) {
        REFUSE("a %s point takes a number", type_names[p->type]);
    }
    uint64_t raw;
    if (p->type == MB_T_F32 || p->type == MB_T_F64) {
        double d = v->type == QTD_VAL_INT ? (double)v->u.i : v->u.d;
        d = p->scaled ? (d - p->offset) / p->scale : d;
        if (!isfinite(d) || (p->type == MB_T_F32 && fabs(d) > FLT_MAX)) {
            REFUSE("%g is out of range for a %s", d, type_names[p->type]);
        }
        if (p->type == MB_T_F32) {
            float f = (float)d;
            uint32_t u;
            memcpy(&u, &f, sizeof(u));
            raw = u;
        } else {
            memcpy(&raw, &d, sizeof(raw));
        }
    } else {
        double lo, hi;
        int_range(p->type, &lo, &hi);
        if (v->type == QTD_VAL_INT && !p->scaled) {
            double d = (double)v->u.i;
            if (d < lo || d > hi || (p->type == MB_T_U64 && v->u.i < 0)) {
                REFUSE("%lld is out of range for a %s (%.0f..%.0f)", (long long)v->u.i,
                       type_names[p->type], lo, hi);
            }
            raw = (uint64_t)v->u.i;
        } else {
            double d = v->type == QTD_VAL_INT ? (double)v->u.i : v->u.d;
            double x = p->scaled ? (d - p->offset) / p->scale : d;
            if (!isfinite(x)) {
                REFUSE("%g is not a number a %s can hold", d, type_names[p->type]);
            }
            if (!p->scaled && x != floor(x)) {
                REFUSE("%g is not an integer (a %s point)", d, type_names[p->type]);
            }
            x = round(x);
            if (x < lo || x > hi || (p->type != MB_T_U64 && x >= 9223372036854775808.0) ||
                x >= 18446744073709551616.0) {
                REFUSE("%g is out of range for a %s (%.0f..%.0f after scale and offset)", d,
                       type_names[p->type], lo, hi);
            }
            raw = x < 0 ? (uint64_t)(int64_t)x : (uint64_t)x;
        }
    }
    put_be(raw, b, nb);
    bytes_to_regs(p, b, regs);
    return 0;
}

bool mb_changed(const mb_point_t *p, const qtd_value_t *last, const qtd_value_t *now)
{
    if (last->type != now->type) {
        return true;
    }
    switch (now->type) {
    case QTD_VAL_BOOL:
        return last->u.b != now->u.b;
    case QTD_VAL_INT:
        return p->deadband > 0 ? fabs((double)now->u.i - (double)last->u.i) > p->deadband
                               : now->u.i != last->u.i;
    case QTD_VAL_DOUBLE:
        return p->deadband > 0 ? fabs(now->u.d - last->u.d) > p->deadband : now->u.d != last->u.d;
    case QTD_VAL_STRING:
        return last->u.s.len != now->u.s.len || memcmp(last->u.s.ptr, now->u.s.ptr, now->u.s.len);
    default:
        return true;
    }
}
