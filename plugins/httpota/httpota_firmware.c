/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The firmware service: a verified image goes to the operator's apply command
 * (httpota.firmware_command), run as `/bin/sh -c '<command>' qthingd-firmware <file>
 * <component> <version>` with QTD_FIRMWARE_FILE, QTD_FIRMWARE_COMPONENT and
 * QTD_FIRMWARE_VERSION in its environment and the agent's standard output and error; the
 * running version is the first line httpota.firmware_version_command prints, read once
 * at start. Not here: downloading or verifying the image (httpota_download.c), deciding
 * when to apply it (the OTA flows).
 */
#include "httpota_firmware.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define LOG(f, lvl, ...) (f)->api->log((f)->host, (lvl), __VA_ARGS__)
#define VERSION_MAX 64

extern char **environ;

struct fw_s {
    const qtd_host_api_t *api;
    qtd_host_t *host;
    const char *apply_cmd; /* borrowed from the config */
    char version[VERSION_MAX + 1];
    uv_process_t proc;
    bool running; /* the command runs */
    bool closing; /* its handle is closing */
    bool stopping;
    qtd_firmware_done_cb done;
    void *arg;
};

/* The first line of what cmd prints, trimmed ("" when it fails or prints nothing). */
static void read_version(fw_t *f, const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        LOG(f, QTD_LOG_WARN, "httpota.firmware_version_command could not run: %s", cmd);
        return;
    }
    char line[256] = "";
    if (fgets(line, sizeof(line), p) == NULL) {
        line[0] = '\0';
    }
    int st = pclose(p);
    size_t n = strcspn(line, "\r\n");
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t')) {
        n--;
    }
    size_t at = strspn(line, " \t");
    if (st != 0 || n <= at || n - at > VERSION_MAX) {
        LOG(f, QTD_LOG_WARN,
            "httpota.firmware_version_command `%s` gave no version (exit status %d, %zu "
            "characters; 1..%d expected): firmware updates cannot be confirmed",
            cmd, st, n > at ? n - at : 0, VERSION_MAX);
        return;
    }
    snprintf(f->version, sizeof(f->version), "%.*s", (int)(n - at), line + at);
    LOG(f, QTD_LOG_INFO, "running firmware version: %s", f->version);
}

int fw_create(const qtd_host_api_t *api, qtd_host_t *host, const char *apply_cmd,
              const char *version_cmd, fw_t **out)
{
    fw_t *f = api->calloc(host, 1, sizeof(*f));
    if (f == NULL) {
        return QTD_ENOMEM;
    }
    f->api = api;
    f->host = host;
    f->apply_cmd = apply_cmd;
    if (version_cmd[0] != '\0') {
        read_version(f, version_cmd);
    }
    *out = f;
    return 0;
}

static void finish(fw_t *f, int status)
{
    qtd_firmware_done_cb done = f->done;
    f->done = NULL;
    if (done != NULL) {
        done(f->arg, status);
    }
}

static void on_closed(uv_handle_t *h)
{
    fw_t *f = h->data;
    f->closing = false;
}

static void close_proc(fw_t *f)
{
    f->running = false;
    f->closing = true;
    uv_close((uv_handle_t *)&f->proc, on_closed);
}

static void on_command_exit(uv_process_t *p, int64_t status, int signal)
{
    fw_t *f = p->data;
    if (status == 0 && signal == 0) {
        LOG(f, QTD_LOG_INFO, "firmware apply command finished (exit 0)");
    } else {
        LOG(f, QTD_LOG_ERROR, "firmware apply command failed: %s %d",
            signal != 0 ? "signal" : "exit status", signal != 0 ? signal : (int)status);
    }
    close_proc(f);
    finish(f, status == 0 && signal == 0 ? 0 : QTD_EIO);
}

static int fw_apply(void *self, const char *path, const char *component, const char *version,
                    qtd_firmware_done_cb done, void *arg)
{
    fw_t *f = self;
    if (f->apply_cmd[0] == '\0') {
        return QTD_ENOTSUP;
    }
    if (path == NULL || done == NULL || f->stopping) {
        return QTD_EINVAL;
    }
    if (f->running || f->closing) {
        return QTD_EBUSY;
    }
    component = component != NULL ? component : "";
    version = version != NULL ? version : "";
    size_t n_env = 0;
    while (environ[n_env] != NULL) {
        n_env++;
    }
    char **env = f->api->calloc(f->host, n_env + 4, sizeof(char *));
    char *vars[3] = {NULL, NULL, NULL};
    const char *names[3] = {"QTD_FIRMWARE_FILE", "QTD_FIRMWARE_COMPONENT", "QTD_FIRMWARE_VERSION"};
    const char *values[3] = {path, component, version};
    int rc = env != NULL ? 0 : QTD_ENOMEM;
    for (int i = 0; rc == 0 && i < 3; i++) {
        size_t len = strlen(names[i]) + strlen(values[i]) + 2;
        vars[i] = f->api->malloc(f->host, len);
        if (vars[i] == NULL) {
            rc = QTD_ENOMEM;
        } else {
            snprintf(vars[i], len, "%s=%s", names[i], values[i]);
        }
    }
    if (rc == 0) {
        size_t k = 0;
        for (size_t i = 0; i < n_env; i++) {
            if (strncmp(environ[i], "QTD_FIRMWARE_", 13) != 0) {
                env[k++] = environ[i];
            }
        }
        env[k++] = vars[0];
        env[k++] = vars[1];
        env[k++] = vars[2];
        env[k] = NULL;
        char *args[] = {"/bin/sh",          "-c",         (char *)f->apply_cmd,
                        "qthingd-firmware", (char *)path, (char *)component,
                        (char *)version,    NULL};
        uv_stdio_container_t stdio[3] = {
            {.flags = UV_IGNORE},
            {.flags = UV_INHERIT_FD, .data.fd = 1},
            {.flags = UV_INHERIT_FD, .data.fd = 2},
        };
        uv_process_options_t o = {.exit_cb = on_command_exit,
                                  .file = "/bin/sh",
                                  .args = args,
                                  .env = env,
                                  .stdio_count = 3,
                                  .stdio = stdio};
        f->proc.data = f;
        int e = uv_spawn(f->api->loop(f->host), &f->proc, &o);
        if (e != 0) {
            LOG(f, QTD_LOG_ERROR, "firmware apply command could not start: %s", uv_strerror(e));
            close_proc(f); /* libuv: close even a failed spawn */
            rc = QTD_EIO;
        } else {
            LOG(f, QTD_LOG_INFO, "firmware %s %s: running the apply command with %s", component,
                version, path);
            f->running = true;
            f->done = done;
            f->arg = arg;
        }
    }
    for (int i = 0; i < 3; i++) {
        f->api->free(f->host, vars[i]);
    }
    f->api->free(f->host, env);
    return rc;
}

static const char *fw_version(void *self)
{
    return ((fw_t *)self)->version;
}

const qtd_firmware_api_t fw_api = {
    .size = sizeof(qtd_firmware_api_t),
    .apply = fw_apply,
    .version = fw_version,
};

void fw_stop(fw_t *f)
{
    f->stopping = true;
    if (f->running) {
        LOG(f, QTD_LOG_WARN, "stopping while the firmware apply command runs: it goes on alone");
        close_proc(f);
        finish(f, QTD_ECANCELED);
    }
}

void fw_free(fw_t *f)
{
    if (f != NULL) {
        f->api->free(f->host, f);
    }
}
