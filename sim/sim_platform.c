/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `qthingd-sim run`, the platform process: its state, the connection to the broker (a
 * mosquitto that loads qtd_mosq_auth.so), the single loop that polls Paho MQTT C's
 * synchronous client (one thread, no callbacks) and hands each message to its area, the
 * devices seen so far, and the output: the JSON-lines log and the readable lines on stderr.
 * Not here: what is done with a message, which belongs to its area's file: verdicts,
 * registration and session keys (sim_session.c), uplinks (sim_uplink.c), downlinks
 * (sim_downlink.c), control commands (sim_ctl.c); a new area (OTA, gateway) gets a file of
 * its own. Nor the codec (plugins/cloud) or the broker's checks (mosq_auth.c).
 */
#include "sim.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <MQTTClient.h>
#include <cJSON.h>
#include <openssl/crypto.h>

#include "registry.h"
#include "sim_json.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ---- output */

cJSON *sim_line_new(void)
{
    cJSON *o = cJSON_CreateObject();

    if (o != NULL && cJSON_AddNumberToObject(o, "ts", (double)now_ms()) == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Write a log line (takes ownership of o). */
void sim_log_line(sim_t *s, cJSON *o)
{
    char *text;

    if (o == NULL) {
        fprintf(stderr, "qthingd-sim: out of memory writing a log line\n");
        return;
    }
    text = cJSON_PrintUnformatted(o);
    if (text != NULL) {
        fprintf(s->log, "%s\n", text);
        fflush(s->log);
    }
    free(text);
    cJSON_Delete(o);
}

void sim_device_state(sim_t *s, const sim_device_t *d, const char *event, const char *state)
{
    cJSON *o = sim_line_new();

    if (o != NULL) {
        cJSON_AddStringToObject(o, "event", event);
        cJSON_AddStringToObject(o, "client", d->id);
        cJSON_AddStringToObject(o, "pk", d->pk);
        cJSON_AddStringToObject(o, "dk", d->dk);
        cJSON_AddStringToObject(o, "state", state);
    }
    sim_log_line(s, o);
}

void sim_say(const sim_t *s, const char *fmt, ...)
{
    va_list ap;
    struct timespec ts;
    struct tm tm;

    if (s != NULL && s->quiet) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld qthingd-sim: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void sim_log_event(sim_t *s, const char *event, const char *fmt, ...)
{
    cJSON *o = sim_line_new();
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (o != NULL) {
        cJSON_AddStringToObject(o, "event", event);
        cJSON_AddStringToObject(o, "message", msg);
    }
    sim_log_line(s, o);
    sim_say(s, "%s: %s", event, msg);
}

cJSON *sim_frame_line(const char *dir, const sim_device_t *d, const char *topic, int qos,
                      const uint8_t *buf, size_t n, int *malformed)
{
    cJSON *o = sim_line_new();
    int rc;

    if (o == NULL || cJSON_AddStringToObject(o, "dir", dir) == NULL ||
        cJSON_AddStringToObject(o, "client", d->id) == NULL ||
        cJSON_AddStringToObject(o, "pk", d->pk) == NULL ||
        cJSON_AddStringToObject(o, "dk", d->dk) == NULL ||
        cJSON_AddStringToObject(o, "topic", topic) == NULL ||
        cJSON_AddNumberToObject(o, "qos", qos) == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    rc = qtd_sim_frame_to_json(buf, n, o);
    if (rc < 0) {
        cJSON_Delete(o);
        return NULL;
    }
    *malformed = rc;
    return o;
}

void sim_say_frame(const sim_t *s, const char *dir, const sim_device_t *d, cJSON *line)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(line, "cmd_name");
    const cJSON *pkgid = cJSON_GetObjectItemCaseSensitive(line, "pkgid");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(line, "error");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(line, "data");
    char *text = NULL;

    if (s->quiet) {
        return;
    }
    if (data != NULL) {
        text = cJSON_PrintUnformatted(data);
    }
    sim_say(s, "%-4s %s %s pkgid %d %s%s", dir, d->id,
            cJSON_IsString(name) ? name->valuestring : "?",
            cJSON_IsNumber(pkgid) ? pkgid->valueint : 0, cJSON_IsString(err) ? "ERROR " : "",
            cJSON_IsString(err) ? err->valuestring : (text != NULL ? text : ""));
    free(text);
}

/* ---- devices */

void sim_count(sim_counters_t *c, uint16_t cmd)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i].cmd == cmd) {
            c->v[i].n++;
            return;
        }
    }
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 8;
        sim_counter_t *nv = realloc(c->v, nc * sizeof(*nv));
        if (nv == NULL) {
            return;
        }
        c->v = nv;
        c->cap = nc;
    }
    c->v[c->n].cmd = cmd;
    c->v[c->n++].n = 1;
}

void sim_refresh_registry(sim_t *s)
{
    const char *err = NULL;
    bool changed = false;
    int rc = qtd_registry_refresh(s->reg, &changed, &err);

    if (rc != 0) {
        sim_log_event(s, "error", "keeping the previous registry: %s: %s", s->registry_path,
                      err != NULL ? err : strerror(-rc));
    }
}

sim_device_t *sim_device_find(const sim_t *s, const char *id)
{
    for (size_t i = 0; i < s->ndevices; i++) {
        if (strcmp(s->devices[i]->id, id) == 0) {
            return s->devices[i];
        }
    }
    return NULL;
}

/* The device of a client id, created (PK and DK from the registry) when first seen. */
sim_device_t *sim_device_get(sim_t *s, const char *id, const char *pk, const char *dk)
{
    sim_device_t *d = sim_device_find(s, id);

    if (d != NULL) {
        if (d->pk[0] == '\0' && pk != NULL && pk[0] != '\0') {
            snprintf(d->pk, sizeof(d->pk), "%s", pk);
            snprintf(d->dk, sizeof(d->dk), "%s", dk != NULL ? dk : "");
        }
        return d;
    }
    if (strlen(id) > SIM_CLIENTID_MAX) {
        return NULL;
    }
    if (s->ndevices == s->devcap) {
        size_t nc = s->devcap ? s->devcap * 2 : 16;
        sim_device_t **nd = realloc(s->devices, nc * sizeof(*nd));
        if (nd == NULL) {
            return NULL;
        }
        s->devices = nd;
        s->devcap = nc;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return NULL;
    }
    strcpy(d->id, id);
    if (pk != NULL && pk[0] != '\0') {
        snprintf(d->pk, sizeof(d->pk), "%s", pk);
        snprintf(d->dk, sizeof(d->dk), "%s", dk != NULL ? dk : "");
    } else {
        qtd_reg_product_t *p;
        qtd_reg_device_t *rd;
        const char *rdk;
        sim_refresh_registry(s);
        if (qtd_registry_lookup(s->reg, id, &p, &rd, &rdk) == 0) {
            snprintf(d->pk, sizeof(d->pk), "%s", p->pk);
            snprintf(d->dk, sizeof(d->dk), "%s", rdk);
        }
    }
    s->devices[s->ndevices++] = d;
    return d;
}

static void device_free(sim_device_t *d)
{
    if (d != NULL) {
        OPENSSL_cleanse(d->key, sizeof(d->key));
        sim_ota_forget(d);
        free(d->up.v);
        free(d->down.v);
        free(d);
    }
}

/* ---- MQTT */

static int mqtt_connect(sim_t *s)
{
    MQTTClient_connectOptions opts = MQTTClient_connectOptions_initializer;
    char *topics[] = {SIM_TOPIC_AUTH, SIM_TOPIC_CTL, SIM_TOPIC_UPLINKS};
    int qos[] = {1, 1, 2};
    int rc;

    opts.keepAliveInterval = 20;
    /* A platform keeps its session: what the broker acknowledged to devices while this
     * process restarted is delivered when it is back (the client id is stable for that). */
    opts.cleansession = 0;
    opts.connectTimeout = 5;
    opts.username = SIM_USERNAME;
    opts.password = s->password;
    opts.MQTTVersion = MQTTVERSION_3_1_1;
    rc = MQTTClient_connect(s->cl, &opts);
    if (rc != MQTTCLIENT_SUCCESS) {
        return rc;
    }
    rc = MQTTClient_subscribeMany(s->cl, 3, topics, qos);
    if (rc != MQTTCLIENT_SUCCESS || qos[0] != 1 || qos[1] != 1 || qos[2] != 2) {
        MQTTClient_disconnect(s->cl, 100);
        return rc != MQTTCLIENT_SUCCESS ? rc : MQTTCLIENT_FAILURE;
    }
    s->connected = true;
    return 0;
}

int sim_publish(sim_t *s, const char *topic, const void *payload, size_t len, int qos)
{
    MQTTClient_deliveryToken tok;

    if (!s->connected) {
        return MQTTCLIENT_DISCONNECTED;
    }
    return MQTTClient_publish(s->cl, topic, (int)len, payload, qos, 0, &tok);
}

/* ---- messages */

const char *sim_str_member(const cJSON *o, const char *name)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(it) ? it->valuestring : NULL;
}

int sim_int_member(const cJSON *o, const char *name, int dflt)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsNumber(it) ? it->valueint : dflt;
}

static void on_message(sim_t *s, const char *topic, MQTTClient_message *msg)
{
    size_t n = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;

    if (strcmp(topic, SIM_TOPIC_AUTH) == 0 || strcmp(topic, SIM_TOPIC_CTL) == 0) {
        char *text = malloc(n + 1);
        if (text == NULL) {
            return;
        }
        memcpy(text, msg->payload, n);
        text[n] = '\0';
        if (strcmp(topic, SIM_TOPIC_AUTH) == 0) {
            sim_on_verdict(s, text);
        } else {
            sim_on_ctl(s, text);
        }
        free(text);
    } else if (strncmp(topic, "q/2/d/", 6) == 0) {
        sim_on_uplink(s, topic, msg->payload, n, msg->qos);
    }
}

/* ---- run */

static void platform_free(sim_t *s)
{
    sim_pending_clear(s);
    for (size_t i = 0; i < s->ndevices; i++) {
        device_free(s->devices[i]);
    }
    free(s->devices);
    qtd_registry_free(s->reg);
    if (s->log != NULL) {
        fclose(s->log);
    }
    if (s->cl != NULL) {
        MQTTClient_destroy(&s->cl);
    }
}

static int platform_loop(sim_t *s)
{
    int backoff = 200;

    while (!stop_flag) {
        char *topic = NULL;
        int topic_len = 0;
        MQTTClient_message *msg = NULL;
        int rc;

        if (!s->connected) {
            rc = mqtt_connect(s);
            if (rc != 0) {
                sleep_ms(backoff);
                backoff = backoff < 2000 ? backoff * 2 : 2000;
                continue;
            }
            backoff = 200;
            sim_log_event(s, "connected", "connected to %s", s->broker);
        }
        rc = MQTTClient_receive(s->cl, &topic, &topic_len, &msg,
                                (unsigned long)sim_pending_wait(s, 100));
        if (msg != NULL) {
            on_message(s, topic, msg);
            MQTTClient_freeMessage(&msg);
            MQTTClient_free(topic);
        } else if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) {
            s->connected = false;
            sim_log_event(s, "disconnected", "lost the broker (%s); reconnecting",
                          MQTTClient_strerror(rc));
            continue;
        }
        sim_run_pending(s);
    }
    return 0;
}

int sim_cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},
        {"password", required_argument, NULL, 'p'},
        {"registry", required_argument, NULL, 'r'},
        {"log", required_argument, NULL, 'l'},
        {"reg-delay-ms", required_argument, NULL, 'd'},
        {"client-id", required_argument, NULL, 'c'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    sim_t s;
    struct sigaction sa;
    const char *err = NULL;
    char *uri = NULL;
    int64_t deadline;
    long v;
    int opt;
    int rc;

    memset(&s, 0, sizeof(s));
    s.reg_delay_ms = 100;
    s.password = getenv("QTD_SIM_PASSWORD");
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            s.broker = optarg;
            break;
        case 'p':
            s.password = optarg;
            break;
        case 'r':
            s.registry_path = optarg;
            break;
        case 'l':
            s.log_path = optarg;
            break;
        case 'd':
            if (!sim_parse_int(optarg, 0, 60000, &v)) {
                return sim_usage_error("--reg-delay-ms: expected 0..60000, got \"%s\"", optarg);
            }
            s.reg_delay_ms = (int)v;
            break;
        case 'c':
            s.client_id = optarg;
            break;
        case 'q':
            s.quiet = true;
            break;
        default:
            return sim_usage_error("run: unknown option");
        }
    }
    if (optind != argc) {
        return sim_usage_error("run: unexpected argument \"%s\"", argv[optind]);
    }
    if (s.broker == NULL || s.password == NULL || s.registry_path == NULL || s.log_path == NULL) {
        return sim_usage_error("run needs --broker, --password, --registry and --log");
    }
    rc = qtd_registry_load(s.registry_path, &s.reg, &err);
    if (rc != 0) {
        fprintf(stderr, "qthingd-sim: %s: %s\n", s.registry_path,
                err != NULL ? err : strerror(-rc));
        return 1;
    }
    s.log = fopen(s.log_path, "a");
    if (s.log == NULL) {
        fprintf(stderr, "qthingd-sim: cannot open the log %s: %s\n", s.log_path, strerror(errno));
        platform_free(&s);
        return 1;
    }
    if (s.client_id == NULL) {
        s.client_id = SIM_CLIENT_ID_DEFAULT;
    }
    uri = sim_server_uri(s.broker);
    if (uri == NULL || MQTTClient_create(&s.cl, uri, s.client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                         NULL) != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "qthingd-sim: bad broker address \"%s\"\n", s.broker);
        free(uri);
        s.cl = NULL;
        platform_free(&s);
        return SIM_EXIT_USAGE;
    }
    free(uri);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    sim_log_event(&s, "started", "qthingd-sim %s, broker %s, registry %s (%zu products)",
                  QTD_SIM_VERSION, s.broker, s.registry_path, s.reg->nproducts);
    /* The broker may still be starting: retry for a while, but not a refused password. */
    deadline = sim_mono_ms() + 10000;
    while ((rc = mqtt_connect(&s)) != 0 && rc != 4 && rc != 5 && sim_mono_ms() < deadline &&
           !stop_flag) {
        sleep_ms(200);
    }
    if (rc != 0) {
        fprintf(stderr, "qthingd-sim: cannot connect to %s: %s\n", s.broker,
                rc == 5 ? "not authorised (wrong --password?)" : MQTTClient_strerror(rc));
        platform_free(&s);
        return 1;
    }
    sim_log_event(&s, "connected", "connected to %s as %s", s.broker, s.client_id);
    platform_loop(&s);
    if (s.connected) {
        MQTTClient_disconnect(s.cl, 1000);
    }
    sim_log_event(&s, "stopped", "stopped");
    platform_free(&s);
    return 0;
}
