/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Frames from devices (q/2/d/<client>/<type>): for devices of session flag 1 the choice
 * between decrypted, plain and refused (SESSION ENCRYPTION in --help), then the log line with
 * the decoded frame or the error of a malformed one, the count per command, and a warning
 * when the command belongs on another topic type. The platform logs uplinks and answers
 * none. Not here: the decoding itself (sim_json.c over the codec), session keys
 * (sim_session.c).
 */
#include "sim.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <openssl/crypto.h>

#include "cloud_frame.h"
#include "sim_json.h"

/* Count, check the topic type of, print and write the log line of an uplink (taken). */
static void log_uplink(sim_t *s, sim_device_t *d, const char *type, cJSON *line, int malformed)
{
    if (malformed) {
        d->up_errors++;
    } else {
        const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(line, "cmd");
        const char *want = qtd_frame_topic_type((uint16_t)cmd->valueint);
        sim_count(&d->up, (uint16_t)cmd->valueint);
        if (want != NULL && strcmp(want, type) != 0) {
            char w[64];
            snprintf(w, sizeof(w), "this command belongs on .../%s", want);
            cJSON_AddStringToObject(line, "warning", w);
        }
    }
    if (!malformed) {
        (void)sim_gateway_sub_uplink(s, d, line);
    }
    sim_say_frame(s, "up", d, line);
    if (!malformed) {
        sim_ota_on_uplink(s, d, line);
        sim_gateway_on_uplink(s, d, line);
    }
    sim_log_line(s, line);
}

/* Is buf a frame as it is (header, length, pkgid, checksum; the payload is not looked at)? */
static bool is_frame(const uint8_t *buf, size_t n)
{
    qtd_frame_t f;
    uint8_t *storage = NULL;
    int reason = 0;
    int rc = qtd_frame_decode(buf, n, &f, &storage, &reason);

    free(storage);
    return rc == 0;
}

/* An uplink of a flag-1 connection: decrypted, taken plain, or refused by the rule of
 * SESSION ENCRYPTION in the help text. */
static void session_uplink(sim_t *s, sim_device_t *d, const char *topic, const uint8_t *buf,
                           size_t n, int qos)
{
    const char *type = strrchr(topic, '/') + 1;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    bool decrypted = false;
    int malformed = 0;
    cJSON *line = NULL;

    if (d->session != SIM_SESSION_NONE && n > 0 && n % 16 == 0 &&
        sim_session_crypt(d, false, buf, n, &plain, &plain_len) == 0) {
        decrypted = is_frame(plain, plain_len);
    }
    if (decrypted || d->session == SIM_SESSION_NONE ||
        (d->session == SIM_SESSION_SENT && is_frame(buf, n))) {
        line = decrypted ? sim_frame_line("up", d, topic, qos, plain, plain_len, &malformed)
                         : sim_frame_line("up", d, topic, qos, buf, n, &malformed);
        if (line != NULL) {
            cJSON_AddBoolToObject(line, "encrypted", decrypted);
        }
        if (decrypted && d->session == SIM_SESSION_SENT) {
            d->session = SIM_SESSION_CONFIRMED;
            sim_session_event(s, d, "confirmed");
        } else if (!decrypted) {
            d->up_plain++;
        }
    } else {
        /* Neither decrypts to a frame nor may be taken plain. */
        char *hex = qtd_sim_hex_encode(buf, n > 64 ? 64 : n);
        const char *why = is_frame(buf, n) ? "a plain frame after the key was confirmed"
                                           : "does not decrypt with the session key";
        sim_log_event(s, "error", "uplink from %s on %s (%zu bytes): %s", d->id, topic, n, why);
        line = sim_line_new();
        if (line != NULL) {
            cJSON_AddStringToObject(line, "dir", "up");
            cJSON_AddStringToObject(line, "client", d->id);
            cJSON_AddStringToObject(line, "pk", d->pk);
            cJSON_AddStringToObject(line, "dk", d->dk);
            cJSON_AddStringToObject(line, "topic", topic);
            cJSON_AddNumberToObject(line, "qos", qos);
            cJSON_AddStringToObject(line, "error", "decrypt");
            cJSON_AddStringToObject(line, "detail", why);
            cJSON_AddStringToObject(line, "hex", hex != NULL ? hex : "");
        }
        free(hex);
        malformed = 1;
    }
    if (plain != NULL) {
        OPENSSL_cleanse(plain, plain_len);
    }
    free(plain);
    if (line == NULL) {
        sim_log_event(s, "error", "out of memory logging an uplink");
        return;
    }
    log_uplink(s, d, type, line, malformed);
}

void sim_on_uplink(sim_t *s, const char *topic, const uint8_t *buf, size_t n, int qos)
{
    const char *start = topic + strlen("q/2/d/");
    const char *slash = strrchr(topic, '/');
    char id[SIM_CLIENTID_MAX + 1];
    int malformed = 0;
    sim_device_t *d;
    cJSON *line;

    if (slash == NULL || slash < start || (size_t)(slash - start) > SIM_CLIENTID_MAX ||
        slash == start) {
        sim_log_event(s, "error", "uplink on an unexpected topic %s", topic);
        return;
    }
    memcpy(id, start, (size_t)(slash - start));
    id[slash - start] = '\0';
    d = sim_device_get(s, id, NULL, NULL);
    if (d == NULL) {
        return;
    }
    if (d->flag == 1) {
        session_uplink(s, d, topic, buf, n, qos);
        return;
    }
    line = sim_frame_line("up", d, topic, qos, buf, n, &malformed);
    if (line == NULL) {
        sim_log_event(s, "error", "out of memory logging an uplink");
        return;
    }
    log_uplink(s, d, slash + 1, line, malformed);
}
