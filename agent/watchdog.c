/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The watchdog: a thread that notices when the loop stops answering for longer than
 * agent.watchdog_s (a script callback stuck in C code that no instruction limit sees, a
 * plugin blocking the loop). Every half second the thread pings the loop (uv_async_send)
 * and the loop answers in its async callback: an idle loop wakes up and answers at once,
 * a busy one as soon as the callback that runs returns, whatever kind of callback it is
 * (timer, I/O, signal, work completion). A ping unanswered for the limit is a hang. On it
 * logs what was running (the script function, from the Lua host), commits the store if it
 * is not in use, records the hang in <data_dir>/qthingd.hang and ends the process with exit
 * code 3 for its supervisor to restart it: every mode-1 report is on disk already. After
 * QTD_WATCHDOG_SAFE_AFTER hangs in a row of the same script (no healthy minute between), the
 * next start is in safe mode: the script does not run until it changes, the cloud session
 * and the outbox do. Once the shutdown began, it must be over within twice the limit, or the
 * watchdog ends the process the same way. Not here: what runs in the loop.
 */
#include "agent/watchdog.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/alloc.h"
#include "agent/log.h"
#include "qthingd/errors.h"

#define HEALTHY_MS 60000 /* a run this long without a hang clears the record */

struct qtd_watchdog_s {
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t cond;
    bool stop;
    bool thread_ok;
    uv_async_t ping;
    _Atomic uint64_t ping_at; /* when the unanswered ping was sent (ms), 0: none */
    uint64_t limit_ms;
    uint64_t started_ms;
    _Atomic uint64_t stop_deadline; /* the shutdown must be over by then (0: running) */
    bool cleared;
    char dir[4096];    /* the data dir */
    char record[4200]; /* <data_dir>/qthingd.hang */
    uint64_t script_hash;
    qtd_watchdog_what_cb what;
    void *what_arg;
    qtd_watchdog_commit_cb commit;
    void *commit_arg;
};

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

uint64_t qtd__watchdog_hash_file(const char *path)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, 64 bits */
    FILE *f = path != NULL ? fopen(path, "rb") : NULL;
    if (f == NULL) {
        return 0;
    }
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        h = (h ^ (uint64_t)(unsigned char)ch) * 1099511628211ULL;
    }
    fclose(f);
    return h;
}

int qtd__watchdog_hangs(const char *data_dir, uint64_t script_hash)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/qthingd.hang", data_dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    uint64_t hash = 0;
    int count = 0;
    int n = fscanf(f, "%" SCNx64 " %d", &hash, &count);
    fclose(f);
    return n == 2 && hash == script_hash ? count : 0;
}

static void write_record(qtd_watchdog_t *w, int count)
{
    if (count == 0) {
        (void)unlink(w->record);
        return;
    }
    char text[64];
    int len = snprintf(text, sizeof(text), "%" PRIx64 " %d\n", w->script_hash, count);
    int fd = open(w->record, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        if (write(fd, text, (size_t)len) == len) {
            (void)fsync(fd);
        }
        close(fd);
    }
}

/* The loop's answer. */
static void on_ping(uv_async_t *h)
{
    qtd_watchdog_t *w = h->data;
    atomic_store(&w->ping_at, 0);
}

static void hang(qtd_watchdog_t *w, uint64_t stuck_ms)
{
    char what[256] = "";
    if (w->what != NULL) {
        w->what(w->what_arg, what, sizeof(what));
    }
    bool script = what[0] != '\0';
    if (!script) {
        snprintf(what, sizeof(what), "code outside the script (a plugin or the core)");
    }
    qtd_log_error("core",
                  "watchdog: the loop has been stuck for %.1f s (agent.watchdog_s is %.0f) in "
                  "%s: ending the agent for its supervisor to restart it; the outbox is on disk",
                  stuck_ms / 1000.0, w->limit_ms / 1000.0, what);
    if (w->commit != NULL) {
        w->commit(w->commit_arg);
    }
    /* Only the script's hangs count towards safe mode: it is what safe mode leaves out. */
    int hangs = qtd__watchdog_hangs(w->dir, w->script_hash) + (script ? 1 : 0);
    write_record(w, hangs);
    if (script && hangs >= QTD_WATCHDOG_SAFE_AFTER) {
        qtd_log_error("core",
                      "watchdog: %d hangs in a row with this script: the next start is in safe "
                      "mode (the script does not run until it changes)",
                      hangs);
    }
    _exit(QTD_EXIT_HUNG);
}

static void watch(void *arg)
{
    qtd_watchdog_t *w = arg;
    uv_mutex_lock(&w->lock);
    while (!w->stop) {
        (void)uv_cond_timedwait(&w->cond, &w->lock, 500 * 1000000ULL);
        if (w->stop) {
            break;
        }
        uint64_t now = now_ms();
        if (!w->cleared && now - w->started_ms > HEALTHY_MS) {
            w->cleared = true; /* a healthy minute: the hangs before it are forgiven */
            write_record(w, 0);
        }
        uint64_t deadline = atomic_load(&w->stop_deadline);
        if (deadline != 0 && now > deadline) {
            uv_mutex_unlock(&w->lock);
            qtd_log_error("core",
                          "watchdog: the shutdown has not finished within %.0f s: ending the "
                          "agent now (the outbox is on disk)",
                          2 * w->limit_ms / 1000.0);
            _exit(QTD_EXIT_HUNG);
        }
        uint64_t since = atomic_load(&w->ping_at);
        if (since == 0) {
            atomic_store(&w->ping_at, now);
            uv_async_send(&w->ping);
        } else if (now > since && now - since > w->limit_ms) {
            uv_mutex_unlock(&w->lock);
            hang(w, now - since);
        }
    }
    uv_mutex_unlock(&w->lock);
}

int qtd__watchdog_start(qtd_watchdog_t **out, uv_loop_t *loop, const qtd_watchdog_opts_t *o)
{
    *out = NULL;
    if (o->limit_s == 0) {
        return 0;
    }
    qtd_watchdog_t *w = qtd_calloc(1, sizeof(*w));
    if (w == NULL) {
        return QTD_ENOMEM;
    }
    w->limit_ms = o->limit_s * 1000;
    w->started_ms = now_ms();
    /* Answered by the first turn of the loop: the start-up before it counts. */
    atomic_store(&w->ping_at, w->started_ms);
    snprintf(w->dir, sizeof(w->dir), "%s", o->data_dir);
    snprintf(w->record, sizeof(w->record), "%s/qthingd.hang", w->dir);
    w->script_hash = o->script_hash;
    w->what = o->what;
    w->what_arg = o->what_arg;
    w->commit = o->commit;
    w->commit_arg = o->commit_arg;
    if (uv_mutex_init(&w->lock) != 0) {
        qtd_free(w);
        return QTD_ENOMEM;
    }
    if (uv_cond_init(&w->cond) != 0) {
        uv_mutex_destroy(&w->lock);
        qtd_free(w);
        return QTD_ENOMEM;
    }
    if (uv_async_init(loop, &w->ping, on_ping) != 0) {
        uv_cond_destroy(&w->cond);
        uv_mutex_destroy(&w->lock);
        qtd_free(w);
        return QTD_ENOMEM;
    }
    w->ping.data = w;
    /* Not counted by the loop's liveness: the watchdog never keeps the agent running. */
    uv_unref((uv_handle_t *)&w->ping);
    uv_async_send(&w->ping); /* the answer comes when the loop first runs */
    int rc = uv_thread_create(&w->thread, watch, w);
    if (rc != 0) {
        qtd_log_warn("core", "watchdog: cannot start its thread: %s", uv_strerror(rc));
    }
    w->thread_ok = rc == 0;
    *out = w;
    return 0;
}

static void on_close(uv_handle_t *h)
{
    qtd_watchdog_t *w = h->data;
    uv_cond_destroy(&w->cond);
    uv_mutex_destroy(&w->lock);
    qtd_free(w);
}

void qtd__watchdog_shutdown(qtd_watchdog_t *w)
{
    if (w != NULL) {
        atomic_store(&w->stop_deadline, now_ms() + 2 * w->limit_ms);
    }
}

void qtd__watchdog_stop(qtd_watchdog_t *w)
{
    if (w == NULL) {
        return;
    }
    uv_mutex_lock(&w->lock);
    w->stop = true;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->lock);
    if (w->thread_ok) {
        (void)uv_thread_join(&w->thread);
    }
    uv_close((uv_handle_t *)&w->ping, on_close);
}
