/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The modem's AT answers: parsers on answers shaped like Quectel modules print them, and a
 * whole query over a real pseudo-terminal answered by a thread playing the modem.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <pthread.h>
#include <unistd.h>

#include "cloud_modem.h"

static void modem_parses_imei_plain_and_tagged(void **state)
{
    (void)state;
    qtd_modem_info_t m = {0};
    assert_true(qtd_modem_parse_cgsn("\r\n866123456789012\r\n\r\nOK\r\n", &m));
    assert_string_equal(m.imei, "866123456789012");
    memset(&m, 0, sizeof(m));
    assert_true(qtd_modem_parse_cgsn("\r\n+CGSN: 866123456789013\r\n\r\nOK\r\n", &m));
    assert_string_equal(m.imei, "866123456789013");
    assert_false(qtd_modem_parse_cgsn("\r\nERROR\r\n", &m));
}

static void modem_csq_gives_dbm_and_refuses_unknown(void **state)
{
    (void)state;
    qtd_modem_info_t m = {0};
    assert_true(qtd_modem_parse_csq("\r\n+CSQ: 20,99\r\n\r\nOK\r\n", &m));
    assert_int_equal(m.rssi_dbm, -73);
    memset(&m, 0, sizeof(m));
    assert_false(qtd_modem_parse_csq("\r\n+CSQ: 99,99\r\n\r\nOK\r\n", &m));
    assert_false(m.has_rssi);
}

static void modem_iccid_imsi_phone(void **state)
{
    (void)state;
    qtd_modem_info_t m = {0};
    assert_true(qtd_modem_parse_ccid("\r\n+QCCID: 89860117838001234567\r\n\r\nOK\r\n", &m));
    assert_string_equal(m.iccid, "89860117838001234567");
    assert_true(qtd_modem_parse_cimi("\r\n460011234567890\r\n\r\nOK\r\n", &m));
    assert_string_equal(m.imsi, "460011234567890");
    assert_true(qtd_modem_parse_cnum("\r\n+CNUM: \"\",\"+8613800138000\",145\r\n\r\nOK\r\n", &m));
    assert_string_equal(m.phone, "+8613800138000");
    assert_false(qtd_modem_parse_cnum("\r\nOK\r\n", &m));
}

static void modem_qeng_servingcell_lte(void **state)
{
    (void)state;
    qtd_modem_info_t m = {0};
    const char *r = "\r\n+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",460,00,1A2B3C4,123,1300,"
                    "3,5,5,5F2,-95,-10,-65,15,35\r\n\r\nOK\r\n";
    assert_true(qtd_modem_parse_qeng(r, &m));
    assert_int_equal(m.mcc, 460);
    assert_int_equal(m.mnc, 0);
    assert_int_equal(m.cell_id, 0x1A2B3C4);
    assert_int_equal(m.lac, 0x5F2);
    assert_int_equal(m.rsrp, -95);
    assert_int_equal(m.rsrq, -10);
    assert_int_equal(m.snr, 15);
    assert_true(m.has_cell && m.has_rsrp);
    memset(&m, 0, sizeof(m));
    assert_false(qtd_modem_parse_qeng("\r\n+QENG: \"servingcell\",\"SEARCH\"\r\nOK\r\n", &m));
}

/* The modem: answers AT commands on the pty's master side until the slave closes. */
static void *modem_thread(void *arg)
{
    int fd = *(int *)arg;
    char buf[256];
    size_t used = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 3000) <= 0) {
            break;
        }
        ssize_t r = read(fd, buf + used, sizeof(buf) - used - 1);
        if (r <= 0) {
            break;
        }
        used += (size_t)r;
        buf[used] = '\0';
        char *cr;
        while ((cr = strchr(buf, '\r')) != NULL) {
            *cr = '\0';
            const char *a = "\r\nERROR\r\n";
            if (strcmp(buf, "ATE0") == 0) {
                a = "\r\nOK\r\n";
            } else if (strcmp(buf, "AT+CGSN") == 0) {
                a = "\r\n866123456789012\r\n\r\nOK\r\n";
            } else if (strcmp(buf, "AT+CSQ") == 0) {
                a = "\r\n+CSQ: 25,99\r\n\r\nOK\r\n";
            } else if (strcmp(buf, "AT+QENG=\"servingcell\"") == 0) {
                a = "\r\n+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",460,01,ABCDEF,1,2,3,"
                    "5,5,1234,-88,-9,-60,20,30\r\n\r\nOK\r\n";
            }
            /* AT+CIMI, AT+QCCID, AT+CNUM: ERROR (a modem without a SIM) */
            if (write(fd, a, strlen(a)) < 0) {
                return NULL;
            }
            size_t rest = used - (size_t)(cr + 1 - buf);
            memmove(buf, cr + 1, rest);
            used = rest;
            buf[used] = '\0';
        }
    }
    return NULL;
}

static void modem_query_over_a_pty(void **state)
{
    (void)state;
    int master = -1;
    int slave = -1;
    char name[128];
    assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, modem_thread, &master), 0);
    qtd_modem_info_t m;
    assert_int_equal(qtd_modem_query(name, 115200, 1000, &m), 0);
    close(slave);
    close(master);
    pthread_join(t, NULL);
    assert_string_equal(m.imei, "866123456789012");
    assert_int_equal(m.rssi_dbm, -63);
    assert_int_equal(m.mnc, 1);
    assert_int_equal(m.cell_id, 0xABCDEF);
    assert_int_equal(m.rsrp, -88);
    assert_string_equal(m.imsi, ""); /* ERROR: not available */
    assert_string_equal(m.iccid, "");
}

static void modem_query_reports_a_missing_port(void **state)
{
    (void)state;
    qtd_modem_info_t m;
    assert_int_equal(qtd_modem_query("/dev/nonexistent-tty", 115200, 100, &m), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(modem_parses_imei_plain_and_tagged),
        cmocka_unit_test(modem_csq_gives_dbm_and_refuses_unknown),
        cmocka_unit_test(modem_iccid_imsi_phone),
        cmocka_unit_test(modem_qeng_servingcell_lte),
        cmocka_unit_test(modem_query_over_a_pty),
        cmocka_unit_test(modem_query_reports_a_missing_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
