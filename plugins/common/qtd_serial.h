/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Serial lines for the plugins that open one (the modem's AT port, a Modbus line a script
 * drives, a GNSS receiver): open raw (no echo, no line discipline, no modem control) at a
 * speed and framing, non-blocking. Built as the static library qtdserial.
 */
#ifndef QTD_PLUGINS_COMMON_SERIAL_H
#define QTD_PLUGINS_COMMON_SERIAL_H

#include <stdbool.h>

/* Whether baud is a speed the lines take (1200 .. 921600). */
bool qtd_serial_baud_ok(int baud);

/* Open path (O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC) raw at baud with parity 'N', 'E' or
 * 'O', data_bits 5..8 and stop_bits 1..2. A pseudo-terminal takes no parity: give 'N'.
 * Returns: the fd, or -errno (-EINVAL for a speed or framing the lines do not take). */
int qtd_serial_open(const char *path, int baud, char parity, int data_bits, int stop_bits);

/* The same settings on an open fd. Returns: 0, -errno. */
int qtd_serial_setup(int fd, int baud, char parity, int data_bits, int stop_bits);

#endif /* QTD_PLUGINS_COMMON_SERIAL_H */
