/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's default files and directories, found at run time (paths.c). */
#ifndef QTD_AGENT_PATHS_H
#define QTD_AGENT_PATHS_H

typedef enum {
    QTD_PATH_PLUGINS = 0, /* the plugin directory */
    QTD_PATH_CONFIG = 1,  /* the default config file (agent.lua) */
    QTD_PATH_STATE = 2    /* the default data directory */
} qtd_path_t;

/* The path (static storage, found on the first call). */
const char *qtd__path(qtd_path_t which);

#endif /* QTD_AGENT_PATHS_H */
