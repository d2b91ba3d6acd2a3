/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plan service client (docs/protocol.md, "HTTP OTA plan service (ours)"): POST
 * <server>/v1/ota/plan with the device's signed request and its answer handed back checked
 * (httpota_plan_json.c), POST <server>/v1/ota/status for each event of the task. The
 * requests run on the downloader's libcurl multi handle, on the loop. This file and
 * httpota_plan_json.c are the whole of what the real service's wire would replace.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_auth.h"
#include "httpota.h"

#define LOG(pc, lvl, ...) (pc)->api->log((pc)->host, (lvl), __VA_ARGS__)
#define ANSWER_MAX 65536

typedef struct plan_xfer_s {
    dl_xfer_t xfer; /* first: the engine's handle on it */
    struct plan_xfer_s *next;
    plan_client_t *pc;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char *answer;
    size_t answer_len;
    bool too_long;
    plan_cb cb; /* NULL: a status report */
    void *arg;
    char what[64];
    char errbuf[CURL_ERROR_SIZE];
} plan_xfer_t;

/* A status report waiting for the one before it (they go one at a time, in order). */
typedef struct status_s {
    struct status_s *next;
    char server[256];
    bool tls;
    char *body;
    char what[64];
} status_t;

struct plan_client_s {
    const qtd_host_api_t *api;
    qtd_host_t *host;
    dl_engine_t *dl;
    plan_xfer_t *list;
    status_t *queue; /* oldest first */
};

static void next_status(plan_client_t *pc);

int plan_client_create(const qtd_host_api_t *api, qtd_host_t *host, dl_engine_t *dl,
                       plan_client_t **out)
{
    plan_client_t *pc = api->calloc(host, 1, sizeof(*pc));
    if (pc == NULL) {
        return QTD_ENOMEM;
    }
    *pc = (plan_client_t){.api = api, .host = host, .dl = dl};
    *out = pc;
    return 0;
}

static void xfer_free(plan_xfer_t *x)
{
    plan_client_t *pc = x->pc;
    for (plan_xfer_t **pp = &pc->list; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    }
    if (x->easy != NULL) {
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->headers);
    free(x->body);
    pc->api->free(pc->host, x->answer);
    pc->api->free(pc->host, x);
}

static size_t on_answer(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    plan_xfer_t *x = userdata;
    size_t n = size * nmemb;
    if (x->answer_len + n > ANSWER_MAX) {
        x->too_long = true;
        return 0;
    }
    char *b = x->pc->api->realloc(x->pc->host, x->answer, x->answer_len + n + 1);
    if (b == NULL) {
        return 0;
    }
    memcpy(b + x->answer_len, ptr, n);
    x->answer = b;
    x->answer_len += n;
    x->answer[x->answer_len] = '\0';
    return n;
}

static void on_done(dl_xfer_t *xfer, CURL *easy, CURLcode result, long http_code)
{
    plan_xfer_t *x = (plan_xfer_t *)xfer;
    plan_client_t *pc = x->pc;
    (void)easy;
    int code = 0;
    plan_answer_t ans = {0};
    if (result != CURLE_OK || http_code != 200) {
        LOG(pc, QTD_LOG_WARN, "HTTP OTA %s: %s (HTTP %ld)", x->what,
            result != CURLE_OK ? (x->errbuf[0] ? x->errbuf : curl_easy_strerror(result))
                               : "not 200 OK",
            http_code);
        code = result == CURLE_OPERATION_TIMEDOUT ? QTD_ETIMEDOUT : QTD_EIO;
    } else if (x->cb != NULL) {
        const char *why = NULL;
        int rc = x->too_long ? -EINVAL
                             : plan_answer_parse(x->answer != NULL ? x->answer : "", x->answer_len,
                                                 &ans, &why);
        if (rc != 0) {
            LOG(pc, QTD_LOG_ERROR, "HTTP OTA %s: the answer is refused: %s", x->what,
                x->too_long   ? "longer than 64 KiB"
                : why != NULL ? why
                              : "out of memory");
            code = QTD_EPROTO;
        } else {
            code = ans.code;
        }
    }
    plan_cb cb = x->cb;
    void *arg = x->arg;
    xfer_free(x);
    if (cb == NULL) {
        next_status(pc);
    }
    if (cb != NULL) {
        cb(arg, code, code == 0 ? &ans.plan : NULL, ans.json, ans.retry_s);
    }
    free(ans.json);
}

/* POST body to <server><path>. Returns as plan_request. */
static int post(plan_client_t *pc, const plan_req_t *req, const char *path, char *body, plan_cb cb,
                void *arg, const char *what)
{
    if (body == NULL) {
        return QTD_ENOMEM;
    }
    if (dl_engine_open(pc->dl) != 0) {
        free(body);
        return QTD_EIO; /* logged */
    }
    char url[512];
    bool scheme = strstr(req->server, "://") != NULL;
    snprintf(url, sizeof(url), "%s%s%s",
             scheme     ? ""
             : req->tls ? "https://"
                        : "http://",
             req->server, path);
    plan_xfer_t *x = pc->api->calloc(pc->host, 1, sizeof(*x));
    if (x == NULL) {
        free(body);
        return QTD_ENOMEM;
    }
    x->pc = pc;
    x->body = body;
    x->cb = cb;
    x->arg = arg;
    x->xfer.done = on_done;
    snprintf(x->what, sizeof(x->what), "%s", what);
    x->next = pc->list;
    pc->list = x;
    x->easy = curl_easy_init();
    x->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (x->easy == NULL || x->headers == NULL) {
        xfer_free(x);
        return QTD_ENOMEM;
    }
    curl_easy_setopt(x->easy, CURLOPT_URL, url);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT, 60L);
    int rc = dl_engine_add(pc->dl, x->easy, &x->xfer);
    if (rc != 0) {
        xfer_free(x);
    }
    return rc;
}

int plan_request(plan_client_t *pc, const plan_req_t *req, plan_cb cb, void *arg)
{
    for (plan_xfer_t *x = pc->list; x != NULL; x = x->next) {
        if (x->cb != NULL) {
            return QTD_EBUSY;
        }
    }
    char rnd[QTD_AUTH_RAND_LEN + 1];
    char sign[QTD_AUTH_SIGN_LEN + 1];
    if (qtd_auth_rand(rnd) != 0 || qtd_auth_sign(req->dk, req->ps, rnd, sign) != 0) {
        return QTD_EIO;
    }
    char *body = plan_request_json(req->pk, req->dk, req->battery, req->upmode, req->version,
                                   req->mcu, sign, rnd);
    return post(pc, req, "/v1/ota/plan", body, cb, arg, "plan request");
}

/* Post the oldest queued status report unless one is under way. */
static void next_status(plan_client_t *pc)
{
    for (plan_xfer_t *x = pc->list; x != NULL; x = x->next) {
        if (x->cb == NULL) {
            return; /* one at a time: the service logs them in order */
        }
    }
    while (pc->queue != NULL) {
        status_t *st = pc->queue;
        pc->queue = st->next;
        plan_req_t r = {.server = st->server, .tls = st->tls};
        int rc = post(pc, &r, "/v1/ota/status", st->body, NULL, NULL, st->what);
        if (rc != 0) {
            LOG(pc, QTD_LOG_WARN, "HTTP OTA %s not sent: %s", st->what, pc->api->strerror(rc));
        }
        pc->api->free(pc->host, st);
        if (rc == 0) {
            return;
        }
    }
}

void plan_status(plan_client_t *pc, const plan_req_t *req, int event, int errcode)
{
    status_t *st = pc->api->calloc(pc->host, 1, sizeof(*st));
    char *body = plan_status_json(req->pk, req->dk, event, errcode);
    if (st == NULL || body == NULL) {
        LOG(pc, QTD_LOG_WARN, "HTTP OTA status report %d/%d not sent: out of memory", event,
            errcode);
        pc->api->free(pc->host, st);
        free(body);
        return;
    }
    snprintf(st->server, sizeof(st->server), "%s", req->server);
    st->tls = req->tls;
    st->body = body;
    snprintf(st->what, sizeof(st->what), "status report %d/%d", event, errcode);
    status_t **tail = &pc->queue;
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    *tail = st;
    next_status(pc);
}

void plan_client_stop(plan_client_t *pc)
{
    while (pc->queue != NULL) {
        status_t *st = pc->queue;
        pc->queue = st->next;
        free(st->body);
        pc->api->free(pc->host, st);
    }
    while (pc->list != NULL) {
        plan_xfer_t *x = pc->list;
        dl_engine_remove(pc->dl, x->easy);
        xfer_free(x);
    }
}

void plan_client_free(plan_client_t *pc)
{
    if (pc != NULL) {
        pc->api->free(pc->host, pc);
    }
}
