#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""NMEA 0183 for the GNSS tests: a receiver's output, made here with its checksums.

    nmea_feed.py serial DEVICE LOG [--rate HZ] [--bad] [--stop-after N]
        write a moving fix (GPGGA, GPRMC, GNGSA, a 3-sentence GPGSV group, GPVTG, BDGGA,
        GLGSV) once per cycle to the serial DEVICE at HZ cycles per second; every sentence
        written is also appended to LOG (one per line). --bad: each cycle also writes a
        sentence with a wrong checksum, a truncated one, one over 82 characters, binary
        noise and one without '$' (none of these go to LOG). --stop-after N: go silent
        (write nothing, stay open) after N cycles.
    nmea_feed.py file PATH CYCLES [--turn]
        the same valid cycles, CYCLES of them, into the file PATH; --turn: the course
        turns from 45 to 135 degrees and back every 10 cycles.
    nmea_feed.py lbs MCC MNC LAC CELLID RSSI
        the $LBS line of that cell (checksum in decimal, as the SDK prints it).
    nmea_feed.py check SENTENCE
        exit 0 when SENTENCE has a correct checksum.
"""
import os
import sys
import time


def cs(body):
    x = 0
    for ch in body.encode():
        x ^= ch
    return x


def sentence(body):
    return f"${body}*{cs(body):02X}"


def ddmm(v, pos, neg, width):
    h = pos if v >= 0 else neg
    v = abs(v)
    d = int(v)
    m = (v - d) * 60
    return f"{d:0{width}d}{m:07.4f}", h


def cycle(k, turn=False):
    """The sentences of cycle k: a receiver moving north-east at ~36 km/h."""
    course = 135.0 if turn and (k // 10) % 2 == 1 else 45.0
    lat, lon = 31.2304 + k * 0.0001, 121.4737 + k * 0.0001
    t = f"{(9 + k // 3600) % 24:02d}{(k // 60) % 60:02d}{k % 60:02d}.00"
    la, lah = ddmm(lat, "N", "S", 2)
    lo, loh = ddmm(lon, "E", "W", 3)
    out = [
        sentence(f"GPGGA,{t},{la},{lah},{lo},{loh},1,08,0.9,12.5,M,9.1,M,,"),
        sentence(f"GPRMC,{t},A,{la},{lah},{lo},{loh},19.4,{course:.1f},301126,,,A"),
        sentence("GNGSA,A,3,01,02,03,04,05,06,07,08,,,,,1.5,0.9,1.2"),
        sentence("GPGSV,3,1,10,01,40,083,46,02,17,308,41,03,07,344,39,04,22,228,45"),
        sentence("GPGSV,3,2,10,05,60,115,47,06,33,005,44,07,12,155,38,08,50,270,48"),
        sentence("GPGSV,3,3,10,09,05,020,30,10,08,090,31"),
        sentence("GPVTG,45.0,T,,M,19.4,N,35.9,K,A"),
        sentence(f"BDGGA,{t},{la},{lah},{lo},{loh},1,06,1.1,12.7,M,9.1,M,,"),
        sentence("GLGSV,1,1,02,65,30,100,40,66,45,200,42"),
    ]
    return out


def bad_lines(k):
    good = sentence(f"GPGGA,0900{k % 60:02d}.00,3113.8240,N,12128.4220,E,1,08,0.9,12.5,M,,,,")
    wrong_sum = good[:-2] + ("00" if good[-2:] != "00" else "11")
    return [
        wrong_sum.encode(),
        good[: len(good) // 2].encode(),  # truncated, no checksum
        sentence("GPTXT,01,01,02," + "X" * 80).encode(),  # too long
        os.urandom(24).replace(b"\n", b"").replace(b"\r", b""),
        good[1:].encode(),  # no '$'
    ]


def serial_feed(args):
    device, log = args[0], args[1]
    rate, bad, stop_after = 5.0, False, None
    i = 2
    while i < len(args):
        if args[i] == "--rate":
            rate = float(args[i + 1])
            i += 2
        elif args[i] == "--bad":
            bad = True
            i += 1
        elif args[i] == "--stop-after":
            stop_after = int(args[i + 1])
            i += 2
        else:
            sys.exit(f"unknown argument {args[i]}")
    fd = os.open(device, os.O_WRONLY | os.O_NOCTTY)
    k = 0
    with open(log, "a") as lf:
        print("ready", flush=True)
        while True:
            if stop_after is None or k < stop_after:
                for s in cycle(k):
                    os.write(fd, s.encode() + b"\r\n")
                    lf.write(s + "\n")
                if bad:
                    for b in bad_lines(k):
                        os.write(fd, b + b"\r\n")
                lf.flush()
                k += 1
                if stop_after is not None and k == stop_after:
                    print("silent", flush=True)
            time.sleep(1.0 / rate)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    what = sys.argv[1]
    if what == "serial":
        serial_feed(sys.argv[2:])
    elif what == "file":
        with open(sys.argv[2], "w") as f:
            turn = "--turn" in sys.argv[4:]
            for k in range(int(sys.argv[3])):
                for s in cycle(k, turn):
                    f.write(s + "\r\n")
    elif what == "lbs":
        mcc, mnc, lac, cell, rssi = (int(x) for x in sys.argv[2:7])
        body = f"LBS,{mcc},{mnc:02d},{lac},{cell},{rssi},0"
        print(f"${body}*{cs(body):02d}")
    elif what == "check":
        s = sys.argv[2]
        sys.exit(0 if s.startswith("$") and "*" in s
                 and f"{cs(s[1:s.rindex('*')]):02X}" == s[s.rindex('*') + 1:] else 1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
