/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Byte pipes between libmodbus and the script, on the loop: a script-driven line is a
 * pseudo-terminal whose slave side libmodbus opens as its RTU device and whose master side
 * is read here (each chunk goes to the script's sendFunc as a QTD_DOM_MODBUS_UART event)
 * and written by quecIot.MBDataRecv; a serial handle (modbus.serialOpen) is a real serial
 * line the script reads (events again) and writes. One libmodbus, no second RTU codec.
 */
#ifndef QTD_MODBUS_PTY_H
#define QTD_MODBUS_PTY_H

#include <stddef.h>

#include "modbus_plugin.h"

/* QTD_DOM_MODBUS_UART events (value in brackets). */
enum {
    MBP_UART_SEND = 1,         /* {uart, bytes}: libmodbus wrote bytes for the line */
    MBP_UART_INIT = 2,         /* {pk, ps, uart, baud, data bits, parity, stop bits} (seed enums) */
    MBP_UART_SERIAL = 3,       /* {handle, bytes}: bytes read from a serial handle */
    MBP_UART_SERIAL_CLOSED = 4 /* {handle, reason} */
};

/* Open a pseudo-terminal for script line `port` (modbus.ports index, its uart number) and
 * start the line's master on it. Returns: 0, QTD_EEXIST (already open), QTD_EIO (logged). */
int mbp_pty_line_open(mbp_t *m, size_t port);
/* Bytes from the script for line `uart`. Returns: 0, QTD_ENOENT (no such line open),
 * QTD_EIO. */
int mbp_pty_line_write(mbp_t *m, int uart, const void *data, size_t len);
/* Open a serial device raw at baud (parity N/E/O, data bits, stop bits). Returns the
 * handle (> 0), or QTD_EIO / QTD_EINVAL / QTD_ENOMEM with the reason logged. */
int mbp_serial_open(mbp_t *m, const char *device, int baud, char parity, int data_bits,
                    int stop_bits);
int mbp_serial_write(mbp_t *m, int handle, const void *data, size_t len);
int mbp_serial_close(mbp_t *m, int handle);

#endif /* QTD_MODBUS_PTY_H */
