/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Modbus plugin (seed 3.10): libmodbus masters on serial RTU lines, TCP servers and
 * script-driven lines (modbus_port.c, a thread per line), register maps (modbus_map.c)
 * between slaves and thing models. Each slave with a product key is a sub-device of this
 * gateway, connected through the cloud plugin's thing service; a slave without one maps
 * points of the device's own thing model (the seed's arrangement). Polled values go out as
 * thing-model reports (through the outbox), the platform's writes to a sub-device become
 * register writes with a read-back, its reads are answered from the last polled values.
 * This file: the configuration, the life cycle and the loop's side of the lines.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbus_plugin.h"

static const qtd_cfg_key_t port_keys[] = {
    {QTD_CFG_STRING, "name", NULL, offsetof(mbp_port_cfg_t, name),
     "name the slaves refer to (slaves[].port)", 0, 0, NULL, NULL, 0},
    {QTD_CFG_STRING, "mode", "rtu", offsetof(mbp_port_cfg_t, mode),
     "rtu: a serial line; tcp: a Modbus TCP server; script: RTU whose bytes the script moves "
     "(quecIot.MBInit's sendFunc and MBDataRecv)",
     0, 0, "rtu|tcp|script", NULL, 0},
    {QTD_CFG_STRING, "device", "", offsetof(mbp_port_cfg_t, device),
     "serial device for rtu (e.g. /dev/ttyS1)", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "baud", "9600", offsetof(mbp_port_cfg_t, baud), "serial speed (rtu, script)", 0,
     0, "1200|2400|4800|9600|19200|38400|57600|115200|230400", NULL, 0},
    {QTD_CFG_INT, "data_bits", "8", offsetof(mbp_port_cfg_t, data_bits), "data bits (rtu, script)",
     5, 8, NULL, NULL, 0},
    {QTD_CFG_STRING, "parity", "N", offsetof(mbp_port_cfg_t, parity),
     "parity (rtu, script): N none, E even, O odd", 0, 0, "N|E|O", NULL, 0},
    {QTD_CFG_INT, "stop_bits", "1", offsetof(mbp_port_cfg_t, stop_bits), "stop bits (rtu, script)",
     1, 2, NULL, NULL, 0},
    {QTD_CFG_STRING, "host", "127.0.0.1", offsetof(mbp_port_cfg_t, host), "server address for tcp",
     0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "port", "502", offsetof(mbp_port_cfg_t, port), "server port for tcp", 1, 65535,
     NULL, NULL, 0},
    {QTD_CFG_INT, "uart", "0", offsetof(mbp_port_cfg_t, uart),
     "script: the port number the script names in MBInit's uartList and MBDataRecv", 0, 65535, NULL,
     NULL, 0},
    {.type = QTD_CFG_END},
};

static const qtd_cfg_key_t point_keys[] = {
    {QTD_CFG_INT, "id", NULL, offsetof(mb_point_cfg_t, id),
     "thing-model id of the point (the wire carries 1..8191)", 1, 8191, NULL, NULL, 0},
    {QTD_CFG_STRING, "table", "holding", offsetof(mb_point_cfg_t, table),
     "Modbus table (the spec's primary tables): coil, discrete (input), holding (register), input "
     "(register)",
     0, 0, MB_FN_CHOICES, NULL, 0},
    {QTD_CFG_INT, "address", NULL, offsetof(mb_point_cfg_t, address),
     "first address on the wire (0-based: holding register 40001 is address 0)", 0, 65535, NULL,
     NULL, 0},
    {QTD_CFG_INT, "count", "0", offsetof(mb_point_cfg_t, count),
     "registers of a string (two characters each); other types: their own width", 0,
     MB_MAX_POINT_REGS, NULL, NULL, 0},
    {QTD_CFG_STRING, "type", "u16", offsetof(mb_point_cfg_t, type),
     "value type (bool for coils and discrete inputs)", 0, 0, MB_TYPE_CHOICES, NULL, 0},
    {QTD_CFG_STRING, "word_order", "big", offsetof(mb_point_cfg_t, word_order),
     "big: the first register is the most significant; little: the last", 0, 0, "big|little", NULL,
     0},
    {QTD_CFG_STRING, "byte_order", "big", offsetof(mb_point_cfg_t, byte_order),
     "big: the high byte of each register first (Modbus); little: swapped", 0, 0, "big|little",
     NULL, 0},
    {QTD_CFG_DOUBLE, "scale", "1", offsetof(mb_point_cfg_t, scale),
     "value = raw * scale + offset (then reported as a float)", 0, 0, NULL, NULL, 0},
    {QTD_CFG_DOUBLE, "offset", "0", offsetof(mb_point_cfg_t, offset), "see scale", 0, 0, NULL, NULL,
     0},
    {QTD_CFG_STRING, "access", "r", offsetof(mb_point_cfg_t, access),
     "r: polled and reported; w: written by the platform; rw: both", 0, 0, "r|w|rw", NULL, 0},
    {QTD_CFG_INT, "poll_ms", "0", offsetof(mb_point_cfg_t, poll_ms),
     "polling period, ms; 0: the slave's", 0, 86400000, NULL, NULL, 0},
    {QTD_CFG_STRING, "report", "change", offsetof(mb_point_cfg_t, report),
     "change: reported when it moves by more than deadband; period: every poll", 0, 0,
     "change|period", NULL, 0},
    {QTD_CFG_DOUBLE, "deadband", "0", offsetof(mb_point_cfg_t, deadband),
     "report = change: the least change reported", 0, 1e300, NULL, NULL, 0},
    {QTD_CFG_BOOL, "script", "false", offsetof(mb_point_cfg_t, script),
     "true: the value goes to the script (modbus.setEventCB, event 2) to transform and report, "
     "not to the platform",
     0, 0, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static const qtd_cfg_key_t slave_keys[] = {
    {QTD_CFG_STRING, "port", NULL, offsetof(mb_slave_cfg_t, port), "name of its line (ports[])", 0,
     0, NULL, NULL, 0},
    {QTD_CFG_INT, "unit", "1", offsetof(mb_slave_cfg_t, unit), "unit (slave) id", 0, 255, NULL,
     NULL, 0},
    {QTD_CFG_STRING, "pk", "", offsetof(mb_slave_cfg_t, pk),
     "product key of its sub-device; empty: its points are the device's own", 0, 0, NULL, NULL, 0},
    {QTD_CFG_STRING, "ps", "", offsetof(mb_slave_cfg_t, ps), "product secret of its sub-device", 0,
     0, NULL, NULL, 0},
    {QTD_CFG_STRING, "dk", "", offsetof(mb_slave_cfg_t, dk),
     "device key of its sub-device; empty: <port>-<unit>", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "keepalive_s", "120", offsetof(mb_slave_cfg_t, keepalive_s),
     "sub-device heartbeat period, seconds", 10, 65535, NULL, NULL, 0},
    {QTD_CFG_INT, "poll_ms", "0", offsetof(mb_slave_cfg_t, poll_ms),
     "polling period of its points, ms; 0: modbus.poll_ms", 0, 86400000, NULL, NULL, 0},
    {QTD_CFG_INT, "timeout_ms", "0", offsetof(mb_slave_cfg_t, timeout_ms),
     "answer timeout, ms; 0: modbus.timeout_ms", 0, 60000, NULL, NULL, 0},
    {QTD_CFG_INT, "retries", "-1", offsetof(mb_slave_cfg_t, retries),
     "tries again before it counts as not answering; -1: modbus.retries", -1, 10, NULL, NULL, 0},
    {QTD_CFG_ARRAY, "points", NULL, offsetof(mb_slave_cfg_t, points),
     "its points: { id, table, address, type, ... }", 0, 0, NULL, point_keys,
     sizeof(mb_point_cfg_t)},
    {.type = QTD_CFG_END},
};

static const qtd_cfg_key_t modbus_keys[] = {
    {QTD_CFG_ARRAY, "ports", NULL, offsetof(mbp_cfg_t, ports), "serial lines and TCP servers", 0, 0,
     NULL, port_keys, sizeof(mbp_port_cfg_t)},
    {QTD_CFG_ARRAY, "slaves", NULL, offsetof(mbp_cfg_t, slaves), "slaves and their register maps",
     0, 0, NULL, slave_keys, sizeof(mb_slave_cfg_t)},
    {QTD_CFG_INT, "poll_ms", "1000", offsetof(mbp_cfg_t, poll_ms),
     "default polling period of register maps, ms", 10, 86400000, NULL, NULL, 0},
    {QTD_CFG_INT, "timeout_ms", "500", offsetof(mbp_cfg_t, timeout_ms),
     "default answer timeout of a slave, ms", 10, 60000, NULL, NULL, 0},
    {QTD_CFG_INT, "retries", "1", offsetof(mbp_cfg_t, retries),
     "default tries again before a slave counts as not answering", 0, 10, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

/* ---- helpers ---------------------------------------------------------------------- */

mbp_slave_t *mbp_slave_find(mbp_t *m, const char *pk, const char *dk)
{
    bool own = pk == NULL || pk[0] == '\0';
    for (size_t i = 0; i < m->n_slaves; i++) {
        mbp_slave_t *s = &m->slaves[i];
        if (own ? s->pk == NULL
                : (s->pk != NULL && strcmp(s->pk, pk) == 0 && dk != NULL &&
                   strcmp(s->dk, dk) == 0)) {
            return s;
        }
    }
    return NULL;
}

static qtd_value_t str_value(const char *s)
{
    return (qtd_value_t){.type = QTD_VAL_STRING, .u.s = {s, strlen(s)}};
}

void mbp_event(mbp_t *m, const mbp_slave_t *s, int event, int errcode, const qtd_value_t *v)
{
    qtd_value_t items[3] = {str_value(s->pk != NULL ? s->pk : ""),
                            str_value(s->pk != NULL ? s->dk : "")};
    size_t n = 2;
    if (v != NULL) {
        items[n++] = *v;
    }
    qtd_event_t ev = {.size = sizeof(ev),
                      .domain = QTD_DOM_MODBUS,
                      .event = event,
                      .errcode = errcode,
                      .value = {.type = QTD_VAL_ARRAY, .u.list = {items, n}}};
    if (m->api->publish(m->host, &ev) < 0) {
        MBP_LOG(m, QTD_LOG_ERROR, "%s: event %d/%d lost (out of memory)", s->path, event, errcode);
    }
}

/* Copy a value into a point's slot (its string into the slot's own storage). */
static void keep_value(qtd_value_t *slot, char *text, const qtd_value_t *v)
{
    *slot = *v;
    if (v->type == QTD_VAL_STRING) {
        memcpy(text, v->u.s.ptr, v->u.s.len);
        text[v->u.s.len] = '\0';
        slot->u.s.ptr = text;
    }
}

static char *cur_text(mbp_slave_t *s, size_t i)
{
    return s->text + s->text_at[i];
}

static char *sent_text(mbp_slave_t *s, size_t i)
{
    return s->text + s->text_at[i] + 2u * s->map.points[i].count + 1;
}

/* Report the current values of points idx[0..n-1] of slave s (thing-model report through
 * the outbox); a point's value counts as sent once the report is queued. */
static void report(mbp_t *m, mbp_slave_t *s, const size_t *idx, size_t n)
{
    qtd_value_t items[64];
    if (n == 0 || n > 64) {
        return;
    }
    for (size_t k = 0; k < n; k++) {
        items[k] = s->cur[idx[k]];
    }
    qtd_value_t v = {.type = QTD_VAL_STRUCT, .u.list = {items, n}};
    int rc = m->thing->tsl_report(m->cloud, s->pk, s->pk != NULL ? s->dk : NULL, 1, &v);
    if (rc == QTD_EINVAL && n > 1) {
        for (size_t k = 0; k < n; k++) {
            report(m, s, &idx[k], 1); /* only the value the wire cannot carry is lost */
        }
        return;
    }
    if (rc < 0) {
        MBP_LOG(m, QTD_LOG_WARN, "%s (%s): %zu values not reported: %s", s->path, s->dk, n,
                m->api->strerror(rc));
        return; /* sent again at the next poll */
    }
    for (size_t k = 0; k < n; k++) {
        keep_value(&s->sent[idx[k]], sent_text(s, idx[k]), &s->cur[idx[k]]);
    }
}

/* ---- from the lines --------------------------------------------------------------- */

static void on_read(mbp_t *m, mbp_slave_t *s, const mb_msg_t *msg)
{
    const mb_batch_t *b = &s->map.batches[msg->item];
    bool bits = b->fn == MB_FN_COIL || b->fn == MB_FN_DISCRETE;
    qtd_value_t scr[64];
    size_t out[64];
    size_t n_out = 0, n_scr = 0;
    if (s->faulted[msg->item]) {
        s->faulted[msg->item] = false;
        MBP_LOG(m, QTD_LOG_INFO, "%s (%s): %s %u..%u read again", s->path, s->dk, mb_fn_name(b->fn),
                b->address, b->address + b->count - 1u);
    }
    for (size_t k = 0; k < b->n; k++) {
        size_t i = b->first + k;
        const mb_point_t *p = &s->map.points[i];
        size_t off = (size_t)(p->address - b->address);
        qtd_value_t v;
        char buf[2 * MB_MAX_POINT_REGS + 1];
        if (mb_decode(p, bits ? NULL : msg->data + off,
                      bits ? (const uint8_t *)msg->data + off : NULL, &v, buf, sizeof(buf)) != 0) {
            if (s->cur[i].type != QTD_VAL_NONE) {
                MBP_LOG(m, QTD_LOG_WARN,
                        "%s.points[%zu] (id %u): the %s read is not a number the platform "
                        "carries (NaN, infinite, or beyond +-2^64): not reported",
                        s->path, p->index + 1, p->id, mb_type_name(p->type));
            }
            s->cur[i].type = QTD_VAL_NONE;
            continue;
        }
        keep_value(&s->cur[i], cur_text(s, i), &v);
        bool due = !p->on_change || mb_changed(p, &s->sent[i], &s->cur[i]);
        if (!due) {
            continue;
        }
        if (p->script) {
            keep_value(&s->sent[i], sent_text(s, i), &s->cur[i]);
            scr[n_scr++] = s->cur[i];
        } else {
            out[n_out++] = i;
        }
        if (n_out == 64) {
            report(m, s, out, n_out);
            n_out = 0;
        }
        if (n_scr == 64) {
            qtd_value_t sv = {.type = QTD_VAL_STRUCT, .u.list = {scr, n_scr}};
            mbp_event(m, s, QTD_MB_EVT_VALUES, QTD_CODE_OK, &sv);
            n_scr = 0;
        }
    }
    report(m, s, out, n_out);
    if (n_scr > 0) {
        qtd_value_t sv = {.type = QTD_VAL_STRUCT, .u.list = {scr, n_scr}};
        mbp_event(m, s, QTD_MB_EVT_VALUES, QTD_CODE_OK, &sv);
    }
}

static void on_write_done(mbp_t *m, mbp_slave_t *s, const mb_msg_t *msg)
{
    size_t i = msg->item;
    const mb_point_t *p = &s->map.points[i];
    if (!msg->ok) {
        MBP_LOG(m, QTD_LOG_WARN, "%s.points[%zu] (id %u): the write failed: %s", s->path,
                p->index + 1, p->id, msg->reason);
        qtd_value_t idv = {.type = QTD_VAL_STRUCT};
        if (s->cur[i].type != QTD_VAL_NONE) {
            if (!p->script) {
                report(m, s, &i, 1); /* the platform sees the value did not change */
            }
            idv.u.list.items = &s->cur[i];
            idv.u.list.count = 1;
        }
        mbp_event(m, s, QTD_MB_EVT_WRITE, QTD_CODE_FAIL, &idv);
        return;
    }
    qtd_value_t v = {.type = QTD_VAL_NONE};
    char buf[2 * MB_MAX_POINT_REGS + 1];
    bool bits = p->fn == MB_FN_COIL;
    if (msg->read_back &&
        mb_decode(p, bits ? NULL : msg->data, bits ? &(uint8_t){(uint8_t)msg->data[0]} : NULL, &v,
                  buf, sizeof(buf)) == 0) {
        keep_value(&s->cur[i], cur_text(s, i), &v);
        if (p->script) {
            keep_value(&s->sent[i], sent_text(s, i), &v);
        } else {
            report(m, s, &i, 1);
        }
    }
    qtd_value_t sv = {
        .type = QTD_VAL_STRUCT,
        .u.list = {v.type != QTD_VAL_NONE ? &s->cur[i] : NULL, v.type != QTD_VAL_NONE ? 1u : 0u}};
    mbp_event(m, s, QTD_MB_EVT_WRITE, QTD_CODE_OK, &sv);
}

static void on_line_message(mbp_t *m, const mb_msg_t *msg)
{
    mbp_slave_t *s = &m->slaves[msg->slave];
    const mbp_port_cfg_t *pc = (const mbp_port_cfg_t *)m->cfg->ports.items + s->port;
    switch (msg->kind) {
    case MB_MSG_READ:
        on_read(m, s, msg);
        break;
    case MB_MSG_FAULT:
        if (!s->faulted[msg->item]) {
            const mb_batch_t *b = &s->map.batches[msg->item];
            s->faulted[msg->item] = true;
            MBP_LOG(m, QTD_LOG_WARN,
                    "%s (%s): reading %s %u..%u: %s; check the points' addresses (polled again "
                    "every %u ms)",
                    s->path, s->dk, mb_fn_name(b->fn), b->address, b->address + b->count - 1u,
                    msg->reason, b->poll_ms);
        }
        break;
    case MB_MSG_DOWN:
    case MB_MSG_UP: {
        bool down = msg->kind == MB_MSG_DOWN;
        s->down = down;
        if (down) {
            MBP_LOG(m, QTD_LOG_WARN,
                    "%s (%s, %s unit %lld): not answering: %s; tried again with backoff", s->path,
                    s->dk, pc->name, (long long)s->cfg->unit, msg->reason);
        } else {
            MBP_LOG(m, QTD_LOG_INFO, "%s (%s, %s unit %lld): answering again", s->path, s->dk,
                    pc->name, (long long)s->cfg->unit);
        }
        qtd_value_t info[3] = {str_value(pc->name),
                               {.type = QTD_VAL_INT, .u.i = s->cfg->unit},
                               str_value(msg->reason)};
        qtd_value_t v = {.type = QTD_VAL_ARRAY, .u.list = {info, 3}};
        mbp_event(m, s, QTD_MB_EVT_SLAVE, down ? QTD_CODE_FAIL : QTD_CODE_OK, &v);
        break;
    }
    default:
        on_write_done(m, s, msg);
        break;
    }
}

static void on_sink(uv_async_t *a)
{
    mbp_t *m = a->data;
    uv_mutex_lock(&m->sink.lock);
    mb_msg_t *msg = m->sink.head;
    m->sink.head = m->sink.tail = NULL;
    uv_mutex_unlock(&m->sink.lock);
    while (msg != NULL) {
        mb_msg_t *next = msg->next;
        on_line_message(m, msg);
        free(msg);
        msg = next;
    }
}

/* ---- from the platform ------------------------------------------------------------ */

static const mb_point_t *point_by_id(const mbp_slave_t *s, unsigned id, size_t *at)
{
    for (size_t i = 0; i < s->map.n_points; i++) {
        if (s->map.points[i].id == id) {
            *at = i;
            return &s->map.points[i];
        }
    }
    return NULL;
}

size_t mbp_write(mbp_t *m, mbp_slave_t *s, const qtd_value_t *values, bool platform)
{
    size_t queued = 0;
    mb_port_t *port = m->ports[s->port];
    for (size_t k = 0; values->type == QTD_VAL_STRUCT && k < values->u.list.count; k++) {
        const qtd_value_t *v = &values->u.list.items[k];
        size_t i = 0;
        const mb_point_t *p = point_by_id(s, v->id, &i);
        if (platform && p != NULL && p->script) {
            continue; /* the script's: it sees 5/10210 and writes with modbus.write */
        }
        char why[160] = "";
        uint16_t regs[MB_MAX_POINT_REGS];
        uint8_t bit = 0;
        int rc = -1;
        if (p == NULL) {
            snprintf(why, sizeof(why), "id %u is not mapped to a point of this slave", v->id);
        } else if (!p->writable) {
            snprintf(why, sizeof(why),
                     "points[%zu] (id %u) is read-only (access = \"r\"): give it access = "
                     "\"rw\" to allow writes",
                     p->index + 1, p->id);
        } else if (mb_encode(p, v, regs, &bit, why, sizeof(why)) == 0) {
            rc = mb_port_write(port, (size_t)(s - m->slaves), i, p, regs, &bit);
            if (rc < 0) {
                snprintf(why, sizeof(why), "%s",
                         rc == QTD_ENOTCONN ? "its line is not running" : m->api->strerror(rc));
            }
        } else {
            char reason[160];
            snprintf(reason, sizeof(reason), "%s", why);
            snprintf(why, sizeof(why), "points[%zu] (id %u): %.120s", p->index + 1, p->id, reason);
        }
        if (rc == 0) {
            queued++;
            continue;
        }
        MBP_LOG(m, QTD_LOG_WARN, "%s (%s): a write refused: %s", s->path, s->dk, why);
        qtd_value_t asked = *v;
        qtd_value_t sv = {.type = QTD_VAL_STRUCT, .u.list = {&asked, 1}};
        mbp_event(m, s, QTD_MB_EVT_WRITE, QTD_CODE_FAIL, &sv);
        if (p != NULL && s->cur[i].type != QTD_VAL_NONE && !p->script) {
            report(m, s, &i, 1); /* the platform sees the value did not change */
        }
    }
    return queued;
}

/* A platform read of a sub-device: answered from the last polled values (at most a poll
 * period old); an empty list asks for every point. Points not read yet, and those whose
 * values go to the script (script = true), are left out. */
static void answer_read(mbp_t *m, mbp_slave_t *s, const qtd_value_t *req)
{
    if (req->type != QTD_VAL_ARRAY || req->u.list.count < 2 ||
        req->u.list.items[0].type != QTD_VAL_INT || req->u.list.items[1].type != QTD_VAL_ARRAY) {
        return;
    }
    const qtd_value_t *ids = &req->u.list.items[1];
    size_t asked = ids->u.list.count;
    qtd_value_t *items = calloc(s->map.n_points + 1, sizeof(*items));
    if (items == NULL) {
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->map.n_points; i++) {
        bool wanted = asked == 0;
        for (size_t k = 0; !wanted && k < asked; k++) {
            const qtd_value_t *id = &ids->u.list.items[k];
            wanted = id->type == QTD_VAL_INT && id->u.i == s->map.points[i].id;
        }
        if (wanted && !s->map.points[i].script && s->cur[i].type != QTD_VAL_NONE) {
            items[n++] = s->cur[i];
        }
    }
    qtd_value_t v = {.type = QTD_VAL_STRUCT, .u.list = {items, n}};
    int rc = m->thing->tsl_ack(m->cloud, s->pk, s->dk, 1, (uint16_t)req->u.list.items[0].u.i, &v);
    if (rc < 0) {
        MBP_LOG(m, QTD_LOG_WARN, "%s (%s): the read of %zu ids not answered: %s", s->path, s->dk,
                asked, m->api->strerror(rc));
    }
    free(items);
}

static int modbus_on_event(void *self, const qtd_event_t *ev)
{
    mbp_t *m = self;
    const qtd_value_t *v = &ev->value;
    if (ev->domain != QTD_DOM_SUBDEV || ev->event != QTD_EVT_RECV || v->type != QTD_VAL_ARRAY ||
        v->u.list.count < 3 || v->u.list.items[0].type != QTD_VAL_STRING ||
        v->u.list.items[1].type != QTD_VAL_STRING) {
        return 0;
    }
    mbp_slave_t *s = mbp_slave_find(m, v->u.list.items[0].u.s.ptr, v->u.list.items[1].u.s.ptr);
    if (s == NULL) {
        return 0; /* another sub-device: the script's */
    }
    if (ev->errcode == QTD_CODE_TSL) {
        mbp_write(m, s, &v->u.list.items[2], true);
    } else if (ev->errcode == QTD_CODE_TSL_READ) {
        answer_read(m, s, &v->u.list.items[2]);
    }
    return 0;
}

/* Every answering slave's sub-device is alive: a heartbeat; one the platform logged out
 * meanwhile (no heartbeat while the slave was silent, 2/10473) is connected again. A
 * silent slave gets none, so the platform sees its sub-device go offline. */
static void on_beat(qtd_timer_t *t, void *arg)
{
    (void)t;
    mbp_t *m = arg;
    for (size_t i = 0; i < m->n_slaves; i++) {
        mbp_slave_t *s = &m->slaves[i];
        if (s->pk == NULL || s->down || !mb_port_running(m->ports[s->port])) {
            continue; /* a script-driven line before MBInit or after MBDeinit: offline */
        }
        if (m->thing->subdev_heartbeat(m->cloud, s->pk, s->dk) == QTD_ENOTCONN &&
            m->thing->work_state(m->cloud) == QTD_WS_SUBSCRIBED) {
            (void)m->thing->subdev_connect(m->cloud, s->pk, s->cfg->ps, s->dk, NULL, 0,
                                           (int)s->cfg->keepalive_s);
        }
    }
}

/* ---- life cycle ------------------------------------------------------------------- */

static int line_of(const mbp_port_cfg_t *pc, mb_line_t *line)
{
    *line = (mb_line_t){.mode = strcmp(pc->mode, "tcp") == 0      ? MB_LINE_TCP
                                : strcmp(pc->mode, "script") == 0 ? MB_LINE_SCRIPT
                                                                  : MB_LINE_RTU,
                        .name = pc->name,
                        .device = pc->device,
                        .baud = (int)pc->baud,
                        .data_bits = (int)pc->data_bits,
                        .stop_bits = (int)pc->stop_bits,
                        .parity = pc->parity[0],
                        .host = pc->host,
                        .port = (int)pc->port};
    return 0;
}

static void free_slaves(mbp_t *m)
{
    for (size_t i = 0; m->slaves != NULL && i < m->n_slaves; i++) {
        mbp_slave_t *s = &m->slaves[i];
        mb_map_free(&s->map);
        free(s->cur);
        free(s->sent);
        free(s->text);
        free(s->text_at);
        free(s->faulted);
    }
    free(m->slaves);
    m->slaves = NULL;
}

static void modbus_destroy(void *self)
{
    mbp_t *m = self;
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; m->ports != NULL && i < m->n_ports; i++) {
        mb_port_free(m->ports[i]);
    }
    free(m->ports);
    free(m->line_wanted);
    free_slaves(m);
    for (mb_msg_t *msg = m->sink.head; msg != NULL;) {
        mb_msg_t *next = msg->next;
        free(msg);
        msg = next;
    }
    uv_mutex_destroy(&m->sink.lock);
    m->api->free(m->host, m);
}

/* Check slave i against the lines and the slaves before it, compile its map and give it
 * its storage. Returns: 0, QTD_ECONFIG (logged), QTD_ENOMEM. */
static int set_up_slave(mbp_t *m, size_t i)
{
    const mb_slave_cfg_t *c = (const mb_slave_cfg_t *)m->cfg->slaves.items + i;
    const mbp_port_cfg_t *ports = m->cfg->ports.items;
    mbp_slave_t *s = &m->slaves[i];
    char err[320];
    s->cfg = c;
    snprintf(s->path, sizeof(s->path), "modbus.slaves[%zu]", i + 1);
    s->port = SIZE_MAX;
    for (size_t k = 0; k < m->cfg->ports.count; k++) {
        if (strcmp(ports[k].name, c->port) == 0) {
            s->port = k;
        }
    }
    if (s->port == SIZE_MAX) {
        MBP_LOG(m, QTD_LOG_ERROR, "%s.port: no line named \"%s\" in modbus.ports", s->path,
                c->port);
        return QTD_ECONFIG;
    }
    bool tcp = strcmp(ports[s->port].mode, "tcp") == 0;
    if (!tcp && (c->unit < 1 || c->unit > 247)) {
        MBP_LOG(m, QTD_LOG_ERROR, "%s.unit: %lld on a serial line: use 1..247", s->path,
                (long long)c->unit);
        return QTD_ECONFIG;
    }
    s->pk = c->pk[0] != '\0' ? c->pk : NULL;
    if (s->pk != NULL && c->ps[0] == '\0') {
        MBP_LOG(m, QTD_LOG_ERROR,
                "%s.ps: missing: a sub-device (pk = \"%s\") needs its product "
                "secret",
                s->path, s->pk);
        return QTD_ECONFIG;
    }
    if (c->dk[0] != '\0') {
        snprintf(s->dk, sizeof(s->dk), "%s", c->dk);
    } else {
        snprintf(s->dk, sizeof(s->dk), "%s-%lld", c->port, (long long)c->unit);
    }
    for (size_t k = 0; k < i; k++) {
        const mbp_slave_t *o = &m->slaves[k];
        if (o->port == s->port && o->cfg->unit == c->unit) {
            MBP_LOG(m, QTD_LOG_ERROR, "%s.unit: %lld on %s is %s's already: one map per slave",
                    s->path, (long long)c->unit, c->port, o->path);
            return QTD_ECONFIG;
        }
        if (s->pk != NULL && o->pk != NULL && strcmp(o->pk, s->pk) == 0 &&
            strcmp(o->dk, s->dk) == 0) {
            MBP_LOG(m, QTD_LOG_ERROR, "%s.dk: sub-device %s/%s is %s's already", s->path, s->pk,
                    s->dk, o->path);
            return QTD_ECONFIG;
        }
    }
    uint32_t poll = (uint32_t)m->cfg->poll_ms;
    int rc = mb_map_compile(c, poll, s->path, &s->map, err, sizeof(err));
    if (rc == QTD_ECONFIG) {
        MBP_LOG(m, QTD_LOG_ERROR, "%s", err);
    }
    if (rc != 0) {
        return rc;
    }
    size_t np = s->map.n_points, text = 0;
    s->cur = calloc(np, sizeof(*s->cur));
    s->sent = calloc(np, sizeof(*s->sent));
    s->text_at = calloc(np, sizeof(*s->text_at));
    s->faulted = calloc(s->map.n_batches + 1, sizeof(*s->faulted));
    for (size_t k = 0; s->text_at != NULL && k < np; k++) {
        s->text_at[k] = text;
        text += s->map.points[k].type == MB_T_STRING ? 4u * s->map.points[k].count + 2u : 0u;
    }
    s->text = calloc(text + 1, 1);
    if (s->cur == NULL || s->sent == NULL || s->text_at == NULL || s->faulted == NULL ||
        s->text == NULL) {
        return QTD_ENOMEM;
    }
    return 0;
}

/* The instance for a config, its lines and slaves checked and set up, nothing started:
 * what create() and check() share. Returns: 0 (*out set), QTD_ECONFIG (logged),
 * QTD_ENOMEM. */
static int build(const qtd_host_api_t *api, qtd_host_t *host, const mbp_cfg_t *cfg, mbp_t **out)
{
    const mbp_port_cfg_t *ports = cfg->ports.items;
    for (size_t i = 0; i < cfg->ports.count; i++) {
        if (ports[i].mode[0] == 'r' && ports[i].device[0] == '\0') {
            api->log(host, QTD_LOG_ERROR,
                     "modbus.ports[%zu].device: mode rtu needs device = \"/dev/tty...\"", i + 1);
            return QTD_ECONFIG;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(ports[k].name, ports[i].name) == 0) {
                api->log(host, QTD_LOG_ERROR,
                         "modbus.ports[%zu].name: \"%s\" is ports[%zu]'s already: name each "
                         "line once",
                         i + 1, ports[i].name, k + 1);
                return QTD_ECONFIG;
            }
        }
    }
    mbp_t *m = api->calloc(host, 1, sizeof(*m));
    if (m == NULL) {
        return QTD_ENOMEM;
    }
    m->api = api;
    m->host = host;
    m->cfg = cfg;
    int rc = uv_mutex_init(&m->sink.lock);
    if (rc != 0) {
        api->free(host, m);
        return QTD_ENOMEM;
    }
    m->n_slaves = cfg->slaves.count;
    m->slaves = calloc(m->n_slaves + 1, sizeof(*m->slaves));
    m->n_ports = cfg->ports.count;
    m->ports = calloc(m->n_ports + 1, sizeof(*m->ports));
    m->line_wanted = calloc(m->n_ports + 1, sizeof(*m->line_wanted));
    rc = m->slaves != NULL && m->ports != NULL && m->line_wanted != NULL ? 0 : QTD_ENOMEM;
    for (size_t i = 0; rc == 0 && i < m->n_ports; i++) {
        mb_line_t line;
        line_of(&ports[i], &line);
        m->ports[i] = mb_port_new(&line, &m->sink);
        rc = m->ports[i] != NULL ? 0 : QTD_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < m->n_slaves; i++) {
        rc = set_up_slave(m, i);
        if (rc == 0) {
            const mbp_slave_t *s = &m->slaves[i];
            int64_t t = s->cfg->timeout_ms > 0 ? s->cfg->timeout_ms : cfg->timeout_ms;
            int64_t r = s->cfg->retries >= 0 ? s->cfg->retries : cfg->retries;
            rc = mb_port_add_slave(m->ports[s->port], i, (int)s->cfg->unit, (uint32_t)t, (int)r,
                                   &s->map);
        }
    }
    if (rc != 0) {
        modbus_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

static int modbus_check(const qtd_host_api_t *api, qtd_host_t *host, const void *config)
{
    mbp_t *m = NULL;
    int rc = build(api, host, config, &m);
    if (rc == 0) {
        modbus_destroy(m);
    }
    return rc;
}

static int modbus_create(const qtd_host_api_t *api, qtd_host_t *host, const void *config,
                         void **self)
{
    mbp_t *m = NULL;
    int rc = build(api, host, config, &m);
    if (rc == 0 && m->n_slaves > 0) {
        rc = api->subscribe(host, QTD_DOM_SUBDEV, QTD_EVT_RECV);
    }
    if (rc == 0) {
        rc = mbp_lua_register(m);
    }
    if (rc != 0) {
        modbus_destroy(m);
        return rc;
    }
    *self = m;
    return 0;
}

static int modbus_start(void *self)
{
    mbp_t *m = self;
    if (m->n_slaves == 0) {
        return 0;
    }
    int rc = m->api->service_lookup(m->host, QTD_THING_SERVICE, QTD_THING_API_V3_SIZE, 0,
                                    (const void **)&m->thing, &m->cloud);
    if (rc != 0) {
        return rc;
    }
    rc = uv_async_init(m->api->loop(m->host), &m->sink.async, on_sink);
    if (rc != 0) {
        return rc;
    }
    m->sink.async.data = m;
    m->sink_open = true;
    int64_t beat_s = 65535;
    for (size_t i = 0; i < m->n_slaves; i++) {
        mbp_slave_t *s = &m->slaves[i];
        if (s->pk == NULL) {
            continue;
        }
        beat_s = s->cfg->keepalive_s < beat_s ? s->cfg->keepalive_s : beat_s;
        if (mb_port_line(m->ports[s->port])->mode == MB_LINE_SCRIPT) {
            continue; /* connected when quecIot.MBInit opens its line */
        }
        rc = m->thing->subdev_connect(m->cloud, s->pk, s->cfg->ps, s->dk, NULL, 0,
                                      (int)s->cfg->keepalive_s);
        if (rc < 0) {
            MBP_LOG(m, QTD_LOG_ERROR, "%s: sub-device %s/%s not connected: %s", s->path, s->pk,
                    s->dk, m->api->strerror(rc));
        }
    }
    rc = m->api->timer_start(m->host, &m->beat, (uint64_t)beat_s * 1000 / 3,
                             (uint64_t)beat_s * 1000 / 3, on_beat, m);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < m->n_ports; i++) {
        const mb_line_t *line = mb_port_line(m->ports[i]);
        if (line->mode == MB_LINE_SCRIPT) {
            continue; /* started by quecIot.MBInit */
        }
        rc = mb_port_start(m->ports[i], NULL);
        if (rc == QTD_EINVAL) {
            MBP_LOG(m, QTD_LOG_WARN, "modbus.ports[%zu] (%s): no slave uses it", i + 1, line->name);
        } else if (rc != 0) {
            MBP_LOG(m, QTD_LOG_ERROR, "modbus.ports[%zu] (%s): cannot start its thread: %s", i + 1,
                    line->name, uv_strerror(rc));
            return QTD_ENOMEM;
        }
    }
    m->started = true;
    (void)mbp_lua_open_lines(m); /* quecIot.MBInit while the script loaded */
    MBP_LOG(m, QTD_LOG_INFO, "%zu slaves on %zu lines", m->n_slaves, m->n_ports);
    return 0;
}

static void modbus_stop(void *self)
{
    mbp_t *m = self;
    if (m->beat != NULL) {
        m->api->timer_stop(m->host, m->beat);
        m->beat = NULL;
    }
    m->started = false;
    mbp_pty_close_all(m, false);
    for (size_t i = 0; i < m->n_ports; i++) {
        mb_port_stop(m->ports[i]);
    }
    if (m->sink_open) {
        m->sink_open = false;
        uv_close((uv_handle_t *)&m->sink.async, NULL);
    }
}

static void modbus_status(void *self, char *buf, size_t n)
{
    mbp_t *m = self;
    size_t down = 0, points = 0;
    for (size_t i = 0; i < m->n_slaves; i++) {
        down += m->slaves[i].down;
        points += m->slaves[i].map.n_points;
    }
    snprintf(buf, n, "%zu slaves (%zu not answering), %zu points, on %zu lines", m->n_slaves, down,
             points, m->n_ports);
}

static const qtd_plugin_ops_t modbus_ops = {
    .size = sizeof(qtd_plugin_ops_t),
    .create = modbus_create,
    .destroy = modbus_destroy,
    .start = modbus_start,
    .stop = modbus_stop,
    .on_event = modbus_on_event,
    .check = modbus_check,
    .status = modbus_status,
};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR,
    .abi_minor = QTD_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "modbus",
    .version = "0.2.0",
    .kind = QTD_PLUGIN_SOUTH,
    .summary = "Modbus (seed 3.10): libmodbus RTU and TCP masters, register maps of slaves as "
               "sub-devices (or the device's own points), quecIot.MBInit",
    .config_map = modbus_keys,
    .config_size = sizeof(mbp_cfg_t),
    .ops = &modbus_ops,
};
