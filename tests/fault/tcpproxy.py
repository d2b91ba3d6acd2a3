# SPDX-License-Identifier: Apache-2.0
"""A TCP proxy for the fault tests: network cuts without root.

tcpproxy.py --listen PORT --to HOST:PORT forwards every connection accepted on
127.0.0.1:PORT to HOST:PORT, both ways, until told otherwise by a signal:

  SIGUSR1  black-hole: stop forwarding both ways and keep every socket open (nothing is
           read, so nothing is lost or cut in half: like a link whose packets vanish, TCP's
           buffers fill and the peers hear nothing). A connection accepted meanwhile is
           held, its upstream connection made only when the black-hole ends.
  SIGUSR2  end the black-hole: forward again, held data first.
  SIGHUP   reset: close every connection with a TCP RST on both sides.
  SIGTERM  exit 0.

One line per action on standard output, flushed: "listening", "accepted <n>",
"blackhole on", "blackhole off", "reset <k> connections", "closed <n> <why>". Python 3
standard library only. Not a general proxy: loopback tests, a handful of connections.
"""
import argparse
import select
import signal
import socket
import struct
import sys

CHUNK = 65536
HIGH_WATER = 1 << 20  # stop reading a side while this much waits for the other side


def log(*words):
    print(*words, flush=True)


class Pair:
    """A client connection and its upstream connection (None until connected)."""

    def __init__(self, num, client):
        self.num = num
        self.client = client
        self.upstream = None
        self.to_up = bytearray()
        self.to_client = bytearray()


def rst_close(sock):
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--to", required=True, help="HOST:PORT")
    ap.add_argument("--rcvbuf", type=int, default=0,
                    help="receive buffer of the accepted sockets, bytes (default: the kernel's,"
                         " which grows to tcp_rmem's maximum): a black-hole then fills the"
                         " client's socket after about that much")
    args = ap.parse_args()
    host, port = args.to.rsplit(":", 1)
    target = (host, int(port))

    flags = {"blackhole": None, "reset": False, "stop": False}

    def on_signal(signum, _frame):
        if signum == signal.SIGUSR1:
            flags["blackhole"] = True
        elif signum == signal.SIGUSR2:
            flags["blackhole"] = False
        elif signum == signal.SIGHUP:
            flags["reset"] = True
        else:
            flags["stop"] = True

    for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(s, on_signal)

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.rcvbuf > 0:  # before listen: accepted sockets inherit it, window scale included
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    lsock.bind(("127.0.0.1", args.listen))
    lsock.listen(16)
    lsock.setblocking(False)
    log("listening", args.listen, "->", args.to)

    pairs = []
    blackhole = False
    accepted = 0

    def close_pair(p, why, hard=True):
        for sock in (p.client, p.upstream):
            if hard:
                rst_close(sock)
            elif sock is not None:
                sock.close()
        pairs.remove(p)
        log("closed", p.num, why)

    def connect_upstream(p):
        try:
            p.upstream = socket.create_connection(target, timeout=2)
            p.upstream.setblocking(False)
            p.upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            p.upstream = None
            close_pair(p, "upstream: %s" % e)

    while not flags["stop"]:
        if flags["blackhole"] is not None:
            blackhole, flags["blackhole"] = flags["blackhole"], None
            log("blackhole", "on" if blackhole else "off")
            if not blackhole:
                for p in [p for p in pairs if p.upstream is None]:
                    connect_upstream(p)
        if flags["reset"]:
            flags["reset"] = False
            n = len(pairs)
            for p in list(pairs):
                rst_close(p.client)
                rst_close(p.upstream)
            pairs.clear()
            log("reset", n, "connections")

        rlist, wlist = [lsock], []
        if not blackhole:
            for p in pairs:
                if len(p.to_up) < HIGH_WATER:
                    rlist.append(p.client)
                if len(p.to_client) < HIGH_WATER:
                    rlist.append(p.upstream)
                if p.to_up:
                    wlist.append(p.upstream)
                if p.to_client:
                    wlist.append(p.client)
        try:
            r, w, _ = select.select(rlist, wlist, [], 0.1)
        except InterruptedError:
            continue
        if flags["blackhole"] is not None or flags["reset"] or flags["stop"]:
            continue  # a signal came: act on it before moving any byte

        if lsock in r:
            try:
                c, _ = lsock.accept()
                c.setblocking(False)
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                accepted += 1
                p = Pair(accepted, c)
                pairs.append(p)
                log("accepted", accepted, *(["(held)"] if blackhole else []))
                if not blackhole:
                    connect_upstream(p)
            except BlockingIOError:
                pass
        for p in list(pairs):
            for src, dst, buf, side in ((p.client, p.upstream, p.to_up, "client"),
                                        (p.upstream, p.client, p.to_client, "upstream")):
                if p not in pairs:
                    break
                if src in r:
                    try:
                        data = src.recv(CHUNK)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as e:
                        close_pair(p, "%s: %s" % (side, e))
                        break
                    if not data:
                        try:  # best effort: what is already here goes on before the close
                            dst.setblocking(True)
                            dst.settimeout(1)
                            dst.sendall(bytes(buf))
                        except OSError:
                            pass
                        close_pair(p, "%s closed" % side, hard=False)
                        break
                    buf += data
            if p not in pairs:
                continue
            for dst, buf in ((p.upstream, p.to_up), (p.client, p.to_client)):
                if dst in w and buf:
                    try:
                        n = dst.send(buf)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as e:
                        close_pair(p, "send: %s" % e)
                        break
                    del buf[:n]
    for p in list(pairs):
        rst_close(p.client)
        rst_close(p.upstream)
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
