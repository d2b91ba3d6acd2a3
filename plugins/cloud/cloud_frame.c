/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The platform's frame: AA AA | LEN u16 | SUM u8 | PKGID u16 | CMD u16 | payload, big-endian,
 * LEN = payload + 5, SUM = low byte of the sum of PKGID, CMD and payload (unescaped bytes).
 * Escaping, as QuecThing SDK 2.9.0 does it: from the second byte on, a 0xAA whose next
 * (unescaped) byte is 0xAA or 0x55, and a 0xAA that ends the frame, is followed by an inserted
 * 0x55; the receiver drops every 0x55 whose received predecessor is 0xAA (from the third
 * received byte on). Pure code: no I/O, no logging, no agent functions (malloc/free only),
 * shared by the cloud plugin, the simulator, the unit tests and the fuzzers. Whether a
 * command is known, and what its payload means, is the caller's business.
 */
#include "cloud_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HDR 0xAA
#define ESC 0x55

#define POS_LEN 2
#define POS_SUM 4
#define POS_PKGID 5
#define POS_CMD 7

uint16_t qtd_frame_next_pkgid(uint16_t id)
{
    id++;
    if (id == 0 || id == 0xFFFF) {
        id = 1;
    }
    return id;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += p[i];
    }
    return (uint8_t)sum;
}

/* Does the unescaped byte at i (i >= 1) get a 0x55 after it? */
static int needs_escape(const uint8_t *u, size_t n, size_t i)
{
    if (u[i] != HDR) {
        return 0;
    }
    return i + 1 == n || u[i + 1] == HDR || u[i + 1] == ESC;
}

int qtd_frame_encode(uint16_t pkgid, uint16_t cmd, const uint8_t *payload, size_t len,
                     uint8_t **out, size_t *out_len)
{
    uint8_t *u = NULL;
    uint8_t *e = NULL;
    int rc;

    if (out == NULL || out_len == NULL || (payload == NULL && len > 0) || pkgid == 0 ||
        pkgid == 0xFFFF) {
        return -EINVAL;
    }
    *out = NULL;
    *out_len = 0;
    if (len > QTD_FRAME_MAX_PAYLOAD) {
        return -EMSGSIZE;
    }

    size_t n = QTD_FRAME_HEADER_LEN + len;
    u = malloc(n);
    if (u == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    u[0] = HDR;
    u[1] = HDR;
    put16(u + POS_LEN, (uint16_t)(len + 5));
    put16(u + POS_PKGID, pkgid);
    put16(u + POS_CMD, cmd);
    if (len > 0) {
        memcpy(u + QTD_FRAME_HEADER_LEN, payload, len);
    }
    u[POS_SUM] = checksum(u + POS_PKGID, n - POS_PKGID);

    size_t extra = 0;
    for (size_t i = 1; i < n; i++) {
        extra += (size_t)needs_escape(u, n, i);
    }
    e = malloc(n + extra);
    if (e == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    size_t o = 0;
    e[o++] = u[0];
    for (size_t i = 1; i < n; i++) {
        e[o++] = u[i];
        if (needs_escape(u, n, i)) {
            e[o++] = ESC;
        }
    }
    free(u);
    *out = e;
    *out_len = o;
    return 0;

fail:
    free(u);
    free(e);
    return rc;
}

int qtd_frame_header(const uint8_t *buf, size_t n, uint16_t *pkgid, uint16_t *cmd)
{
    if (buf == NULL || pkgid == NULL || cmd == NULL) {
        return -EINVAL;
    }
    if (n < 2 || buf[0] != HDR || buf[1] != HDR) {
        return -EPROTO;
    }
    uint8_t h[QTD_FRAME_HEADER_LEN] = {HDR, HDR};
    size_t m = 2;
    for (size_t i = 2; i < n && m < sizeof(h); i++) {
        if (!(buf[i] == ESC && buf[i - 1] == HDR)) {
            h[m++] = buf[i];
        }
    }
    if (m < sizeof(h)) {
        return -EPROTO;
    }
    *pkgid = be16(h + POS_PKGID);
    *cmd = be16(h + POS_CMD);
    return 0;
}

int qtd_frame_decode(const uint8_t *buf, size_t n, qtd_frame_t *out, uint8_t **storage, int *reason)
{
    uint8_t *u = NULL;
    int why = QTD_EXCE_PROTOCOL;
    int rc = -EPROTO;

    if (out == NULL || storage == NULL || (buf == NULL && n > 0)) {
        return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    *storage = NULL;
    if (reason != NULL) {
        *reason = 0;
    }
    if (n < 2 || buf[0] != HDR || buf[1] != HDR) {
        goto fail;
    }

    u = malloc(n);
    if (u == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    /* Unescape: drop a 0x55 whose received predecessor is 0xAA, from the third byte on. */
    size_t m = 0;
    u[m++] = buf[0];
    u[m++] = buf[1];
    for (size_t i = 2; i < n; i++) {
        if (buf[i] == ESC && buf[i - 1] == HDR) {
            continue;
        }
        u[m++] = buf[i];
    }

    why = QTD_EXCE_LENGTH;
    if (m < QTD_FRAME_HEADER_LEN) {
        goto fail;
    }
    out->pkgid = be16(u + POS_PKGID);
    out->cmd = be16(u + POS_CMD);
    size_t declared = be16(u + POS_LEN);
    if (declared < 5 || declared + 4 != m) {
        goto fail;
    }
    why = QTD_EXCE_PROTOCOL;
    if (out->pkgid == 0 || out->pkgid == 0xFFFF) {
        goto fail;
    }
    why = QTD_EXCE_CHECKSUM;
    if (checksum(u + POS_PKGID, m - POS_PKGID) != u[POS_SUM]) {
        goto fail;
    }
    out->payload = u + QTD_FRAME_HEADER_LEN;
    out->len = m - QTD_FRAME_HEADER_LEN;
    *storage = u;
    return 0;

fail:
    free(u);
    if (rc == -EPROTO && reason != NULL) {
        *reason = why;
    }
    return rc;
}

const char *qtd_frame_topic_type(uint16_t cmd)
{
    switch (cmd) {
    case QTD_CMD_STATUS_RSP:
    case QTD_CMD_STATUS_EVENT:
    case QTD_CMD_INFO_RSP:
    case QTD_CMD_INFO_EVENT:
    case QTD_CMD_EXCE_EVENT:
        return "sys";
    case QTD_CMD_TSL_RSP:
    case QTD_CMD_TSL_EVENT:
    case QTD_CMD_PASS_EVENT:
    case QTD_CMD_LOC_REPORT:
    case QTD_CMD_LOC_RSP:
        return "bus";
    case QTD_CMD_OTA_REQUEST_RSP:
    case QTD_CMD_OTA_EVENT:
    case QTD_CMD_OTA_REQUEST:
        return "ota";
    default:
        break;
    }
    if (cmd >= 0x00C0 && cmd <= 0x00C8) { /* gateway sub-device commands */
        return "sys";
    }
    return NULL;
}
