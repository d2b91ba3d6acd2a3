/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The firmware service (qthingd/firmware.h) of the HTTP OTA plugin: the operator's apply
 * command run with uv_spawn, and the running firmware's version from the operator's
 * version command.
 */
#ifndef QTD_PLUGINS_HTTPOTA_HTTPOTA_FIRMWARE_H
#define QTD_PLUGINS_HTTPOTA_HTTPOTA_FIRMWARE_H

#include "qthingd/firmware.h"
#include "qthingd/plugin.h"

typedef struct fw_s fw_t;

/* apply_cmd and version_cmd are shell command lines ("" for none); version_cmd runs here,
 * once (before the loop runs). Returns: 0, QTD_ENOMEM. */
int fw_create(const qtd_host_api_t *api, qtd_host_t *host, const char *apply_cmd,
              const char *version_cmd, fw_t **out);
/* A command still running is left to finish (an install is never cut); its done callback
 * gets QTD_ECANCELED. */
void fw_stop(fw_t *f);
void fw_free(fw_t *f); /* after the loop closed the handles; accepts NULL */

extern const qtd_firmware_api_t fw_api;

#endif /* QTD_PLUGINS_HTTPOTA_HTTPOTA_FIRMWARE_H */
