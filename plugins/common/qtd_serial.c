/* SPDX-License-Identifier: Apache-2.0 */
/* Serial lines opened raw (qtd_serial.h). */
#include "qtd_serial.h"

#include <errno.h>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

static speed_t speed_of(int baud)
{
    switch (baud) {
    case 1200:
        return B1200;
    case 2400:
        return B2400;
    case 4800:
        return B4800;
    case 9600:
        return B9600;
    case 19200:
        return B19200;
    case 38400:
        return B38400;
    case 57600:
        return B57600;
    case 115200:
        return B115200;
    case 230400:
        return B230400;
    case 460800:
        return B460800;
    case 921600:
        return B921600;
    default:
        return 0;
    }
}

bool qtd_serial_baud_ok(int baud)
{
    return speed_of(baud) != 0;
}

int qtd_serial_setup(int fd, int baud, char parity, int data_bits, int stop_bits)
{
    speed_t sp = speed_of(baud);
    if (sp == 0 || data_bits < 5 || data_bits > 8 || stop_bits < 1 || stop_bits > 2 ||
        (parity != 'N' && parity != 'E' && parity != 'O')) {
        return -EINVAL;
    }
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        return -errno;
    }
    cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB);
    t.c_cflag |= data_bits == 5 ? CS5 : data_bits == 6 ? CS6 : data_bits == 7 ? CS7 : CS8;
    t.c_cflag |= parity == 'E' ? PARENB : parity == 'O' ? (PARENB | PARODD) : 0;
    t.c_cflag |= stop_bits == 2 ? CSTOPB : 0;
    cfsetispeed(&t, sp);
    cfsetospeed(&t, sp);
    return tcsetattr(fd, TCSANOW, &t) == 0 ? 0 : -errno;
}

int qtd_serial_open(const char *path, int baud, char parity, int data_bits, int stop_bits)
{
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = qtd_serial_setup(fd, baud, parity, data_bits, stop_bits);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}
