"""One listing per job: with ``share_listing=True`` under ``torch.distributed``, rank 0 lists and
the other ranks receive the table, so a job sends its ListObjectsV2 requests once.

The two-rank job is real: two processes started by ``torch.multiprocessing.spawn``, a gloo
process group over a file store, each counting the ListObjectsV2 requests of its dataset's
client (``S3Client.metrics()``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from s3torch import S3IterableDataset, S3MapDataset, S3TarDataset
from s3torch._datasets.shared_listing import ListingFailed, shared_table
from s3torch._datasets.table import ObjectRow, ObjectTable
from support.datasets import dataset_settings
from support.server import stocked_bucket

KEYS = [f"data/{i:03d}.bin" for i in range(40)] + ["data/é 😀 x.bin"]


def _list_requests(*datasets: Any) -> int:
    # A dataset's client is None when it made none, so sent nothing; datasets of one process
    # with the same settings share one client, counted once.
    clients = {id(d._objects._client): d._objects._client for d in datasets}
    return sum(
        client.metrics().get("requests.ListObjectsV2", 0)
        for client in clients.values()
        if client is not None
    )


def _rank(rank: int, store: str, out: str, uri: str, server: Any) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        kwargs = dataset_settings(server)  # static credentials do not travel in pickles
        iterable = S3IterableDataset.from_prefix(
            uri, share_listing=True, list_concurrency=1, **kwargs
        )
        mapped = S3MapDataset.from_prefix(uri, share_listing=True, list_concurrency=1, **kwargs)
        result = {
            "requests": _list_requests(iterable, mapped),
            "keys": [row.key for row in iterable._objects.stream_rows()],
            "map_keys": [mapped[i].key for i in range(len(mapped))],
        }
        Path(out, f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def test_two_ranks_list_once(s3_server: Any, module_client: Any, tmp_path: Path) -> None:
    with stocked_bucket(s3_server, module_client, [(k, b"x") for k in KEYS]) as bucket:
        uri = f"s3://{bucket}/data/"
        mp.spawn(
            _rank,
            args=(str(tmp_path / "store"), str(tmp_path), uri, s3_server),
            nprocs=2,
            join=True,
        )
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    expected = sorted(KEYS, key=lambda k: k.encode())
    # Two datasets, one page each: two ListObjectsV2 requests in the whole job, all rank 0's.
    assert [r["requests"] for r in results] == [2, 0]
    for result in results:
        assert result["keys"] == expected
        assert result["map_keys"] == expected


def test_without_a_process_group_it_lists_here(s3_server: Any, module_client: Any) -> None:
    assert not dist.is_initialized()
    with stocked_bucket(s3_server, module_client, [(k, b"x") for k in KEYS[:5]]) as bucket:
        dataset = S3IterableDataset.from_prefix(
            f"s3://{bucket}/data/", share_listing=True, **dataset_settings(s3_server)
        )
        # Listed at construction, as under a process group, by this process alone.
        assert _list_requests(dataset) >= 1
        assert [obj.key for obj in dataset] == KEYS[:5]


def test_the_option_is_checked() -> None:
    with pytest.raises(TypeError, match="share_listing must be a bool"):
        S3MapDataset.from_prefix("s3://bucket/p/", share_listing=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="list_concurrency"):
        S3TarDataset.from_prefix("s3://bucket/p/", list_concurrency=0)


def _failing_rank(rank: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:

        def list_table() -> ObjectTable:
            if rank == 0:
                raise OSError("no listing today")
            raise AssertionError("only rank 0 lists")

        try:
            shared_table(list_table, ["s3://b/p/"])
        except (OSError, ListingFailed) as error:
            Path(out, f"rank{rank}.txt").write_text(f"{type(error).__name__}: {error}")
    finally:
        dist.destroy_process_group()


def test_a_failed_listing_on_rank_0_fails_every_rank(tmp_path: Path) -> None:
    mp.spawn(_failing_rank, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    assert (tmp_path / "rank0.txt").read_text() == "OSError: no listing today"
    assert (
        (tmp_path / "rank1.txt")
        .read_text()
        .startswith("ListingFailed: rank 0 failed to list s3://b/p/: OSError: no listing today")
    )


def test_one_rank_lists_itself() -> None:
    table = ObjectTable.build([ObjectRow("b", "k", 1, "", 0)])
    assert shared_table(lambda: table, ["s3://b/"]) is table
