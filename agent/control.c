/* SPDX-License-Identifier: Apache-2.0 */
/* The control socket (control.h): a libuv pipe server on the loop, JSON lines with cJSON. */
#include "agent/control.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/alloc.h"
#include "agent/log.h"
#include "qthingd/errors.h"

#define LINE_MAX_BYTES 4096
#define OUT_MAX_BYTES (1u << 20) /* a client that reads nothing is dropped past this */

typedef struct client_s {
    struct client_s *next;
    qtd_control_t *ctl;
    uv_pipe_t pipe;
    char line[LINE_MAX_BYTES];
    size_t len;
    bool events; /* follows the bus */
    bool closing;
    size_t queued; /* bytes written and not yet sent */
} client_t;

struct qtd_control_s {
    uv_loop_t *loop;
    qtd_bus_t *bus;
    qtd_control_ops_t ops;
    uv_pipe_t server;
    bool server_open;
    bool subscribed;
    char path[256];
    client_t *clients;
    int open_handles;
};

typedef struct {
    uv_write_t req;
    client_t *client;
    size_t len;
    char data[];
} write_t;

static const char *domain_name(int domain)
{
    switch (domain) {
    case 1:
        return "cloud";
    case 2:
        return "httpota";
    case 3:
        return "subdev";
    case 4:
        return "modbus";
    case 16:
        return "agent";
    default:
        return "other";
    }
}

/* A value tree as JSON (STRUCT: an object keyed by id, ARRAY: a list, BYTES: {"hex": ...}). */
static cJSON *value_json(const qtd_value_t *v)
{
    switch (v->type) {
    case QTD_VAL_BOOL:
        return cJSON_CreateBool(v->u.b);
    case QTD_VAL_INT:
        return cJSON_CreateNumber((double)v->u.i);
    case QTD_VAL_DOUBLE:
        return cJSON_CreateNumber(v->u.d);
    case QTD_VAL_STRING: {
        char *s = qtd_malloc(v->u.s.len + 1);
        if (s == NULL) {
            return NULL;
        }
        memcpy(s, v->u.s.ptr, v->u.s.len);
        s[v->u.s.len] = '\0';
        cJSON *j = cJSON_CreateString(s);
        qtd_free(s);
        return j;
    }
    case QTD_VAL_BYTES: {
        char *hex = qtd_malloc(v->u.s.len * 2 + 1);
        if (hex == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < v->u.s.len; i++) {
            snprintf(hex + 2 * i, 3, "%02x", (unsigned char)v->u.s.ptr[i]);
        }
        hex[v->u.s.len * 2] = '\0';
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "hex", hex);
        qtd_free(hex);
        return j;
    }
    case QTD_VAL_STRUCT:
    case QTD_VAL_ARRAY: {
        bool st = v->type == QTD_VAL_STRUCT;
        cJSON *j = st ? cJSON_CreateObject() : cJSON_CreateArray();
        for (size_t i = 0; j != NULL && i < v->u.list.count; i++) {
            const qtd_value_t *c = &v->u.list.items[i];
            cJSON *cj = value_json(c);
            if (st) {
                char key[8];
                snprintf(key, sizeof(key), "%u", c->id);
                cJSON_AddItemToObject(j, key, cj != NULL ? cj : cJSON_CreateNull());
            } else {
                cJSON_AddItemToArray(j, cj != NULL ? cj : cJSON_CreateNull());
            }
        }
        return j;
    }
    default:
        return cJSON_CreateNull();
    }
}

/* ---- writing ---------------------------------------------------------------------- */

static void close_client(client_t *cl);

static void on_written(uv_write_t *req, int status)
{
    write_t *w = (write_t *)req;
    w->client->queued -= w->len;
    if (status < 0) {
        close_client(w->client);
    }
    qtd_free(w);
}

/* Send one JSON line (takes j). */
static void send_json(client_t *cl, cJSON *j)
{
    char *text = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (text == NULL || cl->closing) {
        free(text);
        return;
    }
    size_t n = strlen(text);
    if (cl->queued + n > OUT_MAX_BYTES) {
        free(text);
        qtd_log_warn("control", "a client reads too slowly: dropped");
        close_client(cl);
        return;
    }
    write_t *w = qtd_malloc(sizeof(*w) + n + 1);
    if (w == NULL) {
        free(text);
        return;
    }
    memcpy(w->data, text, n);
    w->data[n] = '\n';
    free(text);
    w->client = cl;
    w->len = n + 1;
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)(n + 1));
    if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &buf, 1, on_written) != 0) {
        qtd_free(w);
        close_client(cl);
        return;
    }
    cl->queued += n + 1;
}

static void send_error(client_t *cl, const char *why)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "ok", 0);
    cJSON_AddStringToObject(j, "error", why);
    send_json(cl, j);
}

/* ---- events ----------------------------------------------------------------------- */

static void on_bus_event(void *arg, const qtd_event_t *ev)
{
    qtd_control_t *ctl = arg;
    bool any = false;
    for (client_t *cl = ctl->clients; cl != NULL; cl = cl->next) {
        any |= cl->events && !cl->closing;
    }
    if (!any) {
        return;
    }
    for (client_t *cl = ctl->clients; cl != NULL; cl = cl->next) {
        if (!cl->events || cl->closing) {
            continue;
        }
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "domain", ev->domain);
        cJSON_AddStringToObject(j, "domain_name", domain_name(ev->domain));
        cJSON_AddNumberToObject(j, "event", ev->event);
        cJSON_AddNumberToObject(j, "errcode", ev->errcode);
        if (ev->value.type != QTD_VAL_NONE) {
            cJSON_AddItemToObject(j, "value", value_json(&ev->value));
        }
        cJSON_AddStringToObject(j, "source", ev->source != NULL ? ev->source : "");
        send_json(cl, j);
    }
}

/* ---- requests --------------------------------------------------------------------- */

static void handle(client_t *cl, const char *text, size_t n)
{
    qtd_control_t *ctl = cl->ctl;
    cJSON *req = cJSON_ParseWithLength(text, n);
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
    if (!cJSON_IsString(cmd)) {
        send_error(cl, "expected {\"cmd\": \"status\" | \"events\" | \"reload\" | \"outbox\"}");
    } else if (strcmp(cmd->valuestring, "status") == 0) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ok", 1);
        ctl->ops.status(ctl->ops.arg, j);
        send_json(cl, j);
    } else if (strcmp(cmd->valuestring, "events") == 0) {
        if (!ctl->subscribed) {
            bool ok = true;
            for (int d = 1; d <= QTD_DOM_AGENT && ok; d++) {
                ok = qtd__bus_subscribe(ctl->bus, d, 0, on_bus_event, ctl) == 0;
            }
            ctl->subscribed = ok;
        }
        cl->events = ctl->subscribed;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ok", ctl->subscribed);
        if (!ctl->subscribed) {
            cJSON_AddStringToObject(j, "error", "out of memory");
        }
        send_json(cl, j);
    } else if (strcmp(cmd->valuestring, "lua") == 0) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(req, "code");
        char out[2048];
        bool failed = false;
        int rc = cJSON_IsString(code)
                     ? ctl->ops.lua(ctl->ops.arg, code->valuestring, strlen(code->valuestring), out,
                                    sizeof(out), &failed)
                     : QTD_EINVAL;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ok", rc == 0 && !failed);
        if (rc != 0) {
            cJSON_AddStringToObject(
                j, "error", rc == QTD_EINVAL ? "expected \"code\": \"...\"" : qtd_strerror(rc));
        } else {
            cJSON_AddStringToObject(j, failed ? "error" : "result", out);
        }
        send_json(cl, j);
    } else if (strcmp(cmd->valuestring, "outbox_drop") == 0) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
        int rc = cJSON_IsNumber(id) && id->valuedouble >= 1
                     ? ctl->ops.outbox_drop(ctl->ops.arg, (int64_t)id->valuedouble)
                     : QTD_EINVAL;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ok", rc == 0);
        if (rc != 0) {
            cJSON_AddStringToObject(j, "error",
                                    rc == QTD_ENOENT   ? "no such row in the outbox"
                                    : rc == QTD_EINVAL ? "expected \"id\": N >= 1"
                                                       : qtd_strerror(rc));
        }
        send_json(cl, j);
    } else if (strcmp(cmd->valuestring, "outbox") == 0) {
        const cJSON *lim = cJSON_GetObjectItemCaseSensitive(req, "limit");
        double n = cJSON_IsNumber(lim) ? lim->valuedouble : 20;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ok", 1);
        ctl->ops.outbox(ctl->ops.arg, cJSON_AddArrayToObject(j, "rows"),
                        n < 1      ? 1
                        : n > 1000 ? 1000
                                   : (size_t)n);
        send_json(cl, j);
    } else if (strcmp(cmd->valuestring, "reload") == 0) {
        char msg[512] = "";
        int rc = ctl->ops.reload(ctl->ops.arg, msg, sizeof(msg));
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "ok", rc == 0);
        cJSON_AddStringToObject(j, rc == 0 ? "result" : "error",
                                msg[0] != '\0' ? msg : qtd_strerror(rc));
        send_json(cl, j);
    } else {
        send_error(cl, "unknown cmd: expected status, events, reload or outbox");
    }
    cJSON_Delete(req);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    client_t *cl = h->data;
    buf->base = cl->line + cl->len;
    buf->len = sizeof(cl->line) - cl->len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    client_t *cl = s->data;
    if (nread < 0) {
        close_client(cl);
        return;
    }
    cl->len += (size_t)nread;
    char *nl;
    while (!cl->closing && (nl = memchr(cl->line, '\n', cl->len)) != NULL) {
        size_t n = (size_t)(nl - cl->line);
        handle(cl, cl->line, n);
        memmove(cl->line, nl + 1, cl->len - n - 1);
        cl->len -= n + 1;
    }
    if (cl->len == sizeof(cl->line)) {
        send_error(cl, "request longer than 4096 bytes");
        close_client(cl);
    }
}

static void on_client_closed(uv_handle_t *h)
{
    client_t *cl = h->data;
    qtd_control_t *ctl = cl->ctl;
    for (client_t **p = &ctl->clients; *p != NULL; p = &(*p)->next) {
        if (*p == cl) {
            *p = cl->next;
            break;
        }
    }
    ctl->open_handles--;
    qtd_free(cl);
}

static void close_client(client_t *cl)
{
    if (!cl->closing) {
        cl->closing = true;
        uv_close((uv_handle_t *)&cl->pipe, on_client_closed);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    qtd_control_t *ctl = server->data;
    if (status < 0) {
        return;
    }
    client_t *cl = qtd_calloc(1, sizeof(*cl));
    if (cl == NULL || uv_pipe_init(ctl->loop, &cl->pipe, 0) != 0) {
        qtd_free(cl);
        return;
    }
    cl->ctl = ctl;
    cl->pipe.data = cl;
    cl->next = ctl->clients;
    ctl->clients = cl;
    ctl->open_handles++;
    if (uv_accept(server, (uv_stream_t *)&cl->pipe) != 0 ||
        uv_read_start((uv_stream_t *)&cl->pipe, on_alloc, on_read) != 0) {
        close_client(cl);
    }
}

/* ---- life cycle ------------------------------------------------------------------- */

static void on_server_closed(uv_handle_t *h)
{
    qtd_control_t *ctl = h->data;
    ctl->open_handles--;
}

int qtd__control_start(qtd_control_t **out, uv_loop_t *loop, qtd_bus_t *bus, const char *path,
                       const qtd_control_ops_t *ops)
{
    *out = NULL;
    qtd_control_t *ctl = qtd_calloc(1, sizeof(*ctl));
    if (ctl == NULL) {
        return QTD_ENOMEM;
    }
    ctl->loop = loop;
    ctl->bus = bus;
    ctl->ops = *ops;
    if (strlen(path) >= sizeof(ctl->path) || strlen(path) >= 108) {
        qtd_log_error("control",
                      "agent.control_socket %s: longer than a socket path may be "
                      "(107 bytes): give a shorter one",
                      path);
        qtd_free(ctl);
        return QTD_EINVAL;
    }
    snprintf(ctl->path, sizeof(ctl->path), "%s", path);
    (void)unlink(path); /* one agent per data dir (its lock): an old file is stale */
    int rc = uv_pipe_init(loop, &ctl->server, 0);
    if (rc == 0) {
        ctl->server.data = ctl;
        ctl->server_open = true;
        ctl->open_handles++;
        mode_t old = umask(0177); /* the socket file is made 0600 */
        rc = uv_pipe_bind(&ctl->server, path);
        umask(old);
    }
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&ctl->server, 8, on_connection);
    }
    if (rc != 0) {
        qtd_log_error("control", "agent.control_socket %s: %s", path, uv_strerror(rc));
        *out = ctl; /* closed and freed by the caller as usual */
        return QTD_EIO;
    }
    (void)chmod(path, 0600);
    qtd_log_info("control", "listening on %s (qthingctl -s %s status)", path, path);
    *out = ctl;
    return 0;
}

void qtd__control_close(qtd_control_t *ctl)
{
    if (ctl == NULL) {
        return;
    }
    if (ctl->subscribed) {
        qtd__bus_unsubscribe_all(ctl->bus, ctl);
        ctl->subscribed = false;
    }
    for (client_t *cl = ctl->clients; cl != NULL; cl = cl->next) {
        close_client(cl);
    }
    if (ctl->server_open) {
        ctl->server_open = false;
        uv_close((uv_handle_t *)&ctl->server, on_server_closed);
        (void)unlink(ctl->path);
    }
}

void qtd__control_free(qtd_control_t *ctl)
{
    qtd_free(ctl);
}
