/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replacing the operator's script while the agent runs (an OTA of the script, seed
 * section 5 done safely). The new script is compiled in a scratch state first; the running
 * one is copied beside it as <script>.previous; the new one takes the script's place with
 * an atomic rename, so a power cut leaves the old script or the new one, never neither;
 * then the state is reloaded (plugins keep their sessions: only the Lua state is new). A
 * new script whose first run fails is rolled back at once; qtd__lua_restore rolls back
 * later, for a script that failed after its first run. Runs on the loop thread, outside
 * any call into Lua.
 */
#include "lua/lua_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "agent/log.h"
#include "qthingd/errors.h"

#define SUFFIX_PREVIOUS ".previous"
#define SUFFIX_NEW ".new"

static void say(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t n, const char *fmt, ...)
{
    if (err == NULL || n == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

/* Sync the directory holding path, so that a rename in it survives a power cut. */
static void sync_dir_of(const char *path)
{
    char copy[PATH_MAX];
    (void)snprintf(copy, sizeof(copy), "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        (void)close(fd);
    }
}

/* Copy src to dst through dst.tmp (written, synced, renamed). Returns 0 or an errno. */
static int copy_file(const char *src, const char *dst)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", dst) >= (int)sizeof(tmp)) {
        return ENAMETOOLONG;
    }
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        return errno;
    }
    struct stat st;
    int err = fstat(in, &st) == 0 ? 0 : errno;
    int out =
        err == 0 ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 0777) : -1;
    if (err == 0 && out < 0) {
        err = errno;
    }
    char buf[65536];
    while (err == 0) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            err = r < 0 ? errno : 0;
            break;
        }
        for (ssize_t off = 0; err == 0 && off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno != EINTR) {
                err = errno;
            }
            off += w > 0 ? w : 0;
        }
    }
    if (err == 0 && fsync(out) != 0) {
        err = errno;
    }
    if (out >= 0 && close(out) != 0 && err == 0) {
        err = errno;
    }
    (void)close(in);
    if (err == 0 && rename(tmp, dst) != 0) {
        err = errno;
    }
    if (err != 0) {
        (void)unlink(tmp);
    }
    return err;
}

/* Do the two files hold the same bytes? (false when either cannot be read) */
static bool same_file(const char *a, const char *b)
{
    int fa = open(a, O_RDONLY | O_CLOEXEC);
    int fb = open(b, O_RDONLY | O_CLOEXEC);
    struct stat sa;
    struct stat sb;
    bool same = fa >= 0 && fb >= 0 && fstat(fa, &sa) == 0 && fstat(fb, &sb) == 0 &&
                sa.st_size == sb.st_size;
    char ba[16384];
    char bb[16384];
    while (same) {
        ssize_t ra = read(fa, ba, sizeof(ba));
        ssize_t rb = ra > 0 ? read(fb, bb, (size_t)ra) : 0;
        if (ra <= 0) {
            same = ra == 0;
            break;
        }
        same = rb == ra && memcmp(ba, bb, (size_t)ra) == 0;
    }
    if (fa >= 0) {
        (void)close(fa);
    }
    if (fb >= 0) {
        (void)close(fb);
    }
    return same;
}

static int sibling(const qtd_lua_t *lh, const char *suffix, char *out, size_t n)
{
    return snprintf(out, n, "%s%s", lh->script, suffix) < (int)n ? 0 : QTD_EINVAL;
}

int qtd__lua_replace(qtd_lua_t *lh, const char *staged, char *err, size_t n)
{
    say(err, n, "%s", "");
    if (lh->script == NULL) {
        say(err, n, "no lua.script is configured: there is no script to replace");
        return QTD_ENOENT;
    }
    if (lh->depth > 0 || lh->closing) {
        say(err, n, "called from inside the script");
        return QTD_EBUSY;
    }
    lua_State *probe = luaL_newstate();
    if (probe == NULL) {
        return QTD_ENOMEM;
    }
    if (luaL_loadfilex(probe, staged, "t") != LUA_OK) {
        say(err, n, "the new script does not compile: %s", lua_tostring(probe, -1));
        lua_close(probe);
        return QTD_ELUA;
    }
    lua_close(probe);
    char previous[PATH_MAX];
    char next[PATH_MAX];
    if (sibling(lh, SUFFIX_PREVIOUS, previous, sizeof(previous)) != 0 ||
        sibling(lh, SUFFIX_NEW, next, sizeof(next)) != 0) {
        say(err, n, "the script's path is too long");
        return QTD_EINVAL;
    }
    if (same_file(lh->script, staged)) {
        /* Swapped in already by an agent that stopped before its caller recorded it: the
         * previous script is the one kept, not this. */
        qtd_log_warn(QTD_LUA_WHO, "%s is the new script already: running it", lh->script);
        goto run;
    }
    int e = copy_file(lh->script, previous);
    if (e != 0) {
        say(err, n, "cannot keep the running script as %s: %s (the directory must be writable)",
            previous, strerror(e));
        return QTD_EIO;
    }
    e = copy_file(staged, next);
    if (e == 0 && rename(next, lh->script) != 0) {
        e = errno;
        (void)unlink(next);
    }
    if (e != 0) {
        say(err, n, "cannot put the new script in place as %s: %s", lh->script, strerror(e));
        return QTD_EIO;
    }
    sync_dir_of(lh->script);
    qtd_log_info(QTD_LUA_WHO, "script replaced by %s; the previous one is kept as %s", staged,
                 previous);
run:;
    int rc = qtd__lua_reload(lh);
    if (rc == 0) {
        return 0;
    }
    say(err, n, "the new script failed its first run (%s); the previous one runs again",
        rc == QTD_ELUA ? "an error, logged above" : "no state");
    (void)qtd__lua_restore(lh);
    return rc == QTD_ENOMEM ? QTD_ENOMEM : QTD_ELUA;
}

int qtd__lua_restore(qtd_lua_t *lh)
{
    char previous[PATH_MAX];
    if (lh->script == NULL || sibling(lh, SUFFIX_PREVIOUS, previous, sizeof(previous)) != 0 ||
        access(previous, R_OK) != 0) {
        return QTD_ENOENT;
    }
    if (lh->depth > 0 || lh->closing) {
        return QTD_EBUSY;
    }
    if (rename(previous, lh->script) != 0) {
        qtd_log_error(QTD_LUA_WHO, "cannot put %s back as %s: %s", previous, lh->script,
                      strerror(errno));
        return QTD_EIO;
    }
    sync_dir_of(lh->script);
    qtd_log_warn(QTD_LUA_WHO, "the previous script is back in place: %s", lh->script);
    return qtd__lua_reload(lh);
}

uint64_t qtd__lua_errors(const qtd_lua_t *lh)
{
    return lh->errors;
}
