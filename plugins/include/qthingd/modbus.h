/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Modbus plugin's event numbering. Its events travel on the bus in QTD_DOM_MODBUS and
 * reach the script's modbus.setEventCB callback as {event, errcode, value}; another plugin
 * may subscribe to them. QTD_DOM_MODBUS_UART is the plugin's own link to the script's
 * functions of quecIot.MBInit (sendFunc, initCb) and modbus.serial: not for subscribers.
 */
#ifndef QTD_QTHINGD_MODBUS_H
#define QTD_QTHINGD_MODBUS_H

#ifdef __cplusplus
extern "C" {
#endif

enum { QTD_DOM_MODBUS = 4, QTD_DOM_MODBUS_UART = 5 };

/* QTD_DOM_MODBUS events. value: ARRAY {pk, dk, ...} where pk and dk are "" for a slave
 * mapped to the device itself. */
enum {
    /* A slave stopped answering (errcode 10300, after its retries) or answers again
     * (10200). value {pk, dk, {port, unit, reason}}. */
    QTD_MB_EVT_SLAVE = 1,
    /* Values of points marked script = true, for the script to transform and report
     * itself (10200). value {pk, dk, {id = value, ...}}. */
    QTD_MB_EVT_VALUES = 2,
    /* The result of a write (10200 written and read back, 10300 refused or failed).
     * value {pk, dk, {id = value}}: on 10200 the value read back ({} for a write-only
     * point), on 10300 the value asked for (a refusal) or the slave's last one (a write
     * the slave did not take). */
    QTD_MB_EVT_WRITE = 3
};

#ifdef __cplusplus
}
#endif
#endif /* QTD_QTHINGD_MODBUS_H */
