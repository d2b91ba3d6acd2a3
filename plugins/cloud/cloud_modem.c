/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AT-port queries of the modem and the parsers of their answers (cloud_modem.h). The
 * commands are the 3GPP ones (27.007: +CGSN, +CSQ, +CIMI, +CNUM) plus Quectel's +QCCID and
 * +QENG="servingcell"; a modem that does not know one answers ERROR and that value stays
 * "not available".
 */
#include "cloud_modem.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>

#include "qtd_serial.h"
#include <time.h>
#include <unistd.h>

/* The first line of resp that starts with prefix (after optional spaces), or NULL. */
static const char *line_with(const char *resp, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = resp; p != NULL && *p != '\0';) {
        while (*p == '\r' || *p == '\n' || *p == ' ') {
            p++;
        }
        if (strncmp(p, prefix, n) == 0) {
            return p + n;
        }
        p = strchr(p, '\n');
    }
    return NULL;
}

/* The first line made only of digits (IMEI, IMSI answer bare). */
static bool digits_line(const char *resp, char *out, size_t n, size_t min, size_t max)
{
    for (const char *p = resp; p != NULL && *p != '\0';) {
        while (*p == '\r' || *p == '\n' || *p == ' ') {
            p++;
        }
        size_t len = 0;
        while (isdigit((unsigned char)p[len])) {
            len++;
        }
        if (len >= min && len <= max && len < n &&
            (p[len] == '\r' || p[len] == '\n' || p[len] == '\0')) {
            memcpy(out, p, len);
            out[len] = '\0';
            return true;
        }
        p = strchr(p, '\n');
    }
    return false;
}

bool qtd_modem_parse_cgsn(const char *resp, qtd_modem_info_t *m)
{
    const char *tagged = line_with(resp, "+CGSN:");
    if (tagged != NULL) {
        return digits_line(tagged, m->imei, sizeof(m->imei), 14, 17);
    }
    return digits_line(resp, m->imei, sizeof(m->imei), 14, 17);
}

bool qtd_modem_parse_cimi(const char *resp, qtd_modem_info_t *m)
{
    return digits_line(resp, m->imsi, sizeof(m->imsi), 6, 15);
}

bool qtd_modem_parse_csq(const char *resp, qtd_modem_info_t *m)
{
    const char *p = line_with(resp, "+CSQ:");
    int rssi = 99;
    int ber = 99;
    if (p == NULL || sscanf(p, " %d , %d", &rssi, &ber) < 1 || rssi < 0 || rssi > 31) {
        return false; /* 99: not known */
    }
    m->rssi_dbm = -113 + 2 * rssi;
    m->has_rssi = true;
    return true;
}

bool qtd_modem_parse_ccid(const char *resp, qtd_modem_info_t *m)
{
    static const char *const tags[] = {"+QCCID:", "+CCID:", "+ICCID:"};
    for (size_t i = 0; i < 3; i++) {
        const char *p = line_with(resp, tags[i]);
        if (p == NULL) {
            continue;
        }
        while (*p == ' ' || *p == '"') {
            p++;
        }
        size_t len = 0;
        while (isalnum((unsigned char)p[len]) && len + 1 < sizeof(m->iccid)) {
            len++;
        }
        if (len >= 18) {
            memcpy(m->iccid, p, len);
            m->iccid[len] = '\0';
            return true;
        }
    }
    return false;
}

bool qtd_modem_parse_cnum(const char *resp, qtd_modem_info_t *m)
{
    /* +CNUM: "<alpha>","<number>",<type> */
    const char *p = line_with(resp, "+CNUM:");
    if (p == NULL) {
        return false;
    }
    const char *q = strchr(p, ',');
    if (q == NULL || q[1] != '"') {
        return false;
    }
    q += 2;
    size_t len = strcspn(q, "\"\r\n");
    if (len == 0 || len >= sizeof(m->phone)) {
        return false;
    }
    memcpy(m->phone, q, len);
    m->phone[len] = '\0';
    return true;
}

/* Split a comma-separated answer into fields (quotes dropped). Returns the count. */
static int split(const char *p, char fields[][24], int max)
{
    int n = 0;
    while (n < max && *p != '\0' && *p != '\r' && *p != '\n') {
        size_t len = strcspn(p, ",\r\n");
        const char *s = p;
        size_t k = len;
        while (k > 0 && (*s == ' ' || *s == '"')) {
            s++;
            k--;
        }
        while (k > 0 && (s[k - 1] == '"' || s[k - 1] == ' ')) {
            k--;
        }
        snprintf(fields[n], 24, "%.*s", (int)(k < 23 ? k : 23), s);
        n++;
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    return n;
}

bool qtd_modem_parse_qeng(const char *resp, qtd_modem_info_t *m)
{
    /* +QENG: "servingcell",<state>,"LTE",<is_tdd>,<MCC>,<MNC>,<cellID hex>,<PCID>,<earfcn>,
     *        <band>,<UL bw>,<DL bw>,<TAC hex>,<RSRP>,<RSRQ>,<RSSI>,<SINR>,... */
    const char *p = line_with(resp, "+QENG:");
    char f[24][24];
    if (p == NULL) {
        return false;
    }
    int n = split(p, f, 24);
    if (n < 17 || strcmp(f[0], "servingcell") != 0 || strcmp(f[2], "LTE") != 0) {
        return false;
    }
    char *end = NULL;
    m->mcc = (int)strtol(f[4], &end, 10);
    m->mnc = (int)strtol(f[5], NULL, 10);
    m->cell_id = strtoll(f[6], NULL, 16);
    m->lac = strtoll(f[12], NULL, 16);
    m->has_cell = *end == '\0' && f[4][0] != '\0';
    m->rsrp = (int)strtol(f[13], NULL, 10);
    m->rsrq = (int)strtol(f[14], NULL, 10);
    m->snr = (int)strtol(f[16], NULL, 10);
    m->has_rsrp = m->has_rsrq = m->has_snr = f[13][0] != '\0';
    return true;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send one command and collect its answer up to OK / ERROR. Returns true on OK. */
static bool ask(int fd, const char *cmd, char *resp, size_t n, int timeout_ms)
{
    tcflush(fd, TCIFLUSH);
    char line[96];
    int len = snprintf(line, sizeof(line), "%s\r", cmd);
    if (write(fd, line, (size_t)len) != len) {
        return false;
    }
    size_t used = 0;
    resp[0] = '\0';
    int64_t end = now_ms() + timeout_ms;
    while (used + 1 < n) {
        int left = (int)(end - now_ms());
        if (left <= 0) {
            return false;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, left) <= 0) {
            return false;
        }
        ssize_t r = read(fd, resp + used, n - used - 1);
        if (r <= 0) {
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
                continue;
            }
            return false;
        }
        used += (size_t)r;
        resp[used] = '\0';
        if (strstr(resp, "\r\nOK\r\n") != NULL || strncmp(resp, "OK\r\n", 4) == 0) {
            return true;
        }
        if (strstr(resp, "ERROR") != NULL) {
            return false;
        }
    }
    return false;
}

/* Open the port raw at baud, echo off. Returns the fd or -1. */
static int open_port(const char *port, int baud, int timeout_ms)
{
    int fd = open(port, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    (void)qtd_serial_setup(fd, qtd_serial_baud_ok(baud) ? baud : 115200, 'N', 8, 1);
    char resp[128];
    ask(fd, "ATE0", resp, sizeof(resp), timeout_ms); /* no echo: answers are easier to read */
    return fd;
}

int qtd_modem_imei(const char *port, int baud, int timeout_ms, char *imei, size_t n)
{
    int fd = open_port(port, baud, timeout_ms);
    if (fd < 0) {
        return -ENOENT;
    }
    char resp[256];
    qtd_modem_info_t m;
    memset(&m, 0, sizeof(m));
    bool ok = ask(fd, "AT+CGSN", resp, sizeof(resp), timeout_ms) && qtd_modem_parse_cgsn(resp, &m);
    close(fd);
    if (!ok || strlen(m.imei) >= n) {
        return -ETIMEDOUT;
    }
    memcpy(imei, m.imei, strlen(m.imei) + 1);
    return 0;
}

int qtd_modem_command(const char *port, int baud, const char *cmd, int timeout_ms, char *resp,
                      size_t n)
{
    int fd = open_port(port, baud, timeout_ms);
    if (fd < 0) {
        resp[0] = '\0';
        return -ENOENT;
    }
    bool ok = ask(fd, cmd, resp, n, timeout_ms);
    close(fd);
    if (ok) {
        return 0;
    }
    return strstr(resp, "ERROR") != NULL ? -EIO : -ETIMEDOUT;
}

int qtd_modem_query(const char *port, int baud, int timeout_ms, qtd_modem_info_t *m)
{
    memset(m, 0, sizeof(*m));
    int fd = open_port(port, baud, timeout_ms);
    if (fd < 0) {
        return -ENOENT;
    }
    static const struct {
        const char *cmd;
        bool (*parse)(const char *, qtd_modem_info_t *);
    } queries[] = {
        {"AT+CGSN", qtd_modem_parse_cgsn}, {"AT+CSQ", qtd_modem_parse_csq},
        {"AT+CIMI", qtd_modem_parse_cimi}, {"AT+QCCID", qtd_modem_parse_ccid},
        {"AT+CNUM", qtd_modem_parse_cnum}, {"AT+QENG=\"servingcell\"", qtd_modem_parse_qeng},
    };
    char resp[1024];
    int answered = 0;
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        if (ask(fd, queries[i].cmd, resp, sizeof(resp), timeout_ms) && queries[i].parse(resp, m)) {
            answered++;
        }
    }
    close(fd);
    return answered > 0 ? 0 : -ETIMEDOUT;
}
