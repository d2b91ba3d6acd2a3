/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Modem values over an AT port (cloud.at_port): IMEI, signal (RSSI from AT+CSQ; RSRP, RSRQ,
 * SINR from Quectel's AT+QENG="servingcell"), the serving cell (MCC, MNC, TAC/LAC, cell id),
 * ICCID, IMSI and the phone number. The parsers are pure functions on response text; the
 * query does blocking serial I/O and runs on libuv's thread pool, never on the loop.
 */
#ifndef QTD_PLUGINS_CLOUD_CLOUD_MODEM_H
#define QTD_PLUGINS_CLOUD_CLOUD_MODEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    /* A field is valid when its has_ flag is set (or its text is not empty). */
    char imei[24];
    char iccid[32];
    char imsi[24];
    char phone[32];
    bool has_rssi, has_rsrp, has_rsrq, has_snr, has_cell;
    int rssi_dbm; /* from +CSQ: -113 + 2 * n */
    int rsrp;     /* dBm */
    int rsrq;     /* dB */
    int snr;      /* SINR as the modem reports it */
    int mcc;
    int mnc;
    int64_t lac;     /* TAC (LTE) or LAC, decimal */
    int64_t cell_id; /* decimal */
} qtd_modem_info_t;

/* Parsers: `resp` is the whole response of one command (lines, OK at the end). Each fills
 * what it finds and returns true when it found something. */
bool qtd_modem_parse_cgsn(const char *resp, qtd_modem_info_t *m);
bool qtd_modem_parse_csq(const char *resp, qtd_modem_info_t *m);
bool qtd_modem_parse_cimi(const char *resp, qtd_modem_info_t *m);
bool qtd_modem_parse_ccid(const char *resp, qtd_modem_info_t *m);
bool qtd_modem_parse_cnum(const char *resp, qtd_modem_info_t *m);
bool qtd_modem_parse_qeng(const char *resp, qtd_modem_info_t *m);

/* Open the port (raw, baud), ask every command with a per-command timeout, close. Fills m
 * with what the modem answered. Returns: 0 (something answered), -ENOENT (cannot open),
 * -ETIMEDOUT (nothing answered). Blocking: call it off the loop thread. */
int qtd_modem_query(const char *port, int baud, int timeout_ms, qtd_modem_info_t *m);

/* One command (no CR) on the port: opens it, asks, closes. resp gets the answer
 * (NUL-terminated, "" when none). Returns: 0 (OK), -EIO (ERROR), -ETIMEDOUT, -ENOENT.
 * Blocking. */
int qtd_modem_command(const char *port, int baud, const char *cmd, int timeout_ms, char *resp,
                      size_t n);

/* Only the IMEI (AT+CGSN), for the default device key at start-up. imei gets 14..17 digits.
 * Returns: 0, -ENOENT, -ETIMEDOUT. Blocking. */
int qtd_modem_imei(const char *port, int baud, int timeout_ms, char *imei, size_t n);

#endif /* QTD_PLUGINS_CLOUD_CLOUD_MODEM_H */
