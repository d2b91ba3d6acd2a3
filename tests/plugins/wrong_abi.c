/* SPDX-License-Identifier: Apache-2.0 */
/* A plugin of a future ABI (major 2): refused, with both versions named. */
#include "qthingd/plugin.h"

static const qtd_plugin_ops_t ops = {.size = sizeof(qtd_plugin_ops_t)};

QTD_PLUGIN_EXPORT const qtd_plugin_desc_t qtd_plugin_desc = {
    .abi_major = QTD_PLUGIN_ABI_MAJOR + 1,
    .abi_minor = 0,
    .struct_size = sizeof(qtd_plugin_desc_t),
    .name = "wrong_abi",
    .version = "9.9.9",
    .ops = &ops,
};
