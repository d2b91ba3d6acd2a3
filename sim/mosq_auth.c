/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qtd_mosq_auth.so: the simulated platform's broker authentication, a mosquitto plugin (plugin
 * API v5, mosquitto 2.0). It checks device passwords (docs/protocol.md "Identity and
 * passwords") against the product registry (registry.h), confines every device to its own
 * qd<PK><DK> topics, and tells the platform process (qthingd-sim) each device's verdict on the
 * internal topic qtd-sim/auth. It sends no platform frames itself: answering is the platform
 * process's job.
 *
 * Options (mosquitto.conf): plugin_opt_registry FILE, plugin_opt_sim_password SECRET,
 * plugin_opt_sim_username NAME (default qtd-sim). The client with that username and password
 * may do anything. A device (any other username, usually none or empty) is judged:
 * - login ("1;FLAG;RAND;SIGN") with an unknown device, no DS or a wrong SIGN: CONNACK 5;
 * - any other failure (unknown PK 10423, malformed 10420/10424, bad signature 10425, device
 *   disabled or DK refused 10431, registered device registering again 10422, bad flag 10433):
 *   or the device's "connect_errcode" of the registry (throttling 10428/10429, ...):
 *   the connection is accepted but may only subscribe to its q/1/d/<clientid>/ topics and
 *   never publish; the platform answers with EXCE_WRITE 0x00A3 after the subscription.
 * A gateway may also publish on q/2/d/<sub>/bus and subscribe to q/1/d/<sub>/+ of the
 * sub-devices whose product lists the gateway's PK in "gateways" (the association); the
 * platform process checks their logins.
 * The verdict {"client", "pk", "dk", "kind", "errcode", "flag"[, "new"]} is published on
 * qtd-sim/auth when the device's first subscription (or first allowed publish) passes; a
 * CONNACK refusal is published right away with "refused": true, a disconnect as
 * {"client", "kind": "disconnect"}. The platform process may ask for a device to be
 * disconnected by publishing its client id on qtd-sim/kick. Devices never see qtd-sim/#.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <openssl/crypto.h>

#include "cloud_auth.h"
#include "registry.h"

/* Not in mosquitto_broker.h of 2.0 (they live in libmosquitto's mosquitto.h); the values are
 * part of the broker's ABI. */
#ifndef MOSQ_ERR_SUCCESS
#define MOSQ_ERR_SUCCESS 0
#define MOSQ_ERR_NOMEM 1
#define MOSQ_ERR_INVAL 3
#define MOSQ_ERR_AUTH 11
#define MOSQ_ERR_UNKNOWN 13
#define MOSQ_ERR_ACL_DENIED 12
#endif
#ifndef MOSQ_LOG_INFO
#define MOSQ_LOG_INFO 0x01
#define MOSQ_LOG_NOTICE 0x02
#define MOSQ_LOG_WARNING 0x04
#define MOSQ_LOG_ERR 0x08
#endif

#define TOPIC_AUTH "qtd-sim/auth"
#define TOPIC_KICK "qtd-sim/kick"
#define CLIENTID_MAX 160

enum { KIND_UNKNOWN = -1, KIND_REGISTER = 0, KIND_LOGIN = 1 };

/* Seed error codes (table 4.1) and 10433 (bad session flag) the platform answers with. */
enum {
    CODE_REQUEST = 10420,
    CODE_REGISTERED = 10422,
    CODE_NO_PRODUCT = 10423,
    CODE_PAYLOAD = 10424,
    CODE_SIGNATURE = 10425,
    CODE_DS_WRONG = 10430,
    CODE_DK_REFUSED = 10431, /* 1/10431 DK invalid, 2/10431 device disabled */
    CODE_FLAG = 10433
};

typedef struct client_s client_t;
struct client_s {
    client_t *next;
    const struct mosquitto *key;
    bool sim;
    bool sim_ready; /* the platform client subscribed to the devices' uplinks */
    bool verdict_sent;
    int kind;
    int errcode;
    int flag;
    bool is_new;
    char id[CLIENTID_MAX + 1];
    char pk[QTD_REG_KEY_MAX + 1];
    char dk[QTD_REG_KEY_MAX + 1];
};

typedef struct kick_s kick_t;
struct kick_s {
    kick_t *next;
    char id[];
};

typedef struct {
    mosquitto_plugin_id_t *pid;
    char *registry_path;
    char *sim_username;
    char *sim_password;
    qtd_registry_t *reg;
    client_t **buckets;
    size_t nbuckets;
    size_t count;
    kick_t *kicks;
    int sims_ready; /* platform clients subscribed to q/2/d/+/+: devices wait for one */
} plugin_t;

/* ---- per-client state, keyed by the broker's client pointer */

static size_t slot(const plugin_t *pl, const struct mosquitto *key)
{
    uintptr_t h = (uintptr_t)key >> 4;
    h *= (uintptr_t)0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 7) & (pl->nbuckets - 1);
}

static client_t *find(const plugin_t *pl, const struct mosquitto *key)
{
    for (client_t *c = pl->buckets[slot(pl, key)]; c != NULL; c = c->next) {
        if (c->key == key) {
            return c;
        }
    }
    return NULL;
}

static void forget(plugin_t *pl, const struct mosquitto *key)
{
    client_t **pp = &pl->buckets[slot(pl, key)];

    while (*pp != NULL) {
        if ((*pp)->key == key) {
            client_t *c = *pp;
            *pp = c->next;
            if (c->sim_ready) {
                pl->sims_ready--;
            }
            free(c);
            pl->count--;
            return;
        }
        pp = &(*pp)->next;
    }
}

static void grow(plugin_t *pl)
{
    size_t n = pl->nbuckets * 2;
    client_t **b = calloc(n, sizeof(*b));

    if (b == NULL) {
        return; /* keep the old table: only slower */
    }
    client_t **old = pl->buckets;
    size_t oldn = pl->nbuckets;
    pl->buckets = b;
    pl->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        client_t *c = old[i];
        while (c != NULL) {
            client_t *next = c->next;
            size_t s = slot(pl, c->key);
            c->next = b[s];
            b[s] = c;
            c = next;
        }
    }
    free(old);
}

/* A new entry for key (replacing an old one), or NULL on out of memory. */
static client_t *remember(plugin_t *pl, const struct mosquitto *key, const char *id)
{
    client_t *c;
    size_t s;

    forget(pl, key);
    if (pl->count >= pl->nbuckets * 2) {
        grow(pl);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->key = key;
    c->kind = KIND_UNKNOWN;
    snprintf(c->id, sizeof(c->id), "%s", id != NULL ? id : "");
    s = slot(pl, key);
    c->next = pl->buckets[s];
    pl->buckets[s] = c;
    pl->count++;
    return c;
}

/* ---- verdicts */

static const char *kind_name(int kind)
{
    switch (kind) {
    case KIND_REGISTER:
        return "register";
    case KIND_LOGIN:
        return "login";
    default:
        return "unknown";
    }
}

/* Publish a verdict on qtd-sim/auth. refused: the CONNECT was refused (CONNACK 5). */
static void publish_verdict(const client_t *c, bool refused)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;

    if (o == NULL || cJSON_AddStringToObject(o, "client", c->id) == NULL ||
        cJSON_AddStringToObject(o, "pk", c->pk) == NULL ||
        cJSON_AddStringToObject(o, "dk", c->dk) == NULL ||
        cJSON_AddStringToObject(o, "kind", kind_name(c->kind)) == NULL ||
        cJSON_AddNumberToObject(o, "errcode", c->errcode) == NULL ||
        cJSON_AddNumberToObject(o, "flag", c->flag) == NULL) {
        goto fail;
    }
    if (c->kind == KIND_REGISTER && c->errcode == 0 &&
        cJSON_AddBoolToObject(o, "new", c->is_new) == NULL) {
        goto fail;
    }
    if (refused && cJSON_AddBoolToObject(o, "refused", true) == NULL) {
        goto fail;
    }
    text = cJSON_PrintUnformatted(o);
    if (text == NULL) {
        goto fail;
    }
    if (mosquitto_broker_publish_copy(NULL, TOPIC_AUTH, (int)strlen(text), text, 1, false, NULL) !=
        MOSQ_ERR_SUCCESS) {
        goto fail;
    }
    free(text);
    cJSON_Delete(o);
    return;
fail:
    mosquitto_log_printf(MOSQ_LOG_ERR, "qtd_mosq_auth: cannot publish the verdict of %s", c->id);
    free(text);
    cJSON_Delete(o);
}

static void send_verdict_once(client_t *c)
{
    if (!c->verdict_sent) {
        c->verdict_sent = true;
        publish_verdict(c, false);
    }
}

/* ---- authentication */

static bool id_chars_ok(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > CLIENTID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '_' || ch == '-')) {
            return false;
        }
    }
    return true;
}

static void refresh_registry(plugin_t *pl)
{
    const char *err = NULL;
    bool changed = false;
    int rc = qtd_registry_refresh(pl->reg, &changed, &err);

    if (rc != 0) {
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "qtd_mosq_auth: keeping the previous registry: %s: %s (%s)",
                             pl->registry_path, err != NULL ? err : "error", strerror(-rc));
    } else if (changed) {
        mosquitto_log_printf(MOSQ_LOG_INFO, "qtd_mosq_auth: registry %s re-read",
                             pl->registry_path);
    }
}

static int device_auth(plugin_t *pl, struct mosquitto *client, const char *id, const char *password)
{
    qtd_auth_parsed_t pw;
    qtd_reg_product_t *prod = NULL;
    qtd_reg_device_t *dev = NULL;
    const char *dk = NULL;
    client_t v;
    client_t *c;
    int prc;
    int lrc;

    memset(&v, 0, sizeof(v));
    snprintf(v.id, sizeof(v.id), "%s", id != NULL ? id : "");
    v.kind = KIND_UNKNOWN;
    if (id == NULL || !id_chars_ok(id) || strncmp(id, "qd", 2) != 0) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "qtd_mosq_auth: refused %s: the client id is not qd<PK><DK>",
                             id != NULL ? id : "(none)");
        return MOSQ_ERR_AUTH;
    }
    if (password == NULL || password[0] == '\0') {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "qtd_mosq_auth: refused %s: no password", id);
        return MOSQ_ERR_AUTH;
    }
    refresh_registry(pl);

    memset(&pw, 0, sizeof(pw));
    prc = qtd_auth_parse(password, &pw);
    v.kind = password[0] == '0' ? KIND_REGISTER : password[0] == '1' ? KIND_LOGIN : KIND_UNKNOWN;
    if (prc == 0) {
        v.kind = pw.kind == 0 ? KIND_REGISTER : KIND_LOGIN;
        v.flag = pw.flag;
    }
    lrc = qtd_registry_lookup(pl->reg, id, &prod, &dev, &dk);
    if (lrc == 0) {
        snprintf(v.pk, sizeof(v.pk), "%s", prod->pk);
        snprintf(v.dk, sizeof(v.dk), "%s", dk);
    } else if (prc == 0 && v.kind == KIND_REGISTER && pw.pk != NULL &&
               strncmp(id + 2, pw.pk, strlen(pw.pk)) == 0) {
        /* Unknown product: split the id with the PK the password names. */
        snprintf(v.pk, sizeof(v.pk), "%s", pw.pk);
        snprintf(v.dk, sizeof(v.dk), "%s", id + 2 + strlen(pw.pk));
    }

    if (prc == -ERANGE) {
        v.errcode = CODE_FLAG;
    } else if (prc != 0) {
        v.errcode = CODE_REQUEST;
    } else if (v.kind == KIND_REGISTER) {
        v.errcode = qtd_registry_judge_register(pl->reg, &pw, prod, dev, dk, &v.is_new);
    } else if (prod == NULL) {
        v.errcode = CODE_NO_PRODUCT;
    } else if (dev == NULL || dev->ds[0] == '\0' || !qtd_auth_login_ok(&pw, dev->ds, prod->ps)) {
        /* The device's DS is wrong or unknown: CONNACK 5, the device registers again. */
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "qtd_mosq_auth: refused %s: %s", id,
                             dev == NULL          ? "unknown device"
                             : dev->ds[0] == '\0' ? "the device has no secret yet"
                                                  : "wrong login signature");
        v.errcode = CODE_DS_WRONG;
        publish_verdict(&v, true);
        return MOSQ_ERR_AUTH;
    } else if (dev->disabled) {
        v.errcode = CODE_DK_REFUSED;
    } else if (dev->connect_errcode != 0) {
        v.errcode = dev->connect_errcode; /* e.g. throttling 10428/10429, set by the platform */
    }

    c = remember(pl, client, id);
    if (c == NULL) {
        return MOSQ_ERR_NOMEM;
    }
    v.next = c->next;
    v.key = c->key;
    *c = v;
    if (v.errcode == 0) {
        mosquitto_log_printf(MOSQ_LOG_INFO, "qtd_mosq_auth: %s %s: accepted", kind_name(v.kind),
                             id);
    } else {
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "qtd_mosq_auth: %s %s: failed with errcode %d (connection kept "
                             "for the platform's answer)",
                             kind_name(v.kind), id, v.errcode);
    }
    return MOSQ_ERR_SUCCESS;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ed = event_data;
    plugin_t *pl = userdata;
    const char *id = mosquitto_client_id(ed->client);

    (void)event;
    forget(pl, ed->client);
    if (ed->username != NULL && strcmp(ed->username, pl->sim_username) == 0) {
        size_t n = strlen(pl->sim_password);
        if (ed->password == NULL || strlen(ed->password) != n ||
            CRYPTO_memcmp(ed->password, pl->sim_password, n) != 0) {
            mosquitto_log_printf(MOSQ_LOG_WARNING,
                                 "qtd_mosq_auth: refused %s: wrong platform password",
                                 id != NULL ? id : "(none)");
            return MOSQ_ERR_AUTH;
        }
        client_t *c = remember(pl, ed->client, id);
        if (c == NULL) {
            return MOSQ_ERR_NOMEM;
        }
        c->sim = true;
        return MOSQ_ERR_SUCCESS;
    }
    if (pl->sims_ready == 0) {
        /* Like the real platform with its backend down: no device gets in before the
         * platform can hear it, or its first uplinks would be acknowledged and lost. */
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "qtd_mosq_auth: %s refused: the platform is not "
                             "connected yet",
                             id != NULL ? id : "(none)");
        return MOSQ_ERR_UNKNOWN;
    }
    return device_auth(pl, ed->client, id, ed->password);
}

/* ---- access control */

/* Does topic start with "q/<dir>/d/<id>/" ? Returns the rest or NULL. */
static const char *own_rest(const char *topic, char dir, const char *id)
{
    size_t n = strlen(id);

    if (strncmp(topic, "q/", 2) != 0 || topic[2] != dir || strncmp(topic + 3, "/d/", 3) != 0 ||
        strncmp(topic + 6, id, n) != 0 || topic[6 + n] != '/') {
        return NULL;
    }
    return topic + 7 + n;
}

/* "+" or one level without wildcards. */
static bool one_level(const char *rest, bool wildcard_ok)
{
    if (rest == NULL || rest[0] == '\0') {
        return false;
    }
    if (strcmp(rest, "+") == 0) {
        return wildcard_ok;
    }
    return strpbrk(rest, "/+#") == NULL;
}

static bool uplink_type(const char *rest)
{
    return rest != NULL &&
           (strcmp(rest, "sys") == 0 || strcmp(rest, "bus") == 0 || strcmp(rest, "ota") == 0);
}

/* Does topic name q/<dir>/d/<id>/ of a sub-device that the client's product may bring on
 * (its product lists the client's PK in "gateways")? Returns the rest or NULL. */
static const char *sub_rest(plugin_t *pl, const client_t *c, const char *topic, char dir)
{
    char id[CLIENTID_MAX + 1];
    qtd_reg_product_t *prod = NULL;
    qtd_reg_device_t *dev = NULL;
    const char *dk = NULL;

    if (strncmp(topic, "q/", 2) != 0 || topic[2] != dir || strncmp(topic + 3, "/d/", 3) != 0) {
        return NULL;
    }
    const char *start = topic + 6;
    const char *slash = strchr(start, '/');
    if (slash == NULL || (size_t)(slash - start) > CLIENTID_MAX || c->pk[0] == '\0') {
        return NULL;
    }
    memcpy(id, start, (size_t)(slash - start));
    id[slash - start] = '\0';
    refresh_registry(pl);
    if (strcmp(id, c->id) == 0 || qtd_registry_lookup(pl->reg, id, &prod, &dev, &dk) != 0 ||
        !qtd_registry_associated(prod, c->pk)) {
        return NULL;
    }
    return slash + 1;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = event_data;
    plugin_t *pl = userdata;
    client_t *c = find(pl, ed->client);
    const char *topic = ed->topic != NULL ? ed->topic : "";
    bool ok = false;

    (void)event;
    if (c == NULL) {
        /* An offline client: only the platform's persistent session receives messages
         * then (queued for it until it is back); devices' sessions are clean. */
        const char *user = mosquitto_client_username(ed->client);
        bool platform = user != NULL && strcmp(user, pl->sim_username) == 0;
        return platform && ed->access == MOSQ_ACL_READ ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
    }
    if (c->sim) {
        if (ed->access == MOSQ_ACL_SUBSCRIBE && strcmp(topic, "q/2/d/+/+") == 0 && !c->sim_ready) {
            c->sim_ready = true;
            pl->sims_ready++;
        }
        return MOSQ_ERR_SUCCESS;
    }
    switch (ed->access) {
    case MOSQ_ACL_SUBSCRIBE:
        ok = one_level(own_rest(topic, '1', c->id), true);
        if (ok) {
            send_verdict_once(c);
        } else {
            ok = c->errcode == 0 && one_level(sub_rest(pl, c, topic, '1'), true);
        }
        break;
    case MOSQ_ACL_UNSUBSCRIBE:
        ok = one_level(own_rest(topic, '1', c->id), true) ||
             one_level(sub_rest(pl, c, topic, '1'), true);
        break;
    case MOSQ_ACL_READ:
        ok = one_level(own_rest(topic, '1', c->id), false) ||
             (c->errcode == 0 && one_level(sub_rest(pl, c, topic, '1'), false));
        break;
    case MOSQ_ACL_WRITE:
        ok = c->errcode == 0 && uplink_type(own_rest(topic, '2', c->id));
        if (ok) {
            send_verdict_once(c);
        } else {
            const char *rest = sub_rest(pl, c, topic, '2');
            ok = c->errcode == 0 && rest != NULL && strcmp(rest, "bus") == 0;
        }
        break;
    default:
        break;
    }
    if (!ok && ed->access != MOSQ_ACL_READ) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "qtd_mosq_auth: denied %s %s to %s",
                             ed->access == MOSQ_ACL_WRITE ? "publish" : "subscribe", topic, c->id);
    }
    return ok ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
}

/* ---- messages from the platform process, disconnects, ticks */

static int on_message(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_message *ed = event_data;
    plugin_t *pl = userdata;
    const client_t *c = find(pl, ed->client);
    kick_t *k;

    (void)event;
    if (c == NULL || !c->sim || ed->topic == NULL || strcmp(ed->topic, TOPIC_KICK) != 0 ||
        ed->payloadlen == 0 || ed->payloadlen > CLIENTID_MAX) {
        return MOSQ_ERR_SUCCESS;
    }
    /* Kicked on the next tick, not inside the publish being handled. */
    k = malloc(sizeof(*k) + ed->payloadlen + 1);
    if (k == NULL) {
        return MOSQ_ERR_SUCCESS;
    }
    memcpy(k->id, ed->payload, ed->payloadlen);
    k->id[ed->payloadlen] = '\0';
    k->next = pl->kicks;
    pl->kicks = k;
    return MOSQ_ERR_SUCCESS;
}

static int on_tick(int event, void *event_data, void *userdata)
{
    plugin_t *pl = userdata;
    kick_t *k = pl->kicks;

    (void)event;
    (void)event_data;
    pl->kicks = NULL;
    while (k != NULL) {
        kick_t *next = k->next;
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "qtd_mosq_auth: disconnecting %s (platform)", k->id);
        mosquitto_kick_client_by_clientid(k->id, false);
        free(k);
        k = next;
    }
    return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_disconnect *ed = event_data;
    plugin_t *pl = userdata;
    client_t *c = find(pl, ed->client);

    (void)event;
    if (c != NULL && !c->sim) {
        char *text = NULL;
        cJSON *o = cJSON_CreateObject();
        if (o != NULL && cJSON_AddStringToObject(o, "client", c->id) != NULL &&
            cJSON_AddStringToObject(o, "pk", c->pk) != NULL &&
            cJSON_AddStringToObject(o, "dk", c->dk) != NULL &&
            cJSON_AddStringToObject(o, "kind", "disconnect") != NULL) {
            text = cJSON_PrintUnformatted(o);
        }
        if (text != NULL) {
            mosquitto_broker_publish_copy(NULL, TOPIC_AUTH, (int)strlen(text), text, 1, false,
                                          NULL);
        }
        free(text);
        cJSON_Delete(o);
    }
    forget(pl, ed->client);
    return MOSQ_ERR_SUCCESS;
}

/* ---- plugin entry points */

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++) {
        if (supported_versions[i] == 5) {
            return 5;
        }
    }
    return -1;
}

static void plugin_free(plugin_t *pl)
{
    if (pl == NULL) {
        return;
    }
    for (size_t i = 0; pl->buckets != NULL && i < pl->nbuckets; i++) {
        client_t *c = pl->buckets[i];
        while (c != NULL) {
            client_t *next = c->next;
            free(c);
            c = next;
        }
    }
    while (pl->kicks != NULL) {
        kick_t *k = pl->kicks;
        pl->kicks = k->next;
        free(k);
    }
    free(pl->buckets);
    qtd_registry_free(pl->reg);
    free(pl->registry_path);
    free(pl->sim_username);
    free(pl->sim_password);
    free(pl);
}

static const struct {
    int event;
    MOSQ_FUNC_generic_callback cb;
} callbacks[] = {
    {MOSQ_EVT_BASIC_AUTH, on_basic_auth}, {MOSQ_EVT_ACL_CHECK, on_acl_check},
    {MOSQ_EVT_MESSAGE, on_message},       {MOSQ_EVT_TICK, on_tick},
    {MOSQ_EVT_DISCONNECT, on_disconnect},
};
#define NCALLBACKS (sizeof(callbacks) / sizeof(callbacks[0]))

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *options, int option_count)
{
    plugin_t *pl = calloc(1, sizeof(*pl));
    const char *err = NULL;
    size_t registered = 0;
    int rc;

    if (pl == NULL) {
        return MOSQ_ERR_NOMEM;
    }
    pl->pid = identifier;
    for (int i = 0; i < option_count; i++) {
        char **dst = NULL;
        if (strcmp(options[i].key, "registry") == 0) {
            dst = &pl->registry_path;
        } else if (strcmp(options[i].key, "sim_password") == 0) {
            dst = &pl->sim_password;
        } else if (strcmp(options[i].key, "sim_username") == 0) {
            dst = &pl->sim_username;
        } else {
            mosquitto_log_printf(MOSQ_LOG_WARNING, "qtd_mosq_auth: unknown option plugin_opt_%s",
                                 options[i].key);
            continue;
        }
        free(*dst);
        *dst = strdup(options[i].value != NULL ? options[i].value : "");
        if (*dst == NULL) {
            rc = MOSQ_ERR_NOMEM;
            goto fail;
        }
    }
    if (pl->sim_username == NULL && (pl->sim_username = strdup("qtd-sim")) == NULL) {
        rc = MOSQ_ERR_NOMEM;
        goto fail;
    }
    if (pl->registry_path == NULL || pl->sim_password == NULL || pl->sim_password[0] == '\0') {
        mosquitto_log_printf(MOSQ_LOG_ERR, "qtd_mosq_auth: plugin_opt_registry and "
                                           "plugin_opt_sim_password are required");
        rc = MOSQ_ERR_INVAL;
        goto fail;
    }
    rc = qtd_registry_load(pl->registry_path, &pl->reg, &err);
    if (rc != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "qtd_mosq_auth: %s: %s (%s)", pl->registry_path,
                             err != NULL ? err : "error", strerror(-rc));
        rc = MOSQ_ERR_INVAL;
        goto fail;
    }
    pl->nbuckets = 256;
    pl->buckets = calloc(pl->nbuckets, sizeof(*pl->buckets));
    if (pl->buckets == NULL) {
        rc = MOSQ_ERR_NOMEM;
        goto fail;
    }
    for (; registered < NCALLBACKS; registered++) {
        rc = mosquitto_callback_register(identifier, callbacks[registered].event,
                                         callbacks[registered].cb, NULL, pl);
        if (rc != MOSQ_ERR_SUCCESS) {
            goto fail;
        }
    }
    mosquitto_log_printf(MOSQ_LOG_INFO, "qtd_mosq_auth: %zu products from %s", pl->reg->nproducts,
                         pl->registry_path);
    *userdata = pl;
    return MOSQ_ERR_SUCCESS;
fail:
    while (registered > 0) {
        registered--;
        mosquitto_callback_unregister(identifier, callbacks[registered].event,
                                      callbacks[registered].cb, NULL);
    }
    plugin_free(pl);
    return rc;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    plugin_t *pl = userdata;

    (void)options;
    (void)option_count;
    if (pl == NULL) {
        return MOSQ_ERR_SUCCESS;
    }
    for (size_t i = 0; i < NCALLBACKS; i++) {
        mosquitto_callback_unregister(pl->pid, callbacks[i].event, callbacks[i].cb, NULL);
    }
    plugin_free(pl);
    return MOSQ_ERR_SUCCESS;
}
