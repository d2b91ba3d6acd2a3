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

#define QTD_TTLV_MAX_DEPTH QTD_VALUE_MAX_NESTING
#define QTD_TTLV_MAX_ID 8191

/* Encode a STRUCT (the payload's nodes, ids 1..8191) into *out (malloc'ed, never NULL on
 * success even when empty; free()). Numbers: INT as an integer (0 places); a DOUBLE that is
 * a whole number as that exact integer with 0 places (1.0 -> 1, so it decodes as INT; as the
 * SDK does), other DOUBLEs with the fewest decimal places that give their shortest round-trip
 * decimal (12.5 -> 125, n = 1; 0.3 -> 3, n = 1). Refused, never rounded: more than 15 places,
 * NaN/Inf, and whole numbers outside int64 (the receiver reads 0 places as int64; so 1e300
 * too). BOOL is type 0/1; BYTES and STRING are both type 3; STRUCT and ARRAY are type 4, the
 * ARRAY's children get id 0 whatever their id field says, a STRUCT's children need ids
 * 1..8191. An empty ARRAY goes out as an empty struct (count 0): there is no id-0 child to
 * mark it, so it decodes as an empty STRUCT. QTD_VAL_NONE has no TTLV form.
 * Returns: 0, -EINVAL (ids out of range, nesting deeper than 16 structs, bad number,
 * length or count > 65535, NONE or unknown type, not a STRUCT at the top), -ENOMEM. */
int qtd_ttlv_encode(const qtd_value_t *payload, uint8_t **out, size_t *len);

/* Decode a payload into a STRUCT tree (*out; on failure *out is QTD_VAL_NONE and holds
 * nothing). Numbers with 0 decimal places become INT (a positive magnitude over INT64_MAX or
 * a negative one over 2^63 is refused; magnitudes with leading zero bytes are accepted),
 * others DOUBLE, correctly rounded from magnitude / 10^n; type 3 becomes STRING (len bytes,
 * possibly with embedded NULs, then a NUL in memory); type 4 becomes STRUCT, or ARRAY when
 * it has children and all have id 0; a struct mixing id 0 and other ids is refused, and so
 * is id 0 at the top level. Duplicate ids are kept as they come. Refuses lengths past the
 * end, counts larger than the rest (count > remaining bytes / 2), nesting deeper than 16
 * structs, and types 5-7 (RAW of newer SDKs, whose encoding is unknown).
 * *err_off (if not NULL) is the offset of the node at fault (its tag; the input's length
 * when a node is missing at the end).
 * Returns: 0, -EINVAL (malformed), -ENOTSUP (type 5-7: malformed too, but reported apart so
 * the caller can count it), -ENOMEM. */
int qtd_ttlv_decode(const uint8_t *buf, size_t n, qtd_value_t *out, size_t *err_off);

/* Release a tree built by qtd_ttlv_decode (not the node itself). Accepts NULL. */
void qtd_ttlv_free(qtd_value_t *v);

#endif /* QTD_PLUGINS_CLOUD_CLOUD_TTLV_H */
