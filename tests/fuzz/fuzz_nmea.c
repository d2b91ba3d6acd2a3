/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the GNSS plugin's NMEA code (plugins/gnss/gnss_nmea.c): arbitrary
 * bytes as a receiver's stream through the framer, the checks and the store, and as a
 * modem's AT+QENG answer. Every sentence the store gives back must pass the checks again
 * (nothing that failed its checksum ever comes out), a fix must lie on the globe, and the
 * cells parsed must make $LBS lines. Any difference traps.
 *   clang -g -fsanitize=fuzzer,address,undefined -Iplugins/gnss tests/fuzz/fuzz_nmea.c
 *         plugins/gnss/gnss_nmea.c -lm
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gnss_nmea.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nmea_store_t st;

static void check_out(const char *out)
{
    for (const char *p = out; *p != '\0';) {
        size_t len = strcspn(p, ";");
        int talker, type;
        if (p[len] != ';' || nmea_check(p, len, &talker, &type) != NMEA_OK) {
            __builtin_trap();
        }
        p += len + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(&st, 0, sizeof(st));
    nmea_framer_t f = {0};
    for (size_t i = 0; i < size; i++) {
        const char *line;
        size_t n;
        bool overlong;
        if (nmea_framer_byte(&f, (char)data[i], &line, &n, &overlong) && !overlong) {
            int talker, type;
            if (n > NMEA_MAX_TEXT) {
                __builtin_trap();
            }
            if (nmea_check(line, n, &talker, &type) == NMEA_OK) {
                nmea_store_put(&st, line, n, talker, type);
            }
        }
    }
    for (int t = -1; t < NMEA_TALKERS; t++) {
        for (int type = 0; type < NMEA_TYPES; type++) {
            char out[2048] = "";
            nmea_store_get(&st, t, type, out, sizeof(out));
            check_out(out);
        }
    }
    const nmea_fix_t *fx = &st.fix;
    if (fx->valid && (fx->lat < -90 || fx->lat > 90 || fx->lon < -180 || fx->lon > 180)) {
        __builtin_trap();
    }
    char *text = malloc(size + 1);
    if (text != NULL) {
        memcpy(text, data, size);
        text[size] = '\0';
        nmea_cell_t cells[7];
        char line[96];
        if (nmea_qeng_serving(text, &cells[0]) &&
            nmea_lbs_line(&cells[0], line, sizeof(line)) == 0) {
            __builtin_trap();
        }
        size_t k = nmea_qeng_neighbours(text, 460, 0, cells + 1, 6);
        for (size_t i = 1; i <= k; i++) {
            if (nmea_lbs_line(&cells[i], line, sizeof(line)) == 0) {
                __builtin_trap();
            }
        }
        free(text);
    }
    return 0;
}
