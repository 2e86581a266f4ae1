"""The listing shared, not copied: workers started by spawn or forkserver map the table their
parent wrote once to a file, instead of each unpickling a copy (fork shares it as it is)."""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
import torch.utils.data

import s3torch
from s3torch import S3ClientConfig, S3IterableDataset
from s3torch._datasets import table as table_module
from s3torch._datasets.manifest import dump_manifest, load_manifest
from s3torch._datasets.table import ObjectRow, ObjectTable
from support.server import stocked_bucket


def make_table(count: int) -> ObjectTable:
    return ObjectTable.build(
        ObjectRow(
            "bkt" if i % 3 else "other",
            f"train/ünï cödé/{i:09d}.jpg",
            i * 7,
            f'"{i:032x}-{i % 5}"' if i % 2 else f"plain-{i}",
            1_700_000_000 + i,
        )
        for i in range(count)
    )


def rows(table: ObjectTable) -> list[ObjectRow]:
    return [table.row(i) for i in range(len(table))]


def describe(table: ObjectTable, results: Any) -> None:
    results.put((type(table._keys).__name__, rows(table), dump_manifest(table, ["s3://bkt/x/"])))


def anonymous_kib(table: ObjectTable, results: Any) -> None:
    """Touch every key, then report this process's private (anonymous) memory."""
    assert sum(len(table.key(i)) for i in range(len(table))) > 0
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    results.put(int(fields["RssAnon"].split()[0]))


def run_child(method: str, target: Any, table: ObjectTable) -> Any:
    context = multiprocessing.get_context(method)
    results = context.Queue()
    child = context.Process(target=target, args=(table, results))
    child.start()
    try:
        return results.get(timeout=120)
    finally:
        child.join(60)
        assert child.exitcode == 0


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_a_child_reads_the_same_table_without_a_copy(method: str) -> None:
    table = make_table(30_000)
    kind, seen, manifest = run_child(method, describe, table)
    # spawn and forkserver map the parent's file; fork inherits the parent's buffers.
    assert kind == ("bytes" if method == "fork" else "memoryview")
    assert seen == rows(table)
    # A shared table saves the same manifest as the one it came from.
    again, _ = load_manifest(manifest, "child manifest")
    assert rows(again) == rows(table)


def test_a_small_table_is_copied_and_a_plain_pickle_copies() -> None:
    small = make_table(10)
    assert run_child("spawn", describe, small)[0] == "bytes"
    big = make_table(30_000)
    run_child("spawn", describe, big)
    # Outside a process start (saving a dataset, say), the table pickles whole, not as a path.
    copy = pickle.loads(pickle.dumps(big))
    assert type(copy._keys) is bytes
    assert rows(copy) == rows(big)


def test_the_shared_file_is_removed_with_the_table() -> None:
    table = make_table(30_000)
    run_child("spawn", describe, table)
    path = table._shared[0] if table._shared else ""
    assert os.path.exists(path)
    del table
    assert not os.path.exists(path)


def test_children_hold_no_private_copy_of_a_shared_table(monkeypatch: pytest.MonkeyPatch) -> None:
    table = make_table(300_000)
    size_kib = table.nbytes() // 1024
    shared = run_child("spawn", anonymous_kib, table)
    monkeypatch.setattr(table_module, "SHARE_AT_BYTES", 1 << 62)
    copied = run_child("spawn", anonymous_kib, make_table(300_000))
    assert copied - shared >= 0.6 * size_kib, (shared, copied, size_kib)


@pytest.fixture(scope="module")
def stored(s3_server: Any, module_client: s3torch.S3Client) -> Iterator[str]:
    with stocked_bucket(
        s3_server, module_client, [(f"s/{i}", b"%d" % i) for i in range(4)]
    ) as name:
        yield name


def check_shared(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    assert info is not None
    objects = info.dataset._objects  # type: ignore[union-attr]
    assert objects.listed
    assert isinstance(objects.table()._keys, memoryview)


def read(reader: Any) -> bytes:
    return reader.read()


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_dataloader_workers_map_the_listing(
    stored: str, s3_server: Any, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(table_module, "SHARE_AT_BYTES", 0)
    dataset = S3IterableDataset.from_prefix(
        f"s3://{stored}/s/",
        region=s3_server.region,
        endpoint=s3_server.endpoint,
        s3client_config=S3ClientConfig(
            access_key_id=s3_server.access_key,
            secret_access_key=s3_server.secret_key,
            force_path_style=True,
        ),
        enable_sharding=True,
        transform=read,
    )
    dataset.set_epoch(0)  # lists here, once
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        num_workers=2,
        multiprocessing_context=method,
        worker_init_fn=check_shared,
    )
    assert sorted(loader) == [b"0", b"1", b"2", b"3"]
