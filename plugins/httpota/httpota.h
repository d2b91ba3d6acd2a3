/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the HTTP OTA plugin shared by its files: the instance, its configuration
 * and the HTTP OTA task (seed 2.4.2, 3.8, table 4.2). httpota.c: life cycle and config;
 * httpota_lua.c: the seed's setHttpOta* / getHttpOta* functions and their settings;
 * httpota_task.c: the flow (plan, download, apply, events, the task kept in the store);
 * httpota_plan.c: the plan service's wire (replaceable by the real service's); and the two
 * services it provides to itself and to the cloud plugin: httpota_download.c (download.h)
 * and httpota_firmware.c (firmware.h).
 */
#ifndef QTD_PLUGINS_HTTPOTA_HTTPOTA_H
#define QTD_PLUGINS_HTTPOTA_HTTPOTA_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "httpota_download.h"
#include "httpota_firmware.h"
#include "httpota_plan_json.h"
#include "qthingd/plugin.h"
#include "qthingd/thing.h"

#define HTTPOTA_LUA_MODULE "quecIot"

typedef struct {
    const char *download_dir;
    int64_t timeout_s;
    int64_t retries;
    int64_t retry_ms;
    const char *firmware_command;
    const char *firmware_version_command;
    const char *script_component;
    int64_t probation_s;
    int64_t update_timeout_s;
} httpota_cfg_t;

/* httpota_plan.c: the plan service client. */
typedef struct plan_client_s plan_client_t;
typedef struct {
    const char *server; /* "host:port" or a URL base "http(s)://host:port" */
    bool tls;           /* https:// for a bare host:port */
    const char *pk, *ps, *dk, *version, *mcu;
    int64_t battery, upmode;
} plan_req_t;
/* code: 0 (plan and json set: the plan object as JSON text), the service's 107xx code, or
 * a transport failure < 0 (QTD_ETIMEDOUT, QTD_EIO: network, HTTP status, not JSON);
 * retry_s: the interval the service asks for (0: none). */
typedef void (*plan_cb)(void *arg, int code, const plan_t *plan, const char *json, int64_t retry_s);
int plan_client_create(const qtd_host_api_t *api, qtd_host_t *host, dl_engine_t *dl,
                       plan_client_t **out);
/* One plan request at a time. Returns: 0 (cb follows once), QTD_EBUSY, QTD_EINVAL,
 * QTD_ENOMEM, QTD_EIO. */
int plan_request(plan_client_t *pc, const plan_req_t *req, plan_cb cb, void *arg);
/* Tell the service an event of the task (best effort: a failure is logged). */
void plan_status(plan_client_t *pc, const plan_req_t *req, int event, int errcode);
/* Drop what is under way (no callback); before the engine stops. */
void plan_client_stop(plan_client_t *pc);
void plan_client_free(plan_client_t *pc);

typedef enum {
    TASK_IDLE = 0,
    TASK_PLANNING,    /* the plan request, or a wait before asking again */
    TASK_DOWNLOADING, /* kept in the store from here on */
    TASK_UPDATING,
} task_phase_t;

typedef struct {
    task_phase_t phase;
    plan_t plan;
    bool swapped; /* the agent's script: the new one is in place */
    bool applied; /* firmware: the apply command exited 0; the reboot decides */
    char pk[33], ps[33], dk[33];
    char server[256];
    bool tls;
    int64_t battery, upmode;
    int attempts;
    /* run time */
    char path[512];
    qtd_download_t *d;
    qtd_script_watch_t *watch;
    uv_timer_t retry;
    bool retry_open;
} httpota_task_t;

typedef struct {
    const qtd_host_api_t *api;
    qtd_host_t *host;
    const httpota_cfg_t *cfg;
    dl_engine_t *dl;
    fw_t *fw;
    plan_client_t *plans;
    const qtd_thing_api_t *thing; /* optional: the device key and versions */
    void *thing_self;
    httpota_task_t task;
} httpota_t;

/* httpota_lua.c */
int httpota_lua_register(httpota_t *h);
/* A setting kept in the store (httpota.<name>) into buf ("" when unset). */
void httpota_setting(httpota_t *h, const char *name, char *buf, size_t n);

/* httpota_task.c */
/* setHttpOtaUp: ask the plan service. Returns: 0, QTD_EBUSY (a task is under way),
 * QTD_ENOENT (no product info, server or device key: *why says which), QTD_ENOMEM. */
int httpota_task_up(httpota_t *h, int64_t battery, int64_t upmode, const char *url,
                    const char **why);
/* start(): take up a task the store kept. stop(): leave it there. */
void httpota_task_start(httpota_t *h);
void httpota_task_stop(httpota_t *h);

#endif /* QTD_PLUGINS_HTTPOTA_HTTPOTA_H */
