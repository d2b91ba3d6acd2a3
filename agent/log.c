/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Log lines "2026-11-25T10:00:00.123Z INFO  cloud: message" to stderr, or to syslog with the
 * level mapped to a syslog priority. One write per line so concurrent lines never interleave.
 * Also the error-code text table (qtd_strerror) generated from QTD_ERRNO_MAP.
 */
#include "agent/log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_level = QTD_LOG_INFO;
static bool log_syslog;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void qtd__log_setup(int level, bool use_syslog)
{
    log_level = level;
    if (use_syslog && !log_syslog) {
        openlog("qthingd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    } else if (!use_syslog && log_syslog) {
        closelog();
    }
    log_syslog = use_syslog;
}

int qtd__log_level(void)
{
    return log_level;
}

int qtd__log_parse_level(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            return i;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        return QTD_LOG_WARN;
    }
    return -1;
}

void qtd__vlog(int level, const char *who, const char *fmt, va_list ap)
{
    if (level > log_level) {
        return;
    }
    if (level < QTD_LOG_ERROR) {
        level = QTD_LOG_ERROR;
    }
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (log_syslog) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[level], "%s: %s", who, msg);
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[2300];
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: %s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), level_names[level], who, msg);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void qtd__log(int level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    qtd__vlog(level, who, fmt, ap);
    va_end(ap);
}

const char *qtd_strerror(int err)
{
    switch (err) {
#define QTD_STRERROR_(name, value, text)                                                           \
    case QTD_##name:                                                                               \
        return text;
        QTD_ERRNO_MAP(QTD_STRERROR_)
#undef QTD_STRERROR_
    case 0:
        return "success";
    default:
        return "unknown error";
    }
}

const char *qtd_err_name(int err)
{
    switch (err) {
#define QTD_ERRNAME_(name, value, text)                                                            \
    case QTD_##name:                                                                               \
        return "QTD_" #name;
        QTD_ERRNO_MAP(QTD_ERRNAME_)
#undef QTD_ERRNAME_
    case 0:
        return "0";
    default:
        return "unknown error";
    }
}
