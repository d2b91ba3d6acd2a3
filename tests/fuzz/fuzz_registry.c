/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the simulator's registry loader (sim/registry.c): the fuzz bytes are
 * written to one file (/tmp/fuzz_registry.<pid>.json, rewritten each run, removed at exit) and
 * loaded with qtd_registry_load. A refusal names the problem in *err and gives no registry. A
 * registry accepted holds what registry.h promises: PK, PS and DK of 1..64 characters, DS of
 * 0..64, no PK twice, no DK twice in a product, connect_errcode 0..65535, and every device is
 * found again by qtd_registry_lookup from its client id "qd<PK><DK>" (the product found then
 * is one whose PK and the DK found make up that id). Leaks are libFuzzer's (ASan) business.
 * Any difference traps. Not covered: saving (qtd_registry_save fsyncs, too slow per run).
 *   clang -g -fsanitize=fuzzer,address,undefined -Isim -I/usr/include/cjson
 *         tests/fuzz/fuzz_registry.c sim/registry.c -lcjson -o fuzz_registry
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_file.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

/* s is NUL-terminated within QTD_REG_KEY_MAX + 1 bytes and at least min long */
static bool key_ok(const char *s, size_t min)
{
    const char *nul = memchr(s, '\0', QTD_REG_KEY_MAX + 1);
    return nul != NULL && (size_t)(nul - s) >= min;
}

static void check_registry(const qtd_registry_t *reg)
{
    char id[2 + 2 * QTD_REG_KEY_MAX + 1];

    check(reg->nproducts == 0 || reg->products != NULL);
    for (size_t i = 0; i < reg->nproducts; i++) {
        const qtd_reg_product_t *p = &reg->products[i];
        check(key_ok(p->pk, 1) && key_ok(p->ps, 1) && p->ndevices <= p->cap);
        check(qtd_registry_product(reg, p->pk) == p); /* no PK twice */
        for (size_t j = 0; j < p->ndevices; j++) {
            const qtd_reg_device_t *d = &p->devices[j];
            qtd_reg_product_t *fp = NULL;
            qtd_reg_device_t *fd = NULL;
            const char *dk = NULL;

            check(key_ok(d->dk, 1) && key_ok(d->ds, 0));
            check(d->connect_errcode >= 0 && d->connect_errcode <= 65535);
            check(qtd_registry_device(p, d->dk) == d); /* no DK twice */
            snprintf(id, sizeof(id), "qd%s%s", p->pk, d->dk);
            check(qtd_registry_lookup(reg, id, &fp, &fd, &dk) == 0);
            check(fp != NULL && fd != NULL && dk != NULL && strcmp(fd->dk, dk) == 0);
            check(strlen(fp->pk) + strlen(dk) + 2 == strlen(id) &&
                  strncmp(id + 2, fp->pk, strlen(fp->pk)) == 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file("fuzz_registry", "json", data, size);
    if (path == NULL) {
        return 0;
    }

    qtd_registry_t *reg = NULL;
    const char *err = NULL;
    int rc = qtd_registry_load(path, &reg, &err);
    if (rc != 0) {
        check(reg == NULL && err != NULL && err[0] != '\0');
        return 0;
    }
    check(reg != NULL && reg->path != NULL && strcmp(reg->path, path) == 0);
    check_registry(reg);
    qtd_registry_free(reg);
    return 0;
}
