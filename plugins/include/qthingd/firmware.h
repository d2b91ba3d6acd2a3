/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "firmware" service: the one apply path for a firmware image (the module's or the
 * router's), behind MQTT OTA and HTTP OTA alike. A verified image is handed to the
 * operator's command (SWUpdate, RAUC, sysupgrade: docs/operations.md); the version of the
 * firmware that runs is what the operator's version command prints, so that after the
 * reboot an OTA task can tell success from failure. Provided by the httpota plugin.
 * Installed beside plugin.h; the table only grows at its end.
 */
#ifndef QTD_QTHINGD_FIRMWARE_H
#define QTD_QTHINGD_FIRMWARE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QTD_FIRMWARE_SERVICE "firmware"

/* The command's end: 0 (it exited 0: the image is installed; a reboot may follow),
 * QTD_EIO (it failed: non-zero exit or a signal; its output is in the log),
 * QTD_ECANCELED (the provider stopped first). */
typedef void (*qtd_firmware_done_cb)(void *arg, int status);

typedef struct qtd_firmware_api_s {
    uint32_t size; /* sizeof(qtd_firmware_api_t) as the provider was built */
    uint32_t reserved;
    /* Run the apply command with the image at path (its arguments and environment:
     * docs/operations.md), without blocking the loop. As libuv: when this returns an
     * error, done is never called; otherwise exactly once, on the loop.
     * Returns: 0, QTD_ENOTSUP (no command configured: firmware cannot be applied here),
     * QTD_EBUSY (one runs), QTD_EINVAL, QTD_EIO (it could not be started). */
    int (*apply)(void *self, const char *path, const char *component, const char *version,
                 qtd_firmware_done_cb done, void *arg);
    /* The running firmware's version, read once at start; "" when no version command is
     * configured or it printed nothing. */
    const char *(*version)(void *self);
} qtd_firmware_api_t;

#define QTD_FIRMWARE_API_V1_SIZE (offsetof(qtd_firmware_api_t, version) + sizeof(void *))

#ifdef __cplusplus
}
#endif
#endif /* QTD_QTHINGD_FIRMWARE_H */
