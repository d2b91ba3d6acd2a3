/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the simulator's JSON <-> wire translation (sim/sim_json.c), three ways:
 * - the fuzz bytes as JSON text (a NUL-terminated copy): an object that qtd_sim_json_to_ttlv
 *   accepts gives a payload that qtd_ttlv_decode reads back whole, that qtd_sim_value_to_json
 *   renders, and that a TSL_WRITE frame around it makes qtd_sim_frame_to_json answer 0
 *   (decoded); a refusal writes an error text. An array that qtd_sim_json_to_ids accepts
 *   gives two bytes per item.
 * - the fuzz bytes as hex text: what qtd_sim_hex_decode accepts, qtd_sim_hex_encode gives
 *   back as text that decodes to the same bytes;
 * - the fuzz bytes as raw bytes: hex encode then decode is the identity, and
 *   qtd_sim_frame_to_json answers 0 or 1 (malformed), never fails otherwise.
 * Any difference traps.
 *   clang -g -fsanitize=fuzzer,address,undefined -Isim -Iplugins/cloud -Iagent/include
 *         -I/usr/include/cjson tests/fuzz/fuzz_simjson.c sim/sim_json.c
 *         plugins/cloud/cloud_ttlv.c plugins/cloud/cloud_frame.c -lcjson -lm -o fuzz_simjson
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cloud_frame.h"
#include "cloud_ttlv.h"
#include "sim_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

static void json_side(const char *text)
{
    qtd_sim_doc_t doc;
    char err[256];

    if (qtd_sim_doc_parse(text, &doc) != 0) {
        return;
    }
    if (cJSON_IsObject(doc.root)) {
        uint8_t *payload = NULL;
        size_t len = 0;
        err[0] = '\0';
        int rc = qtd_sim_json_to_ttlv(&doc, doc.root, &payload, &len, err, sizeof(err));
        if (rc == -EINVAL) {
            check(err[0] != '\0' && payload == NULL);
        } else if (rc == 0) {
            qtd_value_t tree;
            size_t off = 0;
            check(qtd_ttlv_decode(payload, len, &tree, &off) == 0);
            cJSON *j = qtd_sim_value_to_json(&tree);
            check(j != NULL);
            cJSON_Delete(j);
            qtd_ttlv_free(&tree);

            uint8_t *frame = NULL;
            size_t flen = 0;
            if (len <= QTD_FRAME_MAX_PAYLOAD &&
                qtd_frame_encode(1, QTD_CMD_TSL_WRITE, payload, len, &frame, &flen) == 0) {
                cJSON *obj = cJSON_CreateObject();
                check(obj != NULL && qtd_sim_frame_to_json(frame, flen, obj) == 0);
                cJSON_Delete(obj);
                free(frame);
            }
        }
        free(payload);
    } else if (cJSON_IsArray(doc.root)) {
        uint8_t *ids = NULL;
        size_t len = 0;
        err[0] = '\0';
        int rc = qtd_sim_json_to_ids(doc.root, &ids, &len, err, sizeof(err));
        if (rc == 0) {
            check(len == 2 * (size_t)cJSON_GetArraySize(doc.root));
        } else if (rc == -EINVAL) {
            check(err[0] != '\0' && ids == NULL);
        }
        free(ids);
    }
    qtd_sim_doc_free(&doc);
}

static void hex_side(const char *text, const uint8_t *data, size_t size)
{
    uint8_t *bytes = NULL;
    size_t n = 0;

    if (qtd_sim_hex_decode(text, &bytes, &n) == 0) {
        char *again = qtd_sim_hex_encode(bytes, n);
        uint8_t *back = NULL;
        size_t m = 0;
        check(again != NULL && strlen(again) == 2 * n);
        check(qtd_sim_hex_decode(again, &back, &m) == 0 && m == n &&
              (n == 0 || memcmp(back, bytes, n) == 0));
        free(again);
        free(back);
        free(bytes);
    }

    char *hex = qtd_sim_hex_encode(data, size);
    check(hex != NULL && strlen(hex) == 2 * size);
    check(qtd_sim_hex_decode(hex, &bytes, &n) == 0 && n == size &&
          (size == 0 || memcmp(bytes, data, size) == 0));
    free(bytes);
    free(hex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';

    json_side(text);
    hex_side(text, data, size);

    cJSON *obj = cJSON_CreateObject();
    if (obj != NULL) {
        int rc = qtd_sim_frame_to_json(data, size, obj);
        check(rc == 0 || rc == 1 || rc == -ENOMEM);
        char *printed = cJSON_PrintUnformatted(obj);
        free(printed);
        cJSON_Delete(obj);
    }
    (void)qtd_sim_utf8_ok(data, size);
    free(text);
    return 0;
}
