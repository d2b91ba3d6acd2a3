/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TTLV (docs/protocol.md "TTLV"): the thing-model payload encoding, to and from the agent's
 * value trees (qthingd/events.h). A payload is a sequence of nodes; here it is a STRUCT
 * whose children are the nodes (ids 1..8191). Pure functions, no I/O; trees built by the
 * decoder are allocated with malloc and released with qtd_ttlv_free.
 */
#ifndef QTD_PLUGINS_CLOUD_CLOUD_TTLV_H
#define QTD_PLUGINS_CLOUD_CLOUD_TTLV_H

#include <stddef.h>
#include <stdint.h>

#include "qthingd/events.h"

#define QTD_TTLV_MAX_DEPTH 16
#define QTD_TTLV_MAX_ID 8191

/* Encode a STRUCT (the payload's nodes) into *out (malloc'ed; free()). Numbers: INT as an
 * integer; DOUBLE with the fewest decimal places that give its shortest round-trip decimal
 * (12.5 -> 125, n = 1); more than 15 places, NaN/Inf or a magnitude over 64 bits is refused,
 * never rounded. BYTES and STRING are both type 3. ARRAY children get id 0.
 * Returns: 0, -EINVAL (ids out of range, depth > 16, bad number, length > 65535,
 * not a STRUCT at the top), -ENOMEM. */
int qtd_ttlv_encode(const qtd_value_t *payload, uint8_t **out, size_t *len);

/* Decode a payload into a STRUCT tree (*out). Numbers with 0 decimal places become INT
 * (positive magnitudes over INT64_MAX are refused), others DOUBLE; type 3 becomes STRING
 * (with a NUL after it in memory; len may include embedded NULs). A struct whose children
 * all have id 0 (and at least one child) becomes an ARRAY. Refuses lengths past the end,
 * counts larger than the rest, nesting deeper than 16 and types 5-7.
 * Returns: 0, -EINVAL (malformed: *err_off is the byte offset of the problem), -ENOMEM. */
int qtd_ttlv_decode(const uint8_t *buf, size_t n, qtd_value_t *out, size_t *err_off);

/* Release a tree built by qtd_ttlv_decode (not the node itself). Accepts NULL. */
void qtd_ttlv_free(qtd_value_t *v);

#endif /* QTD_PLUGINS_CLOUD_CLOUD_TTLV_H */
