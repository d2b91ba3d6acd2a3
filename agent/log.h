/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's log: levels, to stderr (with a timestamp) or syslog, every line prefixed with
 * who wrote it ("core", "lua", a plugin's name). Not for plugins: they log via the host API.
 */
#ifndef QTD_AGENT_LOG_H
#define QTD_AGENT_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "qthingd/plugin.h"

void qtd__log_setup(int level, bool use_syslog);
int qtd__log_level(void);
/* Parse "error", "warn", "info", "debug". Returns the level or -1. */
int qtd__log_parse_level(const char *name);
void qtd__vlog(int level, const char *who, const char *fmt, va_list ap);
void qtd__log(int level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define qtd_log_error(who, ...) qtd__log(QTD_LOG_ERROR, (who), __VA_ARGS__)
#define qtd_log_warn(who, ...) qtd__log(QTD_LOG_WARN, (who), __VA_ARGS__)
#define qtd_log_info(who, ...) qtd__log(QTD_LOG_INFO, (who), __VA_ARGS__)
#define qtd_log_debug(who, ...) qtd__log(QTD_LOG_DEBUG, (who), __VA_ARGS__)

/* Text of a QTD_E* code; "unknown error" for others. */
const char *qtd_strerror(int err);
const char *qtd_err_name(int err);

#endif /* QTD_AGENT_LOG_H */
