/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NMEA 0183 for the GNSS plugin, pure (no I/O): a line framer for byte streams, the checks
 * every sentence passes before anything uses it (`$`, printable, at most 82 characters with
 * CR LF, a correct checksum), the latest sentence of each talker and type of the seed's
 * table 2 (GSV as its whole last group), the fix the GGA and RMC sentences give, the `$LBS`
 * lines of cells (with the SDK's decimal checksum) and the parser of the modem's
 * AT+QENG answers. The fuzz target and the unit tests reach all of it.
 */
#ifndef QTD_GNSS_NMEA_H
#define QTD_GNSS_NMEA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NMEA_MAX_LINE 82 /* NMEA 0183: at most 82 characters, '$' to CR LF */
#define NMEA_MAX_TEXT 80 /* without CR LF */

/* Talkers of table 2: GP (GPS), BD (BeiDou; GB is stored as BD), GL (GLONASS), GA (Galileo),
 * GN (any). Types: GGA, RMC, GSV, GSA, VTG. */
enum { NMEA_GP, NMEA_BD, NMEA_GL, NMEA_GA, NMEA_GN, NMEA_TALKERS };
enum { NMEA_GGA, NMEA_RMC, NMEA_GSV, NMEA_GSA, NMEA_VTG, NMEA_TYPES };
#define NMEA_GSV_MAX 9 /* sentences of one GSV group */

typedef enum {
    NMEA_OK = 0,
    NMEA_E_START,    /* does not begin with '$' */
    NMEA_E_LENGTH,   /* longer than 82 characters with CR LF, or empty */
    NMEA_E_CHAR,     /* a character that is not printable ASCII, or ';' (the wire's separator) */
    NMEA_E_CHECKSUM, /* no "*hh" at the end, or hh not the XOR of the sentence */
    NMEA_E_ADDRESS   /* no talker + type address ("$GPGGA,") */
} nmea_err_t;

const char *nmea_strerror(nmea_err_t e);

/* Check one sentence (text without CR LF). On NMEA_OK, *talker and *type are set: an index
 * of the enums above, or -1 for a talker or type table 2 does not name (still valid). */
nmea_err_t nmea_check(const char *s, size_t n, int *talker, int *type);

/* A byte stream into lines: feed bytes, get complete lines (CR LF, LF or CR ended, the
 * terminator removed). A line longer than NMEA_MAX_LINE is cut off and given as too long
 * (flag), so it fails the check; a line is never repaired (bytes before its '$', or a
 * second sentence run into the first, make it fail the check). */
typedef struct {
    char buf[NMEA_MAX_LINE + 2];
    size_t len;
    bool overlong;
} nmea_framer_t;

/* Feed one byte. Returns true when a line is complete: *line and *n are set (valid until
 * the next call) and *overlong tells a line cut off. */
bool nmea_framer_byte(nmea_framer_t *f, char c, const char **line, size_t *n, bool *overlong);

/* The latest fix, from GGA (position, altitude, satellites, HDOP, quality) and RMC (speed,
 * course, date, validity). */
typedef struct {
    bool valid;       /* GGA quality > 0 or RMC status A, within the sentence's cycle */
    double lat, lon;  /* decimal degrees, south and west negative */
    double alt;       /* m above mean sea level (GGA) */
    double speed_kmh; /* RMC knots * 1.852 */
    double course;    /* degrees true (RMC) */
    int satellites;   /* GGA */
    double hdop;      /* GGA */
    int quality;      /* GGA: 0 none, 1 GPS, 2 DGPS, ... */
    char utc[32];     /* "2026-11-30T09:55:01.00Z" with an RMC date, else "09:55:01.00" */
    bool has_alt, has_speed, has_course;
} nmea_fix_t;

/* What the receiver said most recently. */
typedef struct {
    char text[NMEA_TALKERS][NMEA_TYPES][NMEA_MAX_TEXT + 1];  /* GSV: the group's last sentence */
    uint64_t seq[NMEA_TALKERS][NMEA_TYPES];                  /* when (a counter), 0: never */
    char gsv[NMEA_TALKERS][NMEA_GSV_MAX][NMEA_MAX_TEXT + 1]; /* the last complete group */
    int gsv_n[NMEA_TALKERS];
    char gsv_build[NMEA_TALKERS][NMEA_GSV_MAX][NMEA_MAX_TEXT + 1];
    int gsv_build_n[NMEA_TALKERS];
    uint64_t counter;
    nmea_fix_t fix;
    uint64_t fix_seq; /* counter of the sentence that last changed the fix */
} nmea_store_t;

/* Keep a checked sentence (nmea_check OK) and update the fix. */
void nmea_store_put(nmea_store_t *st, const char *s, size_t n, int talker, int type);

/* A type name of table 2 ("GGA", "GPGGA", "BDRMC", ...) as (talker, type): talker -1 for
 * "any system". Returns false for a name table 2 does not have (NONE, AUTO, LBS too). */
bool nmea_type_of(const char *name, int *talker, int *type);

/* Append the latest sentences of a table 2 type to out as "s1;s2;" (GSV: its whole group;
 * "GGA": the latest of any talker). Returns the number of sentences appended (0: none
 * yet, or out too small for them: nothing appended then). */
size_t nmea_store_get(const nmea_store_t *st, int talker, int type, char *out, size_t n);

/* One cell for an $LBS line. */
typedef struct {
    unsigned mcc, mnc, lac, cellid;
    int rssi;
} nmea_cell_t;

/* "$LBS,<mcc>,<mnc %02u>,<lac>,<cellid>,<rssi>,0*<cs>" where cs is the XOR of the characters
 * between '$' and '*' printed in decimal (%02d, the SDK's form). Returns its length, or 0
 * when n is too small. */
size_t nmea_lbs_line(const nmea_cell_t *c, char *out, size_t n);

/* The cells of AT+QENG="servingcell" (LTE, WCDMA, GSM) and AT+QENG="neighbourcell"
 * answers: the serving cell into *serving (returns true when there is one) and up to max
 * neighbours into nb (*n_nb). RSSI: LTE RSSI (dBm), else RSCP / RxLev as dBm. */
bool nmea_qeng_serving(const char *answer, nmea_cell_t *serving);
size_t nmea_qeng_neighbours(const char *answer, unsigned mcc, unsigned mnc, nmea_cell_t *nb,
                            size_t max);

#endif /* QTD_GNSS_NMEA_H */
