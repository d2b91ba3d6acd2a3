/* SPDX-License-Identifier: Apache-2.0 */
/* A plugin built for ABI 0.9: the loader must refuse it before reading past the ABI fields. */
#include <stdint.h>

typedef struct {
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t struct_size;
    const char *name;
} old_desc_t;

__attribute__((visibility("default"))) const old_desc_t qtd_plugin_desc = {
    .abi_major = 0,
    .abi_minor = 9,
    .struct_size = sizeof(old_desc_t),
    .name = "old_abi",
};
