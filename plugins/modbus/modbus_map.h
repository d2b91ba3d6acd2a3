/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Register maps: the checks a map needs beyond its key table (a type that the table
 * cannot hold, a range past the last address, an id used twice), the read batches a
 * slave's points make, and the conversion of registers and bits to thing-model values and
 * back (types, word and byte order, scale and offset). Pure: no I/O, no libmodbus, so the
 * fuzz target and the unit tests reach all of it.
 */
#ifndef QTD_MODBUS_MAP_H
#define QTD_MODBUS_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qthingd/events.h"
#include "qthingd/plugin.h"

#define MB_MAX_READ_REGS 125  /* Modbus: registers per read */
#define MB_MAX_READ_BITS 2000 /* coils or discrete inputs per read */
#define MB_MAX_WRITE_REGS 123 /* registers per write multiple */
#define MB_MAX_POINT_REGS 123 /* a string point's registers */

/* The config as the core validates it (modbus.c declares the key tables). */
typedef struct {
    int64_t id;
    const char *table; /* coil | discrete | holding | input */
    int64_t address;
    int64_t count; /* registers of a string; 0: the type's own */
    const char *type;
    const char *word_order; /* big | little */
    const char *byte_order; /* big | little */
    double scale, offset;
    const char *access; /* r | w | rw */
    int64_t poll_ms;    /* 0: the slave's */
    const char *report; /* change | period */
    double deadband;
    bool script;
} mb_point_cfg_t;

typedef struct {
    const char *port;
    int64_t unit;
    const char *pk, *ps, *dk;
    int64_t keepalive_s;
    int64_t poll_ms; /* 0: modbus.poll_ms */
    int64_t timeout_ms, retries;
    qtd_cfg_array_t points; /* of mb_point_cfg_t */
} mb_slave_cfg_t;

typedef enum { MB_FN_COIL, MB_FN_DISCRETE, MB_FN_HOLDING, MB_FN_INPUT } mb_fn_t;

typedef enum {
    MB_T_BOOL,
    MB_T_U16,
    MB_T_S16,
    MB_T_U32,
    MB_T_S32,
    MB_T_U64,
    MB_T_S64,
    MB_T_F32,
    MB_T_F64,
    MB_T_STRING
} mb_type_t;

/* The choices strings of the key table, in enum order. */
#define MB_FN_CHOICES "coil|discrete|holding|input"
#define MB_TYPE_CHOICES "bool|u16|s16|u32|s32|u64|s64|float32|float64|string"

typedef struct {
    uint16_t id;
    uint8_t fn;   /* mb_fn_t */
    uint8_t type; /* mb_type_t */
    uint16_t address;
    uint16_t count; /* registers or bits read */
    bool word_little, byte_little;
    bool readable, writable;
    bool on_change, script;
    bool scaled; /* scale != 1 or offset != 0: reported as a float */
    double scale, offset, deadband;
    uint32_t poll_ms;
    size_t index; /* in the slave's config (for messages) */
} mb_point_t;

/* One read: contiguous points of one table and period. */
typedef struct {
    uint8_t fn;
    uint16_t address, count;
    uint32_t poll_ms;
    size_t first, n; /* points[first .. first+n-1] of the slave (sorted for batching) */
} mb_batch_t;

typedef struct {
    mb_point_t *points; /* sorted by (fn, poll_ms, address) */
    size_t n_points;
    mb_batch_t *batches;
    size_t n_batches;
} mb_map_t;

/* Compile a slave's points: check what the key table cannot, sort and batch. On an error
 * writes "<path>.points[N].<key>: <what and the fix>" to err and returns QTD_ECONFIG.
 * path is the slave's ("modbus.slaves[2]"). Returns: 0, QTD_ECONFIG, QTD_ENOMEM. */
int mb_map_compile(const mb_slave_cfg_t *s, uint32_t default_poll_ms, const char *path,
                   mb_map_t *out, char *err, size_t n);
void mb_map_free(mb_map_t *m);

/* A point's value from the registers (regs, for holding/input) or bits (one byte per bit,
 * for coil/discrete) of its own range. String values point into buf (n bytes, at least
 * 2 * count + 1). Returns: 0, QTD_EINVAL (a float that is NaN, infinite or of 2^64 or
 * more: the platform's numbers carry 64 bits). */
int mb_decode(const mb_point_t *p, const uint16_t *regs, const uint8_t *bits, qtd_value_t *out,
              char *buf, size_t n);

/* The registers (or bits) that write v to the point: p->count of them into regs (or bits).
 * Refuses a value of the wrong kind or out of the type's range with a reason in why.
 * Returns: 0, QTD_EINVAL. */
int mb_encode(const mb_point_t *p, const qtd_value_t *v, uint16_t *regs, uint8_t *bits, char *why,
              size_t n);

/* Whether a new value is worth reporting against the last one (report on change, with
 * the point's deadband for numbers). */
bool mb_changed(const mb_point_t *p, const qtd_value_t *last, const qtd_value_t *now);

const char *mb_type_name(int type);
const char *mb_fn_name(int fn);

#endif /* QTD_MODBUS_MAP_H */
