"""Fault injection: s3torch against an S3 server behind a proxy that breaks requests.

A :class:`support.fault_proxy.FaultProxy` sits between the client and the test server and, per
request, resets the connection, stalls the answer, answers ``503 SlowDown`` or
``500 InternalError``, cuts a body short, or goes away for a moment. The tests, in
``tests/test_faults_*.py``, pin what a user may rely on:

- reads (single-part and multi-part objects, readers and both datasets) come back byte-exact
  (checked with CRC32C) while each fault hits ~10% of requests, within ``max_attempts``;
- a write either completes with exactly the bytes written or raises an ``S3Exception``; when it
  raised, the previous object under the key is intact and no incomplete multipart upload is left;
- with the server gone, every operation raises a typed error within a time bounded by the
  configuration, and DataLoader workers exit cleanly;
- retries are visible (``S3Client.metrics()`` counters and a WARNING log line per retry).

Known limitations found by these tests are pinned by ``xfail(strict=True)`` tests in
``test_faults_known_limitations.py``.

The default run takes a minute or two. A longer soak (more objects, rounds and writes)::

    S3TORCH_SOAK=1 pytest tests/test_faults_*.py

Counts (faults injected by type, operations run, bytes verified, errors by type, hangs) are
printed at the end of the run, and written as JSON to the file named by
``S3TORCH_FAULT_REPORT`` if that is set. See doc/reliability.md.

This module holds what those files share: the sizes, the tally, :func:`bounded`, the fixtures
``tally`` (session), ``proxy``, ``via``, ``rig`` and ``stored`` (module), loaded by
``tests/conftest.py`` as a plugin, and helpers to write and check objects. A test takes ``rig``
(a :class:`FaultRig`: the proxy, clients through it, the tally, and a bucket of its own with a
fault-free client and boto3 beside it) rather than those pieces one by one.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from awscrt.checksums import crc32c

import s3torch
from s3torch import S3ClientConfig
from support.fault_proxy import FAULTS, FaultProxy
from support.server import client_config

SOAK = os.environ.get("S3TORCH_SOAK", "") not in ("", "0")
MIB = 1024 * 1024
PART_SIZE = 5 * MIB  # the smallest allowed: multi-part objects stay small
SMALL_OBJECTS = 200 if SOAK else 24
MULTIPART_SIZES = (
    [PART_SIZE + 1, 2 * PART_SIZE + 12345, 3 * PART_SIZE - 7, 2 * PART_SIZE]
    if SOAK
    else [PART_SIZE + 1, 2 * PART_SIZE + 12345]
)
ROUNDS = 3 if SOAK else 1
WRITE_SIZES = [1_000, 300_000, PART_SIZE + 1, 2 * PART_SIZE + 77] * (4 if SOAK else 1)
FAULT_RATE = 0.1

T = TypeVar("T")


# ---------------------------------------------------------------------------
# The tally: what the suite did, printed at the end and optionally written as JSON
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Tally:
    faults: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    operations: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    outcomes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    bytes_verified: int = 0
    hangs: int = 0
    known_hangs: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "faults_injected": dict(sorted(self.faults.items())),
            "faults_total": sum(self.faults.values()),
            "operations": dict(sorted(self.operations.items())),
            "operations_total": sum(self.operations.values()),
            "bytes_verified": self.bytes_verified,
            "errors": dict(sorted(self.errors.items())),
            "write_outcomes": dict(sorted(self.outcomes.items())),
            "hangs": self.hangs,
            "known_hangs_in_xfail_tests": self.known_hangs,
            "soak": SOAK,
        }


class _Reporter:
    """Prints the tally in pytest's terminal summary (shown even with -q)."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.started = time.monotonic()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.section("s3torch fault injection")
        for name, value in self.tally.as_dict().items():
            terminalreporter.write_line(f"{name}: {value}")
        terminalreporter.write_line(f"seconds: {time.monotonic() - self.started:.1f}")


@pytest.fixture(scope="session")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    result = Tally()
    request.config.pluginmanager.register(_Reporter(result), "s3torch-fault-tally")
    yield result
    path = os.environ.get("S3TORCH_FAULT_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(result.as_dict(), file, indent=2)


def bounded(
    tally: Tally, what: str, operation: Callable[[], T], limit: float, *, known_hang: bool = False
) -> T:
    """Run ``operation`` in a thread; a run longer than ``limit`` seconds counts as a hang
    and fails the test (the thread is left behind, the test is not). Errors are counted by
    type and raised again."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = operation()
        except BaseException as err:  # handed to the caller below
            outcome["error"] = err

    thread = threading.Thread(target=run, name=f"bounded {what}", daemon=True)
    tally.operations[what] += 1
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        if known_hang:
            tally.known_hangs += 1
        else:
            tally.hangs += 1
        pytest.fail(f"{what} still running after {limit:g} s: a hang")
    if "error" in outcome:
        tally.errors[type(outcome["error"]).__name__] += 1
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------
# Fixtures: the proxy, clients through it, stored data
# ---------------------------------------------------------------------------


@pytest.fixture
def proxy(s3_server: Any, tally: Tally, request: pytest.FixtureRequest) -> Iterator[FaultProxy]:
    """A fault proxy in front of the test server, seeded from the test's name."""
    seed = sum(request.node.name.encode())
    with FaultProxy(s3_server.endpoint, seed=seed, stall_s=0.3, gone_s=0.2) as running:
        yield running
        running.release_stalls()
        tally.faults.update(running.injected())


def config_for(s3_server: Any, **overrides: Any) -> S3ClientConfig:
    # A stall timeout of 60 s: a hang fails well before pytest's timeout.
    settings = {"part_size": PART_SIZE, "stall_timeout_s": 60.0, **overrides}
    config: S3ClientConfig = client_config(s3_server, **settings)
    return config


@pytest.fixture
def via(s3_server: Any, proxy: FaultProxy) -> Callable[..., s3torch.S3Client]:
    """``via(**config)``: a client that talks to the server through the proxy."""

    def build(**overrides: Any) -> s3torch.S3Client:
        return s3torch.S3Client(
            s3_server.region,
            endpoint=proxy.endpoint,
            s3client_config=config_for(s3_server, **overrides),
        )

    return build


@dataclasses.dataclass
class FaultRig:
    """What a fault test works with. ``bucket`` is made on first use (a fresh one, from the
    ``bucket`` fixture), so that a test reading only :class:`Stored` objects makes none."""

    proxy: FaultProxy
    via: Callable[..., s3torch.S3Client]
    """``via(**config)``: a client that talks to the server through the proxy."""
    tally: Tally
    server: Any
    request: pytest.FixtureRequest

    @functools.cached_property
    def bucket(self) -> str:
        name: str = self.request.getfixturevalue("bucket")
        return name

    @property
    def client(self) -> s3torch.S3Client:
        """A fault-free client, straight to the server."""
        direct: s3torch.S3Client = self.request.getfixturevalue("client")
        return direct

    @property
    def boto3(self) -> Any:
        """boto3, straight to the server: the oracle."""
        return self.server.admin

    def bounded(
        self, what: str, operation: Callable[[], T], limit: float, *, known_hang: bool = False
    ) -> T:
        """:func:`bounded`, counted in this rig's tally."""
        return bounded(self.tally, what, operation, limit, known_hang=known_hang)

    def put_there(self) -> None:
        """Store the object ``there`` (7 bytes), without faults."""
        write(self.client, self.bucket, "there", b"content")

    def stored(self, key: str) -> bytes | None:
        """What the server holds under ``key`` in the bucket (``None``: nothing)."""
        return read_directly(self.boto3, self.bucket, key)

    def assert_no_upload_left(self) -> None:
        assert incomplete_uploads(self.boto3, self.bucket) == [], journal_tail(self.proxy)

    def run_script(self, script: str, *arguments: str) -> subprocess.CompletedProcess[str]:
        """Run ``script`` in a fresh interpreter that imports this s3torch, with its output
        captured. Its ``sys.argv[1:]``: the tests folder (for ``support``), the server's
        endpoint, region, access key and secret key, the bucket, then ``arguments``."""
        package_root = os.path.dirname(os.path.dirname(s3torch.__file__))
        path = os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")])
        tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        server = [self.server.endpoint, self.server.region]
        keys = [self.server.access_key, self.server.secret_key]
        return subprocess.run(
            [sys.executable, "-c", script, tests_dir, *server, *keys, self.bucket, *arguments],
            capture_output=True,
            text=True,
            timeout=90,
            env={**os.environ, "PYTHONPATH": path},
        )

    def hold(self, operation: str) -> None:
        """Stall every request of ``operation`` until :meth:`FaultProxy.release_stalls`."""
        self.proxy.configure({}, stall_s=3600.0)
        self.proxy.fail_next("stall", operation, count=100)


@pytest.fixture
def rig(
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    tally: Tally,
    s3_server: Any,
    request: pytest.FixtureRequest,
) -> FaultRig:
    return FaultRig(proxy, via, tally, s3_server, request)


def payload(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclasses.dataclass(frozen=True)
class Stored:
    bucket: str
    objects: dict[str, bytes]  # key -> content
    checksums: dict[str, int]  # key -> CRC32C

    def multipart_keys(self) -> list[str]:
        return [k for k, v in self.objects.items() if len(v) > PART_SIZE]

    def largest_key(self) -> str:
        """The key of the object with the most parts (three or more)."""
        return max(self.objects, key=lambda k: len(self.objects[k]))


@pytest.fixture(scope="module")
def stored(s3_server: Any, module_client: s3torch.S3Client) -> Iterator[Stored]:
    """A bucket of small and multi-part objects, written without faults, read by the tests."""
    name = "t-" + uuid.uuid4().hex[:16]
    s3_server.create_bucket(name)
    objects: dict[str, bytes] = {}
    for i in range(SMALL_OBJECTS):
        objects[f"data/small-{i:04d}"] = payload(i, 1 + (i * 7919) % 200_000)
    for i, size in enumerate(MULTIPART_SIZES):
        objects[f"data/multi-{i:02d}"] = payload(10_000 + i, size)
    for key, content in objects.items():
        with module_client.put_object(name, key) as writer:
            writer.write(content)
    yield Stored(name, objects, {k: crc32c(v) for k, v in objects.items()})
    s3_server.delete_bucket(name)


def verify(tally: Tally, stored: Stored, key: str, content: bytes) -> None:
    assert len(content) == len(stored.objects[key]), f"{key}: wrong length"
    assert crc32c(content) == stored.checksums[key], f"{key}: wrong bytes"
    tally.bytes_verified += len(content)


def read_item(reader: Any) -> tuple[str, bytes]:
    return reader.key, reader.read()


def probabilities_for(fault: str) -> dict[str, float]:
    if fault == "mixed":  # every type at once, ~11% of requests in all
        mixed = {name: FAULT_RATE / 5 for name in FAULTS}
        mixed["gone"] = FAULT_RATE / 20
        return mixed
    return {fault: FAULT_RATE}


def settled_metrics(client: s3torch.S3Client) -> dict[str, int]:
    """The client's counters once the CRT's reports of finished requests (which arrive a little
    after an operation returns) have all come in."""
    last = client.metrics()
    for _ in range(50):
        time.sleep(0.02)
        now = client.metrics()
        if now == last:
            break
        last = now
    return dict(last)


def journal_tail(proxy: FaultProxy, lines: int = 40) -> str:
    return "\n".join(proxy.journal()[-lines:])


def read_directly(boto3_client: Any, bucket: str, key: str) -> bytes | None:
    try:
        answer = boto3_client.get_object(Bucket=bucket, Key=key)
    except boto3_client.exceptions.NoSuchKey:
        return None
    return bytes(answer["Body"].read())


def incomplete_uploads(boto3_client: Any, bucket: str) -> list[str]:
    answer = boto3_client.list_multipart_uploads(Bucket=bucket)
    return [f"{u['Key']} ({u['UploadId']})" for u in answer.get("Uploads", [])]


def write(client: s3torch.S3Client, bucket: str, key: str, content: bytes) -> None:
    with client.put_object(bucket, key) as writer:
        view = memoryview(content)
        for start in range(0, len(view), MIB):  # several writes, as torch.save would do
            writer.write(view[start : start + MIB])


GONE_ATTEMPTS = 2
# Full-jitter backoff of the CRT: retry n waits up to 0.5 s * 2**(n-1).
GONE_BACKOFF_S = sum(0.5 * 2**n for n in range(GONE_ATTEMPTS - 1))
GONE_SLACK_S = 5.0  # a shared 2-core machine
SILENT_STALL_TIMEOUT_S = 0.5
