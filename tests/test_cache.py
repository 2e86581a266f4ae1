"""The local cache across epochs (cache_dir=, cache_size=): what it keeps, that it changes no
sample and no order, that it beats LRU on shuffled epochs, and that it stays correct when
several processes share it, when entries go stale or corrupt, and when the disk fills up."""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import multiprocessing
import os
import random
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch.utils.data

import s3torch
from s3torch import S3IterableDataset, S3MapDataset, S3TarDataset
from s3torch._datasets.cache import admitted_mask, entry_overhead
from s3torch._datasets.table import ObjectRow, ObjectTable
from support.datasets import dataset_settings
from support.server import put, stocked_bucket

COUNT = 60


def body(i: int) -> bytes:
    # 20 to 100 KiB, of content unique to the object.
    size = 20 * 1024 + (i * 7919) % (80 * 1024)
    return (f"{i:05d}".encode() * (size // 5 + 1))[:size]


def read_item(reader: Any) -> tuple[str, bytes]:
    return reader.key, reader.read()


@pytest.fixture(scope="module")
def stored(
    s3_server: Any, module_client: s3torch.S3Client
) -> Iterator[tuple[str, dict[str, bytes]]]:
    objects = {f"data/{i:03d}.bin": body(i) for i in range(COUNT)}
    with stocked_bucket(s3_server, module_client, objects.items()) as name:
        yield name, objects


@pytest.fixture(scope="module")
def settings(s3_server: Any) -> dict[str, Any]:
    return dataset_settings(s3_server, force_path_style=True)


def total_bytes(objects: dict[str, bytes]) -> int:
    return sum(map(len, objects.values()))


def iterable(
    bucket: str, settings: dict[str, Any], prefix: str = "data/", **kwargs: Any
) -> S3IterableDataset:
    arguments = {"transform": read_item, "shuffle": True, "seed": 3, **settings, **kwargs}
    return S3IterableDataset.from_prefix(f"s3://{bucket}/{prefix}", **arguments)


def entries(cache_dir: Path) -> list[Path]:
    return [p for p in cache_dir.rglob("*") if p.is_file()]


def disk_use(cache_dir: Path) -> int:
    return sum(p.stat().st_size for p in entries(cache_dir))


def delta(after: dict[str, float], before: dict[str, float], name: str) -> float:
    return after.get(name, 0) - before.get(name, 0)


# -- policy, without S3 ---------------------------------------------------------------------------


def synthetic_table(count: int, seed: int = 0) -> ObjectTable:
    rng = random.Random(seed)
    return ObjectTable.build(
        ObjectRow("b", f"k/{i:06d}", rng.randint(1_000, 100_000), f'"{i:032x}"', 0)
        for i in range(count)
    )


def refetched_fraction(sizes: list[int], cached: Any, epochs: int, seed: int = 0) -> float:
    """Bytes fetched from S3 in epochs 2.. over the bytes read then, for shuffled epochs;
    ``cached(order)`` yields, per object read, whether it came from the cache."""
    total = fetched = 0
    rng = random.Random(seed)
    for epoch in range(epochs):
        order = list(range(len(sizes)))
        rng.shuffle(order)
        for i, hit in zip(order, cached(order)):
            if epoch:
                total += sizes[i]
                fetched += 0 if hit else sizes[i]
    return fetched / total


def lru(sizes: list[int], capacity: int) -> Any:
    held: collections.OrderedDict[int, int] = collections.OrderedDict()
    used = [0]

    def cached(order: list[int]) -> Iterator[bool]:
        for i in order:
            if i in held:
                held.move_to_end(i)
                yield True
                continue
            yield False
            held[i] = sizes[i]
            used[0] += sizes[i]
            while used[0] > capacity:
                used[0] -= held.popitem(last=False)[1]

    return cached


def test_the_kept_subset_fits_and_depends_only_on_the_listing() -> None:
    table = synthetic_table(2_000)
    sizes = [table.size(i) for i in range(len(table))]
    cache_size = sum(sizes) // 2
    mask = admitted_mask(table, cache_size)
    kept = sum(sizes[i] + entry_overhead(table.row(i)) for i in range(len(table)) if mask[i])
    assert kept <= cache_size
    assert kept >= 0.97 * cache_size  # small objects fill the gaps the large ones leave
    # The same listing in another order (another process's, a reversed listing) keeps the
    # same objects.
    reordered = ObjectTable.build(table.row(i) for i in reversed(range(len(table))))
    again = admitted_mask(reordered, cache_size)
    assert {table.key(i) for i in range(len(table)) if mask[i]} == {
        reordered.key(i) for i in range(len(reordered)) if again[i]
    }


def test_objects_of_unknown_size_are_never_kept() -> None:
    table = ObjectTable.build([ObjectRow("b", "named", -1, "", 0), ObjectRow("b", "x", 5, "e", 0)])
    assert list(admitted_mask(table, 1 << 30)) == [0, 1]


def test_the_kept_subset_refetches_about_half_where_lru_refetches_nearly_all() -> None:
    table = synthetic_table(2_000, seed=1)
    sizes = [table.size(i) for i in range(len(table))]
    capacity = sum(sizes) // 2
    mask = admitted_mask(table, capacity)

    def kept(order: list[int]) -> Iterator[bool]:
        return (bool(mask[i]) for i in order)

    ours = refetched_fraction(sizes, kept, epochs=5)
    theirs = refetched_fraction(sizes, lru(sizes, capacity), epochs=5)
    assert ours <= 0.55
    # LRU keeps only what the end of the last epoch read; a shuffled epoch asks for most of
    # it after it has been evicted again (about 85% refetched here).
    assert theirs >= 0.8
    assert theirs - ours >= 0.25


# -- arguments ------------------------------------------------------------------------------------


def test_cache_arguments_are_checked(tmp_path: Path) -> None:
    make = S3IterableDataset.from_prefix
    with pytest.raises(TypeError, match="cache_size"):
        make("s3://bkt/p/", cache_dir=tmp_path)
    with pytest.raises(TypeError, match="cache_dir"):
        make("s3://bkt/p/", cache_size=100)
    with pytest.raises(ValueError, match="cache_size"):
        S3MapDataset.from_prefix("s3://bkt/p/", cache_dir=tmp_path, cache_size=0)
    with pytest.raises(TypeError, match="cache_size"):
        S3TarDataset.from_prefix("s3://bkt/p/", cache_dir=tmp_path, cache_size="1G")
    with pytest.raises(TypeError, match="cache_size"):
        make("s3://bkt/p/", cache_dir=tmp_path, cache_size=True)
    with pytest.raises(TypeError, match="cache_dir"):
        make("s3://bkt/p/", cache_dir=3, cache_size=100)


# -- against the server ---------------------------------------------------------------------------


def test_the_cache_changes_no_sample_and_no_order(
    stored: tuple[str, dict[str, bytes]], settings: dict[str, Any], tmp_path: Path
) -> None:
    bucket, objects = stored
    plain = iterable(bucket, settings)
    cached = iterable(bucket, settings, cache_dir=tmp_path, cache_size=total_bytes(objects) // 2)
    for epoch in range(3):
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        expected = list(plain)
        assert sorted(expected) == sorted(objects.items())
        assert list(cached) == expected


def test_a_dataset_twice_the_cache_fetches_at_most_55_percent_again(
    stored: tuple[str, dict[str, bytes]], settings: dict[str, Any], tmp_path: Path
) -> None:
    bucket, objects = stored
    total = total_bytes(objects)
    dataset = iterable(bucket, settings, cache_dir=tmp_path, cache_size=total // 2)
    before = dataset.metrics()
    assert sum(len(d) for _, d in dataset) == total
    first = dataset.metrics()
    assert delta(first, before, "cache.bytes_from_s3") == total
    for epoch in (1, 2):
        dataset.set_epoch(epoch)
        start = dataset.metrics()
        assert sum(len(d) for _, d in dataset) == total
        end = dataset.metrics()
        fetched = delta(end, start, "cache.bytes_from_s3")
        assert fetched + delta(end, start, "cache.bytes_from_cache") == total
        assert fetched <= 0.55 * total
        assert delta(end, start, "cache.hits") + delta(end, start, "cache.misses") == COUNT
    assert disk_use(tmp_path) <= total // 2


def test_a_cache_that_holds_everything_serves_epoch_two_from_disk(
    stored: tuple[str, dict[str, bytes]], settings: dict[str, Any], tmp_path: Path
) -> None:
    bucket, objects = stored
    dataset = S3MapDataset.from_prefix(
        f"s3://{bucket}/data/",
        transform=read_item,
        cache_dir=tmp_path,
        cache_size=2 * total_bytes(objects),
        **settings,
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=8, num_workers=2, collate_fn=lambda batch: batch
    )
    for _ in range(2):
        seen = [item for batch in loader for item in batch]
        assert sorted(seen) == sorted(objects.items())
    metrics = dataset.metrics()
    # Counted in the workers, summed here.
    assert metrics["cache.misses"] == COUNT
    assert metrics["cache.hits"] == COUNT
    assert metrics["cache.bytes_from_cache"] == total_bytes(objects)
    assert metrics["wait.0.samples"] == 2 * COUNT


def test_a_changed_object_is_fetched_again_not_served_stale(
    s3_server: Any, client: s3torch.S3Client, settings: dict[str, Any], tmp_path: Path
) -> None:
    old = [(f"s/{i}", b"old %d" % i * 100) for i in range(3)]
    with stocked_bucket(s3_server, client, old) as bucket:
        first = iterable(bucket, settings, "s/", cache_dir=tmp_path, cache_size=1 << 20)
        assert {k: d for k, d in first} == dict(old)
        put(client, bucket, "s/1", b"new content, another size")
        second = iterable(bucket, settings, "s/", cache_dir=tmp_path, cache_size=1 << 20)
        assert dict(second)["s/1"] == b"new content, another size"
        metrics = second.metrics()
        assert metrics["cache.stale"] == 1
        assert metrics["cache.hits"] == 2
        third = iterable(bucket, settings, "s/", cache_dir=tmp_path, cache_size=1 << 20)
        assert dict(third)["s/1"] == b"new content, another size"
        assert third.metrics()["cache.hits"] == 3


def test_a_corrupt_entry_is_detected_and_fetched_again(
    stored: tuple[str, dict[str, bytes]], settings: dict[str, Any], tmp_path: Path
) -> None:
    bucket, objects = stored
    size = 2 * total_bytes(objects)
    list(iterable(bucket, settings, cache_dir=tmp_path, cache_size=size))
    files = sorted(entries(tmp_path))
    assert len(files) == COUNT
    flipped = files[0].read_bytes()
    files[0].write_bytes(flipped[:-10] + bytes(b ^ 0xFF for b in flipped[-10:]))
    files[1].write_bytes(files[1].read_bytes()[:100])  # torn: cut short
    dataset = iterable(bucket, settings, cache_dir=tmp_path, cache_size=size)
    assert dict(dataset) == objects
    metrics = dataset.metrics()
    assert metrics["cache.corrupt"] == 2
    assert metrics["cache.hits"] == COUNT - 2
    again = iterable(bucket, settings, cache_dir=tmp_path, cache_size=size)
    assert dict(again) == objects
    assert again.metrics()["cache.hits"] == COUNT  # rewritten whole


def test_a_smaller_cache_evicts_down_to_its_size(
    stored: tuple[str, dict[str, bytes]], settings: dict[str, Any], tmp_path: Path
) -> None:
    bucket, objects = stored
    total = total_bytes(objects)
    list(iterable(bucket, settings, cache_dir=tmp_path, cache_size=2 * total))
    (tmp_path / "s3torch-cache-v1" / "00").mkdir(exist_ok=True)
    leftover = tmp_path / "s3torch-cache-v1" / "00" / ".x.1.ab.tmp"
    leftover.write_bytes(b"a writer that died")
    os.utime(leftover, (0, 0))
    smaller = iterable(bucket, settings, cache_dir=tmp_path, cache_size=total // 4)
    assert len(smaller) == COUNT  # lists, and evicts
    assert disk_use(tmp_path) <= total // 4
    assert not leftover.exists()
    assert dict(smaller) == objects


def test_tar_shards_are_cached_whole(
    s3_server: Any, client: s3torch.S3Client, settings: dict[str, Any], tmp_path: Path
) -> None:
    import io
    import tarfile

    shards = []
    for shard in range(4):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for i in range(5):
                data = f"{shard}-{i}".encode() * 50
                info = tarfile.TarInfo(f"s{shard}/{i:03d}.txt")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        shards.append((f"shards/{shard}.tar", out.getvalue()))
    with stocked_bucket(s3_server, client, shards) as bucket:

        def make() -> S3TarDataset:
            return S3TarDataset.from_prefix(
                f"s3://{bucket}/shards/",
                shuffle=True,
                seed=1,
                cache_dir=tmp_path,
                cache_size=1 << 20,
                **settings,
            )

        plain = S3TarDataset.from_prefix(f"s3://{bucket}/shards/", shuffle=True, seed=1, **settings)
        expected = list(plain)
        assert len(expected) == 20
        assert list(make()) == expected
        second = make()
        assert list(second) == expected
        metrics = second.metrics()
        assert metrics["cache.hits"] == 4
        assert metrics["cache.bytes_from_s3"] == 0
        assert metrics["wait.0.samples"] == 20


def _hammer(arguments: tuple[str, dict[str, Any], str, int, int]) -> int:
    bucket, settings, cache_dir, cache_size, rank = arguments
    dataset = iterable(bucket, settings, cache_dir=cache_dir, cache_size=cache_size)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=2)
    checked = 0
    for epoch in range(2):
        dataset.set_epoch(epoch + rank)
        for key, data in loader:
            assert data == body(int(key[5:8])), key
            checked += 1
    return checked


def test_many_processes_share_one_cache_dir(
    stored: tuple[str, dict[str, bytes]], settings: dict[str, Any], tmp_path: Path
) -> None:
    bucket, objects = stored
    cache_size = total_bytes(objects) // 2
    context = multiprocessing.get_context("spawn")
    # Not a multiprocessing.Pool: its daemonic processes may not start DataLoader workers.
    with concurrent.futures.ProcessPoolExecutor(3, mp_context=context) as pool:
        counts = list(
            pool.map(_hammer, [(bucket, settings, str(tmp_path), cache_size, r) for r in range(3)])
        )
    # Without sharding every worker reads every object.
    assert counts == [2 * 2 * COUNT] * 3
    assert disk_use(tmp_path) <= cache_size
    assert not [p for p in entries(tmp_path) if p.name.endswith(".tmp")]
    check = iterable(bucket, settings, cache_dir=tmp_path, cache_size=cache_size)
    assert dict(check) == objects
    metrics = check.metrics()
    assert metrics["cache.corrupt"] == metrics["cache.stale"] == 0
    assert metrics["cache.bytes_from_cache"] >= 0.45 * total_bytes(objects)


@contextlib.contextmanager
def mounted(where: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at *where* with *options* for the ``with`` block, or skip the test where
    mounting is not allowed."""
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, or skip where mounting is not allowed."""
    with mounted(tmp_path / "small", "size=1m") as where:
        yield where


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs, or skip where mounting is not allowed."""
    with mounted(tmp_path / "ro", "size=1m,ro") as where:
        yield where


def test_a_full_disk_degrades_to_streaming_with_one_warning(
    stored: tuple[str, dict[str, bytes]], settings: dict[str, Any], small_disk: Path
) -> None:
    bucket, objects = stored
    assert total_bytes(objects) > 2 * 1024 * 1024
    dataset = iterable(bucket, settings, cache_dir=small_disk, cache_size=1 << 30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in range(2):
            dataset.set_epoch(epoch)
            assert dict(dataset) == objects
    full = [w for w in caught if "cannot write" in str(w.message)]
    assert len(full) == 1, [str(w.message) for w in caught]
    assert "No space left" in str(full[0].message)
    metrics = dataset.metrics()
    assert metrics["cache.write_failures"] >= 1
    assert metrics["cache.hits"] > 0  # what fitted is served
    assert not [p for p in entries(small_disk) if p.name.endswith(".tmp")]


def test_a_read_only_disk_streams_with_one_warning(
    stored: tuple[str, dict[str, bytes]], settings: dict[str, Any], read_only_disk: Path
) -> None:
    bucket, objects = stored
    dataset = iterable(bucket, settings, cache_dir=read_only_disk, cache_size=1 << 30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert dict(dataset) == objects
    assert [str(w.message) for w in caught if "cannot write" in str(w.message)] == [
        f"s3torch cache: cannot write to {read_only_disk}/s3torch-cache-v1 "
        "(Read-only file system); objects not cached yet are streamed from S3"
    ]
    assert dataset.metrics()["cache.bytes_from_s3"] == total_bytes(objects)


def test_an_unshuffled_pass_lists_first_then_serves_from_the_cache(
    stored: tuple[str, dict[str, bytes]], settings: dict[str, Any], tmp_path: Path
) -> None:
    bucket, objects = stored
    size = 2 * total_bytes(objects)
    first = iterable(bucket, settings, shuffle=False, cache_dir=tmp_path, cache_size=size)
    assert list(first) == sorted(objects.items())
    again = iterable(bucket, settings, shuffle=False, cache_dir=tmp_path, cache_size=size)
    assert list(again) == sorted(objects.items())
    assert again.metrics()["cache.hits"] == COUNT
    by_index = S3MapDataset.from_prefix(
        f"s3://{bucket}/data/", transform=read_item, cache_dir=tmp_path, cache_size=size, **settings
    )
    assert by_index[5] == sorted(objects.items())[5]
    assert by_index.metrics()["cache.hits"] == 1
