/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The modem's AT port (cloud.at_port): the IMEI read at create() for the default device key,
 * the periodic read of the values status and info reports carry (signal, cell, ICCID, IMSI,
 * phone number), and the modem service (qthingd/modem.h) through which other plugins send
 * their own AT commands, so that one client owns the port. Every dialogue runs on libuv's
 * thread pool under at_lock, one at a time; results come back on the loop. The parsers and
 * the serial I/O are in cloud_modem.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud.h"

#define AT_RESPONSE_MAX 2048
#define AT_COMMAND_MAX 80

struct cloud_at_req_s {
    uv_work_t work;
    cloud_t *c;
    cloud_at_req_t *next;
    char cmd[AT_COMMAND_MAX + 1];
    uint32_t timeout_ms;
    qtd_modem_at_cb cb;
    void *arg;
    int status;
    char resp[AT_RESPONSE_MAX];
};

/* Thread pool: the blocking AT dialogue of the periodic read. */
static void poll_work(uv_work_t *w)
{
    cloud_t *c = w->data;
    uv_mutex_lock(&c->at_lock);
    c->modem_rc = qtd_modem_query(c->cfg->at_port, (int)c->cfg->at_baud, 1000, &c->modem_next);
    uv_mutex_unlock(&c->at_lock);
}

static void poll_done(uv_work_t *w, int status)
{
    cloud_t *c = w->data;
    c->modem_busy = false;
    if (status < 0 || c->stopping) {
        return;
    }
    bool ok = c->modem_rc == 0;
    if (ok != c->modem_ok || !c->modem_ok) {
        if (ok) {
            c->api->log(c->host, QTD_LOG_INFO, "modem on %s answers (IMEI %s)", c->cfg->at_port,
                        c->modem_next.imei[0] ? c->modem_next.imei : "?");
        } else {
            c->api->log(c->host, QTD_LOG_WARN, "modem on %s: %s; its values are not available",
                        c->cfg->at_port,
                        c->modem_rc == -ENOENT ? "cannot open the port"
                                               : "no answer to AT commands");
        }
    }
    c->modem_ok = ok;
    if (ok) {
        c->modem = c->modem_next;
    }
}

static void on_poll_timer(uv_timer_t *h)
{
    cloud_t *c = h->data;
    if (c->modem_busy || c->stopping) {
        return;
    }
    c->modem_work.data = c;
    c->modem_busy = uv_queue_work(c->loop, &c->modem_work, poll_work, poll_done) == 0;
}

int qtd_cloud_at_open(cloud_t *c)
{
    if (c->cfg->at_port[0] == '\0') {
        return 0;
    }
    if (uv_mutex_init(&c->at_lock) != 0) {
        return QTD_ENOMEM;
    }
    c->at_lock_ok = true;
    /* Like a module: the IMEI is the default device key. Blocking, but the loop is not
     * running yet and each command has a short timeout. */
    if (qtd_modem_imei(c->cfg->at_port, (int)c->cfg->at_baud, 500, c->imei, sizeof(c->imei)) != 0) {
        c->imei[0] = '\0';
    }
    (void)uv_timer_init(c->loop, &c->modem_timer);
    c->modem_timer.data = c;
    c->modem_timer_open = true;
    (void)uv_timer_start(&c->modem_timer, on_poll_timer, 0, (uint64_t)c->cfg->modem_poll_s * 1000);
    return 0;
}

void qtd_cloud_at_close(cloud_t *c)
{
    if (c->modem_timer_open) {
        uv_close((uv_handle_t *)&c->modem_timer, NULL);
        c->modem_timer_open = false;
    }
    /* Queued commands are cancelled (their callbacks get QTD_ECANCELED); a running one
     * finishes its dialogue first. */
    for (cloud_at_req_t *r = c->at_reqs; r != NULL; r = r->next) {
        (void)uv_cancel((uv_req_t *)&r->work);
    }
}

/* ---- the modem service ---- */

static void command_work(uv_work_t *w)
{
    cloud_at_req_t *r = w->data;
    cloud_t *c = r->c;
    uv_mutex_lock(&c->at_lock);
    int rc = qtd_modem_command(c->cfg->at_port, (int)c->cfg->at_baud, r->cmd, (int)r->timeout_ms,
                               r->resp, sizeof(r->resp));
    uv_mutex_unlock(&c->at_lock);
    r->status = rc == 0 ? 0 : rc == -EIO ? QTD_EIO : rc == -ENOENT ? QTD_ENOENT : QTD_ETIMEDOUT;
}

static void command_done(uv_work_t *w, int status)
{
    cloud_at_req_t *r = w->data;
    cloud_t *c = r->c;
    for (cloud_at_req_t **pp = &c->at_reqs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    if (status < 0 || c->stopping) {
        r->cb(r->arg, QTD_ECANCELED, "");
    } else {
        r->cb(r->arg, r->status, r->resp);
    }
    c->api->free(c->host, r);
}

static int modem_imei(void *self, char *buf, size_t n)
{
    const cloud_t *c = self;
    size_t len = strlen(c->imei);
    if (len == 0) {
        return QTD_ENOENT;
    }
    if (len >= n) {
        return QTD_E2BIG;
    }
    memcpy(buf, c->imei, len + 1);
    return 0;
}

static int modem_at_command(void *self, const char *cmd, uint32_t timeout_ms, qtd_modem_at_cb cb,
                            void *arg)
{
    cloud_t *c = self;
    size_t len = cmd != NULL ? strlen(cmd) : 0;
    if (len == 0 || len > AT_COMMAND_MAX || strpbrk(cmd, "\r\n") != NULL || cb == NULL ||
        timeout_ms == 0 || !c->at_lock_ok) {
        return QTD_EINVAL;
    }
    if (c->stopping) {
        return QTD_ECANCELED;
    }
    cloud_at_req_t *r = c->api->calloc(c->host, 1, sizeof(*r));
    if (r == NULL) {
        return QTD_ENOMEM;
    }
    memcpy(r->cmd, cmd, len + 1);
    r->c = c;
    r->timeout_ms = timeout_ms;
    r->cb = cb;
    r->arg = arg;
    r->work.data = r;
    int rc = uv_queue_work(c->loop, &r->work, command_work, command_done);
    if (rc < 0) {
        c->api->free(c->host, r);
        return rc;
    }
    r->next = c->at_reqs;
    c->at_reqs = r;
    return 0;
}

const qtd_modem_api_t qtd_cloud_modem_api = {
    .size = sizeof(qtd_modem_api_t),
    .imei = modem_imei,
    .at_command = modem_at_command,
};
