#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A hostile Modbus RTU slave for tests/integration/test_modbus_hostile.sh.

    mb_hostile.py DEVICE UNIT MODES

On the serial DEVICE (one end of a socat pty pair), answers each read holding registers
request (function 3) for UNIT with the next mode of the comma-separated MODES, in a cycle:

    valid       the registers 0x1234 0x5678 (the only answer whose value may be reported)
    wrong_unit  a well-formed answer with 0xDEAD 0xBEEF from unit UNIT + 1
    truncated   the first 4 bytes of an answer with 0xDEAD 0xBEEF
    bad_crc     an answer with 0xDEAD 0xBEEF and a wrong CRC
    garbage     40 bytes of noise
    exception   exception 02 (illegal data address)
    silence     nothing
    long        an answer that claims 0xDEAD 0xBEEF 0xDEAD 0xBEEF (more registers than asked)

It prints one line per request ("<n> <mode>") and exits on SIGTERM. The CRC is pymodbus's.
"""
import os
import signal
import sys
import time

import serial
from pymodbus.utilities import computeCRC


def frame(body):
    crc = computeCRC(body)
    return body + bytes([crc >> 8, crc & 0xFF])


def main():
    device, unit, modes = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = serial.Serial(device, 19200, timeout=0.05)
    buf = b""
    n = 0
    print("ready", flush=True)
    while True:
        buf += port.read(64)
        if len(buf) < 8:
            continue
        req, buf = buf[:8], buf[8:]
        if req[0] != unit or req[1] != 3 or frame(req[:6]) != req:
            buf = b""  # out of step: start again at the next request
            print(f"{n} skipped {req.hex()}", flush=True)
            continue
        mode = modes[n % len(modes)]
        n += 1
        print(f"{n} {mode}", flush=True)
        bad = bytes([unit, 3, 4, 0xDE, 0xAD, 0xBE, 0xEF])
        if mode == "valid":
            out = frame(bytes([unit, 3, 4, 0x12, 0x34, 0x56, 0x78]))
        elif mode == "wrong_unit":
            out = frame(bytes([unit + 1]) + bad[1:])
        elif mode == "truncated":
            out = frame(bad)[:4]
        elif mode == "bad_crc":
            out = frame(bad)
            out = out[:-1] + bytes([out[-1] ^ 0xFF])
        elif mode == "garbage":
            out = os.urandom(40)
        elif mode == "exception":
            out = frame(bytes([unit, 0x83, 2]))
        elif mode == "long":
            out = frame(bytes([unit, 3, 8]) + bad[3:] + bad[3:])
        else:
            out = b""
        time.sleep(0.005)
        port.write(out)


if __name__ == "__main__":
    main()
