/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loop's watchdog (watchdog.c): a thread that ends a hung agent for its supervisor to
 * restart, and the record of hangs that puts a script that keeps hanging it aside.
 */
#ifndef QTD_AGENT_WATCHDOG_H
#define QTD_AGENT_WATCHDOG_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/* The exit code of an agent the watchdog ended. */
#define QTD_EXIT_HUNG 3
/* Hangs in a row of one script after which it does not run (safe mode). */
#define QTD_WATCHDOG_SAFE_AFTER 3

typedef struct qtd_watchdog_s qtd_watchdog_t;
/* What is running now, for the log line (called on the watchdog's thread). */
typedef void (*qtd_watchdog_what_cb)(void *arg, char *buf, size_t n);
/* Commit what can be committed without waiting (called on the watchdog's thread). */
typedef void (*qtd_watchdog_commit_cb)(void *arg);

typedef struct qtd_watchdog_opts_s {
    uint64_t limit_s; /* a loop turn longer than this is a hang; 0: no watchdog */
    const char *data_dir;
    uint64_t script_hash; /* qtd__watchdog_hash_file(script) */
    qtd_watchdog_what_cb what;
    void *what_arg;
    qtd_watchdog_commit_cb commit;
    void *commit_arg;
} qtd_watchdog_opts_t;

/* Start watching loop (call on the loop thread, before the script runs: its top level counts
 * as a turn). *out is NULL when limit_s is 0. Returns: 0, QTD_ENOMEM. */
int qtd__watchdog_start(qtd_watchdog_t **out, uv_loop_t *loop, const qtd_watchdog_opts_t *o);
/* The shutdown began: it must be over within twice the limit (SIGTERM always ends the
 * agent), else the watchdog ends the process. Accepts NULL. */
void qtd__watchdog_shutdown(qtd_watchdog_t *w);
/* Stop the thread and close the handles (freed when the loop runs). Accepts NULL. */
void qtd__watchdog_stop(qtd_watchdog_t *w);
/* FNV-1a of a file's bytes (0 when it cannot be read). */
uint64_t qtd__watchdog_hash_file(const char *path);
/* Hangs in a row recorded in data_dir for the script with this hash (0 for another). */
int qtd__watchdog_hangs(const char *data_dir, uint64_t script_hash);

#endif /* QTD_AGENT_WATCHDOG_H */
