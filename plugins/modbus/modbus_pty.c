/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pseudo-terminals for script-driven lines and serial handles for scripts (modbus_pty.h).
 * Everything here runs on the loop thread; reads are driven by uv_poll, and every chunk
 * read becomes one QTD_DOM_MODBUS_UART event for the script (modbus_lua.c dispatches it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* posix_openpt, ptsname_r */
#endif
#include "modbus_pty.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qtd_serial.h"

struct mbp_pty_s {
    struct mbp_pty_s *next;
    mbp_t *m;
    int event;   /* MBP_UART_SEND (a line's pty) or MBP_UART_SERIAL */
    int id;      /* the line's uart number, or the serial handle */
    size_t port; /* the line's modbus.ports index */
    int fd;
    int keep_fd; /* a line: the slave side held open, so the master never sees a hangup */
    char name[128];
    uv_poll_t poll;
};

static int next_handle = 1;

static void publish_bytes(mbp_t *m, int event, int id, const void *data, size_t len)
{
    qtd_value_t items[2] = {
        {.type = QTD_VAL_INT, .u.i = id},
        {.type = QTD_VAL_BYTES, .u.s = {data, len}},
    };
    qtd_event_t ev = {.size = sizeof(ev),
                      .domain = QTD_DOM_MODBUS_UART,
                      .event = event,
                      .value = {.type = QTD_VAL_ARRAY, .u.list = {items, 2}}};
    if (m->api->publish(m->host, &ev) < 0) {
        MBP_LOG(m, QTD_LOG_WARN, "%zu bytes for the script lost (out of memory)", len);
    }
}

static void close_cb(uv_handle_t *h)
{
    mbp_pty_t *p = h->data;
    close(p->fd);
    if (p->keep_fd >= 0) {
        close(p->keep_fd);
    }
    free(p);
}

static void unlink_pty(mbp_t *m, mbp_pty_t *p)
{
    for (mbp_pty_t **pp = &m->ptys; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    uv_poll_stop(&p->poll);
    uv_close((uv_handle_t *)&p->poll, close_cb);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    mbp_pty_t *p = h->data;
    mbp_t *m = p->m;
    uint8_t buf[512];
    ssize_t n = status == 0 && (events & UV_READABLE) ? read(p->fd, buf, sizeof(buf)) : -1;
    if (n > 0) {
        publish_bytes(m, p->event, p->id, buf, (size_t)n);
        return;
    }
    if (n < 0 && status == 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    const char *why = status < 0 ? uv_strerror(status) : n == 0 ? "closed" : strerror(errno);
    MBP_LOG(m, QTD_LOG_WARN, "%s: read failed (%s): closed", p->name, why);
    if (p->event == MBP_UART_SERIAL) {
        qtd_value_t items[2] = {{.type = QTD_VAL_INT, .u.i = p->id},
                                {.type = QTD_VAL_STRING, .u.s = {why, strlen(why)}}};
        qtd_event_t ev = {.size = sizeof(ev),
                          .domain = QTD_DOM_MODBUS_UART,
                          .event = MBP_UART_SERIAL_CLOSED,
                          .value = {.type = QTD_VAL_ARRAY, .u.list = {items, 2}}};
        (void)m->api->publish(m->host, &ev);
    }
    unlink_pty(m, p);
}

static mbp_pty_t *add(mbp_t *m, int fd, int event, int id, const char *name)
{
    mbp_pty_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    *p = (mbp_pty_t){.m = m, .event = event, .id = id, .fd = fd, .keep_fd = -1};
    snprintf(p->name, sizeof(p->name), "%s", name);
    if (uv_poll_init(m->api->loop(m->host), &p->poll, fd) != 0) {
        free(p);
        return NULL;
    }
    p->poll.data = p;
    uv_poll_start(&p->poll, UV_READABLE, on_readable);
    p->next = m->ptys;
    m->ptys = p;
    return p;
}

static mbp_pty_t *find(mbp_t *m, int event, int id)
{
    for (mbp_pty_t *p = m->ptys; p != NULL; p = p->next) {
        if (p->event == event && p->id == id) {
            return p;
        }
    }
    return NULL;
}

/* The sub-devices of the slaves on line `port` come online with it, and go with it. */
static void connect_line(mbp_t *m, size_t port, bool on)
{
    for (size_t i = 0; i < m->n_slaves; i++) {
        const mbp_slave_t *s = &m->slaves[i];
        if (s->port != port || s->pk == NULL) {
            continue;
        }
        int rc = on ? m->thing->subdev_connect(m->cloud, s->pk, s->cfg->ps, s->dk, NULL, 0,
                                               (int)s->cfg->keepalive_s)
                    : m->thing->subdev_disconnect(m->cloud, s->pk, s->dk);
        if (rc < 0 && rc != QTD_EBUSY) {
            MBP_LOG(m, QTD_LOG_WARN, "%s: sub-device %s/%s not %s: %s", s->path, s->pk, s->dk,
                    on ? "connected" : "disconnected", m->api->strerror(rc));
        }
    }
}

int mbp_pty_line_open(mbp_t *m, size_t port)
{
    const mbp_port_cfg_t *pc = (const mbp_port_cfg_t *)m->cfg->ports.items + port;
    if (find(m, MBP_UART_SEND, (int)pc->uart) != NULL) {
        return QTD_EEXIST;
    }
    char name[128];
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
    int keep = -1;
    if (fd < 0 || grantpt(fd) != 0 || unlockpt(fd) != 0 || ptsname_r(fd, name, sizeof(name)) != 0 ||
        (keep = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK)) < 0 ||
        qtd_serial_setup(keep, (int)pc->baud, 'N', 8, 1) != 0) { /* a pty has no parity bit */
        MBP_LOG(m, QTD_LOG_ERROR, "modbus.ports[%zu] (%s): no pseudo-terminal: %s", port + 1,
                pc->name, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        if (keep >= 0) {
            close(keep);
        }
        return QTD_EIO;
    }
    char label[160];
    snprintf(label, sizeof(label), "modbus.ports[%zu] (%s, uart %lld, %s)", port + 1, pc->name,
             (long long)pc->uart, name);
    mbp_pty_t *p = add(m, fd, MBP_UART_SEND, (int)pc->uart, label);
    if (p == NULL) {
        close(fd);
        close(keep);
        return QTD_ENOMEM;
    }
    p->keep_fd = keep;
    p->port = port;
    int rc = mb_port_start(m->ports[port], name);
    if (rc != 0) {
        MBP_LOG(m, QTD_LOG_ERROR, "%s: the line does not start: %s", label,
                rc == QTD_EINVAL ? "no slave uses it" : uv_strerror(rc));
        unlink_pty(m, p);
        return QTD_EIO;
    }
    MBP_LOG(m, QTD_LOG_INFO, "%s: the script moves its bytes", label);
    connect_line(m, port, true);
    return 0;
}

static int write_all(mbp_t *m, mbp_pty_t *p, const void *data, size_t len)
{
    const uint8_t *b = data;
    while (len > 0) {
        ssize_t n = write(p->fd, b, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            MBP_LOG(m, QTD_LOG_WARN, "%s: %zu bytes not written: %s", p->name, len,
                    n < 0 ? strerror(errno) : "full");
            return QTD_EIO;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

int mbp_pty_line_write(mbp_t *m, int uart, const void *data, size_t len)
{
    mbp_pty_t *p = find(m, MBP_UART_SEND, uart);
    return p != NULL ? write_all(m, p, data, len) : QTD_ENOENT;
}

int mbp_serial_open(mbp_t *m, const char *device, int baud, char parity, int data_bits,
                    int stop_bits)
{
    for (mbp_pty_t *p = m->ptys; p != NULL; p = p->next) {
        if (p->event == MBP_UART_SERIAL && strcmp(p->name, device) == 0) {
            /* a reloaded script opens its line again: one reader per line */
            MBP_LOG(m, QTD_LOG_INFO, "modbus.serialOpen: %s was open (handle %d): closed first",
                    device, p->id);
            unlink_pty(m, p);
            break;
        }
    }
    int fd = qtd_serial_open(device, baud, parity, data_bits, stop_bits);
    if (fd < 0) {
        MBP_LOG(m, QTD_LOG_WARN, "modbus.serialOpen: cannot open %s: %s", device,
                fd == -EINVAL ? "a speed, parity, data or stop bits the lines do not take"
                              : strerror(-fd));
        return fd == -EINVAL ? QTD_EINVAL : QTD_EIO;
    }
    int id = next_handle++;
    if (add(m, fd, MBP_UART_SERIAL, id, device) == NULL) {
        close(fd);
        return QTD_ENOMEM;
    }
    return id;
}

int mbp_serial_write(mbp_t *m, int handle, const void *data, size_t len)
{
    mbp_pty_t *p = find(m, MBP_UART_SERIAL, handle);
    return p != NULL ? write_all(m, p, data, len) : QTD_ENOENT;
}

int mbp_serial_close(mbp_t *m, int handle)
{
    mbp_pty_t *p = find(m, MBP_UART_SERIAL, handle);
    if (p == NULL) {
        return QTD_ENOENT;
    }
    unlink_pty(m, p);
    return 0;
}

void mbp_pty_close_all(mbp_t *m, bool lines_only)
{
    mbp_pty_t *p = m->ptys;
    while (p != NULL) {
        mbp_pty_t *next = p->next;
        if (p->event == MBP_UART_SEND) {
            mb_port_stop(m->ports[p->port]); /* libmodbus off the pty before it goes */
            if (m->started) {
                connect_line(m, p->port, false);
            }
            unlink_pty(m, p);
        } else if (!lines_only) {
            unlink_pty(m, p);
        }
        p = next;
    }
}
