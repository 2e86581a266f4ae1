"""Property tests of the datasets' arithmetic: sharding, epoch order, prefetch bounds, and the
compact listing table. No S3 needed."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3torch._datasets.prefetch import Prefetcher
from s3torch._datasets.sharding import ShardSpec, epoch_order, mix_seed, shard_positions
from s3torch._datasets.source import ObjectSource
from s3torch._datasets.table import ObjectRow, ObjectTable


@given(n=st.integers(0, 500), world=st.integers(1, 9), workers=st.integers(1, 9))
def test_shards_partition_the_positions(n: int, world: int, workers: int) -> None:
    seen: list[int] = []
    for rank in range(world):
        for worker in range(workers):
            seen += shard_positions(n, ShardSpec(rank, world, worker, workers))
    assert sorted(seen) == list(range(n))


@given(n=st.integers(0, 300), world=st.integers(1, 6), workers=st.integers(1, 6))
def test_a_ranks_share_does_not_depend_on_its_workers(n: int, world: int, workers: int) -> None:
    for rank in range(world):
        share = sorted(
            p
            for worker in range(workers)
            for p in shard_positions(n, ShardSpec(rank, world, worker, workers))
        )
        assert share == list(range(rank, n, world))


def test_bad_shard_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="rank 2"):
        shard_positions(10, ShardSpec(2, 2))
    with pytest.raises(ValueError, match="worker_id 3"):
        shard_positions(10, ShardSpec(0, 1, 3, 3))
    with pytest.raises(ValueError, match="num_items"):
        shard_positions(-1, ShardSpec())


@settings(max_examples=50)
@given(n=st.integers(0, 2000), seed=st.integers(0, 2**62), epoch=st.integers(0, 10**6))
def test_epoch_order_is_a_reproducible_permutation(n: int, seed: int, epoch: int) -> None:
    order = list(epoch_order(n, True, seed, epoch))
    assert sorted(order) == list(range(n))
    assert order == list(epoch_order(n, True, seed, epoch))
    assert list(epoch_order(n, False, seed, epoch)) == list(range(n))


def test_epochs_and_seeds_change_the_order() -> None:
    base = list(epoch_order(100, True, 1, 0))
    assert base != list(range(100))
    assert base != list(epoch_order(100, True, 1, 1))
    assert base != list(epoch_order(100, True, 2, 0))
    assert len({mix_seed(s, e) for s in range(50) for e in range(50)}) == 2500


@settings(max_examples=100)
@given(
    sizes=st.lists(st.integers(-1, 1000), max_size=60),
    max_objects=st.integers(0, 10),
    max_bytes=st.integers(0, 3000),
    unknown=st.integers(0, 500),
)
def test_prefetch_stays_within_its_bounds(
    sizes: list[int], max_objects: int, max_bytes: int, unknown: int
) -> None:
    opened: list[int] = []
    prefetcher = Prefetcher(
        range(len(sizes)),
        lambda i: opened.append(i) or i,
        sizes.__getitem__,
        max_objects,
        max_bytes,
        unknown,
    )
    taken: list[int] = []
    for item in prefetcher:
        taken.append(item)
        waiting = opened[len(taken) :]
        weight = sum(unknown if sizes[i] < 0 else sizes[i] for i in waiting)
        assert prefetcher.in_flight == len(waiting) <= max_objects
        assert prefetcher.in_flight_bytes == weight
        assert len(waiting) <= 1 or weight <= max_bytes
        if max_objects and item + 1 < len(sizes):
            assert waiting, "nothing in flight ahead of the item handed over"
    assert taken == opened == list(range(len(sizes)))


def test_the_table_keeps_every_field_and_pickles() -> None:
    rows = [
        ObjectRow("b1", "k/é.bin", 10, '"etag1"', 1700000000000),
        ObjectRow("b2", "other", -1, "", 0),
        ObjectRow("b1", "x" * 900, 0, '"e"', 5),
    ]
    table = pickle.loads(pickle.dumps(ObjectTable.build(rows)))
    assert len(table) == 3
    assert [table.row(i) for i in range(3)] == rows
    assert table.uri(1) == "s3://b2/other" and table.object_info(1) is None
    info = table.object_info(0)
    assert info is not None
    assert (info.key, info.size, info.etag, info.last_modified) == rows[0][1:]


def test_overlapping_prefixes_are_listed_once() -> None:
    source = ObjectSource.from_prefixes(
        [
            "s3://bkt/data/train/",
            "s3://bkt/data/",
            "s3://ckt/data/x",
            "s3://bkt/data/",
            "s3://bkt/e",
        ]
    )
    assert source.prefix_uris == ["s3://bkt/data/", "s3://ckt/data/x", "s3://bkt/e"]
