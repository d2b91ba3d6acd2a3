/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qthingctl: ask a running qthingd through its control socket (agent/control.h). Human
 * output by default, the agent's JSON with --json.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/paths.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: qthingctl [-s SOCKET] [--json] COMMAND\n"
            "\n"
            "Ask a running qthingd through its control socket.\n"
            "\n"
            "Commands:\n"
            "  status        version, pid, uptime, data directory, the outbox (rows, bytes,\n"
            "                dropped by the cap, lost), the loop (its longest turn, turns\n"
            "                over 50 ms), the script (its errors) and each plugin's state\n"
            "  events [-f]   follow the agent's events, one line each: the domain (cloud,\n"
            "                httpota, subdev, modbus, agent), then event,errcode[,value] as the\n"
            "                seed's callbacks get them; until interrupted\n"
            "  reload        check the config and the script, then: the config unchanged,\n"
            "                reload the script (the cloud session stays up); changed, stop\n"
            "                cleanly and start again in place (same pid); on any error the\n"
            "                running ones stay (as SIGHUP)\n"
            "  send pass TEXT\n"
            "                passthrough TEXT to the platform (quecIot.passTransSend, mode 1)\n"
            "  send tsl JSON thing-model values, e.g. '{\"1\": 25, \"2\": true}' (quecIot.\n"
            "                phymodelReport, mode 1); prints the call's result\n"
            "  lua CODE      run CODE in the script's state (its globals, its limits) and print\n"
            "                what it returns, e.g. 'return quecIot.getWorkState()'\n"
            "  outbox drop ID\n"
            "                delete outbox row ID (a message stuck in the outbox): it is\n"
            "                never sent\n"
            "  outbox ls [N] the N oldest messages waiting in the outbox (default 20): id,\n"
            "                QoS, bytes, and the row's topic (bus, ota; sub:<endpoint> for a\n"
            "                sub-device's)\n"
            "\n"
            "Options:\n"
            "  -s, --socket SOCKET  the agent's control socket (agent.control_socket; default\n"
            "                       %s/qthingd.sock, or $QTHINGD_SOCKET)\n"
            "      --json           print the agent's JSON lines as they are\n"
            "  -h, --help           print this help\n"
            "\n"
            "Exit status: 0 done; 1 the agent answered with an error; 2 bad usage; 3 the agent\n"
            "cannot be reached (not running, or no access to its socket).\n",
            qtd__path(QTD_PATH_STATE));
}

static int connect_to(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(a.sun_path)) {
        fprintf(stderr, "qthingctl: %s: too long for a socket path\n", path);
        return -1;
    }
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = errno;
        fprintf(stderr, "qthingctl: cannot reach the agent at %s: %s\n%s", path, strerror(e),
                e == ENOENT || e == ECONNREFUSED
                    ? "  is qthingd running? (its log says \"control: listening on ...\"; "
                      "-s names another socket)\n"
                : e == EACCES ? "  run as the agent's user (the socket is mode 0600)\n"
                              : "");
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

/* One line from fd into a malloc'd string (NULL at the end). */
static char *read_line(int fd)
{
    size_t n = 0, cap = 256;
    char *s = malloc(cap);
    while (s != NULL) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r <= 0) {
            free(s);
            return NULL;
        }
        if (c == '\n') {
            s[n] = '\0';
            return s;
        }
        if (n + 1 >= cap) {
            char *t = realloc(s, cap *= 2);
            if (t == NULL) {
                free(s);
                return NULL;
            }
            s = t;
        }
        s[n++] = c;
    }
    return NULL;
}

/* A JSON value as a Lua expression (objects keyed by ids become {[id] = ...}), appended to
 * buf. Returns false when it does not fit or cannot be written. */
static bool lua_of(const cJSON *v, char *buf, size_t n, size_t *used)
{
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int k = snprintf(buf + *used, n - *used, __VA_ARGS__);                                     \
        if (k < 0 || (size_t)k >= n - *used) {                                                     \
            return false;                                                                          \
        }                                                                                          \
        *used += (size_t)k;                                                                        \
    } while (0)
    if (cJSON_IsBool(v)) {
        PUT("%s", cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(long long)d && d > -9e15 && d < 9e15) {
            PUT("%lld", (long long)d);
        } else {
            PUT("%.17g", d);
        }
    } else if (cJSON_IsString(v)) {
        PUT("\"");
        for (const unsigned char *s = (const unsigned char *)v->valuestring; *s; s++) {
            if (*s == '"' || *s == '\\') {
                PUT("\\%c", *s);
            } else if (*s < 0x20 || *s == 0x7f) {
                PUT("\\%03u", *s);
            } else {
                PUT("%c", *s);
            }
        }
        PUT("\"");
    } else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        PUT("{");
        const cJSON *c;
        cJSON_ArrayForEach(c, v)
        {
            if (cJSON_IsObject(v)) {
                char *end = NULL;
                long id = strtol(c->string, &end, 10);
                if (*end != '\0' || id < 0 || id > 65535) {
                    return false;
                }
                PUT("[%ld] = ", id);
            }
            if (!lua_of(c, buf, n, used)) {
                return false;
            }
            PUT(", ");
        }
        PUT("}");
    } else {
        return false;
    }
    return true;
#undef PUT
}

/* The Lua code of `lua CODE`, `send pass TEXT` and `send tsl JSON` into code. Returns false
 * for arguments that do not make one. */
static bool code_of(const char *cmd, int argc, char **argv, int first, char *code, size_t n)
{
    size_t used = 0;
    bool ok = false;
    if (strcmp(cmd, "lua") == 0) {
        return first + 1 == argc && snprintf(code, n, "%s", argv[first]) < (int)n;
    }
    if (first + 2 != argc) {
        return false;
    }
    if (strcmp(argv[first], "pass") == 0) {
        cJSON *s = cJSON_CreateString(argv[first + 1]);
        used = (size_t)snprintf(code, n, "return quecIot.passTransSend(1, ");
        ok = s != NULL && lua_of(s, code, n - 2, &used);
        cJSON_Delete(s);
    } else if (strcmp(argv[first], "tsl") == 0) {
        cJSON *v = cJSON_Parse(argv[first + 1]);
        used = (size_t)snprintf(code, n, "return quecIot.phymodelReport(1, ");
        ok = cJSON_IsObject(v) && lua_of(v, code, n - 2, &used);
        cJSON_Delete(v);
    }
    if (ok) {
        strcat(code, ")");
    }
    return ok;
}

static void print_status(const cJSON *j)
{
    const cJSON *o = cJSON_GetObjectItem(j, "outbox");
    const cJSON *sc = cJSON_GetObjectItem(j, "script");
    printf("qthingd %s, pid %.0f, up %.0f s, data in %s\n",
           cJSON_GetStringValue(cJSON_GetObjectItem(j, "version")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(j, "pid")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(j, "uptime_s")),
           cJSON_GetStringValue(cJSON_GetObjectItem(j, "data_dir")));
    const cJSON *age = cJSON_GetObjectItem(o, "oldest_age_s");
    char oldest[48] = "";
    if (cJSON_IsNumber(age)) {
        snprintf(oldest, sizeof(oldest), ", the oldest %.0f s old", age->valuedouble);
    }
    printf("outbox: %.0f rows, %.0f bytes%s; %.0f dropped by the cap, %.0f lost\n",
           cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rows")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(o, "bytes")), oldest,
           cJSON_GetNumberValue(cJSON_GetObjectItem(o, "dropped")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(o, "lost")));
    const cJSON *lp = cJSON_GetObjectItem(j, "loop");
    printf("loop: the longest turn took %.1f ms, %.0f turns over 50 ms\n",
           cJSON_GetNumberValue(cJSON_GetObjectItem(lp, "turn_max_ms")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(lp, "turns_over_50ms")));
    printf("script: %s, %.0f errors\n", cJSON_GetStringValue(cJSON_GetObjectItem(sc, "path")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(sc, "errors")));
    printf("plugins:\n");
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(j, "plugins"))
    {
        const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(p, "error"));
        const char *summary = cJSON_GetStringValue(cJSON_GetObjectItem(p, "summary"));
        printf("  %-10s %-8s %-13s %10.0f bytes%s%s\n",
               cJSON_GetStringValue(cJSON_GetObjectItem(p, "name")),
               cJSON_GetStringValue(cJSON_GetObjectItem(p, "version")),
               cJSON_GetStringValue(cJSON_GetObjectItem(p, "state")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(p, "bytes")), err ? "  " : "",
               err ? err : "");
        if (summary != NULL && summary[0] != '\0') {
            printf("             %s\n", summary);
        }
    }
}

static void print_event(const cJSON *j)
{
    const cJSON *v = cJSON_GetObjectItem(j, "value");
    char *value = v != NULL ? cJSON_PrintUnformatted(v) : NULL;
    printf("%-7s %.0f,%.0f%s%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(j, "domain_name")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(j, "event")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(j, "errcode")), value ? "," : "",
           value ? value : "");
    free(value);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"follow", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    char def[4200];
    const char *env = getenv("QTHINGD_SOCKET");
    snprintf(def, sizeof(def), "%s/qthingd.sock", qtd__path(QTD_PATH_STATE));
    const char *path = env != NULL && env[0] != '\0' ? env : def;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "s:hf", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            path = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'f':
            break; /* events always follow */
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    long limit = 20;
    long long drop = 0;
    int first = optind + 1;
    char code[8192] = "";
    if (strcmp(cmd, "lua") == 0 || strcmp(cmd, "send") == 0) {
        if (!code_of(cmd, argc, argv, first, code, sizeof(code))) {
            fprintf(stderr, "qthingctl: %s\n",
                    strcmp(cmd, "lua") == 0
                        ? "lua CODE: one argument, the code"
                        : "send pass TEXT | send tsl '{\"ID\": VALUE, ...}' (ids 1..65535)");
            return 2;
        }
        first = argc;
    }
    if (strcmp(cmd, "outbox") == 0) {
        if (first + 1 < argc && strcmp(argv[first], "drop") == 0) {
            char *end = NULL;
            drop = strtoll(argv[first + 1], &end, 10);
            if (*end != '\0' || drop < 1) {
                fprintf(stderr, "qthingctl: outbox drop ID: ID is a row id (outbox ls)\n");
                return 2;
            }
            first += 2;
        } else if (first >= argc || strcmp(argv[first], "ls") != 0) {
            fprintf(stderr, "qthingctl: outbox ls [N] | outbox drop ID\n");
            return 2;
        } else {
            first++;
        }
        if (drop == 0 && first < argc) {
            char *end = NULL;
            limit = strtol(argv[first], &end, 10);
            if (*end != '\0' || limit < 1 || limit > 1000) {
                fprintf(stderr, "qthingctl: outbox ls N: N is 1..1000\n");
                return 2;
            }
            first++;
        }
    }
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], "-f") != 0 && strcmp(argv[i], "--follow") != 0) {
            fprintf(stderr, "qthingctl: unexpected argument %s\n", argv[i]);
            return 2;
        }
    }
    if (strcmp(cmd, "status") != 0 && strcmp(cmd, "events") != 0 && strcmp(cmd, "reload") != 0 &&
        strcmp(cmd, "outbox") != 0 && code[0] == '\0') {
        fprintf(stderr,
                "qthingctl: unknown command %s (status, events, reload, send, lua, outbox ls)\n",
                cmd);
        return 2;
    }
    int fd = connect_to(path);
    if (fd < 0) {
        return 3;
    }
    cJSON *rq = cJSON_CreateObject();
    cJSON_AddStringToObject(rq, "cmd", code[0] != '\0' ? "lua" : drop > 0 ? "outbox_drop" : cmd);
    if (drop > 0) {
        cJSON_AddNumberToObject(rq, "id", (double)drop);
    }
    cJSON_AddNumberToObject(rq, "limit", (double)limit);
    if (code[0] != '\0') {
        cJSON_AddStringToObject(rq, "code", code);
    }
    char *text = cJSON_PrintUnformatted(rq);
    cJSON_Delete(rq);
    size_t tl = text != NULL ? strlen(text) : 0;
    char *req = text != NULL ? malloc(tl + 2) : NULL;
    if (req == NULL) {
        free(text);
        return 3;
    }
    memcpy(req, text, tl);
    req[tl] = '\n';
    free(text);
    ssize_t wrote = write(fd, req, tl + 1);
    free(req);
    if (wrote != (ssize_t)tl + 1) {
        fprintf(stderr, "qthingctl: %s: the agent closed the socket\n", path);
        return 3;
    }
    char *line = read_line(fd);
    cJSON *j = line != NULL ? cJSON_Parse(line) : NULL;
    if (j == NULL) {
        fprintf(stderr, "qthingctl: %s: no answer from the agent\n", path);
        return 3;
    }
    bool ok = cJSON_IsTrue(cJSON_GetObjectItem(j, "ok"));
    if (json) {
        printf("%s\n", line);
    } else if (!ok) {
        fprintf(stderr, "qthingctl: %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(j, "error")));
    } else if (strcmp(cmd, "status") == 0) {
        print_status(j);
    } else if (strcmp(cmd, "reload") == 0) {
        printf("%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(j, "result")));
    } else if (code[0] != '\0') {
        printf("%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(j, "result")));
    } else if (drop > 0) {
        printf("row %lld dropped\n", drop);
    } else if (strcmp(cmd, "outbox") == 0) {
        const cJSON *r;
        printf("%10s %3s %7s  %s\n", "id", "qos", "bytes", "topic");
        cJSON_ArrayForEach(r, cJSON_GetObjectItem(j, "rows"))
        {
            printf("%10.0f %3.0f %7.0f  %s\n", cJSON_GetNumberValue(cJSON_GetObjectItem(r, "id")),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(r, "qos")),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(r, "bytes")),
                   cJSON_GetStringValue(cJSON_GetObjectItem(r, "topic")));
        }
    }
    fflush(stdout);
    cJSON_Delete(j);
    free(line);
    if (ok && strcmp(cmd, "events") == 0) {
        while ((line = read_line(fd)) != NULL) {
            if (json) {
                printf("%s\n", line);
                fflush(stdout);
            } else if ((j = cJSON_Parse(line)) != NULL) {
                print_event(j);
                cJSON_Delete(j);
            }
            free(line);
        }
        fprintf(stderr, "qthingctl: the agent closed the event stream\n");
    }
    close(fd);
    return ok ? 0 : 1;
}
