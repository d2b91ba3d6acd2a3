/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MQTT OTA, what is done with a verified image (status 8, 7/10703), by component:
 * - the agent's script (cloud.ota_script_component): status 9 (7/10704), the script swapped
 *   by the host (compiled first, the old one kept, the MQTT session untouched), then the
 *   host's probation: an error in its first cloud.ota_probation_s seconds, or a device not
 *   online within cloud.ota_online_s, puts the previous script back and ends in 12 (7/10706);
 *   else setMcuVersion(component, target) and 11 (7/10705);
 * - firmware (componentType 0): status 9, the image handed to the firmware service's apply
 *   command; the task stays in status 9 across the reboot, after which the running version
 *   decides 11 or 12, reported once;
 * - an external MCU (componentType 1): 7/10703 with "<comp>",<size>,<start>,<piece> for
 *   each piece (cloud.ota_mcu_piece_kb), read with mcuFWDataRead; otaAction(2) moves to the
 *   next piece (status 4 and 7/10702, then 8 and 7/10703), otaAction(3) after the last one
 *   is status 9 (7/10704); the MCU's setMcuVersion ends it (11 when the version is the
 *   target); nothing within cloud.ota_update_timeout_s is 12.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cloud.h"

#define LOG(c, lvl, ...) (c)->api->log((c)->host, (lvl), __VA_ARGS__)

/* ---- the agent's script ---- */

static void restore_and_fail(cloud_t *c, const char *why)
{
    int rc = c->api->script_restore(c->host);
    if (rc != 0) {
        LOG(c, QTD_LOG_ERROR, "OTA %s: the previous script could not be put back: %s", c->ota.comp,
            c->api->strerror(rc));
    }
    qtd_cloud_ota_finish(c, false, why);
}

/* After the probation: the device must be online by online_by. */
static void on_online_check(uv_timer_t *t)
{
    cloud_t *c = t->data;
    cloud_ota_t *o = &c->ota;
    if (c->online) {
        const char *bad = NULL;
        (void)qtd_cloud_set_mcu_version(c, o->comp, strlen(o->comp), o->target, strlen(o->target),
                                        &bad);
        qtd_cloud_ota_finish(c, true, "the new script runs");
        return;
    }
    if (uv_now(c->loop) < o->online_by) {
        (void)uv_timer_start(&o->deadline, on_online_check, 1000, 0);
        return;
    }
    char why[160];
    snprintf(why, sizeof(why), "the device was not online %llds after the new script ran",
             (long long)c->cfg->ota_online_s);
    restore_and_fail(c, why);
}

static void on_watched(void *arg, int status)
{
    cloud_t *c = arg;
    c->ota.watch = NULL;
    if (status != 0) {
        char why[160];
        snprintf(why, sizeof(why),
                 "the new script raised an error within %llds; the previous one runs again",
                 (long long)c->cfg->ota_probation_s);
        qtd_cloud_ota_finish(c, false, why);
        return;
    }
    on_online_check(&c->ota.deadline);
}

static void probation(cloud_t *c)
{
    cloud_ota_t *o = &c->ota;
    o->online_by = uv_now(c->loop) + (uint64_t)c->cfg->ota_online_s * 1000;
    int rc = c->api->script_watch(c->host, (uint64_t)c->cfg->ota_probation_s * 1000, on_watched, c,
                                  &o->watch);
    if (rc != 0) {
        restore_and_fail(c, "the new script cannot be watched (out of memory)");
    }
}

static void swap_script(uv_timer_t *t)
{
    cloud_t *c = t->data;
    cloud_ota_t *o = &c->ota;
    qtd_cloud_ota_step(c, OTA_UPDATING, OTA_EV_UPDATING, NULL);
    char err[512];
    int rc = c->api->script_replace(c->host, o->path, err, sizeof(err));
    if (rc != 0) {
        qtd_cloud_ota_finish(c, false, err[0] != '\0' ? err : c->api->strerror(rc));
        return;
    }
    o->swapped = true;
    qtd_cloud_ota_save(c);
    LOG(c, QTD_LOG_INFO, "OTA %s %s: the new script runs; on probation for %llds", o->comp,
        o->target, (long long)c->cfg->ota_probation_s);
    probation(c);
}

/* ---- firmware ---- */

static void on_no_reboot(uv_timer_t *t)
{
    cloud_t *c = t->data;
    char why[160];
    snprintf(why, sizeof(why),
             "the device did not restart into the new firmware within %llds of its install",
             (long long)c->cfg->ota_update_timeout_s);
    qtd_cloud_ota_finish(c, false, why);
}

static void on_firmware_applied(void *arg, int status)
{
    cloud_t *c = arg;
    if (status == QTD_ECANCELED || c->ota.status != OTA_UPDATING) {
        return; /* stopping: the task stays in status 9 for the next start */
    }
    if (status != 0) {
        qtd_cloud_ota_finish(c, false, "the firmware apply command failed");
        return;
    }
    c->ota.applied = true;
    qtd_cloud_ota_save(c);
    LOG(c, QTD_LOG_INFO,
        "OTA %s %s: installed; the version that runs after the reboot ends the task", c->ota.comp,
        c->ota.target);
    (void)uv_timer_start(&c->ota.deadline, on_no_reboot,
                         (uint64_t)c->cfg->ota_update_timeout_s * 1000, 0);
}

/* Hand the image to the firmware service's command (status 9 already). */
static void run_firmware_command(cloud_t *c)
{
    cloud_ota_t *o = &c->ota;
    int rc = o->fw != NULL
                 ? o->fw->apply(o->fw_self, o->path, o->comp, o->target, on_firmware_applied, c)
                 : QTD_ENOTSUP;
    if (rc != 0) {
        qtd_cloud_ota_finish(c, false,
                             rc == QTD_ENOTSUP ? "firmware cannot be applied here: set "
                                                 "httpota.firmware_command"
                                               : c->api->strerror(rc));
    }
}

static void apply_firmware(cloud_t *c)
{
    c->ota.applied = false;
    qtd_cloud_ota_step(c, OTA_UPDATING, OTA_EV_UPDATING, NULL);
    run_firmware_command(c);
}

/* ---- an external MCU ---- */

static void on_mcu_timeout(uv_timer_t *t)
{
    cloud_t *c = t->data;
    qtd_cloud_ota_finish(c, false,
                         c->ota.status == OTA_UPDATING
                             ? "the MCU did not report its new version (setMcuVersion) in time"
                             : "the MCU did not read its image in time");
}

static void announce_piece(cloud_t *c)
{
    cloud_ota_t *o = &c->ota;
    char value[128];
    snprintf(value, sizeof(value), "\"%s\",%llu,%llu,%llu", o->comp, (unsigned long long)o->size,
             (unsigned long long)o->piece_start, (unsigned long long)o->piece_size);
    qtd_cloud_ota_step(c, OTA_DOWNLOADED, OTA_EV_DOWNLOADED, value);
    (void)uv_timer_start(&o->deadline, on_mcu_timeout,
                         (uint64_t)c->cfg->ota_update_timeout_s * 1000, 0);
}

static uint64_t piece_at(cloud_t *c, uint64_t start)
{
    uint64_t piece = (uint64_t)c->cfg->ota_mcu_piece_kb * 1024;
    uint64_t rest = c->ota.size - start;
    return piece == 0 || piece > rest ? rest : piece;
}

bool qtd_cloud_ota_next_piece(cloud_t *c)
{
    cloud_ota_t *o = &c->ota;
    if (o->kind != OTA_KIND_MCU || o->status != OTA_DOWNLOADED ||
        o->piece_start + o->piece_size >= o->size) {
        return false;
    }
    o->piece_start += o->piece_size;
    o->piece_size = piece_at(c, o->piece_start);
    qtd_cloud_ota_step(c, OTA_DOWNLOAD_START, OTA_EV_DOWNLOADING, NULL);
    announce_piece(c); /* the image is on disk already: the piece is ready at once */
    return true;
}

bool qtd_cloud_ota_mcu_done(cloud_t *c)
{
    cloud_ota_t *o = &c->ota;
    if (o->kind != OTA_KIND_MCU) {
        return false;
    }
    if (o->status == OTA_UPDATING) {
        return true;
    }
    if (o->status != OTA_DOWNLOADED || o->piece_start + o->piece_size < o->size) {
        return false;
    }
    qtd_cloud_ota_step(c, OTA_UPDATING, OTA_EV_UPDATING, NULL);
    (void)uv_timer_start(&o->deadline, on_mcu_timeout,
                         (uint64_t)c->cfg->ota_update_timeout_s * 1000, 0);
    return true;
}

void qtd_cloud_ota_mcu_version(cloud_t *c, const char *comp, const char *version)
{
    cloud_ota_t *o = &c->ota;
    if (o->kind != OTA_KIND_MCU || o->status < OTA_CONFIRMED || o->status > OTA_UPDATING ||
        o->status == OTA_REFUSED || strcmp(comp, o->comp) != 0) {
        return;
    }
    if (o->d != NULL) {
        o->dl->cancel(o->dl_self, o->d);
        o->d = NULL;
    }
    bool ok = strcmp(version, o->target) == 0;
    char why[160];
    snprintf(why, sizeof(why), "the MCU reports version %s", version);
    qtd_cloud_ota_finish(c, ok, why);
}

int64_t qtd_cloud_ota_read(cloud_t *c, uint64_t addr, uint8_t *buf, size_t len)
{
    cloud_ota_t *o = &c->ota;
    if (o->kind != OTA_KIND_MCU || o->status != OTA_DOWNLOADED || addr < o->piece_start ||
        addr >= o->piece_start + o->piece_size) {
        LOG(c, QTD_LOG_WARN,
            "quecIot.mcuFWDataRead(%llu): not in the piece announced by 7/10703 (status %d, "
            "piece %llu+%llu)",
            (unsigned long long)addr, o->status, (unsigned long long)o->piece_start,
            (unsigned long long)o->piece_size);
        return -1;
    }
    uint64_t rest = o->piece_start + o->piece_size - addr;
    size_t n = len < rest ? len : (size_t)rest;
    int fd = open(o->path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? pread(fd, buf, n, (off_t)addr) : -1;
    int e = errno;
    if (fd >= 0) {
        (void)close(fd);
    }
    if (got < 0) {
        LOG(c, QTD_LOG_ERROR, "quecIot.mcuFWDataRead: %s: %s", o->path, strerror(e));
        return -1;
    }
    return got;
}

/* ---- by kind ---- */

void qtd_cloud_ota_apply(cloud_t *c)
{
    cloud_ota_t *o = &c->ota;
    switch (o->kind) {
    case OTA_KIND_MCU:
        o->piece_start = 0;
        o->piece_size = piece_at(c, 0);
        announce_piece(c);
        break;
    case OTA_KIND_FIRMWARE:
        qtd_cloud_ota_step(c, OTA_DOWNLOADED, OTA_EV_DOWNLOADED, NULL);
        apply_firmware(c);
        break;
    case OTA_KIND_SCRIPT:
        qtd_cloud_ota_step(c, OTA_DOWNLOADED, OTA_EV_DOWNLOADED, NULL);
        /* Out of the download's callback: the swap reloads the script state. */
        (void)uv_timer_start(&o->later, swap_script, 0, 0);
        break;
    }
}

void qtd_cloud_ota_resume_apply(cloud_t *c)
{
    cloud_ota_t *o = &c->ota;
    bool updating = o->status == OTA_UPDATING;
    switch (o->kind) {
    case OTA_KIND_MCU:
        if (updating) {
            (void)uv_timer_start(&o->deadline, on_mcu_timeout,
                                 (uint64_t)c->cfg->ota_update_timeout_s * 1000, 0);
        } else {
            announce_piece(c);
        }
        break;
    case OTA_KIND_FIRMWARE:
        if (!updating) {
            apply_firmware(c);
            break;
        }
        if (!o->applied) {
            /* stopped before the command ended (or started): run it again on the image */
            LOG(c, QTD_LOG_WARN,
                "OTA %s %s: the install did not finish before the restart: "
                "running the apply command again",
                o->comp, o->target);
            run_firmware_command(c);
            break;
        }
        const char *running = qtd_cloud_ota_module_version(c);
        char why[200];
        snprintf(why, sizeof(why), "the firmware that runs is version %s", running);
        qtd_cloud_ota_finish(c, strcmp(running, o->target) == 0, why);
        break;
    case OTA_KIND_SCRIPT:
        if (updating && o->swapped && c->api->script_errors(c->host) > 0) {
            restore_and_fail(c, "the new script failed when the agent started with it");
        } else if (updating && o->swapped) {
            probation(c); /* its first run was this start's */
        } else {
            (void)uv_timer_start(&o->later, swap_script, 0, 0);
        }
        break;
    }
}
