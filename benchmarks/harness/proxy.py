"""A loopback TCP proxy that shapes connections like a network: round trip, bandwidth, first byte.

Every chunk of bytes is held for ``delay`` seconds in the direction it travels (so a
request/response exchange takes ``2 * delay`` longer) and then forwarded; chunks are not
serialised behind each other's delays, so a connection still streams at full speed, only later.
Opening a connection costs one round trip, as a TCP handshake would: the client's first bytes
reach the server no earlier than one round trip plus one delay after it connected.

Two more settings make it look like S3 from EC2 (``--net s3`` in the benchmarks):

- ``rate``: each connection carries at most this many bytes per second in each direction (S3
  serves about 85-90 MB/s per connection). Bytes leave in the order they came, each chunk when
  the link would have finished sending it, so a connection's throughput is capped without
  capping how many connections run side by side;
- ``first_byte``: the server's time to first byte. The first bytes of each response (server to
  client after the client has sent something new) are held this much longer.

Run it as its own process, so that its CPU time can be read apart from client and server::

    python -m harness.proxy --target 127.0.0.1:9000 --delay-ms 5 --rate-mib 50 --first-byte-ms 15

It prints ``listening on PORT CONTROL_PORT`` once ready and runs until killed. The control port
answers one line of JSON per connection: connections opened, the most open at once, and how many
carried at least 1 MiB either way, since the last time it was asked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_PROXY_COMMAND = (sys.executable, "-m", "harness.proxy")
# Bytes held per direction of a connection before the sender is paused (no bandwidth cap).
_HIGH_WATER = 64 * 1024 * 1024
# With a cap, what one connection holds need only cover the bytes in flight on its link.
_HIGH_WATER_CAPPED = 4 * 1024 * 1024
# A connection that carried this much to the client counts as one used for bulk transfer.
_BULK_BYTES = 1024 * 1024
_EOF = b""  # marker: half-close the far side
_CLOSE = None  # marker: close the far side


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


class _Direction:
    """Bytes travelling one way on one connection, each piece held until it is due.

    One timer per direction (not one per piece) keeps the pieces in order and the CPU low. With
    a rate, a piece is due when the link would have finished sending it: ``free_at`` is when
    the link is next idle, and each piece moves it on by its size over the rate.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, shape: Shape, not_before: float) -> None:
        self.loop = loop
        self.delay = shape.delay
        self.rate = shape.rate
        self.first_byte = 0.0  # set on the direction towards the client
        self.awaiting_response = False
        self.high_water = _HIGH_WATER_CAPPED if shape.rate else _HIGH_WATER
        self.not_before = not_before
        self.free_at = 0.0
        self.queue: deque[tuple[float, bytes | None]] = deque()
        self.queued = 0
        self.carried = 0
        self.timer: asyncio.TimerHandle | None = None
        self.source: asyncio.Transport | None = None  # paused when too much is held
        self.target: asyncio.Transport | None = None  # set once connected
        self.paused = False
        self.ended = False
        self.other: _Direction | None = None  # the opposite direction of the same connection
        self.on_bulk: list[Callable[[], None]] = []

    def push(self, data: bytes | None) -> None:
        now = self.loop.time()
        sent = max(now, self.not_before)
        if data and self.awaiting_response:
            sent += self.first_byte  # the server's think time before it answers
            self.awaiting_response = False
        if self.rate and data:
            sent = max(sent, self.free_at) + len(data) / self.rate
            self.free_at = sent
        elif self.rate:
            sent = max(sent, self.free_at)  # an end marker stays behind the last bytes
        due = sent + self.delay
        self.queue.append((due, data))
        if data:
            self.queued += len(data)
            if self.queued > self.high_water and self.source is not None and not self.paused:
                self.source.pause_reading()
                self.paused = True
        self._schedule()

    def attach(self, target: asyncio.Transport) -> None:
        self.target = target
        self._schedule()

    def _schedule(self) -> None:
        if self.timer is None and self.queue and self.target is not None:
            self.timer = self.loop.call_at(self.queue[0][0], self._flush)

    def _flush(self) -> None:
        self.timer = None
        target = self.target
        assert target is not None
        now = self.loop.time()
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            if data:
                self.queued -= len(data)
                before, self.carried = self.carried, self.carried + len(data)
                if before < _BULK_BYTES <= self.carried:
                    for note in self.on_bulk:
                        note()
                if not target.is_closing():
                    target.write(data)
            elif data == _EOF:
                with contextlib.suppress(OSError, RuntimeError, NotImplementedError):
                    if not target.is_closing() and target.can_write_eof():
                        target.write_eof()
                self.ended = True
                if self.other is not None and self.other.ended:
                    # Both sides have said all they will: nothing keeps the connection open.
                    target.close()
                    if self.other.target is not None:
                        self.other.target.close()
            else:  # _CLOSE
                target.close()
                self.ended = True
        if self.paused and self.queued < self.high_water // 2 and self.source is not None:
            self.paused = False
            with contextlib.suppress(RuntimeError):
                self.source.resume_reading()
        self._schedule()


class _Leg(asyncio.Protocol):
    """One side of a proxied connection: what it receives goes into ``outgoing``."""

    def __init__(self, outgoing: _Direction, incoming: _Direction) -> None:
        self.outgoing = outgoing
        self.incoming = incoming
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.outgoing.source = transport
        self.incoming.attach(transport)

    def data_received(self, data: bytes) -> None:
        self.outgoing.push(data)

    def eof_received(self) -> bool:
        self.outgoing.push(_EOF)
        return True  # keep our side open for what is still to come the other way

    def connection_lost(self, exc: Exception | None) -> None:
        self.outgoing.push(_CLOSE)

    # The far side's writes back up: stop reading what would be sent to it.
    def pause_writing(self) -> None:
        if self.incoming.source is not None:
            self.incoming.source.pause_reading()

    def resume_writing(self) -> None:
        if self.incoming.source is not None:
            with contextlib.suppress(RuntimeError):
                self.incoming.source.resume_reading()


class _ClientLeg(_Leg):
    """The client's side: what it sends starts a new response (for the first-byte delay)."""

    def data_received(self, data: bytes) -> None:
        self.incoming.awaiting_response = True
        super().data_received(data)


class _Accepted(_ClientLeg):
    """The client's side: connects on to the target as soon as the client connects."""

    def __init__(
        self, target: tuple[str, int], shape: Shape, pending: set[object], counters: Counters
    ) -> None:
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        # The client's data waits for the handshake (one round trip) plus its own delay.
        to_server = _Direction(loop, shape, accepted + 2 * shape.delay)
        to_client = _Direction(loop, shape, accepted)
        to_client.first_byte = shape.first_byte
        to_server.other, to_client.other = to_client, to_server
        for direction in (to_server, to_client):
            direction.on_bulk.append(self._carried_bulk)
        self.bulk = False
        super().__init__(to_server, to_client)
        self.target = target
        self.pending = pending
        self.counters = counters

    def _carried_bulk(self) -> None:
        if not self.bulk:  # once per connection, whichever way the bytes went
            self.bulk = True
            self.counters.bulk += 1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        counters = self.counters
        counters.opened += 1
        counters.open += 1
        counters.peak_open = max(counters.peak_open, counters.open)
        task = asyncio.ensure_future(self._connect())
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    def connection_lost(self, exc: Exception | None) -> None:
        self.counters.open -= 1
        super().connection_lost(exc)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: _Leg(self.incoming, self.outgoing), *self.target)
        except OSError:
            if self.transport is not None:
                self.transport.close()


class _Control(asyncio.Protocol):
    """The control port: one line of JSON with the counters, then the connection closes."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(json.dumps(self.counters.snapshot()).encode() + b"\n")
        transport.close()


async def serve(target: tuple[str, int], shape: Shape, port: int = 0) -> None:
    loop = asyncio.get_running_loop()
    pending: set[object] = set()
    counters = Counters()
    server = await loop.create_server(
        lambda: _Accepted(target, shape, pending, counters), "127.0.0.1", port, backlog=1024
    )
    control = await loop.create_server(lambda: _Control(counters), "127.0.0.1", 0)
    listening = server.sockets[0].getsockname()[1]
    print(f"listening on {listening} {control.sockets[0].getsockname()[1]}", flush=True)
    async with server, control:
        await server.serve_forever()


def _larger_reads() -> None:
    """Read up to 1 MiB per call instead of asyncio's 256 KiB: fewer calls per byte carried."""
    from asyncio import selector_events

    selector_events._SelectorSocketTransport.max_size = 1024 * 1024  # type: ignore[attr-defined]


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
    _larger_reads()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve((host, int(port)), shape, args.port))


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
