/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "modem" service: the one AT client of the device, provided by the plugin that owns
 * the modem's AT port (the cloud plugin when cloud.at_port is set), so that no second
 * plugin opens the same serial port. Commands run off the loop (libuv's thread pool), one at
 * a time on the port, and their answers come back on the loop. Installed beside plugin.h;
 * the table only grows at its end.
 */
#ifndef QTD_QTHINGD_MODEM_H
#define QTD_QTHINGD_MODEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QTD_MODEM_SERVICE "modem"

/* status: 0 (the modem answered OK), QTD_EIO (it answered ERROR), QTD_ETIMEDOUT,
 * QTD_ENOENT (the port cannot be opened), QTD_ECANCELED (shutdown). response: the lines it
 * answered, final result included (borrowed for the callback; "" when none). */
typedef void (*qtd_modem_at_cb)(void *arg, int status, const char *response);

typedef struct qtd_modem_api_s {
    uint32_t size; /* sizeof(qtd_modem_api_t) as the provider was built */
    uint32_t reserved;
    /* The modem's IMEI (digits, NUL-terminated) as read when the provider was created.
     * Returns: 0, QTD_ENOENT (no modem answered), QTD_E2BIG (n too small). */
    int (*imei)(void *self, char *buf, size_t n);
    /* Send one AT command ("AT+QENG=\"neighbourcell\"", at most 80 characters, no CR) and
     * collect the answer up to OK or ERROR within timeout_ms. As libuv: when this returns
     * an error cb is never called; otherwise cb is called exactly once, on the loop.
     * Returns: 0, QTD_EINVAL, QTD_ENOMEM, QTD_ECANCELED (the provider is stopping). */
    int (*at_command)(void *self, const char *cmd, uint32_t timeout_ms, qtd_modem_at_cb cb,
                      void *arg);
} qtd_modem_api_t;

#define QTD_MODEM_API_V1_SIZE (offsetof(qtd_modem_api_t, at_command) + sizeof(void *))

#ifdef __cplusplus
}
#endif
#endif /* QTD_QTHINGD_MODEM_H */
