/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's side record, <database>.state: a few numbers written atomically and synced
 * beside the database (the highest outbox id written, the number of settings) so that a
 * database that comes back smaller than it was is called lost, loudly, with what went with
 * it. SQLite cannot tell: a WAL cut short or damaged ends at the last frame that checks,
 * and a 0-byte file is simply a new database. Written at open, after a commit at most every
 * RECORD_INTERVAL_S, and at close; a power cut can leave it a little behind the database,
 * never ahead of what was committed. Not here: the database itself (store.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "agent/log.h"
#include "store/store_internal.h"

#define RECORD_INTERVAL_S 10

static int64_t query(qtd_store_t *st, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        v = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}

void qtd__store_record_write(qtd_store_t *st)
{
    char path[PATH_MAX];
    char tmp[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s.state", st->path);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    char text[96];
    int len = snprintf(text, sizeof(text), "seq %" PRId64 "\nkv %" PRId64 "\n", st->max_id,
                       query(st, "SELECT count(*) FROM kv"));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return;
    }
    bool ok = write(fd, text, (size_t)len) == len && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        (void)unlink(tmp);
        return;
    }
    st->record_at = qtd__store_now_s();
}

void qtd__store_record_maybe(qtd_store_t *st)
{
    if (qtd__store_now_s() - st->record_at >= RECORD_INTERVAL_S) {
        qtd__store_record_write(st);
    }
}

void qtd__store_record_check(qtd_store_t *st)
{
    st->max_id = query(st, "SELECT coalesce(max(seq), 0) FROM sqlite_sequence "
                           "WHERE name = 'outbox'");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s.state", st->path);
    FILE *f = fopen(path, "r");
    int64_t seq = 0;
    int64_t kv = 0;
    bool known = f != NULL && fscanf(f, "seq %" SCNd64 "\nkv %" SCNd64, &seq, &kv) == 2;
    if (f != NULL) {
        fclose(f);
    }
    if (known && st->created && (seq > 0 || kv > 0)) {
        qtd_log_error("store",
                      "%s: the database was LOST: it is new or empty, but it held %" PRId64
                      " settings and outbox rows up to id %" PRId64 "; restore a backup if "
                      "there is one: an identity the plugins kept there (a device secret) is "
                      "gone, and a platform that issued it may refuse the device until it is "
                      "reset there",
                      st->path, kv, seq);
        st->lost_at_open = seq;
    } else if (known && seq > st->max_id) {
        qtd_log_error("store",
                      "%s: %" PRId64 " outbox rows written before are missing (ids %" PRId64
                      "..%" PRId64 "): the database or its WAL was damaged or cut short, or "
                      "the power failed before a checkpoint",
                      st->path, seq - st->max_id, st->max_id + 1, seq);
        st->lost_at_open = seq - st->max_id;
    }
    qtd__store_record_write(st);
}
