"""Fork safety and pickling (rust/src/fork.rs): a client used in the parent keeps working in
children made by fork, spawn and forkserver, directly and as DataLoader workers."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from typing import Any

import pytest

import s3torch
from support.server import put

METHODS = ["fork", "spawn", "forkserver"]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_in_child(client: s3torch.S3Client, bucket: str, key: str, results: Any) -> None:
    results.put(digest(client.get_object_stream(bucket, key).read()))


def use_inherited_stream(stream: Any, results: Any) -> None:
    try:
        stream.read()
        results.put("read worked")
    except ValueError as error:
        results.put(str(error))


@pytest.fixture
def stored(client: s3torch.S3Client, bucket: str) -> tuple[str, str, bytes]:
    data = os.urandom(6 * 1024 * 1024)
    put(client, bucket, "shared.bin", data)
    # Use the client in the parent first, so its CRT threads are running when we fork.
    assert client.get_object_stream(bucket, "shared.bin").read() == data
    return bucket, "shared.bin", data


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", METHODS)
def test_client_used_in_the_parent_works_in_a_child(
    client: s3torch.S3Client, stored: tuple[str, str, bytes], method: str
) -> None:
    bucket, key, data = stored
    context = multiprocessing.get_context(method)
    results = context.Queue()
    child = context.Process(target=read_in_child, args=(client, bucket, key, results))
    child.start()
    assert results.get(timeout=90) == digest(data)
    child.join(timeout=30)
    assert child.exitcode == 0
    # The parent's client is unaffected by the child.
    assert client.get_object_stream(bucket, key).read() == data


@pytest.mark.timeout(120)
def test_a_stream_opened_before_fork_refuses_to_run_in_the_child(
    client: s3torch.S3Client, stored: tuple[str, str, bytes]
) -> None:
    bucket, key, data = stored
    stream = client.get_object_stream(bucket, key)
    first = stream.read(1024)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=use_inherited_stream, args=(stream, results))
    child.start()
    assert "another process" in results.get(timeout=60)
    child.join(timeout=30)
    assert child.exitcode == 0, "the child exits cleanly without touching the parent's stream"
    assert first + stream.read() == data


class ObjectDataset:
    """A map-style dataset that reads whole objects with a client it carries."""

    def __init__(self, client: s3torch.S3Client, bucket: str, keys: list[str]) -> None:
        self.client, self.bucket, self.keys = client, bucket, keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> str:
        return digest(self.client.get_object_stream(self.bucket, self.keys[index]).read())


@pytest.mark.timeout(240)
@pytest.mark.parametrize("method", METHODS)
def test_dataloader_workers_read_with_a_pickled_client(
    client: s3torch.S3Client, bucket: str, method: str
) -> None:
    torch_data = pytest.importorskip("torch.utils.data")
    blobs = {f"sample-{i}": os.urandom(10_000 + i) for i in range(16)}
    for key, blob in blobs.items():
        put(client, bucket, key, blob)
    dataset = ObjectDataset(client, bucket, list(blobs))
    loader = torch_data.DataLoader(
        dataset, batch_size=4, num_workers=2, multiprocessing_context=method, timeout=120
    )
    seen = [item for batch in loader for item in batch]
    assert seen == [digest(blob) for blob in blobs.values()]
