"""A dataset's metrics(): how long each sample was waited for (per epoch, with percentiles) and
the cache's counters, summed over the DataLoader workers in the process that made the dataset."""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
import torch.utils.data
from hypothesis import given
from hypothesis import strategies as st

import s3torch
from s3torch import S3IterableDataset, S3MapDataset
from s3torch._datasets.metrics import EPOCHS_KEPT, DatasetMetrics, bucket_middle, bucket_of
from support.datasets import dataset_settings
from support.server import stocked_bucket

COUNT = 12


@given(st.integers(min_value=8, max_value=2**46))
def test_a_bucket_middle_is_within_7_percent_of_the_wait(ns: int) -> None:
    assert abs(bucket_middle(bucket_of(ns)) - ns) <= 0.0625 * ns


@given(st.integers(min_value=0, max_value=2**50), st.integers(min_value=0, max_value=2**50))
def test_buckets_keep_the_order_of_waits(a: int, b: int) -> None:
    if a <= b:
        assert bucket_of(a) <= bucket_of(b)


def test_percentiles_of_known_waits() -> None:
    metrics = DatasetMetrics()
    for us in range(1, 1001):
        metrics.waited(2, us * 1000)
    figures = metrics.snapshot()
    assert figures["wait.2.samples"] == 1000
    assert figures["wait.2.total_s"] == pytest.approx(sum(range(1, 1001)) / 1e6)
    assert figures["wait.2.p50_s"] == pytest.approx(500e-6, rel=0.07)
    assert figures["wait.2.p95_s"] == pytest.approx(950e-6, rel=0.07)
    assert figures["wait.2.p99_s"] == pytest.approx(990e-6, rel=0.07)
    assert figures["wait.2.max_s"] == pytest.approx(1e-3)
    assert "wait.1.samples" not in figures


def test_only_the_last_epochs_are_kept() -> None:
    metrics = DatasetMetrics()
    for epoch in range(EPOCHS_KEPT + 3):
        metrics.waited(epoch, 1000)
        metrics.flush()
    metrics.waited(0, 1000)  # too old: its record belongs to a later epoch now
    figures = metrics.snapshot()
    epochs = sorted(int(name.split(".")[1]) for name in figures if name.endswith(".samples"))
    assert epochs == list(range(3, EPOCHS_KEPT + 3))
    assert figures[f"wait.{EPOCHS_KEPT}.samples"] == 1


def _add_in_child(metrics: DatasetMetrics) -> None:
    metrics.add("cache.hits", 5)
    metrics.waited(1, 10_000)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_figures_of_other_processes_are_summed(method: str) -> None:
    metrics = DatasetMetrics()
    metrics.add("cache.hits", 1)  # not flushed before the fork: must not count twice
    context = multiprocessing.get_context(method)
    children = [context.Process(target=_add_in_child, args=(metrics,)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    figures = metrics.snapshot()
    assert figures["cache.hits"] == 11
    assert figures["wait.1.samples"] == 2


def test_a_dataset_unpickled_after_its_maker_is_gone_counts_alone() -> None:
    metrics = DatasetMetrics()
    metrics.waited(0, 5)
    copy = pickle.loads(pickle.dumps(metrics))
    os.unlink(metrics._path)
    stranded = pickle.loads(pickle.dumps(copy))
    stranded.waited(0, 5)
    assert stranded.snapshot()["wait.0.samples"] == 1


@pytest.fixture(scope="module")
def stored(s3_server: Any, module_client: s3torch.S3Client) -> Iterator[str]:
    objects = [(f"m/{i:02d}", b"%d" % i * 1000) for i in range(COUNT)]
    with stocked_bucket(s3_server, module_client, objects) as name:
        yield name


@pytest.fixture(scope="module")
def settings(s3_server: Any) -> dict[str, Any]:
    return dataset_settings(s3_server, force_path_style=True)


def read(reader: Any) -> bytes:
    return reader.read()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_waits_are_summed_over_dataloader_workers_per_epoch(
    stored: str, settings: dict[str, Any], method: str
) -> None:
    dataset = S3IterableDataset.from_prefix(
        f"s3://{stored}/m/", enable_sharding=True, shuffle=True, transform=read, **settings
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, num_workers=2, multiprocessing_context=method
    )
    for epoch in (0, 1):
        dataset.set_epoch(epoch)
        assert len(list(loader)) == COUNT
    figures = dataset.metrics()
    for epoch in (0, 1):
        assert figures[f"wait.{epoch}.samples"] == COUNT
        assert 0 < figures[f"wait.{epoch}.p50_s"] <= figures[f"wait.{epoch}.p99_s"]
        assert figures[f"wait.{epoch}.p99_s"] <= figures[f"wait.{epoch}.max_s"] * 1.07
        assert figures[f"wait.{epoch}.total_s"] >= figures[f"wait.{epoch}.max_s"]
    # No cache: nothing counted there.
    assert figures["cache.hits"] == figures["cache.misses"] == 0


def test_map_dataset_waits_count_each_item(stored: str, settings: dict[str, Any]) -> None:
    dataset = S3MapDataset.from_prefix(f"s3://{stored}/m/", transform=read, **settings)
    loader = torch.utils.data.DataLoader(dataset, batch_size=5, num_workers=2, collate_fn=list)
    assert sum(len(batch) for batch in loader) == COUNT
    assert dataset[3] == b"3" * 1000
    assert dataset.metrics()["wait.0.samples"] == COUNT + 1


def test_without_a_shared_file_a_dataset_still_counts_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from s3torch._datasets import metrics as metrics_module

    monkeypatch.setattr(metrics_module, "_shared_dir", lambda: str(tmp_path / "missing"))
    dataset = S3IterableDataset.from_prefix("s3://bkt/p/")
    dataset._objects.metrics.waited(0, 1000)
    assert dataset.metrics()["wait.0.samples"] == 1
    assert pickle.loads(pickle.dumps(dataset._objects.metrics)).snapshot()["cache.hits"] == 0
