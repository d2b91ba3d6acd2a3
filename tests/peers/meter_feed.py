#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Values that change, for the slaves of config/modbus-meter.lua played by modbus_peer.py.

    meter_feed.py METER_CTL CABINET_CTL [--period S] [--cycles N]

METER_CTL and CABINET_CTL are the control ports of two running `modbus_peer.py serve`
(unit 1 each): the three-phase energy meter on the RS-485 line and the I/O module on Modbus
TCP, with the register layout of config/modbus-meter.lua. Every S seconds (default 1) the
feed writes new readings into their registers: voltages around 230 V, currents, the active
power and power factor, a frequency around 50 Hz, the imported energy (counting up), the
cabinet's temperature and, every 20 cycles, its door. Once at the start: the meter's model
name ("QTD-DEMO-METER3P" in holding 100..107), its relay on (coil 0), the cabinet's fan off
and threshold 30 °C; the feed never writes a coil or holding register again (the platform
may). Each cycle prints one JSON line on stdout, the values as the platform should see them
after the plugin's scaling (floats as float32 holds them; the coils and holding registers as
set at the start):
    {"cycle": K, "meter1": {"1": 231.2, ..., "12": "QTD-DEMO-METER3P"},
     "cabinet1": {"1": 24.6, "2": false, "3": false, "4": 30}}
Stops after N cycles (default: never) or on SIGTERM.
"""
import json
import math
import socket
import struct
import sys
import time

MODEL = "QTD-DEMO-METER3P"  # 16 characters: holding 100..107


class Peer:
    """One connection to a modbus_peer.py control server (many requests per connection)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.rfile = self.sock.makefile("r", encoding="utf-8")

    def set(self, table, addr, values):
        req = {"op": "set", "unit": 1, "table": table, "addr": addr, "values": values}
        self.sock.sendall((json.dumps(req) + "\n").encode())
        answer = json.loads(self.rfile.readline())
        if not answer.get("ok"):
            sys.exit(f"meter_feed: {req} refused: {answer}")


def f32(v):
    """v as a float32 holds it, and its two registers (high word first, ABCD)."""
    raw = struct.pack(">f", v)
    return struct.unpack(">f", raw)[0], list(struct.unpack(">HH", raw))


def readings(k):
    """The meter's and the cabinet's values of cycle k: slow waves, three phases apart."""
    out = {}
    regs = []
    for phase in range(3):
        v, r = f32(round(230 + 4 * math.sin(k / 5 + phase * 2.1), 1))
        out[str(1 + phase)] = v
        regs += r
    for phase in range(3):
        v, r = f32(round(5 + 2 * math.sin(k / 7 + phase * 2.1), 2))
        out[str(4 + phase)] = v
        regs += r
    pf = round(0.95 + 0.03 * math.sin(k / 9), 3)
    power = sum(out[str(1 + p)] * out[str(4 + p)] for p in range(3)) * pf
    v, r = f32(round(power))
    out["7"] = v
    regs += r
    pf_raw = round(pf * 1000)
    regs.append(pf_raw & 0xFFFF)
    out["8"] = round(pf_raw * 0.001, 3)
    hz_raw = 5000 + round(4 * math.sin(k / 4))
    regs.append(hz_raw)
    out["9"] = round(hz_raw * 0.01, 2)
    energy_raw = 123456 + k * 3  # 0.01 kWh
    regs += [energy_raw >> 16, energy_raw & 0xFFFF]
    out["10"] = round(energy_raw * 0.01, 2)
    temp_raw = 246 + round(30 * math.sin(k / 6))
    door = (k // 20) % 2 == 1
    return out, regs, {"1": round(temp_raw * 0.1, 1), "2": door}, temp_raw


def main():
    args = sys.argv[1:]
    if len(args) < 2 or not args[0].isdigit() or not args[1].isdigit():
        sys.exit(__doc__)
    period, cycles = 1.0, None
    i = 2
    while i < len(args):
        if args[i] == "--period":
            period = float(args[i + 1])
        elif args[i] == "--cycles":
            cycles = int(args[i + 1])
        else:
            sys.exit(f"meter_feed: unknown argument {args[i]}")
        i += 2
    meter, cabinet = Peer(int(args[0])), Peer(int(args[1]))
    text = MODEL.encode()
    meter.set("hr", 100, [text[j] << 8 | text[j + 1] for j in range(0, 16, 2)])
    meter.set("co", 0, [1])
    cabinet.set("co", 0, [0])
    cabinet.set("hr", 0, [30])
    k = 0
    while cycles is None or k < cycles:
        values, regs, cab, temp_raw = readings(k)
        meter.set("ir", 0, regs)
        cabinet.set("ir", 0, [temp_raw & 0xFFFF])
        cabinet.set("di", 0, [1 if cab["2"] else 0])
        values["11"], values["12"] = True, MODEL  # as set at the start
        cab["3"], cab["4"] = False, 30
        print(json.dumps({"cycle": k, "meter1": values, "cabinet1": cab}), flush=True)
        k += 1
        time.sleep(period)


if __name__ == "__main__":
    main()
