#!/usr/bin/python3
"""Modbus test peer for qthingd integration tests (Debian pymodbus 3.0.0).

Two sub-commands:

  serve  Run a Modbus slave (TCP on 127.0.0.1 or RTU on a serial device such
         as one end of a socat pty pair) plus a line-based JSON control server
         on 127.0.0.1 that lets a test script set/get the slave's data and
         count the requests the slave has received.

  ctl    Send one JSON request to a running control server and print the
         answer line.  Exit status 0 if the answer has "ok": true, 1 if
         not, 2 if the control server cannot be reached.

Run it with /usr/bin/python3 (Debian's pymodbus and pyserial-asyncio live in
/usr/lib/python3/dist-packages).
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import stat
import sys
import time

LOG = logging.getLogger("modbus_peer")

# Each table covers wire addresses 0 .. TABLE_SIZE-1.
TABLE_SIZE = 10000

# Control-protocol table name -> pymodbus function code used to select the
# data block of a slave context (1: coils, 2: discrete inputs,
# 3: holding registers, 4: input registers).
TABLE_FC = {"co": 1, "di": 2, "hr": 3, "ir": 4}
BIT_TABLES = ("co", "di")

# Function codes counted by the "writes" and "reads" control ops.
# 22 (mask write register) and 23 (read/write multiple registers) are counted
# too; 23 counts as both a read and a write.
WRITE_FCS = frozenset((5, 6, 15, 16, 22, 23))
READ_FCS = frozenset((1, 2, 3, 4, 23))

DESCRIPTION = __doc__.split("\n\n", 1)[1]

SERVE_EPILOG = """\
Data model:
  Each listed unit id gets its own coils (co), discrete inputs (di), holding
  registers (hr) and input registers (ir), wire addresses 0..9999 each, all 0
  at start.  Requests for unit ids that are not listed get no answer at all
  (the master times out).  Addresses beyond 9999 are answered with exception
  02 (illegal data address).

Control protocol (127.0.0.1:CTLPORT, one JSON object per line, one JSON answer
line per request; a connection may carry any number of requests):
  {"op": "set", "unit": 1, "table": "hr", "addr": 100, "values": [1, 2, 3]}
      -> {"ok": true}
  {"op": "get", "unit": 1, "table": "hr", "addr": 100, "count": 3}
      -> {"ok": true, "values": [1, 2, 3]}          ("count" defaults to 1)
  {"op": "writes"} -> {"ok": true, "writes": N}
  {"op": "reads"}  -> {"ok": true, "reads": N}
      ("unit": U may be added to writes/reads to count only that unit)
  anything wrong   -> {"ok": false, "error": "..."}

  "table" is one of co, di, hr, ir.  "addr" is the 0-based protocol address,
  i.e. exactly the address sent on the wire by the master.  co/di values are
  0/1 (true/false accepted); hr/ir values are 0..65535 (-32768..-1 are stored
  as their 16-bit two's complement).

  "writes" counts write requests received for listed units: function codes
  5, 6, 15, 16 (and 22, 23).  "reads" counts read requests: function codes
  1, 2, 3, 4 (and 23).  Requests answered with a Modbus exception (e.g. an
  illegal address) are counted too; frames with a bad CRC or for units not
  listed are not.

Output: "ready" is printed on stdout (flushed) once both servers listen;
nothing else goes to stdout.  Only errors are logged, to stderr (unless
--debug).  SIGTERM or SIGINT stops the peer with exit status 0; a startup
failure (port busy, device missing) exits with status 1.

Examples:
  modbus_peer.py serve --tcp 15020 --units 1,2 --control 15021
  socat pty,raw,echo=0,link=/tmp/mbA pty,raw,echo=0,link=/tmp/mbB &
  modbus_peer.py serve --rtu /tmp/mbA --baud 19200 --parity E --units 7 \\
      --control 15021 --pidfile /tmp/mbpeer.pid
"""

CTL_EPILOG = """\
Example:
  modbus_peer.py ctl 15021 '{"op": "get", "unit": 1, "table": "hr", "addr": 0, "count": 2}'
  {"ok": true, "values": [0, 0]}

Exit status: 0 if the answer has "ok": true, 1 if it has "ok": false or the
request is not valid JSON, 2 if the control server cannot be reached or does
not answer.
"""


# --------------------------------------------------------------------------- #
# Control protocol
# --------------------------------------------------------------------------- #
class RequestError(Exception):
    """A control request that cannot be served; text goes to "error"."""


class Stats:
    """Request counters, per unit id."""

    def __init__(self):
        self.reads = {}
        self.writes = {}

    def note(self, unit, function_code):
        if function_code in READ_FCS:
            self.reads[unit] = self.reads.get(unit, 0) + 1
        if function_code in WRITE_FCS:
            self.writes[unit] = self.writes.get(unit, 0) + 1


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _field_int(req, name, default=None):
    if name not in req:
        if default is None:
            raise RequestError(f'missing "{name}"')
        return default
    value = req[name]
    if not _is_int(value):
        raise RequestError(f'"{name}" must be an integer')
    return value


class Control:
    """Executes control requests against the slave contexts."""

    def __init__(self, slaves, stats):
        self.slaves = slaves  # unit id -> ModbusSlaveContext (zero_mode=True)
        self.stats = stats

    def _unit(self, req):
        unit = _field_int(req, "unit")
        if unit not in self.slaves:
            served = ",".join(str(u) for u in sorted(self.slaves))
            raise RequestError(f"unit {unit} is not served (units: {served})")
        return unit

    @staticmethod
    def _table(req):
        table = req.get("table")
        if table not in TABLE_FC:
            raise RequestError('"table" must be one of "co", "di", "hr", "ir"')
        return table

    @staticmethod
    def _range(addr, count):
        if count < 1:
            raise RequestError('"count" must be at least 1')
        if addr < 0 or addr + count > TABLE_SIZE:
            raise RequestError(
                f"address range {addr}..{addr + count - 1} outside 0..{TABLE_SIZE - 1}"
            )

    def op_set(self, req):
        unit = self._unit(req)
        table = self._table(req)
        addr = _field_int(req, "addr")
        values = req.get("values")
        if not isinstance(values, list) or not values:
            raise RequestError('"values" must be a non-empty list')
        self._range(addr, len(values))
        stored = []
        for value in values:
            if table in BIT_TABLES:
                if value not in (0, 1):  # also matches False/True
                    raise RequestError(f"{table} values must be 0 or 1, got {value!r}")
                stored.append(bool(value))
            else:
                if not _is_int(value) or not -0x8000 <= value <= 0xFFFF:
                    raise RequestError(
                        f"{table} values must be integers 0..65535, got {value!r}"
                    )
                stored.append(value & 0xFFFF)
        self.slaves[unit].setValues(TABLE_FC[table], addr, stored)
        return {"ok": True}

    def op_get(self, req):
        unit = self._unit(req)
        table = self._table(req)
        addr = _field_int(req, "addr")
        count = _field_int(req, "count", 1)
        self._range(addr, count)
        values = self.slaves[unit].getValues(TABLE_FC[table], addr, count)
        return {"ok": True, "values": [int(v) for v in values]}

    def _count(self, req, counters, key):
        if "unit" in req:
            unit = self._unit(req)
            return {"ok": True, key: counters.get(unit, 0)}
        return {"ok": True, key: sum(counters.values())}

    def op_writes(self, req):
        return self._count(req, self.stats.writes, "writes")

    def op_reads(self, req):
        return self._count(req, self.stats.reads, "reads")

    def handle_line(self, line):
        try:
            try:
                req = json.loads(line)
            except ValueError as exc:
                raise RequestError(f"invalid JSON: {exc}") from None
            if not isinstance(req, dict):
                raise RequestError("request must be a JSON object")
            op = req.get("op")
            method = getattr(self, f"op_{op}", None) if isinstance(op, str) else None
            if method is None:
                raise RequestError(f"unknown op {op!r} (set, get, writes, reads)")
            return method(req)
        except RequestError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # pylint: disable=broad-except
            LOG.exception("control request %r failed", line)
            return {"ok": False, "error": f"internal error: {exc}"}

    async def serve_client(self, reader, writer):
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # line longer than the stream limit
                    answer = {"ok": False, "error": "request line too long"}
                    writer.write((json.dumps(answer) + "\n").encode())
                    break
                if not line:
                    break
                text = line.decode("utf-8", "replace").strip()
                if not text:
                    continue
                answer = self.handle_line(text)
                writer.write((json.dumps(answer) + "\n").encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                writer.close()
            except Exception:  # pylint: disable=broad-except
                pass


# --------------------------------------------------------------------------- #
# serve
# --------------------------------------------------------------------------- #
def _parse_units(text):
    units = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            unit = int(part, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad unit id {part!r}") from None
        if not 0 <= unit <= 255:
            raise argparse.ArgumentTypeError(f"unit id {unit} outside 0..255")
        if unit not in units:
            units.append(unit)
    if not units:
        raise argparse.ArgumentTypeError("no unit ids given")
    return units


def _is_pty(path):
    """True if path is a Unix98 pseudo-terminal slave (/dev/pts/N)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and 136 <= os.major(st.st_rdev) <= 143


def _port(text):
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} outside 1..65535")
    return port


async def _serve(args):
    # pylint: disable=import-outside-toplevel,too-many-locals,too-many-statements
    from pymodbus.datastore import (
        ModbusSequentialDataBlock,
        ModbusServerContext,
        ModbusSlaveContext,
    )
    from pymodbus.server.async_io import (
        ModbusConnectedRequestHandler,
        ModbusSerialServer,
        ModbusSingleRequestHandler,
        ModbusTcpServer,
    )
    from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    state = {"exit": 0, "stopping": False}

    def request_stop(code=0):
        if code and not state["exit"]:
            state["exit"] = code
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop)

    # One slave context per unit.  zero_mode=True: without it
    # ModbusSlaveContext adds 1 to every address before it reaches the data
    # block, so wire address 0 would map to block index 1.  With zero_mode and
    # blocks starting at 0, wire address == block index == control "addr".
    slaves = {}
    for unit in args.units:
        slaves[unit] = ModbusSlaveContext(
            co=ModbusSequentialDataBlock(0, [False] * TABLE_SIZE),
            di=ModbusSequentialDataBlock(0, [False] * TABLE_SIZE),
            hr=ModbusSequentialDataBlock(0, [0] * TABLE_SIZE),
            ir=ModbusSequentialDataBlock(0, [0] * TABLE_SIZE),
            zero_mode=True,
        )
    context = ModbusServerContext(slaves=slaves, single=False)
    stats = Stats()
    control = Control(slaves, stats)

    class _PeerHandlerMixin:
        """Counts requests; drops requests for units that are not served."""

        def execute(self, request, *addr):
            # The framers already drop frames for units that are not listed,
            # except when 0 or 255 is listed: then pymodbus accepts every unit
            # id and would log an error for each unknown one; drop quietly.
            if request.unit_id not in slaves:
                return
            stats.note(request.unit_id, request.function_code)
            super().execute(request, *addr)

        def _log_exception(self):
            # pymodbus 3.0.0 logs an ERROR every time a client disconnects
            # or the server shuts down; that is normal, not an error.
            LOG.debug("modbus connection handler finished")

    class TcpHandler(_PeerHandlerMixin, ModbusConnectedRequestHandler):
        pass

    frame_gap = args.frame_gap / 1000.0

    class SerialHandler(_PeerHandlerMixin, ModbusSingleRequestHandler):
        """RTU handler with an inter-frame silence rule.

        pymodbus 3.0.0's RTU framer splits frames by their expected length
        only and never looks at silence on the line, so a truncated or
        garbage frame stays in its buffer and swallows the next request(s).
        Like a real slave, drop buffered bytes that are older than
        --frame-gap milliseconds when new bytes arrive.
        """

        _last_rx = 0.0

        def data_received(self, data):
            self.receive_queue.put_nowait((time.monotonic(), data))

        async def _recv_(self):
            stamp, data = await self.receive_queue.get()
            if (
                frame_gap > 0
                and stamp - self._last_rx > frame_gap
                and getattr(self.framer, "_buffer", b"")
            ):
                LOG.debug("RTU: dropping stale partial frame %s",
                          self.framer._buffer.hex())  # pylint: disable=protected-access
                self.framer.resetFrame()
            self._last_rx = stamp
            return data

        def connection_lost(self, call_exc):
            super().connection_lost(call_exc)
            if not state["stopping"]:
                LOG.error("serial device %s closed (%s); exiting", args.rtu, call_exc)
                request_stop(1)

    # ---- Modbus server ---------------------------------------------------- #
    modbus_server = None
    serve_task = None
    if args.tcp is not None:
        modbus_server = ModbusTcpServer(
            context,
            framer=ModbusSocketFramer,
            address=("127.0.0.1", args.tcp),
            handler=TcpHandler,
            allow_reuse_address=True,
            ignore_missing_slaves=True,
        )
        serve_task = asyncio.create_task(modbus_server.serve_forever())
        await asyncio.wait(
            {modbus_server.serving, serve_task}, return_when=asyncio.FIRST_COMPLETED
        )
        if not modbus_server.serving.done():
            exc = serve_task.exception() if not serve_task.cancelled() else None
            LOG.error("cannot listen on 127.0.0.1:%d: %s", args.tcp, exc)
            return 1
    else:
        parity = args.parity
        if parity != "N" and _is_pty(args.rtu):
            # Linux ptys do not implement parity: the kernel drops PARENB,
            # and pyserial-asyncio's second tcsetattr (for timeout=0) then
            # fails with EINVAL.  Bytes cross a pty unchanged whatever the
            # parity setting, so parity N behaves the same for the master.
            LOG.debug("%s is a pty: ignoring --parity %s", args.rtu, parity)
            parity = "N"
        # NB: StartAsyncSerialServer defaults to the ASCII framer; pass RTU.
        modbus_server = ModbusSerialServer(
            context,
            framer=ModbusRtuFramer,
            port=args.rtu,
            baudrate=args.baud,
            bytesize=8,
            parity=parity,
            stopbits=args.stopbits,
            handler=SerialHandler,
            ignore_missing_slaves=True,
        )
        try:
            # ModbusSerialServer._connect re-raises SerialException but
            # swallows anything else; check the transport afterwards.
            await modbus_server.start()
        except Exception as exc:  # pylint: disable=broad-except
            LOG.error("cannot open serial device %s: %s", args.rtu, exc)
            return 1
        if modbus_server.transport is None:
            LOG.error("cannot open serial device %s", args.rtu)
            return 1

    # ---- control server --------------------------------------------------- #
    try:
        ctl_server = await asyncio.start_server(
            control.serve_client, "127.0.0.1", args.control, limit=1 << 22
        )
    except OSError as exc:
        LOG.error("cannot listen on control port 127.0.0.1:%d: %s", args.control, exc)
        await _shutdown_modbus(modbus_server, serve_task)
        return 1

    if args.pidfile:
        with open(args.pidfile, "w", encoding="ascii") as fpid:
            fpid.write(f"{os.getpid()}\n")
    sys.stdout.write("ready\n")
    sys.stdout.flush()

    waiters = {asyncio.create_task(stop.wait())}
    if serve_task is not None:
        waiters.add(serve_task)
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    if serve_task is not None and serve_task.done() and not stop.is_set():
        LOG.error("modbus TCP server stopped unexpectedly: %s", serve_task.exception())
        state["exit"] = 1

    # ---- shutdown --------------------------------------------------------- #
    state["stopping"] = True
    ctl_server.close()
    await _shutdown_modbus(modbus_server, serve_task)
    try:
        await asyncio.wait_for(ctl_server.wait_closed(), 2)
    except asyncio.TimeoutError:
        pass
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.cancel()
    if args.pidfile:
        try:
            with open(args.pidfile, encoding="ascii") as fpid:
                mine = fpid.read().strip() == str(os.getpid())
            if mine:
                os.unlink(args.pidfile)
        except OSError:
            pass
    return state["exit"]


async def _shutdown_modbus(server, serve_task):
    # server_close() warns about every open TCP session it aborts; that is
    # expected at shutdown, so keep it out of stderr.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    try:
        await asyncio.wait_for(server.shutdown(), 2)
    except Exception:  # pylint: disable=broad-except
        pass
    if serve_task is not None and not serve_task.done():
        serve_task.cancel()
        try:
            await serve_task
        except BaseException:  # pylint: disable=broad-except
            pass


def cmd_serve(args):
    level = logging.DEBUG if args.debug else logging.ERROR
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="modbus_peer[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    if not args.debug:
        # pymodbus 3.0.0 logs every Modbus exception response it sends
        # (illegal address, illegal value, ...) at ERROR level from
        # pymodbus.pdu; those are answers to the master, not peer errors.
        logging.getLogger("pymodbus.pdu").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0


# --------------------------------------------------------------------------- #
# ctl
# --------------------------------------------------------------------------- #
def cmd_ctl(args):
    try:
        req = json.loads(args.request)
    except ValueError as exc:
        print(json.dumps({"ok": False, "error": f"invalid JSON: {exc}"}))
        return 1
    line = (json.dumps(req) + "\n").encode()
    try:
        with socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout) as sock:
            sock.sendall(line)
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while b"\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        print(f"modbus_peer ctl: 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 2
    answer_line = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    if not answer_line:
        print(f"modbus_peer ctl: 127.0.0.1:{args.port}: no answer", file=sys.stderr)
        return 2
    print(answer_line)
    try:
        answer = json.loads(answer_line)
    except ValueError:
        return 1
    return 0 if isinstance(answer, dict) and answer.get("ok") is True else 1


# --------------------------------------------------------------------------- #
# main
# --------------------------------------------------------------------------- #
def build_parser():
    parser = argparse.ArgumentParser(
        prog="modbus_peer.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="{serve,ctl}")
    sub.required = True

    serve = sub.add_parser(
        "serve",
        help="run a Modbus TCP or RTU slave plus a JSON control server",
        description="Run a Modbus slave (TCP on 127.0.0.1:PORT or RTU on a\n"
        "serial device) answering for the listed unit ids, plus a JSON\n"
        "control server on 127.0.0.1:CTLPORT.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = serve.add_mutually_exclusive_group(required=True)
    mode.add_argument("--tcp", metavar="PORT", type=_port,
                      help="serve Modbus TCP on 127.0.0.1:PORT")
    mode.add_argument("--rtu", metavar="DEVICE",
                      help="serve Modbus RTU on serial device DEVICE "
                           "(e.g. one end of a socat pty pair)")
    serve.add_argument("--baud", type=int, default=9600,
                       help="RTU baud rate (default 9600)")
    serve.add_argument("--parity", choices=("N", "E", "O"), default="N",
                       help="RTU parity (default N; ignored on a pty, which "
                            "cannot do parity)")
    serve.add_argument("--stopbits", type=int, choices=(1, 2), default=1,
                       help="RTU stop bits (default 1; data bits are always 8)")
    serve.add_argument("--frame-gap", metavar="MS", type=float, default=50.0,
                       help="RTU: discard a partial frame when no byte arrived "
                            "for MS milliseconds (default 50; 0 = never, the "
                            "plain pymodbus behaviour, where a truncated frame "
                            "swallows the following request(s))")
    serve.add_argument("--units", metavar="U[,U...]", type=_parse_units, required=True,
                       help="comma-separated unit ids to answer for, e.g. 1,2,3; "
                            "each gets its own data; other unit ids get no answer")
    serve.add_argument("--control", metavar="CTLPORT", type=_port, required=True,
                       help="JSON control server port on 127.0.0.1")
    serve.add_argument("--pidfile", metavar="F",
                       help="write the peer's PID to F once ready (removed on exit)")
    serve.add_argument("--debug", action="store_true",
                       help="log pymodbus debug output (frames) to stderr")
    serve.set_defaults(func=cmd_serve)

    ctl = sub.add_parser(
        "ctl",
        help="send one JSON request to a running peer's control server",
        description="Send one JSON request to the control server on\n"
        "127.0.0.1:CTLPORT and print the answer line.",
        epilog=CTL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ctl.add_argument("port", metavar="CTLPORT", type=_port, help="control server port")
    ctl.add_argument("request", metavar="JSON", help="the request, one JSON object")
    ctl.add_argument("--timeout", type=float, default=5.0,
                     help="seconds to wait for the answer (default 5)")
    ctl.set_defaults(func=cmd_ctl)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
