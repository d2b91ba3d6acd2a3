/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the agent's config reader (agent/config.c): the fuzz bytes are written
 * as a config file (/tmp/fuzz_config.<pid>.lua, rewritten each run, removed at exit), evaluated
 * with qtd__config_load (a Lua text chunk under an instruction and a memory cap, so every run
 * ends) and the section "s" validated against a table with every key type: a bool, an int with
 * a range, an int with choices, a double with a range, a string with choices, a required
 * string and an array of items (a required string, an int with a range). When no error is
 * recorded, every value is within its table (range, choices, required present, array items
 * too); when errors are recorded, printing them writes something. In both cases
 * qtd__config_free gives back every byte taken through the agent's counted allocator
 * (qtd_alloc_bytes). Any difference traps.
 *   clang -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Iagent/include
 *         $(pkg-config --cflags lua5.4) tests/fuzz/fuzz_config.c agent/config.c agent/alloc.c
 *         $(pkg-config --libs lua5.4) -lm -o fuzz_config
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_file.h"
#include "agent/alloc.h"
#include "agent/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const char *name;
    int64_t unit;
} item_t;

typedef struct {
    bool tls;
    int64_t lifetime;
    int64_t baud;
    double ratio;
    const char *mode;
    const char *server;
    qtd_cfg_array_t items;
} sect_t;

static const qtd_cfg_key_t item_keys[] = {
    {QTD_CFG_STRING, "name", NULL, offsetof(item_t, name), "item name", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "unit", "1", offsetof(item_t, unit), "unit id", 1, 247, NULL, NULL, 0},
    {.type = QTD_CFG_END},
};

static const qtd_cfg_key_t keys[] = {
    {QTD_CFG_BOOL, "tls", "true", offsetof(sect_t, tls), "use TLS", 0, 0, NULL, NULL, 0},
    {QTD_CFG_INT, "lifetime", "120", offsetof(sect_t, lifetime), "keepalive", 1, 65535, NULL, NULL,
     0},
    {QTD_CFG_INT, "baud", "9600", offsetof(sect_t, baud), "speed", 0, 0, "9600|19200", NULL, 0},
    {QTD_CFG_DOUBLE, "ratio", "0.5", offsetof(sect_t, ratio), "a ratio", 0, 1, NULL, NULL, 0},
    {QTD_CFG_STRING, "mode", "rtu", offsetof(sect_t, mode), "mode", 0, 0, "rtu|tcp", NULL, 0},
    {QTD_CFG_STRING, "server", NULL, offsetof(sect_t, server), "server", 0, 0, NULL, NULL, 0},
    {QTD_CFG_ARRAY, "items", NULL, offsetof(sect_t, items), "items", 0, 0, NULL, item_keys,
     sizeof(item_t)},
    {.type = QTD_CFG_END},
};

static void check(bool ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

static void check_section(const sect_t *s)
{
    check(s->lifetime >= 1 && s->lifetime <= 65535);
    check(s->baud == 9600 || s->baud == 19200);
    check(s->ratio >= 0 && s->ratio <= 1);
    check(s->mode != NULL && (strcmp(s->mode, "rtu") == 0 || strcmp(s->mode, "tcp") == 0));
    check(s->server != NULL && strlen(s->server) < (size_t)-1);
    check(s->items.count == 0 || s->items.items != NULL);
    for (size_t i = 0; i < s->items.count; i++) {
        const item_t *it = (const item_t *)s->items.items + i;
        check(it->name != NULL && it->unit >= 1 && it->unit <= 247);
        (void)strlen(it->name); /* NUL-terminated inside its block (ASan) */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file("fuzz_config", "lua", data, size);
    if (path == NULL) {
        return 0;
    }

    uint64_t before = qtd_alloc_bytes();
    qtd_config_t *cfg = NULL;
    if (qtd__config_load(&cfg, path) != 0) {
        check(cfg == NULL);
        return 0;
    }
    sect_t s;
    qtd__config_section(cfg, "s", keys, &s);
    qtd__config_check_unknown(cfg);
    int nerr = qtd__config_error_count(cfg);
    check(nerr >= 0);
    if (nerr == 0) {
        check_section(&s);
    } else {
        char *buf = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&buf, &len);
        check(fp != NULL);
        qtd__config_print_errors(cfg, fp);
        check(fclose(fp) == 0 && len > 0);
        free(buf);
    }
    qtd__config_free(cfg);
    check(qtd_alloc_bytes() == before);
    return 0;
}
