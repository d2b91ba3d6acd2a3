/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's work that must not stall the loop, on a thread of its own with a connection of
 * its own: the whole-file quick_check of a database too big to check at open (a million
 * outbox rows take a second or more). A quick_check that fails leaves "<path>.check-failed"
 * beside the database: the next open moves the database aside as corrupt. WAL checkpoints
 * stay with SQLite's automatic checkpoint inside a commit, bounded in size by store.c: one
 * on another connection cannot restart the WAL while the loop keeps writing, so the WAL
 * would grow without bound under load. Not here: opening the database, the outbox
 * (store.c, store_data.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "agent/alloc.h"
#include "agent/log.h"
#include "store/store_internal.h"

#define BG_BUSY_TIMEOUT_MS 5000

struct qtd__store_bg_s {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    sqlite3 *db; /* the thread's connection */
    char *path;  /* borrowed from the store */
    bool stop;   /* under lock */
    bool check;  /* under lock: a quick_check is wanted */
};

static void check_failed(const char *path, const char *why)
{
    char mark[PATH_MAX + 16];
    snprintf(mark, sizeof(mark), "%s.check-failed", path);
    int fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ssize_t w = write(fd, why, strlen(why));
        (void)w;
        (void)fsync(fd);
        close(fd);
    }
    qtd_log_error(WHO,
                  "%s: quick_check found the database damaged: %s; it goes on as it is for "
                  "now and is moved aside (as corrupt) at the next start: restart the agent "
                  "when you can (%s marks it)",
                  path, why, mark);
}

static void run_check(qtd__store_bg_t *bg)
{
    sqlite3_stmt *s = NULL;
    char why[256] = "";
    int rc = sqlite3_prepare_v2(bg->db, "PRAGMA quick_check(1)", -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        snprintf(why, sizeof(why), "%s", t != NULL ? (const char *)t : "");
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) {
        snprintf(why, sizeof(why), "%s", sqlite3_errmsg(bg->db));
    }
    sqlite3_finalize(s);
    if (strcmp(why, "ok") == 0) {
        qtd_log_info(WHO, "%s: quick_check: ok", bg->path);
        return;
    }
    for (char *c = why; *c != '\0'; c++) {
        *c = *c == '\n' ? ' ' : *c; /* one log line */
    }
    check_failed(bg->path, why);
}

static void *bg_main(void *arg)
{
    qtd__store_bg_t *bg = arg;
    pthread_mutex_lock(&bg->lock);
    for (;;) {
        while (!bg->stop && !bg->check) {
            pthread_cond_wait(&bg->wake, &bg->lock);
        }
        if (bg->stop) {
            break;
        }
        bg->check = false;
        pthread_mutex_unlock(&bg->lock);
        run_check(bg);
        pthread_mutex_lock(&bg->lock);
    }
    pthread_mutex_unlock(&bg->lock);
    return NULL;
}

int qtd__store_bg_start(qtd_store_t *st)
{
    qtd__store_bg_t *bg = qtd_calloc(1, sizeof(*bg));
    if (bg == NULL) {
        return QTD_ENOMEM;
    }
    bg->path = st->path;
    if (sqlite3_open_v2(st->path, &bg->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        qtd_log_error(WHO, "%s: the quick_check connection: %s", st->path,
                      bg->db != NULL ? sqlite3_errmsg(bg->db) : "out of memory");
        sqlite3_close_v2(bg->db);
        qtd_free(bg);
        return QTD_EIO;
    }
    sqlite3_busy_timeout(bg->db, BG_BUSY_TIMEOUT_MS);
    (void)sqlite3_exec(bg->db, "PRAGMA cache_size = -64", NULL, NULL, NULL);
    if (pthread_mutex_init(&bg->lock, NULL) != 0 || pthread_cond_init(&bg->wake, NULL) != 0 ||
        pthread_create(&bg->thread, NULL, bg_main, bg) != 0) {
        qtd_log_error(WHO, "%s: cannot start the quick_check thread", st->path);
        sqlite3_close_v2(bg->db);
        qtd_free(bg);
        return QTD_EIO;
    }
    st->bg = bg;
    return 0;
}

void qtd__store_bg_check(qtd_store_t *st)
{
    qtd__store_bg_t *bg = st->bg;
    if (bg != NULL) {
        pthread_mutex_lock(&bg->lock);
        bg->check = true;
        pthread_cond_signal(&bg->wake);
        pthread_mutex_unlock(&bg->lock);
    }
}

void qtd__store_bg_stop(qtd_store_t *st)
{
    qtd__store_bg_t *bg = st->bg;
    if (bg == NULL) {
        return;
    }
    pthread_mutex_lock(&bg->lock);
    bg->stop = true;
    pthread_cond_signal(&bg->wake);
    pthread_mutex_unlock(&bg->lock);
    pthread_join(bg->thread, NULL); /* a quick_check under way finishes first */
    sqlite3_close_v2(bg->db);
    pthread_mutex_destroy(&bg->lock);
    pthread_cond_destroy(&bg->wake);
    qtd_free(bg);
    st->bg = NULL;
}

bool qtd__store_check_failed_before(const char *path)
{
    char mark[PATH_MAX + 16];
    snprintf(mark, sizeof(mark), "%s.check-failed", path);
    return access(mark, F_OK) == 0;
}

void qtd__store_check_mark_clear(const char *path)
{
    char mark[PATH_MAX + 16];
    snprintf(mark, sizeof(mark), "%s.check-failed", path);
    if (unlink(mark) != 0 && errno != ENOENT) {
        qtd_log_warn(WHO, "%s: cannot remove: %s", mark, strerror(errno));
    }
}
