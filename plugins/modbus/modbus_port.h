/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One Modbus line (a serial RTU line, a TCP server, or a pseudo-terminal whose other side
 * the script drives) and its master: a thread of its own runs libmodbus against the line,
 * so a slow or silent slave never holds the loop or another line. The thread polls each
 * slave's read batches when they are due, does the writes the loop queues (before any
 * poll), takes a slave that stops answering out of the rotation with a growing backoff,
 * and hands every result to the loop through one queue (mb_sink_t) and its uv_async.
 */
#ifndef QTD_MODBUS_PORT_H
#define QTD_MODBUS_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "modbus_map.h"

typedef enum {
    MB_MSG_READ,  /* a batch read: data = its registers or bits */
    MB_MSG_FAULT, /* a batch answered with an exception (reason); the slave is up */
    MB_MSG_DOWN,  /* the slave stopped answering (reason) */
    MB_MSG_UP,    /* the slave answers again */
    MB_MSG_WRITE  /* a write done (ok: data = the point read back) or failed (reason) */
} mb_msg_kind_t;

typedef struct mb_msg_s {
    struct mb_msg_s *next;
    uint8_t kind;
    bool ok;
    bool read_back; /* MB_MSG_WRITE: data holds the point read back */
    size_t slave;   /* the plugin's slave index */
    size_t item;    /* MB_MSG_READ/FAULT: batch index; MB_MSG_WRITE: point index */
    char reason[160];
    uint16_t count;
    uint16_t data[]; /* count registers, or count bits as bytes */
} mb_msg_t;

/* Thread -> loop. */
typedef struct {
    uv_mutex_t lock;
    mb_msg_t *head, *tail;
    uv_async_t async;
} mb_sink_t;

typedef struct {
    int mode; /* MB_LINE_* */
    const char *name;
    const char *device; /* RTU (and script: set when the pseudo-terminal is made) */
    int baud, data_bits, stop_bits;
    char parity; /* N, E, O */
    const char *host;
    int port;
} mb_line_t;

enum { MB_LINE_RTU, MB_LINE_TCP, MB_LINE_SCRIPT };

typedef struct mb_port_s mb_port_t;

/* Create a port for `line` (copied, strings borrowed) with no slave yet. Returns NULL on
 * memory exhaustion. */
mb_port_t *mb_port_new(const mb_line_t *line, mb_sink_t *sink);
/* Add a slave before mb_port_start: plugin index, unit id, per-try timeout, retries, its
 * compiled map (borrowed). Returns: 0, QTD_ENOMEM. */
int mb_port_add_slave(mb_port_t *p, size_t slave, int unit, uint32_t timeout_ms, int retries,
                      const mb_map_t *map);
/* Start the thread; device overrides the line's (a script port's pseudo-terminal).
 * Returns: 0, QTD_EINVAL (no slave), QTD_ENOMEM, or a libuv error. */
int mb_port_start(mb_port_t *p, const char *device);
/* Stop and join the thread (waits for a request under way, at most its timeout). */
void mb_port_stop(mb_port_t *p);
void mb_port_free(mb_port_t *p);
bool mb_port_running(const mb_port_t *p);
const mb_line_t *mb_port_line(const mb_port_t *p);

/* Queue a write of one point (p->count registers or one bit), done before any poll; its
 * result arrives as MB_MSG_WRITE. Returns: 0, QTD_ENOMEM, QTD_ENOTCONN (not running). */
int mb_port_write(mb_port_t *p, size_t slave, size_t point, const mb_point_t *pt,
                  const uint16_t *regs, const uint8_t *bits);

#endif /* QTD_MODBUS_PORT_H */
