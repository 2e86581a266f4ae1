"""A loopback TCP proxy that shapes connections like a network: round trip, bandwidth, first byte.

Every piece of bytes is held for ``delay`` seconds in the direction it travels (so a
request/response exchange takes ``2 * delay`` longer) and then forwarded; pieces are not
serialised behind each other's delays, so a connection still streams at full speed, only later.
Opening a connection costs one round trip, as a TCP handshake would: the client's first bytes
reach the server no earlier than one round trip plus one delay after it connected.

Two more settings make it look like S3 from EC2 (``--net s3`` in the benchmarks):

- ``rate``: each connection carries at most this many bytes per second in each direction (S3
  serves about 85-90 MB/s per connection). Bytes leave in the order they came, each piece when
  the link would have finished sending it, so a connection's throughput is capped without
  capping how many connections run side by side;
- ``first_byte``: the server's time to first byte. The first bytes of each response (server to
  client after the client has sent something new) are held this much longer.

The bytes never enter Python: each direction of a connection is a pipe that ``splice(2)`` fills
from one socket and empties into the other, and the proxy only keeps, per piece, when it is due
and how long it is. An asyncio proxy that copies through ``bytes`` took 0.75 CPU-seconds per GiB
here; this one 0.45-0.5, most of it the kernel's own work of loopback TCP (16 connections at
50 MiB/s: about 0.3 of the 2 cores). The pipe is the queue: while it is full, the proxy stops
reading and the sender waits, as behind a slow link.

Run it as its own process, so that its CPU time can be read apart from client and server::

    python -m harness.proxy --target 127.0.0.1:9000 --delay-ms 5 --rate-mib 50 --first-byte-ms 15

It prints ``listening on PORT CONTROL_PORT`` once ready and runs until killed. The control port
answers one line of JSON per connection: connections opened, the most open at once, and how many
carried at least 1 MiB either way, since the last time it was asked.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import heapq
import itertools
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

_PROXY_COMMAND = (sys.executable, "-m", "harness.proxy")
# Bytes a direction holds (its pipe's size) before the proxy stops reading from the sender. It
# bounds a connection to this over the one-way delay: 4 MiB / 5 ms is 800 MiB/s. Without
# CAP_SYS_RESOURCE a pipe grows to /proc/sys/fs/pipe-max-size at most (1 MiB: 200 MiB/s).
_PIPE_SIZE = 4 * 1024 * 1024
# The most one read takes from the sender: a piece, due when the link would have finished
# sending its last byte. Pieces smaller than the pipe keep the link busy: were one piece the
# whole pipe, nothing more could be read until it had been passed on, and the link would stand
# idle for the delay each time (at 50 MiB/s with 5 ms each way and a 1 MiB pipe, a connection
# carried 40 MiB/s, not 50). They also hand bytes on as a link would, a little at a time.
_PIECE = 256 * 1024
_F_SETPIPE_SZ, _F_GETPIPE_SZ = 1031, 1032  # from <linux/fcntl.h>; not in Python's fcntl
_SPLICE = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
# A connection that carried this much either way counts as one used for bulk transfer.
_BULK_BYTES = 1024 * 1024
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


@dataclass(frozen=True)
class Shape:
    """How each connection is shaped: seconds each way, bytes per second (0: no cap), seconds."""

    delay: float
    rate: float = 0.0
    first_byte: float = 0.0


class Counters:
    """Connections seen since the control port was last asked (see the module docstring)."""

    def __init__(self) -> None:
        self.open = 0
        self.reset()

    def reset(self) -> None:
        self.opened = 0
        self.peak_open = self.open
        self.bulk = 0

    def snapshot(self) -> dict[str, int]:
        out = {"opened": self.opened, "peak_open": self.peak_open, "bulk": self.bulk}
        self.reset()
        return out


def _pipe_max_size() -> int:
    """The largest pipe an unprivileged process may make (1 MiB by default)."""
    try:
        return int(Path("/proc/sys/fs/pipe-max-size").read_text())
    except (OSError, ValueError):
        return 1024 * 1024


class _Direction:
    """Bytes travelling one way on one connection: in a pipe, each piece held until it is due.

    ``pieces`` are ``[due, length]`` in arrival order (length 0: the sender's end). With a rate,
    a piece is due when the link would have finished sending it: ``free_at`` is when the link is
    next idle, and each piece moves it on by its length over the rate.
    """

    def __init__(
        self, source: socket.socket, target: socket.socket, shape: Shape, not_before: float
    ) -> None:
        self.source, self.target = source, target
        self.delay, self.rate = shape.delay, shape.rate
        self.first_byte = 0.0  # set on the direction towards the client
        self.awaiting_response = False
        self.not_before = not_before
        self.free_at = 0.0
        self.read_end, self.write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        for size in (_PIPE_SIZE, _pipe_max_size()):
            with contextlib.suppress(OSError):  # a smaller pipe only lowers the ceiling
                fcntl.fcntl(self.write_end, _F_SETPIPE_SZ, size)
                break
        self.capacity = fcntl.fcntl(self.write_end, _F_GETPIPE_SZ)
        self.held = 0
        self.pieces: deque[list[float]] = deque()
        self.source_done = False  # the sender's end was read
        self.ended = False  # ... and passed on
        self.blocked = False  # the receiver's buffer was full: waiting until it is writable
        self.carried = 0
        self.timer_at: float | None = None

    def wants_read(self) -> bool:
        return not self.source_done and self.held < self.capacity

    def read(self, now: float) -> int:
        """Move what the sender has into the pipe, one piece (``_PIECE``) at most; returns bytes."""
        try:
            room = min(self.capacity - self.held, _PIECE)
            count = os.splice(self.source.fileno(), self.write_end, room, flags=_SPLICE)
        except BlockingIOError:
            return 0
        if count == 0:
            self.source_done = True
            self.pieces.append([max(now, self.not_before, self.free_at) + self.delay, 0])
            return 0
        self.held += count
        sent = max(now, self.not_before)
        if self.awaiting_response:
            sent += self.first_byte  # the server's think time before it answers
            self.awaiting_response = False
        if self.rate:
            sent = max(sent, self.free_at) + count / self.rate
            self.free_at = sent
        self.pieces.append([sent + self.delay, count])
        return count

    def due(self) -> float | None:
        return self.pieces[0][0] if self.pieces else None

    def write(self, now: float) -> int:
        """Pass on every piece that is due, in one splice where it can; returns bytes sent."""
        sent = 0
        while self.pieces and self.pieces[0][0] <= now:
            if self.pieces[0][1] == 0:
                self.pieces.popleft()
                with contextlib.suppress(OSError):
                    self.target.shutdown(socket.SHUT_WR)
                self.ended = True
                continue
            ready = 0
            for due, length in self.pieces:
                if due > now or length == 0:
                    break
                ready += int(length)
            try:
                count = os.splice(self.read_end, self.target.fileno(), ready, flags=_SPLICE)
            except BlockingIOError:
                self.blocked = True
                return sent
            sent += count
            self.held -= count
            while count:
                piece = self.pieces[0]
                taken = min(count, int(piece[1]))
                piece[1] -= taken
                count -= taken
                if piece[1] == 0:
                    self.pieces.popleft()
        self.blocked = False
        self.carried += sent
        return sent

    def close(self) -> None:
        for end in (self.read_end, self.write_end):
            with contextlib.suppress(OSError):
                os.close(end)


class _Connection:
    """A client's connection and the proxy's own connection on to the target."""

    def __init__(
        self, client: socket.socket, server: socket.socket, shape: Shape, accepted: float
    ) -> None:
        self.client, self.server = client, server
        self.connected = False
        self.closed = False
        self.bulk = False
        # The client's data waits for the handshake (one round trip) plus its own delay.
        self.to_server = _Direction(client, server, shape, accepted + 2 * shape.delay)
        self.to_client = _Direction(server, client, shape, accepted)
        self.to_client.first_byte = shape.first_byte
        self.masks: dict[int, int] = {}

    def wanted(self) -> dict[socket.socket, int]:
        """What each socket waits for: readable (bytes to take in), writable (room to send)."""
        client = (_READ if self.to_server.wants_read() else 0) | (
            _WRITE if self.to_client.blocked else 0
        )
        if not self.connected:
            return {self.client: client, self.server: _WRITE}  # writable: connect finished
        server = (_READ if self.to_client.wants_read() else 0) | (
            _WRITE if self.to_server.blocked else 0
        )
        return {self.client: client, self.server: server}


class _Proxy:
    """One thread, one selector: sockets' readiness and the pieces' due times drive it all."""

    def __init__(self, target: tuple[str, int], shape: Shape, port: int) -> None:
        self.target, self.shape = target, shape
        self.selector = selectors.DefaultSelector()
        self.timers: list[tuple[float, int, _Direction, _Connection]] = []
        self.order = itertools.count()
        self.counters = Counters()
        self.listener = self._listen(port)
        self.control = self._listen(0)
        self.selector.register(self.listener, _READ, "accept")
        self.selector.register(self.control, _READ, "control")

    @staticmethod
    def _listen(port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1024)
        listener.setblocking(False)
        return listener

    def ports(self) -> tuple[int, int]:
        return self.listener.getsockname()[1], self.control.getsockname()[1]

    def serve_forever(self) -> None:
        while True:
            timeout = None
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            for key, events in self.selector.select(timeout):
                if key.data == "accept":
                    self._accept()
                elif key.data == "control":
                    self._answer()
                else:
                    connection, side = key.data
                    self._ready(connection, side, events)
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                at, _, direction, connection = heapq.heappop(self.timers)
                if connection.closed or direction.timer_at != at:
                    continue  # stale: the piece it was for has gone, or its time moved
                direction.timer_at = None
                self._step(connection, now)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except BlockingIOError:
                return
            accepted = time.monotonic()
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            for sock in (client, server):
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            error = server.connect_ex(self.target)
            if error not in (0, errno.EINPROGRESS):
                client.close()
                server.close()
                continue
            connection = _Connection(client, server, self.shape, accepted)
            self.counters.opened += 1
            self.counters.open += 1
            self.counters.peak_open = max(self.counters.peak_open, self.counters.open)
            self._watch(connection)

    def _answer(self) -> None:
        with contextlib.suppress(OSError):
            asker, _ = self.control.accept()
            with asker:
                asker.setblocking(True)
                asker.sendall(json.dumps(self.counters.snapshot()).encode() + b"\n")

    def _ready(self, connection: _Connection, side: str, events: int) -> None:
        now = time.monotonic()
        try:
            if side == "server" and not connection.connected:
                if connection.server.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    self._close(connection)
                    return
                connection.connected = True
            incoming = connection.to_server if side == "client" else connection.to_client
            if events & _READ and incoming.read(now) and side == "client":
                connection.to_client.awaiting_response = True  # a new request: a new answer
        except OSError:
            self._close(connection)
            return
        self._step(connection, now)

    def _step(self, connection: _Connection, now: float) -> None:
        """Send what is due both ways, close what has ended, and wait for what comes next."""
        try:
            for direction in (connection.to_server, connection.to_client):
                if direction is connection.to_server and not connection.connected:
                    continue
                if direction.write(now) and not connection.bulk:
                    if direction.carried >= _BULK_BYTES:
                        connection.bulk = True
                        self.counters.bulk += 1
        except OSError:
            self._close(connection)
            return
        if connection.to_server.ended and connection.to_client.ended:
            self._close(connection)
            return
        for direction in (connection.to_server, connection.to_client):
            due = direction.due()
            if due is not None and not direction.blocked and direction.timer_at != due:
                direction.timer_at = due
                heapq.heappush(self.timers, (due, next(self.order), direction, connection))
        self._watch(connection)

    def _watch(self, connection: _Connection) -> None:
        for sock, mask in connection.wanted().items():
            fd = sock.fileno()
            before = connection.masks.get(fd, 0)
            if mask == before:
                continue
            side = "client" if sock is connection.client else "server"
            if not before:
                self.selector.register(sock, mask, (connection, side))
            elif not mask:
                self.selector.unregister(sock)
            else:
                self.selector.modify(sock, mask, (connection, side))
            connection.masks[fd] = mask

    def _close(self, connection: _Connection) -> None:
        if connection.closed:
            return
        connection.closed = True
        self.counters.open -= 1
        for sock in (connection.client, connection.server):
            if connection.masks.get(sock.fileno()):
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self.selector.unregister(sock)
            sock.close()
        connection.to_server.close()
        connection.to_client.close()


def serve(target: tuple[str, int], shape: Shape, port: int = 0) -> None:
    proxy = _Proxy(target, shape, port)
    listening, control = proxy.ports()
    print(f"listening on {listening} {control}", flush=True)
    proxy.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--delay-ms", type=float, required=True, help="one-way delay")
    parser.add_argument(
        "--rate-mib", type=float, default=0.0, help="MiB/s per connection and direction (0: none)"
    )
    parser.add_argument(
        "--first-byte-ms", type=float, default=0.0, help="added before each response's first byte"
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any)")
    args = parser.parse_args(argv)
    if args.delay_ms < 0 or args.rate_mib < 0 or args.first_byte_ms < 0:
        parser.error("--delay-ms, --rate-mib and --first-byte-ms must not be negative")
    host, _, port = args.target.rpartition(":")
    shape = Shape(args.delay_ms / 1000.0, args.rate_mib * 1024 * 1024, args.first_byte_ms / 1000.0)
    with contextlib.suppress(KeyboardInterrupt):
        serve((host, int(port)), shape, args.port)


class DelayProxy:
    """Runs the proxy in a subprocess: ``endpoint`` points at it, ``pid`` is its process."""

    def __init__(
        self,
        target_endpoint: str,
        delay_ms: float,
        rate_mib: float = 0.0,
        first_byte_ms: float = 0.0,
    ) -> None:
        self.target_endpoint = target_endpoint
        self.delay_ms = delay_ms
        self.rate_mib = rate_mib
        self.first_byte_ms = first_byte_ms
        self._process: subprocess.Popen[str] | None = None
        self.endpoint = ""
        self.control_port = 0
        self.pid: int | None = None

    def counters(self) -> dict[str, int]:
        """Connections since the last call: ``opened``, ``peak_open``, ``bulk`` (>= 1 MiB moved)."""
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=10) as control:
            answer = b""
            while chunk := control.recv(4096):
                answer += chunk
        return dict(json.loads(answer))

    def start(self, timeout: float = 20.0) -> None:
        target = self.target_endpoint.split("//", 1)[-1]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")]
        )
        self._process = subprocess.Popen(
            [
                *_PROXY_COMMAND,
                "--target",
                target,
                "--delay-ms",
                str(self.delay_ms),
                "--rate-mib",
                str(self.rate_mib),
                "--first-byte-ms",
                str(self.first_byte_ms),
            ],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.pid = self._process.pid
        assert self._process.stdout is not None
        deadline = time.monotonic() + timeout
        line = self._process.stdout.readline()
        if not line.startswith("listening on ") or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"the delay proxy did not start: {line!r}")
        ports = line.split()[2:]
        self.endpoint = f"http://127.0.0.1:{int(ports[0])}"
        self.control_port = int(ports[1])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self.pid = None


if __name__ == "__main__":
    main()
