/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the unit tests: a private temporary directory per test program, writing
 * small files, and capturing what the code under test logs to stderr.
 */
#ifndef QTD_TESTS_UNIT_TESTUTIL_H
#define QTD_TESTS_UNIT_TESTUTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* <QTD_TEST_TMP or /tmp>/<name>-<pid>, created; returns a static buffer. */
static inline const char *tu_tmpdir(const char *name)
{
    static char dir[512];
    const char *base = getenv("QTD_TEST_TMP");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    mkdir(base, 0755);
    snprintf(dir, sizeof(dir), "%s/%s-%d", base, name, (int)getpid());
    mkdir(dir, 0700);
    return dir;
}

/* Write text to dir/name; returns the path in a static rotating buffer. */
static inline const char *tu_write(const char *dir, const char *name, const char *fmt, ...)
{
    static char paths[8][600];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, 600, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    if (fp == NULL) {
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(fp, fmt, ap);
    va_end(ap);
    fclose(fp);
    return path;
}

/* Capture stderr into a file until tu_capture_end(), which returns what was written
 * (malloc'ed, NUL-terminated). */
typedef struct {
    int saved;
    char path[600];
} tu_capture_t;

static inline void tu_capture_begin(tu_capture_t *c, const char *dir)
{
    fflush(stderr);
    snprintf(c->path, sizeof(c->path), "%s/stderr.txt", dir);
    FILE *fp = fopen(c->path, "w");
    c->saved = dup(STDERR_FILENO);
    dup2(fileno(fp), STDERR_FILENO);
    fclose(fp);
}

static inline char *tu_capture_end(tu_capture_t *c)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    FILE *fp = fopen(c->path, "r");
    char *buf = calloc(1, 1 << 16);
    if (fp != NULL) {
        size_t n = fread(buf, 1, (1 << 16) - 1, fp);
        buf[n] = '\0';
        fclose(fp);
    }
    fputs(buf, stderr); /* keep it visible in the test's own output */
    return buf;
}

/* The end of main(): cmocka's result, or 1 when the agent's allocator still holds memory
 * (a leak the test did not see). */
static inline int tu_finish(int rc, uint64_t bytes_in_use)
{
    if (bytes_in_use != 0) {
        fprintf(stderr, "leak: %llu bytes still allocated\n", (unsigned long long)bytes_in_use);
        return 1;
    }
    return rc;
}

#endif /* QTD_TESTS_UNIT_TESTUTIL_H */
