/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the frame codec (plugins/cloud/cloud_frame.c): decode arbitrary bytes;
 * when that succeeds, the header read alone (qtd_frame_header) must agree, and encode the frame
 * again and decode the result, which must give the same pkgid, command and payload, and re-encoding
 * that must give the same bytes (the encoder's output is canonical). Any difference traps. Built by
 * hand or by the lead's CMake target: clang -g -fsanitize=fuzzer,address,undefined -Iplugins/cloud
 * -Iagent/include tests/fuzz/fuzz_frame.c plugins/cloud/cloud_frame.c -o fuzz_frame
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qtd_frame_t f1;
    qtd_frame_t f2;
    uint8_t *s1 = NULL;
    uint8_t *s2 = NULL;
    uint8_t *e1 = NULL;
    uint8_t *e2 = NULL;
    size_t n1 = 0;
    size_t n2 = 0;
    int reason = 0;

    int rc = qtd_frame_decode(data, size, &f1, &s1, &reason);
    if (rc != 0) {
        /* a refusal names one of the three frame-level reasons and keeps nothing */
        if (s1 != NULL || (rc == -EPROTO && (reason < 1 || reason > 3))) {
            __builtin_trap();
        }
        return 0;
    }
    (void)qtd_frame_topic_type(f1.cmd);
    uint16_t pkgid = 0;
    uint16_t cmd = 0;
    if (qtd_frame_header(data, size, &pkgid, &cmd) != 0 || pkgid != f1.pkgid || cmd != f1.cmd) {
        __builtin_trap(); /* the header read alone agrees with the whole decode */
    }
    if (qtd_frame_encode(f1.pkgid, f1.cmd, f1.payload, f1.len, &e1, &n1) != 0) {
        __builtin_trap();
    }
    if (qtd_frame_decode(e1, n1, &f2, &s2, &reason) != 0) {
        __builtin_trap();
    }
    if (f2.pkgid != f1.pkgid || f2.cmd != f1.cmd || f2.len != f1.len ||
        (f1.len > 0 && memcmp(f2.payload, f1.payload, f1.len) != 0)) {
        __builtin_trap();
    }
    if (qtd_frame_encode(f2.pkgid, f2.cmd, f2.payload, f2.len, &e2, &n2) != 0 || n2 != n1 ||
        memcmp(e1, e2, n1) != 0) {
        __builtin_trap();
    }
    free(s1);
    free(s2);
    free(e1);
    free(e2);
    return 0;
}
