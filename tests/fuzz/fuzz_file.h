/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For the fuzz targets whose parser reads a file: the fuzz bytes are written to one file per
 * process (/tmp/<name>.<pid>.<ext>), rewritten each run and removed at exit.
 */
#ifndef QTD_FUZZ_FILE_H
#define QTD_FUZZ_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_path[64];

static void fuzz_remove_file(void)
{
    (void)unlink(fuzz_path);
}

/* Write data to the target's file; its path, or NULL when it cannot be written. */
static const char *fuzz_write_file(const char *name, const char *ext, const uint8_t *data,
                                   size_t size)
{
    if (fuzz_path[0] == '\0') {
        snprintf(fuzz_path, sizeof(fuzz_path), "/tmp/%s.%ld.%s", name, (long)getpid(), ext);
        atexit(fuzz_remove_file);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (f == NULL) {
        return NULL;
    }
    bool written = fwrite(data, 1, size, f) == size;
    if (fclose(f) != 0 || !written) {
        return NULL;
    }
    return fuzz_path;
}

#endif
