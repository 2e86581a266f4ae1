"""A small threaded TCP server on 127.0.0.1 for tests that stand between the client and the
store (a forwarding proxy, a front that answers like S3 for some requests), and the relay of a
connection's bytes both ways once it has been decided where they go."""

from __future__ import annotations

import socket
import threading


class LoopbackServer:
    """Accepts connections on a free loopback port and serves each on a thread of its own
    (``serve``, to be written by a subclass) until ``close()``."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        port: int = self._listener.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()

    def serve(self, client: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._listener.close()


def relay(client: socket.socket, upstream_address: tuple[str, int], first: bytes) -> None:
    """Send ``first`` (what was already read from ``client``) to ``upstream_address``, then
    relay the bytes both ways until both sides are done."""
    with socket.create_connection(upstream_address) as upstream:
        upstream.sendall(first)
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join(30)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    # Later requests on a kept-alive connection go where the first one went: bytes are relayed
    # as they are.
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass
