/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's store on SQLite, its life: opening (file mode 0600, WAL, schema migrations
 * from store/schema.sql, corruption recovery), group commit and closing. The kv table and
 * the outbox with its disk cap are in store_data.c.
 * Writes are group-committed: the first write after a commit opens BEGIN IMMEDIATE and
 * qtd_store_commit() (once per loop turn) ends it; reads on the same connection see the
 * uncommitted rows. The outbox row and byte totals and the dropped counter are kept in memory
 * (computed at open, resynchronised from the database after a failed write) so that the cap
 * check on put costs nothing. Not here: when to commit or checkpoint (the core decides),
 * anything about MQTT. Loop thread only; one connection per store.
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "agent/alloc.h"
#include "agent/log.h"
#include "store/store_internal.h"
#include "store_schema.h"

#define BUSY_TIMEOUT_MS 5000
#define MAX_MIGRATIONS 64
#define CACHE_KIB 256 /* SQLite's page cache, KiB */
/* A database (with its WAL) this big or bigger is checked and counted after open. */
#define CHECK_INLINE_MAX (8 << 20)
#define CHECKPOINT_PAGES 256
#define COUNT_CHUNK 5000 /* outbox rows counted a qtd_store_tick: a few ms from a cold disk */
#define STR_(x) #x
#define STR(x) STR_(x)

const char *const qtd__store_stmt_sql[STMT_COUNT] = {
#define STMT_SQL_(name, sql) sql,
    STMT_MAP(STMT_SQL_)
#undef STMT_SQL_
};

/* What an attempt to open the database came to. */
enum { OPEN_OK = 0, OPEN_BAD, OPEN_FAIL, OPEN_DENIED };

typedef struct migration_s {
    int num;
    const char *sql;
    size_t len;
} migration_t;

int64_t qtd__store_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t qtd__store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Log the error of the last SQLite call on st->db once and map it to a QTD_E* code. */
int qtd__store_db_error(qtd_store_t *st, const char *what)
{
    qtd_log_error(WHO, "%s: %s failed: %s (sqlite %d)", st->path, what, sqlite3_errmsg(st->db),
                  sqlite3_extended_errcode(st->db));
    return QTD_EIO;
}

/* Whether an SQLite result code means "this file is not a sound database". */
static bool is_corrupt(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

/* Result of an open step: OPEN_BAD for corruption, else OPEN_FAIL (after logging). */
static int open_step_failed(qtd_store_t *st, const char *what, int rc)
{
    qtd__store_db_error(st, what);
    return is_corrupt(rc) ? OPEN_BAD : OPEN_FAIL;
}

/* Tighten an existing file to 0600 (it may hold the device secret). */
static void tighten_mode(const char *path, int fd)
{
    struct stat sb;
    int rc = fd >= 0 ? fstat(fd, &sb) : stat(path, &sb);
    if (rc != 0 || (sb.st_mode & 0077) == 0) {
        return;
    }
    rc = fd >= 0 ? fchmod(fd, 0600) : chmod(path, 0600);
    if (rc != 0) {
        qtd_log_warn(WHO, "%s: mode %03o is too open and chmod 0600 failed: %s", path,
                     (unsigned)(sb.st_mode & 0777), strerror(errno));
    } else {
        qtd_log_info(WHO, "%s: mode %03o tightened to 600", path, (unsigned)(sb.st_mode & 0777));
    }
}

/*
 * Create the database file ourselves with mode 0600 before SQLite opens it: SQLite would
 * use 0644, and it gives the -wal and -shm files the mode of the database file. An existing
 * file (and its -wal/-shm) is tightened to 0600. A file we cannot open for permissions is
 * OPEN_FAIL like other failures: it is not corrupt, and moving it aside would lose the
 * device secret and the outbox over a wrong user or mode.
 */
static int prepare_file(qtd_store_t *st)
{
    int fd = open(st->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int err = errno;
        struct stat sb;
        if ((err == EACCES || err == EPERM) && lstat(st->path, &sb) == 0) {
            /* Not corrupt: it holds the device secret and the outbox. Never moved aside. */
            if (sb.st_uid == geteuid()) {
                qtd_log_error(WHO,
                              "%s: cannot open for reading and writing: %s; the file is "
                              "this user's but mode %03o: give it back read and write "
                              "permission (chmod 600 %s)",
                              st->path, strerror(err), (unsigned)(sb.st_mode & 0777), st->path);
            } else {
                qtd_log_error(WHO,
                              "%s: cannot open for reading and writing: %s; run the agent as "
                              "the file's owner (uid %u) or chown it to this user (uid %u)",
                              st->path, strerror(err), (unsigned)sb.st_uid, (unsigned)geteuid());
            }
            return OPEN_DENIED;
        }
        qtd_log_error(WHO, "%s: cannot open or create the database file: %s", st->path,
                      strerror(err));
        return OPEN_FAIL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        qtd_log_error(WHO, "%s: not a regular file", st->path);
        close(fd);
        return OPEN_FAIL;
    }
    tighten_mode(st->path, fd);
    close(fd);

    static const char *const sfx[] = {"-wal", "-shm"};
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        char side[PATH_MAX];
        snprintf(side, sizeof(side), "%s%s", st->path, sfx[i]);
        if (access(side, F_OK) != 0) {
            continue;
        }
        if (access(side, R_OK | W_OK) != 0) {
            qtd_log_error(WHO,
                          "%s: not readable and writable: %s; run the agent as the "
                          "database's owner or chown the data directory to this user",
                          side, strerror(errno));
            return OPEN_FAIL;
        }
        tighten_mode(side, -1);
    }
    return OPEN_OK;
}

/* Run a single-row pragma or query and copy the first column as text. */
static int query_text(sqlite3 *db, const char *sql, char *buf, size_t size)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        return rc;
    }
    buf[0] = '\0';
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        snprintf(buf, size, "%s", t != NULL ? (const char *)t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

static int query_int64(sqlite3 *db, const char *sql, int64_t *v)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        return rc;
    }
    *v = 0;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int64(s, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

int qtd_store_outbox_oldest(qtd_store_t *st, int64_t *created)
{
    if (st == NULL || st->db == NULL) {
        return QTD_EINVAL;
    }
    /* the oldest row first: the primary key's order, one row read */
    return query_int64(st->db, "SELECT created FROM outbox ORDER BY id LIMIT 1", created) ==
                   SQLITE_OK
               ? 0
               : QTD_EIO;
}

/* The size of path+sfx in bytes, 0 if absent. */
static int64_t file_size(const char *path, const char *sfx)
{
    char p[PATH_MAX + 8];
    struct stat sb;
    snprintf(p, sizeof(p), "%s%s", path, sfx);
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

int qtd_store_tick(qtd_store_t *st)
{
    if (st == NULL || st->totals_known) {
        return 0;
    }
    sqlite3_stmt *s = st->stmt[STMT_OB_COUNT];
    sqlite3_bind_int64(s, 1, st->count_upto);
    sqlite3_bind_int64(s, 2, st->count_end);
    sqlite3_bind_int64(s, 3, COUNT_CHUNK);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return qtd__store_db_error(st, "counting the outbox");
    }
    int64_t n = sqlite3_column_int64(s, 0);
    st->rows += (uint64_t)n;
    st->bytes += (uint64_t)sqlite3_column_int64(s, 1);
    st->count_upto = n < COUNT_CHUNK ? st->count_end : sqlite3_column_int64(s, 2);
    sqlite3_reset(s);
    if (st->count_upto >= st->count_end) {
        st->totals_known = true;
        qtd_log_info(WHO, "%s: outbox counted: %" PRIu64 " rows, %" PRIu64 " bytes", st->path,
                     st->rows, st->bytes);
        return 0;
    }
    return 1;
}

/* Split qtd_schema_sql at the lines "-- migration N". Returns the count, -1 if malformed. */
static int parse_migrations(migration_t *m, int max)
{
    static const char marker[] = "-- migration ";
    const char *p = qtd_schema_sql;
    int n = 0;
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        const char *next = eol != NULL ? eol + 1 : p + strlen(p);
        if (strncmp(p, marker, sizeof(marker) - 1) == 0) {
            long num = strtol(p + sizeof(marker) - 1, NULL, 10);
            if (n == max || num != n + 1) {
                return -1;
            }
            if (n > 0) {
                m[n - 1].len = (size_t)(p - m[n - 1].sql);
            }
            m[n].num = (int)num;
            m[n].sql = next;
            m[n].len = 0;
            n++;
        }
        p = next;
    }
    if (n > 0) {
        m[n - 1].len = (size_t)(p - m[n - 1].sql);
    }
    return n;
}

/* Apply the migrations newer than PRAGMA user_version, one transaction each. */
static int migrate(qtd_store_t *st)
{
    migration_t m[MAX_MIGRATIONS];
    int newest = parse_migrations(m, MAX_MIGRATIONS);
    if (newest <= 0) {
        qtd_log_error(WHO, "built-in schema.sql has no or misnumbered '-- migration N' blocks");
        return OPEN_FAIL;
    }
    int64_t uv;
    int rc = query_int64(st->db, "PRAGMA user_version", &uv);
    if (rc != SQLITE_OK) {
        return open_step_failed(st, "reading user_version", rc);
    }
    if (uv > newest) {
        qtd_log_warn(WHO,
                     "%s: schema version %" PRId64 " is newer than this agent's %d; "
                     "using it as is",
                     st->path, uv, newest);
        st->version = (int)uv;
        return OPEN_OK;
    }
    for (int i = (int)uv; i < newest; i++) {
        char *sql = qtd_strndup(m[i].sql, m[i].len);
        if (sql == NULL) {
            return OPEN_FAIL;
        }
        char what[64];
        snprintf(what, sizeof(what), "schema migration %d", m[i].num);
        char bump[48];
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", m[i].num);
        rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
        }
        if (rc == SQLITE_OK) {
            rc = sqlite3_exec(st->db, bump, NULL, NULL, NULL);
        }
        if (rc == SQLITE_OK) {
            rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
        }
        qtd_free(sql);
        if (rc != SQLITE_OK) {
            int ret = open_step_failed(st, what, rc);
            if (!sqlite3_get_autocommit(st->db)) {
                sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            }
            return ret;
        }
    }
    if (uv == 0) {
        st->created = true;
        qtd_log_info(WHO, "%s: created schema version %d", st->path, newest);
    } else if (uv < newest) {
        qtd_log_info(WHO, "%s: migrated schema from version %" PRId64 " to %d", st->path, uv,
                     newest);
    }
    st->version = newest;
    return OPEN_OK;
}

/* meta.outbox_dropped into st->dropped (0 before schema version 2). */
static int read_dropped(qtd_store_t *st)
{
    int64_t dropped = 0;
    int rc = SQLITE_OK;
    if (st->version >= 2) {
        rc = query_int64(st->db, "SELECT value FROM meta WHERE key = 'outbox_dropped'", &dropped);
    }
    st->dropped = (uint64_t)dropped;
    return rc;
}

/* Reload the outbox totals and the dropped counter from what the connection sees. */
static int resync(qtd_store_t *st)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(
        st->db, "SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            st->rows = (uint64_t)sqlite3_column_int64(s, 0);
            st->bytes = (uint64_t)sqlite3_column_int64(s, 1);
            rc = SQLITE_OK;
        }
        sqlite3_finalize(s);
    }
    if (rc != SQLITE_OK) {
        return rc;
    }
    rc = read_dropped(st);
    st->totals_known = true;
    st->count_upto = st->count_end;
    return rc;
}

/* Finalize and close without checkpointing (the file may be about to be moved aside). */
static void close_db(qtd_store_t *st)
{
    for (int i = 0; i < STMT_COUNT; i++) {
        sqlite3_finalize(st->stmt[i]);
        st->stmt[i] = NULL;
    }
    if (st->db != NULL) {
        sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
        sqlite3_close_v2(st->db);
        st->db = NULL;
    }
}

/* One attempt at opening st->path. Returns OPEN_OK, OPEN_BAD (move aside) or OPEN_FAIL. */
static int open_db(qtd_store_t *st, const char **why)
{
    char buf[256];
    int ret = prepare_file(st);
    if (ret != OPEN_OK) {
        return ret;
    }
    if (qtd__store_check_failed_before(st->path)) {
        *why = "damaged (the quick_check of the last run found it so)";
        return OPEN_BAD;
    }
    *why = "corrupt";
    /* A big database is checked and counted after open, off the loop or a chunk a turn. */
    bool big = file_size(st->path, "") + file_size(st->path, "-wal") >= CHECK_INLINE_MAX;
    /* No bulk allocation of page cache lines when a connection opens (SQLite's default is 20
     * pages, about 85 KiB, allocated at the first read): pages come as they are read, up to
     * cache_size. A setting of the whole library, taken before it initialises (the first open
     * of the process); later calls are refused and ignored. */
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
    int rc = sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (st->db == NULL) {
        qtd_log_error(WHO, "%s: sqlite3_open_v2: out of memory", st->path);
        return OPEN_FAIL;
    }
    if (rc != SQLITE_OK) {
        return open_step_failed(st, "open", rc);
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    /* SQLite's lookaside for small allocations: 64 slots of 256 bytes instead of 100 of 1200
     * (16 KiB instead of 120 KiB a connection: the store's statements are few and small). */
    (void)sqlite3_db_config(st->db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 256, 64);

    /* The first statement reads the header: a file that is not a database fails here. */
    rc = query_text(st->db, "PRAGMA journal_mode = WAL", buf, sizeof(buf));
    if (rc != SQLITE_OK) {
        return open_step_failed(st, "setting journal_mode=WAL", rc);
    }
    if (strcmp(buf, "wal") != 0) {
        qtd_log_warn(WHO, "%s: journal_mode is '%s', not 'wal' (no shared memory here?)", st->path,
                     buf);
    }
    /* synchronous=NORMAL is safe with WAL: the database never corrupts, a killed process
     * (kill -9) loses nothing committed, and a power cut can roll back only the transactions
     * committed since the last checkpoint (the WAL is fsynced at checkpoint, not at every
     * commit). Commits cost no fsync, which is what group commit of the outbox is for. */
    rc = sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        return open_step_failed(st, "setting synchronous=NORMAL", rc);
    }
    /* The send path touches the outbox's two ends: a small page cache is enough, and the
     * memory stays the same whatever the backlog (SQLite's default is 2 MiB). */
    rc = sqlite3_exec(st->db, "PRAGMA cache_size = -" STR(CACHE_KIB), NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        return open_step_failed(st, "setting cache_size", rc);
    }
    /* Checkpoints run inside a commit (SQLite's automatic checkpoint): at most 256 pages
     * (1 MiB) at a time instead of SQLite's 1000, so that one costs the loop little. */
    int64_t pages = CHECKPOINT_PAGES;
    if (st->opts.outbox_cap_bytes > 0) {
        /* The cap bounds what the store writes, the WAL included: checkpoint every half cap
         * (at least 16 pages), and truncate the WAL back to the cap after a checkpoint. */
        int64_t page = 4096;
        (void)query_int64(st->db, "PRAGMA page_size", &page);
        pages = (int64_t)(st->opts.outbox_cap_bytes / 2) / (page > 0 ? page : 4096);
        pages = pages < 16 ? 16 : pages > CHECKPOINT_PAGES ? CHECKPOINT_PAGES : pages;
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %llu",
                 (unsigned long long)st->opts.outbox_cap_bytes);
        rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            return open_step_failed(st, "bounding the WAL", rc);
        }
    }
    rc = sqlite3_wal_autocheckpoint(st->db, (int)pages);
    if (rc != SQLITE_OK) {
        return open_step_failed(st, "bounding the WAL", rc);
    }
    rc = big ? SQLITE_OK : query_text(st->db, "PRAGMA quick_check(1)", buf, sizeof(buf));
    if (rc != SQLITE_OK) {
        return open_step_failed(st, "quick_check", rc);
    }
    if (!big && strcmp(buf, "ok") != 0) {
        for (char *c = buf; *c != '\0'; c++) {
            *c = *c == '\n' ? ' ' : *c; /* one log line */
        }
        qtd_log_error(WHO, "%s: quick_check: %s", st->path, buf);
        return OPEN_BAD;
    }
    ret = migrate(st);
    if (ret != OPEN_OK) {
        return ret;
    }
    for (int i = 0; i < STMT_COUNT; i++) {
        rc = sqlite3_prepare_v3(st->db, qtd__store_stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                &st->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            return open_step_failed(st, qtd__store_stmt_sql[i], rc);
        }
    }
    if (big) {
        /* The totals are counted by qtd_store_tick; the dropped counter is read now. */
        rc = query_int64(st->db, "SELECT coalesce(max(id), 0) FROM outbox", &st->count_end);
        if (rc == SQLITE_OK) {
            rc = read_dropped(st);
        }
        st->count_upto = 0;
        st->totals_known = st->count_end == 0;
        if (rc != SQLITE_OK) {
            return open_step_failed(st, "reading the outbox's last id", rc);
        }
        return OPEN_OK;
    }
    /* Walks every outbox row (lengths only): also a check that the table is readable. */
    rc = resync(st);
    if (rc != SQLITE_OK) {
        return open_step_failed(st, "reading outbox totals", rc);
    }
    return OPEN_OK;
}

/* Rename (or failing that remove) one side file of the moved database. */
static int move_side(const char *path, const char *dest, const char *sfx)
{
    char from[PATH_MAX + 16], to[PATH_MAX + 48];
    snprintf(from, sizeof(from), "%s%s", path, sfx);
    snprintf(to, sizeof(to), "%s%s", dest, sfx);
    if (rename(from, to) == 0 || errno == ENOENT) {
        return 0;
    }
    /* A stale -wal or -journal next to the fresh database would be replayed into it. */
    if (unlink(from) == 0 || errno == ENOENT) {
        return 0;
    }
    qtd_log_error(WHO, "%s: cannot move or remove it: %s", from, strerror(errno));
    return QTD_EIO;
}

/* Rename path (and its -wal, -shm, -journal) to "<path>.corrupt-<unix time>[.n]". */
static int move_aside(const char *path, const char *why)
{
    char dest[PATH_MAX + 32];
    long long now = (long long)time(NULL);
    struct stat sb;
    snprintf(dest, sizeof(dest), "%s.corrupt-%lld", path, now);
    for (int n = 1; lstat(dest, &sb) == 0 && n < 1000; n++) {
        snprintf(dest, sizeof(dest), "%s.corrupt-%lld.%d", path, now, n);
    }
    if (rename(path, dest) != 0) {
        qtd_log_error(WHO, "%s: database is %s and cannot be moved aside to %s: %s", path, why,
                      dest, strerror(errno));
        return QTD_EIO;
    }
    static const char *const sfx[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        if (move_side(path, dest, sfx[i]) != 0) {
            return QTD_EIO;
        }
    }
    qtd_log_error(WHO, "%s: database is %s; moved it to %s and starting with an empty database",
                  path, why, dest);
    return 0;
}

int qtd_store_open(qtd_store_t **out, const char *path, const qtd_store_opts_t *opts)
{
    if (out == NULL || path == NULL) {
        return QTD_EINVAL;
    }
    *out = NULL;
    int err = QTD_EIO;
    qtd_store_t *st = qtd_calloc(1, sizeof(*st));
    if (st == NULL) {
        return QTD_ENOMEM;
    }
    st->path = qtd_strdup(path);
    if (st->path == NULL) {
        err = QTD_ENOMEM;
        goto fail;
    }
    if (strlen(path) >= PATH_MAX - 64) {
        qtd_log_error(WHO, "%s: path too long", path);
        goto fail;
    }
    if (opts != NULL) {
        st->opts = *opts;
    }
    const char *why = "corrupt";
    int ret = open_db(st, &why);
    if (ret == OPEN_BAD) {
        close_db(st);
        if (move_aside(path, why) != 0) {
            goto fail;
        }
        qtd__store_check_mark_clear(path);
        ret = open_db(st, &why);
        if (ret != OPEN_OK) {
            qtd_log_error(WHO, "%s: cannot create even a fresh database", path);
            goto fail;
        }
    }
    if (ret == OPEN_DENIED) {
        err = QTD_EACCES;
    }
    if (ret != OPEN_OK) {
        goto fail;
    }
    qtd__store_record_check(st); /* a database smaller than it was is called lost */
    if (!st->totals_known && qtd__store_bg_start(st) == 0) {
        qtd_log_info(WHO,
                     "%s: a big database: checked (quick_check) on a thread of its own and "
                     "its outbox counted while the agent runs",
                     st->path);
        qtd__store_bg_check(st);
    }
    *out = st;
    return 0;

fail:
    close_db(st);
    qtd_free(st->path);
    qtd_free(st);
    return err;
}

static void commit_lost(qtd_store_t *st, const char *why);

int qtd__store_errno(qtd_store_t *st, const char *what, int err)
{
    qtd_log_error(WHO, "%s: %s failed: %s", st->path, what, strerror(err));
    return QTD_EIO;
}

/* Open the group-commit transaction unless one is open. */
int qtd__store_begin_write(qtd_store_t *st)
{
    if (!sqlite3_get_autocommit(st->db)) {
        return 0;
    }
    sqlite3_stmt *s = st->stmt[STMT_TX_BEGIN];
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        return qtd__store_db_error(st, "BEGIN IMMEDIATE");
    }
    st->txn_kv = false;
    st->txn_dels = 0;
    return 0;
}

/* After a failed write: the in-memory totals follow what the database now holds. */
void qtd__store_write_failed(qtd_store_t *st)
{
    if (st->txn_rows > 0 && sqlite3_get_autocommit(st->db)) {
        /* SQLite rolled the whole transaction back on this failure (disk full, I/O error,
         * memory): the rows put in it before are gone too. */
        commit_lost(st, sqlite3_errmsg(st->db)); /* resets txn_rows, then comes back here */
        return;
    }
    int rc = resync(st);
    if (rc != SQLITE_OK) {
        qtd__store_db_error(st, "re-reading outbox totals");
    }
}

/* A commit failed and SQLite rolled the transaction back: the rows put in it are lost.
 * Counted, told to the owner (on_lost), logged at most every LOST_LOG_INTERVAL_S. */
static void commit_lost(qtd_store_t *st, const char *why)
{
    uint64_t rows = st->txn_rows;
    st->lost += rows;
    st->lost_unlogged += rows;
    st->commit_failures++;
    int64_t now = qtd__store_now_s();
    if (st->commit_failures == 1 || now - st->lost_logged_at >= LOST_LOG_INTERVAL_S) {
        qtd_log_error(WHO,
                      "%s: COMMIT failed: %s; %llu outbox rows lost since the last such line "
                      "(%llu this run, %llu failed commits): free space on %s",
                      st->path, why, (unsigned long long)st->lost_unlogged,
                      (unsigned long long)st->lost, (unsigned long long)st->commit_failures,
                      "its file system");
        st->lost_logged_at = now;
        st->lost_unlogged = 0;
    }
    int64_t first = st->txn_first;
    int64_t last = st->txn_last;
    st->txn_rows = 0;
    qtd__store_write_failed(st);
    if (rows > 0 && st->opts.on_lost != NULL) {
        st->opts.on_lost(st->opts.on_drop_arg, first, last, rows);
    }
}

int qtd_store_commit(qtd_store_t *st)
{
    if (st == NULL) {
        return QTD_EINVAL;
    }
    if (sqlite3_get_autocommit(st->db)) {
        if (st->txn_rows > 0) {
            commit_lost(st, "the transaction was rolled back"); /* not seen when it went */
            return QTD_EIO;
        }
        return 0;
    }
    sqlite3_stmt *s = st->stmt[STMT_TX_COMMIT];
    int step = sqlite3_step(s);
    sqlite3_reset(s);
    if (step == SQLITE_DONE) {
        if (st->txn_rows > 0 && st->txn_last > st->max_id) {
            st->max_id = st->txn_last;
        }
        st->txn_rows = 0; /* txn_kv and txn_dels are reset by the next BEGIN */
        qtd__store_record_maybe(st);
        return 0;
    }
    int code = sqlite3_errcode(st->db) & 0xff; /* extended result codes are on */
    if (!sqlite3_get_autocommit(st->db) && (code == SQLITE_FULL || code == SQLITE_IOERR)) {
        /* Retrying would only grow the transaction that cannot be written: end it. */
        char why[200];
        snprintf(why, sizeof(why), "%s", sqlite3_errmsg(st->db));
        (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        commit_lost(st, why);
        return QTD_EIO;
    }
    if (sqlite3_get_autocommit(st->db)) {
        /* SQLite rolled the transaction back (I/O error, disk full). */
        commit_lost(st, sqlite3_errmsg(st->db));
        return QTD_EIO;
    }
    /* Otherwise (busy) the transaction stays open and the next commit retries it. */
    return qtd__store_db_error(st, "COMMIT");
}

int qtd_store_flush(qtd_store_t *st)
{
    if (st == NULL) {
        return QTD_EINVAL;
    }
    if (sqlite3_get_autocommit(st->db) && st->txn_rows == 0) {
        return 0; /* nothing open */
    }
    if (st->txn_rows == 0 && !st->txn_kv && st->txn_dels > 0 &&
        st->txn_dels < QTD_STORE_DEL_BATCH &&
        qtd__store_now_ms() - st->txn_dels_since_ms < QTD_STORE_DEL_DELAY_MS) {
        return 1; /* deletions alone: they wait for company or for their time */
    }
    return qtd_store_commit(st);
}

uint64_t qtd_store_outbox_lost(qtd_store_t *st)
{
    return st != NULL ? st->lost : 0;
}

int64_t qtd_store_lost_at_open(qtd_store_t *st)
{
    return st != NULL ? st->lost_at_open : 0;
}

int qtd_store_commit_if_idle(qtd_store_t *st)
{
    if (st == NULL || st->db == NULL) {
        return QTD_EINVAL;
    }
    sqlite3_mutex *m = sqlite3_db_mutex(st->db);
    if (m != NULL && sqlite3_mutex_try(m) != SQLITE_OK) {
        return QTD_EBUSY;
    }
    int rc = 0;
    if (!sqlite3_get_autocommit(st->db) &&
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = QTD_EIO;
    }
    if (m != NULL) {
        sqlite3_mutex_leave(m);
    }
    return rc;
}

int qtd_store_commit_durable(qtd_store_t *st)
{
    if (st == NULL) {
        return QTD_EINVAL;
    }
    int rc = qtd_store_commit(st);
    if (rc != 0) {
        return rc;
    }
    /* With synchronous=NORMAL a WAL commit is not synced: sync the WAL now, so that what
     * was just committed survives a power cut too. */
    char wal[PATH_MAX];
    snprintf(wal, sizeof(wal), "%s-wal", st->path);
    int fd = open(wal, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? 0 : qtd__store_errno(st, "open -wal", errno);
    }
    rc = fsync(fd) == 0 ? 0 : qtd__store_errno(st, "fsync -wal", errno);
    close(fd);
    return rc;
}

int qtd_store_schema_version(qtd_store_t *st)
{
    return st != NULL ? st->version : 0;
}

void qtd__store_flush_drop_log(qtd_store_t *st)
{
    if (st->drop_unlogged == 0) {
        return;
    }
    qtd_log_warn(WHO,
                 "outbox cap of %" PRIu64 " bytes: dropped %" PRIu64 " more oldest rows "
                 "(%" PRIu64 " dropped in total)",
                 st->opts.outbox_cap_bytes, st->drop_unlogged, st->dropped);
    st->drop_unlogged = 0;
    st->drop_logged_at = qtd__store_now_s();
}

void qtd_store_close(qtd_store_t *st)
{
    if (st == NULL) {
        return;
    }
    if (st->db != NULL) {
        qtd__store_bg_stop(st);
        if (qtd_store_commit(st) != 0 && !sqlite3_get_autocommit(st->db)) {
            qtd_log_error(WHO, "%s: closing: pending writes rolled back", st->path);
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        }
        qtd__store_flush_drop_log(st);
        qtd__store_record_write(st);
        for (int i = 0; i < STMT_COUNT; i++) {
            sqlite3_finalize(st->stmt[i]);
            st->stmt[i] = NULL;
        }
        int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        if (rc != SQLITE_OK) {
            qtd_log_warn(WHO, "%s: wal_checkpoint(TRUNCATE): %s", st->path, sqlite3_errmsg(st->db));
        }
        rc = sqlite3_close_v2(st->db);
        if (rc != SQLITE_OK) {
            qtd_log_warn(WHO, "%s: close: %s", st->path, sqlite3_errstr(rc));
        }
        st->db = NULL;
    }
    qtd_free(st->path);
    qtd_free(st);
}
