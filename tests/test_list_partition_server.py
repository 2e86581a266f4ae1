"""The partitioned listing against the real test server: the same keys in the same order as one
sequential listing, with small pages so that there are many ranges, and its pages in flight at
the same time (counted by the client's metrics)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from s3torch import S3IterableDataset
from s3torch._datasets.listing import PartitionedListing
from support.datasets import dataset_settings

KEYS = (
    [f"flat/{i:05d}" for i in range(1500)]
    + [f"dir/{c:02d}/{i:03d}.jpg" for c in range(12) for i in range(50)]
    + [f"u/é 😀 {i:03d}" for i in range(100)]
    + ["a", "z", "dir/", "u/"]
    # "dir b/" sorts before "dir/" (a space before "/"), but a server that resumes after a
    # folder's name ("dir") would list it again after a cut at "dir/".
    + ["dir b/c.txt", "dirt.txt"]
)


@pytest.fixture(scope="module")
def listed(s3_server: Any, module_client: Any) -> Iterator[str]:
    import uuid

    name = "t-" + uuid.uuid4().hex[:16]
    s3_server.create_bucket(name)

    def put(key: str) -> None:
        stream = module_client.put_object_stream(name, key)
        stream.close()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, KEYS))
    yield name
    s3_server.delete_bucket(name)


def sequential(client: Any, bucket: str, prefix: str, max_keys: int) -> list[str]:
    return [
        info.key
        for page in client.list_objects(bucket, prefix, "", max_keys)
        for info in page.object_info
    ]


# Prefixes whose keys hold no further "/": SeaweedFS's start-after follows S3's there, not across
# folders (start-after "dir/06" skips the folder dir/06/); the property tests cover S3's rules.
@pytest.mark.parametrize("prefix", ["flat/", "u/", "dir/03/", "nothing/"])
@pytest.mark.parametrize("max_keys", [7, 100, 1000])
def test_ranges_list_as_one_sequential_listing(
    module_client: Any, listed: str, prefix: str, max_keys: int
) -> None:
    expected = sequential(module_client, listed, prefix, max_keys)
    # SeaweedFS lists "dir/..." before "dir b/..." (by folder name, not S3's byte order): the
    # partitioned listing notices and gives the server's own order.
    assert sorted(expected) == sorted(k for k in KEYS if k.startswith(prefix))
    listing = PartitionedListing(
        module_client.list_objects, listed, prefix, concurrency=8, max_keys=max_keys
    )
    assert [row.key for row in listing.rows()] == expected


class CountingLister:
    """``list_objects`` that counts the pages handed out and makes the first pages of two cut
    ranges (streams with ``start_after``) wait for each other: the listing gets past them only
    if two ranges are listed at the same time."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.pages = 0
        self.streams = 0
        self.together = threading.Barrier(2, timeout=60)
        self.cuts = 0
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str | None:
        return self.client.endpoint  # type: ignore[no-any-return]

    def list_objects(self, *args: Any, start_after: str | None = None) -> Iterator[Any]:
        stream = self.client.list_objects(*args, start_after=start_after)
        with self._lock:
            self.streams += 1
            if start_after is not None:
                self.cuts += 1
            waits = start_after is not None and self.cuts <= 2
        return self._pages(stream, waits)

    def _pages(self, stream: Any, waits: bool) -> Iterator[Any]:
        for page in stream:
            if waits:
                waits = False
                try:
                    self.together.wait()
                except threading.BrokenBarrierError:
                    pass
            with self._lock:
                self.pages += 1
            yield page


def test_pages_are_in_flight_at_the_same_time(make_client: Any, listed: str) -> None:
    client = make_client()
    lister = CountingLister(client)
    before = client.metrics().get("requests.ListObjectsV2", 0)
    listing = PartitionedListing(lister.list_objects, listed, "flat/", concurrency=8, max_keys=20)
    assert [row.key for row in listing.rows()] == [k for k in sorted(KEYS) if k.startswith("flat/")]
    # The first two cut ranges waited for each other, so they were listed at the same time.
    assert lister.cuts >= 2 and not lister.together.broken
    sent = client.metrics()["requests.ListObjectsV2"] - before
    # Each stream may have asked for one more page than it was given (the next one is requested
    # while a page is used, and a range ends at the first key past its end).
    assert lister.pages <= sent <= lister.pages + lister.streams
    assert lister.streams >= 3


def test_a_dataset_lists_by_ranges(s3_server: Any, listed: str) -> None:
    dataset = S3IterableDataset.from_prefix(
        f"s3://{listed}/flat/", list_concurrency=4, **dataset_settings(s3_server)
    )
    keys = [row.key for row in dataset._objects.stream_rows()]
    assert keys == [k for k in sorted(KEYS) if k.startswith("flat/")]


@pytest.mark.parametrize("prefix", ["", "dir", "dir/"])
def test_another_endpoint_is_listed_with_one_stream_by_default(
    module_client: Any, listed: str, prefix: str
) -> None:
    lister = CountingLister(module_client)
    listing = PartitionedListing(lister.list_objects, listed, prefix, max_keys=50)
    assert [row.key for row in listing.rows()] == sequential(module_client, listed, prefix, 50)
    assert lister.streams == 1


def test_a_pages_native_columns_hold_what_its_object_infos_hold(
    module_client: Any, listed: str
) -> None:
    from s3torch._datasets.table import PageColumns

    pages = list(module_client.list_objects(listed, "u/", "", 40))
    assert sum(len(page.object_info) for page in pages) == 101  # unicode keys, several pages
    for page in pages:
        native = PageColumns.of_page(page)
        assert native == PageColumns.of_infos(page.object_info)
        assert native.key_list() == [info.key.encode() for info in page.object_info]
