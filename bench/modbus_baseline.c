/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The two ends of bench/modbus.sh, both plain libmodbus:
 *   modbus_baseline server PORT
 *       a Modbus TCP server on 127.0.0.1:PORT (10 000 holding registers, one client at a
 *       time, each answered as fast as libmodbus goes); SIGUSR1 prints the requests
 *       answered so far ("requests N").
 *   modbus_baseline loop PORT SECONDS REGISTERS
 *       the tight read loop: reads REGISTERS holding registers (in reads of 125) again and
 *       again for SECONDS, then prints "points/s N" (one register = one u16 point).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modbus.h>

static volatile sig_atomic_t report;

static void on_usr1(int sig)
{
    (void)sig;
    report = 1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int serve(int port)
{
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    modbus_mapping_t *map = modbus_mapping_new(0, 0, 10000, 0);
    if (ctx == NULL || map == NULL) {
        fprintf(stderr, "server: %s\n", modbus_strerror(errno));
        return 1;
    }
    int s = modbus_tcp_listen(ctx, 1);
    if (s < 0) {
        fprintf(stderr, "server: listen: %s\n", modbus_strerror(errno));
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART: a blocked receive returns */
    printf("ready\n");
    fflush(stdout);
    unsigned long long requests = 0;
    for (;;) {
        if (modbus_tcp_accept(ctx, &s) < 0) {
            if (errno == EINTR) {
                if (report) {
                    report = 0;
                    printf("requests %llu\n", requests);
                    fflush(stdout);
                }
                continue;
            }
            return 1;
        }
        uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
        for (;;) {
            int n = modbus_receive(ctx, q);
            if (report) {
                report = 0;
                printf("requests %llu\n", requests);
                fflush(stdout);
            }
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                break; /* the client went: wait for the next */
            }
            if (n > 0) {
                modbus_reply(ctx, q, n, map);
                requests++;
            }
        }
        modbus_close(ctx);
    }
}

static int loop(int port, double seconds, int registers)
{
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    if (ctx == NULL || modbus_connect(ctx) != 0) {
        fprintf(stderr, "loop: %s\n", modbus_strerror(errno));
        return 1;
    }
    modbus_set_slave(ctx, 1);
    uint16_t regs[125];
    unsigned long long points = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < seconds) {
        for (int a = 0; a < registers; a += 125) {
            int n = registers - a < 125 ? registers - a : 125;
            if (modbus_read_registers(ctx, a, n, regs) != n) {
                fprintf(stderr, "loop: %s\n", modbus_strerror(errno));
                return 1;
            }
            points += (unsigned)n;
        }
        t = now_s();
    }
    printf("points/s %.0f\n", (double)points / (t - t0));
    modbus_close(ctx);
    modbus_free(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "server") == 0) {
        return serve(atoi(argv[2]));
    }
    if (argc == 5 && strcmp(argv[1], "loop") == 0) {
        return loop(atoi(argv[2]), atof(argv[3]), atoi(argv[4]));
    }
    fprintf(stderr, "usage: modbus_baseline server PORT | loop PORT SECONDS REGISTERS\n");
    return 2;
}
