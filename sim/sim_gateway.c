/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The platform's side of gateway sub-devices (docs/protocol.md, "Gateway sub-device
 * payloads"): on the gateway's sys topic, SUB_AUTH (the sub-device's registration password,
 * judged like a device's; a new DS stored in the registry and sent back), SUB_LOGIN (login
 * password against the DS), SUB_LOGOUT and SUB_UNAUTH, each answered with its _RSP
 * {1 subPK, 2 subDK, 3 errcode[, 4 subDS]}. A sub-device needs its product associated with
 * the gateway's ("gateways" in the registry: else 10440), one gateway at a time (10441; its
 * own gateway may log it in again), and
 * a login before its frames count (else SUB_OFFLINE 10442 to the gateway). A gateway that
 * goes offline takes its sub-devices with it. A login with session flag 1 gets the
 * sub-device's own session key in SUB_LOGIN_RSP id 6 (encrypted with its DS, as
 * DEV_CONFIG_WRITE's), and its frames both ways are AES-128-CBC under it. Each change is a log line
 * {"event": "subdev", "client", "pk", "dk", "state"} and the sub-device's frames carry "gateway".
 */
#include "sim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cloud_auth.h"
#include "cloud_frame.h"
#include "cloud_ttlv.h"

enum {
    SUB_OK = 10200,
    SUB_NO_ASSOCIATION = 10440,
    SUB_ALREADY = 10441,
    SUB_NOT_LOGGED_IN = 10442,
    SUB_DS_WRONG = 10430,
    SUB_DISABLED = 10431,
    SUB_NO_PRODUCT = 10423,
    SUB_REQUEST = 10420,
};

/* A text member of a line's "data" (TTLV id as a string key), or NULL. */
static const char *data_str(const cJSON *line, const char *id)
{
    return sim_str_member(cJSON_GetObjectItemCaseSensitive(line, "data"), id);
}

/* Send cmd {1 pk, 2 dk, 3 errcode[, 4 ds][, extra]} to the gateway. */
static void answer_with(sim_t *s, sim_device_t *gw, uint16_t cmd, const char *pk, const char *dk,
                        int errcode, const char *ds, const qtd_value_t *extra, int delay_ms)
{
    qtd_value_t items[5] = {
        {.type = QTD_VAL_STRING, .id = 1, .u.s = {pk, strlen(pk)}},
        {.type = QTD_VAL_STRING, .id = 2, .u.s = {dk, strlen(dk)}},
        {.type = QTD_VAL_INT, .id = 3, .u.i = errcode},
    };
    size_t n = 3;
    if (ds != NULL) {
        items[n++] = (qtd_value_t){.type = QTD_VAL_STRING, .id = 4, .u.s = {ds, strlen(ds)}};
    }
    if (extra != NULL) {
        items[n++] = *extra;
    }
    qtd_value_t root = {.type = QTD_VAL_STRUCT, .u.list = {items, n}};
    uint8_t *payload = NULL;
    size_t len = 0;
    if (qtd_ttlv_encode(&root, &payload, &len) == 0 && delay_ms > 0) {
        sim_schedule(s, gw, cmd, payload, len, delay_ms, NULL); /* takes payload */
        return;
    }
    if (payload == NULL ||
        sim_send_frame(s, gw, cmd, payload, len, 0, "sys", 1, false, NULL) != 0) {
        sim_log_event(s, "error", "cannot answer %s about %s%s", gw->id, pk, dk);
    }
    free(payload);
}

static void answer(sim_t *s, sim_device_t *gw, uint16_t cmd, const char *pk, const char *dk,
                   int errcode, const char *ds)
{
    answer_with(s, gw, cmd, pk, dk, errcode, ds, NULL, 0);
}

/* The sub-device's session is over: plain from now on. */
static void end_session(sim_device_t *sub)
{
    sub->gateway[0] = '\0';
    sub->online = false;
    sub->flag = 0;
    sub->session = SIM_SESSION_NONE;
    OPENSSL_cleanse(sub->key, sizeof(sub->key));
}

/* The sub-device (pk, dk) as a simulator device, or NULL (too long, out of memory). */
static sim_device_t *sub_of(sim_t *s, const char *pk, const char *dk)
{
    char id[SIM_CLIENTID_MAX + 1];
    if (snprintf(id, sizeof(id), "qd%s%s", pk, dk) >= (int)sizeof(id)) {
        return NULL;
    }
    return sim_device_get(s, id, pk, dk);
}

static void sub_state(sim_t *s, sim_device_t *sub, const char *state, int errcode)
{
    sim_device_state(s, sub, "subdev", state);
    sim_say(s, "%-4s %s %s (%d) via %s", "sub", sub->id, state, errcode,
            sub->gateway[0] != '\0' ? sub->gateway : sub->last_gateway);
}

static void on_auth(sim_t *s, sim_device_t *gw, const char *pk, const char *dk, const char *pw_text)
{
    qtd_auth_parsed_t pw;
    memset(&pw, 0, sizeof(pw));
    sim_refresh_registry(s);
    qtd_reg_product_t *prod = qtd_registry_product(s->reg, pk);
    qtd_reg_device_t *dev = prod != NULL ? qtd_registry_device(prod, dk) : NULL;
    bool is_new = false;
    int code;
    char ds[33] = "";
    if (prod == NULL) {
        code = SUB_NO_PRODUCT;
    } else if (!qtd_registry_associated(prod, gw->pk)) {
        code = SUB_NO_ASSOCIATION;
    } else if (pw_text == NULL || qtd_auth_parse(pw_text, &pw) != 0 || pw.kind != 0) {
        code = SUB_REQUEST;
    } else {
        code = qtd_registry_judge_register(s->reg, &pw, prod, dev, dk, &is_new);
    }
    if (code == 0) {
        dev = qtd_registry_device_add(prod, dk);
        if (dev == NULL || sim_new_secret(ds) != 0) {
            code = 10500;
        } else {
            snprintf(dev->ds, sizeof(dev->ds), "%s", ds);
            code = qtd_registry_save(s->reg) == 0 ? SUB_OK : 10500;
        }
    }
    sim_device_t *sub = sub_of(s, pk, dk);
    if (sub != NULL) {
        sub_state(s, sub, code == SUB_OK ? "authenticated" : "auth_refused", code);
    }
    answer_with(s, gw, 0x00C1, pk, dk, code, code == SUB_OK ? ds : NULL, NULL,
                s->sub_auth_delay_ms);
    OPENSSL_cleanse(ds, sizeof(ds));
}

/* A login-style password of the sub-device's DS: 0 or the refusal; *flag its session flag. */
static int check_login(sim_t *s, const sim_device_t *gw, const char *pk, const char *dk,
                       const char *pw_text, int *flag)
{
    qtd_auth_parsed_t pw;
    memset(&pw, 0, sizeof(pw));
    sim_refresh_registry(s);
    qtd_reg_product_t *prod = qtd_registry_product(s->reg, pk);
    qtd_reg_device_t *dev = prod != NULL ? qtd_registry_device(prod, dk) : NULL;
    if (prod == NULL) {
        return SUB_NO_PRODUCT;
    }
    if (!qtd_registry_associated(prod, gw->pk)) {
        return SUB_NO_ASSOCIATION;
    }
    if (pw_text == NULL || qtd_auth_parse(pw_text, &pw) != 0 || pw.kind != 1 || dev == NULL ||
        dev->ds[0] == '\0' || !qtd_auth_login_ok(&pw, dev->ds, prod->ps)) {
        return SUB_DS_WRONG;
    }
    *flag = pw.flag;
    return dev->disabled ? SUB_DISABLED : 0;
}

static void on_login(sim_t *s, sim_device_t *gw, const char *pk, const char *dk, const char *pw)
{
    sim_device_t *sub = sub_of(s, pk, dk);
    int flag = 0;
    int code = check_login(s, gw, pk, dk, pw, &flag);
    if (code == 0 && sub != NULL && sub->gateway[0] != '\0' && strcmp(sub->gateway, gw->id) != 0) {
        code = SUB_ALREADY; /* through another gateway; the same one may log it in again */
    }
    qtd_value_t key_item;
    uint8_t *enc = NULL;
    bool keyed = false;
    if (code == 0 && sub != NULL) {
        end_session(sub);
        snprintf(sub->gateway, sizeof(sub->gateway), "%s", gw->id);
        snprintf(sub->last_gateway, sizeof(sub->last_gateway), "%s", gw->id);
        sub->online = true;
        if (flag == 1) {
            /* its own session key, as DEV_CONFIG_WRITE's id 6, encrypted with its DS */
            qtd_reg_device_t *dev = qtd_registry_device(qtd_registry_product(s->reg, pk), dk);
            keyed = dev != NULL && sim_session_key_item(dev->ds, sub->key, &key_item, &enc) == 0;
            if (keyed) {
                sub->flag = 1;
                sub->session = SIM_SESSION_SENT;
            }
        }
    }
    if (sub != NULL) {
        sub_state(s, sub, code == 0 ? "login" : "login_refused", code);
    }
    answer_with(s, gw, 0x00C3, pk, dk, code == 0 ? SUB_OK : code, NULL, keyed ? &key_item : NULL,
                0);
    free(enc);
}

static void on_logout(sim_t *s, sim_device_t *gw, const char *pk, const char *dk)
{
    sim_device_t *sub = sub_of(s, pk, dk);
    int code = sub != NULL && strcmp(sub->gateway, gw->id) == 0 ? SUB_OK : SUB_NOT_LOGGED_IN;
    if (code == SUB_OK) {
        end_session(sub);
        sub_state(s, sub, "logout", code);
    }
    answer(s, gw, 0x00C5, pk, dk, code, NULL);
}

static void on_unauth(sim_t *s, sim_device_t *gw, const char *pk, const char *dk, const char *pw)
{
    int flag = 0;
    int code = check_login(s, gw, pk, dk, pw, &flag);
    sim_device_t *sub = sub_of(s, pk, dk);
    if (code == 0) {
        qtd_reg_device_t *dev = qtd_registry_device(qtd_registry_product(s->reg, pk), dk);
        if (dev != NULL) {
            dev->ds[0] = '\0';
            code = qtd_registry_save(s->reg) == 0 ? 0 : 10500;
        }
    }
    if (code == 0 && sub != NULL) {
        end_session(sub);
        sub_state(s, sub, "deauthenticated", SUB_OK);
    }
    answer(s, gw, 0x00C7, pk, dk, code == 0 ? SUB_OK : code, NULL);
}

void sim_gateway_on_uplink(sim_t *s, sim_device_t *gw, const cJSON *line)
{
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(line, "cmd");
    if (!cJSON_IsNumber(cmd) || cmd->valueint < 0x00C0 || cmd->valueint > 0x00C8) {
        return;
    }
    const char *pk = data_str(line, "1");
    const char *dk = data_str(line, "2");
    const char *pw = data_str(line, "3");
    if (pk == NULL || dk == NULL || pk[0] == '\0' || dk[0] == '\0') {
        sim_log_event(s, "warning", "%s: a sub-device command without 1 subPK and 2 subDK", gw->id);
        return;
    }
    switch (cmd->valueint) {
    case 0x00C0:
        on_auth(s, gw, pk, dk, pw);
        break;
    case 0x00C2:
        on_login(s, gw, pk, dk, pw);
        break;
    case 0x00C4:
        on_logout(s, gw, pk, dk);
        break;
    case 0x00C6:
        on_unauth(s, gw, pk, dk, pw);
        break;
    default:
        break;
    }
}

bool sim_gateway_sub_uplink(sim_t *s, sim_device_t *d, cJSON *line)
{
    if (d->gateway[0] != '\0') {
        cJSON_AddStringToObject(line, "gateway", d->gateway);
        return true;
    }
    if (d->last_gateway[0] == '\0') {
        return false;
    }
    cJSON_AddStringToObject(line, "gateway", d->last_gateway);
    cJSON_AddStringToObject(line, "warning", "the sub-device is not logged in");
    sim_device_t *gw = sim_device_find(s, d->last_gateway);
    if (gw != NULL) {
        answer(s, gw, 0x00C8, d->pk, d->dk, SUB_NOT_LOGGED_IN, NULL);
    }
    return true;
}

int sim_gateway_drop(sim_t *s, sim_device_t *sub)
{
    sim_device_t *gw = sub->gateway[0] != '\0' ? sim_device_find(s, sub->gateway) : NULL;
    if (gw == NULL) {
        return -ENOENT;
    }
    end_session(sub);
    sub_state(s, sub, "dropped", SUB_NOT_LOGGED_IN);
    answer(s, gw, 0x00C8, sub->pk, sub->dk, SUB_NOT_LOGGED_IN, NULL);
    return 0;
}

void sim_gateway_offline(sim_t *s, const sim_device_t *gw)
{
    for (size_t i = 0; i < s->ndevices; i++) {
        sim_device_t *sub = s->devices[i];
        if (strcmp(sub->gateway, gw->id) == 0) {
            end_session(sub);
            sub_state(s, sub, "offline", SUB_NOT_LOGGED_IN);
        }
    }
}
