/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OTA payloads of the platform, read and checked (docs/protocol.md, 0x0111 OTA_NOTIFY and
 * 0x0113 OTA_FW_INFO): pure code on decoded TTLV trees, part of qtdcodec, shared by the cloud
 * plugin and its fuzz target.
 */
#ifndef QTD_PLUGINS_CLOUD_CLOUD_OTA_INFO_H
#define QTD_PLUGINS_CLOUD_CLOUD_OTA_INFO_H

#include <stdbool.h>
#include <stdint.h>

#include "qthingd/events.h"

#define QTD_OTA_COMP_MAX 32
#define QTD_OTA_VERSION_MAX 64
#define QTD_OTA_URL_MAX 1024

/* An upgrade plan (OTA_NOTIFY). */
typedef struct {
    char comp[QTD_OTA_COMP_MAX + 1];      /* 4, required */
    char source[QTD_OTA_VERSION_MAX + 1]; /* 5, "" when absent */
    char target[QTD_OTA_VERSION_MAX + 1]; /* 6, required */
    int type;                             /* 7: 0 module, 1 MCU; required */
    int64_t battery_limit;                /* 8, 0 when absent */
    int64_t use_space;                    /* 9 */
    int64_t min_signal;                   /* 10 */
} qtd_ota_plan_t;

/* The firmware of a confirmed task (OTA_FW_INFO). */
typedef struct {
    char url[QTD_OTA_URL_MAX + 1];        /* 1 */
    uint64_t size;                        /* 2, >= 1 */
    char md5[33];                         /* 3: 32 lower-case hex digits */
    uint32_t crc;                         /* 15: hex text, passed on, never checked */
    char sha256[65];                      /* 16: 64 lower-case hex; "" unless asked for */
    char comp[QTD_OTA_COMP_MAX + 1];      /* 4 */
    char target[QTD_OTA_VERSION_MAX + 1]; /* 6 */
    int type;                             /* 7 */
} qtd_ota_fw_info_t;

/* Read the plan of an OTA_NOTIFY payload (a STRUCT). The component number is copied even
 * when the plan is not valid (the SDK reports it). Returns NULL when the plan is valid, else
 * what is wrong with it. */
const char *qtd_ota_plan_read(const qtd_value_t *tree, qtd_ota_plan_t *out);
/* Read the firmware of an OTA_FW_INFO payload; with_sha256: otaRequest(1) asked for it, so
 * id 16 is required. The component number is copied even when it is not valid. Returns NULL
 * when it is valid, else its defect. */
const char *qtd_ota_fw_info_read(const qtd_value_t *tree, bool with_sha256, qtd_ota_fw_info_t *out);

#endif /* QTD_PLUGINS_CLOUD_CLOUD_OTA_INFO_H */
