/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qthingd-sim ota-server: the HTTP OTA plan service of docs/protocol.md ("HTTP OTA plan
 * service (ours)") over libmicrohttpd, for tests and local runs. POST /v1/ota/plan checks the
 * request's signature Base64(SHA256("DK;PS;RAND")) against the registry's product secret
 * and answers the device's plan from the plans file (re-read at every request, so a test
 * edits it between requests); POST /v1/ota/status logs the device's event. Every request
 * is one line of the JSON log. Not here: the firmware files (nginx serves them in tests).
 */
#include "sim.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "cloud_auth.h"

#define BODY_MAX 65536

/* The table 4.2 codes the service answers with. */
enum {
    PLAN_NONE = 10700,     /* no plan for the device */
    PLAN_BAD_ARGS = 10708, /* the request's fields */
    PLAN_NO_DEVICE = 10709,
    PLAN_BAD_SIGN = 10710,
};

typedef struct {
    sim_t s; /* the log and --quiet */
    const char *plans_path;
} ota_server_t;

typedef struct {
    char *body;
    size_t len;
    bool too_long;
} request_t;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* The plan entry of (pk, dk) in the plans file {"plans": [{"pk", "dk", "code", "plan",
 * "retryInterval"}]}, detached from its document (caller deletes), or NULL. */
static cJSON *find_plan(const ota_server_t *o, const char *pk, const char *dk, const char **err)
{
    FILE *f = fopen(o->plans_path, "r");
    if (f == NULL) {
        *err = "cannot open the plans file";
        return NULL;
    }
    char *text = malloc(BODY_MAX + 1);
    size_t n = text != NULL ? fread(text, 1, BODY_MAX, f) : 0;
    fclose(f);
    if (text == NULL) {
        *err = "out of memory";
        return NULL;
    }
    text[n] = '\0';
    cJSON *doc = cJSON_Parse(text);
    free(text);
    cJSON *plans = cJSON_GetObjectItemCaseSensitive(doc, "plans");
    if (!cJSON_IsArray(plans)) {
        *err = "the plans file is not {\"plans\": [...]}";
        cJSON_Delete(doc);
        return NULL;
    }
    cJSON *found = NULL;
    for (int i = 0; found == NULL && i < cJSON_GetArraySize(plans); i++) {
        cJSON *e = cJSON_GetArrayItem(plans, i);
        const char *epk = sim_str_member(e, "pk");
        const char *edk = sim_str_member(e, "dk");
        if (epk != NULL && edk != NULL && strcmp(epk, pk) == 0 && strcmp(edk, dk) == 0) {
            found = cJSON_DetachItemFromArray(plans, i);
        }
    }
    cJSON_Delete(doc);
    return found;
}

/* The answer to a plan request, and its log line's fields. */
static cJSON *plan_answer(ota_server_t *o, const cJSON *req, cJSON *line)
{
    const char *pk = sim_str_member(req, "pk");
    const char *dk = sim_str_member(req, "dk");
    const char *rnd = sim_str_member(req, "rand");
    const char *sign = sim_str_member(req, "signature");
    const char *version = sim_str_member(req, "version");
    int code = 0;
    cJSON *entry = NULL;
    const char *err = NULL;
    cJSON_AddStringToObject(line, "pk", pk != NULL ? pk : "");
    cJSON_AddStringToObject(line, "dk", dk != NULL ? dk : "");
    cJSON_AddStringToObject(line, "version", version != NULL ? version : "");
    cJSON_AddNumberToObject(line, "battery", sim_int_member(req, "battery", -1));
    cJSON_AddNumberToObject(line, "upmode", sim_int_member(req, "upmode", -1));
    if (pk == NULL || dk == NULL || rnd == NULL || sign == NULL || rnd[0] == '\0') {
        code = PLAN_BAD_ARGS;
    } else {
        bool changed = false;
        const char *reg_err = NULL;
        if (qtd_registry_refresh(o->s.reg, &changed, &reg_err) != 0) {
            err = reg_err != NULL ? reg_err : "the registry could not be read again";
        }
        const qtd_reg_product_t *prod = qtd_registry_product(o->s.reg, pk);
        char want[QTD_AUTH_SIGN_LEN + 1];
        if (prod == NULL) {
            code = PLAN_NO_DEVICE;
        } else if (qtd_auth_sign(dk, prod->ps, rnd, want) != 0 || strcmp(want, sign) != 0) {
            code = PLAN_BAD_SIGN;
        } else {
            entry = find_plan(o, pk, dk, &err);
            code = entry == NULL ? PLAN_NONE : sim_int_member(entry, "code", 0);
            const cJSON *plan = cJSON_GetObjectItemCaseSensitive(entry, "plan");
            const char *target = sim_str_member(plan, "targetVersion");
            if (code == 0 && version != NULL && target != NULL && strcmp(version, target) == 0) {
                code = PLAN_NONE; /* the device runs the plan's version already */
            }
        }
    }
    if (err != NULL) {
        cJSON_AddStringToObject(line, "warning", err);
    }
    cJSON *ans = cJSON_CreateObject();
    cJSON_AddNumberToObject(ans, "code", code);
    if (entry != NULL) {
        cJSON *ri = cJSON_GetObjectItemCaseSensitive(entry, "retryInterval");
        if (cJSON_IsNumber(ri)) {
            cJSON_AddNumberToObject(ans, "retryInterval", ri->valuedouble);
        }
        cJSON *plan = cJSON_DetachItemFromObjectCaseSensitive(entry, "plan");
        if (code == 0 && plan != NULL) {
            cJSON_AddItemToObject(ans, "plan", plan);
        } else {
            cJSON_Delete(plan);
        }
        cJSON_Delete(entry);
    }
    cJSON_AddNumberToObject(line, "code", code);
    return ans;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (r == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* One whole request (its body read): answer it and log it. */
static enum MHD_Result serve(ota_server_t *o, struct MHD_Connection *conn, const char *url,
                             request_t *rq)
{
    bool is_plan = strcmp(url, "/v1/ota/plan") == 0;
    bool is_status = strcmp(url, "/v1/ota/status") == 0;
    if (!is_plan && !is_status) {
        return reply(conn, MHD_HTTP_NOT_FOUND, "{\"error\": \"no such service\"}");
    }
    cJSON *req = rq->too_long ? NULL : cJSON_ParseWithLength(rq->body, rq->len);
    cJSON *line = sim_line_new();
    cJSON_AddStringToObject(line, "event", is_plan ? "http_ota_plan" : "http_ota_status");
    cJSON *ans = NULL;
    if (req == NULL) {
        cJSON_AddStringToObject(line, "error", "the body is not JSON (or too long)");
        ans = cJSON_CreateObject();
        cJSON_AddNumberToObject(ans, "code", PLAN_BAD_ARGS);
    } else if (is_plan) {
        ans = plan_answer(o, req, line);
    } else {
        const char *pk = sim_str_member(req, "pk");
        const char *dk = sim_str_member(req, "dk");
        cJSON_AddStringToObject(line, "pk", pk != NULL ? pk : "");
        cJSON_AddStringToObject(line, "dk", dk != NULL ? dk : "");
        cJSON_AddNumberToObject(line, "ota_event", sim_int_member(req, "event", -1));
        cJSON_AddNumberToObject(line, "errcode", sim_int_member(req, "errcode", -1));
        ans = cJSON_CreateObject();
        cJSON_AddNumberToObject(ans, "code", 0);
    }
    char *text = ans != NULL ? cJSON_PrintUnformatted(ans) : NULL;
    sim_say(&o->s, "%-4s %s %s", "http", url, text != NULL ? text : "?");
    sim_log_line(&o->s, line);
    enum MHD_Result ret = reply(conn, MHD_HTTP_OK, text != NULL ? text : "{\"code\": 10713}");
    free(text);
    cJSON_Delete(ans);
    cJSON_Delete(req);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    ota_server_t *o = cls;
    request_t *rq = *con_cls;
    if (strcmp(method, "POST") != 0) {
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "{\"error\": \"POST only\"}");
    }
    if (rq == NULL) { /* the headers: set up the body */
        rq = calloc(1, sizeof(*rq));
        if (rq == NULL) {
            return MHD_NO;
        }
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (rq->len + *upload_size > BODY_MAX) {
            rq->too_long = true;
        } else {
            char *b = realloc(rq->body, rq->len + *upload_size + 1);
            if (b == NULL) {
                return MHD_NO;
            }
            memcpy(b + rq->len, upload_data, *upload_size);
            rq->body = b;
            rq->len += *upload_size;
            rq->body[rq->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return serve(o, conn, url, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    request_t *rq = *con_cls;
    if (rq != NULL) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

int sim_cmd_ota_server(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'P'},  {"registry", required_argument, NULL, 'r'},
        {"plans", required_argument, NULL, 'p'}, {"log", required_argument, NULL, 'l'},
        {"quiet", no_argument, NULL, 'q'},       {NULL, 0, NULL, 0},
    };
    ota_server_t o;
    long port = 0;
    int opt;
    memset(&o, 0, sizeof(o));
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'P':
            if (!sim_parse_int(optarg, 1, 65535, &port)) {
                return sim_usage_error("--port: expected 1..65535, got \"%s\"", optarg);
            }
            break;
        case 'r':
            o.s.registry_path = optarg;
            break;
        case 'p':
            o.plans_path = optarg;
            break;
        case 'l':
            o.s.log_path = optarg;
            break;
        case 'q':
            o.s.quiet = true;
            break;
        default:
            return sim_usage_error("ota-server: unknown option");
        }
    }
    if (optind != argc || port == 0 || o.s.registry_path == NULL || o.plans_path == NULL ||
        o.s.log_path == NULL) {
        return sim_usage_error("ota-server needs --port, --registry, --plans and --log");
    }
    const char *err = NULL;
    int rc = qtd_registry_load(o.s.registry_path, &o.s.reg, &err);
    if (rc != 0) {
        fprintf(stderr, "qthingd-sim: %s: %s\n", o.s.registry_path,
                err != NULL ? err : strerror(-rc));
        return 1;
    }
    o.s.log = fopen(o.s.log_path, "a");
    if (o.s.log == NULL) {
        fprintf(stderr, "qthingd-sim: cannot open the log %s: %s\n", o.s.log_path, strerror(errno));
        qtd_registry_free(o.s.reg);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
                         NULL, on_request, &o, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "qthingd-sim: cannot listen on 127.0.0.1:%ld\n", port);
        fclose(o.s.log);
        qtd_registry_free(o.s.reg);
        return 1;
    }
    sim_log_event(&o.s, "started", "qthingd-sim %s ota-server on 127.0.0.1:%ld, plans %s",
                  QTD_SIM_VERSION, port, o.plans_path);
    while (!stop_flag) {
        pause();
    }
    MHD_stop_daemon(d);
    sim_log_event(&o.s, "stopped", "stopped");
    fclose(o.s.log);
    qtd_registry_free(o.s.reg);
    return 0;
}
