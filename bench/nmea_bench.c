/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The GNSS plugin's sentence path without I/O cost beyond reading a file: every byte of FILE
 * through the framer, the checks and the store (plugins/gnss/gnss_nmea.c), as the plugin
 * does for a receiver. Prints "lines N valid N dropped N seconds S lines/s R".
 *   nmea_bench FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gnss_nmea.h"

static nmea_store_t store;

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: nmea_bench FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }
    static char buf[1 << 16];
    nmea_framer_t fr = {0};
    unsigned long long lines = 0, valid = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        for (size_t i = 0; i < n; i++) {
            const char *line;
            size_t len;
            bool overlong;
            if (nmea_framer_byte(&fr, buf[i], &line, &len, &overlong)) {
                int talker, type;
                lines++;
                if (!overlong && nmea_check(line, len, &talker, &type) == NMEA_OK) {
                    valid++;
                    nmea_store_put(&store, line, len, talker, type);
                }
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fclose(f);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("lines %llu valid %llu dropped %llu seconds %.3f lines/s %.0f\n", lines, valid,
           lines - valid, s, (double)lines / s);
    return 0;
}
