/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's persistent store: one SQLite database in WAL mode holding `kv` (settings and
 * identity, the device secret included, so the file is created 0600) and `outbox` (the
 * store-and-forward queue of uplinks with mode >= 1). Writes are group-committed: the first
 * write opens a transaction and qtd_store_commit(), called once per loop turn by the core,
 * ends it, so a burst costs one fsync. A corrupt or unreadable database is moved aside
 * (renamed "<path>.corrupt-<unix time>") with a loud log line and a fresh one is created.
 * Runs on the loop thread only; not thread-safe. Does not know about libuv or MQTT.
 */
#ifndef QTD_STORE_STORE_H
#define QTD_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "qthingd/plugin.h"

typedef struct qtd_store_s qtd_store_t;

typedef struct qtd_store_opts_s {
    uint64_t outbox_cap_bytes; /* 0 = no cap; payload bytes kept in the outbox at most */
    /* Called with the number of rows the cap just dropped (drop-oldest); may be NULL. Runs
     * inside qtd_store_outbox_put, after the old rows are deleted and before the new one is
     * inserted: it must not call qtd_store_outbox_put or qtd_store_close. */
    void (*on_drop)(void *arg, uint64_t rows);
    void *on_drop_arg;
    /* Called (with on_drop_arg) when a commit fails and the rows put since the last commit
     * are gone (disk full, I/O error): their ids are first..last (rows of them); may be
     * NULL. Runs inside qtd_store_commit. */
    void (*on_lost)(void *arg, int64_t first, int64_t last, uint64_t rows);
} qtd_store_opts_t;

/* Open or create the database at path (parent directory must exist); opts may be NULL (no
 * cap) and is copied. A database of 8 MiB or more (with its WAL) opens at once: its
 * quick_check runs on the store's thread (a failure is logged and the database moved aside
 * at the next open) and its outbox totals are counted by qtd_store_tick, while the outbox cap
 * waits for them. WAL checkpoints run on that thread too (PASSIVE), never inside a commit
 * of the caller's unless the thread falls behind by a whole checkpoint's worth. The file (and its
 * -wal/-shm) is created or tightened to mode 0600. The schema is migrated to the newest version. A
 * corrupt file is renamed
 * "<path>.corrupt-<unix time>" (with its -wal/-shm) and a fresh database is created; this is
 * logged as an error naming the new location. A file this user may not read and write is
 * never moved aside (it holds the device secret and the outbox): the error names the fix.
 * Returns: 0, QTD_EINVAL (NULL out or path), QTD_EACCES (permissions), QTD_EIO (cannot
 * open, cannot move a bad file aside, cannot create even a fresh file), QTD_ENOMEM. On error
 * *out is NULL. */
int qtd_store_open(qtd_store_t **out, const char *path, const qtd_store_opts_t *opts);
/* Commit pending writes, checkpoint (wal_checkpoint(TRUNCATE)), close. Accepts NULL. */
void qtd_store_close(qtd_store_t *st);
/* Commit the open write transaction if any (every write since the last commit; a crash
 * before it loses them all, never a part). If SQLite rolled the transaction back, the
 * writes are lost and logged; if it was only busy, the next commit retries.
 * Returns: 0, QTD_EIO, QTD_EINVAL (NULL st). */
int qtd_store_commit(qtd_store_t *st);
/* The store's work in small steps, once per loop turn: the outbox totals of a big database
 * (see qtd_store_open) are counted a chunk at a time (a few milliseconds). Returns 1 while
 * work is left (call again soon), 0 when none, QTD_EIO. */
int qtd_store_tick(qtd_store_t *st);
/* Deletions alone wait at most this long, or for this many of them, before a flush commits
 * them. */
#define QTD_STORE_DEL_DELAY_MS 200
#define QTD_STORE_DEL_BATCH 1024
/* Commit what must not wait: the open transaction when it holds outbox puts or kv writes
 * (what was written before it was sent or acted on), or outbox deletions that waited
 * QTD_STORE_DEL_DELAY_MS or number QTD_STORE_DEL_BATCH. Deletions alone otherwise stay in the
 * open transaction, which saves a commit per acknowledgement: a crash before they are
 * committed sends those rows again (at least once). Returns 1 when something waits (flush
 * again, or commit, within QTD_STORE_DEL_DELAY_MS), else what qtd_store_commit returns. */
int qtd_store_flush(qtd_store_t *st);
/* From another thread while the loop thread is stuck (the watchdog): commit unless the
 * connection is in use right now. Logs nothing. Returns: 0, QTD_EBUSY (in use: nothing
 * done), QTD_EIO, QTD_EINVAL. */
int qtd_store_commit_if_idle(qtd_store_t *st);
/* What was found missing at open, compared with the side record <path>.state: the number
 * of outbox rows (or, for a database that came back new or empty, the highest outbox id it
 * had held); 0 when nothing is missing. The loss is logged at open. */
int64_t qtd_store_lost_at_open(qtd_store_t *st);
/* Outbox rows lost this run because their commit failed (see on_lost). */
uint64_t qtd_store_outbox_lost(qtd_store_t *st);
/* The same as qtd_store_commit, and the WAL synced to the disk before it returns, for what must
 * survive a power cut the moment it is written (a device secret). Returns: 0, QTD_EINVAL, QTD_EIO.
 */
int qtd_store_commit_durable(qtd_store_t *st);
/* The schema version of the open database (migrations bring it to the newest). */
int qtd_store_schema_version(qtd_store_t *st);

/* kv: values are binary (may contain NUL bytes). get: *val is allocated with qtd_malloc
 * (free with qtd_free), NUL-terminated; len (may be NULL) excludes the NUL; *val is NULL on
 * error. set: overwrites; val may be NULL when len is 0. del: QTD_ENOENT if the key was not
 * there. set/del join the open write transaction (see qtd_store_commit); get sees it.
 * Returns: 0, QTD_ENOENT (get, del), QTD_EIO, QTD_ENOMEM (get), QTD_EINVAL (NULL st, key,
 * val). */
int qtd_store_kv_get(qtd_store_t *st, const char *key, char **val, size_t *len);
int qtd_store_kv_set(qtd_store_t *st, const char *key, const void *val, size_t len);
int qtd_store_kv_del(qtd_store_t *st, const char *key);

/* outbox. put stores a copy of topic and payload (payload may be NULL when len is 0) in the
 * open write transaction and sets *id (may be NULL) to the new row id; ids increase and are
 * never reused. It may drop the oldest rows to stay under the cap (counted, on_drop called,
 * a rate-limited warning logged). A single payload larger than the cap is refused with
 * QTD_EMSGSIZE and drops nothing.
 * Returns: 0, QTD_EMSGSIZE, QTD_EIO, QTD_EINVAL (NULL st or topic). */
int qtd_store_outbox_put(qtd_store_t *st, const char *topic, int qos, const void *payload,
                         size_t len, int64_t *id);
/* Rows with id > after_id in id order, at most limit (0 = no limit), streamed (bounded
 * memory), uncommitted rows included. cb returning non-zero stops the walk (still 0). topic
 * and payload are borrowed for the duration of the call. cb may call qtd_store_outbox_del
 * (e.g. on the row it is given), kv_*, commit and peek; not qtd_store_close.
 * Returns: 0, QTD_EIO, QTD_EINVAL (NULL st or cb). */
int qtd_store_outbox_peek(qtd_store_t *st, int64_t after_id, size_t limit, qtd_outbox_cb cb,
                          void *arg);
/* Delete row id, or every row with first <= id <= last, in the open write transaction.
 * Returns: 0 (also when the rows are already gone), QTD_EIO, QTD_EINVAL (NULL st). */
int qtd_store_outbox_del(qtd_store_t *st, int64_t id);
int qtd_store_outbox_del_range(qtd_store_t *st, int64_t first, int64_t last);
/* Rows in the outbox and the sum of their payload lengths (either pointer may be NULL),
 * uncommitted writes included; kept in memory, no I/O. Returns: 0, QTD_EINVAL (NULL st). */
int qtd_store_outbox_count(qtd_store_t *st, uint64_t *rows, uint64_t *bytes);
/* When the oldest row was written (unix seconds), 0 for an empty outbox. Returns: 0,
 * QTD_EIO, QTD_EINVAL. */
int qtd_store_outbox_oldest(qtd_store_t *st, int64_t *created);
/* Rows dropped by the cap since the database was created (persisted). */
uint64_t qtd_store_outbox_dropped(qtd_store_t *st);

#endif /* QTD_STORE_STORE_H */
