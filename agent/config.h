/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent config: a Lua data file evaluated in an empty environment (no library, no
 * function reachable, an instruction cap), then validated section by section against typed
 * key tables (qtd_cfg_key_t) declared by the core and by each plugin. Every problem is
 * recorded with the key path and the expected form ("cloud.lifetime: expected an integer in
 * 1..65535, got 0"); nothing starts while any is recorded. Strings and arrays written into
 * section structs are owned by the config object and live until qtd__config_free.
 */
#ifndef QTD_AGENT_CONFIG_H
#define QTD_AGENT_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "qthingd/plugin.h"

typedef struct qtd_config_s qtd_config_t;

/* Evaluate the file. A file that cannot be read or evaluated is an error recorded in the
 * object (so the caller prints all errors the same way). Returns: 0, QTD_ENOMEM. */
int qtd__config_load(qtd_config_t **out, const char *path);
/* Validate the top-level table `name` (absent: all defaults) into dst (zeroed first). */
void qtd__config_section(qtd_config_t *cfg, const char *name, const qtd_cfg_key_t *map, void *dst);
/* Validate the top-level value `name` as the single key k (e.g. a top-level list) into
 * field; absent means k's default. */
void qtd__config_value(qtd_config_t *cfg, const char *name, const qtd_cfg_key_t *k, void *field);
/* Apply defaults of map into dst without any file (used for --help-plugin and tests).
 * Returns: 0, QTD_ECONFIG (a default does not parse: a bug in the map). */
int qtd__config_defaults(qtd_config_t *cfg, const qtd_cfg_key_t *map, void *dst);
/* Mark a top-level name as known without validating it (a plugin that failed to load). */
void qtd__config_ignore(qtd_config_t *cfg, const char *name);
/* Record an error for top-level keys that no section claimed. */
void qtd__config_check_unknown(qtd_config_t *cfg);
/* Record an error found by the caller (e.g. a plugin file that does not load). */
void qtd__config_error(qtd_config_t *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Number of errors recorded; print them one per line, prefixed with the file name. */
int qtd__config_error_count(const qtd_config_t *cfg);
void qtd__config_print_errors(const qtd_config_t *cfg, FILE *fp);
const char *qtd__config_path(const qtd_config_t *cfg);
/* The directory of the config file, for resolving relative paths. */
const char *qtd__config_dir(const qtd_config_t *cfg);
/* Resolve a path relative to the config file's directory (absolute paths unchanged).
 * The result is owned by cfg. */
const char *qtd__config_resolve(qtd_config_t *cfg, const char *path);
void qtd__config_free(qtd_config_t *cfg);

/* Print a key table as documentation: name, type, default, range/choices, help. */
void qtd__config_print_keys(FILE *fp, const char *section, const qtd_cfg_key_t *map);
/* The same as a Markdown table (docs/config-reference.md). */
void qtd__config_print_keys_md(FILE *fp, const char *section, const qtd_cfg_key_t *map);

#endif /* QTD_AGENT_CONFIG_H */
