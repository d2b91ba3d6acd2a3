/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulator's translation between the wire and JSON: frames and TTLV value trees to
 * JSON for the log, JSON (control messages, the command line) to TTLV payloads and u16 id
 * lists for downlinks. Pure functions over the codec (cloud_frame.h, cloud_ttlv.h) and
 * cJSON; no I/O, no MQTT.
 *
 * JSON forms:
 * - a TTLV payload or struct is an object keyed by decimal ids: {"1": true, "29": {"30": 1}};
 * - an array is a JSON array; text is a string; bytes that are not text (or with a NUL)
 *   are {"hex": "00ff"} (a one-key object "hex" is bytes also in the other direction);
 * - a number written without '.' or exponent is an INT (exactly, 64 bits), any other a
 *   DOUBLE. In the log a DOUBLE always shows a '.' or an exponent (25.0, 12.5, 1e-07).
 */
#ifndef QTD_SIM_SIM_JSON_H
#define QTD_SIM_SIM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "qthingd/events.h"

/* A parsed JSON text that remembers how each number was written. */
typedef struct qtd_sim_doc_s {
    cJSON *root;
    const cJSON **items; /* number items, in document order */
    char **texts;        /* their text as written */
    size_t n;
} qtd_sim_doc_t;

/* Parse text (NUL-terminated). Returns: 0, -EINVAL (not JSON), -ENOMEM. */
int qtd_sim_doc_parse(const char *text, qtd_sim_doc_t *doc);
void qtd_sim_doc_free(qtd_sim_doc_t *doc);
/* The text of number item as written, or NULL if item is not a number of doc. */
const char *qtd_sim_doc_number(const qtd_sim_doc_t *doc, const cJSON *item);

/* Name of a command ("TSL_EVENT"), or NULL if unknown. */
const char *qtd_sim_cmd_name(uint16_t cmd);
/* Command by name or number text ("TSL_WRITE", "0x0013", "19"); -1 if unknown. */
int qtd_sim_cmd_parse(const char *text);
/* Payload kind of a command: 't' TTLV, 'i' u16 ids, 'r' raw bytes, 0 unknown command. */
char qtd_sim_cmd_kind(uint16_t cmd);
/* MQTT topic type of a downlink command ("sys", "bus", "ota"). */
const char *qtd_sim_down_topic_type(uint16_t cmd);
/* Name of a qtd_frame_decode reason ("checksum"). */
const char *qtd_sim_reason_name(int reason);

/* A value tree to JSON (INT and DOUBLE as raw numbers, see above). NULL on ENOMEM. */
cJSON *qtd_sim_value_to_json(const qtd_value_t *v);
/* Bytes to {"hex": "...", "text": "..."} (text only if valid UTF-8 without NUL). */
cJSON *qtd_sim_bytes_to_json(const uint8_t *p, size_t n);
/* Is p[0..n) valid UTF-8 without NUL bytes? */
bool qtd_sim_utf8_ok(const uint8_t *p, size_t n);

/* Add the decoding of one frame to obj: "pkgid", "cmd", "cmd_name", "data" (by the command's
 * payload kind), or "error" ("protocol", "length", "checksum", "command", "unformattable"),
 * "detail" and "hex" of what could not be read. Returns: 0 decoded, 1 malformed,
 * -ENOMEM. */
int qtd_sim_frame_to_json(const uint8_t *buf, size_t n, cJSON *obj);

/* A JSON object (keys = TSL ids) to a TTLV payload (*out malloc'ed). On -EINVAL, err names
 * the problem. Returns: 0, -EINVAL, -ENOMEM. */
int qtd_sim_json_to_ttlv(const qtd_sim_doc_t *doc, const cJSON *obj, uint8_t **out, size_t *len,
                         char *err, size_t errlen);
/* A JSON array of ids (0..65535) to u16 big-endian (*out malloc'ed; empty array: NULL, 0).
 * Returns: 0, -EINVAL, -ENOMEM. */
int qtd_sim_json_to_ids(const cJSON *arr, uint8_t **out, size_t *len, char *err, size_t errlen);
/* Hex text ("aa55", spaces and colons allowed) to bytes (*out malloc'ed, may be NULL when
 * empty). Returns: 0, -EINVAL, -ENOMEM. */
int qtd_sim_hex_decode(const char *hex, uint8_t **out, size_t *len);
/* Bytes to lowercase hex (malloc'ed), NULL on ENOMEM. */
char *qtd_sim_hex_encode(const uint8_t *p, size_t n);

#endif /* QTD_SIM_SIM_JSON_H */
