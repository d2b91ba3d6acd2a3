/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The platform's frame (docs/protocol.md "Frame"): AA AA | LEN u16 | SUM u8 | PKGID u16 |
 * CMD u16 | payload, with 0x55 escaping after 0xAA. Pure functions, no I/O, no global state:
 * shared by the cloud plugin, the simulator, the unit tests and the fuzzers.
 */
#ifndef QTD_PLUGINS_CLOUD_CLOUD_FRAME_H
#define QTD_PLUGINS_CLOUD_CLOUD_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Reasons of EXCE_EVENT 0x00A4 id 1, also what qtd_frame_decode reports. */
enum {
    QTD_EXCE_PROTOCOL = 1,     /* not a frame: header, pkgid 0 or 0xFFFF */
    QTD_EXCE_LENGTH = 2,       /* LEN disagrees with the bytes received */
    QTD_EXCE_CHECKSUM = 3,     /* SUM wrong */
    QTD_EXCE_COMMAND = 4,      /* unknown command (decided by the caller) */
    QTD_EXCE_UNFORMATTABLE = 5 /* payload does not decode (TTLV) */
};

/* Command codes (docs/protocol.md "Commands"). */
enum {
    QTD_CMD_TSL_REQ = 0x0011,
    QTD_CMD_TSL_RSP = 0x0012,
    QTD_CMD_TSL_WRITE = 0x0013,
    QTD_CMD_TSL_EVENT = 0x0014,
    QTD_CMD_PASS_WRITE = 0x0023,
    QTD_CMD_PASS_EVENT = 0x0024,
    QTD_CMD_STATUS_REQ = 0x0031,
    QTD_CMD_STATUS_RSP = 0x0032,
    QTD_CMD_STATUS_EVENT = 0x0034,
    QTD_CMD_INFO_REQ = 0x0041,
    QTD_CMD_INFO_RSP = 0x0042,
    QTD_CMD_INFO_EVENT = 0x0044,
    QTD_CMD_EXCE_WRITE = 0x00A3,
    QTD_CMD_EXCE_EVENT = 0x00A4,
    QTD_CMD_DEV_CONFIG_WRITE = 0x00B4,
    QTD_CMD_OTA_NOTIFY = 0x0111,
    QTD_CMD_OTA_REQUEST_RSP = 0x0112,
    QTD_CMD_OTA_FW_INFO = 0x0113,
    QTD_CMD_OTA_EVENT = 0x0114,
    QTD_CMD_OTA_REQUEST = 0x0115,
    QTD_CMD_LOC_REPORT = 0x0122,
    QTD_CMD_LOC_REQ = 0x0123,
    QTD_CMD_LOC_RSP = 0x0124
};

#define QTD_FRAME_HEADER_LEN 9 /* AA AA LEN(2) SUM PKGID(2) CMD(2), unescaped */
#define QTD_FRAME_MAX_PAYLOAD (0xFFFF - 5)

typedef struct qtd_frame_s {
    uint16_t pkgid;
    uint16_t cmd;
    const uint8_t *payload; /* points into the decode buffer */
    size_t len;
} qtd_frame_t;

/* Next packet id after id: 1..0xFFFE, wrapping to 1 (0 and 0xFFFF are never used). */
uint16_t qtd_frame_next_pkgid(uint16_t id);

/* Encode one frame, escaped, into *out (malloc'ed; free()). pkgid must be 1..0xFFFE and
 * len <= QTD_FRAME_MAX_PAYLOAD; payload may be NULL when len is 0. Escaping (SDK 2.9.0
 * Ql_iotDpFormat): from the second byte on, every 0xAA whose next unescaped byte is 0xAA or
 * 0x55, and a 0xAA that is the last byte, is followed by an inserted 0x55.
 * Returns: 0, -EINVAL (pkgid 0/0xFFFF, NULL pointers), -EMSGSIZE, -ENOMEM. */
int qtd_frame_encode(uint16_t pkgid, uint16_t cmd, const uint8_t *payload, size_t len,
                     uint8_t **out, size_t *out_len);

/* Decode one whole frame (an MQTT message) of n bytes. Unescapes into *storage (malloc'ed;
 * free() it after using out->payload; on failure it is NULL): from the third byte on, a 0x55
 * whose received predecessor is 0xAA is dropped, nothing else is special (an unescaped AA AA
 * is data, as in the SDK's receiver). Checks, in this order: header AA AA (else
 * QTD_EXCE_PROTOCOL), at least 9 unescaped bytes, LEN >= 5 and LEN + 4 == the unescaped
 * length (else QTD_EXCE_LENGTH: bytes past the frame are refused, unlike the SDK which
 * ignores them), PKGID not 0 or 0xFFFF (QTD_EXCE_PROTOCOL), SUM (QTD_EXCE_CHECKSUM). On
 * failure returns -EPROTO and sets *reason (if not NULL); out->pkgid and out->cmd are set
 * when the 9 header bytes were there (0 otherwise), so the answer can name the pkgid.
 * Returns: 0, -EPROTO, -EINVAL (NULL pointers), -ENOMEM (*reason left 0). */
/* The packet id and command of an escaped frame, read from its first bytes without a copy
 * (unescaped as qtd_frame_decode does; LEN, SUM and the payload are not checked): for frames
 * this side encoded, e.g. a stored uplink whose command the sender needs again.
 * Returns: 0, -EPROTO (no AA AA header or fewer than 9 unescaped bytes), -EINVAL. */
int qtd_frame_header(const uint8_t *buf, size_t n, uint16_t *pkgid, uint16_t *cmd);

int qtd_frame_decode(const uint8_t *buf, size_t n, qtd_frame_t *out, uint8_t **storage,
                     int *reason);

/* The MQTT topic type for an uplink command: "sys" (0x0032, 0x0034, 0x0042, 0x0044, 0x00A4,
 * 0x00C0-0x00C8), "bus" (0x0012, 0x0014, 0x0024, 0x0122, 0x0124), "ota" (0x0112, 0x0114,
 * 0x0115) or NULL for anything else (downlink commands included). */
const char *qtd_frame_topic_type(uint16_t cmd);

#endif /* QTD_PLUGINS_CLOUD_CLOUD_FRAME_H */
