"""S3MapDataset: listing once, item access, batched concurrent GETs, samplers and workers."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from multiprocessing.reduction import ForkingPickler
from typing import Any

import pytest
import torch.utils.data

import s3torch
from s3torch.s3map_dataset import S3MapDataset
from s3torch.s3reader import S3Reader
from support.datasets import GetRecorder, ListOnce, dataset_settings
from support.server import stocked_bucket

COUNT = 24


def body(key: str) -> bytes:
    """Distinct, key-derived contents of 1 to ~1.2 KB."""
    return key.encode() * (1 + sum(key.encode()) % 40)


def read_item(reader: S3Reader) -> tuple[str, bytes]:
    return reader.key, reader.read()


@pytest.fixture(scope="module")
def stored(s3_server: Any, module_client: s3torch.S3Client) -> Iterator[tuple[str, list[str]]]:
    """A bucket with COUNT objects under "data/" and 3 under "other/", for reading only."""
    keys = [f"data/{i:03d}.bin" for i in range(COUNT)] + [f"other/{i}.bin" for i in range(3)]
    with stocked_bucket(s3_server, module_client, [(key, body(key)) for key in keys]) as name:
        yield name, keys


def dataset_under(s3_server: Any, bucket: str, prefix: str, **options: Any) -> S3MapDataset:
    """S3MapDataset.from_prefix over s3://bucket/prefix, reaching the test server."""
    return S3MapDataset.from_prefix(
        f"s3://{bucket}/{prefix}", **options, **dataset_settings(s3_server)
    )


def test_from_prefix_lists_in_key_order_and_reads_each_object(
    s3_server: Any, stored: tuple[str, list[str]]
) -> None:
    bucket, keys = stored
    dataset = dataset_under(s3_server, bucket, "data/", transform=read_item)
    assert len(dataset) == COUNT
    assert [dataset[i] for i in range(COUNT)] == [(k, body(k)) for k in keys[:COUNT]]
    assert dataset[-1] == dataset[COUNT - 1]
    assert dataset.region == s3_server.region
    assert dataset.endpoint == s3_server.endpoint


def test_default_transform_returns_a_reader(s3_server: Any, stored: tuple[str, list[str]]) -> None:
    bucket, _keys = stored
    dataset = dataset_under(s3_server, bucket, "other/")
    reader = dataset[1]
    assert isinstance(reader, S3Reader)
    assert (reader.bucket, reader.key) == (bucket, "other/1.bin")
    # The listed size is handed to the reader: seeking from the end needs no HEAD.
    assert reader.seek(0, 2) == len(body("other/1.bin"))


def test_several_prefixes_are_listed_in_order_and_overlaps_count_once(
    s3_server: Any, stored: tuple[str, list[str]]
) -> None:
    bucket, keys = stored
    dataset = S3MapDataset.from_prefix(
        [f"s3://{bucket}/other/", f"s3://{bucket}/data/", f"s3://{bucket}/data/00"],
        transform=lambda reader: reader.key,
        **dataset_settings(s3_server),
    )
    assert [dataset[i] for i in range(len(dataset))] == keys[COUNT:] + keys[:COUNT]


def test_from_objects_keeps_the_given_order_without_listing(
    s3_server: Any, stored: tuple[str, list[str]]
) -> None:
    bucket, keys = stored
    chosen = [keys[5], keys[COUNT], keys[0], keys[5]]
    dataset = S3MapDataset.from_objects(
        [f"s3://{bucket}/{k}" for k in chosen], transform=read_item, **dataset_settings(s3_server)
    )
    assert [dataset[i] for i in range(len(dataset))] == [(k, body(k)) for k in chosen]
    single = S3MapDataset.from_objects(f"s3://{bucket}/{keys[1]}", **dataset_settings(s3_server))
    assert len(single) == 1


def test_a_missing_object_fails_when_read_naming_it(
    s3_server: Any, stored: tuple[str, list[str]]
) -> None:
    bucket, _ = stored
    dataset = S3MapDataset.from_objects(
        f"s3://{bucket}/no/such.bin", transform=read_item, **dataset_settings(s3_server)
    )
    with pytest.raises(FileNotFoundError, match=r"no/such\.bin"):
        dataset[0]


def test_an_empty_prefix_gives_an_empty_dataset(
    s3_server: Any, stored: tuple[str, list[str]]
) -> None:
    bucket, _ = stored
    dataset = dataset_under(s3_server, bucket, "nothing-here/")
    assert len(dataset) == 0
    with pytest.raises(IndexError, match="out of range for 0 objects"):
        dataset[0]


def test_indexing_errors(s3_server: Any, stored: tuple[str, list[str]]) -> None:
    bucket, _ = stored
    dataset = dataset_under(s3_server, bucket, "other/")
    with pytest.raises(IndexError, match="index 3 is out of range for 3"):
        dataset[3]
    with pytest.raises(IndexError):
        dataset[-4]
    with pytest.raises(TypeError):
        dataset["0"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: S3MapDataset.from_prefix("http://bucket/x"), ValueError, "http://bucket/x"),
        (lambda: S3MapDataset.from_prefix([]), ValueError, "at least one"),
        (lambda: S3MapDataset.from_prefix(b"s3://b/x"), TypeError, "bytes"),  # type: ignore[arg-type]
        (lambda: S3MapDataset.from_prefix(["s3://bkt/", 3]), TypeError, "int"),  # type: ignore[list-item]
        (
            lambda: S3MapDataset.from_objects("s3://bucket"),
            ValueError,
            "names a bucket, not an object",
        ),
        (lambda: S3MapDataset.from_objects(["s3://bucket/k", "s3:/x"]), ValueError, "s3:/x"),
        (lambda: S3MapDataset.from_prefix("s3://bkt/", transform=3), TypeError, "transform"),  # type: ignore[arg-type]
        (lambda: S3MapDataset.from_prefix("s3://bkt/", region=1), TypeError, "region"),  # type: ignore[arg-type]
        (lambda: S3MapDataset.from_prefix("s3://bkt/", prefetch_bytes=-1), ValueError, "prefetch"),
        (lambda: S3MapDataset(None, 5), TypeError, "get_dataset_objects"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_raise_typed_errors_naming_them(call: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_the_constructor_takes_get_dataset_objects_and_lists_once(
    s3_server: Any, stored: tuple[str, list[str]]
) -> None:
    bucket, _keys = stored
    source = ListOnce(bucket, "other/")
    dataset = S3MapDataset(
        s3_server.region,
        source,
        s3_server.endpoint,
        transform=read_item,
        s3client_config=dataset_settings(s3_server)["s3client_config"],
    )
    assert len(dataset) == 3
    assert dataset[2] == ("other/2.bin", body("other/2.bin"))
    assert len(dataset) == 3 and source.calls == 1
    # The copy a DataLoader worker gets carries the listing (and the static credentials).
    copy = pickle.loads(ForkingPickler.dumps(dataset))
    assert [copy[i] for i in range(3)] == [dataset[i] for i in range(3)]


class Recorder(GetRecorder):
    """A reader constructor that records when each object's GET starts and each transform runs."""

    def transform(self, reader: S3Reader) -> bytes:
        self.events.append(("transform", reader.key))
        return reader.read()


def recorded_dataset(s3_server: Any, bucket: str, **prefetch: int) -> tuple[Recorder, S3MapDataset]:
    """A dataset over "data/" and the recorder of its GETs and transforms, in order."""
    recorder = Recorder()
    dataset = dataset_under(
        s3_server,
        bucket,
        "data/",
        transform=recorder.transform,
        reader_constructor=recorder,
        **prefetch,
    )
    return recorder, dataset


@pytest.mark.parametrize(("limit", "ahead"), [(64, 5), (2, 2), (0, 0)])
def test_getitems_starts_the_batch_gets_before_transforming(
    s3_server: Any, stored: tuple[str, list[str]], limit: int, ahead: int
) -> None:
    bucket, keys = stored
    recorder, dataset = recorded_dataset(s3_server, bucket, prefetch_objects=limit)
    indices = [7, 3, 11, 0, 19, 2]
    assert dataset.__getitems__(indices) == [body(keys[i]) for i in indices]
    events = recorder.events
    first_transform = events.index(("transform", keys[7]))
    # The first item's GET plus `ahead` more were under way before the first transform.
    assert events[:first_transform] == [("GET", keys[i]) for i in indices[: 1 + ahead]]
    assert [k for e, k in events if e == "transform"] == [keys[i] for i in indices]
    assert sorted(k for e, k in events if e == "GET") == sorted(keys[i] for i in indices)


def test_getitems_respects_the_byte_bound(s3_server: Any, stored: tuple[str, list[str]]) -> None:
    bucket, keys = stored
    sizes = {k: len(body(k)) for k in keys}
    budget = 2000
    recorder, dataset = recorded_dataset(s3_server, bucket, prefetch_bytes=budget)
    dataset.__getitems__(list(range(COUNT)))
    waiting: list[str] = []
    started = False
    for event, key in recorder.events:
        if event == "GET":
            if started:
                waiting.append(key)
            started = True  # the first GET is the item handed over at once
        elif waiting and waiting[0] == key:
            waiting.pop(0)
        # Prefetched but not yet handed over: within the budget, or a single object.
        assert len(waiting) <= 1 or sum(sizes[k] for k in waiting) <= budget


def test_dataloader_batches_through_getitems_with_a_distributed_sampler(
    s3_server: Any, stored: tuple[str, list[str]]
) -> None:
    bucket, keys = stored
    dataset = dataset_under(s3_server, bucket, "data/", transform=read_item)
    seen: list[str] = []
    for rank in range(2):
        sampler = torch.utils.data.DistributedSampler(
            dataset, num_replicas=2, rank=rank, shuffle=True, seed=3
        )
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=5, sampler=sampler, collate_fn=list
        )
        for batch in loader:
            assert all(data == body(key) for key, data in batch)
            seen += [key for key, _ in batch]
    assert sorted(seen) == keys[:COUNT]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_dataloader_workers_read_every_object_once_and_never_list(
    s3_server: Any, stored: tuple[str, list[str]], method: str
) -> None:
    bucket, keys = stored
    cfg = dataset_settings(s3_server)
    dataset = S3MapDataset(
        cfg["region"],
        ListOnce(bucket, "data/"),
        cfg["endpoint"],
        transform=read_item,
        s3client_config=cfg["s3client_config"],
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=4,
        shuffle=True,
        num_workers=2,
        multiprocessing_context=method,
        collate_fn=list,
    )
    items = [item for batch in loader for item in batch]
    assert sorted(items) == [(k, body(k)) for k in keys[:COUNT]]
