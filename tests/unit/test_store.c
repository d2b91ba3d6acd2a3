/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of store/store.c against real SQLite files in a scratch directory under
 * $QTD_TEST_TMP (default /tmp): schema creation and migration, file modes, kv, the outbox
 * (order, streaming peek, group commit, cap with drop-oldest), crash safety of uncommitted
 * writes (a forked child that _exit()s mid-transaction) and corruption recovery. Not here:
 * how the core or the cloud plugin use the store.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "agent/alloc.h"
#include "store/store.h"
#include "store/store_internal.h"
#include "store_schema.h"

#define MAX_ROWS 4096
#define NOBODY 65534

static char g_dir[PATH_MAX - 512];

/* ---- helpers ------------------------------------------------------------------------ */

static void db_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s.db", g_dir, name);
}

static qtd_store_t *open_ok(const char *path, const qtd_store_opts_t *opts)
{
    qtd_store_t *st = NULL;
    assert_int_equal(qtd_store_open(&st, path, opts), 0);
    assert_non_null(st);
    int rc;
    while ((rc = qtd_store_tick(st)) == 1) {
        /* a big database is counted a chunk a tick, as the loop does */
    }
    assert_int_equal(rc, 0);
    return st;
}

/* The newest schema version: the number of "-- migration N" blocks in schema.sql. */
static int schema_newest(void)
{
    int n = 0;
    for (const char *p = qtd_schema_sql; (p = strstr(p, "-- migration ")) != NULL; p++) {
        if (p == qtd_schema_sql || p[-1] == '\n') {
            n++;
        }
    }
    return n;
}

/* One integer from a query on a connection of our own (not the store's). */
static int64_t raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg != NULL ? msg : "?");
    }
    sqlite3_close(db);
}

/* Files in g_dir named "<name>.db.corrupt-*" (the moved-aside databases, not their -wal). */
static int count_corrupt(const char *name, char *first, size_t size)
{
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "%s.db.corrupt-", name);
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
            (len > 4 && (strcmp(e->d_name + len - 4, "-wal") == 0 ||
                         strcmp(e->d_name + len - 4, "-shm") == 0))) {
            continue;
        }
        if (n == 0 && first != NULL) {
            snprintf(first, size, "%s/%s", g_dir, e->d_name);
        }
        n++;
    }
    closedir(d);
    return n;
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    unsigned char *buf = malloc((size_t)sb.st_size + 1);
    assert_non_null(buf);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, (size_t)sb.st_size), (ssize_t)sb.st_size);
    close(fd);
    buf[sb.st_size] = '\0';
    *len = (size_t)sb.st_size;
    return buf;
}

static unsigned file_mode(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (unsigned)(sb.st_mode & 0777);
}

/* Run fn with stderr captured into a file; returns what was written (free()). */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/stderr.txt", g_dir);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn(arg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    size_t len;
    char *text = (char *)read_file(tmp, &len);
    unlink(tmp);
    fputs(text, stderr); /* still show it in the test output */
    return text;
}

/* What a peek walk saw. */
typedef struct walk_s {
    size_t n;
    size_t stop_after; /* stop the walk after this many rows; 0 = never */
    qtd_store_t *del;  /* delete each row from inside the callback */
    int64_t id[MAX_ROWS];
    int qos[MAX_ROWS];
    size_t len[MAX_ROWS];
    char topic[MAX_ROWS][16];
    char text[MAX_ROWS][32];
} walk_t;

static walk_t *walk_new(void)
{
    walk_t *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    return w;
}

static int walk_cb(void *arg, int64_t id, const char *topic, int qos, const void *payload,
                   size_t len)
{
    walk_t *w = arg;
    if (w->n < MAX_ROWS) {
        w->id[w->n] = id;
        w->qos[w->n] = qos;
        w->len[w->n] = len;
        snprintf(w->topic[w->n], sizeof(w->topic[0]), "%s", topic);
        size_t k = len < sizeof(w->text[0]) - 1 ? len : sizeof(w->text[0]) - 1;
        memcpy(w->text[w->n], payload, k);
        w->text[w->n][k] = '\0';
    }
    w->n++;
    if (w->del != NULL && qtd_store_outbox_del(w->del, id) != 0) {
        return 1;
    }
    return w->stop_after != 0 && w->n >= w->stop_after;
}

static int64_t put_text(qtd_store_t *st, const char *topic, int qos, const char *text)
{
    int64_t id = -1;
    assert_int_equal(qtd_store_outbox_put(st, topic, qos, text, strlen(text), &id), 0);
    assert_true(id > 0);
    return id;
}

static int64_t put_len(qtd_store_t *st, size_t len)
{
    static char buf[4096];
    memset(buf, 'x', sizeof(buf));
    assert_true(len <= sizeof(buf));
    int64_t id = -1;
    assert_int_equal(qtd_store_outbox_put(st, "t", 1, buf, len, &id), 0);
    return id;
}

static void assert_count(qtd_store_t *st, uint64_t rows, uint64_t bytes)
{
    uint64_t r = 99999, b = 99999;
    assert_int_equal(qtd_store_outbox_count(st, &r, &b), 0);
    assert_int_equal(r, rows);
    assert_int_equal(b, bytes);
}

static void assert_kv(qtd_store_t *st, const char *key, const char *want)
{
    char *v = NULL;
    size_t len = 0;
    assert_int_equal(qtd_store_kv_get(st, key, &v, &len), 0);
    assert_int_equal(len, strlen(want));
    assert_string_equal(v, want);
    qtd_free(v);
}

/* ---- fixtures ----------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    chmod(path, 0700);
    remove(path);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("QTD_TEST_TMP");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", base);
    if (system(cmd) != 0) {
        return -1;
    }
    snprintf(g_dir, sizeof(g_dir), "%s/test_store-%ld", base, (long)getpid());
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return mkdir(g_dir, 0755);
}

static int group_teardown(void **state)
{
    (void)state;
    if (getenv("QTD_TEST_KEEP") == NULL) {
        nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    return 0;
}

/* Every test closes what it opened: the agent allocator must be back to zero. */
static int no_leak(void **state)
{
    (void)state;
    assert_int_equal(qtd_alloc_bytes(), 0);
    return 0;
}

/* ---- tests -------------------------------------------------------------------------- */

static void store_open_creates_schema_0600(void **state)
{
    (void)state;
    char path[PATH_MAX], side[PATH_MAX + 8];
    db_path(path, sizeof(path), "fresh");
    mode_t old = umask(0); /* SQLite alone would create 0644 (0666 & ~umask) */
    qtd_store_t *st = open_ok(path, NULL);
    int newest = schema_newest();
    assert_true(newest >= 2);
    assert_int_equal(qtd_store_schema_version(st), newest);
    put_text(st, "t", 1, "hello");
    assert_int_equal(qtd_store_kv_set(st, "k", "v", 1), 0);
    assert_int_equal(qtd_store_commit(st), 0);

    assert_int_equal(file_mode(path), 0600);
    snprintf(side, sizeof(side), "%s-wal", path);
    assert_int_equal(file_mode(side), 0600);
    snprintf(side, sizeof(side), "%s-shm", path);
    assert_int_equal(file_mode(side), 0600);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), newest);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name IN "
                                   "('kv', 'outbox', 'meta')"),
                     3);
    assert_int_equal(raw_int(path, "SELECT value FROM meta WHERE key = 'outbox_dropped'"), 0);
    assert_int_equal(qtd_store_outbox_dropped(st), 0);
    qtd_store_close(st);
    umask(old);

    /* close checkpointed: the -wal is gone or empty, the database is still WAL mode */
    snprintf(side, sizeof(side), "%s-wal", path);
    struct stat sb;
    assert_true(stat(side, &sb) != 0 || sb.st_size == 0);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void store_open_tightens_existing_mode(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "loose");
    write_file(path, "", 0);
    assert_int_equal(chmod(path, 0644), 0);
    qtd_store_t *st = open_ok(path, NULL);
    assert_int_equal(file_mode(path), 0600);
    qtd_store_close(st);
}

static void store_open_fails_without_parent_dir(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/no/such/dir/x.db", g_dir);
    qtd_store_t *st = (qtd_store_t *)&st;
    assert_int_equal(qtd_store_open(&st, path, NULL), QTD_EIO);
    assert_null(st);
    assert_int_equal(qtd_store_open(NULL, path, NULL), QTD_EINVAL);
    qtd_store_close(NULL);
}

static void store_kv_set_get_del(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "kv");
    qtd_store_t *st = open_ok(path, NULL);
    char *v = (char *)&v;
    size_t len = 7;
    assert_int_equal(qtd_store_kv_get(st, "missing", &v, &len), QTD_ENOENT);
    assert_null(v);

    assert_int_equal(qtd_store_kv_set(st, "pk", "p1234", 5), 0);
    assert_kv(st, "pk", "p1234"); /* visible before commit */
    assert_int_equal(qtd_store_kv_set(st, "pk", "overwritten", 11), 0);
    assert_kv(st, "pk", "overwritten");
    assert_int_equal(qtd_store_kv_set(st, "empty", NULL, 0), 0);
    assert_kv(st, "empty", "");
    assert_int_equal(qtd_store_commit(st), 0);

    assert_int_equal(qtd_store_kv_del(st, "pk"), 0);
    assert_int_equal(qtd_store_kv_get(st, "pk", &v, &len), QTD_ENOENT);
    assert_int_equal(qtd_store_kv_del(st, "pk"), QTD_ENOENT);
    assert_int_equal(qtd_store_kv_set(st, "k", NULL, 3), QTD_EINVAL);
    assert_int_equal(qtd_store_commit(st), 0);
    assert_int_equal(qtd_store_commit(st), 0); /* nothing pending: fine */
    qtd_store_close(st);
}

/* A durable commit: the row is committed (another connection sees it) before it returns. */
static void store_commit_durable_commits_and_syncs(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "durable");
    qtd_store_t *st = open_ok(path, NULL);
    assert_int_equal(qtd_store_commit_durable(st), 0); /* nothing pending: fine */
    assert_int_equal(qtd_store_kv_set(st, "ds", "0123456789abcdef", 16), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM kv WHERE key = 'ds'"), 0);
    assert_int_equal(qtd_store_commit_durable(st), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM kv WHERE key = 'ds'"), 1);
    assert_int_equal(qtd_store_commit_durable(NULL), QTD_EINVAL);
    qtd_store_close(st);
}

static void store_kv_binary_values(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "kvbin");
    unsigned char bin[256];
    for (int i = 0; i < 256; i++) {
        bin[i] = (unsigned char)(255 - i); /* NULs and 0xff included */
    }
    qtd_store_t *st = open_ok(path, NULL);
    assert_int_equal(qtd_store_kv_set(st, "secret", bin, sizeof(bin)), 0);
    qtd_store_close(st);

    st = open_ok(path, NULL);
    char *v = NULL;
    size_t len = 0;
    assert_int_equal(qtd_store_kv_get(st, "secret", &v, &len), 0);
    assert_int_equal(len, sizeof(bin));
    assert_memory_equal(v, bin, sizeof(bin));
    assert_int_equal(v[len], '\0');
    qtd_free(v);
    qtd_store_close(st);
}

static void store_persists_across_reopen(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "persist");
    qtd_store_t *st = open_ok(path, NULL);
    assert_int_equal(qtd_store_kv_set(st, "server", "iot.example:1883", 16), 0);
    int64_t a = put_text(st, "up/1", 1, "first");
    int64_t b = put_text(st, "up/2", 2, "second");
    assert_true(b > a);
    assert_int_equal(qtd_store_commit(st), 0);
    qtd_store_close(st);

    st = open_ok(path, NULL);
    assert_kv(st, "server", "iot.example:1883");
    assert_count(st, 2, 11);
    walk_t *w = walk_new();
    assert_int_equal(qtd_store_outbox_peek(st, 0, 0, walk_cb, w), 0);
    assert_int_equal(w->n, 2);
    assert_int_equal(w->id[0], a);
    assert_string_equal(w->topic[0], "up/1");
    assert_int_equal(w->qos[0], 1);
    assert_string_equal(w->text[0], "first");
    assert_int_equal(w->id[1], b);
    assert_string_equal(w->topic[1], "up/2");
    assert_int_equal(w->qos[1], 2);
    assert_string_equal(w->text[1], "second");
    /* ids are never reused, even once the outbox was emptied */
    assert_int_equal(qtd_store_outbox_del(st, a), 0);
    assert_int_equal(qtd_store_outbox_del(st, b), 0);
    assert_int_equal(qtd_store_commit(st), 0);
    qtd_store_close(st);
    st = open_ok(path, NULL);
    assert_true(put_text(st, "up/3", 1, "third") > b);
    qtd_store_close(st);
    free(w);
}

static void store_put_replays_in_order(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "order");
    qtd_store_t *st = open_ok(path, NULL);
    static int64_t ids[1000];
    char text[32], topic[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(text, sizeof(text), "msg-%d", i);
        snprintf(topic, sizeof(topic), "t/%d", i % 3);
        ids[i] = put_text(st, topic, i % 3, text);
        assert_true(i == 0 || ids[i] > ids[i - 1]);
    }
    assert_int_equal(qtd_store_commit(st), 0);
    qtd_store_close(st);

    st = open_ok(path, NULL);
    walk_t *w = walk_new();
    assert_int_equal(qtd_store_outbox_peek(st, 0, 0, walk_cb, w), 0);
    assert_int_equal(w->n, 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(text, sizeof(text), "msg-%d", i);
        snprintf(topic, sizeof(topic), "t/%d", i % 3);
        assert_int_equal(w->id[i], ids[i]);
        assert_int_equal(w->qos[i], i % 3);
        assert_string_equal(w->topic[i], topic);
        assert_string_equal(w->text[i], text);
    }
    qtd_store_close(st);
    free(w);
}

static void store_peek_after_id_and_limit(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "peek");
    qtd_store_t *st = open_ok(path, NULL);
    int64_t ids[10];
    for (int i = 0; i < 10; i++) {
        ids[i] = put_text(st, "t", 1, "x");
    }
    walk_t *w = walk_new();
    assert_int_equal(qtd_store_outbox_peek(st, ids[4], 3, walk_cb, w), 0);
    assert_int_equal(w->n, 3);
    assert_int_equal(w->id[0], ids[5]);
    assert_int_equal(w->id[2], ids[7]);

    memset(w, 0, sizeof(*w));
    assert_int_equal(qtd_store_outbox_peek(st, ids[4], 0, walk_cb, w), 0);
    assert_int_equal(w->n, 5);
    assert_int_equal(w->id[4], ids[9]);

    memset(w, 0, sizeof(*w));
    assert_int_equal(qtd_store_outbox_peek(st, ids[9], 0, walk_cb, w), 0);
    assert_int_equal(w->n, 0);

    /* the callback stops the walk */
    memset(w, 0, sizeof(*w));
    w->stop_after = 2;
    assert_int_equal(qtd_store_outbox_peek(st, 0, 0, walk_cb, w), 0);
    assert_int_equal(w->n, 2);

    /* acknowledging (deleting) rows from inside the walk */
    memset(w, 0, sizeof(*w));
    w->del = st;
    assert_int_equal(qtd_store_outbox_peek(st, ids[1], 0, walk_cb, w), 0);
    assert_int_equal(w->n, 8);
    assert_count(st, 2, 2);
    memset(w, 0, sizeof(*w));
    assert_int_equal(qtd_store_outbox_peek(st, 0, 0, walk_cb, w), 0);
    assert_int_equal(w->n, 2);
    assert_int_equal(w->id[1], ids[1]);
    assert_int_equal(qtd_store_outbox_peek(st, 0, 0, NULL, w), QTD_EINVAL);
    qtd_store_close(st);
    free(w);
}

/* A walk started from inside another walk's callback (uses its own statement). */
static int nested_cb(void *arg, int64_t id, const char *topic, int qos, const void *payload,
                     size_t len)
{
    (void)topic;
    (void)qos;
    (void)payload;
    (void)len;
    void **a = arg;
    walk_t *inner = walk_new();
    int rc = qtd_store_outbox_peek(a[0], id, 0, walk_cb, inner);
    *(size_t *)a[1] += rc == 0 ? inner->n : 1000;
    free(inner);
    return 0;
}

static void store_peek_nested_walks(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "nested");
    qtd_store_t *st = open_ok(path, NULL);
    for (int i = 0; i < 4; i++) {
        put_text(st, "t", 0, "y");
    }
    size_t total = 0;
    void *arg[2] = {st, &total};
    assert_int_equal(qtd_store_outbox_peek(st, 0, 0, nested_cb, arg), 0);
    assert_int_equal(total, 3 + 2 + 1 + 0);
    qtd_store_close(st);
}

static void store_outbox_del_and_count(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "count");
    qtd_store_t *st = open_ok(path, NULL);
    assert_count(st, 0, 0);
    int64_t a = put_len(st, 10);
    int64_t b = put_len(st, 20);
    put_len(st, 30);
    assert_count(st, 3, 60);
    assert_int_equal(qtd_store_outbox_del(st, b), 0);
    assert_count(st, 2, 40);
    assert_int_equal(qtd_store_outbox_del(st, b), 0); /* already gone */
    assert_int_equal(qtd_store_outbox_del(st, 99999), 0);
    assert_count(st, 2, 40);
    int64_t z = -1;
    assert_int_equal(qtd_store_outbox_put(st, "t", 0, NULL, 0, &z), 0); /* empty payload */
    assert_count(st, 3, 40);
    assert_int_equal(qtd_store_outbox_put(st, NULL, 0, "x", 1, &z), QTD_EINVAL);
    qtd_store_close(st);

    st = open_ok(path, NULL); /* totals recomputed at open */
    assert_count(st, 3, 40);
    assert_int_equal(qtd_store_outbox_del(st, a), 0);
    assert_count(st, 2, 30);
    uint64_t rows = 0;
    assert_int_equal(qtd_store_outbox_count(st, &rows, NULL), 0);
    assert_int_equal(rows, 2);
    qtd_store_close(st);
}

static void store_group_commit_one_transaction(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "group");
    qtd_store_t *st = open_ok(path, NULL);
    int64_t before = raw_int(path, "SELECT count(*) FROM outbox");
    for (int i = 0; i < 500; i++) {
        put_text(st, "t", 1, "burst");
    }
    assert_int_equal(qtd_store_kv_set(st, "k", "v", 1), 0);
    /* another connection sees nothing yet: one open transaction */
    assert_int_equal(raw_int(path, "SELECT count(*) FROM outbox"), before);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM kv"), 0);
    /* the store's own connection sees its uncommitted rows */
    walk_t *w = walk_new();
    assert_int_equal(qtd_store_outbox_peek(st, 0, 0, walk_cb, w), 0);
    assert_int_equal(w->n, 500);
    assert_count(st, 500, 2500);
    assert_int_equal(qtd_store_commit(st), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM outbox"), 500);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM kv"), 1);
    qtd_store_close(st);

    st = open_ok(path, NULL);
    assert_count(st, 500, 2500);
    assert_kv(st, "k", "v");
    qtd_store_close(st);
    free(w);
}

/* Deletions alone wait (up to QTD_STORE_DEL_BATCH of them, or QTD_STORE_DEL_DELAY_MS); a put
 * or a kv write in the same transaction, or their time, commits them all. */
static void store_flush_lets_deletions_wait(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "flush");
    qtd_store_t *st = open_ok(path, NULL);
    for (int i = 0; i < QTD_STORE_DEL_BATCH + 10; i++) {
        put_text(st, "t", 1, "row");
    }
    assert_int_equal(qtd_store_flush(st), 0); /* puts: committed at once */
    assert_int_equal(raw_int(path, "SELECT count(*) FROM outbox"), QTD_STORE_DEL_BATCH + 10);
    assert_int_equal(qtd_store_flush(st), 0); /* nothing open */

    assert_int_equal(qtd_store_outbox_del(st, 1), 0);
    assert_int_equal(qtd_store_outbox_del(st, 2), 0);
    assert_int_equal(qtd_store_flush(st), 1);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM outbox"), QTD_STORE_DEL_BATCH + 10);
    assert_count(st, QTD_STORE_DEL_BATCH + 8, (QTD_STORE_DEL_BATCH + 8) * 3);
    /* a kv write joins them: everything goes */
    assert_int_equal(qtd_store_kv_set(st, "k", "v", 1), 0);
    assert_int_equal(qtd_store_flush(st), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM outbox"), QTD_STORE_DEL_BATCH + 8);

    /* their time */
    assert_int_equal(qtd_store_outbox_del(st, 3), 0);
    assert_int_equal(qtd_store_flush(st), 1);
    struct timespec ts = {0, (QTD_STORE_DEL_DELAY_MS + 20) * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(qtd_store_flush(st), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM outbox"), QTD_STORE_DEL_BATCH + 7);

    /* their number */
    for (int64_t id = 4; id < 4 + QTD_STORE_DEL_BATCH - 1; id++) {
        assert_int_equal(qtd_store_outbox_del(st, id), 0);
    }
    assert_int_equal(qtd_store_flush(st), 1);
    assert_int_equal(qtd_store_outbox_del(st, 4 + QTD_STORE_DEL_BATCH - 1), 0);
    assert_int_equal(qtd_store_flush(st), 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM outbox"), 7);
    /* a deletion of a row already gone opens nothing */
    assert_int_equal(qtd_store_outbox_del(st, 1), 0);
    assert_int_equal(qtd_store_flush(st), 0);
    qtd_store_close(st);
}

static void store_close_commits_pending(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "closecommit");
    qtd_store_t *st = open_ok(path, NULL);
    for (int i = 0; i < 10; i++) {
        put_text(st, "t", 1, "pending");
    }
    assert_int_equal(qtd_store_kv_set(st, "dk", "dev1", 4), 0);
    qtd_store_close(st); /* no qtd_store_commit() */

    assert_int_equal(raw_int(path, "SELECT count(*) FROM outbox"), 10);
    st = open_ok(path, NULL);
    assert_count(st, 10, 70);
    assert_kv(st, "dk", "dev1");
    qtd_store_close(st);
}

/* Child of store_crash_loses_only_uncommitted: commit 5 rows, leave 200 big rows (10 MB,
 * more than SQLite's page cache, so uncommitted pages spill into the WAL) uncommitted and
 * die by SIGKILL (like kill -9) without closing. Exit codes tell the parent what failed. */
static void crash_child(const char *path)
{
    qtd_store_t *st = NULL;
    if (qtd_store_open(&st, path, NULL) != 0) {
        _exit(10);
    }
    for (int i = 0; i < 5; i++) {
        if (qtd_store_outbox_put(st, "t", 1, "committed", 9, NULL) != 0) {
            _exit(11);
        }
    }
    if (qtd_store_commit(st) != 0) {
        _exit(12);
    }
    static char big[50000];
    memset(big, 'u', sizeof(big));
    for (int i = 0; i < 200; i++) {
        if (qtd_store_outbox_put(st, "t", 1, big, sizeof(big), NULL) != 0) {
            _exit(13);
        }
    }
    if (qtd_store_kv_set(st, "half", "written", 7) != 0) {
        _exit(14);
    }
    /* "crash": no commit, no close, no exit handlers (also no leak report under valgrind) */
    kill(getpid(), SIGKILL);
    _exit(15);
}

static void store_crash_loses_only_uncommitted(void **state)
{
    (void)state;
    char path[PATH_MAX], side[PATH_MAX + 8];
    db_path(path, sizeof(path), "crash");
    qtd_store_t *st = open_ok(path, NULL);
    for (int i = 0; i < 5; i++) {
        put_text(st, "t", 1, "before");
    }
    qtd_store_close(st);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        crash_child(path);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status)) {
        fail_msg("crash child failed at step %d", WEXITSTATUS(status));
    }
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    snprintf(side, sizeof(side), "%s-wal", path);
    struct stat sb;
    assert_int_equal(stat(side, &sb), 0);
    assert_true(sb.st_size > 2 * 1024 * 1024); /* uncommitted pages did reach the WAL */

    st = open_ok(path, NULL);
    assert_int_equal(count_corrupt("crash", NULL, 0), 0);
    assert_count(st, 10, 5 * 6 + 5 * 9);
    char *v = NULL;
    assert_int_equal(qtd_store_kv_get(st, "half", &v, NULL), QTD_ENOENT);
    walk_t *w = walk_new();
    assert_int_equal(qtd_store_outbox_peek(st, 0, 0, walk_cb, w), 0);
    assert_int_equal(w->n, 10);
    assert_string_equal(w->text[4], "before");
    assert_string_equal(w->text[9], "committed");
    put_text(st, "t", 1, "after");
    assert_int_equal(qtd_store_commit(st), 0);
    qtd_store_close(st);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM outbox"), 11);
    free(w);
}

typedef struct drops_s {
    int calls;
    uint64_t rows;
} drops_t;

static void on_drop(void *arg, uint64_t rows)
{
    drops_t *d = arg;
    d->calls++;
    d->rows += rows;
}

static void store_cap_drops_oldest(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "cap");
    drops_t d = {0, 0};
    qtd_store_opts_t opts = {.outbox_cap_bytes = 1000, .on_drop = on_drop, .on_drop_arg = &d};
    qtd_store_t *st = open_ok(path, &opts);
    int64_t ids[10];
    for (int i = 0; i < 10; i++) {
        ids[i] = put_len(st, 100);
    }
    assert_count(st, 10, 1000); /* exactly at the cap: nothing dropped */
    assert_int_equal(d.calls, 0);

    int64_t n1 = put_len(st, 250); /* needs 250 bytes: the 3 oldest rows go */
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rows, 3);
    assert_int_equal(qtd_store_outbox_dropped(st), 3);
    assert_count(st, 8, 950);
    walk_t *w = walk_new();
    assert_int_equal(qtd_store_outbox_peek(st, 0, 0, walk_cb, w), 0);
    assert_int_equal(w->n, 8);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(w->id[i], ids[3 + i]);
    }
    assert_int_equal(w->id[7], n1);
    assert_int_equal(qtd_store_commit(st), 0);
    qtd_store_close(st);

    /* the counter persists; the cap keeps working after reopen */
    d.calls = 0;
    d.rows = 0;
    st = open_ok(path, &opts);
    assert_int_equal(qtd_store_outbox_dropped(st), 3);
    assert_count(st, 8, 950);
    int64_t n2 = put_len(st, 1000); /* a payload of exactly the cap empties the outbox */
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.rows, 8);
    assert_int_equal(qtd_store_outbox_dropped(st), 11);
    assert_count(st, 1, 1000);
    memset(w, 0, sizeof(*w));
    assert_int_equal(qtd_store_outbox_peek(st, 0, 0, walk_cb, w), 0);
    assert_int_equal(w->n, 1);
    assert_int_equal(w->id[0], n2);
    qtd_store_close(st); /* close commits */

    st = open_ok(path, NULL); /* no cap now: nothing dropped, counter still there */
    assert_int_equal(qtd_store_outbox_dropped(st), 11);
    put_len(st, 4000);
    assert_count(st, 2, 5000);
    qtd_store_close(st);
    assert_int_equal(raw_int(path, "SELECT value FROM meta WHERE key = 'outbox_dropped'"), 11);
    free(w);
}

/* The cap bounds the disk too: with a 256 KiB cap and 10 MB written through the outbox, the
 * WAL never grows past the cap plus one turn's writes (it reached 4x the cap before). */
static void store_cap_bounds_the_wal(void **state)
{
    (void)state;
    char path[PATH_MAX];
    char wal[PATH_MAX + 8];
    db_path(path, sizeof(path), "capwal");
    snprintf(wal, sizeof(wal), "%s-wal", path);
    const uint64_t cap = 256 * 1024;
    qtd_store_opts_t opts = {.outbox_cap_bytes = cap};
    qtd_store_t *st = open_ok(path, &opts);
    char payload[2000];
    memset(payload, 'p', sizeof(payload));
    off_t biggest = 0;
    for (int turn = 0; turn < 500; turn++) {
        for (int i = 0; i < 10; i++) { /* 20 kB a turn */
            assert_int_equal(qtd_store_outbox_put(st, "bus", 1, payload, sizeof(payload), NULL), 0);
        }
        assert_int_equal(qtd_store_commit(st), 0);
        struct stat sb;
        if (stat(wal, &sb) == 0 && sb.st_size > biggest) {
            biggest = sb.st_size;
        }
    }
    qtd_store_close(st);
    struct stat db;
    assert_int_equal(stat(path, &db), 0);
    print_message("WAL at most %lld bytes, database %lld bytes, cap %llu\n", (long long)biggest,
                  (long long)db.st_size, (unsigned long long)cap);
    assert_true(biggest <= (off_t)(cap + cap / 2 + 64 * 1024));
    assert_true(db.st_size <= (off_t)(2 * cap + 64 * 1024));
}

/* A database that comes back new or empty (a 0-byte file) is called lost, with what it held,
 * instead of being taken quietly as a first start. */
static void store_zero_byte_database_is_called_lost(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "zero");
    qtd_store_t *st = open_ok(path, NULL);
    assert_int_equal(qtd_store_lost_at_open(st), 0);
    assert_int_equal(qtd_store_kv_set(st, "ds", "secret", 6), 0);
    for (int i = 0; i < 5; i++) {
        put_len(st, 10);
    }
    assert_int_equal(qtd_store_commit(st), 0);
    qtd_store_close(st);
    assert_int_equal(truncate(path, 0), 0);
    st = open_ok(path, NULL);
    assert_int_equal(qtd_store_lost_at_open(st), 5); /* it had held rows up to id 5 */
    qtd_store_close(st);
    st = open_ok(path, NULL); /* said once: the record follows the database now */
    assert_int_equal(qtd_store_lost_at_open(st), 0);
    qtd_store_close(st);
}

/* A WAL cut in half after a kill -9: the rows in the lost half are counted at open. */
static void store_cut_wal_is_detected_with_a_count(void **state)
{
    (void)state;
    char path[PATH_MAX];
    char wal[PATH_MAX + 8];
    db_path(path, sizeof(path), "walcut");
    snprintf(wal, sizeof(wal), "%s-wal", path);
    qtd_store_t *st = open_ok(path, NULL);
    qtd_store_close(st); /* the schema is in the database file */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        st = NULL;
        if (qtd_store_open(&st, path, NULL) != 0) {
            _exit(1);
        }
        for (int i = 0; i < 200; i++) {
            if (qtd_store_outbox_put(st, "bus", 1, "0123456789012345678901234567890123456789", 40,
                                     NULL) != 0) {
                _exit(2);
            }
            if (i % 20 == 19 && qtd_store_commit(st) != 0) { /* 10 commits, 10 WAL frames+ */
                _exit(3);
            }
        }
        qtd__store_record_write(st); /* as the periodic write would have */
        _exit(0);                    /* killed: no close, no checkpoint */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct stat sb;
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(truncate(wal, sb.st_size / 2), 0);
    st = open_ok(path, NULL);
    int64_t missing = qtd_store_lost_at_open(st);
    uint64_t rows = 0;
    assert_int_equal(qtd_store_outbox_count(st, &rows, NULL), 0);
    print_message("WAL cut to %lld bytes: %llu rows left, %lld found missing\n",
                  (long long)(sb.st_size / 2), (unsigned long long)rows, (long long)missing);
    assert_true(missing > 0);
    assert_int_equal((int64_t)rows + missing, 200);
    qtd_store_close(st);
}

static void store_cap_refuses_oversized(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "oversized");
    drops_t d = {0, 0};
    qtd_store_opts_t opts = {.outbox_cap_bytes = 100, .on_drop = on_drop, .on_drop_arg = &d};
    qtd_store_t *st = open_ok(path, &opts);
    put_len(st, 60);
    char big[101];
    memset(big, 'b', sizeof(big));
    int64_t id = 12345;
    assert_int_equal(qtd_store_outbox_put(st, "t", 1, big, sizeof(big), &id), QTD_EMSGSIZE);
    assert_int_equal(id, 12345);
    assert_count(st, 1, 60); /* nothing dropped for it */
    assert_int_equal(d.calls, 0);
    assert_int_equal(qtd_store_outbox_dropped(st), 0);
    put_len(st, 100);
    assert_count(st, 1, 100);
    assert_int_equal(d.rows, 1);
    qtd_store_close(st);
}

typedef struct open_args_s {
    const char *path;
    qtd_store_t *st;
    int rc;
} open_args_t;

static void do_open(void *arg)
{
    open_args_t *a = arg;
    a->rc = qtd_store_open(&a->st, a->path, NULL);
}

/* Open a damaged file: it must be moved aside (content untouched), logged with its new
 * name, and a working fresh database must take its place. */
static void expect_recovery(const char *name, const char *path)
{
    size_t bad_len;
    unsigned char *bad = read_file(path, &bad_len);
    assert_int_equal(count_corrupt(name, NULL, 0), 0);

    open_args_t a = {path, NULL, -1};
    char *log = capture_stderr(do_open, &a);
    assert_int_equal(a.rc, 0);
    qtd_store_t *st = a.st;
    char moved[PATH_MAX];
    assert_int_equal(count_corrupt(name, moved, sizeof(moved)), 1);
    assert_non_null(strstr(log, moved)); /* the error line says where the file went */
    assert_non_null(strstr(log, "ERROR"));
    free(log);

    size_t moved_len;
    unsigned char *kept = read_file(moved, &moved_len);
    assert_int_equal(moved_len, bad_len);
    assert_memory_equal(kept, bad, bad_len);
    free(kept);
    free(bad);

    assert_int_equal(qtd_store_schema_version(st), schema_newest());
    assert_count(st, 0, 0);
    put_text(st, "t", 1, "fresh");
    assert_int_equal(qtd_store_kv_set(st, "k", "v", 1), 0);
    assert_int_equal(qtd_store_commit(st), 0);
    qtd_store_close(st);
    assert_int_equal(file_mode(path), 0600);
    st = open_ok(path, NULL);
    assert_count(st, 1, 5);
    assert_kv(st, "k", "v");
    qtd_store_close(st);
    assert_int_equal(count_corrupt(name, NULL, 0), 1);
}

static void store_recovers_from_garbage_file(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "garbage");
    static unsigned char junk[65536];
    srand(42);
    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (unsigned char)rand();
    }
    write_file(path, junk, sizeof(junk));
    expect_recovery("garbage", path);
}

static void store_recovers_from_zeroed_file(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "zeroed");
    static unsigned char zeros[8192];
    write_file(path, zeros, sizeof(zeros));
    expect_recovery("zeroed", path);
}

/* Two bad files in the same second: both copies are kept under distinct names. */
static void store_recovers_twice_keeps_both(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "twice");
    for (int i = 1; i <= 2; i++) {
        char junk[4096];
        memset(junk, 'A' + i, sizeof(junk));
        write_file(path, junk, sizeof(junk));
        qtd_store_t *st = open_ok(path, NULL);
        assert_int_equal(qtd_store_kv_set(st, "k", "v", 1), 0);
        qtd_store_close(st);
        assert_int_equal(count_corrupt("twice", NULL, 0), i);
    }
}

/* A real database of many pages, closed cleanly (all in the main file). */
static void make_real_db(const char *path)
{
    qtd_store_t *st = open_ok(path, NULL);
    assert_int_equal(qtd_store_kv_set(st, "pk", "product", 7), 0);
    for (int i = 0; i < 2000; i++) {
        put_len(st, 200);
    }
    qtd_store_close(st);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size > 100 * 4096);
}

static void store_recovers_from_garbage_pages(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "badpages");
    make_real_db(path);
    /* keep page 1 (valid header and schema), overwrite the rest with garbage */
    size_t len;
    unsigned char *buf = read_file(path, &len);
    srand(7);
    for (size_t i = 4096; i < len; i++) {
        buf[i] = (unsigned char)rand();
    }
    write_file(path, buf, len);
    free(buf);
    expect_recovery("badpages", path);
}

/* A database of 8 MiB or more: BIG_ROWS rows of BIG_LEN bytes, committed and closed. */
#define BIG_ROWS 30000
#define BIG_LEN 300
static void make_big_db(const char *path)
{
    qtd_store_t *st = open_ok(path, NULL);
    char payload[BIG_LEN];
    memset(payload, 'b', sizeof(payload));
    for (int i = 0; i < BIG_ROWS; i++) {
        assert_int_equal(qtd_store_outbox_put(st, "bus", 1, payload, sizeof(payload), NULL), 0);
    }
    qtd_store_close(st);
}

/* A big database opens without reading it all: its totals are counted by qtd_store_tick a
 * chunk at a time, and rows deleted or put before the count ends are accounted exactly. */
static void store_big_database_is_counted_in_steps(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "big");
    make_big_db(path);
    qtd_store_t *st = NULL;
    assert_int_equal(qtd_store_open(&st, path, NULL), 0);
    uint64_t rows = 1, bytes = 1;
    assert_int_equal(qtd_store_outbox_count(st, &rows, &bytes), 0);
    assert_true(rows < BIG_ROWS); /* not counted yet */
    /* one chunk in: rows on both sides of the count's front go, and new ones come */
    assert_int_equal(qtd_store_tick(st), 1);
    assert_int_equal(qtd_store_outbox_del_range(st, 1, 100), 0);       /* counted */
    assert_int_equal(qtd_store_outbox_del_range(st, 25000, 25009), 0); /* not yet */
    int64_t id = put_text(st, "bus", 1, "new");                        /* above the end */
    put_text(st, "bus", 1, "new");
    assert_int_equal(qtd_store_outbox_del_range(st, BIG_ROWS - 5, id), 0); /* both */
    assert_int_equal(qtd_store_commit(st), 0);
    int rc;
    while ((rc = qtd_store_tick(st)) == 1) {
        /* the rest, a chunk at a time */
    }
    assert_int_equal(rc, 0);
    int64_t left = BIG_ROWS - 100 - 10 - 6;
    assert_count(st, (uint64_t)left + 1, (uint64_t)left * BIG_LEN + 3);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM outbox"), left + 1);
    assert_int_equal(raw_int(path, "SELECT sum(length(payload)) FROM outbox"), left * BIG_LEN + 3);
    qtd_store_close(st);
}

/* The quick_check of a big database runs after open: damage it finds is logged and marks the
 * database, which the next open moves aside. */
static void store_big_database_damage_is_found_after_open(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "bigbad");
    make_big_db(path);
    /* garbage over pages in the middle of the outbox; page 1 and the schema stay good */
    size_t len;
    unsigned char *buf = read_file(path, &len);
    srand(11);
    for (size_t i = len / 2; i < len / 2 + 16 * 4096; i++) {
        buf[i] = (unsigned char)rand();
    }
    write_file(path, buf, len);
    free(buf);
    open_args_t a = {path, NULL, -1};
    char *log = capture_stderr(do_open, &a);
    assert_int_equal(a.rc, 0); /* opens: the check has not run yet */
    free(log);
    char mark[PATH_MAX + 16];
    snprintf(mark, sizeof(mark), "%s.check-failed", path);
    for (int i = 0; i < 500 && access(mark, F_OK) != 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(access(mark, F_OK), 0);
    qtd_store_close(a.st);
    assert_int_equal(count_corrupt("bigbad", NULL, 0), 0);
    qtd_store_t *st = open_ok(path, NULL); /* moved aside now, a fresh one in its place */
    assert_int_equal(count_corrupt("bigbad", NULL, 0), 1);
    assert_int_equal(access(mark, F_OK), -1);
    assert_count(st, 0, 0);
    qtd_store_close(st);
}

static void store_recovers_from_truncated_db(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "truncated");
    make_real_db(path);
    size_t len;
    unsigned char *buf = read_file(path, &len);
    write_file(path, buf, len / 3); /* valid header, most pages missing */
    free(buf);
    expect_recovery("truncated", path);
}

/*
 * The permission cases need a user that permissions apply to: as root the test forks a
 * child that becomes nobody; otherwise the child keeps our user. The child reports through
 * its exit status (77 = cannot run here, skip).
 */
static int perm_child(const char *path, int expect_rc)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 &&
            (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)) {
            _exit(77);
        }
        if (access(g_dir, X_OK) != 0) {
            _exit(77);
        }
        qtd_store_t *st = NULL;
        int rc = qtd_store_open(&st, path, NULL);
        if (rc != expect_rc) {
            _exit(1);
        }
        if (rc == 0) {
            if (qtd_store_kv_set(st, "k", "v", 1) != 0 || qtd_store_commit(st) != 0) {
                _exit(2);
            }
            qtd_store_close(st);
        } else if (st != NULL) {
            _exit(3);
        }
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void store_unreadable_file_is_kept_and_fails_eacces(void **state)
{
    (void)state;
    char dir[PATH_MAX - 32], path[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/permok", g_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/agent.db", dir);
    make_real_db(path);
    assert_int_equal(chmod(path, 0000), 0);
    if (geteuid() == 0) {
        assert_int_equal(chown(dir, NOBODY, NOBODY), 0); /* nobody could rename in dir */
    }
    int rc = perm_child(path, QTD_EACCES);
    chmod(path, 0600);
    if (rc == 77) {
        skip();
    }
    assert_int_equal(rc, 0);
    /* a permission problem is not corruption: nothing moved, the data is still there */
    DIR *d = opendir(dir);
    assert_non_null(d);
    int moved = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        moved += strncmp(e->d_name, "agent.db.corrupt-", 17) == 0;
    }
    closedir(d);
    assert_int_equal(moved, 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM outbox"), 2000);
}

static void store_unmovable_unreadable_file_fails_eacces(void **state)
{
    (void)state;
    char dir[PATH_MAX - 32], path[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/permbad", g_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/agent.db", dir);
    make_real_db(path);
    assert_int_equal(chmod(path, 0000), 0);
    /* as root: dir stays root's (nobody cannot rename in it); else: make it read-only */
    assert_int_equal(chmod(dir, geteuid() == 0 ? 0755 : 0500), 0);
    int rc = perm_child(path, QTD_EACCES);
    chmod(dir, 0700);
    chmod(path, 0600);
    if (rc == 77) {
        skip();
    }
    assert_int_equal(rc, 0);
    /* untouched: still the old database */
    assert_int_equal(raw_int(path, "SELECT count(*) FROM outbox"), 2000);
}

/* The user's own file without write permission: kept, QTD_EACCES (not an I/O error). */
static void store_read_only_own_file_fails_eacces(void **state)
{
    (void)state;
    char dir[PATH_MAX - 32], path[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/permro", g_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/agent.db", dir);
    make_real_db(path);
    if (geteuid() == 0) {
        assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
        assert_int_equal(chown(path, NOBODY, NOBODY), 0);
    }
    assert_int_equal(chmod(path, 0400), 0);
    int rc = perm_child(path, QTD_EACCES);
    chmod(path, 0600);
    if (rc == 77) {
        skip();
    }
    assert_int_equal(rc, 0);
    assert_int_equal(raw_int(path, "SELECT count(*) FROM outbox"), 2000);
}

/* The SQL of migration block n, as schema.sql has it (malloc'd). */
static char *migration_sql(int n)
{
    char from[32], to[32];
    snprintf(from, sizeof(from), "-- migration %d\n", n);
    snprintf(to, sizeof(to), "-- migration %d\n", n + 1);
    const char *a = strstr(qtd_schema_sql, from);
    assert_non_null(a);
    a += strlen(from);
    const char *b = strstr(a, to);
    size_t len = b != NULL ? (size_t)(b - a) : strlen(a);
    char *sql = malloc(len + 1);
    assert_non_null(sql);
    memcpy(sql, a, len);
    sql[len] = '\0';
    return sql;
}

static void store_migrates_from_version_1(void **state)
{
    (void)state;
    char path[PATH_MAX];
    db_path(path, sizeof(path), "v1");
    char *v1 = migration_sql(1);
    assert_null(strstr(v1, "meta")); /* version 1 really is the old schema */
    raw_exec(path, v1);
    free(v1);
    raw_exec(path,
             "PRAGMA user_version = 1;"
             "INSERT INTO kv VALUES ('pk', 'old-product');"
             "INSERT INTO outbox (created, topic, qos, payload) VALUES (1, 'a', 1, 'one');"
             "INSERT INTO outbox (created, topic, qos, payload) VALUES (2, 'b', 2, 'two');"
             "INSERT INTO outbox (created, topic, qos, payload) VALUES (3, 'c', 0, 'three');");
    assert_int_equal(raw_int(path, "PRAGMA user_version"), 1);

    drops_t d = {0, 0};
    qtd_store_opts_t opts = {.outbox_cap_bytes = 12, .on_drop = on_drop, .on_drop_arg = &d};
    qtd_store_t *st = open_ok(path, &opts);
    int newest = schema_newest();
    assert_int_equal(qtd_store_schema_version(st), newest);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), newest);
    assert_int_equal(file_mode(path), 0600);
    assert_kv(st, "pk", "old-product");
    assert_count(st, 3, 11);
    assert_int_equal(qtd_store_outbox_dropped(st), 0);
    walk_t *w = walk_new();
    assert_int_equal(qtd_store_outbox_peek(st, 0, 0, walk_cb, w), 0);
    assert_int_equal(w->n, 3);
    assert_string_equal(w->text[0], "one");
    assert_string_equal(w->topic[1], "b");
    assert_int_equal(w->qos[1], 2);
    assert_string_equal(w->text[2], "three");
    /* the counter table from migration 2 works */
    put_text(st, "d", 1, "four");
    assert_int_equal(d.rows, 1);
    assert_int_equal(qtd_store_outbox_dropped(st), 1);
    qtd_store_close(st);

    st = open_ok(path, NULL); /* nothing left to migrate */
    assert_int_equal(qtd_store_schema_version(st), newest);
    assert_int_equal(qtd_store_outbox_dropped(st), 1);
    qtd_store_close(st);
    free(w);
}

static void store_newer_schema_still_opens(void **state)
{
    (void)state;
    char path[PATH_MAX], sql[64];
    db_path(path, sizeof(path), "newer");
    qtd_store_t *st = open_ok(path, NULL);
    assert_int_equal(qtd_store_kv_set(st, "k", "v", 1), 0);
    qtd_store_close(st);
    int future = schema_newest() + 5;
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d;", future);
    raw_exec(path, sql);

    st = open_ok(path, NULL);
    assert_int_equal(qtd_store_schema_version(st), future);
    assert_kv(st, "k", "v");
    put_text(st, "t", 1, "still works");
    qtd_store_close(st);
    assert_int_equal(count_corrupt("newer", NULL, 0), 0);
    assert_int_equal(raw_int(path, "PRAGMA user_version"), future);
}

#define STORE_TESTS(XX)                                                                            \
    XX(store_open_creates_schema_0600)                                                             \
    XX(store_open_tightens_existing_mode)                                                          \
    XX(store_open_fails_without_parent_dir)                                                        \
    XX(store_kv_set_get_del)                                                                       \
    XX(store_commit_durable_commits_and_syncs)                                                     \
    XX(store_kv_binary_values)                                                                     \
    XX(store_persists_across_reopen)                                                               \
    XX(store_put_replays_in_order)                                                                 \
    XX(store_peek_after_id_and_limit)                                                              \
    XX(store_peek_nested_walks)                                                                    \
    XX(store_outbox_del_and_count)                                                                 \
    XX(store_group_commit_one_transaction)                                                         \
    XX(store_flush_lets_deletions_wait)                                                            \
    XX(store_close_commits_pending)                                                                \
    XX(store_big_database_is_counted_in_steps)                                                     \
    XX(store_big_database_damage_is_found_after_open)                                              \
    XX(store_crash_loses_only_uncommitted)                                                         \
    XX(store_cap_drops_oldest)                                                                     \
    XX(store_cap_bounds_the_wal)                                                                   \
    XX(store_zero_byte_database_is_called_lost)                                                    \
    XX(store_cut_wal_is_detected_with_a_count)                                                     \
    XX(store_cap_refuses_oversized)                                                                \
    XX(store_recovers_from_garbage_file)                                                           \
    XX(store_recovers_from_zeroed_file)                                                            \
    XX(store_recovers_from_garbage_pages)                                                          \
    XX(store_recovers_from_truncated_db)                                                           \
    XX(store_recovers_twice_keeps_both)                                                            \
    XX(store_unreadable_file_is_kept_and_fails_eacces)                                             \
    XX(store_unmovable_unreadable_file_fails_eacces)                                               \
    XX(store_read_only_own_file_fails_eacces)                                                      \
    XX(store_migrates_from_version_1)                                                              \
    XX(store_newer_schema_still_opens)

int main(void)
{
    const struct CMUnitTest tests[] = {
#define TEST_ENTRY_(name) cmocka_unit_test_teardown(name, no_leak),
        STORE_TESTS(TEST_ENTRY_)
#undef TEST_ENTRY_
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
