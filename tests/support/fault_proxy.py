"""A loopback HTTP/1.1 proxy that injects faults between an S3 client and an S3 server.

The proxy understands HTTP/1.1 framing (request and response heads, ``Content-Length`` and
chunked bodies, ``Expect: 100-continue``, keep-alive), so it sees each request on its own and can
decide, per request, to let it through or to break it in one of these ways:

``reset``
    Abort the client's connection with a TCP RST (``SO_LINGER`` 0, then close). Where is drawn
    per fault: before the request is forwarded (the server never sees it), or after the server
    has answered and part of the answer has been relayed (the server did the work; the client
    does not learn it).
``stall``
    Forward the request, then hold the answer for ``stall_s`` seconds (or until
    :meth:`FaultProxy.release_stalls`), before its head or halfway through its body, then go on.
``hold`` (only with :meth:`FaultProxy.fail_next`)
    Hold the request before forwarding it, until :meth:`FaultProxy.release_holds` (or
    ``stall_s``), then go on: what the server does meanwhile happens before the request.
``hold_answer`` (only with :meth:`FaultProxy.fail_next`)
    Forward the request, take the server's whole answer, and hold all of it until
    :meth:`FaultProxy.release_stalls` (or ``stall_s``): the server is done with the request
    before the client sees a byte of it.
``slowdown``
    Answer ``503 SlowDown`` with an S3 XML error body; the server never sees the request.
``internal_error``
    Answer ``500 InternalError`` likewise.
``truncate``
    Forward the request and relay the answer's head (with its full ``Content-Length``) and only
    part of its body, then close the connection. Answers without a body pass unharmed and are
    not counted.
``gone``
    The whole proxy goes away for ``gone_s`` seconds: its port is closed (connections are
    refused) and every open connection is dropped; then it comes back on the same port.

Faults are drawn by a seeded :class:`random.Random` with a probability per fault type, only for
the S3 operations named in ``operations`` (all when ``None``). The draws are reproducible for a
single connection; with several connections they interleave as the threads run. Faults can also
be forced on the next requests with :meth:`FaultProxy.fail_next`. Injected faults are counted
per type (:meth:`FaultProxy.injected`), requests per operation (:meth:`FaultProxy.requests`).

Besides per-request faults, :meth:`FaultProxy.go_away` takes the server away until
:meth:`FaultProxy.come_back`: ``"refuse"`` closes the port, ``"blackhole"`` keeps it open but
accepts nothing (connections hang in the kernel's backlog); both drop every open connection.

The proxy is standard-library only: one thread accepts, one thread serves each connection.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import random
import select
import socket
import struct
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from email.utils import formatdate
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

__all__ = ["FAULTS", "FaultProxy", "operation_of"]

log = logging.getLogger(__name__)

FAULTS: tuple[str, ...] = ("reset", "stall", "slowdown", "internal_error", "truncate", "gone")
"""The per-request fault types, by name."""
_FORCED_ONLY = ("reset_before", "reset_after", "hold", "hold_answer")
"""Faults :meth:`FaultProxy.fail_next` forces that are never drawn at random."""

_POLL_S = 0.1  # how often blocked threads look whether the proxy is going away
_MAX_HEAD = 64 * 1024
_COPY = 256 * 1024

_ERRORS = {
    "slowdown": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "internal_error": (
        500,
        "Internal Server Error",
        "InternalError",
        "We encountered an internal error. Please try again.",
    ),
}


_RUNNING: weakref.WeakSet[FaultProxy] = weakref.WeakSet()


def _close_inherited_sockets() -> None:
    """In a child made by fork (a DataLoader worker), close the copies of the proxy's sockets:
    they would keep a closed port listening and dropped connections open."""
    for proxy in list(_RUNNING):
        proxy._forget_sockets()


os.register_at_fork(after_in_child=_close_inherited_sockets)


class _Dropped(Exception):
    """The connection ended (closed by a peer, or dropped by the proxy)."""


def operation_of(method: str, target: str, headers: Mapping[str, str]) -> str:
    """The S3 operation a path-style request asks for, e.g. ``"GetObject"``."""
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    bucket, _, key = parts.path.lstrip("/").partition("/")
    method = method.upper()
    if not bucket:
        return "ListBuckets" if method == "GET" else "Other"
    if not key:
        if method == "GET":
            if "uploads" in query:
                return "ListMultipartUploads"
            return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(
            method, "Other"
        )
    if method == "GET":
        return "ListParts" if "uploadId" in query else "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "PUT":
        if "partNumber" in query:
            return "UploadPartCopy" if "x-amz-copy-source" in headers else "UploadPart"
        return "CopyObject" if "x-amz-copy-source" in headers else "PutObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        return "Other"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    return "Other"


@dataclasses.dataclass
class _Head:
    """A parsed request or response head; ``raw`` is forwarded unchanged."""

    raw: bytes
    start: list[str]  # request: method, target, version; response: version, status, reason
    headers: dict[str, str]  # lower-case names; repeated headers joined with ","

    @classmethod
    def parse(cls, raw: bytes) -> _Head:
        lines = raw.decode("latin-1").split("\r\n")
        start = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        return cls(raw, start, headers)

    @property
    def status(self) -> int:
        return int(self.start[1])

    def tokens(self, name: str) -> set[str]:
        return {t.strip().lower() for t in self.headers.get(name, "").split(",") if t.strip()}

    def body_framing(self, request: _Head | None = None) -> tuple[str, int]:
        """How the body ends: ("none", 0), ("length", n), ("chunked", 0) or ("close", 0)."""
        if request is not None:  # this is a response
            if request.start[0].upper() == "HEAD" or self.status in (204, 304):
                return "none", 0
            if 100 <= self.status < 200:
                return "none", 0
        if "chunked" in self.tokens("transfer-encoding"):
            return "chunked", 0
        if "content-length" in self.headers:
            return "length", int(self.headers["content-length"].split(",")[0])
        return ("close", 0) if request is not None else ("none", 0)


class _Socket:
    """A socket with a read buffer whose blocking calls give up when the proxy drops it."""

    def __init__(self, sock: socket.socket, dropped: Callable[[], bool]) -> None:
        self.sock = sock
        self.dropped = dropped
        self.buffer = bytearray()

    def _recv(self) -> bytes:
        while True:
            if self.dropped():
                raise _Dropped("dropped by the proxy")
            try:
                ready, _, _ = select.select([self.sock], [], [], _POLL_S)
            except (OSError, ValueError) as err:
                raise _Dropped(str(err)) from None
            if not ready:
                continue
            if self.dropped():  # woken by the drop itself, or data came just after it
                raise _Dropped("dropped by the proxy")
            try:
                return self.sock.recv(_COPY)
            except OSError as err:
                raise _Dropped(str(err)) from None

    def _fill(self) -> None:
        data = self._recv()
        if not data:
            raise _Dropped("closed by the peer")
        self.buffer += data

    def read_head(self) -> bytes | None:
        """The next head up to its blank line; None if the peer closed between messages."""
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buffer[: end + 4])
                del self.buffer[: end + 4]
                return head
            if len(self.buffer) > _MAX_HEAD:
                raise _Dropped("head too long")
            data = self._recv()
            if not data:
                if self.buffer:
                    raise _Dropped("closed inside a head")
                return None
            self.buffer += data

    def read_line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            self._fill()
        line = bytes(self.buffer[: end + 2])
        del self.buffer[: end + 2]
        return line

    def read_some(self, limit: int) -> bytes:
        if not self.buffer:
            self._fill()
        data = bytes(self.buffer[:limit])
        del self.buffer[:limit]
        return data

    def send(self, data: bytes) -> None:
        if self.dropped():
            raise _Dropped("dropped by the proxy")
        try:
            self.sock.sendall(data)
        except OSError as err:
            raise _Dropped(str(err)) from None

    def reset(self) -> None:
        """Close with a TCP RST rather than a FIN."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _copy_exactly(source: _Socket, count: int, sink: Callable[[bytes], None]) -> None:
    """Move the next ``count`` bytes from ``source`` to ``sink``."""
    while count:
        data = source.read_some(min(count, _COPY))
        count -= len(data)
        sink(data)


def _copy_body(source: _Socket, framing: tuple[str, int], sink: Callable[[bytes], None]) -> None:
    """Move one body, framed as ``framing``, from ``source`` to ``sink`` (raw, unchanged)."""
    kind, length = framing
    if kind == "length":
        _copy_exactly(source, length, sink)
    elif kind == "chunked":
        while True:
            line = source.read_line()
            sink(line)
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while True:  # trailers, up to a blank line
                    trailer = source.read_line()
                    sink(trailer)
                    if trailer == b"\r\n":
                        return
            _copy_exactly(source, size + 2, sink)  # the chunk and its CRLF
    elif kind == "close":
        while True:
            try:
                data = source.read_some(_COPY)
            except _Dropped:
                return
            sink(data)


class FaultProxy:
    """A fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of ``upstream``.

    Args:
        upstream: the server's endpoint, ``http://host:port``.
        seed: seed of the random draws.
        probabilities: chance of each fault type per request, e.g. ``{"reset": 0.1}``.
        operations: S3 operations that may be faulted (all when ``None``), e.g.
            ``{"GetObject"}``.
        stall_s: how long a stalled answer is held (unless released sooner).
        gone_s: how long the proxy stays away after a ``gone`` fault.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 0,
        probabilities: Mapping[str, float] | None = None,
        operations: Iterable[str] | None = None,
        stall_s: float = 1.0,
        gone_s: float = 0.3,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, not {upstream!r}")
        self.upstream = (parts.hostname, parts.port)
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._probabilities: dict[str, float] = {}
        self._operations: frozenset[str] | None = None
        self.stall_s = stall_s
        self.gone_s = gone_s
        self.configure(probabilities or {}, operations)
        self._forced: collections.deque[tuple[str, str | None, str]] = collections.deque()
        self._injected: collections.Counter[str] = collections.Counter()
        self._injected_by_operation: collections.Counter[tuple[str, str]] = collections.Counter()
        self._requests: collections.Counter[str] = collections.Counter()
        self._lost: collections.Counter[str] = collections.Counter()
        self._connections = 0
        self._journal: collections.deque[str] = collections.deque(maxlen=200)
        self._started = time.monotonic()
        self._release = threading.Event()
        self._unhold = threading.Event()
        self._state = "stopped"  # "serving", "refuse", "blackhole", "stopped"
        self._epoch = 0  # bumped whenever open connections must be dropped
        self._open: dict[int, tuple[int, list[_Socket]]] = {}
        self._listener: socket.socket | None = None
        self._listener_closed = threading.Event()
        self._accept_thread: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._come_back_timer: threading.Timer | None = None
        self.port = 0

    # -- configuration and results -------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The proxy's endpoint, to give the client instead of the server's."""
        return f"http://127.0.0.1:{self.port}"

    def configure(
        self,
        probabilities: Mapping[str, float],
        operations: Iterable[str] | None = None,
        *,
        stall_s: float | None = None,
        gone_s: float | None = None,
    ) -> None:
        """Set the chance of each fault type per request, and which operations may fault."""
        unknown = set(probabilities) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault types {sorted(unknown)}: known are {FAULTS}")
        if sum(probabilities.values()) > 1.0 or min(probabilities.values(), default=0) < 0:
            raise ValueError(f"probabilities must be >= 0 and add up to at most 1: {probabilities}")
        with self._lock:
            self._probabilities = dict(probabilities)
            self._operations = None if operations is None else frozenset(operations)
            if stall_s is not None:
                self.stall_s = stall_s
            if gone_s is not None:
                self.gone_s = gone_s

    def fail_next(
        self, fault: str, operation: str | None = None, count: int = 1, where: str = ""
    ) -> None:
        """Inject ``fault`` into the next ``count`` requests of ``operation`` (any, if None)
        whose target or ``Range`` header contains ``where`` (e.g. ``"partNumber=2&"``,
        ``"bytes=0-"``), before any random draw.
        Besides the fault types, ``"reset_before"`` and ``"reset_after"`` choose where a reset
        happens, ``"hold"`` holds the request before it is forwarded, and ``"hold_answer"``
        holds the whole answer."""
        if fault not in FAULTS and fault not in _FORCED_ONLY:
            raise ValueError(f"unknown fault type {fault!r}")
        with self._lock:
            self._forced.extend([(fault, operation, where)] * count)

    def injected(self) -> dict[str, int]:
        """Faults injected so far, by type."""
        with self._lock:
            return dict(self._injected)

    def lost_answers(self) -> dict[str, int]:
        """Requests, by operation, that reached the server but whose answer did not fully reach
        the client (reset or cut short after forwarding, dropped while in flight): the server
        may have carried them out without the client knowing. An upper bound."""
        with self._lock:
            return dict(self._lost)

    def injected_by_operation(self) -> dict[tuple[str, str], int]:
        """Faults injected so far, by (type, operation)."""
        with self._lock:
            return dict(self._injected_by_operation)

    def requests(self) -> dict[str, int]:
        """Requests seen so far, by S3 operation."""
        with self._lock:
            return dict(self._requests)

    def journal(self) -> list[str]:
        """The last 200 requests and faults, one line each (for failure messages)."""
        with self._lock:
            return list(self._journal)

    def reset_counts(self) -> None:
        """Start counting faults and requests from zero."""
        with self._lock:
            self._injected.clear()
            self._injected_by_operation.clear()
            self._requests.clear()
            self._lost.clear()

    @property
    def connections(self) -> int:
        """Client connections accepted so far."""
        return self._connections

    # -- lifetime ------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        _RUNNING.add(self)
        self._open_listener()
        self._state = "serving"
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"fault-proxy-{self.port}", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        """Close the port and every connection; wait for the threads."""
        with self._lock:
            self._state = "stopped"
            if self._come_back_timer is not None:
                self._come_back_timer.cancel()
        self._drop_all()
        self._release.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
        for thread in list(self._threads):
            thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def go_away(self, mode: str = "refuse") -> None:
        """Take the server away: drop every connection, and close the port (``"refuse"``) or
        leave it open but accept nothing (``"blackhole"``). Returns once that holds."""
        if mode not in ("refuse", "blackhole"):
            raise ValueError(f"mode must be 'refuse' or 'blackhole', not {mode!r}")
        with self._lock:
            if self._state == "stopped":
                return
            closing = mode == "refuse" and self._listener is not None
            if closing:
                self._listener_closed.clear()
            self._state = mode
        self._drop_all()
        if closing:
            self._listener_closed.wait(timeout=5)

    def come_back(self) -> None:
        """Serve again (on the same port) after :meth:`go_away`."""
        with self._lock:
            if self._state == "stopped":
                return
            if self._listener is None:
                self._open_listener()
            self._state = "serving"

    def release_stalls(self) -> None:
        """Let every stalled answer go on now."""
        with self._lock:
            release, self._release = self._release, threading.Event()
        release.set()

    def release_holds(self) -> None:
        """Forward every held request now (stalled answers stay stalled)."""
        with self._lock:
            release, self._unhold = self._unhold, threading.Event()
        release.set()

    @contextlib.contextmanager
    def faults(
        self, probabilities: Mapping[str, float], operations: Iterable[str] | None = None
    ) -> Iterator[FaultProxy]:
        """Inject these faults inside the ``with`` block only."""
        self.configure(probabilities, operations)
        try:
            yield self
        finally:
            self.configure({})

    # -- internals -----------------------------------------------------------------------

    def _forget_sockets(self) -> None:
        # Runs in a forked child, where no other thread exists: no lock (it may be held
        # forever by a thread that is not there).
        sockets = [s.sock for _, group in list(self._open.values()) for s in list(group)]
        if self._listener is not None:
            sockets.append(self._listener)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _open_listener(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener

    def _accept_loop(self) -> None:
        while True:
            with self._lock:
                state, listener = self._state, self._listener
                if state in ("refuse", "stopped") and listener is not None:
                    self._listener = None
                    listener.close()
                    self._listener_closed.set()
                    listener = None
            if state == "stopped":
                return
            if state != "serving" or listener is None:
                time.sleep(_POLL_S / 2)
                continue
            ready, _, _ = select.select([listener], [], [], _POLL_S / 2)
            if not ready:
                continue
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            group: list[_Socket] = []
            with self._lock:
                # Gone since the accept began: the connection is dropped like the others.
                serving = self._state == "serving"
                if serving:
                    self._connections += 1
                    epoch = self._epoch
                    self._open[id(conn)] = (epoch, group)
                    thread = threading.Thread(
                        target=self._serve, args=(conn, epoch, group), daemon=True
                    )
                    self._threads.add(thread)
            if not serving:
                _Socket(conn, lambda: True).reset()
                continue
            thread.start()

    def _drop_all(self) -> None:
        with self._lock:
            self._epoch += 1
            sockets = [s for _, group in self._open.values() for s in group]
        for s in sockets:
            with contextlib.suppress(OSError):
                s.sock.shutdown(socket.SHUT_RDWR)

    def _note(self, line: str) -> None:
        with self._lock:
            self._journal.append(f"{time.monotonic() - self._started:8.3f} {line}")

    def _draw(self, operation: str, target: str) -> str | None:
        with self._lock:
            self._requests[operation] += 1
            for i, (fault, only, where) in enumerate(self._forced):
                if (only is None or only == operation) and where in target:
                    del self._forced[i]
                    return fault
            if self._operations is not None and operation not in self._operations:
                return None
            roll = self._rng.random()
            for fault, chance in self._probabilities.items():
                if roll < chance:
                    return fault
                roll -= chance
            return None

    def _count(self, fault: str, operation: str) -> None:
        with self._lock:
            self._injected[fault] += 1
            self._injected_by_operation[fault, operation] += 1
        log.debug("fault %s injected into %s", fault, operation)

    def _lose(self, operation: str) -> None:
        with self._lock:
            self._lost[operation] += 1

    def _serve(self, conn: socket.socket, epoch: int, group: list[_Socket]) -> None:
        def dropped() -> bool:
            return self._epoch != epoch or self._state == "stopped"

        client = _Socket(conn, dropped)
        upstream: _Socket | None = None
        with self._lock:
            group.append(client)
        try:
            while True:
                raw = client.read_head()
                if raw is None:
                    return
                request = _Head.parse(raw)
                if upstream is None:
                    upstream = self._connect_upstream(dropped)
                    with self._lock:
                        group.append(upstream)
                keep = self._exchange(client, upstream, request, dropped)
                if not keep:
                    return
        except _Dropped:
            pass
        except Exception:  # a proxy bug must show in the test's log, not vanish with a thread
            log.exception("fault proxy connection failed")
        finally:
            if dropped():
                client.reset()
            else:
                client.close()
            if upstream is not None:
                upstream.close()
            with self._lock:
                self._open.pop(id(conn), None)
                self._threads.discard(threading.current_thread())

    def _connect_upstream(self, dropped: Callable[[], bool]) -> _Socket:
        try:
            sock = socket.create_connection(self.upstream, timeout=10)
        except OSError as err:
            raise _Dropped(f"upstream unreachable: {err}") from None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Socket(sock, dropped)

    def _exchange(
        self, client: _Socket, upstream: _Socket, request: _Head, dropped: Callable[[], bool]
    ) -> bool:
        """Carry one request and its answer, with a fault if one is drawn; True to keep the
        connection open for another request."""
        method, target = request.start[0], request.start[1]
        operation = operation_of(method, target, request.headers)
        span = request.headers.get("range", "")
        fault = self._draw(operation, f"{target} {span}")
        if fault == "reset":
            fault = self._rng_choice(("reset_before", "reset_after"))
        log.debug("%s %s (%s): %s", method, target, operation, request.headers)
        self._note(f"{method} {target} {span} {operation}: {fault or 'ok'}")
        expects_continue = "100-continue" in request.tokens("expect")

        if fault == "reset_before":
            self._count("reset", operation)
            client.reset()
            raise _Dropped("reset")
        if fault == "gone":
            self._count("gone", operation)
            self._go_away_for(self.gone_s)
            raise _Dropped("gone")
        if fault in _ERRORS:
            self._count(fault, operation)
            return self._answer_error(client, request, fault, expects_continue)
        if fault == "hold":
            self._count("hold", operation)
            self._stall(dropped, held=True)

        upstream.send(request.raw)
        try:
            return self._forward(client, upstream, request, fault, operation, dropped)
        except _Dropped:
            self._lose(operation)
            raise

    def _forward(
        self,
        client: _Socket,
        upstream: _Socket,
        request: _Head,
        fault: str | None,
        operation: str,
        dropped: Callable[[], bool],
    ) -> bool:
        """The rest of :meth:`_exchange` once the request head went to the server."""
        expects_continue = "100-continue" in request.tokens("expect")
        response, body_sent = self._relay_request_body(client, upstream, request, expects_continue)
        framing = response.body_framing(request)
        if not body_sent:  # the server answered without taking the body: pass that on, close
            client.send(response.raw)
            with contextlib.suppress(_Dropped):
                _copy_body(upstream, framing, client.send)
            return False

        if fault == "stall":
            self._count("stall", operation)
            at_body = framing[0] != "none" and self._rng_choice((False, True))
            if not at_body:
                self._stall(dropped)
                client.send(response.raw)
                _copy_body(upstream, framing, client.send)
            else:
                body = bytearray()
                _copy_body(upstream, framing, body.extend)
                client.send(response.raw)
                client.send(bytes(body[: len(body) // 2]))
                self._stall(dropped)
                client.send(bytes(body[len(body) // 2 :]))
        elif fault == "hold_answer":
            self._count("hold_answer", operation)
            body = bytearray()
            _copy_body(upstream, framing, body.extend)
            self._stall(dropped)
            client.send(response.raw + bytes(body))
        elif fault in ("truncate", "reset_after"):
            body = bytearray()
            _copy_body(upstream, framing, body.extend)
            if fault == "truncate" and len(body) < 2:
                client.send(response.raw + bytes(body))
            elif fault == "truncate":
                self._count("truncate", operation)
                client.send(response.raw + bytes(body[: self._rng_below(len(body))]))
                self._lose(operation)
                return False
            else:  # reset_after: some prefix of the answer, perhaps none, then RST
                self._count("reset", operation)
                answer = response.raw + bytes(body)
                client.send(answer[: self._rng_below(len(answer))])
                client.reset()
                raise _Dropped("reset")
        else:
            client.send(response.raw)
            _copy_body(upstream, framing, client.send)

        closes = "close" in request.tokens("connection") or "close" in response.tokens("connection")
        return not closes and framing[0] != "close"

    def _relay_request_body(
        self, client: _Socket, upstream: _Socket, request: _Head, expects_continue: bool
    ) -> tuple[_Head, bool]:
        """Send the request body on; return the final response head and whether the body was
        sent (not when the server answered an ``Expect: 100-continue`` with a final status)."""
        framing = request.body_framing()
        if expects_continue and framing[0] != "none":
            interim = self._read_response_head(upstream)
            if interim.status != 100:
                return interim, False
            client.send(interim.raw)
        _copy_body(client, framing, upstream.send)
        while True:
            response = self._read_response_head(upstream)
            if response.status >= 200:
                return response, True
            client.send(response.raw)  # other interim responses pass through

    def _read_response_head(self, upstream: _Socket) -> _Head:
        raw = upstream.read_head()
        if raw is None:
            raise _Dropped("the server closed the connection")
        return _Head.parse(raw)

    def _answer_error(
        self, client: _Socket, request: _Head, fault: str, expects_continue: bool
    ) -> bool:
        status, reason, code, message = _ERRORS[fault]
        framing = request.body_framing()
        # With Expect: 100-continue the client waits for our word before sending its body:
        # answer at once and close, as servers do when they refuse a body.
        keep = not (expects_continue and framing[0] != "none")
        if keep:
            _copy_body(client, framing, lambda _data: None)
        with self._lock:
            request_id = f"FAULTPROXY{sum(self._injected.values()):08d}"
        resource = urlsplit(request.start[1]).path
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<Resource>{resource}</Resource><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        is_head = request.start[0].upper() == "HEAD"
        head = (
            f"HTTP/1.1 {status} {reason}\r\n"
            f"Date: {formatdate(usegmt=True)}\r\n"
            "Server: s3torch-fault-proxy\r\n"
            "Content-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"x-amz-request-id: {request_id}\r\n"
            f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n"
        ).encode()
        client.send(head if is_head else head + body)
        return keep

    def _stall(self, dropped: Callable[[], bool], held: bool = False) -> None:
        """Wait until released (the held requests' event when ``held``), ``stall_s`` passes,
        or the proxy drops the connection."""
        with self._lock:
            release = self._unhold if held else self._release
        deadline = time.monotonic() + self.stall_s
        while not release.is_set() and not dropped():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            release.wait(min(left, _POLL_S))

    def _go_away_for(self, seconds: float) -> None:
        with self._lock:
            if self._state != "serving":
                return
        self.go_away("refuse")
        timer = threading.Timer(seconds, self.come_back)
        timer.daemon = True
        with self._lock:
            self._come_back_timer = timer
        timer.start()

    def _rng_choice(self, options: tuple[object, ...]) -> object:
        with self._lock:
            return self._rng.choice(options)

    def _rng_below(self, n: int) -> int:
        with self._lock:
            return self._rng.randrange(n)
