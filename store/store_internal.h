/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to store/: the layout of the store and the helpers its two files share (store.c
 * opens, commits and closes; store_data.c reads and writes the kv table and the outbox).
 * Nothing outside store/ includes this header.
 */
#ifndef QTD_STORE_STORE_INTERNAL_H
#define QTD_STORE_STORE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"

#define WHO "store"
#define DROP_LOG_INTERVAL_S 60
#define LOST_LOG_INTERVAL_S 10

/* Prepared statements kept for the life of the store (the hot paths). */
#define STMT_MAP(XX)                                                                               \
    XX(KV_GET, "SELECT value FROM kv WHERE key = ?1")                                              \
    XX(KV_SET, "INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)")                           \
    XX(KV_DEL, "DELETE FROM kv WHERE key = ?1")                                                    \
    XX(OB_PUT, "INSERT INTO outbox (created, topic, qos, payload) VALUES (?1, ?2, ?3, ?4)")        \
    XX(OB_PEEK, "SELECT id, topic, qos, payload FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2")   \
    XX(OB_RANGE_LEN, "SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox "             \
                     "WHERE id BETWEEN ?1 AND ?2")                                                 \
    XX(OB_RANGE_DEL, "DELETE FROM outbox WHERE id BETWEEN ?1 AND ?2")                              \
    XX(OB_OLDEST, "SELECT id, length(payload) FROM outbox ORDER BY id")                            \
    XX(OB_DROP, "DELETE FROM outbox WHERE id <= ?1")                                               \
    XX(DROPPED_ADD, "UPDATE meta SET value = value + ?1 WHERE key = 'outbox_dropped'")             \
    XX(OB_COUNT,                                                                                   \
       "SELECT count(*), coalesce(sum(length(payload)), 0), max(id) FROM "                         \
       "(SELECT id, payload FROM outbox WHERE id > ?1 AND id <= ?2 ORDER BY id LIMIT ?3)")         \
    XX(TX_BEGIN, "BEGIN IMMEDIATE")                                                                \
    XX(TX_COMMIT, "COMMIT")

enum {
#define STMT_ENUM_(name, sql) STMT_##name,
    STMT_MAP(STMT_ENUM_)
#undef STMT_ENUM_
        STMT_COUNT
};

typedef struct qtd__store_bg_s qtd__store_bg_t;

struct qtd_store_s {
    sqlite3 *db;
    char *path;
    qtd_store_opts_t opts;
    int version;
    uint64_t rows;    /* outbox rows, committed or not, as this connection sees them */
    uint64_t bytes;   /* sum of the payload lengths of those rows */
    uint64_t dropped; /* meta.outbox_dropped */
    /* Outbox rows put in the open transaction (first..last ids, how many), and the rows
     * lost so far this run because a commit failed (disk full, I/O error). */
    int64_t txn_first;
    int64_t txn_last;
    uint64_t txn_rows;
    /* What else the open transaction holds: kv writes (committed at the next flush), and
     * outbox deletions alone (they may wait: see qtd_store_flush), since when (ms). */
    bool txn_kv;
    uint64_t txn_dels;
    int64_t txn_dels_since_ms;
    uint64_t lost;
    /* Failed commits are logged at most every LOST_LOG_INTERVAL_S seconds. */
    int64_t lost_logged_at;
    uint64_t lost_unlogged;
    uint64_t commit_failures;
    /* The side record (store_record.c). */
    bool created;         /* the schema was created at this open: a new database */
    int64_t max_id;       /* the highest outbox id committed */
    int64_t record_at;    /* when the record was last written */
    int64_t lost_at_open; /* rows found missing at open (0: none) */
    /* Cap warnings are rate-limited: the first drop is logged at once, later ones are
     * summed and logged at most every DROP_LOG_INTERVAL_S seconds (and at close). */
    bool drop_logged;
    int64_t drop_logged_at;
    uint64_t drop_unlogged;
    sqlite3_stmt *stmt[STMT_COUNT];
    /* A big database's totals are counted a chunk per qtd_store_tick after open: rows with
     * count_upto < id <= count_end are not in rows/bytes yet (those above count_end, put
     * since, are). */
    bool totals_known;
    int64_t count_upto;
    int64_t count_end;
    qtd__store_bg_t *bg; /* store_bg.c: the quick_check of a big database, off the loop */
};

/* The SQL of each statement (store.c). */
extern const char *const qtd__store_stmt_sql[STMT_COUNT];

/* Log the error of the last SQLite call on st->db once and map it to a QTD_E* code. */
int qtd__store_db_error(qtd_store_t *st, const char *what);
/* Log a failed system call on the store's files once. Returns QTD_EIO. */
int qtd__store_errno(qtd_store_t *st, const char *what, int err);
/* Open the group-commit transaction unless one is open. Returns: 0, QTD_EIO. */
int qtd__store_begin_write(qtd_store_t *st);
/* After a failed write: the in-memory totals follow what the database now holds. */
void qtd__store_write_failed(qtd_store_t *st);
/* Log the drops not logged yet (rate-limited cap warnings). */
void qtd__store_flush_drop_log(qtd_store_t *st);
/* store_record.c: compare the database with <path>.state at open (logs a loss), write the
 * record now, or when RECORD_INTERVAL_S passed since the last time. */
void qtd__store_record_check(qtd_store_t *st);
void qtd__store_record_write(qtd_store_t *st);
void qtd__store_record_maybe(qtd_store_t *st);
/* store_bg.c: start the thread, ask it for a quick_check, stop it (waits for a check under
 * way). A failed quick_check leaves a mark that the next open reads (and clears once the
 * database is moved aside). */
int qtd__store_bg_start(qtd_store_t *st);
void qtd__store_bg_check(qtd_store_t *st);
void qtd__store_bg_stop(qtd_store_t *st);
bool qtd__store_check_failed_before(const char *path);
void qtd__store_check_mark_clear(const char *path);
/* Monotonic seconds, milliseconds. */
int64_t qtd__store_now_s(void);
int64_t qtd__store_now_ms(void);

#endif /* QTD_STORE_STORE_INTERNAL_H */
