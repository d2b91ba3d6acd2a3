/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Control messages (JSON on qtd-sim/ctl): one table of control commands {name, fn, help}
 * looked up by "cmd"; each handler checks its members, then sends a downlink or changes the
 * registry. Also the reply on qtd-sim/reply, the "ctl" log line, and the CONTROL MESSAGES
 * section of --help, printed from the same table so that help and code cannot drift. Not
 * here: the client that publishes a control message (`qthingd-sim ctl`, sim_tools.c), JSON
 * to TTLV (sim_json.c), sending (sim_downlink.c).
 */
#include "sim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <MQTTClient.h>
#include <cJSON.h>

#include "cloud_frame.h"
#include "registry.h"
#include "sim_json.h"

/* One control message being answered. */
typedef struct {
    const qtd_sim_doc_t *doc; /* the message, numbers as written */
    const cJSON *m;           /* its root */
    const char *cmd;          /* its "cmd" */
    sim_device_t *d;          /* the device it names (set by ctl_target) */
    const char *type;         /* "topic_type", NULL: the command's own (set by ctl_target) */
    int qos;                  /* "qos" (set by ctl_target) */
    int pkgid;                /* "pkgid", 0: the device's next (set by ctl_target) */
    bool plain;               /* "plain": do not encrypt (set by ctl_target) */
    cJSON *reply;             /* the answer on qtd-sim/reply */
    char err[256];            /* why it failed */
} ctl_t;

/* A control command: 0, or a negative errno with c->err saying why (-ENOMEM needs none). */
typedef int ctl_fn(sim_t *s, ctl_t *c);

static int ctl_fail(ctl_t *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* The device a control message names. */
static sim_device_t *ctl_device(sim_t *s, ctl_t *c)
{
    const char *client = sim_str_member(c->m, "client");
    const char *dk = sim_str_member(c->m, "dk");
    const char *pk = sim_str_member(c->m, "pk");
    char id[SIM_CLIENTID_MAX + 1];
    sim_device_t *d = NULL;

    if (client != NULL) {
        d = sim_device_get(s, client, NULL, NULL);
    } else if (dk != NULL && pk != NULL) {
        snprintf(id, sizeof(id), "qd%s%s", pk, dk);
        d = sim_device_get(s, id, pk, dk);
    } else if (dk != NULL) {
        sim_refresh_registry(s);
        for (size_t i = 0; i < s->reg->nproducts && d == NULL; i++) {
            qtd_reg_product_t *p = &s->reg->products[i];
            if (qtd_registry_device(p, dk) != NULL) {
                snprintf(id, sizeof(id), "qd%s%s", p->pk, dk);
                d = sim_device_get(s, id, p->pk, dk);
            }
        }
        for (size_t i = 0; i < s->ndevices && d == NULL; i++) {
            if (strcmp(s->devices[i]->dk, dk) == 0) {
                d = s->devices[i];
            }
        }
        if (d == NULL) {
            ctl_fail(c, "unknown dk \"%s\" (give \"pk\" or \"client\")", dk);
            return NULL;
        }
    } else {
        ctl_fail(c, "name the device with \"client\" or \"dk\"");
        return NULL;
    }
    if (d == NULL) {
        ctl_fail(c, "out of memory");
    }
    return d;
}

/* What every command naming a device does first: check "qos", "pkgid" and "topic_type", find the
 * device the message names (c->d) and put its "client" in the reply. */
static int ctl_target(sim_t *s, ctl_t *c)
{
    c->type = sim_str_member(c->m, "topic_type");
    c->qos = sim_int_member(c->m, "qos", 1);
    c->pkgid = sim_int_member(c->m, "pkgid", 0);
    c->plain = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->m, "plain"));
    if (c->qos < 0 || c->qos > 2 || c->pkgid < 0 || c->pkgid > 0xFFFF ||
        (c->type != NULL && strcmp(c->type, "sys") != 0 && strcmp(c->type, "bus") != 0 &&
         strcmp(c->type, "ota") != 0)) {
        return ctl_fail(c, "\"qos\" 0..2, \"pkgid\" 1..65534, \"topic_type\" sys|bus|ota");
    }
    c->d = ctl_device(s, c);
    if (c->d == NULL) {
        return -EINVAL;
    }
    cJSON_AddStringToObject(c->reply, "client", c->d->id);
    return 0;
}

/* The payload of a downlink from "data" (TTLV), "ids", "hex" or "text". */
static int ctl_payload(ctl_t *c, char kind, uint8_t **out, size_t *len)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(c->m, "data");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(c->m, "ids");
    const char *hex = sim_str_member(c->m, "hex");
    const char *text = sim_str_member(c->m, "text");
    int rc;

    *out = NULL;
    *len = 0;
    if (data != NULL) {
        return qtd_sim_json_to_ttlv(c->doc, data, out, len, c->err, sizeof(c->err));
    }
    if (ids != NULL) {
        return qtd_sim_json_to_ids(ids, out, len, c->err, sizeof(c->err));
    }
    if (hex != NULL) {
        rc = qtd_sim_hex_decode(hex, out, len);
        return rc == -EINVAL ? ctl_fail(c, "\"hex\" is not hex") : rc;
    }
    if (text != NULL) {
        *len = strlen(text);
        *out = *len > 0 ? (uint8_t *)strdup(text) : NULL;
        return *len > 0 && *out == NULL ? -ENOMEM : 0;
    }
    if (kind == 'i') {
        return 0; /* an empty id list reads everything */
    }
    return ctl_fail(c, "give the payload as \"data\", \"ids\", \"hex\" or \"text\"");
}

/* Frame and send cmd with payload to c->d; the reply gets "pkgid", "encrypted" (flag-1
 * devices) and "topic". */
static int ctl_send_frame(sim_t *s, ctl_t *c, uint16_t cmd, const uint8_t *payload, size_t len)
{
    char topic[SIM_CLIENTID_MAX + 16];
    uint16_t used = 0;
    int rc;

    rc = sim_send_frame(s, c->d, cmd, payload, len, (uint16_t)c->pkgid, c->type, c->qos, c->plain,
                        &used);
    if (rc == -EINVAL) {
        return ctl_fail(c, "the frame cannot be built (pkgid 0xFFFF or payload too long)");
    }
    if (rc != 0) {
        return ctl_fail(c, "not connected to the broker");
    }
    cJSON_AddNumberToObject(c->reply, "pkgid", used);
    if (c->d->flag == 1) {
        cJSON_AddBoolToObject(c->reply, "encrypted",
                              c->d->session != SIM_SESSION_NONE && !c->plain);
    }
    snprintf(topic, sizeof(topic), "q/1/d/%s/%s", c->d->id,
             c->type != NULL ? c->type : qtd_sim_down_topic_type(cmd));
    cJSON_AddStringToObject(c->reply, "topic", topic);
    return 0;
}

/* Send cmd with the payload the message gives (ctl_payload) to c->d. */
static int ctl_send_payload(sim_t *s, ctl_t *c, uint16_t cmd)
{
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc = ctl_payload(c, qtd_sim_cmd_kind(cmd), &payload, &len);

    if (rc == 0) {
        rc = ctl_send_frame(s, c, cmd, payload, len);
    }
    free(payload);
    return rc;
}

/* The commands that send one command with the message's payload. */
static int ctl_downlink(sim_t *s, ctl_t *c, uint16_t cmd)
{
    int rc = ctl_target(s, c);

    return rc != 0 ? rc : ctl_send_payload(s, c, cmd);
}

/* ---- the control commands */

static int ctl_exce(sim_t *s, ctl_t *c)
{
    int errcode = sim_int_member(c->m, "errcode", 0);
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    if (errcode <= 0) {
        return ctl_fail(c, "\"exce\" needs \"errcode\"");
    }
    rc = sim_exce_payload(c->d, errcode, &payload, &len);
    if (rc == 0) {
        rc = ctl_send_frame(s, c, QTD_CMD_EXCE_WRITE, payload, len);
    }
    free(payload);
    return rc;
}

/* OTA_NOTIFY with "data" now, OTA_FW_INFO with "fw" when the device confirms. */
static int ctl_ota(sim_t *s, ctl_t *c)
{
    const cJSON *fw = cJSON_GetObjectItemCaseSensitive(c->m, "fw");
    uint8_t *info = NULL;
    size_t info_len = 0;
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    if (!cJSON_IsObject(fw) || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(c->m, "data"))) {
        return ctl_fail(c, "\"ota\" needs \"data\" (OTA_NOTIFY) and \"fw\" (OTA_FW_INFO)");
    }
    rc = qtd_sim_json_to_ttlv(c->doc, fw, &info, &info_len, c->err, sizeof(c->err));
    if (rc == 0) {
        rc = ctl_send_payload(s, c, QTD_CMD_OTA_NOTIFY);
    }
    if (rc == 0) {
        sim_ota_start(s, c->d, info, info_len);
        info = NULL;
    }
    free(info);
    return rc;
}

static int ctl_send(sim_t *s, ctl_t *c)
{
    const cJSON *cj = cJSON_GetObjectItemCaseSensitive(c->m, "code");
    int code;
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    code = cJSON_IsString(cj)   ? qtd_sim_cmd_parse(cj->valuestring)
           : cJSON_IsNumber(cj) ? cj->valueint
                                : -1;
    if (code < 0 || code > 0xFFFF) {
        return ctl_fail(c, "\"send\" needs \"code\" (a command name or number)");
    }
    return ctl_send_payload(s, c, (uint16_t)code);
}

static int ctl_raw(sim_t *s, ctl_t *c)
{
    const char *hex = sim_str_member(c->m, "hex");
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    if (hex == NULL || qtd_sim_hex_decode(hex, &payload, &len) != 0) {
        return ctl_fail(c, "\"raw\" needs \"hex\" bytes");
    }
    rc = sim_send_bytes(s, c->d, c->type != NULL ? c->type : "bus", c->qos, payload, len, c->plain);
    free(payload);
    return rc == MQTTCLIENT_SUCCESS ? 0 : ctl_fail(c, "not connected to the broker");
}

/* The registry entry of c->d; add: create it in its product when missing. */
static qtd_reg_device_t *ctl_reg_device(sim_t *s, ctl_t *c, bool add)
{
    qtd_reg_product_t *p;
    qtd_reg_device_t *rd;

    sim_refresh_registry(s);
    p = qtd_registry_product(s->reg, c->d->pk);
    rd = p != NULL ? qtd_registry_device(p, c->d->dk) : NULL;
    if (rd == NULL && p != NULL && add) {
        rd = qtd_registry_device_add(p, c->d->dk);
    }
    if (rd == NULL) {
        ctl_fail(c, "%s is not in the registry", c->d->id);
    }
    return rd;
}

/* Save a registry change, then disconnect c->d at the broker if kick ("kick" in the message
 * decides when present). */
static int ctl_reg_save(sim_t *s, ctl_t *c, bool kick)
{
    const cJSON *kj = cJSON_GetObjectItemCaseSensitive(c->m, "kick");
    int rc;

    if (kj != NULL) {
        kick = cJSON_IsTrue(kj);
    }
    rc = qtd_registry_save(s->reg);
    if (rc != 0) {
        return ctl_fail(c, "cannot save the registry: %s", strerror(-rc));
    }
    if (kick &&
        sim_publish(s, SIM_TOPIC_KICK, c->d->id, strlen(c->d->id), 1) != MQTTCLIENT_SUCCESS) {
        return ctl_fail(c, "registry saved but cannot ask the broker to disconnect %s", c->d->id);
    }
    return 0;
}

static int ctl_disable(sim_t *s, ctl_t *c)
{
    const cJSON *dis = cJSON_GetObjectItemCaseSensitive(c->m, "disabled");
    qtd_reg_device_t *rd;
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    rd = ctl_reg_device(s, c, true);
    if (rd == NULL) {
        return -EINVAL;
    }
    rd->disabled = dis == NULL || cJSON_IsTrue(dis);
    return ctl_reg_save(s, c, rd->disabled);
}

static int ctl_refuse_connect(sim_t *s, ctl_t *c)
{
    int code = sim_int_member(c->m, "errcode", -1);
    qtd_reg_device_t *rd;
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    rd = ctl_reg_device(s, c, true);
    if (rd == NULL) {
        return -EINVAL;
    }
    if (code < 0 || code > 65535) {
        return ctl_fail(c, "\"refuse_connect\" needs \"errcode\" (0: accept again)");
    }
    rd->connect_errcode = code;
    return ctl_reg_save(s, c, false);
}

static int ctl_reauth(sim_t *s, ctl_t *c)
{
    qtd_reg_device_t *rd;
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    rd = ctl_reg_device(s, c, false);
    if (rd == NULL) {
        return -EINVAL;
    }
    rd->ds[0] = '\0';
    return ctl_reg_save(s, c, false);
}

static int ctl_kick(sim_t *s, ctl_t *c)
{
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    rc = sim_publish(s, SIM_TOPIC_KICK, c->d->id, strlen(c->d->id), 1);
    return rc == MQTTCLIENT_SUCCESS ? 0 : ctl_fail(c, "not connected to the broker");
}

static int ctl_sub_offline(sim_t *s, ctl_t *c)
{
    int rc = ctl_target(s, c);

    if (rc != 0) {
        return rc;
    }
    return sim_gateway_drop(s, c->d) == 0 ? 0 : ctl_fail(c, "the sub-device is not logged in");
}

static cJSON *stats_json(const sim_t *s)
{
    cJSON *devs = cJSON_CreateObject();

    for (size_t i = 0; devs != NULL && i < s->ndevices; i++) {
        const sim_device_t *d = s->devices[i];
        cJSON *o = cJSON_AddObjectToObject(devs, d->id);
        cJSON *up = o != NULL ? cJSON_CreateObject() : NULL;
        cJSON *down = o != NULL ? cJSON_CreateObject() : NULL;
        const sim_counters_t *cs[2] = {&d->up, &d->down};
        cJSON *dst[2] = {up, down};

        if (up == NULL || down == NULL) {
            cJSON_Delete(up);
            cJSON_Delete(down);
            cJSON_Delete(devs);
            return NULL;
        }
        cJSON_AddStringToObject(o, "pk", d->pk);
        cJSON_AddStringToObject(o, "dk", d->dk);
        cJSON_AddBoolToObject(o, "online", d->online);
        cJSON_AddStringToObject(o, "session",
                                d->session == SIM_SESSION_NONE   ? "none"
                                : d->session == SIM_SESSION_SENT ? "sent"
                                                                 : "confirmed");
        for (int k = 0; k < 2; k++) {
            for (size_t j = 0; j < cs[k]->n; j++) {
                const char *name = qtd_sim_cmd_name(cs[k]->v[j].cmd);
                char hex[8];
                if (name == NULL) {
                    snprintf(hex, sizeof(hex), "0x%04X", cs[k]->v[j].cmd);
                    name = hex;
                }
                cJSON_AddNumberToObject(dst[k], name, (double)cs[k]->v[j].n);
            }
        }
        cJSON_AddItemToObject(o, "up", up);
        cJSON_AddItemToObject(o, "down", down);
        cJSON_AddNumberToObject(o, "up_errors", (double)d->up_errors);
        cJSON_AddNumberToObject(o, "down_errors", (double)d->down_errors);
        cJSON_AddNumberToObject(o, "up_plain", (double)d->up_plain);
    }
    return devs;
}

/* Commands that name no device. */
static int ctl_sub_auth_delay(sim_t *s, ctl_t *c)
{
    int ms = sim_int_member(c->m, "ms", -1);
    if (ms < 0 || ms > 600000) {
        return ctl_fail(c, "\"sub_auth_delay\" needs \"ms\": 0..600000");
    }
    s->sub_auth_delay_ms = ms;
    return 0;
}

static int ctl_stats(sim_t *s, ctl_t *c)
{
    cJSON *devs = stats_json(s);
    cJSON *line = sim_line_new();

    if (devs == NULL || line == NULL) {
        cJSON_Delete(devs);
        cJSON_Delete(line);
        return -ENOMEM;
    }
    cJSON_AddStringToObject(line, "event", "stats");
    cJSON_AddItemToObject(line, "devices", cJSON_Duplicate(devs, true));
    sim_log_line(s, line);
    cJSON_AddItemToObject(c->reply, "devices", devs);
    return 0;
}

/* ---- the table, --help, dispatch */

/* The control commands, in the order of --help. help is printed after {"cmd": "<name>": the
 * rest of the message, then what it sends or does. */
static const struct {
    const char *name;
    ctl_fn *fn; /* NULL: send command `downlink` with the message's payload */
    uint16_t downlink;
    const char *help;
} ctl_cmds[] = {
    {"tsl_write", NULL, QTD_CMD_TSL_WRITE,
     ", \"dk\": D, \"data\": {\"24\": true, \"25\": -100000,\n"
     "                \"26\": 2.5, \"27\": \"text\", \"28\": {\"hex\": \"00ff\"},\n"
     "                \"29\": {\"30\": false}, \"33\": [1, 2, 3]}}        TSL_WRITE 0x0013\n"
     "        (a number written without '.' or exponent is an integer, any other a float)"},
    {"tsl_read", NULL, QTD_CMD_TSL_REQ,
     ", \"dk\": D, \"ids\": [2, 3]}              TSL_REQ 0x0011"},
    {"pass_write", NULL, QTD_CMD_PASS_WRITE,
     ", \"dk\": D, \"hex\": H | \"text\": T}    PASS_WRITE 0x0023"},
    {"status_read", NULL, QTD_CMD_STATUS_REQ,
     ", \"dk\": D, \"ids\": [...]}           STATUS_REQ 0x0031"},
    {"info_read", NULL, QTD_CMD_INFO_REQ,
     ", \"dk\": D, \"ids\": [...]}             INFO_REQ 0x0041"},
    {"exce", ctl_exce, 0, ", \"dk\": D, \"errcode\": 10428}              EXCE_WRITE 0x00A3"},
    {"dev_config", NULL, QTD_CMD_DEV_CONFIG_WRITE,
     ", \"dk\": D, \"data\": {...}}         DEV_CONFIG_WRITE 0x00B4"},
    {"send", ctl_send, 0,
     ", \"dk\": D, \"code\": C, \"data\"|\"ids\"|\"hex\"|\"text\": ...}\n"
     "                                                       any command C (name or number)"},
    {"raw", ctl_raw, 0, ", \"dk\": D, \"hex\": H}       these bytes as they are (bad frames)"},
    {"ota", ctl_ota, 0,
     ", \"dk\": D, \"data\": {\"4\": \"FW\", \"6\": \"2.0\", \"7\": 0, ...},\n"
     "                \"fw\": {\"1\": URL, \"2\": size, \"3\": MD5, \"15\": CRC, ...}}\n"
     "                     an OTA task: OTA_NOTIFY 0x0111 now, OTA_FW_INFO 0x0113 when the\n"
     "                     device confirms it (OTA_EVENT status 2); log {\"event\": \"ota\"}"},
    {"disable", ctl_disable, 0,
     ", \"dk\": D, \"disabled\": true[, \"kick\": true]}\n"
     "                     registry update; a disabled device is disconnected unless kick false"},
    {"refuse_connect", ctl_refuse_connect, 0,
     ", \"dk\": D, \"errcode\": 10429[, \"kick\": true]}\n"
     "                     answer the device's connections with EXCE_WRITE errcode (0: stop)"},
    {"reauth", ctl_reauth, 0, ", \"dk\": D}    forget the device's secret (it may register again)"},
    {"kick", ctl_kick, 0, ", \"dk\": D}      disconnect the device at the broker"},
    {"sub_offline", ctl_sub_offline, 0,
     ", \"dk\": D}  a logged-in sub-device dropped: SUB_OFFLINE 10442 to its gateway"},
    {"sub_auth_delay", ctl_sub_auth_delay, 0,
     ", \"ms\": 7000}\n"
     "                     answer sub-devices' authentications this late (a busy platform; 0: at "
     "once)"},
    {"stats", ctl_stats, 0, "}               frames per command and device (log and reply)"},
};

/* The CONTROL MESSAGES section of --help: head, one entry per command, tail. */
static const char ctl_help_head[] =
    "CONTROL MESSAGES (JSON on qtd-sim/ctl)\n"
    "    The device is named by \"client\" (qd<PK><DK>) or \"dk\" (with \"pk\" when DKs repeat\n"
    "    across products). Optional everywhere: \"id\" (echoed in the reply), \"pkgid\" (else\n"
    "    the device's next one: 1..0xFFFE, wrapping to 1), \"qos\" (default 1) and\n"
    "    \"topic_type\" (sys/bus/ota; default by command).\n";

static const char ctl_help_tail[] =
    "    A downlink to a device with a session key is encrypted with it; \"plain\": true sends\n"
    "    it unencrypted all the same (to test the device's answer to what does not decrypt).\n"
    "    The reply on qtd-sim/reply: {\"id\", \"cmd\", \"ok\": true|false, \"error\", \"client\",\n"
    "    \"pkgid\", \"topic\", \"encrypted\" (flag-1 devices)} (\"devices\" for stats).\n";

void sim_ctl_help(FILE *fp)
{
    fputs(ctl_help_head, fp);
    for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
        fprintf(fp, "      {\"cmd\": \"%s\"%s\n", ctl_cmds[i].name, ctl_cmds[i].help);
    }
    fputs(ctl_help_tail, fp);
}

/* An unknown command fails after the checks of a command that names a device. */
static int ctl_unknown(sim_t *s, ctl_t *c)
{
    int rc = ctl_target(s, c);

    return rc != 0 ? rc : ctl_fail(c, "unknown cmd \"%s\"", c->cmd);
}

static int ctl_run(sim_t *s, ctl_t *c)
{
    for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
        if (strcmp(ctl_cmds[i].name, c->cmd) == 0) {
            return ctl_cmds[i].fn != NULL ? ctl_cmds[i].fn(s, c)
                                          : ctl_downlink(s, c, ctl_cmds[i].downlink);
        }
    }
    return ctl_unknown(s, c);
}

void sim_on_ctl(sim_t *s, const char *text)
{
    qtd_sim_doc_t doc;
    const cJSON *idj;
    ctl_t c;
    char *out;
    cJSON *line;
    int rc;

    memset(&c, 0, sizeof(c));
    c.reply = cJSON_CreateObject();
    if (c.reply == NULL) {
        return;
    }
    rc = qtd_sim_doc_parse(text, &doc);
    if (rc != 0) {
        rc = ctl_fail(&c, "the control message is not JSON");
    } else {
        c.doc = &doc;
        c.m = doc.root;
        idj = cJSON_GetObjectItemCaseSensitive(doc.root, "id");
        if (idj != NULL) {
            cJSON_AddItemToObject(c.reply, "id", cJSON_Duplicate(idj, true));
        }
        c.cmd = sim_str_member(doc.root, "cmd");
        if (c.cmd == NULL) {
            rc = ctl_fail(&c, "the control message has no \"cmd\"");
        } else {
            cJSON_AddStringToObject(c.reply, "cmd", c.cmd);
            rc = ctl_run(s, &c);
            if (rc == -ENOMEM) {
                ctl_fail(&c, "out of memory");
            }
        }
    }
    cJSON_AddBoolToObject(c.reply, "ok", rc == 0);
    if (rc != 0) {
        cJSON_AddStringToObject(c.reply, "error", c.err);
    }
    line = sim_line_new();
    if (line != NULL) {
        cJSON_AddStringToObject(line, "event", "ctl");
        cJSON_AddStringToObject(line, "cmd", c.cmd != NULL ? c.cmd : "");
        cJSON_AddBoolToObject(line, "ok", rc == 0);
        if (rc != 0) {
            cJSON_AddStringToObject(line, "error", c.err);
        }
        if (cJSON_GetObjectItemCaseSensitive(c.reply, "pkgid") != NULL) {
            cJSON_AddItemToObject(line, "pkgid",
                                  cJSON_Duplicate(cJSON_GetObjectItem(c.reply, "pkgid"), 1));
        }
    }
    sim_log_line(s, line);
    if (rc != 0) {
        sim_say(s, "ctl  %s refused: %s", c.cmd != NULL ? c.cmd : "?", c.err);
    }
    out = cJSON_PrintUnformatted(c.reply);
    if (out != NULL) {
        sim_publish(s, SIM_TOPIC_REPLY, out, strlen(out), 1);
    }
    free(out);
    cJSON_Delete(c.reply);
    qtd_sim_doc_free(&doc);
}
