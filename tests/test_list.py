"""Listing (rust/src/list.rs): pagination, delimiters, object info."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import s3torch
from support.server import put


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


def keys_of(stream: s3torch._core.ListObjectStream) -> list[str]:
    return [info.key for page in stream for info in page.object_info]


def test_start_after_begins_after_the_key_and_excludes_it(
    client: s3torch.S3Client, bucket: str
) -> None:
    keys = [f"s/{i:02d}" for i in range(10)]
    for key in keys:
        put(client, bucket, key)
    # Between two keys, equal to a key (not listed itself), before the first, past the end.
    assert keys_of(client.list_objects(bucket, start_after="s/04x")) == keys[5:]
    stream = client.list_objects(bucket, start_after="s/04")
    assert stream.start_after == "s/04"
    assert keys_of(stream) == keys[5:]
    assert keys_of(client.list_objects(bucket, start_after="a")) == keys
    assert keys_of(client.list_objects(bucket, start_after="s/09")) == []
    assert keys_of(client.list_objects(bucket, start_after="zzz")) == []
    # Empty or None: the whole listing.
    assert keys_of(client.list_objects(bucket, start_after="")) == keys
    assert client.list_objects(bucket).start_after is None


def test_start_after_with_prefix_and_delimiter(client: s3torch.S3Client, bucket: str) -> None:
    for key in ["p/a/1", "p/a/2", "p/b/1", "p/c.txt", "p/d/1", "q/after"]:
        put(client, bucket, key)
    # A start_after before the prefix lists the whole prefix; one inside it cuts it there.
    assert keys_of(client.list_objects(bucket, prefix="p/", start_after="a")) == [
        "p/a/1",
        "p/a/2",
        "p/b/1",
        "p/c.txt",
        "p/d/1",
    ]
    assert keys_of(client.list_objects(bucket, prefix="p/", start_after="p/a/2")) == [
        "p/b/1",
        "p/c.txt",
        "p/d/1",
    ]
    pages = list(client.list_objects(bucket, prefix="p/", delimiter="/", start_after="p/a/zz"))
    assert [p for page in pages for p in page.common_prefixes] == ["p/b/", "p/d/"]
    assert [info.key for page in pages for info in page.object_info] == ["p/c.txt"]


def test_start_after_takes_keys_verbatim(client: s3torch.S3Client, bucket: str) -> None:
    keys = sorted(["u/a b", "u/a+b", "u/é", "u/日本", "u/%41", "u/~x", "u/!", "u/0"])
    for key in keys:
        put(client, bucket, key)
    for i, key in enumerate(keys):
        assert keys_of(client.list_objects(bucket, prefix="u/", start_after=key)) == keys[i + 1 :]
    # Keys with "//" are not tried: the local server stores "a//b" as "a/b", and answers a
    # start_after with "//" with keys it makes up ("u//!" for "u/!").


def test_start_after_continues_across_pages(client: s3torch.S3Client, bucket: str) -> None:
    keys = [f"c/{i:03d}" for i in range(20)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: put(client, bucket, key), keys))
    stream = client.list_objects(bucket, prefix="c/", max_keys=3, start_after="c/006")
    pages = list(stream)
    assert [len(page.object_info) for page in pages] == [3, 3, 3, 3, 1]
    assert [info.key for page in pages for info in page.object_info] == keys[7:]
    assert stream.complete and stream.continuation_token is None


def test_a_bad_start_after_is_refused_naming_it(client: s3torch.S3Client, bucket: str) -> None:
    with pytest.raises(TypeError, match="start_after"):
        client.list_objects(bucket, start_after=b"k")  # type: ignore[arg-type]
    for bad in ["a\x00b", "k" * 1025, "\udcff"]:
        with pytest.raises(ValueError, match="start_after"):
            client.list_objects(bucket, start_after=bad)
    # The native method refuses the same, naming the argument.
    with pytest.raises(ValueError, match="start_after"):
        client._native.list_objects(bucket, start_after="a\x00b")


def test_list_objects_keeps_its_positional_parameters(
    client: s3torch.S3Client, bucket: str
) -> None:
    for key in ["x/1", "x/2", "x/y/3"]:
        put(client, bucket, key)
    pages = list(client.list_objects(bucket, "x/", "/", 1))
    assert [info.key for page in pages for info in page.object_info] == ["x/1", "x/2"]
    assert [p for page in pages for p in page.common_prefixes] == ["x/y/"]


def test_columns_of_a_page_match_its_object_info(client: s3torch.S3Client, bucket: str) -> None:
    from array import array

    from s3torch._datasets.table import pack_etag

    keys = ["col/a", "col/é 日本", "col/big"]
    put(client, bucket, keys[0], b"")
    put(client, bucket, keys[1], b"12345")
    put(client, bucket, keys[2], b"x" * 100)
    [page] = list(client.list_objects(bucket, prefix="col/"))
    infos = page.object_info
    for base in [(0, 0), (1000, 77)]:
        blob, key_ends, etags, etag_ends, sizes, modified = page.columns(*base)
        assert blob == b"".join(info.key.encode() for info in infos)
        assert etags == b"".join(pack_etag(info.etag) for info in infos)
        ends = list(array("q", key_ends))
        assert ends == [
            base[0] + len(b"".join(i.key.encode() for i in infos[: n + 1])) for n in range(3)
        ]
        packed_ends = [
            base[1] + len(b"".join(pack_etag(i.etag) for i in infos[: n + 1])) for n in range(3)
        ]
        assert list(array("q", etag_ends)) == packed_ends
        assert list(array("q", sizes)) == [info.size for info in infos]
        assert list(array("q", modified)) == [info.last_modified for info in infos]
    empty = list(client.list_objects(bucket, prefix="nothing/"))
    assert all(column == b"" for page in empty for column in page.columns())
