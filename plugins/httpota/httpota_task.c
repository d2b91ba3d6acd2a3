/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP OTA task (seed 2.4.2, 3.8; events of table 4.2 on QTD_DOM_HTTPOTA, each also
 * reported to the plan service):
 *   setHttpOtaUp -> plan request; 10701 busy, 10713 and 10715 (too early) are asked again
 *     with backoff (at least the retryInterval the service gives) up to httpota.retries
 *     times; any other code is 2/<code>; a transport failure after the retries is 2/10602
 *     (timed out) or 2/10604; a plan that does not hold together is 2/10604;
 *   a plan: 1/0 with the plan as JSON; too little free space is 2/10603; then 3/0 and the
 *     download through the download service (resumed after a cut, a restart or a kill -9);
 *     a size or digest mismatch is 7/10606, a failure after the retries 6/0, anything else
 *     5/10605; a verified image is 4/0;
 *   apply, 7/0: the agent's script (componentNo httpota.script_component) is swapped in by
 *     the host and watched for httpota.probation_s (a script that does not compile or fails
 *     its first run: 7/10607; one that raises in its probation: 8/10612); any other
 *     component is firmware for the firmware service's command (a failure: 8/10612); after
 *     the reboot the running version decides: 8/0 when it is the target, else 7/10608.
 *     8/0 "updated" is ours: table 4.2 has no row for the end of a good update.
 * The task is kept in the store (httpota.task, JSON) from the download on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "httpota.h"

#define LOG(h, lvl, ...) (h)->api->log((h)->host, (lvl), __VA_ARGS__)
#define KV_TASK "httpota.task"

enum {
    EV_PLAN = 1,
    EV_REFUSED = 2,
    EV_DOWNLOADING = 3,
    EV_DOWNLOADED = 4,
    EV_DOWNLOAD_ERROR = 5,
    EV_DOWNLOAD_FAILED = 6,
    EV_UPDATING = 7,
    EV_UPDATE = 8,
};

static void plan_req_of(const httpota_task_t *t, plan_req_t *r)
{
    *r = (plan_req_t){.server = t->server,
                      .tls = t->tls,
                      .pk = t->pk,
                      .ps = t->ps,
                      .dk = t->dk,
                      .battery = t->battery,
                      .upmode = t->upmode};
}

/* Raise event/errcode to the script (value: text or NULL) and tell the plan service. */
static void raise_event(httpota_t *h, int event, int errcode, const char *value)
{
    qtd_event_t ev = {
        .size = sizeof(ev), .domain = QTD_DOM_HTTPOTA, .event = event, .errcode = errcode};
    if (value != NULL) {
        ev.value = (qtd_value_t){.type = QTD_VAL_STRING, .u.s = {value, strlen(value)}};
    }
    LOG(h,
        event == EV_DOWNLOADING || event == EV_DOWNLOADED || (event <= EV_PLAN) ||
                (event == EV_UPDATING && errcode == 0) || (event == EV_UPDATE && errcode == 0)
            ? QTD_LOG_INFO
            : QTD_LOG_ERROR,
        "HTTP OTA event %d/%d", event, errcode);
    int rc = h->api->publish(h->host, &ev);
    if (rc < 0) {
        LOG(h, QTD_LOG_ERROR, "HTTP OTA event %d/%d lost: %s", event, errcode,
            h->api->strerror(rc));
    }
    plan_req_t r;
    plan_req_of(&h->task, &r);
    plan_status(h->plans, &r, event, errcode);
}

/* ---- the task in the store ---- */

static void save(httpota_t *h)
{
    httpota_task_t *t = &h->task;
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && cJSON_AddNumberToObject(o, "phase", t->phase) != NULL &&
              cJSON_AddStringToObject(o, "url", t->plan.url) != NULL &&
              cJSON_AddNumberToObject(o, "size", (double)t->plan.size) != NULL &&
              cJSON_AddStringToObject(o, "md5", t->plan.md5) != NULL &&
              cJSON_AddStringToObject(o, "sha256", t->plan.sha256) != NULL &&
              cJSON_AddStringToObject(o, "targetVersion", t->plan.target) != NULL &&
              cJSON_AddStringToObject(o, "componentNo", t->plan.comp) != NULL &&
              cJSON_AddBoolToObject(o, "swapped", t->swapped) != NULL &&
              cJSON_AddBoolToObject(o, "applied", t->applied) != NULL &&
              cJSON_AddStringToObject(o, "pk", t->pk) != NULL &&
              cJSON_AddStringToObject(o, "dk", t->dk) != NULL &&
              cJSON_AddStringToObject(o, "server", t->server) != NULL &&
              cJSON_AddBoolToObject(o, "tls", t->tls) != NULL;
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    int rc = text != NULL ? h->api->kv_set(h->host, KV_TASK, text, strlen(text)) : QTD_ENOMEM;
    if (rc == 0) {
        rc = h->api->store_commit_durable(h->host);
    }
    free(text);
    if (rc != 0) {
        LOG(h, QTD_LOG_ERROR, "HTTP OTA task not kept in the store (%s): a restart loses it",
            h->api->strerror(rc));
    }
}

static void copy_member(const cJSON *o, const char *name, char *out, size_t n)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
    snprintf(out, n, "%s", v != NULL ? v : "");
}

static bool load(httpota_t *h)
{
    httpota_task_t *t = &h->task;
    char *buf = NULL;
    size_t len = 0;
    if (h->api->kv_get(h->host, KV_TASK, &buf, &len) != 0) {
        return false;
    }
    cJSON *o = cJSON_ParseWithLength(buf, len);
    h->api->free(h->host, buf);
    const cJSON *phase = cJSON_GetObjectItemCaseSensitive(o, "phase");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");
    if (!cJSON_IsNumber(phase) || !cJSON_IsNumber(size)) {
        LOG(h, QTD_LOG_ERROR, "the HTTP OTA task kept in the store is unreadable: dropped");
        cJSON_Delete(o);
        (void)h->api->kv_del(h->host, KV_TASK);
        return false;
    }
    t->phase = (task_phase_t)phase->valueint;
    t->plan.size = (uint64_t)size->valuedouble;
    copy_member(o, "url", t->plan.url, sizeof(t->plan.url));
    copy_member(o, "md5", t->plan.md5, sizeof(t->plan.md5));
    copy_member(o, "sha256", t->plan.sha256, sizeof(t->plan.sha256));
    copy_member(o, "targetVersion", t->plan.target, sizeof(t->plan.target));
    copy_member(o, "componentNo", t->plan.comp, sizeof(t->plan.comp));
    copy_member(o, "pk", t->pk, sizeof(t->pk));
    copy_member(o, "dk", t->dk, sizeof(t->dk));
    copy_member(o, "server", t->server, sizeof(t->server));
    t->swapped = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "swapped"));
    t->applied = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "applied"));
    t->tls = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "tls"));
    cJSON_Delete(o);
    return t->phase == TASK_DOWNLOADING || t->phase == TASK_UPDATING;
}

/* The task is over: nothing kept, the image removed. */
static void forget(httpota_t *h)
{
    httpota_task_t *t = &h->task;
    if (t->d != NULL) {
        qtd_download_t *d = t->d;
        t->d = NULL;
        dl_api.cancel(h->dl, d);
    }
    if (t->watch != NULL) {
        h->api->script_unwatch(h->host, t->watch);
        t->watch = NULL;
    }
    if (t->retry_open) {
        (void)uv_timer_stop(&t->retry);
    }
    if (t->path[0] != '\0' && unlink(t->path) != 0 && errno != ENOENT) {
        LOG(h, QTD_LOG_WARN, "HTTP OTA: cannot remove %s: %s", t->path, strerror(errno));
    }
    if (h->api->kv_del(h->host, KV_TASK) == 0) {
        (void)h->api->store_commit_durable(h->host); /* a power cut does not bring it back */
    }
    t->phase = TASK_IDLE;
    t->swapped = false;
    t->applied = false;
    t->attempts = 0;
}

/* The last event of a task, then no task. */
static void end(httpota_t *h, int event, int errcode)
{
    raise_event(h, event, errcode, NULL);
    forget(h);
}

/* ---- apply ---- */

static void on_watched(void *arg, int status)
{
    httpota_t *h = arg;
    h->task.watch = NULL;
    if (status != 0) {
        LOG(h, QTD_LOG_ERROR,
            "HTTP OTA: the new script raised an error within %llds: the "
            "previous one runs again",
            (long long)h->cfg->probation_s);
        end(h, EV_UPDATE, 10612);
        return;
    }
    LOG(h, QTD_LOG_INFO, "HTTP OTA: script %s runs", h->task.plan.target);
    end(h, EV_UPDATE, 0);
}

static void watch_script(httpota_t *h)
{
    int rc = h->api->script_watch(h->host, (uint64_t)h->cfg->probation_s * 1000, on_watched, h,
                                  &h->task.watch);
    if (rc != 0) {
        (void)h->api->script_restore(h->host);
        end(h, EV_UPDATE, 10612);
    }
}

static void on_no_reboot(uv_timer_t *timer)
{
    httpota_t *h = timer->data;
    LOG(h, QTD_LOG_ERROR,
        "HTTP OTA: the device did not restart into firmware %s within %llds of its install",
        h->task.plan.target, (long long)h->cfg->update_timeout_s);
    end(h, EV_UPDATE, 10612);
}

static void on_firmware(void *arg, int status)
{
    httpota_t *h = arg;
    if (status == QTD_ECANCELED || h->task.phase != TASK_UPDATING) {
        return; /* stopping: the task waits in the store */
    }
    if (status != 0) {
        end(h, EV_UPDATE, 10612);
        return;
    }
    h->task.applied = true;
    save(h);
    LOG(h, QTD_LOG_INFO,
        "HTTP OTA: firmware %s installed; the version that runs after the "
        "reboot ends the task",
        h->task.plan.target);
    (void)uv_timer_start(&h->task.retry, on_no_reboot, (uint64_t)h->cfg->update_timeout_s * 1000,
                         0);
}

/* Hand the image to the firmware service's command (7/0 raised already). */
static void run_firmware_command(httpota_t *h)
{
    httpota_task_t *t = &h->task;
    int rc = fw_api.apply(h->fw, t->path, t->plan.comp, t->plan.target, on_firmware, h);
    if (rc != 0) {
        LOG(h, QTD_LOG_ERROR, "HTTP OTA: firmware %s not applied: %s", t->plan.target,
            rc == QTD_ENOTSUP ? "set httpota.firmware_command" : h->api->strerror(rc));
        end(h, EV_UPDATE, 10612);
    }
}

static void apply(httpota_t *h)
{
    httpota_task_t *t = &h->task;
    t->phase = TASK_UPDATING;
    save(h);
    raise_event(h, EV_UPDATING, 0, NULL);
    if (strcmp(t->plan.comp, h->cfg->script_component) == 0) {
        char err[512];
        int rc = h->api->script_replace(h->host, t->path, err, sizeof(err));
        if (rc != 0) {
            LOG(h, QTD_LOG_ERROR, "HTTP OTA: script %s not installed: %s", t->plan.target,
                err[0] != '\0' ? err : h->api->strerror(rc));
            /* does not compile or fails its first run: the file is not a script (10607);
             * cannot be written (10609); anything else (another update on probation) 10612 */
            bool format = rc == QTD_ELUA || rc == QTD_ENOENT;
            end(h, format ? EV_UPDATING : EV_UPDATE,
                format          ? 10607
                : rc == QTD_EIO ? 10609
                                : 10612);
            return;
        }
        t->swapped = true;
        save(h);
        watch_script(h);
        return;
    }
    t->applied = false;
    run_firmware_command(h);
}

/* ---- the download ---- */

static void on_downloaded(void *arg, int status)
{
    httpota_t *h = arg;
    if (status == QTD_ECANCELED) {
        return; /* stopping (the task waits in the store), or dropped */
    }
    h->task.d = NULL;
    switch (status) {
    case 0:
        raise_event(h, EV_DOWNLOADED, 0, NULL);
        apply(h);
        break;
    case QTD_EILSEQ:
        end(h, EV_UPDATING, 10606);
        break;
    case QTD_EIO:
        end(h, EV_DOWNLOAD_FAILED, 0);
        break;
    default:
        end(h, EV_DOWNLOAD_ERROR, 10605);
        break;
    }
}

static void download(httpota_t *h)
{
    httpota_task_t *t = &h->task;
    qtd_download_check_t check = {
        .size = t->plan.size, .md5 = t->plan.md5, .sha256 = t->plan.sha256};
    int rc = dl_api.start(h->dl, t->plan.url, t->path, &check, NULL, on_downloaded, h, &t->d);
    if (rc != 0) {
        LOG(h, QTD_LOG_ERROR, "HTTP OTA: the download did not start: %s", h->api->strerror(rc));
        end(h, EV_DOWNLOAD_ERROR, 10605);
    }
}

/* Free bytes where the image goes, for the rest of it. */
static bool room_for(httpota_t *h, uint64_t size)
{
    httpota_task_t *t = &h->task;
    char dir[sizeof(t->path)];
    snprintf(dir, sizeof(dir), "%s", t->path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    struct statvfs fs;
    struct stat st;
    uint64_t have = stat(t->path, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (statvfs(dir, &fs) != 0) {
        return true; /* the download says it when it cannot write */
    }
    uint64_t free_b = (uint64_t)fs.f_bavail * fs.f_frsize;
    if (free_b + have < size) {
        LOG(h, QTD_LOG_ERROR, "HTTP OTA: %llu bytes free in %s, the image needs %llu",
            (unsigned long long)free_b, dir, (unsigned long long)(size - have));
        return false;
    }
    return true;
}

/* ---- the plan ---- */

static void ask(httpota_t *h);

static void on_retry(uv_timer_t *timer)
{
    ask(timer->data);
}

static void on_plan(void *arg, int code, const plan_t *plan, const char *json, int64_t retry_s)
{
    httpota_t *h = arg;
    httpota_task_t *t = &h->task;
    if (t->phase != TASK_PLANNING) {
        return;
    }
    bool again =
        code == QTD_EIO || code == QTD_ETIMEDOUT || code == 10701 || code == 10713 || code == 10715;
    if (again && t->attempts < h->cfg->retries) {
        uint64_t wait = dl_backoff_ms(h->dl, t->attempts);
        if ((uint64_t)retry_s * 1000 > wait) {
            wait = (uint64_t)retry_s * 1000;
        }
        t->attempts++;
        LOG(h, QTD_LOG_WARN, "HTTP OTA: plan request: %s %d; asking again in %.1f s (%d of %lld)",
            code < 0 ? "failed:" : "code", code < 0 ? 0 : code, wait / 1000.0, t->attempts,
            (long long)h->cfg->retries);
        (void)uv_timer_start(&t->retry, on_retry, wait, 0);
        return;
    }
    if (code != 0) {
        int errcode = code == QTD_ETIMEDOUT ? 10602 : code < 0 ? 10604 : code;
        end(h, EV_REFUSED, errcode);
        return;
    }
    t->plan = *plan;
    LOG(h, QTD_LOG_INFO, "HTTP OTA plan: %s %s, %llu bytes from %s", plan->comp, plan->target,
        (unsigned long long)plan->size, plan->url);
    raise_event(h, EV_PLAN, 0, json);
    if (unlink(t->path) != 0 && errno != ENOENT) {
        LOG(h, QTD_LOG_WARN, "HTTP OTA: cannot remove %s: %s", t->path, strerror(errno));
    }
    if (!room_for(h, plan->size)) {
        end(h, EV_REFUSED, 10603);
        return;
    }
    t->phase = TASK_DOWNLOADING;
    save(h);
    raise_event(h, EV_DOWNLOADING, 0, NULL);
    download(h);
}

static void ask(httpota_t *h)
{
    httpota_task_t *t = &h->task;
    char version[80] = "";
    char mcu[256] = "";
    char dk[40] = "";
    if (h->thing != NULL) {
        h->thing->identity(h->thing_self, dk, sizeof(dk), version, sizeof(version), mcu,
                           sizeof(mcu));
    }
    plan_req_t r;
    plan_req_of(t, &r);
    r.version = version[0] != '\0' ? version : h->api->agent_version();
    r.mcu = mcu;
    int rc = plan_request(h->plans, &r, on_plan, h);
    if (rc != 0) {
        on_plan(h, rc == QTD_EBUSY ? QTD_EIO : rc, NULL, NULL, 0);
    }
}

int httpota_task_up(httpota_t *h, int64_t battery, int64_t upmode, const char *url,
                    const char **why)
{
    httpota_task_t *t = &h->task;
    *why = NULL;
    if (t->phase != TASK_IDLE) {
        *why = "an HTTP OTA task is under way";
        return QTD_EBUSY;
    }
    char tls[8];
    httpota_setting(h, "pk", t->pk, sizeof(t->pk));
    httpota_setting(h, "ps", t->ps, sizeof(t->ps));
    httpota_setting(h, "tls", tls, sizeof(tls));
    t->tls = strcmp(tls, "1") == 0;
    if (url != NULL && url[0] != '\0') {
        snprintf(t->server, sizeof(t->server), "%s", url);
    } else {
        httpota_setting(h, "server", t->server, sizeof(t->server));
    }
    char version[80];
    char mcu[8];
    t->dk[0] = '\0';
    if (h->thing != NULL) {
        h->thing->identity(h->thing_self, t->dk, sizeof(t->dk), version, sizeof(version), mcu,
                           sizeof(mcu));
    }
    if (t->pk[0] == '\0' || t->ps[0] == '\0') {
        *why = "no product: call quecIot.setHttpOtaProductInfo(pk, ps) first";
    } else if (t->server[0] == '\0') {
        *why = "no server: call quecIot.setHttpOtaServer(\"host:port\") or give the url";
    } else if (t->dk[0] == '\0') {
        *why = "no device key: load the cloud plugin (it knows the device's identity)";
    }
    if (*why != NULL) {
        return QTD_ENOENT;
    }
    t->battery = battery;
    t->upmode = upmode;
    t->attempts = 0;
    t->phase = TASK_PLANNING;
    LOG(h, QTD_LOG_INFO, "HTTP OTA: asking %s for a plan (device %s, battery %lld, mode %lld)",
        t->server, t->dk, (long long)battery, (long long)upmode);
    ask(h);
    return 0;
}

/* ---- life cycle ---- */

void httpota_task_start(httpota_t *h)
{
    httpota_task_t *t = &h->task;
    const char *dir = h->cfg->download_dir;
    char def[400];
    if (dir[0] == '\0') {
        snprintf(def, sizeof(def), "%s/ota", h->api->data_dir(h->host));
        dir = def;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        LOG(h, QTD_LOG_WARN, "HTTP OTA: cannot create %s: %s", dir, strerror(errno));
    }
    snprintf(t->path, sizeof(t->path), "%s/http-ota.bin", dir);
    (void)uv_timer_init(h->api->loop(h->host), &t->retry);
    t->retry.data = h;
    t->retry_open = true;
    if (!load(h)) {
        return;
    }
    LOG(h, QTD_LOG_INFO, "HTTP OTA %s %s: taken up after a restart (%s)", t->plan.comp,
        t->plan.target, t->phase == TASK_DOWNLOADING ? "downloading" : "updating");
    if (t->phase == TASK_DOWNLOADING) {
        download(h); /* resumes from the bytes on disk */
        return;
    }
    if (strcmp(t->plan.comp, h->cfg->script_component) == 0) {
        if (!t->swapped) {
            apply(h);
        } else if (h->api->script_errors(h->host) > 0) {
            (void)h->api->script_restore(h->host);
            end(h, EV_UPDATE, 10612);
        } else {
            watch_script(h);
        }
        return;
    }
    if (!t->applied) {
        LOG(h, QTD_LOG_WARN,
            "HTTP OTA: the install of %s did not finish before the restart: "
            "running the apply command again",
            t->plan.target);
        run_firmware_command(h);
        return;
    }
    const char *running = fw_api.version(h->fw);
    if (running[0] == '\0') {
        running = h->api->agent_version();
    }
    LOG(h, QTD_LOG_INFO, "HTTP OTA: firmware %s runs, the task's target is %s", running,
        t->plan.target);
    end(h, strcmp(running, t->plan.target) == 0 ? EV_UPDATE : EV_UPDATING,
        strcmp(running, t->plan.target) == 0 ? 0 : 10608);
}

void httpota_task_stop(httpota_t *h)
{
    httpota_task_t *t = &h->task;
    if (t->watch != NULL) {
        h->api->script_unwatch(h->host, t->watch); /* the task stays in the store */
        t->watch = NULL;
    }
    if (t->retry_open) {
        t->retry_open = false;
        uv_close((uv_handle_t *)&t->retry, NULL);
    }
}
