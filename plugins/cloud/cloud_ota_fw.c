/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MQTT OTA, the image: the platform's OTA_FW_INFO 0x0113 (taken in status 0 or 2; any
 * defect is status 12, as the SDK), the checks before downloading (free space, battery and
 * signal against the plan's limits), the download through the download service (status 4
 * with 7/10701, status 5 with 7/10702 every 5 s, then status 8 once size and digests are
 * verified; a failure is status 6 then 12 with 7/10706, nothing applied) and the task kept
 * in the store (cloud.ota, a TTLV record) so that a restart or a kill -9 takes it up where it
 * was: a download resumes from the bytes on disk, an apply is checked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cloud.h"
#include "cloud_ota_info.h"
#include "cloud_ttlv.h"

#define LOG(c, lvl, ...) (c)->api->log((c)->host, (lvl), __VA_ARGS__)
#define KV_OTA "cloud.ota"
#define TICK_MS 5000

/* ---- the task in the store ---- */

enum {
    F_STATUS = 1,
    F_TYPE,
    F_SHA_MODE,
    F_KIND,
    F_COMP,
    F_TARGET,
    F_BATTERY,
    F_SIGNAL,
    F_SPACE,
    F_URL,
    F_SIZE,
    F_MD5,
    F_SHA256,
    F_CRC,
    F_STARTED,
    F_PIECE_START,
    F_PIECE_SIZE,
    F_SWAPPED,
    F_APPLIED,
    F_COUNT = F_APPLIED
};

void qtd_cloud_ota_save(cloud_t *c)
{
    cloud_ota_t *o = &c->ota;
    if (o->status < OTA_CONFIRMED || o->status == OTA_REFUSED) {
        return; /* nothing to take up after a restart before the task is confirmed */
    }
#define I(f, v) {.type = QTD_VAL_INT, .id = (f), .u.i = (int64_t)(v)}
#define S(f, v)                                                                                    \
    {                                                                                              \
        .type = QTD_VAL_STRING, .id = (f), .u.s = {(v), strlen(v) }                                \
    }
    qtd_value_t items[F_COUNT] = {
        I(F_STATUS, o->status),
        I(F_TYPE, o->type),
        I(F_SHA_MODE, o->sha256_mode),
        I(F_KIND, o->kind),
        S(F_COMP, o->comp),
        S(F_TARGET, o->target),
        I(F_BATTERY, o->battery_limit),
        I(F_SIGNAL, o->min_signal),
        I(F_SPACE, o->use_space),
        S(F_URL, o->url),
        I(F_SIZE, o->size),
        S(F_MD5, o->md5),
        S(F_SHA256, o->sha256),
        I(F_CRC, o->crc),
        I(F_STARTED, o->started),
        I(F_PIECE_START, o->piece_start),
        I(F_PIECE_SIZE, o->piece_size),
        I(F_SWAPPED, o->swapped),
        I(F_APPLIED, o->applied),
    };
#undef I
#undef S
    qtd_value_t v = {.type = QTD_VAL_STRUCT, .u.list = {items, F_COUNT}};
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = qtd_ttlv_encode(&v, &buf, &len);
    if (rc == 0) {
        rc = c->api->kv_set(c->host, KV_OTA, buf, len);
    }
    if (rc == 0) {
        rc = c->api->store_commit_durable(c->host);
    }
    free(buf);
    if (rc != 0) {
        LOG(c, QTD_LOG_ERROR, "OTA task not kept in the store (%s): a restart loses it",
            c->api->strerror(rc));
    }
}

static void text_into(const qtd_value_t *tree, uint16_t id, char *out, size_t n)
{
    const qtd_value_t *v = qtd_cloud_find_id(tree, id);
    out[0] = '\0';
    if (v != NULL && v->type == QTD_VAL_STRING && v->u.s.len < n) {
        memcpy(out, v->u.s.ptr, v->u.s.len);
        out[v->u.s.len] = '\0';
    }
}

static int64_t int_of(const qtd_value_t *tree, uint16_t id)
{
    const qtd_value_t *v = qtd_cloud_find_id(tree, id);
    return v != NULL && v->type == QTD_VAL_INT ? v->u.i : 0;
}

/* The task the store kept, into c->ota. Returns whether there is one. */
static bool load(cloud_t *c)
{
    cloud_ota_t *o = &c->ota;
    char *buf = NULL;
    size_t len = 0;
    if (c->api->kv_get(c->host, KV_OTA, &buf, &len) != 0) {
        return false;
    }
    qtd_value_t tree;
    size_t off = 0;
    int rc = qtd_ttlv_decode((const uint8_t *)buf, len, &tree, &off);
    c->api->free(c->host, buf);
    if (rc != 0) {
        LOG(c, QTD_LOG_ERROR, "the OTA task kept in the store is unreadable (byte %zu): dropped",
            off);
        return false;
    }
    o->status = (int)int_of(&tree, F_STATUS);
    o->type = (int)int_of(&tree, F_TYPE);
    o->sha256_mode = int_of(&tree, F_SHA_MODE) != 0;
    o->kind = (ota_kind_t)int_of(&tree, F_KIND);
    text_into(&tree, F_COMP, o->comp, sizeof(o->comp));
    text_into(&tree, F_TARGET, o->target, sizeof(o->target));
    o->battery_limit = int_of(&tree, F_BATTERY);
    o->min_signal = int_of(&tree, F_SIGNAL);
    o->use_space = int_of(&tree, F_SPACE);
    text_into(&tree, F_URL, o->url, sizeof(o->url));
    o->size = (uint64_t)int_of(&tree, F_SIZE);
    text_into(&tree, F_MD5, o->md5, sizeof(o->md5));
    text_into(&tree, F_SHA256, o->sha256, sizeof(o->sha256));
    o->crc = (uint32_t)int_of(&tree, F_CRC);
    o->started = int_of(&tree, F_STARTED) != 0;
    o->piece_start = (uint64_t)int_of(&tree, F_PIECE_START);
    o->piece_size = (uint64_t)int_of(&tree, F_PIECE_SIZE);
    o->swapped = int_of(&tree, F_SWAPPED) != 0;
    o->applied = int_of(&tree, F_APPLIED) != 0;
    qtd_ttlv_free(&tree);
    return o->status >= OTA_CONFIRMED && o->kind <= OTA_KIND_SCRIPT && o->comp[0] != '\0';
}

void qtd_cloud_ota_forget(cloud_t *c)
{
    cloud_ota_t *o = &c->ota;
    if (o->d != NULL) {
        o->dl->cancel(o->dl_self, o->d); /* its done callback sees the task is gone */
    }
    if (o->watch != NULL) {
        c->api->script_unwatch(c->host, o->watch);
        o->watch = NULL;
    }
    if (o->timers_open) {
        (void)uv_timer_stop(&o->tick);
        (void)uv_timer_stop(&o->deadline);
        (void)uv_timer_stop(&o->later);
    }
    if (o->path[0] != '\0' && unlink(o->path) != 0 && errno != ENOENT) {
        LOG(c, QTD_LOG_WARN, "OTA: cannot remove %s: %s", o->path, strerror(errno));
    }
    if (c->api->kv_del(c->host, KV_OTA) == 0) {
        (void)c->api->store_commit_durable(c->host); /* a power cut does not bring it back */
    }
    bool sha256_mode = o->sha256_mode; /* the SDK keeps otaRequest's mode for the next task */
    memset(o, 0, offsetof(cloud_ota_t, path)); /* the task; the run-time part stays */
    o->sha256_mode = sha256_mode;
    o->d = NULL;
}

/* ---- the download ---- */

static void on_tick(uv_timer_t *t)
{
    cloud_t *c = t->data;
    if (c->ota.status == OTA_DOWNLOAD_START || c->ota.status == OTA_DOWNLOADING) {
        qtd_cloud_ota_step(c, OTA_DOWNLOADING, OTA_EV_DOWNLOADING, NULL);
    }
}

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
    cloud_t *c = arg;
    if (done >= c->ota.progress_at + total / 4 || done == total) {
        LOG(c, QTD_LOG_INFO, "OTA %s: %llu of %llu bytes", c->ota.comp, (unsigned long long)done,
            (unsigned long long)total);
        c->ota.progress_at = done;
    }
}

static void on_downloaded(void *arg, int status)
{
    cloud_t *c = arg;
    cloud_ota_t *o = &c->ota;
    if (status == QTD_ECANCELED) {
        return; /* stopping, or the task was dropped (which cleared o->d) */
    }
    o->d = NULL;
    (void)uv_timer_stop(&o->tick);
    if (status != 0) {
        LOG(c, QTD_LOG_ERROR, "OTA %s: the download failed: %s", o->comp,
            status == QTD_EILSEQ ? "size or digest mismatch, the file was removed"
                                 : c->api->strerror(status));
        qtd_cloud_ota_step(c, OTA_DOWNLOAD_ERROR, 0, NULL);
        qtd_cloud_ota_finish(c, false,
                             status == QTD_EILSEQ ? "the image failed verification" : "download");
        return;
    }
    qtd_cloud_ota_apply(c);
}

/* Start or resume the download of the task's image. */
static void download(cloud_t *c)
{
    cloud_ota_t *o = &c->ota;
    qtd_download_check_t check = {.size = o->size, .md5 = o->md5, .sha256 = o->sha256};
    o->progress_at = 0;
    int rc =
        o->dl->start(o->dl_self, o->url, o->path, &check, on_progress, on_downloaded, c, &o->d);
    if (rc != 0) {
        LOG(c, QTD_LOG_ERROR, "OTA %s: the download did not start: %s", o->comp,
            c->api->strerror(rc));
        qtd_cloud_ota_step(c, OTA_DOWNLOAD_ERROR, 0, NULL);
        qtd_cloud_ota_finish(c, false, "download");
        return;
    }
    (void)uv_timer_start(&o->tick, on_tick, TICK_MS, TICK_MS);
}

/* ---- OTA_FW_INFO ---- */

/* A status value (1 battery %, 3 signal) of this host into *out. Returns whether it has one. */
static bool status_of(cloud_t *c, uint16_t id, int64_t *out)
{
    qtd_value_t *v = NULL;
    bool ok = qtd_cloud_status_value(c, &id, 1, &v) == 0 && v != NULL && v->u.list.count == 1;
    if (ok) {
        const qtd_value_t *x = &v->u.list.items[0];
        *out = x->type == QTD_VAL_INT ? x->u.i : (int64_t)x->u.d;
    }
    if (v != NULL) {
        qtd_cloud_value_free(c, v);
    }
    return ok;
}

/* Why this host may not take the image now, or NULL. */
static const char *refusal(cloud_t *c, char *why, size_t n)
{
    cloud_ota_t *o = &c->ota;
    struct statvfs fs;
    char dir[sizeof(o->path)];
    snprintf(dir, sizeof(dir), "%s", o->path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    if (statvfs(dir, &fs) == 0) {
        uint64_t free_b = (uint64_t)fs.f_bavail * fs.f_frsize;
        struct stat st;
        uint64_t have = stat(o->path, &st) == 0 ? (uint64_t)st.st_size : 0; /* a resume */
        uint64_t need = o->size > have ? o->size - have : 0;
        if (o->use_space > 0 && (uint64_t)o->use_space > need) {
            need = (uint64_t)o->use_space;
        }
        if (free_b < need) {
            snprintf(why, n, "%llu bytes free for the image, %llu needed",
                     (unsigned long long)free_b, (unsigned long long)need);
            return why;
        }
    }
    int64_t v = 0;
    if (o->battery_limit > 0 && status_of(c, 1, &v) && v < o->battery_limit) {
        snprintf(why, n, "battery at %lld %%, the task needs %lld %%", (long long)v,
                 (long long)o->battery_limit);
        return why;
    }
    if (o->min_signal != 0 && status_of(c, 3, &v) && v < o->min_signal) {
        snprintf(why, n, "signal at %lld, the task needs %lld", (long long)v,
                 (long long)o->min_signal);
        return why;
    }
    return NULL;
}

void qtd_cloud_ota_on_fw_info(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    cloud_ota_t *o = &c->ota;
    if (o->status != OTA_NONE && o->status != OTA_CONFIRMED) {
        LOG(c, QTD_LOG_WARN, "OTA firmware info (pkgid %u) ignored: status is %d", f->pkgid,
            o->status);
        return;
    }
    qtd_ota_fw_info_t fw;
    const char *defect = qtd_ota_fw_info_read(tree, o->sha256_mode, &fw);
    if (defect == NULL && o->dl == NULL) {
        defect = "no download service: load the httpota plugin (plugins = { ..., { file = "
                 "\"httpota\" } })";
    }
    snprintf(o->comp, sizeof(o->comp), "%s", fw.comp);
    if (defect != NULL) {
        LOG(c, QTD_LOG_ERROR, "OTA firmware info (pkgid %u) refused: %s", f->pkgid, defect);
        qtd_cloud_ota_finish(c, false, "the firmware info is not valid");
        return;
    }
    snprintf(o->target, sizeof(o->target), "%s", fw.target);
    snprintf(o->url, sizeof(o->url), "%s", fw.url);
    snprintf(o->md5, sizeof(o->md5), "%s", fw.md5);
    snprintf(o->sha256, sizeof(o->sha256), "%s", fw.sha256);
    o->type = fw.type;
    o->size = fw.size;
    o->crc = fw.crc;
    o->kind = strcmp(fw.comp, c->cfg->ota_script_component) == 0 ? OTA_KIND_SCRIPT
              : o->type == 0                                     ? OTA_KIND_FIRMWARE
                                                                 : OTA_KIND_MCU;
    o->piece_start = 0;
    o->piece_size = o->size;
    o->started = false;
    (void)unlink(o->path); /* a new task: what an old one left is not resumed */
    char why[160];
    if (refusal(c, why, sizeof(why)) != NULL) {
        qtd_cloud_ota_finish(c, false, why);
        return;
    }
    LOG(c, QTD_LOG_INFO, "OTA %s %s: downloading %llu bytes from %s", o->comp, o->target,
        (unsigned long long)o->size, o->url);
    char value[200];
    snprintf(value, sizeof(value), "\"%s\",%llu,\"%s\",%u%s%s%s", o->comp,
             (unsigned long long)o->size, o->md5, (unsigned)o->crc, o->sha256[0] ? ",\"" : "",
             o->sha256, o->sha256[0] ? "\"" : "");
    o->started = true;
    qtd_cloud_ota_step(c, OTA_DOWNLOAD_START, OTA_EV_START, o->type == 1 ? value : NULL);
    download(c);
}

/* ---- life cycle ---- */

void qtd_cloud_ota_start(cloud_t *c)
{
    cloud_ota_t *o = &c->ota;
    const void *t = NULL;
    if (c->api->service_lookup(c->host, QTD_DOWNLOAD_SERVICE, QTD_DOWNLOAD_API_V1_SIZE,
                               QTD_SERVICE_OPTIONAL, &t, &o->dl_self) == 0) {
        o->dl = t;
    }
    if (c->api->service_lookup(c->host, QTD_FIRMWARE_SERVICE, QTD_FIRMWARE_API_V1_SIZE,
                               QTD_SERVICE_OPTIONAL, &t, &o->fw_self) == 0) {
        o->fw = t;
    }
    snprintf(o->path, sizeof(o->path), "%s/ota", c->api->data_dir(c->host));
    if (mkdir(o->path, 0700) != 0 && errno != EEXIST) {
        LOG(c, QTD_LOG_WARN, "OTA: cannot create %s: %s", o->path, strerror(errno));
    }
    snprintf(o->path, sizeof(o->path), "%s/ota/mqtt-ota.bin", c->api->data_dir(c->host));
    (void)uv_timer_init(c->loop, &o->tick);
    (void)uv_timer_init(c->loop, &o->deadline);
    (void)uv_timer_init(c->loop, &o->later);
    o->tick.data = o->deadline.data = o->later.data = c;
    o->timers_open = true;
    if (!load(c)) {
        return;
    }
    LOG(c, QTD_LOG_INFO, "OTA %s %s: taken up after a restart in status %d", o->comp, o->target,
        o->status);
    switch (o->status) {
    case OTA_CONFIRMED:
        break; /* waiting for the firmware info */
    case OTA_DOWNLOAD_START:
    case OTA_DOWNLOADING:
        if (o->dl == NULL) {
            qtd_cloud_ota_finish(c, false, "no download service (load the httpota plugin)");
            return;
        }
        qtd_cloud_ota_step(c, OTA_DOWNLOADING, OTA_EV_DOWNLOADING, NULL);
        download(c); /* resumes from the bytes on disk */
        break;
    case OTA_DOWNLOADED:
    case OTA_UPDATING:
        qtd_cloud_ota_resume_apply(c);
        break;
    default:
        qtd_cloud_ota_forget(c);
        break;
    }
}

void qtd_cloud_ota_stop(cloud_t *c)
{
    cloud_ota_t *o = &c->ota;
    if (!o->timers_open) {
        return;
    }
    o->timers_open = false;
    if (o->watch != NULL) {
        c->api->script_unwatch(c->host, o->watch); /* the task stays in status 9 */
        o->watch = NULL;
    }
    uv_close((uv_handle_t *)&o->tick, NULL);
    uv_close((uv_handle_t *)&o->deadline, NULL);
    uv_close((uv_handle_t *)&o->later, NULL);
}
