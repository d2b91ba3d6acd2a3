/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the agent's files are, found at run time from where the binary is, so that an
 * installed tree works wherever it is moved (`cmake --install --prefix X`, a package
 * unpacked anywhere) and the build tree works as it is:
 * - the build tree (the binary in the build directory): its plugins/ and the source
 *   tree's config/agent.lua;
 * - an install tree (the plugin directory found at the same place relative to the binary
 *   as at install time): the config, plugin and state directories at their install-time
 *   places relative to the binary;
 * - anything else: the compiled-in install paths.
 * Under systemd with StateDirectory= (one directory), $STATE_DIRECTORY is the data directory.
 */
#include "agent/paths.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char paths[3][PATH_MAX];
static bool done;

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* dir + "/" + rel with "x/.." pairs folded, into out. */
static void join(const char *dir, const char *rel, char *out, size_t n)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/%s", dir, rel);
    char *parts[256];
    size_t k = 0;
    for (char *save = NULL, *p = strtok_r(tmp, "/", &save); p != NULL && k < 256;
         p = strtok_r(NULL, "/", &save)) {
        if (strcmp(p, ".") == 0) {
            continue;
        }
        if (strcmp(p, "..") == 0) {
            k -= k > 0;
            continue;
        }
        parts[k++] = p;
    }
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < k && used < n; i++) {
        used += (size_t)snprintf(out + used, n - used, "/%s", parts[i]);
    }
    if (k == 0) {
        snprintf(out, n, "/");
    }
}

static void find_tree(void)
{
    snprintf(paths[QTD_PATH_PLUGINS], PATH_MAX, "%s", QTD_PLUGIN_DIR);
    snprintf(paths[QTD_PATH_CONFIG], PATH_MAX, "%s/agent.lua", QTD_SYSCONF_DIR);
    snprintf(paths[QTD_PATH_STATE], PATH_MAX, "%s", QTD_STATE_DIR);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        return;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL) {
        return;
    }
    *slash = '\0'; /* the binary's directory */
    char build[PATH_MAX];
    if (realpath(QTD_BUILD_DIR, build) != NULL && strcmp(build, exe) == 0) {
        snprintf(paths[QTD_PATH_PLUGINS], PATH_MAX, "%.*s/plugins", PATH_MAX - 16, exe);
        snprintf(paths[QTD_PATH_CONFIG], PATH_MAX, "%s/config/agent.lua", QTD_SOURCE_DIR);
        return;
    }
    char plugins[PATH_MAX];
    join(exe, QTD_PLUGIN_DIR_FROM_BIN, plugins, sizeof(plugins));
    if (strcmp(exe, QTD_BIN_DIR) == 0 || !is_dir(plugins)) {
        return; /* where it was installed, or not an install tree: the compiled paths */
    }
    snprintf(paths[QTD_PATH_PLUGINS], PATH_MAX, "%s", plugins);
    char dir[PATH_MAX];
    join(exe, QTD_SYSCONF_DIR_FROM_BIN, dir, sizeof(dir));
    snprintf(paths[QTD_PATH_CONFIG], PATH_MAX, "%.*s/agent.lua", PATH_MAX - 16, dir);
    join(exe, QTD_STATE_DIR_FROM_BIN, paths[QTD_PATH_STATE], PATH_MAX);
}

static void find(void)
{
    done = true;
    find_tree();
    const char *state = getenv("STATE_DIRECTORY"); /* systemd's StateDirectory= */
    if (state != NULL && state[0] == '/' && strchr(state, ':') == NULL &&
        strlen(state) < PATH_MAX) {
        snprintf(paths[QTD_PATH_STATE], PATH_MAX, "%s", state);
    }
}

const char *qtd__path(qtd_path_t which)
{
    if (!done) {
        find();
    }
    return paths[which];
}
