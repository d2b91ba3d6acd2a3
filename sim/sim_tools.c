/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The subcommands that are tools for tests rather than the platform: `ctl` (publish one
 * control message, optionally wait for its reply), `password` (a device's MQTT password),
 * `broker-conf` (a mosquitto.conf for the simulator), `frame` (encode one frame) and
 * `decode` (decode one frame). Each runs once and exits; all but `ctl` work offline. Not
 * here: the platform process (sim_platform.c) and the control commands it runs
 * (sim_ctl.c).
 */
#include "sim.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <MQTTClient.h>
#include <cJSON.h>

#include "cloud_auth.h"
#include "cloud_frame.h"
#include "sim_json.h"

/* ---- ctl */

/* Insert "id":"<id>" as the first member of a JSON object text (keeps numbers as written). */
static char *with_id(const char *json, const char *id)
{
    const char *brace = strchr(json, '{');
    const char *rest;
    char *out = NULL;

    if (brace == NULL) {
        return NULL;
    }
    rest = brace + 1 + strspn(brace + 1, " \t\r\n");
    if (asprintf(&out, "%.*s\"id\":\"%s\"%s%s", (int)(brace + 1 - json), json, id,
                 *rest == '}' ? "" : ",", brace + 1) < 0) {
        return NULL;
    }
    return out;
}

int sim_cmd_ctl(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"broker", required_argument, NULL, 'b'},
        {"password", required_argument, NULL, 'p'},
        {"reply", no_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    MQTTClient_connectOptions opts = MQTTClient_connectOptions_initializer;
    MQTTClient_deliveryToken tok;
    const char *broker = NULL;
    const char *password = getenv("QTD_SIM_PASSWORD");
    bool want_reply = false;
    long timeout = 10;
    MQTTClient cl = NULL;
    qtd_sim_doc_t doc;
    char *uri = NULL;
    char *msg = NULL;
    char rid[QTD_AUTH_RAND_LEN + 1];
    char id[64];
    int result = 1;
    int opt;
    int rc;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            broker = optarg;
            break;
        case 'p':
            password = optarg;
            break;
        case 'r':
            want_reply = true;
            break;
        case 't':
            if (!sim_parse_int(optarg, 1, 3600, &timeout)) {
                return sim_usage_error("--timeout: expected 1..3600 seconds");
            }
            break;
        default:
            return sim_usage_error("ctl: unknown option");
        }
    }
    if (broker == NULL || password == NULL || optind != argc - 1) {
        return sim_usage_error("ctl needs --broker, --password and one JSON argument");
    }
    if (qtd_sim_doc_parse(argv[optind], &doc) != 0 || !cJSON_IsObject(doc.root)) {
        qtd_sim_doc_free(&doc);
        return sim_usage_error("ctl: the message is not a JSON object");
    }
    if (qtd_auth_rand(rid) != 0) {
        snprintf(rid, sizeof(rid), "%ld", (long)getpid());
    }
    if (cJSON_GetObjectItemCaseSensitive(doc.root, "id") != NULL &&
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(doc.root, "id"))) {
        qtd_sim_doc_free(&doc);
        return sim_usage_error("ctl: \"id\" must be a string");
    }
    if (want_reply && cJSON_GetObjectItemCaseSensitive(doc.root, "id") == NULL) {
        msg = with_id(argv[optind], rid);
    } else {
        const cJSON *idj = cJSON_GetObjectItemCaseSensitive(doc.root, "id");
        if (cJSON_IsString(idj)) {
            snprintf(rid, sizeof(rid), "%.*s", QTD_AUTH_RAND_LEN, idj->valuestring);
        }
        msg = strdup(argv[optind]);
    }
    qtd_sim_doc_free(&doc);
    snprintf(id, sizeof(id), "qtd-sim-ctl-%ld-%s", (long)getpid(), rid);
    uri = sim_server_uri(broker);
    if (msg == NULL || uri == NULL ||
        MQTTClient_create(&cl, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "qthingd-sim: bad broker address \"%s\"\n", broker);
        cl = NULL;
        goto out;
    }
    opts.cleansession = 1;
    opts.connectTimeout = 5;
    opts.username = SIM_USERNAME;
    opts.password = password;
    opts.MQTTVersion = MQTTVERSION_3_1_1;
    rc = MQTTClient_connect(cl, &opts);
    if (rc != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "qthingd-sim: cannot connect to %s: %s\n", broker,
                rc == 5 ? "not authorised (wrong --password?)" : MQTTClient_strerror(rc));
        goto out;
    }
    if (want_reply && MQTTClient_subscribe(cl, SIM_TOPIC_REPLY, 1) != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "qthingd-sim: cannot subscribe %s\n", SIM_TOPIC_REPLY);
        goto disconnect;
    }
    rc = MQTTClient_publish(cl, SIM_TOPIC_CTL, (int)strlen(msg), msg, 1, 0, &tok);
    if (rc == MQTTCLIENT_SUCCESS) {
        rc = MQTTClient_waitForCompletion(cl, tok, 10000);
    }
    if (rc != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "qthingd-sim: publishing failed: %s\n", MQTTClient_strerror(rc));
        goto disconnect;
    }
    result = 0;
    if (want_reply) {
        int64_t end = sim_mono_ms() + timeout * 1000;
        result = 1;
        while (sim_mono_ms() < end) {
            char *topic = NULL;
            int tlen = 0;
            MQTTClient_message *m = NULL;
            rc = MQTTClient_receive(cl, &topic, &tlen, &m, 200);
            if (m != NULL) {
                cJSON *r = cJSON_ParseWithLength(m->payload, (size_t)m->payloadlen);
                const cJSON *rj = cJSON_GetObjectItemCaseSensitive(r, "id");
                bool mine = cJSON_IsString(rj) && strcmp(rj->valuestring, rid) == 0;
                if (mine) {
                    printf("%.*s\n", m->payloadlen, (const char *)m->payload);
                    result = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")) ? 0 : 1;
                }
                cJSON_Delete(r);
                MQTTClient_freeMessage(&m);
                MQTTClient_free(topic);
                if (mine) {
                    break;
                }
            } else if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) {
                fprintf(stderr, "qthingd-sim: lost the broker\n");
                break;
            }
        }
        if (sim_mono_ms() >= end) {
            fprintf(stderr, "qthingd-sim: no reply within %ld s (is qthingd-sim run going?)\n",
                    timeout);
        }
    }
disconnect:
    MQTTClient_disconnect(cl, 1000);
out:
    if (cl != NULL) {
        MQTTClient_destroy(&cl);
    }
    free(uri);
    free(msg);
    return result;
}

/* ---- password, broker-conf */

int sim_cmd_password(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pk", required_argument, NULL, 'k'},
        {"ps", required_argument, NULL, 's'},
        {"dk", required_argument, NULL, 'd'},
        {"ds", required_argument, NULL, 'S'},
        {"flag", required_argument, NULL, 'f'},
        {"rand", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    const char *pk = NULL, *ps = NULL, *dk = NULL, *ds = NULL, *rnd = NULL;
    char rbuf[QTD_AUTH_RAND_LEN + 1];
    char out[QTD_AUTH_PASSWORD_MAX + 1];
    long flag = 0;
    int opt;
    int rc;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'k':
            pk = optarg;
            break;
        case 's':
            ps = optarg;
            break;
        case 'd':
            dk = optarg;
            break;
        case 'S':
            ds = optarg;
            break;
        case 'r':
            rnd = optarg;
            break;
        case 'f':
            if (!sim_parse_int(optarg, 0, 1, &flag)) {
                return sim_usage_error("--flag: expected 0 or 1");
            }
            break;
        default:
            return sim_usage_error("password: unknown option");
        }
    }
    if (optind != argc || pk == NULL || ps == NULL || dk == NULL) {
        return sim_usage_error("password needs --pk, --ps and --dk");
    }
    if (rnd == NULL) {
        if (qtd_auth_rand(rbuf) != 0) {
            fprintf(stderr, "qthingd-sim: no randomness\n");
            return 1;
        }
        rnd = rbuf;
    }
    if (ds != NULL) {
        rc = qtd_auth_login_password(ds, ps, rnd, (int)flag, out, sizeof(out));
    } else {
        rc = qtd_auth_register_password(pk, ps, dk, rnd, (int)flag, out, sizeof(out));
    }
    if (rc != 0) {
        fprintf(stderr, "qthingd-sim: cannot build the password: %s\n", strerror(-rc));
        return 1;
    }
    printf("%s\n", out);
    return 0;
}

int sim_cmd_broker_conf(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'P'},
        {"registry", required_argument, NULL, 'r'},
        {"password", required_argument, NULL, 'p'},
        {"plugin", required_argument, NULL, 'l'},
        {"bind", required_argument, NULL, 'b'},
        {"user", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    const char *registry = NULL, *password = getenv("QTD_SIM_PASSWORD"), *plugin = NULL;
    const char *bind = "127.0.0.1";
    const struct passwd *pw = getpwuid(geteuid());
    const char *user = pw != NULL ? pw->pw_name : NULL;
    long port = -1;
    int opt;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'P':
            if (!sim_parse_int(optarg, 1, 65535, &port)) {
                return sim_usage_error("--port: expected 1..65535");
            }
            break;
        case 'r':
            registry = optarg;
            break;
        case 'p':
            password = optarg;
            break;
        case 'l':
            plugin = optarg;
            break;
        case 'b':
            bind = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        default:
            return sim_usage_error("broker-conf: unknown option");
        }
    }
    if (optind != argc || port < 0 || registry == NULL || password == NULL || plugin == NULL) {
        return sim_usage_error("broker-conf needs --port, --registry, --password and --plugin");
    }
    if (strpbrk(password, " \t\r\n") != NULL || strpbrk(registry, "\r\n") != NULL ||
        strpbrk(plugin, "\r\n") != NULL) {
        return sim_usage_error("broker-conf: the password may not contain white space");
    }
    printf("# mosquitto configuration for the qthingd platform simulator (qthingd-sim "
           "broker-conf)\n"
           "per_listener_settings false\n"
           "listener %ld %s\n"
           "allow_anonymous false\n"
           "persistence false\n"
           "max_queued_messages 1000000\n"
           "plugin %s\n"
           "plugin_opt_registry %s\n"
           "plugin_opt_sim_password %s\n",
           port, bind, plugin, registry, password);
    if (user != NULL) {
        /* Run as the user that wrote this file (as root mosquitto would drop to "mosquitto",
         * which may not read the registry or load the plugin from a private directory). */
        printf("user %s\n", user);
    }
    return 0;
}

/* ---- frame, decode */

int sim_cmd_frame(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pkgid", required_argument, NULL, 'n'},
        {"cmd", required_argument, NULL, 'c'},
        {"tsl", required_argument, NULL, 't'},
        {"ids", required_argument, NULL, 'i'},
        {"hex", required_argument, NULL, 'x'},
        {"text", required_argument, NULL, 'T'},
        {"raw", no_argument, NULL, 'r'},
        {"corrupt-sum", no_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const char *tsl = NULL, *ids = NULL, *hex = NULL, *text = NULL;
    bool raw = false, corrupt = false;
    uint8_t *payload = NULL;
    uint8_t *frame = NULL;
    size_t len = 0, n = 0;
    char err[256] = "";
    long pkgid = 1;
    int cmd = -1;
    int result = 1;
    int opt;
    int rc = 0;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (!sim_parse_int(optarg, 0, 0xFFFF, &pkgid)) {
                return sim_usage_error("--pkgid: expected 0..65535");
            }
            break;
        case 'c':
            cmd = qtd_sim_cmd_parse(optarg);
            if (cmd < 0) {
                return sim_usage_error("--cmd: unknown command \"%s\"", optarg);
            }
            break;
        case 't':
            tsl = optarg;
            break;
        case 'i':
            ids = optarg;
            break;
        case 'x':
            hex = optarg;
            break;
        case 'T':
            text = optarg;
            break;
        case 'r':
            raw = true;
            break;
        case 's':
            corrupt = true;
            break;
        default:
            return sim_usage_error("frame: unknown option");
        }
    }
    if (optind != argc || cmd < 0 ||
        (tsl != NULL) + (ids != NULL) + (hex != NULL) + (text != NULL) > 1) {
        return sim_usage_error("frame needs --cmd and at most one of --tsl, --ids, --hex, --text");
    }
    if (tsl != NULL) {
        qtd_sim_doc_t doc;
        if (qtd_sim_doc_parse(tsl, &doc) != 0) {
            return sim_usage_error("--tsl: not JSON");
        }
        rc = qtd_sim_json_to_ttlv(&doc, doc.root, &payload, &len, err, sizeof(err));
        qtd_sim_doc_free(&doc);
    } else if (ids != NULL) {
        size_t cap = strlen(ids) + 1;
        payload = malloc(cap * 2);
        for (char *p = (char *)ids; payload != NULL && *p != '\0';) {
            char *end = NULL;
            long v = strtol(p, &end, 0);
            if (end == p || v < 0 || v > 0xFFFF || (*end != ',' && *end != '\0')) {
                snprintf(err, sizeof(err), "--ids: expected numbers 0..65535 separated by ','");
                rc = -EINVAL;
                break;
            }
            payload[len++] = (uint8_t)(v >> 8);
            payload[len++] = (uint8_t)(v & 0xFF);
            p = *end == ',' ? end + 1 : end;
        }
        if (payload == NULL) {
            rc = -ENOMEM;
        }
    } else if (hex != NULL) {
        rc = qtd_sim_hex_decode(hex, &payload, &len);
        if (rc == -EINVAL) {
            snprintf(err, sizeof(err), "--hex: not hex");
        }
    } else if (text != NULL) {
        len = strlen(text);
        payload = (uint8_t *)strdup(text);
        rc = payload == NULL ? -ENOMEM : 0;
    }
    if (rc != 0) {
        fprintf(stderr, "qthingd-sim: %s\n", err[0] != '\0' ? err : strerror(-rc));
        goto out;
    }
    rc = qtd_frame_encode((uint16_t)pkgid, (uint16_t)cmd, payload, len, &frame, &n);
    if (rc != 0) {
        fprintf(stderr, "qthingd-sim: cannot encode the frame: %s\n", strerror(-rc));
        goto out;
    }
    if (corrupt && n > 4) {
        frame[4] ^= 0x01;
    }
    if (raw) {
        if (fwrite(frame, 1, n, stdout) != n) {
            goto out;
        }
    } else {
        char *h = qtd_sim_hex_encode(frame, n);
        if (h == NULL) {
            goto out;
        }
        printf("%s\n", h);
        free(h);
    }
    result = 0;
out:
    free(payload);
    free(frame);
    return result;
}

int sim_cmd_decode(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"hex", required_argument, NULL, 'x'},
        {NULL, 0, NULL, 0},
    };
    const char *hex = NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    cJSON *o = NULL;
    char *out = NULL;
    int result = 1;
    int opt;
    int rc;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt != 'x') {
            return sim_usage_error("decode: unknown option");
        }
        hex = optarg;
    }
    if (optind != argc) {
        return sim_usage_error("decode: unexpected argument \"%s\"", argv[optind]);
    }
    if (hex == NULL || strcmp(hex, "-") == 0) {
        for (;;) {
            size_t got;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 4096;
                uint8_t *nb = realloc(buf, nc + 1);
                if (nb == NULL) {
                    goto out;
                }
                buf = nb;
                cap = nc;
            }
            got = fread(buf + n, 1, cap - n, stdin);
            n += got;
            if (got == 0) {
                break;
            }
        }
    }
    if (hex != NULL) {
        uint8_t *bytes = NULL;
        if (buf != NULL) {
            buf[n] = '\0';
        }
        rc = qtd_sim_hex_decode(buf != NULL ? (const char *)buf : hex, &bytes, &n);
        free(buf);
        buf = bytes;
        if (rc != 0) {
            fprintf(stderr, "qthingd-sim: not hex\n");
            goto out;
        }
    }
    o = cJSON_CreateObject();
    rc = o != NULL ? qtd_sim_frame_to_json(buf, n, o) : -ENOMEM;
    if (rc < 0 || (out = cJSON_PrintUnformatted(o)) == NULL) {
        fprintf(stderr, "qthingd-sim: out of memory\n");
        goto out;
    }
    printf("%s\n", out);
    result = rc == 0 ? 0 : 1;
out:
    free(out);
    cJSON_Delete(o);
    free(buf);
    return result;
}
