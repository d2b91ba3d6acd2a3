/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A Modbus line's master thread (see modbus_port.h). Everything below runs on the port's
 * own thread except mb_port_new/add_slave/start/stop/free/write, which the loop calls; the
 * two share `lock` (the write queue, the stop flag) and talk to the loop only through the
 * sink. libmodbus is used blocking here, one request at a time, with the slave's response
 * timeout: that is what a serial line allows anyway, and it keeps the loop free.
 */
#include "modbus_port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modbus.h>

#define BACKOFF_MIN_MS 1000u
#define BACKOFF_MAX_MS 60000u

typedef struct {
    size_t slave;
    int unit;
    uint32_t timeout_ms;
    int retries;
    const mb_map_t *map;
    uint64_t *due; /* per batch, ms on uv_hrtime's clock */
    bool down;
    uint64_t retry_at;
    uint32_t backoff_ms;
} port_slave_t;

typedef struct mb_job_s {
    struct mb_job_s *next;
    size_t slave, point;
    mb_point_t pt;
    uint16_t regs[MB_MAX_POINT_REGS];
    uint8_t bit;
} mb_job_t;

struct mb_port_s {
    mb_line_t line;
    char device[256];
    mb_sink_t *sink;
    port_slave_t *slaves;
    size_t n_slaves;
    modbus_t *ctx;
    bool connected;
    int timeout_set; /* the response timeout ctx has now, ms (-1: none yet) */
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t cond;
    bool running, stop;
    mb_job_t *jobs, *jobs_tail;
};

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

mb_port_t *mb_port_new(const mb_line_t *line, mb_sink_t *sink)
{
    mb_port_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->line = *line;
    p->sink = sink;
    if (line->device != NULL) {
        snprintf(p->device, sizeof(p->device), "%s", line->device);
    }
    if (uv_mutex_init(&p->lock) != 0) {
        free(p);
        return NULL;
    }
    if (uv_cond_init(&p->cond) != 0) {
        uv_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    return p;
}

int mb_port_add_slave(mb_port_t *p, size_t slave, int unit, uint32_t timeout_ms, int retries,
                      const mb_map_t *map)
{
    port_slave_t *n = realloc(p->slaves, (p->n_slaves + 1) * sizeof(*n));
    if (n == NULL) {
        return QTD_ENOMEM;
    }
    p->slaves = n;
    uint64_t *due = calloc(map->n_batches ? map->n_batches : 1, sizeof(*due));
    if (due == NULL) {
        return QTD_ENOMEM;
    }
    p->slaves[p->n_slaves++] = (port_slave_t){.slave = slave,
                                              .unit = unit,
                                              .timeout_ms = timeout_ms,
                                              .retries = retries,
                                              .map = map,
                                              .due = due,
                                              .backoff_ms = BACKOFF_MIN_MS};
    return 0;
}

const mb_line_t *mb_port_line(const mb_port_t *p)
{
    return &p->line;
}

bool mb_port_running(const mb_port_t *p)
{
    return p->running;
}

/* ---- to the loop ------------------------------------------------------------------ */

static void post(mb_port_t *p, int kind, const port_slave_t *s, size_t item, bool ok,
                 const char *reason, const uint16_t *data, uint16_t count, size_t bytes)
{
    mb_msg_t *m = calloc(1, sizeof(*m) + bytes);
    if (m == NULL) {
        return; /* the next poll brings the value again */
    }
    m->kind = (uint8_t)kind;
    m->ok = ok;
    m->slave = s->slave;
    m->item = item;
    m->count = count;
    if (reason != NULL) {
        snprintf(m->reason, sizeof(m->reason), "%s", reason);
    }
    if (data != NULL) {
        memcpy(m->data, data, bytes);
        m->read_back = true;
    }
    uv_mutex_lock(&p->sink->lock);
    if (p->sink->tail != NULL) {
        p->sink->tail->next = m;
    } else {
        p->sink->head = m;
    }
    p->sink->tail = m;
    uv_mutex_unlock(&p->sink->lock);
    uv_async_send(&p->sink->async);
}

/* ---- the line --------------------------------------------------------------------- */

static bool line_error(int err)
{
    return err == ECONNRESET || err == EPIPE || err == EBADF || err == ECONNREFUSED ||
           err == ENOTCONN || err == EIO || err == ENXIO;
}

/* Connect when not connected. Returns: true, or false with the reason in why. */
static bool ensure_connected(mb_port_t *p, char *why, size_t n)
{
    if (p->connected) {
        return true;
    }
    if (p->ctx == NULL) {
        if (p->line.mode == MB_LINE_TCP) {
            p->ctx = modbus_new_tcp(p->line.host, p->line.port);
        } else {
            p->ctx = modbus_new_rtu(p->device, p->line.baud, p->line.parity, p->line.data_bits,
                                    p->line.stop_bits);
        }
        if (p->ctx == NULL) {
            snprintf(why, n, "cannot set up the line: %s", modbus_strerror(errno));
            return false;
        }
        p->timeout_set = -1;
    }
    if (modbus_connect(p->ctx) != 0) {
        if (p->line.mode == MB_LINE_TCP) {
            snprintf(why, n, "cannot connect to %s:%d: %s", p->line.host, p->line.port,
                     modbus_strerror(errno));
        } else {
            snprintf(why, n, "cannot open %.100s: %s", p->device, modbus_strerror(errno));
        }
        return false;
    }
    p->connected = true;
    return true;
}

static void disconnect(mb_port_t *p)
{
    if (p->connected) {
        modbus_close(p->ctx);
        p->connected = false;
    }
}

/* One request to s with its retries: fn(ctx) returns what libmodbus returned. Returns:
 * 1 done, 0 the slave answered with an exception (why), -1 no answer (why). */
typedef int (*request_fn)(modbus_t *ctx, void *arg);

static int request(mb_port_t *p, port_slave_t *s, request_fn fn, void *arg, char *why, size_t n)
{
    for (int attempt = 0; attempt <= s->retries; attempt++) {
        if (!ensure_connected(p, why, n)) {
            return -1; /* retried after the slave's backoff, not now */
        }
        if (p->timeout_set != (int)s->timeout_ms) {
            modbus_set_response_timeout(p->ctx, s->timeout_ms / 1000u,
                                        (s->timeout_ms % 1000u) * 1000u);
            p->timeout_set = (int)s->timeout_ms;
        }
        modbus_set_slave(p->ctx, s->unit);
        if (fn(p->ctx, arg) >= 0) {
            return 1;
        }
        int err = errno;
        if (err > MODBUS_ENOBASE && err < MODBUS_ENOBASE + 12) {
            snprintf(why, n, "exception: %s", modbus_strerror(err));
            return 0;
        }
        snprintf(why, n, "%s",
                 err == ETIMEDOUT ? "no answer within the timeout" : modbus_strerror(err));
        if (line_error(err) || p->line.mode == MB_LINE_TCP) {
            disconnect(p); /* a TCP stream out of step is not trusted again */
        } else {
            modbus_flush(p->ctx);
        }
    }
    return -1;
}

typedef struct {
    int fn;
    int address, count;
    uint16_t *regs;
    uint8_t *bits;
} read_req_t;

static int do_read(modbus_t *ctx, void *arg)
{
    read_req_t *r = arg;
    int rc;
    switch (r->fn) {
    case MB_FN_COIL:
        rc = modbus_read_bits(ctx, r->address, r->count, r->bits);
        break;
    case MB_FN_DISCRETE:
        rc = modbus_read_input_bits(ctx, r->address, r->count, r->bits);
        break;
    case MB_FN_HOLDING:
        rc = modbus_read_registers(ctx, r->address, r->count, r->regs);
        break;
    default:
        rc = modbus_read_input_registers(ctx, r->address, r->count, r->regs);
        break;
    }
    if (rc >= 0 && rc != r->count) {
        errno = EMBBADDATA;
        return -1;
    }
    return rc;
}

static int do_write(modbus_t *ctx, void *arg)
{
    const mb_job_t *j = arg;
    const mb_point_t *pt = &j->pt;
    if (pt->fn == MB_FN_COIL) {
        return modbus_write_bit(ctx, pt->address, j->bit);
    }
    if (pt->count == 1) {
        return modbus_write_register(ctx, pt->address, j->regs[0]);
    }
    return modbus_write_registers(ctx, pt->address, pt->count, j->regs);
}

static void slave_down(mb_port_t *p, port_slave_t *s, const char *why, uint64_t now)
{
    if (!s->down) {
        s->down = true;
        s->backoff_ms = BACKOFF_MIN_MS;
        post(p, MB_MSG_DOWN, s, 0, false, why, NULL, 0, 0);
    } else {
        s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
    }
    s->retry_at = now + s->backoff_ms;
}

static void slave_up(mb_port_t *p, port_slave_t *s, uint64_t now)
{
    if (s->down) {
        s->down = false;
        post(p, MB_MSG_UP, s, 0, true, NULL, NULL, 0, 0);
        for (size_t b = 0; b < s->map->n_batches; b++) {
            s->due[b] = now; /* everything again, now */
        }
    }
}

static void poll_batch(mb_port_t *p, port_slave_t *s, size_t b)
{
    const mb_batch_t *bt = &s->map->batches[b];
    bool bits = bt->fn == MB_FN_COIL || bt->fn == MB_FN_DISCRETE;
    uint16_t regs[MB_MAX_READ_REGS];
    uint8_t bitbuf[MB_MAX_READ_BITS];
    read_req_t r = {bt->fn, bt->address, bt->count, regs, bitbuf};
    char why[160];
    int rc = request(p, s, do_read, &r, why, sizeof(why));
    uint64_t now = now_ms();
    uint64_t next = s->due[b] + bt->poll_ms;
    s->due[b] = next > now ? next : now + bt->poll_ms; /* late: no catching up in a burst */
    if (rc < 0) {
        slave_down(p, s, why, now);
        return;
    }
    slave_up(p, s, now);
    if (rc == 0) {
        post(p, MB_MSG_FAULT, s, b, false, why, NULL, 0, 0);
    } else if (bits) {
        post(p, MB_MSG_READ, s, b, true, NULL, (const uint16_t *)bitbuf, bt->count, bt->count);
    } else {
        post(p, MB_MSG_READ, s, b, true, NULL, regs, bt->count, bt->count * sizeof(uint16_t));
    }
}

static port_slave_t *slave_of(mb_port_t *p, size_t slave)
{
    for (size_t i = 0; i < p->n_slaves; i++) {
        if (p->slaves[i].slave == slave) {
            return &p->slaves[i];
        }
    }
    return NULL;
}

static void run_job(mb_port_t *p, mb_job_t *j)
{
    port_slave_t *s = slave_of(p, j->slave);
    char why[160];
    if (s == NULL) {
        return;
    }
    int rc = request(p, s, do_write, j, why, sizeof(why));
    if (rc <= 0) {
        if (rc < 0) {
            slave_down(p, s, why, now_ms());
        }
        post(p, MB_MSG_WRITE, s, j->point, false, why, NULL, 0, 0);
        return;
    }
    slave_up(p, s, now_ms());
    if (!j->pt.readable) {
        post(p, MB_MSG_WRITE, s, j->point, true, NULL, NULL, 0, 0);
        return;
    }
    /* read the point back: what the slave holds now is what gets reported */
    uint16_t regs[MB_MAX_POINT_REGS];
    uint8_t bit = 0;
    read_req_t r = {j->pt.fn, j->pt.address, j->pt.count, regs, &bit};
    rc = request(p, s, do_read, &r, why, sizeof(why));
    if (rc <= 0) {
        post(p, MB_MSG_WRITE, s, j->point, true, NULL, NULL, 0, 0);
    } else if (j->pt.fn == MB_FN_COIL) {
        uint16_t one = bit;
        post(p, MB_MSG_WRITE, s, j->point, true, NULL, &one, 1, sizeof(one));
    } else {
        post(p, MB_MSG_WRITE, s, j->point, true, NULL, regs, j->pt.count,
             j->pt.count * sizeof(uint16_t));
    }
}

static void port_main(void *arg)
{
    mb_port_t *p = arg;
    uv_mutex_lock(&p->lock);
    while (!p->stop) {
        if (p->jobs != NULL) {
            mb_job_t *j = p->jobs;
            p->jobs = j->next;
            if (p->jobs == NULL) {
                p->jobs_tail = NULL;
            }
            uv_mutex_unlock(&p->lock);
            run_job(p, j);
            free(j);
            uv_mutex_lock(&p->lock);
            continue;
        }
        /* the slave and batch due first (a slave that is down: its first batch, as a probe) */
        uint64_t now = now_ms(), best = UINT64_MAX;
        port_slave_t *bs = NULL;
        size_t bb = 0;
        for (size_t i = 0; i < p->n_slaves; i++) {
            port_slave_t *s = &p->slaves[i];
            if (s->down) {
                if (s->retry_at < best && s->map->n_batches > 0) {
                    best = s->retry_at, bs = s, bb = 0;
                }
                continue;
            }
            for (size_t b = 0; b < s->map->n_batches; b++) {
                if (s->due[b] < best) {
                    best = s->due[b], bs = s, bb = b;
                }
            }
        }
        if (bs == NULL) {
            uv_cond_wait(&p->cond, &p->lock);
            continue;
        }
        if (best > now) {
            (void)uv_cond_timedwait(&p->cond, &p->lock, (best - now) * 1000000u);
            continue;
        }
        uv_mutex_unlock(&p->lock);
        if (bs->down) {
            bs->due[0] = now;
        }
        poll_batch(p, bs, bb);
        uv_mutex_lock(&p->lock);
    }
    uv_mutex_unlock(&p->lock);
    disconnect(p);
}

int mb_port_start(mb_port_t *p, const char *device)
{
    if (p->running) {
        return 0;
    }
    if (p->n_slaves == 0) {
        return QTD_EINVAL;
    }
    if (device != NULL) {
        snprintf(p->device, sizeof(p->device), "%s", device);
    }
    if (p->ctx != NULL) {
        modbus_free(p->ctx); /* a new device: a new context */
        p->ctx = NULL;
    }
    uint64_t now = now_ms();
    for (size_t i = 0; i < p->n_slaves; i++) {
        port_slave_t *s = &p->slaves[i];
        s->down = false;
        s->backoff_ms = BACKOFF_MIN_MS;
        for (size_t b = 0; b < s->map->n_batches; b++) {
            s->due[b] = now;
        }
    }
    p->stop = false;
    int rc = uv_thread_create(&p->thread, port_main, p);
    if (rc == 0) {
        p->running = true;
    }
    return rc;
}

void mb_port_stop(mb_port_t *p)
{
    if (!p->running) {
        return;
    }
    uv_mutex_lock(&p->lock);
    p->stop = true;
    uv_cond_signal(&p->cond);
    uv_mutex_unlock(&p->lock);
    uv_thread_join(&p->thread);
    p->running = false;
    while (p->jobs != NULL) {
        mb_job_t *j = p->jobs;
        p->jobs = j->next;
        free(j);
    }
    p->jobs_tail = NULL;
}

void mb_port_free(mb_port_t *p)
{
    if (p == NULL) {
        return;
    }
    mb_port_stop(p);
    if (p->ctx != NULL) {
        modbus_free(p->ctx);
    }
    for (size_t i = 0; i < p->n_slaves; i++) {
        free(p->slaves[i].due);
    }
    free(p->slaves);
    uv_cond_destroy(&p->cond);
    uv_mutex_destroy(&p->lock);
    free(p);
}

int mb_port_write(mb_port_t *p, size_t slave, size_t point, const mb_point_t *pt,
                  const uint16_t *regs, const uint8_t *bits)
{
    if (!p->running) {
        return QTD_ENOTCONN;
    }
    mb_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return QTD_ENOMEM;
    }
    j->slave = slave;
    j->point = point;
    j->pt = *pt;
    if (pt->fn == MB_FN_COIL) {
        j->bit = bits[0];
    } else {
        memcpy(j->regs, regs, pt->count * sizeof(uint16_t));
    }
    uv_mutex_lock(&p->lock);
    if (p->jobs_tail != NULL) {
        p->jobs_tail->next = j;
    } else {
        p->jobs = j;
    }
    p->jobs_tail = j;
    uv_cond_signal(&p->cond);
    uv_mutex_unlock(&p->lock);
    return 0;
}
