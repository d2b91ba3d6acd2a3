#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The register maps of tests/integration/test_modbus.sh and the values behind them.

    mb_points.py map SLAVES...        the modbus.slaves entries (Lua) for SLAVES
    mb_points.py set UNIT DELTA        the control requests (JSON lines) that put the values
                                       of slave UNIT (+ DELTA on each number) into its peer
    mb_points.py expect UNIT DELTA     {id: value} the platform should see for that slave
    mb_points.py check EXPECT ACTUAL   exit 1 naming each id whose value differs (floats
                                       within 1e-6 relative)

SLAVES are "dk:port:unit" (dk "-": a slave of the device's own thing model, no sub-device). Every slave maps the same 20 points: every type, every word and
byte order, scale and offset, coils, discrete inputs, input registers, a bool in a register.
The register contents are made here with struct from the standard layouts (ABCD, CDAB,
BADC, DCBA), independently of the agent's code.
"""
import json
import math
import struct
import sys

# id, function, address, type, word order, byte order, access, value, extra keys
POINTS = [
    (1, "holding", 0, "u16", "big", "big", "rw", 65000, {}),
    (2, "holding", 1, "s16", "big", "big", "r", -1234, {}),
    (3, "holding", 2, "u32", "big", "big", "rw", 4000000000, {}),
    (4, "holding", 4, "u32", "little", "big", "rw", 123456789, {}),
    (5, "holding", 6, "s32", "big", "little", "r", -2000000000, {}),
    (6, "holding", 8, "s32", "little", "little", "r", -7, {}),
    (7, "holding", 10, "u64", "big", "big", "r", 2**62 + 5, {}),
    (8, "holding", 14, "s64", "little", "big", "r", -(2**40) - 3, {}),
    (9, "holding", 18, "float32", "big", "big", "rw", 12.5, {}),
    (10, "holding", 20, "float32", "little", "big", "r", -3.25, {}),
    (11, "holding", 22, "float32", "big", "little", "r", 1024.75, {}),
    (12, "holding", 24, "float64", "big", "big", "r", 3.141592653589793, {}),
    (13, "holding", 28, "float64", "little", "little", "r", -2.5e10, {}),
    (14, "holding", 32, "string", "big", "big", "r", "QTD-0", {"count": 4}),
    (15, "holding", 36, "u16", "big", "big", "rw", 1234, {"scale": 0.1, "offset": -5}),
    (16, "coil", 0, "bool", "big", "big", "rw", True, {}),
    (17, "discrete", 0, "bool", "big", "big", "r", True, {}),
    (18, "input", 0, "u16", "big", "big", "r", 777, {}),
    (19, "input", 1, "s32", "big", "big", "r", -99999, {}),
    (20, "holding", 40, "bool", "big", "big", "r", True, {}),
]

FMT = {"u16": ">H", "s16": ">h", "u32": ">I", "s32": ">i", "u64": ">Q", "s64": ">q",
       "float32": ">f", "float64": ">d"}


def value_of(p, unit, delta):
    v = p[7]
    if isinstance(v, bool):
        return v if (unit + delta) % 2 == 1 else not v
    if isinstance(v, str):
        return v + str(unit + delta)
    if isinstance(v, float):
        return v + unit + delta
    return v + unit + delta if v >= 0 else v - unit - delta


def registers(p, raw):
    """The registers holding raw for point p: big-endian bytes, then the point's orders."""
    pid, fn, addr, typ, word, byte, access, v, extra = p
    if typ == "string":
        b = raw.encode().ljust(2 * extra["count"], b"\0")
    else:
        b = struct.pack(FMT[typ], raw)
    words = [b[i:i + 2] for i in range(0, len(b), 2)]
    if byte == "little":
        words = [w[::-1] for w in words]
    if word == "little" and typ != "string":
        words.reverse()
    return [int.from_bytes(w, "big") for w in words]


def reported(p, unit, delta):
    v = value_of(p, unit, delta)
    extra = p[8]
    if "scale" in extra:
        return v * extra["scale"] + extra["offset"]
    return v


def cmd_map(slaves):
    out = []
    for s in slaves:
        dk, port, unit = s.split(":")
        pts = []
        for p in POINTS:
            pid, fn, addr, typ, word, byte, access, v, extra = p
            keys = [f"id = {pid}", f'table = "{fn}"', f"address = {addr}", f'type = "{typ}"',
                    f'word_order = "{word}"', f'byte_order = "{byte}"', f'access = "{access}"']
            keys += [f"{k} = {x}" for k, x in extra.items()]
            pts.append("{ " + ", ".join(keys) + " }")
        device = "" if dk == "-" else (f'pk = "psub01", ps = "c3ViZGV2aWNlc2VjcmV0", '
                                       f'dk = "{dk}", keepalive_s = 30, ')
        out.append(f'{{ port = "{port}", unit = {unit}, {device}'
                   f"poll_ms = 200, points = {{ " + ", ".join(pts) + " } }")
    print(",\n".join(out))


def cmd_set(unit, delta):
    for p in POINTS:
        pid, fn, addr, typ, word, byte, access, v, extra = p
        v = value_of(p, unit, delta)
        if fn in ("coil", "discrete"):
            table, values = ("co" if fn == "coil" else "di"), [int(v)]
        else:
            table = "hr" if fn == "holding" else "ir"
            values = [int(v)] if typ == "bool" else registers(p, v)
        print(json.dumps({"op": "set", "unit": unit, "table": table, "addr": addr,
                          "values": values}))


def cmd_expect(unit, delta):
    print(json.dumps({str(p[0]): reported(p, unit, delta) for p in POINTS}, sort_keys=True))


def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return a == b
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def cmd_check(expect, actual):
    e, a = json.loads(expect), json.loads(actual)
    bad = [f"{k}: expected {v!r}, got {a.get(k)!r}" for k, v in e.items()
           if k not in a or not same(v, a[k])]
    for line in bad:
        print(line)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "map":
        cmd_map(sys.argv[2:])
    elif what == "set":
        cmd_set(int(sys.argv[2]), int(sys.argv[3]))
    elif what == "expect":
        cmd_expect(int(sys.argv[2]), int(sys.argv[3]))
    elif what == "check":
        cmd_check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
