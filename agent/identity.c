/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device's default identity on a Linux host. The seed's modules use the IMEI as the
 * device key; until a modem answers (the cloud plugin's AT port), the default DK is the
 * first 16 hex digits of /etc/machine-id (systemd's stable per-install id), else of
 * SHA-256(hostname). Both are letters and digits only, as the platform requires.
 */
#include "agent/agent.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

static int from_file(const char *path, char *buf, size_t n)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return QTD_ENOENT;
    }
    char line[128] = "";
    char *ok = fgets(line, sizeof(line), fp);
    fclose(fp);
    if (ok == NULL) {
        return QTD_ENOENT;
    }
    size_t len = 0;
    for (const char *p = line; *p != '\0' && len < 16 && len + 1 < n; p++) {
        if (isxdigit((unsigned char)*p)) {
            buf[len++] = (char)tolower((unsigned char)*p);
        }
    }
    buf[len] = '\0';
    return len == 16 ? 0 : QTD_ENOENT;
}

int qtd__default_dk(char *buf, size_t n)
{
    if (n < 17) {
        return QTD_EINVAL;
    }
    if (from_file("/etc/machine-id", buf, n) == 0 ||
        from_file("/var/lib/dbus/machine-id", buf, n) == 0) {
        return 0;
    }
    char host[256] = "qthingd";
    gethostname(host, sizeof(host) - 1);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)host, strlen(host), md);
    for (int i = 0; i < 8; i++) {
        snprintf(buf + 2 * i, 3, "%02x", md[i]);
    }
    return 0;
}
