/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TTLV, the thing-model payload of the platform, to and from value trees (qthingd/events.h).
 * A node is a big-endian u16 tag (id << 3 | type), then: nothing for bool false/true (types
 * 0/1); a flags byte and a 1..8 byte magnitude for numbers (type 2: bit 7 negative, bits 6..3
 * decimal places, bits 2..0 magnitude length - 1); a u16 length and the bytes for type 3; a
 * u16 count and that many nodes for structs (type 4), which are arrays when every child has
 * id 0. A whole double goes out as its exact integer, any other as its shortest round-trip
 * decimal (what printf/strtod agree on) when that needs at most 15 places, else rounded to
 * nearest at 15 places (fewer when the magnitude would pass 64 bits): like the SDK, a
 * float is never refused, only NaN, infinities and |v| >= 2^64. Decimals come back
 * correctly rounded (strtod); a whole magnitude beyond int64 comes back as a double. Pure code: no
 * I/O, no logging, no agent functions (malloc/free only), shared by the plugin, the simulator,
 * tests and fuzzers.
 */
#include "cloud_ttlv.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_FALSE = 0, T_TRUE = 1, T_NUMBER = 2, T_BYTES = 3, T_STRUCT = 4 };

#define MAX_PLACES 15

/* ---- encoding ---------------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t len;
    size_t cap;
} wbuf_t;

static int reserve(wbuf_t *w, size_t more)
{
    if (w->len + more <= w->cap) {
        return 0;
    }
    size_t cap = w->cap ? w->cap : 64;
    while (cap < w->len + more) {
        if (cap > SIZE_MAX / 2) {
            return -ENOMEM;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(w->p, cap);
    if (p == NULL) {
        return -ENOMEM;
    }
    w->p = p;
    w->cap = cap;
    return 0;
}

static int put(wbuf_t *w, const void *data, size_t n)
{
    int rc = reserve(w, n);
    if (rc < 0) {
        return rc;
    }
    if (n > 0) {
        memcpy(w->p + w->len, data, n);
        w->len += n;
    }
    return 0;
}

static int put16(wbuf_t *w, unsigned v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return put(w, b, 2);
}

static int put_number(wbuf_t *w, unsigned tag, bool neg, uint64_t mag, unsigned places)
{
    uint8_t b[2 + 1 + 8];
    unsigned bytes = 1;
    while (bytes < 8 && (mag >> (8 * bytes)) != 0) {
        bytes++;
    }
    b[0] = (uint8_t)(tag >> 8);
    b[1] = (uint8_t)tag;
    b[2] = (uint8_t)((neg ? 0x80u : 0u) | (places << 3) | (bytes - 1));
    for (unsigned i = 0; i < bytes; i++) {
        b[3 + i] = (uint8_t)(mag >> (8 * (bytes - 1 - i)));
    }
    return put(w, b, 3 + bytes);
}

/*
 * a rounded to nearest at `places` decimal places (printf's exact rounding), as
 * mag * 10^-places with trailing zeros dropped. Returns 0, or -ERANGE when the magnitude does
 * not fit 64 bits at that many places.
 */
static int rounded_decimal(double a, unsigned places, uint64_t *mag, unsigned *out_places)
{
    char text[400];
    snprintf(text, sizeof(text), "%.*f", (int)places, a);
    uint64_t m = 0;
    for (const char *s = text; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            continue; /* the point */
        }
        unsigned d = (unsigned)(*s - '0');
        if (m > (UINT64_MAX - d) / 10) {
            return -ERANGE;
        }
        m = m * 10 + d;
    }
    while (places > 0 && m % 10 == 0) {
        m /= 10;
        places--;
    }
    *mag = m;
    *out_places = places;
    return 0;
}

/*
 * The answer of float_decimal's search (below) without printing, for the common float with
 * few digits (12.5, 0.1, 23.75): the fewest places p at which a * 10^p is a whole number m
 * below 10^15 with m / 10^p == a (the division rounds as strtod does, so the decimal reads
 * back as a). Below 10^15 the decimals of that many digits are further apart than a's
 * rounding interval is wide, so m is the only one and the one %.*e prints. It is the shortest
 * unless one with p - 1 places reads back as well (a shorter one would, with a zero
 * appended), whose magnitude is within one of a * 10^(p-1) however the product rounded: then,
 * or when none is found, false, and the search decides.
 */
static bool fast_decimal(double a, uint64_t *mag, unsigned *places)
{
#if FLT_EVAL_METHOD != 0
    return false; /* wider intermediates (x87) would not round as strtod does */
#endif
    static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    for (unsigned p = 1; p <= MAX_PLACES; p++) {
        double m = a * pow10[p];
        if (m >= 1e15) {
            return false;
        }
        if ((double)(uint64_t)m != m || m / pow10[p] != a) { /* whole: m < 10^15 fits */
            continue;
        }
        double f = (double)(uint64_t)(a * pow10[p - 1]); /* its floor (no libm: > 0) */
        for (double c = f - 1; c <= f + 2; c++) {
            if (c >= 0 && c / pow10[p - 1] == a) {
                return false;
            }
        }
        *mag = (uint64_t)m;
        *places = p;
        return true;
    }
    return false;
}

/*
 * a (finite, > 0, not a whole number) as mag * 10^-places: its shortest round-trip decimal
 * (the first of 1..17 significant digits with %.*e that strtod reads back equal) when that
 * needs at most 15 places; otherwise, as the SDK never refuses a float, a rounded to nearest
 * at 15 places, then at fewer places until the magnitude fits 64 bits.
 */
static int float_decimal(double a, uint64_t *mag, unsigned *places)
{
    if (fast_decimal(a, mag, places)) {
        return 0;
    }
    char text[48];
    int prec;
    for (prec = 0; prec <= 16; prec++) {
        snprintf(text, sizeof(text), "%.*e", prec, a);
        if (strtod(text, NULL) == a) {
            break;
        }
    }
    char digits[24];
    size_t k = 0;
    const char *s = text;
    for (; *s != '\0' && *s != 'e' && *s != 'E'; s++) {
        if (*s >= '0' && *s <= '9' && k < sizeof(digits) - 1) {
            digits[k++] = *s;
        }
    }
    if (prec <= 16 && *s != '\0' && k > 0) {
        long exp10 = strtol(s + 1, NULL, 10);
        while (k > 1 && digits[k - 1] == '0') {
            k--;
        }
        /* value = digits[0].digits[1..k-1] * 10^exp10 = digits * 10^(exp10 - (k - 1)) */
        long scale = exp10 - (long)(k - 1);
        if (scale < 0 && -scale <= MAX_PLACES) {
            uint64_t m = 0;
            for (size_t i = 0; i < k; i++) {
                m = m * 10 + (uint64_t)(digits[i] - '0'); /* k <= 17: no overflow */
            }
            *mag = m;
            *places = (unsigned)-scale;
            return 0;
        }
    }
    for (int p = MAX_PLACES; p >= 0; p--) {
        if (rounded_decimal(a, (unsigned)p, mag, places) == 0) {
            return 0;
        }
    }
    return -EINVAL; /* not reached: a < 2^64 fits at 0 places */
}

static int encode_node(wbuf_t *w, const qtd_value_t *v, unsigned id, int depth);

static int encode_list(wbuf_t *w, const qtd_value_t *v, int depth)
{
    bool array = v->type == QTD_VAL_ARRAY;
    if (v->u.list.count > 0xFFFF || (v->u.list.count > 0 && v->u.list.items == NULL)) {
        return -EINVAL;
    }
    for (size_t i = 0; i < v->u.list.count; i++) {
        const qtd_value_t *c = &v->u.list.items[i];
        unsigned id = array ? 0 : c->id;
        if (!array && (id == 0 || id > QTD_TTLV_MAX_ID)) {
            return -EINVAL;
        }
        int rc = encode_node(w, c, id, depth);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* One node with this id; depth = how many structs enclose it (the payload is depth 0). */
static int encode_node(wbuf_t *w, const qtd_value_t *v, unsigned id, int depth)
{
    unsigned tag = id << 3;
    int rc;

    switch (v->type) {
    case QTD_VAL_BOOL:
        return put16(w, tag | (v->u.b ? T_TRUE : T_FALSE));
    case QTD_VAL_INT: {
        bool neg = v->u.i < 0;
        uint64_t mag = neg ? (uint64_t)0 - (uint64_t)v->u.i : (uint64_t)v->u.i;
        return put_number(w, tag | T_NUMBER, neg, mag, 0);
    }
    case QTD_VAL_DOUBLE: {
        double d = v->u.d;
        double a = d < 0 ? -d : d;
        bool neg = d < 0;
        uint64_t mag = 0;
        unsigned places = 0;
        if (!isfinite(d)) {
            return -EINVAL;
        }
        if (a >= 0x1p64) {
            return -EINVAL; /* the magnitude has 64 bits at most */
        }
        if ((double)(uint64_t)a == a) {
            mag = (uint64_t)a; /* a whole number: exactly, with 0 places */
        } else {
            rc = float_decimal(a, &mag, &places);
            if (rc < 0) {
                return rc;
            }
        }
        return put_number(w, tag | T_NUMBER, neg && mag != 0, mag, places);
    }
    case QTD_VAL_STRING:
    case QTD_VAL_BYTES:
        if (v->u.s.len > 0xFFFF || (v->u.s.len > 0 && v->u.s.ptr == NULL)) {
            return -EINVAL;
        }
        rc = put16(w, tag | T_BYTES);
        if (rc == 0) {
            rc = put16(w, (unsigned)v->u.s.len);
        }
        if (rc == 0) {
            rc = put(w, v->u.s.ptr, v->u.s.len);
        }
        return rc;
    case QTD_VAL_STRUCT:
    case QTD_VAL_ARRAY:
        if (depth + 1 > QTD_TTLV_MAX_DEPTH || v->u.list.count > 0xFFFF) {
            return -EINVAL;
        }
        rc = put16(w, tag | T_STRUCT);
        if (rc == 0) {
            rc = put16(w, (unsigned)v->u.list.count);
        }
        if (rc == 0) {
            rc = encode_list(w, v, depth + 1);
        }
        return rc;
    default: /* QTD_VAL_NONE has no TTLV form */
        return -EINVAL;
    }
}

int qtd_ttlv_encode(const qtd_value_t *payload, uint8_t **out, size_t *len)
{
    wbuf_t w = {0};
    int rc;

    if (payload == NULL || out == NULL || len == NULL) {
        return -EINVAL;
    }
    *out = NULL;
    *len = 0;
    if (payload->type != QTD_VAL_STRUCT) {
        return -EINVAL;
    }
    rc = encode_list(&w, payload, 0);
    if (rc < 0) {
        goto fail;
    }
    rc = reserve(&w, 1); /* a non-NULL buffer even for an empty payload */
    if (rc < 0) {
        goto fail;
    }
    *out = w.p;
    *len = w.len;
    return 0;

fail:
    free(w.p);
    return rc;
}

/* ---- decoding ---------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n;
    size_t pos;
    size_t err_off;
} rbuf_t;

static unsigned get16(const rbuf_t *r, size_t at)
{
    return (unsigned)((r->p[at] << 8) | r->p[at + 1]);
}

static int bad(rbuf_t *r, size_t at, int rc)
{
    r->err_off = at;
    return rc;
}

static void clear(qtd_value_t *v)
{
    switch (v->type) {
    case QTD_VAL_STRING:
    case QTD_VAL_BYTES:
        free((void *)v->u.s.ptr);
        break;
    case QTD_VAL_STRUCT:
    case QTD_VAL_ARRAY:
        for (size_t i = 0; i < v->u.list.count; i++) {
            clear(&v->u.list.items[i]);
        }
        free(v->u.list.items);
        break;
    default:
        break;
    }
    memset(v, 0, sizeof(*v));
}

static int decode_number(rbuf_t *r, size_t start, qtd_value_t *v)
{
    if (r->n - r->pos < 1) {
        return bad(r, start, -EINVAL);
    }
    unsigned flags = r->p[r->pos];
    bool neg = (flags & 0x80) != 0;
    unsigned places = (flags >> 3) & 0x0F;
    size_t bytes = (flags & 0x07) + 1;
    if (r->n - r->pos - 1 < bytes) {
        return bad(r, start, -EINVAL);
    }
    uint64_t mag = 0;
    for (size_t i = 0; i < bytes; i++) {
        mag = (mag << 8) | r->p[r->pos + 1 + i];
    }
    r->pos += 1 + bytes;

    if (places == 0 && mag <= (uint64_t)INT64_MAX + (neg ? 1u : 0u)) {
        v->type = QTD_VAL_INT;
        if (neg) {
            v->u.i = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
        } else {
            v->u.i = (int64_t)mag;
        }
        return 0;
    }
    /* A whole magnitude beyond int64 (the SDK's 64-bit magnitudes) comes back as a double;
     * one whose nearest double is 2^64 cannot be carried (the encoder refuses it too). */
    if (places == 0 && (double)mag >= 0x1p64) {
        return bad(r, start, -EINVAL);
    }
    /* mag / 10^places, correctly rounded by strtod (repeated division is not). */
    char text[40];
    snprintf(text, sizeof(text), "%" PRIu64 "e-%u", mag, places);
    v->type = QTD_VAL_DOUBLE;
    v->u.d = strtod(text, NULL);
    if (neg) {
        v->u.d = -v->u.d;
    }
    return 0;
}

static int decode_node(rbuf_t *r, qtd_value_t *v, int depth);

static int decode_struct(rbuf_t *r, size_t start, qtd_value_t *v, int depth)
{
    if (depth + 1 > QTD_TTLV_MAX_DEPTH) {
        return bad(r, start, -EINVAL);
    }
    if (r->n - r->pos < 2) {
        return bad(r, start, -EINVAL);
    }
    size_t count = get16(r, r->pos);
    r->pos += 2;
    if (count > (r->n - r->pos) / 2) { /* every node takes at least 2 bytes */
        return bad(r, start, -EINVAL);
    }
    v->type = QTD_VAL_STRUCT;
    if (count == 0) {
        return 0; /* an empty struct; an empty array is sent the same way */
    }
    v->u.list.items = calloc(count, sizeof(qtd_value_t));
    if (v->u.list.items == NULL) {
        return bad(r, start, -ENOMEM);
    }
    size_t zero_ids = 0;
    for (size_t i = 0; i < count; i++) {
        size_t child = r->pos;
        int rc = decode_node(r, &v->u.list.items[i], depth + 1);
        if (rc < 0) {
            clear(v);
            return rc;
        }
        v->u.list.count++;
        zero_ids += v->u.list.items[i].id == 0;
        if (zero_ids != 0 && zero_ids != i + 1) { /* ids 0 and non-0 mixed */
            clear(v);
            return bad(r, child, -EINVAL);
        }
    }
    if (zero_ids == count) {
        v->type = QTD_VAL_ARRAY;
    }
    return 0;
}

/* One node at r->pos; depth = how many structs enclose it. On failure *v holds nothing. */
static int decode_node(rbuf_t *r, qtd_value_t *v, int depth)
{
    size_t start = r->pos;
    memset(v, 0, sizeof(*v));
    if (r->n - r->pos < 2) {
        return bad(r, start, -EINVAL);
    }
    unsigned tag = get16(r, r->pos);
    r->pos += 2;
    v->id = (uint16_t)(tag >> 3);

    switch (tag & 0x07) {
    case T_FALSE:
    case T_TRUE:
        v->type = QTD_VAL_BOOL;
        v->u.b = (tag & 0x07) == T_TRUE;
        return 0;
    case T_NUMBER: {
        int rc = decode_number(r, start, v);
        if (rc < 0) {
            memset(v, 0, sizeof(*v));
        }
        return rc;
    }
    case T_BYTES: {
        if (r->n - r->pos < 2) {
            return bad(r, start, -EINVAL);
        }
        size_t len = get16(r, r->pos);
        r->pos += 2;
        if (r->n - r->pos < len) {
            return bad(r, start, -EINVAL);
        }
        char *p = malloc(len + 1);
        if (p == NULL) {
            return bad(r, start, -ENOMEM);
        }
        if (len > 0) {
            memcpy(p, r->p + r->pos, len);
        }
        p[len] = '\0';
        r->pos += len;
        v->type = QTD_VAL_STRING;
        v->u.s.ptr = p;
        v->u.s.len = len;
        return 0;
    }
    case T_STRUCT: {
        uint16_t id = v->id;
        int rc = decode_struct(r, start, v, depth);
        v->id = rc < 0 ? 0 : id;
        return rc;
    }
    default: /* 5..7: RAW of newer SDKs, encoding unknown */
        memset(v, 0, sizeof(*v));
        return bad(r, start, -ENOTSUP);
    }
}

int qtd_ttlv_decode(const uint8_t *buf, size_t n, qtd_value_t *out, size_t *err_off)
{
    rbuf_t r = {.p = buf, .n = n};
    size_t cap = 0;
    int rc;

    if (out == NULL || (buf == NULL && n > 0)) {
        return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    out->type = QTD_VAL_STRUCT;
    if (err_off != NULL) {
        *err_off = 0;
    }
    while (r.pos < n) {
        if (out->u.list.count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            qtd_value_t *items = realloc(out->u.list.items, ncap * sizeof(*items));
            if (items == NULL) {
                rc = bad(&r, r.pos, -ENOMEM);
                goto fail;
            }
            out->u.list.items = items;
            cap = ncap;
        }
        size_t start = r.pos;
        qtd_value_t *v = &out->u.list.items[out->u.list.count];
        rc = decode_node(&r, v, 0);
        if (rc < 0) {
            goto fail;
        }
        out->u.list.count++;
        if (v->id == 0) { /* payload nodes carry ids 1..8191 */
            rc = bad(&r, start, -EINVAL);
            goto fail;
        }
    }
    return 0;

fail:
    clear(out);
    if (err_off != NULL) {
        *err_off = r.err_off;
    }
    return rc;
}

void qtd_ttlv_free(qtd_value_t *v)
{
    if (v != NULL) {
        clear(v);
    }
}
