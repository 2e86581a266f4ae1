"""Fault injection: s3torch against an S3 server behind a proxy that breaks requests.

A :class:`fault_proxy.FaultProxy` sits between the client and the test server and, per
request, resets the connection, stalls the answer, answers ``503 SlowDown`` or
``500 InternalError``, cuts a body short, or goes away for a moment. These tests pin what a user
may rely on:

- reads (single-part and multi-part objects, readers and both datasets) come back byte-exact
  (checked with CRC32C) while each fault hits ~10% of requests, within ``max_attempts``;
- a write either completes with exactly the bytes written or raises an ``S3Exception``; when it
  raised, the previous object under the key is intact and no incomplete multipart upload is left;
- with the server gone, every operation raises a typed error within a time bounded by the
  configuration, and DataLoader workers exit cleanly;
- retries are visible (``S3Client.metrics()`` counters and a WARNING log line per retry).

Known limitations found by these tests are pinned by ``xfail(strict=True)`` tests at the end.

The default run takes a minute or two. A longer soak (more objects, rounds and writes)::

    S3TORCH_SOAK=1 pytest tests/test_faults.py

Counts (faults injected by type, operations run, bytes verified, errors by type, hangs) are
printed at the end of the run, and written as JSON to the file named by
``S3TORCH_FAULT_REPORT`` if that is set. See doc/reliability.md.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import torch
import torch.utils.data
from awscrt.checksums import crc32c

import s3torch
from fault_proxy import FAULTS, FaultProxy
from s3torch import S3ClientConfig, S3Exception, S3MapDataset, S3ReaderConstructor, _logging
from s3torch.s3iterable_dataset import S3IterableDataset

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


@pytest.fixture(scope="module")
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
    settings: dict[str, Any] = {
        "access_key_id": s3_server.access_key,
        "secret_access_key": s3_server.secret_key,
        "session_token": s3_server.session_token,
        "part_size": PART_SIZE,
        "force_path_style": True,
        "stall_timeout_s": 60.0,  # a hang fails well before pytest's timeout
    }
    settings.update(overrides)
    return S3ClientConfig(**settings)


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


# ---------------------------------------------------------------------------
# Reads: byte-exact under faults
# ---------------------------------------------------------------------------

READ_OPERATIONS = ("GetObject", "HeadObject", "ListObjectsV2")
READ_LIMIT_S = 120.0


@pytest.mark.timeout(240)
@pytest.mark.parametrize("fault", [*FAULTS, "mixed"])
def test_reads_are_byte_exact_under_faults(
    fault: str,
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    stored: Stored,
    tally: Tally,
    s3_server: Any,
) -> None:
    proxy.configure(probabilities_for(fault), READ_OPERATIONS)
    # Every drop of the whole server fails every request in flight at once; with many of them
    # the CRT's retry quota runs dry (see the xfail test at the end): the datasets prefetch
    # less here.
    prefetch = 2 if fault in ("gone", "mixed") else 32
    try:
        read_everything(proxy, via(), stored, tally, s3_server, random.Random(fault), prefetch)
    except S3Exception as err:
        pytest.fail(f"a read failed: {err!r}\nthe proxy's last requests:\n{journal_tail(proxy)}")
    injected = proxy.injected()
    if fault == "mixed":
        assert sum(injected.values()) > 0, "no fault was injected"
    else:
        assert injected.get(fault, 0) > 0, f"no {fault} fault was injected"


def read_everything(
    proxy: FaultProxy,
    client: s3torch.S3Client,
    stored: Stored,
    tally: Tally,
    s3_server: Any,
    rng: random.Random,
    prefetch: int,
) -> None:
    """Read every stored object through readers and both datasets, checking every byte."""
    keys = sorted(stored.objects)
    for _ in range(ROUNDS):
        # Whole objects through the default (sequential) reader.
        for key in keys:
            content = bounded(
                tally,
                "get+read",
                lambda k=key: client.get_object(stored.bucket, k).read(),
                READ_LIMIT_S,
            )
            verify(tally, stored, key, content)

        # Multi-part objects through the range-based reader: seeks and ranged GETs, some
        # across part boundaries.
        for key in stored.multipart_keys():
            expected = stored.objects[key]
            with client.get_object(
                stored.bucket, key, reader_constructor=S3ReaderConstructor.range_based()
            ) as reader:
                for _ in range(3):
                    start = rng.randrange(len(expected))
                    size = rng.randrange(1, 3 * MIB)

                    def ranged(r: Any = reader, at: int = start, n: int = size) -> bytes:
                        r.seek(at)
                        return bytes(r.read(n))

                    chunk = bounded(tally, "ranged read", ranged, READ_LIMIT_S)
                    assert crc32c(chunk) == crc32c(expected[start : start + size])
                    tally.bytes_verified += len(chunk)

        # The iterable dataset: a listing, then GETs with prefetch.
        dataset = S3IterableDataset.from_prefix(
            f"s3://{stored.bucket}/data/",
            region=s3_server.region,
            endpoint=proxy.endpoint,
            s3client_config=config_for(s3_server),
            transform=read_item,
            prefetch_objects=prefetch,
        )
        items = bounded(tally, "iterable dataset epoch", lambda d=dataset: list(d), READ_LIMIT_S)
        assert [k for k, _ in items] == keys
        for key, content in items:
            verify(tally, stored, key, content)

        # The map dataset: batches whose GETs run together.
        mapped = S3MapDataset.from_prefix(
            f"s3://{stored.bucket}/data/",
            region=s3_server.region,
            endpoint=proxy.endpoint,
            s3client_config=config_for(s3_server),
            transform=read_item,
            prefetch_objects=prefetch,
        )
        count = bounded(tally, "map dataset listing", lambda m=mapped: len(m), READ_LIMIT_S)
        assert count == len(keys)
        for first in range(0, count, 8):
            batch = list(range(first, min(first + 8, count)))
            got = bounded(
                tally,
                "map dataset batch",
                lambda b=batch, m=mapped: m.__getitems__(b),
                READ_LIMIT_S,
            )
            for key, content in got:
                verify(tally, stored, key, content)


# ---------------------------------------------------------------------------
# Writes: exact or raised, previous object intact, no upload left behind
# ---------------------------------------------------------------------------

# Not AbortMultipartUpload: one failure of it leaves the upload behind (pinned by an xfail test
# at the end), which would make these tests fail by chance.
WRITE_OPERATIONS = ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")
# The first fault of each type goes where it surely applies (a body to cut short).
FIRST_FAULT_AT = {"truncate": "CompleteMultipartUpload"}
WRITE_LIMIT_S = 120.0


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


@pytest.mark.timeout(240)
@pytest.mark.parametrize("fault", [*FAULTS, "mixed"])
def test_writes_complete_exactly_or_raise_leaving_previous_object(
    fault: str,
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    bucket: str,
    client: s3torch.S3Client,
    boto3_client: Any,
    tally: Tally,
) -> None:
    # Two attempts only, so that some writes do fail and the failure path is exercised too.
    faulty = via(max_attempts=2)
    outcomes: collections.Counter[str] = collections.Counter()
    for i, size in enumerate(WRITE_SIZES):
        key = f"w/{i:03d}"
        previous = payload(-i - 1, size // 2 + 1)
        write(client, bucket, key, previous)  # fault-free, straight to the server
        new = payload(i, size)
        proxy.configure(probabilities_for(fault), WRITE_OPERATIONS)
        if i == 0:  # one sure fault, then chance
            first = "reset" if fault == "mixed" else fault
            proxy.fail_next(first, FIRST_FAULT_AT.get(first))
        try:
            bounded(
                tally, "put+close", lambda k=key, n=new: write(faulty, bucket, k, n), WRITE_LIMIT_S
            )
        except S3Exception:
            raised = True
        else:
            raised = False
        finally:
            proxy.configure({})
        stored = read_directly(boto3_client, bucket, key)
        assert stored is not None, f"{key}: the object vanished"
        tally.bytes_verified += len(stored)
        if not raised:
            assert crc32c(stored) == crc32c(new) and len(stored) == len(new), f"{key}: bad bytes"
            outcomes["completed exactly"] += 1
        elif crc32c(stored) == crc32c(previous) and len(stored) == len(previous):
            outcomes["raised, previous object intact"] += 1
        else:
            # The only other outcome allowed: the server took the write but its answer was
            # lost on every attempt (S3 itself cannot tell the client). Never a mix.
            assert crc32c(stored) == crc32c(new) and len(stored) == len(new), f"{key}: mixed"
            outcomes["raised, new object stored (answer lost)"] += 1
    tally.outcomes.update(outcomes)
    assert outcomes["completed exactly"] > 0
    assert sum(proxy.injected().values()) > 0, "no fault was injected"
    # An upload is left only where a CreateMultipartUpload was carried out by the server but
    # its answer never reached the client (pinned by an xfail test at the end).
    leftover = incomplete_uploads(boto3_client, bucket)
    orphans = proxy.lost_answers().get("CreateMultipartUpload", 0)
    assert len(leftover) <= orphans, (leftover, proxy.lost_answers())
    tally.outcomes["incomplete uploads left by a lost CreateMultipartUpload answer"] += len(
        leftover
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("operation", "where", "fault", "size"),
    [
        ("PutObject", "", "slowdown", 1_000),
        ("CreateMultipartUpload", "", "reset_before", 2 * PART_SIZE + 1),
        ("UploadPart", "partNumber=2&", "internal_error", 2 * PART_SIZE + 1),
        ("UploadPart", "partNumber=3&", "reset_before", 2 * PART_SIZE + 1),
        ("CompleteMultipartUpload", "", "slowdown", 2 * PART_SIZE + 1),
    ],
)
def test_failed_write_raises_and_leaves_previous_object_and_no_upload(
    operation: str,
    where: str,
    fault: str,
    size: int,
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    bucket: str,
    client: s3torch.S3Client,
    boto3_client: Any,
    tally: Tally,
) -> None:
    """Every attempt of one request of the upload fails before it reaches the server."""
    attempts = 2
    faulty = via(max_attempts=attempts)
    previous = payload(1, 4321)
    write(client, bucket, "k", previous)
    proxy.fail_next(fault, operation, count=attempts, where=where)
    with pytest.raises(S3Exception):
        bounded(tally, "put+close", lambda: write(faulty, bucket, "k", payload(2, size)), 60)
    assert proxy.requests().get(operation, 0) >= attempts
    assert read_directly(boto3_client, bucket, "k") == previous
    tally.bytes_verified += len(previous)
    assert incomplete_uploads(boto3_client, bucket) == [], journal_tail(proxy)
    tally.outcomes["raised, previous object intact"] += 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", ["reset", "slowdown", "internal_error", "truncate", "stall"])
def test_an_aborted_upload_leaves_the_previous_object_and_no_upload(
    fault: str,
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    bucket: str,
    client: s3torch.S3Client,
    boto3_client: Any,
    tally: Tally,
) -> None:
    """Uploads aborted part-way (explicitly, or by an exception in the ``with`` block) while
    their requests fail now and then."""
    faulty = via()
    previous = payload(7, 1234)
    write(client, bucket, "k", previous)
    proxy.configure({fault: 3 * FAULT_RATE}, ("CreateMultipartUpload", "UploadPart"))

    def abort_explicitly() -> None:
        writer = faulty.put_object(bucket, "k")
        writer.write(payload(8, 2 * PART_SIZE + 3))  # two parts sent or under way
        writer.abort()

    def abort_by_exception() -> None:
        with pytest.raises(KeyError), faulty.put_object(bucket, "k") as writer:
            writer.write(payload(9, 2 * PART_SIZE + 3))
            raise KeyError("the code producing the data failed")

    for what, run in (("abort", abort_explicitly), ("abort by exception", abort_by_exception)):
        try:
            bounded(tally, f"put+{what}", run, 60)
        except S3Exception:
            tally.outcomes["a write under faults raised before its abort"] += 1
        else:
            tally.outcomes["aborted, previous object intact"] += 1
        assert read_directly(boto3_client, bucket, "k") == previous, what
        tally.bytes_verified += len(previous)
    leftover = incomplete_uploads(boto3_client, bucket)
    assert len(leftover) <= proxy.lost_answers().get("CreateMultipartUpload", 0), leftover


# ---------------------------------------------------------------------------
# The server gone: typed errors within a bounded time, no hang
# ---------------------------------------------------------------------------


def gone_operations(
    client: s3torch.S3Client, s3_server: Any, endpoint: str, config: S3ClientConfig, bucket: str
) -> dict[str, Callable[[], object]]:
    """Every kind of operation, each expected to fail when the server is unreachable."""

    def get_read() -> object:
        return client.get_object(bucket, "there").read()

    def stream_read() -> object:
        return client.get_object_stream(bucket, "there").read()

    def listing() -> object:
        return [info.key for page in client.list_objects(bucket) for info in page.object_info]

    def put_small() -> None:
        write(client, bucket, "new-small", b"x" * 1000)

    def put_multipart() -> None:
        write(client, bucket, "new-multi", b"y" * (PART_SIZE + 1))

    def dataset_arguments() -> dict[str, Any]:
        return {
            "region": s3_server.region,
            "endpoint": endpoint,
            "s3client_config": config,
            "transform": read_item,
        }

    def iterable_dataset() -> object:
        return list(S3IterableDataset.from_prefix(f"s3://{bucket}/", **dataset_arguments()))

    def iterable_from_objects() -> object:
        return list(S3IterableDataset.from_objects(f"s3://{bucket}/there", **dataset_arguments()))

    def map_dataset() -> object:
        return S3MapDataset.from_prefix(f"s3://{bucket}/", **dataset_arguments())[0]

    def checkpoint_save() -> None:
        s3torch.save({"w": torch.arange(10)}, f"s3://{bucket}/ckpt.pt", client=client)

    def checkpoint_load() -> object:
        return s3torch.load(f"s3://{bucket}/there", client=client)

    return {
        "head": lambda: client.head_object(bucket, "there"),
        "get+read": get_read,
        "get stream read": stream_read,
        "list": listing,
        "put+close small": put_small,
        "put+close multipart": put_multipart,
        "delete": lambda: client.delete_object(bucket, "there"),
        "iterable dataset": iterable_dataset,
        "iterable dataset from objects": iterable_from_objects,
        "map dataset": map_dataset,
        "checkpoint save": checkpoint_save,
        "checkpoint load": checkpoint_load,
    }


GONE_ATTEMPTS = 2
# Full-jitter backoff of the CRT: retry n waits up to 0.5 s * 2**(n-1).
GONE_BACKOFF_S = sum(0.5 * 2**n for n in range(GONE_ATTEMPTS - 1))
GONE_SLACK_S = 5.0  # a shared 2-core machine
SILENT_STALL_TIMEOUT_S = 0.5


@pytest.mark.timeout(120)
def test_every_operation_raises_a_network_error_when_the_port_is_closed(
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    bucket: str,
    client: s3torch.S3Client,
    s3_server: Any,
    tally: Tally,
) -> None:
    write(client, bucket, "there", b"content")
    config = config_for(s3_server, max_attempts=GONE_ATTEMPTS)
    faulty = via(max_attempts=GONE_ATTEMPTS)
    assert faulty.head_object(bucket, "there").size == 7  # a pooled connection, to be dropped
    proxy.go_away("refuse")
    limit = GONE_BACKOFF_S + GONE_SLACK_S
    operations = gone_operations(faulty, s3_server, proxy.endpoint, config, bucket)
    operations["copy"] = lambda: faulty.copy_object(bucket, "there", bucket, "copy")
    for what, operation in operations.items():
        started = time.monotonic()
        with pytest.raises(S3Exception) as raised:
            bounded(tally, f"server gone: {what}", operation, limit)
        elapsed = time.monotonic() - started
        assert isinstance(raised.value, s3torch.S3NetworkError), (what, raised.value)
        assert elapsed <= limit, (what, elapsed)


@pytest.mark.timeout(120)
def test_every_operation_times_out_when_the_server_stops_answering(
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    bucket: str,
    client: s3torch.S3Client,
    s3_server: Any,
    tally: Tally,
) -> None:
    write(client, bucket, "there", b"content")
    stall = SILENT_STALL_TIMEOUT_S
    config = config_for(s3_server, max_attempts=GONE_ATTEMPTS, stall_timeout_s=stall)
    faulty = via(max_attempts=GONE_ATTEMPTS, stall_timeout_s=stall)
    assert faulty.head_object(bucket, "there").size == 7
    proxy.go_away("blackhole")
    limit = GONE_ATTEMPTS * stall + GONE_BACKOFF_S + GONE_SLACK_S
    for what, operation in gone_operations(
        faulty, s3_server, proxy.endpoint, config, bucket
    ).items():
        started = time.monotonic()
        with pytest.raises(S3Exception) as raised:
            bounded(tally, f"server silent: {what}", operation, limit)
        elapsed = time.monotonic() - started
        assert isinstance(raised.value, s3torch.S3TimeoutError), (what, raised.value)
        assert elapsed <= limit, (what, elapsed)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", ["GetObject", "PutObject", "ListObjectsV2", "HeadObject"])
def test_a_stalled_request_raises_a_timeout_error(
    where: str,
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    bucket: str,
    client: s3torch.S3Client,
    tally: Tally,
) -> None:
    write(client, bucket, "there", payload(3, 100_000))
    faulty = via(stall_timeout_s=1.0)
    proxy.configure({}, stall_s=3600.0)  # held until released
    proxy.fail_next("stall", where, count=100)
    operations: dict[str, Callable[[], object]] = {
        "GetObject": lambda: faulty.get_object(bucket, "there").read(),
        "PutObject": lambda: write(faulty, bucket, "other", b"z" * 1000),
        "ListObjectsV2": lambda: list(faulty.list_objects(bucket)),
        "HeadObject": lambda: faulty.head_object(bucket, "there"),
    }
    with pytest.raises(s3torch.S3TimeoutError):
        bounded(tally, f"stalled {where}", operations[where], 1.0 + GONE_SLACK_S)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_dataloader_workers_exit_cleanly_when_the_server_goes_away(
    mode: str,
    proxy: FaultProxy,
    stored: Stored,
    s3_server: Any,
    tally: Tally,
) -> None:
    overrides: dict[str, Any] = {"max_attempts": GONE_ATTEMPTS}
    if mode == "blackhole":
        overrides["stall_timeout_s"] = 1.0
    dataset = S3IterableDataset.from_prefix(
        f"s3://{stored.bucket}/data/small-",
        region=s3_server.region,
        endpoint=proxy.endpoint,
        s3client_config=config_for(s3_server, **overrides),
        transform=read_item,
        enable_sharding=True,
        prefetch_objects=1,
    )
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=2, prefetch_factor=1)
    iterator = iter(loader)
    for _ in range(4):
        key, content = next(iterator)
        verify(tally, stored, key, content)
    workers = list(iterator._workers)
    assert len(workers) == 2
    proxy.go_away(mode)
    started = time.monotonic()
    tally.operations[f"dataloader epoch, server gone ({mode})"] += 1
    error: BaseException | None = None
    try:
        for key, content in iterator:
            verify(tally, stored, key, content)
    except S3Exception as err:
        error = err
    assert error is not None, "the epoch ended without an error"
    assert time.monotonic() - started < 30
    expected = s3torch.S3NetworkError if mode == "refuse" else s3torch.S3TimeoutError
    assert isinstance(error, expected), error
    tally.errors[type(error).__name__] += 1
    # The error's traceback holds the iterator in a reference cycle (PyTorch re-raises it from
    # a frame of its own): without it, dropping the iterator shuts the workers down at once
    # (else the garbage collector does it later, and PyTorch then waits 5 s per worker).
    error.__traceback__ = None
    del error, iterator
    gc.collect()
    deadline = time.monotonic() + 20
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    if any(w.is_alive() for w in workers):
        tally.hangs += 1
    assert not any(w.is_alive() for w in workers), "a DataLoader worker outlived the loader"
    assert [w.exitcode for w in workers] == [0, 0], "workers were killed, not shut down"


# ---------------------------------------------------------------------------
# Retries are visible
# ---------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_retries_are_counted_in_the_client_metrics(
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    stored: Stored,
    tally: Tally,
) -> None:
    faulty = via()
    key = stored.largest_key()
    before = settled_metrics(faulty)
    # At most two failures in a row for one request, so that the backoff stays short.
    proxy.fail_next("slowdown", "GetObject", count=2, where="bytes=0-")
    proxy.fail_next("internal_error", "GetObject", count=2, where=f"bytes={PART_SIZE}-")
    proxy.fail_next("slowdown", "GetObject", count=1, where=f"bytes={2 * PART_SIZE}-")
    proxy.fail_next("reset_before", "HeadObject", count=1)
    content = bounded(tally, "get+read", faulty.get_object(stored.bucket, key).read, 60)
    verify(tally, stored, key, content)
    size = bounded(tally, "head", lambda: faulty.head_object(stored.bucket, key).size, 60)
    assert size == len(stored.objects[key])
    after = settled_metrics(faulty)
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    seen = proxy.requests()
    assert delta["retries"] == 6
    assert delta["throttles"] == 3
    assert delta["errors.503"] == 3
    assert delta["errors.500"] == 2
    assert delta["errors.network"] == 1
    assert delta["errors"] == 6
    assert delta["requests"] == sum(seen.values())
    assert delta["requests.GetObject"] == seen["GetObject"]
    assert delta["requests.HeadObject"] == seen["HeadObject"]
    assert delta["bytes_read"] == len(stored.objects[key])


@pytest.mark.timeout(60)
def test_each_retry_logs_a_warning(
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    stored: Stored,
    tally: Tally,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s3torch.enable_logging("WARNING")
    try:
        faulty = via()
        key = stored.largest_key()
        caplog.set_level(logging.WARNING, logger="s3torch.retry")
        proxy.fail_next("slowdown", "GetObject", count=2, where="bytes=0-")
        proxy.fail_next("internal_error", "GetObject", count=1, where=f"bytes={PART_SIZE}-")
        content = bounded(tally, "get+read", faulty.get_object(stored.bucket, key).read, 60)
        verify(tally, stored, key, content)
        _logging.flush_native_logs()
    finally:
        s3torch.disable_logging()
    retries = [r.getMessage() for r in caplog.records if r.name == "s3torch.retry"]
    assert len(retries) == 3, retries
    assert sum("503" in line for line in retries) == 2, retries
    assert sum("500" in line for line in retries) == 1, retries
    assert all("GetObject" in line for line in retries), retries


# ---------------------------------------------------------------------------
# Known limitations, pinned: each fails today (xfail strict), and passes once fixed
# ---------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="a CreateMultipartUpload carried out by the server whose answer is lost is retried; "
    "the first upload, whose id the client never learned, stays incomplete on the server",
)
@pytest.mark.timeout(60)
def test_a_lost_create_multipart_upload_answer_leaves_no_upload_behind(
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    bucket: str,
    boto3_client: Any,
    tally: Tally,
) -> None:
    faulty = via()
    proxy.fail_next("reset_after", "CreateMultipartUpload")
    content = payload(5, 2 * PART_SIZE + 1)
    bounded(tally, "put+close", lambda: write(faulty, bucket, "k", content), 60)
    stored = read_directly(boto3_client, bucket, "k")
    assert stored is not None and crc32c(stored) == crc32c(content)
    tally.bytes_verified += len(stored)
    assert incomplete_uploads(boto3_client, bucket) == []


@pytest.mark.timeout(120)
@pytest.mark.xfail(
    strict=True,
    reason="after a few short outages with 32 requests in flight, a request started in the next "
    "outage fails at once instead of being retried. Cause not found: raising the CRT's retry "
    "quota (500 units by default) to 500,000 in a patched mountpoint-s3-crt did not change it",
)
def test_requests_are_still_retried_after_outages_with_many_requests_in_flight(
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    stored: Stored,
    tally: Tally,
) -> None:
    faulty = via()  # max_attempts=10
    keys = sorted(stored.objects)[:24] + sorted(stored.objects)[:8]

    def read(key: str) -> str:
        try:
            verify(tally, stored, key, faulty.get_object(stored.bucket, key).read())
            return "ok"
        except S3Exception as err:
            return f"{type(err).__name__}: {err}"

    def outage(seconds: float) -> None:
        proxy.go_away("refuse")
        threading.Timer(seconds, proxy.come_back).start()

    # Three short outages (like a store restarting), each with 32 reads under way.
    with ThreadPoolExecutor(len(keys)) as pool:
        for _ in range(3):
            outage(1.0)
            results = list(pool.map(read, keys))
            tally.operations["get+read during an outage"] += len(results)
            time.sleep(1.1)
    # The store is back. One more short outage: a read started in it should be retried
    # until the store answers again, as max_attempts allows.
    outage(0.3)
    started = time.monotonic()
    outcome = read(keys[0])
    tally.operations["get+read during an outage"] += 1
    assert outcome == "ok", f"{outcome} after {time.monotonic() - started:.2f} s, not retried"


@pytest.mark.xfail(
    strict=True,
    reason="completing a multipart upload and a server-side copy are bounded only by the CRT's "
    "throughput check (30 s without bytes per attempt, times max_attempts), not by "
    "stall_timeout_s",
)
@pytest.mark.timeout(60)
@pytest.mark.parametrize("operation", ["CompleteMultipartUpload", "CopyObject"])
def test_a_silent_completion_or_copy_raises_within_the_stall_timeout(
    operation: str,
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    bucket: str,
    client: s3torch.S3Client,
    tally: Tally,
) -> None:
    write(client, bucket, "there", b"content")
    stall = SILENT_STALL_TIMEOUT_S
    faulty = via(max_attempts=GONE_ATTEMPTS, stall_timeout_s=stall)
    proxy.configure({}, stall_s=3600.0)  # held until released
    proxy.fail_next("stall", operation, count=100)
    run: dict[str, Callable[[], object]] = {
        "CompleteMultipartUpload": lambda: write(faulty, bucket, "new", payload(4, PART_SIZE + 1)),
        "CopyObject": lambda: faulty.copy_object(bucket, "there", bucket, "copy"),
    }
    outcome: list[BaseException | None] = []

    def call() -> None:
        try:
            run[operation]()
            outcome.append(None)
        except BaseException as err:  # looked at below
            outcome.append(err)

    limit = GONE_ATTEMPTS * stall + GONE_BACKOFF_S + 2.0
    thread = threading.Thread(target=call, daemon=True)
    tally.operations[f"silent {operation}"] += 1
    thread.start()
    thread.join(limit)
    overran = thread.is_alive()
    # Let the held answer through rather than leave the operation running past the test: a
    # copy whose connection then breaks would abort the process (see the test below).
    proxy.release_stalls()
    thread.join(30)
    assert not thread.is_alive()
    if overran:
        tally.known_hangs += 1
    assert not overran, f"{operation} still running after {limit:g} s"
    assert isinstance(outcome[0], s3torch.S3TimeoutError), outcome


_COPY_OVER_BROKEN_CONNECTIONS = """
import sys
sys.path.insert(0, sys.argv[1])
import s3torch
from fault_proxy import FaultProxy
endpoint, region, key_id, secret, bucket = sys.argv[2:7]
config = s3torch.S3ClientConfig(
    access_key_id=key_id, secret_access_key=secret, force_path_style=True, max_attempts=2
)
with FaultProxy(endpoint) as proxy:
    client = s3torch.S3Client(region, endpoint=proxy.endpoint, s3client_config=config)
    proxy.fail_next("reset_before", "CopyObject", count=2)
    try:
        client.copy_object(bucket, "there", bucket, "copy")
    except s3torch.S3NetworkError:
        print("raised S3NetworkError")
"""


@pytest.mark.timeout(120)
def test_a_copy_over_broken_connections_raises_instead_of_aborting_the_process(
    bucket: str, client: s3torch.S3Client, s3_server: Any, tally: Tally
) -> None:
    write(client, bucket, "there", b"content")
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(s3torch.__file__)), environment.get("PYTHONPATH", "")]
    )
    tally.operations["copy over broken connections (child process)"] += 1
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            _COPY_OVER_BROKEN_CONNECTIONS,
            os.path.dirname(os.path.abspath(__file__)),
            s3_server.endpoint,
            s3_server.region,
            s3_server.access_key,
            s3_server.secret_key,
            bucket,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=environment,
    )
    if child.returncode != 0:
        tally.errors[f"process aborted (exit {child.returncode})"] += 1
    assert child.returncode == 0, child.stderr[-2000:]
    assert "raised S3NetworkError" in child.stdout


@pytest.mark.xfail(
    strict=True,
    reason="when a multipart upload fails, its AbortMultipartUpload is sent once: a transient "
    "failure of it (here one 500) is not retried, and the incomplete upload stays on the server",
)
@pytest.mark.timeout(60)
def test_the_abort_of_a_failed_upload_is_retried(
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    bucket: str,
    boto3_client: Any,
    tally: Tally,
) -> None:
    attempts = 2
    faulty = via(max_attempts=attempts)
    proxy.fail_next("internal_error", "UploadPart", count=attempts, where="partNumber=2&")
    proxy.fail_next("internal_error", "AbortMultipartUpload")
    with pytest.raises(S3Exception):
        bounded(
            tally, "put+close", lambda: write(faulty, bucket, "k", payload(6, PART_SIZE * 2)), 60
        )
    assert read_directly(boto3_client, bucket, "k") is None
    assert incomplete_uploads(boto3_client, bucket) == [], journal_tail(proxy)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("operation", ["HeadObject", "GetObject", "PutObject"])
def test_a_persistent_internal_error_raises_with_its_status(
    operation: str,
    proxy: FaultProxy,
    via: Callable[..., s3torch.S3Client],
    bucket: str,
    client: s3torch.S3Client,
    tally: Tally,
) -> None:
    write(client, bucket, "there", b"content")
    attempts = 2
    faulty = via(max_attempts=attempts)
    proxy.fail_next("internal_error", operation, count=attempts)
    run: dict[str, Callable[[], object]] = {
        "HeadObject": lambda: faulty.head_object(bucket, "there"),
        "GetObject": lambda: faulty.get_object(bucket, "there").read(),
        "PutObject": lambda: write(faulty, bucket, "other", b"x"),
    }
    with pytest.raises(S3Exception) as raised:
        bounded(tally, f"persistent 500: {operation}", run[operation], 30)
    assert not isinstance(raised.value, s3torch.S3NetworkError), raised.value
    assert (raised.value.status, raised.value.code) == (500, "InternalError")
