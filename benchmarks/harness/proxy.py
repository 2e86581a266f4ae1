"""A loopback TCP proxy that adds round-trip time, for a kernel without ``netem``.

Every chunk of bytes is held for ``delay`` seconds in the direction it travels (so a
request/response exchange takes ``2 * delay`` longer) and then forwarded; chunks are not
serialised behind each other's delays, so a connection still streams at full speed, only later.
Opening a connection costs one round trip, as a TCP handshake would: the client's first bytes
reach the server no earlier than one round trip plus one delay after it connected.

Run it as its own process, so that its CPU time can be read apart from client and server::

    python -m harness.proxy --target 127.0.0.1:9000 --delay-ms 5

It prints ``listening on PORT`` once ready and runs until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

_PROXY_COMMAND = (sys.executable, "-m", "harness.proxy")
# Bytes held per direction of a connection before the sender is paused.
_HIGH_WATER = 64 * 1024 * 1024
_EOF = b""  # marker: half-close the far side
_CLOSE = None  # marker: close the far side


class _Direction:
    """Bytes travelling one way on one connection, each piece held until it is due.

    One timer per direction (not one per piece) keeps the pieces in order and the CPU low.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float, not_before: float) -> None:
        self.loop = loop
        self.delay = delay
        self.not_before = not_before
        self.queue: deque[tuple[float, bytes | None]] = deque()
        self.queued = 0
        self.timer: asyncio.TimerHandle | None = None
        self.source: asyncio.Transport | None = None  # paused when too much is held
        self.target: asyncio.Transport | None = None  # set once connected
        self.paused = False
        self.on_end: list[object] = []
        self.ended = False

    def push(self, data: bytes | None) -> None:
        due = max(self.loop.time(), self.not_before) + self.delay
        self.queue.append((due, data))
        if data:
            self.queued += len(data)
            if self.queued > _HIGH_WATER and self.source is not None and not self.paused:
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
                if not target.is_closing():
                    target.write(data)
            elif data == _EOF:
                with contextlib.suppress(OSError, RuntimeError, NotImplementedError):
                    if not target.is_closing() and target.can_write_eof():
                        target.write_eof()
                self.ended = True
            else:  # _CLOSE
                target.close()
                self.ended = True
        if self.paused and self.queued < _HIGH_WATER // 2 and self.source is not None:
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


class _Accepted(_Leg):
    """The client's side: connects on to the target as soon as the client connects."""

    def __init__(self, target: tuple[str, int], delay: float, pending: set[object]) -> None:
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        # The client's data waits for the handshake (one round trip) plus its own delay.
        to_server = _Direction(loop, delay, accepted + 2 * delay)
        to_client = _Direction(loop, delay, accepted)
        super().__init__(to_server, to_client)
        self.target = target
        self.pending = pending

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        task = asyncio.ensure_future(self._connect())
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: _Leg(self.incoming, self.outgoing), *self.target)
        except OSError:
            if self.transport is not None:
                self.transport.close()


async def serve(target: tuple[str, int], delay: float, port: int = 0) -> None:
    loop = asyncio.get_running_loop()
    pending: set[object] = set()
    server = await loop.create_server(
        lambda: _Accepted(target, delay, pending), "127.0.0.1", port, backlog=1024
    )
    listening = server.sockets[0].getsockname()[1]
    print(f"listening on {listening}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--delay-ms", type=float, required=True, help="one-way delay")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any)")
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve((host, int(port)), args.delay_ms / 1000.0, args.port))


class DelayProxy:
    """Runs the proxy in a subprocess: ``endpoint`` points at it, ``pid`` is its process."""

    def __init__(self, target_endpoint: str, delay_ms: float) -> None:
        self.target_endpoint = target_endpoint
        self.delay_ms = delay_ms
        self._process: subprocess.Popen[str] | None = None
        self.endpoint = ""
        self.pid: int | None = None

    def start(self, timeout: float = 20.0) -> None:
        target = self.target_endpoint.split("//", 1)[-1]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")]
        )
        self._process = subprocess.Popen(
            [*_PROXY_COMMAND, "--target", target, "--delay-ms", str(self.delay_ms)],
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
        self.endpoint = f"http://127.0.0.1:{int(line.split()[-1])}"

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
