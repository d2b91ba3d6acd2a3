/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NMEA for the GNSS plugin (plugins/gnss/gnss_nmea.c): each check with its reason, the
 * framer (CR LF, LF, overlong lines), the store (the latest of any talker, a talker's own,
 * GSV as a whole group, GB as BeiDou), the fix from the SDK's own GGA sentence, the names of
 * table 2, the $LBS line with its decimal checksum (vectors printed by tests/peers/
 * nmea_feed.py, which computes them apart), and AT+QENG answers of LTE and GSM modules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gnss_nmea.h"

/* The SDK's sample sentence (qhal_property.c) */
#define SDK_GGA "$GPGGA,092204.999,4250.5589,S,14718.5084,E,1,04,24.4,19.7,M,,,,0000*1F"

/* checksums of "PQTMVER,MODULE_L76K" and "GPGGA" (XOR, tests/peers/nmea_feed.py) */
#define PQTM_CS "36"
#define GPGGA_CS "56"

static nmea_err_t check(const char *s)
{
    int talker, type;
    return nmea_check(s, strlen(s), &talker, &type);
}

static void test_checks(void **state)
{
    (void)state;
    int talker, type;
    assert_int_equal(nmea_check(SDK_GGA, strlen(SDK_GGA), &talker, &type), NMEA_OK);
    assert_int_equal(talker, NMEA_GP);
    assert_int_equal(type, NMEA_GGA);
    assert_int_equal(check("GPGGA,1*00"), NMEA_E_START);
    assert_int_equal(check(""), NMEA_E_LENGTH);
    char longer[100];
    memset(longer, 'A', sizeof(longer) - 1);
    longer[0] = '$';
    longer[99] = '\0';
    assert_int_equal(check(longer), NMEA_E_LENGTH);
    assert_int_equal(check("$GPGGA,\x01*00"), NMEA_E_CHAR);
    assert_int_equal(check("$GPGGA,1,2"), NMEA_E_CHECKSUM);
    assert_int_equal(
        check("$GPGGA,092204.999,4250.5589,S,14718.5084,E,1,04,24.4,19.7,M,,,,0000*1E"),
        NMEA_E_CHECKSUM);
    assert_int_equal(check("$GP*GA,1*00"), NMEA_E_CHECKSUM);
    assert_int_equal(check("$G*47"), NMEA_E_ADDRESS);
    /* valid, but not a talker or type of table 2: proprietary, a bare address */
    const char *txt = "$PQTMVER,MODULE_L76K*" PQTM_CS;
    assert_int_equal(nmea_check(txt, strlen(txt), &talker, &type), NMEA_OK);
    assert_int_equal(talker, -1);
    assert_int_equal(check("$GPGGA*" GPGGA_CS), NMEA_OK);
    const char *gb = "$GBGSA,A,1,,,,,,,,,,,,,,,*0C";
    assert_int_equal(nmea_check(gb, strlen(gb), &talker, &type), NMEA_OK);
    assert_int_equal(talker, NMEA_BD);
    assert_int_equal(type, NMEA_GSA);
}

static void test_framer(void **state)
{
    (void)state;
    nmea_framer_t f = {0};
    const char *in = "$A*41\r\n$B*42\n\r\n";
    const char *line;
    size_t n;
    bool overlong;
    int lines = 0;
    for (const char *p = in; *p; p++) {
        if (nmea_framer_byte(&f, *p, &line, &n, &overlong)) {
            assert_false(overlong);
            assert_int_equal(n, 5);
            lines++;
        }
    }
    assert_int_equal(lines, 2);
    for (int i = 0; i < 200; i++) {
        assert_false(nmea_framer_byte(&f, 'x', &line, &n, &overlong));
    }
    assert_true(nmea_framer_byte(&f, '\n', &line, &n, &overlong));
    assert_true(overlong);
    assert_true(nmea_framer_byte(&f, 'y', &line, &n, &overlong) == false);
    assert_true(nmea_framer_byte(&f, '\n', &line, &n, &overlong));
    assert_false(overlong); /* the next line is whole again */
    assert_int_equal(n, 1);
}

static void put(nmea_store_t *st, const char *s)
{
    int talker, type;
    assert_int_equal(nmea_check(s, strlen(s), &talker, &type), NMEA_OK);
    nmea_store_put(st, s, strlen(s), talker, type);
}

static void test_store_and_fix(void **state)
{
    (void)state;
    static nmea_store_t st;
    memset(&st, 0, sizeof(st));
    char out[512] = "";
    assert_int_equal(nmea_store_get(&st, -1, NMEA_GGA, out, sizeof(out)), 0);
    put(&st, SDK_GGA);
    assert_true(st.fix.valid);
    assert_true(st.fix.lat > -42.842649 && st.fix.lat < -42.842647);
    assert_true(st.fix.lon > 147.308472 && st.fix.lon < 147.308474);
    assert_true(st.fix.alt == 19.7);
    assert_int_equal(st.fix.satellites, 4);
    assert_string_equal(st.fix.utc, "09:22:04.999");
    put(&st, "$BDGGA,092205.000,4250.5589,S,14718.5084,E,1,04,24.4,19.7,M,,,,0000*06");
    assert_int_equal(nmea_store_get(&st, -1, NMEA_GGA, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "$BDGGA,092205.000"));
    out[0] = '\0';
    assert_int_equal(nmea_store_get(&st, NMEA_GP, NMEA_GGA, out, sizeof(out)), 1);
    assert_string_equal(out, SDK_GGA ";");
    /* GSV: only a complete group, all of it */
    out[0] = '\0';
    put(&st, "$GPGSV,2,1,05,01,40,083,46,02,17,308,41,03,07,344,39,04,22,228,45*79");
    assert_int_equal(nmea_store_get(&st, NMEA_GP, NMEA_GSV, out, sizeof(out)), 0);
    put(&st, "$GPGSV,2,2,05,05,60,115,47*49");
    assert_int_equal(nmea_store_get(&st, -1, NMEA_GSV, out, sizeof(out)), 2);
    /* too small: nothing appended */
    char tiny[40] = "";
    assert_int_equal(nmea_store_get(&st, NMEA_GP, NMEA_GSV, tiny, sizeof(tiny)), 0);
    assert_string_equal(tiny, "");
    /* a fix lost: quality 0 */
    put(&st, "$GPGGA,092206.000,,,,,0,00,,,M,,,,*3A");
    assert_false(st.fix.valid);
}

static void test_names(void **state)
{
    (void)state;
    int talker, type;
    assert_true(nmea_type_of("GGA", &talker, &type));
    assert_int_equal(talker, -1);
    assert_true(nmea_type_of("GNVTG", &talker, &type));
    assert_int_equal(talker, NMEA_GN);
    assert_int_equal(type, NMEA_VTG);
    assert_false(nmea_type_of("LBS", &talker, &type));
    assert_false(nmea_type_of("XXGGA", &talker, &type));
    assert_false(nmea_type_of("GPGG", &talker, &type));
}

static void test_lbs_and_qeng(void **state)
{
    (void)state;
    char line[96];
    nmea_cell_t c = {460, 0, 1522, 27440068, -65};
    assert_true(nmea_lbs_line(&c, line, sizeof(line)) > 0);
    assert_string_equal(line, "$LBS,460,00,1522,27440068,-65,0*126");
    c = (nmea_cell_t){310, 260, 100, 65535, -101};
    nmea_lbs_line(&c, line, sizeof(line));
    assert_string_equal(line, "$LBS,310,260,100,65535,-101,0*119");
    assert_int_equal(nmea_lbs_line(&c, line, 10), 0);

    const char *lte =
        "\r\n+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",460,00,1A2B3C4,123,1300,"
        "3,5,5,5F2,-95,-10,-65,15,35\r\n\r\nOK\r\n";
    nmea_cell_t s;
    assert_true(nmea_qeng_serving(lte, &s));
    assert_int_equal(s.mcc, 460);
    assert_int_equal(s.mnc, 0);
    assert_int_equal(s.cellid, 0x1A2B3C4);
    assert_int_equal(s.lac, 0x5F2);
    assert_int_equal(s.rssi, -65);
    const char *gsm = "+QENG: \"servingcell\",\"NOCONN\",\"GSM\",460,00,550A,2BC4,20,62,0,-71,255";
    assert_true(nmea_qeng_serving(gsm, &s));
    assert_int_equal(s.lac, 0x550A);
    assert_int_equal(s.cellid, 0x2BC4);
    assert_int_equal(s.rssi, -71);
    assert_false(nmea_qeng_serving("\r\nERROR\r\n", &s));
    assert_false(nmea_qeng_serving("+QENG: \"servingcell\",\"SEARCH\"", &s));

    const char *nb =
        "+QENG: \"neighbourcell intra\",\"LTE\",1300,201,-12,-101,-70,0,20,7,12,6,46\r\n"
        "+QENG: \"neighbourcell\",\"GSM\",460,01,550A,2BC5,20,62,-80,1,1\r\n"
        "+QENG: \"neighbourcell inter\",\"LTE\",oops\r\n";
    nmea_cell_t cells[6];
    assert_int_equal(nmea_qeng_neighbours(nb, 460, 0, cells, 6), 2);
    assert_int_equal(cells[0].cellid, 201);
    assert_int_equal(cells[0].rssi, -70);
    assert_int_equal(cells[1].mnc, 1);
    assert_int_equal(cells[1].cellid, 0x2BC5);
    assert_int_equal(nmea_qeng_neighbours(nb, 460, 0, cells, 1), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checks),        cmocka_unit_test(test_framer),
        cmocka_unit_test(test_store_and_fix), cmocka_unit_test(test_names),
        cmocka_unit_test(test_lbs_and_qeng),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
