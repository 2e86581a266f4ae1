"""Client counters (rust/src/metrics.rs) and the stall timeout (rust/src/wait.rs)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import s3torch


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def settled_metrics(client: s3torch.S3Client) -> dict[str, int]:
    """Counters once the CRT's telemetry of finished requests has arrived (it comes a little
    after the operation returns, on the CRT's threads)."""
    last = client.metrics()
    for _ in range(50):
        time.sleep(0.02)
        now = client.metrics()
        if now == last:
            return now
        last = now
    return last


def test_requests_and_bytes_are_counted_by_operation(make_client: Any, bucket: str) -> None:
    client = make_client()
    before = settled_metrics(client)
    with client.put_object(bucket, "m/a") as writer:
        writer.write(b"x" * 1000)
    client.head_object(bucket, "m/a")
    assert client.get_object(bucket, "m/a").read() == b"x" * 1000
    list(client.list_objects(bucket, "m/"))
    client.delete_object(bucket, "m/a")
    got = delta(before, settled_metrics(client))
    assert got["requests.PutObject"] == 1
    assert got["requests.HeadObject"] >= 1
    assert got["requests.GetObject"] == 1
    assert got["requests.ListObjectsV2"] == 1
    assert got["requests.DeleteObject"] == 1
    assert got["requests"] == sum(v for k, v in got.items() if k.startswith("requests."))
    assert got["bytes_read"] == 1000
    assert got["bytes_written"] == 1000
    assert "errors" not in got and "retries" not in got


def test_a_missing_key_is_an_error_but_not_a_retry(make_client: Any, bucket: str) -> None:
    client = make_client()
    with pytest.raises(s3torch.S3NoSuchKeyError):
        client.head_object(bucket, "m/missing")
    got = settled_metrics(client)
    assert got["errors"] == 1 and got["errors.404"] == 1
    assert got["retries"] == 0


def test_a_refused_connection_is_retried_and_counted() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = s3torch.S3Client(
        "us-east-1",
        endpoint=f"http://127.0.0.1:{port}",
        s3client_config=s3torch.S3ClientConfig(
            max_attempts=3, access_key_id="id", secret_access_key="secret"
        ),
    )
    with pytest.raises(s3torch.S3NetworkError):
        client.head_object("bucket", "key")
    got = settled_metrics(client)
    assert got["requests.HeadObject"] == 3
    assert got["errors.network"] == 3
    # Three failed attempts: the first two were retried, the last one was given up on.
    assert got["retries"] == 2


def test_metrics_are_a_plain_dict_of_ints(make_client: Any) -> None:
    counters = make_client().metrics()
    assert isinstance(counters, dict)
    for name in ("requests", "retries", "errors", "throttles", "timeouts", "bytes_read"):
        assert isinstance(counters[name], int)


def test_request_latency_percentiles_are_ordered(make_client: Any, bucket: str) -> None:
    client = make_client()
    assert not any(name.startswith("latency.") for name in client.metrics())
    for i in range(20):
        with client.put_object(bucket, f"lat/{i}") as writer:
            writer.write(b"y" * (1000 * (i + 1)))
    for i in range(20):
        assert len(client.get_object(bucket, f"lat/{i}").read()) == 1000 * (i + 1)
    got = settled_metrics(client)
    stats = ("p50_us", "p95_us", "p99_us", "max_us")
    for kind in ("first_byte", "total"):
        # Every PUT and GET got a response, so each is one sample.
        assert got[f"latency.{kind}.count"] == got["requests"] >= 40
        values = [got[f"latency.{kind}.{stat}"] for stat in stats]
        assert values == sorted(values), (kind, values)
        assert all(isinstance(v, int) for v in values)
        assert values[-1] > 0
    for stat in stats:
        assert got[f"latency.first_byte.{stat}"] <= got[f"latency.total.{stat}"], stat


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


@pytest.mark.timeout(60)
def test_every_operation_times_out_on_a_silent_server(silent_server: int) -> None:
    client = s3torch.S3Client(
        "us-east-1",
        endpoint=f"http://127.0.0.1:{silent_server}",
        s3client_config=s3torch.S3ClientConfig(
            stall_timeout_s=0.5, access_key_id="id", secret_access_key="secret"
        ),
    )

    def put_small() -> None:
        with client.put_object("bucket", "k") as writer:
            writer.write(b"x")

    def put_large() -> None:
        writer = client.put_object("bucket", "k")
        writer.write(b"x" * (client.s3client_config.part_size + 1))

    operations = {
        "head": lambda: client.head_object("bucket", "k"),
        "get": lambda: client.get_object("bucket", "k").read(),
        "get_stream": lambda: client.get_object_stream("bucket", "k").read(),
        "list": lambda: next(iter(client.list_objects("bucket"))),
        "delete": lambda: client.delete_object("bucket", "k"),
        "put": put_small,
        "put_multipart": put_large,
    }
    for name, operation in operations.items():
        start = time.monotonic()
        with pytest.raises(s3torch.S3TimeoutError, match="stall_timeout_s") as caught:
            operation()
        waited = time.monotonic() - start
        assert 0.4 < waited < 10, (name, waited)
        assert isinstance(caught.value, TimeoutError)
    assert client.metrics()["timeouts"] == len(operations)


def test_stall_timeout_is_checked() -> None:
    assert s3torch.S3ClientConfig().stall_timeout_s == 120.0
    assert s3torch.S3ClientConfig(stall_timeout_s=None).stall_timeout_s is None
    assert s3torch.S3ClientConfig(stall_timeout_s=3).stall_timeout_s == 3.0
    for bad in (0, -1, float("nan"), float("inf"), 10**400):
        with pytest.raises(ValueError, match="stall_timeout_s"):
            s3torch.S3ClientConfig(stall_timeout_s=bad)
    for wrong in ("5", True):
        with pytest.raises(TypeError, match="stall_timeout_s"):
            s3torch.S3ClientConfig(stall_timeout_s=wrong)  # type: ignore[arg-type]
