/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control socket: a Unix socket (mode 0600) on which qthingctl, or any tool, asks the
 * running agent things. One JSON object per line each way (docs/operations.md "The control
 * socket"):
 *   {"cmd": "status"}  -> {"ok": true, "version": ..., "pid": ..., "uptime_s": ...,
 *                          "data_dir": ..., "outbox": {...}, "script": {...},
 *                          "plugins": [{"name", "version", "state", "bytes"}, ...]}
 *   {"cmd": "events"}  -> {"ok": true}, then one line per bus event until the client goes:
 *                         {"domain": D, "domain_name": "cloud", "event": E, "errcode": C,
 *                          "value": V, "source": "cloud"}
 *   {"cmd": "reload"}  -> the script reloaded (as SIGHUP): {"ok": true} or an error
 *   {"cmd": "lua", "code": "..."} -> {"ok": true, "result": "..."} or {"ok": false,
 *                         "error": "..."}: the code run in the script's state
 *   {"cmd": "outbox", "limit": N} -> {"ok": true, "rows": [{"id", "topic", "qos", "bytes"}]}:
 *                         the oldest N rows waiting (default 20, at most 1000)
 *   {"cmd": "outbox_drop", "id": N} -> {"ok": true} (row N deleted: it is never sent)
 * A request that is not one of these: {"ok": false, "error": "..."}.
 */
#ifndef QTD_AGENT_CONTROL_H
#define QTD_AGENT_CONTROL_H

#include <cjson/cJSON.h>
#include <uv.h>

#include "agent/bus.h"

typedef struct qtd_control_s qtd_control_t;

typedef struct {
    /* Fill the status object (loop thread). */
    void (*status)(void *arg, cJSON *out);
    /* Reload (the config checked first): what happened, or why not, into msg. Returns 0
     * or an error (QTD_*). */
    int (*reload)(void *arg, char *msg, size_t n);
    /* Run Lua text in the script's state: 0 with its results (or its error, *failed) in
     * out, or an error (QTD_EBUSY). */
    int (*lua)(void *arg, const char *code, size_t len, char *out, size_t n, bool *failed);
    /* The oldest rows of the outbox, at most limit, into the array out. */
    void (*outbox)(void *arg, cJSON *out, size_t limit);
    /* Delete outbox row id. Returns 0, QTD_ENOENT (no such row), QTD_EIO. */
    int (*outbox_drop)(void *arg, int64_t id);
    void *arg;
} qtd_control_ops_t;

/* Listen on path (an old socket file there is replaced). Returns: 0, or an error logged. */
int qtd__control_start(qtd_control_t **out, uv_loop_t *loop, qtd_bus_t *bus, const char *path,
                       const qtd_control_ops_t *ops);
/* Close the socket and every client (their handles close on the loop), remove the file. */
void qtd__control_close(qtd_control_t *c);
/* Free after the loop has run the closes. */
void qtd__control_free(qtd_control_t *c);

#endif /* QTD_AGENT_CONTROL_H */
