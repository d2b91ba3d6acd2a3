/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The platform's side of an MQTT OTA task (docs/protocol.md, 0x0111-0x0115): the control
 * message "ota" sends OTA_NOTIFY and keeps the task's OTA_FW_INFO for the device; when the
 * device confirms (OTA_EVENT status 2, SUBMITOTA) the firmware information follows at
 * once, as the platform does; a refusal (3), a success (11) or a failure (12) ends the
 * task. Each step is a log line {"event": "ota", "client", "pk", "dk", "state"}.
 */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

#include "cloud_frame.h"

static void ota_line(sim_t *s, const sim_device_t *d, const char *state)
{
    sim_device_state(s, d, "ota", state);
    sim_say(s, "%-4s %s OTA task %s", "ota", d->id, state);
}

void sim_ota_start(sim_t *s, sim_device_t *d, uint8_t *fw_info, size_t len)
{
    free(d->ota_fw);
    d->ota_fw = fw_info;
    d->ota_fw_len = len;
    ota_line(s, d, "notified");
}

void sim_ota_forget(sim_device_t *d)
{
    free(d->ota_fw);
    d->ota_fw = NULL;
    d->ota_fw_len = 0;
}

void sim_ota_on_uplink(sim_t *s, sim_device_t *d, const cJSON *line)
{
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(line, "cmd");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(line, "data");
    /* integers are raw items (as written): read the text */
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(data, "13");
    if (d->ota_fw == NULL || !cJSON_IsNumber(cmd) || cmd->valueint != QTD_CMD_OTA_EVENT ||
        !cJSON_IsRaw(status) || status->valuestring == NULL) {
        return;
    }
    switch (atoi(status->valuestring)) {
    case 2:
        if (sim_send_frame(s, d, QTD_CMD_OTA_FW_INFO, d->ota_fw, d->ota_fw_len, 0, NULL, 1, false,
                           NULL) == 0) {
            ota_line(s, d, "fw_info_sent");
        } else {
            ota_line(s, d, "fw_info_not_sent");
        }
        break;
    case 3:
        ota_line(s, d, "refused");
        sim_ota_forget(d);
        break;
    case 11:
        ota_line(s, d, "updated");
        sim_ota_forget(d);
        break;
    case 12:
        ota_line(s, d, "failed");
        sim_ota_forget(d);
        break;
    default:
        break;
    }
}
