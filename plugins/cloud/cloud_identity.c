/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device's identity as the session uses it: product key and secret, device key and
 * secret, server, lifetime and session flag, read from the store's kv table (CLOUD_KV_*
 * keys, written by cloud_lua_config.c and by the platform's DEV_CONFIG_WRITE). The default
 * device key follows the seed's modules: the modem's IMEI when an AT port answers
 * (cloud_at.c); else the MAC of the universally administered interface with the lowest
 * ifindex (unique per unit, unlike what a cloned disk image carries); else the first 16 hex
 * digits of /etc/machine-id (the same on every unit cloned from one image: the plugin warns);
 * else of SHA-256(hostname). All letters and digits, as the platform requires. Not here: how
 * settings are validated (cloud_lua_config.c).
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "cloud.h"

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

/* The MAC of the universally administered network interface with the lowest ifindex,
 * loopback excluded, as 12 lower-case hex digits in buf, and its name in ifname. */
static int from_mac(char *buf, size_t n, char *ifname, size_t ifn)
{
    DIR *d = opendir("/sys/class/net");
    if (d == NULL) {
        return QTD_ENOENT;
    }
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "lo") == 0) {
            continue;
        }
        char path[300];
        char line[64];
        snprintf(path, sizeof(path), "/sys/class/net/%s/address", e->d_name);
        FILE *fp = fopen(path, "r");
        if (fp == NULL) {
            continue;
        }
        char *ok = fgets(line, sizeof(line), fp);
        fclose(fp);
        unsigned b[6];
        if (ok == NULL || sscanf(line, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4],
                                 &b[5]) != 6) {
            continue;
        }
        /* Universally administered (bit 1 of the first octet clear), unicast, not zero. */
        if ((b[0] & 0x03) != 0 || (b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) == 0) {
            continue;
        }
        snprintf(path, sizeof(path), "/sys/class/net/%s/ifindex", e->d_name);
        fp = fopen(path, "r");
        long index = -1;
        if (fp != NULL) {
            if (fgets(line, sizeof(line), fp) != NULL) {
                index = strtol(line, NULL, 10);
            }
            fclose(fp);
        }
        if (index < 0 || (best >= 0 && index >= best)) {
            continue;
        }
        best = index;
        snprintf(buf, n, "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
        snprintf(ifname, ifn, "%.*s", (int)(ifn > 0 ? ifn - 1 : 0), e->d_name);
    }
    closedir(d);
    return best >= 0 ? 0 : QTD_ENOENT;
}

int qtd_cloud_host_dk(char *buf, size_t n, char *source, size_t sn)
{
    char ifname[64];
    if (n < 17) {
        return QTD_EINVAL;
    }
    if (from_mac(buf, n, ifname, sizeof(ifname)) == 0) {
        snprintf(source, sn, "the MAC of %s", ifname);
        return CLOUD_DK_MAC;
    }
    if (from_file("/etc/machine-id", buf, n) == 0 ||
        from_file("/var/lib/dbus/machine-id", buf, n) == 0) {
        snprintf(source, sn, "/etc/machine-id");
        return CLOUD_DK_MACHINE_ID;
    }
    char host[256] = "qthingd";
    gethostname(host, sizeof(host) - 1);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)host, strlen(host), md);
    for (int i = 0; i < 8; i++) {
        snprintf(buf + 2 * i, 3, "%02x", md[i]);
    }
    snprintf(source, sn, "the host name");
    return CLOUD_DK_HOSTNAME;
}

static void kv_text(cloud_t *c, const char *key, char *out, size_t n, const char *def)
{
    char *v = NULL;
    size_t len = 0;
    if (c->api->kv_get(c->host, key, &v, &len) == 0 && len < n) {
        memcpy(out, v, len + 1);
    } else {
        snprintf(out, n, "%s", def != NULL ? def : "");
    }
    c->api->free(c->host, v);
}

void qtd_cloud_read_identity(cloud_t *c, identity_t *id)
{
    char num[32];
    kv_text(c, CLOUD_KV_PK, id->pk, sizeof(id->pk), "");
    kv_text(c, CLOUD_KV_PS, id->ps, sizeof(id->ps), "");
    kv_text(c, CLOUD_KV_DK, id->dk, sizeof(id->dk), NULL);
    if (id->dk[0] == '\0') {
        snprintf(id->dk, sizeof(id->dk), "%s", c->default_dk);
    }
    kv_text(c, CLOUD_KV_DS, id->ds, sizeof(id->ds), "");
    kv_text(c, CLOUD_KV_SERVER, id->server, sizeof(id->server), CLOUD_DEFAULT_SERVER);
    kv_text(c, CLOUD_KV_LIFETIME, num, sizeof(num), "120");
    id->lifetime = strtoll(num, NULL, 10);
    if (id->lifetime < 1 || id->lifetime > 65535) {
        id->lifetime = CLOUD_DEFAULT_LIFETIME;
    }
    kv_text(c, CLOUD_KV_SESSION, num, sizeof(num), "0");
    id->session_flag = strcmp(num, "1") == 0 || strcmp(num, "true") == 0;
}

void qtd_cloud_load_identity(cloud_t *c)
{
    qtd_cloud_read_identity(c, &c->id);
    snprintf(c->cid, sizeof(c->cid), "qd%s%s", c->id.pk, c->id.dk);
    snprintf(c->sub_topic, sizeof(c->sub_topic), "q/1/d/%s/+", c->cid);
}
