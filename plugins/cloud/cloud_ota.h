/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MQTT OTA task of the cloud plugin (seed 2.4.1, 3.6; the SDK's ql_iotCmdOTA.c), shared
 * by its three files: cloud_ota.c (the task: plan, answers, statuses and events, the Lua
 * functions), cloud_ota_fw.c (the firmware info, the download through the download
 * service, the state kept in the store across restarts) and cloud_ota_apply.c (what is
 * done with a verified image: the agent's script swapped in, a firmware image handed to
 * the firmware service, an external MCU fed piece by piece).
 */
#ifndef QTD_PLUGINS_CLOUD_CLOUD_OTA_H
#define QTD_PLUGINS_CLOUD_CLOUD_OTA_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "cloud_frame.h"
#include "cloud_ota_info.h"
#include "qthingd/download.h"
#include "qthingd/events.h"
#include "qthingd/firmware.h"
#include "qthingd/plugin.h"

typedef struct cloud_s cloud_t;

/* OTA_EVENT statuses (the SDK's numbers). */
enum {
    OTA_NONE = 0,
    OTA_RECEIVED = 1,
    OTA_CONFIRMED = 2,
    OTA_REFUSED = 3,
    OTA_DOWNLOAD_START = 4,
    OTA_DOWNLOADING = 5,
    OTA_DOWNLOAD_ERROR = 6,
    OTA_DOWNLOADED = 8,
    OTA_UPDATING = 9,
    OTA_SUCCESS = 11,
    OTA_FAILED = 12,
};

/* The script events of OTA (event 7). */
enum {
    OTA_EV_TASK = 10700,
    OTA_EV_START = 10701,
    OTA_EV_DOWNLOADING = 10702,
    OTA_EV_DOWNLOADED = 10703,
    OTA_EV_UPDATING = 10704,
    OTA_EV_OK = 10705,
    OTA_EV_FAIL = 10706,
};

/* What the component is, so what a verified image is for. */
typedef enum {
    OTA_KIND_MCU = 0,  /* an external MCU: the script reads it (mcuFWDataRead) */
    OTA_KIND_FIRMWARE, /* componentType 0: the module's or router's firmware */
    OTA_KIND_SCRIPT,   /* cloud.ota_script_component: the agent's own script */
} ota_kind_t;

typedef struct cloud_ota_s {
    /* The task; kept in the store (cloud.ota) from status 2 on. */
    int status;
    int type;         /* componentType: 0 module, 1 MCU */
    bool sha256_mode; /* otaRequest(1): SHA-256 asked for */
    ota_kind_t kind;
    char comp[QTD_OTA_COMP_MAX + 1];
    char target[QTD_OTA_VERSION_MAX + 1];
    int64_t battery_limit; /* of the plan: %, signal, bytes; 0: no limit */
    int64_t min_signal;
    int64_t use_space;
    char url[QTD_OTA_URL_MAX + 1];
    uint64_t size;
    char md5[33];
    char sha256[65];
    uint32_t crc;
    bool started;         /* 10701 raised (later starts raise 10702) */
    uint64_t piece_start; /* MCU: the piece the script may read */
    uint64_t piece_size;
    bool swapped; /* script: the swap was started (the new one may be in place) */
    bool applied; /* firmware: the apply command exited 0; the reboot decides */

    /* At run time only. */
    char path[512]; /* the staged image */
    const qtd_download_api_t *dl;
    void *dl_self;
    qtd_download_t *d; /* the download under way */
    const qtd_firmware_api_t *fw;
    void *fw_self;
    uv_timer_t tick;     /* DOWNLOADING every 5 s while downloading */
    uv_timer_t deadline; /* script online check, MCU read and update waits */
    uv_timer_t later;    /* the apply step, out of the callback that found it due */
    bool timers_open;
    qtd_script_watch_t *watch; /* the host's probation of a new script */
    uint64_t online_by;        /* loop time the device must be online by (script probation) */
    uint64_t progress_at;      /* bytes at the last log line */
} cloud_ota_t;

/* cloud_ota.c */
/* Enter status: keep the task in the store, report OTA_EVENT (status > 0) and raise
 * 7/errcode (errcode > 0) with value (may be NULL). */
void qtd_cloud_ota_step(cloud_t *c, int status, int errcode, const char *value);
/* End the task: 11 + 10705 or 12 + 10706, then no task (the staged image removed). */
void qtd_cloud_ota_finish(cloud_t *c, bool ok, const char *why);
/* The version the module reports (25): the firmware service's, else the agent's. */
const char *qtd_cloud_ota_module_version(cloud_t *c);

/* cloud_ota_fw.c */
/* OTA_FW_INFO 0x0113 (a downlink handler: cloud_downlink_fn). */
void qtd_cloud_ota_on_fw_info(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree);
/* Keep the task in the store (cloud.ota) / remove it and the staged image. */
void qtd_cloud_ota_save(cloud_t *c);
void qtd_cloud_ota_forget(cloud_t *c);
/* start(): look up the services, open the timers, take up a task the store kept. */
void qtd_cloud_ota_start(cloud_t *c);
void qtd_cloud_ota_stop(cloud_t *c);

/* cloud_ota_apply.c */
/* The image is verified (status 8): go on by kind. */
void qtd_cloud_ota_apply(cloud_t *c);
/* The store kept a task in status 8 or 9: take it up after a restart. */
void qtd_cloud_ota_resume_apply(cloud_t *c);
/* setMcuVersion(comp, version) was called: an MCU update may be over. */
void qtd_cloud_ota_mcu_version(cloud_t *c, const char *comp, const char *version);
/* otaAction(2) / (3). Returns whether it was taken. */
bool qtd_cloud_ota_next_piece(cloud_t *c);
bool qtd_cloud_ota_mcu_done(cloud_t *c);
/* mcuFWDataRead: up to len bytes at addr of the current piece into buf; -1 when not now or
 * out of range. */
int64_t qtd_cloud_ota_read(cloud_t *c, uint64_t addr, uint8_t *buf, size_t len);

#endif /* QTD_PLUGINS_CLOUD_CLOUD_OTA_H */
