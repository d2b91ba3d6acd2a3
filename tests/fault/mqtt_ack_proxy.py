#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A TCP proxy between one MQTT client and a broker that can lose acknowledgements.

Usage: mqtt_ack_proxy.py LISTEN_PORT BROKER_PORT CONTROL_FILE

Everything is forwarded both ways, except that while CONTROL_FILE names a packet type
("puback" or "suback"), packets of that type from the broker to the client are dropped
(counted on stderr). Only loopback. A test of the agent's acknowledgement timeouts: the
connection stays up, only the acknowledgement never comes.
"""
import os
import socket
import sys
import threading

TYPES = {"puback": 4, "suback": 9}


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def read_packet(sock):
    """One MQTT control packet (fixed header + remaining length + body)."""
    first = read_exact(sock, 1)
    length, mult, header = 0, 1, first
    while True:
        b = read_exact(sock, 1)
        header += b
        length += (b[0] & 0x7F) * mult
        mult *= 128
        if not b[0] & 0x80:
            break
    return header + read_exact(sock, length)


def dropping(control):
    try:
        with open(control, encoding="ascii") as f:
            return TYPES.get(f.read().strip())
    except OSError:
        return None


def shut_both(*socks):
    """End both directions of a pair: what one side closes, the other sees closed."""
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def pipe_raw(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        shut_both(src, dst)


def pipe_from_broker(src, dst, control):
    try:
        while True:
            packet = read_packet(src)
            kind = packet[0] >> 4
            if kind == dropping(control):
                print(f"dropped packet type {kind}", file=sys.stderr, flush=True)
                continue
            dst.sendall(packet)
    except (OSError, EOFError):
        pass
    finally:
        shut_both(src, dst)


def main():
    listen_port, broker_port, control = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(8)
    print(f"listening on {listen_port}", file=sys.stderr, flush=True)
    while True:
        client, _ = server.accept()
        broker = socket.create_connection(("127.0.0.1", broker_port))
        threading.Thread(target=pipe_raw, args=(client, broker), daemon=True).start()
        threading.Thread(target=pipe_from_broker, args=(broker, client, control),
                         daemon=True).start()


if __name__ == "__main__":
    main()
