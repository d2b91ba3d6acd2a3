/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's data: the kv table (settings, identity) and the outbox (store and forward)
 * with its disk cap, on the prepared statements store.c made at open. Every write joins the
 * group-commit transaction (qtd__store_begin_write); the outbox totals kept in memory make
 * the cap check on put cost nothing. Not here: opening, migrations, commit (store.c).
 */
#include "store/store.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "agent/alloc.h"
#include "agent/log.h"
#include "store/store_internal.h"

/* Bind a blob that is never SQL NULL (a zero-length blob when len is 0). */
static int bind_blob(sqlite3_stmt *s, int i, const void *p, size_t len)
{
    if (len == 0) {
        return sqlite3_bind_zeroblob(s, i, 0);
    }
    return sqlite3_bind_blob64(s, i, p, (sqlite3_uint64)len, SQLITE_STATIC);
}

/* Step a statement that returns no row, then reset it and clear its bindings. */
static int step_done(qtd_store_t *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    int err = rc == SQLITE_DONE ? 0 : qtd__store_db_error(st, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return err;
}

int qtd_store_kv_get(qtd_store_t *st, const char *key, char **val, size_t *len)
{
    if (st == NULL || key == NULL || val == NULL) {
        return QTD_EINVAL;
    }
    *val = NULL;
    sqlite3_stmt *s = st->stmt[STMT_KV_GET];
    int err = 0;
    if (sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC) != SQLITE_OK) {
        err = qtd__store_db_error(st, "kv_get bind");
        goto done;
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        err = QTD_ENOENT;
        goto done;
    }
    if (rc != SQLITE_ROW) {
        err = qtd__store_db_error(st, "kv_get");
        goto done;
    }
    const void *p = sqlite3_column_blob(s, 0);
    size_t n = (size_t)sqlite3_column_bytes(s, 0);
    char *buf = qtd_malloc(n + 1);
    if (buf == NULL) {
        err = QTD_ENOMEM;
        goto done;
    }
    if (n > 0) {
        memcpy(buf, p, n);
    }
    buf[n] = '\0';
    *val = buf;
    if (len != NULL) {
        *len = n;
    }

done:
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return err;
}

int qtd_store_kv_set(qtd_store_t *st, const char *key, const void *val, size_t len)
{
    if (st == NULL || key == NULL || (val == NULL && len > 0)) {
        return QTD_EINVAL;
    }
    int err = qtd__store_begin_write(st);
    if (err != 0) {
        return err;
    }
    st->txn_kv = true;
    sqlite3_stmt *s = st->stmt[STMT_KV_SET];
    if (sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        bind_blob(s, 2, val, len) != SQLITE_OK) {
        err = qtd__store_db_error(st, "kv_set bind");
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return err;
    }
    return step_done(st, s, "kv_set");
}

int qtd_store_kv_del(qtd_store_t *st, const char *key)
{
    if (st == NULL || key == NULL) {
        return QTD_EINVAL;
    }
    int err = qtd__store_begin_write(st);
    if (err != 0) {
        return err;
    }
    st->txn_kv = true;
    sqlite3_stmt *s = st->stmt[STMT_KV_DEL];
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    err = step_done(st, s, "kv_del");
    if (err == 0 && sqlite3_changes(st->db) == 0) {
        err = QTD_ENOENT;
    }
    return err;
}

/* Note rows dropped by the cap: counter already bumped; log (rate-limited) and call on_drop. */
static void report_drop(qtd_store_t *st, uint64_t n)
{
    int64_t now = qtd__store_now_s();
    st->drop_unlogged += n;
    if (!st->drop_logged) {
        qtd_log_warn(WHO,
                     "outbox reached its cap of %" PRIu64 " bytes: dropped the %" PRIu64
                     " oldest rows (%" PRIu64 " dropped in total); further drops are logged "
                     "at most every %ds",
                     st->opts.outbox_cap_bytes, n, st->dropped, DROP_LOG_INTERVAL_S);
        st->drop_logged = true;
        st->drop_unlogged = 0;
        st->drop_logged_at = now;
    } else if (now - st->drop_logged_at >= DROP_LOG_INTERVAL_S) {
        qtd__store_flush_drop_log(st);
    }
    if (st->opts.on_drop != NULL) {
        st->opts.on_drop(st->opts.on_drop_arg, n);
    }
}

/* Delete the oldest rows until at least need payload bytes are freed (inside the open
 * transaction), and count them in meta.outbox_dropped. */
static int drop_oldest(qtd_store_t *st, uint64_t need)
{
    sqlite3_stmt *s = st->stmt[STMT_OB_OLDEST];
    uint64_t freed = 0, n = 0;
    int64_t last = 0;
    int rc = SQLITE_ROW;
    while (freed < need && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        last = sqlite3_column_int64(s, 0);
        freed += (uint64_t)sqlite3_column_int64(s, 1);
        n++;
    }
    int err =
        (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : qtd__store_db_error(st, "outbox cap scan");
    sqlite3_reset(s);
    if (err != 0 || n == 0) {
        return err;
    }
    s = st->stmt[STMT_OB_DROP];
    sqlite3_bind_int64(s, 1, last);
    err = step_done(st, s, "outbox cap delete");
    if (err != 0) {
        return err;
    }
    if (st->version >= 2) {
        s = st->stmt[STMT_DROPPED_ADD];
        sqlite3_bind_int64(s, 1, (sqlite3_int64)n);
        err = step_done(st, s, "outbox dropped counter");
        if (err != 0) {
            return err;
        }
    }
    if (st->rows < n || st->bytes < freed) {
        qtd__store_write_failed(st); /* re-read the totals rather than wrap around */
    } else {
        st->rows -= n;
        st->bytes -= freed;
    }
    st->dropped += n;
    report_drop(st, n);
    return 0;
}

int qtd_store_outbox_put(qtd_store_t *st, const char *topic, int qos, const void *payload,
                         size_t len, int64_t *id)
{
    if (st == NULL || topic == NULL || (payload == NULL && len > 0)) {
        return QTD_EINVAL;
    }
    uint64_t cap = st->opts.outbox_cap_bytes;
    if ((cap != 0 && len > cap) || len > (size_t)sqlite3_limit(st->db, SQLITE_LIMIT_LENGTH, -1)) {
        qtd_log_warn(WHO,
                     "outbox: payload of %zu bytes for %s refused: larger than the cap of "
                     "%" PRIu64 " bytes",
                     len, topic,
                     cap != 0 ? cap : (uint64_t)sqlite3_limit(st->db, SQLITE_LIMIT_LENGTH, -1));
        return QTD_EMSGSIZE;
    }
    int err = qtd__store_begin_write(st);
    if (err != 0) {
        return err;
    }
    /* While a big database is still being counted (qtd_store_tick), the cap waits. */
    if (cap != 0 && st->totals_known && st->bytes + len > cap) {
        err = drop_oldest(st, st->bytes + len - cap);
        if (err != 0) {
            goto fail;
        }
    }
    sqlite3_stmt *s = st->stmt[STMT_OB_PUT];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)time(NULL));
    sqlite3_bind_text(s, 2, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, qos);
    if (bind_blob(s, 4, payload, len) != SQLITE_OK) {
        err = qtd__store_db_error(st, "outbox_put bind");
        sqlite3_clear_bindings(s);
        goto fail;
    }
    err = step_done(st, s, "outbox_put");
    if (err != 0) {
        goto fail;
    }
    st->rows++;
    st->bytes += len;
    int64_t row = (int64_t)sqlite3_last_insert_rowid(st->db);
    if (st->txn_rows++ == 0) {
        st->txn_first = row; /* rows of the open transaction: lost if it rolls back */
    }
    st->txn_last = row;
    if (id != NULL) {
        *id = row;
    }
    return 0;

fail:
    qtd__store_write_failed(st);
    return err;
}

int qtd_store_outbox_peek(qtd_store_t *st, int64_t after_id, size_t limit, qtd_outbox_cb cb,
                          void *arg)
{
    if (st == NULL || cb == NULL) {
        return QTD_EINVAL;
    }
    sqlite3_stmt *s = st->stmt[STMT_OB_PEEK];
    sqlite3_stmt *own = NULL;
    if (sqlite3_stmt_busy(s)) {
        /* Called from inside another walk's callback: use a statement of our own. */
        if (sqlite3_prepare_v2(st->db, qtd__store_stmt_sql[STMT_OB_PEEK], -1, &own, NULL) !=
            SQLITE_OK) {
            return qtd__store_db_error(st, "outbox_peek prepare");
        }
        s = own;
    }
    sqlite3_bind_int64(s, 1, after_id);
    /* LIMIT -1 is no limit. Compared as 64 bits: a 32-bit size_t never exceeds INT64_MAX. */
    uint64_t lim = limit;
    sqlite3_bind_int64(s, 2, lim == 0 || lim > INT64_MAX ? -1 : (sqlite3_int64)lim);
    int err = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        const unsigned char *topic = sqlite3_column_text(s, 1);
        int qos = sqlite3_column_int(s, 2);
        const void *payload = sqlite3_column_blob(s, 3);
        size_t len = (size_t)sqlite3_column_bytes(s, 3);
        if (cb(arg, id, topic != NULL ? (const char *)topic : "", qos,
               payload != NULL ? payload : "", len) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        err = qtd__store_db_error(st, "outbox_peek");
    }
    if (own != NULL) {
        sqlite3_finalize(own);
    } else {
        sqlite3_reset(s);
    }
    return err;
}

int qtd_store_outbox_del(qtd_store_t *st, int64_t id)
{
    return qtd_store_outbox_del_range(st, id, id);
}

/* Rows and payload bytes with first <= id <= last (adds to *n, *len). */
static int range_totals(qtd_store_t *st, int64_t first, int64_t last, uint64_t *n, uint64_t *len)
{
    if (last < first) {
        return 0;
    }
    sqlite3_stmt *s = st->stmt[STMT_OB_RANGE_LEN];
    sqlite3_bind_int64(s, 1, first);
    sqlite3_bind_int64(s, 2, last);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *n += (uint64_t)sqlite3_column_int64(s, 0);
        *len += (uint64_t)sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : qtd__store_db_error(st, "outbox_del lookup");
}

int qtd_store_outbox_del_range(qtd_store_t *st, int64_t first, int64_t last)
{
    if (st == NULL) {
        return QTD_EINVAL;
    }
    if (last < first) {
        return 0;
    }
    /* How many and how long first (the totals need it): DELETE ... RETURNING would cost a
     * statement journal per call inside the group-commit transaction. Rows of a big
     * database not counted yet (count_upto < id <= count_end) are not in the totals: they
     * are left out here too. */
    uint64_t n = 0;
    uint64_t len = 0;
    int err = 0;
    if (st->totals_known) {
        err = range_totals(st, first, last, &n, &len);
        if (err != 0 || n == 0) {
            return err; /* already gone: fine */
        }
    } else {
        err = range_totals(st, first, last < st->count_upto ? last : st->count_upto, &n, &len);
        if (err == 0) {
            err =
                range_totals(st, first > st->count_end ? first : st->count_end + 1, last, &n, &len);
        }
        if (err != 0) {
            return err;
        }
    }
    err = qtd__store_begin_write(st);
    if (err != 0) {
        return err;
    }
    sqlite3_stmt *s = st->stmt[STMT_OB_RANGE_DEL];
    sqlite3_bind_int64(s, 1, first);
    sqlite3_bind_int64(s, 2, last);
    err = step_done(st, s, "outbox_del");
    if (err != 0) {
        qtd__store_write_failed(st);
        return err;
    }
    uint64_t changes = (uint64_t)sqlite3_changes(st->db);
    if (changes > 0 && st->txn_dels == 0) {
        st->txn_dels_since_ms = qtd__store_now_ms();
    }
    st->txn_dels += changes;
    if ((st->totals_known && changes != n) || st->rows < n || st->bytes < len) {
        /* The totals no longer match the file (written by something else?): read them
         * from the database again rather than wrap around. */
        qtd__store_write_failed(st);
    } else {
        st->rows -= n;
        st->bytes -= len;
    }
    return 0;
}

int qtd_store_outbox_count(qtd_store_t *st, uint64_t *rows, uint64_t *bytes)
{
    if (st == NULL) {
        return QTD_EINVAL;
    }
    if (rows != NULL) {
        *rows = st->rows;
    }
    if (bytes != NULL) {
        *bytes = st->bytes;
    }
    return 0;
}

uint64_t qtd_store_outbox_dropped(qtd_store_t *st)
{
    return st != NULL ? st->dropped : 0;
}
