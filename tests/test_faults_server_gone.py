"""Fault injection, the server gone: typed errors within a bounded time, no hang.

See :mod:`support.faults` for the proxy and the fixtures.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.utils.data

import s3torch
from s3torch import S3ClientConfig, S3Exception, S3MapDataset
from s3torch.s3iterable_dataset import S3IterableDataset
from support.faults import (
    GONE_ATTEMPTS,
    GONE_BACKOFF_S,
    GONE_SLACK_S,
    PART_SIZE,
    SILENT_STALL_TIMEOUT_S,
    FaultRig,
    Stored,
    config_for,
    payload,
    read_item,
    verify,
    write,
)

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


def each_raises_within(
    rig: FaultRig,
    situation: str,
    operations: dict[str, Callable[[], object]],
    expected: type[S3Exception],
    limit: float,
) -> None:
    """Every operation must raise ``expected`` within ``limit`` seconds."""
    for what, operation in operations.items():
        started = time.monotonic()
        with pytest.raises(S3Exception) as raised:
            rig.bounded(f"{situation}: {what}", operation, limit)
        elapsed = time.monotonic() - started
        assert isinstance(raised.value, expected), (what, raised.value)
        assert elapsed <= limit, (what, elapsed)


@pytest.mark.timeout(120)
def test_every_operation_raises_a_network_error_when_the_port_is_closed(rig: FaultRig) -> None:
    rig.put_there()
    bucket = rig.bucket
    config = config_for(rig.server, max_attempts=GONE_ATTEMPTS)
    faulty = rig.via(max_attempts=GONE_ATTEMPTS)
    assert faulty.head_object(bucket, "there").size == 7  # a pooled connection, to be dropped
    rig.proxy.go_away("refuse")
    limit = GONE_BACKOFF_S + GONE_SLACK_S
    operations = gone_operations(faulty, rig.server, rig.proxy.endpoint, config, bucket)
    operations["copy"] = lambda: faulty.copy_object(bucket, "there", bucket, "copy")
    each_raises_within(rig, "server gone", operations, s3torch.S3NetworkError, limit)


@pytest.mark.timeout(120)
def test_every_operation_times_out_when_the_server_stops_answering(rig: FaultRig) -> None:
    rig.put_there()
    stall = SILENT_STALL_TIMEOUT_S
    config = config_for(rig.server, max_attempts=GONE_ATTEMPTS, stall_timeout_s=stall)
    faulty = rig.via(max_attempts=GONE_ATTEMPTS, stall_timeout_s=stall)
    assert faulty.head_object(rig.bucket, "there").size == 7
    rig.proxy.go_away("blackhole")
    limit = GONE_ATTEMPTS * stall + GONE_BACKOFF_S + GONE_SLACK_S
    operations = gone_operations(faulty, rig.server, rig.proxy.endpoint, config, rig.bucket)
    each_raises_within(rig, "server silent", operations, s3torch.S3TimeoutError, limit)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", ["GetObject", "PutObject", "ListObjectsV2", "HeadObject"])
def test_a_stalled_request_raises_a_timeout_error(where: str, rig: FaultRig) -> None:
    bucket = rig.bucket
    write(rig.client, bucket, "there", payload(3, 100_000))
    faulty = rig.via(stall_timeout_s=1.0)
    rig.hold(where)
    operations: dict[str, Callable[[], object]] = {
        "GetObject": lambda: faulty.get_object(bucket, "there").read(),
        "PutObject": lambda: write(faulty, bucket, "other", b"z" * 1000),
        "ListObjectsV2": lambda: list(faulty.list_objects(bucket)),
        "HeadObject": lambda: faulty.head_object(bucket, "there"),
    }
    with pytest.raises(s3torch.S3TimeoutError):
        rig.bounded(f"stalled {where}", operations[where], 1.0 + GONE_SLACK_S)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_dataloader_workers_exit_cleanly_when_the_server_goes_away(
    mode: str, rig: FaultRig, stored: Stored
) -> None:
    proxy, tally, s3_server = rig.proxy, rig.tally, rig.server
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
