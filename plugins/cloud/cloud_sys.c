/* SPDX-License-Identifier: Apache-2.0 */
/*
 * System downlinks: status and information reads (0x0031, 0x0041) answered with the host's
 * values (cloud_devinfo.c), platform exceptions (EXCE_WRITE 0x00A3: throttling becomes event
 * 8, refused credentials a reconnect with the SDK's floors), and device configuration
 * (DEV_CONFIG_WRITE 0x00B4: the device secret, session key, server move, new product
 * key/secret, re-authentication).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud.h"
#include "cloud_auth.h"

#define LOG(c, lvl, ...) (c)->api->log((c)->host, (lvl), __VA_ARGS__)

static void on_values_read(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    (void)tree;
    uint16_t ids[512];
    size_t n = 0;
    bool status = f->cmd == QTD_CMD_STATUS_REQ;
    if (qtd_cloud_id_list(f, ids, 512, &n) < 0) {
        qtd_cloud_malformed(c, QTD_EXCE_UNFORMATTABLE, f->pkgid,
                            "0x%04x pkgid %u: an id list of %zu bytes (odd, or more than 512 ids)",
                            f->cmd, f->pkgid, f->len);
        return;
    }
    qtd_value_t *v = NULL;
    int rc = status ? qtd_cloud_status_value(c, ids, n, &v) : qtd_cloud_info_value(c, ids, n, &v);
    if (rc < 0) {
        /* The platform waits for an answer: say we could not make one. */
        LOG(c, QTD_LOG_ERROR, "%s read pkgid %u: %s", status ? "status" : "info", f->pkgid,
            c->api->strerror(rc));
        qtd_cloud_send_exce(c, QTD_EXCE_UNFORMATTABLE, f->pkgid);
        return;
    }
    rc = qtd_cloud_send_value(c, 1, status ? QTD_CMD_STATUS_RSP : QTD_CMD_INFO_RSP, f->pkgid, v);
    if (rc < 0) {
        LOG(c, QTD_LOG_WARN, "%s read pkgid %u: cannot answer: %s", status ? "status" : "info",
            f->pkgid, c->api->strerror(rc));
    }
    qtd_cloud_value_free(c, v);
}

static void on_exce_write(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    const qtd_value_t *code = qtd_cloud_find_id(tree, 1);
    if (code == NULL || code->type != QTD_VAL_INT) {
        LOG(c, QTD_LOG_WARN, "platform exception pkgid %u without an errcode (id 1): ignored",
            f->pkgid);
        return;
    }
    int64_t errcode = code->u.i;
    if (!cloud_fsm_refusal_known(errcode)) {
        LOG(c, QTD_LOG_WARN,
            "platform exception %lld (pkgid %u) is not a code this device knows: ignored, "
            "the session stays",
            (long long)errcode, f->pkgid);
        return;
    }
    LOG(c, QTD_LOG_WARN, "platform exception %lld while %s", (long long)errcode,
        c->registering && !c->online ? "registering" : "connected");
    if (errcode == QTD_CODE_ALREADY_AUTHED && c->registering && !c->online) {
        LOG(c, QTD_LOG_ERROR,
            "the platform has registered %s already (10422): the device secret it issued then "
            "never reached this device (the agent stopped between connecting and receiving "
            "it). Reset the device on the platform (or give the secret with quecIot.setDkDs); "
            "until then it tries again every 10 minutes",
            c->cid);
    }
    qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_EXCEPTION, .code = errcode});
}

static void store_text(cloud_t *c, const char *key, const qtd_value_t *v, size_t max)
{
    if (v == NULL || v->type != QTD_VAL_STRING || v->u.s.len == 0 || v->u.s.len > max) {
        return;
    }
    c->api->kv_set(c->host, key, v->u.s.ptr, v->u.s.len);
}

bool qtd_cloud_session_key(cloud_t *c, const qtd_value_t *key, const char *ds, uint8_t out[16],
                           const char *who)
{
    if (key->type == QTD_VAL_STRING && key->u.s.len == 16) {
        /* The SDK (ql_iotCmdSys.c) takes id 6 as the raw key. */
        memcpy(out, key->u.s.ptr, 16);
        LOG(c, QTD_LOG_INFO, "%s key received", who);
        return true;
    }
    if (key->type != QTD_VAL_STRING || strlen(ds) < 16) {
        LOG(c, QTD_LOG_WARN, "%s key is not 16 bytes and there is no DS to decrypt it", who);
        return false;
    }
    /* PROTOCOL.md: encrypted with the DS (one AES block plus padding). */
    uint8_t iv[16];
    uint8_t *plain = NULL;
    size_t n = 0;
    qtd_auth_iv((const uint8_t *)ds, strlen(ds), iv);
    bool ok = qtd_aes128cbc(false, (const uint8_t *)ds, iv, (const uint8_t *)key->u.s.ptr,
                            key->u.s.len, &plain, &n) == 0 &&
              n == 16;
    if (ok) {
        memcpy(out, plain, 16);
        LOG(c, QTD_LOG_INFO, "%s key received (encrypted with the device secret)", who);
    } else {
        LOG(c, QTD_LOG_WARN, "%s key does not decrypt with the device secret", who);
    }
    free(plain);
    return ok;
}

static void on_dev_config(cloud_t *c, const qtd_frame_t *f, const qtd_value_t *tree)
{
    (void)f;
    const qtd_value_t *ds = qtd_cloud_find_id(tree, 5);
    const qtd_value_t *ds_new = qtd_cloud_find_id(tree, 10);
    const qtd_value_t *key = qtd_cloud_find_id(tree, 6);
    const qtd_value_t *server = qtd_cloud_find_id(tree, 1);
    store_text(c, CLOUD_KV_PK, qtd_cloud_find_id(tree, 7), CLOUD_PK_MAX);
    store_text(c, CLOUD_KV_PS, qtd_cloud_find_id(tree, 8), CLOUD_PS_MAX);
    if (ds_new != NULL) {
        ds = ds_new;
    }
    if (ds != NULL && ds->type == QTD_VAL_STRING && ds->u.s.len > 0 &&
        ds->u.s.len <= CLOUD_DS_MAX) {
        /* The platform keeps the secret it issued: lost here, the device is locked out
         * (10422) until it is reset on the platform. On disk and synced before anything. */
        int rc = c->api->kv_set(c->host, CLOUD_KV_DS, ds->u.s.ptr, ds->u.s.len);
        if (rc == 0) {
            rc = c->api->store_commit_durable(c->host);
        }
        memcpy(c->id.ds, ds->u.s.ptr, ds->u.s.len);
        c->id.ds[ds->u.s.len] = '\0';
        if (rc == 0) {
            LOG(c, QTD_LOG_INFO, "device secret received and stored");
        } else {
            LOG(c, QTD_LOG_ERROR,
                "device secret received but not stored (%s): it is kept in memory for this "
                "run; if the agent stops before it is stored, reset the device on the "
                "platform to register it again",
                c->api->strerror(rc));
        }
        qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_DS_RECEIVED});
    }
    if (key != NULL) {
        c->session_key_ok = qtd_cloud_session_key(c, key, c->id.ds, c->session_key, "session");
    }
    if (server != NULL && server->type == QTD_VAL_STRUCT) {
        const qtd_value_t *domain = qtd_cloud_find_id(server, 2);
        const qtd_value_t *ip = qtd_cloud_find_id(server, 3);
        const qtd_value_t *port = qtd_cloud_find_id(server, 4);
        const qtd_value_t *host = domain != NULL && domain->type == QTD_VAL_STRING ? domain : ip;
        if (host != NULL && host->type == QTD_VAL_STRING && port != NULL &&
            port->type == QTD_VAL_INT && port->u.i >= 1 && port->u.i <= 65535 &&
            host->u.s.len > 0 && host->u.s.len <= CLOUD_SERVER_MAX - 16 &&
            memchr(host->u.s.ptr, '/', host->u.s.len) == NULL) {
            char s[CLOUD_SERVER_MAX + 1];
            const char *scheme = strncmp(c->id.server, "mqtts://", 8) == 0 ? "mqtts://" : "";
            snprintf(s, sizeof(s), "%s%.*s:%lld", scheme, (int)host->u.s.len, host->u.s.ptr,
                     (long long)port->u.i);
            c->api->kv_set(c->host, CLOUD_KV_SERVER, s, strlen(s));
            LOG(c, QTD_LOG_INFO, "platform moved this device to %s", s);
            qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_SERVER_MOVED});
            return;
        }
    }
    const qtd_value_t *reauth = qtd_cloud_find_id(tree, 9);
    if (reauth != NULL) {
        LOG(c, QTD_LOG_INFO, "platform asks to authenticate again: device secret wiped");
        qtd_cloud_fsm_input(c, &(cloud_fsm_input_t){.kind = CLOUD_IN_REAUTH});
    }
}

const cloud_downlink_t qtd_cloud_sys_downlinks[] = {
    {QTD_CMD_STATUS_REQ, false, on_values_read},
    {QTD_CMD_INFO_REQ, false, on_values_read},
    {QTD_CMD_EXCE_WRITE, true, on_exce_write},
    {QTD_CMD_DEV_CONFIG_WRITE, true, on_dev_config},
    {0, false, NULL},
};
