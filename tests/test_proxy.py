"""Requests go through the proxy that ``HTTP_PROXY`` / ``HTTPS_PROXY`` name, except for hosts that
``NO_PROXY`` lists (third_party/mountpoint-s3-crt, ``ClientConfig::new``), as in the AWS SDKs.

The proxy is a small loopback forwarding proxy that records the request line of each request
and relays the bytes both ways; the store is the test server.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

import s3torch
from support.loopback import LoopbackServer, relay


class ForwardingProxy(LoopbackServer):
    """An HTTP proxy for plain-HTTP targets: each connection's first request line (absolute
    form, ``GET http://host:port/path HTTP/1.1``) names where to relay it."""

    def __init__(self) -> None:
        self.request_lines: list[str] = []
        self._lock = threading.Lock()
        super().__init__()

    def serve(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            with self._lock:
                self.request_lines.append(line)
            target = urlsplit(line.split(" ")[1])
            relay(client, (target.hostname or "127.0.0.1", target.port or 80), head)


@pytest.fixture
def proxy() -> Iterator[ForwardingProxy]:
    forwarding = ForwardingProxy()
    yield forwarding
    forwarding.close()


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_requests_go_through_the_proxy_in_http_proxy(
    s3_server: Any, bucket: str, make_client: Any, proxy: ForwardingProxy, proxy_env: Any
) -> None:
    proxy_env.setenv("HTTP_PROXY", proxy.url)
    client: s3torch.S3Client = make_client()
    with client.put_object(bucket, "through/proxy") as writer:
        writer.write(b"proxied")
    assert client.get_object(bucket, "through/proxy").read() == b"proxied"
    assert proxy.request_lines, "no request reached the proxy"
    assert all(f" {s3_server.endpoint}/{bucket}/" in line for line in proxy.request_lines), (
        proxy.request_lines
    )


def test_no_proxy_keeps_a_host_off_the_proxy(
    s3_server: Any, bucket: str, make_client: Any, proxy: ForwardingProxy, proxy_env: Any
) -> None:
    proxy_env.setenv("HTTP_PROXY", proxy.url)
    proxy_env.setenv("NO_PROXY", urlsplit(s3_server.endpoint).hostname)
    client: s3torch.S3Client = make_client()
    with client.put_object(bucket, "direct") as writer:
        writer.write(b"direct")
    assert client.get_object(bucket, "direct").read() == b"direct"
    assert proxy.request_lines == []
