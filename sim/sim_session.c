/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The platform's answers to the broker plugin's verdicts (qtd-sim/auth): a registration gets
 * a new device secret, stored in the registry and sent as DEV_CONFIG_WRITE 0x00B4 {5: DS}; a
 * failed authentication gets EXCE_WRITE 0x00A3; a connection with session flag 1 gets a
 * session key (0x00B4 id 6), under which payloads go both ways AES-128-CBC (SESSION
 * ENCRYPTION in --help). Also the session crypto and events the uplink and downlink paths
 * use. Not here: the authentication itself (mosq_auth.c, the broker plugin), the password
 * functions (plugins/cloud/cloud_auth.c), sending (sim_downlink.c).
 */
#include "sim.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cloud_auth.h"
#include "cloud_frame.h"
#include "cloud_ttlv.h"
#include "registry.h"

/* ---- session keys */

/* AES-128-CBC of a payload under the device's session key, IV = SHA256(key)[0:16].
 * Returns as qtd_aes128cbc. */
int sim_session_crypt(const sim_device_t *d, bool encrypt, const uint8_t *in, size_t n,
                      uint8_t **out, size_t *out_len)
{
    uint8_t iv[16];

    qtd_auth_iv(d->key, sizeof(d->key), iv);
    return qtd_aes128cbc(encrypt, d->key, iv, in, n, out, out_len);
}

void sim_session_event(sim_t *s, const sim_device_t *d, const char *state)
{
    sim_device_state(s, d, "session", state);
    sim_say(s, "%-4s %s session key %s", "key", d->id, state);
}

int sim_session_key_item(const char *ds, uint8_t key[SIM_SESSION_KEY_LEN], qtd_value_t *item,
                         uint8_t **enc)
{
    uint8_t iv[16];
    size_t n = 0;
    int rc;

    *enc = NULL;
    if (strlen(ds) < 16) {
        return -EINVAL;
    }
    if (RAND_bytes(key, SIM_SESSION_KEY_LEN) != 1) {
        return -EIO;
    }
    qtd_auth_iv((const uint8_t *)ds, strlen(ds), iv);
    rc = qtd_aes128cbc(true, (const uint8_t *)ds, iv, key, SIM_SESSION_KEY_LEN, enc, &n);
    if (rc != 0) {
        return rc;
    }
    memset(item, 0, sizeof(*item));
    item->type = QTD_VAL_BYTES;
    item->id = 6;
    item->u.s.ptr = (const char *)*enc;
    item->u.s.len = n;
    return 0;
}

/* Login with flag 1: send {6: session key} now (encrypted with the registry's DS). */
static void start_session(sim_t *s, sim_device_t *d)
{
    qtd_reg_product_t *p;
    qtd_reg_device_t *rd;
    qtd_value_t item;
    qtd_value_t root;
    uint8_t key[SIM_SESSION_KEY_LEN];
    uint8_t *enc = NULL;
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc;

    sim_refresh_registry(s);
    p = qtd_registry_product(s->reg, d->pk);
    rd = p != NULL ? qtd_registry_device(p, d->dk) : NULL;
    if (rd == NULL || rd->ds[0] == '\0') {
        sim_log_event(s, "error", "no session key for %s: its device secret is not in the registry",
                      d->id);
        return;
    }
    rc = sim_session_key_item(rd->ds, key, &item, &enc);
    if (rc == 0) {
        memset(&root, 0, sizeof(root));
        root.type = QTD_VAL_STRUCT;
        root.u.list.items = &item;
        root.u.list.count = 1;
        rc = qtd_ttlv_encode(&root, &payload, &len);
    }
    free(enc);
    if (rc != 0) {
        sim_log_event(s, "error", "cannot build the session key of %s: %s", d->id, strerror(-rc));
    } else {
        sim_schedule(s, d, QTD_CMD_DEV_CONFIG_WRITE, payload, len, 0, key);
    }
    OPENSSL_cleanse(key, sizeof(key));
}

/* ---- verdicts from the broker plugin */

int sim_new_secret(char ds[33])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t raw[16];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return -EIO;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        ds[2 * i] = digits[raw[i] >> 4];
        ds[2 * i + 1] = digits[raw[i] & 15];
    }
    ds[32] = '\0';
    return 0;
}

static void registered(sim_t *s, sim_device_t *d, cJSON *line)
{
    qtd_value_t item[2];
    qtd_value_t root;
    qtd_reg_product_t *p;
    qtd_reg_device_t *rd;
    uint8_t key[SIM_SESSION_KEY_LEN];
    uint8_t *enc = NULL;
    uint8_t *payload = NULL;
    size_t len = 0;
    char ds[33];
    int rc;

    sim_refresh_registry(s);
    p = qtd_registry_product(s->reg, d->pk);
    rd = p != NULL ? qtd_registry_device_add(p, d->dk) : NULL;
    if (rd == NULL || sim_new_secret(ds) != 0) {
        cJSON_Delete(line);
        sim_log_event(s, "error", "cannot register %s: unknown product or out of memory", d->id);
        return;
    }
    snprintf(rd->ds, sizeof(rd->ds), "%s", ds);
    rc = qtd_registry_save(s->reg);
    if (rc != 0) {
        cJSON_Delete(line);
        sim_log_event(s, "error", "cannot save the registry %s: %s; no secret sent to %s",
                      s->registry_path, strerror(-rc), d->id);
        return;
    }
    sim_log_line(s, line);
    memset(item, 0, sizeof(item));
    memset(&root, 0, sizeof(root));
    item[0].type = QTD_VAL_STRING;
    item[0].id = 5;
    item[0].u.s.ptr = ds;
    item[0].u.s.len = 32;
    root.type = QTD_VAL_STRUCT;
    root.u.list.items = item;
    root.u.list.count = 1;
    rc = 0;
    if (d->flag == 1) {
        /* DS and key in one frame: the device stores the DS (id 5) before it decrypts the
         * key with it (id 6), and its first reports already go out encrypted. */
        rc = sim_session_key_item(ds, key, &item[1], &enc);
        root.u.list.count = 2;
    }
    if (rc == 0) {
        rc = qtd_ttlv_encode(&root, &payload, &len);
    }
    free(enc);
    OPENSSL_cleanse(ds, sizeof(ds));
    if (rc != 0) {
        sim_log_event(s, "error", "cannot encode the secret of %s: %s", d->id, strerror(-rc));
    } else {
        sim_schedule(s, d, QTD_CMD_DEV_CONFIG_WRITE, payload, len, s->reg_delay_ms,
                     d->flag == 1 ? key : NULL);
    }
    OPENSSL_cleanse(key, sizeof(key));
}

void sim_on_verdict(sim_t *s, const char *text)
{
    cJSON *v = cJSON_Parse(text);
    const char *client = sim_str_member(v, "client");
    const char *pk = sim_str_member(v, "pk");
    const char *dk = sim_str_member(v, "dk");
    const char *kind = sim_str_member(v, "kind");
    int errcode = sim_int_member(v, "errcode", 0);
    const char *event;
    bool refused;
    sim_device_t *d;
    cJSON *line;

    if (client == NULL || kind == NULL) {
        sim_log_event(s, "error", "malformed verdict from the broker plugin: %s", text);
        goto out;
    }
    d = sim_device_get(s, client, pk, dk);
    if (d == NULL) {
        goto out;
    }
    refused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "refused"));
    if (!refused) {
        /* A new connection (or the end of one): its session key starts over. A refused
         * CONNECT leaves the device's current connection, if any, alone. */
        d->conn++;
        d->session = SIM_SESSION_NONE;
        OPENSSL_cleanse(d->key, sizeof(d->key));
        d->flag = strcmp(kind, "disconnect") == 0 ? 0 : sim_int_member(v, "flag", 0);
    }
    if (!refused) {
        /* A gateway's new connection (or its end): its sub-devices' sessions are over. */
        sim_gateway_offline(s, d);
    }
    if (strcmp(kind, "disconnect") == 0) {
        d->online = false;
        event = "offline";
    } else if (refused) {
        event = "login_refused";
    } else if (errcode != 0) {
        d->online = true;
        event = "auth_fail";
    } else if (strcmp(kind, "register") == 0) {
        d->online = true;
        event = "registered";
    } else {
        d->online = true;
        event = "login";
    }
    line = sim_line_new();
    if (line == NULL || cJSON_AddStringToObject(line, "event", event) == NULL ||
        cJSON_AddStringToObject(line, "client", d->id) == NULL ||
        cJSON_AddStringToObject(line, "pk", d->pk) == NULL ||
        cJSON_AddStringToObject(line, "dk", d->dk) == NULL) {
        cJSON_Delete(line);
        goto out;
    }
    if (strcmp(event, "offline") != 0) {
        cJSON_AddStringToObject(line, "kind", kind);
        cJSON_AddNumberToObject(line, "errcode", errcode);
        cJSON_AddNumberToObject(line, "flag", sim_int_member(v, "flag", 0));
    }
    if (strcmp(event, "registered") == 0) {
        cJSON_AddBoolToObject(line, "new",
                              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "new")));
    }
    sim_say(s, "%-4s %s %s%s%.0d", "auth", d->id, event, errcode != 0 ? " errcode " : "", errcode);
    if (strcmp(event, "registered") == 0) {
        registered(s, d, line);
    } else if (strcmp(event, "auth_fail") == 0) {
        uint8_t *payload = NULL;
        size_t len = 0;
        sim_log_line(s, line);
        if (sim_exce_payload(d, errcode, &payload, &len) == 0) {
            sim_schedule(s, d, QTD_CMD_EXCE_WRITE, payload, len, s->reg_delay_ms, NULL);
        } else {
            sim_log_event(s, "error", "cannot encode EXCE_WRITE for %s", d->id);
        }
    } else {
        sim_log_line(s, line);
        if (strcmp(event, "login") == 0 && d->flag == 1) {
            start_session(s, d);
        }
    }
out:
    cJSON_Delete(v);
}
