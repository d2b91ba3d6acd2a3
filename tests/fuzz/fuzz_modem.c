/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the AT answer parsers of the cloud plugin (plugins/cloud/cloud_modem.c):
 * every parser gets the fuzz bytes as one response (a NUL-terminated copy, so ASan catches a
 * read past the text). A parser that answers false leaves the info untouched; one that answers
 * true leaves its fields within what cloud_modem.h documents: IMEI 14..17 digits, IMSI 6..15
 * digits, ICCID 18..31 letters or digits, a phone number of 1..31 characters without quote or
 * line break, RSSI -113..-51 dBm; every string stays NUL-terminated inside its array. Any
 * difference traps. Not covered: the serial I/O (qtd_modem_query and friends).
 *   clang -g -fsanitize=fuzzer,address,undefined -Iplugins/cloud
 *         tests/fuzz/fuzz_modem.c plugins/cloud/cloud_modem.c -o fuzz_modem
 */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloud_modem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* s is NUL-terminated inside its n bytes, min..max long, each byte accepted by ok */
static bool text_ok(const char *s, size_t n, size_t min, size_t max, int (*ok)(int))
{
    const char *nul = memchr(s, '\0', n);
    if (nul == NULL) {
        return false;
    }
    size_t len = (size_t)(nul - s);
    if (len < min || len > max) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!ok((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

static int phone_char(int c)
{
    return c != '"' && c != '\r' && c != '\n';
}

typedef bool (*parse_fn)(const char *resp, qtd_modem_info_t *m);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const parse_fn parsers[] = {qtd_modem_parse_cgsn, qtd_modem_parse_csq,
                                       qtd_modem_parse_cimi, qtd_modem_parse_ccid,
                                       qtd_modem_parse_cnum, qtd_modem_parse_qeng};
    char *resp = malloc(size + 1);
    if (resp == NULL) {
        return 0;
    }
    memcpy(resp, data, size);
    resp[size] = '\0';

    for (size_t i = 0; i < sizeof(parsers) / sizeof(parsers[0]); i++) {
        qtd_modem_info_t m;
        qtd_modem_info_t before;
        memset(&m, 0x5a, sizeof(m)); /* no NUL anywhere: a field left unterminated shows */
        memcpy(&before, &m, sizeof(m));
        bool found = parsers[i](resp, &m);
        if (!found) {
            if (memcmp(&m, &before, sizeof(m)) != 0) {
                __builtin_trap(); /* nothing found, nothing written */
            }
            continue;
        }
        bool ok = true;
        if (parsers[i] == qtd_modem_parse_cgsn) {
            ok = text_ok(m.imei, sizeof(m.imei), 14, 17, isdigit);
        } else if (parsers[i] == qtd_modem_parse_cimi) {
            ok = text_ok(m.imsi, sizeof(m.imsi), 6, 15, isdigit);
        } else if (parsers[i] == qtd_modem_parse_ccid) {
            ok = text_ok(m.iccid, sizeof(m.iccid), 18, sizeof(m.iccid) - 1, isalnum);
        } else if (parsers[i] == qtd_modem_parse_cnum) {
            ok = text_ok(m.phone, sizeof(m.phone), 1, sizeof(m.phone) - 1, phone_char);
        } else if (parsers[i] == qtd_modem_parse_csq) {
            ok = m.has_rssi && m.rssi_dbm >= -113 && m.rssi_dbm <= -51 &&
                 (m.rssi_dbm + 113) % 2 == 0;
        } else {
            /* qeng: the strings are not its business */
            ok = memcmp(m.imei, before.imei, sizeof(m.imei)) == 0 &&
                 memcmp(m.phone, before.phone, sizeof(m.phone)) == 0;
        }
        if (!ok) {
            __builtin_trap();
        }
    }
    free(resp);
    return 0;
}
