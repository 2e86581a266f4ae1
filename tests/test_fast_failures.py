"""Failures that retrying cannot fix are reported promptly and name what was tried
(rust/src/wait.rs, rust/src/errors.rs): nothing listening at the endpoint, a host that does not
resolve, a certificate that does not verify. A short outage is still retried.

No S3 server is needed: the endpoints are a closed port, a reserved DNS name, a tiny HTTP server
and a TLS server with a throwaway self-signed certificate.
"""

from __future__ import annotations

import http.server
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import s3torch
from support.loopback import LoopbackServer

KEYS = {"access_key_id": "AKID", "secret_access_key": "SECRET"}


def client_for(endpoint: str, **config: object) -> s3torch.S3Client:
    settings = s3torch.S3ClientConfig(force_path_style=True, **KEYS, **config)  # type: ignore[arg-type]
    return s3torch.S3Client("us-east-1", endpoint=endpoint, s3client_config=settings)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def failure(call: object) -> tuple[BaseException, float]:
    assert callable(call)
    started = time.monotonic()
    with pytest.raises(s3torch.S3Exception) as caught:
        call()
    return caught.value, time.monotonic() - started


def test_a_closed_port_is_a_network_error_naming_the_endpoint() -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    client = client_for(endpoint, max_attempts=2, connect_refused_timeout_s=None)
    error, _ = failure(lambda: client.head_object("bucket", "key"))
    assert isinstance(error, s3torch.S3NetworkError) and isinstance(error, ConnectionError)
    assert f"could not connect to {endpoint}: the connection was refused" in str(error)
    assert client.metrics()["requests"] == 2, "both attempts are made"


def test_refusals_end_a_request_after_the_refused_budget_not_after_every_attempt() -> None:
    # 64 attempts would take many minutes of backoff; the budget ends them after about 1 s.
    endpoint = f"http://127.0.0.1:{closed_port()}"
    client = client_for(endpoint, max_attempts=64, connect_refused_timeout_s=1.0)
    error, elapsed = failure(lambda: client.get_object("bucket", "key").read())
    assert isinstance(error, s3torch.S3NetworkError)
    assert f"could not connect to {endpoint}" in str(error)
    assert "refused for 1 s (connect_refused_timeout_s)" in str(error)
    assert elapsed < 30, f"{elapsed:.1f} s"
    assert client.metrics()["requests"] < 64


def test_an_unresolvable_host_is_a_network_error_naming_the_endpoint() -> None:
    endpoint = "http://no-such-host.invalid:9000"  # .invalid never resolves (RFC 2606)
    client = client_for(endpoint)
    error, _ = failure(lambda: client.head_object("bucket", "key"))
    assert isinstance(error, s3torch.S3NetworkError)
    assert f"could not connect to {endpoint}: the host name could not be resolved" in str(error)


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_store_that_refuses_for_a_moment_is_retried_until_it_answers() -> None:
    port = closed_port()
    client = client_for(f"http://127.0.0.1:{port}", connect_refused_timeout_s=10.0)
    outcome: list[BaseException] = []

    def head() -> None:
        try:
            client.head_object("bucket", "key")
        except BaseException as error:  # looked at below
            outcome.append(error)

    thread = threading.Thread(target=head, daemon=True)
    thread.start()
    time.sleep(1.0)  # refused meanwhile
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        thread.join(60)
        assert not thread.is_alive()
    finally:
        server.shutdown()
        server.server_close()
    # The answer (404) arrived: the refusals before it were retried.
    assert len(outcome) == 1 and isinstance(outcome[0], s3torch.S3NoSuchKeyError), outcome
    assert client.metrics()["errors.network"] >= 1


@pytest.fixture
def untrusted_tls_endpoint(tmp_path: Path) -> Iterator[str]:
    """An HTTPS endpoint whose certificate no trust store knows (self-signed, made now)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a throwaway certificate")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "server.key", "-out", "server.pem", "-days", "2",
            "-subj", "/CN=s3torch throwaway", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        cwd=tmp_path, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server = _TLSHandshakes(context)
    try:
        yield f"https://127.0.0.1:{server.port}"
    finally:
        server.close()


class _TLSHandshakes(LoopbackServer):
    """Offers ``context``'s certificate to each connection, then waits for a byte."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__()

    def serve(self, client: socket.socket) -> None:
        try:
            with self.context.wrap_socket(client, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass  # the client refuses the certificate: that is the point


@pytest.mark.timeout(120)
def test_a_certificate_that_does_not_verify_is_a_tls_error_without_retries(
    untrusted_tls_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    client = client_for(untrusted_tls_endpoint)  # default max_attempts and stall_timeout_s
    error, elapsed = failure(lambda: client.head_object("bucket", "key"))
    assert isinstance(error, s3torch.S3NetworkError), error
    message = str(error)
    assert f"could not connect to {untrusted_tls_endpoint}: TLS negotiation failed" in message
    assert "certificate did not verify" in message
    # One handshake's failure, delayed by s2n's blinding (at most 30 s), not one per attempt.
    assert elapsed < 60, f"{elapsed:.0f} s"
