#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The AT port of a Quectel LTE module without a SIM, for the modem tests and the tracker demo
# (run.sh): reads commands ending in CR on stdin, answers on stdout. IMEI 866123456789012,
# CSQ 21 (-71 dBm), a serving cell 460-00 LAC 0x5F2 cell 0x1A2B3C4 and two neighbours
# (AT+QENG); anything else (CIMI, QCCID, CNUM: no SIM) answers ERROR. Put it on the far
# end of a pty:
#   socat pty,raw,echo=0,link=/tmp/modem EXEC:"bash tests/peers/at_modem.sh"
while IFS= read -r -d $'\r' cmd; do
    case "$cmd" in
    ATE0) printf '\r\nOK\r\n' ;;
    AT+CGSN) printf '\r\n866123456789012\r\n\r\nOK\r\n' ;;
    AT+CSQ) printf '\r\n+CSQ: 21,99\r\n\r\nOK\r\n' ;;
    'AT+QENG="servingcell"')
        printf '\r\n+QENG: "servingcell","NOCONN","LTE","FDD",460,00,1A2B3C4,123,1300,3,5,5,5F2,-95,-10,-65,15,35\r\n\r\nOK\r\n' ;;
    'AT+QENG="neighbourcell"')
        printf '\r\n+QENG: "neighbourcell intra","LTE",1300,201,-12,-101,-70,0,20,7,12,6,46\r\n+QENG: "neighbourcell inter","LTE",3683,302,-15,-108,-79,0,12,5,8,4,46\r\n\r\nOK\r\n' ;;
    *) printf '\r\nERROR\r\n' ;;
    esac
done
