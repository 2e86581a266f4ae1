"""Listing (rust/src/list.rs): pagination, delimiters, object info."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import s3torch


def put(client: s3torch.S3Client, bucket: str, key: str, data: bytes = b"x") -> None:
    stream = client.put_object_stream(bucket, key)
    stream.write(data)
    stream.close()


def test_more_than_1000_keys_are_paginated_in_order(client: s3torch.S3Client, bucket: str) -> None:
    keys = [f"data/{i:05d}.bin" for i in range(1100)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: put(client, bucket, key), keys))
    put(client, bucket, "other/outside.bin")

    stream = client.list_objects(bucket, prefix="data/")
    pages = list(stream)
    assert [len(page.object_info) for page in pages] == [1000, 100]
    assert [info.key for page in pages for info in page.object_info] == keys
    assert stream.complete and stream.continuation_token is None


def test_small_max_keys_pages_and_reports_progress(client: s3torch.S3Client, bucket: str) -> None:
    for i in range(7):
        put(client, bucket, f"k{i}")
    stream = client.list_objects(bucket, max_keys=3)
    assert not stream.complete
    first = next(stream)
    assert len(first.object_info) == 3
    assert stream.continuation_token is not None
    rest = list(stream)
    assert [len(page.object_info) for page in rest] == [3, 1]
    with pytest.raises(StopIteration):
        next(stream)


def test_delimiter_groups_common_prefixes(client: s3torch.S3Client, bucket: str) -> None:
    for key in ["a/1", "a/2", "b/c/3", "top.txt"]:
        put(client, bucket, key)
    pages = list(client.list_objects(bucket, delimiter="/"))
    assert sorted(p for page in pages for p in page.common_prefixes) == ["a/", "b/"]
    assert [info.key for page in pages for info in page.object_info] == ["top.txt"]
    nested = list(client.list_objects(bucket, prefix="b/", delimiter="/"))
    assert [p for page in nested for p in page.common_prefixes] == ["b/c/"]


def test_object_info_describes_each_object(client: s3torch.S3Client, bucket: str) -> None:
    before = int(time.time()) - 60
    put(client, bucket, "sized", b"12345")
    [info] = [i for page in client.list_objects(bucket) for i in page.object_info]
    head = client.head_object(bucket, "sized")
    assert (info.key, info.size, info.etag) == ("sized", 5, head.etag)
    assert before <= info.last_modified <= int(time.time()) + 60
    assert info == s3torch.ObjectInfo(
        info.key, info.etag, info.size, info.last_modified, info.storage_class, info.restore_status
    )


def test_empty_prefix_listing_is_one_empty_page(client: s3torch.S3Client, bucket: str) -> None:
    pages = list(client.list_objects(bucket, prefix="nothing-here/"))
    assert sum(len(page.object_info) for page in pages) == 0


def test_max_keys_out_of_range_is_a_value_error(client: s3torch.S3Client, bucket: str) -> None:
    for bad in [0, 1001]:
        with pytest.raises(ValueError, match="max_keys"):
            client.list_objects(bucket, max_keys=bad)
